//! PROTOCOL.md section 4 "Catch-up", fallbacks and bad requests.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::*;

fn assert_ends_with_status(
    what: &str,
    events: &[Value],
    end: &Next,
    state: &str,
    reason: &str,
    close_code: u16,
    t: Transport,
) {
    let last = events
        .last()
        .unwrap_or_else(|| panic!("{what}: no status event before the end ({end:?})"));
    assert_eq!(last["type"], "status", "{what}: last event {last}");
    assert_eq!(last["state"], state, "{what}: last event {last}");
    assert_eq!(last["reason"], reason, "{what}: last event {last}");
    match t {
        Transport::Ws => assert!(
            matches!(end, Next::Closed(Some(c)) if *c == close_code),
            "{what}: expected close code {close_code}, got {end:?}"
        ),
        Transport::Sse => assert!(
            end.is_end(),
            "{what}: the SSE stream should end after `{state}`, got {end:?}"
        ),
    }
}

async fn catchup_1200_in_batches_then_live(t: Transport) {
    let app = TestApp::builder().catchup_batch(200).start().await;
    let ids = app
        .ingest_chunked(&numbered("general", "alice", "backlog", 1500), 500)
        .await;
    let epoch = app.epoch().await;
    let after = ids[299];

    let mut live = app.live(t, "messages", Some(after), Some(&epoch)).await;
    let (backlog, connected) = live.until_connected(LONG_WAIT).await;
    for e in &backlog {
        assert!(is_message(e), "[{t}] only messages before `connected`: {e}");
    }
    assert_same_ids(
        &format!("[{t}] catch-up after id {after}"),
        &message_ids(&backlog),
        &ids[300..],
    );
    assert_eq!(connected["cursor"], json!(ids[1499]), "{connected}");
    assert_eq!(connected["epoch"], json!(epoch), "{connected}");
    if t == Transport::Sse {
        assert_eq!(live.sse_last_id(), Some(ids[1499]), "SSE id after the catch-up");
    }

    let hist = "chatpulse_live_catchup_batch_size";
    assert_eq!(
        app.metric(&format!("{hist}_count")).await,
        6.0,
        "1,200 events in batches of at most 200 are 6 batches"
    );
    assert_eq!(
        app.metric(&format!("{hist}_bucket{{le=\"200\"}}")).await,
        6.0,
        "every catch-up batch must hold at most --catchup-batch (200) events"
    );
    assert_eq!(app.metric(&format!("{hist}_sum")).await, 1200.0);

    // Then live, with no gap and no duplicate.
    let more = app.ingest_ids(&numbered("general", "bob", "live", 30)).await;
    let events = live.read_messages(30, WAIT).await;
    assert_same_ids(&format!("[{t}] live after catch-up"), &message_ids(&events), &more);
    let extra = live.read_for(Duration::from_millis(400)).await;
    assert!(
        message_ids(&extra).is_empty(),
        "[{t}] duplicate or stray messages after live: {extra:?}"
    );
}

#[actix_rt::test]
async fn ws_catchup_1200_in_batches_of_200_then_live() {
    catchup_1200_in_batches_then_live(Transport::Ws).await;
}

#[actix_rt::test]
async fn sse_catchup_1200_in_batches_of_200_then_live() {
    catchup_1200_in_batches_then_live(Transport::Sse).await;
}

