//! Record batches (message format v2), the pure part of the modern data
//! path: one partition's records into one batch for a Produce request, and
//! the raw bytes of a Fetch answer back into records. A broker may cut the
//! last batch of an answer short (at the fetch size), so the answer is
//! sliced into whole batches here and the cut one left for the next fetch;
//! control batches (transaction markers) are stepped over, and records
//! before the offset asked for are dropped.

use bytes::{Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
    TimestampType, NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE,
};

/// Who writes a batch. A plain producer is `PLAIN`; an idempotent one
/// (InitProducerId, not implemented yet) puts its producer id and epoch
/// here, with the partition's next sequence number as `base_sequence`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchIdentity {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
}

impl BatchIdentity {
    pub const PLAIN: BatchIdentity = BatchIdentity {
        producer_id: NO_PRODUCER_ID,
        producer_epoch: NO_PRODUCER_EPOCH,
        base_sequence: NO_SEQUENCE,
    };
}

/// One record to put in a batch.
#[derive(Debug, Clone, Copy)]
pub struct BatchRecord<'a> {
    /// Empty: a null key.
    pub key: &'a [u8],
    pub value: &'a [u8],
    pub headers: &'a [(String, Vec<u8>)],
    pub timestamp_ms: i64,
}

/// Why records could not become a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodeError {
    /// Two headers of one record share a name: `kafka-protocol` keeps a
    /// record's headers in a map, so one would be lost.
    DuplicateHeader {
        record: usize,
        name: String,
    },
    Encoder(String),
}

/// One record batch holding `records` in order, at offsets 0..n (the broker
/// assigns the real ones), compressed with `compression` as a whole.
pub fn encode(
    records: &[BatchRecord<'_>],
    identity: BatchIdentity,
    compression: Compression,
) -> Result<Bytes, EncodeError> {
    let mut built = Vec::with_capacity(records.len());
    for (i, r) in records.iter().enumerate() {
        let mut headers = IndexMap::with_capacity(r.headers.len());
        for (name, value) in r.headers {
            let old = headers.insert(
                StrBytes::from_string(name.clone()),
                Some(Bytes::copy_from_slice(value)),
            );
            if old.is_some() {
                return Err(EncodeError::DuplicateHeader {
                    record: i,
                    name: name.clone(),
                });
            }
        }
        built.push(Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            producer_id: identity.producer_id,
            producer_epoch: identity.producer_epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // The encoder starts a new batch wherever offset - sequence
            // changes, so the sequence counts up with the offset; the batch
            // header gets the first record's (NO_SEQUENCE for a plain producer).
            sequence: identity.base_sequence.wrapping_add(i as i32),
            timestamp: r.timestamp_ms,
            key: (!r.key.is_empty()).then(|| Bytes::copy_from_slice(r.key)),
            value: Some(Bytes::copy_from_slice(r.value)),
            headers,
        });
    }
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression,
    };
    RecordBatchEncoder::encode(&mut buf, built.iter(), &options)
        .map_err(|e| EncodeError::Encoder(e.to_string()))?;
    Ok(buf.freeze())
}

/// A record as fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedRecord {
    pub offset: i64,
    /// Milliseconds since the epoch: the producer's, or the broker's append
    /// time when `log_append_time` (topics with LogAppendTime).
    pub timestamp: i64,
    pub log_append_time: bool,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
}

/// The records of a Fetch answer's raw bytes for one partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decoded {
    pub records: Vec<FetchedRecord>,
    /// One past the last offset of the last whole batch (control batches
    /// included), or None when the bytes held no whole batch. A fetch that
    /// returns only a transaction marker moves on by this.
    pub next_offset: Option<i64>,
}

/// Why fetched bytes could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// Base offset of the batch at fault.
    pub offset: i64,
    pub reason: String,
}

// The v2 batch header: where each field starts.
const LENGTH_AT: usize = 8;
const HEADER_BEFORE_LENGTH: usize = 12;
const MAGIC_AT: usize = 16;
const ATTRIBUTES_AT: usize = 21;
const LAST_OFFSET_DELTA_AT: usize = 23;
const MAX_TIMESTAMP_AT: usize = 35;
const RECORDS_AT: usize = 61;

