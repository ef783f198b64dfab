//! How numbers, times and links read on the pages. The script (`views/static/live.js`)
//! formats live updates the same way, so a row looks the same rendered or updated.
use chrono::{DateTime, Utc};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::views::Part;
use crate::store::{ChannelId, SearchQuery, StreamKind};

/// What a query value keeps as is: RFC 3986's unreserved characters. Everything else,
/// including every non-ASCII byte, is percent-encoded.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// 1234567 → "1,234,567" (the script formats the same way).
pub fn group(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// A time as the pages are rendered with it, by the rule the script (`views/static/time.js`)
/// then applies in the reader's zone or UTC: the time of day when the day is today, the
/// date and minute otherwise, the zone always named. Here the zone is UTC, so a page read
/// without the script says the truth.
pub fn short_time(ms: i64) -> String {
    short_time_at(ms, Utc::now())
}

fn short_time_at(ms: i64, now: DateTime<Utc>) -> String {
    let t = DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default();
    if t.date_naive() == now.date_naive() {
        t.format("%H:%M:%S UTC").to_string()
    } else {
        t.format("%Y-%m-%d %H:%M UTC").to_string()
    }
}

/// `ms` as the value of an `<input type="datetime-local">` in UTC (the script shows it in
/// the zone the page shows).
pub fn datetime_local(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string()
}

/// A stream's page.
pub fn stream_href(id: ChannelId) -> String {
    format!("/streams/{id}")
}

/// A stream as a link to it reads: `#slug` for a channel, its name for an incident or a
/// named thread, else its kind and id ("thread 7"). The script's `streamLabel` is the same.
pub fn stream_label(kind: StreamKind, name: Option<&str>, id: ChannelId) -> String {
    match (kind, name) {
        (StreamKind::Channel, Some(n)) => format!("#{n}"),
        (_, Some(n)) => n.to_owned(),
        (k, None) => format!("{} {id}", k.as_str()),
    }
}

/// A query string from the pairs whose value is set.
pub fn query(pairs: &[(&str, Option<&str>)]) -> String {
    let q: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| {
            v.filter(|v| !v.is_empty())
                .map(|v| format!("{k}={}", utf8_percent_encode(v, QUERY_VALUE)))
        })
        .collect();
    if q.is_empty() {
        String::new()
    } else {
        format!("?{}", q.join("&"))
    }
}

/// Links to the previous and next page of a list, keeping what it is asked with (`keep`:
/// its sort, its name prefix).
pub fn pager(
    path: &str,
    keep: &[(&str, Option<&str>)],
    offset: i64,
    size: i64,
    rows: usize,
) -> (Option<String>, Option<String>) {
    let link = |o: i64| {
        let o = o.to_string();
        let mut pairs = keep.to_vec();
        pairs.push(("offset", Some(o.as_str()).filter(|o| *o != "0")));
        format!("{path}{}", query(&pairs))
    };
    let prev = (offset > 0).then(|| link((offset - size).max(0)));
    let next = (rows as i64 == size && offset.checked_add(size).is_some()).then(|| link(offset + size));
    (prev, next)
}

