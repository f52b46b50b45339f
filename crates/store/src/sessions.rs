//! The `sessions` table: browser sign-ins, by the SHA-256 of their token.

use chrono::{DateTime, Utc};
use mend_core::UserId;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Statement};

use crate::StoreError;
use crate::bulk;
use crate::entities::user;
use crate::error::During;
use crate::users::UserRecord;

const TABLE: &str = "sessions";

pub async fn create_session<C: ConnectionTrait>(
    conn: &C,
    token_hash: &str,
    user: UserId,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let backend = conn.get_database_backend();
    let p = |n| bulk::param(backend, n);
    let sql = format!(
        "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ({}, {}, {}, {})",
        p(1),
        p(2),
        p(3),
        p(4)
    );
    let values = [token_hash.into(), user.as_uuid().into(), now.into(), expires_at.into()];
    conn.execute_raw(Statement::from_sql_and_values(backend, sql, values)).await.during(TABLE, "create_session")?;
    Ok(())
}

/// The active user of a session that has not run out or been revoked.
pub async fn user_by_session<C: ConnectionTrait>(
    conn: &C,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<UserRecord>, StoreError> {
    let backend = conn.get_database_backend();
    let p = |n| bulk::param(backend, n);
    let sql = format!(
        "SELECT user_id FROM sessions WHERE token_hash = {} AND revoked_at IS NULL AND expires_at > {}",
        p(1),
        p(2)
    );
    let row = conn
        .query_one_raw(Statement::from_sql_and_values(backend, sql, [token_hash.into(), now.into()]))
        .await
        .during(TABLE, "user_by_session")?;
    let Some(row) = row else { return Ok(None) };
    let id: uuid::Uuid = row.try_get_by_index(0).during(TABLE, "user_by_session")?;
    let found = user::Entity::find_by_id(id)
        .filter(user::Column::Active.eq(true))
        .one(conn)
        .await
        .during(TABLE, "user_by_session")?;
    found.map(UserRecord::try_from).transpose()
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

/// Ends every session of a user (their API token rotated, or the account deactivated).
pub async fn revoke_user_sessions<C: ConnectionTrait>(
    conn: &C,
    user: UserId,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let backend = conn.get_database_backend();
    let p = |n| bulk::param(backend, n);
    let sql = format!("UPDATE sessions SET revoked_at = {} WHERE user_id = {} AND revoked_at IS NULL", p(1), p(2));
    let done = conn
        .execute_raw(Statement::from_sql_and_values(backend, sql, [now.into(), user.as_uuid().into()]))
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
