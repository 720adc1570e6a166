//! Reading an assigned set of partitions from chosen offsets with the
//! `kafka` crate's fetch, one partition's error at a time (the crate's own
//! `Consumer` drops a whole round on any partition error). A consumer
//! group, or the plain consumer, decides which partitions and offsets.
//! The crate's client runs on a worker (client::classic), so a frozen
//! broker costs `--timeout`, not the crate's 120 s.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use kafka::client::fetch::Response as FetchResponse;
use kafka::client::{FetchOffset, FetchPartition, KafkaClient};
use kafka::error::Error as KafkaError;

use crate::client::classic::{abandoned, kafka_error, Worker};
use crate::client::cluster::DataPath;
use crate::client::cluster::{BrokerConfig, Cluster};
use crate::client::codes;
use crate::client::deadline::interrupted;
use crate::client::deadline::Deadline;
use crate::client::list_offsets::{self, At};
pub use crate::client::modern::fetch::Isolation;
use crate::client::modern::{self, leaders::Leaders};

use crate::client::retry::{retriable, Retry, RETRY_FOR};
use crate::error::{Error, Result};

/// A record as read from a partition, owning its bytes.
#[derive(Debug, Clone, Default)]
pub struct Consumed {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    /// When the record has one (record batches; message format v0 has none).
    pub timestamp: Option<Timestamp>,
    /// Record headers, in order (record batches only).
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// Record batches only: the producer id (-1: a plain producer's) and
    /// whether a transaction wrote it.
    pub producer: Option<(i64, bool)>,
}

/// A record's timestamp: milliseconds since the epoch, and who set it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp {
    pub ms: i64,
    /// The broker's append time (topic setting LogAppendTime) rather than
    /// the producer's CreateTime.
    pub log_append: bool,
}

/// Where to start a partition that has no committed offset (or an offset
/// the broker no longer has).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    Earliest,
    Latest,
}

/// How long the broker may hold a fetch open waiting for data: the bound on
/// how late Ctrl-C and heartbeats are noticed.
const FETCH_WAIT: Duration = Duration::from_millis(250);
const FETCH_BYTES: i32 = 256 * 1024;
const FETCH_BYTES_MAX: i32 = 64 * 1024 * 1024;

/// What fetches: the `kafka` crate's client on its worker (Kafka 0.11 to
/// 3.9), or record batches over our own connections to each leader.
enum Backend {
    Classic(Worker<KafkaClient>),
    Modern(Box<Leaders>),
}

pub struct Reader {
    backend: Backend,
    crc_check: bool,
    config: BrokerConfig,
    /// Retries of fetching that failed for reasons a broker coming back cures.
    trouble: Option<Retry>,
    topic: String,
    brokers: String,
    reset: StartAt,
    /// Next offset to fetch, per assigned partition.
    fetch_at: BTreeMap<i32, i64>,
    /// Highest offset + 1 the broker has (its high watermark), once known.
    end: HashMap<i32, i64>,
    fetch_bytes: HashMap<i32, i32>,
    /// Per-partition fetch size before any record forced it up.
    fetch_default: i32,
    isolation: Isolation,
    /// Classic path: record-batch fetches to look past transaction markers.
    probe: Option<Box<Leaders>>,
    /// Modern path: which broker last answered for a partition, for errors.
    answered_by: HashMap<i32, String>,
}

/// A fetched record, borrowed from the broker's response (see `poll_each`).
pub struct Fetched<'a> {
    pub partition: i32,
    pub offset: i64,
    pub key: &'a [u8],
    pub value: &'a [u8],
    pub timestamp: Option<Timestamp>,
    pub headers: &'a [(String, Option<bytes::Bytes>)],
    /// The producer id of its batch, where the format has one (-1: a plain
    /// producer's), and whether a transaction wrote it.
    pub producer: Option<(i64, bool)>,
}

