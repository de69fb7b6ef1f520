//! Streaming audio between two hosts over loopback TCP: what one sends, the other's recorder saves
//! sample for sample; the stream keeps to real time; a cancel stops it and still ends the segment.

mod support;

use std::time::{Duration, Instant};

use mmdagent_remote::{
    AudioControl, AudioRecorder, AudioStream, AudioStreamHandle, AudioStreamOptions,
    AudioStreamState, AudioTarget, Config, Event, Item, PeerId, Remote, TcpClientConfig,
    TcpServerConfig, WavAudio,
};
use support::{wait_for, WAIT};

/// A TCP server on 127.0.0.1 (the sender) and a TCP client connected to it (the receiver), with the
/// peer id the server gave the client.
fn connected_pair() -> (Remote, Remote, PeerId) {
    let mut server = TcpServerConfig::new(0);
    server.bind_address = "127.0.0.1".parse().unwrap();
    let mut config = Config::default();
    config.tcp_server = Some(server);
    let sender = Remote::start(&config).expect("server starts");
    let port = sender.local_addr().expect("server address").port();
    let mut config = Config::default();
    config.tcp_client = Some(TcpClientConfig::new("127.0.0.1", port));
    let receiver = Remote::start(&config).expect("client starts");
    wait_for(&receiver, "the client to connect", |event| {
        matches!(event, Event::Connected { .. }).then_some(())
    });
    let (peer, _) = wait_for(
        &sender,
        "the server to register the client",
        |event| match event {
            Event::Connected { peer, .. } => Some(*peer),
            _ => None,
        },
    );
    (sender, receiver, peer)
}

/// Cancels a stream when dropped: a test that fails while its stream runs ends the stream, so the
/// thread scope it runs in does not wait for the whole audio to play.
struct CancelOnDrop(AudioStreamHandle);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Deterministic noise over the whole 16-bit range, so every byte of every sample is checked.
fn noise(length: usize) -> Vec<i16> {
    let mut state = 0x2545_f491_u32;
    (0..length)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as i16
        })
        .collect()
}

