//! `kafkademo stream`: windowed counts as a user reads them from the output
//! topic, late records dropped and counted, `--emit final` writing each
//! window once, exact counts through SIGKILLs, instances joining and
//! leaving, and `stream reset`. Event times come from a JSON field so the
//! same tests run on both data paths (message format v0 has no timestamps);
//! one test uses record timestamps on the modern path.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use crate::fixture::*;
use crate::stream_fixture::*;

const BOUND: Duration = Duration::from_secs(60);

/// Input lines `KEY:{"t":TIME}` for `produce --key-separator :`.
fn lines(records: &[(&str, i64)]) -> String {
    records
        .iter()
        .map(|(k, t)| format!("{k}:{{\"t\":{t}}}\n"))
        .collect()
}

fn produce(topic: &str, input: &str) {
    let r = run_with_input(
        &["produce", "--topic", topic, "--key-separator", ":"],
        input,
    );
    assert_eq!(r.code, 0, "{r:?}");
}

/// The output topic as a compacted topic's reader sees it: the last value
/// per key, plus how many records each key had; read committed (what an
/// aborted transaction wrote never counts).
fn read_output(topic: &str) -> (BTreeMap<String, serde_json::Value>, BTreeMap<String, usize>) {
    let r = ok(&[
        "consume",
        "--topic",
        topic,
        "--from-beginning",
        "--exit-at-end",
        "--isolation",
        "read-committed",
        "--format",
        "json",
    ]);
    let mut last = BTreeMap::new();
    let mut seen = BTreeMap::new();
    for (key, value) in json_rows(&r.stdout) {
        *seen.entry(key.clone()).or_insert(0) += 1;
        last.insert(key, value);
    }
    (last, seen)
}

/// Runs `stream count` to its end; it reports on stderr.
fn counted(args: &[&str]) -> Run {
    let r = run(args);
    assert_eq!(r.code, 0, "kafkademo {args:?} failed:\n{r:?}");
    assert!(!r.stderr.contains("error"), "{r:?}");
    r
}

/// Window starts of 10 s windows for times a few minutes ago, so the test
/// records are not older than the topics' retention.
fn base() -> i64 {
    (now_ms() - 300_000) / 10_000 * 10_000
}

#[test]
fn counts_per_key_and_window_and_drops_late_records() {
    let input = Topic::new("st-in", 1);
    let app = App::new("st-count");
    let b = base();
    produce(
        &input.name,
        &lines(&[
            ("A", b + 1_000),
            ("B", b + 2_000),
            ("A", b + 9_999),
            ("A", b + 10_000), // next window
            ("B", b + 11_500), // stream time b+11.5 s: window b still open (grace 2 s)
            ("A", b + 3_000),  // out of order, within grace: counts in window b
            ("B", b + 14_000), // stream time b+14 s: window b closed at b+12 s
            ("A", b + 5_000),  // late: dropped
        ]),
    );
    let mut args = count_args(&input.name, &app.output, &app.id);
    args.push("--exit-at-end");
    let r = counted(&args);
    assert!(
        r.stderr
            .contains("stream count: 8 records processed, 1 late (dropped), 0 without a usable timestamp (skipped), 0 otherwise not countable (skipped)"),
        "{r:?}"
    );
    let (last, _) = read_output(&app.output);
    let expected: BTreeMap<String, i64> = [
        (format!("A@{b}"), 3),
        (format!("B@{b}"), 1),
        (format!("A@{}", b + 10_000), 1),
        (format!("B@{}", b + 10_000), 2),
    ]
    .into_iter()
    .collect();
    assert_eq!(counts(&last), expected);
    assert_eq!(
        last[&format!("B@{}", b + 10_000)],
        serde_json::json!({"key": "B", "window_start": b + 10_000, "window_end": b + 20_000, "count": 2})
    );
}

