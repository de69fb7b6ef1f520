//! A minimal agent side on the library: serve controllers as MMDAgent-EX's Plugin_Remote does, print
//! what they send, and send them every line typed on standard input.
//!
//! Not one of the TCP/IP user guide's scripts but their counterpart: the agent end that the four
//! scripts (mirrored by the `tcp_controller_*` and `tcp_server_*` examples) talk to. It reads the
//! `.mdf` files given as arguments, later ones overriding; when they configure no transport it runs
//! a TCP server on port 50001, the port the guide uses. Received items go to standard output, one
//! line each, exactly as they came; status lines (`[*] connected: ...`) and the log go to standard
//! error. Each line typed is sent to every connected peer as an item (`MESSAGE|aaa|bbb`,
//! `__AV_START`, ...). It shuts down at the end of standard input (Ctrl-D).
//!
//! ```text
//! cargo run --example agent_host -- [FILE.mdf]...
//! ```

use std::error::Error;
use std::io;
use std::process::ExitCode;
use std::thread;

use crossbeam_channel::{select, Receiver};
use mmdagent_remote::{Config, Event, Item, Remote, TcpServerConfig};

/// The port of the user guide's examples, used when the `.mdf` files configure no transport.
const GUIDE_PORT: u16 = 50001;

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

fn run() -> Result<(), Box<dyn Error>> {
    let files: Vec<String> = std::env::args().skip(1).collect();
    if files.iter().any(|arg| arg.starts_with('-')) {
        eprintln!("usage: agent_host [FILE.mdf]...");
        return Err("no options are accepted, only .mdf files".into());
    }
    let mut config = Config::from_mdf_files(&files)?;
    if !config.has_transport() {
        config.tcp_server = Some(TcpServerConfig::new(GUIDE_PORT));
    }
    let remote = Remote::start(&config)?;
    if let Some(address) = remote.local_addr() {
        eprintln!("[*] listening on {address}");
    }
    let typed = read_lines_in_background()?;
    loop {
        select! {
            // Each delivery is one read from a peer (or one connection event); it is decoded here,
            // on this thread, with each item borrowed from the bytes as they arrived.
            recv(remote.inbound()) -> delivery => match delivery {
                Ok(delivery) => delivery.decode(|received| show(received.into_event())),
                Err(_) => break,
            },
            recv(typed) -> line => match line {
                Ok(line) => send_line(&remote, line),
                Err(_) => break,
            },
        }
    }
    eprintln!("[*] end of input: shutting down");
    remote.shutdown()?;
    Ok(())
}

/// Reads standard input on a thread of its own, one line per message; the channel ends with the
/// input. The thread is not joined: a read from standard input cannot be interrupted, and the
/// process ends with `main` anyway.
fn read_lines_in_background() -> io::Result<Receiver<String>> {
    let (lines, typed) = crossbeam_channel::bounded(16);
    thread::Builder::new()
        .name("stdin".to_owned())
        .spawn(move || {
            for line in io::stdin().lines() {
                match line {
                    Ok(line) => {
                        if lines.send(line).is_err() {
                            return;
                        }
                    }
                    Err(error) => {
                        eprintln!("[*] cannot read standard input: {error}");
                        return;
                    }
                }
            }
        })?;
    Ok(typed)
}

fn send_line(remote: &Remote, line: String) {
    if line.is_empty() {
        return;
    }
    let sent = Item::from_line(line)
        .map_err(|error| error.to_string())
        .and_then(|item| remote.send(&item).map_err(|error| error.to_string()));
    match sent {
        Ok(0) => eprintln!("[*] no peer is connected"),
        Ok(_) => {}
        Err(error) => eprintln!("[*] not sent: {error}"),
    }
}

fn show(event: Event) {
    match event {
        Event::Connected {
            address, transport, ..
        } => eprintln!("[*] connected: {address} ({transport})"),
        Event::Item { item, .. } => match item {
            Item::AudioChunk(bytes) => eprintln!("[*] audio chunk: {} bytes", bytes.len()),
            line => println!("{line}"),
        },
        Event::DecodeError { error, .. } => eprintln!("[*] undecodable input: {error}"),
        Event::Disconnected {
            address, reason, ..
        } => eprintln!("[*] disconnected: {address} ({reason})"),
        Event::Refused { address, max_peers } => {
            eprintln!("[*] refused {address}: already serving {max_peers} peers")
        }
        Event::GaveUp { target, reason, .. } => {
            eprintln!("[*] gave up connecting to {target}: {reason}")
        }
        other => eprintln!("[*] {other:?}"),
    }
}
