//! Real consumer groups against the real broker: members share partitions,
//! rebalance on join, leave and crash, and `group describe` shows their lag.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::fixture::*;

/// A `consume --group` process whose JSON lines are collected as they come.
struct GroupMember(Running);

impl GroupMember {
    fn start(topic: &str, group: &str) -> GroupMember {
        GroupMember(Running::start(&[
            "consume",
            "--topic",
            topic,
            "--group",
            group,
            "--from-beginning",
            "--format",
            "json",
        ]))
    }

    fn seen(&self) -> Vec<serde_json::Value> {
        self.0
            .lines()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
            .collect()
    }

    fn signal(&self, sig: &str) {
        self.0.signal(sig);
    }

    /// The exit code, and that nothing went to stderr.
    fn wait(self) -> i32 {
        let r = self.0.finish(Duration::from_secs(20));
        assert_eq!(r.stderr, "", "{r:?}");
        r.code
    }
}

/// Partitions per consumer id, from `kafkademo group describe`.
fn assignment(group: &str) -> BTreeMap<String, BTreeSet<i64>> {
    let mut m: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
    for row in describe_group(group).unwrap_or_default() {
        if let Some(id) = row.consumer {
            m.entry(id).or_default().insert(row.partition.into());
        }
    }
    m
}

/// The assignment once `members` own all `partitions` between them, each
/// at least one, none twice.
fn spread(group: &str, members: usize, partitions: i64) -> Option<BTreeMap<String, BTreeSet<i64>>> {
    let a = assignment(group);
    let all: Vec<i64> = a.values().flatten().copied().collect();
    let distinct: BTreeSet<i64> = all.iter().copied().collect();
    let fair = a.values().all(|ps| !ps.is_empty());
    (a.len() == members
        && fair
        && all.len() == distinct.len()
        && distinct == (0..partitions).collect())
    .then_some(a)
}

fn wait_for_spread(
    group: &str,
    members: usize,
    partitions: i64,
    bound: Duration,
) -> BTreeMap<String, BTreeSet<i64>> {
    wait_for(
        bound,
        &format!("{members} members owning {partitions} partitions"),
        || spread(group, members, partitions),
    )
}

fn produce_lines(topic: &str, from: usize, to: usize) -> BTreeSet<String> {
    let text: String = (from..to).map(|i| format!("k{i},v{i}\n")).collect();
    let p = run_with_input(
        &["produce", "--topic", topic, "--key-separator", ","],
        &text,
    );
    assert_eq!(p.code, 0, "{p:?}");
    (from..to).map(|i| format!("v{i}")).collect()
}

fn values(members: &[&GroupMember]) -> BTreeSet<String> {
    members
        .iter()
        .flat_map(|m| m.seen())
        .map(|v| v["value"].as_str().unwrap().to_string())
        .collect()
}

