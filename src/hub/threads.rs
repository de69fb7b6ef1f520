//! The library's threads: each is started here and joined by the host at shutdown, or earlier once
//! it has finished, so no thread is left that nobody joins.

use std::io;
use std::sync::Mutex;
use std::thread::{self, JoinHandle};

use crate::hub::lock;

/// Handles of every running library thread, and the names of those that panicked.
#[derive(Default)]
pub(crate) struct ThreadSet {
    running: Mutex<Vec<JoinHandle<()>>>,
    panicked: Mutex<Vec<String>>,
}

impl ThreadSet {
    /// Starts a thread the host will join at shutdown. Finished threads are joined here, so a
    /// long-running server does not collect a handle per connection it ever had.
    pub(crate) fn spawn(
        &self,
        name: String,
        body: impl FnOnce() + Send + 'static,
    ) -> io::Result<()> {
        let handle = thread::Builder::new().name(name).spawn(body)?;
        let finished: Vec<JoinHandle<()>> = {
            let mut running = lock(&self.running);
            let (finished, still_running) = std::mem::take(&mut *running)
                .into_iter()
                .partition(|thread| thread.is_finished());
            *running = still_running;
            running.push(handle);
            finished
        };
        for thread in finished {
            self.join(thread);
        }
        Ok(())
    }

    /// Joins a library thread, taking note if it panicked.
    pub(crate) fn join(&self, thread: JoinHandle<()>) {
        let name = thread.thread().name().unwrap_or("unnamed").to_owned();
        if thread.join().is_err() {
            log::error!("library thread {name} panicked; please report this as a bug");
            lock(&self.panicked).push(name);
        }
    }

    /// Joins every thread started so far, and those they start meanwhile, until none is left.
    pub(crate) fn join_all(&self) {
        loop {
            let threads = std::mem::take(&mut *lock(&self.running));
            if threads.is_empty() {
                return;
            }
            for thread in threads {
                self.join(thread);
            }
        }
    }

    /// Names of the library threads that panicked so far.
    pub(crate) fn panicked(&self) -> Vec<String> {
        lock(&self.panicked).clone()
    }
}
