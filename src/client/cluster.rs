//! The cluster as a whole: where its brokers are (the `--brokers` list plus
//! every broker metadata has named since), one live connection to any of
//! them, and the `kafka` crate client built on top. A broker that dies is
//! replaced by another on the next request, so no command depends on the
//! one broker it first reached.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka_protocol::messages::MetadataResponse;

use crate::client::connection::{Connection, CLIENT_ID};
use crate::client::deadline::Deadline;
use crate::client::security::Security;
use crate::client::versions;
use crate::error::{Error, Result};

/// Which data path produces and fetches (`--protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DataPath {
    /// Classic where the brokers accept the `kafka` crate's requests, else modern.
    #[default]
    Auto,
    /// The `kafka` crate: Produce v0, Fetch v0, message format v0 (Kafka 0.11 to 3.9).
    Classic,
    /// Record batches over kafka-protocol: Produce v3+, Fetch v4+ (Kafka 0.11 and later, 4.x too).
    Modern,
}

impl std::str::FromStr for DataPath {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(DataPath::Auto),
            "classic" => Ok(DataPath::Classic),
            "modern" => Ok(DataPath::Modern),
            _ => Err(format!("'{s}' is not one of auto, classic, modern")),
        }
    }
}

impl DataPath {
    pub fn name(self) -> &'static str {
        match self {
            DataPath::Auto => "auto",
            DataPath::Classic => "classic",
            DataPath::Modern => "modern",
        }
    }
}

/// Where the brokers are and how long we wait for them: the global options.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    pub brokers: Vec<String>,
    pub timeout: Duration,
    /// The data path asked for; `Cluster::data_path` says which one runs.
    pub data_path: DataPath,
    /// TLS and SASL settings every connection uses.
    pub security: Arc<Security>,
    /// Brokers the cluster's metadata named, shared by every clone: after
    /// the listed brokers die, the others can still be reached.
    discovered: Arc<Mutex<Vec<String>>>,
}

impl BrokerConfig {
    pub fn new(list: &str, timeout: Duration) -> Result<Self> {
        let brokers: Vec<String> = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(normalize_addr)
            .collect::<Result<_>>()?;
        if brokers.is_empty() {
            return Err(Error::Usage(
                "--brokers is empty: give host:port[,host:port…]".into(),
            ));
        }
        if timeout.is_zero() {
            return Err(Error::Usage("--timeout must be more than 0".into()));
        }
        Ok(BrokerConfig {
            brokers,
            timeout,
            data_path: DataPath::Auto,
            security: Arc::default(),
            discovered: Arc::default(),
        })
    }

    pub fn with_data_path(mut self, data_path: DataPath) -> Self {
        self.data_path = data_path;
        self
    }

    pub fn with_security(mut self, security: Security) -> Self {
        self.security = Arc::new(security);
        self
    }

    /// The broker list as the user wrote it, for messages.
    pub fn display(&self) -> String {
        self.brokers.join(",")
    }

    /// Every address worth trying: the listed ones first, then the discovered.
    pub fn candidates(&self) -> Vec<String> {
        let mut all = self.brokers.clone();
        if let Ok(found) = self.discovered.lock() {
            all.extend(found.iter().filter(|a| !self.brokers.contains(a)).cloned());
        }
        all
    }

    /// Remembers the brokers a metadata answer names.
    pub fn learn(&self, metadata: &MetadataResponse) {
        let addrs: Vec<String> = metadata
            .brokers
            .iter()
            .map(|b| join_host_port(&b.host, b.port))
            .collect();
        if let Ok(mut found) = self.discovered.lock() {
            *found = addrs;
        }
    }
}

