//! User stories of the dashboard, each in a real browser against a real server.
use serde_json::{json, Value};

use crate::*;

/// What `LIST_MAX` is in `views/static/live.js`: rows a live list keeps.
const LIST_MAX: usize = 200;
/// What `PAGE_MESSAGES` is in `src/web/pages.rs`.
const PAGE_MESSAGES: usize = 50;

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
        "/search?q=hello&before_id=2&cursor=1",
        "/users?prefix=AL",
        "/channels?prefix=%23ge&sort=name",
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
        ("/search?q=hi&before_id=0", 400, "before_id must be"),
        ("/users?prefix=a%20b", 400, "cannot start a name"),
        ("/channels?prefix=%23%23", 400, "cannot start a name"),
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

// ---------------------------------------------------------------------------
// Search totals and paging, name search with totals, the one time rule, export links
// (issue 16, items 5, 6 and 8).
// ---------------------------------------------------------------------------

/// The ids of the search results shown, top to bottom.
async fn result_ids(b: &Browser) -> Vec<i64> {
    let v = b
        .js("return Array.from(document.querySelectorAll('[data-results] > li')).map(li => Number(li.dataset.id))")
        .await;
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default()
}

async fn texts(b: &Browser, selector: &str) -> Vec<String> {
    let v = b
        .js(&format!(
            "return Array.from(document.querySelectorAll({})).map(e => e.textContent)",
            json!(selector)
        ))
        .await;
    serde_json::from_value(v).unwrap()
}

/// "I page through a search while people keep talking": the page says how many messages
/// match, and its "Older results" pages hold every match the search began with exactly
/// once, in order, whatever arrives meanwhile; the query and the filters stay.
#[actix_rt::test]
async fn search_says_its_total_and_pages_with_no_duplicate_and_no_gap_while_messages_arrive() {
    let app = TestApp::start().await;
    // 250 matches in #general; the same word in another channel (the filter must hold on
    // every page) and other words between them.
    let mut batch = Vec::new();
    for i in 0..250 {
        batch.push(msg("general", "alice", &format!("needle {i}")));
        if i % 10 == 0 {
            batch.push(msg("random", "bob", &format!("needle elsewhere {i}")));
            batch.push(msg("general", "bob", "only hay"));
        }
    }
    let ids = app.ingest_chunked(&batch, 500).await;
    let matches: Vec<i64> = ids
        .iter()
        .zip(&batch)
        .filter(|(_, m)| m["channel"] == "general" && m["text"].as_str().unwrap().starts_with("needle"))
        .map(|(id, _)| *id)
        .rev()
        .collect();
    assert_eq!(matches.len(), 250);

    let b = Browser::start().await;
    b.goto(&app.url("/search?q=needle&channel=general")).await;
    assert_eq!(b.text("#results-h").await, "250 matches");
    assert_eq!(b.text("[data-shown]").await, "1–100 shown, newest first");
    let mut seen = result_ids(&b).await;
    assert_eq!(seen.len(), 100);
    let marks = texts(&b, "[data-results] mark").await;
    assert_eq!(marks.len(), 100, "each result marks its matched word");
    assert!(marks.iter().all(|m| m == "needle"), "{marks:?}");

    for (shown, n) in [
        ("101–200 shown, newest first", 100),
        ("201–250 shown, newest first", 50),
    ] {
        // New matches arrive between the pages: they are newer than every page.
        app.ingest(&numbered("general", "carol", "needle new", 7)).await;
        let href = attr(&b, "[data-older-results]", "href").await;
        for kept in ["q=needle", "channel=general", "before_id=", "cursor="] {
            assert!(href.contains(kept), "the older results keep `{kept}`: {href}");
        }
        click(&b, "[data-older-results]").await;
        b.wait_text("[data-shown]", shown).await;
        assert_eq!(
            b.text("#results-h").await,
            "250 matches",
            "every page counts the matches its search began with"
        );
        assert_eq!(attr(&b, "#q", "value").await, "needle", "the query stays in the form");
        let page = result_ids(&b).await;
        assert_eq!(page.len(), n, "{shown}");
        seen.extend(page);
    }
    assert_list("the pages, one after the other", &seen, &matches);
    assert_eq!(
        b.js("return document.querySelector('[data-older-results]') === null")
            .await,
        json!(true),
        "the last page offers no older results"
    );

    // Back to the newest: what arrived meanwhile is counted and on top.
    click(&b, ".note a").await;
    b.wait_text("#results-h", "264 matches").await;
    assert_eq!(b.text("[data-shown]").await, "1–100 shown, newest first");
    assert_eq!(
        b.text("[data-results] > li:first-child .msg-text").await,
        "needle new 6"
    );
    b.close().await;
}

/// Past 10,000 matches the page says "more than 10,000" and still pages.
#[actix_rt::test]
async fn search_says_more_than_10000_matches_when_there_are_more() {
    let app = TestApp::start().await;
    app.ingest_chunked(&numbered("general", "bot", "plenty", 10_001), 1000)
        .await;
    app.ingest(&numbered("general", "bot", "scarce", 3)).await;
    let r = app.get("/search?q=plenty").await;
    assert_eq!(r.status, 200, "{r}");
    assert!(r.text.contains(">More than 10,000 matches</h2>"), "{}", r.text);
    assert!(r.text.contains("data-older-results"), "the next page is offered");
    let r = app.get("/search?q=scarce").await;
    assert!(r.text.contains(">3 matches</h2>"), "{}", r.text);
    assert!(r.text.contains("1–3 shown, newest first"), "{}", r.text);
    assert!(!r.text.contains("data-older-results"), "one page only");
}

/// The rows of a count table, top to bottom.
async fn row_keys(b: &Browser, rows: &str) -> Vec<String> {
    let v = b
        .js(&format!(
            "return Array.from(document.querySelectorAll('[data-rows=\"{rows}\"] tr')).map(tr => tr.dataset.key)"
        ))
        .await;
    serde_json::from_value(v).unwrap()
}

/// "I look for someone": /users and /channels find names by their start in any case, say
/// how many there are (all, or those starting so), page and sort without losing the
/// search, and live rows that do not match it stay out.
#[actix_rt::test]
async fn users_and_channels_find_names_by_prefix_and_every_list_says_its_total() {
    let app = TestApp::start().await;
    let mut batch: Vec<Value> = (0..55).map(|i| msg("gaming", &format!("gamer{i:02}"), "gg")).collect();
    batch.extend([
        msg("games", "Gandalf", "you shall not pass"),
        msg("general", "alice", "hello"),
        msg("rust", "bob", "hi"),
        msg("Garage", "alice", "parked"),
    ]);
    app.ingest(&batch).await;

    let b = Browser::start().await;
    open_live(&b, &app, "/users").await;
    assert_eq!(b.text("#table-h").await, "58 users");
    open_live(&b, &app, "/channels").await;
    assert_eq!(b.text("#table-h").await, "5 channels");

    // Typed in the page's box, in another case, with the channel's `#`: the sort stays.
    b.goto(&app.url("/channels?sort=name")).await;
    b.js("document.querySelector('.find-name input[name=prefix]').value = '#GA'; return true")
        .await;
    click(&b, ".find-name button").await;
    b.wait_text("#table-h", "3 channels starting with “GA”").await;
    assert_eq!(row_keys(&b, "channels").await, ["Garage", "games", "gaming"]);
    assert_eq!(
        attr(&b, ".seg a[aria-current=\"true\"]", "href").await,
        "/channels?sort=name&prefix=GA"
    );
    assert_eq!(
        attr(&b, ".seg a[href^=\"/channels\"]:not([aria-current])", "href").await,
        "/channels?prefix=GA",
        "the other sort keeps the search"
    );

    // Users: a page of 50 of the 56 that start with "ga", and the next page keeps the search.
    open_live(&b, &app, "/users?prefix=ga&sort=name").await;
    assert_eq!(b.text("#table-h").await, "56 users starting with “ga”");
    let first = row_keys(&b, "users").await;
    assert_eq!(first.len(), 50);
    assert_eq!(first[..2], ["Gandalf", "gamer00"], "by name as stored: capitals first");
    let next = attr(&b, ".pager a[rel=next]", "href").await;
    assert_eq!(next, "/users?sort=name&prefix=ga&offset=50");
    b.goto(&app.url(&next)).await;
    assert_eq!(
        row_keys(&b, "users").await,
        ["gamer49", "gamer50", "gamer51", "gamer52", "gamer53", "gamer54"]
    );
    assert!(b.text(".card-head .muted").await.starts_with("51–56 shown"));

    // Live, on a list with room: a user who matches is added and counted; one who does
    // not, never.
    open_live(&b, &app, "/users?prefix=gan").await;
    assert_eq!(b.text("#table-h").await, "1 user starting with “gan”");
    app.ingest(&[msg("general", "zed", "not a gan"), msg("general", "GANESH", "hello")])
        .await;
    wait_row_total(&b, "users", "GANESH", "1").await;
    b.wait_text("#table-h", "2 users starting with “gan”").await;
    assert_eq!(row_keys(&b, "users").await.len(), 2, "only names that start with “gan”");
    app.ingest(&[msg("general", "Gandalf", "again")]).await;
    wait_row_total(&b, "users", "Gandalf", "2").await;
    assert!(!row_keys(&b, "users").await.contains(&"zed".to_string()));
    b.assert_not_reloaded("/users?prefix=gan").await;

    // The channels' total follows new channels too; polling keeps the prefix.
    b.goto(&app.url("/channels?prefix=ga&transport=poll")).await;
    b.wait_state("polling", PAGE_WAIT).await;
    assert_eq!(b.text("#table-h").await, "3 channels starting with “ga”");
    app.ingest(&[msg("gardening", "alice", "roses"), msg("zoo", "alice", "lions")])
        .await;
    wait_row_total(&b, "channels", "gardening", "1").await;
    b.wait_text("#table-h", "4 channels starting with “ga”").await;
    assert!(!row_keys(&b, "channels").await.contains(&"zoo".to_string()));
    b.close().await;
}

