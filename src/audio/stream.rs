//! Streaming 16 kHz mono audio to peers as the protocol frames it, paced in real time.
//!
//! A stream is the optional preamble (`__AV_START`, `__AV_SETMODEL,<alias>`, `SNDFILE`), the audio
//! cut into chunks (`SND` + four digits + bytes, 1,280 bytes = 40 ms by default, never over 4,096),
//! and an optional `SNDBRKS`. Chunks leave in real time with a small lead: chunk `i` is sent when
//! the clock, started at the first chunk, reaches the time its last sample plays minus the lead
//! (200 ms by default, at most [`MAX_AUDIO_LEAD`]). So the stream opens with a burst of the lead's
//! worth of audio, and from then on the audio sent is never more than the lead ahead of what the
//! agent has had time to play: its buffer (about 60 s, the rest dropped silently) never fills, and
//! the agent, which sends nothing while it reads a burst, is held up by at most that opening burst
//! and then by one chunk at a time. If the sender falls behind (its thread descheduled, the machine
//! suspended) so far that the agent must have run dry, the schedule restarts from the audio sent,
//! so what was missed goes as one lead's worth again, not all at once.
//!
//! Sending blocks the calling thread, which is all it does, so any host can run it on a thread of
//! its own; an [`AudioStreamHandle`] cancels it from elsewhere (waking its wait at once) and reports
//! progress. The pacing waits on a channel with a deadline, never a short sleep in a loop. Time and
//! delivery are parameters of the pacing loop, so its tests run on a virtual clock.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use super::wav::samples_duration;
use crate::codec::{encode, AudioControl, AvatarCommand, Item};
use crate::error::Error;
use crate::host::Remote;
use crate::hub::{DropCause, PeerId};

/// The chunk size the user guide recommends: 1,280 bytes, 40 ms.
pub const DEFAULT_AUDIO_CHUNK_BYTES: usize = 1_280;
/// The largest chunk the user guide allows: 4,096 bytes, 128 ms. This is what a stream sends;
/// [`MAX_AUDIO_CHUNK_LENGTH`](crate::MAX_AUDIO_CHUNK_LENGTH) (9,999) is the most the wire format's
/// four digits can announce, which the codec accepts from peers and can encode.
pub const MAX_AUDIO_CHUNK_BYTES: usize = 4_096;
/// How far ahead of real time audio is sent by default.
pub const DEFAULT_AUDIO_LEAD: Duration = Duration::from_millis(200);
/// The longest lead accepted: 2 s, a small part of the agent's buffer of about 60 s, and no longer
/// a burst that holds up the agent's own events for long.
pub const MAX_AUDIO_LEAD: Duration = Duration::from_secs(2);

/// How an [`AudioStream`] frames and paces its audio.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AudioStreamOptions {
    /// Bytes of audio per chunk: even, from 2 to [`MAX_AUDIO_CHUNK_BYTES`]. The last chunk holds
    /// what is left. Default [`DEFAULT_AUDIO_CHUNK_BYTES`] (40 ms).
    pub chunk_bytes: usize,
    /// How far ahead of real time the audio sent may run, counted from the first chunk (the first
    /// lead's worth goes at once); at least one chunk's duration, so the agent never runs dry
    /// between chunks, and at most [`MAX_AUDIO_LEAD`]. Default [`DEFAULT_AUDIO_LEAD`] (200 ms).
    pub lead: Duration,
    /// Send `__AV_START` first, to take over the avatar. Default `true`.
    pub start_avatar_control: bool,
    /// Send `__AV_SETMODEL,<alias>` to pick the model that speaks. Default `Some("0")`.
    pub model: Option<String>,
    /// Send `SNDFILE` before the audio: file mode, without voice activity detection. Default `true`.
    pub file_mode: bool,
    /// Send `SNDBRKS` after the audio, to end the segment (file mode needs it). It is sent after a
    /// cancelled stream too. Default `true`.
    pub break_at_end: bool,
    /// Return only once the whole audio has had time to play, its duration after the first chunk,
    /// so a connection closed afterwards cuts nothing off and the next stream does not run ahead.
    /// Default `true`.
    pub wait_until_played: bool,
}

impl Default for AudioStreamOptions {
    fn default() -> Self {
        AudioStreamOptions {
            chunk_bytes: DEFAULT_AUDIO_CHUNK_BYTES,
            lead: DEFAULT_AUDIO_LEAD,
            start_avatar_control: true,
            model: Some("0".to_owned()),
            file_mode: true,
            break_at_end: true,
            wait_until_played: true,
        }
    }
}

