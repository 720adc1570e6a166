//! The four stream processors `bench stream-compare` measures, each one a
//! process of its own: its command line, its stdout and stderr stamped line
//! by line with the epoch milliseconds they arrived at (kept in memory for
//! the waits and written to WORK/NAME.out and NAME.err), its peak RSS from
//! measure.rs when it is stopped.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::commands::bench::measure::{self, Measured, Usage};

/// A processor and the guarantee it runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Processor {
    KafkademoEos,
    KafkademoUnfenced,
    KstreamsEos,
    KstreamsAlos,
}

pub const ALL: [Processor; 4] = [
    Processor::KafkademoEos,
    Processor::KafkademoUnfenced,
    Processor::KstreamsEos,
    Processor::KstreamsAlos,
];

impl Processor {
    /// results.tsv's `processor` column, and the name the options take.
    pub fn name(self) -> &'static str {
        match self {
            Processor::KafkademoEos => "kafkademo-eos",
            Processor::KafkademoUnfenced => "kafkademo-unfenced",
            Processor::KstreamsEos => "kstreams-eos",
            Processor::KstreamsAlos => "kstreams-alos",
        }
    }

    /// kafkademo (else Kafka Streams).
    pub fn is_kd(self) -> bool {
        matches!(self, Processor::KafkademoEos | Processor::KafkademoUnfenced)
    }

    /// How it is asked to stop cleanly: kafkademo on Ctrl-C, the JVM on
    /// SIGTERM (its shutdown hook closes Kafka Streams).
    pub fn stop_signal(self) -> libc::c_int {
        if self.is_kd() {
            libc::SIGINT
        } else {
            libc::SIGTERM
        }
    }

    /// The line (and stream) that says a freshly started processor runs:
    /// kafkademo's restored line, Kafka Streams' RUNNING.
    pub fn is_ready_line(self, stream: Stream, line: &str) -> bool {
        if self.is_kd() {
            stream == Stream::Err
                && line
                    .find("stream count: tasks ")
                    .is_some_and(|i| line[i..].contains(" restored from"))
        } else {
            stream == Stream::Out && line == "RUNNING"
        }
    }

    pub fn ready_what(self) -> &'static str {
        if self.is_kd() {
            "/stream count: tasks .* restored from/"
        } else {
            "RUNNING"
        }
    }
}

/// The list a --processors option names, in its order: words separated by
/// blanks.
pub fn parse_list(list: &str) -> Result<Vec<Processor>, String> {
    list.split_whitespace()
        .map(|w| {
            ALL.into_iter().find(|p| p.name() == w).ok_or_else(|| {
                let all: Vec<&str> = ALL.iter().map(|p| p.name()).collect();
                format!("unknown processor '{w}' ({})", all.join(" "))
            })
        })
        .collect()
}

/// Where the processors run and with what.
pub struct Setup {
    pub kafkademo: PathBuf,
    /// scripts/kstreams.sh
    pub kstreams: PathBuf,
    pub brokers: String,
    pub state: PathBuf,
}

/// One instance to start: `args` are the figure's windowing flags
/// (kafkademo's; the peer takes the same).
pub struct Launch<'a> {
    pub processor: Processor,
    pub app: &'a str,
    pub input: &'a str,
    pub output: &'a str,
    pub args: &'a [String],
    /// kafkademo's global flags (-v for the open windows each task restored)
    pub kd_flags: &'a [&'a str],
}

impl<'a> Launch<'a> {
    /// With no global flags for kafkademo.
    pub fn new(
        processor: Processor,
        app: &'a str,
        input: &'a str,
        output: &'a str,
        args: &'a [String],
    ) -> Launch<'a> {
        Launch {
            processor,
            app,
            input,
            output,
            args,
            kd_flags: &[],
        }
    }
}

