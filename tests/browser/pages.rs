//! User stories of the dashboard, each in a real browser against a real server.
use serde_json::{json, Value};

use crate::*;

/// What `LIST_MAX` is in `views/static/live.js`: rows a live list keeps.
const LIST_MAX: usize = 200;
/// What `PAGE_MESSAGES` is in `src/web/pages.rs`.
const PAGE_MESSAGES: usize = 50;

/// Opens a page, waits until it is live, and marks the document so that a later check
/// can prove the page was updated in place.
async fn open_live(b: &Browser, app: &TestApp, path: &str) {
    b.goto(&app.url(path)).await;
    b.wait_state("live", PAGE_WAIT).await;
    b.mark_document().await;
}

async fn row_total(b: &Browser, rows: &str, key: &str) -> String {
    b.text(&format!(
        "[data-rows=\"{rows}\"] tr[data-key=\"{key}\"] [data-cell=\"total\"]"
    ))
    .await
}

async fn wait_row_total(b: &Browser, rows: &str, key: &str, total: &str) {
    let what = format!("{rows} row `{key}` to count {total}");
    b.wait(&what, PAGE_WAIT, || async {
        (row_total(b, rows, key).await == total).then_some(())
    })
    .await
}

#[actix_rt::test]
async fn every_page_renders_with_data_then_updates_live_without_reload() {
    let app = TestApp::start().await;
    let first = app
        .ingest_ids(&[
            msg("general", "alice", "hello from alice"),
            msg("random", "bob", "bob was here"),
            msg("general", "bob", "second in general"),
        ])
        .await;
    let b = Browser::start().await;

    // Home: figures, latest messages, then live.
    b.goto(&app.url("/")).await;
    assert_eq!(b.text("[data-figure=total_messages]").await, "3");
    assert_list("home as rendered", &b.list_ids().await, &[first[2], first[1], first[0]]);
    b.wait_state("live", PAGE_WAIT).await;
    b.mark_document().await;
    let id = app.ingest_ids(&[msg("rust", "carol", "live on home")]).await[0];
    b.wait_top(id).await;
    b.wait_text("[data-figure=total_messages]", "4").await;
    b.wait_text("[data-figure=total_channels]", "3").await;
    b.wait_text("[data-figure=total_users]", "3").await;
    assert!(
        b.text("[data-list=\"messages\"] > li:first-child .msg-text").await == "live on home",
        "the live message shows its text"
    );
    b.assert_not_reloaded("home").await;

    // All messages.
    open_live(&b, &app, "/messages").await;
    assert_eq!(b.list_ids().await.len(), 4);
    let id = app.ingest_ids(&[msg("general", "dave", "live on messages")]).await[0];
    b.wait_top(id).await;
    b.assert_not_reloaded("/messages").await;

    // Messages of one user in one channel: the user's view, narrowed by the page.
    open_live(&b, &app, "/messages?channel=general&user=bob").await;
    assert_list("bob in general", &b.list_ids().await, &[first[2]]);
    let ids = app
        .ingest_ids(&[
            msg("random", "bob", "elsewhere"),
            msg("general", "bob", "bob in general again"),
        ])
        .await;
    b.wait_top(ids[1]).await;
    assert_list("bob in general, live", &b.list_ids().await, &[ids[1], first[2]]);
    b.assert_not_reloaded("/messages filtered").await;

    // Channels: counts update, the order follows, a new channel appears.
    open_live(&b, &app, "/channels").await;
    assert_eq!(row_total(&b, "channels", "general").await, "4");
    assert_eq!(row_total(&b, "channels", "random").await, "2");
    app.ingest(&[
        msg("random", "erin", "one"),
        msg("random", "erin", "two"),
        msg("random", "erin", "three"),
        msg("music", "erin", "first in music"),
    ])
    .await;
    wait_row_total(&b, "channels", "random", "5").await;
    wait_row_total(&b, "channels", "music", "1").await;
    assert_eq!(
        b.js_str("return document.querySelector('[data-rows=\"channels\"] tr').dataset.key")
            .await,
        "random",
        "sorted by count, the busiest channel moves to the top"
    );
    b.assert_not_reloaded("/channels").await;

    // One channel: its count and its messages.
    open_live(&b, &app, "/channels/general").await;
    assert_eq!(b.text("[data-figure=entity_total]").await, "4");
    let ids = app
        .ingest_ids(&[
            msg("general", "alice", "in general"),
            msg("random", "alice", "not in general"),
        ])
        .await;
    b.wait_top(ids[0]).await;
    b.wait_text("[data-figure=entity_total]", "5").await;
    assert!(
        !b.list_ids().await.contains(&ids[1]),
        "another channel's message showed"
    );
    b.assert_not_reloaded("/channels/general").await;

    // Users: counts update.
    open_live(&b, &app, "/users").await;
    assert_eq!(row_total(&b, "users", "alice").await, "3");
    app.ingest(&[msg("general", "alice", "more from alice")]).await;
    wait_row_total(&b, "users", "alice", "4").await;
    b.assert_not_reloaded("/users").await;

    // A profile: count, channels with counts, latest messages.
    open_live(&b, &app, "/users/bob").await;
    assert_eq!(b.text("[data-figure=entity_total]").await, "4");
    assert_eq!(row_total(&b, "user-channels", "general").await, "2");
    let ids = app
        .ingest_ids(&[msg("general", "bob", "bob again"), msg("gaming", "bob", "bob games")])
        .await;
    b.wait_top(ids[1]).await;
    b.wait_text("[data-figure=entity_total]", "6").await;
    wait_row_total(&b, "user-channels", "general", "3").await;
    wait_row_total(&b, "user-channels", "gaming", "1").await;
    b.assert_not_reloaded("/users/bob").await;

    // Search: matches, highlighted; not a live page.
    b.goto(&app.url("/search?q=hello")).await;
    let marks = b
        .js("return Array.from(document.querySelectorAll('.msgs mark')).map(m => m.textContent)")
        .await;
    assert_eq!(marks, json!(["hello"]), "the matched word is marked");
    assert_eq!(b.text(".msgs .msg-text").await, "hello from alice");
    assert_eq!(b.state().await, "", "the search page has no live state");

    // Not found, and bad input: pages that say so.
    b.goto(&app.url("/users/nobody")).await;
    assert_eq!(b.text("h1").await, "No such user");
    b.close().await;
}

