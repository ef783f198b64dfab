//! The activity chart of the home, channel and profile pages (issue 16): messages per
//! minute, hour or day over a window back from now (`?window=`) or from one time to another
//! (`?since=&until=`), read from the per-minute counts the write path keeps
//! (`store::minutes`), in the page's own read transaction. The page sends every bucket as
//! data; `views/static/live.js` draws them as SVG and adds live messages to the bucket of
//! their `sent_at`. The buckets are the ones `/api/activity` answers for the same window,
//! so the script may read them again from there.
//!
//! The channel and profile pages also show when their messages are written: an hour-of-day
//! × weekday heatmap (`heatmap`), from hourly counts the script folds in the zone it shows.
use serde::Serialize;

use chrono::{DateTime, Datelike, Utc};

use super::format::{datetime_local, group};
use crate::error::ApiError;
use crate::store::minutes::{self, Of};
use crate::store::DbConnection;
use crate::time::{format_ms, parse_rfc3339_ms};
use crate::web::api::ACTIVITY_BUCKETS_MAX;

/// The windows a page offers: its parameter, its button, and how the page says it.
pub const WINDOWS: [(&str, &str, &str, i64); 5] = [
    ("5m", "5 min", "the last 5 minutes", 5),
    ("1h", "1 h", "the last hour", 60),
    ("24h", "24 h", "the last 24 hours", 1440),
    ("7d", "7 d", "the last 7 days", 7 * 1440),
    ("30d", "30 d", "the last 30 days", 30 * 1440),
];

const DAY_MINUTES: i64 = 1440;
/// The heatmap covers the page's window when it spans at least this many minutes (7 days,
/// every weekday once) ...
const HEATMAP_MIN_SPAN: i64 = 7 * DAY_MINUTES;
/// ... else this many: the 30 days that end where the window ends.
const HEATMAP_SPAN: i64 = 30 * DAY_MINUTES;
/// At most this many hours are read for a heatmap (`/api/activity`'s limit): a longer
/// window's heatmap covers its last 10,000 hours (about 417 days), and says so.
const HEATMAP_HOURS_MAX: i64 = ACTIVITY_BUCKETS_MAX;

/// A window the page was asked for (`?window=`), or its default.
pub fn window_param(v: Option<&str>, default: &'static str) -> Result<&'static str, String> {
    let v = v.map(str::trim).filter(|v| !v.is_empty()).unwrap_or(default);
    WINDOWS
        .iter()
        .find(|w| w.0 == v)
        .map(|w| w.0)
        .ok_or_else(|| format!("window must be one of 5m, 1h, 24h, 7d or 30d, not “{v}”."))
}

/// A time from a form: RFC 3339, or the `YYYY-MM-DDTHH:MM[:SS]` of an
/// `<input type="datetime-local">` read as UTC (the pages' script sends the zone shown as
/// an RFC 3339 offset; without the script the fields say UTC).
pub fn parse_form_time(s: &str) -> Option<i64> {
    parse_rfc3339_ms(s)
        .or_else(|| {
            ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
                .iter()
                .find_map(|f| chrono::NaiveDateTime::parse_from_str(s, f).ok())
                .map(|t| t.and_utc().timestamp_millis())
        })
        .or_else(|| {
            // A `+` typed into an address bar arrives as a space: "...T10:00:00 05:30".
            let (head, offset) = s.rsplit_once(' ')?;
            let b = offset.as_bytes();
            let hh_mm = b.len() == 5 && b[2] == b':' && b.iter().enumerate().all(|(i, c)| i == 2 || c.is_ascii_digit());
            if hh_mm {
                parse_rfc3339_ms(&format!("{head}+{offset}"))
            } else {
                None
            }
        })
}

/// What a chart shows: a window back from now, or from one time to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    /// One of [`WINDOWS`] (its index), back from now, rolling with the clock.
    Last(usize),
    /// From the minute `since` falls in to the end of the minute before `until` (whole
    /// minutes, the rollups' grain), in ms; without `until`, up to now, growing.
    Range { since: i64, until: Option<i64> },
}

