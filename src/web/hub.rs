//! The fan-out between the one consumer thread and the page's event streams:
//! a ring of recent record events (what a new page shows, and what a
//! reconnecting one missed), the latest event of each recent window count
//! (so a new page charts current counts however far back they were
//! written), the latest broker status, and one bounded queue per connected
//! page. A page that falls behind loses its queue, so it can never hold up
//! the consumer or the other pages.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};

use crate::render::{json_line, Consumed};

/// Frames a page may have queued before it counts as fallen behind.
pub const CLIENT_QUEUE: usize = 1024;
/// Event streams open at once; one more gets 503.
pub const MAX_CLIENTS: usize = 32;
/// Records kept for reconnecting pages beyond what a new page is shown.
const REPLAY_EXTRA: usize = 1000;
/// Longest value (and key) shown on the page; the rest is cut.
pub const MAX_SHOWN_BYTES: usize = 4096;
/// Window starts whose latest counts a new page gets (the page charts 6).
const TABLE_WINDOWS: usize = 12;
/// Record keys kept per window start; counts of further keys are not kept.
const TABLE_KEYS: usize = 64;

/// One SSE frame, shared by every queue it is sent to.
pub type Frame = Arc<str>;

/// What the consumer thread says about the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Connecting,
    Connected,
    Unreachable,
    Error,
}

impl State {
    fn as_str(self) -> &'static str {
        match self {
            State::Connecting => "connecting",
            State::Connected => "connected",
            State::Unreachable => "unreachable",
            State::Error => "error",
        }
    }
}

/// A new page's stream: what to send first, then the live queue.
pub struct Subscription {
    pub replay: Vec<Frame>,
    pub live: Receiver<Frame>,
}

pub struct Hub {
    topic: String,
    /// Tells this server's event ids from an earlier run's.
    instance: String,
    history: usize,
    inner: Mutex<Inner>,
}

struct Inner {
    next_seq: u64,
    ring: VecDeque<(u64, Frame)>,
    /// Window counts (`stream count`'s output) as an upsert table: window
    /// start -> record key -> the latest event for it.
    table: BTreeMap<i64, BTreeMap<Vec<u8>, (u64, Frame)>>,
    clients: Vec<Sender<Frame>>,
    status: Frame,
    closed: bool,
}

