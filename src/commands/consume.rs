//! `kafkademo consume`: consumer C of the exercise and a console consumer.
//! Prints each record as a text or JSON line, or as the Debezium change
//! event it holds. With `--group` it is a member of a real consumer group:
//! it reads only the partitions the group assigns it, commits what it
//! printed every second, on rebalance and on exit, and leaves the group on
//! exit so the others take over at once.

use std::collections::HashMap;
use std::time::Instant;

use crate::cli::{Consume, ConsumeFormat, IsolationArg};
use crate::client::admin;
use crate::client::cluster::{BrokerConfig, Cluster, DataPath};
use crate::client::fetch::{Isolation, Reader, StartAt};
use crate::client::list_offsets::{self, At};
use crate::client::member::{GroupTimeouts, Member};
use crate::delivery::Delivery;
use crate::error::{Error, Result};
use crate::render::changes::change_line;
use crate::render::{json_line, raw_line, text_line};
use crate::signal::interrupted;

use crate::commands::COMMIT_EVERY;

pub fn execute(brokers: &BrokerConfig, args: Consume) -> Result<()> {
    if args.count == Some(0) {
        return Ok(());
    }
    admin::validate_topic_name(&args.topic)?;
    if args.raw && args.format != ConsumeFormat::Text {
        return Err(Error::Usage(
            "--raw writes text lines: it goes with --format text only".into(),
        ));
    }
    // Read committed, asked for under --protocol auto: the path that can
    // (the classic one reads message format v0, which has no transactions).
    let brokers = &match (args.isolation, brokers.data_path) {
        (Some(IsolationArg::ReadCommitted), DataPath::Auto) => {
            brokers.clone().with_data_path(DataPath::Modern)
        }
        _ => brokers.clone(),
    };
    let mut cluster = Cluster::connect(brokers)?;
    let topic = admin::describe_topic(&mut cluster, &args.topic)
        .map_err(|e| e.for_operation("read", "Read"))?;
    let all: Vec<i32> = topic.partitions.iter().map(|p| p.partition).collect();
    let reset = if args.from_beginning {
        StartAt::Earliest
    } else {
        StartAt::Latest
    };

    let Some(group) = &args.group else {
        let partitions = if args.partition.is_empty() {
            all
        } else {
            if let Some(p) = args.partition.iter().find(|p| !all.contains(p)) {
                return Err(Error::Usage(format!(
                    "partition {p} does not exist: topic '{}' has partitions 0 to {}",
                    args.topic,
                    all.len() as i32 - 1
                )));
            }
            args.partition.clone()
        };
        // --from-time: each partition's first record at or after the time
        // (our own ListOffsets v1+, on either data path).
        let start = match args.from_time {
            Some(t) => list_offsets::offsets_at(&mut cluster, &args.topic, At::Time(t))?
                .into_iter()
                .collect(),
            None => HashMap::new(),
        };
        let mut reader = Reader::new(&cluster, &args.topic, &partitions, &start, reset)?;
        isolate(&mut reader, cluster.data_path()?, args.isolation)?;
        ready(&args.topic, &partitions, brokers);
        let mut until = args.until_time.map(|t| Until::new(t, &partitions));
        return consume_loop(&mut reader, None, until.as_mut(), &mut cluster, &args);
    };

    let timeouts = GroupTimeouts {
        session: args.session_timeout,
        heartbeat: args.heartbeat_interval,
        rebalance: args.rebalance_timeout,
    };
    if timeouts.heartbeat >= timeouts.session {
        return Err(Error::Usage(
            "--heartbeat-interval must be shorter than --session-timeout".into(),
        ));
    }
    // Before joining: a member that cannot fetch would only hold up the group.
    let data_path = cluster.data_path()?;
    let member = Member::join(&mut cluster, group, &args.topic, timeouts)?;
    let mut session = GroupSession::new(member, &args.topic)?;
    let mut reader = Reader::new(
        &cluster,
        &args.topic,
        session.member.assignment(),
        &session.committed,
        reset,
    )?;
    isolate(&mut reader, data_path, args.isolation)?;
    ready(&args.topic, session.member.assignment(), brokers);
    let result = consume_loop(&mut reader, Some(&mut session), None, &mut cluster, &args);
    // Whatever ended the loop, commit what was printed, then leave.
    let finished = session.finish();
    result.and(finished)
}

