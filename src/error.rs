//! One error type for every failure a client can be told about. Each variant carries its
//! snake_case `code` and maps to its HTTP status here and nowhere else; every `/api` error
//! is `{"error": {"code", "message", "index"?, "field"?}}`.
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

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
    /// A route that needs a user token (PROTOCOL.md section 8) got none, or a bad one.
    #[error("{0}")]
    NeedsUser(String),
    /// A request of the stream API breaks a rule of form (a field, a kind).
    #[error("{0}")]
    InvalidRequest(String),
    /// Seen, but not allowed to this caller.
    #[error("{0}")]
    Forbidden(String),
    /// Not possible in the state the stream or event is in.
    #[error("{0}")]
    Conflict(String),
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
    /// A `Range` outside the file (its size in bytes).
    #[error("the range is outside the file's {0} bytes")]
    RangeNotSatisfiable(u64),
    /// A body of a type the route does not take; says the ones it does.
    #[error("use {0}")]
    UnsupportedMediaType(&'static str),
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

/// The `code` of an error body: what a program branches on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidMessage,
    InvalidParameter,
    InvalidQuery,
    InvalidView,
    Unauthorized,
    ForbiddenOrigin,
    NotFound,
    InvalidHost,
    MethodNotAllowed,
    TooLarge,
    UnsupportedMediaType,
    Overloaded,
    Internal,
    StorageFull,
    ReadOnly,
    InvalidRequest,
    Forbidden,
    Conflict,
    RangeNotSatisfiable,
}

impl ErrorCode {
    /// Every code, for the tests that hold the document and the server to each other.
    pub const ALL: [ErrorCode; 19] = [
        ErrorCode::InvalidRequest,
        ErrorCode::Forbidden,
        ErrorCode::Conflict,
        ErrorCode::InvalidMessage,
        ErrorCode::InvalidParameter,
        ErrorCode::InvalidQuery,
        ErrorCode::InvalidView,
        ErrorCode::Unauthorized,
        ErrorCode::ForbiddenOrigin,
        ErrorCode::NotFound,
        ErrorCode::InvalidHost,
        ErrorCode::MethodNotAllowed,
        ErrorCode::TooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::Overloaded,
        ErrorCode::Internal,
        ErrorCode::StorageFull,
        ErrorCode::ReadOnly,
        ErrorCode::RangeNotSatisfiable,
    ];

    /// The code as it is written in a body, a log line and a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidMessage => "invalid_message",
            ErrorCode::InvalidParameter => "invalid_parameter",
            ErrorCode::InvalidQuery => "invalid_query",
            ErrorCode::InvalidView => "invalid_view",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::ForbiddenOrigin => "forbidden_origin",
            ErrorCode::NotFound => "not_found",
            ErrorCode::InvalidHost => "invalid_host",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::Overloaded => "overloaded",
            ErrorCode::Internal => "internal",
            ErrorCode::StorageFull => "storage_full",
            ErrorCode::ReadOnly => "read_only",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::RangeNotSatisfiable => "range_not_satisfiable",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::Conflict => "conflict",
        }
    }
}

/// Every `/api` error, and every error of `/healthz`, `/metrics` and the live endpoints.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    /// For a person: what was wrong and, where it helps, what to do.
    pub message: String,
    /// `invalid_message` only: which message of the request (0 for the first, or for the
    /// body as a whole).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// `invalid_message` only: the field that breaks a rule (`body` for the body as a whole).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::InvalidMessage { .. } => ErrorCode::InvalidMessage,
            ApiError::InvalidParameter(_) => ErrorCode::InvalidParameter,
            ApiError::InvalidQuery(_) => ErrorCode::InvalidQuery,
            ApiError::InvalidView(_) => ErrorCode::InvalidView,
            ApiError::Unauthorized | ApiError::NeedsUser(_) => ErrorCode::Unauthorized,
            ApiError::InvalidRequest(_) => ErrorCode::InvalidRequest,
            ApiError::Forbidden(_) => ErrorCode::Forbidden,
            ApiError::Conflict(_) => ErrorCode::Conflict,
            ApiError::ForbiddenOrigin => ErrorCode::ForbiddenOrigin,
            ApiError::NotFound(_) => ErrorCode::NotFound,
            ApiError::MisdirectedHost(_) => ErrorCode::InvalidHost,
            ApiError::MethodNotAllowed(_) => ErrorCode::MethodNotAllowed,
            ApiError::TooLarge(_) => ErrorCode::TooLarge,
            ApiError::RangeNotSatisfiable(_) => ErrorCode::RangeNotSatisfiable,
            ApiError::UnsupportedMediaType(_) => ErrorCode::UnsupportedMediaType,
            ApiError::Overloaded(_) => ErrorCode::Overloaded,
            ApiError::Store(_) | ApiError::Internal(_) => ErrorCode::Internal,
            ApiError::StorageFull => ErrorCode::StorageFull,
            ApiError::ReadOnly => ErrorCode::ReadOnly,
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
            | ApiError::InvalidView(_)
            | ApiError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized | ApiError::NeedsUser(_) => StatusCode::UNAUTHORIZED,
            ApiError::ForbiddenOrigin | ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MisdirectedHost(_) => StatusCode::MISDIRECTED_REQUEST,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RangeNotSatisfiable(_) => StatusCode::RANGE_NOT_SATISFIABLE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
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
            ApiError::Unauthorized | ApiError::NeedsUser(_) => {
                resp.insert_header(("WWW-Authenticate", "Bearer realm=\"chatpulse\""));
            }
            ApiError::RangeNotSatisfiable(size) => {
                resp.insert_header(("Content-Range", format!("bytes */{size}")));
            }
            _ => {}
        }
        let (index, field) = match self {
            ApiError::InvalidMessage { index, field, .. } => (Some(*index), Some(field.clone())),
            _ => (None, None),
        };
        resp.json(ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message: self.to_string(),
                index,
                field,
            },
        })
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        use crate::store::Refusal;
        if let StoreError::Refused(r) = e {
            return match r {
                Refusal::Invalid(m) => ApiError::InvalidRequest(m),
                Refusal::Forbidden(m) => ApiError::Forbidden(m),
                Refusal::NotFound(m) => ApiError::NotFound(m),
                Refusal::Conflict(m) => ApiError::Conflict(m),
            };
        }
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

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    #[test]
    fn codes_are_written_as_serialized() {
        for code in ErrorCode::ALL {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
    }
}