impl Hub {
    pub fn new(topic: &str, history: usize, instance: String) -> Hub {
        let status = status_frame(topic, State::Connecting, "starting");
        Hub {
            topic: topic.to_string(),
            instance,
            history,
            inner: Mutex::new(Inner {
                next_seq: 1,
                ring: VecDeque::new(),
                table: BTreeMap::new(),
                clients: Vec::new(),
                status,
                closed: false,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere cannot leave this state half-changed in a way that matters.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends a record to every page and keeps it for later ones.
    pub fn publish(&self, record: &Consumed) {
        let mut inner = self.lock();
        let seq = inner.next_seq;
        inner.next_seq += 1;
        let frame: Frame = format!(
            "id: {}.{seq}\nevent: record\ndata: {}\n\n",
            self.instance,
            record_json(record)
        )
        .into();
        inner.ring.push_back((seq, frame.clone()));
        while inner.ring.len() > self.history + REPLAY_EXTRA {
            inner.ring.pop_front();
        }
        if let Some(start) = window_start(&record.value) {
            let keys = inner.table.entry(start).or_default();
            if keys.len() < TABLE_KEYS || keys.contains_key(&record.key) {
                keys.insert(record.key.clone(), (seq, frame.clone()));
            }
            while inner.table.len() > TABLE_WINDOWS {
                inner.table.pop_first();
            }
        } else if !inner.table.is_empty() {
            // anything else under a count's record key replaces it (as on the page)
            for keys in inner.table.values_mut() {
                keys.remove(&record.key);
            }
            inner.table.retain(|_, keys| !keys.is_empty());
        }
        fan_out(&mut inner.clients, &frame);
    }

    /// Records the broker status and tells every page when it changed.
    pub fn set_status(&self, state: State, message: &str) {
        let frame = status_frame(&self.topic, state, message);
        let mut inner = self.lock();
        if inner.status == frame {
            return;
        }
        inner.status = frame.clone();
        fan_out(&mut inner.clients, &frame);
    }

    /// A new stream: the status, then the records the page lacks, then live
    /// frames. `last_event_id` is the browser's Last-Event-ID on reconnect;
    /// without one (or from another run) the page gets the latest `history`
    /// records. Either way the latest event of each recent window count
    /// that the page lacks and the ring no longer replays comes too, in
    /// order. None when the server is full or closing.
    pub fn subscribe(&self, last_event_id: Option<&str>) -> Option<Subscription> {
        let mut inner = self.lock();
        if inner.closed || inner.clients.len() >= MAX_CLIENTS {
            return None;
        }
        let after = last_event_id.and_then(|id| {
            let (instance, seq) = id.trim().split_once('.')?;
            (instance == self.instance).then(|| seq.parse::<u64>().ok())?
        });
        let ring: Vec<&(u64, Frame)> = match after {
            Some(seq) => inner.ring.iter().filter(|(s, _)| *s > seq).collect(),
            None => {
                let skip = inner.ring.len().saturating_sub(self.history);
                inner.ring.iter().skip(skip).collect()
            }
        };
        // The ring's seqs are consecutive: everything from its first
        // replayed one on is in `ring`.
        let from = ring.first().map_or(inner.next_seq, |(s, _)| *s);
        let mut counts: Vec<&(u64, Frame)> = inner
            .table
            .values()
            .flat_map(BTreeMap::values)
            .filter(|(s, _)| *s > after.unwrap_or(0) && *s < from)
            .collect();
        counts.sort_by_key(|(s, _)| *s);
        let mut replay = vec![inner.status.clone()];
        replay.extend(counts.into_iter().chain(ring).map(|(_, f)| f.clone()));
        let (tx, rx) = bounded(CLIENT_QUEUE);
        inner.clients.push(tx);
        Some(Subscription { replay, live: rx })
    }

    /// Ends every stream (their queues close) and refuses new ones.
    pub fn close(&self) {
        let mut inner = self.lock();
        inner.closed = true;
        inner.clients.clear();
    }

    #[cfg(test)]
    fn clients(&self) -> usize {
        self.lock().clients.len()
    }
}

/// Drops the queues of pages that left or fell behind.
fn fan_out(clients: &mut Vec<Sender<Frame>>, frame: &Frame) {
    clients.retain(|tx| match tx.try_send(frame.clone()) {
        Ok(()) => true,
        Err(TrySendError::Full(_)) => {
            log::info!("a page fell {CLIENT_QUEUE} events behind; closing its stream");
            false
        }
        Err(TrySendError::Disconnected(_)) => false,
    });
}

/// The window start of a value that is a window count as `stream count`
/// writes it: `{"key":…,"window_start":…,"window_end":…,"count":…}`.
fn window_start(value: &[u8]) -> Option<i64> {
    if value.first() != Some(&b'{') || value.len() > MAX_SHOWN_BYTES {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(value).ok()?;
    v.get("key")?.as_str()?;
    v.get("window_end")?.as_i64()?;
    v.get("count")?.as_i64()?;
    v.get("window_start")?.as_i64()
}

fn status_frame(topic: &str, state: State, message: &str) -> Frame {
    let data = serde_json::json!({
        "state": state.as_str(),
        "topic": topic,
        "message": message,
    });
    format!("event: status\ndata: {data}\n\n").into()
}

/// The record as `render::json_line` writes it, with long payloads cut to
/// MAX_SHOWN_BYTES (and `"truncated"` giving the original value size).
fn record_json(r: &Consumed) -> String {
    if r.key.len() <= MAX_SHOWN_BYTES && r.value.len() <= MAX_SHOWN_BYTES {
        return json_line(r);
    }
    // cut at a character boundary, so text stays text
    let cut = |b: &[u8]| {
        let mut n = b.len().min(MAX_SHOWN_BYTES);
        while n > 0 && n < b.len() && b[n] & 0xC0 == 0x80 {
            n -= 1;
        }
        b[..n].to_vec()
    };
    let shown = Consumed {
        topic: r.topic.clone(),
        partition: r.partition,
        offset: r.offset,
        key: cut(&r.key),
        value: cut(&r.value),
        ..r.clone()
    };
    let line = json_line(&shown);
    match serde_json::from_str::<serde_json::Value>(&line) {
        Ok(serde_json::Value::Object(mut map)) => {
            map.insert("truncated".into(), r.value.len().into());
            serde_json::Value::Object(map).to_string()
        }
        _ => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(partition: i32, offset: i64, key: &[u8], value: &[u8]) -> Consumed {
        Consumed {
            topic: "t".into(),
            partition,
            offset,
            key: key.to_vec(),
            value: value.to_vec(),
            ..Consumed::default()
        }
    }

    fn data(frame: &str) -> serde_json::Value {
        let line = frame
            .lines()
            .find_map(|l| l.strip_prefix("data: "))
            .unwrap();
        serde_json::from_str(line).unwrap()
    }

    #[test]
    fn a_new_page_gets_status_then_the_latest_history() {
        let hub = Hub::new("t", 2, "x".into());
        for i in 0..5 {
            hub.publish(&rec(0, i, b"A", i.to_string().as_bytes()));
        }
        let sub = hub.subscribe(None).unwrap();
        assert_eq!(sub.replay.len(), 3);
        assert!(sub.replay[0].starts_with("event: status\n"));
        assert_eq!(data(&sub.replay[0])["state"], "connecting");
        assert!(sub.replay[1].starts_with("id: x.4\nevent: record\n"));
        assert_eq!(data(&sub.replay[2])["offset"], 4);
        assert_eq!(data(&sub.replay[2])["origin"], "A");
    }

    #[test]
    fn last_event_id_resumes_after_it_and_only_in_this_run() {
        let hub = Hub::new("t", 1, "run2".into());
        for i in 0..5 {
            hub.publish(&rec(1, i, b"", b"v"));
        }
        let sub = hub.subscribe(Some("run2.2")).unwrap();
        let offsets: Vec<i64> = sub.replay[1..]
            .iter()
            .map(|f| data(f)["offset"].as_i64().unwrap())
            .collect();
        assert_eq!(offsets, vec![2, 3, 4]);
        // an id from another run (or garbage) means: a fresh page
        for id in ["run1.2", "nonsense", "run2.x"] {
            assert_eq!(hub.subscribe(Some(id)).unwrap().replay.len(), 2, "{id}");
        }
    }

    #[test]
    fn live_frames_reach_every_page_and_status_only_on_change() {
        let hub = Hub::new("t", 0, "x".into());
        let a = hub.subscribe(None).unwrap();
        let b = hub.subscribe(None).unwrap();
        hub.set_status(State::Connected, "ok");
        hub.set_status(State::Connected, "ok");
        hub.publish(&rec(0, 9, b"B", b"7"));
        for sub in [&a, &b] {
            let got: Vec<Frame> = sub.live.try_iter().collect();
            assert_eq!(got.len(), 2);
            assert_eq!(data(&got[0])["state"], "connected");
            assert_eq!(data(&got[1])["number"], 7);
        }
    }

    #[test]
    fn a_page_that_falls_behind_is_dropped_and_others_go_on() {
        let hub = Hub::new("t", 0, "x".into());
        let slow = hub.subscribe(None).unwrap();
        let fast = hub.subscribe(None).unwrap();
        let mut fast_got = 0;
        for i in 0..(CLIENT_QUEUE as i64 + 10) {
            hub.publish(&rec(0, i, b"", b"v"));
            fast_got += fast.live.try_iter().count();
        }
        assert_eq!(fast_got, CLIENT_QUEUE + 10);
        assert_eq!(hub.clients(), 1, "the slow page's queue is gone");
        // it still drains what it had, then sees the end of its stream
        assert_eq!(slow.live.try_iter().count(), CLIENT_QUEUE);
        assert!(slow.live.recv().is_err());
        drop(fast);
        hub.publish(&rec(0, 0, b"", b"v"));
        assert_eq!(hub.clients(), 0, "a page that left is dropped too");
    }

    #[test]
    fn limits_and_close() {
        let hub = Hub::new("t", 0, "x".into());
        let subs: Vec<_> = (0..MAX_CLIENTS).map(|_| hub.subscribe(None)).collect();
        assert!(subs.iter().all(Option::is_some));
        assert!(hub.subscribe(None).is_none());
        hub.close();
        assert!(subs[0].as_ref().unwrap().live.recv().is_err());
        assert!(hub.subscribe(None).is_none());
    }

    fn count(key: &str, start: i64, n: i64) -> Consumed {
        let value = serde_json::json!({
            "key": key, "window_start": start, "window_end": start + 10, "count": n,
        });
        let id = format!("{key}@{start}");
        rec(0, 0, id.as_bytes(), value.to_string().as_bytes())
    }

    /// The records of a replay: `KEY COUNT` for a window count, else the value.
    fn shown(frames: &[Frame]) -> Vec<String> {
        frames[1..]
            .iter()
            .map(|f| {
                let v = data(f);
                let value = v["value"].as_str().unwrap().to_string();
                match serde_json::from_str::<serde_json::Value>(&value) {
                    Ok(c) => format!("{} {}", v["key"].as_str().unwrap(), c["count"]),
                    Err(_) => value,
                }
            })
            .collect()
    }

    #[test]
    fn a_new_page_gets_the_latest_count_of_each_recent_window_too() {
        let hub = Hub::new("t", 1, "x".into());
        hub.publish(&count("A", 0, 3));
        hub.publish(&count("B", 0, 4));
        hub.publish(&count("A", 0, 7)); // an upsert: replaces A@0's 3
        hub.publish(&rec(0, 0, b"", b"plain"));
        let sub = hub.subscribe(None).unwrap();
        assert_eq!(
            shown(&sub.replay),
            ["B@0 4", "A@0 7", "plain"],
            "the counts in the order written, then the history (1 record)"
        );
        // a count that is also in the history comes once
        hub.publish(&count("B", 0, 5));
        let sub = hub.subscribe(None).unwrap();
        assert_eq!(shown(&sub.replay), ["A@0 7", "B@0 5"]);
        // another value under a count's record key replaces the count
        hub.publish(&rec(0, 0, b"A@0", b""));
        let sub = hub.subscribe(None).unwrap();
        assert_eq!(shown(&sub.replay), ["B@0 5", ""]);
    }

    #[test]
    fn a_reconnecting_page_gets_the_counts_it_missed_beyond_the_ring() {
        let hub = Hub::new("t", 0, "x".into());
        hub.publish(&count("A", 0, 7));
        for i in 0..REPLAY_EXTRA {
            hub.publish(&rec(0, i as i64, b"", b"plain"));
        }
        // the ring no longer holds the count (seq 1)
        let missed = hub.subscribe(Some("x.0")).unwrap();
        assert_eq!(missed.replay.len(), 2 + REPLAY_EXTRA);
        assert_eq!(shown(&missed.replay)[0], "A@0 7");
        let had = hub.subscribe(Some("x.1")).unwrap();
        assert_eq!(had.replay.len(), 1 + REPLAY_EXTRA, "no count it had");
    }

    #[test]
    fn the_count_table_keeps_the_latest_windows_only() {
        let hub = Hub::new("t", 0, "x".into());
        for start in 0..(TABLE_WINDOWS as i64 + 3) {
            hub.publish(&count("A", start * 10, start));
        }
        // not counts: a bad one, a field missing, not JSON
        hub.publish(&rec(
            0,
            0,
            b"k",
            br#"{"key":"A","window_start":"x","window_end":1,"count":1}"#,
        ));
        hub.publish(&rec(
            0,
            0,
            b"k",
            br#"{"key":"A","window_start":1,"window_end":1}"#,
        ));
        hub.publish(&rec(0, 0, b"k", b"{not json"));
        let sub = hub.subscribe(None).unwrap();
        let starts: Vec<i64> = sub.replay[1..]
            .iter()
            .map(|f| {
                let v: serde_json::Value =
                    serde_json::from_str(data(f)["value"].as_str().unwrap()).unwrap();
                v["window_start"].as_i64().unwrap()
            })
            .collect();
        let want: Vec<i64> = (3..(TABLE_WINDOWS as i64 + 3)).map(|s| s * 10).collect();
        assert_eq!(starts, want);
    }

    #[test]
    fn long_values_are_cut_for_the_page() {
        let big = vec![b'x'; MAX_SHOWN_BYTES + 10];
        let v: serde_json::Value =
            serde_json::from_str(&record_json(&rec(0, 1, b"", &big))).unwrap();
        assert_eq!(v["value"].as_str().unwrap().len(), MAX_SHOWN_BYTES);
        assert_eq!(v["truncated"], MAX_SHOWN_BYTES + 10);
        let v: serde_json::Value =
            serde_json::from_str(&record_json(&rec(0, 1, b"", b"ok"))).unwrap();
        assert!(v.get("truncated").is_none());
        let mut accents = "é".repeat(MAX_SHOWN_BYTES).into_bytes();
        accents.insert(0, b'a');
        let v: serde_json::Value =
            serde_json::from_str(&record_json(&rec(0, 1, b"", &accents))).unwrap();
        assert!(v.get("escaped").is_none(), "cut inside a character: {v}");
        assert_eq!(v["value"].as_str().unwrap().len(), MAX_SHOWN_BYTES - 1);
    }
}
