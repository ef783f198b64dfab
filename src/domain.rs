//! The rules every layer shares: what a name is and the limits of a message. `ingest`
//! validates with them, `live` parses view names with them, `web` checks page parameters
//! with them; none of those reaches into another for a rule.

/// Longest channel or user name.
pub const NAME_MAX: usize = 64;
/// Longest message text, in Unicode scalar values.
pub const TEXT_MAX: usize = 4096;
/// Most tags on one message, and their keys and values together in bytes.
pub const TAGS_MAX_ENTRIES: usize = 64;
pub const TAGS_MAX_BYTES: usize = 8 * 1024;
/// Longest display name, in Unicode scalar values.
pub const DISPLAY_NAME_MAX: usize = 64;
/// Longest idempotency key, in Unicode scalar values.
pub const EVENT_ID_MAX: usize = 128;

/// Longest stream description, incident or thread name, `client_temp_id` and share
/// context (PROTOCOL.md section 8), in Unicode scalar values.
pub const DESCRIPTION_MAX: usize = 1024;
pub const TITLE_MAX: usize = 128;
/// The most people one DM is between (its creator included).
pub const DM_MEMBERS_MAX: usize = 16;
pub const CLIENT_TEMP_ID_MAX: usize = 128;
pub const CONTEXT_MAX: usize = 1024;

/// The earliest and latest `sent_at`: years 1 to 9999 in UTC, the times RFC 3339 can write.
pub const SENT_AT_MIN_MS: i64 = -62_135_596_800_000;
pub const SENT_AT_MAX_MS: i64 = 253_402_300_799_999;

/// A channel or user name: 1-64 of `[A-Za-z0-9_.-]`, and not `.` or `..` (a page link to
/// one would resolve to its parent).
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.len() <= NAME_MAX
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Whether `p` can start a name: 1-64 of the name rule's characters (a name prefix of
/// `/api/users` and `/users`; `.` alone too: it starts `.a`).
pub fn valid_name_prefix(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= NAME_MAX
        && p.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// The rule [`valid_name`] checks, in words, for error messages.
pub const NAME_RULE: &str = "1-64 characters of A-Z a-z 0-9 _ . -, not . or ..";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_name("a.b-c_9"));
        assert!(!valid_name(""));
        assert!(!valid_name("has space"));
        assert!(!valid_name(&"x".repeat(65)));
        assert!(valid_name(&"x".repeat(64)));
        assert!(!valid_name(".") && !valid_name(".."));
        assert!(valid_name("...") && valid_name(".a"));
    }
}

/// A window back from now: charts, activity and top lists (issue 16) offer these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize, utoipa::ToSchema)]
pub enum Window {
    #[serde(rename = "5m")]
    FiveMinutes,
    #[serde(rename = "1h")]
    Hour,
    #[serde(rename = "24h")]
    Day,
    #[serde(rename = "7d")]
    Week,
    #[serde(rename = "30d")]
    Month,
}

impl Window {
    pub const ALL: [Window; 5] = [
        Window::FiveMinutes,
        Window::Hour,
        Window::Day,
        Window::Week,
        Window::Month,
    ];

    pub fn minutes(self) -> i64 {
        match self {
            Window::FiveMinutes => 5,
            Window::Hour => 60,
            Window::Day => 1440,
            Window::Week => 7 * 1440,
            Window::Month => 30 * 1440,
        }
    }

    /// Its name in views, queries and envelopes: `5m`, `1h`, `24h`, `7d`, `30d`.
    pub fn as_str(self) -> &'static str {
        match self {
            Window::FiveMinutes => "5m",
            Window::Hour => "1h",
            Window::Day => "24h",
            Window::Week => "7d",
            Window::Month => "30d",
        }
    }

    pub fn parse(s: &str) -> Option<Window> {
        Window::ALL.into_iter().find(|w| w.as_str() == s)
    }
}
