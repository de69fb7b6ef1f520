//! Standard input as a channel of lines, read on a thread of its own.
//!
//! That thread is the one the command never joins: it blocks in `read` on standard input, which
//! nothing portable can interrupt. It holds only the sending end of its channel and its lock on
//! standard input; when the command is done it returns from `main` and the process ends with the
//! thread still blocked, which loses nothing (whatever it has not read was never taken from the
//! pipe). The channel holds a few lines, so when the command stops taking them the thread stops
//! reading, and the writer of the pipe waits.

use std::io::{self, BufRead};
use std::thread;

use crossbeam_channel::Receiver;

/// Lines read from standard input and not yet taken; past this the reader waits.
const LINES_IN_FLIGHT: usize = 64;

/// Lines of standard input; the channel ends with the input. Empty lines are skipped: they are no
/// message.
pub fn lines_of_stdin(max_line_length: usize) -> Receiver<String> {
    let (lines, typed) = crossbeam_channel::bounded(LINES_IN_FLIGHT);
    let spawned = thread::Builder::new()
        .name("stdin".to_owned())
        .spawn(move || {
            let mut input = io::stdin().lock();
            while let Some(line) = read_line(&mut input, max_line_length) {
                if !line.is_empty() && lines.send(line).is_err() {
                    break;
                }
            }
        });
    if let Err(error) = spawned {
        // The sender is gone with the closure: the channel reads as the end of input.
        log::error!("cannot start a thread to read standard input: {error}");
    }
    typed
}

/// The next line of `input` without its line end, `None` at the end of input (or when reading
/// fails). A line longer than `max_line_length` bytes is skipped with a warning, so memory stays
/// bounded whatever comes in; one that is not UTF-8 is taken with replacement characters.
fn read_line(input: &mut impl BufRead, max_line_length: usize) -> Option<String> {
    let mut line = Vec::new();
    let mut length = 0usize;
    loop {
        let available = match input.fill_buf() {
            Ok(available) => available,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => {
                log::error!("cannot read standard input: {error}");
                return None;
            }
        };
        if available.is_empty() {
            if length == 0 {
                return None;
            }
            break;
        }
        let (piece, found_end) = match available.iter().position(|&byte| byte == b'\n') {
            Some(end) => (&available[..end], true),
            None => (available, false),
        };
        length += piece.len();
        if length <= max_line_length {
            line.extend_from_slice(piece);
        }
        let consumed = piece.len() + usize::from(found_end);
        input.consume(consumed);
        if found_end {
            break;
        }
    }
    if length > max_line_length {
        log::warn!("not sent: a line of {length} bytes from standard input is longer than the limit of {max_line_length}");
        return Some(String::new());
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Some(String::from_utf8(line).unwrap_or_else(|error| {
        log::warn!("a line from standard input is not UTF-8; its bad bytes are sent as U+FFFD");
        String::from_utf8_lossy(error.as_bytes()).into_owned()
    }))
}

#[cfg(test)]
mod tests {
    use super::read_line;

    fn lines(input: &[u8], limit: usize) -> Vec<String> {
        let mut input = std::io::BufReader::with_capacity(4, input);
        std::iter::from_fn(|| read_line(&mut input, limit)).collect()
    }

    #[test]
    fn lines_are_split_at_line_ends_whatever_the_reads() {
        assert_eq!(lines(b"A|1\r\nB|2\nlast", 100), ["A|1", "B|2", "last"]);
    }

    #[test]
    fn an_overlong_line_is_skipped_and_the_next_one_read() {
        assert_eq!(lines(b"0123456789\nok\n", 5), ["", "ok"]);
    }

    #[test]
    fn bytes_that_are_not_utf8_do_not_end_the_input() {
        assert_eq!(lines(b"A|\xff\nB\n", 100), ["A|\u{fffd}", "B"]);
    }
}