#[test]
fn emit_final_writes_each_window_once_when_it_closes_and_idle_flush_closes_the_last() {
    let input = Topic::new("st-final", 1);
    let app = App::new("st-final");
    let b = base();
    let mut records = Vec::new();
    for w in 0..3 {
        for i in 0..5 {
            records.push(("K", b + w * 10_000 + i * 1_000));
        }
    }
    produce(&input.name, &lines(&records));
    let mut args = count_args(&input.name, &app.output, &app.id);
    args.extend(["--emit", "final", "--exit-at-end"]);
    counted(&args);
    // Stream time is b+24 s: windows b and b+10 s closed (end + 2 s grace), b+20 s open.
    let (last, seen) = read_output(&app.output);
    let closed: BTreeMap<String, i64> = [(format!("K@{b}"), 5), (format!("K@{}", b + 10_000), 5)]
        .into_iter()
        .collect();
    assert_eq!(counts(&last), closed);
    assert!(
        seen.values().all(|&n| n == 1),
        "one record per window: {seen:?}"
    );
    // Nothing new arrives: after --idle-flush the wall clock closes the last window.
    let mut args = count_args(&input.name, &app.output, &app.id);
    args.extend(["--emit", "final", "--idle-flush", "1s"]);
    let running = Running::start(&args);
    wait_until(BOUND, "the last window to be written", || {
        read_output(&app.output).0.len() == 3
    });
    running.signal("INT");
    let r = running.finish(BOUND);
    assert_eq!(r.code, 130, "{r:?}");
    let (last, seen) = read_output(&app.output);
    assert_eq!(last[&format!("K@{}", b + 20_000)]["count"], 5);
    assert!(
        seen.values().all(|&n| n == 1),
        "one record per window: {seen:?}"
    );
}

#[test]
fn record_timestamps_are_event_time_on_the_modern_path() {
    let input = Topic::new("st-ts", 2);
    let app = App::new("st-ts");
    let r = run_with_input(
        &[
            "--protocol",
            "modern",
            "produce",
            "--topic",
            &input.name,
            "--key-separator",
            ":",
        ],
        "x:1\ny:2\nx:3\n",
    );
    assert_eq!(r.code, 0, "{r:?}");
    let r = counted(&[
        "--protocol",
        "modern",
        "stream",
        "count",
        "--input",
        &input.name,
        "--output",
        &app.output,
        "--application-id",
        &app.id,
        "--window",
        "1h",
        "--exit-at-end",
    ]);
    assert!(r.stderr.contains("3 records processed, 0 late"), "{r:?}");
    let (last, _) = read_output(&app.output);
    let hour = now_ms() / 3_600_000 * 3_600_000;
    // The records were stamped moments ago, in this hour (or, at a turn of
    // the hour, the one before).
    let got = counts(&last);
    let this = [(format!("x@{hour}"), 2), (format!("y@{hour}"), 1)];
    let before = [
        (format!("x@{}", hour - 3_600_000), 2),
        (format!("y@{}", hour - 3_600_000), 1),
    ];
    assert!(
        got == this.into_iter().collect() || got == before.into_iter().collect(),
        "{got:?}"
    );
}

/// Whether the broker takes the classic data path (Kafka 3.9 and older;
/// 4.x refuses it at once with exit 76).
fn classic_accepted(topic: &str) -> bool {
    let r = run(&[
        "--timeout",
        "3s",
        "--protocol",
        "classic",
        "consume",
        "--topic",
        topic,
        "--exit-at-end",
    ]);
    assert!(r.code == 0 || r.code == 76, "{r:?}");
    r.code == 0
}

/// Writes `KEY:VALUE` lines to `partition` as records without a timestamp:
/// Kafka stores -1 for them. Where the broker takes the classic data path
/// that is `produce --protocol classic` (message format v0, as `make demo`
/// writes on Kafka 3.9); Kafka 4.x refuses that path, and there a Produce
/// request whose record batch carries timestamp -1 (NO_TIMESTAMP, a producer
/// that set none) stores the same.
fn produce_untimed(topic: &str, partition: i32, lines: &[(&str, &str)]) {
    if classic_accepted(topic) {
        let input: String = lines.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
        let r = run_with_input(
            &[
                "--protocol",
                "classic",
                "produce",
                "--topic",
                topic,
                "--partition",
                &partition.to_string(),
                "--key-separator",
                ":",
            ],
            &input,
        );
        assert_eq!(r.code, 0, "{r:?}");
        return;
    }
    use bytes::{Buf, Bytes, BytesMut};
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::{
        ApiKey, ProduceRequest, ProduceResponse, RequestHeader, ResponseHeader, TopicName,
    };
    use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };
    use std::io::Read;

    let records: Vec<Record> = lines
        .iter()
        .enumerate()
        .map(|(i, (k, v))| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // One batch: the encoder starts a new one unless offset minus
            // sequence stays the same; the batch's base sequence is -1.
            sequence: i as i32 - 1,
            timestamp: -1,
            key: Some(Bytes::from(k.to_string())),
            value: Some(Bytes::from(v.to_string())),
            headers: Default::default(),
        })
        .collect();
    let mut batch = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut batch,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .unwrap();
    // The tests' single broker leads every partition.
    let first = brokers().split(',').next().unwrap().to_string();
    let mut conn = std::net::TcpStream::connect(&first).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let version = 3;
    let mut frame = BytesMut::from(&[0u8; 4][..]);
    RequestHeader::default()
        .with_request_api_key(ApiKey::Produce as i16)
        .with_request_api_version(version)
        .with_correlation_id(1)
        .encode(&mut frame, ApiKey::Produce.request_header_version(version))
        .unwrap();
    ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(20_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(batch.freeze()))])])
        .encode(&mut frame, version)
        .unwrap();
    let size = (frame.len() - 4) as u32;
    frame[..4].copy_from_slice(&size.to_be_bytes());
    conn.write_all(&frame).unwrap();
    let mut len = [0u8; 4];
    conn.read_exact(&mut len).unwrap();
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    conn.read_exact(&mut body).unwrap();
    let mut buf = Bytes::from(body);
    ResponseHeader::decode(&mut buf, ApiKey::Produce.response_header_version(version)).unwrap();
    let response = ProduceResponse::decode(&mut buf, version).unwrap();
    let p = &response.responses[0].partition_responses[0];
    assert_eq!(p.error_code, 0, "Produce failed: {p:?}");
    assert!(!buf.has_remaining());
}