/// A rate as the pages write it (the script's `fmtRate` is the same): whole numbers from
/// 10 ("1,204"), one decimal from 1 ("2.5"), two significant digits below ("0.017"), no
/// trailing zeros ("3", "0.1"), and "0" for none.
pub fn rate(v: f64) -> String {
    if v.is_nan() || v <= 0.0 {
        return "0".into();
    }
    if v >= 10.0 {
        return group(v.round() as i64);
    }
    let places = if v >= 1.0 {
        1
    } else {
        (1 - v.log10().floor() as i64).clamp(1, 6) as usize
    };
    // Halves round up, as the script's `Math.round` does (formatting alone rounds them to even).
    let scale = 10f64.powi(places as i32);
    let s = format!("{:.places$}", (v * scale).round() / scale);
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// A file's size as people read it (the script's `fileSize` is the same): "1 byte",
/// "512 bytes", then in units of 1,024 with one decimal below 10 and none from 10
/// ("4.5 KB", "120 KB", "25 MB"), moving up a unit from 1,000 of one ("0.98 MB" reads
/// "1 MB").
pub fn file_size(bytes: i64) -> String {
    if bytes < 1024 {
        return count_of(bytes.max(0), "byte", "bytes");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 999.5 && unit < 2 {
        v /= 1024.0;
        unit += 1;
    }
    let unit = ["KB", "MB", "GB"][unit];
    // Halves round up, as the script's `Math.round` does.
    let n = if v < 9.95 { (v * 10.0).round() / 10.0 } else { v.round() };
    let s = format!("{n:.1}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{} {unit}", if n >= 10.0 { group(n as i64) } else { s.to_owned() })
}

/// `n` of `of` as a whole percentage ("60%"), "0%" of nothing (the script's `share`).
pub fn share(n: i64, of: i64) -> String {
    if of <= 0 {
        return "0%".into();
    }
    format!("{}%", (100.0 * n.max(0) as f64 / of as f64).round() as i64)
}

/// "1 user", "1,204 users".
pub fn count_of(n: i64, one: &str, many: &str) -> String {
    format!("{} {}", group(n), if n == 1 { one } else { many })
}

/// The words of `text` as the search index sees them: runs of letters and digits, with
/// their byte ranges, lowercased.
fn words(text: &str) -> Vec<(usize, usize, String)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, ch) in text.char_indices().chain(std::iter::once((text.len(), ' '))) {
        match (ch.is_alphanumeric(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push((s, i, text[s..i].to_lowercase()));
                start = None;
            }
            _ => {}
        }
    }
    out
}

/// `text` split into parts, those the search `query` matched marked. The matches are found
/// here, from the query's terms, never from markers inside the text: a text holding any
/// character at all is shown as it is. (Words are compared lowercased; the index also
/// folds accents, so a match found through an accent is shown unmarked.)
pub fn highlight(text: &str, query: &SearchQuery) -> Vec<Part> {
    let words = words(text);
    let mut marked: Vec<(usize, usize)> = Vec::new();
    for term in query.terms() {
        let want: Vec<String> = words_of(&term.text);
        let Some(last) = want.len().checked_sub(1) else {
            continue;
        };
        for i in 0..words.len().saturating_sub(last) {
            let hit = want.iter().enumerate().all(|(k, w)| {
                let have = &words[i + k].2;
                if k == last && term.prefix {
                    have.starts_with(w.as_str())
                } else {
                    have == w
                }
            });
            if hit {
                marked.push((words[i].0, words[i + last].1));
            }
        }
    }
    marked.sort_unstable();
    let mut parts = Vec::new();
    let mut at = 0;
    for (start, end) in marked {
        if end <= at {
            continue;
        }
        let start = start.max(at);
        if start > at {
            parts.push(Part {
                text: text[at..start].to_owned(),
                mark: false,
            });
        }
        parts.push(Part {
            text: text[start..end].to_owned(),
            mark: true,
        });
        at = end;
    }
    if at < text.len() {
        parts.push(Part {
            text: text[at..].to_owned(),
            mark: false,
        });
    }
    parts
}

