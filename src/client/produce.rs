//! Sending records, shared by every command that writes: the `kafka` crate's
//! producer behind a bounded connect, keys placed with the Java client's
//! murmur2 partitioner, every partition result checked, and a too-large
//! batch split so one oversize record never takes the ones before it down.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use kafka::client::{KafkaClient, RequiredAcks};
use kafka::error::Error as KafkaError;
use kafka::producer::{ProduceConfirm, Record};

use crate::client::classic::{abandoned, kafka_error, Worker};
use crate::client::cluster::{BrokerConfig, Cluster, DataPath};
use crate::client::codes;
use crate::client::deadline::Deadline;
use crate::client::list_offsets::epoch_millis;
use crate::client::modern;
use crate::client::modern::batch::BatchIdentity;
use crate::client::modern::leaders::Leaders;
use crate::client::modern::produce::{BatchBuffer, Outgoing};
use crate::client::retry::{retriable, Retry};
use crate::error::{hints, Error, Result};

/// How many replicas must have a record before the broker answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acks {
    None,
    Leader,
    All,
}

impl std::str::FromStr for Acks {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "0" => Ok(Acks::None),
            "1" => Ok(Acks::Leader),
            "all" | "-1" => Ok(Acks::All),
            _ => Err(format!("'{s}' is not one of 0, 1, all")),
        }
    }
}

impl Acks {
    /// The `acks` field of a ProduceRequest.
    fn code(self) -> i16 {
        match self {
            Acks::None => 0,
            Acks::Leader => 1,
            Acks::All => -1,
        }
    }

    fn required(self) -> RequiredAcks {
        match self {
            Acks::None => RequiredAcks::None,
            Acks::Leader => RequiredAcks::One,
            Acks::All => RequiredAcks::All,
        }
    }
}

/// How each partition's share of a request is compressed. The `kafka`
/// crate wraps the v0 message set in one compressed message (gzip, snappy),
/// which the broker unpacks and writes as a compressed v2 batch; the modern
/// path compresses each record batch itself (also lz4 and zstd).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    #[default]
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl std::str::FromStr for Compression {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(Compression::None),
            "gzip" => Ok(Compression::Gzip),
            "snappy" => Ok(Compression::Snappy),
            "lz4" => Ok(Compression::Lz4),
            "zstd" => Ok(Compression::Zstd),
            _ => Err(format!("'{s}' is not one of none, gzip, snappy, lz4, zstd")),
        }
    }
}

impl Compression {
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }

    /// The `kafka` crate's codec; None for those it does not have.
    fn codec(self) -> Option<kafka::client::Compression> {
        match self {
            Compression::None => Some(kafka::client::Compression::NONE),
            Compression::Gzip => Some(kafka::client::Compression::GZIP),
            Compression::Snappy => Some(kafka::client::Compression::SNAPPY),
            Compression::Lz4 | Compression::Zstd => None,
        }
    }

    /// A record batch's codec (client::modern).
    fn batch_codec(self) -> kafka_protocol::records::Compression {
        use kafka_protocol::records::Compression as C;
        match self {
            Compression::None => C::None,
            Compression::Gzip => C::Gzip,
            Compression::Snappy => C::Snappy,
            Compression::Lz4 => C::Lz4,
            Compression::Zstd => C::Zstd,
        }
    }
}

/// A record to send. An empty key is sent as no key (null).
#[derive(Debug, Clone)]
pub struct OutRecord {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    /// None: murmur2 of the key, or round-robin when there is no key.
    pub partition: Option<i32>,
}

/// Where an acknowledged record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Landed {
    pub partition: i32,
    /// None when it is not known: with acks=0 (no answer comes), or for a
    /// batch the broker answered as a duplicate without its offset (written
    /// by an earlier attempt, so long ago it no longer keeps where).
    pub offset: Option<i64>,
}

/// Keeps a batch under the broker's per-batch limit: the broker turns each
/// partition's share of a request into one batch and checks its size
/// against max.message.bytes (1 MiB by default).
pub const MAX_BATCH_BYTES: usize = 512 * 1024;

