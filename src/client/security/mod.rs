//! How kafkademo proves who it is and who the broker is: TLS (rustls) and
//! SASL (PLAIN, SCRAM-SHA-256/512), configured from the Java client's
//! properties (`security.protocol`, `sasl.*`, `ssl.*`). `Security` is built
//! once from those properties and shared by every connection; `tls` wraps a
//! socket, `sasl` authenticates on a connection, `scram` is the pure logic
//! of RFC 5802 (docs/security.md).

pub mod sasl;
pub mod scram;
pub mod tls;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::error::{Error, Result};

/// `security.protocol`: whether the connection is encrypted and whether it
/// authenticates with SASL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Plaintext => "PLAINTEXT",
            Protocol::Ssl => "SSL",
            Protocol::SaslPlaintext => "SASL_PLAINTEXT",
            Protocol::SaslSsl => "SASL_SSL",
        }
    }

    pub fn tls(self) -> bool {
        matches!(self, Protocol::Ssl | Protocol::SaslSsl)
    }

    pub fn sasl(self) -> bool {
        matches!(self, Protocol::SaslPlaintext | Protocol::SaslSsl)
    }
}

/// `sasl.mechanism`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    Plain,
    ScramSha256,
    ScramSha512,
}

impl Mechanism {
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        match s.trim().to_ascii_uppercase().as_str() {
            "PLAIN" => Ok(Mechanism::Plain),
            "SCRAM-SHA-256" => Ok(Mechanism::ScramSha256),
            "SCRAM-SHA-512" => Ok(Mechanism::ScramSha512),
            "GSSAPI" | "OAUTHBEARER" => Err(config_error(
                format!("sasl.mechanism {} is not supported", s.trim()),
                "kafkademo speaks PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512",
            )),
            _ => Err(config_error(
                format!("sasl.mechanism '{}' is not a SASL mechanism", s.trim()),
                "use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
            )),
        }
    }
}

/// A password: never printed, not even by `{:?}`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// SASL credentials for one mechanism.
#[derive(Debug, Clone)]
pub struct Sasl {
    pub mechanism: Mechanism,
    pub username: String,
    pub password: Secret,
}

/// Everything a connection needs to know about security, shared by all of them.
#[derive(Clone)]
pub struct Security {
    pub protocol: Protocol,
    pub sasl: Option<Sasl>,
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl fmt::Debug for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Security")
            .field("protocol", &self.protocol)
            .field("sasl", &self.sasl)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl Default for Security {
    fn default() -> Self {
        Security {
            protocol: Protocol::Plaintext,
            sasl: None,
            tls: None,
        }
    }
}

/// What building `Security` noticed and the user should hear about once:
/// unknown keys, host name verification turned off.
pub type Warnings = Vec<String>;

/// The keys kafkademo reads, Java client names first, then librdkafka's
/// (kcat's) names for the same things.
const KNOWN: &[&str] = &[
    "bootstrap.servers",
    "security.protocol",
    "sasl.mechanism",
    "sasl.jaas.config",
    "ssl.truststore.type",
    "ssl.truststore.location",
    "ssl.truststore.certificates",
    "ssl.keystore.type",
    "ssl.keystore.location",
    "ssl.keystore.key",
    "ssl.keystore.certificate.chain",
    "ssl.key.password",
    "ssl.keystore.password",
    "ssl.endpoint.identification.algorithm",
    "sasl.mechanisms",
    "sasl.username",
    "sasl.password",
    "ssl.ca.location",
    "ssl.certificate.location",
    "ssl.key.location",
];

impl Security {
    pub fn is_secured(&self) -> bool {
        self.protocol != Protocol::Plaintext
    }

    /// The SASL user name, for messages ("user alice is not authorized …").
    pub fn user(&self) -> Option<&str> {
        self.sasl.as_ref().map(|s| s.username.as_str())
    }

    /// Builds the security settings from client properties (already merged
    /// from the file and `-X`). Unknown keys come back as warnings.
    pub fn from_properties(props: &BTreeMap<String, String>) -> Result<(Security, Warnings)> {
        let mut warnings = Warnings::new();
        for key in props.keys() {
            if !KNOWN.contains(&key.as_str()) {
                warnings.push(format!("ignoring unknown client property '{key}'"));
            }
        }
        let get = |k: &str| props.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());

