//! The stream model (PROTOCOL.md section 8): the seed's story end to end over both
//! transports, every route rule with its error, counts and search after edits and deletes,
//! user tokens and the session cookie.

use std::time::Duration;

use serde_json::{json, Value};

use crate::common::*;

const SECRET: &str = "streams-test-secret-0123";

/// A server with user tokens, and three people: alice, bob, and an admin.
struct Team {
    app: TestApp,
    alice: String,
    bob: String,
    admin: String,
}

async fn team() -> Team {
    let app = TestApp::builder().token_secret(SECRET).start().await;
    Team {
        app,
        alice: user_token(SECRET, "alice", false),
        bob: user_token(SECRET, "bob", false),
        admin: user_token(SECRET, "root", true),
    }
}

impl Team {
    async fn call(&self, method: &str, path: &str, token: &str, body: Value) -> Resp {
        let body = (!body.is_null()).then_some(body);
        self.app.request(method, path, Some(token), body.as_ref()).await
    }

    /// A call that must answer `status`; its JSON.
    async fn ok(&self, method: &str, path: &str, token: &str, body: Value, status: u16) -> Value {
        let r = self.call(method, path, token, body).await;
        assert_eq!(r.status, status, "{method} {path}: {r}");
        r.json
    }

    async fn channel(&self, name: &str, token: &str) -> i64 {
        let s = self
            .ok(
                "POST",
                "/api/streams",
                token,
                json!({"kind": "channel", "name": name}),
                201,
            )
            .await;
        s["id"].as_i64().unwrap()
    }

    async fn post(&self, stream: i64, token: &str, text: &str) -> i64 {
        let e = self
            .ok(
                "POST",
                &format!("/api/streams/{stream}/events"),
                token,
                json!({"text": text}),
                201,
            )
            .await;
        e["event_id"].as_i64().unwrap()
    }

    async fn events(&self, stream: i64, after: i64) -> Vec<Value> {
        let r = self
            .app
            .get_json(&format!("/api/streams/{stream}/events?after_id={after}&limit=1000"))
            .await;
        r["events"].as_array().unwrap().clone()
    }
}

fn cursors(events: &[Value]) -> Vec<i64> {
    events
        .iter()
        .filter(|e| e["type"] == "event")
        .map(|e| e["cursor"].as_i64().unwrap())
        .collect()
}

