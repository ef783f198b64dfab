//! People (PROTOCOL.md section 8, issue 13): private streams and DMs that leak nothing to
//! anyone else through any route, page or live view; membership rules; read state, unread
//! and mention badges exact and live on every device; notifications; typing.

use std::time::Duration;

use serde_json::{json, Value};

use crate::common::*;

const SECRET: &str = "people-test-secret-01234";

struct People {
    app: TestApp,
    alice: String,
    bob: String,
    eve: String,
}

async fn people() -> People {
    let app = TestApp::builder().token_secret(SECRET).start().await;
    People {
        app,
        alice: user_token(SECRET, "alice", false),
        bob: user_token(SECRET, "bob", false),
        eve: user_token(SECRET, "eve", false),
    }
}

impl People {
    async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Value) -> Resp {
        let body = (!body.is_null()).then_some(body);
        self.app.request(method, path, token, body.as_ref()).await
    }

    async fn ok(&self, method: &str, path: &str, token: &str, body: Value, status: u16) -> Value {
        let r = self.call(method, path, Some(token), body).await;
        assert_eq!(r.status, status, "{method} {path}: {r}");
        r.json
    }

    async fn create(&self, token: &str, body: Value) -> i64 {
        self.ok("POST", "/api/streams", token, body, 201).await["id"]
            .as_i64()
            .unwrap()
    }

    async fn post(&self, stream: i64, token: &str, text: &str) -> i64 {
        let path = format!("/api/streams/{stream}/events");
        self.ok("POST", &path, token, json!({"text": text}), 201).await["event_id"]
            .as_i64()
            .unwrap()
    }

    /// A live view as the holder of `token` (`None`: anonymous).
    async fn live_as(&self, t: Transport, view: &str, token: Option<&str>, after: Option<i64>) -> Live {
        let epoch = match after {
            Some(_) => Some(self.app.epoch().await),
            None => None,
        };
        let mut q = Api::live_query(view, after, epoch.as_deref());
        if let Some(tok) = token {
            q.push_str(&format!("&token={}", enc(tok)));
        }
        match t {
            Transport::Ws => Live::Ws(self.app.ws_connect(&q, None).await.expect("ws")),
            Transport::Sse => {
                let c = self.app.sse_connect(&q, &[]).await;
                assert_eq!(c.status, 200, "/live/sse?{q}");
                Live::Sse(c)
            }
        }
    }

    async fn badge(&self, token: &str, stream: i64) -> (i64, i64) {
        let b = self.ok("GET", "/api/bootstrap", token, Value::Null, 200).await;
        let s = b["streams"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == stream)
            .cloned()
            .unwrap_or_else(|| panic!("stream {stream} not in bootstrap: {b}"));
        (
            s["unread_count"].as_i64().unwrap(),
            s["mention_count"].as_i64().unwrap(),
        )
    }
}

/// The words only private content holds: none may reach an outsider anywhere.
const MARKERS: [&str; 5] = ["zebraplans", "quokkadesc", "narwhaltext", "okapidm", "tapirthread"];

fn assert_clean(what: &str, text: &str) {
    // A search page says what it searched for: that word is the asker's, not a leak.
    for m in MARKERS.iter().filter(|m| !what.contains(**m)) {
        assert!(!text.contains(m), "{what} leaks `{m}`: {text}");
    }
}

