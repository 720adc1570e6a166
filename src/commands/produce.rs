//! `kafkademo produce`: the exercise's producers A and B (numbers of one
//! parity on a drift-free schedule) and the console producer (stdin lines,
//! batched for throughput, sent promptly when typed by hand).

use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, TryRecvError};

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
            let mut cluster = Cluster::connect(brokers)?;
            let mut producer =
                Producer::new(&mut cluster, &args.topic, args.acks.unwrap_or(Acks::Leader))?
                    .with_retry_for(args.retry_for)
                    .with_headers(args.headers.clone())?;
            run_console(
                &mut producer,
                separator.as_deref(),
                partition,
                args.keep_going,
            )
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

/// One stdin line, numbered from 1.
struct Line {
    number: u64,
    bytes: Vec<u8>,
}

/// The next batch of stdin lines: the first to arrive (waiting for it, Ctrl-C
/// noticed within a tick) and whatever else has arrived by then, up to the
/// batch limits; and whether stdin ended right after them. None at end of
/// input with nothing left.
fn next_batch(lines: &Receiver<std::io::Result<Line>>) -> Result<Option<(Vec<Line>, bool)>> {
    let first = loop {
        match lines.recv_timeout(TICK * 2) {
            Ok(line) => break line.map_err(stdin_error)?,
            Err(RecvTimeoutError::Timeout) => {
                if interrupted() {
                    return Err(Error::Interrupted);
                }
            }
            Err(RecvTimeoutError::Disconnected) => return Ok(None),
        }
    };
    let mut bytes = first.bytes.len();
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH_RECORDS && bytes < MAX_BATCH_BYTES {
        match lines.try_recv() {
            Ok(line) => {
                let line = line.map_err(stdin_error)?;
                bytes += line.bytes.len();
                batch.push(line);
            }
            Err(TryRecvError::Empty) => break,
            Err(TryRecvError::Disconnected) => return Ok(Some((batch, true))),
        }
    }
    Ok(Some((batch, false)))
}

/// Reads stdin on its own thread so the sender can batch whatever has
/// arrived and still notice Ctrl-C while a person is typing.
fn spawn_stdin_reader() -> Receiver<std::io::Result<Line>> {
    let (tx, rx) = bounded(MAX_BATCH_RECORDS * 2);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut number = 0;
        loop {
            let mut bytes = Vec::new();
            match stdin.read_until(b'\n', &mut bytes) {
                Ok(0) => return,
                Ok(_) => {
                    number += 1;
                    if bytes.last() == Some(&b'\n') {
                        bytes.pop();
                        if bytes.last() == Some(&b'\r') {
                            bytes.pop();
                        }
                    }
                    if tx.send(Ok(Line { number, bytes })).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            }
        }
    });
    rx
}

fn run_console(
    producer: &mut Producer,
    separator: Option<&[u8]>,
    partition: Option<i32>,
    keep_going: bool,
) -> Result<()> {
    let mut sent_total: u64 = 0;
    let mut skipped: u64 = 0;
    let skip = keep_going.then_some(&mut skipped);
    let result = console_loop(producer, separator, partition, &mut sent_total, skip);
    if result.is_ok() && skipped > 0 {
        return Err(Error::broker(format!(
            "{skipped} lines were not acknowledged (reported above); the other {sent_total} were"
        )));
    }
    if matches!(result, Err(Error::Interrupted)) {
        // What Ctrl-C left behind: every line counted here was acknowledged.
        eprintln!("kafkademo: interrupted: {sent_total} records acknowledged");
    }
    result
}

/// With `skipped` (--keep-going), a batch that could not be sent is
/// reported and counted there, and the loop goes on with the next lines.
fn console_loop(
    producer: &mut Producer,
    separator: Option<&[u8]>,
    partition: Option<i32>,
    sent_total: &mut u64,
    mut skipped: Option<&mut u64>,
) -> Result<()> {
    let lines = spawn_stdin_reader();
    loop {
        let Some((batch, eof)) = next_batch(&lines)? else {
            return Ok(());
        };
        let (records, numbers): (Vec<OutRecord>, Vec<u64>) = batch
            .into_iter()
            .filter(|l| !l.bytes.is_empty())
            .map(|l| (to_record(l.bytes, separator, partition), l.number))
            .unzip();
        if let Err(e) = producer.send(records.as_slice()) {
            *sent_total += e.sent as u64;
            // Bad arguments or Ctrl-C end the run whatever --keep-going says.
            if let Some(skipped) = skipped
                .as_deref_mut()
                .filter(|_| !matches!(e.error, Error::Usage(_) | Error::Interrupted))
            {
                let unsent = records.len() - e.sent;
                *skipped += unsent as u64;
                report_skipped(&numbers, e.sent, &e.error);
                if eof {
                    return Ok(());
                }
                continue;
            }
            let at = e
                .record
                .map(|i| format!("line {}: ", numbers[i]))
                .unwrap_or_default();
            return Err(match e.error {
                Error::Data { message, hint } => Error::Data {
                    message: format!(
                        "{at}{message}; the {} records before it were written",
                        *sent_total
                    ),
                    hint,
                },
                other => other,
            });
        }
        *sent_total += records.len() as u64;
        if interrupted() {
            return Err(Error::Interrupted);
        }
        if eof {
            return Ok(());
        }
    }
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
    let lines = spawn_stdin_reader();
    let result = (|| -> Result<()> {
        while let Some((batch, _)) = next_batch(&lines)? {
            let mut records: Vec<OutRecord> = batch
                .into_iter()
                .filter(|l| !l.bytes.is_empty())
                .map(|l| to_record(l.bytes, separator, partition))
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

/// One stderr line for a batch --keep-going leaves behind: its line
/// numbers, how many of them were acknowledged all the same, and why.
fn report_skipped(numbers: &[u64], acknowledged: usize, error: &Error) {
    let lines = match numbers {
        [only] => format!("line {only}"),
        [first, .., last] => format!("lines {first} to {last}"),
        [] => return,
    };
    let some = if acknowledged > 0 {
        format!(" ({acknowledged} of {} acknowledged)", numbers.len())
    } else {
        String::new()
    };
    let error = crate::render::printable(&error.to_string()).into_owned();
    eprintln!("kafkademo: {lines} not sent{some}: {error}; going on (--keep-going)");
}

fn to_record(line: Vec<u8>, separator: Option<&[u8]>, partition: Option<i32>) -> OutRecord {
    let split = separator.and_then(|sep| {
        line.windows(sep.len())
            .position(|w| w == sep)
            .map(|at| (line[..at].to_vec(), line[at + sep.len()..].to_vec()))
    });
    let (key, value) = split.unwrap_or((Vec::new(), line));
    OutRecord {
        key,
        value,
        partition,
    }
}

fn stdin_error(e: std::io::Error) -> Error {
    Error::Data {
        message: format!("cannot read stdin: {e}"),
        hint: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_separator_splits_at_the_first_match() {
        let r = to_record(b"k1::v::x".to_vec(), Some(b"::"), None);
        assert_eq!(
            (r.key.as_slice(), r.value.as_slice()),
            (&b"k1"[..], &b"v::x"[..])
        );
        let r = to_record(b"no key here".to_vec(), Some(b"\t"), Some(2));
        assert_eq!(
            (r.key.as_slice(), r.value.as_slice(), r.partition),
            (&b""[..], &b"no key here"[..], Some(2))
        );
    }
}
