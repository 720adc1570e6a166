//! What `bench stream-compare` feeds the processors and reads back from
//! them, as pure functions: the input lines (keys cycling, event time in
//! the record), the spans and figures the options name, the throughput
//! from the polled committed offsets, and the restore figures in the
//! processors' log lines.

use std::fmt::Write;

/// The input's shape: record i has key i mod `keys` and event time `base`
/// + i × `step_ms` (epoch ms).
#[derive(Debug, Clone, Copy)]
pub struct Events {
    pub keys: u32,
    pub step_ms: f64,
    pub base: u64,
}

impl Events {
    /// Lines `from..to` of the sequence: `KEY:{"t":MS}`, keys k00.. (at
    /// least two digits).
    pub fn lines(&self, from: u64, to: u64) -> String {
        let width = (self.keys.saturating_sub(1)).to_string().len().max(2);
        let mut out = String::new();
        for i in from..to {
            let key = i % u64::from(self.keys);
            let t = self.base + (i as f64 * self.step_ms) as u64;
            let _ = writeln!(out, "k{key:0width$}:{{\"t\":{t}}}");
        }
        out
    }
}

/// Where the event time of `n` records `step_ms` apart starts: a window
/// boundary such that the input ends at least a minute before `now_s`
/// (epoch seconds) and starts at least 20 minutes before it.
pub fn event_base(n: u64, step_ms: f64, window_ms: u64, now_s: u64) -> u64 {
    let span = n as f64 * step_ms / 1000.0 + 60.0;
    let back = span.max(1200.0);
    let ms = (now_s as f64 - back) * 1000.0;
    (ms / window_ms as f64) as u64 * window_ms
}

/// A span of event time: Ns, Nm, Nh or Nd, in seconds.
pub fn span_seconds(span: &str) -> Result<u64, String> {
    let bad = || format!("'{span}' is not a span such as 1h or 1d");
    let unit = span.chars().last().ok_or_else(bad)?;
    let n: u64 = span[..span.len() - unit.len_utf8()]
        .parse()
        .map_err(|_| bad())?;
    let m = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86400,
        _ => return Err(bad()),
    };
    if n == 0 || span.starts_with('0') || span.starts_with('+') {
        return Err(bad());
    }
    Ok(n * m)
}

/// The four figures, in the order they run.
pub const FIGURES: [&str; 4] = ["throughput", "latency", "restore", "retention"];

/// The figures a --figures list names (blank-separated).
pub fn parse_figures(list: &str) -> Result<Vec<&'static str>, String> {
    let mut chosen = Vec::new();
    for w in list.split_whitespace() {
        let f = FIGURES.iter().find(|f| **f == w).ok_or_else(|| {
            format!("unknown figure '{w}' (throughput, latency, restore, retention)")
        })?;
        chosen.push(*f);
    }
    Ok(chosen)
}

/// The items of `list` starting at item `round` (1-based, modulo their
/// number): each round starts with the next one, so that a burst of load
/// elsewhere hits all of them alike.
pub fn in_turn<T: Copy>(list: &[T], round: u32) -> Vec<T> {
    let n = list.len();
    (0..n).map(|i| list[(i + round as usize - 1) % n]).collect()
}

/// What the polls of the committed offsets saw: the first that saw
/// progress (at t0, c0 committed) and the first that saw all N (at t1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Polls {
    pub t0: u64,
    pub c0: u64,
    pub t1: u64,
}

impl Polls {
    /// Records/s: (N - c0) / (t1 - t0); None when all N were committed at
    /// the first poll that saw progress.
    pub fn rate(&self, n: u64) -> Option<f64> {
        (self.t1 > self.t0)
            .then(|| n.saturating_sub(self.c0) as f64 * 1000.0 / (self.t1 - self.t0) as f64)
    }
}

/// Kafka Streams' restore, from its RESTORED lines on stderr (`RESTORED
/// TOPIC-PARTITION N records in MS ms`, each stamped with when it came):
/// how many lines, records, the sum of their times, and the span from the
/// first restore's start to the last one's end (ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Restored {
    pub lines: u32,
    pub records: u64,
    pub ms_sum: u64,
    pub span_ms: u64,
}

pub fn kstreams_restored(lines: &[(u64, String)]) -> Restored {
    let mut r = Restored::default();
    let (mut first, mut last) = (None::<u64>, 0u64);
    for (at, line) in lines {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 6 || f[0] != "RESTORED" || f[3] != "records" {
            continue;
        }
        let (Ok(records), Ok(ms)) = (f[2].parse::<u64>(), f[5].parse::<u64>()) else {
            continue;
        };
        r.lines += 1;
        r.records += records;
        r.ms_sum += ms;
        let start = at.saturating_sub(ms);
        first = Some(first.map_or(start, |s: u64| s.min(start)));
        last = last.max(*at);
    }
    r.span_ms = first.map_or(0, |f| last.saturating_sub(f));
    r
}

/// kafkademo's restored line, `…: N changelog records in S s`: (N, S as
/// printed).
pub fn kafkademo_restored(line: &str) -> Option<(u64, String)> {
    let rest = line.strip_suffix(" s")?;
    let (head, secs) = rest.rsplit_once(" changelog records in ")?;
    let n = head.rsplit_once(": ")?.1.parse().ok()?;
    secs.parse::<f64>().ok()?;
    Some((n, secs.to_string()))
}

