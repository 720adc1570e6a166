//! One error type for the whole tool, so every failure a user can meet ends as
//! one line on stderr, an optional hint, and a documented exit code
//! (docs/exit-codes.md is the table; `ExitCode` below is its source).

use std::time::Duration;

/// The exit codes kafkademo promises. Keep docs/exit-codes.md in step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    Success = 0,
    /// A runtime failure the broker reported or the tool met (topic exists, …).
    Failure = 1,
    /// Bad arguments: unknown flag, bad duration, invalid topic name, ….
    Usage = 2,
    /// Bad data: a record the broker cannot take (too large, …).
    DataError = 65,
    /// No broker answered within the timeout.
    Unavailable = 69,
    /// Writing our own output failed (not a closed pipe, which exits 0).
    IoError = 74,
    /// The broker refuses the request versions kafkademo sends (EX_PROTOCOL):
    /// Kafka 4.x and the `kafka` crate's Produce/Fetch/ListOffsets v0.
    Protocol = 76,
    /// Not allowed (EX_NOPERM): authentication failed, a TLS certificate
    /// was not trusted, or an ACL denies the operation.
    NotAllowed = 77,
    /// The client configuration is wrong (EX_CONFIG): --command-config, -X,
    /// or a security.protocol that does not match the listener.
    Config = 78,
    /// Stopped by Ctrl-C (SIGINT) after a clean shutdown.
    Interrupted = 130,
}

impl ExitCode {
    pub fn code(self) -> i32 {
        self as i32
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot reach Kafka at {addr}: {reason}")]
    Unreachable { addr: String, reason: String },

    #[error("Kafka at {addr} did not answer within {}", humantime::format_duration(*.timeout))]
    Timeout { addr: String, timeout: Duration },

    #[error("Kafka at {addr} broke the connection: {reason}")]
    Protocol { addr: String, reason: String },

    #[error("Kafka at {addr} does not support {what}")]
    Unsupported { addr: String, what: String },

    /// The broker no longer accepts a request version we send (Kafka 4.0
    /// removed the old ones the `kafka` crate speaks): see client::versions.
    #[error(
        "Kafka at {addr} no longer accepts {api} v{sent}, which {} sends ({})",
        if *.data_path { "kafkademo's data path" } else { "kafkademo" },
        accepts_text(.api, *.accepts, *.kafka4)
    )]
    VersionRefused {
        addr: String,
        api: String,
        sent: i16,
        /// The (min, max) versions the broker lists, if it lists the API.
        accepts: Option<(i16, i16)>,
        /// The broker's table shows Kafka 4.0 or later.
        kafka4: bool,
        /// Sent by the `kafka` crate (produce, consume) rather than our own connection.
        data_path: bool,
    },

    /// `--protocol` forced a data path this broker cannot serve.
    #[error("Kafka at {addr} cannot serve the {path} data path: {why}")]
    PathUnavailable {
        addr: String,
        path: &'static str,
        why: String,
    },

    #[error("{0}")]
    Usage(String),

    #[error("topic '{topic}' does not exist (brokers {brokers})")]
    UnknownTopic { topic: String, brokers: String },

    #[error("{message}")]
    Broker {
        message: String,
        hint: Option<String>,
    },

    #[error("{message}")]
    Group {
        code: i16,
        message: String,
        hint: Option<String>,
    },

    #[error("{message}")]
    Data {
        message: String,
        hint: Option<String>,
    },

    /// A transactional producer was fenced: another producer took its
    /// transactional id, or the coordinator aborted its transaction.
    #[error("{message}")]
    Fenced {
        message: String,
        hint: Option<String>,
    },

    /// The web server could not start (port in use, no permission, …).
    #[error("{message}")]
    Serve {
        message: String,
        hint: Option<String>,
    },

    /// The client configuration is wrong or does not fit the listener.
    #[error("{message}")]
    Config {
        message: String,
        hint: Option<String>,
    },

    /// Authentication failed, or a certificate was not trusted.
    #[error("{message}")]
    Denied {
        message: String,
        hint: Option<String>,
    },

    /// An ACL denies the operation. `user` is filled in by the command
    /// layer, which knows the configured credentials.
    #[error(
        "{} is not authorized to {operation} {resource}",
        .user.as_deref().map(|u| format!("user {u}")).unwrap_or_else(|| "kafkademo".into())
    )]
    NotAuthorized {
        user: Option<String>,
        /// What we tried, e.g. "write", "read", "join", "create".
        operation: String,
        /// The ACL operation it needs, e.g. "Write", "Read", "Describe".
        acl: &'static str,
        /// e.g. "topic secure.b", "group gb", "the cluster".
        resource: String,
    },

    /// No Kafka Connect worker answers at the URL.
    #[error("cannot reach Kafka Connect at {url}: {reason}")]
    ConnectUnreachable { url: String, reason: String },

    #[error("Kafka Connect at {url} did not answer within {}", humantime::format_duration(*.timeout))]
    ConnectTimeout { url: String, timeout: Duration },

    /// The worker answered with an error (no such connector, a rebalance
    /// that outlasted the timeout, a failed connector, …).
    #[error("Kafka Connect at {url}: {message}")]
    Connect {
        url: String,
        /// The HTTP status, when the worker answered.
        status: Option<u16>,
        message: String,
        hint: Option<String>,
    },

    /// A config the worker refused: what was refused, then one line per
    /// setting in error ("field: reason"), each shown under the error line.
    #[error("{message}")]
    Refused {
        message: String,
        fields: Vec<String>,
    },

    #[error("cannot write output: {0}")]
    Output(std::io::Error),

    #[error("interrupted")]
    Interrupted,
}

