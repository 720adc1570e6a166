//! `kafkademo stream count|reset`: a windowed count in the manner of Kafka
//! Streams, run by one or more instances that share the input partitions
//! through the consumer-group protocol. Each partition is a task whose
//! state and position live together in a compacted changelog topic, so a
//! crash or a moved task loses and double-counts nothing (stream::task says
//! how); outputs are upserts of absolute counts, harmless to repeat.

mod filter;
mod repartition;

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::cli::{
    Emit, Format, Guarantee, StreamCommand, StreamCount, StreamReset, StreamTable, Timestamps,
};
use crate::client::admin::{self, NewTopic, Outcome};
use crate::client::cluster::{BrokerConfig, Cluster, DataPath};
use crate::client::coordinator::Coordinator;
use crate::client::deadline::{interrupted, Deadline};
use crate::client::fetch::{Isolation, Reader, StartAt};
use crate::client::member::{GroupTimeouts, Member};
use crate::client::produce::{Acks, OutRecord, Producer};
use crate::client::transaction::{self, TxnProducer, TxnRecord, TRANSACTION_TIMEOUT};
use crate::error::{Error, Result};
use crate::render::printable;
use crate::stream::task::{Restorer, Task, WindowCount};
use crate::stream::{Extract, Unusable, Windows};

// How often the group learns the tasks' positions (they resume from the
// changelog, so this is for `group describe` and lag, not for safety).
use crate::commands::COMMIT_EVERY;
const STATUS_EVERY: Duration = Duration::from_secs(5);
/// Records that could not be counted are named this many times, then only counted.
const SKIP_WARNINGS: u64 = 5;
/// A stream application's brokers for `guarantee`: exactly-once needs
/// transactions, so the modern data path (refused if --protocol classic).
pub fn brokers_for(brokers: &BrokerConfig, guarantee: Guarantee) -> Result<BrokerConfig> {
    match (guarantee, brokers.data_path) {
        (Guarantee::Unfenced, _) => Ok(brokers.clone()),
        (Guarantee::ExactlyOnce, DataPath::Classic) => Err(Error::Usage(
            "--guarantee exactly-once writes Kafka transactions, which the classic data path (message format v0) cannot: \
             leave --protocol at auto (or modern), or give --guarantee unfenced"
                .into(),
        )),
        (Guarantee::ExactlyOnce, _) => Ok(brokers.clone().with_data_path(DataPath::Modern)),
    }
}

/// A transactional id of its own for each instance, as Kafka Streams'
/// exactly_once_v2 has one per thread: instances fence each other through
/// the group's generation, not through the id.
pub fn transactional_id(application_id: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{application_id}-{}-{nanos:08x}", std::process::id())
}

/// Reads with read_committed where the data path can (records of aborted
/// transactions are never counted); the classic path cannot.
pub(super) fn read_committed(reader: &mut Reader, cluster: &Cluster) -> Result<()> {
    if cluster.data_path()? == DataPath::Modern {
        reader.set_isolation(Isolation::ReadCommitted)?;
    }
    Ok(())
}

pub fn execute(brokers: &BrokerConfig, cmd: StreamCommand, quiet: bool) -> Result<()> {
    match cmd {
        StreamCommand::Count(args) => count(brokers, &args, quiet),
        StreamCommand::Filter(args) => filter::run(brokers, &args, quiet),
        StreamCommand::Table(args) => table(brokers, &args),
        StreamCommand::Reset(args) => reset(brokers, &args),
    }
}

/// The changelog topic of an application's count store (Kafka Streams
/// names it `<application.id>-<store>-changelog` too).
pub fn changelog_topic(application_id: &str) -> String {
    format!("{application_id}-count-store-changelog")
}

fn millis(d: Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128) as i64
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, millis)
}

/// A stream application's group timing: heartbeats ten times a session.
fn group_timeouts(session: Duration) -> GroupTimeouts {
    GroupTimeouts {
        session,
        heartbeat: (session / 10).max(Duration::from_millis(100)),
        rebalance: session,
    }
}

fn windows_of(args: &StreamCount) -> Result<Windows> {
    let size = millis(args.window);
    let hop = args.hop.map_or(size, millis);
    if size <= 0 {
        return Err(Error::Usage("--window must be at least 1ms".into()));
    }
    if hop <= 0 || hop > size {
        return Err(Error::Usage(
            "--hop must be at least 1ms and at most --window".into(),
        ));
    }
    Ok(Windows {
        size,
        hop,
        grace: millis(args.grace),
    })
}