/// `host:port`, with brackets around an IPv6 address.
pub fn join_host_port(host: &str, port: i32) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`, with Kafka's port 9092 by default.
fn normalize_addr(s: &str) -> Result<String> {
    let bad = |why: &str| Err(Error::Usage(format!("bad broker address '{s}': {why}")));
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return bad("an IPv6 address needs its closing ']'");
        };
        if v6.is_empty() {
            return bad("missing host");
        }
        match after {
            "" => (format!("[{v6}]"), None),
            p => match p.strip_prefix(':') {
                Some(p) => (format!("[{v6}]"), Some(p)),
                None => return bad("expected ':' and a port after ']'"),
            },
        }
    } else if s.matches(':').count() > 1 {
        return bad("write an IPv6 address in brackets, e.g. [::1]:9092");
    } else {
        match s.split_once(':') {
            Some(("", _)) => return bad("missing host"),
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (s.to_string(), None),
        }
    };
    match port {
        None => Ok(format!("{host}:9092")),
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => Ok(format!("{host}:{n}")),
            _ => bad("the port must be a number from 1 to 65535"),
        },
    }
}

/// A cluster as seen through one broker that answered.
pub struct Cluster {
    pub config: BrokerConfig,
    bootstrap: Connection,
}

impl Cluster {
    /// Tries each known broker in turn within one `--timeout` in all;
    /// fails only when none answers.
    pub fn connect(config: &BrokerConfig) -> Result<Self> {
        let deadline = Deadline::after(config.timeout);
        let candidates = config.candidates();
        let mut first_err = None;
        for (i, addr) in candidates.iter().enumerate() {
            if i > 0 && deadline.expired() {
                break;
            }
            // A frozen broker must not take the whole timeout from the
            // others: each remaining one gets an equal share (500 ms at least).
            let share = deadline.remaining() / (candidates.len() - i) as u32;
            let attempt = deadline.min(Deadline::after(share.max(Duration::from_millis(500))));
            match Connection::open_until(addr, config, attempt) {
                Ok(mut bootstrap) => {
                    // Learn the other brokers, so losing this one is survivable.
                    match bootstrap.metadata(Some(&[])) {
                        Ok(m) => config.learn(&m),
                        Err(Error::Interrupted) => return Err(Error::Interrupted),
                        // Wrong security settings fail every broker alike.
                        Err(e @ (Error::Config { .. } | Error::Denied { .. })) => return Err(e),
                        // A broker whose answer broke the connection (it
                        // went silent mid-answer, or sent a malformed one)
                        // is no bootstrap: the next one is tried.
                        Err(e) if bootstrap.is_broken() => {
                            log::info!("{e}");
                            first_err.get_or_insert(e);
                            continue;
                        }
                        Err(e) => log::debug!("{e}"),
                    }
                    return Ok(Cluster {
                        config: config.clone(),
                        bootstrap,
                    });
                }
                Err(Error::Interrupted) => return Err(Error::Interrupted),
                Err(e) => {
                    log::info!("{e}");
                    first_err.get_or_insert(e);
                }
            }
        }
        Err(match first_err {
            Some(e) if candidates.len() == 1 => e,
            Some(Error::Timeout { timeout, .. }) => Error::Timeout {
                addr: config.display(),
                timeout,
            },
            Some(e) => Error::Unreachable {
                addr: config.display(),
                reason: format!("no broker on the list answered (first: {e})"),
            },
            None => Error::Timeout {
                addr: config.display(),
                timeout: config.timeout,
            },
        })
    }

    /// A live connection to some broker: the current one, or, once it
    /// broke, a new one to whichever broker answers (the broken one is
    /// kept when none does, and its requests fail at once).
    pub fn bootstrap(&mut self) -> &mut Connection {
        if self.bootstrap.is_broken() {
            match Cluster::connect(&self.config) {
                Ok(fresh) => self.bootstrap = fresh.bootstrap,
                Err(e) => log::info!("{e}"),
            }
        }
        &mut self.bootstrap
    }

    /// A connection to the broker with this id.
    pub fn connection_to(&mut self, metadata: &MetadataResponse, id: i32) -> Result<Connection> {
        let broker = metadata
            .brokers
            .iter()
            .find(|b| b.node_id.0 == id)
            .ok_or_else(|| {
                Error::broker(format!(
                    "broker {id} is not in the cluster metadata from {}",
                    self.bootstrap.addr()
                ))
            })?;
        let addr = join_host_port(&broker.host, broker.port);
        Connection::open(&addr, &self.config)
    }

    /// The data path that runs for this cluster (never `Auto`): as asked,
    /// or, for `auto`, classic when the bootstrap broker accepts the `kafka`
    /// crate's request versions and modern when it does not (Kafka 4.x).
    /// A forced path the broker cannot serve is an error (exit 76).
    pub fn data_path(&self) -> Result<DataPath> {
        let (addr, versions) = (self.bootstrap.addr(), self.bootstrap.api_versions());
        let chosen = match self.config.data_path {
            DataPath::Classic => {
                versions::check_data_path(addr, versions)?;
                DataPath::Classic
            }
            DataPath::Modern => {
                versions::check_modern_path(addr, versions)?;
                DataPath::Modern
            }
            DataPath::Auto => match versions::check_data_path(addr, versions) {
                Ok(()) => DataPath::Classic,
                Err(why) => {
                    versions::check_modern_path(addr, versions)?;
                    log::info!("modern data path: {why}");
                    DataPath::Modern
                }
            },
        };
        if self.config.data_path != DataPath::Auto {
            log::info!("{} data path (--protocol {})", chosen.name(), chosen.name());
        } else if chosen == DataPath::Classic {
            log::info!("classic data path: {addr} accepts the kafka crate's request versions");
        }
        Ok(chosen)
    }

    /// A `kafka` crate client for produce/consume, built only after a broker
    /// answered us, so its unbounded connect cannot hang the user. Its calls
    /// run on a worker (client::classic) that a deadline can walk away from.
    /// Refused (exit 76) when the broker no longer takes the crate's
    /// request versions (Kafka 4.x).
    pub fn kafka_client(&self) -> Result<kafka::client::KafkaClient> {
        versions::check_data_path(self.bootstrap.addr(), self.bootstrap.api_versions())?;
        let mut hosts = vec![self.bootstrap.addr().to_string()];
        hosts.extend(
            self.config
                .candidates()
                .into_iter()
                .filter(|b| b.as_str() != self.bootstrap.addr()),
        );
        let mut client = kafka::client::KafkaClient::new(hosts);
        client.set_client_id(CLIENT_ID.into());
        client.set_connection_idle_timeout(Duration::from_secs(60));
        Ok(client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_lists_parse_and_default_the_port() {
        let c = BrokerConfig::new("a:1, b ,c:9093", Duration::from_secs(1)).unwrap();
        assert_eq!(c.brokers, vec!["a:1", "b:9092", "c:9093"]);
        assert!(BrokerConfig::new("a:0", Duration::from_secs(1)).is_err());
        assert!(BrokerConfig::new("a:x", Duration::from_secs(1)).is_err());
        assert!(BrokerConfig::new(" , ", Duration::from_secs(1)).is_err());
        assert!(BrokerConfig::new("a:1", Duration::ZERO).is_err());
    }

    #[test]
    fn ipv6_brokers_keep_their_brackets() {
        let c = BrokerConfig::new("[::1]:9093,[::1],[fe80::1]:1", Duration::from_secs(1)).unwrap();
        assert_eq!(c.brokers, vec!["[::1]:9093", "[::1]:9092", "[fe80::1]:1"]);
        for bad in ["::1", "[::1", "[::1]9092", "[]:1", ":9092"] {
            assert!(
                BrokerConfig::new(bad, Duration::from_secs(1)).is_err(),
                "{bad}"
            );
        }
        assert_eq!(join_host_port("::1", 9092), "[::1]:9092");
        assert_eq!(join_host_port("h", 1), "h:1");
    }
}