/// The command line: both with a 6 s session timeout, so that a stopped
/// Kafka Streams instance (which does not leave its group) is gone from
/// the group soon; Kafka Streams commits every 100 ms.
pub fn command(setup: &Setup, l: &Launch) -> Command {
    let common = [
        "--input",
        l.input,
        "--output",
        l.output,
        "--application-id",
        l.app,
        "--time-field",
        "t",
        "--session-timeout",
        "6s",
        "--guarantee",
    ];
    if l.processor.is_kd() {
        let guarantee = match l.processor {
            Processor::KafkademoUnfenced => "unfenced",
            _ => "exactly-once",
        };
        let mut c = Command::new(&setup.kafkademo);
        c.args(["--brokers", &setup.brokers])
            .args(l.kd_flags)
            .args(["stream", "count"])
            .args(common)
            .arg(guarantee)
            .args(l.args);
        c
    } else {
        let guarantee = match l.processor {
            Processor::KstreamsEos => "exactly_once_v2",
            _ => "at_least_once",
        };
        let mut c = Command::new(&setup.kstreams);
        c.args(["run", "--bootstrap", &setup.brokers])
            .args(common)
            .arg(guarantee)
            .args(["--commit-interval", "100ms", "--state-dir"])
            .arg(setup.state.join(l.app))
            .args(l.args);
        c
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Out,
    Err,
}

/// Lines with the epoch milliseconds they arrived at.
type Lines = Arc<Mutex<Vec<(u64, String)>>>;

/// A running processor.
pub struct Instance {
    pub processor: Processor,
    pub name: String,
    /// When it was started, epoch ms.
    pub started_ms: u64,
    measured: Option<Measured>,
    out: Lines,
    err: Lines,
    stampers: Vec<JoinHandle<()>>,
    paths: [PathBuf; 2],
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Starts `cmd` as `name`, its output stamped into WORK/NAME.out and .err.
pub fn start(
    processor: Processor,
    name: &str,
    mut cmd: Command,
    work: &Path,
) -> std::io::Result<Instance> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let paths = [
        work.join(format!("{name}.out")),
        work.join(format!("{name}.err")),
    ];
    let files = [File::create(&paths[0])?, File::create(&paths[1])?];
    let started_ms = now_ms();
    let mut measured = measure::spawn(&mut cmd, None)?;
    let out: Lines = Arc::default();
    let err: Lines = Arc::default();
    let [fo, fe] = files;
    let mut stampers = Vec::new();
    if let Some(o) = measured.child.stdout.take() {
        stampers.push(stamp(o, fo, out.clone()));
    }
    if let Some(e) = measured.child.stderr.take() {
        stampers.push(stamp(e, fe, err.clone()));
    }
    Ok(Instance {
        processor,
        name: name.to_string(),
        started_ms,
        measured: Some(measured),
        out,
        err,
        stampers,
        paths,
    })
}

fn stamp(from: impl Read + Send + 'static, mut to: File, lines: Lines) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(from);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let ms = now_ms();
            let line = String::from_utf8_lossy(&buf);
            let line = line.trim_end_matches(['\n', '\r']).to_string();
            let _ = writeln!(to, "{ms} {line}");
            if let Ok(mut l) = lines.lock() {
                l.push((ms, line));
            }
        }
    })
}

/// Why a wait ended without what it waited for.
#[derive(Debug)]
pub enum Missed {
    Exited,
    TimedOut,
    Interrupted,
}

impl Instance {
    pub fn alive(&self) -> bool {
        self.measured.as_ref().is_some_and(|m| m.alive())
    }

