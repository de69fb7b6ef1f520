//! The example programs run as the TCP/IP user guide's scripts are run: as separate processes, against
//! each other and against the library in this process, over loopback.
//!
//! Every wait is bounded: a child's output is read on threads that forward its lines to a channel,
//! and the test waits on that channel with a deadline. A child that is still running when its test
//! ends, passes or fails, is killed. The servers are started on port 0 and report the port they got
//! in their `[*] listening on ADDRESS` line, so no test guesses a free port.
//!
//! Cargo does not build examples for integration tests, so the first test to need one runs
//! `cargo build --examples` (cheap when they are up to date, and it keeps a stale binary from being
//! tested) into the target directory this test binary lives in.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use mmdagent_remote::{
    Config, Event, Item, Message, PeerId, Remote, TcpClientConfig, TcpServerConfig,
};

/// How long any single wait may take before the test fails.
const WAIT: Duration = Duration::from_secs(10);
/// How long building the examples may take (a cold debug build of the crate and its dependencies).
const BUILD_WAIT: Duration = Duration::from_secs(600);

/// The user guide's message, as the examples send it by default.
const GUIDE_LINE: &str = "MESSAGE|aaa|bbb";

#[test]
fn server_receive_prints_what_controller_send_sends() {
    let mut server = Example::start("tcp_server_receive", &["127.0.0.1", "0"]);
    let address = server.listening_address();

    let mut sender = Example::start("tcp_controller_send", &["127.0.0.1", &port(address)]);
    sender.expect_success();

    server.expect_stderr_starting("[*] connected: ");
    server.expect_stdout(GUIDE_LINE);
    server.expect_stderr_starting("[*] disconnected: ");
}

#[test]
fn controller_receive_prints_what_server_send_sends() {
    let mut server = Example::start("tcp_server_send", &["127.0.0.1", "0", "--once"]);
    let address = server.listening_address();

    let mut receiver = Example::start("tcp_controller_receive", &["127.0.0.1", &port(address)]);
    receiver.expect_stdout(GUIDE_LINE);
    receiver.expect_success();
    server.expect_success();
}

#[test]
fn library_server_receives_what_controller_send_sends() {
    let remote = Remote::start(&loopback_server()).expect("start the library's server");
    let address = remote.local_addr().expect("the server's address");

    let mut sender = Example::start("tcp_controller_send", &["127.0.0.1", &port(address)]);
    sender.expect_success();
    assert_eq!(next_message(&remote), GUIDE_LINE);

    let mut sender = Example::start(
        "tcp_controller_send",
        &["127.0.0.1", &port(address), "__AV_MESSAGE,MOTION_ADD|mei|x"],
    );
    sender.expect_success();
    assert_eq!(next_message(&remote), "MOTION_ADD|mei|x");
    remote.shutdown().expect("shut down");
}

#[test]
fn controller_receive_prints_what_the_library_server_sends() {
    let remote = Remote::start(&loopback_server()).expect("start the library's server");
    let address = remote.local_addr().expect("the server's address");

    let mut receiver = Example::start("tcp_controller_receive", &["127.0.0.1", &port(address)]);
    let peer = next_connected(&remote);
    remote
        .send_to(peer, &Item::Message(Message::new("MESSAGE", "aaa|bbb")))
        .expect("send to the receiver");
    remote
        .send_to(peer, &Item::Message(Message::new("TIMER_EVENT", "")))
        .expect("send to the receiver");
    // Shutting down writes what is queued, then closes: the receiver prints both and exits.
    remote.shutdown().expect("shut down");

    receiver.expect_stdout(GUIDE_LINE);
    receiver.expect_stdout("TIMER_EVENT");
    receiver.expect_stderr_starting("[*] disconnected: ");
    receiver.expect_success();
}

#[test]
fn server_receive_prints_what_the_library_client_sends() {
    let mut server = Example::start("tcp_server_receive", &["127.0.0.1", "0"]);
    let address = server.listening_address();

    let remote = Remote::start(&client_of(address)).expect("start the library's client");
    next_connected(&remote);
    let sent = remote
        .send_message("MESSAGE", "aaa|bbb")
        .expect("send to the server");
    assert_eq!(sent, 1, "queued for the one server");

    server.expect_stderr_starting("[*] connected: ");
    server.expect_stdout(GUIDE_LINE);
    remote.shutdown().expect("shut down");
    server.expect_stderr_starting("[*] disconnected: ");
}