const KOLKATA: chrono::FixedOffset = match chrono::FixedOffset::east_opt(5 * 3600 + 30 * 60) {
    Some(z) => z,
    None => unreachable!(),
};

/// How the page writes `sent_at` in the zone `+05:30` (Asia/Kolkata), by the pages' rule.
fn in_kolkata(sent_at: &str) -> String {
    let t = chrono::DateTime::parse_from_rfc3339(sent_at)
        .unwrap()
        .with_timezone(&KOLKATA);
    if t.date_naive() == chrono::Utc::now().with_timezone(&KOLKATA).date_naive() {
        t.format("%H:%M:%S UTC+5:30").to_string()
    } else {
        t.format("%Y-%m-%d %H:%M UTC+5:30").to_string()
    }
}

fn in_utc(sent_at: &str) -> String {
    let t = chrono::DateTime::parse_from_rfc3339(sent_at).unwrap().to_utc();
    if t.date_naive() == chrono::Utc::now().date_naive() {
        t.format("%H:%M:%S UTC").to_string()
    } else {
        t.format("%Y-%m-%d %H:%M UTC").to_string()
    }
}

/// The `.msg-time` of message `id` in the page's list.
async fn msg_time(b: &Browser, id: i64) -> String {
    b.text(&format!("li[data-id=\"{id}\"] .msg-time")).await
}

/// "What time was that?": every time names its zone, shows its date when the day is not
/// today (in the zone shown), and switches to UTC and back with the header's switch,
/// which the next page remembers. Without the script the page says UTC.
#[actix_rt::test]
async fn times_name_their_zone_show_the_date_of_another_day_and_switch_to_utc() {
    let app = TestApp::start().await;
    // 20:45 UTC on 1 March is 02:15 on 2 March in Kolkata: the date is the zone's.
    let old = app
        .ingest_ids(&[
            json!({"channel": "general", "user": "alice", "text": "long ago", "sent_at": "2025-03-01T20:45:10Z"}),
        ])
        .await[0];
    let now = app.ingest_ids(&[msg("general", "alice", "just now")]).await[0];
    let sent = |id: i64| {
        let app = &app;
        async move {
            let m = app
                .get_json(&format!("/api/messages?before_id={}&limit=1", id + 1))
                .await;
            m["messages"][0]["sent_at"].as_str().unwrap().to_owned()
        }
    };
    let now_at = sent(now).await;

    // Rendered without the script: UTC, named.
    let r = app.get("/messages").await;
    assert!(r.text.contains(">2025-03-01 20:45 UTC</time>"), "{}", r.text);
    assert!(r.text.contains(&format!(">{}</time>", in_utc(&now_at))), "{}", r.text);

    let b = Browser::in_zone("Asia/Kolkata").await;
    open_live(&b, &app, "/messages").await;
    assert_eq!(msg_time(&b, old).await, "2025-03-02 02:15 UTC+5:30");
    assert_eq!(msg_time(&b, now).await, in_kolkata(&now_at));
    assert_eq!(
        attr(&b, &format!("li[data-id=\"{old}\"] .msg-time"), "title").await,
        "2025-03-02 02:15:10 UTC+5:30 (2025-03-01 20:45:10 UTC)"
    );
    assert_eq!(texts(&b, "[data-tz-switch] button").await, ["UTC+5:30", "UTC"]);
    assert_eq!(attr(&b, "[data-tz=local]", "aria-pressed").await, "true");
    let live = app.ingest_ids(&[msg("general", "bob", "live")]).await[0];
    b.wait_top(live).await;
    assert!(
        msg_time(&b, live).await.ends_with(" UTC+5:30"),
        "{}",
        msg_time(&b, live).await
    );

    // To UTC: every time on the page, and the next page too.
    click(&b, "[data-tz=utc]").await;
    b.wait("times in UTC", PAGE_WAIT, || async {
        (msg_time(&b, old).await == "2025-03-01 20:45 UTC").then_some(())
    })
    .await;
    assert_eq!(msg_time(&b, now).await, in_utc(&now_at));
    assert!(msg_time(&b, live).await.ends_with(" UTC"));
    assert_eq!(attr(&b, "[data-tz=utc]", "aria-pressed").await, "true");
    let later = app.ingest_ids(&[msg("general", "bob", "later")]).await[0];
    b.wait_top(later).await;
    assert!(
        msg_time(&b, later).await.ends_with(" UTC"),
        "a live row follows the switch"
    );
    b.assert_not_reloaded("switching zones").await;

    open_live(&b, &app, "/users/alice").await;
    assert_eq!(
        b.text(".figure-time time:not([data-figure])").await,
        "2025-03-01 20:45 UTC",
        "first seen, in the zone chosen on another page"
    );
    click(&b, "[data-tz=local]").await;
    b.wait_text(".figure-time time:not([data-figure])", "2025-03-02 02:15 UTC+5:30")
        .await;
    assert_eq!(b.text("[data-figure=entity_last]").await, in_kolkata(&now_at));
    b.close().await;
}

