//! Speech sentence by sentence: each piece sent as `SYNTH_START` once the agent has finished the
//! one before.
//!
//! A [`Speaker`] starts no thread and receives nothing by itself. It sends through the [`Remote`]
//! it is handed and learns that a piece is done from the events the host shows it
//! ([`Speaker::handle_event`]); it only looks at them, so the host still sees every event. Its one
//! clock is a deadline ([`Speaker::deadline`]) that the host's receive loop waits on, so a lost
//! `SYNTH_EVENT_STOP` ends in a timeout rather than a hang. [`Speaker::wait`] is that receive loop
//! for a host with nothing else to do meanwhile; the host can end it at any event.

use std::collections::VecDeque;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use crate::codec::{Item, Message};
use crate::error::Error;
use crate::host::{RecvTimeoutError, Remote};
use crate::hub::Event;

use super::command::Command;
use super::event::AgentEvent;
use super::text::{check_name, CommandError, BAR_REPLACEMENT, MAX_AGENT_LINE_BYTES};
use super::utterance::split_utterance;

/// How long a [`Speaker`] waits for the agent.
///
/// A piece of `n` characters is given `fixed + n × per_char` to end with `SYNTH_EVENT_STOP`; after
/// that it is given up on (with a warning) and stopped with `SYNTH_STOP`. The defaults, 5 s and
/// 300 ms, leave room for slow Japanese speech (about four characters a second) and a slow start.
/// After [`Speaker::cancel`] or such a timeout, the next piece waits for the stopped piece's
/// `SYNTH_EVENT_STOP` at most `after_cancel` (default 1 s): this crate assumes the agent may still
/// send that event, and it must not be taken for the end of the next piece.
///
/// A wait too long to count from now (`Duration::MAX`, a natural "never") means no deadline: the
/// speaker then waits for the agent's event however long it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpeechTimeout {
    /// The part of the wait every piece gets.
    pub fixed: Duration,
    /// The part of the wait per character of the piece.
    pub per_char: Duration,
    /// The longest wait for the end of a cancelled piece.
    pub after_cancel: Duration,
}

impl SpeechTimeout {
    /// A timeout of `fixed + characters × per_char`, with the default `after_cancel`.
    pub fn new(fixed: Duration, per_char: Duration) -> Self {
        SpeechTimeout {
            fixed,
            per_char,
            ..SpeechTimeout::default()
        }
    }

    /// How long a piece of this text is waited for.
    pub fn for_text(&self, text: &str) -> Duration {
        let characters = u32::try_from(text.chars().count()).unwrap_or(u32::MAX);
        self.fixed
            .saturating_add(self.per_char.saturating_mul(characters))
    }
}

impl Default for SpeechTimeout {
    fn default() -> Self {
        SpeechTimeout {
            fixed: Duration::from_secs(5),
            per_char: Duration::from_millis(300),
            after_cancel: Duration::from_secs(1),
        }
    }
}

/// What happened to the pieces a [`Speaker`] sent: over one [`Speaker::wait`], or in all
/// ([`Speaker::spoken`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Spoken {
    /// Pieces the agent reported finished (`SYNTH_EVENT_STOP`).
    pub finished: usize,
    /// Pieces given up on after their timeout (and stopped with `SYNTH_STOP`).
    pub timed_out: usize,
    /// Pieces dropped because no peer was connected to send them to: the piece whose
    /// `SYNTH_START` reached nobody, and everything queued behind it.
    pub not_sent: usize,
}

impl Spoken {
    /// What happened between `earlier` and `self`.
    fn since(self, earlier: Spoken) -> Spoken {
        Spoken {
            finished: self.finished - earlier.finished,
            timed_out: self.timed_out - earlier.timed_out,
            not_sent: self.not_sent - earlier.not_sent,
        }
    }
}

