//! The activity chart of the home, channel and profile pages (issue 16): messages per
//! minute, hour or day over a window back from now, read from the per-minute counts the
//! write path keeps (`store::minutes`), in the page's own read transaction. The page sends
//! every bucket as data; `views/static/live.js` draws them as SVG and adds live messages
//! to the bucket of their `sent_at`. The buckets are the ones `/api/activity` answers for
//! the same window, so the script may read them again from there.
use serde::Serialize;

use chrono::{DateTime, Utc};

use super::format::group;
use crate::error::ApiError;
use crate::store::minutes::{self, Of};
use crate::store::DbConnection;
use crate::time::format_ms;

/// The windows a page offers: its parameter, its button, and how the page says it.
pub const WINDOWS: [(&str, &str, &str, i64); 5] = [
    ("5m", "5 min", "the last 5 minutes", 5),
    ("1h", "1 h", "the last hour", 60),
    ("24h", "24 h", "the last 24 hours", 1440),
    ("7d", "7 d", "the last 7 days", 7 * 1440),
    ("30d", "30 d", "the last 30 days", 30 * 1440),
];

/// A window the page was asked for (`?window=`), or its default.
pub fn window_param(v: Option<&str>, default: &'static str) -> Result<&'static str, String> {
    let v = v.map(str::trim).filter(|v| !v.is_empty()).unwrap_or(default);
    WINDOWS
        .iter()
        .find(|w| w.0 == v)
        .map(|w| w.0)
        .ok_or_else(|| format!("window must be one of 5m, 1h, 24h, 7d or 30d, not “{v}”."))
}

/// One button of the window selector.
#[derive(Serialize)]
pub struct WindowLink {
    pub label: &'static str,
    pub href: String,
    pub current: bool,
}

/// What the chart's template sees.
#[derive(Serialize)]
pub struct ChartView {
    /// `5m` … `30d`.
    pub window: &'static str,
    /// "the last 24 hours".
    pub window_label: &'static str,
    /// `minute`, `hour` or `day`, and its width in minutes.
    pub bucket: &'static str,
    pub bucket_minutes: i64,
    /// The first bucket's start, RFC 3339.
    pub since: String,
    /// Messages per bucket, oldest first, every bucket: "n,n,n".
    pub counts: String,
    pub total: i64,
    pub total_fmt: String,
    /// The busiest bucket (the latest of equals): its start, RFC 3339 and as the time rule
    /// reads it in UTC, and its messages. None when the window has no message.
    pub peak_at: Option<String>,
    pub peak_time: String,
    pub peak_fmt: String,
    pub windows: Vec<WindowLink>,
}

/// Buckets back from `now_ms` for `window`, by `/api/activity`'s rule: minutes up to 6 h,
/// hours up to 7 d, days beyond; whole buckets, the last one holding now.
pub fn read(
    c: &mut DbConnection,
    of: Of,
    window: &'static str,
    now_ms: i64,
    path: &str,
) -> Result<ChartView, ApiError> {
    let &(window, _, window_label, span) = WINDOWS.iter().find(|w| w.0 == window).unwrap_or(&WINDOWS[1]);
    let (bucket, width) = match span {
        s if s <= 360 => ("minute", 1),
        s if s <= 7 * 1440 => ("hour", 60),
        _ => ("day", 1440),
    };
    let since = now_ms - span * 60_000;
    let from = minutes::minute_of(since).div_euclid(width) * width;
    let to = (minutes::minute_of(now_ms - 1).div_euclid(width) + 1) * width;
    let n = ((to - from) / width) as usize;
    let mut counts = vec![0i64; n];
    for (start, messages) in minutes::activity(c, of, from, to, width)? {
        if let Some(slot) = counts.get_mut(((start - from) / width) as usize) {
            *slot = messages;
        }
    }
    let total: i64 = counts.iter().sum();
    let peak = counts
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .max_by_key(|(i, n)| (**n, *i))
        .map(|(i, n)| ((from + i as i64 * width) * 60_000, *n));
    Ok(ChartView {
        window,
        window_label,
        bucket,
        bucket_minutes: width,
        since: format_ms(from * 60_000),
        counts: counts.iter().map(i64::to_string).collect::<Vec<_>>().join(","),
        total,
        total_fmt: group(total),
        peak_at: peak.map(|(ms, _)| format_ms(ms)),
        peak_time: peak.map_or_else(String::new, |(ms, _)| bucket_time(ms, bucket)),
        peak_fmt: peak.map_or_else(String::new, |(_, n)| group(n)),
        windows: WINDOWS
            .iter()
            .map(|w| WindowLink {
                label: w.1,
                href: format!("{path}?window={}", w.0),
                current: w.0 == window,
            })
            .collect(),
    })
}

/// A bucket's start by the pages' time rule (`format::short_time`) in UTC, to the minute; a
/// day bucket (a UTC day) as its date.
fn bucket_time(ms: i64, bucket: &str) -> String {
    let t = DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default();
    if bucket == "day" {
        t.format("%Y-%m-%d").to_string()
    } else if t.date_naive() == Utc::now().date_naive() {
        t.format("%H:%M UTC").to_string()
    } else {
        t.format("%Y-%m-%d %H:%M UTC").to_string()
    }
}
