//! The cluster watcher behind `/metrics` and the cluster page: one thread
//! that takes a snapshot (`client::observe::Observer`) every
//! `--metrics-interval` and keeps the history (`observe::History`), but only
//! while someone looks: a cluster page is open, or `/metrics` was scraped
//! within the last `IDLE_AFTER`. Otherwise it sleeps and sends the cluster
//! nothing.
//!
//! Why a thread rather than a snapshot per scrape: lag in time is read off
//! the history of log-end offsets, which is only as fine as the snapshots
//! are frequent (a scrape every 15 s would make it 15 s coarse); a scrape
//! never waits on the cluster (it reads what the thread last saw, so a dead
//! cluster cannot hang it); and several scrapers and pages share one
//! snapshot per interval instead of each costing the cluster requests.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::client::cluster::BrokerConfig;
use crate::client::observe::Observer;
use crate::observe::{History, View};

/// How long after the last scrape the watcher keeps taking snapshots, so
/// the history spans the gaps between scrapes (Prometheus scrapes every
/// 15 s to 1 min).
pub const IDLE_AFTER: Duration = Duration::from_secs(120);
/// How much history is kept (lag in time looks this far back), as `top`.
const WINDOW: Duration = Duration::from_secs(600);

/// What the watcher knows, for a scrape or a page.
#[derive(Clone)]
pub struct Seen {
    /// Bumped at every snapshot taken or failed.
    pub seq: u64,
    /// The latest view (from the latest successful snapshot).
    pub view: Option<Arc<View>>,
    /// The latest snapshot succeeded and is recent (see `Watch::up`).
    pub up: bool,
    /// Why the latest snapshot failed, if it did.
    pub error: Option<String>,
    /// Snapshots that failed since the server started.
    pub errors: u64,
    /// How long the latest snapshot took.
    pub duration: Option<Duration>,
}

struct State {
    seq: u64,
    view: Option<Arc<View>>,
    ok_at: Option<Instant>,
    error: Option<String>,
    errors: u64,
    duration: Option<Duration>,
    /// Open cluster pages.
    pages: usize,
    /// Scraped recently: keep watching until then.
    wanted_until: Option<Instant>,
    stopped: bool,
}

pub struct Watch {
    interval: Duration,
    state: Mutex<State>,
    changed: Condvar,
}

