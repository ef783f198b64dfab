//! PROTOCOL.md section 2: `POST /api/messages`.

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, RunQueryDsl, SqliteConnection};
use serde_json::{json, Value};

use crate::common::*;

fn good(i: usize) -> Value {
    msg("general", "alice", &format!("good message {i}"))
}

/// Posts `[good, bad, good]` and asserts the bad one is named by index 1
/// and `field`, and that nothing at all was stored.
async fn assert_rejected_at_1(app: &TestApp, bad: Value, field: &str) {
    let body = json!([good(0), bad.clone(), good(2)]);
    let r = app.post_json(&body).await;
    r.assert_error(400, "invalid_message");
    assert_eq!(
        r.json["error"]["index"],
        json!(1),
        "error.index for bad message {bad}: {r}"
    );
    assert_eq!(
        r.json["error"]["field"],
        json!(field),
        "error.field for bad message {bad}: {r}"
    );
    app.assert_nothing_stored().await;
}

/// Posts one message (alone) and asserts 201 with one insert.
async fn assert_accepted(app: &TestApp, m: Value) -> i64 {
    let r = app.post_json(&m).await;
    assert_eq!(r.status, 201, "message should be accepted: {m}\n{r}");
    assert_eq!(r.json["inserted"], json!(1), "{r}");
    ids_of(&r.json)[0]
}

async fn stored(app: &TestApp, id: i64) -> Value {
    let msgs = app.stored_messages_after(id - 1).await;
    msgs.into_iter()
        .find(|m| m["id"] == json!(id))
        .unwrap_or_else(|| panic!("message {id} is not stored"))
}

#[actix_rt::test]
async fn single_object_is_stored_and_answered_with_cursor_and_epoch() {
    let app = TestApp::start().await;
    let r = app
        .post_json(&json!({"channel": "general", "user": "alice", "text": "hello"}))
        .await;
    assert_eq!(r.status, 201, "{r}");
    assert_eq!(r.json["inserted"], json!(1), "{r}");
    assert_eq!(r.json["duplicates"], json!(0), "{r}");
    let ids = ids_of(&r.json);
    assert_eq!(ids.len(), 1, "{r}");
    assert_eq!(r.json["cursor"], json!(ids[0]), "cursor is the newest stored id: {r}");
    let epoch = app.epoch().await;
    assert!(!epoch.is_empty());
    assert_eq!(r.json["epoch"], json!(epoch), "{r}");

    let m = stored(&app, ids[0]).await;
    assert_eq!(m["channel"], "general");
    assert_eq!(m["user"], "alice");
    assert_eq!(m["text"], "hello");
    let metrics = app.api_metrics().await;
    assert_eq!(metrics["total_messages"], json!(1), "{metrics}");
    assert_eq!(metrics["total_channels"], json!(1), "{metrics}");
    assert_eq!(metrics["total_users"], json!(1), "{metrics}");
}

#[actix_rt::test]
async fn json_array_is_stored_in_request_order() {
    let app = TestApp::start().await;
    let batch: Vec<Value> = (0..5)
        .map(|i| msg(&format!("c{}", i % 2), &format!("u{}", i % 3), &format!("text {i}")))
        .collect();
    let body = app.ingest(&batch).await;
    assert_eq!(body["inserted"], json!(5), "{body}");
    assert_eq!(body["duplicates"], json!(0), "{body}");
    let ids = ids_of(&body);
    assert_eq!(ids.len(), 5);
    assert_strictly_increasing("ids of one request", &ids);
    assert_eq!(body["cursor"], json!(ids[4]), "{body}");

    let stored = app.stored_messages_after(0).await;
    let texts: Vec<&str> = stored.iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["text 0", "text 1", "text 2", "text 3", "text 4"]);
    let stored_ids: Vec<i64> = stored.iter().map(|m| m["id"].as_i64().unwrap()).collect();
    assert_eq!(stored_ids, ids);
    let metrics = app.api_metrics().await;
    assert_eq!(metrics["total_channels"], json!(2), "{metrics}");
    assert_eq!(metrics["total_users"], json!(3), "{metrics}");
}