/// "Messages from 10:00 on", typed in the zone the results are shown in, mean 10:00 there;
/// switched to UTC, the fields show the same instants in UTC.
#[actix_rt::test]
async fn the_search_form_reads_its_times_in_the_zone_shown() {
    let app = TestApp::start().await;
    let ids = app
        .ingest_ids(&[
            json!({"channel": "general", "user": "alice", "text": "window alpha", "sent_at": "2026-01-10T04:00:00Z"}),
            json!({"channel": "general", "user": "alice", "text": "window beta", "sent_at": "2026-01-10T06:00:00Z"}),
        ])
        .await;
    let (alpha, beta) = (ids[0], ids[1]);
    let b = Browser::in_zone("Asia/Kolkata").await;
    b.goto(&app.url("/search?q=window")).await;
    assert_eq!(
        texts(&b, ".search-more label > span").await,
        ["From (UTC+5:30)", "Until (UTC+5:30)"]
    );
    assert_eq!(result_ids(&b).await, [beta, alpha]);
    assert_eq!(
        msg_time(&b, alpha).await,
        "2026-01-10 09:30 UTC+5:30",
        "results in the zone of the form"
    );

    // 10:00 in Kolkata is 04:30 UTC: alpha (09:30 there) is before it.
    let set = |name: &'static str, value: &'static str| {
        let b = &b;
        let field = if name == "since" { 0 } else { 1 };
        async move {
            b.js(&format!(
                "document.querySelectorAll('input[data-zoned]')[{field}].value = '{value}'; return true"
            ))
            .await;
        }
    };
    set("since", "2026-01-10T10:00").await;
    click(&b, ".search-main button").await;
    b.wait("the filtered results", PAGE_WAIT, || async {
        (result_ids(&b).await == [beta]).then_some(())
    })
    .await;
    let url = b.js_str("return location.search").await;
    assert!(url.contains("since=2026-01-10T10%3A00%3A00%2B05%3A30"), "{url}");
    assert!(!url.contains("until="), "an empty field sends nothing: {url}");
    assert_eq!(
        b.js_str("return document.querySelectorAll('input[data-zoned]')[0].value")
            .await,
        "2026-01-10T10:00",
        "the field shows the instant read, in the zone shown"
    );

    // In UTC the same instant reads 04:30, and searching again finds the same.
    click(&b, "[data-tz=utc]").await;
    b.wait_text(".search-more label > span", "From (UTC)").await;
    assert_eq!(
        b.js_str("return document.querySelectorAll('input[data-zoned]')[0].value")
            .await,
        "2026-01-10T04:30"
    );
    assert_eq!(msg_time(&b, beta).await, "2026-01-10 06:00 UTC");
    click(&b, ".search-main button").await;
    b.wait("the same results", PAGE_WAIT, || async {
        b.js_str("return location.search")
            .await
            .contains("since=2026-01-10T04%3A30%3A00Z")
            .then_some(())
    })
    .await;
    assert_eq!(result_ids(&b).await, [beta]);

    // Typed in UTC now: 03:59 UTC takes both; until 05:00 UTC only alpha.
    set("since", "2026-01-10T03:59").await;
    set("until", "2026-01-10T05:00").await;
    click(&b, ".search-main button").await;
    b.wait("alpha alone", PAGE_WAIT, || async {
        (result_ids(&b).await == [alpha]).then_some(())
    })
    .await;
    b.close().await;
}

/// The export as the browser downloads it: status, disposition and its NDJSON lines.
async fn fetch_export(b: &Browser, href: &str) -> (u16, String, Vec<Value>) {
    let v = b
        .js(&format!(
            "return fetch({}).then(r => r.text().then(t => [r.status, r.headers.get('content-disposition') || '', t]))",
            json!(href)
        ))
        .await;
    let lines = v[2]
        .as_str()
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect();
    (v[0].as_u64().unwrap() as u16, v[1].as_str().unwrap().to_owned(), lines)
}

/// "Download (NDJSON)" on the search page exports what was searched (the words and the
/// filters), on a channel's page that channel; both answer with the messages.
#[actix_rt::test]
async fn download_links_export_what_the_page_shows() {
    let app = TestApp::start().await;
    app.ingest(&[
        json!({"channel": "general", "user": "alice", "text": "deploy one", "sent_at": "2026-01-10T04:00:00Z"}),
        msg("general", "bob", "deploy two"),
        msg("general", "carol", "lunch?"),
        msg("random", "dave", "deploy elsewhere"),
    ])
    .await;
    let b = Browser::start().await;
    b.goto(&app.url("/search?q=deploy&channel=general&since=2026-01-10T05%3A00%3A00Z"))
        .await;
    assert_eq!(b.text("#results-h").await, "1 match");
    let href = attr(&b, "[data-download]", "href").await;
    assert_eq!(
        href,
        "/api/export?q=deploy&channel=general&since=2026-01-10T05%3A00%3A00.000Z"
    );
    assert_eq!(b.text("[data-download]").await, "Download (NDJSON)");
    let (status, disposition, lines) = fetch_export(&b, &href).await;
    assert_eq!(status, 200);
    assert!(disposition.starts_with("attachment"), "{disposition}");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["text"], "deploy two");
    assert_eq!(lines[0]["channel"], "general");

    open_live(&b, &app, "/channels/general").await;
    let href = attr(&b, "[data-download]", "href").await;
    assert_eq!(href, "/api/export?channel=general");
    let (status, _, lines) = fetch_export(&b, &href).await;
    assert_eq!(status, 200);
    let said: Vec<&str> = lines.iter().map(|l| l["text"].as_str().unwrap()).collect();
    assert_eq!(
        said,
        ["deploy one", "deploy two", "lunch?"],
        "oldest first, this channel only"
    );
    b.close().await;
}

/// The activity chart's bars as the page shows them: (bucket start in ms, messages).
async fn chart_bars(b: &Browser) -> Vec<(i64, i64)> {
    let v = b
        .js("return Array.from(document.querySelectorAll('[data-chart] rect.chart-bar')).map(r => [Date.parse(r.dataset.start), Number(r.dataset.n)])")
        .await;
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_i64().unwrap(), p[1].as_i64().unwrap()))
        .collect()
}

