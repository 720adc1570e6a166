//! The one consumer thread behind every page: reads the topic from where it
//! last got to and hands each record to the hub. A broker outage is a status
//! for the page, never the end of the server: the thread waits (backing off
//! up to MAX_BACKOFF), rebuilds its client from scratch, and resumes after
//! the last record it passed on, so pages get no duplicates and no gaps.
//! A compacted topic (a table, such as `stream count`'s output) is read
//! further back on first contact, so the hub knows each recent window's
//! current count however long ago it was written.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::client::admin;
use crate::client::cluster::{BrokerConfig, Cluster};
use crate::client::fetch::{Reader, StartAt};
use crate::error::{ExitCode, Result};
use crate::web::hub::{Hub, State};

const MIN_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How often a retry wait looks at the stop flag.
const TICK: Duration = Duration::from_millis(50);
/// Records per partition read back on first contact with a compacted topic
/// (if `history` is fewer): enough for many windows' counts.
const TABLE_READBACK: i64 = 10_000;

pub struct Stream {
    pub brokers: BrokerConfig,
    pub topic: String,
    /// Records per partition to read back on first contact.
    pub history: i64,
}

pub fn spawn(
    stream: Stream,
    hub: Arc<Hub>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("web-consumer".into())
        .spawn(move || stream.run(&hub, &stop))
}

impl Stream {
    fn run(&self, hub: &Hub, stop: &AtomicBool) {
        // Next offset per partition; None until the first contact decides
        // where history starts.
        let mut positions: Option<HashMap<i32, i64>> = None;
        let mut backoff = MIN_BACKOFF;
        let mut last_error = String::new();
        while !stop.load(Ordering::SeqCst) {
            // While retrying, the page keeps showing the last error rather
            // than flickering between it and "connecting".
            if last_error.is_empty() {
                hub.set_status(
                    State::Connecting,
                    &format!("connecting to {}", self.brokers.display()),
                );
            }
            match self.session(hub, stop, &mut positions, &mut backoff, &mut last_error) {
                Ok(()) => return,
                Err(e) => {
                    let state = if e.exit_code() == ExitCode::Unavailable {
                        State::Unreachable
                    } else {
                        State::Error
                    };
                    let message = e.to_string();
                    if message != last_error {
                        log::warn!("{message}; retrying (the page shows the broker status)");
                        last_error = message.clone();
                    }
                    hub.set_status(
                        state,
                        &format!(
                            "{message} (retrying in {})",
                            humantime::format_duration(backoff)
                        ),
                    );
                    sleep_unless_stopped(backoff, stop);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// Connects, reads until an error or the stop flag; the error ends the
    /// session and a new one starts from `positions`.
    fn session(
        &self,
        hub: &Hub,
        stop: &AtomicBool,
        positions: &mut Option<HashMap<i32, i64>>,
        backoff: &mut Duration,
        last_error: &mut String,
    ) -> Result<()> {
        let mut cluster = Cluster::connect(&self.brokers)?;
        let topic = admin::describe_topic(&mut cluster, &self.topic)?;
        let partitions: Vec<i32> = topic.partitions.iter().map(|p| p.partition).collect();
        let first_contact = positions.is_none();
        let back = if first_contact && compacted(&mut cluster, &self.topic) {
            self.history.max(TABLE_READBACK)
        } else {
            self.history
        };
        let mut start = positions.clone().unwrap_or_default();
        let mut reader = Reader::new(&cluster, &self.topic, &partitions, &start, StartAt::Latest)?;
        let missing: Vec<i32> = partitions
            .iter()
            .copied()
            .filter(|p| !start.contains_key(p))
            .collect();
        if !missing.is_empty() {
            // New partitions start at their end; on first contact, `back`
            // records before it (as far as the log still reaches back).
            let latest = reader.offsets(StartAt::Latest)?;
            let earliest = if first_contact {
                reader.offsets(StartAt::Earliest)?
            } else {
                HashMap::new()
            };
            for p in missing {
                if let Some(&end) = latest.get(&p) {
                    let from = earliest.get(&p).map_or(end, |&e| e.max(end - back));
                    start.insert(p, from);
                }
            }
            reader.assign(&partitions, &start)?;
        }
        *positions = Some(start);
        hub.set_status(
            State::Connected,
            &format!(
                "connected to {}, reading {} partition{}",
                cluster.bootstrap().addr(),
                partitions.len(),
                if partitions.len() == 1 { "" } else { "s" }
            ),
        );
        *backoff = MIN_BACKOFF;
        last_error.clear();
        let at = positions.get_or_insert_with(HashMap::new);
        while !stop.load(Ordering::SeqCst) {
            for r in reader.poll()? {
                at.insert(r.partition, r.offset + 1);
                hub.publish(&r);
            }
        }
        Ok(())
    }
}

/// Whether the topic's cleanup.policy includes compact. Unknown (an old
/// broker, no permission) counts as no.
fn compacted(cluster: &mut Cluster, topic: &str) -> bool {
    match admin::topic_overrides(cluster, topic) {
        Ok(overrides) => overrides
            .iter()
            .any(|(name, value)| name == "cleanup.policy" && value.contains("compact")),
        Err(e) => {
            log::debug!("cannot read the configs of '{topic}': {e}");
            false
        }
    }
}

fn sleep_unless_stopped(wait: Duration, stop: &AtomicBool) {
    let until = Instant::now() + wait;
    while !stop.load(Ordering::SeqCst) {
        let now = Instant::now();
        if now >= until {
            return;
        }
        std::thread::sleep((until - now).min(TICK));
    }
}
