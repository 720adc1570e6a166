//! The console producer's pipeline, so that stdin lines go out as fast as
//! `bench produce` sends: stdin is read in chunks on a thread of its own,
//! each line is placed on its partition, and up to `LANES` senders, each
//! with a producer (and so connections) of its own and partitions of its
//! own, have requests in flight at the same time. One partition has one
//! sender, which sends its lines in stdin order: per-partition order holds.

use std::collections::VecDeque;
use std::io::BufRead;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, SendTimeoutError, Sender};

use crate::client::produce::{murmur2_partition, OutRecord, Producer, SendError};
use crate::error::{Error, Result};
use crate::signal::interrupted;

/// Most senders a console producer runs: `bench produce`'s default number
/// of connections, past which 100 B records gained nothing.
pub const LANES: usize = 4;
/// What stdin is read in: a chunk of lines is at most this much input
/// (256 KiB chunks made no run faster and cost 7 MB more peak RSS).
const READ_BYTES: usize = 64 * 1024;
/// Chunks read ahead of the senders, and pieces (a chunk's lines for one
/// sender) queued per sender: enough for a request's worth while the
/// sender waits for its broker, and a bound on memory (about 2 MiB of
/// lines per sender).
const CHUNKS_AHEAD: usize = 4;
const PIECES_AHEAD: usize = 16;
/// How often a blocked hand-over looks at Ctrl-C and at the other senders.
const TICK: Duration = Duration::from_millis(50);

/// One stdin line, numbered from 1.
pub struct Line {
    pub number: u64,
    pub bytes: Vec<u8>,
    /// Longer than `lines::crate::lines::MAX_LINE_BYTES`: its bytes were dropped as they came.
    pub too_long: bool,
}

/// The error of a line too long to send (the caller names the line).
pub fn too_long() -> Error {
    Error::Data {
        message: format!(
            "longer than {} MiB, the most one stdin line can be here",
            crate::lines::MAX_LINE_BYTES >> 20
        ),
        hint: Some("split it, or put big payloads elsewhere and send a reference to them".into()),
    }
}

/// Reads stdin on its own thread, in chunks: whatever complete lines one
/// read brought, so a line typed by hand is handed on at once and a file
/// goes in chunks of up to `READ_BYTES`. The last line needs no newline.
pub fn spawn_stdin_reader() -> Receiver<std::io::Result<Vec<Line>>> {
    let (tx, rx) = bounded(CHUNKS_AHEAD);
    std::thread::spawn(move || {
        let stdin = std::io::stdin().lock();
        read_lines(
            std::io::BufReader::with_capacity(READ_BYTES, stdin),
            &tx,
            crate::lines::MAX_LINE_BYTES,
        );
    });
    rx
}

fn read_lines(mut input: impl BufRead, tx: &Sender<std::io::Result<Vec<Line>>>, max_line: usize) {
    let mut number = 0;
    // A line longer than what one read brought, gathered across reads.
    let mut partial: Vec<u8> = Vec::new();
    // The line under way is past `max_line`: its bytes are dropped.
    let mut overlong = false;
    let mut line = |bytes: &[u8], partial: &mut Vec<u8>, overlong: &mut bool| {
        number += 1;
        if std::mem::take(overlong) {
            return Line {
                number,
                bytes: Vec::new(),
                too_long: true,
            };
        }
        let mut bytes = if partial.is_empty() {
            bytes.to_vec()
        } else {
            partial.extend_from_slice(bytes);
            std::mem::take(partial)
        };
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        // `\r\n` ends a line: the `\r` is not a byte of it.
        let too_long = bytes.len() > max_line;
        if too_long {
            bytes = Vec::new();
        }
        Line {
            number,
            bytes,
            too_long,
        }
    };
    loop {
        let buf = match input.fill_buf() {
            Ok(buf) => buf,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        };
        if buf.is_empty() {
            if !partial.is_empty() || overlong {
                let last = line(&[], &mut partial, &mut overlong);
                let _ = tx.send(Ok(vec![last]));
            }
            return;
        }
        let mut chunk = Vec::new();
        let mut rest = buf;
        while !rest.is_empty() {
            let start = rest;
            // skip_until finds the newline with the standard library's
            // memchr; reading a slice cannot fail, and takes at least a byte.
            let n = rest.skip_until(b'\n').unwrap_or(start.len()).max(1);
            let ended = start[n - 1] == b'\n';
            let piece = &start[..n - usize::from(ended)];
            // One byte of slack for the `\r` of a `\r\n`.
            if !overlong && partial.len() + piece.len() > max_line + 1 {
                overlong = true;
                partial = Vec::new();
            }
            if ended {
                chunk.push(line(piece, &mut partial, &mut overlong));
            } else if !overlong {
                partial.extend_from_slice(piece);
            }
        }
        let read = buf.len();
        input.consume(read);
        if !chunk.is_empty() && tx.send(Ok(chunk)).is_err() {
            return;
        }
    }
}

