//! Finding the offset of a point in time: ListOffsets v1+ by timestamp over
//! `kafka-protocol`, answered from the broker's time index record by record.
//! The `kafka` crate only speaks ListOffsets v0, whose by-time answer is the
//! start of a log segment (often the whole partition), so "read the last
//! minute" needs this. The same request gives each partition's earliest and
//! latest offsets (timestamps -2 and -1), asked of each partition's leader on
//! our own bounded connections.

use std::collections::BTreeMap;
use std::time::SystemTime;

use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{
    BrokerId, ListOffsetsRequest, ListOffsetsResponse, MetadataResponse,
};

use crate::client::cluster::Cluster;
use crate::client::codes;
use crate::client::connection::topic_name;
use crate::client::deadline::interrupted;
use crate::client::retry::{retriable, Retry, RETRY_FOR};
use crate::error::{Error, Result};

/// Milliseconds since the Unix epoch, as Kafka counts time.
pub fn epoch_millis(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_millis().min(i64::MAX as u128) as i64,
        Err(e) => -(e.duration().as_millis().min(i64::MAX as u128) as i64),
    }
}

/// The first offset of `topic`/`partition` whose record timestamp is at or
/// after `at`, or None when every record is older (read from the end then).
///
/// Records only have useful timestamps here when the topic stamps them on
/// arrival (`message.timestamp.type=LogAppendTime`): the `kafka` crate
/// produces message format v0, which carries none.
pub fn offset_for_time(
    cluster: &mut Cluster,
    topic: &str,
    partition: i32,
    at: SystemTime,
) -> Result<Option<i64>> {
    let metadata = cluster.bootstrap().metadata(Some(&[topic]))?;
    let leader = metadata
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter())
        .find(|p| p.partition_index == partition)
        .map(|p| p.leader_id.0)
        .filter(|&id| id >= 0)
        .ok_or_else(|| {
            Error::broker(format!(
                "topic '{topic}' partition {partition} has no leader at {}",
                cluster.config.display()
            ))
        })?;
    let mut conn = cluster.connection_to(&metadata, leader)?;
    let request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(partition)
                .with_current_leader_epoch(-1)
                .with_timestamp(epoch_millis(at))])]);
    let response = conn.call(&request)?;
    let answer = response
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter())
        .find(|p| p.partition_index == partition)
        .ok_or_else(|| {
            Error::broker(format!(
                "{} answered ListOffsets without partition {partition} of topic '{topic}'",
                conn.addr()
            ))
        })?;
    match answer.error_code {
        0 if answer.offset >= 0 => Ok(Some(answer.offset)),
        0 => Ok(None),
        codes::UNKNOWN_TOPIC_OR_PARTITION => Err(Error::UnknownTopic {
            topic: topic.to_string(),
            brokers: cluster.config.display(),
        }),
        code => {
            if let Some(e) = codes::denied(code, "read", "Describe", || format!("topic {topic}")) {
                return Err(e);
            }
            let name = codes::name(code);
            Err(Error::broker(format!(
                "cannot look up offsets by time in topic '{topic}' partition {partition}: broker error {code} ({name})"
            )))
        }
    }
}

/// A point in a partition's log to find the offset of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// The oldest offset still kept (the log start).
    Earliest,
    /// The log end: the offset the next record will get.
    Latest,
    /// The first record stamped at or after this time; the log end when all
    /// records are older.
    Time(SystemTime),
}

impl At {
    fn timestamp(self) -> i64 {
        match self {
            At::Earliest => -2,
            At::Latest => -1,
            // Other negative values ask for special offsets (-3: the record
            // with the largest timestamp): a time before 1970 means "all".
            At::Time(t) => epoch_millis(t).max(0),
        }
    }

    fn name(self) -> &'static str {
        match self {
            At::Earliest => "earliest offset",
            At::Latest => "latest offset",
            At::Time(_) => "offset at that time",
        }
    }
}

