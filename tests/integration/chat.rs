//! `kafkademo chat` end to end: chat processes with piped stdin against the
//! real broker, and one session in a real terminal (tmux).

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::fixture::*;

/// Generous bound for anything that should take well under a second.
const SOON: Duration = Duration::from_secs(20);

/// A room for one test; its two topics are deleted when the test ends.
struct Room {
    name: String,
}

impl Room {
    fn new(tag: &str) -> Room {
        require_broker();
        Room {
            name: unique_topic(&format!("chat-{tag}")),
        }
    }

    fn topic(&self) -> String {
        format!("chat.{}", self.name)
    }

    fn join(&self, user: &str, extra: &[&str]) -> Member {
        let mut args = vec!["chat", "--user", user, "--room", &self.name];
        args.extend_from_slice(extra);
        Member::spawn(user, &args)
    }
}

impl Drop for Room {
    fn drop(&mut self) {
        for t in [self.topic(), format!("{}.presence", self.topic())] {
            let _ = kafkademo(&["topic", "delete", &t, "--if-exists"]).output();
        }
    }
}

/// One chat process: its stdin to type into, its stdout lines as they come.
struct Member {
    user: String,
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Member {
    fn spawn(user: &str, args: &[&str]) -> Member {
        let mut child = kafkademo(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot run kafkademo");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Member {
            user: user.to_string(),
            stdin: child.stdin.take(),
            child: Some(child),
            lines,
            seen: Vec::new(),
        }
    }

    fn say(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin already closed");
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    /// Waits (bounded) for a line containing `needle` and returns it.
    fn expect(&mut self, needle: &str) -> String {
        self.expect_within(needle, SOON)
    }

    fn expect_within(&mut self, needle: &str, bound: Duration) -> String {
        if let Some(line) = self.seen.iter().find(|l| l.contains(needle)) {
            return line.clone();
        }
        let deadline = Instant::now() + bound;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => panic!(
                    "{} did not show {needle:?} within {bound:?}; it showed:\n{}",
                    self.user,
                    self.seen.join("\n")
                ),
                Err(RecvTimeoutError::Disconnected) => {
                    let stderr = self.stderr();
                    panic!(
                        "{} ended without showing {needle:?}; it showed:\n{}\n--- stderr\n{stderr}",
                        self.user,
                        self.seen.join("\n")
                    )
                }
            }
        }
    }

    /// Lines containing `needle` seen so far.
    fn count(&self, needle: &str) -> usize {
        self.seen.iter().filter(|l| l.contains(needle)).count()
    }

    fn stderr(&mut self) -> String {
        let mut s = String::new();
        if let Some(child) = self.child.as_mut() {
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut s);
            }
        }
        s
    }

    /// Closes stdin (Ctrl-D) and waits for the exit; returns what it printed
    /// after the lines already seen.
    fn finish(&mut self) -> Run {
        self.stdin.take();
        self.wait()
    }

    fn wait(&mut self) -> Run {
        let child = self.child.take().expect("already finished");
        let mut r = wait_bounded(child, SOON);
        // The reader thread has the stdout; collect what it still holds.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(line);
        }
        r.stdout = self.seen.join("\n");
        r
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `[12:01:02] bob: hi`: a time, then the rest.
fn assert_timed(line: &str, rest: &str) {
    let b = line.as_bytes();
    let timed = b.len() > 11
        && b[0] == b'['
        && b[9] == b']'
        && b[10] == b' '
        && line[1..9].chars().enumerate().all(|(i, c)| {
            if i % 3 == 2 {
                c == ':'
            } else {
                c.is_ascii_digit()
            }
        });
    assert!(timed, "no [HH:MM:SS] time on {line:?}");
    assert_eq!(&line[11..], rest, "{line:?}");
}

