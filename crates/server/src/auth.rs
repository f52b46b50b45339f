//! Who is calling: API bearer tokens, browser sessions (a token in the `mend_session` cookie or
//! as a bearer token, from `POST /api/v1/session`), and the credentials `mend user add` hands
//! out.
//!
//! Tokens are 256 random bits, so a fast hash (SHA-256) is enough to keep the stored copy
//! useless to a thief and lets a request find its user by an indexed lookup. Passwords (for the
//! web login) are chosen by people in the long run, so they get Argon2id.

use argon2::Argon2;
use argon2::password_hash::PasswordHasher;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use mend_core::Role;
use mend_store::Store;
use mend_store::rounds::{Line, Rounds};
use mend_store::users::{Credential, UserRecord};
use rand::Rng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::error::{ApiError, ErrorCode};

/// What a new user is told once, and what is stored of it.
pub struct Credentials {
    pub password: String,
    pub token: String,
    pub password_hash: String,
    pub token_hash: String,
}

impl Credentials {
    pub fn generate() -> Self {
        let password = random_text(15);
        let token = format!("mend_{}", random_text(32));
        let password_hash = hash_password(&password);
        let token_hash = hash_token(&token);
        Self { password, token, password_hash, token_hash }
    }
}

/// Who to create (`mend user add`, the admin page).
#[derive(Debug, Clone)]
pub struct UserToAdd {
    pub name: String,
    pub role: Role,
    pub team: Option<String>,
    /// Where alerts and reports reach them (supervisors, administrators).
    pub email: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AddUserError {
    #[error("a user needs a name")]
    NoName,
    /// Names go into audit entries (`user:NAME`), pages and a unique index.
    #[error("a user name is at most {MAX_NAME_CHARS} characters, without control characters or spaces")]
    BadName,
    #[error("a team name is at most {MAX_NAME_CHARS} characters, without control characters")]
    BadTeam,
    #[error("email `{address}`: {problem}")]
    Email { address: String, problem: String },
    /// The name, or the same name in other letter case (`Wang` beside `wang`).
    #[error("a user named `{0}` already exists")]
    Taken(String),
    #[error(transparent)]
    Store(#[from] mend_store::StoreError),
}

/// The longest user or team name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// Creates a user with fresh credentials, audited as `actor`'s doing: the record and what to
/// hand them once (only the hashes are stored).
pub async fn add_user(
    store: &mend_store::Store,
    user: UserToAdd,
    actor: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(UserRecord, Credentials), AddUserError> {
    let name = user.name.trim();
    if name.is_empty() {
        return Err(AddUserError::NoName);
    }
    // Invisible characters (a zero-width space) would let two names look the same.
    let invisible = |c: char| {
        c.is_control()
            || c.is_whitespace()
            || matches!(c, '\u{200b}'..='\u{200f}' | '\u{2060}'..='\u{2064}' | '\u{feff}')
    };
    if name.chars().count() > MAX_NAME_CHARS || name.chars().any(invisible) {
        return Err(AddUserError::BadName);
    }
    let team = user.team.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
    if team.as_ref().is_some_and(|t| t.chars().count() > MAX_NAME_CHARS || t.chars().any(char::is_control)) {
        return Err(AddUserError::BadTeam);
    }
    let email = user.email.map(|e| e.trim().to_owned()).filter(|e| !e.is_empty());
    if let Some(address) = &email {
        mend_notify::parse_address(address)
            .map_err(|e| AddUserError::Email { address: address.clone(), problem: e.to_string() })?;
    }
    let credentials = Credentials::generate();
    let new = mend_store::users::NewUser {
        id: mend_core::UserId::new(),
        name: name.to_owned(),
        role: user.role,
        team,
        email,
        password_hash: credentials.password_hash.clone(),
        token_hash: credentials.token_hash.clone(),
        created_at: now,
    };
    let tx = store.begin_write().await?;
    if let Some(existing) = mend_store::users::name_alike(&tx, name).await? {
        mend_store::rollback(tx).await?;
        return Err(AddUserError::Taken(existing));
    }
    let record = match mend_store::users::insert(&tx, new).await {
        Ok(record) => record,
        Err(e) if e.is_conflict() => {
            mend_store::rollback(tx).await?;
            return Err(AddUserError::Taken(name.to_owned()));
        }
        Err(e) => return Err(e.into()),
    };
    let detail = serde_json::json!({"role": record.role, "team": record.team});
    let entry = crate::accounts::user_entry(&record, actor, "user.add", detail, now);
    mend_store::audit::record_audit(&tx, entry).await?;
    mend_store::commit(tx).await?;
    Ok((record, credentials))
}

/// A fresh session token (never stored; its hash is).
pub fn session_token() -> String {
    format!("mend_s_{}", random_text(32))
}

/// A password's Argon2id hash (PHC string, with a fresh salt).
pub fn hash_password(password: &str) -> String {
    Argon2::default()
        .hash_password(password.as_bytes())
        .expect("Argon2 hashes any password with a fresh salt")
        .to_string()
}

/// Whether `password` is the one `password_hash` (Argon2id, PHC string) was made from.
pub fn password_matches(password: &str, password_hash: &str) -> bool {
    use argon2::password_hash::PasswordVerifier;
    Argon2::default().verify_password(password.as_bytes(), password_hash).is_ok()
}

/// The cookie a browser session travels in.
pub const SESSION_COOKIE: &str = "mend_session";

/// The token a request presents: `Authorization: Bearer …`, else the session cookie.
pub fn presented_token(parts: &Parts) -> Result<Option<String>, ApiError> {
    if let Some(header) = parts.headers.get(AUTHORIZATION) {
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::new(ErrorCode::Unauthorized, "the Authorization header is not `Bearer <token>`")
            })?;
        return Ok(Some(token.to_owned()));
    }
    Ok(session_cookie(parts))
}

/// The session token in the request's `mend_session` cookie, if any.
pub fn session_cookie(parts: &Parts) -> Option<String> {
    cookie(parts, SESSION_COOKIE)
}

/// The value of the request's cookie `name`, if it sent one.
pub fn cookie(parts: &Parts, name: &str) -> Option<String> {
    parts
        .headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.to_owned())
}

