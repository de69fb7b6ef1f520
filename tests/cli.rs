#![cfg(feature = "cli")]
//! The `mmdagent-remote` command, end to end: the built binary runs as a child process and the test
//! plays its peers (raw TCP sockets, or the library's WebSocket ends) over loopback.
//!
//! Every wait is bounded: the child's standard output and error are read on threads that forward
//! each line to a channel, and the test waits on those channels with a deadline. The child is
//! killed when its test ends, passes or fails. Where the test can own the listening socket, the
//! command is the client; where the command must listen itself (`--listen`, `--serve-websocket`,
//! which refuse port 0), see [`start_listening`].

mod support;

use std::ffi::OsStr;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use mmdagent_remote::{
    known_keys, Config, Event, Remote, WebSocketClientConfig, WebSocketServerConfig,
};
use support::{accept, next_message, refused_address, wait_for, LineReader, WAIT};

/// Every peer in these tests connects from, or is reached on, loopback.
const CONNECTED: &str = "REMOTE_EVENT_CONNECTED|127.0.0.1";
const DISCONNECTED: &str = "REMOTE_EVENT_DISCONNECTED|127.0.0.1";

/// The command, running, with its standard input and the lines of its output.
struct Tool {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    stderr_seen: Vec<String>,
}

impl Tool {
    fn start<S: AsRef<OsStr>>(args: &[S]) -> Tool {
        Tool::start_with_stdin(args, Stdio::piped())
    }

    fn start_with_stdin<S: AsRef<OsStr>>(args: &[S], stdin: Stdio) -> Tool {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mmdagent-remote"))
            .args(args)
            .env("RUST_LOG", "info")
            .env("RUST_LOG_STYLE", "never")
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the command starts");
        Tool {
            stdin: child.stdin.take(),
            stdout: lines_of(child.stdout.take().expect("stdout")),
            stderr: lines_of(child.stderr.take().expect("stderr")),
            child,
            stderr_seen: Vec::new(),
        }
    }

    /// Writes one line to the command's standard input.
    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("standard input is open");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .and_then(|()| stdin.flush())
            .expect("write to the command's standard input");
    }

    fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// The next line of standard output, failing the test after `WAIT`.
    fn line(&mut self) -> String {
        match self.stdout.recv_timeout(WAIT) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => panic!(
                "no line on standard output within {WAIT:?}; standard error: {:#?}",
                self.stderr()
            ),
            Err(RecvTimeoutError::Disconnected) => panic!(
                "standard output closed ({:?}); standard error: {:#?}",
                self.child.try_wait(),
                self.stderr()
            ),
        }
    }

    fn expect_line(&mut self, expected: &str) {
        let line = self.line();
        assert_eq!(line, expected, "standard error: {:#?}", self.stderr());
    }

    /// The lines of standard error so far, without waiting.
    fn stderr(&mut self) -> &[String] {
        self.stderr_seen.extend(self.stderr.try_iter());
        &self.stderr_seen
    }

    /// Waits for a line of standard error that contains one of `texts`, failing after `WAIT`.
    fn wait_stderr(&mut self, texts: &[&str]) -> String {
        let wanted = |line: &str| texts.iter().any(|text| line.contains(text));
        if let Some(line) = self.stderr().iter().find(|line| wanted(line)) {
            return line.clone();
        }
        let deadline = Instant::now() + WAIT;
        loop {
            match self.stderr.recv_deadline(deadline) {
                Ok(line) => {
                    self.stderr_seen.push(line.clone());
                    if wanted(&line) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no {texts:?} on standard error; seen: {:#?}",
                    self.stderr_seen
                ),
            }
        }
    }

    fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("child status").is_none()
    }

    /// Waits up to `limit` for the command to exit; its status and the lines it still wrote on
    /// standard output. Standard error is then complete in [`Tool::stderr`].
    fn exit_within(&mut self, limit: Duration) -> (ExitStatus, Vec<String>) {
        let deadline = Instant::now() + limit;
        let mut rest = Vec::new();
        // Standard output closes when the process ends.
        loop {
            match self.stdout.recv_deadline(deadline) {
                Ok(line) => rest.push(line),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => panic!(
                    "still running after {limit:?}; output {rest:#?}; standard error: {:#?}",
                    self.stderr()
                ),
            }
        }
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("child status") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "closed its output but did not exit within {limit:?}"
            );
            // Output is closed, so the process is ending: a short poll for its status.
            thread::sleep(Duration::from_millis(5));
        };
        while let Ok(line) = self.stderr.recv_deadline(deadline) {
            self.stderr_seen.push(line);
        }
        (status, rest)
    }
}

impl Drop for Tool {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Lines read from a pipe on a thread of their own; the channel ends with the pipe.
fn lines_of(pipe: impl Read + Send + 'static) -> Receiver<String> {
    let (lines, received) = crossbeam_channel::unbounded();
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    received
}

/// Starts the command as a server on a free loopback port, `args` given that port.
///
/// The command refuses port 0, so the port comes from a listener the test binds on 127.0.0.1:0 and
/// lets go. Another process could take the port in that short window; then the command cannot
/// listen and exits, and it is started again on another port (three tries in all).
fn start_listening(args: impl Fn(u16) -> Vec<String>) -> (Tool, u16) {
    for _ in 0..3 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let mut tool = Tool::start(&args(port));
        if tool
            .wait_stderr(&["listening on", "cannot listen"])
            .contains("listening on")
        {
            return (tool, port);
        }
    }
    panic!("the command could not listen on a free port in three tries");
}

/// A listener for the command to connect to, and the `--connect` option's value for it.
fn controller_listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let port = listener.local_addr().expect("its address").port();
    (listener, format!("127.0.0.1:{port}"))
}

/// A raw TCP connection to the command's server, with a read timeout.
fn connect(port: u16) -> (TcpStream, LineReader) {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the command");
    let reader = LineReader::new(&stream);
    (stream, reader)
}

