//! Regenerates `docs/screenshots/` (README, "Pages"): every page with a little data and
//! with a busy demo, on a desktop and a phone width. Run on purpose:
//! `cargo test --test browser -- --ignored screenshots`.
use std::path::PathBuf;

use serde_json::json;

use crate::*;

const DESKTOP: (u32, u32) = (1280, 900);
const PHONE: (u32, u32) = (390, 844);
/// The zone the pictures' browser is in: its times read "09:30:05 EST".
const ZONE: &str = "America/New_York";

async fn shoot(app: &TestApp, size: (u32, u32), shots: &[(&str, &str)]) {
    let shots: Vec<_> = shots.iter().map(|(name, path)| (*name, *path, "")).collect();
    shoot_after(app, size, &shots).await
}

/// Like [`shoot`], each page after a script of its own (e.g. opening a thread) has run.
async fn shoot_after(app: &TestApp, size: (u32, u32), shots: &[(&str, &str, &str)]) {
    shoot_as(app, size, None, shots).await
}

/// A browser of `size` in the pictures' zone, signed in with `token` when given.
async fn browser(app: &TestApp, size: (u32, u32), token: Option<&str>) -> Browser {
    let b = if size == PHONE {
        Browser::phone_in_zone(size.0, size.1, ZONE).await
    } else {
        Browser::in_zone_sized(ZONE, size.0, size.1).await
    };
    if let Some(token) = token {
        b.goto(&app.url(&format!("/signin#token={token}"))).await;
        b.wait("the sign-in link to sign in", PAGE_WAIT, || async {
            b.text("#signin-status").await.starts_with("Signed in as").then_some(())
        })
        .await;
    }
    b
}

fn shot_file(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
    std::fs::create_dir_all(&dir).expect("create docs/screenshots");
    dir.join(format!("{name}.png"))
}

/// Like [`shoot_after`], signed in as the person of `token` when given.
async fn shoot_as(app: &TestApp, size: (u32, u32), token: Option<&str>, shots: &[(&str, &str, &str)]) {
    let b = browser(app, size, token).await;
    for (name, path, script) in shots {
        b.goto(&app.url(path)).await;
        if !b.state().await.is_empty() {
            b.wait_state("live", PAGE_WAIT).await;
        }
        if !script.is_empty() {
            b.js(script).await;
        }
        // Let arrival highlights fade and the chart take its first samples.
        actix_rt::time::sleep(Duration::from_millis(1800)).await;
        let png = b.client.screenshot().await.expect("screenshot");
        let file = shot_file(name);
        std::fs::write(&file, png).unwrap_or_else(|e| panic!("write {}: {e}", file.display()));
        eprintln!("wrote {}", file.display());
    }
    b.close().await;
}

