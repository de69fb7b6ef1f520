//! The help text: every option, the exit statuses, and every `.mdf` key with its default.

use std::fmt::Write as _;

use mmdagent_remote::{known_keys, DEFAULT_PORT};

use crate::cli::session::HELD_LINES;

/// The help text.
pub fn help() -> String {
    let mut text = format!(
        "mmdagent-remote {version}: MMDAgent-EX's Plugin_Remote without the agent, on standard input and output.

USAGE:
    mmdagent-remote [OPTIONS] [FILE.mdf]...

With no file and no option, it is an agent-side TCP server on port {DEFAULT_PORT}, as MMDAgent-EX is by
default; the server keys given (ListenPort, Port, BindAddress, MaxPeers) apply to it. Each line read
from standard input is sent to every connected peer; each message a peer sends is written to standard
output as one line (TYPE|ARGS or TYPE), as are avatar lines and audio controls;
REMOTE_EVENT_CONNECTED|<ip> and REMOTE_EVENT_DISCONNECTED|<ip> mark each connection. Status and errors
go to standard error.

NOTHING PIPED IS LOST:
    As a client (--connect, --websocket, or an .mdf's client modes), lines read before the connection
    stands, or while it is being made again, are held in order and written once it stands; up to
    {HELD_LINES} lines (or Plugin_Remote_KeepWhileDisconnected if larger), and past that the command stops
    reading standard input until it is connected. At the end of input it exits once every line is
    written (waiting at most 5 s for a peer that does not read), or, if every client gives up first,
    exits 1 saying how many lines were not delivered.
    As a server, a line read while no peer is connected reaches no one, as with MMDAgent-EX; at the end
    the command says how many did. --wait-peer reads standard input only once a peer has connected.

SIGNALS:
    SIGINT, SIGTERM and SIGHUP end the command as the end of input does: lines already read are sent,
    every connection is closed (a WebSocket Close frame; a REMOTE_EVENT_DISCONNECTED line each), and
    it exits 0 once all is written. A second signal ends it at once (128 + the signal's number).

OPTIONS:
    -l, --listen [ADDRESS:]PORT   be a TCP server (agent side): EnableServer, ListenPort, BindAddress
    -c, --connect HOST:PORT       be a TCP client: of a controller's server (agent side), or of an
                                  agent's server (controller side): EnableClient, Hostname, Port
    -w, --websocket URL           be a WebSocket client (agent side), ws://host:port/path or wss://...
        --serve-websocket [ADDRESS:]PORT[/PATH]
                                  serve WebSocket for agents to connect to (controller side), on
                                  127.0.0.1 unless an address is given, any path unless one is given;
                                  an agent over the peer limit is answered 503 Service Unavailable
        --tls-cert FILE           with --serve-websocket: serve wss with this certificate chain (PEM)
        --tls-key FILE            ... and this private key (PEM, PKCS #8); both are needed
        --max-peers N             the most peers the server that runs serves at once, TCP or
                                  WebSocket (Plugin_Remote_MaxPeers does the same; default 20)
    -s, --set KEY=VALUE           set an .mdf key, after the files (repeatable); an unknown key is an
                                  error here (in a file it is a warning)
        --save-audio FOLDER       save the audio each peer streams as WAV files (16 kHz, 16-bit,
                                  mono), one per segment: peer<id>-<n>.wav, numbered after the
                                  files already there
        --send-audio FILE.wav     make the agent speak FILE: once a peer is connected, stream it to
                                  every connected peer as the agent's audio (__AV_START,
                                  __AV_SETMODEL, SNDFILE, 40 ms chunks paced in real time, SNDBRKS);
                                  any PCM or float WAV, resampled to 16 kHz mono. Repeatable: the
                                  files play one after another. The command ends only once the
                                  audio has had time to play; progress shows on a terminal
        --audio-model ALIAS       the model that speaks --send-audio's files (default 0)
        --stand-in                behave on the wire as a running agent does: forward every message
                                  received (and, as a TCP server, every connection event) to every
                                  peer, the sender included; answer __AV_START and __AV_END with
                                  AVATAR|START and AVATAR|END; answer SYNTH_START|m|v|t with
                                  SYNTH_EVENT_START|m at once and SYNTH_EVENT_STOP|m after
                                  100 ms + 20 ms per character of t (at most 3 s)
        --no-stdin                do not read standard input; run until a signal (a service), or
                                  with --send-audio until the audio has played
        --wait-peer               read standard input only once the first peer has connected
    -v, --verbose                 more log on standard error (-vv: everything); RUST_LOG wins if set
    -q, --quiet                   less log (-q: warnings and errors, -qq: errors, -qqq: none)
    -h, --help                    this text
    -V, --version                 the version

    Short options take their value attached, after = or next (-l50001, -l=50001, -l 50001); short
    flags combine (-vv, -hV). An option that takes one value may be given once.

EXIT STATUS:
    0 at the end of standard input, or after a signal, once everything is written; 1 when the
    settings are wrong, a server cannot listen, every client has given up connecting, lines read
    were not delivered by a client, a --send-audio file cannot be read (before anything starts) or
    its audio was not all sent (no peer left); 2 for a wrong command line (an --set key and an
    --audio-model that cannot be sent included).

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

    #[test]
    fn help_lists_every_key_and_option() {
        let help = help();
        for key in known_keys() {
            assert!(help.contains(key.name), "{}", key.name);
        }
        for option in [
            "--save-audio",
            "--send-audio",
            "--audio-model",
            "--stand-in",
            "--wait-peer",
            "--tls-cert",
            "--tls-key",
            "--max-peers",
            "--verbose",
            "--quiet",
        ] {
            assert!(help.contains(option), "{option}");
        }
    }
}
