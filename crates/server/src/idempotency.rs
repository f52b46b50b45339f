//! `Idempotency-Key` on POST: the first answer to a key is kept per user, and a retry with the
//! same key and body gets that answer again instead of acting twice (a claim, an offer, a
//! completion sent again after a dropped connection). The same key with another request is
//! a 422; a retry while the first is still running, a 409. A server error forgets the key,
//! so the retry acts. A replayed answer shows phone numbers masked (the holder reads them from
//! the task again).

use axum::body::{Body, to_bytes};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use mend_store::idempotency_keys::{self, KeyedRequest};
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ErrorCode};

const HEADER: &str = "idempotency-key";

/// What the layer needs besides the app: how large a body it may hold in memory.
#[derive(Clone)]
pub(crate) struct Idempotency {
    pub state: AppState,
    pub max_body_bytes: usize,
}

pub(crate) async fn idempotent(State(layer): State<Idempotency>, request: Request, next: Next) -> Response {
    let keyed = request.method() == Method::POST
        && request.headers().contains_key(HEADER)
        && !answer_carries_a_secret(request.uri().path());
    if !keyed {
        return next.run(request).await;
    }
    match answer(layer, request, next).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

/// A sign-in's session token, a new user's password and API token, a reset password: answers
/// that are never stored in the clear, so their requests are not keyed (a retry acts again: a
/// second sign-in, a 409 for a name already taken, another new password).
fn answer_carries_a_secret(path: &str) -> bool {
    let reset_password = path.strip_prefix("/api/v1/users/").is_some_and(|rest| rest.ends_with("/password"));
    path == "/api/v1/session" || path == "/api/v1/users" || reset_password
}

async fn answer(layer: Idempotency, request: Request, next: Next) -> Result<Response, ApiError> {
    let key = request
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 255)
        .ok_or_else(|| ApiError::bad_request("Idempotency-Key must be 1 to 255 visible characters"))?
        .to_owned();
    let (mut parts, body) = request.into_parts();
    // Unauthenticated: the handler answers 401 as it would without the key.
    let Ok(user) = CurrentUser::from_request_parts(&mut parts, &layer.state).await else {
        return Ok(next.run(Request::from_parts(parts, body)).await);
    };
    // The handler's extractor finds it here instead of looking the token up again.
    parts.extensions.insert(user.clone());
    let bytes = to_bytes(body, layer.max_body_bytes)
        .await
        .map_err(|_| ApiError::new(ErrorCode::PayloadTooLarge, "request body is larger than http.max_body_bytes"))?;
    let path = parts.uri.path().to_owned();
    let hash = hex::encode(Sha256::digest(&bytes));
    let conn = layer.state.store.connection();
    let user_id = user.0.user_id;
    match idempotency_keys::claim_key(conn, &key, user_id, &path, &hash, layer.state.clock.now()).await? {
        KeyedRequest::Fresh => {}
        KeyedRequest::Answered { status, body } => return Ok(replay(status, body)),
        KeyedRequest::InProgress => {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                "a request with this Idempotency-Key is still being answered",
            ));
        }
        KeyedRequest::Reused => {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                "this Idempotency-Key was used for another request; send a new key",
            ));
        }
    }
    // On a task of its own: a client that hangs up does not cancel the request half way, and
    // its answer is kept for the retry that follows.
    let store = layer.state.store.clone();
    let answered = tokio::spawn(async move {
        let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
        let (parts, body) = response.into_parts();
        let body = to_bytes(body, usize::MAX).await.map_err(ApiError::internal)?;
        let conn = store.connection();
        if parts.status.is_server_error() {
            idempotency_keys::release_key(conn, &key, user_id).await?;
        } else {
            // Kept with its numbers masked: a replay may come after the call was given back (a
            // claim's answer names the customer's number), and the table keeps no number at rest.
            let text = String::from_utf8_lossy(&body);
            let text = mend_core::mask_phones_in(&text);
            idempotency_keys::remember_answer(conn, &key, user_id, parts.status.as_u16(), &text).await?;
        }
        Ok::<_, ApiError>(Response::from_parts(parts, Body::from(body)))
    });
    answered.await.map_err(ApiError::internal)?
}

fn replay(status: u16, body: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let mut response = (status, body.clone()).into_response();
    let headers = response.headers_mut();
    if !body.is_empty() {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}