/// Speaks texts through one model, a piece at a time.
///
/// [`speak`](Speaker::speak) makes the text safe (`|` becomes `｜`, NUL a space), splits it with
/// [`split_utterance`] so that every `SYNTH_START` line fits the agent's 2,047 bytes, queues the
/// pieces and sends the first unless a piece is being spoken. Each later piece is sent when the
/// host shows the speaker `SYNTH_EVENT_STOP` for its model ([`handle_event`](Speaker::handle_event),
/// [`handle_message`](Speaker::handle_message)), or once the piece's [`SpeechTimeout`] has passed
/// ([`handle_deadline`](Speaker::handle_deadline)): the speaker then sends `SYNTH_STOP` and waits
/// up to [`SpeechTimeout::after_cancel`] for that piece's late `SYNTH_EVENT_STOP`, as after
/// [`cancel`](Speaker::cancel), so the late event is not taken for the end of the next piece.
///
/// Pieces go to every connected peer ([`Remote::send`]). When a `SYNTH_START` reaches no peer, the
/// piece and the rest of the queue are dropped at once and counted in [`Spoken::not_sent`] (with a
/// warning), rather than waited for: nobody will answer. (With
/// [`Config::keep_while_disconnected`](crate::Config) above 0 the line is kept for the next peer
/// although the send reports none; the speaker still counts it as not sent.)
///
/// The speaker does no receiving of its own, so it fits any host loop and loses no event: feed it
/// every event the loop receives, and wait no longer than [`deadline`](Speaker::deadline). From
/// plain threads, keep the speaker with the thread that receives, and send it texts through a
/// channel: `select!` on it and on [`Remote::inbound`], and show the speaker each decoded message
/// with [`handle_message`](Speaker::handle_message). With nothing else to do, call
/// [`wait`](Speaker::wait), which receives until the queue is spoken (or the host says stop) and
/// hands every event on.
///
/// A `SYNTH_EVENT_STOP` for the model ends the current piece whoever caused it: if something else
/// also speaks through the same model, the pieces may overlap; and a stop that arrived while the
/// host was not receiving (still queued when a piece is sent) ends that piece early. The agent's
/// events carry no id to tell them apart, so keep receiving while speaking.
///
/// ```no_run
/// use std::ops::ControlFlow;
/// use mmdagent_remote::agent::Speaker;
/// # fn run(remote: &mmdagent_remote::Remote) -> Result<(), mmdagent_remote::Error> {
/// let mut speaker = Speaker::new("mei", "mei_voice_normal")?;
/// speaker.speak(remote, "こんにちは。今日はいい天気ですね。")?;
/// let spoken = speaker.wait(remote, |event| {
///     log::debug!("{event:?}");
///     ControlFlow::Continue(())
/// })?;
/// assert_eq!(spoken.finished + spoken.timed_out + spoken.not_sent, 2);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Speaker {
    model: String,
    voice: String,
    timeout: SpeechTimeout,
    /// The longest text one `SYNTH_START` line can carry with this model and voice.
    max_piece_bytes: usize,
    queue: VecDeque<String>,
    /// What the speaker waits for, if anything.
    current: Option<Current>,
    spoken: Spoken,
}

/// What a [`Speaker`] waits for the agent to end, and until when (`None`: no deadline).
#[derive(Debug)]
enum Current {
    /// A piece being spoken.
    Speaking {
        piece: String,
        deadline: Option<Instant>,
    },
    /// A piece stopped with `SYNTH_STOP` (cancelled or timed out): its `SYNTH_EVENT_STOP` may
    /// still come and must not end the next piece.
    Stopping { deadline: Option<Instant> },
}

impl Current {
    fn deadline(&self) -> Option<Instant> {
        match self {
            Current::Speaking { deadline, .. } | Current::Stopping { deadline } => *deadline,
        }
    }
}

/// `now + wait`, or `None` (no deadline) when that is too far to represent.
fn deadline_after(wait: Duration) -> Option<Instant> {
    Instant::now().checked_add(wait)
}

impl Speaker {
    /// A speaker for the model with this alias, in this voice, with the default [`SpeechTimeout`].
    /// Fails with [`Error::InvalidMessage`] if the model or voice cannot be sent, or leave too
    /// little room for text.
    pub fn new(model: impl Into<String>, voice: impl Into<String>) -> Result<Speaker, Error> {
        let (model, voice) = (model.into(), voice.into());
        check_name("SYNTH_START", "model", &model, None)?;
        check_name("SYNTH_START", "voice", &voice, None)?;
        let overhead = "SYNTH_START|".len() + model.len() + 1 + voice.len() + 1;
        // Room for at least a few characters, so that splitting makes progress.
        let max_piece_bytes = MAX_AGENT_LINE_BYTES.saturating_sub(overhead);
        if max_piece_bytes < 16 {
            return Err(CommandError::TooLong {
                command: "SYNTH_START".to_owned(),
                length: overhead + 16,
                limit: MAX_AGENT_LINE_BYTES,
            }
            .into());
        }
        Ok(Speaker {
            model,
            voice,
            timeout: SpeechTimeout::default(),
            max_piece_bytes,
            queue: VecDeque::new(),
            current: None,
            spoken: Spoken::default(),
        })
    }

