//! The stateless step: which records `stream filter` passes on. A record
//! passes when it meets every condition given: its key, a JSON field of its
//! value, or the parity of its value as a whole number (the exercise's
//! topic split into evens and odds).

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parity {
    Even,
    Odd,
}

#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// The record key equals this.
    pub key: Option<String>,
    /// The JSON value's field equals this (strings without their quotes,
    /// other values as JSON text).
    pub field: Option<(String, String)>,
    pub parity: Option<Parity>,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.key.is_none() && self.field.is_none() && self.parity.is_none()
    }

    pub fn passes(&self, key: &[u8], value: &[u8]) -> bool {
        if let Some(k) = &self.key {
            if key != k.as_bytes() {
                return false;
            }
        }
        if let Some((name, want)) = &self.field {
            let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(value) else {
                return false;
            };
            let matches = match map.get(name) {
                Some(Value::String(s)) => s == want,
                Some(other) => serde_json::from_str::<Value>(want).is_ok_and(|w| w == *other),
                None => false,
            };
            if !matches {
                return false;
            }
        }
        if let Some(parity) = self.parity {
            let Some(n) = std::str::from_utf8(value)
                .ok()
                .and_then(|s| s.trim().parse::<i128>().ok())
            else {
                return false;
            };
            let even = n % 2 == 0;
            if even != (parity == Parity::Even) {
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_condition_must_hold() {
        let evens = Filter {
            parity: Some(Parity::Even),
            ..Filter::default()
        };
        assert!(evens.passes(b"A", b"4"));
        assert!(evens.passes(b"A", b"-2"));
        assert!(!evens.passes(b"B", b"3"));
        assert!(!evens.passes(b"A", b"four"));
        let a_and_field = Filter {
            key: Some("A".into()),
            field: Some(("city".into(), "Oslo".into())),
            parity: None,
        };
        assert!(a_and_field.passes(b"A", br#"{"city":"Oslo"}"#));
        assert!(!a_and_field.passes(b"B", br#"{"city":"Oslo"}"#));
        assert!(!a_and_field.passes(b"A", br#"{"city":"Bergen"}"#));
        assert!(!a_and_field.passes(b"A", b"not json"));
        let number = Filter {
            field: Some(("n".into(), "7".into())),
            ..Filter::default()
        };
        assert!(number.passes(b"", br#"{"n":7}"#));
        assert!(!number.passes(b"", br#"{"n":"8"}"#));
    }
}
