//! The command line: the options, how they are written, and their short forms for settings.
//!
//! Long options take their value after `=` or as the next argument (`--listen=50001`,
//! `--listen 50001`); short ones also attached (`-l50001`, `-l=50001`, `-l 50001`), and short
//! flags combine (`-hV`, `-vv`). An option that takes one value may be given once. Short forms for
//! settings are written as `.mdf` settings (`--listen 50001` is `Plugin_Remote_EnableServer=true`
//! and `Plugin_Remote_ListenPort=50001`), named after the option as the user wrote it, so a
//! message about one names the option and its value.

use std::ffi::OsString;
use std::path::PathBuf;

use mmdagent_remote::{HostPort, ListenAddress, WebSocketServerConfig};

/// What the command was asked to do.
#[derive(Debug)]
pub enum Command {
    Run(Box<Options>),
    Help,
    Version,
}

/// A setting given on the command line: the option as written with its value (`--listen 50001`),
/// which messages name, and the `KEY=VALUE` it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub source: String,
    pub assignment: String,
}

/// How to run.
#[derive(Debug, Default)]
pub struct Options {
    /// `.mdf` files, read in order.
    pub files: Vec<PathBuf>,
    /// Settings given on the command line, in order.
    pub settings: Vec<Setting>,
    /// Serve WebSocket for agents (the controller's side).
    pub serve_websocket: Option<WebSocketServerConfig>,
    /// The certificate chain and key (PEM) for serving wss.
    pub tls_certificate: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Save peers' audio into this folder.
    pub save_audio: Option<PathBuf>,
    /// WAV files to stream to the peers, one after another, once one is connected.
    pub send_audio: Vec<PathBuf>,
    /// The model that speaks the audio sent (`__AV_SETMODEL`); `None` for the default.
    pub audio_model: Option<String>,
    /// Answer on the wire as a running agent does.
    pub stand_in: bool,
    /// Do not read standard input; run until stopped or every client has given up.
    pub ignore_stdin: bool,
    /// Read standard input only once the first peer has connected.
    pub wait_peer: bool,
    /// `-v` counts up, `-q` down; 0 is the default level.
    pub verbosity: i32,
}

/// One option: its names, and the value it takes (`None` for a flag).
struct Spec {
    long: &'static str,
    short: Option<char>,
    value: Option<&'static str>,
    /// May be given more than once (every flag may; a valued option only if this says so).
    repeatable: bool,
}

const fn spec(
    long: &'static str,
    short: Option<char>,
    value: Option<&'static str>,
    repeatable: bool,
) -> Spec {
    Spec {
        long,
        short,
        value,
        repeatable,
    }
}

/// Every option.
const SPECS: &[Spec] = &[
    spec("--help", Some('h'), None, true),
    spec("--version", Some('V'), None, true),
    spec("--verbose", Some('v'), None, true),
    spec("--quiet", Some('q'), None, true),
    spec("--set", Some('s'), Some("KEY=VALUE"), true),
    spec("--listen", Some('l'), Some("[ADDRESS:]PORT"), false),
    spec("--connect", Some('c'), Some("HOST:PORT"), false),
    spec("--websocket", Some('w'), Some("a URL"), false),
    spec(
        "--serve-websocket",
        None,
        Some("[ADDRESS:]PORT[/PATH]"),
        false,
    ),
    spec("--tls-cert", None, Some("a PEM file"), false),
    spec("--tls-key", None, Some("a PEM file"), false),
    spec("--max-peers", None, Some("a number"), false),
    spec("--save-audio", None, Some("a folder"), false),
    spec("--send-audio", None, Some("a WAV file"), true),
    spec("--audio-model", None, Some("a model alias"), false),
    spec("--stand-in", None, None, true),
    spec("--no-stdin", None, None, true),
    spec("--wait-peer", None, None, true),
];

