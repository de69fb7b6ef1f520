//! `mmdagent-remote`: a headless Plugin_Remote.
//!
//! For now a small agent-side TCP server built on the crate's settings and codec: it reads the
//! `.mdf` files given as arguments (a TCP server on port 60001 when none configures one), accepts
//! controllers, and prints every item they send, one line each. The full command (client and
//! WebSocket modes, standard input, audio capture) is built on the library's transports.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::thread;

use mmdagent_remote::{Config, Item, LineDecoder, TcpServerConfig};

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let files: Vec<String> = std::env::args().skip(1).collect();
    if files.iter().any(|arg| arg == "--help" || arg == "-h") {
        println!("usage: mmdagent-remote [FILE.mdf]...\n\nServes controllers over TCP as MMDAgent-EX's Plugin_Remote does (port 60001 by default).");
        return ExitCode::SUCCESS;
    }
    let config = match Config::from_mdf_files(&files) {
        Ok(config) => config,
        Err(error) => {
            log::error!("{error}");
            return ExitCode::FAILURE;
        }
    };
    let server = config.tcp_server.clone().unwrap_or_default();
    match serve(&server, config.max_line_length) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            log::error!(
                "cannot serve on {}:{}: {error}",
                server.bind_address,
                server.port
            );
            ExitCode::FAILURE
        }
    }
}

fn serve(server: &TcpServerConfig, max_line_length: usize) -> io::Result<()> {
    let listener = TcpListener::bind((server.bind_address, server.port))?;
    log::info!("listening on {}", listener.local_addr()?);
    for stream in listener.incoming() {
        let stream = stream?;
        let peer = stream.peer_addr()?;
        thread::spawn(move || print_items(stream, peer, max_line_length));
    }
    Ok(())
}

fn print_items(mut stream: TcpStream, peer: SocketAddr, max_line_length: usize) {
    say(&format!("REMOTE_EVENT_CONNECTED|{}", peer.ip()));
    let mut decoder = LineDecoder::with_max_line_length(max_line_length);
    let mut buffer = vec![0; 8192];
    let mut show = |item: Result<Item<'_>, _>| match item {
        Ok(Item::Message(message)) => say(&message.to_string()),
        Ok(Item::Avatar(command)) => say(&command.to_string()),
        Ok(Item::AudioControl(control)) => say(control.name()),
        Ok(Item::RelayPeerDisconnected) => say("__peer_disconnected__"),
        Ok(Item::AudioChunk(_)) | Ok(_) => {}
        Err(error) => log::warn!("{peer}: {error}"),
    };
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => decoder.decode(&buffer[..read], &mut show),
            Err(error) => {
                log::warn!("{peer}: {error}");
                break;
            }
        }
    }
    decoder.finish(&mut show);
    say(&format!("REMOTE_EVENT_DISCONNECTED|{}", peer.ip()));
}

fn say(line: &str) {
    let mut stdout = io::stdout().lock();
    // A closed standard output (the reader went away) is not this program's error to report.
    let _ = writeln!(stdout, "{line}").and_then(|()| stdout.flush());
}