impl Reader {
    /// A reader of `partitions` of `topic`, starting at `committed` offsets
    /// where there are some, else at `reset`.
    pub fn new(
        cluster: &Cluster,
        topic: &str,
        partitions: &[i32],
        committed: &HashMap<i32, i64>,
        reset: StartAt,
    ) -> Result<Reader> {
        let brokers = cluster.config.display();
        let backend = fetch_backend(cluster, topic, FETCH_BYTES, true)?;
        let mut reader = Reader {
            backend,
            crc_check: true,
            config: cluster.config.clone(),
            trouble: None,
            topic: topic.to_string(),
            brokers,
            reset,
            fetch_at: BTreeMap::new(),
            end: HashMap::new(),
            fetch_bytes: HashMap::new(),
            fetch_default: FETCH_BYTES,
            isolation: Isolation::default(),
            probe: None,
            answered_by: HashMap::new(),
        };
        reader.assign(partitions, committed)?;
        Ok(reader)
    }

    /// Asks for up to `bytes` per partition in each fetch (1 MiB by default;
    /// a record larger than that still doubles it as needed).
    pub fn set_fetch_bytes(&mut self, bytes: i32) {
        self.fetch_default = bytes.clamp(1024, FETCH_BYTES_MAX);
        let bytes = self.fetch_default;
        let deadline = self.deadline();
        // A worker that is gone gets the setting when it is rebuilt; the
        // modern path sends each partition's size with every fetch.
        if let Backend::Classic(client) = &mut self.backend {
            let _ = client.run(deadline, move |c| {
                c.set_fetch_max_bytes_per_partition(bytes)
            });
        }
    }

    /// Which records it reads: read_committed skips those of aborted
    /// transactions and stops at the last stable offset (`at_end` then
    /// means "read up to it"). The modern data path only: message format
    /// v0 knows no transactions, so the classic path refuses it.
    pub fn set_isolation(&mut self, isolation: Isolation) -> Result<()> {
        if isolation == Isolation::ReadCommitted && matches!(self.backend, Backend::Classic(_)) {
            return Err(Error::Usage(
                crate::error::hints::read_committed_needs_modern(),
            ));
        }
        self.isolation = isolation;
        Ok(())
    }

    /// Whether each record's CRC is checked (on by default). The `kafka`
    /// crate's check costs most of a fetch's client CPU (docs/performance.md).
    pub fn set_crc_check(&mut self, check: bool) {
        self.crc_check = check;
        let deadline = self.deadline();
        // The modern path checks each batch's CRC-32C as it reads it
        // (compressed batches always: kafka-protocol unpacks those).
        if let Backend::Classic(client) = &mut self.backend {
            let _ = client.run(deadline, move |c| c.set_fetch_crc_validation(check));
        }
    }

    /// How long one request on the worker may take: `--timeout`, plus the
    /// time the broker may hold a fetch open.
    fn deadline(&self) -> Deadline {
        Deadline::after(self.config.timeout + FETCH_WAIT)
    }

    /// Replaces the assignment (a group rebalance hands over a new set).
    pub fn assign(&mut self, partitions: &[i32], committed: &HashMap<i32, i64>) -> Result<()> {
        let missing: Vec<i32> = partitions
            .iter()
            .copied()
            .filter(|p| !committed.contains_key(p))
            .collect();
        let resets = if missing.is_empty() {
            HashMap::new()
        } else {
            // A partition without a leader (a failover under way) is left
            // out of the answer: asked again on fresh metadata.
            loop {
                let found = self.offsets(self.reset)?;
                match missing.iter().find(|p| !found.contains_key(p)) {
                    None => break found,
                    Some(p) => {
                        let why = codes::partition_error(
                            codes::LEADER_NOT_AVAILABLE,
                            &self.topic,
                            *p,
                            &self.brokers,
                        );
                        self.reconnect(why)?;
                    }
                }
            }
        };
        self.fetch_at.clear();
        self.end.clear();
        for &p in partitions {
            let at = committed
                .get(&p)
                .or_else(|| resets.get(&p))
                .copied()
                .ok_or_else(|| {
                    Error::broker(format!(
                        "topic '{}' partition {p} has no leader at {}",
                        self.topic, self.brokers
                    ))
                })?;
            self.fetch_at.insert(p, at);
        }
        Ok(())
    }

