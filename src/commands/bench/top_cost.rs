//! `kafkademo bench top-cost` (hidden): what watching a cluster costs, the
//! measuring of `make top-cost` (scripts/top-cost.sh starts a KRaft broker
//! when none answers and calls this). On one broker with TOPICS topics of
//! PARTITIONS partitions (`kd-cost-*`) and one consumer group per topic
//! with offsets committed on all its partitions (objects.rs), it measures:
//!
//! - `kafkademo top --once --format json`, run RUNS times: wall time and
//!   peak RSS of the whole process (connect, one snapshot, the JSON);
//! - `top --once --collect DURATION --interval 1s --format json`: wall
//!   time, peak RSS and CPU of the process, and the broker JVM's CPU
//!   seconds over that run, against the broker idle for DURATION;
//! - `kafkademo web` with /metrics scraped every second for DURATION: the
//!   broker's CPU, web's CPU and peak RSS, and the refresh time the watcher
//!   reports (kafkademo_scrape_duration_seconds, read from every scrape);
//!   and the same DURATION with web running unscraped (its consumer thread
//!   still long-polls the topic it shows), to separate the two (web.rs);
//! - the requests: per snapshot the code sends 1 Metadata and, per broker,
//!   1 ListOffsets, 1 ListGroups, 1 DescribeGroups and 1 OffsetFetch. A
//!   short extra run (VERIFY seconds of top --collect) counts them in the
//!   broker's own request log (kafka.request.logger switched to DEBUG at
//!   runtime, an IncrementalAlterConfigs on BROKER_LOGGER, and back to
//!   WARN after; request_log.rs), so the requests/s figure is counted by
//!   the broker, not just computed. The CPU runs are made with the request
//!   log off.
//!
//! Broker CPU is utime+stime of the broker's JVM from /proc/PID/stat;
//! client RSS is wait4's ru_maxrss (top; what /usr/bin/time -v prints) or
//! VmHWM from /proc/PID/status (web); see measure.rs. Each process measured
//! is the release kafkademo next to this one. Everything comes from one
//! run, on whatever machine this is (its CPUs and load are printed first).
//! The rows go to OUT (metric, value, unit, how), printed as a table at the
//! end; raw outputs to WORK.

mod objects;
mod request_log;
mod rows;
mod web;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::cli::BenchTopCost;
use crate::client::cluster::BrokerConfig;
use crate::error::{Error, Result};

use super::harness::{interrupted, io_error, pause, pause_until, say};
use super::measure::{self, Usage};
use objects::{topic_name, CostObjects, PREFIX};
use request_log::{RequestLogging, Requests};
use rows::{min_median_max, percent_of_core, table, Rows};
use web::Web;

/// The client id the request log names kafkademo's requests by.
const CLIENT_ID: &str = "kafkademo";

pub fn execute(brokers: &BrokerConfig, args: &BenchTopCost) -> Result<()> {
    let kafkademo = std::env::current_exe().map_err(|e| Error::Data {
        message: format!("cannot find this program's own path: {e}"),
        hint: None,
    })?;
    let pid = args.broker_pid;
    if measure::cpu_ticks(pid).is_none() {
        return Err(Error::Data {
            message: format!("cannot read /proc/{pid}/stat: is {pid} the broker's process?"),
            hint: Some("pass the broker JVM's pid with --broker-pid".into()),
        });
    }
    std::fs::create_dir_all(&args.work).map_err(|e| io_error(&args.work, e))?;
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
    }
    let mut cost = Cost {
        args,
        kafkademo,
        brokers: brokers.brokers.join(","),
        config: brokers,
        pid,
        rows: Rows::create(&args.out)?,
    };
    cost.machine()?;
    let start = Instant::now();
    say(&format!(
        "Creating {} topics of {} partitions, {} records each, and {} groups",
        args.topics, args.partitions, args.records, args.topics
    ))?;
    // deletes the topics and groups when dropped, at the end or on an error
    let _objects = CostObjects::create(brokers, args.topics, args.partitions, args.records)?;
    say(&format!("Setup: {:.1} s", start.elapsed().as_secs_f64()))?;
    cost.measure()?;
    say("")?;
    let tsv = std::fs::read_to_string(&args.out).map_err(|e| io_error(&args.out, e))?;
    print!("{}", table(&tsv));
    say("")?;
    say(&format!(
        "Written to {} (raw outputs in {}/)",
        shown(&args.out).display(),
        shown(&args.work).display()
    ))
}

