//! Turns a request body into validated messages, or the first rule it breaks.
use std::cell::Cell;

use serde::de::{DeserializeSeed, IgnoredAny, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::domain::{
    valid_name, DISPLAY_NAME_MAX, EVENT_ID_MAX, NAME_RULE, SENT_AT_MAX_MS, SENT_AT_MIN_MS, TAGS_MAX_BYTES,
    TAGS_MAX_ENTRIES, TEXT_MAX,
};
use crate::json_schema as schema;
use crate::store::NewMessage;
use crate::time::{now_ms, parse_rfc3339_ms};

/// Why a body was refused. The web layer turns it into its HTTP answer.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// Message `index` breaks the rule of `field`.
    #[error("{message}")]
    Invalid {
        index: usize,
        field: String,
        message: String,
    },
    #[error("{count} messages in one request; the limit is {max}")]
    TooMany { count: usize, max: usize },
}

fn invalid(index: usize, field: impl Into<String>, message: impl Into<String>) -> BodyError {
    BodyError::Invalid {
        index,
        field: field.into(),
        message: message.into(),
    }
}

/// The fields a message may have. Deserializing a message's text into it refuses any
/// other field and any field given twice (a JSON object read into a map would keep the
/// last of two and drop a misspelled one silently); the values are checked in [`validate`].
/// It is also the message's schema in the OpenAPI document (`IncomingMessage`), its rules
/// built from the constants [`validate`] checks with.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = IncomingMessage, description = "A message to store: every field but these is refused, and so is a field given twice")]
#[allow(dead_code)]
pub struct Fields {
    #[schema(schema_with = schema::name, required = true)]
    channel: Option<IgnoredAny>,
    #[schema(schema_with = schema::name, required = true)]
    user: Option<IgnoredAny>,
    #[schema(schema_with = schema::text, required = true)]
    text: Option<IgnoredAny>,
    #[schema(schema_with = schema::sent_at)]
    sent_at: Option<IgnoredAny>,
    #[schema(schema_with = schema::incoming_tags)]
    tags: Option<IgnoredAny>,
    #[schema(schema_with = schema::display_name)]
    display_name: Option<IgnoredAny>,
    #[schema(schema_with = schema::event_id)]
    event_id: Option<IgnoredAny>,
}

/// Refuses an unknown or repeated field of the message at `index`, naming it.
fn check_fields(index: usize, raw: &RawValue) -> Result<(), BodyError> {
    if !raw.get().starts_with('{') {
        return Ok(());
    }
    serde_json::from_str::<Fields>(raw.get()).map(drop).map_err(|e| {
        let text = e.to_string();
        let field = text.split('`').nth(1).unwrap_or("body").to_owned();
        let message = if text.starts_with("duplicate field") {
            format!("`{field}` is given twice")
        } else {
            format!("`{field}` is not a field of a message")
        };
        invalid(index, field, message)
    })
}

/// A JSON array's elements as raw text, noting in `at` the index of the element being read,
/// so that a syntax error is reported at its message.
struct Elements<'a> {
    at: &'a Cell<usize>,
}

impl<'de, 'a> DeserializeSeed<'de> for Elements<'a> {
    type Value = Vec<Box<RawValue>>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, 'a> Visitor<'de> for Elements<'a> {
    type Value = Vec<Box<RawValue>>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of messages")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        loop {
            self.at.set(out.len());
            match seq.next_element::<Box<RawValue>>()? {
                Some(raw) => out.push(raw),
                None => return Ok(out),
            }
        }
    }
}

/// A JSON body's messages as raw text: one object, or an array of them.
fn json_messages(body: &[u8]) -> Result<Vec<Box<RawValue>>, BodyError> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'[') {
        return match serde_json::from_slice::<Box<RawValue>>(body) {
            Ok(raw) if raw.get().starts_with('{') => Ok(vec![raw]),
            Ok(_) => Err(invalid(0, "body", "expected a message object or an array of them")),
            Err(e) => Err(invalid(0, "body", format!("malformed JSON: {e}"))),
        };
    }
    let at = Cell::new(0);
    let mut de = serde_json::Deserializer::from_slice(body);
    Elements { at: &at }
        .deserialize(&mut de)
        .and_then(|messages| de.end().map(|()| messages))
        .map_err(|e| invalid(at.get(), "body", format!("malformed JSON: {e}")))
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    Json,
    NdJson,
}