/// Whom a stream goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AudioTarget {
    /// Every peer connected at each send, as [`Remote::send`] does. A peer too slow to keep up is
    /// disconnected by the library and the stream goes on to the rest. With
    /// [`Config::keep_while_disconnected`](crate::Config) above 0 and nobody connected, the first
    /// item is kept for the next peer but reaches nobody now, so the stream stops as
    /// [`AudioStreamState::NoPeers`]: start it once a peer is connected.
    AllPeers,
    /// One peer, as [`Remote::send_to`] does.
    Peer(PeerId),
}

/// Where a stream is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AudioStreamState {
    /// Not sending yet.
    NotStarted,
    /// Sending (or waiting for the audio to play).
    Sending,
    /// All the audio was sent (and, if asked, had time to play).
    Finished,
    /// Cancelled through an [`AudioStreamHandle`].
    Cancelled,
    /// Stopped because nobody was left to send to: no peer connected (for
    /// [`AudioTarget::AllPeers`]), or the peer left or is leaving.
    NoPeers,
    /// Stopped by an error, which [`AudioStream::send`] returned (or by a panic in its
    /// `on_progress`); the progress says how far it got.
    Failed,
}

/// How far a stream has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct AudioProgress {
    /// Samples sent so far.
    pub samples_sent: u64,
    /// Samples in the whole stream.
    pub total_samples: u64,
    /// Time since the first chunk, as of the last change.
    pub elapsed: Duration,
    /// Where the stream is.
    pub state: AudioStreamState,
}

impl AudioProgress {
    /// How long the audio sent so far plays.
    pub fn sent_duration(&self) -> Duration {
        samples_duration(self.samples_sent)
    }

    /// How long the whole audio plays.
    pub fn total_duration(&self) -> Duration {
        samples_duration(self.total_samples)
    }
}

/// 16 kHz mono audio to stream to peers, framed and paced as the protocol asks.
///
/// ```no_run
/// use mmdagent_remote::{AudioStream, AudioStreamOptions, Config, Remote, TcpClientConfig, WavAudio};
///
/// let mut config = Config::default();
/// config.tcp_client = Some(TcpClientConfig::new("localhost", 60001)); // an agent's TCP server
/// let remote = Remote::start(&config)?;
/// # let _ = remote.recv(); // wait for the connection
/// let mut speech = AudioStream::new(WavAudio::open("hello.wav")?.samples, AudioStreamOptions::default())?;
/// let cancel = speech.handle(); // cancel.cancel() from another thread stops it at once
/// let done = speech.send_to_all(&remote)?;
/// println!("{:?}: {:?} of audio", done.state, done.sent_duration());
/// # Ok::<(), mmdagent_remote::Error>(())
/// ```
///
/// Sending blocks until the audio is sent (and, by default, has had time to play), is cancelled,
/// or nobody is left to send to, rather than offering a step to call per chunk: the pacing needs
/// precise waits, which a caller's loop would only get wrong, and a thread per stream is cheap.
#[derive(Debug)]
pub struct AudioStream {
    samples: Vec<i16>,
    options: AudioStreamOptions,
    shared: Arc<Shared>,
}

/// Cancels an [`AudioStream`] and reads its progress from any thread; clones share the stream.
#[derive(Debug, Clone)]
pub struct AudioStreamHandle {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    cancelled: AtomicBool,
    /// Rung by `cancel` to wake the pacer's wait; it holds both ends, so it never disconnects.
    wake: (Sender<()>, Receiver<()>),
    progress: Mutex<AudioProgress>,
}

