//! Zombies: a `stream count` instance frozen (a GC pause, a VM freeze) just
//! as it sends its write, for longer than its session timeout. The group
//! gives its tasks to the other instance, which restores them and writes
//! newer counts; then the frozen instance wakes up and its stale write lands
//! last. The counts a user reads with `stream table` must still be exact.
//!
//! The freeze is made with gdb: a breakpoint on the function that sends a
//! Produce request on the modern data path stops every thread of the
//! instance (heartbeats too) exactly when its write is about to go out, and
//! holds it until the other instance has taken its tasks over and written
//! past them. gdb comes from scripts/test-setup.sh, and attaching needs
//! ptrace rights (root, CAP_SYS_PTRACE, or kernel.yama.ptrace_scope 0).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::fixture::*;
use crate::stream_fixture::*;

const BOUND: Duration = Duration::from_secs(60);
/// Every command of this test takes the modern data path (a transactional
/// fix lives there, and so does the function gdb stops in).
const MODERN: [&str; 2] = ["--protocol", "modern"];
/// The function that sends a Produce request on the modern path (generic:
/// gdb is given each instantiation by its full name).
const SEND: &str = "kafkademo::client::modern::produce::send";
const PARTITIONS: i32 = 4;
const KEYS: i64 = 100;
/// Input rate: 200 lines every 100 ms, each 5 ms of event time after the
/// last, so a 10 s window fills in about a second of feeding.
const CHUNK: usize = 200;
const STEP_MS: i64 = 5;
/// Never more than this much input (~3 min of feeding), whatever happens.
const MAX_RECORDS: i64 = 360_000;

/// The sum of a topic's end offsets, from `group reset-offsets`' dry run
/// for a group that does not exist (it changes nothing).
fn end_offsets(topic: &str) -> i64 {
    let r = run(&[
        "group",
        "reset-offsets",
        "--to-latest",
        "--topic",
        topic,
        &format!("{topic}-end-probe"),
    ]);
    assert_eq!(r.code, 0, "end offsets of {topic}: {r:?}");
    r.stdout
        .lines()
        .filter(|l| l.starts_with(topic))
        .map(|l| {
            l.split_whitespace()
                .nth(3)
                .and_then(|n| n.parse::<i64>().ok())
                .unwrap_or_else(|| panic!("no NEW-OFFSET in {l:?}: {r:?}"))
        })
        .sum()
}

/// Keyed input lines `kNN:{"t":TIME,"n":I}` written to a console producer,
/// CHUNK lines every 100 ms, from now until `stop` (or MAX_RECORDS). Event
/// times are in order except every 50th record 1.5 s early (within the 2 s
/// grace); each record's window is remembered for the batch recomputation.
struct Feeder {
    producer: Producer,
    expected: Arc<Mutex<BTreeMap<String, i64>>>,
}

impl Feeder {
    fn start(topic: &str) -> Feeder {
        let mut args = MODERN.to_vec();
        args.extend(["produce", "--topic", topic, "--key-separator", ":"]);
        let expected = Arc::new(Mutex::new(BTreeMap::new()));
        let windows = expected.clone();
        // Event times from 15 minutes ago: well inside the topics' retention.
        let b = (now_ms() - 900_000) / 10_000 * 10_000;
        let mut i = 0i64;
        let producer = Producer::start(&args, move || {
            if i >= MAX_RECORDS {
                return None;
            }
            let mut block = String::new();
            let mut expected = windows.lock().unwrap();
            for _ in 0..CHUNK {
                let key = format!("k{:02}", (i * 7919) % KEYS);
                let mut t = b + i * STEP_MS;
                if i % 50 == 49 {
                    t -= 1_500;
                }
                block.push_str(&format!("{key}:{{\"t\":{t},\"n\":{i}}}\n"));
                *expected.entry(window(&key, t)).or_insert(0) += 1;
                i += 1;
            }
            Some(block)
        });
        Feeder { producer, expected }
    }

    fn written(&self) -> i64 {
        self.producer.written()
    }

    /// Stops feeding; returns how many records were written and every
    /// window's count, once the producer exited 0.
    fn finish(self) -> (i64, BTreeMap<String, i64>) {
        self.producer.stop();
        let total = self.producer.finish(BOUND);
        let expected = std::mem::take(&mut *self.expected.lock().unwrap());
        assert!(
            total < MAX_RECORDS,
            "the input ran out ({MAX_RECORDS} records) before the test was done with it"
        );
        (total, expected)
    }
}

