//! `kafkademo chat`: a chat room on a single-partition topic, so every member
//! sees one order. Stdin, the room reader, the presence reader and the sender
//! each run on their own thread and meet in one crossbeam channel; only the
//! main thread writes the screen, one whole line at a time. A watchdog turns
//! a broker that stops answering into an error instead of a hang.
//! Design and timings: docs/chat.md.

use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Write};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{bounded, unbounded, Receiver, RecvTimeoutError, Sender};
use jiff::tz::TimeZone;

use crate::chat::screen::{clock, render, screen_rows};
use crate::chat::{
    self, parse_input, presence_topic, room_topic, ChatRecord, Input, Kind, Presence,
    MAX_HEARTBEAT, MIN_HEARTBEAT, PRESENCE_LOOKBACK,
};
use crate::cli::Chat;
use crate::client::admin::{self, NewTopic};
use crate::client::cluster::{BrokerConfig, Cluster};
use crate::client::fetch::{Reader, StartAt};
use crate::client::list_offsets::{epoch_millis, offset_for_time};
use crate::client::produce::{Acks, OutRecord, Producer};
use crate::client::retry::RETRY_FOR;
use crate::error::{Error, Result};
use crate::lines::{Capped, MAX_LINE_BYTES};
use crate::render::{escape, Consumed};
use crate::signal::interrupted;

/// Longest the main loop sleeps: how late Ctrl-C and dropouts are noticed.
const TICK: Duration = Duration::from_millis(50);
/// A reader's poll returns at least every 250 ms (the fetch wait); a silence
/// this much longer than `--timeout` means the broker stopped answering.
const READ_SLACK: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Room,
    Presence,
}

enum Event {
    Line(String),
    /// A line past `MAX_LINE_BYTES`, dropped as it came: not sent.
    LineTooLong,
    StdinEnd,
    StdinFailed(std::io::Error),
    Records {
        source: Source,
        records: Vec<Consumed>,
        /// The reader was at the end before this poll: these just arrived.
        live: bool,
    },
    ReadFailed(Error),
    Sent {
        id: u64,
        result: Result<()>,
    },
}

struct Outgoing {
    id: u64,
    to: Source,
    record: OutRecord,
}

pub fn execute(brokers: &BrokerConfig, args: Chat) -> Result<()> {
    chat::validate_user(&args.user)?;
    chat::validate_room(&args.room)?;
    if !(MIN_HEARTBEAT..=MAX_HEARTBEAT).contains(&args.heartbeat) {
        return Err(Error::Usage(format!(
            "--heartbeat {} is out of range: use 100ms to 20s",
            humantime::format_duration(args.heartbeat)
        )));
    }
    let room = room_topic(&args.room);
    let presence = presence_topic(&args.room);
    let mut cluster = Cluster::connect(brokers)?;
    ensure_topic(&mut cluster, &room, &[])?;
    // The broker stamps presence records on arrival, so a joining member can
    // read "the last minute" by time; an hour of them is kept.
    let presence_configs = [
        ("message.timestamp.type", "LogAppendTime"),
        ("retention.ms", "3600000"),
        ("segment.ms", "600000"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()));
    ensure_topic(&mut cluster, &presence, &presence_configs)?;

    let room_reader = history_reader(&cluster, &room, args.history)?;
    let presence_reader = presence_reader(&mut cluster, &presence)?;
    // acks=all: a message shown as sent survives the loss of the leader
    // that took it (the rooms are replicated where the cluster allows).
    let room_producer = Producer::new(&mut cluster, &room, Acks::All)?;
    let presence_producer = Producer::new(&mut cluster, &presence, Acks::Leader)?;

    let (tx, events) = bounded(1024);
    let outgoing = spawn_sender(room_producer, presence_producer, tx.clone())?;
    spawn_reader(room_reader, Source::Room, tx.clone())?;
    spawn_reader(presence_reader, Source::Presence, tx.clone())?;
    let interactive = std::io::stdin().is_terminal();
    spawn_stdin(tx, interactive && std::io::stdout().is_terminal())?;

    let now = Instant::now();
    let mut session = Session {
        user: args.user,
        room: args.room,
        session: session_id(),
        heartbeat: args.heartbeat,
        timeout: brokers.timeout,
        brokers: brokers.display(),
        tz: TimeZone::system(),
        events,
        outgoing,
        next_id: 0,
        pending: BTreeMap::new(),
        last_heard: [now, now],
        presence: Presence::default(),
        presence_ready: false,
        waiting_who: 0,
        own_leave_shown: false,
        interactive,
    };
    session.run()
}

