//! The browser pages: rendered on the server with Tera from templates compiled into the
//! binary, then kept live by the project's own script (`views/static/live.js`).
//!
//! Every page carries the `cursor` and `epoch` it was rendered at (PROTOCOL.md section 1)
//! and reads its data in one read transaction, so the cursor and the data agree and the
//! script subscribes from exactly there. Text is always escaped by Tera's autoescape;
//! search highlights are marked after escaping, never by trusting the text.
//!
//! Times follow one rule (`format::short_time`): rendered in UTC and saying so, then
//! rewritten by `views/static/time.js` in the reader's zone, or UTC if they choose.
//!
//! `views` is what templates see, `format` how numbers, times and links read,
//! `handlers` one function per page, `inbox` a signed-in person's streams, badges and
//! mentions, `assets` the script, stylesheet and icon.
pub(crate) mod assets;
mod chart;
mod format;
pub(crate) mod handlers;
mod inbox;
mod views;

use std::sync::LazyLock;

use actix_web::http::header;
use actix_web::middleware::DefaultHeaders;
use actix_web::web;
use tera::Tera;

pub use handlers::method_not_allowed;

/// Latest messages on the home page, a channel page and a profile.
pub const RECENT_MESSAGES: i64 = 50;
/// Messages per page of `/messages`, and per "load older" step.
pub const PAGE_MESSAGES: i64 = 50;
/// Rows per page of `/channels` and `/users`.
pub const CHANNELS_PAGE: i64 = 100;
pub const USERS_PAGE: i64 = 50;
/// Channels listed on a profile (the busiest first).
pub const PROFILE_CHANNELS: i64 = 50;
/// Events of a stream's page, and per "load earlier" step (its script's `PAGE_EVENTS`).
pub const STREAM_EVENTS: i64 = 100;
/// Mentions listed on `/inbox` (the newest).
pub const INBOX_NOTIFICATIONS: i64 = 20;
/// Incidents per section of `/incidents` (the newest).
pub const INCIDENTS_PAGE: i64 = 100;
/// Search results shown (newest first).
pub const SEARCH_RESULTS: i64 = 100;
/// The seconds of `sent_at` the home page's rate figure (messages per second over the last
/// 10 s) is seeded with, and how many of the newest messages they are read from.
pub const RATE_SECONDS: i64 = 15;
pub const RATE_SEED_ROWS: i64 = 100_000;

/// No inline script or style anywhere: the pages need neither.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                       img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

static TEMPLATES: LazyLock<Tera> = LazyLock::new(|| {
    let mut t = Tera::default();
    t.add_raw_templates(vec![
        ("base.html", include_str!("../../../views/base.html")),
        ("ui.html", include_str!("../../../views/ui.html")),
        ("home.html", include_str!("../../../views/home.html")),
        ("messages.html", include_str!("../../../views/messages.html")),
        ("channels.html", include_str!("../../../views/channels.html")),
        ("channel.html", include_str!("../../../views/channel.html")),
        ("users.html", include_str!("../../../views/users.html")),
        ("user.html", include_str!("../../../views/user.html")),
        ("search.html", include_str!("../../../views/search.html")),
        ("irc.html", include_str!("../../../views/irc.html")),
        ("stream.html", include_str!("../../../views/stream.html")),
        ("incidents.html", include_str!("../../../views/incidents.html")),
        ("signin.html", include_str!("../../../views/signin.html")),
        ("inbox.html", include_str!("../../../views/inbox.html")),
        ("error.html", include_str!("../../../views/error.html")),
    ])
    .expect("the page templates parse");
    t
});

/// Compiles the templates now, so a broken template stops the server at start-up
/// instead of failing its first request.
pub fn init() {
    LazyLock::force(&TEMPLATES);
}

/// The headers of every page, error pages included.
fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((header::CONTENT_SECURITY_POLICY, CSP))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::REFERRER_POLICY, "same-origin"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
}

/// The pages, the client's files, and the HTML 404 for any path nothing else matched.
/// Register it after every other route: the pages' scope has an empty prefix, so it
/// matches every path.
pub fn configure(cfg: &mut web::ServiceConfig) {
    init();
    assets::configure(cfg);
    cfg.service(
        web::scope("")
            .wrap(security_headers())
            .service(web::resource("/").get(handlers::home))
            .service(web::resource("/messages").get(handlers::messages))
            .service(web::resource("/channels").get(handlers::channels))
            .service(web::resource("/channels/{name}").get(handlers::channel))
            .service(web::resource("/users").get(handlers::users))
            .service(web::resource("/users/{name}").get(handlers::user))
            .service(web::resource("/streams/{id}").get(handlers::stream))
            .service(web::resource("/incidents").get(handlers::incidents))
            .service(web::resource("/inbox").get(handlers::inbox))
            .service(web::resource("/search").get(handlers::search))
            .service(web::resource("/irc").get(handlers::irc))
            .service(web::resource("/signin").get(handlers::signin))
            .default_service(web::to(handlers::not_found)),
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn templates_parse() {
        super::init();
    }
}
