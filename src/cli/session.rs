//! One run of the command: lines of standard input to the peers, events to standard output, until
//! the input ends, a signal comes, or every client gives up; then a shutdown that writes what is
//! queued and an account of what was not delivered.
//!
//! Which lines are held and when the command may end is decided here; the library does the
//! holding (its backlog kept while no peer is connected) and the counting ([`Stats`]).

use std::io::{self, Write};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Receiver, RecvTimeoutError};
use mmdagent_remote::agent::{connection_message, StandIn};
use mmdagent_remote::{AudioRecorder, Event, Item, Remote, Stats};

use crate::cli::failure::Failure;
use crate::cli::playlist::{Player, Playlist, PlaylistEnd};
use crate::cli::stdin::lines_of_stdin;

/// Lines a client holds while it is not connected, unless `Plugin_Remote_KeepWhileDisconnected`
/// asks for more; when that many wait, the command stops reading standard input until connected.
pub const HELD_LINES: usize = 10_000;

/// How long a client that gave up waits for more of standard input, to count it as not delivered.
const UNSENT_INPUT_WAIT: Duration = Duration::from_millis(100);

/// What the run is made of, besides the running transports.
pub struct Plan {
    pub max_line_length: usize,
    /// How many messages the library keeps while no peer is connected (0: it drops them).
    pub keep_while_disconnected: usize,
    pub clients: usize,
    pub servers: usize,
    pub recorder: Option<AudioRecorder>,
    /// `--send-audio`: played once a peer is connected; the command ends only after it.
    pub playlist: Option<Playlist>,
    pub stand_in: bool,
    pub read_stdin: bool,
    pub wait_peer: bool,
}

/// Standard input, as far as the command has come with it.
pub enum Input {
    /// Not read: `--no-stdin`.
    Ignored,
    /// Not read yet: `--wait-peer`, and no peer has connected.
    WaitingForPeer,
    Reading(Receiver<String>),
    Ended,
}

/// How the loop ended.
enum End {
    /// The input ended, or a signal came: shut down and account.
    Finished,
    /// Standard output is gone.
    OutputClosed,
    /// Every client gave up and no server runs.
    GaveUp(String),
}

/// Standard input as the plan says: read from now on, waited for, or ignored. Started before the
/// transports, so that lines already piped in are read before a client can give up.
pub fn start_input(plan: &Plan) -> Input {
    if !plan.read_stdin {
        Input::Ignored
    } else if plan.wait_peer {
        log::info!("waiting for a peer before reading standard input (--wait-peer)");
        Input::WaitingForPeer
    } else {
        Input::Reading(lines_of_stdin(plan.max_line_length))
    }
}

/// Runs until the end, shuts `remote` down, and says how it went.
pub fn run(
    remote: Remote,
    plan: Plan,
    input: Input,
    signals: Option<&Receiver<&'static str>>,
) -> Result<(), Failure> {
    let mut session = Session {
        stand_in: plan.stand_in.then(StandIn::new),
        plan,
        input,
        connected_once: false,
        paused: false,
        gave_up: Vec::new(),
        refused_lines: 0,
        audio_end: None,
    };
    let never = crossbeam_channel::never();
    let signals = signals.unwrap_or(&never);
    // The audio's thread borrows `remote`, so it lives in a scope that ends before the shutdown;
    // the player cancels and joins it on every way out of the loop.
    let end = thread::scope(|scope| {
        let mut player = Player::new(session.plan.playlist.take());
        let end = session.run_loop(&remote, &mut player, signals, |player, remote| {
            player.start(scope, remote)
        });
        session.audio_end = player.stop();
        end
    });
    session.finish(remote, end)
}

/// What the command keeps track of while it runs./// What the command keeps track of while it runs.
struct Session {
    plan: Plan,
    stand_in: Option<StandIn>,
    input: Input,
    /// Whether any peer has connected yet.
    connected_once: bool,
    /// Standard input is not read while the held lines are at their limit.
    paused: bool,
    gave_up: Vec<String>,
    /// Lines the library would not send at all (they cannot be encoded), and lines read but not
    /// sent because every client gave up.
    refused_lines: u64,
    /// How `--send-audio` ended; `None` if it never started.
    audio_end: Option<PlaylistEnd>,
}

