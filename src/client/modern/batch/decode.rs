//! Reading record batches out of Fetch answers: whole batches only,
//! control batches and aborted transactions stepped over, compressed
//! batches unpacked under a limit (docs/hostile-input.md).

use std::ops::Range;

use bytes::Bytes;

use super::varint::{read_varint, read_varlong};
use super::{
    be, crc32c, ATTRIBUTES_AT, BASE_TIMESTAMP_AT, COMPRESSION_BITS, CONTROL, CRC_AT,
    HEADER_BEFORE_LENGTH, LAST_OFFSET_DELTA_AT, LENGTH_AT, LOG_APPEND_TIME, MAGIC_AT,
    MAX_TIMESTAMP_AT, PRODUCER_ID_AT, RECORDS_AT, RECORD_COUNT_AT, TRANSACTIONAL,
};

/// A fetched record, borrowing from the Fetch answer (or, for a compressed
/// batch, from its unpacked records).
#[derive(Debug, Clone, Copy)]
pub struct RecordRef<'a> {
    pub offset: i64,
    /// Milliseconds since the epoch: the producer's, or the broker's append
    /// time when `log_append_time` (topics with LogAppendTime).
    pub timestamp: i64,
    pub log_append_time: bool,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    /// In the order written. Names are copied out (they are strings to the
    /// caller), values are slices of the answer, not copies.
    pub headers: &'a [(String, Option<Bytes>)],
    /// The producer id of its batch (-1 for a plain producer).
    pub producer_id: i64,
    /// Written inside a transaction (committed, or read uncommitted).
    pub transactional: bool,
}

/// read_committed: the aborted transactions a Fetch answer lists for one
/// partition, as (producer id, first offset). Their records are skipped
/// from the first offset to the producer's abort marker, as Kafka's own
/// consumer does; the broker stops a read_committed answer at the last
/// stable offset, so no open transaction shows.
#[derive(Debug, Default, Clone)]
pub struct Aborted {
    /// Not reached yet, by first offset, the earliest last.
    pending: Vec<(i64, i64)>,
    /// Producers whose aborted records are being read past.
    active: std::collections::HashSet<i64>,
}

impl Aborted {
    pub fn new(mut listed: Vec<(i64, i64)>) -> Aborted {
        listed.sort_by_key(|&(_, first)| std::cmp::Reverse(first));
        Aborted {
            pending: listed,
            active: Default::default(),
        }
    }

    /// Every aborted transaction that starts at or before `offset` is open.
    fn reach(&mut self, offset: i64) {
        while let Some(&(producer, first)) = self.pending.last() {
            if first > offset {
                break;
            }
            self.active.insert(producer);
            self.pending.pop();
        }
    }
}

/// Why fetched bytes could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// Base offset of the batch at fault.
    pub offset: i64,
    pub reason: String,
    /// The batch is of an old message format (v0/v1), not a damaged one.
    pub old_format: bool,
}

/// Compressed batches of one partition's answer may unpack to this many
/// times the fetch size asked for the partition (docs/hostile-input.md)...
pub const UNPACK_FACTOR: usize = 64;
/// ...but never less than this (the default fetch size, 256 KiB, gives it)
pub const UNPACK_MIN: usize = 16 * 1024 * 1024;
/// ...nor more than this, whatever the fetch size.
pub const UNPACK_MAX: usize = 256 * 1024 * 1024;
/// The largest batch an answer may announce: the most a fetch asks for
/// (client::modern::fetch::MAX_FETCH_BYTES). A length over it is not a
/// batch cut short at the fetch size but a lie.
pub const MAX_BATCH_BYTES: usize = 64 * 1024 * 1024;
/// zstd frames asking for a window over 2^24 bytes (16 MiB) are refused
/// rather than given the memory (Kafka's producers use far less).
const ZSTD_WINDOW_LOG_MAX: u32 = 24;

/// How many bytes the compressed batches of one partition's answer may
/// unpack to, when `max_bytes` was asked for the partition.
pub fn unpack_limit(max_bytes: i32) -> usize {
    usize::try_from(max_bytes)
        .unwrap_or(0)
        .saturating_mul(UNPACK_FACTOR)
        .clamp(UNPACK_MIN, UNPACK_MAX)
}

