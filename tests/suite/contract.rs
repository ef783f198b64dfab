//! The OpenAPI document (`/api/openapi.json`) against the server it describes: every error
//! it documents is one a real request gets, in the documented content type and, for JSON,
//! the documented error shape with a documented code. schemathesis (`.ci/contract`) checks
//! the other direction: that whatever the server answers is documented.

use std::collections::BTreeSet;

use chatpulse::error::ErrorCode;
use serde_json::{json, Value};

use crate::common::*;

const TOKEN: &str = "contract-token";
const SECRET: &str = "contract-token-secret";
const AUTH: &[(&str, &str)] = &[("Authorization", "Bearer contract-token")];

/// How to provoke one documented error.
struct Provoke {
    method: &'static str,
    path: &'static str,
    status: u16,
    request: &'static str,
    headers: &'static [(&'static str, &'static str)],
    body: Option<(&'static str, String)>,
}

fn get(path: &'static str, status: u16, request: &'static str) -> Provoke {
    Provoke {
        method: "get",
        path,
        status,
        request,
        headers: &[],
        body: None,
    }
}

fn post(
    path: &'static str,
    status: u16,
    headers: &'static [(&'static str, &'static str)],
    content_type: &'static str,
    body: String,
) -> Provoke {
    Provoke {
        method: "post",
        path,
        status,
        request: path,
        headers,
        body: Some((content_type, body)),
    }
}

/// Any method, path template, request and JSON body (`None`: no body).
fn call(
    method: &'static str,
    path: &'static str,
    request: &'static str,
    status: u16,
    headers: &'static [(&'static str, &'static str)],
    body: Option<Value>,
) -> Provoke {
    Provoke {
        method,
        path,
        status,
        request,
        headers,
        body: body.map(|b| ("application/json", b.to_string())),
    }
}

/// The `Authorization` header of a user token, for the life of the test.
fn bearer(token: String) -> &'static [(&'static str, &'static str)] {
    let value: &'static str = Box::leak(format!("Bearer {token}").into_boxed_str());
    Box::leak(vec![("Authorization", value)].into_boxed_slice())
}

fn delete(
    path: &'static str,
    status: u16,
    request: &'static str,
    headers: &'static [(&'static str, &'static str)],
) -> Provoke {
    Provoke {
        method: "delete",
        headers,
        ..get(path, status, request)
    }
}

/// Documented errors a plain server cannot be brought to in this test, and the tests that
/// provoke them.
const PROVED_ELSEWHERE: &[(&str, &str, u16, &str)] = &[
    (
        "post",
        "/api/messages",
        503,
        "ingest::full_ingest_queue_answers_503_with_retry_after, \
         ingest::bodies_being_read_are_bounded_in_bytes_and_refused_early, \
         edge_cases::a_read_only_database_answers_read_only_and_healthz_says_so",
    ),
    (
        "post",
        "/api/messages",
        507,
        "store::tests::errors_that_say_the_store_takes_no_writes_are_recognised (disk full: storage_full)",
    ),
];

