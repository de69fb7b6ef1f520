//! The one driver of every handshake: TLS (either side) and the HTTP upgrade (either side), each
//! an I/O-free state over a [`MemoryStream`], driven here over the real socket on the calling
//! thread until it completes, fails, runs out of time or the host shuts down.
//!
//! Between steps the driver writes what the handshake produced and reads more of the far side's
//! answer, with the socket's timeouts set to what is left before the deadline. The host shutting
//! down wakes a blocked read by shutting the socket down (see [`Hub::watch`](crate::hub::Hub)).
//! The HTTP upgrade runs over [`HeaderOnly`], which hands it the bytes up to the end of the HTTP
//! header and keeps whatever follows for the connection.

use std::io::{self, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tungstenite::handshake::{HandshakeError, HandshakeRole, MidHandshake};

use crate::hub::lock;
use crate::transport::memory_stream::Buffers;

/// Bytes asked for in one read during a handshake.
const HANDSHAKE_READ_SIZE: usize = 16 * 1024;
/// The longest HTTP header accepted in an upgrade, request or response.
const MAX_HEADER_LENGTH: usize = 64 * 1024;

/// Where a handshake stands after a step.
pub(crate) enum Step<H: Resumable> {
    Done(H::Done),
    /// It needs more of the far side's answer.
    Again(H),
}

/// A handshake that stops when it needs bytes not yet read, and can be resumed.
pub(crate) trait Resumable: Sized {
    type Done;
    type Failure;
    fn resume(self) -> Result<Step<Self>, Self::Failure>;
}

impl<R: HandshakeRole> Resumable for MidHandshake<R> {
    type Done = R::FinalResult;
    type Failure = tungstenite::Error;

    fn resume(self) -> Result<Step<Self>, tungstenite::Error> {
        upgrade_step(self.handshake())
    }
}

/// The first step of an HTTP upgrade, as tungstenite returns it.
pub(crate) fn upgrade_step<R: HandshakeRole>(
    result: Result<R::FinalResult, HandshakeError<R>>,
) -> Result<Step<MidHandshake<R>>, tungstenite::Error> {
    match result {
        Ok(done) => Ok(Step::Done(done)),
        Err(HandshakeError::Interrupted(midway)) => Ok(Step::Again(midway)),
        Err(HandshakeError::Failure(error)) => Err(error),
    }
}

#[cfg(feature = "tls")]
impl<S: Read + Write> Resumable for native_tls::MidHandshakeTlsStream<S> {
    type Done = native_tls::TlsStream<S>;
    type Failure = native_tls::Error;

    fn resume(self) -> Result<Step<Self>, native_tls::Error> {
        tls_step(self.handshake())
    }
}

/// The first step of a TLS handshake, as native-tls returns it.
#[cfg(feature = "tls")]
pub(crate) fn tls_step<S: Read + Write>(
    result: Result<native_tls::TlsStream<S>, native_tls::HandshakeError<S>>,
) -> Result<Step<native_tls::MidHandshakeTlsStream<S>>, native_tls::Error> {
    match result {
        Ok(done) => Ok(Step::Done(done)),
        Err(native_tls::HandshakeError::WouldBlock(midway)) => Ok(Step::Again(midway)),
        Err(native_tls::HandshakeError::Failure(error)) => Err(error),
    }
}

/// Why a handshake did not complete.
pub(crate) enum Failed<F> {
    /// The handshake itself refused (a bad certificate, an HTTP status).
    Refused(F),
    /// The socket failed, ended, or the far side did not answer in time.
    Wire(String),
}

/// The socket under a handshake, the buffers its state reads and writes, and the deadline.
pub(crate) struct Wire<'s> {
    socket: &'s TcpStream,
    buffers: Arc<Mutex<Buffers>>,
    deadline: Instant,
    outgoing: Vec<u8>,
}

impl<'s> Wire<'s> {
    pub(crate) fn new(
        socket: &'s TcpStream,
        buffers: Arc<Mutex<Buffers>>,
        deadline: Instant,
    ) -> Self {
        Wire {
            socket,
            buffers,
            deadline,
            outgoing: Vec::new(),
        }
    }

    /// Drives a handshake from its first step until it is done.
    pub(crate) fn drive<H: Resumable>(
        &mut self,
        first: Result<Step<H>, H::Failure>,
    ) -> Result<H::Done, Failed<H::Failure>> {
        let mut step = first;
        loop {
            // What the handshake wrote goes out whatever it came to: a refusal is an HTTP answer
            // or a TLS alert the far side should see.
            let sent = self.send_outgoing();
            match step {
                Err(refusal) => return Err(Failed::Refused(refusal)),
                Ok(Step::Done(done)) => {
                    sent.map_err(Failed::Wire)?;
                    return Ok(done);
                }
                Ok(Step::Again(midway)) => {
                    sent.map_err(Failed::Wire)?;
                    self.receive().map_err(Failed::Wire)?;
                    step = midway.resume();
                }
            }
        }
    }

