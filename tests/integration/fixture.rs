//! What every test needs: the broker's address (checked, never assumed), a
//! unique topic name, and the built binary run with a scrubbed environment.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The brokers the tests use: KAFKA_BROKERS as `make test` sets it.
pub fn brokers() -> String {
    std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".to_string())
}

/// Panics with a clear message when no broker listens: tests never skip.
pub fn require_broker() -> String {
    let brokers = brokers();
    let first = brokers.split(',').next().unwrap_or_default().to_string();
    let addr = first
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .unwrap_or_else(|| panic!("KAFKA_BROKERS={brokers} does not resolve"));
    if let Err(e) = TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
        panic!(
            "no Kafka broker at {first} ({e}): these tests need a real broker; \
             run them with `make test`, or `make kafka-up` first"
        );
    }
    brokers
}

/// A topic name no other test (or earlier run) uses.
pub fn unique_topic(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "kd-{tag}-{}-{}-{nanos:x}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// The built binary with nothing from the caller's environment but PATH and
/// the broker list (so a developer's RUST_LOG cannot change what tests see).
pub fn kafkademo(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kafkademo"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("KAFKA_BROKERS", brokers())
        .args(args)
        .stdin(Stdio::null());
    cmd
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// The arguments that read a whole topic back to its end, one JSON object
/// a record.
pub fn read_back(topic: &str) -> [&str; 7] {
    [
        "consume",
        "--topic",
        topic,
        "--from-beginning",
        "--exit-at-end",
        "--format",
        "json",
    ]
}

/// Runs with `input` on stdin (written whole, then closed), within 60 s.
pub fn run_with_input(args: &[&str], input: &str) -> Run {
    let mut child = kafkademo(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run kafkademo");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("cannot write to kafkademo's stdin");
    wait_bounded(child, Duration::from_secs(60))
}

pub fn run(args: &[&str]) -> Run {
    Run::from(kafkademo(args).output().expect("cannot run kafkademo"))
}

/// Runs and asserts success with nothing on stderr (quiet by default).
pub fn ok(args: &[&str]) -> Run {
    let r = run(args);
    assert_eq!(r.code, 0, "kafkademo {args:?} failed:\n{r:?}");
    assert_eq!(r.stderr, "", "kafkademo {args:?} wrote to stderr:\n{r:?}");
    r
}

/// Runs and asserts the exit code and that stderr names the error in one
/// `kafkademo: error:` line (plus an optional hint line).
pub fn fails(args: &[&str], code: i32, needle: &str) -> Run {
    let r = run(args);
    assert_eq!(r.code, code, "kafkademo {args:?}: wrong exit code:\n{r:?}");
    let mut lines = r.stderr.lines();
    let first = lines.next().unwrap_or_default();
    assert!(
        first.starts_with("kafkademo: error: "),
        "no error line:\n{r:?}"
    );
    assert!(r.stderr.contains(needle), "stderr lacks {needle:?}:\n{r:?}");
    for rest in lines {
        assert!(
            rest.starts_with("  hint: "),
            "more than an error and a hint:\n{r:?}"
        );
    }
    assert!(!r.stderr.contains("panicked"), "panic:\n{r:?}");
    r
}

/// A topic created for one test and deleted when the test ends.
pub struct Topic {
    pub name: String,
}

impl Topic {
    pub fn new(tag: &str, partitions: u32) -> Topic {
        require_broker();
        let name = unique_topic(tag);
        ok(&[
            "topic",
            "create",
            &name,
            "--partitions",
            &partitions.to_string(),
        ]);
        Topic { name }
    }
}

impl Drop for Topic {
    fn drop(&mut self) {
        let _ = kafkademo(&["topic", "delete", &self.name, "--if-exists"]).output();
    }
}

pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Ctrl-C, as a terminal sends it.
pub fn sigint(child: &Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits for a child with a bound, killing it if the bound passes.
pub fn wait_bounded(mut child: Child, bound: Duration) -> Run {
    // Read both pipes while waiting: a child that writes more than a pipe
    // holds (-vvv logs) would otherwise block and never end.
    fn drain<R: std::io::Read + Send + 'static>(
        pipe: Option<R>,
    ) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut bytes);
            }
            bytes
        })
    }
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let ended = poll(bound, || {
        matches!(child.try_wait(), Ok(Some(_))).then_some(())
    });
    if ended.is_none() {
        let _ = child.kill();
    }
    let status = child.wait().expect("wait");
    let run = Run::from(Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    });
    if ended.is_none() {
        panic!("process did not end within {bound:?}:\n{run:?}");
    }
    run
}

