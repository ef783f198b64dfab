//! The edge cases of seeds/003 (live stream updates), as user stories.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::*;

/// "No new events occur for several minutes; the UI remains stable and
/// indicates idle state without appearing broken."
async fn idle_then_still_delivers(t: Transport) {
    let app = TestApp::builder().idle_after_ms(500).start().await;
    let mut live = app.live(t, "messages", None, None).await;
    live.until_connected(WAIT).await;
    let (before, idle) = live.until_status("idle", WAIT).await;
    assert!(before.is_empty(), "[{t}] nothing happened, yet got {before:?}");
    assert_eq!(idle["reason"], "no_events", "[{t}] {idle}");
    assert!(idle["epoch"].is_string() && idle["cursor"].is_i64(), "[{t}] {idle}");

    // Still open, still live.
    let ids = app.ingest_ids(&numbered("general", "alice", "wake", 3)).await;
    let events = live.read_messages(3, WAIT).await;
    assert_same_ids(&format!("[{t}] after idle"), &message_ids(&events), &ids);
    // And idle again later: it is a state, not a one-off.
    live.until_status("idle", WAIT).await;
}

#[actix_rt::test]
async fn ws_idle_status_keeps_the_connection_open() {
    idle_then_still_delivers(Transport::Ws).await;
}

#[actix_rt::test]
async fn sse_idle_status_keeps_the_connection_open() {
    idle_then_still_delivers(Transport::Sse).await;
}

/// "Bursts of high-volume messages arrive; ordering and responsiveness are
/// preserved without skipped or duplicated entries."
#[actix_rt::test]
async fn bursts_keep_order_without_skips_or_duplicates() {
    let app = TestApp::start().await;
    let epoch = app.epoch().await;
    let c0 = app.cursor().await;
    const BURSTS: usize = 3;
    const PER_BURST: usize = 5000; // the default --max-batch: one request each
    let total = BURSTS * PER_BURST;

    let mut readers = Vec::new();
    for (t, view) in [
        (Transport::Ws, "messages"),
        (Transport::Sse, "messages"),
        (Transport::Ws, "home"),
        (Transport::Sse, "home"),
    ] {
        let mut live = app.live(t, view, Some(c0), Some(&epoch)).await;
        live.until_connected(WAIT).await;
        readers.push(actix_rt::spawn(async move {
            let events = live.read_messages(total, LONG_WAIT).await;
            let mut ids = message_ids(&events);
            ids.extend(message_ids(&live.read_for(Duration::from_millis(300)).await));
            (t, view, ids)
        }));
    }
    let mut writers = Vec::new();
    for b in 0..BURSTS {
        let api = app.api.clone();
        writers.push(actix_rt::spawn(async move {
            let batch: Vec<Value> = (0..PER_BURST)
                .map(|i| {
                    msg(
                        &format!("c{}", i % 7),
                        &format!("u{}", i % 31),
                        &format!("burst {b} #{i}"),
                    )
                })
                .collect();
            api.ingest_ids(&batch).await
        }));
    }
    for w in writers {
        assert_eq!(w.await.unwrap().len(), PER_BURST);
    }
    let stored = app.stored_ids_after(c0).await;
    assert_eq!(stored.len(), total);
    for r in readers {
        let (t, view, ids) = r.await.unwrap();
        assert_same_ids(&format!("[{t} {view}] after bursts"), &ids, &stored);
    }
}

/// "Live connection drops and reconnects; updates resume without losing
/// already displayed entries."
async fn reconnect_loses_nothing(t: Transport) {
    let app = TestApp::start().await;
    let epoch = app.epoch().await;
    let c0 = app.cursor().await;
    let mut live = app.live(t, "messages", Some(c0), Some(&epoch)).await;
    live.until_connected(WAIT).await;
    let first = app.ingest_ids(&numbered("general", "alice", "a", 50)).await;
    let events = live.read_messages(20, WAIT).await;
    let shown = message_ids(&events);
    assert_same_ids(&format!("[{t}] first 20"), &shown, &first[..20]);
    let last_shown = events
        .iter()
        .rfind(|e| is_message(e))
        .map(|e| e["cursor"].as_i64().expect("cursor"))
        .unwrap();
    drop(live); // the connection drops with 30 messages possibly in flight

    let during = app.ingest_ids(&numbered("general", "bob", "b", 50)).await;
    let mut live = app.live(t, "messages", Some(last_shown), Some(&epoch)).await;
    let (backlog, _) = live.until_connected(WAIT).await;
    let mut expected: Vec<i64> = first[20..].to_vec();
    expected.extend(&during);
    assert_same_ids(
        &format!("[{t}] catch-up after reconnect"),
        &message_ids(&backlog),
        &expected,
    );
    let after = app.ingest_ids(&numbered("general", "carol", "c", 10)).await;
    let events = live.read_messages(10, WAIT).await;
    assert_same_ids(&format!("[{t}] live after reconnect"), &message_ids(&events), &after);
}

