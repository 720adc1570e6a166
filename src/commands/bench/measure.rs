//! What the hidden measuring subcommands (`bench compare`, `bench
//! stream-compare`, `bench top-cost`) read of processes: one measured
//! process, spawned and reaped with wait4, whose rusage gives its peak RSS
//! and CPU time (what GNU time -v reports, without depending on it), with
//! its wall time and the broker's CPU ticks (/proc/PID/stat) around it;
//! and, for a process that keeps running (the broker, `kafkademo web`),
//! its CPU ticks and peak RSS from /proc.

use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What one run cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Usage {
    pub wall: Duration,
    /// ru_maxrss: KB on Linux.
    pub peak_rss_kb: u64,
    /// User plus system time.
    pub cpu_s: f64,
    /// The broker's CPU seconds meanwhile; None when unknown.
    pub broker_cpu_s: Option<f64>,
    /// The exit code, or None when a signal ended it.
    pub exit: Option<i32>,
}

/// Runs `cmd` with stdin from `input` (or nothing) and stdout and stderr to
/// `log`, and waits for it.
pub fn run(
    cmd: &mut Command,
    input: Option<&Path>,
    log: &Path,
    broker_pid: Option<u32>,
) -> std::io::Result<Usage> {
    let out = File::create(log)?;
    let stdin = match input {
        Some(path) => Stdio::from(File::open(path)?),
        None => Stdio::null(),
    };
    cmd.stdin(stdin).stdout(out.try_clone()?).stderr(out);
    spawn(cmd, broker_pid)?.wait()
}

/// Runs `cmd` with no stdin, stdout to `out` and stderr to `err` (output
/// to be parsed, kept clean of warnings), and waits for it.
pub fn run_split(
    cmd: &mut Command,
    out: &Path,
    err: &Path,
    broker_pid: Option<u32>,
) -> std::io::Result<Usage> {
    cmd.stdin(Stdio::null())
        .stdout(File::create(out)?)
        .stderr(File::create(err)?);
    spawn(cmd, broker_pid)?.wait()
}

/// A measured process that runs: its stdio as `cmd` set it up (piped
/// streams are in `child`), reaped by `wait`.
pub struct Measured {
    pub child: Child,
    pub started: Instant,
    broker_pid: Option<u32>,
    broker_ticks: Option<u64>,
}

/// Starts `cmd` (its stdio as set up) for measuring.
pub fn spawn(cmd: &mut Command, broker_pid: Option<u32>) -> std::io::Result<Measured> {
    let broker_ticks = broker_pid.and_then(cpu_ticks);
    let started = Instant::now();
    let child = cmd.spawn()?;
    Ok(Measured {
        child,
        started,
        broker_pid,
        broker_ticks,
    })
}

impl Measured {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it still runs (it is not reaped: wait still measures it).
    pub fn alive(&self) -> bool {
        let mut info: libc::siginfo_t = empty_siginfo();
        // SAFETY: info points to a live siginfo_t; WNOWAIT leaves the child
        // to be reaped by wait4.
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                self.pid() as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        // SAFETY: si_pid is set (or left 0) by waitid on success.
        r == 0 && unsafe { info.si_pid() } == 0
    }

    /// Sends `signal` (a libc::SIG* number) to the process.
    pub fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill only sends a signal; the pid is our unreaped child,
        // so it cannot have been recycled.
        unsafe {
            libc::kill(self.pid() as libc::pid_t, signal);
        }
    }

    /// Waits for it to end and says what it cost.
    pub fn wait(self) -> std::io::Result<Usage> {
        let (status, rusage) = wait4(self.child.id() as libc::pid_t)?;
        let wall = self.started.elapsed();
        let b1 = self.broker_pid.and_then(cpu_ticks);
        let broker_cpu_s = match (self.broker_ticks, b1) {
            (Some(a), Some(b)) => Some(ticks_to_secs(b.saturating_sub(a))),
            _ => None,
        };
        let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        Ok(Usage {
            wall,
            peak_rss_kb: rusage.ru_maxrss.max(0) as u64,
            cpu_s: secs(rusage.ru_utime) + secs(rusage.ru_stime),
            broker_cpu_s,
            exit: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
        })
    }
}

fn empty_siginfo() -> libc::siginfo_t {
    // SAFETY: siginfo_t is plain old data, for which all zeroes is valid.
    unsafe { std::mem::zeroed() }
}

/// A command's arguments as one line: what the tests of command lines compare.
#[cfg(test)]
pub fn arguments(c: &Command) -> String {
    c.get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Reaps `pid` (a child of ours, not yet waited for), retrying on EINTR.
fn wait4(pid: libc::pid_t) -> std::io::Result<(libc::c_int, libc::rusage)> {
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data, for which all zeroes is a valid value.
    let mut rusage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: both pointers point to live locals of the types wait4 writes.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut rusage) };
        if r == pid {
            return Ok((status, rusage));
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// utime + stime of a process, in clock ticks; None when it cannot be read.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat_ticks(&stat)
}

/// Fields 14 and 15 of /proc/PID/stat, counted after the command name
/// (field 2, in parentheses, may itself hold spaces and parentheses).
fn stat_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some(utime + stime)
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// Clock ticks (of /proc/PID/stat) as seconds.
pub fn ticks_to_secs(ticks: u64) -> f64 {
    ticks as f64 / clock_ticks()
}

/// The peak resident set size of a running process (VmHWM), in KB; None
/// when it cannot be read.
pub fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    vm_hwm_kb(&status)
}

/// The `VmHWM:   1234 kB` line of /proc/PID/status.
fn vm_hwm_kb(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_ticks_skip_a_command_name_with_spaces() {
        let stat = "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 40 0";
        assert_eq!(stat_ticks(stat), Some(300));
        assert_eq!(stat_ticks("4242 (java) S 1"), None);
    }

    #[test]
    fn a_running_child_is_seen_alive_until_a_signal_ends_it() {
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        let m = spawn(&mut cmd, None).unwrap();
        assert!(m.alive());
        m.signal(libc::SIGTERM);
        // until it is seen gone, or 10 s at most rather than a hung test
        for _ in 0..1000 {
            if !m.alive() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!m.alive(), "still alive after SIGTERM");
        let u = m.wait().unwrap();
        assert_eq!(u.exit, None, "a signal ended it");
    }

    #[test]
    fn a_child_is_measured_and_its_exit_code_kept() {
        let dir = std::env::temp_dir().join(format!("kd-measure-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("out");
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo done; exit 3"]);
        let u = run(&mut cmd, None, &log, Some(std::process::id())).unwrap();
        assert_eq!(u.exit, Some(3));
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "done\n");
        assert!(u.peak_rss_kb > 0, "{u:?}");
        assert!(u.broker_cpu_s.is_some());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn vm_hwm_is_read_from_proc_status() {
        let status =
            "Name:\tkafkademo\nVmPeak:\t  900 kB\nVmHWM:\t   32712 kB\nVmRSS:\t 30000 kB\n";
        assert_eq!(vm_hwm_kb(status), Some(32712));
        assert_eq!(vm_hwm_kb("Name:\tkthreadd\n"), None);
        assert!(peak_rss_kb(std::process::id()).is_some_and(|kb| kb > 0));
    }
}
