//! How numbers, times and links read on the pages. The script (`views/static/live.js`)
//! formats live updates the same way, so a row looks the same rendered or updated.
use chrono::{DateTime, Utc};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::views::Part;
use crate::store::pages::{MARK_END, MARK_START};

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

/// A time as the pages show it (UTC here; the script shows it in the reader's zone):
/// the time of day for today, the date and minute otherwise.
pub fn short_time(ms: i64) -> String {
    let t = DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default();
    if t.date_naive() == Utc::now().date_naive() {
        t.format("%H:%M:%S").to_string()
    } else {
        t.format("%Y-%m-%d %H:%M").to_string()
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

/// Links to the previous and next page of a list, keeping its sort.
pub fn pager(path: &str, sort: &str, offset: i64, size: i64, rows: usize) -> (Option<String>, Option<String>) {
    let link = |o: i64| {
        let o = o.to_string();
        format!(
            "{path}{}",
            query(&[("sort", Some(sort)), ("offset", Some(o.as_str()).filter(|o| *o != "0"))])
        )
    };
    let prev = (offset > 0).then(|| link((offset - size).max(0)));
    let next = (rows as i64 == size).then(|| link(offset + size));
    (prev, next)
}

/// Splits FTS5 `highlight()` output into marked and unmarked parts.
pub fn parts(marked: &str) -> Vec<Part> {
    let mut out = Vec::new();
    let mut mark = false;
    let mut cur = String::new();
    for ch in marked.chars() {
        let flip = if mark { ch == MARK_END } else { ch == MARK_START };
        if flip {
            if !cur.is_empty() {
                out.push(Part {
                    text: std::mem::take(&mut cur),
                    mark,
                });
            }
            mark = !mark;
        } else {
            cur.push(ch);
        }
    }
    if !cur.is_empty() {
        out.push(Part { text: cur, mark });
    }
    out
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

    #[test]
    fn splits_highlights_and_keeps_text_as_text() {
        let s = format!("a {MARK_START}<b>{MARK_END} c");
        let p = parts(&s);
        assert_eq!(p.len(), 3);
        assert_eq!((p[1].text.as_str(), p[1].mark), ("<b>", true));
        assert_eq!((p[2].text.as_str(), p[2].mark), (" c", false));
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
