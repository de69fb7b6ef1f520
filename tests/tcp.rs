//! The TCP transports over real loopback sockets: both directions in server and client mode, per-peer
//! framing, the peer limit, slow peers, reconnection, retries, IPv6, and exactly-once delivery.

mod support;

use std::io::Write;
use std::net::{Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use mmdagent_remote::{
    Config, DisconnectReason, Event, HostOptions, Item, Message, Remote, RetryLimit, RetryPolicy,
    TcpClientConfig, TcpServerConfig, Transport,
};
use support::{accept, message, next_message, wait_for, LineReader, WAIT};

fn local_server_config() -> Config {
    let mut server = TcpServerConfig::new(0);
    server.bind_address = "127.0.0.1".parse().unwrap();
    let mut config = Config::default();
    config.tcp_server = Some(server);
    config
}

fn start_server() -> (Remote, SocketAddr) {
    let remote = Remote::start(&local_server_config()).expect("server starts");
    let address = remote.local_addr().expect("server address");
    (remote, address)
}

fn client_config(address: SocketAddr, retries: RetryLimit) -> Config {
    let mut client = TcpClientConfig::new(address.ip().to_string(), address.port());
    client.retry = RetryPolicy::new(retries);
    client.retry.interval = Duration::from_millis(50);
    let mut config = Config::default();
    config.tcp_client = Some(client);
    config
}

/// Connects a controller to `address` and waits until the server has registered it.
fn connect_controller(remote: &Remote, address: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(address).expect("connect");
    wait_for(remote, "the controller to connect", |event| match event {
        Event::Connected { address: peer, .. } if *peer == stream.local_addr().unwrap() => Some(()),
        _ => None,
    });
    stream
}

#[test]
fn server_mode_carries_messages_both_ways() {
    let (remote, address) = start_server();
    let mut controller = connect_controller(&remote, address);
    controller.write_all(b"MESSAGE|aaa|bbb\n").unwrap();
    assert_eq!(next_message(&remote), "MESSAGE|aaa|bbb");
    assert_eq!(
        remote.send(&message("SPEAK_START", "mei|hello")).unwrap(),
        1
    );
    assert_eq!(LineReader::new(&controller).line(), "SPEAK_START|mei|hello");
}

#[test]
fn connect_and_disconnect_events_name_the_peer() {
    let (remote, address) = start_server();
    let controller = TcpStream::connect(address).unwrap();
    let local = controller.local_addr().unwrap();
    let (peer, _) = wait_for(&remote, "Connected", |event| match event {
        Event::Connected {
            peer,
            address,
            transport: Transport::TcpServer,
        } if *address == local => Some(*peer),
        _ => None,
    });
    drop(controller);
    let (reason, _) = wait_for(&remote, "Disconnected", |event| match event {
        Event::Disconnected {
            peer: gone,
            address,
            transport: Transport::TcpServer,
            reason,
        } if *gone == peer && *address == local => Some(reason.clone()),
        _ => None,
    });
    assert_eq!(reason, DisconnectReason::ClosedByPeer);
}

#[test]
fn client_mode_carries_messages_both_ways() {
    let controller_server = TcpListener::bind("127.0.0.1:0").unwrap();
    let remote = Remote::start(&client_config(
        controller_server.local_addr().unwrap(),
        RetryLimit::Attempts(0),
    ))
    .unwrap();
    let mut agent = accept(&controller_server);
    wait_for(&remote, "Connected", |event| {
        matches!(
            event,
            Event::Connected {
                transport: Transport::TcpClient,
                ..
            }
        )
        .then_some(())
    });
    assert_eq!(remote.send(&message("MESSAGE", "from|agent")).unwrap(), 1);
    assert_eq!(LineReader::new(&agent).line(), "MESSAGE|from|agent");
    agent.write_all(b"MESSAGE|aaa|bbb\r\n").unwrap();
    assert_eq!(next_message(&remote), "MESSAGE|aaa|bbb");
}

#[test]
fn partial_lines_from_two_peers_are_never_glued_together() {
    let (remote, address) = start_server();
    let mut first = connect_controller(&remote, address);
    let mut second = connect_controller(&remote, address);
    for (mut stream, piece) in [
        (&first, &b"FIRST|one "[..]),
        (&second, b"SECOND|uno "),
        (&first, b"two\n"),
        (&second, b"dos\n"),
    ] {
        stream.write_all(piece).unwrap();
        stream.flush().unwrap();
        std::thread::sleep(Duration::from_millis(20)); // let each piece arrive as its own read
    }
    let mut lines = vec![next_message(&remote), next_message(&remote)];
    lines.sort();
    assert_eq!(lines, ["FIRST|one two", "SECOND|uno dos"]);
    // A partial line left by a peer that leaves is not glued onto another peer's line either.
    first.write_all(b"ORPHAN|half").unwrap();
    drop(first);
    second.write_all(b"SECOND|again\n").unwrap();
    let (messages, _) = wait_for(&remote, "both lines", {
        let mut seen = Vec::new();
        move |event| {
            if let Event::Item {
                item: Item::Message(message),
                ..
            } = event
            {
                seen.push(message.to_string());
            }
            (seen.len() == 2).then(|| seen.clone())
        }
    });
    assert!(
        messages.contains(&"SECOND|again".to_owned()),
        "{messages:?}"
    );
    assert!(messages.contains(&"ORPHAN|half".to_owned()), "{messages:?}");
}

#[test]
fn peer_over_the_limit_is_closed_at_once_and_the_others_keep_working() {
    let mut config = local_server_config();
    config.tcp_server.as_mut().unwrap().max_peers = 20;
    let remote = Remote::start(&config).unwrap();
    let address = remote.local_addr().unwrap();
    let peers: Vec<TcpStream> = (0..20)
        .map(|_| connect_controller(&remote, address))
        .collect();

    let extra = TcpStream::connect(address).unwrap();
    wait_for(&remote, "Refused", |event| {
        matches!(event, Event::Refused { max_peers: 20, .. }).then_some(())
    });
    let rest = LineReader::new(&extra).until_closed();
    assert!(rest.is_empty(), "the refused peer got {rest:?}");
    assert_eq!(remote.stats().peers_refused, 1);

    assert_eq!(remote.send(&message("STILL", "here")).unwrap(), 20);
    for peer in &peers {
        assert_eq!(LineReader::new(peer).line(), "STILL|here");
    }
    let mut last = peers.last().unwrap();
    last.write_all(b"FROM|twentieth\n").unwrap();
    assert_eq!(next_message(&remote), "FROM|twentieth");
}

#[test]
fn a_peer_that_never_reads_is_disconnected_and_a_fast_peer_gets_everything() {
    // The default bound (4 MiB, about 80 ms of this test's rate): a fast peer whose reader is
    // descheduled for a few milliseconds on a busy machine must not be taken for slow.
    let remote = Remote::start_with(&local_server_config(), HostOptions::default()).unwrap();
    let address = remote.local_addr().unwrap();
    let fast = connect_controller(&remote, address);
    let slow = connect_controller(&remote, address);
    let slow_address = slow.local_addr().unwrap();

    let reader = std::thread::spawn({
        let fast = fast.try_clone().unwrap();
        move || {
            let mut lines = LineReader::new(&fast);
            let mut received = Vec::new();
            loop {
                let line = lines.line();
                if line == "END" {
                    return received;
                }
                received.push(line);
            }
        }
    });
    // Paced as a host sends (a burst of 50 messages a millisecond, 50 MB/s), until the slow peer's
    // kernel buffers and then its queue are full; bounded so a failure cannot run forever.
    let payload = "x".repeat(1000);
    let mut sent = 0;
    let reason = 'sending: loop {
        assert!(sent < 200_000, "the slow peer was never disconnected");
        for _ in 0..50 {
            remote
                .send(&message("N", &format!("{sent}|{payload}")))
                .unwrap();
            sent += 1;
        }
        std::thread::sleep(Duration::from_millis(1));
        while let Ok(event) = remote.try_recv() {
            if let Event::Disconnected {
                address, reason, ..
            } = event
            {
                assert_eq!(address, slow_address, "the fast peer was dropped: {reason}");
                break 'sending reason;
            }
        }
    };
    assert!(
        matches!(reason, DisconnectReason::TooSlow { .. }),
        "{reason:?}"
    );
    remote.send(&message("END", "")).unwrap();
    let lines = reader.join().unwrap();
    assert_eq!(lines.len(), sent, "the fast peer missed messages");
    for (number, line) in lines.iter().enumerate() {
        assert_eq!(line, &format!("N|{number}|{payload}"));
    }
    let stats = remote.stats();
    assert_eq!(stats.slow_peers_disconnected, 1);
    assert!(stats.dropped_peer_too_slow >= 1, "{stats:?}");
    drop(slow);
}

