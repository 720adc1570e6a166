//! One task: the windowed counts of one input partition, its position (the
//! last input offset folded in), stream time and late count, and how they
//! are written to and restored from the changelog.
//!
//! Exact results without transactions: every flush writes the changed
//! windows (each with its count, its count as of the last complete flush,
//! `prev`, and the flush's position) and then one position record. On
//! restore, the last position record says how far the state goes; a window
//! record written after it (a flush cut short by a crash) stands for its
//! `prev`. The input is then read again from just after that position, so
//! every record is counted exactly once whatever moment the crash hit.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use super::Windows;

/// The changelog key of a task's position record (window keys always end
/// in `@<digits>`, so none can equal it).
pub const POSITION_KEY: &str = "position";

/// A window's count, as an output record sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowCount {
    pub key: String,
    pub start: i64,
    pub end: i64,
    pub count: i64,
}

impl WindowCount {
    /// The output record: key `KEY@START`, a JSON value.
    pub fn record(&self) -> (Vec<u8>, Vec<u8>) {
        let value = serde_json::json!({
            "key": self.key,
            "window_start": self.start,
            "window_end": self.end,
            "count": self.count,
        });
        (
            window_key(&self.key, self.start).into_bytes(),
            value.to_string().into_bytes(),
        )
    }
}

pub fn window_key(key: &str, start: i64) -> String {
    format!("{key}@{start}")
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    count: i64,
    /// The count as of the last complete flush.
    committed: i64,
}

#[derive(Debug, Serialize, Deserialize)]
struct WindowRecord {
    count: i64,
    prev: i64,
    pos: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
struct PositionRecord {
    pos: i64,
    stream_time: i64,
    late: u64,
    records: u64,
    skipped: u64,
    /// Of `skipped`: records without a usable timestamp.
    #[serde(default, skip_serializing_if = "is_zero")]
    untimed: u64,
    /// Repartitioned input: the last input offset counted per input
    /// partition, so a record the feeding step wrote twice counts once.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    sources: BTreeMap<i32, i64>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What a restore read and kept.
#[derive(Debug, Default, Clone, Copy)]
pub struct Restored {
    pub records: u64,
    pub windows: usize,
}

#[derive(Debug)]
pub struct Task {
    windows: Windows,
    counts: HashMap<(String, i64), Slot>,
    dirty: BTreeSet<(String, i64)>,
    /// Closed since the last flush after reaching the changelog: the next
    /// flush deletes them there (a tombstone each), so the changelog holds
    /// open windows only, however long the application runs.
    gone: BTreeSet<(String, i64)>,
    /// Last input offset folded in; -1 before the first.
    pub position: i64,
    /// Largest event time seen; -1 before the first record.
    pub stream_time: i64,
    /// Windows a record came too late for (after end + grace).
    pub late: u64,
    /// Input records counted.
    pub records: u64,
    /// Input records that could not be counted (no key or time).
    pub skipped: u64,
    /// Of `skipped`: records without a usable timestamp.
    pub untimed: u64,
    /// Repartitioned input: the last offset counted per input partition.
    sources: BTreeMap<i32, i64>,
    flushed: PositionRecord,
}

impl Task {
    pub fn new(windows: Windows) -> Task {
        Task {
            windows,
            counts: HashMap::new(),
            dirty: BTreeSet::new(),
            gone: BTreeSet::new(),
            position: -1,
            stream_time: -1,
            late: 0,
            records: 0,
            skipped: 0,
            untimed: 0,
            sources: BTreeMap::new(),
            flushed: PositionRecord {
                pos: -1,
                stream_time: -1,
                ..PositionRecord::default()
            },
        }
    }

