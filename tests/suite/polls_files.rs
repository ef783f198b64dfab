//! Polls and files (issue 17): exact tallies merged on the stream view and caught up,
//! vote rules; files round-trip byte for byte with ranges, limits that store nothing,
//! visibility, safe serving, and delete.

use std::time::Duration;

use serde_json::{json, Value};

use crate::common::*;

const WAIT: Duration = Duration::from_secs(10);
const SECRET: &str = "polls-files-test-secret-01";

/// Makes `user`'s tokens once: spawning the binary per request would be slow.
fn tokens(prefix: &str, n: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|i| {
            let name = format!("{prefix}{i:02}");
            let token = user_token(SECRET, &name, false);
            (name, token)
        })
        .collect()
}

async fn create_channel(app: &TestApp, token: &str, body: Value) -> i64 {
    let r = app.request("POST", "/api/streams", Some(token), Some(&body)).await;
    assert_eq!(r.status, 201, "{r}");
    r.json["id"].as_i64().unwrap()
}

async fn vote(app: &TestApp, stream: i64, poll: i64, token: &str, options: Value) -> Resp {
    app.request(
        "POST",
        &format!("/api/streams/{stream}/polls/{poll}/vote"),
        Some(token),
        Some(&json!({ "options": options })),
    )
    .await
}

