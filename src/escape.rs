//! Text from elsewhere (records, client ids, broker and worker messages) made
//! safe for a terminal: control characters and invalid UTF-8 escaped. Pure
//! text, depending on nothing of the crate, so the error line (error.rs), the
//! logger and every renderer can use it without a cycle.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Payload bytes as one line of text: valid UTF-8 as is, invalid bytes as
/// `\xNN`, and control characters escaped so a record is always one line.
/// Returns whether anything was escaped.
pub fn escape(bytes: &[u8], out: &mut String) -> bool {
    let mut escaped = false;
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                c if c.is_control() => {
                    let _ = write!(out, "\\x{:02x}", c as u32);
                }
                c => {
                    out.push(c);
                    continue;
                }
            }
            escaped = true;
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
            escaped = true;
        }
    }
    escaped
}

/// Text from Kafka (a client id, a group name, a record's key, a broker's
/// message) for a one-line place meant for humans: a table cell, a warning,
/// an error line. Control characters (newline and tab too) are written as
/// `escape` writes them, so nothing in it can move the cursor, retitle or
/// recolour the terminal, or start a line of its own. Borrowed when clean.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    escape(text.as_bytes(), &mut out);
    Cow::Owned(out)
}

/// A writer for human-facing text that may hold data from elsewhere (a
/// Connect worker's names, traces and configs): control characters other
/// than newline and tab are written as `\xNN`, so no data can move the
/// cursor, retitle or recolour the terminal. Each write must be whole UTF-8,
/// as formatted text is.
pub struct Escaped<W>(pub W);

impl<W: std::io::Write> std::io::Write for Escaped<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        if !text
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            self.0.write_all(buf)?;
            return Ok(buf.len());
        }
        let mut out = String::with_capacity(text.len() + 8);
        for c in text.chars() {
            if c.is_control() && c != '\n' && c != '\t' {
                let _ = write!(out, "\\x{:02x}", c as u32);
            } else {
                out.push(c);
            }
        }
        self.0.write_all(out.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}
