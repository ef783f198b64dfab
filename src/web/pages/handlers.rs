//! One handler per page, and what they share: the page context, the one read
//! transaction a page is rendered from, its query parameters, and how it answers.
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use tera::Context;

use std::collections::hash_map::{Entry, HashMap};
use std::sync::Arc;

use super::chart;
use super::format::{
    count_of, datetime_local, file_size, group, highlight, pager, query, short_time, stream_href, stream_label,
};
use super::inbox::{self, dm_label, ReaderView};
use super::views::{
    ChannelCount, CountRow, EventView, IncidentRow, MessageView, OriginView, PollOptionView, PollReader, StreamLabels,
    StreamView, TopKind, TopListView, TopsView,
};
use super::{
    CHANNELS_PAGE, INBOX_NOTIFICATIONS, INCIDENTS_PAGE, PAGE_MESSAGES, PROFILE_CHANNELS, RATE_SECONDS, RATE_SEED_ROWS,
    RECENT_MESSAGES, SEARCH_RESULTS, STREAM_EVENTS, TEMPLATES, USERS_PAGE,
};
use crate::domain::{valid_name, Window};
use crate::error::ApiError;
use crate::live::top::TopScope;
use crate::live::Live;
use crate::store::minutes::Of;
use crate::store::pages as queries;
use crate::store::streams::{self, EventObject, Stream};
use crate::store::{
    self, ChannelId, DbConnection, Message, MessageFilter, MessageId, StreamKind, StreamStatus, Totals, UserSort,
};
use crate::time::{format_ms, now_ms};
use crate::web::AppState;

/// What a page failed with: shown as an HTML page with its status.
pub struct PageError {
    status: StatusCode,
    heading: String,
    detail: String,
}

impl PageError {
    fn bad_request(detail: impl Into<String>) -> Self {
        PageError {
            status: StatusCode::BAD_REQUEST,
            heading: "That request cannot be answered".into(),
            detail: detail.into(),
        }
    }
    fn not_found(heading: impl Into<String>, detail: impl Into<String>) -> Self {
        PageError {
            status: StatusCode::NOT_FOUND,
            heading: heading.into(),
            detail: detail.into(),
        }
    }
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        use actix_web::ResponseError;
        let status = e.status_code();
        PageError {
            status,
            heading: if status.is_server_error() {
                "Something went wrong on our side".into()
            } else {
                "That request cannot be answered".into()
            },
            detail: e.to_string(),
        }
    }
}

type PageResult = Result<HttpResponse, PageError>;

fn render(status: StatusCode, template: &str, ctx: &Context) -> HttpResponse {
    match TEMPLATES.render(template, ctx) {
        Ok(html) => HttpResponse::build(status)
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .content_type("text/html; charset=utf-8")
            .body(html),
        Err(e) => {
            log::error!("template {template} failed: {e:?}");
            HttpResponse::InternalServerError()
                .content_type("text/plain; charset=utf-8")
                .body("the page could not be rendered")
        }
    }
}

fn error_page(e: PageError, req: Option<&HttpRequest>) -> HttpResponse {
    let mut ctx = Context::new();
    ctx.insert("me", &req.and_then(viewer).map(|c| c.sub));
    ctx.insert("title", &e.heading);
    ctx.insert("nav", "");
    ctx.insert("view", "");
    ctx.insert("status", &e.status.as_u16());
    ctx.insert("heading", &e.heading);
    ctx.insert("detail", &e.detail);
    render(e.status, "error.html", &ctx)
}

fn respond(req: &HttpRequest, r: PageResult) -> HttpResponse {
    r.unwrap_or_else(|e| error_page(e, Some(req)))
}

/// Who a page is for: the signed-in person (the session cookie, or a bearer token), or
/// `None` for anyone else, a token that is not valid included.
fn viewer(req: &HttpRequest) -> Option<crate::auth::Claims> {
    let state = req.app_data::<web::Data<AppState>>()?;
    crate::web::streams::caller(state, req).ok().flatten()
}

/// The context every page starts from: where it is, its live view, and the cursor and
/// epoch it was rendered at.
fn page(title: &str, nav: &str, view: &str, totals: &Totals, state: &AppState, req: &HttpRequest) -> Context {
    let mut ctx = Context::new();
    ctx.insert("me", &viewer(req).map(|c| c.sub));
    ctx.insert("title", title);
    ctx.insert("nav", nav);
    ctx.insert("view", view);
    ctx.insert("cursor", &totals.cursor);
    ctx.insert("epoch", state.store.epoch());
    // Empty rows for the <template> elements the script clones.
    ctx.insert("blank_msg", &MessageView::blank());
    ctx.insert("blank_row", &CountRow::blank());
    ctx.insert("blank_chan", &ChannelCount::blank());
    ctx.insert("row_base", "/users/");
    ctx.insert("row_prefix", "");
    ctx
}

/// How the threads and incidents among `channels` (v1 rows name them by their key,
/// `~<id>`) read, from the page's own transaction: at most one read per stream a page shows.
fn stream_labels<'a>(
    c: &mut DbConnection,
    channels: impl IntoIterator<Item = &'a str>,
) -> Result<StreamLabels, ApiError> {
    let mut out = StreamLabels::new();
    for key in channels {
        if out.contains_key(key) {
            continue;
        }
        let Some(id) = key.strip_prefix('~').and_then(|n| n.parse::<i64>().ok()) else {
            continue;
        };
        if let Some(s) = streams::stream_by_id(c, ChannelId(id))? {
            out.insert(key.to_owned(), stream_label(s.kind(), s.display_name(), s.id));
        }
    }
    Ok(out)
}

/// Messages as their rows, with the labels of the streams they were written in.
fn message_views(c: &mut DbConnection, messages: Vec<Message>) -> Result<Vec<MessageView>, ApiError> {
    let labels = stream_labels(c, messages.iter().map(|m| m.channel.as_str()))?;
    Ok(messages.into_iter().map(|m| MessageView::new(m, &labels)).collect())
}

/// Runs `f` in one read transaction on the pool.
async fn snapshot<T: Send + 'static>(
    state: &web::Data<AppState>,
    f: impl FnOnce(&mut crate::store::DbConnection) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, PageError> {
    Ok(state.store.snapshot(f).await?)
}

/// Query parameters arrive as text, so a bad one gets our own 400 page.
fn params<T: for<'de> Deserialize<'de>>(req: &HttpRequest) -> Result<T, PageError> {
    web::Query::<T>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|e| PageError::bad_request(format!("The query string is not valid: {e}")))
}

/// A set, non-empty parameter.
fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn name_param(v: &Option<String>, what: &str) -> Result<Option<String>, PageError> {
    match given(v) {
        None => Ok(None),
        Some(n) if valid_name(n) => Ok(Some(n.to_owned())),
        Some(n) => Err(PageError::bad_request(format!(
            "“{n}” is not a valid {what} name: use 1-64 letters, digits, “_”, “.” or “-”."
        ))),
    }
}

