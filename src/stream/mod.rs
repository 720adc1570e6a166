//! The stream processor's model, apart from Kafka and the terminal: time
//! windows, how a record's key and event time are found, and (in `task`)
//! one input partition's windowed counts with the position folded in, as
//! stored in the changelog. `commands::stream` moves records between Kafka
//! and these types.

pub mod filter;
pub mod task;

use serde_json::Value;

/// Window size, hop and grace in milliseconds; windows start at multiples
/// of the hop since the epoch, as in Kafka Streams' `TimeWindows`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Windows {
    pub size: i64,
    pub hop: i64,
    pub grace: i64,
}

impl Windows {
    /// The start of every window that holds `time`, oldest first.
    pub fn starts(&self, time: i64) -> impl Iterator<Item = i64> {
        let (size, hop) = (self.size, self.hop);
        // The oldest window that still holds `time` starts after time - size.
        let first = (time - size + hop).max(0).div_euclid(hop) * hop;
        (0..)
            .map(move |i| first + i * hop)
            .take_while(move |&start| start <= time && time < start + size)
    }

    /// A window is closed once stream time reaches its end plus grace:
    /// later records for it are dropped, and `--emit final` writes it.
    pub fn closed(&self, start: i64, stream_time: i64) -> bool {
        start + self.size + self.grace <= stream_time
    }
}

/// Where a record's key and event time come from.
#[derive(Debug, Clone, Default)]
pub struct Extract {
    /// A JSON field of the value instead of the record key.
    pub key_field: Option<String>,
    /// A JSON field of the value (ms since the epoch or RFC 3339) instead of
    /// the record's timestamp.
    pub time_field: Option<String>,
    /// Without `time_field`: the wall clock when the record is read instead
    /// of its timestamp (Kafka Streams' `WallclockTimestampExtractor`), so
    /// results depend on when they are read.
    pub wallclock: bool,
}

/// Why a record cannot be counted; the caller names the record.
#[derive(Debug, PartialEq, Eq)]
pub enum Unusable {
    NotJson,
    MissingField(String),
    BadTime(String),
    /// No usable record timestamp: none on the data path (`None`), or a
    /// negative one (`-1`: message format v0 has none, and Kafka stores -1).
    NoTimestamp(Option<i64>),
}

impl std::fmt::Display for Unusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unusable::NotJson => write!(f, "its value is not a JSON object"),
            Unusable::MissingField(name) => write!(f, "its value has no field '{name}'"),
            Unusable::BadTime(why) => write!(f, "its time field {why}"),
            Unusable::NoTimestamp(t) => {
                match t {
                    None => write!(
                        f,
                        "it has no timestamp (the classic data path reads message format v0, which has none)"
                    )?,
                    Some(-1) => write!(
                        f,
                        "it has no timestamp (-1: written as message format v0, or by a producer that set none)"
                    )?,
                    Some(t) => write!(f, "its timestamp {t} is before 1970")?,
                }
                write!(f, "; give --time-field NAME, or --timestamps wallclock")
            }
        }
    }
}

impl Extract {
    pub fn needs_json(&self) -> bool {
        self.key_field.is_some() || self.time_field.is_some()
    }

    /// The record's key and event time (ms since the epoch).
    pub fn key_and_time(
        &self,
        key: &[u8],
        value: &[u8],
        timestamp: Option<i64>,
    ) -> Result<(String, i64), Unusable> {
        let json = if self.needs_json() {
            match serde_json::from_slice::<Value>(value) {
                Ok(v @ Value::Object(_)) => Some(v),
                _ => return Err(Unusable::NotJson),
            }
        } else {
            None
        };
        let field = |name: &str| {
            json.as_ref()
                .and_then(|j| j.get(name))
                .ok_or_else(|| Unusable::MissingField(name.to_string()))
        };
        let key = match &self.key_field {
            Some(name) => match field(name)? {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            },
            None => String::from_utf8_lossy(key).into_owned(),
        };
        let time = match &self.time_field {
            Some(name) => parse_time(field(name)?)?,
            None if self.wallclock => wallclock_ms(),
            None => match timestamp {
                Some(t) if t >= 0 => t,
                other => return Err(Unusable::NoTimestamp(other)),
            },
        };
        Ok((key, time))
    }
}

/// Now, in ms since the epoch: a record's event time under `wallclock`.
fn wallclock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis().min(i64::MAX as u128) as i64)
}