/// A path as relative to the working directory when it is below it.
fn shown(path: &Path) -> &Path {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok())
        .unwrap_or(path)
}

struct Cost<'a> {
    args: &'a BenchTopCost,
    kafkademo: PathBuf,
    brokers: String,
    config: &'a BrokerConfig,
    pid: u32,
    rows: Rows,
}

impl Cost<'_> {
    /// The machine, its load, the broker and the size: printed and kept in
    /// WORK/machine.txt.
    fn machine(&self) -> Result<()> {
        let a = self.args;
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
            .map_or("?", |(_, m)| m.trim());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mem_kb: f64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0.0);
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        let load: Vec<&str> = load.split_whitespace().take(3).collect();
        let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
        let lines = [
            format!(
                "machine:   {cpus} CPUs ({model}), {:.1} GiB",
                mem_kb / 1_048_576.0
            ),
            format!("load:      {} (1, 5, 15 min) at start", load.join(" ")),
            format!("kafka:     {} on {} (pid {})", a.kafka, self.brokers, self.pid),
            format!(
                "kafkademo: {}, {} build",
                env!("CARGO_PKG_VERSION"),
                if cfg!(debug_assertions) {
                    "debug"
                } else {
                    "release"
                }
            ),
            format!(
                "size:      {} topics x {} partitions = {} partitions, {} groups (group i committed on all of topic i's partitions), {} records per topic",
                a.topics,
                a.partitions,
                u64::from(a.topics) * a.partitions as u64,
                a.topics,
                a.records
            ),
        ];
        let path = self.args.work.join("machine.txt");
        let mut text = String::new();
        for line in &lines {
            say(line)?;
            text.push_str(line);
            text.push('\n');
        }
        std::fs::write(&path, text).map_err(|e| io_error(&path, e))
    }

    fn measure(&mut self) -> Result<()> {
        let idle = self.idle()?;
        self.top_once()?;
        self.top_collect(idle)?;
        self.requests()?;
        self.web()
    }

    /// (1) the broker idle; its CPU seconds over DURATION.
    fn idle(&mut self) -> Result<f64> {
        let d = self.args.duration;
        settle()?;
        say(&format!("Broker idle for {d} s"))?;
        let idle = self.broker_cpu_over(Duration::from_secs(d))?;
        self.rows.row(
            "broker CPU, idle",
            &format!("{idle:.2}"),
            &format!("s per {d} s"),
            "measured: /proc/PID/stat utime+stime of the broker JVM",
        )?;
        Ok(idle)
    }

    /// (2) `top --once`, RUNS times.
    fn top_once(&mut self) -> Result<()> {
        let runs = self.args.runs;
        say(&format!("top --once --format json, {runs} times"))?;
        let (mut walls, mut rss) = (Vec::new(), 0);
        for r in 1..=runs {
            let (usage, _) = self.top(&format!("once-{r}"), &["top", "--once"], None)?;
            walls.push(usage.wall.as_millis().to_string());
            rss = rss.max(usage.peak_rss_kb);
        }
        let json_path = self.args.work.join("once-1.json");
        let json = std::fs::read_to_string(&json_path).map_err(|e| io_error(&json_path, e))?;
        let (parts, groups) = seen(&json);
        let (want_parts, want_groups) = (
            u64::from(self.args.topics) * self.args.partitions as u64,
            u64::from(self.args.topics),
        );
        if (parts, groups) != (want_parts, want_groups) {
            return Err(Error::Data {
                message: format!(
                    "top --once saw {parts} {PREFIX} partitions and {groups} groups, not {want_parts} and {want_groups} ({})",
                    json_path.display()
                ),
                hint: None,
            });
        }
        self.rows.row(
            "top --once: wall time",
            &walls.join(" "),
            "ms (each run)",
            &format!(
                "measured: whole process (connect, 1 snapshot, JSON of {} bytes)",
                json.len()
            ),
        )?;
        self.rows.row(
            "top --once: peak RSS",
            &rss.to_string(),
            "KB (max of runs)",
            "measured: wait4's ru_maxrss (what /usr/bin/time -v prints)",
        )
    }

    /// (3) `top --once --collect DURATION --interval 1s`, against `idle`.
    fn top_collect(&mut self, idle: f64) -> Result<()> {
        let d = self.args.duration;
        settle()?;
        say(&format!(
            "top --once --collect {d}s --interval 1s --format json"
        ))?;
        let collect = format!("{d}s");
        let (usage, broker) = self.top(
            "collect",
            &["top", "--once", "--collect", &collect, "--interval", "1s"],
            Some(self.pid),
        )?;
        let wall_ms = usage.wall.as_millis();
        let broker = broker.ok_or_else(|| broker_gone(self.pid))?;
        let rows = [
            (
                "top --collect: wall time",
                wall_ms.to_string(),
                "ms".to_string(),
                format!("measured: --collect {d}s, so {d}000 ms of it is the collecting"),
            ),
            (
                "top --collect: peak RSS",
                usage.peak_rss_kb.to_string(),
                "KB".into(),
                "measured: wait4's ru_maxrss".into(),
            ),
            (
                "top --collect: its own CPU",
                format!("{:.2}", usage.cpu_s),
                "s".into(),
                "measured: wait4's user+system time".into(),
            ),
            (
                "broker CPU, top refreshing every 1 s",
                format!("{broker:.2}"),
                format!("s per {:.1} s", wall_ms as f64 / 1000.0),
                "measured: as idle, over the top run".into(),
            ),
            (
                "broker CPU added by top",
                format!(
                    "{:.1}",
                    percent_of_core(broker, wall_ms as f64 / 1000.0)
                        - percent_of_core(idle, d as f64)
                ),
                "% of a core".into(),
                "computed: (top run - idle) per second".into(),
            ),
        ];
        for (metric, value, unit, how) in rows {
            self.rows.row(metric, &value, &unit, &how)?;
        }
        Ok(())
    }

    /// (4) the requests of a VERIFY s `top --collect`, counted in the
    /// broker's request log; a warning and no rows when the log cannot be
    /// switched on or found.
    fn requests(&mut self) -> Result<()> {
        let v = self.args.verify;
        settle()?;
        say(&format!(
            "Counting requests in the broker's request log over a {v} s top --collect"
        ))?;
        let Some(log) = request_log::server_log(self.pid, self.args.server_log.as_deref()) else {
            warn("the broker's log directory is unknown (--server-log): requests not counted");
            return interrupted();
        };
        let from = match request_log::log_end(&log) {
            Ok(n) => n,
            Err(e) => {
                warn(&format!(
                    "cannot read {}: {e}: requests not counted",
                    log.display()
                ));
                return interrupted();
            }
        };
        let logging = match RequestLogging::on(self.config) {
            Ok(l) => l,
            Err(e) => {
                warn(&format!(
                    "could not switch the request log on ({e}): requests not counted"
                ));
                return interrupted();
            }
        };
        let collect = format!("{v}s");
        self.top(
            "verify",
            &["top", "--once", "--collect", &collect, "--interval", "1s"],
            None,
        )?;
        logging.off();
        let text = request_log::read_since(&log, from).map_err(|e| io_error(&log, e))?;
        let requests = Requests::parse(&text, CLIENT_ID);
        let raw = self.args.work.join("verify-requests.txt");
        std::fs::write(
            &raw,
            format!(
                "{}\nstarts (ms): {:?}\nspans (ms): {:?}\n",
                requests.counts_text().unwrap_or_default(),
                requests.starts,
                requests.spans
            ),
        )
        .map_err(|e| io_error(&raw, e))?;
        let snaps = requests.spans.len();
        self.rows.row(
            &format!("requests in a {v} s top --collect"),
            &requests
                .counts_text()
                .unwrap_or_else(|| "none found".into()),
            "requests",
            &format!("counted: broker request log, clientId {CLIENT_ID} ({snaps} snapshots)"),
        )?;
        if let (true, Some(cycle)) = (snaps > 2, requests.cycle_ms()) {
            let cycle = cycle.round();
            self.rows.row(
                "top refresh (1 snapshot), broker-side",
                &min_median_max(&requests.spans).unwrap_or_default(),
                "ms (min / median / max)",
                "measured: request log, Metadata arrival to OffsetFetch answered",
            )?;
            self.rows.row(
                "top cycle at --interval 1s",
                &format!("{cycle:.0}"),
                "ms",
                "measured: request log, between snapshot starts",
            )?;
            self.rows.row(
                "requests per second",
                &format!(
                    "{:.1}",
                    requests.total() as f64 / snaps as f64 * 1000.0 / cycle
                ),
                "/s",
                "computed: counted requests / snapshots / cycle (the connect's ApiVersions and Metadata spread over them)",
            )?;
        }
        Ok(())
    }

    /// (5) `kafkademo web`, unscraped, then with /metrics scraped every
    /// second.
    fn web(&mut self) -> Result<()> {
        let d = self.args.duration;
        let over = Duration::from_secs(d);
        settle()?;
        let topic = topic_name(0);
        let web = Web::start(
            &self.kafkademo,
            &self.brokers,
            &topic,
            &self.args.work.join("web.log"),
        )?;
        pause(Duration::from_secs(3))?;
        say(&format!("kafkademo web running, not scraped, for {d} s"))?;
        let (b0, w0) = (self.broker_ticks()?, web_ticks(&web)?);
        pause(over)?;
        let (b1, w1) = (self.broker_ticks()?, web_ticks(&web)?);
        let web_idle = measure::ticks_to_secs(b1.saturating_sub(b0));
        self.rows.row(
            "broker CPU, web running unscraped",
            &format!("{web_idle:.2}"),
            &format!("s per {d} s"),
            &format!("measured: its consumer thread long-polls {topic}"),
        )?;
        self.rows.row(
            "web CPU, unscraped",
            &format!("{:.2}", measure::ticks_to_secs(w1.saturating_sub(w0))),
            &format!("s per {d} s"),
            "measured: /proc/PID/stat of kafkademo web",
        )?;

        say(&format!(
            "kafkademo web with /metrics scraped every 1 s for {d} s"
        ))?;
        let (mut durations, mut last) = (Vec::new(), String::new());
        let (b0, w0) = (self.broker_ticks()?, web_ticks(&web)?);
        let start = Instant::now();
        for i in 0..d {
            match web.get("/metrics") {
                Ok(body) => {
                    durations.extend(web::scrape_duration(&body));
                    last = body;
                }
                Err(e) => warn(&format!("scrape {i} failed: {e}")),
            }
            pause_until(start + Duration::from_secs(i + 1))?;
        }
        let (b1, w1) = (self.broker_ticks()?, web_ticks(&web)?);
        let rss = measure::peak_rss_kb(web.pid()).unwrap_or(0);
        web.stop()?;
        let scraped = measure::ticks_to_secs(b1.saturating_sub(b0));
        let metrics = self.args.work.join("metrics.txt");
        std::fs::write(&metrics, &last).map_err(|e| io_error(&metrics, e))?;
        let durations_ms: Vec<f64> = durations.iter().map(|s| s * 1000.0).collect();
        let rows = [
            (
                "broker CPU, web scraped every 1 s",
                format!("{scraped:.2}"),
                format!("s per {d} s"),
                "measured: as idle".to_string(),
            ),
            (
                "broker CPU added by /metrics",
                format!(
                    "{:.1}",
                    percent_of_core(scraped, d as f64) - percent_of_core(web_idle, d as f64)
                ),
                "% of a core".into(),
                "computed: (scraped - unscraped) per second".into(),
            ),
            (
                "web CPU, scraped",
                format!("{:.2}", measure::ticks_to_secs(w1.saturating_sub(w0))),
                format!("s per {d} s"),
                "measured: /proc/PID/stat of kafkademo web".into(),
            ),
            (
                "web peak RSS",
                rss.to_string(),
                "KB".into(),
                "measured: VmHWM of kafkademo web at the end".into(),
            ),
            (
                "/metrics size",
                format!("{} bytes, {} series", last.len(), web::series(&last)),
                String::new(),
                "measured: the last scrape".into(),
            ),
            (
                "web refresh (1 snapshot)",
                min_median_max(&durations_ms).unwrap_or_default(),
                format!("ms (min / median / max of {} scrapes)", durations_ms.len()),
                "measured: kafkademo_scrape_duration_seconds".into(),
            ),
        ];
        for (metric, value, unit, how) in rows {
            self.rows.row(metric, &value, &unit, &how)?;
        }
        Ok(())
    }

    /// Runs `kafkademo --brokers B ARGS --format json` measured, its JSON
    /// in WORK/NAME.json and its stderr in WORK/NAME.err; a failure ends
    /// the run. Returns its usage and the broker's CPU seconds meanwhile
    /// (when `broker_pid` is given).
    fn top(
        &self,
        name: &str,
        args: &[&str],
        broker_pid: Option<u32>,
    ) -> Result<(Usage, Option<f64>)> {
        let mut cmd = Command::new(&self.kafkademo);
        cmd.args(["--brokers", &self.brokers])
            .args(args)
            .args(["--format", "json"]);
        let out = self.args.work.join(format!("{name}.json"));
        let err = self.args.work.join(format!("{name}.err"));
        let usage = measure::run_split(&mut cmd, &out, &err, broker_pid)
            .map_err(|e| io_error(&self.kafkademo, e))?;
        interrupted()?;
        if usage.exit != Some(0) {
            let how = usage
                .exit
                .map_or("a signal ended it".into(), |c| format!("exit code {c}"));
            return Err(Error::Data {
                message: format!(
                    "kafkademo {} failed ({how}); its messages: {}",
                    args.join(" "),
                    err.display()
                ),
                hint: None,
            });
        }
        let broker = usage.broker_cpu_s;
        Ok((usage, broker))
    }

    fn broker_ticks(&self) -> Result<u64> {
        measure::cpu_ticks(self.pid).ok_or_else(|| broker_gone(self.pid))
    }

    /// The broker's CPU seconds over `d`.
    fn broker_cpu_over(&self, d: Duration) -> Result<f64> {
        let b0 = self.broker_ticks()?;
        pause(d)?;
        let b1 = self.broker_ticks()?;
        Ok(measure::ticks_to_secs(b1.saturating_sub(b0)))
    }
}