impl AudioStream {
    /// Audio to stream: `samples` at 16 kHz, mono ([`WavAudio::samples`](crate::WavAudio) is
    /// such). Fails with [`Error::InvalidAudio`] for options that cannot be used, and with
    /// [`Error::InvalidMessage`] for a model alias that cannot be sent intact.
    pub fn new(samples: Vec<i16>, options: AudioStreamOptions) -> Result<AudioStream, Error> {
        let chunk = options.chunk_bytes;
        if chunk == 0 || chunk % 2 == 1 || chunk > MAX_AUDIO_CHUNK_BYTES {
            return Err(Error::InvalidAudio(format!(
                "a chunk of {chunk} bytes: chunks hold whole 16-bit samples, from 2 to {MAX_AUDIO_CHUNK_BYTES} bytes"
            )));
        }
        let chunk_duration = samples_duration(chunk as u64 / 2);
        if options.lead < chunk_duration {
            return Err(Error::InvalidAudio(format!(
                "a lead of {:?} is shorter than one chunk ({chunk_duration:?}): the agent would run dry between chunks",
                options.lead
            )));
        }
        if options.lead > MAX_AUDIO_LEAD {
            return Err(Error::InvalidAudio(format!(
                "a lead of {:?} is over {MAX_AUDIO_LEAD:?}: that much audio at once would hold up the agent's events and fill its buffer",
                options.lead
            )));
        }
        let stream = AudioStream {
            shared: Arc::new(Shared {
                cancelled: AtomicBool::new(false),
                wake: crossbeam_channel::bounded(1),
                progress: Mutex::new(AudioProgress {
                    samples_sent: 0,
                    total_samples: samples.len() as u64,
                    elapsed: Duration::ZERO,
                    state: AudioStreamState::NotStarted,
                }),
            }),
            samples,
            options,
        };
        let mut scratch = Vec::new();
        for item in stream.preamble() {
            encode(&item, &mut scratch)?;
        }
        Ok(stream)
    }

    /// A handle to cancel this stream and read its progress from other threads.
    pub fn handle(&self) -> AudioStreamHandle {
        AudioStreamHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Streams to every connected peer, blocking until done; see [`send`](Self::send).
    pub fn send_to_all(&mut self, remote: &Remote) -> Result<AudioProgress, Error> {
        self.send(remote, AudioTarget::AllPeers, |_| {})
    }

    /// Streams to `target`, blocking until all is sent (and has had time to play, unless
    /// [`AudioStreamOptions::wait_until_played`] is off), the stream is cancelled, or nobody is left
    /// to send to; returns how far it got. `on_progress` is called on this thread at each change
    /// (after every chunk), for example to show progress. It takes `&mut self` so one stream is
    /// never sent twice at once, its chunks interleaved; cancel and poll it through a
    /// [`handle`](Self::handle).
    ///
    /// Nobody to send to is an outcome, [`AudioStreamState::NoPeers`], not an error: for
    /// [`AudioTarget::AllPeers`] when no peer is connected; for [`AudioTarget::Peer`] when the peer
    /// is not connected or is leaving. Fails only for [`AudioTarget::Peer`] when its outbox was
    /// full (the library disconnects it as too slow; see [`Remote::send_to`]). After a failure,
    /// `SNDBRKS` is still tried (if asked for), and [`AudioStreamHandle::progress`] shows
    /// [`AudioStreamState::Failed`] with how far the stream got. A stream that was cancelled
    /// stays cancelled: sending it again returns at once.
    pub fn send(
        &mut self,
        remote: &Remote,
        target: AudioTarget,
        on_progress: impl FnMut(&AudioProgress),
    ) -> Result<AudioProgress, Error> {
        log::info!(
            "streaming {:?} of audio to {target:?}",
            samples_duration(self.samples.len() as u64)
        );
        let deliver = |item: &Item<'_>| match target {
            AudioTarget::AllPeers => remote.send(item).map(|peers| peers > 0),
            AudioTarget::Peer(peer) => reached_peer(remote.send_to(peer, item)),
        };
        let outcome = self.play(&mut RealTime::new(), deliver, on_progress);
        match &outcome {
            Ok(progress) => log::debug!("audio stream ended: {progress:?}"),
            Err(error) => log::warn!("audio stream failed: {error}"),
        }
        outcome
    }

