//! Replication against a real 3-broker cluster (`make cluster-up`): the
//! partition leader is SIGKILLed again and again during continuous acks=all
//! production, and every acknowledged record must still be in the topic.
//! `make test` runs these in a phase of their own, with the cluster up.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::fixture::*;

mod page;

/// Held by a test while it kills brokers: the cluster phase runs its tests
/// in parallel, and two tests each killing one broker would leave the
/// cluster below min.insync.replicas.
static BROKER_KILLS: Mutex<()> = Mutex::new(());

fn killing_brokers() -> std::sync::MutexGuard<'static, ()> {
    BROKER_KILLS.lock().unwrap_or_else(|e| e.into_inner())
}

/// The cluster's brokers: KAFKA_CLUSTER_BROKERS, default 127.0.0.1:9092-9094.
fn cluster() -> String {
    std::env::var("KAFKA_CLUSTER_BROKERS")
        .unwrap_or_else(|_| "127.0.0.1:9092,127.0.0.1:9093,127.0.0.1:9094".into())
}

fn kd(args: &[&str]) -> Command {
    let mut cmd = kafkademo(args);
    cmd.env("KAFKA_BROKERS", cluster());
    cmd
}

fn kd_ok(args: &[&str]) -> String {
    let out = kd(args).output().unwrap();
    assert!(
        out.status.success(),
        "kafkademo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// (leader, isr) of partition 0, from `topic describe`.
fn partition0(topic: &str) -> Option<(i32, Vec<i32>)> {
    let out = kd(&["topic", "describe", topic]).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.contains("\tPartition: 0\t"))?;
    let field = |name: &str| {
        line.split('\t')
            .find_map(|f| f.strip_prefix(name))
            .map(str::to_string)
    };
    let leader = field("Leader: ")?.parse().ok()?;
    let isr = field("Isr: ")?
        .split(',')
        .filter_map(|s| s.parse().ok())
        .collect();
    Some((leader, isr))
}

fn script(name: &str, id: i32) {
    let out = Command::new(repo_root().join("scripts").join(name))
        .arg(id.to_string())
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "scripts/{name} {id} failed:\n{said}");
    // A kill that found nothing to kill exits 0 too ("not running"): the
    // tests kill a broker they saw lead, so that is a failure here.
    if name == "broker-kill.sh" {
        assert!(
            said.contains(&format!("Killed broker {id} ")),
            "scripts/{name} {id} killed nothing:\n{said}"
        );
    }
}

#[test]
fn acknowledged_records_survive_leader_kills() {
    let kills: usize = std::env::var("FAILOVER_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let _kills = killing_brokers();
    let topic = unique_topic("failover");
    let brokers = cluster();
    let first = brokers.split(',').next().unwrap().to_string();
    assert!(
        std::net::TcpStream::connect_timeout(&first.parse().unwrap(), Duration::from_secs(5))
            .is_ok(),
        "no cluster at {brokers}: start it with `make cluster-up` (tests never skip)"
    );
    kd_ok(&[
        "topic",
        "create",
        &topic,
        "--replication-factor",
        "3",
        "--config",
        "min.insync.replicas=2",
    ]);
    let (_, isr) = wait_for(Duration::from_secs(30), "3 replicas in sync", || {
        partition0(&topic).filter(|(_, isr)| isr.len() == 3)
    });
    assert_eq!(isr.len(), 3);

    let mut producer = kd(&[
        "produce",
        "even",
        "--topic",
        &topic,
        "--origin",
        "N",
        "--interval",
        "20ms",
        "--acks",
        "all",
        "--retry-for",
        "60s",
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let acked = Arc::new(Mutex::new(Vec::<i64>::new()));
    let sink = acked.clone();
    let out = BufReader::new(producer.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            // "sent N 42 (partition 0, offset 17)"
            if let Some(n) = line.split_whitespace().nth(2).and_then(|n| n.parse().ok()) {
                sink.lock().unwrap().push(n);
            }
        }
    });

    for round in 1..=kills {
        let before = acked.lock().unwrap().len();
        wait_for(Duration::from_secs(60), "records flowing", || {
            (acked.lock().unwrap().len() > before + 50).then_some(())
        });
        let (leader, _) = partition0(&topic).expect("describe");
        script("broker-kill.sh", leader);
        let killed = Instant::now();
        let (new_leader, _) = wait_for(Duration::from_secs(60), "a new leader", || {
            partition0(&topic).filter(|(l, _)| *l >= 0 && *l != leader)
        });
        eprintln!(
            "round {round}: killed leader {leader}; broker {new_leader} leads after {:?}",
            killed.elapsed()
        );
        let after_kill = acked.lock().unwrap().len();
        wait_for(
            Duration::from_secs(60),
            "records flowing on the new leader",
            || (acked.lock().unwrap().len() > after_kill + 20).then_some(()),
        );
        script("broker-start.sh", leader);
        wait_for(
            Duration::from_secs(120),
            "the restarted broker back in the ISR",
            || partition0(&topic).filter(|(_, isr)| isr.len() == 3),
        );
        eprintln!(
            "round {round}: broker {leader} back in the ISR after {:?}",
            killed.elapsed()
        );
    }

    let signalled = Command::new("kill")
        .args(["-INT", &producer.id().to_string()])
        .status()
        .unwrap();
    assert!(signalled.success(), "kill -INT of the producer failed");
    let status = producer.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(producer.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert_eq!(
        status.code(),
        Some(130),
        "the producer must ride out every kill:\n{err}"
    );

    let acked = acked.lock().unwrap().clone();
    let consumed = kd_ok(&[
        "consume",
        "--topic",
        &topic,
        "--from-beginning",
        "--exit-at-end",
    ]);
    let mut counts: BTreeMap<i64, usize> = BTreeMap::new();
    for line in consumed.lines() {
        let n: i64 = line
            .strip_prefix("N ")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("odd line {line:?}"));
        *counts.entry(n).or_default() += 1;
    }
    let lost: Vec<i64> = acked
        .iter()
        .copied()
        .filter(|n| !counts.contains_key(n))
        .collect();
    let duplicates: usize = counts.values().map(|c| c - 1).sum();
    eprintln!(
        "{kills} leader kills: {} acknowledged, {} consumed, {} lost, {duplicates} duplicates",
        acked.len(),
        consumed.lines().count(),
        lost.len()
    );
    assert!(acked.len() > 100, "too few records to mean anything");
    assert!(lost.is_empty(), "acknowledged records lost: {lost:?}");
    // In order per producer, duplicates aside: the numbers first seen rise.
    let firsts: Vec<i64> = consumed
        .lines()
        .filter_map(|l| l.strip_prefix("N ").and_then(|n| n.parse().ok()))
        .fold(Vec::new(), |mut v: Vec<i64>, n| {
            if !v.contains(&n) {
                v.push(n);
            }
            v
        });
    assert!(
        firsts.windows(2).all(|w| w[0] < w[1]),
        "records out of order"
    );
    let _ = kd(&["topic", "delete", &topic]).output();
}

/// `topic reassign` and `cluster elect-leaders` on the three brokers.
mod manage;