    /// Folds in the record at `offset` (key and event time); a record at or
    /// below the position is already in the state and changes nothing. A
    /// negative time is in no window: the record is skipped as untimed.
    pub fn apply(&mut self, offset: i64, key: &str, time: i64) {
        if offset <= self.position {
            return;
        }
        if time < 0 {
            self.skip_untimed(offset);
            return;
        }
        self.position = offset;
        self.records += 1;
        self.stream_time = self.stream_time.max(time);
        for start in self.windows.starts(time) {
            if self.windows.closed(start, self.stream_time) {
                self.late += 1;
                continue;
            }
            let id = (key.to_string(), start);
            self.counts
                .entry(id.clone())
                .or_insert(Slot {
                    count: 0,
                    committed: 0,
                })
                .count += 1;
            self.dirty.insert(id);
        }
    }

    /// Folds in a record of the repartition topic at `offset`, which the
    /// feeding step took from input partition `source` at `source_offset`:
    /// a copy written again after a crash of that step changes nothing.
    pub fn apply_repartitioned(
        &mut self,
        offset: i64,
        (source, source_offset): (i32, i64),
        key: &str,
        time: i64,
    ) {
        if offset <= self.position {
            return;
        }
        if self
            .sources
            .get(&source)
            .is_some_and(|&seen| source_offset <= seen)
        {
            self.position = offset;
            return;
        }
        self.sources.insert(source, source_offset);
        self.apply(offset, key, time);
    }

    /// A record that cannot be counted still moves the position past it.
    pub fn skip(&mut self, offset: i64) {
        if offset > self.position {
            self.position = offset;
            self.skipped += 1;
        }
    }

    /// A record without a usable timestamp: skipped, and counted apart.
    pub fn skip_untimed(&mut self, offset: i64) {
        if offset > self.position {
            self.untimed += 1;
        }
        self.skip(offset);
    }

    /// Moves stream time forward without a record (the idle flush).
    pub fn advance(&mut self, stream_time: i64) {
        self.stream_time = self.stream_time.max(stream_time);
    }

    pub fn open_windows(&self) -> usize {
        self.counts.len()
    }

    /// Whether the next flush has anything to write.
    pub fn pending(&self) -> bool {
        !self.dirty.is_empty() || !self.gone.is_empty() || self.position_record() != self.flushed
    }

    /// The windows changed since the last flush (`--emit updates`).
    pub fn changes(&self) -> Vec<WindowCount> {
        self.dirty
            .iter()
            .filter_map(|id| {
                self.counts
                    .get(id)
                    .map(|slot| self.count_of(id, slot.count))
            })
            .collect()
    }

    /// Removes and returns the windows stream time has closed (`--emit
    /// final` writes them; with updates they were written as they changed).
    pub fn close_windows(&mut self) -> Vec<WindowCount> {
        let closed: Vec<(String, i64)> = self
            .counts
            .keys()
            .filter(|(_, start)| self.windows.closed(*start, self.stream_time))
            .cloned()
            .collect();
        let mut out: Vec<WindowCount> = closed
            .into_iter()
            .filter_map(|id| {
                let slot = self.counts.remove(&id)?;
                self.dirty.remove(&id);
                if slot.committed > 0 {
                    self.gone.insert(id.clone());
                }
                Some(self.count_of(&id, slot.count))
            })
            .collect();
        out.sort_by(|a, b| (a.start, &a.key).cmp(&(b.start, &b.key)));
        out
    }

    fn count_of(&self, id: &(String, i64), count: i64) -> WindowCount {
        WindowCount {
            key: id.0.clone(),
            start: id.1,
            end: id.1 + self.windows.size,
            count,
        }
    }

    /// The changelog records of the changed windows: key, value.
    pub fn changelog(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.dirty
            .iter()
            .filter_map(|id| {
                let slot = self.counts.get(id)?;
                let value = WindowRecord {
                    count: slot.count,
                    prev: slot.committed,
                    pos: self.position,
                };
                Some((
                    window_key(&id.0, id.1).into_bytes(),
                    serde_json::to_vec(&value).ok()?,
                ))
            })
            .collect()
    }

    /// The changelog keys of windows closed since the last flush, to delete
    /// (their tombstones; a restore drops closed windows either way).
    pub fn tombstones(&self) -> Vec<Vec<u8>> {
        self.gone
            .iter()
            .map(|(key, start)| window_key(key, *start).into_bytes())
            .collect()
    }