#[test]
fn library_client_receives_what_server_send_sends() {
    let mut server = Example::start("tcp_server_send", &["127.0.0.1", "0", "--once"]);
    let address = server.listening_address();

    let remote = Remote::start(&client_of(address)).expect("start the library's client");
    assert_eq!(next_message(&remote), GUIDE_LINE);
    server.expect_success();
    remote.shutdown().expect("shut down");
}

#[test]
fn agent_host_sends_typed_lines_and_prints_received_ones() {
    let remote = Remote::start(&loopback_server()).expect("start the library's server");
    let address = remote.local_addr().expect("the server's address");
    let mdf = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("examples_agent_host_{}.mdf", std::process::id()));
    std::fs::write(
        &mdf,
        format!(
            "Plugin_Remote_EnableClient=true\nPlugin_Remote_Hostname=127.0.0.1\nPlugin_Remote_Port={}\n",
            address.port()
        ),
    )
    .expect("write the .mdf file");

    let mut agent = Example::start("agent_host", &[mdf.to_str().expect("a UTF-8 path")]);
    next_connected(&remote);
    // The agent sends only once its side of the connection is registered, which it reports.
    agent.expect_stderr_starting("[*] connected: ");
    agent.type_line("HELLO|typed on stdin");
    assert_eq!(next_message(&remote), "HELLO|typed on stdin");

    remote
        .send_message("REPLY", "from the test")
        .expect("send to the agent");
    agent.expect_stdout("REPLY|from the test");

    agent.close_stdin();
    agent.expect_stderr_starting("[*] end of input");
    agent.expect_success();
    remote.shutdown().expect("shut down");
    let _ = std::fs::remove_file(mdf);
}

#[test]
fn controller_send_fails_clearly_without_an_agent() {
    // A port nobody listens on: bound and released at once. Another process could take it in
    // between; the chance is tiny, and the test would then fail, not hang.
    let unused = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        listener.local_addr().expect("its address")
    };
    let mut sender = Example::start("tcp_controller_send", &["127.0.0.1", &port(unused)]);
    let line = sender.expect_stderr_starting("error: ");
    assert!(line.contains("cannot connect"), "{line}");
    assert!(!sender.wait_for_exit().success());

    let mut sender = Example::start("tcp_controller_send", &["127.0.0.1", "not-a-port"]);
    sender.expect_stderr_starting("error: not a port number");
    assert!(!sender.wait_for_exit().success());
}

#[test]
fn speak_lines_speaks_each_sentence_once_the_one_before_is_spoken() {
    let agent = Remote::start(&loopback_server()).expect("start the library's server");
    let address = agent.local_addr().expect("the server's address");

    let target = format!("127.0.0.1:{}", address.port());
    let mut speaker = Example::start("speak_lines", &[&target, "--model", "mei"]);
    next_connected(&agent);
    speaker.expect_stderr_starting("[*] connected: ");
    speaker.type_line("こんにちは。元気ですか？");
    assert_eq!(
        next_message(&agent),
        "SYNTH_START|mei|mei_voice_normal|こんにちは。"
    );
    if let Ok(event) = agent.recv_timeout(Duration::from_millis(300)) {
        panic!("the first sentence is not spoken yet, but the example sent {event:?}");
    }
    agent
        .send_message("SYNTH_EVENT_STOP", "mei")
        .expect("send to the example");
    assert_eq!(
        next_message(&agent),
        "SYNTH_START|mei|mei_voice_normal|元気ですか？"
    );
    // Its input ends while the last sentence is being spoken: it waits for that sentence.
    speaker.close_stdin();
    agent
        .send_message("SYNTH_EVENT_STOP", "mei")
        .expect("send to the example");
    speaker.expect_stderr_starting("[*] spoken: 2 of 2 sentences (0 timed out)");
    speaker.expect_stderr_starting("[*] end of input");
    speaker.expect_success();
    agent.shutdown().expect("shut down");
}

