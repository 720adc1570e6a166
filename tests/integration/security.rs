//! A secured broker (`make kafka-up KAFKA_SECURITY=1`; the `secure` phase
//! of `make test`): every security protocol and SASL mechanism connects,
//! produces, consumes and commits as a group member; every failure is one
//! line with its exit code (77 not allowed, 78 configuration) within
//! `--timeout`; no password reaches any output at -vvv; the SASL session
//! is renewed; web and chat work through it.
//!
//! Listeners of that broker, P being KAFKA_BROKERS' port: PLAINTEXT P (the
//! admin door, a super user), SSL P+2 (client certificate required),
//! SASL_SSL P+3, SASL_PLAINTEXT P+4, and P+5 with an expired certificate.
//! User alice may use topics and groups named secure.a… and ga…; bob
//! secure.b… and gb…; admin everything (config/secure/, docs/security.md).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::fixture::*;

const CA: &str = ".kafka/secure/ca.pem";
const PASSWORDS: [&str; 3] = ["alice-secret", "bob-secret", "admin-secret"];

fn port(offset: u16) -> String {
    let brokers = require_broker();
    let first = brokers.split(',').next().unwrap_or_default();
    let (host, p) = first.rsplit_once(':').expect("KAFKA_BROKERS is host:port");
    let p: u16 = p.parse().expect("a port number");
    format!("{host}:{}", p + offset)
}

fn ssl() -> String {
    port(2)
}
pub(crate) fn sasl_ssl() -> String {
    port(3)
}
fn sasl_plaintext() -> String {
    port(4)
}
fn expired() -> String {
    port(5)
}

/// kafkademo run in the repository root (where the configs' relative
/// paths point), with a scrubbed environment.
pub(crate) fn kd(args: &[&str]) -> Command {
    let mut cmd = kafkademo(args);
    cmd.current_dir(repo_root());
    cmd
}

pub(crate) fn run_kd(args: &[&str], input: Option<&str>) -> Run {
    let mut child = kd(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run kafkademo");
    if let Some(text) = input {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("write stdin");
    }
    wait_bounded(child, Duration::from_secs(60))
}

pub(crate) fn ok_kd(args: &[&str], input: Option<&str>) -> Run {
    let r = run_kd(args, input);
    assert_eq!(r.code, 0, "kafkademo {args:?} failed:\n{r:?}");
    assert_no_password(&r);
    r
}

/// The exit code, one error line holding `needle` (and at most a hint), no password.
fn fails_kd(args: &[&str], code: i32, needle: &str) -> Run {
    let started = Instant::now();
    let r = run_kd(args, None);
    assert_eq!(r.code, code, "kafkademo {args:?}: wrong exit code:\n{r:?}");
    let errors: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("kafkademo: error: "))
        .collect();
    assert_eq!(errors.len(), 1, "one error line:\n{r:?}");
    assert!(
        errors[0].contains(needle),
        "stderr lacks {needle:?}:\n{r:?}"
    );
    for line in r.stderr.lines() {
        assert!(
            line.starts_with("kafkademo: error: ")
                || line.starts_with("  hint: ")
                || line.contains(" WARN "),
            "more than an error, a hint and warnings:\n{r:?}"
        );
    }
    assert!(!r.stderr.contains("panicked"), "panic:\n{r:?}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    assert_no_password(&r);
    r
}

pub(crate) fn assert_no_password(r: &Run) {
    for pw in PASSWORDS.iter().chain(&["wrong-secret"]) {
        assert!(
            !r.stdout.contains(pw) && !r.stderr.contains(pw),
            "a password in the output:\n{r:?}"
        );
    }
}

/// A topic in alice's namespace (secure.a…), made by admin through the
/// PLAINTEXT listener, deleted at the end.
pub(crate) struct AliceTopic(pub(crate) String);

impl AliceTopic {
    pub(crate) fn new(tag: &str) -> AliceTopic {
        let name = format!("secure.a.{}", unique_topic(tag));
        ok(&["topic", "create", &name, "--partitions", "2"]);
        AliceTopic(name)
    }
}

impl Drop for AliceTopic {
    fn drop(&mut self) {
        let _ = kafkademo(&["topic", "delete", &self.0, "--if-exists"]).output();
    }
}

/// `-X` arguments for alice over `protocol` with `mechanism` (SASL) or a
/// client certificate (SSL).
pub(crate) fn alice(protocol: &str, mechanism: Option<&str>, password: &str) -> Vec<String> {
    let mut x = vec![format!("security.protocol={protocol}")];
    if protocol.ends_with("SSL") {
        x.push(format!("ssl.truststore.location={CA}"));
    }
    if protocol == "SSL" {
        x.push("ssl.keystore.type=PEM".into());
        x.push("ssl.keystore.location=.kafka/secure/alice-keystore.pem".into());
    }
    if let Some(m) = mechanism {
        let module = if m == "PLAIN" {
            "org.apache.kafka.common.security.plain.PlainLoginModule"
        } else {
            "org.apache.kafka.common.security.scram.ScramLoginModule"
        };
        x.push(format!("sasl.mechanism={m}"));
        x.push(format!(
            "sasl.jaas.config={module} required username=\"alice\" password=\"{password}\";"
        ));
    }
    x.into_iter().flat_map(|p| ["-X".to_string(), p]).collect()
}

pub(crate) fn args<'a>(head: &[&'a str], tail: &'a [String]) -> Vec<&'a str> {
    let mut v = head.to_vec();
    v.extend(tail.iter().map(String::as_str));
    v
}

