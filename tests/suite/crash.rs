//! Crash loop: the server is killed with SIGKILL while single and batched ingest requests
//! are in flight, then started again on the same database, several times. Every
//! acknowledged message must be there, no batch may be stored in part, counts must equal
//! what is stored, the full-text index must be in step, and the epoch must be kept.
//!
//! `CHATPULSE_CRASH_CYCLES=N` runs more cycles (the default 3 keeps the suite quick):
//! `CHATPULSE_CRASH_CYCLES=50 cargo test --test suite crash_loop -- --nocapture`, and with
//! `CHATPULSE_TEST_DATABASE=postgres` on PostgreSQL.
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde_json::Value;

use crate::common::*;

/// What a writer sent: per batch tag, its size and whether it was acknowledged.
type Sent = Vec<(String, usize, bool)>;

/// Posts batches of 1 and of 25 messages until the server stops answering.
async fn write_until_killed(api: Api, writer: usize, cycle: usize) -> Sent {
    let mut sent = Sent::new();
    for k in 0.. {
        let size = if k % 2 == 0 { 1 } else { 25 };
        // One word no other batch has, so the index can be asked for exactly this batch.
        let tag = format!("zq{cycle}w{writer}b{k}");
        let batch: Vec<Value> = (0..size)
            .map(|i| {
                msg(
                    ["general", "ops"][i % 2],
                    ["alice", "bob", "carol"][(k + i) % 3],
                    &format!("{tag} {i}"),
                )
            })
            .collect();
        match api.try_post_json(&Value::Array(batch)).await {
            Ok(r) if r.status == 201 => sent.push((tag, size, true)),
            Ok(r) => panic!("writer {writer}: {r}"),
            Err(_) => {
                sent.push((tag, size, false));
                return sent;
            }
        }
    }
    unreachable!()
}

#[actix_rt::test]
async fn crash_loop_loses_nothing_acknowledged_and_stores_no_batch_in_part() {
    let cycles: usize = std::env::var("CHATPULSE_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let mut app = TestApp::start().await;
    let epoch = app.epoch().await;
    let mut sent = Sent::new();
    for cycle in 0..cycles {
        let writers: Vec<_> = (0..3)
            .map(|w| actix_rt::spawn(write_until_killed(app.api.clone(), w, cycle)))
            .collect();
        actix_rt::time::sleep(Duration::from_millis(300 + 100 * (cycle as u64 % 4))).await;
        app.kill9();
        for w in writers {
            sent.extend(w.await.unwrap());
        }
        app.restart().await;
        assert_eq!(app.epoch().await, epoch, "cycle {cycle}: the epoch is kept");
    }

    let stored = app.stored_messages_after(0).await;
    let mut by_tag: HashMap<&str, usize> = HashMap::new();
    for m in &stored {
        let tag = m["text"].as_str().unwrap().split(' ').next().unwrap();
        *by_tag.entry(tag).or_default() += 1;
    }
    let mut acknowledged = 0;
    for (tag, size, acked) in &sent {
        let n = by_tag.get(tag.as_str()).copied().unwrap_or(0);
        assert!(n == 0 || n == *size, "batch {tag} stored in part: {n} of {size}");
        if *acked {
            assert_eq!(n, *size, "acknowledged batch {tag} is missing");
            acknowledged += 1;
        }
    }
    println!(
        "{cycles} cycles: {} batches sent, {acknowledged} acknowledged, {} messages stored",
        sent.len(),
        stored.len()
    );

    // Counts equal what is stored, per channel, per user and in all.
    let ids: Vec<i64> = stored.iter().map(|m| m["id"].as_i64().unwrap()).collect();
    assert_strictly_increasing("stored ids", &ids);
    assert_eq!(app.total_messages().await, stored.len() as i64);
    let mut channels = BTreeMap::new();
    let mut users = BTreeMap::new();
    for m in &stored {
        *channels
            .entry(m["channel"].as_str().unwrap().to_owned())
            .or_insert(0i64) += 1;
        *users.entry(m["user"].as_str().unwrap().to_owned()).or_insert(0i64) += 1;
    }
    let listed = |list: Vec<Value>, key: &str| -> BTreeMap<String, i64> {
        list.iter()
            .map(|v| {
                (
                    v[key].as_str().unwrap().to_owned(),
                    v["total_messages"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(
        listed(app.all_pages("/api/channels", "channels").await, "name"),
        channels
    );
    assert_eq!(listed(app.all_pages("/api/users", "users").await, "username"), users);

    // The index finds every stored batch by its own word, and nothing of a batch not stored.
    for (tag, size, _) in sent.iter().step_by(3) {
        let found = app.get_json(&format!("/api/search?q={tag}&limit=100")).await["messages"]
            .as_array()
            .map_or(0, Vec::len);
        let n = by_tag.get(tag.as_str()).copied().unwrap_or(0);
        assert_eq!(found, n, "search for {tag} (a batch of {size})");
    }
}