/// An empty folder of this test's own under Cargo's temporary directory for integration tests,
/// removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("cli-{name}-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("create a scratch folder");
        Scratch(dir)
    }

    /// Writes a file in the folder; its path.
    fn write(&self, name: &str, text: &str) -> String {
        let path = self.0.join(name);
        fs::write(&path, text).expect("write a file");
        path.to_str().expect("a UTF-8 path").to_owned()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

// Point 1: configuration.

#[test]
fn with_no_file_and_no_option_it_is_a_tcp_server_on_port_60001() {
    // The default binds every IPv4 interface on port 60001. So as not to open that to the network,
    // the test holds 127.0.0.1:60001 itself: the command must then fail to listen on exactly
    // 0.0.0.0:60001, which shows the default without the command ever listening.
    // If something else on the machine holds the port, the command cannot listen either, which
    // is what this test looks for; so a failure to bind here is no reason to fail.
    let _held = TcpListener::bind("127.0.0.1:60001").ok();
    let mut tool = Tool::start::<&str>(&[]);
    let (status, output) = tool.exit_within(WAIT);
    assert_eq!(status.code(), Some(1), "{:#?}", tool.stderr());
    assert!(output.is_empty(), "{output:?}");
    let stderr = tool.stderr();
    assert!(
        stderr
            .iter()
            .any(|line| line.contains("cannot listen on 0.0.0.0:60001")),
        "{stderr:#?}"
    );
}

#[test]
fn later_files_override_earlier_ones() {
    let (controller, _) = controller_listener();
    let port = controller.local_addr().unwrap().port();
    let dir = Scratch::new("mdf-order");
    let refused = refused_address();
    let first = dir.write(
        "first.mdf",
        &format!(
            "Plugin_Remote_EnableClient=true\nPlugin_Remote_Hostname={}\nPlugin_Remote_Port={}\n",
            refused.ip(),
            refused.port()
        ),
    );
    let second = dir.write(
        "second.mdf",
        &format!("Plugin_Remote_Hostname=127.0.0.1\nPlugin_Remote_Port={port}\n"),
    );
    let mut tool = Tool::start(&[first, second]);
    let _connection = accept(&controller);
    tool.expect_line(CONNECTED);
}

#[test]
fn set_overrides_the_files_wherever_it_is_written() {
    let (controller, _) = controller_listener();
    let port = controller.local_addr().unwrap().port();
    let dir = Scratch::new("mdf-set");
    let refused = refused_address();
    let file = dir.write(
        "main.mdf",
        &format!(
            "Plugin_Remote_EnableClient=true\nPlugin_Remote_Hostname={}\nPlugin_Remote_Port={}\n",
            refused.ip(),
            refused.port()
        ),
    );
    let mut tool = Tool::start(&[
        "--set".to_owned(),
        "Plugin_Remote_Hostname=127.0.0.1".to_owned(),
        "--set".to_owned(),
        format!("Plugin_Remote_Port={port}"),
        file,
    ]);
    let _connection = accept(&controller);
    tool.expect_line(CONNECTED);
}

// Point 2: data, in each mode.

#[test]
fn tcp_server_both_directions_and_events() {
    let (mut tool, port) =
        start_listening(|port| vec!["--listen".to_owned(), format!("127.0.0.1:{port}")]);
    let (mut controller, mut replies) = connect(port);
    tool.expect_line(CONNECTED);

    controller.write_all(b"MESSAGE|aaa|bbb\n").unwrap();
    tool.expect_line("MESSAGE|aaa|bbb");
    tool.send("SYNTH_START|mei|mei_voice_normal|hello");
    assert_eq!(replies.line(), "SYNTH_START|mei|mei_voice_normal|hello");

    drop(controller);
    drop(replies);
    tool.expect_line(DISCONNECTED);
}

#[test]
fn tcp_client_both_directions_and_events() {
    let (controller, target) = controller_listener();
    let mut tool = Tool::start(&["--connect", &target]);
    let mut connection = accept(&controller);
    let mut replies = LineReader::new(&connection);
    tool.expect_line(CONNECTED);

    connection.write_all(b"MESSAGE|aaa|bbb\n").unwrap();
    tool.expect_line("MESSAGE|aaa|bbb");
    tool.send("SYNTH_START|mei|mei_voice_normal|hello");
    assert_eq!(replies.line(), "SYNTH_START|mei|mei_voice_normal|hello");

    drop(connection);
    drop(replies);
    tool.expect_line(DISCONNECTED);
}

#[test]
fn websocket_client_both_directions_and_events() {
    let mut server = WebSocketServerConfig::new(0);
    server.path = Some("/chat".to_owned());
    let mut config = Config::default();
    config.websocket_server = Some(server);
    let controller = Remote::start(&config).expect("a WebSocket server");
    let address = controller.websocket_addr().expect("its address");

    let mut tool = Tool::start(&["--websocket", &format!("ws://{address}/chat")]);
    let (agent, _) = wait_for(&controller, "the command to connect", |event| match event {
        Event::Connected { peer, .. } => Some(*peer),
        _ => None,
    });
    tool.expect_line(CONNECTED);

    controller.send_message("TEST_MESSAGE", "hello").unwrap();
    tool.expect_line("TEST_MESSAGE|hello");
    tool.send("REPLY|from the command");
    assert_eq!(next_message(&controller), "REPLY|from the command");

    controller.disconnect(agent).unwrap();
    tool.expect_line(DISCONNECTED);
}

#[test]
fn serve_websocket_both_directions_and_events() {
    let (mut tool, port) = start_listening(|port| {
        vec![
            "--serve-websocket".to_owned(),
            format!("127.0.0.1:{port}/chat"),
        ]
    });
    // The command is listening already (see `start_listening`): one attempt, the default.
    let mut config = Config::default();
    config.websocket_client = Some(WebSocketClientConfig::new("127.0.0.1", port, "/chat"));
    let agent = Remote::start(&config).expect("a WebSocket client");
    wait_for(&agent, "connected to the command", |event| match event {
        Event::Connected { .. } => Some(()),
        Event::GaveUp { reason, .. } => panic!("could not connect: {reason}"),
        _ => None,
    });
    tool.expect_line(CONNECTED);

    agent
        .send_message("RECOG_EVENT_STOP", "hello there")
        .unwrap();
    tool.expect_line("RECOG_EVENT_STOP|hello there");
    tool.send("SYNTH_START|mei|mei_voice_normal|hi");
    assert_eq!(next_message(&agent), "SYNTH_START|mei|mei_voice_normal|hi");

    agent.shutdown().unwrap();
    tool.expect_line(DISCONNECTED);
}

#[test]
fn inbound_lines_are_written_one_per_line_without_audio() {
    let (controller, target) = controller_listener();
    let mut tool = Tool::start(&["--connect", &target]);
    let mut connection = accept(&controller);
    tool.expect_line(CONNECTED);

    connection
        .write_all(
            b"MESSAGE|aaa|bbb\nNOARGS\nEMPTY|\n__AV_MESSAGE,MOTION_ADD|mei|action|x.vmd\n\
              __AV_START\n__AV_SETMODEL,0\n__AV_EXMORPH,mouth_a=0.5,eye_close=1\n__AV_ACTION,3\n\
              __AVCONF_DISABLEAUTOLIP,ARKIT\n__AV_TRACK,1,2,3\n__AV_ACTION,wave\nSNDSTRM\nSND0004\x01\x02\x03\x04\
              SNDFILE\nSND0002\x05\x06SNDBRKS\n__AV_END\nLAST|line\n",
        )
        .unwrap();
    for expected in [
        "MESSAGE|aaa|bbb",
        "NOARGS",
        "EMPTY",
        "MOTION_ADD|mei|action|x.vmd",
        "__AV_START",
        "__AV_SETMODEL,0",
        "__AV_EXMORPH,mouth_a=0.5,eye_close=1",
        "__AV_ACTION,3",
        "__AVCONF_DISABLEAUTOLIP,ARKIT",
        "__AV_TRACK,1,2,3",
        "__AV_ACTION,wave", // malformed, passed on as it came
        "SNDSTRM",
        "SNDFILE",
        "SNDBRKS",
        "__AV_END",
        "LAST|line",
    ] {
        tool.expect_line(expected);
    }
}

#[test]
fn avatar_lines_are_written_exactly_as_they_arrived() {
    let (controller, target) = controller_listener();
    let mut tool = Tool::start(&["--connect", &target]);
    let mut connection = accept(&controller);
    tool.expect_line(CONNECTED);

    let lines = [
        "__AV_EXMORPH,mouth_a=0.50,eye_close=1.0",
        "__AV_ACTION,03",
        "__AVCONF_DISABLEAUTOLIP,AU+ARKIT",
        "END|marker",
    ];
    for line in lines {
        connection
            .write_all(format!("{line}\n").as_bytes())
            .unwrap();
    }
    for expected in lines {
        tool.expect_line(expected);
    }
}

#[test]
fn every_line_is_flushed_at_once() {
    let (controller, target) = controller_listener();
    let mut tool = Tool::start(&["--connect", &target]);
    let mut connection = accept(&controller);
    tool.expect_line(CONNECTED);
    // One line at a time, each read from the pipe before the next is sent, while the command runs
    // and its standard input is open: a block-buffered output would hold the first line back.
    for line in ["ONE|1", "TWO|2", "THREE|3"] {
        connection
            .write_all(format!("{line}\n").as_bytes())
            .unwrap();
        tool.expect_line(line);
        assert!(tool.is_running() && tool.stdin.is_some());
    }
}

// Point 3: audio.

#[test]
fn save_audio_writes_one_wav_file_per_segment() {
    let folder = Scratch::new("audio");
    let (controller, target) = controller_listener();
    let mut tool = Tool::start(&[
        "--connect",
        &target,
        "--save-audio",
        folder.0.to_str().unwrap(),
    ]);
    let mut connection = accept(&controller);
    tool.expect_line(CONNECTED);

    // Segment 1 (two chunks) ends at SNDBRKS, segment 2 at the change to stream mode, segment 3
    // when the peer disconnects.
    let mut stream = Vec::new();
    stream.extend_from_slice(b"SNDFILE\nSND0004\x01\x02\x03\x04SND0006\x05\x06\x07\x08\x09\x0a");
    stream.extend_from_slice(b"SNDBRKS\nSND0008\x0b\x0c\x0d\x0e\x0f\x10\x11\x12");
    stream.extend_from_slice(b"SNDSTRM\nSND0002\x13\x14");
    connection.write_all(&stream).unwrap();
    tool.expect_line("SNDFILE");
    tool.expect_line("SNDBRKS");
    tool.expect_line("SNDSTRM");
    drop(connection);
    tool.expect_line(DISCONNECTED);

    tool.close_stdin();
    let (status, _) = tool.exit_within(WAIT);
    assert!(status.success(), "{:#?}", tool.stderr());

    let mut files: Vec<(u64, u64, PathBuf)> = fs::read_dir(&folder.0)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            let (peer, segment) = name
                .strip_prefix("peer")
                .and_then(|rest| rest.strip_suffix(".wav"))
                .and_then(|rest| rest.split_once('-'))
                .unwrap_or_else(|| panic!("not peer<id>-<n>.wav: {name}"));
            (peer.parse().unwrap(), segment.parse().unwrap(), path)
        })
        .collect();
    files.sort();
    let segments: Vec<u64> = files.iter().map(|(_, segment, _)| *segment).collect();
    assert_eq!(segments, [1, 2, 3], "{files:?}");
    assert!(
        files.iter().all(|(peer, _, _)| *peer == files[0].0),
        "{files:?}"
    );
    assert_wav(&files[0].2, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert_wav(&files[1].2, &[11, 12, 13, 14, 15, 16, 17, 18]);
    assert_wav(&files[2].2, &[19, 20]);
}

