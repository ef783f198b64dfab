//! Observation that is not part of any one handler: HTTP request metrics for every route,
//! and a sampler that keeps the store gauges (row counts, file sizes) current.
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;

use crate::metrics::METRICS;
use crate::store::{self, Store};

/// How often the store gauges are refreshed. Reading them is one indexed row and (on
/// SQLite) two `stat` calls, so this is about freshness, not cost.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(5);

/// The route label for a request that matched no route: a fixed value, never the path.
const UNMATCHED: &str = "unmatched";

/// Middleware (`middleware::from_fn(observe::http)`): counts each request by route
/// template, method and status, and times it to the response head. A live SSE or
/// WebSocket request is timed to its handshake, not for the life of the stream.
pub async fn http(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = method_label(req.method());
    // The template (`/api/users/{name}`), so a label never holds a user or channel name.
    let route = req.match_pattern();
    let res = next.call(req).await;
    let elapsed = started.elapsed().as_secs_f64();
    let status = match &res {
        Ok(r) => r.status(),
        Err(e) => e.as_response_error().status_code(),
    };
    let route = route.as_deref().unwrap_or(UNMATCHED);
    METRICS
        .http_requests
        .with_label_values(&[route, method, status.as_str()])
        .inc();
    METRICS
        .http_request_seconds
        .with_label_values(&[route, method])
        .observe(elapsed);
    res
}

/// Methods outside the standard set share one label value, so a client cannot grow the
/// label set by inventing methods.
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// Refreshes the store gauges now and then every [`SAMPLE_EVERY`] until the runtime stops.
pub fn start_sampler(store: Store) -> actix_web::rt::task::JoinHandle<()> {
    actix_web::rt::spawn(async move {
        let mut tick = actix_web::rt::time::interval(SAMPLE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tick.tick().await;
            let store = store.clone();
            let ok = actix_web::rt::task::spawn_blocking(move || sample(&store))
                .await
                .unwrap_or(false);
            // One line when sampling starts failing and one when it recovers, not one per tick.
            if ok == failing {
                failing = !ok;
                if failing {
                    log::warn!("store sampling failed; store gauges are stale");
                } else {
                    log::info!("store sampling recovered");
                }
            }
        }
    })
}

/// Reads the row counts and (SQLite's) file sizes into the gauges; false when the database
/// did not answer. PostgreSQL has no file of ours to measure: the file gauges stay at 0.
fn sample(store: &Store) -> bool {
    if let Some(path) = store.sqlite_path() {
        let file_size = |p: &str| std::fs::metadata(p).map_or(0, |m| m.len() as i64);
        METRICS
            .store_file_bytes
            .with_label_values(&["database"])
            .set(file_size(path));
        METRICS
            .store_file_bytes
            .with_label_values(&["wal"])
            .set(file_size(&format!("{path}-wal")));
    }
    let totals = store.conn().and_then(|mut c| store::totals(&mut c).map_err(Into::into));
    match totals {
        Ok(t) => {
            for (table, rows) in [
                ("messages", t.total_messages),
                ("channels", t.total_channels),
                ("users", t.total_users),
            ] {
                METRICS.store_rows.with_label_values(&[table]).set(rows);
            }
            true
        }
        Err(e) => {
            log::debug!("store sample failed error={e}");
            false
        }
    }
}
