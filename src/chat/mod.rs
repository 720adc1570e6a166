//! What a chat room is made of, apart from any I/O and from how it is
//! shown: the rules for user and room names, the JSON record every member
//! writes (docs/chat.md), typed input, and who is present, worked out from
//! join/leave notices and heartbeats. `screen` shows records;
//! `commands/chat.rs` does the I/O.

pub mod screen;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::render::escape;

pub const MAX_USER_CHARS: usize = 32;
pub const MAX_ROOM_CHARS: usize = 64;
/// Time between two heartbeats of a member, unless `--heartbeat` says otherwise.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(2);
pub const MIN_HEARTBEAT: Duration = Duration::from_millis(100);
pub const MAX_HEARTBEAT: Duration = Duration::from_secs(20);
/// A member is gone once this many of its heartbeats are overdue.
pub const MISSED_HEARTBEATS: u32 = 3;
/// How far back a joining member reads the presence topic: long enough to
/// see one heartbeat of every member, even one beating every MAX_HEARTBEAT.
pub const PRESENCE_LOOKBACK: Duration = Duration::from_secs(60);

/// A user name: 1 to 32 characters, none of them control characters, not
/// only spaces. Anything else (letters of any script, spaces, emoji) is fine.
pub fn validate_user(name: &str) -> Result<()> {
    let bad = |rule: &str| {
        Err(Error::Usage(format!(
            "invalid user name '{}': {rule}",
            name.escape_debug()
        )))
    };
    if name.trim().is_empty() {
        return bad("it must not be empty");
    }
    let chars = name.chars().count();
    if chars > MAX_USER_CHARS {
        return bad(&format!(
            "it is {chars} characters long; the limit is {MAX_USER_CHARS}"
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|&c| c.is_control() || is_invisible_format(c))
    {
        return bad(&format!(
            "it contains the control character {}",
            c.escape_unicode()
        ));
    }
    Ok(())
}

/// Zero-width and text-direction characters: invisible, and able to make
/// one name look like another (or reverse the rest of a line).
fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

/// A room name becomes part of topic names, so it keeps to letters, digits,
/// '_' and '-'; no '.', so room `a` (presence topic `chat.a.presence`) and a
/// room `a.presence` cannot collide.
pub fn validate_room(name: &str) -> Result<()> {
    let bad = |rule: &str| {
        Err(Error::Usage(format!(
            "invalid room name '{}': {rule}",
            name.escape_debug()
        )))
    };
    if name.is_empty() {
        return bad("it must not be empty");
    }
    if name.chars().count() > MAX_ROOM_CHARS {
        return bad(&format!("the limit is {MAX_ROOM_CHARS} characters"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-')))
    {
        return bad(&format!(
            "'{}' is not allowed; use ASCII letters, digits, '_' and '-'",
            c.escape_debug()
        ));
    }
    Ok(())
}

/// The topic holding a room's messages and join/leave notices.
pub fn room_topic(room: &str) -> String {
    format!("chat.{room}")
}

/// The topic holding a room's heartbeats (and join/leave again, for presence).
pub fn presence_topic(room: &str) -> String {
    format!("chat.{room}.presence")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Message,
    Join,
    Leave,
    Heartbeat,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Message => "message",
            Kind::Join => "join",
            Kind::Leave => "leave",
            Kind::Heartbeat => "heartbeat",
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "message" => Kind::Message,
            "join" => Kind::Join,
            "leave" => Kind::Leave,
            "heartbeat" => Kind::Heartbeat,
            _ => return None,
        })
    }
}

/// One chat record. `session` tells apart two processes of one user;
/// `heartbeat_ms` is the sender's heartbeat interval, so every reader
/// expires it on its own schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatRecord {
    pub kind: Kind,
    pub user: String,
    pub text: String,
    pub sent_at_ms: i64,
    pub session: Option<String>,
    pub heartbeat_ms: Option<u64>,
}

/// The record as it is written: fields in this order, the optional ones
/// left out when absent (docs/chat.md).
#[derive(Serialize)]
struct WireOut<'a> {
    kind: &'a str,
    user: &'a str,
    text: &'a str,
    sent_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    session: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    heartbeat_ms: Option<u64>,
}

