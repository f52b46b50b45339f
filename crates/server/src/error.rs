//! The one table of API errors: every JSON error body comes from here, as
//! `{"error": {"code", "message", …}}` with a 4xx (or, for a bug, a logged 500).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Stable error codes that clients may rely on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    BadRequest,
    Unauthorized,
    Forbidden,
    Conflict,
    InvalidRequest,
    InvalidComplaint,
    NotFound,
    MethodNotAllowed,
    PayloadTooLarge,
    /// The body did not arrive within `http.read_timeout_seconds`.
    RequestTimeout,
    /// Too many wrong passwords for a name lately (sign-in).
    TooManyRequests,
    /// Cut off before it was answered (the server is shutting down); asking again is safe.
    Unavailable,
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::Conflict => "conflict",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidComplaint => "invalid_complaint",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::RequestTimeout => "request_timeout",
            ErrorCode::TooManyRequests => "too_many_requests",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
        }
    }

    /// The code of a client error answered with `status` by code that is not mend's (an
    /// extractor's rejection): the one whose status it is, else `bad_request`.
    pub fn for_client_status(status: StatusCode) -> ErrorCode {
        use ErrorCode::*;
        [
            Unauthorized,
            Forbidden,
            NotFound,
            MethodNotAllowed,
            Conflict,
            PayloadTooLarge,
            RequestTimeout,
            TooManyRequests,
            InvalidRequest,
        ]
        .into_iter()
        .find(|code| code.status() == status)
        .unwrap_or(BadRequest)
    }

    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::BadRequest => StatusCode::BAD_REQUEST,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::Conflict => StatusCode::CONFLICT,
            ErrorCode::InvalidRequest => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::InvalidComplaint => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ErrorCode::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

#[derive(Debug)]
pub struct ApiError {
    code: ErrorCode,
    message: String,
    /// Extra fields for the client (e.g. the quarantine id of a refused complaint).
    detail: serde_json::Map<String, Value>,
}

impl ApiError {
    /// A request body that could not be read whole: too large (413), too slow (408), or cut.
    pub fn unread_body(error: &(dyn std::error::Error + 'static)) -> Self {
        let mut cause = Some(error);
        while let Some(e) = cause {
            if e.is::<http_body_util::LengthLimitError>() {
                return ApiError::new(ErrorCode::PayloadTooLarge, "request body is larger than http.max_body_bytes");
            }
            if e.is::<tower_http::timeout::TimeoutError>() {
                return ApiError::new(ErrorCode::RequestTimeout, "the request body did not arrive in time");
            }
            cause = e.source();
        }
        ApiError::bad_request(format!("the request body could not be read: {error}"))
    }

    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), detail: serde_json::Map::new() }
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.detail.insert(key.to_owned(), value.into());
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    pub fn not_found(what: impl std::fmt::Display) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    /// An unexpected failure: logged in full here, shown to the client without internals.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(error = %error, "Request failed unexpectedly.");
        Self::new(ErrorCode::Internal, "internal error; the details are in the server log")
    }

    pub fn code(&self) -> ErrorCode {
        self.code
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

/// The longest message an error carries, in characters: a message quoting what the client sent
/// (an unknown channel, a path id) must not send a 300 KB value back.
const MAX_MESSAGE_CHARS: usize = 500;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = self.detail;
        body.insert("code".into(), json!(self.code.as_str()));
        let message = match self.message.char_indices().nth(MAX_MESSAGE_CHARS) {
            Some((cut, _)) => format!("{}…", &self.message[..cut]),
            None => self.message,
        };
        body.insert("message".into(), json!(message));
        (self.code.status(), Json(json!({ "error": body }))).into_response()
    }
}

impl From<mend_store::StoreError> for ApiError {
    /// A conflict that reached the API (a deadlock with an import, a key written at the same
    /// moment) is no fault of the request: the same request succeeds when sent again.
    fn from(e: mend_store::StoreError) -> Self {
        match e.is_conflict() {
            true => {
                tracing::warn!(error = %e, "A request met a concurrent write; answered as unavailable.");
                ApiError::new(ErrorCode::Unavailable, "a concurrent change to the same records; send the request again")
            }
            false => ApiError::internal(e),
        }
    }
}

