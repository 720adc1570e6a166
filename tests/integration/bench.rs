//! `kafkademo bench`: runs against the real broker and prints figures a
//! machine can read. Only that the figures are there and positive is
//! checked: timings on a shared machine prove nothing.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::fixture::*;

fn json(args: &[&str]) -> Value {
    let r = ok(args);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one JSON object expected:\n{r:?}");
    serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("{e}:\n{r:?}"))
}

fn positive(v: &Value, field: &str) -> f64 {
    let x = v
        .pointer(field)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("no number at {field}: {v}"));
    assert!(x > 0.0, "{field} is {x}: {v}");
    x
}

fn topic_exists(name: &str) -> bool {
    ok(&["topic", "list"]).stdout.lines().any(|l| l == name)
}

#[test]
fn produce_reports_throughput_and_latency_and_removes_its_topic() {
    require_broker();
    let v = json(&[
        "bench",
        "produce",
        "--records",
        "20000",
        "--record-size",
        "100",
        "--format",
        "json",
    ]);
    assert_eq!(v["mode"], "produce");
    assert_eq!(v["temporary_topic"], true);
    assert_eq!(v["records"], 20000);
    for f in [
        "/records_per_sec",
        "/mb_per_sec",
        "/seconds",
        "/requests",
        "/latency_ms/p50",
        "/latency_ms/p99",
        "/latency_ms/max",
    ] {
        positive(&v, f);
    }
    let topic = v["topic"].as_str().unwrap();
    assert!(!topic_exists(topic), "temporary topic {topic} left behind");
}

#[test]
fn produce_to_a_given_topic_with_options_lands_every_record() {
    let t = Topic::new("bench-p", 2);
    // acks=0 gets no answer, so Kafka promises nothing about those records:
    // they go to a topic of their own, and only the report is checked.
    let unacked = Topic::new("bench-p0", 2);
    for (topic, compression, acks) in [
        (&t.name, "gzip", "all"),
        (&unacked.name, "snappy", "0"),
        (&t.name, "none", "1"),
    ] {
        let v = json(&[
            "bench",
            "produce",
            "--topic",
            topic,
            "--records",
            "3000",
            "--record-size",
            "1000",
            "--acks",
            acks,
            "--batch",
            "300",
            "--compression",
            compression,
            "--connections",
            "3",
            "--format",
            "json",
        ]);
        assert_eq!(v["temporary_topic"], false);
        assert_eq!(v["compression"], compression);
        assert_eq!(v["acks"], acks);
        assert_eq!(v["records"], 3000, "{v}");
        assert_eq!(v["requests"], 10, "3000 records in batches of 300: {v}");
        positive(&v, "/records_per_sec");
    }
    // Every acknowledged record is there: all 6000.
    let v = json(&[
        "bench",
        "consume",
        "--topic",
        &t.name,
        "--records",
        "6000",
        "--format",
        "json",
    ]);
    assert_eq!(v["records"], 6000, "{v}");
    assert_eq!(v["bytes"], 6000 * 1000, "{v}");
}

#[test]
fn text_output_names_the_figures_and_the_temporary_topic() {
    require_broker();
    let r = ok(&["bench", "produce", "--records", "5000"]);
    for needle in [
        "records/s",
        "MB/s",
        "latency p50",
        "temporary",
        "deleted after",
    ] {
        assert!(r.stdout.contains(needle), "no {needle:?}:\n{r:?}");
    }
}

#[test]
fn consume_reads_a_filled_temporary_topic() {
    require_broker();
    let v = json(&[
        "bench",
        "consume",
        "--records",
        "30000",
        "--record-size",
        "200",
        "--partitions",
        "3",
        "--format",
        "json",
    ]);
    assert_eq!(v["mode"], "consume");
    assert_eq!(v["partitions"], 3);
    assert!(v["records"].as_u64().unwrap() >= 30000, "{v}");
    for f in ["/records_per_sec", "/mb_per_sec", "/bytes", "/seconds"] {
        positive(&v, f);
    }
    assert!(!topic_exists(v["topic"].as_str().unwrap()));
}

#[test]
fn consume_more_than_a_topic_holds_is_a_usage_error() {
    let t = Topic::new("bench-short", 1);
    json(&[
        "bench",
        "produce",
        "--topic",
        &t.name,
        "--records",
        "100",
        "--format",
        "json",
    ]);
    fails(
        &["bench", "consume", "--topic", &t.name, "--records", "101"],
        2,
        "holds only 100 records",
    );
}