/// What each of `bars` should count: the times in `sent` that fall in it, counted here.
fn expected_bars(bars: &[(i64, i64)], width_ms: i64, sent: &[i64]) -> Vec<(i64, i64)> {
    bars.iter()
        .map(|(start, _)| {
            (
                *start,
                sent.iter().filter(|t| **t >= *start && **t < start + width_ms).count() as i64,
            )
        })
        .collect()
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Checks the page's chart against `sent`: as many bars as the window has buckets of
/// `width_ms`, each counting exactly the messages sent in it, the newest holding now.
async fn assert_chart(b: &Browser, what: &str, buckets: usize, width_ms: i64, sent: &[i64]) {
    let bars = chart_bars(b).await;
    assert!(
        bars.len() == buckets || bars.len() == buckets + 1,
        "{what}: {} bars, expected {buckets} (+1 when the window starts inside a bucket)",
        bars.len()
    );
    assert!(
        bars.windows(2).all(|w| w[1].0 - w[0].0 == width_ms),
        "{what}: bars are consecutive buckets of {width_ms} ms"
    );
    let now = chrono::Utc::now().timestamp_millis();
    let last = bars.last().unwrap().0;
    assert!(
        last <= now && now < last + width_ms + 5_000,
        "{what}: the last bar holds now"
    );
    assert_eq!(
        bars,
        expected_bars(&bars, width_ms, sent),
        "{what}: messages per bucket"
    );
    let total: i64 = bars.iter().map(|b| b.1).sum();
    assert_eq!(
        b.js_str("return document.querySelector('[data-chart]').dataset.total")
            .await,
        total.to_string(),
        "{what}: the chart's total"
    );
}

#[actix_rt::test]
async fn activity_charts_count_each_bucket_switch_windows_and_grow_live() {
    let app = TestApp::start().await;
    let now = chrono::Utc::now().timestamp_millis();
    const MIN: i64 = 60_000;
    const HOUR: i64 = 60 * MIN;
    const DAY: i64 = 24 * HOUR;
    // (channel, user, minutes ago)
    let plan: [(&str, &str, i64); 7] = [
        ("general", "alice", 2),
        ("general", "alice", 2),
        ("general", "bob", 17),
        ("random", "alice", 45),
        ("random", "alice", 3 * 60),
        ("general", "alice", 2 * 1440),
        ("general", "bob", 20 * 1440),
    ];
    let sent: Vec<(String, String, i64)> = plan
        .iter()
        .map(|(c, u, ago)| (c.to_string(), u.to_string(), now - ago * MIN - 1_000))
        .collect();
    let messages: Vec<Value> = sent
        .iter()
        .map(|(c, u, t)| json!({"channel": c, "user": u, "text": "chart", "sent_at": rfc3339(*t)}))
        .collect();
    app.ingest(&messages).await;
    let times = |f: &dyn Fn(&str, &str) -> bool| -> Vec<i64> {
        sent.iter().filter(|(c, u, _)| f(c, u)).map(|(_, _, t)| *t).collect()
    };
    let all = times(&|_, _| true);
    let b = Browser::in_zone("Asia/Kolkata").await;

    // Home: the last hour by default, per minute, saying so.
    b.goto(&app.url("/")).await;
    b.wait_state("live", PAGE_WAIT).await;
    assert_eq!(b.text("[data-chart-window]").await, "· the last hour, per minute");
    assert_eq!(
        b.text(".card-head .seg a[aria-current]").await,
        "1 h",
        "the selector marks the window shown"
    );
    assert_chart(&b, "home, 1 h", 61, MIN, &all).await;
    let caption = b.text("[data-chart-caption]").await;
    assert!(
        caption.starts_with("4 messages in all channels in the last hour; busiest minute: "),
        "caption: {caption}"
    );
    assert!(caption.ends_with(", 2."), "the busiest minute has 2: {caption}");
    // The time scale: round minutes in the reader's zone, which the axis names.
    let ticks = b
        .js("return Array.from(document.querySelectorAll('[data-chart] .chart-tick-x')).map(t => t.textContent)")
        .await;
    let ticks: Vec<String> = serde_json::from_value(ticks).unwrap();
    assert!(ticks.len() >= 3, "the time axis has labels: {ticks:?}");
    assert!(
        ticks
            .iter()
            .all(|t| t.len() == 5 && t.ends_with('0') && t.as_bytes()[2] == b':'),
        "ticks every ten minutes: {ticks:?}"
    );
    let kolkata_minute = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .unwrap()
            .with_timezone(&chrono::FixedOffset::east_opt(5 * 3600 + 1800).unwrap())
            .format("%H:%M")
            .to_string()
    };
    let bar_minutes: Vec<String> = chart_bars(&b).await.iter().map(|(s, _)| kolkata_minute(*s)).collect();
    assert!(
        ticks.iter().all(|t| bar_minutes.contains(t)),
        "ticks are bucket starts in the zone shown: {ticks:?}"
    );
    assert!(b.text("[data-chart] .chart-axis-title").await.contains("UTC+5:30"));

    // Another window: the page says it and counts per hour, then per day.
    b.mark_document().await;
    click(&b, ".card-head .seg a[href=\"/?window=24h\"]").await;
    b.wait_text("[data-chart-window]", "· the last 24 hours, per hour")
        .await;
    assert!(b.js("return new URL(location.href).search").await == json!("?window=24h"));
    assert_chart(&b, "home, 24 h", 25, HOUR, &all).await;
    assert!(b
        .text("[data-chart-caption]")
        .await
        .starts_with("5 messages in all channels in the last 24 hours"));
    b.goto(&app.url("/?window=30d")).await;
    assert_eq!(b.text("[data-chart-window]").await, "· the last 30 days, per day");
    assert_chart(&b, "home, 30 d", 31, DAY, &all).await;
    b.goto(&app.url("/?window=5m")).await;
    assert_chart(&b, "home, 5 min", 6, MIN, &all).await;

    // A channel (24 h by default) and a profile (here 7 d): only theirs.
    b.goto(&app.url("/channels/general")).await;
    assert_eq!(b.text("[data-chart-window]").await, "· the last 24 hours, per hour");
    assert_chart(&b, "#general, 24 h", 25, HOUR, &times(&|c, _| c == "general")).await;
    assert!(b
        .text("[data-chart-caption]")
        .await
        .starts_with("3 messages in #general in the last 24 hours"));
    b.goto(&app.url("/users/alice?window=7d")).await;
    assert_eq!(b.text("[data-chart-window]").await, "· the last 7 days, per hour");
    assert_chart(&b, "alice, 7 d", 169, HOUR, &times(&|_, u| u == "alice")).await;
    assert!(b
        .text("[data-chart-caption]")
        .await
        .starts_with("5 messages by alice in the last 7 days"));

    // Live: a new message of the channel adds to the bucket of its `sent_at`, another
    // channel's does not, and the page is not reloaded.
    open_live(&b, &app, "/channels/general?window=1h").await;
    let mut general = times(&|c, _| c == "general");
    assert_chart(&b, "#general, 1 h", 61, MIN, &general).await;
    let live_at = chrono::Utc::now().timestamp_millis();
    app.ingest(&[
        json!({"channel": "random", "user": "carol", "text": "elsewhere", "sent_at": rfc3339(live_at)}),
        json!({"channel": "general", "user": "carol", "text": "live", "sent_at": rfc3339(live_at)}),
    ])
    .await;
    general.push(live_at);
    let bucket = live_at - live_at.rem_euclid(MIN);
    b.wait("the live message in its minute's bar", PAGE_WAIT, || async {
        chart_bars(&b)
            .await
            .iter()
            .any(|(s, n)| *s == bucket && *n == 1)
            .then_some(())
    })
    .await;
    assert_chart(&b, "#general, 1 h, live", 61, MIN, &general).await;
    b.assert_not_reloaded("the live chart").await;

    // Home, live too: the right-edge bar grows.
    open_live(&b, &app, "/?window=5m").await;
    let mut everything = all.clone();
    everything.extend([live_at, live_at]); // the two of the channel step
    assert_chart(&b, "home, 5 min", 6, MIN, &everything).await;
    let t = chrono::Utc::now().timestamp_millis();
    app.ingest(&[json!({"channel": "random", "user": "dave", "text": "now", "sent_at": rfc3339(t)})])
        .await;
    everything.push(t);
    b.wait("the right-edge bar to count the new message", PAGE_WAIT, || async {
        let bars = chart_bars(&b).await;
        (bars == expected_bars(&bars, MIN, &everything)).then_some(())
    })
    .await;
    assert_eq!(
        chart_bars(&b).await.last().unwrap().0,
        t - t.rem_euclid(MIN),
        "the newest bar holds now"
    );
    b.assert_not_reloaded("the live home chart").await;

    // A window the pages do not offer: a clear 400.
    b.goto(&app.url("/?window=2w")).await;
    assert_eq!(b.text("h1").await, "That request cannot be answered");
    assert!(b
        .text("main")
        .await
        .contains("window must be one of 5m, 1h, 24h, 7d or 30d"));
    b.close().await;
}

// ---------------------------------------------------------------------------
// From–to windows and the weekday × hour heatmap (issue 16, items 1 and 3).
// ---------------------------------------------------------------------------

/// "from 10 Jan 14:30 to 10 Jan 17:30": how the pages say a window's ends in a zone, with
/// the years when either end is not in this year (there).
fn range_words(from: &str, until: &str, zone: chrono::FixedOffset) -> String {
    use chrono::Datelike;
    let at = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&zone);
    let (a, b) = (at(from), at(until));
    let year = chrono::Utc::now().with_timezone(&zone).year();
    let fmt = if a.year() != year || b.year() != year {
        "%-d %b %Y %H:%M"
    } else {
        "%-d %b %H:%M"
    };
    format!("from {} to {}", a.format(fmt), b.format(fmt))
}

const UTC: chrono::FixedOffset = match chrono::FixedOffset::east_opt(0) {
    Some(z) => z,
    None => unreachable!(),
};

/// The `.value` of the from–to form's field `i` (0: From, 1: Until), as the page shows it.
async fn window_field(b: &Browser, i: usize) -> String {
    b.js_str(&format!(
        "return document.querySelectorAll('.window-form input[data-zoned]')[{i}].value"
    ))
    .await
}

async fn set_window_field(b: &Browser, i: usize, value: &str) {
    b.js(&format!(
        "document.querySelectorAll('.window-form input[data-zoned]')[{i}].value = {}; return true",
        json!(value)
    ))
    .await;
}