/// The `kafka` crate's producer, on its worker thread (client::classic).
type Inner = Worker<Option<kafka::producer::Producer>>;

/// What sends the records: the `kafka` crate on its worker (Kafka 0.11 to
/// 3.9), or record batches over our own connections to each leader.
enum Backend {
    Classic(Inner),
    Modern(Box<Leaders>),
}

pub struct Producer {
    backend: Backend,
    config: BrokerConfig,
    topic: String,
    brokers: String,
    acks: Acks,
    partitions: i32,
    round_robin: i32,
    retry_for: Duration,
    compression: Compression,
    /// Headers every record carries (modern path only).
    headers: Arc<[(String, Vec<u8>)]>,
    /// The modern path with acks=all: producer id, epoch, sequences.
    idempotence: Option<Idempotence>,
    /// The modern path's record batches are written here, send after send.
    batches: BatchBuffer,
}

/// What makes retries harmless: the broker keeps, per producer id and
/// partition, the sequence numbers of the last batches it wrote, and drops
/// a batch it already has (answering with its first offset).
///
/// A send that gives up leaves records whose fate is unknown: a request
/// written to a leader that never answered may still be written (a frozen
/// broker that wakes up, an answer lost with its connection). Their
/// sequence numbers may be on the broker, so they are never handed to
/// other records: reused, the broker would take the new records for the
/// old ones and drop them as duplicates, or refuse every later batch as
/// out of order. Instead, as Kafka's own client does (KIP-360), the epoch
/// goes up by one and every partition starts again at sequence 0: the
/// leaders take a higher epoch starting at 0 as a fresh start, and fence
/// the old epoch's batches still on their way. Like the Java client's
/// idempotent producer, it bumps the epoch itself, with no request: for a
/// producer without a transactional id, InitProducerId (even v3+ with the
/// current id and epoch) hands out a new producer id, so it is asked only
/// once the epoch is spent.
#[derive(Debug)]
struct Idempotence {
    producer_id: i64,
    epoch: i16,
    /// Per partition, the sequence number of the next new record.
    next: HashMap<i32, i32>,
    /// Per record of the `send` under way, its sequence number (kept
    /// across retries, so a resent batch carries the same numbers).
    assigned: Vec<i32>,
    /// The epoch ran out (i16::MAX): a new producer id (InitProducerId)
    /// before the next send, as the Java client does.
    renew: bool,
}

impl Idempotence {
    fn new(producer_id: i64, epoch: i16) -> Idempotence {
        Idempotence {
            producer_id,
            epoch,
            next: HashMap::new(),
            assigned: Vec::new(),
            renew: false,
        }
    }

    /// Gives each record, in order, its partition's next sequence number.
    fn assign(&mut self, placed: &[i32]) {
        self.assigned = placed
            .iter()
            .map(|&p| {
                let next = self.next.entry(p).or_insert(0);
                let seq = *next;
                *next = next_sequence(seq, 1);
                seq
            })
            .collect();
    }

    /// After a send that gave up with records whose outcome is unknown:
    /// a new epoch (or, when the epoch is spent, a new producer id at the
    /// next send), every partition's sequence back to 0.
    fn bump(&mut self) {
        self.next.clear();
        if self.epoch == i16::MAX {
            self.renew = true;
        } else {
            self.epoch += 1;
        }
        log::info!(
            "idempotent producer {}: a send gave up, its unacknowledged records in doubt: {}, every partition from sequence 0",
            self.producer_id,
            if self.renew {
                "epoch spent, a new producer id next".to_string()
            } else {
                format!("epoch {}", self.epoch)
            }
        );
    }
}

/// The sequence number `n` records after `seq`. As Kafka's
/// `DefaultRecordBatch.incrementSequence`, it wraps from i32::MAX to 0 (the
/// broker expects 0 after i32::MAX), never overflowing or going negative.
fn next_sequence(seq: i32, n: i32) -> i32 {
    debug_assert!(seq >= 0 && n >= 0);
    if seq > i32::MAX - n {
        n - (i32::MAX - seq) - 1
    } else {
        seq + n
    }
}

/// How long a send keeps retrying through leader changes and broker
/// restarts unless told otherwise (`--retry-for`).
pub const DEFAULT_RETRY_FOR: Duration = crate::client::retry::RETRY_FOR;

