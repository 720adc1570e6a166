//! The threads behind `kafkademo bench`: producers and readers, one
//! connection each, lined up to start together and stopped together at the
//! first error or Ctrl-C; and the e2e pair, a paced producer and a reader
//! that times each record.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::ScopedJoinHandle;
use std::time::{Duration, Instant};

use crate::cli::BenchE2e;
use crate::client::cluster::{BrokerConfig, Cluster, DataPath};
use crate::client::fetch::{Reader, StartAt};
use crate::client::produce::{Acks, Compression, OutRecord, Producer};
use crate::error::{Error, Result};
use crate::signal::interrupted;

use super::progress::Progress;
use super::stats::Histogram;
use super::{per_sec, seed, BenchTopic, MIB};

/// What a produce request carries when `--batch` is not given.
const AUTO_BATCH_BYTES: u64 = 256 * 1024;
const AUTO_BATCH_MAX: u64 = 5000;
/// The modern path's cap. Its memory grows with the records a request
/// carries (each is in the bench's own batch, in the record batch and in
/// the request frame: nearly 4 times a 100 B record, per connection), and
/// past about 1000 records a request throughput gained little: 100 B
/// records, 4 connections, medians of 6 runs: 2621 a request 4.0 M
/// records/s at 11.3 MB peak RSS, 1000 3.8 M/s at 8.5 MB, 655 3.5 M/s at
/// 8.0 MB. At 1 KB the cap does not bite (256 records), and fewer records
/// a request cost more there (131: about a tenth slower).
const AUTO_BATCH_MAX_MODERN: u64 = 1000;
/// e2e: most records one request carries when the producer catches up.
const E2E_BATCH_MAX: u64 = 1000;
/// e2e value layout: due time (µs since the run's clock started), sequence
/// number, run id, then padding; all little-endian u64.
const E2E_HEADER: usize = 24;

// ---- workers ----------------------------------------------------------------

/// Lines the worker threads up so the clock starts when all are connected,
/// and stops them all at the first error or Ctrl-C.
#[derive(Default)]
struct Gate {
    ready: AtomicUsize,
    go: AtomicBool,
    stop: AtomicBool,
    error: Mutex<Option<Error>>,
}

impl Gate {
    fn fail(&self, e: Error) {
        let mut slot = self.error.lock().unwrap_or_else(|p| p.into_inner());
        slot.get_or_insert(e);
        self.stop.store(true, Ordering::SeqCst);
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || interrupted()
    }