/// Produce, consume as a group member with a commit, and describe the
/// group, all as alice over one protocol and mechanism.
fn round_trip(addr: &str, protocol: &str, mechanism: Option<&str>) {
    let t = AliceTopic::new("rt");
    let group = format!("ga.{}", unique_topic("g"));
    let x = alice(protocol, mechanism, "alice-secret");
    let lines: String = (0..20).map(|i| format!("k{i}\tv{i}\n")).collect();
    ok_kd(
        &args(
            &[
                "produce",
                "-b",
                addr,
                "--topic",
                &t.0,
                "--key-separator",
                "\t",
            ],
            &x,
        ),
        Some(&lines),
    );
    let r = ok_kd(
        &args(
            &[
                "consume",
                "-b",
                addr,
                "--topic",
                &t.0,
                "--group",
                &group,
                "--from-beginning",
                "--count",
                "20",
            ],
            &x,
        ),
        None,
    );
    let mut got: Vec<&str> = r.stdout.lines().collect();
    got.sort();
    let mut want: Vec<String> = (0..20).map(|i| format!("k{i}\tv{i}")).collect();
    want.sort();
    assert_eq!(got, want, "{protocol} {mechanism:?}:\n{r:?}");
    // The group's commits landed: nothing is left to read.
    let d = ok_kd(&args(&["group", "describe", &group, "-b", addr], &x), None);
    let lag: u64 = d
        .stdout
        .lines()
        .filter(|l| l.contains(&t.0))
        .map(|l| {
            l.split_whitespace()
                .nth(4)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("no lag column in {l:?}"))
        })
        .sum();
    assert_eq!(lag, 0, "{protocol} {mechanism:?}:\n{d:?}");
    assert!(d.stdout.contains(&t.0), "{d:?}");
}

#[test]
fn ssl_with_a_client_certificate() {
    round_trip(&ssl(), "SSL", None);
}

#[test]
fn sasl_ssl_plain() {
    round_trip(&sasl_ssl(), "SASL_SSL", Some("PLAIN"));
}

#[test]
fn sasl_ssl_scram_sha_256() {
    round_trip(&sasl_ssl(), "SASL_SSL", Some("SCRAM-SHA-256"));
}