fn scratch_folder(name: &str) -> std::path::PathBuf {
    let folder =
        std::env::temp_dir().join(format!("mdr-audio-stream-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&folder);
    folder
}

#[test]
fn what_one_host_streams_the_others_recorder_saves_sample_for_sample() {
    let (sender, receiver, _) = connected_pair();
    let samples = noise(8_000 + 123); // half a second and a partial last chunk
    let mut stream = AudioStream::new(samples.clone(), AudioStreamOptions::default()).unwrap();
    let folder = scratch_folder("round-trip");
    let mut recorder = AudioRecorder::new(&folder).unwrap();

    std::thread::scope(|scope| {
        let _cancel = CancelOnDrop(stream.handle());
        let sending = scope.spawn(|| stream.send_to_all(&sender));
        let (saved, passed) = wait_for(&receiver, "a saved segment", |event| {
            recorder.record(event).expect("recording")
        });
        assert!(
            passed.iter().any(|event| matches!(
                event,
                Event::Item {
                    item: Item::AudioControl(AudioControl::File),
                    ..
                }
            )),
            "SNDFILE came first: {passed:?}"
        );
        assert_eq!(saved.samples, samples.len() as u64);
        let progress = sending.join().unwrap().expect("sent");
        assert_eq!(progress.state, AudioStreamState::Finished);
        assert_eq!(progress.samples_sent, samples.len() as u64);

        let bytes = std::fs::read(&saved.path).unwrap();
        let expected: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        assert_eq!(&bytes[44..], &expected[..]);
        assert_eq!(WavAudio::open(&saved.path).unwrap().samples, samples);
    });
    std::fs::remove_dir_all(folder).unwrap();
}

#[test]
fn three_seconds_of_audio_take_three_seconds_and_never_run_far_ahead() {
    let (sender, receiver, _) = connected_pair();
    let samples = vec![0i16; 3 * 16_000];
    let options = AudioStreamOptions::default();
    let lead = options.lead;
    let mut stream = AudioStream::new(samples, options).unwrap();

    std::thread::scope(|scope| {
        let _cancel = CancelOnDrop(stream.handle());
        let sending = scope.spawn(|| {
            let started = Instant::now();
            // When the sender sent the last chunk, after the first.
            let mut last_chunk = Duration::ZERO;
            let progress = stream.send(&sender, AudioTarget::AllPeers, |progress| {
                if progress.state == AudioStreamState::Sending && progress.samples_sent > 0 {
                    last_chunk = progress.elapsed;
                }
            });
            (progress, started.elapsed(), last_chunk)
        });
        // Each chunk's arrival, and how much audio had arrived by then.
        let mut arrivals: Vec<(Instant, u64)> = Vec::new();
        let mut received = 0u64;
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match receiver
                .recv_timeout(left)
                .expect("the stream within the bound")
            {
                Event::Item {
                    item: Item::AudioChunk(bytes),
                    ..
                } => {
                    received += bytes.len() as u64 / 2;
                    arrivals.push((Instant::now(), received));
                }
                Event::Item {
                    item: Item::AudioControl(AudioControl::Break),
                    ..
                } => break,
                _ => {}
            }
        }
        assert_eq!(received, 3 * 16_000);
        // By design the first lead's worth leaves at once and the last chunk at the audio's
        // duration less the lead: 2.8 s from first to last, within the 3 s ± 10%.
        let first = arrivals[0].0;
        let span = arrivals.last().unwrap().0.duration_since(first);
        assert!(
            span >= Duration::from_millis(2_700) && span <= Duration::from_millis(3_300),
            "first to last chunk took {span:?}, expected 3 s ± 10%"
        );
        // The audio that has arrived is never more than the lead (and a margin for the first
        // chunk's own trip) ahead of the time since the first chunk.
        let margin = Duration::from_millis(100);
        for (at, samples) in &arrivals {
            let audio = Duration::from_secs_f64(*samples as f64 / 16_000.0);
            let ahead = audio.saturating_sub(at.duration_since(first));
            assert!(
                ahead <= lead + margin,
                "{audio:?} of audio arrived {ahead:?} ahead"
            );
        }
        let (progress, took, last_chunk) = sending.join().unwrap();
        assert_eq!(progress.expect("sent").state, AudioStreamState::Finished);
        // On the sender's clock the schedule is exact: the last chunk never leaves before the
        // duration less the lead (a wait never ends early), and late only by the machine's delay.
        // Without the lead it would leave at 2.96 s.
        let due = Duration::from_secs(3) - lead;
        assert!(
            last_chunk >= due && last_chunk < due + Duration::from_millis(150),
            "the last chunk left {last_chunk:?} after the first, due at {due:?}"
        );
        assert!(
            took >= Duration::from_millis(2_950),
            "returned before the audio played: {took:?}"
        );
    });
}

#[test]
fn a_cancel_from_another_thread_stops_the_stream_and_ends_the_segment() {
    let (sender, receiver, peer) = connected_pair();
    let mut stream = AudioStream::new(vec![0; 60 * 16_000], AudioStreamOptions::default()).unwrap();
    let handle = stream.handle();

    std::thread::scope(|scope| {
        let _cancel = CancelOnDrop(stream.handle());
        let sending = scope.spawn(|| {
            let progress = stream.send(&sender, AudioTarget::Peer(peer), |_| {});
            (progress, Instant::now())
        });
        let mut chunks = 0;
        wait_for(&receiver, "ten chunks", |event| {
            chunks += usize::from(matches!(
                event,
                Event::Item {
                    item: Item::AudioChunk(_),
                    ..
                }
            ));
            (chunks == 10).then_some(())
        });
        let cancelled_at = Instant::now();
        handle.cancel();
        wait_for(&receiver, "SNDBRKS", |event| {
            matches!(
                event,
                Event::Item {
                    item: Item::AudioControl(AudioControl::Break),
                    ..
                }
            )
            .then_some(())
        });
        let (progress, returned_at) = sending.join().unwrap();
        let progress = progress.expect("no error");
        assert_eq!(progress.state, AudioStreamState::Cancelled);
        assert!(progress.samples_sent < 60 * 16_000);
        let delay = returned_at.saturating_duration_since(cancelled_at);
        assert!(delay < Duration::from_millis(500), "took {delay:?} to stop");
    });
}

#[test]
fn a_peer_that_leaves_mid_stream_ends_it_as_no_peers_not_as_an_error() {
    let (sender, receiver, peer) = connected_pair();
    let mut stream = AudioStream::new(vec![0; 60 * 16_000], AudioStreamOptions::default()).unwrap();
    let handle = stream.handle();

    std::thread::scope(|scope| {
        let _cancel = CancelOnDrop(stream.handle());
        let sending = scope.spawn(|| stream.send(&sender, AudioTarget::Peer(peer), |_| {}));
        let mut chunks = 0;
        wait_for(&receiver, "ten chunks", |event| {
            chunks += usize::from(matches!(
                event,
                Event::Item {
                    item: Item::AudioChunk(_),
                    ..
                }
            ));
            (chunks == 10).then_some(())
        });
        // Leaving is a moment, then gone: whichever the next chunk meets, nobody is left.
        sender.disconnect(peer).expect("disconnect the receiver");
        let progress = sending.join().unwrap().expect("no error");
        assert_eq!(progress.state, AudioStreamState::NoPeers);
        assert_eq!(handle.progress(), progress);
    });
}
