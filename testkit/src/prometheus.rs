//! The one reader of Prometheus text exposition in the tree: the tests' `metric` queries,
//! the observability tests' label checks and the load generator's counters all use it.

/// One sample line of the exposition text.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    /// `None` when the value does not parse as a number.
    pub value: Option<f64>,
    /// The line as exposed, for failure messages.
    pub line: String,
}

/// Every sample of `text`, in order; comments and blank lines are skipped.
pub fn samples(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some(end) = series_end(line) else { continue };
        let (series, rest) = line.split_at(end);
        let (name, labels) = split_series(series);
        out.push(Sample {
            name,
            labels,
            value: rest.split_whitespace().next().and_then(|v| v.parse::<f64>().ok()),
            line: line.to_string(),
        });
    }
    out
}

/// Sums the samples of `text` whose name is the query's name and whose labels include
/// every label of the query (`name{label="value"}`); `None` when no sample matches.
pub fn parse_metric(text: &str, query: &str) -> Option<f64> {
    let (qname, qlabels) = split_series(query);
    let mut found = None;
    for s in samples(text) {
        if s.name != qname {
            continue;
        }
        let all = qlabels
            .iter()
            .all(|(k, v)| s.labels.iter().any(|(lk, lv)| lk == k && label_eq(lv, v)));
        if let (true, Some(v)) = (all, s.value) {
            *found.get_or_insert(0.0) += v;
        }
    }
    found
}

fn parse_labels(s: &str) -> Vec<(String, String)> {
    // s is the text between `{` and `}`.
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while matches!(chars.peek(), Some(c) if *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.is_empty() {
            break;
        }
        chars.next(); // '='
        if chars.next() != Some('"') {
            break;
        }
        let mut val = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    if let Some(n) = chars.next() {
                        val.push(if n == 'n' { '\n' } else { n });
                    }
                }
                '"' => break,
                c => val.push(c),
            }
        }
        out.push((key.trim().to_string(), val));
    }
    out
}

/// Where the series (name and labels) of a sample line ends. Label values may hold `}`
/// (route templates such as `/api/users/{name}`), so quotes are followed.
fn series_end(line: &str) -> Option<usize> {
    let brace = line.find('{');
    let space = line.find(char::is_whitespace);
    match (brace, space) {
        (Some(b), s) if s.is_none_or(|s| b < s) => {
            let mut quoted = false;
            let mut escaped = false;
            for (i, c) in line[b..].char_indices() {
                match c {
                    _ if escaped => escaped = false,
                    '\\' if quoted => escaped = true,
                    '"' => quoted = !quoted,
                    '}' if !quoted => return Some(b + i + 1),
                    _ => {}
                }
            }
            None
        }
        (_, s) => s,
    }
}

fn split_series(series: &str) -> (String, Vec<(String, String)>) {
    match series.find('{') {
        Some(i) => {
            let end = series.rfind('}').unwrap_or(series.len());
            (series[..i].to_string(), parse_labels(&series[i + 1..end]))
        }
        None => (series.trim().to_string(), Vec::new()),
    }
}

fn label_eq(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# HELP x_total X.\n# TYPE x_total counter\n\
        x_total{reason=\"overflow\",route=\"/api/users/{name}\"} 2\n\
        x_total{reason=\"timeout\"} 3\n\
        x_bucket{le=\"0.5\"} 7\n\
        y 1.5\n";

    #[test]
    fn sums_matching_samples_by_label_subset() {
        assert_eq!(parse_metric(TEXT, "x_total"), Some(5.0));
        assert_eq!(parse_metric(TEXT, "x_total{reason=\"timeout\"}"), Some(3.0));
        assert_eq!(parse_metric(TEXT, "x_bucket{le=\"0.50\"}"), Some(7.0));
        assert_eq!(parse_metric(TEXT, "y"), Some(1.5));
        assert_eq!(parse_metric(TEXT, "z"), None);
    }

    #[test]
    fn reads_labels_with_braces_and_escapes() {
        let s = samples("a{route=\"/u/{name}\",q=\"say \\\"hi\\\"\"} 1\n");
        assert_eq!(s.len(), 1);
        assert_eq!(
            s[0].labels,
            vec![("route".into(), "/u/{name}".into()), ("q".into(), "say \"hi\"".into())]
        );
        assert_eq!(s[0].value, Some(1.0));
    }
}
