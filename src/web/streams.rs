//! The stream API (PROTOCOL.md section 8): streams, their events, threads, promotion,
//! sharing and membership, and `/api/session`. Reads are open to anonymous callers (every
//! stream is public until private ones exist); every change needs a user token and goes
//! through the ingest actor, so its events take the next cursors in commit order.
use actix_web::cookie::{Cookie, SameSite};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use utoipa::{IntoParams, ToSchema};

use super::api::{limit, limit_schema};
use super::AppState;
use crate::auth::{Claims, COOKIE};
use crate::error::{ApiError, ErrorBody};
use crate::ingest::Operate;
use crate::store::people;
use crate::store::streams::{self, EventObject, Member, StreamObject};
use crate::store::{
    self, Actor, ChannelId, Cursor, DbConnection, MessageId, OpOutcome, Stream, StreamKind, StreamOp, StreamStatus,
    UserId,
};

use crate::domain::{CLIENT_TEMP_ID_MAX, CONTEXT_MAX, DESCRIPTION_MAX, TITLE_MAX};

/// The user token a request carries, if any: `Authorization: Bearer` (unless it is the
/// ingest token, which names no user), else the `chatpulse_token` cookie. A token that is
/// present and not valid is refused, not ignored.
pub fn caller(state: &AppState, req: &HttpRequest) -> Result<Option<Claims>, ApiError> {
    caller_with(state, req, None)
}

/// [`caller`], or `token` when given (a live connection's `?token=`, which a browser's
/// EventSource and WebSocket cannot send as a header).
pub fn caller_with(state: &AppState, req: &HttpRequest, token: Option<&str>) -> Result<Option<Claims>, ApiError> {
    if let Some(t) = token.filter(|t| !t.is_empty()) {
        return verify(state, t).map(Some);
    }
    let bearer = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let is_ingest = |t: &str| {
        state
            .ingest_token
            .as_deref()
            .is_some_and(|i| bool::from(i.as_bytes().ct_eq(t.as_bytes())))
    };
    let token = match bearer {
        Some(t) if !is_ingest(t) => Some(t.to_owned()),
        _ => req.cookie(COOKIE).map(|c| c.value().to_owned()),
    };
    let Some(token) = token else {
        return Ok(None);
    };
    verify(state, &token).map(Some)
}

fn verify(state: &AppState, token: &str) -> Result<Claims, ApiError> {
    let tokens = state
        .tokens
        .as_ref()
        .ok_or_else(|| ApiError::NeedsUser(crate::auth::TokenError::Disabled.to_string()))?;
    tokens.verify(token).map_err(|e| ApiError::NeedsUser(e.to_string()))
}

/// The caller as the actor of a change: a user token is required.
pub(super) fn actor(state: &AppState, req: &HttpRequest) -> Result<Actor, ApiError> {
    match caller(state, req)? {
        Some(c) => Ok(Actor {
            name: c.sub,
            admin: c.admin,
        }),
        None => Err(ApiError::NeedsUser(
            "this needs a user token (Authorization: Bearer, or the session cookie)".into(),
        )),
    }
}

/// Commits one change and answers with what it did.
pub(super) async fn operate(state: &AppState, actor: Actor, op: StreamOp) -> Result<OpOutcome, ApiError> {
    let answer = state
        .ingest
        .send(Operate(actor, op))
        .await
        .map_err(|_| ApiError::Internal("ingest is stopping".into()))??;
    Ok(answer
        .await
        .map_err(|_| ApiError::Internal("ingest was interrupted".into()))??)
}

/// Commits `op` as `actor` and answers with what it did and the stream it is about, as
/// the actor sees it now.
async fn operate_on_stream(
    state: &AppState,
    actor: Actor,
    op: StreamOp,
) -> Result<(OpOutcome, StreamObject), ApiError> {
    let user = actor.name.clone();
    let done = operate(state, actor, op).await?;
    let stream = stream_object(state, done.stream, Some(user)).await?;
    Ok((done, stream))
}

/// The id of the user named `name`, if they were ever seen.
pub(super) fn user_id(c: &mut DbConnection, name: Option<&str>) -> Result<Option<UserId>, ApiError> {
    match name {
        Some(n) => Ok(store::user_by_name(c, n)?.map(|u| u.id)),
        None => Ok(None),
    }
}

/// Stream `id` if `user` (or an anonymous caller) may see it; 404 alike whether it does
/// not exist or is private to others, so its existence never leaks.
pub fn visible_stream(c: &mut DbConnection, id: ChannelId, user: Option<UserId>) -> Result<Stream, ApiError> {
    match streams::stream_by_id(c, id)? {
        Some(s) if people::can_see(c, &s, user)? => Ok(s),
        _ => Err(no_stream()),
    }
}

/// A stream as `user` (or an anonymous caller) sees it, with their badge if they are a
/// member, or 404.
async fn stream_object(state: &AppState, id: ChannelId, user: Option<String>) -> Result<StreamObject, ApiError> {
    state
        .store
        .snapshot(move |c| -> Result<_, ApiError> {
            let me = user_id(c, user.as_deref())?;
            let s = visible_stream(c, id, me)?;
            let mut object = match me {
                Some(me) => match people::membership(c, &s, me)? {
                    Some(m) => StreamObject::of_member(&m),
                    None => StreamObject::new(&s, false),
                },
                None => StreamObject::new(&s, false),
            };
            if s.kind() == StreamKind::Dm {
                object.members = Some(streams::members(c, id)?.into_iter().map(|m| m.user).collect());
            }
            Ok(object)
        })
        .await
}

