//! Kafka transactions as a user meets them: `produce --transactional-id`
//! commits per batch or per `--transaction-size`, and Ctrl-C aborts the
//! open transaction; `consume` reads committed by default on the modern
//! path and shows the producer id in JSON; Kafka's own console consumer
//! with `--isolation-level read_committed` agrees on what is visible.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::fixture::*;

fn values(run: &Run) -> Vec<i64> {
    let mut v: Vec<i64> = run
        .stdout
        .lines()
        .map(|l| {
            l.trim()
                .parse()
                .unwrap_or_else(|_| panic!("not a number: {l:?}\n{run:?}"))
        })
        .collect();
    v.sort_unstable();
    v
}

/// `consume` on the modern data path (which `auto` picks on Kafka 4.x, not
/// on 3.9, where the classic path has no transactions and reads all); no
/// `--isolation` in `extra` means its default there, read_committed.
fn read(topic: &str, extra: &[&str]) -> Run {
    let mut args = vec![
        "--protocol",
        "modern",
        "consume",
        "--topic",
        topic,
        "--from-beginning",
        "--exit-at-end",
    ];
    args.extend_from_slice(extra);
    ok(&args)
}

/// A transactional producer whose stdin stays open (transactions of 1,000
/// records): what is written to it stays in one open transaction.
fn open_transaction(topic: &str, id: &str) -> (std::process::Child, std::process::ChildStdin) {
    let mut child = kafkademo(&[
        "produce",
        "--topic",
        topic,
        "--transactional-id",
        id,
        "--transaction-size",
        "1000",
    ])
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("cannot run kafkademo");
    let stdin = child.stdin.take().expect("stdin");
    (child, stdin)
}

fn lines(range: std::ops::RangeInclusive<i64>) -> String {
    range.map(|i| format!("{i}\n")).collect()
}

