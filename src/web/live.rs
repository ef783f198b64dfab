//! `/live/ws` and `/live/sse`: both start the same session actor (PROTOCOL.md section 5).
use std::sync::Arc;

use actix_http::ws::Codec;
use actix_web::body::MessageBody;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::{StreamExt, TryStreamExt};
use serde::Deserialize;
use tokio_util::codec::FramedRead;
use tokio_util::io::StreamReader;

use crate::live::protocol::{Status, View};
use crate::live::session::{refuse, LiveSession, Start, WsFrames};
use crate::live::wire::Transport;
use crate::live::{live_body, ConnFd, Live, Sink};

/// Initial bytes of a WebSocket connection's read buffer: clients only send small frames
/// (a subscribe, a pong), and an idle connection should not hold FramedRead's default 8 KiB.
const WS_READ_BUFFER: usize = 256;

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
    let mut handshake = actix_http::ws::handshake(req.head())?;
    let (sink, body) = live_body();
    let response: HttpResponse = handshake.message_body(body.boxed())?.into();
    // The client's frames, decoded by actix-http's WebSocket codec.
    let bytes = payload.into_inner().map_err(std::io::Error::other);
    let frames: WsFrames =
        FramedRead::with_capacity(StreamReader::new(bytes), Codec::new(), WS_READ_BUFFER).boxed_local();
    start(
        &live,
        Transport::Ws,
        sink,
        Some(frames),
        req.conn_data::<ConnFd>().copied(),
        start_of(&q, None),
    );
    Ok(response)
}

pub async fn sse(req: HttpRequest, live: web::Data<Arc<Live>>, q: web::Query<LiveQuery>) -> HttpResponse {
    let last_event_id = req.headers().get("Last-Event-ID").and_then(|v| v.to_str().ok());
    let wanted = start_of(&q, last_event_id);
    let (sink, body) = live_body();
    let response = HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .body(body);
    start(
        &live,
        Transport::Sse,
        sink,
        None,
        req.conn_data::<ConnFd>().copied(),
        wanted,
    );
    response
}

fn start(
    live: &Arc<Live>,
    transport: Transport,
    sink: Sink,
    stream: Option<WsFrames>,
    fd: Option<ConnFd>,
    wanted: Result<Start, Status>,
) {
    let epoch = live.store.epoch().to_owned();
    let start = match wanted {
        Ok(start) => start,
        Err(status) => {
            log::info!("live connection refused reason=bad_request");
            actix_web::rt::spawn(async move { refuse(transport, sink, status, 0, &epoch).await });
            return;
        }
    };
    let Some(slot) = live.try_slot() else {
        log::info!(
            "live connection refused reason=too_many_connections max={}",
            live.settings.max_connections
        );
        actix_web::rt::spawn(async move { refuse(transport, sink, Status::TooManyConnections, 0, &epoch).await });
        return;
    };
    LiveSession::new(live.clone(), transport, sink, fd, slot).start_with(start, stream);
}