/// Hands each record at or after `from` in a Fetch answer's raw bytes for
/// one partition to `f`, in order, and returns one past the last offset of
/// the last whole batch (control batches included), or None when the bytes
/// held no whole batch: a fetch that returns only a transaction marker
/// moves on by it. Control batches are skipped, a cut-short last batch
/// ignored. `check_crc`: each uncompressed batch's CRC-32C is checked
/// before its records are read; compressed ones are always checked.
///
/// Compressed batches (gzip, snappy, lz4, zstd) are unpacked here, each
/// read up to what is left of `unpack_limit` bytes for the whole answer:
/// a batch that would go past it ends the read before it when records
/// came before (the next fetch starts with it), and is an error when it
/// is the first (a compression bomb).
///
/// A batch that cannot be read (an old message format, a bad checksum, a
/// codec it does not know, a length that is negative or over
/// `MAX_BATCH_BYTES`, offsets or timestamps past i64, records that do not
/// parse) is an error, never skipped; the records of the batches before it
/// have been handed out by then.
pub fn read(
    raw: &Bytes,
    from: i64,
    check_crc: bool,
    unpack_limit: usize,
    mut aborted: Option<&mut Aborted>,
    mut f: impl FnMut(RecordRef<'_>),
) -> Result<Option<i64>, DecodeError> {
    let mut next_offset = None;
    // One record's headers, reused from record to record.
    let mut headers = Vec::new();
    // Bytes unpacked from compressed batches so far.
    let mut unpacked = 0usize;
    let mut at = 0usize;
    while raw.len() - at >= HEADER_BEFORE_LENGTH {
        let base = i64::from_be_bytes(be(raw, at));
        let fail = |reason: String| DecodeError {
            offset: base,
            reason,
            old_format: false,
        };
        let length = i32::from_be_bytes(be(raw, at + LENGTH_AT));
        // An old message set (v0/v1) can be shorter than a v2 header.
        if let Some(&magic) = raw.get(at + MAGIC_AT) {
            if magic != 2 && length >= 0 {
                return Err(DecodeError {
                    old_format: true,
                    ..fail(format!(
                        "a message set of format v{} (kafkademo reads v2 record batches)",
                        magic as i8
                    ))
                });
            }
        }
        let size = usize::try_from(length)
            .ok()
            .filter(|&l| l >= RECORDS_AT - HEADER_BEFORE_LENGTH)
            .map(|l| l + HEADER_BEFORE_LENGTH)
            .ok_or_else(|| {
                fail(format!(
                    "announced as {length} bytes long (a v2 batch takes at least {})",
                    RECORDS_AT - HEADER_BEFORE_LENGTH
                ))
            })?;
        if size > MAX_BATCH_BYTES {
            return Err(fail(format!(
                "announced as {size} bytes long, over the {} MiB kafkademo fetches at most",
                MAX_BATCH_BYTES / (1024 * 1024)
            )));
        }
        let Some(end) = at.checked_add(size).filter(|&end| end <= raw.len()) else {
            // Cut short at the fetch size: left for the next fetch.
            break;
        };
        let range = at..end;
        at = end;
        let batch = &raw[range.clone()];
        let attributes = i16::from_be_bytes(be(batch, ATTRIBUTES_AT));
        let last_offset = base
            .checked_add(i64::from(i32::from_be_bytes(be(
                batch,
                LAST_OFFSET_DELTA_AT,
            ))))
            .and_then(|last| last.checked_add(1).map(|_| last))
            .ok_or_else(|| fail("with a last offset past 2^63".into()))?;
        let before = next_offset;
        next_offset = Some(last_offset + 1);
        let producer_id = i64::from_be_bytes(be(batch, PRODUCER_ID_AT));
        let transactional = attributes & TRANSACTIONAL != 0;
        if let Some(aborted) = aborted.as_deref_mut() {
            aborted.reach(last_offset);
            if attributes & CONTROL != 0 {
                // An aborted transaction ends with its producer's next
                // marker, which can only be its abort marker.
                aborted.active.remove(&producer_id);
                continue;
            }
            if transactional && aborted.active.contains(&producer_id) {
                continue;
            }
        }
        if attributes & CONTROL != 0 || last_offset < from {
            continue;
        }
        let compressed = attributes & COMPRESSION_BITS != 0;
        if check_crc || compressed {
            let stated = u32::from_be_bytes(be(batch, CRC_AT));
            let actual = crc32c(&batch[ATTRIBUTES_AT..]);
            if stated != actual {
                // kafka-protocol's words, which the tests and users know.
                return Err(fail(format!(
                    "Cyclic redundancy check failed ({stated} != {actual})"
                )));
            }
        }
        let unpacked_batch;
        let (records_raw, records) = if compressed {
            let left = unpack_limit.saturating_sub(unpacked);
            let codec = attributes & COMPRESSION_BITS;
            match unpack(codec, &batch[RECORDS_AT..], left) {
                Ok(plain) => {
                    unpacked += plain.len();
                    unpacked_batch = Bytes::from(plain);
                    (&unpacked_batch, 0..unpacked_batch.len())
                }
                // Records came before: this batch starts the next fetch.
                Err(Unpack::TooLarge) if unpacked > 0 => return Ok(before),
                Err(Unpack::TooLarge) => {
                    return Err(fail(format!(
                        "{} compressed and unpacks to more than {} MiB, kafkademo's limit for one fetch of a partition ({UNPACK_FACTOR} times the fetch size, {} to {} MiB)",
                        codec_name(codec),
                        unpack_limit / (1024 * 1024),
                        UNPACK_MIN / (1024 * 1024),
                        UNPACK_MAX / (1024 * 1024),
                    )))
                }
                Err(Unpack::Bad(why)) => return Err(fail(why)),
            }
        } else {
            (raw, range.start + RECORDS_AT..range.end)
        };
        let plain = PlainBatch {
            raw: records_raw,
            base,
            base_timestamp: i64::from_be_bytes(be(batch, BASE_TIMESTAMP_AT)),
            max_timestamp: i64::from_be_bytes(be(batch, MAX_TIMESTAMP_AT)),
            log_append_time: attributes & LOG_APPEND_TIME != 0,
            count: i32::from_be_bytes(be(batch, RECORD_COUNT_AT)),
            records,
            producer_id,
            transactional,
        };
        plain.read(from, &mut headers, &mut f).map_err(fail)?;
    }
    Ok(next_offset)
}

/// Why a compressed batch's records could not be unpacked.
#[derive(Debug, PartialEq, Eq)]
enum Unpack {
    /// More bytes than were allowed.
    TooLarge,
    Bad(String),
}

fn codec_name(codec: i16) -> String {
    match codec {
        1 => "gzip".into(),
        2 => "snappy".into(),
        3 => "lz4".into(),
        4 => "zstd".into(),
        other => format!("codec {other}"),
    }
}

/// The records of a compressed batch (its bytes after the header),
/// unpacked with the batch's codec, reading no more than `limit` bytes out
/// of the decompressor: a bomb stops at the limit instead of filling memory.
fn unpack(codec: i16, packed: &[u8], limit: usize) -> Result<Vec<u8>, Unpack> {
    let bad = |e: std::io::Error| {
        Unpack::Bad(format!(
            "{} data that does not unpack: {e}",
            codec_name(codec)
        ))
    };
    match codec {
        // Java writes one gzip member; a stream of several reads as their concatenation.
        1 => read_capped(flate2::read::MultiGzDecoder::new(packed), limit).map_err(|e| e.or(bad)),
        2 => unpack_snappy(packed, limit),
        3 => {
            let decoder = lz4::Decoder::new(packed).map_err(bad)?;
            read_capped(decoder, limit).map_err(|e| e.or(bad))
        }
        4 => {
            let mut decoder = zstd::stream::read::Decoder::with_buffer(packed).map_err(bad)?;
            decoder.window_log_max(ZSTD_WINDOW_LOG_MAX).map_err(bad)?;
            read_capped(decoder, limit).map_err(|e| e.or(bad))
        }
        other => Err(Unpack::Bad(format!(
            "compressed with an unknown codec ({other})"
        ))),
    }
}

/// A decompressor's failure: the limit, or its own error.
enum Capped {
    TooLarge,
    Io(std::io::Error),
}

impl Capped {
    fn or(self, bad: impl FnOnce(std::io::Error) -> Unpack) -> Unpack {
        match self {
            Capped::TooLarge => Unpack::TooLarge,
            Capped::Io(e) => bad(e),
        }
    }
}

/// All of `reader`, or TooLarge as soon as it gives more than `limit` bytes.
fn read_capped(reader: impl std::io::Read, limit: usize) -> Result<Vec<u8>, Capped> {
    use std::io::Read;
    let mut out = Vec::new();
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(Capped::Io)?;
    if out.len() > limit {
        return Err(Capped::TooLarge);
    }
    Ok(out)
}

/// Kafka's snappy: xerial's framing (a magic header, then blocks each
/// with its length in front), or one raw snappy block as Java falls back
/// to; each block's stated size is checked against the limit before any
/// memory is given to it.
fn unpack_snappy(packed: &[u8], limit: usize) -> Result<Vec<u8>, Unpack> {
    const MAGIC: &[u8; 16] = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01";
    let bad = |e: snap::Error| Unpack::Bad(format!("snappy data that does not unpack: {e}"));
    let mut out = Vec::new();
    let block = |bytes: &[u8], out: &mut Vec<u8>| -> Result<(), Unpack> {
        let n = snap::raw::decompress_len(bytes).map_err(bad)?;
        if n > limit - out.len() {
            return Err(Unpack::TooLarge);
        }
        let at = out.len();
        out.resize(at + n, 0);
        snap::raw::Decoder::new()
            .decompress(bytes, &mut out[at..])
            .map_err(bad)?;
        Ok(())
    };
    let Some(mut rest) = packed.strip_prefix(&MAGIC[..]) else {
        block(packed, &mut out)?;
        return Ok(out);
    };
    while !rest.is_empty() {
        let cut = || Unpack::Bad("snappy data cut short inside a block".into());
        let len = rest.get(..4).ok_or_else(cut)?;
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let bytes = rest.get(4..).and_then(|r| r.get(..len)).ok_or_else(cut)?;
        block(bytes, &mut out)?;
        rest = &rest[4 + len..];
    }
    Ok(out)
}

/// An uncompressed batch of a Fetch answer, its header read.
struct PlainBatch<'r> {
    raw: &'r Bytes,
    base: i64,
    base_timestamp: i64,
    max_timestamp: i64,
    log_append_time: bool,
    count: i32,
    /// Where its records lie in `raw`.
    records: Range<usize>,
    producer_id: i64,
    transactional: bool,
}

