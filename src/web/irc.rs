//! `/api/irc/channels`: the IRC channels followed (PROTOCOL.md section 8), each with its
//! state as this node sees it; following, pausing, resuming and unfollowing them (the
//! ingest token, when set, is required for changes). A change reaches the readers at once
//! on this node and within a lease renewal on the others.
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::api::authorized;
use super::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::irc::State;
use crate::store::irc::{self as followed, FollowedChannel};
use crate::store::StoreError;
use crate::time::{now_ms, serialize_ms, serialize_opt_ms};

/// Where a followed channel is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IrcState {
    /// Followed, not read until resumed.
    Paused,
    /// Not read by any node yet (it is, within a lease renewal).
    Waiting,
    /// This node joined it and waits for the server to confirm.
    Joining,
    /// Its lines arrive.
    Live,
    /// The server refused it: `reason` is what it said.
    Failed,
    /// Read by another node (`reader`).
    Elsewhere,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IrcChannel {
    /// The channel, without `#`.
    pub name: String,
    pub paused: bool,
    pub state: IrcState,
    /// Why it failed (`failed` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The node reading it.
    pub reader: Option<String>,
    /// Over the last 10 s, on the node reading it (`null` elsewhere).
    pub messages_per_second: Option<f64>,
    #[serde(serialize_with = "serialize_opt_ms")]
    #[schema(schema_with = crate::json_schema::time_or_null, required = true)]
    pub last_message_at: Option<i64>,
    #[serde(serialize_with = "serialize_ms")]
    #[schema(schema_with = crate::json_schema::time)]
    pub added_at: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IrcChannelList {
    pub channels: Vec<IrcChannel>,
    /// `--irc-server`.
    pub server: String,
    /// This node's id, as `reader` names it.
    pub node_id: String,
}

fn describe(state: &AppState, c: FollowedChannel, now: i64) -> IrcChannel {
    let held = c.lease_until.is_some_and(|until| until >= now);
    let reader = c.lease_node.clone().filter(|_| held && !c.paused);
    let mine = reader.as_deref() == Some(state.node_id.as_str());
    let view = mine.then(|| state.irc.status.view(&c.name)).flatten();
    let (st, reason) = match (&reader, &view) {
        _ if c.paused => (IrcState::Paused, None),
        (None, _) => (IrcState::Waiting, None),
        (Some(_), None) if !mine => (IrcState::Elsewhere, None),
        (Some(_), None) => (IrcState::Joining, None),
        (Some(_), Some(v)) => match &v.state {
            State::Joining => (IrcState::Joining, None),
            State::Live => (IrcState::Live, None),
            State::Failed(why) => (IrcState::Failed, Some(why.clone())),
        },
    };
    IrcChannel {
        name: c.name,
        paused: c.paused,
        state: st,
        reason,
        reader,
        messages_per_second: view.as_ref().map(|v| v.messages_per_second),
        last_message_at: view.and_then(|v| v.last_message_at),
        added_at: c.added_at,
    }
}

/// Every followed channel, each as this node sees it.
pub(crate) async fn channel_list(state: &web::Data<AppState>) -> Result<Vec<IrcChannel>, ApiError> {
    let rows = state
        .store
        .run(|c| followed::list_followed(c).map_err(StoreError::from))
        .await?;
    let now = now_ms();
    Ok(rows.into_iter().map(|c| describe(state, c, now)).collect())
}

/// The followed channels, each with its state.
#[utoipa::path(get, path = "/api/irc/channels", tag = "irc", responses((status = 200, body = IrcChannelList)))]
pub async fn list(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let channels = channel_list(&state).await?;
    Ok(HttpResponse::Ok().json(IrcChannelList {
        channels,
        server: state.irc_server.clone(),
        node_id: state.node_id.clone(),
    }))
}

/// A channel to follow, or to pause or resume.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Follow {
    /// The channel (`#` optional, any case).
    #[schema(schema_with = crate::json_schema::irc_channel)]
    pub name: String,
    /// `true` to follow it without reading it (or to pause it), `false` to read it.
    #[serde(default)]
    pub paused: bool,
}

/// The name the channel is followed and stored under, or 400.
fn channel_name(given: &str) -> Result<String, ApiError> {
    crate::irc::channel_name(given).map_err(ApiError::InvalidParameter)
}

/// Follows a channel (201), or pauses or resumes one already followed (200).
#[utoipa::path(post, path = "/api/irc/channels", tag = "irc",
    request_body(content = Follow, content_type = "application/json"),
    security((), ("ingest_token" = [])),
    responses(
        (status = 200, description = "Already followed: `paused` set", body = IrcChannel),
        (status = 201, description = "Followed", body = IrcChannel),
        (status = 400, description = "`invalid_parameter`: not a channel name, or not the body above", body = ErrorBody),
        (status = 401, description = "`--ingest-token` is set and the request does not carry it", body = ErrorBody,
            headers(("WWW-Authenticate" = String))),
        (status = 415, description = "Not application/json", body = ErrorBody),
    )
)]
pub async fn follow(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<Follow>,
) -> Result<HttpResponse, ApiError> {
    if !authorized(&state, &req) {
        return Err(ApiError::Unauthorized);
    }
    let name = channel_name(&body.name)?;
    let paused = body.paused;
    let n = name.clone();
    let created = state
        .store
        .run(move |c| followed::follow(c, &n, paused, now_ms()).map_err(StoreError::from))
        .await?;
    state.irc.poke();
    log::info!("irc channel followed channel={name} paused={paused} new={created}");
    let channel = channel_list(&state)
        .await?
        .into_iter()
        .find(|c| c.name == name)
        .ok_or_else(|| ApiError::NotFound("the channel was unfollowed meanwhile".into()))?;
    Ok(if created {
        HttpResponse::Created().json(channel)
    } else {
        HttpResponse::Ok().json(channel)
    })
}

/// The channel a `DELETE` names.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ChannelPath {
    /// The channel, `#` optional (encoded as `%23`).
    #[param(schema_with = crate::json_schema::irc_channel)]
    name: String,
}

/// Stops following a channel: its reader leaves it.
#[utoipa::path(delete, path = "/api/irc/channels/{name}", tag = "irc",
    params(ChannelPath),
    security((), ("ingest_token" = [])),
    responses(
        (status = 204, description = "Unfollowed"),
        (status = 400, description = "`invalid_parameter`: not a channel name", body = ErrorBody),
        (status = 401, description = "`--ingest-token` is set and the request does not carry it", body = ErrorBody,
            headers(("WWW-Authenticate" = String))),
        (status = 404, description = "`not_found`: not followed", body = ErrorBody),
    )
)]
pub async fn unfollow(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<ChannelPath>,
) -> Result<HttpResponse, ApiError> {
    if !authorized(&state, &req) {
        return Err(ApiError::Unauthorized);
    }
    let name = channel_name(&path.name)?;
    let n = name.clone();
    let removed = state
        .store
        .run(move |c| followed::unfollow(c, &n).map_err(StoreError::from))
        .await?;
    if !removed {
        return Err(ApiError::NotFound(format!("`{name}` is not followed")));
    }
    state.irc.poke();
    log::info!("irc channel unfollowed channel={name}");
    Ok(HttpResponse::NoContent().finish())
}
