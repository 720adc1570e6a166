//! The tutorial exercise and the console producer/consumer, end to end
//! against the real broker.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::time::Duration;

use crate::fixture::*;

/// Parses `ORIGIN NUMBER` lines into numbers per origin, in arrival order.
fn by_origin(text: &str) -> BTreeMap<String, Vec<i64>> {
    let mut m: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for line in text.lines() {
        let (origin, n) = line
            .split_once(' ')
            .unwrap_or_else(|| panic!("not a parity line: {line:?}"));
        m.entry(origin.to_string())
            .or_default()
            .push(n.parse().unwrap());
    }
    m
}

#[test]
fn producers_a_and_b_with_consumer_c() {
    let t = Topic::new("abc", 2);
    // C first, from the beginning, so it sees every record live and stops after all 60.
    let c = kafkademo(&[
        "consume",
        "--topic",
        &t.name,
        "--from-beginning",
        "--count",
        "60",
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let a = kafkademo(&[
        "produce",
        "even",
        "--topic",
        &t.name,
        "--interval",
        "50ms",
        "--count",
        "40",
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let b = kafkademo(&[
        "produce",
        "--parity",
        "odd",
        "--topic",
        &t.name,
        "--interval",
        "100ms",
        "--count",
        "20",
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let a = wait_bounded(a, Duration::from_secs(60));
    let b = wait_bounded(b, Duration::from_secs(60));
    assert_eq!((a.code, b.code), (0, 0), "A:\n{a:?}\nB:\n{b:?}");
    assert_eq!(a.stdout.lines().count(), 40, "{a:?}");
    assert!(a.stdout.starts_with("sent A 0 (partition "), "{a:?}");
    assert!(b.stdout.starts_with("sent B 1 (partition "), "{b:?}");
    let c = wait_bounded(c, Duration::from_secs(60));
    assert_eq!(c.code, 0, "{c:?}");
    let seen = by_origin(&c.stdout);
    let evens: Vec<i64> = (0..40).map(|i| 2 * i).collect();
    let odds: Vec<i64> = (0..20).map(|i| 2 * i + 1).collect();
    assert_eq!(
        seen.get("A"),
        Some(&evens),
        "A's numbers, in order, no gaps or duplicates"
    );
    assert_eq!(
        seen.get("B"),
        Some(&odds),
        "B's numbers, in order, no gaps or duplicates"
    );
    assert_eq!(seen.len(), 2);
}

#[test]
fn ten_thousand_stdin_lines_round_trip_exactly() {
    let t = Topic::new("stdin", 1);
    let lines: Vec<String> = (0..10_000)
        .map(|i| format!("line {i:05} ünïcødé ✓ {}", "x".repeat(i % 50)))
        .collect();
    let input = lines.join("\n") + "\n";
    let p = run_with_input(&["produce", "--topic", &t.name], &input);
    assert_eq!(p.code, 0, "{p:?}");
    assert_eq!(p.stderr, "");
    let c = ok(&[
        "consume",
        "--topic",
        &t.name,
        "--from-beginning",
        "--exit-at-end",
    ]);
    let got: Vec<&str> = c.stdout.lines().collect();
    assert_eq!(got.len(), lines.len());
    assert!(got.iter().zip(&lines).all(|(a, b)| a == b), "lines differ");
}

/// The console producer spreads stdin lines over a sender per partition
/// (up to 4, each with its own connections): every line arrives once, each
/// partition holds its lines in stdin order, keys land by murmur2 and lines
/// without a key go round-robin, one partition after the other.
#[test]
fn stdin_lines_keep_their_order_in_each_partition_across_senders() {
    let t = Topic::new("senders", 6);
    let mut input = String::new();
    for i in 0..30_000 {
        if i % 2 == 0 {
            input.push_str(&format!("k{}:{i}\n", i % 11));
        } else {
            input.push_str(&format!("{i}\n"));
        }
    }
    let p = run_with_input(
        &["produce", "--topic", &t.name, "--key-separator", ":"],
        &input,
    );
    assert_eq!(p.code, 0, "{p:?}");
    assert_eq!(p.stderr, "");
    let c = ok(&read_back(&t.name));
    let mut last: HashMap<i64, i64> = HashMap::new();
    let mut keyless: HashMap<i64, usize> = HashMap::new();
    let mut seen = BTreeSet::new();
    for line in c.stdout.lines() {
        let o: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let partition = o["partition"].as_i64().unwrap();
        let n: i64 = o["value"].as_str().unwrap().parse().unwrap();
        if let Some(before) = last.insert(partition, n) {
            assert!(
                before < n,
                "partition {partition}: line {n} after line {before}"
            );
        }
        if o["key"].is_null() {
            *keyless.entry(partition).or_default() += 1;
        }
        assert!(seen.insert(n), "line {n} twice");
    }
    assert_eq!(seen.len(), 30_000, "lines missing");
    assert_eq!(
        keyless.values().copied().collect::<Vec<_>>(),
        vec![2500; 6],
        "15,000 lines without a key, round-robin over 6 partitions: {keyless:?}"
    );
}

#[test]
fn keyed_lines_and_json_output() {
    let t = Topic::new("json", 3);
    let mut p = kafkademo(&["produce", "--topic", &t.name, "--key-separator", ":"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    p.stdin
        .take()
        .unwrap()
        .write_all(b"A:2\nuser-1:hello: world\n\nno separator\nB:3\n")
        .unwrap();
    let p = wait_bounded(p, Duration::from_secs(30));
    assert_eq!(p.code, 0, "{p:?}");
    let c = ok(&read_back(&t.name));
    let objs: Vec<serde_json::Value> = c
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(objs.len(), 4, "the empty line is skipped:\n{c:?}");
    let find = |v: &str| {
        objs.iter()
            .find(|o| o["value"] == v)
            .unwrap_or_else(|| panic!("no {v}: {c:?}"))
    };
    let a = find("2");
    assert_eq!(
        (
            a["key"].as_str(),
            a["origin"].as_str(),
            a["number"].as_i64()
        ),
        (Some("A"), Some("A"), Some(2))
    );
    let h = find("hello: world");
    assert_eq!(h["key"], "user-1");
    assert!(h.get("origin").is_none());
    assert_eq!(find("no separator")["key"], serde_json::Value::Null);
    for o in &objs {
        assert_eq!(o["topic"], t.name.as_str());
        assert!(o["partition"].as_i64().unwrap() < 3 && o["offset"].as_i64().unwrap() >= 0);
    }
    // text shows parity records as origin and number, others as key<TAB>value
    let text = ok(&[
        "consume",
        "--topic",
        &t.name,
        "--from-beginning",
        "--exit-at-end",
    ]);
    let lines: BTreeSet<&str> = text.stdout.lines().collect();
    assert_eq!(
        lines,
        BTreeSet::from(["A 2", "B 3", "user-1\thello: world", "no separator"])
    );
}

/// `consume --format json` lines as (partition, offset, value).
fn records(json_lines: &str) -> Vec<(i64, i64, String)> {
    json_lines
        .lines()
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}"));
            (
                v["partition"].as_i64().unwrap(),
                v["offset"].as_i64().unwrap(),
                v["value"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The group's committed offset per partition of `topic`; fails the test
/// when a partition has none.
fn committed(group: &str, topic: &str) -> BTreeMap<i64, i64> {
    let rows = describe_group(group).unwrap_or_else(|| panic!("group {group} cannot be described"));
    rows.iter()
        .filter(|r| r.topic == topic)
        .map(|r| {
            let c = r.committed.unwrap_or_else(|| {
                panic!("nothing committed on partition {}: {rows:?}", r.partition)
            });
            (r.partition as i64, c)
        })
        .collect()
}

#[test]
fn a_killed_group_consumer_resumes_from_its_last_commit() {
    let t = Topic::new("group", 3);
    let group = unique_topic("g");
    let produce = |from: usize, to: usize| {
        let text: String = (from..to).map(|i| format!("k{},v{i}\n", i % 17)).collect();
        let p = run_with_input(
            &["produce", "--topic", &t.name, "--key-separator", ","],
            &text,
        );
        assert_eq!(p.code, 0, "{p:?}");
    };
    produce(0, 1000);

    // The first member prints all 1000, commits them (every second), and is
    // SIGKILLed once the commit shows in `group describe`: it gets no chance
    // to commit at exit, so what the group resumes from is the periodic commit.
    let first = Running::start(&[
        "consume",
        "--topic",
        &t.name,
        "--group",
        &group,
        "--from-beginning",
        "--format",
        "json",
    ]);
    first.wait_lines(1000, Duration::from_secs(60));
    let mut last = None;
    let done = poll(Duration::from_secs(30), || {
        let rows = describe_group(&group)?;
        let all_committed = rows.len() == 3
            && rows
                .iter()
                .all(|r| r.committed.is_some() && r.committed == r.log_end);
        last = Some(rows);
        all_committed.then_some(())
    });
    assert!(
        done.is_some(),
        "the member printed 1000 records but did not commit them within 30 s \
         (every second, says the README); group describe shows {last:#?}"
    );
    first.signal("KILL");
    let first = first.finish(Duration::from_secs(10));
    let first = records(&first.stdout);
    assert_eq!(first.len(), 1000, "{first:?}");
    let offsets = committed(&group, &t.name);

    // More records while no member runs; the next member must print exactly
    // those after the committed offsets: no more (--from-beginning applies
    // only where nothing is committed), no fewer.
    produce(1000, 1500);
    let everything = records(&ok(&read_back(&t.name)).stdout);
    assert_eq!(everything.len(), 1500);
    let second = records(
        &ok(&[
            "consume",
            "--topic",
            &t.name,
            "--group",
            &group,
            "--from-beginning",
            "--exit-at-end",
            "--format",
            "json",
        ])
        .stdout,
    );
    let after_commit: BTreeSet<_> = everything
        .iter()
        .filter(|(p, o, _)| o >= &offsets[p])
        .cloned()
        .collect();
    assert_eq!(
        second.len(),
        after_commit.len(),
        "the restart printed {} records; {} lie after the committed offsets {offsets:?}",
        second.len(),
        after_commit.len()
    );
    assert_eq!(
        second.iter().cloned().collect::<BTreeSet<_>>(),
        after_commit,
        "the restart did not resume at the committed offsets {offsets:?}"
    );
    // Everything printed before the kill was committed, so the restart
    // prints exactly the new records, and together they are all 1500.
    let values = |rs: &[(i64, i64, String)]| -> BTreeSet<String> {
        rs.iter().map(|(_, _, v)| v.clone()).collect()
    };
    assert_eq!(
        values(&second),
        (1000..1500).map(|i| format!("v{i}")).collect(),
        "the restart printed other records than those produced after the commit"
    );
    let mut union = values(&first);
    union.extend(values(&second));
    assert_eq!(
        union,
        (0..1500).map(|i| format!("v{i}")).collect(),
        "records lost across the restart"
    );

    // The second member committed at exit: a third finds nothing left.
    let third = ok(&[
        "consume",
        "--topic",
        &t.name,
        "--group",
        &group,
        "--from-beginning",
        "--exit-at-end",
    ]);
    assert_eq!(
        third.stdout.lines().count(),
        0,
        "the second member did not commit at exit: a third printed again what it had"
    );
}

#[test]
fn ctrl_c_stops_producer_and_consumer_with_130_and_the_consumer_commits() {
    let t = Topic::new("sigint", 1);
    let group = unique_topic("g");
    let producer = Running::start(&["produce", "even", "--topic", &t.name, "--interval", "100ms"]);
    let sent = producer.wait_lines(1, Duration::from_secs(30));
    assert!(sent[0].starts_with("sent A 0 "), "{sent:?}");
    let consumer = Running::start(&[
        "consume",
        "--topic",
        &t.name,
        "--group",
        &group,
        "--from-beginning",
    ]);
    consumer.wait_lines(5, Duration::from_secs(30));
    // Ctrl-C while the producer goes on: the consumer commits what it printed.
    consumer.signal("INT");
    let c = consumer.finish(Duration::from_secs(10));
    assert_eq!(c.code, 130, "{c:?}");
    assert_eq!(c.stderr, "", "{c:?}");
    let printed: Vec<&str> = c.stdout.lines().collect();
    // Some records the consumer never saw, then Ctrl-C for the producer.
    producer.wait_lines(sent.len().max(printed.len()) + 5, Duration::from_secs(30));
    producer.signal("INT");
    let p = producer.finish(Duration::from_secs(10));
    assert_eq!(p.code, 130, "{p:?}");
    assert_eq!(p.stderr, "", "{p:?}");
    // "sent A 42 (partition 0, offset 21)" -> "A 42"
    let sent: Vec<String> = p
        .stdout
        .lines()
        .map(|l| {
            let rest = l.strip_prefix("sent ").unwrap_or_else(|| panic!("{l:?}"));
            rest.split(" (").next().unwrap().to_string()
        })
        .collect();

    let all = ok(&[
        "consume",
        "--topic",
        &t.name,
        "--from-beginning",
        "--exit-at-end",
    ]);
    assert_eq!(
        all.stdout.lines().collect::<Vec<_>>(),
        sent,
        "the topic holds exactly what the producer reported sent"
    );
    assert!(
        printed.len() < sent.len(),
        "the consumer stopped before the producer: {c:?}"
    );
    assert_eq!(printed, sent[..printed.len()], "printed in order from 0");
    let after = ok(&[
        "consume",
        "--topic",
        &t.name,
        "--group",
        &group,
        "--from-beginning",
        "--exit-at-end",
    ]);
    assert_eq!(
        after.stdout.lines().collect::<Vec<_>>(),
        sent[printed.len()..],
        "after Ctrl-C the group resumes right after the last record printed \
         ({} printed of {} sent)",
        printed.len(),
        sent.len()
    );
}

#[test]
fn a_closed_pipe_ends_the_consumer_quietly() {
    let t = Topic::new("pipe", 1);
    let text: String = (0..1000).map(|i| format!("{i}\n")).collect();
    assert_eq!(
        run_with_input(&["produce", "--topic", &t.name], &text).code,
        0
    );
    // like `kafkademo consume --from-beginning | head -3`
    let mut c = kafkademo(&["consume", "--topic", &t.name, "--from-beginning"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(c.stdout.take().unwrap());
    for want in ["0", "1", "2"] {
        let mut l = String::new();
        out.read_line(&mut l).unwrap();
        assert_eq!(l.trim_end(), want);
    }
    drop(out);
    // With nothing more arriving the consumer would idle; more records make it write to the closed pipe.
    let more = run_with_input(&["produce", "--topic", &t.name], "more\n");
    assert_eq!(more.code, 0, "{more:?}");
    let r = wait_bounded(c, Duration::from_secs(20));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stderr, "", "{r:?}");
}

#[test]
fn a_closed_pipe_stops_the_parity_producer() {
    let t = Topic::new("pipe-even", 1);
    // like `kafkademo produce even | head -2`
    let mut p = kafkademo(&["produce", "even", "--topic", &t.name, "--interval", "50ms"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(p.stdout.take().unwrap());
    for want in ["sent A 0 ", "sent A 2 "] {
        let mut l = String::new();
        out.read_line(&mut l).unwrap();
        assert!(l.starts_with(want), "{l:?}");
    }
    drop(out);
    // It stops at its next line instead of producing on unseen.
    let r = wait_bounded(p, Duration::from_secs(10));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stderr, "", "{r:?}");
    let sent = ok(&[
        "consume",
        "--topic",
        &t.name,
        "--from-beginning",
        "--exit-at-end",
    ]);
    assert!(
        (2..=4).contains(&sent.stdout.lines().count()),
        "the producer went on after its output closed: {sent:?}"
    );
}

#[test]
fn missing_topic_and_bad_arguments() {
    require_broker();
    let name = unique_topic("missing");
    let r = fails(
        &["produce", "even", "--topic", &name, "--count", "1"],
        1,
        &format!("topic '{name}' does not exist"),
    );
    assert!(
        r.stderr.contains(&format!(
            "hint: create it with `kafkademo topic create {name}`"
        )),
        "{r:?}"
    );
    fails(
        &["consume", "--topic", &name],
        1,
        &format!("topic '{name}' does not exist"),
    );
    let r = run(&["produce", "even", "--interval", "often"]);
    assert_eq!(r.code, 2, "{r:?}");
    let r = run(&["produce", "seven"]);
    assert_eq!(r.code, 2, "{r:?}");
    fails(&["produce", "even", "--start", "3"], 2, "--start 3 is odd");
    fails(
        &["produce", "--interval", "1s"],
        2,
        "--interval needs a parity",
    );
    fails(
        &["produce", "even", "--interval", "0s"],
        2,
        "--interval must be more than 0",
    );
}

#[test]
fn an_oversize_record_fails_and_keeps_what_came_before() {
    require_broker();
    let name = unique_topic("big");
    ok(&[
        "topic",
        "create",
        &name,
        "--config",
        "max.message.bytes=10000",
    ]);
    let _t = Topic { name: name.clone() };
    let mut input = String::new();
    for i in 0..100 {
        input.push_str(&format!("small {i}\n"));
    }
    input.push_str(&"x".repeat(20_000));
    input.push('\n');
    input.push_str("after\n");
    let r = run_with_input(&["produce", "--topic", &name], &input);
    assert_eq!(r.code, 65, "{r:?}");
    assert!(
        r.stderr.starts_with(
            "kafkademo: error: line 101: a record of 20000 bytes is over the size limit of topic"
        ),
        "{r:?}"
    );
    assert!(
        r.stderr.contains("the 100 records before it were written"),
        "{r:?}"
    );
    let c = ok(&[
        "consume",
        "--topic",
        &name,
        "--from-beginning",
        "--exit-at-end",
    ]);
    let want: Vec<String> = (0..100).map(|i| format!("small {i}")).collect();
    assert_eq!(c.stdout.lines().collect::<Vec<_>>(), want);
}

/// Runs `kafkademo ARGS` under GNU time with `input` then `long` bytes of
/// 'x' then `tail` on stdin (written as it is read, never held whole): the
/// run and its peak RSS in kB.
fn produce_with_a_long_line(args: &[&str], input: &str, long: usize, tail: &str) -> (Run, u64) {
    let report = std::env::temp_dir().join(format!(
        "kafkademo-long-line-{}-{long}.rss",
        std::process::id()
    ));
    let mut child = under_gnu_time(&kafkademo(args), &report)
        .spawn()
        .expect("cannot run kafkademo under /usr/bin/time");
    let mut stdin = child.stdin.take().unwrap();
    let (input, tail) = (input.to_string(), tail.to_string());
    let writer = std::thread::spawn(move || {
        let chunk = vec![b'x'; 1 << 20];
        let mut left = long;
        let mut go = stdin.write_all(input.as_bytes()).is_ok();
        while go && left > 0 {
            let n = left.min(chunk.len());
            go = stdin.write_all(&chunk[..n]).is_ok();
            left -= n;
        }
        // kafkademo may stop reading at the long line: a closed pipe is fine.
        let _ = go && stdin.write_all(tail.as_bytes()).is_ok();
    });
    let run = wait_bounded(child, Duration::from_secs(120));
    writer.join().unwrap();
    let peak_kb = peak_kb(&report, &run);
    eprintln!("peak RSS {peak_kb} kB: kafkademo {args:?}");
    (run, peak_kb)
}

#[test]
fn a_stdin_line_past_64_mib_is_refused_in_bounded_memory_and_keeps_what_came_before() {
    require_broker();
    let name = unique_topic("long-line");
    ok(&["topic", "create", &name]);
    let _t = Topic { name: name.clone() };
    let before: String = (0..100).map(|i| format!("small {i}\n")).collect();
    // 200 MiB without a newline: kept whole, it would take 200 MiB and more.
    let (r, peak_kb) = produce_with_a_long_line(
        &["produce", "--topic", &name],
        &before,
        200 << 20,
        "\nafter\n",
    );
    assert_eq!(r.code, 65, "{r:?}");
    assert!(
        r.stderr.starts_with(
            "kafkademo: error: line 101: longer than 64 MiB, the most one stdin line can be here"
        ),
        "{r:?}"
    );
    assert!(
        r.stderr.contains("the 100 records before it were written"),
        "{r:?}"
    );
    assert_eq!(r.stderr.lines().count(), 2, "the error and its hint: {r:?}");
    // The line is dropped as it comes: at most the cap is ever held (and
    // a copy while its buffer grows), never the line.
    assert!(peak_kb < 160 * 1024, "peak RSS {peak_kb} kB");
    let c = ok(&[
        "consume",
        "--topic",
        &name,
        "--from-beginning",
        "--exit-at-end",
    ]);
    let want: Vec<String> = (0..100).map(|i| format!("small {i}")).collect();
    assert_eq!(c.stdout.lines().collect::<Vec<_>>(), want);

    // --keep-going: the long line is skipped and named, the next one sent.
    let (r, _) = produce_with_a_long_line(
        &["produce", "--topic", &name, "--keep-going"],
        "",
        65 << 20,
        "\nafter\n",
    );
    assert!(
        r.stderr.starts_with(
            "kafkademo: line 1 not sent: longer than 64 MiB, the most one stdin line can be here"
        ),
        "{r:?}"
    );
    assert_ne!(r.code, 0, "{r:?}");
    let c = ok(&[
        "consume",
        "--topic",
        &name,
        "--from-beginning",
        "--exit-at-end",
    ]);
    assert_eq!(c.stdout.lines().last(), Some("after"), "{c:?}");
    assert_eq!(c.stdout.lines().count(), 101, "{c:?}");
}

/// key -> partition, from `consume --format json` output.
fn partitions_by_key(topic: &str) -> BTreeMap<String, i64> {
    let c = ok(&read_back(topic));
    c.stdout
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["key"].as_str().unwrap().to_string(),
                v["partition"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn keys_land_where_kafkas_own_console_producer_puts_them() {
    let ours = Topic::new("m2-ours", 7);
    let theirs = Topic::new("m2-java", 7);
    let input: String = (0..300)
        .map(|i| format!("key-{i}-ü{},value {i}\n", "z".repeat(i % 9)))
        .collect();

    let p = run_with_input(
        &["produce", "--topic", &ours.name, "--key-separator", ","],
        &input,
    );
    assert_eq!(p.code, 0, "{p:?}");

    // Kafka 4 moved the console producer into the tools module.
    let class = if std::env::var("KAFKA_VERSION").is_ok_and(|v| v.starts_with('4')) {
        "org.apache.kafka.tools.ConsoleProducer"
    } else {
        "kafka.tools.ConsoleProducer"
    };
    let mut java = std::process::Command::new(repo_root().join("scripts/kafka-class.sh"))
        .args([
            class,
            "--bootstrap-server",
            &brokers(),
            "--topic",
            &theirs.name,
            "--property",
            "parse.key=true",
            "--property",
            "key.separator=,",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run Kafka's console producer");
    java.stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = java.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "Kafka's console producer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let ours = partitions_by_key(&ours.name);
    let theirs = partitions_by_key(&theirs.name);
    assert_eq!(ours.len(), 300);
    assert_eq!(
        ours, theirs,
        "kafkademo and the Java client put keys on different partitions"
    );
    let used: BTreeSet<i64> = ours.values().copied().collect();
    assert_eq!(used.len(), 7, "300 keys should touch all 7 partitions");
}

#[test]
fn make_demo_shows_both_origins_and_loses_nothing() {
    require_broker();
    let topic = unique_topic("demo");
    let out = std::process::Command::new("make")
        .args(["-s", "demo"])
        .current_dir(repo_root())
        .env("DEMO_SECONDS", "5")
        .env("DEMO_TOPIC", &topic)
        .env("KAFKADEMO", env!("CARGO_BIN_EXE_kafkademo"))
        .stdin(Stdio::null())
        .output()
        .expect("cannot run make demo");
    let _t = Topic { name: topic };
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "make demo failed:\n{text}");
    assert!(text.contains("    C | A 0\n"), "{text}");
    assert!(text.contains("    C | B 1\n"), "{text}");
    let summary: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("consumer C printed"))
        .collect();
    assert_eq!(summary.len(), 2, "{text}");
    for line in summary {
        assert!(line.ends_with("missing: 0"), "{line}");
    }
    // 5 s at 1 s and 2 s intervals, on a fixed schedule: t = 0..4 and t = 0, 2, 4
    assert!(
        text.contains("producer A sent   5 numbers (0..8)"),
        "{text}"
    );
    assert!(
        text.contains("producer B sent   3 numbers (1..5)"),
        "{text}"
    );
}