/// Writers keep posting while a subscriber catches up: the switch from
/// backlog to live must lose nothing and repeat nothing.
async fn catchup_during_writes(t: Transport) {
    let app = TestApp::builder().catchup_batch(50).start().await;
    let ids = app
        .ingest_chunked(&numbered("general", "alice", "before", 500), 100)
        .await;
    let epoch = app.epoch().await;
    let after = ids[99];

    let api = app.api.clone();
    let writer = actix_rt::spawn(async move {
        let mut ids = Vec::new();
        for r in 0..30 {
            ids.extend(
                api.ingest_ids(&numbered(&format!("c{}", r % 3), "bob", &format!("w{r}"), 20))
                    .await,
            );
        }
        ids
    });
    let mut live = app.live(t, "messages", Some(after), Some(&epoch)).await;
    let mut events = live.read_messages(400 + 600, LONG_WAIT).await;
    let written = writer.await.unwrap();
    assert_eq!(written.len(), 600);
    if !events.iter().any(|e| is_status(e, "connected")) {
        let (rest, _) = live.until_connected(WAIT).await;
        events.extend(rest);
    }
    events.extend(live.read_for(Duration::from_millis(400)).await);
    let connected = events.iter().filter(|e| is_status(e, "connected")).count();
    assert_eq!(connected, 1, "[{t}] exactly one `connected`");
    let stored = app.stored_ids_after(after).await;
    assert_eq!(stored.len(), 1000);
    assert_same_ids(
        &format!("[{t}] catch-up + live while writing"),
        &message_ids(&events),
        &stored,
    );
}

#[actix_rt::test]
async fn ws_catchup_during_writes_has_no_gap_and_no_duplicate() {
    catchup_during_writes(Transport::Ws).await;
}

#[actix_rt::test]
async fn sse_catchup_during_writes_has_no_gap_and_no_duplicate() {
    catchup_during_writes(Transport::Sse).await;
}

#[actix_rt::test]
async fn backlog_over_catchup_max_falls_back() {
    let app = TestApp::builder().catchup_max(100).start().await;
    let ids = app.ingest_ids(&numbered("general", "alice", "m", 150)).await;
    let epoch = app.epoch().await;
    for t in [Transport::Ws, Transport::Sse] {
        let mut live = app.live(t, "messages", Some(ids[10]), Some(&epoch)).await;
        let (events, end) = live.read_to_end(WAIT).await;
        assert!(
            message_ids(&events).is_empty(),
            "[{t}] no partial backlog before the fallback: {} messages",
            message_ids(&events).len()
        );
        assert_ends_with_status(
            &format!("[{t}] 139 > catchup_max 100"),
            &events,
            &end,
            "fallback",
            "backlog_too_large",
            4009,
            t,
        );
    }
    // Exactly catchup_max is not "more than" it.
    let mut live = app.ws("messages", Some(ids[49]), Some(&epoch)).await;
    let (backlog, _) = live.until_connected(WAIT).await;
    assert_same_ids("backlog of exactly catchup_max", &message_ids(&backlog), &ids[50..]);
}

#[actix_rt::test]
async fn wrong_epoch_falls_back() {
    let app = TestApp::start().await;
    let ids = app.ingest_ids(&numbered("general", "alice", "m", 5)).await;
    for t in [Transport::Ws, Transport::Sse] {
        let mut live = app.live(t, "messages", Some(ids[0]), Some("not-this-database")).await;
        let (events, end) = live.read_to_end(WAIT).await;
        assert!(message_ids(&events).is_empty(), "[{t}] {events:?}");
        assert_ends_with_status(
            &format!("[{t}] foreign epoch"),
            &events,
            &end,
            "fallback",
            "epoch_changed",
            4009,
            t,
        );
    }
}

