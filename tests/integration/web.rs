//! `kafkademo web` in a real headless Chromium and over raw HTTP: the page
//! shows history and live records, window counts as a live bar chart, the
//! form produces, payloads stay text, HTTP errors are the right ones,
//! reconnects resume without duplicates, a broker outage is shown and
//! recovered from, a flood of oversize and slow uploads takes a bounded
//! number of threads. Needs the broker and
//! Chromium + chromedriver (scripts/test-setup.sh); never skips.

pub mod browser;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::fixture::*;
use browser::{free_port, http, Browser};

const WAIT: Duration = Duration::from_secs(20);

/// A running `kafkademo web` on a free port, stopped when dropped.
struct WebServer {
    child: Option<Child>,
    url: String,
    addr: String,
}

impl WebServer {
    fn start(topic: &str, extra: &[&str]) -> WebServer {
        let mut args = vec!["web", "--topic", topic];
        if !extra.contains(&"--port") {
            args.extend(["--port", "0"]);
        }
        args.extend_from_slice(extra);
        let mut child = kafkademo(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = tx.send(line);
            // keep draining so the server never blocks on a full pipe
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let line = match rx.recv_timeout(WAIT) {
            Ok(line) if !line.is_empty() => line,
            _ => {
                let _ = child.kill();
                let out = child.wait_with_output().unwrap();
                panic!(
                    "kafkademo web printed no URL: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        };
        let prefix = format!("Serving topic '{topic}' at http://");
        assert!(line.starts_with(&prefix), "{line:?}");
        let url = line["Serving topic '' at ".len() + topic.len()..]
            .trim_end()
            .to_string();
        let addr = url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        WebServer {
            child: Some(child),
            url,
            addr,
        }
    }

    /// Ctrl-C, and what the server said on its way out.
    fn interrupt(mut self) -> Run {
        let child = self.child.take().unwrap();
        let status = std::process::Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        wait_bounded(child, Duration::from_secs(10))
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn produce_lines(topic: &str, lines: &str, extra: &[&str]) {
    let mut args = vec!["produce", "--topic", topic];
    args.extend_from_slice(extra);
    let r = run_with_input(&args, lines);
    assert_eq!(r.code, 0, "{r:?}");
}

/// The rows the page shows, top (newest) first: [origin, value, meta, class].
const ROWS: &str = "return [...document.querySelectorAll('#records li')].map(li => \
    [li.dataset.origin, li.querySelector('.value').textContent, \
     li.querySelector('.meta').textContent, li.className])";

fn rows(b: &Browser) -> Vec<Vec<String>> {
    serde_json::from_value(b.eval(ROWS, json!([]))).unwrap()
}

fn wait_rows(b: &Browser, what: &str, n: usize) -> Vec<Vec<String>> {
    b.wait_for(
        what,
        "return document.querySelectorAll('#records li').length >= arguments[0]",
        json!([n]),
        WAIT,
    );
    rows(b)
}

fn wait_status(b: &Browser, state: &str) -> String {
    b.wait_for(
        &format!("status {state}"),
        "const s = document.getElementById('status'); \
         return s.dataset.state === arguments[0] && s.textContent.trim()",
        json!([state]),
        WAIT,
    )
    .as_str()
    .unwrap_or_default()
    .to_string()
}

#[test]
fn the_page_shows_history_then_live_records_newest_first() {
    let t = Topic::new("web-live", 2);
    ok(&[
        "produce",
        "even",
        "--topic",
        &t.name,
        "--count",
        "3",
        "--interval",
        "10ms",
    ]);
    let server = WebServer::start(&t.name, &["--history", "2"]);
    assert!(
        server.url.starts_with("http://127.0.0.1:"),
        "loopback by default: {}",
        server.url
    );
    let b = Browser::start();
    b.goto(&server.url);
    let status = wait_status(&b, "connected");
    assert!(status.contains("connected to"), "{status}");
    let history = wait_rows(&b, "two history records", 2);
    assert_eq!(history[0][..2], ["A".to_string(), "4".to_string()]);
    assert_eq!(history[1][..2], ["A".to_string(), "2".to_string()]);
    assert_eq!(
        b.eval(
            "return document.getElementById('topic').textContent",
            json!([])
        ),
        json!(t.name)
    );

    ok(&[
        "produce",
        "odd",
        "--topic",
        &t.name,
        "--count",
        "2",
        "--interval",
        "10ms",
    ]);
    // Four rows once both of B's came, if --history 2 showed two: a third
    // history record (A 0) would make B 1 the fourth row and show here.
    let all = wait_rows(&b, "B's records", 4);
    let shown: Vec<[&str; 2]> = all.iter().map(|r| [r[0].as_str(), r[1].as_str()]).collect();
    assert_eq!(
        shown,
        [["B", "3"], ["B", "1"], ["A", "4"], ["A", "2"]],
        "--history 2 shows the last two, then the live ones, newest first"
    );
    for row in &all {
        let origin = &row[0];
        assert!(
            row[3].contains(&format!("origin-{origin}")),
            "coloured by origin: {row:?}"
        );
        let meta = &row[2];
        assert!(
            meta.starts_with("partition ") && meta.contains(" · offset "),
            "{row:?}"
        );
    }
    // A and B are drawn in different colours
    let colours = b.eval(
        "const c = s => getComputedStyle(document.querySelector(s)).borderLeftColor; \
         return [c('#records li.origin-A'), c('#records li.origin-B')]",
        json!([]),
    );
    assert_ne!(colours[0], colours[1], "{colours}");
    let chart = b.eval("return document.getElementById('chart').hidden", json!([]));
    assert_eq!(chart, json!(true), "no chart without window counts");
    drop(b);
    let r = server.interrupt();
    assert_eq!(r.code, 130, "{r:?}");
}

/// A window count as `stream count` writes it, as a line for `produce
/// --key-separator '|'`: `KEY@START|{"key":…,"window_start":…,…}`.
fn window_count(key: &str, start: i64, count: i64) -> String {
    let value = json!({
        "key": key, "window_start": start, "window_end": start + 10_000, "count": count,
    });
    format!("{key}@{start}|{value}\n")
}

/// The chart, oldest window first: [span label, [[key, count label, bar
/// height, fill colour], …]], or null while it is hidden.
const CHART: &str = "const chart = document.getElementById('chart'); \
    if (chart.hidden) return null; \
    return [...chart.querySelectorAll('.window')].map(g => [ \
      g.querySelector('.window-label').textContent, \
      [...g.querySelectorAll('.bar')].map(b => { const r = b.querySelector('rect'); \
        return [b.querySelector('.bar-key').textContent, b.querySelector('.bar-count').textContent, \
          r.getBBox().height, getComputedStyle(r).fill]; })])";

type Bar = (String, String, f64, String);

fn chart(b: &Browser) -> Option<Vec<(String, Vec<Bar>)>> {
    serde_json::from_value(b.eval(CHART, json!([]))).unwrap()
}

/// Waits until the chart's newest window is the one labelled `last` and
/// `ready` holds for the chart; returns it.
fn wait_chart(
    b: &Browser,
    what: &str,
    ready: impl Fn(&[(String, Vec<Bar>)]) -> bool,
) -> Vec<(String, Vec<Bar>)> {
    poll(WAIT, || chart(b).filter(|c| ready(c))).unwrap_or_else(|| {
        panic!(
            "waited {WAIT:?} for the chart to show {what}; it shows {:?}",
            chart(b)
        )
    })
}

/// Key and count label of each bar of a window.
fn bars(window: &(String, Vec<Bar>)) -> Vec<(&str, &str)> {
    window
        .1
        .iter()
        .map(|(k, c, _, _)| (k.as_str(), c.as_str()))
        .collect()
}

#[test]
fn window_counts_show_as_a_live_bar_chart_of_the_current_counts() {
    require_broker();
    // compacted, as `stream count` creates its output: the server reads
    // such a topic back far enough to chart every recent window
    let t = Topic {
        name: unique_topic("web-chart"),
    };
    ok(&[
        "topic",
        "create",
        &t.name,
        "--partitions",
        "1",
        "--config",
        "cleanup.policy=compact",
    ]);
    // Seven 10 s windows from 1 s after the epoch: the chart shows the last
    // six. A@11000 is updated from 3 to 7 (an upsert). With --history 1 the
    // record list starts with the last record only; the chart must still
    // show every window's current counts.
    let start = |i: i64| 1_000 + i * 10_000;
    let mut lines = window_count("A", start(0), 1);
    lines += &window_count("A", start(1), 3);
    lines += &window_count("B", start(1), 4);
    lines += &window_count("A", start(1), 7);
    for i in 2..=6 {
        lines += &window_count("A", start(i), i);
    }
    lines += "k|an ordinary record\n";
    produce_lines(&t.name, &lines, &["--key-separator", "|"]);

    let server = WebServer::start(&t.name, &["--history", "1"]);
    // +05:30: times in the page's local time, not UTC
    let b = Browser::in_time_zone("Asia/Kolkata");
    b.goto(&server.url);
    let shown = wait_chart(&b, "six windows", |c| c.len() == 6);
    let labels: Vec<&str> = shown.iter().map(|w| w.0.as_str()).collect();
    assert_eq!(
        labels,
        [
            "05:30:11 – 05:30:21",
            "05:30:21 – 05:30:31",
            "05:30:31 – 05:30:41",
            "05:30:41 – 05:30:51",
            "05:30:51 – 05:31:01",
            "05:31:01 – 05:31:11",
        ],
        "the last six windows, oldest first: {shown:?}"
    );
    assert_eq!(bars(&shown[0]), [("A", "7"), ("B", "4")], "{shown:?}");
    for (i, window) in shown.iter().enumerate().skip(1) {
        let count = (i + 1).to_string();
        assert_eq!(bars(window), [("A", count.as_str())], "{shown:?}");
    }
    let (a7, b4) = (&shown[0].1[0], &shown[0].1[1]);
    assert!(
        (a7.2 / b4.2 - 7.0 / 4.0).abs() < 0.05,
        "bar heights in proportion to the counts: {a7:?} {b4:?}"
    );
    let a2 = &shown[1].1[0];
    assert!(
        (a2.2 / a7.2 - 2.0 / 7.0).abs() < 0.05,
        "one scale for the whole chart: {a2:?} {a7:?}"
    );
    assert_eq!(a7.3, a2.3, "A has one colour");
    assert_ne!(a7.3, b4.3, "A and B have different colours");
    // the record list works as before
    let rows = wait_rows(&b, "the history record", 1);
    assert_eq!(rows[0][1], "an ordinary record", "{rows:?}");

    // Live: B joins the newest window, A's count there changes (an upsert
    // of the same record key), a new window pushes the oldest one out.
    let mut live = window_count("B", start(6), 5);
    live += &window_count("A", start(6), 9);
    live += &window_count("C", start(7), 2);
    produce_lines(&t.name, &live, &["--key-separator", "|"]);
    let shown = wait_chart(&b, "the live counts", |c| {
        c.last().is_some_and(|w| w.0 == "05:31:11 – 05:31:21")
            && c.iter().any(|w| bars(w) == [("A", "9"), ("B", "5")])
    });
    let labels: Vec<&str> = shown.iter().map(|w| w.0.as_str()).collect();
    assert_eq!(labels.len(), 6, "{shown:?}");
    assert_eq!(labels[0], "05:30:21 – 05:30:31", "{shown:?}");
    assert_eq!(bars(&shown[4]), [("A", "9"), ("B", "5")], "{shown:?}");
    assert_eq!(bars(&shown[5]), [("C", "2")], "{shown:?}");
    let (a9, b5, c2) = (&shown[4].1[0], &shown[4].1[1], &shown[5].1[0]);
    assert!(
        (b5.2 / a9.2 - 5.0 / 9.0).abs() < 0.05,
        "the scale follows the largest count: {a9:?} {b5:?}"
    );
    assert!(
        c2.3 != a9.3 && c2.3 != b5.3,
        "another key, another colour: {shown:?}"
    );
    let rows = wait_rows(&b, "the live records", 4);
    assert!(rows[0][1].contains(r#""key":"C""#), "{rows:?}");
}

#[test]
fn the_page_reconnects_by_itself_after_a_server_restart() {
    let t = Topic::new("web-restart", 1);
    produce_lines(&t.name, "one\ntwo\n", &[]);
    let port = free_port().to_string();
    let server = WebServer::start(&t.name, &["--port", &port]);
    let b = Browser::start();
    b.goto(&server.url);
    wait_rows(&b, "the history", 2);
    let r = server.interrupt();
    assert_eq!(r.code, 130, "{r:?}");
    let gone = wait_status(&b, "offline");
    assert!(gone.contains("reconnecting"), "{gone}");
    produce_lines(&t.name, "three\n", &[]);
    let _server = WebServer::start(&t.name, &["--port", &port]);
    wait_status(&b, "connected");
    let shown = wait_rows(&b, "the record from while the server was down", 3);
    let values: Vec<&str> = shown.iter().map(|r| r[1].as_str()).collect();
    assert_eq!(values, ["three", "two", "one"], "each once, newest first");
}

#[test]
fn a_message_sent_through_the_form_is_read_by_consume() {
    let t = Topic::new("web-form", 1);
    let server = WebServer::start(&t.name, &[]);
    let b = Browser::start();
    b.goto(&server.url);
    wait_status(&b, "connected");
    b.type_into("#key", "browser");
    b.type_into("#value", "hello from Chromium ✓");
    b.click("#send-button");
    let result = b.wait_for(
        "the send result",
        "const t = document.getElementById('send-result').textContent; \
         return t.startsWith('sent') || t.includes('error') || t.includes('cannot') ? t : ''",
        json!([]),
        WAIT,
    );
    assert_eq!(result, json!("sent to partition 0, offset 0"));
    let c = ok(&[
        "consume",
        "--topic",
        &t.name,
        "--from-beginning",
        "--exit-at-end",
    ]);
    assert_eq!(c.stdout, "browser\thello from Chromium ✓\n");
    // and the page shows it, read back from the topic
    let shown = wait_rows(&b, "the sent message", 1);
    assert_eq!(shown[0][1], "hello from Chromium ✓");
    assert!(shown[0][3].contains("origin-other"), "{shown:?}");
}

#[test]
fn a_script_payload_is_shown_as_text_and_never_run() {
    let t = Topic::new("web-xss", 1);
    let payload = r#"<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">"#;
    produce_lines(&t.name, &format!("{payload}\n"), &[]);
    produce_lines(
        &t.name,
        &format!("<b>key</b>\t{payload}\n"),
        &["--key-separator", "\t"],
    );
    let server = WebServer::start(&t.name, &[]);
    let b = Browser::start();
    b.goto(&server.url);
    let shown = wait_rows(&b, "the payloads", 2);
    assert_eq!(shown[0][1], payload);
    assert_eq!(shown[1][1], payload);
    let badge = b.eval(
        "return document.querySelector('#records li .badge').textContent",
        json!([]),
    );
    assert_eq!(badge, json!("<b>key</b>"));
    // An image from the payload would have failed to load, and fired its
    // onerror, by the time one started later has.
    b.eval(
        "window.__probe = ''; const i = new Image(); \
         i.onerror = () => { window.__probe = 'error'; }; \
         i.onload = () => { window.__probe = 'load'; }; \
         i.src = 'x'; return true",
        json!([]),
    );
    let probe = b.wait_for(
        "a broken image's error event",
        "return window.__probe",
        json!([]),
        WAIT,
    );
    assert_eq!(probe, json!("error"));
    let found = b.eval(
        "return [typeof window.__pwned, document.querySelectorAll('#records script, #records img, #records b').length]",
        json!([]),
    );
    assert_eq!(found, json!(["undefined", 0]), "the payload became markup");
}

#[test]
fn http_errors_are_the_right_ones() {
    let t = Topic::new("web-http", 1);
    let server = WebServer::start(&t.name, &[]);
    let a = server.addr.as_str();
    let form = ("Content-Type", "application/x-www-form-urlencoded");

    let page = http(a, "GET", "/", &[], b"");
    assert_eq!(page.status, 200, "{page:?}");
    assert!(page.text().contains("<ol id=\"records\">"));
    let csp = page.header("Content-Security-Policy").unwrap_or_default();
    assert!(csp.contains("script-src 'self'"), "{page:?}");
    assert_eq!(http(a, "GET", "/app.js", &[], b"").status, 200);

    let r = http(a, "GET", "/nope", &[], b"");
    assert_eq!(r.status, 404, "{r:?}");
    assert_eq!(http(a, "GET", "/../Cargo.toml", &[], b"").status, 404);
    let r = http(a, "DELETE", "/events", &[], b"");
    assert_eq!((r.status, r.header("Allow")), (405, Some("GET")), "{r:?}");
    let r = http(a, "GET", "/send", &[], b"");
    assert_eq!((r.status, r.header("Allow")), (405, Some("POST")), "{r:?}");

    let big = format!("value={}", "x".repeat(70 * 1024));
    let r = http(a, "POST", "/send", &[form], big.as_bytes());
    assert_eq!(r.status, 413, "{r:?}");
    assert!(r.text().contains("at most 64 KiB"), "{r:?}");
    let r = http(a, "POST", "/send", &[form], b"value=");
    assert_eq!(r.status, 400, "{r:?}");
    let r = http(
        a,
        "POST",
        "/send",
        &[("Content-Type", "text/plain")],
        b"value=x",
    );
    assert_eq!(r.status, 415, "{r:?}");
    let r = http(
        a,
        "POST",
        "/send",
        &[form, ("Origin", "http://evil.example")],
        b"value=x",
    );
    assert_eq!(r.status, 403, "cross-site POST: {r:?}");
    let r = http(a, "GET", "/", &[("Host", "evil.example")], b"");
    assert_eq!(r.status, 403, "DNS rebinding: {r:?}");

    // none of the refused ones was written; the good one is
    let origin = format!("http://{a}");
    let r = http(
        a,
        "POST",
        "/send",
        &[form, ("Origin", origin.as_str())],
        b"key=k&value=ok+then",
    );
    assert_eq!(r.status, 200, "{r:?}");
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        (v["partition"].as_i64(), v["offset"].as_i64()),
        (Some(0), Some(0))
    );
    let c = ok(&[
        "consume",
        "--topic",
        &t.name,
        "--from-beginning",
        "--exit-at-end",
    ]);
    assert_eq!(c.stdout, "k\tok then\n");
}

/// Sockets the process holds open (entries of /proc/PID/fd that are sockets).
fn open_sockets(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| {
            dir.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .filter(|target| target.to_string_lossy().starts_with("socket:"))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn a_thousand_oversize_uploads_leave_no_socket_open() {
    let t = Topic::new("web-oversize", 1);
    let server = WebServer::start(&t.name, &[]);
    let pid = server.child.as_ref().unwrap().id();
    assert_eq!(http(&server.addr, "GET", "/", &[], b"").status, 200);
    let baseline = open_sockets(pid);
    // Announce 100 MiB (past what the server drains), send none of it, read
    // the answer, hang up: what a misbehaving local process would do.
    for i in 0..1000 {
        let mut conn = TcpStream::connect(&server.addr).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let head = format!(
            "POST /send HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
            server.addr,
            100 * 1024 * 1024
        );
        conn.write_all(head.as_bytes()).unwrap();
        let mut status = [0u8; 12];
        if let Err(e) = conn.read_exact(&mut status) {
            panic!("upload {i}: no answer: {e}");
        }
        assert_eq!(&status, b"HTTP/1.1 413", "upload {i}");
    }
    let settled = poll(WAIT, || {
        let now = open_sockets(pid);
        (now <= baseline + 2).then_some(now)
    });
    assert!(
        settled.is_some(),
        "kafkademo web holds {} sockets after 1000 refused uploads (baseline {baseline})",
        open_sockets(pid)
    );
    assert_eq!(http(&server.addr, "GET", "/", &[], b"").status, 200);
}

/// Threads of a process (entries of /proc/PID/task).
fn threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|dir| dir.count())
        .unwrap_or(0)
}

/// Connections the server serves at once (`MAX_CONNECTIONS` in
/// src/commands/web.rs): one thread each.
const MAX_CONNECTIONS: usize = 128;

#[test]
fn a_flood_of_oversize_and_slow_posts_takes_bounded_threads_and_the_page_still_answers() {
    let t = Topic::new("web-flood", 1);
    let server = WebServer::start(&t.name, &[]);
    let pid = server.child.as_ref().unwrap().id();
    assert_eq!(http(&server.addr, "GET", "/", &[], b"").status, 200);
    let baseline = threads(pid);
    let post = |length: usize| {
        format!(
            "POST /send HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {length}\r\n\r\n",
            server.addr
        )
    };
    // One announcing 100 TB is refused at once, before any of the body
    // (a server that drains into a buffer of that length aborts).
    let mut first = TcpStream::connect(&server.addr).unwrap();
    first
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    first
        .write_all(post(99_999_999_999_999).as_bytes())
        .unwrap();
    let mut status = [0u8; 12];
    first.read_exact(&mut status).unwrap();
    assert_eq!(&status, b"HTTP/1.1 413");
    // 400 connections held open: every other one announces 1 GiB and sends
    // nothing, the others announce 1000 bytes and send 10 (a slow upload).
    let mut held = Vec::new();
    let mut most = 0;
    for i in 0..400 {
        let mut conn = TcpStream::connect(&server.addr).unwrap();
        let head = if i % 2 == 0 {
            post(1 << 30)
        } else {
            post(1000) + "value=abcd"
        };
        // A refused connection may be closed already: that is fine.
        let _ = conn.write_all(head.as_bytes());
        held.push(conn);
        if i % 20 == 0 {
            most = most.max(threads(pid));
        }
    }
    most = most.max(threads(pid));
    // While they are all still open, the page answers.
    let page = wait_for(WAIT, "the page answering during the flood", || {
        let r = http(&server.addr, "GET", "/", &[], b"");
        (r.status == 200).then_some(r)
    });
    assert!(page.text().contains("<ol id=\"records\">"));
    most = most.max(threads(pid));
    assert!(
        most <= baseline + MAX_CONNECTIONS + 4,
        "kafkademo web ran {most} threads during the flood (baseline {baseline}, {MAX_CONNECTIONS} connections at most)"
    );
    drop(held);
}

/// An open `/events` stream. Once `open` returns, the server has
/// subscribed it: it sends the head only after that.
struct Events {
    stream: TcpStream,
    /// The body as received (chunked), and how far it was parsed.
    raw: Vec<u8>,
    scanned: usize,
    records: Vec<(String, Value)>,
}

impl Events {
    fn open(addr: &str, last_event_id: Option<&str>) -> Events {
        let mut stream = TcpStream::connect(addr).unwrap();
        let mut head =
            format!("GET /events HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n");
        if let Some(id) = last_event_id {
            head.push_str(&format!("Last-Event-ID: {id}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut events = Events {
            stream,
            raw: Vec::new(),
            scanned: 0,
            records: Vec::new(),
        };
        let split = events.read_until("the event stream's head", |e| {
            e.raw.windows(4).position(|w| w == b"\r\n\r\n")
        });
        let head = String::from_utf8_lossy(&events.raw[..split]).into_owned();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(head.contains("Content-Type: text/event-stream"), "{head}");
        assert!(head.contains("Transfer-Encoding: chunked"), "{head}");
        events.raw.drain(..split + 4);
        events
    }

    /// Reads what arrived within the read timeout; false at the end of the stream.
    fn read_some(&mut self) -> bool {
        let mut buf = vec![0u8; 256 * 1024];
        match self.stream.read(&mut buf) {
            Ok(0) => false,
            Ok(n) => {
                self.raw.extend_from_slice(&buf[..n]);
                true
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => true,
            Err(e) => panic!("reading the event stream: {e}"),
        }
    }

    /// Reads until `done` returns a value, or fails the test when the stream
    /// ends or WAIT passes first. No pause between reads: each read waits
    /// (up to its timeout) for data, and a page that reads slowly is one the
    /// server drops.
    fn read_until<T>(&mut self, what: &str, mut done: impl FnMut(&mut Self) -> Option<T>) -> T {
        let deadline = Instant::now() + WAIT;
        loop {
            let open = self.read_some();
            if let Some(v) = done(self) {
                return v;
            }
            assert!(open, "the event stream ended before {what}");
            assert!(
                Instant::now() < deadline,
                "no {what} within {WAIT:?}: {} records came",
                self.records.len()
            );
        }
    }

    /// Parses the record events among the frames received whole. The server
    /// writes whole frames per chunk, so a chunk's size line only ever
    /// stands between two frames (and is not a `field: value` line).
    fn parse(&mut self) {
        while let Some(at) = self.raw[self.scanned..]
            .windows(2)
            .position(|w| w == b"\n\n")
        {
            let frame = String::from_utf8_lossy(&self.raw[self.scanned..self.scanned + at]);
            self.scanned += at + 2;
            if !frame.lines().any(|l| l == "event: record") {
                continue;
            }
            let field = |name: &str| {
                frame
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .unwrap_or_default()
                    .to_string()
            };
            let data = serde_json::from_str(&field("data: "))
                .unwrap_or_else(|e| panic!("{e}: a record event's data in {frame:?}"));
            self.records.push((field("id: "), data));
        }
    }

    /// Reads until a status event says the server's consumer is connected
    /// (it has then fixed where it reads from: records produced after this
    /// reach the page).
    fn until_connected(&mut self) {
        self.read_until("a status event saying connected", |e| {
            String::from_utf8_lossy(&e.raw)
                .contains("event: status\ndata: {\"state\":\"connected\"")
                .then_some(())
        });
    }

    /// Reads until the record at `offset` came; returns every record event
    /// (id and data) in the order received.
    fn until_offset(mut self, offset: i64) -> Vec<(String, Value)> {
        self.read_until(&format!("the record at offset {offset}"), |e| {
            e.parse();
            e.records
                .iter()
                .any(|(_, v)| v["offset"] == offset)
                .then_some(())
        });
        self.records
    }

    /// Reads until the stream's last chunk (the connection may stay open for
    /// another request); the whole body, chunked.
    fn until_last_chunk(mut self) -> Vec<u8> {
        self.read_until("the stream's last chunk", |e| {
            e.raw.ends_with(b"\r\n0\r\n\r\n").then_some(())
        });
        self.raw
    }

    /// Reads to the end of the connection (bounded); the whole body, chunked.
    fn drain(mut self) -> Vec<u8> {
        let deadline = Instant::now() + WAIT;
        while self.read_some() {
            assert!(
                Instant::now() < deadline,
                "the event stream did not end within {WAIT:?}"
            );
        }
        self.raw
    }
}

#[test]
fn a_reconnect_with_last_event_id_resumes_without_duplicates() {
    let t = Topic::new("web-resume", 1);
    produce_lines(&t.name, "one\ntwo\nthree\n", &[]);
    let server = WebServer::start(&t.name, &[]);
    let first = Events::open(&server.addr, None).until_offset(2);
    let values: Vec<&str> = first
        .iter()
        .map(|(_, v)| v["value"].as_str().unwrap())
        .collect();
    assert_eq!(values, ["one", "two", "three"]);
    let (seen_id, _) = &first[1];
    assert!(!seen_id.is_empty());
    // The page "lost" the connection after "two"; more arrive meanwhile.
    produce_lines(&t.name, "four\nfive\n", &[]);
    let resumed = Events::open(&server.addr, Some(seen_id)).until_offset(4);
    let values: Vec<&str> = resumed
        .iter()
        .map(|(_, v)| v["value"].as_str().unwrap())
        .collect();
    assert_eq!(values, ["three", "four", "five"], "exactly what was missed");
    let offsets: Vec<i64> = resumed
        .iter()
        .map(|(_, v)| v["offset"].as_i64().unwrap())
        .collect();
    assert_eq!(offsets, [2, 3, 4]);
    // An id from another run of the server gets the plain history.
    let fresh = Events::open(&server.addr, Some("0.2")).until_offset(4);
    let offsets: Vec<i64> = fresh
        .iter()
        .map(|(_, v)| v["offset"].as_i64().unwrap())
        .collect();
    assert_eq!(offsets, [0, 1, 2, 3, 4]);
}

/// Forwards connections on `port` to the broker while running.
struct Proxy {
    stop: Arc<AtomicBool>,
    port: u16,
}

impl Proxy {
    fn start(port: u16, to: String) -> Proxy {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("the proxy port was taken");
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(&to) else {
                    continue;
                };
                for (mut from, mut into) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut into);
                        let _ = into.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        Proxy { stop, port }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // wakes the accept, which then sees the flag and ends
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

#[test]
fn a_broker_outage_shows_on_the_page_and_the_page_recovers() {
    let broker = require_broker();
    let broker = broker.split(',').next().unwrap().to_string();
    let t = Topic::new("web-outage", 1);
    // The server's only broker address leads nowhere yet: an outage from the start.
    let port = free_port();
    let via = format!("127.0.0.1:{port}");
    let server = WebServer::start(&t.name, &["--brokers", &via, "--timeout", "2s"]);
    let b = Browser::start();
    b.goto(&server.url);
    let down = wait_status(&b, "unreachable");
    assert!(
        down.contains(&format!("cannot reach Kafka at {via}")),
        "{down}"
    );
    assert!(down.contains("retrying"), "{down}");
    // The page still works as a page while the broker is away.
    assert_eq!(
        http(&server.addr, "GET", "/style.css", &[], b"").status,
        200
    );

    let _proxy = Proxy::start(port, broker);
    let up = wait_status(&b, "connected");
    assert!(up.contains(&format!("connected to {via}")), "{up}");
    produce_lines(&t.name, "after the outage\n", &[]);
    let shown = wait_rows(&b, "the record produced after the outage", 1);
    assert_eq!(shown[0][1], "after the outage");
    drop(b);
    let r = server.interrupt();
    assert_eq!(r.code, 130, "{r:?}");
    assert!(
        r.stderr.contains(&format!("cannot reach Kafka at {via}")),
        "the outage is on stderr too: {r:?}"
    );
}

#[test]
fn a_stalled_page_does_not_hold_up_the_others() {
    let t = Topic::new("web-stall", 1);
    let server = WebServer::start(&t.name, &["--history", "0"]);
    // Subscribes, and reads nothing after the head.
    let stalled = Events::open(&server.addr, None);
    let mut reading = Events::open(&server.addr, None);
    // With `--history 0` the server reads from the log end it finds on
    // connecting: records produced before then are not live records.
    reading.until_connected();
    let reader = std::thread::spawn(move || reading.until_offset(4999));
    // ~15 MiB of events: more than the stalled page's queue and socket buffers hold
    let lines: String = (0..5000)
        .map(|i| format!("{i:05} {}\n", "y".repeat(3000)))
        .collect();
    produce_lines(&t.name, &lines, &[]);
    let got = reader.join().unwrap();
    let offsets: Vec<i64> = got
        .iter()
        .map(|(_, v)| v["offset"].as_i64().unwrap())
        .collect();
    let wrong = (0..5000).position(|i| offsets.get(i as usize) != Some(&i));
    assert!(
        wrong.is_none() && offsets.len() == 5000,
        "the reading page did not get offsets 0..4999 once each, in order: {} records, \
         the first wrong at index {wrong:?}: {:?}",
        offsets.len(),
        wrong.map(|i| &offsets[i.saturating_sub(3)..(i + 3).min(offsets.len())])
    );
    // The stalled page was dropped: once it reads again, its stream ends
    // (the last chunk), so a browser would reconnect and resume.
    let raw = stalled.until_last_chunk();
    let frames = String::from_utf8_lossy(&raw)
        .matches("event: record\n")
        .count();
    assert!(
        frames < 5000,
        "the stalled page was not dropped ({frames} frames)"
    );
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let t = Topic::new("web-port", 1);
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let r = fails(
        &["web", "--topic", &t.name, "--port", &port],
        1,
        &format!("cannot listen on 127.0.0.1:{port}: the port is in use"),
    );
    assert!(r.stderr.contains("hint: "), "{r:?}");
    assert_eq!(r.stdout, "");
    fails(
        &["web", "--topic", "no such topic!"],
        2,
        "invalid topic name",
    );
    let missing = unique_topic("web-missing");
    fails(
        &["web", "--topic", &missing, "--port", "0"],
        1,
        &format!("topic '{missing}' does not exist"),
    );
}

#[test]
fn ctrl_c_stops_the_server_with_130_while_a_page_is_open() {
    let t = Topic::new("web-sigint", 1);
    let server = WebServer::start(&t.name, &[]);
    let page = Events::open(&server.addr, None);
    let start = Instant::now();
    let r = server.interrupt();
    assert_eq!(r.code, 130, "{r:?}");
    assert_eq!(r.stderr, "", "{r:?}");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
    // the stream ended with the server
    page.drain();
}
