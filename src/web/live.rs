//! `/live/ws` and `/live/sse`: both start the same session actor (PROTOCOL.md section 5).
//! A handshake that names no valid view or cursor is refused with a 400 before any upgrade.
use std::sync::Arc;

use actix_http::ws::Codec;
use actix_web::body::MessageBody;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::{StreamExt, TryStreamExt};
use serde::Deserialize;
use tokio_util::codec::FramedRead;
use tokio_util::io::StreamReader;

use super::origin::Origins;
use super::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::live::protocol::{Status, View};
use crate::live::session::{refuse, LiveSession, Start, WsFrames};
use crate::live::transport::{Sse, Transport, Ws};
use crate::live::{live_body, ConnFd, Live, Sink};
use crate::metrics::METRICS;
use crate::store::{Cursor, MessageId};

/// Initial bytes of a WebSocket connection's read buffer: clients only send small frames
/// (a subscribe, a pong), and an idle connection should not hold FramedRead's default 8 KiB.
const WS_READ_BUFFER: usize = 256;
/// Largest frame a client may send (a subscribe or a pong is far smaller); a frame whose
/// header announces more closes the connection with 1009 before its payload is read.
pub const WS_MAX_FRAME: usize = 64 * 1024;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LiveQuery {
    /// `home`, `messages`, `channels`, `users`, `channel/<name>`, `user/<name>`,
    /// `stream/<id>`, `workspace`, `streams`, `me`, `top/<window>`,
    /// `top/<window>/channel/<name>` or `top/<window>/user/<name>`.
    #[param(required = true)]
    view: Option<String>,
    /// Catch up from this cursor (for SSE, `Last-Event-ID` takes its place).
    #[param(value_type = Option<i64>, minimum = 0)]
    after_id: Option<String>,
    /// The epoch `after_id` belongs to; another epoch means start over.
    epoch: Option<String>,
    /// A user token (never logged), where no `Authorization` header or session cookie
    /// can carry it.
    token: Option<String>,
}

/// The connection's person: a user token (`?token=`, `Authorization: Bearer`, or the
/// session cookie), or nobody, unless the server runs with `--require-token`.
fn user_of(state: &AppState, req: &HttpRequest, q: &LiveQuery, start: &Start) -> Result<Option<String>, ApiError> {
    let user = super::streams::caller_with(state, req, q.token.as_deref())?.map(|c| c.sub);
    if user.is_none() && state.require_token {
        return Err(ApiError::NeedsUser(
            "this server takes user tokens only (--require-token)".into(),
        ));
    }
    if user.is_none() && matches!(start.view, View::Me(_)) {
        return Err(ApiError::NeedsUser("the `me` view is a signed-in person's".into()));
    }
    Ok(user)
}

/// The view and cursor asked for, or the 400 that refuses them.
fn start_of(q: &LiveQuery, last_event_id: Option<&str>) -> Result<Start, ApiError> {
    let refused = |e: ApiError| {
        METRICS
            .live_connections_closed
            .with_label_values(&[Status::BadRequest.close_reason()])
            .inc();
        log::info!("live connection refused reason={}", e.code().as_str());
        e
    };
    let view = q
        .view
        .as_deref()
        .and_then(View::parse)
        .ok_or_else(|| refused(ApiError::InvalidView(format!("view must be one of {}", View::VALID))))?;
    let after = last_event_id.or(q.after_id.as_deref()).filter(|s| !s.is_empty());
    let after_id = match after {
        Some(s) => Some(
            s.parse::<i64>()
                .ok()
                .filter(|a| *a >= 0)
                .map(MessageId)
                .ok_or_else(|| {
                    refused(ApiError::InvalidParameter(
                        "after_id (or Last-Event-ID) must be a non-negative integer".into(),
                    ))
                })?,
        ),
        None => None,
    };
    Ok(Start {
        view,
        after_id,
        epoch: q.epoch.clone().filter(|e| !e.is_empty()),
    })
}