fn int_param(v: &Option<String>, what: &str, min: i64) -> Result<Option<i64>, PageError> {
    match given(v) {
        None => Ok(None),
        Some(s) => match s.parse::<i64>() {
            Ok(n) if n >= min => Ok(Some(n)),
            _ => Err(PageError::bad_request(format!(
                "{what} must be a whole number of at least {min}."
            ))),
        },
    }
}

// ---------------------------------------------------------------------------
// Pages
// ---------------------------------------------------------------------------

/// What a page without parameters answers, for the OpenAPI document.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum Page {
    #[response(status = 200, description = "The page", content_type = "text/html; charset=utf-8")]
    Ok(String),
}

/// What a page with query parameters answers.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum PageWithParams {
    #[response(status = 200, description = "The page", content_type = "text/html; charset=utf-8")]
    Ok(String),
    #[response(
        status = 400,
        description = "A parameter is not valid: the page says which and why",
        content_type = "text/html; charset=utf-8"
    )]
    BadRequest(String),
}

/// What the page of one channel or user answers.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum NamedPage {
    #[response(status = 200, description = "The page", content_type = "text/html; charset=utf-8")]
    Ok(String),
    #[response(
        status = 404,
        description = "Nobody of that name has written yet",
        content_type = "text/html; charset=utf-8"
    )]
    NotFound(String),
    #[response(
        status = 400,
        description = "`window` is not one of the page's windows, or `since` and `until` make no window a \
                       chart can show: the page says which and why",
        content_type = "text/html; charset=utf-8"
    )]
    BadRequest(String),
}

/// The activity chart's window, for the OpenAPI document.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct WindowDoc {
    /// The activity chart's window back from now: `5m`, `1h`, `24h`, `7d` or `30d`
    /// (default `1h` on the overview, `24h` on a channel's or user's page).
    #[param(pattern = "^(5m|1h|24h|7d|30d)$")]
    window: Option<String>,
    /// A window from this time instead (`window` is then not read): RFC 3339, or
    /// `YYYY-MM-DDTHH:MM[:SS]` read as UTC (the page's form sends the zone it shows as an
    /// RFC 3339 offset). Counted in whole minutes, from the one it falls in.
    #[param(schema_with = crate::json_schema::time)]
    since: Option<String>,
    /// ... to this time (exclusive; to the end of the minute before it), later than
    /// `since`; without it, up to now and live. At most 10,000 buckets (minutes up to 6
    /// hours, hours up to 7 days, days beyond, as `/api/activity`).
    #[param(schema_with = crate::json_schema::time)]
    until: Option<String>,
}

/// This server as the reader reached it, for the copy-paste examples of empty states.
fn origin(req: &HttpRequest) -> String {
    req.app_data::<web::Data<crate::web::origin::Origins>>()
        .map_or_else(String::new, |o| o.reached(req))
}

/// The overview: totals, the rate, the activity chart, the latest messages; live.
#[utoipa::path(get, path = "/", tag = "pages", params(WindowDoc), responses(PageWithParams))]
pub async fn home(state: web::Data<AppState>, live: web::Data<Arc<Live>>, req: HttpRequest) -> HttpResponse {
    respond(&req.clone(), home_page(state, live, origin(&req), req).await)
}

#[derive(Deserialize)]
pub struct WindowParams {
    window: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

/// The chart's window from the query string (`?window=24h`, `?since=&until=`), or the
/// page's default. A `window` the pages do not offer is the 400 page; a from–to that makes
/// no window is shown on the page itself, beside its form (`form.error`).
fn chart_window(req: &HttpRequest, default: &'static str, now: i64) -> Result<chart::Asked, PageError> {
    let p: WindowParams = params(req)?;
    chart::ask(given(&p.window), given(&p.since), given(&p.until), default, now).map_err(PageError::bad_request)
}

/// A page's status: 400 when its from–to was refused (the page says why), else 200.
fn chart_status(asked: &chart::Asked) -> StatusCode {
    if asked.form.error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    }
}

/// The named window of a page's chart, which its top lists follow; none for a from–to.
fn top_window(asked: &chart::Asked) -> Option<(Window, &'static str)> {
    match asked.span {
        Some(chart::Span::Last(i)) => chart::WINDOWS
            .get(i)
            .and_then(|w| Window::parse(w.0).map(|window| (window, w.2))),
        _ => None,
    }
}

/// A page's top lists of `scope` (issue 16): read from the server's top lists of the page's
/// window, as the page's own live view (`top/<window>…`) then keeps them. `kinds` are the
/// lists the page shows; `empty` is what an empty one says, given the window's words.
async fn top_lists(
    live: &Live,
    window: Option<(Window, &'static str)>,
    scope: TopScope,
    kinds: &[TopKind],
    empty: impl Fn(&str) -> String,
) -> Result<TopsView, PageError> {
    let Some((window, label)) = window else {
        return Ok(TopsView::unkept(
            kinds.iter().map(|k| TopListView::unkept(*k)).collect(),
        ));
    };
    let (view, poll) = match &scope {
        TopScope::All => (
            format!("top/{}", window.as_str()),
            query(&[("window", Some(window.as_str()))]),
        ),
        TopScope::Channel(c) => (
            format!("top/{}/channel/{c}", window.as_str()),
            query(&[("window", Some(window.as_str())), ("channel", Some(c))]),
        ),
        TopScope::User(u) => (
            format!("top/{}/user/{u}", window.as_str()),
            query(&[("window", Some(window.as_str())), ("user", Some(u))]),
        ),
    };
    let top = live.top(window, scope).await?;
    let views = kinds
        .iter()
        .map(|kind| {
            let entries = match kind {
                TopKind::Channels => top.channels.as_deref(),
                TopKind::Users => top.users.as_deref(),
            };
            TopListView::new(*kind, entries.unwrap_or_default(), window, empty(label))
        })
        .collect();
    Ok(TopsView::new(&top, view, format!("/api/top{poll}"), label, views))
}

async fn home_page(
    state: web::Data<AppState>,
    live: web::Data<Arc<Live>>,
    origin: String,
    req: HttpRequest,
) -> PageResult {
    let now = now_ms();
    let asked = chart_window(&req, "1h", now)?;
    let status = chart_status(&asked);
    let window = top_window(&asked);
    let since = (now / 1000 - RATE_SECONDS) * 1000;
    let (totals, messages, rate, activity) = snapshot(&state, move |c| {
        let t = store::totals(c)?;
        let m = store::list_messages(c, MessageFilter::default(), None, None, RECENT_MESSAGES)?;
        let m = message_views(c, m)?;
        let r = queries::rate_per_second(c, since, t.cursor, RATE_SEED_ROWS)?;
        let a = chart::read(c, Of::All, &asked, now, "/")?;
        Ok((t, m, r, a))
    })
    .await?;
    let kinds = [TopKind::Channels, TopKind::Users];
    let tops = top_lists(&live, window, TopScope::All, &kinds, |w| format!("No messages in {w}.")).await?;
    let mut ctx = page("Overview", "home", "home", &totals, &state, &req);
    ctx.insert("tops", &tops);
    ctx.insert("origin", &origin);
    ctx.insert("totals", &totals);
    ctx.insert(
        "totals_fmt",
        &[
            group(totals.total_messages),
            group(totals.total_channels),
            group(totals.total_users),
        ],
    );
    ctx.insert("messages", &messages);
    let seed: Vec<String> = rate.iter().map(|(s, n)| format!("{s}:{n}")).collect();
    ctx.insert("rate_seed", &seed.join(","));
    ctx.insert("rate_seconds", &RATE_SECONDS);
    ctx.insert("chart", &activity);
    Ok(render(status, "home.html", &ctx))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessagesParams {
    /// Older messages: those before this id (the page is then not live).
    #[param(value_type = Option<i64>, minimum = 1)]
    before_id: Option<String>,
    #[param(schema_with = crate::json_schema::name)]
    channel: Option<String>,
    #[param(schema_with = crate::json_schema::name)]
    user: Option<String>,
}

/// The newest messages, of a channel or a user or all; live.
#[utoipa::path(
    get,
    path = "/messages",
    tag = "pages",
    params(MessagesParams),
    responses(PageWithParams)
)]
pub async fn messages(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    respond(&req.clone(), messages_page(state, req).await)
}

