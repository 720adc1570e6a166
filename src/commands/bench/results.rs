//! The results.tsv scripts/bench-compare.sh writes, one row per client run:
//! read once here for `bench plot` and `bench table`, columns found by their
//! header names, and the median the charts and tables report.

use std::path::Path;

use crate::error::{Error, Result};

/// One run of one client.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub kafka: String,
    pub op: String,
    /// As written (`100`, `1000`): tables print it back.
    pub size: String,
    pub acks: String,
    pub client: String,
    pub records: f64,
    pub records_per_sec: f64,
    pub peak_rss_kb: f64,
    pub client_cpu_s: f64,
    /// Negative when the broker's CPU could not be read.
    pub broker_cpu_s: f64,
}

impl Row {
    pub fn size_bytes(&self) -> f64 {
        self.size.parse().unwrap_or(0.0)
    }
}

/// Reads and parses a results file; errors name the file and the line.
pub fn read(path: &Path) -> Result<Vec<Row>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Data {
        message: format!("cannot read {}: {e}", path.display()),
        hint: Some("give the results.tsv scripts/bench-compare.sh wrote".into()),
    })?;
    parse(&text).map_err(|why| Error::Data {
        message: format!("{}: {why}", path.display()),
        hint: None,
    })
}

pub fn parse(text: &str) -> std::result::Result<Vec<Row>, String> {
    let mut lines = text.lines().enumerate();
    let (_, header) = lines.next().ok_or("the file is empty")?;
    let names: Vec<&str> = header.split('\t').collect();
    let column = |name: &str| {
        names
            .iter()
            .position(|&n| n == name)
            .ok_or(format!("no column '{name}' in the header"))
    };
    let [kafka, op, size, acks, client] = [
        column("kafka")?,
        column("op")?,
        column("size")?,
        column("acks")?,
        column("client")?,
    ];
    let [records, rps, rss, cpu, broker] = [
        column("records")?,
        column("records_per_sec")?,
        column("peak_rss_kb")?,
        column("client_cpu_s")?,
        column("broker_cpu_s")?,
    ];
    let mut rows = Vec::new();
    for (i, line) in lines {
        if line.is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        let text = |c: usize| {
            f.get(c).map(|s| s.to_string()).ok_or(format!(
                "line {}: {} fields, fewer than the header's",
                i + 1,
                f.len()
            ))
        };
        let number = |c: usize| -> std::result::Result<f64, String> {
            let s = text(c)?;
            s.parse::<f64>()
                .map_err(|_| format!("line {}: '{s}' is not a number", i + 1))
        };
        rows.push(Row {
            kafka: text(kafka)?,
            op: text(op)?,
            size: text(size)?,
            acks: text(acks)?,
            client: text(client)?,
            records: number(records)?,
            records_per_sec: number(rps)?,
            peak_rss_kb: number(rss)?,
            client_cpu_s: number(cpu)?,
            broker_cpu_s: number(broker)?,
        });
    }
    Ok(rows)
}

/// The middle value (the mean of the middle two for an even count); 0 when empty.
pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len();
    if m % 2 == 1 {
        v[m / 2]
    } else {
        (v[m / 2 - 1] + v[m / 2]) / 2.0
    }
}

/// `1 KB` for 1000, else `N B`, as the tables and charts label sizes.
pub fn size_name(size: &str) -> String {
    if size == "1000" {
        "1 KB".into()
    } else {
        format!("{size} B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_by_header_name_and_errors_by_line() {
        let tsv = "kafka\top\tsize\tacks\tclient\tround\trecords\trecords_per_sec\tpeak_rss_kb\tclient_cpu_s\tbroker_cpu_s\n\
                   3.9.2\tconsume\t1000\t-\tkcat\t1\t10\t20.5\t300\t0.5\t-1\n";
        let rows = parse(tsv).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].size_bytes(), rows[0].broker_cpu_s), (1000.0, -1.0));
        assert_eq!(rows[0].acks, "-");
        assert!(parse("kafka\top\n")
            .unwrap_err()
            .contains("no column 'size'"));
        let bad = tsv.replace("20.5", "fast");
        assert_eq!(parse(&bad).unwrap_err(), "line 2: 'fast' is not a number");
        let short = tsv.replace("\t-1\n", "\n");
        assert!(parse(&short).unwrap_err().starts_with("line 2: 10 fields"));
    }

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(vec![]), 0.0);
    }
}