impl Session {
    /// Waits on the peers, standard input, the stand-in's speech, the audio and signals until
    /// the command is to end; `start_audio` starts the player once a peer is connected.
    fn run_loop<'scope>(
        &mut self,
        remote: &'scope Remote,
        player: &mut Player<'scope>,
        signals: &Receiver<&'static str>,
        start_audio: impl Fn(&mut Player<'scope>, &'scope Remote),
    ) -> End {
        loop {
            // With --send-audio and --no-stdin, the audio is what the command is for.
            let input_over = match self.input {
                Input::Ended => true,
                Input::Ignored => player.has_audio(),
                Input::WaitingForPeer | Input::Reading(_) => false,
            };
            if input_over && player.is_done() && self.may_finish(remote) {
                break End::Finished;
            }
            let typed = match &self.input {
                Input::Reading(lines) if !self.paused => lines.clone(),
                _ => crossbeam_channel::never(),
            };
            let speech_due = match self.stand_in.as_ref().and_then(StandIn::next_due) {
                Some(due) => crossbeam_channel::at(due),
                None => crossbeam_channel::never(),
            };
            let audio_done = player.done();
            select! {
                recv(remote.inbound()) -> delivery => {
                    let Ok(delivery) = delivery else { break End::Finished };
                    let mut end = None;
                    delivery.decode(|received| {
                        if end.is_none() {
                            end = self.handle(remote, &received.into_event());
                        }
                    });
                    if let Some(end) = end {
                        break end;
                    }
                    if self.connected_once {
                        start_audio(player, remote);
                    }
                },
                recv(typed) -> line => match line {
                    Ok(line) => self.send_typed(remote, &line),
                    Err(_) => self.input = Input::Ended,
                },
                recv(speech_due) -> _ => {
                    if let Some(stand_in) = &mut self.stand_in {
                        for message in stand_in.take_due(Instant::now()) {
                            send(remote, &Item::Message(message));
                        }
                    }
                },
                recv(audio_done) -> _ => player.ended(),
                recv(signals) -> signal => {
                    let signal = signal.unwrap_or("a signal");
                    log::info!("{signal}: stopping as at the end of input (a second signal stops at once)");
                    // Lines already taken from the pipe go out with the rest.
                    if let Input::Reading(lines) = &self.input {
                        for line in lines.try_iter().collect::<Vec<_>>() {
                            self.send_typed(remote, &line);
                        }
                    }
                    break End::Finished;
                },
            }
        }
    }

    /// Whether the command may end now that its input has: a server may at once; a client once
    /// it has connected and holds no line.
    fn may_finish(&self, remote: &Remote) -> bool {
        self.plan.clients == 0
            || (self.connected_once && remote.stats().kept_while_disconnected == 0)
    }

    fn send_typed(&mut self, remote: &Remote, line: &str) {
        match remote.send_line(line) {
            Ok(0) => {
                let limit = self.plan.keep_while_disconnected;
                if limit > 0 && remote.stats().kept_while_disconnected >= limit {
                    log::warn!(
                        "{limit} lines wait for a connection: reading standard input again once one stands"
                    );
                    self.paused = true;
                }
            }
            Ok(_) => {}
            Err(error) => {
                self.refused_lines += 1;
                log::warn!("not sent: {error}");
            }
        }
    }

    /// Records, answers and writes one event; `Some` when the command is to end.
    fn handle(&mut self, remote: &Remote, event: &Event) -> Option<End> {
        self.record(event);
        if let Some(stand_in) = &mut self.stand_in {
            for message in stand_in.answer(event, Instant::now()) {
                send(remote, &Item::Message(message));
            }
        }
        match event {
            Event::Connected { .. } => {
                self.connected_once = true;
                self.paused = false;
                if matches!(self.input, Input::WaitingForPeer) {
                    self.input = Input::Reading(lines_of_stdin(self.plan.max_line_length));
                }
            }
            Event::GaveUp { target, reason, .. } => {
                // The reason names the address already when it is about one.
                let address = reason.split(": ").next().unwrap_or_default();
                self.gave_up.push(if target.contains(address) {
                    reason.clone()
                } else {
                    format!("{target}: {reason}")
                });
                if self.plan.servers == 0 && self.gave_up.len() == self.plan.clients {
                    let mut why = format!("every connection gave up: {}", self.gave_up.join("; "));
                    if let Some(unread) = self.count_unsent_input() {
                        why.push_str(unread);
                    }
                    return Some(End::GaveUp(why));
                }
            }
            _ => {}
        }
        if !write_event(event) {
            return Some(End::OutputClosed);
        }
        None
    }

    /// Counts the lines standard input still gives, as not delivered, once nothing can deliver
    /// them: what a pipe already holds is counted up to its end; a line that does not come within
    /// [`UNSENT_INPUT_WAIT`] is taken as none coming. Returns a note when the input was left
    /// unread.
    fn count_unsent_input(&mut self) -> Option<&'static str> {
        let Input::Reading(lines) = &self.input else {
            return None;
        };
        loop {
            match lines.recv_timeout(UNSENT_INPUT_WAIT) {
                Ok(_) => self.refused_lines += 1,
                Err(RecvTimeoutError::Disconnected) => {
                    self.input = Input::Ended;
                    return None;
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Some(" (standard input was not read to its end)")
                }
            }
        }
    }

    fn record(&mut self, event: &Event) {
        let Some(recorder) = &mut self.plan.recorder else {
            return;
        };
        match recorder.record(event) {
            Ok(Some(saved)) => log::info!(
                "saved {} samples to {}",
                saved.samples,
                saved.path.display()
            ),
            Ok(None) => {}
            Err(error) => log::error!("cannot save audio: {error}"),
        }
    }

    /// Shuts down (writing what is queued), writes how the connections ended, and accounts.
    fn finish(mut self, remote: Remote, end: End) -> Result<(), Failure> {
        // How the connections ended arrives while shutting down; a clone of the receiver outlives it.
        let last_deliveries = remote.inbound().clone();
        let stats = remote
            .shutdown_with_stats()
            .map_err(|error| Failure::Runtime(error.to_string()));
        for delivery in last_deliveries.try_iter() {
            delivery.decode(|received| {
                let event = received.into_event();
                self.record(&event);
                write_event(&event);
            });
        }
        let recorded = self.finish_recording();
        let stats = stats?;
        recorded?;
        let undelivered = undelivered(&stats) + self.refused_lines;
        let outcome = self.account(end, &stats, undelivered);
        match (self.audio_end.take(), outcome) {
            (Some(PlaylistEnd::Stopped(why)), Ok(())) => Err(Failure::Runtime(why)),
            (Some(PlaylistEnd::Stopped(why)), Err(failure)) => {
                log::error!("{why}");
                Err(failure)
            }
            (_, outcome) => outcome,
        }
    }

    /// The exit status for how the loop ended and what was not delivered.
    fn account(&self, end: End, stats: &Stats, undelivered: u64) -> Result<(), Failure> {
        match end {
            End::GaveUp(why) if undelivered > 0 => Err(Failure::Runtime(format!(
                "{why}; {} not delivered",
                lines_were(undelivered)
            ))),
            End::GaveUp(why) => Err(Failure::Runtime(why)),
            End::Finished | End::OutputClosed if undelivered == 0 => Ok(()),
            End::Finished | End::OutputClosed if self.plan.clients > 0 => Err(Failure::Runtime(
                format!("{} not delivered", lines_were(undelivered)),
            )),
            End::Finished | End::OutputClosed => {
                // A server drops what comes while no peer is connected, as MMDAgent-EX does; it
                // says so rather than fail.
                eprintln!(
                    "mmdagent-remote: {} reached no peer ({} while no peer was connected)",
                    lines(undelivered),
                    stats.dropped_without_peer
                );
                Ok(())
            }
        }
    }

    fn finish_recording(&mut self) -> Result<(), Failure> {
        let Some(recorder) = &mut self.plan.recorder else {
            return Ok(());
        };
        let saved = recorder
            .finish()
            .map_err(|error| Failure::Runtime(format!("cannot save audio: {error}")))?;
        for saved in saved {
            log::info!(
                "saved {} samples to {}",
                saved.samples,
                saved.path.display()
            );
        }
        Ok(())
    }
}

