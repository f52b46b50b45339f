//! Refuses a request that carries a NUL character (U+0000) in its path, query or body, outside
//! the intake routes (which quarantine such a payload with its raw bytes). PostgreSQL cannot
//! store NUL in text, so a reason, a comment or a name holding one was stored on SQLite and
//! failed with a 500 on PostgreSQL; no person's words hold one, so the request is refused on
//! both, before anything acts on it.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use percent_encoding::percent_decode_str;

use crate::error::{ApiError, ErrorCode};

/// The routes that take channel payloads: a NUL there is quarantined with the payload, as any
/// other defect of it.
const INTAKE: [&str; 3] = ["/api/v1/complaints", "/api/v1/ingest/", "/wechat/callback"];

pub(crate) async fn refuse_nul(State(max_body_bytes): State<usize>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if INTAKE.iter().any(|intake| path.starts_with(intake)) {
        return next.run(request).await;
    }
    let path = path.to_owned();
    let refuse = |error: ApiError| crate::web::error_for(&path, error);
    let nul =
        || ApiError::new(ErrorCode::InvalidRequest, "the request holds a NUL character (U+0000), which no field may");
    let in_uri = percent_decode_str(&path).any(|b| b == 0)
        || request.uri().query().is_some_and(|q| percent_decode_str(q).any(|b| b == 0));
    if in_uri {
        return refuse(nul());
    }
    if matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let bytes = match to_bytes(body, max_body_bytes).await {
        Ok(bytes) => bytes,
        Err(error) => return refuse(ApiError::unread_body(&error)),
    };
    if holds_nul(&bytes) {
        return refuse(nul());
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// Whether a body holds NUL as a raw byte, in JSON text (`\u0000`) or in a form (`%00`).
fn holds_nul(body: &[u8]) -> bool {
    if body.contains(&0) {
        return true;
    }
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) {
        return json_holds_nul(&json);
    }
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .is_ok_and(|pairs| pairs.iter().any(|(k, v)| k.contains('\0') || v.contains('\0')))
}

fn json_holds_nul(value: &serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(json_holds_nul),
        Value::Object(fields) => fields.iter().any(|(k, v)| k.contains('\0') || json_holds_nul(v)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_is_found_however_the_body_spells_it() {
        assert!(holds_nul(br#"{"reason": "a\u0000b"}"#));
        assert!(holds_nul(br#"{"a": [{"\u0000": 1}]}"#));
        assert!(holds_nul(b"rating=5&comment=%00"));
        assert!(holds_nul(b"x\0y"));
        assert!(!holds_nul(br#"{"reason": "a\\u0000b"}"#), "a backslash and u0000 is text");
        assert!(!holds_nul(b"rating=5&comment=%E5%A5%BD"));
        assert!(!holds_nul(b""));
    }
}
