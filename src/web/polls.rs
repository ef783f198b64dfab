//! Polls (issue 17, PROTOCOL.md section 9): ask, vote, close, read with who voted for what.
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::streams::{actor, event_object, integer, operate, text_rule, user_id, user_name, visible_stream};
use super::AppState;
use crate::domain::DESCRIPTION_MAX;
use crate::error::{ApiError, ErrorBody};
use crate::store::polls::{self, Tally, POLL_OPTIONS_MAX, POLL_OPTIONS_MIN, POLL_OPTION_MAX};
use crate::store::streams::EventObject;
use crate::store::{ChannelId, MessageId, StreamOp};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct PollPath {
    /// The stream's id.
    id: i64,
    /// The poll's event id.
    event_id: i64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct StreamOnly {
    /// The stream's id.
    id: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPoll {
    /// 1-1024 characters.
    pub question: String,
    /// 2-10 distinct options, each 1-200 characters.
    pub options: Vec<String>,
    /// Whether a vote may choose several options (default: one).
    #[serde(default)]
    pub multiple: bool,
    /// When it stops taking votes (RFC 3339, in the future); default: when it is closed.
    #[schema(schema_with = crate::json_schema::time)]
    pub closes_at: Option<String>,
}

/// Adds a `poll` event: anyone who may post in the stream.
#[utoipa::path(post, path = "/api/streams/{id}/polls", tag = "streams", params(StreamOnly),
    request_body(content = NewPoll, content_type = "application/json"),
    security(("user_token" = [])),
    responses(
        (status = 201, body = EventObject),
        (status = 400, description = "`invalid_request` (the question, the options, a `closes_at` not in the future) or `invalid_parameter`", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no valid user token", body = ErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 404, description = "`not_found`: no such stream", body = ErrorBody),
        (status = 409, description = "`conflict`: the stream is archived", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
    ))]
pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<StreamOnly>,
    body: web::Json<NewPoll>,
) -> Result<HttpResponse, ApiError> {
    let actor = actor(&state, &req)?;
    let b = body.into_inner();
    text_rule("question", &b.question, DESCRIPTION_MAX)?;
    if !(POLL_OPTIONS_MIN..=POLL_OPTIONS_MAX).contains(&b.options.len()) {
        return Err(ApiError::InvalidRequest(format!(
            "a poll has {POLL_OPTIONS_MIN}-{POLL_OPTIONS_MAX} options"
        )));
    }
    for (i, option) in b.options.iter().enumerate() {
        text_rule("options", option, POLL_OPTION_MAX)?;
        if b.options[..i].contains(option) {
            return Err(ApiError::InvalidRequest(format!(
                "the option `{option}` is there twice"
            )));
        }
    }
    let closes_at = super::api::time_param(&b.closes_at, "closes_at")?;
    let done = operate(
        &state,
        actor,
        StreamOp::Poll {
            stream: ChannelId(path.id),
            question: b.question,
            options: b.options,
            multiple: b.multiple,
            closes_at,
        },
    )
    .await?;
    let event = match &done.row {
        Some(row) => EventObject::new(row, None),
        None => event_object(&state, done.event.expect("a poll is an event")).await?,
    };
    Ok(HttpResponse::Created().json(event))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Vote {
    /// The indexes (from 0) of the options chosen: one, or several if the poll takes them.
    pub options: Vec<VoteIndex>,
}

/// An option's index.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct VoteIndex(#[serde(deserialize_with = "integer")] i64);

/// A poll with its tally and who voted for what (visible to whoever may read the stream:
/// its members, for a private one).
#[derive(Debug, Serialize, ToSchema)]
pub struct PollView {
    pub question: String,
    pub options: Vec<String>,
    pub multiple: bool,
    #[serde(flatten)]
    pub tally: Tally,
    /// Each voter's choice, by name.
    pub votes: Vec<VoterChoice>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VoterChoice {
    pub user: String,
    pub options: Vec<usize>,
}

async fn poll_view(
    state: &AppState,
    stream: ChannelId,
    poll: MessageId,
    user: Option<String>,
) -> Result<PollView, ApiError> {
    state
        .store
        .snapshot(move |c| -> Result<_, ApiError> {
            let me = user_id(c, user.as_deref())?;
            visible_stream(c, stream, me)?;
            let p = match polls::get(c, poll)? {
                Some(p) if p.tally.stream_id == stream => p,
                _ => return Err(ApiError::NotFound("no such poll in this stream".into())),
            };
            let votes = polls::votes(c, poll)?
                .into_iter()
                .map(|(user, options)| VoterChoice { user, options })
                .collect();
            Ok(PollView {
                question: p.question,
                options: p.options,
                multiple: p.multiple,
                tally: p.tally,
                votes,
            })
        })
        .await
}

/// A poll, its tally and who voted for what.
#[utoipa::path(get, path = "/api/streams/{id}/polls/{event_id}", tag = "streams", params(PollPath),
    security((), ("user_token" = [])),
    responses(
        (status = 200, body = PollView),
        (status = 400, description = "`invalid_parameter`", body = ErrorBody),
        (status = 401, description = "`unauthorized`: a token that is not valid", body = ErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 404, description = "`not_found`: no such stream, or no such poll in it", body = ErrorBody),
    ))]
pub async fn get(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<PollPath>,
) -> Result<HttpResponse, ApiError> {
    let user = user_name(&req, &state)?;
    let view = poll_view(&state, ChannelId(path.id), MessageId(path.event_id), user).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Records the caller's vote, replacing theirs; answers the poll as it is now.
#[utoipa::path(post, path = "/api/streams/{id}/polls/{event_id}/vote", tag = "streams", params(PollPath),
    request_body(content = Vote, content_type = "application/json"),
    security(("user_token" = [])),
    responses(
        (status = 200, body = PollView),
        (status = 400, description = "`invalid_request`: no option, an index that is no option, several for a poll of one, one twice; or `invalid_parameter`", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no valid user token", body = ErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 404, description = "`not_found`: no such stream, or no such poll in it", body = ErrorBody),
        (status = 409, description = "`conflict`: the poll is closed, or the stream archived", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
    ))]
pub async fn vote(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<PollPath>,
    body: web::Json<Vote>,
) -> Result<HttpResponse, ApiError> {
    let actor = actor(&state, &req)?;
    let options = body
        .into_inner()
        .options
        .into_iter()
        .map(|VoteIndex(i)| usize::try_from(i).map_err(|_| ApiError::InvalidRequest(format!("{i} is no option"))))
        .collect::<Result<Vec<_>, _>>()?;
    let (stream, poll) = (ChannelId(path.id), MessageId(path.event_id));
    let user = actor.name.clone();
    operate(&state, actor, StreamOp::Vote { stream, poll, options }).await?;
    Ok(HttpResponse::Ok().json(poll_view(&state, stream, poll, Some(user)).await?))
}

/// Closes the poll: its author, an owner of the stream or an admin.
#[utoipa::path(post, path = "/api/streams/{id}/polls/{event_id}/close", tag = "streams", params(PollPath),
    security(("user_token" = [])),
    responses(
        (status = 200, body = PollView),
        (status = 400, description = "`invalid_parameter`", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no valid user token", body = ErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 403, description = "`forbidden`: not its author, an owner or an admin", body = ErrorBody),
        (status = 404, description = "`not_found`: no such stream, or no such poll in it", body = ErrorBody),
        (status = 409, description = "`conflict`: closed already, or the stream archived", body = ErrorBody),
    ))]
pub async fn close(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<PollPath>,
) -> Result<HttpResponse, ApiError> {
    let actor = actor(&state, &req)?;
    let (stream, poll) = (ChannelId(path.id), MessageId(path.event_id));
    let user = actor.name.clone();
    operate(&state, actor, StreamOp::ClosePoll { stream, poll }).await?;
    Ok(HttpResponse::Ok().json(poll_view(&state, stream, poll, Some(user)).await?))
}
