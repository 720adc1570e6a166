//! Kafka Connect's promises under faults, on the real parts `make test`'s
//! connect phase starts: two workers in one group, Debezium's PostgreSQL
//! connector, a real PostgreSQL. A worker SIGKILLed mid-stream (restarted at
//! once, or left dead so its task moves to the other worker), PostgreSQL
//! restarted under a running connector, and Ctrl-C of `kafkademo connect`
//! against a frozen worker. Each change committed in the database must
//! reach the topic; duplicates are counted and reported (the workers run
//! exactly-once source support, KIP-618, so there should be none). Run one
//! at a time (`--test-threads=1`): they stop shared processes. Each appends
//! a row to the fault report (KAFKADEMO_FAULT_REPORT).

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::connect::{
    connect_run, connect_url, debezium, pg, pg_command, psql, unique_name, Connector, CDC_WAIT,
};
use crate::fixture::*;

/// Worker 2's REST address.
fn connect_url2() -> String {
    std::env::var("KAFKADEMO_CONNECT_URL2")
        .expect("KAFKADEMO_CONNECT_URL2 is not set: these tests need the two workers `make test`'s connect phase starts")
}

/// Worker N's pid, from the pid file scripts/connect-up.sh writes.
fn worker_pid(n: u32) -> u32 {
    let path = repo_root().join(format!(".kafka/run/connect-{n}.pid"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (is Connect worker {n} running?)", path.display()))
        .trim()
        .parse()
        .unwrap()
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{sig} {pid} failed");
}

fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// The ports the scripts must start worker 1 and PostgreSQL on: those the
/// tests were given (KAFKADEMO_CONNECT_URL, PGPORT), not the defaults.
fn ports() -> [(&'static str, String); 2] {
    // Not connect_url(): worker 1 may be the one down.
    let url = std::env::var("KAFKADEMO_CONNECT_URL").unwrap_or_default();
    let port = url
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_string();
    [("CONNECT_PORT", port), ("PG_PORT", pg("PGPORT"))]
}

/// Runs one of the project's scripts (the same ones `make` runs).
fn script(name: &str, env: &[(&str, &str)]) {
    let out = Command::new(repo_root().join("scripts").join(name))
        .current_dir(repo_root())
        .envs(ports())
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "scripts/{name} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts whichever worker (or PostgreSQL) is not running when a test
/// ends, passed or not, so the next test finds them all.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = Command::new(repo_root().join("scripts/connect-up.sh"))
            .current_dir(repo_root())
            .envs(ports())
            .env("CONNECT_WORKERS", "2")
            .output();
    }
}

/// Inserts rows in small transactions until stopped; a failed insert (the
/// database away) is retried. What counts is what the table holds at the
/// end, not what this thought it wrote.
struct Writer {
    stop: Arc<AtomicBool>,
    next: Arc<AtomicI64>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Writer {
    fn start(table: &str) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let next = Arc::new(AtomicI64::new(0));
        let (s, n, table) = (stop.clone(), next.clone(), table.to_string());
        let handle = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                let from = n.load(Ordering::SeqCst);
                let sql = format!(
                    "INSERT INTO {table} SELECT g, g * 2, 'A' FROM generate_series({from}, {}) g",
                    from + 19
                );
                let ok = pg_command()
                    .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", &sql])
                    .env("PGCONNECT_TIMEOUT", "2")
                    .output()
                    .map(|o| o.status.success())
                    .unwrap_or(false);
                if ok {
                    n.store(from + 20, Ordering::SeqCst);
                }
                std::thread::sleep(Duration::from_millis(if ok { 50 } else { 250 }));
            }
        });
        Writer {
            stop,
            next,
            handle: Some(handle),
        }
    }

    fn written(&self) -> i64 {
        self.next.load(Ordering::SeqCst)
    }

    fn finish(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            h.join().unwrap();
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// The ids in the change topic's committed records: (distinct ids,
/// records read) once every id the table holds arrived, or what came
/// within the wait.
fn read_changes(topic: &str, want: &[i64]) -> (BTreeMap<i64, usize>, usize) {
    let c = Running::start(&[
        "consume",
        "--topic",
        topic,
        "--from-beginning",
        "--format",
        "json",
        "--isolation",
        "read-committed",
    ]);
    let parse = |lines: &[String]| {
        let mut seen = BTreeMap::new();
        for l in lines {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let value: serde_json::Value =
                serde_json::from_str(v["value"].as_str().unwrap_or("null")).unwrap_or_default();
            if let Some(id) = value["after"]["id"].as_i64() {
                *seen.entry(id).or_insert(0) += 1;
            }
        }
        seen
    };
    let _ = poll(CDC_WAIT, || {
        let seen = parse(&c.lines());
        want.iter().all(|id| seen.contains_key(id)).then_some(())
    });
    // Whatever else is there (duplicates written late) has had the time
    // the last change took to arrive.
    std::thread::sleep(Duration::from_secs(2));
    c.signal("INT");
    let r = c.finish(Duration::from_secs(15));
    assert_eq!(r.code, 130, "{r:?}");
    let lines: Vec<String> = r.stdout.lines().map(str::to_string).collect();
    (parse(&lines), lines.len())
}

/// The table's ids: the changes committed, whatever the writer saw.
fn committed(table: &str) -> Vec<i64> {
    psql(&format!("SELECT id FROM {table} ORDER BY id"))
        .lines()
        .map(|l| l.parse().unwrap())
        .collect()
}

/// One row of the fault report (the same columns as faults::).
/// Changes committed in the database, change records read, ids missing,
/// and records beyond one per id.
struct Tally {
    committed: usize,
    consumed: usize,
    lost: usize,
    dups: usize,
}

fn report(scenario: &str, codes: &str, t: Tally, recover: Duration, note: &str) {
    let Tally {
        committed,
        consumed,
        lost,
        dups,
    } = t;
    let line = [
        scenario.to_string(),
        "-".into(),
        codes.to_string(),
        committed.to_string(),
        consumed.to_string(),
        lost.to_string(),
        dups.to_string(),
        format!("{:.1} s", recover.as_secs_f64()),
        note.to_string(),
    ]
    .map(|s| s.replace(['\t', '\n'], " "))
    .join("\t");
    crate::faults::append_report(&line);
}

/// Reads the change topic against the table's committed rows, reports the
/// scenario's row, and fails the test if a committed change is missing;
/// returns the duplicates.
fn every_change_arrived(
    table: &str,
    topic: &str,
    scenario: &str,
    recover: Duration,
    note: &str,
) -> usize {
    let want = committed(table);
    let (seen, consumed) = read_changes(topic, &want);
    let lost: Vec<i64> = want
        .iter()
        .copied()
        .filter(|id| !seen.contains_key(id))
        .collect();
    let dups: usize = seen.values().map(|c| c - 1).sum();
    report(
        scenario,
        "-",
        Tally {
            committed: want.len(),
            consumed,
            lost: lost.len(),
            dups,
        },
        recover,
        note,
    );
    assert!(
        lost.is_empty(),
        "{} committed changes never reached {topic}: {:?}",
        lost.len(),
        &lost[..lost.len().min(20)]
    );
    dups
}

/// A table and a Debezium connector on it, streaming (its snapshot done).
fn streaming(tag: &str) -> (String, String, Connector, String) {
    let url = connect_url();
    let name = unique_name(tag);
    let table = format!("t_{}", &name[name.len() - 8..]);
    psql(&format!(
        "CREATE TABLE {table} (id bigint PRIMARY KEY, n bigint, origin text)"
    ));
    let mut config = debezium(&name, &table, &pg("PGPASSWORD"));
    config.push(("exactly.once.support", "required".into()));
    let (c, r) = Connector::create(&url, &name, &config);
    assert_eq!(r.code, 0, "{r:?}");
    let topic = format!("{name}.public.{table}");
    (url, table, c, topic)
}

/// The worker (1 or 2) that runs task 0 of `name`, from `connect describe`.
fn task_worker(url: &str, name: &str) -> u32 {
    wait_for(CDC_WAIT, "task 0 to run on a worker", || {
        let r = connect_run(url, &["describe", name, "--format", "json"]);
        let v: serde_json::Value = serde_json::from_str(&r.stdout).ok()?;
        let task = &v["status"]["tasks"][0];
        if task["state"] != "RUNNING" {
            return None;
        }
        let worker = task["worker_id"].as_str()?.to_string();
        let url2 = connect_url2();
        Some(if url2.ends_with(&worker) { 2 } else { 1 })
    })
}

/// Waits until `n` changes of the writer's arrived after `since` — the
/// first sign the stream flows again — and returns how long that took.
fn flowing_again(topic: &str, table: &str, since: Instant) -> Duration {
    let probe = 1_000_000 + (since.elapsed().as_millis() as i64 % 1000);
    psql(&format!("INSERT INTO {table} VALUES ({probe}, 0, 'probe')"));
    let c = Running::start(&[
        "consume",
        "--topic",
        topic,
        "--from-beginning",
        "--isolation",
        "read-committed",
    ]);
    c.wait_for_line(&format!("\"id\":{probe}"), CDC_WAIT);
    let took = since.elapsed();
    c.signal("INT");
    let _ = c.finish(Duration::from_secs(15));
    took
}

fn worker_sigkilled(restart_at_once: bool) {
    let (url, table, connector, topic) = streaming(if restart_at_once { "wkill" } else { "wmove" });
    let writer = Writer::start(&table);
    wait_until(CDC_WAIT, "the writer to commit 200 rows", || {
        writer.written() >= 200
    });
    // Mid-stream: the task has committed offsets while streaming (a task
    // killed before its first commit, still in its snapshot, starts over
    // with a new snapshot: Debezium's documented behaviour).
    wait_until(CDC_WAIT, "the task to commit a streaming offset", || {
        connect_run(&url, &["offsets", &connector.name])
            .stdout
            .contains("lsn_proc")
    });
    let n = task_worker(&url, &connector.name);
    let pid = worker_pid(n);
    let _restore = Restore;
    signal(pid, "KILL");
    let killed = Instant::now();
    wait_until(Duration::from_secs(10), "the worker to die", || !alive(pid));
    if restart_at_once {
        script("connect-up.sh", &[("CONNECT_WORKERS", "2")]);
    }
    let recover = flowing_again(&topic, &table, killed);
    let alive_url = if n == 1 && !restart_at_once {
        connect_url2()
    } else {
        url.clone()
    };
    let survivor = task_worker(&alive_url, &connector.name);
    let before = writer.written();
    wait_until(CDC_WAIT, "200 more rows", || {
        writer.written() >= before + 200
    });
    writer.finish();
    if !restart_at_once {
        script("connect-up.sh", &[("CONNECT_WORKERS", "2")]);
    }
    let (scenario, note) = if restart_at_once {
        (
            "connect: worker running the task SIGKILLed mid-stream, restarted",
            format!("task ran on worker {n}, then on worker {survivor}"),
        )
    } else {
        (
            "connect: worker running the task SIGKILLed, left dead (2 workers)",
            format!("task moved from worker {n} to worker {survivor}"),
        )
    };
    let dups = every_change_arrived(
        &table,
        &topic,
        scenario,
        recover,
        &format!("{note}; exactly-once source"),
    );
    assert_eq!(dups, 0, "duplicates with exactly-once source support");
    if !restart_at_once {
        assert_ne!(n, survivor, "the task did not move off the dead worker");
    }
}

#[test]
fn a_worker_sigkilled_mid_stream_and_restarted_loses_no_committed_change() {
    worker_sigkilled(true);
}

#[test]
fn a_worker_sigkilled_and_left_dead_hands_its_task_to_the_other_one() {
    worker_sigkilled(false);
}

#[test]
fn postgresql_restarted_under_a_running_connector_loses_no_committed_change() {
    let (url, table, connector, topic) = streaming("pgrestart");
    let writer = Writer::start(&table);
    wait_until(CDC_WAIT, "the writer to commit 200 rows", || {
        writer.written() >= 200
    });
    let down = Instant::now();
    let _restore = Restore;
    script("pg-down.sh", &[]);
    script("pg-up.sh", &[]);
    // Debezium retries the lost connection by restarting its task; a task
    // that gave up would show FAILED here, and is restarted as a user would.
    let status = connect_run(&url, &["list"]);
    let restarted = if status.stdout.contains("FAILED") {
        let r = connect_run(&url, &["restart", &connector.name, "--failed-only"]);
        assert_eq!(r.code, 0, "{r:?}");
        "task FAILED, `connect restart --failed-only` restarted it"
    } else {
        "the task recovered by itself"
    };
    let recover = flowing_again(&topic, &table, down);
    let before = writer.written();
    wait_until(CDC_WAIT, "200 more rows", || {
        writer.written() >= before + 200
    });
    writer.finish();
    every_change_arrived(
        &table,
        &topic,
        "connect: PostgreSQL restarted under a running connector",
        recover,
        restarted,
    );
}

#[test]
fn ctrl_c_against_a_frozen_worker_returns_within_a_second() {
    let url2 = connect_url2();
    let pid = worker_pid(2);
    signal(pid, "STOP");
    struct Thaw(u32);
    impl Drop for Thaw {
        fn drop(&mut self) {
            signal(self.0, "CONT");
        }
    }
    let _thaw = Thaw(pid);
    let c = Running::start(&[
        "connect",
        "--connect-url",
        &url2,
        "--timeout",
        "30s",
        "list",
    ]);
    std::thread::sleep(Duration::from_millis(500));
    let asked = Instant::now();
    c.signal("INT");
    let r = c.finish(Duration::from_secs(5));
    let took = asked.elapsed();
    assert_eq!(r.code, 130, "{r:?}");
    assert!(took < Duration::from_secs(1), "Ctrl-C took {took:?}");
    // Without Ctrl-C: the timeout, one line, exit 69.
    let started = Instant::now();
    let r = run(&[
        "connect",
        "--connect-url",
        &url2,
        "--timeout",
        "2s",
        "describe",
        "x",
    ]);
    let bounded = started.elapsed();
    assert_eq!(r.code, 69, "{r:?}");
    assert_eq!(
        r.stderr.lines().next().unwrap_or_default(),
        format!("kafkademo: error: Kafka Connect at {url2} did not answer within 2s")
    );
    report(
        "connect: kafkademo connect against a SIGSTOPped worker",
        "130 on Ctrl-C; 69 at --timeout 2s",
        Tally {
            committed: 0,
            consumed: 0,
            lost: 0,
            dups: 0,
        },
        took,
        &format!(
            "Ctrl-C answered in {} ms; --timeout 2s ended it in {:.1} s",
            took.as_millis(),
            bounded.as_secs_f64()
        ),
    );
}