// ---- The library's side ----

fn loopback_server() -> Config {
    let mut server = TcpServerConfig::new(0);
    server.bind_address = "127.0.0.1".parse().expect("an address");
    let mut config = Config::default();
    config.tcp_server = Some(server);
    config
}

fn client_of(address: SocketAddr) -> Config {
    let mut config = Config::default();
    config.tcp_client = Some(TcpClientConfig::new(
        address.ip().to_string(),
        address.port(),
    ));
    config
}

fn port(address: SocketAddr) -> String {
    address.port().to_string()
}

/// Receives events until one matches, failing the test after [`WAIT`] or when a client gives up.
fn wait_for_event<T>(
    remote: &Remote,
    what: &str,
    mut matches: impl FnMut(Event) -> Option<T>,
) -> T {
    let deadline = Instant::now() + WAIT;
    let mut passed = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match remote.recv_timeout(left) {
            Ok(event) => {
                let seen = format!("{event:?}");
                let gave_up = matches!(event, Event::GaveUp { .. });
                if let Some(found) = matches(event) {
                    return found;
                }
                passed.push(seen);
                if gave_up {
                    panic!("no {what}: the client gave up; events seen: {passed:#?}");
                }
            }
            Err(_) => panic!("no {what} within {WAIT:?}; events seen: {passed:#?}"),
        }
    }
}

fn next_connected(remote: &Remote) -> PeerId {
    wait_for_event(remote, "connection", |event| match event {
        Event::Connected { peer, .. } => Some(peer),
        _ => None,
    })
}

fn next_message(remote: &Remote) -> String {
    wait_for_event(remote, "message", |event| match event {
        Event::Item {
            item: Item::Message(message),
            ..
        } => Some(message.to_string()),
        _ => None,
    })
}

// ---- The examples as child processes ----

/// Which of a child's output streams a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Stdout,
    Stderr,
}

/// What the reader threads forward: a line, or the end of one of the two streams.
enum Output {
    Line(Stream, String),
    Closed,
}

/// A running example whose output is read on threads and waited for with deadlines. Dropping it
/// kills the process if it still runs.
struct Example {
    name: String,
    process: Child,
    stdin: Option<ChildStdin>,
    output: Receiver<Output>,
    /// Everything it wrote so far, for failure messages.
    transcript: String,
    /// Lines read while waiting for another, still to be matched: stdout and stderr are read on
    /// separate threads, so their lines may arrive in either order.
    unmatched: Vec<(Stream, String)>,
    open_streams: usize,
}

impl Example {
    fn start(name: &str, args: &[&str]) -> Example {
        let path = example_path(name);
        Example::spawn(name, Command::new(&path).args(args))
    }

    fn spawn(name: &str, command: &mut Command) -> Example {
        let mut process = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {name} ({command:?}): {error}"));
        let (lines, output) = crossbeam_channel::unbounded();
        let stdout = process.stdout.take().expect("piped stdout");
        let stderr = process.stderr.take().expect("piped stderr");
        for (stream, pipe) in [
            (Stream::Stdout, Box::new(stdout) as Box<dyn Read + Send>),
            (Stream::Stderr, Box::new(stderr)),
        ] {
            let lines = lines.clone();
            thread::spawn(move || {
                let mut reader = BufReader::new(pipe);
                let mut line = Vec::new();
                while matches!(reader.read_until(b'\n', &mut line), Ok(read) if read > 0) {
                    let text = String::from_utf8_lossy(&line).trim_end().to_owned();
                    if lines.send(Output::Line(stream, text)).is_err() {
                        return;
                    }
                    line.clear();
                }
                let _ = lines.send(Output::Closed);
            });
        }
        Example {
            name: name.to_owned(),
            stdin: process.stdin.take(),
            process,
            output,
            transcript: String::new(),
            unmatched: Vec::new(),
            open_streams: 2,
        }
    }

