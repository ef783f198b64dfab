//! PROTOCOL.md section 3: the read API.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::common::*;

/// Seven messages with known channels, users, texts and days.
///
/// | # | channel | user  | day | text |
/// |---|---------|-------|-----|------|
/// | 0 | general | alice | 1 | hello world from alice |
/// | 1 | general | bob   | 2 | the quick brown fox |
/// | 2 | random  | alice | 3 | quickly jumping foxes |
/// | 3 | dev     | carol | 4 | world peace now |
/// | 4 | random  | bob   | 5 | brown bears and quick foxes |
/// | 5 | general | carol | 6 | hello there |
/// | 6 | general | alice | 7 | goodbye everyone |
async fn seed(app: &TestApp) -> Vec<i64> {
    let rows = [
        ("general", "alice", "hello world from alice"),
        ("general", "bob", "the quick brown fox"),
        ("random", "alice", "quickly jumping foxes"),
        ("dev", "carol", "world peace now"),
        ("random", "bob", "brown bears and quick foxes"),
        ("general", "carol", "hello there"),
        ("general", "alice", "goodbye everyone"),
    ];
    let batch: Vec<Value> = rows
        .iter()
        .enumerate()
        .map(|(i, (c, u, t))| {
            let mut m = msg(c, u, t);
            m["sent_at"] = json!(format!("2026-01-0{}T12:00:00Z", i + 1));
            m["tags"] = json!({"n": i.to_string()});
            m
        })
        .collect();
    app.ingest_ids(&batch).await
}

fn ids(list: &Value) -> Vec<i64> {
    list["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("no `messages` array: {list}"))
        .iter()
        .map(|m| m["id"].as_i64().expect("message id"))
        .collect()
}

fn pick(all: &[i64], idx: &[usize]) -> Vec<i64> {
    idx.iter().map(|i| all[*i]).collect()
}

#[actix_rt::test]
async fn every_read_route_carries_cursor_and_epoch() {
    let app = TestApp::start().await;
    let ids = seed(&app).await;
    let newest = *ids.last().unwrap();
    let epoch = app.epoch().await;
    assert!(!epoch.is_empty());
    for route in [
        "/api/metrics",
        "/api/messages",
        "/api/messages?after_id=0",
        "/api/channels",
        "/api/users",
        "/api/users/alice",
        "/api/search?q=hello",
    ] {
        let body = app.get_json(route).await;
        assert_eq!(body["cursor"], json!(newest), "{route} cursor: {body}");
        assert_eq!(body["epoch"], json!(epoch), "{route} epoch: {body}");
    }
}

#[actix_rt::test]
async fn metrics_count_messages_channels_and_users() {
    let app = TestApp::start().await;
    seed(&app).await;
    let m = app.api_metrics().await;
    assert_eq!(m["total_messages"], json!(7), "{m}");
    assert_eq!(m["total_channels"], json!(3), "{m}");
    assert_eq!(m["total_users"], json!(3), "{m}");
}

#[actix_rt::test]
async fn message_objects_have_every_field() {
    let app = TestApp::start().await;
    let mut m = msg("general", "alice", "full object");
    m["display_name"] = json!("Alice A.");
    m["tags"] = json!({"color": "red", "badge": "mod"});
    m["sent_at"] = json!("2026-01-16T09:30:00.123Z");
    let id = app.ingest_ids(&[m]).await[0];
    let list = app.get_json("/api/messages").await;
    let got = &list["messages"][0];
    assert_eq!(got["id"], json!(id), "{got}");
    assert!(got["channel_id"].is_i64(), "channel_id: {got}");
    assert!(got["user_id"].is_i64(), "user_id: {got}");
    assert_eq!(got["channel"], "general", "{got}");
    assert_eq!(got["user"], "alice", "{got}");
    assert_eq!(got["display_name"], "Alice A.", "{got}");
    assert_eq!(got["text"], "full object", "{got}");
    assert_eq!(got["tags"], json!({"color": "red", "badge": "mod"}), "{got}");
    let sent = got["sent_at"].as_str().expect("sent_at");
    assert!(sent.ends_with('Z'), "{got}");
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(sent)
            .expect("RFC 3339")
            .timestamp_millis(),
        1_768_555_800_123,
        "{got}"
    );
}

