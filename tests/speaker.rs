//! `agent::Speaker` over real sockets: against a scripted agent (a plain `TcpListener` the test
//! answers by hand, so it decides when each `SYNTH_EVENT_STOP` is sent) and against the command's
//! `--stand-in`.
//!
//! The speaker runs on a thread of its own, which the test joins; the test plays the agent. Every
//! wait is bounded: socket reads have a timeout, and a check that something does *not* happen
//! waits a fixed, short time for it.

mod support;

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::{TcpListener, TcpStream};
use std::ops::ControlFlow;
use std::thread;
use std::time::{Duration, Instant};

use mmdagent_remote::agent::{AgentEvent, Speaker, SpeechTimeout, Spoken};
use mmdagent_remote::{Config, Event, Item, Received, Remote, TcpClientConfig, TcpServerConfig};
use support::{accept, wait_for, WAIT};

/// How long the scripted agent watches for a line that must not come yet.
const QUIET: Duration = Duration::from_millis(300);

/// Lines from the controller, read with a timeout; a line cut by a timeout is kept for the next
/// read.
struct AgentSide {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
    partial: String,
}

impl AgentSide {
    fn accept(listener: &TcpListener) -> AgentSide {
        let stream = accept(listener);
        let reader = BufReader::new(stream.try_clone().expect("clone the socket"));
        AgentSide {
            stream,
            reader,
            partial: String::new(),
        }
    }

    /// The next line within `limit`, or `None` if none came.
    fn line_within(&mut self, limit: Duration) -> Option<String> {
        self.stream
            .set_read_timeout(Some(limit))
            .expect("set a read timeout");
        match self.reader.read_line(&mut self.partial) {
            Ok(0) => panic!("the controller closed the connection"),
            Ok(_) => {
                let line = std::mem::take(&mut self.partial);
                Some(line.trim_end_matches('\n').to_owned())
            }
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                None
            }
            Err(error) => panic!("reading from the controller failed: {error}"),
        }
    }

    fn line(&mut self) -> String {
        self.line_within(WAIT)
            .unwrap_or_else(|| panic!("no line from the controller within {WAIT:?}"))
    }

    fn expect_nothing(&mut self, what: &str) {
        if let Some(line) = self.line_within(QUIET) {
            panic!("{what}, but the controller sent {line:?}");
        }
    }

    fn send(&mut self, line: &str) {
        self.stream
            .write_all(format!("{line}\n").as_bytes())
            .expect("write to the controller");
    }
}

/// A controller connected to `port` on loopback, once it reports the connection.
fn controller_of(port: u16) -> Remote {
    let mut config = Config::default();
    config.tcp_client = Some(TcpClientConfig::new("127.0.0.1", port));
    let remote = Remote::start(&config).expect("start the controller");
    wait_for(
        &remote,
        "the connection to the agent",
        |event| match event {
            Event::Connected { .. } => Some(()),
            _ => None,
        },
    );
    remote
}

/// Speaks `text` through model `mei` on a thread of its own and waits for it to be spoken; the
/// outcome and the agent events the speaker handed back.
fn speak_on_a_thread(
    port: u16,
    text: &'static str,
    timeout: SpeechTimeout,
) -> thread::JoinHandle<(Spoken, Vec<AgentEvent>)> {
    thread::spawn(move || {
        let remote = controller_of(port);
        let mut speaker = Speaker::new("mei", "mei_voice_normal")
            .expect("a speaker")
            .with_timeout(timeout);
        let pieces = speaker.speak(&remote, text).expect("speak");
        assert_eq!(pieces, 3);
        let mut seen = Vec::new();
        let spoken = speaker
            .wait(&remote, |event| {
                seen.extend(AgentEvent::from_event(&event));
                ControlFlow::Continue(())
            })
            .expect("wait");
        remote.shutdown().expect("shut down");
        (spoken, seen)
    })
}

