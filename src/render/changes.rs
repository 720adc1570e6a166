//! `consume --format changes`: a Debezium change event (CDC), as Kafka
//! Connect's JsonConverter writes it, with or without its schema, as one
//! readable line (`UPDATE numbers id=4 n: 8 → 10`). Any other record keeps
//! its text line.

use serde_json::{Map, Value};

use super::{escape, text_line, Consumed};

/// The changes line for a record (without the newline): the change event
/// it holds, or its text line when it holds none. Everything from the
/// record is escaped, so a record is always one line.
pub fn change_line(r: &Consumed, out: &mut String) {
    match change(&r.topic, &r.key, &r.value) {
        Some(line) => {
            escape(line.as_bytes(), out);
        }
        None => text_line(r, out),
    }
}

/// The change event's line, before escaping, or None for a record that is
/// not a Debezium change event nor its tombstone.
fn change(topic: &str, key: &[u8], value: &[u8]) -> Option<String> {
    let key = serde_json::from_slice(key).ok().map(payload);
    let key = key.as_ref().and_then(Value::as_object);
    let value = if value.is_empty() {
        Value::Null
    } else {
        payload(serde_json::from_slice(value).ok()?)
    };
    let mut line = String::new();
    if value.is_null() {
        // A tombstone, after a delete: the topic (prefix.schema.table) names the table.
        let table = topic.rsplit('.').next().unwrap_or(topic);
        line.push_str("TOMBSTONE ");
        line.push_str(table);
        push_identity(key?, &mut line);
        return Some(line);
    }
    let event = value.as_object()?;
    let op = event.get("op")?.as_str()?;
    let source = event.get("source")?.as_object()?;
    let table = source
        .get("table")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty());
    let row = |name: &str| event.get(name).and_then(Value::as_object);
    let (before, after) = (row("before"), row("after"));
    let word = match op {
        "c" => "INSERT",
        "r" => "READ",
        "u" => "UPDATE",
        "d" => "DELETE",
        "t" => "TRUNCATE",
        "m" => "MESSAGE",
        _ => return None,
    };
    line.push_str(word);
    // A logical decoding message belongs to no table.
    let table = table.or(if op == "m" {
        None
    } else {
        topic.rsplit('.').next()
    });
    if let Some(table) = table {
        line.push(' ');
        line.push_str(table);
    }
    let key = key.filter(|k| !k.is_empty());
    match op {
        "c" | "r" => push_row(after?, None, &mut line),
        "u" => {
            let after = after?;
            match (key, before) {
                (Some(key), _) => push_identity(key, &mut line),
                (None, Some(before)) => push_row(before, None, &mut line),
                (None, None) => {}
            }
            match before {
                Some(before) => push_changes(before, after, &mut line),
                // REPLICA IDENTITY DEFAULT: no old row, so the new one.
                None => push_row(after, key, &mut line),
            }
        }
        "d" => match (key, before) {
            (Some(key), _) => push_identity(key, &mut line),
            (None, Some(before)) => push_row(before, None, &mut line),
            (None, None) => {}
        },
        "m" => {
            if let Some(message) = row("message") {
                push_row(message, None, &mut line);
            }
        }
        _ => {}
    }
    Some(line)
}

/// The schema-less part of a JsonConverter value with schemas.enable=true:
/// `{"schema":…,"payload":…}` is its payload; anything else is itself.
fn payload(value: Value) -> Value {
    match value {
        Value::Object(mut m)
            if m.len() == 2 && m.contains_key("schema") && m.contains_key("payload") =>
        {
            m.remove("payload").unwrap_or(Value::Null)
        }
        v => v,
    }
}

/// ` id=4` (` id=4,region=eu` for a key of several columns).
fn push_identity(key: &Map<String, Value>, line: &mut String) {
    for (i, (name, value)) in key.iter().enumerate() {
        line.push(if i == 0 { ' ' } else { ',' });
        line.push_str(name);
        line.push('=');
        push_value(value, line);
    }
}

/// ` {id: 4, n: 8, origin: A}`, without the key's columns when a key is given.
fn push_row(row: &Map<String, Value>, key: Option<&Map<String, Value>>, line: &mut String) {
    line.push_str(" {");
    let columns = row
        .iter()
        .filter(|(name, _)| !key.is_some_and(|k| k.contains_key(*name)));
    for (i, (name, value)) in columns.enumerate() {
        if i > 0 {
            line.push_str(", ");
        }
        line.push_str(name);
        line.push_str(": ");
        push_value(value, line);
    }
    line.push('}');
}