/// A running `stream count` instance whose stderr lines are collected.
struct Instance {
    name: &'static str,
    child: Option<Child>,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<JoinHandle<()>>,
}

impl Instance {
    fn start(name: &'static str, args: &[&str]) -> Instance {
        let mut child = kafkademo(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot run kafkademo stream count");
        let err = BufReader::new(child.stderr.take().expect("stderr"));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let reader = std::thread::spawn(move || {
            for line in err.lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Instance {
            name,
            child: Some(child),
            lines,
            reader: Some(reader),
        }
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().expect("already ended").id()
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    fn transcript(&self) -> String {
        format!("--- {} stderr\n{}", self.name, self.lines().join("\n"))
    }

    /// Each `stream count: tasks [..] restored from` line: its index among
    /// the lines and the tasks it names.
    fn restores(&self) -> Vec<(usize, BTreeSet<i32>)> {
        self.lines()
            .iter()
            .enumerate()
            .filter_map(|(i, l)| {
                let rest = l.strip_prefix("stream count: tasks [")?;
                let (list, rest) = rest.split_once(']')?;
                if !rest.starts_with(" restored from") {
                    return None;
                }
                let tasks = list
                    .split(',')
                    .filter(|s| !s.trim().is_empty())
                    .map(|s| s.trim().parse().expect("a task number"))
                    .collect();
                Some((i, tasks))
            })
            .collect()
    }

    /// The tasks of the last restore at or after line `from`, if any.
    fn tasks_since(&self, from: usize) -> Option<BTreeSet<i32>> {
        self.restores()
            .into_iter()
            .rfind(|(i, _)| *i >= from)
            .map(|(_, t)| t)
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// Ctrl-C, then the exit (bounded).
    fn interrupt(mut self) -> Run {
        let child = self.child.take().expect("already ended");
        sigint(&child);
        let mut r = wait_bounded(child, BOUND);
        if let Some(reader) = self.reader.take() {
            reader.join().expect("stderr reader");
        }
        r.stderr = self.lines().join("\n");
        r
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Both instances have restored tasks since line `a_from` / `b_from` of
/// their stderr, and between them hold every task once.
fn settled(a: &Instance, a_from: usize, b: &Instance, b_from: usize) -> bool {
    let (Some(ta), Some(tb)) = (a.tasks_since(a_from), b.tasks_since(b_from)) else {
        return false;
    };
    !ta.is_empty()
        && !tb.is_empty()
        && ta.is_disjoint(&tb)
        && ta.union(&tb).copied().collect::<BTreeSet<_>>() == (0..PARTITIONS).collect()
}

/// Fails the test naming scripts/test-setup.sh when gdb is missing.
fn require_gdb() {
    let found = Command::new("gdb")
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "gdb is missing: zombies:: freezes a `stream count` instance with it; \
         install it with scripts/test-setup.sh (Debian package gdb)"
    );
}

/// gdb driven on its stdin, one command at a time: each command is
/// followed by an `echo` of a marker, and its output is what gdb printed
/// before the marker. Killed on drop, so a failing test never leaves a
/// process frozen (an instance still attached then runs on into its next
/// breakpoint trap and dies of it; the test kills it anyway).
struct Gdb {
    child: Child,
    stdin: ChildStdin,
    out: Arc<Mutex<Vec<String>>>,
    sent: usize,
    seen: usize,
}

impl Gdb {
    /// gdb with the kafkademo binary's symbols loaded (before attaching,
    /// so the attach itself holds the instance only a moment).
    fn load() -> Gdb {
        let mut child = Command::new("gdb")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            // Its index cache's place (init files are off: -nx).
            .env("HOME", std::env::var_os("HOME").unwrap_or("/tmp".into()))
            .args([
                "-q",
                "-nx",
                "-iex",
                "set debuginfod enabled off",
                "-iex",
                "set auto-load no",
                env!("CARGO_BIN_EXE_kafkademo"),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot run gdb");
        let stdin = child.stdin.take().expect("gdb stdin");
        let out = Arc::new(Mutex::new(Vec::new()));
        fn collect<R: Read + Send + 'static>(pipe: R, sink: Arc<Mutex<Vec<String>>>) {
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    // Prompts come without a line end, before the next output.
                    let mut line = line.as_str();
                    while let Some(rest) = line.strip_prefix("(gdb) ") {
                        line = rest;
                    }
                    sink.lock().unwrap().push(line.to_string());
                }
            });
        }
        collect(child.stdout.take().expect("gdb stdout"), out.clone());
        collect(child.stderr.take().expect("gdb stderr"), out.clone());
        let mut gdb = Gdb {
            child,
            stdin,
            out,
            sent: 0,
            seen: 0,
        };
        for setting in [
            "set pagination off",
            "set confirm off",
            "set width 0",
            "set height 0",
            "set print thread-events off",
            "set print inferior-events off",
            "set print max-depth 2",
            "set print elements 8",
        ] {
            gdb.command(setting, BOUND);
        }
        gdb
    }

    /// Runs one command and returns what gdb printed for it; fails the test
    /// when it takes longer than `bound`.
    fn command(&mut self, command: &str, bound: Duration) -> Vec<String> {
        self.sent += 1;
        let marker = format!("@@zombies-{}@@", self.sent);
        let written =
            writeln!(self.stdin, "{command}\necho {marker}\\n").and_then(|()| self.stdin.flush());
        if let Err(e) = written {
            panic!(
                "gdb exited before `{command}` ({e}):\n{}",
                self.transcript()
            );
        }
        let lines = poll(bound, || {
            let out = self.out.lock().unwrap();
            out.iter()
                .skip(self.seen)
                .position(|l| l.contains(&marker))
                .map(|at| (self.seen + at, out[self.seen..self.seen + at].to_vec()))
        });
        let Some((at, lines)) = lines else {
            panic!(
                "gdb did not finish `{command}` within {bound:?}:\n{}",
                self.transcript()
            );
        };
        self.seen = at + 1;
        lines
    }

    fn transcript(&self) -> String {
        format!("--- gdb\n{}", self.out.lock().unwrap().join("\n"))
    }

    /// A breakpoint on every instantiation of SEND. (`rbreak` finds them
    /// but gdb 13 cannot set a breakpoint on the mangled names it finds for
    /// Rust generics; by the full demangled name it can.)
    fn break_on_send(&mut self) {
        let listed = self.command(&format!("info functions ^{SEND}"), BOUND);
        let names: BTreeSet<String> = listed
            .iter()
            .filter_map(|l| {
                let at = l.find(&format!("fn {SEND}"))? + 3;
                // The name runs to the parameter list (generic arguments
                // may hold parentheses of their own).
                let mut depth = 0;
                let end = l[at..].char_indices().find_map(|(i, c)| {
                    match c {
                        '<' => depth += 1,
                        '>' => depth -= 1,
                        '(' if depth == 0 => return Some(i),
                        _ => {}
                    }
                    None
                })?;
                let name = &l[at..at + end];
                let rest = &name[SEND.len()..];
                (rest.is_empty() || rest.starts_with('<')).then(|| name.to_string())
            })
            .collect();
        assert!(
            !names.is_empty(),
            "no function {SEND} in {}:\n{}",
            env!("CARGO_BIN_EXE_kafkademo"),
            listed.join("\n")
        );
        for name in &names {
            let r = self.command(&format!("break '{name}'"), BOUND);
            assert!(
                r.iter().any(|l| l.starts_with("Breakpoint ")),
                "gdb set no breakpoint on {name}:\n{}",
                self.transcript()
            );
        }
    }

    fn attach(&mut self, pid: u32) {
        let r = self.command(&format!("attach {pid}"), BOUND);
        let refused = r
            .iter()
            .any(|l| l.contains("ptrace:") || l.contains("Could not attach"));
        assert!(
            !refused,
            "gdb could not attach to kafkademo (pid {pid}): the test needs ptrace \
             rights (root, CAP_SYS_PTRACE, or kernel.yama.ptrace_scope 0):\n{}",
            self.transcript()
        );
        assert!(
            r.iter()
                .any(|l| l.starts_with("Attaching to") && l.ends_with(&format!("process {pid}"))),
            "gdb did not attach to {pid}:\n{}",
            self.transcript()
        );
    }

    /// Lets the instance run until it stops in SEND with `topic` as the
    /// topic argument (a Produce to another topic is let through); returns
    /// the breakpoint line.
    fn run_until_send_to(&mut self, topic: &str, bound: Duration) -> String {
        let deadline = Instant::now() + bound;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let r = self.command("continue", left);
            // `Thread 1 "kafkademo" hit Breakpoint 1, …send<…> (…) at FILE:LINE`
            // (with one thread: `Breakpoint 1, …`).
            let hit = r.iter().find(|l| {
                l.contains("hit Breakpoint ") || (l.starts_with("Breakpoint ") && l.contains(", "))
            });
            let Some(hit) = hit.cloned() else {
                panic!(
                    "the instance did not stop at the breakpoint on {SEND}:\n{}",
                    self.transcript()
                );
            };
            let printed = self.command("print -elements unlimited -- topic", BOUND);
            // (A send without a `topic` argument: any Produce will do.)
            if printed
                .iter()
                .any(|l| l.contains(&format!("\"{topic}\"")) || l.starts_with("No symbol"))
            {
                self.command("backtrace 6", BOUND);
                return hit;
            }
            assert!(
                Instant::now() < deadline,
                "no Produce to {topic} within {bound:?}:\n{}",
                self.transcript()
            );
        }
    }

    /// Lets the stopped send run to its end (its Produce request answered),
    /// then detaches; returns what `finish` printed.
    fn release(mut self) -> Vec<String> {
        self.command("delete", BOUND);
        let finished = self.command("finish", BOUND);
        assert!(
            finished.iter().any(|l| l.starts_with("Run till exit")),
            "the stopped send did not run to its end:\n{}",
            self.transcript()
        );
        let detached = self.command("detach", BOUND);
        assert!(
            detached.iter().any(|l| l.contains("Detaching from")),
            "gdb did not detach:\n{}",
            self.transcript()
        );
        let _ = writeln!(self.stdin, "quit");
        let _ = self.stdin.flush();
        let ended = poll(BOUND, || {
            matches!(self.child.try_wait(), Ok(Some(_))).then_some(())
        });
        assert!(ended.is_some(), "gdb did not quit:\n{}", self.transcript());
        finished
    }
}

impl Drop for Gdb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one freeze did.
struct Pause {
    zombie: &'static str,
    tasks: BTreeSet<i32>,
    /// From the breakpoint's hit to the other instance's restore of the
    /// frozen instance's tasks, and to the release.
    takeover: Duration,
    held: Duration,
    /// How its Produce request was answered once let go.
    answer: &'static str,
    /// Where the breakpoint stopped it (file:line).
    at: String,
}

/// Freezes `zombie` in its next Produce to the output topic, holds it until
/// `other` has restored the zombie's tasks, written to the output since,
/// and counted all the input fed until the takeover (so the windows the
/// zombie is about to write are closed for their new owner: nothing it
/// writes later can hide a stale count), then lets the stale write go and
/// waits for the two to share the tasks again.
fn freeze_while_writing(
    zombie: &mut Instance,
    other: &mut Instance,
    app: &App,
    feeder: &Feeder,
) -> Pause {
    let mut gdb = Gdb::load();
    gdb.break_on_send();
    let other_from = other.lines().len();
    gdb.attach(zombie.pid());
    let hit = gdb.run_until_send_to(&app.output, BOUND);
    let frozen = Instant::now();
    // Stopped: what it printed last is what it holds.
    let tasks = zombie
        .tasks_since(0)
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| {
            panic!(
                "{} stopped in a send without tasks ({hit}):\n{}",
                zombie.name,
                zombie.transcript()
            )
        });
    let restored = poll(BOUND, || {
        other
            .restores()
            .into_iter()
            .any(|(i, t)| i >= other_from && t.is_superset(&tasks))
            .then(Instant::now)
    });
    let Some(restored) = restored else {
        panic!(
            "{} did not restore the frozen {}'s tasks {tasks:?} within {BOUND:?}:\n{}\n{}\n{}",
            other.name,
            zombie.name,
            other.transcript(),
            zombie.transcript(),
            gdb.transcript()
        );
    };
    let fed = feeder.written();
    let end = end_offsets(&app.output);
    wait_until(
        BOUND,
        &format!(
            "the output to move on after {} took over {tasks:?}",
            other.name
        ),
        || end_offsets(&app.output) > end,
    );
    wait_until(
        BOUND,
        &format!(
            "{} to count the {fed} records fed until it took over {tasks:?}",
            other.name
        ),
        || committed(&app.id) >= fed,
    );
    let held = frozen.elapsed();
    let zombie_from = zombie.lines().len();
    let other_from = other.lines().len();
    let finished = gdb.release();
    // It learns it was dropped, rejoins, and the two share the tasks again
    // (neither may die of it).
    let frozen_one = zombie.name;
    let back = poll(BOUND, || {
        for instance in [&mut *zombie, &mut *other] {
            assert!(
                instance.alive(),
                "{} ended after the freeze of {frozen_one}:\n{}",
                instance.name,
                instance.transcript()
            );
        }
        settled(zombie, zombie_from, other, other_from).then_some(())
    });
    assert!(
        back.is_some(),
        "{} and {} did not share the tasks again within {BOUND:?} of the release:\n{}\n{}",
        zombie.name,
        other.name,
        zombie.transcript(),
        other.transcript()
    );
    Pause {
        zombie: zombie.name,
        tasks,
        takeover: restored - frozen,
        held,
        answer: match finished.iter().find(|l| l.starts_with("Value returned")) {
            Some(v) if v.contains(">::Ok(") => "acknowledged",
            Some(v) if v.contains(">::Err(") => "refused",
            _ => "answered",
        },
        at: hit
            .rsplit_once(" at ")
            .map_or(hit.clone(), |(_, at)| at.to_string()),
    }
}

#[test]
fn a_frozen_instance_writing_after_its_tasks_moved_leaves_the_counts_exact() {
    require_gdb();
    let input = Topic::new("zb-in", PARTITIONS as u32);
    let app = App::new("zb");
    let feeder = Feeder::start(&input.name);
    let mut args = MODERN.to_vec();
    args.extend(count_args(&input.name, &app.output, &app.id));
    args.extend([
        // The broker's minimum: a frozen instance is dropped 6 s into its freeze.
        "--session-timeout",
        "6s",
        // The freezes last longer than the default 10 s: that must not
        // close windows by the wall clock (another matter than this test's).
        "--idle-flush",
        "10m",
    ]);
    let mut first = Instance::start("instance 1", &args);
    let mut second = Instance::start("instance 2", &args);
    wait_until(BOUND, "the two instances to share the four tasks", || {
        settled(&first, 0, &second, 0)
    });
    let one = freeze_while_writing(&mut first, &mut second, &app, &feeder);
    let two = freeze_while_writing(&mut second, &mut first, &app, &feeder);
    let (total, expected) = feeder.finish();
    // The survivors read to the end, then leave with Ctrl-C; a last
    // instance writes whatever they had not (as a restart would).
    wait_until(BOUND, "the instances to count every record", || {
        committed(&app.id) >= total
    });
    for instance in [first, second] {
        let r = instance.interrupt();
        assert_eq!(r.code, 130, "{r:?}");
    }
    let mut last = args.clone();
    last.push("--exit-at-end");
    let r = run(&last);
    assert_eq!(r.code, 0, "the last instance: {r:?}");
    let got = table_with(kafkademo, &MODERN, &app.output);
    let pauses: Vec<String> = [&one, &two]
        .iter()
        .map(|p| {
            format!(
                "{} frozen at {} sending to the output with tasks {:?}: taken over after \
                 {:.1} s, let go after {:.1} s, its stale write {}",
                p.zombie,
                p.at,
                p.tasks,
                p.takeover.as_secs_f64(),
                p.held.as_secs_f64(),
                p.answer
            )
        })
        .collect();
    eprintln!("zombies: {total} records fed; {}", pauses.join("; "));
    let mut over = Vec::new();
    let mut short = Vec::new();
    for (window, &n) in &expected {
        let g = got.get(window).copied().unwrap_or(0);
        if g > n {
            over.push((window.clone(), g, n));
        } else if g < n {
            short.push((window.clone(), g, n));
        }
    }
    for (window, &g) in &got {
        if !expected.contains_key(window) {
            over.push((window.clone(), g, 0));
        }
    }
    let sum = |v: &[(String, i64, i64)]| v.iter().map(|(_, g, n)| (g - n).abs()).sum::<i64>();
    let show = |v: &[(String, i64, i64)]| {
        v.iter()
            .take(5)
            .map(|(w, g, n)| format!("{w}: {g} not {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    assert!(
        over.is_empty() && short.is_empty(),
        "after two zombie writes, {} of {} windows are wrong: {} over by {} records ({}), \
         {} short by {} records ({}); {}",
        over.len() + short.len(),
        expected.len(),
        over.len(),
        sum(&over),
        show(&over),
        short.len(),
        sum(&short),
        show(&short),
        pauses.join("; ")
    );
    assert_eq!(got, expected);
}
