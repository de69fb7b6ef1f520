//! Making a TCP connection that shutting down can interrupt.
//!
//! A host name is resolved to all its addresses, IPv4 and IPv6, tried in the resolver's order. An
//! attempt to an address that does not answer is made in short slices, each a fresh attempt, so the
//! stop signal is seen between them: the standard library's connect cannot be interrupted, and
//! waiting for it would make shutting down as slow as the connect timeout.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::host::StopSignal;

/// The longest a connection attempt blocks before it looks at the stop signal.
const CONNECT_SLICE: Duration = Duration::from_millis(250);

/// One attempt at `host:port`: every address the host resolves to, IPv4 and IPv6, in the resolver's order.
pub(crate) fn dial(
    host: &str,
    port: u16,
    timeout: Duration,
    stop: &StopSignal,
) -> Result<TcpStream, String> {
    let addresses: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|error| format!("cannot resolve {}: {error}", host))?
        .collect();
    let mut failures = Vec::new();
    for address in addresses {
        match connect_unless_stopped(address, timeout, stop) {
            // With nothing listening on a local port, the kernel can pick that same port as the
            // source and connect the socket to itself; retrying forever makes it likely.
            Ok(stream) if is_connected_to_itself(&stream) => failures.push(format!(
                "{address}: nothing listens there (the socket connected to itself)"
            )),
            Ok(stream) => return Ok(stream),
            Err(error) => failures.push(format!("{address}: {error}")),
        }
        if stop.is_stopped() {
            break;
        }
    }
    if failures.is_empty() {
        return Err(format!("{} resolves to no address", host));
    }
    Err(failures.join("; "))
}

fn connect_unless_stopped(
    address: SocketAddr,
    timeout: Duration,
    stop: &StopSignal,
) -> std::io::Result<TcpStream> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match TcpStream::connect_timeout(
            &address,
            left.min(CONNECT_SLICE).max(Duration::from_millis(1)),
        ) {
            Err(error)
                if error.kind() == std::io::ErrorKind::TimedOut
                    && !left.is_zero()
                    && !stop.is_stopped() =>
            {
                continue
            }
            result => return result,
        }
    }
}

fn is_connected_to_itself(stream: &TcpStream) -> bool {
    matches!((stream.local_addr(), stream.peer_addr()), (Ok(local), Ok(peer)) if local == peer)
}

/// `host:port`, with an IPv6 address in brackets.
pub(crate) fn display_target(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}