/// Checks a 44-byte PCM WAV header for 16 kHz, 16-bit mono and the samples that follow it.
fn assert_wav(path: &Path, samples: &[u8]) {
    let bytes = fs::read(path).unwrap();
    let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    let sample_count = samples.len() as u32 / 2;
    assert_eq!(&bytes[0..4], b"RIFF", "{path:?}");
    assert_eq!(u32_at(4), 36 + sample_count * 2, "RIFF size of {path:?}");
    assert_eq!(&bytes[8..16], b"WAVEfmt ", "{path:?}");
    assert_eq!(u32_at(16), 16, "fmt size of {path:?}");
    assert_eq!(u16_at(20), 1, "PCM in {path:?}");
    assert_eq!(u16_at(22), 1, "channels in {path:?}");
    assert_eq!(u32_at(24), 16_000, "sample rate in {path:?}");
    assert_eq!(u32_at(28), 32_000, "byte rate in {path:?}");
    assert_eq!(u16_at(32), 2, "block align in {path:?}");
    assert_eq!(u16_at(34), 16, "bits per sample in {path:?}");
    assert_eq!(&bytes[36..40], b"data", "{path:?}");
    assert_eq!(u32_at(40), sample_count * 2, "data size of {path:?}");
    assert_eq!(&bytes[44..], samples, "samples of {path:?}");
}

/// Writes a 16-bit PCM WAV file of `samples`, the channels of each frame interleaved.
fn write_wav(path: &Path, sample_rate: u32, channels: u16, samples: &[i16]) {
    let data_length = u32::try_from(samples.len() * 2).unwrap();
    let mut bytes = Vec::with_capacity(44 + samples.len() * 2);
    bytes.extend_from_slice(b"RIFF");
    bytes.extend_from_slice(&(36 + data_length).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    bytes.extend_from_slice(&16u32.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes());
    bytes.extend_from_slice(&channels.to_le_bytes());
    bytes.extend_from_slice(&sample_rate.to_le_bytes());
    bytes.extend_from_slice(&(sample_rate * 2 * u32::from(channels)).to_le_bytes());
    bytes.extend_from_slice(&(2 * channels).to_le_bytes());
    bytes.extend_from_slice(&16u16.to_le_bytes());
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&data_length.to_le_bytes());
    bytes.extend(samples.iter().flat_map(|sample| sample.to_le_bytes()));
    fs::write(path, bytes).expect("write a WAV file");
}

/// Samples that cover the whole 16-bit range in no simple pattern, so any sample lost, doubled
/// or changed shows.
fn varied_samples(count: usize) -> Vec<i16> {
    (0..count)
        .map(|i| ((i as u32).wrapping_mul(2_654_435_761) >> 16) as u16 as i16)
        .collect()
}

/// A tone of `frequency` Hz at `sample_rate`, the same in every channel.
fn tone(sample_rate: u32, channels: u16, seconds: f64, frequency: f64) -> Vec<i16> {
    let frames = (f64::from(sample_rate) * seconds) as usize;
    (0..frames)
        .flat_map(|frame| {
            let phase =
                2.0 * std::f64::consts::PI * frequency * frame as f64 / f64::from(sample_rate);
            let sample = (phase.sin() * 12_000.0) as i16;
            std::iter::repeat_n(sample, usize::from(channels))
        })
        .collect()
}

