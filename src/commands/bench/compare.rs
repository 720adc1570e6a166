//! `kafkademo bench compare` (hidden): the measuring loop of `make bench`,
//! which scripts/bench-compare.sh calls once per Kafka line after starting
//! its broker. It fills one topic per record size, then runs ROUNDS rounds
//! with the clients in a different order each round: produce (acks=1 and
//! acks=all, a fresh topic each run), consume from the start of the filled
//! topic, the same over TLS when given the SSL listener, and the console
//! producers; each run is a process of its own, measured (measure.rs) and
//! appended as one row to the results.tsv `bench table` and `bench plot` read.

mod tools;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::cli::{BenchClient, BenchCompare};
use crate::client::cluster::BrokerConfig;
use crate::error::{Error, Result};

use super::harness::{interrupted, io_error, say, Results, Topics};
use super::measure;

use tools::{Client, Op, Run, Setup, Tls};

/// results.tsv's header; `bench table` finds its columns by these names.
const HEADER: &str = "kafka\top\tsize\tacks\tclient\tround\trecords\trecords_per_sec\tpeak_rss_kb\tclient_cpu_s\tbroker_cpu_s";
const SIZES: [u32; 2] = [100, 1000];

pub fn execute(brokers: &BrokerConfig, args: &BenchCompare) -> Result<()> {
    let kafkademo = std::env::current_exe().map_err(|e| Error::Data {
        message: format!("cannot find this program's own path: {e}"),
        hint: None,
    })?;
    let tls = match (&args.tls_brokers, &args.tls_dir) {
        (Some(b), Some(d)) => Some(Tls {
            brokers: b.clone(),
            dir: d.clone(),
        }),
        (None, None) => None,
        _ => {
            return Err(Error::Usage(
                "--tls-brokers and --tls-dir go together".into(),
            ))
        }
    };
    let setup = Setup {
        kafkademo,
        kafka: args.kafka.clone(),
        brokers: brokers.brokers.join(","),
        java_runner: args.java_runner.clone(),
        tls,
    };
    std::fs::create_dir_all(&args.work).map_err(|e| io_error(&args.work, e))?;
    let mut bench = Bench {
        setup: &setup,
        args,
        results: Results::open(&args.results, HEADER)?,
        topics: Topics::new(
            brokers,
            format!("{}kd-cmp-{}-", args.topic_prefix, args.run_id),
        ),
    };
    bench.run()
}

struct Bench<'a> {
    setup: &'a Setup,
    args: &'a BenchCompare,
    results: Results,
    topics: Topics,
}

