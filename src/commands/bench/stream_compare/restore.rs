//! The two figures of `bench stream-compare` that restart an application
//! on its own changelog: restore (a changelog of about RESTORE_RECORDS
//! open windows, read back) and retention (whether restore time stays flat
//! as closed windows pile up over spans of event time, kafkademo's
//! changelog compacted with settings that compress stream count's own into
//! seconds, its size on the broker read with DescribeLogDirs).

use std::time::Duration;

use crate::error::{Error, Result};

use super::input::{self, event_base, Events};
use super::processor::{self, Launch, Processor, Stream};
use super::{failed, interrupted, load, millis_as_seconds, say, warn, windowing, Bench};

/// kafkademo's changelog in the retention figure: what stream count's own
/// settings (segment.ms and delete.retention.ms 600000,
/// min.cleanable.dirty.ratio 0.5) do over real time, compressed into
/// seconds. segment.bytes 1 MiB is the least Kafka 4 takes; a ratio of 0
/// lets the cleaner come back after a small tick.
const RETENTION_SEGMENT_MS: u64 = 5000;
const RETENTION_CONFIGS: [(&str, &str); 5] = [
    ("cleanup.policy", "compact"),
    ("segment.ms", "5000"),
    ("segment.bytes", "1048576"),
    ("delete.retention.ms", "5000"),
    ("min.cleanable.dirty.ratio", "0"),
];

/// One restart: which figure and round (or span) it belongs to, and what
/// the stopped application was started with.
struct Restart<'a> {
    figure: &'a str,
    round: &'a str,
    name: &'a str,
    launch: Launch<'a>,
}

/// The changelog after a retention span: ticks run, its size on the broker.
struct Settled {
    ticks: u32,
    bytes: Option<u64>,
}

