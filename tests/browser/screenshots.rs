//! Regenerates `docs/screenshots/` (README, "Pages"): every page with a little data and
//! with a busy demo, on a desktop and a phone width. Run on purpose:
//! `cargo test --test browser -- --ignored screenshots`.
use std::path::PathBuf;

use serde_json::json;

use crate::*;

const DESKTOP: (u32, u32) = (1280, 900);
const PHONE: (u32, u32) = (390, 844);

async fn shoot(app: &TestApp, size: (u32, u32), shots: &[(&str, &str)]) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
    std::fs::create_dir_all(&dir).expect("create docs/screenshots");
    let b = if size == PHONE {
        Browser::phone(size.0, size.1).await
    } else {
        Browser::with_size(size.0, size.1).await
    };
    for (name, path) in shots {
        b.goto(&app.url(path)).await;
        if !b.state().await.is_empty() {
            b.wait_state("live", PAGE_WAIT).await;
        }
        // Let arrival highlights fade and the chart take its first samples.
        actix_rt::time::sleep(Duration::from_millis(1800)).await;
        let png = b.client.screenshot().await.expect("screenshot");
        let file = dir.join(format!("{name}.png"));
        std::fs::write(&file, png).unwrap_or_else(|e| panic!("write {}: {e}", file.display()));
        eprintln!("wrote {}", file.display());
    }
    b.close().await;
}

fn light_data() -> Vec<Value> {
    let m = |c: &str, u: &str, d: &str, t: &str| json!({"channel": c, "user": u, "display_name": d, "text": t});
    vec![
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

#[actix_rt::test]
#[ignore = "writes docs/screenshots; run on purpose"]
async fn screenshots() {
    let empty = TestApp::start().await;
    shoot(&empty, DESKTOP, &[("empty-home", "/"), ("empty-channels", "/channels")]).await;

    let light = TestApp::start().await;
    light.ingest(&light_data()).await;
    shoot(
        &light,
        DESKTOP,
        &[
            ("light-home", "/"),
            ("light-messages", "/messages"),
            ("light-channels", "/channels"),
            ("light-channel", "/channels/general"),
            ("light-users", "/users"),
            ("light-user", "/users/alice"),
            ("light-search", "/search?q=deploy"),
            ("light-search-error", "/search?q=%22deploy"),
            ("light-not-found", "/users/nobody"),
        ],
    )
    .await;

    let busy = TestApp::builder().demo().start().await;
    // Long enough for the chart to have a shape and the long tail of users to show.
    actix_rt::time::sleep(Duration::from_secs(40)).await;
    shoot(
        &busy,
        DESKTOP,
        &[
            ("busy-home", "/"),
            ("busy-messages", "/messages"),
            ("busy-channels", "/channels"),
            ("busy-channel", "/channels/general"),
            ("busy-users", "/users"),
            ("busy-user", "/users/viewer1"),
            ("busy-search", "/search?q=rust%20comp*"),
        ],
    )
    .await;
    shoot(
        &busy,
        PHONE,
        &[
            ("phone-home", "/"),
            ("phone-messages", "/messages"),
            ("phone-users", "/users"),
            ("phone-user", "/users/viewer1"),
        ],
    )
    .await;
}