/// Creates a compacted topic with `partitions` unless it exists; returns
/// its partition count.
fn ensure_compacted(cluster: &mut Cluster, topic: &str, partitions: i32) -> Result<i32> {
    ensure_compacted_with(cluster, topic, partitions, &[])
}

/// A changelog's settings beside compaction: the broker compacts only
/// segments it has rolled (by default after 7 days or 1 GiB), so a
/// changelog rolls every 10 minutes, and keeps a tombstone 10 minutes (not
/// a day): closed windows leave it within about that, and a restore reads
/// what is open plus at most the last minutes' writes, however long the
/// application has run. A restore that misses a tombstone drops the closed
/// window anyway (it is closed in the restored stream time).
const CHANGELOG_CONFIGS: [(&str, &str); 2] =
    [("segment.ms", "600000"), ("delete.retention.ms", "600000")];

fn ensure_compacted_with(
    cluster: &mut Cluster,
    topic: &str,
    partitions: i32,
    extra: &[(&str, &str)],
) -> Result<i32> {
    match admin::describe_topic(cluster, topic) {
        Ok(info) => return Ok(info.partitions.len() as i32),
        Err(Error::UnknownTopic { .. }) => {}
        Err(e) => return Err(e),
    }
    // Replicated as far as the cluster allows (up to 3), like Kafka
    // Streams' internal topics in production.
    let brokers = cluster.bootstrap().metadata(Some(&[]))?.brokers.len();
    let configs: Vec<(String, String)> = [("cleanup.policy", "compact")]
        .iter()
        .chain(extra)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let outcome = create_topic(
        cluster,
        &NewTopic {
            name: topic,
            partitions,
            replication_factor: brokers.clamp(1, 3) as i16,
            configs: &configs,
        },
    )?;
    match outcome {
        Outcome::Done => Ok(admin::describe_topic(cluster, topic)?.partitions.len() as i32),
        Outcome::AlreadyThere => wait_for_topic(cluster, topic),
    }
}

/// Creates a topic; one that `stream reset` deleted a moment ago may still
/// be on its way out, and is waited for (within the retry window).
fn create_topic(cluster: &mut Cluster, topic: &NewTopic) -> Result<Outcome> {
    let deadline = Deadline::after(crate::client::retry::RETRY_FOR);
    loop {
        match admin::create_topic(cluster, topic) {
            Err(Error::Broker { message, .. })
                if message.ends_with("is still being deleted") && !deadline.expired() =>
            {
                deadline.sleep(Duration::from_millis(200));
            }
            other => return other,
        }
    }
}

/// The partition count of a topic another instance created a moment ago:
/// the metadata a broker answers with may not show it yet.
fn wait_for_topic(cluster: &mut Cluster, topic: &str) -> Result<i32> {
    let deadline = Deadline::after(cluster.config.timeout);
    loop {
        match admin::describe_topic(cluster, topic) {
            Ok(info) => return Ok(info.partitions.len() as i32),
            Err(Error::UnknownTopic { .. }) if !deadline.expired() => {
                deadline.sleep(Duration::from_millis(100));
            }
            Err(e) => return Err(e),
        }
    }
}

