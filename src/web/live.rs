//! `/live/ws` and `/live/sse`: both start the same session actor (PROTOCOL.md section 5).
use std::sync::Arc;

use actix_web::body::{BodyStream, MessageBody};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::Bytes;
use serde::Deserialize;
use tokio::sync::mpsc;

use crate::live::protocol::{Status, View};
use crate::live::session::{refuse, LiveSession, Sink, Start};
use crate::live::{tracked, ConnFd, Live};

/// SSE chunks buffered between a session and its response body.
const SSE_CHANNEL: usize = 4;

#[derive(Deserialize)]
pub struct LiveQuery {
    view: Option<String>,
    after_id: Option<String>,
    epoch: Option<String>,
}

/// The view and cursor asked for, or why they cannot be served.
fn start_of(q: &LiveQuery, last_event_id: Option<&str>) -> Result<Start, Status> {
    let view = q.view.as_deref().and_then(View::parse).ok_or(Status::BadRequest)?;
    let after = last_event_id.or(q.after_id.as_deref()).filter(|s| !s.is_empty());
    let after_id = match after {
        Some(s) => Some(s.parse::<i64>().ok().filter(|a| *a >= 0).ok_or(Status::BadRequest)?),
        None => None,
    };
    Ok(Start {
        view,
        after_id,
        epoch: q.epoch.clone().filter(|e| !e.is_empty()),
    })
}

/// A browser's WebSocket must come from our own origin or an allowed one.
fn origin_allowed(req: &HttpRequest, allowed: &[String]) -> bool {
    let Some(origin) = req.headers().get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return true;
    };
    if allowed.iter().any(|a| a == origin) {
        return true;
    }
    let host = req.connection_info().host().to_owned();
    origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        == Some(host.as_str())
}

pub async fn ws(
    req: HttpRequest,
    payload: web::Payload,
    live: web::Data<Arc<Live>>,
    q: web::Query<LiveQuery>,
) -> actix_web::Result<HttpResponse> {
    if !origin_allowed(&req, &live.settings.allowed_origins) {
        crate::metrics::METRICS
            .live_connections_closed
            .with_label_values(&["refused"])
            .inc();
        log::info!("live connection refused reason=origin transport=ws");
        return Ok(HttpResponse::Forbidden().json(serde_json::json!({"error": {"code": "forbidden_origin", "message": "this origin may not open live connections"}})));
    }
    let (response, session, stream) = actix_ws::handle(&req, payload)?;
    let (response, liveness, gone) = track(response);
    start(
        &live,
        Sink::Ws(session),
        Some(stream),
        liveness,
        gone,
        req.conn_data::<ConnFd>().copied(),
        start_of(&q, None),
    );
    Ok(response)
}

pub async fn sse(req: HttpRequest, live: web::Data<Arc<Live>>, q: web::Query<LiveQuery>) -> HttpResponse {
    let last_event_id = req.headers().get("Last-Event-ID").and_then(|v| v.to_str().ok());
    let wanted = start_of(&q, last_event_id);
    let (tx, rx) = mpsc::channel::<Bytes>(SSE_CHANNEL);
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, std::convert::Infallible>(b), rx))
    });
    let response = HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .body(BodyStream::new(body));
    let (response, liveness, gone) = track(response);
    start(
        &live,
        Sink::Sse(tx),
        None,
        liveness,
        gone,
        req.conn_data::<ConnFd>().copied(),
        wanted,
    );
    response
}

fn track(response: HttpResponse) -> (HttpResponse, crate::live::Liveness, tokio::sync::oneshot::Receiver<()>) {
    let mut parts = None;
    let response = response.map_body(|_, body| {
        let (body, liveness, gone) = tracked(body);
        parts = Some((liveness, gone));
        body.boxed()
    });
    let (liveness, gone) = parts.expect("map_body runs its closure");
    (response, liveness, gone)
}

fn start(
    live: &Arc<Live>,
    sink: Sink,
    stream: Option<actix_ws::MessageStream>,
    liveness: crate::live::Liveness,
    gone: tokio::sync::oneshot::Receiver<()>,
    fd: Option<ConnFd>,
    wanted: Result<Start, Status>,
) {
    let epoch = live.store.epoch().to_owned();
    let start = match wanted {
        Ok(start) => start,
        Err(status) => {
            log::info!("live connection refused reason=bad_request");
            actix_web::rt::spawn(async move { refuse(sink, status, 0, &epoch).await });
            return;
        }
    };
    let Some(slot) = live.try_slot() else {
        log::info!(
            "live connection refused reason=too_many_connections max={}",
            live.settings.max_connections
        );
        actix_web::rt::spawn(async move { refuse(sink, Status::TooManyConnections, 0, &epoch).await });
        return;
    };
    LiveSession::new(live.clone(), sink, liveness, gone, fd, slot).start_with(start, stream);
}
