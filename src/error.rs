//! One error type for every failure a client can be told about. Each variant carries its
//! snake_case `code` and maps to its HTTP status here and nowhere else; every `/api` error
//! is `{"error": {"code", "message", "index"?, "field"?}}`.
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::store::StoreError;

/// What a 503 tells a client to wait, in seconds.
pub const RETRY_AFTER_S: u32 = 1;
/// What a refused write tells a client to wait when the store cannot take writes: an
/// operator has to act, so retrying at once helps no one.
pub const STORAGE_RETRY_AFTER_S: u32 = 30;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A message of an ingest request breaks a rule.
    #[error("{message}")]
    InvalidMessage {
        index: usize,
        field: String,
        message: String,
    },
    #[error("{0}")]
    InvalidParameter(String),
    #[error("{0}")]
    InvalidQuery(String),
    /// A live handshake named no valid view.
    #[error("{0}")]
    InvalidView(String),
    #[error("a valid ingest token is required")]
    Unauthorized,
    #[error("this origin may not open live connections")]
    ForbiddenOrigin,
    #[error("{0}")]
    NotFound(String),
    /// A request for a host name that is not this server's (see `web::origin`).
    #[error("{0}")]
    MisdirectedHost(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("use application/json or application/x-ndjson")]
    UnsupportedMediaType,
    /// Ingest cannot take more now (the queue, or the bytes of bodies being read).
    #[error("{0}; retry later")]
    Overloaded(&'static str),
    /// The store failed; the client is told only that it did (the log has the cause).
    #[error("database error")]
    Store(StoreError),
    /// The disk under the database is full: nothing can be stored until space is freed.
    #[error("the database's disk is full; nothing was stored")]
    StorageFull,
    /// The database takes no writes (a read-only file or transaction, a standby).
    #[error("the database is read-only; nothing was stored")]
    ReadOnly,
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidMessage { .. } => "invalid_message",
            ApiError::InvalidParameter(_) => "invalid_parameter",
            ApiError::InvalidQuery(_) => "invalid_query",
            ApiError::InvalidView(_) => "invalid_view",
            ApiError::Unauthorized => "unauthorized",
            ApiError::ForbiddenOrigin => "forbidden_origin",
            ApiError::NotFound(_) => "not_found",
            ApiError::MisdirectedHost(_) => "invalid_host",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::TooLarge(_) => "too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::Overloaded(_) => "overloaded",
            ApiError::Store(_) | ApiError::Internal(_) => "internal",
            ApiError::StorageFull => "storage_full",
            ApiError::ReadOnly => "read_only",
        }
    }

    /// A failed WebSocket handshake (not an upgrade request, a bad key or version).
    pub fn handshake(e: actix_http::ws::HandshakeError) -> Self {
        ApiError::InvalidParameter(format!("not a WebSocket handshake: {e}"))
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::InvalidMessage { .. }
            | ApiError::InvalidParameter(_)
            | ApiError::InvalidQuery(_)
            | ApiError::InvalidView(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::ForbiddenOrigin => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MisdirectedHost(_) => StatusCode::MISDIRECTED_REQUEST,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Overloaded(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Store(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::StorageFull => StatusCode::INSUFFICIENT_STORAGE,
            ApiError::ReadOnly => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::Store(e) => log::error!("store error: {e}"),
            ApiError::Internal(e) => log::error!("internal error: {e}"),
            _ => {}
        }
        let mut resp = HttpResponse::build(self.status_code());
        match self {
            ApiError::Overloaded(_) => {
                resp.insert_header(("Retry-After", RETRY_AFTER_S.to_string()));
            }
            ApiError::StorageFull | ApiError::ReadOnly => {
                resp.insert_header(("Retry-After", STORAGE_RETRY_AFTER_S.to_string()));
            }
            ApiError::Unauthorized => {
                resp.insert_header(("WWW-Authenticate", "Bearer realm=\"chatpulse\""));
            }
            _ => {}
        }
        let mut body = json!({ "code": self.code(), "message": self.to_string() });
        if let ApiError::InvalidMessage { index, field, .. } = self {
            body["index"] = json!(index);
            body["field"] = json!(field);
        }
        resp.json(json!({ "error": body }))
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e.write_trouble() {
            Some(crate::store::WriteTrouble::Full) => {
                log::error!("store cannot take writes error={e}");
                ApiError::StorageFull
            }
            Some(crate::store::WriteTrouble::ReadOnly) => {
                log::error!("store cannot take writes error={e}");
                ApiError::ReadOnly
            }
            None => ApiError::Store(e),
        }
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        ApiError::Store(e.into())
    }
}
