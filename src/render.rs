//! How a consumed record is shown, whatever bytes it holds: one text line
//! (`A 42` for the exercise's records, `key<TAB>value` otherwise) or one JSON
//! line, with control characters and invalid UTF-8 escaped; Debezium change
//! events also as one readable line each (`changes`). Also how any other
//! text from Kafka reaches a human: escaped (`printable`, `Escaped`), so no
//! record, client id or broker message can drive the terminal.

pub mod changes;
pub mod format;

pub use crate::escape::{escape, printable, Escaped};

use std::fmt::Write as _;

pub use crate::client::fetch::Consumed;
use crate::record::decode_parity;

/// A record as `--raw` writes it: the text line's layout with the bytes as
/// they are (no escapes, no UTF-8 check), for tools that want the payload
/// itself. A value holding a newline then spans lines.
pub fn raw_line(r: &Consumed, out: &mut Vec<u8>) {
    if let Some(p) = decode_parity(&r.key, &r.value) {
        let _ = std::io::Write::write_fmt(out, format_args!("{} {}", p.origin, p.number));
        return;
    }
    if !r.key.is_empty() {
        out.extend_from_slice(&r.key);
        out.push(b'\t');
    }
    out.extend_from_slice(&r.value);
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
    fn printable_text_escapes_every_control_character() {
        assert!(matches!(
            printable("group-1 ✓"),
            std::borrow::Cow::Borrowed(_)
        ));
        assert_eq!(
            printable("c\x1b]0;pwned\x07\x1b[2J\tx\ny\r\u{9b}"),
            "c\\x1b]0;pwned\\x07\\x1b[2J\\tx\\ny\\r\\x9b"
        );
    }

    #[test]
    fn raw_lines_keep_the_bytes() {
        let mut out = Vec::new();
        raw_line(&rec(b"k\x1b", b"a\nb\xff"), &mut out);
        assert_eq!(out, b"k\x1b\ta\nb\xff");
        out.clear();
        raw_line(&rec(b"", b"\x1b[2J"), &mut out);
        assert_eq!(out, b"\x1b[2J");
        out.clear();
        let (k, v) = encode_parity("A", 42);
        raw_line(&rec(&k, &v), &mut out);
        assert_eq!(out, b"A 42");
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
