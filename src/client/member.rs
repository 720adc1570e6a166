//! Membership of a consumer group through Kafka's group protocol (JoinGroup,
//! SyncGroup, Heartbeat, LeaveGroup), which the `kafka` crate lacks. The
//! subscription and assignment bytes use the Java consumer's layout and its
//! `range` / `roundrobin` assignors, so Kafka's own tools describe our
//! groups and a Java consumer can share one with us.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedPartitions;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, GroupId, HeartbeatRequest,
    JoinGroupRequest, LeaveGroupRequest, SyncGroupRequest,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use crate::client::connection::{topic_name, Cluster, Connection};
use crate::client::coordinator::{group_error, Coordinator, Membership};
use crate::error::{Error, Result};

const PROTOCOL_TYPE: &str = "consumer";
/// Offered in this order of preference; the coordinator picks one every
/// member supports (Java consumers offer range too).
const ASSIGNORS: [&str; 2] = ["range", "roundrobin"];

const ILLEGAL_GENERATION: i16 = 22;
const UNKNOWN_MEMBER_ID: i16 = 25;
const REBALANCE_IN_PROGRESS: i16 = 27;
const MEMBER_ID_REQUIRED: i16 = 79;
const COORDINATOR_ERRORS: [i16; 3] = [14, 15, 16];

/// The group's timing contract; see docs/consumer-groups.md.
#[derive(Debug, Clone, Copy)]
pub struct GroupTimeouts {
    /// Without a heartbeat for this long, the coordinator drops a member.
    pub session: Duration,
    /// How often the heartbeat thread reports in.
    pub heartbeat: Duration,
    /// How long the coordinator waits for members to rejoin a rebalance.
    pub rebalance: Duration,
}

/// A joined member of one group, subscribed to one topic.
pub struct Member {
    coordinator: Coordinator,
    topic: String,
    timeouts: GroupTimeouts,
    who: Membership,
    assignment: Vec<i32>,
    heartbeat: Option<Heartbeat>,
}

impl Member {
    /// Joins `group` for `topic` and waits for this member's assignment.
    pub fn join(
        cluster: &mut Cluster,
        group: &str,
        topic: &str,
        timeouts: GroupTimeouts,
    ) -> Result<Member> {
        let coordinator = Coordinator::find(cluster, group)?;
        let mut member = Member {
            coordinator,
            topic: topic.to_string(),
            timeouts,
            who: Membership {
                generation: -1,
                member_id: String::new(),
            },
            assignment: Vec::new(),
            heartbeat: None,
        };
        member.rejoin(cluster)?;
        Ok(member)
    }

    pub fn assignment(&self) -> &[i32] {
        &self.assignment
    }

    pub fn coordinator(&mut self) -> &mut Coordinator {
        &mut self.coordinator
    }

    /// True once the heartbeat thread learned that the group is rebalancing
    /// or has dropped us: the caller commits, then calls `rejoin`.
    pub fn needs_rejoin(&self) -> bool {
        self.heartbeat
            .as_ref()
            .is_none_or(|h| h.rejoin.load(Ordering::SeqCst))
    }

