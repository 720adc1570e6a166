//! Reading kafkademo's requests back from the broker's own request log
//! (kafka.request.logger at DEBUG: one `Completed request:{…}` line per
//! request, JSON after the prefix), so that `bench top-cost`'s requests/s
//! is counted by the broker rather than computed from the code; and
//! switching that logger on and off. Pure logic but for those and for
//! reading the log and finding it.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::client::cluster::{BrokerConfig, Cluster};
use crate::client::manage;
use crate::error::{Error, Result};

use super::warn;

/// What the broker logged of one request of ours.
#[derive(Debug, Clone, PartialEq)]
struct Completed {
    /// When it was logged (answered), in ms since midnight.
    at_ms: f64,
    api_key: i16,
    /// The broker's totalTimeMs: from its arrival to its answer.
    total_ms: f64,
    /// A Metadata request for every topic: the first request of a snapshot
    /// (the connect's own Metadata asks for no topic).
    snapshot_start: bool,
}

/// The requests of one client id, as the broker logged them.
#[derive(Debug, Default, PartialEq)]
pub struct Requests {
    /// How many of each API key.
    pub counts: BTreeMap<i16, u32>,
    /// Each snapshot's start: its Metadata request's arrival (ms).
    pub starts: Vec<f64>,
    /// Each snapshot as the broker saw it: from its Metadata request's
    /// arrival to its OffsetFetch answered (ms).
    pub spans: Vec<f64>,
}

impl Requests {
    /// Reads the request log lines of `client_id` among `log`'s lines,
    /// but for the connection that switched the log on and off (the one
    /// that sent IncrementalAlterConfigs).
    pub fn parse(log: &str, client_id: &str) -> Requests {
        let mut out = Requests::default();
        let mut start = None;
        let ours = format!("\"clientId\":\"{client_id}\"");
        let lines: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("Completed request") && l.contains(&ours))
            .collect();
        let switching: Vec<&str> = lines
            .iter()
            .filter(|l| number_after(l, "\"requestApiKey\":") == Some(INCREMENTAL_ALTER_CONFIGS))
            .filter_map(|l| connection(l))
            .collect();
        for line in lines {
            if connection(line).is_some_and(|c| switching.contains(&c)) {
                continue;
            }
            let Some(c) = completed(line) else { continue };
            *out.counts.entry(c.api_key).or_default() += 1;
            if c.snapshot_start {
                let s = c.at_ms - c.total_ms;
                out.starts.push(s);
                start = Some(s);
            } else if c.api_key == OFFSET_FETCH {
                if let Some(s) = start.take() {
                    out.spans.push(c.at_ms - s);
                }
            }
        }
        out
    }

    pub fn total(&self) -> u32 {
        self.counts.values().sum()
    }

    /// `5 ListOffsets, 6 Metadata, …` by API key, or None when none was seen.
    pub fn counts_text(&self) -> Option<String> {
        let parts: Vec<String> = self
            .counts
            .iter()
            .map(|(&k, n)| format!("{n} {}", api_name(k)))
            .collect();
        (!parts.is_empty()).then(|| parts.join(", "))
    }

    /// The time between snapshot starts (ms), from the first to the last
    /// but one (the last sleep is cut short); None under three snapshots.
    pub fn cycle_ms(&self) -> Option<f64> {
        let n = self.starts.len();
        (n > 2).then(|| (self.starts[n - 2] - self.starts[0]) / (n - 2) as f64)
    }
}

const OFFSET_FETCH: i16 = 9;
const METADATA: i16 = 3;
const INCREMENTAL_ALTER_CONFIGS: &str = "44";

/// The connection a request came on: `"connection":"BROKER-CLIENT-N"`.
fn connection(line: &str) -> Option<&str> {
    let key = "\"connection\":\"";
    let rest = &line[line.find(key)? + key.len()..];
    rest.split('"').next()
}

fn completed(line: &str) -> Option<Completed> {
    // "[2026-12-06 15:45:49,089] DEBUG Completed request:{…}"
    let time = line.split_whitespace().nth(1)?.get(..12)?;
    let mut t = time.split([':', ',']).map(|f| f.parse::<f64>().ok());
    let (h, m, s, ms) = (t.next()??, t.next()??, t.next()??, t.next()??);
    let api_key = number_after(line, "\"requestApiKey\":")?.parse().ok()?;
    let total_ms = number_after(line, "\"totalTimeMs\":")?.parse().ok()?;
    Some(Completed {
        at_ms: ((h * 60.0 + m) * 60.0 + s) * 1000.0 + ms,
        api_key,
        total_ms,
        snapshot_start: api_key == METADATA && line.contains("\"request\":{\"topics\":null"),
    })
}