/// Makes sure the topic exists with exactly one partition (one order for all).
fn ensure_topic(cluster: &mut Cluster, topic: &str, configs: &[(String, String)]) -> Result<()> {
    let info = match admin::describe_topic(cluster, topic) {
        Ok(info) => info,
        Err(Error::UnknownTopic { .. }) => {
            // Replicated as far as the cluster allows (up to 3), so the room
            // outlives the loss of a broker.
            let brokers = cluster.bootstrap().metadata(Some(&[]))?.brokers.len();
            // Another member may create it at the same moment: both are fine.
            admin::create_topic(
                cluster,
                &NewTopic {
                    name: topic,
                    partitions: 1,
                    replication_factor: brokers.clamp(1, 3) as i16,
                    configs,
                },
            )?;
            admin::describe_topic(cluster, topic)?
        }
        Err(e) => return Err(e),
    };
    if info.partitions.len() != 1 {
        return Err(Error::broker_with_hint(
            format!(
                "topic '{topic}' has {} partitions; a chat room needs exactly 1, so that everyone sees one order",
                info.partitions.len()
            ),
            format!("pick another --room, or delete it: `kafkademo topic delete {topic}`"),
        ));
    }
    Ok(())
}

/// A reader of the room that starts `history` records before the end.
fn history_reader(cluster: &Cluster, topic: &str, history: u32) -> Result<Reader> {
    let mut reader = Reader::new(cluster, topic, &[], &HashMap::new(), StartAt::Earliest)?;
    let end = reader
        .offsets(StartAt::Latest)?
        .get(&0)
        .copied()
        .unwrap_or(0);
    let first = reader
        .offsets(StartAt::Earliest)?
        .get(&0)
        .copied()
        .unwrap_or(0);
    let from = end.saturating_sub(history as i64).max(first);
    reader.assign(&[0], &HashMap::from([(0, from)]))?;
    Ok(reader)
}

/// A reader of the presence topic that starts PRESENCE_LOOKBACK ago, found by
/// time, so the heartbeats of everyone present are read however many there are.
fn presence_reader(cluster: &mut Cluster, topic: &str) -> Result<Reader> {
    let since = SystemTime::now()
        .checked_sub(PRESENCE_LOOKBACK)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let from = offset_for_time(cluster, topic, 0, since)?;
    let mut reader = Reader::new(cluster, topic, &[], &HashMap::new(), StartAt::Latest)?;
    let from = match from {
        Some(offset) => offset,
        None => reader
            .offsets(StartAt::Latest)?
            .get(&0)
            .copied()
            .unwrap_or(0),
    };
    log::debug!(
        "reading topic '{topic}' from offset {from}, the first of the last {PRESENCE_LOOKBACK:?}"
    );
    reader.assign(&[0], &HashMap::from([(0, from)]))?;
    Ok(reader)
}

/// Unique per process run: a user may be in the room twice.
fn session_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{}-{:x}", std::process::id(), nanos)
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<()> {
    thread::Builder::new()
        .name(name.to_string())
        .spawn(f)
        .map(|_| ())
        .map_err(|e| Error::broker(format!("cannot start the chat's {name} thread: {e}")))
}

/// Polls one topic for ever; every poll, even an empty one, is an event, so
/// the main thread knows the reader is alive.
fn spawn_reader(mut reader: Reader, source: Source, tx: Sender<Event>) -> Result<()> {
    let name = match source {
        Source::Room => "room reader",
        Source::Presence => "presence reader",
    };
    spawn(name, move || loop {
        let live = reader.at_end();
        let event = match reader.poll() {
            Ok(records) => Event::Records {
                source,
                records,
                live,
            },
            Err(e) => {
                let _ = tx.send(Event::ReadFailed(e));
                return;
            }
        };
        if tx.send(event).is_err() {
            return;
        }
    })
}

