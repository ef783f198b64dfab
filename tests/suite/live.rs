//! PROTOCOL.md sections 4-5: every view over both transports.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::*;

const CHANNELS: [&str; 4] = ["general", "random", "dev", "ops"];
const USERS: [&str; 4] = ["alice", "bob", "carol", "dave"];

/// Six messages before anyone subscribes: general/random/dev, alice/bob/carol.
fn seed_batch() -> Vec<Value> {
    (0..6)
        .map(|i| msg(CHANNELS[i % 3], USERS[i % 3], &format!("seed {i}")))
        .collect()
}

/// Forty live messages over four channels and four users (two of them new).
fn live_batch() -> Vec<Value> {
    (0..40)
        .map(|i| {
            let mut m = msg(CHANNELS[i % 4], USERS[(i / 2) % 4], &format!("live {i}"));
            m["display_name"] = json!(format!("{} D", USERS[(i / 2) % 4]));
            m
        })
        .collect()
}

fn totals_by(all: &[Value], key: &str) -> BTreeMap<String, i64> {
    let mut t = BTreeMap::new();
    for m in all {
        *t.entry(m[key].as_str().unwrap().to_string()).or_insert(0) += 1;
    }
    t
}

fn allowed_types(view: &str) -> &'static [&'static str] {
    match view {
        "home" => &["metrics", "message", "status"],
        "messages" => &["message", "status"],
        "channels" => &["channel_count", "status"],
        "users" => &["user_count", "status"],
        v if v.starts_with("user/") => &["user_profile", "message", "status"],
        v if v.starts_with("channel/") => &["channel_count", "message", "status"],
        _ => unreachable!(),
    }
}

/// Which of `sent` a view shows as message events.
fn view_filter(view: &str, m: &Value) -> bool {
    match view {
        "home" | "messages" => true,
        v if v.starts_with("user/") => m["user"] == v["user/".len()..],
        v if v.starts_with("channel/") => m["channel"] == v["channel/".len()..],
        _ => false,
    }
}

fn shows_messages(view: &str) -> bool {
    !matches!(view, "channels" | "users")
}

