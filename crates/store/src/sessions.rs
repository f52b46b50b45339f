//! The `sessions` table: browser sign-ins, by the SHA-256 of their token.

use chrono::{DateTime, Utc};
use mend_core::UserId;
use sea_orm::{ConnectionTrait, Statement};

use crate::StoreError;
use crate::bulk;
use crate::error::During;

const TABLE: &str = "sessions";

/// Opens a session for `user` if they are still active and their password still hashes to
/// `password_hash` (what the sign-in just checked): a deactivation or a password reset that
/// committed in between wins (on PostgreSQL the user's row is share-locked, so one still being
/// written is waited for; SQLite writes one at a time). False when it did.
pub async fn create_session<C: ConnectionTrait>(
    conn: &C,
    token_hash: &str,
    user: UserId,
    password_hash: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let backend = conn.get_database_backend();
    let p = |n| bulk::param(backend, n);
    let lock = match backend {
        sea_orm::DbBackend::Postgres => " FOR SHARE",
        _ => "",
    };
    let sql = format!(
        "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) SELECT {}, {}, {}, {} \
         WHERE EXISTS (SELECT 1 FROM users WHERE id = {} AND active AND password_hash = {}{lock})",
        p(1),
        p(2),
        p(3),
        p(4),
        p(2),
        p(5)
    );
    let values = [token_hash.into(), user.as_uuid().into(), now.into(), expires_at.into(), password_hash.into()];
    let done =
        conn.execute_raw(Statement::from_sql_and_values(backend, sql, values)).await.during(TABLE, "create_session")?;
    Ok(done.rows_affected() == 1)
}

/// The users of the sessions among `token_hashes` that have not run out or been revoked, by
/// hash (whether those users are still active is theirs to check: [`crate::users::holders_of`]).
pub(crate) async fn live_sessions<C: ConnectionTrait>(
    conn: &C,
    token_hashes: &[&str],
    now: DateTime<Utc>,
) -> Result<Vec<(String, UserId)>, StoreError> {
    if token_hashes.is_empty() {
        return Ok(Vec::new());
    }
    let backend = conn.get_database_backend();
    let sql = format!(
        "SELECT token_hash, user_id FROM sessions WHERE token_hash {} AND revoked_at IS NULL AND expires_at > {}",
        bulk::in_texts(backend, 1),
        bulk::param(backend, 2)
    );
    let values = vec![bulk::text_param(backend, token_hashes)?, now.into()];
    let rows = conn
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await
        .during(TABLE, "live_sessions")?;
    rows.iter()
        .map(|row| {
            let hash: String = row.try_get_by_index(0).during(TABLE, "live_sessions")?;
            let user: uuid::Uuid = row.try_get_by_index(1).during(TABLE, "live_sessions")?;
            Ok((hash, UserId::from_uuid(user)))
        })
        .collect()
}

/// Ends a session (logout); true if it was live.
pub async fn revoke_session<C: ConnectionTrait>(
    conn: &C,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let backend = conn.get_database_backend();
    let p = |n| bulk::param(backend, n);
    let sql = format!("UPDATE sessions SET revoked_at = {} WHERE token_hash = {} AND revoked_at IS NULL", p(1), p(2));
    let done = conn
        .execute_raw(Statement::from_sql_and_values(backend, sql, [now.into(), token_hash.into()]))
        .await
        .during(TABLE, "revoke_session")?;
    Ok(done.rows_affected() == 1)
}

/// Ends every session of a user (their API token rotated, their password changed, the account
/// deactivated) but the one whose token hashes to `except`, if any (the page that changed the
/// password stays signed in).
pub async fn revoke_user_sessions<C: ConnectionTrait>(
    conn: &C,
    user: UserId,
    except: Option<&str>,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let backend = conn.get_database_backend();
    let p = |n| bulk::param(backend, n);
    let sql = format!(
        "UPDATE sessions SET revoked_at = {} WHERE user_id = {} AND revoked_at IS NULL AND token_hash <> {}",
        p(1),
        p(2),
        p(3)
    );
    let values = [now.into(), user.as_uuid().into(), except.unwrap_or_default().into()];
    let done = conn
        .execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await
        .during(TABLE, "revoke_user_sessions")?;
    Ok(done.rows_affected())
}

/// Deletes the sessions that ran out or were revoked before `now`; how many.
pub async fn purge_sessions<C: ConnectionTrait>(conn: &C, now: DateTime<Utc>) -> Result<u64, StoreError> {
    let backend = conn.get_database_backend();
    let p = |n| bulk::param(backend, n);
    let sql = format!("DELETE FROM sessions WHERE expires_at <= {} OR revoked_at <= {}", p(1), p(1));
    let done = conn
        .execute_raw(Statement::from_sql_and_values(backend, sql, [now.into()]))
        .await
        .during(TABLE, "purge_sessions")?;
    Ok(done.rows_affected())
}
