//! The JSON API: ingest (PROTOCOL.md section 2) and reads (section 3).
use std::collections::HashMap;

use actix_web::error::{JsonPayloadError, PathError, PayloadError, QueryPayloadError};
use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use utoipa::openapi::schema::{ArrayBuilder, KnownFormat, ObjectBuilder, OneOfBuilder, SchemaFormat, Type};
use utoipa::openapi::{Object, RefOr, Schema};
use utoipa::{IntoParams, PartialSchema, ToSchema};

use super::AppState;
use crate::domain::Window;
use crate::error::{ApiError, ErrorBody};
use crate::ingest::validate::{parse_body, BodyError, BodyFormat, Fields};
use crate::ingest::{Ingest, IngestError};
use crate::metrics::METRICS;
use crate::store::{self, Channel, Cursor, Message, MessageFilter, MessageId, User, UserSort};
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
            .service(web::resource("/export").get(super::export::export))
            .service(web::resource("/activity").get(activity))
            .service(web::resource("/top").get(top))
            .service(web::resource("/openapi.json").get(super::openapi::document))
            .service(
                web::resource("/irc/channels")
                    .get(super::irc::list)
                    .post(super::irc::follow),
            )
            .service(web::resource("/irc/channels/{name}").delete(super::irc::unfollow))
            .configure(super::streams::configure)
            .default_service(web::to(not_found)),
    );
}

/// A JSON body (`/api/irc/channels`) that cannot be read, in the API's shape: another
/// content type is 415, whatever actix would answer.
fn json_error(e: JsonPayloadError) -> ApiError {
    match e {
        JsonPayloadError::ContentType => ApiError::UnsupportedMediaType("application/json"),
        e if e.status_code() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge(e.to_string()),
        e => ApiError::InvalidParameter(format!("the body is not valid: {e}")),
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
    let reason = e.code().as_str();
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

/// The body of an ingest request in JSON: one message, or an array of them.
pub struct IngestBody;

impl PartialSchema for IngestBody {
    fn schema() -> RefOr<Schema> {
        let message = crate::json_schema::reference("IncomingMessage");
        OneOfBuilder::new()
            .item(message.clone())
            .item(
                ArrayBuilder::new()
                    .items(message)
                    .min_items(Some(1))
                    .description(Some("at most --max-batch messages")),
            )
            .into()
    }
}

impl ToSchema for IngestBody {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push(("IncomingMessage".into(), Fields::schema()));
    }
}

/// What ingest answers once the messages are committed.
#[derive(Serialize, ToSchema)]
pub struct Ingested {
    /// Messages stored by this request.
    pub inserted: usize,
    /// Messages whose `event_id` was already stored: not stored again.
    pub duplicates: usize,
    /// Each message's id, in the order given (a duplicate's is the stored message's).
    pub ids: Vec<MessageId>,
    /// The largest of `ids`: a live view from this cursor sees everything after them.
    pub cursor: Cursor,
    pub epoch: String,
}

/// Stores messages: JSON (one object or an array) or NDJSON (one object per line), all or
/// none. The body is read only after the token and the content type are checked, so a
/// writer without a token learns nothing from the size of what it sent.
#[utoipa::path(
    post, path = "/api/messages", tag = "ingest",
    request_body(content(
        (IngestBody = "application/json"),
        (String = "application/x-ndjson"),
    )),
    security((), ("ingest_token" = [])),
    responses(
        (status = 201, description = "Stored, all of them", body = Ingested),
        (status = 400, description = "A message breaks a rule (`invalid_message`, with its `index` and `field`); nothing was stored", body = ErrorBody),
        (status = 401, description = "`--ingest-token` is set and the request does not carry it", body = ErrorBody,
            headers(("WWW-Authenticate" = String))),
        (status = 413, description = "Over `--max-body-bytes` or `--max-batch`", body = ErrorBody),
        (status = 415, description = "Neither application/json nor application/x-ndjson", body = ErrorBody),
        (status = 503, description = "`overloaded` (the ingest queue or the bytes of bodies being read are full) or `read_only` (the database takes no writes); retry after `Retry-After`", body = ErrorBody,
            headers(("Retry-After" = u32))),
        (status = 507, description = "`storage_full`: the database's disk is full; retry after `Retry-After`", body = ErrorBody,
            headers(("Retry-After" = u32))),
    )
)]
pub async fn ingest(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    // Every ingest request, answered or refused, until its answer is ready.
    let _timer = METRICS.ingest_request_seconds.start_timer();
    if !authorized(&state, &req) {
        return Err(reject(ApiError::Unauthorized));
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
        _ => {
            return Err(reject(ApiError::UnsupportedMediaType(
                "application/json or application/x-ndjson",
            )))
        }
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
    Ok(HttpResponse::Created().json(Ingested {
        inserted: outcome.inserted,
        duplicates: outcome.duplicates,
        ids: outcome.ids,
        cursor,
        epoch: state.store.epoch().to_owned(),
    }))
}

/// Whether a write may go ahead: without `--ingest-token` always, with it when the request
/// carries it as its bearer token (compared in constant time: how long a refusal takes
/// says nothing of the token).
pub(super) fn authorized(state: &AppState, req: &HttpRequest) -> bool {
    let Some(token) = &state.ingest_token else {
        return true;
    };
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|g| bool::from(g.as_bytes().ct_eq(token.as_bytes())))
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

pub(super) fn limit(l: Option<i64>) -> Result<i64, ApiError> {
    match l {
        None => Ok(DEFAULT_LIMIT),
        Some(l) if (1..=MAX_LIMIT).contains(&l) => Ok(l),
        Some(_) => Err(ApiError::InvalidParameter(format!("limit must be 1-{MAX_LIMIT}"))),
    }
}

/// `limit` of a read.
pub(super) fn limit_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(1))
        .maximum(Some(MAX_LIMIT))
        .description(Some(format!("most rows to answer; {DEFAULT_LIMIT} when absent")))
        .build()
}