    /// The earliest or latest offset of every partition of the topic that
    /// has a leader. A lost leader, or one the metadata names a moment
    /// before it takes up the leadership, is ridden out as in a fetch
    /// (`reconnect`, within RETRY_FOR): a reader started right after a
    /// failover waits for the new leader instead of failing.
    pub fn offsets(&mut self, at: StartAt) -> Result<HashMap<i32, i64>> {
        loop {
            match self.ask_offsets(at)? {
                Ok(found) => return Ok(found),
                Err(why) => self.reconnect(why)?,
            }
        }
    }

    /// One ask of `offsets`: Ok(Err(why)) for trouble a leader change
    /// explains.
    fn ask_offsets(
        &mut self,
        at: StartAt,
    ) -> Result<std::result::Result<HashMap<i32, i64>, Error>> {
        let deadline = self.deadline();
        let client = match &mut self.backend {
            Backend::Classic(client) => client,
            Backend::Modern(_) => {
                // Our own ListOffsets v1+, which every modern broker takes.
                let mut cluster = Cluster::connect(&self.config)?;
                let which = match at {
                    StartAt::Earliest => At::Earliest,
                    StartAt::Latest => At::Latest,
                };
                // (waits out elections itself)
                let found = list_offsets::offsets_at(&mut cluster, &self.topic, which)?;
                return Ok(Ok(found.into_iter().collect()));
            }
        };
        let which = match at {
            StartAt::Earliest => FetchOffset::Earliest,
            StartAt::Latest => FetchOffset::Latest,
        };
        let topic = self.topic.clone();
        let answer = match client.run(deadline, move |c| c.fetch_offsets(&[topic.as_str()], which))
        {
            Ok(answer) => answer,
            Err(why) => return Ok(Err(abandoned(why, &self.brokers, self.config.timeout))),
        };
        let offsets = match answer {
            Ok(offsets) => offsets,
            Err(e) => {
                let change = leader_change(&e);
                let e = kafka_error(e, &self.brokers, &self.topic);
                return if change { Ok(Err(e)) } else { Err(e) };
            }
        };
        Ok(Ok(offsets
            .get(&self.topic)
            .map(|ps| ps.iter().map(|p| (p.partition, p.offset)).collect())
            .unwrap_or_default()))
    }

    /// The next offset it fetches from `partition`, if assigned.
    pub fn next_offset(&self, partition: i32) -> Option<i64> {
        self.fetch_at.get(&partition).copied()
    }

    /// True once every assigned partition has been read to the high
    /// watermark the broker last reported. A cheap hint (is the reader
    /// live?); before stopping for good, ask `at_end_confirmed`.
    pub fn at_end(&self) -> bool {
        self.fetch_at
            .iter()
            .all(|(p, at)| self.end.get(p).is_some_and(|end| at >= end))
    }

    /// `at_end`, with the end asked of each leader once it seems reached:
    /// a fetch answer from a leader elected a moment ago can report a high
    /// watermark behind what was acknowledged before (see
    /// `list_offsets::log_ends`), and stopping there (`--exit-at-end`)
    /// would leave acknowledged records unread. Where the leaders know a
    /// farther end, reading goes on to it.
    pub fn at_end_confirmed(&mut self) -> Result<bool> {
        if !self.at_end() {
            return Ok(false);
        }
        let mut cluster = Cluster::connect(&self.config)?;
        let read_committed = self.isolation == Isolation::ReadCommitted;
        let ends = list_offsets::log_ends(&mut cluster, &self.topic, read_committed)?;
        for (p, end) in ends {
            if self.fetch_at.contains_key(&p) {
                let known = self.end.entry(p).or_insert(end);
                if end > *known {
                    log::info!(
                        "topic '{}' partition {p}: its leader reported the end at {known}, ListOffsets at {end}; reading on",
                        self.topic
                    );
                    *known = end;
                }
            }
        }
        Ok(self.at_end())
    }

