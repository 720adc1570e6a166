//! The one way kafkademo reaches brokers. The `kafka` crate has no connect
//! timeout and a fixed 120 s read timeout, so every subcommand first goes
//! through here: a bounded connect, a bounded request, and ApiVersions
//! negotiation, all framed with `kafka-protocol`. Only then is a `kafka`
//! crate client built (see `Cluster::kafka_client`).

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, MetadataResponse, RequestHeader,
    ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};

use crate::error::{Error, Result};

pub const CLIENT_ID: &str = "kafkademo";

/// Largest response we accept; a broker's fetch or metadata reply is far below.
const MAX_RESPONSE_BYTES: usize = 256 * 1024 * 1024;

/// Where the brokers are and how long we wait for them: the global options.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    pub brokers: Vec<String>,
    pub timeout: Duration,
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
        Ok(BrokerConfig { brokers, timeout })
    }

    /// The broker list as the user wrote it, for messages.
    pub fn display(&self) -> String {
        self.brokers.join(",")
    }
}

fn normalize_addr(s: &str) -> Result<String> {
    match s.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() => match port.parse::<u16>() {
            Ok(p) if p > 0 => Ok(s.to_string()),
            _ => Err(Error::Usage(format!(
                "bad broker address '{s}': the port must be a number from 1 to 65535"
            ))),
        },
        Some(_) => Err(Error::Usage(format!(
            "bad broker address '{s}': missing host"
        ))),
        None => Ok(format!("{s}:9092")),
    }
}

/// One TCP connection to one broker, speaking framed Kafka requests with
/// deadlines on every step.
pub struct Connection {
    addr: String,
    stream: TcpStream,
    timeout: Duration,
    correlation_id: i32,
    /// api key -> (min, max) version the broker accepts.
    versions: HashMap<i16, (i16, i16)>,
}

impl Connection {
    /// Connects within `timeout` and negotiates API versions.
    pub fn open(addr: &str, timeout: Duration) -> Result<Self> {
        let deadline = Instant::now() + timeout;
        let stream = connect(addr, timeout)?;
        let mut conn = Connection {
            addr: addr.to_string(),
            stream,
            timeout,
            correlation_id: 0,
            versions: HashMap::new(),
        };
        conn.negotiate(deadline)?;
        Ok(conn)
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The broker's ApiVersions table: API key -> (min, max) version.
    pub fn api_versions(&self) -> &HashMap<i16, (i16, i16)> {
        &self.versions
    }

    fn negotiate(&mut self, deadline: Instant) -> Result<()> {
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str(CLIENT_ID))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let mut response: ApiVersionsResponse = self.call_until(&request, 3, deadline)?;
        // UNSUPPORTED_VERSION: an older broker answers with v0 and its ranges.
        if response.error_code == 35 {
            response = self.call_until(&ApiVersionsRequest::default(), 0, deadline)?;
        }
        if response.error_code != 0 {
            return Err(Error::Protocol {
                addr: self.addr.clone(),
                reason: format!("ApiVersions failed with error code {}", response.error_code),
            });
        }
        self.versions = response
            .api_keys
            .iter()
            .map(|k| (k.api_key, (k.min_version, k.max_version)))
            .collect();
        Ok(())
    }

    /// The highest version of `R` both sides speak, or an "unsupported" error.
    pub fn version<R: Request>(&self) -> Result<i16> {
        let ours = R::VERSIONS;
        let unsupported = || Error::Unsupported {
            addr: self.addr.clone(),
            what: format!("{} (API key {})", api_name::<R>(), R::KEY),
        };
        let &(min, max) = self.versions.get(&R::KEY).ok_or_else(unsupported)?;
        let v = max.min(ours.max);
        if v < min.max(ours.min) {
            return Err(unsupported());
        }
        Ok(v)
    }

    /// Sends `request` at the negotiated version and waits up to the timeout.
    pub fn call<R: Request>(&mut self, request: &R) -> Result<R::Response> {
        let version = self.version::<R>()?;
        self.call_at(request, version, self.timeout)
    }

    /// Like `call`, with a chosen version and a longer wait (JoinGroup blocks
    /// for up to the rebalance timeout by design).
    pub fn call_at<R: Request>(
        &mut self,
        request: &R,
        version: i16,
        wait: Duration,
    ) -> Result<R::Response> {
        self.call_until(request, version, Instant::now() + wait)
    }

