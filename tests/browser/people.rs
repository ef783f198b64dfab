//! People in the browser (issue 13, items 2 and 7): two people on a stream's page (one
//! types, the other sees it), one person on two devices (one reads, the other's inbox
//! badge clears), an anonymous visitor who sees nothing of a private stream, and a private
//! deployment that sends a visitor to sign in and then on to the page they asked for.
use fantoccini::key::Key;
use fantoccini::Locator;
use serde_json::{json, Value};

use crate::*;

const SECRET: &str = "browser-people-secret-0123";

/// A server with user tokens, and the people who may use them.
struct People {
    app: TestApp,
    alice: String,
    bob: String,
}

async fn people(settings: ServerSettings) -> People {
    let app = settings.token_secret(SECRET).start().await;
    People {
        app,
        alice: user_token(SECRET, "alice", false),
        bob: user_token(SECRET, "bob", false),
    }
}

impl People {
    /// A change through the stream API that must succeed; its JSON.
    async fn call(&self, method: &str, path: &str, token: &str, body: Value) -> Value {
        let body = (!body.is_null()).then_some(body);
        let r = self.app.request(method, path, Some(token), body.as_ref()).await;
        assert!((200..300).contains(&r.status), "{method} {path}: {r}");
        r.json
    }

    async fn channel(&self, name: &str, visibility: &str, token: &str) -> i64 {
        let s = self
            .call(
                "POST",
                "/api/streams",
                token,
                json!({"kind": "channel", "name": name, "visibility": visibility}),
            )
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
}

/// Whether the element is shown (present, and neither it nor a parent hidden).
async fn shown(b: &Browser, selector: &str) -> bool {
    b.js(&format!(
        "const e = document.querySelector({}); return !!e && e.getClientRects().length > 0",
        json!(selector)
    ))
    .await
        == json!(true)
}

/// The text of a stream page's newest event.
async fn last_event_text(b: &Browser) -> String {
    b.text("[data-list=\"events\"] > li:last-child .ev-text").await
}

/// "I am on a stream's page with a colleague: when they type I see it, then their message."
#[actix_rt::test]
async fn one_person_types_in_the_composer_and_the_other_sees_it_then_the_message() {
    let t = people(TestApp::builder()).await;
    let eng = t.channel("engineering", "public", &t.alice).await;
    t.call("POST", &format!("/api/streams/{eng}/join"), &t.bob, Value::Null)
        .await;
    t.post(eng, &t.alice, "Deploy went out").await;

    let (a, b) = (Browser::start().await, Browser::start().await);
    sign_in(&a, &t.app, &t.alice).await;
    sign_in(&b, &t.app, &t.bob).await;
    let page = format!("/streams/{eng}");
    open_live(&a, &t.app, &page).await;
    open_live(&b, &t.app, &page).await;
    assert_eq!(
        a.text(".composer-hint").await,
        "Enter posts, Shift+Enter starts a new line · you post as alice"
    );
    assert_eq!(b.text("[data-typing]").await, "", "nobody is typing yet");

    // Alice types: Bob sees it; she does not see herself.
    let composer = a
        .client
        .find(Locator::Css("[data-composer] textarea"))
        .await
        .expect("the composer");
    composer.send_keys("Rolling back").await.expect("type");
    b.wait_text("[data-typing]", "alice is typing…").await;
    assert_eq!(a.text("[data-typing]").await, "", "the typist does not see themselves");

    // Enter posts: the message reaches both pages live, and Bob's indicator goes with it.
    composer.send_keys(&Key::Enter.to_string()).await.expect("press Enter");
    for (who, page) in [("bob", &b), ("alice", &a)] {
        let what = format!("{who}'s page to show alice's message");
        page.wait(&what, PAGE_WAIT, || async {
            (last_event_text(page).await == "Rolling back").then_some(())
        })
        .await;
    }
    assert_eq!(b.text("[data-typing]").await, "", "the message ends the typing");
    assert_eq!(
        a.js_str("return document.querySelector('[data-composer] textarea').value")
            .await,
        "",
        "the composer is emptied once the message is posted"
    );
    let stored = t.app.get_json(&format!("/api/streams/{eng}/events")).await;
    let newest = stored["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (newest["actor"].as_str(), newest["text"].as_str()),
        (Some("alice"), Some("Rolling back"))
    );

    // Typing that stops shows until it expires (5 s after the frame), then goes.
    composer.send_keys("and").await.expect("type");
    b.wait_text("[data-typing]", "alice is typing…").await;
    let since = Instant::now();
    b.wait("the typing to expire", Duration::from_secs(10), || async {
        b.text("[data-typing]").await.is_empty().then_some(())
    })
    .await;
    assert!(
        since.elapsed() >= Duration::from_secs(2),
        "typing shows until it expires, not at once gone: {:?}",
        since.elapsed()
    );
    a.assert_not_reloaded("alice's stream page").await;
    b.assert_not_reloaded("bob's stream page").await;
    a.close().await;
    b.close().await;
}

/// The badge of `stream` on an inbox: (unread, mentions) as shown, `None` for a hidden one.
async fn badge(b: &Browser, stream: i64) -> (Option<String>, Option<String>) {
    let row = format!(".inbox-row[data-id=\"{stream}\"]");
    let read = |sel: &'static str| {
        let s = format!("{row} {sel}");
        async move {
            if shown(b, &s).await {
                Some(b.text(&format!("{s} [data-n]")).await)
            } else {
                None
            }
        }
    };
    (read("[data-unread-badge]").await, read("[data-mention-badge]").await)
}

