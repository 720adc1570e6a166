//! `kafkademo bench stream-table` (hidden): the Markdown tables and the
//! goal lines of scripts/stream-bench.sh from its results.tsv (figure,
//! processor, round, metric, value), so the script only runs brokers and
//! processors. Each cell is the median of its rounds; ratios compare like
//! with like (kafkademo exactly-once with Kafka Streams exactly_once_v2,
//! unfenced with at_least_once).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write;

use super::results::median;
use crate::cli::BenchStreamTable;
use crate::error::{Error, Result};

const EOS: &str = "kafkademo-eos";
const UNFENCED: &str = "kafkademo-unfenced";
const KS_EOS: &str = "kstreams-eos";
const KS_ALOS: &str = "kstreams-alos";

/// A processor's name in the tables.
fn label(processor: &str) -> &str {
    match processor {
        EOS => "kafkademo exactly-once",
        UNFENCED => "kafkademo unfenced",
        KS_EOS => "Kafka Streams exactly_once_v2",
        KS_ALOS => "Kafka Streams at_least_once",
        other => other,
    }
}

pub fn execute(args: &BenchStreamTable) -> Result<()> {
    let text = std::fs::read_to_string(&args.results).map_err(|e| Error::Data {
        message: format!("cannot read {}: {e}", args.results.display()),
        hint: Some("give the results.tsv scripts/stream-bench.sh wrote".into()),
    })?;
    let results = Results::parse(&text).map_err(|why| Error::Data {
        message: format!("{}: {why}", args.results.display()),
        hint: None,
    })?;
    let (tables, goals) = report(&results, args);
    let mut out = std::io::stdout().lock();
    out.write_all(tables.as_bytes())
        .and_then(|()| out.flush())
        .map_err(Error::Output)?;
    std::fs::write(&args.goals, goals).map_err(|e| Error::Data {
        message: format!("cannot write {}: {e}", args.goals.display()),
        hint: None,
    })
}

/// The rounds of each (figure, processor, metric); a retention metric is
/// named `SPAN/metric` (its round column holds the span).
struct Results {
    values: HashMap<(String, String, String), Vec<f64>>,
    figures: Vec<String>,
}

impl Results {
    fn parse(text: &str) -> std::result::Result<Results, String> {
        let mut values: HashMap<(String, String, String), Vec<f64>> = HashMap::new();
        let mut figures = Vec::new();
        for (i, line) in text.lines().enumerate().skip(1) {
            if line.is_empty() {
                continue;
            }
            let f: Vec<&str> = line.split('\t').collect();
            let [figure, processor, round, metric, value] = f[..] else {
                return Err(format!("line {}: {} fields, not 5", i + 1, f.len()));
            };
            if value.is_empty() || value == "NaN" {
                continue;
            }
            let value: f64 = value
                .parse()
                .map_err(|_| format!("line {}: '{value}' is not a number", i + 1))?;
            let metric = if figure == "retention" {
                format!("{round}/{metric}")
            } else {
                metric.to_string()
            };
            values
                .entry((figure.to_string(), processor.to_string(), metric))
                .or_default()
                .push(value);
            if !figures.iter().any(|f| f == figure) {
                figures.push(figure.to_string());
            }
        }
        Ok(Results { values, figures })
    }

    fn seen(&self, figure: &str) -> bool {
        self.figures.iter().any(|f| f == figure)
    }

    fn median(&self, figure: &str, processor: &str, metric: &str) -> Option<f64> {
        let key = (
            figure.to_string(),
            processor.to_string(),
            metric.to_string(),
        );
        self.values.get(&key).map(|v| median(v.clone()))
    }
}

/// 1234567 -> "1,234,567" (rounded to a whole number first).
fn commas(x: f64) -> String {
    let s = format!("{x:.0}");
    let (sign, digits) = match s.strip_prefix('-') {
        Some(d) => ("-", d),
        None => ("", s.as_str()),
    };
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("{sign}{out}")
}