/// The from–to form as the page shows it: what was asked, and why it was refused.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RangeForm {
    /// A from–to window was asked for (shown, or refused).
    pub custom: bool,
    /// The fields' values: the instant read (as UTC `datetime-local`, which the script
    /// shows in the page's zone), or what was typed when it could not be read.
    pub since: String,
    pub until: String,
    /// The instants read, RFC 3339.
    pub since_at: Option<String>,
    pub until_at: Option<String>,
    /// Why the window cannot be shown.
    pub error: Option<String>,
}

/// The window a page was asked for: its span, or (with `form.error`) none.
#[derive(Debug, Clone)]
pub struct Asked {
    pub span: Option<Span>,
    pub form: RangeForm,
}

/// The bucket `/api/activity` chooses for `span_minutes`: minutes up to 6 h, hours up to
/// 7 d, days beyond; its name and width in minutes.
fn bucket_for(span_minutes: i64) -> (&'static str, i64) {
    match span_minutes {
        s if s <= 360 => ("minute", 1),
        s if s <= 7 * DAY_MINUTES => ("hour", 60),
        _ => ("day", DAY_MINUTES),
    }
}

/// Whole buckets of `width` minutes holding minutes `lo..hi`: the first's start and how many.
fn bucket_range(lo: i64, hi: i64, width: i64) -> (i64, i64) {
    let from = lo.div_euclid(width) * width;
    let to = ((hi - 1).div_euclid(width) + 1) * width;
    (from, (to - from) / width)
}

/// The minutes `lo..hi` a range covers at `now`.
fn range_minutes(since: i64, until: Option<i64>, now: i64) -> (i64, i64) {
    let lo = minutes::minute_of(since);
    let hi = minutes::minute_of(until.unwrap_or(now).saturating_sub(1)) + 1;
    (lo, hi)
}

/// Reads what a page's query asks of its chart. `Err` is a `window` the pages do not
/// offer (the page's 400); a from–to that cannot be shown is `Ok` with `form.error` set,
/// so the page says why beside its form. With `since` or `until`, `window` is not read.
pub fn ask<'a>(
    window: Option<&str>,
    since: Option<&'a str>,
    until: Option<&'a str>,
    default: &'static str,
    now: i64,
) -> Result<Asked, String> {
    if since.is_none() && until.is_none() {
        let w = window_param(window, default)?;
        let i = WINDOWS.iter().position(|x| x.0 == w).unwrap_or(1);
        return Ok(Asked {
            span: Some(Span::Last(i)),
            form: RangeForm::default(),
        });
    }
    let read = |v: Option<&'a str>| v.map(|s| (s, parse_form_time(s)));
    let (s, u) = (read(since), read(until));
    let mut form = RangeForm {
        custom: true,
        ..RangeForm::default()
    };
    for (field, at, v) in [
        (&mut form.since, &mut form.since_at, s),
        (&mut form.until, &mut form.until_at, u),
    ] {
        match v {
            Some((_, Some(ms))) => {
                *field = datetime_local(ms);
                *at = Some(format_ms(ms));
            }
            Some((typed, None)) => *field = typed.to_owned(),
            None => {}
        }
    }
    let bad_time =
        |what: &str| format!("“{what}” must be a date and time such as 2026-01-16T09:30 (UTC) or an RFC 3339 time.");
    let checked = match (s, u) {
        (Some((_, None)), _) => Err(bad_time("From")),
        (_, Some((_, None))) => Err(bad_time("Until")),
        (None, _) => Err("A from–to window needs “From” (“Until” may be left empty: up to now).".to_owned()),
        (Some((_, Some(since))), Some((_, Some(until)))) if until <= since => {
            Err("“Until” must be later than “From”.".to_owned())
        }
        (Some((_, Some(since))), None) if since >= now => {
            Err("“From” is later than now: without “Until” the window ends now.".to_owned())
        }
        (Some((_, Some(since))), u) => {
            let until = u.and_then(|u| u.1);
            let (lo, hi) = range_minutes(since, until, now);
            let (name, width) = bucket_for(hi - lo);
            let (_, count) = bucket_range(lo, hi, width);
            if count > ACTIVITY_BUCKETS_MAX {
                Err(format!(
                    "That window holds {} {name}s, and a chart shows at most {} (one bar a {name}): \
                     choose a shorter window.",
                    group(count),
                    group(ACTIVITY_BUCKETS_MAX)
                ))
            } else {
                Ok(Span::Range { since, until })
            }
        }
    };
    match checked {
        Ok(span) => Ok(Asked { span: Some(span), form }),
        Err(e) => {
            form.error = Some(e);
            Ok(Asked { span: None, form })
        }
    }
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
    /// `5m` … `30d`, or `custom` for a from–to.
    pub window: &'static str,
    /// "the last 24 hours", "from 3 Dec 14:00 to 5 Dec 09:00 (UTC)".
    pub window_label: String,
    /// How the caption says it: "in the last 24 hours", "from 3 Dec …".
    pub window_phrase: String,
    /// `rolling` (back from now), `growing` (from a time to now), `fixed` (to a time still
    /// ahead: live until then) or `static` (over: live messages are not added).
    pub mode: &'static str,
    /// A from–to's exact start and end (its whole minutes), RFC 3339; no end: now.
    pub from_at: Option<String>,
    pub until_at: Option<String>,
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
    /// The page the form is sent to.
    pub path: String,
    pub form: RangeForm,
}