#[test]
fn each_sentence_waits_for_the_stop_of_the_one_before() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the agent's port");
    let port = listener.local_addr().unwrap().port();
    let speaking = speak_on_a_thread(
        port,
        "最初の文です。二番目？ And the third.",
        SpeechTimeout::default(),
    );
    let mut agent = AgentSide::accept(&listener);

    assert_eq!(
        agent.line(),
        "SYNTH_START|mei|mei_voice_normal|最初の文です。"
    );
    agent.send("SYNTH_EVENT_START|mei");
    agent.expect_nothing("the first sentence is still being spoken");
    // Neither another model's stop nor another event ends the sentence.
    agent.send("SYNTH_EVENT_STOP|other");
    agent.send("KEY|a");
    agent.expect_nothing("only another model stopped");
    agent.send("SYNTH_EVENT_STOP|mei");

    assert_eq!(agent.line(), "SYNTH_START|mei|mei_voice_normal|二番目？");
    agent.expect_nothing("the second sentence is still being spoken");
    agent.send("SYNTH_EVENT_STOP|mei");

    assert_eq!(
        agent.line(),
        "SYNTH_START|mei|mei_voice_normal|And the third."
    );
    agent.send("SYNTH_EVENT_STOP|mei");

    let (spoken, seen) = speaking.join().expect("the speaker's thread");
    assert_eq!((spoken.finished, spoken.timed_out), (3, 0));
    // Every event went on to the host, those the speaker acted on included.
    let stop = |model: &str| AgentEvent::SynthStopped {
        model: model.to_owned(),
    };
    assert_eq!(
        seen,
        [
            AgentEvent::SynthStarted {
                model: "mei".to_owned()
            },
            stop("other"),
            AgentEvent::Key {
                name: "a".to_owned()
            },
            stop("mei"),
            stop("mei"),
            stop("mei"),
        ]
    );
}

/// A timeout of `fixed` for every piece, and `after_cancel` for a stopped piece's end.
fn timeout(fixed: Duration, after_cancel: Duration) -> SpeechTimeout {
    let mut timeout = SpeechTimeout::new(fixed, Duration::ZERO);
    timeout.after_cancel = after_cancel;
    timeout
}

#[test]
fn a_lost_stop_ends_by_the_timeout_which_stops_the_piece() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the agent's port");
    let port = listener.local_addr().unwrap().port();
    let (fixed, after_cancel) = (Duration::from_millis(400), Duration::from_millis(300));
    let speaking = speak_on_a_thread(port, "One. Two. Three.", timeout(fixed, after_cancel));
    let mut agent = AgentSide::accept(&listener);

    assert_eq!(agent.line(), "SYNTH_START|mei|mei_voice_normal|One.");
    let first = Instant::now();
    // The agent never answers the first: after the timeout it is stopped, not spoken over.
    assert_eq!(agent.line(), "SYNTH_STOP|mei");
    // Measured from when the line was read, a little after the speaker's clock started.
    let waited = first.elapsed();
    assert!(waited >= fixed / 2, "stopped after {waited:?}");
    // Nor does the stopped piece ever report its end: the next goes once after_cancel runs out.
    let stopped = Instant::now();
    assert_eq!(agent.line(), "SYNTH_START|mei|mei_voice_normal|Two.");
    let waited = stopped.elapsed();
    assert!(waited >= after_cancel / 2, "the next came after {waited:?}");
    agent.send("SYNTH_EVENT_STOP|mei");
    assert_eq!(agent.line(), "SYNTH_START|mei|mei_voice_normal|Three.");
    agent.send("SYNTH_EVENT_STOP|mei");

    let (spoken, _) = speaking.join().expect("the speaker's thread");
    assert_eq!((spoken.finished, spoken.timed_out), (2, 1));
}

#[test]
fn the_late_stop_of_a_timed_out_piece_does_not_end_the_next() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the agent's port");
    let port = listener.local_addr().unwrap().port();
    // 100 ms a character: 400 ms for the first piece, 2 s for the second.
    let mut timeout = SpeechTimeout::new(Duration::ZERO, Duration::from_millis(100));
    timeout.after_cancel = WAIT;
    let speaking = speak_on_a_thread(port, "Slow. The second piece. Three.", timeout);
    let mut agent = AgentSide::accept(&listener);

    assert_eq!(agent.line(), "SYNTH_START|mei|mei_voice_normal|Slow.");
    agent.send("SYNTH_EVENT_START|mei");
    // The agent is slow: the speaker gives up and stops it; the stop it sends late belongs to
    // the first piece, so the second goes only after it and waits for a stop of its own.
    assert_eq!(agent.line(), "SYNTH_STOP|mei");
    agent.send("SYNTH_EVENT_STOP|mei");
    assert_eq!(
        agent.line(),
        "SYNTH_START|mei|mei_voice_normal|The second piece."
    );
    agent.expect_nothing("the second piece has not ended");
    agent.send("SYNTH_EVENT_STOP|mei");
    assert_eq!(agent.line(), "SYNTH_START|mei|mei_voice_normal|Three.");
    agent.send("SYNTH_EVENT_STOP|mei");

    let (spoken, _) = speaking.join().expect("the speaker's thread");
    assert_eq!((spoken.finished, spoken.timed_out), (2, 1));
}

