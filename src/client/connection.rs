//! One connection to one broker, speaking framed Kafka requests
//! (`kafka-protocol`) with a deadline on every step: connect, TLS, SASL,
//! write, read (the bytes themselves: client::wire). Reads wait in short
//! slices, so a frozen broker costs at most `--timeout` and Ctrl-C is
//! noticed at once (client::deadline). A SASL session the broker limits
//! (`connections.max.reauth.ms`) is renewed before it runs out.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, MetadataResponse, RequestHeader,
    ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};

use crate::client::answer_check;
use crate::client::brokers::BrokerConfig;
use crate::client::codes;
use crate::client::deadline::Deadline;
use crate::client::security::{sasl, Sasl};
use crate::client::versions;
use crate::client::wire::Wire;
use crate::error::{Error, Result};

pub const CLIENT_ID: &str = "kafkademo";

/// Largest response we accept: a Fetch asks for at most 64 MiB in all
/// (client::modern::fetch::MAX_FETCH_BYTES), and a broker may add one
/// batch past it (to make progress) and its own framing; a metadata reply
/// of a large cluster is far below. docs/hostile-input.md.
pub const MAX_RESPONSE_BYTES: usize = 80 * 1024 * 1024;

/// The first piece of a response's buffer; it grows (doubling) only as
/// the broker's bytes arrive, so a size prefix that lies costs nothing.
const FIRST_READ: usize = 64 * 1024;

/// One connection to one broker, speaking framed Kafka requests with
/// deadlines on every step.
pub struct Connection {
    addr: String,
    wire: Wire,
    timeout: Duration,
    correlation_id: i32,
    /// api key -> (min, max) version the broker accepts.
    versions: HashMap<i16, (i16, i16)>,
    /// Set when a request ended without its whole answer (time ran out, the
    /// broker went away): the byte stream is out of step and must not be
    /// used again.
    broken: bool,
    /// The SASL credentials, kept to re-authenticate.
    sasl: Option<Sasl>,
    /// When to re-authenticate: before the broker's session limit runs out.
    reauth_at: Option<Instant>,
    /// Requests answered so far (ApiVersions is the first).
    answered: u64,
}

impl Connection {
    /// Connects within the configured timeout, runs TLS and SASL as
    /// configured, and negotiates API versions.
    pub fn open(addr: &str, config: &BrokerConfig) -> Result<Self> {
        Connection::open_until(addr, config, Deadline::after(config.timeout))
    }

    /// Like `open`, within a deadline shared with other work (a cluster
    /// connect trying several brokers within one `--timeout`).
    pub fn open_until(addr: &str, config: &BrokerConfig, deadline: Deadline) -> Result<Self> {
        let mut wire = Wire::connect(addr, config.timeout, deadline)?;
        if let Some(tls) = &config.security.tls {
            wire.start_tls(tls.clone(), deadline)?;
        }
        let mut conn = Connection {
            addr: addr.to_string(),
            wire,
            timeout: config.timeout,
            correlation_id: 0,
            versions: HashMap::new(),
            broken: false,
            sasl: config.security.sasl.clone(),
            reauth_at: None,
            answered: 0,
        };
        conn.negotiate(deadline)?;
        if conn.sasl.is_some() {
            conn.authenticate(deadline, false)?;
        }
        Ok(conn)
    }