const LOG_APPEND_TIME: i16 = 1 << 3;
const CONTROL: i16 = 1 << 5;

/// The whole batches at the start of `raw`; a batch cut short at the end
/// (the broker stops at the fetch size) is left out.
pub fn slice_batches(raw: &Bytes) -> Vec<Bytes> {
    let mut out = Vec::new();
    let mut at = 0;
    while raw.len() - at >= HEADER_BEFORE_LENGTH {
        let len = i32::from_be_bytes(be(raw, at + LENGTH_AT));
        let Ok(len) = usize::try_from(len) else {
            break;
        };
        let end = at + HEADER_BEFORE_LENGTH + len;
        if end > raw.len() {
            break;
        }
        out.push(raw.slice(at..end));
        at = end;
    }
    out
}

/// The records at or after `from` in a Fetch answer's raw bytes for one
/// partition; control batches are skipped, a cut-short last batch ignored.
/// Compressed batches (gzip, snappy, lz4, zstd) are unpacked by
/// kafka-protocol's decoder. A batch that cannot be read (an old message
/// format, a bad checksum, a codec it does not know) is an error, never
/// skipped.
pub fn decode(raw: &Bytes, from: i64) -> Result<Decoded, DecodeError> {
    let mut out = Decoded::default();
    for batch in slice_batches(raw) {
        let base = i64::from_be_bytes(be(&batch, 0));
        let fail = |reason: String| DecodeError {
            offset: base,
            reason,
        };
        if batch.len() < RECORDS_AT {
            // An old message set (v0/v1) can be this short.
            let magic = batch.get(MAGIC_AT).copied().unwrap_or_default();
            return Err(fail(format!(
                "a message set of format v{magic} (kafkademo reads v2 record batches)"
            )));
        }
        let magic = batch[MAGIC_AT] as i8;
        if magic != 2 {
            return Err(fail(format!(
                "a message set of format v{magic} (kafkademo reads v2 record batches)"
            )));
        }
        let attributes = i16::from_be_bytes(be(&batch, ATTRIBUTES_AT));
        let last_offset = base + i64::from(i32::from_be_bytes(be(&batch, LAST_OFFSET_DELTA_AT)));
        out.next_offset = Some(last_offset + 1);
        if attributes & CONTROL != 0 || last_offset < from {
            continue;
        }
        let log_append_time = attributes & LOG_APPEND_TIME != 0;
        let max_timestamp = i64::from_be_bytes(be(&batch, MAX_TIMESTAMP_AT));
        let mut buf = batch.clone();
        let set = RecordBatchDecoder::decode(&mut buf).map_err(|e| fail(e.to_string()))?;
        for r in set.records {
            if r.offset < from {
                continue;
            }
            out.records.push(FetchedRecord {
                offset: r.offset,
                // With LogAppendTime the broker stamps the batch's max
                // timestamp; the records keep the producer's deltas.
                timestamp: if log_append_time {
                    max_timestamp
                } else {
                    r.timestamp
                },
                log_append_time,
                key: r.key,
                value: r.value,
                headers: r
                    .headers
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
            });
        }
    }
    Ok(out)
}

