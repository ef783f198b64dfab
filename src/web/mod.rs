//! HTTP: routes, shared state, and the server itself.
pub mod api;
pub mod live;
pub mod observe;
pub mod pages;

use std::sync::Arc;

use actix::Addr;
use actix_web::{web, App, HttpServer};

use crate::ingest::IngestActor;
use crate::live::{ConnFd, Live};
use crate::store::Store;

pub struct AppState {
    pub store: Store,
    pub ingest: Addr<IngestActor>,
    pub ingest_token: Option<String>,
    pub max_batch: usize,
    pub max_body_bytes: usize,
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    pages::init();
    cfg.route("/api/messages", web::post().to(api::ingest))
        .route("/api/messages", web::get().to(api::messages))
        .route("/api/metrics", web::get().to(api::metrics_summary))
        .route("/api/channels", web::get().to(api::channels))
        .route("/api/users", web::get().to(api::users))
        .route("/api/users/{name}", web::get().to(api::user))
        .route("/api/search", web::get().to(api::search))
        .route("/metrics", web::get().to(api::prometheus))
        .route("/healthz", web::get().to(api::healthz))
        .route("/live/ws", web::get().to(live::ws))
        .route("/live/sse", web::get().to(live::sse))
        .route("/", web::get().to(pages::home))
        .route("/messages", web::get().to(pages::messages))
        .route("/channels", web::get().to(pages::channels))
        .route("/channels/{name}", web::get().to(pages::channel))
        .route("/users", web::get().to(pages::users))
        .route("/users/{name}", web::get().to(pages::user))
        .route("/search", web::get().to(pages::search))
        .route("/static/{file}", web::get().to(pages::static_file))
        .default_service(web::to(pages::not_found));
}

pub fn server(
    state: web::Data<AppState>,
    live: Arc<Live>,
    listener: std::net::TcpListener,
    workers: Option<usize>,
) -> std::io::Result<actix_web::dev::Server> {
    let live = web::Data::new(live);
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(live.clone())
            .configure(routes)
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
