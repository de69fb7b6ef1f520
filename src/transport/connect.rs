//! Making a TCP connection that the stop signal interrupts at once, name resolution included.
//!
//! This module owns turning `host:port` into one connected `TcpStream` within one timeout; it does
//! not retry, log, or serve the connection (the transports do), and it must never keep its caller
//! waiting after the stop signal. Neither the system resolver nor the standard library's connect
//! can be interrupted, so each runs on a short-lived thread of its own that hands its result over a
//! channel, and the caller waits on that channel, the stop signal and the deadline together. When
//! the caller stops waiting it walks away: the thread is left behind, finishes when its own call
//! returns, fails to send, and drops its result (a stream it made is closed). These are the only
//! threads the library does not join. Each holds nothing of the caller's (an owned copy of the
//! name or address and the sending end of its channel), and each ends on its own: a connect within
//! the time it was given, a lookup within the system resolver's own timeouts (`timeout` and
//! `attempts` in `/etc/resolv.conf` on glibc), so a client retrying against a dead name server
//! holds at most about one lookup per retry in that time.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, TryRecvError};

/// The names of the threads a lookup and a connect run on: the only library threads that may be
/// left running, each for at most its own call's time, after the host has shut down.
pub(crate) const LOOKUP_THREAD: &str = "mdr-lookup";
pub(crate) const DIAL_THREAD: &str = "mdr-dial";

/// What a connection attempt failed on, in words for the log and for `Event::GaveUp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ConnectError {
    /// The stop signal fired.
    Stopped,
    /// Resolution failed or timed out, or every address failed: each address and why, joined with
    /// `"; "`.
    Failed(String),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Stopped => f.write_str("stopped"),
            ConnectError::Failed(reason) => f.write_str(reason),
        }
    }
}

/// Resolves `host:port` and connects to its addresses in the resolver's order (IPv4 and IPv6),
/// each attempt allowed the time left of `timeout`; the whole call, resolution included, is
/// bounded by `timeout`.
///
/// Returns [`ConnectError::Stopped`] at once when `stop` is disconnected (its sender is dropped to
/// stop; nothing is ever sent on it). An IP address (brackets already stripped) is not resolved.
pub(crate) fn connect(
    host: &str,
    port: u16,
    timeout: Duration,
    stop: &Receiver<()>,
) -> Result<TcpStream, ConnectError> {
    #[cfg(test)]
    if host == NEVER_RESOLVED {
        return connect_with(host, port, timeout, stop, resolve_never);
    }
    connect_with(host, port, timeout, stop, resolve_with_system)
}

/// A host name whose lookup never answers, in the unit tests only, so that tests of the whole
/// library can stand on a resolver that hangs (`.test` is reserved: no real name is shadowed).
#[cfg(test)]
pub(crate) const NEVER_RESOLVED: &str = "never-resolved.test";

/// Lookups of [`NEVER_RESOLVED`] under way, for tests to wait on.
#[cfg(test)]
pub(crate) static NEVER_RESOLVED_LOOKUPS: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(0);

#[cfg(test)]
fn resolve_never(_: String, _: u16) -> io::Result<Vec<SocketAddr>> {
    NEVER_RESOLVED_LOOKUPS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    // A lookup stuck in the system resolver: this thread is left behind, as a real one would be.
    loop {
        thread::park();
    }
}

/// `host:port`, with an IPv6 address in brackets.
pub(crate) fn display_target(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// `Instant::now() + timeout`, or far in the future for a timeout too long to add (`Duration::MAX`
/// as "no timeout").
pub(crate) fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600))
}

fn resolve_with_system(host: String, port: u16) -> io::Result<Vec<SocketAddr>> {
    Ok((host.as_str(), port).to_socket_addrs()?.collect())
}

