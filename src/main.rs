//! `mmdagent-remote`: a headless Plugin_Remote on the library.
//!
//! For now: reads the `.mdf` files given as arguments (a TCP server on port 60001 when they configure
//! no transport, the original's default), runs the transports they name, prints every inbound item
//! and connection event as one line on standard output, and sends each line typed on standard input
//! to every peer.

use std::io::{self, BufRead, Write};
use std::process::ExitCode;
use std::thread;

use crossbeam_channel::select;
use mmdagent_remote::{Config, Event, Item, Remote, TcpServerConfig};

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let files: Vec<String> = std::env::args().skip(1).collect();
    if files.iter().any(|arg| arg == "--help" || arg == "-h") {
        println!(
            "usage: mmdagent-remote [FILE.mdf]...\n\n\
             Runs MMDAgent-EX's Plugin_Remote without the agent: a TCP server on port 60001 unless the\n\
             .mdf files say otherwise. Prints what peers send; sends what is typed."
        );
        return ExitCode::SUCCESS;
    }
    match run(&files) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            log::error!("{error}");
            ExitCode::FAILURE
        }
    }
}

fn run(files: &[String]) -> Result<(), mmdagent_remote::Error> {
    let mut config = Config::from_mdf_files(files)?;
    if !config.has_transport() {
        config.tcp_server = Some(TcpServerConfig::default());
    }
    let remote = Remote::start(&config)?;
    let typed = read_lines_from_stdin();
    loop {
        select! {
            recv(remote.events()) -> event => match event {
                Ok(event) => show(&event),
                Err(_) => break,
            },
            recv(typed) -> line => match line {
                Ok(line) => match Item::from_line(line.as_str()) {
                    Ok(item) => {
                        if let Err(error) = remote.send(&item) {
                            log::warn!("not sent: {error}");
                        }
                    }
                    Err(error) => log::warn!("not sent: {error}"),
                },
                Err(_) => break,
            },
        }
    }
    remote.shutdown()
}

fn read_lines_from_stdin() -> crossbeam_channel::Receiver<String> {
    let (lines, typed) = crossbeam_channel::bounded(64);
    thread::spawn(move || {
        for line in io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if !line.trim().is_empty() && lines.send(line).is_err() {
                break;
            }
        }
    });
    typed
}

fn show(event: &Event) {
    let line = match event {
        Event::Connected { address, .. } => format!("REMOTE_EVENT_CONNECTED|{}", address.ip()),
        Event::Disconnected { address, .. } => {
            format!("REMOTE_EVENT_DISCONNECTED|{}", address.ip())
        }
        Event::Item { item, .. } => match item {
            Item::AudioChunk(_) => return,
            line => line.to_string(),
        },
        _ => return,
    };
    let mut stdout = io::stdout().lock();
    // A closed standard output (the reader went away) is not this program's error to report.
    let _ = writeln!(stdout, "{line}").and_then(|()| stdout.flush());
}