impl Bench<'_> {
    fn run(&mut self) -> Result<()> {
        let args = self.args;
        let clients: Vec<Client> = args.clients.iter().map(|&c| client(c)).collect();
        if clients.contains(&Client::Java) && self.setup.java_runner.is_none() {
            return Err(Error::Usage(
                "the Java tools need --java-runner (scripts/kafka-class.sh)".into(),
            ));
        }
        let mut filled = Vec::new();
        if !args.console_only {
            say("Filling one topic per record size for the consumers")?;
            for size in SIZES {
                let topic = self
                    .topics
                    .create(&format!("fill-{size}"), args.partitions)?;
                self.fill(&topic, self.records(Op::Produce, size), size)?;
                filled.push((size, topic));
            }
        }
        if let Some(n) = args.warm {
            // Not timed: a broker just started runs its first requests
            // before the JIT compiled them.
            say(&format!(
                "Warming the broker up ({n} records, not measured)"
            ))?;
            let topic = self.topics.create("warm", args.partitions)?;
            self.fill(&topic, n, 100)?;
            self.topics.drop(&topic);
        }
        for round in 1..=args.rounds {
            say(&format!(
                "Kafka {}, round {round} of {}",
                args.kafka, args.rounds
            ))?;
            let order = rotate(&clients, round);
            for &(size, ref fill_topic) in &filled {
                for acks in ["1", "all"] {
                    for &c in &order {
                        self.produce(c, size, acks, round)?;
                    }
                }
                for &c in &order {
                    self.measure(Op::Consume, c, size, "-", fill_topic, round)?;
                }
                if self.setup.tls.is_some() {
                    // Over TLS, in the order of the round: the same work as
                    // the plaintext rows above.
                    let mut tls = [Client::ModernTls, Client::KcatTls];
                    if round % 2 == 0 {
                        tls.reverse();
                    }
                    for c in tls {
                        self.produce(c, size, "1", round)?;
                    }
                    for c in tls {
                        self.measure(Op::Consume, c, size, "-", fill_topic, round)?;
                    }
                }
            }
            // The console producers, one fresh topic each, every tool with
            // its own defaults (the acks column says which).
            for &c in order.iter().filter(|&&c| c != Client::Java) {
                let acks = if c == Client::Kcat { "all" } else { "1" };
                let topic = self
                    .topics
                    .create(&format!("c-{}-{round}", c.name()), args.partitions)?;
                self.measure(Op::Console, c, 100, acks, &topic, round)?;
                self.topics.drop(&topic);
            }
        }
        self.topics.drop_all();
        Ok(())
    }

    fn produce(&mut self, c: Client, size: u32, acks: &str, round: u32) -> Result<()> {
        let tag = format!("p-{size}-{acks}-{}-{round}", c.name());
        let topic = self.topics.create(&tag, self.args.partitions)?;
        self.measure(Op::Produce, c, size, acks, &topic, round)?;
        self.topics.drop(&topic);
        Ok(())
    }

    fn records(&self, op: Op, size: u32) -> u64 {
        match (op, size) {
            (Op::Console, _) => self.args.records_console,
            (_, 100) => self.args.records_100,
            _ => self.args.records_1k,
        }
    }

    /// Fills a topic with kafkademo's bench producer (not measured).
    fn fill(&self, topic: &str, records: u64, size: u32) -> Result<()> {
        let status = Command::new(&self.setup.kafkademo)
            .args(["--brokers", &self.setup.brokers, "-q", "bench", "produce"])
            .args(["--topic", topic, "--records", &records.to_string()])
            .args(["--record-size", &size.to_string()])
            .stdout(Stdio::null())
            .status()
            .map_err(|e| io_error(&self.setup.kafkademo, e))?;
        if !status.success() {
            return Err(Error::Data {
                message: format!("filling topic '{topic}' failed ({status})"),
                hint: None,
            });
        }
        Ok(())
    }

    /// Runs one client once and appends its row. A client that fails or
    /// prints no rate is reported and left out, as the old script did; the
    /// run goes on.
    fn measure(
        &mut self,
        op: Op,
        client: Client,
        size: u32,
        acks: &str,
        topic: &str,
        round: u32,
    ) -> Result<()> {
        let records = self.records(op, size);
        let lines = self.lines(size, records)?;
        let run = Run {
            op,
            client,
            size,
            acks,
            topic,
            records,
            lines: &lines,
        };
        let mut cmd = tools::command(self.setup, &run).map_err(Error::Usage)?;
        let name = format!(
            "{}-{}-{}-{size}-{acks}-{round}",
            self.args.kafka.replace(' ', "-"),
            op.name(),
            client.name()
        );
        let log = self.args.work.join(format!("{name}.out"));
        let input = tools::reads_stdin(&run).then_some(lines.as_path());
        let what = format!(
            "Kafka {}: {} with {} ({size} B, acks={acks})",
            self.args.kafka,
            op.name(),
            client.name()
        );
        let usage = match measure::run(&mut cmd, input, &log, self.args.broker_pid) {
            Ok(u) => u,
            Err(e) => {
                eprintln!(
                    "bench compare: {what}: cannot run {:?}: {e}",
                    cmd.get_program()
                );
                return interrupted();
            }
        };
        let output = std::fs::read_to_string(&log).unwrap_or_default();
        let rate = tools::rate(op, client, &output, records, usage.wall);
        let rate = match (usage.exit, rate) {
            (Some(0), Some(r)) => r,
            (Some(0), None) => {
                eprintln!(
                    "bench compare: {what}: cannot read a rate from its output ({})",
                    log.display()
                );
                return interrupted();
            }
            (exit, _) => {
                let tail: Vec<&str> = output.lines().rev().take(20).collect();
                let how = exit.map_or("a signal ended it".into(), |c| format!("exit code {c}"));
                eprintln!("bench compare: {what} failed ({how}); its output:");
                for line in tail.iter().rev() {
                    eprintln!("{line}");
                }
                return interrupted();
            }
        };
        let broker = usage
            .broker_cpu_s
            .map_or("-1".to_string(), |s| format!("{s:.2}"));
        self.results.row(&format!(
            "{}\t{}\t{size}\t{acks}\t{}\t{round}\t{records}\t{rate:.1}\t{}\t{:.2}\t{broker}",
            self.args.kafka,
            op.name(),
            client.name(),
            usage.peak_rss_kb,
            usage.cpu_s
        ))?;
        say(&format!(
            "  {:<7} {size:>4} B acks={acks:<3} {:<10} {rate:>12.0} records/s  RSS {:>7} KB  cpu {:>6.2} s  broker cpu {broker:>6} s",
            op.name(),
            client.name(),
            usage.peak_rss_kb,
            usage.cpu_s
        ))?;
        interrupted()
    }

    /// The record file for kcat and the console producers: `records` lines
    /// of `size` letters A to Z (as ProducerPerformance fills its records),
    /// 1000 distinct lines repeated; written once per run directory.
    fn lines(&self, size: u32, records: u64) -> Result<PathBuf> {
        let path = self.args.work.join(format!("kcat-{size}-{records}.txt"));
        if std::fs::metadata(&path).is_ok_and(|m| m.len() > 0) {
            return Ok(path);
        }
        let mut seed = super::seed() | 1;
        let distinct: Vec<Vec<u8>> = (0..1000)
            .map(|_| {
                (0..size)
                    .map(|_| {
                        // xorshift64
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        b'A' + (seed % 26) as u8
                    })
                    .collect()
            })
            .collect();
        let tmp = path.with_extension("tmp");
        let mut out = BufWriter::new(File::create(&tmp).map_err(|e| io_error(&tmp, e))?);
        for i in 0..records {
            out.write_all(&distinct[(i % 1000) as usize])
                .and_then(|()| out.write_all(b"\n"))
                .map_err(|e| io_error(&tmp, e))?;
        }
        out.flush().map_err(|e| io_error(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| io_error(&path, e))?;
        Ok(path)
    }
}

