//! The WebSocket user guide's Example 2 on threads: a server that prints what the agent sends and
//! sends it `TEST_MESSAGE` every 2 seconds. Where the guide uses two async tasks, this uses the
//! main thread for receiving and one more thread for sending; the library makes each send a text
//! frame ending in a newline, as the agent requires.
//!
//! ```text
//! cargo run --example websocket_send_receive -- [PORT] [PATH]     # defaults: 9001 /chat
//! ```

use std::time::Duration;

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

    std::thread::scope(|scope| {
        scope.spawn(|| loop {
            std::thread::sleep(Duration::from_secs(2));
            // With no agent connected the message is dropped (and counted), as the agent does.
            if remote.send_message("TEST_MESSAGE", "").is_err() {
                return;
            }
        });
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
    });
    Ok(())
}
