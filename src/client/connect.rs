//! Kafka Connect's REST API (a worker's port, 8083 by default) as typed
//! calls over ureq, so that `kafkademo connect` speaks to Connect the way
//! the rest of this tree speaks to brokers: every call bounded by the
//! timeout, a Ctrl-C honoured within 100 ms whatever the worker does, and
//! every failure one `Error` naming the worker. It never prints.
//!
//! Connect answers 409 while its workers rebalance (a worker joined, left or
//! a connector was added), and 500 with a RebalanceNeededException when one
//! is due but not begun: such calls are retried until the timeout, as
//! kcctl and Connect's own clients do.

use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use crate::client::deadline;
use crate::error::{hints, Error, Result};

/// Answers larger than this are refused: the biggest real one, a plugin
/// list or a status with stack traces, is far smaller.
const MAX_ANSWER: u64 = 16 * 1024 * 1024;
/// How often a waiting call looks at the Ctrl-C flag.
const TICK: Duration = Duration::from_millis(50);
/// First pause before retrying a call refused for a rebalance (doubled up
/// to a second).
const REBALANCE_BACKOFF: Duration = Duration::from_millis(100);

/// A connector or task state as Connect reports it (`RUNNING`, `PAUSED`,
/// `STOPPED`, `FAILED`, `UNASSIGNED`, `RESTARTING`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub state: String,
    /// The worker it runs on, e.g. `127.0.0.1:8083`.
    pub worker: String,
    /// The stack trace of a FAILED one.
    pub trace: Option<String>,
}

#[derive(Debug, Clone)]
pub struct TaskStatus {
    pub id: i64,
    pub status: State,
}

/// `GET /connectors/{name}/status`.
#[derive(Debug, Clone)]
pub struct Status {
    pub name: String,
    /// `source` or `sink` (absent while a connector is starting).
    pub kind: String,
    pub connector: State,
    pub tasks: Vec<TaskStatus>,
}

impl Status {
    pub fn failed_tasks(&self) -> impl Iterator<Item = &TaskStatus> {
        self.tasks.iter().filter(|t| t.status.state == "FAILED")
    }

    fn from_json(v: &Value) -> Status {
        let state = |v: &Value| State {
            state: text(&v["state"]),
            worker: text(&v["worker_id"]),
            trace: v["trace"].as_str().map(str::to_string),
        };
        let mut tasks: Vec<TaskStatus> = v["tasks"]
            .as_array()
            .map(|ts| {
                ts.iter()
                    .map(|t| TaskStatus {
                        id: t["id"].as_i64().unwrap_or(-1),
                        status: state(t),
                    })
                    .collect()
            })
            .unwrap_or_default();
        tasks.sort_by_key(|t| t.id);
        Status {
            name: text(&v["name"]),
            kind: text(&v["type"]),
            connector: state(&v["connector"]),
            tasks,
        }
    }
}

/// A connector as `GET /connectors?expand=status&expand=info` lists it.
#[derive(Debug, Clone)]
pub struct Connector {
    pub name: String,
    pub class: String,
    pub status: Status,
}

/// One field the worker refused, from a config validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub errors: Vec<String>,
}

/// What `PUT /connector-plugins/{class}/config/validate` found.
#[derive(Debug, Clone)]
pub struct Validation {
    /// Settings the worker checked (the plugin's, the worker's common ones).
    pub checked: usize,
    pub errors: Vec<FieldError>,
}

/// The config of a connector as the user gave it: string keys and values.
pub type Config = Map<String, Value>;

/// A Kafka Connect worker's REST API.
#[derive(Clone)]
pub struct Connect {
    url: String,
    agent: ureq::Agent,
    timeout: Duration,
}