async fn messages_page(state: web::Data<AppState>, req: HttpRequest) -> PageResult {
    let p: MessagesParams = params(&req)?;
    let before_id = int_param(&p.before_id, "before_id", 1)?.map(MessageId);
    let channel = name_param(&p.channel, "channel")?;
    let user = name_param(&p.user, "user")?;
    let (ch, us) = (channel.clone(), user.clone());
    let (totals, messages) = snapshot(&state, move |c| {
        let t = store::totals(c)?;
        let m = match MessageFilter::by_names(c, ch.as_deref(), us.as_deref())? {
            Some(f) => {
                let m = store::list_messages(c, f, None, before_id, PAGE_MESSAGES)?;
                Some(message_views(c, m)?)
            }
            None => None,
        };
        Ok((t, m))
    })
    .await?;
    // One view per filter; with both, the user's view is narrowed to the channel by the script.
    let view = match (&channel, &user, before_id) {
        (_, _, Some(_)) => String::new(),
        (_, Some(u), None) => format!("user/{u}"),
        (Some(c), None, None) => format!("channel/{c}"),
        (None, None, None) => "messages".into(),
    };
    let mut ctx = page("Messages", "messages", &view, &totals, &state, &req);
    ctx.insert("origin", &origin(&req));
    let unknown = messages.is_none();
    let messages: Vec<MessageView> = messages.unwrap_or_default();
    let older = (messages.len() as i64 == PAGE_MESSAGES)
        .then(|| messages.last().map(|m| m.id))
        .flatten()
        .map(|id| {
            let id = id.to_string();
            query(&[
                ("before_id", Some(&id)),
                ("channel", channel.as_deref()),
                ("user", user.as_deref()),
            ])
        });
    ctx.insert("messages", &messages);
    ctx.insert("unknown", &unknown);
    ctx.insert("channel", channel.as_deref().unwrap_or(""));
    ctx.insert("user", user.as_deref().unwrap_or(""));
    ctx.insert("before_id", &before_id);
    ctx.insert("older", &older);
    ctx.insert(
        "newest_link",
        &query(&[("channel", channel.as_deref()), ("user", user.as_deref())]),
    );
    ctx.insert("page_size", &PAGE_MESSAGES);
    Ok(render(StatusCode::OK, "messages.html", &ctx))
}

#[derive(Deserialize)]
pub struct ListParams {
    sort: Option<String>,
    offset: Option<String>,
    prefix: Option<String>,
}

/// A name prefix from a list's search box: the start of a name, 1-64 of the name rule's
/// characters, found in any case. An empty box is no filter; on the channels page a `#`
/// before it is the channel's mark, as the page writes it, not part of the name.
fn prefix_param(v: &Option<String>, channel_mark: bool) -> Result<Option<String>, PageError> {
    let Some(p) = given(v) else { return Ok(None) };
    let p = if channel_mark {
        p.strip_prefix('#').unwrap_or(p)
    } else {
        p
    };
    if p.is_empty() {
        return Ok(None);
    }
    if crate::domain::valid_name_prefix(p) {
        Ok(Some(p.to_owned()))
    } else {
        Err(PageError::bad_request(format!(
            "“{p}” cannot start a name: names are 1-64 letters, digits, “_”, “.” or “-”."
        )))
    }
}

/// What a list page of channels or users says about its rows: how many there are in all
/// (with a prefix, how many it matches), which of them this page shows, and the links that
/// keep its prefix.
fn list_context(ctx: &mut Context, path: &str, what: (&str, &str), list: ListPage<'_>) {
    let ListPage {
        sort,
        prefix,
        offset,
        size,
        rows,
        total,
    } = list;
    let mut said = count_of(total, what.0, what.1);
    if let Some(p) = prefix {
        said.push_str(&format!(" starting with “{p}”"));
    }
    ctx.insert("total_n", &total);
    ctx.insert("total_label", &said);
    ctx.insert("noun_one", what.0);
    ctx.insert("noun_many", what.1);
    ctx.insert("prefix", prefix.unwrap_or(""));
    // An offset past every row is a page with none, not an overflow.
    ctx.insert("first", &offset.saturating_add(1));
    ctx.insert("last", &offset.saturating_add(rows as i64));
    ctx.insert("shown", &(rows > 0 && (offset > 0 || rows as i64 != total)));
    ctx.insert("offset", &offset);
    ctx.insert("page_size", &size);
    let keep = [("sort", Some(sort).filter(|s| *s != "count")), ("prefix", prefix)];
    let (prev, next) = pager(path, &keep, offset, size, rows);
    ctx.insert("prev", &prev);
    ctx.insert("next", &next);
    // The sort links keep the prefix; the search box keeps the sort.
    let sort_href = |s: &str| {
        format!(
            "{path}{}",
            query(&[("sort", Some(s).filter(|s| *s != "count")), ("prefix", prefix)])
        )
    };
    let sorts: HashMap<&str, String> = ["count", "name", "recent"]
        .into_iter()
        .map(|s| (s, sort_href(s)))
        .collect();
    ctx.insert("sort_href", &sorts);
    ctx.insert("sort", sort);
    ctx.insert(
        "clear_href",
        &format!("{path}{}", query(&[("sort", Some(sort).filter(|s| *s != "count"))])),
    );
}

/// A list page's rows and how it was asked for them.
struct ListPage<'a> {
    sort: &'a str,
    prefix: Option<&'a str>,
    offset: i64,
    size: i64,
    /// Rows on this page.
    rows: usize,
    /// Rows in the whole list (with a prefix, those it matches).
    total: i64,
}