#[test]
fn e2e_reports_latency_percentiles() {
    require_broker();
    let v = json(&[
        "bench",
        "e2e",
        "--rate",
        "500",
        "--duration",
        "2s",
        "--format",
        "json",
    ]);
    assert_eq!(v["mode"], "e2e");
    assert_eq!(v["sent"], 1000);
    assert_eq!(v["received"], 1000);
    for f in [
        "/achieved_rate",
        "/latency_ms/p50",
        "/latency_ms/p95",
        "/latency_ms/p99",
        "/latency_ms/max",
    ] {
        positive(&v, f);
    }
    assert!(!topic_exists(v["topic"].as_str().unwrap()));
}

#[test]
fn no_progress_bar_when_stderr_is_not_a_terminal() {
    require_broker();
    // a run long enough for the bar (over 2 s), with stderr a pipe
    let child = kafkademo(&["bench", "e2e", "--rate", "200", "--duration", "3s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let r = wait_bounded(child, Duration::from_secs(60));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stderr, "", "{r:?}");
    assert!(r.stdout.contains("latency     p50"), "{r:?}");
}

#[test]
fn bench_errors_are_one_line_with_an_exit_code() {
    require_broker();
    let name = unique_topic("bench-missing");
    fails(
        &["bench", "produce", "--topic", &name, "--records", "10"],
        1,
        &format!("topic '{name}' does not exist"),
    );
    fails(
        &["bench", "e2e", "--duration", "0s"],
        2,
        "--duration must be more than 0",
    );
    let r = run(&["bench", "produce", "--compression", "brotli"]);
    assert_eq!(r.code, 2, "{r:?}");
    fails(
        &[
            "--brokers",
            "127.0.0.1:1",
            "bench",
            "produce",
            "--records",
            "10",
        ],
        69,
        "cannot reach Kafka at 127.0.0.1:1",
    );
}

#[test]
fn consume_gets_past_batches_larger_than_the_fetch_size() {
    // One connection writing 500 records of 1000 B a request: ~500 KB batches.
    // A v0 fetch of 4 KiB returns none of such a batch; the reader must grow
    // its fetch size instead of asking again forever.
    let t = Topic::new("bench-bigbatch", 1);
    json(&[
        "bench",
        "produce",
        "--topic",
        &t.name,
        "--records",
        "2000",
        "--record-size",
        "1000",
        "--batch",
        "500",
        "--connections",
        "1",
        "--format",
        "json",
    ]);
    let child = kafkademo(&[
        "bench",
        "consume",
        "--topic",
        &t.name,
        "--records",
        "2000",
        "--fetch-bytes",
        "4096",
        "--format",
        "json",
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let r = wait_bounded(child, Duration::from_secs(60));
    assert_eq!(r.code, 0, "{r:?}");
    let v: Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(v["records"], 2000, "{v}");
}

#[test]
fn ctrl_c_stops_a_bench_with_130_and_deletes_its_topic() {
    require_broker();
    let child = kafkademo(&["bench", "e2e", "--rate", "100", "--duration", "60s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let prefix = format!("kd-bench-{}-", child.id());
    let mine = || -> Vec<String> {
        ok(&["topic", "list"])
            .stdout
            .lines()
            .filter(|l| l.starts_with(&prefix))
            .map(String::from)
            .collect()
    };
    let topic = wait_for(
        Duration::from_secs(30),
        "the bench's temporary topic",
        || mine().pop(),
    );
    // Ctrl-C mid-run, not while the bench is still setting up: once a
    // record is in its topic, it is sending.
    wait_until(
        Duration::from_secs(30),
        "a record in the bench's topic",
        || {
            let r = run(&[
                "consume",
                "--topic",
                &topic,
                "--from-beginning",
                "--exit-at-end",
                "--count",
                "1",
            ]);
            r.code == 0 && r.stdout.lines().count() == 1
        },
    );
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let r = wait_bounded(child, Duration::from_secs(20));
    assert_eq!(r.code, 130, "{r:?}");
    assert_eq!(r.stderr, "", "{r:?}");
    assert_eq!(mine(), Vec::<String>::new(), "temporary topic left behind");
}