    /// The position record, written after the window records it covers.
    pub fn position_entry(&self) -> (Vec<u8>, Vec<u8>) {
        let value = serde_json::to_vec(&self.position_record()).unwrap_or_default();
        (POSITION_KEY.as_bytes().to_vec(), value)
    }

    fn position_record(&self) -> PositionRecord {
        PositionRecord {
            pos: self.position,
            stream_time: self.stream_time,
            late: self.late,
            records: self.records,
            skipped: self.skipped,
            untimed: self.untimed,
            sources: self.sources.clone(),
        }
    }

    /// The flush landed: the written counts are now the committed ones.
    pub fn flushed(&mut self) {
        self.gone.clear();
        for id in std::mem::take(&mut self.dirty) {
            if let Some(slot) = self.counts.get_mut(&id) {
                slot.committed = slot.count;
            }
        }
        self.flushed = self.position_record();
    }
}

/// Rebuilds a task from its changelog partition, read from the start one
/// record at a time (`feed`), then `finish`.
pub struct Restorer {
    windows: Windows,
    last: HashMap<String, WindowRecord>,
    position: Option<PositionRecord>,
    read: u64,
}

impl Restorer {
    pub fn new(windows: Windows) -> Restorer {
        Restorer {
            windows,
            last: HashMap::new(),
            position: None,
            read: 0,
        }
    }

    pub fn feed(&mut self, key: &[u8], value: &[u8]) -> Result<(), String> {
        self.read += 1;
        let key =
            std::str::from_utf8(key).map_err(|_| "a changelog key is not UTF-8".to_string())?;
        if key == POSITION_KEY {
            self.position = Some(
                serde_json::from_slice(value)
                    .map_err(|e| format!("a position record is not readable: {e}"))?,
            );
        } else if value.is_empty() {
            // A tombstone: the window closed and left the changelog.
            self.last.remove(key);
        } else {
            let record: WindowRecord = serde_json::from_slice(value)
                .map_err(|e| format!("the changelog record for '{key}' is not readable: {e}"))?;
            split_window_key(key)
                .ok_or_else(|| format!("'{key}' is not a changelog key of this processor"))?;
            self.last.insert(key.to_string(), record);
        }
        Ok(())
    }

    /// The position the last complete flush read so far recorded (-1: none).
    pub fn position(&self) -> i64 {
        self.position.as_ref().map_or(-1, |p| p.pos)
    }