fn words_of(text: &str) -> Vec<String> {
    words(text).into_iter().map(|(_, _, w)| w).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_thousands() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(1234567), "1,234,567");
    }

    fn marks(text: &str, q: &str) -> Vec<(String, bool)> {
        let query = crate::store::parse_query(q).unwrap();
        highlight(text, &query).into_iter().map(|p| (p.text, p.mark)).collect()
    }

    #[test]
    fn marks_words_prefixes_and_phrases_and_keeps_text_as_text() {
        let m = |s: &str, b| (s.to_owned(), b);
        assert_eq!(
            marks("Hello <b>world</b>!", "hello"),
            vec![m("Hello", true), m(" <b>world</b>!", false)]
        );
        assert_eq!(
            marks("deploy deployed", "deploy*"),
            vec![m("deploy", true), m(" ", false), m("deployed", true)]
        );
        assert_eq!(
            marks("we saw good day, good night", "\"good day\""),
            vec![m("we saw ", false), m("good day", true), m(", good night", false)]
        );
        assert_eq!(marks("nothing here", "absent"), vec![m("nothing here", false)]);
    }

    /// Characters that once served as in-band markers are text like any other.
    #[test]
    fn private_use_characters_in_a_text_mark_nothing() {
        let text = "a \u{E000}fake\u{E001} mark and a real one";
        assert_eq!(
            marks(text, "real"),
            vec![
                ("a \u{E000}fake\u{E001} mark and a ".to_owned(), false),
                ("real".to_owned(), true),
                (" one".to_owned(), false)
            ]
        );
    }

    #[test]
    fn times_name_their_zone_and_the_date_of_another_day() {
        let now = DateTime::parse_from_rfc3339("2026-01-16T20:00:00Z").unwrap().to_utc();
        let ms = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis();
        assert_eq!(short_time_at(ms("2026-01-16T09:30:05Z"), now), "09:30:05 UTC");
        assert_eq!(short_time_at(ms("2026-01-15T23:59:59Z"), now), "2026-01-15 23:59 UTC");
        assert_eq!(datetime_local(ms("2026-01-15T23:59:59.500Z")), "2026-01-15T23:59:59");
    }

    #[test]
    fn pages_keep_what_the_list_is_asked_with() {
        let keep = [("sort", Some("name")), ("prefix", Some("ga"))];
        assert_eq!(
            pager("/users", &keep, 50, 50, 50),
            (
                Some("/users?sort=name&prefix=ga".into()),
                Some("/users?sort=name&prefix=ga&offset=100".into())
            )
        );
        assert_eq!(pager("/users", &[("sort", None)], 0, 50, 3), (None, None));
        assert_eq!(count_of(1, "user", "users"), "1 user");
        assert_eq!(count_of(1204, "user", "users"), "1,204 users");
    }

    #[test]
    fn file_sizes_read_in_bytes_then_units_of_1024() {
        assert_eq!(file_size(0), "0 bytes");
        assert_eq!(file_size(1), "1 byte");
        assert_eq!(file_size(1023), "1,023 bytes");
        assert_eq!(file_size(1024), "1 KB");
        assert_eq!(file_size(4608), "4.5 KB");
        assert_eq!(file_size(120 * 1024 + 300), "120 KB");
        assert_eq!(file_size(1000 * 1024), "1 MB");
        assert_eq!(file_size(25 << 20), "25 MB");
        assert_eq!(file_size(3 << 30), "3 GB");
        assert_eq!(file_size(5000 << 30), "5,000 GB");
    }

    #[test]
    fn shares_are_whole_percentages() {
        assert_eq!(share(0, 0), "0%");
        assert_eq!(share(1, 3), "33%");
        assert_eq!(share(2, 3), "67%");
        assert_eq!(share(1, 8), "13%");
        assert_eq!(share(5, 5), "100%");
    }

    #[test]
    fn rates_read_as_whole_numbers_one_decimal_or_two_digits() {
        assert_eq!(rate(0.0), "0");
        assert_eq!(rate(f64::NAN), "0");
        assert_eq!(rate(1.0 / 60.0), "0.017");
        assert_eq!(rate(0.1), "0.1");
        assert_eq!(rate(0.25), "0.25");
        assert_eq!(rate(3.0 / 24.0), "0.13");
        assert_eq!(rate(0.45), "0.45");
        assert_eq!(rate(0.2), "0.2");
        assert_eq!(rate(1.0), "1");
        assert_eq!(rate(2.46), "2.5");
        assert_eq!(rate(9.96), "10");
        assert_eq!(rate(12.5), "13");
        assert_eq!(rate(4.999_999_99), "5");
        assert_eq!(rate(12_345.4), "12,345");
    }

    #[test]
    fn links_encode_their_values() {
        assert_eq!(query(&[("q", Some("a b&c")), ("user", None)]), "?q=a%20b%26c");
        assert_eq!(query(&[("q", Some(""))]), "");
    }

    /// The unreserved characters stay; everything else is `%XX` in upper case, byte by byte.
    #[test]
    fn links_keep_unreserved_characters_only() {
        assert_eq!(query(&[("q", Some("Az09-_.~"))]), "?q=Az09-_.~");
        assert_eq!(query(&[("q", Some("/?#+=%é"))]), "?q=%2F%3F%23%2B%3D%25%C3%A9");
    }
}