/// The number right after `key` (digits and a point).
fn number_after<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let rest = &line[line.find(key)? + key.len()..];
    let end = rest
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
}

/// The names of the API keys a kafkademo client sends.
pub fn api_name(key: i16) -> String {
    match key {
        0 => "Produce",
        1 => "Fetch",
        2 => "ListOffsets",
        3 => "Metadata",
        8 => "OffsetCommit",
        9 => "OffsetFetch",
        10 => "FindCoordinator",
        11 => "JoinGroup",
        15 => "DescribeGroups",
        16 => "ListGroups",
        17 => "SaslHandshake",
        18 => "ApiVersions",
        44 => "IncrementalAlterConfigs",
        _ => return format!("api{key}"),
    }
    .to_string()
}

/// Where the broker writes its log (the root logger's server.log): the
/// directory its command line names (-Dkafka.logs.dir), else `fallback`.
pub fn server_log(broker_pid: u32, fallback: Option<&Path>) -> Option<PathBuf> {
    let cmdline = std::fs::read(format!("/proc/{broker_pid}/cmdline")).ok();
    cmdline
        .as_deref()
        .and_then(logs_dir)
        .map(|d| d.join("server.log"))
        .or_else(|| fallback.map(Path::to_path_buf))
}

fn logs_dir(cmdline: &[u8]) -> Option<PathBuf> {
    cmdline
        .split(|&b| b == 0)
        .filter_map(|arg| arg.strip_prefix(b"-Dkafka.logs.dir="))
        .find(|d| !d.is_empty())
        .map(|d| PathBuf::from(String::from_utf8_lossy(d).into_owned()))
}

/// The log's size now: where the lines of what follows start.
pub fn log_end(path: &Path) -> std::io::Result<u64> {
    Ok(std::fs::metadata(path)?.len())
}

/// What was appended to the log since `from` (all of it, were it rolled
/// over meanwhile).
pub fn read_since(path: &Path, from: u64) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    file.seek(SeekFrom::Start(if len < from { 0 } else { from }))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The broker's logger of every request, DEBUG while counted.
const REQUEST_LOGGER: &str = "kafka.request.logger";

/// kafka.request.logger at DEBUG on the broker measured, until `off` (or
/// the end of the run, whichever way it ends) sets it back to WARN.
pub struct RequestLogging {
    loggers: manage::BrokerLoggers,
    on: bool,
}

impl RequestLogging {
    pub fn on(config: &BrokerConfig) -> Result<RequestLogging> {
        let mut cluster = Cluster::connect(config)?;
        let info = manage::describe_cluster(&mut cluster)?;
        // The broker of --brokers: the only one, or the one of its address.
        let broker = match &info.brokers[..] {
            [one] => one.id,
            all => all
                .iter()
                .find(|b| config.brokers.contains(&b.address))
                .map(|b| b.id)
                .ok_or_else(|| {
                    Error::broker(format!(
                        "{} brokers, none at {}: which one's log to read?",
                        all.len(),
                        config.display()
                    ))
                })?,
        };
        let mut loggers = manage::BrokerLoggers::open(&mut cluster, broker)?;
        loggers.set(REQUEST_LOGGER, "DEBUG")?;
        Ok(RequestLogging { loggers, on: true })
    }

    pub fn off(mut self) {
        self.set_warn();
    }

    fn set_warn(&mut self) {
        if !std::mem::take(&mut self.on) {
            return;
        }
        if let Err(e) = self.loggers.set(REQUEST_LOGGER, "WARN") {
            warn(&format!("could not set {REQUEST_LOGGER} back to WARN: {e}"));
        }
    }
}