    pub fn finish(self) -> (Task, Restored) {
        let mut task = Task::new(self.windows);
        if let Some(p) = self.position {
            task.position = p.pos;
            task.stream_time = p.stream_time;
            task.late = p.late;
            task.records = p.records;
            task.skipped = p.skipped;
            task.untimed = p.untimed;
            task.sources = p.sources.clone();
            task.flushed = p;
        }
        for (key, record) in self.last {
            let Some((name, start)) = split_window_key(&key) else {
                continue;
            };
            // Written by a flush whose position record never landed.
            let count = if record.pos > task.position {
                record.prev
            } else {
                record.count
            };
            if count > 0 && !task.windows.closed(start, task.stream_time) {
                task.counts.insert(
                    (name.to_string(), start),
                    Slot {
                        count,
                        committed: count,
                    },
                );
            }
        }
        let restored = Restored {
            records: self.read,
            windows: task.counts.len(),
        };
        (task, restored)
    }
}

fn split_window_key(key: &str) -> Option<(&str, i64)> {
    let (name, start) = key.rsplit_once('@')?;
    Some((name, start.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEN: Windows = Windows {
        size: 10_000,
        hop: 10_000,
        grace: 2_000,
    };

    fn count(task: &Task, key: &str, start: i64) -> i64 {
        task.counts
            .get(&(key.to_string(), start))
            .map_or(0, |s| s.count)
    }

    /// The changelog as a compacted topic would keep it: last value per key.
    fn compacted(log: &[(Vec<u8>, Vec<u8>)]) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut last: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        for (k, v) in log {
            last.retain(|(lk, _)| lk != k);
            last.push((k.clone(), v.clone()));
        }
        last
    }

    fn restore(log: &[(Vec<u8>, Vec<u8>)]) -> Task {
        let mut r = Restorer::new(TEN);
        for (k, v) in log {
            r.feed(k, v).unwrap();
        }
        r.finish().0
    }

    fn flush(task: &mut Task, log: &mut Vec<(Vec<u8>, Vec<u8>)>) {
        log.extend(task.changelog());
        log.push(task.position_entry());
        task.flushed();
    }

    #[test]
    fn records_count_in_their_window_and_late_ones_are_dropped() {
        let mut t = Task::new(TEN);
        t.apply(0, "A", 1_000);
        t.apply(1, "A", 9_000);
        t.apply(2, "B", 15_000);
        // stream time 15 000: window 0 closes at 12 000 (10 s + 2 s grace)
        t.apply(3, "A", 5_000);
        assert_eq!(count(&t, "A", 0), 2);
        assert_eq!(count(&t, "B", 10_000), 1);
        assert_eq!(t.late, 1);
        assert_eq!(t.records, 4);
        // within grace: stream time 11 000 < 12 000
        let mut u = Task::new(TEN);
        u.apply(0, "A", 11_000);
        u.apply(1, "A", 500);
        assert_eq!(count(&u, "A", 0), 1);
        assert_eq!(u.late, 0);
    }

    #[test]
    fn a_record_without_a_usable_time_is_skipped_and_counted_apart_also_after_a_restore() {
        let mut log = Vec::new();
        let mut t = Task::new(TEN);
        t.apply(0, "A", 1_000);
        t.apply(1, "A", -1);
        t.skip_untimed(2);
        t.skip(3);
        t.skip_untimed(2); // at or below the position: already counted
        assert_eq!((t.records, t.skipped, t.untimed), (1, 3, 2));
        assert_eq!(
            (count(&t, "A", 0), t.stream_time, t.position),
            (1, 1_000, 3)
        );
        flush(&mut t, &mut log);
        let r = restore(&compacted(&log));
        assert_eq!((r.records, r.skipped, r.untimed), (1, 3, 2));
    }

    #[test]
    fn a_replayed_record_changes_nothing() {
        let mut t = Task::new(TEN);
        t.apply(5, "A", 1_000);
        t.apply(5, "A", 1_000);
        t.apply(4, "A", 1_000);
        assert_eq!(count(&t, "A", 0), 1);
    }

    #[test]
    fn restore_after_a_complete_flush_gives_the_state_and_position() {
        let mut log = Vec::new();
        let mut t = Task::new(TEN);
        t.apply(0, "A", 1_000);
        t.apply(1, "B", 2_000);
        flush(&mut t, &mut log);
        t.apply(2, "A", 3_000);
        flush(&mut t, &mut log);
        let r = restore(&compacted(&log));
        assert_eq!(r.position, 2);
        assert_eq!(count(&r, "A", 0), 2);
        assert_eq!(count(&r, "B", 0), 1);
        assert_eq!(r.records, 3);
        assert!(!r.pending());
    }

    #[test]
    fn a_flush_cut_before_its_position_record_restores_the_counts_before_it() {
        let mut log = Vec::new();
        let mut t = Task::new(TEN);
        t.apply(0, "A", 1_000);
        flush(&mut t, &mut log);
        t.apply(1, "A", 2_000);
        t.apply(2, "B", 2_000);
        // the crash: window records written, position record not
        log.extend(t.changelog());
        let mut r = restore(&compacted(&log));
        assert_eq!(r.position, 0);
        assert_eq!(count(&r, "A", 0), 1);
        assert_eq!(count(&r, "B", 0), 0);
        // reading on from offset 1 counts each record once
        r.apply(1, "A", 2_000);
        r.apply(2, "B", 2_000);
        assert_eq!(count(&r, "A", 0), 2);
        assert_eq!(count(&r, "B", 0), 1);
        // and a second crash after a flush that did not touch A again
        let mut log2 = compacted(&log);
        let mut s = restore(&log2);
        s.apply(1, "C", 2_000);
        flush(&mut s, &mut log2);
        let r2 = restore(&compacted(&log2));
        // A's last record is from the cut flush (pos 2 > 1): its prev, 1
        assert_eq!(count(&r2, "A", 0), 1);
        assert_eq!(count(&r2, "C", 0), 1);
    }

    #[test]
    fn closed_windows_are_emitted_once_and_not_restored() {
        let mut log = Vec::new();
        let mut t = Task::new(TEN);
        t.apply(0, "A", 1_000);
        t.apply(1, "A", 2_000);
        assert!(t.close_windows().is_empty());
        t.apply(2, "A", 12_500);
        let closed = t.close_windows();
        assert_eq!(
            closed,
            vec![WindowCount {
                key: "A".into(),
                start: 0,
                end: 10_000,
                count: 2
            }]
        );
        flush(&mut t, &mut log);
        let r = restore(&compacted(&log));
        assert_eq!(r.open_windows(), 1);
        assert_eq!(count(&r, "A", 10_000), 1);
    }

    #[test]
    fn closed_windows_leave_the_changelog_by_tombstones() {
        let mut log: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let mut t = Task::new(TEN);
        let flush_all = |t: &mut Task, log: &mut Vec<(Vec<u8>, Vec<u8>)>| {
            // A tombstone reads back as an empty value.
            log.extend(t.tombstones().into_iter().map(|k| (k, Vec::new())));
            flush(t, log);
        };
        t.apply(0, "A", 1_000);
        t.apply(1, "B", 2_000);
        flush_all(&mut t, &mut log);
        assert!(t.tombstones().is_empty());
        // Stream time 25 000 closes window 0 (and 10 000 was never written).
        t.apply(2, "A", 25_000);
        let closed = t.close_windows();
        assert_eq!(closed.len(), 2);
        assert!(t.pending());
        assert_eq!(t.tombstones(), vec![b"A@0".to_vec(), b"B@0".to_vec()]);
        flush_all(&mut t, &mut log);
        assert!(t.tombstones().is_empty(), "sent once");
        let kept = compacted(&log);
        let live: Vec<&[u8]> = kept
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, _)| k.as_slice())
            .collect();
        assert_eq!(live, [b"A@20000".as_slice(), POSITION_KEY.as_bytes()]);
        let r = restore(&kept);
        assert_eq!(r.open_windows(), 1);
        assert_eq!(count(&r, "A", 20_000), 1);
        assert_eq!(r.position, 2);
    }

