//! One look at the whole cluster for `kafkademo top` (and anything else that
//! watches it): brokers, topics with their partitions' leaders, replicas,
//! ISR and log-end offsets, and consumer groups with their committed
//! offsets and lag, gathered with a bounded number of requests. Plain data:
//! what is derived over time (rates, lag in time, judgements) is
//! `crate::observe::History`'s job.
//!
//! Requests per snapshot: one Metadata (all topics); per broker one
//! ListOffsets for every partition it leads, one ListGroups, one
//! DescribeGroups for every group it coordinates and one OffsetFetch for all
//! of them (v8+, Kafka 3.0; one per group before). A broker that fails is
//! reported, not fatal: only losing every broker fails a snapshot.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant, SystemTime};

use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
use kafka_protocol::messages::{
    BrokerId, DescribeGroupsRequest, GroupId, ListGroupsRequest, ListOffsetsRequest,
    MetadataResponse, OffsetFetchRequest,
};
use kafka_protocol::protocol::StrBytes;
use serde::Serialize;

use crate::client::assignor::decode_assignment;
use crate::client::cluster::{join_host_port, BrokerConfig, Cluster};
use crate::client::codes;
use crate::client::connection::{topic_name, Connection};
use crate::client::deadline::Deadline;
use crate::error::Result;

/// A broker as the snapshot saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BrokerState {
    pub id: i32,
    /// host:port as the cluster's metadata names it.
    pub addr: String,
    pub rack: Option<String>,
    pub status: BrokerStatus,
    /// How many partitions it leads now.
    pub leaders: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BrokerStatus {
    /// In the metadata and answering.
    Up,
    /// In the metadata, but our requests to it failed this time (a broker
    /// just killed stays in KRaft's metadata until its session times out).
    Unreachable,
    /// Seen in an earlier snapshot, missing from the metadata now: metadata
    /// lists only live brokers, so a dead one simply disappears from it.
    Gone,
}