/// The one peer connected now, and the controller's socket.
fn one_silent_peer(options: HostOptions) -> (Remote, mmdagent_remote::PeerId, TcpStream) {
    let remote = Remote::start_with(&local_server_config(), options).unwrap();
    let controller = connect_controller(&remote, remote.local_addr().unwrap());
    let peer = remote.peers()[0].id;
    (remote, peer, controller)
}

#[test]
fn send_to_a_peer_whose_outbox_is_full_reports_the_drop_and_counts_it() {
    let mut options = HostOptions::default();
    options.outbound_queue_bytes = 256 * 1024;
    let (remote, peer, _controller) = one_silent_peer(options);
    let payload = "y".repeat(8 * 1024);
    let mut queued = 0u64;
    let error = loop {
        assert!(queued < 100_000, "the outbox never filled");
        match remote.send_to(peer, &message("FILL", &payload)) {
            Ok(()) => queued += 1,
            Err(error) => break error,
        }
    };
    assert!(
        matches!(
            error,
            mmdagent_remote::Error::Dropped {
                cause: mmdagent_remote::DropCause::PeerTooSlow,
                ..
            }
        ),
        "{error}"
    );
    let stats = remote.stats();
    assert_eq!(
        stats.sent, queued,
        "a refused message is not counted as sent"
    );
    assert_eq!(stats.dropped_peer_too_slow, 1);
    assert_eq!(stats.slow_peers_disconnected, 1);
}