/// The record as read: any writer's fields are taken as they come, so that
/// a wrong type is reported as "\"user\" is not a string", not as serde's
/// message (null and absent are the same).
#[derive(Deserialize)]
struct WireIn {
    kind: Option<Loose<String>>,
    user: Option<Loose<String>>,
    text: Option<Loose<String>>,
    sent_at: Option<Loose<String>>,
    session: Option<Loose<String>>,
    heartbeat_ms: Option<Loose<u64>>,
}

/// A field of the expected type, or anything else.
#[derive(Deserialize)]
#[serde(untagged)]
enum Loose<T> {
    Is(T),
    Other(serde::de::IgnoredAny),
}

/// The field's value, None when absent or null, or the error for a value
/// of another type.
fn field<T>(value: Option<Loose<T>>, error: impl FnOnce() -> String) -> Result<Option<T>, String> {
    match value {
        None => Ok(None),
        Some(Loose::Is(v)) => Ok(Some(v)),
        Some(Loose::Other(_)) => Err(error()),
    }
}

impl ChatRecord {
    pub fn encode(&self) -> Vec<u8> {
        let wire = WireOut {
            kind: self.kind.name(),
            user: &self.user,
            text: &self.text,
            sent_at: rfc3339_millis(self.sent_at_ms),
            session: self.session.as_deref(),
            heartbeat_ms: self.heartbeat_ms,
        };
        // Serializing plain strings and numbers cannot fail.
        serde_json::to_vec(&wire).unwrap_or_default()
    }

    /// The record in `bytes`, or why it is not one (one line, for display).
    pub fn decode(bytes: &[u8]) -> std::result::Result<ChatRecord, String> {
        // An object first: a JSON array would otherwise fill the fields in order.
        let object: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(bytes)
            .map_err(|e| match e.is_data() {
                true => "not a JSON object".to_string(),
                false => format!("not JSON ({e})"),
            })?;
        let wire = WireIn::deserialize(serde_json::Value::Object(object))
            .map_err(|e| format!("not a chat record ({e})"))?;
        let not_string = |name: &'static str| move || format!("\"{name}\" is not a string");
        let kind_name = field(wire.kind, not_string("kind"))?.ok_or("no \"kind\"")?;
        let kind = Kind::parse(&kind_name).ok_or_else(|| {
            let mut k = String::new();
            escape(kind_name.as_bytes(), &mut k);
            format!("unknown kind \"{k}\"")
        })?;
        let user = field(wire.user, not_string("user"))?
            .filter(|u| !u.is_empty())
            .ok_or("no \"user\"")?;
        let text = field(wire.text, not_string("text"))?;
        if kind == Kind::Message && text.is_none() {
            return Err("a message without \"text\"".into());
        }
        let sent_at = field(wire.sent_at, not_string("sent_at"))?.ok_or("no \"sent_at\"")?;
        let sent_at_ms = sent_at
            .parse::<Timestamp>()
            .map_err(|_| {
                let mut s = String::new();
                escape(sent_at.as_bytes(), &mut s);
                format!("\"sent_at\" is not an RFC 3339 time: \"{s}\"")
            })?
            .as_millisecond();
        let heartbeat_ms = field(wire.heartbeat_ms, || {
            "\"heartbeat_ms\" is not a whole number".to_string()
        })?;
        Ok(ChatRecord {
            kind,
            user,
            text: text.unwrap_or_default(),
            sent_at_ms,
            session: field(wire.session, not_string("session"))?,
            heartbeat_ms,
        })
    }
}

/// `2025-01-31T12:01:02.345Z`: the `sent_at` field.
fn rfc3339_millis(ms: i64) -> String {
    let ts = Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH);
    TimeZone::UTC
        .to_datetime(ts)
        .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// What a typed line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Input<'a> {
    Message(&'a str),
    Who,
    Quit,
    Help,
    Unknown(&'a str),
    Nothing,
}

/// `/who`, `/quit`, `/help` are commands; `//text` sends `/text`; an empty
/// (or all-blank) line sends nothing.
pub fn parse_input(line: &str) -> Input<'_> {
    if line.trim().is_empty() {
        return Input::Nothing;
    }
    if line.starts_with("//") {
        return Input::Message(&line[1..]);
    }
    match line.strip_prefix('/') {
        None => Input::Message(line),
        Some(cmd) => match cmd.trim() {
            "who" => Input::Who,
            "quit" | "exit" => Input::Quit,
            "help" | "?" => Input::Help,
            _ => Input::Unknown(line.trim()),
        },
    }
}

/// One chat process (session) in the room, as its records tell.
#[derive(Debug)]
struct Session {
    user: String,
    last_seen_ms: i64,
    ttl_ms: i64,
    left: bool,
}