/// Sends records in the order they were queued, one at a time, and reports
/// each outcome. Off the main thread: the `kafka` crate may wait 120 s on a
/// silent broker, and the screen must not freeze meanwhile.
fn spawn_sender(
    mut room: Producer,
    mut presence: Producer,
    tx: Sender<Event>,
) -> Result<Sender<Outgoing>> {
    let (out_tx, out_rx) = unbounded::<Outgoing>();
    spawn("sender", move || {
        for Outgoing { id, to, record } in out_rx {
            let producer = match to {
                Source::Room => &mut room,
                Source::Presence => &mut presence,
            };
            let result = producer.send(vec![record]).map(|_| ()).map_err(|e| e.error);
            if tx.send(Event::Sent { id, result }).is_err() {
                return;
            }
        }
    })?;
    Ok(out_tx)
}

/// Reads stdin lines. In a terminal, the line just typed is wiped from the
/// screen, so the message shows once: as it comes back from the room.
fn spawn_stdin(tx: Sender<Event>, erase_echo: bool) -> Result<()> {
    spawn("stdin", move || {
        let mut stdin = std::io::stdin().lock();
        loop {
            let event = match crate::lines::read_capped(&mut stdin, MAX_LINE_BYTES) {
                Ok(Capped::End) => Event::StdinEnd,
                Ok(Capped::Line(bytes)) => {
                    let line = String::from_utf8_lossy(&bytes).into_owned();
                    if erase_echo && matches!(parse_input(&line), Input::Message(_)) {
                        erase_typed_line(&line);
                    }
                    Event::Line(line)
                }
                Ok(Capped::TooLong) => Event::LineTooLong,
                Err(e) => Event::StdinFailed(e),
            };
            let last = !matches!(event, Event::Line(_) | Event::LineTooLong);
            if tx.send(event).is_err() || last {
                return;
            }
        }
    })
}

/// Moves up over the rows the terminal's echo of `line` took and clears them.
fn erase_typed_line(line: &str) {
    let cols = terminal_size::terminal_size_of(std::io::stdout())
        .map(|(w, _)| w.0 as usize)
        .filter(|&w| w > 0)
        .unwrap_or(80);
    let rows = screen_rows(line, cols);
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "\x1b[{rows}A\r\x1b[J");
    let _ = out.flush();
}

/// Why the main loop ended without an error.
#[derive(Debug, PartialEq, Eq)]
enum Ending {
    Quit,
    Interrupted,
}

struct Session {
    user: String,
    room: String,
    session: String,
    heartbeat: Duration,
    timeout: Duration,
    brokers: String,
    tz: TimeZone,
    events: Receiver<Event>,
    outgoing: Sender<Outgoing>,
    next_id: u64,
    /// Records handed to the sender and not yet acknowledged.
    pending: BTreeMap<u64, (Instant, Kind)>,
    /// When each reader (room, presence) last reported.
    last_heard: [Instant; 2],
    presence: Presence,
    /// The presence reader has read up to the end once: /who can answer.
    presence_ready: bool,
    waiting_who: usize,
    own_leave_shown: bool,
    interactive: bool,
}

