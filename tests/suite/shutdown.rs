//! Graceful shutdown on SIGTERM: subscribers are told, writes that were
//! acknowledged are kept, the process exits 0.

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;

#[actix_rt::test]
async fn sigterm_tells_subscribers_keeps_acknowledged_writes_and_exits_0() {
    let mut app = TestApp::start().await;
    app.ingest(&numbered("general", "alice", "before", 10)).await;

    let mut ws = app.ws("messages", None, None).await;
    ws.until_connected(WAIT).await;
    let mut sse = app.sse("home", None, None, None).await;
    sse.until_connected(WAIT).await;
    let mut ws_home = app.ws("home", None, None).await;
    ws_home.until_connected(WAIT).await;

    let readers: Vec<_> = [ws, sse, ws_home]
        .into_iter()
        .map(|mut live| {
            actix_rt::spawn(async move {
                let t = live.transport();
                let (events, end) = live.read_to_end(Duration::from_secs(45)).await;
                (t, events, end)
            })
        })
        .collect();

    let acked: Rc<RefCell<Vec<i64>>> = Rc::new(RefCell::new(Vec::new()));
    let mut writers = Vec::new();
    for w in 0..2 {
        let api = app.api.clone();
        let acked = acked.clone();
        writers.push(actix_rt::spawn(async move {
            let mut outcomes = Vec::new();
            for r in 0.. {
                let batch: Vec<Value> = numbered(&format!("w{w}"), "writer", &format!("r{r}"), 10);
                match api.try_post_json(&Value::Array(batch)).await {
                    Ok(resp) if (200..300).contains(&resp.status) => {
                        acked.borrow_mut().extend(ids_of(&resp.json));
                    }
                    Ok(resp) => outcomes.push(format!("HTTP {}", resp.status)),
                    Err(e) => outcomes.push(e),
                }
                if outcomes.len() >= 3 {
                    break;
                }
                if !outcomes.is_empty() {
                    actix_rt::time::sleep(Duration::from_millis(50)).await;
                }
            }
            outcomes
        }));
    }

    // Let some writes through, then stop the server in the middle of them.
    let deadline = Instant::now() + WAIT;
    while acked.borrow().len() < 200 {
        assert!(
            Instant::now() < deadline,
            "writers got only {} acks",
            acked.borrow().len()
        );
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
    app.send_sigterm();
    let status = app.wait_exit(Duration::from_secs(40)).await;
    assert!(
        status.success(),
        "chatpulse should exit 0 after SIGTERM, got {status}; log:\n{}",
        app.log_tail(40)
    );

    for r in readers {
        let (t, events, end) = r.await.unwrap();
        let status = events
            .iter()
            .rev()
            .find(|e| e["type"] == "status")
            .unwrap_or_else(|| panic!("[{t}] no status before the end ({end:?})"));
        assert_eq!(status["state"], "reconnecting", "[{t}] last status: {status}");
        assert_eq!(status["reason"], "server_shutdown", "[{t}] last status: {status}");
        assert!(
            status["retry_after_ms"].is_u64(),
            "[{t}] reconnecting carries retry_after_ms: {status}"
        );
        match t {
            Transport::Ws => assert!(
                matches!(end, Next::Closed(Some(1001))),
                "[{t}] expected close 1001 (going away), got {end:?}"
            ),
            Transport::Sse => assert!(end.is_end(), "[{t}] stream should end, got {end:?}"),
        }
    }
    for w in writers {
        let outcomes = w.await.unwrap();
        assert!(!outcomes.is_empty());
    }

    let acked: Vec<i64> = acked.borrow().clone();
    assert!(acked.len() >= 200);
    app.restart().await;
    let stored: HashSet<i64> = app.stored_ids().await.into_iter().collect();
    let lost: Vec<i64> = acked.iter().filter(|id| !stored.contains(id)).copied().collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged messages are gone after the restart, e.g. {:?}",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(10)]
    );
}

#[actix_rt::test]
async fn sigterm_on_an_idle_server_exits_0_and_restarts_on_the_same_data() {
    let mut app = TestApp::start().await;
    let ids = app.ingest_ids(&numbered("general", "alice", "m", 25)).await;
    let epoch = app.epoch().await;
    let status = app.sigterm().await;
    assert!(status.success(), "exit status after SIGTERM: {status}");
    app.restart().await;
    assert_eq!(app.epoch().await, epoch);
    assert_same_ids("after restart", &app.stored_ids().await, &ids);
    // And it is live again.
    let mut live = app.ws("messages", Some(ids[24]), Some(&epoch)).await;
    live.until_connected(WAIT).await;
    let more = app.ingest_ids(&numbered("general", "alice", "n", 2)).await;
    let events = live.read_messages(2, WAIT).await;
    assert_same_ids("live after restart", &message_ids(&events), &more);
}