/// Commits 1..=100 in transactions of 30, then a second producer writes
/// 101..=150 in one transaction and is interrupted before committing: a
/// read_committed reader (the default) sees 1..=100 only, a
/// read_uncommitted one all 150, and Kafka's console consumer agrees.
#[test]
fn an_interrupted_transaction_is_never_visible_to_read_committed_readers() {
    require_broker();
    let t = Topic::new("txn", 2);
    let id = format!("{}-tx", t.name);
    let done = run_with_input(
        &[
            "produce",
            "--topic",
            &t.name,
            "--transactional-id",
            &id,
            "--transaction-size",
            "30",
        ],
        &lines(1..=100),
    );
    assert_eq!(done.code, 0, "{done:?}");

    // The second producer keeps its stdin open: its transaction stays open.
    let (child, mut stdin) = open_transaction(&t.name, &id);
    stdin
        .write_all(lines(101..=150).as_bytes())
        .expect("write stdin");
    // Wait until the open transaction's records are in the log.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let all = values(&read(&t.name, &["--isolation", "read-uncommitted"]));
        if all.len() == 150 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the open transaction's records never reached the log: {} of 150 read uncommitted",
            all.len()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // While it is open, a read_committed reader stops before it.
    assert_eq!(values(&read(&t.name, &[])), (1..=100).collect::<Vec<_>>());
    sigint(&child);
    let interrupted = wait_bounded(child, Duration::from_secs(5));
    drop(stdin);
    assert_eq!(interrupted.code, 130, "{interrupted:?}");
    assert!(
        interrupted
            .stderr
            .contains("0 records committed, 50 in the open transaction aborted"),
        "{interrupted:?}"
    );

    // Aborted at once, not left open until the coordinator's timeout: a
    // transaction committed after it is readable right away (an open one
    // would hold the last stable offset, and read_committed, before it).
    let later = run_with_input(
        &[
            "produce",
            "--topic",
            &t.name,
            "--transactional-id",
            &format!("{id}-2"),
        ],
        &lines(151..=160),
    );
    assert_eq!(later.code, 0, "{later:?}");
    let expected: Vec<i64> = (1..=100).chain(151..=160).collect();
    let committed = read(&t.name, &[]);
    assert_eq!(values(&committed), expected);
    let explicit = read(&t.name, &["--isolation", "read-committed"]);
    assert_eq!(values(&explicit), expected);
    let uncommitted = read(&t.name, &["--isolation", "read-uncommitted"]);
    assert_eq!(values(&uncommitted), (1..=160).collect::<Vec<_>>());

    // JSON names the producer and says the record was transactional.
    let json = read(&t.name, &["--format", "json", "--count", "1"]);
    let first: serde_json::Value =
        serde_json::from_str(json.stdout.lines().next().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{e}: {json:?}"));
    assert_eq!(first["transactional"], true, "{json:?}");
    assert!(
        first["producer_id"].as_i64().is_some_and(|id| id >= 0),
        "{json:?}"
    );

    // Kafka's console consumer, read_committed, sees the same records.
    let java = Command::new(repo_root().join("scripts/kafka-class.sh"))
        .args([
            "org.apache.kafka.tools.consumer.ConsoleConsumer",
            "--bootstrap-server",
            brokers().split(',').next().unwrap_or_default(),
            "--topic",
            &t.name,
            "--from-beginning",
            "--isolation-level",
            "read_committed",
            "--timeout-ms",
            "8000",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("cannot run Kafka's console consumer");
    let theirs = Run::from(java);
    assert_eq!(
        values(&theirs),
        expected,
        "Kafka's console consumer (read_committed) disagrees: {theirs:?}"
    );
}

/// A record with no transaction reads as such, and the flags that cannot
/// go together are refused before anything is sent.
#[test]
fn transactional_flags_are_checked_and_plain_records_say_so() {
    require_broker();
    let t = Topic::new("txn-flags", 1);
    fails(
        &[
            "produce",
            "--topic",
            &t.name,
            "--transactional-id",
            "x",
            "--acks",
            "1",
        ],
        2,
        "--transactional-id needs --acks all",
    );
    let r = run(&["produce", "--topic", &t.name, "--transaction-size", "5"]);
    assert!(
        r.code == 2 && r.stderr.contains("--transactional-id"),
        "{r:?}"
    );
    fails(
        &[
            "produce",
            "even",
            "--topic",
            &t.name,
            "--transactional-id",
            "x",
        ],
        2,
        "--transactional-id is for stdin lines",
    );
    let sent = run_with_input(
        &["produce", "--topic", &t.name, "--protocol", "modern"],
        "7\n",
    );
    assert_eq!(sent.code, 0, "{sent:?}");
    let json = read(&t.name, &["--format", "json"]);
    let first: serde_json::Value =
        serde_json::from_str(json.stdout.lines().next().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{e}: {json:?}"));
    assert_eq!(first["transactional"], false, "{json:?}");
}

/// `transactions describe` shows a producer's open transaction (state,
/// producer id, the partitions it holds) and `transactions list` lists it,
/// by state too; after the commit at end of input both show it complete.
#[test]
fn transactions_list_and_describe_show_an_open_transaction_then_its_commit() {
    require_broker();
    let t = Topic::new("txn-admin", 2);
    let id = format!("{}-tx", t.name);
    let (child, mut stdin) = open_transaction(&t.name, &id);
    stdin
        .write_all(lines(1..=20).as_bytes())
        .expect("write stdin");
    stdin.flush().expect("flush stdin");

    let open = wait_for(Duration::from_secs(30), "the open transaction", || {
        let d = run(&["transactions", "describe", &id]);
        (d.code == 0 && d.stdout.contains("State:            Ongoing")).then_some(d)
    });
    assert!(
        open.stdout.contains(&format!("Transactional id: {id}\n")),
        "{open:?}"
    );
    assert!(
        open.stdout.contains(&format!("{}-", t.name)),
        "the open transaction's partitions are not shown: {open:?}"
    );
    assert!(open.stdout.contains("Open since:"), "{open:?}");

    let listed = ok(&["transactions", "list", "--format", "json"]);
    let all: serde_json::Value = serde_json::from_str(listed.stdout.trim()).expect("JSON");
    let mine: Vec<&serde_json::Value> = all
        .as_array()
        .expect("a JSON array")
        .iter()
        .filter(|t| t["transactional_id"] == id.as_str())
        .collect();
    assert_eq!(mine.len(), 1, "{listed:?}");
    assert_eq!(mine[0]["state"], "Ongoing", "{listed:?}");
    let ongoing = ok(&["transactions", "list", "--state", "Ongoing"]);
    assert!(
        ongoing.stdout.starts_with("TRANSACTIONAL-ID"),
        "{ongoing:?}"
    );
    assert!(
        ongoing
            .stdout
            .lines()
            .any(|l| l.starts_with(&format!("{id} "))),
        "{ongoing:?}"
    );
    let empty = ok(&["transactions", "list", "--state", "CompleteAbort"]);
    assert!(
        !empty
            .stdout
            .lines()
            .any(|l| l.starts_with(&format!("{id} "))),
        "the state filter let an Ongoing transaction through: {empty:?}"
    );

    drop(stdin);
    let done = wait_bounded(child, Duration::from_secs(30));
    assert_eq!(done.code, 0, "{done:?}");
    let after = ok(&["transactions", "describe", &id]);
    assert!(
        after.stdout.contains("State:            CompleteCommit")
            || after.stdout.contains("State:            Empty"),
        "{after:?}"
    );
    assert!(after.stdout.contains("Partitions:       none"), "{after:?}");

    fails(
        &["transactions", "describe", &format!("{id}-never")],
        1,
        "no transactional id",
    );
    fails(
        &["transactions", "list", "--state", "Sleeping"],
        2,
        "no transaction state 'Sleeping'",
    );
}