impl Producer {
    /// A producer for `topic` on a cluster that already answered us.
    pub fn new(cluster: &mut Cluster, topic: &str, acks: Acks) -> Result<Producer> {
        crate::client::admin::validate_topic_name(topic)?;
        let (backend, partitions) = build(cluster, topic, acks, Compression::None)?;
        Producer {
            backend,
            config: cluster.config.clone(),
            topic: topic.to_string(),
            brokers: cluster.config.display(),
            acks,
            partitions,
            round_robin: -1,
            retry_for: DEFAULT_RETRY_FOR,
            compression: Compression::None,
            headers: Arc::new([]),
            idempotence: None,
            batches: BatchBuffer::default(),
        }
        .idempotent_if_modern(cluster)
    }

    /// The modern path with acks=all is idempotent, as the Java client is
    /// by default: retries through a leader failover write nothing twice.
    fn idempotent_if_modern(mut self, cluster: &mut Cluster) -> Result<Producer> {
        if matches!(self.backend, Backend::Modern(_)) && self.acks == Acks::All {
            let (producer_id, epoch) = modern::produce::init_producer_id(cluster)?;
            log::info!("idempotent producer: id {producer_id}, epoch {epoch}");
            self.idempotence = Some(Idempotence::new(producer_id, epoch));
        }
        Ok(self)
    }

    /// Headers for every record sent from now on. Message format v0, all
    /// the `kafka` crate writes, has no headers: on the classic path this
    /// is a usage error rather than headers silently dropped.
    pub fn with_headers(mut self, headers: Vec<(String, Vec<u8>)>) -> Result<Producer> {
        if !headers.is_empty() && matches!(self.backend, Backend::Classic(_)) {
            return Err(Error::Usage(hints::headers_need_modern(&self.brokers)));
        }
        self.headers = headers.into();
        Ok(self)
    }

    /// Compresses every request from now on (none by default). lz4 and
    /// zstd need the modern path: the `kafka` crate has neither.
    pub fn set_compression(&mut self, compression: Compression) -> Result<()> {
        if let Backend::Classic(inner) = &mut self.backend {
            let Some(codec) = compression.codec() else {
                return Err(Error::Usage(hints::compression_needs_modern(
                    compression.name(),
                    &self.brokers,
                )));
            };
            // A worker that is gone is rebuilt with the compression on the next send.
            let _ = inner.run(Deadline::after(self.config.timeout), move |p| {
                if let Some(p) = p {
                    p.client_mut().set_compression(codec);
                }
            });
        }
        self.compression = compression;
        Ok(())
    }

    /// The topic's partition count, from the metadata the producer was
    /// built (or last rebuilt) on.
    pub fn partitions(&self) -> i32 {
        self.partitions
    }

    /// The data path the producer sends on (classic or modern).
    pub fn data_path(&self) -> DataPath {
        match self.backend {
            Backend::Classic(_) => DataPath::Classic,
            Backend::Modern(_) => DataPath::Modern,
        }
    }

    /// How long `send` retries retriable failures (zero: never).
    pub fn with_retry_for(mut self, retry_for: Duration) -> Producer {
        self.retry_for = retry_for;
        self
    }

    /// A fresh client with fresh metadata: the `kafka` crate neither
    /// refreshes metadata nor drops a dead connection by itself.
    fn rebuild(&mut self) -> Result<()> {
        if let Backend::Modern(leaders) = &mut self.backend {
            // Leaders and connections to the healthy ones are kept.
            return leaders.refresh();
        }
        let mut cluster = Cluster::connect(&self.config)?;
        let (backend, partitions) = build(&mut cluster, &self.topic, self.acks, self.compression)?;
        self.backend = backend;
        self.partitions = partitions;
        Ok(())
    }