#[actix_rt::test]
async fn ndjson_is_stored() {
    let app = TestApp::start().await;
    let body = "{\"channel\":\"a\",\"user\":\"x\",\"text\":\"one\"}\n\
                {\"channel\":\"a\",\"user\":\"y\",\"text\":\"two\"}\n\
                {\"channel\":\"b\",\"user\":\"x\",\"text\":\"three\"}\n";
    let r = app.post_raw(body, "application/x-ndjson", &[]).await;
    assert_eq!(r.status, 201, "{r}");
    assert_eq!(r.json["inserted"], json!(3), "{r}");
    let ids = ids_of(&r.json);
    assert_strictly_increasing("ndjson ids", &ids);
    let stored = app.stored_messages_after(0).await;
    let texts: Vec<&str> = stored.iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["one", "two", "three"]);
}

#[actix_rt::test]
async fn ndjson_with_a_malformed_line_names_its_index_and_stores_nothing() {
    let app = TestApp::start().await;
    let body = "{\"channel\":\"a\",\"user\":\"x\",\"text\":\"one\"}\n\
                {\"channel\":\"a\",\"user\":\"y\",\"text\":\"two\"}\n\
                {\"channel\":\"b\",\"user\":\n\
                {\"channel\":\"b\",\"user\":\"x\",\"text\":\"four\"}\n";
    let r = app.post_raw(body, "application/x-ndjson", &[]).await;
    r.assert_error(400, "invalid_message");
    assert_eq!(r.json["error"]["index"], json!(2), "index of the bad line: {r}");
    app.assert_nothing_stored().await;
}

#[actix_rt::test]
async fn rejects_bad_channel() {
    let app = TestApp::start().await;
    let long = "c".repeat(65);
    for bad in [
        json!(""),
        json!(long),
        json!("has space"),
        json!("slash/no"),
        json!("ünicode"),
        json!("semi;colon"),
        json!(42),
        json!(null),
    ] {
        let mut m = good(1);
        m["channel"] = bad;
        assert_rejected_at_1(&app, m, "channel").await;
    }
    // The edges of the rule are accepted.
    assert_accepted(&app, msg(&"c".repeat(64), "alice", "x")).await;
    assert_accepted(&app, msg("Az09_.-", "alice", "x")).await;
    assert_accepted(&app, msg("c", "alice", "x")).await;
}

#[actix_rt::test]
async fn rejects_bad_user() {
    let app = TestApp::start().await;
    let long = "u".repeat(65);
    for bad in [
        json!(""),
        json!(long),
        json!("two words"),
        json!("at@sign"),
        json!("émile"),
        json!(7),
        json!(["alice"]),
    ] {
        let mut m = good(1);
        m["user"] = bad;
        assert_rejected_at_1(&app, m, "user").await;
    }
    assert_accepted(&app, msg("general", &"u".repeat(64), "x")).await;
    assert_accepted(&app, msg("general", "Z.9-_a", "x")).await;
}

#[actix_rt::test]
async fn rejects_bad_text() {
    let app = TestApp::start().await;
    for bad in [json!(""), json!("a".repeat(4097)), json!(12), json!({"t": 1})] {
        let mut m = good(1);
        m["text"] = bad;
        assert_rejected_at_1(&app, m, "text").await;
    }
    let id = assert_accepted(&app, msg("general", "alice", &"a".repeat(4096))).await;
    assert_eq!(stored(&app, id).await["text"].as_str().unwrap().len(), 4096);
}

#[actix_rt::test]
async fn text_length_counts_unicode_scalar_values_not_bytes() {
    let app = TestApp::start().await;
    // 4097 scalar values, 4 bytes each: rejected.
    let mut m = good(1);
    m["text"] = json!("😀".repeat(4097));
    assert_rejected_at_1(&app, m, "text").await;
    // 4096 four-byte scalar values (16 KiB) and 4096 two-byte ones: accepted.
    let id = assert_accepted(&app, msg("general", "alice", &"😀".repeat(4096))).await;
    assert_eq!(stored(&app, id).await["text"].as_str().unwrap().chars().count(), 4096);
    assert_accepted(&app, msg("general", "alice", &"é".repeat(4096))).await;
}