#[actix_rt::test]
async fn messages_order_paging_and_filters() {
    let app = TestApp::start().await;
    let all = seed(&app).await;
    let mut newest_first = all.clone();
    newest_first.reverse();

    assert_eq!(ids(&app.get_json("/api/messages").await), newest_first);
    assert_eq!(
        ids(&app.get_json("/api/messages?limit=2").await),
        newest_first[..2].to_vec()
    );
    // after_id: ascending from it.
    assert_eq!(
        ids(&app.get_json(&format!("/api/messages?after_id={}", all[1])).await),
        all[2..].to_vec()
    );
    assert_eq!(
        ids(&app
            .get_json(&format!("/api/messages?after_id={}&limit=2", all[1]))
            .await),
        all[2..4].to_vec()
    );
    // before_id: newest first below it.
    assert_eq!(
        ids(&app.get_json(&format!("/api/messages?before_id={}", all[4])).await),
        vec![all[3], all[2], all[1], all[0]]
    );
    assert_eq!(
        ids(&app
            .get_json(&format!("/api/messages?before_id={}&limit=1", all[4]))
            .await),
        vec![all[3]]
    );
    // Filters.
    assert_eq!(
        ids(&app.get_json("/api/messages?channel=general").await),
        pick(&all, &[6, 5, 1, 0])
    );
    assert_eq!(
        ids(&app.get_json("/api/messages?user=alice").await),
        pick(&all, &[6, 2, 0])
    );
    assert_eq!(
        ids(&app.get_json("/api/messages?channel=general&user=alice").await),
        pick(&all, &[6, 0])
    );
    assert_eq!(
        ids(&app
            .get_json(&format!("/api/messages?channel=random&after_id={}", all[0]))
            .await),
        pick(&all, &[2, 4])
    );
    assert_eq!(
        ids(&app.get_json("/api/messages?channel=nowhere").await),
        Vec::<i64>::new()
    );
}

#[actix_rt::test]
async fn channels_list_counts_and_pages() {
    let app = TestApp::start().await;
    let all = seed(&app).await;
    let body = app.get_json("/api/channels").await;
    let list = body["channels"].as_array().expect("channels array");
    let mut totals = BTreeMap::new();
    for c in list {
        for key in ["id", "name", "total_messages", "last_message_at"] {
            assert!(c.get(key).is_some(), "channel without `{key}`: {c}");
        }
        // Nothing ever wrote a channel's display name: the field is gone, not always null.
        assert!(c.get("display_name").is_none(), "channel with a `display_name`: {c}");
        totals.insert(
            c["name"].as_str().unwrap().to_string(),
            c["total_messages"].as_i64().unwrap(),
        );
    }
    let expected: BTreeMap<String, i64> = [("general", 4), ("random", 2), ("dev", 1)]
        .iter()
        .map(|(k, v)| (k.to_string(), *v))
        .collect();
    assert_eq!(totals, expected, "{body}");
    let general = list.iter().find(|c| c["name"] == "general").unwrap();
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(general["last_message_at"].as_str().unwrap())
            .unwrap()
            .timestamp(),
        chrono::DateTime::parse_from_rfc3339("2026-01-07T12:00:00Z")
            .unwrap()
            .timestamp(),
        "{general}"
    );

    let one = app.get_json("/api/channels?limit=1").await;
    assert_eq!(one["channels"].as_array().unwrap().len(), 1, "{one}");
    let mut names: Vec<String> = Vec::new();
    for offset in 0..3 {
        let page = app.get_json(&format!("/api/channels?limit=1&offset={offset}")).await;
        let items = page["channels"].as_array().unwrap();
        assert_eq!(items.len(), 1, "page at offset {offset}: {page}");
        names.push(items[0]["name"].as_str().unwrap().to_string());
    }
    names.sort();
    assert_eq!(names, ["dev", "general", "random"], "limit/offset pages overlap");
    let past = app.get_json("/api/channels?limit=10&offset=3").await;
    assert_eq!(past["channels"], json!([]), "{past}");
    assert_eq!(past["cursor"], json!(all[6]));
}

