//! User stories of the dashboard, each in a real browser against a real server.
use serde_json::json;

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
