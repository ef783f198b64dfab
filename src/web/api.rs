//! The JSON API: ingest (PROTOCOL.md section 2) and reads (section 3).
use actix_web::error::{JsonPayloadError, PathError, PayloadError, QueryPayloadError};
use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;

use super::AppState;
use crate::error::ApiError;
use crate::ingest::validate::{parse_body, BodyError, BodyFormat};
use crate::ingest::{Ingest, IngestError};
use crate::metrics::METRICS;
use crate::store::{self, MessageFilter, MessageId, UserSort};
use crate::time::parse_rfc3339_ms;

/// Largest `limit` a read accepts; the default is [`DEFAULT_LIMIT`].
pub const MAX_LIMIT: i64 = 1000;
pub const DEFAULT_LIMIT: i64 = 50;
impl From<BodyError> for ApiError {
    fn from(e: BodyError) -> Self {
        match e {
            BodyError::Invalid { index, field, message } => ApiError::InvalidMessage { index, field, message },
            e @ BodyError::TooMany { .. } => ApiError::TooLarge(e.to_string()),
        }
    }
}

/// Every route under `/api`. Whatever goes wrong there, from an unknown route to a query
/// string that does not parse, answers the one JSON error shape.
pub fn configure(cfg: &mut web::ServiceConfig, max_body_bytes: usize) {
    cfg.service(
        web::scope("/api")
            .app_data(web::QueryConfig::default().error_handler(|e, req| {
                let why = match e {
                    QueryPayloadError::Deserialize(e) => e.to_string(),
                    e => e.to_string(),
                };
                let message = format!("the query string `{}` is not valid: {why}", req.query_string());
                ApiError::InvalidParameter(message).into()
            }))
            .app_data(web::PathConfig::default().error_handler(|e, req| {
                let why = match e {
                    PathError::Deserialize(e) => e.to_string(),
                    e => e.to_string(),
                };
                let message = format!("the path `{}` is not valid: {why}", req.path());
                ApiError::InvalidParameter(message).into()
            }))
            .app_data(web::JsonConfig::default().error_handler(|e, _| json_error(e).into()))
            .service(
                web::resource("/messages")
                    .app_data(web::PayloadConfig::new(max_body_bytes))
                    .post(ingest)
                    .get(messages),
            )
            .service(web::resource("/metrics").get(metrics_summary))
            .service(web::resource("/channels").get(channels))
            .service(web::resource("/users").get(users))
            .service(web::resource("/users/{name}").get(user))
            .service(web::resource("/search").get(search))
            .default_service(web::to(not_found)),
    );
}

/// No JSON body is extracted today; should one be, it fails in the API's shape too.
fn json_error(e: JsonPayloadError) -> ApiError {
    match e.status_code() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge(e.to_string()),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType,
        _ => ApiError::InvalidParameter(e.to_string()),
    }
}

async fn not_found() -> HttpResponse {
    ApiError::NotFound("no such route".into()).error_response()
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::Overloaded => ApiError::Overloaded("the ingest queue is full"),
            IngestError::TooLarge => ApiError::TooLarge("more messages than the ingest queue holds".into()),
        }
    }
}

/// Counts and logs a refused ingest request.
fn reject(e: impl Into<ApiError>) -> ApiError {
    let e = e.into();
    let reason = e.code();
    METRICS.ingest_rejected.with_label_values(&[reason]).inc();
    METRICS.ingest_requests.with_label_values(&["rejected"]).inc();
    match &e {
        ApiError::InvalidMessage { index, field, .. } => {
            log::info!("ingest rejected reason={reason} index={index} field={field}")
        }
        _ => log::info!("ingest rejected reason={reason}"),
    }
    e
}

