//! Where the brokers are and how long we wait for them (the global options
//! as the client layer sees them), and which data path is asked for. Its own
//! module so that `connection` (which opens one broker) and `cluster` (which
//! holds many) share it without depending on each other.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka_protocol::messages::MetadataResponse;

use crate::client::security::Security;
use crate::error::{hints, Error, Result};

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
            return Err(Error::Usage(hints::no_brokers()));
        }
        if timeout.is_zero() {
            return Err(Error::Usage(hints::zero_timeout()));
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