/// The offset at `at` of every partition of `topic`, asked of each
/// partition's leader. Every partition has an answer or the whole call is
/// an error (a partition without a leader, missing from the answer, or with
/// an error code): never a made-up offset.
pub fn offsets_at(cluster: &mut Cluster, topic: &str, at: At) -> Result<BTreeMap<i32, i64>> {
    let found = ask_through_elections(cluster, topic, at.timestamp(), at.name(), 0)?;
    let mut out = BTreeMap::new();
    let mut past_the_end = Vec::new();
    for (partition, offset) in found {
        match offset {
            Some(o) => {
                out.insert(partition, o);
            }
            None => past_the_end.push(partition),
        }
    }
    if !past_the_end.is_empty() {
        // every record is older than the time: the log end
        let latest =
            ask_through_elections(cluster, topic, At::Latest.timestamp(), At::Latest.name(), 0)?;
        for p in past_the_end {
            let end = latest.get(&p).copied().flatten().ok_or_else(|| {
                let brokers = cluster.config.display();
                let why = "no offset in its answer";
                no_answer(topic, p, At::Latest.name(), why, &brokers)
            })?;
            out.insert(p, end);
        }
    }
    Ok(out)
}

/// Where each partition's log ends for a reader now: its high watermark,
/// or with `read_committed` its last stable offset.
///
/// A fetch answer reports a high watermark too, but a leader elected a
/// moment ago reports one that can lag what its predecessor had committed
/// (it learns how far the followers are only as they fetch from it): a
/// reader that stopped at that one would miss acknowledged records. Asked
/// this way (ListOffsets v2+, with an isolation level), such a leader
/// answers OFFSET_NOT_AVAILABLE instead, which is waited out as an
/// election is. Every modern broker speaks v2 (Kafka 0.11+).
pub fn log_ends(
    cluster: &mut Cluster,
    topic: &str,
    read_committed: bool,
) -> Result<BTreeMap<i32, i64>> {
    let isolation = i8::from(read_committed);
    let what = At::Latest.name();
    let found = ask_through_elections(cluster, topic, At::Latest.timestamp(), what, isolation)?;
    let brokers = cluster.config.display();
    found
        .into_iter()
        .map(|(p, end)| {
            end.map(|end| (p, end))
                .ok_or_else(|| no_answer(topic, p, what, "no offset in its answer", &brokers))
        })
        .collect()
}

/// `ask`, again within the retry window while a leader is lost, frozen
/// or being elected (a consumer starting or a stream task restoring then
/// waits for the new leader instead of failing on the old one).
fn ask_through_elections(
    cluster: &mut Cluster,
    topic: &str,
    timestamp: i64,
    what: &str,
    isolation: i8,
) -> Result<BTreeMap<i32, Option<i64>>> {
    let mut retry = Retry::within(RETRY_FOR);
    loop {
        match ask(cluster, topic, timestamp, what, isolation) {
            Err(e) if retriable(&e) || is_election(&e) => {
                if !retry.again(&e) {
                    return Err(if interrupted() { Error::Interrupted } else { e });
                }
            }
            other => return other,
        }
    }
}

/// The hint of an answer a leader election explains.
const ELECTION_HINT: &str = "a leader election may be under way; try again in a moment";

fn is_election(e: &Error) -> bool {
    matches!(e, Error::Broker { hint: Some(h), .. } if h == ELECTION_HINT)
}

