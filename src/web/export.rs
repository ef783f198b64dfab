//! `GET /api/export`: stored messages as NDJSON in the ingest format, so an export can be
//! posted to `POST /api/messages` of another server as it is. Streamed a page at a time
//! (each page its own read), so memory stays bounded however large the export: the next
//! page is read only when the client has taken the previous one.
use actix_web::http::header;
use actix_web::{web, HttpResponse};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;

use super::api::time_param;
use super::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::store::{self, Message, MessageFilter, MessageId, SearchQuery};
use crate::time::format_ms;

/// Messages per page of an export (one read each).
pub const EXPORT_PAGE: i64 = 1000;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
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
    /// Only messages matching this search (the search syntax); absent or empty: all.
    q: Option<String>,
}

/// One line of an export: an incoming message (PROTOCOL.md section 2).
#[derive(Serialize)]
struct Line<'a> {
    channel: &'a str,
    user: &'a str,
    text: &'a str,
    sent_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    display_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tags: Option<serde_json::Value>,
    /// The message's own idempotency key, or one made from this database's epoch and the
    /// message's id: importing an export twice stores each message once.
    event_id: String,
}

fn line(m: &Message, epoch: &str, out: &mut Vec<u8>) {
    let l = Line {
        channel: &m.channel,
        user: &m.user,
        text: &m.text,
        sent_at: format_ms(m.sent_at),
        display_name: m.display_name.as_deref(),
        tags: m.tags.as_deref().and_then(|t| serde_json::from_str(t).ok()),
        event_id: m
            .event_id
            .as_deref()
            .map_or_else(|| format!("chatpulse:{epoch}:{}", m.id), str::to_owned),
    };
    serde_json::to_writer(&mut *out, &l).expect("an export line serializes");
    out.push(b'\n');
}

/// What the export has still to read.
struct Export {
    state: web::Data<AppState>,
    query: Option<SearchQuery>,
    filter: MessageFilter,
    since: Option<i64>,
    until: Option<i64>,
    after: MessageId,
    /// The newest message when the export began: it ends there.
    upto: MessageId,
    done: bool,
}

impl Export {
    async fn next_page(&mut self) -> Result<Option<Bytes>, ApiError> {
        if self.done {
            return Ok(None);
        }
        let (query, filter, since, until, after, upto) = (
            self.query.clone(),
            self.filter,
            self.since,
            self.until,
            self.after,
            self.upto,
        );
        let rows = self
            .state
            .store
            .snapshot(move |c| -> Result<_, ApiError> {
                let find = store::Find {
                    query: query.as_ref(),
                    filter,
                    since,
                    until,
                };
                Ok(store::export_page(c, &find, after, upto, EXPORT_PAGE)?)
            })
            .await?;
        self.done = (rows.len() as i64) < EXPORT_PAGE;
        let Some(last) = rows.last() else {
            return Ok(None);
        };
        self.after = last.id;
        let mut out = Vec::with_capacity(rows.len() * 160);
        for m in &rows {
            line(m, self.state.store.epoch(), &mut out);
        }
        Ok(Some(Bytes::from(out)))
    }
}

/// Stored messages of channels (threads and incidents are the stream API's), oldest first,
/// as NDJSON in the ingest format, up to the newest message when the export began.
#[utoipa::path(get, path = "/api/export", tag = "read", params(ExportQuery), responses(
    (status = 200, description = "One incoming message per line (PROTOCOL.md section 2), streamed",
        content_type = "application/x-ndjson", body = String, headers(("Content-Disposition" = String))),
    (status = 400, description = "`invalid_query` (the search words) or `invalid_parameter`", body = ErrorBody),
))]
pub async fn export(state: web::Data<AppState>, q: web::Query<ExportQuery>) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let query = match q.q.as_deref().filter(|s| !s.trim().is_empty()) {
        Some(s) => Some(store::parse_query(s).map_err(|e| ApiError::InvalidQuery(e.0.into()))?),
        None => None,
    };
    let (since, until) = (time_param(&q.since, "since")?, time_param(&q.until, "until")?);
    let (filter, upto) = state
        .store
        .snapshot(move |c| -> Result<_, ApiError> {
            let filter = MessageFilter::by_names(c, q.channel.as_deref(), q.user.as_deref())?;
            Ok((filter, store::totals(c)?.cursor))
        })
        .await?;
    let export = Export {
        state,
        query,
        // A channel or user nobody has: nothing to export.
        done: filter.is_none(),
        filter: filter.unwrap_or_default(),
        since,
        until,
        after: MessageId(0),
        upto,
    };
    let body = futures_util::stream::unfold(export, |mut e| async move {
        match e.next_page().await {
            Ok(Some(bytes)) => Some((Ok::<_, ApiError>(bytes), e)),
            Ok(None) => None,
            Err(err) => {
                // The answer has begun: it ends short, which the client sees as an
                // interrupted download; the log has why.
                log::error!("export failed after id {}: {err}", e.after);
                e.done = true;
                Some((Err(err), e))
            }
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("application/x-ndjson")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"chatpulse-export.ndjson\"",
        ))
        .streaming(body))
}