/// Who is in the room. Each session is present from its join (or first
/// heartbeat) until its leave notice, or until MISSED_HEARTBEATS of its
/// heartbeats are overdue: a process that was killed sends no leave.
#[derive(Debug, Default)]
pub struct Presence {
    sessions: HashMap<String, Session>,
    /// Users present at the last `changes` call, to notice who dropped out.
    shown: BTreeSet<String>,
}

/// A user who disappeared without a leave notice, and after how long a silence.
#[derive(Debug, PartialEq, Eq)]
pub struct Dropout {
    pub user: String,
    pub silent_for: Duration,
}

impl Presence {
    /// Takes in a record seen at `seen_ms` (local time of arrival for live
    /// records, the record's own time, capped at now, for older ones).
    pub fn observe(&mut self, r: &ChatRecord, seen_ms: i64) {
        // Records without a session cannot be matched to a leave: not tracked.
        let Some(session) = &r.session else { return };
        let heartbeat = r
            .heartbeat_ms
            .unwrap_or(DEFAULT_HEARTBEAT.as_millis() as u64)
            .clamp(
                MIN_HEARTBEAT.as_millis() as u64,
                MAX_HEARTBEAT.as_millis() as u64,
            );
        let member = self
            .sessions
            .entry(session.clone())
            .or_insert_with(|| Session {
                user: r.user.clone(),
                last_seen_ms: seen_ms,
                ttl_ms: 0,
                left: false,
            });
        member.last_seen_ms = member.last_seen_ms.max(seen_ms);
        member.ttl_ms = heartbeat as i64 * MISSED_HEARTBEATS as i64;
        // A session never comes back after its leave, whatever order the
        // two topics deliver their records in.
        if r.kind == Kind::Leave {
            member.left = true;
        }
    }

    fn is_present(m: &Session, now_ms: i64) -> bool {
        !m.left && now_ms - m.last_seen_ms <= m.ttl_ms
    }

    /// Users present at `now_ms`, sorted, each once.
    pub fn present(&self, now_ms: i64) -> Vec<String> {
        let users: BTreeSet<&String> = self
            .sessions
            .values()
            .filter(|m| Self::is_present(m, now_ms))
            .map(|m| &m.user)
            .collect();
        users.into_iter().cloned().collect()
    }

    /// Users who were present at the last call and are not now, without
    /// having left: their heartbeats stopped. Also forgets long-gone sessions.
    pub fn dropouts(&mut self, now_ms: i64) -> Vec<Dropout> {
        let now: BTreeSet<String> = self.present(now_ms).into_iter().collect();
        let mut out = Vec::new();
        for user in self.shown.difference(&now) {
            let sessions = self.sessions.values().filter(|m| &m.user == user);
            let timed_out = sessions.filter(|m| !m.left).max_by_key(|m| m.last_seen_ms);
            if let Some(m) = timed_out {
                out.push(Dropout {
                    user: user.clone(),
                    silent_for: Duration::from_millis((now_ms - m.last_seen_ms).max(0) as u64),
                });
            }
        }
        self.shown = now;
        let horizon = PRESENCE_LOOKBACK.as_millis() as i64 * 2;
        self.sessions
            .retain(|_, m| now_ms - m.last_seen_ms <= horizon);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::screen::{render, screen_rows};
    use super::*;

    fn rec(kind: Kind, user: &str, session: &str, ms: i64) -> ChatRecord {
        ChatRecord {
            kind,
            user: user.into(),
            text: String::new(),
            sent_at_ms: ms,
            session: Some(session.into()),
            heartbeat_ms: Some(2000),
        }
    }

    #[test]
    fn user_names_are_checked() {
        assert!(validate_user("alice").is_ok());
        assert!(validate_user("Zoë the 2nd 🦀").is_ok());
        assert!(validate_user(&"x".repeat(32)).is_ok());
        let msg = |n: &str| validate_user(n).unwrap_err().to_string();
        assert!(msg("").contains("must not be empty"));
        assert!(msg("   ").contains("must not be empty"));
        assert!(msg(&"x".repeat(33)).contains("33 characters long; the limit is 32"));
        assert!(msg("a\u{1b}[31m").contains("control character \\u{1b}"));
        assert!(msg("a\tb").contains("control character"));
        assert!(msg("bob\u{202e}").contains("control character \\u{202e}"));
        assert!(msg("b\u{200b}ob").contains("control character"));
        assert_eq!(
            validate_user("").unwrap_err().exit_code(),
            crate::error::ExitCode::Usage
        );
    }

    #[test]
    fn room_names_fit_in_topic_names() {
        assert!(validate_room("general").is_ok());
        assert!(validate_room("team-7_b").is_ok());
        assert!(validate_room("").is_err());
        assert!(validate_room("a.presence").is_err());
        assert!(validate_room("a b").is_err());
        assert!(validate_room(&"r".repeat(65)).is_err());
        assert_eq!(room_topic("x"), "chat.x");
        assert_eq!(presence_topic("x"), "chat.x.presence");
    }

    #[test]
    fn records_round_trip_as_json() {
        let r = ChatRecord {
            kind: Kind::Message,
            user: "bob".into(),
            text: "hi \"there\"\n".into(),
            sent_at_ms: 1_700_000_000_123,
            session: Some("42-abc".into()),
            heartbeat_ms: Some(2000),
        };
        let bytes = r.encode();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["kind"], "message");
        assert_eq!(v["sent_at"], "2023-11-14T22:13:20.123Z");
        assert_eq!(ChatRecord::decode(&bytes), Ok(r));
    }