impl Watch {
    /// Starts the (idle) watcher thread.
    pub fn start(brokers: &BrokerConfig, interval: Duration) -> std::io::Result<Arc<Watch>> {
        let watch = Arc::new(Watch {
            interval,
            state: Mutex::new(State {
                seq: 0,
                view: None,
                ok_at: None,
                error: None,
                errors: 0,
                duration: None,
                pages: 0,
                wanted_until: None,
                stopped: false,
            }),
            changed: Condvar::new(),
        });
        let w = watch.clone();
        let observer = Observer::new(brokers);
        std::thread::Builder::new()
            .name("web-watch".into())
            .spawn(move || w.run(observer))?;
        Ok(watch)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A snapshot older than this (a request hanging on a dead broker, or
    /// the watcher idle) does not count as up.
    fn stale_after(&self) -> Duration {
        (self.interval * 3).max(Duration::from_secs(5))
    }

    fn seen(&self, s: &State) -> Seen {
        let fresh = s.ok_at.is_some_and(|t| t.elapsed() < self.stale_after());
        Seen {
            seq: s.seq,
            view: s.view.clone(),
            up: s.error.is_none() && fresh,
            error: s.error.clone(),
            errors: s.errors,
            duration: s.duration,
        }
    }

    /// For a scrape: keeps the watcher going for `IDLE_AFTER`, and when it
    /// was idle, waits at most `bound` for its next snapshot. Otherwise it
    /// answers at once with what the watcher last saw (a cluster that is
    /// down costs a scrape nothing).
    pub fn scrape(&self, bound: Duration) -> Seen {
        let mut s = self.lock();
        let idle = !Self::wanted(&s) || s.seq == 0;
        s.wanted_until = Some(Instant::now() + IDLE_AFTER);
        self.changed.notify_all();
        if idle {
            let seq = s.seq;
            s = self
                .changed
                .wait_timeout_while(s, bound, |s| s.seq == seq && !s.stopped)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        self.seen(&s)
    }

    /// A cluster page opened: the watcher runs until it is dropped.
    pub fn page(self: &Arc<Watch>) -> Page {
        let mut s = self.lock();
        s.pages += 1;
        self.changed.notify_all();
        Page {
            watch: self.clone(),
        }
    }

    /// Waits (at most `bound`) for a snapshot newer than `seq`; None when
    /// none came or the server stops.
    pub fn next(&self, seq: u64, bound: Duration) -> Option<Seen> {
        let mut s = self.lock();
        let until = Instant::now() + bound;
        while s.seq <= seq && !s.stopped {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            s = self
                .changed
                .wait_timeout(s, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        (!s.stopped).then(|| self.seen(&s))
    }

    pub fn stopped(&self) -> bool {
        self.lock().stopped
    }

    pub fn stop(&self) {
        self.lock().stopped = true;
        self.changed.notify_all();
    }

    fn wanted(s: &State) -> bool {
        s.pages > 0 || s.wanted_until.is_some_and(|t| Instant::now() < t)
    }

    fn run(&self, mut observer: Observer) {
        let mut history = History::new(WINDOW);
        loop {
            // sleep until wanted
            {
                let mut s = self.lock();
                while !s.stopped && !Self::wanted(&s) {
                    s = self
                        .changed
                        .wait_timeout(s, Duration::from_secs(1))
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
                if s.stopped {
                    return;
                }
            }
            let start = Instant::now();
            let taken = observer.snapshot();
            let took = start.elapsed();
            let result = taken.map(|snap| {
                history.push(snap);
                history.view()
            });
            {
                let mut s = self.lock();
                s.seq += 1;
                s.duration = Some(took);
                match result {
                    Ok(view) => {
                        s.view = view.map(Arc::new);
                        s.ok_at = Some(Instant::now());
                        s.error = None;
                    }
                    Err(e) => {
                        log::debug!("cluster snapshot failed: {e}");
                        s.errors += 1;
                        s.error = Some(e.to_string());
                    }
                }
                self.changed.notify_all();
            }
            // the rest of the interval (or at once when stopped)
            let left = (start + self.interval).saturating_duration_since(Instant::now());
            drop(
                self.changed
                    .wait_timeout_while(self.lock(), left, |s| !s.stopped)
                    .unwrap_or_else(|e| e.into_inner()),
            );
        }
    }
}

/// An open cluster page; the watcher keeps going while one exists.
pub struct Page {
    watch: Arc<Watch>,
}

impl Drop for Page {
    fn drop(&mut self) {
        let mut s = self.watch.lock();
        s.pages = s.pages.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A port nothing listens on: every snapshot fails at once.
    fn nowhere() -> BrokerConfig {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        BrokerConfig::new(&format!("127.0.0.1:{port}"), Duration::from_secs(1)).unwrap()
    }

    #[test]
    fn idle_until_scraped_or_watched_and_down_without_a_cluster() {
        let watch = Watch::start(&nowhere(), Duration::from_millis(100)).unwrap();
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(watch.lock().seq, 0, "no snapshot while nobody looks");

        let seen = watch.scrape(Duration::from_secs(3));
        assert!(seen.seq >= 1, "a scrape wakes the watcher and waits for it");
        assert!(!seen.up);
        assert!(seen.error.is_some());
        assert!(seen.errors >= 1);
        // awake now: the next scrape answers at once
        let start = Instant::now();
        let _ = watch.scrape(Duration::from_secs(3));
        assert!(start.elapsed() < Duration::from_millis(50));
        let later = watch.next(seen.seq, Duration::from_secs(2)).unwrap();
        assert!(later.seq > seen.seq, "it keeps going after a scrape");

        // a page alone keeps it going, and stops it when gone
        watch.lock().wanted_until = None;
        let page = watch.page();
        let s = watch.next(later.seq, Duration::from_secs(2)).unwrap();
        drop(page);
        std::thread::sleep(Duration::from_millis(300));
        let idle = watch.lock().seq;
        std::thread::sleep(Duration::from_millis(500));
        assert!(s.seq > later.seq);
        assert_eq!(watch.lock().seq, idle, "idle again once the page is gone");
        watch.stop();
    }
}