    /// The stamped lines of one stream so far.
    pub fn lines(&self, stream: Stream) -> Vec<(u64, String)> {
        let l = match stream {
            Stream::Out => &self.out,
            Stream::Err => &self.err,
        };
        l.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Waits until it prints its ready line: (when, the line).
    pub fn ready(&self, within: Duration) -> Result<(u64, String), Missed> {
        let p = self.processor;
        self.wait_line(within, |s, l| p.is_ready_line(s, l))
    }

    /// Waits until a line matches while it lives.
    pub fn wait_line(
        &self,
        within: Duration,
        matches: impl Fn(Stream, &str) -> bool,
    ) -> Result<(u64, String), Missed> {
        let deadline = Instant::now() + within;
        loop {
            for s in [Stream::Out, Stream::Err] {
                if let Some(hit) = self.lines(s).into_iter().find(|(_, l)| matches(s, l)) {
                    return Ok(hit);
                }
            }
            if crate::signal::interrupted() {
                return Err(Missed::Interrupted);
            }
            if !self.alive() {
                // its last lines may still be on their way
                self.join_stampers_briefly();
                for s in [Stream::Out, Stream::Err] {
                    if let Some(hit) = self.lines(s).into_iter().find(|(_, l)| matches(s, l)) {
                        return Ok(hit);
                    }
                }
                return Err(Missed::Exited);
            }
            if Instant::now() >= deadline {
                return Err(Missed::TimedOut);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn join_stampers_briefly(&self) {
        let deadline = Instant::now() + Duration::from_secs(1);
        while Instant::now() < deadline && self.stampers.iter().any(|h| !h.is_finished()) {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The end of its logs, for a failure: on stderr.
    pub fn show_logs(&self) {
        for path in [&self.paths[1], &self.paths[0]] {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            if text.is_empty() {
                continue;
            }
            eprintln!("--- last 15 lines of {} ---", path.display());
            let lines: Vec<&str> = text.lines().collect();
            for l in &lines[lines.len().saturating_sub(15)..] {
                eprintln!("{l}");
            }
        }
    }

    /// Signals it, waits for it (60 s, then SIGKILL) and its output, and
    /// says what it cost.
    pub fn stop(&mut self, signal: libc::c_int) -> Option<Usage> {
        let measured = self.measured.take()?;
        measured.signal(signal);
        let deadline = Instant::now() + Duration::from_secs(60);
        while measured.alive() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        if measured.alive() {
            super::warn(&format!(
                "pid {} did not stop within 60 s of signal {signal}: SIGKILL",
                measured.pid()
            ));
            measured.signal(libc::SIGKILL);
        }
        let usage = measured.wait().ok();
        for h in std::mem::take(&mut self.stampers) {
            let _ = h.join();
        }
        if let Some(u) = &usage {
            let path = self.paths[0].with_extension("time");
            if let Err(e) = std::fs::write(&path, time_report(u)) {
                super::warn(&format!("{}: {e}", path.display()));
            }
        }
        usage
    }

    pub fn kill(&mut self) -> Option<Usage> {
        self.stop(libc::SIGKILL)
    }

    pub fn stop_cleanly(&mut self) -> Option<Usage> {
        let s = self.processor.stop_signal();
        self.stop(s)
    }
}

/// WORK/NAME.time: what wait4 reported, under GNU time -v's names (the
/// script ran each processor under it).
fn time_report(u: &Usage) -> String {
    let exit = match u.exit {
        Some(code) => format!("\tExit status: {code}\n"),
        None => "\tCommand terminated by a signal\n".to_string(),
    };
    format!(
        "\tUser + system time (seconds): {:.2}\n\tElapsed (wall clock) time (seconds): {:.3}\n\tMaximum resident set size (kbytes): {}\n{exit}",
        u.cpu_s,
        u.wall.as_secs_f64(),
        u.peak_rss_kb
    )
}

impl Drop for Instance {
    /// An instance still running when the run ends (a failure, Ctrl-C) is
    /// killed and reaped.
    fn drop(&mut self) {
        if let Some(m) = self.measured.take() {
            m.signal(libc::SIGKILL);
            let _ = m.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_time_report_names_the_peak_rss_as_gnu_time_does() {
        let u = Usage {
            wall: Duration::from_millis(1500),
            peak_rss_kb: 11860,
            cpu_s: 0.5,
            broker_cpu_s: None,
            exit: None,
        };
        let r = time_report(&u);
        assert!(
            r.contains("\tMaximum resident set size (kbytes): 11860\n"),
            "{r}"
        );
        assert!(r.contains("terminated by a signal"), "{r}");
    }

    #[test]
    fn processor_lists_are_words_in_their_order() {
        assert_eq!(
            parse_list(" kstreams-eos  kafkademo-eos ").unwrap(),
            [Processor::KstreamsEos, Processor::KafkademoEos]
        );
        assert!(parse_list("kafkademo").is_err(), "a prefix names none");
        let e = parse_list("kafkademo-eos flink").unwrap_err();
        assert!(
            e.starts_with("unknown processor 'flink' (kafkademo-eos "),
            "{e}"
        );
    }

    #[test]
    fn ready_lines() {
        let kd = Processor::KafkademoUnfenced;
        let line = "stream count: tasks [0, 1] restored from 'a-count-store-changelog': 0 changelog records in 0.002 s";
        assert!(kd.is_ready_line(Stream::Err, line));
        assert!(!kd.is_ready_line(Stream::Out, line));
        assert!(!kd.is_ready_line(Stream::Err, "stream count: tasks [0] revoked"));
        let ks = Processor::KstreamsAlos;
        assert!(ks.is_ready_line(Stream::Out, "RUNNING"));
        assert!(!ks.is_ready_line(Stream::Out, "NOT RUNNING"));
    }

    #[test]
    fn command_lines_name_the_guarantee_and_the_state_dir() {
        let setup = Setup {
            kafkademo: "kd".into(),
            kstreams: "ks.sh".into(),
            brokers: "h:1".into(),
            state: "/s".into(),
        };
        let args = ["--window".to_string(), "1s".to_string()];
        let launch = |processor| Launch {
            processor,
            app: "a",
            input: "i",
            output: "o",
            args: &args,
            kd_flags: &["-v"],
        };
        let show = |c: Command| measure::arguments(&c);
        assert_eq!(
            show(command(&setup, &launch(Processor::KafkademoUnfenced))),
            "--brokers h:1 -v stream count --input i --output o --application-id a --time-field t --session-timeout 6s --guarantee unfenced --window 1s"
        );
        assert_eq!(
            show(command(&setup, &launch(Processor::KstreamsEos))),
            "run --bootstrap h:1 --input i --output o --application-id a --time-field t --session-timeout 6s --guarantee exactly_once_v2 --commit-interval 100ms --state-dir /s/a --window 1s"
        );
    }
}