/// [`connect`] with the resolver as a parameter, so tests can give it one that never answers.
fn connect_with<R>(
    host: &str,
    port: u16,
    timeout: Duration,
    stop: &Receiver<()>,
    resolve: R,
) -> Result<TcpStream, ConnectError>
where
    R: FnOnce(String, u16) -> io::Result<Vec<SocketAddr>> + Send + 'static,
{
    let deadline = deadline_after(timeout);
    let given_as_address = host.parse::<IpAddr>().ok();
    let addresses = match given_as_address {
        Some(ip) => vec![SocketAddr::new(ip, port)],
        None => {
            let name = host.to_owned();
            match on_own_thread(LOOKUP_THREAD, move || resolve(name, port), deadline, stop) {
                Ok(Ok(addresses)) => addresses,
                Ok(Err(error)) => return Err(failed(format!("cannot resolve {host}: {error}"))),
                Err(Unanswered::Stopped) => return Err(ConnectError::Stopped),
                Err(Unanswered::TimedOut) => {
                    return Err(failed(format!(
                        "cannot resolve {host}: timed out after {timeout:?}"
                    )))
                }
                Err(Unanswered::NoThread(reason)) => {
                    return Err(failed(format!("cannot resolve {host}: {reason}")))
                }
            }
        }
    };
    if addresses.is_empty() {
        return Err(failed(format!("{host} resolves to no address")));
    }
    // Each address tried, and why it failed.
    let mut failures: Vec<(SocketAddr, String)> = Vec::new();
    for address in addresses {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            failures.push((
                address,
                "not tried, the connect timeout had run out".to_owned(),
            ));
            continue;
        }
        let attempt = move || TcpStream::connect_timeout(&address, left);
        match on_own_thread(DIAL_THREAD, attempt, deadline, stop) {
            // With nothing listening on a local port, the kernel can pick that same port as the
            // source and connect the socket to itself; retrying forever makes it likely.
            Ok(Ok(stream)) if is_connected_to_itself(&stream) => failures.push((
                address,
                "nothing listens there (the socket connected to itself)".to_owned(),
            )),
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(error)) => failures.push((address, error.to_string())),
            Err(Unanswered::Stopped) => return Err(ConnectError::Stopped),
            Err(Unanswered::TimedOut) => {
                failures.push((address, "connection timed out".to_owned()))
            }
            Err(Unanswered::NoThread(reason)) => failures.push((address, reason)),
        }
    }
    // An address given as such is already in the message that reports this; a name's addresses
    // are not, and each is said with its own failure.
    if given_as_address.is_some() {
        if let [(_, reason)] = &mut failures[..] {
            return Err(failed(std::mem::take(reason)));
        }
    }
    let failures: Vec<String> = failures
        .iter()
        .map(|(address, reason)| format!("{address}: {reason}"))
        .collect();
    Err(failed(failures.join("; ")))
}

fn failed(reason: String) -> ConnectError {
    ConnectError::Failed(reason)
}

/// Why [`on_own_thread`] gave no result.
enum Unanswered {
    Stopped,
    TimedOut,
    /// The thread could not be started, or ended without answering.
    NoThread(String),
}

/// Runs `work` on a new thread and waits for its result, the stop signal or the deadline, whichever
/// comes first; in the last two cases the thread is left behind (see the module docs).
fn on_own_thread<T, W>(
    name: &str,
    work: W,
    deadline: Instant,
    stop: &Receiver<()>,
) -> Result<T, Unanswered>
where
    T: Send + 'static,
    W: FnOnce() -> T + Send + 'static,
{
    if is_stopped(stop) {
        return Err(Unanswered::Stopped);
    }
    // Capacity for the one result, so the thread's send never waits for a caller that has gone.
    let (result_sender, result) = crossbeam_channel::bounded(1);
    thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let _ = result_sender.send(work());
        })
        .map_err(|error| Unanswered::NoThread(format!("cannot start a thread: {error}")))?;
    crossbeam_channel::select! {
        recv(result) -> answer => match answer {
            // `select!` picks at random among ready channels; stopping must win every time.
            Ok(_) if is_stopped(stop) => Err(Unanswered::Stopped),
            Ok(value) => Ok(value),
            Err(_) => {
                Err(Unanswered::NoThread(format!("the {name} thread ended without an answer")))
            }
        },
        recv(stop) -> _ => Err(Unanswered::Stopped),
        recv(crossbeam_channel::at(deadline)) -> _ => Err(Unanswered::TimedOut),
    }
}

fn is_stopped(stop: &Receiver<()>) -> bool {
    matches!(stop.try_recv(), Err(TryRecvError::Disconnected))
}

