//! A controller that makes the agent speak every line of its input, sentence by sentence, each
//! sentence only once the one before has been spoken.
//!
//! It connects to an agent's TCP server (MMDAgent-EX with `Plugin_Remote_EnableServer=true`, or
//! `mmdagent-remote --stand-in`), reads lines typed or piped, and speaks each with
//! `agent::Speaker`, which sends `SYNTH_START|model|voice|sentence` and waits for
//! `SYNTH_EVENT_STOP|model`. It exits when its input has ended and the last sentence is spoken.
//! The model `0` and voice `mei_voice_normal` are those of the agent's sample content.
//!
//! ```text
//! cargo run --example speak_lines -- [HOST:PORT] [--model ALIAS] [--voice NAME]   # localhost:60001
//! echo "こんにちは。今日はいい天気ですね。" | cargo run --example speak_lines
//! ```

use std::error::Error;
use std::io::BufRead;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use mmdagent_remote::agent::Speaker;
use mmdagent_remote::{Config, Event, Remote, TcpClientConfig};

/// How long to wait for the connection before giving up.
const CONNECT_WAIT: Duration = Duration::from_secs(5);

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

fn run() -> Result<(), Box<dyn Error>> {
    let options = parse_args(std::env::args().skip(1))?;
    let mut speaker = Speaker::new(options.model, options.voice)?;

    let mut config = Config::default();
    config.tcp_client = Some(TcpClientConfig::new(options.host, options.port));
    let remote = Remote::start(&config)?;
    wait_until_connected(&remote)?;

    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let sentences = speaker.speak(&remote, &line)?;
        let mut gone = None;
        let spoken = speaker.wait(&remote, |event| match event {
            Event::Disconnected { reason, .. } => gone = Some(reason.to_string()),
            Event::GaveUp { reason, .. } => gone = Some(reason),
            _ => {}
        })?;
        if let Some(reason) = gone {
            return Err(format!("the agent went away: {reason}").into());
        }
        if sentences > 0 {
            eprintln!(
                "[*] spoken: {} of {sentences} sentences ({} timed out)",
                spoken.finished, spoken.timed_out
            );
        }
    }
    eprintln!("[*] end of input");
    remote.shutdown()?;
    Ok(())
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