/// A live view over WebSocket (PROTOCOL.md section 4).
#[utoipa::path(get, path = "/live/ws", tag = "live", params(LiveQuery), responses(
    (status = 101, description = "Switching to the WebSocket protocol; events follow as text frames"),
    (status = 400, description = "`invalid_view`, or `invalid_parameter` (a bad `after_id`, not a WebSocket handshake)", body = ErrorBody),
    (status = 401, description = "`unauthorized`: a token that is not valid, none for `me`, or none under `--require-token`", body = ErrorBody, headers(("WWW-Authenticate" = String))),
    (status = 403, description = "`forbidden_origin`: a browser page of an origin not allowed", body = ErrorBody),
))]
pub async fn ws(
    req: HttpRequest,
    payload: web::Payload,
    live: web::Data<Arc<Live>>,
    origins: web::Data<Origins>,
    state: web::Data<AppState>,
    q: web::Query<LiveQuery>,
) -> Result<HttpResponse, ApiError> {
    // A browser's WebSocket must come from our own origin or an allowed one.
    if !origins.origin_allowed(&req) {
        METRICS.live_connections_closed.with_label_values(&["refused"]).inc();
        log::info!("live connection refused reason=origin transport=ws");
        return Err(ApiError::ForbiddenOrigin);
    }
    let start = start_of(&q, None)?;
    let user = user_of(&state, &req, &q, &start)?;
    let mut handshake = actix_http::ws::handshake(req.head()).map_err(ApiError::handshake)?;
    let (sink, body) = live_body();
    let response: HttpResponse = handshake
        .message_body(body.boxed())
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .into();
    // The client's frames, decoded by actix-http's WebSocket codec.
    let bytes = payload.into_inner().map_err(std::io::Error::other);
    let frames: WsFrames = FramedRead::with_capacity(
        StreamReader::new(bytes),
        Codec::new().max_size(WS_MAX_FRAME),
        WS_READ_BUFFER,
    )
    .boxed_local();
    let fd = req.conn_data::<ConnFd>().copied();
    open(&live, Box::new(Ws::new()), sink, Some(frames), fd, start, user);
    Ok(response)
}

/// A live view as Server-Sent Events (PROTOCOL.md section 4).
#[utoipa::path(get, path = "/live/sse", tag = "live",
    params(LiveQuery, ("Last-Event-ID" = Option<i64>, Header, description = "the cursor to catch up from, as a reconnecting EventSource sends it")),
    responses(
        (status = 200, description = "The event stream", content_type = "text/event-stream", body = String),
        (status = 400, description = "`invalid_view` or `invalid_parameter` (a bad `after_id` or `Last-Event-ID`)", body = ErrorBody),
        (status = 401, description = "`unauthorized`: a token that is not valid, none for `me`, or none under `--require-token`", body = ErrorBody, headers(("WWW-Authenticate" = String))),
    )
)]
pub async fn sse(
    req: HttpRequest,
    live: web::Data<Arc<Live>>,
    state: web::Data<AppState>,
    q: web::Query<LiveQuery>,
) -> Result<HttpResponse, ApiError> {
    let last_event_id = req.headers().get("Last-Event-ID").and_then(|v| v.to_str().ok());
    let start = start_of(&q, last_event_id)?;
    let user = user_of(&state, &req, &q, &start)?;
    let (sink, body) = live_body();
    let response = HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .body(body);
    let fd = req.conn_data::<ConnFd>().copied();
    open(&live, Box::new(Sse::new()), sink, None, fd, start, user);
    Ok(response)
}

/// Starts a session, or refuses it with a status when every place is taken.
fn open(
    live: &Arc<Live>,
    transport: Box<dyn Transport>,
    sink: Sink,
    frames: Option<WsFrames>,
    fd: Option<ConnFd>,
    start: Start,
    user: Option<String>,
) {
    let Some(slot) = live.try_slot() else {
        log::info!(
            "live connection refused reason=too_many_connections max={}",
            live.settings.max_connections
        );
        let epoch = live.store.epoch().to_owned();
        actix_web::rt::spawn(async move {
            refuse(transport, sink, Status::TooManyConnections, Cursor::default(), &epoch).await
        });
        return;
    };
    LiveSession::new(live.clone(), transport, sink, fd, slot, user).start_with(start, frames);
}