    /// Commits under this member's generation. `Ok(false)`: the group has
    /// moved on (rebalance), so the caller rejoins instead of failing.
    pub fn commit(&mut self, offsets: &[(i32, i64)]) -> Result<bool> {
        match self.coordinator.commit(&self.topic, offsets, &self.who) {
            Ok(()) => Ok(true),
            Err(Error::Group { code, .. })
                if matches!(
                    code,
                    ILLEGAL_GENERATION | UNKNOWN_MEMBER_ID | REBALANCE_IN_PROGRESS
                ) =>
            {
                log::info!("commit refused by a rebalance (error {code}); rejoining");
                if let Some(h) = &self.heartbeat {
                    h.rejoin.store(true, Ordering::SeqCst);
                }
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// (Re)joins the group: JoinGroup until accepted, the leader computes
    /// the assignment, SyncGroup hands it out; then heartbeats resume.
    pub fn rejoin(&mut self, cluster: &mut Cluster) -> Result<()> {
        self.stop_heartbeat();
        let bound = self.timeouts.rebalance + self.timeouts.session + cluster.config.timeout;
        let deadline = Instant::now() + bound;
        loop {
            if Instant::now() > deadline {
                return Err(Error::broker_with_hint(
                    format!(
                        "could not join group '{}' within {}",
                        self.coordinator.group,
                        humantime::format_duration(bound)
                    ),
                    "other members may be stuck; check `kafkademo group describe`",
                ));
            }
            match self.join_and_sync(cluster)? {
                Some(assignment) => {
                    self.assignment = assignment;
                    break;
                }
                None => std::thread::sleep(Duration::from_millis(100)),
            }
        }
        log::info!(
            "group '{}' generation {}: assigned partitions {:?} of topic '{}'",
            self.coordinator.group,
            self.who.generation,
            self.assignment,
            self.topic
        );
        self.heartbeat = Some(Heartbeat::start(
            self.coordinator.addr().to_string(),
            cluster.config.timeout,
            self.coordinator.group.clone(),
            self.who.clone(),
            self.timeouts.heartbeat,
        ));
        Ok(())
    }

    /// One JoinGroup + SyncGroup round; None when it must be tried again.
    fn join_and_sync(&mut self, cluster: &mut Cluster) -> Result<Option<Vec<i32>>> {
        let group = self.coordinator.group.clone();
        let subscription = encode_subscription(&self.topic);
        let request = JoinGroupRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(group.clone())))
            .with_session_timeout_ms(millis(self.timeouts.session))
            .with_rebalance_timeout_ms(millis(self.timeouts.rebalance))
            .with_member_id(StrBytes::from_string(self.who.member_id.clone()))
            .with_protocol_type(StrBytes::from_static_str(PROTOCOL_TYPE))
            .with_protocols(
                ASSIGNORS
                    .iter()
                    .map(|name| {
                        JoinGroupRequestProtocol::default()
                            .with_name(StrBytes::from_static_str(name))
                            .with_metadata(subscription.clone())
                    })
                    .collect(),
            );
        let conn = self.coordinator.connection();
        let version = conn.version::<JoinGroupRequest>()?.min(7);
        // JoinGroup blocks until every member has rejoined, up to the rebalance timeout.
        let wait = self.timeouts.rebalance + conn.timeout();
        let joined = conn.call_at(&request, version, wait)?;
        match joined.error_code {
            0 => {}
            MEMBER_ID_REQUIRED => {
                self.who.member_id = joined.member_id.to_string();
                return Ok(None);
            }
            UNKNOWN_MEMBER_ID | ILLEGAL_GENERATION => {
                self.who.member_id.clear();
                return Ok(None);
            }
            REBALANCE_IN_PROGRESS => return Ok(None),
            code if COORDINATOR_ERRORS.contains(&code) => {
                self.coordinator = Coordinator::find(cluster, &group)?;
                return Ok(None);
            }
            code => return Err(group_error(code, &group, "join")),
        }
        self.who = Membership {
            generation: joined.generation_id,
            member_id: joined.member_id.to_string(),
        };
        let protocol = joined
            .protocol_name
            .clone()
            .map(|p| p.to_string())
            .unwrap_or_else(|| "range".into());
        let assignments = if joined.leader == joined.member_id {
            let subscriptions: Vec<(String, Vec<String>)> = joined
                .members
                .iter()
                .map(|m| (m.member_id.to_string(), decode_subscription(&m.metadata)))
                .collect();
            let counts = partition_counts(cluster, &subscriptions)?;
            let plan = assign(&protocol, &subscriptions, &counts);
            log::info!(
                "leading generation {} with {protocol}: {plan:?}",
                self.who.generation
            );
            plan.into_iter()
                .map(|(member, topics)| {
                    SyncGroupRequestAssignment::default()
                        .with_member_id(StrBytes::from_string(member))
                        .with_assignment(encode_assignment(&topics))
                })
                .collect()
        } else {
            Vec::new()
        };
        let request = SyncGroupRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(group.clone())))
            .with_generation_id(self.who.generation)
            .with_member_id(StrBytes::from_string(self.who.member_id.clone()))
            .with_protocol_type(Some(StrBytes::from_static_str(PROTOCOL_TYPE)))
            .with_protocol_name(Some(StrBytes::from_string(protocol)))
            .with_assignments(assignments);
        let conn = self.coordinator.connection();
        let version = conn.version::<SyncGroupRequest>()?.min(5);
        let wait = self.timeouts.rebalance + conn.timeout();
        let synced = conn.call_at(&request, version, wait)?;
        match synced.error_code {
            0 => {}
            REBALANCE_IN_PROGRESS => return Ok(None),
            UNKNOWN_MEMBER_ID | ILLEGAL_GENERATION => {
                self.who.member_id.clear();
                return Ok(None);
            }
            code if COORDINATOR_ERRORS.contains(&code) => {
                self.coordinator = Coordinator::find(cluster, &group)?;
                return Ok(None);
            }
            code => return Err(group_error(code, &group, "sync with")),
        }
        let mut mine: Vec<i32> = decode_assignment(&synced.assignment)
            .into_iter()
            .filter(|(t, _)| *t == self.topic)
            .flat_map(|(_, ps)| ps)
            .collect();
        mine.sort_unstable();
        Ok(Some(mine))
    }

    /// Leaves the group so the others take over at once.
    pub fn leave(mut self) -> Result<()> {
        self.stop_heartbeat();
        let group = self.coordinator.group.clone();
        let conn = self.coordinator.connection();
        let version = conn.version::<LeaveGroupRequest>()?;
        let mut request = LeaveGroupRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(group.clone())));
        let member = StrBytes::from_string(self.who.member_id.clone());
        if version >= 3 {
            request.members = vec![MemberIdentity::default().with_member_id(member)];
        } else {
            request.member_id = member;
        }
        let response = conn.call(&request)?;
        match response.error_code {
            0 | UNKNOWN_MEMBER_ID => Ok(()),
            code => Err(group_error(code, &group, "leave")),
        }
    }

    fn stop_heartbeat(&mut self) {
        if let Some(h) = self.heartbeat.take() {
            h.stop();
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.stop_heartbeat();
    }
}