#[test]
fn two_members_exchange_messages_both_ways() {
    let room = Room::new("two");
    let mut alice = room.join("alice", &[]);
    alice.expect("* alice joined");
    let mut bob = room.join("bob", &[]);
    bob.expect("* bob joined");
    alice.expect("* bob joined");

    alice.say("hello bob");
    assert_timed(&bob.expect("alice: hello"), "alice: hello bob");
    assert_timed(&alice.expect("alice: hello"), "alice: hello bob");
    bob.say("hi alice, 🦀 & \"quotes\"");
    assert_timed(&alice.expect("bob: hi"), "bob: hi alice, 🦀 & \"quotes\"");
    bob.expect("bob: hi");

    alice.say("/quit");
    let a = alice.wait();
    assert_eq!(a.code, 0, "{a:?}");
    assert_eq!(a.stderr, "", "{a:?}");
    bob.expect("* alice left");
    let b = bob.finish(); // Ctrl-D
    assert_eq!(b.code, 0, "{b:?}");
    assert_eq!(b.stderr, "", "{b:?}");
    // Each message once on each screen: the sender's own included.
    for m in [&alice, &bob] {
        assert_eq!(m.count("alice: hello bob"), 1, "{}", m.seen.join("\n"));
        assert_eq!(m.count("bob: hi alice"), 1, "{}", m.seen.join("\n"));
    }
    // Bob's transcript ends with his own leave notice.
    assert!(b.stdout.ends_with("* bob left"), "{b:?}");
}

#[test]
fn a_later_member_sees_history_and_is_in_who() {
    let room = Room::new("later");
    let mut alice = room.join("alice", &[]);
    alice.expect("* alice joined");
    let mut bob = room.join("bob", &[]);
    alice.expect("* bob joined");
    alice.say("first");
    bob.expect("alice: first");
    bob.say("second");
    alice.expect("bob: second");

    let mut carol = room.join("carol", &[]);
    carol.expect("* carol joined");
    let history: Vec<&String> = carol
        .seen
        .iter()
        .take_while(|l| !l.contains("carol joined"))
        .collect();
    let rests: Vec<&str> = history.iter().map(|l| &l[11..]).collect();
    assert_eq!(
        rests,
        [
            "* alice joined",
            "* bob joined",
            "alice: first",
            "bob: second"
        ],
        "{history:?}"
    );
    carol.say("/who");
    carol.expect("* here (3): alice, bob, carol");
    alice.expect("* carol joined");
    alice.say("/who");
    alice.expect("* here (3): alice, bob, carol");

    // --history 2: only the last two records before joining.
    let mut dave = room.join("dave", &["--history", "2"]);
    dave.expect("* dave joined");
    assert_eq!(dave.seen.len(), 3, "{:?}", dave.seen);
    assert!(dave.seen[0].ends_with("bob: second"), "{:?}", dave.seen);
    assert!(dave.seen[1].ends_with("* carol joined"), "{:?}", dave.seen);
}

#[test]
fn a_killed_member_drops_out_of_who() {
    let room = Room::new("killed");
    let mut alice = room.join("alice", &[]);
    alice.expect("* alice joined");
    let mut bob = room.join("bob", &[]);
    alice.expect("* bob joined");
    alice.say("/who");
    alice.expect("* here (2): alice, bob");

    let mut child = bob.child.take().unwrap();
    child.kill().unwrap(); // SIGKILL: no leave notice
    let killed = Instant::now();
    child.wait().unwrap();
    // Default heartbeat 2 s, gone after 3 missed: 4 to 6 s after the kill.
    let line = alice.expect_within("* bob dropped out", Duration::from_secs(30));
    let took = killed.elapsed();
    eprintln!("bob dropped out {took:?} after SIGKILL: {line}");
    assert!(line.contains("(no heartbeat for "), "{line}");
    alice.say("/who");
    alice.expect("* here (1): alice");
    assert_eq!(alice.count("* bob left"), 0, "{:?}", alice.seen);
    let a = alice.finish();
    assert_eq!(a.code, 0, "{a:?}");
}

