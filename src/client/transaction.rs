//! Kafka transactions on the modern data path (KIP-98, KIP-447): a
//! transactional producer that writes to several topics and commits a
//! group's input offsets in one atomic step, so read_committed readers see
//! all of it or none of it. The group's generation goes with the offsets
//! (TxnOffsetCommit v3+), so a member the group has dropped cannot commit:
//! its transaction is refused and aborted, the fence the stream processor
//! needs against a paused instance.
//!
//! An abort is one EndTxn when every step so far was answered. After a step
//! whose outcome is unknown (a Produce that timed out, a refused epoch) it
//! is InitProducerId for the transactional id instead: the coordinator
//! aborts the open transaction, the epoch goes up (a request of the old
//! epoch still in flight is refused), and every partition's sequence
//! starts again from 0, so no sequence number is ever handed to new data
//! twice.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use kafka_protocol::messages::add_offsets_to_txn_request::AddOffsetsToTxnRequest;
use kafka_protocol::messages::add_partitions_to_txn_request::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnTopic,
};
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    DescribeTransactionsRequest, EndTxnRequest, FindCoordinatorRequest, GroupId,
    InitProducerIdRequest, ProducerId, TransactionalId, TxnOffsetCommitRequest,
};
use kafka_protocol::protocol::{Request, StrBytes};
use kafka_protocol::records::Compression;
use kafka_protocol::ResponseError;

use crate::client::cluster::{join_host_port, BrokerConfig, Cluster};
use crate::client::codes;
use crate::client::connection::{topic_name, Connection};
use crate::client::coordinator::{group_error, Coordinator, Generation};
use crate::client::deadline::{interrupted, Deadline};
use crate::client::modern::batch::BatchIdentity;
use crate::client::modern::leaders::Leaders;
use crate::client::modern::produce::{self, BatchBuffer, Outgoing};
use crate::client::produce::{murmur2_partition, OutRecord};
use crate::client::retry::{retriable, Retry, RETRY_FOR};
use crate::error::{Error, Result};

/// A transactional producer: `send` and `send_offsets` add to the open
/// transaction (one begins with the first of them), `commit` or `abort`
/// ends it.
pub struct TxnProducer {
    config: BrokerConfig,
    id: String,
    timeout_ms: i32,
    coordinator: Option<Connection>,
    coordinator_addr: String,
    producer_id: i64,
    epoch: i16,
    leaders: HashMap<String, Leaders>,
    /// Next sequence number per (topic, partition), from 0 after each init.
    sequences: HashMap<(String, i32), i32>,
    /// Partitions and groups already part of the open transaction.
    partitions: BTreeSet<(String, i32)>,
    groups: BTreeSet<String>,
    buffer: BatchBuffer,
    /// How long a step rides out a lost coordinator or leader.
    retry_for: Duration,
    /// How long a step waits out CONCURRENT_TRANSACTIONS (see
    /// `CONCURRENT_WAIT`).
    concurrent_for: Duration,
    /// Headers for every record.
    headers: Vec<(String, Vec<u8>)>,
    /// A step failed since the last init: what it wrote is unknown.
    uncertain: bool,
    /// The last offset written per (topic, partition), as the leaders
    /// answered (a reader that must see them knows how far to read).
    written: HashMap<(String, i32), i64>,
    /// The coordinators of the groups whose offsets it commits.
    group_coordinators: HashMap<String, Coordinator>,
}

/// How long a transaction may stay open before its coordinator aborts it:
/// the longest a paused producer's open transaction can hold back what
/// read_committed readers see (Kafka Streams' exactly-once default too).
pub const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(10);

/// A record to send in a transaction, borrowed; `value` None is a
/// tombstone (compaction deletes the key by it).
#[derive(Debug, Clone, Copy)]
pub struct TxnRecord<'a> {
    /// Empty: a null key.
    pub key: &'a [u8],
    pub value: Option<&'a [u8]>,
    /// None: murmur2 of the key.
    pub partition: Option<i32>,
}

impl<'a> From<&'a OutRecord> for TxnRecord<'a> {
    fn from(r: &'a OutRecord) -> TxnRecord<'a> {
        TxnRecord {
            key: &r.key,
            value: Some(&r.value),
            partition: r.partition,
        }
    }
}

/// What a failed step means for the caller.
pub fn fenced(e: &Error) -> bool {
    match e {
        Error::Fenced { .. } => true,
        Error::Group { code, .. } => codes::rebalance(*code),
        _ => false,
    }
}

