//! `kafkademo topic …` against the real broker.

use std::time::Duration;

use crate::fixture::*;

#[test]
fn create_list_describe_delete_walk() {
    require_broker();
    let name = unique_topic("walk");
    let r = ok(&["topic", "create", &name, "--partitions", "3"]);
    assert_eq!(
        r.stdout,
        format!("Created topic {name} (3 partitions, replication factor 1).\n")
    );

    // Looking a group up makes the broker create __consumer_offsets (if no
    // group did before): `topic list` hides it, `--internal` shows it.
    run(&["group", "describe", &unique_topic("no-such-group")]);
    wait_until(
        Duration::from_secs(30),
        "__consumer_offsets in `topic list --internal`",
        || {
            ok(&["topic", "list", "--internal"])
                .stdout
                .lines()
                .any(|l| l == "__consumer_offsets")
        },
    );
    let list = ok(&["topic", "list"]);
    assert!(list.stdout.lines().any(|l| l == name), "{list:?}");
    assert!(!list.stdout.contains("__consumer_offsets"), "{list:?}");

    let d = ok(&["topic", "describe", &name]);
    let lines: Vec<&str> = d.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{d:?}");
    assert!(
        lines[0].starts_with(&format!("Topic: {name}\tTopicId: ")),
        "{d:?}"
    );
    assert!(
        lines[0].contains("\tPartitionCount: 3\tReplicationFactor: 1\tConfigs: "),
        "{d:?}"
    );
    for (i, line) in lines[1..].iter().enumerate() {
        let fields: Vec<&str> = line.trim_start().split('\t').collect();
        assert_eq!(fields[0], format!("Topic: {name}"));
        assert_eq!(fields[1], format!("Partition: {i}"));
        assert!(
            fields[2].starts_with("Leader: ") && fields[2] != "Leader: none",
            "{d:?}"
        );
        let leader = &fields[2]["Leader: ".len()..];
        assert_eq!(fields[3], format!("Replicas: {leader}"));
        assert_eq!(fields[4], format!("Isr: {leader}"));
    }

    let r = ok(&["topic", "delete", &name]);
    assert_eq!(r.stdout, format!("Deleted topic {name}.\n"));
    let list = ok(&["topic", "list"]);
    assert!(!list.stdout.lines().any(|l| l == name), "{list:?}");
    fails(
        &["topic", "describe", &name],
        1,
        &format!("topic '{name}' does not exist"),
    );
}

#[test]
fn duplicate_create_fails_unless_if_not_exists() {
    let t = Topic::new("dup", 1);
    let r = fails(
        &["topic", "create", &t.name],
        1,
        &format!("topic '{}' already exists", t.name),
    );
    assert!(r.stderr.contains("hint: add --if-not-exists"), "{r:?}");
    let r = ok(&["topic", "create", &t.name, "--if-not-exists"]);
    assert_eq!(r.stdout, format!("Topic {} already exists.\n", t.name));
}

#[test]
fn invalid_names_are_refused_with_the_rule() {
    require_broker();
    fails(
        &["topic", "create", "has space"],
        2,
        "' ' is not allowed; use only ASCII letters, digits, '.', '_' and '-'",
    );
    fails(
        &["topic", "create", ".."],
        2,
        "'.' and '..' are not allowed",
    );
    let long = "x".repeat(250);
    fails(
        &["topic", "create", &long],
        2,
        "250 characters long; the limit is 249",
    );
}

#[test]
fn replication_factor_above_broker_count_names_the_count() {
    require_broker();
    let name = unique_topic("rf");
    let r = fails(
        &["topic", "create", &name, "--replication-factor", "5"],
        1,
        "replication factor 5 is larger than the 1 available broker(s)",
    );
    assert!(
        r.stderr
            .contains("hint: use --replication-factor 1 or less"),
        "{r:?}"
    );
}

#[test]
fn configs_are_applied_and_shown() {
    require_broker();
    let name = unique_topic("cfg");
    ok(&[
        "topic",
        "create",
        &name,
        "--config",
        "retention.ms=123456",
        "--config",
        "cleanup.policy=compact",
    ]);
    let d = ok(&["topic", "describe", &name]);
    let first = d.stdout.lines().next().unwrap_or_default();
    assert!(
        first.ends_with("Configs: cleanup.policy=compact,retention.ms=123456"),
        "{d:?}"
    );
    ok(&["topic", "delete", &name]);

    let bad = unique_topic("badcfg");
    fails(
        &["topic", "create", &bad, "--config", "retention.ms=soon"],
        1,
        "invalid config",
    );
}

#[test]
fn deleting_a_missing_topic() {
    require_broker();
    let name = unique_topic("gone");
    let r = fails(
        &["topic", "delete", &name],
        1,
        &format!("topic '{name}' does not exist"),
    );
    assert!(
        r.stderr
            .contains("hint: create it with `kafkademo topic create"),
        "{r:?}"
    );
    let r = ok(&["topic", "delete", &name, "--if-exists"]);
    assert_eq!(r.stdout, format!("Topic {name} does not exist.\n"));
}

#[test]
fn make_kafka_up_twice_is_harmless() {
    require_broker();
    for _ in 0..2 {
        let out = std::process::Command::new("make")
            .args(["-s", "kafka-up"])
            .current_dir(repo_root())
            .output()
            .expect("cannot run make");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "make kafka-up failed:\n{text}");
        assert!(
            text.contains("already running"),
            "make kafka-up did not notice the running broker:\n{text}"
        );
    }
    // and the broker still serves
    ok(&["topic", "list"]);
}
