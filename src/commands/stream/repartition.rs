//! The repartition step of `stream count --key-field` on an input of several
//! partitions: records are re-keyed by the field and written to the
//! internal topic `ID-count-repartition`, so that every record of a key
//! reaches the same counting task (Kafka Streams does the same through its
//! `-repartition` topics). Each copy names its input partition and offset;
//! this step commits its input offsets (group ID) only after the copies are
//! acknowledged, so after a crash it may write some again, and the counting
//! task skips what it has already counted from that input partition
//! (stream::task::Task::apply_repartitioned). The counting tasks form their
//! own group, named like the topic.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::client::cluster::Cluster;
use crate::client::fetch::{Reader, StartAt};
use crate::client::member::{GroupTimeouts, Member};
use crate::client::produce::{Acks, OutRecord, Producer};
use crate::client::transaction::{self, TxnProducer, TRANSACTION_TIMEOUT};
use crate::error::Result;
use crate::stream::{Extract, Unusable};

/// One fetch holds a stretch of each input partition. Copied one partition
/// after another, a later partition's records would reach the counting
/// tasks after stream time had moved past them (late); so the copies are
/// merged as Kafka Streams picks its next record: from the partition whose
/// next record is oldest. Each partition's own order is kept, which the
/// counting task's skipping of copies it has counted relies on.
fn merge_by_time(mut copies: BTreeMap<i32, VecDeque<(i64, OutRecord)>>) -> Vec<OutRecord> {
    let total = copies.values().map(VecDeque::len).sum();
    let mut out = Vec::with_capacity(total);
    while let Some(next) = copies
        .iter()
        .filter_map(|(&p, q)| q.front().map(|(t, _)| (*t, p)))
        .min()
        .map(|(_, p)| p)
    {
        if let Some((_, record)) = copies.get_mut(&next).and_then(VecDeque::pop_front) {
            out.push(record);
        }
    }
    out
}

/// The repartition topic of an application, and its counting tasks' group.
pub fn topic(application_id: &str) -> String {
    format!("{application_id}-count-repartition")
}

/// A repartitioned record's value: event time and where it came from.
#[derive(Debug, Serialize, Deserialize)]
pub struct Repartitioned {
    pub t: i64,
    pub src: i32,
    pub off: i64,
}

/// Where the copies go. Exactly-once: copies and input offsets in one
/// transaction each pump, so a feeder the group dropped cannot add copies
/// (a zombie's are aborted and the counting tasks read committed).
/// Unfenced: acknowledged copies, offsets committed after them.
// One per process: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
enum Copies {
    Transactional(TxnProducer),
    Unfenced(Producer),
}

pub struct Feeder {
    member: Member,
    reader: Reader,
    out: Copies,
    topic: String,
    extract: Extract,
    input: String,
    /// Next input offset per partition, once something was copied.
    next: HashMap<i32, i64>,
    last_commit: Instant,
    pub skipped: u64,
    /// Of `skipped`: records without a usable timestamp.
    pub untimed: u64,
    warned: u64,
    /// The last offset of the copies it wrote (and committed), per
    /// repartition partition: `--exit-at-end` reads at least that far.
    copied: HashMap<i32, i64>,
}

const SKIP_WARNINGS: u64 = 5;
// Input offsets are committed this often (after the copies before them
// were acknowledged); what a crash leaves uncommitted is copied again and
// skipped by the counting tasks.
use crate::commands::COMMIT_EVERY;

impl Feeder {
    pub fn start(
        cluster: &mut Cluster,
        application_id: &str,
        input: &str,
        extract: Extract,
        timeouts: GroupTimeouts,
        transactional: bool,
    ) -> Result<Feeder> {
        let out = match transactional {
            true => Copies::Transactional(TxnProducer::init(
                cluster,
                &super::transactional_id(application_id),
                TRANSACTION_TIMEOUT,
            )?),
            false => Copies::Unfenced(Producer::new(cluster, &topic(application_id), Acks::All)?),
        };
        let mut member = Member::join(cluster, application_id, input, timeouts)?;
        let assignment = member.assignment().to_vec();
        let committed = committed(&mut member, input, &assignment, transactional)?;
        let mut reader = Reader::new(cluster, input, &assignment, &committed, StartAt::Earliest)?;
        super::read_committed(&mut reader, cluster)?;
        Ok(Feeder {
            member,
            reader,
            out,
            topic: topic(application_id),
            extract,
            input: input.to_string(),
            next: HashMap::new(),
            last_commit: Instant::now(),
            skipped: 0,
            untimed: 0,
            warned: 0,
            copied: HashMap::new(),
        })
    }

