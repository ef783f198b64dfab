//! An existing v1 database upgrades in place at start-up (PROTOCOL.md section 8): built
//! here with the v1 migrations only, filled as v1 left it, then opened by this server.
//! Every message is a `message` event with the same id, every channel a public `channel`
//! stream with the same id; counts, search, lists and live views are unchanged.

use std::path::{Path, PathBuf};

use diesel::connection::SimpleConnection;
use diesel::Connection;
use diesel_migrations::{FileBasedMigrations, MigrationHarness};
use serde_json::{json, Value};

use crate::common::*;

/// The first migration of the stream model: everything before it is v1.
const STREAMS_MIGRATION: &str = "2026-12-12-000000_streams";

/// A copy of `migrations/<backend>` without the stream model's migrations.
fn v1_migrations(backend: &str) -> (tempfile::TempDir, PathBuf) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(backend);
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join(backend);
    for entry in std::fs::read_dir(&src).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        if name.as_str() >= STREAMS_MIGRATION {
            continue;
        }
        std::fs::create_dir_all(dst.join(&name)).unwrap();
        for file in std::fs::read_dir(entry.path()).unwrap() {
            let file = file.unwrap();
            std::fs::copy(file.path(), dst.join(&name).join(file.file_name())).unwrap();
        }
    }
    (dir, dst)
}

/// What a v1 server leaves: 3 channels, 4 users, 60 messages with their counts (and, on
/// SQLite, their FTS rows).
fn fill_v1(conn: &mut impl SimpleConnection, sqlite: bool) {
    let mut sql = String::from(
        "INSERT INTO channels (name) VALUES ('general'), ('random'), ('ops');
         INSERT INTO users (username, display_name) VALUES ('ann', 'Ann'), ('ben', NULL), ('cat', NULL), ('dan', 'Dan');",
    );
    for i in 1..=60 {
        let words = ["apple", "banana", "cherry"][i % 3];
        sql.push_str(&format!(
            "INSERT INTO messages (id, channel_id, user_id, text, sent_at, tags, event_id) \
             VALUES ({i}, {}, {}, 'message {i} about {words}', {}, NULL, {});",
            i % 3 + 1,
            i % 4 + 1,
            1_780_000_000_000i64 + i as i64 * 1000,
            if i % 10 == 0 { format!("'e{i}'") } else { "NULL".into() },
        ));
    }
    if sqlite {
        sql.push_str("INSERT INTO messages_fts (rowid, text) SELECT id, text FROM messages;");
    }
    sql.push_str(
        "UPDATE channels SET total_messages = (SELECT count(*) FROM messages WHERE channel_id = channels.id),
             last_message_at = (SELECT max(sent_at) FROM messages WHERE channel_id = channels.id),
             last_message_id = (SELECT max(id) FROM messages WHERE channel_id = channels.id);
         UPDATE users SET total_messages = (SELECT count(*) FROM messages WHERE user_id = users.id),
             first_seen_at = (SELECT min(sent_at) FROM messages WHERE user_id = users.id),
             last_seen_at = (SELECT max(sent_at) FROM messages WHERE user_id = users.id),
             last_message_at = (SELECT max(sent_at) FROM messages WHERE user_id = users.id),
             last_message_id = (SELECT max(id) FROM messages WHERE user_id = users.id);
         UPDATE meta SET total_messages = (SELECT count(*) FROM messages);",
    );
    conn.batch_execute(&sql).unwrap();
}

