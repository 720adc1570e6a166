//! TLS with rustls (pure Rust, ring for the cryptography): the client
//! configuration from `ssl.*` properties (PEM trust store and key store, as
//! Kafka's Java client reads them, or kcat's `ssl.*.location` names), and
//! every rustls failure turned into one line that says what to fix.

use std::collections::BTreeMap;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{AlertDescription, CertificateError, DigitallySignedStruct, SignatureScheme};

use super::{config_error, Warnings};
use crate::error::{Error, Result};

/// The rustls client configuration for `props`, and what to warn about.
pub fn client_config(props: &BTreeMap<String, String>) -> Result<(rustls::ClientConfig, Warnings)> {
    let get = |k: &str| props.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let mut warnings = Warnings::new();

    for (key, what) in [
        ("ssl.truststore.type", "trust store"),
        ("ssl.keystore.type", "key store"),
    ] {
        if let Some(t) = get(key) {
            if !t.eq_ignore_ascii_case("PEM") {
                return Err(config_error(
                    format!("{key} {t} is not supported: kafkademo reads a PEM {what}"),
                    "convert it to PEM (keytool -exportcert -rfc, openssl pkcs12 -nodes) and set the type to PEM",
                ));
            }
        }
    }

    // Whom to trust: the configured CA certificates, else the system's.
    let mut roots = rustls::RootCertStore::empty();
    let anchors: Vec<CertificateDer<'static>> = if let Some(path) =
        get("ssl.truststore.location").or_else(|| get("ssl.ca.location"))
    {
        let certs = read_certs_file(path, "ssl.truststore.location")?;
        if certs.is_empty() {
            return Err(config_error(
                format!("ssl.truststore.location {path} holds no PEM certificate"),
                "it must hold the CA certificate(s) that signed the brokers' certificates",
            ));
        }
        certs
    } else if let Some(pem) = get("ssl.truststore.certificates") {
        pem_certs(pem.as_bytes(), "ssl.truststore.certificates")?
    } else {
        let found = rustls_native_certs::load_native_certs();
        if found.certs.is_empty() {
            return Err(config_error(
                    "no trusted CA: ssl.truststore.location is not set and the system has no CA certificates".into(),
                    "set ssl.truststore.location to the PEM file of the CA that signed the brokers' certificates",
                ));
        }
        found.certs
    };
    let (added, _ignored) = roots.add_parsable_certificates(anchors);
    if added == 0 {
        return Err(config_error(
            "none of the trusted certificates could be read".into(),
            "ssl.truststore.location must hold PEM CA certificates",
        ));
    }
    let roots = Arc::new(roots);

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| config_error(format!("TLS setup failed: {e}"), "report this as a bug"))?;

    let verify_names =
        match props.get("ssl.endpoint.identification.algorithm") {
            None => true,
            Some(v) if v.trim().eq_ignore_ascii_case("https") => true,
            Some(v) if v.trim().is_empty() => false,
            Some(v) => return Err(config_error(
                format!(
                    "ssl.endpoint.identification.algorithm '{}' is not known",
                    v.trim()
                ),
                "leave it out (or set https) to verify host names; set it empty to turn that off",
            )),
        };
    let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider)
        .build()
        .map_err(|e| {
            config_error(
                format!("TLS setup failed: {e}"),
                "check ssl.truststore.location",
            )
        })?;
    let builder = if verify_names {
        builder.with_webpki_verifier(webpki)
    } else {
        warnings.push(
            "ssl.endpoint.identification.algorithm is empty: the brokers' certificates are checked \
             against the trusted CAs but not against their host names, so anyone holding a \
             certificate from those CAs can pose as a broker"
                .into(),
        );
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyName(webpki)))
    };

    // Mutual TLS: our own key and certificate chain, if configured.
    let key_store = get("ssl.keystore.location");
    let chain_pem = get("ssl.keystore.certificate.chain");
    let key_pem = get("ssl.keystore.key");
    let cert_file = get("ssl.certificate.location");
    let key_file = get("ssl.key.location");
    // An encrypted PKCS#8 key is opened with ssl.key.password, as Java's
    // PEM key store requires for a key in a file.
    let key_password = props.get("ssl.key.password").map(String::as_str);
    let identity = if let Some(path) = key_store {
        let bytes = read_file(path, "ssl.keystore.location")?;
        Some((
            pem_certs(&bytes, "ssl.keystore.location")?,
            pem_key(&bytes, key_password, "ssl.keystore.location")?,
        ))
    } else if let (Some(chain), Some(key)) = (chain_pem, key_pem) {
        Some((
            pem_certs(chain.as_bytes(), "ssl.keystore.certificate.chain")?,
            pem_key(key.as_bytes(), key_password, "ssl.keystore.key")?,
        ))
    } else if let (Some(cert), Some(key)) = (cert_file, key_file) {
        Some((
            read_certs_file(cert, "ssl.certificate.location")?,
            pem_key(
                &read_file(key, "ssl.key.location")?,
                key_password,
                "ssl.key.location",
            )?,
        ))
    } else {
        if chain_pem.is_some() != key_pem.is_some() || cert_file.is_some() != key_file.is_some() {
            return Err(config_error(
                "a client certificate needs both its chain and its key".into(),
                "set ssl.keystore.location (one PEM with key and chain), or both ssl.keystore.certificate.chain and ssl.keystore.key",
            ));
        }
        None
    };
    let mut config = match identity {
        Some((chain, key)) => {
            if chain.is_empty() {
                return Err(config_error(
                    "the client key store holds a key but no certificate".into(),
                    "put the PEM certificate (and its chain) beside the key",
                ));
            }
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                config_error(
                    format!("the client certificate and key do not go together: {e}"),
                    "the key must be the certificate's private key, in PKCS#8, PKCS#1 or SEC1 PEM",
                )
            })?
        }
        None => builder.with_no_client_auth(),
    };
    // Kafka does not negotiate ALPN; a 0-RTT resumption buys nothing here.
    config.enable_early_data = false;
    Ok((config, warnings))
}