#[actix_rt::test]
async fn message_text_and_names_are_shown_as_text_never_as_html() {
    const EVIL: &str = "<img src=x onerror=alert(1)>";
    let app = TestApp::start().await;
    app.ingest(&[json!({"channel": "general", "user": "mallory", "display_name": "<b>Mal</b>", "text": EVIL})])
        .await;
    let b = Browser::start().await;
    open_live(&b, &app, "/messages").await;
    // Rendered by the server ...
    assert_eq!(b.text("[data-list=\"messages\"] .msg-text").await, EVIL);
    assert_eq!(b.text("[data-list=\"messages\"] .msg-user").await, "<b>Mal</b>");
    // ... and by the live script.
    let id = app
        .ingest_ids(&[json!({"channel": "general", "user": "mallory", "display_name": "<b>Mal</b>", "text": EVIL})])
        .await[0];
    b.wait_top(id).await;
    let texts = b
        .js("return Array.from(document.querySelectorAll('.msg-text')).map(e => e.textContent)")
        .await;
    assert_eq!(texts, json!([EVIL, EVIL]));
    assert_eq!(
        b.js("return document.querySelectorAll('main img, main b').length")
            .await,
        json!(0),
        "message text or a name became markup"
    );
    assert!(b.client.get_alert_text().await.is_err(), "a script from a message ran");
    // Search marks words of such a text, and only marks.
    b.goto(&app.url("/search?q=img")).await;
    assert_eq!(b.text(".msgs .msg-text").await, EVIL);
    assert_eq!(
        b.js("return document.querySelectorAll('main img').length").await,
        json!(0)
    );
    assert_eq!(b.text(".msgs mark").await, "img");
    b.close().await;
}

/// Stops the server under an open page, checks the page says so within 5 s, restarts
/// the server on the same address and database, and checks that the page resumes with
/// every message exactly once.
async fn resumes_after_the_server_comes_back(transport: &str, kill: bool) {
    let mut app = TestApp::start().await;
    let mut ids = app.ingest_ids(&numbered("general", "alice", "before", 5)).await;
    let b = Browser::start().await;
    let path = match transport {
        "ws" => "/messages".to_string(),
        t => format!("/messages?transport={t}"),
    };
    open_live(&b, &app, &path).await;
    assert_eq!(b.js_str("return document.body.dataset.transport").await, transport);
    ids.extend(app.ingest_ids(&numbered("general", "alice", "live", 3)).await);
    b.wait_top(*ids.last().unwrap()).await;

    if kill {
        app.kill9();
    } else {
        app.sigterm().await;
    }
    let lost = Instant::now();
    b.wait_state("reconnecting", LOST_WITHIN).await;
    assert!(lost.elapsed() <= LOST_WITHIN);
    let shown = b.state_text().await;
    assert!(
        shown.contains("Reconnecting") && shown.contains(" s"),
        "the state shows a countdown: {shown:?}"
    );

    app.restart_on_same_address().await;
    ids.extend(app.ingest_ids(&numbered("general", "alice", "after", 4)).await);
    b.wait_top(*ids.last().unwrap()).await;
    b.wait_state("live", PAGE_WAIT).await;
    ids.extend(app.ingest_ids(&numbered("general", "alice", "later", 2)).await);
    b.wait_top(*ids.last().unwrap()).await;
    let expected: Vec<i64> = ids.iter().rev().copied().collect();
    assert_list("after the restart", &b.list_ids().await, &expected);
    b.assert_not_reloaded("resume").await;
    b.close().await;
}

#[actix_rt::test]
async fn websocket_page_shows_reconnecting_within_5s_and_resumes_without_loss_or_duplicates() {
    resumes_after_the_server_comes_back("ws", false).await;
}

#[actix_rt::test]
async fn sse_page_shows_reconnecting_within_5s_after_a_crash_and_resumes_without_loss_or_duplicates() {
    resumes_after_the_server_comes_back("sse", true).await;
}

#[actix_rt::test]
async fn sse_transport_works_like_websocket() {
    let app = TestApp::start().await;
    app.ingest(&[msg("general", "alice", "hello")]).await;
    let b = Browser::start().await;
    open_live(&b, &app, "/?transport=sse").await;
    assert_eq!(b.js_str("return document.body.dataset.transport").await, "sse");
    assert!(b.state_text().await.contains("SSE"));
    let ids = app
        .ingest_ids(&[msg("general", "bob", "one"), msg("rust", "bob", "two")])
        .await;
    b.wait_top(ids[1]).await;
    b.wait_text("[data-figure=total_messages]", "3").await;
    b.wait_text("[data-figure=total_users]", "2").await;
    assert_eq!(b.list_ids().await.len(), 3);
    b.assert_not_reloaded("home over SSE").await;

    open_live(&b, &app, "/channels?transport=sse").await;
    app.ingest(&[msg("rust", "carol", "three")]).await;
    wait_row_total(&b, "channels", "rust", "2").await;
    b.close().await;
}

#[actix_rt::test]
async fn polling_keeps_a_page_current_when_asked_for() {
    let app = TestApp::start().await;
    app.ingest(&[msg("general", "alice", "hello")]).await;
    let b = Browser::start().await;
    b.goto(&app.url("/users/alice?transport=poll")).await;
    b.wait_state("polling", PAGE_WAIT).await;
    b.mark_document().await;
    let ids = app
        .ingest_ids(&[msg("general", "alice", "polled"), msg("news", "alice", "polled too")])
        .await;
    b.wait_top(ids[1]).await;
    b.wait_text("[data-figure=entity_total]", "3").await;
    wait_row_total(&b, "user-channels", "news", "1").await;
    b.assert_not_reloaded("polling").await;
    b.close().await;
}