#[actix_rt::test]
async fn ws_reconnect_with_after_id_loses_nothing_and_repeats_nothing() {
    reconnect_loses_nothing(Transport::Ws).await;
}

#[actix_rt::test]
async fn sse_reconnect_with_after_id_loses_nothing_and_repeats_nothing() {
    reconnect_loses_nothing(Transport::Sse).await;
}

/// A user or channel nobody has seen yet is a valid view: zero counts, then
/// it fills in.
#[actix_rt::test]
async fn view_of_an_unseen_user_fills_in() {
    let app = TestApp::start().await;
    app.ingest(&numbered("general", "alice", "noise", 3)).await;
    for t in [Transport::Ws, Transport::Sse] {
        let name = format!("ghost{t}");
        let view = format!("user/{name}");
        let mut live = app.live(t, &view, None, None).await;
        let (initial, _) = live.until_connected(WAIT).await;
        let profile = initial
            .iter()
            .find(|e| e["type"] == "user_profile")
            .unwrap_or_else(|| panic!("[{t}] no user_profile for `{view}`: {initial:?}"));
        assert_eq!(profile["user"], json!(name), "{profile}");
        assert_eq!(profile["total_messages"], json!(0), "{profile}");

        app.ingest(&[msg("general", "alice", "not ghost")]).await;
        let id = app.ingest_ids(&[msg("general", &name, "boo")]).await[0];
        let deadline = Instant::now() + WAIT;
        let mut got_message = false;
        let mut total = 0;
        while !(got_message && total == 1) {
            let left = deadline.saturating_duration_since(Instant::now());
            match live.next(left).await {
                Next::Event(e) if is_message(&e) => {
                    assert_eq!(mid(&e), id, "[{t}] only the ghost's message: {e}");
                    got_message = true;
                }
                Next::Event(e) if e["type"] == "user_profile" => {
                    assert_eq!(e["user"], json!(name), "{e}");
                    total = e["total_messages"].as_i64().unwrap();
                }
                Next::Event(e) => panic!("[{t}] unexpected {e}"),
                other => panic!("[{t}] {other:?} before the profile filled in (message: {got_message}, total {total})"),
            }
        }
    }
}

#[actix_rt::test]
async fn view_of_an_unseen_channel_fills_in() {
    let app = TestApp::start().await;
    app.ingest(&numbered("general", "alice", "noise", 3)).await;
    for t in [Transport::Ws, Transport::Sse] {
        let name = format!("empty-{t}");
        let view = format!("channel/{name}");
        let mut live = app.live(t, &view, None, None).await;
        let (initial, _) = live.until_connected(WAIT).await;
        let count = initial
            .iter()
            .find(|e| e["type"] == "channel_count")
            .unwrap_or_else(|| panic!("[{t}] no channel_count for `{view}`: {initial:?}"));
        assert_eq!(count["channel"], json!(name), "{count}");
        assert_eq!(count["total_messages"], json!(0), "{count}");

        app.ingest(&[msg("general", "alice", "elsewhere")]).await;
        let ids = app
            .ingest_ids(&[msg(&name, "bob", "first"), msg(&name, "carol", "second")])
            .await;
        let deadline = Instant::now() + WAIT;
        let mut msgs = Vec::new();
        let mut total = 0;
        while !(msgs.len() == 2 && total == 2) {
            let left = deadline.saturating_duration_since(Instant::now());
            match live.next(left).await {
                Next::Event(e) if is_message(&e) => msgs.push(mid(&e)),
                Next::Event(e) if e["type"] == "channel_count" => {
                    assert_eq!(e["channel"], json!(name), "{e}");
                    total = e["total_messages"].as_i64().unwrap();
                }
                Next::Event(e) => panic!("[{t}] unexpected {e}"),
                other => panic!("[{t}] {other:?} before the channel filled in ({msgs:?}, {total})"),
            }
        }
        assert_eq!(msgs, ids);
    }
}