impl From<mend_store::rounds::Interrupted> for ApiError {
    fn from(e: mend_store::rounds::Interrupted) -> Self {
        ApiError::new(ErrorCode::Unavailable, e.to_string())
    }
}

impl From<mend_desk::DeskError> for ApiError {
    fn from(e: mend_desk::DeskError) -> Self {
        use mend_desk::DeskError;
        match e {
            DeskError::NotFound(what) => ApiError::not_found(what),
            DeskError::NotHolder(why) | DeskError::Refused(why) => ApiError::new(ErrorCode::Conflict, why),
            DeskError::Forbidden(why) => ApiError::new(ErrorCode::Forbidden, why),
            DeskError::Invalid(why) => ApiError::new(ErrorCode::InvalidRequest, why),
            DeskError::Interrupted => ApiError::new(ErrorCode::Unavailable, DeskError::Interrupted.to_string()),
            DeskError::Scheduler(e) => ApiError::internal(e),
            DeskError::Cases(e) => e.into(),
            DeskError::Store(e) => e.into(),
        }
    }
}

impl From<crate::accounts::AccountError> for ApiError {
    fn from(e: crate::accounts::AccountError) -> Self {
        use crate::accounts::AccountError;
        match e {
            AccountError::NoSuchUser(key) => ApiError::not_found(format_args!("user {key}")),
            AccountError::LastAdmin(_) => ApiError::new(ErrorCode::Conflict, e.to_string()),
            AccountError::WrongPassword => ApiError::new(ErrorCode::Forbidden, e.to_string()),
            AccountError::WeakPassword => ApiError::new(ErrorCode::InvalidRequest, e.to_string()),
            AccountError::Store(e) => e.into(),
        }
    }
}

impl From<crate::auth::AddUserError> for ApiError {
    fn from(e: crate::auth::AddUserError) -> Self {
        use crate::auth::AddUserError;
        match e {
            AddUserError::Store(e) => e.into(),
            AddUserError::Taken(_) => ApiError::new(ErrorCode::Conflict, e.to_string()),
            other => ApiError::new(ErrorCode::InvalidRequest, other.to_string()),
        }
    }
}

impl From<mend_cases::CasesError> for ApiError {
    fn from(e: mend_cases::CasesError) -> Self {
        use mend_cases::CasesError;
        match e {
            CasesError::NotFound(what) => ApiError::not_found(what),
            CasesError::Refused(why) => ApiError::new(ErrorCode::Conflict, why),
            CasesError::Forbidden(why) => ApiError::new(ErrorCode::Forbidden, why),
            CasesError::Invalid(why) => ApiError::new(ErrorCode::InvalidRequest, why),
            CasesError::Store(e) => e.into(),
            other => ApiError::internal(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_its_status() {
        let table = [
            (ErrorCode::BadRequest, 400, "bad_request"),
            (ErrorCode::Unauthorized, 401, "unauthorized"),
            (ErrorCode::Forbidden, 403, "forbidden"),
            (ErrorCode::Conflict, 409, "conflict"),
            (ErrorCode::InvalidRequest, 422, "invalid_request"),
            (ErrorCode::InvalidComplaint, 422, "invalid_complaint"),
            (ErrorCode::NotFound, 404, "not_found"),
            (ErrorCode::MethodNotAllowed, 405, "method_not_allowed"),
            (ErrorCode::PayloadTooLarge, 413, "payload_too_large"),
            (ErrorCode::RequestTimeout, 408, "request_timeout"),
            (ErrorCode::Unavailable, 503, "unavailable"),
            (ErrorCode::Internal, 500, "internal"),
        ];
        for (code, status, name) in table {
            assert_eq!((code.status().as_u16(), code.as_str()), (status, name));
        }
    }
}
