//! `kafkademo produce`: the exercise's producers A and B (numbers of one
//! parity on a drift-free schedule) and the console producer (stdin lines,
//! batched for throughput, sent promptly when typed by hand).

mod console;

use std::io::Write;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, TryRecvError};

use crate::cli::{Parity, Produce};
use crate::client::admin;
use crate::client::cluster::{BrokerConfig, Cluster, DataPath};
use crate::client::produce::{Acks, OutRecord, Producer, MAX_BATCH_BYTES};
use crate::client::transaction::{TxnProducer, TRANSACTION_TIMEOUT};
use crate::error::{Error, Result};
use crate::record::{encode_parity, valid_origin, MAX_ORIGIN_LEN};
use crate::signal::interrupted;

/// Longest a Ctrl-C waits to be noticed while idle.
const TICK: Duration = Duration::from_millis(50);
const MAX_BATCH_RECORDS: usize = 10_000;
/// What one request of a console sender carries at most: about `bench
/// produce`'s request size, 256 KiB, which on the classic path cost the
/// broker least per record (2500 records of 100 B: 1.85–2.14 s for
/// 1,000,000 lines against 2.47 s with 1000 and 2.73 s with 5000); on the
/// modern path 1000 records, as the bench found for memory (0.34–0.71 s
/// at 13 MB peak RSS against 0.53 s at 17.5 MB with 2500).
const CONSOLE_BATCH_BYTES: usize = 256 * 1024;
const CONSOLE_BATCH_RECORDS_CLASSIC: usize = 2500;
const CONSOLE_BATCH_RECORDS_MODERN: usize = 1000;

pub fn execute(brokers: &BrokerConfig, args: Produce) -> Result<()> {
    match args.parity_arg.or(args.parity) {
        Some(_) if args.transactional_id.is_some() => Err(Error::Usage(
            "--transactional-id is for stdin lines, not for the parity producers".into(),
        )),
        Some(parity) => {
            let plan = ParityPlan::from_args(parity, &args)?;
            let mut cluster = Cluster::connect(brokers)?;
            let mut producer =
                Producer::new(&mut cluster, &args.topic, args.acks.unwrap_or(Acks::Leader))?
                    .with_retry_for(args.retry_for)
                    .with_headers(args.headers.clone())?;
            run_parity(&mut producer, &plan)
        }
        None if args.transactional_id.is_some() => {
            let (separator, partition) = console_args(&args)?;
            run_transactional(brokers, &args, separator.as_deref(), partition)
        }
        None => {
            let (separator, partition) = console_args(&args)?;
            let acks = args.acks.unwrap_or(Acks::Leader);
            let make = || -> Result<Producer> {
                let mut cluster = Cluster::connect(brokers)?;
                Producer::new(&mut cluster, &args.topic, acks)?
                    .with_retry_for(args.retry_for)
                    .with_headers(args.headers.clone())
            };
            // The first producer checks the topic and arguments before a
            // line is read; the other senders build theirs meanwhile.
            let first = make()?;
            let plan = console::Plan {
                partitions: first.partitions(),
                partition,
                separator,
                keep_going: args.keep_going,
                batch_records: match first.data_path() {
                    DataPath::Modern => CONSOLE_BATCH_RECORDS_MODERN,
                    DataPath::Classic | DataPath::Auto => CONSOLE_BATCH_RECORDS_CLASSIC,
                },
                batch_bytes: CONSOLE_BATCH_BYTES,
            };
            run_console(&plan, first, &make)
        }
    }
}

#[derive(Debug)]
struct ParityPlan {
    origin: String,
    interval: Duration,
    start: i64,
    count: Option<u64>,
    duration: Option<Duration>,
}

impl ParityPlan {
    fn from_args(parity: Parity, args: &Produce) -> Result<ParityPlan> {
        if args.key_separator.is_some() || args.partition.is_some() || args.keep_going {
            return Err(Error::Usage(
                "--key-separator, --partition and --keep-going are for stdin lines; leave out the parity to use them"
                    .into(),
            ));
        }
        let (origin, interval, start) = match parity {
            Parity::Even => ("A", Duration::from_secs(1), 0),
            Parity::Odd => ("B", Duration::from_secs(2), 1),
        };
        let origin = args.origin.clone().unwrap_or_else(|| origin.to_string());
        if !valid_origin(&origin) {
            return Err(Error::Usage(format!(
                "invalid --origin '{}': use 1 to {MAX_ORIGIN_LEN} letters, digits, '-', '_' or '.'",
                origin.escape_debug()
            )));
        }
        let interval = args.interval.unwrap_or(interval);
        if interval.is_zero() {
            return Err(Error::Usage("--interval must be more than 0".into()));
        }
        let start = args.start.unwrap_or(start);
        let wanted = if parity == Parity::Even { 0 } else { 1 };
        if start.rem_euclid(2) != wanted {
            return Err(Error::Usage(format!(
                "--start {start} is {}, but this producer writes {} numbers",
                if wanted == 0 { "odd" } else { "even" },
                if wanted == 0 { "even" } else { "odd" }
            )));
        }
        Ok(ParityPlan {
            origin,
            interval,
            start,
            count: args.count,
            duration: args.duration,
        })
    }
}

