//! `kafkademo bench produce|consume|e2e`: throughput and latency against a
//! real broker, through the same `Producer` and `Reader` the other commands
//! use. The `kafka` crate waits for each request's answer before it sends
//! the next, so the throughput modes spread the work over several
//! connections, one thread each (docs/performance.md says why and how much).

mod compare;
mod harness;
mod measure;
mod plot;
mod progress;
mod results;
mod stats;
mod stream_compare;
mod stream_e2e;
mod stream_table;
mod table;
mod top_cost;
mod workers;

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::cli::{
    BenchCommand, BenchConsume, BenchE2e, BenchProduce, BenchStreamE2e, BenchTarget, Format,
};
use crate::client::admin::{self, NewTopic};
use crate::client::cluster::{BrokerConfig, Cluster, DataPath};
use crate::client::produce::{Acks, Compression};
use crate::error::{Error, Result};

use progress::Progress;
use workers::{auto_batch, run_e2e, run_producers, run_readers, ProducePlan, ReadPlan};

const MIB: f64 = 1024.0 * 1024.0;

pub fn execute(brokers: &BrokerConfig, cmd: BenchCommand, quiet: bool) -> Result<()> {
    match cmd {
        BenchCommand::Produce(args) => produce(brokers, &args, quiet),
        BenchCommand::Consume(args) => consume(brokers, &args, quiet),
        BenchCommand::E2e(args) => e2e(brokers, &args, quiet),
        BenchCommand::StreamE2e(args) => stream_e2e(brokers, &args),
        BenchCommand::Compare(args) => compare::execute(brokers, &args),
        BenchCommand::TopCost(args) => top_cost::execute(brokers, &args),
        BenchCommand::StreamCompare(args) => stream_compare::execute(brokers, &args),
        BenchCommand::Plot(args) => plot::execute(&args),
        BenchCommand::Table(args) => table::execute(&args),
        BenchCommand::StreamTable(args) => stream_table::execute(&args),
    }
}

/// Which data path the run uses (`--protocol`, or what auto picks).
fn data_path(brokers: &BrokerConfig) -> Result<DataPath> {
    Cluster::connect(brokers)?.data_path()
}

// ---- the three modes ------------------------------------------------------

fn produce(brokers: &BrokerConfig, args: &BenchProduce, quiet: bool) -> Result<()> {
    let data_path = data_path(brokers)?;
    let path = data_path.name();
    let topic = BenchTopic::resolve(brokers, &args.target)?;
    let plan = ProducePlan {
        records: args.records,
        record_size: args.record_size as usize,
        acks: args.acks,
        batch: args
            .batch
            .unwrap_or_else(|| auto_batch(args.record_size, data_path))
            .min(args.records) as usize,
        compression: args.compression,
        connections: args.connections as usize,
    };
    let mut progress = Progress::new(quiet);
    let run = run_producers(brokers, &topic, &plan, &mut progress, "")?;
    progress.finish();
    let secs = run.elapsed.as_secs_f64();
    let bytes = run.records * plan.record_size as u64;
    let report = json!({
        "mode": "produce",
        "topic": topic.name,
        "data_path": path,
        "temporary_topic": topic.temp.is_some(),
        "partitions": topic.partitions.len(),
        "records": run.records,
        "record_size": plan.record_size,
        "acks": acks_name(plan.acks),
        "batch": plan.batch,
        "compression": plan.compression.name(),
        "connections": plan.connections,
        "seconds": round(secs, 3),
        "records_per_sec": round(per_sec(run.records as f64, secs), 1),
        "mb_per_sec": round(per_sec(bytes as f64 / MIB, secs), 2),
        "requests": run.latency.count(),
        "latency_ms": {
            "p50": round(run.latency.quantile_ms(0.50), 3),
            "p99": round(run.latency.quantile_ms(0.99), 3),
            "max": round(run.latency.max_ms(), 3),
        },
    });
    let text = vec![
        format!(
            "bench produce: {} records of {} B, acks={}, batch {}, compression {}, {} connection{}",
            run.records,
            plan.record_size,
            acks_name(plan.acks),
            plan.batch,
            plan.compression.name(),
            plan.connections,
            plural(plan.connections)
        ),
        topic.describe(),
        format!("  data path   {path}"),
        format!("  records/s   {:.0}", per_sec(run.records as f64, secs)),
        format!("  MB/s        {:.2}", per_sec(bytes as f64 / MIB, secs)),
        format!(
            "  requests    {}: latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            run.latency.count(),
            run.latency.quantile_ms(0.50),
            run.latency.quantile_ms(0.99),
            run.latency.max_ms()
        ),
        format!("  elapsed     {secs:.2} s"),
    ];
    print_report(args.target.format, &report, &text)?;
    topic.finish()
}