fn le_bytes(samples: &[i16]) -> Vec<u8> {
    samples
        .iter()
        .flat_map(|sample| sample.to_le_bytes())
        .collect()
}

/// One item of what `--send-audio` writes on the wire: a line, or an audio chunk's bytes.
#[derive(Debug, PartialEq, Eq)]
enum Sent {
    Line(String),
    Chunk(Vec<u8>),
}

/// Splits a byte stream into lines and `SND` + four digits chunks.
fn split_sent(mut bytes: &[u8]) -> Vec<Sent> {
    let mut items = Vec::new();
    while !bytes.is_empty() {
        let header = bytes.get(..7).unwrap_or_default();
        if header.starts_with(b"SND")
            && header[3..].iter().all(u8::is_ascii_digit)
            && header.len() == 7
        {
            let length: usize = std::str::from_utf8(&header[3..]).unwrap().parse().unwrap();
            assert!(bytes.len() >= 7 + length, "a chunk cut short");
            items.push(Sent::Chunk(bytes[7..7 + length].to_vec()));
            bytes = &bytes[7 + length..];
        } else {
            let end = bytes
                .iter()
                .position(|&byte| byte == b'\n')
                .expect("a line ends with a line end");
            items.push(Sent::Line(
                String::from_utf8(bytes[..end].to_vec()).unwrap(),
            ));
            bytes = &bytes[end + 1..];
        }
    }
    items
}

/// Reads a connection to its end: the bytes, when the first audio chunk arrived, and when the
/// connection closed.
fn read_until_closed(mut connection: TcpStream) -> (Vec<u8>, Instant, Instant) {
    connection.set_read_timeout(Some(WAIT)).unwrap();
    let mut received = Vec::new();
    let mut first_chunk = None;
    let mut buffer = [0; 16_384];
    loop {
        let read = connection
            .read(&mut buffer)
            .unwrap_or_else(|error| panic!("nothing within {WAIT:?}: {error}"));
        if read == 0 {
            let closed = Instant::now();
            return (received, first_chunk.expect("an audio chunk"), closed);
        }
        received.extend_from_slice(&buffer[..read]);
        if first_chunk.is_none() && received.windows(11).any(|w| w == b"SNDFILE\nSND") {
            first_chunk = Some(Instant::now());
        }
    }
}

#[test]
fn send_audio_frames_each_file_in_turn_and_ends_only_after_it_has_played() {
    let folder = Scratch::new("send-audio");
    let mono = folder.0.join("mono16k.wav");
    write_wav(&mono, 16_000, 1, &varied_samples(8_000)); // 0.5 s
    let stereo = folder.0.join("stereo44k.wav");
    write_wav(&stereo, 44_100, 2, &tone(44_100, 2, 0.3, 440.0));
    let expected: Vec<Vec<u8>> = [&mono, &stereo]
        .iter()
        .map(|path| le_bytes(&mmdagent_remote::WavAudio::open(path).unwrap().samples))
        .collect();
    let duration =
        Duration::from_secs_f64((expected[0].len() + expected[1].len()) as f64 / 32_000.0);

    let (controller, target) = controller_listener();
    let mut tool = Tool::start(&[
        "--connect",
        &target,
        "--send-audio",
        mono.to_str().unwrap(),
        "--send-audio",
        stereo.to_str().unwrap(),
        "--audio-model",
        "mei",
        "--no-stdin",
    ]);
    let (received, first_chunk, closed) = read_until_closed(accept(&controller));
    let (status, _) = tool.exit_within(WAIT);
    assert!(status.success(), "{status:?}: {:#?}", tool.stderr());

    let items = split_sent(&received);
    let mut items = items.iter().peekable();
    for (file, audio) in expected.iter().enumerate() {
        for line in ["__AV_START", "__AV_SETMODEL,mei", "SNDFILE"] {
            assert_eq!(
                items.next(),
                Some(&Sent::Line(line.to_owned())),
                "file {file}"
            );
        }
        let mut chunks = Vec::new();
        while let Some(Sent::Chunk(chunk)) = items.peek() {
            chunks.push(chunk.clone());
            items.next();
        }
        let (last, whole) = chunks.split_last().expect("chunks");
        assert!(
            whole.iter().all(|chunk| chunk.len() == 1_280),
            "file {file}"
        );
        assert!(!last.is_empty() && last.len() <= 1_280, "file {file}");
        assert_eq!(&chunks.concat(), audio, "the audio of file {file}");
        assert_eq!(
            items.next(),
            Some(&Sent::Line("SNDBRKS".to_owned())),
            "file {file}"
        );
    }
    assert_eq!(items.next(), None);
    // 0.3 s at 44.1 kHz is 4,800 samples at 16 kHz.
    assert_eq!(expected[1].len(), 2 * 4_800);

    let open_for = closed.duration_since(first_chunk);
    assert!(
        open_for >= duration.mul_f64(0.9),
        "closed {open_for:?} after the first chunk, for {duration:?} of audio"
    );
    assert!(open_for < duration + Duration::from_secs(5), "{open_for:?}");
}

#[test]
fn send_audio_waits_for_an_agent_that_connects_to_serve_websocket() {
    use tungstenite::Message as Frame;
    let folder = Scratch::new("send-audio-websocket");
    let speech = folder.0.join("speech.wav");
    let samples = varied_samples(4_000);
    write_wav(&speech, 16_000, 1, &samples);
    let (mut tool, port) = start_listening(|port| {
        vec![
            "--serve-websocket".to_owned(),
            format!("127.0.0.1:{port}/chat"),
            "--send-audio".to_owned(),
            speech.to_str().unwrap().to_owned(),
            "--no-stdin".to_owned(),
        ]
    });
    let mut agent = websocket_peer(port);
    let mut received = Vec::new();
    let closed = loop {
        match agent.read() {
            Ok(Frame::Text(text)) => received.extend_from_slice(text.as_bytes()),
            Ok(Frame::Binary(bytes)) => received.extend_from_slice(&bytes),
            Ok(Frame::Close(_)) => break true,
            Ok(_) => {}
            Err(_) => break false,
        }
    };
    assert!(closed, "no Close frame");
    let (status, _) = tool.exit_within(WAIT);
    assert!(status.success(), "{status:?}: {:#?}", tool.stderr());
    let items = split_sent(&received);
    assert_eq!(
        items[..3],
        [
            Sent::Line("__AV_START".to_owned()),
            Sent::Line("__AV_SETMODEL,0".to_owned()),
            Sent::Line("SNDFILE".to_owned()),
        ]
    );
    assert_eq!(items.last(), Some(&Sent::Line("SNDBRKS".to_owned())));
    let audio: Vec<u8> = items
        .iter()
        .filter_map(|item| match item {
            Sent::Chunk(chunk) => Some(chunk.clone()),
            Sent::Line(_) => None,
        })
        .flatten()
        .collect();
    assert_eq!(audio, le_bytes(&samples));
}