#[actix_rt::test]
async fn users_list_counts_and_pages() {
    let app = TestApp::start().await;
    seed(&app).await;
    let body = app.get_json("/api/users").await;
    let list = body["users"].as_array().expect("users array");
    let mut totals = BTreeMap::new();
    for u in list {
        for key in ["id", "username", "display_name", "total_messages", "last_seen_at"] {
            assert!(u.get(key).is_some(), "user without `{key}`: {u}");
        }
        totals.insert(
            u["username"].as_str().unwrap().to_string(),
            u["total_messages"].as_i64().unwrap(),
        );
    }
    let expected: BTreeMap<String, i64> = [("alice", 3), ("bob", 2), ("carol", 2)]
        .iter()
        .map(|(k, v)| (k.to_string(), *v))
        .collect();
    assert_eq!(totals, expected, "{body}");

    let mut names: Vec<String> = Vec::new();
    for offset in 0..3 {
        let page = app.get_json(&format!("/api/users?limit=1&offset={offset}")).await;
        let items = page["users"].as_array().unwrap();
        assert_eq!(items.len(), 1, "page at offset {offset}: {page}");
        names.push(items[0]["username"].as_str().unwrap().to_string());
    }
    names.sort();
    assert_eq!(names, ["alice", "bob", "carol"], "limit/offset pages overlap");
}

#[actix_rt::test]
async fn user_detail_and_unknown_user() {
    let app = TestApp::start().await;
    let all = seed(&app).await;
    let body = app.get_json("/api/users/alice").await;
    assert_eq!(body["user"]["username"], "alice", "{body}");
    assert_eq!(body["user"]["total_messages"], json!(3), "{body}");
    assert_eq!(ids(&body), pick(&all, &[6, 2, 0]), "alice's messages newest first");

    let r = app.get("/api/users/nobody-here").await;
    assert_eq!(r.status, 404, "unknown user: {r}");
}

async fn search(app: &TestApp, query: &str) -> Vec<i64> {
    ids(&app.get_json(&format!("/api/search?{query}")).await)
}

#[actix_rt::test]
async fn search_words_must_all_match() {
    let app = TestApp::start().await;
    let all = seed(&app).await;
    assert_eq!(search(&app, "q=hello").await, pick(&all, &[5, 0]));
    assert_eq!(search(&app, "q=world").await, pick(&all, &[3, 0]));
    assert_eq!(
        search(&app, &format!("q={}", enc("brown quick"))).await,
        pick(&all, &[4, 1])
    );
    assert_eq!(
        search(&app, &format!("q={}", enc("hello world"))).await,
        pick(&all, &[0])
    );
    assert_eq!(search(&app, "q=zebra").await, Vec::<i64>::new());
    assert_eq!(search(&app, "q=hello&limit=1").await, pick(&all, &[5]));
}

#[actix_rt::test]
async fn search_prefix() {
    let app = TestApp::start().await;
    let all = seed(&app).await;
    assert_eq!(
        search(&app, &format!("q={}", enc("quick*"))).await,
        pick(&all, &[4, 2, 1])
    );
    assert_eq!(
        search(&app, &format!("q={}", enc("fox*"))).await,
        pick(&all, &[4, 2, 1])
    );
    assert_eq!(search(&app, "q=fox").await, pick(&all, &[1]));
}

/// Prefixes of every length find the same words, in any case (SQLite indexes those of 2,
/// 3 and 4 characters apart: they must agree with the longer ones), and never a channel's
/// or user's scope token.
#[actix_rt::test]
async fn search_prefix_of_every_length() {
    let app = TestApp::start().await;
    let all = seed(&app).await;
    let quick = pick(&all, &[4, 2, 1]);
    for q in ["q*", "qu*", "QUI*", "quic*", "quick*", "Quickl*"] {
        let want = if q.eq_ignore_ascii_case("quickl*") {
            pick(&all, &[2])
        } else {
            quick.clone()
        };
        assert_eq!(search(&app, &format!("q={}", enc(q))).await, want, "{q}");
    }
    assert_eq!(search(&app, &format!("q={}", enc("th*"))).await, pick(&all, &[5, 1]));
    assert_eq!(search(&app, &format!("q={}", enc("wo* he*"))).await, pick(&all, &[0]));
    assert_eq!(search(&app, &format!("q={}", enc("quid*"))).await, Vec::<i64>::new());
    let accented = app.ingest_ids(&[msg("general", "dora", "Crème brûlée")]).await;
    for q in ["cr*", "CRÈ*", "crèm*", "brû*"] {
        assert_eq!(search(&app, &format!("q={}", enc(q))).await, accented, "{q}");
    }
    // Scope tokens are `c<id>` and `u<id>`: no text here starts with c1 or u1.
    for q in ["c1*", "u1*"] {
        assert_eq!(search(&app, &format!("q={}", enc(q))).await, Vec::<i64>::new(), "{q}");
    }
}