#[test]
fn messages_queued_for_a_peer_that_leaves_unwritten_are_counted() {
    let mut options = HostOptions::default();
    options.outbound_queue_bytes = 64 << 20;
    options.flush_timeout = Duration::from_millis(200);
    let (remote, peer, controller) = one_silent_peer(options);
    // Far more than the socket buffers hold, so most of it still waits in the outbox.
    const POURED: u64 = 300;
    let filler = "z".repeat(60_000);
    for number in 0..POURED {
        remote
            .send(&message("POURED", &format!("{number}|{filler}")))
            .unwrap();
    }
    remote.disconnect(peer).unwrap();
    wait_for(&remote, "the disconnect", |event| {
        matches!(event, Event::Disconnected { .. }).then_some(())
    });
    let arrived = LineReader::new(&controller).until_closed();
    let whole_lines = arrived.iter().filter(|&&byte| byte == b'\n').count() as u64;
    let stats = remote.stats();
    assert_eq!(stats.sent, POURED);
    assert!(stats.dropped_at_disconnect > 0, "{stats:?}");
    // A batch cut off mid-write is counted whole, so a line of it may have arrived as well.
    assert!(
        whole_lines + stats.dropped_at_disconnect >= POURED,
        "{whole_lines} arrived, {stats:?}"
    );
    assert!(whole_lines < POURED);
}