    /// The next line it writes, or `None` once it has closed its output; fails the test at
    /// `deadline`.
    fn next_line(&mut self, deadline: Instant, what: &str) -> Option<(Stream, String)> {
        while self.open_streams > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.output.recv_timeout(left) {
                Ok(Output::Line(stream, line)) => {
                    let _ = writeln!(self.transcript, "{stream:?}: {line}");
                    return Some((stream, line));
                }
                Ok(Output::Closed) => self.open_streams -= 1,
                Err(RecvTimeoutError::Timeout) => self.fail(&format!("no {what} in time")),
                Err(RecvTimeoutError::Disconnected) => self.open_streams = 0,
            }
        }
        None
    }

    /// Waits until it writes a line that `matches` (or takes one it wrote earlier that no
    /// expectation took yet), failing the test after [`WAIT`].
    fn expect_line(&mut self, what: &str, matches: impl Fn(Stream, &str) -> bool) -> String {
        if let Some(index) = self
            .unmatched
            .iter()
            .position(|(stream, line)| matches(*stream, line))
        {
            return self.unmatched.remove(index).1;
        }
        let deadline = Instant::now() + WAIT;
        loop {
            match self.next_line(deadline, what) {
                Some((stream, line)) if matches(stream, &line) => return line,
                Some(other) => self.unmatched.push(other),
                None => self.fail(&format!("it closed its output before {what}")),
            }
        }
    }

    fn expect_stdout(&mut self, expected: &str) {
        self.expect_line(&format!("{expected:?} on stdout"), |stream, line| {
            stream == Stream::Stdout && line == expected
        });
    }

    fn expect_stderr_starting(&mut self, start: &str) -> String {
        self.expect_line(&format!("{start:?} on stderr"), |stream, line| {
            stream == Stream::Stderr && line.starts_with(start)
        })
    }

    /// The address from its `[*] listening on ADDRESS` line.
    fn listening_address(&mut self) -> SocketAddr {
        let line = self.expect_stderr_starting("[*] listening on ");
        let address = line.trim_start_matches("[*] listening on ");
        address
            .parse()
            .unwrap_or_else(|_| self.fail(&format!("not an address: {address:?}")))
    }

    fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        if let Err(error) = writeln!(stdin, "{line}").and_then(|()| stdin.flush()) {
            self.fail(&format!("cannot write to its stdin: {error}"));
        }
    }

    fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits until it closes its output (it exits), failing the test after `wait`.
    fn wait_for_exit_within(&mut self, wait: Duration) -> ExitStatus {
        let deadline = Instant::now() + wait;
        while let Some(line) = self.next_line(deadline, "exit") {
            self.unmatched.push(line);
        }
        self.process
            .wait()
            .unwrap_or_else(|error| self.fail(&format!("cannot wait for it: {error}")))
    }

    fn wait_for_exit(&mut self) -> ExitStatus {
        self.wait_for_exit_within(WAIT)
    }

    fn expect_success(&mut self) {
        let status = self.wait_for_exit();
        if !status.success() {
            self.fail(&format!("it failed: {status}"));
        }
    }

    fn fail(&self, problem: &str) -> ! {
        panic!("{}: {problem}; it wrote:\n{}", self.name, self.transcript)
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Where the example `name` was built, building every example the first time this is called.
fn example_path(name: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(build_examples)
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

/// Runs `cargo build --examples` for the profile and target directory of this test binary, which
/// lives in `<target-dir>/<profile>/deps/`; the examples go to `<target-dir>/<profile>/examples/`.
fn build_examples() -> PathBuf {
    let test_binary = std::env::current_exe().expect("the test binary's path");
    let profile_dir = test_binary
        .parent()
        .and_then(Path::parent)
        .expect("the test binary is in <target-dir>/<profile>/deps/");
    let target_dir = profile_dir.parent().expect("a target directory");
    let profile = match profile_dir.file_name().and_then(|name| name.to_str()) {
        Some("debug") => "dev",
        Some(profile) => profile,
        None => panic!("no profile directory in {}", test_binary.display()),
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .args([
            "build",
            "--examples",
            "--profile",
            profile,
            "--manifest-path",
        ])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir);
    let mut build = Example::spawn("cargo build --examples", &mut command);
    build.close_stdin();
    let status = build.wait_for_exit_within(BUILD_WAIT);
    if !status.success() {
        build.fail(&format!("it failed: {status}"));
    }
    profile_dir.join("examples")
}