fn light_data() -> Vec<Value> {
    let m = |c: &str, u: &str, d: &str, t: &str| json!({"channel": c, "user": u, "display_name": d, "text": t});
    // Yesterday's message shows its date.
    let yesterday = chrono::Utc::now() - chrono::Duration::hours(26);
    let mut evening = m("general", "alice", "Alice", "Release notes for 2.4 are in the wiki.");
    evening["sent_at"] = json!(yesterday.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    vec![
        evening,
        m(
            "general",
            "alice",
            "Alice",
            "Morning all! Deploy of 2.4 starts at 10:00 UTC.",
        ),
        m("general", "bob", "Bob", "Thanks. Is the staging deploy green?"),
        m(
            "ops",
            "carol",
            "Carol Ops",
            "Staging is green; rollout plan in the ticket.",
        ),
        m("general", "alice", "Alice", "Great, starting the deploy now."),
        m("random", "dave", "Dave", "Anyone up for lunch at the new ramen place?"),
        m(
            "ops",
            "carol",
            "Carol Ops",
            "Deploy finished: 0 errors, p95 latency unchanged.",
        ),
        m("general", "bob", "Bob", "Nice work, thanks everyone!"),
        m("random", "alice", "Alice", "Ramen sounds good, count me in."),
    ]
}

/// A week of the light data's team before it: a few messages an hour, busier in the
/// pictures' working hours, so that the activity charts have a shape at every window.
fn light_history() -> Vec<Value> {
    const TEXTS: [&str; 6] = [
        "Build is green again.",
        "Who has the on-call pager this week?",
        "PR for the cache fix is up.",
        "Standup in five.",
        "Coffee?",
        "Dashboards look calm.",
    ];
    let people = [
        ("alice", "Alice"),
        ("bob", "Bob"),
        ("carol", "Carol Ops"),
        ("dave", "Dave"),
    ];
    let channels = ["general", "ops", "random"];
    let now = chrono::Utc::now();
    let mut out = Vec::new();
    let mut k = 0usize;
    let mut at = |t: chrono::DateTime<chrono::Utc>, out: &mut Vec<Value>| {
        let (user, name) = people[k % people.len()];
        out.push(json!({
            "channel": channels[(k / 2) % channels.len()], "user": user, "display_name": name,
            "text": TEXTS[k % TEXTS.len()],
            "sent_at": t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        }));
        k += 1;
    };
    // Hours of the last 7 days (before the last one): New York's working day is busiest.
    for h in 1..7 * 24 {
        let t = now - chrono::Duration::hours(h);
        let local = (t - chrono::Duration::hours(5))
            .format("%H")
            .to_string()
            .parse::<f64>()
            .unwrap();
        let day = (std::f64::consts::PI * (local - 8.0) / 11.0).sin().max(0.0);
        let n = (1.0 + 20.0 * day + (h % 3) as f64) as i64;
        for i in 0..n {
            at(
                t - chrono::Duration::minutes(i * 53 % 60) - chrono::Duration::minutes(60),
                &mut out,
            );
        }
    }
    // Minutes of the last hour.
    for m in 2..60 {
        let n = i64::from(m % 3 == 0) + i64::from((m as f64 / 6.0).sin() > 0.3);
        for i in 0..n {
            at(
                now - chrono::Duration::minutes(m) - chrono::Duration::seconds(i * 7),
                &mut out,
            );
        }
    }
    out
}

const SECRET: &str = "screenshots-secret-0123";

/// The seed story (PROTOCOL.md section 8) told through the stream API: a channel, a thread
/// from one of its messages promoted to an incident, an edit, a delete, the incident
/// resolved and shared back, and two incidents still open. Returns the channel's id and
/// the incident's.
async fn story(app: &TestApp) -> (i64, i64) {
    let (alice, bob, carol) = (
        user_token(SECRET, "alice", false),
        user_token(SECRET, "bob", false),
        user_token(SECRET, "carol", false),
    );
    let call = |method: &'static str, path: String, token: String, body: Value| async move {
        let body = (!body.is_null()).then_some(body);
        let r = app.request(method, &path, Some(&token), body.as_ref()).await;
        assert!((200..300).contains(&r.status), "{method} {path}: {r}");
        r.json
    };
    let create = |token: &String, kind: &str, name: &str, description: &str| {
        call(
            "POST",
            "/api/streams".into(),
            token.clone(),
            json!({"kind": kind, "name": name, "description": description}),
        )
    };
    let post = |token: &String, stream: i64, text: &str| {
        call(
            "POST",
            format!("/api/streams/{stream}/events"),
            token.clone(),
            json!({"text": text}),
        )
    };
    let id = |v: Value, key: &str| v[key].as_i64().unwrap();

    let eng = id(
        create(
            &alice,
            "channel",
            "engineering",
            "Deploys, builds and the on-call rota.",
        )
        .await,
        "id",
    );
    for t in [&bob, &carol] {
        call("POST", format!("/api/streams/{eng}/join"), t.clone(), Value::Null).await;
    }
    post(&alice, eng, "Deploy of 2.4 starts at 10:00 UTC.").await;
    let errors = id(
        post(&bob, eng, "Seeing 500s on checkout in Sentry since the deploy.").await,
        "event_id",
    );
    let th = id(
        call(
            "POST",
            format!("/api/streams/{eng}/thread"),
            alice.clone(),
            json!({"event_id": errors}),
        )
        .await,
        "id",
    );
    post(&alice, th, "Which endpoint?").await;
    post(&bob, th, "POST /api/checkout, about 3 % of requests.").await;
    let cause = id(
        post(&carol, th, "DB pool exhausted: 20 of 20 connections busy.").await,
        "event_id",
    );
    call(
        "POST",
        format!("/api/streams/{th}/promote"),
        alice.clone(),
        json!({"kind": "incident", "name": "Checkout 500s after 2.4"}),
    )
    .await;
    let fix = id(
        post(&alice, th, "Mitigation deployd: pool size 20 → 80.").await,
        "event_id",
    );
    call(
        "PATCH",
        format!("/api/streams/{th}/events/{fix}"),
        alice.clone(),
        json!({"text": "Mitigation deployed: pool size 20 → 80."}),
    )
    .await;
    let oops = id(post(&bob, th, "wrong window, sorry").await, "event_id");
    call(
        "DELETE",
        format!("/api/streams/{th}/events/{oops}"),
        bob.clone(),
        Value::Null,
    )
    .await;
    post(&carol, th, "Error rate back to 0.01 %. Closing.").await;
    call(
        "PATCH",
        format!("/api/streams/{th}"),
        alice.clone(),
        json!({"status": "resolved"}),
    )
    .await;
    call(
        "POST",
        format!("/api/streams/{eng}/share"),
        alice.clone(),
        json!({"event_id": cause, "context": "Root cause, for Thursday's postmortem."}),
    )
    .await;
    post(&carol, eng, "Postmortem on Thursday at 14:00, invite sent.").await;
    let search = id(
        create(
            &bob,
            "incident",
            "Search latency above 2 s",
            "p99 of /api/search over the SLO since 09:40.",
        )
        .await,
        "id",
    );
    post(&bob, search, "Looking into it; the FTS index is rebuilding.").await;
    let mail = id(
        create(&carol, "incident", "Login emails delayed", "Reported by support.").await,
        "id",
    );
    post(&carol, mail, "Queue depth 12k and falling.").await;
    (eng, th)
}