#[actix_rt::test]
async fn rejects_bad_sent_at() {
    let app = TestApp::start().await;
    for bad in [
        json!("yesterday"),
        json!("2026-01-16"),
        json!("16/01/2026 09:30"),
        json!("2026-13-01T00:00:00Z"),
        json!("2026-01-16T09:30:00"), // no offset
        json!(1768555800),
    ] {
        let mut m = good(1);
        m["sent_at"] = bad;
        assert_rejected_at_1(&app, m, "sent_at").await;
    }
}

#[actix_rt::test]
async fn sent_at_is_kept_as_an_instant_and_defaults_to_ingest_time() {
    let app = TestApp::start().await;
    let mut m = msg("general", "alice", "utc");
    m["sent_at"] = json!("2026-01-16T09:30:00.123Z");
    let a = assert_accepted(&app, m).await;
    let mut m = msg("general", "alice", "offset");
    m["sent_at"] = json!("2026-01-16T11:30:00.123+02:00");
    let b = assert_accepted(&app, m).await;
    for id in [a, b] {
        let s = stored(&app, id).await;
        let sent = s["sent_at"].as_str().expect("sent_at string").to_string();
        assert!(sent.ends_with('Z'), "times are UTC with a Z: {sent}");
        let t = chrono::DateTime::parse_from_rfc3339(&sent)
            .unwrap_or_else(|e| panic!("sent_at `{sent}` is not RFC 3339: {e}"));
        assert_eq!(
            t.timestamp_millis(),
            1_768_555_800_123,
            "message {id} sent_at {sent} is not 2026-01-16T09:30:00.123Z"
        );
    }

    let before = chrono::Utc::now().timestamp_millis();
    let c = assert_accepted(&app, msg("general", "alice", "no time")).await;
    let after = chrono::Utc::now().timestamp_millis();
    let sent = stored(&app, c).await["sent_at"].as_str().unwrap().to_string();
    let t = chrono::DateTime::parse_from_rfc3339(&sent)
        .unwrap_or_else(|e| panic!("default sent_at `{sent}` is not RFC 3339: {e}"))
        .timestamp_millis();
    assert!(
        t >= before - 1000 && t <= after + 1000,
        "default sent_at {sent} is not the time of ingest"
    );
}

#[actix_rt::test]
async fn rejects_bad_tags() {
    let app = TestApp::start().await;
    let too_many: serde_json::Map<String, Value> = (0..65).map(|i| (format!("k{i}"), json!("v"))).collect();
    let too_big = json!({"a": "x".repeat(5000), "b": "y".repeat(5000)});
    for bad in [
        Value::Object(too_many),
        too_big,
        json!({"n": 1}),
        json!({"b": true}),
        json!({"nested": {"a": "b"}}),
        json!(["a", "b"]),
        json!("a=b"),
    ] {
        let mut m = good(1);
        m["tags"] = bad;
        assert_rejected_at_1(&app, m, "tags").await;
    }
    let sixty_four: serde_json::Map<String, Value> =
        (0..64).map(|i| (format!("k{i}"), json!(format!("v{i}")))).collect();
    let mut m = msg("general", "alice", "64 tags");
    m["tags"] = Value::Object(sixty_four.clone());
    let id = assert_accepted(&app, m).await;
    assert_eq!(stored(&app, id).await["tags"], Value::Object(sixty_four));

    let mut m = msg("general", "alice", "7000 bytes of tags");
    m["tags"] = json!({"big": "z".repeat(7000)});
    assert_accepted(&app, m).await;
}

