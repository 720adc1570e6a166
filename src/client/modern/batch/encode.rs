//! Writing record batches for Produce: uncompressed ones byte by byte
//! straight into the producer's buffer, compressed ones through
//! kafka-protocol's encoder, which has the codecs.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE,
};

use super::varint::{put_varint, put_varlong, varint_len, varlong_len};
use super::{crc32c, ATTRIBUTES_AT, CRC_AT, HEADER_BEFORE_LENGTH, RECORDS_AT, TRANSACTIONAL};

/// Who writes a batch. A plain producer is `PLAIN`; an idempotent one
/// (InitProducerId) puts its producer id and epoch here, with the
/// partition's next sequence number as `base_sequence`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchIdentity {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    /// Part of a transaction (attribute bit 4): read_committed readers see
    /// it only once its transaction commits.
    pub transactional: bool,
}

impl BatchIdentity {
    pub const PLAIN: BatchIdentity = BatchIdentity {
        producer_id: NO_PRODUCER_ID,
        producer_epoch: NO_PRODUCER_EPOCH,
        base_sequence: NO_SEQUENCE,
        transactional: false,
    };
}

/// One record to put in a batch.
#[derive(Debug, Clone, Copy)]
pub struct BatchRecord<'a> {
    /// Empty: a null key.
    pub key: &'a [u8],
    /// None: a null value (a tombstone, which compaction deletes the key by).
    pub value: Option<&'a [u8]>,
    pub headers: &'a [(String, Vec<u8>)],
    pub timestamp_ms: i64,
}

/// Why records could not become a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodeError {
    /// Two headers of one record share a name: `kafka-protocol` keeps a
    /// record's headers in a map, so one would be lost in a compressed
    /// batch (and uncompressed ones are refused alike, so the codec does
    /// not decide what is accepted).
    DuplicateHeader {
        record: usize,
        name: String,
    },
    Encoder(String),
}

/// One record batch holding `records` in order, at offsets 0..n (the broker
/// assigns the real ones), compressed with `compression` as a whole; no
/// batch (empty bytes) for no records. `records` is walked more than once
/// (to size the batch, then to write it), so it is a cheap iterator over
/// the caller's own records rather than a copy of them. (Producers use
/// `encode_into`, with a buffer they keep.)
#[cfg(test)]
pub fn encode<'a, I>(
    records: I,
    identity: BatchIdentity,
    compression: Compression,
) -> Result<Bytes, EncodeError>
where
    I: IntoIterator<Item = BatchRecord<'a>>,
    I::IntoIter: Clone,
{
    let mut out = BytesMut::new();
    encode_into(records, identity, compression, &mut out)?;
    Ok(out.freeze())
}

/// `encode`, appending the batch to `out` (nothing for no records), so the
/// batches of one request share one buffer, and a buffer whose earlier
/// contents were all dropped is written again rather than allocated anew.
/// On error `out` is as it was.
pub fn encode_into<'a, I>(
    records: I,
    identity: BatchIdentity,
    compression: Compression,
    out: &mut BytesMut,
) -> Result<(), EncodeError>
where
    I: IntoIterator<Item = BatchRecord<'a>>,
    I::IntoIter: Clone,
{
    let records = records.into_iter();
    let start = out.len();
    let written = match compression {
        Compression::None => encode_plain(records, identity, out),
        _ => encode_compressed(records, identity, compression, out),
    };
    if written.is_err() {
        out.truncate(start);
    }
    written
}

