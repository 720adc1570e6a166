//! `kafkademo connect`: Kafka Connect's REST API as a command, the way
//! kcctl manages connectors, with what its users miss most: a failed task
//! is shown even when its connector says RUNNING, a failure's reason comes
//! as one line instead of a stack trace, a refused config as one line per
//! field, and `create`, `pause`, `resume`, `stop` and `restart` wait (up to
//! --timeout) until the worker did what was asked, and say what came of it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cli::{Connect as Args, ConnectCommand, Format};
use crate::client::connect::{reason, text, Config, Connect, State, Status};
use crate::client::deadline;
use crate::error::{Error, Result};
use crate::render::Escaped;

/// How often a wait for a state change asks for the status: often enough to
/// see a task's RESTARTING, which lasts as long as the task takes to start
/// (about 0.7 s for Debezium's PostgreSQL task on an idle machine).
const POLL: Duration = Duration::from_millis(100);

/// How long a restarted connector or task may go on showing exactly the
/// record it had before the restart (while nothing else in its connector's
/// status changes) before that record is taken for the restart's outcome;
/// see `Fresh`. docs/connect.md tells users.
const RESTART_GRACE: Duration = Duration::from_secs(5);

pub fn execute(args: Args, timeout: Duration, verbose: bool) -> Result<()> {
    let connect = Connect::new(&args.connect_url, timeout)?;
    // Names, traces and configs come from the worker: shown escaped.
    let mut out = Escaped(std::io::stdout().lock());
    match args.command {
        ConnectCommand::List { format } => list(&connect, format, &mut out),
        ConnectCommand::Plugins { all, format } => plugins(&connect, all, format, &mut out),
        ConnectCommand::Create { name, config } => {
            create(&connect, name, &config, timeout, &mut out)
        }
        ConnectCommand::Validate { config } => validate(&connect, &config, &mut out),
        ConnectCommand::Describe { name, format } => {
            describe(&connect, &name, format, verbose, &mut out)
        }
        ConnectCommand::Pause { name } => {
            change(&connect, &name, "pause", "PAUSED", timeout, &mut out)
        }
        ConnectCommand::Resume { name } => {
            change(&connect, &name, "resume", "RUNNING", timeout, &mut out)
        }
        ConnectCommand::Stop { name } => {
            change(&connect, &name, "stop", "STOPPED", timeout, &mut out)
        }
        ConnectCommand::Restart { name, failed_only } => {
            restart(&connect, &name, failed_only, timeout, &mut out)
        }
        ConnectCommand::Delete { name } => {
            connect.delete(&name).map_err(|e| not_found(e, &name))?;
            writeln!(out, "deleted connector {name}").map_err(Error::Output)
        }
        ConnectCommand::Offsets {
            name,
            reset,
            format,
        } => offsets(&connect, &name, reset, format, &mut out),
    }
}

fn list(connect: &Connect, format: Format, out: &mut impl Write) -> Result<()> {
    let list = connect.list()?;
    if format == Format::Json {
        let v: serde_json::Map<String, Value> = list
            .iter()
            .map(|c| (c.name.clone(), status_json(&c.status, &c.class)))
            .collect();
        return writeln!(out, "{}", Value::Object(v)).map_err(Error::Output);
    }
    if list.is_empty() {
        return writeln!(out, "no connectors on Kafka Connect at {}", connect.url())
            .map_err(Error::Output);
    }
    let width = list
        .iter()
        .map(|c| c.name.chars().count())
        .max()
        .unwrap_or(0);
    for c in &list {
        writeln!(
            out,
            "{:width$}  {:6}  {}  {}",
            c.name,
            c.status.kind,
            summary(&c.status),
            short_class(&c.class)
        )
        .map_err(Error::Output)?;
        tasks(&c.status, false, out)?;
    }
    Ok(())
}

/// "RUNNING", or "RUNNING, but 1 of 2 tasks FAILED", or "RUNNING, no tasks".
fn summary(s: &Status) -> String {
    let failed = s.failed_tasks().count();
    let mut line = s.connector.state.clone();
    if s.connector.state == "FAILED" {
        if let Some(t) = &s.connector.trace {
            line.push_str(&format!(": {}", reason(t)));
        }
    } else if failed > 0 {
        line.push_str(&format!(
            ", but {failed} of {} task{} FAILED",
            s.tasks.len(),
            if s.tasks.len() == 1 { "" } else { "s" }
        ));
    } else if s.tasks.is_empty() && s.connector.state == "RUNNING" {
        line.push_str(", no tasks yet");
    }
    line
}

