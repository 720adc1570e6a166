//! `consume --format '%t [%p] @%o %k: %s'`: kcat's `-f` format strings, so
//! a kcat user's line layouts work here. Parsed once into pieces (a bad
//! letter is a usage error before anything is read), then filled per record.
//! Keys, values and headers are escaped as in the text format, so one record
//! stays one line.

use std::fmt::Write as _;

use crate::client::fetch::Consumed;
use crate::render::escape;

/// The help text's table of what a format string may hold.
pub const HELP: &str = "Format strings (--format FORMAT holding '%', kcat's -f letters): %t topic, %p partition, %o offset, %k key, %s value, %K key size, \
%S value size (bytes), %T timestamp (ms since the epoch, -1 without one), %h headers \
(k=v,k=v), %% a percent sign; \\n \\t \\r \\\\ and \\xNN as in kcat.";

const LETTERS: &str = "(letters: %t %p %o %k %s %K %S %T %h %%; see --help)";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Topic,
    Partition,
    Offset,
    Key,
    KeySize,
    Value,
    ValueSize,
    Timestamp,
    Headers,
}

/// A parsed format string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
}

impl std::str::FromStr for Template {
    type Err = String;

    fn from_str(s: &str) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '%' => {
                    let piece = match chars.next() {
                        Some('t') => Piece::Topic,
                        Some('p') => Piece::Partition,
                        Some('o') => Piece::Offset,
                        Some('k') => Piece::Key,
                        Some('K') => Piece::KeySize,
                        Some('s') => Piece::Value,
                        Some('S') => Piece::ValueSize,
                        Some('T') => Piece::Timestamp,
                        Some('h') => Piece::Headers,
                        Some('%') => {
                            text.push('%');
                            continue;
                        }
                        Some('R') => {
                            return Err("%R (kcat's binary value size) is not supported: \
                                        the output is text lines; %S gives the size"
                                .into())
                        }
                        Some(other) => {
                            return Err(format!("unknown format letter %{other} {LETTERS}"))
                        }
                        None => return Err(format!("the format ends in a lone % {LETTERS}")),
                    };
                    if !text.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut text)));
                    }
                    pieces.push(piece);
                }
                '\\' => match chars.next() {
                    Some('n') => text.push('\n'),
                    Some('t') => text.push('\t'),
                    Some('r') => text.push('\r'),
                    Some('\\') => text.push('\\'),
                    Some('x') => {
                        let hex: String =
                            std::iter::from_fn(|| chars.next_if(|h| h.is_ascii_hexdigit()))
                                .take(2)
                                .collect();
                        let byte = u8::from_str_radix(&hex, 16)
                            .ok()
                            .filter(|b| b.is_ascii())
                            .ok_or_else(|| format!("\\x takes two hex digits of an ASCII character, not '\\x{hex}'"))?;
                        text.push(byte as char);
                    }
                    Some(other) => {
                        text.push('\\');
                        text.push(other);
                    }
                    None => text.push('\\'),
                },
                c => text.push(c),
            }
        }
        // One record, one line: kcat's formats end in \n, ours may or may not.
        if text.ends_with('\n') {
            text.pop();
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Ok(Template { pieces })
    }
}

impl Template {
    /// The record as the template says (without the final newline).
    pub fn write(&self, r: &Consumed, out: &mut String) {
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Topic => out.push_str(&r.topic),
                Piece::Partition => {
                    let _ = write!(out, "{}", r.partition);
                }
                Piece::Offset => {
                    let _ = write!(out, "{}", r.offset);
                }
                Piece::Key => {
                    escape(&r.key, out);
                }
                Piece::KeySize => {
                    let _ = write!(out, "{}", r.key.len());
                }
                Piece::Value => {
                    escape(&r.value, out);
                }
                Piece::ValueSize => {
                    let _ = write!(out, "{}", r.value.len());
                }
                Piece::Timestamp => {
                    let _ = write!(out, "{}", r.timestamp.map_or(-1, |t| t.ms));
                }
                Piece::Headers => {
                    for (i, (k, v)) in r.headers.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        escape(k.as_bytes(), out);
                        out.push('=');
                        if let Some(v) = v {
                            escape(v, out);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::fetch::Timestamp;

    fn line(format: &str, r: &Consumed) -> String {
        let t: Template = format.parse().unwrap();
        let mut s = String::new();
        t.write(r, &mut s);
        s
    }

    #[test]
    fn kcat_letters_fill_in() {
        let r = Consumed {
            topic: "t".into(),
            partition: 2,
            offset: 41,
            key: b"k1".to_vec(),
            value: b"hello\x1b".to_vec(),
            timestamp: Some(Timestamp {
                ms: 1_764_583_200_000,
                log_append: false,
            }),
            headers: vec![("a".into(), Some(b"1".to_vec())), ("b".into(), None)],
            producer: None,
        };
        assert_eq!(
            line("%t [%p] @%o %k: %s\\n", &r),
            "t [2] @41 k1: hello\\x1b"
        );
        assert_eq!(
            line("%K %S %T %h 100%%", &r),
            "2 6 1764583200000 a=1,b= 100%"
        );
        assert_eq!(line("%o\\t%s\\x21", &r), "41\thello\\x1b!");
        assert_eq!(line("%T", &Consumed::default()), "-1");
    }

    #[test]
    fn unknown_letters_are_refused() {
        assert!("%q".parse::<Template>().unwrap_err().contains("%q"));
        assert!("%".parse::<Template>().is_err());
        assert!("%R".parse::<Template>().unwrap_err().contains("%S"));
        assert!("\\xZZ".parse::<Template>().is_err());
    }
}