/// An uncompressed batch, appended to `out` after growing it (at most) once.
fn encode_plain<'a>(
    records: impl Iterator<Item = BatchRecord<'a>> + Clone,
    identity: BatchIdentity,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    // First pass: how many, the timestamps' range (deltas are taken from
    // the smallest, as kafka-protocol and the Java client do), and headers
    // that would not survive the compressed path.
    let (mut count, mut min_ts, mut max_ts) = (0usize, i64::MAX, i64::MIN);
    let mut checked: &[(String, Vec<u8>)] = &[];
    for (i, r) in records.clone().enumerate() {
        // A producer gives every record the same headers: check them once.
        if !std::ptr::eq(checked, r.headers) {
            check_headers(i, r.headers)?;
            checked = r.headers;
        }
        count += 1;
        min_ts = min_ts.min(r.timestamp_ms);
        max_ts = max_ts.max(r.timestamp_ms);
    }
    if count == 0 {
        return Ok(());
    }
    let too_large =
        |what: &str| EncodeError::Encoder(format!("{what} is too large for a record batch"));
    let last_offset_delta = i32::try_from(count - 1).map_err(|_| too_large("the record count"))?;
    // Second pass: the exact size, so the buffer grows once if at all.
    let mut size = RECORDS_AT;
    for (i, r) in records.clone().enumerate() {
        let body = body_len(&r, r.timestamp_ms.wrapping_sub(min_ts), i as i32)
            .ok_or_else(|| too_large("a record"))?;
        size += varint_len(body as i32) + body;
    }
    let batch_length =
        i32::try_from(size - HEADER_BEFORE_LENGTH).map_err(|_| too_large("the batch"))?;
    let start = out.len();
    out.reserve(size);
    out.extend_from_slice(&0i64.to_be_bytes()); // base offset: the broker's to set
    out.extend_from_slice(&batch_length.to_be_bytes());
    out.extend_from_slice(&NO_PARTITION_LEADER_EPOCH.to_be_bytes());
    out.put_u8(2); // magic
    out.extend_from_slice(&[0; 4]); // CRC-32C, once the rest is written
                                    // attributes: no codec, CreateTime, a transaction's or not
    let attributes = if identity.transactional {
        TRANSACTIONAL
    } else {
        0
    };
    out.extend_from_slice(&attributes.to_be_bytes());
    out.extend_from_slice(&last_offset_delta.to_be_bytes());
    out.extend_from_slice(&min_ts.to_be_bytes());
    out.extend_from_slice(&max_ts.to_be_bytes());
    out.extend_from_slice(&identity.producer_id.to_be_bytes());
    out.extend_from_slice(&identity.producer_epoch.to_be_bytes());
    out.extend_from_slice(&identity.base_sequence.to_be_bytes());
    out.extend_from_slice(&(last_offset_delta + 1).to_be_bytes());
    // Third pass: the records.
    for (i, r) in records.enumerate() {
        let timestamp_delta = r.timestamp_ms.wrapping_sub(min_ts);
        let offset_delta = i as i32;
        let body =
            body_len(&r, timestamp_delta, offset_delta).ok_or_else(|| too_large("a record"))?;
        put_varint(out, body as i32);
        out.put_u8(0); // record attributes: none defined
        put_varlong(out, timestamp_delta);
        put_varint(out, offset_delta);
        if r.key.is_empty() {
            put_varint(out, -1);
        } else {
            put_bytes(out, r.key);
        }
        match r.value {
            Some(value) => put_bytes(out, value),
            None => put_varint(out, -1),
        }
        put_varint(out, r.headers.len() as i32);
        for (name, value) in r.headers {
            put_bytes(out, name.as_bytes());
            put_bytes(out, value);
        }
    }
    // The records are the caller's and cannot change between the passes;
    // a batch whose length field lies would be refused as corrupt, so
    // this is checked rather than trusted.
    let batch = &mut out[start..];
    if batch.len() != size {
        return Err(EncodeError::Encoder(format!(
            "internal error: a batch sized {size} bytes came out as {}",
            batch.len()
        )));
    }
    let crc = crc32c(&batch[ATTRIBUTES_AT..]);
    batch[CRC_AT..ATTRIBUTES_AT].copy_from_slice(&crc.to_be_bytes());
    Ok(())
}