/// Whether `got` is `want` (key, count) in the 1 h window of now (or, at a
/// turn of the hour, of the hour before).
fn in_this_hour(got: &BTreeMap<String, i64>, want: &[(&str, i64)]) -> bool {
    let hour = now_ms() / 3_600_000 * 3_600_000;
    [hour, hour - 3_600_000].iter().any(|h| {
        *got == want
            .iter()
            .map(|(k, n)| (format!("{k}@{h}"), *n))
            .collect::<BTreeMap<_, _>>()
    })
}

#[test]
fn records_without_a_timestamp_are_skipped_counted_and_named_and_wallclock_counts_them() {
    let input = Topic::new("st-untimed", 2);
    let (plain, keyed, wallclock) = (
        App::new("st-untimed"),
        App::new("st-untimed-kf"),
        App::new("st-untimed-wc"),
    );
    // Two records with timestamps on partition 1, three without on partition 0.
    let r = run_with_input(
        &[
            "--protocol",
            "modern",
            "produce",
            "--topic",
            &input.name,
            "--partition",
            "1",
            "--key-separator",
            ":",
        ],
        "x:{\"user\":\"x\"}\nx:{\"user\":\"x\"}\n",
    );
    assert_eq!(r.code, 0, "{r:?}");
    produce_untimed(&input.name, 0, &[("u", r#"{"user":"u"}"#); 3]);
    let args = |app: &App, extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "--protocol",
            "modern",
            "stream",
            "count",
            "--input",
            &input.name,
            "--output",
            &app.output,
            "--application-id",
            &app.id,
            "--window",
            "1h",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    // 6 s: long enough for a status line (every 5 s).
    let plain_args = args(&plain, &["--duration", "6s"]);
    let r = counted(&plain_args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        r.stderr.contains(
            "2 records processed, 0 late, 3 without a usable timestamp, 0 otherwise not countable,"
        ),
        "the status line: {r:?}"
    );
    assert!(
        r.stderr.contains(
            "stream count: 2 records processed, 0 late (dropped), 3 without a usable timestamp (skipped), \
             0 otherwise not countable (skipped)"
        ),
        "the summary: {r:?}"
    );
    for offset in 0..3 {
        let warning = format!(
            "topic '{}' partition 0 offset {offset}: not counted: it has no timestamp \
             (-1: written as message format v0, or by a producer that set none); \
             give --time-field NAME, or --timestamps wallclock\n",
            input.name
        );
        assert!(r.stderr.contains(&warning), "{warning}: {r:?}");
    }
    let got = counts(&read_output(&plain.output).0);
    assert!(in_this_hour(&got, &[("x", 2)]), "{got:?}");
    // Repartitioned (--key-field on two partitions): the first step skips
    // them, and the summary still counts them apart.
    let keyed_args = args(&keyed, &["--key-field", "user", "--exit-at-end"]);
    let r = counted(&keyed_args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        r.stderr.contains(
            "2 records processed, 0 late (dropped), 3 without a usable timestamp (skipped), \
             0 otherwise not countable (skipped)"
        ),
        "{r:?}"
    );
    let got = counts(&read_output(&keyed.output).0);
    assert!(in_this_hour(&got, &[("x", 2)]), "{got:?}");
    // The time they are read instead: all five count.
    let wall_args = args(&wallclock, &["--timestamps", "wallclock", "--exit-at-end"]);
    let r = counted(&wall_args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        r.stderr
            .contains("5 records processed, 0 late (dropped), 0 without a usable timestamp"),
        "{r:?}"
    );
    let got = counts(&read_output(&wallclock.output).0);
    assert!(in_this_hour(&got, &[("u", 3), ("x", 2)]), "{got:?}");
}

/// The flow the README shows: `make demo` writes the exercise to a topic,
/// then `stream count` counts it. On Kafka 4.x the records have timestamps;
/// on 3.9 the demo writes message format v0, whose records have none, and
/// `stream count` (on the classic path there) refuses in one line naming
/// `--timestamps wallclock`, with which it counts them.
#[test]
fn the_demo_flow_counts_on_every_broker_line() {
    let input = Topic::new("st-demo", 1);
    let (app, wall) = (App::new("st-demo"), App::new("st-demo-wc"));
    for parity in ["even", "odd"] {
        ok(&[
            "produce",
            parity,
            "--topic",
            &input.name,
            "--count",
            if parity == "even" { "3" } else { "2" },
            "--interval",
            "10ms",
        ]);
    }
    let args = |app: &App, extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "stream",
            "count",
            "--input",
            &input.name,
            "--output",
            &app.output,
            "--application-id",
            &app.id,
            "--window",
            "1h",
            "--exit-at-end",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let plain = args(&app, &[]);
    let plain: Vec<&str> = plain.iter().map(String::as_str).collect();
    if classic_accepted(&input.name) {
        // Kafka 3.9: the exercise wrote message format v0 (no timestamps).
        let r = counted(&plain);
        assert!(
            r.stderr.contains("5 without a usable timestamp (skipped)")
                && r.stderr
                    .contains("give --time-field NAME, or --timestamps wallclock"),
            "{r:?}"
        );
        assert!(read_output(&app.output).0.is_empty(), "{r:?}");
    } else {
        let r = counted(&plain);
        assert!(r.stderr.contains("5 records processed, 0 late"), "{r:?}");
        let got = counts(&read_output(&app.output).0);
        assert!(in_this_hour(&got, &[("A", 3), ("B", 2)]), "{got:?}");
    }
    let with_flag = args(&wall, &["--timestamps", "wallclock"]);
    let r = counted(&with_flag.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(r.stderr.contains("5 records processed, 0 late"), "{r:?}");
    let got = counts(&read_output(&wall.output).0);
    assert!(in_this_hour(&got, &[("A", 3), ("B", 2)]), "{got:?}");
}

/// A console producer fed `input` in chunks of `chunk` lines every 100 ms,
/// so the input keeps arriving while instances come and go. `keyed`:
/// lines are `KEY:VALUE`; otherwise values without keys, which the
/// producer spreads over the partitions. `finish` waits until every line
/// was written and the producer exited 0.
fn trickle(topic: &str, keyed: bool, input: Vec<String>, chunk: usize) -> Producer {
    let mut args = vec!["produce", "--topic", topic];
    if keyed {
        args.extend(["--key-separator", ":"]);
    }
    let mut blocks = input
        .chunks(chunk)
        .map(|b| b.concat())
        .collect::<Vec<_>>()
        .into_iter();
    Producer::start(&args, move || blocks.next())
}

/// Starts `args` `kills` times, each time SIGKILLing it `delay()` after
/// the group's committed offsets moved on (so it dies while it works).
fn kill_while_working(args: &[&str], group: &str, kills: u32, mut delay: impl FnMut() -> Duration) {
    for kill in 1..=kills {
        let before = committed(group);
        let running = Running::start(args);
        wait_until(BOUND, "the processor to commit progress", || {
            committed(group) > before
        });
        std::thread::sleep(delay());
        running.signal("KILL");
        let r = running.finish(BOUND);
        assert_eq!(r.code, -1, "kill {kill} (no exit code: a signal): {r:?}");
    }
}

/// 200,000 records over 100 keys, event times in order but every 50th
/// record 1.5 s early (within the 2 s grace); returns the input lines and
/// the batch recomputation of every window's count.
fn crash_input() -> (Vec<String>, BTreeMap<String, i64>) {
    let b = base() - 600_000;
    let mut input = Vec::with_capacity(200_000);
    let mut expected = BTreeMap::new();
    for i in 0..200_000i64 {
        let key = format!("k{:02}", (i * 7919) % 100);
        let mut t = b + i * 3;
        if i % 50 == 49 {
            t -= 1_500;
        }
        input.push(format!("{key}:{{\"t\":{t},\"n\":{i}}}\n"));
        *expected.entry(window(&key, t)).or_insert(0) += 1;
    }
    (input, expected)
}

#[test]
fn sigkilled_five_times_the_counts_are_exact() {
    let input = Topic::new("st-crash", 4);
    let app = App::new("st-crash");
    let (records, expected) = crash_input();
    // 4,000 records/s for 50 s: the input still flows at every kill.
    let feed = trickle(&input.name, true, records, 400);
    let mut args = count_args(&input.name, &app.output, &app.id);
    // The broker's minimum: a killed instance holds up the next one's
    // join until its session ends.
    args.extend(["--session-timeout", "6s"]);
    let mut seed = now_ms() as u64;
    kill_while_working(&args, &app.id, 5, || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        Duration::from_millis((seed >> 33) % 700)
    });
    feed.finish(BOUND);
    // The survivor reads to the end.
    let mut last_args = args.clone();
    last_args.push("--exit-at-end");
    let r = counted(&last_args);
    assert!(
        r.stderr.contains("200000 records processed, 0 late"),
        "{r:?}"
    );
    // A SIGKILLed instance's open transaction holds the last stable offset
    // until the broker aborts it (10 s timeout, checked every 10 s): read
    // until the counts are complete, within the bound, then judge the last read.
    let last = poll(BOUND, || {
        let (last, _) = read_output(&app.output);
        (counts(&last) == expected).then_some(last)
    })
    .unwrap_or_else(|| read_output(&app.output).0);
    let got = counts(&last);
    let lost: Vec<_> = expected
        .iter()
        .filter(|(k, n)| got.get(*k).is_none_or(|g| g < n))
        .collect();
    let doubled: Vec<_> = expected
        .iter()
        .filter(|(k, n)| got.get(*k).is_some_and(|g| g > n))
        .collect();
    assert!(
        lost.is_empty(),
        "{} windows short: {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    assert!(
        doubled.is_empty(),
        "{} windows over-counted: {:?}",
        doubled.len(),
        &doubled[..doubled.len().min(5)]
    );
    assert_eq!(got, expected);
}

#[test]
fn reset_refuses_while_an_instance_runs_then_deletes_the_changelog_and_offsets() {
    let input = Topic::new("st-reset", 2);
    let app = App::new("st-reset");
    let b = base();
    produce(&input.name, &lines(&[("A", b + 1), ("B", b + 2)]));
    let running = Running::start(&count_args(&input.name, &app.output, &app.id));
    let changelog = format!("{}-count-store-changelog", app.id);
    wait_until(BOUND, "the count to be committed", || {
        committed(&app.id) == 2
    });
    let r = fails(
        &["stream", "reset", "--application-id", &app.id],
        1,
        &format!(
            "application '{}' still has 1 running instance(s) in its group",
            app.id
        ),
    );
    assert!(
        r.stderr.contains("hint: stop every instance first"),
        "{r:?}"
    );
    running.signal("INT");
    assert_eq!(running.finish(BOUND).code, 130);
    let r = ok(&["stream", "reset", "--application-id", &app.id]);
    assert_eq!(
        r.stdout,
        format!(
            "Deleted group {} and its committed offsets\nDeleted internal topic {changelog}\n\
             No local state to remove: tasks keep their state in memory and rebuild it from the changelog\n",
            app.id
        )
    );
    let topics = ok(&["topic", "list"]).stdout;
    assert!(!topics.lines().any(|l| l.contains(&changelog)), "{topics}");
    assert!(describe_group(&app.id).is_none_or(|rows| rows.iter().all(|r| r.committed.is_none())));
    // Counting again starts from scratch: the same totals, not doubled.
    let mut args = count_args(&input.name, &app.output, &app.id);
    args.push("--exit-at-end");
    let r = counted(&args);
    assert!(r.stderr.contains("2 records processed"), "{r:?}");
}

#[test]
fn reset_deletes_its_own_topics_not_those_of_an_application_whose_id_it_prefixes() {
    let input = Topic::new("st-rx", 2);
    let x = App::new("st-rx");
    let v2 = App {
        id: format!("{}-v2", x.id),
        output: unique_topic("st-rx-v2-out"),
    };
    let (x_passed, v2_passed) = (Topic::new("st-rx-f", 2), Topic::new("st-rx-v2-f", 2));
    let b = base();
    let records: Vec<(&str, i64)> = (0..10).map(|i| ("a", b + i)).collect();
    // No record keys: spread over both partitions, so --key-field repartitions.
    let input_lines: String = records
        .iter()
        .map(|(u, t)| format!("{{\"user\":\"{u}\",\"t\":{t}}}\n"))
        .collect();
    let r = run_with_input(&["produce", "--topic", &input.name], &input_lines);
    assert_eq!(r.code, 0, "{r:?}");
    let filter = |app: &App, out: &Topic| {
        let r = counted(&[
            "stream",
            "filter",
            "--input",
            &input.name,
            "--output",
            &out.name,
            "--application-id",
            &app.id,
            "--where",
            "user=a",
            "--exit-at-end",
            // The filter's position topic is the unfenced design's (the
            // exactly-once one resumes from the group's offsets, which the
            // count's repartition step of the same id has moved to the end).
            "--guarantee",
            "unfenced",
        ]);
        assert!(r.stderr.contains("10 records read, 10 passed on"), "{r:?}");
    };
    let count = |app: &App| -> Vec<String> {
        let mut args = count_args(&input.name, &app.output, &app.id);
        args.extend(["--key-field", "user"]);
        args.into_iter().map(String::from).collect()
    };
    // Both applications made every internal topic there is: the count's
    // changelog and repartition topic, the filter's position topic. (The
    // count first: its repartition step resumes from the group's committed
    // offsets, which a filter of the same id moves to the end.)
    for (app, passed) in [(&v2, &v2_passed), (&x, &x_passed)] {
        let mut args = count(app);
        args.push("--exit-at-end".into());
        let r = counted(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(r.stderr.contains("10 records processed"), "{r:?}");
        filter(app, passed);
    }
    // X-v2 runs again while X is reset.
    let v2_args = count(&v2);
    let running = Running::start(&v2_args.iter().map(String::as_str).collect::<Vec<_>>());
    wait_until(BOUND, "X-v2 to own its tasks", || {
        describe_group(&format!("{}-count-repartition", v2.id))
            .is_some_and(|rows| rows.len() == 2 && rows.iter().all(|r| r.consumer.is_some()))
    });
    let internal = |id: &str| {
        [
            format!("{id}-count-store-changelog"),
            format!("{id}-count-repartition"),
            format!("{id}-filter-position-changelog"),
        ]
    };
    let r = ok(&["stream", "reset", "--application-id", &x.id]);
    let [changelog, repartition, position] = internal(&x.id);
    assert_eq!(
        r.stdout,
        format!(
            "Deleted group {id} and its committed offsets\n\
             Deleted group {repartition} and its committed offsets\n\
             Deleted internal topic {changelog}\n\
             Deleted internal topic {repartition}\n\
             Deleted internal topic {position}\n\
             No local state to remove: tasks keep their state in memory and rebuild it from the changelog\n",
            id = x.id
        )
    );
    let topics: Vec<String> = ok(&["topic", "list"])
        .stdout
        .lines()
        .map(|l| l.split_whitespace().next().unwrap_or_default().to_string())
        .collect();
    for gone in internal(&x.id) {
        assert!(!topics.contains(&gone), "{gone} survived: {topics:?}");
    }
    for kept in internal(&v2.id) {
        assert!(topics.contains(&kept), "{kept} was deleted: {topics:?}");
    }
    running.signal("INT");
    let r = running.finish(BOUND);
    assert_eq!(r.code, 130, "{r:?}");
    assert!(r.stderr.contains("10 records processed"), "{r:?}");
}

#[test]
fn bad_arguments_are_usage_errors() {
    fails(
        &[
            "stream",
            "count",
            "-i",
            "a",
            "-o",
            "b",
            "--application-id",
            "c",
            "--window",
            "10s",
            "--hop",
            "20s",
        ],
        2,
        "--hop must be at least 1ms and at most --window",
    );
    fails(
        &[
            "stream",
            "count",
            "-i",
            "a",
            "-o",
            "a",
            "--application-id",
            "c",
            "--window",
            "10s",
        ],
        2,
        "--output must be another topic than --input",
    );
}

#[test]
fn instances_share_the_tasks_and_counts_stay_exact_from_two_to_three_to_two() {
    let input = Topic::new("st-scale", 6);
    let app = App::new("st-scale");
    let (all, _) = crash_input();
    let records: Vec<String> = all.into_iter().take(100_000).collect();
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    for line in &records {
        let (key, value) = line.trim_end().split_once(':').unwrap();
        let v: serde_json::Value = serde_json::from_str(value).unwrap();
        let t = v["t"].as_i64().unwrap();
        *expected.entry(window(key, t)).or_insert(0) += 1;
    }
    // 4,000 records/s for 25 s
    let feed = trickle(&input.name, true, records, 400);
    let mut args = count_args(&input.name, &app.output, &app.id);
    args.extend(["--session-timeout", "6s"]);
    let group = app.id.clone();
    let owners = |n: usize| {
        let group = group.clone();
        move || {
            describe_group(&group).is_some_and(|rows| {
                let mut ids: Vec<String> = rows.iter().filter_map(|r| r.consumer.clone()).collect();
                ids.sort();
                ids.dedup();
                rows.len() == 6 && rows.iter().all(|r| r.consumer.is_some()) && ids.len() == n
            })
        }
    };
    let first = Running::start(&args);
    let second = Running::start(&args);
    wait_until(BOUND, "two instances to own the six tasks", owners(2));
    let before = committed(&app.id);
    wait_until(BOUND, "progress with two instances", || {
        committed(&app.id) > before
    });
    let third = Running::start(&args);
    wait_until(BOUND, "three instances to own the six tasks", owners(3));
    let before = committed(&app.id);
    wait_until(BOUND, "progress with three instances", || {
        committed(&app.id) > before
    });
    first.signal("INT");
    let r = first.finish(BOUND);
    assert_eq!(r.code, 130, "the first instance on Ctrl-C: {r:?}");
    wait_until(BOUND, "two instances to own the six tasks again", owners(2));
    feed.finish(BOUND);
    wait_until(BOUND, "every record to be counted", || {
        committed(&app.id) == 100_000
    });
    for running in [second, third] {
        running.signal("INT");
        let r = running.finish(BOUND);
        assert_eq!(r.code, 130, "an instance on Ctrl-C: {r:?}");
    }
    let (last, _) = read_output(&app.output);
    assert_eq!(counts(&last), expected);
}

#[test]
fn filter_splits_the_exercise_into_evens_and_odds_exactly_once_through_sigkills() {
    let input = Topic::new("st-split", 3);
    let evens = App::new("st-evens");
    let odds = App::new("st-odds");
    // The exercise's records: key A with even numbers, B with odd ones.
    let records: Vec<String> = (0..30_000)
        .map(|n| format!("{}:{n}\n", if n % 2 == 0 { "A" } else { "B" }))
        .collect();
    let feed = trickle(&input.name, true, records, 300);
    let filter = |app: &App, parity: &str| -> Vec<String> {
        [
            "stream",
            "filter",
            "--input",
            &input.name,
            "--output",
            &app.output,
            "--application-id",
            &app.id,
            "--parity",
            parity,
            "--session-timeout",
            "6s",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let even_args = filter(&evens, "even");
    let even_args: Vec<&str> = even_args.iter().map(String::as_str).collect();
    // The evens are SIGKILLed twice while they work; the odds run throughout.
    let odd_args = filter(&odds, "odd");
    let odd_args: Vec<&str> = odd_args.iter().map(String::as_str).collect();
    let odd_run = Running::start(&odd_args);
    kill_while_working(&even_args, &evens.id, 2, || Duration::ZERO);
    feed.finish(BOUND);
    let mut last = even_args.clone();
    last.push("--exit-at-end");
    let r = counted(&last);
    assert!(r.stderr.contains("passed on to"), "{r:?}");
    wait_until(BOUND, "the odds to be read to the end", || {
        committed(&odds.id) == 30_000
    });
    odd_run.signal("INT");
    assert_eq!(odd_run.finish(BOUND).code, 130);
    // Every number once, in its input order, on the side of its parity,
    // as a read_committed reader sees it (what a SIGKILLed instance's
    // transaction wrote was aborted; on Kafka 3.9 auto would read classic).
    // A SIGKILLed instance's open transaction (each instance has a
    // transactional id of its own, as in Kafka Streams) holds the last
    // stable offset until the broker aborts it at its 10 s timeout (its
    // check runs every 10 s): until then a read_committed reader stops
    // short of it. So read until the count is complete, or the bound.
    for (app, parity) in [(&evens, 0), (&odds, 1)] {
        let want_len = 15_000;
        let read = || {
            ok(&[
                "consume",
                "--topic",
                &app.output,
                "--from-beginning",
                "--exit-at-end",
                "--isolation",
                "read-committed",
                "--format",
                "json",
            ])
        };
        let r = poll(BOUND, || {
            let r = read();
            (r.stdout.lines().count() >= want_len).then_some(r)
        })
        .unwrap_or_else(read);
        let mut got: Vec<i64> = Vec::new();
        let mut by_partition: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        for line in r.stdout.lines() {
            let rec: serde_json::Value = serde_json::from_str(line).unwrap();
            let n: i64 = rec["value"].as_str().unwrap().parse().unwrap();
            got.push(n);
            by_partition
                .entry(rec["partition"].as_i64().unwrap())
                .or_default()
                .push(n);
        }
        for ns in by_partition.values() {
            assert!(
                ns.windows(2).all(|w| w[0] < w[1]),
                "out of order or repeated: {ns:?}"
            );
        }
        got.sort_unstable();
        let want: Vec<i64> = (0..30_000).filter(|n| n % 2 == parity).collect();
        assert_eq!(
            got.len(),
            want.len(),
            "parity {parity}: {} records, not {}",
            got.len(),
            want.len()
        );
        assert_eq!(got, want);
    }
}

#[test]
fn key_field_repartitions_and_counts_exactly_through_sigkills() {
    let input = Topic::new("st-kf", 3);
    let app = App::new("st-kf");
    let b = base() - 600_000;
    // No record keys: the console producer spreads the lines over the
    // partitions, so every user's records are in all three.
    let users = ["ann", "bob", "cy", "dee", "eve"];
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    let lines: Vec<String> = (0..40_000i64)
        .map(|i| {
            let user = users[(i % 5) as usize];
            // in order, except every 50th record 1.5 s early
            let t = b + i * 10 - if i % 50 == 49 { 1_500 } else { 0 };
            *expected.entry(window(user, t)).or_insert(0) += 1;
            format!("{{\"user\":\"{user}\",\"t\":{t}}}\n")
        })
        .collect();
    let feed = trickle(&input.name, false, lines, 400);
    let args = vec![
        "stream",
        "count",
        "--input",
        &input.name,
        "--output",
        &app.output,
        "--application-id",
        &app.id,
        "--window",
        "10s",
        // After a restart the repartition step copies a backlog from three
        // partitions: a grace of a minute keeps its interleaving on time.
        "--grace",
        "60s",
        "--time-field",
        "t",
        "--key-field",
        "user",
        "--session-timeout",
        "6s",
    ];
    // Killed while it works: the repartition step may then copy some
    // records twice, and the counting step must count them once.
    kill_while_working(&args, &app.id, 2, || Duration::ZERO);
    feed.finish(BOUND);
    let mut last = args.clone();
    last.push("--exit-at-end");
    let r = counted(&last);
    assert!(
        r.stderr.contains("40000 records processed, 0 late"),
        "{r:?}"
    );
    let topics = ok(&["topic", "list"]).stdout;
    assert!(
        topics.contains(&format!("{}-count-repartition", app.id)),
        "{topics}"
    );
    // A SIGKILLed instance's open transaction holds the last stable offset
    // until the broker aborts it (10 s timeout, checked every 10 s): read
    // until the counts are complete, within the bound.
    let last = poll(BOUND, || {
        let (last, _) = read_output(&app.output);
        (counts(&last) == expected).then_some(last)
    })
    .unwrap_or_else(|| read_output(&app.output).0);
    assert_eq!(counts(&last), expected);
    let r = ok(&["stream", "reset", "--application-id", &app.id]);
    assert!(
        r.stdout
            .contains(&format!("Deleted group {}-count-repartition", app.id)),
        "{r:?}"
    );
}

/// Closed windows leave the changelog: once stream time closes a window
/// that a flush had written, the next flush writes its tombstone, so what
/// compaction keeps (the last value per key) is the open windows and the
/// position, however many windows the application has closed.
#[test]
fn closed_windows_leave_the_changelog_by_tombstones() {
    let input = Topic::new("st-tomb", 1);
    let app = App::new("st-tomb");
    let b = base();
    let mut args = count_args(&input.name, &app.output, &app.id);
    args.push("--exit-at-end");
    produce(
        &input.name,
        &lines(&[("A", b + 1_000), ("B", b + 2_000), ("A", b + 5_000)]),
    );
    counted(&args);
    // Stream time b + 25 s closes window b (end b + 10 s, grace 2 s).
    produce(&input.name, &lines(&[("A", b + 25_000)]));
    counted(&args);
    let changelog = format!("{}-count-store-changelog", app.id);
    let r = ok(&[
        "consume",
        "--topic",
        &changelog,
        "--from-beginning",
        "--exit-at-end",
        "--isolation",
        "read-committed",
        "--format",
        "json",
    ]);
    let mut last: BTreeMap<String, String> = BTreeMap::new();
    for line in r.stdout.lines() {
        let rec: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        last.insert(
            rec["key"].as_str().expect("a key").to_string(),
            rec["value"].as_str().unwrap_or_default().to_string(),
        );
    }
    let live: Vec<&str> = last
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, _)| k.as_str())
        .collect();
    let open = format!("A@{}", b + 20_000);
    assert_eq!(live, [open.as_str(), "position"], "{r:?}");
    for closed in [format!("A@{b}"), format!("B@{b}")] {
        assert_eq!(last.get(&closed).map(String::as_str), Some(""), "{r:?}");
    }
    // The counts are what they were: the output keeps every window.
    let got = counts(&read_output(&app.output).0);
    assert_eq!(got.get(&format!("A@{b}")), Some(&2));
    assert_eq!(got.get(&format!("B@{b}")), Some(&1));
    assert_eq!(got.get(&open), Some(&1));
}