    /// The same speaker waiting as `timeout` says.
    pub fn with_timeout(mut self, timeout: SpeechTimeout) -> Self {
        self.timeout = timeout;
        self
    }

    /// The model's alias.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// Queues `text` to be spoken after what is queued already, and sends its first piece at once
    /// if nothing is being spoken. Returns how many pieces it made (0 for blank text); if none of
    /// them could be sent (no peer connected), [`spoken`](Self::spoken) counts them as
    /// [`not_sent`](Spoken::not_sent).
    pub fn speak(&mut self, remote: &Remote, text: &str) -> Result<usize, Error> {
        let safe: String = text
            .chars()
            .map(|c| match c {
                '|' => BAR_REPLACEMENT,
                '\0' => ' ',
                c => c,
            })
            .collect();
        // Line ends are kept for split_utterance, which ends sentences there and drops them.
        let pieces = split_utterance(&safe, self.max_piece_bytes);
        let count = pieces.len();
        self.queue.extend(pieces);
        if self.current.is_none() {
            self.send_next(remote)?;
        }
        Ok(count)
    }

    /// Looks at an event the host received: `SYNTH_EVENT_STOP` for this model ends the current
    /// piece and sends the next (see [`handle_message`](Self::handle_message)). Also acts on a
    /// passed deadline, as [`handle_deadline`](Self::handle_deadline) does, so a busy stream
    /// cannot starve it.
    pub fn handle_event(&mut self, remote: &Remote, event: &Event) -> Result<(), Error> {
        match event {
            Event::Item {
                item: Item::Message(message),
                ..
            } => self.handle_message(remote, message),
            _ => self.handle_deadline(remote),
        }
    }

    /// Looks at a message the host received, as [`handle_event`](Self::handle_event) does; for
    /// items borrowed from [`Inbound::decode`](crate::Inbound::decode), which need not be made
    /// owned for it.
    pub fn handle_message(&mut self, remote: &Remote, message: &Message<'_>) -> Result<(), Error> {
        if message.name() == "SYNTH_EVENT_STOP" {
            if let AgentEvent::SynthStopped { model } = AgentEvent::parse(message) {
                if model == self.model {
                    if let Some(current) = self.current.take() {
                        if let Current::Speaking { .. } = current {
                            self.spoken.finished += 1;
                        }
                        self.send_next(remote)?;
                    }
                }
            }
        }
        self.handle_deadline(remote)
    }

    /// If the current deadline has passed: a piece being spoken is given up on (with a warning),
    /// stopped with `SYNTH_STOP`, and its late `SYNTH_EVENT_STOP` waited for up to
    /// [`SpeechTimeout::after_cancel`]; a stopped piece's wait ends and the next piece is sent.
    pub fn handle_deadline(&mut self, remote: &Remote) -> Result<(), Error> {
        let passed = self
            .current
            .as_ref()
            .and_then(Current::deadline)
            .is_some_and(|deadline| deadline <= Instant::now());
        if !passed {
            return Ok(());
        }
        match self.current.take() {
            Some(Current::Speaking { piece, .. }) => {
                log::warn!(
                    "no SYNTH_EVENT_STOP|{} within {:?} for {piece:?}; stopping it and going on",
                    self.model,
                    self.timeout.for_text(&piece)
                );
                self.spoken.timed_out += 1;
                self.stop_speaking(remote)?;
                if self.current.is_none() {
                    self.send_next(remote)?;
                }
                Ok(())
            }
            Some(Current::Stopping { .. }) => {
                log::debug!(
                    "no SYNTH_EVENT_STOP|{} for the stopped piece; going on",
                    self.model
                );
                self.send_next(remote)
            }
            None => Ok(()),
        }
    }

