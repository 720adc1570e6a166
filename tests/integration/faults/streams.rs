//! `stream count` (exactly-once, the default) through broker faults while
//! it writes: the leader of the partitions its transactions write to
//! SIGSTOPped (a broker-side pause: requests in flight go unanswered until
//! a new leader is elected), and its group coordinator SIGKILLed (the
//! coordinator moves). The processor must ride both out and its counts,
//! read as a user reads them (`stream table`, read_committed), must equal a
//! batch recomputation of the input topic as it ended up.

use std::collections::BTreeMap;

use super::*;
use crate::stream_fixture::*;

const KEYS: usize = 10;

/// Writes `kK:{"t":T}` lines, one every 5 ms (T the time of writing), to
/// a console producer's stdin, until stopped.
fn feed(stdin: ChildStdin) -> Feed {
    let mut i = 0;
    Feed::start(stdin, Duration::from_millis(5), move || {
        let line = format!("k{}:{{\"t\":{}}}\n", i % KEYS, now_ms());
        i += 1;
        Some(line)
    })
}

/// The group's committed offsets summed, and the input's log end summed
/// (from `group describe`), when the group has committed anything.
fn progress(group: &str, topic: &str) -> Option<(i64, i64)> {
    let (code, out, _) = kd_run(&["group", "describe", group]);
    if code != 0 {
        return None;
    }
    let (mut committed, mut end, mut rows) = (0, 0, 0);
    for l in out.lines() {
        let cols: Vec<&str> = l.split_whitespace().collect();
        if cols.len() >= 4 && cols[0] == topic {
            committed += cols[2].parse::<i64>().ok()?;
            end += cols[3].parse::<i64>().ok()?;
            rows += 1;
        }
    }
    (rows > 0).then_some((committed, end))
}

/// Every window's count recomputed from the input topic, read committed.
fn recount(topic: &str) -> BTreeMap<String, i64> {
    let out = kd_ok(&read_back(topic));
    let mut counts = BTreeMap::new();
    for (key, value) in json_rows(&out) {
        let t = value["t"].as_i64().expect("a time");
        *counts.entry(window(&key, t)).or_insert(0) += 1;
    }
    counts
}