#[test]
fn client_reconnects_after_its_server_restarts() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let remote = Remote::start(&client_config(address, RetryLimit::Forever)).unwrap();
    let first = accept(&listener);
    wait_for(&remote, "first connection", |event| {
        matches!(event, Event::Connected { .. }).then_some(())
    });
    drop(first);
    drop(listener);
    wait_for(&remote, "the loss", |event| {
        matches!(event, Event::Disconnected { .. }).then_some(())
    });

    let restarted = TcpListener::bind(address).expect("rebind the same port");
    let mut second = accept(&restarted);
    wait_for(&remote, "second connection", |event| {
        matches!(event, Event::Connected { .. }).then_some(())
    });
    second.write_all(b"AGAIN|1\n").unwrap();
    assert_eq!(next_message(&remote), "AGAIN|1");
    remote.send(&message("BACK", "2")).unwrap();
    assert_eq!(LineReader::new(&second).line(), "BACK|2");
}

#[test]
fn retry_count_exhaustion_gives_up_with_an_event() {
    let unused = support::refused_address();
    let remote = Remote::start(&client_config(unused, RetryLimit::Attempts(2))).unwrap();
    let (reason, passed) = wait_for(&remote, "GaveUp", |event| match event {
        Event::GaveUp {
            transport: Transport::TcpClient,
            target,
            reason,
        } => {
            assert_eq!(target, &unused.to_string());
            Some(reason.clone())
        }
        _ => None,
    });
    assert!(reason.contains("refused"), "{reason}");
    assert!(passed.is_empty(), "{passed:?}");
}

#[test]
fn messages_while_disconnected_are_counted_or_kept_for_the_next_peer() {
    let (remote, address) = start_server();
    assert_eq!(remote.send(&message("LOST", "1")).unwrap(), 0);
    assert_eq!(remote.stats().dropped_without_peer, 1);

    let mut config = local_server_config();
    config.keep_while_disconnected = 2;
    let keeper = Remote::start(&config).unwrap();
    for number in 1..=3 {
        keeper.send(&message("KEPT", &number.to_string())).unwrap();
    }
    assert_eq!(keeper.stats().dropped_from_backlog, 1);
    let controller = connect_controller(&keeper, keeper.local_addr().unwrap());
    keeper.send(&message("NEW", "4")).unwrap();
    let mut lines = LineReader::new(&controller);
    assert_eq!(
        [lines.line(), lines.line(), lines.line()],
        ["KEPT|2", "KEPT|3", "NEW|4"]
    );
    assert_eq!(address, remote.local_addr().unwrap());
}

#[test]
fn send_to_one_peer_and_disconnect_a_peer() {
    let (remote, address) = start_server();
    let first = connect_controller(&remote, address);
    let second = connect_controller(&remote, address);
    let peers = remote.peers();
    let first_id = peers
        .iter()
        .find(|peer| peer.address == first.local_addr().unwrap())
        .unwrap()
        .id;
    remote.send_to(first_id, &message("ONLY", "you")).unwrap();
    remote.send(&message("ALL", "")).unwrap();
    assert_eq!(LineReader::new(&first).line(), "ONLY|you");
    assert_eq!(LineReader::new(&second).line(), "ALL");
    remote.disconnect(first_id).unwrap();
    let (reason, _) = wait_for(&remote, "disconnect", |event| match event {
        Event::Disconnected { peer, reason, .. } if *peer == first_id => Some(reason.clone()),
        _ => None,
    });
    assert_eq!(reason, DisconnectReason::DisconnectedByHost);
    assert!(matches!(
        remote.send_to(first_id, &message("GONE", "")),
        Err(mmdagent_remote::Error::NoSuchPeer(_))
    ));
}

#[test]
fn unencodable_items_are_refused_before_anything_is_sent() {
    let (remote, address) = start_server();
    let controller = connect_controller(&remote, address);
    assert!(remote.send(&message("A", "two\nlines")).is_err());
    remote.send(&message("AFTER", "ok")).unwrap();
    assert_eq!(LineReader::new(&controller).line(), "AFTER|ok");
}