#[test]
fn what_send_audio_sends_save_audio_saves_sample_for_sample() {
    let folder = Scratch::new("round-trip");
    let recordings = folder.0.join("recordings");
    let speech = folder.0.join("speech.wav");
    let samples = varied_samples(12_345);
    write_wav(&speech, 16_000, 1, &samples);

    let (mut agent, port) = start_listening(|port| {
        vec![
            "--listen".to_owned(),
            format!("127.0.0.1:{port}"),
            "--save-audio".to_owned(),
            recordings.to_str().unwrap().to_owned(),
        ]
    });
    let mut controller = Tool::start(&[
        "--connect",
        &format!("127.0.0.1:{port}"),
        "--send-audio",
        speech.to_str().unwrap(),
        "--no-stdin",
    ]);
    agent.expect_line(CONNECTED);
    for line in ["__AV_START", "__AV_SETMODEL,0", "SNDFILE", "SNDBRKS"] {
        agent.expect_line(line);
    }
    let (status, _) = controller.exit_within(WAIT);
    assert!(status.success(), "{status:?}: {:#?}", controller.stderr());
    agent.expect_line(DISCONNECTED);
    agent.close_stdin();
    let (status, _) = agent.exit_within(WAIT);
    assert!(status.success(), "{status:?}: {:#?}", agent.stderr());

    let saved: Vec<PathBuf> = fs::read_dir(&recordings)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(saved.len(), 1, "{saved:?}");
    assert_wav(&saved[0], &le_bytes(&samples));
}

#[test]
fn a_signal_stops_the_audio_at_once_and_still_ends_the_segment() {
    let folder = Scratch::new("send-audio-signal");
    let long = folder.0.join("long.wav");
    write_wav(&long, 16_000, 1, &vec![0; 16_000 * 30]);
    let (controller, target) = controller_listener();
    let mut tool = Tool::start(&[
        "--connect",
        &target,
        "--send-audio",
        long.to_str().unwrap(),
        "--no-stdin",
    ]);
    let mut connection = accept(&controller);
    connection.set_read_timeout(Some(WAIT)).unwrap();
    let mut received = Vec::new();
    let mut buffer = [0; 16_384];
    while !received.windows(11).any(|w| w == b"SNDFILE\nSND") {
        let read = connection.read(&mut buffer).expect("the audio starts");
        assert!(read > 0, "closed before the audio");
        received.extend_from_slice(&buffer[..read]);
    }
    let signalled = Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &tool.child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let (status, _) = tool.exit_within(WAIT);
    let took = signalled.elapsed();
    assert!(status.success(), "{status:?}: {:#?}", tool.stderr());
    assert!(
        took < Duration::from_secs(2),
        "exited {took:?} after SIGTERM"
    );
    let mut rest = Vec::new();
    connection
        .read_to_end(&mut rest)
        .expect("the connection closes");
    received.extend_from_slice(&rest);
    let items = split_sent(&received);
    assert_eq!(items.last(), Some(&Sent::Line("SNDBRKS".to_owned())));
    let chunks = items
        .iter()
        .filter(|item| matches!(item, Sent::Chunk(_)))
        .count();
    assert!(
        chunks < 100,
        "{chunks} chunks of 40 ms: the audio was not cut short"
    );
}

#[test]
fn a_bad_wav_file_is_named_before_anything_connects() {
    let folder = Scratch::new("bad-wav");
    let good = folder.0.join("good.wav");
    write_wav(&good, 16_000, 1, &[0; 160]);
    let bad = folder.write("bad.wav", "this is not a WAV file");
    let missing = folder.0.join("missing.wav");
    let (controller, target) = controller_listener();
    for (file, problem) in [
        (bad.as_str(), "RIFF"),
        (missing.to_str().unwrap(), "cannot read"),
    ] {
        let mut tool = Tool::start(&[
            "--connect",
            &target,
            "--send-audio",
            good.to_str().unwrap(),
            "--send-audio",
            file,
        ]);
        let (status, output) = tool.exit_within(WAIT);
        assert_eq!(status.code(), Some(1), "{file}: {:#?}", tool.stderr());
        assert!(output.is_empty(), "{output:?}");
        let stderr = tool.stderr().join("\n");
        assert!(
            stderr.contains(&format!("--send-audio {file}: ")) && stderr.contains(problem),
            "{stderr}"
        );
    }
    controller.set_nonblocking(true).unwrap();
    assert!(
        matches!(controller.accept(), Err(error) if error.kind() == std::io::ErrorKind::WouldBlock),
        "the command connected"
    );

    let mut tool = Tool::start(&[
        "--connect",
        &target,
        "--send-audio",
        good.to_str().unwrap(),
        "--audio-model",
        "a,b",
    ]);
    let (status, _) = tool.exit_within(WAIT);
    assert_eq!(status.code(), Some(2), "{:#?}", tool.stderr());
    assert!(tool
        .stderr()
        .iter()
        .any(|line| line.contains("--audio-model a,b")));
}

// Point 4: errors.

#[test]
fn a_bad_setting_is_one_line_naming_file_line_and_key() {
    let dir = Scratch::new("bad-mdf");
    let file = dir.write(
        "bad.mdf",
        "# settings\nPlugin_Remote_EnableServer=true\nPlugin_Remote_ListenPort=fifty\n",
    );
    // Standard input stays open: the command must not wait for it.
    let mut tool = Tool::start(&[file.as_str()]);
    let (status, output) = tool.exit_within(WAIT);
    assert!(!status.success(), "{status:?}");
    assert!(output.is_empty(), "{output:?}");
    let stderr = tool.stderr();
    assert_eq!(stderr.len(), 1, "{stderr:#?}");
    assert!(
        stderr[0].contains(&format!("{file}:3: Plugin_Remote_ListenPort=fifty")),
        "{stderr:#?}"
    );

    let mut tool = Tool::start(&[
        file.as_str(),
        "--set",
        "Plugin_Remote_ListenPort=50001",
        "--set",
        "Plugin_Remote_RetryCount=many",
    ]);
    let (status, output) = tool.exit_within(WAIT);
    // A wrong command line: the message names the option as written, with no line number.
    assert_eq!(status.code(), Some(2), "{status:?}");
    assert!(output.is_empty(), "{output:?}");
    let stderr = tool.stderr();
    assert_eq!(stderr.len(), 1, "{stderr:#?}");
    assert!(
        stderr[0].contains("--set Plugin_Remote_RetryCount=many: not a number of retries"),
        "{stderr:#?}"
    );
}

#[test]
fn it_exits_non_zero_when_every_client_gave_up() {
    let refused = refused_address();
    for target in [
        ["--connect".to_owned(), refused.to_string()],
        ["--websocket".to_owned(), format!("ws://{refused}/chat")],
    ] {
        let args = [
            &target[..],
            &["--set".to_owned(), "Plugin_Remote_RetryCount=0".to_owned()],
        ]
        .concat();
        let mut tool = Tool::start(&args);
        // Standard input stays open: giving up alone must end the command.
        let (status, output) = tool.exit_within(WAIT);
        assert_eq!(status.code(), Some(1), "{args:?}: {:#?}", tool.stderr());
        assert!(output.is_empty(), "{args:?}: {output:?}");
        let stderr = tool.stderr();
        assert!(
            stderr
                .iter()
                .any(|line| line.contains("every connection gave up")
                    && line.contains(&refused.port().to_string())),
            "{args:?}: {stderr:#?}"
        );
    }
}

