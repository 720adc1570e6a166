//! SASL on a Kafka connection: SaslHandshake v1 names the mechanism, then
//! SaslAuthenticate carries PLAIN's one message or SCRAM's two rounds. The
//! broker's session lifetime (SaslAuthenticate v1+) comes back so the
//! connection can re-authenticate in time (KIP-368).

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::{SaslAuthenticateRequest, SaslHandshakeRequest};
use kafka_protocol::protocol::{Request, StrBytes};

use super::scram::{self, Hash};
use super::{Mechanism, Sasl};
use crate::client::deadline::Deadline;
use crate::error::{Error, Result};

const UNSUPPORTED_SASL_MECHANISM: i16 = 33;
const ILLEGAL_SASL_STATE: i16 = 34;
const SASL_AUTHENTICATION_FAILED: i16 = 58;

/// What SASL needs of a connection: where it goes, the broker's version
/// table, and one request answered before a deadline. `client::connection`
/// implements it; a trait, so that this module need not name the connection
/// that calls it (no dependency cycle).
pub trait Exchange {
    fn addr(&self) -> &str;
    fn api_versions(&self) -> &HashMap<i16, (i16, i16)>;
    fn version<R: Request>(&self) -> Result<i16>;
    fn call_raw<R: Request>(
        &mut self,
        request: &R,
        version: i16,
        deadline: Deadline,
    ) -> Result<R::Response>;
}

/// Authenticates `conn` with `creds` before `deadline`; the session's
/// lifetime if the broker limits it.
pub fn authenticate<C: Exchange>(
    conn: &mut C,
    creds: &Sasl,
    deadline: Deadline,
) -> Result<Option<Duration>> {
    let addr = conn.addr().to_string();
    let mech = creds.mechanism.name();
    let handshake_version = match conn.api_versions().get(&17) {
        Some(&(_, max)) if max >= 1 => 1,
        _ => {
            return Err(Error::Unsupported {
                addr,
                what: "SaslHandshake v1 (Kafka 1.0+)".into(),
            })
        }
    };
    let response = conn.call_raw(
        &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mech)),
        handshake_version,
        deadline,
    )?;
    match response.error_code {
        0 => {}
        UNSUPPORTED_SASL_MECHANISM => {
            let offered: Vec<&str> = response.mechanisms.iter().map(|m| m.as_str()).collect();
            return Err(Error::Config {
                message: format!(
                    "Kafka at {addr} does not offer {mech} on this listener (it offers {})",
                    if offered.is_empty() {
                        "none".to_string()
                    } else {
                        offered.join(", ")
                    }
                ),
                hint: Some("set sasl.mechanism to one it offers".into()),
            });
        }
        ILLEGAL_SASL_STATE => {
            return Err(Error::Config {
                message: format!("Kafka at {addr} does not expect SASL on this listener"),
                hint: Some(
                    "it is a PLAINTEXT or SSL listener: match security.protocol to it".into(),
                ),
            })
        }
        code => {
            return Err(Error::Protocol {
                addr,
                reason: format!(
                    "SaslHandshake failed with {}",
                    crate::client::codes::name(code)
                ),
            })
        }
    }

    let failed = || Error::Denied {
        message: format!(
            "authentication failed for user {} with {mech} at {addr}",
            creds.username
        ),
        hint: Some("check the user name and password (sasl.jaas.config)".into()),
    };
    let round = |conn: &mut C, bytes: Vec<u8>| -> Result<(Bytes, Option<Duration>)> {
        let version = conn.version::<SaslAuthenticateRequest>()?;
        let response = conn.call_raw(
            &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(bytes)),
            version,
            deadline,
        )?;
        match response.error_code {
            0 => {
                let lifetime = (response.session_lifetime_ms > 0)
                    .then(|| Duration::from_millis(response.session_lifetime_ms as u64));
                Ok((response.auth_bytes, lifetime))
            }
            SASL_AUTHENTICATION_FAILED => Err(failed()),
            code => Err(Error::Protocol {
                addr: addr.clone(),
                reason: format!(
                    "SaslAuthenticate failed with {}",
                    crate::client::codes::name(code)
                ),
            }),
        }
    };

    match creds.mechanism {
        Mechanism::Plain => {
            // authzid NUL authcid NUL password (RFC 4616); no authzid.
            let mut msg =
                Vec::with_capacity(creds.username.len() + creds.password.expose().len() + 2);
            msg.push(0);
            msg.extend_from_slice(creds.username.as_bytes());
            msg.push(0);
            msg.extend_from_slice(creds.password.expose().as_bytes());
            let (_, lifetime) = round(conn, msg)?;
            Ok(lifetime)
        }
        Mechanism::ScramSha256 | Mechanism::ScramSha512 => {
            let hash = if creds.mechanism == Mechanism::ScramSha256 {
                Hash::Sha256
            } else {
                Hash::Sha512
            };
            let nonce = scram::nonce().map_err(|why| Error::Protocol {
                addr: addr.clone(),
                reason: why,
            })?;
            let mut client = scram::Client::new(hash, &creds.username, nonce);
            let (server_first, _) = round(conn, client.first_message().into_bytes())?;
            let scram_error = |why: String| Error::Denied {
                message: format!("SCRAM with Kafka at {addr} failed: {why}"),
                hint: Some("is this a Kafka broker with SCRAM users?".into()),
            };
            let server_first = std::str::from_utf8(&server_first)
                .map_err(|_| scram_error("the challenge is not text".into()))?;
            let fin = client
                .final_message(server_first, creds.password.expose())
                .map_err(scram_error)?;
            let (server_final, lifetime) = round(conn, fin.into_bytes())?;
            let server_final = std::str::from_utf8(&server_final)
                .map_err(|_| scram_error("the final message is not text".into()))?;
            client.verify_server(server_final).map_err(scram_error)?;
            Ok(lifetime)
        }
    }
}
