//! What every test needs: the broker's address (checked, never assumed), a
//! unique topic name, and the built binary run with a scrubbed environment.

use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
    let start = std::time::Instant::now();
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        if start.elapsed() > bound {
            let _ = child.kill();
            let out = child.wait_with_output().expect("wait");
            panic!(
                "process did not end within {bound:?}:\n{:?}",
                Run::from(out)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Run::from(child.wait_with_output().expect("wait"))
}