impl Drop for RequestLogging {
    fn drop(&mut self) {
        self.set_warn();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(time: &str, key: i16, client: &str, request: &str, total: &str) -> String {
        on(time, key, client, request, total, "42502-79")
    }

    fn on(time: &str, key: i16, client: &str, request: &str, total: &str, conn: &str) -> String {
        format!(
            "[2026-12-06 {time}] DEBUG Completed request:{{\"isForwarded\":false,\"requestHeader\":{{\"requestApiKey\":{key},\"requestApiVersion\":3,\"correlationId\":1,\"clientId\":\"{client}\"}},\"request\":{request},\"response\":{{\"apiKey\":9}},\"connection\":\"127.0.0.1:9092-127.0.0.1:{conn}\",\"totalTimeMs\":{total},\"requestQueueTimeMs\":0.1}} (kafka.request.logger)"
        )
    }

    /// Two snapshots of 5 requests after a connect (ApiVersions, Metadata
    /// for no topic), with another client's request among them.
    fn log() -> String {
        let all = "{\"topics\":null,\"allowAutoTopicCreation\":false}";
        let none = "{\"topics\":[]}";
        let snapshot = |s: &str, t0: &str, t1: &str| {
            vec![
                line(&format!("15:45:{s},{t0}"), 3, "kafkademo", all, "2.5"),
                line(&format!("15:45:{s},500"), 2, "kafkademo", "{}", "1"),
                line(&format!("15:45:{s},600"), 16, "kafkademo", "{}", "1"),
                line(&format!("15:45:{s},700"), 15, "kafkademo", "{}", "1"),
                line(&format!("15:45:{s},{t1}"), 9, "kafkademo", "{}", "1.25"),
            ]
        };
        let mut lines = vec![
            "[2026-12-06 15:45:48,000] INFO something else (kafka.server.KafkaServer)".to_string(),
            // the request that switched the log on, and one more of its connection
            on("15:45:48,500", 44, "kafkademo", "{}", "3", "40000-70"),
            on("15:45:48,600", 3, "kafkademo", all, "1", "40000-70"),
            line("15:45:49,086", 18, "kafkademo", "{}", "0.3"),
            line("15:45:49,089", 3, "kafkademo", none, "1.524"),
            line("15:45:49,090", 1, "other", "{}", "500"),
        ];
        lines.extend(snapshot("50", "010", "900"));
        lines.extend(snapshot("51", "030", "800"));
        lines.extend(snapshot("52", "050", "990"));
        lines.join("\n")
    }

    #[test]
    fn requests_are_counted_by_api_for_one_client() {
        let r = Requests::parse(&log(), "kafkademo");
        assert_eq!(
            r.counts_text().unwrap(),
            "3 ListOffsets, 4 Metadata, 3 OffsetFetch, 3 DescribeGroups, 3 ListGroups, 1 ApiVersions"
        );
        assert_eq!(r.total(), 17);
        assert_eq!(Requests::parse(&log(), "nobody").counts_text(), None);
        assert_eq!(api_name(60), "api60");
    }

    #[test]
    fn a_snapshot_runs_from_its_metadata_arrival_to_its_offset_fetch_answer() {
        let r = Requests::parse(&log(), "kafkademo");
        // the first Metadata was answered at 50.010 after 2.5 ms
        let base = (15.0 * 3600.0 + 45.0 * 60.0) * 1000.0;
        assert_eq!(
            r.starts,
            vec![base + 50_007.5, base + 51_027.5, base + 52_047.5]
        );
        assert_eq!(r.spans, vec![892.5, 772.5, 942.5]);
        // (second start - first) / 1
        assert_eq!(r.cycle_ms(), Some(1020.0));
        let two = Requests {
            starts: r.starts[..2].to_vec(),
            ..Requests::default()
        };
        assert_eq!(two.cycle_ms(), None);
    }

    #[test]
    fn the_logs_dir_comes_from_the_brokers_command_line() {
        let cmdline = b"java\0-Xmx1G\0-Dkafka.logs.dir=/k/logs\0-cp\0x\0kafka.Kafka\0";
        assert_eq!(logs_dir(cmdline), Some(PathBuf::from("/k/logs")));
        assert_eq!(logs_dir(b"java\0-Dkafka.logs.dir=\0"), None);
        assert_eq!(
            server_log(u32::MAX, Some(Path::new("/f/server.log"))),
            Some(PathBuf::from("/f/server.log"))
        );
    }

    #[test]
    fn only_what_was_appended_is_read() {
        let path = std::env::temp_dir().join(format!("kd-request-log-{}", std::process::id()));
        std::fs::write(&path, "old\n").unwrap();
        let from = log_end(&path).unwrap();
        std::fs::write(&path, "old\nnew\n").unwrap();
        assert_eq!(read_since(&path, from).unwrap(), "new\n");
        // rolled over: shorter than where we started
        std::fs::write(&path, "a\n").unwrap();
        assert_eq!(read_since(&path, from).unwrap(), "a\n");
        std::fs::remove_file(&path).unwrap();
    }
}