    fn time_left(&self) -> Result<Duration, String> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err("timed out waiting for the far side's answer".to_owned());
        }
        Ok(left)
    }

    fn send_outgoing(&mut self) -> Result<(), String> {
        lock(&self.buffers).take_outgoing(&mut self.outgoing);
        if self.outgoing.is_empty() {
            return Ok(());
        }
        let left = self.time_left()?;
        let _ = self.socket.set_write_timeout(Some(left));
        let mut socket = self.socket;
        let written = socket.write_all(&self.outgoing);
        self.outgoing.clear();
        written.map_err(|error| timed_out_or(error, "sending failed"))
    }

    fn receive(&mut self) -> Result<(), String> {
        let left = self.time_left()?;
        let _ = self.socket.set_read_timeout(Some(left));
        let mut buffer = [0; HANDSHAKE_READ_SIZE];
        let mut socket = self.socket;
        loop {
            match socket.read(&mut buffer) {
                Ok(0) => {
                    lock(&self.buffers).end();
                    return Ok(());
                }
                Ok(read) => {
                    lock(&self.buffers).feed(&buffer[..read]);
                    return Ok(());
                }
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                Err(error) => return Err(timed_out_or(error, "reading failed")),
            }
        }
    }
}

impl Drop for Wire<'_> {
    fn drop(&mut self) {
        // The connection's reader and writer block without timeouts.
        let _ = self.socket.set_read_timeout(None);
        let _ = self.socket.set_write_timeout(None);
    }
}

fn timed_out_or(error: io::Error, what: &str) -> String {
    match error.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => {
            "timed out waiting for the far side's answer".to_owned()
        }
        _ => format!("{what}: {error}"),
    }
}

/// A stream that hands its reader the bytes up to the end of an HTTP header (the first blank
/// line) and no further, keeping the rest for [`into_parts`](HeaderOnly::into_parts). Writes pass
/// through.
pub(crate) struct HeaderOnly<S> {
    inner: S,
    buffered: Vec<u8>,
    served: usize,
    header_end: Option<usize>,
}

impl<S> HeaderOnly<S> {
    pub(crate) fn new(inner: S) -> Self {
        HeaderOnly {
            inner,
            buffered: Vec::new(),
            served: 0,
            header_end: None,
        }
    }

    /// The stream, and the bytes after the header that this stream read from it (more may wait in
    /// the stream itself).
    pub(crate) fn into_parts(self) -> (S, Vec<u8>) {
        let mut rest = self.buffered;
        rest.drain(..self.header_end.unwrap_or(rest.len()));
        (self.inner, rest)
    }
}

impl<S: Read> Read for HeaderOnly<S> {
    fn read(&mut self, into: &mut [u8]) -> io::Result<usize> {
        loop {
            let limit = self.header_end.unwrap_or(self.buffered.len());
            if self.served < limit {
                let count = (limit - self.served).min(into.len());
                into[..count].copy_from_slice(&self.buffered[self.served..self.served + count]);
                self.served += count;
                return Ok(count);
            }
            if self.header_end.is_some() {
                return Err(ErrorKind::WouldBlock.into());
            }
            let mut chunk = [0; 4096];
            let read = self.inner.read(&mut chunk)?;
            if read == 0 {
                return Ok(0);
            }
            // The end may straddle the previous read: look again from just before the new bytes.
            let from = self.buffered.len().saturating_sub(3);
            self.buffered.extend_from_slice(&chunk[..read]);
            self.header_end = self.buffered[from..]
                .windows(4)
                .position(|window| window == b"\r\n\r\n")
                .map(|position| from + position + 4);
            if self.header_end.is_none() && self.buffered.len() > MAX_HEADER_LENGTH {
                return Err(io::Error::new(
                    ErrorKind::InvalidData,
                    format!("the HTTP header is longer than {MAX_HEADER_LENGTH} bytes"),
                ));
            }
        }
    }
}

impl<S: Write> Write for HeaderOnly<S> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.inner.write(bytes)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_upgrade_sees_the_header_and_the_connection_keeps_the_rest() {
        for cut in 1..40 {
            let wire = b"HTTP/1.1 101 OK\r\nUpgrade: websocket\r\n\r\n\x81\x03abc";
            let source = crate::transport::memory_stream::MemoryStream::default();
            let mut stream = HeaderOnly::new(source.clone());
            let mut seen = Vec::new();
            let mut into = [0; 7];
            for piece in wire.chunks(cut) {
                lock(&source.0).feed(piece);
                loop {
                    match stream.read(&mut into) {
                        Ok(read) => seen.extend_from_slice(&into[..read]),
                        Err(error) if error.kind() == ErrorKind::WouldBlock => break,
                        Err(error) => panic!("{error}"),
                    }
                }
            }
            assert_eq!(seen, &wire[..wire.len() - 5], "cut {cut}");
            let (_, mut rest) = stream.into_parts();
            rest.extend(lock(&source.0).take_unread());
            assert_eq!(rest, b"\x81\x03abc", "cut {cut}");
        }
    }

    #[test]
    fn an_endless_header_is_refused() {
        let source = crate::transport::memory_stream::MemoryStream::default();
        lock(&source.0).feed(&vec![b'a'; MAX_HEADER_LENGTH + 10]);
        let mut stream = HeaderOnly::new(source);
        let mut into = vec![0; MAX_HEADER_LENGTH * 2];
        let mut error = None;
        for _ in 0..100 {
            match stream.read(&mut into) {
                Ok(count) => assert!(count > 0),
                Err(failure) => {
                    error = Some(failure);
                    break;
                }
            }
        }
        assert_eq!(error.unwrap().kind(), ErrorKind::InvalidData);
    }
}