fn is_connected_to_itself(stream: &TcpStream) -> bool {
    matches!((stream.local_addr(), stream.peer_addr()), (Ok(local), Ok(peer)) if local == peer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossbeam_channel::{bounded, Sender};
    use std::net::TcpListener;

    /// How long a test waits for something that should happen at once before failing.
    const PATIENCE: Duration = Duration::from_secs(10);
    /// How soon `connect` must return after the stop signal here: far longer than it takes (well
    /// under a millisecond; the 50 ms goal is the benchmark's to measure), far shorter than the
    /// stuck call it must not wait for, so a loaded machine cannot make the test flaky.
    const PROMPT: Duration = Duration::from_secs(1);

    /// Runs `connect_with` on a thread; the receiver yields its result and when it returned.
    fn connect_in_background<R>(
        host: &str,
        port: u16,
        timeout: Duration,
        stop: Receiver<()>,
        resolve: R,
    ) -> Receiver<(Result<TcpStream, ConnectError>, Instant)>
    where
        R: FnOnce(String, u16) -> io::Result<Vec<SocketAddr>> + Send + 'static,
    {
        let (done, finished) = bounded(1);
        let host = host.to_owned();
        thread::spawn(move || {
            let result = connect_with(&host, port, timeout, &stop, resolve);
            let _ = done.send((result, Instant::now()));
        });
        finished
    }

    fn unreachable_resolver(host: String, _port: u16) -> io::Result<Vec<SocketAddr>> {
        panic!("{host} is an address and must not be resolved")
    }

    /// A resolver that never answers until the returned sender is dropped, and says when it has
    /// been called.
    #[allow(clippy::type_complexity)] // a closure type and two channel ends, named once here
    fn stuck_resolver() -> (
        impl FnOnce(String, u16) -> io::Result<Vec<SocketAddr>> + Send + 'static,
        Receiver<()>,
        Sender<()>,
    ) {
        let (release, held) = bounded::<()>(0);
        let (called, was_called) = bounded(1);
        let resolve = move |_host: String, _port: u16| {
            let _ = called.send(());
            let _ = held.recv();
            Err(io::Error::other("released at the end of the test"))
        };
        (resolve, was_called, release)
    }

    fn assert_connected_to(listener: &TcpListener, host: &str) {
        let target = listener.local_addr().unwrap();
        let (_stop, stop_signal) = bounded::<()>(0);
        let stream = connect_with(
            host,
            target.port(),
            PATIENCE,
            &stop_signal,
            unreachable_resolver,
        )
        .expect("connects");
        assert_eq!(stream.peer_addr().unwrap(), target);
        let (_, accepted_from) = listener.accept().unwrap();
        assert_eq!(accepted_from, stream.local_addr().unwrap());
    }

    #[test]
    fn connects_to_an_ipv4_address_without_resolving_it() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        assert_connected_to(&listener, "127.0.0.1");
    }

    #[test]
    fn connects_to_an_ipv6_address_without_resolving_it() {
        let listener = match TcpListener::bind("[::1]:0") {
            Ok(listener) => listener,
            Err(error) => {
                eprintln!("skipped: cannot listen on [::1] ({error})");
                return;
            }
        };
        assert_connected_to(&listener, "::1");
    }

    #[test]
    fn connects_to_localhost_through_the_system_resolver() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (_stop, stop_signal) = bounded::<()>(0);
        let stream = connect("localhost", port, PATIENCE, &stop_signal).expect("connects");
        // "localhost" may resolve to ::1 first, refused here, and then to 127.0.0.1.
        let peer = stream.peer_addr().unwrap();
        assert!(peer.ip().is_loopback() && peer.port() == port, "{peer}");
    }

    #[test]
    fn a_name_whose_addresses_all_fail_says_which_failed_how() {
        let refused_port = || {
            TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        };
        let addresses: Vec<SocketAddr> = [refused_port(), refused_port()]
            .map(|port| SocketAddr::from(([127, 0, 0, 1], port)))
            .into();
        let resolved = addresses.clone();
        let (_stop, stop_signal) = bounded::<()>(0);
        let finished =
            connect_in_background("agent.test", 1, PATIENCE, stop_signal, move |_, _| {
                Ok(resolved)
            });
        let (result, _) = finished.recv_timeout(PATIENCE).expect("returns");
        let ConnectError::Failed(reason) = result.unwrap_err() else {
            panic!("expected a failure");
        };
        for address in addresses {
            assert!(reason.contains(&format!("{address}: ")), "{reason}");
        }
    }

    #[test]
    fn a_refused_port_fails_without_repeating_the_address_it_was_given() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let (_stop, stop_signal) = bounded::<()>(0);
        let error = connect("127.0.0.1", port, PATIENCE, &stop_signal).unwrap_err();
        let ConnectError::Failed(reason) = error else {
            panic!("expected a failure, got {error:?}");
        };
        // The address is in the event and the log line that report this, beside the reason.
        assert!(!reason.contains(&format!("127.0.0.1:{port}")), "{reason}");
        assert!(
            reason.contains("refused") || reason.contains("connected to itself"),
            "{reason}"
        );
    }

    #[test]
    fn every_address_that_fails_is_named() {
        let ports: Vec<u16> = (0..2)
            .map(|_| {
                let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                listener.local_addr().unwrap().port()
            })
            .collect();
        let addresses: Vec<SocketAddr> = ports
            .iter()
            .map(|&port| SocketAddr::from(([127, 0, 0, 1], port)))
            .collect();
        let resolved = addresses.clone();
        let (_stop, stop_signal) = bounded::<()>(0);
        let error = connect_with("two.test", 1, PATIENCE, &stop_signal, move |_, _| {
            Ok(resolved)
        })
        .unwrap_err();
        let ConnectError::Failed(reason) = error else {
            panic!("expected a failure, got {error:?}");
        };
        let parts: Vec<&str> = reason.split("; ").collect();
        assert_eq!(parts.len(), 2, "{reason}");
        for (part, address) in parts.iter().zip(&addresses) {
            assert!(part.starts_with(&format!("{address}: ")), "{reason}");
        }
    }

    #[test]
    fn a_resolver_error_and_an_empty_answer_fail() {
        let (_stop, stop_signal) = bounded::<()>(0);
        let error = connect_with("bad.test", 1, PATIENCE, &stop_signal, |_, _| {
            Err(io::Error::other("no such host"))
        })
        .unwrap_err();
        assert_eq!(
            error,
            failed("cannot resolve bad.test: no such host".to_owned())
        );
        let error = connect_with("empty.test", 1, PATIENCE, &stop_signal, |_, _| {
            Ok(Vec::new())
        })
        .unwrap_err();
        assert_eq!(
            error,
            failed("empty.test resolves to no address".to_owned())
        );
    }

    #[test]
    fn an_earlier_stop_returns_at_once_without_resolving() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let (stop, stop_signal) = bounded::<()>(0);
        drop(stop);
        let port = listener.local_addr().unwrap().port();
        let result = connect_with(
            "127.0.0.1",
            port,
            PATIENCE,
            &stop_signal,
            unreachable_resolver,
        );
        assert_eq!(result.unwrap_err(), ConnectError::Stopped);
        let (resolve, was_called, _release) = stuck_resolver();
        let finished = connect_in_background("stuck.test", port, PATIENCE, stop_signal, resolve);
        let (result, _) = finished.recv_timeout(PATIENCE).expect("returns");
        assert_eq!(result.unwrap_err(), ConnectError::Stopped);
        assert!(was_called.try_recv().is_err(), "resolved after the stop");
    }

    #[test]
    fn a_resolver_that_never_answers_is_left_behind_on_stop() {
        // Several rounds, as a slow wake-up on a loaded machine would show only now and then.
        for round in 0..5 {
            let (resolve, was_called, _release) = stuck_resolver();
            let (stop, stop_signal) = bounded::<()>(0);
            let finished = connect_in_background("stuck.test", 80, PATIENCE, stop_signal, resolve);
            was_called
                .recv_timeout(PATIENCE)
                .expect("the resolver was called");
            assert!(finished.try_recv().is_err(), "returned before the stop");
            let stopped_at = Instant::now();
            drop(stop);
            let (result, returned_at) = finished.recv_timeout(PATIENCE).expect("returns");
            assert_eq!(result.unwrap_err(), ConnectError::Stopped);
            let took = returned_at.duration_since(stopped_at);
            assert!(
                took < PROMPT,
                "round {round}: returned {took:?} after the stop"
            );
        }
    }

    #[test]
    fn a_resolver_that_never_answers_times_out() {
        let (resolve, _was_called, _release) = stuck_resolver();
        let (_stop, stop_signal) = bounded::<()>(0);
        let timeout = Duration::from_millis(300);
        let started = Instant::now();
        let finished = connect_in_background("stuck.test", 80, timeout, stop_signal, resolve);
        let (result, returned_at) = finished.recv_timeout(PATIENCE).expect("returns");
        let took = returned_at.duration_since(started);
        assert_eq!(
            result.unwrap_err(),
            failed("cannot resolve stuck.test: timed out after 300ms".to_owned())
        );
        assert!(took >= timeout && took < timeout * 3, "took {took:?}");
    }

    /// A listener that answers no connection: on Linux a SYN to a listener whose accept queue is
    /// full is dropped, so a connect to it hangs as one to a host that does not answer. The
    /// listener never accepts, and is filled (backlog + 1 connections, 129 for std's 128) until a
    /// loopback connect, which otherwise completes in microseconds, times out. The fillers are
    /// returned to be kept open.
    #[cfg(target_os = "linux")]
    fn listener_that_answers_nothing() -> (TcpListener, Vec<TcpStream>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let target = listener.local_addr().unwrap();
        let mut fillers = Vec::new();
        while fillers.len() < 10_000 {
            match TcpStream::connect_timeout(&target, Duration::from_millis(100)) {
                Ok(stream) => fillers.push(stream),
                Err(error) if error.kind() == io::ErrorKind::TimedOut => {
                    return (listener, fillers)
                }
                Err(error) => panic!("filling the backlog: {error}"),
            }
        }
        panic!("the backlog never filled");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_connect_that_is_not_answered_is_left_behind_on_stop() {
        let (listener, _fillers) = listener_that_answers_nothing();
        let port = listener.local_addr().unwrap().port();
        for round in 0..3 {
            let (stop, stop_signal) = bounded::<()>(0);
            let finished = connect_in_background(
                "127.0.0.1",
                port,
                PATIENCE,
                stop_signal,
                unreachable_resolver,
            );
            // Not a pause to synchronise: the check that the attempt really hangs.
            assert!(
                finished.recv_timeout(Duration::from_millis(200)).is_err(),
                "round {round}: the full listener answered"
            );
            let stopped_at = Instant::now();
            drop(stop);
            let (result, returned_at) = finished.recv_timeout(PATIENCE).expect("returns");
            assert_eq!(result.unwrap_err(), ConnectError::Stopped);
            let took = returned_at.duration_since(stopped_at);
            assert!(
                took < PROMPT,
                "round {round}: returned {took:?} after the stop"
            );
        }
    }

    /// One attempt lives through the whole timeout rather than a slice of it. The attempt's first
    /// SYN, at 0, is dropped by the full listener; a slot is made at 600 ms by accepting one
    /// filler; the kernel retransmits the SYN after its initial retransmission timeout of 1 s, and
    /// that one is answered, so the connection is made at about 1 s of the 1.2 s timeout. An
    /// attempt cut short before 1 s never sees that retransmission: a fresh SYN sent after 600 ms
    /// connects at once, before 950 ms (connecting in 250-800 ms slices sent one at 750 ms), and one sent before
    /// 600 ms is dropped and retransmitted only after the timeout. The accept can be up to 400 ms
    /// late and the attempt's first SYN up to 600 ms late without changing the outcome.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_slow_answer_is_waited_for_until_the_timeout() {
        let (listener, _fillers) = listener_that_answers_nothing();
        let port = listener.local_addr().unwrap().port();
        let (_stop, stop_signal) = bounded::<()>(0);
        let timeout = Duration::from_millis(1200);
        let started = Instant::now();
        let finished = connect_in_background(
            "127.0.0.1",
            port,
            timeout,
            stop_signal,
            unreachable_resolver,
        );
        // The sleep paces the scenario (when the slot opens); nothing waits on it to be ready.
        thread::sleep(Duration::from_millis(600));
        let _accepted = listener.accept().unwrap();
        let (result, returned_at) = finished.recv_timeout(PATIENCE).expect("returns");
        let took = returned_at.duration_since(started);
        let stream = result.expect("connects on the retransmitted SYN");
        assert_eq!(stream.peer_addr().unwrap().port(), port);
        assert!(
            took >= Duration::from_millis(950) && took < timeout,
            "connected after {took:?}"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_connect_that_is_not_answered_fails_at_the_timeout() {
        let (listener, _fillers) = listener_that_answers_nothing();
        let port = listener.local_addr().unwrap().port();
        let (_stop, stop_signal) = bounded::<()>(0);
        let timeout = Duration::from_millis(1200);
        let started = Instant::now();
        let finished = connect_in_background(
            "127.0.0.1",
            port,
            timeout,
            stop_signal,
            unreachable_resolver,
        );
        let (result, returned_at) = finished.recv_timeout(PATIENCE).expect("returns");
        let took = returned_at.duration_since(started);
        let ConnectError::Failed(reason) = result.unwrap_err() else {
            panic!("expected a failure");
        };
        assert!(!reason.contains(&format!("127.0.0.1:{port}")), "{reason}");
        assert!(reason.contains("timed out"), "{reason}");
        assert!(
            took >= timeout && took < timeout * 2,
            "failed after {took:?}"
        );
    }
}