/// One line per task: its state, its worker, a failure's reason (and
/// with `trace`, the whole stack trace below it).
fn tasks(s: &Status, trace: bool, out: &mut impl Write) -> Result<()> {
    for t in &s.tasks {
        let mut line = format!(
            "  task {}  {}  on {}",
            t.id, t.status.state, t.status.worker
        );
        if let Some(tr) = &t.status.trace {
            line.push_str(&format!(": {}", reason(tr)));
        }
        writeln!(out, "{line}").map_err(Error::Output)?;
        if let (true, Some(tr)) = (trace, &t.status.trace) {
            for l in tr.lines() {
                writeln!(out, "      {l}").map_err(Error::Output)?;
            }
        }
    }
    Ok(())
}

fn status_json(s: &Status, class: &str) -> Value {
    let state = |st: &crate::client::connect::State| {
        let mut m = serde_json::json!({ "state": st.state, "worker_id": st.worker });
        if let Some(t) = &st.trace {
            m["reason"] = reason(t).into();
            m["trace"] = t.clone().into();
        }
        m
    };
    serde_json::json!({
        "name": s.name,
        "type": s.kind,
        "class": class,
        "connector": state(&s.connector),
        "tasks": s.tasks.iter().map(|t| {
            let mut v = state(&t.status);
            v["id"] = t.id.into();
            v
        }).collect::<Vec<_>>(),
    })
}

fn short_class(class: &str) -> &str {
    class.rsplit('.').next().unwrap_or(class)
}

fn plugins(connect: &Connect, all: bool, format: Format, out: &mut impl Write) -> Result<()> {
    let plugins = connect.plugins(all)?;
    if format == Format::Json {
        return writeln!(out, "{}", Value::Array(plugins)).map_err(Error::Output);
    }
    let width = plugins
        .iter()
        .map(|p| text(&p["class"]).len())
        .max()
        .unwrap_or(0);
    for p in &plugins {
        writeln!(
            out,
            "{:9}  {:width$}  {}",
            text(&p["type"]),
            text(&p["class"]),
            text(&p["version"])
        )
        .map_err(Error::Output)?;
    }
    Ok(())
}

/// Reads a connector config: JSON (a flat object, or Connect's own
/// `{"name": …, "config": {…}}`), read as UTF-8, or Java properties, read
/// as Connect's own tools read them (`java.util.Properties.load`:
/// ISO-8859-1, `\uXXXX` escapes, continued lines). Values become strings,
/// as Connect keeps them.
fn read_config(path: &Path) -> Result<Config> {
    let bad = |why: String| Error::Usage(format!("--config {}: {why}", path.display()));
    let raw = std::fs::read(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
    let mut config = Config::new();
    if raw.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        let text = String::from_utf8(raw).map_err(|_| bad("JSON that is not UTF-8".into()))?;
        let v: Value =
            serde_json::from_str(&text).map_err(|e| bad(format!("not valid JSON: {e}")))?;
        let (outer, inner) = match v.get("config") {
            Some(Value::Object(c)) => (v.get("name").cloned(), c.clone()),
            _ => (None, v.as_object().cloned().unwrap_or_default()),
        };
        for (k, v) in inner {
            let v = match v {
                Value::String(s) => s,
                Value::Null => continue,
                Value::Object(_) | Value::Array(_) => {
                    return Err(bad(format!("'{k}' is not a string, number or boolean")))
                }
                v => v.to_string(),
            };
            config.insert(k, v.into());
        }
        if let (Some(Value::String(name)), false) = (outer, config.contains_key("name")) {
            config.insert("name".into(), name.into());
        }
    } else {
        let props = crate::properties::parse(&crate::properties::latin1(&raw))
            .map_err(|(line, why)| bad(format!("line {line}: {why}")))?;
        for (k, v) in props {
            config.insert(k, v.into());
        }
    }
    if !config.contains_key("connector.class") {
        return Err(bad("it has no connector.class".into()));
    }
    Ok(config)
}

