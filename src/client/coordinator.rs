//! A consumer group's coordinator and committed offsets, kept where Kafka's
//! own clients keep them (__consumer_offsets), over bounded `kafka-protocol`
//! requests (the `kafka` crate's own commit path can spin or panic). The
//! coordinator is found again whenever it moves or its broker dies.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::{
    DeleteGroupsRequest, DescribeGroupsRequest, FindCoordinatorRequest, GroupId, ListGroupsRequest,
    OffsetCommitRequest, OffsetFetchRequest,
};
use kafka_protocol::protocol::{Request, StrBytes};

use crate::client::assignor::decode_assignment;
use crate::client::cluster::{join_host_port, BrokerConfig, Cluster};
use crate::client::codes;
use crate::client::connection::{topic_name, Connection};
use crate::client::retry::{retriable, Retry, RETRY_FOR};
use crate::error::{Error, Result};

/// The coordinator of one group, found again whenever it moves or its
/// broker goes away: every request goes through `request`, which retries
/// within `RETRY_FOR` on a lost connection or a "not the coordinator" answer.
pub struct Coordinator {
    pub group: String,
    config: BrokerConfig,
    /// Where FindCoordinator is asked: any live broker.
    bootstrap: Option<Cluster>,
    conn: Option<Connection>,
    /// The last coordinator found, for messages.
    addr: String,
    /// How long a request rides out a lost coordinator.
    retry_for: Duration,
}

/// Generation and member id a commit is made under; `standalone()` for a
/// consumer that is not a member (the group must then have no members).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    pub generation: i32,
    pub member_id: String,
}

impl Generation {
    pub fn standalone() -> Self {
        Generation {
            generation: -1,
            member_id: String::new(),
        }
    }
}

impl Coordinator {
    /// Finds the group's coordinator, waiting (within the retry window)
    /// while the cluster creates __consumer_offsets on first use or elects
    /// a new coordinator.
    pub fn find(cluster: &mut Cluster, group: &str) -> Result<Coordinator> {
        let mut c = Coordinator::new(&cluster.config, group);
        c.locate()?;
        Ok(c)
    }

    /// A coordinator handle that finds the coordinator on first use.
    pub fn new(config: &BrokerConfig, group: &str) -> Coordinator {
        Coordinator {
            group: group.to_string(),
            config: config.clone(),
            bootstrap: None,
            conn: None,
            addr: config.display(),
            retry_for: RETRY_FOR,
        }
    }