/// One event in its current state, with its thread or original.
pub(super) async fn event_object(state: &AppState, id: MessageId) -> Result<EventObject, ApiError> {
    state
        .store
        .snapshot(move |c| -> Result<_, ApiError> {
            let m = streams::event_by_id(c, id)?.ok_or_else(|| ApiError::NotFound("no such event".into()))?;
            let extras = streams::extras(c, std::slice::from_ref(&m))?;
            Ok(EventObject::new(&m, Some(&extras)))
        })
        .await
}

pub(super) fn no_stream() -> ApiError {
    ApiError::NotFound("no such stream".into())
}

/// Who reads: a user token's subject, or anonymous (`None`) unless the server runs with
/// `--require-token`.
pub fn user_name(req: &HttpRequest, state: &AppState) -> Result<Option<String>, ApiError> {
    match caller(state, req)? {
        Some(c) => Ok(Some(c.sub)),
        None if state.require_token => Err(ApiError::NeedsUser(
            "this server takes user tokens only (--require-token)".into(),
        )),
        None => Ok(None),
    }
}

/// A JSON integer, as JSON Schema has it: `7` and `7.0` alike (a whole number written
/// with a fraction is still an integer), within i64. A number written with a fraction or
/// an exponent is taken only where a double holds it exactly (below 2^53): beyond, it may
/// not be the integer that was written.
pub(super) fn integer<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    let n = serde_json::Number::deserialize(d)?;
    n.as_i64()
        .or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < EXACT)
                .map(|f| f as i64)
        })
        .ok_or_else(|| serde::de::Error::custom(format!("{n} is not a 64-bit integer")))
}

/// Checks a free text: not empty (when `required`), at most `max` characters, no U+0000.
pub(super) fn text_rule(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    let n = value.chars().count();
    if n == 0 || n > max {
        return Err(ApiError::InvalidRequest(format!("`{field}` is 1-{max} characters")));
    }
    if value.contains('\0') {
        return Err(ApiError::InvalidRequest(format!("`{field}` holds U+0000")));
    }
    Ok(())
}

/// A stream's name for its kind: a channel's slug follows the name rule.
fn name_rule(kind: StreamKind, name: &str) -> Result<(), ApiError> {
    match kind {
        StreamKind::Channel if !crate::domain::valid_name(name) => Err(ApiError::InvalidRequest(format!(
            "a channel's name is {}",
            crate::domain::NAME_RULE
        ))),
        StreamKind::Channel => Ok(()),
        _ => text_rule("name", name, TITLE_MAX),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StreamList {
    pub streams: Vec<StreamObject>,
    pub cursor: Cursor,
    pub epoch: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamsQuery {
    kind: Option<StreamKind>,
    status: Option<StreamStatus>,
    #[param(schema_with = limit_schema)]
    limit: Option<i64>,
}

/// Streams, newest first.
#[utoipa::path(get, path = "/api/streams", tag = "streams", params(StreamsQuery),
    responses(
        (status = 200, body = StreamList),
        (status = 400, description = "`invalid_parameter`", body = ErrorBody),
        (status = 401, description = "`unauthorized`: a token that is not valid", body = ErrorBody),
    ))]
pub async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<StreamsQuery>,
) -> Result<HttpResponse, ApiError> {
    let user = user_name(&req, &state)?;
    let limit = limit(q.limit)?;
    let (kind, status) = (q.kind, q.status);
    let list = state
        .store
        .snapshot(move |c| -> Result<_, ApiError> {
            let me = user_id(c, user.as_deref())?;
            let rows = streams::list_streams(c, me, kind, status, limit)?;
            let mut out = Vec::with_capacity(rows.len());
            for s in &rows {
                out.push(match me {
                    Some(me) => match people::membership(c, s, me)? {
                        Some(m) => StreamObject::of_member(&m),
                        None => StreamObject::new(s, false),
                    },
                    None => StreamObject::new(s, false),
                });
            }
            Ok(StreamList {
                streams: out,
                cursor: store::totals(c)?.cursor,
                epoch: String::new(),
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(StreamList {
        epoch: state.store.epoch().to_owned(),
        ..list
    }))
}

/// What a promotion makes.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NewKind {
    Channel,
    Incident,
}

impl From<NewKind> for StreamKind {
    fn from(k: NewKind) -> StreamKind {
        match k {
            NewKind::Channel => StreamKind::Channel,
            NewKind::Incident => StreamKind::Incident,
        }
    }
}

/// What `POST /api/streams` makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CreateKind {
    Channel,
    Incident,
    Dm,
}

/// The status a `PATCH` sets (archiving is `DELETE`).
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NewStatus {
    Active,
    Resolved,
}

/// Who may see a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    Public,
    Private,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStream {
    /// `channel`, `incident` or `dm` (a thread is branched from an event).
    pub kind: CreateKind,
    /// A channel's slug (the name rule), an incident's name (1-128 characters); a DM has
    /// none (its name is its people's).
    #[schema(schema_with = crate::json_schema::optional_stream_name)]
    pub name: Option<String>,
    #[schema(schema_with = crate::json_schema::description)]
    pub description: Option<String>,
    /// `public` (the default) or `private`: only members see it. A DM always is private.
    pub visibility: Option<Visibility>,
    /// A DM's people besides its creator (1-15 names); the same people find the same DM.
    #[schema(schema_with = crate::json_schema::dm_members)]
    pub members: Option<Vec<String>>,
}

/// Creates a channel or an incident (its creator is its owner), or a DM (or finds the one
/// these people have).
#[utoipa::path(post, path = "/api/streams", tag = "streams",
    request_body(content = NewStream, content_type = "application/json"),
    security(("user_token" = [])),
    responses(
        (status = 200, description = "The DM these people already have", body = StreamObject),
        (status = 201, body = StreamObject),
        (status = 400, description = "`invalid_request`: a field breaks its rule; `invalid_parameter`: not this body", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no valid user token", body = ErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 409, description = "`conflict`: a stream has this name", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
    ))]
pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<NewStream>,
) -> Result<HttpResponse, ApiError> {
    let actor = actor(&state, &req)?;
    let b = body.into_inner();
    if let Some(d) = &b.description {
        text_rule("description", d, DESCRIPTION_MAX)?;
    }
    let op = if b.kind == CreateKind::Dm {
        let members = b.members.unwrap_or_default();
        if b.name.is_some() || b.description.is_some() || b.visibility == Some(Visibility::Public) {
            return Err(ApiError::InvalidRequest(
                "a DM takes `members` only: its name is its people's, and it is private".into(),
            ));
        }
        if members.is_empty() || members.len() >= crate::domain::DM_MEMBERS_MAX {
            return Err(ApiError::InvalidRequest(format!(
                "`members` names 1-{} other people",
                crate::domain::DM_MEMBERS_MAX - 1
            )));
        }
        if let Some(bad) = members.iter().find(|m| !crate::domain::valid_name(m)) {
            return Err(ApiError::InvalidRequest(format!(
                "`members`: `{}` is not a name ({})",
                bad.escape_debug(),
                crate::domain::NAME_RULE
            )));
        }
        StreamOp::Create {
            kind: StreamKind::Dm,
            name: String::new(),
            description: None,
            private: true,
            members,
        }
    } else {
        let kind = match b.kind {
            CreateKind::Incident => StreamKind::Incident,
            _ => StreamKind::Channel,
        };
        if b.members.is_some() {
            return Err(ApiError::InvalidRequest(
                "`members` is for a DM; add a channel's or incident's members once it exists".into(),
            ));
        }
        let name = b
            .name
            .ok_or_else(|| ApiError::InvalidRequest(format!("a {} needs a `name`", kind.as_str())))?;
        name_rule(kind, &name)?;
        StreamOp::Create {
            kind,
            name,
            description: b.description,
            private: b.visibility == Some(Visibility::Private),
            members: Vec::new(),
        }
    };
    let (done, stream) = operate_on_stream(&state, actor, op).await?;
    Ok(if done.created {
        HttpResponse::Created().json(stream)
    } else {
        HttpResponse::Ok().json(stream)
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct StreamPath {
    /// The stream's id.
    id: i64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct EventPath {
    /// The stream's id.
    id: i64,
    /// The event's id.
    event_id: i64,
}

/// One stream.
#[utoipa::path(get, path = "/api/streams/{id}", tag = "streams", params(StreamPath),
    responses(
        (status = 200, body = StreamObject),
        (status = 400, description = "`invalid_parameter`: not an id", body = ErrorBody),
        (status = 401, description = "`unauthorized`: a token that is not valid", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    ))]
pub async fn get(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<StreamPath>,
) -> Result<HttpResponse, ApiError> {
    let user = user_name(&req, &state)?;
    Ok(HttpResponse::Ok().json(stream_object(&state, ChannelId(path.id), user).await?))
}

/// Changes to a stream: any of them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamChanges {
    /// A channel's slug (the name rule), an incident's or thread's name.
    #[schema(schema_with = crate::json_schema::optional_stream_name)]
    pub name: Option<String>,
    #[schema(schema_with = crate::json_schema::description)]
    pub description: Option<String>,
    /// `resolved` (an incident) or `active`; archive with DELETE.
    pub status: Option<NewStatus>,
}

/// Renames, describes or resolves a stream (an owner, an owner of a thread's parent, or an
/// admin); logs `stream_updated` with what changed.
#[utoipa::path(patch, path = "/api/streams/{id}", tag = "streams", params(StreamPath),
    request_body(content = StreamChanges, content_type = "application/json"),
    security(("user_token" = [])),
    responses(
        (status = 200, body = StreamObject),
        (status = 400, description = "`invalid_request` or `invalid_parameter`", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no valid user token", body = ErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 403, description = "`forbidden`: not an owner or admin", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`conflict`: archived, the name is taken, or resolving what is not an incident", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
    ))]
pub async fn update(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<StreamPath>,
    body: web::Json<StreamChanges>,
) -> Result<HttpResponse, ApiError> {
    let actor = actor(&state, &req)?;
    let b = body.into_inner();
    if let Some(d) = &b.description {
        text_rule("description", d, DESCRIPTION_MAX)?;
    }
    if let Some(n) = &b.name {
        // The rule depends on the kind: read it (a stream's kind changes only by promotion).
        let s = stream_object(&state, ChannelId(path.id), None).await?;
        name_rule(s.kind, n)?;
    }
    let (_, stream) = operate_on_stream(
        &state,
        actor,
        StreamOp::Update {
            stream: ChannelId(path.id),
            name: b.name,
            description: b.description,
            status: b.status.map(|s| match s {
                NewStatus::Active => StreamStatus::Active,
                NewStatus::Resolved => StreamStatus::Resolved,
            }),
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(stream))
}

/// Archives a stream (an owner or admin): it keeps its events and takes no changes.
#[utoipa::path(delete, path = "/api/streams/{id}", tag = "streams", params(StreamPath),
    security(("user_token" = [])),
    responses(
        (status = 200, body = StreamObject),
        (status = 400, description = "`invalid_parameter`: not an id", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no valid user token", body = ErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 403, description = "`forbidden`: not an owner or admin", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`conflict`: already archived", body = ErrorBody),
    ))]