#[actix_rt::test]
async fn rejects_long_display_name() {
    let app = TestApp::start().await;
    for bad in [json!("d".repeat(65)), json!("é".repeat(65)), json!(5)] {
        let mut m = good(1);
        m["display_name"] = bad;
        assert_rejected_at_1(&app, m, "display_name").await;
    }
    let mut m = msg("general", "alice", "named");
    m["display_name"] = json!("Ä".repeat(64));
    let id = assert_accepted(&app, m).await;
    assert_eq!(stored(&app, id).await["display_name"], json!("Ä".repeat(64)));
    let user = app.get_json("/api/users/alice").await;
    assert_eq!(user["user"]["display_name"], json!("Ä".repeat(64)), "{user}");
}

#[actix_rt::test]
async fn rejects_bad_event_id() {
    let app = TestApp::start().await;
    for bad in [json!(""), json!("e".repeat(129)), json!(99)] {
        let mut m = good(1);
        m["event_id"] = bad;
        assert_rejected_at_1(&app, m, "event_id").await;
    }
    let mut m = msg("general", "alice", "keyed");
    m["event_id"] = json!("e".repeat(128));
    assert_accepted(&app, m).await;
}

#[actix_rt::test]
async fn rejects_missing_required_fields() {
    let app = TestApp::start().await;
    for field in ["channel", "user", "text"] {
        let mut m = msg("general", "alice", "hi");
        m.as_object_mut().unwrap().remove(field);
        // A single object: its index is 0.
        let r = app.post_json(&m).await;
        r.assert_error(400, "invalid_message");
        assert_eq!(r.json["error"]["index"], json!(0), "missing {field}: {r}");
        assert_eq!(r.json["error"]["field"], json!(field), "missing {field}: {r}");
        app.assert_nothing_stored().await;
        // And inside a batch.
        assert_rejected_at_1(&app, m, field).await;
    }
}

#[actix_rt::test]
async fn rejects_malformed_json() {
    let app = TestApp::start().await;
    for body in [
        "{\"channel\": \"general\", \"user\": ",
        "not json at all",
        "[{\"channel\":\"a\",\"user\":\"b\",\"text\":\"c\"},]",
        "",
    ] {
        let r = app.post_raw(body, "application/json", &[]).await;
        r.assert_error(400, "invalid_message");
        app.assert_nothing_stored().await;
    }
}

#[actix_rt::test]
async fn rejects_json_that_is_not_a_message() {
    let app = TestApp::start().await;
    for body in ["42", "\"text\"", "null", "[1, 2]"] {
        let r = app.post_raw(body, "application/json", &[]).await;
        r.assert_error(400, "invalid_message");
        app.assert_nothing_stored().await;
    }
}

#[actix_rt::test]
async fn one_bad_message_in_a_batch_of_100_stores_nothing() {
    let app = TestApp::start().await;
    let mut batch: Vec<Value> = (0..100)
        .map(|i| msg(&format!("ch{}", i % 7), &format!("user{}", i % 13), &format!("m {i}")))
        .collect();
    batch[57]["text"] = json!("");
    let r = app.post_json(&Value::Array(batch.clone())).await;
    r.assert_error(400, "invalid_message");
    assert_eq!(r.json["error"]["index"], json!(57), "{r}");
    assert_eq!(r.json["error"]["field"], json!("text"), "{r}");
    app.assert_nothing_stored().await;

    batch[57]["text"] = json!("fixed");
    let body = app.ingest(&batch).await;
    assert_eq!(body["inserted"], json!(100), "{body}");
    assert_eq!(app.total_messages().await, 100);
}

#[actix_rt::test]
async fn same_event_id_in_two_requests_is_stored_once() {
    let app = TestApp::start().await;
    let mut m = msg("general", "alice", "once");
    m["event_id"] = json!("evt-1");
    let first = app.post_json(&m).await;
    assert_eq!(first.status, 201, "{first}");
    assert_eq!(first.json["inserted"], json!(1), "{first}");
    let original = ids_of(&first.json)[0];

    let second = app.post_json(&m).await;
    assert_eq!(second.status, 201, "a duplicate is still accepted: {second}");
    assert_eq!(second.json["inserted"], json!(0), "{second}");
    assert_eq!(second.json["duplicates"], json!(1), "{second}");
    assert_eq!(ids_of(&second.json), vec![original], "the original id: {second}");
    assert_eq!(app.total_messages().await, 1);

    // Mixed: one new, one duplicate, ids in request order.
    let mut fresh = msg("general", "bob", "new");
    fresh["event_id"] = json!("evt-2");
    let third = app.post_json(&json!([fresh, m])).await;
    assert_eq!(third.status, 201, "{third}");
    assert_eq!(third.json["inserted"], json!(1), "{third}");
    assert_eq!(third.json["duplicates"], json!(1), "{third}");
    let ids = ids_of(&third.json);
    assert_eq!(ids.len(), 2, "{third}");
    assert!(ids[0] > original, "{third}");
    assert_eq!(ids[1], original, "{third}");
    assert_eq!(app.total_messages().await, 2);
}

