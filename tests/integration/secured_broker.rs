//! A secured broker frozen (SIGSTOP) under a SASL_SSL consumer: a new
//! connection's TLS handshake and SASL exchange cost at most `--timeout`,
//! Ctrl-C ends the consumer within a second whatever the broker does, and
//! once the broker continues the group resumes from its commits with
//! nothing lost. Run alone (`make test`'s secure phase, --test-threads=1):
//! a frozen broker would stall every other test.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::fixture::*;
use crate::security::{alice, args, ok_kd, run_kd, sasl_ssl, AliceTopic};

fn broker_pid() -> u32 {
    let file = repo_root().join(".kafka/run/kafka.pid");
    std::fs::read_to_string(&file)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "no broker pid in {}: start it with the scripts",
                file.display()
            )
        })
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill -{sig} {pid} failed");
}

/// The broker frozen until dropped (pass or panic).
struct Frozen(u32);

impl Frozen {
    fn new() -> Frozen {
        let pid = broker_pid();
        signal(pid, "STOP");
        Frozen(pid)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        signal(self.0, "CONT");
    }
}

#[test]
fn a_frozen_secured_broker_costs_at_most_the_timeout_and_ctrl_c_a_second() {
    let t = AliceTopic::new("frozen");
    let group = format!("ga.{}", unique_topic("frozen"));
    let x = alice("SASL_SSL", Some("SCRAM-SHA-512"), "alice-secret");
    let b = sasl_ssl();
    let first: String = (0..50).map(|i| format!("r{i}\n")).collect();
    ok_kd(
        &args(&["produce", "-b", &b, "--topic", &t.0], &x),
        Some(&first),
    );
    let consumer = Running::start_in(
        repo_root(),
        &args(
            &[
                "consume",
                "-b",
                &b,
                "--topic",
                &t.0,
                "--group",
                &group,
                "--from-beginning",
                "--timeout",
                "3s",
            ],
            &x,
        ),
    );
    consumer.wait_lines(50, Duration::from_secs(30));

    let frozen = Frozen::new();
    // A new connection: TCP is accepted by the kernel, then the TLS
    // handshake gets no answer. It ends by --timeout, with exit 69.
    let started = Instant::now();
    let r = run_kd(
        &args(&["topic", "list", "-b", &b, "--timeout", "3s"], &x),
        None,
    );
    let took = started.elapsed();
    assert_eq!(r.code, 69, "{r:?}");
    assert!(r.stderr.contains("did not answer within 3s"), "{r:?}");
    assert!(
        took < Duration::from_secs(6),
        "topic list took {took:?}:\n{r:?}"
    );
    // Ctrl-C on the consumer while the broker is frozen.
    let started = Instant::now();
    consumer.signal("INT");
    let c = consumer.finish(Duration::from_secs(10));
    let took = started.elapsed();
    assert_eq!(c.code, 130, "{c:?}");
    assert!(
        took < Duration::from_secs(2),
        "Ctrl-C took {took:?}:\n{c:?}"
    );
    drop(frozen);

    // The group resumes after its last commit: every record is read, the
    // ones before the freeze at most once more.
    let second: String = (50..60).map(|i| format!("r{i}\n")).collect();
    ok_kd(
        &args(&["produce", "-b", &b, "--topic", &t.0], &x),
        Some(&second),
    );
    let r = ok_kd(
        &args(
            &[
                "consume",
                "-b",
                &b,
                "--topic",
                &t.0,
                "--group",
                &group,
                "--exit-at-end",
            ],
            &x,
        ),
        None,
    );
    let mut seen: Vec<String> = c
        .stdout
        .lines()
        .chain(r.stdout.lines())
        .map(str::to_string)
        .collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 60, "every record read:\n{c:?}\n{r:?}");
    assert!(r.stdout.contains("r59"), "{r:?}");
}