fn window_links(path: &str, current: Option<usize>) -> Vec<WindowLink> {
    WINDOWS
        .iter()
        .enumerate()
        .map(|(i, w)| WindowLink {
            label: w.1,
            href: format!("{path}?window={}", w.0),
            current: current == Some(i),
        })
        .collect()
}

/// Messages per bucket of `width` minutes over minutes `lo..hi`, counted exactly: the
/// buckets are whole (aligned as `/api/activity` aligns them), but a first or last one that
/// the range cuts counts only its minutes inside. The first bucket's start and the counts.
fn exact_buckets(c: &mut DbConnection, of: Of, lo: i64, hi: i64, width: i64) -> Result<(i64, Vec<i64>), ApiError> {
    let (from, n) = bucket_range(lo, hi, width);
    let mut counts = vec![0i64; n.max(0) as usize];
    let mut add = |start: i64, messages: i64| {
        if let Some(slot) = counts.get_mut((start - from).div_euclid(width) as usize) {
            *slot += messages;
        }
    };
    // The whole buckets inside, then a cut one at either end (one read each).
    let a = lo.div_euclid(width) * width + if lo.rem_euclid(width) == 0 { 0 } else { width };
    let b = hi.div_euclid(width) * width;
    if a >= hi {
        for (start, m) in minutes::activity(c, of, lo, hi, hi - lo)? {
            add(start, m);
        }
        return Ok((from, counts));
    }
    if lo < a {
        for (start, m) in minutes::activity(c, of, lo, a, a - lo)? {
            add(start, m);
        }
    }
    if a < b {
        for (start, m) in minutes::activity(c, of, a, b, width)? {
            add(start, m);
        }
    }
    if b < hi {
        for (start, m) in minutes::activity(c, of, b, hi, hi - b)? {
            add(start, m);
        }
    }
    Ok((from, counts))
}

