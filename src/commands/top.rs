//! `kafkademo top`: the cluster at a glance, live in the terminal (top/tui.rs)
//! or as one snapshot in text or JSON (`--once`, or whenever stdout is not a
//! terminal). The numbers come from `client::observe` and `observe::History`;
//! docs/monitoring.md says what each one means. Every cell is escaped
//! (`render::printable`): group names, states and member ids are anyone's.

mod tui;

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use crate::cli::{Format, Top};
use crate::client::cluster::BrokerConfig;
use crate::client::deadline::{interrupted, SLICE};
use crate::client::observe::Observer;
use crate::commands::group::write_table;
use crate::error::{Error, Result};
use crate::observe::{History, View};
use crate::render::printable;

pub fn execute(brokers: &BrokerConfig, args: Top) -> Result<()> {
    if args.interval.is_zero() {
        return Err(Error::Usage("--interval must be more than 0".into()));
    }
    let mut observer = Observer::new(brokers);
    if args.once || !std::io::stdout().is_terminal() {
        once(&mut observer, &args)
    } else {
        tui::run(observer, &args)
    }
}

/// One snapshot (or, with --collect, the last of those taken meanwhile).
fn once(observer: &mut Observer, args: &Top) -> Result<()> {
    let mut history = History::new(args.window);
    let start = Instant::now();
    history.push(observer.snapshot()?);
    while start.elapsed() < args.collect {
        sleep(args.interval.min(args.collect - start.elapsed()))?;
        history.push(observer.snapshot()?);
    }
    let Some(mut view) = history.view() else {
        return Err(Error::broker("no snapshot was taken"));
    };
    keep_shown(&mut view, args);
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => {
            let json = serde_json::to_string_pretty(&view)
                .map_err(|e| Error::broker(format!("cannot write the snapshot as JSON: {e}")))?;
            writeln!(out, "{json}").map_err(Error::Output)
        }
        Format::Text => write_text(&mut out, &view).map_err(Error::Output),
    }
}

/// Leaves out what the flags hide: internal topics, names not matching.
pub fn keep_shown(view: &mut View, args: &Top) {
    if !args.internal {
        view.topics.retain(|t| !t.internal);
    }
    if let Some(text) = &args.matching {
        view.topics.retain(|t| t.name.contains(text.as_str()));
        view.groups.retain(|g| {
            g.name.contains(text.as_str())
                || g.topics.iter().any(|t| t.topic.contains(text.as_str()))
        });
    }
}

/// Sleeps in slices, ending early (as an error) on Ctrl-C.
fn sleep(d: Duration) -> Result<()> {
    let until = Instant::now() + d;
    while Instant::now() < until {
        if interrupted() {
            return Err(Error::Interrupted);
        }
        std::thread::sleep(SLICE.min(until.saturating_duration_since(Instant::now())));
    }
    Ok(())
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or("-".into(), |v| v.to_string())
}

fn ids(v: &[i32]) -> String {
    let s: Vec<String> = v.iter().map(i32::to_string).collect();
    s.join(",")
}

fn rate(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.1}"))
}