fn create(
    connect: &Connect,
    name: Option<String>,
    path: &Path,
    timeout: Duration,
    out: &mut impl Write,
) -> Result<()> {
    let started = Instant::now();
    let mut config = read_config(path)?;
    let name = match (name, config.get("name").and_then(Value::as_str)) {
        (Some(n), _) => n,
        (None, Some(n)) => n.to_string(),
        (None, None) => {
            return Err(Error::Usage(format!(
                "give the connector a name: `kafkademo connect create NAME --config {}`, or a `name` in the file",
                path.display()
            )))
        }
    };
    if name.trim().is_empty() || name.chars().any(char::is_control) {
        return Err(Error::Usage(format!(
            "'{}' is not a connector name",
            name.escape_debug()
        )));
    }
    config.insert("name".into(), name.clone().into());
    refuse_invalid(connect, &config, path)?;
    // A connector of that name deleted a moment ago may still have a status
    // in this worker's copy of the status topic: not this one's outcome.
    let before = match connect.status(&name) {
        Ok(s) => Some(s),
        Err(Error::Connect {
            status: Some(404), ..
        }) => None,
        Err(e) => return Err(e),
    };
    match connect.create(&name, &config) {
        Ok(_) => {}
        Err(Error::Connect {
            status: Some(409),
            url,
            ..
        }) => {
            return Err(Error::Connect {
                url,
                status: Some(409),
                message: format!("a connector named {name} already exists"),
                hint: Some(format!(
                    "`kafkademo connect delete {name}` first, or pick another name"
                )),
            })
        }
        Err(e) => return Err(e),
    }
    let class = text(&config["connector.class"]);
    writeln!(
        out,
        "created connector {name} ({class}) on {}",
        connect.url()
    )
    .map_err(Error::Output)?;
    // Its tasks start after the call returns: wait to say how that went,
    // so that a connector that fails at once does not pass for a good one.
    let mut fresh = Fresh::new(&name, before.as_ref());
    let left = timeout.saturating_sub(started.elapsed());
    let status = wait_for(connect, &name, left, |s| {
        fresh.see(s);
        records(s).all(|(item, _)| fresh.settled(item))
            && (s.connector.state == "FAILED"
                || s.failed_tasks().count() > 0
                || (s.connector.state == "RUNNING"
                    && !s.tasks.is_empty()
                    && s.tasks.iter().all(|t| t.status.state == "RUNNING")))
    })?;
    report_outcome(connect, &name, &status, "started", |_| Failure::New, out)
}

/// Prints where a connector ended up; a failure is an error (exit 1),
/// worded as `failure` says for the connector (None) or a task.
fn report_outcome(
    connect: &Connect,
    name: &str,
    s: &Status,
    what: &str,
    failure: impl Fn(Item) -> Failure,
    out: &mut impl Write,
) -> Result<()> {
    let failed: Vec<String> = s
        .failed_tasks()
        .map(|t| {
            format!(
                "task {} {}: {}",
                t.id,
                failure(Some(t.id)).words(Some(&t.status.worker)),
                reason(t.status.trace.as_deref().unwrap_or_default())
            )
        })
        .collect();
    if s.connector.state == "FAILED" {
        return Err(Error::Connect {
            url: connect.url().to_string(),
            status: None,
            message: format!(
                "connector {name} {}: {}",
                failure(None).words(None),
                reason(s.connector.trace.as_deref().unwrap_or_default())
            ),
            hint: Some(format!(
                "`kafkademo connect describe {name} -v` shows the trace"
            )),
        });
    }
    if let Some(first) = failed.first() {
        return Err(Error::Connect {
            url: connect.url().to_string(),
            status: None,
            message: format!("connector {name} is {}, but its {first}", s.connector.state),
            hint: Some(format!(
                "`kafkademo connect describe {name} -v` shows the trace; `kafkademo connect restart {name} --failed-only` retries"
            )),
        });
    }
    if s.tasks.is_empty() {
        return writeln!(
            out,
            "{name}: {}, no tasks yet (the worker had not started them within --timeout; \
             `kafkademo connect list` shows them once it does)",
            s.connector.state
        )
        .map_err(Error::Output);
    }
    let running = s
        .tasks
        .iter()
        .filter(|t| t.status.state == "RUNNING")
        .count();
    writeln!(
        out,
        "{name}: {} ({running} of {} task{} {what})",
        s.connector.state,
        s.tasks.len(),
        if s.tasks.len() == 1 { "" } else { "s" }
    )
    .map_err(Error::Output)
}

/// Asks the worker to validate the config; fails with the refused fields
/// (exit 65) when there are any.
fn refuse_invalid(connect: &Connect, config: &Config, path: &Path) -> Result<usize> {
    let v = connect
        .validate(config)
        .map_err(|e| unknown_plugin(e, config))?;
    if v.errors.is_empty() {
        return Ok(v.checked);
    }
    let fields: Vec<String> = v
        .errors
        .iter()
        .flat_map(|f| {
            f.errors
                .iter()
                .map(move |e| format!("{}: {}", f.field, one_line(e)))
        })
        .collect();
    let n = v.errors.len();
    Err(Error::Refused {
        message: format!(
            "Kafka Connect at {} refused {}: {n} setting{} in error",
            connect.url(),
            path.display(),
            if n == 1 { "" } else { "s" }
        ),
        fields,
    })
}