impl Connect {
    /// A client for the worker at `url` (`http://host:port`, a path prefix
    /// allowed); each call waits at most `timeout`.
    pub fn new(url: &str, timeout: Duration) -> Result<Connect> {
        let url = url.trim_end_matches('/').to_string();
        match url.split_once("://") {
            Some(("http", rest)) if !rest.is_empty() => {}
            Some(("https", _)) => return Err(Error::Usage(hints::connect_url_https(&url))),
            _ => return Err(Error::Usage(hints::connect_url_bad(&url))),
        }
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(concat!("kafkademo/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        Ok(Connect {
            url,
            agent,
            timeout,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// `GET /connector-plugins`: connectors only, or every plugin
    /// (transforms, converters, predicates) with `all`.
    pub fn plugins(&self, all: bool) -> Result<Vec<Value>> {
        let path = if all {
            "/connector-plugins?connectorsOnly=false"
        } else {
            "/connector-plugins"
        };
        Ok(self
            .call("GET", path, None)?
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// Every connector with its status, in name order.
    pub fn list(&self) -> Result<Vec<Connector>> {
        let v = self.call("GET", "/connectors?expand=status&expand=info", None)?;
        let mut list: Vec<Connector> = v
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(name, c)| {
                        let mut status = Status::from_json(&c["status"]);
                        if status.name.is_empty() {
                            status.name = name.clone();
                        }
                        if status.kind.is_empty() {
                            status.kind = text(&c["info"]["type"]);
                        }
                        Connector {
                            name: name.clone(),
                            class: text(&c["info"]["config"]["connector.class"]),
                            status,
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(list)
    }

    /// `GET /connectors/{name}`: its config, its tasks and its type.
    pub fn info(&self, name: &str) -> Result<Value> {
        self.connector_call("GET", name, "", None)
    }

    pub fn status(&self, name: &str) -> Result<Status> {
        let v = self.connector_call("GET", name, "/status", None)?;
        Ok(Status::from_json(&v))
    }

    /// `GET /connectors/{name}/topics`: the topics it has used (KIP-558);
    /// None on a worker without that endpoint.
    pub fn topics(&self, name: &str) -> Result<Option<Vec<String>>> {
        match self.connector_call("GET", name, "/topics", None) {
            Ok(v) => Ok(Some(
                v[name]["topics"]
                    .as_array()
                    .map(|a| a.iter().map(text).collect())
                    .unwrap_or_default(),
            )),
            Err(Error::Connect {
                status: Some(404), ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `PUT /connector-plugins/{class}/config/validate`.
    pub fn validate(&self, config: &Config) -> Result<Validation> {
        let class = config
            .get("connector.class")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let path = format!("/connector-plugins/{}/config/validate", segment(class));
        let v = self.call("PUT", &path, Some(&Value::Object(config.clone())))?;
        let configs = v["configs"].as_array().cloned().unwrap_or_default();
        let errors = configs
            .iter()
            .filter_map(|c| {
                let errors: Vec<String> = c["value"]["errors"]
                    .as_array()?
                    .iter()
                    .map(text)
                    .filter(|e| !e.is_empty())
                    .collect();
                (!errors.is_empty()).then(|| FieldError {
                    field: text(&c["value"]["name"]),
                    errors,
                })
            })
            .collect();
        Ok(Validation {
            checked: configs.len(),
            errors,
        })
    }

    /// `POST /connectors`; Err with status 409 when the name is taken.
    pub fn create(&self, name: &str, config: &Config) -> Result<Value> {
        let body = serde_json::json!({ "name": name, "config": config });
        self.call("POST", "/connectors", Some(&body))
    }

    /// `PUT /connectors/{name}/pause|resume|stop`.
    pub fn set_state(&self, name: &str, verb: &str) -> Result<()> {
        self.connector_call("PUT", name, &format!("/{verb}"), None)
            .map(drop)
    }

    /// `POST /connectors/{name}/restart?includeTasks=true&onlyFailed=…`
    /// (KIP-745): the leader's plan, the status as it sees it with what
    /// restarts marked RESTARTING (None on an empty answer). Connect
    /// restarts after answering; the plan is built after the request went
    /// out to the workers, so one quick to act may already show through.
    pub fn restart(&self, name: &str, only_failed: bool) -> Result<Option<Status>> {
        let v = self.connector_call(
            "POST",
            name,
            &format!("/restart?includeTasks=true&onlyFailed={only_failed}"),
            None,
        )?;
        Ok((!v.is_null()).then(|| Status::from_json(&v)))
    }

    pub fn delete(&self, name: &str) -> Result<()> {
        self.connector_call("DELETE", name, "", None).map(drop)
    }

    /// `GET /connectors/{name}/offsets` (KIP-875, Kafka 3.6+).
    pub fn offsets(&self, name: &str) -> Result<Value> {
        self.connector_call("GET", name, "/offsets", None)
    }

    /// `DELETE /connectors/{name}/offsets`: the worker's message.
    pub fn reset_offsets(&self, name: &str) -> Result<String> {
        let v = self.connector_call("DELETE", name, "/offsets", None)?;
        Ok(text(&v["message"]))
    }

    fn connector_call(
        &self,
        method: &str,
        name: &str,
        tail: &str,
        body: Option<&Value>,
    ) -> Result<Value> {
        let path = format!("/connectors/{}{tail}", segment(name));
        self.call(method, &path, body)
    }

    /// One call, retried while the workers rebalance, within the timeout.
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        let deadline = Instant::now() + self.timeout;
        let mut backoff = REBALANCE_BACKOFF;
        loop {
            let (status, answer) = self.send(method, path, body)?;
            if (200..300).contains(&status) {
                return Ok(answer);
            }
            let message = answer["message"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| format!("HTTP {status}"));
            let rebalancing = refused_for_rebalance(status, &message);
            if rebalancing && Instant::now() + backoff < deadline {
                log::info!("Kafka Connect at {}: {message}; retrying", self.url);
                sleep_unless_interrupted(backoff)?;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
            return Err(Error::Connect {
                url: self.url.clone(),
                status: Some(status),
                message: format!(
                    "{method} {}: {message}",
                    path.split('?').next().unwrap_or(path)
                ),
                hint: rebalancing.then(hints::connect_rebalancing),
            });
        }
    }

    /// Sends on a thread of its own and waits for it in short steps, so a
    /// Ctrl-C returns within a tick even when the worker never answers
    /// (the thread ends with the process, or at the agent's timeout).
    fn send(&self, method: &str, path: &str, body: Option<&Value>) -> Result<(u16, Value)> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let agent = self.agent.clone();
        let uri = format!("{}{path}", self.url);
        let method = method.to_string();
        let body = body.cloned();
        std::thread::Builder::new()
            .name("connect-http".into())
            .spawn(move || {
                let _ = tx.send(exchange(&agent, &method, &uri, body.as_ref()));
            })
            .map_err(|e| self.fault(&format!("cannot start a thread: {e}")))?;
        // The agent's own timeout ends the call; the grace covers a thread
        // that is slow to report it.
        let until = Instant::now() + self.timeout + Duration::from_secs(1);
        loop {
            if deadline::interrupted() {
                return Err(Error::Interrupted);
            }
            match rx.recv_timeout(TICK) {
                Ok(Ok(answer)) => return Ok(answer),
                Ok(Err(e)) => return Err(self.transport_error(e)),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) if Instant::now() < until => {}
                Err(_) => {
                    return Err(Error::ConnectTimeout {
                        url: self.url.clone(),
                        timeout: self.timeout,
                    })
                }
            }
        }
    }

    fn transport_error(&self, e: ureq::Error) -> Error {
        let unreachable = |reason: &str| Error::ConnectUnreachable {
            url: self.url.clone(),
            reason: reason.to_string(),
        };
        match e {
            ureq::Error::Timeout(_) => Error::ConnectTimeout {
                url: self.url.clone(),
                timeout: self.timeout,
            },
            ureq::Error::HostNotFound => unreachable("host not found"),
            ureq::Error::ConnectionFailed => unreachable("connection failed"),
            ureq::Error::Io(e) => match e.kind() {
                std::io::ErrorKind::ConnectionRefused => unreachable("connection refused"),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
                    Error::ConnectTimeout {
                        url: self.url.clone(),
                        timeout: self.timeout,
                    }
                }
                _ => unreachable(&e.to_string()),
            },
            ureq::Error::BodyExceedsLimit(n) => {
                self.fault(&format!("an answer over {n} bytes, refused"))
            }
            e => self.fault(&e.to_string()),
        }
    }

    fn fault(&self, message: &str) -> Error {
        Error::Connect {
            url: self.url.clone(),
            status: None,
            message: message.to_string(),
            hint: None,
        }
    }
}

/// One HTTP exchange: the status and the answer as JSON (Null when empty;
/// a text answer as a string under "message", as Connect's errors have).
fn exchange(
    agent: &ureq::Agent,
    method: &str,
    uri: &str,
    body: Option<&Value>,
) -> std::result::Result<(u16, Value), ureq::Error> {
    let mut response = match (method, body) {
        ("GET", _) => agent.get(uri).call()?,
        ("DELETE", _) => agent.delete(uri).call()?,
        ("POST", Some(b)) => agent.post(uri).send_json(b)?,
        ("POST", None) => agent.post(uri).send_empty()?,
        (_, Some(b)) => agent.put(uri).send_json(b)?,
        (_, None) => agent.put(uri).send_empty()?,
    };
    let status = response.status().as_u16();
    let text = response
        .body_mut()
        .with_config()
        .limit(MAX_ANSWER)
        .lossy_utf8(true)
        .read_to_string()?;
    let value = if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| {
            let first = text.lines().next().unwrap_or_default();
            serde_json::json!({ "message": first.chars().take(300).collect::<String>() })
        })
    };
    Ok((status, value))
}

fn sleep_unless_interrupted(d: Duration) -> Result<()> {
    let until = Instant::now() + d;
    while Instant::now() < until {
        if deadline::interrupted() {
            return Err(Error::Interrupted);
        }
        std::thread::sleep(TICK.min(until.saturating_duration_since(Instant::now())));
    }
    Ok(())
}

/// A JSON string as text, anything else as its JSON (empty for null).
pub fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        v => v.to_string(),
    }
}

/// A name as one URL path segment (connector names may hold spaces, `/`, …).
fn segment(name: &str) -> String {
    let mut out = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The one line that says why a connector or task failed: the innermost
/// `Caused by:` of its trace (where the real reason is, e.g. a database
/// refusing a password), else the first line, with the exception's
/// package dropped.
pub fn reason(trace: &str) -> String {
    let line = trace
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("Caused by: "))
        .unwrap_or_else(|| trace.lines().next().unwrap_or_default().trim());
    // "org.postgresql.util.PSQLException: FATAL: …" -> "PSQLException: FATAL: …"
    match line.split_once(": ") {
        Some((class, rest)) if !class.contains(' ') => {
            let short = class.rsplit('.').next().unwrap_or(class);
            format!("{short}: {rest}")
        }
        _ if !line.contains(' ') => line.rsplit('.').next().unwrap_or(line).to_string(),
        _ => line.to_string(),
    }
}

/// A worker mid-rebalance answers 409 ("conflicting operation"), or 500
/// when a rebalance it expects has not begun yet (RebalanceNeededException,
/// "Request cannot be completed because a rebalance is expected"): both
/// pass once the workers agree. A 409 for a name taken is final.
fn refused_for_rebalance(status: u16, message: &str) -> bool {
    (status == 409 && !message.contains("already exists"))
        || (status == 500 && message.contains("rebalance is expected"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_answers_of_a_rebalancing_worker_are_retried() {
        assert!(refused_for_rebalance(
            409,
            "Cannot complete request momentarily due to stale configuration (typically caused by a concurrent config change)"
        ));
        assert!(refused_for_rebalance(
            500,
            "Request cannot be completed because a rebalance is expected"
        ));
        assert!(!refused_for_rebalance(409, "Connector c already exists"));
        assert!(!refused_for_rebalance(500, "Failed to start task"));
        assert!(!refused_for_rebalance(404, "Connector c not found"));
    }

    #[test]
    fn the_reason_is_the_innermost_cause_without_its_package() {
        let trace = "org.apache.kafka.connect.errors.ConnectException: Error while starting\n\
            \tat io.debezium.Foo.bar(Foo.java:1)\n\
            Caused by: io.debezium.DebeziumException: Couldn't connect\n\
            \t... 3 more\n\
            Caused by: org.postgresql.util.PSQLException: FATAL: password authentication failed for user \"kafkademo\"\n\
            \tat org.postgresql.Driver.connect(Driver.java:1)";
        assert_eq!(
            reason(trace),
            "PSQLException: FATAL: password authentication failed for user \"kafkademo\""
        );
        assert_eq!(
            reason("java.lang.IllegalStateException: no table\n\tat x.y(z)"),
            "IllegalStateException: no table"
        );
        assert_eq!(
            reason("java.lang.NullPointerException\n\tat x"),
            "NullPointerException"
        );
        assert_eq!(
            reason("Tolerance exceeded in error handler"),
            "Tolerance exceeded in error handler"
        );
    }

    #[test]
    fn names_are_one_path_segment() {
        assert_eq!(segment("cdc-numbers.v1"), "cdc-numbers.v1");
        assert_eq!(segment("a b/c?d"), "a%20b%2Fc%3Fd");
    }

    #[test]
    fn only_http_urls_are_taken() {
        assert!(Connect::new("http://127.0.0.1:8083/", Duration::from_secs(1)).is_ok());
        assert_eq!(
            Connect::new("http://127.0.0.1:8083/", Duration::from_secs(1))
                .unwrap()
                .url(),
            "http://127.0.0.1:8083"
        );
        assert!(matches!(
            Connect::new("https://x:8083", Duration::from_secs(1)),
            Err(Error::Usage(_))
        ));
        assert!(matches!(
            Connect::new("127.0.0.1:8083", Duration::from_secs(1)),
            Err(Error::Usage(_))
        ));
    }

    #[test]
    fn a_status_lists_tasks_in_order_and_keeps_traces() {
        let v = serde_json::json!({
            "name": "c", "type": "source",
            "connector": {"state": "RUNNING", "worker_id": "127.0.0.1:8083"},
            "tasks": [
                {"id": 1, "state": "FAILED", "worker_id": "127.0.0.1:8084", "trace": "x.Y: boom"},
                {"id": 0, "state": "RUNNING", "worker_id": "127.0.0.1:8083"}
            ]
        });
        let s = Status::from_json(&v);
        assert_eq!(s.tasks[0].id, 0);
        assert_eq!(s.failed_tasks().count(), 1);
        assert_eq!(s.tasks[1].status.trace.as_deref(), Some("x.Y: boom"));
        assert_eq!(s.tasks[1].status.worker, "127.0.0.1:8084");
    }
}