#[test]
fn ipv6_loopback_works_for_server_and_client() {
    let Ok(probe) = TcpListener::bind((Ipv6Addr::LOCALHOST, 0)) else {
        eprintln!("skipped: this machine has no IPv6 loopback");
        return;
    };
    drop(probe);
    let mut config = Config::default();
    let mut server = TcpServerConfig::new(0);
    server.bind_address = Ipv6Addr::LOCALHOST.into();
    config.tcp_server = Some(server);
    let remote = Remote::start(&config).unwrap();
    let address = remote.local_addr().unwrap();
    assert!(address.is_ipv6());

    let client = Remote::start(&client_config(address, RetryLimit::Attempts(0))).unwrap();
    let (peer_address, _) = wait_for(&remote, "IPv6 peer", |event| match event {
        Event::Connected { address, .. } => Some(*address),
        _ => None,
    });
    assert_eq!(peer_address.ip(), Ipv6Addr::LOCALHOST);
    wait_for(&client, "client connected", |event| {
        matches!(event, Event::Connected { .. }).then_some(())
    });
    client.send(&message("V6", "hello")).unwrap();
    assert_eq!(next_message(&remote), "V6|hello");
}

#[test]
fn loop_connection_settings_start_only_the_server() {
    let mut settings = mmdagent_remote::MdfSettings::new();
    settings.load_str(
        "loop.mdf",
        "Plugin_Remote_EnableServer=true\nPlugin_Remote_EnableClient=true\nPlugin_Remote_BindAddress=127.0.0.1\n\
         Plugin_Remote_Port=0\n",
    );
    // Port 0 cannot be written in an .mdf; use the parsed config with an ephemeral port instead.
    let error = settings.to_config().unwrap_err();
    assert!(error.to_string().contains("Plugin_Remote_Port"));
    let mut settings = mmdagent_remote::MdfSettings::new();
    settings.load_str(
        "loop.mdf",
        "Plugin_Remote_EnableServer=true\nPlugin_Remote_EnableClient=true\n",
    );
    let (mut config, warnings) = settings.to_config_with_warnings().unwrap();
    assert!(config.tcp_client.is_none());
    assert!(warnings
        .iter()
        .any(|warning| warning.message.contains("loop")));
    config.tcp_server.as_mut().unwrap().port = 0;
    config.tcp_server.as_mut().unwrap().bind_address = "127.0.0.1".parse().unwrap();
    let remote = Remote::start(&config).unwrap();
    assert!(
        remote.recv_timeout(Duration::from_millis(300)).is_err(),
        "no client ran, nothing connected"
    );
    assert!(remote.peers().is_empty());
}

#[test]
fn a_hundred_thousand_numbered_messages_each_way_arrive_once_in_order() {
    const COUNT: usize = 100_000;
    let (remote, address) = start_server();
    let controller = connect_controller(&remote, address);

    let sender = std::thread::spawn({
        let mut controller = controller.try_clone().unwrap();
        controller.set_write_timeout(Some(WAIT)).unwrap();
        move || {
            let mut batch = Vec::new();
            for number in 0..COUNT {
                batch.extend_from_slice(format!("UP|{number}\n").as_bytes());
                if batch.len() > 4096 {
                    controller.write_all(&batch).unwrap();
                    batch.clear();
                }
            }
            controller.write_all(&batch).unwrap();
        }
    });
    let reader = std::thread::spawn({
        let controller = controller.try_clone().unwrap();
        move || {
            let mut lines = LineReader::new(&controller);
            for number in 0..COUNT {
                assert_eq!(
                    lines.line(),
                    format!("DOWN|{number}"),
                    "outbound message {number}"
                );
            }
        }
    });
    for number in 0..COUNT {
        remote
            .send(&Item::Message(Message::new("DOWN", number.to_string())))
            .unwrap();
    }
    let mut expected = 0;
    while expected < COUNT {
        match remote
            .recv_timeout(WAIT)
            .expect("inbound messages keep coming")
        {
            Event::Item {
                item: Item::Message(message),
                ..
            } => {
                assert_eq!(
                    (message.name(), message.args()),
                    ("UP", expected.to_string().as_str())
                );
                expected += 1;
            }
            other => panic!("unexpected event {other:?}"),
        }
    }
    sender.join().unwrap();
    reader.join().unwrap();
    assert_eq!(remote.stats().slow_peers_disconnected, 0);
}