/// Calls `check` until it returns a value or `bound` has passed (then None).
/// The one place the tests pause: between two looks at a condition, 10 ms at
/// first, doubling up to 250 ms, so a quick condition is seen at once and a
/// slow one (each look may run kafkademo) is not asked for in a busy loop.
pub fn poll<T>(bound: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + bound;
    let mut pause = Duration::from_millis(10);
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        std::thread::sleep(pause.min(left));
        pause = (pause * 2).min(Duration::from_millis(250));
    }
}

/// Waits until `check` returns a value and returns it; fails the test,
/// naming `what`, when `bound` passes first.
pub fn wait_for<T>(bound: Duration, what: &str, check: impl FnMut() -> Option<T>) -> T {
    poll(bound, check).unwrap_or_else(|| panic!("timed out after {bound:?} waiting for {what}"))
}

/// Waits until `condition` holds; fails the test, naming `what`, when
/// `bound` passes first.
pub fn wait_until(bound: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    wait_for(bound, what, || condition().then_some(()))
}

/// A running kafkademo whose stdout lines are collected as they come, so a
/// test can wait for what it printed without blocking on a read.
pub struct Running {
    child: Option<Child>,
    stdin: Option<std::process::ChildStdin>,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
    args: Vec<String>,
}

impl Running {
    pub fn start(args: &[&str]) -> Running {
        Running::spawn(kafkademo(args), args)
    }

    /// With these environment variables besides (e.g. another KAFKA_BROKERS).
    pub fn start_env(args: &[&str], env: &[(&str, &str)]) -> Running {
        let mut cmd = kafkademo(args);
        cmd.envs(env.iter().copied());
        Running::spawn(cmd, args)
    }

    /// Started in `dir` (where a config's relative paths point).
    pub fn start_in(dir: &Path, args: &[&str]) -> Running {
        let mut cmd = kafkademo(args);
        cmd.current_dir(dir);
        Running::spawn(cmd, args)
    }

    /// Like `start_in`, with a stdin to type into (`say`).
    pub fn start_in_with_stdin(dir: &Path, args: &[&str]) -> Running {
        let mut cmd = kafkademo(args);
        cmd.current_dir(dir).stdin(Stdio::piped());
        Running::spawn(cmd, args)
    }

    /// Writes one line to its stdin.
    pub fn say(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("started without a stdin");
        writeln!(stdin, "{line}").expect("cannot write to kafkademo's stdin");
        stdin.flush().expect("flush stdin");
    }

    /// Waits until a printed line contains `needle`.
    pub fn wait_for_line(&self, needle: &str, bound: Duration) -> String {
        poll(bound, || {
            self.lines().into_iter().find(|l| l.contains(needle))
        })
        .unwrap_or_else(|| {
            panic!(
                "kafkademo {:?} printed no line with {needle:?} within {bound:?}:\n{}",
                self.args,
                self.lines().join("\n")
            )
        })
    }

    fn spawn(mut cmd: Command, args: &[&str]) -> Running {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot run kafkademo");
        let stdin = child.stdin.take();
        let out = BufReader::new(child.stdout.take().expect("stdout"));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let reader = std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Running {
            child: Some(child),
            stdin,
            lines,
            reader: Some(reader),
            args: args.iter().map(|a| a.to_string()).collect(),
        }
    }

    /// The lines printed so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Waits until at least `n` lines were printed and returns them all.
    pub fn wait_lines(&self, n: usize, bound: Duration) -> Vec<String> {
        poll(bound, || {
            let lines = self.lines();
            (lines.len() >= n).then_some(lines)
        })
        .unwrap_or_else(|| {
            panic!(
                "kafkademo {:?} printed {} lines, not {n}, within {bound:?}:\n{}",
                self.args,
                self.lines().len(),
                self.lines().join("\n")
            )
        })
    }

    pub fn id(&self) -> u32 {
        self.child.as_ref().expect("already ended").id()
    }

