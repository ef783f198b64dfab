//! Live top lists (issue 16, item 2): exact against counts made here, pushed whole when
//! they change and never holding more than the top ten, private streams never in them,
//! deletes and minutes leaving the window taken out.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::*;

const WAIT: Duration = Duration::from_secs(10);
const SECRET: &str = "top-lists-test-secret-01";
const TOP_N: usize = 10;

fn ago(minutes: i64) -> String {
    chatpulse::time::format_ms(chatpulse::time::now_ms() - minutes * 60_000)
}

/// `(name, messages)` of a top list's `key` side.
fn side(list: &Value, key: &str) -> Vec<(String, i64)> {
    list[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key} in {list}"))
        .iter()
        .map(|e| (e["name"].as_str().unwrap().to_owned(), e["messages"].as_i64().unwrap()))
        .collect()
}

/// The top ten of `counts` as the server orders them: most first, then by name.
fn expected(counts: &HashMap<String, i64>) -> Vec<(String, i64)> {
    let mut all: Vec<(String, i64)> = counts
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| (k.clone(), *n))
        .collect();
    all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    all.truncate(TOP_N);
    all
}

/// Reads a live top view until a `top` envelope satisfies `done`; every one on the way must
/// hold at most the top ten and never a name of `never`.
async fn until_top(live: &mut Live, never: &[&str], done: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        assert!(!left.is_zero(), "no top list as expected came");
        for e in live
            .read_of_type("top", 1, left)
            .await
            .into_iter()
            .filter(|e| e["type"] == "top")
        {
            for key in ["channels", "users"] {
                if let Some(list) = e[key].as_array() {
                    assert!(list.len() <= TOP_N, "more than the top ten: {e}");
                    for entry in list {
                        let name = entry["name"].as_str().unwrap();
                        assert!(!never.contains(&name), "{name} was pushed: {e}");
                    }
                }
            }
            if done(&e) {
                return e;
            }
        }
    }
}