fn consume(brokers: &BrokerConfig, args: &BenchConsume, quiet: bool) -> Result<()> {
    let data_path = data_path(brokers)?;
    let path = data_path.name();
    let topic = BenchTopic::resolve(brokers, &args.target)?;
    let mut progress = Progress::new(quiet);
    if topic.temp.is_some() {
        let fill = ProducePlan {
            records: args.records,
            record_size: args.record_size as usize,
            acks: Acks::Leader,
            batch: auto_batch(args.record_size, data_path).min(args.records) as usize,
            compression: Compression::None,
            connections: args.connections as usize,
        };
        run_producers(brokers, &topic, &fill, &mut progress, "filling the topic: ")?;
        progress.finish();
        progress.restart();
    }
    let connections = (args.connections as usize).min(topic.partitions.len());
    let run = run_readers(
        brokers,
        &topic,
        ReadPlan {
            target: args.records,
            fetch_bytes: args.fetch_bytes,
            crc_check: !args.no_crc_check,
            connections,
        },
        &mut progress,
    )?;
    progress.finish();
    let secs = run.elapsed.as_secs_f64();
    let report = json!({
        "mode": "consume",
        "topic": topic.name,
        "data_path": path,
        "temporary_topic": topic.temp.is_some(),
        "partitions": topic.partitions.len(),
        "records": run.records,
        "bytes": run.bytes,
        "fetch_bytes": args.fetch_bytes,
        "crc_check": !args.no_crc_check,
        "connections": connections,
        "seconds": round(secs, 3),
        "records_per_sec": round(per_sec(run.records as f64, secs), 1),
        "mb_per_sec": round(per_sec(run.bytes as f64 / MIB, secs), 2),
    });
    let text = vec![
        format!(
            "bench consume: {} records ({} bytes) from the start, fetch {} bytes per partition, {} connection{}",
            run.records,
            run.bytes,
            args.fetch_bytes,
            connections,
            plural(connections)
        ),
        topic.describe(),
        format!("  data path   {path}"),
        format!("  records/s   {:.0}", per_sec(run.records as f64, secs)),
        format!("  MB/s        {:.2}", per_sec(run.bytes as f64 / MIB, secs)),
        format!("  elapsed     {secs:.2} s"),
    ];
    print_report(args.target.format, &report, &text)?;
    topic.finish()
}

fn e2e(brokers: &BrokerConfig, args: &BenchE2e, quiet: bool) -> Result<()> {
    let path = data_path(brokers)?.name();
    if args.duration.is_zero() {
        return Err(Error::Usage("--duration must be more than 0".into()));
    }
    let total = ((args.rate as f64 * args.duration.as_secs_f64()).floor() as u64).max(1);
    let topic = BenchTopic::resolve(brokers, &args.target)?;
    let mut progress = Progress::new(quiet);
    let run = run_e2e(brokers, &topic, args, total, &mut progress)?;
    progress.finish();
    let achieved = per_sec(run.sent as f64, run.producing.as_secs_f64());
    let h = &run.latency;
    let report = json!({
        "mode": "e2e",
        "topic": topic.name,
        "data_path": path,
        "temporary_topic": topic.temp.is_some(),
        "partitions": topic.partitions.len(),
        "rate": args.rate,
        "duration_s": round(args.duration.as_secs_f64(), 3),
        "record_size": args.record_size,
        "acks": acks_name(args.acks),
        "sent": run.sent,
        "received": h.count(),
        "achieved_rate": round(achieved, 1),
        "latency_ms": latency_json(h),
    });
    let text = vec![
        format!(
            "bench e2e: {} records of {} B at {}/s for {}, acks={}",
            run.sent,
            args.record_size,
            args.rate,
            humantime::format_duration(args.duration),
            acks_name(args.acks)
        ),
        topic.describe(),
        format!("  data path   {path}"),
        format!(
            "  sent at     {achieved:.0} records/s, all {} received",
            h.count()
        ),
        format!(
            "  latency     p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            h.quantile_ms(0.50),
            h.quantile_ms(0.95),
            h.quantile_ms(0.99),
            h.max_ms()
        ),
    ];
    print_report(args.target.format, &report, &text)?;
    topic.finish()
}

