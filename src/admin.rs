//! Administrators' commands: `mend user add`, `mend quarantine list|replay`.

use anyhow::{Result, bail};
use mend_cases::Intake;
use mend_core::{Clock, QuarantineId};
use mend_ingest::ParseSettings;
use mend_server::auth::Credentials;
use mend_store::Store;
use mend_store::quarantine::QuarantineFilter;
use serde_json::{Value, json};

pub use mend_server::auth::UserToAdd;

/// Creates a user and returns what to hand them:
/// `{"user_id","name","role","team","email","password","token"}`. The password and token are
/// shown this once; only their hashes are stored.
pub async fn add_user(store: &Store, user: UserToAdd, clock: &dyn Clock) -> Result<Value> {
    let (user, credentials) = mend_server::auth::add_user(store, user, clock.now()).await?;
    Ok(json!({
        "user_id": user.user_id, "name": user.name, "role": user.role, "team": user.team,
        "email": user.email, "password": credentials.password, "token": credentials.token,
    }))
}

/// A new API token for `name`; the old one and every session of theirs stop working.
pub async fn replace_token(store: &Store, name: &str, clock: &dyn Clock) -> Result<Value> {
    let credentials = Credentials::generate();
    let tx = store.begin_write().await?;
    let Some(user) = mend_store::users::replace_token(&tx, name.trim(), &credentials.token_hash).await? else {
        bail!("no user is named `{name}`");
    };
    let ended = mend_store::sessions::revoke_user_sessions(&tx, user.user_id, clock.now()).await?;
    mend_store::commit(tx).await?;
    Ok(json!({"user_id": user.user_id, "name": user.name, "token": credentials.token, "sessions_ended": ended}))
}

/// Quarantined payloads, newest first, one JSON line each (raw bytes as text when they are
/// UTF-8).
pub async fn list_quarantine(store: &Store, unresolved: bool, limit: u64) -> Result<Vec<Value>> {
    let filter = QuarantineFilter { unresolved, limit, ..QuarantineFilter::default() };
    let rows = mend_store::quarantine::list(store.connection(), &filter).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            json!({
                "quarantine_id": r.quarantine_id, "channel": r.channel, "reason": r.reason,
                "received_at": r.received_at, "resolved_at": r.resolved_at,
                "seen_count": r.seen_count, "last_seen_at": r.last_seen_at,
                "raw": String::from_utf8_lossy(&r.raw),
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
