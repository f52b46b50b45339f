//! Accounts over their life: an agent who leaves is deactivated (their token, sessions and
//! held calls end with the account), one who returns is let back in, a forgotten password is
//! reset by an administrator, and everyone may choose their own. Every change is audited.

use chrono::{DateTime, Utc};
use mend_core::{Role, TaskId, UserId};
use mend_store::users::{UserKey, UserRecord};
use mend_store::{AuditEntry, StoreError};
use serde_json::json;

use crate::auth::{self, Credentials, MAX_NAME_CHARS};

/// The shortest password a person may choose (a generated one has 20 characters).
pub const MIN_PASSWORD_CHARS: usize = 10;
/// The longest: Argon2 hashes any length, but a megabyte "password" is an attack, not a choice.
pub const MAX_PASSWORD_CHARS: usize = 128;

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("no user is {0}")]
    NoSuchUser(UserKey),
    #[error("`{0}` is the last active administrator: add another before deactivating them")]
    LastAdmin(String),
    #[error("the current password is wrong")]
    WrongPassword,
    #[error(
        "a new password has {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters and is neither the user's name nor the current password"
    )]
    WeakPassword,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Wrong passwords in a row for one name from one address, within [`FAILURE_STREAK`] of each
/// other, after which that name is refused there for [`LOCKOUT`], right password or not: a few
/// guesses a quarter of an hour, and an agent who mistyped twice is not locked out. Counted per
/// address, so nobody elsewhere can lock a supervisor out by typing their name.
pub const MOST_FAILURES: i32 = 5;
/// Wrong passwords from one address across all names within [`FAILURE_STREAK`], after which
/// the address is refused: one client trying a common password on every name. High enough for
/// a call center whose whole floor signs in from one address at the start of a shift.
pub const MOST_FAILURES_FROM_ONE_ADDRESS: i64 = 100;
/// Wrong passwords at one name across all addresses within [`FAILURE_STREAK`], after which the
/// name signs in only from a browser it signed in from before ([`crate::known_devices`]): many
/// addresses (a botnet), each under its own limits, guessing one supervisor's password.
pub const MOST_FAILURES_OF_ONE_NAME: i64 = 30;
pub const FAILURE_STREAK: chrono::Duration = chrono::Duration::minutes(15);
pub const LOCKOUT: chrono::Duration = chrono::Duration::minutes(15);

/// What a sign-in's name and password come to.
#[derive(Debug)]
pub enum SignInCheck {
    /// The user, and the hash the password matched (the session opens only if it still is).
    Passed(UserRecord, String),
    /// An unknown name or a wrong password: one answer for both, so names are not revealed.
    Wrong,
    /// Too many wrong passwords lately: refused until then, unchecked.
    Locked(DateTime<Utc>, LockedOut),
}

/// What too many wrong passwords locked out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockedOut {
    /// The name typed, from this address ([`MOST_FAILURES`]).
    Name,
    /// This address, whatever the name ([`MOST_FAILURES_FROM_ONE_ADDRESS`]).
    Address,
    /// The name typed, from a browser it has not signed in from ([`MOST_FAILURES_OF_ONE_NAME`]).
    NewBrowser,
}