#[actix_rt::test]
async fn a_fallback_reloads_the_data_and_the_page_continues_live() {
    // A queue of 1 KiB overflows on any large ingest; the client then resumes from its
    // cursor, which is more than 20 messages behind, so the server answers `fallback`.
    let app = TestApp::builder().queue_bytes(1024).catchup_max(20).start().await;
    app.ingest(&[msg("general", "alice", "before")]).await;
    let b = Browser::start().await;
    open_live(&b, &app, "/messages").await;
    assert_eq!(b.js("return document.body.dataset.reloads || '0'").await, json!("0"));

    let burst = app.ingest_ids(&numbered("general", "bob", "burst", 300)).await;
    let what = "the page reloaded its data after `fallback`";
    b.wait(what, PAGE_WAIT, || async {
        (b.js_str("return document.body.dataset.reloads || '0'").await != "0").then_some(())
    })
    .await;
    b.wait_state("live", PAGE_WAIT).await;
    let newest: Vec<i64> = burst.iter().rev().take(PAGE_MESSAGES).copied().collect();
    assert_list("reloaded", &b.list_ids().await, &newest);
    assert_eq!(
        b.js_str("return document.body.dataset.cursor").await,
        burst.last().unwrap().to_string(),
        "the page took the cursor it was reloaded at"
    );

    let more = app.ingest_ids(&numbered("general", "carol", "after", 3)).await;
    b.wait_top(more[2]).await;
    let mut expected: Vec<i64> = more.iter().rev().copied().collect();
    expected.extend(&newest);
    assert_list("continued after the reload", &b.list_ids().await, &expected);
    b.assert_not_reloaded("the reload swaps data in place").await;
    b.close().await;
}

#[actix_rt::test]
async fn a_burst_of_5000_messages_leaves_the_page_responsive_and_the_list_correct() {
    let app = TestApp::start().await;
    let b = Browser::start().await;
    open_live(&b, &app, "/").await;

    let sender = {
        let api = app.api.clone();
        actix_rt::spawn(async move {
            api.ingest_chunked(&numbered("general", "bot", "burst", 5000), 500)
                .await
        })
    };
    // While the burst arrives, the page keeps answering: a script round trip, and a
    // frame (a busy main thread would delay both past the deadline).
    while !sender.is_finished() {
        let frame = b.client.execute_async(
            "const done = arguments[arguments.length - 1]; requestAnimationFrame(() => done(true));",
            vec![],
        );
        let answered = actix_rt::time::timeout(PAGE_WAIT, frame).await;
        assert!(
            matches!(answered, Ok(Ok(ref v)) if v == &json!(true)),
            "the page did not answer during the burst: {answered:?}"
        );
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
    let ids = sender.await.expect("ingest task");
    b.wait_top(*ids.last().unwrap()).await;
    let newest: Vec<i64> = ids.iter().rev().take(LIST_MAX).copied().collect();
    assert_list("after the burst", &b.list_ids().await, &newest);
    b.wait_text("[data-figure=total_messages]", "5,000").await;
    assert_eq!(b.state().await, "live");

    // Pause freezes the list and counts; resume shows the newest in order.
    b.js("document.querySelector('[data-pause]').click(); return true")
        .await;
    let more = app.ingest_ids(&numbered("general", "bot", "while paused", 7)).await;
    b.wait_text("[data-pause]", "Resume · 7 new").await;
    assert_eq!(
        b.list_ids().await.first(),
        Some(ids.last().unwrap()),
        "a paused list changed"
    );
    b.js("document.querySelector('[data-pause]').click(); return true")
        .await;
    b.wait_top(more[6]).await;
    let mut expected: Vec<i64> = more.iter().rev().copied().collect();
    expected.extend(ids.iter().rev().take(LIST_MAX - more.len()));
    assert_list("after resume", &b.list_ids().await, &expected);
    b.close().await;
}

#[actix_rt::test]
async fn pages_send_a_strict_policy_and_answer_bad_input_with_a_clear_error() {
    let app = TestApp::start().await;
    app.ingest(&[msg("general", "alice", "hello")]).await;
    let csp = "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; \
               base-uri 'none'; frame-ancestors 'none'; form-action 'self'";
    for path in [
        "/",
        "/messages",
        "/messages?before_id=2",
        "/channels",
        "/channels/general",
        "/users",
        "/users/alice",
        "/search?q=hello",
        "/irc",
        "/incidents",
        "/streams/1",
        "/streams/1?before_id=2",
        // An offset past every row is an empty page (it once overflowed `offset + 1`).
        "/users?offset=9223372036854775807",
        "/channels?offset=9223372036854775807",
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status, 200, "GET {path}: {r}");
        assert_eq!(r.header("content-security-policy"), Some(csp), "GET {path}");
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"), "GET {path}");
        assert!(!r.text.contains(" style="), "GET {path}: an inline style attribute");
        assert_eq!(
            r.text.matches("<script").count(),
            r.text.matches("<script src=\"/static/").count(),
            "GET {path}: an inline script"
        );
    }
    for (path, status, says) in [
        ("/users?sort=loudest", 400, "sort must be"),
        ("/channels?offset=-1", 400, "offset must be"),
        ("/messages?before_id=x", 400, "before_id must be"),
        ("/messages?channel=no%20spaces", 400, "not a valid channel name"),
        ("/search?q=%22open", 400, "unbalanced quote"),
        ("/search?q=hi&since=yesterday", 400, "From"),
        ("/users/nobody", 404, "No such user"),
        ("/channels/nowhere", 404, "No such channel"),
        ("/streams/999", 404, "No such stream"),
        ("/streams/-1", 404, "No such stream"),
        ("/streams/1?before_id=0", 400, "before_id must be"),
        ("/no/such/page", 404, "Page not found"),
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status, status, "GET {path}: {r}");
        assert!(r.text.contains(says), "GET {path} should say `{says}`: {}", r.text);
        assert_eq!(r.header("content-security-policy"), Some(csp), "GET {path}");
    }
    app.get("/api/no-such-route").await.assert_error(404, "not_found");
    assert_eq!(app.total_messages().await, 1, "a page request changed data");

    let js = app.get("/static/live.js").await;
    assert_eq!(js.status, 200);
    assert_eq!(js.header("x-content-type-options"), Some("nosniff"));
    assert!(js.header("etag").is_some(), "static files carry an ETag");
    assert_eq!(app.get("/static/nope.js").await.status, 404);
    assert_eq!(app.get("/static/streams.js").await.status, 200);
}

