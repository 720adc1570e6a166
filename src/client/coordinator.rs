//! A consumer group's committed offsets, kept where Kafka's own clients keep
//! them (the group coordinator, __consumer_offsets), over bounded
//! `kafka-protocol` requests: the `kafka` crate's own commit path can spin
//! or panic (../shared/NOTES-kafka-crate.md).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::{
    DescribeGroupsRequest, FindCoordinatorRequest, GroupId, ListGroupsRequest, OffsetCommitRequest,
    OffsetFetchRequest,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use crate::client::cluster::Cluster;
use crate::client::connection::{topic_name, Connection};
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
#[derive(Debug, Clone, PartialEq, Eq)]
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
    pub fn connection(&mut self) -> &mut Connection {
        &mut self.conn
    }

    pub fn addr(&self) -> &str {
        self.conn.addr()
    }

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
        let wanted = OffsetFetchRequestTopic::default()
            .with_name(topic_name(topic))
            .with_partition_indexes(partitions.to_vec());
        Ok(self
            .offset_fetch(Some(vec![wanted]))?
            .into_iter()
            .filter(|((t, _), _)| t == topic)
            .map(|((_, p), o)| (p, o))
            .collect())
    }

    /// Every committed offset of the group: (topic, partition) -> offset.
    pub fn fetch_all_offsets(&mut self) -> Result<BTreeMap<(String, i32), i64>> {
        self.offset_fetch(None)
    }

    /// OffsetFetch for some topics' partitions, or (None) all of the group's.
    fn offset_fetch(
        &mut self,
        topics: Option<Vec<OffsetFetchRequestTopic>>,
    ) -> Result<BTreeMap<(String, i32), i64>> {
        let version = self.conn.version::<OffsetFetchRequest>()?.min(7);
        if topics.is_none() && version < 2 {
            return Err(Error::Unsupported {
                addr: self.conn.addr().to_string(),
                what: "OffsetFetch v2 (all topics of a group)".into(),
            });
        }
        let request = OffsetFetchRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(self.group.clone())))
            .with_topics(topics);
        let timeout = self.conn.timeout();
        let response = self.conn.call_at(&request, version, timeout)?;
        let failed = |code| group_error(code, &self.group, "fetch the offsets of");
        if response.error_code != 0 {
            return Err(failed(response.error_code));
        }
        let mut out = BTreeMap::new();
        for t in response.topics {
            for p in t.partitions {
                if p.error_code != 0 {
                    return Err(failed(p.error_code));
                }
                if p.committed_offset >= 0 {
                    out.insert(
                        (t.name.0.to_string(), p.partition_index),
                        p.committed_offset,
                    );
                }
            }
        }
        Ok(out)
    }

    /// The group's state and members, as its coordinator knows them.
    pub fn describe(&mut self) -> Result<GroupDescription> {
        let request = DescribeGroupsRequest::default()
            .with_groups(vec![GroupId(StrBytes::from_string(self.group.clone()))]);
        let response = self.conn.call(&request)?;
        let g =
            response.groups.into_iter().next().ok_or_else(|| {
                Error::broker(format!("no description of group '{}'", self.group))
            })?;
        if g.error_code != 0 {
            return Err(group_error(g.error_code, &self.group, "describe"));
        }
        Ok(GroupDescription {
            state: g.group_state.to_string(),
            protocol: g.protocol_data.to_string(),
            members: g
                .members
                .into_iter()
                .map(|m| GroupMember {
                    member_id: m.member_id.to_string(),
                    client_id: m.client_id.to_string(),
                    host: m.client_host.to_string(),
                    assignment: if g.protocol_type.as_str() == "consumer" {
                        crate::client::member::decode_assignment(&m.member_assignment)
                    } else {
                        Vec::new()
                    },
                })
                .collect(),
        })
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

pub struct GroupDescription {
    pub state: String,
    pub protocol: String,
    pub members: Vec<GroupMember>,
}

pub struct GroupMember {
    pub member_id: String,
    pub client_id: String,
    pub host: String,
    pub assignment: Vec<(String, Vec<i32>)>,
}

/// Every group on every broker (each broker lists the groups it coordinates):
/// (name, state), sorted.
pub fn list_groups(cluster: &mut Cluster) -> Result<Vec<(String, String)>> {
    let metadata = cluster.bootstrap().metadata(Some(&[]))?;
    let mut out = Vec::new();
    for b in &metadata.brokers {
        let mut conn = cluster.connection_to(&metadata, b.node_id.0)?;
        let response = conn.call(&ListGroupsRequest::default())?;
        if response.error_code != 0 {
            return Err(group_error(response.error_code, "*", "list"));
        }
        out.extend(
            response
                .groups
                .into_iter()
                .map(|g| (g.group_id.0.to_string(), g.group_state.to_string())),
        );
    }
    out.sort();
    Ok(out)
}

/// A broker error code on a group request as one sentence, keeping the code
/// so membership can tell a rebalance from a failure.
pub fn group_error(code: i16, group: &str, action: &str) -> Error {
    let (message, hint) = match code {
        30 => (format!("not authorized to {action} group '{group}'"), None),
        24 => (format!("invalid group id '{group}'"), None),
        26 => (
            format!("cannot {action} group '{group}': the session timeout is outside the broker's limits"),
            Some("the broker allows group.min.session.timeout.ms (6s) to group.max.session.timeout.ms (30m)".to_string()),
        ),
        // UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION for a commit made outside the group
        22 | 25 => (
            format!("cannot {action} group '{group}': not a member of its current generation"),
            Some("the group has active members; stop them or use another --group".to_string()),
        ),
        _ => {
            let name = ResponseError::try_from_code(code)
                .map(|e| format!("{e:?}"))
                .unwrap_or_else(|| "unknown error".into());
            (format!("cannot {action} group '{group}': broker error {code} ({name})"), None)
        }
    };
    Error::Group {
        code,
        message,
        hint,
    }
}
