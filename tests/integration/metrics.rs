//! `kafkademo web`'s `/metrics` read by an independent parser: Python's
//! prometheus_client (its OpenMetrics parser, which also checks the
//! exposition's syntax). Known records and a known committed offset must
//! come out as the right lag, log end and ISR size; a cluster that does not
//! answer must give `kafkademo_up 0` at once. prometheus_client is
//! installed by scripts/test-setup.sh (Debian's python3-prometheus-client).

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::fixture::*;
use crate::web::browser::{free_port, http};

/// A Python that has prometheus_client: `python3` on PATH, or Debian's.
fn python() -> String {
    for candidate in ["python3", "/usr/bin/python3"] {
        let ok = Command::new(candidate)
            .args(["-c", "import prometheus_client"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return candidate.to_string();
        }
    }
    panic!(
        "no python3 with prometheus_client: run scripts/test-setup.sh \
         (it installs python3-prometheus-client); tests never skip"
    )
}

const PARSE: &str = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
out = []
for f in text_string_to_metric_families(sys.stdin.read()):
    for s in f.samples:
        out.append({"family": f.name, "type": f.type, "name": s.name, "labels": s.labels, "value": s.value})
print(json.dumps(out))
"#;

/// The samples of an exposition, as prometheus_client parses them; panics
/// when it cannot.
fn parse(text: &str) -> Vec<Value> {
    let mut child = Command::new(python())
        .args(["-c", PARSE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client cannot parse the exposition: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// The value of the sample `name` whose labels include `labels`.
fn value(samples: &[Value], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s["name"] == name
                && labels
                    .iter()
                    .all(|(k, v)| s["labels"][*k].as_str() == Some(*v))
        })
        .and_then(|s| s["value"].as_f64())
}

fn web(topic: &str, port: u16, env: &[(&str, &str)]) -> Running {
    let port = port.to_string();
    let server = Running::start_env(&["web", "--topic", topic, "--port", &port], env);
    server.wait_for_line("Serving topic", Duration::from_secs(20));
    server
}

fn scrape(addr: &str) -> (String, Vec<Value>) {
    let r = http(addr, "GET", "/metrics", &[("Host", addr)], b"");
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        r.header("Content-Type")
            .is_some_and(|t| t.starts_with("application/openmetrics-text")),
        "{r:?}"
    );
    let text = r.text();
    let samples = parse(&text);
    (text, samples)
}

#[test]
fn metrics_show_the_known_lag_log_end_and_isr() {
    let t = Topic::new("metrics", 1);
    let group = unique_topic("metrics-group");
    let lines: String = (1..=7).map(|n| format!("record {n}\n")).collect();
    let r = run_with_input(&["produce", "--topic", &t.name], &lines);
    assert_eq!(r.code, 0, "{r:?}");
    ok(&[
        "group",
        "reset-offsets",
        &group,
        "--topic",
        &t.name,
        "--to-offset",
        "3",
        "--execute",
    ]);

    let port = free_port();
    let _server = web(&t.name, port, &[]);
    let addr = format!("127.0.0.1:{port}");
    let p0 = [("topic", t.name.as_str()), ("partition", "0")];
    let g0 = [
        ("group", group.as_str()),
        ("topic", t.name.as_str()),
        ("partition", "0"),
    ];
    // The first scrape wakes the watcher and waits for its snapshot.
    let (text, samples) = scrape(&addr);
    assert_eq!(value(&samples, "kafkademo_up", &[]), Some(1.0), "{text}");
    assert_eq!(
        value(&samples, "kafkademo_partition_log_end_offset", &p0),
        Some(7.0),
        "{text}"
    );
    assert_eq!(
        value(&samples, "kafkademo_consumergroup_lag", &g0),
        Some(4.0),
        "lag = 7 written - 3 committed:\n{text}"
    );
    assert_eq!(
        value(&samples, "kafkademo_partition_isr_size", &p0),
        Some(1.0)
    );
    assert_eq!(
        value(&samples, "kafkademo_partition_replicas", &p0),
        Some(1.0)
    );
    let topic = [("topic", t.name.as_str())];
    assert_eq!(
        value(&samples, "kafkademo_partitions_under_replicated", &topic),
        Some(0.0)
    );
    assert_eq!(
        value(&samples, "kafkademo_partitions_offline", &topic),
        Some(0.0)
    );
    assert!(value(&samples, "kafkademo_brokers_up", &[]).is_some_and(|n| n >= 1.0));
    assert_eq!(
        value(&samples, "kafkademo_scrape_errors_total", &[]),
        Some(0.0)
    );
    assert!(value(&samples, "kafkademo_scrape_duration_seconds", &[]).is_some());
    // the status is a state set: OK 1, every other 0
    for (status, v) in [
        ("OK", 1.0),
        ("WARN", 0.0),
        ("STALL", 0.0),
        ("STOP", 0.0),
        ("ERR", 0.0),
    ] {
        assert_eq!(
            value(
                &samples,
                "kafkademo_consumergroup_status",
                &[("group", group.as_str()), ("status", status)]
            ),
            Some(v),
            "{status}: {text}"
        );
    }

    // More records: the lag follows, and with a history behind it the lag
    // in time is known (the committed record is older than the history: a
    // lower bound, above 0).
    let more: String = (8..=10).map(|n| format!("record {n}\n")).collect();
    let r = run_with_input(&["produce", "--topic", &t.name], &more);
    assert_eq!(r.code, 0, "{r:?}");
    let samples = wait_for(Duration::from_secs(10), "lag 7 in /metrics", || {
        let (_, samples) = scrape(&addr);
        (value(&samples, "kafkademo_consumergroup_lag", &g0) == Some(7.0)).then_some(samples)
    });
    assert_eq!(
        value(&samples, "kafkademo_partition_log_end_offset", &p0),
        Some(10.0)
    );
    let seconds = value(&samples, "kafkademo_consumergroup_lag_seconds", &g0);
    assert!(seconds.is_some_and(|s| s > 0.0), "{samples:?}");
}

#[test]
fn metrics_without_a_cluster_say_down_at_once() {
    let t = Topic::new("metrics-down", 1);
    // nothing listens there
    let nowhere = format!("127.0.0.1:{}", free_port());
    let port = free_port();
    let _server = web(&t.name, port, &[("KAFKA_BROKERS", &nowhere)]);
    let addr = format!("127.0.0.1:{port}");
    for _ in 0..3 {
        let start = Instant::now();
        let (text, samples) = scrape(&addr);
        assert!(
            start.elapsed() < Duration::from_secs(4),
            "a scrape took {:?}",
            start.elapsed()
        );
        assert_eq!(value(&samples, "kafkademo_up", &[]), Some(0.0), "{text}");
        assert_eq!(
            value(&samples, "kafkademo_brokers_up", &[]),
            Some(0.0),
            "{text}"
        );
        assert!(
            !text.contains("kafkademo_partition_log_end_offset{"),
            "no stale cluster series when down:\n{text}"
        );
    }
    let (_, samples) = scrape(&addr);
    assert!(value(&samples, "kafkademo_scrape_errors_total", &[]).is_some_and(|n| n >= 1.0));
}