    /// Waits for the start signal; false when the run was called off.
    fn arrive(&self) -> bool {
        self.ready.fetch_add(1, Ordering::SeqCst);
        while !self.go.load(Ordering::SeqCst) {
            if self.stopped() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }

    /// Waits until `n` workers arrived, then starts them; None if one failed.
    fn start(&self, n: usize) -> Option<Instant> {
        while self.ready.load(Ordering::SeqCst) < n {
            if self.stopped() {
                return None;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let start = Instant::now();
        self.go.store(true, Ordering::SeqCst);
        Some(start)
    }

    fn take_error(&self) -> Option<Error> {
        self.error.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// The run's outcome once every worker has stopped.
    fn outcome(&self) -> Result<()> {
        if let Some(e) = self.take_error() {
            return Err(e);
        }
        if interrupted() {
            return Err(Error::Interrupted);
        }
        Ok(())
    }
}

/// Joins scoped workers; a worker that panicked is reported, not re-raised.
fn join_all<T>(handles: Vec<ScopedJoinHandle<'_, Option<T>>>, gate: &Gate) -> Vec<T> {
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        match h.join() {
            Ok(Some(t)) => out.push(t),
            Ok(None) => {}
            Err(_) => gate.fail(Error::broker("a benchmark thread failed unexpectedly")),
        }
    }
    out
}

/// Waits for the workers while drawing progress from `done` of `total`.
fn watch(
    handles: &[ScopedJoinHandle<'_, impl Sized>],
    progress: &mut Progress,
    done: &AtomicU64,
    total: u64,
    bytes_per_record: f64,
    start: Instant,
    prefix: &str,
) {
    while !handles.iter().all(|h| h.is_finished()) {
        let n = done.load(Ordering::Relaxed);
        let secs = start.elapsed().as_secs_f64();
        let mut note = format!(
            "{prefix}{n}/{total} records, {:.0} records/s",
            per_sec(n as f64, secs)
        );
        if bytes_per_record > 0.0 {
            let mb = per_sec(n as f64 * bytes_per_record / MIB, secs);
            note.push_str(&format!(", {mb:.1} MB/s"));
        }
        progress.update(n as f64, total as f64, &note);
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The topic's partitions, or an error when the metadata shows none (a topic
/// being created or deleted can): every worker divides by their number.
fn partitions<'a>(topic: &'a BenchTopic, brokers: &BrokerConfig) -> Result<&'a [i32]> {
    if topic.partitions.is_empty() {
        return Err(Error::broker_with_hint(
            format!(
                "topic '{}' has no partitions in the metadata from {}",
                topic.name,
                brokers.display()
            ),
            format!(
                "a topic being created or deleted can show none for a moment; check it with `kafkademo topic describe {}`",
                topic.name
            ),
        ));
    }
    Ok(&topic.partitions)
}

/// Each connection's partitions: round-robin, and when there are more
/// connections than partitions, several connections share one.
fn shares(partitions: &[i32], connections: usize) -> Vec<Vec<i32>> {
    let n = connections.max(1);
    let mut out = vec![Vec::new(); n];
    for (i, &p) in partitions.iter().enumerate() {
        out[i % n].push(p);
    }
    if !partitions.is_empty() {
        for (i, share) in out.iter_mut().enumerate().skip(partitions.len()) {
            share.push(partitions[i % partitions.len()]);
        }
    }
    out
}

// ---- produce ----------------------------------------------------------------

pub(super) struct ProducePlan {
    pub(super) records: u64,
    pub(super) record_size: usize,
    pub(super) acks: Acks,
    pub(super) batch: usize,
    pub(super) compression: Compression,
    pub(super) connections: usize,
}

pub(super) struct ProduceRun {
    pub(super) records: u64,
    pub(super) elapsed: Duration,
    pub(super) latency: Histogram,
}

struct Sent {
    latency: Histogram,
    end: Instant,
}

pub(super) fn run_producers(
    brokers: &BrokerConfig,
    topic: &BenchTopic,
    plan: &ProducePlan,
    progress: &mut Progress,
    prefix: &str,
) -> Result<ProduceRun> {
    let gate = Gate::default();
    let claimed = AtomicU64::new(0);
    let acked = AtomicU64::new(0);
    let shares = shares(partitions(topic, brokers)?, plan.connections);
    let (start, sent) = std::thread::scope(|s| {
        let handles: Vec<_> = shares
            .iter()
            .enumerate()
            .map(|(i, share)| {
                let (gate, claimed, acked) = (&gate, &claimed, &acked);
                s.spawn(move || {
                    let worker = producer_worker(
                        brokers,
                        &topic.name,
                        share,
                        plan,
                        i as u64,
                        gate,
                        claimed,
                        acked,
                    );
                    worker.map_err(|e| gate.fail(e)).ok().flatten()
                })
            })
            .collect();
        let start = gate.start(handles.len());
        if let Some(start) = start {
            watch(
                &handles,
                progress,
                &acked,
                plan.records,
                plan.record_size as f64,
                start,
                prefix,
            );
        }
        (start, join_all(handles, &gate))
    });
    gate.outcome()?;
    let start = start.ok_or_else(|| Error::broker("the producers did not start"))?;
    let mut latency = Histogram::new();
    let mut end = start;
    for s in &sent {
        latency.merge(&s.latency);
        end = end.max(s.end);
    }
    Ok(ProduceRun {
        records: acked.load(Ordering::SeqCst),
        elapsed: end - start,
        latency,
    })
}

#[allow(clippy::too_many_arguments)]
fn producer_worker(
    brokers: &BrokerConfig,
    topic: &str,
    share: &[i32],
    plan: &ProducePlan,
    index: u64,
    gate: &Gate,
    claimed: &AtomicU64,
    acked: &AtomicU64,
) -> Result<Option<Sent>> {
    let mut cluster = Cluster::connect(brokers)?;
    let mut producer = Producer::new(&mut cluster, topic, plan.acks)?;
    producer.set_compression(plan.compression)?;
    let mut letters = Letters::new(seed() ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    // Shared, not copied, with the producer's worker thread on every send.
    let batch: Arc<[OutRecord]> = (0..plan.batch)
        .map(|i| OutRecord {
            key: Vec::new(),
            value: letters.take(plan.record_size),
            partition: Some(share[i % share.len()]),
        })
        .collect();
    if !gate.arrive() {
        return Ok(None);
    }
    let mut latency = Histogram::new();
    while !gate.stopped() {
        let from = claimed.fetch_add(batch.len() as u64, Ordering::Relaxed);
        if from >= plan.records {
            break;
        }
        let n = (plan.records - from).min(batch.len() as u64) as usize;
        let t = Instant::now();
        if n == batch.len() {
            producer.send(batch.clone())?;
        } else {
            producer.send(&batch[..n])?;
        }
        latency.record(t.elapsed());
        acked.fetch_add(n as u64, Ordering::Relaxed);
    }
    Ok(Some(Sent {
        latency,
        end: Instant::now(),
    }))
}

/// Records per request when `--batch` is not given: about 256 KiB, at most
/// 5000 records, or 1000 on the modern path.
pub(super) fn auto_batch(record_size: u64, path: DataPath) -> u64 {
    let max = match path {
        DataPath::Modern => AUTO_BATCH_MAX_MODERN,
        DataPath::Classic | DataPath::Auto => AUTO_BATCH_MAX,
    };
    (AUTO_BATCH_BYTES / record_size.max(1)).clamp(1, max)
}

// ---- consume ----------------------------------------------------------------

pub(super) struct ReadPlan {
    pub(super) target: u64,
    pub(super) fetch_bytes: i32,
    pub(super) crc_check: bool,
    pub(super) connections: usize,
}

pub(super) struct ReadRun {
    pub(super) records: u64,
    pub(super) bytes: u64,
    pub(super) elapsed: Duration,
}

struct Read {
    records: u64,
    bytes: u64,
    end: Instant,
}

pub(super) fn run_readers(
    brokers: &BrokerConfig,
    topic: &BenchTopic,
    plan: ReadPlan,
    progress: &mut Progress,
) -> Result<ReadRun> {
    let gate = Gate::default();
    let read = AtomicU64::new(0);
    let target = plan.target;
    let shares = shares(partitions(topic, brokers)?, plan.connections);
    let plan = &plan;
    let (start, done) = std::thread::scope(|s| {
        let handles: Vec<_> = shares
            .iter()
            .map(|share| {
                let (gate, read) = (&gate, &read);
                s.spawn(move || {
                    let worker = reader_worker(brokers, &topic.name, share, plan, gate, read);
                    worker.map_err(|e| gate.fail(e)).ok().flatten()
                })
            })
            .collect();
        let start = gate.start(handles.len());
        if let Some(start) = start {
            watch(&handles, progress, &read, target, 0.0, start, "");
        }
        (start, join_all(handles, &gate))
    });
    gate.outcome()?;
    let start = start.ok_or_else(|| Error::broker("the readers did not start"))?;
    let (mut records, mut bytes, mut end) = (0, 0, start);
    for r in &done {
        records += r.records;
        bytes += r.bytes;
        end = end.max(r.end);
    }
    if records < target {
        return Err(Error::Usage(format!(
            "topic '{}' holds only {records} records from its start, fewer than --records {target}",
            topic.name
        )));
    }
    Ok(ReadRun {
        records,
        bytes,
        elapsed: end - start,
    })
}

fn reader_worker(
    brokers: &BrokerConfig,
    topic: &str,
    share: &[i32],
    plan: &ReadPlan,
    gate: &Gate,
    read: &AtomicU64,
) -> Result<Option<Read>> {
    let cluster = Cluster::connect(brokers)?;
    let mut reader = Reader::new(&cluster, topic, share, &HashMap::new(), StartAt::Earliest)?;
    reader.set_fetch_bytes(plan.fetch_bytes);
    reader.set_crc_check(plan.crc_check);
    let target = plan.target;
    if !gate.arrive() {
        return Ok(None);
    }
    let (mut records, mut bytes) = (0u64, 0u64);
    while !gate.stopped() && read.load(Ordering::Relaxed) < target && !reader.at_end() {
        let n = reader.poll_each(|r| bytes += (r.key.len() + r.value.len()) as u64)?;
        records += n as u64;
        read.fetch_add(n as u64, Ordering::Relaxed);
    }
    Ok(Some(Read {
        records,
        bytes,
        end: Instant::now(),
    }))
}

// ---- end to end ---------------------------------------------------------------

pub(super) struct E2eRun {
    pub(super) sent: u64,
    pub(super) producing: Duration,
    pub(super) latency: Histogram,
}

pub(super) fn run_e2e(
    brokers: &BrokerConfig,
    topic: &BenchTopic,
    args: &BenchE2e,
    total: u64,
    progress: &mut Progress,
) -> Result<E2eRun> {
    let gate = Gate::default();
    let clock = Instant::now();
    let run_id = seed();
    // µs since `clock` after which the reader gives up waiting; 0: not yet set.
    let give_up = AtomicU64::new(0);
    let received = AtomicU64::new(0);
    let partitions = partitions(topic, brokers)?;
    let (produced, latency) = std::thread::scope(|s| {
        let reader = {
            let (gate, give_up, received) = (&gate, &give_up, &received);
            s.spawn(move || {
                let worker = e2e_reader(
                    brokers,
                    &topic.name,
                    partitions,
                    total,
                    (clock, run_id),
                    gate,
                    give_up,
                    received,
                );
                worker.map_err(|e| gate.fail(e)).ok().flatten()
            })
        };
        let produced = match gate.start(1) {
            Some(_) => {
                let clock = (clock, run_id);
                e2e_producer(brokers, &topic.name, args, total, clock, &gate, progress)
                    .map_err(|e| gate.fail(e))
                    .ok()
            }
            None => None,
        };
        let wait = brokers.timeout.max(Duration::from_secs(10));
        give_up.store(
            micros_since(clock) + wait.as_micros() as u64,
            Ordering::SeqCst,
        );
        while !reader.is_finished() {
            let n = received.load(Ordering::Relaxed);
            progress.update(n as f64, total as f64, &format!("{n}/{total} received"));
            std::thread::sleep(Duration::from_millis(20));
        }
        let latency = join_all(vec![reader], &gate).pop();
        (produced, latency)
    });
    gate.outcome()?;
    let (sent, producing) = produced.ok_or_else(|| Error::broker("the producer did not start"))?;
    let latency = latency.ok_or_else(|| Error::broker("the reader did not start"))?;
    if latency.count() < sent {
        return Err(Error::broker(format!(
            "only {} of {sent} records arrived at the reader within {} of the last send",
            latency.count(),
            humantime::format_duration(brokers.timeout.max(Duration::from_secs(10)))
        )));
    }
    Ok(E2eRun {
        sent,
        producing,
        latency,
    })
}

/// Sends record i when it is due (start + i / rate), in one request with
/// every other record already due when the producer is behind.
fn e2e_producer(
    brokers: &BrokerConfig,
    topic: &str,
    args: &BenchE2e,
    total: u64,
    (clock, run_id): (Instant, u64),
    gate: &Gate,
    progress: &mut Progress,
) -> Result<(u64, Duration)> {
    let mut cluster = Cluster::connect(brokers)?;
    let mut producer = Producer::new(&mut cluster, topic, args.acks)?;
    let rate = args.rate as f64;
    let begin = Instant::now();
    let due = |i: u64| begin + Duration::from_secs_f64(i as f64 / rate);
    let padding = Letters::new(run_id).take(args.record_size as usize - E2E_HEADER);
    let mut batch = Vec::with_capacity(E2E_BATCH_MAX as usize);
    let mut next = 0;
    while next < total {
        if gate.stopped() {
            return Ok((next, begin.elapsed()));
        }
        let now = Instant::now();
        let elapsed = (now - begin).as_secs_f64();
        let due_now = ((elapsed * rate).floor() as u64 + 1).min(total);
        progress.update(next as f64, total as f64, &format!("{next}/{total} sent"));
        if due_now <= next {
            std::thread::sleep((due(next) - now).min(Duration::from_millis(50)));
            continue;
        }
        let n = (due_now - next).min(E2E_BATCH_MAX);
        batch.clear();
        for i in next..next + n {
            let stamp = (due(i) - clock).as_micros() as u64;
            let mut value = Vec::with_capacity(args.record_size as usize);
            value.extend_from_slice(&stamp.to_le_bytes());
            value.extend_from_slice(&i.to_le_bytes());
            value.extend_from_slice(&run_id.to_le_bytes());
            value.extend_from_slice(&padding);
            batch.push(OutRecord {
                key: Vec::new(),
                value,
                partition: None,
            });
        }
        producer.send(batch.as_slice())?;
        next += n;
    }
    Ok((next, begin.elapsed()))
}

#[allow(clippy::too_many_arguments)]
fn e2e_reader(
    brokers: &BrokerConfig,
    topic: &str,
    partitions: &[i32],
    total: u64,
    (clock, run_id): (Instant, u64),
    gate: &Gate,
    give_up: &AtomicU64,
    received: &AtomicU64,
) -> Result<Option<Histogram>> {
    let cluster = Cluster::connect(brokers)?;
    let mut reader = Reader::new(
        &cluster,
        topic,
        partitions,
        &HashMap::new(),
        StartAt::Latest,
    )?;
    if !gate.arrive() {
        return Ok(None);
    }
    let mut latency = Histogram::new();
    let id = run_id.to_le_bytes();
    while latency.count() < total && !gate.stopped() {
        let deadline = give_up.load(Ordering::SeqCst);
        if deadline > 0 && micros_since(clock) > deadline {
            break;
        }
        reader.poll_each(|r| {
            if r.value.len() >= E2E_HEADER && r.value[16..24] == id {
                let mut stamp = [0u8; 8];
                stamp.copy_from_slice(&r.value[..8]);
                let stamp = u64::from_le_bytes(stamp);
                latency.record_micros(micros_since(clock).saturating_sub(stamp));
            }
        })?;
        received.store(latency.count(), Ordering::Relaxed);
    }
    Ok(Some(latency))
}

fn micros_since(clock: Instant) -> u64 {
    clock.elapsed().as_micros() as u64
}

/// Random upper-case letters, as Kafka's ProducerPerformance fills records
/// (so compression sees the same kind of data), from xorshift64*.
struct Letters(u64);

impl Letters {
    fn new(seed: u64) -> Letters {
        Letters(seed | 1)
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        (0..n)
            .map(|_| {
                self.0 ^= self.0 >> 12;
                self.0 ^= self.0 << 25;
                self.0 ^= self.0 >> 27;
                let r = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
                b'A' + ((r >> 32) % 26) as u8
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_cover_every_partition_once() {
        assert_eq!(shares(&[0, 1, 2, 3], 2), vec![vec![0, 2], vec![1, 3]]);
        assert_eq!(shares(&[0, 1], 1), vec![vec![0, 1]]);
        assert_eq!(shares(&[0, 1], 3), vec![vec![0], vec![1], vec![0]]);
    }

    #[test]
    fn a_topic_without_partitions_is_an_error_not_a_division_by_zero() {
        // Port 1: nothing listens; the check must come before any connection.
        let brokers = BrokerConfig::new("127.0.0.1:1", Duration::from_secs(1)).unwrap();
        let topic = BenchTopic {
            name: "empty".into(),
            partitions: Vec::new(),
            temp: None,
        };
        let plan = ProducePlan {
            records: 10,
            record_size: 10,
            acks: Acks::Leader,
            batch: 5,
            compression: Compression::None,
            connections: 2,
        };
        let expected = "topic 'empty' has no partitions in the metadata from 127.0.0.1:1";
        let mut progress = Progress::new(true);
        let e = run_producers(&brokers, &topic, &plan, &mut progress, "")
            .err()
            .unwrap();
        assert_eq!(e.to_string(), expected);
        assert!(e.hint().unwrap().contains("kafkademo topic describe empty"));
        let read = ReadPlan {
            target: 10,
            fetch_bytes: 1024,
            crc_check: true,
            connections: 2,
        };
        let e = run_readers(&brokers, &topic, read, &mut progress)
            .err()
            .unwrap();
        assert_eq!(e.to_string(), expected);
    }

    #[test]
    fn auto_batch_is_about_256_kib() {
        assert_eq!(auto_batch(100, DataPath::Classic), 2621);
        assert_eq!(auto_batch(1024, DataPath::Classic), 256);
        assert_eq!(auto_batch(10, DataPath::Classic), AUTO_BATCH_MAX);
        assert_eq!(auto_batch(1 << 20, DataPath::Classic), 1);
        // The modern path stops at 1000 records (the memory they take).
        assert_eq!(auto_batch(100, DataPath::Modern), 1000);
        assert_eq!(auto_batch(1000, DataPath::Modern), 262);
        assert_eq!(auto_batch(1024, DataPath::Modern), 256);
        assert_eq!(auto_batch(1 << 20, DataPath::Modern), 1);
    }

    #[test]
    fn letters_are_upper_case() {
        let v = Letters::new(7).take(1000);
        assert!(v.iter().all(u8::is_ascii_uppercase));
        assert!(v.iter().collect::<std::collections::BTreeSet<_>>().len() == 26);
    }
}