/// Channels by message count or name, or those whose name starts with `prefix`; live.
#[utoipa::path(get, path = "/channels", tag = "pages",
    params(
        ("sort" = Option<crate::web::api::ChannelSort>, Query, description = "`count` when absent"),
        ("offset" = Option<i64>, Query, minimum = 0, description = "rows to skip"),
        ("prefix" = Option<String>, Query, pattern = r"^#?[A-Za-z0-9_.-]{0,64}$", description = "only channels whose name starts with this, in any case (1-64 of `A-Z a-z 0-9 _ . -`; a `#` before it is ignored; empty: all)"),
    ),
    responses(PageWithParams)
)]
pub async fn channels(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    respond(&req.clone(), channels_page(state, req).await)
}

async fn channels_page(state: web::Data<AppState>, req: HttpRequest) -> PageResult {
    let p: ListParams = params(&req)?;
    let by_name = match given(&p.sort) {
        None | Some("count") => false,
        Some("name") => true,
        Some(_) => return Err(PageError::bad_request("sort must be “count” or “name”.")),
    };
    let offset = int_param(&p.offset, "offset", 0)?.unwrap_or(0);
    let prefix = prefix_param(&p.prefix, true)?;
    let pf = prefix.clone();
    let (totals, rows, total) = snapshot(&state, move |c| {
        let t = store::totals(c)?;
        let total = match pf.as_deref() {
            Some(p) => store::count_channels(c, p)?,
            None => t.total_channels,
        };
        let rows = store::list_channels(c, CHANNELS_PAGE, offset, by_name, pf.as_deref())?;
        Ok((t, rows, total))
    })
    .await?;
    let sort = if by_name { "name" } else { "count" };
    let mut ctx = page("Channels", "channels", "channels", &totals, &state, &req);
    ctx.insert("row_base", "/channels/");
    ctx.insert("row_prefix", "#");
    let list = ListPage {
        sort,
        prefix: prefix.as_deref(),
        offset,
        size: CHANNELS_PAGE,
        rows: rows.len(),
        total,
    };
    list_context(&mut ctx, "/channels", ("channel", "channels"), list);
    // New channels are added live only where they belong: on a last page with room.
    ctx.insert("room", &(CHANNELS_PAGE - rows.len() as i64).max(0));
    ctx.insert("rows", &rows.iter().map(CountRow::channel).collect::<Vec<_>>());
    Ok(render(StatusCode::OK, "channels.html", &ctx))
}

/// One channel: its counts, busiest users and newest messages; live.
#[utoipa::path(get, path = "/channels/{name}", tag = "pages", params(("name" = String, Path), WindowDoc), responses(NamedPage))]
pub async fn channel(
    state: web::Data<AppState>,
    live: web::Data<Arc<Live>>,
    name: web::Path<String>,
    req: HttpRequest,
) -> HttpResponse {
    respond(&req.clone(), channel_page(state, live, name.into_inner(), req).await)
}

async fn channel_page(
    state: web::Data<AppState>,
    live: web::Data<Arc<Live>>,
    name: String,
    req: HttpRequest,
) -> PageResult {
    let not_found = || {
        PageError::not_found(
            "No such channel",
            format!("Nobody has written in a channel named “{name}” yet."),
        )
    };
    if !valid_name(&name) {
        return Err(not_found());
    }
    let now = now_ms();
    let asked = chart_window(&req, "24h", now)?;
    let status = chart_status(&asked);
    let window = top_window(&asked);
    let n = name.clone();
    let (totals, found) = snapshot(&state, move |c| {
        let t = store::totals(c)?;
        let Some(ch) = store::channel_by_name(c, &n)? else {
            return Ok((t, None));
        };
        let f = MessageFilter {
            channel_id: Some(ch.id),
            ..Default::default()
        };
        let m = store::list_messages(c, f, None, None, RECENT_MESSAGES)?;
        let a = chart::read(c, Of::Channel(ch.id), &asked, now, &format!("/channels/{n}"))?;
        let h = chart::heatmap(c, Of::Channel(ch.id), &asked, now)?;
        Ok((t, Some((ch, message_views(c, m)?, a, h))))
    })
    .await?;
    let Some((ch, messages, activity, heat)) = found else {
        return Err(not_found());
    };
    let none = |w: &str| format!("No messages in #{name} in {w}.");
    let tops = top_lists(&live, window, TopScope::Channel(name.clone()), &[TopKind::Users], none).await?;
    let mut ctx = page(
        &format!("#{name}"),
        "channels",
        &format!("channel/{name}"),
        &totals,
        &state,
        &req,
    );
    ctx.insert("channel", &CountRow::channel(&ch));
    ctx.insert("tops", &tops);
    ctx.insert("messages", &messages);
    ctx.insert("chart", &activity);
    ctx.insert("heat", &heat);
    ctx.insert(
        "download",
        &format!("/api/export{}", query(&[("channel", Some(name.as_str()))])),
    );
    Ok(render(status, "channel.html", &ctx))
}

/// Users by message count, name or latest message, or those whose name starts with
/// `prefix`; live.
#[utoipa::path(get, path = "/users", tag = "pages",
    params(
        ("sort" = Option<UserSort>, Query, description = "`count` when absent"),
        ("offset" = Option<i64>, Query, minimum = 0, description = "rows to skip"),
        ("prefix" = Option<String>, Query, pattern = r"^[A-Za-z0-9_.-]{0,64}$", description = "only users whose name starts with this, in any case (1-64 of `A-Z a-z 0-9 _ . -`; empty: all)"),
    ),
    responses(PageWithParams)
)]
pub async fn users(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    respond(&req.clone(), users_page(state, req).await)
}

async fn users_page(state: web::Data<AppState>, req: HttpRequest) -> PageResult {
    let p: ListParams = params(&req)?;
    let (sort, name) = match given(&p.sort) {
        None | Some("count") => (UserSort::Count, "count"),
        Some("name") => (UserSort::Name, "name"),
        Some("recent") => (UserSort::Recent, "recent"),
        Some(_) => return Err(PageError::bad_request("sort must be “count”, “name” or “recent”.")),
    };
    let offset = int_param(&p.offset, "offset", 0)?.unwrap_or(0);
    let prefix = prefix_param(&p.prefix, false)?;
    let pf = prefix.clone();
    let (totals, rows, total) = snapshot(&state, move |c| {
        let t = store::totals(c)?;
        let total = match pf.as_deref() {
            Some(p) => store::count_users(c, p)?,
            None => t.total_users,
        };
        let rows = store::list_users(c, USERS_PAGE, offset, sort, pf.as_deref())?;
        Ok((t, rows, total))
    })
    .await?;
    let mut ctx = page("Users", "users", "users", &totals, &state, &req);
    let list = ListPage {
        sort: name,
        prefix: prefix.as_deref(),
        offset,
        size: USERS_PAGE,
        rows: rows.len(),
        total,
    };
    list_context(&mut ctx, "/users", ("user", "users"), list);
    // New users are added live only to a first page that is not full.
    let room = if offset == 0 {
        (USERS_PAGE - rows.len() as i64).max(0)
    } else {
        0
    };
    ctx.insert("room", &room);
    ctx.insert("rows", &rows.iter().map(CountRow::user).collect::<Vec<_>>());
    Ok(render(StatusCode::OK, "users.html", &ctx))
}