#[test]
fn another_rooms_messages_are_not_seen() {
    let one = Room::new("one");
    let two = Room::new("two");
    let mut alice = one.join("alice", &[]);
    alice.expect("* alice joined");
    let mut bob = two.join("bob", &[]);
    bob.expect("* bob joined");
    bob.say("secret in room two");
    bob.expect("bob: secret in room two");
    alice.say("marker");
    alice.expect("alice: marker");
    alice.say("/who");
    alice.expect("* here (1): alice");
    let a = alice.finish();
    assert_eq!(a.code, 0, "{a:?}");
    assert!(!a.stdout.contains("secret"), "{a:?}");
    assert!(!a.stdout.contains("bob"), "{a:?}");
}

#[test]
fn bad_user_and_room_names_exit_2() {
    fails(
        &["chat", "--user", ""],
        2,
        "invalid user name '': it must not be empty",
    );
    fails(&["chat", "--user", "   "], 2, "must not be empty");
    fails(
        &["chat", "--user", &"x".repeat(33)],
        2,
        "it is 33 characters long; the limit is 32",
    );
    fails(
        &["chat", "--user", "evil\u{1b}[2J"],
        2,
        "contains the control character \\u{1b}",
    );
    fails(&["chat", "--user", "a\nb"], 2, "control character");
    fails(
        &["chat", "--user", "ok", "--room", "no.dots"],
        2,
        "invalid room name 'no.dots'",
    );
    fails(
        &["chat", "--user", "ok", "--heartbeat", "10ms"],
        2,
        "--heartbeat 10ms is out of range",
    );
    let r = run(&["chat"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("--user"), "{r:?}");
}

#[test]
fn no_broker_is_reported_at_once() {
    let start = Instant::now();
    fails(
        &["--brokers", "127.0.0.1:1", "chat", "--user", "alice"],
        69,
        "cannot reach Kafka at 127.0.0.1:1",
    );
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[test]
fn malformed_records_are_shown_and_the_chat_goes_on() {
    let room = Room::new("malformed");
    let mut alice = room.join("alice", &[]);
    alice.expect("* alice joined");
    let mut producer = kafkademo(&["produce", "--topic", &room.topic()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    producer
        .stdin
        .take()
        .unwrap()
        .write_all(b"not json at all\n{\"kind\":\"message\",\"user\":\"x\"}\n")
        .unwrap();
    let p = wait_bounded(producer, SOON);
    assert_eq!(p.code, 0, "{p:?}");
    let line = alice.expect("(malformed record at offset 1:");
    assert_eq!(
        line,
        "[??:??:??] (malformed record at offset 1: not JSON (expected ident at line 1 column 2): \"not json at all\")"
    );
    alice.expect("(malformed record at offset 2: a message without \"text\"");
    alice.say("still here");
    alice.expect("alice: still here");
    let a = alice.finish();
    assert_eq!((a.code, a.stderr.as_str()), (0, ""), "{a:?}");
}

#[test]
fn an_oversize_message_is_refused_and_the_chat_goes_on() {
    let room = Room::new("oversize");
    ok(&[
        "topic",
        "create",
        &room.topic(),
        "--config",
        "max.message.bytes=2000",
    ]);
    let mut alice = room.join("alice", &[]);
    alice.expect("* alice joined");
    alice.say("small");
    alice.expect("alice: small");
    alice.say(&"x".repeat(5000));
    alice.say("after");
    alice.expect("alice: after");
    let a = alice.finish();
    assert_eq!(a.code, 0, "{a:?}");
    assert!(!a.stdout.contains("xxxxx"), "{a:?}");
    assert!(
        a.stderr.starts_with("kafkademo: error: message not sent: "),
        "{a:?}"
    );
    assert!(a.stderr.contains("max.message.bytes"), "{a:?}");
}

#[test]
fn a_line_past_64_mib_is_refused_and_the_chat_goes_on() {
    let room = Room::new("longline");
    let mut alice = room.join("alice", &[]);
    alice.expect("* alice joined");
    alice.say(&"x".repeat(65 << 20));
    alice.say("after");
    alice.expect("alice: after");
    let a = alice.finish();
    assert_eq!(a.code, 0, "{a:?}");
    assert!(!a.stdout.contains("xxxxx"), "{a:?}");
    assert_eq!(
        a.stderr.lines().next(),
        Some("kafkademo: error: message not sent: longer than 64 MiB, the most one stdin line can be here"),
        "{a:?}"
    );
}

#[test]
fn ctrl_c_sends_the_leave_notice_and_exits_130() {
    let room = Room::new("ctrlc");
    let mut alice = room.join("alice", &[]);
    alice.expect("* alice joined");
    let mut bob = room.join("bob", &[]);
    alice.expect("* bob joined");
    bob.expect("* bob joined");
    sigint(bob.child.as_ref().unwrap());
    let b = bob.wait();
    assert_eq!(b.code, 130, "{b:?}");
    assert_eq!(b.stderr, "", "{b:?}");
    alice.expect("* bob left");
    alice.say("/who");
    alice.expect("* here (1): alice");
}

#[test]
fn chat_in_a_real_terminal() {
    let room = Room::new("tty");
    // bash waits out the chat (which handles Ctrl-C itself) and shows its
    // exit code; tmux's own dead-pane status proved unreliable.
    let command = format!(
        "bash -c 'env KAFKA_BROKERS={} {} chat --user tess --room {}; echo \"EXIT=$?\"; sleep 600'",
        brokers(),
        env!("CARGO_BIN_EXE_kafkademo"),
        room.name
    );
    let tmux = Tmux::start(60, &command);
    tmux.wait_for(SOON, "tess's join", |s| s.contains("* tess joined"));
    let mut piper = room.join("piper", &[]);
    piper.expect("* piper joined");
    // Typing while a line arrives garbles the screen as in any plain
    // terminal; this test types on a quiet screen.
    tmux.wait_for(SOON, "piper's join", |s| s.contains("* piper joined"));

    // What tess types shows once: the terminal's echo is replaced by the line
    // as it comes back from the room.
    tmux.run(&["send-keys", "-l", "hello from a terminal"]);
    tmux.run(&["send-keys", "Enter"]);
    piper.expect("tess: hello from a terminal");
    let screen = tmux.wait_for(SOON, "tess's message", |s| {
        s.contains("] tess: hello from a terminal")
    });
    assert_eq!(
        screen.matches("hello from a terminal").count(),
        1,
        "{screen}"
    );
    // A line longer than the terminal is wide is wiped too.
    let long = "w".repeat(100);
    tmux.run(&["send-keys", "-l", &long]);
    tmux.run(&["send-keys", "Enter"]);
    piper.expect(&format!("tess: {long}"));
    let screen = tmux.wait_for(SOON, "the long line", |s| s.contains("] tess: www"));
    let after_hello = screen.split("tess: hello from a terminal").nth(1).unwrap();
    assert_eq!(after_hello.matches('w').count(), 100, "{screen}");

    piper.say("hi tess");
    tmux.wait_for(SOON, "piper's message", |s| s.contains("] piper: hi tess"));
    tmux.run(&["send-keys", "-l", "/who"]);
    tmux.run(&["send-keys", "Enter"]);
    tmux.wait_for(SOON, "/who", |s| s.contains("* here (2): piper, tess"));

    tmux.run(&["send-keys", "C-c"]);
    let screen = tmux.wait_for(SOON, "the exit", |s| s.contains("EXIT="));
    assert!(screen.contains("\nEXIT=130\n"), "{screen}");
    assert!(screen.contains("] * tess left"), "{screen}");
    piper.expect("* tess left");
    let p = piper.finish();
    assert_eq!((p.code, p.stderr.as_str()), (0, ""), "{p:?}");
}