    #[test]
    fn a_repartitioned_record_written_twice_counts_once_also_after_a_restore() {
        let mut log = Vec::new();
        let mut t = Task::new(TEN);
        t.apply_repartitioned(0, (3, 100), "A", 1_000);
        t.apply_repartitioned(1, (5, 7), "A", 1_000);
        // the feeding step crashed and wrote input offset 100 again
        t.apply_repartitioned(2, (3, 100), "A", 1_000);
        assert_eq!(count(&t, "A", 0), 2);
        assert_eq!(t.position, 2);
        flush(&mut t, &mut log);
        let mut r = restore(&compacted(&log));
        r.apply_repartitioned(3, (5, 7), "A", 1_000);
        r.apply_repartitioned(4, (5, 8), "A", 1_000);
        assert_eq!(count(&r, "A", 0), 3);
    }

    #[test]
    fn output_records_are_upserts_keyed_by_key_and_window_start() {
        let w = WindowCount {
            key: "a\"b".into(),
            start: 10_000,
            end: 20_000,
            count: 3,
        };
        let (k, v) = w.record();
        assert_eq!(k, b"a\"b@10000");
        let v: serde_json::Value = serde_json::from_slice(&v).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"key":"a\"b","window_start":10000,"window_end":20000,"count":3})
        );
    }
}