/// `N` bytes of `b` from `at`, for a big-endian number; callers check the length.
fn be<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(src) = b.get(at..at + N) {
        out.copy_from_slice(src);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers() -> Vec<(String, Vec<u8>)> {
        vec![("h1".into(), b"v1".to_vec()), ("h2".into(), Vec::new())]
    }

    /// A batch of `n` records valued "v{base+i}", as the broker would store it at `base`.
    fn stored(base: i64, n: usize, h: &[(String, Vec<u8>)]) -> Bytes {
        let values: Vec<String> = (0..n).map(|i| format!("v{}", base + i as i64)).collect();
        let records: Vec<BatchRecord> = values
            .iter()
            .enumerate()
            .map(|(i, v)| BatchRecord {
                key: if i % 2 == 0 { b"k" } else { b"" },
                value: v.as_bytes(),
                headers: h,
                timestamp_ms: 1_700_000_000_000 + i as i64,
            })
            .collect();
        let batch = encode(&records, BatchIdentity::PLAIN, Compression::None).unwrap();
        rebase(&batch, base)
    }

    /// The batch with its base offset set (only the first 8 bytes, outside the CRC).
    fn rebase(batch: &Bytes, base: i64) -> Bytes {
        let mut b = BytesMut::from(&batch[..]);
        b[..8].copy_from_slice(&base.to_be_bytes());
        b.freeze()
    }

    fn concat(parts: &[&Bytes]) -> Bytes {
        let mut b = BytesMut::new();
        for p in parts {
            b.extend_from_slice(p);
        }
        b.freeze()
    }

    fn values(d: &Decoded) -> Vec<String> {
        d.records
            .iter()
            .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into())
            .collect()
    }

    #[test]
    fn one_partitions_records_make_one_batch_that_reads_back() {
        let h = headers();
        let batch = stored(0, 5, &h);
        assert_eq!(slice_batches(&batch).len(), 1);
        let header_base_sequence = i32::from_be_bytes(be(&batch, 53));
        assert_eq!(header_base_sequence, NO_SEQUENCE);
        let producer_id = i64::from_be_bytes(be(&batch, 43));
        assert_eq!(producer_id, NO_PRODUCER_ID);
        let d = decode(&batch, 0).unwrap();
        assert_eq!(values(&d), ["v0", "v1", "v2", "v3", "v4"]);
        assert_eq!(d.next_offset, Some(5));
        let r = &d.records[1];
        assert_eq!(
            (r.offset, r.timestamp, r.log_append_time),
            (1, 1_700_000_000_001, false)
        );
        assert_eq!(d.records[0].key.as_deref(), Some(&b"k"[..]));
        assert_eq!(r.key, None, "an empty key is a null key");
        assert_eq!(
            r.headers,
            vec![
                ("h1".to_string(), Some(Bytes::from_static(b"v1"))),
                ("h2".to_string(), Some(Bytes::new())),
            ]
        );
    }

    #[test]
    fn an_idempotent_identity_goes_into_the_header() {
        let id = BatchIdentity {
            producer_id: 42,
            producer_epoch: 3,
            base_sequence: 7,
        };
        let r = BatchRecord {
            key: b"",
            value: b"x",
            headers: &[],
            timestamp_ms: 1,
        };
        let batch = encode(&[r, r, r], id, Compression::None).unwrap();
        assert_eq!(
            slice_batches(&batch).len(),
            1,
            "one batch, not one per record"
        );
        assert_eq!(i64::from_be_bytes(be(&batch, 43)), 42);
        assert_eq!(i16::from_be_bytes(be(&batch, 51)), 3);
        assert_eq!(i32::from_be_bytes(be(&batch, 53)), 7);
        assert_eq!(i32::from_be_bytes(be(&batch, 57)), 3, "record count");
    }

    #[test]
    fn duplicate_header_names_are_refused_not_lost() {
        let h = vec![("a".to_string(), vec![1]), ("a".to_string(), vec![2])];
        let r = BatchRecord {
            key: b"",
            value: b"x",
            headers: &h,
            timestamp_ms: 1,
        };
        assert_eq!(
            encode(&[r], BatchIdentity::PLAIN, Compression::None),
            Err(EncodeError::DuplicateHeader {
                record: 0,
                name: "a".into()
            })
        );
    }

    #[test]
    fn a_cut_short_last_batch_is_left_for_the_next_fetch() {
        let (a, b, c) = (stored(0, 3, &[]), stored(3, 2, &[]), stored(5, 4, &[]));
        let all = concat(&[&a, &b, &c]);
        for cut in [1, 11, 12, 40, c.len() - 1] {
            let raw = all.slice(..all.len() - cut);
            let d = decode(&raw, 0).unwrap();
            assert_eq!(values(&d), ["v0", "v1", "v2", "v3", "v4"], "cut {cut}");
            assert_eq!(d.next_offset, Some(5));
        }
        assert_eq!(decode(&all, 0).unwrap().records.len(), 9);
        // Only a cut batch (larger than the fetch size): nothing, no next offset.
        let d = decode(&c.slice(..c.len() - 1), 5).unwrap();
        assert_eq!(d, Decoded::default());
        assert_eq!(decode(&Bytes::new(), 0).unwrap(), Decoded::default());
    }

    #[test]
    fn records_before_the_offset_asked_for_are_skipped() {
        let all = concat(&[&stored(10, 4, &[]), &stored(14, 3, &[])]);
        let d = decode(&all, 12).unwrap();
        assert_eq!(values(&d), ["v12", "v13", "v14", "v15", "v16"]);
        let d = decode(&all, 15).unwrap();
        assert_eq!(values(&d), ["v15", "v16"]);
        assert_eq!(d.next_offset, Some(17));
    }

    /// CRC-32C (Castagnoli), bit by bit: what a v2 batch header carries.
    fn crc32c(data: &[u8]) -> u32 {
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

    /// The batch with attribute bits set (and its CRC made right again).
    fn with_attributes(batch: &Bytes, bits: i16) -> Bytes {
        let mut b = BytesMut::from(&batch[..]);
        let attributes = i16::from_be_bytes(be(&b, ATTRIBUTES_AT)) | bits;
        b[ATTRIBUTES_AT..ATTRIBUTES_AT + 2].copy_from_slice(&attributes.to_be_bytes());
        let crc = crc32c(&b[ATTRIBUTES_AT..]);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        b.freeze()
    }

    #[test]
    fn control_batches_are_stepped_over() {
        let marker = with_attributes(&stored(3, 1, &[]), CONTROL);
        let all = concat(&[&stored(0, 3, &[]), &marker, &stored(4, 2, &[])]);
        let d = decode(&all, 0).unwrap();
        assert_eq!(values(&d), ["v0", "v1", "v2", "v4", "v5"]);
        // A fetch that returns only the marker still moves on past it.
        let d = decode(&marker, 3).unwrap();
        assert!(d.records.is_empty());
        assert_eq!(d.next_offset, Some(4));
    }

    #[test]
    fn log_append_time_is_the_batch_max_timestamp() {
        let mut b = BytesMut::from(&stored(0, 3, &[])[..]);
        b[MAX_TIMESTAMP_AT..MAX_TIMESTAMP_AT + 8]
            .copy_from_slice(&1_800_000_000_000i64.to_be_bytes());
        let batch = with_attributes(&b.freeze(), LOG_APPEND_TIME);
        let d = decode(&batch, 0).unwrap();
        assert!(d.records.iter().all(|r| r.log_append_time));
        assert!(d.records.iter().all(|r| r.timestamp == 1_800_000_000_000));
    }

    #[test]
    fn compressed_batches_come_back_and_bad_ones_are_errors() {
        for codec in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let r = BatchRecord {
                key: b"k",
                value: &[b'x'; 300],
                headers: &[],
                timestamp_ms: 1,
            };
            let batch = encode(&[r, r, r], BatchIdentity::PLAIN, codec).unwrap();
            let d = decode(&batch, 0).unwrap();
            assert_eq!(d.records.len(), 3, "{codec:?}");
            assert_eq!(d.records[2].value.as_deref(), Some(&[b'x'; 300][..]));
        }
        // A corrupt batch is an error.
        let mut bad = BytesMut::from(&stored(0, 2, &[])[..]);
        let last = bad.len() - 1;
        bad[last] ^= 0xff;
        let e = decode(&bad.freeze(), 0).unwrap_err();
        assert!(e.reason.contains("Cyclic redundancy"), "{}", e.reason);
        // An old message set (magic 1).
        let mut old = BytesMut::from(&stored(0, 1, &[])[..]);
        old[MAGIC_AT] = 1;
        let e = decode(&old.freeze(), 0).unwrap_err();
        assert!(e.reason.contains("format v1"), "{}", e.reason);
    }
}