#[actix_rt::test]
async fn duplicate_event_id_within_one_request_is_stored_once() {
    let app = TestApp::start().await;
    let mut a = msg("general", "alice", "a");
    a["event_id"] = json!("k1");
    let mut b = msg("general", "alice", "b");
    b["event_id"] = json!("k2");
    let mut a_again = msg("general", "alice", "a again");
    a_again["event_id"] = json!("k1");
    let r = app.post_json(&json!([a, b, a_again])).await;
    assert_eq!(r.status, 201, "{r}");
    assert_eq!(r.json["inserted"], json!(2), "{r}");
    assert_eq!(r.json["duplicates"], json!(1), "{r}");
    let ids = ids_of(&r.json);
    assert_eq!(ids.len(), 3, "{r}");
    assert_ne!(ids[0], ids[1], "{r}");
    assert_eq!(ids[2], ids[0], "the duplicate answers the original id: {r}");
    assert_eq!(app.total_messages().await, 2);
    let stored = app.stored_messages_after(0).await;
    let texts: Vec<&str> = stored.iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["a", "b"]);
}

#[actix_rt::test]
async fn ingest_token_is_required_for_writes_only() {
    let app = TestApp::builder().ingest_token("s3cret-token").start().await;
    let body = serde_json::to_vec(&msg("general", "alice", "hi")).unwrap();

    let r = app.post_raw(body.clone(), "application/json", &[]).await;
    r.assert_error(401, "unauthorized");
    assert_eq!(
        r.header("www-authenticate"),
        Some("Bearer realm=\"chatpulse\""),
        "a 401 says how to authenticate: {r}"
    );
    let r = app
        .post_raw(
            body.clone(),
            "application/json",
            &[("Authorization", "Bearer wrong-token")],
        )
        .await;
    r.assert_error(401, "unauthorized");
    let r = app
        .post_raw(body.clone(), "application/json", &[("Authorization", "s3cret-token")])
        .await;
    r.assert_error(401, "unauthorized");
    app.assert_nothing_stored().await;

    let r = app
        .post_raw(body, "application/json", &[("Authorization", "Bearer s3cret-token")])
        .await;
    assert_eq!(r.status, 201, "{r}");

    // Reads stay open.
    assert_eq!(app.total_messages().await, 1);
    let msgs = app.get_json("/api/messages").await;
    assert_eq!(msgs["messages"].as_array().unwrap().len(), 1, "{msgs}");
    assert_eq!(app.get("/api/channels").await.status, 200);
    let mut live = app.ws("messages", None, None).await;
    live.until_connected(WAIT).await;
}

#[actix_rt::test]
async fn more_messages_than_max_batch_is_too_large() {
    let app = TestApp::builder().max_batch(10).start().await;
    let r = app
        .post_json(&Value::Array(numbered("general", "alice", "m", 11)))
        .await;
    r.assert_error(413, "too_large");
    app.assert_nothing_stored().await;

    let ndjson: String = numbered("general", "alice", "n", 11)
        .iter()
        .map(|m| format!("{m}\n"))
        .collect();
    let r = app.post_raw(ndjson, "application/x-ndjson", &[]).await;
    r.assert_error(413, "too_large");
    app.assert_nothing_stored().await;

    let body = app.ingest(&numbered("general", "alice", "m", 10)).await;
    assert_eq!(body["inserted"], json!(10), "{body}");
}