/// The whole story of one view over one transport: subscribe without
/// `after_id`, get the current state and `connected`, then live events for
/// every message ingested afterwards, in cursor order, without duplicates,
/// and only those of the view.
async fn view_story(t: Transport, view: &str) {
    let app = TestApp::start().await;
    let seed = seed_batch();
    app.ingest(&seed).await;
    let m0 = app.api_metrics().await;
    let c0 = m0["cursor"].as_i64().unwrap();
    let epoch = m0["epoch"].as_str().unwrap().to_string();

    let mut live = app.live(t, view, None, None).await;
    let (initial, connected) = live.until_connected(WAIT).await;
    assert_eq!(
        connected["cursor"],
        json!(c0),
        "[{t} {view}] connected cursor: {connected}"
    );
    assert_eq!(
        connected["epoch"],
        json!(epoch),
        "[{t} {view}] connected epoch: {connected}"
    );
    for e in &initial {
        let ty = e["type"].as_str().unwrap_or("?");
        assert!(
            allowed_types(view).contains(&ty),
            "[{t} {view}] unexpected initial event {e}"
        );
        assert!(
            !is_message(e),
            "[{t} {view}] without after_id there is no message backlog, got {e}"
        );
    }
    let seed_channels = totals_by(&seed, "channel");
    let seed_users = totals_by(&seed, "user");
    let mut counts = Counts::default();
    let mut last_metrics: Option<Value> = None;
    for e in &initial {
        counts.apply(e);
        if e["type"] == "metrics" {
            last_metrics = Some(e.clone());
        }
    }
    match view {
        "home" => {
            let m = last_metrics
                .clone()
                .unwrap_or_else(|| panic!("[{t} home] no `metrics` before connected: {initial:?}"));
            assert_eq!(m["total_messages"], json!(6), "{m}");
            assert_eq!(m["total_channels"], json!(3), "{m}");
            assert_eq!(m["total_users"], json!(3), "{m}");
            assert_eq!(m["cursor"], json!(c0), "{m}");
        }
        "messages" => {}
        "channels" => assert_eq!(counts.totals, seed_channels, "[{t} channels] initial state"),
        "users" => assert_eq!(counts.totals, seed_users, "[{t} users] initial state"),
        "user/alice" => {
            assert_eq!(counts.totals.get("alice"), Some(&2), "[{t}] profile: {initial:?}");
            assert_eq!(initial[0]["type"], "user_profile", "{initial:?}");
        }
        "channel/general" => {
            assert_eq!(counts.totals.get("general"), Some(&2), "[{t}] count: {initial:?}");
            assert_eq!(initial[0]["type"], "channel_count", "{initial:?}");
        }
        _ => unreachable!(),
    }

    // Live traffic, in four requests.
    let sent = live_batch();
    let mut ids = Vec::new();
    for part in sent.chunks(10) {
        ids.extend(app.ingest_ids(part).await);
    }
    let by_id: HashMap<i64, &Value> = ids.iter().copied().zip(sent.iter()).collect();
    let all: Vec<Value> = seed.iter().chain(sent.iter()).cloned().collect();
    let final_channels = totals_by(&all, "channel");
    let final_users = totals_by(&all, "user");
    let expected_ids: Vec<i64> = ids
        .iter()
        .zip(sent.iter())
        .filter(|(_, m)| view_filter(view, m))
        .map(|(id, _)| *id)
        .collect();
    let last_id = *ids.last().unwrap();

    // Read until the view shows the final state.
    let deadline = Instant::now() + WAIT;
    let mut events: Vec<Value> = Vec::new();
    let done = |events: &[Value], counts: &Counts, metrics: &Option<Value>| -> bool {
        let msgs = message_ids(events).len() >= expected_ids.len();
        match view {
            "home" => {
                msgs && metrics
                    .as_ref()
                    .is_some_and(|m| m["total_messages"] == json!(all.len()))
            }
            "messages" => msgs,
            "channels" => counts.totals == final_channels,
            "users" => counts.totals == final_users,
            "user/alice" => msgs && counts.totals.get("alice") == final_users.get("alice"),
            "channel/general" => msgs && counts.totals.get("general") == final_channels.get("general"),
            _ => unreachable!(),
        }
    };
    while !done(&events, &counts, &last_metrics) {
        let left = deadline.saturating_duration_since(Instant::now());
        match live.next(left).await {
            Next::Event(e) => {
                counts.apply(&e);
                if e["type"] == "metrics" {
                    last_metrics = Some(e.clone());
                }
                events.push(e);
            }
            other => panic!(
                "[{t} {view}] got {other:?} before the view reached its final state; \
                 {} message events, counts {:?}, metrics {:?}",
                message_ids(&events).len(),
                counts.totals,
                last_metrics
            ),
        }
    }
    // Anything still in flight would be a duplicate or a stray.
    let extra = live.read_for(Duration::from_millis(600)).await;
    for e in &extra {
        counts.apply(e);
    }
    events.extend(extra);

    for e in &events {
        let ty = e["type"].as_str().unwrap_or("?");
        assert!(
            allowed_types(view).contains(&ty),
            "[{t} {view}] event type not part of this view: {e}"
        );
        if ty == "status" {
            assert!(
                matches!(state_of(e), Some("idle")),
                "[{t} {view}] unexpected status while healthy: {e}"
            );
        }
    }
    let got = message_ids(&events);
    assert_same_ids(&format!("[{t} {view}] message events"), &got, &expected_ids);
    for e in events.iter().filter(|e| is_message(e)) {
        let id = mid(e);
        let sent = by_id[&id];
        assert_eq!(e["cursor"], json!(id), "[{t} {view}] a message's cursor is its id: {e}");
        assert_eq!(e["channel"], sent["channel"], "{e}");
        assert_eq!(e["user"], sent["user"], "{e}");
        assert_eq!(e["text"], sent["text"], "{e}");
        assert_eq!(e["display_name"], sent["display_name"], "{e}");
        assert!(e["channel_id"].is_i64() && e["user_id"].is_i64(), "{e}");
        let sent_at = e["sent_at"].as_str().expect("sent_at");
        chrono::DateTime::parse_from_rfc3339(sent_at)
            .unwrap_or_else(|err| panic!("sent_at `{sent_at}` not RFC 3339: {err}"));
    }
    match view {
        "channels" => assert_eq!(counts.totals, final_channels, "[{t}] final channel counts"),
        "users" => assert_eq!(counts.totals, final_users, "[{t}] final user counts"),
        "home" => {
            let m = last_metrics.unwrap();
            assert_eq!(m["total_messages"], json!(46), "{m}");
            assert_eq!(m["total_channels"], json!(4), "{m}");
            assert_eq!(m["total_users"], json!(4), "{m}");
            assert_eq!(m["cursor"], json!(last_id), "metrics cursor is the newest id: {m}");
        }
        _ => {}
    }
    // A count event's cursor covers the newest message it includes.
    if matches!(view, "channels" | "channel/general") {
        for (name, cursor) in &counts.cursors {
            let newest = ids
                .iter()
                .zip(sent.iter())
                .filter(|(_, m)| m["channel"] == name.as_str())
                .map(|(id, _)| *id)
                .max();
            if let Some(newest) = newest {
                assert!(
                    *cursor >= newest,
                    "[{t}] channel {name} count cursor {cursor} < {newest}"
                );
            }
        }
    }
    if matches!(view, "users" | "user/alice") {
        for (name, cursor) in &counts.cursors {
            let newest = ids
                .iter()
                .zip(sent.iter())
                .filter(|(_, m)| m["user"] == name.as_str())
                .map(|(id, _)| *id)
                .max();
            if let Some(newest) = newest {
                assert!(*cursor >= newest, "[{t}] user {name} count cursor {cursor} < {newest}");
            }
        }
    }
    if !shows_messages(view) {
        assert!(got.is_empty());
    }
}