#[test]
fn several_threads_receiving_get_every_event_in_order_and_none_is_left_waiting() {
    let (remote, address) = start_server();
    let mut controller = connect_controller(&remote, address);
    // Two events in one read, two threads waiting: each gets one; neither is left waiting while
    // the other's read holds an event for it.
    std::thread::scope(|scope| {
        let waiters: Vec<_> = (0..2)
            .map(|_| scope.spawn(|| remote.recv_timeout(WAIT).map(|event| format!("{event:?}"))))
            .collect();
        controller.write_all(b"A|1\nB|2\n").unwrap();
        for waiter in waiters {
            let got = waiter.join().unwrap();
            assert!(got.is_ok(), "a thread was left waiting: {got:?}");
        }
    });
    // Many numbered lines, two threads: each sees the numbers rise, and all arrive.
    const LINES: u64 = 20_000;
    let wire: String = (0..LINES).map(|number| format!("N|{number}\n")).collect();
    let seen = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                let mut last = None;
                while let Ok(event) = remote.recv_timeout(Duration::from_millis(500)) {
                    if let Event::Item {
                        item: Item::Message(message),
                        ..
                    } = event
                    {
                        let number: u64 = message.args().parse().unwrap();
                        assert!(last < Some(number), "{last:?} then {number}");
                        last = Some(number);
                        seen.lock().unwrap().push(number);
                    }
                }
            });
        }
        controller.write_all(wire.as_bytes()).unwrap();
    });
    let mut seen = seen.into_inner().unwrap();
    seen.sort_unstable();
    assert_eq!(seen, (0..LINES).collect::<Vec<_>>());
}

#[test]
fn a_backlog_larger_than_the_outbox_bound_reaches_the_next_peer_whole() {
    let mut config = local_server_config();
    config.keep_while_disconnected = 100;
    let mut options = HostOptions::default();
    options.outbound_queue_bytes = 16 * 1024;
    let remote = Remote::start_with(&config, options).unwrap();
    let payload = "k".repeat(1000);
    for number in 0..100 {
        remote
            .send(&message("KEPT", &format!("{number}|{payload}")))
            .unwrap();
    }
    let controller = connect_controller(&remote, remote.local_addr().unwrap());
    let mut lines = LineReader::new(&controller);
    for number in 0..100 {
        assert_eq!(lines.line(), format!("KEPT|{number}|{payload}"));
    }
    let stats = remote.stats();
    assert_eq!(stats.sent, 100, "{stats:?}");
    assert_eq!(stats.slow_peers_disconnected, 0, "{stats:?}");
}

#[test]
fn shutdown_returns_while_the_host_holds_an_undecoded_read() {
    let (remote, address) = start_server();
    let mut controller = connect_controller(&remote, address);
    controller.write_all(b"HELD|1\n").unwrap();
    let held = remote
        .inbound()
        .recv_timeout(WAIT)
        .expect("the read's delivery");
    assert!(held.peer().is_some());
    // More from the same peer, which the library must be able to drop at shutdown without
    // waiting for the held read to be decoded.
    controller.write_all(b"LATER|2\n").unwrap();
    drop(controller);
    support::within(WAIT, "shutdown", move || remote.shutdown()).unwrap();
    drop(held);
}
