//! A controller that is a TCP server: it sends `MESSAGE|aaa|bbb` to each agent that connects, then
//! closes that connection.
//!
//! The library's version of the TCP/IP user guide's "Server Script Example: Sending" (the agent runs
//! with `Plugin_Remote_EnableClient=true`). Status lines (`[*] listening on ...`,
//! `[*] connected: ...`) and the log go to standard error. Port 0 picks a free port, shown in the
//! `listening` line. It runs until killed, or with `--once` exits after serving one agent.
//!
//! ```text
//! cargo run --example tcp_server_send -- [ADDRESS] [PORT] [--once]    # default 127.0.0.1 50001
//! ```

use std::error::Error;
use std::net::IpAddr;
use std::process::ExitCode;

use mmdagent_remote::{Config, Event, Item, Message, Remote, TcpServerConfig};

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
    let (flags, args): (Vec<String>, Vec<String>) = std::env::args()
        .skip(1)
        .partition(|arg| arg.starts_with("--"));
    let once = match flags.as_slice() {
        [] => false,
        [flag] if flag == "--once" => true,
        _ => return Err(format!("unknown options {flags:?}; the only option is --once").into()),
    };
    let mut args = args.into_iter();
    let address = args.next().unwrap_or_else(|| "127.0.0.1".to_owned());
    let address: IpAddr = address
        .parse()
        .map_err(|_| format!("not an IP address: {address:?}"))?;
    let port = parse_port(args.next())?;
    let message = Item::Message(Message::new("MESSAGE", "aaa|bbb"));

    let mut server = TcpServerConfig::new(port);
    server.bind_address = address;
    let mut config = Config::default();
    config.tcp_server = Some(server);
    let remote = Remote::start(&config)?;
    if let Some(listening) = remote.local_addr() {
        eprintln!("[*] listening on {listening}");
    }
    let mut served = None;
    for event in remote.events() {
        match event {
            Event::Connected { peer, address, .. } => {
                eprintln!("[*] connected: {address}");
                // The agent may already have left; that is worth a line, not the end of the server.
                if let Err(error) = remote.send_to(peer, &message) {
                    eprintln!("[*] cannot send to {address}: {error}");
                }
                if let Err(error) = remote.disconnect(peer) {
                    eprintln!("[*] cannot disconnect {address}: {error}");
                }
                served.get_or_insert(peer);
            }
            Event::Disconnected {
                peer,
                address,
                reason,
                ..
            } => {
                eprintln!("[*] disconnected: {address} ({reason})");
                if once && served == Some(peer) {
                    break;
                }
            }
            _ => {}
        }
    }
    remote.shutdown()?;
    Ok(())
}

fn parse_port(arg: Option<String>) -> Result<u16, String> {
    match arg {
        None => Ok(50001),
        Some(text) => text
            .parse()
            .map_err(|_| format!("not a port number: {text:?}")),
    }
}
