//! The clients' one loop: connect, serve the connection until it ends, and connect again, retrying
//! as the [`RetryPolicy`](crate::RetryPolicy) allows, until the host shuts down or the retries run
//! out. How one attempt connects is the transport's business.
//!
//! The pauses grow with each failure, with jitter, and start again once a link has stayed up
//! (see [`backoff`](super::backoff)). Every pause here waits on the stop signal, so shutting down
//! is never held up by a retry.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::RetryPolicy;
use crate::error::Error;
use crate::hub::{DisconnectReason, Event, Hub, Transport};
use crate::transport::backoff::Backoff;
use crate::transport::spawn_transport_thread;

/// Starts a client's connector thread, named `thread_name`, to run `connector` (which keeps its
/// connection through [`keep_connected`]); should the thread fail, the host is told.
pub(crate) fn start(
    hub: &Arc<Hub>,
    transport: Transport,
    thread_name: &str,
    connector: impl FnOnce(&Arc<Hub>) + Send + 'static,
) -> Result<(), Error> {
    spawn_transport_thread(hub, transport, "connector", thread_name, connector)
}

/// What one attempt came to.
pub(crate) enum Attempt {
    /// It connected at `connected_at`; the connection has ended since, for `reason`.
    Served {
        connected_at: Instant,
        reason: DisconnectReason,
    },
    /// It could not connect. `pause`: how long to wait before the next attempt, when the
    /// transport knows better than the policy's backoff.
    Failed {
        reason: String,
        pause: Option<Duration>,
    },
}

/// Keeps `target` connected through `attempt`, which is given how many failed attempts came
/// before it since the last connection.
pub(crate) fn keep_connected(
    hub: &Hub,
    transport: Transport,
    retry: &RetryPolicy,
    target: &dyn Fn() -> String,
    mut attempt: impl FnMut(u64) -> Attempt,
) {
    let mut backoff = Backoff::new();
    loop {
        let mut retries = 0u64;
        let (connected_at, reason) = loop {
            log::info!("connecting to {}", target());
            let (failure, pause) = match attempt(retries) {
                Attempt::Served {
                    connected_at,
                    reason,
                } => break (connected_at, reason),
                Attempt::Failed { reason, pause } => (reason, pause),
            };
            if hub.stop.is_stopped() {
                return;
            }
            retries += 1;
            if !retry.allows(retries) {
                log::error!("gave up connecting to {}: {failure}", target());
                hub.emit(Event::GaveUp {
                    transport,
                    target: target(),
                    reason: failure,
                });
                return;
            }
            let pause = pause.unwrap_or_else(|| backoff.next(retry));
            log::warn!(
                "cannot connect to {}: {failure}; retry {retries} in {pause:?}",
                target()
            );
            if hub.stop.sleep(pause) {
                return;
            }
        };
        if hub.stop.is_stopped() {
            return;
        }
        // A link that stayed up is followed at once by a new attempt, as in the original; one
        // lost sooner by the next pause, so a server that accepts and at once closes is not
        // hammered.
        if backoff.link_lasted(retry, connected_at.elapsed()) {
            log::warn!(
                "lost the connection to {} ({reason}); connecting again",
                target()
            );
        } else {
            let pause = backoff.next(retry);
            log::warn!(
                "lost the connection to {} ({reason}) soon after connecting; connecting again in {pause:?}",
                target()
            );
            if hub.stop.sleep(pause) {
                return;
            }
        }
    }
}