impl PlainBatch<'_> {
    /// Hands its records at or after `from` to `f`, straight from `raw`.
    fn read(
        &self,
        from: i64,
        headers: &mut Vec<(String, Option<Bytes>)>,
        f: &mut impl FnMut(RecordRef<'_>),
    ) -> Result<(), String> {
        if self.count < 0 {
            return Err(format!("a batch of {} records", self.count));
        }
        let mut records = Cursor(&self.raw[self.records.clone()]);
        for _ in 0..self.count {
            let len = records.varint()?;
            let len = usize::try_from(len).map_err(|_| format!("a record of {len} bytes"))?;
            let mut r = Cursor(records.take(len)?);
            r.take(1)?; // attributes: none defined
            let timestamp_delta = r.varlong()?;
            let offset = self
                .base
                .checked_add(i64::from(r.varint()?))
                .ok_or("with a record offset past 2^63")?;
            if offset < from {
                // Before the offset asked for (the first batch of a fetch
                // can start earlier): its key, value and headers unread.
                continue;
            }
            let key = r.nullable("key")?;
            let value = r.nullable("value")?;
            let count = r.varint()?;
            let count = usize::try_from(count).map_err(|_| format!("{count} headers"))?;
            for i in 0..count {
                let name = r
                    .nullable("header name")?
                    .ok_or("a header without a name")?;
                let name =
                    std::str::from_utf8(name).map_err(|_| "a header name that is not UTF-8")?;
                let value = r.nullable("header value")?.map(|v| self.raw.slice_ref(v));
                // The slots of earlier records are reused, their strings too.
                match headers.get_mut(i) {
                    Some(slot) => {
                        slot.0.clear();
                        slot.0.push_str(name);
                        slot.1 = value;
                    }
                    None => headers.push((name.to_string(), value)),
                }
            }
            headers.truncate(count);
            f(RecordRef {
                offset,
                // With LogAppendTime the broker stamps the batch's max
                // timestamp; the records keep the producer's deltas.
                timestamp: if self.log_append_time {
                    self.max_timestamp
                } else {
                    self.base_timestamp
                        .checked_add(timestamp_delta)
                        .ok_or("with a record timestamp past 2^63 ms")?
                },
                log_append_time: self.log_append_time,
                key,
                value,
                headers,
                producer_id: self.producer_id,
                transactional: self.transactional,
            });
        }
        Ok(())
    }
}

