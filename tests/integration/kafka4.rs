//! What a user sees against Kafka 4.x (the `kafka4` phase of `make test`
//! starts 4.4 and runs the whole single-broker suite with these; the other
//! phases skip them): topics and
//! groups work; produce and consume run on the modern data path, which
//! `auto` picks because 4.0 removed the request versions the `kafka` crate
//! speaks; forcing the classic path exits 76 at once with one line that says
//! so, instead of retrying and blaming the network.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::fixture::*;

/// Well under the 30 s the data path retries an outage for: the refusal is
/// known from ApiVersions, before anything is sent.
const PROMPTLY: Duration = Duration::from_secs(8);

const HINT: &str = "  hint: the classic data path (the kafka crate) speaks only the request \
                    versions Kafka 0.11 to 3.9 accept; leave --protocol at auto to use the \
                    modern one";

/// Runs kafkademo with `--timeout 3s --protocol classic` and `input` on stdin, and asserts it
/// exits 76 promptly with exactly the refusal and its hint on stderr.
fn refused(args: &[&str], input: &str) {
    let brokers = require_broker();
    let addr = brokers.split(',').next().unwrap_or_default().to_string();
    let mut full = vec!["--timeout", "3s", "--protocol", "classic"];
    full.extend_from_slice(args);
    let start = Instant::now();
    let mut child = kafkademo(&full)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run kafkademo");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        // kafkademo may have exited already: a closed pipe is fine here.
        let _ = stdin.write_all(input.as_bytes());
    }
    let r = wait_bounded(child, Duration::from_secs(40));
    let took = start.elapsed();
    assert_eq!(r.code, 76, "kafkademo {full:?}: wrong exit code:\n{r:?}");
    assert!(took < PROMPTLY, "kafkademo {full:?} took {took:?}:\n{r:?}");
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "an error line and a hint:\n{r:?}");
    let prefix = format!(
        "kafkademo: error: Kafka at {addr} no longer accepts Fetch v0, which kafkademo's \
         data path sends (it accepts Fetch v4 to v"
    );
    assert!(lines[0].starts_with(&prefix), "{r:?}");
    assert!(lines[0].ends_with(": Kafka 4.0 or later)"), "{r:?}");
    assert_eq!(lines[1], HINT, "{r:?}");
    assert!(!r.stderr.contains("is Kafka running"), "{r:?}");
    assert_eq!(r.stdout, "", "{r:?}");
}

#[test]
fn topic_commands_work() {
    require_broker();
    let name = unique_topic("k4");
    let r = ok(&["topic", "create", &name, "--partitions", "2"]);
    assert_eq!(
        r.stdout,
        format!("Created topic {name} (2 partitions, replication factor 1).\n")
    );
    let list = ok(&["topic", "list"]);
    assert!(list.stdout.lines().any(|l| l == name), "{list:?}");
    let d = ok(&["topic", "describe", &name]);
    let lines: Vec<&str> = d.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{d:?}");
    assert!(
        lines[0].starts_with(&format!("Topic: {name}\tTopicId: ")),
        "{d:?}"
    );
    assert!(lines[1].contains("\tPartition: 0\tLeader: 0\t"), "{d:?}");
    let r = ok(&["topic", "delete", &name]);
    assert_eq!(r.stdout, format!("Deleted topic {name}.\n"));
    let list = ok(&["topic", "list"]);
    assert!(!list.stdout.lines().any(|l| l == name), "{list:?}");
}

#[test]
fn group_list_works() {
    require_broker();
    ok(&["group", "list"]);
}

#[test]
fn stdin_round_trip_with_headers_and_timestamps() {
    crate::datapath::stdin_round_trip_with_headers_and_timestamps(&[]);
}

#[test]
fn parity_records_round_trip() {
    crate::datapath::parity_records_round_trip(&[]);
}

#[test]
fn group_commits_and_resumes() {
    crate::datapath::group_commits_and_resumes(&[]);
}

#[test]
fn consume_from_a_point_in_time() {
    crate::datapath::consume_from_a_point_in_time(&[]);
}

#[test]
fn forced_classic_produce_from_stdin_is_refused_at_once() {
    let t = Topic::new("k4-stdin", 1);
    refused(&["produce", "--topic", &t.name], "1\n2\n3\n");
}

#[test]
fn forced_classic_produce_even_is_refused_at_once() {
    let t = Topic::new("k4-even", 1);
    refused(&["produce", "even", "--count", "1", "--topic", &t.name], "");
}

#[test]
fn forced_classic_consume_is_refused_at_once() {
    let t = Topic::new("k4-consume", 1);
    refused(&["consume", "--topic", &t.name, "--exit-at-end"], "");
}

#[test]
fn forced_classic_consume_in_a_group_is_refused_before_joining() {
    let t = Topic::new("k4-group", 1);
    let group = unique_topic("k4-g");
    refused(
        &[
            "consume",
            "--topic",
            &t.name,
            "--exit-at-end",
            "--group",
            &group,
        ],
        "",
    );
    let list = ok(&["group", "list"]);
    assert!(
        !list
            .stdout
            .lines()
            .any(|l| l.split('\t').next() == Some(&group)),
        "the group was joined:\n{list:?}"
    );
}

#[test]
fn headers_and_timestamps_interoperate_with_kafkas_console_tools() {
    crate::datapath::headers_and_timestamps_interoperate_with_kafkas_console_tools(&[]);
}
