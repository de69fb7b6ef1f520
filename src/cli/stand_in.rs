//! The stand-in's speech: what a running agent answers to `SYNTH_START`, with a made-up speaking
//! time, so a controller that waits for `SYNTH_EVENT_STOP` runs end to end without the agent.
//!
//! It holds the stops due and says when the next one is; the command's loop waits for that
//! deadline together with its other channels, so no thread sleeps and none is started.

use std::time::{Duration, Instant};

use mmdagent_remote::{Item, Message, Remote};

/// How long the stand-in "speaks" before every character.
const SPEAKING_START: Duration = Duration::from_millis(100);
/// How long it "speaks" per character of the text.
const SPEAKING_PER_CHAR: Duration = Duration::from_millis(20);
/// The longest it "speaks", whatever the text.
const SPEAKING_AT_MOST: Duration = Duration::from_secs(3);

/// How long the stand-in takes to "speak" a text: 100 ms + 20 ms per character, at most 3 s.
pub fn speaking_time(text: &str) -> Duration {
    let characters = u32::try_from(text.chars().count()).unwrap_or(u32::MAX);
    SPEAKING_START
        .saturating_add(SPEAKING_PER_CHAR.saturating_mul(characters))
        .min(SPEAKING_AT_MOST)
}

/// The `SYNTH_EVENT_STOP`s due, each with its model.
#[derive(Default)]
pub struct SpeechStandIn {
    due: Vec<(Instant, String)>,
}

impl SpeechStandIn {
    /// Answers a message a peer sent, to every peer: `SYNTH_START|m|v|t` with `SYNTH_EVENT_START|m`
    /// at once and `SYNTH_EVENT_STOP|m` after [`speaking_time`]`(t)`; `SYNTH_STOP|m` with the
    /// `SYNTH_EVENT_STOP|m` of every speech of `m` still going, at once (assumed of the agent, which
    /// ends the speech it stops).
    pub fn answer(&mut self, remote: &Remote, message: &Message<'_>, now: Instant) {
        match message.name() {
            "SYNTH_START" => {
                let mut args = message.args().splitn(3, '|');
                let (Some(model), Some(_voice), Some(text)) =
                    (args.next(), args.next(), args.next())
                else {
                    return;
                };
                if model.is_empty() {
                    return;
                }
                send(remote, "SYNTH_EVENT_START", model);
                self.due.push((now + speaking_time(text), model.to_owned()));
            }
            "SYNTH_STOP" => {
                let model = message.args();
                let before = self.due.len();
                self.due.retain(|(_, speaking)| speaking != model);
                for _ in self.due.len()..before {
                    send(remote, "SYNTH_EVENT_STOP", model);
                }
            }
            _ => {}
        }
    }

    /// When the next `SYNTH_EVENT_STOP` is due, if one is.
    pub fn next_due(&self) -> Option<Instant> {
        self.due.iter().map(|(at, _)| *at).min()
    }

    /// Sends every `SYNTH_EVENT_STOP` due by `now`, earliest first.
    pub fn send_due(&mut self, remote: &Remote, now: Instant) {
        self.due.sort_by_key(|(at, _)| *at);
        let ready = self.due.partition_point(|(at, _)| *at <= now);
        for (_, model) in self.due.drain(..ready) {
            send(remote, "SYNTH_EVENT_STOP", &model);
        }
    }
}

fn send(remote: &Remote, name: &str, model: &str) {
    if let Err(error) = remote.send(&Item::Message(Message::new(name, model))) {
        log::warn!("not sent: {error}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speaking_time_grows_with_the_text_up_to_three_seconds() {
        assert_eq!(speaking_time(""), Duration::from_millis(100));
        assert_eq!(speaking_time("こんにちは"), Duration::from_millis(200));
        assert_eq!(speaking_time(&"a".repeat(1000)), Duration::from_secs(3));
    }
}