/// One user's profile: counts, channels and newest messages; live.
#[utoipa::path(get, path = "/users/{name}", tag = "pages", params(("name" = String, Path), WindowDoc), responses(NamedPage))]
pub async fn user(
    state: web::Data<AppState>,
    live: web::Data<Arc<Live>>,
    name: web::Path<String>,
    req: HttpRequest,
) -> HttpResponse {
    respond(&req.clone(), user_page(state, live, name.into_inner(), req).await)
}

async fn user_page(
    state: web::Data<AppState>,
    live: web::Data<Arc<Live>>,
    name: String,
    req: HttpRequest,
) -> PageResult {
    let not_found = || PageError::not_found("No such user", format!("No user named “{name}” has written yet."));
    if !valid_name(&name) {
        return Err(not_found());
    }
    let now = now_ms();
    let asked = chart_window(&req, "24h", now)?;
    let status = chart_status(&asked);
    let window = top_window(&asked);
    let n = name.clone();
    let (totals, found) = snapshot(&state, move |c| {
        let t = store::totals(c)?;
        let Some(u) = store::user_by_name(c, &n)? else {
            return Ok((t, None));
        };
        let f = MessageFilter {
            user_id: Some(u.id),
            ..Default::default()
        };
        let m = store::list_messages(c, f, None, None, RECENT_MESSAGES)?;
        let m = message_views(c, m)?;
        let chans = queries::user_channels(c, u.id, PROFILE_CHANNELS)?;
        let labels = stream_labels(c, chans.iter().map(|(name, _)| name.as_str()))?;
        let chans: Vec<ChannelCount> = chans
            .into_iter()
            .map(|(name, n)| ChannelCount::new(name, n, &labels))
            .collect();
        let a = chart::read(c, Of::User(u.id), &asked, now, &format!("/users/{n}"))?;
        let h = chart::heatmap(c, Of::User(u.id), &asked, now)?;
        Ok((t, Some((u, m, chans, a, h))))
    })
    .await?;
    let Some((u, messages, chans, activity, heat)) = found else {
        return Err(not_found());
    };
    let none = |w: &str| format!("No messages by {name} in a channel in {w}.");
    let tops = top_lists(&live, window, TopScope::User(name.clone()), &[TopKind::Channels], none).await?;
    let label = u.display_name.clone().unwrap_or_else(|| u.username.clone());
    let mut ctx = page(&label, "users", &format!("user/{name}"), &totals, &state, &req);
    ctx.insert("profile", &CountRow::user(&u));
    ctx.insert("tops", &tops);
    ctx.insert("first_seen_at", &u.first_seen_at.map(format_ms));
    ctx.insert("first_seen", &u.first_seen_at.map_or_else(|| "—".into(), short_time));
    ctx.insert("room", &(PROFILE_CHANNELS - chans.len() as i64).max(0));
    ctx.insert("channels", &chans);
    ctx.insert("messages", &messages);
    ctx.insert("chart", &activity);
    ctx.insert("heat", &heat);
    Ok(render(status, "user.html", &ctx))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// The search, as for `/api/search`.
    q: Option<String>,
    #[param(schema_with = crate::json_schema::name)]
    channel: Option<String>,
    #[param(schema_with = crate::json_schema::name)]
    user: Option<String>,
    /// RFC 3339, or `YYYY-MM-DDTHH:MM[:SS]` read as UTC (the page's script sends the form's
    /// times as RFC 3339 in the zone it shows).
    #[param(schema_with = crate::json_schema::time)]
    since: Option<String>,
    #[param(schema_with = crate::json_schema::time)]
    until: Option<String>,
    /// The next page: matches older than this id (the "Older results" link's).
    #[param(value_type = Option<i64>, minimum = 1)]
    before_id: Option<String>,
    /// With `before_id`: the cursor the search's first page was read at, so that every
    /// page counts the same matches.
    #[param(value_type = Option<i64>, minimum = 0)]
    cursor: Option<String>,
}

/// A time from the search form: RFC 3339, or the `YYYY-MM-DDTHH:MM[:SS]` of an
/// `<input type="datetime-local">`, read as UTC.
fn form_time(v: &Option<String>, what: &str) -> Result<Option<i64>, PageError> {
    let Some(s) = given(v) else { return Ok(None) };
    chart::parse_form_time(s).map(Some).ok_or_else(|| {
        PageError::bad_request(format!(
            "{what} must be a date and time such as 2026-01-16T09:30 (UTC) or an RFC 3339 time."
        ))
    })
}

/// One page of a search, read in one transaction.
struct SearchRead {
    rows: Vec<MessageView>,
    /// Whether older matches than these exist.
    more: bool,
    /// Matches up to `upto`, and whether that count is exact.
    total: (i64, bool),
    /// Matches older than this page's first row (with `before_id`, when the total is exact).
    older: Option<i64>,
    /// The cursor the matches are counted up to.
    upto: MessageId,
}

/// Full-text search with filters: the total of matches, a page at a time, newest first.
#[utoipa::path(
    get,
    path = "/search",
    tag = "pages",
    params(SearchParams),
    responses(PageWithParams)
)]
pub async fn search(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    respond(&req.clone(), search_page(state, req).await)
}

