//! A controller that makes the agent speak every line of its input, sentence by sentence, each
//! sentence only once the one before has been spoken.
//!
//! It connects to an agent's TCP server (MMDAgent-EX with `Plugin_Remote_EnableServer=true`, or
//! `mmdagent-remote --stand-in`), reads lines typed or piped, and speaks each with
//! `agent::Speaker`, which sends `SYNTH_START|model|voice|sentence` and waits for
//! `SYNTH_EVENT_STOP|model`. It exits when its input has ended and the last sentence is spoken,
//! and with an error as soon as the agent goes away: standard input is read on a thread of its
//! own, and the main thread waits on those lines, the agent's events and the speaker's deadline
//! at once (`crossbeam_channel::select!`), so events are received even while nothing is typed.
//! The model `0` and voice `mei_voice_normal` are those of the agent's sample content.
//!
//! ```text
//! cargo run --example speak_lines -- [HOST:PORT] [--model ALIAS] [--voice NAME]   # localhost:60001
//! echo "こんにちは。今日はいい天気ですね。" | cargo run --example speak_lines
//! ```

use std::error::Error;
use std::io::BufRead;
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{after, never, select, Receiver};
use mmdagent_remote::agent::{Speaker, Spoken};
use mmdagent_remote::{Config, Event, Item, Received, Remote, TcpClientConfig};

/// How long to wait for the connection before giving up.
const CONNECT_WAIT: Duration = Duration::from_secs(5);
/// Lines read ahead of the speech; the reading thread waits when this many are queued.
const LINES_AHEAD: usize = 16;

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

struct Options {
    host: String,
    port: u16,
    model: String,
    voice: String,
}

/// The line being spoken: how many sentences it made, and the speaker's count before it.
struct Line {
    sentences: usize,
    before: Spoken,
}

fn run() -> Result<(), Box<dyn Error>> {
    let options = parse_args(std::env::args().skip(1))?;
    let mut speaker = Speaker::new(options.model, options.voice)?;

    let mut config = Config::default();
    config.tcp_client = Some(TcpClientConfig::new(options.host, options.port));
    let remote = Remote::start(&config)?;
    wait_until_connected(&remote)?;

    // Standard input is read on a thread of its own, so the agent's events are received (and a
    // disconnect noticed) while no line is typed. It ends with the input; if the agent goes away
    // first, it is left blocked in its read and ends with the process.
    let (lines, reader) = read_lines();
    let mut input = Some(lines);
    let mut line: Option<Line> = None;
    let no_lines = never();
    loop {
        // A line is taken only once the one before is spoken, so each is reported on its own.
        let lines = match (&input, speaker.is_idle()) {
            (Some(lines), true) => lines,
            _ => &no_lines,
        };
        let deadline = match speaker.deadline() {
            Some(deadline) => after(deadline.saturating_duration_since(Instant::now())),
            None => never(),
        };
        select! {
            recv(lines) -> text => match text {
                Ok(text) => {
                    let before = speaker.spoken();
                    let sentences = speaker.speak(&remote, &text)?;
                    line = Some(Line { sentences, before });
                }
                Err(_) => input = None,
            },
            recv(remote.inbound()) -> inbound => {
                let inbound = inbound.map_err(|_| "the library shut down")?;
                let mut outcome: Result<(), Box<dyn Error>> = Ok(());
                inbound.decode(|received| match received {
                    Received::Item { item: Item::Message(message), .. } if outcome.is_ok() => {
                        outcome = speaker.handle_message(&remote, &message).map_err(Into::into);
                    }
                    Received::Event(Event::Disconnected { reason, .. }) => {
                        outcome = Err(format!("the agent went away: {reason}").into());
                    }
                    Received::Event(Event::GaveUp { reason, .. }) => {
                        outcome = Err(format!("the agent went away: {reason}").into());
                    }
                    _ => {}
                });
                outcome?;
            },
            recv(deadline) -> _ => speaker.handle_deadline(&remote)?,
        }
        if speaker.is_idle() {
            if let Some(line) = line.take() {
                report(&line, speaker.spoken());
            }
            if input.is_none() {
                break;
            }
        }
    }
    eprintln!("[*] end of input");
    let _ = reader.join();
    remote.shutdown()?;
    Ok(())
}

/// Reads standard input line by line on a thread of its own; a line that is not UTF-8 is read with
/// U+FFFD in place of the bad bytes rather than ending the program.
fn read_lines() -> (Receiver<String>, thread::JoinHandle<()>) {
    let (sender, lines) = crossbeam_channel::bounded(LINES_AHEAD);
    let reader = thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut bytes = Vec::new();
        loop {
            bytes.clear();
            match stdin.read_until(b'\n', &mut bytes) {
                Ok(0) => break,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&bytes).into_owned();
                    if sender.send(text).is_err() {
                        break;
                    }
                }
                Err(error) => {
                    log::error!("cannot read standard input: {error}");
                    break;
                }
            }
        }
    });
    (lines, reader)
}

fn report(line: &Line, now: Spoken) {
    if line.sentences == 0 {
        return;
    }
    let not_sent = now.not_sent - line.before.not_sent;
    let not_sent = if not_sent > 0 {
        format!("; {not_sent} not sent: no agent connected")
    } else {
        String::new()
    };
    eprintln!(
        "[*] spoken: {} of {} sentences ({} timed out){not_sent}",
        now.finished - line.before.finished,
        line.sentences,
        now.timed_out - line.before.timed_out,
    );
}

fn wait_until_connected(remote: &Remote) -> Result<(), Box<dyn Error>> {
    let deadline = Instant::now() + CONNECT_WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match remote.recv_timeout(left) {
            Ok(Event::Connected { address, .. }) => {
                eprintln!("[*] connected: {address}");
                return Ok(());
            }
            Ok(Event::GaveUp { target, reason, .. }) => {
                return Err(format!("cannot connect to {target}: {reason}").into())
            }
            Ok(_) => {}
            Err(_) => return Err(format!("not connected within {CONNECT_WAIT:?}").into()),
        }
    }
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        host: "localhost".to_owned(),
        port: 60001,
        model: "0".to_owned(),
        voice: "mei_voice_normal".to_owned(),
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--model" => options.model = args.next().ok_or("--model needs an alias")?,
            "--voice" => options.voice = args.next().ok_or("--voice needs a voice name")?,
            target => {
                let (host, port) = target
                    .rsplit_once(':')
                    .ok_or_else(|| format!("{target}: write HOST:PORT, as localhost:60001"))?;
                options.port = port
                    .parse()
                    .map_err(|_| format!("not a port number: {port:?}"))?;
                options.host = host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned();
            }
        }
    }
    Ok(options)
}