/// The console producer's outcome: what was acknowledged and skipped, and
/// the error that ended it, if any.
pub struct Outcome {
    pub acked: u64,
    pub skipped: u64,
    pub result: Result<()>,
}

/// A record on its way, with its stdin line number and its place among
/// the records sent (0-based).
struct Item {
    number: u64,
    seq: u64,
    record: OutRecord,
}

/// A sender that gave up: on which line (when one line is to blame) and why.
struct Failure {
    number: Option<u64>,
    seq: Option<u64>,
    error: Error,
}

/// What the senders share with the dispatcher.
struct Shared {
    acked: AtomicU64,
    skipped: AtomicU64,
    /// Everything stops after the sends under way (Ctrl-C, or an error no
    /// line is to blame for).
    stop: AtomicBool,
    /// Lines from this number on are not sent (a line failed): the lines
    /// before it still are, so every line before a failed one is written.
    cut: AtomicU64,
    failures: Mutex<Vec<Failure>>,
}

impl Shared {
    fn halted(&self) -> bool {
        self.stop.load(Ordering::SeqCst) || interrupted()
    }

    fn fail(&self, failure: Failure) {
        match failure.number {
            Some(n) if !matches!(failure.error, Error::Interrupted) => {
                self.cut.fetch_min(n, Ordering::SeqCst);
            }
            _ => self.stop.store(true, Ordering::SeqCst),
        }
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(failure);
    }
}

/// How the lines are placed and sent: the topic's partition count, the
/// line arguments, and the most one request of a sender carries.
pub struct Plan {
    pub partitions: i32,
    /// Every record to this partition (`--partition`).
    pub partition: Option<i32>,
    pub separator: Option<Vec<u8>>,
    pub keep_going: bool,
    pub batch_records: usize,
    pub batch_bytes: usize,
}

impl Plan {
    /// Senders for this plan: one per partition up to `LANES`; one when
    /// every record goes to the same partition.
    pub fn lanes(&self) -> usize {
        if self.partition.is_some() {
            1
        } else {
            (self.partitions.max(1) as usize).min(LANES)
        }
    }
}

/// Sends stdin lines (from `lines`) with `first`, the producer already
/// built, and `lanes() - 1` more producers from `make`, each on its own
/// thread. Returns once input ended and every sender is done, or an error
/// or Ctrl-C stopped them.
pub fn run(
    plan: &Plan,
    first: Producer,
    make: &(dyn Fn() -> Result<Producer> + Sync),
    lines: Receiver<std::io::Result<Vec<Line>>>,
) -> Outcome {
    let shared = Shared {
        acked: AtomicU64::new(0),
        skipped: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        cut: AtomicU64::new(u64::MAX),
        failures: Mutex::new(Vec::new()),
    };
    let lanes = plan.lanes();
    let mut input_error = None;
    std::thread::scope(|s| {
        let mut senders = Vec::with_capacity(lanes);
        let mut first = Some(first);
        for _ in 0..lanes {
            let (tx, rx) = bounded::<Vec<Item>>(PIECES_AHEAD);
            senders.push(tx);
            let producer = first.take();
            let shared = &shared;
            s.spawn(move || {
                let producer = match producer.map_or_else(make, Ok) {
                    Ok(p) => p,
                    Err(error) => {
                        return shared.fail(Failure {
                            number: None,
                            seq: None,
                            error,
                        })
                    }
                };
                lane(producer, &rx, shared, plan);
            });
        }
        let mut placer = Placer::new(plan);
        let mut seq = 0u64;
        'input: loop {
            if shared.halted() || shared.cut.load(Ordering::SeqCst) != u64::MAX {
                break;
            }
            let chunk = match lines.recv_timeout(TICK) {
                Ok(Ok(chunk)) => chunk,
                Ok(Err(e)) => {
                    input_error = Some(stdin_error(e));
                    break;
                }
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            let mut pieces: Vec<Vec<Item>> = (0..lanes).map(|_| Vec::new()).collect();
            for line in chunk {
                if line.too_long {
                    let error = too_long();
                    if plan.keep_going {
                        shared.skipped.fetch_add(1, Ordering::SeqCst);
                        report_skipped(&[line.number], 0, &error);
                        continue;
                    }
                    // As a record the broker refused: the lines before it
                    // are still sent, none after it.
                    shared.fail(Failure {
                        number: Some(line.number),
                        seq: Some(seq),
                        error,
                    });
                    break;
                }
                if line.bytes.is_empty() {
                    continue;
                }
                let mut record = to_record(line.bytes, plan.separator.as_deref(), plan.partition);
                let lane = placer.place(&mut record, lanes);
                pieces[lane].push(Item {
                    number: line.number,
                    seq,
                    record,
                });
                seq += 1;
            }
            for (lane, piece) in pieces.into_iter().enumerate() {
                if piece.is_empty() {
                    continue;
                }
                let mut piece = piece;
                loop {
                    match senders[lane].send_timeout(piece, TICK) {
                        Ok(()) => break,
                        Err(SendTimeoutError::Timeout(back)) => {
                            if shared.halted() {
                                break 'input;
                            }
                            piece = back;
                        }
                        // The sender is gone: it stopped (and said why, if
                        // it failed), or it has sent every line before a cut.
                        Err(SendTimeoutError::Disconnected(_)) => break,
                    }
                }
            }
        }
        drop(senders);
        if input_error.is_some() {
            shared.stop.store(true, Ordering::SeqCst);
        }
    });
    let acked = shared.acked.load(Ordering::SeqCst);
    let skipped = shared.skipped.load(Ordering::SeqCst);
    let mut failures = shared
        .failures
        .into_inner()
        .unwrap_or_else(|p| p.into_inner());
    let result = match input_error {
        Some(e) => Err(e),
        None => verdict(&mut failures, acked),
    };
    let result = match result {
        Ok(()) if interrupted() => Err(Error::Interrupted),
        other => other,
    };
    Outcome {
        acked,
        skipped,
        result,
    }
}