    /// Sends `records` and returns where each landed, in input order.
    /// Failures a leader change or a broker restart explains (not leader,
    /// not enough replicas, timeouts, lost connections) are retried on fresh
    /// metadata for up to `retry_for`, resending only what was not
    /// acknowledged, in order. On error, `SendError::sent` says how many
    /// records of the batch were acknowledged.
    pub fn send(&mut self, records: impl Into<Arc<[OutRecord]>>) -> Result<Vec<Landed>, SendError> {
        let records: Arc<[OutRecord]> = records.into();
        let mut placed = Vec::with_capacity(records.len());
        for r in records.iter() {
            placed.push(match (r.partition, r.key.is_empty()) {
                (Some(p), _) if p < 0 || p >= self.partitions => {
                    return Err(SendError {
                        sent: 0,
                        record: None,
                        retriable: false,
                        error: Error::Usage(format!(
                            "partition {p} does not exist: topic '{}' has partitions 0 to {}",
                            self.topic,
                            self.partitions - 1
                        )),
                    })
                }
                (Some(p), _) => p,
                (None, false) => murmur2_partition(&r.key, self.partitions),
                (None, true) => {
                    self.round_robin = (self.round_robin + 1) % self.partitions;
                    self.round_robin
                }
            });
        }
        let unsent = Landed {
            partition: -1,
            offset: None,
        };
        let mut landed = vec![unsent; records.len()];
        self.renew_producer_id()?;
        if let Some(idem) = &mut self.idempotence {
            idem.assign(&placed);
        }
        // A brand-new topic's leaders can need a moment (KRaft brokers
        // answer NOT_LEADER until they have loaded the partition): the retry
        // policy says nothing unless the trouble lasts.
        let mut retry = Retry::within(self.retry_for);
        loop {
            let pending: Vec<usize> = (0..records.len())
                .filter(|&i| landed[i].partition < 0)
                .collect();
            let Err(mut e) = self.send_indices(&records, &placed, &pending, &mut landed) else {
                return Ok(landed);
            };
            e.sent = landed.iter().filter(|l| l.partition >= 0).count();
            if !e.retriable || !retry.again(&e.error) {
                self.gave_up();
                return Err(e);
            }
            while let Err(error) = self.rebuild() {
                // The topic existed when the producer started: a broker that
                // just restarted may not know it yet.
                let cured = retriable(&error) || matches!(error, Error::UnknownTopic { .. });
                if !(cured && retry.again(&error)) {
                    self.gave_up();
                    return Err(SendError {
                        sent: e.sent,
                        record: None,
                        retriable: false,
                        error,
                    });
                }
            }
        }
    }

    /// After a send that gave up: some of its records were not
    /// acknowledged, and whether the broker has them is unknown, so their
    /// sequence numbers are spent (see `Idempotence`): a new epoch.
    fn gave_up(&mut self) {
        if let Some(idem) = &mut self.idempotence {
            idem.bump();
        }
    }

    /// A new producer id once the epoch ran out (`Idempotence::renew`).
    fn renew_producer_id(&mut self) -> Result<(), SendError> {
        let Some(idem) = &mut self.idempotence else {
            return Ok(());
        };
        if !idem.renew {
            return Ok(());
        }
        let fresh = Cluster::connect(&self.config)
            .and_then(|mut cluster| modern::produce::init_producer_id(&mut cluster));
        let (producer_id, epoch) = fresh.map_err(|error| SendError {
            sent: 0,
            record: None,
            retriable: retriable(&error),
            error,
        })?;
        log::info!("idempotent producer: new id {producer_id}, epoch {epoch}");
        *idem = Idempotence::new(producer_id, epoch);
        Ok(())
    }