#[actix_rt::test]
async fn connections_over_max_connections_fall_back_to_polling() {
    let app = TestApp::builder().max_connections(2).start().await;
    let mut a = app.ws("messages", None, None).await;
    a.until_connected(WAIT).await;
    let mut b = app.sse("home", None, None, None).await;
    b.until_connected(WAIT).await;

    for t in [Transport::Ws, Transport::Sse] {
        let mut third = app.live(t, "messages", None, None).await;
        let (events, end) = third.read_to_end(WAIT).await;
        let last = events
            .last()
            .unwrap_or_else(|| panic!("[{t}] third connection: no status ({end:?})"));
        assert!(
            is_status(last, "fallback") && last["reason"] == "too_many_connections",
            "[{t}] third connection: {last}"
        );
        assert!(last["retry_after_ms"].is_u64(), "[{t}] {last}");
        match t {
            Transport::Ws => assert!(
                matches!(end, Next::Closed(Some(4013))),
                "[{t}] expected close 4013, got {end:?}"
            ),
            Transport::Sse => assert!(end.is_end(), "[{t}] stream should end: {end:?}"),
        }
    }
    // Plain HTTP is not counted.
    assert_eq!(app.get("/healthz").await.status, 200);
    app.ingest(&[msg("general", "alice", "still writable")]).await;
    a.read_messages(1, WAIT).await;

    // A slot frees up when a session leaves.
    drop(a);
    let deadline = Instant::now() + WAIT;
    loop {
        let mut again = app.ws("messages", None, None).await;
        match again.next(WAIT).await {
            Next::Event(e) if is_status(&e, "connected") => break,
            Next::Event(e) if is_status(&e, "fallback") => {
                assert!(Instant::now() < deadline, "the freed slot was never given back: {e}");
                actix_rt::time::sleep(Duration::from_millis(100)).await;
            }
            other => panic!("reconnect after a slot freed: {other:?}"),
        }
    }
}

#[actix_rt::test]
async fn websocket_origin_is_checked() {
    let app = TestApp::builder()
        .allowed_origins("https://dash.example.com")
        .start()
        .await;
    let q = Api::live_query("messages", None, None);
    match app.ws_connect(&q, Some("https://evil.example.net")).await {
        Err(WsRefused::Status(403)) => {}
        Err(e) => panic!("foreign Origin: expected 403, got {e:?}"),
        Ok(_) => panic!("foreign Origin: the handshake was accepted"),
    }
    let own = format!("http://{}", app.host_port());
    for origin in [None, Some(own.as_str()), Some("https://dash.example.com")] {
        let c = app
            .ws_connect(&q, origin)
            .await
            .unwrap_or_else(|e| panic!("Origin {origin:?} should be accepted: {e:?}"));
        let mut live = Live::Ws(c);
        live.until_connected(WAIT).await;
    }
}

/// "Users navigate between views while live updates are in flight; data
/// shown on arrival reflects current values for that view."
#[actix_rt::test]
async fn switching_view_on_one_websocket() {
    let app = TestApp::start().await;
    app.ingest(&[msg("general", "alice", "1"), msg("dev", "bob", "2")])
        .await;
    let mut live = app.ws("messages", None, None).await;
    live.until_connected(WAIT).await;

    // Traffic in flight while switching.
    let api = app.api.clone();
    let writer = actix_rt::spawn(async move {
        let mut ids = Vec::new();
        for r in 0..10 {
            ids.extend(api.ingest_ids(&numbered("general", "carol", &format!("f{r}"), 5)).await);
        }
        ids
    });
    live.ws_mut()
        .send_text(&json!({"type": "subscribe", "view": "channels"}).to_string())
        .await;
    // Old-view messages may still arrive before the switch takes effect;
    // after `connected` only the new view's events may come.
    let (initial, _) = live.until_connected(WAIT).await;
    let mut counts = Counts::default();
    for e in &initial {
        assert!(
            matches!(e["type"].as_str(), Some("message" | "channel_count")),
            "while switching from `messages` to `channels`: {e}"
        );
        counts.apply(e);
    }
    assert_eq!(
        counts.totals.get("dev"),
        Some(&1),
        "the switch sends the new view's current state: {initial:?}"
    );
    writer.await.unwrap();
    let expected_general = 1 + 50;
    let deadline = Instant::now() + WAIT;
    while counts.totals.get("general") != Some(&expected_general) {
        let left = deadline.saturating_duration_since(Instant::now());
        match live.next(left).await {
            Next::Event(e) => {
                assert!(
                    e["type"] == "channel_count" || is_status(&e, "idle"),
                    "after switching to `channels`, got {e}"
                );
                counts.apply(&e);
            }
            other => panic!("{other:?}; counts {:?}", counts.totals),
        }
    }
    assert_eq!(counts.totals.get("dev"), Some(&1), "{:?}", counts.totals);
}

