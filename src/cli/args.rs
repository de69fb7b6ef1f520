//! The command line: options, their short forms for common settings, and the help text.
//!
//! Short forms are written as `.mdf` settings (`--listen 50001` is `Plugin_Remote_EnableServer=true`
//! and `Plugin_Remote_ListenPort=50001`), so they are checked and reported like any other setting.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;

use mmdagent_remote::{known_keys, WebSocketServerConfig, DEFAULT_PORT};

/// What the command was asked to do.
#[derive(Debug)]
pub enum Command {
    Run(Box<Options>),
    Help,
    Version,
}

/// How to run.
#[derive(Debug, Default)]
pub struct Options {
    /// `.mdf` files, read in order.
    pub files: Vec<PathBuf>,
    /// Settings given on the command line, in order, each with the option that gave it.
    pub settings: Vec<(String, String)>,
    /// Serve WebSocket for agents (the controller's side).
    pub serve_websocket: Option<WebSocketServerConfig>,
    /// Save peers' audio into this folder.
    pub save_audio: Option<PathBuf>,
    /// Forward every message received to every peer, as a running agent does.
    pub stand_in: bool,
    /// Do not read standard input; run until stopped or every client has given up.
    pub ignore_stdin: bool,
}

/// Reads the arguments (without the program name).
pub fn parse(arguments: impl IntoIterator<Item = OsString>) -> Result<Command, String> {
    let mut options = Options::default();
    let mut arguments = arguments.into_iter();
    while let Some(raw) = arguments.next() {
        // Only a file name can be something other than UTF-8.
        let argument = match raw.into_string() {
            Ok(argument) => argument,
            Err(file) => {
                options.files.push(PathBuf::from(file));
                continue;
            }
        };
        let (name, inline_value) = match argument.split_once('=') {
            Some((name, value)) if name.starts_with("--") => {
                (name.to_owned(), Some(value.to_owned()))
            }
            _ => (argument.clone(), None),
        };
        let mut value = |what: &str| match inline_value.clone() {
            Some(value) => Ok(value),
            None => arguments
                .next()
                .ok_or_else(|| format!("{name} needs {what}"))?
                .into_string()
                .map_err(|_| format!("{name}: the value is not UTF-8")),
        };
        match name.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "-s" | "--set" => {
                let assignment = value("KEY=VALUE")?;
                if !assignment.contains('=') {
                    return Err(format!("{name} {assignment}: write KEY=VALUE"));
                }
                options.settings.push((name, assignment));
            }
            "-l" | "--listen" => {
                let (address, port) = address_and_port(&value("[ADDRESS:]PORT")?, &name)?;
                options
                    .settings
                    .push((name.clone(), "Plugin_Remote_EnableServer=true".to_owned()));
                options
                    .settings
                    .push((name.clone(), format!("Plugin_Remote_ListenPort={port}")));
                if let Some(address) = address {
                    options
                        .settings
                        .push((name, format!("Plugin_Remote_BindAddress={address}")));
                }
            }
            "-c" | "--connect" => {
                let target = value("HOST:PORT")?;
                let (host, port) = host_and_port(&target).ok_or_else(|| {
                    format!("{name} {target}: write HOST:PORT, as localhost:60001 or [::1]:60001")
                })?;
                options
                    .settings
                    .push((name.clone(), "Plugin_Remote_EnableClient=true".to_owned()));
                options
                    .settings
                    .push((name.clone(), format!("Plugin_Remote_Hostname={host}")));
                options
                    .settings
                    .push((name, format!("Plugin_Remote_Port={port}")));
            }
            "-w" | "--websocket" => {
                let url = value("a URL")?;
                options
                    .settings
                    .push((name, format!("Plugin_Remote_Websocket_Url={url}")));
            }
            "--serve-websocket" => {
                let spec = value("[ADDRESS:]PORT[/PATH]")?;
                options.serve_websocket = Some(websocket_server(&spec, &name)?);
            }
            "--save-audio" => options.save_audio = Some(PathBuf::from(value("a folder")?)),
            "--stand-in" => options.stand_in = true,
            "--no-stdin" => options.ignore_stdin = true,
            "--" => options.files.extend(arguments.by_ref().map(PathBuf::from)),
            _ if name.starts_with('-') && name.len() > 1 => {
                return Err(format!("unknown option {name}; see --help"));
            }
            _ => options.files.push(PathBuf::from(argument)),
        }
    }
    Ok(Command::Run(Box::new(options)))
}