/// The thread that keeps a member alive between polls, on its own
/// connection, and raises `rejoin` when the coordinator asks for it.
struct Heartbeat {
    stop: Arc<AtomicBool>,
    rejoin: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Heartbeat {
    fn start(
        addr: String,
        timeout: Duration,
        group: String,
        who: Membership,
        every: Duration,
    ) -> Heartbeat {
        let stop = Arc::new(AtomicBool::new(false));
        let rejoin = Arc::new(AtomicBool::new(false));
        let (stop2, rejoin2) = (stop.clone(), rejoin.clone());
        let thread = std::thread::Builder::new()
            .name("heartbeat".into())
            .spawn(move || heartbeat_loop(&addr, timeout, &group, &who, every, &stop2, &rejoin2))
            .ok();
        if thread.is_none() {
            rejoin.store(true, Ordering::SeqCst);
        }
        Heartbeat {
            stop,
            rejoin,
            thread,
        }
    }

    fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn heartbeat_loop(
    addr: &str,
    timeout: Duration,
    group: &str,
    who: &Membership,
    every: Duration,
    stop: &AtomicBool,
    rejoin: &AtomicBool,
) {
    let request = HeartbeatRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
        .with_generation_id(who.generation)
        .with_member_id(StrBytes::from_string(who.member_id.clone()));
    let mut conn: Option<Connection> = None;
    let mut next = Instant::now() + every;
    while !stop.load(Ordering::SeqCst) {
        if Instant::now() < next {
            std::thread::sleep(Duration::from_millis(50).min(every));
            continue;
        }
        next += every;
        if conn.is_none() {
            conn = Connection::open(addr, timeout).ok();
        }
        let result = match conn.as_mut() {
            Some(c) => c.call(&request).map(|r| r.error_code),
            None => Err(Error::broker("no connection")),
        };
        match result {
            Ok(0) => {}
            Ok(code) => {
                log::info!("heartbeat for group '{group}': error {code}; the member must rejoin");
                rejoin.store(true, Ordering::SeqCst);
                return;
            }
            Err(e) => {
                // One missed heartbeat is survivable; reconnect next time.
                log::info!("heartbeat for group '{group}' failed: {e}");
                conn = None;
            }
        }
    }
}

fn millis(d: Duration) -> i32 {
    d.as_millis().min(i32::MAX as u128) as i32
}

/// Partition counts of every topic some member subscribed to.
fn partition_counts(
    cluster: &mut Cluster,
    subs: &[(String, Vec<String>)],
) -> Result<BTreeMap<String, i32>> {
    let topics: BTreeSet<&str> = subs
        .iter()
        .flat_map(|(_, ts)| ts.iter().map(String::as_str))
        .collect();
    let names: Vec<&str> = topics.into_iter().collect();
    let metadata = cluster.bootstrap().metadata(Some(&names))?;
    Ok(metadata
        .topics
        .into_iter()
        .filter(|t| t.error_code == 0)
        .filter_map(|t| Some((t.name?.0.to_string(), t.partitions.len() as i32)))
        .collect())
}

/// The Java consumer's assignors. `range`: per topic, members in id order
/// get consecutive runs, the first ones one partition more. `roundrobin`:
/// all partitions in order dealt to the members in id order.
pub fn assign(
    protocol: &str,
    subscriptions: &[(String, Vec<String>)],
    counts: &BTreeMap<String, i32>,
) -> BTreeMap<String, BTreeMap<String, Vec<i32>>> {
    let mut plan: BTreeMap<String, BTreeMap<String, Vec<i32>>> = subscriptions
        .iter()
        .map(|(m, _)| (m.clone(), BTreeMap::new()))
        .collect();
    let subscribers = |topic: &str| -> Vec<&String> {
        let mut ms: Vec<&String> = subscriptions
            .iter()
            .filter(|(_, ts)| ts.iter().any(|t| t == topic))
            .map(|(m, _)| m)
            .collect();
        ms.sort();
        ms
    };
    if protocol == "roundrobin" {
        let mut turn = 0usize;
        let mut members: Vec<&String> = subscriptions.iter().map(|(m, _)| m).collect();
        members.sort();
        for (topic, &n) in counts {
            for p in 0..n {
                // the next member, in turn, that subscribes to this topic
                for _ in 0..members.len() {
                    let m = members[turn % members.len()];
                    turn += 1;
                    if subscribers(topic).contains(&m) {
                        plan.entry(m.clone())
                            .or_default()
                            .entry(topic.clone())
                            .or_default()
                            .push(p);
                        break;
                    }
                }
            }
        }
        return plan;
    }
    for (topic, &n) in counts {
        let members = subscribers(topic);
        if members.is_empty() {
            continue;
        }
        let per = n / members.len() as i32;
        let extra = n % members.len() as i32;
        let mut next = 0;
        for (i, m) in members.iter().enumerate() {
            let take = per + i32::from((i as i32) < extra);
            let ps: Vec<i32> = (next..next + take).collect();
            next += take;
            plan.entry((*m).clone())
                .or_default()
                .insert(topic.clone(), ps);
        }
    }
    plan
}

/// Subscription bytes: i16 version, then ConsumerProtocolSubscription v0.
pub fn encode_subscription(topic: &str) -> Bytes {
    let sub = ConsumerProtocolSubscription::default()
        .with_topics(vec![StrBytes::from_string(topic.to_string())]);
    versioned(0, |b| sub.encode(b, 0).is_ok())
}

/// The topics in a member's subscription; empty when unreadable.
pub fn decode_subscription(bytes: &Bytes) -> Vec<String> {
    let mut b = bytes.clone();
    if b.remaining() < 2 {
        return Vec::new();
    }
    let version = b.get_i16().clamp(0, 3);
    ConsumerProtocolSubscription::decode(&mut b, version)
        .map(|s| s.topics.iter().map(|t| t.to_string()).collect())
        .unwrap_or_default()
}

pub fn encode_assignment(topics: &BTreeMap<String, Vec<i32>>) -> Bytes {
    let assignment = ConsumerProtocolAssignment::default().with_assigned_partitions(
        topics
            .iter()
            .map(|(t, ps)| {
                AssignedPartitions::default()
                    .with_topic(topic_name(t))
                    .with_partitions(ps.clone())
            })
            .collect(),
    );
    versioned(0, |b| assignment.encode(b, 0).is_ok())
}

/// (topic, partitions) pairs of an assignment; empty when unreadable.
pub fn decode_assignment(bytes: &Bytes) -> Vec<(String, Vec<i32>)> {
    let mut b = bytes.clone();
    if b.remaining() < 2 {
        return Vec::new();
    }
    let version = b.get_i16().clamp(0, 3);
    ConsumerProtocolAssignment::decode(&mut b, version)
        .map(|a| {
            a.assigned_partitions
                .into_iter()
                .map(|tp| (tp.topic.0.to_string(), tp.partitions))
                .collect()
        })
        .unwrap_or_default()
}

fn versioned(version: i16, encode: impl FnOnce(&mut BytesMut) -> bool) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(version);
    if !encode(&mut b) {
        log::warn!("cannot encode group protocol metadata");
    }
    b.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subs(members: &[&str], topic: &str) -> Vec<(String, Vec<String>)> {
        members
            .iter()
            .map(|m| (m.to_string(), vec![topic.to_string()]))
            .collect()
    }

    #[test]
    fn range_gives_consecutive_runs_first_members_more() {
        let counts = BTreeMap::from([("t".to_string(), 4)]);
        let plan = assign("range", &subs(&["b", "a", "c"], "t"), &counts);
        assert_eq!(plan["a"]["t"], vec![0, 1]);
        assert_eq!(plan["b"]["t"], vec![2]);
        assert_eq!(plan["c"]["t"], vec![3]);
        let plan = assign("range", &subs(&["a", "b"], "t"), &counts);
        assert_eq!(
            (plan["a"]["t"].clone(), plan["b"]["t"].clone()),
            (vec![0, 1], vec![2, 3])
        );
    }

    #[test]
    fn roundrobin_deals_partitions_in_turn() {
        let counts = BTreeMap::from([("t".to_string(), 4)]);
        let plan = assign("roundrobin", &subs(&["a", "b", "c"], "t"), &counts);
        assert_eq!(plan["a"]["t"], vec![0, 3]);
        assert_eq!(plan["b"]["t"], vec![1]);
        assert_eq!(plan["c"]["t"], vec![2]);
    }

    #[test]
    fn more_members_than_partitions_leaves_some_idle() {
        let counts = BTreeMap::from([("t".to_string(), 1)]);
        let plan = assign("range", &subs(&["a", "b"], "t"), &counts);
        assert_eq!(plan["a"]["t"], vec![0]);
        assert!(plan["b"]["t"].is_empty());
    }

    #[test]
    fn subscription_and_assignment_bytes_round_trip() {
        assert_eq!(
            decode_subscription(&encode_subscription("orders")),
            vec!["orders"]
        );
        let a = BTreeMap::from([("orders".to_string(), vec![1, 3])]);
        let bytes = encode_assignment(&a);
        assert_eq!(
            &bytes[..2],
            &[0, 0],
            "Java's layout starts with an i16 version"
        );
        assert_eq!(
            decode_assignment(&bytes),
            vec![("orders".to_string(), vec![1, 3])]
        );
        assert!(decode_assignment(&Bytes::from_static(b"\x00")).is_empty());
    }
}