/// Parses and validates a whole body. `max_batch` is checked before any message is.
pub fn parse_body(body: &[u8], format: BodyFormat, max_batch: usize) -> Result<Vec<NewMessage>, BodyError> {
    let messages: Vec<Box<RawValue>> = match format {
        BodyFormat::Json => json_messages(body)?,
        BodyFormat::NdJson => {
            let text = std::str::from_utf8(body).map_err(|_| invalid(0, "body", "body is not UTF-8"))?;
            let mut messages = Vec::new();
            for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
                let raw = serde_json::from_str::<Box<RawValue>>(line)
                    .map_err(|e| invalid(messages.len(), "body", format!("line {}: malformed JSON: {e}", n + 1)))?;
                messages.push(raw);
            }
            messages
        }
    };
    if messages.is_empty() {
        return Err(invalid(0, "body", "no messages in the request"));
    }
    if messages.len() > max_batch {
        return Err(BodyError::TooMany {
            count: messages.len(),
            max: max_batch,
        });
    }
    let now = now_ms();
    messages
        .iter()
        .enumerate()
        .map(|(i, raw)| {
            check_fields(i, raw)?;
            let value =
                serde_json::from_str(raw.get()).map_err(|e| invalid(i, "body", format!("malformed JSON: {e}")))?;
            validate(i, value, now)
        })
        .collect()
}

/// One message given as JSON by the server itself (IRC ingest), checked by the same rules.
pub fn message(value: Value) -> Result<NewMessage, BodyError> {
    validate(0, value, now_ms())
}