#[actix_rt::test]
async fn a_quiet_page_shows_idle_and_goes_live_again_with_the_next_message() {
    let app = TestApp::builder().idle_after_ms(1500).start().await;
    let b = Browser::start().await;
    b.goto(&app.url("/")).await;
    b.wait_state("idle", PAGE_WAIT).await;
    let id = app.ingest_ids(&[msg("general", "alice", "wake up")]).await[0];
    b.wait_top(id).await;
    assert_eq!(b.state().await, "live", "a message after idle shows the page is live");
    b.close().await;
}

#[actix_rt::test]
async fn load_older_keeps_what_is_shown_and_new_messages_still_arrive_on_top() {
    let app = TestApp::start().await;
    let ids = app.ingest_ids(&numbered("general", "alice", "old", 120)).await;
    let b = Browser::start().await;
    open_live(&b, &app, "/messages").await;
    let newest_first: Vec<i64> = ids.iter().rev().copied().collect();
    assert_list("first page", &b.list_ids().await, &newest_first[..PAGE_MESSAGES]);
    b.js("document.querySelector('[data-older]').click(); return true")
        .await;
    b.wait("a second page", PAGE_WAIT, || async {
        (b.list_ids().await.len() == 2 * PAGE_MESSAGES).then_some(())
    })
    .await;
    b.js("document.querySelector('[data-older]').click(); return true")
        .await;
    b.wait("the last page", PAGE_WAIT, || async {
        (b.list_ids().await.len() == ids.len()).then_some(())
    })
    .await;
    assert_list("all pages", &b.list_ids().await, &newest_first);
    b.wait_text("[data-older-wrap]", "No older messages.").await;
    let new = app.ingest_ids(&[msg("general", "bob", "new")]).await[0];
    b.wait_top(new).await;
    let mut expected = vec![new];
    expected.extend(&newest_first);
    assert_list("loaded pages kept under a live message", &b.list_ids().await, &expected);
    b.assert_not_reloaded("load older").await;
    b.close().await;
}

#[actix_rt::test]
async fn a_server_that_refuses_live_connections_leaves_the_page_polling_and_current() {
    let app = TestApp::builder().max_connections(0).start().await;
    app.ingest(&[msg("general", "alice", "hello")]).await;
    let b = Browser::start().await;
    b.goto(&app.url("/messages")).await;
    b.wait_state("polling", PAGE_WAIT).await;
    b.mark_document().await;
    let shown = b.state_text().await;
    assert!(
        shown.contains("live in"),
        "polling says when live is tried again: {shown:?}"
    );
    let id = app.ingest_ids(&[msg("general", "bob", "polled")]).await[0];
    b.wait_top(id).await;
    assert_eq!(b.list_ids().await.len(), 2);
    b.assert_not_reloaded("polling after too_many_connections").await;
    b.close().await;
}

/// Several nodes: the page is served by one node while messages are stored through another
/// (PostgreSQL and a Redis bus between them).
#[actix_rt::test]
async fn a_page_on_one_node_shows_what_another_node_stores_live() {
    let redis = RedisServer::start();
    let cluster = TestCluster::builder().nodes(2).bus(redis.url()).start().await;
    let (page_node, writer) = (cluster.node(0), cluster.node(1));
    let first = writer.ingest_ids(&[msg("general", "alice", "stored on node 1")]).await;
    let b = Browser::start().await;
    for (transport, path) in [("ws", "/"), ("sse", "/?transport=sse")] {
        open_live(&b, page_node, path).await;
        let ids = writer
            .ingest_ids(&[
                msg("general", "bob", &format!("{transport} one")),
                msg("ops", "carol", &format!("{transport} two")),
            ])
            .await;
        b.wait_top(ids[1]).await;
        let total = (first.len() + ids.len() * if transport == "ws" { 1 } else { 2 }).to_string();
        b.wait_text("[data-figure=total_messages]", &total).await;
        b.assert_not_reloaded(&format!("home over {transport}, fed by another node"))
            .await;
    }
    open_live(&b, page_node, "/channels").await;
    writer.ingest(&[msg("ops", "dave", "three")]).await;
    wait_row_total(&b, "channels", "ops", "3").await;
    b.close().await;
}

/// "I follow a channel from the /irc page, pause it and remove it": the form and buttons
/// go through /api/irc/channels with the ingest token typed into the page, and the table
/// follows without a reload.
#[actix_rt::test]
async fn the_irc_page_follows_pauses_and_removes_channels() {
    // Nothing listens at the IRC server's address: the channel stays `joining`.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let server = format!("irc://{}", closed.local_addr().unwrap());
    drop(closed);
    let app = TestApp::builder()
        .ingest_token("page-token")
        .raw_args(["--irc-server", &server])
        .start()
        .await;
    let b = Browser::start().await;
    b.goto(&app.url("/irc")).await;
    b.mark_document().await;
    assert_eq!(b.text("#irc-empty p strong").await, "No channel followed.");
    let state_of = |name: &'static str| {
        let b = &b;
        async move {
            b.js_str(&format!(
                "const r = document.querySelector('#irc-rows tr[data-name=\"{name}\"] .irc-state'); return r ? r.textContent : ''"
            ))
            .await
        }
    };

    // Without the token the change is refused, and the page says why.
    b.js("document.getElementById('irc-name').value = '#Dallas'; document.querySelector('#irc-follow button').click(); return true")
        .await;
    b.wait("the refusal shown", PAGE_WAIT, || async {
        let e = b.text("#irc-error").await;
        e.contains("token").then_some(())
    })
    .await;
    b.js("document.getElementById('irc-token').value = 'page-token'; document.querySelector('#irc-follow button').click(); return true")
        .await;
    b.wait("#dallas followed", PAGE_WAIT, || async {
        let s = state_of("dallas").await;
        (s == "joining" || s == "waiting").then_some(())
    })
    .await;
    assert_eq!(b.text("#irc-error").await, "", "the error is cleared");
    b.js("document.querySelector('#irc-rows tr[data-name=\"dallas\"] button[data-action=\"pause\"]').click(); return true")
        .await;
    b.wait("#dallas paused", PAGE_WAIT, || async {
        (state_of("dallas").await == "paused").then_some(())
    })
    .await;
    assert_eq!(
        app.get_json("/api/irc/channels").await["channels"][0]["paused"],
        json!(true)
    );
    b.js("document.querySelector('#irc-rows tr[data-name=\"dallas\"] button[data-action=\"remove\"]').click(); return true")
        .await;
    b.wait("the table empty again", PAGE_WAIT, || async {
        b.js("return !document.getElementById('irc-empty').hidden")
            .await
            .as_bool()
            .unwrap_or(false)
            .then_some(())
    })
    .await;
    assert_eq!(app.get_json("/api/irc/channels").await["channels"], json!([]));
    b.assert_not_reloaded("the irc page").await;
    b.close().await;
}

