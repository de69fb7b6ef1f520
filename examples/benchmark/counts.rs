//! How much each scenario does: the full run, and `--quick` for a smoke test.

use std::time::Duration;

/// The sizes of every scenario.
pub struct Counts {
    /// Rounds of each throughput scenario (each round: the baseline once, then ours once).
    pub rounds: usize,
    /// Rounds each latency scenario's samples are split into: short rounds taking turns keep a
    /// busy moment of the machine from landing on one side only.
    pub latency_rounds: usize,
    /// Bytes of lines the codec section decodes from memory.
    pub codec_bytes: usize,
    /// Lines between the host and one TCP peer, each way.
    pub one_peer_lines: usize,
    /// Peers of the broadcast scenario.
    pub broadcast_peers: usize,
    /// Lines broadcast to them.
    pub broadcast_lines: usize,
    /// Round trips in a row over TCP, in all rounds together.
    pub tcp_round_trips: usize,
    /// Messages the host sends a WebSocket server in one burst.
    pub websocket_messages: usize,
    /// Round trips in a row over ws or wss, in all rounds together.
    pub websocket_round_trips: usize,
    /// Messages sent on an idle connection (TCP, ws, wss), each after `idle_pause`.
    pub idle_messages: usize,
    /// How long the connection idles before each of them.
    pub idle_pause: Duration,
    /// How long the idle TCP peers are watched.
    pub idle_span: Duration,
    /// Idle TCP peers watched.
    pub idle_peers: usize,
    /// Peers connected to measure resident memory per peer.
    pub memory_peers: usize,
    /// Peers connected while shutting down.
    pub shutdown_peers: usize,
}

impl Counts {
    /// The counts the goals are set for: about a minute and a half on a 2-core machine.
    pub fn full() -> Counts {
        Counts {
            rounds: 9,
            latency_rounds: 10,
            codec_bytes: 64 << 20,
            one_peer_lines: 1_000_000,
            broadcast_peers: 20,
            broadcast_lines: 200_000,
            tcp_round_trips: 20_000,
            websocket_messages: 200_000,
            websocket_round_trips: 5_000,
            idle_messages: 500,
            idle_pause: Duration::from_millis(2),
            idle_span: Duration::from_secs(10),
            idle_peers: 20,
            memory_peers: 1_000,
            shutdown_peers: 100,
        }
    }

    /// A tenth or so of everything, to see that each scenario runs.
    pub fn quick() -> Counts {
        Counts {
            rounds: 2,
            latency_rounds: 2,
            codec_bytes: 8 << 20,
            one_peer_lines: 100_000,
            broadcast_lines: 20_000,
            tcp_round_trips: 2_000,
            websocket_messages: 20_000,
            websocket_round_trips: 500,
            idle_messages: 100,
            idle_span: Duration::from_secs(2),
            memory_peers: 100,
            ..Counts::full()
        }
    }
}
