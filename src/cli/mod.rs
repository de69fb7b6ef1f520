//! The `mmdagent-remote` command: the library's transports on standard input and output.
//!
//! Everything a library user would also want (settings, transports, audio files) is the library's;
//! this module only turns the command line into a [`Config`], lines of input into messages, and
//! events into lines of output.

mod args;
mod stand_in;

use std::io::{self, BufRead, Write};
use std::process::ExitCode;
use std::thread;
use std::time::Instant;

use crossbeam_channel::{select, Receiver};
use mmdagent_remote::{
    AudioRecorder, Config, Event, Item, MdfSettings, Message, Remote, TcpServerConfig, Transport,
};

use args::{Command, Options};
use stand_in::SpeechStandIn;

/// Runs the command with the process's arguments; the exit status is described in `--help`.
pub fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let options = match args::parse(std::env::args_os().skip(1)) {
        Ok(Command::Run(options)) => options,
        Ok(Command::Help) => {
            print!("{}", args::help());
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            println!("mmdagent-remote {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("mmdagent-remote: {message}");
            return ExitCode::from(2);
        }
    };
    match run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            // Printed rather than logged, so it shows whatever RUST_LOG says.
            eprintln!("mmdagent-remote: {message}");
            ExitCode::FAILURE
        }
    }
}

fn configure(options: &Options) -> Result<Config, String> {
    let mut settings = MdfSettings::new();
    for file in &options.files {
        settings
            .load_file(file)
            .map_err(|error| error.to_string())?;
    }
    for (option, assignment) in &options.settings {
        let key = assignment.split('=').next().unwrap_or_default();
        if !key.to_ascii_lowercase().starts_with("plugin_remote_") {
            log::warn!("{option} {assignment}: {key} is not a Plugin_Remote_ key; ignored");
        }
        settings.set_from(option, assignment);
    }
    let mut config = settings.to_config().map_err(|error| error.to_string())?;
    config.websocket_server = options.serve_websocket.clone();
    if !config.has_transport() {
        config.tcp_server = Some(TcpServerConfig::default());
    }
    Ok(config)
}

fn run(options: Box<Options>) -> Result<(), String> {
    let config = configure(&options)?;
    let recorder = match &options.save_audio {
        Some(folder) => Some(
            AudioRecorder::new(folder)
                .map_err(|error| format!("cannot save audio in {}: {error}", folder.display()))?,
        ),
        None => None,
    };
    let remote = Remote::start(&config).map_err(|error| error.to_string())?;
    let clients =
        usize::from(config.tcp_client.is_some()) + usize::from(config.websocket_client.is_some());
    let servers =
        usize::from(config.tcp_server.is_some()) + usize::from(config.websocket_server.is_some());
    let typed = if options.ignore_stdin {
        crossbeam_channel::never()
    } else {
        lines_of_stdin(config.max_line_length)
    };
    let mut session = Session {
        recorder,
        stand_in: options.stand_in,
        speech: SpeechStandIn::default(),
        clients,
        servers,
        gave_up: Vec::new(),
    };

    let outcome = loop {
        // The stand-in's next SYNTH_EVENT_STOP is waited for here, beside the other channels.
        let speech_due = match session.speech.next_due() {
            Some(due) => crossbeam_channel::at(due),
            None => crossbeam_channel::never(),
        };
        select! {
            recv(remote.inbound()) -> delivery => {
                let Ok(delivery) = delivery else { break Ok(()) };
                let mut outcome = None;
                delivery.decode(|received| {
                    if outcome.is_none() {
                        outcome = session.handle(&remote, &received.into_event());
                    }
                });
                if let Some(outcome) = outcome {
                    break outcome;
                }
            },
            recv(typed) -> line => match line {
                Ok(line) => {
                    if let Err(error) = remote.send_line(&line) {
                        log::warn!("not sent: {error}");
                    }
                }
                Err(_) => break Ok(()),
            },
            recv(speech_due) -> _ => session.speech.send_due(&remote, Instant::now()),
        }
    };
    // How the connections ended arrives while shutting down; a clone of the receiver outlives it.
    let last_deliveries = remote.inbound().clone();
    let shut_down = remote.shutdown().map_err(|error| error.to_string());
    for delivery in last_deliveries.try_iter() {
        delivery.decode(|received| session.handle_after_shutdown(&received.into_event()));
    }
    let finished = session.finish_recording();
    outcome.and(shut_down).and(finished)
}

/// What the command keeps track of while it runs.
struct Session {
    recorder: Option<AudioRecorder>,
    stand_in: bool,
    /// The stand-in's answers to `SYNTH_START` still due.
    speech: SpeechStandIn,
    clients: usize,
    servers: usize,
    gave_up: Vec<String>,
}

impl Session {
    /// Records, forwards and writes one event; `Some` when the command is to end with that outcome.
    fn handle(&mut self, remote: &Remote, event: &Event) -> Option<Result<(), String>> {
        self.record(event);
        if self.stand_in {
            forward_as_the_agent_does(remote, event);
            if let Event::Item {
                item: Item::Message(message),
                ..
            } = event
            {
                self.speech.answer(remote, message, Instant::now());
            }
        }
        if let Event::GaveUp { target, reason, .. } = event {
            self.gave_up.push(format!("{target}: {reason}"));
            if self.servers == 0 && self.gave_up.len() == self.clients {
                return Some(Err(format!(
                    "every connection gave up: {}",
                    self.gave_up.join("; ")
                )));
            }
        }
        if !write_event(event) {
            return Some(Ok(()));
        }
        None
    }

    fn handle_after_shutdown(&mut self, event: &Event) {
        self.record(event);
        write_event(event);
    }