    fn preamble(&self) -> Vec<Item<'_>> {
        let options = &self.options;
        let mut items = Vec::new();
        if options.start_avatar_control {
            items.push(Item::avatar(AvatarCommand::Start));
        }
        if let Some(model) = &options.model {
            items.push(Item::avatar(AvatarCommand::SetModel(Cow::Borrowed(model))));
        }
        if options.file_mode {
            items.push(Item::AudioControl(AudioControl::File));
        }
        items
    }

    /// The stream itself, on any clock and through any delivery: `deliver` sends one item and says
    /// whether it reached anyone.
    fn play(
        &self,
        clock: &mut impl Clock,
        mut deliver: impl FnMut(&Item<'_>) -> Result<bool, Error>,
        mut on_progress: impl FnMut(&AudioProgress),
    ) -> Result<AudioProgress, Error> {
        // However this ends, an error or a panic included, pollers see an end.
        let _ended = EndGuard(&self.shared);
        let total = self.samples.len() as u64;
        let mut progress = AudioProgress {
            samples_sent: 0,
            total_samples: total,
            elapsed: Duration::ZERO,
            state: AudioStreamState::Sending,
        };
        let mut report = |progress: &AudioProgress| {
            *self
                .shared
                .progress
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = *progress;
            on_progress(progress);
        };
        if self.shared.is_cancelled() {
            progress.state = AudioStreamState::Cancelled;
            report(&progress);
            return Ok(progress);
        }
        report(&progress);
        // How far the schedule was moved on after the agent must have run dry.
        let mut restarted = Duration::ZERO;
        if let Err(error) = self.send_audio(
            clock,
            &mut deliver,
            &mut progress,
            &mut restarted,
            &mut report,
        ) {
            if self.options.break_at_end {
                let _ = deliver(&Item::AudioControl(AudioControl::Break));
            }
            progress.state = AudioStreamState::Failed;
            progress.elapsed = clock.elapsed();
            report(&progress);
            return Err(error);
        }
        if progress.state != AudioStreamState::NoPeers
            && self.options.break_at_end
            && !deliver(&Item::AudioControl(AudioControl::Break))?
        {
            progress.state = AudioStreamState::NoPeers;
        }
        if progress.state == AudioStreamState::Sending {
            let played = restarted.saturating_add(samples_duration(total));
            if self.options.wait_until_played && !self.wait_until(clock, played) {
                progress.state = AudioStreamState::Cancelled;
            } else {
                progress.state = AudioStreamState::Finished;
            }
        }
        progress.elapsed = clock.elapsed();
        report(&progress);
        Ok(progress)
    }

    /// The preamble and the chunks, paced; leaves `progress.state` at `Sending` if all was sent,
    /// else at why not.
    fn send_audio(
        &self,
        clock: &mut impl Clock,
        deliver: &mut impl FnMut(&Item<'_>) -> Result<bool, Error>,
        progress: &mut AudioProgress,
        restarted: &mut Duration,
        report: &mut impl FnMut(&AudioProgress),
    ) -> Result<(), Error> {
        for item in self.preamble() {
            if !deliver(&item)? {
                progress.state = AudioStreamState::NoPeers;
                return Ok(());
            }
        }
        clock.start();
        let lead = self.options.lead;
        let mut bytes = Vec::with_capacity(self.options.chunk_bytes);
        for chunk in self.samples.chunks(self.options.chunk_bytes / 2) {
            let sent = samples_duration(progress.samples_sent);
            let behind = clock
                .elapsed()
                .saturating_sub(*restarted)
                .saturating_sub(sent);
            if progress.samples_sent > 0 && !behind.is_zero() {
                // The agent has played all it was sent and waited `behind` for more: it plays
                // the rest that much later, so the schedule moves on by as much.
                log::debug!("the audio stream fell {behind:?} behind; its schedule moves on");
                *restarted += behind;
            }
            let end = progress.samples_sent + chunk.len() as u64;
            let send_at = *restarted + samples_duration(end).saturating_sub(lead);
            if !self.wait_until(clock, send_at) {
                progress.state = AudioStreamState::Cancelled;
                return Ok(());
            }
            bytes.clear();
            bytes.extend(chunk.iter().flat_map(|sample| sample.to_le_bytes()));
            if !deliver(&Item::AudioChunk(Cow::Borrowed(&bytes)))? {
                progress.state = AudioStreamState::NoPeers;
                return Ok(());
            }
            progress.samples_sent = end;
            progress.elapsed = clock.elapsed();
            report(progress);
        }
        Ok(())
    }

    /// Waits until `at` on `clock`; false if cancelled first.
    fn wait_until(&self, clock: &mut impl Clock, at: Duration) -> bool {
        loop {
            if self.shared.is_cancelled() {
                return false;
            }
            if clock.elapsed() >= at {
                return true;
            }
            clock.wait_until(at, &self.shared.wake.1);
        }
    }
}

impl AudioStreamHandle {
    /// Stops the stream: the chunk being sent is the last, a wait between chunks ends at once, and
    /// `SNDBRKS` still follows if asked for.
    pub fn cancel(&self) {
        self.shared.cancelled.store(true, Ordering::SeqCst);
        let _ = self.shared.wake.0.try_send(());
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.shared.is_cancelled()
    }

    /// How far the stream has got, as of its last chunk.
    pub fn progress(&self) -> AudioProgress {
        *self
            .shared
            .progress
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Shared {
    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }
}

/// Marks a stream that stops while still `Sending` (by an error, or a panic in `on_progress`) as
/// `Failed` when dropped, so a poller never waits for an end that does not come.
struct EndGuard<'a>(&'a Shared);

impl Drop for EndGuard<'_> {
    fn drop(&mut self) {
        let mut progress = self
            .0
            .progress
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if progress.state == AudioStreamState::Sending {
            progress.state = AudioStreamState::Failed;
        }
    }
}