// Point 5: end of input, --no-stdin, --help, --version.

#[test]
fn end_of_input_sends_what_is_queued_closes_and_exits_zero_within_a_second() {
    let (controller, target) = controller_listener();
    let mut tool = Tool::start(&["--connect", &target]);
    let mut connection = accept(&controller);
    tool.expect_line(CONNECTED);

    let lines: Vec<String> = (1..=100).map(|n| format!("LAST|{n}")).collect();
    for line in &lines {
        tool.send(line);
    }
    tool.close_stdin();
    let closed_at = Instant::now();
    let (status, rest) = tool.exit_within(WAIT);
    let took = closed_at.elapsed();
    assert!(status.success(), "{status:?}: {:#?}", tool.stderr());
    assert!(took < Duration::from_secs(1), "took {took:?} to exit");
    assert_eq!(
        rest,
        [DISCONNECTED],
        "the connection it closed is reported as the others are"
    );

    // Every line arrived, then a clean close (end of stream, not a reset).
    connection.set_read_timeout(Some(WAIT)).unwrap();
    let mut received = String::new();
    connection
        .read_to_string(&mut received)
        .expect("a clean close");
    let expected: String = lines.iter().map(|line| format!("{line}\n")).collect();
    assert_eq!(received, expected);
}

#[test]
fn no_stdin_keeps_running_without_standard_input() {
    // Control: with standard input at its end from the start, the command exits at once. (The
    // kernel completes its connection, if it makes one, without an accept.)
    let (_idle, idle_target) = controller_listener();
    let mut tool = Tool::start_with_stdin(&["--connect", &idle_target], Stdio::null());
    let (status, _) = tool.exit_within(WAIT);
    assert!(status.success(), "{:#?}", tool.stderr());

    let (controller, target) = controller_listener();
    let mut tool = Tool::start_with_stdin(&["--no-stdin", "--connect", &target], Stdio::null());
    let mut connection = accept(&controller);
    tool.expect_line(CONNECTED);
    connection.write_all(b"STILL|here\n").unwrap();
    tool.expect_line("STILL|here");
    assert!(tool.is_running());
}

#[test]
fn help_lists_every_option_and_every_key_with_its_default() {
    let mut tool = Tool::start(&["--help"]);
    let (status, output) = tool.exit_within(WAIT);
    assert!(status.success());
    let help = output.join("\n");
    for option in [
        "--listen",
        "--connect",
        "--websocket",
        "--serve-websocket",
        "--set",
        "--save-audio",
        "--send-audio",
        "--audio-model",
        "--stand-in",
        "--no-stdin",
        "--help",
        "--version",
    ] {
        assert!(help.contains(option), "{option} missing from:\n{help}");
    }
    for key in known_keys() {
        let at = output
            .iter()
            .position(|line| line.trim_start().starts_with(key.name))
            .unwrap_or_else(|| panic!("{} missing from:\n{help}", key.name));
        assert!(
            output[at..=at + 1]
                .join(" ")
                .contains(&format!("(default: {})", key.default)),
            "{}'s default missing from:\n{help}",
            key.name
        );
    }
}

#[test]
fn version_prints_the_version() {
    let mut tool = Tool::start(&["--version"]);
    let (status, output) = tool.exit_within(WAIT);
    assert!(status.success());
    assert_eq!(
        output,
        [format!("mmdagent-remote {}", env!("CARGO_PKG_VERSION"))]
    );
}

#[test]
fn a_bad_option_exits_2() {
    for (args, named) in [
        (&["--frobnicate"][..], "--frobnicate"),
        (&["--listen", "0"][..], "--listen 0"),
    ] {
        let mut tool = Tool::start(args);
        let (status, output) = tool.exit_within(WAIT);
        assert_eq!(status.code(), Some(2), "{args:?}");
        assert!(output.is_empty(), "{output:?}");
        let stderr = tool.stderr();
        assert!(
            stderr.iter().any(|line| line.contains(named)),
            "{stderr:#?}"
        );
    }
}

// Point 6: --stand-in.

#[test]
fn stand_in_forwards_to_every_peer_the_sender_included() {
    let (mut tool, port) = start_listening(|port| {
        vec![
            "--listen".to_owned(),
            format!("127.0.0.1:{port}"),
            "--stand-in".to_owned(),
        ]
    });
    let (mut first, mut first_reads) = connect(port);
    tool.expect_line(CONNECTED);
    assert_eq!(first_reads.line(), CONNECTED);
    let (second, mut second_reads) = connect(port);
    tool.expect_line(CONNECTED);
    assert_eq!(first_reads.line(), CONNECTED);
    assert_eq!(second_reads.line(), CONNECTED);

    first.write_all(b"MESSAGE|aaa|bbb\n").unwrap();
    tool.expect_line("MESSAGE|aaa|bbb");
    assert_eq!(first_reads.line(), "MESSAGE|aaa|bbb");
    assert_eq!(second_reads.line(), "MESSAGE|aaa|bbb");

    drop(second);
    drop(second_reads);
    tool.expect_line(DISCONNECTED);
    assert_eq!(first_reads.line(), DISCONNECTED);
}

#[test]
fn stand_in_speaks_to_every_peer_for_a_time_that_grows_with_the_text() {
    let (mut tool, port) = start_listening(|port| {
        vec![
            "--listen".to_owned(),
            format!("127.0.0.1:{port}"),
            "--stand-in".to_owned(),
        ]
    });
    let (mut speaker, mut speaker_reads) = connect(port);
    tool.expect_line(CONNECTED);
    assert_eq!(speaker_reads.line(), CONNECTED);
    let (_listener, mut listener_reads) = connect(port);
    tool.expect_line(CONNECTED);
    assert_eq!(speaker_reads.line(), CONNECTED);
    assert_eq!(listener_reads.line(), CONNECTED);

    // Ten characters: 100 ms + 10 × 20 ms.
    let sent = Instant::now();
    speaker
        .write_all("SYNTH_START|mei|mei_voice_normal|あいうえおかきくけこ\n".as_bytes())
        .unwrap();
    for reads in [&mut speaker_reads, &mut listener_reads] {
        assert_eq!(
            reads.line(),
            "SYNTH_START|mei|mei_voice_normal|あいうえおかきくけこ"
        );
        assert_eq!(reads.line(), "SYNTH_EVENT_START|mei");
        assert_eq!(reads.line(), "SYNTH_EVENT_STOP|mei");
    }
    let spoken = sent.elapsed();
    assert!(
        spoken >= Duration::from_millis(300),
        "SYNTH_EVENT_STOP after {spoken:?}"
    );

    // SYNTH_STOP ends a long speech (3 s) at once.
    let sent = Instant::now();
    speaker
        .write_all(format!("SYNTH_START|0|v|{}\nSYNTH_STOP|0\n", "a".repeat(500)).as_bytes())
        .unwrap();
    assert!(speaker_reads.line().starts_with("SYNTH_START|0|v|aaa"));
    assert_eq!(speaker_reads.line(), "SYNTH_EVENT_START|0");
    assert_eq!(speaker_reads.line(), "SYNTH_STOP|0");
    assert_eq!(speaker_reads.line(), "SYNTH_EVENT_STOP|0");
    assert!(
        sent.elapsed() < Duration::from_secs(3),
        "stopped only after {:?}",
        sent.elapsed()
    );
}