    fn send_indices(
        &mut self,
        records: &Arc<[OutRecord]>,
        placed: &[i32],
        indices: &[usize],
        landed: &mut [Landed],
    ) -> Result<(), SendError> {
        let confirms = self
            .send_all(records, placed, indices)
            .map_err(|e| SendError {
                sent: 0,
                record: None,
                // A lost connection may have cost some partitions' acks: resending
                // them can duplicate, never lose (at least once). The topic
                // existed when the producer started: a broker that lost track
                // of it for a moment (frozen, restarted) is ridden out too.
                retriable: retriable(&e) || matches!(e, Error::UnknownTopic { .. }),
                error: e,
            })?;
        if self.acks == Acks::None {
            for &i in indices {
                landed[i] = Landed {
                    partition: placed[i],
                    offset: None,
                };
            }
            return Ok(());
        }
        let mut results = confirms;
        let mut failed: Vec<(i32, i16)> = Vec::new();
        for &i in indices {
            let p = placed[i];
            match results.get_mut(&p) {
                // The batch's records follow its base offset, one by one;
                // without a base offset none of them has a known one.
                Some(Ok(offset)) => {
                    landed[i] = Landed {
                        partition: p,
                        offset: (*offset >= 0).then_some(*offset),
                    };
                    if *offset >= 0 {
                        *offset += 1;
                    }
                }
                Some(Err(code)) if !failed.iter().any(|(q, _)| *q == p) => failed.push((p, *code)),
                Some(Err(_)) => {}
                // no answer for the partition: the crate knew no leader for it
                None if !failed.iter().any(|(q, _)| *q == p) => {
                    failed.push((p, codes::LEADER_NOT_AVAILABLE))
                }
                None => {}
            }
        }
        let sent = |landed: &[Landed]| landed.iter().filter(|l| l.partition >= 0).count();
        for (partition, code) in failed {
            let mine: Vec<usize> = indices
                .iter()
                .copied()
                .filter(|&i| placed[i] == partition)
                .collect();
            if code == codes::MESSAGE_TOO_LARGE && mine.len() > 1 {
                // Halves in order: the first is acknowledged before the second goes.
                let (a, b) = mine.split_at(mine.len() / 2);
                self.send_indices(records, placed, a, landed)?;
                self.send_indices(records, placed, b, landed)?;
                continue;
            }
            let record = (code == codes::MESSAGE_TOO_LARGE).then_some(mine[0]);
            let error = match code {
                codes::MESSAGE_TOO_LARGE => {
                    let r = &records[mine[0]];
                    Error::Data {
                        message: format!(
                            "a record of {} bytes is over the size limit of topic '{}' (max.message.bytes)",
                            r.key.len() + r.value.len(),
                            self.topic
                        ),
                        hint: Some(hints::raise_max_message_bytes()),
                    }
                }
                code => codes::partition_error(code, &self.topic, partition, &self.brokers)
                    .for_operation("write", "Write"),
            };
            return Err(SendError {
                sent: sent(landed),
                record,
                retriable: codes::leader_trouble(code),
                error,
            });
        }
        Ok(())
    }
}

impl Producer {
    /// One `send_all` of the chosen records on the worker, waiting at most
    /// `--timeout` for it (the broker's ack timeout is shorter).
    fn send_all(
        &mut self,
        records: &Arc<[OutRecord]>,
        placed: &[i32],
        indices: &[usize],
    ) -> Result<Acked> {
        if matches!(&self.backend, Backend::Classic(inner) if !inner.alive()) {
            self.rebuild()?;
        }
        let inner = match &mut self.backend {
            Backend::Classic(inner) => inner,
            Backend::Modern(leaders) => {
                let now = epoch_millis(SystemTime::now());
                // A view of the chosen records, not a list of them: the
                // batches are written straight from `records`.
                let headers: &[(String, Vec<u8>)] = &self.headers;
                let outgoing = |k: usize| {
                    let i = indices[k];
                    Outgoing {
                        partition: placed[i],
                        key: &records[i].key,
                        value: Some(&records[i].value),
                        headers,
                        timestamp_ms: now,
                    }
                };
                // Each partition's batch starts at its first pending record's
                // sequence number: the same numbers on every retry.
                let mut identities = HashMap::new();
                if let Some(idem) = &self.idempotence {
                    for &i in indices {
                        identities.entry(placed[i]).or_insert(BatchIdentity {
                            producer_id: idem.producer_id,
                            producer_epoch: idem.epoch,
                            base_sequence: idem.assigned[i],
                            transactional: false,
                        });
                    }
                }
                // A duplicate (a batch written by an earlier attempt) comes
                // back as written, with its offset if the broker still knew it.
                return modern::produce::send(
                    leaders,
                    &self.topic,
                    indices.len(),
                    outgoing,
                    self.acks.code(),
                    self.config.timeout,
                    self.compression.batch_codec(),
                    &identities,
                    None,
                    &mut self.batches,
                );
            }
        };
        let (records, topic) = (records.clone(), self.topic.clone());
        let chosen: Vec<(usize, i32)> = indices.iter().map(|&i| (i, placed[i])).collect();
        let answer = inner.run(Deadline::after(self.config.timeout), move |producer| {
            let producer = producer.as_mut().ok_or(KafkaError::NoHostReachable)?;
            let batch: Vec<Record<'_, &[u8], &[u8]>> = chosen
                .iter()
                .map(|&(i, p)| {
                    let r = &records[i];
                    Record::from_key_value(topic.as_str(), r.key.as_slice(), r.value.as_slice())
                        .with_partition(p)
                })
                .collect();
            producer.send_all(&batch)
        });
        let confirms: Vec<ProduceConfirm> = match answer {
            Ok(result) => result.map_err(|e| kafka_error(e, &self.brokers, &self.topic))?,
            Err(why) => return Err(abandoned(why, &self.brokers, self.config.timeout)),
        };
        Ok(confirms
            .into_iter()
            .flat_map(|c| c.partition_confirms)
            .map(|pc| (pc.partition, pc.offset.map_err(|code| code as i16)))
            .collect())
    }
}