#[actix_rt::test]
async fn sse_last_event_id_resumes_where_the_stream_stopped() {
    let app = TestApp::start().await;
    app.ingest_ids(&numbered("general", "alice", "old", 20)).await;
    let epoch = app.epoch().await;
    let c0 = app.cursor().await;

    let mut first = app.sse("messages", Some(c0), Some(&epoch), None).await;
    first.until_connected(WAIT).await;
    let seen = app.ingest_ids(&numbered("general", "alice", "seen", 10)).await;
    let events = first.read_messages(10, WAIT).await;
    assert_same_ids("first stream", &message_ids(&events), &seen);
    let last = first.sse_last_id().expect("SSE events carry `id:`");
    assert_eq!(last, seen[9], "SSE id is the highest cursor sent");
    drop(first);

    let missed = app.ingest_ids(&numbered("general", "alice", "missed", 10)).await;
    // As a browser does: the same URL (still carrying the old after_id) plus
    // Last-Event-ID, which takes its place.
    let mut second = app
        .sse("messages", Some(c0), Some(&epoch), Some(&last.to_string()))
        .await;
    let (backlog, _) = second.until_connected(WAIT).await;
    assert_same_ids("resumed with Last-Event-ID", &message_ids(&backlog), &missed);
    let fresh = app.ingest_ids(&numbered("general", "alice", "fresh", 5)).await;
    let events = second.read_messages(5, WAIT).await;
    assert_same_ids("live after resume", &message_ids(&events), &fresh);
    assert_eq!(second.sse_last_id(), Some(fresh[4]));

    // Without after_id in the URL at all.
    let mut third = app
        .sse("messages", None, Some(&epoch), Some(&missed[4].to_string()))
        .await;
    let (backlog, _) = third.until_connected(WAIT).await;
    let mut expected = missed[5..].to_vec();
    expected.extend(&fresh);
    assert_same_ids("Last-Event-ID without after_id", &message_ids(&backlog), &expected);
}

/// A handshake is refused with a JSON 400 before any upgrade: no WebSocket is opened and
/// no event stream starts.
async fn assert_refused_handshake(app: &TestApp, query: &str, code: &str, what: &str) {
    match app.ws_connect(query, None).await {
        Err(WsRefused::Status(400)) => {}
        Err(e) => panic!("[ws] {what}: expected a 400 before the upgrade, got {e:?}"),
        Ok(_) => panic!("[ws] {what}: the handshake was accepted"),
    }
    for path in ["/live/ws", "/live/sse"] {
        let r = app.get(&format!("{path}?{query}")).await;
        r.assert_error(400, code);
        assert_ne!(
            r.header("content-type"),
            Some("text/event-stream"),
            "{path} {what}: no event stream may start"
        );
    }
}

#[actix_rt::test]
async fn unknown_view_is_refused_before_the_upgrade() {
    let app = TestApp::start().await;
    for view in ["nonsense", "user/", "channel/", "user/bad%20name", "users/alice", ""] {
        assert_refused_handshake(&app, &format!("view={view}"), "invalid_view", &format!("view `{view}`")).await;
    }
    assert_refused_handshake(&app, "after_id=1", "invalid_view", "no view").await;
    let r = app.get("/live/sse?view=nonsense").await;
    let message = r.json["error"]["message"].as_str().unwrap_or_default();
    for valid in ["home", "messages", "channels", "users", "user/<name>", "channel/<name>"] {
        assert!(message.contains(valid), "the refusal should name `{valid}`: {message}");
    }
}

#[actix_rt::test]
async fn bad_after_id_is_refused_before_the_upgrade() {
    let app = TestApp::start().await;
    app.ingest(&numbered("general", "alice", "m", 3)).await;
    let epoch = app.epoch().await;
    for after in ["abc", "-1", "1.5"] {
        let q = format!("view=messages&after_id={after}&epoch={}", enc(&epoch));
        assert_refused_handshake(&app, &q, "invalid_parameter", &format!("after_id={after}")).await;
    }
    let r = app.sse_connect("view=messages", &[("Last-Event-ID", "abc")]).await;
    assert_eq!(r.status, 400, "a bad Last-Event-ID is refused like a bad after_id");
}

