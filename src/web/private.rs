//! A private deployment (`--require-token`): every read, page and live view needs a user
//! token. What stays open: signing in (`/signin`, `/api/session`) and the files its page
//! needs, `/healthz` (it says nothing about the chat), ingest (`POST /api/messages`, which
//! `--ingest-token` guards), and `/metrics`, which then takes the ingest token as a bearer
//! when one is set (Prometheus' `authorization` setting). The live endpoints check the
//! token themselves (it may come as `?token=`).
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse, ResponseError};
use subtle::ConstantTimeEq;

use super::AppState;
use crate::error::ApiError;

/// Middleware (`middleware::from_fn(private::guard)`).
pub async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(state) = req
        .app_data::<web::Data<AppState>>()
        .filter(|s| s.require_token)
        .cloned()
    else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let path = req.path();
    let open = matches!(path, "/healthz" | "/signin" | "/api/session")
        || path.starts_with("/static/")
        || path.starts_with("/live/")
        || (path == "/api/messages" && req.method() == Method::POST);
    if open {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    if path == "/metrics" {
        let bearer = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let allowed = match (&state.ingest_token, bearer) {
            (None, _) => true,
            (Some(t), Some(b)) => bool::from(t.as_bytes().ct_eq(b.trim().as_bytes())),
            (Some(_), None) => false,
        };
        if allowed {
            return Ok(next.call(req).await?.map_into_boxed_body());
        }
        return Ok(req.into_response(ApiError::Unauthorized.error_response()));
    }
    match super::streams::caller(&state, req.request()) {
        Ok(Some(_)) => Ok(next.call(req).await?.map_into_boxed_body()),
        // The API answers programs; a page sends a person to the sign-in page.
        Ok(None) | Err(_) if path.starts_with("/api/") => {
            let e = ApiError::NeedsUser("this server takes user tokens only (--require-token)".into());
            Ok(req.into_response(e.error_response()))
        }
        Ok(None) | Err(_) => {
            let wanted = req
                .request()
                .uri()
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_owned();
            let to = format!(
                "/signin?next={}",
                percent_encoding::utf8_percent_encode(&wanted, percent_encoding::NON_ALPHANUMERIC)
            );
            let answer = HttpResponse::SeeOther()
                .insert_header((header::LOCATION, to))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish();
            Ok(req.into_response(answer))
        }
    }
}