#[actix_rt::test]
async fn body_over_max_body_bytes_is_too_large() {
    let app = TestApp::builder().max_body_bytes(2048).start().await;
    let big = msg("general", "alice", &"x".repeat(3000));
    let r = app.post_json(&big).await;
    r.assert_error(413, "too_large");
    app.assert_nothing_stored().await;

    let small = msg("general", "alice", &"x".repeat(1000));
    let r = app.post_json(&small).await;
    assert_eq!(r.status, 201, "a body under the limit: {r}");
}

#[actix_rt::test]
async fn other_content_types_are_unsupported() {
    let app = TestApp::start().await;
    let body = serde_json::to_vec(&msg("general", "alice", "hi")).unwrap();
    for ct in ["text/plain", "application/x-www-form-urlencoded"] {
        let r = app.post_raw(body.clone(), ct, &[]).await;
        r.assert_error(415, "unsupported_media_type");
    }
    app.assert_nothing_stored().await;
}

/// Holds SQLite's write lock from outside so ingested messages pile up in the
/// server's queue, then checks that a full queue answers 503 at once.
#[actix_rt::test]
async fn full_ingest_queue_answers_503_with_retry_after() {
    if skip_on_postgres("it holds SQLite's write lock from outside") {
        return;
    }
    let app = TestApp::builder().ingest_queue(10).start().await;
    // Make sure the server is fully up (and its schema exists) before locking.
    assert_eq!(app.total_messages().await, 0);
    let depth_metric = "chatpulse_ingest_queue_depth";
    assert_eq!(app.metric(depth_metric).await, 0.0);

    let db = app.db_path().to_str().unwrap().to_string();
    let mut lock = SqliteConnection::establish(&db).expect("open the test database");
    lock.batch_execute("PRAGMA busy_timeout = 5000;").unwrap();
    diesel::sql_query("BEGIN IMMEDIATE")
        .execute(&mut lock)
        .expect("take the write lock");
    let locked_at = Instant::now();

    let api = app.api.clone();
    let first = actix_rt::spawn(async move {
        api.post_json(&Value::Array(numbered("general", "alice", "first", 5)))
            .await
    });
    let api = app.api.clone();
    let second = actix_rt::spawn(async move {
        api.post_json(&Value::Array(numbered("general", "bob", "second", 5)))
            .await
    });

    // The server's busy timeout is 5 s: everything below must happen well
    // inside it, or the blocked commit fails for a reason this test is not
    // about. These waits only bound a hang; they assert nothing about speed.
    let mut depth = 0.0;
    while Instant::now() < locked_at + Duration::from_millis(2500) {
        depth = app.metric(depth_metric).await;
        if depth >= 10.0 {
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
    if depth < 10.0 {
        diesel::sql_query("COMMIT").execute(&mut lock).unwrap();
        panic!("{depth_metric} reached {depth}, expected 10 while the store is locked");
    }

    let api = app.api.clone();
    let mut third = actix_rt::spawn(async move { api.post_json(&json!(msg("general", "carol", "third"))).await });
    let third_res = actix_rt::time::timeout(Duration::from_millis(2000), &mut third).await;
    diesel::sql_query("COMMIT")
        .execute(&mut lock)
        .expect("release the write lock");
    drop(lock);
    let third_res = match third_res {
        Ok(r) => r.unwrap(),
        Err(_) => {
            let late = third.await.unwrap();
            panic!(
                "with a full queue the request waited for the store instead of \
                 answering 503; after the lock was released it got {late}"
            );
        }
    };
    third_res.assert_error(503, "overloaded");
    let retry = third_res
        .header("Retry-After")
        .unwrap_or_else(|| panic!("503 without Retry-After: {third_res:?}"));
    assert!(
        retry.trim().parse::<u64>().is_ok(),
        "Retry-After should be a number of seconds: {retry}"
    );

    let first = first.await.unwrap();
    let second = second.await.unwrap();
    assert_eq!(first.status, 201, "first request after the lock: {first}");
    assert_eq!(second.status, 201, "second request after the lock: {second}");
    assert_eq!(app.total_messages().await, 10);
    let texts: Vec<String> = app
        .stored_messages_after(0)
        .await
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_string())
        .collect();
    assert!(!texts.iter().any(|t| t == "third"), "the refused message was stored");
    let _ = app
        .wait_metric(depth_metric, WAIT, |d| d == 0.0)
        .await
        .map_err(|d| panic!("{depth_metric} stays at {d} after everything committed"));
}

#[actix_rt::test]
async fn acknowledged_messages_survive_kill_9() {
    let mut app = TestApp::start().await;
    let epoch = app.epoch().await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.extend(
            app.ingest_ids(&numbered(&format!("ch{i}"), "alice", "durable", 100))
                .await,
        );
    }
    app.kill9();
    app.restart().await;
    assert_same_ids("messages after kill -9 and restart", &app.stored_ids().await, &ids);
    assert_eq!(app.epoch().await, epoch, "the epoch belongs to the database");
    let m = app.api_metrics().await;
    assert_eq!(m["total_messages"], json!(300), "{m}");
    assert_eq!(m["total_channels"], json!(3), "{m}");
    assert_eq!(m["total_users"], json!(1), "{m}");
}