#[actix_rt::test]
async fn malformed_client_frame_closes_only_that_connection() {
    let app = TestApp::start().await;
    let mut bystander = app.ws("messages", None, None).await;
    bystander.until_connected(WAIT).await;

    for frame in [
        "this is not json",
        "{\"type\":\"subscribe\",\"view\":\"no-such-view\"}",
        "{\"type\":\"subscribe\",\"view\":\"messages\",\"after_id\":\"abc\"}",
        "[1,2,3]",
    ] {
        let mut live = app.ws("messages", None, None).await;
        live.until_connected(WAIT).await;
        live.ws_mut().send_text(frame).await;
        let (events, end) = live.read_to_end(WAIT).await;
        assert!(
            matches!(end, Next::Closed(Some(4000))),
            "frame `{frame}` should close with 4000, got {end:?} after {events:?}"
        );
        assert_eq!(
            live.ws_mut().close_reason.as_deref(),
            Some("bad_request"),
            "frame `{frame}`: the close frame names its reason"
        );
        for e in &events {
            assert!(
                is_status(e, "error") && e["reason"] == "bad_request",
                "frame `{frame}`: only an error/bad_request status may precede the close: {e}"
            );
        }
    }

    let ids = app.ingest_ids(&numbered("general", "alice", "after", 3)).await;
    let events = bystander.read_messages(3, WAIT).await;
    assert_same_ids("the other connection is unaffected", &message_ids(&events), &ids);
}

#[actix_rt::test]
async fn count_views_catch_up_only_what_changed() {
    let app = TestApp::start().await;
    app.ingest(&[
        msg("a", "x", "1"),
        msg("b", "y", "2"),
        msg("c", "z", "3"),
        msg("a", "y", "4"),
    ])
    .await;
    let epoch = app.epoch().await;
    let c1 = app.cursor().await;
    app.ingest(&[msg("b", "y", "5"), msg("b", "y", "6"), msg("b", "w", "7")])
        .await;

    let expected =
        |pairs: &[(&str, i64)]| -> BTreeMap<String, i64> { pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect() };
    for t in [Transport::Ws, Transport::Sse] {
        let mut ch = app.live(t, "channels", Some(c1), Some(&epoch)).await;
        let (initial, _) = ch.until_connected(WAIT).await;
        let mut counts = Counts::default();
        initial.iter().for_each(|e| counts.apply(e));
        assert_eq!(
            counts.totals,
            expected(&[("b", 4)]),
            "[{t}] channels after {c1}: {initial:?}"
        );

        let mut us = app.live(t, "users", Some(c1), Some(&epoch)).await;
        let (initial, _) = us.until_connected(WAIT).await;
        let mut counts = Counts::default();
        initial.iter().for_each(|e| counts.apply(e));
        assert_eq!(
            counts.totals,
            expected(&[("w", 1), ("y", 4)]),
            "[{t}] users after {c1}: {initial:?}"
        );
    }
}

#[actix_rt::test]
async fn count_view_over_catchup_max_falls_back() {
    let app = TestApp::builder().catchup_max(5).start().await;
    let batch: Vec<Value> = (0..10).map(|i| msg(&format!("ch{i}"), "alice", "x")).collect();
    app.ingest(&batch).await;
    let epoch = app.epoch().await;
    for t in [Transport::Ws, Transport::Sse] {
        let mut live = app.live(t, "channels", None, None).await;
        let (events, end) = live.read_to_end(WAIT).await;
        assert_ends_with_status(
            &format!("[{t}] 10 channels > catchup_max 5"),
            &events,
            &end,
            "fallback",
            "backlog_too_large",
            4009,
            t,
        );
    }
    // One user is within the cap, and a recent cursor needs only a few channels.
    let mut users = app.ws("users", None, None).await;
    users.until_connected(WAIT).await;
    let c = app.cursor().await;
    app.ingest(&[msg("ch1", "bob", "y"), msg("ch2", "bob", "z")]).await;
    let mut ch = app.ws("channels", Some(c), Some(&epoch)).await;
    let (initial, _) = ch.until_connected(WAIT).await;
    let mut counts = Counts::default();
    initial.iter().for_each(|e| counts.apply(e));
    assert_eq!(counts.totals.len(), 2, "{initial:?}");
}