#[actix_rt::test]
async fn search_phrase() {
    let app = TestApp::start().await;
    let all = seed(&app).await;
    assert_eq!(
        search(&app, &format!("q={}", enc("\"quick brown\""))).await,
        pick(&all, &[1])
    );
    assert_eq!(
        search(&app, &format!("q={}", enc("\"brown quick\""))).await,
        Vec::<i64>::new()
    );
    assert_eq!(
        search(&app, &format!("q={}", enc("\"quick foxes\" brown"))).await,
        pick(&all, &[4])
    );
}

#[actix_rt::test]
async fn search_filters() {
    let app = TestApp::start().await;
    let all = seed(&app).await;
    assert_eq!(search(&app, "q=hello&channel=general").await, pick(&all, &[5, 0]));
    assert_eq!(search(&app, "q=hello&user=carol").await, pick(&all, &[5]));
    assert_eq!(search(&app, "q=foxes&channel=general").await, Vec::<i64>::new());
    assert_eq!(
        search(&app, &format!("q=foxes&since={}", enc("2026-01-04T00:00:00Z"))).await,
        pick(&all, &[4])
    );
    assert_eq!(
        search(&app, &format!("q=foxes&until={}", enc("2026-01-04T00:00:00Z"))).await,
        pick(&all, &[2])
    );
}

#[actix_rt::test]
async fn malformed_search_is_invalid_query() {
    let app = TestApp::start().await;
    seed(&app).await;
    for q in ["\"unbalanced", "", "   ", "\""] {
        let r = app.get(&format!("/api/search?q={}", enc(q))).await;
        r.assert_error(400, "invalid_query");
    }
    let r = app.get("/api/search").await;
    r.assert_error(400, "invalid_query");
}

#[actix_rt::test]
async fn odd_search_syntax_is_never_a_500() {
    let app = TestApp::start().await;
    seed(&app).await;
    for q in [
        "*",
        "(",
        ")",
        "hello AND",
        "OR",
        "NOT world",
        "NEAR(",
        "a:b",
        "-",
        "^",
        "'",
        "\\",
        "hello\"world",
        "{x}",
        "col:hello",
        "***",
        "hello*world",
    ] {
        let r = app.get(&format!("/api/search?q={}", enc(q))).await;
        assert!(
            r.status == 200 || (r.status == 400 && r.error_code() == Some("invalid_query")),
            "search `{q}` must answer 200 or 400 invalid_query, got {r}"
        );
    }
    assert_eq!(app.get("/healthz").await.status, 200);
}

#[actix_rt::test]
async fn healthz_answers_200() {
    let app = TestApp::start().await;
    assert_eq!(app.get("/healthz").await.status, 200);
    seed(&app).await;
    assert_eq!(app.get("/healthz").await.status, 200);
}

/// Search highlights come from the query, not from markers in the text: a stored text
/// holding the private-use characters once used as markers shows no fake highlight.
#[actix_rt::test]
async fn search_page_marks_only_what_the_query_matched() {
    let app = TestApp::start().await;
    app.ingest(&[msg("general", "mallory", "a \u{E000}fake\u{E001} mark and a real one")])
        .await;
    let page = app.get("/search?q=real").await;
    assert_eq!(page.status, 200, "{page}");
    let marks: Vec<&str> = page
        .text
        .split("<mark>")
        .skip(1)
        .map(|rest| rest.split("</mark>").next().unwrap_or_default())
        .collect();
    assert_eq!(marks, ["real"], "only the matched word is marked");
    assert!(page.text.contains("\u{E000}fake\u{E001}"), "the text is shown as it is");
}
