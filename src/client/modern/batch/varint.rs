//! Kafka's zigzag varints and varlongs, the numbers inside a v2 batch's
//! records, and the unsigned varints under them (also the compact lengths
//! of flexible message versions): writing them, their sizes, reading them.

use bytes::BufMut;

/// A signed varint as Kafka writes it: zigzag, then 7 bits a byte.
pub fn put_varint(out: &mut impl BufMut, v: i32) {
    put_unsigned(out, u64::from(((v << 1) ^ (v >> 31)) as u32));
}

pub fn put_varlong(out: &mut impl BufMut, v: i64) {
    put_unsigned(out, ((v << 1) ^ (v >> 63)) as u64);
}

/// 7 bits a byte, the lowest first, the top bit set on all but the last.
pub fn put_unsigned(out: &mut impl BufMut, mut u: u64) {
    while u >= 0x80 {
        out.put_u8(u as u8 | 0x80);
        u >>= 7;
    }
    out.put_u8(u as u8);
}

pub fn varint_len(v: i32) -> usize {
    unsigned_len(u64::from(((v << 1) ^ (v >> 31)) as u32))
}

pub fn varlong_len(v: i64) -> usize {
    unsigned_len(((v << 1) ^ (v >> 63)) as u64)
}

fn unsigned_len(u: u64) -> usize {
    // 7 bits a byte; zero still takes one.
    (64 - (u | 1).leading_zeros() as usize).div_ceil(7)
}

/// Why an unsigned varint could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// The bytes ended inside it.
    CutShort,
    /// Still going after `max_bytes`.
    TooLong,
}

/// An unsigned varint of at most `max_bytes` bytes from the front of
/// `buf`, which moves past it (and stays where it was on an error).
pub fn read_unsigned(buf: &mut &[u8], max_bytes: usize) -> Result<u64, Malformed> {
    let mut u = 0u64;
    for i in 0..max_bytes {
        let &b = buf.get(i).ok_or(Malformed::CutShort)?;
        u |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            *buf = &buf[i + 1..];
            return Ok(u);
        }
    }
    Err(Malformed::TooLong)
}

/// A batch record's words for a varint that does not read.
fn record_field(e: Malformed) -> String {
    match e {
        Malformed::CutShort => "cut short inside a varint".into(),
        Malformed::TooLong => "a varint longer than its type".into(),
    }
}

/// A signed varint (zigzag, at most 5 bytes) from the front of `buf`.
pub fn read_varint(buf: &mut &[u8]) -> Result<i32, String> {
    let u = read_unsigned(buf, 5).map_err(record_field)? as u32;
    Ok((u >> 1) as i32 ^ -((u & 1) as i32))
}

/// A signed varlong (zigzag, at most 10 bytes) from the front of `buf`.
pub fn read_varlong(buf: &mut &[u8]) -> Result<i64, String> {
    let u = read_unsigned(buf, 10).map_err(record_field)?;
    Ok((u >> 1) as i64 ^ -((u & 1) as i64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;

    #[test]
    fn varints_round_trip_at_their_limits() {
        for v in [0, 1, -1, 63, 64, -64, -65, 8191, 8192, i32::MAX, i32::MIN] {
            let mut out = BytesMut::new();
            put_varint(&mut out, v);
            assert_eq!(out.len(), varint_len(v), "{v}");
            assert_eq!(read_varint(&mut &out[..]), Ok(v));
        }
        for v in [0, -1, 1 << 40, -(1 << 40), i64::MAX, i64::MIN] {
            let mut out = BytesMut::new();
            put_varlong(&mut out, v);
            assert_eq!(out.len(), varlong_len(v), "{v}");
            assert_eq!(read_varlong(&mut &out[..]), Ok(v));
        }
        assert!(read_varint(&mut &[0xff; 6][..]).is_err(), "too long");
        assert!(read_varint(&mut &[0x80][..]).is_err(), "cut short");
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use bytes::BytesMut;
    use proptest::prelude::*;

    proptest! {
        // No regression files: the repository's top level is fixed, and
        // a failure prints its minimal input.
        #![proptest_config(proptest::prelude::ProptestConfig {
            failure_persistence: None,
            ..proptest::prelude::ProptestConfig::default()
        })]
        #[test]
        fn varints_round_trip(v in any::<i32>(), l in any::<i64>()) {
            let mut out = BytesMut::new();
            put_varint(&mut out, v);
            prop_assert_eq!(out.len(), varint_len(v));
            let mut c = &out[..];
            prop_assert_eq!(read_varint(&mut c), Ok(v));
            prop_assert!(c.is_empty());
            let mut out = BytesMut::new();
            put_varlong(&mut out, l);
            prop_assert_eq!(out.len(), varlong_len(l));
            prop_assert_eq!(read_varlong(&mut &out[..]), Ok(l));
        }
    }
}
