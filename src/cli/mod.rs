//! The `mmdagent-remote` command: the library's transports on standard input and output.
//!
//! Everything a library user would also want (settings, transports, the stand-in's answers, the
//! `REMOTE_EVENT_*` lines, audio files) is the library's; this module only turns the command line
//! into a [`Config`], and wires standard input, standard output and signals to a [`Remote`].

mod args;
mod failure;
mod help;
mod playlist;
mod session;
#[cfg(unix)]
#[allow(unsafe_code)] // signal handlers need FFI; see the module for why it is sound
mod signal;
mod stdin;

use std::process::ExitCode;
use std::time::Duration;

use crossbeam_channel::Receiver;
use mmdagent_remote::{
    known_keys, AudioRecorder, Config, Error, HostOptions, MdfSettings, Origin, Remote,
};

use args::{Command, Options};
use failure::Failure;
use playlist::Playlist;
use session::{Plan, HELD_LINES};

/// Where the default server's switch comes from, in messages about it.
const DEFAULT_SERVER: &str = "(the default TCP server, no transport being named)";
/// The key that sets the peer limit of whichever server runs.
const MAX_PEERS_KEY: &str = "Plugin_Remote_MaxPeers";
/// How long shutting down waits for a peer to take what is queued for it.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs the command with the process's arguments; the exit status is described in `--help`.
pub fn main() -> ExitCode {
    let options = match args::parse(std::env::args_os().skip(1)) {
        Ok(Command::Run(options)) => options,
        Ok(Command::Help) => {
            print!("{}", help::help());
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
    let level = match options.verbosity {
        ..=-3 => "off",
        -2 => "error",
        -1 => "warn",
        0 => "info",
        1 => "debug",
        2.. => "trace",
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level)).init();
    #[cfg(unix)]
    let signals = signal::SignalWatch::start();
    #[cfg(unix)]
    let signals_received = signals.as_ref().map(signal::SignalWatch::received);
    #[cfg(not(unix))]
    let signals_received = None;
    // Printed rather than logged, so it shows whatever the log level.
    match run(options, signals_received) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("mmdagent-remote: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(message)) => {
            eprintln!("mmdagent-remote: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(options: Box<Options>, signals: Option<&Receiver<&'static str>>) -> Result<(), Failure> {
    let config = configure(&options)?;
    // Every file is read before anything starts, so a bad one stops the command at once.
    let playlist = match options.send_audio.as_slice() {
        [] => None,
        files => Some(Playlist::read(files, options.audio_model.as_deref())?),
    };
    let recorder = match &options.save_audio {
        Some(folder) => Some(AudioRecorder::new(folder).map_err(|error| {
            Failure::Runtime(format!(
                "--save-audio {}: cannot save audio there: {error}",
                folder.display()
            ))
        })?),
        None => None,
    };
    let plan = Plan {
        max_line_length: config.max_line_length,
        keep_while_disconnected: config.keep_while_disconnected,
        clients: usize::from(config.tcp_client.is_some())
            + usize::from(config.websocket_client.is_some()),
        servers: usize::from(config.tcp_server.is_some())
            + usize::from(config.websocket_server.is_some()),
        recorder,
        playlist,
        stand_in: options.stand_in,
        read_stdin: !options.ignore_stdin,
        wait_peer: options.wait_peer,
    };
    let input = session::start_input(&plan);
    let mut host = HostOptions::default();
    host.flush_timeout = FLUSH_TIMEOUT;
    let remote =
        Remote::start_with(&config, host).map_err(|error| Failure::Runtime(error.to_string()))?;
    session::run(remote, plan, input, signals)
}

/// The settings of the files and the options as one [`Config`]: the default server when no
/// transport is named, the peer limit for whichever server runs, and lines held by a client.
fn configure(options: &Options) -> Result<Config, Failure> {
    let mut settings = MdfSettings::new();
    for file in &options.files {
        settings
            .load_file(file)
            .map_err(|error| Failure::Runtime(error.to_string()))?;
    }
    for setting in &options.settings {
        let key = setting.assignment.split('=').next().unwrap_or_default();
        if !key.to_ascii_lowercase().starts_with("plugin_remote_") {
            return Err(Failure::Usage(format!(
                "{}: {key} is not a Plugin_Remote_ key, the only keys this command reads",
                setting.source
            )));
        }
        settings.set_from(&setting.source, &setting.assignment);
    }
    let from_option = |origin: &Origin| {
        options
            .settings
            .iter()
            .any(|setting| *setting.source == *origin.source)
    };
    let interpret = |settings: &MdfSettings| {
        settings
            .to_config_with_warnings()
            .map_err(|error| match &error {
                // The option names the key and value already; no line number for an option.
                Error::Setting(setting) if from_option(&setting.origin) => {
                    Failure::Usage(format!("{}: {}", setting.origin.source, setting.problem))
                }
                _ => Failure::Runtime(error.to_string()),
            })
    };
    let (mut config, mut warnings) = interpret(&settings)?;
    if !config.has_transport() && options.serve_websocket.is_none() {
        settings.set_from(DEFAULT_SERVER, "Plugin_Remote_EnableServer=true");
        (config, warnings) = interpret(&settings)?;
    }
    if let Some(server) = &options.serve_websocket {
        let mut server = server.clone();
        // The library has checked the value; the key applies to this server too.
        if let Some(max_peers) = settings
            .get(MAX_PEERS_KEY)
            .and_then(|value| value.trim().parse().ok())
        {
            server.max_peers = max_peers;
            warnings.retain(|warning| warning.key != MAX_PEERS_KEY);
        }
        config.websocket_server = Some(server);
    }
    // A key typed on the command line and not known is a mistake to fix now; in a file shared
    // with the agent it stays a warning.
    if let Some(unknown) = warnings.iter().find(|warning| {
        from_option(&warning.origin) && !known_keys().any(|key| key.name == warning.key)
    }) {
        return Err(Failure::Usage(format!(
            "{}: {}",
            unknown.origin.source,
            unknown
                .message
                .replace("unknown key, ignored", "unknown key")
        )));
    }
    for warning in warnings {
        if from_option(&warning.origin) {
            log::warn!("{}: {}", warning.origin.source, warning.message);
        } else {
            log::warn!("{warning}");
        }
    }
    if config.tcp_client.is_some() || config.websocket_client.is_some() {
        config.keep_while_disconnected = config.keep_while_disconnected.max(HELD_LINES);
    }
    Ok(config)
}
