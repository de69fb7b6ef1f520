//! Making a TCP connection that shutting down can interrupt.
//!
//! A host name is resolved to all its addresses, IPv4 and IPv6, tried in the resolver's order. The
//! standard library's connect cannot be interrupted, so an attempt to an address that does not
//! answer is made in slices, each a fresh attempt, and the stop signal is looked at between them.
//! The slices grow from 250 ms to 800 ms: short ones keep shutting down prompt, and growing ones let
//! a server whose answer takes longer than the first slice (a distant relay, a satellite link at
//! about 600 ms) be reached, as an answer that comes after its slice has ended reaches a closed
//! socket. Shutting down waits at most 800 ms for an attempt to a host that does not answer, so the
//! command still exits within a second of the end of its input.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::hub::StopSignal;

/// The first and the longest slice of a connection attempt.
const FIRST_SLICE: Duration = Duration::from_millis(250);
const LONGEST_SLICE: Duration = Duration::from_millis(800);

/// `Instant::now() + timeout`, or far in the future for a timeout too long to add (`Duration::MAX`
/// as "no timeout").
pub(crate) fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600))
}

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
    let deadline = deadline_after(timeout);
    let mut slice = FIRST_SLICE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match TcpStream::connect_timeout(&address, left.min(slice).max(Duration::from_millis(1))) {
            Err(error)
                if error.kind() == std::io::ErrorKind::TimedOut
                    && !left.is_zero()
                    && !stop.is_stopped() =>
            {
                slice = (slice * 2).min(LONGEST_SLICE);
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