/// Users u01..u14 post 1..14 messages two minutes ago, user uK in channel `c{K % 4}`, u14
/// also twice in c1; older messages (two hours ago) count in 24 h and not in 5 min; a
/// private channel's and a thread's messages are no channel's. The lists are exact, the
/// live view pushes a newcomer to the top and a delete, and never anyone below the tenth.
#[actix_rt::test]
async fn top_lists_are_exact_and_pushed_live_without_outsiders() {
    let app = TestApp::builder().token_secret(SECRET).start().await;
    let (mut channels, mut users) = (HashMap::<String, i64>::new(), HashMap::<String, i64>::new());
    let mut batch = Vec::new();
    for k in 1..=14i64 {
        let (user, channel) = (format!("u{k:02}"), format!("c{}", k % 4));
        for _ in 0..k {
            batch.push(json!({"channel": channel, "user": user, "text": "t", "sent_at": ago(2)}));
        }
        *channels.entry(channel).or_default() += k;
        *users.entry(user).or_default() += k;
    }
    for _ in 0..2 {
        batch.push(json!({"channel": "c1", "user": "u14", "text": "t", "sent_at": ago(2)}));
    }
    *channels.entry("c1".into()).or_default() += 2;
    *users.entry("u14".into()).or_default() += 2;
    // Two hours ago: in the 24 hours only.
    for _ in 0..40 {
        batch.push(json!({"channel": "old", "user": "oldie", "text": "t", "sent_at": ago(120)}));
    }
    app.ingest(&batch).await;

    // A private channel and a thread: their messages count for no channel list, and the
    // private one for no user either.
    let alice = user_token(SECRET, "alice", false);
    let private = app
        .request(
            "POST",
            "/api/streams",
            Some(&alice),
            Some(&json!({"kind": "channel", "name": "secretplans", "visibility": "private"})),
        )
        .await;
    assert_eq!(private.status, 201, "{private}");
    let private = private.json["id"].as_i64().unwrap();
    for _ in 0..30 {
        let r = app
            .request(
                "POST",
                &format!("/api/streams/{private}/events"),
                Some(&alice),
                Some(&json!({"text": "s"})),
            )
            .await;
        assert_eq!(r.status, 201, "{r}");
    }
    let in_c2 = app.get_json("/api/messages?channel=c2&limit=1").await["messages"][0].clone();
    let (c2_id, first_in_c2) = (in_c2["channel_id"].as_i64().unwrap(), in_c2["id"].as_i64().unwrap());
    let thread = app
        .request(
            "POST",
            &format!("/api/streams/{c2_id}/thread"),
            Some(&alice),
            Some(&json!({"event_id": first_in_c2})),
        )
        .await;
    assert_eq!(thread.status, 201, "{thread}");
    let thread = thread.json["id"].as_i64().unwrap();
    let r = app
        .request(
            "POST",
            &format!("/api/streams/{thread}/events"),
            Some(&alice),
            Some(&json!({"text": "reply"})),
        )
        .await;
    assert_eq!(r.status, 201, "{r}");
    // The thread reply is alice's: a public message, in no channel.
    *users.entry("alice".into()).or_default() += 1;

    let five = app.get_json("/api/top?window=5m").await;
    assert_eq!(side(&five, "channels"), expected(&channels), "{five}");
    assert_eq!(side(&five, "users"), expected(&users), "{five}");
    assert_eq!(five["window"], "5m");
    let entry = &five["users"][0];
    assert_eq!(entry["per_minute"].as_f64().unwrap(), 16.0 / 5.0, "{entry}");
    // Each count is the activity chart's of the same window.
    for (name, n) in side(&five, "channels") {
        let a = app.get_json(&format!("/api/activity?window=5m&channel={name}")).await;
        assert_eq!(a["total"], n, "{name}: {a}");
    }
    let day = app.get_json("/api/top?window=24h").await;
    assert_eq!(side(&day, "users")[0], ("oldie".to_owned(), 40), "{day}");
    assert!(side(&five, "users").iter().all(|(n, _)| n != "oldie"));

    // A channel's users, a user's channels.
    let c1 = app.get_json("/api/top?window=5m&channel=c1").await;
    assert_eq!(
        side(&c1, "users"),
        [("u13", 13), ("u09", 9), ("u05", 5), ("u14", 2), ("u01", 1)].map(|(n, k)| (n.to_owned(), k)),
        "{c1}"
    );
    assert!(c1.get("channels").is_none(), "{c1}");
    let u14 = app.get_json("/api/top?window=5m&user=u14").await;
    assert_eq!(
        side(&u14, "channels"),
        [("c2", 14), ("c1", 2)].map(|(n, k)| (n.to_owned(), k)),
        "{u14}"
    );
    let alice_channels = app.get_json("/api/top?window=5m&user=alice").await;
    assert_eq!(side(&alice_channels, "channels"), Vec::new(), "{alice_channels}");

    // Live: the whole list first (after `connected`), then changes, never an outsider.
    let mut ws = app.ws("top/5m", None, None).await;
    ws.until_connected(WAIT).await;
    let never = ["u01", "u02", "secretplans", "old"];
    let first = until_top(&mut ws, &never, |_| true).await;
    assert_eq!(side(&first, "users"), expected(&users), "{first}");
    let mut sse = app.sse("top/5m/channel/c1", None, None, None).await;
    sse.until_connected(WAIT).await;
    until_top(&mut sse, &[], |e| side(e, "users") == side(&c1, "users")).await;

    // u03 overtakes everyone; a newcomer with one message stays out.
    let mut more: Vec<Value> = (0..20)
        .map(|_| json!({"channel": "c3", "user": "u03", "text": "t"}))
        .collect();
    more.push(json!({"channel": "c3", "user": "zed", "text": "t"}));
    app.ingest(&more).await;
    *users.entry("u03".into()).or_default() += 20;
    *channels.entry("c3".into()).or_default() += 21;
    *users.entry("zed".into()).or_default() += 1;
    let top = until_top(&mut ws, &["u01", "u02", "zed", "secretplans"], |e| {
        side(e, "users").first().map(|(n, _)| n.as_str()) == Some("u03")
    })
    .await;
    assert_eq!(side(&top, "users"), expected(&users), "{top}");
    assert_eq!(side(&top, "channels"), expected(&channels), "{top}");
    assert!(top["cursor"].as_i64().unwrap() > first["cursor"].as_i64().unwrap());

    // A delete takes its message out of every list it was in.
    let of_u14 = app.get_json("/api/messages?user=u14&channel=c1&limit=1").await["messages"][0].clone();
    let (c1_id, last_of_u14) = (of_u14["channel_id"].as_i64().unwrap(), of_u14["id"].as_i64().unwrap());
    let u14_token = user_token(SECRET, "u14", false);
    let r = app
        .request(
            "DELETE",
            &format!("/api/streams/{c1_id}/events/{last_of_u14}"),
            Some(&u14_token),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{r}");
    *users.entry("u14".into()).or_default() -= 1;
    *channels.entry("c1".into()).or_default() -= 1;
    let after = until_top(&mut ws, &["u01", "zed"], |e| side(e, "users") == expected(&users)).await;
    assert_eq!(side(&after, "channels"), expected(&channels), "{after}");
    let c1_after = until_top(&mut sse, &[], |e| {
        side(e, "users").iter().any(|(n, k)| n == "u14" && *k == 1)
    })
    .await;
    assert_eq!(side(&c1_after, "users").len(), 5, "{c1_after}");

    // Bad requests.
    app.get("/api/top?window=5m&channel=c1&user=u1")
        .await
        .assert_error(400, "invalid_parameter");
    app.get("/api/top?window=2h")
        .await
        .assert_error(400, "invalid_parameter");
    app.get("/api/top?channel=no%20such")
        .await
        .assert_error(400, "invalid_parameter");
    for view in ["top/2h", "top/5m/channel", "top/5m/stream/1", "top/5m/user/a/b"] {
        let refused = app.ws_connect(&Api::live_query(view, None, None), None).await;
        assert!(refused.is_err(), "{view} was taken");
    }
}

/// A message dated in the window's first minute leaves the 5-minute list when that minute
/// leaves the window (within a minute and a tick), the others stay.
#[actix_rt::test]
async fn a_minute_leaving_the_window_leaves_the_top_list() {
    let app = TestApp::start().await;
    // Away from a minute's turn, so the window does not move while this sets up.
    let into_minute = chatpulse::time::now_ms().rem_euclid(60_000);
    if into_minute > 50_000 {
        tokio::time::sleep(Duration::from_millis(61_000 - into_minute as u64)).await;
    }
    let now = chatpulse::time::now_ms();
    let first_minute = now.div_euclid(60_000) - 5;
    let at = |ms: i64| chatpulse::time::format_ms(ms);
    app.ingest(&[
        json!({"channel": "edge", "user": "early", "text": "t", "sent_at": at(first_minute * 60_000 + 1_000)}),
        json!({"channel": "edge", "user": "early", "text": "t", "sent_at": at(first_minute * 60_000 + 2_000)}),
        json!({"channel": "edge", "user": "early", "text": "t", "sent_at": at(now)}),
        json!({"channel": "edge", "user": "late", "text": "t", "sent_at": at(now)}),
    ])
    .await;
    let mut live = app.ws("top/5m", None, None).await;
    live.until_connected(WAIT).await;
    let first = until_top(&mut live, &[], |_| true).await;
    assert_eq!(
        side(&first, "users"),
        [("early", 3), ("late", 1)].map(|(n, k)| (n.to_owned(), k)),
        "{first}"
    );
    assert_eq!(first["since"], at(first_minute * 60_000), "{first}");
    // The minute turns: early's two messages of the first minute leave.
    let turn = (first_minute + 6) * 60_000 - chatpulse::time::now_ms();
    let deadline = Duration::from_millis(turn.max(0) as u64) + WAIT;
    let mut next = None;
    let started = std::time::Instant::now();
    while next.is_none() && started.elapsed() < deadline {
        let left = deadline.saturating_sub(started.elapsed());
        for e in live
            .read_of_type("top", 1, left)
            .await
            .into_iter()
            .filter(|e| e["type"] == "top")
        {
            if side(&e, "users") != side(&first, "users") {
                next = Some(e);
            }
        }
    }
    let next = next.expect("the list changed when the minute left");
    assert_eq!(
        side(&next, "users"),
        [("early", 1), ("late", 1)].map(|(n, k)| (n.to_owned(), k)),
        "{next}"
    );
    assert_eq!(next["since"], at((first_minute + 1) * 60_000), "{next}");
    assert_eq!(side(&next, "channels"), [("edge".to_owned(), 2)], "{next}");
    // The read API says the same.
    let read = app.get_json("/api/top?window=5m").await;
    assert_eq!(side(&read, "users"), side(&next, "users"), "{read}");
}