/// "Show me #general from 14:30 to 17:30 on 10 January": the chart counts exactly the
/// messages sent in the window (not the rest of its first hour, not the minute it ends at,
/// not another channel), says which window it shows in the zone shown, is read from a form
/// typed in that zone, and — the window being over — does not count a message that arrives
/// live, even one stamped inside it.
#[actix_rt::test]
async fn a_from_to_window_shows_exactly_its_messages_and_says_which() {
    let app = TestApp::start().await;
    let at = |c: &str, t: &str| json!({"channel": c, "user": "alice", "text": format!("at {t}"), "sent_at": t});
    app.ingest(&[
        at("general", "2026-01-10T08:10:00Z"), // the second window's first hour, before it
        at("general", "2026-01-10T08:59:30Z"), // before the first window; in the second
        at("general", "2026-01-10T09:00:00Z"), // in both: the first's start
        at("general", "2026-01-10T10:30:15Z"),
        at("general", "2026-01-10T11:59:59Z"),
        at("general", "2026-01-10T12:00:00Z"), // the first's end: not in it
        at("general", "2026-01-12T08:59:00Z"), // the second's last minute
        at("general", "2026-01-12T09:00:00Z"), // the second's end: not in it
        at("random", "2026-01-10T10:00:00Z"),  // another channel
    ])
    .await;
    let ms = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis();
    const MIN: i64 = 60_000;
    const HOUR: i64 = 60 * MIN;

    let b = Browser::in_zone("Asia/Kolkata").await;
    open_live(
        &b,
        &app,
        "/channels/general?since=2026-01-10T09%3A00%3A00Z&until=2026-01-10T12%3A00%3A00Z",
    )
    .await;
    let first: Vec<i64> = ["2026-01-10T09:00:00Z", "2026-01-10T10:30:15Z", "2026-01-10T11:59:59Z"]
        .iter()
        .map(|t| ms(t))
        .collect();
    let bars = chart_bars(&b).await;
    assert_eq!(bars.len(), 180, "3 hours of minutes");
    assert_eq!(bars[0].0, ms("2026-01-10T09:00:00Z"));
    assert_eq!(bars, expected_bars(&bars, MIN, &first), "messages per minute");
    assert_eq!(
        b.js_str("return document.querySelector('[data-chart]').dataset.total")
            .await,
        "3"
    );
    let words = range_words("2026-01-10T09:00:00Z", "2026-01-10T12:00:00Z", KOLKATA);
    assert_eq!(
        b.text("[data-chart-window]").await,
        format!("· {words} (UTC+5:30), per minute"),
        "the page says its window in the zone shown"
    );
    assert!(
        b.text("[data-chart-caption]")
            .await
            .starts_with(&format!("3 messages in #general {words} (UTC+5:30); busiest minute: ")),
        "{}",
        b.text("[data-chart-caption]").await
    );
    assert!(
        texts(&b, ".card-head .seg a[aria-current]").await.is_empty(),
        "no window back from now is current"
    );
    assert_eq!(attr(&b, ".window-custom > summary", "class").await, "is-current");
    // Rendered without the script, the page says it in UTC.
    let r = app
        .get("/channels/general?since=2026-01-10T09%3A00%3A00Z&until=2026-01-10T12%3A00%3A00Z")
        .await;
    assert_eq!(r.status, 200);
    let utc_words = range_words("2026-01-10T09:00:00Z", "2026-01-10T12:00:00Z", UTC);
    assert!(
        r.text.contains(&format!("· {utc_words} (UTC), per minute")),
        "{}",
        r.text
    );

    // Over: a message stamped inside it arrives live and is listed, not counted.
    let late = app.ingest_ids(&[at("general", "2026-01-10T10:00:00Z")]).await[0];
    b.wait_top(late).await;
    actix_rt::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(chart_bars(&b).await, bars, "a window that is over does not move");

    // UTC: the same window in UTC's words.
    click(&b, "[data-tz=utc]").await;
    b.wait_text("[data-chart-window]", &format!("· {utc_words} (UTC), per minute"))
        .await;
    b.assert_not_reloaded("switching zones").await;

    // The form, typed in the zone shown (Kolkata): 14:00 on 10 January to 14:30 on the 12th
    // is 08:30 to 09:00 UTC, 48.5 hours: per hour.
    click(&b, "[data-tz=local]").await;
    click(&b, ".window-custom > summary").await;
    assert_eq!(window_field(&b, 0).await, "2026-01-10T14:30", "From in the zone shown");
    assert_eq!(window_field(&b, 1).await, "2026-01-10T17:30");
    assert_eq!(
        texts(&b, ".window-form label > span").await,
        ["From (UTC+5:30)", "Until (UTC+5:30)"]
    );
    set_window_field(&b, 0, "2026-01-10T14:00").await;
    set_window_field(&b, 1, "2026-01-12T14:30").await;
    click(&b, ".window-form button[type=submit]").await;
    let words = range_words("2026-01-10T08:30:00Z", "2026-01-12T09:00:00Z", KOLKATA);
    b.wait_text("[data-chart-window]", &format!("· {words} (UTC+5:30), per hour"))
        .await;
    let url = b.js_str("return location.search").await;
    assert!(
        url.contains("since=2026-01-10T14%3A00%3A00%2B05%3A30")
            && url.contains("until=2026-01-12T14%3A30%3A00%2B05%3A30"),
        "{url}"
    );
    let second: Vec<i64> = [
        "2026-01-10T08:59:30Z",
        "2026-01-10T09:00:00Z",
        "2026-01-10T10:30:15Z",
        "2026-01-10T11:59:59Z",
        "2026-01-10T12:00:00Z",
        "2026-01-12T08:59:00Z",
        "2026-01-10T10:00:00Z", // the late one: it is stored
    ]
    .iter()
    .map(|t| ms(t))
    .collect();
    let bars = chart_bars(&b).await;
    assert_eq!(bars.len(), 49, "08:00 on the 10th to 08:00 on the 12th, hours");
    assert_eq!(
        bars[0],
        (ms("2026-01-10T08:00:00Z"), 1),
        "the first hour counts from 08:30 only"
    );
    assert_eq!(bars[1..], expected_bars(&bars, HOUR, &second)[1..], "messages per hour");
    assert_eq!(
        b.js_str("return document.querySelector('[data-chart]').dataset.total")
            .await,
        "7"
    );
    b.close().await;
}

/// A from–to that makes no window is said on the page, beside its form, with a 400 — never
/// a 500 — and the rest of the page is there; typed into the form the same.
#[actix_rt::test]
async fn a_bad_from_to_says_why_on_the_page() {
    let app = TestApp::start().await;
    app.ingest(&[msg("general", "alice", "hello")]).await;
    for (path, says) in [
        (
            "/channels/general?since=2026-01-10T12%3A00%3A00Z&until=2026-01-10T09%3A00%3A00Z",
            "“Until” must be later than “From”.",
        ),
        (
            "/channels/general?since=2026-01-10T09%3A00%3A00Z&until=2026-01-10T09%3A00%3A00Z",
            "“Until” must be later than “From”.",
        ),
        ("/channels/general?since=yesterday", "“From” must be a date and time"),
        (
            "/users/alice?since=2026-01-10T09%3A00&until=soon",
            "“Until” must be a date and time",
        ),
        ("/?until=2026-01-10T09%3A00%3A00Z", "needs “From”"),
        (
            "/users/alice?since=1900-01-01T00%3A00%3A00Z&until=2026-01-01T00%3A00%3A00Z",
            "That window holds 46,021 days, and a chart shows at most 10,000",
        ),
        ("/?since=2999-01-01T00%3A00%3A00Z", "“From” is later than now"),
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status, 400, "GET {path}: {r}");
        assert!(r.text.contains(says), "GET {path} should say `{says}`: {}", r.text);
        assert!(r.text.contains("id=\"window-error\" role=\"alert\""), "GET {path}");
        assert!(
            !r.text.contains("data-chart "),
            "GET {path}: no chart for a window that is not one"
        );
        assert!(
            r.text.contains("data-list=\"messages\""),
            "GET {path}: the rest of the page is there"
        );
    }

    let b = Browser::in_zone("Asia/Kolkata").await;
    open_live(&b, &app, "/channels/general").await;
    click(&b, ".window-custom > summary").await;
    set_window_field(&b, 0, "2026-01-10T14:00").await;
    set_window_field(&b, 1, "2026-01-10T13:00").await;
    click(&b, ".window-form button[type=submit]").await;
    b.wait("the error", PAGE_WAIT, || async {
        b.text("#window-error").await.contains("must be later").then_some(())
    })
    .await;
    assert_eq!(
        b.text("#window-error").await,
        "Bad request. “Until” must be later than “From”."
    );
    assert_eq!(attr(&b, ".window-form input[data-zoned]", "aria-invalid").await, "true");
    // What was asked stays in the form, in the zone shown.
    click(&b, ".window-custom > summary").await;
    assert_eq!(window_field(&b, 0).await, "2026-01-10T14:00");
    assert_eq!(window_field(&b, 1).await, "2026-01-10T13:00");
    // The page is still a live page: its list takes a new message.
    b.wait_state("live", PAGE_WAIT).await;
    let id = app.ingest_ids(&[msg("general", "bob", "still live")]).await[0];
    b.wait_top(id).await;
    b.close().await;
}

