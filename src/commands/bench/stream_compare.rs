//! `kafkademo bench stream-compare` (hidden): the measuring loop of `make
//! stream-bench`, which scripts/stream-bench.sh calls once its broker runs
//! and the Kafka Streams peer is built. kafkademo's `stream count` (two
//! guarantees) and the same windowed count in Kafka Streams (two
//! guarantees), each instance a process of its own (processor.rs), on the
//! same input, for four figures: throughput (records/s from the group's
//! committed offsets polled every ~100 ms, peak RSS), end-to-end latency
//! (`bench stream-e2e`), restore and retention (restore.rs). Each run
//! appends rows to the results.tsv `bench stream-table` reads; the topics
//! and applications it creates are deleted at the end, whichever way the
//! run ends. scripts/stream-bench.sh's header says what each figure means.

mod input;
mod processor;
mod restore;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::cli::BenchStreamCompare;
use crate::client::cluster::{BrokerConfig, Cluster};
use crate::client::coordinator::Coordinator;
use crate::client::manage;
use crate::error::{Error, Result};

use super::harness::{interrupted, io_error, say, Results, Topics};
use input::{event_base, Events, Polls};
use processor::{Instance, Launch, Missed, Processor};

/// results.tsv's header; `bench stream-table` reads these columns.
const HEADER: &str = "figure\tprocessor\tround\tmetric\tvalue";

pub fn execute(brokers: &BrokerConfig, args: &BenchStreamCompare) -> Result<()> {
    let plan = Plan::from_args(args).map_err(Error::Usage)?;
    let kafkademo = std::env::current_exe().map_err(|e| Error::Data {
        message: format!("cannot find this program's own path: {e}"),
        hint: None,
    })?;
    let state = args.work.join("state");
    std::fs::create_dir_all(&state).map_err(|e| io_error(&state, e))?;
    forget_earlier_logs(&args.work);
    // A fresh results.tsv: its header, then this run's rows.
    let _ = std::fs::remove_file(&args.results);
    let results = Results::open(&args.results, HEADER)?;
    let mut bench = Bench {
        args,
        plan,
        brokers: brokers.clone(),
        setup: processor::Setup {
            kafkademo,
            kstreams: args.kstreams.clone(),
            brokers: brokers.brokers.join(","),
            state,
        },
        results,
        apps: Vec::new(),
        prefix: format!("kd-sbench-{}-", args.run_id),
        topics: Topics::new(brokers, format!("kd-sbench-{}-", args.run_id)),
    };
    bench.run()
}

/// The options, checked.
struct Plan {
    figures: Vec<&'static str>,
    processors: Vec<Processor>,
    restore_processors: Vec<Processor>,
    retention_processors: Vec<Processor>,
    spans: Vec<(String, u64)>,
}

impl Plan {
    fn from_args(args: &BenchStreamCompare) -> std::result::Result<Plan, String> {
        let spans = args
            .spans
            .split_whitespace()
            .map(|s| input::span_seconds(s).map(|secs| (s.to_string(), secs)))
            .collect::<std::result::Result<_, _>>()?;
        Ok(Plan {
            figures: input::parse_figures(&args.figures)?,
            processors: processor::parse_list(&args.processors)?,
            restore_processors: processor::parse_list(&args.restore_processors)?,
            retention_processors: processor::parse_list(&args.retention_processors)?,
            spans,
        })
    }

    fn runs(&self, figure: &str) -> bool {
        self.figures.contains(&figure)
    }
}

/// The processors' logs of an earlier run in the same work directory.
fn forget_earlier_logs(work: &Path) {
    let Ok(entries) = std::fs::read_dir(work) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if ["tp-", "e2e-", "restore-", "retention-"]
            .iter()
            .any(|p| name.starts_with(p))
        {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// A warning on stderr; the run goes on.
pub fn warn(message: &str) {
    eprintln!("bench stream-compare: {message}");
}

/// A run that did not get its figure: what went wrong, for the warning.
fn failed(message: impl Into<String>) -> Error {
    Error::Data {
        message: message.into(),
        hint: None,
    }
}

/// The 1-minute load average, or the three of them.
fn load(all: bool) -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let n = if all { 3 } else { 1 };
    text.split_whitespace()
        .take(n)
        .collect::<Vec<_>>()
        .join(" ")
}

fn millis_as_seconds(ms: u64) -> String {
    format!("{:.3}", ms as f64 / 1000.0)
}

struct Bench<'a> {
    args: &'a BenchStreamCompare,
    plan: Plan,
    brokers: BrokerConfig,
    setup: processor::Setup,
    results: Results,
    /// Applications started and not yet reset.
    apps: Vec<String>,
    prefix: String,
    topics: Topics,
}