fn count(brokers: &BrokerConfig, args: &StreamCount, quiet: bool) -> Result<()> {
    let brokers = &brokers_for(brokers, args.guarantee)?;
    let windows = windows_of(args)?;
    for name in [&args.input, &args.output, &args.application_id] {
        admin::validate_topic_name(name)?;
    }
    let changelog = changelog_topic(&args.application_id);
    admin::validate_topic_name(&changelog)?;
    if args.output == args.input || args.output == changelog {
        return Err(Error::Usage(
            "--output must be another topic than --input and the changelog".into(),
        ));
    }
    let extract = Extract {
        key_field: args.key_field.clone(),
        time_field: args.time_field.clone(),
        wallclock: args.timestamps == Timestamps::Wallclock,
    };
    let mut cluster = Cluster::connect(brokers)?;
    if extract.time_field.is_none()
        && !extract.wallclock
        && cluster.data_path()? == DataPath::Classic
    {
        return Err(Error::Usage(
            "records read on the classic data path (the kafka crate, message format v0) have no timestamps: \
             give --time-field NAME or --timestamps wallclock (or --protocol modern, for records written with timestamps)"
                .into(),
        ));
    }
    let input = admin::describe_topic(&mut cluster, &args.input)?;
    let partitions = input.partitions.len() as i32;
    // With --key-field on several partitions, records go through the
    // repartition topic first, so that each key has one counting task.
    let repartition = (extract.key_field.is_some() && partitions > 1)
        .then(|| repartition::topic(&args.application_id));
    if let Some(topic) = &repartition {
        let have = filter::ensure_partitions(&mut cluster, topic, partitions)?;
        if have != partitions {
            return Err(Error::broker_with_hint(
                format!("repartition topic '{topic}' has {have} partitions, input '{}' has {partitions}", args.input),
                format!(
                    "start over with `kafkademo stream reset --application-id {}`",
                    args.application_id
                ),
            ));
        }
    }
    let have = ensure_compacted_with(&mut cluster, &changelog, partitions, &CHANGELOG_CONFIGS)?;
    if have != partitions {
        return Err(Error::broker_with_hint(
            format!(
                "changelog topic '{changelog}' has {have} partitions, input '{}' has {partitions}; each task needs its own",
                args.input
            ),
            format!(
                "start over with `kafkademo stream reset --application-id {}`",
                args.application_id
            ),
        ));
    }
    ensure_compacted(&mut cluster, &args.output, partitions)?;

    let timeouts = group_timeouts(args.session_timeout);
    let feeder = match &repartition {
        Some(_) => Some(repartition::Feeder::start(
            &mut cluster,
            &args.application_id,
            &args.input,
            extract.clone(),
            timeouts,
            args.guarantee == Guarantee::ExactlyOnce,
        )?),
        None => None,
    };
    // The counting tasks read the input, or the repartition topic (their
    // own group, named like it).
    let (group, counted) = match &repartition {
        Some(topic) => (topic.clone(), topic.clone()),
        None => (args.application_id.clone(), args.input.clone()),
    };
    let writer = match args.guarantee {
        Guarantee::ExactlyOnce => Writer::Transactional(TxnProducer::init(
            &mut cluster,
            &transactional_id(&args.application_id),
            TRANSACTION_TIMEOUT,
        )?),
        Guarantee::Unfenced => Writer::Unfenced {
            outputs: Producer::new(&mut cluster, &args.output, Acks::All)?,
            log: Producer::new(&mut cluster, &changelog, Acks::All)?,
        },
    };
    let member = Member::join(&mut cluster, &group, &counted, timeouts)?;
    let mut app = App {
        args,
        windows,
        extract,
        input: counted,
        feeder,
        changelog,
        quiet,
        member,
        writer,
        fenced: 0,
        tasks: BTreeMap::new(),
        last_input: HashMap::new(),
        emitted: 0,
        warned: 0,
        restored: 0,
        restore_time: Duration::ZERO,
    };
    let assignment = app.member.assignment().to_vec();
    app.restore(&cluster, &assignment)?;
    let start = app.start_offsets();
    let mut reader = Reader::new(&cluster, &app.input, &assignment, &start, StartAt::Earliest)?;
    read_committed(&mut reader, &cluster)?;
    log::info!(
        "ready: counting topic '{}' partitions {assignment:?} into '{}'",
        app.input,
        args.output
    );
    let result = app.run(&mut cluster, &mut reader);
    if let Writer::Transactional(txn) = &mut app.writer {
        // So that a reader started next sees the last transaction.
        txn.settle();
    }
    let committed = app.last_commit();
    app.summary();
    // Leaving lets the group hand the tasks to others at once instead of
    // after the session timeout.
    let fed = app.feeder.take().map_or(Ok(()), |f| f.finish());
    let left = app.member.leave();
    result.and(committed).and(fed).and(left)
}

struct App<'a> {
    args: &'a StreamCount,
    windows: Windows,
    extract: Extract,
    /// The topic the counting tasks read: the input, or the repartition topic.
    input: String,
    /// With a repartition topic: the step that fills it.
    feeder: Option<repartition::Feeder>,
    changelog: String,
    quiet: bool,
    member: Member,
    writer: Writer,
    /// Flushes refused because the group had moved on (a fenced zombie).
    fenced: u64,
    tasks: BTreeMap<i32, Task>,
    /// When each task last saw an input record (for the idle flush).
    last_input: HashMap<i32, Instant>,
    emitted: u64,
    warned: u64,
    restored: u64,
    restore_time: Duration,
}

/// Where a flush goes: one Kafka transaction per flush, or (unfenced)
/// acknowledged writes in a crash-safe order.
enum Writer {
    Transactional(TxnProducer),
    Unfenced { outputs: Producer, log: Producer },
}

