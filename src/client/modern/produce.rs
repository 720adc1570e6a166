//! Producing with record batches: one Produce request (v3 to v11) per
//! leader, one batch per partition, each partition answered alone. A leader
//! that cannot be reached costs only its own partitions (NETWORK_EXCEPTION,
//! retriable), so what the other leaders acknowledged is kept.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    InitProducerIdRequest, ProduceRequest, ProduceResponse, ProducerId, TransactionalId,
};
use kafka_protocol::protocol::{Request, StrBytes};

use crate::client::cluster::Cluster;
use crate::client::codes::{
    self, DUPLICATE_SEQUENCE_NUMBER, NETWORK_EXCEPTION, UNKNOWN_SERVER_ERROR,
};
use crate::client::connection::{topic_name, Connection};
use crate::client::deadline::Deadline;
use kafka_protocol::records::Compression;

use crate::client::modern::batch::{self, BatchIdentity, BatchRecord, EncodeError};
use crate::client::modern::leaders::Leaders;
use crate::client::retry;
use crate::client::versions;
use crate::error::{Error, Result};

/// Produce v3 is the first with record batches (message format v2); v12
/// and later are Kafka 4's (v13 names topics by id), so v11 is our last.
pub const PRODUCE_VERSIONS: (i16, i16) = (3, 11);

/// A record to send.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    pub partition: i32,
    /// Empty: a null key.
    pub key: &'a [u8],
    /// None: a null value (a tombstone).
    pub value: Option<&'a [u8]>,
    pub headers: &'a [(String, Vec<u8>)],
    pub timestamp_ms: i64,
}

