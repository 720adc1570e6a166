//! Finding the offset of a point in time: ListOffsets v1+ by timestamp over
//! `kafka-protocol`, answered from the broker's time index record by record.
//! The `kafka` crate only speaks ListOffsets v0, whose by-time answer is the
//! start of a log segment (often the whole partition), so "read the last
//! minute" needs this.

use std::time::SystemTime;

use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{BrokerId, ListOffsetsRequest};
use kafka_protocol::ResponseError;

use crate::client::cluster::Cluster;
use crate::client::connection::topic_name;
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
        3 => Err(Error::UnknownTopic {
            topic: topic.to_string(),
            brokers: cluster.config.display(),
        }),
        code => {
            let name = ResponseError::try_from_code(code)
                .map(|e| format!("{e:?}"))
                .unwrap_or_else(|| "unknown error".into());
            Err(Error::broker(format!(
                "cannot look up offsets by time in topic '{topic}' partition {partition}: broker error {code} ({name})"
            )))
        }
    }
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
}