async fn search_page(state: web::Data<AppState>, req: HttpRequest) -> PageResult {
    let p: SearchParams = params(&req)?;
    let q = given(&p.q).unwrap_or("").to_owned();
    let mut ctx = Context::new();
    ctx.insert("me", &viewer(&req).map(|c| c.sub));
    ctx.insert("title", "Search");
    ctx.insert("nav", "search");
    ctx.insert("view", "");
    ctx.insert("q", &q);
    ctx.insert("channel", given(&p.channel).unwrap_or(""));
    ctx.insert("user", given(&p.user).unwrap_or(""));
    let since = form_time(&p.since, "“From”");
    let until = form_time(&p.until, "“Until”");
    // A time that was read is shown as the instant it means (the script shows it in the
    // page's zone); one that was not, as it was typed.
    for (k, v, t) in [("since", &p.since, &since), ("until", &p.until, &until)] {
        match t {
            Ok(Some(ms)) => {
                ctx.insert(k, &datetime_local(*ms));
                ctx.insert(format!("{k}_at"), &format_ms(*ms));
            }
            _ => ctx.insert(k, given(v).unwrap_or("")),
        }
    }
    // Every problem with the form is shown on the form itself, with a 400.
    let checked = (|| {
        let channel = name_param(&p.channel, "channel")?;
        let user = name_param(&p.user, "user")?;
        let (since, until) = (since?, until?);
        let before = int_param(&p.before_id, "before_id", 1)?.map(MessageId);
        let upto = int_param(&p.cursor, "cursor", 0)?.map(MessageId);
        let fts = if q.is_empty() {
            None
        } else {
            Some(
                store::parse_query(&q)
                    .map_err(|e| PageError::bad_request(format!("The search cannot be read: {}.", e.0)))?,
            )
        };
        Ok::<_, PageError>((channel, user, since, until, before, upto, fts))
    })();
    let (channel, user, since, until, before, upto, fts) = match checked {
        Ok(v) => v,
        Err(e) => {
            ctx.insert("error", &e.detail);
            return Ok(render(e.status, "search.html", &ctx));
        }
    };
    let Some(fts) = fts else {
        ctx.insert("searched", &false);
        return Ok(render(StatusCode::OK, "search.html", &ctx));
    };
    let (ch, us) = (channel.clone(), user.clone());
    let found = snapshot(&state, move |c| {
        let t = store::totals(c)?;
        // A later page counts up to where its first page did; a first page, up to now.
        let upto = match (before, upto) {
            (Some(_), Some(u)) => u.min(t.cursor),
            _ => t.cursor,
        };
        let mut read = SearchRead {
            rows: Vec::new(),
            more: false,
            total: (0, true),
            older: None,
            upto,
        };
        let Some(f) = MessageFilter::by_names(c, ch.as_deref(), us.as_deref())? else {
            return Ok(read);
        };
        let find = store::Find {
            query: Some(&fts),
            filter: f,
            since,
            until,
        };
        // One more than shown: whether there is an older page.
        let (mut rows, total) = store::search_with_total(c, &find, before, SEARCH_RESULTS + 1, upto)?;
        read.more = rows.len() as i64 > SEARCH_RESULTS;
        rows.truncate(SEARCH_RESULTS as usize);
        read.total = total;
        if let (Some(b), true) = (before, read.total.1) {
            let below = MessageId((b.0 - 1).min(upto.0));
            read.older = Some(store::count_matches(c, &find, below)?.0);
        }
        let labels = stream_labels(c, rows.iter().map(|m| m.channel.as_str()))?;
        read.rows = rows
            .into_iter()
            .map(|m| {
                let mut v = MessageView::new(m, &labels);
                v.parts = Some(highlight(&v.text, &fts));
                v
            })
            .collect();
        Ok(read)
    })
    .await;
    let read = match found {
        Ok(read) => read,
        Err(e) if e.status == StatusCode::BAD_REQUEST => {
            ctx.insert("error", &e.detail);
            return Ok(render(e.status, "search.html", &ctx));
        }
        Err(e) => return Err(e),
    };
    let (since, until) = (since.map(format_ms), until.map(format_ms));
    let filters = [
        ("q", Some(q.as_str())),
        ("channel", channel.as_deref()),
        ("user", user.as_deref()),
        ("since", since.as_deref()),
        ("until", until.as_deref()),
    ];
    let (total, exact) = read.total;
    ctx.insert(
        "total_label",
        &if exact {
            count_of(total, "match", "matches")
        } else {
            format!("More than {} matches", group(total))
        },
    );
    // Where this page's rows stand among all the matches: known when the count is exact.
    let first = match read.older {
        Some(older) => (total - older).max(0) + 1,
        None if before.is_none() && exact => 1,
        None => 0,
    };
    let shown = match (first, read.rows.len()) {
        (_, 0) => String::new(),
        (0, _) => "newest first".into(),
        (f, n) => format!("{}–{} shown, newest first", group(f), group(f + n as i64 - 1)),
    };
    ctx.insert("shown", &shown);
    let older = read.more.then(|| read.rows.last()).flatten().map(|m| {
        let (id, upto) = (m.id.to_string(), read.upto.to_string());
        let mut pairs = filters.to_vec();
        pairs.extend([("before_id", Some(id.as_str())), ("cursor", Some(upto.as_str()))]);
        format!("/search{}", query(&pairs))
    });
    ctx.insert("older", &older);
    ctx.insert("before_id", &before);
    ctx.insert("newest", &format!("/search{}", query(&filters)));
    ctx.insert("download", &format!("/api/export{}", query(&filters)));
    ctx.insert("searched", &true);
    ctx.insert("results", &read.rows);
    Ok(render(StatusCode::OK, "search.html", &ctx))
}

/// What a stream's page answers.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum StreamPageResponses {
    #[response(status = 200, description = "The page", content_type = "text/html; charset=utf-8")]
    Ok(String),
    #[response(
        status = 400,
        description = "`before_id` is not valid: the page says why",
        content_type = "text/html; charset=utf-8"
    )]
    BadRequest(String),
    #[response(
        status = 404,
        description = "No such stream",
        content_type = "text/html; charset=utf-8"
    )]
    NotFound(String),
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamParams {
    /// Older events: those before this id (the page is then not live).
    #[param(value_type = Option<i64>, minimum = 1)]
    before_id: Option<String>,
}

/// What a stream's page is rendered from, read in one transaction.
struct StreamData {
    stream: Stream,
    /// Oldest first, each in its current state.
    events: Vec<EventObject>,
    /// Whether older events than these exist (the read was full).
    full: bool,
    /// The streams it links to: its parent, the streams of shared originals.
    linked: HashMap<ChannelId, Stream>,
    /// The message a thread branched from, in its current state.
    origin: Option<Message>,
    /// The reader's read cursor and unread count, when they are a member.
    member: Option<(MessageId, i64)>,
    /// What the reader knows of the polls shown, by event id.
    polls: HashMap<MessageId, PollReader>,
    /// The reader may close anyone's poll: an owner of the stream (or its parent), an admin.
    manager: bool,
}

/// A stream id in a path: digits only, as the live view's `stream/<id>`.
fn stream_id(s: &str) -> Option<ChannelId> {
    (!s.is_empty() && s.len() <= 18 && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
        .map(ChannelId)
}

/// One stream's event log: messages, shares, threads, the stream's own changes; live.
#[utoipa::path(get, path = "/streams/{id}", tag = "pages",
    params(("id" = i64, Path, description = "The stream's id"), StreamParams),
    responses(StreamPageResponses)
)]
pub async fn stream(state: web::Data<AppState>, req: HttpRequest, id: web::Path<String>) -> HttpResponse {
    respond(&req.clone(), stream_page(state, req, id.into_inner()).await)
}