/// Reads the arguments (without the program name).
pub fn parse(arguments: impl IntoIterator<Item = OsString>) -> Result<Command, String> {
    let mut parser = Parser::default();
    let mut arguments = arguments.into_iter();
    while let Some(raw) = arguments.next() {
        // Only a file name can be something other than UTF-8.
        let argument = match raw.into_string() {
            Ok(argument) => argument,
            Err(file) => {
                parser.options.files.push(PathBuf::from(file));
                continue;
            }
        };
        let mut next_value = |written: &str, spec: &Spec| -> Result<String, String> {
            arguments
                .next()
                .ok_or_else(|| format!("{written} needs {}", spec.value.unwrap_or_default()))?
                .into_string()
                .map_err(|_| format!("{written}: the value is not UTF-8"))
        };
        if argument == "--" {
            parser
                .options
                .files
                .extend(arguments.by_ref().map(PathBuf::from));
            break;
        }
        if let Some(long) = argument.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((name, value)) => (format!("--{name}"), Some(value.to_owned())),
                None => (argument.clone(), None),
            };
            let spec = find_long(&name)?;
            let value = match (spec.value, inline) {
                (None, None) => None,
                (None, Some(_)) => return Err(format!("{name} takes no value")),
                (Some(_), Some(value)) => Some(value),
                (Some(_), None) => Some(next_value(&name, spec)?),
            };
            if let Some(done) = parser.apply(spec, &name, value)? {
                return Ok(done);
            }
        } else if let Some(shorts) = argument.strip_prefix('-').filter(|rest| !rest.is_empty()) {
            for (at, letter) in shorts.char_indices() {
                let written = format!("-{letter}");
                let spec = find_short(letter, &argument)?;
                if spec.value.is_none() {
                    if let Some(done) = parser.apply(spec, &written, None)? {
                        return Ok(done);
                    }
                    continue;
                }
                let attached = &shorts[at + letter.len_utf8()..];
                let attached = attached.strip_prefix('=').unwrap_or(attached);
                let value = if attached.is_empty() {
                    next_value(&written, spec)?
                } else {
                    attached.to_owned()
                };
                if let Some(done) = parser.apply(spec, &written, Some(value))? {
                    return Ok(done);
                }
                break;
            }
        } else {
            parser.options.files.push(PathBuf::from(argument));
        }
    }
    parser.finish()
}

fn find_long(name: &str) -> Result<&'static Spec, String> {
    SPECS
        .iter()
        .find(|spec| spec.long == name)
        .ok_or_else(|| match nearest_option(name) {
            Some(nearest) => format!("unknown option {name}; did you mean {nearest}? (see --help)"),
            None => format!("unknown option {name}; see --help"),
        })
}

fn find_short(letter: char, argument: &str) -> Result<&'static Spec, String> {
    SPECS
        .iter()
        .find(|spec| spec.short == Some(letter))
        .ok_or_else(|| {
            let shown = if argument.len() > 2 {
                format!("-{letter} (in {argument})")
            } else {
                format!("-{letter}")
            };
            match nearest_option(&format!("--{}", argument.trim_start_matches('-'))) {
                Some(nearest) if argument.len() > 2 => {
                    format!("unknown option {shown}; did you mean {nearest}? (see --help)")
                }
                _ => format!("unknown option {shown}; see --help"),
            }
        })
}

/// The long option closest to `written`, if it is close enough to be a typo.
fn nearest_option(written: &str) -> Option<&'static str> {
    let (distance, name) = SPECS
        .iter()
        .map(|spec| (edit_distance(written, spec.long), spec.long))
        .min()?;
    let tolerance = (written.len().saturating_sub(2) / 3).max(1);
    (distance <= tolerance).then_some(name)
}

/// Levenshtein distance over bytes (option names are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, &byte_a) in a.iter().enumerate() {
        current[0] = i + 1;
        for (j, &byte_b) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(byte_a != byte_b);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[derive(Default)]
