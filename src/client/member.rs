//! Membership of a consumer group through Kafka's group protocol (JoinGroup,
//! SyncGroup, Heartbeat, LeaveGroup), which the `kafka` crate lacks. A
//! member outlives its coordinator: every request goes through
//! `Coordinator::request`, which finds the coordinator again when it moves,
//! and the heartbeat thread does the same on its own connection. Assignors
//! and the protocol bytes are in client::assignor.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    GroupId, HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest, SyncGroupRequest,
};
use kafka_protocol::protocol::StrBytes;

use crate::client::assignor::{
    assign, decode_assignment, decode_subscription, encode_assignment, encode_subscription,
};
use crate::client::cluster::{BrokerConfig, Cluster};
use crate::client::codes::{self, MEMBER_ID_REQUIRED, REBALANCE_IN_PROGRESS, UNKNOWN_MEMBER_ID};
use crate::client::coordinator::{group_error, Coordinator, Generation};
use crate::client::deadline::{interrupted, Deadline};
use crate::client::retry::{retriable, Retry};
use crate::error::{Error, Result};

const PROTOCOL_TYPE: &str = "consumer";
/// Offered in this order of preference; the coordinator picks one every
/// member supports (Java consumers offer range too).
const ASSIGNORS: [&str; 2] = ["range", "roundrobin"];

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
    who: Generation,
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
            who: Generation {
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
            Err(Error::Group { code, .. }) if codes::rebalance(code) => {
                log::info!(
                    "commit refused by a rebalance ({}); rejoining",
                    codes::name(code)
                );
                self.must_rejoin();
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// The generation and member id this member holds now.
    pub fn generation(&self) -> &Generation {
        &self.who
    }

    /// The group's name.
    pub fn group(&self) -> &str {
        &self.coordinator.group
    }

    /// Makes the next `needs_rejoin` true (e.g. after a refused transaction).
    pub fn must_rejoin(&self) {
        if let Some(h) = &self.heartbeat {
            h.rejoin.store(true, Ordering::SeqCst);
        }
    }

    /// (Re)joins the group: JoinGroup until accepted, the leader computes
    /// the assignment, SyncGroup hands it out; then heartbeats resume. Each
    /// round's coordinator trouble is ridden out by `Coordinator::request`.
    pub fn rejoin(&mut self, cluster: &mut Cluster) -> Result<()> {
        self.stop_heartbeat();
        let bound =
            self.timeouts.rebalance + self.timeouts.session + crate::client::retry::RETRY_FOR;
        let deadline = Deadline::after(bound);
        loop {
            if interrupted() {
                return Err(Error::Interrupted);
            }
            if deadline.expired() {
                return Err(Error::broker_with_hint(
                    format!(
                        "could not join group '{}' within {}",
                        self.coordinator.group,
                        humantime::format_duration(bound)
                    ),
                    crate::error::hints::members_stuck(),
                ));
            }
            match self.join_and_sync(cluster)? {
                Some(assignment) => {
                    self.assignment = assignment;
                    break;
                }
                None => deadline.sleep(Duration::from_millis(100)),
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
            cluster.config.clone(),
            self.coordinator.group.clone(),
            self.who.clone(),
            self.timeouts,
        ));
        Ok(())
    }

    /// One JoinGroup + SyncGroup round; None when it must be tried again.
    fn join_and_sync(&mut self, cluster: &mut Cluster) -> Result<Option<Vec<i32>>> {
        let group = self.coordinator.group.clone();
        let subscription = encode_subscription(&self.topic).map_err(Error::broker)?;
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
        // JoinGroup blocks until every member has rejoined, up to the rebalance timeout.
        let wait = self.timeouts.rebalance + self.coordinator.timeout();
        let joined = self
            .coordinator
            .request(&request, 7, wait, |r| r.error_code)?;
        match joined.error_code {
            0 => {}
            MEMBER_ID_REQUIRED => {
                self.who.member_id = joined.member_id.to_string();
                return Ok(None);
            }
            code if codes::member_forgotten(code) => {
                self.who.member_id.clear();
                return Ok(None);
            }
            REBALANCE_IN_PROGRESS => return Ok(None),
            code => return Err(group_error(code, &group, "join")),
        }
        self.who = Generation {
            generation: joined.generation_id,
            member_id: joined.member_id.to_string(),
        };
        let protocol = joined
            .protocol_name
            .clone()
            .map(|p| p.to_string())
            .unwrap_or_else(|| "range".into());
        let assignments = if joined.leader == joined.member_id {
            let mut subscriptions: Vec<(String, Vec<String>)> = Vec::new();
            for m in &joined.members {
                let topics = decode_subscription(&m.metadata).map_err(|e| {
                    Error::broker(format!("group '{group}' member {}: {e}", m.member_id))
                })?;
                subscriptions.push((m.member_id.to_string(), topics));
            }
            let counts = partition_counts(cluster, &subscriptions)?;
            let plan = assign(&protocol, &subscriptions, &counts);
            log::info!(
                "leading generation {} with {protocol}: {plan:?}",
                self.who.generation
            );
            let mut out = Vec::new();
            for (member, topics) in plan {
                out.push(
                    SyncGroupRequestAssignment::default()
                        .with_member_id(StrBytes::from_string(member))
                        .with_assignment(encode_assignment(&topics).map_err(Error::broker)?),
                );
            }
            out
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
        let synced = self
            .coordinator
            .request(&request, 5, wait, |r| r.error_code)?;
        match synced.error_code {
            0 => {}
            REBALANCE_IN_PROGRESS => return Ok(None),
            code if codes::member_forgotten(code) => {
                self.who.member_id.clear();
                return Ok(None);
            }
            code => return Err(group_error(code, &group, "sync with")),
        }
        // An empty assignment is a member with nothing to read (more
        // members than partitions), not an unreadable one.
        let decoded = if synced.assignment.is_empty() {
            Vec::new()
        } else {
            decode_assignment(&synced.assignment)
                .map_err(|e| Error::broker(format!("group '{group}': {e}")))?
        };
        let mut mine: Vec<i32> = decoded
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
        // v0-2 name the member in one field (v3+ in a list); every broker
        // from 0.11 to 4.x takes v2.
        let request = LeaveGroupRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(group.clone())))
            .with_member_id(StrBytes::from_string(self.who.member_id.clone()));
        let timeout = self.coordinator.timeout();
        let response = self
            .coordinator
            .request(&request, 2, timeout, |r| r.error_code)?;
        match response.error_code {
            0 | UNKNOWN_MEMBER_ID => Ok(()),
            code => Err(group_error(code, &group, "leave")),
        }
    }

    fn stop_heartbeat(&mut self) {
        if let Some(h) = self.heartbeat.take() {
            h.stop.store(true, Ordering::SeqCst);
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.stop_heartbeat();
    }
}

/// The thread that keeps a member alive between polls, with a coordinator
/// handle of its own that follows the coordinator when it moves, and raises
/// `rejoin` when the group moved on. It is never waited for: a heartbeat
/// stuck on a frozen broker must not hold up the member.
struct Heartbeat {
    stop: Arc<AtomicBool>,
    rejoin: Arc<AtomicBool>,
}

impl Heartbeat {
    fn start(
        config: BrokerConfig,
        group: String,
        who: Generation,
        timeouts: GroupTimeouts,
    ) -> Heartbeat {
        let stop = Arc::new(AtomicBool::new(false));
        let rejoin = Arc::new(AtomicBool::new(false));
        let (stop2, rejoin2) = (stop.clone(), rejoin.clone());
        let started = std::thread::Builder::new()
            .name("heartbeat".into())
            .spawn(move || heartbeat_loop(&config, &group, &who, timeouts, &stop2, &rejoin2));
        if started.is_err() {
            rejoin.store(true, Ordering::SeqCst);
        }
        Heartbeat { stop, rejoin }
    }
}

fn heartbeat_loop(
    config: &BrokerConfig,
    group: &str,
    who: &Generation,
    timeouts: GroupTimeouts,
    stop: &AtomicBool,
    rejoin: &AtomicBool,
) {
    let request = HeartbeatRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
        .with_generation_id(who.generation)
        .with_member_id(StrBytes::from_string(who.member_id.clone()));
    let mut coordinator = Coordinator::new(config, group);
    let mut next = Instant::now() + timeouts.heartbeat;
    let mut failing: Option<Retry> = None;
    while !stop.load(Ordering::SeqCst) && !interrupted() {
        if Instant::now() < next {
            std::thread::sleep(Duration::from_millis(50).min(timeouts.heartbeat));
            continue;
        }
        next = Instant::now() + timeouts.heartbeat;
        let result = coordinator.request(&request, 4, config.timeout, |r| r.error_code);
        if stop.load(Ordering::SeqCst) {
            return;
        }
        match result.map(|r| r.error_code) {
            Ok(0) => failing = None,
            Ok(code) => {
                log::info!(
                    "heartbeat for group '{group}': {}; the member must rejoin",
                    codes::name(code)
                );
                rejoin.store(true, Ordering::SeqCst);
                return;
            }
            Err(e) if retriable(&e) => {
                // The coordinator handle keeps looking; once the session
                // is over, the group has dropped us anyway: rejoin.
                let retry = failing.get_or_insert_with(|| Retry::within(timeouts.session));
                if !retry.again(&e) {
                    log::warn!("group '{group}': no heartbeat got through for the session timeout; rejoining");
                    rejoin.store(true, Ordering::SeqCst);
                    return;
                }
            }
            Err(e) => {
                log::warn!("heartbeat for group '{group}' failed: {e}; rejoining");
                rejoin.store(true, Ordering::SeqCst);
                return;
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
    // The bootstrap broker may be the one that is frozen or gone: a request
    // that failed marks its connection broken, and the next goes to any
    // broker that answers.
    let mut retry = crate::client::retry::Retry::within(crate::client::retry::RETRY_FOR);
    let metadata = loop {
        match cluster.bootstrap().metadata(Some(&names)) {
            Ok(m) => break m,
            Err(e) if crate::client::retry::retriable(&e) => {
                if !retry.again(&e) {
                    return Err(if interrupted() { Error::Interrupted } else { e });
                }
            }
            Err(e) => return Err(e),
        }
    };
    Ok(metadata
        .topics
        .into_iter()
        .filter(|t| t.error_code == 0)
        .filter_map(|t| Some((t.name?.0.to_string(), t.partitions.len() as i32)))
        .collect())
}
