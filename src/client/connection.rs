//! One TCP connection to one broker, speaking framed Kafka requests
//! (`kafka-protocol`) with a deadline on every step: connect, write, read.
//! Reads wait in short slices, so a frozen broker costs at most `--timeout`
//! and Ctrl-C is noticed at once (client::deadline).

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, MetadataResponse, RequestHeader,
    ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};

use crate::client::codes;
use crate::client::deadline::{Deadline, Expired, SLICE};
use crate::error::{Error, Result};

pub const CLIENT_ID: &str = "kafkademo";

/// Largest response we accept; a broker's fetch or metadata reply is far below.
const MAX_RESPONSE_BYTES: usize = 256 * 1024 * 1024;

/// One TCP connection to one broker, speaking framed Kafka requests with
/// deadlines on every step.
pub struct Connection {
    addr: String,
    stream: TcpStream,
    timeout: Duration,
    correlation_id: i32,
    /// api key -> (min, max) version the broker accepts.
    versions: HashMap<i16, (i16, i16)>,
    /// Set when a request ended without its whole answer (time ran out, the
    /// broker went away): the byte stream is out of step and must not be
    /// used again.
    broken: bool,
}

impl Connection {
    /// Connects within `timeout` and negotiates API versions.
    pub fn open(addr: &str, timeout: Duration) -> Result<Self> {
        Connection::open_until(addr, timeout, Deadline::after(timeout))
    }

