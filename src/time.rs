//! Times travel as RFC 3339 strings in UTC with milliseconds and a `Z`, and are stored
//! as integer milliseconds since the Unix epoch.
use chrono::{DateTime, SecondsFormat, Utc};

pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

pub fn format_ms(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.timestamp_millis())
}

pub fn serialize_ms<S: serde::Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_ms(*ms))
}

pub fn serialize_opt_ms<S: serde::Serializer>(ms: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match ms {
        Some(ms) => s.serialize_str(&format_ms(*ms)),
        None => s.serialize_none(),
    }
}

/// A duration as people write one on a command line: `90s`, `30m`, `1h`, `7d` (a bare
/// number is seconds); never zero.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{s}` is not a duration such as 1h, 30m or 7d"))?;
    let secs = match unit {
        "" | "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        "d" => n.checked_mul(86_400),
        _ => return Err(format!("`{s}`: the unit is one of s, m, h, d")),
    }
    .ok_or_else(|| format!("`{s}` is too long"))?;
    if secs == 0 {
        return Err(format!("`{s}` is no time at all"));
    }
    Ok(std::time::Duration::from_secs(secs))
}
