//! Replica moves (`topic reassign`) and preferred leader elections
//! (`cluster elect-leaders`) on the 3-broker cluster.

use std::time::Duration;

use super::{cluster, kd, kd_ok, killing_brokers, script};
use crate::fixture::*;

/// (leader, replicas, isr) of each partition, from `topic describe`.
fn partitions(topic: &str) -> Vec<(i32, Vec<i32>, Vec<i32>)> {
    let Ok(out) = kd(&["topic", "describe", topic]).output() else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let ids = |s: &str| -> Vec<i32> { s.split(',').filter_map(|n| n.parse().ok()).collect() };
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let field = |name: &str| line.split('\t').find_map(|f| f.strip_prefix(name));
            Some((
                field("Leader: ")?.parse().unwrap_or(-1),
                ids(field("Replicas: ")?),
                ids(field("Isr: ")?),
            ))
        })
        .collect()
}

fn require_cluster() {
    let brokers = cluster();
    let first = brokers.split(',').next().unwrap().to_string();
    assert!(
        std::net::TcpStream::connect_timeout(&first.parse().unwrap(), Duration::from_secs(5))
            .is_ok(),
        "no cluster at {brokers}: start it with `make cluster-up` (tests never skip)"
    );
}

#[test]
fn reassign_moves_replicas_and_waits_until_done() {
    require_cluster();
    // A broker killed meanwhile would stall the move.
    let _kills = killing_brokers();
    let topic = unique_topic("reassign");
    kd_ok(&["topic", "create", &topic, "--partitions", "2"]);
    let lines: String = (1..=200).map(|n| format!("m{n}\n")).collect();
    let mut producer = kd(&["produce", "--topic", &topic])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut producer.stdin.take().unwrap(), lines.as_bytes()).unwrap();
    assert!(producer.wait().unwrap().success());

    // Partition 0 on one broker moves to the two others (replication
    // factor 1 → 2); partition 1 stays put.
    let before = partitions(&topic);
    let now = before[0].1.clone();
    assert_eq!(now.len(), 1, "{before:?}");
    let target = vec![(now[0] + 1) % 3, (now[0] + 2) % 3];
    let spec = format!("0:{},{}", target[0], target[1]);
    let out = kd(&[
        "topic",
        "reassign",
        &topic,
        "--replicas",
        &spec,
        "--wait",
        "60s",
    ])
    .output()
    .unwrap();
    let r = Run::from(out);
    assert_eq!(r.code, 0, "{r:?}");
    let mut lines = r.stdout.lines();
    assert_eq!(
        lines.next(),
        Some(
            format!(
                "{topic} partition 0: replicas {} → {},{} (replication factor 1 → 2: Kafka allows it; the topic's partitions then differ)",
                now[0], target[0], target[1]
            )
            .as_str()
        ),
        "{r:?}"
    );
    let last = r.stdout.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(&format!("Reassignment of topic {topic} done after ")),
        "{r:?}"
    );
    let after = wait_for(
        Duration::from_secs(30),
        "the new replicas in metadata",
        || {
            let p = partitions(&topic);
            (p.len() == 2 && p[0].1 == target).then_some(p)
        },
    );
    assert_eq!(after[1].1, before[1].1, "partition 1 moved: {after:?}");
    assert!(
        target.contains(&after[0].0),
        "leader off the new replicas: {after:?}"
    );
    let consumed = kd_ok(&[
        "consume",
        "--topic",
        &topic,
        "--from-beginning",
        "--exit-at-end",
    ]);
    assert_eq!(consumed.lines().count(), 200, "records lost in the move");
    let _ = kd(&["topic", "delete", &topic]).output();
}

#[test]
fn elect_leaders_brings_leadership_back_after_a_restart() {
    require_cluster();
    let _kills = killing_brokers();
    let topic = unique_topic("elect");
    kd_ok(&["topic", "create", &topic, "--replication-factor", "3"]);
    let (_, replicas, _) = wait_for(Duration::from_secs(30), "3 replicas in sync", || {
        partitions(&topic)
            .into_iter()
            .next()
            .filter(|p| p.2.len() == 3 && p.0 >= 0)
    });
    let preferred = replicas[0];
    // Leadership leaves the preferred replica while it is down...
    script("broker-kill.sh", preferred);
    wait_for(Duration::from_secs(60), "another leader", || {
        partitions(&topic)
            .into_iter()
            .next()
            .filter(|p| p.0 >= 0 && p.0 != preferred)
    });
    script("broker-start.sh", preferred);
    let (leader, _, _) = wait_for(
        Duration::from_secs(120),
        "the restarted broker back in the ISR",
        || {
            partitions(&topic)
                .into_iter()
                .next()
                .filter(|p| p.2.len() == 3)
        },
    );
    // ...and stays away (Kafka's own rebalance runs every 5 minutes).
    assert_ne!(leader, preferred);

    let r = Run::from(
        kd(&["cluster", "elect-leaders", "--topic", &topic])
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        r.stdout,
        format!("{topic} partition 0: elected broker {preferred}, the preferred leader\n")
    );
    wait_for(
        Duration::from_secs(30),
        "the preferred replica leading",
        || {
            partitions(&topic)
                .into_iter()
                .next()
                .filter(|p| p.0 == preferred)
        },
    );
    let again = kd_ok(&[
        "cluster",
        "elect-leaders",
        "--topic",
        &topic,
        "--partition",
        "0",
    ]);
    assert_eq!(
        again,
        format!("{topic} partition 0: already led by broker {preferred}, the preferred leader\n")
    );
    let _ = kd(&["topic", "delete", &topic]).output();
}