#[actix_rt::test]
async fn unknown_and_repeated_fields_are_refused_by_name_and_store_nothing() {
    let app = TestApp::start().await;
    for (body, index, field) in [
        (
            r#"{"channel":"general","user":"alice","text":"hi","sentAt":"2026-01-01T00:00:00Z"}"#,
            0,
            "sentAt",
        ),
        (
            r#"[{"channel":"general","user":"alice","text":"ok"},{"channel":"general","user":"alice","text":"hi","tag":"x"}]"#,
            1,
            "tag",
        ),
        (
            r#"{"channel":"bad name","channel":"ok","user":"alice","text":"hi"}"#,
            0,
            "channel",
        ),
        (
            r#"[{"channel":"general","user":"alice","text":"ok"},{"channel":"general","user":"alice","text":"hi"},{"channel":}]"#,
            2,
            "body",
        ),
    ] {
        let r = app.post_raw(body.to_owned(), "application/json", &[]).await;
        r.assert_error(400, "invalid_message");
        assert_eq!(
            (r.json["error"]["index"].as_u64(), r.json["error"]["field"].as_str()),
            (Some(index), Some(field)),
            "{body}: {r}"
        );
    }
    app.assert_nothing_stored().await;
}

#[actix_rt::test]
async fn dot_names_and_times_outside_years_1_to_9999_are_refused() {
    let app = TestApp::start().await;
    for (channel, user) in [(".", "alice"), ("..", "alice"), ("general", "."), ("general", "..")] {
        let r = app.post_json(&msg(channel, user, "hi")).await;
        r.assert_error(400, "invalid_message");
        let field = if channel.starts_with('.') { "channel" } else { "user" };
        assert_eq!(r.json["error"]["field"], json!(field), "{channel}/{user}: {r}");
    }
    let mut m = msg("general", "alice", "late");
    m["sent_at"] = json!("9999-12-31T23:30:00-01:00");
    let r = app.post_json(&m).await;
    r.assert_error(400, "invalid_message");
    assert_eq!(r.json["error"]["field"], json!("sent_at"), "{r}");
    app.assert_nothing_stored().await;
}

/// A writer that announces a body and sends none of it yet.
struct SlowWriter {
    stream: std::net::TcpStream,
    rest: Vec<u8>,
}

impl SlowWriter {
    fn start(addr: &str, body: &[u8]) -> SlowWriter {
        use std::io::Write;
        let mut stream = std::net::TcpStream::connect(addr).expect("connect");
        let head = format!(
            "POST /api/messages HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        SlowWriter {
            stream,
            rest: body.to_vec(),
        }
    }