/// A query parameter of the wrong type is the API's JSON error, not actix's plain text.
#[actix_rt::test]
async fn a_bad_query_parameter_is_a_json_invalid_parameter() {
    let app = TestApp::start().await;
    for path in [
        "/api/messages?limit=abc",
        "/api/messages?after_id=x",
        "/api/channels?offset=1.5",
        "/api/users/alice?limit=-",
        "/api/search?q=a&limit=ten",
    ] {
        let r = app.get(path).await;
        r.assert_error(400, "invalid_parameter");
        let message = r.json["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("invalid digit"),
            "GET {path}: the message should say why: {r}"
        );
    }
}

/// U+0000 anywhere a client can put a string is answered, never a 500: PostgreSQL cannot
/// hold it and SQLite's FTS5 ended a query at it (found by schemathesis, `.ci/contract`).
#[actix_rt::test]
async fn nul_in_any_string_is_answered_never_with_a_500() {
    let app = TestApp::start().await;
    app.ingest(&[msg("general", "alice", "hello there")]).await;
    for field in ["text", "display_name", "event_id"] {
        let mut m = json!({"channel": "general", "user": "alice", "text": "hi"});
        m[field] = json!("a\u{0}b");
        let r = app.post_json(&m).await;
        r.assert_error(400, "invalid_message");
        assert_eq!(r.json["error"]["field"], field, "{r}");
    }
    for (path, status, found) in [
        ("/api/search?q=hello%00there", 200, Some(1)),
        ("/api/search?q=hello&channel=gen%00eral", 200, Some(0)),
        ("/api/messages?channel=gen%00eral", 200, Some(0)),
        ("/api/messages?user=al%00ice", 200, Some(0)),
        ("/api/users/al%00ice", 404, None),
        ("/channels/gen%00eral", 404, None),
        ("/users/al%00ice", 404, None),
        ("/search?q=hello%00there", 200, None),
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status, status, "GET {path}: {r}");
        if let Some(n) = found {
            assert_eq!(r.json["messages"].as_array().map(Vec::len), Some(n), "GET {path}: {r}");
        }
    }
    assert_eq!(app.total_messages().await, 1);
}

/// A known route asked for with another method: 405 with `Allow`, in the shape of its
/// side (JSON under /api, the error page for pages).
#[actix_rt::test]
async fn a_wrong_method_is_405_with_allow() {
    let app = TestApp::start().await;
    let client = awc::Client::default();
    for (method, path, allow, json) in [
        ("DELETE", "/api/messages", &["GET", "POST"][..], true),
        ("POST", "/api/users", &["GET"], true),
        ("PUT", "/api/users/alice", &["GET"], true),
        ("POST", "/healthz", &["GET"], true),
        ("PUT", "/", &["GET"], false),
        ("POST", "/channels/general", &["GET"], false),
    ] {
        let m = awc::http::Method::from_bytes(method.as_bytes()).unwrap();
        let mut res = client.request(m, app.url(path)).send().await.unwrap();
        let body = res.body().await.unwrap();
        let text = String::from_utf8_lossy(&body);
        assert_eq!(res.status().as_u16(), 405, "{method} {path}: {text}");
        let header = res
            .headers()
            .get("allow")
            .unwrap_or_else(|| panic!("{method} {path}: no Allow header"))
            .to_str()
            .unwrap();
        let mut got: Vec<&str> = header.split(',').map(str::trim).collect();
        got.sort();
        assert_eq!(got, allow, "{method} {path}: Allow");
        if json {
            let v: Value = serde_json::from_slice(&body).unwrap_or_else(|_| panic!("{method} {path}: {text}"));
            assert_eq!(v["error"]["code"], "method_not_allowed", "{method} {path}: {v}");
            assert!(v["error"]["message"].is_string(), "{v}");
        } else {
            assert!(text.contains("<html"), "{method} {path}: {text}");
            assert!(res.headers().contains_key("content-security-policy"), "{method} {path}");
        }
    }
    app.get("/api/nothing/here").await.assert_error(404, "not_found");
    assert_eq!(app.total_messages().await, 0, "a refused request changed data");
}

