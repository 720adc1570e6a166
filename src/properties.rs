//! The client configuration as Kafka's tools take it: a Java
//! `.properties` file (`--command-config`, or `KAFKADEMO_COMMAND_CONFIG`)
//! with `-X key=value` overrides on top, as kcat takes them. This module
//! only reads text into keys and values; client::security gives them meaning.

use std::collections::BTreeMap;

use crate::error::{Error, Result};

pub type Properties = BTreeMap<String, String>;

/// The file's properties (if any) with the overrides applied in order.
pub fn load(file: Option<&std::path::Path>, overrides: &[String]) -> Result<Properties> {
    let mut props = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| Error::Config {
                message: format!("cannot read the client config {}: {e}", path.display()),
                hint: Some("--command-config (or KAFKADEMO_COMMAND_CONFIG) names a Java client.properties file".into()),
            })?;
            parse(&text).map_err(|(line, why)| Error::Config {
                message: format!("{}:{line}: {why}", path.display()),
                hint: None,
            })?
        }
        None => Properties::new(),
    };
    for o in overrides {
        match o.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                props.insert(k.trim().to_string(), v.to_string());
            }
            _ => {
                return Err(Error::Usage(format!(
                    "-X takes key=value (e.g. -X security.protocol=SSL), not '{}'",
                    if o.contains("password") || o.contains("jaas") {
                        "<redacted>"
                    } else {
                        o
                    }
                )))
            }
        }
    }
    Ok(props)
}

/// Parses Java properties text: `key=value`, `key: value` or `key value`,
/// `#` and `!` comments, `\` line continuations and escapes (`\t`, `\n`,
/// `\uXXXX`). Errors name the line, never its value.
pub fn parse(text: &str) -> std::result::Result<Properties, (usize, String)> {
    let mut props = Properties::new();
    let mut lines = text.lines().enumerate();
    while let Some((i, line)) = lines.next() {
        let first = i + 1;
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('!') {
            continue;
        }
        // Join continued lines: an odd number of trailing backslashes.
        let mut logical = trimmed.to_string();
        while ends_continued(&logical) {
            logical.pop();
            match lines.next() {
                Some((_, next)) => logical.push_str(next.trim_start()),
                None => break,
            }
        }
        let (key, value) = split(&logical);
        let key = unescape(key).map_err(|why| (first, why))?;
        let value = unescape(value).map_err(|why| (first, format!("the value of {key}: {why}")))?;
        props.insert(key, value);
    }
    Ok(props)
}

fn ends_continued(s: &str) -> bool {
    s.chars().rev().take_while(|&c| c == '\\').count() % 2 == 1
}

/// The key (up to the first unescaped `=`, `:` or blank) and the value.
fn split(line: &str) -> (&str, &str) {
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '=' | ':' => return (&line[..i], line[i + 1..].trim_start()),
            c if c.is_whitespace() => {
                let rest = line[i..].trim_start();
                let rest = rest
                    .strip_prefix(['=', ':'])
                    .map(str::trim_start)
                    .unwrap_or(rest);
                return (&line[..i], rest);
            }
            _ => {}
        }
    }
    (line, "")
}

fn unescape(s: &str) -> std::result::Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let ch = u32::from_str_radix(&hex, 16)
                    .ok()
                    .filter(|_| hex.len() == 4)
                    .and_then(char::from_u32)
                    .ok_or_else(|| "a \\u escape needs four hex digits".to_string())?;
                out.push(ch);
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_properties_syntax() {
        let p = parse(
            "# comment\n! also\n  a=1\nb : 2\nc 3\nd=\\\n   continued \\\n  twice\ne=C:\\\\path\\tx\nf=\\u0041b\nempty=\nk\\=ey=v\n",
        )
        .unwrap();
        assert_eq!(p["a"], "1");
        assert_eq!(p["b"], "2");
        assert_eq!(p["c"], "3");
        assert_eq!(p["d"], "continued twice");
        assert_eq!(p["e"], "C:\\path\tx");
        assert_eq!(p["f"], "Ab");
        assert_eq!(p["empty"], "");
        assert_eq!(p["k=ey"], "v");
        assert_eq!(p.len(), 8);
    }

    #[test]
    fn jaas_values_survive() {
        let p = parse(
            "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \\\n    username=\"alice\" \\\n    password=\"s=cr:et\";\n",
        )
        .unwrap();
        assert_eq!(
            p["sasl.jaas.config"],
            "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"alice\" password=\"s=cr:et\";"
        );
    }

    #[test]
    fn overrides_apply_and_bad_ones_hide_secrets() {
        let p = load(None, &["a=1".into(), "a=2".into(), "b=x=y".into()]).unwrap();
        assert_eq!((p["a"].as_str(), p["b"].as_str()), ("2", "x=y"));
        let e = load(None, &["sasl.password:hunter2".into()]).unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let e = parse("f=\\u00zz\n").unwrap_err();
        assert_eq!(e.0, 1);
    }
}