/// Private content is made, then every route, page and live view is tried as an outsider
/// (eve, signed in) and as an anonymous caller: no name, text, count or search hit of it
/// shows up; members see all of it.
async fn nothing_leaks(t: Transport) {
    let p = people().await;
    let public = p.create(&p.alice, json!({"kind": "channel", "name": "lobby"})).await;
    p.post(public, &p.alice, "hello everyone").await;
    let before = p.app.get_json("/api/metrics").await;
    let alice_before = p.app.get_json("/api/users/alice").await["user"]["total_messages"].clone();

    // Outsiders watch everything they may open, before anything private exists.
    let mut watching = Vec::new();
    for (view, token) in [
        ("home", None),
        ("messages", None),
        ("channels", None),
        ("users", None),
        ("user/alice", None),
        ("workspace", None),
        ("messages", Some(p.eve.as_str())),
        ("user/alice", Some(p.eve.as_str())),
        ("workspace", Some(p.eve.as_str())),
        ("streams", Some(p.eve.as_str())),
        ("me", Some(p.eve.as_str())),
    ] {
        let mut l = p.live_as(t, view, token, None).await;
        l.until_connected(WAIT).await;
        watching.push((view, l));
    }
    let mut bob_live = p.live_as(t, "me", Some(&p.bob), None).await;
    bob_live.until_connected(WAIT).await;

    // The private content: a channel, its message mentioning bob and eve, a thread, a DM,
    // an edit and a delete.
    let private = p
        .create(
            &p.alice,
            json!({"kind": "channel", "name": "zebraplans", "visibility": "private", "description": "quokkadesc"}),
        )
        .await;
    p.ok(
        "POST",
        &format!("/api/streams/{private}/members"),
        &p.alice,
        json!({"user": "bob"}),
        200,
    )
    .await;
    let m = p.post(private, &p.alice, "narwhaltext for @bob and @eve").await;
    let thread = p
        .ok(
            "POST",
            &format!("/api/streams/{private}/thread"),
            &p.alice,
            json!({"event_id": m}),
            201,
        )
        .await;
    assert_eq!(thread["visibility"], "inherit");
    let thread = thread["id"].as_i64().unwrap();
    p.post(thread, &p.bob, "tapirthread reply").await;
    let dm = p.create(&p.alice, json!({"kind": "dm", "members": ["bob"]})).await;
    let gone = p.post(dm, &p.bob, "okapidm secret").await;
    p.ok(
        "PATCH",
        &format!("/api/streams/{dm}/events/{gone}"),
        &p.bob,
        json!({"text": "okapidm edited"}),
        200,
    )
    .await;
    p.ok(
        "DELETE",
        &format!("/api/streams/{dm}/events/{gone}"),
        &p.bob,
        Value::Null,
        204,
    )
    .await;
    p.post(dm, &p.alice, "okapidm stays").await;
    // A public sentinel last: once outsiders' views have it, they had every chance.
    let sentinel = p.post(public, &p.alice, "sentinel").await;

    for (view, live) in watching.iter_mut() {
        let mut seen = Vec::new();
        let deadline = std::time::Instant::now() + WAIT;
        let waits_for_sentinel = matches!(*view, "home" | "messages" | "user/alice");
        while std::time::Instant::now() < deadline {
            seen.extend(live.read_for(Duration::from_millis(300)).await);
            let has = seen.iter().any(|e| e["message_id"] == sentinel);
            if !waits_for_sentinel || has {
                break;
            }
        }
        if waits_for_sentinel {
            assert!(seen.iter().any(|e| e["message_id"] == sentinel), "{view}: {seen:?}");
        }
        // Settle the merged counts too.
        seen.extend(live.read_for(Duration::from_millis(400)).await);
        let text = serde_json::to_string(&seen).unwrap();
        assert_clean(&format!("live {view} ({t:?})"), &text);
        for id in [private, thread, dm] {
            assert!(
                seen.iter().all(|e| e["stream_id"] != id && e["channel_id"] != id),
                "live {view} names private stream {id}: {seen:?}"
            );
        }
        if *view == "me" {
            assert!(
                seen.iter().all(|e| e["type"] != "notification"),
                "eve may not see it: {seen:?}"
            );
        }
    }

    // Counts: only the two public messages since; alice's count the same plus them.
    let after = p.app.get_json("/api/metrics").await;
    assert_eq!(
        after["total_messages"].as_i64().unwrap(),
        before["total_messages"].as_i64().unwrap() + 1
    );
    assert_eq!(after["total_channels"], before["total_channels"]);
    assert_eq!(
        p.app.get_json("/api/users/alice").await["user"]["total_messages"]
            .as_i64()
            .unwrap(),
        alice_before.as_i64().unwrap() + 1
    );

    // Every read route and page, as eve and as anonymous.
    let routes = [
        "/api/streams".to_owned(),
        "/api/streams?kind=dm".to_owned(),
        "/api/messages?limit=1000".to_owned(),
        "/api/channels".to_owned(),
        "/api/users".to_owned(),
        "/api/users/alice".to_owned(),
        "/api/users/bob".to_owned(),
        "/api/search?q=narwhaltext".to_owned(),
        "/api/search?q=okapidm".to_owned(),
        "/api/search?q=tapirthread".to_owned(),
        "/api/export".to_owned(),
        "/api/activity?window=1h".to_owned(),
        "/api/activity?window=1h&user=bob".to_owned(),
        "/api/metrics".to_owned(),
        "/metrics".to_owned(),
        "/".to_owned(),
        "/messages".to_owned(),
        "/channels".to_owned(),
        "/users".to_owned(),
        "/users/alice".to_owned(),
        "/users/bob".to_owned(),
        "/search?q=narwhaltext".to_owned(),
        "/search?q=okapidm".to_owned(),
        "/incidents".to_owned(),
    ];
    for token in [Some(p.eve.as_str()), None] {
        for route in &routes {
            let r = p.call("GET", route, token, Value::Null).await;
            assert!(r.status < 500, "{route}: {r}");
            assert_clean(&format!("{route} as {token:?}"), &r.text);
        }
        for id in [private, thread, dm] {
            for sub in ["", "/events", "/members"] {
                let r = p
                    .call("GET", &format!("/api/streams/{id}{sub}"), token, Value::Null)
                    .await;
                r.assert_error(404, "not_found");
                assert_clean("a 404", &r.text);
            }
            let page = p.call("GET", &format!("/streams/{id}"), token, Value::Null).await;
            assert_eq!(page.status, 404, "/streams/{id}");
            assert_clean("the stream page", &page.text);
            // The same answer as a stream that never existed.
            let none = p.call("GET", "/api/streams/999999", token, Value::Null).await;
            let r = p.call("GET", &format!("/api/streams/{id}"), token, Value::Null).await;
            assert_eq!(r.json, none.json);
        }
    }
    // Every change, as eve: not found, and nothing changes.
    let cursor = p.app.cursor().await;
    for (method, path, body) in [
        ("POST", format!("/api/streams/{private}/events"), json!({"text": "hi"})),
        ("POST", format!("/api/streams/{private}/join"), Value::Null),
        (
            "POST",
            format!("/api/streams/{private}/members"),
            json!({"user": "eve"}),
        ),
        ("POST", format!("/api/streams/{private}/thread"), json!({"event_id": m})),
        ("POST", format!("/api/streams/{private}/read"), json!({"event_id": m})),
        ("PATCH", format!("/api/streams/{private}"), json!({"name": "mine"})),
        ("DELETE", format!("/api/streams/{private}"), Value::Null),
        (
            "PATCH",
            format!("/api/streams/{private}/events/{m}"),
            json!({"text": "x"}),
        ),
        ("DELETE", format!("/api/streams/{private}/events/{m}"), Value::Null),
        ("POST", format!("/api/streams/{thread}/events"), json!({"text": "hi"})),
        ("POST", format!("/api/streams/{dm}/events"), json!({"text": "hi"})),
        ("POST", format!("/api/streams/{public}/share"), json!({"event_id": m})),
    ] {
        let r = p.call(method, &path, Some(&p.eve), body).await;
        r.assert_error(404, "not_found");
        assert_clean(&path, &r.text);
    }
    assert_eq!(p.app.cursor().await, cursor, "a refused change logs nothing");
    // A member may not carry it out either: sharing a private message into a public stream.
    let r = p
        .call(
            "POST",
            &format!("/api/streams/{public}/share"),
            Some(&p.bob),
            json!({"event_id": m}),
        )
        .await;
    r.assert_error(403, "forbidden");
    // Outsiders' live subscriptions to it are refused like a stream that does not exist.
    for token in [Some(p.eve.as_str()), None] {
        for id in [private, thread, dm] {
            let mut l = p.live_as(t, &format!("stream/{id}"), token, None).await;
            let (events, status) = l.until_status("error", WAIT).await;
            assert_eq!(status["reason"], "bad_request", "{events:?}");
        }
    }
    let eve_boot = p.ok("GET", "/api/bootstrap", &p.eve, Value::Null, 200).await;
    assert_clean("eve's bootstrap", &eve_boot.to_string());
    let eve_notes = p.ok("GET", "/api/notifications", &p.eve, Value::Null, 200).await;
    assert_eq!(
        eve_notes["notifications"],
        json!([]),
        "eve cannot see where she was named"
    );

    // Members see all of it.
    let s = p
        .ok("GET", &format!("/api/streams/{private}"), &p.bob, Value::Null, 200)
        .await;
    assert_eq!(
        (&s["name"], &s["visibility"]),
        (&json!("zebraplans"), &json!("private"))
    );
    let ev = p
        .ok("GET", &format!("/api/streams/{dm}/events"), &p.bob, Value::Null, 200)
        .await;
    assert!(ev.to_string().contains("okapidm stays"));
    let listed = p.ok("GET", "/api/streams?kind=dm", &p.bob, Value::Null, 200).await;
    assert_eq!(listed["streams"].as_array().unwrap().len(), 1);
    let notes = p.ok("GET", "/api/notifications", &p.bob, Value::Null, 200).await;
    assert_eq!(notes["notifications"][0]["event"]["event_id"], m, "{notes}");
    assert_eq!(notes["notifications"][0]["stream"], "zebraplans", "{notes}");
    let pushed = of_type(bob_live.read_of_type("notification", 1, WAIT).await, "notification");
    assert_eq!(pushed[0]["event_id"], m);
    assert!(pushed[0]["text"].as_str().unwrap().contains("narwhaltext"));
}

