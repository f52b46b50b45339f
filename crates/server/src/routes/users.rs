//! Accounts over the API: administrators add, list, deactivate and re-activate users and reset
//! a forgotten password; everyone changes their own password.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use mend_core::{Role, UserId};
use mend_store::users::UserKey;
use serde::Deserialize;
use serde_json::{Value, json};

use super::tasks::desk_user;
use crate::accounts;
use crate::auth::{self, CurrentUser, UserToAdd};
use crate::{ApiError, AppState};

/// Every user, by name.
pub async fn list(State(state): State<AppState>, user: CurrentUser) -> Result<Json<Value>, ApiError> {
    user.require(Role::Admin)?;
    let users = mend_store::users::list_users(state.store.connection()).await?;
    Ok(Json(json!({ "users": users })))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    name: String,
    #[schema(schema_with = crate::openapi::role_words)]
    role: Role,
    team: Option<String>,
    email: Option<String>,
}

/// `{"name","role","team","email"}` → 201 with the user, their password and API token (shown
/// this once), as `mend user add` prints them.
pub async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let admin = desk_user(&user, Role::Admin)?;
    let new: NewUser = super::json_body(body)?;
    let to_add = UserToAdd { name: new.name, role: new.role, team: new.team, email: new.email };
    let (record, credentials) = auth::add_user(&state.store, to_add, &admin.actor, state.clock.now()).await?;
    let mut answer = json!(record);
    answer["password"] = credentials.password.into();
    answer["token"] = credentials.token.into();
    Ok((StatusCode::CREATED, Json(answer)))
}

#[derive(Debug, Deserialize, Default, utoipa::ToSchema)]
pub struct DeactivateRequest {
    #[serde(default)]
    reason: String,
}

/// `{"reason"}`: the user can no longer sign in; their token and sessions stop working and the
/// calls they hold go back to the queue.
pub async fn deactivate(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let (actor, key) = administered(&user, &id)?;
    let request: DeactivateRequest = super::json_body(body)?;
    let done = accounts::deactivate(&state.store, &key, &actor, &request.reason, state.clock.now()).await?;
    Ok(Json(json!({
        "user": done.user, "sessions_ended": done.sessions_ended, "tasks_released": done.tasks_released,
    })))
}

/// The user signs in again with the credentials they had.
pub async fn activate(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (actor, key) = administered(&user, &id)?;
    let record = accounts::activate(&state.store, &key, &actor, state.clock.now()).await?;
    Ok(Json(json!({ "user": record })))
}

/// A new generated password (shown this once) for a user who forgot theirs; their sessions end.
pub async fn reset_password(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (actor, key) = administered(&user, &id)?;
    let (record, password, ended) = accounts::reset_password(&state.store, &key, &actor, state.clock.now()).await?;
    Ok(Json(json!({ "user": record, "password": password, "sessions_ended": ended })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    current_password: String,
    new_password: String,
}

/// `{"current_password","new_password"}`: the caller's own password; their other sessions end
/// (the one this request came with stays).
pub async fn change_own_password(
    State(state): State<AppState>,
    user: CurrentUser,
    parts: Parts,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let me = user.require(Role::Agent)?;
    let change: PasswordChange = super::json_body(body)?;
    let keep = auth::presented_token(&parts)?.map(|token| auth::hash_token(&token));
    let ended = accounts::change_password(
        &state.store,
        me,
        &change.current_password,
        &change.new_password,
        keep.as_deref(),
        state.clock.now(),
    )
    .await?;
    Ok(Json(json!({ "sessions_ended": ended })))
}

/// The administrator acting (as the audit log names them) and the user the path's `id` names.
fn administered(user: &CurrentUser, id: &str) -> Result<(String, UserKey), ApiError> {
    let admin = desk_user(user, Role::Admin)?;
    let id: UserId = super::parse_id(id, "user")?;
    Ok((admin.actor, UserKey::Id(id)))
}