// ---------------------------------------------------------------------------
// The stream model's pages (issue 12): a stream's log, the incidents, and the v1 pages
// with edits, deletes and the streams that are not channels.
// ---------------------------------------------------------------------------

const SECRET: &str = "browser-test-secret-0123";

/// A server with user tokens, and two people who may use them.
struct Team {
    app: TestApp,
    alice: String,
    bob: String,
}

async fn team() -> Team {
    let app = TestApp::builder().token_secret(SECRET).start().await;
    Team {
        app,
        alice: user_token(SECRET, "alice", false),
        bob: user_token(SECRET, "bob", false),
    }
}

impl Team {
    /// A change through the stream API that must succeed; its JSON.
    async fn call(&self, method: &str, path: &str, token: &str, body: Value) -> Value {
        let body = (!body.is_null()).then_some(body);
        let r = self.app.request(method, path, Some(token), body.as_ref()).await;
        assert!((200..300).contains(&r.status), "{method} {path}: {r}");
        r.json
    }

    async fn create(&self, kind: &str, name: &str, token: &str) -> i64 {
        let s = self
            .call("POST", "/api/streams", token, json!({"kind": kind, "name": name}))
            .await;
        s["id"].as_i64().unwrap()
    }

    async fn post(&self, stream: i64, token: &str, text: &str) -> i64 {
        let e = self
            .call(
                "POST",
                &format!("/api/streams/{stream}/events"),
                token,
                json!({"text": text}),
            )
            .await;
        e["event_id"].as_i64().unwrap()
    }

    async fn edit(&self, stream: i64, event: i64, token: &str, text: &str) {
        self.call(
            "PATCH",
            &format!("/api/streams/{stream}/events/{event}"),
            token,
            json!({"text": text}),
        )
        .await;
    }

    async fn delete(&self, stream: i64, event: i64, token: &str) {
        self.call(
            "DELETE",
            &format!("/api/streams/{stream}/events/{event}"),
            token,
            Value::Null,
        )
        .await;
    }

    async fn thread(&self, stream: i64, event: i64, token: &str) -> i64 {
        let t = self
            .call(
                "POST",
                &format!("/api/streams/{stream}/thread"),
                token,
                json!({"event_id": event}),
            )
            .await;
        t["id"].as_i64().unwrap()
    }

    async fn share(&self, stream: i64, event: i64, token: &str, context: &str) -> i64 {
        let e = self
            .call(
                "POST",
                &format!("/api/streams/{stream}/share"),
                token,
                json!({"event_id": event, "context": context}),
            )
            .await;
        e["event_id"].as_i64().unwrap()
    }
}

/// The event ids of a stream page's log, top (oldest) to bottom.
async fn event_ids(b: &Browser) -> Vec<i64> {
    let v = b
        .js("return Array.from(document.querySelectorAll('[data-list=\"events\"] > li')).map(li => Number(li.dataset.id))")
        .await;
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default()
}

async fn attr(b: &Browser, selector: &str, name: &str) -> String {
    b.js_str(&format!(
        "const e = document.querySelector({}); return e ? (e.getAttribute({}) || '') : ''",
        json!(selector),
        json!(name)
    ))
    .await
}

async fn wait_event(b: &Browser, id: i64) {
    let what = format!("event {id} at the bottom of the log");
    b.wait(&what, PAGE_WAIT, || async {
        (event_ids(b).await.last() == Some(&id)).then_some(())
    })
    .await
}