/// "it accepts Fetch v4 to v17: Kafka 4.0 or later", for `Error::VersionRefused`.
fn accepts_text(api: &str, accepts: Option<(i16, i16)>, kafka4: bool) -> String {
    let since = if kafka4 { ": Kafka 4.0 or later" } else { "" };
    match accepts {
        Some((min, max)) if min == max => format!("it accepts only {api} v{min}{since}"),
        Some((min, max)) => format!("it accepts {api} v{min} to v{max}{since}"),
        None => format!("it does not list {api} at all{since}"),
    }
}

impl Error {
    pub fn broker(message: impl Into<String>) -> Self {
        Error::Broker {
            message: message.into(),
            hint: None,
        }
    }

    pub fn broker_with_hint(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::Broker {
            message: message.into(),
            hint: Some(hint.into()),
        }
    }

    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Unreachable { .. }
            | Error::Timeout { .. }
            | Error::ConnectUnreachable { .. }
            | Error::ConnectTimeout { .. } => ExitCode::Unavailable,
            Error::Connect { .. } => ExitCode::Failure,
            Error::Protocol { .. }
            | Error::Unsupported { .. }
            | Error::Broker { .. }
            | Error::Group { .. }
            | Error::Fenced { .. } => ExitCode::Failure,
            Error::UnknownTopic { .. } | Error::Serve { .. } => ExitCode::Failure,
            Error::Usage(_) => ExitCode::Usage,
            Error::Data { .. } | Error::Refused { .. } => ExitCode::DataError,
            Error::Output(_) => ExitCode::IoError,
            Error::VersionRefused { .. } | Error::PathUnavailable { .. } => ExitCode::Protocol,
            Error::Denied { .. } | Error::NotAuthorized { .. } => ExitCode::NotAllowed,
            Error::Config { .. } => ExitCode::Config,
            Error::Interrupted => ExitCode::Interrupted,
        }
    }

    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Unreachable { .. } | Error::Timeout { .. } => Some(
                "is Kafka running? start it with `make kafka-up`, or point --brokers / KAFKA_BROKERS at it"
                    .into(),
            ),
            Error::ConnectUnreachable { .. } | Error::ConnectTimeout { .. } => Some(
                "is a Connect worker running? start one with `make connect-up`, or point \
                 --connect-url / KAFKADEMO_CONNECT_URL at it"
                    .into(),
            ),
            Error::Connect { hint, .. } => hint.clone(),
            Error::Unsupported { .. } => {
                Some("kafkademo needs Apache Kafka 0.11 to 3.9; 4.x dropped the protocol versions it speaks".into())
            }
            Error::VersionRefused {
                data_path: true, ..
            } => Some(
                "the classic data path (the kafka crate) speaks only the request versions \
                 Kafka 0.11 to 3.9 accept; leave --protocol at auto to use the modern one"
                    .into(),
            ),
            Error::PathUnavailable { .. } => {
                Some("leave --protocol at auto to let kafkademo pick the path the broker speaks".into())
            }
            Error::UnknownTopic { topic, .. } => {
                Some(format!("create it with `kafkademo topic create {topic}`"))
            }
            Error::NotAuthorized { user, acl, resource, .. } => Some(format!(
                "an admin can allow it: kafka-acls --add --allow-principal User:{} --operation {acl} --{}",
                user.as_deref().unwrap_or("NAME"),
                acl_resource(resource)
            )),
            Error::Broker { hint, .. } | Error::Data { hint, .. } | Error::Group { hint, .. } | Error::Fenced { hint, .. }
            | Error::Serve { hint, .. } | Error::Config { hint, .. } | Error::Denied { hint, .. } => {
                hint.clone()
            }
            _ => None,
        }
    }

    /// Prints the error as every command's failures look: one line on
    /// stderr and a hint; also for failures a command survives (a chat
    /// message the broker refused).
    pub fn report(&self) {
        use crate::escape::printable;
        use std::io::Write;
        let mut stderr = std::io::stderr().lock();
        // Escaped: a broker's or a worker's message may hold anything.
        let _ = writeln!(stderr, "kafkademo: error: {}", printable(&self.to_string()));
        if let Error::Refused { fields, .. } = self {
            for f in fields {
                let _ = writeln!(stderr, "  {}", printable(f));
            }
        }
        if let Some(hint) = self.hint() {
            let _ = writeln!(stderr, "  hint: {}", printable(&hint));
        }
    }

    /// Names the configured user in a "not authorized" error.
    pub fn with_user(self, name: Option<&str>) -> Self {
        match self {
            Error::NotAuthorized {
                user: None,
                operation,
                acl,
                resource,
            } => Error::NotAuthorized {
                user: name.map(str::to_string),
                operation,
                acl,
                resource,
            },
            e => e,
        }
    }

    /// Says what a topic refusal was about (a metadata answer only says
    /// "not authorized", whether we meant to write or to read).
    pub fn for_operation(self, op: &str, acl: &'static str) -> Self {
        match self {
            Error::NotAuthorized {
                user,
                operation,
                resource,
                ..
            } if operation == "use" || operation == "describe" => Error::NotAuthorized {
                user,
                operation: op.to_string(),
                acl,
                resource,
            },
            e => e,
        }
    }

    /// A closed pipe on our own output is how `| head` says "enough": not an error.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Output(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