fn read_file(path: &str, key: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        config_error(
            format!("cannot read {key} {path}: {e}"),
            "paths are relative to the directory kafkademo runs in",
        )
    })
}

fn read_certs_file(path: &str, key: &str) -> Result<Vec<CertificateDer<'static>>> {
    pem_certs(&read_file(path, key)?, &format!("{key} {path}"))
}

fn pem_certs(bytes: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>> {
    CertificateDer::pem_slice_iter(bytes)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| {
            config_error(
                format!("{what}: not PEM certificates ({e})"),
                "expected -----BEGIN CERTIFICATE----- blocks",
            )
        })
}

/// The private key of a PEM text: plain (PKCS#8, PKCS#1, SEC1), or an
/// ENCRYPTED PRIVATE KEY (PKCS#8 with PBES2) opened with `password`.
fn pem_key(bytes: &[u8], password: Option<&str>, what: &str) -> Result<PrivateKeyDer<'static>> {
    const BEGIN: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----";
    const END: &str = "-----END ENCRYPTED PRIVATE KEY-----";
    let text = String::from_utf8_lossy(bytes);
    if let Some(start) = text.find(BEGIN) {
        let body = &text[start + BEGIN.len()..];
        let body = body.find(END).map(|end| &body[..end]).ok_or_else(|| {
            config_error(
                format!("{what}: the encrypted private key has no END line"),
                "the PEM block is cut short",
            )
        })?;
        let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
        let der = {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.decode(b64)
        }
        .map_err(|_| {
            config_error(
                format!("{what}: the encrypted private key is not base64"),
                "the PEM block is damaged",
            )
        })?;
        let Some(password) = password else {
            return Err(config_error(
                format!("{what}: the private key is encrypted and ssl.key.password is not set"),
                "set ssl.key.password",
            ));
        };
        let info = pkcs8::EncryptedPrivateKeyInfoRef::try_from(der.as_slice()).map_err(|e| {
            config_error(
                format!("{what}: not an encrypted PKCS#8 key ({e})"),
                "convert it with openssl pkcs8 -topk8 -v2 aes-256-cbc",
            )
        })?;
        let plain = info.decrypt(password).map_err(|_| {
            config_error(
                format!("{what}: cannot decrypt the private key with ssl.key.password"),
                "check ssl.key.password (PBES2 with AES is supported)",
            )
        })?;
        return Ok(PrivateKeyDer::Pkcs8(plain.as_bytes().to_vec().into()));
    }
    PrivateKeyDer::from_pem_slice(bytes).map_err(|_| {
        config_error(
            format!("{what}: no PEM private key found"),
            "expected a -----BEGIN PRIVATE KEY----- (or ENCRYPTED, RSA or EC PRIVATE KEY) block",
        )
    })
}

/// The web PKI's checks without the host name check
/// (`ssl.endpoint.identification.algorithm=`).
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// The name the broker's certificate must carry: the host of `addr`.
pub fn server_name(addr: &str) -> Result<ServerName<'static>> {
    let host = match addr.rsplit_once(':') {
        Some((h, _)) => h,
        None => addr,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_string()).map_err(|_| {
        config_error(
            format!("'{host}' is not a host name TLS can verify"),
            "give the broker as host:port",
        )
    })
}

