//! The exercise's wire format (key = origin, value = the number, both as
//! UTF-8 text; docs/wire-format.md) and how a consumed record is shown as a
//! text or JSON line, whatever bytes it holds.

use std::fmt::Write as _;

pub use crate::client::fetch::Consumed;

/// A parity record: who sent which number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parity<'a> {
    pub origin: &'a str,
    pub number: i64,
}

/// Origins are short labels such as `A` and `B`.
pub const MAX_ORIGIN_LEN: usize = 32;

pub fn valid_origin(origin: &str) -> bool {
    !origin.is_empty()
        && origin.len() <= MAX_ORIGIN_LEN
        && origin
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The key and value bytes of a parity record.
pub fn encode_parity(origin: &str, number: i64) -> (Vec<u8>, Vec<u8>) {
    (origin.as_bytes().to_vec(), number.to_string().into_bytes())
}

/// Reads a record as a parity record when its key is an origin label and
/// its value a decimal integer; anything else is a plain record.
pub fn decode_parity<'a>(key: &'a [u8], value: &[u8]) -> Option<Parity<'a>> {
    let origin = std::str::from_utf8(key).ok().filter(|o| valid_origin(o))?;
    let text = std::str::from_utf8(value).ok()?;
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(Parity {
        origin,
        number: text.parse().ok()?,
    })
}

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

    fn rec(key: &[u8], value: &[u8]) -> Consumed {
        Consumed {
            topic: "t".into(),
            partition: 1,
            offset: 7,
            key: key.to_vec(),
            value: value.to_vec(),
        }
    }

    fn text(r: &Consumed) -> String {
        let mut s = String::new();
        text_line(r, &mut s);
        s
    }

    #[test]
    fn parity_records_round_trip() {
        let (k, v) = encode_parity("A", 42);
        assert_eq!((k.as_slice(), v.as_slice()), (&b"A"[..], &b"42"[..]));
        assert_eq!(
            decode_parity(&k, &v),
            Some(Parity {
                origin: "A",
                number: 42
            })
        );
        assert_eq!(text(&rec(&k, &v)), "A 42");
        assert_eq!(decode_parity(b"A", b"4x"), None);
        assert_eq!(decode_parity(b"A", b""), None);
        assert_eq!(decode_parity(b"has space", b"1"), None);
        assert_eq!(decode_parity(b"", b"1"), None);
        assert_eq!(
            decode_parity(b"B", b"-3"),
            Some(Parity {
                origin: "B",
                number: -3
            })
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