#[test]
fn with_no_peer_connected_the_pieces_are_dropped_at_once_not_waited_for() {
    let mut server = TcpServerConfig::new(0);
    server.bind_address = "127.0.0.1".parse().expect("an address");
    let mut config = Config::default();
    config.tcp_server = Some(server);
    let remote = Remote::start(&config).expect("a server nobody connects to");
    let mut speaker = Speaker::new("mei", "v").expect("a speaker");

    assert_eq!(
        speaker.speak(&remote, "One. Two. Three.").expect("speak"),
        3
    );
    assert!(
        speaker.is_idle(),
        "nothing waits for an answer nobody can give"
    );
    assert_eq!(speaker.spoken().not_sent, 3);
    assert_eq!(speaker.deadline(), None);
    let started = Instant::now();
    let spoken = speaker
        .wait(&remote, |_| ControlFlow::Continue(()))
        .expect("wait");
    assert_eq!(spoken, Spoken::default());
    assert!(started.elapsed() < Duration::from_secs(1));
    remote.shutdown().expect("shut down");
}

#[test]
fn a_timeout_of_never_waits_without_a_deadline_and_the_host_can_end_the_wait() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the agent's port");
    let port = listener.local_addr().unwrap().port();
    let controller = thread::spawn(move || {
        let remote = controller_of(port);
        let mut speaker = Speaker::new("mei", "v")
            .expect("a speaker")
            .with_timeout(timeout(Duration::MAX, Duration::MAX));
        speaker.speak(&remote, "One. Two.").expect("speak");
        assert_eq!(speaker.deadline(), None, "no deadline");
        assert!(!speaker.is_idle());
        // The host ends the wait itself, at a key press.
        let spoken = speaker
            .wait(&remote, |event| match AgentEvent::from_event(&event) {
                Some(AgentEvent::Key { .. }) => ControlFlow::Break(()),
                _ => ControlFlow::Continue(()),
            })
            .expect("wait");
        assert_eq!(spoken, Spoken::default());
        assert_eq!(speaker.speaking(), Some("One."));
        speaker.cancel(&remote).expect("cancel");
        assert_eq!(
            speaker.deadline(),
            None,
            "the stopped piece has no deadline either"
        );
        // A plain-thread host on the inbound channel shows the speaker borrowed messages.
        let deadline = Instant::now() + WAIT;
        while !speaker.is_idle() {
            let left = deadline.saturating_duration_since(Instant::now());
            let inbound = remote
                .inbound()
                .recv_timeout(left)
                .expect("the stopped piece's end within the bound");
            inbound.decode(|received| {
                if let Received::Item {
                    item: Item::Message(message),
                    ..
                } = received
                {
                    speaker.handle_message(&remote, &message).expect("handle");
                }
            });
        }
        remote.shutdown().expect("shut down");
    });
    let mut agent = AgentSide::accept(&listener);

    assert_eq!(agent.line(), "SYNTH_START|mei|v|One.");
    agent.send("KEY|a");
    assert_eq!(agent.line(), "SYNTH_STOP|mei");
    agent.send("SYNTH_EVENT_STOP|mei");
    controller.join().expect("the controller's thread");
}

