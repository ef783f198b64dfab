//! Turns a request body into validated messages, or the first rule it breaks.
use serde_json::{Map, Value};

use crate::domain::{
    valid_name, DISPLAY_NAME_MAX, EVENT_ID_MAX, NAME_RULE, TAGS_MAX_BYTES, TAGS_MAX_ENTRIES, TEXT_MAX,
};
use crate::store::NewMessage;
use crate::time::{now_ms, parse_rfc3339_ms};

/// Why a body was refused. The web layer turns it into its HTTP answer.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// Message `index` breaks the rule of `field`.
    #[error("{message}")]
    Invalid {
        index: usize,
        field: &'static str,
        message: String,
    },
    #[error("{count} messages in one request; the limit is {max}")]
    TooMany { count: usize, max: usize },
}

fn invalid(index: usize, field: &'static str, message: impl Into<String>) -> BodyError {
    BodyError::Invalid {
        index,
        field,
        message: message.into(),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    Json,
    NdJson,
}

/// Parses and validates a whole body. `max_batch` is checked before any message is.
pub fn parse_body(body: &[u8], format: BodyFormat, max_batch: usize) -> Result<Vec<NewMessage>, BodyError> {
    let values: Vec<Value> = match format {
        BodyFormat::Json => match serde_json::from_slice::<Value>(body) {
            Ok(Value::Array(items)) => items,
            Ok(v @ Value::Object(_)) => vec![v],
            Ok(_) => return Err(invalid(0, "body", "expected a message object or an array of them")),
            Err(e) => return Err(invalid(0, "body", format!("malformed JSON: {e}"))),
        },
        BodyFormat::NdJson => {
            let text = std::str::from_utf8(body).map_err(|_| invalid(0, "body", "body is not UTF-8"))?;
            let mut items = Vec::new();
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                let index = items.len();
                items.push(
                    serde_json::from_str(line)
                        .map_err(|e| invalid(index, "body", format!("malformed JSON line: {e}")))?,
                );
            }
            items
        }
    };
    if values.is_empty() {
        return Err(invalid(0, "body", "no messages in the request"));
    }
    if values.len() > max_batch {
        return Err(BodyError::TooMany {
            count: values.len(),
            max: max_batch,
        });
    }
    let now = now_ms();
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| validate(i, v, now))
        .collect()
}

fn validate(index: usize, value: Value, now: i64) -> Result<NewMessage, BodyError> {
    let err = |field: &'static str, msg: &str| invalid(index, field, msg);
    let Value::Object(mut obj) = value else {
        return Err(err("body", "a message must be a JSON object"));
    };
    let string =
        |obj: &mut Map<String, Value>, field: &'static str, required: bool| -> Result<Option<String>, BodyError> {
            match obj.remove(field) {
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
            matches!(
                e,
                BodyError::Invalid {
                    index: 1,
                    field: "text",
                    ..
                }
            ),
            "{e:?}"
        );
    }
}