/// The chart a page was asked for, read in its transaction. Back from now: by
/// `/api/activity`'s rule (minutes up to 6 h, hours up to 7 d, days beyond), whole buckets,
/// the last one holding now. From–to: the same buckets, each counting only the minutes
/// inside the window.
pub fn read(c: &mut DbConnection, of: Of, asked: &Asked, now: i64, path: &str) -> Result<ChartView, ApiError> {
    let Some(span) = asked.span else {
        return Ok(ChartView {
            window: "custom",
            window_label: String::new(),
            window_phrase: String::new(),
            mode: "static",
            from_at: None,
            until_at: None,
            bucket: "minute",
            bucket_minutes: 1,
            since: String::new(),
            counts: String::new(),
            total: 0,
            total_fmt: "0".into(),
            peak_at: None,
            peak_time: String::new(),
            peak_fmt: String::new(),
            windows: window_links(path, None),
            path: path.to_owned(),
            form: asked.form.clone(),
        });
    };
    let (window, label, phrase, mode, lo, hi, current) = match span {
        Span::Last(i) => {
            let (window, _, label, minutes) = WINDOWS[i.min(WINDOWS.len() - 1)];
            let until = minutes::minute_of(now - 1) + 1;
            let since = minutes::minute_of(now - minutes * 60_000);
            (
                window,
                label.to_owned(),
                format!("in {label}"),
                "rolling",
                since,
                until,
                Some(i),
            )
        }
        Span::Range { since, until } => {
            let (lo, hi) = range_minutes(since, until, now);
            let label = range_label(lo * 60_000, until.map(|_| hi * 60_000), now);
            let mode = match until {
                None => "growing",
                Some(u) if u > now => "fixed",
                Some(_) => "static",
            };
            ("custom", label.clone(), label, mode, lo, hi, None)
        }
    };
    let (bucket, width) = bucket_for(match span {
        // A window back from now is named for its span; its buckets are the API's for it.
        Span::Last(i) => WINDOWS[i.min(WINDOWS.len() - 1)].3,
        Span::Range { .. } => hi - lo,
    });
    let (from, counts) = match span {
        // Back from now: whole buckets, the first one too (it rolls away with the clock).
        Span::Last(_) => {
            let (from, n) = bucket_range(lo, hi, width);
            exact_buckets(c, of, from, from + n * width, width)?
        }
        Span::Range { .. } => exact_buckets(c, of, lo, hi, width)?,
    };
    let total: i64 = counts.iter().sum();
    let peak = counts
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .max_by_key(|(i, n)| (**n, *i))
        .map(|(i, n)| ((from + i as i64 * width) * 60_000, *n));
    let is_range = matches!(span, Span::Range { .. });
    // A from–to's first bucket may be cut: it starts where the window does.
    let peak = peak.map(|(ms, n)| if is_range { (ms.max(lo * 60_000), n) } else { (ms, n) });
    Ok(ChartView {
        window,
        window_label: label,
        window_phrase: phrase,
        mode,
        from_at: is_range.then(|| format_ms(lo * 60_000)),
        until_at: match span {
            Span::Range { until: Some(_), .. } => Some(format_ms(hi * 60_000)),
            _ => None,
        },
        bucket,
        bucket_minutes: width,
        since: format_ms(from * 60_000),
        counts: counts.iter().map(i64::to_string).collect::<Vec<_>>().join(","),
        total,
        total_fmt: group(total),
        peak_at: peak.map(|(ms, _)| format_ms(ms)),
        peak_time: peak.map_or_else(String::new, |(ms, _)| bucket_time(ms, bucket)),
        peak_fmt: peak.map_or_else(String::new, |(_, n)| group(n)),
        windows: window_links(path, current),
        path: path.to_owned(),
        form: asked.form.clone(),
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

/// A from–to as the page says it, in UTC (the script says it again in the zone shown, by
/// the same words): "from 3 Dec 14:00 to 5 Dec 09:00 (UTC)", with the years when either
/// end is in another year than now; "to now" without an end.
pub fn range_label(since_ms: i64, until_ms: Option<i64>, now_ms: i64) -> String {
    let at = |ms: i64| DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default();
    let this_year = at(now_ms).year();
    let years = at(since_ms).year() != this_year || until_ms.is_some_and(|u| at(u).year() != this_year);
    let fmt = |ms: i64| {
        let t = at(ms);
        if years {
            t.format("%-d %b %Y %H:%M").to_string()
        } else {
            t.format("%-d %b %H:%M").to_string()
        }
    };
    match until_ms {
        Some(u) => format!("from {} to {} (UTC)", fmt(since_ms), fmt(u)),
        None => format!("from {} to now (UTC)", fmt(since_ms)),
    }
}

/// What the heatmap's template sees: hourly counts (UTC hours) the script folds into
/// weekday × hour cells in the zone it shows.
#[derive(Serialize)]
pub struct HeatmapView {
    /// "the last 30 days", "from 3 Nov 09:00 to 3 Dec 09:00 (UTC)".
    pub label: String,
    /// The heading's words: the label with the zone ("the last 30 days (UTC)").
    pub heading: String,
    /// Set when the heatmap covers more than the chart's window (a window under 7 days),
    /// or less (one over 10,000 hours): what it covers instead, in words.
    pub note: Option<String>,
    /// The first hour's start (a whole UTC hour), RFC 3339.
    pub since: String,
    /// Exactly what it counts: from this minute ...
    pub from_at: String,
    /// ... to this one (exclusive); none: up to now, growing (live).
    pub until_at: Option<String>,
    /// Back from now: the span it keeps, in minutes, as the clock moves (0 when it does not
    /// move: a from–to).
    pub rolling_minutes: i64,
    /// Whether live messages are added (its end is now or ahead).
    pub live: bool,
    /// Hours with messages: "hour index:messages,..." from `since`.
    pub counts: String,
    pub total: i64,
    pub total_fmt: String,
    /// The busiest cell in UTC, for the page without its script: "Tue 14:00 UTC", and its count.
    pub peak: Option<String>,
    pub peak_fmt: String,
}

const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// The heatmap of a page: over its window when that spans 7 days or more, else over the 30
/// days that end where the window ends (the last 30 days for a window back from now); at
/// most the last 10,000 hours. A page whose from–to was refused gets the last 30 days.
pub fn heatmap(c: &mut DbConnection, of: Of, asked: &Asked, now: i64) -> Result<HeatmapView, ApiError> {
    let now_hi = minutes::minute_of(now - 1) + 1;
    // Back from now, whole hours as the chart's are: from the start of the hour the window
    // starts in to the end of the hour holding now.
    let last = |m: i64| {
        let (from, n) = bucket_range(minutes::minute_of(now - m * 60_000), now_hi, 60);
        (from, from + n * 60)
    };
    // Its minutes, whether its end is fixed (a from–to's `until`), the span it keeps back
    // from now (0: its start does not move), and its label.
    let (mut lo, hi, end, rolling, mut label) = match asked.span {
        Some(Span::Last(i)) if WINDOWS[i].3 >= HEATMAP_MIN_SPAN => {
            let m = WINDOWS[i].3;
            let (lo, hi) = last(m);
            (lo, hi, false, m, WINDOWS[i].2.to_owned())
        }
        Some(Span::Range { since, until }) => {
            let (lo, hi) = range_minutes(since, until, now);
            let end = until.map(|_| hi * 60_000);
            let lo = if hi - lo >= HEATMAP_MIN_SPAN {
                lo
            } else {
                hi - HEATMAP_SPAN
            };
            (lo, hi, end.is_some(), 0, range_label(lo * 60_000, end, now))
        }
        _ => {
            let (lo, hi) = last(HEATMAP_SPAN);
            (lo, hi, false, HEATMAP_SPAN, "the last 30 days".to_owned())
        }
    };
    // Live while its end is now or still ahead.
    let live = !end || hi * 60_000 > now;
    let mut note = match asked.span {
        Some(Span::Last(i)) if WINDOWS[i].3 < HEATMAP_MIN_SPAN => Some(format!(
            "Over 30 days: the chart’s window, {}, is shorter than a week.",
            WINDOWS[i].2
        )),
        Some(Span::Range { since, until }) => {
            let (lo, hi) = range_minutes(since, until, now);
            (hi - lo < HEATMAP_MIN_SPAN)
                .then(|| "Over the 30 days to the end of the chart’s window, which is shorter than a week.".to_owned())
        }
        None => Some("Over the last 30 days.".to_owned()),
        _ => None,
    };
    if hi - lo > HEATMAP_HOURS_MAX * 60 {
        lo = hi - HEATMAP_HOURS_MAX * 60;
        label = range_label(lo * 60_000, end.then_some(hi * 60_000), now);
        note = Some("Over the last 10,000 hours of the chart’s window.".to_owned());
    }
    let (from, counts) = exact_buckets(c, of, lo, hi, 60)?;
    let mut cells = [0i64; 7 * 24];
    let mut sparse = Vec::new();
    for (i, n) in counts.iter().enumerate().filter(|(_, n)| **n != 0) {
        sparse.push(format!("{i}:{n}"));
        let t = DateTime::<Utc>::from_timestamp_millis((from + i as i64 * 60) * 60_000).unwrap_or_default();
        let day = t.weekday().num_days_from_monday() as usize;
        cells[day * 24 + chrono::Timelike::hour(&t) as usize] += n;
    }
    let total: i64 = counts.iter().sum();
    let peak = cells
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .max_by_key(|(i, n)| (**n, std::cmp::Reverse(*i)));
    let heading = if rolling > 0 {
        format!("{label} (UTC)")
    } else {
        label.clone()
    };
    Ok(HeatmapView {
        heading,
        label,
        note,
        since: format_ms(from * 60_000),
        from_at: format_ms(lo * 60_000),
        until_at: end.then(|| format_ms(hi * 60_000)),
        rolling_minutes: rolling,
        live,
        counts: sparse.join(","),
        total,
        total_fmt: group(total),
        peak: peak.map(|(i, _)| format!("{} {:02}:00 UTC", WEEKDAYS[i / 24], i % 24)),
        peak_fmt: peak.map_or_else(String::new, |(_, n)| group(*n)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        parse_rfc3339_ms(s).unwrap()
    }

    const NOW: &str = "2026-03-10T12:00:30Z";

    fn asked(since: Option<&str>, until: Option<&str>) -> Asked {
        ask(None, since, until, "24h", ms(NOW)).unwrap()
    }

    #[test]
    fn a_from_to_is_read_in_the_zone_it_names_and_needs_a_start_before_its_end() {
        let a = asked(Some("2026-03-03T14:00:00+01:00"), Some("2026-03-05T09:00"));
        assert_eq!(
            a.span,
            Some(Span::Range {
                since: ms("2026-03-03T13:00:00Z"),
                until: Some(ms("2026-03-05T09:00:00Z"))
            })
        );
        assert_eq!(a.form.since, "2026-03-03T13:00:00");
        assert_eq!(a.form.until_at.as_deref(), Some("2026-03-05T09:00:00.000Z"));
        assert!(a.form.error.is_none());

        let no_end = asked(Some("2026-03-10T11:00:00Z"), None);
        assert_eq!(
            no_end.span,
            Some(Span::Range {
                since: ms("2026-03-10T11:00:00Z"),
                until: None
            })
        );

        let err = |s: Option<&str>, u: Option<&str>| asked(s, u).form.error.unwrap_or_default();
        assert!(err(Some("yesterday"), None).starts_with("“From” must be a date"));
        assert!(err(Some("2026-03-03T14:00"), Some("soon")).starts_with("“Until” must be a date"));
        assert_eq!(
            err(Some("2026-03-05T09:00"), Some("2026-03-05T09:00")),
            "“Until” must be later than “From”."
        );
        assert!(err(None, Some("2026-03-05T09:00")).contains("needs “From”"));
        assert!(err(Some("2026-03-11T00:00"), None).starts_with("“From” is later than now"));
        // Days beyond 7 days: 10,000 of them at most.
        assert!(err(Some("1990-01-01T00:00"), Some("2026-01-01T00:00")).contains("13,149 days"));
        assert!(err(Some("2000-01-01T00:00"), Some("2026-01-01T00:00")).is_empty());
        // An offset's `+` that arrived as a space.
        assert_eq!(
            parse_form_time("2026-03-03T14:00:00 01:00"),
            Some(ms("2026-03-03T13:00:00Z"))
        );
        // A refused from–to keeps what was typed.
        assert_eq!(asked(Some("yesterday"), None).form.since, "yesterday");
        // Without since and until, the window; a bad one is the page's 400.
        assert_eq!(ask(Some("7d"), None, None, "24h", 0).unwrap().span, Some(Span::Last(3)));
        assert!(ask(Some("2w"), None, None, "24h", 0).is_err());
        // With them, `window` is not read.
        assert!(ask(Some("2w"), Some("2026-03-03T14:00"), None, "24h", ms(NOW)).is_ok());
    }

    #[test]
    fn buckets_follow_the_api() {
        assert_eq!(bucket_for(360), ("minute", 1));
        assert_eq!(bucket_for(361), ("hour", 60));
        assert_eq!(bucket_for(7 * 1440), ("hour", 60));
        assert_eq!(bucket_for(7 * 1440 + 1), ("day", 1440));
        // 14:30 to 16:10 in hours: 14:00, 15:00, 16:00.
        assert_eq!(bucket_range(14 * 60 + 30, 16 * 60 + 10, 60), (14 * 60, 3));
        assert_eq!(bucket_range(0, 60, 60), (0, 1));
    }

    #[test]
    fn a_from_to_says_its_days_and_years() {
        let now = ms(NOW);
        assert_eq!(
            range_label(ms("2026-03-03T14:00:00Z"), Some(ms("2026-03-05T09:00:00Z")), now),
            "from 3 Mar 14:00 to 5 Mar 09:00 (UTC)"
        );
        assert_eq!(
            range_label(ms("2025-12-30T14:00:00Z"), Some(ms("2026-01-02T09:00:00Z")), now),
            "from 30 Dec 2025 14:00 to 2 Jan 2026 09:00 (UTC)"
        );
        assert_eq!(
            range_label(ms("2026-03-10T11:00:00Z"), None, now),
            "from 10 Mar 11:00 to now (UTC)"
        );
    }
}