#[actix_rt::test]
async fn nothing_private_leaks_over_websocket() {
    nothing_leaks(Transport::Ws).await;
}

#[actix_rt::test]
async fn nothing_private_leaks_over_sse() {
    nothing_leaks(Transport::Sse).await;
}

#[actix_rt::test]
async fn dms_and_membership_rules() {
    let p = people().await;
    // The same people give the same DM, whoever starts it and in any order.
    let dm = p
        .ok(
            "POST",
            "/api/streams",
            &p.alice,
            json!({"kind": "dm", "members": ["bob", "eve"]}),
            201,
        )
        .await;
    assert_eq!(
        (&dm["kind"], &dm["visibility"], &dm["name"]),
        (&json!("dm"), &json!("private"), &json!("alice, bob, eve"))
    );
    assert_eq!(dm["members"], json!(["alice", "bob", "eve"]));
    let again = p
        .ok(
            "POST",
            "/api/streams",
            &p.eve,
            json!({"kind": "dm", "members": ["alice", "bob", "eve"]}),
            200,
        )
        .await;
    assert_eq!(again["id"], dm["id"]);
    let other = p
        .ok(
            "POST",
            "/api/streams",
            &p.alice,
            json!({"kind": "dm", "members": ["bob"]}),
            201,
        )
        .await;
    assert_ne!(other["id"], dm["id"]);
    let dm = dm["id"].as_i64().unwrap();
    // A DM's people are fixed.
    for (path, body) in [
        ("join", Value::Null),
        ("leave", Value::Null),
        ("members", json!({"user": "carol"})),
    ] {
        let r = p
            .call("POST", &format!("/api/streams/{dm}/{path}"), Some(&p.bob), body)
            .await;
        r.assert_error(409, "conflict");
    }
    for body in [
        json!({"kind": "dm", "members": []}),
        json!({"kind": "dm", "members": ["alice"]}),
        json!({"kind": "dm", "members": ["bob"], "name": "x"}),
        json!({"kind": "dm", "members": ["no spaces"]}),
        json!({"kind": "channel", "name": "c", "members": ["bob"]}),
    ] {
        let r = p.call("POST", "/api/streams", Some(&p.alice), body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {r}");
    }

    // A private channel: members add members; a thread inherits; leaving shuts it.
    let ch = p
        .create(
            &p.alice,
            json!({"kind": "channel", "name": "ops", "visibility": "private"}),
        )
        .await;
    // Its slug is no public name: a public channel may take it.
    p.create(&p.bob, json!({"kind": "channel", "name": "ops"})).await;
    let r = p
        .call(
            "POST",
            &format!("/api/streams/{ch}/members"),
            Some(&p.eve),
            json!({"user": "eve"}),
        )
        .await;
    r.assert_error(404, "not_found");
    p.ok(
        "POST",
        &format!("/api/streams/{ch}/members"),
        &p.alice,
        json!({"user": "bob"}),
        200,
    )
    .await;
    let m = p.post(ch, &p.bob, "first").await;
    let th = p
        .ok(
            "POST",
            &format!("/api/streams/{ch}/thread"),
            &p.bob,
            json!({"event_id": m}),
            201,
        )
        .await;
    let th = th["id"].as_i64().unwrap();
    // A private thread's people are its parent's.
    let r = p
        .call(
            "POST",
            &format!("/api/streams/{th}/members"),
            Some(&p.bob),
            json!({"user": "eve"}),
        )
        .await;
    r.assert_error(409, "conflict");
    p.ok("GET", &format!("/api/streams/{th}"), &p.alice, Value::Null, 200)
        .await;
    // Promoted, it stays private.
    let promoted = p
        .ok(
            "POST",
            &format!("/api/streams/{th}/promote"),
            &p.bob,
            json!({"kind": "incident", "name": "Quiet fire"}),
            200,
        )
        .await;
    assert_eq!(promoted["visibility"], "private");
    p.call("GET", &format!("/api/streams/{th}"), Some(&p.eve), Value::Null)
        .await
        .assert_error(404, "not_found");

    // Bob watches the channel and its thread; leaving ends both views at once.
    let mut watch = p
        .live_as(Transport::Ws, &format!("stream/{ch}"), Some(&p.bob), None)
        .await;
    watch.until_connected(WAIT).await;
    let mut watch_thread = p
        .live_as(Transport::Sse, &format!("stream/{th}"), Some(&p.bob), None)
        .await;
    watch_thread.until_connected(WAIT).await;
    // Left, a private stream is out of sight: no stream to answer with.
    p.ok("POST", &format!("/api/streams/{ch}/leave"), &p.bob, Value::Null, 204)
        .await;
    for l in [&mut watch, &mut watch_thread] {
        let (_, status) = l.until_status("reconnecting", WAIT).await;
        assert_eq!(status["reason"], "membership_changed");
    }
    let after = p.app.cursor().await;
    p.post(ch, &p.alice, "after bob left").await;
    p.call("GET", &format!("/api/streams/{ch}/events"), Some(&p.bob), Value::Null)
        .await
        .assert_error(404, "not_found");
    let mut again = p
        .live_as(Transport::Ws, &format!("stream/{ch}"), Some(&p.bob), Some(after))
        .await;
    let (events, status) = again.until_status("error", WAIT).await;
    assert_eq!(status["reason"], "bad_request", "{events:?}");
    assert!(events.iter().all(|e| e["type"] != "event"));
}

/// Unread and mention counts against a count made here, after a burst, deletes and edits;
/// a read on one device clears the badge on another; `unread` moves it back.
#[actix_rt::test]
async fn badges_are_exact_and_follow_every_device() {
    let p = people().await;
    let ch = p
        .create(
            &p.alice,
            json!({"kind": "channel", "name": "team", "visibility": "private"}),
        )
        .await;
    p.ok(
        "POST",
        &format!("/api/streams/{ch}/members"),
        &p.alice,
        json!({"user": "bob"}),
        200,
    )
    .await;
    let mut workspace = p.live_as(Transport::Ws, "workspace", Some(&p.alice), None).await;
    workspace.until_connected(WAIT).await;
    let mut me = p.live_as(Transport::Sse, "me", Some(&p.alice), None).await;
    me.until_connected(WAIT).await;

    // Bob: 30 messages, every third mentions alice; alice: 5 of her own (never unread).
    let mut unread = Vec::new();
    let mut mentioned = Vec::new();
    for i in 0..30 {
        let text = if i % 3 == 0 {
            format!("@alice look {i}")
        } else {
            format!("note {i}")
        };
        let id = p.post(ch, &p.bob, &text).await;
        unread.push(id);
        if i % 3 == 0 {
            mentioned.push(id);
        }
        if i % 6 == 0 {
            p.post(ch, &p.alice, "mine").await;
        }
    }
    assert_eq!(p.badge(&p.alice, ch).await, (30, 10));
    // Deletes: a mention and a plain one; edits: a mention taken out, one put in.
    for id in [mentioned[0], unread[1]] {
        p.ok(
            "DELETE",
            &format!("/api/streams/{ch}/events/{id}"),
            &p.bob,
            Value::Null,
            204,
        )
        .await;
        unread.retain(|u| *u != id);
        mentioned.retain(|u| *u != id);
    }
    p.ok(
        "PATCH",
        &format!("/api/streams/{ch}/events/{}", mentioned[1]),
        &p.bob,
        json!({"text": "never mind"}),
        200,
    )
    .await;
    let dropped = mentioned.remove(1);
    p.ok(
        "PATCH",
        &format!("/api/streams/{ch}/events/{}", unread[4]),
        &p.bob,
        json!({"text": "now @alice"}),
        200,
    )
    .await;
    mentioned.push(unread[4]);
    let expected = (unread.len() as i64, mentioned.len() as i64);
    assert_eq!(expected, (28, 9), "the count made here: {dropped}");
    assert_eq!(p.badge(&p.alice, ch).await, expected);
    // The workspace view pushed the same, merged.
    let latest_badge = |events: &[Value]| {
        events
            .iter()
            .rfind(|e| e["type"] == "unread" && e["stream_id"] == ch)
            .cloned()
    };
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + WAIT;
    while latest_badge(&seen)
        .is_none_or(|b| (b["unread_count"].as_i64(), b["mention_count"].as_i64()) != (Some(28), Some(9)))
        && std::time::Instant::now() < deadline
    {
        seen.extend(workspace.read_for(Duration::from_millis(200)).await);
    }
    let b = latest_badge(&seen).expect("an unread badge");
    assert_eq!(
        (b["unread_count"].as_i64(), b["mention_count"].as_i64()),
        (Some(28), Some(9)),
        "{seen:?}"
    );
    let notes = of_type(me.read_of_type("notification", 11, WAIT).await, "notification");
    assert_eq!(notes.len(), 11, "10 mentions and one added by an edit: {notes:?}");
    assert_eq!(notes[10]["event_id"], unread[4], "the edit's mention names its message");

    // Alice reads up to the 20th of bob's on one device: the other hears it.
    let upto = unread[19];
    let after_read = p
        .ok(
            "POST",
            &format!("/api/streams/{ch}/read"),
            &p.alice,
            json!({"event_id": upto}),
            200,
        )
        .await;
    let left = unread.iter().filter(|u| **u > upto).count() as i64;
    let left_m = mentioned.iter().filter(|u| **u > upto).count() as i64;
    assert_eq!(
        (
            after_read["unread_count"].as_i64(),
            after_read["mention_count"].as_i64()
        ),
        (Some(left), Some(left_m))
    );
    let rc = of_type(me.read_of_type("read_cursor", 1, WAIT).await, "read_cursor");
    assert_eq!(
        (&rc[0]["stream_id"], &rc[0]["last_read_event_id"]),
        (&json!(ch), &json!(upto))
    );
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + WAIT;
    while latest_badge(&seen).is_none_or(|b| b["unread_count"].as_i64() != Some(left))
        && std::time::Instant::now() < deadline
    {
        seen.extend(workspace.read_for(Duration::from_millis(200)).await);
    }
    assert_eq!(latest_badge(&seen).unwrap()["last_read_event_id"], upto);
    // An older read does not move it back; `unread` does.
    p.ok(
        "POST",
        &format!("/api/streams/{ch}/read"),
        &p.alice,
        json!({"event_id": unread[2]}),
        200,
    )
    .await;
    assert_eq!(p.badge(&p.alice, ch).await, (left, left_m));
    p.ok(
        "POST",
        &format!("/api/streams/{ch}/unread"),
        &p.alice,
        json!({"event_id": unread[10]}),
        200,
    )
    .await;
    let back = unread.iter().filter(|u| **u >= unread[10]).count() as i64;
    let back_m = mentioned.iter().filter(|u| **u >= unread[10]).count() as i64;
    assert_eq!(p.badge(&p.alice, ch).await, (back, back_m));
    // Reading everything clears it; the events of the log are not touched.
    let last = *unread.last().unwrap();
    p.ok(
        "POST",
        &format!("/api/streams/{ch}/read"),
        &p.alice,
        json!({"event_id": last}),
        200,
    )
    .await;
    assert_eq!(p.badge(&p.alice, ch).await, (0, 0));
    let events = p
        .ok(
            "GET",
            &format!("/api/streams/{ch}/events?limit=1000"),
            &p.alice,
            Value::Null,
            200,
        )
        .await;
    assert!(events["events"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["event_type"] != "read"));
    // A resumed `me` view replays the read cursors from where it was.
    let mut resumed = p
        .live_as(Transport::Ws, "me", Some(&p.alice), Some(after_read_cursor(&rc)))
        .await;
    let (backlog, _) = resumed.until_connected(WAIT).await;
    let reads: Vec<&Value> = backlog.iter().filter(|e| e["type"] == "read_cursor").collect();
    assert_eq!(reads.len(), 2, "the unread and the last read: {backlog:?}");
    assert_eq!(reads[1]["last_read_event_id"], last);
    // Not a member: no read state.
    let public = p.create(&p.alice, json!({"kind": "channel", "name": "open"})).await;
    let x = p.post(public, &p.alice, "x").await;
    p.call(
        "POST",
        &format!("/api/streams/{public}/read"),
        Some(&p.eve),
        json!({"event_id": x}),
    )
    .await
    .assert_error(409, "conflict");
}

fn of_type(events: Vec<Value>, ty: &str) -> Vec<Value> {
    events.into_iter().filter(|e| e["type"] == ty).collect()
}

fn after_read_cursor(rc: &[Value]) -> i64 {
    rc[0]["cursor"].as_i64().unwrap()
}

/// Typing: merged, shown to the others on the stream's view only, never stored, dropped
/// for a stream the connection does not watch.
#[actix_rt::test]
async fn typing_is_merged_and_stays_with_the_stream() {
    let p = people().await;
    let ch = p
        .create(
            &p.alice,
            json!({"kind": "channel", "name": "quiet", "visibility": "private"}),
        )
        .await;
    p.ok(
        "POST",
        &format!("/api/streams/{ch}/members"),
        &p.alice,
        json!({"user": "bob"}),
        200,
    )
    .await;
    let view = format!("stream/{ch}");
    let mut bob = p.live_as(Transport::Sse, &view, Some(&p.bob), None).await;
    bob.until_connected(WAIT).await;
    let mut alice = p.live_as(Transport::Ws, &view, Some(&p.alice), None).await;
    alice.until_connected(WAIT).await;
    let mut other = p.live_as(Transport::Ws, "home", Some(&p.eve), None).await;
    other.until_connected(WAIT).await;
    let cursor = p.app.cursor().await;
    // 20 frames within 100 ms: a handful of notices at most.
    for _ in 0..20 {
        alice
            .ws_mut()
            .send_text(&json!({"type": "typing", "stream_id": ch}).to_string())
            .await;
        actix_rt::time::sleep(Duration::from_millis(5)).await;
    }
    // A stream this connection does not show: ignored.
    other
        .ws_mut()
        .send_text(&json!({"type": "typing", "stream_id": ch}).to_string())
        .await;
    let seen = bob.read_for(Duration::from_millis(800)).await;
    let typing: Vec<&Value> = seen.iter().filter(|e| e["type"] == "typing").collect();
    assert!(!typing.is_empty() && typing.len() <= 3, "{seen:?}");
    assert!(typing
        .iter()
        .all(|e| e["user"] == "alice" && e["stream_id"] == ch && e["expires_at"].is_string()));
    assert!(
        alice
            .read_for(Duration::from_millis(300))
            .await
            .iter()
            .all(|e| e["type"] != "typing"),
        "not to the typist"
    );
    assert_eq!(p.app.cursor().await, cursor, "typing is never stored");
}

/// `--require-token`: a private deployment. Nothing is read without a user token; a page
/// sends a person to sign in; health, ingest and (with the ingest token) metrics stay open.
#[actix_rt::test]
async fn a_private_deployment_reads_nothing_without_a_token() {
    const INGEST: &str = "ingest-token-for-people";
    let app = TestApp::builder()
        .token_secret(SECRET)
        .ingest_token(INGEST)
        .raw_args(["--require-token"])
        .start()
        .await;
    let alice = user_token(SECRET, "alice", false);
    let stored = app
        .request(
            "POST",
            "/api/messages",
            Some(INGEST),
            Some(&json!({"channel": "general", "user": "alice", "text": "inside"})),
        )
        .await;
    assert!(stored.status < 300, "ingest stays open to its token: {stored}");
    for path in [
        "/api/messages",
        "/api/channels",
        "/api/users/alice",
        "/api/search?q=inside",
        "/api/export",
        "/api/activity",
        "/api/streams",
        "/api/metrics",
        "/api/openapi.json",
    ] {
        let r = app.request("GET", path, None, None).await;
        r.assert_error(401, "unauthorized");
        assert!(!r.text.contains("inside"), "{path}: {r}");
        let r = app.request("GET", path, Some(&alice), None).await;
        assert_eq!(r.status, 200, "{path} with a user token: {r}");
    }
    let no_redirects = awc::Client::builder().disable_redirects().finish();
    for path in ["/", "/messages", "/channels/general", "/search?q=inside"] {
        let r = no_redirects.get(app.api.url(path)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 303, "{path}");
        let to = r.headers().get("location").unwrap().to_str().unwrap().to_owned();
        assert!(to.starts_with("/signin?next=%2F"), "{path} sends to sign in: {to}");
        assert_eq!(app.request("GET", path, Some(&alice), None).await.status, 200, "{path}");
    }
    assert_eq!(app.request("GET", "/signin", None, None).await.status, 200);
    assert_eq!(app.request("GET", "/static/app.css", None, None).await.status, 200);
    assert_eq!(app.request("GET", "/healthz", None, None).await.status, 200);
    app.request("GET", "/metrics", None, None)
        .await
        .assert_error(401, "unauthorized");
    assert_eq!(app.request("GET", "/metrics", Some(INGEST), None).await.status, 200);
    // The ingest token is no user: it reads nothing.
    app.request("GET", "/api/messages", Some(INGEST), None)
        .await
        .assert_error(401, "unauthorized");
    // Live views: a token, or nothing.
    let anonymous = app.sse_connect(&Api::live_query("home", None, None), &[]).await;
    assert_eq!(anonymous.status, 401);
    assert!(matches!(
        app.ws_connect(&Api::live_query("home", None, None), None).await,
        Err(WsRefused::Status(401))
    ));
    let q = format!("{}&token={}", Api::live_query("messages", Some(0), None), enc(&alice));
    let mut signed_in = Live::Sse(app.sse_connect(&q, &[]).await);
    let (backlog, _) = signed_in.until_connected(WAIT).await;
    assert!(backlog.iter().any(|e| e["text"] == "inside"), "{backlog:?}");
}

/// A reader that falls behind gets every message and loses typing first: with half its
/// queue waiting, typing notices are not queued for it (and that is no overflow).
#[actix_rt::test]
async fn typing_is_dropped_before_messages_when_a_reader_falls_behind() {
    let app = TestApp::builder()
        .token_secret(SECRET)
        .queue_bytes(32 * 1024 * 1024)
        .write_timeout_ms(60_000)
        .start()
        .await;
    let (alice, bob) = (user_token(SECRET, "alice", false), user_token(SECRET, "bob", false));
    let created = app
        .request(
            "POST",
            "/api/streams",
            Some(&alice),
            Some(&json!({"kind": "channel", "name": "flood"})),
        )
        .await;
    let ch = created.json["id"].as_i64().unwrap();
    let view = format!("stream/{ch}");
    let q = |token: &str| format!("{}&token={}", Api::live_query(&view, None, None), enc(token));
    // Bob's reader stops reading; alice types on her own connection.
    let mut behind = Live::Ws(app.ws_connect(&q(&bob), None).await.unwrap());
    behind.until_connected(WAIT).await;
    let mut typist = Live::Ws(app.ws_connect(&q(&alice), None).await.unwrap());
    typist.until_connected(WAIT).await;
    // ~24 MB of events into the stream (v1 ingest names it by its slug): more than the
    // kernel's buffers take, so most of it waits in bob's queue, past half of it.
    let text = "x".repeat(4000);
    let mut sent = 0;
    for _ in 0..6 {
        let batch: Vec<Value> = (0..1000)
            .map(|i| json!({"channel": "flood", "user": "carol", "text": format!("{i} {text}")}))
            .collect();
        sent += app.ingest_ids(&batch).await.len();
    }
    let before = app.metric_or_zero("chatpulse_live_typing_dropped_total").await;
    for _ in 0..8 {
        typist
            .ws_mut()
            .send_text(&json!({"type": "typing", "stream_id": ch}).to_string())
            .await;
        actix_rt::time::sleep(Duration::from_millis(300)).await;
    }
    app.wait_metric("chatpulse_live_typing_dropped_total", WAIT, |n| n > before)
        .await
        .unwrap_or_else(|n| panic!("no typing dropped for the reader behind ({n})"));
    // Bob reads at last: every message, in order, and no overflow.
    let mut got = 0;
    let deadline = std::time::Instant::now() + LONG_WAIT;
    while got < sent && std::time::Instant::now() < deadline {
        for e in behind.read_for(Duration::from_millis(200)).await {
            assert!(state_of(&e).is_none_or(|s| s == "connected" || s == "idle"), "{e}");
            if e["type"] == "event" && e["event_type"] == "message" {
                got += 1;
            }
        }
    }
    assert_eq!(got, sent, "every message reached the reader that fell behind");
}
