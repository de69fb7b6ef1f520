//! A library thread that panics must not leave a registered dead peer, an unjoined thread or a host
//! that was not told. These tests make each kind of thread panic through the private fault seam.

use std::io::Read;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::config::{Config, TcpServerConfig};
use crate::hub::fault::{FaultPoint, Faults};
use crate::hub::{DisconnectReason, Event, HostOptions, Transport};
use crate::{Error, Remote};

const WAIT: Duration = Duration::from_secs(10);

fn server_with_fault(point: FaultPoint) -> Remote {
    let options = HostOptions {
        faults: Faults::panic_at(point),
        ..HostOptions::default()
    };
    let mut config = Config::default();
    let mut server = TcpServerConfig::new(0);
    server.bind_address = "127.0.0.1".parse().unwrap();
    config.tcp_server = Some(server);
    Remote::start_with(&config, options).unwrap()
}

fn next(remote: &Remote, what: &str, wanted: impl Fn(&Event) -> bool) -> Event {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match remote.recv_timeout(left) {
            Ok(event) if wanted(&event) => return event,
            Ok(_) => continue,
            Err(error) => panic!("no {what}: {error}"),
        }
    }
}

fn panicked_threads(remote: Remote) -> String {
    match remote.shutdown() {
        Err(Error::ThreadPanicked(names)) => names,
        other => panic!("shutdown should report the panic, got {other:?}"),
    }
}

/// Waits for the next `Disconnected` and returns its reason.
fn disconnect_reason(remote: &Remote) -> DisconnectReason {
    let ended = next(remote, "Disconnected", |event| {
        matches!(event, Event::Disconnected { .. })
    });
    let Event::Disconnected { reason, .. } = ended else {
        unreachable!()
    };
    reason
}

/// Checks the far end closed `socket` rather than leaving it open.
fn socket_is_closed(mut socket: TcpStream) {
    socket.set_read_timeout(Some(WAIT)).unwrap();
    let mut rest = Vec::new();
    assert!(
        socket.read_to_end(&mut rest).is_ok(),
        "the socket should be closed, not left open"
    );
}

/// Checks the peer is gone everywhere the host can look, and its socket was closed.
fn peer_is_gone(remote: &Remote, socket: TcpStream) {
    assert!(remote.peers().is_empty());
    assert_eq!(remote.stats().peers, 0);
    socket_is_closed(socket);
}

#[test]
fn a_reader_that_panics_unregisters_its_peer_and_reports_it() {
    let remote = server_with_fault(FaultPoint::Reader);
    let socket = TcpStream::connect(remote.local_addr().unwrap()).unwrap();
    next(&remote, "Connected", |event| {
        matches!(event, Event::Connected { .. })
    });
    let reason = disconnect_reason(&remote);
    assert!(
        matches!(&reason, DisconnectReason::ReadFailed(why) if why.contains("reader failed")),
        "{reason:?}"
    );
    peer_is_gone(&remote, socket);
    assert!(panicked_threads(remote).contains("mdr-r"));
}

#[test]
fn a_writer_that_panics_ends_its_connection_and_reports_it() {
    let remote = server_with_fault(FaultPoint::Writer);
    let socket = TcpStream::connect(remote.local_addr().unwrap()).unwrap();
    let reason = disconnect_reason(&remote);
    assert!(
        matches!(&reason, DisconnectReason::WriteFailed(why) if why.contains("writer failed")),
        "{reason:?}"
    );
    peer_is_gone(&remote, socket);
    // The session joined the writer before it reported the disconnect.
    assert!(panicked_threads(remote).contains("mdr-w"));
}

#[test]
fn a_client_writer_that_panics_on_its_standing_thread_ends_its_connection_and_reports_it() {
    use crate::config::TcpClientConfig;
    use std::net::TcpListener;

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let options = HostOptions {
        faults: Faults::panic_at(FaultPoint::Writer),
        ..HostOptions::default()
    };
    let config = Config {
        tcp_client: Some(TcpClientConfig::new("127.0.0.1", port)),
        ..Config::default()
    };
    let remote = Remote::start_with(&config, options).unwrap();
    next(&remote, "Connected", |event| {
        matches!(event, Event::Connected { .. })
    });
    // The client is connected, so its connection waits in the backlog.
    let (socket, _) = listener.accept().unwrap();
    let reason = disconnect_reason(&remote);
    assert!(
        matches!(&reason, DisconnectReason::WriteFailed(why) if why.contains("writer failed")),
        "{reason:?}"
    );
    socket_is_closed(socket);
    // The standing thread died with the loop; it is joined, and its panic reported, at shutdown.
    assert!(panicked_threads(remote).contains("mdr-writer"));
}

#[test]
fn an_acceptor_that_panics_tells_the_host_its_transport_stopped() {
    let remote = server_with_fault(FaultPoint::Acceptor);
    let _socket = TcpStream::connect(remote.local_addr().unwrap()).unwrap();
    let stopped = next(&remote, "TransportStopped", |event| {
        matches!(event, Event::TransportStopped { .. })
    });
    assert!(matches!(
        stopped,
        Event::TransportStopped {
            transport: Transport::TcpServer,
            ..
        }
    ));
    assert!(remote.peers().is_empty());
    assert!(panicked_threads(remote).contains("mdr-accept"));
}

#[test]
fn shutdown_is_prompt_while_a_client_waits_for_a_lookup_that_never_answers() {
    use std::sync::atomic::Ordering;

    use crate::config::TcpClientConfig;
    use crate::transport::connect::{NEVER_RESOLVED, NEVER_RESOLVED_LOOKUPS};

    let before = NEVER_RESOLVED_LOOKUPS.load(Ordering::SeqCst);
    let config = Config {
        tcp_client: Some(TcpClientConfig::new(NEVER_RESOLVED, 50001)),
        ..Config::default()
    };
    let remote = Remote::start(&config).unwrap();
    let deadline = Instant::now() + WAIT;
    while NEVER_RESOLVED_LOOKUPS.load(Ordering::SeqCst) == before {
        assert!(
            Instant::now() < deadline,
            "the client never started its lookup"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let started = Instant::now();
    remote.shutdown().unwrap();
    // It takes well under a millisecond (the 50 ms goal is the benchmark's); a second is far
    // shorter than the lookup it must not wait for, which never ends.
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "shutdown took {took:?}");
}