#[actix_rt::test]
async fn ws_home() {
    view_story(Transport::Ws, "home").await;
}
#[actix_rt::test]
async fn sse_home() {
    view_story(Transport::Sse, "home").await;
}
#[actix_rt::test]
async fn ws_messages() {
    view_story(Transport::Ws, "messages").await;
}
#[actix_rt::test]
async fn sse_messages() {
    view_story(Transport::Sse, "messages").await;
}
#[actix_rt::test]
async fn ws_channels() {
    view_story(Transport::Ws, "channels").await;
}
#[actix_rt::test]
async fn sse_channels() {
    view_story(Transport::Sse, "channels").await;
}
#[actix_rt::test]
async fn ws_users() {
    view_story(Transport::Ws, "users").await;
}
#[actix_rt::test]
async fn sse_users() {
    view_story(Transport::Sse, "users").await;
}
#[actix_rt::test]
async fn ws_user_profile() {
    view_story(Transport::Ws, "user/alice").await;
}
#[actix_rt::test]
async fn sse_user_profile() {
    view_story(Transport::Sse, "user/alice").await;
}
#[actix_rt::test]
async fn ws_channel() {
    view_story(Transport::Ws, "channel/general").await;
}
#[actix_rt::test]
async fn sse_channel() {
    view_story(Transport::Sse, "channel/general").await;
}

/// Reads a count view until its latest values equal `expected`.
async fn watch_counts(mut live: Live, expected: BTreeMap<String, i64>, timeout: Duration) -> Counts {
    let deadline = Instant::now() + timeout;
    let mut counts = Counts::default();
    while counts.totals != expected {
        let left = deadline.saturating_duration_since(Instant::now());
        match live.next(left).await {
            Next::Event(e) => {
                if matches!(state_of(&e), Some("error" | "fallback" | "reconnecting")) {
                    panic!("[{}] count view got {e}", live.transport());
                }
                counts.apply(&e);
            }
            other => {
                let wrong: Vec<String> = expected
                    .iter()
                    .filter(|(k, v)| counts.totals.get(*k) != Some(v))
                    .take(10)
                    .map(|(k, v)| format!("{k}: shows {:?}, sent {v}", counts.totals.get(k)))
                    .collect();
                panic!(
                    "[{}] count view ended with {other:?}; {} entities wrong, e.g. {wrong:?}",
                    live.transport(),
                    expected.len()
                        - expected
                            .iter()
                            .filter(|(k, v)| counts.totals.get(*k) == Some(v))
                            .count()
                );
            }
        }
    }
    counts
}