    /// Shortens (or lengthens) how long requests ride out a lost
    /// coordinator, e.g. for the last commit of a command that is ending.
    pub fn set_retry_for(&mut self, window: Duration) {
        self.retry_for = window;
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The timeout of one request (`--timeout`).
    pub fn timeout(&self) -> Duration {
        self.config.timeout
    }

    /// The version of `R` the coordinator speaks (finding it first).
    pub fn version<R: Request>(&mut self) -> Result<i16> {
        self.locate()?.version::<R>()
    }

    /// A connection to the coordinator, finding it first if need be.
    fn locate(&mut self) -> Result<&mut Connection> {
        if self.conn.as_ref().is_some_and(Connection::is_broken) {
            self.conn = None;
        }
        if self.conn.is_none() {
            let mut retry = Retry::within(self.retry_for);
            let conn = loop {
                match self.find_once() {
                    Ok(Some(conn)) => break conn,
                    Ok(None) => {
                        let why = format!(
                            "the coordinator of group '{}' is not available yet",
                            self.group
                        );
                        if !retry.again(&why) {
                            return Err(interrupted_or(group_error(
                                codes::COORDINATOR_NOT_AVAILABLE,
                                &self.group,
                                "find the coordinator of",
                            )));
                        }
                    }
                    Err(e) if retriable(&e) => {
                        self.bootstrap = None;
                        if !retry.again(&e) {
                            return Err(interrupted_or(e));
                        }
                    }
                    Err(e) => return Err(e),
                }
            };
            self.addr = conn.addr().to_string();
            self.conn = Some(conn);
        }
        self.conn.as_mut().ok_or(Error::Interrupted)
    }

    /// One FindCoordinator and a connection to the answer; None while the
    /// coordinator is being elected or loaded.
    fn find_once(&mut self) -> Result<Option<Connection>> {
        if self.bootstrap.is_none() {
            self.bootstrap = Some(Cluster::connect(&self.config)?);
        }
        let Some(cluster) = self.bootstrap.as_mut() else {
            return Ok(None);
        };
        let conn = cluster.bootstrap();
        let version = conn.version::<FindCoordinatorRequest>()?.min(3);
        let request = FindCoordinatorRequest::default()
            .with_key(StrBytes::from_string(self.group.clone()))
            .with_key_type(0);
        let response = conn.call_at(&request, version, conn.timeout())?;
        match response.error_code {
            0 => {
                let addr = join_host_port(&response.host, response.port);
                Connection::open(&addr, &self.config).map(Some)
            }
            code if codes::coordinator_moved(code) => Ok(None),
            code => Err(group_error(code, &self.group, "find the coordinator of")),
        }
    }

    /// Sends `request` to the coordinator and returns its answer, finding
    /// the coordinator again (within `RETRY_FOR`) when the connection is
    /// lost or the answer's error code (`code_of`) says it moved. `wait`
    /// bounds one attempt (JoinGroup may take the rebalance timeout).
    pub fn request<R: Request>(
        &mut self,
        request: &R,
        max_version: i16,
        wait: Duration,
        code_of: impl Fn(&R::Response) -> i16,
    ) -> Result<R::Response> {
        let mut retry = Retry::within(self.retry_for);
        loop {
            let attempt = self.locate().and_then(|conn| {
                let version = conn.version::<R>()?.min(max_version);
                conn.call_at(request, version, wait)
            });
            match attempt {
                Ok(response) => {
                    let code = code_of(&response);
                    if !codes::coordinator_moved(code) {
                        return Ok(response);
                    }
                    self.conn = None;
                    let why = format!(
                        "{} is no longer the coordinator of group '{}' ({})",
                        self.addr,
                        self.group,
                        codes::name(code)
                    );
                    if !retry.again(&why) {
                        return Err(interrupted_or(group_error(code, &self.group, "reach")));
                    }
                }
                Err(e) if retriable(&e) => {
                    self.conn = None;
                    if !retry.again(&e) {
                        return Err(interrupted_or(e));
                    }
                }
                Err(e) => return Err(e),
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

    /// Like `fetch_offsets`, but never an offset a transaction has yet to
    /// commit or abort (OffsetFetch v7+ with require_stable, KIP-447): while
    /// one is pending the broker answers UNSTABLE_OFFSET_COMMIT and this
    /// waits, up to `wait` (the transaction timeout, after which the
    /// coordinator aborts a transaction left open).
    pub fn fetch_stable_offsets(
        &mut self,
        topic: &str,
        partitions: &[i32],
        wait: Duration,
    ) -> Result<HashMap<i32, i64>> {
        if self.version::<OffsetFetchRequest>()? < 7 {
            return Err(Error::Unsupported {
                addr: self.addr.clone(),
                what: "OffsetFetch v7 (Kafka 2.5+: stable offsets for transactions)".into(),
            });
        }
        let mut retry = Retry::within(wait);
        loop {
            let wanted = OffsetFetchRequestTopic::default()
                .with_name(topic_name(topic))
                .with_partition_indexes(partitions.to_vec());
            match self.offset_fetch_with(Some(vec![wanted]), true) {
                Err(Error::Group { code, .. }) if code == UNSTABLE_OFFSET_COMMIT => {
                    let why = format!(
                        "group '{}' has offsets a transaction has yet to commit or abort",
                        self.group
                    );
                    if !retry.again(&why) {
                        return Err(interrupted_or(group_error(
                            code,
                            &self.group,
                            "fetch the offsets of",
                        )));
                    }
                }
                other => {
                    return Ok(other?
                        .into_iter()
                        .filter(|((t, _), _)| t == topic)
                        .map(|((_, p), o)| (p, o))
                        .collect())
                }
            }
        }
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
        self.offset_fetch_with(topics, false)
    }

    fn offset_fetch_with(
        &mut self,
        topics: Option<Vec<OffsetFetchRequestTopic>>,
        require_stable: bool,
    ) -> Result<BTreeMap<(String, i32), i64>> {
        let all = topics.is_none();
        let request = OffsetFetchRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(self.group.clone())))
            .with_topics(topics)
            .with_require_stable(require_stable);
        let response = self.request(&request, 7, self.timeout(), |r| {
            if r.error_code != 0 {
                return r.error_code;
            }
            first_error(
                r.topics
                    .iter()
                    .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
            )
        })?;
        if all && response.topics.is_empty() && response.error_code == 0 {
            log::debug!("group '{}' has no committed offsets", self.group);
        }
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
        let response = self.request(&request, 5, self.timeout(), |r| {
            first_error(r.groups.iter().map(|g| g.error_code))
        })?;
        let g =
            response.groups.into_iter().next().ok_or_else(|| {
                Error::broker(format!("no description of group '{}'", self.group))
            })?;
        if g.error_code != 0 {
            return Err(group_error(g.error_code, &self.group, "describe"));
        }
        let consumer = g.protocol_type.as_str() == "consumer";
        let mut members = Vec::new();
        for m in g.members {
            let assignment = if consumer && !m.member_assignment.is_empty() {
                decode_assignment(&m.member_assignment).map_err(|e| {
                    Error::broker(format!(
                        "group '{}' member {}: {e}",
                        self.group, m.member_id
                    ))
                })?
            } else {
                Vec::new()
            };
            members.push(MemberDescription {
                member_id: m.member_id.to_string(),
                client_id: m.client_id.to_string(),
                host: m.client_host.to_string(),
                assignment,
            });
        }
        Ok(GroupDescription {
            state: g.group_state.to_string(),
            protocol: g.protocol_data.to_string(),
            members,
        })
    }

    /// Deletes the group and its committed offsets (DeleteGroups). `Ok(false)`:
    /// there was no such group. A group with members is refused by the
    /// broker (NON_EMPTY_GROUP), which this names.
    pub fn delete(&mut self) -> Result<bool> {
        let request = DeleteGroupsRequest::default()
            .with_groups_names(vec![GroupId(StrBytes::from_string(self.group.clone()))]);
        let response = self.request(&request, 2, self.timeout(), |r| {
            first_error(r.results.iter().map(|g| g.error_code))
        })?;
        match first_error(response.results.iter().map(|g| g.error_code)) {
            0 => Ok(true),
            codes::GROUP_ID_NOT_FOUND => Ok(false),
            codes::NON_EMPTY_GROUP => Err(Error::broker_with_hint(
                format!("group '{}' still has members", self.group),
                "stop every instance that uses it first",
            )),
            code => Err(group_error(code, &self.group, "delete")),
        }
    }

    /// Commits `offsets` (partition, next offset to read) of `topic`.
    pub fn commit(&mut self, topic: &str, offsets: &[(i32, i64)], who: &Generation) -> Result<()> {
        if offsets.is_empty() {
            return Ok(());
        }
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
        let response = self.request(&request, 8, self.timeout(), |r| {
            first_error(
                r.topics
                    .iter()
                    .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
            )
        })?;
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

/// A transaction has offsets of the group pending (OffsetFetch, KIP-447).
const UNSTABLE_OFFSET_COMMIT: i16 = 88;

/// The first non-zero error code, or 0.
fn first_error(codes: impl IntoIterator<Item = i16>) -> i16 {
    codes.into_iter().find(|&c| c != 0).unwrap_or(0)
}

/// What a retry loop returns when it stopped: Ctrl-C's own error if that
/// is why, else the failure.
fn interrupted_or(e: Error) -> Error {
    if crate::client::deadline::interrupted() {
        Error::Interrupted
    } else {
        e
    }
}

pub struct GroupDescription {
    pub state: String,
    pub protocol: String,
    pub members: Vec<MemberDescription>,
}

pub struct MemberDescription {
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
    let acl = match action {
        // Finding the coordinator needs Describe; consuming in the group,
        // why a user most often finds it, needs Read (which implies Describe).
        "describe" | "list" => "Describe",
        "delete" => "Delete",
        _ => "Read",
    };
    if let Some(e) = codes::denied(code, action, acl, || format!("group {group}")) {
        return e;
    }
    let (message, hint) = match code {
        codes::INVALID_GROUP_ID => (format!("invalid group id '{group}'"), None),
        codes::INVALID_SESSION_TIMEOUT => (
            format!("cannot {action} group '{group}': the session timeout is outside the broker's limits"),
            Some("the broker allows group.min.session.timeout.ms (6s) to group.max.session.timeout.ms (30m)".to_string()),
        ),
        // UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION for a commit made outside the group
        codes::ILLEGAL_GENERATION | codes::UNKNOWN_MEMBER_ID => (
            format!("cannot {action} group '{group}': not a member of its current generation"),
            Some(crate::error::hints::another_group()),
        ),
        _ => (
            format!(
                "cannot {action} group '{group}': broker error {code} ({})",
                codes::name(code)
            ),
            None,
        ),
    };
    Error::Group {
        code,
        message,
        hint,
    }
}