/// The header a page's script sends its session's CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The CSRF token of a session: derived from the session token, so it needs no storage and
/// dies with the session; a page from another site cannot read it (same-origin policy).
pub(crate) fn csrf_token(session_token: &str) -> String {
    hex::encode(Sha256::digest(format!("mend-csrf\0{session_token}").as_bytes()))
}

/// Whether `sent` is `expected`, in time that does not depend on where they differ.
pub(crate) fn constant_time_eq(sent: &[u8], expected: &[u8]) -> bool {
    sent.ct_eq(expected).into()
}

/// A request that changes something and is signed in by the session cookie alone must carry the
/// session's CSRF token in [`CSRF_HEADER`]: the browser sends the cookie with any request to
/// mend, but only mend's own pages can read the token. Bearer tokens are not sent by browsers
/// on their own, so they need none.
fn check_csrf_header(parts: &Parts, session_token: &str) -> Result<(), ApiError> {
    let sent = parts.headers.get(CSRF_HEADER).map(|v| v.as_bytes()).unwrap_or_default();
    if constant_time_eq(sent, csrf_token(session_token).as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::Forbidden,
            "a request signed in by the session cookie must send its page's X-CSRF-Token (or use a bearer token)",
        ))
    }
}

/// `bytes` random bytes, URL-safe base64.
pub(crate) fn random_text(bytes: usize) -> String {
    URL_SAFE_NO_PAD.encode(random_bytes(bytes))
}

