//! Administrators' commands: `mend user add|list|token|deactivate|activate|password`, `mend
//! quarantine list|replay`.

use anyhow::Result;
use mend_cases::Intake;
use mend_core::{Clock, QuarantineId};
use mend_ingest::ParseSettings;
use mend_store::Store;
use mend_store::quarantine::QuarantineFilter;
use mend_store::users::UserKey;
use serde_json::{Value, json};

pub use mend_server::auth::UserToAdd;

/// Who the audit log says did what a command did.
const CLI: &str = "cli";

/// The user a command's `--name` names.
fn named(name: &str) -> UserKey {
    UserKey::Name(name.trim().to_owned())
}

/// Creates a user and returns what to hand them:
/// `{"user_id","name","role","team","email","password","token"}`. The password and token are
/// shown this once; only their hashes are stored.
pub async fn add_user(store: &Store, user: UserToAdd, clock: &dyn Clock) -> Result<Value> {
    let (user, credentials) = mend_server::auth::add_user(store, user, CLI, clock.now()).await?;
    Ok(json!({
        "user_id": user.user_id, "name": user.name, "role": user.role, "team": user.team,
        "email": user.email, "password": credentials.password, "token": credentials.token,
    }))
}

/// A new API token for `name`; the old one and every session of theirs stop working.
pub async fn replace_token(store: &Store, name: &str, clock: &dyn Clock) -> Result<Value> {
    let (user, token, ended) = mend_server::accounts::replace_token(store, &named(name), CLI, clock.now()).await?;
    Ok(json!({"user_id": user.user_id, "name": user.name, "token": token, "sessions_ended": ended}))
}

/// Every user, by name, one JSON line each (`{"user_id","name","role","team","email","active"}`).
pub async fn list_users(store: &Store) -> Result<Vec<Value>> {
    let users = mend_store::users::list_users(store.connection()).await?;
    Ok(users.into_iter().map(|u| json!(u)).collect())
}

/// Stops `name` from signing in; their token and sessions stop working and the calls they hold
/// go back to the queue.
pub async fn deactivate_user(store: &Store, name: &str, reason: &str, clock: &dyn Clock) -> Result<Value> {
    let done = mend_server::accounts::deactivate(store, &named(name), CLI, reason, clock.now()).await?;
    Ok(json!({
        "user_id": done.user.user_id, "name": done.user.name, "active": done.user.active,
        "sessions_ended": done.sessions_ended, "tasks_released": done.tasks_released,
    }))
}

/// Lets `name` sign in again with the credentials they had.
pub async fn activate_user(store: &Store, name: &str, clock: &dyn Clock) -> Result<Value> {
    let user = mend_server::accounts::activate(store, &named(name), CLI, clock.now()).await?;
    Ok(json!({"user_id": user.user_id, "name": user.name, "active": user.active}))
}

/// A new password for `name`, shown this once; their browser sessions end.
pub async fn reset_password(store: &Store, name: &str, clock: &dyn Clock) -> Result<Value> {
    let (user, password, ended) = mend_server::accounts::reset_password(store, &named(name), CLI, clock.now()).await?;
    Ok(json!({"user_id": user.user_id, "name": user.name, "password": password, "sessions_ended": ended}))
}

/// Quarantined payloads, newest first, one JSON line each (raw bytes as text when they are
/// UTF-8).
pub async fn list_quarantine(store: &Store, unresolved: bool, limit: u64) -> Result<Vec<Value>> {
    let filter = QuarantineFilter { unresolved, limit, ..QuarantineFilter::default() };
    let rows = mend_store::quarantine::list(store.connection(), &filter).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let (raw, encoding) = mend_ingest::readable(&r.raw);
            json!({
                "quarantine_id": r.quarantine_id, "channel": r.channel, "reason": r.reason,
                "received_at": r.received_at, "resolved_at": r.resolved_at,
                "seen_count": r.seen_count, "last_seen_at": r.last_seen_at,
                "raw": raw, "raw_encoding": encoding,
            })
        })
        .collect())
}

/// Runs one quarantined payload through its adapter again (after the configuration or the
/// adapter was fixed). Success resolves it; a new failure replaces its reason.
pub async fn replay(
    store: &Store,
    intake: &Intake,
    parse: &ParseSettings,
    id: QuarantineId,
    clock: &dyn Clock,
) -> Result<Value> {
    let result = mend_cases::replay::replay_quarantined(store, intake, parse, id, clock.now()).await?;
    Ok(serde_json::to_value(result)?)
}
