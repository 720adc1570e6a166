//! What a run of cluster snapshots (client::observe) says that one snapshot
//! cannot: records per second in and out, how far behind a group is in
//! time, and a Burrow-style judgement of each group over a sliding window.
//! Pure logic, no I/O and no terminal: `kafkademo top` draws a `View`, and a
//! web page or a metrics endpoint can serve the same. docs/monitoring.md
//! explains every number.

use std::collections::VecDeque;
use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::client::observe::{BrokerState, GroupOffset, PartitionState, Snapshot};

/// Rates are measured over (at most) this much of the latest history, so
/// they follow changes within seconds whatever the window.
pub const RATE_SPAN: Duration = Duration::from_secs(10);

/// How far a consumer is behind in time: the age of the oldest record it
/// has not consumed, estimated from the history of log-end offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeLag {
    /// Caught up (zero) or this far behind.
    Behind(Duration),
    /// The log end was past the committed offset before the oldest snapshot
    /// kept: more than the window (at least this much).
    BeyondWindow(Duration),
    /// Not known: nothing committed, or no log end.
    Unknown,
}

impl TimeLag {
    #[allow(dead_code)] // for metrics (a gauge needs a number)
    /// Milliseconds, for sorting and metrics (the lower bound when beyond the window).
    pub fn millis(self) -> Option<u64> {
        match self {
            TimeLag::Behind(d) | TimeLag::BeyondWindow(d) => Some(d.as_millis() as u64),
            TimeLag::Unknown => None,
        }
    }

    /// As the dashboard and `--once` show it: `0s`, `3.2s`, `> 10m`, `-`.
    pub fn text(self) -> String {
        match self {
            TimeLag::Behind(d) => short_duration(d),
            TimeLag::BeyondWindow(d) => format!("> {}", short_duration(d)),
            TimeLag::Unknown => "-".into(),
        }
    }

    fn worse(self, other: TimeLag) -> TimeLag {
        use TimeLag::*;
        match (self, other) {
            (BeyondWindow(a), BeyondWindow(b)) => BeyondWindow(a.max(b)),
            (BeyondWindow(_), _) => self,
            (_, BeyondWindow(_)) => other,
            (Behind(a), Behind(b)) => Behind(a.max(b)),
            (Behind(_), Unknown) => self,
            (Unknown, _) => other,
        }
    }
}

/// JSON: milliseconds, `"> window"`, or null.
impl Serialize for TimeLag {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            TimeLag::Behind(d) => s.serialize_u64(d.as_millis() as u64),
            TimeLag::BeyondWindow(_) => s.serialize_str("> window"),
            TimeLag::Unknown => s.serialize_none(),
        }
    }
}

/// `1.5s`, `42s`, `3m20s`, `2h5m`: short enough for a table cell.
pub fn short_duration(d: Duration) -> String {
    let ms = d.as_millis();
    let s = d.as_secs();
    if ms < 10_000 {
        let tenths = ms / 100;
        if tenths.is_multiple_of(10) {
            format!("{}s", tenths / 10)
        } else {
            format!("{}.{}s", tenths / 10, tenths % 10)
        }
    } else if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        match s % 60 {
            0 => format!("{}m", s / 60),
            r => format!("{}m{r}s", s / 60),
        }
    } else {
        match (s % 3600) / 60 {
            0 => format!("{}h", s / 3600),
            m => format!("{}h{m}m", s / 3600),
        }
    }
}

/// A group's (or partition's) health over the window, worst last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    /// Caught up at some point in the window, or lag shrinking, or nothing
    /// to judge yet.
    Ok,
    /// Committing, but the lag grew over the window.
    Warn,
    /// Members are there, the lag is above 0, and the committed offset has
    /// not moved for the whole window.
    Stall,
    /// No members, the lag is above 0, and the committed offset has not
    /// moved for the whole window: nobody is consuming.
    Stop,
    /// A partition it reads has no leader.
    Err,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Warn => "WARN",
            Status::Stall => "STALL",
            Status::Stop => "STOP",
            Status::Err => "ERR",
        }
    }
}

/// One partition of a group at one snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    pub at_ms: i64,
    pub committed: Option<i64>,
    pub log_end: Option<i64>,
}

