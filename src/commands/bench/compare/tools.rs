//! The clients `bench compare` measures: each one's command line for one
//! run, and the records/s read from what it printed (or, for tools that
//! report no rate, records over the process's wall time).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// What a run does: results.tsv's `op` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Produce,
    Consume,
    /// stdin lines to a topic, each tool with its own defaults
    Console,
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Produce => "produce",
            Op::Consume => "consume",
            Op::Console => "console",
        }
    }
}

/// results.tsv's `client` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    /// kafkademo on the kafka crate's data path
    Classic,
    /// kafkademo on record batches over kafka-protocol
    Modern,
    /// Kafka's ProducerPerformance / ConsumerPerformance
    Java,
    Kcat,
    /// kafkademo modern through the SSL listener
    ModernTls,
    KcatTls,
}

impl Client {
    pub fn name(self) -> &'static str {
        match self {
            Client::Classic => "classic",
            Client::Modern => "modern",
            Client::Java => "java",
            Client::Kcat => "kcat",
            Client::ModernTls => "modern-tls",
            Client::KcatTls => "kcat-tls",
        }
    }
}

/// Where the clients run and what they run with.
pub struct Setup {
    pub kafkademo: PathBuf,
    pub kafka: String,
    pub brokers: String,
    /// scripts/kafka-class.sh, for the Java tools
    pub java_runner: Option<PathBuf>,
    pub tls: Option<Tls>,
}

/// The SSL listener and the directory holding ca.pem, alice.pem and
/// alice-key.pem (scripts/kafka-certs.sh).
pub struct Tls {
    pub brokers: String,
    pub dir: PathBuf,
}

/// One run's work.
pub struct Run<'a> {
    pub op: Op,
    pub client: Client,
    pub size: u32,
    /// `1`, `all`, or `-` for consumers
    pub acks: &'a str,
    pub topic: &'a str,
    pub records: u64,
    /// The record file (one record a line) for kcat and the console runs.
    pub lines: &'a Path,
}

/// The command line of one run, or why there is none.
pub fn command(setup: &Setup, run: &Run) -> Result<Command, String> {
    let n = run.records.to_string();
    let size = run.size.to_string();
    let kd = |brokers: &str, extra: &[String]| {
        let mut c = Command::new(&setup.kafkademo);
        c.arg("--brokers").arg(brokers).args(extra);
        c
    };
    let tls = || {
        setup.tls.as_ref().ok_or_else(|| {
            format!(
                "{} needs the TLS listener (--tls-brokers)",
                run.client.name()
            )
        })
    };
    let pem = |dir: &Path, name: &str| dir.join(name).display().to_string();
    let kd_tls = |t: &Tls| -> Vec<String> {
        [
            "security.protocol=SSL".to_string(),
            format!("ssl.truststore.location={}", pem(&t.dir, "ca.pem")),
            format!("ssl.certificate.location={}", pem(&t.dir, "alice.pem")),
            format!("ssl.key.location={}", pem(&t.dir, "alice-key.pem")),
        ]
        .into_iter()
        .flat_map(|kv| ["-X".to_string(), kv])
        .collect()
    };
    let kcat_tls = |t: &Tls| -> Vec<String> {
        kd_tls(t)
            .into_iter()
            .map(|a| a.replace("ssl.truststore.location", "ssl.ca.location"))
            .collect()
    };
    let protocol = |c: Client| vec!["--protocol".to_string(), c.name().to_string()];
    let bench_produce = [
        "-q",
        "bench",
        "produce",
        "--topic",
        run.topic,
        "--records",
        &n,
        "--record-size",
        &size,
        "--acks",
        run.acks,
        "--format",
        "json",
    ];
    let bench_consume = [
        "-q",
        "bench",
        "consume",
        "--topic",
        run.topic,
        "--records",
        &n,
        "--format",
        "json",
    ];
    let c = match (run.op, run.client) {
        (Op::Produce, Client::Classic | Client::Modern) => {
            let mut c = kd(&setup.brokers, &protocol(run.client));
            c.args(bench_produce);
            c
        }
        (Op::Consume, Client::Classic | Client::Modern) => {
            let mut c = kd(&setup.brokers, &protocol(run.client));
            c.args(bench_consume);
            c
        }
        (Op::Console, Client::Classic | Client::Modern) => {
            let mut c = kd(&setup.brokers, &protocol(run.client));
            c.args(["-q", "produce", "--topic", run.topic]);
            c
        }
        (Op::Produce, Client::ModernTls) => {
            let mut c = kd(&tls()?.brokers, &kd_tls(tls()?));
            c.args(bench_produce);
            c
        }
        (Op::Consume, Client::ModernTls) => {
            let mut c = kd(&tls()?.brokers, &kd_tls(tls()?));
            c.args(bench_consume);
            c
        }
        (Op::Produce, Client::Java) => {
            let mut c = java(setup, "org.apache.kafka.tools.ProducerPerformance")?;
            c.args([
                "--topic",
                run.topic,
                "--num-records",
                &n,
                "--record-size",
                &size,
            ]);
            c.args(["--throughput", "-1", "--producer-props"]);
            c.arg(format!("bootstrap.servers={}", setup.brokers));
            c.arg(format!("acks={}", run.acks));
            c
        }
        (Op::Consume, Client::Java) => {
            let mut c = java(setup, "org.apache.kafka.tools.ConsumerPerformance")?;
            c.args(["--bootstrap-server", &setup.brokers, "--topic", run.topic]);
            c.args(["--messages", &n, "--timeout", "60000"]);
            c
        }
        (Op::Produce, Client::Kcat) => kcat_produce(&setup.brokers, &[], run, Some(run.acks)),
        (Op::Produce, Client::KcatTls) => {
            kcat_produce(&tls()?.brokers, &kcat_tls(tls()?), run, Some(run.acks))
        }
        // kcat's own defaults: librdkafka's acks=all
        (Op::Console, Client::Kcat) => kcat_produce(&setup.brokers, &[], run, None),
        (Op::Consume, Client::Kcat) => kcat_consume(&setup.brokers, &[], run),
        (Op::Consume, Client::KcatTls) => kcat_consume(&tls()?.brokers, &kcat_tls(tls()?), run),
        (op, client) => return Err(format!("no {} run with {}", op.name(), client.name())),
    };
    Ok(c)
}

