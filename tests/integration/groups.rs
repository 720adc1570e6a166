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
pub struct JavaConsumer {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<String>>,
}

impl JavaConsumer {
    pub fn new(mut child: Child) -> JavaConsumer {
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
    pub fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!(
                "Kafka's console consumer exited ({status}):\n{}",
                self.stderr.lock().unwrap()
            );
        }
    }

    pub fn stop(&mut self) {
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

/// Lines to one partition, through `produce --partition`.
fn produce_to(topic: &str, partition: i32, from: usize, to: usize) {
    let text: String = (from..to).map(|i| format!("v{i}\n")).collect();
    let p = run_with_input(
        &[
            "produce",
            "--topic",
            topic,
            "--partition",
            &partition.to_string(),
        ],
        &text,
    );
    assert_eq!(p.code, 0, "{p:?}");
}

/// Reads the whole topic as `group` (which commits where it stopped) and
/// leaves: a group with committed offsets and no members.
fn commit_all(topic: &str, group: &str) -> usize {
    let r = ok(&[
        "consume",
        "--topic",
        topic,
        "--group",
        group,
        "--from-beginning",
        "--exit-at-end",
    ]);
    r.stdout.lines().count()
}

/// (partition, committed offset) per row of `group describe`.
fn committed(group: &str) -> Vec<(i64, String)> {
    let d = ok(&["group", "describe", group]);
    d.stdout
        .lines()
        .skip(2)
        .map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            (cols[1].parse().unwrap(), cols[2].to_string())
        })
        .collect()
}

/// The plan `reset-offsets` prints: the table as kafka-consumer-groups lays
/// it out (columns two spaces apart), notes, then the last line.
fn plan_text(topic: &str, rows: &[(i32, &str, i64)], notes: &[&str], last: &str) -> String {
    let w = topic.len().max("TOPIC".len());
    let mut s = format!("{:<w$}  PARTITION  CURRENT-OFFSET  NEW-OFFSET\n", "TOPIC");
    for (p, current, new) in rows {
        s.push_str(&format!("{topic:<w$}  {p:<9}  {current:<14}  {new}\n"));
    }
    for n in notes {
        s.push_str(n);
        s.push('\n');
    }
    s.push_str(last);
    s.push('\n');
    s
}

const DRY: &str = "Dry run: nothing changed. Add --execute to apply.";

fn reset(group: &str, topic: &str, how: &[&str]) -> Run {
    let mut args = vec!["group", "reset-offsets", group, "--topic", topic];
    args.extend_from_slice(how);
    ok(&args)
}

/// DeleteRecords v1 on the (single) broker: moves a partition's log start,
/// so that an earliest offset above 0 can be tested.
fn delete_records(topic: &str, partition: i32, before: i64) {
    use bytes::{Buf, BytesMut};
    use kafka_protocol::messages::delete_records_request::{
        DeleteRecordsPartition, DeleteRecordsTopic,
    };
    use kafka_protocol::messages::{
        ApiKey, DeleteRecordsRequest, DeleteRecordsResponse, RequestHeader, ResponseHeader,
        TopicName,
    };
    use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
    use std::io::{Read, Write};

    let first = brokers().split(',').next().unwrap().to_string();
    let mut conn = std::net::TcpStream::connect(&first).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let version = 1;
    let mut frame = BytesMut::from(&[0u8; 4][..]);
    RequestHeader::default()
        .with_request_api_key(ApiKey::DeleteRecords as i16)
        .with_request_api_version(version)
        .with_correlation_id(1)
        .encode(
            &mut frame,
            ApiKey::DeleteRecords.request_header_version(version),
        )
        .unwrap();
    DeleteRecordsRequest::default()
        .with_topics(vec![DeleteRecordsTopic::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partitions(vec![DeleteRecordsPartition::default()
                .with_partition_index(partition)
                .with_offset(before)])])
        .with_timeout_ms(20_000)
        .encode(&mut frame, version)
        .unwrap();
    let size = (frame.len() - 4) as u32;
    frame[..4].copy_from_slice(&size.to_be_bytes());
    conn.write_all(&frame).unwrap();
    let mut len = [0u8; 4];
    conn.read_exact(&mut len).unwrap();
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    conn.read_exact(&mut body).unwrap();
    let mut buf = bytes::Bytes::from(body);
    ResponseHeader::decode(
        &mut buf,
        ApiKey::DeleteRecords.response_header_version(version),
    )
    .unwrap();
    let response = DeleteRecordsResponse::decode(&mut buf, version).unwrap();
    let p = &response.topics[0].partitions[0];
    assert_eq!(p.error_code, 0, "DeleteRecords failed");
    assert_eq!(p.low_watermark, before);
    assert!(!buf.has_remaining());
}