#[test]
fn cancel_stops_the_speech_and_drops_the_queue() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the agent's port");
    let port = listener.local_addr().unwrap().port();
    let controller = thread::spawn(move || {
        let remote = controller_of(port);
        let mut speaker = Speaker::new("mei", "v").expect("a speaker");
        speaker.speak(&remote, "One. Two. Three.").expect("speak");
        // Cancel once the agent says it speaks.
        wait_for(&remote, "SYNTH_EVENT_START", |event| {
            speaker.handle_event(&remote, event).expect("handle");
            matches!(
                AgentEvent::from_event(event),
                Some(AgentEvent::SynthStarted { .. })
            )
            .then_some(())
        });
        speaker.cancel(&remote).expect("cancel");
        assert_eq!(speaker.queued(), 0);
        // Queued during the cancel: sent only once the stopped piece has ended.
        speaker.speak(&remote, "Again.").expect("speak again");
        let spoken = speaker
            .wait(&remote, |_| ControlFlow::Continue(()))
            .expect("wait");
        remote.shutdown().expect("shut down");
        spoken
    });
    let mut agent = AgentSide::accept(&listener);

    assert_eq!(agent.line(), "SYNTH_START|mei|v|One.");
    agent.send("SYNTH_EVENT_START|mei");
    assert_eq!(agent.line(), "SYNTH_STOP|mei");
    agent.expect_nothing("the stopped piece has not reported its end");
    agent.send("SYNTH_EVENT_STOP|mei");
    assert_eq!(agent.line(), "SYNTH_START|mei|v|Again.");
    agent.send("SYNTH_EVENT_STOP|mei");

    let spoken = controller.join().expect("the controller's thread");
    assert_eq!((spoken.finished, spoken.timed_out), (1, 0));
}

#[cfg(feature = "cli")]
#[test]
fn speaker_runs_end_to_end_against_the_stand_in() {
    use mmdagent_remote::TcpServerConfig;
    use std::process::{Command, Stdio};

    /// The command, killed when the test ends, passes or fails.
    struct StandIn(std::process::Child);
    impl Drop for StandIn {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    let mut server = TcpServerConfig::new(0);
    server.bind_address = "127.0.0.1".parse().expect("an address");
    let mut config = Config::default();
    config.tcp_server = Some(server);
    let remote = Remote::start(&config).expect("start the controller's server");
    let port = remote.local_addr().expect("its address").port();

    // Standard input stays open (piped, never written), so the command runs until killed.
    let _stand_in = StandIn(
        Command::new(env!("CARGO_BIN_EXE_mmdagent-remote"))
            .args(["--stand-in", "--connect", &format!("127.0.0.1:{port}")])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the command"),
    );
    wait_for(&remote, "the stand-in to connect", |event| match event {
        Event::Connected { .. } => Some(()),
        _ => None,
    });

    let mut speaker = Speaker::new("mei", "mei_voice_normal").expect("a speaker");
    let started = Instant::now();
    assert_eq!(
        speaker
            .speak(&remote, "こんにちは。元気ですか？\nI am fine, thanks.")
            .expect("speak"),
        3
    );
    let mut seen = Vec::new();
    let spoken = speaker
        .wait(&remote, |event| {
            if let Some(event) = AgentEvent::from_event(&event) {
                seen.push(event);
            }
            ControlFlow::Continue(())
        })
        .expect("wait");
    assert_eq!((spoken.finished, spoken.timed_out), (3, 0));
    // The stand-in "speaks" 100 ms + 20 ms a character: 6, 6 and 18 characters.
    assert!(started.elapsed() >= Duration::from_millis(300 + 30 * 20));

    let lines: Vec<String> = seen
        .iter()
        .map(|event| match event {
            AgentEvent::SynthStarted { model } => format!("start {model}"),
            AgentEvent::SynthStopped { model } => format!("stop {model}"),
            AgentEvent::Other(message) => message.to_string(),
            other => format!("{other:?}"),
        })
        .collect();
    // The agent (and the stand-in) echo every message, the controller's own included.
    assert_eq!(
        lines,
        [
            "SYNTH_START|mei|mei_voice_normal|こんにちは。",
            "start mei",
            "stop mei",
            "SYNTH_START|mei|mei_voice_normal|元気ですか？",
            "start mei",
            "stop mei",
            "SYNTH_START|mei|mei_voice_normal|I am fine, thanks.",
            "start mei",
            "stop mei",
        ]
    );
    remote.shutdown().expect("shut down");
}