impl Session {
    fn run(&mut self) -> Result<()> {
        let ending = self.join().and_then(|()| self.chat());
        match ending {
            Ok(ending) => {
                self.leave()?;
                match ending {
                    Ending::Quit => Ok(()),
                    Ending::Interrupted => Err(Error::Interrupted),
                }
            }
            // Our own side failed (screen or keyboard); the broker is fine: say goodbye.
            Err(e @ (Error::Output(_) | Error::Data { .. })) => {
                let _ = self.leave();
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    fn join(&mut self) -> Result<()> {
        if self.interactive {
            let mut banner = format!("* room {} as ", self.room);
            escape(self.user.as_bytes(), &mut banner);
            banner.push_str(": /who lists who is here, /quit or Ctrl-D leaves");
            self.show(&banner)?;
        }
        let join = self.record(Kind::Join, "");
        self.presence.observe(&join, join.sent_at_ms);
        self.send(Source::Presence, join.clone())?;
        self.send(Source::Room, join)
    }

    fn chat(&mut self) -> Result<Ending> {
        let mut next_beat = Instant::now() + self.heartbeat;
        loop {
            if interrupted() {
                if self.interactive {
                    // Past the `^C` the terminal echoed on the typing line.
                    self.show("")?;
                }
                return Ok(Ending::Interrupted);
            }
            let now = Instant::now();
            if now >= next_beat {
                let beat = self.record(Kind::Heartbeat, "");
                self.send(Source::Presence, beat)?;
                next_beat = now + self.heartbeat;
            }
            self.show_dropouts()?;
            let wait = TICK.min(next_beat.saturating_duration_since(now));
            match self.events.recv_timeout(wait) {
                Ok(Event::Line(line)) => match parse_input(&line) {
                    Input::Message(text) => {
                        let message = self.record(Kind::Message, text);
                        self.send(Source::Room, message)?;
                    }
                    Input::Who => {
                        self.waiting_who += 1;
                        self.answer_who()?;
                    }
                    Input::Quit => return Ok(Ending::Quit),
                    Input::Help => self.show(
                        "* type a line to send it; /who lists who is here; /quit or Ctrl-D leaves; //text sends /text",
                    )?,
                    Input::Unknown(cmd) => {
                        let mut line = String::from("* unknown command ");
                        escape(cmd.as_bytes(), &mut line);
                        line.push_str("; try /who, /quit or /help");
                        self.show(&line)?;
                    }
                    Input::Nothing => {}
                },
                Ok(Event::LineTooLong) => Error::report(&Error::Data {
                    message: format!(
                        "message not sent: longer than {} MiB, the most one stdin line can be here",
                        MAX_LINE_BYTES >> 20
                    ),
                    hint: Some("send a shorter message; the chat goes on".into()),
                }),
                Ok(Event::StdinEnd) => return Ok(Ending::Quit),
                Ok(Event::StdinFailed(e)) => {
                    return Err(Error::Data {
                        message: format!("cannot read stdin: {e}"),
                        hint: None,
                    })
                }
                Ok(event) => self.handle(event)?,
                Err(RecvTimeoutError::Timeout) => self.check_alive()?,
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(Error::broker("the chat's reader and sender threads ended"))
                }
            }
        }
    }

    /// Sends the leave notice (presence and room), then waits within the
    /// timeout for it to be acknowledged and shown back, so a piped session's
    /// transcript ends with its own leave.
    fn leave(&mut self) -> Result<()> {
        let leave = self.record(Kind::Leave, "");
        self.send(Source::Presence, leave.clone())?;
        self.send(Source::Room, leave)?;
        let deadline = Instant::now() + self.timeout;
        while !(self.pending.is_empty() && self.own_leave_shown) {
            if Instant::now() >= deadline {
                if self.pending.is_empty() {
                    log::info!("our leave notice was sent but has not come back yet");
                    return Ok(());
                }
                return Err(self.silent_broker());
            }
            match self.events.recv_timeout(TICK) {
                Ok(event @ (Event::Records { .. } | Event::Sent { .. } | Event::ReadFailed(_))) => {
                    self.handle(event)?
                }
                Ok(_) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            }
        }
        Ok(())
    }

    /// Records read and sends acknowledged.
    fn handle(&mut self, event: Event) -> Result<()> {
        match event {
            Event::Records {
                source,
                records,
                live,
            } => {
                self.last_heard[source as usize] = Instant::now();
                for r in &records {
                    self.take_in(source, r, live)?;
                }
                if source == Source::Presence && live && !self.presence_ready {
                    self.presence_ready = true;
                    self.answer_who()?;
                }
                Ok(())
            }
            Event::ReadFailed(Error::Unreachable { addr, reason }) => Err(Error::Unreachable {
                addr,
                reason: format!("lost the connection during the chat ({reason})"),
            }),
            Event::ReadFailed(e) => Err(e),
            Event::Sent { id, result } => {
                let kind = self.pending.remove(&id).map(|(_, kind)| kind);
                match result {
                    Ok(()) => Ok(()),
                    // A message the broker refuses (too large) is reported; the chat goes on.
                    Err(Error::Data { message, .. }) if kind == Some(Kind::Message) => {
                        Error::report(&Error::Data {
                            message: format!("message not sent: {message}"),
                            hint: Some("send a shorter message; the chat goes on".into()),
                        });
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
            Event::Line(_) | Event::LineTooLong | Event::StdinEnd | Event::StdinFailed(_) => Ok(()),
        }
    }

    fn take_in(&mut self, source: Source, r: &Consumed, live: bool) -> Result<()> {
        if source == Source::Room {
            if let Some(line) = render(r.offset, &r.value, &self.tz) {
                self.show(&line)?;
            }
        }
        let Ok(record) = ChatRecord::decode(&r.value) else {
            if source == Source::Presence {
                log::debug!("malformed presence record at offset {}", r.offset);
            }
            return Ok(());
        };
        let now = epoch_millis(SystemTime::now());
        // Live records count from their arrival, which no clock skew can
        // move; older ones from when they were sent.
        let seen = if live {
            now
        } else {
            record.sent_at_ms.min(now)
        };
        self.presence.observe(&record, seen);
        if source == Source::Room
            && record.kind == Kind::Leave
            && record.session.as_deref() == Some(self.session.as_str())
        {
            self.own_leave_shown = true;
        }
        Ok(())
    }

    fn answer_who(&mut self) -> Result<()> {
        if !self.presence_ready {
            return Ok(());
        }
        while self.waiting_who > 0 {
            self.waiting_who -= 1;
            let users = self.presence.present(epoch_millis(SystemTime::now()));
            let mut line = format!("* here ({}): ", users.len());
            for (i, user) in users.iter().enumerate() {
                if i > 0 {
                    line.push_str(", ");
                }
                escape(user.as_bytes(), &mut line);
            }
            self.show(&line)?;
        }
        Ok(())
    }

    fn show_dropouts(&mut self) -> Result<()> {
        if !self.presence_ready {
            return Ok(());
        }
        let now = epoch_millis(SystemTime::now());
        for d in self.presence.dropouts(now) {
            let mut line = format!("[{}] * ", clock(now, &self.tz));
            escape(d.user.as_bytes(), &mut line);
            line.push_str(&format!(
                " dropped out (no heartbeat for {:.1}s)",
                d.silent_for.as_secs_f64()
            ));
            self.show(&line)?;
        }
        Ok(())
    }

    /// Called when no event is waiting: a reader that has not reported, or
    /// a send not acknowledged, for longer than the client's retries last
    /// means the cluster is gone. (Readers and senders ride out a lost or
    /// frozen broker themselves, within RETRY_FOR, each request within
    /// `--timeout`; this is the backstop.)
    fn check_alive(&self) -> Result<()> {
        let bound = RETRY_FOR + self.timeout + READ_SLACK;
        let reader_silent = self.last_heard.iter().any(|t| t.elapsed() > bound);
        let send_stuck = self
            .pending
            .values()
            .any(|(since, _)| since.elapsed() > bound);
        if reader_silent || send_stuck {
            return Err(self.silent_broker());
        }
        Ok(())
    }

    fn silent_broker(&self) -> Error {
        Error::Timeout {
            addr: self.brokers.clone(),
            timeout: self.timeout,
        }
    }

    fn record(&self, kind: Kind, text: &str) -> ChatRecord {
        ChatRecord {
            kind,
            user: self.user.clone(),
            text: text.to_string(),
            sent_at_ms: epoch_millis(SystemTime::now()),
            session: Some(self.session.clone()),
            heartbeat_ms: Some(self.heartbeat.as_millis() as u64),
        }
    }

    fn send(&mut self, to: Source, record: ChatRecord) -> Result<()> {
        self.next_id += 1;
        let id = self.next_id;
        let out = Outgoing {
            id,
            to,
            record: OutRecord {
                key: record.user.clone().into_bytes(),
                value: record.encode(),
                partition: Some(0),
            },
        };
        self.outgoing
            .send(out)
            .map_err(|_| Error::broker("the chat's sender thread ended"))?;
        self.pending.insert(id, (Instant::now(), record.kind));
        Ok(())
    }

    /// One whole line on stdout, so lines never interleave.
    fn show(&self, line: &str) -> Result<()> {
        let mut out = std::io::stdout().lock();
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        out.write_all(&bytes)
            .and_then(|()| out.flush())
            .map_err(Error::Output)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropout_bound_is_three_heartbeats() {
        use chat::MISSED_HEARTBEATS;
        assert_eq!(MISSED_HEARTBEATS, 3);
        assert_eq!(
            chat::DEFAULT_HEARTBEAT * MISSED_HEARTBEATS,
            Duration::from_secs(6)
        );
        assert!(PRESENCE_LOOKBACK >= MAX_HEARTBEAT * MISSED_HEARTBEATS);
    }

    #[test]
    fn session_ids_differ() {
        let a = session_id();
        std::thread::sleep(Duration::from_millis(1));
        assert_ne!(a, session_id());
        assert!(a.starts_with(&format!("{}-", std::process::id())));
    }
}