impl Bench<'_> {
    /// Starts the stopped application again (Kafka Streams with its state
    /// directory deleted: everything comes back from the changelog), waits
    /// until it has restored, stops it, and records what the restore read
    /// and took.
    fn restart(&mut self, r: &Restart) -> Result<()> {
        let p = r.launch.processor;
        // The restart must not wait for the stopped member's session inside the timing.
        self.wait_left(r.launch.app);
        if !p.is_kd() {
            let _ = std::fs::remove_dir_all(self.setup.state.join(r.launch.app));
        }
        let mut inst = self.start(&r.launch, r.name)?;
        let (line_ms, line) = match self.ready(&inst, 900) {
            Ok(hit) => hit,
            Err(e) => {
                inst.kill();
                return Err(e);
            }
        };
        let wall = line_ms.saturating_sub(inst.started_ms);
        let partitions = self.args.partitions as u32;
        if p.is_kd() {
            inst.stop(libc::SIGINT);
            let restored = input::kafkademo_restored(&line);
            let (recs, secs) = match &restored {
                Some((n, s)) => (n.to_string(), s.clone()),
                None => ("NaN".into(), "NaN".into()),
            };
            self.result(r.figure, p, r.round, "records", &recs);
            self.result(r.figure, p, r.round, "seconds", &secs);
            self.result(
                r.figure,
                p,
                r.round,
                "wall_seconds",
                &millis_as_seconds(wall),
            );
            // with -v: "task P: restored N changelog records (W open windows, ...)"
            let open = input::open_windows(&inst.lines(Stream::Err));
            if let Some(w) = open {
                self.result(r.figure, p, r.round, "open_windows", &w.to_string());
            }
            let shown = line.strip_prefix("stream count: ").unwrap_or(&line);
            let open = open.map_or(String::new(), |w| format!(" ({w} open windows)"));
            say(&format!(
                "  {}: {shown}{open} ({wall} ms after the start; load {})",
                p.name(),
                load(false)
            ))?;
        } else {
            // one RESTORED line per store partition, each printed as its restore ends
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while input::kstreams_restored(&inst.lines(Stream::Err)).lines < partitions
                && std::time::Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(100));
            }
            inst.stop(libc::SIGTERM);
            let sums = input::kstreams_restored(&inst.lines(Stream::Err));
            if sums.lines != partitions {
                warn(&format!(
                    "{}: {} RESTORED lines for {partitions} partitions",
                    r.name, sums.lines
                ));
            }
            self.result(r.figure, p, r.round, "records", &sums.records.to_string());
            self.result(
                r.figure,
                p,
                r.round,
                "seconds",
                &millis_as_seconds(sums.span_ms),
            );
            self.result(
                r.figure,
                p,
                r.round,
                "seconds_sum",
                &millis_as_seconds(sums.ms_sum),
            );
            self.result(
                r.figure,
                p,
                r.round,
                "wall_seconds",
                &millis_as_seconds(wall),
            );
            say(&format!(
                "  {}: {} changelog records in {} partitions: sum of their restore times {} ms, first start to last end {} ms; RUNNING {wall} ms after the start (load {})",
                p.name(),
                sums.records,
                sums.lines,
                sums.ms_sum,
                sums.span_ms,
                load(false)
            ))?;
        }
        Ok(())
    }

    // ---- 3. restore -------------------------------------------------------------

    pub(super) fn restore(&mut self) -> Result<()> {
        let a = self.args;
        let n = a.restore_records;
        let step = 1000.0 / f64::from(a.keys);
        // Every record its own 1 s window, and a grace longer than the input
        // spans, so no window closes: one changelog record per input record,
        // all of them state to restore. (With no grace, neither processor
        // keeps closed windows: kafkademo writes only the windows still open
        // at a flush, and Kafka Streams restores only what its store
        // retention (window + grace) keeps.)
        let grace = format!("{}s", (n as f64 * step / 1000.0 + 3600.0) as u64);
        say(&format!(
            "Restore: {n} records, each its own 1 s window (grace {grace}: none closes), counted into a changelog; then a restart restores it; load {}",
            load(true)
        ))?;
        let events = Events {
            keys: a.keys,
            step_ms: step,
            base: event_base(n, step, 1000, processor::now_ms() / 1000),
        };
        let input = self.topic("rs-in", false)?;
        self.produce(&input, &events, 0, n)?;
        for p in self.plan.restore_processors.clone() {
            self.attempt(&format!("restore: {}", p.name()), |b| {
                b.restore_run(p, &input, &grace)
            })?;
        }
        self.topics.drop(&input);
        Ok(())
    }

    fn restore_run(&mut self, p: Processor, input: &str, grace: &str) -> Result<()> {
        let tag = format!("rs-{}", p.name());
        let app = self.app(&tag);
        let out = self.topic(&format!("{tag}-out"), true)?;
        let name = format!("restore-{}", p.name());
        let mut args = windowing("1s", grace);
        if !p.is_kd() {
            args.extend(["--cache-bytes".into(), "0".into()]);
        }
        let mut build_args = args.clone();
        if p.is_kd() {
            build_args.push("--exit-at-end".into());
        }
        let build = Launch::new(p, &app, input, &out, &build_args);
        let mut inst = self.start(&build, &format!("{name}-build"))?;
        if let Err(e) = self.wait_committed(&app, self.args.restore_records, 900, &inst) {
            inst.kill();
            return Err(e);
        }
        inst.stop_cleanly();
        drop(inst);
        self.restart(&Restart {
            figure: "restore",
            round: "1",
            name: &name,
            launch: Launch {
                args: &args,
                ..build
            },
        })?;
        self.drop_app(&app);
        self.topics.drop(&out);
        Ok(())
    }

    // ---- 4. retention -------------------------------------------------------------

    pub(super) fn retention(&mut self) -> Result<()> {
        let a = self.args;
        say(&format!(
            "Retention: {} keys, one record per key per 1 s window (grace {}), {} of event time, each through a fresh application; then a restart; load {}",
            a.keys,
            a.retention_grace,
            self.plan
                .spans
                .iter()
                .map(|(s, _)| s.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            load(true)
        ))?;
        let processors = self.plan.retention_processors.clone();
        for (k, (span, secs)) in self.plan.spans.clone().into_iter().enumerate() {
            for p in input::in_turn(&processors, k as u32 + 1) {
                self.attempt(&format!("retention: {} over {span}", p.name()), |b| {
                    b.retention_run(p, &span, secs)
                })?;
            }
        }
        Ok(())
    }

    fn retention_run(&mut self, p: Processor, span: &str, secs: u64) -> Result<()> {
        let a = self.args;
        let n = secs * u64::from(a.keys);
        let step = 1000.0 / f64::from(a.keys);
        let tag = format!("rt-{span}-{}", p.name());
        let app = self.app(&tag);
        let name = format!("retention-{span}-{}", p.name());
        let events = Events {
            keys: a.keys,
            step_ms: step,
            base: event_base(n, step, 1000, processor::now_ms() / 1000),
        };
        let input = self.topic(&format!("{tag}-in"), false)?;
        self.produce(&input, &events, 0, n)
            .map_err(|e| failed(format!("producing the input of {name} failed: {e}")))?;
        let out = self.topic(&format!("{tag}-out"), true)?;
        let changelog = format!("{app}-count-store-changelog");
        let mut args = windowing("1s", &a.retention_grace);
        if p.is_kd() {
            let configs: Vec<(String, String)> = RETENTION_CONFIGS
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            self.topics.create_with(
                &format!("{tag}-count-store-changelog"),
                self.partitions(),
                &configs,
            )?;
            // Stream time stays with the input between ticks (the input ends
            // a minute ago: a wall-clock idle flush would close every window).
            args.extend(["--idle-flush".into(), "24h".into()]);
        }
        let launch = Launch::new(p, &app, &input, &out, &args);
        let started = processor::now_ms();
        let build_name = format!("{name}-build");
        let mut inst = self.start(&launch, &build_name)?;
        if let Err(e) = self.wait_committed(&app, n, 3600, &inst) {
            inst.kill();
            return Err(e);
        }
        let build_ms = processor::now_ms() - started;
        say(&format!(
            "  {}, {span} of event time: {n} records counted in {:.1} s (load {})",
            p.name(),
            build_ms as f64 / 1000.0,
            load(false)
        ))?;
        let settled = if p.is_kd() {
            let mut settled = Settled {
                ticks: 0,
                bytes: None,
            };
            match self.settle(&mut settled, &app, &build_name, &input, n, &events, &inst) {
                Err(e @ (Error::Interrupted | Error::Output(_))) => return Err(e),
                Err(e) => warn(&format!(
                    "{name}: compaction not settled ({e}); restoring anyway"
                )),
                Ok(()) => {}
            }
            settled
        } else {
            // Kafka Streams' own changelog: closed windows leave it by
            // retention.ms (window + grace + 1 day) against their
            // timestamps, not by compaction.
            Settled {
                ticks: 0,
                bytes: self.log_bytes(&changelog),
            }
        };
        inst.stop_cleanly();
        drop(inst);
        self.result("retention", p, span, "input_records", &n.to_string());
        self.result(
            "retention",
            p,
            span,
            "build_seconds",
            &millis_as_seconds(build_ms),
        );
        self.result("retention", p, span, "ticks", &settled.ticks.to_string());
        let bytes = settled.bytes.map_or("NaN".into(), |b| b.to_string());
        self.result("retention", p, span, "changelog_bytes", &bytes);
        let kd_flags: &[&str] = if p.is_kd() { &["-v"] } else { &[] };
        self.restart(&Restart {
            figure: "retention",
            round: span,
            name: &name,
            launch: Launch { kd_flags, ..launch },
        })?;
        self.drop_app(&app);
        self.topics.drop(&input);
        self.topics.drop(&out);
        Ok(())
    }

    /// The running kafkademo application has counted the span's `n`
    /// records: ticks (one more second of input each) until the changelog
    /// compacts no further.
    #[allow(clippy::too_many_arguments)]
    fn settle(
        &mut self,
        settled: &mut Settled,
        app: &str,
        name: &str,
        input: &str,
        n: u64,
        events: &Events,
        inst: &processor::Instance,
    ) -> Result<()> {
        let keys = u64::from(self.args.keys);
        let changelog = format!("{app}-count-store-changelog");
        settled.bytes = self.log_bytes(&changelog);
        say(&format!(
            "    changelog {} on the broker after the span",
            input::mb(settled.bytes.unwrap_or(0))
        ))?;
        let mut prev: Option<u64> = None;
        for tick in 1..=self.args.retention_ticks {
            // The active segment is older than segment.ms now: the tick's
            // writes roll it, and the cleaner can take what it held.
            pause(Duration::from_millis(RETENTION_SEGMENT_MS + 1000))?;
            let from = n + u64::from(tick - 1) * keys;
            self.produce(input, events, from, from + keys)
                .map_err(|e| failed(format!("{name}: producing tick {tick} failed: {e}")))?;
            self.wait_committed(app, from + keys, 120, inst)?;
            let size = self.settled_bytes(&changelog)?;
            settled.ticks = tick;
            settled.bytes = Some(size);
            say(&format!(
                "    tick {tick}: changelog {} on the broker (load {})",
                input::mb(size),
                load(false)
            ))?;
            if prev.is_some_and(|prev| size * 100 >= prev * 99) {
                return Ok(());
            }
            prev = Some(size);
        }
        warn(&format!(
            "{name}: the changelog still shrank at tick {} (--retention-ticks)",
            self.args.retention_ticks
        ));
        Ok(())
    }

    /// The topic's size once it holds still: the same in five polls about
    /// 4 s apart (longer than the log cleaner's 15 s back-off between
    /// looks), at most 180 s.
    fn settled_bytes(&self, topic: &str) -> Result<u64> {
        let deadline = std::time::Instant::now() + Duration::from_secs(180);
        let (mut last, mut same) = (None, 0);
        loop {
            let size = self
                .log_bytes(topic)
                .ok_or_else(|| failed(format!("cannot read the size of topic {topic}")))?;
            same = if last == Some(size) { same + 1 } else { 0 };
            last = Some(size);
            if same >= 4 {
                return Ok(size);
            }
            if std::time::Instant::now() >= deadline {
                warn(&format!("topic {topic} still changed size after 180 s"));
                return Ok(size);
            }
            pause(Duration::from_secs(4))?;
        }
    }
}

/// Sleeps, unless Ctrl-C ends the run meanwhile.
fn pause(d: Duration) -> Result<()> {
    let end = std::time::Instant::now() + d;
    while std::time::Instant::now() < end {
        interrupted()?;
        std::thread::sleep(Duration::from_millis(100).min(d));
    }
    interrupted()
}