/// Kafka's tools set a broker's replication throttle (kafkademo has no
/// broker settings); dropped, it is lifted again.
struct Throttle;

impl Throttle {
    fn config(op: &str, value: &str) {
        // Kafka 4 moved the tool from core (Scala) to kafka-tools.
        let class = match std::env::var("KAFKA_VERSION") {
            Ok(v) if v.starts_with("4.") => "org.apache.kafka.tools.ConfigCommand",
            _ => "kafka.admin.ConfigCommand",
        };
        for id in 0..3 {
            let out = std::process::Command::new(repo_root().join("scripts/kafka-class.sh"))
                .args([
                    class,
                    "--bootstrap-server",
                    cluster().split(',').next().unwrap(),
                    "--entity-type",
                    "brokers",
                    "--entity-name",
                    &id.to_string(),
                    "--alter",
                    op,
                    value,
                ])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    fn bytes_per_second(rate: u32) -> Throttle {
        Throttle::config(
            "--add-config",
            &format!("leader.replication.throttled.rate={rate},follower.replication.throttled.rate={rate}"),
        );
        Throttle
    }
}

impl Drop for Throttle {
    fn drop(&mut self) {
        Throttle::config(
            "--delete-config",
            "leader.replication.throttled.rate,follower.replication.throttled.rate",
        );
    }
}

#[test]
fn ctrl_c_stops_waiting_and_kafka_carries_on() {
    use std::io::BufRead;
    require_cluster();
    let _kills = killing_brokers();
    let throttle = Throttle::bytes_per_second(1_000);
    let topic = unique_topic("slowmove");
    kd_ok(&[
        "topic",
        "create",
        &topic,
        "--config",
        "leader.replication.throttled.replicas=*",
        "--config",
        "follower.replication.throttled.replicas=*",
    ]);
    // 2 × 2 MB at 1 kB/s: a move that takes minutes (a follower's first
    // fetch is not throttled, and may take a whole produce batch).
    let lines: String = (0..10_000).map(|n| format!("{n:0>200}\n")).collect();
    for _ in 0..2 {
        let mut producer = kd(&["produce", "--topic", &topic])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut producer.stdin.take().unwrap(), lines.as_bytes()).unwrap();
        assert!(producer.wait().unwrap().success());
    }
    let now = partitions(&topic)[0].1.clone();
    let target = [(now[0] + 1) % 3];

    let mut child = kd(&[
        "topic",
        "reassign",
        &topic,
        "--replicas",
        &target[0].to_string(),
        "--wait",
        "10m",
    ])
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let out = std::io::BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let progress = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("no progress line within 30 s");
        if line.starts_with("in progress: ") {
            break line;
        }
    };
    assert_eq!(
        progress,
        format!(
            "in progress: partition 0 adding {} removing {}",
            target[0], now[0]
        )
    );
    sigint(&child);
    let signalled = std::time::Instant::now();
    let r = wait_bounded(child, Duration::from_secs(5));
    assert!(
        signalled.elapsed() < Duration::from_secs(1),
        "took {:?} to stop",
        signalled.elapsed()
    );
    assert_eq!(r.code, 130, "{r:?}");
    assert!(
        r.stderr.contains(&format!(
            "stopped waiting; the reassignment of topic {topic} continues on the brokers"
        )),
        "{r:?}"
    );
    // The move goes on without kafkademo: with the throttle lifted, Kafka
    // finishes it.
    drop(throttle);
    wait_for(Duration::from_secs(120), "the move finished", || {
        partitions(&topic)
            .into_iter()
            .next()
            .filter(|p| p.1 == target)
    });
    let _ = kd(&["topic", "delete", &topic]).output();
}