    fn call_until<R: Request>(
        &mut self,
        request: &R,
        version: i16,
        deadline: Instant,
    ) -> Result<R::Response> {
        self.correlation_id = self.correlation_id.wrapping_add(1);
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some(StrBytes::from_static_str(CLIENT_ID)));
        let mut frame = BytesMut::new();
        frame.extend_from_slice(&[0; 4]);
        header
            .encode(&mut frame, R::header_version(version))
            .and_then(|()| request.encode(&mut frame, version))
            .map_err(|e| self.protocol(format!("cannot encode request: {e}")))?;
        let size = (frame.len() - 4) as u32;
        frame[..4].copy_from_slice(&size.to_be_bytes());

        self.set_deadline(deadline)?;
        self.stream
            .write_all(&frame)
            .map_err(|e| self.io_error(e, deadline))?;

        let mut len = [0u8; 4];
        self.set_deadline(deadline)?;
        self.stream.read_exact(&mut len).map_err(|e| {
            // A broker closes the connection on a version below its minimum (Kafka 4.x).
            match self.versions.get(&R::KEY) {
                Some(&(min, max)) if e.kind() == ErrorKind::UnexpectedEof && version < min => {
                    Error::VersionRefused {
                        addr: self.addr.clone(),
                        api: api_name::<R>(),
                        sent: version,
                        accepts: Some((min, max)),
                        kafka4: crate::client::versions::is_kafka4(&self.versions),
                        data_path: false,
                    }
                }
                _ => self.io_error(e, deadline),
            }
        })?;
        let len = u32::from_be_bytes(len) as usize;
        if len > MAX_RESPONSE_BYTES {
            return Err(self.protocol(format!("response of {len} bytes is implausibly large")));
        }
        let mut body = vec![0u8; len];
        self.set_deadline(deadline)?;
        self.stream
            .read_exact(&mut body)
            .map_err(|e| self.io_error(e, deadline))?;

        let mut buf = bytes::Bytes::from(body);
        // ApiVersions' response header is always v0, so a broker can answer
        // a version it does not know.
        let header_version = if R::KEY == ApiVersionsRequest::KEY {
            0
        } else {
            R::Response::header_version(version)
        };
        let header = ResponseHeader::decode(&mut buf, header_version)
            .map_err(|e| self.protocol(format!("bad response header: {e}")))?;
        if header.correlation_id != self.correlation_id {
            return Err(self.protocol(format!(
                "response {} does not match request {}",
                header.correlation_id, self.correlation_id
            )));
        }
        let response = R::Response::decode(&mut buf, version)
            .map_err(|e| self.protocol(format!("cannot decode {}: {e}", api_name::<R>())))?;
        if buf.has_remaining() {
            log::debug!(
                "{} bytes left after {} response",
                buf.remaining(),
                api_name::<R>()
            );
        }
        Ok(response)
    }

    fn set_deadline(&self, deadline: Instant) -> Result<()> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::Timeout {
                addr: self.addr.clone(),
                timeout: self.timeout,
            });
        }
        let io = |e| Error::Unreachable {
            addr: self.addr.clone(),
            reason: format!("{e}"),
        };
        self.stream.set_read_timeout(Some(left)).map_err(io)?;
        self.stream.set_write_timeout(Some(left)).map_err(io)?;
        Ok(())
    }

    fn io_error(&self, e: std::io::Error, deadline: Instant) -> Error {
        match e.kind() {
            ErrorKind::WouldBlock | ErrorKind::TimedOut => Error::Timeout {
                addr: self.addr.clone(),
                timeout: self
                    .timeout
                    .max(deadline.saturating_duration_since(Instant::now())),
            },
            ErrorKind::UnexpectedEof => Error::Protocol {
                addr: self.addr.clone(),
                reason: "the broker closed the connection (is this a Kafka listener?)".into(),
            },
            _ => Error::Unreachable {
                addr: self.addr.clone(),
                reason: e.to_string(),
            },
        }
    }

    fn protocol(&self, reason: String) -> Error {
        Error::Protocol {
            addr: self.addr.clone(),
            reason,
        }
    }

    /// Metadata for the named topics, or for all topics when `topics` is None.
    pub fn metadata(&mut self, topics: Option<&[&str]>) -> Result<MetadataResponse> {
        let version = self.version::<MetadataRequest>()?;
        if version < 1 {
            return Err(Error::Unsupported {
                addr: self.addr.clone(),
                what: "Metadata v1 (Kafka 0.10+)".into(),
            });
        }
        let request = MetadataRequest::default()
            .with_topics(topics.map(|names| {
                names
                    .iter()
                    .map(|n| MetadataRequestTopic::default().with_name(Some(topic_name(n))))
                    .collect()
            }))
            .with_allow_auto_topic_creation(false);
        self.call_at(&request, version, self.timeout)
    }
}