/// One line for a TLS failure at `addr`; `client_cert` says whether we
/// offered a certificate of our own.
pub fn error(addr: &str, e: &rustls::Error, client_cert: bool) -> Error {
    let denied = |message: String, hint: &str| Error::Denied {
        message,
        hint: Some(hint.to_string()),
    };
    let host = server_name(addr)
        .map(|n| n.to_str().into_owned())
        .unwrap_or_else(|_| addr.to_string());
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer => denied(
                format!("the TLS certificate of Kafka at {addr} is not signed by a CA kafkademo trusts"),
                "set ssl.truststore.location to the PEM file of the CA that signed the broker's certificate",
            ),
            CertificateError::Expired => denied(
                format!("the TLS certificate of Kafka at {addr} has expired"),
                "the broker needs a new certificate",
            ),
            CertificateError::ExpiredContext { not_after, .. } => denied(
                format!(
                    "the TLS certificate of Kafka at {addr} has expired: it was valid until {}",
                    date(*not_after)
                ),
                "the broker needs a new certificate",
            ),
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => denied(
                format!("the TLS certificate of Kafka at {addr} is not valid yet"),
                "check the clocks of this machine and the broker",
            ),
            CertificateError::NotValidForName => denied(
                format!("the TLS certificate of Kafka at {addr} is not for host {host}"),
                "connect by a name the certificate lists",
            ),
            CertificateError::NotValidForNameContext { presented, .. } => denied(
                format!(
                    "the TLS certificate of Kafka at {addr} is for {}, not for host {host}",
                    if presented.is_empty() {
                        "no host name".to_string()
                    } else {
                        presented.iter().map(|n| bare_name(n)).collect::<Vec<_>>().join(", ")
                    }
                ),
                "connect by a name the certificate lists (host name verification can be turned off with ssl.endpoint.identification.algorithm= , which is unsafe)",
            ),
            other => denied(
                format!("the TLS certificate of Kafka at {addr} is not acceptable: {other:?}"),
                "check the broker's certificate and ssl.truststore.location",
            ),
        },
        rustls::Error::AlertReceived(alert) => {
            let hint = match alert {
                _ if !client_cert
                    && matches!(
                        alert,
                        AlertDescription::CertificateRequired
                            | AlertDescription::HandshakeFailure
                            | AlertDescription::BadCertificate
                            | AlertDescription::CertificateUnknown
                    ) =>
                {
                    "the listener requires a client certificate: set ssl.keystore.location (PEM key and certificate)"
                }
                AlertDescription::CertificateRequired | AlertDescription::HandshakeFailure => {
                    "the listener may require a client certificate: set ssl.keystore.location (PEM key and certificate)"
                }
                AlertDescription::BadCertificate
                | AlertDescription::UnknownCA
                | AlertDescription::CertificateUnknown
                | AlertDescription::CertificateExpired => {
                    "the broker does not accept our client certificate: it must be valid and signed by a CA in the broker's trust store"
                }
                _ => "check security.protocol and the ssl.* settings against the listener",
            };
            denied(
                format!("Kafka at {addr} refused the TLS connection (alert: {alert:?})"),
                hint,
            )
        }
        rustls::Error::InvalidMessage(_)
        | rustls::Error::InappropriateMessage { .. }
        | rustls::Error::InappropriateHandshakeMessage { .. } => Error::Config {
            message: format!("Kafka at {addr} does not speak TLS on this port"),
            hint: Some(
                "is it a PLAINTEXT or SASL_PLAINTEXT listener? match security.protocol to the listener"
                    .into(),
            ),
        },
        other => Error::Protocol {
            addr: addr.to_string(),
            reason: format!("TLS failed: {other}"),
        },
    }
}

/// "IpAddress(127.0.0.1)" or "DnsName(\"h\")", as rustls names a
/// certificate's subject names, as the bare name.
fn bare_name(n: &str) -> String {
    let inner = n
        .split_once('(')
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .unwrap_or(n);
    inner.trim_matches('"').to_string()
}

/// A certificate time as an RFC 3339 date.
fn date(t: UnixTime) -> String {
    jiff::Timestamp::from_second(t.as_secs() as i64)
        .map(|ts| ts.to_string())
        .unwrap_or_else(|_| format!("{} s after the epoch", t.as_secs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_from_addresses() {
        assert_eq!(server_name("127.0.0.1:9094").unwrap().to_str(), "127.0.0.1");
        assert_eq!(server_name("[::1]:9094").unwrap().to_str(), "::1");
        assert_eq!(
            server_name("kafka.example:9094").unwrap().to_str(),
            "kafka.example"
        );
    }

    #[test]
    fn only_pem_stores() {
        let props: BTreeMap<String, String> = [("ssl.truststore.type", "JKS")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let e = client_config(&props).unwrap_err();
        assert!(e.to_string().contains("JKS is not supported"), "{e}");
    }
}