/// "topic secure.b" -> "topic secure.b", "the cluster" -> "cluster", for
/// the kafka-acls hint.
fn acl_resource(resource: &str) -> String {
    if resource == "the cluster" {
        "cluster".into()
    } else {
        resource.to_string()
    }
}

/// The words that name kafkademo's commands and flags in messages and
/// hints. src/client reports what went wrong and what would cure it, but it
/// does not know the command line; it takes these sentences from here, the
/// one place they are written.
pub mod hints {
    /// `--brokers` gave no address.
    pub fn no_brokers() -> String {
        "--brokers is empty: give host:port[,host:port…]".into()
    }

    /// `--timeout 0`.
    pub fn zero_timeout() -> String {
        "--timeout must be more than 0".into()
    }

    /// How to ask for the modern data path.
    pub const MODERN_PATH: &str = "add --protocol modern";

    /// `--compression CODEC` the classic path cannot write.
    pub fn compression_needs_modern(codec: &str, brokers: &str) -> String {
        format!("--compression {codec} needs the modern data path, and {brokers} is served by the classic one: {MODERN_PATH}")
    }

    /// Record headers on the classic path.
    pub fn headers_need_modern(brokers: &str) -> String {
        format!("record headers need the modern data path, and {brokers} is served by the classic one: {MODERN_PATH} (Kafka 0.11 or later)")
    }