/// A number string as given (`--records 5000000`), with commas.
fn commas_str(s: &str) -> String {
    s.parse::<f64>()
        .map(commas)
        .unwrap_or_else(|_| s.to_string())
}

#[derive(Clone, Copy)]
enum Unit {
    Count,
    KibAsMb,
    BytesAsMb,
    Ms,
    Seconds,
    Seconds3,
}

fn fmt(x: Option<f64>, unit: Unit) -> String {
    let Some(x) = x else {
        return "n/a".into();
    };
    match unit {
        Unit::Count => commas(x),
        Unit::KibAsMb => format!("{:.1} MB", x / 1024.0),
        Unit::BytesAsMb => format!("{:.1} MB", x / 1048576.0),
        Unit::Ms => format!("{x:.1} ms"),
        Unit::Seconds => format!("{x:.2} s"),
        Unit::Seconds3 => format!("{x:.3} s"),
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "—".into(),
    }
}

/// The processors of a table and the pair its ratio column compares.
struct Columns<'a> {
    processors: Vec<&'a str>,
    ours: Option<&'a str>,
    theirs: Option<&'a str>,
}

impl<'a> Columns<'a> {
    fn of(list: &'a str) -> Columns<'a> {
        let processors: Vec<&str> = list.split_whitespace().collect();
        let ours = processors
            .iter()
            .copied()
            .find(|p| p.starts_with("kafkademo-"));
        let theirs = processors
            .iter()
            .copied()
            .find(|p| p.starts_with("kstreams-"));
        Columns {
            processors,
            ours,
            theirs,
        }
    }

    fn header(&self, out: &mut String, with_ratio: bool) {
        let mut h = "| figure |".to_string();
        let mut s = "|---|".to_string();
        for p in &self.processors {
            let _ = write!(h, " {} |", label(p));
            s.push_str("---:|");
        }
        if with_ratio {
            let name = match (self.ours, self.theirs) {
                (Some(a), Some(b)) => format!("ratio ({} ÷ {})", label(a), label(b)),
                _ => "ratio".into(),
            };
            let _ = write!(h, " {name} |");
            s.push_str("---:|");
        }
        let _ = writeln!(out, "{h}\n{s}");
    }

    /// The ratio of ours to theirs among `values` (one per processor).
    fn ratio(&self, values: &HashMap<&str, Option<f64>>) -> String {
        match (self.ours, self.theirs) {
            (Some(a), Some(b)) => ratio(values[a], values[b]),
            _ => "—".into(),
        }
    }
}

enum RatioColumn {
    None,
    Ratio,
    Dash,
}

fn row(
    out: &mut String,
    results: &Results,
    columns: &Columns,
    label: &str,
    (figure, metric, unit): (&str, &str, Unit),
    ratio_column: RatioColumn,
) {
    let mut r = format!("| {label} |");
    let mut values = HashMap::new();
    for p in &columns.processors {
        let x = results.median(figure, p, metric);
        let _ = write!(r, " {} |", fmt(x, unit));
        values.insert(*p, x);
    }
    match ratio_column {
        RatioColumn::None => {}
        RatioColumn::Ratio => {
            let _ = write!(r, " {} |", columns.ratio(&values));
        }
        RatioColumn::Dash => r.push_str(" — |"),
    }
    let _ = writeln!(out, "{r}");
}

/// The tables (stdout) and the goal lines (the goals file).
fn report(results: &Results, args: &BenchStreamTable) -> (String, String) {
    let mut out = String::new();
    // The guarantee table's medians, for the goals.
    let mut g: HashMap<(&str, &str), Option<f64>> = HashMap::new();
    if results.seen("throughput") || results.seen("latency") {
        out.push_str("| figure | kafkademo exactly-once | kafkademo unfenced | Kafka Streams exactly_once_v2 | Kafka Streams at_least_once | kafkademo exactly-once ÷ unfenced | kafkademo exactly-once ÷ Kafka Streams exactly_once_v2 | kafkademo unfenced ÷ Kafka Streams at_least_once | Kafka Streams exactly_once_v2 ÷ at_least_once |\n");
        out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        let rate = commas_str(&args.rate);
        let rows = [
            (
                format!(
                    "records/s, windowed count ({} records, {} keys, {} partitions, 10 s windows, emit updates; median of {})",
                    commas_str(&args.records),
                    args.keys,
                    args.partitions,
                    args.rounds
                ),
                "throughput",
                "records_per_s",
                Unit::Count,
            ),
            (
                "records/s counted from the process start (start-up included)".into(),
                "throughput",
                "records_per_s_from_start",
                Unit::Count,
            ),
            (
                "peak RSS during that run".into(),
                "throughput",
                "peak_rss_kb",
                Unit::KibAsMb,
            ),
            (
                format!(
                    "end-to-end latency p50 at {rate} records/s (read_committed; median of {})",
                    args.rounds
                ),
                "latency",
                "latency_p50_ms",
                Unit::Ms,
            ),
            (
                format!("end-to-end latency p99 at {rate} records/s"),
                "latency",
                "latency_p99_ms",
                Unit::Ms,
            ),
            (
                format!("end-to-end latency max at {rate} records/s"),
                "latency",
                "latency_max_ms",
                Unit::Ms,
            ),
        ];
        for (label, figure, metric, unit) in rows {
            let [a, b, c, d] =
                [EOS, UNFENCED, KS_EOS, KS_ALOS].map(|p| results.median(figure, p, metric));
            let _ = writeln!(
                out,
                "| {label} | {} | {} | {} | {} | {} | {} | {} | {} |",
                fmt(a, unit),
                fmt(b, unit),
                fmt(c, unit),
                fmt(d, unit),
                ratio(a, b),
                ratio(a, c),
                ratio(b, d),
                ratio(c, d)
            );
            for (p, x) in [(EOS, a), (UNFENCED, b), (KS_EOS, c), (KS_ALOS, d)] {
                g.insert((metric, p), x);
            }
        }
        out.push('\n');
    }

    if results.seen("restore") {
        let columns = Columns::of(&args.restore_processors);
        columns.header(&mut out, true);
        let restore = |metric, unit| ("restore", metric, unit);
        row(
            &mut out,
            results,
            &columns,
            "restore: changelog records read",
            restore("records", Unit::Count),
            RatioColumn::Ratio,
        );
        row(
            &mut out,
            results,
            &columns,
            "restore time (all partitions: first start to last end)",
            restore("seconds", Unit::Seconds),
            RatioColumn::Ratio,
        );
        row(
            &mut out,
            results,
            &columns,
            "restore time, sum of the per-partition times (Kafka Streams prints one per partition)",
            restore("seconds_sum", Unit::Seconds),
            RatioColumn::Dash,
        );
        let mut r = "| restore rate (records/s: records ÷ restore time) |".to_string();
        let mut rates = HashMap::new();
        for p in &columns.processors {
            let a = results.median("restore", p, "records");
            let b = results.median("restore", p, "seconds");
            let rate = match (a, b) {
                (Some(a), Some(b)) if b > 0.0 => Some(a / b),
                _ => None,
            };
            let _ = write!(r, " {} |", fmt(rate, Unit::Count));
            rates.insert(*p, rate);
        }
        let _ = writeln!(out, "{r} {} |", columns.ratio(&rates));
        row(
            &mut out,
            results,
            &columns,
            "wall time from process start to restored (kafkademo) / RUNNING (Kafka Streams)",
            restore("wall_seconds", Unit::Seconds),
            RatioColumn::Ratio,
        );
        out.push('\n');
    }

    let spans: Vec<&str> = args.spans.split_whitespace().collect();
    // (first or last span, processor) -> the last span's ratio to the first.
    let mut growth: HashMap<(usize, &str), String> = HashMap::new();
    let retention_columns = Columns::of(&args.retention_processors);
    if results.seen("retention") {
        let columns = &retention_columns;
        columns.header(&mut out, false);
        for s in &spans {
            let input = columns
                .processors
                .iter()
                .find_map(|p| results.median("retention", p, &format!("{s}/input_records")));
            let metric = |m: &str| format!("{s}/{m}");
            let lines = [
                (
                    format!(
                        "{s} of event time ({} records, as many windows, grace {}): changelog records read at the restart",
                        fmt(input, Unit::Count),
                        args.grace
                    ),
                    metric("records"),
                    Unit::Count,
                ),
                (format!("{s}: open windows restored"), metric("open_windows"), Unit::Count),
                (format!("{s}: restore time"), metric("seconds"), Unit::Seconds3),
                (
                    format!("{s}: wall time from process start to restored / RUNNING"),
                    metric("wall_seconds"),
                    Unit::Seconds,
                ),
                (
                    format!("{s}: changelog on the broker at the restart (kafkademo: compacted)"),
                    metric("changelog_bytes"),
                    Unit::BytesAsMb,
                ),
                (format!("{s}: ticks until compaction settled"), metric("ticks"), Unit::Count),
            ];
            for (label, metric, unit) in lines {
                row(
                    &mut out,
                    results,
                    columns,
                    &label,
                    ("retention", &metric, unit),
                    RatioColumn::None,
                );
            }
        }
        if let [first, .., last] = spans[..] {
            for (q, (metric, what)) in [
                ("records", "changelog records read"),
                ("seconds", "restore time"),
            ]
            .into_iter()
            .enumerate()
            {
                let mut r = format!("| {last} ÷ {first}: {what} |");
                for p in &columns.processors {
                    let x = ratio(
                        results.median("retention", p, &format!("{last}/{metric}")),
                        results.median("retention", p, &format!("{first}/{metric}")),
                    );
                    let _ = write!(r, " {x} |");
                    growth.insert((q, p), x);
                }
                let _ = writeln!(out, "{r}");
            }
        }
        out.push('\n');
    }

    // The goals.
    let mut goals = String::new();
    let get = |metric: &str, p: &str| g.get(&(metric, p)).copied().flatten();
    let mut parts = Vec::new();
    for (a, b) in [(EOS, KS_EOS), (UNFENCED, KS_ALOS)] {
        if let (Some(ra), Some(rb), Some(ma), Some(mb)) = (
            get("records_per_s", a),
            get("records_per_s", b),
            get("peak_rss_kb", a),
            get("peak_rss_kb", b),
        ) {
            let (x, y) = (ra / rb, ma / mb);
            parts.push(format!(
                "{} vs {}: {} ({x:.2}× the records/s, {y:.3}× the memory)",
                label(a),
                label(b),
                if x >= 2.0 && y < 0.1 {
                    "met"
                } else {
                    "NOT met"
                }
            ));
        }
    }
    let joined = |parts: &[String]| {
        if parts.is_empty() {
            "n/a".to_string()
        } else {
            parts.join("; ")
        }
    };
    let _ = writeln!(
        goals,
        "goal: kafkademo >= 2x Kafka Streams records/s with under a tenth of its memory: {}",
        joined(&parts)
    );
    let mut parts = Vec::new();
    for a in [EOS, UNFENCED] {
        if let Some(p99) = get("latency_p99_ms", a) {
            parts.push(format!(
                "{} {} ({p99:.1} ms)",
                label(a),
                if p99 < 50.0 { "met" } else { "NOT met" }
            ));
        }
    }
    let _ = writeln!(
        goals,
        "goal: p99 under 50 ms at {} records/s: {}",
        commas_str(&args.rate),
        joined(&parts)
    );
    let mut parts = Vec::new();
    for p in args
        .restore_processors
        .split_whitespace()
        .filter(|p| p.starts_with("kafkademo-"))
    {
        if let (Some(a), Some(b)) = (
            results.median("restore", p, "records"),
            results.median("restore", p, "seconds"),
        ) {
            let per = b * 1_000_000.0 / a;
            parts.push(format!(
                "{} {} ({} records in {b:.2} s: {per:.2} s per million)",
                label(p),
                if per < 5.0 { "met" } else { "NOT met" },
                commas(a)
            ));
        }
    }
    let _ = writeln!(
        goals,
        "goal: 1,000,000 changelog records restored in under 5 s: {}",
        joined(&parts)
    );
    if results.seen("retention") && spans.len() >= 2 {
        let parts: Vec<String> = retention_columns
            .processors
            .iter()
            .map(|p| {
                let at = |q| growth.get(&(q, *p)).cloned().unwrap_or_default();
                format!("{} {}× the records, {}× the time", label(p), at(0), at(1))
            })
            .collect();
        let _ = writeln!(
            goals,
            "retention: a restart after {} of event time against one after {}: {}",
            spans[spans.len() - 1],
            spans[0],
            parts.join("; ")
        );
    }
    (out, goals)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(spans: &str) -> BenchStreamTable {
        BenchStreamTable {
            results: "r.tsv".into(),
            goals: "g.txt".into(),
            records: "5000000".into(),
            keys: "100".into(),
            partitions: "4".into(),
            rounds: "3".into(),
            rate: "10000".into(),
            restore_processors: "kafkademo-eos kstreams-eos".into(),
            retention_processors: "kafkademo-eos kstreams-eos".into(),
            spans: spans.into(),
            grace: "300s".into(),
        }
    }

    #[test]
    fn restore_rows_ratios_and_goals() {
        let tsv = "figure\tprocessor\tround\tmetric\tvalue\n\
            restore\tkafkademo-eos\t1\trecords\t1000000\n\
            restore\tkafkademo-eos\t2\trecords\t1000000\n\
            restore\tkafkademo-eos\t1\tseconds\t2\n\
            restore\tkafkademo-eos\t2\tseconds\t3\n\
            restore\tkstreams-eos\t1\trecords\t1000000\n\
            restore\tkstreams-eos\t1\tseconds\t10\n\
            restore\tkstreams-eos\t1\twall_seconds\tNaN\n";
        let (tables, goals) = report(&Results::parse(tsv).unwrap(), &args("1h 1d"));
        let lines: Vec<&str> = tables.lines().collect();
        assert_eq!(
            lines[0],
            "| figure | kafkademo exactly-once | Kafka Streams exactly_once_v2 | ratio (kafkademo exactly-once ÷ Kafka Streams exactly_once_v2) |"
        );
        assert_eq!(
            lines[3],
            "| restore time (all partitions: first start to last end) | 2.50 s | 10.00 s | 0.25 |"
        );
        assert_eq!(
            lines[5],
            "| restore rate (records/s: records ÷ restore time) | 400,000 | 100,000 | 4.00 |"
        );
        assert_eq!(lines[6], "| wall time from process start to restored (kafkademo) / RUNNING (Kafka Streams) | n/a | n/a | — |");
        let goals: Vec<&str> = goals.lines().collect();
        assert_eq!(goals.len(), 3, "no retention line without retention rows");
        assert_eq!(
            goals[0],
            "goal: kafkademo >= 2x Kafka Streams records/s with under a tenth of its memory: n/a"
        );
        assert_eq!(
            goals[2],
            "goal: 1,000,000 changelog records restored in under 5 s: kafkademo exactly-once met (1,000,000 records in 2.50 s: 2.50 s per million)"
        );
    }

    #[test]
    fn commas_group_thousands() {
        assert_eq!(commas(1234567.0), "1,234,567");
        assert_eq!(commas(999.4), "999");
        assert_eq!(commas(-1000.0), "-1,000");
        assert_eq!(commas(0.0), "0");
    }
}
