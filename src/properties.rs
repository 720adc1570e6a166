//! The client configuration as Kafka's tools take it: a Java
//! `.properties` file (`--command-config`, or `KAFKADEMO_COMMAND_CONFIG`)
//! with `-X key=value` overrides on top, as kcat takes them. The file is read
//! as `java.util.Properties.load` reads it (ISO-8859-1, `\uXXXX`), so a file
//! means here what it means to Kafka's own tools, and written as
//! `Properties.store` writes it (`kafkademo profile add`). This module only
//! turns text into keys and values and back; client::security gives them
//! meaning.

use std::collections::BTreeMap;

use crate::error::{Error, Result};

pub type Properties = BTreeMap<String, String>;

/// The file's properties (if any) with the overrides applied in order.
pub fn load(file: Option<&std::path::Path>, overrides: &[String]) -> Result<Properties> {
    let mut props = match file {
        Some(path) => {
            let bytes = std::fs::read(path).map_err(|e| Error::Config {
                message: format!("cannot read the client config {}: {e}", path.display()),
                hint: Some("--command-config (or KAFKADEMO_COMMAND_CONFIG) names a Java client.properties file".into()),
            })?;
            parse(&latin1(&bytes)).map_err(|(line, why)| Error::Config {
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

/// Bytes as `Properties.load(InputStream)` reads them: ISO-8859-1, one
/// byte one character (so a file written in UTF-8 reads as Kafka's own
/// tools read it; anything else is written with `\uXXXX`).
pub fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// Java's blanks between and around keys and values: not Unicode's.
fn blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\u{c}')
}

/// Parses Java properties text as `java.util.Properties.load` does: logical
/// lines (a line ending in an odd number of `\` goes on, the next line's
/// leading blanks dropped; `\n`, `\r` and `\r\n` all end lines), `#` and `!`
/// comment lines, the key up to the first unescaped `=`, `:` or blank, and
/// escapes (`\t` `\n` `\r` `\f` `\uXXXX`, any other `\c` is `c`). Errors
/// name the line, never its value.
pub fn parse(text: &str) -> std::result::Result<Properties, (usize, String)> {
    let mut props = Properties::new();
    for (first, logical) in logical_lines(text) {
        let (key, value) = split(&logical);
        let key = unescape(key).map_err(|why| (first, why))?;
        let value = unescape(value).map_err(|why| (first, format!("the value of {key}: {why}")))?;
        props.insert(key, value);
    }
    Ok(props)
}

/// The logical lines, each with the number of the line it starts on
/// (java.util.Properties.LineReader).
fn logical_lines(text: &str) -> Vec<(usize, Vec<char>)> {
    // Natural lines, ended by \n, \r or \r\n.
    let mut natural = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = Vec::new();
    let mut ended = true;
    while let Some(c) = chars.next() {
        ended = false;
        match c {
            '\r' | '\n' => {
                if c == '\r' && chars.peek() == Some(&'\n') {
                    chars.next();
                }
                natural.push(std::mem::take(&mut line));
                ended = true;
            }
            c => line.push(c),
        }
    }
    if !ended {
        natural.push(line);
    }

    let mut out = Vec::new();
    let mut lines = natural.into_iter().enumerate();
    while let Some((i, line)) = lines.next() {
        let start = line.iter().position(|&c| !blank(c));
        let Some(start) = start else { continue };
        if matches!(line[start], '#' | '!') {
            continue;
        }
        let mut logical: Vec<char> = line[start..].to_vec();
        while ends_continued(&logical) {
            logical.pop();
            // The next line, its leading blanks dropped; an empty one (or
            // the end of the text) ends the logical line.
            match lines.next() {
                Some((_, next)) => {
                    let from = next.iter().position(|&c| !blank(c)).unwrap_or(next.len());
                    logical.extend_from_slice(&next[from..]);
                }
                None => break,
            }
        }
        out.push((i + 1, logical));
    }
    out
}

fn ends_continued(s: &[char]) -> bool {
    s.iter().rev().take_while(|&&c| c == '\\').count() % 2 == 1
}

/// The key (up to the first unescaped `=`, `:` or blank) and the value
/// (after blanks, at most one `=` or `:`, and blanks again).
fn split(line: &[char]) -> (&[char], &[char]) {
    let mut escaped = false;
    let mut key_end = line.len();
    let mut value_start = line.len();
    let mut has_separator = false;
    for (i, &c) in line.iter().enumerate() {
        if !escaped && (c == '=' || c == ':') {
            (key_end, value_start, has_separator) = (i, i + 1, true);
            break;
        }
        if !escaped && blank(c) {
            (key_end, value_start) = (i, i + 1);
            break;
        }
        escaped = c == '\\' && !escaped;
    }
    while let Some(&c) = line.get(value_start) {
        if !blank(c) {
            if !has_separator && (c == '=' || c == ':') {
                has_separator = true;
            } else {
                break;
            }
        }
        value_start += 1;
    }
    (&line[..key_end], &line[value_start..])
}

/// Java's loadConvert. `\uXXXX` escapes are UTF-16 code units: a surrogate
/// pair makes one character, a lone surrogate (which a Rust string cannot
/// hold) becomes U+FFFD.
fn unescape(s: &[char]) -> std::result::Result<String, String> {
    let mut units: Vec<u16> = Vec::with_capacity(s.len());
    let mut chars = s.iter().copied();
    while let Some(c) = chars.next() {
        let c = if c != '\\' {
            c
        } else {
            match chars.next() {
                Some('t') => '\t',
                Some('n') => '\n',
                Some('r') => '\r',
                Some('f') => '\u{c}',
                Some('u') => {
                    let hex: String = chars.by_ref().take(4).collect();
                    let unit = (hex.len() == 4 && hex.chars().all(|c| c.is_ascii_hexdigit()))
                        .then(|| u16::from_str_radix(&hex, 16).ok())
                        .flatten()
                        .ok_or_else(|| "a \\u escape needs four hex digits".to_string())?;
                    units.push(unit);
                    continue;
                }
                Some(other) => other,
                None => break,
            }
        };
        let mut buf = [0u16; 2];
        units.extend_from_slice(c.encode_utf16(&mut buf));
    }
    Ok(char::decode_utf16(units)
        .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect())
}

/// `key=value` lines as `java.util.Properties.store` writes them: pure
/// ASCII (anything else as `\uXXXX` UTF-16 units), so that `load` here and
/// Java's `load` read back exactly these keys and values.
pub fn store<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::new();
    for (k, v) in pairs {
        store_convert(k, true, &mut out);
        out.push('=');
        store_convert(v, false, &mut out);
        out.push('\n');
    }
    out
}

/// Java's saveConvert: every blank of a key escaped, a value's leading one;
/// the separators and comment marks escaped everywhere.
fn store_convert(s: &str, key: bool, out: &mut String) {
    for (i, c) in s.chars().enumerate() {
        match c {
            ' ' if key || i == 0 => out.push_str("\\ "),
            '\\' | '=' | ':' | '#' | '!' => {
                out.push('\\');
                out.push(c);
            }
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            c => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04X}"));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_store_writes_parse_reads_back() {
        let pairs = [
            ("plain", "value"),
            ("sp ace key", " lead and trail "),
            ("k=e:y#!", "a=b:c#d!e"),
            ("back\\slash", "C:\\path"),
            ("lines", "one\ntwo\r\tthree\u{c}"),
            ("latin", "caf\u{e9} \u{ff}"),
            ("wide", "\u{1f600} \u{4e2d}"),
            ("", "empty key"),
            ("empty", ""),
        ];
        let text = store(pairs);
        assert!(text.is_ascii(), "{text}");
        let back = parse(&latin1(text.as_bytes())).unwrap();
        for (k, v) in pairs {
            assert_eq!(back.get(k).map(String::as_str), Some(v), "{k:?} in {text}");
        }
        assert_eq!(back.len(), pairs.len());
        assert!(text.contains("wide=\\uD83D\\uDE00 \\u4E2D\n"), "{text}");
    }

    /// Each key and value as `java.util.Properties` printed them (the
    /// expected texts below are a Java 17 program's output for these bytes).
    fn dump(p: &Properties) -> String {
        let esc = |s: &str| {
            let mut out = String::from('"');
            for c in s.chars() {
                match c {
                    '"' | '\\' => {
                        out.push('\\');
                        out.push(c);
                    }
                    ' '..='~' => out.push(c),
                    c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
                }
            }
            out.push('"');
            out
        };
        p.iter()
            .map(|(k, v)| format!("{} => {}", esc(k), esc(v)))
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn reads_as_java_util_properties_does() {
        let cases: [(&[u8], &str); 8] = [
        (
            b"# comment\n! also\n  a=1\nb : 2\nc 3\nd=\\\n   continued \\\n  twice\ne=C:\\\\path\\tx\nf=\\u0041b\nempty=\nk\\=ey=v\n",
            r##""a" => "1"
"b" => "2"
"c" => "3"
"d" => "continued twice"
"e" => "C:\\path\u{9}x"
"empty" => ""
"f" => "Ab"
"k=ey" => "v""##,
        ),
        (
            b"a  =  b\nc:=d\ne = = f\ng\t\x0ch\ni\\ j=k\\:l\nm\\\\=n\no\n:p\n",
            r##""" => "p"
"a" => "b"
"c" => "=d"
"e" => "= f"
"g" => "h"
"i j" => "k:l"
"m\\" => "n"
"o" => """##,
        ),
        (
            b"a=1\\\n\n b=2\nc=x\\\n   # not a comment\nd=\\\\\\\n  y\ne=end\\",
            r##""a" => "1"
"b" => "2"
"c" => "x# not a comment"
"d" => "\\y"
"e" => "end""##,
        ),
        (
            b"a=1\r\nb=2\rc=3\\\r\n  4\r\nd=\\\r  5",
            r##""a" => "1"
"b" => "2"
"c" => "34"
"d" => "5""##,
        ),
        (
            b"caf\xe9=cr\xe8me\nutf8=\xc3\xa9\nnbsp\xa0key=v\nsp=\xa0lead\n",
            r##""caf\u{e9}" => "cr\u{e8}me"
"nbsp\u{a0}key" => "v"
"sp" => "\u{a0}lead"
"utf8" => "\u{c3}\u{a9}""##,
        ),
        (
            b"k=\\u00e9\\u4e2d\\uD83D\\uDE00x\n\\u0041=\\u003d\nt=\\z\\q\\\\\n",
            r##""A" => "="
"k" => "\u{e9}\u{4e2d}\u{1f600}x"
"t" => "zq\\""##,
        ),
        (
            b"# comment \\\nnext=1\n  ! bang \\\nx=2\n\\#notcomment=3\n",
            r##""#notcomment" => "3"
"next" => "1"
"x" => "2""##,
        ),
        (
            b"   \n\t\n\x0c\nkey\nkey2   \n",
            r##""key" => ""
"key2" => """##,
        ),
        ];
        for (bytes, java) in cases {
            let p = parse(&latin1(bytes)).unwrap();
            assert_eq!(dump(&p), java, "{}", String::from_utf8_lossy(bytes));
        }
    }

    #[test]
    fn a_short_unicode_escape_names_its_line() {
        assert_eq!(parse("a=1\nb=\\u12\n").unwrap_err().0, 2);
        assert_eq!(parse("a=1\n\\\n  b=\\u00zz\n").unwrap_err().0, 2);
    }

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
