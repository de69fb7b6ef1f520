//! SIGINT, SIGTERM and SIGHUP as a channel the command's loop waits on, beside its others.
//!
//! The only unsafe code of the crate, and it lives in the binary: the library stays
//! `forbid(unsafe_code)`. It is the classic self-pipe: the handler does nothing but atomics and
//! one `write(2)` of one byte to a socket, both async-signal-safe; a thread blocked reading the
//! other end turns the byte into a message on a channel. A second signal ends the process at once
//! with `_exit(2)`, also async-signal-safe, for when shutting down takes too long.
//!
//! The socket's writing end is never closed while a handler may run (it is kept in a static), so
//! the descriptor the handler writes to can never be reused for another file. The thread is
//! joined when [`SignalWatch`] is dropped: dropping writes a byte of 0, which no signal sends.

use std::ffi::{c_int, c_void};
use std::io::{Read, Write};
use std::os::unix::io::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::thread::{self, JoinHandle};

use crossbeam_channel::Receiver;

const SIGHUP: c_int = 1;
const SIGINT: c_int = 2;
const SIGTERM: c_int = 15;
/// What `signal(2)` returns on failure (`SIG_ERR`, `(void (*)(int)) -1`).
const SIG_ERR: usize = usize::MAX;
/// The byte that asks the watching thread to end; signals send their number, never 0.
const STOP_WATCHING: u8 = 0;

extern "C" {
    // `sighandler_t signal(int, sighandler_t)`: glibc and the BSDs give it BSD semantics (the
    // handler stays installed, interrupted calls restart). `sighandler_t` is a pointer to
    // `void (int)`, which is what an `extern "C" fn(c_int)` is.
    fn signal(signum: c_int, handler: extern "C" fn(c_int)) -> usize;
    fn write(fd: c_int, buf: *const c_void, count: usize) -> isize;
    fn _exit(status: c_int) -> !;
}

/// The descriptor the handler writes to; -1 until the watch starts.
static WRITE_END: AtomicI32 = AtomicI32::new(-1);
/// Signals received so far.
static RECEIVED: AtomicUsize = AtomicUsize::new(0);
/// The writing end itself, kept open for the life of the process (see the module's docs).
static WRITER: OnceLock<UnixStream> = OnceLock::new();

extern "C" fn on_signal(number: c_int) {
    // Atomics are lock-free here, so safe in a handler.
    if RECEIVED.fetch_add(1, Ordering::SeqCst) > 0 {
        // SAFETY: `_exit` is async-signal-safe (POSIX.1) and takes any status; it does not
        // return, run destructors or touch locks another thread may hold.
        unsafe { _exit(128 + number) }
    }
    let byte = u8::try_from(number).unwrap_or(u8::MAX);
    // SAFETY: `write` is async-signal-safe. The descriptor is the writing end kept open in
    // `WRITER` for the life of the process and set before the handler was installed; it is
    // non-blocking, so the handler cannot block; the buffer is a live local byte and the count 1.
    // Only the first signal writes, so errno (which a failed write would change) is changed at
    // most once, and the first write into an empty socket buffer does not fail.
    unsafe {
        write(
            WRITE_END.load(Ordering::SeqCst),
            (&byte as *const u8).cast::<c_void>(),
            1,
        );
    }
}

/// The signals received, and the thread that turns them into messages.
pub struct SignalWatch {
    received: Receiver<&'static str>,
    thread: Option<JoinHandle<()>>,
}

impl SignalWatch {
    /// Installs the handlers for SIGINT, SIGTERM and SIGHUP; `None`, with an error logged, if
    /// that cannot be done (the signals then end the process as they do by default).
    pub fn start() -> Option<SignalWatch> {
        let (writer, mut reader) = UnixStream::pair()
            .and_then(|(writer, reader)| writer.set_nonblocking(true).map(|()| (writer, reader)))
            .map_err(|error| log::error!("cannot watch for signals: {error}"))
            .ok()?;
        WRITE_END.store(writer.as_raw_fd(), Ordering::SeqCst);
        if WRITER.set(writer).is_err() {
            log::error!("signals are watched already");
            return None;
        }
        let (send, received) = crossbeam_channel::bounded(1);
        let thread = thread::Builder::new()
            .name("signals".to_owned())
            .spawn(move || {
                let mut byte = [0];
                while reader.read_exact(&mut byte).is_ok() && byte[0] != STOP_WATCHING {
                    let _ = send.try_send(name(c_int::from(byte[0])));
                }
            })
            .map_err(|error| log::error!("cannot watch for signals: {error}"))
            .ok()?;
        for number in [SIGINT, SIGTERM, SIGHUP] {
            // SAFETY: `on_signal` only does what is async-signal-safe (see it), and the
            // descriptor it writes to is set above, before any handler can run.
            if unsafe { signal(number, on_signal) } == SIG_ERR {
                log::error!(
                    "cannot handle {}: it ends the command at once",
                    name(number)
                );
            }
        }
        Some(SignalWatch {
            received,
            thread: Some(thread),
        })
    }

    /// Each signal's name (`SIGTERM`), as it comes.
    pub fn received(&self) -> &Receiver<&'static str> {
        &self.received
    }
}

impl Drop for SignalWatch {
    fn drop(&mut self) {
        if let Some(mut writer) = WRITER.get() {
            let _ = writer.write_all(&[STOP_WATCHING]);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn name(number: c_int) -> &'static str {
    match number {
        SIGHUP => "SIGHUP",
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}