#[actix_rt::test]
async fn every_documented_error_is_real_and_in_its_documented_shape() {
    let app = TestApp::builder()
        .ingest_token(TOKEN)
        .max_batch(2)
        .token_secret(SECRET)
        .raw_args(["--max-file-bytes", "12"])
        .start()
        .await;
    app.api
        .post_raw(
            json!({"channel": "general", "user": "alice", "text": "hello"}).to_string(),
            "application/json",
            AUTH,
        )
        .await;
    let doc = app.get_json("/api/openapi.json").await;
    assert_eq!(doc["openapi"], "3.1.0", "{doc}");
    let codes: BTreeSet<&str> = doc["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .expect("ErrorCode is an enum")
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let ours: BTreeSet<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(codes, ours, "the document's error codes are the server's");

    // Streams (PROTOCOL.md section 8): #general is stream 1 (v1 ingest), #eng 2 with message
    // 3, a thread 3 branched from it, #old 4 archived.
    let alice = bearer(user_token(SECRET, "alice", false));
    let bob = bearer(user_token(SECRET, "bob", false));
    let bad: &'static [(&str, &str)] = &[("Authorization", "Bearer not-a-token")];
    for (method, path, body) in [
        ("POST", "/api/streams", json!({"kind": "channel", "name": "eng"})),
        ("POST", "/api/streams/2/events", json!({"text": "hello"})),
        ("POST", "/api/streams/2/thread", json!({"event_id": 3})),
        ("POST", "/api/streams", json!({"kind": "channel", "name": "old"})),
        ("DELETE", "/api/streams/4", Value::Null),
    ] {
        let token = alice[0].1.trim_start_matches("Bearer ");
        let body = (!body.is_null()).then_some(body);
        let r = app.request(method, path, Some(token), body.as_ref()).await;
        assert!(r.status < 300, "{method} {path}: {r}");
    }
    // A poll (open), a closed poll and a file in #eng (issue 17).
    let token = alice[0].1.trim_start_matches("Bearer ");
    let mut made = Vec::new();
    for _ in 0..2 {
        let r = app
            .request(
                "POST",
                "/api/streams/2/polls",
                Some(token),
                Some(&json!({"question": "q", "options": ["a", "b"]})),
            )
            .await;
        assert_eq!(r.status, 201, "{r}");
        made.push(r.json["event_id"].as_i64().unwrap());
    }
    let r = app
        .request(
            "POST",
            &format!("/api/streams/2/polls/{}/close", made[1]),
            Some(token),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{r}");
    let r = app
        .api
        .post_to("/api/streams/2/files?name=f.txt", "0123456789", "text/plain", alice)
        .await;
    assert_eq!(r.status, 201, "{r}");
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let (poll, closed) = (
        leak(format!("/api/streams/2/polls/{}", made[0])),
        leak(format!("/api/streams/2/polls/{}", made[1])),
    );
    let file = leak(r.json["file"]["url"].as_str().unwrap().to_owned());
    let vote = |p: &str| leak(format!("{p}/vote"));
    let close = |p: &str| leak(format!("{p}/close"));
    let stored = app.total_messages().await;
    let text = || Some(json!({"text": "x"}));
    let options = |o: Value| Some(json!({ "options": o }));
    let question = || Some(json!({"question": "q", "options": ["a", "b"]}));
    const POLL: &str = "/api/streams/{id}/polls";
    const ONE_POLL: &str = "/api/streams/{id}/polls/{event_id}";
    const VOTE: &str = "/api/streams/{id}/polls/{event_id}/vote";
    const CLOSE: &str = "/api/streams/{id}/polls/{event_id}/close";
    const FILES: &str = "/api/streams/{id}/files";
    const ONE_FILE: &str = "/api/streams/{id}/files/{event_id}";
    let polls_files = [
        call(
            "post",
            POLL,
            "/api/streams/2/polls",
            400,
            alice,
            Some(json!({"question": "q", "options": ["a"]})),
        ),
        call("post", POLL, "/api/streams/2/polls", 401, &[], question()),
        call("post", POLL, "/api/streams/999/polls", 404, alice, question()),
        call("post", POLL, "/api/streams/4/polls", 409, alice, question()),
        Provoke {
            request: "/api/streams/2/polls",
            ..post(POLL, 415, alice, "text/plain", "{}".into())
        },
        get(ONE_POLL, 400, "/api/streams/2/polls/x"),
        Provoke {
            headers: bad,
            ..get(ONE_POLL, 401, poll)
        },
        get(ONE_POLL, 404, "/api/streams/2/polls/999999"),
        call("post", VOTE, vote(poll), 400, alice, options(json!([5]))),
        call("post", VOTE, vote(poll), 401, &[], options(json!([0]))),
        call(
            "post",
            VOTE,
            "/api/streams/2/polls/999999/vote",
            404,
            alice,
            options(json!([0])),
        ),
        call("post", VOTE, vote(closed), 409, alice, options(json!([0]))),
        Provoke {
            request: vote(poll),
            ..post(VOTE, 415, alice, "text/plain", "{}".into())
        },
        call("post", CLOSE, "/api/streams/2/polls/x/close", 400, alice, None),
        call("post", CLOSE, close(poll), 401, &[], None),
        call("post", CLOSE, close(poll), 403, bob, None),
        call("post", CLOSE, "/api/streams/2/polls/999999/close", 404, alice, None),
        call("post", CLOSE, close(closed), 409, alice, None),
        Provoke {
            request: "/api/streams/2/files",
            ..post(FILES, 400, alice, "text/plain", "x".into())
        },
        Provoke {
            request: "/api/streams/2/files?name=f.txt",
            ..post(FILES, 401, &[], "text/plain", "x".into())
        },
        Provoke {
            request: "/api/streams/999/files?name=f.txt",
            ..post(FILES, 404, alice, "text/plain", "x".into())
        },
        Provoke {
            request: "/api/streams/4/files?name=f.txt",
            ..post(FILES, 409, alice, "text/plain", "x".into())
        },
        Provoke {
            request: "/api/streams/2/files?name=f.txt",
            ..post(FILES, 413, alice, "text/plain", "0123456789abc".into())
        },
        get(ONE_FILE, 400, "/api/streams/2/files/x"),
        Provoke {
            headers: bad,
            ..get(ONE_FILE, 401, file)
        },
        get(ONE_FILE, 404, "/api/streams/2/files/999999"),
        Provoke {
            headers: &[("Range", "bytes=999-")],
            ..get(ONE_FILE, 416, file)
        },
    ];
    let streams = [
        get("/api/streams", 400, "/api/streams?limit=0"),
        Provoke {
            headers: bad,
            ..get("/api/streams", 401, "/api/streams")
        },
        call(
            "post",
            "/api/streams",
            "/api/streams",
            400,
            alice,
            Some(json!({"kind": "channel", "name": "a b"})),
        ),
        call(
            "post",
            "/api/streams",
            "/api/streams",
            401,
            &[],
            Some(json!({"kind": "channel", "name": "x"})),
        ),
        call(
            "post",
            "/api/streams",
            "/api/streams",
            409,
            alice,
            Some(json!({"kind": "channel", "name": "eng"})),
        ),
        post("/api/streams", 415, alice, "text/plain", "{}".into()),
        get("/api/streams/{id}", 400, "/api/streams/x"),
        Provoke {
            headers: bad,
            ..get("/api/streams/{id}", 401, "/api/streams/2")
        },
        get("/api/streams/{id}", 404, "/api/streams/999"),
        call(
            "patch",
            "/api/streams/{id}",
            "/api/streams/2",
            400,
            alice,
            Some(json!({"name": "a b"})),
        ),
        call(
            "patch",
            "/api/streams/{id}",
            "/api/streams/2",
            401,
            &[],
            Some(json!({"description": "d"})),
        ),
        call(
            "patch",
            "/api/streams/{id}",
            "/api/streams/2",
            403,
            bob,
            Some(json!({"description": "d"})),
        ),
        call(
            "patch",
            "/api/streams/{id}",
            "/api/streams/999",
            404,
            alice,
            Some(json!({"description": "d"})),
        ),
        call(
            "patch",
            "/api/streams/{id}",
            "/api/streams/4",
            409,
            alice,
            Some(json!({"description": "d"})),
        ),
        Provoke {
            method: "patch",
            request: "/api/streams/2",
            ..post("/api/streams/{id}", 415, alice, "text/plain", "{}".into())
        },
        call("delete", "/api/streams/{id}", "/api/streams/x", 400, alice, None),
        call("delete", "/api/streams/{id}", "/api/streams/2", 401, &[], None),
        call("delete", "/api/streams/{id}", "/api/streams/2", 403, bob, None),
        call("delete", "/api/streams/{id}", "/api/streams/999", 404, alice, None),
        call("delete", "/api/streams/{id}", "/api/streams/4", 409, alice, None),
        get("/api/streams/{id}/events", 400, "/api/streams/2/events?limit=0"),
        Provoke {
            headers: bad,
            ..get("/api/streams/{id}/events", 401, "/api/streams/2/events")
        },
        get("/api/streams/{id}/events", 404, "/api/streams/999/events"),
        call(
            "post",
            "/api/streams/{id}/events",
            "/api/streams/2/events",
            400,
            alice,
            Some(json!({"text": ""})),
        ),
        call(
            "post",
            "/api/streams/{id}/events",
            "/api/streams/2/events",
            401,
            &[],
            text(),
        ),
        call(
            "post",
            "/api/streams/{id}/events",
            "/api/streams/999/events",
            404,
            alice,
            text(),
        ),
        call(
            "post",
            "/api/streams/{id}/events",
            "/api/streams/4/events",
            409,
            alice,
            text(),
        ),
        Provoke {
            request: "/api/streams/2/events",
            ..post("/api/streams/{id}/events", 415, alice, "text/plain", "{}".into())
        },
        call(
            "patch",
            "/api/streams/{id}/events/{event_id}",
            "/api/streams/2/events/3",
            400,
            alice,
            Some(json!({"text": ""})),
        ),
        call(
            "patch",
            "/api/streams/{id}/events/{event_id}",
            "/api/streams/2/events/3",
            401,
            &[],
            text(),
        ),
        call(
            "patch",
            "/api/streams/{id}/events/{event_id}",
            "/api/streams/2/events/3",
            403,
            bob,
            text(),
        ),
        call(
            "patch",
            "/api/streams/{id}/events/{event_id}",
            "/api/streams/2/events/999",
            404,
            alice,
            text(),
        ),
        call(
            "patch",
            "/api/streams/{id}/events/{event_id}",
            "/api/streams/4/events/3",
            409,
            alice,
            text(),
        ),
        Provoke {
            method: "patch",
            request: "/api/streams/2/events/3",
            ..post(
                "/api/streams/{id}/events/{event_id}",
                415,
                alice,
                "text/plain",
                "{}".into(),
            )
        },
        call(
            "delete",
            "/api/streams/{id}/events/{event_id}",
            "/api/streams/2/events/x",
            400,
            alice,
            None,
        ),
        call(
            "delete",
            "/api/streams/{id}/events/{event_id}",
            "/api/streams/2/events/3",
            401,
            &[],
            None,
        ),
        call(
            "delete",
            "/api/streams/{id}/events/{event_id}",
            "/api/streams/2/events/3",
            403,
            bob,
            None,
        ),
        call(
            "delete",
            "/api/streams/{id}/events/{event_id}",
            "/api/streams/2/events/999",
            404,
            alice,
            None,
        ),
        call(
            "delete",
            "/api/streams/{id}/events/{event_id}",
            "/api/streams/4/events/3",
            409,
            alice,
            None,
        ),
        call(
            "post",
            "/api/streams/{id}/thread",
            "/api/streams/2/thread",
            400,
            alice,
            Some(json!({"event_id": "x"})),
        ),
        call(
            "post",
            "/api/streams/{id}/thread",
            "/api/streams/2/thread",
            401,
            &[],
            Some(json!({"event_id": 3})),
        ),
        call(
            "post",
            "/api/streams/{id}/thread",
            "/api/streams/2/thread",
            404,
            alice,
            Some(json!({"event_id": 999})),
        ),
        call(
            "post",
            "/api/streams/{id}/thread",
            "/api/streams/4/thread",
            409,
            alice,
            Some(json!({"event_id": 3})),
        ),
        Provoke {
            request: "/api/streams/2/thread",
            ..post("/api/streams/{id}/thread", 415, alice, "text/plain", "{}".into())
        },
        call(
            "post",
            "/api/streams/{id}/promote",
            "/api/streams/3/promote",
            400,
            alice,
            Some(json!({"kind": "channel", "name": "a b"})),
        ),
        call(
            "post",
            "/api/streams/{id}/promote",
            "/api/streams/3/promote",
            401,
            &[],
            Some(json!({"kind": "incident", "name": "I"})),
        ),
        call(
            "post",
            "/api/streams/{id}/promote",
            "/api/streams/3/promote",
            403,
            bob,
            Some(json!({"kind": "incident", "name": "I"})),
        ),
        call(
            "post",
            "/api/streams/{id}/promote",
            "/api/streams/999/promote",
            404,
            alice,
            Some(json!({"kind": "incident", "name": "I"})),
        ),
        call(
            "post",
            "/api/streams/{id}/promote",
            "/api/streams/2/promote",
            409,
            alice,
            Some(json!({"kind": "incident", "name": "I"})),
        ),
        Provoke {
            request: "/api/streams/3/promote",
            ..post("/api/streams/{id}/promote", 415, alice, "text/plain", "{}".into())
        },
        call(
            "post",
            "/api/streams/{id}/share",
            "/api/streams/2/share",
            400,
            alice,
            Some(json!({"event_id": 3, "context": ""})),
        ),
        call(
            "post",
            "/api/streams/{id}/share",
            "/api/streams/2/share",
            401,
            &[],
            Some(json!({"event_id": 3})),
        ),
        call(
            "post",
            "/api/streams/{id}/share",
            "/api/streams/2/share",
            404,
            alice,
            Some(json!({"event_id": 999})),
        ),
        call(
            "post",
            "/api/streams/{id}/share",
            "/api/streams/4/share",
            409,
            alice,
            Some(json!({"event_id": 3})),
        ),
        Provoke {
            request: "/api/streams/2/share",
            ..post("/api/streams/{id}/share", 415, alice, "text/plain", "{}".into())
        },
        call(
            "post",
            "/api/streams/{id}/join",
            "/api/streams/x/join",
            400,
            alice,
            None,
        ),
        call("post", "/api/streams/{id}/join", "/api/streams/2/join", 401, &[], None),
        call(
            "post",
            "/api/streams/{id}/join",
            "/api/streams/999/join",
            404,
            alice,
            None,
        ),
        call(
            "post",
            "/api/streams/{id}/join",
            "/api/streams/4/join",
            409,
            alice,
            None,
        ),
        call(
            "post",
            "/api/streams/{id}/leave",
            "/api/streams/x/leave",
            400,
            alice,
            None,
        ),
        call(
            "post",
            "/api/streams/{id}/leave",
            "/api/streams/2/leave",
            401,
            &[],
            None,
        ),
        call(
            "post",
            "/api/streams/{id}/leave",
            "/api/streams/999/leave",
            404,
            alice,
            None,
        ),
        call(
            "post",
            "/api/streams/{id}/leave",
            "/api/streams/2/leave",
            409,
            bob,
            None,
        ),
        get("/api/streams/{id}/members", 400, "/api/streams/x/members"),
        Provoke {
            headers: bad,
            ..get("/api/streams/{id}/members", 401, "/api/streams/2/members")
        },
        get("/api/streams/{id}/members", 404, "/api/streams/999/members"),
        call(
            "post",
            "/api/streams/{id}/members",
            "/api/streams/2/members",
            400,
            alice,
            Some(json!({"user": "a b"})),
        ),
        call(
            "post",
            "/api/streams/{id}/members",
            "/api/streams/2/members",
            401,
            &[],
            Some(json!({"user": "carol"})),
        ),
        call(
            "post",
            "/api/streams/{id}/members",
            "/api/streams/2/members",
            403,
            bob,
            Some(json!({"user": "carol"})),
        ),
        call(
            "post",
            "/api/streams/{id}/members",
            "/api/streams/999/members",
            404,
            alice,
            Some(json!({"user": "carol"})),
        ),
        call(
            "post",
            "/api/streams/{id}/members",
            "/api/streams/4/members",
            409,
            alice,
            Some(json!({"user": "carol"})),
        ),
        Provoke {
            request: "/api/streams/2/members",
            ..post("/api/streams/{id}/members", 415, alice, "text/plain", "{}".into())
        },
        call("post", "/api/session", "/api/session", 400, &[], Some(json!({}))),
        call(
            "post",
            "/api/session",
            "/api/session",
            401,
            &[],
            Some(json!({"token": "not-a-token"})),
        ),
        post("/api/session", 415, &[], "text/plain", "{}".into()),
        // People (issue 13): bob is no member of #eng (2), whose message is 3.
        call(
            "post",
            "/api/streams/{id}/read",
            "/api/streams/x/read",
            400,
            alice,
            Some(json!({"event_id": 3})),
        ),
        call(
            "post",
            "/api/streams/{id}/read",
            "/api/streams/2/read",
            401,
            &[],
            Some(json!({"event_id": 3})),
        ),
        call(
            "post",
            "/api/streams/{id}/read",
            "/api/streams/999/read",
            404,
            alice,
            Some(json!({"event_id": 3})),
        ),
        call(
            "post",
            "/api/streams/{id}/read",
            "/api/streams/2/read",
            409,
            bob,
            Some(json!({"event_id": 3})),
        ),
        Provoke {
            request: "/api/streams/2/read",
            ..post("/api/streams/{id}/read", 415, alice, "text/plain", "{}".into())
        },
        call(
            "post",
            "/api/streams/{id}/unread",
            "/api/streams/x/unread",
            400,
            alice,
            Some(json!({"event_id": 3})),
        ),
        call(
            "post",
            "/api/streams/{id}/unread",
            "/api/streams/2/unread",
            401,
            &[],
            Some(json!({"event_id": 3})),
        ),
        call(
            "post",
            "/api/streams/{id}/unread",
            "/api/streams/2/unread",
            404,
            alice,
            Some(json!({"event_id": 999})),
        ),
        call(
            "post",
            "/api/streams/{id}/unread",
            "/api/streams/2/unread",
            409,
            bob,
            Some(json!({"event_id": 3})),
        ),
        Provoke {
            request: "/api/streams/2/unread",
            ..post("/api/streams/{id}/unread", 415, alice, "text/plain", "{}".into())
        },
        get("/api/bootstrap", 401, "/api/bootstrap"),
        call(
            "get",
            "/api/notifications",
            "/api/notifications?limit=0",
            400,
            alice,
            None,
        ),
        get("/api/notifications", 401, "/api/notifications"),
        get("/live/ws", 401, "/live/ws?view=me"),
        get("/live/sse", 401, "/live/sse?view=me"),
    ];

    let ok = json!({"channel": "general", "user": "alice", "text": "hi"});
    let provocations = [
        post(
            "/api/messages",
            400,
            AUTH,
            "application/json",
            json!({"channel": "no spaces", "user": "a", "text": "t"}).to_string(),
        ),
        post("/api/messages", 401, &[], "application/json", ok.to_string()),
        post(
            "/api/messages",
            413,
            AUTH,
            "application/json",
            json!([ok, ok, ok]).to_string(),
        ),
        post("/api/messages", 415, AUTH, "text/plain", ok.to_string()),
        post(
            "/api/irc/channels",
            400,
            AUTH,
            "application/json",
            json!({"name": "no spaces"}).to_string(),
        ),
        post(
            "/api/irc/channels",
            401,
            &[],
            "application/json",
            json!({"name": "dallas"}).to_string(),
        ),
        post(
            "/api/irc/channels",
            415,
            AUTH,
            "text/plain",
            json!({"name": "dallas"}).to_string(),
        ),
        delete("/api/irc/channels/{name}", 400, "/api/irc/channels/no%20spaces", AUTH),
        delete("/api/irc/channels/{name}", 401, "/api/irc/channels/dallas", &[]),
        delete("/api/irc/channels/{name}", 404, "/api/irc/channels/dallas", AUTH),
        get("/api/messages", 400, "/api/messages?limit=0"),
        get("/api/channels", 400, "/api/channels?sort=loudest"),
        get("/api/users", 400, "/api/users?offset=-1"),
        get("/api/users/{name}", 400, "/api/users/alice?limit=1001"),
        get("/api/users/{name}", 404, "/api/users/nobody"),
        get("/api/search", 400, "/api/search?q=%22open"),
        get("/api/export", 400, "/api/export?since=yesterday"),
        get("/api/activity", 400, "/api/activity?window=30d&bucket=minute"),
        get("/api/top", 400, "/api/top?channel=a&user=b"),
        get("/live/ws", 400, "/live/ws?view=nowhere"),
        Provoke {
            headers: &[("Origin", "http://evil.example")],
            ..get("/live/ws", 403, "/live/ws?view=home")
        },
        get("/live/sse", 400, "/live/sse?view=home&after_id=-1"),
        get("/messages", 400, "/messages?before_id=x"),
        get("/channels", 400, "/channels?offset=-1"),
        get("/users", 400, "/users?sort=loudest"),
        get("/search", 400, "/search?q=%22open"),
        get("/", 400, "/?window=2w"),
        get("/channels/{name}", 400, "/channels/nowhere?window=2w"),
        get("/users/{name}", 400, "/users/nobody?window=2w"),
        get("/channels/{name}", 404, "/channels/nowhere"),
        get("/users/{name}", 404, "/users/nobody"),
        get("/static/{file}", 404, "/static/nope.js"),
        get("/streams/{id}", 404, "/streams/999999"),
        get("/streams/{id}", 400, "/streams/1?before_id=0"),
    ];

    let client = awc::Client::default();
    let provocations = provocations.into_iter().chain(streams).chain(polls_files);
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for status in op["responses"].as_object().unwrap().keys() {
                let status: u16 = status.parse().unwrap();
                if status >= 400 {
                    documented.insert((method.as_str(), path.as_str(), status));
                }
            }
        }
    }
    let mut provoked = BTreeSet::new();
    for p in provocations {
        let documented_as = &doc["paths"][p.path][p.method]["responses"][p.status.to_string()];
        assert!(
            documented_as.is_object(),
            "{} {} {} is provoked here but not documented",
            p.method,
            p.path,
            p.status
        );
        provoked.insert((p.method, p.path, p.status));
        let mut req = match p.method {
            "post" => client.post(app.api.url(p.request)),
            "delete" => client.delete(app.api.url(p.request)),
            "patch" => client.patch(app.api.url(p.request)),
            _ => client.get(app.api.url(p.request)),
        };
        for h in p.headers {
            req = req.insert_header(*h);
        }
        let mut res = match &p.body {
            Some((content_type, body)) => req.content_type(*content_type).send_body(body.clone()).await,
            None => req.send().await,
        }
        .unwrap_or_else(|e| panic!("{} {}: {e}", p.method, p.request));
        let what = format!("{} {}", p.method, p.request);
        assert_eq!(res.status().as_u16(), p.status, "{what}");
        let content_type = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = res.body().await.unwrap();
        let media = documented_as["content"].as_object().expect("an error has a body");
        assert!(
            media.keys().any(|m| m == &content_type),
            "{what}: answered {content_type}, documented {:?}",
            media.keys().collect::<Vec<_>>()
        );
        if content_type == "application/json" {
            assert_eq!(
                media["application/json"]["schema"]["$ref"], "#/components/schemas/ErrorBody",
                "{what}"
            );
            let body: Value = serde_json::from_slice(&body).unwrap();
            let error = body["error"].as_object().unwrap_or_else(|| panic!("{what}: {body}"));
            assert!(codes.contains(error["code"].as_str().unwrap()), "{what}: {body}");
            assert!(
                error["message"].as_str().is_some_and(|m| !m.is_empty()),
                "{what}: {body}"
            );
            let allowed = ["code", "message", "index", "field"];
            assert!(error.keys().all(|k| allowed.contains(&k.as_str())), "{what}: {body}");
        }
    }
    for (method, path, status, test) in PROVED_ELSEWHERE {
        assert!(
            documented.contains(&(*method, *path, *status)),
            "{method} {path} {status} ({test}) is no longer documented"
        );
        provoked.insert((method, path, *status));
    }
    let unproven: Vec<_> = documented.difference(&provoked).collect();
    assert!(
        unproven.is_empty(),
        "documented errors no request here provokes: {unproven:?}"
    );
    assert_eq!(app.total_messages().await, stored, "a refused request stored something");
}