/// A heatmap cell: its messages and its title.
async fn heat_cell(b: &Browser, day: u32, hour: u32) -> (i64, String) {
    let v = b
        .js(&format!(
            "const r = document.querySelector('[data-heatmap] rect[data-day=\"{day}\"][data-hour=\"{hour}\"]'); \
             return r ? [Number(r.dataset.n), r.querySelector('title').textContent] : [-1, '']"
        ))
        .await;
    (v[0].as_i64().unwrap(), v[1].as_str().unwrap().to_owned())
}

async fn heat_total(b: &Browser) -> String {
    b.js_str("return document.querySelector('[data-heatmap]').dataset.total")
        .await
}

/// "When is #general busy?": the weekday × hour heatmap counts the messages of the last 30
/// days (the chart's window being shorter than a week) in the cell of their weekday and hour
/// in the zone shown — UTC on the switch, else the reader's, where a zone half an hour off
/// counts each hour in the hour holding its middle — says what it covers, adds a live
/// message to its cell, and fits a phone.
#[actix_rt::test]
async fn the_heatmap_counts_messages_by_weekday_and_hour_in_the_zone_shown() {
    use chrono::{Datelike, Timelike};
    let app = TestApp::start().await;
    let now = chrono::Utc::now();
    // Three days ago, 14:00-15:00 UTC, and the day before it.
    let d = (now - chrono::Duration::days(3)).date_naive();
    let t = |days_before: i64, h: u32, m: u32| {
        (d - chrono::Duration::days(days_before))
            .and_hms_opt(h, m, 0)
            .unwrap()
            .and_utc()
    };
    let sent = |c: &str, u: &str, at: chrono::DateTime<chrono::Utc>| json!({"channel": c, "user": u, "text": "heat", "sent_at": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)});
    app.ingest(&[
        sent("general", "alice", t(0, 14, 10)),
        sent("general", "bob", t(0, 14, 40)),
        sent("general", "alice", t(0, 15, 5)),
        sent("general", "alice", t(1, 14, 20)),
        sent("general", "alice", t(37, 14, 10)), // 40 days ago: outside
        sent("random", "alice", t(0, 14, 15)),   // another channel
    ])
    .await;
    let day = |at: chrono::DateTime<chrono::FixedOffset>| at.weekday().num_days_from_monday();
    let utc_day = day(t(0, 14, 10).fixed_offset());

    let b = Browser::in_zone("Asia/Kolkata").await;
    open_live(&b, &app, "/channels/general").await;
    click(&b, "[data-tz=utc]").await;
    b.wait_text("[data-heat-window]", "· the last 30 days (UTC)").await;
    assert_eq!(
        b.text("[data-heat-note]").await,
        "Over 30 days: the chart’s window, the last 24 hours, is shorter than a week."
    );
    let names = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let (n, title) = heat_cell(&b, utc_day, 14).await;
    assert_eq!(n, 2, "two messages of #general in that weekday's 14:00 UTC");
    assert_eq!(title, format!("{} 14:00–15:00: 2 messages", names[utc_day as usize]));
    assert_eq!(heat_cell(&b, utc_day, 15).await.0, 1);
    assert_eq!(heat_cell(&b, (utc_day + 6) % 7, 14).await.0, 1, "the day before");
    assert_eq!(heat_cell(&b, utc_day, 13).await.0, 0);
    assert_eq!(
        heat_total(&b).await,
        "4",
        "40 days ago and another channel are not counted"
    );
    assert_eq!(
        texts(&b, "[data-heatmap] .heat-day").await,
        names,
        "rows Monday to Sunday"
    );
    let hours: Vec<String> = texts(&b, "[data-heatmap] .chart-tick-x").await;
    assert_eq!(hours.len(), 24, "every hour labelled on a desktop: {hours:?}");
    assert_eq!((hours[0].as_str(), hours[23].as_str()), ("0", "23"));
    assert!(b.text("[data-heat-legend]").await.starts_with("Messages per cell: 0"));
    assert!(
        b.text("[data-heat-caption]")
            .await
            .starts_with("4 messages in #general in the last 30 days (UTC); busiest hour of the week: "),
        "{}",
        b.text("[data-heat-caption]").await
    );

    // In Kolkata (UTC+5:30) the hour 14:00-15:00 UTC is 19:30-20:30: counted at 20:00.
    click(&b, "[data-tz=local]").await;
    b.wait_text("[data-heat-window]", "· the last 30 days (UTC+5:30)").await;
    let ist = day(t(0, 14, 30).with_timezone(&KOLKATA));
    assert_eq!(heat_cell(&b, ist, 20).await.0, 2);
    assert_eq!(heat_cell(&b, ist, 19).await.0, 0);
    assert_eq!(heat_cell(&b, ist, 21).await.0, 1, "15:00-16:00 UTC");
    assert!(b
        .text("[data-heat-zone-note]")
        .await
        .starts_with("UTC+5:30 is not a whole number of hours"));

    // Live: a message now adds to the cell of now.
    click(&b, "[data-tz=utc]").await;
    b.wait_text("[data-heat-window]", "· the last 30 days (UTC)").await;
    let at = chrono::Utc::now();
    let before = heat_cell(&b, day(at.fixed_offset()), at.hour()).await.0;
    app.ingest(&[sent("general", "carol", at)]).await;
    b.wait("the live message in its cell", PAGE_WAIT, || async {
        (heat_cell(&b, day(at.fixed_offset()), at.hour()).await.0 == before + 1).then_some(())
    })
    .await;
    assert_eq!(heat_total(&b).await, "5");
    b.assert_not_reloaded("the live heatmap").await;

    // A profile over its 7-day window: alice's messages in every channel.
    b.goto(&app.url("/users/alice?window=7d")).await;
    b.wait_text("[data-heat-window]", "· the last 7 days (UTC)").await;
    assert_eq!(heat_cell(&b, utc_day, 14).await.0, 2, "#general and #random");
    assert_eq!(heat_total(&b).await, "4");
    assert!(
        b.text("[data-heat-note]").await.is_empty(),
        "the heatmap covers the chart's window"
    );

    // A from–to of a week or more is the heatmap's window too.
    let from = t(1, 0, 0).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let until = (t(1, 0, 0) + chrono::Duration::days(8)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    b.goto(&app.url(&format!(
        "/channels/general?since={}&until={}",
        from.replace(':', "%3A"),
        until.replace(':', "%3A")
    )))
    .await;
    let words = range_words(&from, &until, UTC);
    b.wait_text("[data-heat-window]", &format!("· {words} (UTC)")).await;
    assert_eq!(
        heat_total(&b).await,
        "5",
        "the day before, that day (four), and the live one"
    );
    b.close().await;

    // A phone 375 px wide: the heatmap fits, every row and its labels in view.
    let p = Browser::phone_in_zone(375, 800, "UTC").await;
    open_live(&p, &app, "/channels/general").await;
    let fit = p
        .js("const s = document.querySelector('[data-heatmap] svg').getBoundingClientRect(); \
             const t = Array.from(document.querySelectorAll('[data-heatmap] text')).map(e => e.getBoundingClientRect()); \
             return [document.documentElement.scrollWidth, s.left, s.right, Math.min(...t.map(r => r.left)), Math.max(...t.map(r => r.right))]")
        .await;
    let fit: Vec<f64> = serde_json::from_value(fit).unwrap();
    assert!(fit[0] <= 375.0, "the page does not scroll sideways: {fit:?}");
    assert!(fit[1] >= 0.0 && fit[2] <= 375.0, "the heatmap is in view: {fit:?}");
    assert!(fit[3] >= 0.0 && fit[4] <= 375.0, "its labels are in view: {fit:?}");
    let hours: Vec<String> = texts(&p, "[data-heatmap] .chart-tick-x").await;
    assert!(
        hours.len() >= 8 && hours.first().map(String::as_str) == Some("0"),
        "hours labelled at a step: {hours:?}"
    );
    assert_eq!(heat_cell(&p, utc_day, 14).await.0, 2);
    p.close().await;
}