fn parse_time(v: &Value) -> Result<i64, Unusable> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .filter(|ms| *ms >= 0)
            .ok_or_else(|| Unusable::BadTime(format!("{n} is not milliseconds since the epoch"))),
        Value::String(s) => match s.parse::<jiff::Timestamp>() {
            Ok(t) if t.as_millisecond() >= 0 => Ok(t.as_millisecond()),
            Ok(_) => Err(Unusable::BadTime(format!("'{s}' is before 1970"))),
            Err(_) => Err(Unusable::BadTime(format!("'{s}' is not an RFC 3339 time"))),
        },
        other => Err(Unusable::BadTime(format!("{other} is not a time"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(size: i64, hop: i64, grace: i64) -> Windows {
        Windows { size, hop, grace }
    }

    #[test]
    fn tumbling_windows_hold_each_time_once_aligned_to_the_epoch() {
        let t = w(10_000, 10_000, 0);
        assert_eq!(t.starts(0).collect::<Vec<_>>(), vec![0]);
        assert_eq!(t.starts(9_999).collect::<Vec<_>>(), vec![0]);
        assert_eq!(t.starts(10_000).collect::<Vec<_>>(), vec![10_000]);
        assert_eq!(
            t.starts(1_764_000_123_456).collect::<Vec<_>>(),
            vec![1_764_000_120_000]
        );
    }

    #[test]
    fn hopping_windows_hold_each_time_size_over_hop_times() {
        let h = w(10_000, 5_000, 0);
        assert_eq!(h.starts(12_000).collect::<Vec<_>>(), vec![5_000, 10_000]);
        assert_eq!(h.starts(10_000).collect::<Vec<_>>(), vec![5_000, 10_000]);
        assert_eq!(h.starts(3_000).collect::<Vec<_>>(), vec![0]);
        let h3 = w(9_000, 3_000, 0);
        assert_eq!(
            h3.starts(9_500).collect::<Vec<_>>(),
            vec![3_000, 6_000, 9_000]
        );
    }

    #[test]
    fn a_window_closes_at_its_end_plus_grace() {
        let t = w(10_000, 10_000, 2_000);
        assert!(!t.closed(0, 11_999));
        assert!(t.closed(0, 12_000));
    }

    #[test]
    fn key_and_time_come_from_the_record_or_from_json_fields() {
        let plain = Extract::default();
        assert_eq!(
            plain.key_and_time(b"A", b"2", Some(1_000)),
            Ok(("A".to_string(), 1_000))
        );
        assert_eq!(
            plain.key_and_time(b"A", b"2", None),
            Err(Unusable::NoTimestamp(None))
        );
        let json = Extract {
            key_field: Some("user".into()),
            time_field: Some("at".into()),
            wallclock: false,
        };
        assert_eq!(
            json.key_and_time(b"", br#"{"user":"ann","at":1500}"#, None),
            Ok(("ann".to_string(), 1_500))
        );
        assert_eq!(
            json.key_and_time(b"", br#"{"user":7,"at":"1970-01-01T00:00:02Z"}"#, None),
            Ok(("7".to_string(), 2_000))
        );
        assert_eq!(
            json.key_and_time(b"", br#"{"at":1}"#, None),
            Err(Unusable::MissingField("user".into()))
        );
        assert_eq!(json.key_and_time(b"", b"12", None), Err(Unusable::NotJson));
        assert!(matches!(
            json.key_and_time(b"", br#"{"user":"a","at":"soon"}"#, None),
            Err(Unusable::BadTime(_))
        ));
    }

    #[test]
    fn a_negative_timestamp_is_no_timestamp_and_names_the_fix() {
        let plain = Extract::default();
        // Kafka stores -1 for a record of message format v0 (no timestamp).
        assert_eq!(
            plain.key_and_time(b"A", b"2", Some(-1)),
            Err(Unusable::NoTimestamp(Some(-1)))
        );
        assert_eq!(
            plain.key_and_time(b"A", b"2", Some(-5)),
            Err(Unusable::NoTimestamp(Some(-5)))
        );
        assert_eq!(
            plain.key_and_time(b"A", b"2", Some(0)),
            Ok(("A".to_string(), 0))
        );
        assert_eq!(
            Unusable::NoTimestamp(Some(-1)).to_string(),
            "it has no timestamp (-1: written as message format v0, or by a producer that set none); \
             give --time-field NAME, or --timestamps wallclock"
        );
        assert_eq!(
            Unusable::NoTimestamp(Some(-5)).to_string(),
            "its timestamp -5 is before 1970; give --time-field NAME, or --timestamps wallclock"
        );
        // A time field before the epoch is no window's either.
        let json = Extract {
            time_field: Some("at".into()),
            ..Extract::default()
        };
        assert!(matches!(
            json.key_and_time(b"k", br#"{"at":"1969-12-31T23:59:59Z"}"#, Some(1)),
            Err(Unusable::BadTime(_))
        ));
        assert!(matches!(
            json.key_and_time(b"k", br#"{"at":-1}"#, Some(1)),
            Err(Unusable::BadTime(_))
        ));
    }

    #[test]
    fn wallclock_time_is_when_the_record_is_read_whatever_its_timestamp() {
        let wallclock = Extract {
            wallclock: true,
            ..Extract::default()
        };
        let before = wallclock_ms();
        for timestamp in [None, Some(-1), Some(1_000)] {
            let (key, time) = wallclock.key_and_time(b"A", b"2", timestamp).unwrap();
            assert_eq!(key, "A");
            assert!(before <= time && time <= wallclock_ms(), "{time}");
        }
    }
}