struct Parser {
    options: Options,
    /// Single-valued options seen so far: the long name, and how it was written with its value.
    given: Vec<(&'static str, String)>,
    help: bool,
    version: bool,
}

impl Parser {
    /// Applies one option as `written` (`-l` or `--listen`); `Some` when the command is decided.
    fn apply(
        &mut self,
        spec: &Spec,
        written: &str,
        value: Option<String>,
    ) -> Result<Option<Command>, String> {
        let shown = match &value {
            Some(value) => format!("{written} {value}"),
            None => written.to_owned(),
        };
        if !spec.repeatable {
            if let Some((_, earlier)) = self.given.iter().find(|(long, _)| *long == spec.long) {
                return Err(format!(
                    "{shown}: {} takes one value and was given already ({earlier}); give it once",
                    spec.long
                ));
            }
            self.given.push((spec.long, shown.clone()));
        }
        let value = value.unwrap_or_default();
        let options = &mut self.options;
        let mut set = |assignment: String| {
            options.settings.push(Setting {
                source: shown.clone(),
                assignment,
            })
        };
        match spec.long {
            "--help" => self.help = true,
            "--version" => self.version = true,
            "--verbose" => options.verbosity += 1,
            "--quiet" => options.verbosity -= 1,
            "--set" => {
                if !value.contains('=') {
                    return Err(format!("{shown}: write KEY=VALUE"));
                }
                set(value);
            }
            "--listen" => {
                let listen: ListenAddress =
                    value.parse().map_err(|error| format!("{shown}: {error}"))?;
                set("Plugin_Remote_EnableServer=true".to_owned());
                set(format!("Plugin_Remote_ListenPort={}", listen.port));
                if let Some(address) = listen.address {
                    set(format!("Plugin_Remote_BindAddress={address}"));
                }
            }
            "--connect" => {
                let target: HostPort =
                    value.parse().map_err(|error| format!("{shown}: {error}"))?;
                set("Plugin_Remote_EnableClient=true".to_owned());
                set(format!("Plugin_Remote_Hostname={}", target.host));
                set(format!("Plugin_Remote_Port={}", target.port));
            }
            "--websocket" => set(format!("Plugin_Remote_Websocket_Url={value}")),
            "--max-peers" => set(format!("Plugin_Remote_MaxPeers={value}")),
            "--serve-websocket" => {
                options.serve_websocket = Some(websocket_server(&value, &shown)?);
            }
            "--tls-cert" | "--tls-key" => {
                if !cfg!(feature = "tls") {
                    return Err(format!(
                        "{shown}: this build cannot serve wss: it was built without the `tls` feature"
                    ));
                }
                let slot = if spec.long == "--tls-cert" {
                    &mut options.tls_certificate
                } else {
                    &mut options.tls_key
                };
                *slot = Some(PathBuf::from(value));
            }
            "--save-audio" => options.save_audio = Some(PathBuf::from(value)),
            "--send-audio" => options.send_audio.push(PathBuf::from(value)),
            "--audio-model" => options.audio_model = Some(value),
            "--stand-in" => options.stand_in = true,
            "--no-stdin" => options.ignore_stdin = true,
            "--wait-peer" => options.wait_peer = true,
            other => unreachable!("{other} is in SPECS and handled here"),
        }
        Ok(None)
    }