async fn chart_total(b: &Browser) -> String {
    b.js_str("return document.querySelector('[data-chart]').dataset.total")
        .await
}

/// "Since the deploy two hours ago": a from–to without an end goes up to now and takes
/// live messages at its right edge, as does one whose end is still ahead; neither counts
/// what was sent before its start.
#[actix_rt::test]
async fn a_from_to_up_to_now_or_ahead_is_live_at_its_right_edge() {
    let app = TestApp::start().await;
    let now = chrono::Utc::now();
    let minute = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:00Z").to_string();
    let since = minute(now - chrono::Duration::hours(2));
    let ahead = minute(now + chrono::Duration::hours(1));
    let sent = |t: chrono::DateTime<chrono::Utc>| json!({"channel": "general", "user": "alice", "text": "deploy", "sent_at": t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)});
    app.ingest(&[
        sent(now - chrono::Duration::hours(3)), // before the window
        sent(now - chrono::Duration::minutes(90)),
    ])
    .await;
    let b = Browser::in_zone("Asia/Kolkata").await;
    for (query, ends) in [
        (
            format!("since={}", since.replace(':', "%3A")),
            "to now (UTC+5:30), per minute",
        ),
        (
            format!(
                "since={}&until={}",
                since.replace(':', "%3A"),
                ahead.replace(':', "%3A")
            ),
            "(UTC+5:30), per minute",
        ),
    ] {
        open_live(&b, &app, &format!("/channels/general?{query}")).await;
        let heading = b.text("[data-chart-window]").await;
        assert!(heading.starts_with("· from ") && heading.ends_with(ends), "{heading}");
        let before = chart_total(&b).await.parse::<i64>().unwrap();
        app.ingest(&[sent(chrono::Utc::now())]).await;
        b.wait("the live message counted", PAGE_WAIT, || async {
            (chart_total(&b).await.parse::<i64>().unwrap() == before + 1).then_some(())
        })
        .await;
        b.assert_not_reloaded("a live from–to").await;
    }
    // The first pass: one of the two seeded; the second: it, the first live one, the second.
    assert_eq!(chart_total(&b).await, "3");
    b.close().await;
}

// ---------------------------------------------------------------------------
// Top lists (issue 16): home's top channels and users, a channel's top users, a profile's
// top channels, each the page's window, kept by a live view of its own (`top/<window>…`).
// ---------------------------------------------------------------------------

/// What `TOP_N` is on the server: entries a top list holds at most.
const TOP_N: usize = 10;

/// One entry of a top list as the page shows it.
#[derive(Debug, PartialEq)]
struct TopShown {
    name: String,
    messages: String,
    rate: String,
    /// Its rank cell, its link and its label agree with its place and name.
    sound: bool,
}

/// A page's top list (`channels` or `users`), top to bottom.
async fn top_rows(b: &Browser, kind: &str) -> Vec<TopShown> {
    let script = format!(
        r#"const base = {{channels: '/channels/', users: '/users/'}}[{kind:?}];
           const prefix = {kind:?} === 'channels' ? '#' : '';
           return Array.from(document.querySelectorAll('tbody[data-top={kind:?}] > tr')).map((tr, i) => {{
             const a = tr.querySelector('.row-name');
             const sound = tr.querySelector('[data-cell="rank"]').textContent === String(i + 1)
               && a.getAttribute('href') === base + encodeURIComponent(tr.dataset.key)
               && a.textContent === prefix + tr.dataset.key
               && tr.querySelector('[data-bar]') !== null;
             return [tr.dataset.key, tr.querySelector('[data-cell="total"]').textContent,
                     tr.querySelector('[data-cell="rate"]').textContent, sound];
           }})"#
    );
    b.js(&script)
        .await
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|r| TopShown {
            name: r[0].as_str().unwrap_or_default().to_owned(),
            messages: r[1].as_str().unwrap_or_default().to_owned(),
            rate: r[2].as_str().unwrap_or_default().to_owned(),
            sound: r[3].as_bool().unwrap_or(false),
        })
        .collect()
}

/// Names and messages of a top list, top to bottom.
async fn top_names(b: &Browser, kind: &str) -> Vec<(String, String)> {
    top_rows(b, kind)
        .await
        .into_iter()
        .map(|r| (r.name, r.messages))
        .collect()
}

/// Waits until a top list shows exactly `expected` (name, messages), top to bottom, every
/// entry with its rank, link and bar.
async fn wait_top_list(b: &Browser, kind: &str, expected: &[(&str, i64)]) {
    let want: Vec<(String, String)> = expected.iter().map(|(n, m)| (n.to_string(), m.to_string())).collect();
    let what = format!("top {kind} to read {want:?}");
    b.wait(&what, PAGE_WAIT, || async {
        let rows = top_rows(b, kind).await;
        let got: Vec<(String, String)> = rows.iter().map(|r| (r.name.clone(), r.messages.clone())).collect();
        (got == want && rows.iter().all(|r| r.sound)).then_some(())
    })
    .await
}

/// The state of the page's top view (`data-state` of its `[data-top-view]`).
async fn top_state(b: &Browser) -> String {
    b.js_str("const t = document.querySelector('[data-top-view]'); return t ? (t.dataset.state || '') : ''")
        .await
}

async fn wait_top_state(b: &Browser, state: &str) {
    let what = format!("the top view `{state}`");
    b.wait(&what, PAGE_WAIT, || async {
        (top_state(b).await == state).then_some(())
    })
    .await
}

/// Whether the empty line of a top list shows, and what it says.
async fn top_empty(b: &Browser, kind: &str) -> (bool, String) {
    let v = b
        .js(&format!(
            "const e = document.querySelector('[data-top-list={kind:?}] [data-top-empty]'); \
             return e ? [!e.hidden, e.textContent.trim()] : [false, '']"
        ))
        .await;
    (
        v[0].as_bool().unwrap_or(false),
        v[1].as_str().unwrap_or_default().to_owned(),
    )
}

