//! The byte stream that TLS and the HTTP upgrade run over: two buffers in memory instead of a
//! socket, so that their state does no I/O and the thread that holds it never blocks.
//!
//! Reads take what the socket's reader put in (`WouldBlock` when there is none yet, end-of-stream
//! once the socket ended); writes append to what the writer is to send. Each [`MemoryStream`] and
//! whoever drives it share one [`Buffers`].

use std::io::{self, ErrorKind, Read, Write};
use std::sync::{Arc, Mutex};

use crate::hub::lock;

/// What was read from the socket and not yet consumed, and what is to be written to it.
#[derive(Default)]
pub(crate) struct Buffers {
    incoming: Vec<u8>,
    consumed: usize,
    ended: bool,
    outgoing: Vec<u8>,
}

impl Buffers {
    /// Adds bytes read from the socket.
    pub(crate) fn feed(&mut self, bytes: &[u8]) {
        if self.consumed == self.incoming.len() {
            self.incoming.clear();
            self.consumed = 0;
        }
        self.incoming.extend_from_slice(bytes);
    }

    /// Takes what was read from the socket and not yet consumed.
    pub(crate) fn take_unread(&mut self) -> Vec<u8> {
        let mut unread = std::mem::take(&mut self.incoming);
        unread.drain(..self.consumed);
        self.consumed = 0;
        unread
    }

    /// The socket has no more to read.
    pub(crate) fn end(&mut self) {
        self.ended = true;
    }

    /// Moves what is to be written to the end of `into`.
    pub(crate) fn take_outgoing(&mut self, into: &mut Vec<u8>) {
        if into.is_empty() {
            std::mem::swap(into, &mut self.outgoing);
        } else {
            into.append(&mut self.outgoing);
        }
    }

    pub(crate) fn has_outgoing(&self) -> bool {
        !self.outgoing.is_empty()
    }
}

/// A stream over shared [`Buffers`].
#[derive(Clone, Default)]
pub(crate) struct MemoryStream(pub Arc<Mutex<Buffers>>);

impl Read for MemoryStream {
    fn read(&mut self, into: &mut [u8]) -> io::Result<usize> {
        let mut buffers = lock(&self.0);
        let available = &buffers.incoming[buffers.consumed..];
        if available.is_empty() {
            return if buffers.ended {
                Ok(0)
            } else {
                Err(ErrorKind::WouldBlock.into())
            };
        }
        let count = available.len().min(into.len());
        into[..count].copy_from_slice(&available[..count]);
        buffers.consumed += count;
        Ok(count)
    }
}

impl Write for MemoryStream {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        lock(&self.0).outgoing.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wait_for_bytes_and_end_after_the_socket_ends() {
        let stream = MemoryStream::default();
        let mut reading = stream.clone();
        let mut into = [0; 4];
        let would_block = reading.read(&mut into).unwrap_err();
        assert_eq!(would_block.kind(), ErrorKind::WouldBlock);
        lock(&stream.0).feed(b"abcdef");
        assert_eq!(reading.read(&mut into).unwrap(), 4);
        assert_eq!(reading.read(&mut into).unwrap(), 2);
        assert_eq!(&into[..2], b"ef");
        lock(&stream.0).end();
        assert_eq!(reading.read(&mut into).unwrap(), 0);
    }

    #[test]
    fn writes_collect_until_taken() {
        let mut stream = MemoryStream::default();
        stream.write_all(b"one").unwrap();
        stream.write_all(b"two").unwrap();
        let mut out = b">".to_vec();
        lock(&stream.0).take_outgoing(&mut out);
        assert_eq!(out, b">onetwo");
        assert!(!lock(&stream.0).has_outgoing());
    }
}