    #[test]
    fn the_wire_format_is_unchanged() {
        let mut r = rec(Kind::Message, "bob", "s1", 1_700_000_000_123);
        r.text = "hi \"there\" ✓\n".into();
        assert_eq!(
            String::from_utf8(r.encode()).unwrap(),
            r#"{"kind":"message","user":"bob","text":"hi \"there\" ✓\n","sent_at":"2023-11-14T22:13:20.123Z","session":"s1","heartbeat_ms":2000}"#
        );
        r.session = None;
        r.heartbeat_ms = None;
        assert_eq!(
            String::from_utf8(r.encode()).unwrap(),
            r#"{"kind":"message","user":"bob","text":"hi \"there\" ✓\n","sent_at":"2023-11-14T22:13:20.123Z"}"#
        );
    }

    #[test]
    fn wide_characters_take_two_columns_when_erasing_a_typed_line() {
        assert_eq!(screen_rows("", 80), 1);
        assert_eq!(screen_rows(&"a".repeat(80), 80), 1);
        assert_eq!(screen_rows(&"a".repeat(81), 80), 2);
        // 40 CJK characters fill 80 columns; 41 need a second row
        assert_eq!(screen_rows(&"漢".repeat(40), 80), 1);
        assert_eq!(screen_rows(&"漢".repeat(41), 80), 2);
        // emoji are two columns too; a combining accent takes none
        assert_eq!(screen_rows(&"🎉".repeat(5), 10), 1);
        assert_eq!(screen_rows(&"🎉".repeat(6), 10), 2);
        assert_eq!(screen_rows(&"e\u{301}".repeat(10), 10), 1);
        // a wide character that does not fit in the last column wraps whole
        assert_eq!(screen_rows(&format!("{}漢", "a".repeat(9)), 10), 2);
        assert_eq!(screen_rows(&format!("{}漢漢漢漢漢", "a".repeat(9)), 10), 2);
    }