    /// SASL handshake and authentication; remembers when to do it again.
    fn authenticate(&mut self, deadline: Deadline, again: bool) -> Result<()> {
        let Some(creds) = self.sasl.clone() else {
            return Ok(());
        };
        let started = Instant::now();
        let lifetime = sasl::authenticate(self, &creds, deadline)?;
        // Renew at 85% of the session, as Kafka's Java client does at 85-95%.
        self.reauth_at = lifetime.map(|l| started + l.mul_f64(0.85));
        let how = if again {
            "re-authenticated"
        } else {
            "authenticated"
        };
        match lifetime {
            Some(l) => log::info!(
                "{how} to {} as {} with {} (session {})",
                self.addr,
                creds.username,
                creds.mechanism.name(),
                humantime::format_duration(l)
            ),
            None => log::info!(
                "{how} to {} as {} with {}",
                self.addr,
                creds.username,
                creds.mechanism.name()
            ),
        }
        Ok(())
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
        let theirs = self.versions.get(&R::KEY).copied();
        versions::highest_common(theirs, (ours.min, ours.max)).ok_or_else(unsupported)
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

    /// Sends `request` and reads its answer, all before `deadline`;
    /// re-authenticates first when the SASL session is about to end.
    pub fn call_until<R: Request>(
        &mut self,
        request: &R,
        version: i16,
        deadline: Deadline,
    ) -> Result<R::Response> {
        if self.reauth_at.is_some_and(|at| Instant::now() >= at) && !self.broken {
            self.authenticate(deadline, true)?;
        }
        self.call_raw(request, version, deadline)
    }

    /// Sends `request` and reads its answer, all before `deadline`, as it is
    /// (no re-authentication: the SASL exchange itself goes this way).
    pub(crate) fn call_raw<R: Request>(
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
        // Names and sizes only: a SaslAuthenticate body holds a password.
        log::trace!(
            "{} <- {} v{version}, {} bytes",
            self.addr,
            api_name::<R>(),
            frame.len()
        );

        // From here on, a failure leaves the stream out of step.
        self.broken = true;
        self.wire.write_all(&frame, deadline)?;
        let mut len = [0u8; 4];
        let first = self.answered == 1 && self.sasl.is_none();
        self.wire.read_exact(&mut len, deadline).map_err(|e| {
            // A broker closes the connection on a version below its minimum (Kafka 4.x).
            match (&e, self.versions.get(&R::KEY)) {
                // A SASL listener answers ApiVersions, then closes on any
                // other request from a client that did not authenticate.
                // (Unless the request's version is below the broker's
                // minimum: that is the VersionRefused arm's case.)
                (Error::Protocol { .. }, range)
                    if first && range.is_none_or(|&(min, _)| version >= min) =>
                {
                    Error::Config {
                    message: format!(
                        "Kafka at {} closed the connection at kafkademo's first request after ApiVersions: the listener probably expects SASL",
                        self.addr
                    ),
                    hint: Some(
                        "set security.protocol=SASL_PLAINTEXT or SASL_SSL with sasl.mechanism and sasl.jaas.config (--command-config or -X)"
                            .into(),
                        ),
                    }
                }
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
        // A TLS alert record (0x15 0x03 ...) where a size should be: our
        // plaintext went to a TLS listener.
        if len[0] == 0x15 && len[1] == 0x03 && !self.wire.is_tls() {
            return Err(Error::Config {
                message: format!("Kafka at {} speaks TLS on this port, and kafkademo sent plaintext", self.addr),
                hint: Some("set security.protocol=SSL or SASL_SSL (--command-config or -X) for this listener".into()),
            });
        }
        let len = i32::from_be_bytes(len);
        let body = read_frame(len, MAX_RESPONSE_BYTES, |buf| {
            self.wire.read_exact(buf, deadline)
        })
        .map_err(|e| match e {
            FrameError::Size(reason) => self.malformed::<R>(&reason),
            FrameError::Read(e) => e,
        })?;
        self.broken = false;
        self.answered += 1;

        let mut buf = bytes::Bytes::from(body);
        // ApiVersions' response header is always v0, so a broker can answer
        // a version it does not know.
        let header_version = if R::KEY == ApiVersionsRequest::KEY {
            0
        } else {
            R::Response::header_version(version)
        };
        let header = ResponseHeader::decode(&mut buf, header_version).map_err(|e| {
            self.broken = true;
            self.malformed::<R>(&format!("a bad response header ({e})"))
        })?;
        if header.correlation_id != self.correlation_id {
            self.broken = true;
            return Err(self.protocol(format!(
                "response {} does not match request {}",
                header.correlation_id, self.correlation_id
            )));
        }
        // kafka-protocol reserves memory for every array count it reads:
        // the counts are checked against the bytes first.
        answer_check::check(R::KEY, version, &buf).map_err(|reason| {
            self.broken = true;
            self.malformed::<R>(&reason)
        })?;
        let response = R::Response::decode(&mut buf, version).map_err(|e| {
            self.broken = true;
            self.malformed::<R>(&e.to_string())
        })?;
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
        self.wire.write_all(&frame, deadline)?;
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

    /// An answer that cannot be what the broker means: refused as a
    /// broker failure (exit 1), not retried as a lost connection would be.
    fn malformed<R: Request>(&self, reason: &str) -> Error {
        Error::broker(format!(
            "Kafka at {} sent a malformed {} answer: {reason}",
            self.addr,
            api_name::<R>()
        ))
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

/// Why a response frame could not be read.
#[derive(Debug)]
pub enum FrameError<E> {
    /// The size prefix is negative or over the limit.
    Size(String),
    /// Reading the bytes failed (`read`'s own error).
    Read(E),
}

/// A response body of `len` bytes (its size prefix), read with `read`
/// (which fills the slice it is given or fails); the buffer grows as the
/// bytes arrive, doubling from 64 KiB, so it never holds more than twice
/// what the broker has actually sent. A negative `len`, or one over
/// `max`, is refused before any of it is read.
pub fn read_frame<E>(
    len: i32,
    max: usize,
    mut read: impl FnMut(&mut [u8]) -> std::result::Result<(), E>,
) -> std::result::Result<Vec<u8>, FrameError<E>> {
    let len = usize::try_from(len)
        .map_err(|_| FrameError::Size(format!("a size prefix of {len} bytes")))?;
    if len > max {
        return Err(FrameError::Size(format!(
            "a size prefix of {len} bytes, over the {} MiB kafkademo accepts",
            max / (1024 * 1024)
        )));
    }
    let mut body = Vec::new();
    while body.len() < len {
        let at = body.len();
        let next = (len - at).min(at.max(FIRST_READ));
        body.resize(at + next, 0);
        read(&mut body[at..]).map_err(FrameError::Read)?;
    }
    Ok(body)
}

pub fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

fn api_name<R: Request>() -> String {
    let full = std::any::type_name::<R>();
    let short = full.rsplit("::").next().unwrap_or(full);
    short.trim_end_matches("Request").to_string()
}

/// SASL's view of a connection (client::security::sasl), so that module
/// need not depend on this one.
impl sasl::Exchange for Connection {
    fn addr(&self) -> &str {
        Connection::addr(self)
    }

    fn api_versions(&self) -> &HashMap<i16, (i16, i16)> {
        Connection::api_versions(self)
    }

    fn version<R: Request>(&self) -> Result<i16> {
        Connection::version::<R>(self)
    }

    fn call_raw<R: Request>(
        &mut self,
        request: &R,
        version: i16,
        deadline: Deadline,
    ) -> Result<R::Response> {
        Connection::call_raw(self, request, version, deadline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_names_are_short() {
        assert_eq!(api_name::<MetadataRequest>(), "Metadata");
    }

    /// A reader handing out `data` in pieces of at most `piece` bytes, as
    /// `Wire::read_exact` fills what it is given; it counts the bytes asked.
    fn reading<'a>(
        data: &'a [u8],
        asked: &'a mut usize,
    ) -> impl FnMut(&mut [u8]) -> std::result::Result<(), &'static str> + 'a {
        let mut at = 0;
        move |buf| {
            *asked += buf.len();
            let end = at + buf.len();
            let src = data.get(at..end).ok_or("the connection closed")?;
            buf.copy_from_slice(src);
            at = end;
            Ok(())
        }
    }

    #[test]
    fn a_frame_buffer_grows_with_what_arrives() {
        // 256 MiB announced, 100 bytes sent: the buffer never got past 64 KiB.
        let mut asked = 0;
        let e = read_frame(256 << 20, 512 << 20, reading(&[7; 100], &mut asked));
        assert!(matches!(e, Err(FrameError::Read("the connection closed"))));
        assert_eq!(asked, FIRST_READ);
        for len in [-1, i32::MIN] {
            let e = read_frame(len, MAX_RESPONSE_BYTES, reading(&[], &mut asked)).unwrap_err();
            assert!(
                matches!(e, FrameError::Size(ref s) if s == &format!("a size prefix of {len} bytes"))
            );
        }
        let e = read_frame(i32::MAX, MAX_RESPONSE_BYTES, reading(&[], &mut asked)).unwrap_err();
        assert!(
            matches!(e, FrameError::Size(ref s) if s.ends_with("over the 80 MiB kafkademo accepts"))
        );
    }

    proptest::proptest! {
        // No regression files: the repository's top level is fixed, and
        // a failure prints its minimal input.
        #![proptest_config(proptest::prelude::ProptestConfig {
            failure_persistence: None,
            ..proptest::prelude::ProptestConfig::default()
        })]
        #[test]
        fn frames_read_back_whole_and_never_ask_past_twice_what_came(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..140_000),
            len in -5i32..200_000,
        ) {
            let mut asked = 0;
            let got = read_frame(len, 1 << 20, reading(&data, &mut asked));
            match usize::try_from(len) {
                Err(_) => proptest::prop_assert!(matches!(got, Err(FrameError::Size(_)))),
                Ok(n) if n <= data.len() => {
                    let body = got.map_err(|_| "read failed").unwrap();
                    proptest::prop_assert_eq!(&body[..], &data[..n]);
                    proptest::prop_assert_eq!(asked, n);
                }
                Ok(_) => {
                    proptest::prop_assert!(matches!(got, Err(FrameError::Read(_))));
                    // What was asked for beyond what came: at most as much again.
                    proptest::prop_assert!(asked <= (2 * data.len()).max(FIRST_READ));
                }
            }
        }
    }
}