/// Record i is due at start + i × interval, however long sends take, so
/// the rate never drifts; each is acknowledged before the next is counted.
fn run_parity(producer: &mut Producer, plan: &ParityPlan) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let t0 = Instant::now();
    let mut number = plan.start;
    for i in 0u64.. {
        if plan.count.is_some_and(|c| i >= c) {
            break;
        }
        let offset_in_run = plan.interval.saturating_mul(i.min(u32::MAX as u64) as u32);
        if plan.duration.is_some_and(|d| offset_in_run >= d) {
            break;
        }
        sleep_until(t0 + offset_in_run)?;
        let (key, value) = encode_parity(&plan.origin, number);
        let landed = producer.send(vec![OutRecord {
            key,
            value,
            partition: None,
        }])?;
        let at = landed[0];
        // No offset with acks=0, or for a duplicate the broker kept none for.
        let offset = at
            .offset
            .map_or_else(|| "unknown".to_string(), |o| o.to_string());
        let line = format!(
            "sent {} {} (partition {}, offset {offset})",
            plan.origin, number, at.partition
        );
        // A closed pipe (`| head -3`) ends the run quietly, as `yes | head` does:
        // the record just sent was acknowledged, nothing more is sent.
        writeln!(out, "{line}")
            .and_then(|()| out.flush())
            .map_err(Error::Output)?;
        number = number
            .checked_add(2)
            .ok_or_else(|| Error::Usage("the numbers ran past i64".into()))?;
    }
    Ok(())
}

/// Sleeps until `due`, waking every TICK to notice Ctrl-C.
fn sleep_until(due: Instant) -> Result<()> {
    loop {
        if interrupted() {
            return Err(Error::Interrupted);
        }
        let now = Instant::now();
        if now >= due {
            return Ok(());
        }
        std::thread::sleep((due - now).min(TICK));
    }
}

fn console_args(args: &Produce) -> Result<(Option<Vec<u8>>, Option<i32>)> {
    let parity_only = [
        ("--interval", args.interval.is_some()),
        ("--origin", args.origin.is_some()),
        ("--count", args.count.is_some()),
        ("--duration", args.duration.is_some()),
        ("--start", args.start.is_some()),
    ];
    if let Some((flag, _)) = parity_only.iter().find(|(_, given)| *given) {
        return Err(Error::Usage(format!(
            "{flag} needs a parity: `kafkademo produce even {flag} …` or `produce odd …`"
        )));
    }
    let separator = match &args.key_separator {
        Some(s) if s.is_empty() => {
            return Err(Error::Usage("--key-separator must not be empty".into()))
        }
        Some(s) => Some(s.as_bytes().to_vec()),
        None => None,
    };
    Ok((separator, args.partition))
}

/// The next batch of stdin lines: the first chunk to arrive (waiting for
/// it, Ctrl-C noticed within a tick) and whatever else has arrived by then,
/// up to the batch limits; and whether stdin ended right after them. None
/// at end of input with nothing left.
fn next_batch(
    lines: &Receiver<std::io::Result<Vec<console::Line>>>,
) -> Result<Option<(Vec<console::Line>, bool)>> {
    let mut batch = loop {
        match lines.recv_timeout(TICK * 2) {
            Ok(chunk) => break chunk.map_err(console::stdin_error)?,
            Err(RecvTimeoutError::Timeout) => {
                if interrupted() {
                    return Err(Error::Interrupted);
                }
            }
            Err(RecvTimeoutError::Disconnected) => return Ok(None),
        }
    };
    let mut bytes: usize = batch.iter().map(|l| l.bytes.len()).sum();
    while batch.len() < MAX_BATCH_RECORDS && bytes < MAX_BATCH_BYTES {
        match lines.try_recv() {
            Ok(chunk) => {
                let chunk = chunk.map_err(console::stdin_error)?;
                bytes += chunk.iter().map(|l| l.bytes.len()).sum::<usize>();
                batch.extend(chunk);
            }
            Err(TryRecvError::Empty) => break,
            Err(TryRecvError::Disconnected) => return Ok(Some((batch, true))),
        }
    }
    Ok(Some((batch, false)))
}

