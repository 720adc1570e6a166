//! A consumer group's committed offsets, kept where Kafka's own clients keep
//! them (the group coordinator, __consumer_offsets), over bounded
//! `kafka-protocol` requests: the `kafka` crate's own commit path can spin
//! or panic (../shared/NOTES-kafka-crate.md).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::{
    FindCoordinatorRequest, GroupId, OffsetCommitRequest, OffsetFetchRequest,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use crate::broker::{topic_name, Cluster, Connection};
use crate::error::{Error, Result};

const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
const COORDINATOR_NOT_AVAILABLE: i16 = 15;
const NOT_COORDINATOR: i16 = 16;

/// A connection to the coordinator of one group.
pub struct Coordinator {
    pub group: String,
    conn: Connection,
}

/// Generation and member id a commit is made under; `standalone()` for a
/// consumer that is not a member (the group must then have no members).
#[derive(Debug, Clone)]
pub struct Membership {
    pub generation: i32,
    pub member_id: String,
}

impl Membership {
    pub fn standalone() -> Self {
        Membership {
            generation: -1,
            member_id: String::new(),
        }
    }
}

impl Coordinator {
    /// Finds the group's coordinator, waiting (within the timeout) while
    /// the cluster creates __consumer_offsets on first use.
    pub fn find(cluster: &mut Cluster, group: &str) -> Result<Coordinator> {
        let deadline = Instant::now() + cluster.config.timeout;
        loop {
            let conn = cluster.bootstrap();
            let version = conn.version::<FindCoordinatorRequest>()?.min(3);
            let request = FindCoordinatorRequest::default()
                .with_key(StrBytes::from_string(group.to_string()))
                .with_key_type(0);
            let response = conn.call_at(&request, version, conn.timeout())?;
            match response.error_code {
                0 => {
                    let addr = format!("{}:{}", response.host, response.port);
                    let conn = Connection::open(&addr, cluster.config.timeout)?;
                    return Ok(Coordinator {
                        group: group.to_string(),
                        conn,
                    });
                }
                COORDINATOR_NOT_AVAILABLE | COORDINATOR_LOAD_IN_PROGRESS | NOT_COORDINATOR
                    if Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(100));
                }
                code => return Err(group_error(code, group, "find the coordinator of")),
            }
        }
    }

    /// Committed offsets of `topic`'s `partitions`; partitions without a
    /// commit are left out.
    pub fn fetch_offsets(&mut self, topic: &str, partitions: &[i32]) -> Result<HashMap<i32, i64>> {
        let version = self.conn.version::<OffsetFetchRequest>()?.min(7);
        let request = OffsetFetchRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(self.group.clone())))
            .with_topics(Some(vec![OffsetFetchRequestTopic::default()
                .with_name(topic_name(topic))
                .with_partition_indexes(partitions.to_vec())]));
        let timeout = self.conn.timeout();
        let response = self.conn.call_at(&request, version, timeout)?;
        if response.error_code != 0 {
            return Err(group_error(
                response.error_code,
                &self.group,
                "fetch the offsets of",
            ));
        }
        let mut out = HashMap::new();
        for t in response.topics {
            for p in t.partitions {
                if p.error_code != 0 {
                    return Err(group_error(
                        p.error_code,
                        &self.group,
                        "fetch the offsets of",
                    ));
                }
                if p.committed_offset >= 0 {
                    out.insert(p.partition_index, p.committed_offset);
                }
            }
        }
        Ok(out)
    }

    /// Commits `offsets` (partition, next offset to read) of `topic`.
    pub fn commit(&mut self, topic: &str, offsets: &[(i32, i64)], who: &Membership) -> Result<()> {
        if offsets.is_empty() {
            return Ok(());
        }
        let version = self.conn.version::<OffsetCommitRequest>()?.min(8);
        let partitions = offsets
            .iter()
            .map(|&(p, o)| {
                OffsetCommitRequestPartition::default()
                    .with_partition_index(p)
                    .with_committed_offset(o)
                    .with_committed_leader_epoch(-1)
            })
            .collect();
        let request = OffsetCommitRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(self.group.clone())))
            .with_generation_id_or_member_epoch(who.generation)
            .with_member_id(StrBytes::from_string(who.member_id.clone()))
            .with_retention_time_ms(-1)
            .with_topics(vec![OffsetCommitRequestTopic::default()
                .with_name(topic_name(topic))
                .with_partitions(partitions)]);
        let timeout = self.conn.timeout();
        let response = self.conn.call_at(&request, version, timeout)?;
        for t in response.topics {
            for p in t.partitions {
                if p.error_code != 0 {
                    return Err(group_error(
                        p.error_code,
                        &self.group,
                        "commit the offsets of",
                    ));
                }
            }
        }
        Ok(())
    }
}

fn group_error(code: i16, group: &str, action: &str) -> Error {
    match code {
        // UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION: someone else's group.
        25 | 22 => Error::broker_with_hint(
            format!("cannot {action} group '{group}': the group has active members"),
            "use another --group name, or stop the group's other consumers",
        ),
        30 => Error::broker(format!("not authorized to {action} group '{group}'")),
        _ => {
            let name = ResponseError::try_from_code(code)
                .map(|e| format!("{e:?}"))
                .unwrap_or_else(|| "unknown error".into());
            Error::broker(format!(
                "cannot {action} group '{group}': broker error {code} ({name})"
            ))
        }
    }
}
