//! Data from Kafka never drives the terminal: a record, a group name and a
//! client id holding terminal escapes (retitle, clear the screen) show
//! escaped in `consume` on a real terminal (tmux) and with a format string,
//! `stream table`, `group list|describe`, `top` (snapshot and dashboard), a
//! skip warning and another writer's chat line, while `--raw` and `--format
//! json` keep the bytes.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc::channel;
use std::time::Duration;

use crate::fixture::*;
use crate::groups::JavaConsumer;

/// Sets the terminal's title, then clears the screen.
const HOSTILE: &str = "\x1b]0;pwned\x07\x1b[2J";
/// How kafkademo shows it.
const SHOWN: &str = "\\x1b]0;pwned\\x07\\x1b[2J";
const SOON: Duration = Duration::from_secs(30);

fn no_escape_in(what: &str, text: &str) {
    assert!(
        !text.contains('\x1b') && !text.contains('\x07'),
        "{what} holds a raw terminal control character:\n{text:?}"
    );
}

/// A topic holding one record: key `k`, value HOSTILE.
fn hostile_topic(tag: &str) -> Topic {
    let topic = Topic::new(tag, 1);
    let r = run_with_input(
        &["produce", "--topic", &topic.name, "--key-separator", ":"],
        &format!("k:{HOSTILE}\n"),
    );
    assert_eq!(r.code, 0, "{r:?}");
    topic
}

/// A bash command for tmux: the command, its exit code, then a pause so the
/// screen stays to be read.
fn in_terminal(args: &str) -> String {
    format!(
        "bash -c 'env KAFKA_BROKERS={} {} {args}; echo \"EXIT=$?\"; sleep 600'",
        brokers(),
        env!("CARGO_BIN_EXE_kafkademo"),
    )
}

#[test]
fn consume_on_a_terminal_shows_escapes_and_raw_and_json_keep_the_bytes() {
    let topic = hostile_topic("esc-consume");
    let tmux = Tmux::start(
        160,
        &in_terminal(&format!(
            "consume --topic {} --from-beginning --exit-at-end",
            topic.name
        )),
    );
    let screen = tmux.wait_for(SOON, "the exit", |s| s.contains("EXIT="));
    assert!(screen.contains("EXIT=0"), "{screen}");
    // Unescaped, tmux would have taken the title and cleared the screen.
    assert!(screen.contains(&format!("k       {SHOWN}")), "{screen}");
    let title = tmux.run(&["display-message", "-p", "#{pane_title}"]);
    assert!(
        !title.contains("pwned"),
        "the record retitled the terminal: {title}"
    );
    drop(tmux);

    // Piped, text lines are the same; --raw writes the bytes, JSON escapes them as JSON does.
    let base = [
        "consume",
        "--topic",
        &topic.name,
        "--from-beginning",
        "--exit-at-end",
    ];
    assert_eq!(ok(&base).stdout, format!("k\t{SHOWN}\n"));
    let raw = kafkademo(&[&base[..], &["--raw"]].concat())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(raw.status.success(), "{raw:?}");
    assert_eq!(raw.stdout, format!("k\t{HOSTILE}\n").into_bytes());
    let json = ok(&[&base[..], &["--format", "json"]].concat());
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["value"], HOSTILE, "{json:?}");
    no_escape_in("a JSON line", &json.stdout);
    fails(
        &[&base[..], &["--raw", "--format", "json"]].concat(),
        2,
        "--raw writes text lines",
    );
}