/// The error to report when senders failed: Ctrl-C first, then the
/// earliest line to blame, then any other.
fn verdict(failures: &mut Vec<Failure>, acked: u64) -> Result<()> {
    if failures.is_empty() {
        return Ok(());
    }
    if let Some(i) = failures
        .iter()
        .position(|f| matches!(f.error, Error::Interrupted))
    {
        return Err(failures.swap_remove(i).error);
    }
    failures.sort_by_key(|f| f.number.unwrap_or(u64::MAX));
    let several = failures.len() > 1;
    let f = failures.swap_remove(0);
    let Some(number) = f.number else {
        return Err(f.error);
    };
    Err(match f.error {
        Error::Data { message, hint } => {
            // Every line before the failed one was sent (the senders send
            // what comes before a cut), unless another sender failed too.
            let before = f.seq.unwrap_or(0);
            let written = if several {
                format!("{acked} other records were written")
            } else if acked > before {
                format!(
                    "the {before} records before it were written, and {} after it to other partitions",
                    acked - before
                )
            } else {
                format!("the {before} records before it were written")
            };
            Error::Data {
                message: format!("line {number}: {message}; {written}"),
                hint,
            }
        }
        other => other,
    })
}

/// Places records as the producer would: `--partition`, else murmur2 of
/// the key, else round-robin; and picks the sender of the partition.
struct Placer {
    partitions: i32,
    round_robin: i32,
}

impl Placer {
    fn new(plan: &Plan) -> Placer {
        Placer {
            partitions: plan.partitions.max(1),
            round_robin: -1,
        }
    }

    /// Gives `record` its partition (an explicit one stays as given: the
    /// producer checks it) and returns the sender of that partition.
    fn place(&mut self, record: &mut OutRecord, lanes: usize) -> usize {
        let p = match (record.partition, record.key.is_empty()) {
            (Some(p), _) => p,
            (None, false) => murmur2_partition(&record.key, self.partitions),
            (None, true) => {
                self.round_robin = (self.round_robin + 1) % self.partitions;
                self.round_robin
            }
        };
        record.partition = Some(p);
        (p.max(0) as usize) % lanes.max(1)
    }
}