/// "I watch a stream's page while people talk in it": the page shows the log as it was,
/// then every kind of change arrives in place, without a reload.
#[actix_rt::test]
async fn the_stream_page_shows_a_log_and_follows_messages_edits_deletes_shares_and_threads_live() {
    let t = team().await;
    let eng = t.create("channel", "engineering", &t.alice).await;
    t.call("POST", &format!("/api/streams/{eng}/join"), &t.bob, Value::Null)
        .await;
    let deploy = t.post(eng, &t.alice, "Deploy went out").await;
    let errors = t.post(eng, &t.bob, "Seeing <b>errors</b> in Sentry").await;
    let typo = t.post(eng, &t.alice, "rollbak?").await;
    t.edit(eng, typo, &t.alice, "rollback?").await;
    let oops = t.post(eng, &t.bob, "wrong channel").await;
    t.delete(eng, oops, &t.bob).await;
    let ops = t.create("incident", "Checkout outage", &t.bob).await;
    let outage = t.post(ops, &t.bob, "Checkout returns 500s").await;

    // As rendered: every event but the edit and the delete, each with its anchor.
    let b = Browser::start().await;
    open_live(&b, &t.app, &format!("/streams/{eng}")).await;
    assert_eq!(b.text("h1").await, "#engineering");
    assert_eq!(b.text("[data-stream-kind]").await, "channel");
    assert_eq!(b.text("[data-stream-status]").await, "active");
    assert_eq!(
        b.text("[data-stream-total]").await,
        "3",
        "messages that are not deleted"
    );
    let shown = event_ids(&b).await;
    assert_eq!(shown.len(), 6, "two joins and four messages: {shown:?}");
    assert_eq!(&shown[2..], &[deploy, errors, typo, oops]);
    assert_eq!(b.text(&format!("#e{} .ev-says", shown[1])).await, "bob joined");
    assert_eq!(
        b.text(&format!("#e{errors} .ev-text")).await,
        "Seeing <b>errors</b> in Sentry"
    );
    assert_eq!(b.text(&format!("#e{typo} .ev-text")).await, "rollback?");
    assert_eq!(
        b.js(&format!("return !document.querySelector('#e{typo} .edited').hidden"))
            .await,
        json!(true),
        "an edited message is marked"
    );
    assert_eq!(b.text(&format!("#e{oops} .ev-text")).await, "message deleted");
    assert_eq!(
        b.js(&format!(
            "return document.querySelector('#e{deploy} .ev-thread').hidden"
        ))
        .await,
        json!(true),
        "a message without a thread shows no thread"
    );

    // A new message, an edit and a delete, live.
    let live = t.post(eng, &t.bob, "Rolling back now").await;
    wait_event(&b, live).await;
    assert_eq!(b.text(&format!("#e{live} .ev-text")).await, "Rolling back now");
    assert_eq!(b.text(&format!("#e{live} .ev-actor")).await, "bob");
    b.wait_text("[data-stream-total]", "4").await;
    t.edit(eng, live, &t.bob, "Rolling back now (2.3.9)").await;
    b.wait_text(&format!("#e{live} .ev-text"), "Rolling back now (2.3.9)")
        .await;
    assert_eq!(
        b.js(&format!("return !document.querySelector('#e{live} .edited').hidden"))
            .await,
        json!(true)
    );
    t.delete(eng, deploy, &t.alice).await;
    b.wait_text(&format!("#e{deploy} .ev-text"), "message deleted").await;
    b.wait_text("[data-stream-total]", "3").await;

    // A share from another stream: the original's text and a link to it.
    let shared = t.share(eng, outage, &t.alice, "Postmortem at 3").await;
    wait_event(&b, shared).await;
    assert_eq!(b.text(&format!("#e{shared} .ev-context")).await, "Postmortem at 3");
    assert_eq!(
        b.text(&format!("#e{shared} .ev-quote-text")).await,
        "Checkout returns 500s"
    );
    assert_eq!(
        attr(&b, &format!("#e{shared} .ev-quote-link"), "href").await,
        format!("/streams/{ops}#e{outage}")
    );
    let what = "the share names the original's stream";
    b.wait(what, PAGE_WAIT, || async {
        (b.text(&format!("#e{shared} .ev-from")).await == "Checkout outage").then_some(())
    })
    .await;

    // A thread: started, its reply count on the message, opened in place, and live while open.
    let th = t.thread(eng, errors, &t.alice).await;
    b.wait_text(&format!("#e{errors} [data-thread-toggle]"), "No replies yet")
        .await;
    assert_eq!(
        attr(&b, &format!("#e{errors} .thread-open"), "href").await,
        format!("/streams/{th}")
    );
    let started_row = *event_ids(&b).await.last().unwrap();
    assert_eq!(
        attr(&b, &format!("#e{started_row} .ev-says a[href^=\"/streams/\"]"), "href").await,
        format!("/streams/{th}"),
        "thread_started links the thread"
    );
    t.post(th, &t.alice, "What errors?").await;
    b.wait_text(&format!("#e{errors} [data-thread-toggle]"), "1 reply")
        .await;
    b.js(&format!(
        "document.querySelector('#e{errors} [data-thread-toggle]').click(); return true"
    ))
    .await;
    b.wait_text(&format!("#thread-{th} > li:last-child .ev-text"), "What errors?")
        .await;
    t.post(th, &t.bob, "500s on checkout").await;
    b.wait_text(&format!("#e{errors} [data-thread-toggle]"), "2 replies")
        .await;
    b.wait_text(&format!("#thread-{th} > li:last-child .ev-text"), "500s on checkout")
        .await;

    // The stream's own changes show in its header.
    t.call(
        "PATCH",
        &format!("/api/streams/{eng}"),
        &t.alice,
        json!({"description": "Deploys and on-call"}),
    )
    .await;
    b.wait_text("[data-stream-desc]", "Deploys and on-call").await;
    b.assert_not_reloaded("the stream page").await;
    let texts = b
        .js("return document.querySelectorAll('main b, main img').length")
        .await;
    assert_eq!(texts, json!(0), "text became markup");

    // The thread's own page: where it branched from; promoted and resolved, live.
    open_live(&b, &t.app, &format!("/streams/{th}")).await;
    assert_eq!(b.text("h1").await, "Thread");
    assert_eq!(b.text("[data-stream-kind]").await, "thread");
    assert_eq!(
        attr(&b, ".stream-origin a", "href").await,
        format!("/streams/{eng}#e{errors}")
    );
    t.call(
        "POST",
        &format!("/api/streams/{th}/promote"),
        &t.alice,
        json!({"kind": "incident", "name": "Sentry errors"}),
    )
    .await;
    b.wait_text("h1", "Sentry errors").await;
    b.wait_text("[data-stream-kind]", "incident").await;
    t.call(
        "PATCH",
        &format!("/api/streams/{th}"),
        &t.alice,
        json!({"status": "resolved"}),
    )
    .await;
    b.wait_text("[data-stream-status]", "resolved").await;
    b.assert_not_reloaded("the thread's page").await;

    let r = t.app.get("/streams/999999").await;
    assert_eq!(r.status, 404, "{r}");
    assert!(r.text.contains("No such stream"));
    assert_eq!(t.app.get("/streams/x1").await.status, 404);
    b.close().await;
}

/// A long log: the page shows the newest events, loads earlier ones in place, and a link
/// to an event before them reads earlier pages until it shows.
#[actix_rt::test]
async fn the_stream_page_loads_earlier_events_and_finds_a_linked_one() {
    let app = TestApp::start().await;
    let ids = app.ingest_ids(&numbered("general", "alice", "line", 130)).await;
    let general = app.get_json("/api/streams?kind=channel").await["streams"][0]["id"]
        .as_i64()
        .unwrap();
    let b = Browser::start().await;
    open_live(&b, &app, &format!("/streams/{general}")).await;
    assert_eq!(event_ids(&b).await, ids[30..], "the newest page, oldest first");
    b.js("document.querySelector('[data-earlier]').click(); return true")
        .await;
    b.wait_text("[data-earlier-wrap]", "The beginning of this stream.")
        .await;
    assert_eq!(event_ids(&b).await, ids);
    let id = app.ingest_ids(&[msg("general", "bob", "still live")]).await[0];
    wait_event(&b, id).await;
    b.assert_not_reloaded("load earlier").await;

    b.goto(&app.url(&format!("/streams/{general}#e{}", ids[3]))).await;
    let what = "the linked event, read from an earlier page";
    b.wait(what, PAGE_WAIT, || async {
        (b.text(&format!("#e{} .ev-text", ids[3])).await == "line 3").then_some(())
    })
    .await;
    b.close().await;
}