#[test]
fn reset_offsets_plans_clamps_and_executes_exactly() {
    let t = Topic::new("plan", 2);
    let group = unique_topic("g");
    produce_to(&t.name, 0, 0, 30);
    produce_to(&t.name, 1, 30, 40);
    assert_eq!(commit_all(&t.name, &group), 40);
    let now = [(0, "30".to_string()), (1, "10".to_string())];
    assert_eq!(committed(&group), now);

    // inside [earliest, latest]: taken as is
    let r = reset(&group, &t.name, &["--to-offset", "5"]);
    assert_eq!(
        r.stdout,
        plan_text(&t.name, &[(0, "30", 5), (1, "10", 5)], &[], DRY)
    );
    assert_eq!(committed(&group), now, "a dry run changes nothing");

    // above latest on partition 1: clamped to its end, with a note
    let r = reset(&group, &t.name, &["--to-offset", "20"]);
    assert_eq!(
        r.stdout,
        plan_text(
            &t.name,
            &[(0, "30", 20), (1, "10", 10)],
            &["note: partition 1: offset 20 is past the latest offset 10; using 10"],
            DRY
        )
    );

    // below earliest: records before offset 8 of partition 0 deleted
    delete_records(&t.name, 0, 8);
    let r = reset(&group, &t.name, &["--to-offset", "3"]);
    assert_eq!(
        r.stdout,
        plan_text(
            &t.name,
            &[(0, "30", 8), (1, "10", 3)],
            &["note: partition 0: offset 3 is before the earliest offset 8; using 8"],
            DRY
        )
    );

    let r = reset(&group, &t.name, &["--to-earliest"]);
    assert_eq!(
        r.stdout,
        plan_text(&t.name, &[(0, "30", 8), (1, "10", 0)], &[], DRY)
    );
    assert_eq!(committed(&group), now, "dry runs change nothing");

    // applied
    let done = format!("Offsets of group {group} reset.");
    let r = reset(&group, &t.name, &["--to-offset", "20", "--execute"]);
    assert_eq!(
        r.stdout,
        plan_text(
            &t.name,
            &[(0, "30", 20), (1, "10", 10)],
            &["note: partition 1: offset 20 is past the latest offset 10; using 10"],
            &done
        )
    );
    assert_eq!(
        committed(&group),
        [(0, "20".to_string()), (1, "10".to_string())]
    );
    reset(&group, &t.name, &["--to-earliest", "--execute"]);
    assert_eq!(
        committed(&group),
        [(0, "8".to_string()), (1, "0".to_string())]
    );
    let r = reset(&group, &t.name, &["--to-latest", "--execute"]);
    assert_eq!(
        r.stdout,
        plan_text(&t.name, &[(0, "8", 30), (1, "0", 10)], &[], &done)
    );
    assert_eq!(committed(&group), now);
}

#[test]
fn reset_offsets_to_a_datetime_resumes_at_the_first_record_after_it() {
    require_broker();
    let name = unique_topic("time");
    ok(&[
        "topic",
        "create",
        &name,
        "--partitions",
        "2",
        "--config",
        "message.timestamp.type=LogAppendTime",
    ]);
    let t = Topic { name };
    produce_to(&t.name, 0, 0, 10);
    produce_to(&t.name, 1, 10, 15);

    // Every record so far was stamped before `at`; wait until the clock is
    // past it, so that every record from now on is stamped at or after it.
    let millis = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    };
    let at = millis() + 1;
    wait_for(
        Duration::from_secs(5),
        "the clock to pass the reset time",
        || (millis() > at).then_some(()),
    );
    produce_to(&t.name, 0, 100, 107);
    let when = jiff::Timestamp::from_millisecond(at).unwrap().to_string();
    let group = unique_topic("g");
    assert_eq!(commit_all(&t.name, &group), 22);

    let r = reset(&group, &t.name, &["--to-datetime", &when, "--execute"]);
    // partition 1 has no record after the time: its log end
    assert_eq!(
        r.stdout,
        plan_text(
            &t.name,
            &[(0, "17", 10), (1, "5", 5)],
            &[],
            &format!("Offsets of group {group} reset.")
        )
    );
    assert_eq!(
        committed(&group),
        [(0, "10".to_string()), (1, "5".to_string())]
    );
    // a time before every record: the earliest offsets
    let r = reset(&group, &t.name, &["--to-datetime", "2000-01-01T00:00:00Z"]);
    assert_eq!(
        r.stdout,
        plan_text(&t.name, &[(0, "10", 0), (1, "5", 0)], &[], DRY)
    );
    // the group resumes with exactly the records after the time
    let r = ok(&[
        "consume",
        "--topic",
        &t.name,
        "--group",
        &group,
        "--exit-at-end",
    ]);
    let expected: String = (100..107).map(|i| format!("v{i}\n")).collect();
    assert_eq!(r.stdout, expected);
}
