//! Speech sentence by sentence: each piece sent as `SYNTH_START` once the agent has finished the
//! one before.
//!
//! A [`Speaker`] starts no thread and receives nothing by itself. It sends through the [`Remote`]
//! it is handed and learns that a piece is done from the events the host shows it
//! ([`Speaker::handle_event`]); it only looks at them, so the host still sees every event. Its one
//! clock is a deadline ([`Speaker::deadline`]) that the host's receive loop waits on, so a lost
//! `SYNTH_EVENT_STOP` ends in a timeout rather than a hang. [`Speaker::wait`] is that receive loop
//! for a host with nothing else to do meanwhile.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::codec::Item;
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
/// that it is taken as spoken (with a warning) and the next piece goes. The defaults, 5 s and
/// 300 ms, leave room for slow Japanese speech (about four characters a second) and a slow start.
/// After [`Speaker::cancel`], the next piece waits for the stopped piece's `SYNTH_EVENT_STOP` at
/// most `after_cancel` (default 1 s): this crate assumes the agent may still send that event, and
/// it must not be taken for the end of the next piece.
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

/// What one [`Speaker::wait`] saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Spoken {
    /// Pieces the agent reported finished (`SYNTH_EVENT_STOP`).
    pub finished: usize,
    /// Pieces given up on after their timeout.
    pub timed_out: usize,
}

/// Speaks texts through one model, a piece at a time.
///
/// [`speak`](Speaker::speak) makes the text safe (`|` becomes `｜`, NUL a space), splits it with
/// [`split_utterance`] so that every `SYNTH_START` line fits the agent's 2,047 bytes, queues the
/// pieces and sends the first unless a piece is being spoken. Each later piece is sent when the
/// host shows the speaker `SYNTH_EVENT_STOP` for its model ([`handle_event`](Speaker::handle_event)),
/// or when the piece's [`SpeechTimeout`] has passed ([`handle_deadline`](Speaker::handle_deadline)).
///
/// The speaker does no receiving of its own, so it fits any host loop and loses no event: feed it
/// every event the loop receives, and wait no longer than [`deadline`](Speaker::deadline). From
/// plain threads, keep the speaker with the thread that receives, and send it texts through a
/// channel (select on it and on [`Remote::inbound`]). With nothing else to do, call
/// [`wait`](Speaker::wait), which receives until the queue is spoken and hands every event on.
///
/// A `SYNTH_EVENT_STOP` for the model ends the current piece whoever caused it: if something else
/// also speaks through the same model, the pieces may overlap.
///
/// ```no_run
/// use mmdagent_remote::agent::Speaker;
/// # fn run(remote: &mmdagent_remote::Remote) -> Result<(), mmdagent_remote::Error> {
/// let mut speaker = Speaker::new("mei", "mei_voice_normal")?;
/// speaker.speak(remote, "こんにちは。今日はいい天気ですね。")?;
/// let spoken = speaker.wait(remote, |event| log::debug!("{event:?}"))?;
/// assert_eq!(spoken.finished + spoken.timed_out, 2);
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
    /// The piece the agent is speaking (`None` for one cancelled) and when to stop waiting for it.
    current: Option<(Option<String>, Instant)>,
    finished: usize,
    timed_out: usize,
}

impl Speaker {
    /// A speaker for the model with this alias, in this voice, with the default [`SpeechTimeout`].
    /// Fails if the model or voice cannot be sent, or leave too little room for text.
    pub fn new(
        model: impl Into<String>,
        voice: impl Into<String>,
    ) -> Result<Speaker, CommandError> {
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
            });
        }
        Ok(Speaker {
            model,
            voice,
            timeout: SpeechTimeout::default(),
            max_piece_bytes,
            queue: VecDeque::new(),
            current: None,
            finished: 0,
            timed_out: 0,
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
    /// if nothing is being spoken. Returns how many pieces it made (0 for blank text).
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
    /// piece and sends the next. Also acts on a passed deadline, as
    /// [`handle_deadline`](Self::handle_deadline) does, so a busy stream cannot starve it.
    pub fn handle_event(&mut self, remote: &Remote, event: &Event) -> Result<(), Error> {
        if let Some(AgentEvent::SynthStopped { model }) = AgentEvent::from_event(event) {
            if model == self.model {
                if let Some((piece, _)) = self.current.take() {
                    if piece.is_some() {
                        self.finished += 1;
                    }
                    self.send_next(remote)?;
                }
            }
        }
        self.handle_deadline(remote)
    }

    /// If the current piece's deadline has passed, gives up waiting for it (with a warning) and
    /// sends the next.
    pub fn handle_deadline(&mut self, remote: &Remote) -> Result<(), Error> {
        match &self.current {
            Some((piece, deadline)) if *deadline <= Instant::now() => {
                if let Some(piece) = piece {
                    log::warn!(
                        "no SYNTH_EVENT_STOP|{} within {:?} for {piece:?}; going on with the next piece",
                        self.model,
                        self.timeout.for_text(piece)
                    );
                    self.timed_out += 1;
                }
                self.current = None;
                self.send_next(remote)
            }
            _ => Ok(()),
        }
    }

    /// When the speaker next needs [`handle_deadline`](Self::handle_deadline), if it waits for the
    /// agent.
    pub fn deadline(&self) -> Option<Instant> {
        self.current.as_ref().map(|&(_, deadline)| deadline)
    }

    /// Whether nothing is being spoken or queued.
    pub fn is_idle(&self) -> bool {
        self.current.is_none() && self.queue.is_empty()
    }

    /// The piece being spoken, if one is.
    pub fn speaking(&self) -> Option<&str> {
        self.current
            .as_ref()
            .and_then(|(piece, _)| piece.as_deref())
    }

    /// How many pieces are queued behind the current one.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Drops the queue and, if a piece is being spoken, sends `SYNTH_STOP|model`. The next piece
    /// spoken waits for the stopped one's `SYNTH_EVENT_STOP`, at most
    /// [`SpeechTimeout::after_cancel`].
    pub fn cancel(&mut self, remote: &Remote) -> Result<(), Error> {
        self.queue.clear();
        if let Some((piece, deadline)) = &mut self.current {
            if piece.take().is_some() {
                let stop = Command::SynthStop {
                    model: self.model.clone(),
                };
                remote.send(&Item::Message(stop.to_message()?))?;
                *deadline = Instant::now() + self.timeout.after_cancel;
            }
        }
        Ok(())
    }

    /// Receives events until everything queued is spoken (or timed out), acting on each and then
    /// handing it to `on_event`. Returns what happened to the pieces meanwhile. Returns early only
    /// if the remote's events end, which they do not while it runs.
    pub fn wait(
        &mut self,
        remote: &Remote,
        mut on_event: impl FnMut(Event),
    ) -> Result<Spoken, Error> {
        let (finished, timed_out) = (self.finished, self.timed_out);
        while let Some(deadline) = self.deadline() {
            let left = deadline.saturating_duration_since(Instant::now());
            match remote.recv_timeout(left) {
                Ok(event) => {
                    self.handle_event(remote, &event)?;
                    on_event(event);
                }
                Err(RecvTimeoutError::Timeout) => self.handle_deadline(remote)?,
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        Ok(Spoken {
            finished: self.finished - finished,
            timed_out: self.timed_out - timed_out,
        })
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
        log::debug!("speaking {piece:?}");
        let deadline = Instant::now() + self.timeout.for_text(&piece);
        self.current = Some((Some(piece), deadline));
        remote.send(&Item::Message(message))?;
        Ok(())
    }
}