/// Reads the fields of a record from the front of a slice.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if n > self.0.len() {
            return Err(format!(
                "cut short: {n} bytes wanted, {} left in the batch",
                self.0.len()
            ));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn varint(&mut self) -> Result<i32, String> {
        read_varint(&mut self.0)
    }

    fn varlong(&mut self) -> Result<i64, String> {
        read_varlong(&mut self.0)
    }

    /// A length-prefixed byte string; length -1 is null.
    fn nullable(&mut self, what: &str) -> Result<Option<&'a [u8]>, String> {
        match self.varint()? {
            -1 => Ok(None),
            len if len < 0 => Err(format!("a {what} of {len} bytes")),
            len => self.take(len as usize).map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::modern::batch::testing::*;
    use crate::client::modern::batch::{encode, BatchIdentity, BatchRecord};
    use bytes::BytesMut;
    use kafka_protocol::indexmap::IndexMap;
    use kafka_protocol::protocol::StrBytes;
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
        NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE,
    };

    /// A record as kafka-protocol's encoder takes it.
    fn kp_record(offset: i64, key: Option<&[u8]>, value: Option<&[u8]>) -> Record {
        Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            timestamp_type: TimestampType::Creation,
            offset,
            // Counting up with the offset, or the encoder starts a new batch.
            sequence: NO_SEQUENCE.wrapping_add(offset as i32),
            timestamp: 1_700_000_000_000 + offset,
            key: key.map(Bytes::copy_from_slice),
            value: value.map(Bytes::copy_from_slice),
            headers: IndexMap::new(),
        }
    }

    fn kp_encode(records: &[Record], compression: Compression) -> Bytes {
        let mut buf = BytesMut::new();
        let options = RecordEncodeOptions {
            version: 2,
            compression,
        };
        RecordBatchEncoder::encode(&mut buf, records.iter(), &options).unwrap();
        buf.freeze()
    }

    #[test]
    fn batches_kafka_protocol_writes_read_back_here() {
        let mut records: Vec<Record> = (0..6)
            .map(|i| kp_record(i, (i % 2 == 0).then_some(&b"key"[..]), Some(b"value")))
            .collect();
        records[1].value = None;
        records[2].key = Some(Bytes::new());
        records[3].headers.insert(
            StrBytes::from_static_str("a"),
            Some(Bytes::from_static(b"1")),
        );
        records[3]
            .headers
            .insert(StrBytes::from_static_str("null"), None);
        records[3]
            .headers
            .insert(StrBytes::from_static_str("é"), Some(Bytes::new()));
        records[4].timestamp = -5; // before the others: the base timestamp
        for codec in [Compression::None, Compression::Gzip, Compression::Zstd] {
            let batch = rebase(&kp_encode(&records, codec), 100);
            let d = decode(&batch, 101).unwrap();
            assert_eq!(d.next_offset, Some(106), "{codec:?}");
            assert_eq!(
                d.records.len(),
                5,
                "offset 100 was before the one asked for"
            );
            for got in &d.records {
                let sent = &records[(got.offset - 100) as usize];
                assert_eq!(got.timestamp, sent.timestamp, "{codec:?}");
                assert_eq!(got.key, sent.key, "{codec:?}");
                assert_eq!(got.value, sent.value, "{codec:?}");
                let headers: Vec<(String, Option<Bytes>)> = sent
                    .headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.clone()))
                    .collect();
                assert_eq!(got.headers, headers, "{codec:?}");
            }
        }
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

    /// A batch of producer `pid` (a transaction's when `txn`) at `base`.
    fn produced_by(base: i64, n: usize, pid: i64, txn: bool) -> Bytes {
        let values: Vec<String> = (0..n).map(|i| format!("v{}", base + i as i64)).collect();
        let records: Vec<BatchRecord> = values
            .iter()
            .map(|v| BatchRecord {
                key: b"",
                value: Some(v.as_bytes()),
                headers: &[],
                timestamp_ms: 1,
            })
            .collect();
        let id = BatchIdentity {
            producer_id: pid,
            producer_epoch: 0,
            base_sequence: 0,
            transactional: txn,
        };
        rebase(&plain(&records, id), base)
    }

    #[test]
    fn read_committed_skips_aborted_transactions_up_to_their_marker() {
        // 0-1 plain; 2-3 producer 7, aborted (marker at 4); 5 producer 8,
        // committed, interleaved; 6 producer 7 again, a later transaction
        // (committed, marker at 7).
        let marker = |base, pid| with_attributes(&produced_by(base, 1, pid, true), CONTROL);
        let all = concat(&[
            &produced_by(0, 2, -1, false),
            &produced_by(2, 2, 7, true),
            &produced_by(5, 1, 8, true),
            &marker(4, 7),
            &produced_by(6, 1, 7, true),
            &marker(7, 7),
        ]);
        let offsets = |aborted: Option<&mut Aborted>| {
            let mut seen = Vec::new();
            let next = read(&all, 0, true, UNPACK_MIN, aborted, |r| {
                seen.push((r.offset, r.producer_id, r.transactional))
            })
            .unwrap();
            (seen, next)
        };
        let (committed, next) = offsets(Some(&mut Aborted::new(vec![(7, 2)])));
        assert_eq!(
            committed,
            [(0, -1, false), (1, -1, false), (5, 8, true), (6, 7, true)]
        );
        assert_eq!(next, Some(8), "past the last marker");
        let (uncommitted, _) = offsets(None);
        assert_eq!(
            uncommitted.iter().map(|r| r.0).collect::<Vec<_>>(),
            [0, 1, 2, 3, 5, 6],
            "read_uncommitted sees the aborted records, never a marker"
        );
        // The transactional flag reaches the batch header.
        let txn = produced_by(0, 1, 7, true);
        assert_eq!(
            i16::from_be_bytes(be(&txn, ATTRIBUTES_AT)) & TRANSACTIONAL,
            TRANSACTIONAL
        );
    }

    /// The batch with attribute bits set (and its CRC made right again).
    fn with_attributes(batch: &Bytes, bits: i16) -> Bytes {
        let mut b = BytesMut::from(&batch[..]);
        let attributes = i16::from_be_bytes(be(&b, ATTRIBUTES_AT)) | bits;
        b[ATTRIBUTES_AT..ATTRIBUTES_AT + 2].copy_from_slice(&attributes.to_be_bytes());
        let crc = crc32c_bitwise(&b[ATTRIBUTES_AT..]);
        b[CRC_AT..ATTRIBUTES_AT].copy_from_slice(&crc.to_be_bytes());
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
        // A real one, as kafka-protocol writes it (control records have keys).
        let mut end_txn = kp_record(0, Some(&[0, 0, 0, 0]), Some(&[0, 0, 0, 0, 0, 0]));
        end_txn.control = true;
        end_txn.transactional = true;
        let end_txn = rebase(&kp_encode(&[end_txn], Compression::None), 6);
        let all = concat(&[&stored(3, 3, &[]), &end_txn]);
        let d = decode(&all, 3).unwrap();
        assert_eq!(values(&d), ["v3", "v4", "v5"]);
        assert_eq!(d.next_offset, Some(7));
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
                value: Some(&[b'x'; 300]),
                headers: &[],
                timestamp_ms: 1,
            };
            let batch = encode([r, r, r], BatchIdentity::PLAIN, codec).unwrap();
            let d = decode(&batch, 0).unwrap();
            assert_eq!(d.records.len(), 3, "{codec:?}");
            assert_eq!(d.records[2].value.as_deref(), Some(&[b'x'; 300][..]));
        }
        // A corrupt batch is an error, unless the check is off (a value's
        // last byte: before the last record's header count).
        let mut bad = BytesMut::from(&stored(0, 2, &[])[..]);
        let at = bad.len() - 2;
        bad[at] = b'X';
        let bad = bad.freeze();
        let e = decode(&bad, 0).unwrap_err();
        assert!(e.reason.contains("Cyclic redundancy"), "{}", e.reason);
        assert_eq!(
            values(&decode_checked(&bad, 0, false).unwrap()),
            ["v0", "vX"]
        );
        // An old message set (magic 1).
        let mut old = BytesMut::from(&stored(0, 1, &[])[..]);
        old[MAGIC_AT] = 1;
        let e = decode(&old.freeze(), 0).unwrap_err();
        assert!(e.reason.contains("format v1"), "{}", e.reason);
    }

    #[test]
    fn records_that_do_not_parse_are_errors_after_the_batches_before() {
        let good = stored(0, 2, &[]);
        // One record more than the batch holds, with a right CRC.
        let mut b = BytesMut::from(&stored(2, 2, &[])[..]);
        b[RECORD_COUNT_AT..RECORDS_AT].copy_from_slice(&3i32.to_be_bytes());
        let crc = crc32c_bitwise(&b[ATTRIBUTES_AT..]);
        b[CRC_AT..ATTRIBUTES_AT].copy_from_slice(&crc.to_be_bytes());
        let all = concat(&[&good, &b.freeze()]);
        let mut seen = Vec::new();
        let e = read(&all, 0, true, UNPACK_MIN, None, |r| seen.push(r.offset)).unwrap_err();
        assert_eq!(e.offset, 2);
        assert!(e.reason.contains("cut short"), "{}", e.reason);
        assert_eq!(seen, [0, 1, 2, 3]);
    }

    /// A batch of `codec` whose records part is `packed`, its CRC right:
    /// the header of a real one-record batch, the length and CRC redone.
    fn with_packed(codec: Compression, packed: &[u8]) -> Bytes {
        let r = BatchRecord {
            key: b"",
            value: Some(b"v"),
            headers: &[],
            timestamp_ms: 1,
        };
        let real = encode([r], BatchIdentity::PLAIN, codec).unwrap();
        let mut b = BytesMut::from(&real[..RECORDS_AT]);
        b.extend_from_slice(packed);
        let len = (b.len() - HEADER_BEFORE_LENGTH) as i32;
        b[LENGTH_AT..LENGTH_AT + 4].copy_from_slice(&len.to_be_bytes());
        let crc = crc32c(&b[ATTRIBUTES_AT..]);
        b[CRC_AT..ATTRIBUTES_AT].copy_from_slice(&crc.to_be_bytes());
        b.freeze()
    }

    /// `n` zero bytes packed with `codec`, streamed (never all in memory).
    fn bomb(codec: Compression, n: u64) -> Vec<u8> {
        use std::io::Read;
        let zeros = || std::io::repeat(0).take(n);
        match codec {
            Compression::Gzip => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
                std::io::copy(&mut zeros(), &mut e).unwrap();
                e.finish().unwrap()
            }
            Compression::Zstd => zstd::stream::encode_all(zeros(), 19).unwrap(),
            Compression::Lz4 => {
                let mut e = lz4::EncoderBuilder::new().build(Vec::new()).unwrap();
                std::io::copy(&mut zeros(), &mut e).unwrap();
                let (out, done) = e.finish();
                done.unwrap();
                out
            }
            _ => {
                // One raw snappy block claiming n bytes: its length varint
                // alone, then nothing (the size is checked before any memory).
                let mut out = Vec::new();
                let mut u = n;
                while u >= 0x80 {
                    out.push(u as u8 | 0x80);
                    u >>= 7;
                }
                out.push(u as u8);
                out
            }
        }
    }

    #[test]
    fn compression_bombs_stop_at_the_limit() {
        let limit = 1024 * 1024;
        for codec in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let packed = bomb(codec, 64 * 1024 * 1024);
            assert!(packed.len() < 512 * 1024, "{codec:?}: {}", packed.len());
            let batch = rebase(&with_packed(codec, &packed), 7);
            let e = read(&batch, 0, true, limit, None, |_| {}).unwrap_err();
            assert_eq!(e.offset, 7, "{codec:?}");
            assert!(
                e.reason.contains("unpacks to more than 1 MiB"),
                "{codec:?}: {}",
                e.reason
            );
            // After a batch that was read, the bomb waits for the next fetch.
            let good = stored(0, 7, &[]);
            let all = concat(&[&good, &batch]);
            let mut seen = 0;
            let compressed_first = rebase(
                &encode(
                    [BatchRecord {
                        key: b"",
                        value: Some(b"x"),
                        headers: &[],
                        timestamp_ms: 1,
                    }],
                    BatchIdentity::PLAIN,
                    Compression::Gzip,
                )
                .unwrap(),
                0,
            );
            assert_eq!(
                read(&all, 0, true, limit, None, |_| seen += 1),
                Err(e.clone()),
                "uncompressed batches use none of the limit"
            );
            assert_eq!(seen, 7);
            seen = 0;
            let all = concat(&[&compressed_first, &rebase(&batch, 1)]);
            assert_eq!(read(&all, 0, true, limit, None, |_| seen += 1), Ok(Some(1)));
            assert_eq!(seen, 1);
        }
    }

    #[test]
    fn lengths_that_lie_are_errors_and_cut_batches_wait() {
        let good = stored(5, 2, &[]);
        let with_length = |len: i32| {
            let mut b = BytesMut::from(&good[..]);
            b[LENGTH_AT..LENGTH_AT + 4].copy_from_slice(&len.to_be_bytes());
            b.freeze()
        };
        for (len, says) in [
            (-1, "announced as -1 bytes long"),
            (i32::MIN, "announced as -2147483648 bytes long"),
            (
                10,
                "announced as 10 bytes long (a v2 batch takes at least 49)",
            ),
            (
                i32::MAX,
                "announced as 2147483659 bytes long, over the 64 MiB",
            ),
        ] {
            let e = decode(&with_length(len), 0).unwrap_err();
            assert_eq!(e.offset, 5);
            assert!(e.reason.starts_with(says), "{len}: {}", e.reason);
        }
        // Longer than what came, within reason: cut short at the fetch size.
        let d = decode(&with_length(good.len() as i32), 0).unwrap();
        assert_eq!(d, Decoded::default());
    }

    #[test]
    fn offsets_and_timestamps_past_i64_are_errors() {
        let e = decode(&rebase(&stored(0, 2, &[]), i64::MAX), 0).unwrap_err();
        assert_eq!(e.reason, "with a last offset past 2^63");
        // The last offset fits, a record's does not (a delta larger than
        // the header's last offset delta).
        let mut b = BytesMut::from(&rebase(&stored(0, 3, &[]), i64::MAX - 1)[..]);
        b[LAST_OFFSET_DELTA_AT..LAST_OFFSET_DELTA_AT + 4].copy_from_slice(&0i32.to_be_bytes());
        let crc = crc32c(&b[ATTRIBUTES_AT..]);
        b[CRC_AT..ATTRIBUTES_AT].copy_from_slice(&crc.to_be_bytes());
        let e = decode(&b.freeze(), 0).unwrap_err();
        assert_eq!(e.reason, "with a record offset past 2^63");
        let mut b = BytesMut::from(&stored(0, 2, &[])[..]);
        b[BASE_TIMESTAMP_AT..BASE_TIMESTAMP_AT + 8].copy_from_slice(&i64::MAX.to_be_bytes());
        let crc = crc32c(&b[ATTRIBUTES_AT..]);
        b[CRC_AT..ATTRIBUTES_AT].copy_from_slice(&crc.to_be_bytes());
        let e = decode(&b.freeze(), 0).unwrap_err();
        assert_eq!(e.reason, "with a record timestamp past 2^63 ms");
    }
}