    /// The whole answer, if the server starts one within `wait` while the body is not
    /// sent (a refusal before reading it).
    fn early_answer(&mut self, wait: Duration) -> Option<String> {
        use std::io::Read;
        self.stream.set_read_timeout(Some(wait)).unwrap();
        let mut answer = Vec::new();
        let mut buf = [0u8; 4096];
        // Until the server closes, or its answer is whole (a head and a short JSON body).
        while let Ok(n @ 1..) = self.stream.read(&mut buf) {
            answer.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&answer);
            if text.contains("\r\n\r\n") && text.trim_end().ends_with('}') {
                break;
            }
            // An answer has begun: the rest of it is on its way.
            self.stream.set_read_timeout(Some(WAIT)).unwrap();
        }
        (!answer.is_empty()).then(|| String::from_utf8_lossy(&answer).into_owned())
    }

    /// Sends the rest and reads the status line.
    fn finish(mut self) -> String {
        use std::io::{Read, Write};
        self.stream.set_read_timeout(None).unwrap();
        self.stream.write_all(&self.rest).unwrap();
        let mut answer = String::new();
        self.stream.read_to_string(&mut answer).unwrap();
        answer.lines().next().unwrap_or_default().to_owned()
    }
}

#[actix_rt::test]
async fn bodies_being_read_are_bounded_in_bytes_and_refused_early() {
    let app = TestApp::builder()
        .max_body_bytes(1 << 20)
        .max_bodies_bytes(2 << 20)
        .start()
        .await;
    let big: Vec<Value> = (0..220)
        .map(|i| msg("general", "alice", &format!("{i} {}", "x".repeat(4000))))
        .collect();
    let body = serde_json::to_vec(&big).unwrap();
    assert!(body.len() > 850_000 && body.len() < 1 << 20, "{}", body.len());
    let addr = app.host_port().to_owned();
    // Three bodies announced at once, not one byte of them sent: each handler holds its
    // body's size from the moment its headers are read, so the two read first hold their
    // places and the third, whichever it is, is refused at once.
    let (writers, answers) = actix_rt::task::spawn_blocking(move || {
        let mut writers: Vec<SlowWriter> = (0..3).map(|_| SlowWriter::start(&addr, &body)).collect();
        let deadline = Instant::now() + WAIT;
        let mut answers: Vec<Option<String>> = vec![None, None, None];
        while answers.iter().all(Option::is_none) && Instant::now() < deadline {
            for (w, a) in writers.iter_mut().zip(answers.iter_mut()) {
                *a = w.early_answer(Duration::from_millis(50));
            }
        }
        // The two others are waiting for their bodies: nothing more comes for them.
        for (w, a) in writers.iter_mut().zip(answers.iter_mut()) {
            if a.is_none() {
                *a = w.early_answer(Duration::from_millis(500));
            }
        }
        (writers, answers)
    })
    .await
    .unwrap();
    let refused: Vec<&String> = answers.iter().flatten().collect();
    assert_eq!(
        refused.len(),
        1,
        "one of three bodies refused before it was sent: {answers:?}"
    );
    let refused = refused[0];
    let (head, json) = refused.split_once("\r\n\r\n").expect("a head and a body");
    assert!(head.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(
        head.to_ascii_lowercase().contains("\r\nretry-after: 1\r\n"),
        "{refused}"
    );
    let json: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {refused}"));
    assert_eq!(json["error"]["code"], "overloaded", "{refused}");
    // The two that hold their places are read and stored once they are sent.
    let held: Vec<SlowWriter> = writers
        .into_iter()
        .zip(&answers)
        .filter(|(_, a)| a.is_none())
        .map(|(w, _)| w)
        .collect();
    let statuses = actix_rt::task::spawn_blocking(move || held.into_iter().map(SlowWriter::finish).collect::<Vec<_>>())
        .await
        .unwrap();
    assert!(
        statuses.iter().all(|s| s.contains("201")),
        "the two bodies held: {statuses:?}"
    );
    // Their bytes are given back: the same body is taken now.
    let body = serde_json::to_vec(&big).unwrap();
    let r = app.post_raw(body, "application/json", &[]).await;
    assert_eq!(r.status, 201, "{r}");
    assert_eq!(app.total_messages().await, 3 * 220);
}