/// ` n: 8 → 10, origin: A → B`: the columns whose value changed.
fn push_changes(before: &Map<String, Value>, after: &Map<String, Value>, line: &mut String) {
    let mut changed = after
        .iter()
        .filter(|(name, value)| before.get(*name) != Some(*value))
        .peekable();
    if changed.peek().is_none() {
        line.push_str(" (no change)");
    }
    for (i, (name, value)) in changed.enumerate() {
        line.push_str(if i == 0 { " " } else { ", " });
        line.push_str(name);
        line.push_str(": ");
        push_value(before.get(name).unwrap_or(&Value::Null), line);
        line.push_str(" → ");
        push_value(value, line);
    }
}

/// A column value: a string bare when it is one simple word that reads as
/// no other JSON value, quoted otherwise; anything else as compact JSON.
fn push_value(value: &Value, line: &mut String) {
    match value {
        Value::String(s) if simple_word(s) => line.push_str(s),
        v => line.push_str(&v.to_string()),
    }
}

fn simple_word(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '/' | '@' | '+'))
        && serde_json::from_str::<Value>(s).is_err()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(topic: &str, key: &str, value: &str) -> String {
        let r = Consumed {
            topic: topic.into(),
            key: key.as_bytes().to_vec(),
            value: value.as_bytes().to_vec(),
            ..Consumed::default()
        };
        let mut s = String::new();
        change_line(&r, &mut s);
        s
    }

    const TOPIC: &str = "kafkademo.public.numbers";
    const SOURCE: &str = r#""source":{"version":"3.6.1.Final","connector":"postgresql","name":"kafkademo","ts_ms":1764583200000,"snapshot":"false","db":"kafkademo","schema":"public","table":"numbers","txId":771,"lsn":26848864}"#;

    fn event(op: &str, before: &str, after: &str) -> String {
        format!(
            r#"{{"before":{before},"after":{after},{SOURCE},"op":"{op}","ts_ms":1764583200123,"transaction":null}}"#
        )
    }

    /// The same event as JsonConverter writes it with schemas.enable=true.
    fn with_schema(payload: &str) -> String {
        format!(
            r#"{{"schema":{{"type":"struct","fields":[],"optional":false,"name":"kafkademo.public.numbers.Envelope"}},"payload":{payload}}}"#
        )
    }

    const KEY: &str = r#"{"id":4}"#;
    const KEY_WITH_SCHEMA: &str = r#"{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"}],"optional":false,"name":"kafkademo.public.numbers.Key"},"payload":{"id":4}}"#;
    const ROW_8: &str = r#"{"id":4,"n":8,"origin":"A"}"#;
    const ROW_10: &str = r#"{"id":4,"n":10,"origin":"A"}"#;

    #[test]
    fn inserts_and_snapshot_reads_show_the_new_row() {
        let insert = event("c", "null", ROW_8);
        assert_eq!(
            line(TOPIC, KEY, &insert),
            "INSERT numbers {id: 4, n: 8, origin: A}"
        );
        let read = event("r", "null", r#"{"id":2,"n":4,"origin":"A"}"#);
        assert_eq!(
            line(TOPIC, r#"{"id":2}"#, &read),
            "READ numbers {id: 2, n: 4, origin: A}"
        );
    }

    #[test]
    fn schemas_enable_true_and_false_read_alike() {
        let insert = event("c", "null", ROW_8);
        let expected = "INSERT numbers {id: 4, n: 8, origin: A}";
        assert_eq!(line(TOPIC, KEY, &insert), expected);
        assert_eq!(
            line(TOPIC, KEY_WITH_SCHEMA, &with_schema(&insert)),
            expected
        );
        let update = event("u", ROW_8, ROW_10);
        assert_eq!(
            line(TOPIC, KEY_WITH_SCHEMA, &with_schema(&update)),
            "UPDATE numbers id=4 n: 8 → 10"
        );
        assert_eq!(
            line(TOPIC, KEY_WITH_SCHEMA, r#"{"schema":null,"payload":null}"#),
            "TOMBSTONE numbers id=4"
        );
    }

    #[test]
    fn updates_show_only_the_changed_columns() {
        assert_eq!(
            line(TOPIC, KEY, &event("u", ROW_8, ROW_10)),
            "UPDATE numbers id=4 n: 8 → 10"
        );
        let both = event("u", ROW_8, r#"{"id":4,"n":10,"origin":"B"}"#);
        assert_eq!(
            line(TOPIC, KEY, &both),
            "UPDATE numbers id=4 n: 8 → 10, origin: A → B"
        );
        assert_eq!(
            line(TOPIC, KEY, &event("u", ROW_8, ROW_8)),
            "UPDATE numbers id=4 (no change)"
        );
        // Without a key, the old row says which row it was.
        assert_eq!(
            line(TOPIC, "", &event("u", ROW_8, ROW_10)),
            "UPDATE numbers {id: 4, n: 8, origin: A} n: 8 → 10"
        );
    }

    #[test]
    fn updates_without_the_old_row_show_the_new_one() {
        // REPLICA IDENTITY DEFAULT: Debezium has no `before` for an update.
        assert_eq!(
            line(TOPIC, KEY, &event("u", "null", ROW_10)),
            "UPDATE numbers id=4 {n: 10, origin: A}"
        );
        assert_eq!(
            line(TOPIC, "", &event("u", "null", ROW_10)),
            "UPDATE numbers {id: 4, n: 10, origin: A}"
        );
    }

    #[test]
    fn deletes_and_their_tombstones_show_the_key() {
        assert_eq!(
            line(TOPIC, KEY, &event("d", ROW_8, "null")),
            "DELETE numbers id=4"
        );
        assert_eq!(
            line(TOPIC, "", &event("d", ROW_8, "null")),
            "DELETE numbers {id: 4, n: 8, origin: A}"
        );
        assert_eq!(line(TOPIC, KEY, ""), "TOMBSTONE numbers id=4");
        assert_eq!(line("numbers", KEY, "null"), "TOMBSTONE numbers id=4");
        assert_eq!(
            line(TOPIC, r#"{"id":4,"region":"eu west"}"#, ""),
            r#"TOMBSTONE numbers id=4,region="eu west""#
        );
    }

    #[test]
    fn truncates_and_messages_show_what_they_have() {
        let truncate = format!(r#"{{"before":null,"after":null,{SOURCE},"op":"t","ts_ms":1}}"#);
        assert_eq!(line(TOPIC, "", &truncate), "TRUNCATE numbers");
        let message = r#"{"op":"m","ts_ms":1,"source":{"db":"kafkademo","table":""},"message":{"prefix":"audit","content":"aGk="}}"#;
        assert_eq!(
            line("kafkademo.message", "", message),
            r#"MESSAGE {prefix: audit, content: "aGk="}"#
        );
    }

    #[test]
    fn values_are_bare_words_quoted_strings_or_json() {
        let row = r#"{"id":4,"name":"two words","note":null,"tags":["a","b"],"flag":true,"code":"42","word":"null","at":"2026-12-01T10:00:00Z","amount":1.5}"#;
        assert_eq!(
            line(TOPIC, KEY, &event("c", "null", row)),
            r#"INSERT numbers {id: 4, name: "two words", note: null, tags: ["a","b"], flag: true, code: "42", word: "null", at: 2026-12-01T10:00:00Z, amount: 1.5}"#
        );
    }

    #[test]
    fn control_characters_are_escaped() {
        let row = "{\"id\":4,\"origin\":\"A\\nB\\u001b[31m\\u007f\"}";
        assert_eq!(
            line(TOPIC, KEY, &event("c", "null", row)),
            r#"INSERT numbers {id: 4, origin: "A\nB\u001b[31m\x7f"}"#
        );
        let odd_table = event("c", "null", ROW_8).replace("\"numbers\"", "\"num\\u0007bers\"");
        assert_eq!(
            line(TOPIC, KEY, &odd_table),
            "INSERT num\\x07bers {id: 4, n: 8, origin: A}"
        );
        assert!(!line(TOPIC, KEY, &odd_table).chars().any(char::is_control));
    }

    #[test]
    fn other_records_keep_their_text_line() {
        assert_eq!(line("sample", "A", "42"), "A 42");
        assert_eq!(line("t", "k", "hello\tthere"), "k\thello\\tthere");
        assert_eq!(line("t", "", "\u{1b}[2J"), "\\x1b[2J");
        // JSON, but no change event.
        assert_eq!(line("t", "", r#"{"id":4,"n":8}"#), r#"{"id":4,"n":8}"#);
        assert_eq!(
            line("t", "", r#"{"op":"c","after":{}}"#),
            r#"{"op":"c","after":{}}"#
        );
        assert_eq!(line("t", "", "[1,2]"), "[1,2]");
        let unknown_op = event("x", "null", ROW_8);
        assert_eq!(
            line(TOPIC, KEY, &unknown_op),
            format!("{KEY}\t{unknown_op}")
        );
        // A null value whose key is no JSON object is no Debezium tombstone.
        assert_eq!(line("t", "k", ""), "k\t");
    }
}