#[test]
fn stream_table_shows_keys_and_values_escaped() {
    let topic = Topic::new("esc-table", 1);
    let window = format!(
        "{{\"key\":\"u{}\",\"window_start\":0,\"window_end\":1000,\"count\":3}}",
        "\\u001b]0;pwned\\u0007\\u001b[2J"
    );
    let r = run_with_input(
        &["produce", "--topic", &topic.name, "--key-separator", "|"],
        &format!("k{HOSTILE}|v{HOSTILE}\nw|{window}\n"),
    );
    assert_eq!(r.code, 0, "{r:?}");
    let table = ok(&["stream", "table", "--topic", &topic.name, "--exit-at-end"]);
    no_escape_in("stream table", &table.stdout);
    assert!(
        table.stdout.contains(&format!("k{SHOWN} = v{SHOWN}\n")),
        "{table:?}"
    );
    assert!(
        table.stdout.contains(&format!("  u{SHOWN}       3  ###\n")),
        "a window count's key: {table:?}"
    );
}

#[test]
fn group_describe_shows_a_java_consumers_client_id_escaped() {
    let topic = hostile_topic("esc-group");
    let group = unique_topic("esc-g");
    let client = format!("c{HOSTILE}");
    let java = Command::new(repo_root().join("scripts/kafka-class.sh"))
        .args([
            "org.apache.kafka.tools.consumer.ConsoleConsumer",
            "--bootstrap-server",
            &brokers(),
            "--topic",
            &topic.name,
            "--group",
            &group,
            "--consumer-property",
            &format!("client.id={client}"),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run Kafka's console consumer");
    let mut java = JavaConsumer::new(java);
    // Once it is assigned the partition: the row of the topic names it.
    let (described, row) = wait_for(
        Duration::from_secs(60),
        "the Java consumer owning the partition in `group describe`",
        || {
            java.assert_running();
            let r = run(&["group", "describe", &group]);
            let row = r
                .stdout
                .lines()
                .find(|l| l.starts_with(&topic.name) && l.contains("pwned"))?
                .to_string();
            Some((r, row))
        },
    );
    no_escape_in("group describe", &described.stdout);
    // CONSUMER-ID (the client id, a dash, a UUID), HOST and CLIENT-ID.
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert!(cells[5].starts_with(&format!("c{SHOWN}-")), "{row}");
    assert_eq!(cells[7], format!("c{SHOWN}"), "{row}");
    java.stop();
}

#[test]
fn group_list_and_top_show_a_group_name_escaped() {
    let topic = hostile_topic("esc-top");
    let group = format!("g{HOSTILE}{}", unique_topic("x"));
    let shown = group.replace(HOSTILE, SHOWN);
    ok(&[
        "group",
        "reset-offsets",
        &group,
        "--topic",
        &topic.name,
        "--to-earliest",
        "--execute",
    ]);
    let list = ok(&["group", "list"]);
    no_escape_in("group list", &list.stdout);
    assert!(list.stdout.contains(&format!("{shown}\t")), "{list:?}");

    let once = ok(&["top", "--once", "--match", &topic.name]);
    no_escape_in("top --once", &once.stdout);
    assert!(
        once.stdout
            .lines()
            .any(|l| l.starts_with(&format!("{shown}  "))),
        "{once:?}"
    );
    let json = ok(&["top", "--once", "--format", "json", "--match", &topic.name]);
    assert!(json.stdout.contains(r"\u001b]0;pwned\u0007"), "{json:?}");

    let tmux = Tmux::start(
        200,
        &in_terminal(&format!("top --match {} --interval 300ms", topic.name)),
    );
    tmux.wait_for(SOON, "the group, escaped", |s| {
        s.contains("┌groups") && s.contains(&shown)
    });
    let title = tmux.run(&["display-message", "-p", "#{pane_title}"]);
    assert!(
        !title.contains("pwned"),
        "a group name retitled the terminal: {title}"
    );
    tmux.run(&["send-keys", "q"]);
    tmux.wait_for(Duration::from_secs(5), "the exit", |s| s.contains("EXIT=0"));
}

#[test]
fn a_skip_warning_shows_the_record_text_escaped() {
    let input = Topic::new("esc-skip", 1);
    let (app, output) = (unique_topic("esc-skip-app"), unique_topic("esc-skip-out"));
    let r = run_with_input(
        &["produce", "--topic", &input.name],
        "{\"at\":\"\\u001b]0;pwned\\u0007\\u001b[2J\"}\n",
    );
    assert_eq!(r.code, 0, "{r:?}");
    let r = run(&[
        "stream",
        "count",
        "--input",
        &input.name,
        "--output",
        &output,
        "--application-id",
        &app,
        "--window",
        "1h",
        "--time-field",
        "at",
        "--exit-at-end",
    ]);
    let _ = kafkademo(&["stream", "reset", "--application-id", &app]).output();
    let _ = kafkademo(&["topic", "delete", &output, "--if-exists"]).output();
    assert_eq!(r.code, 0, "{r:?}");
    no_escape_in("stderr", &r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "offset 0: not counted: its time field '{SHOWN}' is not an RFC 3339 time"
        )),
        "{r:?}"
    );
}