/// `PORT`, `ADDRESS:PORT` or `[IPV6]:PORT`.
fn address_and_port(text: &str, option: &str) -> Result<(Option<IpAddr>, u16), String> {
    let problem = || {
        format!(
            "{option} {text}: write PORT or ADDRESS:PORT, as 50001, 127.0.0.1:50001 or [::1]:50001"
        )
    };
    if let Ok(port) = text.parse::<u16>() {
        return if port == 0 {
            Err(problem())
        } else {
            Ok((None, port))
        };
    }
    let (host, port) = host_and_port(text).ok_or_else(problem)?;
    let address = host.parse::<IpAddr>().map_err(|_| problem())?;
    Ok((Some(address), port))
}

/// `HOST:PORT` or `[IPV6]:PORT`, the port from 1 to 65535.
fn host_and_port(text: &str) -> Option<(String, u16)> {
    let (host, port) = match text.strip_prefix('[') {
        Some(bracketed) => {
            let (host, rest) = bracketed.split_once(']')?;
            (host, rest.strip_prefix(':')?)
        }
        None => text.rsplit_once(':')?,
    };
    let port = port.parse::<u16>().ok().filter(|&port| port != 0)?;
    (!host.is_empty()).then(|| (host.to_owned(), port))
}

/// `[ADDRESS:]PORT[/PATH]`: a WebSocket server on 127.0.0.1 unless an address is given.
fn websocket_server(spec: &str, option: &str) -> Result<WebSocketServerConfig, String> {
    let (address_and_port_text, path) = match spec.find('/') {
        Some(slash) => (&spec[..slash], Some(spec[slash..].to_owned())),
        None => (spec, None),
    };
    let (address, port) = address_and_port(address_and_port_text, option).map_err(|_| {
        format!("{option} {spec}: write [ADDRESS:]PORT[/PATH], as 9001/chat or 0.0.0.0:9001/chat")
    })?;
    let mut server = WebSocketServerConfig::new(port);
    if let Some(address) = address {
        server.bind_address = address;
    }
    server.path = path;
    Ok(server)
}