fn unknown_plugin(e: Error, config: &Config) -> Error {
    match e {
        Error::Connect {
            url,
            status: Some(s @ (400 | 404 | 500)),
            message,
            ..
        } if message.contains("plugin") || message.contains("class") => Error::Connect {
            url,
            status: Some(s),
            message: format!(
                "no connector plugin {} on this worker ({message})",
                text(&config["connector.class"])
            ),
            hint: Some("`kafkademo connect plugins` lists the ones it has".into()),
        },
        e => e,
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn validate(connect: &Connect, path: &Path, out: &mut impl Write) -> Result<()> {
    let config = read_config(path)?;
    let checked = refuse_invalid(connect, &config, path)?;
    writeln!(
        out,
        "{}: valid for {} ({checked} settings checked by Kafka Connect at {})",
        path.display(),
        text(&config["connector.class"]),
        connect.url()
    )
    .map_err(Error::Output)
}

fn not_found(e: Error, name: &str) -> Error {
    match e {
        Error::Connect {
            url,
            status: Some(404),
            ..
        } => Error::Connect {
            url,
            status: Some(404),
            message: format!("no connector named {name}"),
            hint: Some("`kafkademo connect list` shows the connectors".into()),
        },
        e => e,
    }
}

/// Secrets are not shown: passwords, keys and JAAS configs (a config
/// provider's `${…}` reference is, since it holds no secret).
fn masked(key: &str, value: &str) -> bool {
    let k = key.to_ascii_lowercase();
    !value.starts_with("${")
        && (k.contains("password")
            || k.contains("secret")
            || k.ends_with("jaas.config")
            || k.ends_with(".key"))
}

fn describe(
    connect: &Connect,
    name: &str,
    format: Format,
    verbose: bool,
    out: &mut impl Write,
) -> Result<()> {
    let info = connect.info(name).map_err(|e| not_found(e, name))?;
    let status = connect.status(name).map_err(|e| not_found(e, name))?;
    let topics = connect.topics(name)?;
    let mut config = info["config"].as_object().cloned().unwrap_or_default();
    config.sort_keys();
    let class = text(&config.get("connector.class").cloned().unwrap_or_default());
    if format == Format::Json {
        let mut shown = config.clone();
        for (k, v) in shown.iter_mut() {
            if masked(k, &text(v)) {
                *v = "********".into();
            }
        }
        let v = serde_json::json!({
            "name": name,
            "config": shown,
            "status": status_json(&status, &class),
            "topics": topics,
        });
        return writeln!(out, "{v}").map_err(Error::Output);
    }
    let w = |out: &mut dyn Write, s: String| writeln!(out, "{s}").map_err(Error::Output);
    w(
        out,
        format!("{name}  {}  {}", status.kind, summary(&status)),
    )?;
    w(out, format!("  class   {class}"))?;
    w(out, format!("  worker  {}", status.connector.worker))?;
    if let Some(topics) = &topics {
        let list = if topics.is_empty() {
            "(none yet)".to_string()
        } else {
            topics.join(", ")
        };
        w(out, format!("  topics  {list}"))?;
    }
    w(out, "tasks".into())?;
    if status.tasks.is_empty() {
        w(out, "  (none)".into())?;
    }
    tasks(&status, verbose, out)?;
    if let (true, Some(tr)) = (verbose, &status.connector.trace) {
        w(out, "connector trace".into())?;
        for l in tr.lines() {
            w(out, format!("      {l}"))?;
        }
    }
    w(out, "config".into())?;
    let width = config.keys().map(String::len).max().unwrap_or(0);
    for (k, v) in &config {
        let v = text(v);
        let v = if masked(k, &v) {
            "********".to_string()
        } else {
            v
        };
        w(out, format!("  {k:width$} = {v}"))?;
    }
    Ok(())
}

/// Polls the status until `done` says so or `within` passes; returns the
/// last status either way.
fn wait_for(
    connect: &Connect,
    name: &str,
    within: Duration,
    mut done: impl FnMut(&Status) -> bool,
) -> Result<Status> {
    let until = Instant::now() + within;
    loop {
        // A connector just created has no status for a moment (the worker
        // writes it to the status topic once the connector starts).
        let s = match connect.status(name) {
            Err(Error::Connect {
                status: Some(404), ..
            }) if Instant::now() + POLL < until => None,
            s => Some(s.map_err(|e| not_found(e, name))?),
        };
        if let Some(s) = s.filter(|s| done(s) || Instant::now() + POLL > until) {
            return Ok(s);
        }
        let next = Instant::now() + POLL;
        while Instant::now() < next {
            if deadline::interrupted() {
                return Err(Error::Interrupted);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A record of a connector's status: the connector's own (None) or a task's.
type Item = Option<i64>;

/// Each record of a status, the connector's first.
fn records(s: &Status) -> impl Iterator<Item = (Item, &State)> {
    std::iter::once((None, &s.connector)).chain(s.tasks.iter().map(|t| (Some(t.id), &t.status)))
}

/// Tells the records a request brought about from those that were there
/// before it.
///
/// Kafka Connect restarts after it has answered (KIP-745): the leader
/// writes the request to the config topic and answers 202 with its plan;
/// the worker running each connector and task then restarts it, writing
/// RESTARTING, then RUNNING or FAILED, to the status topic. Every worker
/// answers `GET …/status` from its own copy of that topic, so for a while
/// after the 202 the status still shows the record from before: the old
/// failure, trace, worker and all. A connector or task therefore counts as
/// restarted once its record differs from every record it had before the
/// request (RESTARTING, UNASSIGNED, RUNNING, or a FAILED with another trace
/// or on another worker). A task that fails again the same way ends with a
/// record equal to the old one, and its RESTARTING may come and go between
/// two polls: a record still equal to the old one is taken for the outcome
/// once nothing in the connector's status has changed for RESTART_GRACE
/// (or --timeout ends the wait first).
///
/// The per-task `POST …/tasks/{id}/restart` answers only once the task's
/// worker has restarted it, but it writes no RESTARTING: a task failing the
/// same way again goes from one FAILED to an identical one, so nothing tells
/// it from the old record, and the task's own start (a database login, for
/// Debezium) lies inside the window where nothing can be told. KIP-745's
/// RESTARTING marks the restart for as long as the start takes.
struct Fresh {
    name: String,
    /// What each record was before the request (the worker's status, and
    /// what the restart plan says the leader saw).
    before: BTreeMap<Item, Vec<State>>,
    /// Records seen to differ from all of theirs before the request.
    moved: BTreeSet<Item>,
    /// What this worker's status showed just before the request.
    pre: BTreeMap<Item, State>,
    /// Records this worker's status has shown different from `pre` since
    /// the request (see `failure`).
    stirred: BTreeSet<Item>,
    /// The status as last seen, and when it last changed.
    last: Vec<(Item, State)>,
    changed: Instant,
    asked: Instant,
}

/// What kafkademo knows of a FAILED record it reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// A failure with nothing earlier to tell it from.
    New,
    /// Seen to restart after a failure, and failed again.
    Again,
    /// Still the failure from before the restart, this long after it was
    /// asked: it failed again the same way, or had not restarted yet.
    Unchanged(Duration),
}

impl Failure {
    /// "FAILED on W", "FAILED again on W", "is still FAILED on W, 5s after
    /// the restart (no new state seen)": what follows a task's or the
    /// connector's name (`worker` None: the connector's).
    fn words(self, worker: Option<&str>) -> String {
        let on = worker.map(|w| format!(" on {w}")).unwrap_or_default();
        match self {
            Failure::New => format!("FAILED{on}"),
            Failure::Again => format!("FAILED again{on}"),
            Failure::Unchanged(d) => format!(
                "is still FAILED{on}, {} after the restart (no new state seen)",
                humantime::format_duration(Duration::from_secs(d.as_secs().max(1)))
            ),
        }
    }
}

impl Fresh {
    /// `before`: the status the worker showed just before the request, if
    /// the connector had one.
    fn new(name: &str, before: Option<&Status>) -> Fresh {
        let last: Vec<(Item, State)> = before
            .map(|s| records(s).map(|(i, st)| (i, st.clone())).collect())
            .unwrap_or_default();
        let mut before = BTreeMap::<Item, Vec<State>>::new();
        for (item, st) in &last {
            before.entry(*item).or_default().push(st.clone());
        }
        Fresh {
            name: name.to_string(),
            before,
            moved: BTreeSet::new(),
            pre: last.iter().cloned().collect(),
            stirred: BTreeSet::new(),
            last,
            changed: Instant::now(),
            asked: Instant::now(),
        }
    }

    /// Another record `item` may still show from before the request.
    fn also_before(&mut self, item: Item, st: State) {
        let old = self.before.entry(item).or_default();
        if !old.contains(&st) {
            old.push(st);
        }
    }

    /// The request was answered: the grace runs from now.
    fn asked(&mut self) {
        self.asked = Instant::now();
        self.changed = self.asked;
    }

    fn see(&mut self, s: &Status) {
        let now: Vec<(Item, State)> = records(s).map(|(i, st)| (i, st.clone())).collect();
        if now != self.last {
            self.changed = Instant::now();
        }
        for (item, st) in &now {
            if self.pre.get(item).is_some_and(|pre| pre != st) {
                self.stirred.insert(*item);
            }
            let old = self.before.get(item).is_some_and(|b| b.contains(st));
            if !old && self.moved.insert(*item) {
                log::info!(
                    "connector {}: {} {} on {} after {:?}",
                    self.name,
                    item.map_or("the connector".to_string(), |id| format!("task {id}")),
                    st.state,
                    st.worker,
                    self.asked.elapsed()
                );
            }
        }
        self.last = now;
    }

    /// Whether `item`'s record can be taken for what came of the request.
    fn settled(&self, item: Item) -> bool {
        self.moved.contains(&item) || self.changed.elapsed() >= RESTART_GRACE
    }

    fn failure(&self, item: Item) -> Failure {
        let before = self
            .before
            .get(&item)
            .map(Vec::as_slice)
            .unwrap_or_default();
        if self.moved.contains(&item) {
            if before.iter().any(|st| st.state == "FAILED") {
                Failure::Again
            } else {
                Failure::New
            }
        } else if before.is_empty() {
            Failure::New
        } else if self.stirred.contains(&item) {
            // This worker showed something else just before the request
            // (it had seen the task start again, say), then this failure,
            // which only the leader's plan had shown: the leader's copy of
            // the statuses was behind, and the failure, the same as one
            // before, came of the restart.
            match self.pre.get(&item) {
                Some(pre) if pre.state == "FAILED" => Failure::Again,
                _ => Failure::New,
            }
        } else {
            Failure::Unchanged(self.asked.elapsed())
        }
    }
}

fn change(
    connect: &Connect,
    name: &str,
    verb: &str,
    target: &str,
    timeout: Duration,
    out: &mut impl Write,
) -> Result<()> {
    let started = Instant::now();
    connect
        .set_state(name, verb)
        .map_err(|e| not_found(e, name))?;
    // The state asked for is itself the sign that the worker acted (a
    // record from before cannot show it, unless the connector was there
    // already and nothing was to change), so these waits need no `Fresh`.
    // A failed task stays FAILED through a pause or a resume (only a
    // restart starts it again): it is waited beside its connector, never on
    // its own, as its old record shows before the worker has acted. A
    // failed connector stays FAILED unless stopped: that ends a pause or a
    // resume at once, as nothing the worker does would change it.
    let s = wait_for(
        connect,
        name,
        timeout.saturating_sub(started.elapsed()),
        |s| {
            if s.connector.state == "FAILED" {
                return target != "STOPPED";
            }
            s.connector.state == target
                && match target {
                    // Stopping a connector removes its tasks.
                    "STOPPED" => s.tasks.is_empty(),
                    // They come back a moment after it resumes.
                    "RUNNING" => {
                        !s.tasks.is_empty()
                            && s.tasks
                                .iter()
                                .all(|t| t.status.state == target || t.status.state == "FAILED")
                    }
                    _ => s
                        .tasks
                        .iter()
                        .all(|t| t.status.state == target || t.status.state == "FAILED"),
                }
        },
    )?;
    if s.connector.state == "FAILED" || (target == "RUNNING" && s.connector.state == target) {
        return report_outcome(connect, name, &s, "running", |_| Failure::New, out);
    }
    if s.connector.state != target {
        return Err(Error::Connect {
            url: connect.url().to_string(),
            status: None,
            message: format!(
                "asked connector {name} to {verb}; it is still {} after {}",
                summary(&s),
                humantime::format_duration(timeout)
            ),
            hint: Some(format!(
                "`kafkademo connect describe {name}` shows where it is"
            )),
        });
    }
    writeln!(out, "{name}: {}", summary(&s)).map_err(Error::Output)
}

fn restart(
    connect: &Connect,
    name: &str,
    failed_only: bool,
    timeout: Duration,
    out: &mut impl Write,
) -> Result<()> {
    let started = Instant::now();
    let before = connect.status(name).map_err(|e| not_found(e, name))?;
    let planned = connect
        .restart(name, failed_only)
        .map_err(|e| not_found(e, name))?;
    let mut fresh = Fresh::new(name, Some(&before));
    fresh.asked();
    // What restarts: what the plan marks RESTARTING, and what the status
    // showed just before (all of it, or what had FAILED with
    // --failed-only). The leader builds its plan after writing the
    // request, and a worker quick to act may have restarted a task by
    // then, which the plan then shows as it came back (RUNNING, say).
    let mut restarting: BTreeSet<Item> = records(&before)
        .filter(|(_, st)| !failed_only || st.state == "FAILED")
        .map(|(item, _)| item)
        .collect();
    // The plan keeps the worker and trace of what it marks; a trace means
    // the leader saw it FAILED (all that --failed-only restarts).
    for (item, st) in planned
        .iter()
        .flat_map(records)
        .filter(|(_, st)| st.state == "RESTARTING")
    {
        restarting.insert(item);
        if failed_only || st.trace.is_some() {
            fresh.also_before(
                item,
                State {
                    state: "FAILED".into(),
                    worker: st.worker.clone(),
                    trace: st.trace.clone(),
                },
            );
        }
    }
    if restarting.is_empty() {
        return writeln!(out, "{name}: nothing failed, nothing restarted").map_err(Error::Output);
    }
    let named: Vec<String> = restarting
        .iter()
        .map(|item| item.map_or("the connector".to_string(), |id| format!("task {id}")))
        .collect();
    writeln!(out, "restarting {} of {name}", named.join(", ")).map_err(Error::Output)?;
    let s = wait_for(
        connect,
        name,
        timeout.saturating_sub(started.elapsed()),
        |s| {
            fresh.see(s);
            let done = |item: Item, st: &State| {
                st.state != "RESTARTING"
                    && st.state != "UNASSIGNED"
                    && (!restarting.contains(&item) || fresh.settled(item))
            };
            // A connector that failed has no tasks to wait for.
            if s.connector.state == "FAILED" && done(None, &s.connector) {
                return true;
            }
            done(None, &s.connector)
                && !s.tasks.is_empty()
                && s.tasks.iter().all(|t| done(Some(t.id), &t.status))
        },
    )?;
    report_outcome(
        connect,
        name,
        &s,
        "running",
        |item| fresh.failure(item),
        out,
    )
}

fn offsets(
    connect: &Connect,
    name: &str,
    reset: bool,
    format: Format,
    out: &mut impl Write,
) -> Result<()> {
    // Is it there? (A 404 from the offsets call itself means a worker
    // older than Kafka 3.6.)
    let status = connect.status(name).map_err(|e| not_found(e, name))?;
    let unsupported = |e: Error| {
        match e {
        Error::Connect {
            url,
            status: Some(404 | 405),
            ..
        } => Error::Connect {
            message: format!("this worker has no offsets API ({url}: it needs Kafka Connect 3.6 or later, KIP-875)"),
            url,
            status: Some(404),
            hint: None,
        },
        e => e,
    }
    };
    if reset {
        // The workers decide by the connector's target state (what `stop`
        // wrote), not by its status: a stopped connector shows UNASSIGNED
        // for a moment whenever the workers rebalance, and its reset is
        // still allowed then. So the request goes out and a refusal is
        // told with the status beside it.
        return match connect.reset_offsets(name) {
            Ok(message) => writeln!(out, "{name}: {message}").map_err(Error::Output),
            Err(Error::Connect {
                status: Some(400),
                message,
                ..
            }) if message.contains("STOPPED") => Err(Error::Connect {
                url: connect.url().to_string(),
                status: None,
                message: format!(
                    "connector {name} is not STOPPED (its status: {}): its offsets can be reset only while it is STOPPED",
                    connect
                        .status(name)
                        .map(|s| s.connector.state)
                        .unwrap_or(status.connector.state)
                ),
                hint: Some(format!(
                    "`kafkademo connect stop {name}`, then `kafkademo connect offsets {name} --reset`, then `kafkademo connect resume {name}`"
                )),
            }),
            Err(e) => Err(unsupported(e)),
        };
    }
    let v = connect.offsets(name).map_err(unsupported)?;
    if format == Format::Json {
        return writeln!(out, "{v}").map_err(Error::Output);
    }
    let list = v["offsets"].as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        return writeln!(out, "{name}: no offsets committed yet").map_err(Error::Output);
    }
    for o in &list {
        writeln!(out, "{}  {}", o["partition"], o["offset"]).map_err(Error::Output)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, text: impl AsRef<[u8]>) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("kd-connect-{}-{name}", std::process::id()));
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn configs_read_from_properties_and_both_json_shapes() {
        let p = file(
            "a.properties",
            "# Kafka's own style\nname=local-file-source\nconnector.class=FileStreamSource\ntasks.max=1\nfile=test.txt\n",
        );
        let c = read_config(&p).unwrap();
        assert_eq!(c["name"], "local-file-source");
        assert_eq!(c["tasks.max"], "1");
        let p = file(
            "b.json",
            r#"{"name":"x","config":{"connector.class":"C","tasks.max":2,"flag":true}}"#,
        );
        let c = read_config(&p).unwrap();
        assert_eq!(c["name"], "x");
        assert_eq!(c["tasks.max"], "2");
        assert_eq!(c["flag"], "true");
        let p = file("c.json", r#"{"connector.class":"C","topic":"t"}"#);
        assert_eq!(read_config(&p).unwrap()["topic"], "t");
        let p = file("d.json", r#"{"topic":"t"}"#);
        assert!(
            matches!(read_config(&p), Err(Error::Usage(m)) if m.contains("no connector.class"))
        );
        let p = file("e.json", r#"{"connector.class":"C""#);
        assert!(matches!(read_config(&p), Err(Error::Usage(m)) if m.contains("not valid JSON")));
    }

    #[test]
    fn properties_configs_read_as_java_reads_them() {
        // A `\u00e9` escape, a raw ISO-8859-1 byte (0xE9, not UTF-8) and a
        // value continued on the next line, its leading blanks dropped.
        let mut text = b"connector.class=FileStreamSource\n\
            topic=caf\\u00e9\n\
            file=/tmp/r\xe9sum\xe9.txt\n\
            transforms=a,\\\n    b\n"
            .to_vec();
        text.extend_from_slice(b"name=\\u00e9t\\u00e9\n");
        let c = read_config(&file("f.properties", text)).unwrap();
        assert_eq!(c["topic"], "caf\u{e9}");
        assert_eq!(c["file"], "/tmp/r\u{e9}sum\u{e9}.txt");
        assert_eq!(c["transforms"], "a,b");
        assert_eq!(c["name"], "\u{e9}t\u{e9}");
        // UTF-8 bytes in a properties file read as Java reads them: two
        // ISO-8859-1 characters, not one.
        let p = file("g.properties", "connector.class=C\ntopic=caf\u{e9}\n");
        assert_eq!(read_config(&p).unwrap()["topic"], "caf\u{c3}\u{a9}");
        // JSON stays UTF-8.
        let p = file(
            "h.json",
            "{\"connector.class\":\"C\",\"topic\":\"caf\u{e9}\"}",
        );
        assert_eq!(read_config(&p).unwrap()["topic"], "caf\u{e9}");
    }

    fn status(task: (&str, &str, Option<&str>)) -> Status {
        let state = |(state, worker, trace): (&str, &str, Option<&str>)| State {
            state: state.into(),
            worker: worker.into(),
            trace: trace.map(str::to_string),
        };
        Status {
            name: "c".into(),
            kind: "sink".into(),
            connector: state(("RUNNING", "w1", None)),
            tasks: vec![crate::client::connect::TaskStatus {
                id: 0,
                status: state(task),
            }],
        }
    }

    #[test]
    fn only_a_record_other_than_the_one_from_before_counts_as_restarted() {
        let old = status(("FAILED", "w1", Some("x.Y: boom")));
        let mut fresh = Fresh::new("c", Some(&old));
        fresh.asked();
        // The worker's copy not caught up yet, or the same failure again.
        fresh.see(&old);
        assert!(!fresh.moved.contains(&Some(0)));
        assert!(matches!(fresh.failure(Some(0)), Failure::Unchanged(_)));
        // A FAILED on another worker is a new record.
        fresh.see(&status(("FAILED", "w2", Some("x.Y: boom"))));
        assert!(fresh.settled(Some(0)));
        assert_eq!(fresh.failure(Some(0)), Failure::Again);
        // RESTARTING, then the old failure: that one is the outcome.
        let mut fresh = Fresh::new("c", Some(&old));
        fresh.see(&status(("RESTARTING", "w1", None)));
        fresh.see(&old);
        assert!(fresh.settled(Some(0)));
        assert_eq!(fresh.failure(Some(0)), Failure::Again);
        // What the plan says the leader saw counts as from before too.
        let mut fresh = Fresh::new("c", Some(&status(("RUNNING", "w1", None))));
        fresh.also_before(Some(0), old.tasks[0].status.clone());
        fresh.see(&old);
        assert!(!fresh.moved.contains(&Some(0)));
        // ...but this worker showed it RUNNING before the request and
        // FAILED since: once the grace is over, a failure, not "still
        // FAILED" (the leader's copy of the statuses was behind).
        assert_eq!(fresh.failure(Some(0)), Failure::New);
        // Unstirred, the same plan record is the old failure unchanged.
        let mut fresh = Fresh::new("c", Some(&old));
        fresh.also_before(Some(0), old.tasks[0].status.clone());
        fresh.see(&old);
        assert!(matches!(fresh.failure(Some(0)), Failure::Unchanged(_)));
        // A connector seen for the first time has nothing to be told from.
        let mut fresh = Fresh::new("c", None);
        fresh.see(&old);
        assert!(fresh.settled(None) && fresh.settled(Some(0)));
        assert_eq!(fresh.failure(Some(0)), Failure::New);
    }

    #[test]
    fn failures_say_what_was_seen_of_the_restart() {
        assert_eq!(Failure::New.words(Some("w:1")), "FAILED on w:1");
        assert_eq!(Failure::Again.words(None), "FAILED again");
        assert_eq!(
            Failure::Unchanged(Duration::from_millis(5300)).words(Some("w:1")),
            "is still FAILED on w:1, 5s after the restart (no new state seen)"
        );
    }

    #[test]
    fn secrets_are_masked_but_provider_references_are_not() {
        assert!(masked("database.password", "pw"));
        assert!(masked("sasl.jaas.config", "x"));
        assert!(!masked("database.password", "${file:/s.properties:pw}"));
        assert!(!masked("database.user", "kafkademo"));
    }
}