/// The totals, at a cursor.
#[derive(Serialize, ToSchema)]
pub struct Summary {
    pub total_messages: i64,
    pub total_channels: i64,
    pub total_users: i64,
    /// The newest stored message: the totals include everything up to it.
    pub cursor: Cursor,
    /// Changes only when the database is replaced; a cursor of another epoch means nothing.
    pub epoch: String,
}

/// Totals of messages, channels and users.
#[utoipa::path(get, path = "/api/metrics", tag = "read", responses((status = 200, body = Summary)))]
pub async fn metrics_summary(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let t = state
        .store
        .snapshot(|c| store::totals(c).map_err(ApiError::from))
        .await?;
    Ok(HttpResponse::Ok().json(Summary {
        total_messages: t.total_messages,
        total_channels: t.total_channels,
        total_users: t.total_users,
        cursor: t.cursor,
        epoch: state.store.epoch().to_owned(),
    }))
}

/// Messages with the cursor they were read at.
#[derive(Serialize, ToSchema)]
pub struct MessageList {
    pub messages: Vec<Message>,
    pub cursor: Cursor,
    pub epoch: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessagesQuery {
    /// Only messages after this id, oldest first (without it: newest first).
    after_id: Option<MessageId>,
    /// Only messages before this id, newest first.
    before_id: Option<MessageId>,
    #[param(schema_with = limit_schema)]
    limit: Option<i64>,
    /// Only this channel's messages (none for an unknown channel).
    channel: Option<String>,
    /// Only this user's messages (none for an unknown user).
    user: Option<String>,
}

/// Stored messages, filtered and paged by id.
#[utoipa::path(get, path = "/api/messages", tag = "read", params(MessagesQuery), responses(
    (status = 200, body = MessageList),
    (status = 400, description = "`invalid_parameter`", body = ErrorBody),
))]
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
    Ok(HttpResponse::Ok().json(MessageList {
        messages,
        cursor: totals.cursor,
        epoch: state.store.epoch().to_owned(),
    }))
}

/// A page of a list: `limit` rows from `offset`, in the order of `sort`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery<Sort: ToSchema> {
    #[param(schema_with = limit_schema)]
    limit: Option<i64>,
    /// Rows to skip.
    #[param(minimum = 0)]
    offset: Option<i64>,
    /// `count` (most messages first) when absent.
    #[param(inline)]
    sort: Option<Sort>,
    /// Only names that start with this, in any case.
    #[param(schema_with = name_prefix_schema)]
    prefix: Option<String>,
}

