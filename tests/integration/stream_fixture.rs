//! What the `stream` tests share (streams::, zombies::, faults::streams::):
//! the clock their event times come from, a group's progress, an input fed
//! to a console producer while the test goes on, and the counts read back
//! from an output topic as a user reads them.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::fixture::*;

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The sum of the group's committed offsets (0 before the first commit).
pub fn committed(group: &str) -> i64 {
    describe_group(group)
        .unwrap_or_default()
        .iter()
        .filter_map(|r| r.committed)
        .sum()
}

/// `stream count` over `input` into `output` as application `app`: 10 s
/// windows, 2 s grace, event time from the JSON field `t`.
pub fn count_args<'a>(input: &'a str, output: &'a str, app: &'a str) -> Vec<&'a str> {
    vec![
        "stream",
        "count",
        "--input",
        input,
        "--output",
        output,
        "--application-id",
        app,
        "--window",
        "10s",
        "--grace",
        "2s",
        "--time-field",
        "t",
    ]
}

/// The key `stream count` (count_args' 10 s windows) writes the count of
/// `key`'s window at event time `t` (ms) under: `KEY@START`.
pub fn window(key: &str, t: i64) -> String {
    format!("{key}@{}", t.div_euclid(10_000) * 10_000)
}

/// What `stream count` created for an application, deleted whatever the
/// test did.
pub struct App {
    pub id: String,
    pub output: String,
}

impl App {
    pub fn new(tag: &str) -> App {
        App {
            id: unique_topic(tag),
            output: unique_topic(&format!("{tag}-out")),
        }
    }
}

impl Drop for App {
    fn drop(&mut self) {
        // After a failure killed instances stay in the group until their
        // session ends, and reset refuses until then.
        poll(Duration::from_secs(15), || {
            let reset = kafkademo(&["stream", "reset", "--application-id", &self.id]).output();
            reset.is_ok_and(|o| o.status.success()).then_some(())
        });
        let _ = kafkademo(&["topic", "delete", &self.output, "--if-exists"]).output();
    }
}

/// Each line of `--format json` output (`consume`, `stream table`): its
/// key, and its value read as JSON.
pub fn json_rows(stdout: &str) -> impl Iterator<Item = (String, serde_json::Value)> + '_ {
    stdout.lines().map(|line| {
        let row: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        let key = row["key"].as_str().expect("a key").to_string();
        let value =
            serde_json::from_str(row["value"].as_str().expect("a value")).expect("a JSON value");
        (key, value)
    })
}

/// The `count` of each window's last value.
pub fn counts(last: &BTreeMap<String, serde_json::Value>) -> BTreeMap<String, i64> {
    last.iter()
        .map(|(k, v)| (k.clone(), v["count"].as_i64().expect("a count")))
        .collect()
}

/// The counts a user reads: `stream table` to the end, the last count per
/// window. `kafkademo` makes the command (the fixture's, or one for
/// another cluster); `global` options go before the subcommand.
pub fn table_with(
    kafkademo: impl Fn(&[&str]) -> Command,
    global: &[&str],
    topic: &str,
) -> BTreeMap<String, i64> {
    let mut args = global.to_vec();
    args.extend([
        "stream",
        "table",
        "--topic",
        topic,
        "--exit-at-end",
        "--format",
        "json",
    ]);
    let r = Run::from(kafkademo(&args).output().expect("cannot run kafkademo"));
    assert_eq!(r.code, 0, "kafkademo {args:?}: {r:?}");
    counts(&json_rows(&r.stdout).collect())
}

/// Input text fed to a writer (a console producer's stdin) by a thread:
/// each block `next` returns, then a pause of `pace` (the input's rate, not
/// a wait for a condition), until `next` returns None, `stop`, or a write
/// fails. The writer is closed when the thread ends.
pub struct Feed {
    stop: Arc<AtomicBool>,
    written: Arc<AtomicI64>,
    writer: Option<JoinHandle<std::io::Result<()>>>,
}

impl Feed {
    pub fn start(
        mut to: impl Write + Send + 'static,
        pace: Duration,
        mut next: impl FnMut() -> Option<String> + Send + 'static,
    ) -> Feed {
        let stop = Arc::new(AtomicBool::new(false));
        let written = Arc::new(AtomicI64::new(0));
        let (stop2, written2) = (stop.clone(), written.clone());
        let writer = std::thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                let Some(block) = next() else { break };
                to.write_all(block.as_bytes())?;
                let lines = block.bytes().filter(|&b| b == b'\n').count() as i64;
                written2.fetch_add(lines, Ordering::SeqCst);
                std::thread::sleep(pace);
            }
            Ok(())
        });
        Feed {
            stop,
            written,
            writer: Some(writer),
        }
    }

    /// How many lines were written so far.
    pub fn written(&self) -> i64 {
        self.written.load(Ordering::SeqCst)
    }

    /// Stops after the block being written.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Waits until the thread ended (every block written, or stopped);
    /// Err when a write failed.
    pub fn join(&mut self) -> std::io::Result<()> {
        match self.writer.take() {
            Some(writer) => writer.join().expect("the input writer"),
            None => Ok(()),
        }
    }
}

impl Drop for Feed {
    /// A failed test's input stops.
    fn drop(&mut self) {
        self.stop();
    }
}

/// `kafkademo produce` with `args`, fed by a Feed 100 ms apart.
pub struct Producer {
    child: Option<Child>,
    feed: Feed,
}

impl Producer {
    pub fn start(args: &[&str], next: impl FnMut() -> Option<String> + Send + 'static) -> Producer {
        let mut child = kafkademo(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot run kafkademo produce");
        let stdin = child.stdin.take().expect("stdin");
        Producer {
            child: Some(child),
            feed: Feed::start(stdin, Duration::from_millis(100), next),
        }
    }

    /// How many lines were written to it so far.
    pub fn written(&self) -> i64 {
        self.feed.written()
    }

    /// Stops feeding it after the block being written.
    pub fn stop(&self) {
        self.feed.stop();
    }

    /// Waits until the feed ended (its end closes the producer's stdin: it
    /// flushes and exits) and the producer exited 0 within `bound`; returns
    /// how many lines it was fed.
    pub fn finish(mut self, bound: Duration) -> i64 {
        let fed = self.feed.join();
        let r = wait_bounded(self.child.take().expect("finished once"), bound);
        assert_eq!(r.code, 0, "the producer: {r:?}");
        fed.expect("the input writer could not write to the producer");
        self.written()
    }
}

impl Drop for Producer {
    /// A failed test's producer is killed (its feed then ends on a broken pipe).
    fn drop(&mut self) {
        self.feed.stop();
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