/// The open windows kafkademo's tasks restored, summed over its -v lines
/// `task P: restored N changelog records (W open windows, …)`; None when
/// there is no such line.
pub fn open_windows(lines: &[(u64, String)]) -> Option<u64> {
    let mut sum = None;
    for (_, line) in lines {
        let f: Vec<&str> = line.split_whitespace().collect();
        let Some(i) = f.windows(2).position(|w| {
            w[0] == "task" && w[1].ends_with(':') && w[1][..w[1].len() - 1].parse::<u32>().is_ok()
        }) else {
            continue;
        };
        let t = &f[i + 2..];
        if t.len() >= 6
            && t[0] == "restored"
            && t[1].parse::<u64>().is_ok()
            && t[2] == "changelog"
            && t[3] == "records"
            && t[5] == "open"
        {
            if let Some(Ok(w)) = t[4].strip_prefix('(').map(str::parse::<u64>) {
                sum = Some(sum.unwrap_or(0) + w);
            }
        }
    }
    sum
}

/// Bytes as the progress lines show them: `12.3 MB` (MiB).
pub fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1_048_576.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_cycle_the_keys_and_step_the_event_time() {
        let e = Events {
            keys: 3,
            step_ms: 1000.0 / 3.0,
            base: 1_000_000,
        };
        assert_eq!(
            e.lines(2, 5),
            "k02:{\"t\":1000666}\nk00:{\"t\":1001000}\nk01:{\"t\":1001333}\n"
        );
        let wide = Events {
            keys: 1000,
            step_ms: 1.0,
            base: 0,
        };
        assert_eq!(wide.lines(7, 8), "k007:{\"t\":7}\n");
    }

    #[test]
    fn the_event_time_ends_a_minute_ago_on_a_window_boundary() {
        let now = 1_800_000_000;
        // short input: 20 minutes back
        assert_eq!(event_base(100, 1.0, 10_000, now), (now - 1200) * 1000);
        // an hour of one record a second: the span and a minute
        let base = event_base(3600, 1000.0, 1000, now);
        assert_eq!(base, (now - 3660) * 1000);
        assert_eq!(event_base(1, 1.0, 7_000, now) % 7_000, 0);
    }

    #[test]
    fn spans_and_figures() {
        assert_eq!(span_seconds("90s"), Ok(90));
        assert_eq!(span_seconds("1h"), Ok(3600));
        assert_eq!(span_seconds("2d"), Ok(172_800));
        for bad in ["", "h", "0h", "01h", "1w", "1.5h", "+1h", "-1h"] {
            assert!(span_seconds(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_figures("restore  throughput").unwrap(),
            ["restore", "throughput"]
        );
        assert!(parse_figures("speed").unwrap_err().contains("'speed'"));
    }

    #[test]
    fn each_round_starts_one_further_along() {
        assert_eq!(in_turn(&[1, 2, 3], 1), [1, 2, 3]);
        assert_eq!(in_turn(&[1, 2, 3], 2), [2, 3, 1]);
        assert_eq!(in_turn(&[1, 2, 3], 6), [3, 1, 2]);
    }

    #[test]
    fn the_rate_counts_from_the_first_poll_that_saw_progress() {
        let p = Polls {
            t0: 10_000,
            c0: 200,
            t1: 12_000,
        };
        assert_eq!(p.rate(1200), Some(500.0));
        assert_eq!(Polls { t1: 10_000, ..p }.rate(1200), None);
    }

    #[test]
    fn kafka_streams_restores_are_summed_over_its_partitions() {
        let lines = vec![
            (
                5_000,
                "RESTORED a-count-store-changelog-0 300 records in 1000 ms".to_string(),
            ),
            (5_500, "some other line".to_string()),
            (
                6_200,
                "RESTORED a-count-store-changelog-1 200 records in 700 ms".to_string(),
            ),
        ];
        assert_eq!(
            kstreams_restored(&lines),
            Restored {
                lines: 2,
                records: 500,
                ms_sum: 1700,
                span_ms: 2200,
            }
        );
        assert_eq!(kstreams_restored(&[]), Restored::default());
    }

    #[test]
    fn kafkademo_restore_lines() {
        let l = "stream count: tasks [0, 1] restored from 'x-count-store-changelog': 4000 changelog records in 0.125 s";
        assert_eq!(kafkademo_restored(l), Some((4000, "0.125".to_string())));
        assert_eq!(kafkademo_restored("stream count: tasks [0] restored"), None);
        let v = vec![
            (1, "[2026-12-06T15:00:00.000Z INFO  kafkademo] task 0: restored 10 changelog records (4 open windows, position 9) in 0.1 s".to_string()),
            (2, "task 1: restored 5 changelog records (3 open windows, position 4) in 0.1 s".to_string()),
            (3, "task x: restored 5 changelog records (3 open windows".to_string()),
        ];
        assert_eq!(open_windows(&v), Some(7));
        assert_eq!(open_windows(&v[2..]), None);
    }

    #[test]
    fn megabytes() {
        assert_eq!(mb(1_572_864), "1.5 MB");
        assert_eq!(mb(0), "0.0 MB");
    }
}