/// read_committed unless asked otherwise where the data path has
/// transactions (kcat's default too; Kafka's console consumer reads
/// uncommitted): a reader should not see what a producer aborted.
fn isolate(reader: &mut Reader, data_path: DataPath, asked: Option<IsolationArg>) -> Result<()> {
    let isolation = match asked {
        Some(IsolationArg::ReadCommitted) => Isolation::ReadCommitted,
        Some(IsolationArg::ReadUncommitted) => Isolation::ReadUncommitted,
        None if data_path == DataPath::Modern => Isolation::ReadCommitted,
        None => Isolation::ReadUncommitted,
    };
    reader.set_isolation(isolation)
}

/// `make demo` waits for this line before it starts the producers.
fn ready(topic: &str, partitions: &[i32], brokers: &BrokerConfig) {
    log::info!(
        "ready: reading topic '{topic}' partitions {partitions:?} at {}",
        brokers.display()
    );
}

fn consume_loop(
    reader: &mut Reader,
    mut group: Option<&mut GroupSession>,
    mut until: Option<&mut Until>,
    cluster: &mut Cluster,
    args: &Consume,
) -> Result<()> {
    let mut out = Delivery::stdout().map_err(Error::Output)?;
    let mut line = String::new();
    let mut raw = Vec::new();
    let mut seen: u64 = 0;
    loop {
        if interrupted() {
            return Err(Error::Interrupted);
        }
        if let Some(g) = group.as_deref_mut() {
            g.tick(cluster, reader)?;
        }
        if args.exit_at_end && reader.at_end_confirmed()? {
            return Ok(());
        }
        if let Some(u) = until.as_deref_mut() {
            if u.reached(cluster, reader, &args.topic)? {
                return Ok(());
            }
        }
        let records = reader.poll()?;
        let mut done = false;
        for r in &records {
            if until.as_deref_mut().is_some_and(|u| u.past(r)) {
                continue;
            }
            line.clear();
            raw.clear();
            match &args.format {
                ConsumeFormat::Text if args.raw => raw_line(r, &mut raw),
                ConsumeFormat::Text => text_line(r, &mut line),
                ConsumeFormat::Json => line.push_str(&json_line(r)),
                ConsumeFormat::Changes => change_line(r, &mut line),
                ConsumeFormat::Template(t) => t.write(r, &mut line),
            }
            if args.raw {
                raw.push(b'\n');
                out.push(&raw, r.partition, r.offset);
            } else {
                line.push('\n');
                out.push(line.as_bytes(), r.partition, r.offset);
            }
            seen += 1;
            if args.count.is_some_and(|c| seen >= c) {
                done = true;
                break;
            }
        }
        // Only what reached the output counts as consumed (at least once).
        let (delivered, error) = out.flush();
        if let Some(g) = group.as_deref_mut() {
            g.delivered(&delivered);
        }
        if let Some(e) = error {
            return Err(Error::Output(e));
        }
        if done {
            return Ok(());
        }
    }
}

/// A group member's offsets: what reached the output and what was committed.
struct GroupSession {
    member: Member,
    topic: String,
    committed: HashMap<i32, i64>,
    pending: HashMap<i32, i64>,
    last: Instant,
}

impl GroupSession {
    fn new(mut member: Member, topic: &str) -> Result<GroupSession> {
        let assignment = member.assignment().to_vec();
        let committed = member.coordinator().fetch_offsets(topic, &assignment)?;
        Ok(GroupSession {
            member,
            topic: topic.to_string(),
            committed,
            pending: HashMap::new(),
            last: Instant::now(),
        })
    }

