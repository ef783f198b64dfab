//! Search that says its total and pages with a stable cursor; exports that round-trip
//! (issue 16, items 5 and 8).

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::common::*;

fn ids(page: &Value) -> Vec<i64> {
    page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect()
}

/// 120 matches in pages of 50, while 10 more arrive between the pages: the pages hold the
/// 120 that were there at the first, each once, newest first; the total counts every match.
#[actix_rt::test]
async fn search_pages_with_a_stable_cursor_and_says_its_total() {
    let app = TestApp::start().await;
    let mut matching = app.ingest_ids(&numbered("general", "ann", "kiwi", 120)).await;
    app.ingest(&numbered("general", "ben", "plum", 30)).await;
    let first = app.get_json("/api/search?q=kiwi&limit=50").await;
    assert_eq!(
        (&first["total"], &first["total_exact"]),
        (&json!(120), &json!(true)),
        "{first}"
    );
    app.ingest(&numbered("general", "ann", "kiwi late", 10)).await;
    let mut seen = ids(&first);
    let mut next = first["next_before_id"].clone();
    let mut pages = 1;
    while let Some(before) = next.as_i64() {
        let page = app
            .get_json(&format!("/api/search?q=kiwi&limit=50&before_id={before}"))
            .await;
        assert_eq!(page["total"], 130, "the total follows what arrived: {page}");
        seen.extend(ids(&page));
        next = page["next_before_id"].clone();
        pages += 1;
    }
    assert_eq!(pages, 3);
    matching.reverse();
    assert_eq!(
        seen, matching,
        "every match of the first page's time, once, newest first"
    );

    // Past the counting cap the total says "more than".
    for _ in 0..3 {
        app.ingest(&numbered("bulk", "cat", "fig", 3400)).await;
    }
    let many = app.get_json("/api/search?q=fig&limit=1").await;
    assert_eq!(
        (&many["total"], &many["total_exact"]),
        (&json!(chatpulse::store::SEARCH_COUNT_MAX), &json!(false)),
        "{many}"
    );
    let none = app.get_json("/api/search?q=kiwi&channel=nowhere").await;
    assert_eq!((&none["total"], &none["next_before_id"]), (&json!(0), &Value::Null));
}

/// Reads an export as lines.
async fn export(app: &TestApp, query: &str) -> Vec<String> {
    let r = app.get(&format!("/api/export{query}")).await;
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.header("content-type"), Some("application/x-ndjson"));
    assert!(
        r.header("content-disposition").unwrap().starts_with("attachment"),
        "{r:?}"
    );
    r.text.lines().map(str::to_owned).collect()
}

