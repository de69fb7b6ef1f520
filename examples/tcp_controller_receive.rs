//! A controller that connects to an agent's TCP server and prints every line the agent sends.
//!
//! The library's version of the TCP/IP user guide's "Client Script Example: Receiving" (the agent
//! runs with `Plugin_Remote_EnableServer=true`). Received items go to standard output, one line each,
//! exactly as they came; status lines (`[*] connected: ...`, `[*] disconnected: ...`) and the log go
//! to standard error. It exits when the agent closes the connection, and fails if it cannot connect.
//!
//! ```text
//! cargo run --example tcp_controller_receive -- [HOST] [PORT]    # default 127.0.0.1 50001
//! ```

use std::error::Error;
use std::process::ExitCode;

use mmdagent_remote::{Config, Event, Item, Remote, TcpClientConfig};

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
    let mut args = std::env::args().skip(1);
    let host = args.next().unwrap_or_else(|| "127.0.0.1".to_owned());
    let port = parse_port(args.next())?;

    let mut config = Config::default();
    config.tcp_client = Some(TcpClientConfig::new(host, port));
    let remote = Remote::start(&config)?;
    for event in remote.events() {
        match event {
            Event::Connected { address, .. } => eprintln!("[*] connected: {address}"),
            Event::Item { item, .. } => print_item(&item),
            Event::DecodeError { error, .. } => eprintln!("[*] undecodable input: {error}"),
            Event::Disconnected {
                address, reason, ..
            } => {
                eprintln!("[*] disconnected: {address} ({reason})");
                break;
            }
            Event::GaveUp { target, reason, .. } => {
                return Err(format!("cannot connect to {target}: {reason}").into())
            }
            _ => {}
        }
    }
    remote.shutdown()?;
    Ok(())
}

/// Writes an item as the line it came as; an audio chunk, which is not a line, as a status line.
fn print_item(item: &Item<'_>) {
    match item {
        Item::AudioChunk(bytes) => eprintln!("[*] audio chunk: {} bytes", bytes.len()),
        line => println!("{line}"),
    }
}

fn parse_port(arg: Option<String>) -> Result<u16, String> {
    match arg {
        None => Ok(50001),
        Some(text) => text
            .parse()
            .map_err(|_| format!("not a port number: {text:?}")),
    }
}