/// The stream page after `fallback`: its data is read again in place and it goes on live.
#[actix_rt::test]
async fn a_stream_page_reloads_its_log_after_a_fallback_and_continues_live() {
    let app = TestApp::builder().queue_bytes(1024).catchup_max(20).start().await;
    app.ingest(&[msg("general", "alice", "before")]).await;
    let general = app.get_json("/api/streams?kind=channel").await["streams"][0]["id"]
        .as_i64()
        .unwrap();
    let b = Browser::start().await;
    open_live(&b, &app, &format!("/streams/{general}")).await;
    let burst = app.ingest_ids(&numbered("general", "bob", "burst", 300)).await;
    let what = "the page reloaded its data after `fallback`";
    b.wait(what, PAGE_WAIT, || async {
        (b.js_str("return document.body.dataset.reloads || '0'").await != "0").then_some(())
    })
    .await;
    b.wait_state("live", PAGE_WAIT).await;
    let shown = event_ids(&b).await;
    assert_eq!(shown.last(), burst.last(), "the newest event is shown");
    assert_eq!(shown.len(), 100, "one page of the log, as rendered: {}", shown.len());
    let more = app.ingest_ids(&[msg("general", "carol", "after")]).await[0];
    wait_event(&b, more).await;
    b.assert_not_reloaded("the reload swaps data in place").await;
    b.close().await;
}

/// The same page over SSE and over polling: messages and edits arrive either way, and
/// reply counts over SSE.
#[actix_rt::test]
async fn the_stream_page_follows_over_sse_and_polling() {
    let t = team().await;
    let eng = t.create("channel", "engineering", &t.alice).await;
    let first = t.post(eng, &t.alice, "first").await;
    let b = Browser::start().await;
    for (transport, state) in [("sse", "live"), ("poll", "polling")] {
        b.goto(&t.app.url(&format!("/streams/{eng}?transport={transport}")))
            .await;
        b.wait_state(state, PAGE_WAIT).await;
        b.mark_document().await;
        let id = t.post(eng, &t.bob, &format!("over {transport}")).await;
        wait_event(&b, id).await;
        t.edit(eng, id, &t.bob, &format!("over {transport}, edited")).await;
        b.wait_text(&format!("#e{id} .ev-text"), &format!("over {transport}, edited"))
            .await;
        if transport == "sse" {
            let th = t.thread(eng, first, &t.alice).await;
            t.post(th, &t.bob, "a reply").await;
            b.wait_text(&format!("#e{first} [data-thread-toggle]"), "1 reply").await;
        }
        b.assert_not_reloaded(transport).await;
    }
    b.close().await;
}