fn positions(m: &GroupMember) -> BTreeSet<(i64, i64)> {
    m.seen()
        .iter()
        .map(|v| {
            (
                v["partition"].as_i64().unwrap(),
                v["offset"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn members_share_partitions_and_rebalance_on_join_and_crash() {
    let t = Topic::new("grp", 4);
    let group = unique_topic("g");
    let m1 = GroupMember::start(&t.name, &group);
    let m2 = GroupMember::start(&t.name, &group);
    let a = wait_for_spread(&group, 2, 4, Duration::from_secs(30));
    assert!(
        a.values().all(|ps| ps.len() == 2),
        "two members, two partitions each: {a:?}"
    );

    let mut produced = produce_lines(&t.name, 0, 400);
    wait_for(Duration::from_secs(30), "400 records", || {
        (values(&[&m1, &m2]).len() == 400).then_some(())
    });
    let (p1, p2) = (positions(&m1), positions(&m2));
    assert!(
        p1.is_disjoint(&p2),
        "a record went to both members while membership was stable"
    );
    assert_eq!(p1.len() + p2.len(), 400);

    let m3 = GroupMember::start(&t.name, &group);
    let a = wait_for_spread(&group, 3, 4, Duration::from_secs(30));
    let mut sizes: Vec<usize> = a.values().map(BTreeSet::len).collect();
    sizes.sort();
    assert_eq!(sizes, vec![1, 1, 2], "{a:?}");
    produced.extend(produce_lines(&t.name, 400, 800));
    wait_for(Duration::from_secs(30), "800 records", || {
        (values(&[&m1, &m2, &m3]).len() == 800).then_some(())
    });

    // A crash: no LeaveGroup; the others own all four within the session timeout (10s).
    m3.signal("KILL");
    let crashed = Instant::now();
    let a = wait_for_spread(&group, 2, 4, Duration::from_secs(25));
    assert!(a.values().all(|ps| ps.len() == 2), "{a:?}");
    eprintln!(
        "after SIGKILL the two left owned all partitions in {:?}",
        crashed.elapsed()
    );
    produced.extend(produce_lines(&t.name, 800, 1200));
    wait_for(Duration::from_secs(30), "1200 records", || {
        (values(&[&m1, &m2, &m3]).len() == 1200).then_some(())
    });
    assert_eq!(
        values(&[&m1, &m2, &m3]),
        produced,
        "the union of what members consumed is what was produced"
    );

    // Ctrl-C: commit, LeaveGroup, exit 130; the last member takes over at once.
    m2.signal("INT");
    assert_eq!(m2.wait(), 130);
    let a = wait_for_spread(&group, 1, 4, Duration::from_secs(15));
    assert_eq!(a.values().next().unwrap().len(), 4);
    m1.signal("INT");
    assert_eq!(m1.wait(), 130);
}

#[test]
fn describe_shows_lag_as_produced_minus_consumed() {
    let t = Topic::new("lag", 2);
    let group = unique_topic("g");
    produce_lines(&t.name, 0, 100);
    let r = ok(&[
        "consume",
        "--topic",
        &t.name,
        "--group",
        &group,
        "--from-beginning",
        "--exit-at-end",
    ]);
    assert_eq!(r.stdout.lines().count(), 100);
    produce_lines(&t.name, 100, 140);
    let d = ok(&["group", "describe", &group]);
    let first = d.stdout.lines().next().unwrap();
    assert!(
        first.starts_with(&format!("Group {group}: state Empty, 0 members")),
        "{d:?}"
    );
    let rows: Vec<Vec<&str>> = d
        .stdout
        .lines()
        .skip(2)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 2, "{d:?}");
    let sum = |col: usize| {
        rows.iter()
            .map(|r| r[col].parse::<i64>().unwrap())
            .sum::<i64>()
    };
    assert_eq!(
        (sum(2), sum(3), sum(4)),
        (100, 140, 40),
        "current, log-end, lag:\n{d:?}"
    );
    let listed = ok(&["group", "list"]);
    assert!(
        listed
            .stdout
            .lines()
            .any(|l| l == format!("{group}\tEmpty")),
        "{listed:?}"
    );

    // A single partition read part way: lag is what is left.
    let one = Topic::new("lag1", 1);
    let group = unique_topic("g");
    produce_lines(&one.name, 0, 100);
    ok(&[
        "consume",
        "--topic",
        &one.name,
        "--group",
        &group,
        "--from-beginning",
        "--count",
        "30",
    ]);
    let d = ok(&["group", "describe", &group]);
    let row: Vec<&str> = d
        .stdout
        .lines()
        .nth(2)
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(&row[2..5], &["30", "100", "70"], "{d:?}");
}

#[test]
fn reset_offsets_plans_refuses_while_active_and_executes() {
    let t = Topic::new("reset", 2);
    let group = unique_topic("g");
    produce_lines(&t.name, 0, 50);
    let r = ok(&[
        "consume",
        "--topic",
        &t.name,
        "--group",
        &group,
        "--from-beginning",
        "--exit-at-end",
    ]);
    assert_eq!(r.stdout.lines().count(), 50);

    let member = GroupMember::start(&t.name, &group);
    wait_for_spread(&group, 1, 2, Duration::from_secs(30));
    fails(
        &[
            "group",
            "reset-offsets",
            &group,
            "--topic",
            &t.name,
            "--to-earliest",
            "--execute",
        ],
        1,
        "it has 1 active member",
    );
    member.signal("INT");
    assert_eq!(member.wait(), 130);

    let plan = ok(&[
        "group",
        "reset-offsets",
        &group,
        "--topic",
        &t.name,
        "--to-earliest",
    ]);
    assert!(
        plan.stdout
            .ends_with("Dry run: nothing changed. Add --execute to apply.\n"),
        "{plan:?}"
    );
    let again = ok(&[
        "consume",
        "--topic",
        &t.name,
        "--group",
        &group,
        "--exit-at-end",
    ]);
    assert_eq!(again.stdout, "", "a dry run must not move offsets");

    ok(&[
        "group",
        "reset-offsets",
        &group,
        "--topic",
        &t.name,
        "--to-earliest",
        "--execute",
    ]);
    let all = ok(&[
        "consume",
        "--topic",
        &t.name,
        "--group",
        &group,
        "--exit-at-end",
    ]);
    assert_eq!(
        all.stdout.lines().count(),
        50,
        "after --to-earliest everything is read again"
    );
    let r = run(&["group", "reset-offsets", &group, "--topic", &t.name]);
    assert_eq!(
        r.code, 2,
        "one of --to-earliest/--to-latest/--to-offset is required:\n{r:?}"
    );
}

#[test]
fn a_java_console_consumer_shares_the_group() {
    let t = Topic::new("mixed", 4);
    let group = unique_topic("g");
    let ours = GroupMember::start(&t.name, &group);
    let java = Command::new(repo_root().join("scripts/kafka-class.sh"))
        .args([
            "org.apache.kafka.tools.consumer.ConsoleConsumer",
            "--bootstrap-server",
            &brokers(),
            "--topic",
            &t.name,
            "--group",
            &group,
            "--from-beginning",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run Kafka's console consumer");
    let mut java = JavaConsumer::new(java);
    let a = wait_for(
        Duration::from_secs(60),
        "kafkademo and Kafka's console consumer owning 4 partitions",
        || {
            java.assert_running();
            spread(&group, 2, 4)
        },
    );
    assert!(a.values().all(|ps| ps.len() == 2), "{a:?}");
    let produced = produce_lines(&t.name, 0, 200);
    let count = |java: &mut JavaConsumer| ours.seen().len() + java.lines().len();
    wait_for(
        Duration::from_secs(30),
        "200 records between the two",
        || {
            java.assert_running();
            (count(&mut java) >= 200).then_some(())
        },
    );
    let ours = values(&[&ours]);
    let theirs: BTreeSet<String> = java.lines().into_iter().collect();
    assert_eq!(ours.len() + theirs.len(), 200, "a record was read twice");
    assert!(
        ours.is_disjoint(&theirs),
        "both members read the same record"
    );
    assert!(
        !ours.is_empty() && !theirs.is_empty(),
        "both members consumed"
    );
    let all: BTreeSet<String> = ours.union(&theirs).cloned().collect();
    assert_eq!(all, produced);
    java.stop();
}

/// Kafka's console consumer: its stdout lines as they come, its stderr
/// kept for when it dies.
struct JavaConsumer {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<String>>,
}

impl JavaConsumer {
    fn new(mut child: Child) -> JavaConsumer {
        let out = BufReader::new(child.stdout.take().unwrap());
        let mut err = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = err.read(&mut buf) {
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        JavaConsumer {
            child,
            lines,
            stderr,
        }
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Fails the test, with what it said, when it has exited.
    fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!(
                "Kafka's console consumer exited ({status}):\n{}",
                self.stderr.lock().unwrap()
            );
        }
    }

    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for JavaConsumer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