        let protocol = match get("security.protocol")
            .map(str::to_ascii_uppercase)
            .as_deref()
        {
            None | Some("PLAINTEXT") => Protocol::Plaintext,
            Some("SSL") => Protocol::Ssl,
            Some("SASL_PLAINTEXT") => Protocol::SaslPlaintext,
            Some("SASL_SSL") => Protocol::SaslSsl,
            Some(other) => {
                return Err(config_error(
                    format!("security.protocol '{other}' is not a Kafka security protocol"),
                    "use PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL",
                ))
            }
        };

        let sasl = if protocol.sasl() {
            Some(sasl_settings(props)?)
        } else {
            for key in ["sasl.mechanism", "sasl.jaas.config", "sasl.username"] {
                if get(key).is_some() {
                    warnings.push(format!(
                        "{key} is set but security.protocol is {}: no SASL on this connection",
                        protocol.name()
                    ));
                }
            }
            None
        };

        let tls = if protocol.tls() {
            let (config, tls_warnings) = tls::client_config(props)?;
            warnings.extend(tls_warnings);
            Some(Arc::new(config))
        } else {
            None
        };
        Ok((
            Security {
                protocol,
                sasl,
                tls,
            },
            warnings,
        ))
    }
}

/// The mechanism and credentials: `sasl.mechanism` with `sasl.jaas.config`
/// (Java), or `sasl.mechanisms` with `sasl.username`/`sasl.password` (kcat).
fn sasl_settings(props: &BTreeMap<String, String>) -> Result<Sasl> {
    let get = |k: &str| props.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let mechanism = match get("sasl.mechanism").or_else(|| get("sasl.mechanisms")) {
        Some(m) => Mechanism::parse(m)?,
        // Java's default.
        None => Mechanism::Plain,
    };
    if let Some(jaas) = props.get("sasl.jaas.config") {
        let login = parse_jaas(jaas)?;
        let expected = match mechanism {
            Mechanism::Plain => "org.apache.kafka.common.security.plain.PlainLoginModule",
            _ => "org.apache.kafka.common.security.scram.ScramLoginModule",
        };
        if login.module != expected {
            return Err(config_error(
                format!(
                    "sasl.jaas.config uses {}, which does not do {}",
                    login.module,
                    mechanism.name()
                ),
                format!("use {expected} for sasl.mechanism={}", mechanism.name()),
            ));
        }
        let username = login.options.get("username").cloned();
        let password = login.options.get("password").cloned();
        return match (username, password) {
            (Some(u), Some(p)) if !u.is_empty() => Ok(Sasl {
                mechanism,
                username: u,
                password: Secret(p),
            }),
            _ => Err(config_error(
                "sasl.jaas.config has no username and password options".into(),
                "e.g. ... required username=\"alice\" password=\"...\";",
            )),
        };
    }
    match (get("sasl.username"), props.get("sasl.password")) {
        (Some(u), Some(p)) => Ok(Sasl {
            mechanism,
            username: u.to_string(),
            password: Secret(p.clone()),
        }),
        _ => Err(config_error(
            format!(
                "security.protocol is SASL but no credentials are configured for {}",
                mechanism.name()
            ),
            "set sasl.jaas.config (or sasl.username and sasl.password)",
        )),
    }
}

/// A parsed JAAS login entry: `Module required key="value" ...;`.
#[derive(Debug)]
struct Login {
    module: String,
    options: BTreeMap<String, String>,
}

