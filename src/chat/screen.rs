//! How a chat record looks on the terminal: one escaped line per record
//! (no record can move the cursor or span lines), clock times in the
//! viewer's zone, and how many rows a line takes.

use std::fmt::Write as _;

use jiff::tz::TimeZone;
use jiff::Timestamp;
use unicode_width::UnicodeWidthChar;

use crate::chat::{ChatRecord, Kind};
use crate::render::escape;

/// How many terminal rows `line` takes on a terminal `cols` wide: each
/// character's display width from Unicode's tables (CJK and most emoji take
/// two columns, combining marks none), and a wide character that does not
/// fit at the end of a row starts the next one, as terminals wrap.
pub fn screen_rows(line: &str, cols: usize) -> usize {
    let cols = cols.max(2);
    let (mut rows, mut col) = (1, 0);
    for c in line.chars() {
        let w = UnicodeWidthChar::width(c).unwrap_or(0);
        if col + w > cols {
            rows += 1;
            col = 0;
        }
        col += w;
    }
    rows
}

/// `12:01:02` in the viewer's time zone.
pub fn clock(ms: i64, tz: &TimeZone) -> String {
    match Timestamp::from_millisecond(ms) {
        Ok(ts) => tz.to_datetime(ts).strftime("%H:%M:%S").to_string(),
        Err(_) => "??:??:??".into(),
    }
}

/// The screen line for a record of the room topic (without the newline), or
/// None for a record that is not for the eye (a heartbeat). Names and texts
/// are escaped, so no record can move the cursor or span lines.
pub fn render(offset: i64, value: &[u8], tz: &TimeZone) -> Option<String> {
    let record = match ChatRecord::decode(value) {
        Ok(r) => r,
        Err(reason) => return Some(malformed(offset, value, &reason)),
    };
    let mut line = format!("[{}] ", clock(record.sent_at_ms, tz));
    match record.kind {
        Kind::Message => {
            escape(record.user.as_bytes(), &mut line);
            line.push_str(": ");
            escape(record.text.as_bytes(), &mut line);
        }
        Kind::Join | Kind::Leave => {
            line.push_str("* ");
            escape(record.user.as_bytes(), &mut line);
            line.push_str(if record.kind == Kind::Join {
                " joined"
            } else {
                " left"
            });
        }
        Kind::Heartbeat => return None,
    }
    Some(line)
}

const PREVIEW_CHARS: usize = 40;

fn malformed(offset: i64, value: &[u8], reason: &str) -> String {
    let mut preview = String::new();
    escape(value, &mut preview);
    if preview.chars().count() > PREVIEW_CHARS {
        preview = preview.chars().take(PREVIEW_CHARS).collect();
        preview.push('…');
    }
    let mut line = format!("[??:??:??] (malformed record at offset {offset}: {reason}");
    let _ = write!(line, ": \"{preview}\")");
    line
}