/// Whether a `send_to` reached its peer: a peer gone or leaving (which of the two a departing peer
/// is met as is a race) is nobody to send to, not an error.
fn reached_peer(sent: Result<(), Error>) -> Result<bool, Error> {
    match sent {
        Ok(()) => Ok(true),
        Err(
            Error::NoSuchPeer(_)
            | Error::Dropped {
                cause: DropCause::PeerLeaving | DropCause::NoPeer,
                ..
            },
        ) => Ok(false),
        Err(error) => Err(error),
    }
}

/// The time a stream is paced by: real, or virtual in the tests.
trait Clock {
    /// Starts counting, at the first chunk.
    fn start(&mut self);
    /// Time since [`start`](Clock::start).
    fn elapsed(&self) -> Duration;
    /// Waits until `at` since the start, or until `wake` rings, whichever is first.
    fn wait_until(&mut self, at: Duration, wake: &Receiver<()>);
}

/// The clock on the wall: waits are a channel's deadline, so a cancel wakes them.
struct RealTime {
    started: Instant,
}

impl RealTime {
    fn new() -> Self {
        RealTime {
            started: Instant::now(),
        }
    }
}

impl Clock for RealTime {
    fn start(&mut self) {
        self.started = Instant::now();
    }

    fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    fn wait_until(&mut self, at: Duration, wake: &Receiver<()>) {
        let left = at.saturating_sub(self.elapsed());
        let _ = wake.recv_timeout(left);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::{Cell, RefCell};
    use std::rc::Rc;

    /// Time that passes only when waited for (each wait ends exactly at its deadline), or when a
    /// test moves it on through a clone of `now` (a stall).
    struct VirtualClock {
        now: Rc<Cell<Duration>>,
    }

    impl VirtualClock {
        fn new() -> Self {
            VirtualClock {
                now: Rc::new(Cell::new(Duration::ZERO)),
            }
        }
    }

    impl Clock for VirtualClock {
        fn start(&mut self) {
            self.now.set(Duration::ZERO);
        }

        fn elapsed(&self) -> Duration {
            self.now.get()
        }

        fn wait_until(&mut self, at: Duration, _wake: &Receiver<()>) {
            self.now.set(self.now.get().max(at));
        }
    }

    /// Cancels the stream when dropped, so a failed assertion does not leave it running.
    struct CancelOnDrop(AudioStreamHandle);

    impl Drop for CancelOnDrop {
        fn drop(&mut self) {
            self.0.cancel();
        }
    }

    /// What a stream delivers on a virtual clock: each item's wire form and when it left.
    fn play(stream: &AudioStream) -> (AudioProgress, Vec<(Duration, Vec<u8>)>) {
        let mut clock = VirtualClock::new();
        let sent = RefCell::new(Vec::new());
        let now = Cell::new(Duration::ZERO);
        let progress = stream
            .play(
                &mut clock,
                |item| {
                    let mut wire = Vec::new();
                    encode(item, &mut wire)?;
                    sent.borrow_mut().push((now.get(), wire));
                    Ok(true)
                },
                |progress| now.set(progress.elapsed),
            )
            .unwrap();
        (progress, sent.into_inner())
    }

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    fn wire(items: &[(Duration, Vec<u8>)]) -> Vec<u8> {
        items.iter().flat_map(|(_, bytes)| bytes.clone()).collect()
    }

    #[test]
    fn the_preamble_chunks_and_break_are_framed_as_the_protocol_says() {
        let options = AudioStreamOptions {
            chunk_bytes: 8,
            model: Some("mei".to_owned()),
            ..AudioStreamOptions::default()
        };
        let stream = AudioStream::new((1..=10).collect(), options).unwrap();
        let (progress, sent) = play(&stream);
        let mut expected = b"__AV_START\n__AV_SETMODEL,mei\nSNDFILE\n".to_vec();
        expected.extend_from_slice(b"SND0008\x01\x00\x02\x00\x03\x00\x04\x00");
        expected.extend_from_slice(b"SND0008\x05\x00\x06\x00\x07\x00\x08\x00");
        expected.extend_from_slice(b"SND0004\x09\x00\x0a\x00");
        expected.extend_from_slice(b"SNDBRKS\n");
        assert_eq!(wire(&sent), expected);
        assert_eq!(sent.len(), 7, "one item per send");
        assert_eq!(progress.state, AudioStreamState::Finished);
        assert_eq!((progress.samples_sent, progress.total_samples), (10, 10));
    }

    #[test]
    fn each_part_of_the_framing_is_optional() {
        let options = AudioStreamOptions {
            chunk_bytes: 4,
            start_avatar_control: false,
            model: None,
            file_mode: false,
            break_at_end: false,
            ..AudioStreamOptions::default()
        };
        let stream = AudioStream::new(vec![-1, 2, -3], options).unwrap();
        assert_eq!(
            wire(&play(&stream).1),
            b"SND0004\xff\xff\x02\x00SND0002\xfd\xff"
        );
    }

    #[test]
    fn default_chunks_are_1280_bytes_with_the_rest_in_the_last() {
        let stream = AudioStream::new(vec![0; 16_100], AudioStreamOptions::default()).unwrap();
        let (_, sent) = play(&stream);
        let chunks: Vec<usize> = sent
            .iter()
            .filter(|(_, bytes)| bytes.starts_with(b"SND") && bytes[3].is_ascii_digit())
            .map(|(_, bytes)| bytes.len() - 7)
            .collect();
        assert_eq!(chunks.len(), 26);
        assert!(chunks[..25].iter().all(|&length| length == 1_280));
        assert_eq!(chunks[25], 200);
        assert_eq!(sent[1].1, b"__AV_SETMODEL,0\n");
    }

    #[test]
    fn chunks_leave_in_real_time_at_most_the_lead_ahead() {
        // One second in 40 ms chunks with a 200 ms lead: the first five (up to 200 ms) at once,
        // then each when the audio before its end has had time to play, less the lead.
        let stream = AudioStream::new(vec![0; 16_000], AudioStreamOptions::default()).unwrap();
        let mut chunks = 0;
        let mut sent_at = Vec::new();
        let progress = stream
            .play(
                &mut VirtualClock::new(),
                |item| {
                    chunks += usize::from(matches!(item, Item::AudioChunk(_)));
                    Ok(true)
                },
                |progress| {
                    if progress.state == AudioStreamState::Sending && progress.samples_sent > 0 {
                        sent_at.push((progress.samples_sent, progress.elapsed));
                    }
                },
            )
            .unwrap();
        assert_eq!(chunks, 25);
        assert_eq!(sent_at.len(), 25);
        for (i, &(samples, at)) in sent_at.iter().enumerate() {
            assert_eq!(samples, 640 * (i as u64 + 1));
            let end = ms(40 * (i as u64 + 1));
            assert_eq!(at, end.saturating_sub(ms(200)), "chunk {i}");
        }
        // It returns once the whole second has had time to play.
        assert_eq!(progress.elapsed, ms(1_000));
        assert_eq!(progress.state, AudioStreamState::Finished);
    }

    #[test]
    fn without_waiting_to_play_it_returns_after_the_last_chunk() {
        let options = AudioStreamOptions {
            wait_until_played: false,
            ..AudioStreamOptions::default()
        };
        let stream = AudioStream::new(vec![0; 16_000], options).unwrap();
        assert_eq!(play(&stream).0.elapsed, ms(800));
    }

    #[test]
    fn a_cancel_stops_after_the_chunk_being_sent_and_still_ends_the_segment() {
        let stream = AudioStream::new(vec![0; 16_000], AudioStreamOptions::default()).unwrap();
        let handle = stream.handle();
        let mut items = Vec::new();
        let progress = stream
            .play(
                &mut VirtualClock::new(),
                |item| {
                    items.push(item.to_string());
                    if items.len() == 3 + 7 {
                        handle.cancel();
                    }
                    Ok(true)
                },
                |_| {},
            )
            .unwrap();
        assert_eq!(progress.state, AudioStreamState::Cancelled);
        assert_eq!(progress.samples_sent, 7 * 640);
        assert_eq!(items.len(), 3 + 7 + 1);
        assert_eq!(items.last().unwrap(), "SNDBRKS");
        assert_eq!(handle.progress(), progress);
        assert!(handle.is_cancelled());
        // Cancelled it stays: sending again sends nothing.
        let (again, sent) = play(&stream);
        assert_eq!((again.state, sent.len()), (AudioStreamState::Cancelled, 0));
    }

    #[test]
    fn with_nobody_to_send_to_it_stops() {
        let stream = AudioStream::new(vec![0; 16_000], AudioStreamOptions::default()).unwrap();
        let mut count = 0;
        let progress = stream
            .play(
                &mut VirtualClock::new(),
                |_| {
                    count += 1;
                    Ok(count <= 5)
                },
                |_| {},
            )
            .unwrap();
        assert_eq!(progress.state, AudioStreamState::NoPeers);
        assert_eq!(progress.samples_sent, 2 * 640);
        assert_eq!(count, 6, "nothing after the send that reached nobody");
    }

    #[test]
    fn progress_is_reported_at_every_chunk_and_can_be_polled() {
        let stream = AudioStream::new(vec![0; 3_200], AudioStreamOptions::default()).unwrap();
        let handle = stream.handle();
        assert_eq!(handle.progress().state, AudioStreamState::NotStarted);
        assert_eq!(handle.progress().total_duration(), ms(200));
        let mut seen = Vec::new();
        stream
            .play(
                &mut VirtualClock::new(),
                |_| Ok(true),
                |progress| seen.push((progress.samples_sent, progress.state)),
            )
            .unwrap();
        use AudioStreamState::{Finished, Sending};
        assert_eq!(
            seen,
            [
                (0, Sending),
                (640, Sending),
                (1280, Sending),
                (1920, Sending),
                (2560, Sending),
                (3200, Sending),
                (3200, Finished)
            ]
        );
        assert_eq!(handle.progress().sent_duration(), ms(200));
    }

    #[test]
    fn unusable_options_are_refused_before_anything_is_sent() {
        let with = |chunk_bytes, lead_ms, model: &str| {
            let options = AudioStreamOptions {
                chunk_bytes,
                lead: ms(lead_ms),
                model: Some(model.to_owned()),
                ..AudioStreamOptions::default()
            };
            AudioStream::new(vec![0; 10], options)
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        assert_eq!(with(4_096, 128, "0"), Ok(()));
        assert_eq!(with(2, 1, "mei"), Ok(()));
        for chunk in [0, 1, 1_281, 4_098] {
            assert_eq!(
                with(chunk, 200, "0"),
                Err(format!("invalid audio: a chunk of {chunk} bytes: chunks hold whole 16-bit samples, from 2 to 4096 bytes"))
            );
        }
        assert_eq!(with(1_280, 2_000, "0"), Ok(()));
        assert_eq!(
            with(1_280, 2_001, "0"),
            Err("invalid audio: a lead of 2.001s is over 2s: that much audio at once would hold up the agent's events and fill its buffer".to_owned())
        );
        assert_eq!(
            with(1_280, 39, "0"),
            Err("invalid audio: a lead of 39ms is shorter than one chunk (40ms): the agent would run dry between chunks".to_owned())
        );
        assert!(with(1_280, 200, "a,b")
            .unwrap_err()
            .starts_with("invalid message"));
        assert!(with(1_280, 200, "a\nb")
            .unwrap_err()
            .starts_with("invalid message"));
    }

    #[test]
    fn after_a_stall_the_missed_audio_goes_as_one_lead_not_all_at_once() {
        // Two seconds in 40 ms chunks with a 200 ms lead; the sender stalls for a second after the
        // tenth chunk (sent at 200 ms, when 400 ms had been sent): the agent ran dry at 400 ms.
        let stream = AudioStream::new(vec![0; 32_000], AudioStreamOptions::default()).unwrap();
        let mut clock = VirtualClock::new();
        let now = Rc::clone(&clock.now);
        let mut chunks = 0;
        let mut sent_at = Vec::new();
        let progress = stream
            .play(
                &mut clock,
                |item| {
                    if let Item::AudioChunk(_) = item {
                        chunks += 1;
                        sent_at.push(now.get());
                        if chunks == 10 {
                            now.set(now.get() + Duration::from_secs(1));
                        }
                    }
                    Ok(true)
                },
                |_| {},
            )
            .unwrap();
        assert_eq!(sent_at[9], ms(200));
        let at_once = sent_at.iter().filter(|&&at| at == ms(1_200)).count();
        // The next lead's worth (five chunks, up to 600 ms of audio) goes at once, then the rest
        // keeps to the schedule 800 ms later than planned, and the wait for it to play too.
        assert_eq!(at_once, 5, "{sent_at:?}");
        assert_eq!(sent_at[15], ms(1_240));
        assert_eq!(sent_at[49], ms(2_000 - 200 + 800));
        assert_eq!(progress.elapsed, ms(2_000 + 800));
        assert_eq!(progress.state, AudioStreamState::Finished);
    }

    #[test]
    fn an_error_mid_stream_still_ends_the_segment_and_shows_how_far_it_got() {
        let stream = AudioStream::new(vec![0; 16_000], AudioStreamOptions::default()).unwrap();
        let handle = stream.handle();
        let mut items = Vec::new();
        let outcome = stream.play(
            &mut VirtualClock::new(),
            |item| {
                items.push(item.to_string());
                if items.len() == 3 + 4 {
                    return Err(Error::InvalidAudio("refused".to_owned()));
                }
                Ok(true)
            },
            |_| {},
        );
        assert_eq!(outcome.unwrap_err().to_string(), "invalid audio: refused");
        assert_eq!(items.last().unwrap(), "SNDBRKS", "{items:?}");
        let progress = handle.progress();
        assert_eq!(progress.state, AudioStreamState::Failed);
        assert_eq!(progress.samples_sent, 3 * 640);
    }

    #[test]
    fn a_peer_gone_or_leaving_is_nobody_to_send_to_and_a_full_outbox_an_error() {
        let peer = PeerId(7);
        let dropped = |cause| Err(Error::Dropped { peer, cause });
        assert!(reached_peer(Ok(())).unwrap());
        assert!(!reached_peer(Err(Error::NoSuchPeer(peer))).unwrap());
        assert!(!reached_peer(dropped(DropCause::PeerLeaving)).unwrap());
        assert!(!reached_peer(dropped(DropCause::NoPeer)).unwrap());
        assert!(matches!(
            reached_peer(dropped(DropCause::PeerTooSlow)),
            Err(Error::Dropped {
                cause: DropCause::PeerTooSlow,
                ..
            })
        ));
    }

    #[test]
    fn a_panic_in_on_progress_leaves_an_end_for_pollers() {
        let stream = AudioStream::new(vec![0; 16_000], AudioStreamOptions::default()).unwrap();
        let handle = stream.handle();
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            stream.play(
                &mut VirtualClock::new(),
                |_| Ok(true),
                |progress| assert!(progress.samples_sent < 1_280, "a host's bug"),
            )
        }));
        assert!(panicked.is_err());
        assert_eq!(handle.progress().state, AudioStreamState::Failed);
        assert_eq!(handle.progress().samples_sent, 1_280);
    }

    #[test]
    fn a_cancel_wakes_a_waiting_stream_at_once() {
        // All of two seconds' audio goes at once (a lead of two seconds), then the stream waits
        // for it to play; a cancel from another thread ends that wait on the wall clock.
        let options = AudioStreamOptions {
            chunk_bytes: MAX_AUDIO_CHUNK_BYTES,
            lead: MAX_AUDIO_LEAD,
            ..AudioStreamOptions::default()
        };
        let stream = AudioStream::new(vec![0; 2 * 16_000], options).unwrap();
        let (ended_tx, ended) = crossbeam_channel::bounded(1);
        let (waiting_tx, waiting) = crossbeam_channel::bounded(1);
        std::thread::scope(|scope| {
            let cancel = CancelOnDrop(stream.handle());
            scope.spawn(|| {
                let progress = stream.play(
                    &mut RealTime::new(),
                    |item| {
                        if let Item::AudioControl(AudioControl::Break) = item {
                            let _ = waiting_tx.send(());
                        }
                        Ok(true)
                    },
                    |_| {},
                );
                let _ = ended_tx.send((progress.unwrap(), Instant::now()));
            });
            waiting
                .recv_timeout(Duration::from_secs(10))
                .expect("all the audio sent");
            let cancelled_at = Instant::now();
            cancel.0.cancel();
            let (progress, ended_at) = ended
                .recv_timeout(Duration::from_secs(10))
                .expect("the wait ends after a cancel");
            assert_eq!(progress.state, AudioStreamState::Cancelled);
            let delay = ended_at.duration_since(cancelled_at);
            assert!(delay < Duration::from_millis(200), "took {delay:?}");
        });
    }
}