#[actix_rt::test]
async fn home_shows_top_channels_and_users_and_follows_them_live() {
    let app = TestApp::start().await;
    let b = Browser::start().await;

    // Nothing yet: each list says so.
    open_live(&b, &app, "/").await;
    wait_top_state(&b, "live").await;
    assert_eq!(
        b.js_str("return document.querySelector('[data-top-view]').dataset.topView")
            .await,
        "top/1h",
        "the top lists follow the page's window (home: 1 h)"
    );
    for kind in ["channels", "users"] {
        assert_eq!(
            top_empty(&b, kind).await,
            (true, "No messages in the last hour.".to_owned()),
            "the empty {kind} list"
        );
        assert!(top_rows(&b, kind).await.is_empty());
    }

    // The first messages fill both lists in, without a reload.
    app.ingest(&[
        msg("general", "alice", "one"),
        msg("general", "alice", "two"),
        msg("general", "bob", "three"),
        msg("random", "carol", "four"),
    ])
    .await;
    wait_top_list(&b, "channels", &[("general", 3), ("random", 1)]).await;
    wait_top_list(&b, "users", &[("alice", 2), ("bob", 1), ("carol", 1)]).await;
    assert!(!top_empty(&b, "channels").await.0, "the empty line goes");
    // Rates over the last hour, per minute: 3/60 and 1/60.
    let rates: Vec<String> = top_rows(&b, "channels").await.into_iter().map(|r| r.rate).collect();
    assert_eq!(rates, ["0.05", "0.017"]);
    assert_eq!(
        b.text("[data-top-list=channels] thead th:last-child").await,
        "Per minute"
    );

    // A channel overtakes another: the ranks follow.
    app.ingest(&numbered("random", "dave", "more", 3)).await;
    wait_top_list(&b, "channels", &[("random", 4), ("general", 3)]).await;
    wait_top_list(&b, "users", &[("dave", 3), ("alice", 2), ("bob", 1), ("carol", 1)]).await;

    // Twelve more channels: the list keeps the ten busiest (ties by name).
    let more: Vec<Value> = (1..=12).map(|i| msg(&format!("c{i:02}"), "erin", "hi")).collect();
    app.ingest(&more).await;
    let quiet: Vec<String> = (1..=8).map(|i| format!("c{i:02}")).collect();
    let channels = |general: i64| {
        let mut want = if general > 4 {
            vec![("general", general), ("random", 4)]
        } else {
            vec![("random", 4), ("general", general)]
        };
        want.extend(quiet.iter().map(|c| (c.as_str(), 1)));
        want
    };
    wait_top_list(&b, "channels", &channels(3)).await;
    wait_top_list(
        &b,
        "users",
        &[("erin", 12), ("dave", 3), ("alice", 2), ("bob", 1), ("carol", 1)],
    )
    .await;
    assert_eq!(top_rows(&b, "channels").await.len(), TOP_N);
    b.assert_not_reloaded("home's top lists").await;

    // The server renders the same lists (the page without its script, and its first paint).
    let html = app.get("/").await.text;
    for row in [
        r#"<tr data-key="random" data-n="4"><td class="top-rank" data-cell="rank">1</td>"#,
        r#"<tr data-key="erin" data-n="12"><td class="top-rank" data-cell="rank">1</td>"#,
        r#"<tr data-key="c08" data-n="1"><td class="top-rank" data-cell="rank">10</td>"#,
    ] {
        assert!(html.contains(row), "the rendered page holds {row}");
    }
    assert!(!html.contains(r#"data-key="c09""#), "an eleventh channel was rendered");

    // Over SSE and polling too: the top view's link takes the page's transport.
    let mut general = 3;
    for (transport, state) in [("sse", "live"), ("poll", "polling")] {
        b.goto(&app.url(&format!("/?transport={transport}"))).await;
        wait_top_state(&b, state).await;
        b.mark_document().await;
        assert_eq!(
            b.js_str("return document.querySelector('[data-top-view]').dataset.transport")
                .await,
            transport
        );
        app.ingest(&numbered("general", "frank", transport, 2)).await;
        general += 2;
        wait_top_list(&b, "channels", &channels(general)).await;
        b.assert_not_reloaded(&format!("home's top lists over {transport}"))
            .await;
    }
    b.close().await;
}

#[actix_rt::test]
async fn a_channel_page_shows_its_top_users_live() {
    let app = TestApp::start().await;
    app.ingest(&[
        msg("general", "alice", "one"),
        msg("general", "alice", "two"),
        msg("general", "bob", "three"),
        msg("random", "carol", "elsewhere"),
        msg("random", "carol", "elsewhere too"),
        msg("random", "carol", "and again"),
    ])
    .await;
    let b = Browser::start().await;
    for transport in ["ws", "sse"] {
        let path = match transport {
            "ws" => "/channels/general".to_owned(),
            t => format!("/channels/general?transport={t}"),
        };
        open_live(&b, &app, &path).await;
        wait_top_state(&b, "live").await;
        assert_eq!(
            b.js_str("return document.querySelector('[data-top-view]').dataset.topView")
                .await,
            "top/24h/channel/general"
        );
        assert_eq!(
            b.js("return document.querySelectorAll('tbody[data-top]').length").await,
            json!(1),
            "a channel page has one top list, its users"
        );
        let before = top_names(&b, "users").await;
        assert!(
            before.iter().all(|(n, _)| n != "carol"),
            "another channel's user is listed: {before:?}"
        );
        // Bob overtakes Alice in #general; Carol writes elsewhere.
        app.ingest(&[
            msg("general", "bob", &format!("{transport} a")),
            msg("general", "bob", &format!("{transport} b")),
            msg("random", "carol", "still elsewhere"),
        ])
        .await;
        if transport == "ws" {
            wait_top_list(&b, "users", &[("bob", 3), ("alice", 2)]).await;
            // Per hour over 24 hours: 3/24 and 2/24.
            let rates: Vec<String> = top_rows(&b, "users").await.into_iter().map(|r| r.rate).collect();
            assert_eq!(rates, ["0.13", "0.083"]);
            assert_eq!(b.text("[data-top-list=users] thead th:last-child").await, "Per hour");
        } else {
            wait_top_list(&b, "users", &[("bob", 5), ("alice", 2)]).await;
        }
        b.assert_not_reloaded(&format!("a channel's top users over {transport}"))
            .await;
    }

    // A channel with nobody in the window says so.
    let old = chrono::Utc::now() - chrono::Duration::days(3);
    let mut quiet = msg("quiet", "zoe", "long ago");
    quiet["sent_at"] = json!(old.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    app.ingest(&[quiet]).await;
    open_live(&b, &app, "/channels/quiet").await;
    wait_top_state(&b, "live").await;
    assert_eq!(
        top_empty(&b, "users").await,
        (true, "No messages in #quiet in the last 24 hours.".to_owned())
    );
    app.ingest(&[msg("quiet", "zoe", "back")]).await;
    wait_top_list(&b, "users", &[("zoe", 1)]).await;
    assert!(!top_empty(&b, "users").await.0);
    b.close().await;
}

#[actix_rt::test]
async fn a_profile_shows_its_top_channels_live_for_its_window() {
    let app = TestApp::start().await;
    app.ingest(&[
        msg("general", "alice", "one"),
        msg("random", "alice", "two"),
        msg("random", "alice", "three"),
        msg("general", "bob", "not alice"),
        msg("ops", "bob", "not alice either"),
    ])
    .await;
    let b = Browser::start().await;
    open_live(&b, &app, "/users/alice").await;
    wait_top_state(&b, "live").await;
    assert_eq!(
        b.js_str("return document.querySelector('[data-top-view]').dataset.topView")
            .await,
        "top/24h/user/alice"
    );
    wait_top_list(&b, "channels", &[("random", 2), ("general", 1)]).await;
    assert_eq!(
        b.js("return document.querySelectorAll('tbody[data-top]').length").await,
        json!(1),
        "a profile has one top list, its channels"
    );
    app.ingest(&[
        msg("general", "alice", "four"),
        msg("general", "alice", "five"),
        msg("ops", "alice", "six"),
        msg("ops", "bob", "bob's"),
    ])
    .await;
    wait_top_list(&b, "channels", &[("general", 3), ("random", 2), ("ops", 1)]).await;
    b.assert_not_reloaded("a profile's top channels").await;

    // Another window: its own view, its words, its rate unit; polled when asked.
    b.goto(&app.url("/users/alice?window=7d&transport=poll")).await;
    wait_top_state(&b, "polling").await;
    b.mark_document().await;
    assert_eq!(
        b.js_str("return document.querySelector('[data-top-view]').dataset.topView")
            .await,
        "top/7d/user/alice"
    );
    assert!(
        b.text("#top-channels-h").await.contains("the last 7 days"),
        "the heading names the window: {}",
        b.text("#top-channels-h").await
    );
    assert_eq!(b.text("[data-top-list=channels] thead th:last-child").await, "Per day");
    app.ingest(&numbered("ops", "alice", "polled", 3)).await;
    wait_top_list(&b, "channels", &[("ops", 4), ("general", 3), ("random", 2)]).await;
    // Per day over 7 days: 4/7, 3/7, 2/7.
    let rates: Vec<String> = top_rows(&b, "channels").await.into_iter().map(|r| r.rate).collect();
    assert_eq!(rates, ["0.57", "0.43", "0.29"]);
    b.assert_not_reloaded("a profile's top channels, polled").await;

    // A from–to: top lists are kept for the windows back from now only; the card says so.
    let since = (chrono::Utc::now() - chrono::Duration::hours(2)).format("%Y-%m-%dT%H:%M:00Z");
    b.goto(&app.url(&format!("/users/alice?since={since}"))).await;
    b.wait_state("live", PAGE_WAIT).await;
    assert_eq!(
        b.js("return document.querySelector('[data-top-view]') === null").await,
        json!(true)
    );
    let note = b.text("[data-top-list=channels] [data-top-unkept]").await;
    assert!(
        note.starts_with("Top lists are kept for the windows back from now"),
        "the from–to page says why it has no top list: {note:?}"
    );
    assert_eq!(
        b.js("return Array.from(document.querySelectorAll('[data-top-unkept] a')).map(a => a.getAttribute('href'))")
            .await,
        json!([
            "/users/alice?window=5m",
            "/users/alice?window=1h",
            "/users/alice?window=24h",
            "/users/alice?window=7d",
            "/users/alice?window=30d"
        ])
    );
    b.close().await;
}
