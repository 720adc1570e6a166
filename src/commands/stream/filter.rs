//! `kafkademo stream filter`: the stateless step. Input partition p goes to
//! output partition p, so each task is the only writer of its output
//! partition; that makes the output exact without transactions. After each
//! write a task records its input position and the output's end offset in
//! a compacted topic (`ID-filter-position-changelog`). On start it reads
//! the output partition from that end offset: any records there came from
//! a write the crash cut off before its position record, and they are the
//! first matches after the position, so that many matches are not written
//! again.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::cli::{Guarantee, Parity, StreamFilter};
use crate::client::admin;
use crate::client::cluster::{BrokerConfig, Cluster};
use crate::client::deadline::interrupted;
use crate::client::fetch::{Isolation, Reader, StartAt};
use crate::client::member::Member;
use crate::client::produce::{Acks, OutRecord, Producer};
use crate::client::transaction::{self, TxnProducer, TRANSACTION_TIMEOUT};
use crate::error::{Error, Result};
use crate::stream::filter::{self, Filter};
use crate::stream::task::POSITION_KEY;

use super::ensure_compacted;

use crate::commands::COMMIT_EVERY;

/// The position topic of a filter application.
pub fn position_topic(application_id: &str) -> String {
    format!("{application_id}-filter-position-changelog")
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct Position {
    /// Last input offset handled; -1 before the first.
    pos: i64,
    /// The output partition's end offset after the last complete write.
    out_end: i64,
}

struct Task {
    at: Position,
    /// Matches already in the output from a write cut short: not written again.
    skip: u64,
    passed: u64,
    read: u64,
}

pub fn run(brokers: &BrokerConfig, args: &StreamFilter, quiet: bool) -> Result<()> {
    let filter = Filter {
        key: args.key.clone(),
        field: args.field.clone(),
        parity: args.parity.map(|p| match p {
            Parity::Even => filter::Parity::Even,
            Parity::Odd => filter::Parity::Odd,
        }),
    };
    if filter.is_empty() {
        return Err(Error::Usage(
            "give at least one condition: --key, --where or --parity".into(),
        ));
    }
    for name in [&args.input, &args.output, &args.application_id] {
        admin::validate_topic_name(name)?;
    }
    let positions = position_topic(&args.application_id);
    admin::validate_topic_name(&positions)?;
    if args.output == args.input || args.output == positions {
        return Err(Error::Usage(
            "--output must be another topic than --input".into(),
        ));
    }
    let brokers = &super::brokers_for(brokers, args.guarantee)?;
    let mut cluster = Cluster::connect(brokers)?;
    let partitions = admin::describe_topic(&mut cluster, &args.input)?
        .partitions
        .len() as i32;
    let unfenced = args.guarantee == Guarantee::Unfenced;
    // The position topic is the unfenced design's only.
    for topic in [&positions, &args.output]
        .into_iter()
        .filter(|t| unfenced || **t == args.output)
    {
        let have = if *topic == args.output {
            ensure_partitions(&mut cluster, topic, partitions)?
        } else {
            ensure_compacted(&mut cluster, topic, partitions)?
        };
        if have != partitions {
            return Err(Error::broker_with_hint(
                format!(
                    "topic '{topic}' has {have} partitions, input '{}' has {partitions}; partition p of the input goes to partition p",
                    args.input
                ),
                "choose another --output (or start over with `kafkademo stream reset`)",
            ));
        }
    }
    let timeouts = super::group_timeouts(args.session_timeout);
    if !unfenced {
        return transactional(&mut cluster, args, &filter, timeouts, quiet);
    }
    let mut member = Member::join(&mut cluster, &args.application_id, &args.input, timeouts)?;
    let mut out = Producer::new(&mut cluster, &args.output, Acks::All)?;
    let mut log = Producer::new(&mut cluster, &positions, Acks::All)?;
    let mut tasks = resume(&cluster, &positions, &args.output, member.assignment())?;
    let mut reader = Reader::new(
        &cluster,
        &args.input,
        member.assignment(),
        &start_offsets(&tasks),
        StartAt::Earliest,
    )?;
    super::read_committed(&mut reader, &cluster)?;
    let mut last_commit = Instant::now();
    let result = (|| -> Result<()> {
        loop {
            if interrupted() {
                return Err(Error::Interrupted);
            }
            if member.needs_rejoin() {
                commit(&mut member, &tasks)?;
                member.rejoin(&mut cluster)?;
                tasks = resume(&cluster, &positions, &args.output, member.assignment())?;
                reader.assign(member.assignment(), &start_offsets(&tasks))?;
            }
            let mut batch: BTreeMap<i32, Vec<OutRecord>> = BTreeMap::new();
            let mut moved: BTreeMap<i32, i64> = BTreeMap::new();
            reader.poll_each(|r| {
                let Some(task) = tasks.get_mut(&r.partition) else {
                    return;
                };
                let last = moved.get(&r.partition).copied().unwrap_or(task.at.pos);
                if r.offset <= last {
                    return;
                }
                moved.insert(r.partition, r.offset);
                task.read += 1;
                if !filter.passes(r.key, r.value) {
                    return;
                }
                if task.skip > 0 {
                    task.skip -= 1;
                    return;
                }
                batch.entry(r.partition).or_default().push(OutRecord {
                    key: r.key.to_vec(),
                    value: r.value.to_vec(),
                    partition: Some(r.partition),
                });
            })?;
            if !moved.is_empty() && !member.needs_rejoin() {
                let counts: BTreeMap<i32, u64> =
                    batch.iter().map(|(&p, b)| (p, b.len() as u64)).collect();
                let records: Vec<OutRecord> = batch.into_values().flatten().collect();
                let landed = if records.is_empty() {
                    Vec::new()
                } else {
                    out.send(records).map_err(|e| e.error)?
                };
                let mut entries = Vec::new();
                for (&p, &pos) in &moved {
                    // `moved` only holds partitions that have a task.
                    let Some(task) = tasks.get_mut(&p) else {
                        continue;
                    };
                    task.at.pos = pos;
                    // (A record whose offset the broker did not give, a
                    // duplicate of a long-gone attempt, moves nothing.)
                    if let Some(end) = landed
                        .iter()
                        .filter(|l| l.partition == p)
                        .filter_map(|l| l.offset)
                        .max()
                    {
                        task.at.out_end = end + 1;
                    }
                    task.passed += counts.get(&p).copied().unwrap_or(0);
                    entries.push(OutRecord {
                        key: POSITION_KEY.as_bytes().to_vec(),
                        value: serde_json::to_vec(&task.at).unwrap_or_default(),
                        partition: Some(p),
                    });
                }
                log.send(entries).map_err(|e| e.error)?;
            }
            if last_commit.elapsed() >= COMMIT_EVERY {
                commit(&mut member, &tasks)?;
                last_commit = Instant::now();
            }
            if args.exit_at_end && reader.at_end_confirmed()? {
                return Ok(());
            }
        }
    })();
    let timeout = member.coordinator().timeout();
    member.coordinator().set_retry_for(timeout);
    let committed = commit(&mut member, &tasks);
    if !quiet {
        let read: u64 = tasks.values().map(|t| t.read).sum();
        let passed: u64 = tasks.values().map(|t| t.passed).sum();
        eprintln!(
            "stream filter: {read} records read, {passed} passed on to '{}'",
            args.output
        );
    }
    let left = member.leave();
    result.and(committed).and(left)
}

/// Exactly-once: each round's matches and the input offsets after them
/// are one transaction, committed under the group's generation, so an
/// instance the group dropped cannot add to the output (its transaction is
/// refused and aborted), and a restart resumes from the committed offsets.
fn transactional(
    cluster: &mut Cluster,
    args: &StreamFilter,
    filter: &Filter,
    timeouts: crate::client::member::GroupTimeouts,
    quiet: bool,
) -> Result<()> {
    let mut txn = TxnProducer::init(
        cluster,
        &super::transactional_id(&args.application_id),
        TRANSACTION_TIMEOUT,
    )?;
    let mut member = Member::join(cluster, &args.application_id, &args.input, timeouts)?;
    let wait = TRANSACTION_TIMEOUT + cluster.config.timeout;
    let stable = |member: &mut Member| {
        let assignment = member.assignment().to_vec();
        member
            .coordinator()
            .fetch_stable_offsets(&args.input, &assignment, wait)
    };
    let mut committed = stable(&mut member)?;
    let mut reader = Reader::new(
        cluster,
        &args.input,
        member.assignment(),
        &committed,
        StartAt::Earliest,
    )?;
    reader.set_isolation(Isolation::ReadCommitted)?;
    let (mut read, mut passed, mut fenced) = (0u64, 0u64, 0u64);
    let result = (|| -> Result<()> {
        loop {
            if interrupted() {
                return Err(Error::Interrupted);
            }
            if member.needs_rejoin() {
                member.rejoin(cluster)?;
                committed = stable(&mut member)?;
                reader.assign(member.assignment(), &committed)?;
            }
            let mut records: Vec<OutRecord> = Vec::new();
            let mut moved: BTreeMap<i32, i64> = BTreeMap::new();
            let mut round_read = 0;
            reader.poll_each(|r| {
                moved.insert(r.partition, r.offset + 1);
                round_read += 1;
                if filter.passes(r.key, r.value) {
                    records.push(OutRecord {
                        key: r.key.to_vec(),
                        value: r.value.to_vec(),
                        partition: Some(r.partition),
                    });
                }
            })?;
            if !moved.is_empty() && !member.needs_rejoin() {
                let who = member.generation().clone();
                let offsets: Vec<(i32, i64)> = moved.iter().map(|(&p, &o)| (p, o)).collect();
                let written = txn
                    .send(&args.output, &records)
                    .and_then(|()| {
                        txn.send_offsets(&args.application_id, &args.input, &offsets, &who)
                    })
                    .and_then(|()| txn.commit());
                match written {
                    Ok(()) => {
                        read += round_read;
                        passed += records.len() as u64;
                        committed.extend(moved);
                    }
                    Err(e) if transaction::fenced(&e) => {
                        fenced += 1;
                        log::warn!("write refused, its transaction aborted: {e}");
                        txn.abort()?;
                        member.must_rejoin();
                    }
                    Err(e) => {
                        let _ = txn.abort();
                        return Err(e);
                    }
                }
            } else if !moved.is_empty() {
                // Read but not written: read again from the committed offsets.
                reader.assign(member.assignment(), &committed)?;
            }
            if args.exit_at_end && reader.at_end_confirmed()? {
                return Ok(());
            }
        }
    })();
    if !quiet {
        eprintln!(
            "stream filter: {read} records read, {passed} passed on to '{}'",
            args.output
        );
        if fenced > 0 {
            eprintln!("stream filter: {fenced} writes refused because the group had moved on (their transactions aborted)");
        }
    }
    txn.settle();
    let left = member.leave();
    result.and(left)
}

/// Creates a plain topic with `partitions` unless it exists.
pub(super) fn ensure_partitions(
    cluster: &mut Cluster,
    topic: &str,
    partitions: i32,
) -> Result<i32> {
    if let Ok(info) = admin::describe_topic(cluster, topic) {
        return Ok(info.partitions.len() as i32);
    }
    let brokers = cluster.bootstrap().metadata(Some(&[]))?.brokers.len();
    super::create_topic(
        cluster,
        &admin::NewTopic {
            name: topic,
            partitions,
            replication_factor: brokers.clamp(1, 3) as i16,
            configs: &[],
        },
    )?;
    super::wait_for_topic(cluster, topic)
}

fn start_offsets(tasks: &BTreeMap<i32, Task>) -> HashMap<i32, i64> {
    tasks
        .iter()
        .filter(|(_, t)| t.at.pos >= 0)
        .map(|(&p, t)| (p, t.at.pos + 1))
        .collect()
}

fn commit(member: &mut Member, tasks: &BTreeMap<i32, Task>) -> Result<()> {
    let offsets: Vec<(i32, i64)> = start_offsets(tasks).into_iter().collect();
    if offsets.is_empty() {
        return Ok(());
    }
    member.commit(&offsets).map(|_| ())
}

/// Each assigned task's last position, and how many matches of a cut-off
/// write are already in its output partition.
fn resume(
    cluster: &Cluster,
    positions: &str,
    output: &str,
    partitions: &[i32],
) -> Result<BTreeMap<i32, Task>> {
    let mut at: HashMap<i32, Position> = partitions
        .iter()
        .map(|&p| {
            (
                p,
                Position {
                    pos: -1,
                    out_end: 0,
                },
            )
        })
        .collect();
    read_to_end(
        cluster,
        positions,
        partitions,
        &HashMap::new(),
        |p, _, value| {
            if let Ok(position) = serde_json::from_slice::<Position>(value) {
                at.insert(p, position);
            }
        },
    )?;
    // Where each output partition stood after the last complete write.
    let from: HashMap<i32, i64> = at.iter().map(|(&p, a)| (p, a.out_end)).collect();
    let mut extra: HashMap<i32, u64> = HashMap::new();
    read_to_end(cluster, output, partitions, &from, |p, _, _| {
        *extra.entry(p).or_default() += 1;
    })?;
    Ok(at
        .into_iter()
        .map(|(p, at)| {
            let skip = extra.get(&p).copied().unwrap_or(0);
            if skip > 0 {
                log::info!(
                    "task {p}: {skip} records of a write cut short are already in the output"
                );
            }
            (
                p,
                Task {
                    at,
                    skip,
                    passed: 0,
                    read: 0,
                },
            )
        })
        .collect())
}

/// Reads `partitions` of `topic` from `from` (or the start) to their end.
fn read_to_end(
    cluster: &Cluster,
    topic: &str,
    partitions: &[i32],
    from: &HashMap<i32, i64>,
    mut f: impl FnMut(i32, &[u8], &[u8]),
) -> Result<()> {
    if partitions.is_empty() {
        return Ok(());
    }
    let mut reader = Reader::new(cluster, topic, partitions, from, StartAt::Earliest)?;
    while !reader.at_end_confirmed()? {
        if interrupted() {
            return Err(Error::Interrupted);
        }
        reader.poll_each(|r| f(r.partition, r.key, r.value))?;
    }
    Ok(())
}