#[test]
fn sasl_ssl_scram_sha_512() {
    round_trip(&sasl_ssl(), "SASL_SSL", Some("SCRAM-SHA-512"));
}

#[test]
fn sasl_plaintext_plain() {
    round_trip(&sasl_plaintext(), "SASL_PLAINTEXT", Some("PLAIN"));
}

#[test]
fn sasl_plaintext_scram_sha_256() {
    round_trip(&sasl_plaintext(), "SASL_PLAINTEXT", Some("SCRAM-SHA-256"));
}

#[test]
fn sasl_plaintext_scram_sha_512() {
    round_trip(&sasl_plaintext(), "SASL_PLAINTEXT", Some("SCRAM-SHA-512"));
}

#[test]
fn the_sample_configs_work_as_they_are() {
    let t = AliceTopic::new("cfg");
    for (config, addr) in [
        ("config/secure/alice-ssl.properties", ssl()),
        (
            "config/secure/alice-sasl-ssl-scram256.properties",
            sasl_ssl(),
        ),
        (
            "config/secure/alice-sasl-ssl-scram512.properties",
            sasl_ssl(),
        ),
        ("config/secure/alice-sasl-ssl-plain.properties", sasl_ssl()),
        (
            "config/secure/alice-sasl-plaintext-scram256.properties",
            sasl_plaintext(),
        ),
    ] {
        ok_kd(
            &[
                "produce",
                "--command-config",
                config,
                "-b",
                &addr,
                "--topic",
                &t.0,
            ],
            Some(&format!("{config}\n")),
        );
    }
    // The environment variable names the file too.
    let mut cmd = kd(&[
        "consume",
        "-b",
        &sasl_ssl(),
        "--topic",
        &t.0,
        "--from-beginning",
        "--exit-at-end",
    ]);
    cmd.env(
        "KAFKADEMO_COMMAND_CONFIG",
        "config/secure/alice-sasl-ssl-scram512.properties",
    );
    let r = Run::from(cmd.output().expect("run"));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout.lines().count(), 5, "{r:?}");
    assert!(r.stdout.contains("alice-ssl.properties"), "{r:?}");
}

#[test]
fn a_wrong_password_is_refused_with_exit_77() {
    for mechanism in ["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"] {
        let x = alice("SASL_SSL", Some(mechanism), "wrong-secret");
        fails_kd(
            &args(&["topic", "list", "-b", &sasl_ssl()], &x),
            77,
            &format!("authentication failed for user alice with {mechanism}"),
        );
    }
}

#[test]
fn an_untrusted_ca_is_refused_with_exit_77() {
    fails_kd(
        &[
            "topic",
            "list",
            "-b",
            &sasl_ssl(),
            "--command-config",
            "config/secure/alice-sasl-ssl-scram256.properties",
            "-X",
            "ssl.truststore.location=.kafka/secure/other-ca.pem",
        ],
        77,
        "is not signed by a CA kafkademo trusts",
    );
}

#[test]
fn an_expired_certificate_is_refused_with_exit_77() {
    fails_kd(
        &[
            "topic",
            "list",
            "-b",
            &expired(),
            "-X",
            "security.protocol=SSL",
            "-X",
            &format!("ssl.truststore.location={CA}"),
        ],
        77,
        "has expired",
    );
}

#[test]
fn a_host_name_the_certificate_lacks_is_refused_unless_turned_off() {
    let addr = sasl_ssl().replace("127.0.0.1", "localhost");
    let config = "config/secure/alice-sasl-ssl-scram256.properties";
    fails_kd(
        &["topic", "list", "-b", &addr, "--command-config", config],
        77,
        "is for 127.0.0.1, not for host localhost",
    );
    let r = ok_kd(
        &[
            "topic",
            "list",
            "-b",
            &addr,
            "--command-config",
            config,
            "-X",
            "ssl.endpoint.identification.algorithm=",
        ],
        None,
    );
    assert_eq!(
        r.stderr.matches("not against their host names").count(),
        1,
        "one warning:\n{r:?}"
    );
}