/// One ListOffsets per leader for all of the topic's partitions at
/// `timestamp`; None for a partition whose answer is "no such record".
/// `isolation` 1 (read_committed) makes the latest offset the last stable
/// one; sent from v2 on, it also makes a leader whose high watermark lags
/// its election answer OFFSET_NOT_AVAILABLE (see `log_ends`).
fn ask(
    cluster: &mut Cluster,
    topic: &str,
    timestamp: i64,
    what: &str,
    isolation: i8,
) -> Result<BTreeMap<i32, Option<i64>>> {
    let brokers = cluster.config.display();
    let metadata = cluster.bootstrap().metadata(Some(&[topic]))?;
    let mut out = BTreeMap::new();
    for (leader, partitions) in leaders(&metadata, topic, what, &brokers)? {
        let mut conn = cluster.connection_to(&metadata, leader)?;
        if conn.version::<ListOffsetsRequest>()? < 1 {
            return Err(Error::Unsupported {
                addr: conn.addr().to_string(),
                what: "ListOffsets v1 (Kafka 0.10.1+)".into(),
            });
        }
        let request = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_isolation_level(isolation)
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(topic_name(topic))
                .with_partitions(
                    partitions
                        .iter()
                        .map(|&p| {
                            ListOffsetsPartition::default()
                                .with_partition_index(p)
                                .with_current_leader_epoch(-1)
                                .with_timestamp(timestamp)
                        })
                        .collect(),
                )]);
        let response = conn.call(&request)?;
        let from = Asked {
            topic,
            what,
            addr: conn.addr(),
            brokers: &brokers,
        };
        out.extend(answers(&response, &partitions, &from)?);
    }
    Ok(out)
}

/// The topic's partitions by leader; a partition without one is an error.
fn leaders(
    metadata: &MetadataResponse,
    topic: &str,
    what: &str,
    brokers: &str,
) -> Result<BTreeMap<i32, Vec<i32>>> {
    let mut by_leader: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    for t in &metadata.topics {
        if t.error_code == codes::UNKNOWN_TOPIC_OR_PARTITION {
            return Err(Error::UnknownTopic {
                topic: topic.to_string(),
                brokers: brokers.to_string(),
            });
        }
        for p in &t.partitions {
            if p.leader_id.0 < 0 {
                let why = "it has no leader";
                return Err(no_answer(topic, p.partition_index, what, why, brokers));
            }
            by_leader
                .entry(p.leader_id.0)
                .or_default()
                .push(p.partition_index);
        }
    }
    if by_leader.is_empty() {
        return Err(Error::broker_with_hint(
            format!("topic '{topic}' has no partitions in the metadata from {brokers}"),
            "a topic being created or deleted can show none for a moment; try again",
        ));
    }
    Ok(by_leader)
}

/// Whom a ListOffsets answer came from, for its errors.
struct Asked<'a> {
    topic: &'a str,
    what: &'a str,
    addr: &'a str,
    brokers: &'a str,
}

/// Each of `partitions` from a ListOffsets answer: one left out or answered
/// with an error code is an error, never an offset.
fn answers(
    response: &ListOffsetsResponse,
    partitions: &[i32],
    from: &Asked,
) -> Result<BTreeMap<i32, Option<i64>>> {
    let mut out = BTreeMap::new();
    for &p in partitions {
        let fail = |why: String| no_answer(from.topic, p, from.what, &why, from.brokers);
        let answer = response
            .topics
            .iter()
            .filter(|t| t.name.as_str() == from.topic)
            .flat_map(|t| t.partitions.iter())
            .find(|a| a.partition_index == p)
            .ok_or_else(|| fail(format!("{} left it out of its answer", from.addr)))?;
        if answer.error_code != 0 {
            let code = answer.error_code;
            if let Some(e) =
                codes::denied(code, "read", "Describe", || format!("topic {}", from.topic))
            {
                return Err(e);
            }
            let why = format!(
                "{} answered error {code} ({})",
                from.addr,
                codes::name(code)
            );
            if codes::leader_trouble(code) {
                return Err(fail(why));
            }
            return Err(Error::broker(format!(
                "cannot find the {} of topic '{}' partition {p}: {why} (brokers {})",
                from.what, from.topic, from.brokers
            )));
        }
        out.insert(p, (answer.offset >= 0).then_some(answer.offset));
    }
    Ok(out)
}

