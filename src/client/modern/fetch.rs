//! Fetching with record batches: one Fetch request (v4 to v12) per leader
//! for the partitions it leads, every partition answered alone. A partition
//! whose leader is unknown or unreachable comes back with an error code and
//! no records, so the caller retries it after `Leaders::refresh`. Each
//! partition's records stay the bytes the broker sent until `read` hands
//! them out one by one (client::modern::batch), so a fetch costs the
//! answer's size in memory and no more.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{FetchRequest, FetchResponse};

use crate::client::codes;
use crate::client::codes::{NETWORK_EXCEPTION, UNKNOWN_SERVER_ERROR};
use crate::client::connection::topic_name;
use crate::client::modern::batch;
use crate::client::modern::leaders::Leaders;
use crate::client::modern::produce::{check_topic, pick_version};
use crate::client::retry;
use crate::error::{Error, Result};

pub use crate::client::modern::batch::RecordRef;

/// Fetch v4 is the first with isolation levels and record batches'
/// aborted-transaction list; v13 and later name topics by id.
pub const FETCH_VERSIONS: (i16, i16) = (4, 12);

/// The most one Fetch request asks for in all.
pub const MAX_FETCH_BYTES: i32 = 64 * 1024 * 1024;

/// One partition's share of a fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionFetch {
    pub partition: i32,
    /// 0, the broker's code, LEADER_NOT_AVAILABLE (or
    /// UNKNOWN_TOPIC_OR_PARTITION) without a known leader, or
    /// NETWORK_EXCEPTION when the leader could not be reached.
    pub error_code: i16,
    /// Where the readable log ends: the high watermark, or with
    /// read_committed the last stable offset (no open transaction's records
    /// before it); -1 unless the broker answered for the partition.
    pub high_watermark: i64,
    /// read_committed: the aborted transactions in this answer's range.
    pub aborted: Option<Vec<(i64, i64)>>,
    /// The record batches as the broker sent them: a slice of its answer,
    /// not a copy; `read` walks them.
    pub records: Option<Bytes>,
    /// Who answered (`host:port`), for errors; empty if no broker did.
    pub broker: String,
    /// The max bytes asked for the partition: what its compressed batches
    /// may unpack to is a multiple of it (batch::unpack_limit).
    pub max_bytes: i32,
}

impl PartitionFetch {
    fn failed(partition: i32, error_code: i16) -> PartitionFetch {
        PartitionFetch {
            partition,
            error_code,
            high_watermark: -1,
            aborted: None,
            records: None,
            broker: String::new(),
            max_bytes: 0,
        }
    }