/// Checks a sign-in from `source` (the client's address, `"unknown"` when there is none), in a
/// browser whose known-device cookie vouches for `known_device`. Each attempt is counted against
/// the name typed (whether or not a user has it) and the source in the database before the
/// password is checked, so a burst of guesses, spread over several instances or not, gets
/// [`MOST_FAILURES`] checks; a right password clears that count.
pub async fn check_sign_in(
    store: &mend_store::Store,
    name: &str,
    password: &str,
    (source, known_device): (&str, Option<UserId>),
    now: DateTime<Utc>,
) -> Result<SignInCheck, StoreError> {
    use mend_store::sign_in_failures;
    let conn = store.connection();
    let name = name.trim();
    // No user has a longer name; nor is one kept as a key (a megabyte "name" would be a row).
    if name.chars().count() > MAX_NAME_CHARS {
        return Ok(SignInCheck::Wrong);
    }
    let typed = name.to_lowercase();
    if let Some(until) = sign_in_failures::locked_until(conn, &typed, source, now).await? {
        return Ok(SignInCheck::Locked(until, LockedOut::Name));
    }
    let (lock_until, streak_since) = (now + LOCKOUT, now - FAILURE_STREAK);
    // Read before this attempt counts, and a refused attempt is not counted: an address over
    // its limit neither grows the table nor locks the names its people type meanwhile.
    if sign_in_failures::failures_from(conn, source, streak_since).await? >= MOST_FAILURES_FROM_ONE_ADDRESS {
        return Ok(SignInCheck::Locked(now + FAILURE_STREAK, LockedOut::Address));
    }
    let user = mend_store::users::by_name(conn, name).await?;
    // Read before this attempt counts, too: refused attempts do not keep the name shut, so the
    // streak lapses a quarter of an hour after the last guess that was checked.
    let known = user.as_ref().is_some_and(|(user, _)| known_device == Some(user.user_id));
    if !known && sign_in_failures::failures_of(conn, &typed, streak_since).await? >= MOST_FAILURES_OF_ONE_NAME {
        return Ok(SignInCheck::Locked(now + FAILURE_STREAK, LockedOut::NewBrowser));
    }
    if !sign_in_failures::count_attempt(conn, &typed, source, now, streak_since, MOST_FAILURES, lock_until).await? {
        return Ok(SignInCheck::Locked(lock_until, LockedOut::Name));
    }
    match user {
        Some((user, hash)) if auth::password_matches(password, &hash) => {
            sign_in_failures::forget_from(conn, &typed, source).await?;
            Ok(SignInCheck::Passed(user, hash))
        }
        Some(_) => Ok(SignInCheck::Wrong),
        None => {
            // As long as a wrong password takes: how fast a name is refused would tell which
            // names are users'.
            auth::password_matches(password, &NOBODYS_HASH);
            Ok(SignInCheck::Wrong)
        }
    }
}

/// A hash no password matches, checked when no user has the name typed.
static NOBODYS_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| auth::hash_password(&auth::random_text(32)));

/// A deactivated account and what ended with it.
#[derive(Debug, Clone)]
pub struct Deactivated {
    pub user: UserRecord,
    pub sessions_ended: u64,
    /// Calls the user held, back in the queue for someone else.
    pub tasks_released: Vec<TaskId>,
}

