//! HTTP: routes, shared state, and the server itself.
pub mod api;
pub mod export;
pub mod files;
pub mod irc;
pub mod live;
pub mod observe;
pub mod openapi;
pub mod origin;
pub mod pages;
pub mod polls;
pub mod private;
pub mod streams;

use std::sync::Arc;

use actix::Addr;
use actix_web::dev::ServiceResponse;
use actix_web::http::{header, StatusCode};
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::{web, App, HttpServer, ResponseError};

use crate::error::ApiError;

use crate::ingest::IngestActor;
use crate::live::{ConnFd, Live};
use crate::store::Store;

/// Bytes of request bodies in memory at once, across all requests: each ingest request
/// holds what its body may take (its `Content-Length`, or `--max-body-bytes` for a chunked
/// one) from before it is read until it is answered.
#[derive(Clone)]
pub struct BodyBudget {
    held: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    limit: usize,
}

/// Bytes of a [`BodyBudget`] held by one request; given back when dropped.
pub struct HeldBytes {
    held: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    n: usize,
}

impl BodyBudget {
    pub fn new(limit: usize) -> Self {
        BodyBudget {
            held: Default::default(),
            limit,
        }
    }

    /// `n` bytes, unless they would take the total past the limit.
    pub fn reserve(&self, n: usize) -> Option<HeldBytes> {
        use std::sync::atomic::Ordering;
        self.held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                held.checked_add(n).filter(|total| *total <= self.limit)
            })
            .ok()
            .map(|_| HeldBytes {
                held: self.held.clone(),
                n,
            })
    }
}

impl Drop for HeldBytes {
    fn drop(&mut self) {
        self.held.fetch_sub(self.n, std::sync::atomic::Ordering::AcqRel);
    }
}

/// What every HTTP handler shares.
pub struct AppState {
    /// Reads go to the pool directly (`Store::snapshot`); writes only through `ingest`.
    pub store: Store,
    /// The one writer: ingest requests are handed to it and answered after its commit.
    pub ingest: Addr<IngestActor>,
    /// `--ingest-token`: when set, every write must carry it.
    pub ingest_token: Option<String>,
    /// `--require-token`: every read, page and live view needs a user token.
    pub require_token: bool,
    /// `--max-file-bytes` and `--max-files-bytes`: one upload, and every file together.
    pub max_file_bytes: u64,
    pub max_files_bytes: u64,
    /// `--file-bytes-per-second`: the pace of every file transfer on this node together.
    pub file_pace: std::sync::Arc<files::FilePace>,
    /// `--max-batch`: most messages in one ingest request.
    pub max_batch: usize,
    /// `--max-body-bytes`, for the ingest resource's `PayloadConfig`.
    pub max_body_bytes: usize,
    /// `--max-bodies-bytes`: what all ingest bodies being read and parsed may hold at once.
    pub bodies: BodyBudget,
    /// Whether the store took the last commit, for `/healthz`.
    pub writes: crate::ingest::WriteHealth,
    /// `--node-id`, for `/healthz`.
    pub node_id: String,
    /// Whether the bus answers, for `/healthz`; `None` without `--bus`.
    pub bus: Option<crate::bus::Bus>,
    /// What the live views were given so far, for `/healthz`.
    pub delivered: crate::live::sequencer::Delivered,
    /// The IRC reader: the followed channels' states, and a nudge after a change.
    pub irc: crate::irc::Irc,
    /// `--irc-server`, for `/api/irc/channels`.
    pub irc_server: String,
    /// `--token-secret`'s keys: user tokens are taken only with them.
    pub tokens: Option<crate::auth::Tokens>,
}

/// Every route. `/api` answers JSON, the pages and any unknown path outside it HTML; a
/// known route asked for with another method answers 405 with `Allow` (see below).
pub fn routes(cfg: &mut web::ServiceConfig, max_body_bytes: usize) {
    api::configure(cfg, max_body_bytes);
    cfg.service(web::resource("/metrics").get(api::prometheus))
        .service(web::resource("/healthz").get(api::healthz))
        .service(web::resource("/live/ws").get(live::ws))
        .service(web::resource("/live/sse").get(live::sse));
    // Last: the pages' scope matches every path.
    pages::configure(cfg);
}

/// actix answers a known route asked for with another method with an empty 405 and the
/// `Allow` header it knows from the routes' method guards; this gives that answer a body
/// and keeps every header it already has. A page's 405 (it carries the pages' policy,
/// added by their scope) is the error page; any other is the API's JSON error: the API,
/// `/healthz`, `/metrics`, the live endpoints and the static files are read by programs.
fn method_not_allowed<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let (req, empty) = res.into_parts();
    let allow = empty
        .headers()
        .get(header::ALLOW)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let (method, path) = (req.method().as_str(), req.path());
    let mut answer = if empty.headers().contains_key(header::CONTENT_SECURITY_POLICY) {
        pages::method_not_allowed(method, path, &allow)
    } else {
        ApiError::MethodNotAllowed(format!("{path} does not answer {method}; it answers {allow}")).error_response()
    };
    for (name, value) in empty.headers() {
        if !answer.headers().contains_key(name) {
            answer.headers_mut().insert(name.clone(), value.clone());
        }
    }
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, answer).map_into_right_body(),
    ))
}

pub fn server(
    state: web::Data<AppState>,
    live: Arc<Live>,
    origins: origin::Origins,
    listener: std::net::TcpListener,
    workers: Option<usize>,
) -> std::io::Result<actix_web::dev::Server> {
    let live = web::Data::new(live);
    let origins = web::Data::new(origins);
    let max_body_bytes = state.max_body_bytes;
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(live.clone())
            .app_data(origins.clone())
            .configure(|cfg| routes(cfg, max_body_bytes))
            .wrap(ErrorHandlers::new().handler(StatusCode::METHOD_NOT_ALLOWED, method_not_allowed))
            .wrap(actix_web::middleware::from_fn(private::guard))
            .wrap(actix_web::middleware::from_fn(origin::guard))
            .wrap(actix_web::middleware::from_fn(observe::http))
    })
    .on_connect(|conn, ext| {
        use std::os::fd::AsRawFd;
        if let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
            // Live events are small and latency-bound: send each write at once (no Nagle).
            let _ = tcp.set_nodelay(true);
            ext.insert(ConnFd(tcp.as_raw_fd()));
        }
    })
    .disable_signals()
    .shutdown_timeout(10)
    .listen(listener)?;
    if let Some(w) = workers {
        server = server.workers(w);
    }
    Ok(server.run())
}