// Issue 9: a session. Nothing piped is lost, every setting holds, signals end it cleanly.

/// A free loopback port, let go at once, for a server the test starts after the command. It is
/// taken below the kernel's range for outgoing connections, so no connection made meanwhile (by
/// the other tests, or the command's own attempts) can take it as its local port.
fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static TRIES: AtomicU32 = AtomicU32::new(0);
    let ephemeral_low = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32768)
        .clamp(2048, 65535);
    for _ in 0..1000 {
        let seed =
            std::process::id().wrapping_mul(7919) + TRIES.fetch_add(1, Ordering::Relaxed) * 104_729;
        let port = u16::try_from(1024 + seed % (ephemeral_low - 1024)).expect("a port");
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port below {ephemeral_low}");
}

/// Runs the command as a client with `args`, pipes one line into it and ends its input.
fn pipe_one_line(args: &[String], line: &str) -> Tool {
    let mut tool = Tool::start(args);
    tool.send(line);
    tool.close_stdin();
    tool
}

#[test]
fn a_line_piped_into_connect_arrives_in_every_run_with_the_server_up_before_or_after() {
    for run in 0..20 {
        let line = format!("MSG|{run}");
        let server_first = run % 2 == 0;
        let (listener, port) = if server_first {
            let (listener, _) = controller_listener();
            let port = listener.local_addr().unwrap().port();
            (Some(listener), port)
        } else {
            (None, free_port())
        };
        let args = vec![
            "--connect".to_owned(),
            format!("127.0.0.1:{port}"),
            "--set".to_owned(),
            "Plugin_Remote_RetryForever=true".to_owned(),
            "--set".to_owned(),
            "Plugin_Remote_RetryInterval=20ms".to_owned(),
        ];
        let mut tool = pipe_one_line(&args, &line);
        // The scenario itself: the server comes up only after the command has started.
        let listener = listener.unwrap_or_else(|| {
            TcpListener::bind(("127.0.0.1", port)).expect("the port is still free")
        });
        let connection = accept(&listener);
        assert_eq!(LineReader::new(&connection).line(), line, "run {run}");
        let (status, _) = tool.exit_within(WAIT);
        assert!(status.success(), "run {run}: {:#?}", tool.stderr());
    }
}

#[test]
fn a_line_piped_into_websocket_arrives_in_every_run_with_the_server_up_before_or_after() {
    let websocket_server = |port: u16| {
        let mut config = Config::default();
        config.websocket_server = Some(WebSocketServerConfig::new(port));
        Remote::start(&config).expect("a WebSocket server")
    };
    let running = websocket_server(0);
    let running_port = running.websocket_addr().unwrap().port();
    for run in 0..20 {
        let line = format!("MSG|{run}");
        let server_first = run % 2 == 0;
        let port = if server_first {
            running_port
        } else {
            free_port()
        };
        let args = vec![
            "--websocket".to_owned(),
            format!("ws://127.0.0.1:{port}/chat"),
            "--set".to_owned(),
            "Plugin_Remote_RetryForever=true".to_owned(),
            "--set".to_owned(),
            "Plugin_Remote_RetryInterval=20ms".to_owned(),
        ];
        let mut tool = pipe_one_line(&args, &line);
        let late;
        let server = if server_first {
            &running
        } else {
            late = websocket_server(port);
            &late
        };
        assert_eq!(next_message(server), line, "run {run}");
        let (status, _) = tool.exit_within(WAIT);
        assert!(status.success(), "run {run}: {:#?}", tool.stderr());
    }
}

#[test]
fn a_line_piped_against_nothing_listening_exits_1_every_time_saying_so() {
    let refused = refused_address();
    // `echo X | mmdagent-remote ...`: the line is there from the start, then the end of input.
    let dir = Scratch::new("piped");
    let piped = dir.write("piped.txt", "X\n");
    for run in 0..20 {
        let target = if run % 2 == 0 {
            ["--connect".to_owned(), refused.to_string()]
        } else {
            ["--websocket".to_owned(), format!("ws://{refused}/chat")]
        };
        let stdin = fs::File::open(&piped).expect("the piped file");
        let mut tool = Tool::start_with_stdin(&target, Stdio::from(stdin));
        let (status, output) = tool.exit_within(WAIT);
        assert_eq!(status.code(), Some(1), "run {run}: {:#?}", tool.stderr());
        assert!(output.is_empty(), "{output:?}");
        let said = tool.stderr().last().cloned().unwrap_or_default();
        // The line was piped, so it counts whether or not the command had read it yet.
        assert!(
            said.contains("every connection gave up") && said.contains("1 line was not delivered"),
            "run {run}: {said}"
        );
        // The address is named once, not twice.
        assert_eq!(said.matches(&refused.to_string()).count(), 1, "{said}");
    }
}

#[test]
fn a_server_says_how_many_lines_reached_no_peer_and_wait_peer_holds_them() {
    let (mut tool, _) =
        start_listening(|port| vec!["--listen".to_owned(), format!("127.0.0.1:{port}")]);
    tool.send("LOST|1");
    tool.send("LOST|2");
    tool.close_stdin();
    let (status, _) = tool.exit_within(WAIT);
    assert!(status.success(), "{:#?}", tool.stderr());
    tool.wait_stderr(&["2 lines reached no peer"]);

    let (mut tool, port) = start_listening(|port| {
        vec![
            "-l".to_owned(),
            format!("127.0.0.1:{port}"),
            "--wait-peer".to_owned(),
        ]
    });
    tool.send("KEPT|1");
    let (_peer, mut reads) = connect(port);
    tool.expect_line(CONNECTED);
    assert_eq!(reads.line(), "KEPT|1");
}

#[test]
fn the_default_server_honours_the_server_keys() {
    // Only the address: the command must try exactly 127.0.0.1:60001. Holding that port (or
    // finding it held) makes it fail there, which shows the address without opening anything.
    let _held = TcpListener::bind("127.0.0.1:60001").ok();
    let mut tool = Tool::start(&["--set", "Plugin_Remote_BindAddress=127.0.0.1"]);
    let (status, _) = tool.exit_within(WAIT);
    assert_eq!(status.code(), Some(1), "{:#?}", tool.stderr());
    tool.wait_stderr(&["cannot listen on 127.0.0.1:60001"]);

    let (mut tool, port) = start_listening(|port| {
        vec![
            "--set".to_owned(),
            "Plugin_Remote_BindAddress=127.0.0.1".to_owned(),
            "--set".to_owned(),
            format!("Plugin_Remote_ListenPort={port}"),
            "--max-peers".to_owned(),
            "1".to_owned(),
        ]
    });
    tool.wait_stderr(&[&format!("listening on 127.0.0.1:{port}")]);
    let (_first, _) = connect(port);
    tool.expect_line(CONNECTED);
    let (second, mut second_reads) = connect(port);
    assert!(
        second_reads.until_closed().is_empty(),
        "over the limit of 1"
    );
    drop(second);
    tool.wait_stderr(&["limit of 1"]);
}