/// `bytes` random bytes.
pub(crate) fn random_bytes(bytes: usize) -> Vec<u8> {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    buf
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Refuses with 403 unless `user`'s role includes `role` (the API's and the pages' one check).
pub fn require_role(user: &UserRecord, role: Role) -> Result<(), ApiError> {
    if user.role.includes(role) {
        Ok(())
    } else {
        Err(ApiError::new(ErrorCode::Forbidden, format!("this needs the {role} role; you are {}", user.role)))
    }
}

/// The signed-in user of a request (`Authorization: Bearer TOKEN`).
#[derive(Debug, Clone)]
pub struct CurrentUser(pub UserRecord);

impl CurrentUser {
    /// Refuses with 403 unless the user's role includes `role`.
    pub fn require(&self, role: Role) -> Result<&UserRecord, ApiError> {
        require_role(&self.0, role).map(|()| &self.0)
    }
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(known) = parts.extensions.get::<CurrentUser>() {
            return Ok(known.clone());
        }
        let unauthorized = |message: &str| ApiError::new(ErrorCode::Unauthorized, message);
        let token = presented_token(parts)?.ok_or_else(|| {
            unauthorized(
                "send `Authorization: Bearer <token>` (see `mend user add`) or sign in (`POST /api/v1/session`)",
            )
        })?;
        if !parts.headers.contains_key(AUTHORIZATION) && !parts.method.is_safe() {
            check_csrf_header(parts, &token)?;
        }
        match state.sign_ins.holder(&token, state.clock.now()).await? {
            Some((user, _)) => Ok(CurrentUser(user)),
            None => Err(unauthorized("the token is unknown, revoked or expired, or its user is deactivated")),
        }
    }
}

/// Sign-in checks served in rounds (see [`mend_store::rounds`]): the tokens presented while one
/// lookup is in the database are looked up together by the next, so a busy desk costs the
/// database a statement a round instead of one a request. Nothing is cached: a revoked token
/// or session is refused from the next round on.
pub struct SignIns {
    line: Line<SignInRounds>,
}

struct SignInRounds {
    store: Store,
}

impl Rounds for SignInRounds {
    /// The hash of a presented token, and when it was presented.
    type Ask = (String, DateTime<Utc>);
    type Answer = Option<(UserRecord, Credential)>;
    type Error = ApiError;

    async fn serve(&self, asks: &[(String, DateTime<Utc>)]) -> Result<Vec<Self::Answer>, ApiError> {
        // The round stands at the latest moment: each token was presented by then.
        let Some(now) = asks.iter().map(|(_, at)| *at).max() else { return Ok(Vec::new()) };
        let hashes: Vec<&str> = asks.iter().map(|(hash, _)| hash.as_str()).collect();
        let holders = mend_store::users::holders_of(self.store.connection(), &hashes, now).await?;
        Ok(asks.iter().map(|(hash, _)| holders.get(hash).cloned()).collect())
    }
}

impl SignIns {
    pub fn new(store: Store) -> Self {
        Self { line: Line::new(SignInRounds { store }) }
    }

    /// The active user `token` belongs to at `now` (an API token or a live session), and which
    /// of the two it is.
    pub async fn holder(&self, token: &str, now: DateTime<Utc>) -> Result<Option<(UserRecord, Credential)>, ApiError> {
        self.line.ask((hash_token(token), now)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::PasswordVerifier;

    #[test]
    fn csrf_tokens_differ_per_session_and_compare_exactly() {
        let a = csrf_token("mend_s_a");
        assert_eq!(a, csrf_token("mend_s_a"));
        assert_ne!(a, csrf_token("mend_s_b"));
        assert!(constant_time_eq(a.as_bytes(), a.as_bytes()));
        assert!(!constant_time_eq(a.as_bytes(), &a.as_bytes()[1..]));
        assert!(!constant_time_eq(a.as_bytes(), csrf_token("mend_s_b").as_bytes()));
    }

    #[test]
    fn credentials_are_fresh_and_their_hashes_check() {
        let a = Credentials::generate();
        let b = Credentials::generate();
        assert_ne!(a.token, b.token);
        assert!(a.token.starts_with("mend_") && a.token.len() > 40);
        assert_eq!(a.token_hash, hash_token(&a.token));
        assert_ne!(a.password_hash, b.password_hash);
        assert!(Argon2::default().verify_password(a.password.as_bytes(), a.password_hash.as_str()).is_ok());
        assert!(Argon2::default().verify_password(b"wrong", a.password_hash.as_str()).is_err());
    }
}