/// Parses one JAAS login entry. Errors never quote the text: it holds a password.
fn parse_jaas(text: &str) -> Result<Login> {
    let bad = |why: &str| {
        config_error(
            format!("sasl.jaas.config cannot be read: {why}"),
            "expected: org.apache.kafka.common.security.scram.ScramLoginModule required username=\"alice\" password=\"...\";",
        )
    };
    let mut chars = text.trim().chars().peekable();
    let word = |chars: &mut std::iter::Peekable<std::str::Chars>| {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut w = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() || c == '=' || c == ';' || c == '"' {
                break;
            }
            w.push(c);
            chars.next();
        }
        w
    };
    let module = word(&mut chars);
    if module.is_empty() {
        return Err(bad("no login module"));
    }
    let flag = word(&mut chars);
    if !["required", "requisite", "sufficient", "optional"].contains(&flag.as_str()) {
        return Err(bad(
            "the login module must be followed by a flag such as 'required'",
        ));
    }
    let mut options = BTreeMap::new();
    loop {
        let key = word(&mut chars);
        if key.is_empty() {
            match chars.next() {
                Some(';') | None => break,
                Some(_) => return Err(bad("expected an option name")),
            }
        }
        if chars.next() != Some('=') {
            return Err(bad("an option needs '=' and a value"));
        }
        let value = if chars.peek() == Some(&'"') {
            chars.next();
            let mut v = String::new();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some(c) => v.push(c),
                        None => return Err(bad("unterminated quoted value")),
                    },
                    Some(c) => v.push(c),
                    None => return Err(bad("unterminated quoted value")),
                }
            }
            v
        } else {
            word(&mut chars)
        };
        options.insert(key, value);
    }
    if chars.any(|c| !c.is_whitespace()) {
        return Err(bad("text after the closing ';' (one login entry only)"));
    }
    Ok(Login { module, options })
}

/// A configuration problem (exit 78), with a hint.
pub fn config_error(message: String, hint: impl Into<String>) -> Error {
    Error::Config {
        message,
        hint: Some(hint.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn jaas_entries_parse() {
        let l = parse_jaas(
            r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="a \"q\" b";"#,
        )
        .unwrap();
        assert_eq!(
            l.module,
            "org.apache.kafka.common.security.scram.ScramLoginModule"
        );
        assert_eq!(l.options["username"], "alice");
        assert_eq!(l.options["password"], "a \"q\" b");
        let l = parse_jaas("M required username=bob password=x;").unwrap();
        assert_eq!(l.options["password"], "x");
        assert!(parse_jaas("M username=\"a\";").is_err());
        assert!(parse_jaas("M required username=\"a").is_err());
    }

    #[test]
    fn jaas_errors_never_quote_the_password() {
        for text in [
            "M required password=\"hunter2",
            "M required password=\"hunter2\"; extra",
            "M reqd password=\"hunter2\";",
        ] {
            let e = parse_jaas(text).unwrap_err();
            let shown = format!("{e} {:?} {:?}", e.hint(), e);
            assert!(!shown.contains("hunter2"), "{shown}");
        }
    }

    #[test]
    fn sasl_from_java_and_kcat_keys() {
        let (s, w) = Security::from_properties(&props(&[
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            (
                "sasl.jaas.config",
                "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"alice\" password=\"pw\";",
            ),
        ]))
        .unwrap();
        assert!(w.is_empty(), "{w:?}");
        let sasl = s.sasl.unwrap();
        assert_eq!(sasl.mechanism, Mechanism::ScramSha512);
        assert_eq!(
            (sasl.username.as_str(), sasl.password.expose()),
            ("alice", "pw")
        );
        assert!(!format!("{sasl:?}").contains("pw\""));

        let (s, _) = Security::from_properties(&props(&[
            ("security.protocol", "sasl_plaintext"),
            ("sasl.mechanisms", "PLAIN"),
            ("sasl.username", "bob"),
            ("sasl.password", "pw"),
        ]))
        .unwrap();
        assert_eq!(s.user(), Some("bob"));
    }

    #[test]
    fn mismatched_module_and_unknown_keys() {
        let e = Security::from_properties(&props(&[
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", "PLAIN"),
            (
                "sasl.jaas.config",
                "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"a\" password=\"b\";",
            ),
        ]))
        .unwrap_err();
        assert!(e.to_string().contains("does not do PLAIN"), "{e}");
        let (_, w) = Security::from_properties(&props(&[("linger.ms", "5")])).unwrap();
        assert_eq!(w, ["ignoring unknown client property 'linger.ms'"]);
        assert!(Security::from_properties(&props(&[("security.protocol", "TLS")])).is_err());
        assert!(Security::from_properties(&props(&[
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "GSSAPI")
        ]))
        .is_err());
    }
}
