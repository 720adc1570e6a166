//! Reading an assigned set of partitions from chosen offsets with the
//! `kafka` crate's fetch, one partition's error at a time (the crate's own
//! `Consumer` drops a whole round on any partition error). A consumer
//! group, or the plain consumer, decides which partitions and offsets.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use kafka::client::{FetchOffset, FetchPartition, KafkaClient};
use kafka::error::{Error as KafkaError, KafkaCode};

use crate::client::connection::{BrokerConfig, Cluster};
use crate::client::produce::{kafka_error, partition_error, retriable_code, DEFAULT_RETRY_FOR};
use crate::error::{Error, Result};
use crate::record::Consumed;

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
const FETCH_BYTES: i32 = 1024 * 1024;
const FETCH_BYTES_MAX: i32 = 64 * 1024 * 1024;

pub struct Reader {
    client: KafkaClient,
    config: BrokerConfig,
    /// Since when fetching has failed for reasons a broker coming back cures.
    trouble_since: Option<Instant>,
    /// Whether the trouble was reported (it is once it lasts).
    warned: bool,
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
}

/// A fetched record, borrowed from the broker's response (see `poll_each`).
pub struct Fetched<'a> {
    pub partition: i32,
    pub offset: i64,
    pub key: &'a [u8],
    pub value: &'a [u8],
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
        let client = fetch_client(cluster, topic)?;
        let mut reader = Reader {
            client,
            config: cluster.config.clone(),
            trouble_since: None,
            warned: false,
            topic: topic.to_string(),
            brokers,
            reset,
            fetch_at: BTreeMap::new(),
            end: HashMap::new(),
            fetch_bytes: HashMap::new(),
            fetch_default: FETCH_BYTES,
        };
        reader.assign(partitions, committed)?;
        Ok(reader)
    }

    /// Asks for up to `bytes` per partition in each fetch (1 MiB by default;
    /// a record larger than that still doubles it as needed).
    pub fn set_fetch_bytes(&mut self, bytes: i32) {
        self.fetch_default = bytes.clamp(1024, FETCH_BYTES_MAX);
        self.client
            .set_fetch_max_bytes_per_partition(self.fetch_default);
    }

    /// Whether each record's CRC is checked (on by default). The `kafka`
    /// crate's check costs most of a fetch's client CPU (docs/performance.md).
    pub fn set_crc_check(&mut self, check: bool) {
        self.client.set_fetch_crc_validation(check);
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
            self.offsets(self.reset)?
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

    /// The earliest or latest offset of every partition of the topic.
    pub fn offsets(&mut self, at: StartAt) -> Result<HashMap<i32, i64>> {
        let which = match at {
            StartAt::Earliest => FetchOffset::Earliest,
            StartAt::Latest => FetchOffset::Latest,
        };
        let offsets = self
            .client
            .fetch_offsets(&[self.topic.as_str()], which)
            .map_err(|e| kafka_error(e, &self.brokers, &self.topic))?;
        Ok(offsets
            .get(&self.topic)
            .map(|ps| ps.iter().map(|p| (p.partition, p.offset)).collect())
            .unwrap_or_default())
    }

    /// True once every assigned partition has been read to the high
    /// watermark the broker last reported.
    pub fn at_end(&self) -> bool {
        self.fetch_at
            .iter()
            .all(|(p, at)| self.end.get(p).is_some_and(|end| at >= end))
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
        let fetch_default = self.fetch_default;
        let requests: Vec<FetchPartition<'_>> = self
            .fetch_at
            .iter()
            .map(|(&p, &at)| {
                FetchPartition::new(&self.topic, p, at)
                    .with_max_bytes(*self.fetch_bytes.get(&p).unwrap_or(&fetch_default))
            })
            .collect();
        let responses = match self.client.fetch_messages(requests) {
            Ok(r) => r,
            Err(e @ (KafkaError::Io(_) | KafkaError::NoHostReachable)) => {
                let why = kafka_error(e, &self.brokers, &self.topic);
                self.reconnect(why)?;
                return Ok(0);
            }
            Err(e) => return Err(kafka_error(e, &self.brokers, &self.topic)),
        };
        let mut count = 0;
        // Partitions with records to read that yielded none: a fetch v0 is
        // cut at the byte limit, so a batch larger than it comes back empty.
        let mut stalled = Vec::new();
        let mut failures: Vec<(i32, KafkaCode)> = Vec::new();
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
                                });
                            }
                            self.fetch_at.insert(partition, next);
                            if next == at && at < data.highwatermark_offset() {
                                stalled.push(partition);
                            }
                        }
                        Err(e) => match &*e {
                            KafkaError::Kafka(code) => failures.push((partition, *code)),
                            KafkaError::TopicPartitionError { error_code, .. } => {
                                failures.push((partition, *error_code))
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
                failures.push((p, KafkaCode::LeaderNotAvailable));
            }
        }
        if fetched && failures.is_empty() && self.trouble_since.take().is_some() && self.warned {
            self.warned = false;
            log::warn!("reading topic '{}' again", self.topic);
        }
        for (partition, code) in failures {
            self.recover(partition, code)?;
        }
        for partition in stalled {
            let bytes = self
                .fetch_bytes
                .entry(partition)
                .or_insert(self.fetch_default);
            // No error at the cap: a partition can also stall on records a
            // v0 fetch cannot show (transaction markers) and must wait then.
            if *bytes < FETCH_BYTES_MAX {
                *bytes = (*bytes * 2).min(FETCH_BYTES_MAX);
                log::debug!(
                    "topic '{}' partition {partition}: nothing fits in the fetch size; now {} bytes",
                    self.topic,
                    *bytes
                );
            }
        }
        Ok(count)
    }

    /// Rides out a leader change or a broker restart: a fresh client on
    /// fresh metadata, retried every half second for up to DEFAULT_RETRY_FOR,
    /// after which `why` is the error.
    fn reconnect(&mut self, why: Error) -> Result<()> {
        let since = *self.trouble_since.get_or_insert_with(Instant::now);
        // Say nothing about a blip (a new topic's leader settling); say it once if it lasts.
        if !self.warned && since.elapsed() >= Duration::from_millis(1500) {
            self.warned = true;
            log::warn!("{why}; reconnecting");
        } else {
            log::info!("{why}; reconnecting");
        }
        if since.elapsed() > DEFAULT_RETRY_FOR {
            return Err(why);
        }
        std::thread::sleep(Duration::from_millis(500));
        match Cluster::connect(&self.config).and_then(|c| fetch_client(&c, &self.topic)) {
            Ok(client) => self.client = client,
            // A broker that came back as Kafka 4.x will not take us later either.
            Err(e @ Error::VersionRefused { .. }) => return Err(e),
            Err(e) => log::info!("{e}; still reconnecting"),
        }
        Ok(())
    }

    fn recover(&mut self, partition: i32, code: KafkaCode) -> Result<()> {
        match code {
            KafkaCode::OffsetOutOfRange => {
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
            KafkaCode::MessageSizeTooLarge => {
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
            code if retriable_code(code) => {
                let why = partition_error(code, &self.topic, partition, &self.brokers);
                self.reconnect(why)
            }
            code => Err(partition_error(code, &self.topic, partition, &self.brokers)),
        }
    }
}

/// A `kafka` crate client set up for fetching `topic`.
fn fetch_client(cluster: &Cluster, topic: &str) -> Result<KafkaClient> {
    let brokers = cluster.config.display();
    let mut client = cluster.kafka_client()?;
    client
        .set_fetch_max_wait_time(FETCH_WAIT)
        .map_err(|e| kafka_error(e, &brokers, topic))?;
    client.set_fetch_min_bytes(1);
    client.set_fetch_max_bytes_per_partition(FETCH_BYTES);
    client
        .load_metadata(&[topic])
        .map_err(|e| kafka_error(e, &brokers, topic))?;
    Ok(client)
}