    /// Like `open`, within a deadline shared with other work (a cluster
    /// connect trying several brokers within one `--timeout`).
    pub fn open_until(addr: &str, timeout: Duration, deadline: Deadline) -> Result<Self> {
        let stream = connect(addr, timeout, deadline)?;
        let mut conn = Connection {
            addr: addr.to_string(),
            stream,
            timeout,
            correlation_id: 0,
            versions: HashMap::new(),
            broken: false,
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

    /// True once a request on it failed midway: open a new one.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    fn negotiate(&mut self, deadline: Deadline) -> Result<()> {
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str(CLIENT_ID))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let mut response: ApiVersionsResponse = self.call_until(&request, 3, deadline)?;
        // UNSUPPORTED_VERSION: an older broker answers with v0 and its ranges.
        if response.error_code == codes::UNSUPPORTED_VERSION {
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
        self.call_until(request, version, Deadline::after(wait))
    }

    /// Sends `request` and reads its answer, all before `deadline`.
    pub fn call_until<R: Request>(
        &mut self,
        request: &R,
        version: i16,
        deadline: Deadline,
    ) -> Result<R::Response> {
        if self.broken {
            return Err(Error::Unreachable {
                addr: self.addr.clone(),
                reason: "the connection was lost".into(),
            });
        }
        let frame = self.frame(request, version)?;

        // From here on, a failure leaves the stream out of step.
        self.broken = true;
        self.write_all(&frame, deadline)?;
        let mut len = [0u8; 4];
        self.read_exact(&mut len, deadline).map_err(|e| {
            // A broker closes the connection on a version below its minimum (Kafka 4.x).
            match (&e, self.versions.get(&R::KEY)) {
                (Error::Protocol { .. }, Some(&(min, max))) if version < min => {
                    Error::VersionRefused {
                        addr: self.addr.clone(),
                        api: api_name::<R>(),
                        sent: version,
                        accepts: Some((min, max)),
                        kafka4: crate::client::versions::is_kafka4(&self.versions),
                        data_path: false,
                    }
                }
                _ => e,
            }
        })?;
        let len = u32::from_be_bytes(len) as usize;
        if len > MAX_RESPONSE_BYTES {
            return Err(self.protocol(format!("response of {len} bytes is implausibly large")));
        }
        let mut body = vec![0u8; len];
        self.read_exact(&mut body, deadline)?;
        self.broken = false;

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
            self.broken = true;
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

    /// Sends `request` without reading an answer, for requests the broker
    /// never answers (a Produce with acks=0). Written in full before
    /// `deadline`, or the connection is broken.
    pub fn send_only<R: Request>(
        &mut self,
        request: &R,
        version: i16,
        deadline: Deadline,
    ) -> Result<()> {
        if self.broken {
            return Err(Error::Unreachable {
                addr: self.addr.clone(),
                reason: "the connection was lost".into(),
            });
        }
        let frame = self.frame(request, version)?;
        self.broken = true;
        self.write_all(&frame, deadline)?;
        self.broken = false;
        Ok(())
    }

    /// `request` with its header and size prefix, under the next correlation id.
    fn frame<R: Request>(&mut self, request: &R, version: i16) -> Result<BytesMut> {
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
        Ok(frame)
    }

    /// `write_all` in slices, each bounded by what is left of `deadline`.
    fn write_all(&mut self, mut bytes: &[u8], deadline: Deadline) -> Result<()> {
        while !bytes.is_empty() {
            let slice = self.slice(deadline)?;
            self.stream
                .set_write_timeout(Some(slice))
                .map_err(|e| self.io_error(e))?;
            match self.stream.write(bytes) {
                Ok(0) => return Err(self.io_error(ErrorKind::WriteZero.into())),
                Ok(n) => bytes = &bytes[n..],
                Err(e) if waiting(&e) => {}
                Err(e) => return Err(self.io_error(e)),
            }
        }
        Ok(())
    }

    /// `read_exact` in slices, each bounded by what is left of `deadline`.
    fn read_exact(&mut self, buf: &mut [u8], deadline: Deadline) -> Result<()> {
        let mut filled = 0;
        while filled < buf.len() {
            let slice = self.slice(deadline)?;
            self.stream
                .set_read_timeout(Some(slice))
                .map_err(|e| self.io_error(e))?;
            match self.stream.read(&mut buf[filled..]) {
                Ok(0) => return Err(self.io_error(ErrorKind::UnexpectedEof.into())),
                Ok(n) => filled += n,
                Err(e) if waiting(&e) => {}
                Err(e) => return Err(self.io_error(e)),
            }
        }
        Ok(())
    }

    /// How long the next blocking step may take, or the error that ends the wait.
    fn slice(&self, deadline: Deadline) -> Result<Duration> {
        match deadline.check() {
            Ok(left) => Ok(left.min(SLICE)),
            Err(Expired::Interrupted) => Err(Error::Interrupted),
            Err(Expired::TimedOut) => Err(Error::Timeout {
                addr: self.addr.clone(),
                timeout: self.timeout,
            }),
        }
    }

    fn io_error(&self, e: std::io::Error) -> Error {
        match e.kind() {
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

/// A read or write that only ran out of its slice: wait again.
fn waiting(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
    )
}

pub fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

fn api_name<R: Request>() -> String {
    let full = std::any::type_name::<R>();
    let short = full.rsplit("::").next().unwrap_or(full);
    short.trim_end_matches("Request").to_string()
}

/// A TCP connection within `timeout` and `deadline`, trying each address the
/// name resolves to (a name can resolve to an address that does not answer
/// and another that does).
fn connect(addr: &str, timeout: Duration, deadline: Deadline) -> Result<TcpStream> {
    let unreachable = |reason: String| Error::Unreachable {
        addr: addr.to_string(),
        reason,
    };
    let addrs: Vec<SocketAddr> = addr
        .to_socket_addrs()
        .map_err(|e| unreachable(format!("cannot resolve the host name: {e}")))?
        .collect();
    let mut last = None;
    for (i, sa) in addrs.iter().enumerate() {
        let left = match deadline.check() {
            Ok(left) => left,
            Err(Expired::Interrupted) => return Err(Error::Interrupted),
            Err(Expired::TimedOut) => break,
        };
        // Each remaining address gets an equal share of the time left.
        let share = left / (addrs.len() - i) as u32;
        match TcpStream::connect_timeout(sa, share.max(Duration::from_millis(1))) {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) if waiting(&e) => Error::Timeout {
            addr: addr.to_string(),
            timeout,
        },
        Some(e) if e.kind() == ErrorKind::ConnectionRefused => {
            unreachable("connection refused".into())
        }
        Some(e) => unreachable(e.to_string()),
        None if addrs.is_empty() => unreachable("the host name resolves to no address".into()),
        None => Error::Timeout {
            addr: addr.to_string(),
            timeout,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_names_are_short() {
        assert_eq!(api_name::<MetadataRequest>(), "Metadata");
    }
}