    /// One fetch of the input, re-keyed and written; every second the
    /// offsets copied so far are committed. Returns how many records were read.
    pub fn pump(&mut self, cluster: &mut Cluster) -> Result<usize> {
        if self.member.needs_rejoin() {
            self.commit()?;
            self.member.rejoin(cluster)?;
            let assignment = self.member.assignment().to_vec();
            let transactional = matches!(self.out, Copies::Transactional(_));
            let committed = committed(&mut self.member, &self.input, &assignment, transactional)?;
            self.next.clear();
            self.reader.assign(&assignment, &committed)?;
        }
        // Each input partition's copies, in offset order.
        let mut copies: BTreeMap<i32, VecDeque<(i64, OutRecord)>> = BTreeMap::new();
        let (extract, next, skipped, warned, input) = (
            &self.extract,
            &mut self.next,
            &mut self.skipped,
            &mut self.warned,
            &self.input,
        );
        let untimed = &mut self.untimed;
        let read = self.reader.poll_each(|r| {
            next.insert(r.partition, r.offset + 1);
            match extract.key_and_time(r.key, r.value, r.timestamp.map(|t| t.ms)) {
                Ok((key, t)) => {
                    let copy = Repartitioned {
                        t,
                        src: r.partition,
                        off: r.offset,
                    };
                    copies.entry(r.partition).or_default().push_back((
                        t,
                        OutRecord {
                            key: key.into_bytes(),
                            value: serde_json::to_vec(&copy).unwrap_or_default(),
                            partition: None,
                        },
                    ));
                }
                Err(why) => {
                    *skipped += 1;
                    if matches!(why, Unusable::NoTimestamp(_)) {
                        *untimed += 1;
                    }
                    if *warned < SKIP_WARNINGS {
                        *warned += 1;
                        log::warn!(
                            "topic '{input}' partition {} offset {}: not counted: {why}",
                            r.partition,
                            r.offset
                        );
                    }
                }
            }
        })?;
        let records = merge_by_time(copies);
        let txn = match &mut self.out {
            Copies::Transactional(txn) => txn,
            Copies::Unfenced(out) => {
                if !records.is_empty() {
                    for landed in out.send(records).map_err(|e| e.error)? {
                        if let Some(offset) = landed.offset.filter(|&o| o >= 0) {
                            let at = self.copied.entry(landed.partition).or_insert(offset);
                            *at = (*at).max(offset);
                        }
                    }
                }
                if self.last_commit.elapsed() >= COMMIT_EVERY {
                    self.commit()?;
                }
                return Ok(read);
            }
        };
        if read == 0 || self.member.needs_rejoin() {
            return Ok(read);
        }
        let offsets: Vec<(i32, i64)> = self.next.iter().map(|(&p, &o)| (p, o)).collect();
        let who = self.member.generation().clone();
        let group = self.member.group().to_string();
        let written = txn
            .send(&self.topic, &records)
            .and_then(|()| txn.send_offsets(&group, &self.input, &offsets, &who))
            .and_then(|()| txn.commit());
        match written {
            Ok(()) => {
                self.copied = txn.written(&self.topic);
                Ok(read)
            }
            Err(e) if transaction::fenced(&e) => {
                log::warn!("repartition write refused, its transaction aborted: {e}");
                txn.abort()?;
                self.member.must_rejoin();
                Ok(read)
            }
            Err(e) => {
                let _ = txn.abort();
                Err(e)
            }
        }
    }

    fn commit(&mut self) -> Result<()> {
        self.last_commit = Instant::now();
        if matches!(self.out, Copies::Transactional(_)) {
            // Committed inside each pump's transaction.
            return Ok(());
        }
        let offsets: Vec<(i32, i64)> = self.next.iter().map(|(&p, &o)| (p, o)).collect();
        if offsets.is_empty() {
            return Ok(());
        }
        self.member.commit(&offsets).map(|_| ())
    }

    pub fn at_end(&self) -> bool {
        self.reader.at_end()
    }

    /// The last offset of its copies per repartition partition.
    pub fn copied(&self) -> &HashMap<i32, i64> {
        &self.copied
    }

    /// The last commit (bounded by one `--timeout`) and the leave notice.
    pub fn finish(mut self) -> Result<()> {
        if let Copies::Transactional(txn) = &mut self.out {
            txn.settle();
        }
        let timeout = self.member.coordinator().timeout();
        self.member.coordinator().set_retry_for(timeout);
        let committed = self.commit();
        committed.and(self.member.leave())
    }
}

/// Where the step resumes: the group's committed offsets; exactly-once
/// waits out a transaction still deciding (a paused predecessor's).
fn committed(
    member: &mut Member,
    input: &str,
    partitions: &[i32],
    transactional: bool,
) -> Result<HashMap<i32, i64>> {
    if transactional {
        let wait = TRANSACTION_TIMEOUT + member.coordinator().timeout();
        member
            .coordinator()
            .fetch_stable_offsets(input, partitions, wait)
    } else {
        member.coordinator().fetch_offsets(input, partitions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy(p: i32, off: i64, t: i64) -> (i64, OutRecord) {
        (
            t,
            OutRecord {
                key: format!("{p}:{off}").into_bytes(),
                value: Vec::new(),
                partition: None,
            },
        )
    }

    #[test]
    fn copies_merge_oldest_first_and_keep_each_partitions_order() {
        let mut copies = BTreeMap::new();
        // partition 0 has an early record after a later one (out of order)
        copies.insert(
            0,
            VecDeque::from([copy(0, 10, 5), copy(0, 11, 3), copy(0, 12, 9)]),
        );
        copies.insert(1, VecDeque::from([copy(1, 0, 4), copy(1, 1, 6)]));
        let keys: Vec<String> = merge_by_time(copies)
            .into_iter()
            .map(|r| String::from_utf8(r.key).unwrap())
            .collect();
        assert_eq!(keys, ["1:0", "0:10", "0:11", "1:1", "0:12"]);
    }
}
