//! Lines read from stdin, with a bound: a line has no length of its own, so
//! whatever a pipe sends, no more than `MAX_LINE_BYTES` of one line is held.

use std::io::BufRead;

/// The longest stdin line kept: far more than a record a broker takes at
/// its defaults (1 MiB), and what one line can cost at most. A longer line
/// is dropped as its bytes arrive, and what comes before and after it is
/// read as usual.
pub const MAX_LINE_BYTES: usize = 64 * 1024 * 1024;

/// One line read by `read_capped`.
#[derive(Debug, PartialEq, Eq)]
pub enum Capped {
    /// The line, without its `\n` or `\r\n`.
    Line(Vec<u8>),
    /// Longer than the bound: its bytes were dropped.
    TooLong,
    /// No more input.
    End,
}

/// The next line of `input`, holding at most `max` bytes of it.
pub fn read_capped(input: &mut impl BufRead, max: usize) -> std::io::Result<Capped> {
    let mut line = Vec::new();
    let mut too_long = false;
    loop {
        let buf = match input.fill_buf() {
            Ok(buf) => buf,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok(match (too_long, line.is_empty()) {
                (true, _) => Capped::TooLong,
                (false, true) => Capped::End,
                (false, false) => Capped::Line(line),
            });
        }
        let (piece, ended) = match buf.iter().position(|&b| b == b'\n') {
            Some(at) => (&buf[..at], Some(at + 1)),
            None => (buf, None),
        };
        // One byte of slack for the `\r` of a `\r\n`.
        if !too_long && line.len() + piece.len() > max.saturating_add(1) {
            too_long = true;
            line = Vec::new();
        }
        if !too_long {
            line.extend_from_slice(piece);
        }
        let used = ended.unwrap_or(buf.len());
        input.consume(used);
        if ended.is_some() {
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            return Ok(if too_long || line.len() > max {
                Capped::TooLong
            } else {
                Capped::Line(line)
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_past_the_bound_are_dropped_and_the_others_read() {
        for capacity in [1, 3, 100] {
            let text = b"abcd\nabcde\nab\r\nabcdefghij\r\nlast".as_slice();
            let mut input = std::io::BufReader::with_capacity(capacity, text);
            let mut got = Vec::new();
            loop {
                match read_capped(&mut input, 4).unwrap() {
                    Capped::End => break,
                    other => got.push(other),
                }
            }
            assert_eq!(
                got,
                vec![
                    Capped::Line(b"abcd".to_vec()),
                    Capped::TooLong,
                    Capped::Line(b"ab".to_vec()),
                    Capped::TooLong,
                    Capped::Line(b"last".to_vec()),
                ],
                "reads of {capacity}"
            );
        }
        let mut input = std::io::BufReader::new(b"abcd\r\n".as_slice());
        assert_eq!(
            read_capped(&mut input, 4).unwrap(),
            Capped::Line(b"abcd".to_vec())
        );
        assert_eq!(read_capped(&mut input, 4).unwrap(), Capped::End);
    }
}
