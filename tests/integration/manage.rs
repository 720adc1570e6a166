//! `kafkademo topic alter|configs|truncate`, `cluster describe|elect-leaders`
//! and `topic reassign`'s refusals against one broker (the replica moves
//! and elections that need three brokers are in cluster::manage).

use std::time::Duration;

use crate::fixture::*;

/// The PartitionCount of `topic describe`.
fn partition_count(topic: &str) -> usize {
    let d = ok(&["topic", "describe", topic]);
    let first = d.stdout.lines().next().unwrap_or_default().to_string();
    first
        .split('\t')
        .find_map(|f| f.strip_prefix("PartitionCount: "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no PartitionCount in {d:?}"))
}

#[test]
fn partitions_go_up_and_are_refused_down() {
    let t = Topic::new("grow", 2);
    let r = ok(&["topic", "alter", &t.name, "--partitions", "3"]);
    assert!(
        r.stdout
            .starts_with(&format!("Topic {}: 2 → 3 partitions", t.name)),
        "{r:?}"
    );
    assert_eq!(partition_count(&t.name), 3);
    fails(
        &["topic", "alter", &t.name, "--partitions", "2"],
        2,
        &format!(
            "topic '{}' has 3 partitions; Kafka cannot take partitions away (it would lose records and break key order)",
            t.name
        ),
    );
    fails(
        &["topic", "alter", &t.name, "-p", "3"],
        2,
        "has 3 partitions; nothing to add",
    );
    assert_eq!(partition_count(&t.name), 3);
    let missing = unique_topic("nogrow");
    fails(
        &["topic", "alter", &missing, "-p", "3"],
        1,
        &format!("topic '{missing}' does not exist"),
    );
}

/// (value, source, default column) of `name` in `topic configs`.
fn config_row(topic: &str, name: &str) -> (String, String, String) {
    let r = ok(&["topic", "configs", topic, "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).expect("one JSON document");
    assert_eq!(doc["topic"], topic.to_string(), "{r:?}");
    let c = doc["configs"]
        .as_array()
        .expect("configs")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {r:?}"))
        .clone();
    let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    (s(&c["value"]), s(&c["source"]), s(&c["default"]["name"]))
}

#[test]
fn settings_set_and_deleted_show_in_topic_configs() {
    let t = Topic::new("cfgs", 1);
    let r = ok(&[
        "topic",
        "alter",
        &t.name,
        "--config",
        "retention.ms=123456",
        "--config",
        "cleanup.policy=compact",
    ]);
    assert_eq!(
        r.stdout,
        format!(
            "Topic {0}: set retention.ms=123456.\nTopic {0}: set cleanup.policy=compact.\n",
            t.name
        )
    );
    assert_eq!(
        config_row(&t.name, "retention.ms"),
        ("123456".into(), "topic".into(), String::new())
    );
    // An override names the default it replaces and where that comes from.
    assert_eq!(
        config_row(&t.name, "cleanup.policy"),
        (
            "compact".into(),
            "topic".into(),
            "log.cleanup.policy".into()
        )
    );
    let text = ok(&["topic", "configs", &t.name]);
    let row = text
        .stdout
        .lines()
        .find(|l| l.starts_with("cleanup.policy "))
        .unwrap_or_else(|| panic!("{text:?}"));
    let cols: Vec<&str> = row.split("  ").filter(|c| !c.is_empty()).collect();
    assert_eq!(
        cols.iter().map(|c| c.trim()).collect::<Vec<_>>(),
        [
            "cleanup.policy",
            "compact",
            "topic",
            "log.cleanup.policy=delete (Kafka default)"
        ],
        "{text:?}"
    );
    // Kafka's other view of the overrides: `topic describe` (DescribeConfigs' sources).
    let d = ok(&["topic", "describe", &t.name]);
    assert!(
        d.stdout
            .contains("Configs: cleanup.policy=compact,retention.ms=123456"),
        "{d:?}"
    );

    let r = ok(&[
        "topic",
        "alter",
        &t.name,
        "--delete-config",
        "cleanup.policy",
    ]);
    assert_eq!(
        r.stdout,
        format!(
            "Topic {}: deleted cleanup.policy (the default applies).\n",
            t.name
        )
    );
    assert_eq!(
        config_row(&t.name, "cleanup.policy"),
        ("delete".into(), "Kafka default".into(), String::new())
    );

    fails(
        &["topic", "alter", &t.name, "--config", "retention.ms=soon"],
        1,
        "Invalid value soon for configuration retention.ms",
    );
    fails(
        &["topic", "alter", &t.name, "--config", "no.such.setting=1"],
        1,
        "no.such.setting",
    );
    assert_eq!(config_row(&t.name, "retention.ms").0, "123456");
}

fn consume_all(topic: &str) -> Vec<String> {
    ok(&[
        "consume",
        "--topic",
        topic,
        "--from-beginning",
        "--exit-at-end",
    ])
    .stdout
    .lines()
    .map(str::to_string)
    .collect()
}

#[test]
fn truncate_moves_where_from_beginning_starts() {
    let t = Topic::new("trunc", 1);
    let lines: String = (1..=10).map(|n| format!("r{n}\n")).collect();
    let r = run_with_input(&["produce", "--topic", &t.name], &lines);
    assert_eq!(r.code, 0, "{r:?}");
    let r = ok(&["topic", "truncate", &t.name, "--before", "4"]);
    assert_eq!(
        r.stdout,
        format!(
            "{} partition 0: low watermark 4 (was 0; 6 records left)\n",
            t.name
        )
    );
    let expected: Vec<String> = (5..=10).map(|n| format!("r{n}")).collect();
    assert_eq!(consume_all(&t.name), expected);

    fails(
        &["topic", "truncate", &t.name, "--before", "11"],
        1,
        &format!(
            "topic '{}' partition 0 not truncated: offset 11 is past its end (10)",
            t.name
        ),
    );
    fails(
        &[
            "topic",
            "truncate",
            &t.name,
            "--before",
            "4",
            "--partition",
            "1",
        ],
        2,
        &format!("topic '{}' has no partition 1", t.name),
    );
    let r = ok(&["topic", "truncate", &t.name, "--before", "end"]);
    assert!(
        r.stdout
            .contains("low watermark 10 (was 4; 0 records left)"),
        "{r:?}"
    );
    assert!(consume_all(&t.name).is_empty());
}

#[test]
fn truncate_by_time_keeps_the_newer_records() {
    let t = Topic::new("trunct", 2);
    // The modern data path stamps each record (the classic path's message
    // format v0 carries no time, and a by-time cut would take everything).
    let produce = |lines: &str| {
        let r = run_with_input(
            &["--protocol", "modern", "produce", "--topic", &t.name],
            lines,
        );
        assert_eq!(r.code, 0, "{r:?}");
    };
    produce("old1\nold2\nold3\n");
    std::thread::sleep(Duration::from_millis(1100));
    let cut = jiff::Timestamp::now().to_string();
    std::thread::sleep(Duration::from_millis(100));
    produce("new1\nnew2\n");
    let r = ok(&["topic", "truncate", &t.name, "--before", &cut]);
    assert_eq!(r.stdout.lines().count(), 2, "{r:?}");
    let mut left = consume_all(&t.name);
    left.sort();
    assert_eq!(left, ["new1", "new2"], "cut at {cut}");
}

#[test]
fn cluster_describe_lists_the_broker() {
    let brokers = require_broker();
    let first = brokers.split(',').next().unwrap().to_string();
    let r = ok(&["cluster", "describe"]);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(
        lines[0].starts_with("Cluster id: ") && lines[0].len() > 14,
        "{r:?}"
    );
    assert!(lines[1].starts_with("Controller: broker "), "{r:?}");
    assert_eq!(
        lines[2].split_whitespace().collect::<Vec<_>>(),
        ["ID", "ADDRESS", "RACK"]
    );
    assert!(
        lines[3..]
            .iter()
            .any(|l| l.split_whitespace().nth(1) == Some(first.as_str())),
        "{first} not listed:\n{r:?}"
    );
    let j = ok(&["cluster", "describe", "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&j.stdout).expect("JSON");
    let listed: Vec<&str> = doc["brokers"]
        .as_array()
        .expect("brokers")
        .iter()
        .filter_map(|b| b["address"].as_str())
        .collect();
    assert!(listed.contains(&first.as_str()), "{j:?}");
    assert!(
        doc["cluster_id"].as_str().is_some_and(|s| !s.is_empty()),
        "{j:?}"
    );
}

#[test]
fn one_broker_leads_as_preferred_and_has_nowhere_to_move_to() {
    let t = Topic::new("pref", 2);
    let r = ok(&["cluster", "elect-leaders", "--topic", &t.name]);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{r:?}");
    for (p, line) in lines.iter().enumerate() {
        assert!(
            line.starts_with(&format!("{} partition {p}: already led by broker ", t.name))
                && line.ends_with(", the preferred leader"),
            "{r:?}"
        );
    }
    fails(
        &["topic", "reassign", &t.name, "--replicas", "0,7"],
        1,
        &format!(
            "cannot reassign topic '{}': there is no broker 7 (the brokers are ",
            t.name
        ),
    );
    let r = run(&["topic", "reassign", &t.name, "--replicas", "1,1"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("broker 1 is named twice"), "{r:?}");
}