    /// Sends a signal by name (`INT`, `KILL`, ...).
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([&format!("-{sig}"), &self.id().to_string()])
            .status()
            .expect("cannot run kill");
        assert!(status.success(), "kill -{sig} failed");
    }

    /// Waits (bounded) for the exit; `stdout` is every line it printed.
    pub fn finish(mut self, bound: Duration) -> Run {
        let child = self.child.take().expect("already ended");
        let mut r = wait_bounded(child, bound);
        if let Some(reader) = self.reader.take() {
            reader.join().expect("stdout reader");
        }
        r.stdout = self.lines().iter().map(|l| format!("{l}\n")).collect();
        r
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One partition row of `kafkademo group describe`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRow {
    pub topic: String,
    pub partition: i32,
    /// CURRENT-OFFSET: None while nothing is committed ("-").
    pub committed: Option<i64>,
    pub log_end: Option<i64>,
    /// CONSUMER-ID: None when no member owns the partition.
    pub consumer: Option<String>,
}

/// The partition rows of `kafkademo group describe GROUP`, or None when the
/// command fails (e.g. the group does not exist yet).
pub fn describe_group(group: &str) -> Option<Vec<GroupRow>> {
    let r = run(&["group", "describe", group]);
    if r.code != 0 {
        return None;
    }
    let mut lines = r.stdout.lines();
    let first = lines.next().unwrap_or_default();
    assert!(first.starts_with(&format!("Group {group}: ")), "{r:?}");
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header.get(..6),
        Some(
            &[
                "TOPIC",
                "PARTITION",
                "CURRENT-OFFSET",
                "LOG-END-OFFSET",
                "LAG",
                "CONSUMER-ID"
            ][..]
        ),
        "{r:?}"
    );
    let number = |s: &str| (s != "-").then(|| s.parse::<i64>().expect("a number or -"));
    let rows = lines
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|c| c.len() >= 6 && c[1] != "-")
        .map(|c| GroupRow {
            topic: c[0].to_string(),
            partition: c[1].parse().expect("a partition number"),
            committed: number(c[2]),
            log_end: number(c[3]),
            consumer: (c[5] != "-").then(|| c[5].to_string()),
        })
        .collect();
    Some(rows)
}

/// tmux, which `make test` installs before any test (scripts/test-setup.sh);
/// a test that needs it fails, never skips and never installs, without it.
fn require_tmux() {
    let found = std::process::Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|out| out.status.success());
    assert!(
        found,
        "tmux is not installed: this test drives a real terminal with it; \
         run scripts/test-setup.sh (as `make test` does) to install it"
    );
}

/// tmux on its own socket, so a test never touches anyone's sessions.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// A detached session `width` columns by 30 rows running `command`.
    pub fn start(width: u16, command: &str) -> Tmux {
        require_tmux();
        let tmux = Tmux {
            socket: unique_topic("tmux"),
        };
        tmux.run(&[
            "new-session",
            "-d",
            "-x",
            &width.to_string(),
            "-y",
            "30",
            command,
        ]);
        tmux
    }

    pub fn run(&self, args: &[&str]) -> String {
        let out = std::process::Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "tmux {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn screen(&self) -> String {
        self.run(&["capture-pane", "-p"])
    }

    /// Waits until the screen satisfies `done` and returns it.
    pub fn wait_for(&self, bound: Duration, what: &str, done: impl Fn(&str) -> bool) -> String {
        poll(bound, || Some(self.screen()).filter(|s| done(s))).unwrap_or_else(|| {
            panic!(
                "the terminal did not show {what} within {bound:?}:\n{}",
                self.screen()
            )
        })
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = std::process::Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

/// `inner` (a scrubbed kafkademo command) run by GNU time, which writes
/// the peak RSS in kB (its `%M`) to `report`; `peak_kb` reads it back.
/// GNU time comes from scripts/test-setup.sh.
pub fn under_gnu_time(inner: &Command, report: &std::path::Path) -> Command {
    let time = std::path::Path::new("/usr/bin/time");
    assert!(
        time.exists(),
        "peak RSS is measured with GNU time (/usr/bin/time): run scripts/test-setup.sh once, as make test does"
    );
    let mut cmd = Command::new(time);
    cmd.env_clear();
    for (k, v) in inner.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    cmd.arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(report)
        .arg(inner.get_program())
        .args(inner.get_args())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// The peak RSS GNU time wrote to `report` (then removed), for `run`.
pub fn peak_kb(report: &std::path::Path, run: &Run) -> u64 {
    let text = std::fs::read_to_string(report).unwrap_or_default();
    let _ = std::fs::remove_file(report);
    // GNU time writes "Command exited with non-zero status N" before %M.
    text.lines()
        .filter_map(|l| l.trim().parse::<u64>().ok())
        .next_back()
        .unwrap_or_else(|| panic!("no peak RSS from GNU time: {text:?}\n{run:?}"))
}