/// The body is read only after the token and the content type are checked, so a writer
/// without a token learns nothing from the size of what it sent.
pub async fn ingest(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    // Every ingest request, answered or refused, until its answer is ready.
    let _timer = METRICS.ingest_request_seconds.start_timer();
    if let Some(token) = &state.ingest_token {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        // Compared in constant time: how long a refusal takes says nothing of the token.
        let matches = given.is_some_and(|g| bool::from(g.as_bytes().ct_eq(token.as_bytes())));
        if !matches {
            return Err(reject(ApiError::Unauthorized));
        }
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let format = match mime.as_str() {
        "application/json" => BodyFormat::Json,
        "application/x-ndjson" => BodyFormat::NdJson,
        _ => return Err(reject(ApiError::UnsupportedMediaType)),
    };
    // The bytes this body may take, held until the request is answered: refused at once
    // when the bodies being read and parsed already hold `--max-bodies-bytes`.
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if announced.is_some_and(|n| n > state.max_body_bytes) {
        return Err(reject(ApiError::TooLarge(format!(
            "the body is over {} bytes",
            state.max_body_bytes
        ))));
    }
    let _held = state
        .bodies
        .reserve(announced.unwrap_or(state.max_body_bytes))
        .ok_or_else(|| reject(ApiError::Overloaded("too many request bodies are being read")))?;
    // At most `PayloadConfig`'s limit (the ingest resource's `--max-body-bytes`).
    let body = web::Bytes::from_request(&req, &mut payload.into_inner())
        .await
        .map_err(|e| body_error(e, state.max_body_bytes))
        .map_err(reject)?;
    let messages = parse_body(&body, format, state.max_batch).map_err(reject)?;
    let answer = state
        .ingest
        .send(Ingest(messages))
        .await
        .map_err(|_| ApiError::Internal("ingest is stopping".into()))?
        .map_err(reject)?;
    let outcome = answer
        .await
        .map_err(|_| ApiError::Internal("ingest was interrupted".into()))??;
    METRICS.ingest_requests.with_label_values(&["stored"]).inc();
    METRICS.ingest_duplicates.inc_by(outcome.duplicates as u64);
    let cursor = outcome.ids.iter().copied().max().unwrap_or_default();
    Ok(HttpResponse::Created().json(json!({
        "inserted": outcome.inserted, "duplicates": outcome.duplicates, "ids": outcome.ids,
        "cursor": cursor, "epoch": state.store.epoch(),
    })))
}

/// Why a body could not be read: too large (by its `Content-Length` or, for a chunked
/// body, once more than `max` bytes have arrived), or broken off.
fn body_error(e: actix_web::Error, max: usize) -> ApiError {
    match e.as_error::<PayloadError>() {
        Some(PayloadError::Overflow) => ApiError::TooLarge(format!("the body is over {max} bytes")),
        _ => ApiError::InvalidMessage {
            index: 0,
            field: "body".into(),
            message: format!("cannot read the body: {e}"),
        },
    }
}

fn limit(l: Option<i64>) -> Result<i64, ApiError> {
    match l {
        None => Ok(DEFAULT_LIMIT),
        Some(l) if (1..=MAX_LIMIT).contains(&l) => Ok(l),
        Some(_) => Err(ApiError::InvalidParameter(format!("limit must be 1-{MAX_LIMIT}"))),
    }
}

pub async fn metrics_summary(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let t = state
        .store
        .snapshot(|c| store::totals(c).map_err(ApiError::from))
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "total_messages": t.total_messages, "total_channels": t.total_channels, "total_users": t.total_users,
        "cursor": t.cursor, "epoch": state.store.epoch(),
    })))
}

#[derive(Deserialize)]
pub struct MessagesQuery {
    after_id: Option<MessageId>,
    before_id: Option<MessageId>,
    limit: Option<i64>,
    channel: Option<String>,
    user: Option<String>,
}

pub async fn messages(state: web::Data<AppState>, q: web::Query<MessagesQuery>) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let limit = limit(q.limit)?;
    let (messages, totals) = state
        .store
        .snapshot(move |c| -> Result<_, ApiError> {
            let totals = store::totals(c)?;
            let messages = match MessageFilter::by_names(c, q.channel.as_deref(), q.user.as_deref())? {
                Some(f) => store::list_messages(c, f, q.after_id, q.before_id, limit)?,
                None => Vec::new(),
            };
            Ok((messages, totals))
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "messages": messages, "cursor": totals.cursor, "epoch": state.store.epoch() })))
}

#[derive(Deserialize)]
pub struct PageQuery {
    limit: Option<i64>,
    offset: Option<i64>,
    sort: Option<String>,
}

impl PageQuery {
    fn page(&self) -> Result<(i64, i64), ApiError> {
        let offset = self.offset.unwrap_or(0);
        if offset < 0 {
            return Err(ApiError::InvalidParameter("offset must not be negative".into()));
        }
        Ok((limit(self.limit)?, offset))
    }
}