/// SSE clients that leave give their places back soon, without waiting for a keep-alive
/// write to fail (they send nothing after their request, so only their socket tells).
#[actix_rt::test]
async fn sse_clients_that_leave_give_their_places_back() {
    let app = TestApp::builder().max_connections(5).start().await;
    {
        let mut clients = Vec::new();
        for _ in 0..5 {
            let mut c = app.sse("messages", None, None, None).await;
            c.until_connected(WAIT).await;
            clients.push(c);
        }
        drop(clients);
        // Within the patience of a test, far below the 15 s keep-alive: a new client gets in.
        let started = Instant::now();
        let mut next = app.sse("messages", None, None, None).await;
        let deadline = started + Duration::from_secs(5);
        loop {
            let (events, end) = next.read_to_end(Duration::from_millis(500)).await;
            if events.iter().any(|e| is_status(e, "connected")) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "departed SSE clients still hold every place after 5 s ({end:?}, {events:?})"
            );
            next = app.sse("messages", None, None, None).await;
        }
    }
}

/// A client frame over the size limit closes that connection at once with 1009; others go on.
#[actix_rt::test]
async fn an_oversized_client_frame_closes_with_1009_at_once() {
    let app = TestApp::start().await;
    let mut bystander = app.ws("messages", None, None).await;
    bystander.until_connected(WAIT).await;
    let mut live = app.ws("messages", None, None).await;
    live.until_connected(WAIT).await;
    live.ws_mut().send_text(&"x".repeat(1 << 20)).await;
    let (_, end) = live.read_to_end(WAIT).await;
    assert!(
        matches!(end, Next::Closed(Some(1009))),
        "expected close 1009, got {end:?}"
    );
    assert_eq!(live.ws_mut().close_reason.as_deref(), Some("message_too_big"));
    let ids = app.ingest_ids(&[msg("general", "alice", "after")]).await;
    assert_eq!(message_ids(&bystander.read_messages(1, WAIT).await), ids);
}

/// A GET with its own `Host` and extra headers, read whole.
async fn get_as(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut req = awc::Client::new().get(app.url(path));
    for (k, v) in headers {
        req = req.insert_header((*k, *v));
    }
    let mut res = req.send().await.unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let body = res.body().await.unwrap_or_default();
    (res.status().as_u16(), String::from_utf8_lossy(&body).into_owned())
}

/// DNS rebinding: a page elsewhere whose host name resolves to this machine reaches the
/// server with that name as `Host`; it is refused before anything runs.
#[actix_rt::test]
async fn requests_for_a_host_name_that_is_not_ours_are_refused() {
    let app = TestApp::start().await;
    let port = app.host_port().rsplit(':').next().unwrap().to_owned();
    for path in ["/api/metrics", "/", "/live/sse?view=messages"] {
        let (status, body) = get_as(&app, path, &[("Host", &format!("evil.example:{port}"))]).await;
        assert_eq!(status, 421, "{path}: {body}");
        assert!(body.contains("invalid_host"), "{path}: {body}");
    }
    let r = app
        .post_raw(
            serde_json::to_vec(&msg("general", "mallory", "rebound")).unwrap(),
            "application/json",
            &[("Host", "evil.example")],
        )
        .await;
    assert_eq!(r.status, 421, "{r}");
    app.assert_nothing_stored().await;
    for host in [format!("localhost:{port}"), format!("127.0.0.1:{port}")] {
        assert_eq!(get_as(&app, "/api/metrics", &[("Host", &host)]).await.0, 200, "{host}");
    }
    // Operators' endpoints answer whatever name a scraper uses.
    assert_eq!(get_as(&app, "/metrics", &[("Host", "chatpulse:9090")]).await.0, 200);
}