async fn stream_page(state: web::Data<AppState>, req: HttpRequest, id: String) -> PageResult {
    let not_found = || PageError::not_found("No such stream", format!("There is no stream with the id “{id}”."));
    let Some(sid) = stream_id(&id) else {
        return Err(not_found());
    };
    let p: StreamParams = params(&req)?;
    let before_id = int_param(&p.before_id, "before_id", 1)?.map(MessageId);
    // A private stream is found by its people only (anyone else: no such stream).
    let claims = viewer(&req);
    let admin = claims.as_ref().is_some_and(|c| c.admin);
    let viewer = claims.map(|c| c.sub);
    let name = viewer.clone();
    let (totals, found) = snapshot(&state, move |c| {
        let t = store::totals(c)?;
        let me = match name.as_deref() {
            Some(name) => store::user_by_name(c, name)?.map(|u| u.id),
            None => None,
        };
        let Some(stream) = streams::stream_by_id(c, sid)? else {
            return Ok((t, None));
        };
        if !store::people::can_see(c, &stream, me)? {
            return Ok((t, None));
        }
        let rows = streams::list_events(c, sid, None, before_id, STREAM_EVENTS)?;
        let extras = streams::extras(c, &rows)?;
        let events: Vec<EventObject> = rows.iter().map(|m| EventObject::new(m, Some(&extras))).collect();
        let mut linked = HashMap::new();
        let others = stream
            .parent_stream_id
            .into_iter()
            .chain(events.iter().filter_map(|e| e.original_stream_id));
        for other in others {
            if let Entry::Vacant(slot) = linked.entry(other) {
                if let Some(s) = streams::stream_by_id(c, other)? {
                    slot.insert(s);
                }
            }
        }
        let origin = match stream.branched_from_event_id {
            Some(e) => streams::event_by_id(c, e)?,
            None => None,
        };
        let membership = match me {
            Some(me) => store::people::membership(c, &stream, me)?,
            None => None,
        };
        let member = membership.as_ref().map(|m| (m.last_read_id, m.unread_count));
        // The polls: their tally's cursor, and a signed-in reader's own vote and rights.
        let can_post = me.is_some() && stream.status() != StreamStatus::Archived;
        let manager = admin
            || membership.as_ref().is_some_and(|m| m.role == "owner")
            || match (me, stream.parent_stream_id) {
                (Some(me), Some(parent)) => streams::role_of(c, parent, me)?.as_deref() == Some("owner"),
                _ => false,
            };
        let mut polls = HashMap::new();
        for e in events.iter().filter(|e| e.poll.is_some()) {
            let mine = match me {
                Some(me) => Some(store::polls::vote_of(c, e.event_id, me)?.unwrap_or_default()),
                None => None,
            };
            let reader = PollReader {
                cursor: extras.polls.get(&e.event_id).map_or(e.cursor, |t| t.cursor),
                mine,
                can_post,
                manager,
                me: name.clone(),
            };
            polls.insert(e.event_id, reader);
        }
        let data = StreamData {
            polls,
            manager,
            member,
            full: rows.len() as i64 == STREAM_EVENTS,
            stream,
            events,
            linked,
            origin,
        };
        Ok((t, Some(data)))
    })
    .await?;
    let Some(d) = found else {
        return Err(not_found());
    };
    let mut view = StreamView::new(&d.stream);
    let me = viewer.as_deref();
    // A DM is named by the others in it, as the inbox names it.
    if let (StreamKind::Dm, Some(me), Some(names)) = (d.stream.kind(), me, d.stream.display_name()) {
        view.heading = dm_label(names, me);
    }
    let live = match before_id {
        None => format!("stream/{sid}"),
        Some(_) => String::new(),
    };
    let nav = if d.stream.kind() == StreamKind::Incident {
        "incidents"
    } else {
        "channels"
    };
    let mut ctx = page(&view.heading, nav, &live, &totals, &state, &req);
    // The composer: anyone signed in posts in a public stream, a member in a private one
    // (nobody else sees it); an archived stream takes nothing.
    let archived = d.stream.status() == StreamStatus::Archived;
    ctx.insert(
        "reader",
        &ReaderView {
            member: d.member.is_some(),
            last_read: d.member.map_or(0, |(r, _)| r.0),
            unread: d.member.map_or(0, |(_, n)| n),
            can_post: me.is_some() && !archived,
            archived,
            signin: format!("/signin{}", query(&[("next", Some(&stream_href(sid)))])),
        },
    );
    let origin = d.stream.parent_stream_id.map(|parent| OriginView {
        parent_href: stream_href(parent),
        parent: d.linked.get(&parent).map_or_else(
            || format!("stream {parent}"),
            |s| stream_label(s.kind(), s.display_name(), s.id),
        ),
        message_href: d
            .stream
            .branched_from_event_id
            .map(|e| format!("{}#e{e}", stream_href(parent))),
        actor: d.origin.as_ref().map(|m| m.user.clone()),
        text: d.origin.as_ref().filter(|m| !m.deleted).map(|m| m.text.clone()),
    });
    let events: Vec<EventView> = d
        .events
        .iter()
        .filter_map(|e| EventView::new(e, &d.linked, &d.polls))
        .collect();
    let earlier = d
        .full
        .then(|| d.events.first())
        .flatten()
        .map(|e| format!("/streams/{sid}?before_id={}", e.event_id));
    ctx.insert("stream", &view);
    ctx.insert("origin", &origin);
    ctx.insert("events", &events);
    ctx.insert("earlier", &earlier);
    ctx.insert("before_id", &before_id);
    ctx.insert("page_size", &STREAM_EVENTS);
    ctx.insert("blank_message", &EventView::blank("message"));
    ctx.insert("blank_shared", &EventView::blank("shared"));
    ctx.insert("blank_system", &EventView::blank("system"));
    ctx.insert("blank_poll", &EventView::blank("poll"));
    ctx.insert("blank_file", &EventView::blank("file"));
    ctx.insert("blank_option", &PollOptionView::blank());
    ctx.insert("manager", &d.manager);
    // The composer's uploads and polls: the limits the server keeps, said before sending.
    ctx.insert("max_file_bytes", &state.max_file_bytes);
    ctx.insert("max_file", &file_size(state.max_file_bytes.min(i64::MAX as u64) as i64));
    ctx.insert("poll_options_max", &store::polls::POLL_OPTIONS_MAX);
    ctx.insert("poll_option_max", &store::polls::POLL_OPTION_MAX);
    ctx.insert("question_max", &crate::domain::DESCRIPTION_MAX);
    Ok(render(StatusCode::OK, "stream.html", &ctx))
}

/// Open and resolved incidents, newest first; live.
#[utoipa::path(get, path = "/incidents", tag = "pages", responses(Page))]
pub async fn incidents(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    respond(&req, incidents_page(state, &req).await)
}

async fn incidents_page(state: web::Data<AppState>, req: &HttpRequest) -> PageResult {
    let (totals, open, resolved) = snapshot(&state, move |c| {
        let incident = Some(StreamKind::Incident);
        Ok((
            store::totals(c)?,
            streams::list_streams(c, None, incident, Some(StreamStatus::Active), INCIDENTS_PAGE)?,
            streams::list_streams(c, None, incident, Some(StreamStatus::Resolved), INCIDENTS_PAGE)?,
        ))
    })
    .await?;
    let mut ctx = page("Incidents", "incidents", "streams", &totals, &state, req);
    ctx.insert("open", &open.iter().map(IncidentRow::new).collect::<Vec<_>>());
    ctx.insert("resolved", &resolved.iter().map(IncidentRow::new).collect::<Vec<_>>());
    ctx.insert("page_size", &INCIDENTS_PAGE);
    ctx.insert("blank_incident", &IncidentRow::blank());
    Ok(render(StatusCode::OK, "incidents.html", &ctx))
}

/// One followed IRC channel as the page shows it.
#[derive(serde::Serialize)]
struct IrcRow {
    name: String,
    paused: bool,
    /// Written as the API writes it (`live`, `paused`, ...).
    state: crate::web::irc::IrcState,
    reason: Option<String>,
    reader: Option<String>,
    rate: Option<String>,
    last_at: Option<String>,
    last: Option<String>,
}