/// The clients in round `round`'s order: rotated so that none always runs
/// first (or last).
fn rotate(clients: &[Client], round: u32) -> Vec<Client> {
    let n = clients.len();
    (0..n)
        .map(|i| clients[(i + round as usize - 1) % n])
        .collect()
}

fn client(c: BenchClient) -> Client {
    match c {
        BenchClient::Classic => Client::Classic,
        BenchClient::Modern => Client::Modern,
        BenchClient::Java => Client::Java,
        BenchClient::Kcat => Client::Kcat,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_round_starts_with_the_next_client() {
        let c = [Client::Classic, Client::Modern, Client::Kcat];
        assert_eq!(rotate(&c, 1), c);
        assert_eq!(
            rotate(&c, 2),
            [Client::Modern, Client::Kcat, Client::Classic]
        );
        assert_eq!(rotate(&c, 4), c);
    }

    #[test]
    fn the_header_is_written_once_and_bench_table_reads_the_rows() {
        let path = std::env::temp_dir().join(format!("kd-compare-{}.tsv", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let row = "3.9.2\tproduce\t100\t1\tmodern\t1\t20000\t123.4\t5000\t0.50\t-1";
        Results::open(&path, HEADER).unwrap().row(row).unwrap();
        Results::open(&path, HEADER).unwrap().row(row).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().filter(|l| *l == HEADER).count(), 1);
        let rows = super::super::results::parse(&text).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].records_per_sec, 123.4);
        std::fs::remove_file(&path).unwrap();
    }
}