/// The seed's story: #engineering, a thread from the second message, three replies, the
/// thread promoted to the incident "Checkout Outage", two more events, resolved, shared back
/// with context; an edit and a delete on the way. A subscriber to each stream sees exactly
/// its events in cursor order, live; a client resuming from any cursor gets the rest, edits
/// and deletes included, with no gap and no duplicate.
async fn seed_story(t: Transport) {
    let team = team().await;
    let (alice, bob) = (team.alice.clone(), team.bob.clone());
    let eng = team.channel("engineering", &alice).await;
    let mut eng_live = team.app.live(t, &format!("stream/{eng}"), None, None).await;
    eng_live.until_connected(WAIT).await;

    team.post(eng, &alice, "Deploy went out").await;
    let errors = team.post(eng, &bob, "Seeing errors in Sentry").await;
    let thread = team
        .ok(
            "POST",
            &format!("/api/streams/{eng}/thread"),
            &alice,
            json!({"event_id": errors}),
            201,
        )
        .await;
    let th = thread["id"].as_i64().unwrap();
    assert_eq!(thread["kind"], "thread");
    assert_eq!(thread["parent_stream_id"], eng);
    assert_eq!(thread["branched_from_event_id"], errors);
    let mut th_live = team.app.live(t, &format!("stream/{th}"), None, None).await;
    th_live.until_connected(WAIT).await;

    team.post(th, &alice, "What errors?").await;
    team.post(th, &bob, "500s on checkout").await;
    let outage = team.post(th, &alice, "This is an outage!").await;
    let incident = team
        .ok(
            "POST",
            &format!("/api/streams/{th}/promote"),
            &alice,
            json!({"kind": "incident", "name": "Checkout Outage"}),
            200,
        )
        .await;
    assert_eq!(
        (incident["id"].as_i64(), &incident["kind"]),
        (Some(th), &json!("incident"))
    );
    assert_eq!(incident["name"], "Checkout Outage");
    team.post(th, &bob, "Root cause: DB pool").await;
    let mitigation = team.post(th, &alice, "Mitigation deployd").await;
    team.ok(
        "PATCH",
        &format!("/api/streams/{th}/events/{mitigation}"),
        &alice,
        json!({"text": "Mitigation deployed"}),
        200,
    )
    .await;
    let oops = team.post(th, &bob, "wrong window").await;
    let r = team
        .call("DELETE", &format!("/api/streams/{th}/events/{oops}"), &bob, Value::Null)
        .await;
    assert_eq!(r.status, 204, "{r}");
    let resolved = team
        .ok(
            "PATCH",
            &format!("/api/streams/{th}"),
            &alice,
            json!({"status": "resolved"}),
            200,
        )
        .await;
    assert_eq!(resolved["status"], "resolved");
    let shared = team
        .ok(
            "POST",
            &format!("/api/streams/{eng}/share"),
            &alice,
            json!({"event_id": outage, "context": "Postmortem of today's outage"}),
            201,
        )
        .await;
    assert_eq!(shared["event_type"], "shared");
    assert_eq!(shared["original_event_id"], outage);
    assert_eq!(shared["original_stream_id"], th);
    assert_eq!(shared["text"], "This is an outage!");

    // The logs, as the read API has them.
    let eng_log = team.events(eng, 0).await;
    let th_log = team.events(th, 0).await;
    let types = |log: &[Value]| {
        log.iter()
            .map(|e| e["event_type"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        types(&eng_log),
        ["member_joined", "message", "message", "thread_started", "shared"],
        "{eng_log:?}"
    );
    assert_eq!(
        types(&th_log),
        [
            "message",
            "message",
            "message",
            "stream_promoted",
            "message",
            "message",
            "event_edited",
            "message",
            "event_deleted",
            "stream_updated"
        ],
        "{th_log:?}"
    );
    assert_eq!(
        eng_log[2]["thread_stream_id"], th,
        "the branched message names its thread"
    );
    assert_eq!(
        eng_log[2]["reply_count"], 5,
        "the thread's live messages: 6 posted, 1 deleted"
    );
    assert_eq!(th_log[5]["text"], "Mitigation deployed", "reads show the current text");
    assert!(th_log[5]["edited_at"].is_string());
    assert_eq!(th_log[7]["deleted"], true);
    assert!(
        th_log[7].get("text").is_none(),
        "a deleted message has no text: {}",
        th_log[7]
    );
    let all: Vec<i64> = cursors(&eng_log).into_iter().chain(cursors(&th_log)).collect();
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        (1..=sorted.len() as i64).collect::<Vec<_>>(),
        "cursors are dense across streams"
    );

    // Live: each subscriber saw its stream's events, in cursor order, as they happened.
    let seen_eng = eng_live.read_of_type("event", eng_log.len() - 1, WAIT).await;
    assert_eq!(
        cursors(&seen_eng),
        cursors(&eng_log[1..]),
        "[{t}] live on #engineering (after its creation)"
    );
    let seen_th = th_live.read_of_type("event", th_log.len(), WAIT).await;
    assert_eq!(cursors(&seen_th), cursors(&th_log), "[{t}] live on the thread/incident");
    let live_edit = seen_th.iter().find(|e| e["event_type"] == "event_edited").unwrap();
    assert_eq!(live_edit["target_event_id"], mitigation);
    assert_eq!(live_edit["text"], "Mitigation deployed");
    // Reply counts are merged like counts: they come on the next tick, the last one exact.
    let mut replies: Vec<Value> = seen_eng
        .iter()
        .filter(|e| e["type"] == "reply_count")
        .cloned()
        .collect();
    let deadline = std::time::Instant::now() + WAIT;
    while replies.last().is_none_or(|r| r["reply_count"] != 5) && std::time::Instant::now() < deadline {
        let more = eng_live.read_for(Duration::from_millis(300)).await;
        assert!(
            more.iter().all(|e| e["type"] != "event"),
            "[{t}] no other event on #engineering: {more:?}"
        );
        replies.extend(more.into_iter().filter(|e| e["type"] == "reply_count"));
    }
    let last = replies.last().expect("the parent's view hears of replies");
    assert_eq!(
        (&last["reply_count"], &last["thread_stream_id"], &last["event_id"]),
        (&json!(5), &json!(th), &json!(errors)),
        "[{t}] the last reply count is exact: {replies:?}"
    );
    assert!(
        replies.len() < 6,
        "[{t}] reply counts are merged, not one per reply: {replies:?}"
    );

    // The parent's view, resumed from before the thread, is told its reply count.
    let epoch = team.app.epoch().await;
    let mut resumed = team
        .app
        .live(t, &format!("stream/{eng}"), Some(errors), Some(&epoch))
        .await;
    let (backlog, _) = resumed.until_connected(WAIT).await;
    let count = backlog
        .iter()
        .find(|e| e["type"] == "reply_count")
        .expect("a reply count on resume");
    assert_eq!(
        (&count["thread_stream_id"], &count["reply_count"]),
        (&json!(th), &json!(5)),
        "[{t}]"
    );
    assert_eq!(
        cursors(&backlog),
        cursors(&eng_log[3..]),
        "[{t}] and the events after it"
    );

    // Resuming from every cursor of the incident's log replays the rest, edits and deletes.
    for (i, e) in th_log.iter().enumerate() {
        let after = e["cursor"].as_i64().unwrap();
        let mut resumed = team
            .app
            .live(t, &format!("stream/{th}"), Some(after), Some(&epoch))
            .await;
        let (backlog, _) = resumed.until_connected(WAIT).await;
        assert_eq!(
            cursors(&backlog),
            cursors(&th_log[i + 1..]),
            "[{t}] resumed after {after}: the rest, no gap, no duplicate"
        );
        let edited_ids: Vec<&Value> = backlog.iter().filter(|e| e["event_type"] == "event_edited").collect();
        assert_eq!(
            edited_ids.len(),
            usize::from(i < 6),
            "[{t}] after {after}: the edit replays"
        );
    }
}

#[actix_rt::test]
async fn seed_story_over_websocket() {
    seed_story(Transport::Ws).await;
}

#[actix_rt::test]
async fn seed_story_over_sse() {
    seed_story(Transport::Sse).await;
}

/// Every rule of the routes answers its error, and a refused request changes nothing.
#[actix_rt::test]
async fn every_rule_answers_its_error_and_changes_nothing() {
    let team = team().await;
    let (alice, bob, admin) = (team.alice.clone(), team.bob.clone(), team.admin.clone());
    let eng = team.channel("eng", &alice).await;
    let m = team.post(eng, &alice, "hello").await;
    let other = team.channel("other", &bob).await;
    let before = team.app.cursor().await;

    // Method, path, token, body, status, code.
    type Refusal<'a> = (&'a str, String, Option<&'a str>, Value, u16, &'a str);
    let refusals: Vec<Refusal> = vec![
        // Identity.
        (
            "POST",
            "/api/streams".into(),
            None,
            json!({"kind": "channel", "name": "x"}),
            401,
            "unauthorized",
        ),
        (
            "POST",
            "/api/streams".into(),
            Some("not-a-token"),
            json!({"kind": "channel", "name": "x"}),
            401,
            "unauthorized",
        ),
        (
            "POST",
            format!("/api/streams/{eng}/events"),
            None,
            json!({"text": "x"}),
            401,
            "unauthorized",
        ),
        // Create.
        (
            "POST",
            "/api/streams".into(),
            Some(&alice),
            json!({"kind": "channel", "name": "has space"}),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/api/streams".into(),
            Some(&alice),
            json!({"kind": "channel", "name": "eng"}),
            409,
            "conflict",
        ),
        (
            "POST",
            "/api/streams".into(),
            Some(&alice),
            json!({"kind": "dm", "name": "x", "members": ["bob"]}),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/api/streams".into(),
            Some(&alice),
            json!({"kind": "thread", "name": "x"}),
            400,
            "invalid_parameter",
        ),
        (
            "POST",
            "/api/streams".into(),
            Some(&alice),
            json!({"kind": "channel", "name": "p", "visibility": "secret"}),
            400,
            "invalid_parameter",
        ),
        (
            "POST",
            "/api/streams".into(),
            Some(&alice),
            json!({"kind": "channel"}),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/api/streams".into(),
            Some(&alice),
            json!({"kind": "incident", "name": ""}),
            400,
            "invalid_request",
        ),
        // Unknown streams and events.
        (
            "POST",
            "/api/streams/999999/events".into(),
            Some(&alice),
            json!({"text": "x"}),
            404,
            "not_found",
        ),
        (
            "PATCH",
            format!("/api/streams/{eng}/events/999999"),
            Some(&alice),
            json!({"text": "x"}),
            404,
            "not_found",
        ),
        (
            "PATCH",
            format!("/api/streams/{other}/events/{m}"),
            Some(&alice),
            json!({"text": "x"}),
            404,
            "not_found",
        ),
        (
            "POST",
            format!("/api/streams/{eng}/thread"),
            Some(&alice),
            json!({"event_id": 999999}),
            404,
            "not_found",
        ),
        (
            "POST",
            format!("/api/streams/{other}/thread"),
            Some(&alice),
            json!({"event_id": m}),
            404,
            "not_found",
        ),
        (
            "POST",
            format!("/api/streams/{eng}/share"),
            Some(&alice),
            json!({"event_id": 999999}),
            404,
            "not_found",
        ),
        // Posting.
        (
            "POST",
            format!("/api/streams/{eng}/events"),
            Some(&alice),
            json!({"text": ""}),
            400,
            "invalid_request",
        ),
        (
            "POST",
            format!("/api/streams/{eng}/events"),
            Some(&alice),
            json!({"text": "x".repeat(4097)}),
            400,
            "invalid_request",
        ),
        (
            "POST",
            format!("/api/streams/{eng}/events"),
            Some(&alice),
            json!({"text": "a\u{0}b"}),
            400,
            "invalid_request",
        ),
        (
            "POST",
            format!("/api/streams/{eng}/events"),
            Some(&alice),
            json!({"text": "x", "extra": 1}),
            400,
            "invalid_parameter",
        ),
        // Authorship and ownership.
        (
            "PATCH",
            format!("/api/streams/{eng}/events/{m}"),
            Some(&bob),
            json!({"text": "mine now"}),
            403,
            "forbidden",
        ),
        (
            "DELETE",
            format!("/api/streams/{eng}/events/{m}"),
            Some(&bob),
            Value::Null,
            403,
            "forbidden",
        ),
        (
            "PATCH",
            format!("/api/streams/{eng}"),
            Some(&bob),
            json!({"description": "bob's"}),
            403,
            "forbidden",
        ),
        (
            "DELETE",
            format!("/api/streams/{eng}"),
            Some(&bob),
            Value::Null,
            403,
            "forbidden",
        ),
        (
            "PATCH",
            format!("/api/streams/{eng}"),
            Some(&alice),
            json!({"status": "resolved"}),
            409,
            "conflict",
        ),
        (
            "PATCH",
            format!("/api/streams/{eng}"),
            Some(&alice),
            json!({"name": "other"}),
            409,
            "conflict",
        ),
        // Promotion.
        (
            "POST",
            format!("/api/streams/{eng}/promote"),
            Some(&alice),
            json!({"kind": "incident", "name": "X"}),
            409,
            "conflict",
        ),
        // Membership.
        (
            "POST",
            format!("/api/streams/{eng}/leave"),
            Some(&bob),
            Value::Null,
            409,
            "conflict",
        ),
        (
            "POST",
            format!("/api/streams/{eng}/members"),
            Some(&bob),
            json!({"user": "carol"}),
            403,
            "forbidden",
        ),
        (
            "POST",
            format!("/api/streams/{eng}/members"),
            Some(&alice),
            json!({"user": "no such"}),
            400,
            "invalid_request",
        ),
    ];
    for (method, path, token, body, status, code) in &refusals {
        let body = (!body.is_null()).then_some(body);
        let r = team.app.request(method, path, *token, body).await;
        assert_eq!(
            (r.status, r.error_code()),
            (*status, Some(*code)),
            "{method} {path} {body:?}: {r}"
        );
    }
    assert_eq!(team.app.cursor().await, before, "refused requests logged nothing");
    assert_eq!(team.events(eng, 0).await.len(), 2, "member_joined and the one message");

    // Idempotent posting: the same event_id answers the stored event, 200.
    let first = team
        .ok(
            "POST",
            &format!("/api/streams/{eng}/events"),
            &bob,
            json!({"text": "once", "event_id": "k1", "client_temp_id": "tmp-1"}),
            201,
        )
        .await;
    assert_eq!(first["client_temp_id"], "tmp-1");
    let again = team
        .ok(
            "POST",
            &format!("/api/streams/{eng}/events"),
            &bob,
            json!({"text": "once", "event_id": "k1"}),
            200,
        )
        .await;
    assert_eq!(again["event_id"], first["event_id"]);
    team.call(
        "POST",
        &format!("/api/streams/{other}/events"),
        &bob,
        json!({"text": "x", "event_id": "k1"}),
    )
    .await
    .assert_error(409, "conflict");

    // A thread asked for again is the same thread; a thread cannot be promoted to a taken name.
    let t1 = team
        .ok(
            "POST",
            &format!("/api/streams/{eng}/thread"),
            &bob,
            json!({"event_id": m}),
            201,
        )
        .await;
    let t2 = team
        .ok(
            "POST",
            &format!("/api/streams/{eng}/thread"),
            &alice,
            json!({"event_id": m}),
            200,
        )
        .await;
    assert_eq!(t1["id"], t2["id"]);
    let th = t1["id"].as_i64().unwrap();
    team.call(
        "POST",
        &format!("/api/streams/{th}/promote"),
        &bob,
        json!({"kind": "channel", "name": "other"}),
    )
    .await
    .assert_error(409, "conflict");
    team.call(
        "POST",
        &format!("/api/streams/{th}/promote"),
        &bob,
        json!({"kind": "channel", "name": "a b"}),
    )
    .await
    .assert_error(400, "invalid_request");
    // Not the thread's owner nor its parent's: bob made the thread, alice owns #eng, so
    // an outsider cannot promote it.
    let carol = user_token(SECRET, "carol", false);
    team.call(
        "POST",
        &format!("/api/streams/{th}/promote"),
        &carol,
        json!({"kind": "incident", "name": "I"}),
    )
    .await
    .assert_error(403, "forbidden");
    let promoted = team
        .ok(
            "POST",
            &format!("/api/streams/{th}/promote"),
            &alice,
            json!({"kind": "channel", "name": "eng-2"}),
            200,
        )
        .await;
    assert_eq!(
        (&promoted["kind"], &promoted["name"]),
        (&json!("channel"), &json!("eng-2"))
    );
    let channels = team.app.get_json("/api/channels").await;
    let names: Vec<&str> = channels["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"eng-2"),
        "a thread promoted to a channel is a v1 channel: {names:?}"
    );
    assert_eq!(team.app.api_metrics().await["total_channels"], 3);

    // The stream owner deletes bob's message; an admin deletes anyone's.
    let b1 = team.post(eng, &bob, "bob one").await;
    let b2 = team.post(other, &alice, "alice in bob's channel").await;
    assert_eq!(
        team.call(
            "DELETE",
            &format!("/api/streams/{eng}/events/{b1}"),
            &alice,
            Value::Null
        )
        .await
        .status,
        204
    );
    assert_eq!(
        team.call(
            "DELETE",
            &format!("/api/streams/{other}/events/{b2}"),
            &admin,
            Value::Null
        )
        .await
        .status,
        204
    );
    team.call(
        "DELETE",
        &format!("/api/streams/{eng}/events/{b1}"),
        &alice,
        Value::Null,
    )
    .await
    .assert_error(404, "not_found");

    // Membership: joining twice logs once; leaving; adding someone.
    let before = team.app.cursor().await;
    team.ok("POST", &format!("/api/streams/{eng}/join"), &bob, Value::Null, 200)
        .await;
    let joined = team
        .ok("POST", &format!("/api/streams/{eng}/join"), &bob, Value::Null, 200)
        .await;
    assert_eq!(joined["is_member"], true);
    assert_eq!(team.app.cursor().await, before + 1, "the second join logs nothing");
    team.ok(
        "POST",
        &format!("/api/streams/{eng}/members"),
        &bob,
        json!({"user": "carol"}),
        200,
    )
    .await;
    let members = team.app.get_json(&format!("/api/streams/{eng}/members")).await;
    let who: Vec<(&str, &str)> = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["user"].as_str().unwrap(), m["role"].as_str().unwrap()))
        .collect();
    assert_eq!(who, [("alice", "owner"), ("bob", "member"), ("carol", "member")]);
    let left = team
        .ok("POST", &format!("/api/streams/{eng}/leave"), &bob, Value::Null, 200)
        .await;
    assert_eq!(left["is_member"], false);
    let log = team.events(eng, before).await;
    let added = log.iter().find(|e| e["user"] == "carol").unwrap();
    assert_eq!(
        (&added["event_type"], &added["added_by"]),
        (&json!("member_joined"), &json!("bob"))
    );
    assert_eq!(log.last().unwrap()["event_type"], "member_left");

    // Archive, then nothing changes it.
    let archived = team
        .ok("DELETE", &format!("/api/streams/{eng}"), &alice, Value::Null, 200)
        .await;
    assert_eq!(archived["status"], "archived");
    assert!(archived["archived_at"].is_string());
    let before = team.app.cursor().await;
    for (method, path, body) in [
        (
            "POST",
            format!("/api/streams/{eng}/events"),
            json!({"text": "too late"}),
        ),
        ("DELETE", format!("/api/streams/{eng}"), Value::Null),
        ("POST", format!("/api/streams/{eng}/join"), Value::Null),
        ("PATCH", format!("/api/streams/{eng}"), json!({"description": "d"})),
        (
            "PATCH",
            format!("/api/streams/{eng}/events/{m}"),
            json!({"text": "edit"}),
        ),
        ("POST", format!("/api/streams/{eng}/share"), json!({"event_id": m})),
    ] {
        team.call(method, &path, &alice, body)
            .await
            .assert_error(409, "conflict");
    }
    assert_eq!(team.app.cursor().await, before, "an archived stream takes no event");
    let list = team.app.get_json("/api/streams?status=archived").await;
    assert_eq!(list["streams"].as_array().unwrap().len(), 1);
    assert_eq!(team.app.get("/api/streams/999999").await.status, 404);
    team.app
        .get("/api/streams/999999/events")
        .await
        .assert_error(404, "not_found");
}

