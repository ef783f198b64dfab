//! chatpulse: messages come in over HTTP, are stored in SQLite (or PostgreSQL) with exact
//! counts and full-text search, and every view is kept live over WebSocket and SSE.
//! Folders follow the data: `ingest` → `store` → `live` → `web`.
pub mod auth;
pub mod bus;
pub mod config;
pub mod domain;
pub mod error;
pub mod fuzzing;
pub mod ingest;
pub mod irc;
pub mod json_schema;
pub mod live;
pub mod metrics;
pub mod store;
pub mod time;
pub mod web;

use std::sync::Arc;
use std::time::Duration;

use actix::Actor;

use bus::{Bus, BusSettings};
use config::Settings;
use ingest::{Flush, IngestActor};
use live::hub::Hub;
use live::messages::Shutdown;
use live::sequencer::Sequencer;
use live::{Live, LiveSettings};
use store::Store;

/// Read connections beyond the HTTP workers, for sessions' catch-up reads.
const EXTRA_READERS: u32 = 8;

/// Runs the server until SIGTERM or SIGINT, then shuts down gracefully.
pub async fn serve(s: Settings) -> Result<(), Box<dyn std::error::Error>> {
    let workers = s
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    // Dropped last: a demo's throwaway database is removed when the server has stopped.
    if s.max_bodies_bytes < s.max_body_bytes {
        return Err(format!(
            "--max-bodies-bytes ({}) is below --max-body-bytes ({}): no body could ever be read",
            s.max_bodies_bytes, s.max_body_bytes
        )
        .into());
    }
    let database = s.database()?;
    if let Some(dir) = &database.throwaway {
        log::info!(
            "demo without --database: a throwaway database in {}, removed at exit",
            dir.path().display()
        );
    }
    let pool = s.db_pool.unwrap_or(workers as u32 + EXTRA_READERS);
    let store =
        Store::open_with_cache(&database.path, pool, s.sqlite_cache_kib).map_err(|e| match e.write_trouble() {
            Some(trouble) => format!(
                "the database {} cannot take writes ({}): chatpulse must be able to write it; {e}",
                redact_password(&database.path),
                trouble.as_str()
            )
            .into(),
            None => Box::<dyn std::error::Error>::from(e),
        })?;
    // Uploads that a node left without their event (it died mid-upload) go; an upload
    // under way on another node is younger than this.
    let abandoned =
        store::files::drop_abandoned(&mut *store.conn()?, time::now_ms() - store::files::ABANDONED_UPLOAD_MS)?;
    if abandoned > 0 {
        log::info!("dropped abandoned uploads n={abandoned}");
    }
    log::info!(
        "starting database={} db_pool={pool} sqlite_cache_kib={} epoch={} catchup_batch={} catchup_max={} queue_bytes={} write_timeout_ms={} send_buffer_bytes={} coalesce_ms={} idle_after_ms={} max_connections={} ingest_queue={} max_body_bytes={} max_batch={} ingest_token={} demo={}",
        redact_password(&database.path), s.sqlite_cache_kib, store.epoch(), s.catchup_batch, s.catchup_max, s.queue_bytes, s.write_timeout_ms, s.send_buffer_bytes, s.coalesce_ms, s.idle_after_ms,
        s.max_connections, s.ingest_queue, s.max_body_bytes, s.max_batch, s.ingest_token.is_some(), s.demo
    );
    let node_id = s.node_id.clone().unwrap_or_else(random_node_id);
    // `--demo` signs people in: without a secret, it makes one for this run.
    let token_secret = s.token_secret.clone().or_else(|| s.demo.then(auth::random_secret));
    if s.require_token && token_secret.is_none() {
        return Err(std::io::Error::other(
            "--require-token needs --token-secret (or --demo): without one no user token can be valid",
        )
        .into());
    }
    // Live views start from what is stored now: earlier commits are the pages' and
    // catch-up's to read.
    let newest = store::totals(&mut *store.conn()?)?.cursor;
    let hub = Hub::new(Duration::from_millis(s.coalesce_ms), store.clone(), newest).start();
    let (sequencer, delivered) = Sequencer::new(hub.clone().recipient(), store.clone(), newest);
    let sequencer = sequencer.start();
    let bus = match &s.bus {
        Some(url) => {
            let settings = BusSettings {
                url: url.clone(),
                maxlen: s.bus_maxlen,
                node_id: node_id.clone(),
            };
            Some(Bus::start(
                settings,
                store.epoch(),
                sequencer.clone(),
                hub.clone().recipient(),
            )?)
        }
        None => {
            metrics::METRICS.bus_up.set(-1);
            None
        }
    };
    log::info!("node node_id={node_id} bus={}", s.bus.is_some());
    let writes = ingest::WriteHealth::default();
    let ingest = IngestActor::new(store.clone(), sequencer, bus.clone(), s.ingest_queue, writes.clone()).start();
    let live = Arc::new(Live::new(
        LiveSettings {
            catchup_batch: s.catchup_batch as i64,
            catchup_max: s.catchup_max as i64,
            queue_bytes: s.queue_bytes as usize,
            idle_after: Duration::from_millis(s.idle_after_ms),
            write_timeout: Duration::from_millis(s.write_timeout_ms),
            send_buffer_bytes: s.send_buffer_bytes,
            max_connections: s.max_connections,
        },
        store.clone(),
        hub.clone(),
        bus.clone(),
    ));
    let irc = irc::Irc::start(
        irc::IrcSettings {
            server: s.irc_server.clone(),
            nick: s.irc_nick.clone(),
            token: s.irc_token.clone(),
        },
        s.irc_channels.clone(),
        store.clone(),
        node_id.clone(),
        ingest.clone(),
    )
    .await?;
    let state = actix_web::web::Data::new(web::AppState {
        store: store.clone(),
        ingest: ingest.clone(),
        ingest_token: s.ingest_token.clone(),
        max_batch: s.max_batch as usize,
        max_body_bytes: s.max_body_bytes,
        max_file_bytes: s.max_file_bytes,
        max_files_bytes: s.max_files_bytes,
        file_pace: std::sync::Arc::new(web::files::FilePace::new(s.file_bytes_per_second)),
        bodies: web::BodyBudget::new(s.max_bodies_bytes),
        writes,
        node_id,
        bus,
        delivered,
        irc: irc.clone(),
        irc_server: s.irc_server.to_string(),
        tokens: token_secret.as_deref().map(|t| auth::Tokens::new(t.as_bytes())),
        require_token: s.require_token,
    });
    let listener = std::net::TcpListener::bind(&s.bind)?;
    let addr = listener.local_addr()?;
    let origins = web::origin::Origins::new(
        s.public_origin.clone(),
        s.allowed_origins.clone(),
        s.trusted_proxies.clone(),
    );
    let server = web::server(state, live, origins, listener, Some(workers))?;
    let handle = server.handle();
    let running = actix_web::rt::spawn(server);
    // The handlers go in before the log says the server is up: a SIGTERM sent the moment
    // `listening on` appears must shut it down gracefully, not kill it.
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    log::info!("listening on http://{addr}");
    let demo = s.demo.then(|| ingest::demo::start(ingest.clone()));
    let story = s.demo.then(|| ingest::demo::start_story(ingest.clone()));
    if let (true, Some(secret)) = (s.demo, &token_secret) {
        let visitor = ingest::demo::VISITOR;
        let token = auth::Tokens::new(secret.as_bytes()).issue(visitor, Duration::from_secs(7 * 86_400), false);
        log::info!("demo: sign in as `{visitor}` with http://{addr}/signin#token={token}");
    }

    let _sampler = web::observe::start_sampler(store.clone());
    let pruner = s
        .retention
        .map(|keep| store::retention::start(store.clone(), keep, s.retention_batch as i64));

    tokio::select! {
        _ = term.recv() => log::info!("shutdown signal=SIGTERM"),
        _ = interrupt.recv() => log::info!("shutdown signal=SIGINT"),
    }
    if let Some(story) = story {
        story.abort();
    }
    if let Some(demo) = demo {
        demo.abort();
    }
    if let Some(pruner) = pruner {
        pruner.abort();
    }

    // Sessions first (they are told to reconnect), then stop accepting and let in-flight
    // requests finish: each waits for its commit, so nothing acknowledged is lost.
    let _ = hub.send(Shutdown).await;
    handle.stop(true).await;
    let _ = running.await;
    irc.release().await;
    let _ = ingest.send(Flush).await;
    log::info!("shutdown complete");
    Ok(())
}

/// A node id for a node started without `--node-id`.
fn random_node_id() -> String {
    use rand::Rng;
    format!("node-{:08x}", rand::rng().random::<u32>())
}

/// A database URL fit for the log: `postgres://user:secret@host/db` becomes
/// `postgres://user:***@host/db`.
fn redact_password(database: &str) -> String {
    let Some((scheme, rest)) = database.split_once("://") else {
        return database.to_owned();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        _ => database.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_never_reach_the_log() {
        use super::redact_password as r;
        assert_eq!(r("postgres://me:s3cret@db:5432/chat"), "postgres://me:***@db:5432/chat");
        assert_eq!(
            r("postgres://postgres@127.0.0.1/chat"),
            "postgres://postgres@127.0.0.1/chat"
        );
        assert_eq!(r("chatpulse.db"), "chatpulse.db");
    }
}