impl App<'_> {
    /// Restores the tasks of `partitions` that this instance does not run
    /// yet, each from its changelog partition; drops the others.
    fn restore(&mut self, cluster: &Cluster, partitions: &[i32]) -> Result<()> {
        self.tasks.retain(|p, _| partitions.contains(p));
        let new: Vec<i32> = partitions
            .iter()
            .copied()
            .filter(|p| !self.tasks.contains_key(p))
            .collect();
        if new.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let mut restorers: BTreeMap<i32, Restorer> = new
            .iter()
            .map(|&p| (p, Restorer::new(self.windows)))
            .collect();
        let mut reader = Reader::new(
            cluster,
            &self.changelog,
            &new,
            &HashMap::new(),
            StartAt::Earliest,
        )?;
        read_committed(&mut reader, cluster)?;
        // Exactly-once: the group's offsets were committed in the same
        // transaction as the position records, so the changelog is read at
        // least that far (a commit marker can reach the offsets before the
        // changelog); a transaction still deciding is waited out first.
        let transactional = matches!(self.writer, Writer::Transactional(_));
        let committed = if transactional {
            let input = self.input.clone();
            self.member.coordinator().fetch_stable_offsets(
                &input,
                &new,
                TRANSACTION_TIMEOUT + cluster.config.timeout,
            )?
        } else {
            HashMap::new()
        };
        let deadline = Deadline::after(TRANSACTION_TIMEOUT + cluster.config.timeout);
        let mut failure: Option<String> = None;
        loop {
            if interrupted() {
                return Err(Error::Interrupted);
            }
            if reader.at_end_confirmed()? {
                let behind: Vec<i32> = restorers
                    .iter()
                    .filter(|(p, r)| committed.get(p).is_some_and(|&c| r.position() + 1 < c))
                    .map(|(&p, _)| p)
                    .collect();
                if behind.is_empty() {
                    break;
                }
                if deadline.expired() {
                    // The changelog's state is consistent with the position
                    // it records: reading the input again from there
                    // recomputes the same absolute counts, so go on.
                    log::warn!(
                        "changelog '{}' partitions {behind:?}: not as far as group '{}' committed offsets after {}; counting again from the changelog's position",
                        self.changelog,
                        self.member.group(),
                        humantime::format_duration(TRANSACTION_TIMEOUT + cluster.config.timeout)
                    );
                    break;
                }
            }
            reader.poll_each(|r| {
                if failure.is_some() {
                    return;
                }
                if let Some(restorer) = restorers.get_mut(&r.partition) {
                    if let Err(e) = restorer.feed(r.key, r.value) {
                        failure = Some(format!(
                            "changelog '{}' partition {} offset {}: {e}",
                            self.changelog, r.partition, r.offset
                        ));
                    }
                }
            })?;
            if let Some(why) = failure.take() {
                return Err(Error::broker_with_hint(
                    why,
                    format!(
                        "the topic was not written by `kafkademo stream count`; start over with `kafkademo stream reset --application-id {}`",
                        self.args.application_id
                    ),
                ));
            }
        }
        let took = started.elapsed();
        let mut read = 0;
        for (p, restorer) in restorers {
            let (task, restored) = restorer.finish();
            read += restored.records;
            log::info!(
                "task {p}: restored {} changelog records ({} open windows, position {}) in {:.3} s",
                restored.records,
                restored.windows,
                task.position,
                took.as_secs_f64()
            );
            self.last_input.insert(p, Instant::now());
            self.tasks.insert(p, task);
        }
        self.restored += read;
        self.restore_time += took;
        if !self.quiet {
            eprintln!(
                "stream count: tasks {new:?} restored from '{}': {read} changelog records in {:.3} s",
                self.changelog,
                took.as_secs_f64()
            );
        }
        Ok(())
    }

    /// Where each task reads on: just after the last offset in its state.
    fn start_offsets(&self) -> HashMap<i32, i64> {
        self.tasks
            .iter()
            .filter(|(_, t)| t.position >= 0)
            .map(|(&p, t)| (p, t.position + 1))
            .collect()
    }

    fn run(&mut self, cluster: &mut Cluster, reader: &mut Reader) -> Result<()> {
        let began = Instant::now();
        let mut last_commit = Instant::now();
        let mut last_status = Instant::now();
        let mut settled = self.feeder.is_none();
        loop {
            if interrupted() {
                return Err(Error::Interrupted);
            }
            if self.args.duration.is_some_and(|d| began.elapsed() >= d) {
                return Ok(());
            }
            if self.member.needs_rejoin() {
                self.commit()?;
                let before = self.member.assignment().to_vec();
                self.member.rejoin(cluster)?;
                let now = self.member.assignment().to_vec();
                if before != now {
                    log::info!("tasks {before:?} -> {now:?}");
                }
                // Another instance may have run any of these tasks while the
                // group rebalanced: every task starts again from its changelog.
                self.tasks.clear();
                self.restore(cluster, &now)?;
                reader.assign(&now, &self.start_offsets())?;
            }
            // The repartition step first: one fetch of the input, copied.
            let fed = match self.feeder.as_mut() {
                Some(f) => f.pump(cluster)?,
                None => 0,
            };
            self.poll(reader)?;
            self.idle_flush();
            self.flush()?;
            if last_commit.elapsed() >= COMMIT_EVERY {
                self.commit()?;
                last_commit = Instant::now();
            }
            if !self.quiet && last_status.elapsed() >= STATUS_EVERY {
                self.status();
                last_status = Instant::now();
            }
            if self.args.exit_at_end {
                // With a repartition step: its input read to the end and
                // nothing copied in the last round, then one more fetch of
                // the repartition topic, and every copy read (a transaction's
                // copies show once its markers are written, which the end
                // of the last fetch may not include yet).
                let quiet = self.feeder.as_ref().is_none_or(|f| f.at_end() && fed == 0);
                let copies_read = self.feeder.as_ref().is_none_or(|f| {
                    f.copied()
                        .iter()
                        .all(|(&p, &last)| reader.next_offset(p).is_none_or(|next| next > last))
                });
                if quiet && settled && copies_read && reader.at_end_confirmed()? {
                    return Ok(());
                }
                settled = quiet;
            }
        }
    }

    /// One fetch round, each record folded into its task.
    fn poll(&mut self, reader: &mut Reader) -> Result<()> {
        let tasks = &mut self.tasks;
        let extract = &self.extract;
        let last_input = &mut self.last_input;
        let warned = &mut self.warned;
        let topic = &self.input;
        let repartitioned = self.feeder.is_some();
        reader.poll_each(|r| {
            let Some(task) = tasks.get_mut(&r.partition) else {
                return;
            };
            last_input.insert(r.partition, Instant::now());
            if repartitioned {
                match serde_json::from_slice::<repartition::Repartitioned>(r.value) {
                    Ok(c) => task.apply_repartitioned(
                        r.offset,
                        (c.src, c.off),
                        &String::from_utf8_lossy(r.key),
                        c.t,
                    ),
                    Err(_) => task.skip(r.offset),
                }
                return;
            }
            match extract.key_and_time(r.key, r.value, r.timestamp.map(|t| t.ms)) {
                Ok((key, time)) => task.apply(r.offset, &key, time),
                Err(why) => {
                    if r.offset > task.position && *warned < SKIP_WARNINGS {
                        *warned += 1;
                        log::warn!(
                            "topic '{topic}' partition {} offset {}: not counted: {why}",
                            r.partition,
                            r.offset
                        );
                    }
                    match why {
                        Unusable::NoTimestamp(_) => task.skip_untimed(r.offset),
                        _ => task.skip(r.offset),
                    }
                }
            }
        })?;
        Ok(())
    }

    /// A task without input for `--idle-flush` moves its stream time to the
    /// wall clock, so its last windows close (documented in docs/streams.md).
    fn idle_flush(&mut self) {
        let now = now_ms();
        for (p, task) in &mut self.tasks {
            let idle = self
                .last_input
                .get(p)
                .is_none_or(|at| at.elapsed() >= self.args.idle_flush);
            if idle && task.stream_time >= 0 && task.stream_time < now {
                task.advance(now);
                self.last_input.insert(*p, Instant::now());
            }
        }
    }

    /// Writes what changed: the outputs, then the changed windows followed
    /// by each task's position record. Exactly-once: all of it, and the
    /// input offsets under the group's generation, in one transaction; an
    /// instance the group has dropped is refused at the offsets and aborts,
    /// and its tasks start again from their changelogs. Unfenced: outputs
    /// acknowledged before anything else (no state ever runs ahead of the
    /// output), and a crash anywhere is repaired by reading the input again
    /// from the last position record.
    fn flush(&mut self) -> Result<()> {
        if !self
            .tasks
            .values()
            .any(|t| t.pending() || t.open_windows() > 0)
        {
            return Ok(());
        }
        if self.member.needs_rejoin() {
            // The group is moving our tasks: what was counted since the last
            // flush is not written (the next owner counts it again from the
            // changelog). Without transactions this check is all there is,
            // and a pause right after it lets a late write through.
            return Ok(());
        }
        let mut out: Vec<WindowCount> = Vec::new();
        for task in self.tasks.values_mut() {
            match self.args.emit {
                Emit::Updates => {
                    out.extend(task.changes());
                    // Closed windows cannot change again; their last count
                    // was just written (or earlier).
                    task.close_windows();
                }
                Emit::Final => out.extend(task.close_windows()),
            }
        }
        let outputs: Vec<OutRecord> = out
            .iter()
            .map(|w| {
                let (key, value) = w.record();
                OutRecord {
                    key,
                    value,
                    partition: None,
                }
            })
            .collect();
        let mut windows = Vec::new();
        let mut positions = Vec::new();
        let mut tombstones: Vec<(Vec<u8>, i32)> = Vec::new();
        for (&p, task) in &self.tasks {
            if !task.pending() {
                continue;
            }
            tombstones.extend(task.tombstones().into_iter().map(|key| (key, p)));
            windows.extend(task.changelog().into_iter().map(|(key, value)| OutRecord {
                key,
                value,
                partition: Some(p),
            }));
            let (key, value) = task.position_entry();
            positions.push(OutRecord {
                key,
                value,
                partition: Some(p),
            });
        }
        // Each partition's window records and then its position record, in
        // order (a request too large for one batch is sent in pieces, in
        // order, stopping at the first failure; a restore then reads a
        // cut-off piece's windows as their `prev`).
        windows.extend(positions);
        if outputs.is_empty() && windows.is_empty() {
            // Nothing changed (windows closed that never reached the
            // changelog): no transaction for nothing.
            return Ok(());
        }
        let offsets: Vec<(i32, i64)> = self.start_offsets().into_iter().collect();
        match &mut self.writer {
            Writer::Unfenced { outputs: o, log } => {
                if !outputs.is_empty() {
                    o.send(outputs).map_err(|e| e.error)?;
                }
                if !windows.is_empty() {
                    log.send(windows).map_err(|e| e.error)?;
                }
            }
            Writer::Transactional(txn) => {
                let who = self.member.generation().clone();
                let group = self.member.group().to_string();
                // Closed windows leave the changelog (tombstones), so it
                // holds open windows only (unfenced, message format v0 has
                // no null values and closed windows stay until restored away).
                let mut log: Vec<TxnRecord<'_>> = tombstones
                    .iter()
                    .map(|(key, p)| TxnRecord {
                        key,
                        value: None,
                        partition: Some(*p),
                    })
                    .collect();
                log.extend(windows.iter().map(TxnRecord::from));
                let out: Vec<TxnRecord<'_>> = outputs.iter().map(TxnRecord::from).collect();
                let written = txn
                    .send_all(&[(&self.args.output, &out), (&self.changelog, &log)])
                    .and_then(|()| txn.send_offsets(&group, &self.input, &offsets, &who))
                    .and_then(|()| txn.commit());
                match written {
                    Ok(()) => {}
                    Err(e) if transaction::fenced(&e) => {
                        // Dropped by the group (or our transaction aborted
                        // by its timeout): nothing of this flush is visible.
                        self.fenced += 1;
                        log::warn!("flush refused, its transaction aborted: {e}");
                        if !self.quiet {
                            eprintln!(
                                "stream count: the group moved on while this instance was writing (paused?): its transaction was aborted; tasks restart from their changelogs"
                            );
                        }
                        txn.abort()?;
                        self.member.must_rejoin();
                        self.tasks.clear();
                        return Ok(());
                    }
                    Err(e) => {
                        let _ = txn.abort();
                        return Err(e);
                    }
                }
            }
        }
        self.emitted += out.len() as u64;
        for task in self.tasks.values_mut() {
            task.flushed();
        }
        Ok(())
    }

    /// Unfenced: tells the group where the tasks are (exactly-once commits
    /// the offsets inside each flush's transaction).
    fn commit(&mut self) -> Result<()> {
        if matches!(self.writer, Writer::Transactional(_)) {
            return Ok(());
        }
        let offsets: Vec<(i32, i64)> = self.start_offsets().into_iter().collect();
        if offsets.is_empty() {
            return Ok(());
        }
        self.member.commit(&offsets).map(|_| ())
    }

    /// Records skipped: those without a usable timestamp, and the others
    /// (by the tasks, and by the repartition step before them).
    fn uncountable(&self) -> (u64, u64) {
        let untimed = self.tasks.values().map(|t| t.untimed).sum::<u64>()
            + self.feeder.as_ref().map_or(0, |f| f.untimed);
        let skipped = self.tasks.values().map(|t| t.skipped).sum::<u64>()
            + self.feeder.as_ref().map_or(0, |f| f.skipped);
        (untimed, skipped.saturating_sub(untimed))
    }

    fn status(&self) {
        let records: u64 = self.tasks.values().map(|t| t.records).sum();
        let late: u64 = self.tasks.values().map(|t| t.late).sum();
        let (untimed, other) = self.uncountable();
        let open: usize = self.tasks.values().map(|t| t.open_windows()).sum();
        let stream_time = self
            .tasks
            .values()
            .map(|t| t.stream_time)
            .max()
            .unwrap_or(-1);
        let _ = writeln!(
            std::io::stderr(),
            "stream count: {} tasks, {records} records processed, {late} late, {untimed} without a usable timestamp, {other} otherwise not countable, {open} open windows, {} outputs, stream time {}",
            self.tasks.len(),
            self.emitted,
            show_time(stream_time)
        );
    }

    /// The last commit, bounded by one `--timeout`.
    fn last_commit(&mut self) -> Result<()> {
        let timeout = self.member.coordinator().timeout();
        self.member.coordinator().set_retry_for(timeout);
        self.commit()
    }

    fn summary(&self) {
        if self.quiet {
            return;
        }
        let records: u64 = self.tasks.values().map(|t| t.records).sum();
        let late: u64 = self.tasks.values().map(|t| t.late).sum();
        let (untimed, other) = self.uncountable();
        eprintln!(
            "stream count: {records} records processed, {late} late (dropped), {untimed} without a usable timestamp (skipped), {other} otherwise not countable (skipped), {} outputs written; restored {} changelog records in {:.3} s",
            self.emitted,
            self.restored,
            self.restore_time.as_secs_f64()
        );
        if self.fenced > 0 {
            eprintln!(
                "stream count: {} flushes refused because the group had moved on (their transactions aborted, the tasks restored)",
                self.fenced
            );
        }
    }
}

