//! The OpenAPI 3.1 document of every HTTP route, served at `/api/openapi.json`. It is
//! derived from the handlers' own types (utoipa): the response bodies are the structs the
//! handlers serialize, the parameters the structs they deserialize, the rules of names and
//! messages built from `domain`'s constants (`json_schema`). Only the settings a server
//! runs with (`--max-batch`, `--max-body-bytes`) are filled in per server.
use actix_web::{web, HttpResponse};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{api, live, pages, AppState};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "chatpulse",
        description = "Chat messages in over HTTP, stored with exact counts and full-text search, \
                       every view live over WebSocket and Server-Sent Events. The wire contract of \
                       the live views is docs/PROTOCOL.md; this document covers the HTTP routes."
    ),
    paths(
        api::ingest,
        api::messages,
        api::metrics_summary,
        api::channels,
        api::users,
        api::user,
        api::search,
        super::export::export,
        api::activity,
        api::top,
        document,
        super::irc::list,
        super::irc::follow,
        super::irc::unfollow,
        super::streams::list,
        super::streams::create,
        super::streams::get,
        super::streams::update,
        super::streams::archive,
        super::streams::events,
        super::streams::post,
        super::streams::edit,
        super::streams::delete,
        super::streams::thread,
        super::streams::promote,
        super::streams::share,
        super::streams::join,
        super::streams::leave,
        super::streams::members,
        super::streams::add_member,
        super::streams::read,
        super::streams::unread,
        super::polls::create,
        super::polls::get,
        super::polls::vote,
        super::polls::close,
        super::files::upload,
        super::files::download,
        super::streams::bootstrap,
        super::streams::notifications,
        super::streams::sign_in,
        super::streams::sign_out,
        api::healthz,
        api::prometheus,
        live::ws,
        live::sse,
        pages::handlers::home,
        pages::handlers::messages,
        pages::handlers::channels,
        pages::handlers::channel,
        pages::handlers::users,
        pages::handlers::user,
        pages::handlers::search,
        pages::handlers::irc,
        pages::handlers::stream,
        pages::handlers::incidents,
        pages::handlers::inbox,
        pages::handlers::signin,
        pages::assets::serve,
    ),
    components(schemas(crate::error::ErrorCode, api::ChannelSort, crate::store::UserSort)),
    modifiers(&IngestToken),
    tags(
        (name = "ingest", description = "Storing messages"),
        (name = "read", description = "Reading what is stored, each answer with the cursor it was read at"),
        (name = "live", description = "Live views (docs/PROTOCOL.md section 4)"),
        (name = "operate", description = "Health and Prometheus metrics"),
        (name = "irc", description = "The IRC channels followed (PROTOCOL.md section 8)"),
        (name = "streams", description = "Streams and their event log (PROTOCOL.md section 8); changes need a user token"),
        (name = "people", description = "A signed-in person's streams, badges, read state and mentions (PROTOCOL.md section 8)"),
        (name = "pages", description = "The HTML pages and their files"),
    )
)]
pub struct ApiDoc;

/// The bearer token `--ingest-token` asks ingest for.
struct IngestToken;

impl Modify for IngestToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "ingest_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "`--ingest-token`: required by ingest when the server is started with one",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "user_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A user token: a JWT (HS256) signed with `--token-secret`, `sub` the user's name. \
                         The `chatpulse_token` cookie set by POST /api/session is taken too.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document for a server with these limits.
pub fn for_server(max_batch: usize, max_body_bytes: usize) -> serde_json::Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document serializes");
    let many = &mut doc["components"]["schemas"]["IngestBody"]["oneOf"][1];
    many["maxItems"] = max_batch.into();
    many["description"] = format!("at most --max-batch ({max_batch}) messages").into();
    let ingest = &mut doc["paths"]["/api/messages"]["post"]["requestBody"];
    ingest["description"] = format!("at most --max-body-bytes ({max_body_bytes}) bytes").into();
    doc
}

/// This document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "operate", responses(
    (status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object),
))]
pub async fn document(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(for_server(state.max_batch, state.max_body_bytes))
}