impl<Sort: ToSchema> PageQuery<Sort> {
    fn page(&self) -> Result<(i64, i64), ApiError> {
        let offset = self.offset.unwrap_or(0);
        if offset < 0 {
            return Err(ApiError::InvalidParameter("offset must not be negative".into()));
        }
        Ok((limit(self.limit)?, offset))
    }

    /// The name prefix asked for: the start of a name (1-64 of its characters).
    fn prefix(&self) -> Result<Option<String>, ApiError> {
        match self.prefix.as_deref() {
            None => Ok(None),
            Some(p) if crate::domain::valid_name_prefix(p) => Ok(Some(p.to_owned())),
            Some(_) => Err(ApiError::InvalidParameter(
                "prefix must be 1-64 characters of A-Z a-z 0-9 _ . -".into(),
            )),
        }
    }
}

fn name_prefix_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(format!("^[A-Za-z0-9_.-]{{1,{}}}$", crate::domain::NAME_MAX)))
        .build()
}

/// How `/api/channels` orders its rows: most messages, or name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChannelSort {
    Count,
    Name,
}

#[derive(Serialize, ToSchema)]
pub struct ChannelList {
    pub channels: Vec<Channel>,
    /// Channels in the whole list (every page; with `prefix`, those it matches).
    pub total: i64,
    pub cursor: Cursor,
    pub epoch: String,
}

