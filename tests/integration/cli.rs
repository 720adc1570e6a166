//! What users see when arguments are wrong or no broker answers.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use crate::fixture::*;

#[test]
fn version_and_usage_errors() {
    let r = run(&["--version"]);
    assert_eq!(r.code, 0);
    assert_eq!(
        r.stdout,
        format!("kafkademo {}\n", env!("CARGO_PKG_VERSION"))
    );
    let r = run(&["topic", "create"]);
    assert_eq!(r.code, 2, "{r:?}");
    let r = run(&["--timeout", "soon", "topic", "list"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("invalid value 'soon' for '--timeout"),
        "{r:?}"
    );
    fails(
        &["--brokers", "host:notaport", "topic", "list"],
        2,
        "bad broker address 'host:notaport'",
    );
}

#[test]
fn closed_port_fails_at_once_with_exit_69() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }; // dropped: nothing listens there now
    let addr = format!("127.0.0.1:{port}");
    let start = Instant::now();
    let r = fails(
        &["--brokers", &addr, "topic", "list"],
        69,
        &format!("cannot reach Kafka at {addr}: connection refused"),
    );
    let took = start.elapsed();
    assert!(
        r.stderr
            .contains("hint: is Kafka running? start it with `make kafka-up`"),
        "{r:?}"
    );
    assert!(took < Duration::from_secs(1), "a closed port took {took:?}");
}

#[test]
fn silent_listener_fails_within_the_timeout() {
    // Accepts connections (the kernel completes the handshake) and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let start = Instant::now();
    let r = fails(
        &["--brokers", &addr, "--timeout", "1s", "topic", "list"],
        69,
        &format!("Kafka at {addr} did not answer within 1s"),
    );
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "took {took:?}\n{r:?}"
    );
    drop(listener);
}

#[test]
fn second_broker_on_the_list_is_used_when_the_first_is_down() {
    let good = require_broker();
    let dead = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let list = format!("{dead},{good}");
    ok(&["--brokers", &list, "topic", "list"]);
}

#[test]
fn a_frozen_first_broker_leaves_time_for_the_next() {
    let good = require_broker();
    // Accepts (the kernel completes the handshake) and never answers, as a
    // SIGSTOPped broker does: it may not take the whole --timeout.
    // Two of them must not take a --timeout each.
    let frozen: Vec<TcpListener> = (0..2)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let list = format!(
        "{},{},{good}",
        frozen[0].local_addr().unwrap(),
        frozen[1].local_addr().unwrap()
    );
    let start = Instant::now();
    let r = ok(&["--brokers", &list, "--timeout", "4s", "topic", "list"]);
    let took = start.elapsed();
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        took < Duration::from_secs(5),
        "the frozen brokers took {took:?} of a 4s --timeout"
    );
    drop(frozen);
}

#[test]
fn ipv6_broker_addresses_are_understood() {
    // Nothing listens on [::1]; what matters is how the address is read:
    // bracketed, with Kafka's port when none is given.
    fails(
        &["--brokers", "[::1]", "--timeout", "2s", "topic", "list"],
        69,
        "cannot reach Kafka at [::1]:9092",
    );
    fails(
        &["--brokers", "[::1]:1", "--timeout", "2s", "topic", "list"],
        69,
        "cannot reach Kafka at [::1]:1",
    );
    fails(
        &["--brokers", "::1", "topic", "list"],
        2,
        "write an IPv6 address in brackets, e.g. [::1]:9092",
    );
}

#[test]
fn absurd_durations_are_usage_errors_naming_the_flag() {
    // Nothing listens at port 1: were a value taken, the command would fail
    // at once (or panic computing a deadline), never exit 2.
    let cases: [&[&str]; 9] = [
        &["--timeout", "300000000000years", "topic", "list"],
        &["produce", "even", "--interval", "300000000000years"],
        &["produce", "even", "--duration", "366days"],
        &["produce", "--retry-for", "1000years"],
        &[
            "consume",
            "-g",
            "g",
            "--session-timeout",
            "300000000000years",
        ],
        &["consume", "-g", "g", "--heartbeat-interval", "1000years"],
        &["consume", "-g", "g", "--rebalance-timeout", "1000years"],
        &["chat", "-u", "a", "--heartbeat", "1000years"],
        &["bench", "e2e", "--duration", "1000years"],
    ];
    for args in cases {
        let flag = args.iter().find(|a| a.starts_with("--")).unwrap();
        let mut all = vec!["--brokers", "127.0.0.1:1"];
        all.extend_from_slice(args);
        let r = run(&all);
        assert_eq!(r.code, 2, "{args:?}:\n{r:?}");
        let first = r.stderr.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("error: invalid value '")
                && first.contains(&format!("for '{flag} <DURATION>'"))
                && first.ends_with(": at most 365 days"),
            "{args:?}:\n{r:?}"
        );
        assert!(!r.stderr.contains("panicked"), "{r:?}");
    }
    let r = Run::from(
        kafkademo(&["--brokers", "127.0.0.1:1", "topic", "list"])
            .env("KAFKADEMO_TIMEOUT", "300000000000years")
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("at most 365 days"), "{r:?}");
}