fn validate(index: usize, value: Value, now: i64) -> Result<NewMessage, BodyError> {
    let err = |field: &'static str, msg: &str| invalid(index, field, msg);
    let Value::Object(mut obj) = value else {
        return Err(err("body", "a message must be a JSON object"));
    };
    // U+0000 is refused in every string: PostgreSQL cannot store it, and a message must be
    // stored alike on both backends.
    let string =
        |obj: &mut Map<String, Value>, field: &'static str, required: bool| -> Result<Option<String>, BodyError> {
            match obj.remove(field) {
                Some(Value::String(s)) if s.contains('\0') => Err(err(field, "must not contain U+0000")),
                Some(Value::String(s)) => Ok(Some(s)),
                None | Some(Value::Null) if !required => Ok(None),
                None | Some(Value::Null) => Err(err(field, "is required")),
                Some(_) => Err(err(field, "must be a string")),
            }
        };
    let channel = string(&mut obj, "channel", true)?.unwrap_or_default();
    if !valid_name(&channel) {
        return Err(err("channel", &format!("must be {NAME_RULE}")));
    }
    let user = string(&mut obj, "user", true)?.unwrap_or_default();
    if !valid_name(&user) {
        return Err(err("user", &format!("must be {NAME_RULE}")));
    }
    let text = string(&mut obj, "text", true)?.unwrap_or_default();
    let text_len = text.chars().count();
    if text_len == 0 || text_len > TEXT_MAX {
        return Err(err("text", "must be 1-4096 characters"));
    }
    let sent_at = match string(&mut obj, "sent_at", false)? {
        Some(s) => parse_rfc3339_ms(&s).ok_or_else(|| err("sent_at", "must be an RFC 3339 time"))?,
        None => now,
    };
    if !(SENT_AT_MIN_MS..=SENT_AT_MAX_MS).contains(&sent_at) {
        return Err(err("sent_at", "must be within the years 1 to 9999 in UTC"));
    }
    let display_name = string(&mut obj, "display_name", false)?;
    if let Some(d) = &display_name {
        let n = d.chars().count();
        if n == 0 || n > DISPLAY_NAME_MAX {
            return Err(err("display_name", "must be 1-64 characters"));
        }
    }
    let event_id = string(&mut obj, "event_id", false)?;
    if let Some(e) = &event_id {
        let n = e.chars().count();
        if n == 0 || n > EVENT_ID_MAX {
            return Err(err("event_id", "must be 1-128 characters"));
        }
    }
    let tags = match obj.remove("tags") {
        None | Some(Value::Null) => None,
        Some(Value::Object(map)) => {
            if map.len() > TAGS_MAX_ENTRIES {
                return Err(err("tags", "at most 64 entries"));
            }
            let mut bytes = 0;
            for (k, v) in &map {
                let Value::String(v) = v else {
                    return Err(err("tags", "values must be strings"));
                };
                bytes += k.len() + v.len();
            }
            if bytes > TAGS_MAX_BYTES {
                return Err(err("tags", "at most 8 KiB of keys and values"));
            }
            if map.is_empty() {
                None
            } else {
                Some(Value::Object(map).to_string())
            }
        }
        Some(_) => return Err(err("tags", "must be an object of strings")),
    };
    Ok(NewMessage {
        channel,
        user,
        text,
        sent_at,
        tags,
        display_name,
        event_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_index_and_field() {
        let body = br#"[{"channel":"c","user":"u","text":"ok"},{"channel":"c","user":"u","text":""}]"#;
        let e = parse_body(body, BodyFormat::Json, 10).unwrap_err();
        assert!(
            matches!(e, BodyError::Invalid { index: 1, ref field, .. } if field == "text"),
            "{e:?}"
        );
    }

    fn refusal(body: &str, format: BodyFormat) -> (usize, String, String) {
        match parse_body(body.as_bytes(), format, 10) {
            Err(BodyError::Invalid { index, field, message }) => (index, field, message),
            other => panic!("{body}: expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn unknown_and_repeated_fields_are_refused_by_name() {
        let ok = r#"{"channel":"c","user":"u","text":"ok"}"#;
        let (i, f, _) = refusal(
            &format!(r#"[{ok},{{"channel":"c","user":"u","text":"t","sentAt":"x"}}]"#),
            BodyFormat::Json,
        );
        assert_eq!((i, f.as_str()), (1, "sentAt"));
        let (i, f, m) = refusal(
            r#"{"channel":"bad name","channel":"ok","user":"u","text":"t"}"#,
            BodyFormat::Json,
        );
        assert_eq!((i, f.as_str()), (0, "channel"), "{m}");
        assert!(m.contains("twice"), "{m}");
        let (i, f, _) = refusal(
            &format!("{ok}\n{{\"channel\":\"c\",\"user\":\"u\",\"text\":\"t\",\"tag\":\"x\"}}"),
            BodyFormat::NdJson,
        );
        assert_eq!((i, f.as_str()), (1, "tag"));
    }

    #[test]
    fn a_syntax_error_is_placed_at_its_message_and_line() {
        let ok = r#"{"channel":"c","user":"u","text":"ok"}"#;
        let (i, f, _) = refusal(&format!("[{ok}, {ok}, {{\"channel\": }}]"), BodyFormat::Json);
        assert_eq!((i, f.as_str()), (2, "body"));
        let (i, _, m) = refusal(&format!("{ok}\n\n\n{{oops\n"), BodyFormat::NdJson);
        assert_eq!(i, 1, "the second message");
        assert!(m.starts_with("line 4:"), "the real line: {m}");
    }

    #[test]
    fn nul_is_refused_in_every_string() {
        // Found by schemathesis on PostgreSQL, which cannot store U+0000 (a 500).
        for field in ["text", "display_name", "event_id"] {
            let body = format!(r#"{{"channel":"c","user":"u","text":"t","{field}":"a\u0000b"}}"#);
            let body = body.replacen(r#""text":"t","text""#, r#""text""#, 1);
            let (_, f, m) = refusal(&body, BodyFormat::Json);
            assert_eq!(f, field, "{m}");
        }
    }

    #[test]
    fn sent_at_must_stay_within_years_1_to_9999() {
        let at = |t: &str| format!(r#"{{"channel":"c","user":"u","text":"t","sent_at":"{t}"}}"#);
        for t in ["9999-12-31T23:30:00-01:00", "0001-01-01T00:30:00+01:00"] {
            let (_, f, _) = refusal(&at(t), BodyFormat::Json);
            assert_eq!(f, "sent_at", "{t}");
        }
        for t in ["9999-12-31T23:59:59.999Z", "0001-01-01T00:00:00Z"] {
            assert!(parse_body(at(t).as_bytes(), BodyFormat::Json, 10).is_ok(), "{t}");
        }
    }
}