    /// When the speaker next needs [`handle_deadline`](Self::handle_deadline). `None` when it
    /// waits for nothing ([`is_idle`](Self::is_idle)), and also when it waits without a deadline
    /// (a [`SpeechTimeout`] too long to count, such as `Duration::MAX`).
    pub fn deadline(&self) -> Option<Instant> {
        self.current.as_ref().and_then(Current::deadline)
    }

    /// Whether nothing is being spoken, stopped or queued.
    pub fn is_idle(&self) -> bool {
        self.current.is_none() && self.queue.is_empty()
    }

    /// The piece being spoken, if one is.
    pub fn speaking(&self) -> Option<&str> {
        match &self.current {
            Some(Current::Speaking { piece, .. }) => Some(piece),
            _ => None,
        }
    }

    /// How many pieces are queued behind the current one.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// What happened to every piece this speaker has sent or dropped so far.
    pub fn spoken(&self) -> Spoken {
        self.spoken
    }

    /// Drops the queue and, if a piece is being spoken, sends `SYNTH_STOP|model`. The next piece
    /// spoken waits for the stopped one's `SYNTH_EVENT_STOP`, at most
    /// [`SpeechTimeout::after_cancel`].
    pub fn cancel(&mut self, remote: &Remote) -> Result<(), Error> {
        self.queue.clear();
        if let Some(Current::Speaking { .. }) = self.current {
            self.current = None;
            self.stop_speaking(remote)?;
        }
        Ok(())
    }

    /// Receives events until everything queued is spoken (or timed out, or dropped), acting on
    /// each and then handing it to `on_event`, which may end the wait early with
    /// [`ControlFlow::Break`] (the queue stays as it is: [`cancel`](Self::cancel) it, or wait
    /// again). Returns what happened to the pieces meanwhile. Returns early also if the remote's
    /// events end, which they do not while it runs. The event reaches `on_event` even when acting
    /// on it failed; the error is returned after.
    pub fn wait(
        &mut self,
        remote: &Remote,
        mut on_event: impl FnMut(Event) -> ControlFlow<()>,
    ) -> Result<Spoken, Error> {
        let before = self.spoken;
        while let Some(current) = &self.current {
            let received = match current.deadline() {
                Some(deadline) => {
                    match remote.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                        Ok(event) => Some(event),
                        Err(RecvTimeoutError::Timeout) => None,
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                }
                None => match remote.recv() {
                    Ok(event) => Some(event),
                    Err(_) => break,
                },
            };
            let Some(event) = received else {
                self.handle_deadline(remote)?;
                continue;
            };
            let handled = self.handle_event(remote, &event);
            let flow = on_event(event);
            handled?;
            if flow.is_break() {
                break;
            }
        }
        Ok(self.spoken.since(before))
    }

    /// Sends `SYNTH_STOP` for a piece no longer current, and waits for its end unless nobody heard.
    fn stop_speaking(&mut self, remote: &Remote) -> Result<(), Error> {
        let stop = Command::SynthStop {
            model: self.model.clone(),
        };
        if remote.send(&Item::Message(stop.to_message()?))? > 0 {
            self.current = Some(Current::Stopping {
                deadline: deadline_after(self.timeout.after_cancel),
            });
        }
        Ok(())
    }

    fn send_next(&mut self, remote: &Remote) -> Result<(), Error> {
        let Some(piece) = self.queue.pop_front() else {
            return Ok(());
        };
        let message = Command::SynthStart {
            model: self.model.clone(),
            voice: self.voice.clone(),
            text: piece.clone(),
        }
        .to_message()?;
        if remote.send(&Item::Message(message))? == 0 {
            let dropped = 1 + self.queue.len();
            log::warn!(
                "no peer connected to speak {piece:?}; dropping it and the {} pieces after it",
                self.queue.len()
            );
            self.queue.clear();
            self.spoken.not_sent += dropped;
            return Ok(());
        }
        log::debug!("speaking {piece:?}");
        let deadline = deadline_after(self.timeout.for_text(&piece));
        self.current = Some(Current::Speaking { piece, deadline });
        Ok(())
    }
}