/// Messages sent that no peer got: still kept, or dropped for any cause.
fn undelivered(stats: &Stats) -> u64 {
    u64::try_from(stats.kept_while_disconnected).unwrap_or(u64::MAX)
        + stats.dropped_without_peer
        + stats.dropped_from_backlog
        + stats.dropped_peer_too_slow
        + stats.dropped_at_disconnect
}

fn lines(count: u64) -> String {
    if count == 1 {
        "1 line".to_owned()
    } else {
        format!("{count} lines")
    }
}

fn lines_were(count: u64) -> String {
    let verb = if count == 1 { "was" } else { "were" };
    format!("{} {verb}", lines(count))
}

fn send(remote: &Remote, item: &Item<'_>) {
    if let Err(error) = remote.send(item) {
        log::warn!("not sent: {error}");
    }
}

/// Writes an event as its line on standard output, flushed at once so a pipe sees it; returns
/// `false` when standard output is gone.
fn write_event(event: &Event) -> bool {
    let line = match event {
        Event::Item { item, .. } => match item {
            Item::AudioChunk(_) => return true,
            line => line.to_string(),
        },
        _ => match connection_message(event) {
            Some(message) => message.to_string(),
            None => return true,
        },
    };
    let mut stdout = io::stdout().lock();
    match writeln!(stdout, "{line}").and_then(|()| stdout.flush()) {
        Ok(()) => true,
        Err(error) => {
            log::warn!("standard output is closed ({error}); stopping");
            false
        }
    }
}
