//! Administrators' commands: `mend user add`, `mend quarantine list|replay`.

use anyhow::{Context, Result, bail};
use mend_cases::{Intake, Outcome};
use mend_core::{Clock, Delivery, QuarantineId, Role, UserId};
use mend_ingest::{Format, ParseSettings, Received};
use mend_server::auth::Credentials;
use mend_store::Store;
use mend_store::quarantine::QuarantineFilter;
use mend_store::users::NewUser;
use serde_json::{Value, json};

/// Who to create with `mend user add`.
pub struct UserToAdd {
    pub name: String,
    pub role: Role,
    pub team: Option<String>,
    /// Where alerts and reports reach them (supervisors, administrators).
    pub email: Option<String>,
}

/// Creates a user and returns what to hand them:
/// `{"user_id","name","role","team","email","password","token"}`. The password and token are
/// shown this once; only their hashes are stored.
pub async fn add_user(store: &Store, user: UserToAdd, clock: &dyn Clock) -> Result<Value> {
    let UserToAdd { name, role, team, email } = user;
    let name = name.trim();
    anyhow::ensure!(!name.is_empty(), "a user needs a name");
    let email = email.map(|e| e.trim().to_owned()).filter(|e| !e.is_empty());
    if let Some(address) = &email {
        mend_notify::parse_address(address).with_context(|| format!("--email `{address}`"))?;
    }
    let credentials = Credentials::generate();
    let new = NewUser {
        id: UserId::new(),
        name: name.to_owned(),
        role,
        team: team.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()),
        email,
        password_hash: credentials.password_hash,
        token_hash: credentials.token_hash,
        created_at: clock.now(),
    };
    let user = match mend_store::users::insert(store.connection(), new).await {
        Err(e) if e.is_conflict() => bail!("a user named `{name}` already exists"),
        other => other?,
    };
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
    let conn = store.connection();
    let record =
        mend_store::quarantine::get(conn, id).await?.with_context(|| format!("no quarantined payload {id}"))?;
    if let Some(at) = record.resolved_at {
        return Ok(json!({"quarantine_id": id, "result": "already_resolved", "resolved_at": at}));
    }
    let format = Format::from_label(&record.channel)
        .with_context(|| format!("payload {id} came in as `{}`, which no adapter reads", record.channel))?;
    let now = clock.now();
    let answer = match mend_ingest::receive(&record.channel, &record.raw, format.parse(&record.raw, parse), parse, now)
    {
        Received::Delivery(Delivery::Quarantined(still)) => {
            mend_store::quarantine::record_replay(conn, id, Err(&still.reason)).await?;
            return Ok(json!({"quarantine_id": id, "result": "still_quarantined", "reason": still.reason}));
        }
        Received::Ignored(reason) => json!({"quarantine_id": id, "result": "ignored", "reason": reason}),
        Received::Delivery(delivery) => {
            let report = intake.record(store, std::slice::from_ref(&delivery), now).await?;
            match report.outcomes.into_iter().next() {
                Some(Outcome::Accepted { complaint_id, case_id, case_created, .. }) => json!({
                    "quarantine_id": id, "result": "accepted", "complaint_id": complaint_id,
                    "case_id": case_id, "case_created": case_created,
                }),
                Some(Outcome::Duplicate { complaint_id, case_id, .. }) => json!({
                    "quarantine_id": id, "result": "duplicate", "complaint_id": complaint_id, "case_id": case_id,
                }),
                // Still other content under a recorded id, or refused by the database: the same
                // bytes and reason count on this record again (see `quarantine::insert`).
                Some(Outcome::Conflict { reason, .. } | Outcome::Quarantined { reason, .. }) => {
                    mend_store::quarantine::record_replay(conn, id, Err(&reason)).await?;
                    return Ok(json!({"quarantine_id": id, "result": "still_quarantined", "reason": reason}));
                }
                None => bail!("intake answered nothing for a complaint"),
            }
        }
    };
    mend_store::quarantine::record_replay(conn, id, Ok(now)).await?;
    Ok(answer)
}