#[test]
fn a_missing_client_certificate_is_refused_with_exit_77() {
    fails_kd(
        &[
            "topic",
            "list",
            "-b",
            &ssl(),
            "-X",
            "security.protocol=SSL",
            "-X",
            &format!("ssl.truststore.location={CA}"),
        ],
        77,
        "refused the TLS connection",
    );
}

#[test]
fn plaintext_on_a_tls_port_and_tls_on_a_plaintext_port_fail_within_the_timeout() {
    let r = fails_kd(
        &["topic", "list", "-b", &ssl(), "--timeout", "5s"],
        78,
        "speaks TLS on this port",
    );
    assert!(r.stderr.contains("security.protocol=SSL"), "{r:?}");
    let plain = port(0);
    fails_kd(
        &[
            "topic",
            "list",
            "-b",
            &plain,
            "--timeout",
            "5s",
            "-X",
            "security.protocol=SSL",
            "-X",
            &format!("ssl.truststore.location={CA}"),
        ],
        78,
        "TLS",
    );
    // SASL where the listener has none, and the reverse.
    fails_kd(
        &[
            "topic",
            "list",
            "-b",
            &plain,
            "--timeout",
            "5s",
            "--command-config",
            "config/secure/alice-sasl-plaintext-scram256.properties",
        ],
        78,
        "does not expect SASL on this listener",
    );
    fails_kd(
        &["topic", "list", "-b", &sasl_plaintext(), "--timeout", "5s"],
        78,
        "the listener probably expects SASL",
    );
}

#[test]
fn topics_and_groups_alice_may_not_use_are_refused_with_exit_77() {
    let x = alice("SASL_SSL", Some("SCRAM-SHA-256"), "alice-secret");
    let b = sasl_ssl();
    let r = run_kd(
        &args(&["produce", "-b", &b, "--topic", "secure.b"], &x),
        Some("1\n"),
    );
    assert_eq!(r.code, 77, "{r:?}");
    assert!(
        r.stderr
            .contains("user alice is not authorized to write topic secure.b"),
        "{r:?}"
    );
    assert!(
        r.stderr.contains("--operation Write --topic secure.b"),
        "{r:?}"
    );
    fails_kd(
        &args(
            &[
                "consume",
                "-b",
                &b,
                "--topic",
                "secure.b",
                "--from-beginning",
                "--exit-at-end",
            ],
            &x,
        ),
        77,
        "user alice is not authorized to read topic secure.b",
    );
    let t = AliceTopic::new("acl");
    let gb = format!("gb.{}", unique_topic("g"));
    fails_kd(
        &args(
            &[
                "consume", "-b", &b, "--topic", &t.0, "--group", &gb, "--count", "1",
            ],
            &x,
        ),
        77,
        "user alice is not authorized to",
    );
    fails_kd(
        &args(&["topic", "create", "-b", &b, "other.topic.alice"], &x),
        77,
        "user alice is not authorized to create topic other.topic.alice",
    );
    // What alice may do still works after the refusals, and nothing she
    // had written is lost.
    ok_kd(
        &args(&["produce", "-b", &b, "--topic", &t.0], &x),
        Some("kept-1\nkept-2\n"),
    );
    let r = ok_kd(
        &args(
            &[
                "consume",
                "-b",
                &b,
                "--topic",
                &t.0,
                "--from-beginning",
                "--exit-at-end",
            ],
            &x,
        ),
        None,
    );
    let mut got: Vec<&str> = r.stdout.lines().collect();
    got.sort();
    assert_eq!(got, ["kept-1", "kept-2"], "{r:?}");
}