fn no_answer(topic: &str, partition: i32, what: &str, why: &str, brokers: &str) -> Error {
    Error::broker_with_hint(
        format!(
            "cannot find the {what} of topic '{topic}' partition {partition}: {why} (brokers {brokers})"
        ),
        ELECTION_HINT,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn epoch_millis_counts_from_1970() {
        assert_eq!(epoch_millis(SystemTime::UNIX_EPOCH), 0);
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(epoch_millis(t), 1_700_000_000_123);
        assert_eq!(
            epoch_millis(SystemTime::UNIX_EPOCH - Duration::from_millis(5)),
            -5
        );
    }

    use kafka_protocol::messages::list_offsets_response::{
        ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
    };
    use kafka_protocol::messages::metadata_response::{
        MetadataResponsePartition, MetadataResponseTopic,
    };

    const FROM: Asked = Asked {
        topic: "t",
        what: "latest offset",
        addr: "b1:9092",
        brokers: "b1:9092,b2:9092",
    };

    /// A ListOffsets answer for topic 't': (partition, error code, offset).
    fn response(parts: &[(i32, i16, i64)]) -> ListOffsetsResponse {
        ListOffsetsResponse::default().with_topics(vec![ListOffsetsTopicResponse::default()
            .with_name(topic_name("t"))
            .with_partitions(
                parts
                    .iter()
                    .map(|&(p, code, offset)| {
                        ListOffsetsPartitionResponse::default()
                            .with_partition_index(p)
                            .with_error_code(code)
                            .with_offset(offset)
                    })
                    .collect(),
            )])
    }

    #[test]
    fn every_partition_answered_gives_its_offset() {
        let got = answers(
            &response(&[(1, 0, 7), (0, 0, 5), (2, 0, -1)]),
            &[0, 1, 2],
            &FROM,
        );
        let want: BTreeMap<i32, Option<i64>> = [(0, Some(5)), (1, Some(7)), (2, None)].into();
        assert_eq!(got.unwrap(), want);
    }

    #[test]
    fn a_partition_left_out_of_the_answer_is_an_error_not_offset_0() {
        let e = answers(&response(&[(0, 0, 5)]), &[0, 1], &FROM).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot find the latest offset of topic 't' partition 1: b1:9092 left it out of its answer (brokers b1:9092,b2:9092)"
        );
        assert_eq!(
            e.hint().as_deref(),
            Some("a leader election may be under way; try again in a moment")
        );
    }

    #[test]
    fn an_error_code_is_an_error() {
        let e = answers(&response(&[(0, 0, 5), (1, 6, -1)]), &[0, 1], &FROM).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot find the latest offset of topic 't' partition 1: b1:9092 answered error 6 (NotLeaderOrFollower) (brokers b1:9092,b2:9092)"
        );
    }

    #[test]
    fn a_partition_without_a_leader_is_an_error() {
        let metadata = |leaders: &[i32]| {
            MetadataResponse::default().with_topics(vec![MetadataResponseTopic::default()
                .with_name(Some(topic_name("t")))
                .with_partitions(
                    leaders
                        .iter()
                        .enumerate()
                        .map(|(p, &l)| {
                            MetadataResponsePartition::default()
                                .with_partition_index(p as i32)
                                .with_leader_id(BrokerId(l))
                        })
                        .collect(),
                )])
        };
        let by_leader = leaders(&metadata(&[1, 2, 1]), "t", "earliest offset", "b").unwrap();
        assert_eq!(by_leader, [(1, vec![0, 2]), (2, vec![1])].into());
        let e = leaders(&metadata(&[1, -1]), "t", "earliest offset", "b").unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot find the earliest offset of topic 't' partition 1: it has no leader (brokers b)"
        );
        let e = leaders(&metadata(&[]), "t", "earliest offset", "b").unwrap_err();
        assert_eq!(
            e.to_string(),
            "topic 't' has no partitions in the metadata from b"
        );
    }

    #[test]
    fn times_become_kafka_timestamps() {
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(At::Time(time).timestamp(), 1_700_000_000_000);
        assert_eq!(At::Earliest.timestamp(), -2);
        assert_eq!(At::Latest.timestamp(), -1);
        // before 1970 would ask for a special offset (-3: largest timestamp)
        let before_1970 = SystemTime::UNIX_EPOCH - Duration::from_secs(5);
        assert_eq!(At::Time(before_1970).timestamp(), 0);
    }
}