async fn incident_rows(b: &Browser, status: &str) -> Vec<String> {
    let v = b
        .js(&format!(
            "return Array.from(document.querySelectorAll('[data-incidents=\"{status}\"] tr')).map(tr => tr.querySelector('.row-name').textContent)"
        ))
        .await;
    v.as_array()
        .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

async fn wait_incidents(b: &Browser, status: &str, names: &[&str]) {
    let what = format!("{status} incidents to be {names:?}");
    b.wait(&what, PAGE_WAIT, || async {
        (incident_rows(b, status).await == names).then_some(())
    })
    .await
}

/// "I keep /incidents open": a thread promoted to an incident appears, its count follows,
/// resolving it moves it, a new incident appears on top, an archived one goes.
#[actix_rt::test]
async fn the_incidents_page_shows_a_promoted_thread_live_and_moves_it_when_resolved() {
    let t = team().await;
    let eng = t.create("channel", "engineering", &t.alice).await;
    let old = t.create("incident", "Old outage", &t.alice).await;
    t.call(
        "PATCH",
        &format!("/api/streams/{old}"),
        &t.alice,
        json!({"status": "resolved"}),
    )
    .await;
    let errors = t.post(eng, &t.bob, "Seeing errors").await;
    let th = t.thread(eng, errors, &t.alice).await;
    t.post(th, &t.alice, "What errors?").await;

    let b = Browser::start().await;
    open_live(&b, &t.app, "/incidents").await;
    assert_eq!(incident_rows(&b, "active").await, Vec::<String>::new());
    assert_eq!(incident_rows(&b, "resolved").await, ["Old outage"]);
    assert_eq!(b.text("[data-incident-count=\"active\"]").await, "0");

    t.call(
        "POST",
        &format!("/api/streams/{th}/promote"),
        &t.alice,
        json!({"kind": "incident", "name": "Checkout outage"}),
    )
    .await;
    wait_incidents(&b, "active", &["Checkout outage"]).await;
    b.wait_text("[data-incident-count=\"active\"]", "1").await;
    let row = format!("[data-incidents=\"active\"] tr[data-id=\"{th}\"]");
    assert_eq!(
        attr(&b, &format!("{row} .row-name"), "href").await,
        format!("/streams/{th}")
    );
    assert_eq!(b.text(&format!("{row} [data-cell=\"total\"]")).await, "1");
    t.post(th, &t.bob, "500s on checkout").await;
    b.wait_text(&format!("{row} [data-cell=\"total\"]"), "2").await;
    let new = t.create("incident", "Search latency", &t.bob).await;
    wait_incidents(&b, "active", &["Search latency", "Checkout outage"]).await;

    t.call(
        "PATCH",
        &format!("/api/streams/{th}"),
        &t.alice,
        json!({"status": "resolved"}),
    )
    .await;
    wait_incidents(&b, "resolved", &["Checkout outage", "Old outage"]).await;
    wait_incidents(&b, "active", &["Search latency"]).await;
    assert_eq!(
        b.text(&format!("[data-incidents=\"resolved\"] tr[data-id=\"{th}\"] .badge"))
            .await,
        "resolved"
    );

    t.call("DELETE", &format!("/api/streams/{new}"), &t.bob, Value::Null)
        .await;
    wait_incidents(&b, "active", &[]).await;
    b.wait_text("[data-incident-count=\"active\"]", "0").await;
    assert_eq!(
        b.js("return !document.querySelector('[data-incidents=\"active\"]').closest('section').querySelector('[data-empty]').hidden")
            .await,
        json!(true),
        "an empty section says so"
    );
    b.assert_not_reloaded("/incidents").await;

    // Polling keeps it current too.
    b.goto(&t.app.url("/incidents?transport=poll")).await;
    b.wait_state("polling", PAGE_WAIT).await;
    t.create("incident", "Polled outage", &t.bob).await;
    wait_incidents(&b, "active", &["Polled outage"]).await;
    b.close().await;
}

/// A v1 row's text without its "edited" mark.
async fn msg_text(b: &Browser, id: i64) -> String {
    b.js_str(&format!(
        "const p = document.querySelector('[data-list=\"messages\"] li[data-id=\"{id}\"] .msg-text'); \
         return p ? Array.from(p.childNodes).filter(n => n.nodeType === 3).map(n => n.nodeValue).join('') : ''"
    ))
    .await
}

/// The v1 pages and the stream model: /messages applies edits and deletes live, names a
/// thread's messages by the thread and links its page; /channels links each channel's log.
#[actix_rt::test]
async fn v1_pages_apply_edits_and_deletes_live_and_link_streams() {
    let t = team().await;
    t.app.ingest(&[msg("general", "carol", "v1 hello")]).await;
    let general = t.app.get_json("/api/streams?kind=channel").await["streams"][0]["id"]
        .as_i64()
        .unwrap();
    let keep = t.post(general, &t.alice, "keep me").await;
    let gone = t.post(general, &t.bob, "delete me").await;

    let b = Browser::start().await;
    open_live(&b, &t.app, "/messages").await;
    t.edit(general, keep, &t.alice, "keep me, edited").await;
    let what = "the edited text";
    b.wait(what, PAGE_WAIT, || async {
        (msg_text(&b, keep).await == "keep me, edited").then_some(())
    })
    .await;
    assert_eq!(
        b.text(&format!("[data-list=\"messages\"] li[data-id=\"{keep}\"] .edited"))
            .await,
        "edited"
    );
    t.delete(general, gone, &t.bob).await;
    let what = "the deleted message leaves the list";
    b.wait(what, PAGE_WAIT, || async {
        (!b.list_ids().await.contains(&gone)).then_some(())
    })
    .await;
    // A message posted after them still arrives on top.
    let after = t.app.ingest_ids(&[msg("general", "carol", "after the edits")]).await[0];
    b.wait_top(after).await;

    // A thread's message: named by the thread, linked to its page.
    let th = t.thread(general, keep, &t.alice).await;
    let reply = t.post(th, &t.bob, "in the thread").await;
    b.wait_top(reply).await;
    let link = format!("[data-list=\"messages\"] li[data-id=\"{reply}\"] .msg-channel");
    assert_eq!(attr(&b, &link, "href").await, format!("/streams/{th}"));
    b.wait_text(&link, &format!("thread {th}")).await;
    b.assert_not_reloaded("/messages").await;

    // Rendered by the server the same way (and without the deleted message).
    b.goto(&t.app.url("/messages")).await;
    assert_eq!(attr(&b, &link, "href").await, format!("/streams/{th}"));
    assert_eq!(b.text(&link).await, format!("thread {th}"));
    assert!(!b.list_ids().await.contains(&gone));
    assert_eq!(msg_text(&b, keep).await, "keep me, edited");
    assert_eq!(
        b.text(&format!("[data-list=\"messages\"] li[data-id=\"{keep}\"] .edited"))
            .await,
        "edited"
    );

    // /channels: each channel links its log, a new one too.
    open_live(&b, &t.app, "/channels").await;
    let log = "[data-rows=\"channels\"] tr[data-key=\"general\"] [data-stream-link]";
    assert_eq!(attr(&b, log, "href").await, format!("/streams/{general}"));
    t.app.ingest(&[msg("music", "dave", "first in music")]).await;
    wait_row_total(&b, "channels", "music", "1").await;
    let music = t.app.get_json("/api/streams?kind=channel").await["streams"][0]["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        attr(
            &b,
            "[data-rows=\"channels\"] tr[data-key=\"music\"] [data-stream-link]",
            "href"
        )
        .await,
        format!("/streams/{music}")
    );
    assert_eq!(
        attr(&b, "nav.nav a[href=\"/incidents\"]", "href").await,
        "/incidents",
        "the navigation has Incidents"
    );
    b.close().await;
}

/// The demo's sign-in link: `/signin#token=...` hands the token to `POST /api/session`,
/// which sets the session cookie, and the token leaves the address bar; a bad link says so.
#[actix_rt::test]
async fn a_sign_in_link_signs_the_browser_in_and_hides_its_token() {
    let team = team().await;
    let b = Browser::start().await;
    b.goto(&team.app.url(&format!("/signin#token={}", team.alice))).await;
    let status = b
        .wait("the page to sign in", PAGE_WAIT, || async {
            let s = b.text("#signin-status").await;
            s.starts_with("Signed in as").then_some(s)
        })
        .await;
    assert!(status.starts_with("Signed in as alice until"), "{status}");
    assert_eq!(
        b.js_str("return location.href").await,
        team.app.url("/signin"),
        "the token left the address bar"
    );
    // The cookie is HttpOnly: the page cannot read it, and the server takes it.
    assert_eq!(b.js_str("return document.cookie").await, "");
    let posted = b
        .js(
            "return fetch('/api/streams', {method: 'POST', headers: {'Content-Type': 'application/json'}, \
             body: JSON.stringify({kind: 'channel', name: 'from-the-browser'})}).then(r => r.status)",
        )
        .await;
    assert_eq!(posted, json!(201), "the session cookie signs requests");
    b.goto(&team.app.url("/signin#token=not-a-token")).await;
    b.wait("the page to refuse the link", PAGE_WAIT, || async {
        b.text("#signin-status")
            .await
            .starts_with("This link does not sign you in")
            .then_some(())
    })
    .await;
    b.close().await;
}