impl Bench<'_> {
    fn run(&mut self) -> Result<()> {
        if self.plan.runs("throughput") {
            self.throughput()?;
        }
        if self.plan.runs("latency") {
            self.latency()?;
        }
        if self.plan.runs("restore") {
            self.restore()?;
        }
        if self.plan.runs("retention") {
            self.retention()?;
        }
        Ok(())
    }

    // ---- what every figure uses -----------------------------------------------

    /// One results.tsv row.
    fn result(&mut self, figure: &str, p: Processor, round: &str, metric: &str, value: &str) {
        let row = format!("{figure}\t{}\t{round}\t{metric}\t{value}", p.name());
        if let Err(e) = self.results.row(&row) {
            warn(&e.to_string());
        }
    }

    /// A fresh application id (reset at the end if not before).
    fn app(&mut self, tag: &str) -> String {
        let app = format!("{}{tag}", self.prefix);
        self.apps.push(app.clone());
        app
    }

    fn partitions(&self) -> i32 {
        self.args.partitions
    }

    fn topic(&mut self, tag: &str, compact: bool) -> Result<String> {
        let configs = if compact {
            vec![("cleanup.policy".to_string(), "compact".to_string())]
        } else {
            Vec::new()
        };
        self.topics.create_with(tag, self.partitions(), &configs)
    }

    /// Records `from..to` of `events` into `topic`, through `kafkademo
    /// produce` (one line a record, KEY:VALUE), in slices.
    fn produce(&self, topic: &str, events: &Events, from: u64, to: u64) -> Result<()> {
        let mut child = Command::new(&self.setup.kafkademo)
            .args(["--brokers", &self.setup.brokers, "-q", "produce"])
            .args(["--topic", topic, "--key-separator", ":"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| io_error(&self.setup.kafkademo, e))?;
        let mut written = Ok(());
        if let Some(mut stdin) = child.stdin.take() {
            let mut i = from;
            while i < to && written.is_ok() {
                let end = (i + 100_000).min(to);
                written = stdin.write_all(events.lines(i, end).as_bytes());
                i = end;
            }
        }
        let status = child
            .wait()
            .map_err(|e| io_error(&self.setup.kafkademo, e))?;
        match (written, status.success()) {
            (Ok(()), true) => Ok(()),
            (Err(e), _) => Err(failed(format!("producing into {topic} failed: {e}"))),
            (_, false) => Err(failed(format!("producing into {topic} failed ({status})"))),
        }
    }

    fn start(&self, l: &Launch, name: &str) -> Result<Instance> {
        let cmd = processor::command(&self.setup, l);
        processor::start(l.processor, name, cmd, &self.args.work).map_err(|e| {
            failed(format!(
                "cannot start {} ({}): {e}",
                l.processor.name(),
                cmd_program(&self.setup, l.processor).display()
            ))
        })
    }

    /// Waits until a freshly started processor runs: (when, its line).
    fn ready(&self, inst: &Instance, secs: u64) -> Result<(u64, String)> {
        let what = inst.processor.ready_what();
        match inst.ready(Duration::from_secs(secs)) {
            Ok(hit) => Ok(hit),
            Err(Missed::Interrupted) => Err(Error::Interrupted),
            Err(Missed::Exited) => {
                inst.show_logs();
                Err(failed(format!(
                    "{} exited before printing {what}",
                    inst.name
                )))
            }
            Err(Missed::TimedOut) => {
                inst.show_logs();
                Err(failed(format!(
                    "{} printed no {what} within {secs}s",
                    inst.name
                )))
            }
        }
    }

    /// The sum of the group's committed offsets; 0 before the group
    /// exists, or when they cannot be read.
    fn committed(coordinator: &mut Coordinator) -> u64 {
        match coordinator.fetch_all_offsets() {
            Ok(offsets) => offsets.values().map(|&o| o.max(0) as u64).sum(),
            Err(e) => {
                log::info!("committed offsets: {e}");
                0
            }
        }
    }

    /// Polls the group's committed offsets every ~100 ms until they reach
    /// `n`: the polls that saw progress first and all of it.
    fn wait_committed(&self, app: &str, n: u64, secs: u64, inst: &Instance) -> Result<Polls> {
        let mut coordinator = Coordinator::new(&self.brokers, app);
        coordinator.set_retry_for(Duration::from_secs(2));
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut first: Option<(u64, u64)> = None;
        loop {
            let t = processor::now_ms();
            let c = Self::committed(&mut coordinator);
            if first.is_none() && c > 0 {
                first = Some((t, c));
            }
            if c >= n {
                let (t0, c0) = first.unwrap_or((t, c));
                return Ok(Polls { t0, c0, t1: t });
            }
            interrupted()?;
            if !inst.alive() {
                // kafkademo --exit-at-end commits last thing before it exits
                let c = Self::committed(&mut coordinator);
                if c >= n {
                    let t1 = processor::now_ms();
                    let (t0, c0) = first.unwrap_or((t1, c));
                    return Ok(Polls { t0, c0, t1 });
                }
                inst.show_logs();
                return Err(failed(format!(
                    "{} exited with {c} of {n} input records committed",
                    inst.name
                )));
            }
            if Instant::now() >= deadline {
                inst.show_logs();
                return Err(failed(format!(
                    "{} committed {c} of {n} input records within {secs}s",
                    inst.name
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits (up to 30 s) until the application's group has no member.
    /// Kafka Streams does not leave the group when it closes: its member
    /// stays until the session timeout (6 s here) ends.
    fn wait_left(&self, app: &str) {
        let mut coordinator = Coordinator::new(&self.brokers, app);
        coordinator.set_retry_for(Duration::from_secs(2));
        for _ in 0..150 {
            match coordinator.describe() {
                Ok(d) if !d.members.is_empty() && d.state != "Empty" && d.state != "Dead" => {}
                _ => return,
            }
            if crate::signal::interrupted() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        warn(&format!(
            "group {app} still has members 30 s after its instance stopped"
        ));
    }

    /// Forgets a stopped application: its group and internal topics
    /// (`kafkademo stream reset`), and Kafka Streams' state directory.
    fn drop_app(&mut self, app: &str) {
        if self.reset(app) {
            self.apps.retain(|a| a != app);
        } else {
            warn(&format!(
                "could not reset application {app} (retried at exit)"
            ));
        }
        let _ = std::fs::remove_dir_all(self.setup.state.join(app));
    }

    /// `kafkademo stream reset` once the group has no member (a killed
    /// instance stays until its session ends, and reset refuses while it
    /// does): whether it worked.
    fn reset(&self, app: &str) -> bool {
        self.wait_left(app);
        self.kafkademo(&["stream", "reset", "--application-id", app])
    }

    /// Runs `kafkademo -q ARGS` against the broker, quietly: whether it
    /// succeeded.
    fn kafkademo(&self, args: &[&str]) -> bool {
        Command::new(&self.setup.kafkademo)
            .args(["--brokers", &self.setup.brokers, "-q"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// The topic's size on the broker (DescribeLogDirs), all partitions.
    fn log_bytes(&self, topic: &str) -> Option<u64> {
        let bytes = Cluster::connect(&self.brokers)
            .and_then(|mut c| manage::topic_log_bytes(&mut c, topic));
        match bytes {
            Ok(b) => Some(b),
            Err(e) => {
                warn(&format!("cannot read the size of topic {topic}: {e}"));
                None
            }
        }
    }

    /// Runs one measurement; a failure is a warning, and the run goes on
    /// (Ctrl-C and a closed stdout end it).
    fn attempt(&mut self, what: &str, run: impl FnOnce(&mut Self) -> Result<()>) -> Result<()> {
        match run(self) {
            Ok(()) => Ok(()),
            Err(e @ (Error::Interrupted | Error::Output(_))) => Err(e),
            Err(e) => {
                warn(&format!("{what} failed: {e}"));
                interrupted()
            }
        }
    }

    // ---- 1. throughput ----------------------------------------------------------

    fn throughput(&mut self) -> Result<()> {
        let a = self.args;
        let input = self.topic("tp-in", false)?;
        say(&format!(
            "Throughput: {} records over {} keys into {input} ({} partitions); load {}",
            a.records,
            a.keys,
            a.partitions,
            load(true)
        ))?;
        let events = Events {
            keys: a.keys,
            step_ms: 1.0,
            base: event_base(a.records, 1.0, 10_000, processor::now_ms() / 1000),
        };
        self.produce(&input, &events, 0, a.records)?;
        let processors = self.plan.processors.clone();
        for round in 1..=a.rounds {
            for p in input::in_turn(&processors, round) {
                self.attempt(&format!("throughput: {} round {round}", p.name()), |b| {
                    b.throughput_run(p, round, &input)
                })?;
            }
        }
        self.topics.drop(&input);
        Ok(())
    }

    fn throughput_run(&mut self, p: Processor, round: u32, input: &str) -> Result<()> {
        let n = self.args.records;
        let tag = format!("tp-{}-{round}", p.name());
        let app = self.app(&tag);
        let out = self.topic(&format!("{tag}-out"), true)?;
        let mut args = windowing("10s", "2s");
        if p.is_kd() {
            args.push("--exit-at-end".into());
        } else {
            args.extend(["--cache-bytes".into(), "10485760".into()]);
        }
        let launch = Launch::new(p, &app, input, &out, &args);
        let mut inst = self.start(&launch, &tag)?;
        let polls = self.wait_committed(&app, n, 600, &inst)?;
        let usage = inst.stop_cleanly();
        let round_s = round.to_string();
        let rps = match polls.rate(n) {
            Some(r) => format!("{r:.0}"),
            None => {
                warn(&format!(
                    "{tag}: all {n} records were committed at the first poll that saw progress: no rate (use more --records)"
                ));
                "NaN".into()
            }
        };
        let from_start = format!(
            "{:.0}",
            n as f64 * 1000.0 / polls.t1.saturating_sub(inst.started_ms).max(1) as f64
        );
        let rss = usage.map_or(0, |u| u.peak_rss_kb);
        self.result("throughput", p, &round_s, "records_per_s", &rps);
        self.result(
            "throughput",
            p,
            &round_s,
            "records_per_s_from_start",
            &from_start,
        );
        self.result("throughput", p, &round_s, "peak_rss_kb", &rss.to_string());
        say(&format!(
            "  {:<18} round {round}: {rps:>9} records/s (first progress seen at {} of {n}, all after {:.1} s more)  {from_start:>9} records/s from start  peak RSS {:>6.1} MB  (load {})",
            p.name(),
            polls.c0,
            (polls.t1 - polls.t0) as f64 / 1000.0,
            rss as f64 / 1024.0,
            load(false)
        ))?;
        self.drop_app(&app);
        self.topics.drop(&out);
        Ok(())
    }

    // ---- 2. end-to-end latency ----------------------------------------------------

    fn latency(&mut self) -> Result<()> {
        let a = self.args;
        say(&format!(
            "End-to-end latency: bench stream-e2e at {} records/s for {} into each processor; load {}",
            a.rate,
            a.duration,
            load(true)
        ))?;
        let processors = self.plan.processors.clone();
        for round in 1..=a.rounds {
            for p in input::in_turn(&processors, round) {
                self.attempt(&format!("latency: {} round {round}", p.name()), |b| {
                    b.latency_run(p, round)
                })?;
            }
        }
        Ok(())
    }

    fn latency_run(&mut self, p: Processor, round: u32) -> Result<()> {
        let a = self.args;
        let app = self.app(&format!("e2e-{}-{round}", p.name()));
        let name = format!("e2e-{}-{round}", p.name());
        let input = self.topic(&format!("e2e-{}-{round}-in", p.name()), false)?;
        let out = self.topic(&format!("e2e-{}-{round}-out", p.name()), true)?;
        let mut args = windowing("10s", "2s");
        if !p.is_kd() {
            // no record cache: every update is written
            args.extend(["--cache-bytes".into(), "0".into()]);
        }
        let launch = Launch::new(p, &app, &input, &out, &args);
        let mut inst = self.start(&launch, &name)?;
        if let Err(e) = self.ready(&inst, 120) {
            inst.kill();
            return Err(e);
        }
        let json_path = a.work.join(format!("{name}.json"));
        let err_path = a.work.join(format!("{name}.bench-err"));
        let status = Command::new(&self.setup.kafkademo)
            .args([
                "--brokers",
                &self.setup.brokers,
                "-q",
                "bench",
                "stream-e2e",
            ])
            .args(["--input", &input, "--output", &out])
            .args(["--rate", &a.rate.to_string(), "--duration", &a.duration])
            .args(["--warmup", &a.warmup, "--format", "json"])
            .stdout(file(&json_path)?)
            .stderr(file(&err_path)?)
            .status()
            .map_err(|e| io_error(&self.setup.kafkademo, e))?;
        if !status.success() {
            eprint!("{}", std::fs::read_to_string(&err_path).unwrap_or_default());
            inst.stop_cleanly();
            return Err(failed(format!(
                "bench stream-e2e against {} failed",
                p.name()
            )));
        }
        inst.stop_cleanly();
        let report: serde_json::Value = std::fs::read_to_string(&json_path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        let number = |key: &str| json_number(&report, key).unwrap_or_else(|| "NaN".into());
        let round_s = round.to_string();
        for q in ["p50", "p99", "max"] {
            self.result(
                "latency",
                p,
                &round_s,
                &format!("latency_{q}_ms"),
                &number(q),
            );
        }
        say(&format!(
            "  {:<18} round {round}: {} of {} records back; latency p50 {} ms, p99 {} ms, max {} ms  (load {})",
            p.name(),
            number("received"),
            number("sent"),
            number("p50"),
            number("p99"),
            number("max"),
            load(false)
        ))?;
        self.drop_app(&app);
        self.topics.drop(&input);
        self.topics.drop(&out);
        Ok(())
    }
}

/// The windowing every figure's processors share: tumbling windows of
/// `window`, this grace, every update emitted.
fn windowing(window: &str, grace: &str) -> Vec<String> {
    ["--window", window, "--grace", grace, "--emit", "updates"]
        .map(String::from)
        .to_vec()
}

fn cmd_program(setup: &processor::Setup, p: Processor) -> PathBuf {
    if p.is_kd() {
        setup.kafkademo.clone()
    } else {
        setup.kstreams.clone()
    }
}

fn file(path: &Path) -> Result<std::fs::File> {
    std::fs::File::create(path).map_err(|e| io_error(path, e))
}

/// The first number under `key` anywhere in a JSON report, as written.
fn json_number(v: &serde_json::Value, key: &str) -> Option<String> {
    match v {
        serde_json::Value::Object(map) => map.iter().find_map(|(k, v)| match v {
            serde_json::Value::Number(n) if k == key => Some(n.to_string()),
            _ => json_number(v, key),
        }),
        serde_json::Value::Array(items) => items.iter().find_map(|v| json_number(v, key)),
        _ => None,
    }
}

impl Drop for Bench<'_> {
    /// The applications not reset yet (a failure, Ctrl-C), and the state
    /// directory; the topics go with `topics`.
    ///
    /// After Ctrl-C this process's own broker requests give up within a
    /// grace of 600 ms (client::deadline), so the clean-up then goes through
    /// fresh kafkademo processes, as the script's did: `stream reset` again
    /// every half second while the group still has a member (a killed
    /// instance stays until its 6 s session ends), up to 30 s, then `topic
    /// delete`. A second Ctrl-C stops them all.
    fn drop(&mut self) {
        let interrupted = crate::signal::interrupted();
        for app in std::mem::take(&mut self.apps) {
            let reset = if interrupted {
                (0..60).any(|i| {
                    if i > 0 {
                        std::thread::sleep(Duration::from_millis(500));
                    }
                    self.kafkademo(&["stream", "reset", "--application-id", &app])
                })
            } else {
                self.reset(&app)
            };
            if !reset {
                warn(&format!("could not reset application {app}"));
            }
        }
        if interrupted {
            for topic in self.topics.forget_all() {
                if !self.kafkademo(&["topic", "delete", &topic, "--if-exists"]) {
                    warn(&format!("could not delete topic {topic}"));
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.setup.state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_found_in_nested_reports() {
        let v: serde_json::Value = serde_json::from_str(
            r#"{"sent":100,"received":99,"latency_ms":{"p50":1.25,"p99":7.5,"max":9}}"#,
        )
        .unwrap();
        assert_eq!(json_number(&v, "received").as_deref(), Some("99"));
        assert_eq!(json_number(&v, "p99").as_deref(), Some("7.5"));
        assert_eq!(json_number(&v, "p95"), None);
    }
}