/// The scheme counts in `Origin`, and forwarded headers count only from a trusted proxy.
#[actix_rt::test]
async fn origins_need_the_right_scheme_and_forwarded_headers_a_trusted_proxy() {
    let app = TestApp::start().await;
    let q = Api::live_query("messages", None, None);
    let https_self = format!("https://{}", app.host_port());
    assert!(
        matches!(app.ws_connect(&q, Some(&https_self)).await, Err(WsRefused::Status(403))),
        "an https page is another origin than this http server"
    );
    // From an untrusted peer, X-Forwarded-Host changes nothing: the Origin is still foreign.
    let spoofed = awc::Client::new()
        .ws(app.url(&format!("/live/ws?{q}")))
        .origin("http://evil.example")
        .set_header("X-Forwarded-Host", "evil.example")
        .connect()
        .await;
    assert!(
        matches!(spoofed, Err(awc::error::WsClientError::InvalidResponseStatus(s)) if s.as_u16() == 403),
        "a forwarded host from anyone was believed"
    );

    let proxied = TestApp::builder()
        .trusted_proxies("127.0.0.1")
        .public_origin("https://chat.example.com")
        .start()
        .await;
    let (status, _) = get_as(&proxied, "/api/metrics", &[("Host", "chat.example.com")]).await;
    assert_eq!(status, 200, "a public origin's host is ours");
    let through_proxy = awc::Client::new()
        .ws(proxied.url(&format!("/live/ws?{q}")))
        .origin("https://chat.example.com")
        .set_header("X-Forwarded-Host", "chat.example.com")
        .set_header("X-Forwarded-Proto", "https")
        .connect()
        .await;
    assert!(
        through_proxy.is_ok(),
        "the proxy's forwarded origin: {:?}",
        through_proxy.err()
    );
}

/// Runs SQL on the PostgreSQL server that holds `db`, as its administrator.
fn pg_admin(db: &PgDatabase, sql: &str) {
    use diesel::{Connection, RunQueryDsl};
    let mut conn = diesel::PgConnection::establish(db.admin_url()).expect("connect as admin");
    diesel::sql_query(sql)
        .execute(&mut conn)
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Makes `db` take no writes (or take them again), and ends its sessions so the server's
/// pool opens new ones under the new default.
fn set_read_only(db: &PgDatabase, on: bool) {
    let name = db.name();
    let setting = if on {
        "SET default_transaction_read_only = on"
    } else {
        "RESET default_transaction_read_only"
    };
    pg_admin(db, &format!("ALTER DATABASE {name} {setting}"));
    pg_admin(
        db,
        &format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"),
    );
}

/// A store that takes no writes is not a bare 500: ingest says so (503 `read_only` with
/// `Retry-After`), `/healthz` says so, reads go on, and writes resume when it does.
#[actix_rt::test]
async fn a_read_only_database_answers_read_only_and_healthz_says_so() {
    if Backend::from_env() != Backend::Postgres {
        println!("a read-only database is made with PostgreSQL's default_transaction_read_only; run with CHATPULSE_TEST_DATABASE=postgres");
        return;
    }
    let app = TestApp::builder().expect_errors().start().await;
    app.ingest(&[msg("general", "alice", "before")]).await;
    let db = app.pg_database().expect("a PostgreSQL database");
    set_read_only(db, true);
    let refused = eventually("ingest refused as read-only", WAIT, || async {
        let r = app.post_json(&msg("general", "alice", "while read-only")).await;
        (r.status != 201 && r.error_code() == Some("read_only")).then_some(r)
    })
    .await;
    refused.assert_error(503, "read_only");
    assert_eq!(refused.header("retry-after"), Some("30"), "{refused}");
    assert_eq!(app.get_json("/healthz").await["writes"], "read_only");
    assert_eq!(app.total_messages().await, 1, "reads go on");
    set_read_only(db, false);
    eventually("writes again", WAIT, || async {
        (app.post_json(&msg("general", "alice", "after")).await.status == 201).then_some(())
    })
    .await;
    assert_eq!(app.get_json("/healthz").await["writes"], "ok");
}

/// Starting on a database that takes no writes says so at once, naming the trouble.
#[actix_rt::test]
async fn starting_on_a_read_only_database_says_so() {
    if Backend::from_env() != Backend::Postgres {
        println!("run with CHATPULSE_TEST_DATABASE=postgres");
        return;
    }
    let db = PgDatabase::create();
    pg_admin(
        &db,
        &format!("ALTER DATABASE {} SET default_transaction_read_only = on", db.name()),
    );
    let out = std::process::Command::new(server_bin())
        .args(["--bind", "127.0.0.1:0", "--database", &db.url()])
        .env("RUST_LOG", "info")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run chatpulse");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "it started on a read-only database: {stderr}");
    assert!(stderr.contains("cannot take writes (read_only)"), "{stderr}");
}