/// Per partition: the base offset the broker gave the records sent to it
/// (-1: not known), or its error code.
type Acked = HashMap<i32, std::result::Result<i64, i16>>;

/// A producer for the cluster's data path, and the partition count of its
/// topic, on fresh metadata.
fn build(
    cluster: &mut Cluster,
    topic: &str,
    acks: Acks,
    compression: Compression,
) -> Result<(Backend, i32)> {
    let write = |e: Error| e.for_operation("write", "Write");
    let partitions = crate::client::admin::describe_topic(cluster, topic)
        .map_err(write)?
        .partitions
        .len() as i32;
    let brokers = cluster.config.display();
    if partitions == 0 {
        return Err(Error::broker_with_hint(
            format!("topic '{topic}' has no partitions in the metadata from {brokers}"),
            hints::topic_maybe_deleted(),
        ));
    }
    if cluster.data_path()? == DataPath::Modern {
        let leaders = Leaders::new(cluster, topic).map_err(write)?;
        return Ok((Backend::Modern(Box::new(leaders)), partitions));
    }
    let timeout = cluster.config.timeout;
    let mut client: KafkaClient = cluster.kafka_client()?;
    client.set_compression(
        compression
            .codec()
            .unwrap_or(kafka::client::Compression::NONE),
    );
    let mut inner: Inner = Worker::spawn("producer", None);
    let name = topic.to_string();
    let built = inner.run(Deadline::after(timeout), move |slot| {
        client.load_metadata(&[name.as_str()])?;
        // Every record carries its partition (see `send`), so the crate's own
        // partitioner, which would hash keys with XxHash32, never picks one.
        let producer = kafka::producer::Producer::from_client(client)
            .with_client_id(crate::client::connection::CLIENT_ID.into())
            .with_required_acks(acks.required())
            // The broker gives up before we do, so its answer can still arrive.
            .with_ack_timeout((timeout * 3 / 4).max(Duration::from_millis(500)))
            .create()?;
        *slot = Some(producer);
        Ok::<(), KafkaError>(())
    });
    match built {
        Ok(result) => result.map_err(|e| kafka_error(e, &brokers, topic))?,
        Err(why) => return Err(abandoned(why, &brokers, timeout)),
    }
    Ok((Backend::Classic(inner), partitions))
}

/// A failed send: the error, and how many records of the batch were
/// acknowledged before it.
#[derive(Debug)]
pub struct SendError {
    pub sent: usize,
    /// Worth trying again on fresh metadata (leader moved, broker down).
    pub retriable: bool,
    /// Index of the record that failed, when one record is to blame.
    pub record: Option<usize>,
    pub error: Error,
}

impl From<SendError> for Error {
    fn from(e: SendError) -> Error {
        e.error
    }
}

