//! Messages to ingest and the assertions tests make about ids and counts.
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub fn msg(channel: &str, user: &str, text: &str) -> Value {
    json!({"channel": channel, "user": user, "text": text})
}

/// `n` messages in one channel from one user with numbered texts.
pub fn numbered(channel: &str, user: &str, prefix: &str, n: usize) -> Vec<Value> {
    (0..n).map(|i| msg(channel, user, &format!("{prefix} {i}"))).collect()
}

pub fn ids_of(body: &Value) -> Vec<i64> {
    body["ids"]
        .as_array()
        .unwrap_or_else(|| panic!("ingest response without `ids`: {body}"))
        .iter()
        .map(|v| v.as_i64().expect("ids are integers"))
        .collect()
}

/// Asserts `got` is exactly `expected`, explaining the first difference,
/// duplicates and missing ids.
pub fn assert_same_ids(what: &str, got: &[i64], expected: &[i64]) {
    if got == expected {
        return;
    }
    let mut seen = HashSet::new();
    let dups: Vec<i64> = got.iter().filter(|i| !seen.insert(**i)).copied().collect();
    let got_set: HashSet<i64> = got.iter().copied().collect();
    let exp_set: HashSet<i64> = expected.iter().copied().collect();
    let missing: Vec<i64> = expected.iter().filter(|i| !got_set.contains(i)).copied().collect();
    let extra: Vec<i64> = got.iter().filter(|i| !exp_set.contains(i)).copied().collect();
    let first = got
        .iter()
        .zip(expected.iter())
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(expected.len()));
    panic!(
        "{what}: got {} ids, expected {}; first difference at position {first} \
         (got {:?}, expected {:?}); {} duplicates {:?}; {} missing {:?}; {} unexpected {:?}",
        got.len(),
        expected.len(),
        got.get(first),
        expected.get(first),
        dups.len(),
        &dups[..dups.len().min(10)],
        missing.len(),
        &missing[..missing.len().min(10)],
        extra.len(),
        &extra[..extra.len().min(10)],
    );
}

pub fn assert_strictly_increasing(what: &str, ids: &[i64]) {
    for w in ids.windows(2) {
        assert!(
            w[0] < w[1],
            "{what}: ids not strictly increasing ({} then {})",
            w[0],
            w[1]
        );
    }
}

/// Latest-value-wins view of count events, keyed by entity name.
#[derive(Default, Debug, Clone)]
pub struct Counts {
    pub totals: BTreeMap<String, i64>,
    pub cursors: BTreeMap<String, i64>,
    pub events: usize,
}

impl Counts {
    /// Applies a `channel_count` / `user_count` / `user_profile` event,
    /// checking that an entity's count never goes backwards.
    pub fn apply(&mut self, v: &Value) {
        let name_key = match v["type"].as_str() {
            Some("channel_count") => "channel",
            Some("user_count") | Some("user_profile") => "user",
            _ => return,
        };
        let name = v[name_key]
            .as_str()
            .unwrap_or_else(|| panic!("count event without `{name_key}`: {v}"))
            .to_string();
        let total = v["total_messages"]
            .as_i64()
            .unwrap_or_else(|| panic!("count event without integer total_messages: {v}"));
        let cursor = v["cursor"]
            .as_i64()
            .unwrap_or_else(|| panic!("count event without integer cursor: {v}"));
        if let Some(prev) = self.totals.get(&name) {
            assert!(
                total >= *prev,
                "count for `{name}` went backwards from {prev} to {total}: {v}"
            );
        }
        if let Some(prev) = self.cursors.get(&name) {
            assert!(
                cursor >= *prev,
                "cursor of `{name}` count went backwards from {prev} to {cursor}: {v}"
            );
        }
        self.totals.insert(name.clone(), total);
        self.cursors.insert(name, cursor);
        self.events += 1;
    }
}

/// Polls `f` until it returns `Some`, or panics with `what` at the deadline.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        actix_rt::time::sleep(Duration::from_millis(25)).await;
    }
}