fn stream_e2e(brokers: &BrokerConfig, args: &BenchStreamE2e) -> Result<()> {
    if args.duration.is_zero() || args.warmup >= args.duration {
        return Err(Error::Usage(
            "--duration must be more than 0 and longer than --warmup".into(),
        ));
    }
    let run = stream_e2e::run(
        brokers,
        &args.input,
        &args.output,
        args.rate,
        args.duration,
        args.warmup,
    )?;
    if run.received < run.sent {
        return Err(Error::broker_with_hint(
            format!(
                "only {} of {} records reached '{}' within 30 s of the last send",
                run.received, run.sent, args.output
            ),
            "is the processor running, with --emit updates, on these topics?",
        ));
    }
    let h = &run.latency;
    let report = json!({
        "mode": "stream-e2e",
        "input": args.input,
        "output": args.output,
        "rate": args.rate,
        "duration_s": round(args.duration.as_secs_f64(), 3),
        "warmup_s": round(args.warmup.as_secs_f64(), 3),
        "sent": run.sent,
        "received": run.received,
        "measured": h.count(),
        "latency_ms": latency_json(h),
    });
    let text = vec![
        format!(
            "bench stream-e2e: {} records at {}/s into '{}', each one's count read from '{}'",
            run.sent, args.rate, args.input, args.output
        ),
        format!(
            "  latency     p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} records after {} of warm-up)",
            h.quantile_ms(0.50),
            h.quantile_ms(0.95),
            h.quantile_ms(0.99),
            h.max_ms(),
            h.count(),
            humantime::format_duration(args.warmup)
        ),
    ];
    print_report(args.format, &report, &text)
}

/// The e2e modes' latency quantiles, in ms.
fn latency_json(h: &stats::Histogram) -> serde_json::Value {
    json!({
        "p50": round(h.quantile_ms(0.50), 3),
        "p95": round(h.quantile_ms(0.95), 3),
        "p99": round(h.quantile_ms(0.99), 3),
        "max": round(h.max_ms(), 3),
    })
}

// ---- the topic a run uses -------------------------------------------------

/// The topic under test: the user's, or a temporary one deleted when the
/// run ends, whichever way it ends (Ctrl-C included).
struct BenchTopic {
    name: String,
    partitions: Vec<i32>,
    temp: Option<TempTopic>,
}

struct TempTopic {
    brokers: BrokerConfig,
    name: String,
    deleted: bool,
}

impl BenchTopic {
    fn resolve(brokers: &BrokerConfig, target: &BenchTarget) -> Result<BenchTopic> {
        let mut cluster = Cluster::connect(brokers)?;
        let (name, temp) = match &target.topic {
            Some(name) => (name.clone(), None),
            None => {
                let name = format!("kd-bench-{}-{:x}", std::process::id(), seed());
                admin::create_topic(
                    &mut cluster,
                    &NewTopic {
                        name: &name,
                        partitions: target.partitions,
                        replication_factor: 1,
                        configs: &[],
                    },
                )?;
                let temp = TempTopic {
                    brokers: brokers.clone(),
                    name: name.clone(),
                    deleted: false,
                };
                (name, Some(temp))
            }
        };
        admin::validate_topic_name(&name)?;
        let mut partitions: Vec<i32> = admin::describe_topic(&mut cluster, &name)?
            .partitions
            .iter()
            .map(|p| p.partition)
            .collect();
        partitions.sort_unstable();
        Ok(BenchTopic {
            name,
            partitions,
            temp,
        })
    }

    fn describe(&self) -> String {
        match self.temp {
            Some(_) => format!(
                "  topic       {} (temporary, {} partition{}: created for this run and deleted after)",
                self.name,
                self.partitions.len(),
                plural(self.partitions.len())
            ),
            None => format!(
                "  topic       {} ({} partition{})",
                self.name,
                self.partitions.len(),
                plural(self.partitions.len())
            ),
        }
    }

    /// Deletes a temporary topic, reporting a failure (Drop only logs one).
    fn finish(mut self) -> Result<()> {
        match self.temp.as_mut() {
            Some(t) => t.delete(),
            None => Ok(()),
        }
    }
}

impl TempTopic {
    fn delete(&mut self) -> Result<()> {
        if self.deleted {
            return Ok(());
        }
        self.deleted = true;
        let mut cluster = Cluster::connect(&self.brokers)?;
        admin::delete_topic(&mut cluster, &self.name).map(|_| ())
    }
}

impl Drop for TempTopic {
    fn drop(&mut self) {
        if let Err(e) = self.delete() {
            log::warn!("cannot delete the temporary topic '{}': {e}", self.name);
        }
    }
}

// ---- small helpers ------------------------------------------------------------

fn print_report(format: Format, report: &serde_json::Value, text: &[String]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        Format::Json => writeln!(out, "{report}"),
        Format::Text => text.iter().try_for_each(|line| writeln!(out, "{line}")),
    }
    .and_then(|()| out.flush())
    .map_err(Error::Output)
}

fn acks_name(acks: Acks) -> &'static str {
    match acks {
        Acks::None => "0",
        Acks::Leader => "1",
        Acks::All => "all",
    }
}

fn per_sec(amount: f64, secs: f64) -> f64 {
    if secs > 0.0 {
        amount / secs
    } else {
        0.0
    }
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// A seed that differs between runs and processes.
fn seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    nanos ^ (std::process::id() as u64).rotate_left(32)
}