/// Property tests: whatever the bytes, reading ends in records or an
/// error, never a panic; what is written reads back.
#[cfg(test)]
mod properties {
    use super::*;
    use crate::client::modern::batch::varint::varint_len;
    use crate::client::modern::batch::{encode, BatchIdentity, BatchRecord};
    use kafka_protocol::records::Compression;
    use proptest::prelude::*;

    fn codec() -> impl Strategy<Value = Compression> {
        prop_oneof![
            Just(Compression::None),
            Just(Compression::Gzip),
            Just(Compression::Snappy),
            Just(Compression::Lz4),
            Just(Compression::Zstd),
        ]
    }

    type Rec = (Vec<u8>, Option<Vec<u8>>, Vec<(String, Vec<u8>)>, i64);

    fn record() -> impl Strategy<Value = Rec> {
        (
            proptest::collection::vec(any::<u8>(), 0..20),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..200)),
            proptest::collection::btree_map(
                "[a-z]{1,6}",
                proptest::collection::vec(any::<u8>(), 0..10),
                0..3,
            )
            .prop_map(|m| m.into_iter().collect::<Vec<_>>()),
            -(1i64 << 50)..(1i64 << 50),
        )
    }

    proptest! {
        // No regression files: the repository's top level is fixed, and
        // a failure prints its minimal input.
        #![proptest_config(proptest::prelude::ProptestConfig {
            failure_persistence: None,
            ..proptest::prelude::ProptestConfig::default()
        })]
        #[test]
        fn arbitrary_bytes_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..600), from in any::<i64>()) {
            let raw = Bytes::from(raw);
            let _ = read(&raw, from, true, 1 << 20, None, |_| {});
            let _ = read(&raw, from, false, 1 << 20, Some(&mut Aborted::new(vec![(1, 0)])), |_| {});
        }

        #[test]
        fn a_real_batch_with_bytes_changed_never_panics(
            records in proptest::collection::vec(record(), 1..5),
            codec in codec(),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            cut in any::<prop::sample::Index>(),
        ) {
            let refs: Vec<BatchRecord> = records.iter().map(|(k, v, h, t)| BatchRecord { key: k, value: v.as_deref(), headers: h, timestamp_ms: *t }).collect();
            let batch = encode(refs, BatchIdentity::PLAIN, codec).unwrap();
            let mut b = batch.to_vec();
            for (at, byte) in flips {
                let i = at.index(b.len());
                b[i] = byte;
            }
            b.truncate(cut.index(b.len() + 1));
            let b = Bytes::from(b);
            let _ = read(&b, 0, true, 1 << 20, None, |_| {});
            let _ = read(&b, 0, false, 1 << 20, None, |_| {});
        }

        #[test]
        fn batches_read_back_as_written(records in proptest::collection::vec(record(), 1..8), codec in codec(), base in 0i64..(1 << 40)) {
            let refs: Vec<BatchRecord> = records.iter().map(|(k, v, h, t)| BatchRecord { key: k, value: v.as_deref(), headers: h, timestamp_ms: *t }).collect();
            let mut b = encode(refs, BatchIdentity::PLAIN, codec).unwrap().to_vec();
            b[..8].copy_from_slice(&base.to_be_bytes());
            let mut got = Vec::new();
            let next = read(&Bytes::from(b), 0, true, 1 << 20, None, |r| {
                got.push((
                    r.offset,
                    r.key.map(<[u8]>::to_vec).unwrap_or_default(),
                    r.value.map(<[u8]>::to_vec),
                    r.headers.iter().map(|(k, v)| (k.clone(), v.as_deref().unwrap_or_default().to_vec())).collect::<Vec<_>>(),
                    r.timestamp,
                ))
            }).unwrap();
            prop_assert_eq!(next, Some(base + records.len() as i64));
            let want: Vec<_> = records.iter().enumerate().map(|(i, (k, v, h, t))| (base + i as i64, k.clone(), v.clone(), h.clone(), *t)).collect();
            prop_assert_eq!(got, want);
        }


        #[test]
        fn varints_of_arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..12)) {
            let mut c = Cursor(&b);
            if let Ok(v) = c.varint() {
                // What was read is what writing it gives, unless it was
                // written longer than needed.
                let used = b.len() - c.0.len();
                prop_assert!(used <= 5 && varint_len(v) <= used);
            }
            let _ = Cursor(&b).varlong();
            let _ = Cursor(&b).nullable("key");
        }
    }
}