/// Alice's side of the story: a private channel and DMs besides the channel and incident
/// she is in, mentions of her, and messages she has not read. Returns the channel's id.
async fn people_story(app: &TestApp, eng: i64) -> i64 {
    let (alice, bob, carol) = (
        user_token(SECRET, "alice", false),
        user_token(SECRET, "bob", false),
        user_token(SECRET, "carol", false),
    );
    let call = |method: &'static str, path: String, token: &String, body: Value| {
        let token = token.clone();
        async move {
            let body = (!body.is_null()).then_some(body);
            let r = app.request(method, &path, Some(&token), body.as_ref()).await;
            assert!((200..300).contains(&r.status), "{method} {path}: {r}");
            r.json
        }
    };
    let post = |token: &String, stream: i64, text: &str| {
        call(
            "POST",
            format!("/api/streams/{stream}/events"),
            token,
            json!({"text": text}),
        )
    };
    let core = call(
        "POST",
        "/api/streams".into(),
        &carol,
        json!({"kind": "channel", "name": "core-team", "visibility": "private", "description": "Release captains only."}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    for who in ["alice", "bob"] {
        call(
            "POST",
            format!("/api/streams/{core}/members"),
            &carol,
            json!({"user": who}),
        )
        .await;
    }
    let dm = |token: &String, members: Value| {
        call(
            "POST",
            "/api/streams".into(),
            token,
            json!({"kind": "dm", "members": members}),
        )
    };
    let with_bob = dm(&bob, json!(["alice"])).await["id"].as_i64().unwrap();
    let trio = dm(&carol, json!(["alice", "bob"])).await["id"].as_i64().unwrap();
    // The incidents still open: she joins the search one.
    let search = call(
        "GET",
        "/api/streams?kind=incident&status=active".into(),
        &alice,
        Value::Null,
    )
    .await["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == json!("Search latency above 2 s"))
        .map(|s| s["id"].as_i64().unwrap())
        .unwrap();
    call("POST", format!("/api/streams/{search}/join"), &alice, Value::Null).await;
    post(&alice, with_bob, "Are you around for the 2.5 planning?").await;
    post(&bob, with_bob, "Yes, after lunch. 13:30?").await;
    post(&carol, trio, "Cake in the kitchen for Dave’s farewell at 16:00.").await;
    post(&carol, core, "2.5 branch is cut. Release notes draft in the wiki.").await;
    post(&bob, core, "@alice can you captain the 2.5 rollout on Tuesday?").await;
    post(&carol, core, "Freeze starts Monday 18:00 UTC.").await;
    post(
        &bob,
        search,
        "p99 down to 1.4 s after the index rebuilt. @alice can we resolve?",
    )
    .await;
    post(&bob, eng, "Staging is on 2.5-rc1.").await;
    post(&carol, eng, "Flaky test in checkout fixed, CI green.").await;
    core
}

/// Opens the first thread of a stream page in place (its replies are read meanwhile).
const OPEN_THREAD: &str =
    "const t = document.querySelector('.ev-thread:not([hidden]) [data-thread-toggle]'); if (t) t.click(); return true";

/// The end of a page: a search's "Older results".
const SCROLL_TO_END: &str = "window.scrollTo(0, document.body.scrollHeight); return true";

/// A search's second page.
const OLDER_RESULTS: &str = "const a = document.querySelector('[data-older-results]'); if (a) a.click(); return true";

/// The weekday × hour heatmap in the middle of the view.
const SHOW_HEATMAP: &str =
    "document.querySelector('[data-heatmap]').closest('.card').scrollIntoView({block: 'center'}); return true";

/// The chart's from–to form, opened.
const OPEN_WINDOW_FORM: &str = "document.querySelector('[data-window-custom]').open = true; return true";

/// A from–to window of the light data: from `from_h` to `until_h` hours ago (whole hours),
/// as the query of a page.
fn from_to(from_h: i64, until_h: i64) -> String {
    let hour = |h: i64| {
        let t = chrono::Utc::now() - chrono::Duration::hours(h);
        t.format("%Y-%m-%dT%H%%3A00%%3A00Z").to_string()
    };
    format!("since={}&until={}", hour(from_h), hour(until_h))
}

#[actix_rt::test]
#[ignore = "writes docs/screenshots; run on purpose"]
async fn screenshots() {
    let empty = TestApp::start().await;
    shoot(&empty, DESKTOP, &[("empty-home", "/"), ("empty-channels", "/channels")]).await;

    let light = TestApp::start().await;
    light.ingest(&light_history()).await;
    light.ingest(&light_data()).await;
    shoot(
        &light,
        DESKTOP,
        &[
            ("light-home", "/"),
            ("light-messages", "/messages"),
            ("light-channels", "/channels"),
            ("light-channel", "/channels/general"),
            ("light-channel-7d", "/channels/general?window=7d"),
            ("light-users", "/users"),
            ("light-user", "/users/alice"),
            ("light-home-30d", "/?window=30d"),
            ("light-search", "/search?q=deploy"),
            ("light-users-prefix", "/users?prefix=a"),
            ("light-search-error", "/search?q=%22deploy"),
            ("light-not-found", "/users/nobody"),
        ],
    )
    .await;
    // From–to windows, the form, a refused one; the heatmap on a phone.
    let (two_days, reversed) = (from_to(60, 12), from_to(12, 60));
    let (channel_from_to, channel_refused) = (
        format!("/channels/general?{two_days}"),
        format!("/channels/general?{reversed}"),
    );
    shoot_after(
        &light,
        DESKTOP,
        &[
            ("light-channel-from-to", &channel_from_to, OPEN_WINDOW_FORM),
            ("light-channel-window-error", &channel_refused, ""),
            ("light-user-heatmap", "/users/alice?window=7d", SHOW_HEATMAP),
        ],
    )
    .await;
    shoot_after(
        &light,
        PHONE,
        &[
            ("phone-channel-heatmap", "/channels/general", SHOW_HEATMAP),
            ("phone-user-heatmap", "/users/alice?window=7d", SHOW_HEATMAP),
            ("phone-channel-from-to", &channel_from_to, OPEN_WINDOW_FORM),
        ],
    )
    .await;

    let streams = TestApp::builder().token_secret(SECRET).start().await;
    streams.ingest(&light_data()).await;
    let (eng, th) = story(&streams).await;
    let (stream, incident) = (format!("/streams/{eng}"), format!("/streams/{th}"));
    for (size, prefix) in [(DESKTOP, "light"), (PHONE, "phone")] {
        shoot_after(
            &streams,
            size,
            &[
                (&format!("{prefix}-stream"), &stream, OPEN_THREAD),
                (&format!("{prefix}-incident"), &incident, ""),
                (&format!("{prefix}-incidents"), "/incidents", ""),
            ],
        )
        .await;
    }

    // A person's side: the inbox, the composer with someone typing, the sign-in page.
    let alice = user_token(SECRET, "alice", false);
    people_story(&streams, eng).await;
    shoot_as(&streams, DESKTOP, Some(&alice), &[("light-inbox", "/inbox", "")]).await;
    shoot_as(&streams, PHONE, Some(&alice), &[("phone-inbox", "/inbox", "")]).await;
    shoot_after(&streams, DESKTOP, &[("light-signin", "/signin?next=%2Finbox", "")]).await;
    for (size, name) in [(DESKTOP, "light-stream-composer"), (PHONE, "phone-stream-composer")] {
        let b = browser(&streams, size, Some(&alice)).await;
        b.goto(&streams.url(&stream)).await;
        b.wait_state("live", PAGE_WAIT).await;
        b.js(
            "const t = document.querySelector('[data-composer] textarea'); t.value = 'Rolling the pool size into the 2.5 config too';              window.scrollTo(0, document.body.scrollHeight); return true",
        )
        .await;
        // Bob types on the same stream (a WebSocket of his own).
        let bob = user_token(SECRET, "bob", false);
        let mut ws = streams
            .ws_connect(&format!("view=stream%2F{eng}&token={bob}"), None)
            .await
            .unwrap_or_else(|e| panic!("bob's WebSocket: {e:?}"));
        ws.send_text(&json!({"type": "typing", "stream_id": eng}).to_string())
            .await;
        b.wait_text("[data-typing]", "bob is typing…").await;
        actix_rt::time::sleep(Duration::from_millis(1500)).await;
        let png = b.client.screenshot().await.expect("screenshot");
        let file = shot_file(name);
        std::fs::write(&file, png).unwrap_or_else(|e| panic!("write {}: {e}", file.display()));
        eprintln!("wrote {}", file.display());
        ws.close().await;
        b.close().await;
    }

    let busy = TestApp::builder().demo().start().await;
    // Long enough for the chart to have a shape and the long tail of users to show.
    actix_rt::time::sleep(Duration::from_secs(40)).await;
    const SEARCH: &str = "/search?q=rust%20comp*";
    shoot_after(
        &busy,
        DESKTOP,
        &[
            ("busy-home", "/", ""),
            ("busy-messages", "/messages", ""),
            ("busy-channels", "/channels", ""),
            ("busy-channel", "/channels/general", ""),
            ("busy-users", "/users", ""),
            ("busy-users-prefix", "/users?prefix=viewer12&sort=recent", ""),
            ("busy-user", "/users/viewer1", ""),
            ("busy-search", SEARCH, ""),
            ("busy-search-end", SEARCH, SCROLL_TO_END),
            ("busy-search-older", SEARCH, OLDER_RESULTS),
            ("busy-incidents", "/incidents", ""),
        ],
    )
    .await;
    shoot_after(
        &busy,
        PHONE,
        &[
            ("phone-home", "/", ""),
            ("phone-channel", "/channels/general?window=5m", ""),
            ("phone-messages", "/messages", ""),
            ("phone-users", "/users", ""),
            ("phone-user", "/users/viewer1", ""),
            ("phone-search", SEARCH, ""),
        ],
    )
    .await;
}

/// The top lists (issue 16) in the middle of the view.
const SHOW_TOPS: &str = "document.querySelector('.tops').scrollIntoView({block: 'center'}); return true";

/// The top lists of the home, channel and profile pages: a little data (three channels,
/// four people) and the busy demo (the ten busiest of many), desktop and phone.
#[actix_rt::test]
#[ignore = "writes docs/screenshots; run on purpose"]
async fn screenshots_of_top_lists() {
    let light = TestApp::start().await;
    light.ingest(&light_history()).await;
    light.ingest(&light_data()).await;
    let since = (chrono::Utc::now() - chrono::Duration::hours(30)).format("%Y-%m-%dT%H%%3A00%%3A00Z");
    let user_from_to = format!("/users/alice?since={since}");
    shoot_after(
        &light,
        DESKTOP,
        &[
            ("light-home-top", "/?window=24h", SHOW_TOPS),
            ("light-channel-top", "/channels/general", SHOW_TOPS),
            ("light-user-top", "/users/alice?window=7d", SHOW_TOPS),
            ("light-user-top-from-to", &user_from_to, SHOW_TOPS),
        ],
    )
    .await;
    shoot_after(
        &light,
        PHONE,
        &[
            ("phone-channel-top", "/channels/general", SHOW_TOPS),
            ("phone-user-top", "/users/alice?window=30d", SHOW_TOPS),
        ],
    )
    .await;

    let busy = TestApp::builder().demo().start().await;
    actix_rt::time::sleep(Duration::from_secs(40)).await;
    shoot_after(
        &busy,
        DESKTOP,
        &[
            ("busy-home-top", "/", SHOW_TOPS),
            ("busy-channel-top", "/channels/general?window=1h", SHOW_TOPS),
        ],
    )
    .await;
    shoot_after(&busy, PHONE, &[("phone-home-top", "/?window=5m", SHOW_TOPS)]).await;
}

/// A chart-like picture for the polls-and-files pictures: checkout errors per minute, the
/// spike after a deploy, on the pages' dark surface.
fn error_rate_png() -> Vec<u8> {
    let (w, h) = (480u32, 240u32);
    let bars: Vec<u32> = (0..40)
        .map(|i| match i {
            0..=21 => 18 + (i * 7 % 11),
            22..=27 => 60 + (i - 22) * 28,
            28..=33 => 190 - (i - 28) * 12,
            _ => 40 + (i * 5 % 9),
        })
        .collect();
    crate::polls_files::png(w, h, |x, y| {
        let (left, bottom) = (24, h - 20);
        if y == bottom && x >= left || x == left && y <= bottom {
            return [0x55, 0x62, 0x7a];
        }
        if y < bottom && x > left && (bottom - y) % 50 == 0 {
            return [0x23, 0x2b, 0x38];
        }
        let i = x.saturating_sub(left + 4) / 11;
        let inside = x > left + 4 && (x - left - 4) % 11 < 8 && (i as usize) < bars.len();
        if inside && y < bottom && bottom - y <= bars[i as usize] {
            return if (22..28).contains(&i) {
                [0xff, 0x7b, 0x72]
            } else {
                [0x7c, 0xb2, 0xff]
            };
        }
        [0x16, 0x1b, 0x22]
    })
}

/// The deploy log the pictures attach.
fn deploy_log() -> Vec<u8> {
    let mut log = String::new();
    for (i, line) in [
        "rollout 2.5.0 started (canary 5%)",
        "canary healthy, widening to 20%",
        "checkout p99 1.9 s (was 420 ms)",
        "checkout errors 1.4% (was 0.2%): PaymentTimeout",
        "pool exhausted: payments-db max_connections=40",
    ]
    .iter()
    .cycle()
    .take(60)
    .enumerate()
    {
        log.push_str(&format!(
            "14:{:02}:{:02} deploy[{}] {line}\n",
            2 + i / 12,
            (i * 7) % 60,
            4100 + i
        ));
    }
    log.into_bytes()
}

/// A stream with polls and files (issue 17): a closed poll, an open one with votes (alice's
/// among them), an image with its preview, a log file, a file deleted; desktop and phone,
/// signed in as alice (her vote, her close button), and the "New poll" form open.
#[actix_rt::test]
#[ignore = "writes docs/screenshots; run on purpose"]
async fn screenshots_of_polls_and_files() {
    let app = TestApp::builder().token_secret(SECRET).start().await;
    let token = |name: &str| user_token(SECRET, name, false);
    let call = |method: &'static str, path: String, who: &'static str, body: Value| {
        let token = token(who);
        let app = &app;
        async move {
            let body = (!body.is_null()).then_some(body);
            let r = app.request(method, &path, Some(&token), body.as_ref()).await;
            assert!((200..300).contains(&r.status), "{method} {path}: {r}");
            r.json
        }
    };
    let upload = |who: &'static str, stream: i64, name: &'static str, kind: &'static str, body: Vec<u8>| {
        let token = token(who);
        let app = &app;
        async move {
            let auth = format!("Bearer {token}");
            let r = app
                .post_to(
                    &format!("/api/streams/{stream}/files?name={}", enc(name)),
                    body,
                    kind,
                    &[("Authorization", &auth)],
                )
                .await;
            assert_eq!(r.status, 201, "upload {name}: {r}");
            r.json["event_id"].as_i64().unwrap()
        }
    };
    let post = |who: &'static str, stream: i64, text: &'static str| {
        call(
            "POST",
            format!("/api/streams/{stream}/events"),
            who,
            json!({"text": text}),
        )
    };
    let release = call(
        "POST",
        "/api/streams".into(),
        "alice",
        json!({"kind": "channel", "name": "release", "visibility": "public",
               "description": "Rollouts, rollbacks and who is on call for them."}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let vote = |who: &'static str, poll: i64, options: Value| {
        call(
            "POST",
            format!("/api/streams/{release}/polls/{poll}/vote"),
            who,
            json!({ "options": options }),
        )
    };
    let freeze = call(
        "POST",
        format!("/api/streams/{release}/polls"),
        "carol",
        json!({"question": "Freeze deploys over the weekend?", "options": ["Yes, from Friday 18:00", "No"]}),
    )
    .await["event_id"]
        .as_i64()
        .unwrap();
    for (who, choice) in [("alice", 0), ("bob", 0), ("dave", 0), ("erin", 1)] {
        vote(who, freeze, json!([choice])).await;
    }
    call(
        "POST",
        format!("/api/streams/{release}/polls/{freeze}/close"),
        "carol",
        Value::Null,
    )
    .await;
    post(
        "bob",
        release,
        "2.5.0 is at 20% of traffic. Checkout errors went from 0.2% to 1.4% in five minutes.",
    )
    .await;
    upload("bob", release, "checkout-errors.png", "image/png", error_rate_png()).await;
    upload("carol", release, "deploy-2.5.0.log", "text/plain", deploy_log()).await;
    let stale = upload("dave", release, "old-runbook.pdf", "application/pdf", vec![b'%'; 2048]).await;
    call(
        "DELETE",
        format!("/api/streams/{release}/events/{stale}"),
        "dave",
        Value::Null,
    )
    .await;
    let closes =
        (chrono::Utc::now() + chrono::Duration::minutes(30)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let rollback = call(
        "POST",
        format!("/api/streams/{release}/polls"),
        "alice",
        json!({"question": "Roll back 2.5.0 now?",
               "options": ["Roll back now", "Wait 15 minutes for the hotfix", "Keep rolling out"],
               "closes_at": closes}),
    )
    .await["event_id"]
        .as_i64()
        .unwrap();
    for (who, choice) in [("bob", 0), ("carol", 1), ("dave", 0), ("alice", 0), ("erin", 0)] {
        vote(who, rollback, json!([choice])).await;
    }
    post(
        "carol",
        release,
        "The pool limit is the cause: payments-db max_connections=40. Hotfix PR is up.",
    )
    .await;

    let page = format!("/streams/{release}");
    const SHOW_POLL: &str =
        "document.querySelector('.ev-poll:not(.is-closed)').scrollIntoView({block: 'center'}); return true";
    // The closed poll at the top, then the image.
    const SHOW_IMAGE: &str =
        "document.querySelector('.ev-poll.is-closed').scrollIntoView({block: 'start'}); return true";
    const SHOW_POLL_FORM: &str = "document.querySelector('[data-poll-new]').click(); \
        const f = document.querySelector('[data-poll-form]'); \
        f.querySelector('input[name=\"question\"]').value = 'Who takes the 2.5.1 rollout?'; \
        const o = f.querySelectorAll('[data-poll-form-options] input'); o[0].value = 'alice'; o[1].value = 'bob'; \
        f.querySelector('[data-option-add]').click(); \
        f.querySelectorAll('[data-poll-form-options] input')[2].value = 'carol'; \
        f.scrollIntoView({block: 'end'}); return true";
    let alice = token("alice");
    shoot_as(
        &app,
        DESKTOP,
        Some(&alice),
        &[
            ("light-stream-polls-files", &page, SHOW_IMAGE),
            ("light-stream-poll", &page, SHOW_POLL),
            ("light-stream-poll-form", &page, SHOW_POLL_FORM),
        ],
    )
    .await;
    shoot_as(
        &app,
        PHONE,
        Some(&alice),
        &[
            ("phone-stream-poll", &page, SHOW_POLL),
            ("phone-stream-files", &page, SHOW_IMAGE),
            ("phone-stream-poll-form", &page, SHOW_POLL_FORM),
        ],
    )
    .await;
}