/// Stops `key` from signing in: their API token and sessions stop working at once and the calls
/// they hold go back to the queue. The desk keeps at least one active administrator.
pub async fn deactivate(
    store: &mend_store::Store,
    key: &UserKey,
    actor: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Deactivated, AccountError> {
    let tx = store.begin_write().await?;
    let (user, _) = find(&tx, key).await?;
    let admins = mend_store::users::lock_active_admins(&tx, user.user_id).await?;
    if user.role == Role::Admin && admins == [user.user_id] {
        mend_store::rollback(tx).await?;
        return Err(AccountError::LastAdmin(user.name));
    }
    let user = set_active(&tx, &user, false).await?;
    let sessions_ended = mend_store::sessions::revoke_user_sessions(&tx, user.user_id, None, now).await?;
    let released = mend_store::tasks::release_tasks_held_by(&tx, user.user_id, now).await?;
    let reason = mend_core::mask_phones_in(reason.trim()).into_owned();
    let mut entries: Vec<AuditEntry> = released
        .iter()
        .map(|task| AuditEntry {
            at: now,
            actor: actor.to_owned(),
            action: "task.release".into(),
            subject_kind: "task".into(),
            subject_id: Some(task.task_id.as_uuid()),
            detail: json!({"from": "claimed", "to": "open", "reason": "account deactivated", "agent": user.name}),
        })
        .collect();
    let tasks_released: Vec<TaskId> = released.iter().map(|t| t.task_id).collect();
    let detail = json!({"reason": reason, "sessions_ended": sessions_ended, "tasks_released": tasks_released});
    entries.push(user_entry(&user, actor, "user.deactivate", detail, now));
    mend_store::audit::record_audits(&tx, &entries).await?;
    mend_store::commit(tx).await?;
    Ok(Deactivated { user, sessions_ended, tasks_released })
}

/// Lets a deactivated user sign in again, with the credentials they had.
pub async fn activate(
    store: &mend_store::Store,
    key: &UserKey,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<UserRecord, AccountError> {
    let tx = store.begin_write().await?;
    let (user, _) = find(&tx, key).await?;
    let user = set_active(&tx, &user, true).await?;
    mend_store::audit::record_audit(&tx, user_entry(&user, actor, "user.activate", json!({}), now)).await?;
    mend_store::commit(tx).await?;
    Ok(user)
}

/// A new generated password for `key` (shown once), for someone who forgot theirs; their
/// sessions end. The user, the password and how many sessions ended.
pub async fn reset_password(
    store: &mend_store::Store,
    key: &UserKey,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(UserRecord, String, u64), AccountError> {
    let renewed = renew(store, key, Secret::Password, actor, now).await?;
    // The guesses were at the password that is gone: the user may sign in with the new one now.
    // The reset stands either way, and its password is shown only in this answer.
    if let Err(e) = mend_store::sign_in_failures::forget(store.connection(), &renewed.0.name.to_lowercase()).await {
        tracing::warn!(user = %renewed.0.name, error = %e, "A reset password could not lift the sign-in lock.");
    }
    Ok(renewed)
}

/// A new API token for `key` (shown once: a lost or leaked one stops working); their sessions
/// end. The user, the token and how many sessions ended.
pub async fn replace_token(
    store: &mend_store::Store,
    key: &UserKey,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(UserRecord, String, u64), AccountError> {
    renew(store, key, Secret::Token, actor, now).await
}

/// Which of a user's credentials an administrator renews.
enum Secret {
    Password,
    Token,
}

/// A fresh `secret` for `key`, its hash stored in place of the old one, their sessions ended and
/// the change audited; the secret itself is returned to be shown once.
async fn renew(
    store: &mend_store::Store,
    key: &UserKey,
    secret: Secret,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(UserRecord, String, u64), AccountError> {
    let credentials = Credentials::generate();
    let tx = store.begin_write().await?;
    let (user, _) = find(&tx, key).await?;
    let (shown, action) = match secret {
        Secret::Password => {
            mend_store::users::replace_password(&tx, user.user_id, &credentials.password_hash, None).await?;
            (credentials.password, "user.password_reset")
        }
        Secret::Token => {
            mend_store::users::replace_token(&tx, user.user_id, &credentials.token_hash).await?;
            (credentials.token, "user.token_replace")
        }
    };
    let ended = mend_store::sessions::revoke_user_sessions(&tx, user.user_id, None, now).await?;
    let detail = json!({"sessions_ended": ended});
    mend_store::audit::record_audit(&tx, user_entry(&user, actor, action, detail, now)).await?;
    mend_store::commit(tx).await?;
    Ok((user, shown, ended))
}

/// `user` chooses a new password, proving the current one; their other sessions end (the one
/// whose token hashes to `keep_session`, where they changed it, stays). How many ended.
pub async fn change_password(
    store: &mend_store::Store,
    user: &UserRecord,
    current: &str,
    new: &str,
    keep_session: Option<&str>,
    now: DateTime<Utc>,
) -> Result<u64, AccountError> {
    let (user, hash) = find(store.connection(), &UserKey::Id(user.user_id)).await?;
    if !auth::password_matches(current, &hash) {
        return Err(AccountError::WrongPassword);
    }
    let length = new.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&length)
        || new.trim().chars().count() < MIN_PASSWORD_CHARS
        || new.eq_ignore_ascii_case(&user.name)
        || new == current
    {
        return Err(AccountError::WeakPassword);
    }
    let new_hash = auth::hash_password(new);
    let tx = store.begin_write().await?;
    // The password proved above must still be the user's: two changes at once, or a change and
    // an administrator's reset, must not both report success.
    if !mend_store::users::replace_password(&tx, user.user_id, &new_hash, Some(&hash)).await? {
        mend_store::rollback(tx).await?;
        return Err(AccountError::WrongPassword);
    }
    let ended = mend_store::sessions::revoke_user_sessions(&tx, user.user_id, keep_session, now).await?;
    let detail = json!({"sessions_ended": ended});
    let actor = format!("user:{}", user.name);
    mend_store::audit::record_audit(&tx, user_entry(&user, &actor, "user.password_change", detail, now)).await?;
    mend_store::commit(tx).await?;
    Ok(ended)
}

async fn find<C: mend_store::ConnectionTrait>(conn: &C, key: &UserKey) -> Result<(UserRecord, String), AccountError> {
    mend_store::users::find_user(conn, key).await?.ok_or_else(|| AccountError::NoSuchUser(key.clone()))
}

async fn set_active<C: mend_store::ConnectionTrait>(
    conn: &C,
    user: &UserRecord,
    active: bool,
) -> Result<UserRecord, AccountError> {
    mend_store::users::set_active(conn, user.user_id, active)
        .await?
        .ok_or_else(|| AccountError::NoSuchUser(UserKey::Id(user.user_id)))
}

/// An audit entry about `user`.
pub(crate) fn user_entry(
    user: &UserRecord,
    actor: &str,
    action: &str,
    mut detail: serde_json::Value,
    at: DateTime<Utc>,
) -> AuditEntry {
    detail["name"] = user.name.clone().into();
    AuditEntry {
        at,
        actor: actor.to_owned(),
        action: action.to_owned(),
        subject_kind: "user".into(),
        subject_id: Some(user.user_id.as_uuid()),
        detail,
    }
}
