//! axum's extractors answer a request they cannot read (a path id that is not UTF-8, a query
//! of the wrong shape) in plain text; mend answers every error in its own shape: JSON under
//! `/api/` (and for WeChat), a page everywhere else. The status stays the extractor's.

use axum::body::to_bytes;
use axum::extract::Request;
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;

use crate::error::{ApiError, ErrorCode};

/// A rejection's text is a line or two; more is not read.
const MAX_REJECTION_BYTES: usize = 16 * 1024;

pub(crate) async fn in_our_shape(request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let plain = response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"text/plain"));
    let status = response.status();
    if !(status.is_client_error() && plain) {
        return response;
    }
    let text = to_bytes(response.into_body(), MAX_REJECTION_BYTES)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let code = ErrorCode::for_client_status(status);
    let mut response = crate::web::error_for(&path, ApiError::new(code, text));
    *response.status_mut() = status;
    response
}