fn show_time(ms: i64) -> String {
    if ms < 0 {
        return "none yet".into();
    }
    jiff::Timestamp::from_millisecond(ms).map_or_else(|_| ms.to_string(), |t| t.to_string())
}

/// The latest value per key of a topic: each change as a line, and with
/// `--exit-at-end` the whole table once the end is reached.
fn table(brokers: &BrokerConfig, args: &StreamTable) -> Result<()> {
    admin::validate_topic_name(&args.topic)?;
    // A stream application's output is written in transactions: read on
    // the modern path, committed only, unless --protocol classic asks
    // otherwise (then what a transaction aborted shows too).
    let brokers = &match brokers.data_path {
        DataPath::Classic => brokers.clone(),
        _ => brokers.clone().with_data_path(DataPath::Modern),
    };
    let mut cluster = Cluster::connect(brokers)?;
    let info = admin::describe_topic(&mut cluster, &args.topic)?;
    let all: Vec<i32> = info.partitions.iter().map(|p| p.partition).collect();
    let mut reader = Reader::new(
        &cluster,
        &args.topic,
        &all,
        &HashMap::new(),
        StartAt::Earliest,
    )?;
    // What a transaction aborted never shows (an exactly-once count's
    // zombie writes among them).
    read_committed(&mut reader, &cluster)?;
    let mut rows: BTreeMap<String, String> = BTreeMap::new();
    let mut out = std::io::stdout().lock();
    loop {
        if interrupted() {
            return Err(Error::Interrupted);
        }
        let mut lines = String::new();
        reader.poll_each(|r| {
            let key = String::from_utf8_lossy(r.key).into_owned();
            let value = String::from_utf8_lossy(r.value).into_owned();
            if rows.get(&key) == Some(&value) {
                return;
            }
            if !args.exit_at_end {
                lines.push_str(&row_line(args.format, &key, &value));
            }
            rows.insert(key, value);
        })?;
        let done = args.exit_at_end && reader.at_end_confirmed()?;
        if done {
            for (key, value) in &rows {
                lines.push_str(&row_line(args.format, key, value));
            }
        }
        match out.write_all(lines.as_bytes()).and_then(|()| out.flush()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            Err(e) => return Err(Error::Output(e)),
        }
        if done {
            return Ok(());
        }
    }
}