    fn record(&mut self, event: &Event) {
        let Some(recorder) = &mut self.recorder else {
            return;
        };
        match recorder.record(event) {
            Ok(Some(saved)) => log::info!(
                "saved {} samples to {}",
                saved.samples,
                saved.path.display()
            ),
            Ok(None) => {}
            Err(error) => log::error!("cannot save audio: {error}"),
        }
    }

    fn finish_recording(&mut self) -> Result<(), String> {
        let Some(recorder) = &mut self.recorder else {
            return Ok(());
        };
        for saved in recorder
            .finish()
            .map_err(|error| format!("cannot save audio: {error}"))?
        {
            log::info!(
                "saved {} samples to {}",
                saved.samples,
                saved.path.display()
            );
        }
        Ok(())
    }
}

/// Lines of standard input, read on a thread of their own; the channel ends with the input.
/// Empty lines are skipped: they are no message.
fn lines_of_stdin(max_line_length: usize) -> Receiver<String> {
    let (lines, typed) = crossbeam_channel::bounded(64);
    thread::spawn(move || {
        let mut input = io::stdin().lock();
        while let Some(line) = read_line(&mut input, max_line_length) {
            if !line.is_empty() && lines.send(line).is_err() {
                break;
            }
        }
    });
    typed
}

/// The next line of `input` without its line end, `None` at the end of input (or when reading
/// fails). A line longer than `max_line_length` bytes is skipped with a warning, so memory stays
/// bounded whatever comes in; one that is not UTF-8 is taken with replacement characters.
fn read_line(input: &mut impl BufRead, max_line_length: usize) -> Option<String> {
    let mut line = Vec::new();
    let mut length = 0usize;
    loop {
        let available = match input.fill_buf() {
            Ok(available) => available,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => {
                log::error!("cannot read standard input: {error}");
                return None;
            }
        };
        if available.is_empty() {
            if length == 0 {
                return None;
            }
            break;
        }
        let (piece, found_end) = match available.iter().position(|&byte| byte == b'\n') {
            Some(end) => (&available[..end], true),
            None => (available, false),
        };
        length += piece.len();
        if length <= max_line_length {
            line.extend_from_slice(piece);
        }
        let consumed = piece.len() + usize::from(found_end);
        input.consume(consumed);
        if found_end {
            break;
        }
    }
    if length > max_line_length {
        log::warn!("not sent: a line of {length} bytes from standard input is longer than the limit of {max_line_length}");
        return Some(String::new());
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Some(String::from_utf8(line).unwrap_or_else(|error| {
        log::warn!("a line from standard input is not UTF-8; its bad bytes are sent as U+FFFD");
        String::from_utf8_lossy(error.as_bytes()).into_owned()
    }))
}

/// Writes an event as its line on standard output, flushed at once so a pipe sees it; returns
/// `false` when standard output is gone.
fn write_event(event: &Event) -> bool {
    let line = match event {
        Event::Connected { address, .. } => format!("REMOTE_EVENT_CONNECTED|{}", address.ip()),
        Event::Disconnected { address, .. } => {
            format!("REMOTE_EVENT_DISCONNECTED|{}", address.ip())
        }
        Event::Item { item, .. } => match item {
            Item::AudioChunk(_) => return true,
            line => line.to_string(),
        },
        _ => return true,
    };
    let mut stdout = io::stdout().lock();
    match writeln!(stdout, "{line}").and_then(|()| stdout.flush()) {
        Ok(()) => true,
        Err(error) => {
            log::warn!("standard output is closed ({error}); stopping");
            false
        }
    }
}

/// What a running MMDAgent-EX sends its peers for an event: every message it handles, the
/// sender's own included, and, as a TCP server, its connection events.
fn forward_as_the_agent_does(remote: &Remote, event: &Event) {
    let forwarded = match event {
        Event::Item {
            item: Item::Message(message),
            ..
        } => as_the_agent_writes_it(message),
        Event::Connected {
            address,
            transport: Transport::TcpServer,
            ..
        } => Message::new("REMOTE_EVENT_CONNECTED", address.ip().to_string()),
        Event::Disconnected {
            address,
            transport: Transport::TcpServer,
            ..
        } => Message::new("REMOTE_EVENT_DISCONNECTED", address.ip().to_string()),
        _ => return,
    };
    if let Err(error) = remote.send(&Item::Message(forwarded)) {
        log::warn!("not forwarded: {error}");
    }
}

/// The agent writes a message with an empty type as its arguments alone (`|onlyargs` comes back as
/// `onlyargs`); every other message as it came.
fn as_the_agent_writes_it(message: &Message<'_>) -> Message<'static> {
    if message.name().is_empty() {
        Message::parse(message.args().to_owned())
    } else {
        message.clone().into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::read_line;

    fn lines(input: &[u8], limit: usize) -> Vec<String> {
        let mut input = std::io::BufReader::with_capacity(4, input);
        std::iter::from_fn(|| read_line(&mut input, limit)).collect()
    }

    #[test]
    fn lines_are_split_at_line_ends_whatever_the_reads() {
        assert_eq!(lines(b"A|1\r\nB|2\nlast", 100), ["A|1", "B|2", "last"]);
    }

    #[test]
    fn an_overlong_line_is_skipped_and_the_next_one_read() {
        assert_eq!(lines(b"0123456789\nok\n", 5), ["", "ok"]);
    }

    #[test]
    fn bytes_that_are_not_utf8_do_not_end_the_input() {
        assert_eq!(lines(b"A|\xff\nB\n", 100), ["A|\u{fffd}", "B"]);
    }
}
