//! How a consumed record is shown, whatever bytes it holds: one text line
//! (`A 42` for the exercise's records, `key<TAB>value` otherwise) or one JSON
//! line, with control characters and invalid UTF-8 escaped; Debezium change
//! events also as one readable line each (`changes`).

pub mod changes;
pub mod format;

use std::fmt::Write as _;

pub use crate::client::fetch::Consumed;
use crate::record::decode_parity;

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

/// The text line for a record (without the newline):
/// `A 42` for parity records, `key<TAB>value` for keyed ones, else the value.
pub fn text_line(r: &Consumed, out: &mut String) {
    if let Some(p) = decode_parity(&r.key, &r.value) {
        let _ = write!(out, "{} {}", p.origin, p.number);
        return;
    }
    if !r.key.is_empty() {
        escape(&r.key, out);
        out.push('\t');
    }
    escape(&r.value, out);
}

/// The JSON line for a record: topic, partition, offset, key (null when
/// absent), value, and origin and number for parity records. Payloads that
/// are not clean UTF-8 text carry `"escaped": true`.
pub fn json_line(r: &Consumed) -> String {
    let mut map = serde_json::Map::new();
    map.insert("topic".into(), r.topic.clone().into());
    map.insert("partition".into(), r.partition.into());
    map.insert("offset".into(), r.offset.into());
    let mut escaped = false;
    let mut text = |bytes: &[u8]| -> String {
        match std::str::from_utf8(bytes) {
            Ok(s) => s.to_string(),
            Err(_) => {
                let mut s = String::new();
                escape(bytes, &mut s);
                escaped = true;
                s
            }
        }
    };
    let key = if r.key.is_empty() {
        serde_json::Value::Null
    } else {
        text(&r.key).into()
    };
    map.insert("key".into(), key);
    map.insert("value".into(), text(&r.value).into());
    if let Some((id, transactional)) = r.producer {
        map.insert("producer_id".into(), id.into());
        map.insert("transactional".into(), transactional.into());
    }
    if let Some(t) = r.timestamp {
        map.insert("timestamp".into(), t.ms.into());
        let kind = if t.log_append {
            "LogAppendTime"
        } else {
            "CreateTime"
        };
        map.insert("timestamp_type".into(), kind.into());
    }
    if !r.headers.is_empty() {
        let headers: Vec<serde_json::Value> = r
            .headers
            .iter()
            .map(|(k, v)| {
                let value = match v {
                    Some(v) => text(v).into(),
                    None => serde_json::Value::Null,
                };
                serde_json::json!({ "key": k, "value": value })
            })
            .collect();
        map.insert("headers".into(), headers.into());
    }
    if escaped {
        map.insert("escaped".into(), true.into());
    }
    if let Some(p) = decode_parity(&r.key, &r.value) {
        map.insert("origin".into(), p.origin.into());
        map.insert("number".into(), p.number.into());
    }
    serde_json::Value::Object(map).to_string()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_text_keeps_lines_and_tabs_and_nothing_else() {
        use std::io::Write as _;
        let mut w = Escaped(Vec::new());
        write!(w, "name\t\x1b[31mred\x07\u{9b}2J\r\nnext").unwrap();
        assert_eq!(
            String::from_utf8(w.0).unwrap(),
            "name\t\\x1b[31mred\\x07\\x9b2J\\x0d\nnext"
        );
    }
    use crate::record::encode_parity;

    fn rec(key: &[u8], value: &[u8]) -> Consumed {
        Consumed {
            topic: "t".into(),
            partition: 1,
            offset: 7,
            key: key.to_vec(),
            value: value.to_vec(),
            ..Consumed::default()
        }
    }

    fn text(r: &Consumed) -> String {
        let mut s = String::new();
        text_line(r, &mut s);
        s
    }

    #[test]
    fn parity_records_show_origin_and_number() {
        let (k, v) = encode_parity("A", 42);
        assert_eq!(text(&rec(&k, &v)), "A 42");
    }

    #[test]
    fn json_lines_show_timestamps_and_headers_when_records_have_them() {
        let mut r = rec(b"k", b"v");
        let plain: serde_json::Value = serde_json::from_str(&json_line(&r)).unwrap();
        assert!(plain.get("timestamp").is_none() && plain.get("headers").is_none());
        r.timestamp = Some(crate::client::fetch::Timestamp {
            ms: 1_764_583_200_000,
            log_append: false,
        });
        r.headers = vec![
            ("trace".into(), Some(b"abc".to_vec())),
            ("trace".into(), None),
        ];
        let v: serde_json::Value = serde_json::from_str(&json_line(&r)).unwrap();
        assert_eq!(v["timestamp"], 1_764_583_200_000_i64);
        assert_eq!(v["timestamp_type"], "CreateTime");
        assert_eq!(
            v["headers"],
            serde_json::json!([{"key": "trace", "value": "abc"}, {"key": "trace", "value": null}])
        );
    }

    #[test]
    fn plain_records_show_key_tab_value() {
        assert_eq!(text(&rec(b"", b"hello")), "hello");
        assert_eq!(text(&rec(b"user 1", b"hello")), "user 1\thello");
        assert_eq!(text(&rec(b"", b"a\tb\nc")), "a\\tb\\nc");
        assert_eq!(text(&rec(b"", b"caf\xc3\xa9 \xff\x00")), "café \\xff\\x00");
    }

    #[test]
    fn json_lines_carry_everything() {
        let v: serde_json::Value = serde_json::from_str(&json_line(&rec(b"B", b"7"))).unwrap();
        assert_eq!(v["origin"], "B");
        assert_eq!(v["number"], 7);
        assert_eq!(v["offset"], 7);
        assert_eq!(v["partition"], 1);
        let v: serde_json::Value = serde_json::from_str(&json_line(&rec(b"", b"\xff"))).unwrap();
        assert_eq!(v["key"], serde_json::Value::Null);
        assert_eq!(v["value"], "\\xff");
        assert_eq!(v["escaped"], true);
        assert!(v.get("origin").is_none());
    }
}