/// The followed IRC channels: follow, pause, resume, remove; kept current by its script.
#[utoipa::path(get, path = "/irc", tag = "pages", responses(Page))]
pub async fn irc(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    respond(&req, irc_page(state, &req).await)
}

async fn irc_page(state: web::Data<AppState>, req: &HttpRequest) -> PageResult {
    let channels = crate::web::irc::channel_list(&state).await?;
    let rows: Vec<IrcRow> = channels
        .into_iter()
        .map(|c| IrcRow {
            state: c.state,
            rate: c.messages_per_second.map(|r| format!("{r:.1}")),
            last_at: c.last_message_at.map(format_ms),
            last: c.last_message_at.map(short_time),
            name: c.name,
            paused: c.paused,
            reason: c.reason,
            reader: c.reader,
        })
        .collect();
    let mut ctx = Context::new();
    ctx.insert("me", &viewer(req).map(|c| c.sub));
    ctx.insert("title", "IRC channels");
    ctx.insert("nav", "irc");
    ctx.insert("view", "");
    ctx.insert("channels", &rows);
    ctx.insert("server", &state.irc_server);
    ctx.insert("node_id", &state.node_id);
    ctx.insert("token_required", &state.ingest_token.is_some());
    Ok(render(StatusCode::OK, "irc.html", &ctx))
}

/// A signed-in person's inbox: their streams grouped by kind with unread and mention
/// badges, and their newest mentions; live (`workspace`). Anyone else is told how to sign in.
#[utoipa::path(get, path = "/inbox", tag = "pages", responses(Page))]
pub async fn inbox(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    respond(&req, inbox_page(state, &req).await)
}

/// What the inbox is rendered from, read in one transaction.
struct InboxData {
    memberships: Vec<store::people::Membership>,
    notes: Vec<crate::web::streams::Notification>,
    /// The streams of mentions the person is no member of (public ones), to name them.
    others: HashMap<ChannelId, Stream>,
}

async fn inbox_page(state: web::Data<AppState>, req: &HttpRequest) -> PageResult {
    let me = viewer(req).map(|c| c.sub);
    let name = me.clone();
    let (totals, data) = snapshot(&state, move |c| {
        let t = store::totals(c)?;
        let Some(id) = name
            .as_deref()
            .map(|n| store::user_by_name(c, n))
            .transpose()?
            .flatten()
        else {
            return Ok((t, None));
        };
        let memberships = store::people::memberships(c, id.id)?;
        let notes = crate::web::streams::notifications_of(c, id.id, None, INBOX_NOTIFICATIONS)?;
        let mut others = HashMap::new();
        for n in &notes {
            if !memberships.iter().any(|m| m.stream.id == n.stream_id) {
                if let Entry::Vacant(slot) = others.entry(n.stream_id) {
                    if let Some(s) = streams::stream_by_id(c, n.stream_id)? {
                        slot.insert(s);
                    }
                }
            }
        }
        Ok((
            t,
            Some(InboxData {
                memberships,
                notes,
                others,
            }),
        ))
    })
    .await?;
    // Live for a signed-in person only: their own `workspace`.
    let view = if me.is_some() { "workspace" } else { "" };
    let mut ctx = page("Inbox", "inbox", view, &totals, &state, req);
    let me = me.unwrap_or_default();
    let (groups, labels) = match &data {
        Some(d) => inbox::groups(&d.memberships, &me),
        None => inbox::groups(&[], &me),
    };
    let notes: Vec<inbox::NoteView> = data.as_ref().map_or_else(Vec::new, |d| {
        d.notes
            .iter()
            .map(|n| inbox::NoteView::new(n, &labels, d.others.get(&n.stream_id)))
            .collect()
    });
    ctx.insert("groups", &groups);
    ctx.insert("streams_n", &groups.iter().map(|g| g.rows.len()).sum::<usize>());
    ctx.insert("notes", &notes);
    ctx.insert("notes_limit", &INBOX_NOTIFICATIONS);
    ctx.insert("tokens", &state.tokens.is_some());
    ctx.insert("blank_inbox_row", &inbox::InboxRow::blank());
    ctx.insert("blank_note", &inbox::NoteView::blank());
    Ok(render(StatusCode::OK, "inbox.html", &ctx))
}

/// The sign-in link's page (`/signin#token=...`): its script hands the token to
/// `POST /api/session`. The token stays in the fragment, which no request carries. Without
/// one, it says how to get a sign-in link; after signing in it goes on to `next`.
#[utoipa::path(get, path = "/signin", tag = "pages",
    params(("next" = Option<String>, Query, description = "Where to go once signed in: a path of this server (`/streams/7`); anything else is ignored")),
    responses(Page)
)]
pub async fn signin(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    #[derive(Deserialize)]
    struct SigninParams {
        next: Option<String>,
    }
    let next = web::Query::<SigninParams>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.into_inner().next)
        .filter(|n| same_origin_path(n));
    let me = viewer(&req).map(|c| c.sub);
    let mut ctx = Context::new();
    ctx.insert("title", "Sign in");
    ctx.insert("nav", "");
    ctx.insert("view", "");
    // A session cookie that no longer signs anyone in: its token expired or was replaced.
    ctx.insert(
        "expired",
        &(me.is_none() && req.cookie(crate::auth::COOKIE).is_some_and(|c| !c.value().is_empty())),
    );
    ctx.insert("me", &me);
    ctx.insert("next", &next);
    ctx.insert("tokens", &state.tokens.is_some());
    render(StatusCode::OK, "signin.html", &ctx)
}

/// Whether `next` is a path of this server (`/streams/7?x#y`), never another origin: it
/// starts with one `/` (not `//` or `/\`, which browsers read as another host) and holds
/// no backslash or control character. The page's script checks the same again.
fn same_origin_path(next: &str) -> bool {
    next.starts_with('/')
        && !next.starts_with("//")
        && next.len() <= 2048
        && !next.chars().any(|c| c == '\\' || c.is_control())
}

/// Any path no route matched outside `/api` (which answers its own JSON 404).
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    error_page(
        PageError::not_found("Page not found", format!("There is no page at {}.", req.path())),
        Some(&req),
    )
}

/// A page asked for with a method it does not answer. The `Allow` header is the
/// router's; this is only the page people see.
pub fn method_not_allowed(method: &str, path: &str, allow: &str) -> HttpResponse {
    error_page(
        PageError {
            status: StatusCode::METHOD_NOT_ALLOWED,
            heading: "That request cannot be answered".into(),
            detail: format!("{path} does not answer {method}; it answers {allow}."),
        },
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::same_origin_path;

    #[test]
    fn sign_in_goes_on_to_paths_of_this_server_only() {
        for ok in ["/", "/streams/7", "/inbox?x=1#top", "/search?q=a%2Fb"] {
            assert!(same_origin_path(ok), "{ok}");
        }
        for bad in [
            "",
            "https://evil.example/",
            "//evil.example/x",
            "/\\evil.example",
            "\\\\evil.example",
            "javascript:alert(1)",
            "streams/7",
            "/a\nb",
            "/\tx",
        ] {
            assert!(!same_origin_path(bad), "{bad:?}");
        }
    }
}
