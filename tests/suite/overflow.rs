//! DESIGN.md "Session actor" and PROTOCOL.md "Status and closing": a client
//! that stops reading is disconnected; it never freezes anyone else.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;

/// Reads `messages` until `total` messages were seen, reconnecting with
/// `after_id` after an overflow (the designed recovery for a single ingest
/// larger than the queue bound), and reloading over the read API after a fallback. Returns the ids and the reconnect count.
async fn resilient_reader(api: Api, epoch: String, start_after: i64, total: usize) -> (Vec<i64>, usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut ids: Vec<i64> = Vec::new();
    let mut reconnects = 0;
    let mut live = api.ws("messages", Some(start_after), Some(&epoch)).await;
    while ids.len() < total {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "healthy client: only {} of {total} messages",
            ids.len()
        );
        match live.next(left).await {
            Next::Event(e) if is_message(&e) => ids.push(mid(&e)),
            Next::Event(e) if is_status(&e, "connected") || is_status(&e, "idle") => {}
            Next::Event(e) if is_status(&e, "error") && e["reason"] == "overflow" => {}
            // Fell more than `catchup_max` behind while reconnecting: reload over the read API.
            Next::Event(e) if is_status(&e, "fallback") && e["reason"] == "backlog_too_large" => {}
            Next::Event(e) => panic!("healthy client: unexpected event {e}"),
            Next::Closed(Some(4009)) => {
                reconnects += 1;
                let after = ids.last().copied().unwrap_or(start_after);
                ids.extend(api.stored_ids_after(after).await);
                let after = ids.last().copied().unwrap_or(start_after);
                live = api.ws("messages", Some(after), Some(&epoch)).await;
            }
            Next::Closed(Some(4008)) => {
                reconnects += 1;
                assert!(reconnects < 500, "healthy client keeps overflowing");
                let after = ids.last().copied().unwrap_or(start_after);
                live = api.ws("messages", Some(after), Some(&epoch)).await;
            }
            other => panic!("healthy client: {other:?} after {} messages", ids.len()),
        }
    }
    (ids, reconnects)
}

/// One client subscribes to `messages` and then stops reading; another reads
/// everything. About 20 MB flow through in `requests` ingests of
/// `per_request` messages of ~1 KB each.
async fn stalled_reader_story(requests: usize, per_request: usize) {
    let app = TestApp::builder()
        .queue_bytes(65536)
        // This story is about the queue bound; the write timeout has its own test.
        .write_timeout_ms(600_000)
        // Keeps each catch-up batch below the queue bound, so the healthy
        // client's recovery after an overflow cannot overflow again.
        .catchup_batch(20)
        .start()
        .await;
    let epoch = app.epoch().await;
    let c0 = app.cursor().await;

    // Connects, receives `connected`, then is never read again until the end.
    let mut stalled = app.ws("messages", Some(c0), Some(&epoch)).await;
    stalled.until_connected(WAIT).await;

    let total = requests * per_request;
    let healthy = actix_rt::spawn(resilient_reader(app.api.clone(), epoch.clone(), c0, total));

    // Few long tokens keep the full-text index cheap.
    let filler = "x".repeat(1000);
    let mut sent = Vec::new();
    for r in 0..requests {
        let batch: Vec<Value> = (0..per_request)
            .map(|i| msg("flood", &format!("u{}", i % 20), &format!("r{r}m{i} {filler}")))
            .collect();
        sent.extend(app.ingest_ids(&batch).await);
    }
    assert_eq!(sent.len(), total);

    let (got, reconnects) = healthy.await.unwrap();
    assert_same_ids("healthy client", &got, &sent);
    println!("{requests} x {per_request}: healthy client needed {reconnects} reconnect(s) after overflow");

    // The server must have let go of the stalled session on its own: the
    // healthy client is gone, so no `messages` session may remain.
    app.wait_metric(
        "chatpulse_live_connections{transport=\"ws\",view=\"messages\"}",
        WAIT,
        |v| v == 0.0,
    )
    .await
    .unwrap_or_else(|v| panic!("{v} ws/messages session(s) still open: the stalled reader was never disconnected"));
    app.wait_metric(
        "chatpulse_live_connections_closed_total{reason=\"overflow\"}",
        WAIT,
        |v| v >= 1.0,
    )
    .await
    .unwrap_or_else(|v| panic!("closed_total{{reason=\"overflow\"}} is {v}, expected >= 1"));

    // Now read the stalled client: it must end rather than stream on.
    let started = Instant::now();
    let mut events = Vec::new();
    let end = loop {
        let left = Duration::from_secs(15).saturating_sub(started.elapsed());
        match stalled.next(left).await {
            Next::Event(e) => events.push(e),
            end => break end,
        }
    };
    let ids = message_ids(&events);
    println!(
        "{requests} x {per_request}: the stalled client got {} of {total} messages, then {end:?}",
        ids.len()
    );
    match &end {
        Next::Closed(code) => assert_eq!(
            *code,
            Some(4008),
            "the stalled client should be closed with 4008 (overflow)"
        ),
        Next::Ended(_) => {}
        Next::Timeout => panic!(
            "the stalled client was still open after 15 s of reading ({} messages so far)",
            ids.len()
        ),
        Next::Event(_) => unreachable!(),
    }
    assert!(
        ids.len() < total,
        "the stalled client received all {total} messages: it was never disconnected"
    );
    // What it did get is a gap-free prefix: nothing dropped while healthy.
    assert_same_ids("stalled client's messages", &ids, &sent[..ids.len()]);
    let non_messages: Vec<&Value> = events.iter().filter(|e| !is_message(e)).collect();
    assert!(
        non_messages.len() <= 1,
        "at most one status may precede the close: {non_messages:?}"
    );
    if let Some(s) = non_messages.first() {
        assert!(
            is_status(s, "error") && s["reason"] == "overflow",
            "the only status before the close is error/overflow: {s}"
        );
        assert!(
            std::ptr::eq(*s, events.last().unwrap()),
            "error/overflow must be the last event"
        );
        assert!(
            s["retry_after_ms"].is_u64(),
            "overflow status carries retry_after_ms: {s}"
        );
    }

    // The server is still fine.
    assert_eq!(app.get("/healthz").await.status, 200);
    let mut fresh = app.ws("messages", None, None).await;
    fresh.until_connected(WAIT).await;
}