/// Sends `count` records, `record(0)` to `record(count - 1)`, to their
/// partitions' leaders, in order within each partition, and returns per
/// partition the base offset of its batch (-1 with acks=0, or for a
/// duplicate the broker gave no offset for) or the error code: the broker's, LEADER_NOT_AVAILABLE (or UNKNOWN_TOPIC_OR_PARTITION)
/// without a known leader, NETWORK_EXCEPTION when the leader could not be
/// reached, timed out or broke the connection. The records are looked at
/// through `record` (more than once: to size each batch, then to write it)
/// rather than handed over as a list, so sending copies them exactly once,
/// into their batch. The broker may take `timeout * 3/4` to replicate
/// (acks=-1); each answer is awaited at most `timeout`. Fails as a whole
/// only on Ctrl-C, on records that cannot be encoded, or a broker too old
/// for record batches.
#[allow(clippy::too_many_arguments)]
pub fn send<'a>(
    leaders: &mut Leaders,
    topic: &str,
    count: usize,
    record: impl Fn(usize) -> Outgoing<'a>,
    acks: i16,
    timeout: Duration,
    compression: Compression,
    identities: &HashMap<i32, BatchIdentity>,
    transactional_id: Option<&str>,
    buffer: &mut BatchBuffer,
) -> Result<HashMap<i32, std::result::Result<i64, i16>>> {
    check_topic(leaders, topic)?;
    // Which records go to each partition, in order (4 bytes a record).
    let mut by_partition: BTreeMap<i32, Vec<u32>> = BTreeMap::new();
    for i in 0..count {
        by_partition
            .entry(record(i).partition)
            .or_default()
            .push(i as u32);
    }
    let batch_record = |i: &u32| {
        let r = record(*i as usize);
        BatchRecord {
            key: r.key,
            value: r.value,
            headers: r.headers,
            timestamp_ms: r.timestamp_ms,
        }
    };
    let mut results = HashMap::new();
    let (grouped, leaderless) = leaders.by_leader(by_partition.keys().copied());
    for p in leaderless {
        results.insert(p, Err(leaders.leaderless_code(p)));
    }
    for (leader, partitions) in grouped {
        // The leader's batches, one after another in the buffer.
        let out = buffer.start();
        let mut ranges = Vec::with_capacity(partitions.len());
        for &p in &partitions {
            let mine = by_partition.get(&p).map(Vec::as_slice).unwrap_or_default();
            // An idempotent producer's id, epoch and the partition's
            // sequence number for the batch's first record.
            let identity = identities.get(&p).copied().unwrap_or(BatchIdentity::PLAIN);
            let start = out.len();
            batch::encode_into(mine.iter().map(batch_record), identity, compression, out)
                .map_err(|e| encode_error(e, topic, p))?;
            ranges.push((p, start..out.len()));
        }
        let batches = buffer.finish();
        let data = ranges
            .into_iter()
            .map(|(p, range)| {
                PartitionProduceData::default()
                    .with_index(p)
                    .with_records(Some(batches.slice(range)))
            })
            .collect();
        let request = ProduceRequest::default()
            // A transaction's batches name it: the broker checks the
            // producer may write for that transactional id.
            .with_transactional_id(
                transactional_id.map(|id| TransactionalId(StrBytes::from_string(id.to_string()))),
            )
            .with_acks(acks)
            .with_timeout_ms(ack_timeout_ms(timeout))
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(topic_name(topic))
                .with_partition_data(data)]);
        match send_to(leaders, leader, &request, acks, timeout) {
            Ok(Some(response)) => results.extend(answers(&response, topic, &partitions)),
            Ok(None) => results.extend(partitions.iter().map(|&p| (p, Ok(-1)))),
            Err(Error::Interrupted) => return Err(Error::Interrupted),
            Err(e) if retry::retriable(&e) => {
                log::info!("producing to topic '{topic}' partitions {partitions:?}: {e}");
                leaders.forget(leader);
                results.extend(partitions.iter().map(|&p| (p, Err(NETWORK_EXCEPTION))));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(results)
}

/// Where a producer writes its record batches, kept from request to
/// request. A request's batches are slices of it; once the request is
/// dropped the next one is written into the same allocation, so a producer
/// sending requests of similar size allocates (and page-faults in) its
/// batch memory once rather than once a request.
#[derive(Debug, Default)]
pub struct BatchBuffer(BytesMut);

/// A buffer larger than this is let go after its request rather than kept
/// for the next (one huge send must not pin its size for the producer's life).
const KEEP_BYTES: usize = 1024 * 1024;

impl BatchBuffer {
    /// The buffer, empty, to append one request's batches to. Its first
    /// `reserve` moves back to the start of the allocation when the last
    /// request's batches are gone, and allocates anew only when they are
    /// not (or do not fit).
    fn start(&mut self) -> &mut BytesMut {
        self.0.clear();
        &mut self.0
    }

    /// What was appended since `start`, as one `Bytes` to slice.
    fn finish(&mut self) -> Bytes {
        let batches = self.0.split().freeze();
        if batches.len() > KEEP_BYTES {
            self.0 = BytesMut::new();
        }
        batches
    }
}

/// A producer id and epoch for an idempotent producer (InitProducerId with
/// no transactional id), from any broker: with them the leaders drop a
/// batch they already wrote when a retry sends it again.
pub fn init_producer_id(cluster: &mut Cluster) -> Result<(i64, i16)> {
    let request = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(-1)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    // A broker that just restarted answers COORDINATOR_LOAD_IN_PROGRESS
    // while it loads its transaction state: wait, as the Java client does.
    let mut retry = retry::Retry::within(retry::RETRY_FOR);
    loop {
        let conn = cluster.bootstrap();
        let addr = conn.addr().to_string();
        let answer =
            pick_version::<InitProducerIdRequest>(conn, (0, 4), "Kafka 0.11+, idempotence")
                .and_then(|version| conn.call_at(&request, version, conn.timeout()));
        let why = match answer {
            Ok(r) if r.error_code == 0 => return Ok((r.producer_id.0, r.producer_epoch)),
            Ok(r)
                if codes::coordinator_moved(r.error_code)
                    || codes::leader_trouble(r.error_code) =>
            {
                format!(
                    "{addr} cannot hand out a producer id yet ({})",
                    codes::name(r.error_code)
                )
            }
            Ok(r) => {
                if let Some(e) = codes::denied(
                    r.error_code,
                    "produce idempotently",
                    "IdempotentWrite",
                    String::new,
                ) {
                    return Err(e);
                }
                return Err(Error::broker(format!(
                    "{addr} refused a producer id for an idempotent producer: broker error {} ({})",
                    r.error_code,
                    codes::name(r.error_code)
                )));
            }
            Err(e) if retry::retriable(&e) => e.to_string(),
            Err(e) => return Err(e),
        };
        if !retry.again(&why) {
            return Err(if crate::client::deadline::interrupted() {
                Error::Interrupted
            } else {
                Error::broker(why)
            });
        }
    }
}

/// One request to one leader: its answer, or None with acks=0 (no answer comes).
fn send_to(
    leaders: &mut Leaders,
    leader: i32,
    request: &ProduceRequest,
    acks: i16,
    timeout: Duration,
) -> Result<Option<ProduceResponse>> {
    let conn = leaders.connection(leader)?;
    let version = produce_version(conn)?;
    if acks == 0 {
        conn.send_only(request, version, Deadline::after(timeout))?;
        return Ok(None);
    }
    conn.call_at(request, version, timeout).map(Some)
}

/// The Produce version to speak with `conn`: the highest both sides know,
/// at least v3 (record batches). Kafka 4 still lists v0 to v2 but refuses them.
pub fn produce_version(conn: &Connection) -> Result<i16> {
    pick_version::<ProduceRequest>(conn, PRODUCE_VERSIONS, "Kafka 0.11+, record batches")
}

/// The highest version in both `ours` and the broker's range for `R`.
pub(super) fn pick_version<R: Request>(
    conn: &Connection,
    ours: (i16, i16),
    needs: &str,
) -> Result<i16> {
    let theirs = conn.api_versions().get(&R::KEY).copied();
    versions::highest_common(theirs, ours).ok_or_else(|| {
        let name = std::any::type_name::<R>()
            .rsplit("::")
            .next()
            .unwrap_or_default()
            .trim_end_matches("Request");
        let listed = match theirs {
            Some((min, max)) => format!("it accepts v{min} to v{max}"),
            None => "it does not list it".into(),
        };
        Error::Unsupported {
            addr: conn.addr().to_string(),
            what: format!("{name} v{} to v{} ({needs}; {listed})", ours.0, ours.1),
        }
    })
}

/// The broker's wait for replication: three quarters of ours, so its
/// answer (REQUEST_TIMED_OUT at worst) comes before we stop waiting.
fn ack_timeout_ms(timeout: Duration) -> i32 {
    let ms = (timeout * 3 / 4).as_millis();
    i32::try_from(ms).unwrap_or(i32::MAX)
}

/// Each partition's outcome from a Produce answer.
fn answers(
    response: &ProduceResponse,
    topic: &str,
    partitions: &[i32],
) -> Vec<(i32, std::result::Result<i64, i16>)> {
    partitions
        .iter()
        .map(|&p| {
            let answer = response
                .responses
                .iter()
                .filter(|t| t.name.as_str() == topic)
                .flat_map(|t| t.partition_responses.iter())
                .find(|a| a.index == p);
            let outcome = match answer {
                Some(a) if a.error_code == 0 => Ok(a.base_offset),
                // The broker already has this batch, from an attempt whose
                // answer was lost, and kept no offset for it (it has written
                // more of ours since): written, at the offset it gives if
                // any (-1 otherwise), never one made up.
                Some(a) if a.error_code == DUPLICATE_SEQUENCE_NUMBER => Ok(a.base_offset.max(-1)),
                Some(a) => {
                    if let Some(m) = &a.error_message {
                        log::info!("topic '{topic}' partition {p}: {m}");
                    }
                    Err(a.error_code)
                }
                None => {
                    log::warn!("the Produce answer for topic '{topic}' left out partition {p}");
                    Err(UNKNOWN_SERVER_ERROR)
                }
            };
            (p, outcome)
        })
        .collect()
}

pub(super) fn check_topic(leaders: &Leaders, topic: &str) -> Result<()> {
    if leaders.topic() == topic {
        return Ok(());
    }
    Err(Error::broker(format!(
        "internal error: the leaders of topic '{}' were asked about topic '{topic}'",
        leaders.topic()
    )))
}

fn encode_error(e: EncodeError, topic: &str, partition: i32) -> Error {
    match e {
        EncodeError::DuplicateHeader { record, name } => Error::Data {
            message: format!(
                "cannot send to topic '{topic}' partition {partition}: record {} of the batch has the header '{name}' twice",
                record + 1
            ),
            hint: Some("give each header of a record its own name".into()),
        },
        EncodeError::Encoder(why) => Error::Data {
            message: format!(
                "cannot encode records for topic '{topic}' partition {partition}: {why}"
            ),
            hint: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::produce_response::{
        PartitionProduceResponse, TopicProduceResponse,
    };

    #[test]
    fn the_batch_buffer_is_written_again_once_its_request_is_gone() {
        let r = BatchRecord {
            key: b"",
            value: Some(&[7; 1000]),
            headers: &[],
            timestamp_ms: 1,
        };
        let mut buffer = BatchBuffer::default();
        let request = |buffer: &mut BatchBuffer| {
            let out = buffer.start();
            batch::encode_into([r; 10], BatchIdentity::PLAIN, Compression::None, out).unwrap();
            batch::encode_into([r; 5], BatchIdentity::PLAIN, Compression::None, out).unwrap();
            buffer.finish()
        };
        let first = request(&mut buffer);
        let at = first.as_ptr();
        drop(first);
        let second = request(&mut buffer);
        assert_eq!(second.as_ptr(), at, "the same allocation");
        // While a request's batches are still held, the next gets its own.
        let third = request(&mut buffer);
        assert_ne!(third.as_ptr(), second.as_ptr());
        assert_eq!(third, second);
    }

    #[test]
    fn versions_are_the_highest_both_speak_from_v3() {
        assert_eq!(
            versions::highest_common(Some((0, 9)), PRODUCE_VERSIONS),
            Some(9)
        );
        assert_eq!(
            versions::highest_common(Some((0, 13)), PRODUCE_VERSIONS),
            Some(11)
        );
        assert_eq!(
            versions::highest_common(Some((3, 13)), PRODUCE_VERSIONS),
            Some(11)
        );
        assert_eq!(
            versions::highest_common(Some((0, 2)), PRODUCE_VERSIONS),
            None
        );
        assert_eq!(
            versions::highest_common(Some((12, 13)), PRODUCE_VERSIONS),
            None
        );
        assert_eq!(versions::highest_common(None, PRODUCE_VERSIONS), None);
    }

    #[test]
    fn the_broker_gets_three_quarters_of_the_timeout() {
        assert_eq!(ack_timeout_ms(Duration::from_secs(4)), 3000);
        assert_eq!(ack_timeout_ms(Duration::from_secs(1 << 40)), i32::MAX);
    }

    #[test]
    fn each_partition_gets_its_offset_or_code() {
        let response =
            ProduceResponse::default().with_responses(vec![TopicProduceResponse::default()
                .with_name(topic_name("t"))
                .with_partition_responses(vec![
                    PartitionProduceResponse::default()
                        .with_index(0)
                        .with_base_offset(42),
                    PartitionProduceResponse::default()
                        .with_index(1)
                        .with_error_code(6)
                        .with_base_offset(-1),
                    PartitionProduceResponse::default()
                        .with_index(3)
                        .with_error_code(DUPLICATE_SEQUENCE_NUMBER)
                        .with_base_offset(-1),
                    PartitionProduceResponse::default()
                        .with_index(4)
                        .with_error_code(DUPLICATE_SEQUENCE_NUMBER)
                        .with_base_offset(17),
                ])]);
        let got: HashMap<_, _> = answers(&response, "t", &[0, 1, 2, 3, 4])
            .into_iter()
            .collect();
        assert_eq!(got[&0], Ok(42));
        assert_eq!(got[&1], Err(6));
        assert_eq!(got[&2], Err(UNKNOWN_SERVER_ERROR));
        // A duplicate is written: its offset if given, else unknown (-1).
        assert_eq!(got[&3], Ok(-1));
        assert_eq!(got[&4], Ok(17));
    }
}