/// A bare WebSocket client of the command's server, reading with a timeout.
fn websocket_peer(port: u16) -> tungstenite::WebSocket<TcpStream> {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the command");
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let (websocket, _) = tungstenite::client(format!("ws://127.0.0.1:{port}/chat"), stream)
        .expect("the WebSocket upgrade");
    websocket
}

#[test]
fn sigterm_and_sigint_write_what_is_queued_close_and_exit_zero() {
    use tungstenite::Message as Frame;
    for signal in ["TERM", "INT"] {
        let (mut tool, port) = start_listening(|port| {
            vec![
                "--serve-websocket".to_owned(),
                format!("127.0.0.1:{port}/chat"),
                "--stand-in".to_owned(),
            ]
        });
        // The listener reads nothing until the command has been signalled.
        let mut listener = websocket_peer(port);
        tool.expect_line(CONNECTED);
        let mut speaker = websocket_peer(port);
        tool.expect_line(CONNECTED);
        let lines: Vec<String> = (1..=50).map(|n| format!("PING|{n}")).collect();
        for line in &lines {
            speaker.send(Frame::text(format!("{line}\n"))).unwrap();
        }
        // Each line written by the command has been forwarded (queued) to both peers first.
        for line in &lines {
            tool.expect_line(line);
        }
        let killed = Command::new("kill")
            .args([&format!("-{signal}"), &tool.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(killed.success());
        let (status, rest) = tool.exit_within(WAIT);
        assert!(
            status.success(),
            "SIG{signal}: {status:?}: {:#?}",
            tool.stderr()
        );
        assert_eq!(rest, [DISCONNECTED, DISCONNECTED], "SIG{signal}");

        let mut received = Vec::new();
        let closed = loop {
            match listener.read() {
                Ok(Frame::Text(text)) => received.push(text.trim_end().to_owned()),
                Ok(Frame::Close(_)) => break true,
                Ok(_) => {}
                Err(_) => break false,
            }
        };
        assert_eq!(received, lines, "SIG{signal}");
        assert!(closed, "SIG{signal}: no Close frame");
    }
}

#[cfg(feature = "tls")]
#[test]
fn serve_websocket_serves_wss_with_tls_cert_and_tls_key() {
    let data = |name: &str| format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let (mut tool, port) = start_listening(|port| {
        vec![
            "--serve-websocket".to_owned(),
            format!("127.0.0.1:{port}/chat"),
            "--tls-cert".to_owned(),
            data("server.pem"),
            "--tls-key".to_owned(),
            data("server.key"),
        ]
    });
    tool.wait_stderr(&["listening on wss://"]);
    let mut client = WebSocketClientConfig::new("127.0.0.1", port, "/chat");
    client.tls = true;
    client.ca_file = Some(data("ca.pem").into());
    let mut config = Config::default();
    config.websocket_client = Some(client);
    let agent = Remote::start(&config).expect("a wss client");
    wait_for(&agent, "connected over wss", |event| match event {
        Event::Connected { .. } => Some(()),
        Event::GaveUp { reason, .. } => panic!("could not connect: {reason}"),
        _ => None,
    });
    tool.expect_line(CONNECTED);
    agent.send_message("SECURE", "hello").unwrap();
    tool.expect_line("SECURE|hello");
    tool.send("SECURE|back");
    assert_eq!(next_message(&agent), "SECURE|back");
}

#[test]
fn an_agent_over_the_websocket_limit_is_told_503() {
    let (mut tool, port) = start_listening(|port| {
        vec![
            "--serve-websocket".to_owned(),
            format!("127.0.0.1:{port}/chat"),
            "--max-peers=1".to_owned(),
        ]
    });
    let _first = websocket_peer(port);
    tool.expect_line(CONNECTED);
    let mut second = TcpStream::connect(("127.0.0.1", port)).unwrap();
    second.set_read_timeout(Some(WAIT)).unwrap();
    second
        .write_all(
            b"GET /chat HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        )
        .unwrap();
    let mut answer = String::new();
    let _ = second.read_to_string(&mut answer);
    assert!(
        answer.starts_with("HTTP/1.1 503 Service Unavailable"),
        "{answer}"
    );
    assert!(answer.contains("limit of 1"), "{answer}");
}

#[test]
fn options_are_parsed_as_people_write_them() {
    // Exit 2 with a message naming what was written.
    for (args, said) in [
        (&["--listn", "5000"][..], "did you mean --listen?"),
        (
            &["-l5000", "-l=5001"],
            "-l 5001: --listen takes one value and was given already (-l 5000)",
        ),
        (
            &["--set", "Plugin_Remote_ListenPrt=5"],
            "--set Plugin_Remote_ListenPrt=5: unknown key; did you mean Plugin_Remote_ListenPort?",
        ),
        (
            &["--set", "Plugin_Julius_Conf=x"],
            "not a Plugin_Remote_ key",
        ),
        (
            &["--websocket", "ftp://x"],
            "--websocket ftp://x: not a WebSocket URL",
        ),
        (&["--tls-cert", "c.pem"], "--tls-cert"),
    ] {
        let mut tool = Tool::start(args);
        let (status, output) = tool.exit_within(WAIT);
        assert_eq!(status.code(), Some(2), "{args:?}: {:#?}", tool.stderr());
        assert!(output.is_empty(), "{output:?}");
        let stderr = tool.stderr().join("\n");
        assert!(stderr.contains(said), "{args:?}: {stderr}");
        assert!(
            !stderr.contains(":1:"),
            "{args:?} named as a file line: {stderr}"
        );
    }
    // Flags combine: -hV is help.
    let mut tool = Tool::start(&["-hV"]);
    let (status, output) = tool.exit_within(WAIT);
    assert!(status.success());
    assert!(output.join("\n").contains("--wait-peer"));
    // A value attached to a short option.
    let (mut tool, port) =
        start_listening(|port| vec![format!("-l127.0.0.1:{port}"), "-q".to_owned()]);
    let (_peer, _) = connect(port);
    tool.expect_line(CONNECTED);
}

#[test]
fn the_stand_in_answers_av_start_and_av_end_as_the_agent_does() {
    let (mut tool, port) = start_listening(|port| {
        vec![
            "--listen".to_owned(),
            format!("127.0.0.1:{port}"),
            "--stand-in".to_owned(),
        ]
    });
    let (mut peer, mut reads) = connect(port);
    tool.expect_line(CONNECTED);
    assert_eq!(reads.line(), CONNECTED);
    peer.write_all(b"__AV_START\n__AV_SETMODEL,0\n__AV_END\n")
        .unwrap();
    assert_eq!(reads.line(), "AVATAR|START");
    assert_eq!(reads.line(), "AVATAR|END");
}
