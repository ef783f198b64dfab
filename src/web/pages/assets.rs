//! The client's own script, stylesheet and icon, served from the binary.
//!
//! One resource per file, so an unknown name falls through to the pages' HTML 404.
//! They carry `nosniff` but not the pages' policy headers, which are for documents.
use actix_web::http::{header, StatusCode};
use actix_web::middleware::DefaultHeaders;
use actix_web::{web, HttpRequest, HttpResponse};

pub(crate) struct StaticFile {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const STATIC_FILES: &[StaticFile] = &[
    StaticFile {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../../../views/static/app.css"),
    },
    StaticFile {
        name: "inbox.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../../views/static/inbox.js"),
    },
    StaticFile {
        name: "irc.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../../views/static/irc.js"),
    },
    StaticFile {
        name: "live.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../../views/static/live.js"),
    },
    StaticFile {
        name: "signin.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../../views/static/signin.js"),
    },
    StaticFile {
        name: "streams.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../../views/static/streams.js"),
    },
    StaticFile {
        name: "time.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../../views/static/time.js"),
    },
    StaticFile {
        name: "icon.svg",
        content_type: "image/svg+xml",
        body: include_str!("../../../views/static/icon.svg"),
    },
];

pub fn configure(cfg: &mut web::ServiceConfig) {
    for file in STATIC_FILES {
        cfg.service(
            web::resource(format!("/static/{}", file.name))
                .wrap(DefaultHeaders::new().add((header::X_CONTENT_TYPE_OPTIONS, "nosniff")))
                .get(move |req: HttpRequest| serve(req, file)),
        );
    }
}

/// `no-cache` with an ETag: the browser asks each time and gets a 304 while the binary
/// is the same.
#[utoipa::path(get, path = "/static/{file}", tag = "pages",
    params(("file" = String, Path, description = "`app.css`, `inbox.js`, `irc.js`, `live.js`, `signin.js`, `streams.js`, `time.js` or `icon.svg`")),
    responses(
        (status = 200, description = "The file"),
        (status = 304, description = "Not modified (`If-None-Match`)"),
        (status = 404, description = "No such file: the HTML 404 page", content_type = "text/html; charset=utf-8", body = String),
    )
)]
pub(crate) async fn serve(req: HttpRequest, file: &'static StaticFile) -> HttpResponse {
    let etag = format!("\"{:016x}\"", fnv1a(file.body.as_bytes()));
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut b = HttpResponse::build(if fresh {
        StatusCode::NOT_MODIFIED
    } else {
        StatusCode::OK
    });
    b.insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "no-cache"));
    if fresh {
        b.finish()
    } else {
        b.content_type(file.content_type).body(file.body)
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    })
}