impl Sample {
    fn lag(&self) -> Option<i64> {
        Some((self.log_end? - self.committed?).max(0))
    }
}

/// Burrow's rules for one partition over `samples` (oldest first, the last
/// one now), with what a committed offset alone can tell (OffsetFetch has no
/// commit times, so "still committing" is read as "still has members"):
///
/// 1. no leader → ERR;
/// 2. lag 0 at any sample, or nothing committed → OK;
/// 3. committed offset unchanged over a whole window, lag > 0 → STALL with
///    members, STOP without (a shorter history judges nothing yet: OK);
/// 4. committed offset moved, lag now above the lag at the window's start → WARN;
/// 5. else OK.
pub fn judge(samples: &[Sample], window: Duration, members: usize, has_leader: bool) -> Status {
    if !has_leader {
        return Status::Err;
    }
    let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
        return Status::Ok;
    };
    if last.lag().is_none() || samples.iter().any(|s| s.lag() == Some(0)) {
        return Status::Ok;
    }
    let committed: Vec<i64> = samples.iter().filter_map(|s| s.committed).collect();
    let still = committed.windows(2).all(|w| w[0] == w[1]);
    let covered = Duration::from_millis((last.at_ms - first.at_ms).max(0) as u64);
    if still {
        return match (covered >= window, members > 0) {
            (false, _) => Status::Ok,
            (true, true) => Status::Stall,
            (true, false) => Status::Stop,
        };
    }
    match (first.lag(), last.lag()) {
        (Some(a), Some(b)) if b > a => Status::Warn,
        _ => Status::Ok,
    }
}

/// How long ago the log end stood where the committed offset is now: the
/// age of the oldest unconsumed record (offset `committed`). `log_ends` is
/// the partition's (time ms, log end) history, oldest first, the last one
/// `now_ms`. Between two samples that straddle it, the moment the log end
/// passed `committed` is interpolated linearly (records are assumed evenly
/// spread between two snapshots); the time lag is now minus that moment.
pub fn time_lag(log_ends: &[(i64, i64)], committed: i64, now_ms: i64) -> TimeLag {
    let ms = |from: i64| Duration::from_millis((now_ms - from).max(0) as u64);
    let Some(&(_, end_now)) = log_ends.last() else {
        return TimeLag::Unknown;
    };
    if committed >= end_now {
        return TimeLag::Behind(Duration::ZERO);
    }
    if log_ends.len() < 2 {
        // one look tells how many records, not since when
        return TimeLag::Unknown;
    }
    // The last sample at which record `committed` did not exist yet.
    let Some(i) = log_ends.iter().rposition(|&(_, end)| end <= committed) else {
        return TimeLag::BeyondWindow(ms(log_ends[0].0));
    };
    let (t0, e0) = log_ends[i];
    let Some(&(t1, e1)) = log_ends.get(i + 1) else {
        return TimeLag::Behind(Duration::ZERO);
    };
    // Record `committed` is the (committed - e0 + 1)th of the e1 - e0
    // records written between t0 and t1.
    let share = (committed - e0 + 1) as f64 / (e1 - e0) as f64;
    let written = t0 as f64 + share * (t1 - t0) as f64;
    TimeLag::Behind(ms(written.round() as i64))
}

/// Records per second from a (time ms, offset) series: over the samples of
/// the last `span`. None with fewer than two samples, or when the offset
/// went back (a reset, a re-created topic).
pub fn rate(series: &[(i64, i64)], span: Duration) -> Option<f64> {
    let &(t1, v1) = series.last()?;
    let from = t1 - span.as_millis() as i64;
    let &(t0, v0) = series
        .iter()
        .find(|&&(t, _)| t >= from)
        .filter(|&&(t, _)| t < t1)?;
    (v1 >= v0).then(|| (v1 - v0) as f64 * 1000.0 / (t1 - t0) as f64)
}

/// The last snapshots, as far back as the window (plus the one just before
/// it, so a full window is covered).
pub struct History {
    window: Duration,
    snapshots: VecDeque<Snapshot>,
}

impl History {
    pub fn new(window: Duration) -> History {
        History {
            window,
            snapshots: VecDeque::new(),
        }
    }