/// The partition the Java client picks for a key: murmur2, made positive,
/// modulo the partition count.
pub fn murmur2_partition(key: &[u8], partitions: i32) -> i32 {
    ((murmur2(key) & 0x7fff_ffff) as i32) % partitions.max(1)
}

/// Kafka's `Utils.murmur2` (seed 0x9747b28c), bit for bit.
pub fn murmur2(data: &[u8]) -> u32 {
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h: u32 = 0x9747_b28c ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= (rest[2] as u32) << 16;
    }
    if rest.len() >= 2 {
        h ^= (rest[1] as u32) << 8;
    }
    if !rest.is_empty() {
        h ^= rest[0] as u32;
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_kafkas_test_vectors() {
        // From Apache Kafka's UtilsTest.testMurmur2.
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973932308),
            (b"foobar", -790332482),
            (b"a-little-bit-long-string", -985981536),
            (b"a-little-bit-longer-string", -1486304829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58897971,
            ),
            (b"abc", 479470107),
        ];
        for (data, want) in cases {
            assert_eq!(
                murmur2(data) as i32,
                want,
                "{}",
                String::from_utf8_lossy(data)
            );
        }
    }

    #[test]
    fn sequences_wrap_to_zero_after_i32_max() {
        assert_eq!(next_sequence(0, 1), 1);
        assert_eq!(next_sequence(41, 10), 51);
        assert_eq!(next_sequence(i32::MAX - 1, 1), i32::MAX);
        assert_eq!(next_sequence(i32::MAX, 1), 0);
        assert_eq!(next_sequence(i32::MAX, 5), 4);
        assert_eq!(next_sequence(i32::MAX - 2, 5), 2);
        assert_eq!(next_sequence(i32::MAX, 0), i32::MAX);
        assert_eq!(next_sequence(0, i32::MAX), i32::MAX);
        assert_eq!(next_sequence(1, i32::MAX), 0);
    }

    #[test]
    fn each_partition_numbers_its_records_and_wraps() {
        let mut idem = Idempotence::new(7, 0);
        idem.next.insert(2, i32::MAX - 1);
        idem.assign(&[0, 2, 0, 2, 2, 1]);
        assert_eq!(idem.assigned, [0, i32::MAX - 1, 1, i32::MAX, 0, 0]);
        assert_eq!(idem.next[&0], 2);
        assert_eq!(idem.next[&1], 1);
        assert_eq!(idem.next[&2], 1);
        idem.assign(&[0]);
        assert_eq!(idem.assigned, [2]);
    }

    #[test]
    fn a_send_in_doubt_bumps_the_epoch_and_starts_sequences_at_zero() {
        let mut idem = Idempotence::new(7, 3);
        idem.assign(&[0, 0, 0, 1]);
        // The send gives up: records 0..3 may be on the broker at 0, 1, 2.
        idem.bump();
        assert_eq!((idem.producer_id, idem.epoch, idem.renew), (7, 4, false));
        // Nothing in doubt is handed out again: every partition from 0,
        // under the new epoch, which the leaders take as a fresh start.
        idem.assign(&[1, 0, 0]);
        assert_eq!(idem.assigned, [0, 0, 1]);
        assert_eq!(idem.next[&0], 2);
    }

    #[test]
    fn a_spent_epoch_asks_for_a_new_producer_id() {
        let mut idem = Idempotence::new(7, i16::MAX - 1);
        idem.bump();
        assert_eq!((idem.epoch, idem.renew), (i16::MAX, false));
        idem.bump();
        // Never a negative epoch: the next send first gets a new producer id.
        assert_eq!((idem.epoch, idem.renew), (i16::MAX, true));
        assert!(idem.next.is_empty());
    }

    #[test]
    fn acks_parse() {
        assert_eq!("0".parse::<Acks>(), Ok(Acks::None));
        assert_eq!("1".parse::<Acks>(), Ok(Acks::Leader));
        assert_eq!("all".parse::<Acks>(), Ok(Acks::All));
        assert!("2".parse::<Acks>().is_err());
    }

    #[test]
    fn compression_parses_and_names_itself() {
        for c in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            assert_eq!(c.name().parse::<Compression>(), Ok(c));
        }
        assert!("brotli".parse::<Compression>().is_err());
    }
}
