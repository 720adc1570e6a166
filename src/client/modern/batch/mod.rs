//! Record batches (message format v2), the pure part of the modern data
//! path: one partition's records into one batch for a Produce request, and
//! the raw bytes of a Fetch answer back into records.
//!
//! Uncompressed batches, what nearly every request carries, are written and
//! read here, byte by byte: a batch is sized first and then written straight
//! from the caller's records into the producer's buffer, and fetched records
//! are handed out one at a time as slices of the Fetch answer. kafka-protocol's
//! encoder and decoder build a `Record` per record first (a struct of about
//! 200 bytes with its own copies of key and value and a map for its
//! headers), which for 100 B records took more memory than the batch
//! itself. Compressed batches are written by kafka-protocol, which has the
//! codecs; they are read here too, unpacked by the codec crates under a
//! limit (a compression bomb is an error, not an out-of-memory abort:
//! kafka-protocol's decoder unpacks without one and reserves what a
//! batch's record count says). docs/hostile-input.md.
//!
//! A broker may cut the last batch of an answer short (at the fetch size),
//! so only whole batches are read and the cut one is left for the next
//! fetch; control batches (transaction markers) are stepped over, and
//! records before the offset asked for are dropped.
//!
//! Here: the header layout and the CRC-32C both sides share; `encode`
//! writes batches, `decode` reads them (and unpacks compressed ones under
//! the limit), `varint` holds the zigzag varints of the record fields.

mod decode;
mod encode;
pub mod varint;

pub use decode::{read, unpack_limit, Aborted, RecordRef};
pub use encode::{encode_into, BatchIdentity, BatchRecord, EncodeError};

// The v2 batch header: where each field starts.
const LENGTH_AT: usize = 8;
const HEADER_BEFORE_LENGTH: usize = 12;
const MAGIC_AT: usize = 16;
const CRC_AT: usize = 17;
const ATTRIBUTES_AT: usize = 21;
const LAST_OFFSET_DELTA_AT: usize = 23;
const BASE_TIMESTAMP_AT: usize = 27;
const MAX_TIMESTAMP_AT: usize = 35;
const RECORD_COUNT_AT: usize = 57;
const RECORDS_AT: usize = 61;

const COMPRESSION_BITS: i16 = 0b111;
const LOG_APPEND_TIME: i16 = 1 << 3;
const TRANSACTIONAL: i16 = 1 << 4;
const CONTROL: i16 = 1 << 5;
const PRODUCER_ID_AT: usize = 43;

/// `N` bytes of `b` from `at`, for a big-endian number; callers check the length.
fn be<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(src) = b.get(at..at + N) {
        out.copy_from_slice(src);
    }
    out
}

/// CRC-32C (Castagnoli), what a v2 batch header carries over its bytes from
/// the attributes on: the `crc32c` crate (the one kafka-protocol uses),
/// which takes the CPU's CRC instruction where there is one.
pub fn crc32c(data: &[u8]) -> u32 {
    crc32c::crc32c(data)
}

#[cfg(test)]
pub use encode::encode;

#[cfg(test)]
mod testing;

#[cfg(test)]
mod tests {
    use super::testing::crc32c_bitwise;
    use super::*;

    #[test]
    fn crc32c_matches_its_definition_at_every_length() {
        assert_eq!(
            crc32c(b"123456789"),
            0xE306_9283,
            "the standard check value"
        );
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7919 % 251) as u8).collect();
        for len in 0..data.len() {
            let want = crc32c_bitwise(&data[..len]);
            assert_eq!(crc32c(&data[..len]), want, "{len} bytes");
            assert_eq!(
                crc32c(&data[3..len.max(3)]),
                crc32c_bitwise(&data[3..len.max(3)])
            );
        }
    }
}
