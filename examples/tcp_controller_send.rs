//! A controller that connects to an agent's TCP server, sends one message and closes.
//!
//! The library's version of the TCP/IP user guide's "Client Script Example: Sending" (the agent runs
//! with `Plugin_Remote_EnableServer=true`). The message is `MESSAGE|aaa|bbb` unless a third argument
//! gives another line. Status lines and the log go to standard error; it fails if it cannot connect
//! within five seconds.
//!
//! ```text
//! cargo run --example tcp_controller_send -- [HOST] [PORT] [LINE]    # default 127.0.0.1 50001
//! ```

use std::error::Error;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use mmdagent_remote::{encode, Config, Event, Item, Remote, TcpClientConfig};

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

fn run() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let host = args.next().unwrap_or_else(|| "127.0.0.1".to_owned());
    let port = parse_port(args.next())?;
    let line = args.next().unwrap_or_else(|| "MESSAGE|aaa|bbb".to_owned());
    let item = Item::from_line(line)?;
    // A line the wire cannot carry (one with a line break inside) is refused before connecting.
    encode(&item, &mut Vec::new())?;

    let mut config = Config::default();
    config.tcp_client = Some(TcpClientConfig::new(host, port));
    let remote = Remote::start(&config)?;
    wait_until_connected(&remote)?;
    remote.send(&item)?;
    // Shutting down writes what is queued before it closes the connection.
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

fn parse_port(arg: Option<String>) -> Result<u16, String> {
    match arg {
        None => Ok(50001),
        Some(text) => text
            .parse()
            .map_err(|_| format!("not a port number: {text:?}")),
    }
}
