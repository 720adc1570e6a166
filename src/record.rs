//! The exercise's wire format: key = origin, value = the number, both as
//! UTF-8 text (docs/wire-format.md). How records look is `render`'s.

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