pub async fn channels(state: web::Data<AppState>, q: web::Query<PageQuery>) -> Result<HttpResponse, ApiError> {
    let (limit, offset) = q.page()?;
    let by_name = match q.sort.as_deref() {
        None | Some("count") => false,
        Some("name") => true,
        Some(_) => return Err(ApiError::InvalidParameter("sort must be count or name".into())),
    };
    let (rows, t) = state
        .store
        .snapshot(move |c| -> Result<_, ApiError> {
            Ok((store::list_channels(c, limit, offset, by_name)?, store::totals(c)?))
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "channels": rows, "cursor": t.cursor, "epoch": state.store.epoch() })))
}

pub async fn users(state: web::Data<AppState>, q: web::Query<PageQuery>) -> Result<HttpResponse, ApiError> {
    let (limit, offset) = q.page()?;
    let sort = match q.sort.as_deref() {
        None | Some("count") => UserSort::Count,
        Some("name") => UserSort::Name,
        Some("recent") => UserSort::Recent,
        Some(_) => return Err(ApiError::InvalidParameter("sort must be count, name or recent".into())),
    };
    let (rows, t) = state
        .store
        .snapshot(move |c| -> Result<_, ApiError> {
            Ok((store::list_users(c, limit, offset, sort)?, store::totals(c)?))
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "users": rows, "cursor": t.cursor, "epoch": state.store.epoch() })))
}

pub async fn user(
    state: web::Data<AppState>,
    name: web::Path<String>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let (limit, _) = q.page()?;
    let name = name.into_inner();
    let found = state
        .store
        .snapshot(move |c| -> Result<_, ApiError> {
            let t = store::totals(c)?;
            let Some(user) = store::user_by_name(c, &name)? else {
                return Ok(None);
            };
            let filter = MessageFilter {
                user_id: Some(user.id),
                ..Default::default()
            };
            let messages = store::list_messages(c, filter, None, None, limit)?;
            Ok(Some((user, messages, t)))
        })
        .await?;
    let Some((user, messages, t)) = found else {
        return Err(ApiError::NotFound("no such user".into()));
    };
    Ok(HttpResponse::Ok()
        .json(json!({ "user": user, "messages": messages, "cursor": t.cursor, "epoch": state.store.epoch() })))
}

#[derive(Deserialize)]
pub struct SearchQuery {
    q: Option<String>,
    limit: Option<i64>,
    channel: Option<String>,
    user: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

pub async fn search(state: web::Data<AppState>, q: web::Query<SearchQuery>) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let limit = limit(q.limit)?;
    let fts = store::parse_query(q.q.as_deref().unwrap_or("")).map_err(|e| ApiError::InvalidQuery(e.0.into()))?;
    let time = |s: &Option<String>, field: &str| -> Result<Option<i64>, ApiError> {
        s.as_deref()
            .map(|s| {
                parse_rfc3339_ms(s)
                    .ok_or_else(|| ApiError::InvalidParameter(format!("{field} must be an RFC 3339 time")))
            })
            .transpose()
    };
    let (since, until) = (time(&q.since, "since")?, time(&q.until, "until")?);
    let (messages, t) = state
        .store
        .snapshot(move |c| -> Result<_, ApiError> {
            let t = store::totals(c)?;
            let messages = match MessageFilter::by_names(c, q.channel.as_deref(), q.user.as_deref())? {
                Some(f) => store::search_messages(c, &fts, f, since, until, limit)?,
                None => Vec::new(),
            };
            Ok((messages, t))
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "messages": messages, "cursor": t.cursor, "epoch": state.store.epoch() })))
}

/// 200 while the database answers; a bus outage is reported in the body, not as a failure.
pub async fn healthz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let totals = state
        .store
        .snapshot(|c| store::totals(c).map_err(ApiError::from))
        .await?;
    let bus = match &state.bus {
        None => "off",
        Some(b) if b.is_up() => "ok",
        Some(_) => "down",
    };
    let writes = state.writes.get().map_or("ok", |t| t.as_str());
    Ok(HttpResponse::Ok().json(json!({
        "status": "ok", "node_id": state.node_id, "database": "ok", "writes": writes, "bus": bus,
        "cursor": totals.cursor, "delivered_cursor": state.delivered.get(),
    })))
}

pub async fn prometheus() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(crate::metrics::render())
}
