//! `kafkademo bench table` (hidden): the Markdown tables of
//! scripts/bench-compare.sh from its results.tsv: per Kafka line, op,
//! record size, acks and client the median records/s, MB/s, peak RSS and
//! CPU per record, with the modern path's ratio to each other client; then,
//! where TLS rows exist, what TLS costs kafkademo and kcat.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write;

use super::results::{self, median, size_name, Row};
use crate::cli::BenchTable;
use crate::error::{Error, Result};

const MIB: f64 = 1048576.0;

pub fn execute(args: &BenchTable) -> Result<()> {
    let rows = results::read(&args.results)?;
    let mut out = std::io::stdout().lock();
    out.write_all(table(&rows).as_bytes())
        .and_then(|()| out.flush())
        .map_err(Error::Output)
}

/// (kafka, op, size, acks, client).
type Key = (String, String, String, String, String);

/// One key's medians over its rounds.
struct Medians {
    records_per_sec: f64,
    peak_rss_kb: f64,
    /// Client CPU per record, µs.
    cpu_us: f64,
    /// Broker CPU per record, µs; negative when unknown.
    broker_us: f64,
}

fn name(client: &str) -> &str {
    match client {
        "classic" => "kafkademo classic",
        "modern" => "kafkademo modern",
        "java" => "Java perf tool",
        "kcat" => "kcat",
        "modern-tls" => "kafkademo modern, TLS",
        "kcat-tls" => "kcat, TLS",
        other => other,
    }
}