pub async fn archive(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<StreamPath>,
) -> Result<HttpResponse, ApiError> {
    let actor = actor(&state, &req)?;
    let (_, stream) = operate_on_stream(
        &state,
        actor,
        StreamOp::Archive {
            stream: ChannelId(path.id),
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(stream))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventList {
    /// In cursor order.
    pub events: Vec<EventObject>,
    pub cursor: Cursor,
    pub epoch: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Events after this cursor, oldest first.
    after_id: Option<MessageId>,
    /// The newest events before this cursor (still returned oldest first).
    before_id: Option<MessageId>,
    #[param(schema_with = limit_schema)]
    limit: Option<i64>,
}

/// A stream's events in cursor order, each in its current state; without `after_id`, the
/// newest `limit`.
#[utoipa::path(get, path = "/api/streams/{id}/events", tag = "streams", params(StreamPath, EventsQuery),
    responses(
        (status = 200, body = EventList),
        (status = 400, description = "`invalid_parameter`", body = ErrorBody),
        (status = 401, description = "`unauthorized`: a token that is not valid", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    ))]
pub async fn events(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<StreamPath>,
    q: web::Query<EventsQuery>,
) -> Result<HttpResponse, ApiError> {
    let user = user_name(&req, &state)?;
    let limit = limit(q.limit)?;
    let (id, after, before) = (ChannelId(path.id), q.after_id, q.before_id);
    let list = state
        .store
        .snapshot(move |c| -> Result<_, ApiError> {
            let me = user_id(c, user.as_deref())?;
            visible_stream(c, id, me)?;
            let rows = streams::list_events(c, id, after, before, limit)?;
            let extras = streams::extras(c, &rows)?;
            Ok(EventList {
                events: rows.iter().map(|m| EventObject::new(m, Some(&extras))).collect(),
                cursor: store::totals(c)?.cursor,
                epoch: String::new(),
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(EventList {
        epoch: state.store.epoch().to_owned(),
        ..list
    }))
}

/// A message to post.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEvent {
    /// 1-4096 characters; `@name` mentions that person.
    #[schema(schema_with = crate::json_schema::text)]
    pub text: String,
    /// The poster's own id for the message, echoed in its event (1-128 characters).
    #[schema(schema_with = crate::json_schema::client_temp_id)]
    pub client_temp_id: Option<String>,
    /// Idempotency key (1-128 characters): a repeat answers the stored event.
    #[schema(schema_with = crate::json_schema::event_id)]
    pub event_id: Option<String>,
}

fn message_text(text: &str) -> Result<(), ApiError> {
    text_rule("text", text, crate::domain::TEXT_MAX)
}

/// Posts a message (201; 200 with the stored one for a repeated `event_id`).
#[utoipa::path(post, path = "/api/streams/{id}/events", tag = "streams", params(StreamPath),
    request_body(content = NewEvent, content_type = "application/json"),
    security(("user_token" = [])),
    responses(
        (status = 200, description = "Posted before with this `event_id`", body = EventObject),
        (status = 201, body = EventObject),
        (status = 400, description = "`invalid_request` or `invalid_parameter`", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no valid user token", body = ErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`conflict`: the stream is archived, or the `event_id` was used in another stream", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
    ))]
pub async fn post(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<StreamPath>,
    body: web::Json<NewEvent>,
) -> Result<HttpResponse, ApiError> {
    let actor = actor(&state, &req)?;
    let b = body.into_inner();
    message_text(&b.text)?;
    if let Some(t) = &b.client_temp_id {
        text_rule("client_temp_id", t, CLIENT_TEMP_ID_MAX)?;
    }
    if let Some(e) = &b.event_id {
        text_rule("event_id", e, crate::domain::EVENT_ID_MAX)?;
    }
    let done = operate(
        &state,
        actor,
        StreamOp::Post {
            stream: ChannelId(path.id),
            text: b.text,
            client_temp_id: b.client_temp_id,
            event_id: b.event_id,
        },
    )
    .await?;
    let event = match &done.row {
        // Just posted: no thread, no replies yet.
        Some(row) => EventObject::new(row, None),
        None => event_object(&state, done.event.expect("a post names its event")).await?,
    };
    Ok(if done.created {
        HttpResponse::Created().json(event)
    } else {
        HttpResponse::Ok().json(event)
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Edit {
    #[schema(schema_with = crate::json_schema::text)]
    pub text: String,
}

/// Edits a message (its author only); logs `event_edited`. Answers the message as it is now.
#[utoipa::path(patch, path = "/api/streams/{id}/events/{event_id}", tag = "streams", params(EventPath),
    request_body(content = Edit, content_type = "application/json"),
    security(("user_token" = [])),
    responses(
        (status = 200, body = EventObject),
        (status = 400, description = "`invalid_request` or `invalid_parameter`", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no valid user token", body = ErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 403, description = "`forbidden`: not its author", body = ErrorBody),
        (status = 404, description = "`not_found`: no such stream, or no such message in it (or deleted)", body = ErrorBody),
        (status = 409, description = "`conflict`: the stream is archived", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
    ))]
pub async fn edit(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<EventPath>,
    body: web::Json<Edit>,
) -> Result<HttpResponse, ApiError> {
    let actor = actor(&state, &req)?;
    message_text(&body.text)?;
    let event = MessageId(path.event_id);
    operate(
        &state,
        actor,
        StreamOp::Edit {
            stream: ChannelId(path.id),
            event,
            text: body.into_inner().text,
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(event_object(&state, event).await?))
}

/// Deletes a message (its author, an owner of the stream, or an admin); logs
/// `event_deleted`. The message stops counting and is no longer found.
#[utoipa::path(delete, path = "/api/streams/{id}/events/{event_id}", tag = "streams", params(EventPath),
    security(("user_token" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "`invalid_parameter`: not an id", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no valid user token", body = ErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 403, description = "`forbidden`: not its author, an owner or an admin", body = ErrorBody),
        (status = 404, description = "`not_found`: no such stream, or no such message in it (or deleted)", body = ErrorBody),
        (status = 409, description = "`conflict`: the stream is archived", body = ErrorBody),
    ))]
pub async fn delete(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<EventPath>,
) -> Result<HttpResponse, ApiError> {
    let actor = actor(&state, &req)?;
    operate(
        &state,
        actor,
        StreamOp::Delete {
            stream: ChannelId(path.id),
            event: MessageId(path.event_id),
        },
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventRef {
    /// An event's id.
    #[serde(deserialize_with = "integer")]
    pub event_id: i64,
}

/// Branches a thread from a message of this stream (201), or answers the thread already
/// branched from it (200); logs `thread_started` in this stream.
#[utoipa::path(post, path = "/api/streams/{id}/thread", tag = "streams", params(StreamPath),
    request_body(content = EventRef, content_type = "application/json"),
    security(("user_token" = [])),
    responses(
        (status = 200, description = "The thread branched before", body = StreamObject),
        (status = 201, body = StreamObject),
        (status = 400, description = "`invalid_parameter`", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no valid user token", body = ErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 404, description = "`not_found`: no such stream, or no such message in it", body = ErrorBody),
        (status = 409, description = "`conflict`: the stream is archived", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
    ))]
pub async fn thread(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<StreamPath>,
    body: web::Json<EventRef>,
) -> Result<HttpResponse, ApiError> {
    let actor = actor(&state, &req)?;
    let (done, stream) = operate_on_stream(
        &state,
        actor,
        StreamOp::Thread {
            stream: ChannelId(path.id),
            event: MessageId(body.event_id),
        },
    )
    .await?;
    let thread = stream;
    Ok(if done.created {
        HttpResponse::Created().json(thread)
    } else {
        HttpResponse::Ok().json(thread)
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Promotion {
    /// `channel` or `incident`.
    pub kind: NewKind,
    /// A channel's slug (the name rule), an incident's name.
    #[schema(schema_with = crate::json_schema::stream_name)]
    pub name: String,
}

/// Promotes a thread to a channel or an incident, keeping its id and events (its owner,
/// an owner of its parent, or an admin); logs `stream_promoted`.
#[utoipa::path(post, path = "/api/streams/{id}/promote", tag = "streams", params(StreamPath),
    request_body(content = Promotion, content_type = "application/json"),
    security(("user_token" = [])),
    responses(
        (status = 200, body = StreamObject),
        (status = 400, description = "`invalid_request` or `invalid_parameter`", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no valid user token", body = ErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 403, description = "`forbidden`: not an owner or admin", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`conflict`: not a thread, archived, or the channel name is taken", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
    ))]
pub async fn promote(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<StreamPath>,
    body: web::Json<Promotion>,
) -> Result<HttpResponse, ApiError> {
    let actor = actor(&state, &req)?;
    let b = body.into_inner();
    let kind = StreamKind::from(b.kind);
    name_rule(kind, &b.name)?;
    let (_, stream) = operate_on_stream(
        &state,
        actor,
        StreamOp::Promote {
            stream: ChannelId(path.id),
            kind,
            name: b.name,
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(stream))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Share {
    /// The message to share, from any stream.
    #[serde(deserialize_with = "integer")]
    pub event_id: i64,
    /// What to say about it (1-1024 characters).
    #[schema(schema_with = crate::json_schema::context)]
    pub context: Option<String>,
}

/// Shares a message into this stream with context; logs `shared` here.
#[utoipa::path(post, path = "/api/streams/{id}/share", tag = "streams", params(StreamPath),
    request_body(content = Share, content_type = "application/json"),
    security(("user_token" = [])),
    responses(
        (status = 201, body = EventObject),
        (status = 400, description = "`invalid_request` or `invalid_parameter`", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no valid user token", body = ErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 404, description = "`not_found`: no such stream, or no such message (or deleted)", body = ErrorBody),
        (status = 409, description = "`conflict`: the stream is archived", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
    ))]
pub async fn share(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<StreamPath>,
    body: web::Json<Share>,
) -> Result<HttpResponse, ApiError> {
    let actor = actor(&state, &req)?;
    let b = body.into_inner();
    if let Some(c) = &b.context {
        text_rule("context", c, CONTEXT_MAX)?;
    }
    let done = operate(
        &state,
        actor,
        StreamOp::Share {
            stream: ChannelId(path.id),
            event: MessageId(b.event_id),
            context: b.context,
        },
    )
    .await?;
    // Just shared: its text is the original's, as of now.
    let event = match &done.row {
        Some(row) => EventObject::new(row, None),
        None => event_object(&state, done.event.expect("a share names its event")).await?,
    };
    Ok(HttpResponse::Created().json(event))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberList {
    /// Oldest member first.
    pub members: Vec<Member>,
}

async fn member_list(state: &AppState, id: ChannelId, user: Option<String>) -> Result<MemberList, ApiError> {
    state
        .store
        .snapshot(move |c| -> Result<_, ApiError> {
            let me = user_id(c, user.as_deref())?;
            visible_stream(c, id, me)?;
            Ok(MemberList {
                members: streams::members(c, id)?,
            })
        })
        .await
}

/// Joins a stream (logs `member_joined`; a member already changes nothing).
#[utoipa::path(post, path = "/api/streams/{id}/join", tag = "streams", params(StreamPath),
    security(("user_token" = [])),
    responses(
        (status = 200, body = StreamObject),
        (status = 400, description = "`invalid_parameter`: not an id", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no valid user token", body = ErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`conflict`: the stream is archived", body = ErrorBody),
    ))]
pub async fn join(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<StreamPath>,
) -> Result<HttpResponse, ApiError> {
    let actor = actor(&state, &req)?;
    let (_, stream) = operate_on_stream(
        &state,
        actor,
        StreamOp::Join {
            stream: ChannelId(path.id),
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(stream))
}

/// Leaves a stream (logs `member_left`); a private one is then out of sight (204).
#[utoipa::path(post, path = "/api/streams/{id}/leave", tag = "streams", params(StreamPath),
    security(("user_token" = [])),
    responses(
        (status = 200, body = StreamObject),
        (status = 204, description = "Left a private stream: it is no longer the caller's to see"),
        (status = 400, description = "`invalid_parameter`: not an id", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no valid user token", body = ErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`conflict`: not a member, or the stream is archived", body = ErrorBody),
    ))]
pub async fn leave(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<StreamPath>,
) -> Result<HttpResponse, ApiError> {
    let actor = actor(&state, &req)?;
    let user = actor.name.clone();
    let done = operate(
        &state,
        actor,
        StreamOp::Leave {
            stream: ChannelId(path.id),
        },
    )
    .await?;
    // Whoever leaves a private stream no longer sees it.
    match stream_object(&state, done.stream, Some(user)).await {
        Ok(stream) => Ok(HttpResponse::Ok().json(stream)),
        Err(ApiError::NotFound(_)) => Ok(HttpResponse::NoContent().finish()),
        Err(e) => Err(e),
    }
}

/// A stream's members.
#[utoipa::path(get, path = "/api/streams/{id}/members", tag = "streams", params(StreamPath),
    responses(
        (status = 200, body = MemberList),
        (status = 400, description = "`invalid_parameter`: not an id", body = ErrorBody),
        (status = 401, description = "`unauthorized`: a token that is not valid", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    ))]
pub async fn members(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<StreamPath>,
) -> Result<HttpResponse, ApiError> {
    let user = user_name(&req, &state)?;
    Ok(HttpResponse::Ok().json(member_list(&state, ChannelId(path.id), user).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    #[schema(schema_with = crate::json_schema::name)]
    pub user: String,
}

/// Adds someone to a stream (a member or an admin); logs `member_joined` with `added_by`.
#[utoipa::path(post, path = "/api/streams/{id}/members", tag = "streams", params(StreamPath),
    request_body(content = AddMember, content_type = "application/json"),
    security(("user_token" = [])),
    responses(
        (status = 200, body = MemberList),
        (status = 400, description = "`invalid_request` or `invalid_parameter`", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no valid user token", body = ErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 403, description = "`forbidden`: not a member", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`conflict`: the stream is archived", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
    ))]
pub async fn add_member(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<StreamPath>,
    body: web::Json<AddMember>,
) -> Result<HttpResponse, ApiError> {
    let actor = actor(&state, &req)?;
    let me = actor.name.clone();
    if !crate::domain::valid_name(&body.user) {
        return Err(ApiError::InvalidRequest(format!(
            "`user` is {}",
            crate::domain::NAME_RULE
        )));
    }
    let done = operate(
        &state,
        actor,
        StreamOp::AddMember {
            stream: ChannelId(path.id),
            user: body.into_inner().user,
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(member_list(&state, done.stream, Some(me)).await?))
}

/// Moves the caller's read cursor forward to `event_id` (everything up to it is read;
/// a cursor already past it stays). Their badges update on every device.
#[utoipa::path(post, path = "/api/streams/{id}/read", tag = "people", params(StreamPath),
    request_body(content = EventRef, content_type = "application/json"),
    security(("user_token" = [])),
    responses(
        (status = 200, description = "The stream with the caller's badge", body = StreamObject),
        (status = 400, description = "`invalid_parameter`", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no valid user token", body = ErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 404, description = "`not_found`: no such stream, or no such event in it", body = ErrorBody),
        (status = 409, description = "`conflict`: not a member, or the stream is archived", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
    ))]
pub async fn read(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<StreamPath>,
    body: web::Json<EventRef>,
) -> Result<HttpResponse, ApiError> {
    move_read(
        &state,
        &req,
        StreamOp::Read {
            stream: ChannelId(path.id),
            event: MessageId(body.event_id),
        },
    )
    .await
}

/// Moves the caller's read cursor (`read` or `unread`) and answers the stream with their
/// badge.
async fn move_read(state: &AppState, req: &HttpRequest, op: StreamOp) -> Result<HttpResponse, ApiError> {
    let actor = actor(state, req)?;
    Ok(HttpResponse::Ok().json(operate_on_stream(state, actor, op).await?.1))
}

/// Marks `event_id` and everything after it unread (the read cursor moves back before it).
#[utoipa::path(post, path = "/api/streams/{id}/unread", tag = "people", params(StreamPath),
    request_body(content = EventRef, content_type = "application/json"),
    security(("user_token" = [])),
    responses(
        (status = 200, description = "The stream with the caller's badge", body = StreamObject),
        (status = 400, description = "`invalid_parameter`", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no valid user token", body = ErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 404, description = "`not_found`: no such stream, or no such event in it", body = ErrorBody),
        (status = 409, description = "`conflict`: not a member, or the stream is archived", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
    ))]
pub async fn unread(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<StreamPath>,
    body: web::Json<EventRef>,
) -> Result<HttpResponse, ApiError> {
    move_read(
        &state,
        &req,
        StreamOp::Unread {
            stream: ChannelId(path.id),
            event: MessageId(body.event_id),
        },
    )
    .await
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Bootstrap {
    /// The caller.
    pub user: String,
    pub admin: bool,
    /// Every stream the caller is a member of (and may see), newest first, with their
    /// read cursor, `unread_count` and `mention_count`.
    pub streams: Vec<StreamObject>,
    /// Where the `workspace` and `me` views resume from.
    pub cursor: Cursor,
    pub epoch: String,
}

/// What a signed-in client starts from: the caller and their streams with badges.
#[utoipa::path(get, path = "/api/bootstrap", tag = "people",
    security(("user_token" = [])),
    responses(
        (status = 200, body = Bootstrap),
        (status = 401, description = "`unauthorized`: no valid user token", body = ErrorBody, headers(("WWW-Authenticate" = String))),
    ))]
pub async fn bootstrap(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let me = actor(&state, &req)?;
    let name = me.name.clone();
    let (streams, cursor) = state
        .store
        .snapshot(move |c| -> Result<_, ApiError> {
            let cursor = store::totals(c)?.cursor;
            let streams = match user_id(c, Some(&name))? {
                Some(id) => people::memberships(c, id)?
                    .iter()
                    .map(StreamObject::of_member)
                    .collect(),
                None => Vec::new(),
            };
            Ok((streams, cursor))
        })
        .await?;
    Ok(HttpResponse::Ok().json(Bootstrap {
        user: me.name,
        admin: me.admin,
        streams,
        cursor,
        epoch: state.store.epoch().to_owned(),
    }))
}

/// A mention of the caller.
#[derive(Debug, Serialize, ToSchema)]
pub struct Notification {
    /// Always `notification`.
    #[schema(value_type = String)]
    pub r#type: &'static str,
    /// The cursor of the event that mentioned them (the message, or the edit that added
    /// the mention): pages go on `before` it.
    pub cursor: Cursor,
    pub stream_id: ChannelId,
    /// The stream's name as the caller sees it.
    pub stream: Option<String>,
    /// The message, as it is now.
    pub event: EventObject,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationList {
    /// Newest first.
    pub notifications: Vec<Notification>,
    pub cursor: Cursor,
    pub epoch: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NotificationsQuery {
    /// Older than this cursor (the last page's last `cursor`).
    before: Option<Cursor>,
    #[param(schema_with = limit_schema)]
    limit: Option<i64>,
}

/// Reads the notifications of `user` (newest first, before `before`, at most `limit`) that
/// they may still see.
pub fn notifications_of(
    c: &mut DbConnection,
    user: UserId,
    before: Option<Cursor>,
    limit: i64,
) -> Result<Vec<Notification>, ApiError> {
    let entries = people::inbox_of(c, user, Some(people::Inbox::Mention), None, before, limit)?;
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        let Some(s) = streams::stream_by_id(c, e.stream_id)? else {
            continue;
        };
        let Some(m) = streams::event_by_id(c, e.event_id)? else {
            continue;
        };
        if !people::can_see(c, &s, Some(user))? {
            continue;
        }
        let extras = streams::extras(c, std::slice::from_ref(&m))?;
        out.push(Notification {
            r#type: "notification",
            cursor: e.cursor,
            stream_id: s.id,
            stream: s.display_name().map(str::to_owned),
            event: EventObject::new(&m, Some(&extras)),
        });
    }
    Ok(out)
}

/// The caller's mentions, newest first: `@name` in a message of a stream they may see.
#[utoipa::path(get, path = "/api/notifications", tag = "people", params(NotificationsQuery),
    security(("user_token" = [])),
    responses(
        (status = 200, body = NotificationList),
        (status = 400, description = "`invalid_parameter`", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no valid user token", body = ErrorBody, headers(("WWW-Authenticate" = String))),
    ))]
pub async fn notifications(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<NotificationsQuery>,
) -> Result<HttpResponse, ApiError> {
    let me = actor(&state, &req)?;
    let limit = limit(q.limit)?;
    let before = q.before;
    let list = state
        .store
        .snapshot(move |c| -> Result<_, ApiError> {
            let cursor = store::totals(c)?.cursor;
            let notifications = match user_id(c, Some(&me.name))? {
                Some(id) => notifications_of(c, id, before, limit)?,
                None => Vec::new(),
            };
            Ok(NotificationList {
                notifications,
                cursor,
                epoch: String::new(),
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(NotificationList {
        epoch: state.store.epoch().to_owned(),
        ..list
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionRequest {
    /// A user token.
    pub token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Session {
    pub user: String,
    pub admin: bool,
    #[serde(serialize_with = "crate::time::serialize_ms")]
    #[schema(schema_with = crate::json_schema::time)]
    pub expires_at: i64,
}

/// Signs the pages in: sets the `chatpulse_token` cookie (HttpOnly, SameSite=Strict) to
/// a valid user token, until it expires.
#[utoipa::path(post, path = "/api/session", tag = "streams",
    request_body(content = SessionRequest, content_type = "application/json"),
    responses(
        (status = 200, body = Session, headers(("Set-Cookie" = String))),
        (status = 400, description = "`invalid_parameter`: not this body", body = ErrorBody),
        (status = 401, description = "`unauthorized`: the token is not valid", body = ErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 415, description = "Not application/json", body = ErrorBody),
    ))]
pub async fn sign_in(state: web::Data<AppState>, body: web::Json<SessionRequest>) -> Result<HttpResponse, ApiError> {
    let claims = verify(&state, &body.token)?;
    let now = crate::time::now_ms() / 1000;
    let cookie = Cookie::build(COOKIE, body.into_inner().token)
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/")
        .max_age(actix_web::cookie::time::Duration::seconds(
            (claims.exp as i64 - now).max(0),
        ))
        .finish();
    Ok(HttpResponse::Ok().cookie(cookie).json(Session {
        user: claims.sub,
        admin: claims.admin,
        expires_at: claims.exp as i64 * 1000,
    }))
}

/// Signs the pages out: removes the cookie.
#[utoipa::path(delete, path = "/api/session", tag = "streams",
    responses((status = 204, description = "Signed out", headers(("Set-Cookie" = String)))))]
pub async fn sign_out() -> HttpResponse {
    let mut cookie = Cookie::build(COOKIE, "").path("/").finish();
    cookie.make_removal();
    HttpResponse::NoContent().cookie(cookie).finish()
}

/// The stream routes, under `/api`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/streams").get(list).post(create))
        .service(web::resource("/streams/{id}").get(get).patch(update).delete(archive))
        .service(web::resource("/streams/{id}/events").get(events).post(post))
        .service(
            web::resource("/streams/{id}/events/{event_id}")
                .patch(edit)
                .delete(delete),
        )
        .service(web::resource("/streams/{id}/thread").post(thread))
        .service(web::resource("/streams/{id}/promote").post(promote))
        .service(web::resource("/streams/{id}/share").post(share))
        .service(web::resource("/streams/{id}/join").post(join))
        .service(web::resource("/streams/{id}/leave").post(leave))
        .service(web::resource("/streams/{id}/members").get(members).post(add_member))
        .service(web::resource("/streams/{id}/read").post(read))
        .service(web::resource("/streams/{id}/polls").post(super::polls::create))
        .service(web::resource("/streams/{id}/polls/{event_id}").get(super::polls::get))
        .service(web::resource("/streams/{id}/polls/{event_id}/vote").post(super::polls::vote))
        .service(web::resource("/streams/{id}/polls/{event_id}/close").post(super::polls::close))
        .service(web::resource("/streams/{id}/files").post(super::files::upload))
        .service(web::resource("/streams/{id}/files/{event_id}").get(super::files::download))
        .service(web::resource("/streams/{id}/unread").post(unread))
        .service(web::resource("/bootstrap").get(bootstrap))
        .service(web::resource("/notifications").get(notifications))
        .service(web::resource("/session").post(sign_in).delete(sign_out));
}

#[cfg(test)]
mod tests {
    #[test]
    fn integers_as_json_schema_has_them() {
        let id = |json: &str| serde_json::from_str::<super::EventRef>(json).map(|r| r.event_id);
        assert_eq!(id(r#"{"event_id": 7}"#).unwrap(), 7);
        assert_eq!(id(r#"{"event_id": 7.0}"#).unwrap(), 7);
        assert_eq!(id(r#"{"event_id": -2034.0}"#).unwrap(), -2034);
        assert!(id(r#"{"event_id": 7.5}"#).is_err());
        assert!(id(r#"{"event_id": -9223372036854775809}"#).is_err(), "below i64");
        assert!(id(r#"{"event_id": 1e300}"#).is_err());
        assert!(id(r#"{"event_id": "7"}"#).is_err());
    }
}