    /// One fetch round over all assigned partitions; returns the records
    /// in offset order per partition (possibly none, after FETCH_WAIT).
    pub fn poll(&mut self) -> Result<Vec<Consumed>> {
        let mut out = Vec::new();
        let topic = self.topic.clone();
        self.poll_each(|r| {
            out.push(Consumed {
                topic: topic.clone(),
                partition: r.partition,
                offset: r.offset,
                key: r.key.to_vec(),
                value: r.value.to_vec(),
                timestamp: r.timestamp,
                headers: r
                    .headers
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_ref().map(|v| v.to_vec())))
                    .collect(),
                producer: r.producer,
            })
        })?;
        Ok(out)
    }

    /// One fetch round like `poll`, handing each record to `f` as it is
    /// parsed instead of copying it out; returns how many there were.
    pub fn poll_each(&mut self, mut f: impl FnMut(Fetched<'_>)) -> Result<usize> {
        if self.fetch_at.is_empty() {
            std::thread::sleep(FETCH_WAIT);
            return Ok(0);
        }
        let round = match self.backend {
            Backend::Classic(_) => self.round_classic(&mut f)?,
            Backend::Modern(_) => self.round_modern(&mut f)?,
        };
        let Some(Round {
            count,
            stalled,
            failures,
            fetched,
        }) = round
        else {
            return Ok(0);
        };
        if fetched && failures.is_empty() && self.trouble.take().is_some_and(|r| r.warned()) {
            log::warn!("reading topic '{}' again", self.topic);
        }
        for (partition, code) in failures {
            self.recover(partition, code)?;
        }
        for partition in stalled {
            if self.past_markers(partition) {
                continue;
            }
            let bytes = self
                .fetch_bytes
                .entry(partition)
                .or_insert(self.fetch_default);
            // No error at the cap on the classic path: a partition can also
            // stall on records a v0 fetch cannot show (transaction markers)
            // and must wait then.
            if *bytes < FETCH_BYTES_MAX {
                *bytes = (*bytes * 2).min(FETCH_BYTES_MAX);
                log::debug!(
                    "topic '{}' partition {partition}: nothing fits in the fetch size; now {} bytes",
                    self.topic,
                    *bytes
                );
            } else if let Backend::Modern(_) = self.backend {
                // Record batches show markers, and a batch announced as
                // larger than the cap is refused when read (batch::read):
                // a batch that fits and still comes back cut short is the
                // broker's doing, and would stall the partition for ever.
                let at = self.fetch_at.get(&partition).copied().unwrap_or(-1);
                return Err(Error::broker(format!(
                    "cannot read topic '{}' partition {partition} from {}: the batch at offset {at} comes back cut short in a fetch of {} MiB, more than it announces",
                    self.topic,
                    self.broker_of(partition),
                    FETCH_BYTES_MAX / (1024 * 1024)
                )));
            }
        }
        Ok(count)
    }

    /// Classic path: a v0 fetch never shows transaction markers (the broker
    /// leaves them out when it converts batches down), so a partition whose
    /// next records are markers would stall below its high watermark for
    /// ever (and `--exit-at-end` never end). One record-batch fetch at that
    /// offset tells: when it holds whole batches but no record, they are
    /// markers, and reading goes on after them. False when that is not the
    /// case (a record larger than the fetch size) or cannot be known.
    fn past_markers(&mut self, partition: i32) -> bool {
        if !matches!(self.backend, Backend::Classic(_)) {
            return false;
        }
        let Some(&at) = self.fetch_at.get(&partition) else {
            return false;
        };
        let probe = match self.probe.as_mut() {
            Some(leaders) => leaders,
            None => {
                let leaders = Cluster::connect(&self.config)
                    .and_then(|mut cluster| Leaders::new(&mut cluster, &self.topic));
                match leaders {
                    Ok(l) => self.probe.insert(Box::new(l)),
                    Err(e) => {
                        log::debug!("topic '{}': cannot look past markers: {e}", self.topic);
                        return false;
                    }
                }
            }
        };
        let answers = modern::fetch::fetch(
            probe,
            &self.topic,
            &[(partition, at, FETCH_BYTES)],
            Duration::ZERO,
            self.config.timeout,
            Isolation::ReadUncommitted,
        );
        let Some(answer) = answers.ok().and_then(|a| a.into_iter().next()) else {
            return false;
        };
        let mut records = 0;
        match answer.read(&self.topic, at, false, |_| records += 1) {
            Ok(next) if records == 0 && next > at => {
                log::debug!(
                    "topic '{}' partition {partition}: transaction markers from offset {at} to {next}, read on after them",
                    self.topic
                );
                self.fetch_at.insert(partition, next);
                true
            }
            _ => false,
        }
    }

    /// One fetch with the `kafka` crate; None when it failed and the
    /// reader reconnected (the caller reports no records this round).
    fn round_classic(&mut self, f: &mut impl FnMut(Fetched<'_>)) -> Result<Option<Round>> {
        let responses = match self.fetch() {
            Ok(r) => r,
            Err(e) if retriable(&e) => {
                self.reconnect(e)?;
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let mut count = 0;
        // Partitions with records to read that yielded none: a fetch v0 is
        // cut at the byte limit, so a batch larger than it comes back empty.
        let mut stalled = Vec::new();
        let mut failures: Vec<(i32, i16)> = Vec::new();
        let mut fetched = false;
        for response in &responses {
            for t in response.topics() {
                for p in t.partitions() {
                    let partition = p.partition();
                    let Some(&at) = self.fetch_at.get(&partition) else {
                        continue;
                    };
                    match p.data() {
                        Ok(data) => {
                            fetched = true;
                            self.end.insert(partition, data.highwatermark_offset());
                            let mut next = at;
                            for m in data.messages() {
                                // compressed sets may start before the asked offset
                                if m.offset < at {
                                    continue;
                                }
                                next = m.offset + 1;
                                count += 1;
                                f(Fetched {
                                    partition,
                                    offset: m.offset,
                                    key: m.key,
                                    value: m.value,
                                    timestamp: None,
                                    headers: &[],
                                    producer: None,
                                });
                            }
                            self.fetch_at.insert(partition, next);
                            if next == at && at < data.highwatermark_offset() {
                                stalled.push(partition);
                            }
                        }
                        Err(e) => match &*e {
                            KafkaError::Kafka(code) => failures.push((partition, *code as i16)),
                            KafkaError::TopicPartitionError { error_code, .. } => {
                                failures.push((partition, *error_code as i16))
                            }
                            other => {
                                return Err(Error::broker(format!(
                                    "topic '{}' partition {partition} at {}: {other}",
                                    self.topic, self.brokers
                                )))
                            }
                        },
                    }
                }
            }
        }
        // The crate silently skips partitions it knows no leader for.
        let answered: Vec<i32> = responses
            .iter()
            .flat_map(|r| {
                r.topics()
                    .iter()
                    .flat_map(|t| t.partitions().iter().map(|p| p.partition()))
            })
            .collect();
        for &p in self.fetch_at.keys() {
            if !answered.contains(&p) && !failures.iter().any(|(q, _)| *q == p) {
                failures.push((p, codes::LEADER_NOT_AVAILABLE));
            }
        }
        Ok(Some(Round {
            count,
            stalled,
            failures,
            fetched,
        }))
    }

    /// One fetch of record batches from each leader (client::modern).
    fn round_modern(&mut self, f: &mut impl FnMut(Fetched<'_>)) -> Result<Option<Round>> {
        let fetch_default = self.fetch_default;
        let wanted: Vec<(i32, i64, i32)> = self
            .fetch_at
            .iter()
            .map(|(&p, &at)| (p, at, *self.fetch_bytes.get(&p).unwrap_or(&fetch_default)))
            .collect();
        let Backend::Modern(leaders) = &mut self.backend else {
            return Ok(None);
        };
        let answers = match modern::fetch::fetch(
            leaders,
            &self.topic,
            &wanted,
            FETCH_WAIT,
            self.config.timeout,
            self.isolation,
        ) {
            Ok(a) => a,
            Err(e) if retriable(&e) => {
                self.reconnect(e)?;
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let (mut count, mut stalled, mut failures, mut fetched) =
            (0, Vec::new(), Vec::new(), false);
        for answer in &answers {
            let partition = answer.partition;
            let Some(&at) = self.fetch_at.get(&partition) else {
                continue;
            };
            if answer.error_code != 0 {
                failures.push((partition, answer.error_code));
                continue;
            }
            fetched = true;
            self.end.insert(partition, answer.high_watermark);
            // The records are parsed as they are handed to `f`, borrowed
            // from the answer: nothing is built per record.
            let (mut next, mut records) = (at, 0);
            let read = answer.read(&self.topic, at, self.crc_check, |r| {
                next = r.offset + 1;
                records += 1;
                f(Fetched {
                    partition,
                    offset: r.offset,
                    key: r.key.unwrap_or_default(),
                    value: r.value.unwrap_or_default(),
                    timestamp: Some(Timestamp {
                        ms: r.timestamp,
                        log_append: r.log_append_time,
                    }),
                    headers: r.headers,
                    producer: Some((r.producer_id, r.transactional)),
                })
            });
            count += records;
            let end = match read {
                Ok(end) => end,
                Err(e) => {
                    // What `f` was given stays given: a caller that goes on
                    // after the error does not see those records again.
                    self.fetch_at.insert(partition, next);
                    return Err(e);
                }
            };
            // Past transaction markers and skipped batches too: continue
            // where the answer's whole batches end.
            self.fetch_at.insert(partition, next.max(end));
            if answer.too_small(at, records, end) {
                stalled.push(partition);
                self.answered_by.insert(partition, answer.broker.clone());
            }
        }
        Ok(Some(Round {
            count,
            stalled,
            failures,
            fetched,
        }))
    }

    /// One fetch of every assigned partition on the worker.
    fn fetch(&mut self) -> Result<Vec<FetchResponse>> {
        let deadline = self.deadline();
        let client = match &mut self.backend {
            Backend::Classic(client) if client.alive() => client,
            _ => {
                return Err(Error::Unreachable {
                    addr: self.brokers.clone(),
                    reason: "the connection was lost".into(),
                })
            }
        };
        let fetch_default = self.fetch_default;
        let wanted: Vec<(i32, i64, i32)> = self
            .fetch_at
            .iter()
            .map(|(&p, &at)| (p, at, *self.fetch_bytes.get(&p).unwrap_or(&fetch_default)))
            .collect();
        let topic = self.topic.clone();
        client
            .run(deadline, move |c| {
                c.fetch_messages(
                    wanted.iter().map(|&(p, at, max)| {
                        FetchPartition::new(&topic, p, at).with_max_bytes(max)
                    }),
                )
            })
            .map_err(|why| abandoned(why, &self.brokers, self.config.timeout))?
            .map_err(|e| match e {
                e @ (KafkaError::Io(_) | KafkaError::NoHostReachable) => Error::Unreachable {
                    addr: self.brokers.clone(),
                    reason: kafka_error(e, &self.brokers, &self.topic).to_string(),
                },
                e => kafka_error(e, &self.brokers, &self.topic),
            })
    }

    /// Rides out a leader change or a broker restart: a fresh client on
    /// fresh metadata, retried (client::retry) for up to RETRY_FOR, after
    /// which `why` is the error.
    fn reconnect(&mut self, why: Error) -> Result<()> {
        if matches!(why, Error::Interrupted) {
            return Err(why);
        }
        let retry = self.trouble.get_or_insert_with(|| Retry::within(RETRY_FOR));
        if !retry.again(&why) {
            return Err(if interrupted() {
                Error::Interrupted
            } else {
                why
            });
        }
        let fresh = match &mut self.backend {
            // Leaders and connections to the healthy ones are kept.
            Backend::Modern(leaders) => leaders.refresh(),
            Backend::Classic(_) => Cluster::connect(&self.config)
                .and_then(|c| fetch_backend(&c, &self.topic, self.fetch_default, self.crc_check))
                .map(|backend| self.backend = backend),
        };
        match fresh {
            Ok(()) => {}
            Err(Error::Interrupted) => return Err(Error::Interrupted),
            // A broker that came back as Kafka 4.x will not take us later either.
            Err(e @ Error::VersionRefused { .. }) => return Err(e),
            Err(e) => log::info!("{e}; still reconnecting"),
        }
        Ok(())
    }

    /// The broker that last answered for `partition` (modern path), else `--brokers`.
    fn broker_of(&self, partition: i32) -> &str {
        self.answered_by
            .get(&partition)
            .map_or(self.brokers.as_str(), String::as_str)
    }

    fn recover(&mut self, partition: i32, code: i16) -> Result<()> {
        match code {
            codes::OFFSET_OUT_OF_RANGE => {
                let to = self.offsets(self.reset)?;
                let at = to.get(&partition).copied().unwrap_or(0);
                log::warn!(
                    "topic '{}' partition {partition}: offset {} is gone; continuing at {at}",
                    self.topic,
                    self.fetch_at.get(&partition).copied().unwrap_or(-1)
                );
                self.fetch_at.insert(partition, at);
                Ok(())
            }
            codes::MESSAGE_TOO_LARGE => {
                let bytes = self
                    .fetch_bytes
                    .entry(partition)
                    .or_insert(self.fetch_default);
                if *bytes >= FETCH_BYTES_MAX {
                    return Err(Error::Data {
                        message: format!(
                            "topic '{}' partition {partition} holds a record over {} MiB",
                            self.topic,
                            FETCH_BYTES_MAX / (1024 * 1024)
                        ),
                        hint: None,
                    });
                }
                *bytes *= 2;
                Ok(())
            }
            code if codes::leader_trouble(code) => {
                let why = codes::partition_error(code, &self.topic, partition, &self.brokers);
                self.reconnect(why)
            }
            code => Err(
                codes::partition_error(code, &self.topic, partition, &self.brokers)
                    .for_operation("read", "Read"),
            ),
        }
    }
}

/// Whether a `kafka` crate error is one a leader change explains (a lost
/// connection, or an answer such as NOT_LEADER_OR_FOLLOWER).
fn leader_change(e: &KafkaError) -> bool {
    match e {
        KafkaError::Io(_) | KafkaError::NoHostReachable => true,
        KafkaError::Kafka(code) => codes::leader_trouble(*code as i16),
        KafkaError::TopicPartitionError { error_code, .. } => {
            codes::leader_trouble(*error_code as i16)
        }
        _ => false,
    }
}

/// What one fetch round found, before the per-partition follow-ups.
struct Round {
    count: usize,
    /// Partitions with records to read that yielded none (fetch size too small).
    stalled: Vec<i32>,
    failures: Vec<(i32, i16)>,
    /// Whether any partition answered without error.
    fetched: bool,
}

/// The fetching side of the cluster's data path (client::cluster::DataPath).
fn fetch_backend(
    cluster: &Cluster,
    topic: &str,
    fetch_bytes: i32,
    crc_check: bool,
) -> Result<Backend> {
    match cluster.data_path()? {
        DataPath::Modern => {
            let mut own = Cluster::connect(&cluster.config)?;
            let leaders =
                Leaders::new(&mut own, topic).map_err(|e| e.for_operation("read", "Read"))?;
            Ok(Backend::Modern(Box::new(leaders)))
        }
        _ => fetch_client(cluster, topic, fetch_bytes, crc_check).map(Backend::Classic),
    }
}

/// A `kafka` crate client set up for fetching `topic`, on its worker.
fn fetch_client(
    cluster: &Cluster,
    topic: &str,
    fetch_bytes: i32,
    crc_check: bool,
) -> Result<Worker<KafkaClient>> {
    let brokers = cluster.config.display();
    let timeout = cluster.config.timeout;
    let mut worker = Worker::spawn("fetcher", cluster.kafka_client()?);
    let name = topic.to_string();
    worker
        .run(Deadline::after(timeout), move |client| {
            client.set_fetch_max_wait_time(FETCH_WAIT)?;
            client.set_fetch_min_bytes(1);
            client.set_fetch_max_bytes_per_partition(fetch_bytes);
            client.set_fetch_crc_validation(crc_check);
            client.load_metadata(&[name.as_str()])
        })
        .map_err(|why| abandoned(why, &brokers, timeout))?
        .map_err(|e| kafka_error(e, &brokers, topic))?;
    Ok(worker)
}