fn java(setup: &Setup, class: &str) -> Result<Command, String> {
    let runner = setup
        .java_runner
        .as_ref()
        .ok_or("the Java tools need --java-runner (scripts/kafka-class.sh)")?;
    let mut c = Command::new(runner);
    c.env("KAFKA_VERSION", &setup.kafka).arg(class);
    Ok(c)
}

fn kcat_produce(brokers: &str, extra: &[String], run: &Run, acks: Option<&str>) -> Command {
    let mut c = Command::new("kcat");
    c.args(["-P", "-b", brokers])
        .args(extra)
        .args(["-t", run.topic]);
    if let Some(acks) = acks {
        c.arg("-X").arg(format!("acks={acks}"));
    }
    c.arg("-l").arg(run.lines);
    c
}

fn kcat_consume(brokers: &str, extra: &[String], run: &Run) -> Command {
    let mut c = Command::new("kcat");
    c.args(["-C", "-b", brokers])
        .args(extra)
        .args(["-t", run.topic]);
    c.args([
        "-o",
        "beginning",
        "-c",
        &run.records.to_string(),
        "-q",
        "-f",
        "",
    ]);
    c
}

/// Whether the run reads its records on stdin.
pub fn reads_stdin(run: &Run) -> bool {
    run.op == Op::Console && matches!(run.client, Client::Classic | Client::Modern)
}