/// One sender: takes what is queued for it, up to a request's worth, sends
/// it, and again, until its queue closes or the run stops.
fn lane(mut producer: Producer, rx: &Receiver<Vec<Item>>, shared: &Shared, plan: &Plan) {
    let mut queued: VecDeque<Item> = VecDeque::new();
    let mut open = true;
    loop {
        if shared.halted() {
            return;
        }
        if queued.is_empty() {
            if !open {
                return;
            }
            match rx.recv_timeout(TICK) {
                Ok(piece) => queued.extend(piece),
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        while queued.len() < plan.batch_records {
            match rx.try_recv() {
                Ok(piece) => queued.extend(piece),
                Err(crossbeam_channel::TryRecvError::Empty) => break,
                Err(crossbeam_channel::TryRecvError::Disconnected) => {
                    open = false;
                    break;
                }
            }
        }
        let cut = shared.cut.load(Ordering::SeqCst);
        let (mut numbers, mut seqs, mut records) = (Vec::new(), Vec::new(), Vec::new());
        let mut bytes = 0;
        while let Some(item) = queued.front() {
            let size = item.record.key.len() + item.record.value.len();
            if records.len() >= plan.batch_records
                || (!records.is_empty() && bytes + size > plan.batch_bytes)
            {
                break;
            }
            let Some(item) = queued.pop_front() else {
                break;
            };
            if item.number >= cut {
                queued.clear();
                open = false;
                break;
            }
            bytes += size;
            numbers.push(item.number);
            seqs.push(item.seq);
            records.push(item.record);
        }
        if records.is_empty() {
            continue;
        }
        let count = records.len();
        match producer.send(records) {
            Ok(_) => {
                shared.acked.fetch_add(count as u64, Ordering::SeqCst);
            }
            Err(e) => {
                shared.acked.fetch_add(e.sent as u64, Ordering::SeqCst);
                if !failed(e, &numbers, &seqs, count, shared, plan) {
                    return;
                }
            }
        }
    }
}

/// A send that failed: with --keep-going reported and counted, and true to
/// go on; otherwise handed to the run, and false.
fn failed(
    e: SendError,
    numbers: &[u64],
    seqs: &[u64],
    count: usize,
    shared: &Shared,
    plan: &Plan,
) -> bool {
    // Bad arguments or Ctrl-C end the run whatever --keep-going says.
    if plan.keep_going && !matches!(e.error, Error::Usage(_) | Error::Interrupted) {
        shared
            .skipped
            .fetch_add((count - e.sent) as u64, Ordering::SeqCst);
        report_skipped(numbers, e.sent, &e.error);
        return true;
    }
    // The line to blame, or else the first one not acknowledged.
    let at = e.record.or((e.sent < count).then_some(e.sent));
    let blamed = matches!(e.error, Error::Data { .. }) && e.record.is_some();
    shared.fail(Failure {
        number: if blamed { at.map(|i| numbers[i]) } else { None },
        seq: at.map(|i| seqs[i]),
        error: e.error,
    });
    false
}

/// One stderr line for a batch --keep-going leaves behind: its line
/// numbers, how many of them were acknowledged all the same, and why. A
/// sender's batch holds the lines of its partitions only, so between its
/// first and last line there can be lines other senders did send.
pub fn report_skipped(numbers: &[u64], acknowledged: usize, error: &Error) {
    if let Some(line) = skipped_message(numbers, acknowledged, error) {
        eprintln!("{line}");
    }
}

/// The line `report_skipped` prints, which starts "kafkademo: line N not
/// sent" or "kafkademo: lines N to M not sent" (scripts and tests read it).
fn skipped_message(numbers: &[u64], acknowledged: usize, error: &Error) -> Option<String> {
    let lines = match numbers {
        [only] => format!("line {only}"),
        [first, .., last] => format!("lines {first} to {last}"),
        [] => return None,
    };
    // Other senders' lines between them went in other requests.
    let among = match numbers {
        [first, .., last] if (last - first + 1) as usize != numbers.len() => Some(format!(
            "{} of those lines, the others sent apart",
            numbers.len()
        )),
        _ => None,
    };
    let acked =
        (acknowledged > 0).then(|| format!("{acknowledged} of {} acknowledged", numbers.len()));
    let note = match (among, acked) {
        (Some(a), Some(b)) => format!(" ({a}; {b})"),
        (Some(a), None) | (None, Some(a)) => format!(" ({a})"),
        (None, None) => String::new(),
    };
    // The broker's words may quote anything: escaped for the terminal.
    let error = crate::escape::printable(&error.to_string()).into_owned();
    Some(format!(
        "kafkademo: {lines} not sent{note}: {error}; going on (--keep-going)"
    ))
}

pub fn to_record(line: Vec<u8>, separator: Option<&[u8]>, partition: Option<i32>) -> OutRecord {
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

pub fn stdin_error(e: std::io::Error) -> Error {
    Error::Data {
        message: format!("cannot read stdin: {e}"),
        hint: None,
    }
}

/// Drains a reader of what it holds, for tests.
#[cfg(test)]
fn lines_of(input: &[u8], read: usize) -> Vec<(u64, Vec<u8>)> {
    lines_capped(input, read, crate::lines::MAX_LINE_BYTES)
        .into_iter()
        .map(|(n, bytes, too_long)| {
            assert!(!too_long);
            (n, bytes)
        })
        .collect()
}

/// The same with lines longer than `max_line` bytes: (number, bytes, too long).
#[cfg(test)]
fn lines_capped(input: &[u8], read: usize, max_line: usize) -> Vec<(u64, Vec<u8>, bool)> {
    use std::io::Read;
    struct Slow<'a>(&'a [u8], usize);
    impl Read for Slow<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.1.min(buf.len()).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    let (tx, rx) = bounded(1024);
    read_lines(
        std::io::BufReader::with_capacity(8, Slow(input, read)),
        &tx,
        max_line,
    );
    drop(tx);
    rx.iter()
        .flat_map(|c| c.unwrap())
        .map(|l| (l.number, l.bytes, l.too_long))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_split_numbered_and_joined_across_reads() {
        let want: Vec<(u64, Vec<u8>)> = vec![
            (1, b"first".to_vec()),
            (2, b"".to_vec()),
            (3, b"a somewhat longer line".to_vec()),
            (4, b"crlf".to_vec()),
            (5, b"no newline at the end".to_vec()),
        ];
        let input = b"first\n\na somewhat longer line\ncrlf\r\nno newline at the end";
        for read in [1, 3, 7, 100] {
            assert_eq!(lines_of(input, read), want, "reads of {read} bytes");
        }
        assert!(lines_of(b"", 4).is_empty());
        assert_eq!(lines_of(b"\n", 4), vec![(1, Vec::new())]);
    }

    #[test]
    fn a_line_past_the_cap_is_dropped_as_it_comes_and_the_others_stay() {
        let ok = |n: u64, b: &[u8]| (n, b.to_vec(), false);
        let long = |n: u64| (n, Vec::new(), true);
        let input = b"abcd\nabcde\nabcd\r\nabcdefghijkl\nab\nabcdefghijkl";
        for read in [1, 3, 5, 100] {
            assert_eq!(
                lines_capped(input, read, 4),
                vec![
                    ok(1, b"abcd"),
                    long(2),
                    ok(3, b"abcd"),
                    long(4),
                    ok(5, b"ab"),
                    long(6)
                ],
                "reads of {read} bytes"
            );
        }
        let e = too_long();
        assert!(
            e.to_string()
                .starts_with("longer than 64 MiB, the most one stdin line can be here"),
            "{e}"
        );
    }

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

    #[test]
    fn a_skipped_batch_names_its_first_and_last_line() {
        let e = Error::broker("no");
        let line = |numbers: &[u64], acked| skipped_message(numbers, acked, &e).unwrap();
        assert_eq!(
            line(&[7], 0),
            "kafkademo: line 7 not sent: no; going on (--keep-going)"
        );
        assert_eq!(
            line(&[3, 4, 5], 1),
            "kafkademo: lines 3 to 5 not sent (1 of 3 acknowledged): no; going on (--keep-going)"
        );
        // A sender's batch of one partition: other lines lie between.
        assert_eq!(
            line(&[1, 5, 9], 0),
            "kafkademo: lines 1 to 9 not sent (3 of those lines, the others sent apart): no; going on (--keep-going)"
        );
        assert!(skipped_message(&[], 0, &e).is_none());
    }

    #[test]
    fn each_partition_has_one_sender() {
        let plan = Plan {
            partitions: 6,
            partition: None,
            separator: None,
            keep_going: false,
            batch_records: 10,
            batch_bytes: 100,
        };
        assert_eq!(plan.lanes(), 4);
        let mut placer = Placer::new(&plan);
        let mut seen = std::collections::HashMap::new();
        for i in 0..24 {
            let key = if i % 2 == 0 {
                Vec::new()
            } else {
                vec![i as u8]
            };
            let mut r = OutRecord {
                key,
                value: vec![1],
                partition: None,
            };
            let lane = placer.place(&mut r, plan.lanes());
            let p = r.partition.unwrap();
            assert!((0..6).contains(&p));
            assert_eq!(*seen.entry(p).or_insert(lane), lane, "partition {p}");
        }
        let one = Plan {
            partition: Some(3),
            ..plan
        };
        assert_eq!(one.lanes(), 1);
    }
}