/// The help text: every option, and every `.mdf` key with its default.
pub fn help() -> String {
    let mut text = format!(
        "mmdagent-remote {version}: MMDAgent-EX's Plugin_Remote without the agent, on standard input and output.

USAGE:
    mmdagent-remote [OPTIONS] [FILE.mdf]...

With no file and no option, it is an agent-side TCP server on port {DEFAULT_PORT}, as MMDAgent-EX is by
default. Each line read from standard input is sent to every connected peer; each message a peer sends
is written to standard output as one line (TYPE|ARGS or TYPE), as are avatar lines and audio controls;
REMOTE_EVENT_CONNECTED|<ip> and REMOTE_EVENT_DISCONNECTED|<ip> mark each connection. Status and errors
go to standard error (RUST_LOG=debug for more). The end of standard input closes every connection and
exits.

OPTIONS:
    -l, --listen [ADDRESS:]PORT   be a TCP server (agent side): EnableServer, ListenPort, BindAddress
    -c, --connect HOST:PORT       be a TCP client: of a controller's server (agent side), or of an
                                  agent's server (controller side): EnableClient, Hostname, Port
    -w, --websocket URL           be a WebSocket client (agent side), ws://host:port/path or wss://...
        --serve-websocket [ADDRESS:]PORT[/PATH]
                                  serve WebSocket for agents to connect to (controller side), on
                                  127.0.0.1 unless an address is given, any path unless one is given
    -s, --set KEY=VALUE           set an .mdf key, after the files (repeatable)
        --save-audio FOLDER       save the audio each peer streams as WAV files (16 kHz, 16-bit,
                                  mono), one per segment: peer<id>-<n>.wav, numbered after the
                                  files already there
        --stand-in                behave on the wire as a running agent does: forward every message
                                  received (and, as a TCP server, every connection event) to every
                                  peer, the sender included; answer SYNTH_START|m|v|t with
                                  SYNTH_EVENT_START|m at once and SYNTH_EVENT_STOP|m after
                                  100 ms + 20 ms per character of t (at most 3 s)
        --no-stdin                do not read standard input; run until stopped (a service)
    -h, --help                    this text
    -V, --version                 the version

EXIT STATUS:
    0 at the end of standard input; 1 when the settings are wrong, a server cannot listen, or every
    client has given up connecting; 2 for a wrong command line.

SETTINGS (.mdf keys; files are read in order, a later value wins):
",
        version = env!("CARGO_PKG_VERSION")
    );
    for key in known_keys() {
        let origin = if key.original { "" } else { " [extension]" };
        let _ = writeln!(
            text,
            "    {}{origin}\n        {} (default: {})",
            key.name, key.meaning, key.default
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(arguments: &[&str]) -> Options {
        match parse(arguments.iter().map(OsString::from)) {
            Ok(Command::Run(options)) => *options,
            other => panic!("{arguments:?}: {other:?}"),
        }
    }

    fn refused(arguments: &[&str]) -> String {
        match parse(arguments.iter().map(OsString::from)) {
            Err(message) => message,
            other => panic!("{arguments:?} was accepted: {other:?}"),
        }
    }

    #[test]
    fn short_forms_become_settings_in_order() {
        let options = run(&[
            "a.mdf",
            "--listen",
            "[::1]:50001",
            "-c",
            "localhost:60001",
            "--set=Plugin_Remote_AllLog=true",
        ]);
        assert_eq!(options.files, [PathBuf::from("a.mdf")]);
        let settings: Vec<&str> = options
            .settings
            .iter()
            .map(|(_, setting)| setting.as_str())
            .collect();
        assert_eq!(
            settings,
            [
                "Plugin_Remote_EnableServer=true",
                "Plugin_Remote_ListenPort=50001",
                "Plugin_Remote_BindAddress=::1",
                "Plugin_Remote_EnableClient=true",
                "Plugin_Remote_Hostname=localhost",
                "Plugin_Remote_Port=60001",
                "Plugin_Remote_AllLog=true",
            ]
        );
    }

    #[test]
    fn websocket_server_spec_takes_address_port_and_path() {
        let options = run(&[
            "--serve-websocket",
            "0.0.0.0:9001/chat",
            "--stand-in",
            "--no-stdin",
        ]);
        let server = options.serve_websocket.unwrap();
        assert_eq!(
            (
                server.bind_address.to_string(),
                server.port,
                server.path.as_deref()
            ),
            ("0.0.0.0".to_owned(), 9001, Some("/chat"))
        );
        assert!(options.stand_in && options.ignore_stdin);
        let any_path = run(&["--serve-websocket", "9001"]).serve_websocket.unwrap();
        assert_eq!(
            (any_path.bind_address.to_string(), any_path.path),
            ("127.0.0.1".to_owned(), None)
        );
    }

    #[test]
    fn bad_command_lines_say_what_is_wrong() {
        assert!(refused(&["--listen", "fifty"]).contains("write PORT"));
        assert!(refused(&["--listen", "0"]).contains("write PORT"));
        assert!(refused(&["--connect", "localhost"]).contains("HOST:PORT"));
        assert!(refused(&["--connect"]).contains("needs HOST:PORT"));
        assert!(refused(&["--set", "novalue"]).contains("KEY=VALUE"));
        assert!(refused(&["--frobnicate"]).contains("unknown option --frobnicate"));
    }

    #[test]
    fn help_lists_every_key() {
        let help = help();
        for key in known_keys() {
            assert!(help.contains(key.name), "{}", key.name);
        }
        assert!(help.contains("--save-audio") && help.contains("--stand-in"));
    }
}