    #[test]
    fn bad_records_say_why() {
        let why = |s: &str| ChatRecord::decode(s.as_bytes()).unwrap_err();
        assert!(why("hello").starts_with("not JSON"));
        assert_eq!(why("[1]"), "not a JSON object");
        assert_eq!(why(r#"{"user":"a"}"#), "no \"kind\"");
        assert_eq!(
            why(r#"{"kind":"dance","user":"a","sent_at":"2023-11-14T22:13:20Z"}"#),
            "unknown kind \"dance\""
        );
        assert_eq!(
            why(r#"{"kind":"message","user":"a","sent_at":"2023-11-14T22:13:20Z"}"#),
            "a message without \"text\""
        );
        assert!(why(r#"{"kind":"join","user":"a","sent_at":"noon"}"#).contains("RFC 3339"));
        assert_eq!(
            why(r#"{"kind":"join","user":7,"sent_at":"noon"}"#),
            "\"user\" is not a string"
        );
        assert_eq!(
            why("not json at all"),
            "not JSON (expected ident at line 1 column 2)"
        );
        assert_eq!(
            why(r#"["message","a","hi","2023-11-14T22:13:20Z"]"#),
            "not a JSON object"
        );
        assert_eq!(
            why(r#"{"kind":"join","user":"a","sent_at":"2023-11-14T22:13:20Z","heartbeat_ms":-1}"#),
            "\"heartbeat_ms\" is not a whole number"
        );
        // Another writer's join without text or session is still a join.
        let r = ChatRecord::decode(
            br#"{"kind":"join","user":"a","sent_at":"2023-11-14T22:13:20+01:00"}"#,
        )
        .unwrap();
        assert_eq!((r.kind, r.text.as_str(), r.session), (Kind::Join, "", None));
    }

    #[test]
    fn lines_show_time_and_user_and_escape_control_characters() {
        let tz = TimeZone::UTC;
        let mut r = rec(Kind::Message, "bob", "s", 1_700_000_000_123);
        r.text = "hi\u{1b}[2J".into();
        assert_eq!(
            render(3, &r.encode(), &tz).unwrap(),
            "[22:13:20] bob: hi\\x1b[2J"
        );
        let join = rec(Kind::Join, "alice", "s", 1_700_000_000_123);
        assert_eq!(
            render(4, &join.encode(), &tz).unwrap(),
            "[22:13:20] * alice joined"
        );
        let beat = rec(Kind::Heartbeat, "alice", "s", 1_700_000_000_123);
        assert_eq!(render(5, &beat.encode(), &tz), None);
        let line = render(12, b"garbage\x00\xff", &tz).unwrap();
        assert!(
            line.starts_with("[??:??:??] (malformed record at offset 12: not JSON"),
            "{line}"
        );
        assert!(line.ends_with(": \"garbage\\x00\\xff\")"), "{line}");
        let long = render(1, "y".repeat(100).as_bytes(), &tz).unwrap();
        assert!(long.ends_with(&format!("{}…\")", "y".repeat(40))), "{long}");
    }

    #[test]
    fn typed_lines_are_messages_or_commands() {
        assert_eq!(parse_input("hello"), Input::Message("hello"));
        assert_eq!(parse_input("/who"), Input::Who);
        assert_eq!(parse_input("/quit "), Input::Quit);
        assert_eq!(parse_input("/help"), Input::Help);
        assert_eq!(parse_input("/dance"), Input::Unknown("/dance"));
        assert_eq!(parse_input("//who"), Input::Message("/who"));
        assert_eq!(parse_input("  "), Input::Nothing);
    }

    #[test]
    fn presence_follows_joins_heartbeats_and_leaves() {
        let mut p = Presence::default();
        p.observe(&rec(Kind::Join, "alice", "a1", 0), 0);
        p.observe(&rec(Kind::Join, "bob", "b1", 0), 0);
        p.observe(&rec(Kind::Join, "bob", "b2", 0), 0);
        assert_eq!(p.present(0), vec!["alice", "bob"]);
        assert!(p.dropouts(0).is_empty());
        // alice beats on; bob's b1 leaves; b2 is killed and goes silent.
        for t in [2000, 4000, 6000, 8000] {
            p.observe(&rec(Kind::Heartbeat, "alice", "a1", t), t);
        }
        p.observe(&rec(Kind::Leave, "bob", "b1", 1000), 1000);
        assert_eq!(p.present(6000), vec!["alice", "bob"]);
        assert!(p.dropouts(6000).is_empty());
        assert_eq!(p.present(6001), vec!["alice"]);
        assert_eq!(
            p.dropouts(6001),
            vec![Dropout {
                user: "bob".into(),
                silent_for: Duration::from_millis(6001)
            }]
        );
        assert!(p.dropouts(6002).is_empty());
        // A heartbeat arriving after the leave (other topic) does not revive.
        p.observe(&rec(Kind::Leave, "alice", "a1", 8100), 8100);
        p.observe(&rec(Kind::Heartbeat, "alice", "a1", 8000), 8200);
        assert!(p.present(8200).is_empty());
        assert!(p.dropouts(8200).is_empty(), "a leave is not a dropout");
    }

    #[test]
    fn each_member_expires_on_its_own_heartbeat() {
        let mut p = Presence::default();
        let mut slow = rec(Kind::Join, "slow", "s", 0);
        slow.heartbeat_ms = Some(10_000);
        p.observe(&slow, 0);
        p.observe(&rec(Kind::Join, "fast", "f", 0), 0);
        assert_eq!(p.present(7000), vec!["slow"]);
        assert_eq!(p.present(30_001), Vec::<String>::new());
    }
}