#[actix_rt::test]
async fn counts_are_exact_after_a_burst_of_10000_messages() {
    let app = TestApp::start().await;
    const N: usize = 10_000;
    let all: Vec<Value> = (0..N)
        .map(|i| {
            msg(
                &format!("ch{}", i % 50),
                &format!("u{}", (i * 7) % 500),
                &format!("b{i}"),
            )
        })
        .collect();
    let expected_channels = totals_by(&all, "channel");
    let expected_users = totals_by(&all, "user");
    assert_eq!(expected_channels.len(), 50);
    assert_eq!(expected_users.len(), 500);

    let mut channels_ws = app.ws("channels", None, None).await;
    channels_ws.until_connected(WAIT).await;
    let mut users_sse = app.sse("users", None, None, None).await;
    users_sse.until_connected(WAIT).await;
    let mut home = app.ws("home", None, None).await;
    home.until_connected(WAIT).await;

    let c = actix_rt::spawn(watch_counts(channels_ws, expected_channels.clone(), LONG_WAIT));
    let u = actix_rt::spawn(watch_counts(users_sse, expected_users.clone(), LONG_WAIT));
    let h = actix_rt::spawn(async move {
        let deadline = Instant::now() + LONG_WAIT;
        let mut ids = Vec::new();
        let mut metrics: Option<Value> = None;
        while ids.len() < N || metrics.as_ref().is_none_or(|m| m["total_messages"] != json!(N)) {
            let left = deadline.saturating_duration_since(Instant::now());
            match home.next(left).await {
                Next::Event(e) if is_message(&e) => ids.push(mid(&e)),
                Next::Event(e) if e["type"] == "metrics" => metrics = Some(e),
                Next::Event(e) if is_status(&e, "idle") => {}
                Next::Event(e) => panic!("[home] unexpected event {e}"),
                other => panic!(
                    "[home] {other:?} after {} messages, last metrics {metrics:?}",
                    ids.len()
                ),
            }
        }
        (ids, metrics.unwrap())
    });

    // Two writers, 500 messages per request.
    let halves: Vec<Vec<Value>> = vec![
        all.iter().step_by(2).cloned().collect(),
        all.iter().skip(1).step_by(2).cloned().collect(),
    ];
    let mut writers = Vec::new();
    for half in halves {
        let api = app.api.clone();
        writers.push(actix_rt::spawn(async move { api.ingest_chunked(&half, 500).await }));
    }
    for w in writers {
        w.await.unwrap();
    }
    let stored = app.stored_ids().await;
    assert_eq!(stored.len(), N);

    let channel_counts = c.await.unwrap();
    let user_counts = u.await.unwrap();
    assert_eq!(channel_counts.totals, expected_channels);
    assert_eq!(user_counts.totals, expected_users);
    let (home_ids, metrics) = h.await.unwrap();
    assert_same_ids("[home] message events after the burst", &home_ids, &stored);
    assert_eq!(metrics["total_channels"], json!(50), "{metrics}");
    assert_eq!(metrics["total_users"], json!(500), "{metrics}");

    // The read API agrees with what was sent.
    let listed: BTreeMap<String, i64> = app
        .all_pages("/api/channels", "channels")
        .await
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["total_messages"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(listed, expected_channels, "/api/channels after the burst");
    let listed: BTreeMap<String, i64> = app
        .all_pages("/api/users", "users")
        .await
        .iter()
        .map(|u| {
            (
                u["username"].as_str().unwrap().to_string(),
                u["total_messages"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(listed, expected_users, "/api/users after the burst");
    println!(
        "burst: {} channel_count events, {} user_count events for {N} messages",
        channel_counts.events, user_counts.events
    );
}

#[actix_rt::test]
async fn live_connections_gauge_tracks_sessions() {
    let app = TestApp::start().await;
    let mut a = app.ws("messages", None, None).await;
    a.until_connected(WAIT).await;
    let mut b = app.sse("channels", None, None, None).await;
    b.until_connected(WAIT).await;
    app.wait_metric(
        "chatpulse_live_connections{transport=\"ws\",view=\"messages\"}",
        WAIT,
        |v| v == 1.0,
    )
    .await
    .unwrap_or_else(|v| panic!("ws/messages gauge is {v}, expected 1"));
    app.wait_metric(
        "chatpulse_live_connections{transport=\"sse\",view=\"channels\"}",
        WAIT,
        |v| v == 1.0,
    )
    .await
    .unwrap_or_else(|v| panic!("sse/channels gauge is {v}, expected 1"));
    drop(a);
    app.wait_metric(
        "chatpulse_live_connections{transport=\"ws\",view=\"messages\"}",
        WAIT,
        |v| v == 0.0,
    )
    .await
    .unwrap_or_else(|v| panic!("ws/messages gauge stays {v} after the client left"));
    drop(b);
    // An SSE server only learns that a reader left when a write fails, which
    // may take until the next keep-alive comment (15 s).
    app.wait_metric("chatpulse_live_connections", Duration::from_secs(40), |v| v == 0.0)
        .await
        .unwrap_or_else(|v| panic!("live connections gauge stays {v} after everyone left"));
}

#[actix_rt::test]
async fn sse_sends_keepalive_comments() {
    let app = TestApp::start().await;
    let mut live = app.sse("messages", None, None, None).await;
    live.until_connected(WAIT).await;
    // One comment every 15 s; allow a little more.
    let deadline = Instant::now() + Duration::from_secs(25);
    while live.sse_comments() == 0 {
        assert!(Instant::now() < deadline, "no SSE keep-alive comment within 25 s");
        match live.next(Duration::from_millis(500)).await {
            Next::Event(e) => assert!(is_status(&e, "idle"), "unexpected {e}"),
            Next::Timeout => {}
            end => panic!("SSE stream ended: {end:?}"),
        }
    }
}

#[actix_rt::test]
async fn demo_traffic_flows_through_the_ingest_path() {
    let app = TestApp::builder().demo().start().await;
    let mut live = app.ws("messages", None, None).await;
    live.until_connected(WAIT).await;
    let events = live.read_messages(5, WAIT).await;
    let ids = message_ids(&events);
    assert_strictly_increasing("demo messages", &ids);
    // What the demo sends is stored like any ingested message.
    let stored = app.stored_ids().await;
    for id in &ids {
        assert!(stored.contains(id), "demo message {id} is not stored");
    }
    assert!(app.total_messages().await >= 5);
}

/// "The server pings every 10 s and closes a connection that has not
/// answered for 30 s."
#[actix_rt::test]
async fn ws_pings_and_drops_a_client_that_never_answers() {
    let app = TestApp::start().await;
    let mut polite = app.ws("messages", None, None).await;
    polite.until_connected(WAIT).await;
    let mut silent = app.ws("messages", None, None).await;
    silent.until_connected(WAIT).await;
    silent.ws_mut().answer_pings = false;

    // The polite client reads (answering pings) until two messages arrive;
    // it fails if its connection ends meanwhile.
    let polite_task = actix_rt::spawn(async move { polite.read_messages(2, Duration::from_secs(90)).await });
    // The silent client keeps reading (so it is not a stalled reader), it
    // only never answers pings.
    let (events, end) = silent.read_to_end(Duration::from_secs(50)).await;
    assert!(
        end.is_end(),
        "a client that never answers pings must be closed (got {end:?} after {events:?})"
    );
    if let Live::Ws(c) = &silent {
        assert!(c.pings >= 1, "the server never pinged");
    }
    app.wait_metric(
        "chatpulse_live_connections_closed_total{reason=\"timeout\"}",
        WAIT,
        |v| v >= 1.0,
    )
    .await
    .unwrap_or_else(|v| panic!("closed_total{{reason=\"timeout\"}} is {v}, expected >= 1"));
    // The polite client, meanwhile, is still connected and served.
    let ids = app.ingest_ids(&numbered("general", "alice", "still here", 2)).await;
    let events = polite_task.await.unwrap();
    assert_same_ids("the client that answers pings", &message_ids(&events), &ids);
}