/// The console producer: stdin lines through the senders of
/// `console::run`, and what they acknowledged said on Ctrl-C.
fn run_console(
    plan: &console::Plan,
    first: Producer,
    make: &(dyn Fn() -> Result<Producer> + Sync),
) -> Result<()> {
    let lines = console::spawn_stdin_reader();
    let outcome = console::run(plan, first, make, lines);
    if outcome.result.is_ok() && outcome.skipped > 0 {
        return Err(Error::broker(format!(
            "{} lines were not acknowledged (reported above); the other {} were",
            outcome.skipped, outcome.acked
        )));
    }
    if matches!(outcome.result, Err(Error::Interrupted)) {
        // What Ctrl-C left behind: every line counted here was acknowledged.
        eprintln!(
            "kafkademo: interrupted: {} records acknowledged",
            outcome.acked
        );
    }
    outcome.result
}

/// The console producer in transactions: each batch of lines (or every
/// `--transaction-size` records) is one transaction; end of input commits
/// the last, Ctrl-C or an error aborts the open one.
fn run_transactional(
    brokers: &BrokerConfig,
    args: &Produce,
    separator: Option<&[u8]>,
    partition: Option<i32>,
) -> Result<()> {
    let id = args.transactional_id.as_deref().unwrap_or_default();
    if args.acks.is_some_and(|a| a != Acks::All) {
        return Err(Error::Usage(
            "--transactional-id needs --acks all (a transaction is only as durable as its records)"
                .into(),
        ));
    }
    if brokers.data_path == DataPath::Classic {
        return Err(Error::Usage(
            "--transactional-id writes Kafka transactions, which the classic data path (message format v0) cannot: leave --protocol at auto or modern".into(),
        ));
    }
    let brokers = brokers.clone().with_data_path(DataPath::Modern);
    let mut cluster = Cluster::connect(&brokers)?;
    admin::describe_topic(&mut cluster, &args.topic)?;
    let mut txn = TxnProducer::init(&mut cluster, id, TRANSACTION_TIMEOUT)?
        .with_headers(args.headers.clone());
    txn.set_retry_for(args.retry_for);
    let (mut committed, mut open) = (0u64, 0u64);
    let lines = console::spawn_stdin_reader();
    let result = (|| -> Result<()> {
        while let Some((batch, _)) = next_batch(&lines)? {
            // The open transaction is aborted: none of it becomes visible.
            if let Some(line) = batch.iter().find(|l| l.too_long) {
                return Err(match console::too_long() {
                    Error::Data { message, hint } => Error::Data {
                        message: format!("line {}: {message}", line.number),
                        hint,
                    },
                    other => other,
                });
            }
            let mut records: Vec<OutRecord> = batch
                .into_iter()
                .filter(|l| !l.bytes.is_empty())
                .map(|l| console::to_record(l.bytes, separator, partition))
                .collect();
            while !records.is_empty() {
                let room = args
                    .transaction_size
                    .map_or(records.len() as u64, |n| n - open)
                    .min(records.len() as u64) as usize;
                let rest = records.split_off(room);
                txn.send(&args.topic, &records)?;
                open += records.len() as u64;
                records = rest;
                if interrupted() {
                    return Err(Error::Interrupted);
                }
                if args.transaction_size.is_none_or(|n| open >= n) {
                    txn.commit()?;
                    committed += open;
                    open = 0;
                }
            }
        }
        txn.commit()?;
        committed += open;
        open = 0;
        // So that a read_committed reader started next sees it all.
        txn.settle();
        Ok(())
    })();
    if result.is_err() && txn.open() {
        // Nothing of the open transaction becomes visible.
        txn.set_retry_for(brokers.timeout);
        if let Err(e) = txn.abort() {
            log::warn!("could not abort transaction of '{id}' at once ({e}); the coordinator aborts it after {}", humantime::format_duration(TRANSACTION_TIMEOUT));
        }
    }
    match &result {
        Err(Error::Interrupted) => eprintln!(
            "kafkademo: interrupted: {committed} records committed, {open} in the open transaction aborted"
        ),
        Err(_) if committed + open > 0 => eprintln!(
            "kafkademo: {committed} records committed before the error, {open} aborted"
        ),
        _ => {}
    }
    result
}
