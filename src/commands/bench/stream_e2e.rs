//! `bench stream-e2e`: end-to-end latency of a stream processor that runs
//! apart (kafkademo `stream count`, or Kafka Streams on the same topics):
//! from a record's append to the input until its window count is visible
//! in the output. Every input record has a key of its own (`e<i>`), so each
//! one causes exactly one output record (`e<i>@<window start>`), and no
//! processor's coalescing of updates can hide a slow record.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::client::admin;
use crate::client::cluster::{BrokerConfig, Cluster, DataPath};
use crate::client::deadline::interrupted;
use crate::client::fetch::{Isolation, Reader, StartAt};
use crate::client::produce::{Acks, OutRecord, Producer};
use crate::error::{Error, Result};

use super::stats::Histogram;

/// Most records sent in one request when the producer is behind.
const BATCH_MAX: u64 = 1000;

pub(super) struct Run {
    pub(super) sent: u64,
    pub(super) received: u64,
    /// Records after the warm-up.
    pub(super) latency: Histogram,
}

pub(super) fn run(
    brokers: &BrokerConfig,
    input: &str,
    output: &str,
    rate: u64,
    duration: Duration,
    warmup: Duration,
) -> Result<Run> {
    let total = (rate as f64 * duration.as_secs_f64()).round().max(1.0) as u64;
    let skip = (rate as f64 * warmup.as_secs_f64()) as u64;
    let clock = Instant::now();
    // µs after `clock` at which record i was due; 0 until sent.
    let sent_at: Vec<AtomicU64> = (0..total).map(|_| AtomicU64::new(0)).collect();
    let ready = AtomicBool::new(false);
    let done_sending = AtomicU64::new(0);
    let mut cluster = Cluster::connect(brokers)?;
    let out_partitions: Vec<i32> = admin::describe_topic(&mut cluster, output)?
        .partitions
        .iter()
        .map(|p| p.partition)
        .collect();
    let run_tag = format!(
        "{:x}",
        clock.elapsed().as_nanos() ^ u128::from(std::process::id())
    );
    std::thread::scope(|s| {
        let reader = s.spawn(|| -> Result<(u64, Histogram)> {
            let cluster = Cluster::connect(brokers)?;
            let mut reader = Reader::new(
                &cluster,
                output,
                &out_partitions,
                &Default::default(),
                StartAt::Latest,
            )?;
            // As a reader of the counts would: an exactly-once processor's
            // outputs count once their transaction commits.
            if cluster.data_path()? == DataPath::Modern {
                reader.set_isolation(Isolation::ReadCommitted)?;
            }
            ready.store(true, Ordering::SeqCst);
            let mut seen = vec![false; total as usize];
            let mut received = 0u64;
            let mut latency = Histogram::new();
            let prefix = format!("e{run_tag}-");
            loop {
                if interrupted() {
                    return Err(Error::Interrupted);
                }
                let ended = done_sending.load(Ordering::SeqCst);
                if received == total || (ended > 0 && micros_since(clock) > ended + 30_000_000) {
                    return Ok((received, latency));
                }
                reader.poll_each(|r| {
                    let now = micros_since(clock);
                    let Some(i) = std::str::from_utf8(r.key)
                        .ok()
                        .and_then(|k| k.strip_prefix(&prefix))
                        .and_then(|k| k.split('@').next())
                        .and_then(|i| i.parse::<u64>().ok())
                        .filter(|&i| i < total)
                    else {
                        return;
                    };
                    let at = sent_at[i as usize].load(Ordering::SeqCst);
                    if at == 0 || std::mem::replace(&mut seen[i as usize], true) {
                        return;
                    }
                    received += 1;
                    if i >= skip {
                        latency.record_micros(now.saturating_sub(at));
                    }
                })?;
            }
        });
        let sent = (|| -> Result<u64> {
            while !ready.load(Ordering::SeqCst) {
                if reader.is_finished() || interrupted() {
                    return Ok(0);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            let mut producer = Producer::new(&mut cluster, input, Acks::Leader)?;
            let begin = Instant::now();
            let due = |i: u64| begin + Duration::from_secs_f64(i as f64 / rate as f64);
            let mut next = 0;
            let mut batch = Vec::with_capacity(BATCH_MAX as usize);
            while next < total {
                if interrupted() {
                    return Err(Error::Interrupted);
                }
                let now = Instant::now();
                let due_now = ((now - begin).as_secs_f64() * rate as f64).floor() as u64 + 1;
                let due_now = due_now.min(total);
                if due_now <= next {
                    std::thread::sleep((due(next) - now).min(Duration::from_millis(50)));
                    continue;
                }
                let n = (due_now - next).min(BATCH_MAX);
                batch.clear();
                let wall = wall_ms();
                for i in next..next + n {
                    sent_at[i as usize]
                        .store((due(i) - clock).as_micros().max(1) as u64, Ordering::SeqCst);
                    batch.push(OutRecord {
                        key: format!("e{run_tag}-{i}").into_bytes(),
                        value: format!("{{\"t\":{wall}}}").into_bytes(),
                        partition: None,
                    });
                }
                producer.send(batch.as_slice()).map_err(|e| e.error)?;
                next += n;
            }
            Ok(next)
        })();
        done_sending.store(micros_since(clock).max(1), Ordering::SeqCst);
        let read = reader
            .join()
            .map_err(|_| Error::broker("the output reader panicked"))?;
        let sent = sent?;
        let (received, latency) = read?;
        Ok(Run {
            sent,
            received,
            latency,
        })
    })
}

fn micros_since(clock: Instant) -> u64 {
    clock.elapsed().as_micros() as u64
}

fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