pub fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

fn api_name<R: Request>() -> String {
    let full = std::any::type_name::<R>();
    let short = full.rsplit("::").next().unwrap_or(full);
    short.trim_end_matches("Request").to_string()
}

/// A TCP connection within `timeout`, trying each address the name resolves to.
fn connect(addr: &str, timeout: Duration) -> Result<TcpStream> {
    let unreachable = |reason: String| Error::Unreachable {
        addr: addr.to_string(),
        reason,
    };
    let addrs: Vec<SocketAddr> = addr
        .to_socket_addrs()
        .map_err(|e| unreachable(format!("cannot resolve the host name: {e}")))?
        .collect();
    let mut last = None;
    for sa in &addrs {
        match TcpStream::connect_timeout(sa, timeout) {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) if e.kind() == ErrorKind::TimedOut || e.kind() == ErrorKind::WouldBlock => {
                return Err(Error::Timeout {
                    addr: addr.to_string(),
                    timeout,
                })
            }
            Err(e) => last = Some(e),
        }
    }
    Err(unreachable(match last {
        Some(e) if e.kind() == ErrorKind::ConnectionRefused => "connection refused".into(),
        Some(e) => e.to_string(),
        None => "the host name resolves to no address".into(),
    }))
}

/// A cluster as seen through the first broker on the list that answered.
pub struct Cluster {
    pub config: BrokerConfig,
    bootstrap: Connection,
}

impl Cluster {
    /// Tries each configured broker in turn; fails only when none answers.
    pub fn connect(config: &BrokerConfig) -> Result<Self> {
        let mut first_err = None;
        for addr in &config.brokers {
            match Connection::open(addr, config.timeout) {
                Ok(bootstrap) => {
                    return Ok(Cluster {
                        config: config.clone(),
                        bootstrap,
                    })
                }
                Err(e) => {
                    log::info!("{e}");
                    first_err.get_or_insert(e);
                }
            }
        }
        Err(match first_err {
            Some(e) if config.brokers.len() == 1 => e,
            Some(Error::Timeout { timeout, .. }) => Error::Timeout {
                addr: config.display(),
                timeout,
            },
            Some(e) => Error::Unreachable {
                addr: config.display(),
                reason: format!("no broker on the list answered (first: {e})"),
            },
            None => Error::Usage("--brokers is empty".into()),
        })
    }

    pub fn bootstrap(&mut self) -> &mut Connection {
        &mut self.bootstrap
    }

    /// A connection to the broker with this id (the bootstrap one if it is that broker).
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
        let addr = format!("{}:{}", broker.host, broker.port);
        Connection::open(&addr, self.config.timeout)
    }

    /// A `kafka` crate client for produce/consume, built only after a broker
    /// answered us, so its unbounded connect cannot hang the user, and only
    /// if that broker takes the crate's request versions (not Kafka 4.x).
    #[allow(dead_code)]
    pub fn kafka_client(&self) -> Result<kafka::client::KafkaClient> {
        crate::client::versions::check_data_path(
            self.bootstrap.addr(),
            self.bootstrap.api_versions(),
        )?;
        let mut hosts = vec![self.bootstrap.addr().to_string()];
        hosts.extend(
            self.config
                .brokers
                .iter()
                .filter(|b| b.as_str() != self.bootstrap.addr())
                .cloned(),
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
    fn api_names_are_short() {
        assert_eq!(api_name::<MetadataRequest>(), "Metadata");
    }
}
