//! The WebSocket user guide's Example 1 on threads: a server that prints what the agent sends.
//!
//! Start it, then start MMDAgent-EX with `examples/websocket.mdf` (or run
//! `cargo run -- examples/websocket.mdf`, which connects the same way):
//!
//! ```text
//! cargo run --example websocket_receive -- [PORT] [PATH]     # defaults: 9001 /chat
//! ```

use mmdagent_remote::{Config, Event, Item, Remote, WebSocketServerConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let mut arguments = std::env::args().skip(1);
    let port = arguments.next().map_or(Ok(9001), |port| port.parse())?;
    let path = arguments.next().unwrap_or_else(|| "/chat".to_owned());

    let mut server = WebSocketServerConfig::new(port);
    server.path = Some(path);
    let mut config = Config::default();
    config.websocket_server = Some(server);
    let remote = Remote::start(&config)?;

    for event in remote.events() {
        match event {
            Event::Connected { address, .. } => println!("connected: {address}"),
            Event::Item {
                item: Item::Message(message),
                ..
            } => println!("Received message: {message}"),
            Event::Disconnected {
                address, reason, ..
            } => println!("disconnected: {address} ({reason})"),
            _ => {}
        }
    }
    Ok(())
}