/// One row: a window count as `START–END KEY COUNT ####`, anything else as
/// `KEY = VALUE`, keys and values escaped (`render::printable`); JSON rows
/// are `{"key":…,"value":…}`.
fn row_line(format: Format, key: &str, value: &str) -> String {
    if format == Format::Json {
        return format!("{}\n", serde_json::json!({"key": key, "value": value}));
    }
    let count: Option<WindowCount> = serde_json::from_str::<serde_json::Value>(value)
        .ok()
        .and_then(|v| {
            Some(WindowCount {
                key: v.get("key")?.as_str()?.to_string(),
                start: v.get("window_start")?.as_i64()?,
                end: v.get("window_end")?.as_i64()?,
                count: v.get("count")?.as_i64()?,
            })
        });
    match count {
        Some(w) => format!(
            "{} – {}  {}  {:>6}  {}\n",
            clock(w.start),
            clock(w.end),
            printable(&w.key),
            w.count,
            "#".repeat(w.count.clamp(0, 60) as usize)
        ),
        None => format!("{} = {}\n", printable(key), printable(value)),
    }
}

/// HH:MM:SS (UTC) of a time in ms, or the date too when it is not today.
fn clock(ms: i64) -> String {
    let (Ok(t), now) = (
        jiff::Timestamp::from_millisecond(ms),
        jiff::Timestamp::now(),
    ) else {
        return ms.to_string();
    };
    // RFC 3339 in UTC: 2026-12-02T04:10:00Z (or with fractional seconds)
    let (text, today) = (t.to_string(), now.to_string());
    match (text.get(..10), text.get(11..19)) {
        (Some(date), Some(time)) if today.starts_with(date) => time.to_string(),
        (Some(date), Some(time)) => format!("{date} {time}"),
        _ => text,
    }
}

