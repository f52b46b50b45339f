//! Signing in from a browser: a session token, in a cookie and in the answer, that runs out
//! after a shift; signing out revokes it.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::header::SET_COOKIE;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::{DateTime, Duration, Utc};
use mend_store::users::UserRecord;
use serde::Deserialize;
use serde_json::json;

use crate::accounts::{self, LockedOut, SignInCheck};
use crate::auth::{self, CurrentUser, SESSION_COOKIE};
use crate::client_address::ClientAddress;
use crate::error::ErrorCode;
use crate::{ApiError, AppState};

/// A working shift and some: a session signs in once a day.
const SESSION_HOURS: i64 = 12;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    name: String,
    password: String,
}

/// `{"name", "password"}` → `{"token", "expires_at", "user"}` and the session cookie.
pub async fn sign_in(
    State(state): State<AppState>,
    Extension(client): Extension<ClientAddress>,
    parts: Parts,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request: SignIn = super::json_body(body)?;
    let wrong = || ApiError::new(ErrorCode::Unauthorized, "the name or the password is wrong");
    let now = state.clock.now();
    let from = (client.as_source(), state.devices.vouched(&parts, now));
    let (user, hash) =
        match accounts::check_sign_in(&state.store, &request.name, &request.password, (&from.0, from.1), now).await? {
            SignInCheck::Passed(user, hash) => (user, hash),
            SignInCheck::Wrong => return Err(wrong()),
            SignInCheck::Locked(until, locked_out) => {
                let what = match locked_out {
                    LockedOut::Name => "for this name",
                    LockedOut::Address => "from this address",
                    LockedOut::NewBrowser => {
                        "for this name from many addresses; a browser it signed in from before is let in"
                    }
                };
                let message = format!("too many wrong passwords {what}: try again after {}", until.to_rfc3339());
                let mut refused = ApiError::new(ErrorCode::TooManyRequests, message).into_response();
                let seconds = (until - now).num_seconds().max(1);
                refused.headers_mut().insert(axum::http::header::RETRY_AFTER, HeaderValue::from(seconds));
                return Ok(refused);
            }
        };
    // Deactivated or reset since the check: as if the password were wrong.
    let (token, expires_at, cookies) = open_session(&state, &user, &hash).await?.ok_or_else(wrong)?;
    let mut response =
        (StatusCode::CREATED, Json(json!({"token": token, "expires_at": expires_at, "user": user}))).into_response();
    for cookie in cookies {
        response.headers_mut().append(SET_COOKIE, cookie);
    }
    Ok(response)
}

/// Revokes the session the request presents (an API token stays: `mend user token` replaces it).
pub async fn sign_out(State(state): State<AppState>, _user: CurrentUser, parts: Parts) -> Result<Response, ApiError> {
    // The bearer token, and the cookie's session if the request carried both.
    let tokens = [auth::presented_token(&parts)?, auth::session_cookie(&parts)];
    let mut revoked = false;
    for token in tokens.into_iter().flatten() {
        let hash = auth::hash_token(&token);
        revoked |= mend_store::sessions::revoke_session(state.store.connection(), &hash, state.clock.now()).await?;
    }
    // Signed in, so the token is the user's API token: saying 204 would leave a caller sure it
    // stopped working when it did not.
    if !revoked {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "an API token is not a session; `mend user token --name NAME` replaces it",
        ));
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(SET_COOKIE, expired_cookie(&state));
    Ok(response)
}

/// A new session for `user`, whose password hashed to `password_hash` when they signed in: its
/// token (never stored; its hash is), when it runs out, and the cookie that carries it; none
/// when the account was deactivated or its password reset since.
/// Opens a session for `user`, signed in with the password `password_hash` was made from (none
/// if it has changed meanwhile): its token, when it runs out, and the cookies to set (the
/// session's, and the one that remembers the browser, [`crate::known_devices`]).
pub(crate) async fn open_session(
    state: &AppState,
    user: &UserRecord,
    password_hash: &str,
) -> Result<Option<(String, DateTime<Utc>, [HeaderValue; 2])>, ApiError> {
    let token = auth::session_token();
    let now = state.clock.now();
    let expires_at = now + Duration::hours(SESSION_HOURS);
    let conn = state.store.connection();
    let hash = auth::hash_token(&token);
    if !mend_store::sessions::create_session(conn, &hash, user.user_id, password_hash, now, expires_at).await? {
        return Ok(None);
    }
    let cookie = session_cookie(state, &token, SESSION_HOURS * 3600).map_err(ApiError::internal)?;
    let device = HeaderValue::from_str(&state.devices.cookie(user.user_id, now, state.secure_cookies))
        .map_err(ApiError::internal)?;
    Ok(Some((token, expires_at, [cookie, device])))
}

/// The `Set-Cookie` that makes a browser forget its session.
pub(crate) fn expired_cookie(state: &AppState) -> HeaderValue {
    session_cookie(state, "", 0).expect("an empty session cookie is a header value")
}

/// The session cookie holding `token` for `max_age` seconds; `Secure` behind https.
fn session_cookie(
    state: &AppState,
    token: &str,
    max_age: i64,
) -> Result<HeaderValue, axum::http::header::InvalidHeaderValue> {
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
}