async fn wait_badge(b: &Browser, stream: i64, unread: Option<&str>, mentions: Option<&str>) {
    let want = (unread.map(str::to_owned), mentions.map(str::to_owned));
    let what = format!("the inbox badge of stream {stream} to be {want:?}");
    b.wait(&what, PAGE_WAIT, || async {
        (badge(b, stream).await == want).then_some(())
    })
    .await
}

/// "My inbox is open on my laptop; I read the channel on my phone: the laptop's badge clears."
#[actix_rt::test]
async fn the_inbox_shows_badges_and_mentions_live_and_a_read_on_another_device_clears_them() {
    let t = people(TestApp::builder()).await;
    let core = t.channel("core-team", "private", &t.bob).await;
    t.call(
        "POST",
        &format!("/api/streams/{core}/members"),
        &t.bob,
        json!({"user": "alice"}),
    )
    .await;
    let eng = t.channel("engineering", "public", &t.alice).await;
    let dm = t
        .call(
            "POST",
            "/api/streams",
            &t.bob,
            json!({"kind": "dm", "members": ["alice"]}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    t.post(core, &t.bob, "Standup moved to 10:30").await;
    t.post(core, &t.bob, "@alice can you take the pager tonight?").await;
    t.post(dm, &t.bob, "lunch?").await;

    // The laptop: the streams in their groups, a DM named by the other person, the badges,
    // the mention.
    let laptop = Browser::start().await;
    sign_in(&laptop, &t.app, &t.alice).await;
    open_live(&laptop, &t.app, "/inbox").await;
    assert_eq!(
        laptop
            .text(&format!(
                "[data-rows=\"private\"] .inbox-row[data-id=\"{core}\"] .inbox-name"
            ))
            .await,
        "#core-team"
    );
    assert_eq!(
        laptop
            .text(&format!(
                "[data-rows=\"channel\"] .inbox-row[data-id=\"{eng}\"] .inbox-name"
            ))
            .await,
        "#engineering"
    );
    assert_eq!(
        laptop
            .text(&format!("[data-rows=\"dm\"] .inbox-row[data-id=\"{dm}\"] .inbox-name"))
            .await,
        "bob",
        "a DM is named by the others in it"
    );
    assert_eq!(badge(&laptop, core).await, (Some("2".into()), Some("1".into())));
    assert_eq!(badge(&laptop, dm).await, (Some("1".into()), None));
    assert_eq!(
        badge(&laptop, eng).await,
        (None, None),
        "her own channel has nothing unread"
    );
    assert_eq!(
        laptop.text(".mention .mention-text").await,
        "@alice can you take the pager tonight?"
    );
    assert_eq!(laptop.text(".mention .mention-stream").await, "#core-team");
    assert_eq!(laptop.js_str("return document.title").await, "(3) Inbox · chatpulse");

    // Live: a message moves the badge, a mention adds to the mentions.
    t.post(core, &t.bob, "Also: the deploy freeze starts Friday").await;
    wait_badge(&laptop, core, Some("3"), Some("1")).await;
    t.post(core, &t.bob, "@alice ping").await;
    wait_badge(&laptop, core, Some("4"), Some("2")).await;
    laptop
        .wait("the new mention in the list", PAGE_WAIT, || async {
            (laptop.text(".mention .mention-text").await == "@alice ping").then_some(())
        })
        .await;
    // A stream she is added to appears in its group.
    let ops = t.channel("ops-private", "private", &t.bob).await;
    t.call(
        "POST",
        &format!("/api/streams/{ops}/members"),
        &t.bob,
        json!({"user": "alice"}),
    )
    .await;
    t.post(ops, &t.bob, "welcome aboard").await;
    laptop
        .wait("the new private channel in the inbox", PAGE_WAIT, || async {
            (laptop
                .text(&format!(
                    "[data-rows=\"private\"] .inbox-row[data-id=\"{ops}\"] .inbox-name"
                ))
                .await
                == "#ops-private")
                .then_some(())
        })
        .await;
    wait_badge(&laptop, ops, Some("1"), None).await;

    // The phone opens the channel: that reads it, and the laptop's badge clears.
    let phone = Browser::phone(390, 844).await;
    sign_in(&phone, &t.app, &t.alice).await;
    open_live(&phone, &t.app, &format!("/streams/{core}")).await;
    wait_badge(&laptop, core, None, None).await;
    let boot = t.app.request("GET", "/api/bootstrap", Some(&t.alice), None).await;
    let row = boot.json["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == json!(core))
        .cloned()
        .unwrap();
    assert_eq!(
        (row["unread_count"].clone(), row["mention_count"].clone()),
        (json!(0), json!(0))
    );
    // While the phone shows the channel, what arrives is read there too.
    t.post(core, &t.bob, "thanks!").await;
    phone
        .wait("the new message on the phone", PAGE_WAIT, || async {
            (last_event_text(&phone).await == "thanks!").then_some(())
        })
        .await;
    wait_badge(&laptop, core, None, None).await;
    let boot = t.app.request("GET", "/api/bootstrap", Some(&t.alice), None).await;
    let read = boot.json["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == json!(core))
        .map(|s| s["unread_count"].clone());
    assert_eq!(read, Some(json!(0)), "the message read while shown");
    // The other streams keep theirs.
    assert_eq!(badge(&laptop, dm).await, (Some("1".into()), None));
    laptop.assert_not_reloaded("the inbox").await;
    laptop
        .wait("the title to count what is unread", PAGE_WAIT, || async {
            (laptop.js_str("return document.title").await == "(2) Inbox · chatpulse").then_some(())
        })
        .await;
    laptop.close().await;
    phone.close().await;
}

/// The page's whole markup, as the browser has it now.
async fn markup(b: &Browser) -> String {
    b.js_str("return document.documentElement.outerHTML").await
}

/// "Someone who is not in a private channel finds nothing of it, whatever page they open."
#[actix_rt::test]
async fn an_anonymous_visitor_gets_404_for_a_private_stream_and_sees_none_of_it_anywhere() {
    let t = people(TestApp::builder()).await;
    let eng = t.channel("engineering", "public", &t.alice).await;
    let secret = t.channel("secret-plans", "private", &t.bob).await;
    t.post(secret, &t.bob, "the launch codes are 0000").await;
    let dm = t
        .call(
            "POST",
            "/api/streams",
            &t.bob,
            json!({"kind": "dm", "members": ["alice"]}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    t.post(dm, &t.bob, "psst, a surprise party").await;
    t.post(eng, &t.alice, "Deploy went out").await;
    let hidden = ["secret-plans", "launch codes", "psst", "surprise party"];

    let b = Browser::start().await;
    b.goto(&t.app.url("/")).await;
    for id in [secret, dm] {
        let status = b
            .js(&format!("return fetch('/streams/{id}').then(r => r.status)"))
            .await;
        assert_eq!(status, json!(404), "a private stream's page is not found");
        b.goto(&t.app.url(&format!("/streams/{id}"))).await;
        assert_eq!(b.text("h1").await, "No such stream");
    }
    // The inbox says how to sign in.
    b.goto(&t.app.url("/inbox")).await;
    assert_eq!(b.text("#how-h").await, "Sign in to see your inbox");
    assert!(b.text(".signin-help").await.contains("chatpulse token NAME"));
    for path in [
        "/inbox".to_string(),
        "/".into(),
        "/messages".into(),
        "/channels".into(),
        "/incidents".into(),
        "/users/bob".into(),
        "/search?q=secret".into(),
        format!("/streams/{eng}"),
    ] {
        b.goto(&t.app.url(&path)).await;
        if !b.state().await.is_empty() {
            b.wait_state("live", PAGE_WAIT).await;
        }
        let html = markup(&b).await;
        for word in hidden {
            assert!(!html.contains(word), "{path} shows “{word}”");
        }
    }
    // A search finds nothing of them (the page shows the words searched for, only those).
    for q in ["launch", "psst"] {
        b.goto(&t.app.url(&format!("/search?q={q}"))).await;
        assert_eq!(
            b.js("return document.querySelectorAll('[data-results] li').length")
                .await,
            json!(0)
        );
        assert!(
            b.text("main").await.contains("No messages match"),
            "{}",
            b.text("main").await
        );
    }
    // Live: what is posted privately while a page is open never reaches it; what is posted
    // publicly does (so the page was listening).
    open_live(&b, &t.app, "/").await;
    t.post(secret, &t.bob, "more launch codes").await;
    t.post(dm, &t.bob, "psst again").await;
    let public = t.post(eng, &t.alice, "all clear").await;
    b.wait_top(public).await;
    let html = markup(&b).await;
    for word in hidden {
        assert!(!html.contains(word), "the live home page shows “{word}”");
    }
    // Bob's inbox, signed in, does list them (the words above are real).
    let bob = Browser::start().await;
    sign_in(&bob, &t.app, &t.bob).await;
    open_live(&bob, &t.app, "/inbox").await;
    let html = markup(&bob).await;
    assert!(
        html.contains("#secret-plans") && html.contains("alice"),
        "bob's inbox lists his private streams"
    );
    bob.close().await;
    b.close().await;
}

/// The address bar's path and query.
async fn location(b: &Browser) -> String {
    b.js_str("return location.pathname + location.search").await
}

/// "On a private deployment I follow a link to a stream: I am asked to sign in, and the
/// sign-in link then takes me to that stream."
#[actix_rt::test]
async fn a_private_deployment_sends_a_visitor_to_sign_in_and_then_on_to_the_page_asked_for() {
    let t = people(TestApp::builder().raw_args(["--require-token"])).await;
    let eng = t.channel("engineering", "public", &t.alice).await;
    t.post(eng, &t.alice, "Deploy went out").await;
    let page = format!("/streams/{eng}");
    let next = format!("/signin?next=%2Fstreams%2F{eng}");

    let b = Browser::start().await;
    b.goto(&t.app.url(&page)).await;
    assert_eq!(location(&b).await, next, "the page sent the visitor to sign in");
    assert_eq!(
        b.text("#signin-status").await,
        "You are not signed in: that page is for signed-in people."
    );
    let how = b.text("#signin-how").await;
    assert!(
        how.contains("ask whoever runs this server for a sign-in link") && how.contains("chatpulse token NAME"),
        "{how}"
    );
    assert!(how.contains(&format!("you then go on to /streams/{eng}")), "{how}");

    // The link, opened here, signs in and goes on to the page.
    b.goto(&t.app.url(&format!("{next}#token={}", t.alice))).await;
    b.wait("the stream page after signing in", PAGE_WAIT, || async {
        (location(&b).await == page).then_some(())
    })
    .await;
    b.wait_state("live", PAGE_WAIT).await;
    assert_eq!(b.text("h1").await, "#engineering");
    assert!(shown(&b, "[data-composer]").await, "signed in: the composer");
    assert_eq!(
        b.js_str("return location.hash").await,
        "",
        "no token is left in the address bar"
    );

    // `next` is a path of this server or nothing: never another origin.
    let c = Browser::start().await;
    for evil in [
        "https%3A%2F%2Fevil.example%2F",
        "%2F%2Fevil.example%2Fx",
        "%2F%5Cevil.example",
        "javascript%3Aalert(1)",
    ] {
        c.goto(&t.app.url(&format!("/signin?next={evil}#token={}", t.bob)))
            .await;
        c.wait("the page to sign in", PAGE_WAIT, || async {
            c.text("#signin-status")
                .await
                .starts_with("Signed in as bob until")
                .then_some(())
        })
        .await;
        assert_eq!(
            c.js_str("return location.origin + location.pathname").await,
            t.app.url("/signin"),
            "next={evil} is not followed"
        );
    }
    c.close().await;
    b.close().await;
}