/// Runs a count over a steady input, applies `fault` once the count is
/// committing (it returns the broker to restore and how), waits until the
/// count has moved on past the fault, restores the broker, and checks the
/// counts against the input.
fn count_through(scenario: &'static str, fault: impl FnOnce(&str, &str, &str) -> (i32, bool)) {
    let mut faults = Faults::new();
    let mut row = Row::new(scenario);
    let input = faults.topic("fs-in", 2);
    let app = unique_topic("fs-app");
    let output = unique_topic("fs-out");
    faults
        .topics
        .extend([output.clone(), format!("{app}-count-store-changelog")]);
    let args = [
        "--timeout",
        "5s",
        "stream",
        "count",
        "--input",
        &input,
        "--output",
        &output,
        "--application-id",
        &app,
        "--window",
        "10s",
        // The producer's retries while a leader is gone can put a
        // partition's records out of event-time order by the length
        // of the fault: a grace that covers it, so that no record is
        // late and the recount need not judge lateness.
        "--grace",
        "10m",
        "--time-field",
        "t",
        "--session-timeout",
        "6s",
    ];
    // Two minutes: a transaction coordinator that took its log over after
    // the fault may load it for half a minute and more first.
    let restored = |count: &Proc| {
        poll(Duration::from_secs(120), || {
            count.stderr().contains("restored from").then_some(())
        })
        .unwrap_or_else(|| {
            panic!(
                "{scenario}: {} did not restore its tasks within 120 s:\n{}",
                count.name,
                count.stderr()
            )
        })
    };
    let mut count = Proc::spawn("count", &args);
    restored(&count);
    let (mut producer, stdin) = Proc::spawn_fed(
        "producer",
        &[
            "produce",
            "--topic",
            &input,
            "--key-separator",
            ":",
            "--acks",
            "all",
        ],
    );
    let mut feed = feed(stdin);
    // While the broker stays frozen, every request that meets it waits out
    // --timeout (5 s) before going elsewhere, and a fenced flush then
    // rejoins and restores through it: a minute and more of recovery seen
    // on this machine, so the bound is two.
    let committing = |at_least: i64| {
        poll(Duration::from_secs(120), || {
            progress(&app, &input).and_then(|(c, _)| (c > at_least).then_some(c))
        })
    };
    let before =
        committing(0).unwrap_or_else(|| panic!("the count never committed: {}", count.stderr()));
    let (broker, killed) = fault(&app, &input, &output);
    let hit = Instant::now();
    // Moved on past the fault: committed more than when it hit, twice over
    // (the first commit after the fault could be one already on its way).
    let after = committing(before).and_then(committing);
    let recovered = hit.elapsed();
    if killed {
        start_broker(broker);
    } else {
        cont_broker(broker);
    }
    let after = after.unwrap_or_else(|| {
        panic!(
            "{scenario}: the count made no progress within 120 s of the fault:\n{}",
            count.stderr()
        )
    });
    assert!(
        count.running(),
        "{scenario}: the count ended:\n{}",
        count.stderr()
    );
    // What the transactions wrote through the fault is what a new instance
    // starts from: SIGKILL this one, and let another restore the tasks
    // from the changelog and count on.
    let _ = count.child.kill();
    let _ = count.wait(Duration::from_secs(10));
    let first = count.stderr();
    let mut count = Proc::spawn("count again", &args);
    restored(&count);
    let after = committing(after).unwrap_or_else(|| {
        panic!(
            "{scenario}: the new instance made no progress:\n{}",
            count.stderr()
        )
    });
    feed.stop();
    let _ = feed.join();
    let produced = producer.wait(Duration::from_secs(60));
    assert_eq!(
        produced.map(|(c, _)| c),
        Some(0),
        "the producer:\n{}",
        producer.stderr()
    );
    // The count reads to the end of the input, then stops on Ctrl-C.
    let caught_up = poll(Duration::from_secs(60), || {
        progress(&app, &input).and_then(|(c, end)| (c == end && c > after).then_some(c))
    });
    let (code, _) = count.interrupt(Duration::from_secs(10));
    row.stderr_of(&[&count]);
    row.codes = format!("count {}", code.map_or("running".into(), |c| c.to_string()));
    row.recover = secs(recovered);
    let records = caught_up
        .unwrap_or_else(|| panic!("{scenario}: the count never caught up:\n{}", count.stderr()));
    let expected = recount(&input);
    // A read_committed reader sees the last counts once every transaction
    // before them is decided: the SIGKILLed instance's open one only when
    // the transaction coordinator aborts it (its 10 s timeout, checked
    // every 10 s), so wait for that, bounded.
    let got = poll(Duration::from_secs(60), || {
        let got = table_with(kd, &[], &output);
        (got == expected).then_some(got)
    })
    .unwrap_or_else(|| table_with(kd, &[], &output));
    let over: Vec<String> = got
        .iter()
        .filter(|(k, n)| expected.get(*k).is_none_or(|e| *n > e))
        .map(|(k, n)| format!("{k}: {n} not {}", expected.get(k).copied().unwrap_or(0)))
        .collect();
    let short: Vec<String> = expected
        .iter()
        .filter(|(k, n)| got.get(*k).is_none_or(|g| g < *n))
        .map(|(k, n)| format!("{k}: {} not {n}", got.get(k).copied().unwrap_or(0)))
        .collect();
    row.acked = records.to_string();
    row.consumed = got.values().sum::<i64>().to_string();
    row.lost = short.len().to_string();
    row.duplicated = over.len().to_string();
    row.note = format!("{} windows; broker {broker}", expected.len());
    row.write();
    assert_eq!(code, Some(130), "{scenario}: Ctrl-C:\n{}", count.stderr());
    assert!(
        over.is_empty() && short.is_empty(),
        "{scenario}: {} of {} windows over ({over:?}), {} short ({short:?})\n{first}{}",
        over.len(),
        expected.len(),
        short.len(),
        count.stderr()
    );
}

#[test]
fn stream_count_changelog_leader_sigstop_during_flush() {
    count_through(
        "stream count: its changelog's leader SIGSTOPped while it writes",
        |app, _, _| {
            let changelog = format!("{app}-count-store-changelog");
            let leader = leader_of(&changelog, 0).expect("the changelog has a leader");
            stop_broker(leader);
            (leader, false)
        },
    );
}

#[test]
fn stream_count_group_coordinator_sigkill_during_flush() {
    count_through(
        "stream count: its group coordinator SIGKILLed while it writes",
        |app, input, _| {
            let coordinator = coordinator_of(app, input).expect("the group has a coordinator");
            kill_broker(coordinator);
            (coordinator, true)
        },
    );
}