    /// read_committed on the classic path.
    pub fn read_committed_needs_modern() -> String {
        "read_committed needs the modern data path (record batches); the classic path reads message format v0, which has no transactions: use --protocol modern".into()
    }

    /// A record over the topic's max.message.bytes.
    pub fn raise_max_message_bytes() -> String {
        "raise the limit with `kafkademo topic create … --config max.message.bytes=N`".into()
    }

    /// A topic whose metadata shows no partitions.
    pub fn topic_maybe_deleted() -> String {
        "the topic may be being deleted; check it with `kafkademo topic describe`".into()
    }

    /// A topic created whose leaders are not all elected yet.
    pub fn leaders_pending(topic: &str) -> String {
        format!("the brokers may still be electing leaders: check with `kafkademo topic describe {topic}`, or give them longer with --timeout")
    }

    /// A replication factor above the broker count.
    pub fn fewer_replicas(brokers: usize) -> String {
        format!("use --replication-factor {brokers} or less, or start more brokers")
    }

    /// Creating a topic that exists.
    pub fn if_not_exists() -> String {
        "add --if-not-exists to accept an existing topic".into()
    }

    /// A topic request the broker did not finish in time.
    pub fn check_topic_list() -> String {
        "it may still complete; check with `kafkademo topic list`".into()
    }

    /// A join that outlasted its bound.
    pub fn members_stuck() -> String {
        "other members may be stuck; check `kafkademo group describe`".into()
    }

    /// A commit from outside a group that has members.
    pub fn another_group() -> String {
        "the group has active members; stop them or use another --group".into()
    }

    /// An https:// Connect URL.
    pub fn connect_url_https(url: &str) -> String {
        format!("--connect-url {url}: kafkademo speaks plain HTTP to Kafka Connect; reach a TLS-only worker through a local proxy")
    }

    /// A Connect URL that is not http://host….
    pub fn connect_url_bad(url: &str) -> String {
        format!("--connect-url takes a worker's REST address such as http://127.0.0.1:8083, not '{url}'")
    }

    /// Connect workers still rebalancing at the deadline.
    pub fn connect_rebalancing() -> String {
        "the workers were still rebalancing when --timeout ran out; try again, or give it a longer --timeout".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_match_the_documented_table() {
        assert_eq!(ExitCode::Success.code(), 0);
        assert_eq!(ExitCode::Failure.code(), 1);
        assert_eq!(ExitCode::Usage.code(), 2);
        assert_eq!(ExitCode::DataError.code(), 65);
        assert_eq!(ExitCode::Unavailable.code(), 69);
        assert_eq!(ExitCode::IoError.code(), 74);
        assert_eq!(ExitCode::Protocol.code(), 76);
        assert_eq!(ExitCode::NotAllowed.code(), 77);
        assert_eq!(ExitCode::Config.code(), 78);
        assert_eq!(ExitCode::Interrupted.code(), 130);
        let unreachable = Error::Unreachable {
            addr: "127.0.0.1:1".into(),
            reason: "connection refused".into(),
        };
        assert_eq!(unreachable.exit_code(), ExitCode::Unavailable);
        assert!(unreachable.hint().unwrap().contains("make kafka-up"));
        let refused = Error::VersionRefused {
            addr: "127.0.0.1:1".into(),
            api: "Fetch".into(),
            sent: 0,
            accepts: Some((4, 17)),
            kafka4: true,
            data_path: true,
        };
        assert_eq!(refused.exit_code(), ExitCode::Protocol);
    }

    #[test]
    fn unknown_topic_hints_at_topic_create() {
        let e = Error::UnknownTopic {
            topic: "nope".into(),
            brokers: "127.0.0.1:9092".into(),
        };
        assert_eq!(
            e.to_string(),
            "topic 'nope' does not exist (brokers 127.0.0.1:9092)"
        );
        assert_eq!(
            e.hint().as_deref(),
            Some("create it with `kafkademo topic create nope`")
        );
    }
}