    /// Hands each record at or after `offset` (the offset this partition
    /// was fetched from) to `f`, in order, borrowed from the answer, and
    /// returns where to fetch from next: one past the last whole batch the
    /// answer held (transaction markers included), else `offset`. A batch
    /// that cannot be read (corrupt, an old format) is an error naming the
    /// topic, partition and broker; the records before it have been handed
    /// to `f` by then. `check_crc` covers uncompressed batches; compressed
    /// ones are always checked.
    pub fn read(
        &self,
        topic: &str,
        offset: i64,
        check_crc: bool,
        f: impl FnMut(RecordRef<'_>),
    ) -> Result<i64> {
        let Some(raw) = self.records.as_ref().filter(|_| self.error_code == 0) else {
            return Ok(offset);
        };
        let mut aborted = self.aborted.clone().map(batch::Aborted::new);
        let limit = batch::unpack_limit(self.max_bytes);
        let next =
            batch::read(raw, offset, check_crc, limit, aborted.as_mut(), f).map_err(|e| {
                let message = format!(
                "cannot read topic '{topic}' partition {} from {}: the batch at offset {} is {}",
                self.partition, self.broker, e.offset, e.reason
            );
                if e.old_format {
                    Error::broker_with_hint(
                        message,
                        "kafkademo reads record batches (message format v2) only",
                    )
                } else {
                    Error::broker(message)
                }
            })?;
        Ok(next.unwrap_or(offset).max(offset))
    }

    /// Whether the next batch is larger than the max bytes asked for: `read`
    /// from `offset` gave `records` records and `next` to go on from, and
    /// nothing whole came back although the log goes on (grow the size).
    pub fn too_small(&self, offset: i64, records: usize, next: i64) -> bool {
        self.error_code == 0 && records == 0 && next == offset && self.high_watermark > offset
    }
}

/// Fetches each `(partition, offset, max bytes)` of `topic` from its leader:
/// the broker answers once it has a byte or after `max_wait`, and its answer
/// is awaited `max_wait + timeout`. Every wanted partition has an entry, in
/// the order asked; its records are read by `PartitionFetch::read`, which
/// is where a batch that cannot be read (corrupt, an old format) shows.
/// Fails as a whole only on Ctrl-C or a broker too old for Fetch v4.
pub fn fetch(
    leaders: &mut Leaders,
    topic: &str,
    wanted: &[(i32, i64, i32)],
    max_wait: Duration,
    timeout: Duration,
    isolation: Isolation,
) -> Result<Vec<PartitionFetch>> {
    check_topic(leaders, topic)?;
    let mut results: Vec<Option<PartitionFetch>> = vec![None; wanted.len()];
    let (grouped, leaderless) = leaders.by_leader(wanted.iter().map(|w| w.0));
    for p in leaderless {
        for (i, &(wp, _, _)) in wanted.iter().enumerate() {
            if wp == p {
                results[i] = Some(PartitionFetch::failed(p, leaders.leaderless_code(p)));
            }
        }
    }
    for (leader, partitions) in grouped {
        // The wanted entries this leader serves, by index.
        let mine: Vec<usize> = (0..wanted.len())
            .filter(|&i| partitions.contains(&wanted[i].0))
            .collect();
        let asked: Vec<(i32, i64, i32)> = mine.iter().map(|&i| wanted[i]).collect();
        match fetch_from(leaders, leader, topic, &asked, max_wait, timeout, isolation) {
            Ok(answers) => {
                for (i, answer) in mine.into_iter().zip(answers) {
                    results[i] = Some(answer);
                }
            }
            Err(Error::Interrupted) => return Err(Error::Interrupted),
            Err(e) if retry::retriable(&e) => {
                log::info!("fetching topic '{topic}' partitions {partitions:?}: {e}");
                leaders.forget(leader);
                for i in mine {
                    results[i] = Some(PartitionFetch::failed(wanted[i].0, NETWORK_EXCEPTION));
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(results
        .into_iter()
        .zip(wanted)
        .map(|(r, &(p, _, _))| {
            r.unwrap_or_else(|| PartitionFetch::failed(p, codes::LEADER_NOT_AVAILABLE))
        })
        .collect())
}

/// One Fetch request to one leader; its answer for each of `asked`, in order.
fn fetch_from(
    leaders: &mut Leaders,
    leader: i32,
    topic: &str,
    asked: &[(i32, i64, i32)],
    max_wait: Duration,
    timeout: Duration,
    isolation: Isolation,
) -> Result<Vec<PartitionFetch>> {
    let conn = leaders.connection(leader)?;
    let version = pick_version::<FetchRequest>(conn, FETCH_VERSIONS, "Kafka 0.11+")?;
    let request = request(topic, asked, max_wait, isolation);
    let response = conn.call_at(&request, version, max_wait.saturating_add(timeout))?;
    let addr = conn.addr().to_string();
    Ok(answers(response, topic, asked, &addr, isolation))
}

/// Which records a fetch returns: all that are replicated
/// (read_uncommitted, Kafka's console consumer's default), or only those
/// of committed transactions and none past the last stable offset
/// (read_committed, what exactly-once readers use).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Isolation {
    #[default]
    ReadUncommitted,
    ReadCommitted,
}

impl Isolation {
    fn level(self) -> i8 {
        match self {
            Isolation::ReadUncommitted => 0,
            Isolation::ReadCommitted => 1,
        }
    }
}

fn request(
    topic: &str,
    asked: &[(i32, i64, i32)],
    max_wait: Duration,
    isolation: Isolation,
) -> FetchRequest {
    let total: i64 = asked.iter().map(|&(_, _, max)| i64::from(max.max(1))).sum();
    FetchRequest::default()
        .with_max_wait_ms(i32::try_from(max_wait.as_millis()).unwrap_or(i32::MAX))
        .with_min_bytes(1)
        .with_max_bytes(total.clamp(1, i64::from(MAX_FETCH_BYTES)) as i32)
        // no fetch session
        .with_isolation_level(isolation.level())
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(topic_name(topic))
            .with_partitions(
                asked
                    .iter()
                    .map(|&(p, offset, max)| {
                        FetchPartition::default()
                            .with_partition(p)
                            .with_fetch_offset(offset)
                            .with_partition_max_bytes(max.max(1))
                    })
                    .collect(),
            )])
}

/// Each of `asked` from a Fetch answer: its code, high watermark and
/// record batches (read later, by `PartitionFetch::read`). A partition the
/// answer left out gets UNKNOWN_SERVER_ERROR.
fn answers(
    mut response: FetchResponse,
    topic: &str,
    asked: &[(i32, i64, i32)],
    addr: &str,
    isolation: Isolation,
) -> Vec<PartitionFetch> {
    let mut out = Vec::with_capacity(asked.len());
    for &(p, _, max_bytes) in asked {
        if response.error_code != 0 {
            out.push(PartitionFetch::failed(p, response.error_code));
            continue;
        }
        let answer = response
            .responses
            .iter_mut()
            .filter(|t| t.topic.as_str() == topic)
            .flat_map(|t| t.partitions.iter_mut())
            .find(|a| a.partition_index == p);
        let Some(answer) = answer else {
            log::warn!("{addr} left topic '{topic}' partition {p} out of its Fetch answer");
            out.push(PartitionFetch::failed(p, UNKNOWN_SERVER_ERROR));
            continue;
        };
        let committed = isolation == Isolation::ReadCommitted;
        out.push(PartitionFetch {
            partition: p,
            error_code: answer.error_code,
            high_watermark: if committed && answer.last_stable_offset >= 0 {
                answer.last_stable_offset
            } else {
                answer.high_watermark
            },
            aborted: committed.then(|| {
                answer
                    .aborted_transactions
                    .iter()
                    .flatten()
                    .map(|a| (a.producer_id.0, a.first_offset))
                    .collect()
            }),
            // Taken, not cloned: the answer is dropped as soon as all are.
            records: answer.records.take(),
            broker: addr.to_string(),
            max_bytes,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::modern::batch::{encode, BatchIdentity, BatchRecord};
    use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};

    fn response(parts: Vec<PartitionData>) -> FetchResponse {
        FetchResponse::default().with_responses(vec![FetchableTopicResponse::default()
            .with_topic(topic_name("t"))
            .with_partitions(parts)])
    }

    #[test]
    fn the_request_sums_partition_sizes_up_to_64_mib() {
        let r = request(
            "t",
            &[(0, 5, 1000), (1, 0, 2000)],
            Duration::from_millis(250),
            Isolation::ReadUncommitted,
        );
        assert_eq!((r.max_wait_ms, r.min_bytes, r.max_bytes), (250, 1, 3000));
        assert_eq!(
            (r.session_id, r.session_epoch, r.isolation_level),
            (0, -1, 0)
        );
        assert_eq!(r.topics[0].partitions[0].fetch_offset, 5);
        assert_eq!(r.topics[0].partitions[1].partition_max_bytes, 2000);
        let r = request(
            "t",
            &[(0, 0, i32::MAX), (1, 0, i32::MAX)],
            Duration::ZERO,
            Isolation::ReadCommitted,
        );
        assert_eq!(r.max_bytes, MAX_FETCH_BYTES);
        assert_eq!(r.isolation_level, 1);
    }

    /// What `read` hands out from offset `at`: (offset, value) pairs and where to go on.
    fn read_all(p: &PartitionFetch, at: i64) -> (Vec<(i64, Vec<u8>)>, i64) {
        let mut got = Vec::new();
        let next = p
            .read("t", at, true, |r| {
                got.push((r.offset, r.value.unwrap_or_default().to_vec()))
            })
            .unwrap();
        (got, next)
    }

    #[test]
    fn a_batch_larger_than_the_fetch_size_shows_as_too_small() {
        let r = BatchRecord {
            key: b"",
            value: Some(&[7; 100]),
            headers: &[],
            timestamp_ms: 1,
        };
        let whole = encode(
            [r, r],
            BatchIdentity::PLAIN,
            kafka_protocol::records::Compression::None,
        )
        .unwrap();
        let cut = whole.slice(..50);
        let got = answers(
            response(vec![
                PartitionData::default()
                    .with_partition_index(0)
                    .with_high_watermark(2)
                    .with_records(Some(cut)),
                PartitionData::default()
                    .with_partition_index(1)
                    .with_high_watermark(2)
                    .with_records(Some(whole.clone())),
                PartitionData::default()
                    .with_partition_index(2)
                    .with_error_code(1)
                    .with_high_watermark(-1)
                    .with_records(Some(whole)),
            ]),
            "t",
            &[(0, 0, 50), (1, 1, 1000), (2, 9, 1000), (3, 0, 1000)],
            "b:1",
            Isolation::ReadUncommitted,
        );
        let (records, next) = read_all(&got[0], 0);
        assert!(records.is_empty() && got[0].too_small(0, 0, next));
        let (records, next) = read_all(&got[1], 1);
        assert_eq!(
            records,
            [(1, vec![7; 100])],
            "offset 0 is before the one asked for"
        );
        assert_eq!(next, 2);
        assert!(!got[1].too_small(1, 1, next));
        assert_eq!(got[2].error_code, 1);
        assert_eq!(
            read_all(&got[2], 9),
            (Vec::new(), 9),
            "no records with an error"
        );
        assert_eq!(
            got[3].error_code,
            crate::client::codes::UNKNOWN_SERVER_ERROR
        );
        assert_eq!(read_all(&got[3], 0), (Vec::new(), 0));
    }

    #[test]
    fn an_unreadable_batch_names_topic_partition_and_broker() {
        let got = answers(
            response(vec![PartitionData::default()
                .with_partition_index(4)
                .with_high_watermark(1)
                .with_records(Some(bytes::Bytes::from(vec![0u8; 70])))]),
            "t",
            &[(4, 0, 1000)],
            "b:1",
            Isolation::ReadUncommitted,
        );
        let e = got[0].read("t", 0, true, |_| {}).unwrap_err();
        assert!(
            e.to_string().starts_with(
                "cannot read topic 't' partition 4 from b:1: the batch at offset 0 is"
            ),
            "{e}"
        );
    }
}