/// An export of 2,500 messages (three pages) posted to a fresh server and exported again is
/// the same, line for line; importing it twice stores nothing twice; filters narrow it.
#[actix_rt::test]
async fn an_export_round_trips_into_a_fresh_server() {
    const SECRET: &str = "export-test-secret-0123";
    let a = TestApp::builder().token_secret(SECRET).start().await;
    let mut sent: Vec<Value> = numbered("general", "ann", "apple", 1200);
    sent.extend(numbered("random", "ben", "pear", 1200));
    for (i, m) in sent.iter_mut().enumerate().step_by(7) {
        m["tags"] = json!({"badge": format!("b{i}")});
        m["display_name"] = json!("Ann A.");
    }
    for m in sent.iter_mut().step_by(11) {
        m["event_id"] = json!(format!("own-{}", m["text"].as_str().unwrap()));
    }
    sent.push(json!({"channel": "general", "user": "zoe", "text": "naïve “quotes” \\ and \u{1F600}", "sent_at": "2026-01-02T03:04:05.678Z"}));
    for chunk in sent.chunks(1000) {
        a.ingest(chunk).await;
    }
    // A thread's message is the stream API's, not the ingest format's: not exported.
    let token = user_token(SECRET, "ann", false);
    let thread = a
        .request(
            "POST",
            "/api/streams/1/thread",
            Some(&token),
            Some(&json!({"event_id": 1})),
        )
        .await;
    assert_eq!(thread.status, 201, "{thread}");
    let path = format!("/api/streams/{}/events", thread.json["id"]);
    let reply = a
        .request("POST", &path, Some(&token), Some(&json!({"text": "in a thread"})))
        .await;
    assert_eq!(reply.status, 201, "{reply}");
    let lines = export(&a, "").await;
    assert_eq!(lines.len(), sent.len());
    let parsed: Vec<Value> = lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(parsed.last().unwrap()["text"], "naïve “quotes” \\ and \u{1F600}");
    assert_eq!(parsed.last().unwrap()["sent_at"], "2026-01-02T03:04:05.678Z");
    assert_eq!(parsed[7]["tags"], json!({"badge": "b7"}));
    assert_eq!(
        parsed[11]["event_id"],
        json!(format!("own-{}", sent[11]["text"].as_str().unwrap()))
    );

    let b = TestApp::start().await;
    let body = lines.join("\n") + "\n";
    for _ in 0..2 {
        let r = b.post_raw(body.clone(), "application/x-ndjson", &[]).await;
        assert_eq!(r.status, 201, "{r}");
    }
    assert_eq!(
        b.total_messages().await,
        sent.len() as i64,
        "the second import stored nothing"
    );
    assert_eq!(export(&b, "").await, lines, "exported again, the same lines");

    let apples = export(&a, "?channel=general&q=apple").await;
    assert_eq!(apples.len(), 1200);
    let ben = export(&a, "?user=ben&since=2000-01-01T00:00:00Z").await;
    assert!(ben.len() == 1200 && ben.iter().all(|l| l.contains(r#""user":"ben""#)));
    assert!(export(&a, "?channel=nowhere").await.is_empty());
    a.get("/api/export?q=%22open").await.assert_error(400, "invalid_query");
    a.get("/api/export?since=yesterday")
        .await
        .assert_error(400, "invalid_parameter");
    let distinct: BTreeSet<&String> = lines.iter().collect();
    assert_eq!(distinct.len(), lines.len(), "every message once");
}

/// `/api/users` and `/api/channels` find names by their start, in any case (`_` is a
/// character, not a wildcard), and every list says its total.
#[actix_rt::test]
async fn lists_find_names_by_their_start_and_say_their_total() {
    let app = TestApp::start().await;
    let mut sent = Vec::new();
    for (channel, user) in [
        ("general", "alice"),
        ("gaming", "alicia"),
        ("Go_lang", "Albert"),
        ("random", "bob"),
        ("random", "al_x"),
        ("random", "alXy"),
    ] {
        sent.push(msg(channel, user, "hi"));
    }
    app.ingest(&sent).await;
    // Sorted here: the database's collation orders names its own way.
    let names = |v: &Value, list: &str, key: &str| -> Vec<String> {
        let mut n: Vec<String> = v[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r[key].as_str().unwrap().to_owned())
            .collect();
        n.sort();
        n
    };
    let al = app.get_json("/api/users?prefix=AL&sort=name").await;
    assert_eq!(
        names(&al, "users", "username"),
        ["Albert", "alXy", "al_x", "alice", "alicia"],
        "{al}"
    );
    assert_eq!(al["total"], 5);
    let under = app.get_json("/api/users?prefix=al_").await;
    assert_eq!(
        names(&under, "users", "username"),
        ["al_x"],
        "`_` is a character: {under}"
    );
    let page = app.get_json("/api/users?prefix=al&limit=2").await;
    assert_eq!(
        (page["users"].as_array().unwrap().len(), &page["total"]),
        (2, &json!(5)),
        "the total is every page's"
    );
    let g = app.get_json("/api/channels?prefix=g&sort=name").await;
    assert_eq!(names(&g, "channels", "name"), ["Go_lang", "gaming", "general"], "{g}");
    assert_eq!(g["total"], 3);
    assert_eq!(app.get_json("/api/channels").await["total"], 4);
    assert_eq!(app.get_json("/api/users").await["total"], 6);
    assert_eq!(app.get_json("/api/users?prefix=zz").await["total"], 0);
    app.get("/api/users?prefix=a%20b")
        .await
        .assert_error(400, "invalid_parameter");
    app.get("/api/channels?prefix=")
        .await
        .assert_error(400, "invalid_parameter");
}

/// Messages per minute from the rollups, exact against what was sent (across a minute
/// boundary, per channel and per user), and after a delete.
#[actix_rt::test]
async fn activity_counts_each_minute_exactly_and_follows_a_delete() {
    const SECRET: &str = "activity-test-secret-01";
    let app = TestApp::builder().token_secret(SECRET).start().await;
    let at = |channel: &str, user: &str, time: &str| json!({"channel": channel, "user": user, "text": "t", "sent_at": format!("2026-01-01T10:{time}Z")});
    let ids = app
        .ingest_ids(&[
            at("a", "ann", "00:10.000"),
            at("a", "ann", "00:20.000"),
            at("a", "ann", "00:30.000"),
            at("b", "ben", "00:59.999"),
            at("a", "ben", "01:00.000"),
            at("a", "ben", "01:00.001"),
            at("a", "ann", "03:30.000"),
        ])
        .await;
    let window = "since=2026-01-01T10:00:00Z&until=2026-01-01T10:05:00Z&bucket=minute";
    let counts = |v: Value| -> Vec<i64> {
        v["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["messages"].as_i64().unwrap())
            .collect()
    };
    let all = app.get_json(&format!("/api/activity?{window}")).await;
    assert_eq!(counts(all.clone()), [4, 2, 0, 1, 0], "{all}");
    assert_eq!(
        (&all["total"], &all["buckets"][1]["start"]),
        (&json!(7), &json!("2026-01-01T10:01:00.000Z"))
    );
    assert_eq!(
        counts(app.get_json(&format!("/api/activity?{window}&channel=a")).await),
        [3, 2, 0, 1, 0]
    );
    assert_eq!(
        counts(app.get_json(&format!("/api/activity?{window}&user=ben")).await),
        [1, 2, 0, 0, 0]
    );
    assert_eq!(
        counts(app.get_json(&format!("/api/activity?{window}&user=nobody")).await),
        [0; 5]
    );
    let hour = app
        .get_json("/api/activity?since=2026-01-01T10:00:00Z&until=2026-01-01T10:05:00Z&bucket=hour")
        .await;
    assert_eq!(
        (counts(hour.clone()), &hour["since"], &hour["until"]),
        (
            vec![7],
            &json!("2026-01-01T10:00:00.000Z"),
            &json!("2026-01-01T11:00:00.000Z")
        )
    );

    // A deleted message leaves its minute, its channel's and its user's.
    let ben = user_token(SECRET, "ben", false);
    let r = app
        .request("DELETE", &format!("/api/streams/1/events/{}", ids[5]), Some(&ben), None)
        .await;
    assert_eq!(r.status, 204, "{r}");
    assert_eq!(
        counts(app.get_json(&format!("/api/activity?{window}")).await),
        [4, 1, 0, 1, 0]
    );
    assert_eq!(
        counts(app.get_json(&format!("/api/activity?{window}&user=ben")).await),
        [1, 1, 0, 0, 0]
    );

    let recent = app.get_json("/api/activity?window=1h").await;
    assert_eq!(
        (recent["buckets"].as_array().unwrap().len(), &recent["bucket"]),
        (61, &json!("minute")),
        "whole minutes, both ends"
    );
    assert_eq!(app.get_json("/api/activity?window=30d").await["bucket"], "day");
    app.get("/api/activity?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z")
        .await
        .assert_error(400, "invalid_parameter");
    app.get("/api/activity?window=30d&bucket=minute")
        .await
        .assert_error(400, "invalid_parameter");
}

/// `--retention`: events older than it go in bounded batches while ingest goes on; every
/// count and rollup stays (all-time), search and export find only what is kept, and a live
/// view resuming from before the oldest kept event falls back.
#[actix_rt::test]
async fn retention_prunes_in_batches_under_ingest_and_keeps_counts_and_rollups() {
    let app = TestApp::builder()
        .raw_args(["--retention", "1h", "--retention-batch", "100"])
        .start()
        .await;
    let two_hours_ago = chatpulse::time::format_ms(chatpulse::time::now_ms() - 2 * 3_600_000);
    // 600 old messages (sent two hours ago, stored now), in two channels by two people.
    let old: Vec<Value> = (0..600)
        .map(|i| {
            let (ch, user) = if i % 2 == 0 {
                ("general", "ann")
            } else {
                ("random", "ben")
            };
            json!({"channel": ch, "user": user, "text": format!("ancient walrus {i}"), "sent_at": two_hours_ago})
        })
        .collect();
    let old_ids = app.ingest_chunked(&old, 200).await;
    let last_old = *old_ids.iter().max().unwrap();
    // Recent ones arrive while the pruner works.
    let mut recent = 0;
    for round in 0..10 {
        app.ingest(&numbered("general", "cat", &format!("fresh otter {round}"), 50))
            .await;
        recent += 50;
    }
    app.wait_metric("chatpulse_store_pruned_total", LONG_WAIT, |n| n >= 600.0)
        .await
        .unwrap_or_else(|n| panic!("pruned {n} of 600"));

    // All-time counts and the rollups stay.
    let totals = app.get_json("/api/metrics").await;
    assert_eq!(totals["total_messages"], 600 + recent, "{totals}");
    let ann = app.get_json("/api/users/ann").await;
    assert_eq!(ann["user"]["total_messages"], 300);
    let activity = app.get_json("/api/activity?window=24h&bucket=hour&user=ben").await;
    assert_eq!(activity["total"], 300, "rollups keep what was pruned: {activity}");
    // The events are gone: reads, search and export find the recent ones only.
    let kept = app.stored_ids_after(0).await;
    assert_eq!(kept.len() as i64, recent, "only the recent messages are kept");
    assert!(kept.iter().all(|id| *id > last_old));
    let found = app.get_json("/api/search?q=walrus").await;
    assert_eq!(found["total"], 0, "{found}");
    assert_eq!(app.get_json("/api/search?q=otter").await["total"], recent);
    let exported = export(&app, "").await;
    assert_eq!(exported.len() as i64, recent);
    assert!(exported.iter().all(|l| !l.contains("walrus")));

    // A view resuming from before the oldest kept event cannot be caught up: it falls back.
    let epoch = app.epoch().await;
    let mut stale = app
        .live(Transport::Sse, "messages", Some(last_old - 1), Some(&epoch))
        .await;
    let (_, status) = stale.until_status("fallback", WAIT).await;
    assert_eq!(status["reason"], "pruned");
    // From the last pruned one on, it is: every kept message, once.
    let mut fresh = app.live(Transport::Ws, "messages", Some(last_old), Some(&epoch)).await;
    let (backlog, _) = fresh.until_connected(WAIT).await;
    assert_eq!(message_ids(&backlog), kept);
    // A count view has nothing to miss: it resumes from any cursor.
    let mut counts = app.live(Transport::Ws, "channels", Some(1), Some(&epoch)).await;
    counts.until_connected(WAIT).await;
}

/// A filter that drops most matches: the search reads on past the first thousand matches
/// until it has the page (SQLite asks FTS5 for matches a chunk at a time, newest first).
#[actix_rt::test]
async fn a_narrow_search_finds_matches_past_many_others() {
    let app = TestApp::start().await;
    let quiet = app.ingest_ids(&numbered("quiet", "ann", "kiwi early", 40)).await;
    app.ingest_chunked(&numbered("busy", "ben", "kiwi later", 2500), 1000)
        .await;
    let page = app.get_json("/api/search?q=kiwi&channel=quiet&limit=50").await;
    let mut expected = quiet.clone();
    expected.reverse();
    assert_eq!(ids(&page), expected, "{page}");
    assert_eq!(page["total"], 40);
    let all = app.get_json("/api/search?q=kiwi&limit=100").await;
    assert_eq!(all["total"], 2540);
    // Paging across the chunk boundary: every one once, newest first.
    let mut seen = ids(&all);
    let mut next = all["next_before_id"].clone();
    while let Some(before) = next.as_i64() {
        let p = app
            .get_json(&format!("/api/search?q=kiwi&limit=700&before_id={before}"))
            .await;
        seen.extend(ids(&p));
        next = p["next_before_id"].clone();
    }
    let mut sorted = seen.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    sorted.dedup();
    assert_eq!((seen.len(), sorted.len()), (2540, 2540));
    assert_eq!(seen, sorted);
    // A user's share, and a channel and a user at once (FTS5 narrows by both).
    let ann = app.get_json("/api/search?q=kiwi&user=ann&limit=100").await;
    assert_eq!((ann["total"].as_i64(), ids(&ann).len()), (Some(40), 40), "{ann}");
    let none = app.get_json("/api/search?q=kiwi&user=ann&channel=busy").await;
    assert_eq!(none["total"], 0, "{none}");
    // The scope is no text: a channel's or user's id token finds nothing.
    let channel_id = app.get_json("/api/messages?channel=quiet&limit=1").await["messages"][0]["channel_id"]
        .as_i64()
        .unwrap();
    for word in [format!("c{channel_id}"), "u1".to_owned(), format!("c{channel_id}*")] {
        let found = app.get_json(&format!("/api/search?q={}", enc(&word))).await;
        assert_eq!(found["total"], 0, "{word}: {found}");
    }
}