/// Channels with their counts.
#[utoipa::path(get, path = "/api/channels", tag = "read", params(PageQuery<ChannelSort>), responses(
    (status = 200, body = ChannelList),
    (status = 400, description = "`invalid_parameter`", body = ErrorBody),
))]
pub async fn channels(
    state: web::Data<AppState>,
    q: web::Query<PageQuery<ChannelSort>>,
) -> Result<HttpResponse, ApiError> {
    let (limit, offset) = q.page()?;
    let prefix = q.prefix()?;
    let by_name = q.sort == Some(ChannelSort::Name);
    let (rows, total, t) = state
        .store
        .snapshot(move |c| -> Result<_, ApiError> {
            let t = store::totals(c)?;
            let total = match prefix.as_deref() {
                Some(p) => store::count_channels(c, p)?,
                None => t.total_channels,
            };
            Ok((
                store::list_channels(c, limit, offset, by_name, prefix.as_deref())?,
                total,
                t,
            ))
        })
        .await?;
    Ok(HttpResponse::Ok().json(ChannelList {
        channels: rows,
        total,
        cursor: t.cursor,
        epoch: state.store.epoch().to_owned(),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct UserList {
    pub users: Vec<User>,
    /// Users in the whole list (every page; with `prefix`, those it matches).
    pub total: i64,
    pub cursor: Cursor,
    pub epoch: String,
}

/// Users with their counts.
#[utoipa::path(get, path = "/api/users", tag = "read", params(PageQuery<UserSort>), responses(
    (status = 200, body = UserList),
    (status = 400, description = "`invalid_parameter`", body = ErrorBody),
))]
pub async fn users(state: web::Data<AppState>, q: web::Query<PageQuery<UserSort>>) -> Result<HttpResponse, ApiError> {
    let (limit, offset) = q.page()?;
    let prefix = q.prefix()?;
    let sort = q.sort.unwrap_or(UserSort::Count);
    let (rows, total, t) = state
        .store
        .snapshot(move |c| -> Result<_, ApiError> {
            let t = store::totals(c)?;
            let total = match prefix.as_deref() {
                Some(p) => store::count_users(c, p)?,
                None => t.total_users,
            };
            Ok((store::list_users(c, limit, offset, sort, prefix.as_deref())?, total, t))
        })
        .await?;
    Ok(HttpResponse::Ok().json(UserList {
        users: rows,
        total,
        cursor: t.cursor,
        epoch: state.store.epoch().to_owned(),
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LimitQuery {
    #[param(schema_with = limit_schema)]
    limit: Option<i64>,
}

/// A user and their newest messages.
#[derive(Serialize, ToSchema)]
pub struct UserMessages {
    pub user: User,
    pub messages: Vec<Message>,
    pub cursor: Cursor,
    pub epoch: String,
}

/// A user's profile and newest messages.
#[utoipa::path(get, path = "/api/users/{name}", tag = "read",
    params(("name" = String, Path, description = "the user's name"), LimitQuery),
    responses(
        (status = 200, body = UserMessages),
        (status = 400, description = "`invalid_parameter`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such user", body = ErrorBody),
    )
)]
pub async fn user(
    state: web::Data<AppState>,
    name: web::Path<String>,
    q: web::Query<LimitQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = limit(q.limit)?;
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
    Ok(HttpResponse::Ok().json(UserMessages {
        user,
        messages,
        cursor: t.cursor,
        epoch: state.store.epoch().to_owned(),
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Words (every one must match) and `"exact phrases"`; PROTOCOL.md section 3 has the
    /// rules. It needs a letter or digit and balanced quotes (else `invalid_query`).
    #[param(required = true, min_length = 1)]
    q: Option<String>,
    #[param(schema_with = limit_schema)]
    limit: Option<i64>,
    /// Only this channel's messages.
    channel: Option<String>,
    /// Only this user's messages.
    user: Option<String>,
    /// Only messages sent at or after this time.
    #[param(schema_with = crate::json_schema::time)]
    since: Option<String>,
    /// Only messages sent before this time.
    #[param(schema_with = crate::json_schema::time)]
    until: Option<String>,
    /// The next page: matches older than this id (a page's `next_before_id`). Pages are
    /// stable while messages arrive: a new match is newer than every page already read.
    before_id: Option<MessageId>,
}

/// A page of search results, with the total of matches.
#[derive(Serialize, ToSchema)]
pub struct SearchResults {
    /// Newest first.
    pub messages: Vec<Message>,
    /// Matches up to `cursor`, every page included: exact up to 10,000 (`total_exact`);
    /// beyond, 10,000 and `total_exact: false` ("more than 10,000").
    pub total: i64,
    pub total_exact: bool,
    /// Where the next page starts (its `before_id`); `null` on the last page.
    pub next_before_id: Option<MessageId>,
    pub cursor: Cursor,
    pub epoch: String,
}

/// An RFC 3339 query parameter, as milliseconds.
pub(super) fn time_param(s: &Option<String>, field: &str) -> Result<Option<i64>, ApiError> {
    s.as_deref()
        .map(|s| {
            parse_rfc3339_ms(s).ok_or_else(|| ApiError::InvalidParameter(format!("{field} must be an RFC 3339 time")))
        })
        .transpose()
}

/// Full-text search, newest first, a page at a time, with the total of matches.
#[utoipa::path(get, path = "/api/search", tag = "read", params(SearchQuery), responses(
    (status = 200, body = SearchResults),
    (status = 400, description = "`invalid_query` (the search words) or `invalid_parameter`", body = ErrorBody),
))]
pub async fn search(state: web::Data<AppState>, q: web::Query<SearchQuery>) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let limit = limit(q.limit)?;
    let fts = store::parse_query(q.q.as_deref().unwrap_or("")).map_err(|e| ApiError::InvalidQuery(e.0.into()))?;
    let (since, until) = (time_param(&q.since, "since")?, time_param(&q.until, "until")?);
    let before = q.before_id;
    let epoch = state.store.epoch().to_owned();
    let results = state
        .store
        .snapshot(move |c| -> Result<_, ApiError> {
            let t = store::totals(c)?;
            let mut results = SearchResults {
                messages: Vec::new(),
                total: 0,
                total_exact: true,
                next_before_id: None,
                cursor: t.cursor,
                epoch,
            };
            let Some(filter) = MessageFilter::by_names(c, q.channel.as_deref(), q.user.as_deref())? else {
                return Ok(results);
            };
            let find = store::Find {
                query: Some(&fts),
                filter,
                since,
                until,
            };
            // One more than asked: whether there is a next page.
            let (mut messages, total) = store::search_with_total(c, &find, before, limit + 1, t.cursor)?;
            if messages.len() as i64 > limit {
                messages.truncate(limit as usize);
                results.next_before_id = messages.last().map(|m| m.id);
            }
            (results.total, results.total_exact) = total;
            results.messages = messages;
            Ok(results)
        })
        .await?;
    Ok(HttpResponse::Ok().json(results))
}

/// How wide an activity bucket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    Minute,
    Hour,
    Day,
}

impl Bucket {
    fn minutes(self) -> i64 {
        match self {
            Bucket::Minute => 1,
            Bucket::Hour => 60,
            Bucket::Day => 1440,
        }
    }
}

/// Most buckets one activity answer holds.
pub const ACTIVITY_BUCKETS_MAX: i64 = 10_000;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActivityQuery {
    /// The last 5 minutes, hour, 24 hours, 7 or 30 days, up to now; or give `since` (and
    /// `until`, default now). Without either: the last hour.
    #[param(inline)]
    window: Option<Window>,
    /// The window's start (with `until`, instead of `window`).
    #[param(schema_with = crate::json_schema::time)]
    since: Option<String>,
    /// The window's end (exclusive; default now).
    #[param(schema_with = crate::json_schema::time)]
    until: Option<String>,
    /// Bucket width; default: minutes up to 6 hours, hours up to 7 days, days beyond.
    #[param(inline)]
    bucket: Option<Bucket>,
    /// Only this channel's messages.
    channel: Option<String>,
    /// Only this user's messages.
    user: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ActivityBucket {
    #[serde(serialize_with = "crate::time::serialize_ms")]
    #[schema(schema_with = crate::json_schema::time)]
    pub start: i64,
    pub messages: i64,
}

/// Messages over time, from the per-minute counts the write path keeps.
#[derive(Serialize, ToSchema)]
pub struct Activity {
    /// Every bucket of the window, oldest first, empty ones with 0.
    pub buckets: Vec<ActivityBucket>,
    /// Their sum: the window's messages (live ones: a deleted message is not counted).
    pub total: i64,
    pub bucket: Bucket,
    /// The window, whole buckets: `since` is the first bucket's start, `until` the end.
    #[serde(serialize_with = "crate::time::serialize_ms")]
    #[schema(schema_with = crate::json_schema::time)]
    pub since: i64,
    #[serde(serialize_with = "crate::time::serialize_ms")]
    #[schema(schema_with = crate::json_schema::time)]
    pub until: i64,
    pub cursor: Cursor,
    pub epoch: String,
}

/// Messages per minute, hour or day over a window: of everything, a channel or a user.
#[utoipa::path(get, path = "/api/activity", tag = "read", params(ActivityQuery), responses(
    (status = 200, body = Activity),
    (status = 400, description = "`invalid_parameter`: a time that is not RFC 3339, an empty window, or more than 10,000 buckets", body = ErrorBody),
))]
pub async fn activity(state: web::Data<AppState>, q: web::Query<ActivityQuery>) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let now = crate::time::now_ms();
    let until = time_param(&q.until, "until")?.unwrap_or(now);
    let since = match (time_param(&q.since, "since")?, q.window) {
        (Some(s), _) => s,
        (None, w) => until.saturating_sub(w.unwrap_or(Window::Hour).minutes() * 60_000),
    };
    if until <= since {
        return Err(ApiError::InvalidParameter(
            "the window is empty: until is not after since".into(),
        ));
    }
    let span = store::minutes::minute_of(until - 1) - store::minutes::minute_of(since) + 1;
    let bucket = q.bucket.unwrap_or(match span {
        s if s <= 360 => Bucket::Minute,
        s if s <= 7 * 1440 => Bucket::Hour,
        _ => Bucket::Day,
    });
    let width = bucket.minutes();
    // Whole buckets: from the start of the one `since` falls in to the end of `until`'s.
    let from = store::minutes::minute_of(since).div_euclid(width) * width;
    let to = (store::minutes::minute_of(until - 1).div_euclid(width) + 1) * width;
    let count = (to - from) / width;
    if count > ACTIVITY_BUCKETS_MAX {
        return Err(ApiError::InvalidParameter(format!(
            "{count} buckets: at most {ACTIVITY_BUCKETS_MAX}; choose a wider bucket or a shorter window"
        )));
    }
    let epoch = state.store.epoch().to_owned();
    let answer = state
        .store
        .snapshot(move |c| -> Result<_, ApiError> {
            let t = store::totals(c)?;
            let of = match (q.channel.as_deref(), q.user.as_deref()) {
                (Some(name), _) => store::channel_by_name(c, name)?.map(|ch| store::minutes::Of::Channel(ch.id)),
                (None, Some(name)) => store::user_by_name(c, name)?.map(|u| store::minutes::Of::User(u.id)),
                (None, None) => Some(store::minutes::Of::All),
            };
            let counted = match of {
                Some(of) => store::minutes::activity(c, of, from, to, width)?,
                None => Vec::new(),
            };
            let counted: HashMap<i64, i64> = counted.into_iter().collect();
            let buckets: Vec<ActivityBucket> = (0..count)
                .map(|i| {
                    let start = from + i * width;
                    ActivityBucket {
                        start: start * 60_000,
                        messages: counted.get(&start).copied().unwrap_or(0),
                    }
                })
                .collect();
            Ok(Activity {
                total: buckets.iter().map(|b| b.messages).sum(),
                buckets,
                bucket,
                since: from * 60_000,
                until: to * 60_000,
                cursor: t.cursor,
                epoch,
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TopQuery {
    /// The last 5 minutes, hour, 24 hours, 7 or 30 days (whole minutes, as
    /// `/api/activity` counts them); default the last hour.
    #[param(inline)]
    window: Option<Window>,
    /// This channel's top users (instead of the top channels and users of everything).
    channel: Option<String>,
    /// This user's top channels.
    user: Option<String>,
}

/// The top channels and users of a window, or a channel's top users, or a user's top
/// channels: what the live `top` views push, kept in memory by their rooms.
#[utoipa::path(get, path = "/api/top", tag = "read", params(TopQuery), responses(
    (status = 200, body = crate::live::top::TopList),
    (status = 400, description = "`invalid_parameter`: both `channel` and `user`, or a name that is not one", body = ErrorBody),
))]
pub async fn top(
    live: web::Data<std::sync::Arc<crate::live::Live>>,
    q: web::Query<TopQuery>,
) -> Result<HttpResponse, ApiError> {
    use crate::live::top::TopScope;
    let q = q.into_inner();
    let named = |name: String, what: &str| {
        if crate::domain::valid_name(&name) {
            Ok(name)
        } else {
            Err(ApiError::InvalidParameter(format!(
                "`{what}` is not a {what} name: 1-64 of letters, digits, `_`, `.` and `-`"
            )))
        }
    };
    let scope = match (q.channel, q.user) {
        (Some(_), Some(_)) => return Err(ApiError::InvalidParameter("give `channel` or `user`, not both".into())),
        (Some(c), None) => TopScope::Channel(named(c, "channel")?),
        (None, Some(u)) => TopScope::User(named(u, "user")?),
        (None, None) => TopScope::All,
    };
    let list = live.top(q.window.unwrap_or(Window::Hour), scope).await?;
    Ok(HttpResponse::Ok().json(list))
}

/// What `/healthz` answers.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`: the database answered.
    #[schema(value_type = String, example = "ok")]
    pub status: &'static str,
    /// `--node-id`, or the one chosen at start.
    pub node_id: String,
    #[schema(value_type = String, example = "ok")]
    pub database: &'static str,
    /// `ok`, or why the last commit failed (`storage_full`, `read_only`).
    #[schema(value_type = String, example = "ok")]
    pub writes: &'static str,
    /// `off` without `--bus`, else `ok` or `down`.
    #[schema(value_type = String, example = "ok")]
    pub bus: &'static str,
    /// The newest stored message.
    pub cursor: Cursor,
    /// The newest message this node's live views were given.
    pub delivered_cursor: Cursor,
}

/// 200 while the database answers; a bus outage is reported in the body, not as a failure.
#[utoipa::path(get, path = "/healthz", tag = "operate", responses((status = 200, body = Health)))]
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
    Ok(HttpResponse::Ok().json(Health {
        status: "ok",
        node_id: state.node_id.clone(),
        database: "ok",
        writes,
        bus,
        cursor: totals.cursor,
        delivered_cursor: state.delivered.get(),
    }))
}

/// The Prometheus metrics, in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "operate", responses(
    (status = 200, content_type = "text/plain; version=0.0.4", body = String),
))]
pub async fn prometheus() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(crate::metrics::render())
}