/// When a snapshot was taken, as UTC (RFC 3339, seconds).
pub fn clock(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// The brokers' rows (with a header).
pub fn broker_rows(view: &View) -> Vec<Vec<String>> {
    let mut rows = vec![cells(&[
        "BROKER",
        "ADDRESS",
        "RACK",
        "STATUS",
        "CONTROLLER",
        "LEADERS",
    ])];
    for b in &view.brokers {
        rows.push(vec![
            b.id.to_string(),
            text(&b.addr),
            text(&opt(b.rack.clone())),
            b.status.name().into(),
            if view.controller == Some(b.id) {
                "yes"
            } else {
                "-"
            }
            .into(),
            b.leaders.to_string(),
        ]);
    }
    rows
}

pub fn topic_rows(view: &View) -> Vec<Vec<String>> {
    let mut rows = vec![cells(&[
        "TOPIC",
        "PARTITIONS",
        "IN/S",
        "OUT/S",
        "UNDER-REPLICATED",
        "OFFLINE",
    ])];
    for t in &view.topics {
        rows.push(vec![
            text(&t.name),
            t.partitions.len().to_string(),
            rate(t.records_in_per_s),
            rate(t.records_out_per_s),
            t.under_replicated.to_string(),
            t.offline.to_string(),
        ]);
    }
    rows
}

pub fn group_rows(view: &View) -> Vec<Vec<String>> {
    let mut rows = vec![cells(&[
        "GROUP", "STATE", "MEMBERS", "LAG", "TIME-LAG", "OUT/S", "STATUS", "KIND",
    ])];
    for g in &view.groups {
        let out: Vec<f64> = g
            .topics
            .iter()
            .filter_map(|t| t.records_out_per_s)
            .collect();
        rows.push(vec![
            text(&g.name),
            text(&g.state),
            g.members.to_string(),
            opt(g.lag),
            g.time_lag.text(),
            rate((!out.is_empty()).then(|| out.iter().sum())),
            g.status.name().into(),
            if g.stream_topics.is_empty() {
                if g.protocol_type.is_empty() {
                    "-".to_string()
                } else {
                    text(&g.protocol_type)
                }
            } else {
                "stream".into()
            },
        ]);
    }
    rows
}

/// One topic's partitions.
pub fn partition_rows(view: &View, topic: &str) -> Vec<Vec<String>> {
    let mut rows = vec![cells(&[
        "PARTITION",
        "LEADER",
        "REPLICAS",
        "ISR",
        "LOG-END-OFFSET",
        "NOTE",
    ])];
    for t in view.topics.iter().filter(|t| t.name == topic) {
        for p in &t.partitions {
            let note = match (p.offline(), p.under_replicated()) {
                (true, _) => "offline",
                (false, true) => "under-replicated",
                _ => "-",
            };
            rows.push(vec![
                p.partition.to_string(),
                p.leader.map_or("none".into(), |l| l.to_string()),
                ids(&p.replicas),
                ids(&p.isr),
                opt(p.log_end),
                note.into(),
            ]);
        }
    }
    rows
}

/// Groups' partitions: all (`None`) or one group's.
pub fn group_partition_rows(view: &View, group: Option<&str>) -> Vec<Vec<String>> {
    let mut rows = vec![cells(&[
        "GROUP",
        "TOPIC",
        "PARTITION",
        "CURRENT-OFFSET",
        "LOG-END-OFFSET",
        "LAG",
        "TIME-LAG",
        "STATUS",
        "CONSUMER-ID",
    ])];
    for g in &view.groups {
        if group.is_some_and(|name| name != g.name) {
            continue;
        }
        for p in &g.partitions {
            rows.push(vec![
                text(&g.name),
                text(&p.offset.topic),
                p.offset.partition.to_string(),
                opt(p.offset.committed),
                opt(p.offset.log_end),
                opt(p.lag),
                p.time_lag.text(),
                p.status.name().into(),
                text(&opt(p.offset.owner.clone())),
            ]);
        }
    }
    rows
}

/// A cell that shows text from Kafka.
fn text(s: &str) -> String {
    printable(s).into_owned()
}

fn cells(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// A one-line summary: where, when, how much history.
pub fn headline(view: &View) -> String {
    format!(
        "Cluster via {}, controller {}, at {} (history {} of {})",
        printable(&view.bootstrap),
        opt(view.controller),
        clock(view.taken_at_ms),
        crate::observe::short_duration(Duration::from_millis(view.covered_ms)),
        crate::observe::short_duration(Duration::from_millis(view.window_ms)),
    )
}

fn write_text(out: &mut impl Write, view: &View) -> std::io::Result<()> {
    writeln!(out, "{}", headline(view))?;
    writeln!(out)?;
    write_table(out, &broker_rows(view))?;
    writeln!(out)?;
    write_table(out, &topic_rows(view))?;
    writeln!(out)?;
    write_table(out, &group_rows(view))?;
    let partitions = group_partition_rows(view, None);
    if partitions.len() > 1 {
        writeln!(out)?;
        write_table(out, &partitions)?;
    }
    for p in &view.problems {
        writeln!(out, "note: {}", printable(p))?;
    }
    Ok(())
}
