//! A controller that is a TCP server: it waits for the agent to connect and prints every line the
//! agent sends.
//!
//! The library's version of the TCP/IP user guide's "Server Script Example: Receiving" (the agent
//! runs with `Plugin_Remote_EnableClient=true`). Received items go to standard output, one line each,
//! exactly as they came; status lines (`[*] listening on ...`, `[*] connected: ...`) and the log go to
//! standard error. Port 0 picks a free port, shown in the `listening` line. It runs until killed.
//!
//! ```text
//! cargo run --example tcp_server_receive -- [ADDRESS] [PORT]    # default 127.0.0.1 50001
//! ```

use std::error::Error;
use std::net::IpAddr;
use std::process::ExitCode;

use mmdagent_remote::{Config, Event, Item, Remote, TcpServerConfig};

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
    let address = args.next().unwrap_or_else(|| "127.0.0.1".to_owned());
    let address: IpAddr = address
        .parse()
        .map_err(|_| format!("not an IP address: {address:?}"))?;
    let port = parse_port(args.next())?;

    let mut server = TcpServerConfig::new(port);
    server.bind_address = address;
    let mut config = Config::default();
    config.tcp_server = Some(server);
    let remote = Remote::start(&config)?;
    if let Some(listening) = remote.local_addr() {
        eprintln!("[*] listening on {listening}");
    }
    for event in remote.events() {
        match event {
            Event::Connected { address, .. } => eprintln!("[*] connected: {address}"),
            Event::Item { item, .. } => print_item(&item),
            Event::DecodeError { error, .. } => eprintln!("[*] undecodable input: {error}"),
            Event::Disconnected {
                address, reason, ..
            } => eprintln!("[*] disconnected: {address} ({reason})"),
            _ => {}
        }
    }
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