    pub fn push(&mut self, snapshot: Snapshot) {
        let cutoff = snapshot.taken_at_ms - self.window.as_millis() as i64;
        self.snapshots.push_back(snapshot);
        while self
            .snapshots
            .get(1)
            .is_some_and(|s| s.taken_at_ms <= cutoff)
        {
            self.snapshots.pop_front();
        }
    }

    pub fn latest(&self) -> Option<&Snapshot> {
        self.snapshots.back()
    }

    /// How many snapshots are kept.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.snapshots.len()
    }

    /// How much time the kept snapshots span.
    pub fn covered(&self) -> Duration {
        match (self.snapshots.front(), self.snapshots.back()) {
            (Some(a), Some(b)) => Duration::from_millis((b.taken_at_ms - a.taken_at_ms) as u64),
            _ => Duration::ZERO,
        }
    }

    /// A partition's (time, log end) history.
    pub fn log_ends(&self, topic: &str, partition: i32) -> Vec<(i64, i64)> {
        self.snapshots
            .iter()
            .filter_map(|s| {
                let end = s.topic(topic)?.partition(partition)?.log_end?;
                Some((s.taken_at_ms, end))
            })
            .collect()
    }

    /// A group's partition at every snapshot that has it.
    pub fn samples(&self, group: &str, topic: &str, partition: i32) -> Vec<Sample> {
        self.snapshots
            .iter()
            .filter_map(|s| {
                let o = offset_of(s, group, topic, partition)?;
                Some(Sample {
                    at_ms: s.taken_at_ms,
                    committed: o.committed,
                    log_end: o.log_end,
                })
            })
            .collect()
    }

    /// Records per second written to a topic (its log ends' movement).
    pub fn records_in(&self, topic: &str) -> Option<f64> {
        let t = self.latest()?.topic(topic)?;
        sum(t
            .partitions
            .iter()
            .map(|p| rate(&self.log_ends(topic, p.partition), RATE_SPAN)))
    }

    /// Records per second a group consumes from a topic (its committed
    /// offsets' movement).
    pub fn records_out(&self, group: &str, topic: &str) -> Option<f64> {
        let g = self.latest()?.group(group)?;
        sum(g.offsets.iter().filter(|o| o.topic == topic).map(|o| {
            let series: Vec<(i64, i64)> = self
                .samples(group, topic, o.partition)
                .iter()
                .filter_map(|s| Some((s.at_ms, s.committed?)))
                .collect();
            rate(&series, RATE_SPAN)
        }))
    }

    /// Everything derived from the history, for display or export.
    pub fn view(&self) -> Option<View> {
        let now = self.latest()?;
        let mut topics: Vec<TopicView> = now
            .topics
            .iter()
            .map(|t| TopicView {
                name: t.name.clone(),
                internal: t.internal,
                records_in_per_s: self.records_in(&t.name).map(round2),
                records_out_per_s: None,
                under_replicated: t.partitions.iter().filter(|p| p.under_replicated()).count(),
                offline: t.partitions.iter().filter(|p| p.offline()).count(),
                partitions: t.partitions.clone(),
            })
            .collect();
        let mut groups = Vec::new();
        for g in &now.groups {
            let mut partitions = Vec::new();
            for o in &g.offsets {
                let has_leader = now
                    .topic(&o.topic)
                    .and_then(|t| t.partition(o.partition))
                    .is_some_and(|p| !p.offline());
                let samples = self.samples(&g.name, &o.topic, o.partition);
                let time_lag = match o.committed {
                    Some(c) => time_lag(&self.log_ends(&o.topic, o.partition), c, now.taken_at_ms),
                    None => TimeLag::Unknown,
                };
                partitions.push(GroupPartitionView {
                    offset: o.clone(),
                    lag: o.lag(),
                    time_lag,
                    status: judge(&samples, self.window, g.members, has_leader),
                });
            }
            let mut out_topics: Vec<&str> = g.offsets.iter().map(|o| o.topic.as_str()).collect();
            out_topics.dedup();
            let rates: Vec<GroupTopicView> = out_topics
                .iter()
                .map(|t| GroupTopicView {
                    topic: t.to_string(),
                    records_out_per_s: self.records_out(&g.name, t).map(round2),
                })
                .collect();
            for r in &rates {
                if let (Some(t), Some(v)) = (
                    topics.iter_mut().find(|t| t.name == r.topic),
                    r.records_out_per_s,
                ) {
                    t.records_out_per_s = Some(round2(t.records_out_per_s.unwrap_or(0.0) + v));
                }
            }
            groups.push(GroupView {
                name: g.name.clone(),
                state: g.state.clone(),
                protocol_type: g.protocol_type.clone(),
                members: g.members,
                coordinator: g.coordinator,
                stream_topics: g.stream_topics.clone(),
                lag: g.lag(),
                time_lag: partitions
                    .iter()
                    .map(|p| p.time_lag)
                    .fold(TimeLag::Unknown, TimeLag::worse),
                status: partitions
                    .iter()
                    .map(|p| p.status)
                    .max()
                    .unwrap_or(Status::Ok),
                topics: rates,
                partitions,
            });
        }
        Some(View {
            taken_at_ms: now.taken_at_ms,
            window_ms: self.window.as_millis() as u64,
            covered_ms: self.covered().as_millis() as u64,
            bootstrap: now.bootstrap.clone(),
            controller: now.controller,
            brokers: now.brokers.clone(),
            topics,
            groups,
            problems: now.problems.clone(),
        })
    }
}