impl TxnProducer {
    /// Registers `id` with its transaction coordinator (InitProducerId): an
    /// earlier producer of the same id is fenced and its open transaction
    /// aborted. `timeout` is the transaction timeout: a transaction left
    /// open longer (its producer paused or gone) is aborted by the
    /// coordinator.
    pub fn init(cluster: &mut Cluster, id: &str, timeout: Duration) -> Result<TxnProducer> {
        let mut p = TxnProducer {
            config: cluster.config.clone(),
            id: id.to_string(),
            timeout_ms: i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX),
            coordinator: None,
            coordinator_addr: cluster.config.display(),
            producer_id: -1,
            epoch: -1,
            leaders: HashMap::new(),
            sequences: HashMap::new(),
            partitions: BTreeSet::new(),
            groups: BTreeSet::new(),
            buffer: BatchBuffer::default(),
            retry_for: RETRY_FOR,
            concurrent_for: CONCURRENT_WAIT,
            headers: Vec::new(),
            uncertain: false,
            written: HashMap::new(),
            group_coordinators: HashMap::new(),
        };
        // A coordinator that just took the transaction log over loads it
        // first (COORDINATOR_LOAD_IN_PROGRESS), which after a broker came
        // back took over 30 s in the fault tests: wait up to a minute, as
        // the Java producer's max.block.ms does.
        p.retry_for = RETRY_FOR * 2;
        p.init_producer_id()?;
        p.retry_for = RETRY_FOR;
        Ok(p)
    }

    /// Headers for every record it sends.
    pub fn with_headers(mut self, headers: Vec<(String, Vec<u8>)>) -> TxnProducer {
        self.headers = headers;
        self
    }

    /// The last offset this producer wrote to each partition of `topic`
    /// (committed or not: the caller knows which transactions committed).
    pub fn written(&self, topic: &str) -> HashMap<i32, i64> {
        self.written
            .iter()
            .filter(|((t, _), _)| t == topic)
            .map(|((_, p), &o)| (*p, o))
            .collect()
    }

    /// Whether a transaction is open (something was sent in it).
    pub fn open(&self) -> bool {
        !self.partitions.is_empty() || !self.groups.is_empty()
    }

    /// Shortens how long a step rides out a lost broker (e.g. when ending).
    pub fn set_retry_for(&mut self, window: Duration) {
        self.retry_for = window;
        self.concurrent_for = window;
    }

    fn init_producer_id(&mut self) -> Result<()> {
        let request = InitProducerIdRequest::default()
            .with_transactional_id(Some(TransactionalId(StrBytes::from_string(
                self.id.clone(),
            ))))
            .with_transaction_timeout_ms(self.timeout_ms)
            // As a new producer of the id: the coordinator aborts whatever
            // the id left open and bumps the epoch, also when our own epoch
            // was already bumped by a timeout (which a KIP-360 re-init with
            // the old epoch would meet as PRODUCER_FENCED).
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
        let response =
            self.coordinator_call(&request, 4, "start transactions for", |r| r.error_code)?;
        match response.error_code {
            0 => {}
            code => {
                return Err(self.txn_error(code, "start transactions for"));
            }
        }
        self.producer_id = response.producer_id.0;
        self.epoch = response.producer_epoch;
        self.sequences.clear();
        self.partitions.clear();
        self.groups.clear();
        log::info!(
            "transactional id '{}': producer id {} epoch {}",
            self.id,
            self.producer_id,
            self.epoch
        );
        Ok(())
    }

    /// Sends `records` to `topic` inside the open transaction and waits
    /// until every replica has them (acks=all): each partition is added to
    /// the transaction first; a partition whose leader moves is sent again
    /// with the same sequence numbers, so the broker keeps it once.
    pub fn send(&mut self, topic: &str, records: &[OutRecord]) -> Result<()> {
        let refs: Vec<TxnRecord<'_>> = records.iter().map(TxnRecord::from).collect();
        self.send_records(topic, &refs)
    }

    /// `send` for records that may have a null value (tombstones).
    pub fn send_records(&mut self, topic: &str, records: &[TxnRecord<'_>]) -> Result<()> {
        self.send_all(&[(topic, records)])
    }

    /// Sends to several topics in one step: every partition not yet in the
    /// transaction is added in one AddPartitionsToTxn, then each topic's
    /// records go to their leaders, topic after topic.
    pub fn send_all(&mut self, writes: &[(&str, &[TxnRecord<'_>])]) -> Result<()> {
        let sent = self.send_all_unmarked(writes);
        self.uncertain |= sent.is_err();
        sent
    }

    fn send_all_unmarked(&mut self, writes: &[(&str, &[TxnRecord<'_>])]) -> Result<()> {
        let mut placements = Vec::with_capacity(writes.len());
        let mut new: Vec<(String, Vec<i32>)> = Vec::new();
        for &(topic, records) in writes {
            if !self.leaders.contains_key(topic) {
                let mut cluster = Cluster::connect(&self.config)?;
                let leaders = Leaders::new(&mut cluster, topic)?;
                self.leaders.insert(topic.to_string(), leaders);
            }
            let count = self.leaders[topic].partition_count();
            let placed: Vec<i32> = records
                .iter()
                .map(|r| {
                    r.partition
                        .unwrap_or_else(|| murmur2_partition(r.key, count))
                })
                .collect();
            let missing: Vec<i32> = placed
                .iter()
                .copied()
                .collect::<BTreeSet<i32>>()
                .into_iter()
                .filter(|&p| !self.partitions.contains(&(topic.to_string(), p)))
                .collect();
            if !missing.is_empty() {
                new.push((topic.to_string(), missing));
            }
            placements.push(placed);
        }
        if !new.is_empty() {
            self.add_partitions(&new)?;
        }
        for (&(topic, records), placed) in writes.iter().zip(placements) {
            self.produce(topic, records, &placed)?;
        }
        Ok(())
    }

    /// One topic's records to their leaders, retried with the same
    /// sequence numbers where a leader moved.
    fn produce(&mut self, topic: &str, records: &[TxnRecord<'_>], placed: &[i32]) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let now = crate::client::list_offsets::epoch_millis(std::time::SystemTime::now());
        let mut pending: Vec<usize> = (0..records.len()).collect();
        let mut retry = Retry::within(self.retry_for);
        loop {
            let mut identities = HashMap::new();
            let mut first_index: BTreeMap<i32, usize> = BTreeMap::new();
            for &i in &pending {
                first_index.entry(placed[i]).or_insert(i);
            }
            for &p in first_index.keys() {
                let seq = *self.sequences.get(&(topic.to_string(), p)).unwrap_or(&0);
                identities.insert(
                    p,
                    BatchIdentity {
                        producer_id: self.producer_id,
                        producer_epoch: self.epoch,
                        base_sequence: seq,
                        transactional: true,
                    },
                );
            }
            let leaders = self
                .leaders
                .get_mut(topic)
                .ok_or_else(|| Error::broker(format!("no leaders known for topic '{topic}'")))?;
            let outgoing = |k: usize| {
                let r = &records[pending[k]];
                Outgoing {
                    partition: placed[pending[k]],
                    key: r.key,
                    value: r.value,
                    headers: &self.headers,
                    timestamp_ms: now,
                }
            };
            let answers = produce::send(
                leaders,
                topic,
                pending.len(),
                outgoing,
                -1,
                self.config.timeout,
                Compression::None,
                &identities,
                Some(&self.id),
                &mut self.buffer,
            )?;
            let mut again = Vec::new();
            let mut trouble = None;
            for (&p, outcome) in &answers {
                let sent = pending.iter().filter(|&&i| placed[i] == p).count() as i32;
                match *outcome {
                    // A duplicate: the broker has this batch from an attempt
                    // whose answer was lost.
                    Ok(_) | Err(codes::DUPLICATE_SEQUENCE_NUMBER) => {
                        let seq = self.sequences.entry((topic.to_string(), p)).or_insert(0);
                        *seq = seq.wrapping_add(sent) & i32::MAX;
                        if let Ok(base) = *outcome {
                            if base >= 0 {
                                let last = base + i64::from(sent) - 1;
                                let at = self.written.entry((topic.to_string(), p)).or_insert(last);
                                *at = (*at).max(last);
                            }
                        }
                    }
                    Err(code) if codes::leader_trouble(code) => {
                        again.push(p);
                        trouble = Some(code);
                    }
                    Err(code) => {
                        return Err(self
                            .txn_error(code, &format!("write topic '{topic}' partition {p} for")))
                    }
                }
            }
            if again.is_empty() {
                return Ok(());
            }
            pending.retain(|&i| again.contains(&placed[i]));
            let why = format!(
                "topic '{topic}' partitions {again:?}: {}",
                codes::name(trouble.unwrap_or_default())
            );
            if !retry.again(&why) {
                return Err(if interrupted() {
                    Error::Interrupted
                } else {
                    Error::broker(format!("transaction of '{}': {why}", self.id))
                });
            }
            if let Some(l) = self.leaders.get_mut(topic) {
                let _ = l.refresh();
            }
        }
    }

    fn add_partitions(&mut self, topics: &[(String, Vec<i32>)]) -> Result<()> {
        let request = AddPartitionsToTxnRequest::default()
            .with_v3_and_below_transactional_id(TransactionalId(StrBytes::from_string(
                self.id.clone(),
            )))
            .with_v3_and_below_producer_id(ProducerId(self.producer_id))
            .with_v3_and_below_producer_epoch(self.epoch)
            .with_v3_and_below_topics(
                topics
                    .iter()
                    .map(|(topic, partitions)| {
                        AddPartitionsToTxnTopic::default()
                            .with_name(topic_name(topic))
                            .with_partitions(partitions.clone())
                    })
                    .collect(),
            );
        let response = self.coordinator_call(&request, 3, "add partitions to", |r| {
            first_error(r.results_by_topic_v3_and_below.iter().flat_map(|t| {
                t.results_by_partition
                    .iter()
                    .map(|p| p.partition_error_code)
            }))
        })?;
        let code = first_error(
            response
                .results_by_topic_v3_and_below
                .iter()
                .flat_map(|t| {
                    t.results_by_partition
                        .iter()
                        .map(|p| p.partition_error_code)
                })
                .filter(|&c| c != OPERATION_NOT_ATTEMPTED),
        );
        if code != 0 {
            let names: Vec<&str> = topics.iter().map(|(t, _)| t.as_str()).collect();
            return Err(self.txn_error(code, &format!("add topics {names:?} to")));
        }
        for (topic, partitions) in topics {
            for &p in partitions {
                self.partitions.insert((topic.clone(), p));
            }
        }
        Ok(())
    }

    /// Commits `offsets` (partition, next offset) of `topic` for `group`
    /// inside the transaction, under the member's generation: a member the
    /// group has dropped gets a rebalance error (`fenced` says so) and the
    /// caller aborts.
    pub fn send_offsets(
        &mut self,
        group: &str,
        topic: &str,
        offsets: &[(i32, i64)],
        who: &Generation,
    ) -> Result<()> {
        if offsets.is_empty() {
            return Ok(());
        }
        if !self.groups.contains(group) {
            let request = AddOffsetsToTxnRequest::default()
                .with_transactional_id(TransactionalId(StrBytes::from_string(self.id.clone())))
                .with_producer_id(ProducerId(self.producer_id))
                .with_producer_epoch(self.epoch)
                .with_group_id(GroupId(StrBytes::from_string(group.to_string())));
            let response =
                self.coordinator_call(&request, 3, "add offsets to", |r| r.error_code)?;
            if response.error_code != 0 {
                return Err(self.txn_error(response.error_code, "add offsets to"));
            }
            self.groups.insert(group.to_string());
        }
        // TxnOffsetCommit goes to the group's coordinator (kept, with its
        // connection, from flush to flush).
        let config = &self.config;
        let coordinator = self
            .group_coordinators
            .entry(group.to_string())
            .or_insert_with(|| Coordinator::new(config, group));
        coordinator.set_retry_for(self.retry_for);
        let request = TxnOffsetCommitRequest::default()
            .with_transactional_id(TransactionalId(StrBytes::from_string(self.id.clone())))
            .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
            .with_producer_id(ProducerId(self.producer_id))
            .with_producer_epoch(self.epoch)
            .with_generation_id(who.generation)
            .with_member_id(StrBytes::from_string(who.member_id.clone()))
            .with_topics(vec![TxnOffsetCommitRequestTopic::default()
                .with_name(topic_name(topic))
                .with_partitions(
                    offsets
                        .iter()
                        .map(|&(p, o)| {
                            TxnOffsetCommitRequestPartition::default()
                                .with_partition_index(p)
                                .with_committed_offset(o)
                                .with_committed_leader_epoch(-1)
                        })
                        .collect(),
                )]);
        if coordinator.version::<TxnOffsetCommitRequest>()? < 3 {
            return Err(Error::Unsupported {
                addr: coordinator.addr().to_string(),
                what:
                    "TxnOffsetCommit v3 (Kafka 2.5+: offsets committed with the group's generation)"
                        .into(),
            });
        }
        let response = coordinator.request(&request, 4, self.config.timeout, |r| {
            first_error(
                r.topics
                    .iter()
                    .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
            )
        })?;
        let code = first_error(
            response
                .topics
                .iter()
                .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
        );
        match code {
            0 => Ok(()),
            c if codes::rebalance(c) => Err(group_error(c, group, "commit the offsets of")),
            c => Err(self.txn_error(c, &format!("commit the offsets of group '{group}' in"))),
        }
    }

    /// Waits (up to `--timeout`) until the coordinator has written the
    /// last transaction's markers to every partition (DescribeTransactions:
    /// no longer PrepareCommit or PrepareAbort), so a read_committed reader
    /// started next sees it: EndTxn returns before the markers are written.
    /// Best effort: a broker without DescribeTransactions (before Kafka
    /// 3.0) or an error ends the wait.
    pub fn settle(&mut self) {
        let deadline = Deadline::after(self.config.timeout);
        let request =
            DescribeTransactionsRequest::default().with_transactional_ids(vec![TransactionalId(
                StrBytes::from_string(self.id.clone()),
            )]);
        while !deadline.expired() && !interrupted() {
            let state = self.locate().and_then(|conn| {
                let version = conn.version::<DescribeTransactionsRequest>()?.min(0);
                conn.call_at(&request, version, conn.timeout())
            });
            match state {
                Ok(r) => {
                    let pending = r.transaction_states.iter().any(|t| {
                        t.error_code == 0 && t.transaction_state.as_str().starts_with("Prepare")
                    });
                    if !pending {
                        return;
                    }
                }
                Err(e) => {
                    log::debug!("transactional id '{}': cannot see its state: {e}", self.id);
                    return;
                }
            }
            deadline.sleep(CONCURRENT_BACKOFF);
        }
    }

    /// Commits the open transaction (nothing to do if none is open).
    pub fn commit(&mut self) -> Result<()> {
        self.end(true)
    }

    /// Aborts the open transaction. After a step that failed, whose records
    /// may or may not have landed, a new epoch too (InitProducerId), so no
    /// request of the old one can still land and no sequence number is
    /// reused; otherwise one EndTxn (quick enough for Ctrl-C's grace).
    pub fn abort(&mut self) -> Result<()> {
        if !self.uncertain && self.end(false).is_ok() {
            return Ok(());
        }
        self.init_producer_id()?;
        self.uncertain = false;
        Ok(())
    }

    fn end(&mut self, commit: bool) -> Result<()> {
        if !self.open() {
            return Ok(());
        }
        let request = EndTxnRequest::default()
            .with_transactional_id(TransactionalId(StrBytes::from_string(self.id.clone())))
            .with_producer_id(ProducerId(self.producer_id))
            .with_producer_epoch(self.epoch)
            .with_committed(commit);
        let what = if commit { "commit" } else { "abort" };
        let response = self.coordinator_call(&request, 3, what, |r| r.error_code)?;
        if response.error_code != 0 {
            return Err(self.txn_error(response.error_code, what));
        }
        self.partitions.clear();
        self.groups.clear();
        Ok(())
    }

    /// A request to the transaction coordinator, found again when it moves
    /// or its broker goes away; CONCURRENT_TRANSACTIONS (the last
    /// transaction's markers are still being written) is waited out.
    fn coordinator_call<R: Request>(
        &mut self,
        request: &R,
        max_version: i16,
        what: &str,
        code_of: impl Fn(&R::Response) -> i16,
    ) -> Result<R::Response> {
        let mut retry = Retry::within(self.retry_for);
        let deadline = Deadline::after(self.concurrent_for.max(self.retry_for));
        loop {
            let attempt = self.locate().and_then(|conn| {
                let version = conn.version::<R>()?.min(max_version);
                conn.call_at(request, version, conn.timeout())
            });
            let why = match attempt {
                Ok(response) => {
                    let code = code_of(&response);
                    if codes::coordinator_moved(code) {
                        self.coordinator = None;
                    } else if code != CONCURRENT_TRANSACTIONS {
                        return Ok(response);
                    } else if !deadline.expired() && !interrupted() {
                        // The last transaction's markers are being written,
                        // a matter of milliseconds: ask again soon (the
                        // Java producer waits 20 ms), not after the backoff
                        // for a lost broker, which would cost each
                        // transaction 100 ms.
                        deadline.sleep(CONCURRENT_BACKOFF);
                        continue;
                    }
                    format!(
                        "the transaction coordinator {} cannot {what} transactional id '{}' yet ({})",
                        self.coordinator_addr,
                        self.id,
                        codes::name(code)
                    )
                }
                Err(e) if retriable(&e) => {
                    self.coordinator = None;
                    e.to_string()
                }
                Err(e) => return Err(e),
            };
            if !retry.again(&why) {
                return Err(if interrupted() {
                    Error::Interrupted
                } else {
                    Error::broker(why)
                });
            }
        }
    }

    fn locate(&mut self) -> Result<&mut Connection> {
        if self.coordinator.as_ref().is_some_and(Connection::is_broken) {
            self.coordinator = None;
        }
        if self.coordinator.is_none() {
            let mut cluster = Cluster::connect(&self.config)?;
            let conn = cluster.bootstrap();
            let version = conn.version::<FindCoordinatorRequest>()?.min(3);
            let request = FindCoordinatorRequest::default()
                .with_key(StrBytes::from_string(self.id.clone()))
                .with_key_type(1);
            let response = conn.call_at(&request, version, conn.timeout())?;
            if response.error_code != 0 {
                if codes::coordinator_moved(response.error_code) {
                    // Retriable: the coordinator is being elected or loaded.
                    return Err(Error::Unreachable {
                        addr: conn.addr().to_string(),
                        reason: format!(
                            "no transaction coordinator for '{}' yet ({})",
                            self.id,
                            codes::name(response.error_code)
                        ),
                    });
                }
                return Err(self.txn_error(response.error_code, "find the coordinator of"));
            }
            let addr = join_host_port(&response.host, response.port);
            self.coordinator_addr = addr.clone();
            self.coordinator = Some(Connection::open(&addr, &self.config)?);
        }
        self.coordinator.as_mut().ok_or(Error::Interrupted)
    }

    /// A transaction error as one sentence: fencing codes become
    /// `Error::Fenced` (another producer took the id over, or the
    /// coordinator aborted a transaction left open past its timeout).
    fn txn_error(&self, code: i16, action: &str) -> Error {
        if let Some(e) = codes::denied(code, action, "Write", || {
            format!("transactional id {}", self.id)
        }) {
            return e;
        }
        let fencing = ResponseError::try_from_code(code).is_some_and(|e| {
            matches!(
                e,
                ResponseError::ProducerFenced
                    | ResponseError::InvalidProducerEpoch
                    | ResponseError::InvalidTxnState
                    | ResponseError::InvalidProducerIdMapping
                    | ResponseError::TransactionCoordinatorFenced
                    | ResponseError::UnknownProducerId
                    | ResponseError::OutOfOrderSequenceNumber
            )
        });
        let message = format!(
            "cannot {action} transactional id '{}' (producer id {} epoch {}): broker error {code} ({})",
            self.id,
            self.producer_id,
            self.epoch,
            codes::name(code)
        );
        if fencing {
            Error::Fenced {
                message,
                hint: Some(
                    "another producer started with this transactional id, or the transaction stayed open past its timeout (a pause); its records are aborted".into(),
                ),
            }
        } else {
            Error::broker(message)
        }
    }
}

const CONCURRENT_TRANSACTIONS: i16 = 51;
/// How long CONCURRENT_TRANSACTIONS is waited out: the last transaction's
/// markers are written to every partition it touched, and a partition
/// leader frozen (not dead) holds them until the cluster replaces it: its
/// session times out (18 s in ZooKeeper mode, 9 s in KRaft), and a
/// transaction log it follows waits for it to drop out of the ISR
/// (replica.lag.time.max.ms, 30 s). Over RETRY_FOR, then; seen in a fault
/// test, where a stream gave up after 30 s with the leader of its changelog
/// frozen. A minute, as the Java producer's max.block.ms.
const CONCURRENT_WAIT: Duration = Duration::from_secs(60);
const CONCURRENT_BACKOFF: Duration = Duration::from_millis(5);
const OPERATION_NOT_ATTEMPTED: i16 = 55;

fn first_error(codes: impl IntoIterator<Item = i16>) -> i16 {
    codes.into_iter().find(|&c| c != 0).unwrap_or(0)
}