/// A record's bytes after its length field; None past what a length
/// field can say (2 GiB).
fn body_len(r: &BatchRecord<'_>, timestamp_delta: i64, offset_delta: i32) -> Option<usize> {
    let field = |len: usize| i32::try_from(len).ok().map(|l| varint_len(l) + len);
    let mut len = 1 + varlong_len(timestamp_delta) + varint_len(offset_delta);
    len += if r.key.is_empty() {
        1
    } else {
        field(r.key.len())?
    };
    len += match r.value {
        Some(value) => field(value.len())?,
        None => 1,
    };
    len += varint_len(i32::try_from(r.headers.len()).ok()?);
    for (name, value) in r.headers {
        len += field(name.len())? + field(value.len())?;
    }
    i32::try_from(len).ok().map(|_| len)
}

/// Refuses a record whose headers repeat a name (see `EncodeError`).
fn check_headers(record: usize, headers: &[(String, Vec<u8>)]) -> Result<(), EncodeError> {
    for (i, (name, _)) in headers.iter().enumerate() {
        if headers[..i].iter().any(|(other, _)| other == name) {
            return Err(EncodeError::DuplicateHeader {
                record,
                name: name.clone(),
            });
        }
    }
    Ok(())
}

/// A compressed batch, through kafka-protocol's encoder (it has the codecs),
/// appended to `out`.
fn encode_compressed<'a>(
    records: impl Iterator<Item = BatchRecord<'a>>,
    identity: BatchIdentity,
    compression: Compression,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    let mut built = Vec::new();
    for (i, r) in records.enumerate() {
        check_headers(i, r.headers)?;
        let headers = r
            .headers
            .iter()
            .map(|(name, value)| {
                (
                    StrBytes::from_string(name.clone()),
                    Some(Bytes::copy_from_slice(value)),
                )
            })
            .collect::<IndexMap<_, _>>();
        built.push(Record {
            transactional: identity.transactional,
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
            value: r.value.map(Bytes::copy_from_slice),
            headers,
        });
    }
    let options = RecordEncodeOptions {
        version: 2,
        compression,
    };
    RecordBatchEncoder::encode(out, built.iter(), &options)
        .map_err(|e| EncodeError::Encoder(e.to_string()))
}