pub fn table(rows: &[Row]) -> String {
    // Keys in the order they first appear, each with its rounds.
    let mut keys: Vec<Key> = Vec::new();
    let mut rounds: HashMap<Key, Vec<&Row>> = HashMap::new();
    for r in rows {
        let key = (
            r.kafka.clone(),
            r.op.clone(),
            r.size.clone(),
            r.acks.clone(),
            r.client.clone(),
        );
        rounds
            .entry(key.clone())
            .or_insert_with(|| {
                keys.push(key);
                Vec::new()
            })
            .push(r);
    }
    let m: HashMap<&Key, Medians> = keys
        .iter()
        .map(|k| {
            let runs = &rounds[k];
            let of = |f: &dyn Fn(&Row) -> f64| median(runs.iter().map(|r| f(r)).collect());
            let medians = Medians {
                records_per_sec: of(&|r| r.records_per_sec),
                peak_rss_kb: of(&|r| r.peak_rss_kb),
                cpu_us: of(&|r| r.client_cpu_s / r.records * 1e6),
                broker_us: of(&|r| {
                    if r.broker_cpu_s < 0.0 {
                        -1.0
                    } else {
                        r.broker_cpu_s / r.records * 1e6
                    }
                }),
            };
            (k, medians)
        })
        .collect();
    let with_client = |k: &Key, client: &str| {
        let mut other = k.clone();
        other.4 = client.to_string();
        other
    };

    let mut out = String::new();
    out.push_str("| Kafka | op | record | acks | idempotence | client | records/s | MB/s | peak RSS | client CPU µs/record | broker CPU µs/record | modern ÷ client, records/s | modern ÷ client, peak RSS |\n");
    out.push_str("|-------|----|-------:|------|------|--------|----------:|-----:|---------:|------:|------:|------:|------:|\n");
    for k in &keys {
        let (kafka, op, size, acks, client) = k;
        let this = &m[k];
        let mut modern = with_client(
            k,
            if client.ends_with("-tls") {
                "modern-tls"
            } else {
                "modern"
            },
        );
        // Console rows: each tool at its own defaults, so kcat's acks=all
        // row is set against kafkademo's default, acks=1.
        if op == "console" {
            modern.3 = "1".to_string();
        }
        // Idempotent: kafkademo's modern path and the Java perf tool with
        // acks=all (both by default then); never the classic path, nor kcat
        // (librdkafka's enable.idempotence=false).
        let idempotence = if (client.starts_with("modern") || client == "java") && acks == "all" {
            "on"
        } else {
            "off"
        };
        let (ratio, rss_ratio) = match m.get(&modern) {
            Some(kd) if !client.starts_with("modern") => (
                format!("{:.2}", kd.records_per_sec / this.records_per_sec),
                format!("{:.2}", kd.peak_rss_kb / this.peak_rss_kb),
            ),
            _ => ("—".to_string(), "—".to_string()),
        };
        let broker = if this.broker_us < 0.0 {
            "n/a".to_string()
        } else {
            format!("{:.2}", this.broker_us)
        };
        let bytes: f64 = size.parse().unwrap_or(0.0);
        let _ = writeln!(
            out,
            "| {kafka} | {op} | {} | {acks} | {idempotence} | {} | {:.0} | {:.1} | {:.1} MB | {:.2} | {broker} | {ratio} | {rss_ratio} |",
            size_name(size),
            name(client),
            this.records_per_sec,
            this.records_per_sec * bytes / MIB,
            this.peak_rss_kb / 1024.0,
            this.cpu_us,
        );
    }

    // What TLS costs each client: its TLS records/s as a share of its own
    // plaintext records/s, same broker, same run.
    let mut header = false;
    for k in keys.iter().filter(|k| k.4 == "modern") {
        let rate = |client: &str| m.get(&with_client(k, client)).map(|x| x.records_per_sec);
        let (Some(kp), Some(kt), Some(cp), Some(ct)) = (
            rate("modern"),
            rate("modern-tls"),
            rate("kcat"),
            rate("kcat-tls"),
        ) else {
            continue;
        };
        if !header {
            header = true;
            out.push_str("\n| Kafka | op | record | acks | kafkademo plaintext | kafkademo TLS | kafkademo TLS ÷ plaintext | kcat plaintext | kcat TLS | kcat TLS ÷ plaintext | goal: kafkademo share ≥ kcat share |\n");
            out.push_str("|-------|----|-------:|------|------:|------:|------:|------:|------:|------:|------|\n");
        }
        let (kafka, op, size, acks, _) = k;
        let _ = writeln!(
            out,
            "| {kafka} | {op} | {} | {acks} | {kp:.0} | {kt:.0} | {:.2} | {cp:.0} | {ct:.0} | {:.2} | {} |",
            size_name(size),
            kt / kp,
            ct / cp,
            if kt / kp >= ct / cp { "met" } else { "not met" },
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TSV: &str = "kafka\top\tsize\tacks\tclient\tround\trecords\trecords_per_sec\tpeak_rss_kb\tclient_cpu_s\tbroker_cpu_s\n\
        4.4.0\tproduce\t100\t1\tmodern\t1\t1000\t4000\t10240\t0.001\t0.002\n\
        4.4.0\tproduce\t100\t1\tkcat\t1\t1000\t1000\t40960\t0.004\t-1\n\
        4.4.0\tproduce\t100\t1\tmodern-tls\t1\t1000\t3000\t10240\t0.001\t0.002\n\
        4.4.0\tproduce\t100\t1\tkcat-tls\t1\t1000\t900\t40960\t0.004\t0.001\n";

    #[test]
    fn medians_ratios_and_the_tls_share() {
        let t = table(&results::parse(TSV).unwrap());
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[2],
            "| 4.4.0 | produce | 100 B | 1 | off | kafkademo modern | 4000 | 0.4 | 10.0 MB | 1.00 | 2.00 | — | — |"
        );
        assert_eq!(
            lines[3],
            "| 4.4.0 | produce | 100 B | 1 | off | kcat | 1000 | 0.1 | 40.0 MB | 4.00 | n/a | 4.00 | 0.25 |"
        );
        assert_eq!(
            lines[5],
            "| 4.4.0 | produce | 100 B | 1 | off | kcat, TLS | 900 | 0.1 | 40.0 MB | 4.00 | 1.00 | 3.33 | 0.25 |"
        );
        assert_eq!(
            lines[9],
            "| 4.4.0 | produce | 100 B | 1 | 4000 | 3000 | 0.75 | 1000 | 900 | 0.90 | not met |"
        );
        assert_eq!(lines.len(), 10);
    }

    #[test]
    fn console_rows_compare_each_tool_at_its_defaults_and_say_which_is_idempotent() {
        let tsv = "kafka\top\tsize\tacks\tclient\tround\trecords\trecords_per_sec\tpeak_rss_kb\tclient_cpu_s\tbroker_cpu_s\n\
            4.4.0 stock\tconsole\t100\t1\tmodern\t1\t1000\t2000\t10240\t0.001\t-1\n\
            4.4.0 stock\tconsole\t100\tall\tkcat\t1\t1000\t1000\t20480\t0.002\t-1\n\
            4.4.0\tproduce\t100\tall\tmodern\t1\t1000\t3000\t10240\t0.001\t-1\n\
            4.4.0\tproduce\t100\tall\tjava\t1\t1000\t3000\t10240\t0.001\t-1\n";
        let t = table(&results::parse(tsv).unwrap());
        let lines: Vec<&str> = t.lines().collect();
        // kcat's acks=all row is set against kafkademo's default acks=1 row.
        assert_eq!(
            lines[3],
            "| 4.4.0 stock | console | 100 B | all | off | kcat | 1000 | 0.1 | 20.0 MB | 2.00 | n/a | 2.00 | 0.50 |"
        );
        assert!(
            lines[4].starts_with("| 4.4.0 | produce | 100 B | all | on | kafkademo modern |"),
            "{}",
            lines[4]
        );
        assert!(
            lines[5].starts_with("| 4.4.0 | produce | 100 B | all | on | Java perf tool |"),
            "{}",
            lines[5]
        );
    }
}