fn offset_of<'a>(s: &'a Snapshot, group: &str, topic: &str, p: i32) -> Option<&'a GroupOffset> {
    s.group(group)?
        .offsets
        .iter()
        .find(|o| o.topic == topic && o.partition == p)
}

/// The sum of the known values; None when none is known.
fn sum(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    values
        .flatten()
        .fold(None, |acc, v| Some(acc.unwrap_or(0.0) + v))
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// The cluster now with everything the history adds to it.
#[derive(Debug, Clone, Serialize)]
pub struct View {
    pub taken_at_ms: i64,
    pub window_ms: u64,
    /// How much of the window the history covers so far.
    pub covered_ms: u64,
    pub bootstrap: String,
    pub controller: Option<i32>,
    pub brokers: Vec<BrokerState>,
    pub topics: Vec<TopicView>,
    pub groups: Vec<GroupView>,
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TopicView {
    pub name: String,
    pub internal: bool,
    pub records_in_per_s: Option<f64>,
    /// The sum over the groups that consume it.
    pub records_out_per_s: Option<f64>,
    pub under_replicated: usize,
    pub offline: usize,
    pub partitions: Vec<PartitionState>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GroupView {
    pub name: String,
    pub state: String,
    pub protocol_type: String,
    pub members: usize,
    pub coordinator: i32,
    /// Its stream application's changelog and repartition topics, if any.
    pub stream_topics: Vec<String>,
    /// The sum over its partitions.
    pub lag: Option<i64>,
    /// The worst of its partitions'.
    pub time_lag: TimeLag,
    /// The worst of its partitions'.
    pub status: Status,
    pub topics: Vec<GroupTopicView>,
    pub partitions: Vec<GroupPartitionView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GroupTopicView {
    pub topic: String,
    pub records_out_per_s: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GroupPartitionView {
    #[serde(flatten)]
    pub offset: GroupOffset,
    pub lag: Option<i64>,
    pub time_lag: TimeLag,
    pub status: Status,
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: Duration = Duration::from_secs(10);

    /// Samples one second apart: (committed, log end).
    fn samples(points: &[(i64, i64)]) -> Vec<Sample> {
        points
            .iter()
            .enumerate()
            .map(|(i, &(c, e))| Sample {
                at_ms: i as i64 * 1000,
                committed: Some(c),
                log_end: Some(e),
            })
            .collect()
    }

    #[test]
    fn a_partition_without_a_leader_is_err() {
        assert_eq!(judge(&samples(&[(5, 5)]), W, 1, false), Status::Err);
    }

    #[test]
    fn lag_zero_anywhere_in_the_window_is_ok() {
        let s: Vec<(i64, i64)> = (0..12).map(|i| (10, 10 + i.min(1) * i)).collect();
        assert_eq!(judge(&samples(&s), W, 1, true), Status::Ok);
    }

    #[test]
    fn nothing_committed_is_ok() {
        let s = vec![Sample {
            at_ms: 0,
            committed: None,
            log_end: Some(9),
        }];
        assert_eq!(judge(&s, W, 0, true), Status::Ok);
        assert_eq!(judge(&[], W, 0, true), Status::Ok);
    }

    #[test]
    fn an_offset_still_for_a_whole_window_with_lag_is_stall_or_stop() {
        let still: Vec<(i64, i64)> = (0..11).map(|_| (4, 10)).collect();
        assert_eq!(judge(&samples(&still), W, 2, true), Status::Stall);
        assert_eq!(judge(&samples(&still), W, 0, true), Status::Stop);
        // less than a window seen: not judged yet
        assert_eq!(judge(&samples(&still[..10]), W, 0, true), Status::Ok);
    }

    #[test]
    fn committing_while_lag_grows_is_warn_and_shrinking_lag_is_ok() {
        let growing: Vec<(i64, i64)> = (0..11).map(|i| (10 + i, 20 + 3 * i)).collect();
        assert_eq!(judge(&samples(&growing), W, 1, true), Status::Warn);
        let shrinking: Vec<(i64, i64)> = (0..11).map(|i| (10 + 3 * i, 50 + i)).collect();
        assert_eq!(judge(&samples(&shrinking), W, 1, true), Status::Ok);
        // a consumer that keeps pace (lag steady) is fine
        let steady: Vec<(i64, i64)> = (0..11).map(|i| (10 + i, 15 + i)).collect();
        assert_eq!(judge(&samples(&steady), W, 1, true), Status::Ok);
    }

    #[test]
    fn statuses_order_by_severity() {
        let mut all = [
            Status::Err,
            Status::Ok,
            Status::Stop,
            Status::Warn,
            Status::Stall,
        ];
        all.sort();
        let names: Vec<&str> = all.iter().map(|s| s.name()).collect();
        assert_eq!(names, ["OK", "WARN", "STALL", "STOP", "ERR"]);
    }

    #[test]
    fn time_lag_is_the_age_of_the_oldest_unconsumed_record() {
        // 10 records a second: log end 0 at t=0 s, 10 at 1 s, … 50 at 5 s
        let ends: Vec<(i64, i64)> = (0..=5).map(|i| (i * 1000, i * 10)).collect();
        // caught up
        assert_eq!(time_lag(&ends, 50, 5000), TimeLag::Behind(Duration::ZERO));
        // record 20 was written between 2 s and 3 s, the 1st of those 10:
        // at 2.1 s, so 2.9 s ago
        assert_eq!(
            time_lag(&ends, 20, 5000),
            TimeLag::Behind(Duration::from_millis(2900))
        );
        // record 25: the 6th of them, at 2.6 s
        assert_eq!(
            time_lag(&ends, 25, 5000),
            TimeLag::Behind(Duration::from_millis(2400))
        );
        // record 45, the 6th of the last second's: at 4.6 s
        assert_eq!(
            time_lag(&ends, 45, 5000),
            TimeLag::Behind(Duration::from_millis(400))
        );
    }

    #[test]
    fn time_lag_older_than_the_history_is_beyond_the_window() {
        let ends = [(0, 100), (1000, 110), (2000, 120)];
        assert_eq!(
            time_lag(&ends, 40, 2000),
            TimeLag::BeyondWindow(Duration::from_secs(2))
        );
        assert_eq!(
            TimeLag::BeyondWindow(Duration::from_secs(600)).text(),
            "> 10m"
        );
        assert_eq!(time_lag(&[], 40, 2000), TimeLag::Unknown);
        assert_eq!(time_lag(&[(2000, 120)], 40, 2000), TimeLag::Unknown);
        assert_eq!(
            time_lag(&[(2000, 120)], 120, 2000),
            TimeLag::Behind(Duration::ZERO)
        );
    }

    #[test]
    fn time_lag_when_writes_stopped_counts_from_when_they_did() {
        // 10 records written between 0 s and 1 s, nothing since; at 9 s the
        // consumer still has record 5 to read: written at 0.6 s
        let ends: Vec<(i64, i64)> = [(0, 0)]
            .into_iter()
            .chain((1..=9).map(|i| (i * 1000, 10)))
            .collect();
        assert_eq!(
            time_lag(&ends, 5, 9000),
            TimeLag::Behind(Duration::from_millis(8400))
        );
    }

    #[test]
    fn rates_are_records_per_second_over_the_recent_span() {
        let series: Vec<(i64, i64)> = (0..=30).map(|i| (i * 1000, i * i)).collect();
        // the last 10 s: from 400 at 20 s to 900 at 30 s
        assert_eq!(rate(&series, RATE_SPAN), Some(50.0));
        assert_eq!(rate(&series[..1], RATE_SPAN), None);
        assert_eq!(rate(&[(0, 10), (1000, 5)], RATE_SPAN), None);
    }

    #[test]
    fn the_worst_time_lag_wins() {
        let a = TimeLag::Behind(Duration::from_secs(1));
        let b = TimeLag::Behind(Duration::from_secs(3));
        let c = TimeLag::BeyondWindow(Duration::from_secs(2));
        assert_eq!(a.worse(b), b);
        assert_eq!(b.worse(c), c);
        assert_eq!(TimeLag::Unknown.worse(a), a);
        assert_eq!(a.worse(TimeLag::Unknown), a);
    }

    #[test]
    fn short_durations_fit_a_cell() {
        let d = Duration::from_millis;
        assert_eq!(short_duration(d(0)), "0s");
        assert_eq!(short_duration(d(2900)), "2.9s");
        assert_eq!(short_duration(d(42_000)), "42s");
        assert_eq!(short_duration(d(200_000)), "3m20s");
        assert_eq!(short_duration(d(7_500_000)), "2h5m");
    }

    fn snapshot(at_ms: i64, log_end: i64, committed: i64, members: usize) -> Snapshot {
        use crate::client::observe::{GroupState, TopicState};
        Snapshot {
            taken_at_ms: at_ms,
            bootstrap: "b:1".into(),
            controller: Some(1),
            brokers: vec![],
            topics: vec![TopicState {
                name: "t".into(),
                internal: false,
                partitions: vec![PartitionState {
                    partition: 0,
                    leader: Some(1),
                    replicas: vec![1],
                    isr: vec![1],
                    log_end: Some(log_end),
                }],
            }],
            groups: vec![GroupState {
                name: "g".into(),
                state: "Empty".into(),
                protocol_type: "consumer".into(),
                members,
                coordinator: 1,
                offsets: vec![GroupOffset {
                    topic: "t".into(),
                    partition: 0,
                    committed: Some(committed),
                    log_end: Some(log_end),
                    owner: None,
                }],
                stream_topics: vec![],
            }],
            problems: vec![],
        }
    }

    #[test]
    fn a_history_keeps_one_window_and_derives_the_view() {
        let mut h = History::new(Duration::from_secs(5));
        for i in 0..=20 {
            // 100 records/s in, the group consumes 50/s
            h.push(snapshot(i * 1000, i * 100, i * 50, 1));
        }
        assert_eq!(h.covered(), Duration::from_secs(5));
        assert_eq!(h.len(), 6);
        let v = h.view().unwrap();
        assert_eq!(v.topics[0].records_in_per_s, Some(100.0));
        assert_eq!(v.topics[0].records_out_per_s, Some(50.0));
        let g = &v.groups[0];
        assert_eq!(g.lag, Some(1000));
        assert_eq!(g.status, Status::Warn);
        // committed 1000 was the log end at 10 s, beyond the 5 s window
        assert_eq!(g.time_lag, TimeLag::BeyondWindow(Duration::from_secs(5)));
    }

    #[test]
    fn a_group_that_stopped_is_stop_once_a_window_passed() {
        let mut h = History::new(Duration::from_secs(5));
        for i in 0..=4 {
            h.push(snapshot(i * 1000, 10, 4, 0));
        }
        assert_eq!(h.view().unwrap().groups[0].status, Status::Ok);
        h.push(snapshot(5000, 10, 4, 0));
        assert_eq!(h.view().unwrap().groups[0].status, Status::Stop);
    }
}