impl BrokerStatus {
    pub fn name(self) -> &'static str {
        match self {
            BrokerStatus::Up => "up",
            BrokerStatus::Unreachable => "unreachable",
            BrokerStatus::Gone => "gone",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionState {
    pub partition: i32,
    /// None: offline (no leader).
    pub leader: Option<i32>,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    /// The high watermark (what consumers can read up to); None when its
    /// leader did not answer.
    pub log_end: Option<i64>,
}

impl PartitionState {
    pub fn offline(&self) -> bool {
        self.leader.is_none()
    }

    pub fn under_replicated(&self) -> bool {
        self.isr.len() < self.replicas.len()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TopicState {
    pub name: String,
    pub internal: bool,
    /// Sorted by partition number.
    pub partitions: Vec<PartitionState>,
}

impl TopicState {
    pub fn partition(&self, p: i32) -> Option<&PartitionState> {
        self.partitions.iter().find(|x| x.partition == p)
    }
}

/// One partition a group has committed to or is assigned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupOffset {
    pub topic: String,
    pub partition: i32,
    /// None: nothing committed yet.
    pub committed: Option<i64>,
    pub log_end: Option<i64>,
    /// The member that owns it (member id), if any.
    pub owner: Option<String>,
}

impl GroupOffset {
    /// Records not yet consumed: log end − committed (never below 0).
    pub fn lag(&self) -> Option<i64> {
        Some((self.log_end? - self.committed?).max(0))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupState {
    pub name: String,
    /// Stable, Empty, PreparingRebalance, … as the coordinator says; "?"
    /// when it could not be described.
    pub state: String,
    /// "consumer", "connect", "" (offsets committed without membership), …
    pub protocol_type: String,
    pub members: usize,
    pub coordinator: i32,
    /// Sorted by topic and partition.
    pub offsets: Vec<GroupOffset>,
    /// Topics named like a stream application's state (`<group>-…-changelog`,
    /// `<group>-…-repartition`): the group is a stream application's.
    pub stream_topics: Vec<String>,
}

impl GroupState {
    /// The sum of the partitions' lag; None when none is known.
    pub fn lag(&self) -> Option<i64> {
        let known: Vec<i64> = self.offsets.iter().filter_map(GroupOffset::lag).collect();
        (!known.is_empty()).then(|| known.iter().sum())
    }
}

/// The cluster at one moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    /// When it was taken (once the log ends were in): milliseconds since
    /// 1970, wall clock.
    pub taken_at_ms: i64,
    /// Which broker answered the Metadata request.
    pub bootstrap: String,
    pub controller: Option<i32>,
    /// Sorted by id; brokers gone since an earlier snapshot included.
    pub brokers: Vec<BrokerState>,
    /// Sorted by name.
    pub topics: Vec<TopicState>,
    /// Sorted by name.
    pub groups: Vec<GroupState>,
    /// What failed this time without failing the snapshot, one sentence each.
    pub problems: Vec<String>,
}

impl Snapshot {
    pub fn topic(&self, name: &str) -> Option<&TopicState> {
        self.topics.iter().find(|t| t.name == name)
    }

    pub fn group(&self, name: &str) -> Option<&GroupState> {
        self.groups.iter().find(|g| g.name == name)
    }
}

/// Why a broker's part of a snapshot is missing.
enum Failure {
    /// No answer (refused, cut, timed out): the broker shows unreachable,
    /// and is left alone for `BACK_OFF`.
    NoAnswer(String),
    /// An answer with an error code: the broker is up.
    Refused(String),
    /// Not asked: it gave no answer within `BACK_OFF`. Unreachable still,
    /// and the back-off is not renewed by it (it ends `BACK_OFF` after the
    /// failure itself, whatever the snapshot interval).
    BackingOff(String),
}

impl Failure {
    fn text(self) -> String {
        match self {
            Failure::NoAnswer(why) | Failure::Refused(why) | Failure::BackingOff(why) => why,
        }
    }
}

/// (topic, partition) → offset.
type Offsets = BTreeMap<(String, i32), i64>;

/// How long a broker that failed is left alone before we try it again, so a
/// dead broker still in the metadata does not cost every snapshot a timeout.
const BACK_OFF: Duration = Duration::from_secs(5);

/// Takes snapshots, keeping its connections and the brokers it has seen
/// between them.
pub struct Observer {
    config: BrokerConfig,
    cluster: Option<Cluster>,
    conns: HashMap<i32, Connection>,
    /// Brokers that did not answer: when, and why.
    failed_at: HashMap<i32, (Instant, String)>,
    /// Every broker seen so far: id → (addr, rack).
    seen: BTreeMap<i32, (String, Option<String>)>,
}

impl Observer {
    pub fn new(config: &BrokerConfig) -> Observer {
        Observer {
            config: config.clone(),
            cluster: None,
            conns: HashMap::new(),
            failed_at: HashMap::new(),
            seen: BTreeMap::new(),
        }
    }

    /// The cluster now. Fails only when no broker answers Metadata (the
    /// usual unreachable error, exit 69); the next call tries again.
    pub fn snapshot(&mut self) -> Result<Snapshot> {
        if self.cluster.is_none() {
            self.cluster = Some(Cluster::connect(&self.config)?);
        }
        let Some(cluster) = self.cluster.as_mut() else {
            unreachable!("connected above")
        };
        let conn = cluster.bootstrap();
        let bootstrap = conn.addr().to_string();
        let metadata = match conn.metadata(None) {
            Ok(m) => m,
            Err(e) => {
                self.cluster = None;
                return Err(e);
            }
        };
        self.config.learn(&metadata);
        let mut problems = Vec::new();

        let mut topics = topics_of(&metadata);
        let addrs: BTreeMap<i32, (String, Option<String>)> = metadata
            .brokers
            .iter()
            .map(|b| {
                let rack = b.rack.as_ref().map(|r| r.to_string());
                (b.node_id.0, (join_host_port(&b.host, b.port), rack))
            })
            .collect();
        self.seen
            .extend(addrs.iter().map(|(&id, v)| (id, v.clone())));

        // Log ends: one ListOffsets per leader for all it leads.
        let mut by_leader: BTreeMap<i32, Vec<(String, i32)>> = BTreeMap::new();
        for t in &topics {
            for p in &t.partitions {
                if let Some(l) = p.leader {
                    by_leader
                        .entry(l)
                        .or_default()
                        .push((t.name.clone(), p.partition));
                }
            }
        }
        let mut unreachable = BTreeSet::new();
        let mut ends: HashMap<(String, i32), i64> = HashMap::new();
        for (&leader, partitions) in &by_leader {
            match self.log_ends(leader, &addrs, partitions) {
                Ok(found) => ends.extend(found),
                Err(why) => {
                    unreachable.insert(leader);
                    problems.push(format!("broker {leader}: {why}"));
                }
            }
        }
        for t in &mut topics {
            for p in &mut t.partitions {
                p.log_end = ends.get(&(t.name.clone(), p.partition)).copied();
            }
        }
        // Rates divide log-end movement by this time: take it when the log
        // ends are in, not after the group requests (a slow broker there
        // would skew them).
        let taken_at_ms = epoch_ms(SystemTime::now());

        // Groups: each broker lists and describes the groups it coordinates.
        let mut groups = Vec::new();
        for &id in addrs.keys() {
            if unreachable.contains(&id) {
                continue;
            }
            match self.groups_on(id, &addrs, &topics) {
                Ok(found) => groups.extend(found),
                Err(Failure::NoAnswer(why) | Failure::BackingOff(why)) => {
                    unreachable.insert(id);
                    problems.push(format!("broker {id}: {why}"));
                }
                // It answered, with an error (a coordinator still loading
                // its partitions after a restart): up, its groups missing
                // from this snapshot only.
                Err(Failure::Refused(why)) => problems.push(format!("broker {id}: {why}")),
            }
        }
        groups.sort_by(|a, b| a.name.cmp(&b.name));

        let brokers = self
            .seen
            .iter()
            .map(|(&id, (addr, rack))| BrokerState {
                id,
                addr: addr.clone(),
                rack: rack.clone(),
                status: if !addrs.contains_key(&id) {
                    BrokerStatus::Gone
                } else if unreachable.contains(&id) {
                    BrokerStatus::Unreachable
                } else {
                    BrokerStatus::Up
                },
                leaders: by_leader.get(&id).map_or(0, Vec::len),
            })
            .collect();
        Ok(Snapshot {
            taken_at_ms,
            bootstrap,
            controller: (metadata.controller_id.0 >= 0).then_some(metadata.controller_id.0),
            brokers,
            topics,
            groups,
            problems,
        })
    }

    /// Our connection to broker `id`, opened if need be; an error when it
    /// failed within `BACK_OFF` or fails now.
    fn conn(
        &mut self,
        id: i32,
        addrs: &BTreeMap<i32, (String, Option<String>)>,
    ) -> std::result::Result<&mut Connection, Failure> {
        let addr = &addrs
            .get(&id)
            .ok_or_else(|| Failure::NoAnswer("not in the metadata".into()))?
            .0;
        if self
            .conns
            .get(&id)
            .is_some_and(|c| c.is_broken() || c.addr() != addr)
        {
            self.conns.remove(&id);
        }
        if !self.conns.contains_key(&id) {
            if let Some((at, why)) = self.failed_at.get(&id) {
                if at.elapsed() < BACK_OFF {
                    return Err(Failure::BackingOff(format!(
                        "{addr} did not answer a moment ago ({why})"
                    )));
                }
            }
            let deadline = Deadline::after(self.config.timeout.min(Duration::from_secs(3)));
            match Connection::open_until(addr, &self.config, deadline) {
                Ok(c) => {
                    self.failed_at.remove(&id);
                    self.conns.insert(id, c);
                }
                Err(e) => {
                    let why = e.to_string();
                    self.failed_at.insert(id, (Instant::now(), why.clone()));
                    return Err(Failure::NoAnswer(why));
                }
            }
        }
        self.conns
            .get_mut(&id)
            .ok_or_else(|| Failure::NoAnswer("no connection".into()))
    }

    /// A request to broker `id` got no answer: forget the connection and
    /// back off.
    fn failed(&mut self, id: i32, why: &str) {
        self.conns.remove(&id);
        self.failed_at.insert(id, (Instant::now(), why.to_string()));
    }

    fn log_ends(
        &mut self,
        leader: i32,
        addrs: &BTreeMap<i32, (String, Option<String>)>,
        partitions: &[(String, i32)],
    ) -> std::result::Result<Offsets, String> {
        let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for (t, p) in partitions {
            by_topic.entry(t).or_default().push(*p);
        }
        let request = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(
                by_topic
                    .iter()
                    .map(|(t, ps)| {
                        ListOffsetsTopic::default()
                            .with_name(topic_name(t))
                            .with_partitions(
                                ps.iter()
                                    .map(|&p| {
                                        ListOffsetsPartition::default()
                                            .with_partition_index(p)
                                            .with_current_leader_epoch(-1)
                                            .with_timestamp(-1)
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            );
        let conn = self.conn(leader, addrs).map_err(Failure::text)?;
        let version = conn
            .version::<ListOffsetsRequest>()
            .map_err(|e| e.to_string())?;
        if version < 1 {
            return Err("it does not speak ListOffsets v1 (Kafka 0.10.1+)".into());
        }
        let response = match conn.call(&request) {
            Ok(r) => r,
            Err(e) => {
                let why = e.to_string();
                self.failed(leader, &why);
                return Err(why);
            }
        };
        let mut out = Offsets::new();
        for t in response.topics {
            for p in t.partitions {
                // A partition answered with an error (a leader moving) has
                // no log end this time; the next snapshot asks again.
                if p.error_code == 0 && p.offset >= 0 {
                    out.insert((t.name.to_string(), p.partition_index), p.offset);
                }
            }
        }
        Ok(out)
    }

    /// The groups broker `id` coordinates, described, with their offsets.
    fn groups_on(
        &mut self,
        id: i32,
        addrs: &BTreeMap<i32, (String, Option<String>)>,
        topics: &[TopicState],
    ) -> std::result::Result<Vec<GroupState>, Failure> {
        let result = self.groups_on_conn(id, addrs, topics);
        if let Err(Failure::NoAnswer(why)) = &result {
            self.failed(id, why);
        }
        result
    }

    fn groups_on_conn(
        &mut self,
        id: i32,
        addrs: &BTreeMap<i32, (String, Option<String>)>,
        topics: &[TopicState],
    ) -> std::result::Result<Vec<GroupState>, Failure> {
        let conn = self.conn(id, addrs)?;
        let err = |e: crate::error::Error| Failure::NoAnswer(e.to_string());
        let listed = conn.call(&ListGroupsRequest::default()).map_err(err)?;
        if listed.error_code != 0 {
            return Err(Failure::Refused(format!(
                "ListGroups answered {}",
                codes::name(listed.error_code)
            )));
        }
        let names: Vec<String> = listed
            .groups
            .iter()
            .map(|g| g.group_id.0.to_string())
            .collect();
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let ids = |names: &[String]| -> Vec<GroupId> {
            names
                .iter()
                .map(|n| GroupId(StrBytes::from_string(n.clone())))
                .collect()
        };
        let version = conn.version::<DescribeGroupsRequest>().map_err(err)?.min(5);
        let described = conn
            .call_at(
                &DescribeGroupsRequest::default().with_groups(ids(&names)),
                version,
                conn.timeout(),
            )
            .map_err(err)?;
        let committed = offsets_of(conn, &names).map_err(err)?;

        let mut out = Vec::new();
        for g in described.groups {
            let name = g.group_id.0.to_string();
            let mut owner: BTreeMap<(String, i32), String> = BTreeMap::new();
            let consumer = g.protocol_type.as_str() == "consumer";
            for m in &g.members {
                if !consumer || m.member_assignment.is_empty() {
                    continue;
                }
                // An assignment we cannot read (another client's custom
                // protocol) only loses the owner column.
                for (t, ps) in decode_assignment(&m.member_assignment).unwrap_or_default() {
                    for p in ps {
                        owner.insert((t.clone(), p), m.member_id.to_string());
                    }
                }
            }
            let mine = committed.get(&name).cloned().unwrap_or_default();
            let shown: BTreeSet<&str> = mine
                .keys()
                .chain(owner.keys())
                .map(|(t, _)| t.as_str())
                .collect();
            let mut offsets = Vec::new();
            for t in topics.iter().filter(|t| shown.contains(t.name.as_str())) {
                for p in &t.partitions {
                    let key = (t.name.clone(), p.partition);
                    offsets.push(GroupOffset {
                        committed: mine.get(&key).copied(),
                        owner: owner.get(&key).cloned(),
                        log_end: p.log_end,
                        topic: t.name.clone(),
                        partition: p.partition,
                    });
                }
            }
            let stream_topics = stream_topics(&name, topics.iter().map(|t| t.name.as_str()));
            out.push(GroupState {
                state: if g.error_code == 0 {
                    g.group_state.to_string()
                } else {
                    "?".into()
                },
                protocol_type: g.protocol_type.to_string(),
                members: g.members.len(),
                coordinator: id,
                offsets,
                stream_topics,
                name,
            });
        }
        Ok(out)
    }
}

/// The topics named like stream application `group`'s state: Kafka Streams
/// (and `kafkademo stream`) name them `<application.id>-<store>-changelog`
/// and `<application.id>-<name>-repartition`.
fn stream_topics<'a>(group: &str, topics: impl Iterator<Item = &'a str>) -> Vec<String> {
    topics
        .filter(|n| {
            n.strip_prefix(group)
                .and_then(|rest| rest.strip_prefix('-'))
                .is_some_and(|rest| rest.ends_with("-changelog") || rest.ends_with("-repartition"))
        })
        .map(str::to_string)
        .collect()
}

/// Committed offsets of the named groups on their coordinator: all groups in
/// one OffsetFetch (v8+), or one per group on older brokers.
fn offsets_of(conn: &mut Connection, names: &[String]) -> Result<HashMap<String, Offsets>> {
    let version = conn.version::<OffsetFetchRequest>()?.min(9);
    let mut out: HashMap<String, Offsets> = HashMap::new();
    if version >= 8 {
        let request = OffsetFetchRequest::default().with_groups(
            names
                .iter()
                .map(|n| {
                    OffsetFetchRequestGroup::default()
                        .with_group_id(GroupId(StrBytes::from_string(n.clone())))
                        .with_topics(None)
                })
                .collect(),
        );
        let response = conn.call_at(&request, version, conn.timeout())?;
        for g in response.groups {
            let mine = out.entry(g.group_id.0.to_string()).or_default();
            for t in g.topics {
                for p in t.partitions {
                    if p.error_code == 0 && p.committed_offset >= 0 {
                        mine.insert((t.name.to_string(), p.partition_index), p.committed_offset);
                    }
                }
            }
        }
    } else {
        for n in names {
            let request = OffsetFetchRequest::default()
                .with_group_id(GroupId(StrBytes::from_string(n.clone())))
                .with_topics(None);
            let response = conn.call_at(&request, version, conn.timeout())?;
            let mine = out.entry(n.clone()).or_default();
            for t in response.topics {
                for p in t.partitions {
                    if p.error_code == 0 && p.committed_offset >= 0 {
                        mine.insert((t.name.to_string(), p.partition_index), p.committed_offset);
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Topics and partitions from a Metadata answer, log ends still unknown.
fn topics_of(metadata: &MetadataResponse) -> Vec<TopicState> {
    let ids = |v: &[BrokerId]| v.iter().map(|b| b.0).collect::<Vec<_>>();
    let mut topics: Vec<TopicState> = metadata
        .topics
        .iter()
        .filter(|t| t.error_code == 0 || t.error_code == codes::LEADER_NOT_AVAILABLE)
        .map(|t| {
            let mut partitions: Vec<PartitionState> = t
                .partitions
                .iter()
                .map(|p| PartitionState {
                    partition: p.partition_index,
                    leader: (p.leader_id.0 >= 0).then_some(p.leader_id.0),
                    replicas: ids(&p.replica_nodes),
                    isr: ids(&p.isr_nodes),
                    log_end: None,
                })
                .collect();
            partitions.sort_by_key(|p| p.partition);
            TopicState {
                name: t.name.as_ref().map(|n| n.0.to_string()).unwrap_or_default(),
                internal: t.is_internal,
                partitions,
            }
        })
        .collect();
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    topics
}

fn epoch_ms(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offset(committed: Option<i64>, log_end: Option<i64>) -> GroupOffset {
        GroupOffset {
            topic: "t".into(),
            partition: 0,
            committed,
            log_end,
            owner: None,
        }
    }

    #[test]
    fn a_broker_that_did_not_answer_is_asked_again_after_the_back_off_not_never() {
        // A port nobody listens on: connection refused.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .to_string();
        let config = BrokerConfig::new(&addr, Duration::from_secs(1)).unwrap();
        let mut observer = Observer::new(&config);
        let addrs = BTreeMap::from([(2, (addr.clone(), None))]);
        let failed = observer.groups_on(2, &addrs, &[]);
        assert!(matches!(failed, Err(Failure::NoAnswer(_))));
        let at = observer.failed_at[&2].0;
        // Asked again within BACK_OFF (every snapshot, at 500 ms): not
        // asked, said why, and the back-off still counts from the failure.
        for _ in 0..3 {
            match observer.groups_on(2, &addrs, &[]) {
                Err(Failure::BackingOff(why)) => assert!(
                    why.starts_with(&format!(
                        "{addr} did not answer a moment ago (cannot reach Kafka at {addr}"
                    )) && why.matches("a moment ago").count() == 1,
                    "{why}"
                ),
                _ => panic!("not backing off"),
            }
            assert_eq!(observer.failed_at[&2].0, at, "the back-off was renewed");
        }
    }

    #[test]
    fn lag_is_log_end_minus_committed_and_unknown_without_either() {
        assert_eq!(offset(Some(3), Some(10)).lag(), Some(7));
        assert_eq!(offset(Some(12), Some(10)).lag(), Some(0));
        assert_eq!(offset(None, Some(10)).lag(), None);
        assert_eq!(offset(Some(3), None).lag(), None);
    }

    #[test]
    fn a_stream_applications_topics_are_named_after_it() {
        let topics = [
            "counts-count-store-changelog",
            "counts-by-key-repartition",
            "counts-out",
            "counts2-count-store-changelog",
            "counts-changelog",
        ];
        assert_eq!(
            stream_topics("counts", topics.into_iter()),
            ["counts-count-store-changelog", "counts-by-key-repartition"]
        );
    }

    #[test]
    fn offline_and_under_replicated_partitions() {
        let p = PartitionState {
            partition: 0,
            leader: None,
            replicas: vec![1, 2, 3],
            isr: vec![1, 2],
            log_end: None,
        };
        assert!(p.offline() && p.under_replicated());
        let q = PartitionState {
            leader: Some(1),
            isr: vec![1, 2, 3],
            ..p
        };
        assert!(!q.offline() && !q.under_replicated());
    }
}
