//! `kafkademo consume`: consumer C of the exercise and a console consumer.
//! Prints each record as a text or JSON line; with `--group`, commits what
//! it printed every second and on exit, so a restart resumes after it.

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::time::{Duration, Instant};

use crate::admin;
use crate::broker::{BrokerConfig, Cluster};
use crate::cli::{Consume, Format};
use crate::consumer::{Reader, StartAt};
use crate::error::{Error, Result};
use crate::group::{Coordinator, Membership};
use crate::record::{json_line, text_line};
use crate::signal::interrupted;

const COMMIT_EVERY: Duration = Duration::from_secs(1);

pub fn execute(brokers: &BrokerConfig, args: Consume) -> Result<()> {
    if args.count == Some(0) {
        return Ok(());
    }
    admin::validate_topic_name(&args.topic)?;
    let mut cluster = Cluster::connect(brokers)?;
    let topic = admin::describe_topic(&mut cluster, &args.topic)?;
    let all: Vec<i32> = topic.partitions.iter().map(|p| p.partition).collect();
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

    let mut offsets = match &args.group {
        Some(group) => {
            let mut coordinator = Coordinator::find(&mut cluster, group)?;
            let committed = coordinator.fetch_offsets(&args.topic, &partitions)?;
            Committer::new(coordinator, &args.topic, committed)
        }
        None => Committer::none(),
    };
    let reset = if args.from_beginning {
        StartAt::Earliest
    } else {
        StartAt::Latest
    };
    let mut reader = Reader::new(
        &cluster,
        &args.topic,
        &partitions,
        &offsets.committed,
        reset,
    )?;
    // `make demo` waits for this line before it starts the producers.
    log::info!(
        "ready: reading topic '{}' partitions {partitions:?} at {}",
        args.topic,
        brokers.display()
    );

    let result = consume_loop(&mut reader, &mut offsets, &args);
    // Whatever ended the loop, commit what was printed.
    let committed = offsets.commit();
    match (result, committed) {
        (Err(e), _) => Err(e),
        (Ok(()), Err(e)) => Err(e),
        (Ok(()), Ok(())) => Ok(()),
    }
}

fn consume_loop(reader: &mut Reader, offsets: &mut Committer, args: &Consume) -> Result<()> {
    let mut out = BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    let mut line = String::new();
    let mut seen: u64 = 0;
    loop {
        if interrupted() {
            return Err(Error::Interrupted);
        }
        if args.exit_at_end && reader.at_end() {
            return Ok(());
        }
        let records = reader.poll()?;
        for r in &records {
            line.clear();
            match args.format {
                Format::Text => text_line(r, &mut line),
                Format::Json => line.push_str(&json_line(r)),
            }
            line.push('\n');
            out.write_all(line.as_bytes()).map_err(Error::Output)?;
            offsets.processed(r.partition, r.offset);
            seen += 1;
            if args.count.is_some_and(|c| seen >= c) {
                return out.flush().map_err(Error::Output);
            }
        }
        out.flush().map_err(Error::Output)?;
        offsets.maybe_commit()?;
    }
}

/// Offsets a group consumer has printed and not yet committed.
struct Committer {
    coordinator: Option<Coordinator>,
    topic: String,
    committed: HashMap<i32, i64>,
    pending: HashMap<i32, i64>,
    last: Instant,
}

impl Committer {
    fn none() -> Committer {
        Committer {
            coordinator: None,
            topic: String::new(),
            committed: HashMap::new(),
            pending: HashMap::new(),
            last: Instant::now(),
        }
    }

    fn new(coordinator: Coordinator, topic: &str, committed: HashMap<i32, i64>) -> Committer {
        Committer {
            coordinator: Some(coordinator),
            topic: topic.to_string(),
            committed,
            pending: HashMap::new(),
            last: Instant::now(),
        }
    }

    fn processed(&mut self, partition: i32, offset: i64) {
        if self.coordinator.is_some() {
            self.pending.insert(partition, offset + 1);
        }
    }

    fn maybe_commit(&mut self) -> Result<()> {
        if self.last.elapsed() >= COMMIT_EVERY {
            self.commit()?;
        }
        Ok(())
    }

    fn commit(&mut self) -> Result<()> {
        self.last = Instant::now();
        let Some(coordinator) = self.coordinator.as_mut() else {
            return Ok(());
        };
        let offsets: Vec<(i32, i64)> = self
            .pending
            .iter()
            .filter(|(p, o)| self.committed.get(p) != Some(o))
            .map(|(&p, &o)| (p, o))
            .collect();
        if offsets.is_empty() {
            return Ok(());
        }
        coordinator.commit(&self.topic, &offsets, &Membership::standalone())?;
        log::debug!("committed {offsets:?} for group {}", coordinator.group);
        self.committed.extend(offsets);
        Ok(())
    }
}