/// The records/s of one run, from its output or its wall time.
/// The records/s of one run, from its output (its last report) or its
/// wall time.
pub fn rate(op: Op, client: Client, output: &str, records: u64, wall: Duration) -> Option<f64> {
    let by_wall = || Some(records as f64 / wall.as_secs_f64().max(1e-3));
    match (op, client) {
        (Op::Console, _) | (_, Client::Kcat | Client::KcatTls) => by_wall(),
        (_, Client::Classic | Client::Modern | Client::ModernTls) => output
            .lines()
            .rev()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v.get("records_per_sec")?.as_f64())
            .next(),
        // "N records sent, R records/sec (…) … ms 99.9th."
        (Op::Produce, Client::Java) => output
            .lines()
            .rev()
            .filter(|l| l.ends_with("99.9th."))
            .filter_map(|l| {
                let rest = &l[l.find(" records sent, ")? + " records sent, ".len()..];
                rest.split(' ').next()?.parse().ok()
            })
            .next(),
        // fetch.nMsg.sec, the 10th column: it leaves out the group join,
        // which kafkademo does not do
        (_, Client::Java) => output
            .lines()
            .rev()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(", ").collect();
                (f.len() >= 10).then(|| f[9].trim().parse().ok()).flatten()
            })
            .next(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_come_from_each_tools_output() {
        let wall = Duration::from_millis(500);
        let kd = "{\"mode\":\"produce\",\"records_per_sec\":12345.6,\"mb_per_sec\":1.2}\n";
        assert_eq!(
            rate(Op::Produce, Client::Modern, kd, 9, wall),
            Some(12345.6)
        );
        assert_eq!(rate(Op::Consume, Client::Classic, "oops\n", 9, wall), None);
        let java_p = "100 records sent, 50.0 records/sec (0.00 MB/sec)\n\
            20000 records sent, 41152.3 records/sec (3.92 MB/sec), 150.1 ms avg latency, 300.0 ms max latency, 140 ms 50th, 280 ms 95th, 290 ms 99th, 299 ms 99.9th.\n";
        assert_eq!(
            rate(Op::Produce, Client::Java, java_p, 9, wall),
            Some(41152.3)
        );
        let java_c = "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec\n\
            2026-12-06 14:00:00:000, 2026-12-06 14:00:01:000, 1.9, 1.9, 20000, 20000.0, 300, 700, 2.7, 28571.4\n";
        assert_eq!(
            rate(Op::Consume, Client::Java, java_c, 9, wall),
            Some(28571.4)
        );
        assert_eq!(
            rate(Op::Consume, Client::Kcat, "", 1000, wall),
            Some(2000.0)
        );
        assert_eq!(
            rate(Op::Console, Client::Modern, "", 1000, wall),
            Some(2000.0)
        );
    }

    #[test]
    fn command_lines_name_the_topic_and_the_data_path() {
        let setup = Setup {
            kafkademo: "kd".into(),
            kafka: "3.9.2".into(),
            brokers: "h:1".into(),
            java_runner: None,
            tls: None,
        };
        let lines = Path::new("lines.txt");
        let run = |op, client| Run {
            op,
            client,
            size: 100,
            acks: "all",
            topic: "t",
            records: 5,
            lines,
        };
        let args = |c: Command| crate::commands::bench::measure::arguments(&c);
        let c = command(&setup, &run(Op::Produce, Client::Classic)).unwrap();
        assert_eq!(
            args(c),
            "--brokers h:1 --protocol classic -q bench produce --topic t --records 5 --record-size 100 --acks all --format json"
        );
        let c = command(&setup, &run(Op::Consume, Client::Kcat)).unwrap();
        assert_eq!(args(c), "-C -b h:1 -t t -o beginning -c 5 -q -f ");
        let c = command(&setup, &run(Op::Console, Client::Kcat)).unwrap();
        assert_eq!(args(c), "-P -b h:1 -t t -l lines.txt");
        assert!(command(&setup, &run(Op::Produce, Client::Java))
            .unwrap_err()
            .contains("--java-runner"));
        assert!(command(&setup, &run(Op::Consume, Client::ModernTls))
            .unwrap_err()
            .contains("--tls-brokers"));
        assert!(reads_stdin(&run(Op::Console, Client::Modern)));
    }

    #[test]
    fn tls_runs_go_to_the_ssl_listener_as_alice() {
        let setup = Setup {
            kafkademo: "kd".into(),
            kafka: "3.9.2".into(),
            brokers: "h:1".into(),
            java_runner: None,
            tls: Some(Tls {
                brokers: "h:3".into(),
                dir: "/s".into(),
            }),
        };
        let run = |client| Run {
            op: Op::Produce,
            client,
            size: 100,
            acks: "1",
            topic: "secure.a.t",
            records: 5,
            lines: Path::new("l"),
        };
        let args = |c: Command| crate::commands::bench::measure::arguments(&c);
        assert_eq!(
            args(command(&setup, &run(Client::ModernTls)).unwrap()),
            "--brokers h:3 -X security.protocol=SSL -X ssl.truststore.location=/s/ca.pem \
             -X ssl.certificate.location=/s/alice.pem -X ssl.key.location=/s/alice-key.pem \
             -q bench produce --topic secure.a.t --records 5 --record-size 100 --acks 1 --format json"
        );
        assert_eq!(
            args(command(&setup, &run(Client::KcatTls)).unwrap()),
            "-P -b h:3 -X security.protocol=SSL -X ssl.ca.location=/s/ca.pem \
             -X ssl.certificate.location=/s/alice.pem -X ssl.key.location=/s/alice-key.pem \
             -t secure.a.t -X acks=1 -l l"
        );
    }
}