#[actix_rt::test]
async fn user_view_catches_up_that_users_messages_only() {
    let app = TestApp::start().await;
    app.ingest(&numbered("general", "alice", "old", 3)).await;
    let epoch = app.epoch().await;
    let c1 = app.cursor().await;
    let batch: Vec<Value> = (0..12)
        .map(|i| {
            msg(
                ["general", "dev"][i % 2],
                ["alice", "bob", "carol"][i % 3],
                &format!("n{i}"),
            )
        })
        .collect();
    let ids = app.ingest_ids(&batch).await;
    let alice: Vec<i64> = ids.iter().step_by(3).copied().collect();
    let dev: Vec<i64> = ids.iter().skip(1).step_by(2).copied().collect();

    for t in [Transport::Ws, Transport::Sse] {
        let mut live = app.live(t, "user/alice", Some(c1), Some(&epoch)).await;
        let (initial, _) = live.until_connected(WAIT).await;
        assert_eq!(initial[0]["type"], "user_profile", "[{t}] profile first: {initial:?}");
        assert_eq!(initial[0]["user"], "alice", "{}", initial[0]);
        assert_eq!(initial[0]["total_messages"], json!(7), "{}", initial[0]);
        assert_same_ids(&format!("[{t}] alice since {c1}"), &message_ids(&initial), &alice);

        let mut live = app.live(t, "channel/dev", Some(c1), Some(&epoch)).await;
        let (initial, _) = live.until_connected(WAIT).await;
        assert_eq!(initial[0]["type"], "channel_count", "[{t}] count first: {initial:?}");
        assert_eq!(initial[0]["channel"], "dev", "{}", initial[0]);
        assert_eq!(initial[0]["total_messages"], json!(6), "{}", initial[0]);
        assert_same_ids(&format!("[{t}] dev since {c1}"), &message_ids(&initial), &dev);
    }
}

#[actix_rt::test]
async fn home_view_catches_up_metrics_then_messages() {
    let app = TestApp::start().await;
    let ids = app.ingest_ids(&numbered("general", "alice", "m", 20)).await;
    let epoch = app.epoch().await;
    for t in [Transport::Ws, Transport::Sse] {
        let mut live = app.live(t, "home", Some(ids[14]), Some(&epoch)).await;
        let (initial, connected) = live.until_connected(WAIT).await;
        assert_eq!(initial[0]["type"], "metrics", "[{t}] metrics first: {initial:?}");
        assert_eq!(initial[0]["total_messages"], json!(20), "{}", initial[0]);
        assert_same_ids(&format!("[{t}] home catch-up"), &message_ids(&initial), &ids[15..]);
        assert_eq!(connected["cursor"], json!(ids[19]));
    }
}

/// A reconnect storm: many clients resuming from the same cursor get the same backlog,
/// and the server reads each catch-up batch from the database once, not once per client.
#[actix_rt::test]
async fn clients_resuming_from_the_same_cursor_share_the_catchup_reads() {
    const CLIENTS: usize = 20;
    let app = TestApp::builder().catchup_batch(100).start().await;
    let ids = app.ingest_ids(&numbered("general", "alice", "storm", 450)).await;
    let epoch = app.epoch().await;
    let reads = "chatpulse_store_read_duration_seconds_count{query=\"list_messages\"}";
    let before = app.metric_or_zero(reads).await;
    for t in [Transport::Ws, Transport::Sse] {
        for _ in 0..CLIENTS / 2 {
            let mut live = app.live(t, "messages", Some(0), Some(&epoch)).await;
            let (backlog, _) = live.until_connected(LONG_WAIT).await;
            assert_same_ids(&format!("[{t}] catch-up from 0"), &message_ids(&backlog), &ids);
        }
    }
    // 450 messages in batches of 100: 5 reads (the last one short) for all 20 clients.
    let read = app.metric_or_zero(reads).await - before;
    assert_eq!(
        read, 5.0,
        "{CLIENTS} clients resuming from one cursor made {read} backlog reads"
    );
}