/// A deleted message stops counting and is no longer found; an edited one is found by its
/// new text only; v1 views see both live.
#[actix_rt::test]
async fn counts_totals_and_search_follow_edits_and_deletes() {
    let team = team().await;
    let (alice, bob) = (team.alice.clone(), team.bob.clone());
    let eng = team.channel("eng", &alice).await;
    // v1 ingest and the stream API write the same log.
    team.app.ingest(&[msg("eng", "carol", "carol writes zebra")]).await;
    let a = team.post(eng, &alice, "alpha giraffe").await;
    let b = team.post(eng, &bob, "beta walrus").await;
    let mut firehose = team.app.live(Transport::Ws, "messages", None, None).await;
    firehose.until_connected(WAIT).await;
    let mut alice_view = team.app.live(Transport::Sse, "user/alice", None, None).await;
    alice_view.until_connected(WAIT).await;
    let mut channels = team.app.live(Transport::Ws, "channels", None, None).await;
    channels.until_connected(WAIT).await;

    team.ok(
        "PATCH",
        &format!("/api/streams/{eng}/events/{a}"),
        &alice,
        json!({"text": "alpha okapi"}),
        200,
    )
    .await;
    assert_eq!(
        team.call("DELETE", &format!("/api/streams/{eng}/events/{b}"), &alice, Value::Null)
            .await
            .status,
        204
    );

    let totals = team.app.api_metrics().await;
    assert_eq!(totals["total_messages"], 2, "{totals}");
    let ch = team.app.get_json("/api/channels").await;
    assert_eq!(ch["channels"][0]["total_messages"], 2, "{ch}");
    let bob_user = team.app.get_json("/api/users/bob").await;
    assert_eq!(bob_user["user"]["total_messages"], 0, "{bob_user}");
    let found = |q: &str| {
        let app = &team.app;
        let q = q.to_owned();
        async move {
            let r = app.get_json(&format!("/api/search?q={q}")).await;
            r["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].as_i64().unwrap())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(found("okapi").await, [a], "the new text is found");
    assert!(found("giraffe").await.is_empty(), "the old text is not");
    assert!(found("walrus").await.is_empty(), "a deleted message is not found");
    // Prefixes of 2-4 characters are indexed on SQLite: an edit and a delete take them out.
    for q in ["gi*", "gir*", "gira*", "giraf*", "wa*", "walr*"] {
        assert!(found(q).await.is_empty(), "`{q}` found a text that is gone");
    }
    for q in ["ok*", "oka*", "okap*", "okapi*"] {
        assert_eq!(found(q).await, [a], "`{q}` finds the new text");
    }
    assert_eq!(found("zebra").await.len(), 1);
    let listed = team.app.get_json("/api/messages").await;
    let ids: Vec<i64> = listed["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    assert!(
        !ids.contains(&b) && ids.contains(&a),
        "v1 lists skip deleted messages: {ids:?}"
    );
    let counted = team.app.get_json("/api/channels").await;
    assert_eq!(counted["channels"][0]["total_messages"], 2);

    // Live: the firehose saw an edit and a delete; alice's view the edit; the channels
    // view the count going down.
    let seen = firehose.read_of_type("message_deleted", 1, WAIT).await;
    let edited = seen
        .iter()
        .find(|e| e["type"] == "message_edited")
        .expect("message_edited");
    assert_eq!(
        (&edited["message_id"], &edited["text"]),
        (&json!(a), &json!("alpha okapi"))
    );
    let deleted = seen.iter().find(|e| e["type"] == "message_deleted").unwrap();
    assert_eq!(deleted["message_id"], b);
    let mine = alice_view.read_of_type("message_edited", 1, WAIT).await;
    assert!(
        mine.iter().all(|e| e["type"] != "message_deleted"),
        "bob's delete is not alice's: {mine:?}"
    );
    let deadline = std::time::Instant::now() + WAIT;
    let mut last = Value::Null;
    while last["total_messages"] != 2 && std::time::Instant::now() < deadline {
        for e in channels.read_for(Duration::from_millis(300)).await {
            if e["type"] == "channel_count" {
                last = e;
            }
        }
    }
    assert_eq!(
        (&last["channel"], &last["total_messages"]),
        (&json!("eng"), &json!(2)),
        "{last}"
    );

    // A v1 client resuming from before the edit gets the message in its current state and
    // then the edit and the delete.
    let epoch = team.app.epoch().await;
    let mut resumed = team
        .app
        .live(Transport::Ws, "messages", Some(a - 1), Some(&epoch))
        .await;
    let (backlog, _) = resumed.until_connected(WAIT).await;
    let kinds: Vec<&str> = backlog.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["message", "message_edited", "message_deleted"], "{backlog:?}");
    assert_eq!(backlog[0]["text"], "alpha okapi");
}

/// `chatpulse token` signs what the server takes; `POST /api/session` sets the cookie the
/// pages and live connections use; a token signed with another secret is refused (expiry:
/// `auth::tests`).
#[actix_rt::test]
async fn tokens_and_the_session_cookie() {
    let team = team().await;
    let r = team
        .app
        .request("POST", "/api/session", None, Some(&json!({"token": team.alice})))
        .await;
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.json["user"], "alice");
    let cookie = r.header("set-cookie").expect("a cookie").to_owned();
    for attr in ["chatpulse_token=", "HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="] {
        assert!(cookie.contains(attr), "{attr} in {cookie}");
    }
    let foreign = user_token("another-secret-of-the-same-length", "alice", false);
    team.app
        .request("POST", "/api/session", None, Some(&json!({"token": foreign})))
        .await
        .assert_error(401, "unauthorized");
    team.call(
        "POST",
        "/api/streams",
        &foreign,
        json!({"kind": "channel", "name": "x"}),
    )
    .await
    .assert_error(401, "unauthorized");
    let out = team.app.request("DELETE", "/api/session", None, None).await;
    assert_eq!(out.status, 204);
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"), "{out}");

    // Without --token-secret no token is taken; reads stay open.
    let plain = TestApp::start().await;
    plain
        .request(
            "POST",
            "/api/streams",
            Some(&team.alice),
            Some(&json!({"kind": "channel", "name": "x"})),
        )
        .await
        .assert_error(401, "unauthorized");
    plain.ingest(&[msg("general", "ann", "hi")]).await;
    let streams = plain.get_json("/api/streams").await;
    assert_eq!(streams["streams"][0]["name"], "general");
    assert_eq!(streams["streams"][0]["kind"], "channel");
}

/// The `workspace` view: every stream's state as it changes, merged per stream; a client
/// resuming gets the streams changed since its cursor.
#[actix_rt::test]
async fn the_workspace_view_follows_every_stream() {
    let team = team().await;
    let alice = team.alice.clone();
    let mut ws = team.app.live(Transport::Ws, "workspace", None, None).await;
    ws.until_connected(WAIT).await;
    let eng = team.channel("eng", &alice).await;
    let m = team.post(eng, &alice, "it broke").await;
    let th = team
        .ok(
            "POST",
            &format!("/api/streams/{eng}/thread"),
            &alice,
            json!({"event_id": m}),
            201,
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let before_promotion = team.app.cursor().await;
    team.ok(
        "POST",
        &format!("/api/streams/{th}/promote"),
        &alice,
        json!({"kind": "incident", "name": "Outage"}),
        200,
    )
    .await;
    team.ok(
        "PATCH",
        &format!("/api/streams/{th}"),
        &alice,
        json!({"status": "resolved"}),
        200,
    )
    .await;
    team.ok("DELETE", &format!("/api/streams/{eng}"), &alice, Value::Null, 200)
        .await;

    let latest = |events: &[Value], id: i64| {
        events
            .iter()
            .rfind(|e| e["stream_id"] == id && e["type"].as_str().is_some_and(|t| t.starts_with("stream_")))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let deadline = std::time::Instant::now() + WAIT;
    let mut seen = Vec::new();
    while (latest(&seen, th)["status"] != "resolved" || latest(&seen, eng)["type"] != "stream_archived")
        && std::time::Instant::now() < deadline
    {
        seen.extend(ws.read_for(Duration::from_millis(300)).await);
    }
    let incident = latest(&seen, th);
    assert_eq!(
        (
            &incident["type"],
            &incident["kind"],
            &incident["name"],
            &incident["status"],
            &incident["parent_stream_id"]
        ),
        (
            &json!("stream_updated"),
            &json!("incident"),
            &json!("Outage"),
            &json!("resolved"),
            &json!(eng)
        ),
        "{seen:?}"
    );
    let channel = latest(&seen, eng);
    assert_eq!(
        (&channel["type"], &channel["status"], &channel["name"]),
        (&json!("stream_archived"), &json!("archived"), &json!("eng"))
    );
    assert!(
        seen.iter().all(|e| e["type"] != "event"),
        "no log events on the workspace view"
    );

    // Resuming from before the promotion: the two streams changed since, once each.
    let epoch = team.app.epoch().await;
    let mut resumed = team
        .app
        .live(Transport::Sse, "workspace", Some(before_promotion), Some(&epoch))
        .await;
    let (backlog, _) = resumed.until_connected(WAIT).await;
    let mut ids: Vec<i64> = backlog.iter().map(|e| e["stream_id"].as_i64().unwrap()).collect();
    ids.sort();
    assert_eq!(ids, [eng, th], "{backlog:?}");
}