#[test]
fn bad_client_configs_are_refused_with_exit_78() {
    for (x, needle) in [
        ("security.protocol=TLS", "security.protocol 'TLS'"),
        ("ssl.truststore.type=JKS", "JKS is not supported"),
        ("sasl.mechanism=GSSAPI", "GSSAPI is not supported"),
    ] {
        let proto = if x.starts_with("sasl") {
            "security.protocol=SASL_SSL"
        } else {
            "security.protocol=SSL"
        };
        fails_kd(&["topic", "list", "-X", proto, "-X", x], 78, needle);
    }
    fails_kd(
        &[
            "topic",
            "list",
            "--command-config",
            "config/secure/no-such.properties",
        ],
        78,
        "cannot read the client config",
    );
    fails_kd(
        &[
            "produce",
            "--protocol",
            "classic",
            "--command-config",
            "config/secure/alice-sasl-ssl-scram256.properties",
        ],
        78,
        "needs the modern data path",
    );
    fails_kd(
        &[
            "topic",
            "list",
            "-X",
            "security.protocol=SASL_SSL",
            "-X",
            "sasl.mechanism=PLAIN",
            "-X",
            "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"alice\" password=\"alice-secret",
        ],
        78,
        "sasl.jaas.config cannot be read",
    );
    // An unknown key is named once, and the command goes on.
    let r = ok_kd(&["topic", "list", "-X", "linger.ms=5"], None);
    assert_eq!(
        r.stderr
            .matches("ignoring unknown client property 'linger.ms'")
            .count(),
        1,
        "{r:?}"
    );
}

#[test]
fn no_password_in_any_log_at_vvv() {
    let t = AliceTopic::new("vvv");
    let b = sasl_ssl();
    let mut runs = Vec::new();
    for mechanism in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] {
        for pw in ["alice-secret", "wrong-secret"] {
            let x = alice("SASL_SSL", Some(mechanism), pw);
            runs.push(run_kd(
                &args(&["-vvv", "produce", "-b", &b, "--topic", &t.0], &x),
                Some("secret-test\n"),
            ));
            runs.push(run_kd(
                &args(
                    &[
                        "-vvv",
                        "consume",
                        "-b",
                        &b,
                        "--topic",
                        &t.0,
                        "--from-beginning",
                        "--exit-at-end",
                    ],
                    &x,
                ),
                None,
            ));
        }
        let x = alice("SASL_PLAINTEXT", Some(mechanism), "alice-secret");
        runs.push(run_kd(
            &args(&["-vvv", "topic", "list", "-b", &sasl_plaintext()], &x),
            None,
        ));
    }
    runs.push(run_kd(
        &[
            "-vvv",
            "topic",
            "list",
            "-b",
            &sasl_ssl(),
            "--command-config",
            "config/secure/alice-sasl-ssl-scram512.properties",
        ],
        None,
    ));
    let ok_runs = runs.iter().filter(|r| r.code == 0).count();
    let refused = runs.iter().filter(|r| r.code == 77).count();
    assert_eq!((ok_runs, refused), (10, 6), "{runs:?}");
    for r in &runs {
        assert!(
            r.stderr.contains("TRACE") || r.stderr.contains("DEBUG"),
            "-vvv logs: {r:?}"
        );
        assert_no_password(r);
    }
}

