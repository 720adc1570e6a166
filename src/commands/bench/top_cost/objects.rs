//! The cluster `bench top-cost` watches: TOPICS topics `kd-cost-NNNN` of
//! PARTITIONS partitions with RECORDS records each, and one group
//! `kd-cost-gNNNN` per topic with offsets committed on all its partitions
//! (at the log start), made through the client layer on two connections,
//! and deleted when the run ends, whichever way it ends.

use crate::client::admin::{self, NewTopic};
use crate::client::cluster::{BrokerConfig, Cluster};
use crate::client::coordinator::{Coordinator, Generation};
use crate::client::list_offsets::{offsets_at, At};
use crate::client::produce::{Acks, OutRecord, Producer};
use crate::error::{Error, Result};

use super::super::harness::say;

pub const PREFIX: &str = "kd-cost-";

pub fn topic_name(i: u32) -> String {
    format!("{PREFIX}{i:04}")
}

pub fn group_name(i: u32) -> String {
    format!("{PREFIX}g{i:04}")
}

/// The topics and groups of a run; deleted when dropped.
pub struct CostObjects {
    brokers: BrokerConfig,
    count: u32,
}

impl CostObjects {
    /// Makes `count` topics and groups (an existing topic is used as it is).
    pub fn create(
        brokers: &BrokerConfig,
        count: u32,
        partitions: i32,
        records: u64,
    ) -> Result<CostObjects> {
        // Deleted at the end even when the setup fails half-way.
        let objects = CostObjects {
            brokers: brokers.clone(),
            count,
        };
        in_two(brokers, count, true, |cluster, i| {
            make_one(cluster, i, partitions, records)
        })?;
        Ok(objects)
    }
}

/// A topic, its records, and a group committed at the log start.
fn make_one(cluster: &mut Cluster, i: u32, partitions: i32, records: u64) -> Result<()> {
    let topic = topic_name(i);
    admin::create_topic(
        cluster,
        &NewTopic {
            name: &topic,
            partitions,
            replication_factor: 1,
            configs: &[],
        },
    )?;
    // 1 to RECORDS, as `seq RECORDS | kafkademo produce` sent them
    let mut producer = Producer::new(cluster, &topic, Acks::Leader)?;
    let mut n = 1;
    while n <= records {
        let last = records.min(n + 9_999);
        let batch: Vec<OutRecord> = (n..=last)
            .map(|v| OutRecord {
                key: Vec::new(),
                value: v.to_string().into_bytes(),
                partition: None,
            })
            .collect();
        producer.send(batch)?;
        n = last + 1;
    }
    let earliest: Vec<(i32, i64)> = offsets_at(cluster, &topic, At::Earliest)?
        .into_iter()
        .collect();
    Coordinator::find(cluster, &group_name(i))?.commit(&topic, &earliest, &Generation::standalone())
}

impl Drop for CostObjects {
    fn drop(&mut self) {
        let _ = say("Deleting the kd-cost- topics and groups");
        // Ctrl-C or not: what was made goes.
        let deleted = in_two(&self.brokers, self.count, false, |cluster, i| {
            let group = group_name(i);
            if let Err(e) = Coordinator::find(cluster, &group).and_then(|mut c| c.delete()) {
                log::warn!("cannot delete group '{group}': {e}");
            }
            let topic = topic_name(i);
            if let Err(e) = admin::delete_topic(cluster, &topic) {
                log::warn!("cannot delete topic '{topic}': {e}");
            }
            Ok(())
        });
        if let Err(e) = deleted {
            log::warn!("cannot delete the kd-cost- topics and groups: {e}");
        }
    }
}

/// Runs `each` for 0..count on two threads, each with its own connection
/// (as the script's `xargs -P 2` did); the first failure ends both, and so
/// does Ctrl-C when `interruptible`.
fn in_two(
    brokers: &BrokerConfig,
    count: u32,
    interruptible: bool,
    each: impl Fn(&mut Cluster, u32) -> Result<()> + Sync,
) -> Result<()> {
    let failed = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|w| {
                let (each, failed) = (&each, &failed);
                s.spawn(move || -> Result<()> {
                    let mut cluster = Cluster::connect(brokers)?;
                    for i in (w..count).step_by(2) {
                        if failed.load(std::sync::atomic::Ordering::Relaxed)
                            || (interruptible && crate::signal::interrupted())
                        {
                            break;
                        }
                        if let Err(e) = each(&mut cluster, i) {
                            failed.store(true, std::sync::atomic::Ordering::Relaxed);
                            return Err(e);
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        let mut first = Ok(());
        for w in workers {
            let r = w.join().unwrap_or_else(|_| {
                Err(Error::Data {
                    message: "a setup thread panicked".into(),
                    hint: None,
                })
            });
            if first.is_ok() {
                first = r;
            }
        }
        first
    })
}