/// Every internal topic the stream commands create for an application, the
/// ones `stream reset` deletes: `stream count`'s changelog and repartition
/// topic, and `stream filter`'s position topic.
fn internal_topics(application_id: &str) -> [String; 3] {
    [
        changelog_topic(application_id),
        repartition::topic(application_id),
        filter::position_topic(application_id),
    ]
}

fn reset(brokers: &BrokerConfig, args: &StreamReset) -> Result<()> {
    let id = &args.application_id;
    admin::validate_topic_name(id)?;
    let mut cluster = Cluster::connect(brokers)?;
    // The application's group, and its counting tasks' group when it
    // repartitions (named like the repartition topic).
    let groups = [id.clone(), repartition::topic(id)];
    let mut coordinators = Vec::new();
    for group in &groups {
        let mut coordinator = Coordinator::find(&mut cluster, group)?;
        let members = coordinator.describe()?.members.len();
        if members > 0 {
            return Err(Error::broker_with_hint(
                format!("application '{id}' still has {members} running instance(s) in its group"),
                "stop every instance first (Ctrl-C), then reset",
            ));
        }
        coordinators.push(coordinator);
    }
    // Groups first: deleting a topic drops its committed offsets, after
    // which a broker may drop an empty group by itself (racing our delete).
    for (i, mut coordinator) in coordinators.into_iter().enumerate() {
        let group = &groups[i];
        match coordinator.delete()? {
            true => say(format!("Deleted group {group} and its committed offsets")),
            // Only an application that repartitions has the second group.
            false if i == 0 => say(format!("Group {group} had no committed offsets")),
            false => {}
        }
    }
    // Exactly this application's topics: another one whose id merely starts
    // with this one (`counts-v2` beside `counts`) keeps its own.
    let existing: Vec<String> = admin::list_topics(&mut cluster)?
        .into_iter()
        .map(|t| t.name)
        .collect();
    let internal = internal_topics(id);
    for topic in internal.iter().filter(|t| existing.contains(t)) {
        admin::delete_topic(&mut cluster, topic)?;
        say(format!("Deleted internal topic {topic}"));
    }
    say(
        "No local state to remove: tasks keep their state in memory and rebuild it from the changelog"
            .into(),
    );
    Ok(())
}

/// One line of `stream reset`'s report; a closed stdout (`| head`) does not
/// stop the reset, and nothing more is printed.
fn say(line: String) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_deletes_exactly_the_topics_an_application_creates() {
        assert_eq!(
            internal_topics("counts"),
            [
                "counts-count-store-changelog",
                "counts-count-repartition",
                "counts-filter-position-changelog",
            ]
        );
        // An application whose id starts with another's shares none of them.
        let v2 = internal_topics("counts-v2");
        assert!(internal_topics("counts").iter().all(|t| !v2.contains(t)));
    }
}