#[test]
fn a_long_session_re_authenticates_and_loses_nothing() {
    // The broker ends SASL sessions after connections.max.reauth.ms (10 s
    // from the scripts); a consumer and a producer running 25 s renew theirs.
    let t = AliceTopic::new("reauth");
    let group = format!("ga.{}", unique_topic("reauth"));
    let x = alice("SASL_SSL", Some("SCRAM-SHA-512"), "alice-secret");
    let b = sasl_ssl();
    let consumer = Running::start_in(
        repo_root(),
        &args(
            &[
                "-v",
                "consume",
                "-b",
                &b,
                "--topic",
                &t.0,
                "--group",
                &group,
                "--from-beginning",
                "--count",
                "100",
                "--format",
                "json",
            ],
            &x,
        ),
    );
    let producer = Running::start_in(
        repo_root(),
        &args(
            &[
                "-v",
                "produce",
                "even",
                "-b",
                &b,
                "--topic",
                &t.0,
                "--interval",
                "250ms",
                "--count",
                "100",
            ],
            &x,
        ),
    );
    let p = producer.finish(Duration::from_secs(90));
    assert_eq!(p.code, 0, "{p:?}");
    let c = consumer.finish(Duration::from_secs(60));
    assert_eq!(c.code, 0, "{c:?}");
    assert_eq!(c.stdout.lines().count(), 100, "{c:?}");
    for r in [&p, &c] {
        assert!(
            r.stderr.contains("re-authenticated to"),
            "no renewal:\n{r:?}"
        );
        assert!(!r.stderr.contains("closed the connection"), "{r:?}");
        assert_no_password(r);
    }
}

#[test]
fn web_and_chat_work_through_a_secured_cluster() {
    // admin: a super user, so chat's own topics need no ACLs.
    let config = "config/secure/admin-sasl-ssl-scram512.properties";
    let b = sasl_ssl();
    let t = AliceTopic::new("web");
    ok_kd(
        &[
            "produce",
            "--command-config",
            config,
            "-b",
            &b,
            "--topic",
            &t.0,
        ],
        Some("before-the-page\n"),
    );
    let mut web = kd(&[
        "web",
        "--command-config",
        config,
        "-b",
        &b,
        "--topic",
        &t.0,
        "--port",
        "0",
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("run web");
    let mut out = BufReader::new(web.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("web's first line");
    let url = line
        .split("http://")
        .nth(1)
        .map(|u| u.trim().trim_end_matches('/').to_string())
        .unwrap_or_else(|| panic!("no URL in {line:?}"));
    // The page's event stream shows the record written before it opened.
    let mut events = TcpStream::connect(&url).expect("connect web");
    events
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(events, "GET /events HTTP/1.1\r\nHost: {url}\r\n\r\n").expect("request");
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    while !seen.contains("before-the-page") {
        match events.read(&mut buf) {
            Ok(0) | Err(_) => panic!("the event stream ended without the record:\n{seen}"),
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    // The page's form produces through the secured cluster.
    let body = "key=web&value=from-the-form";
    let mut post = TcpStream::connect(&url).expect("connect web");
    write!(
        post,
        "POST /send HTTP/1.1\r\nHost: {url}\r\nOrigin: http://{url}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("post");
    let mut answer = String::new();
    post.read_to_string(&mut answer).expect("answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let _ = web.kill();
    let _ = web.wait();
    let r = ok_kd(
        &[
            "consume",
            "--command-config",
            config,
            "-b",
            &b,
            "--topic",
            &t.0,
            "--from-beginning",
            "--exit-at-end",
        ],
        None,
    );
    assert!(r.stdout.contains("web\tfrom-the-form"), "{r:?}");

    // Chat: two members in one room, through SASL_SSL.
    let room = unique_topic("room");
    let chat = |user: &str| {
        Running::start_in_with_stdin(
            repo_root(),
            &[
                "chat",
                "--command-config",
                config,
                "-b",
                &b,
                "--user",
                user,
                "--room",
                &room,
            ],
        )
    };
    let mut ann = chat("ann");
    ann.wait_for_line("* ann joined", Duration::from_secs(30));
    let ben = chat("ben");
    ben.wait_for_line("* ben joined", Duration::from_secs(30));
    ann.say("hello over TLS");
    ben.wait_for_line("ann: hello over TLS", Duration::from_secs(30));
    ann.signal("INT");
    ben.signal("INT");
    for t in [format!("chat.{room}"), format!("chat.{room}.presence")] {
        let _ = kafkademo(&["topic", "delete", &t, "--if-exists"]).output();
    }
}
