//! What every data path must do, written once: `modern::` runs it on the
//! phase's Kafka 3.9 broker with `--protocol modern`, `kafka4::` on Kafka 4.4
//! where `auto` picks the modern path. Each function takes the extra global
//! arguments that select the path.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::fixture::*;

fn args<'a>(path: &[&'a str], rest: &[&'a str]) -> Vec<&'a str> {
    let mut all = path.to_vec();
    all.extend_from_slice(rest);
    all
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect()
}

/// 1000 stdin lines with keys and two headers into 4 partitions, read back
/// as JSON: every line once, keys where murmur2 puts them, each record with
/// its headers (in order) and a CreateTime near now.
pub fn stdin_round_trip_with_headers_and_timestamps(path: &[&str]) {
    let t = Topic::new("dp-rt", 4);
    let before = now_ms();
    let input: String = (0..1000).map(|i| format!("k{}:v{i}\n", i % 7)).collect();
    let p = run_with_input(
        &args(
            path,
            &[
                "produce",
                "--topic",
                &t.name,
                "--key-separator",
                ":",
                "--acks",
                "all",
                "--header",
                "trace=abc",
                "--header",
                "tenant=t1",
            ],
        ),
        &input,
    );
    assert_eq!(p.code, 0, "{p:?}");
    let after = now_ms();
    let c = ok(&args(
        path,
        &[
            "consume",
            "--topic",
            &t.name,
            "--from-beginning",
            "--exit-at-end",
            "--format",
            "json",
        ],
    ));
    let records = json_lines(&c.stdout);
    assert_eq!(records.len(), 1000, "{c:?}");
    let values: BTreeSet<String> = records
        .iter()
        .map(|r| r["value"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(values, (0..1000).map(|i| format!("v{i}")).collect());
    let mut partition_of_key = std::collections::BTreeMap::new();
    for r in &records {
        let key = r["key"].as_str().unwrap_or_default().to_string();
        let partition = r["partition"].as_i64().unwrap_or(-1);
        assert_eq!(
            *partition_of_key.entry(key.clone()).or_insert(partition),
            partition,
            "key {key} landed on two partitions"
        );
        assert_eq!(
            r["headers"],
            serde_json::json!([{"key": "trace", "value": "abc"}, {"key": "tenant", "value": "t1"}]),
            "{r}"
        );
        assert_eq!(r["timestamp_type"], "CreateTime", "{r}");
        let ts = r["timestamp"].as_i64().unwrap_or(0);
        assert!(
            ts >= before - 1000 && ts <= after + 1000,
            "timestamp {ts} not within the run ({before}..{after}): {r}"
        );
    }
    // Text output shows what it always showed.
    let text = ok(&args(
        path,
        &[
            "consume",
            "--topic",
            &t.name,
            "--from-beginning",
            "--exit-at-end",
            "--partition",
            "0",
        ],
    ));
    assert!(
        text.stdout
            .lines()
            .all(|l| l.starts_with('k') && l.contains("\tv")),
        "{text:?}"
    );
}

/// The exercise on this path: `produce even` and `produce odd` numbers come
/// back as `A n` / `B n` lines, each once, in order per origin.
pub fn parity_records_round_trip(path: &[&str]) {
    let t = Topic::new("dp-parity", 2);
    for parity in ["even", "odd"] {
        let r = ok(&args(
            path,
            &[
                "produce",
                parity,
                "--topic",
                &t.name,
                "--interval",
                "10ms",
                "--count",
                "20",
            ],
        ));
        assert_eq!(r.stdout.lines().count(), 20, "{r:?}");
    }
    let c = ok(&args(
        path,
        &[
            "consume",
            "--topic",
            &t.name,
            "--from-beginning",
            "--exit-at-end",
        ],
    ));
    let by = |origin: &str| -> Vec<i64> {
        c.stdout
            .lines()
            .filter_map(|l| l.strip_prefix(origin)?.trim().parse().ok())
            .collect()
    };
    assert_eq!(
        by("A "),
        (0..20).map(|i| 2 * i).collect::<Vec<_>>(),
        "{c:?}"
    );
    assert_eq!(
        by("B "),
        (0..20).map(|i| 2 * i + 1).collect::<Vec<_>>(),
        "{c:?}"
    );
}

/// A group member prints 30 records and commits them; a second run of the
/// group prints exactly the rest.
pub fn group_commits_and_resumes(path: &[&str]) {
    let t = Topic::new("dp-group", 3);
    let input: String = (0..50).map(|i| format!("{i}\n")).collect();
    assert_eq!(
        run_with_input(&args(path, &["produce", "--topic", &t.name]), &input).code,
        0
    );
    let group = unique_topic("dp-g");
    let first = ok(&args(
        path,
        &[
            "consume",
            "--topic",
            &t.name,
            "--group",
            &group,
            "--from-beginning",
            "--count",
            "30",
        ],
    ));
    let rest = ok(&args(
        path,
        &[
            "consume",
            "--topic",
            &t.name,
            "--group",
            &group,
            // only for partitions the first run never committed
            "--from-beginning",
            "--exit-at-end",
        ],
    ));
    let seen: Vec<&str> = first.stdout.lines().chain(rest.stdout.lines()).collect();
    assert_eq!(first.stdout.lines().count(), 30, "{first:?}");
    assert_eq!(seen.len(), 50, "first {first:?}\nrest {rest:?}");
    let unique: BTreeSet<&str> = seen.iter().copied().collect();
    assert_eq!(unique.len(), 50, "a record printed twice: {seen:?}");
}

/// `--from-time` starts at the first record stamped at or after the time.
pub fn consume_from_a_point_in_time(path: &[&str]) {
    let t = Topic::new("dp-time", 1);
    assert_eq!(
        run_with_input(
            &args(path, &["produce", "--topic", &t.name]),
            "old1\nold2\n"
        )
        .code,
        0
    );
    let marker = now_ms() + 1;
    wait_until(
        std::time::Duration::from_secs(5),
        "the clock to pass the marker",
        || now_ms() > marker,
    );
    assert_eq!(
        run_with_input(
            &args(path, &["produce", "--topic", &t.name]),
            "new1\nnew2\n"
        )
        .code,
        0
    );
    let when = jiff::Timestamp::from_millisecond(marker)
        .map(|t| t.to_string())
        .unwrap_or_default();
    let c = ok(&args(
        path,
        &[
            "consume",
            "--topic",
            &t.name,
            "--from-time",
            &when,
            "--exit-at-end",
        ],
    ));
    assert_eq!(c.stdout, "new1\nnew2\n", "{c:?}");
    let c = ok(&args(
        path,
        &[
            "consume",
            "--topic",
            &t.name,
            "--from-time",
            "-1h",
            "--exit-at-end",
        ],
    ));
    assert_eq!(c.stdout, "old1\nold2\nnew1\nnew2\n", "{c:?}");
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Kafka's own console tools of the broker's version and kafkademo agree on
/// headers and timestamps: the Java console consumer prints the headers and
/// CreateTime kafkademo wrote, and kafkademo reads the headers Kafka's
/// console producer wrote.
pub fn headers_and_timestamps_interoperate_with_kafkas_console_tools(path: &[&str]) {
    use std::io::Write;
    use std::process::{Command, Stdio};

    let kafka4 = std::env::var("KAFKA_VERSION").is_ok_and(|v| v.starts_with('4'));
    let (producer_class, consumer_class) = if kafka4 {
        (
            "org.apache.kafka.tools.ConsoleProducer",
            "org.apache.kafka.tools.consumer.ConsoleConsumer",
        )
    } else {
        (
            "kafka.tools.ConsoleProducer",
            "org.apache.kafka.tools.consumer.ConsoleConsumer",
        )
    };
    let java = |class: &str, args: &[&str], input: &str| {
        let mut child = Command::new(repo_root().join("scripts/kafka-class.sh"))
            .arg(class)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot run Kafka's console tools");
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(input.as_bytes()).expect("stdin");
        }
        let out = child.wait_with_output().expect("wait");
        assert!(
            out.status.success(),
            "{class} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let brokers = brokers();
    // Kafka 4 renamed the tools' --property (and says so on stdout).
    let (formatter, reader) = if kafka4 {
        ("--formatter-property", "--reader-property")
    } else {
        ("--property", "--property")
    };

    // kafkademo writes, Kafka reads.
    let ours = Topic::new("dp-interop-ours", 1);
    let before = now_ms();
    let p = run_with_input(
        &args(
            path,
            &[
                "produce",
                "--topic",
                &ours.name,
                "--key-separator",
                ",",
                "--header",
                "trace=abc",
                "--header",
                "tenant=t1",
            ],
        ),
        "k1,v1\nk2,v2\n",
    );
    assert_eq!(p.code, 0, "{p:?}");
    let shown = java(
        consumer_class,
        &[
            "--bootstrap-server",
            &brokers,
            "--topic",
            &ours.name,
            "--from-beginning",
            "--max-messages",
            "2",
            formatter,
            "print.timestamp=true",
            formatter,
            "print.headers=true",
            formatter,
            "print.key=true",
        ],
        "",
    );
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(lines.len(), 2, "{shown}");
    for (line, (key, value)) in lines.iter().zip([("k1", "v1"), ("k2", "v2")]) {
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(fields.len(), 4, "{line:?}");
        let ts: i64 = fields[0]
            .strip_prefix("CreateTime:")
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("no CreateTime in {line:?}"));
        assert!(ts >= before - 1000 && ts <= now_ms() + 1000, "{line:?}");
        assert_eq!(fields[1], "trace:abc,tenant:t1", "{line:?}");
        assert_eq!((fields[2], fields[3]), (key, value), "{line:?}");
    }

    // Kafka writes, kafkademo reads.
    let theirs = Topic::new("dp-interop-theirs", 1);
    java(
        producer_class,
        &[
            "--bootstrap-server",
            &brokers,
            "--topic",
            &theirs.name,
            reader,
            "parse.key=true",
            reader,
            "parse.headers=true",
        ],
        "source:java,run:1\tk3\tv3\n",
    );
    let c = ok(&args(
        path,
        &[
            "consume",
            "--topic",
            &theirs.name,
            "--from-beginning",
            "--exit-at-end",
            "--format",
            "json",
        ],
    ));
    let records = json_lines(&c.stdout);
    assert_eq!(records.len(), 1, "{c:?}");
    assert_eq!(
        (records[0]["key"].as_str(), records[0]["value"].as_str()),
        (Some("k3"), Some("v3"))
    );
    assert_eq!(
        records[0]["headers"],
        serde_json::json!([{"key": "source", "value": "java"}, {"key": "run", "value": "1"}]),
        "{c:?}"
    );
    assert_eq!(records[0]["timestamp_type"], "CreateTime", "{c:?}");
}