    fn finish(mut self) -> Result<Command, String> {
        if self.help {
            return Ok(Command::Help);
        }
        if self.version {
            return Ok(Command::Version);
        }
        let options = &mut self.options;
        match (&options.tls_certificate, &options.tls_key) {
            (Some(_), None) => {
                return Err("--tls-cert needs --tls-key, the certificate's private key".to_owned())
            }
            (None, Some(_)) => {
                return Err("--tls-key needs --tls-cert, the certificate it belongs to".to_owned())
            }
            _ => {}
        }
        if let (Some(certificate), Some(key)) = (&options.tls_certificate, &options.tls_key) {
            let Some(server) = &mut options.serve_websocket else {
                return Err(
                    "--tls-cert and --tls-key serve wss; they need --serve-websocket".to_owned(),
                );
            };
            server.tls = Some(mmdagent_remote::TlsIdentity::new(certificate, key));
        }
        if options.audio_model.is_some() && options.send_audio.is_empty() {
            return Err(
                "--audio-model picks the model that speaks --send-audio's files; give a file"
                    .to_owned(),
            );
        }
        if options.ignore_stdin && options.wait_peer {
            return Err("--wait-peer waits to read standard input, which --no-stdin does not read; give one of them".to_owned());
        }
        Ok(Command::Run(Box::new(self.options)))
    }
}

/// `[ADDRESS:]PORT[/PATH]`: a WebSocket server on 127.0.0.1 unless an address is given.
fn websocket_server(spec: &str, shown: &str) -> Result<WebSocketServerConfig, String> {
    let (address_and_port, path) = match spec.find('/') {
        Some(slash) => (&spec[..slash], Some(spec[slash..].to_owned())),
        None => (spec, None),
    };
    let listen: ListenAddress = address_and_port.parse().map_err(|_| {
        format!("{shown}: write [ADDRESS:]PORT[/PATH], as 9001/chat or 0.0.0.0:9001/chat")
    })?;
    let mut server = WebSocketServerConfig::new(listen.port);
    if let Some(address) = listen.address {
        server.bind_address = address;
    }
    server.path = path;
    Ok(server)
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

    fn assignments(options: &Options) -> Vec<&str> {
        options
            .settings
            .iter()
            .map(|setting| setting.assignment.as_str())
            .collect()
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
        assert_eq!(
            assignments(&options),
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
        assert_eq!(options.settings[0].source, "--listen [::1]:50001");
    }

    #[test]
    fn short_options_take_their_value_attached_after_equals_or_next() {
        for form in [
            &["-l50002"][..],
            &["-l=50002"],
            &["-l", "50002"],
            &["--listen=50002"],
        ] {
            let options = run(form);
            assert_eq!(
                assignments(&options)[1],
                "Plugin_Remote_ListenPort=50002",
                "{form:?}"
            );
        }
        let options = run(&["-vvq", "-s", "Plugin_Remote_AllLog=true"]);
        assert_eq!(options.verbosity, 1);
    }

    #[test]
    fn flags_combine() {
        assert!(matches!(
            parse(["-hV"].map(OsString::from)),
            Ok(Command::Help)
        ));
        assert!(matches!(
            parse(["-Vv"].map(OsString::from)),
            Ok(Command::Version)
        ));
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
        assert!(refused(&["--listen", "fifty"]).starts_with("--listen fifty: write PORT"));
        assert!(refused(&["--listen", "0"]).contains("write PORT"));
        assert!(refused(&["--connect", "localhost"]).contains("HOST:PORT"));
        assert!(refused(&["--connect"]).contains("needs HOST:PORT"));
        assert!(refused(&["--set", "novalue"]).contains("KEY=VALUE"));
        assert!(refused(&["--frobnicate"]).contains("unknown option --frobnicate; see --help"));
        assert!(refused(&["--stand-in=yes"]).contains("--stand-in takes no value"));
        assert!(refused(&["-x"]).contains("unknown option -x"));
    }

    #[test]
    fn an_unknown_option_suggests_the_nearest() {
        assert!(refused(&["--listn", "5000"]).contains("did you mean --listen?"));
        assert!(refused(&["--stand_in"]).contains("did you mean --stand-in?"));
        // A short option with letters after it takes them as its value.
        assert!(refused(&["-listen"]).starts_with("-l isten: write PORT"));
    }

    #[test]
    fn a_single_valued_option_given_twice_is_refused() {
        let message = refused(&["--listen", "5000", "-l5001"]);
        assert!(
            message.contains(
                "-l 5001: --listen takes one value and was given already (--listen 5000)"
            ),
            "{message}"
        );
        assert_eq!(
            run(&[
                "-s",
                "Plugin_Remote_AllLog=true",
                "-s",
                "Plugin_Remote_AllLog=false"
            ])
            .settings
            .len(),
            2
        );
    }

    #[test]
    fn send_audio_takes_files_in_order_and_one_model() {
        let options = run(&[
            "--send-audio",
            "a.wav",
            "--send-audio=b.wav",
            "--audio-model",
            "mei",
        ]);
        assert_eq!(
            options.send_audio,
            [PathBuf::from("a.wav"), PathBuf::from("b.wav")]
        );
        assert_eq!(options.audio_model.as_deref(), Some("mei"));
        assert!(refused(&["--audio-model", "mei"]).contains("give a file"));
        assert!(refused(&["--send-audio"]).contains("needs a WAV file"));
    }

    #[test]
    fn tls_options_go_together_with_serve_websocket() {
        if !cfg!(feature = "tls") {
            assert!(refused(&["--tls-cert", "c.pem"]).contains("`tls` feature"));
            return;
        }
        let options = run(&[
            "--serve-websocket",
            "9001",
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem",
        ]);
        assert!(options.serve_websocket.unwrap().tls.is_some());
        assert!(
            refused(&["--serve-websocket", "9001", "--tls-cert", "c.pem"])
                .contains("needs --tls-key")
        );
        assert!(refused(&["--tls-cert", "c.pem", "--tls-key", "k.pem"])
            .contains("need --serve-websocket"));
    }
}