fn counts(v: &Value) -> Vec<i64> {
    v["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_i64().unwrap())
        .collect()
}

/// Many people vote at once and change their votes: the tally is exact, the stream view
/// gets far fewer `poll_tally` envelopes than votes with the last one exact, a catch-up
/// replays the latest, and every rule answers its error.
#[actix_rt::test]
async fn votes_give_exact_tallies_merged_live_and_caught_up() {
    let app = TestApp::builder().token_secret(SECRET).start().await;
    let alice = user_token(SECRET, "alice", false);
    let stream = create_channel(&app, &alice, json!({"kind": "channel", "name": "release"})).await;
    let r = app
        .request(
            "POST",
            &format!("/api/streams/{stream}/polls"),
            Some(&alice),
            Some(&json!({"question": "Ship Friday?", "options": ["yes", "no", "later"]})),
        )
        .await;
    assert_eq!(r.status, 201, "{r}");
    assert_eq!(r.json["event_type"], "poll");
    assert_eq!(r.json["poll"]["options"], json!(["yes", "no", "later"]));
    assert_eq!(counts(&r.json["poll"]), [0, 0, 0]);
    let poll = r.json["event_id"].as_i64().unwrap();
    let before_votes = app.cursor().await;

    let mut live = app.ws(&format!("stream/{stream}"), None, None).await;
    live.until_connected(WAIT).await;

    // 50 people, 20 votes each, all at once: 1,000 votes; each person's last one counts.
    let people = tokens("v", 50);
    let mut expected = [0i64; 3];
    let mut tasks = Vec::new();
    for (i, (_, token)) in people.iter().enumerate() {
        let (api, token) = (app.api.clone(), token.clone());
        expected[(i + 19) % 3] += 1;
        tasks.push(actix_rt::spawn(async move {
            for round in 0..20usize {
                let choice = (i + round) % 3;
                let r = api
                    .request(
                        "POST",
                        &format!("/api/streams/{stream}/polls/{poll}/vote"),
                        Some(&token),
                        Some(&json!({"options": [choice]})),
                    )
                    .await;
                assert_eq!(r.status, 200, "{r}");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let read = app.get_json(&format!("/api/streams/{stream}/polls/{poll}")).await;
    assert_eq!(counts(&read), expected, "{read}");
    assert_eq!(read["voters"], 50);
    assert_eq!(read["votes"].as_array().unwrap().len(), 50);
    assert_eq!(read["votes"][0], json!({"user": "v00", "options": [19 % 3]}), "{read}");

    // The view: tallies merged, the last one exact, no vote as an event.
    let mut tallies = Vec::new();
    let deadline = std::time::Instant::now() + WAIT;
    while tallies.last().is_none_or(|t: &Value| counts(t) != expected) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        assert!(!left.is_zero(), "no exact tally came: {:?}", tallies.last());
        for e in live.read_of_type("poll_tally", 1, left).await {
            assert_ne!(e["event_type"], "poll_vote", "a vote was sent as an event: {e}");
            if e["type"] == "poll_tally" {
                assert_eq!(e["event_id"], poll, "{e}");
                tallies.push(e);
            }
        }
    }
    assert!(
        tallies.len() < 200,
        "{} tallies for 1,000 votes: they are not merged",
        tallies.len()
    );
    assert_eq!(tallies.last().unwrap()["voters"], 50);

    // A catch-up from before the votes replays the latest tally, once.
    let mut again = app
        .ws(
            &format!("stream/{stream}"),
            Some(before_votes),
            Some(&app.epoch().await),
        )
        .await;
    let (caught, _) = again.until_connected(WAIT).await;
    let replayed: Vec<&Value> = caught.iter().filter(|e| e["type"] == "poll_tally").collect();
    assert_eq!(replayed.len(), 1, "{caught:?}");
    assert_eq!(counts(replayed[0]), expected);
    assert!(caught.iter().all(|e| e["event_type"] != "poll_vote"), "{caught:?}");

    // Changing a vote moves it.
    let (_, token) = &people[0];
    let moved = vote(&app, stream, poll, token, json!([(19 + 1) % 3])).await;
    let mut after = expected;
    after[19 % 3] -= 1;
    after[(19 + 1) % 3] += 1;
    assert_eq!(counts(&moved.json), after, "{moved}");

    // The rules.
    vote(&app, stream, poll, token, json!([0, 1]))
        .await
        .assert_error(400, "invalid_request");
    vote(&app, stream, poll, token, json!([3]))
        .await
        .assert_error(400, "invalid_request");
    vote(&app, stream, poll, token, json!([]))
        .await
        .assert_error(400, "invalid_request");
    vote(&app, stream, poll, token, json!([-1]))
        .await
        .assert_error(400, "invalid_request");
    vote(&app, stream, 999_999, token, json!([0]))
        .await
        .assert_error(404, "not_found");
    for bad in [
        json!({"question": "q", "options": ["only"]}),
        json!({"question": "q", "options": ["a", "a"]}),
        json!({"question": "", "options": ["a", "b"]}),
        json!({"question": "q", "options": ["a", "b"], "closes_at": "2001-01-01T00:00:00Z"}),
    ] {
        let r = app
            .request(
                "POST",
                &format!("/api/streams/{stream}/polls"),
                Some(&alice),
                Some(&bad),
            )
            .await;
        assert_eq!(r.status, 400, "{bad}: {r}");
    }
    let close = |token: String| {
        let app = &app;
        async move {
            app.request(
                "POST",
                &format!("/api/streams/{stream}/polls/{poll}/close"),
                Some(&token),
                None,
            )
            .await
        }
    };
    close(token.clone()).await.assert_error(403, "forbidden");
    let closed = close(alice.clone()).await;
    assert_eq!(closed.status, 200, "{closed}");
    assert!(closed.json["closed_at"].is_string(), "{closed}");
    vote(&app, stream, poll, token, json!([0]))
        .await
        .assert_error(409, "conflict");
    close(alice.clone()).await.assert_error(409, "conflict");
    assert_eq!(
        counts(&app.get_json(&format!("/api/streams/{stream}/polls/{poll}")).await),
        after
    );

    // A poll in a private channel is its members' only.
    let private = create_channel(
        &app,
        &alice,
        json!({"kind": "channel", "name": "core", "visibility": "private"}),
    )
    .await;
    let r = app
        .request(
            "POST",
            &format!("/api/streams/{private}/polls"),
            Some(&alice),
            Some(&json!({"question": "Roll back?", "options": ["now", "wait"], "multiple": true})),
        )
        .await;
    assert_eq!(r.status, 201, "{r}");
    let secret_poll = r.json["event_id"].as_i64().unwrap();
    vote(&app, private, secret_poll, token, json!([0]))
        .await
        .assert_error(404, "not_found");
    app.get(&format!("/api/streams/{private}/polls/{secret_poll}"))
        .await
        .assert_error(404, "not_found");
    let both = vote(&app, private, secret_poll, &alice, json!([1, 0])).await;
    assert_eq!(counts(&both.json), [1, 1], "{both}");

    // Deleting the poll deletes it and its votes.
    let r = app
        .request(
            "DELETE",
            &format!("/api/streams/{stream}/events/{poll}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{r}");
    app.get(&format!("/api/streams/{stream}/polls/{poll}"))
        .await
        .assert_error(404, "not_found");
}

async fn upload(app: &TestApp, stream: i64, token: &str, name: &str, kind: &str, body: Vec<u8>) -> (u16, Value) {
    let url = app.api.url(&format!("/api/streams/{stream}/files?name={}", enc(name)));
    let res = awc::Client::default()
        .post(url)
        .insert_header(("Authorization", format!("Bearer {token}")))
        .insert_header(("Content-Type", kind))
        .send_body(body)
        .await;
    let mut res = res.expect("the upload was answered");
    let text = res.body().limit(1 << 20).await.unwrap();
    (
        res.status().as_u16(),
        serde_json::from_slice(&text).unwrap_or(Value::Null),
    )
}

/// A download: status, headers, bytes.
async fn download(
    app: &TestApp,
    url: &str,
    token: Option<&str>,
    range: Option<&str>,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut req = awc::Client::default().get(app.api.url(url));
    if let Some(t) = token {
        req = req.insert_header(("Authorization", format!("Bearer {t}")));
    }
    if let Some(r) = range {
        req = req.insert_header(("Range", r));
    }
    let mut res = req.send().await.expect("the download was answered");
    let headers = res
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let body = res.body().limit(64 << 20).await.unwrap().to_vec();
    (res.status().as_u16(), headers, body)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[actix_rt::test]
async fn files_round_trip_with_ranges_limits_and_visibility() {
    let app = TestApp::builder()
        .token_secret(SECRET)
        .raw_args(["--max-file-bytes", "1000000", "--max-files-bytes", "2400000"])
        .start()
        .await;
    let alice = user_token(SECRET, "alice", false);
    let eve = user_token(SECRET, "eve", false);
    let stream = create_channel(&app, &alice, json!({"kind": "channel", "name": "incident-7"})).await;

    // 700 kB across three 256 KiB chunks, byte for byte, whole and in ranges.
    let bytes = random_bytes(700_000, 7);
    let (status, event) = upload(
        &app,
        stream,
        &alice,
        "crash dump é.bin",
        "application/octet-stream",
        bytes.clone(),
    )
    .await;
    assert_eq!(status, 201, "{event}");
    assert_eq!(event["event_type"], "file");
    let file = &event["file"];
    assert_eq!(
        (&file["name"], &file["size"]),
        (&json!("crash dump é.bin"), &json!(700_000))
    );
    let url = file["url"].as_str().unwrap().to_owned();
    let (status, headers, body) = download(&app, &url, None, None).await;
    assert_eq!(status, 200);
    assert!(body == bytes, "the download differs from the upload");
    assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));
    assert!(header(&headers, "content-disposition").is_some_and(|d| d.starts_with("attachment;")));
    assert_eq!(header(&headers, "accept-ranges"), Some("bytes"));
    for (range, from, to) in [
        ("bytes=262000-262300", 262_000, 262_301),
        ("bytes=699990-", 699_990, 700_000),
        ("bytes=-7", 699_993, 700_000),
        ("bytes=0-0", 0, 1),
        ("bytes=600000-999999", 600_000, 700_000),
    ] {
        let (status, headers, body) = download(&app, &url, None, Some(range)).await;
        assert_eq!(status, 206, "{range}");
        assert!(body == bytes[from..to], "{range}: other bytes");
        assert_eq!(
            header(&headers, "content-range"),
            Some(format!("bytes {from}-{}/700000", to - 1).as_str()),
            "{range}"
        );
    }
    let (status, headers, _) = download(&app, &url, None, Some("bytes=700000-")).await;
    assert_eq!(
        (status, header(&headers, "content-range")),
        (416, Some("bytes */700000"))
    );

    // Over the file limit, declared or not: 413 and nothing kept.
    let events_before = app.get_json(&format!("/api/streams/{stream}/events")).await["events"]
        .as_array()
        .unwrap()
        .len();
    let (status, body) = upload(
        &app,
        stream,
        &alice,
        "big.bin",
        "application/octet-stream",
        vec![1; 1_000_001],
    )
    .await;
    assert_eq!((status, &body["error"]["code"]), (413, &json!("too_large")), "{body}");
    // A chunked body says no length: it is cut where it passes the limit.
    let chunks =
        futures_util::stream::iter((0..8).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![2u8; 200_000]))));
    let res = awc::Client::default()
        .post(app.api.url(&format!("/api/streams/{stream}/files?name=streamed.bin")))
        .insert_header(("Authorization", format!("Bearer {alice}")))
        .send_stream(chunks)
        .await;
    if let Ok(res) = res {
        assert_eq!(res.status().as_u16(), 413);
    }
    // Within the file limit, over the total: 700 kB + 900 kB fit, another 900 kB does not.
    let (status, _) = upload(
        &app,
        stream,
        &alice,
        "b.bin",
        "application/octet-stream",
        vec![3; 900_000],
    )
    .await;
    assert_eq!(status, 201);
    let (status, body) = upload(
        &app,
        stream,
        &alice,
        "c.bin",
        "application/octet-stream",
        vec![4; 900_000],
    )
    .await;
    assert_eq!((status, &body["error"]["code"]), (413, &json!("too_large")), "{body}");
    let events = app.get_json(&format!("/api/streams/{stream}/events")).await;
    let events = events["events"].as_array().unwrap();
    assert_eq!(events.len(), events_before + 1, "a refused upload left an event");

    // Bad names and types.
    let (status, _) = upload(&app, stream, &alice, "a/b", "text/plain", vec![1]).await;
    assert_eq!(status, 400);
    let (status, _) = upload(&app, stream, &alice, "ok.txt", "not a type", vec![1]).await;
    assert_eq!(status, 400);

    // HTML is an attachment, never rendered in place; a PNG may be shown inline.
    let (status, html) = upload(
        &app,
        stream,
        &alice,
        "x.html",
        "text/html",
        b"<script>alert(1)</script>".to_vec(),
    )
    .await;
    assert_eq!(status, 201);
    let html_url = html["file"]["url"].as_str().unwrap();
    let (_, headers, _) = download(&app, &format!("{html_url}?inline=true"), None, None).await;
    assert!(header(&headers, "content-disposition").is_some_and(|d| d.starts_with("attachment;")));
    assert!(header(&headers, "content-security-policy").is_some_and(|c| c.contains("sandbox")));

    // A private channel's file: its members only, 404 to others as for a file never there.
    let private = create_channel(
        &app,
        &alice,
        json!({"kind": "channel", "name": "core", "visibility": "private"}),
    )
    .await;
    let (status, secret) = upload(&app, private, &alice, "plan.txt", "text/plain", b"the plan".to_vec()).await;
    assert_eq!(status, 201, "{secret}");
    let secret_url = secret["file"]["url"].as_str().unwrap();
    assert_eq!(download(&app, secret_url, Some(&alice), None).await.2, b"the plan");
    let missing = download(&app, &format!("/api/streams/{private}/files/999999"), Some(&eve), None).await;
    for who in [Some(eve.as_str()), None] {
        let (status, _, body) = download(&app, secret_url, who, None).await;
        assert_eq!((status, &body), (404, &missing.2), "an outsider got the file");
    }
    let (status, _) = upload(&app, private, &eve, "intruder.txt", "text/plain", b"x".to_vec()).await;
    assert_eq!(status, 404);

    // Deleting the event deletes the bytes.
    let event_id = event["event_id"].as_i64().unwrap();
    let r = app
        .request(
            "DELETE",
            &format!("/api/streams/{stream}/events/{event_id}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{r}");
    assert_eq!(download(&app, &url, None, None).await.0, 404);
    // Its room is free again: 700 kB went.
    let (status, _) = upload(
        &app,
        stream,
        &alice,
        "c.bin",
        "application/octet-stream",
        vec![4; 900_000],
    )
    .await;
    assert_eq!(status, 201);
}