    /// Records up to these offsets were written to the output.
    fn delivered(&mut self, offsets: &[(i32, i64)]) {
        self.pending.extend(offsets.iter().copied());
    }

    /// Commits every second; on a rebalance, commits, rejoins and hands the
    /// reader the new assignment at its committed offsets. A coordinator
    /// that is away is found again by the member (within the retry window).
    fn tick(&mut self, cluster: &mut Cluster, reader: &mut Reader) -> Result<()> {
        if self.last.elapsed() >= COMMIT_EVERY {
            self.commit()?;
        }
        if !self.member.needs_rejoin() {
            return Ok(());
        }
        self.commit()?;
        let before = self.member.assignment().to_vec();
        self.member.rejoin(cluster)?;
        let now = self.member.assignment().to_vec();
        self.pending.clear();
        self.committed = self.member.coordinator().fetch_offsets(&self.topic, &now)?;
        if before != now {
            log::info!("partitions {before:?} -> {now:?}");
        }
        reader.assign(&now, &self.committed)
    }

    fn commit(&mut self) -> Result<()> {
        self.last = Instant::now();
        let offsets: Vec<(i32, i64)> = self
            .pending
            .iter()
            .filter(|(p, o)| self.committed.get(p) != Some(o))
            .map(|(&p, &o)| (p, o))
            .collect();
        if offsets.is_empty() {
            return Ok(());
        }
        if self.member.commit(&offsets)? {
            log::debug!("committed {offsets:?}");
            self.committed.extend(offsets);
        }
        Ok(())
    }

    /// The last commit and the leave notice, bounded: after Ctrl-C by its
    /// grace, otherwise by one `--timeout` each rather than the retry window.
    fn finish(mut self) -> Result<()> {
        let timeout = self.member.coordinator().timeout();
        self.member.coordinator().set_retry_for(timeout);
        let committed = self.commit();
        let left = self.member.leave();
        committed.and(left)
    }
}

/// `--until-time`: each partition stops at its first record stamped at or
/// after the time. Before the time has come, a record's own timestamp
/// says so; once it has, the broker's time index gives each partition's
/// stop offset (ListOffsets by time: the log end where every record is
/// older), which also ends partitions that stay quiet and records that
/// carry no timestamp (the classic data path).
struct Until {
    time: std::time::SystemTime,
    ms: i64,
    stop: Option<std::collections::BTreeMap<i32, i64>>,
    open: std::collections::BTreeSet<i32>,
}

impl Until {
    fn new(time: std::time::SystemTime, partitions: &[i32]) -> Until {
        Until {
            time,
            ms: list_offsets::epoch_millis(time),
            stop: None,
            open: partitions.iter().copied().collect(),
        }
    }

    /// Whether every partition has stopped (asking for the stop offsets
    /// once the time has passed).
    fn reached(&mut self, cluster: &mut Cluster, reader: &Reader, topic: &str) -> Result<bool> {
        if self.stop.is_none() && std::time::SystemTime::now() >= self.time {
            self.stop = Some(list_offsets::offsets_at(
                cluster,
                topic,
                At::Time(self.time),
            )?);
        }
        if let Some(stop) = &self.stop {
            self.open
                .retain(|p| match (reader.next_offset(*p), stop.get(p)) {
                    (Some(at), Some(end)) => at < *end,
                    _ => true,
                });
        }
        Ok(self.open.is_empty())
    }

    /// Whether this record is at or past its partition's stop (which it
    /// then closes): it is not shown.
    fn past(&mut self, r: &crate::client::fetch::Consumed) -> bool {
        let stamped_after = r.timestamp.is_some_and(|t| t.ms >= self.ms);
        let beyond = self
            .stop
            .as_ref()
            .and_then(|s| s.get(&r.partition))
            .is_some_and(|end| r.offset >= *end);
        if stamped_after || beyond || !self.open.contains(&r.partition) {
            self.open.remove(&r.partition);
            return true;
        }
        false
    }
}