fn web_ticks(web: &Web) -> Result<u64> {
    measure::cpu_ticks(web.pid()).ok_or_else(|| Error::Data {
        message: format!(
            "cannot read /proc/{}/stat of kafkademo web: did it end?",
            web.pid()
        ),
        hint: None,
    })
}

fn broker_gone(pid: u32) -> Error {
    Error::Data {
        message: format!("cannot read /proc/{pid}/stat any more: did the broker stop?"),
        hint: None,
    }
}

/// Lets the setup's work (and deletions' aftermath) pass.
fn settle() -> Result<()> {
    pause(Duration::from_secs(5))
}

fn warn(message: &str) {
    eprintln!("bench top-cost: {message}");
}

/// The kd-cost- partitions and groups a `top --once --format json` saw.
fn seen(json: &str) -> (u64, u64) {
    let v: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
    let ours = |item: &&serde_json::Value| {
        item.get("name")
            .and_then(|n| n.as_str())
            .is_some_and(|n| n.starts_with(PREFIX))
    };
    let list = |key: &str| {
        v.get(key)
            .and_then(|l| l.as_array())
            .map(|l| l.iter().filter(ours).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    let partitions = list("topics")
        .iter()
        .filter_map(|t| t.get("partitions")?.as_array().map(|p| p.len() as u64))
        .sum();
    (partitions, list("groups").len() as u64)
}

#[cfg(test)]
mod tests {
    use super::objects::group_name;
    use super::*;

    #[test]
    fn only_kd_cost_partitions_and_groups_are_counted() {
        let json = r#"{"topics":[
            {"name":"kd-cost-0000","partitions":[{},{},{}]},
            {"name":"kd-cost-0001","partitions":[{},{},{}]},
            {"name":"other","partitions":[{}]}],
            "groups":[{"name":"kd-cost-g0000"},{"name":"kd-cost-g0001"},{"name":"g"}]}"#;
        assert_eq!(seen(json), (6, 2));
        assert_eq!(seen("not json"), (0, 0));
        assert_eq!(
            (topic_name(7), group_name(12)),
            ("kd-cost-0007".to_string(), "kd-cost-g0012".to_string())
        );
    }
}