/// `bytes` with its length as a varint in front.
fn put_bytes(out: &mut BytesMut, bytes: &[u8]) {
    // body_len checked every length against i32::MAX.
    put_varint(out, bytes.len() as i32);
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use std::ops::Range;

    use super::*;
    use crate::client::modern::batch::be;
    use crate::client::modern::batch::testing::*;
    use kafka_protocol::records::RecordBatchDecoder;

    #[test]
    fn one_partitions_records_make_one_batch_that_reads_back() {
        let h = headers();
        let batch = stored(0, 5, &h);
        assert_eq!(whole_batches(&batch).count(), 1);
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
            transactional: false,
        };
        let r = BatchRecord {
            key: b"",
            value: Some(b"x"),
            headers: &[],
            timestamp_ms: 1,
        };
        for codec in [Compression::None, Compression::Lz4] {
            let batch = encode([r, r, r], id, codec).unwrap();
            assert_eq!(
                whole_batches(&batch).count(),
                1,
                "one batch, not one per record"
            );
            assert_eq!(i64::from_be_bytes(be(&batch, 43)), 42);
            assert_eq!(i16::from_be_bytes(be(&batch, 51)), 3);
            assert_eq!(i32::from_be_bytes(be(&batch, 53)), 7);
            assert_eq!(i32::from_be_bytes(be(&batch, 57)), 3, "record count");
        }
    }

    #[test]
    fn uncompressed_batches_are_byte_for_byte_what_kafka_protocol_writes() {
        let h = headers();
        let values: Vec<Vec<u8>> = (0..300)
            .map(|i| vec![b'a' + (i % 26) as u8; i * 7])
            .collect();
        // Timestamps out of order and far apart: the deltas go both ways
        // from the smallest, and some take several varint bytes.
        let stamps = [
            5_000_000_000_000i64,
            1_700_000_000_000,
            1_700_000_000_123,
            0,
        ];
        for id in [
            BatchIdentity::PLAIN,
            BatchIdentity {
                producer_id: 1 << 40,
                producer_epoch: 9,
                base_sequence: i32::MAX - 1,
                transactional: false,
            },
        ] {
            let ours: Vec<BatchRecord> = values
                .iter()
                .enumerate()
                .map(|(i, v)| BatchRecord {
                    key: if i % 3 == 0 {
                        b""
                    } else {
                        &v[..v.len().min(5)]
                    },
                    value: Some(v),
                    headers: if i % 2 == 0 { &h } else { &[] },
                    timestamp_ms: stamps[i % stamps.len()],
                })
                .collect();
            let mut theirs = BytesMut::new();
            encode_compressed(ours.iter().copied(), id, Compression::None, &mut theirs).unwrap();
            assert_eq!(plain(&ours, id), theirs);
            // And kafka-protocol reads ours back as written.
            let set = RecordBatchDecoder::decode(&mut plain(&ours, id)).unwrap();
            assert_eq!(set.records.len(), ours.len());
            for (i, (got, sent)) in set.records.iter().zip(&ours).enumerate() {
                assert_eq!(got.offset, i as i64);
                assert_eq!(got.timestamp, sent.timestamp_ms);
                assert_eq!(
                    got.key.as_deref(),
                    (!sent.key.is_empty()).then_some(sent.key)
                );
                assert_eq!(got.value.as_deref(), sent.value);
                assert_eq!(got.headers.len(), sent.headers.len());
                assert_eq!(
                    (got.producer_id, got.producer_epoch),
                    (id.producer_id, id.producer_epoch)
                );
                assert_eq!(got.sequence, id.base_sequence.wrapping_add(i as i32));
            }
        }
        assert_eq!(
            encode([], BatchIdentity::PLAIN, Compression::None).unwrap(),
            Bytes::new()
        );
    }

    #[test]
    fn batches_append_to_one_buffer_and_a_refused_one_leaves_no_trace() {
        let r = BatchRecord {
            key: b"k",
            value: Some(b"v"),
            headers: &[],
            timestamp_ms: 1,
        };
        let twice = vec![("a".to_string(), Vec::new()), ("a".to_string(), Vec::new())];
        let refused = BatchRecord {
            headers: &twice,
            ..r
        };
        let mut out = BytesMut::new();
        encode_into([r, r], BatchIdentity::PLAIN, Compression::None, &mut out).unwrap();
        let first = out.len();
        encode_into([r], BatchIdentity::PLAIN, Compression::Gzip, &mut out).unwrap();
        let both = out.len();
        for codec in [Compression::None, Compression::Zstd] {
            assert!(encode_into([r, refused], BatchIdentity::PLAIN, codec, &mut out).is_err());
            assert_eq!(out.len(), both, "{codec:?}");
        }
        let all = out.freeze();
        let batches: Vec<Range<usize>> = whole_batches(&all).collect();
        assert_eq!(batches, [0..first, first..both]);
        let second = rebase(&all.slice(first..both), 2);
        let d = decode(&concat(&[&all.slice(..first), &second]), 0).unwrap();
        assert_eq!(values(&d), ["v", "v", "v"]);
        assert_eq!(d.next_offset, Some(3));
    }

    #[test]
    fn duplicate_header_names_are_refused_not_lost() {
        let h = vec![("a".to_string(), vec![1]), ("a".to_string(), vec![2])];
        let ok = BatchRecord {
            key: b"",
            value: Some(b"x"),
            headers: &[],
            timestamp_ms: 1,
        };
        let r = BatchRecord { headers: &h, ..ok };
        for codec in [Compression::None, Compression::Snappy] {
            assert_eq!(
                encode([ok, r], BatchIdentity::PLAIN, codec),
                Err(EncodeError::DuplicateHeader {
                    record: 1,
                    name: "a".into()
                })
            );
        }
    }
}