#[actix_rt::test]
async fn a_v1_database_upgrades_in_place() {
    // The database, built by the v1 migrations and filled; kept alive for the test.
    let sqlite_dir = tempfile::tempdir().unwrap();
    let (_pg, url) = match Backend::from_env() {
        Backend::Sqlite => {
            let path = sqlite_dir.path().join("v1.db").to_string_lossy().into_owned();
            let (_m, dir) = v1_migrations("sqlite");
            let mut conn = diesel::SqliteConnection::establish(&path).unwrap();
            conn.run_pending_migrations(FileBasedMigrations::from_path(&dir).unwrap())
                .unwrap();
            fill_v1(&mut conn, true);
            (None, path)
        }
        Backend::Postgres => {
            let db = PgDatabase::create();
            let (_m, dir) = v1_migrations("postgresql");
            let mut conn = diesel::PgConnection::establish(&db.url()).unwrap();
            conn.run_pending_migrations(FileBasedMigrations::from_path(&dir).unwrap())
                .unwrap();
            fill_v1(&mut conn, false);
            let url = db.url();
            (Some(db), url)
        }
    };

    let app = TestApp::builder()
        .database_url(&url)
        .token_secret("upgrade-test-secret")
        .start()
        .await;

    // Counts, lists and search as v1 had them.
    let totals = app.api_metrics().await;
    assert_eq!(
        (
            &totals["total_messages"],
            &totals["total_channels"],
            &totals["total_users"],
            &totals["cursor"]
        ),
        (&json!(60), &json!(3), &json!(4), &json!(60)),
        "{totals}"
    );
    let channels = app.get_json("/api/channels?sort=name").await;
    let got: Vec<(i64, String, i64)> = channels["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_i64().unwrap(),
                c["name"].as_str().unwrap().to_owned(),
                c["total_messages"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (1, "general".into(), 20),
            (3, "ops".into(), 20),
            (2, "random".into(), 20)
        ]
    );
    let found = app.get_json("/api/search?q=banana&limit=100").await;
    let mut ids: Vec<i64> = found["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        (1..=60).filter(|i| i % 3 == 1).collect::<Vec<_>>(),
        "search unchanged"
    );
    let ann = app.get_json("/api/users/ann").await;
    assert_eq!(ann["user"]["total_messages"], 15);
    // The per-minute counts were filled from what was stored (one message a second).
    let minutes = "/api/activity?since=2026-05-28T20:26:00Z&until=2026-05-28T20:28:00Z&bucket=minute";
    let activity = app.get_json(minutes).await;
    let per_minute: Vec<i64> = activity["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["messages"].as_i64().unwrap())
        .collect();
    assert_eq!(
        (per_minute.iter().sum::<i64>(), &activity["total"]),
        (60, &json!(60)),
        "{activity}"
    );
    let general = app.get_json(&format!("{minutes}&channel=general")).await;
    assert_eq!(general["total"], 20);

    // Every channel is a public channel stream with its id; every message an event with its id.
    let streams = app.get_json("/api/streams?kind=channel").await;
    let mut listed: Vec<(i64, &str, &str, &str, i64)> = streams["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_i64().unwrap(),
                s["name"].as_str().unwrap(),
                s["visibility"].as_str().unwrap(),
                s["status"].as_str().unwrap(),
                s["total_events"].as_i64().unwrap(),
            )
        })
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        [
            (1, "general", "public", "active", 20),
            (2, "random", "public", "active", 20),
            (3, "ops", "public", "active", 20)
        ]
    );
    let general = app.get_json("/api/streams/1").await;
    assert_eq!(
        general["created_at"],
        json!(chatpulse::time::format_ms(1_780_000_003_000)),
        "a v1 channel was created by its first message: {general}"
    );
    let events = app.get_json("/api/streams/1/events?after_id=0&limit=100").await;
    let events = events["events"].as_array().unwrap();
    assert_eq!(events.len(), 20);
    for e in events {
        let id = e["event_id"].as_i64().unwrap();
        assert_eq!(id % 3, 0, "general held every third message: {e}");
        assert_eq!(e["event_type"], "message");
        assert_eq!(e["stream_id"], 1);
        assert!(
            e["text"].as_str().unwrap().starts_with(&format!("message {id} ")),
            "{e}"
        );
    }

    // A stream view catches up from the v1 cursor, and new events continue the log.
    let epoch = app.epoch().await;
    let mut live = app.live(Transport::Ws, "stream/2", Some(50), Some(&epoch)).await;
    let (backlog, _) = live.until_connected(WAIT).await;
    let cursors: Vec<i64> = backlog.iter().map(|e| e["cursor"].as_i64().unwrap()).collect();
    assert_eq!(cursors, [52, 55, 58], "random's events after 50");
    let token = user_token("upgrade-test-secret", "ann", false);
    let r = app
        .request(
            "POST",
            "/api/streams/2/events",
            Some(&token),
            Some(&json!({"text": "after the upgrade"})),
        )
        .await;
    assert_eq!((r.status, &r.json["event_id"]), (201, &json!(61)), "{r}");
    let seen = live.read_of_type("event", 1, WAIT).await;
    assert_eq!(seen.last().unwrap()["text"], "after the upgrade");
    // An idempotency key of v1 still answers its message.
    let again = app
        .post_json(&json!({"channel": "ops", "user": "dan", "text": "x", "event_id": "e30"}))
        .await;
    assert_eq!(again.json["ids"], json!([30]), "{again}");
    let v1 = app.ingest(&[msg("general", "ann", "v1 ingest goes on")]).await;
    assert_eq!(v1["ids"], json!([62]));
    let totals: Value = app.api_metrics().await;
    assert_eq!(totals["total_messages"], 62);
}