#[test]
fn a_format_string_shows_keys_values_and_headers_escaped() {
    let topic = Topic::new("esc-format", 1);
    let header = format!("h{HOSTILE}=v{HOSTILE}");
    let r = run_with_input(
        &[
            "produce",
            "--topic",
            &topic.name,
            "--protocol",
            "modern",
            "--key-separator",
            ":",
            "--header",
            &header,
        ],
        &format!("k{HOSTILE}:{HOSTILE}\n"),
    );
    assert_eq!(r.code, 0, "{r:?}");
    let out = ok(&[
        "consume",
        "--topic",
        &topic.name,
        "--protocol",
        "modern",
        "--from-beginning",
        "--exit-at-end",
        "--format",
        "%k|%s|%h",
    ]);
    no_escape_in("consume --format", &out.stdout);
    assert_eq!(
        out.stdout,
        format!("k{SHOWN}|{SHOWN}|h{SHOWN}=v{SHOWN}\n"),
        "{out:?}"
    );
}

#[test]
fn another_writers_chat_line_shows_escaped() {
    require_broker();
    let room = unique_topic("esc-chat");
    let topic = format!("chat.{room}");
    let mut bob = kafkademo(&["chat", "--user", "bob", "--room", &room])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run kafkademo");
    let (tx, lines) = channel();
    let stdout = bob.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut seen = Vec::new();
    let mut expect = |needle: &str| loop {
        match lines.recv_timeout(SOON) {
            Ok(line) => {
                seen.push(line.clone());
                if line.contains(needle) {
                    return line;
                }
            }
            Err(e) => panic!("bob did not show {needle:?} ({e}); he showed:\n{seen:#?}"),
        }
    };
    expect("* bob joined");
    // Another writer (not kafkademo, which refuses such names) joins and speaks.
    let json = |kind: &str, text: &str| {
        format!(
            "{{\"kind\":\"{kind}\",\"user\":\"m{0}\",\"text\":\"{text}\",\"sent_at\":\"2026-01-01T12:00:00Z\"}}\n",
            "\\u001b]0;pwned\\u0007\\u001b[2J"
        )
    };
    let input = json("join", "") + &json("message", "hi\\u001b]0;pwned\\u0007\\u001b[2J");
    let r = run_with_input(&["produce", "--topic", &topic], &input);
    assert_eq!(r.code, 0, "{r:?}");
    let joined = expect(" joined");
    let said = expect(": hi");
    drop(bob.stdin.take());
    let done = wait_bounded(bob, SOON);
    for t in [topic.clone(), format!("{topic}.presence")] {
        let _ = kafkademo(&["topic", "delete", &t, "--if-exists"]).output();
    }
    assert_eq!(done.code, 0, "{done:?}");
    for line in [&joined, &said] {
        no_escape_in("a chat line", line);
    }
    assert!(
        joined.ends_with(&format!("] * m{SHOWN} joined")),
        "{joined:?}"
    );
    assert!(
        said.ends_with(&format!("] m{SHOWN}: hi{SHOWN}")),
        "{said:?}"
    );
}
