//! The `mmdagent-remote` command: the library's transports on standard input and output.
//!
//! Everything a library user would also want (settings, transports, audio files) is the library's;
//! this module only turns the command line into a [`Config`], lines of input into messages, and
//! events into lines of output.

mod args;

use std::io::{self, BufRead, Write};
use std::process::ExitCode;
use std::thread;

use crossbeam_channel::{select, Receiver};
use mmdagent_remote::{
    AudioRecorder, Config, Event, Item, MdfSettings, Message, Remote, TcpServerConfig, Transport,
};

use args::{Command, Options};

/// Runs the command with the process's arguments; the exit status is described in `--help`.
pub fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let options = match args::parse(std::env::args().skip(1)) {
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
            log::error!("{message}");
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
    let mut recorder = match &options.save_audio {
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
        lines_of_stdin()
    };
    let mut gave_up = Vec::new();

    let outcome = loop {
        select! {
            recv(remote.events()) -> event => {
                let Ok(event) = event else { break Ok(()) };
                if let Some(recorder) = &mut recorder {
                    match recorder.record(&event) {
                        Ok(Some(saved)) => log::info!("saved {} samples to {}", saved.samples, saved.path.display()),
                        Ok(None) => {}
                        Err(error) => log::error!("cannot save audio: {error}"),
                    }
                }
                if options.stand_in {
                    forward_as_the_agent_does(&remote, &event);
                }
                if let Event::GaveUp { target, reason, .. } = &event {
                    gave_up.push(format!("{target}: {reason}"));
                    if servers == 0 && gave_up.len() == clients {
                        break Err(format!("every connection gave up: {}", gave_up.join("; ")));
                    }
                }
                if !write_event(&event) {
                    break Ok(());
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
        }
    };
    remote.shutdown().map_err(|error| error.to_string())?;
    if let Some(recorder) = &mut recorder {
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
    }
    outcome
}

/// Lines of standard input, read on a thread of their own; the channel ends with the input.
/// Blank lines are skipped: they are no message.
fn lines_of_stdin() -> Receiver<String> {
    let (lines, typed) = crossbeam_channel::bounded(64);
    thread::spawn(move || {
        for line in io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            let line = line.trim_end_matches('\r');
            if !line.trim().is_empty() && lines.send(line.to_owned()).is_err() {
                break;
            }
        }
    });
    typed
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
            log::info!("standard output is closed ({error}); stopping");
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
