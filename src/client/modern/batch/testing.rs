//! Helpers the batch tests of both sides share: batches as the broker
//! would store them, and `read`'s records collected for comparing.

use std::ops::Range;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::Compression;

use super::decode::{DecodeError, UNPACK_MIN};
use super::{be, encode, read, BatchIdentity, BatchRecord, HEADER_BEFORE_LENGTH, LENGTH_AT};

/// Where the whole batches of `raw` lie, by their length fields.
pub fn whole_batches(raw: &[u8]) -> impl Iterator<Item = Range<usize>> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        let len = usize::try_from(i32::from_be_bytes(be(raw, at + LENGTH_AT))).ok()?;
        let end = at + HEADER_BEFORE_LENGTH + len;
        (raw.len() >= at + HEADER_BEFORE_LENGTH && end <= raw.len()).then(|| {
            let batch = at..end;
            at = end;
            batch
        })
    })
}

/// A record as `read` hands it out, owned, for comparing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Got {
    pub offset: i64,
    pub timestamp: i64,
    pub log_append_time: bool,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Decoded {
    pub records: Vec<Got>,
    pub next_offset: Option<i64>,
}

pub fn decode(raw: &Bytes, from: i64) -> Result<Decoded, DecodeError> {
    decode_checked(raw, from, true)
}

pub fn decode_checked(raw: &Bytes, from: i64, check_crc: bool) -> Result<Decoded, DecodeError> {
    let mut records = Vec::new();
    let next_offset = read(raw, from, check_crc, UNPACK_MIN, None, |r| {
        records.push(Got {
            offset: r.offset,
            timestamp: r.timestamp,
            log_append_time: r.log_append_time,
            key: r.key.map(Bytes::copy_from_slice),
            value: r.value.map(Bytes::copy_from_slice),
            headers: r.headers.to_vec(),
        })
    })?;
    Ok(Decoded {
        records,
        next_offset,
    })
}

pub fn headers() -> Vec<(String, Vec<u8>)> {
    vec![("h1".into(), b"v1".to_vec()), ("h2".into(), Vec::new())]
}

pub fn plain(records: &[BatchRecord<'_>], id: BatchIdentity) -> Bytes {
    encode(records.iter().copied(), id, Compression::None).unwrap()
}

/// A batch of `n` records valued "v{base+i}", as the broker would store it at `base`.
pub fn stored(base: i64, n: usize, h: &[(String, Vec<u8>)]) -> Bytes {
    let values: Vec<String> = (0..n).map(|i| format!("v{}", base + i as i64)).collect();
    let records: Vec<BatchRecord> = values
        .iter()
        .enumerate()
        .map(|(i, v)| BatchRecord {
            key: if i % 2 == 0 { b"k" } else { b"" },
            value: Some(v.as_bytes()),
            headers: h,
            timestamp_ms: 1_700_000_000_000 + i as i64,
        })
        .collect();
    rebase(&plain(&records, BatchIdentity::PLAIN), base)
}

/// The batch with its base offset set (only the first 8 bytes, outside the CRC).
pub fn rebase(batch: &Bytes, base: i64) -> Bytes {
    let mut b = BytesMut::from(&batch[..]);
    b[..8].copy_from_slice(&base.to_be_bytes());
    b.freeze()
}

pub fn concat(parts: &[&Bytes]) -> Bytes {
    let mut b = BytesMut::new();
    for p in parts {
        b.extend_from_slice(p);
    }
    b.freeze()
}

pub fn values(d: &Decoded) -> Vec<String> {
    d.records
        .iter()
        .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into())
        .collect()
}

/// CRC-32C bit by bit, the definition the fast ones are checked against.
pub fn crc32c_bitwise(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