/// Each 1 MB ingest is larger than the 64 KiB bound, so (as PROTOCOL.md
/// allows) even the reading client may be overflowed and must recover.
#[actix_rt::test]
async fn a_stalled_reader_is_disconnected_and_nobody_else_is_held_up() {
    stalled_reader_story(20, 1000).await;
}

/// Every ingest (~30 KB of envelopes) fits the bound: the stalled client can
/// only be caught by its queue filling up because it does not read.
#[actix_rt::test]
async fn a_stalled_reader_behind_small_ingests_is_disconnected() {
    stalled_reader_story(800, 25).await;
}

/// The queue bound is far away (256 MiB): a client that stops reading while a steady
/// trickle flows is caught by `--write-timeout-ms` once the kernel's buffers are full,
/// long before its queue could fill; a reading client on the same view misses nothing.
#[actix_rt::test]
async fn a_stalled_reader_is_cut_off_by_the_write_timeout() {
    let app = TestApp::builder()
        .queue_bytes(256 * 1024 * 1024)
        .write_timeout_ms(500)
        .start()
        .await;
    let epoch = app.epoch().await;
    let c0 = app.cursor().await;
    let mut stalled = app.ws("messages", Some(c0), Some(&epoch)).await;
    stalled.until_connected(WAIT).await;

    // At most this much (40 MB) may flow before the stalled client must be gone.
    const MAX_REQUESTS: usize = 2000;
    let filler = "y".repeat(1000);
    let mut healthy = app.ws("messages", Some(c0), Some(&epoch)).await;
    healthy.until_connected(WAIT).await;
    let mut sent = Vec::new();
    let mut got = Vec::new();
    let mut cut_off = false;
    for r in 0..MAX_REQUESTS {
        let batch: Vec<Value> = (0..20)
            .map(|i| msg("trickle", "u", &format!("r{r}m{i} {filler}")))
            .collect();
        sent.extend(app.ingest_ids(&batch).await);
        got.extend(message_ids(&healthy.read_messages(sent.len() - got.len(), WAIT).await));
        if app
            .metric_or_zero("chatpulse_live_connections_closed_total{reason=\"timeout\"}")
            .await
            >= 1.0
        {
            cut_off = true;
            break;
        }
    }
    assert!(
        cut_off,
        "the stalled client was not disconnected after {} messages of ~1 KB",
        sent.len()
    );
    assert_same_ids("healthy client", &got, &sent);
    assert_eq!(
        app.metric_or_zero("chatpulse_live_connections_closed_total{reason=\"overflow\"}")
            .await,
        0.0,
        "the queue bound (256 MiB) cannot have been reached"
    );
    app.wait_metric(
        "chatpulse_live_connections{transport=\"ws\",view=\"messages\"}",
        WAIT,
        |v| v == 1.0,
    )
    .await
    .unwrap_or_else(|v| panic!("{v} ws/messages sessions open; only the healthy one should be"));
    // Reading the stalled client now ends: its socket was shut down under it.
    let started = Instant::now();
    let end = loop {
        match stalled
            .next(Duration::from_secs(15).saturating_sub(started.elapsed()))
            .await
        {
            Next::Event(_) => {}
            end => break end,
        }
    };
    assert!(!matches!(end, Next::Timeout), "the stalled client's stream never ended");
}
