//! The `idempotency_keys` table: the first answer to a POST that carried an `Idempotency-Key`,
//! per user, so a retry gets that answer instead of acting twice.

use chrono::{DateTime, Utc};
use mend_core::UserId;
use sea_orm::{ConnectionTrait, Statement};

use crate::StoreError;
use crate::bulk;
use crate::error::During;

const TABLE: &str = "idempotency_keys";

/// Where a keyed request stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyedRequest {
    /// First seen now: act, then [`remember_answer`].
    Fresh,
    /// Answered before: give this answer again.
    Answered { status: u16, body: String },
    /// The first request with this key is still being answered.
    InProgress,
    /// The key was used for another request (another path or body).
    Reused,
}

/// Claims `key` for this request, or says how it was used before.
pub async fn claim_key<C: ConnectionTrait>(
    conn: &C,
    key: &str,
    user: UserId,
    path: &str,
    request_sha256: &str,
    now: DateTime<Utc>,
) -> Result<KeyedRequest, StoreError> {
    let backend = conn.get_database_backend();
    let p = |n| bulk::param(backend, n);
    let insert = format!(
        "INSERT INTO idempotency_keys (key, user_id, request_path, response_status, response_body, created_at, request_sha256) \
         VALUES ({}, {}, {}, 0, '', {}, {}) ON CONFLICT DO NOTHING",
        p(1),
        p(2),
        p(3),
        p(4),
        p(5)
    );
    let values = [key.into(), user.as_uuid().into(), path.into(), now.into(), request_sha256.into()];
    let inserted =
        conn.execute_raw(Statement::from_sql_and_values(backend, insert, values)).await.during(TABLE, "claim_key")?;
    if inserted.rows_affected() == 1 {
        return Ok(KeyedRequest::Fresh);
    }
    let select = format!(
        "SELECT request_path, request_sha256, response_status, response_body FROM idempotency_keys \
         WHERE key = {} AND user_id = {}",
        p(1),
        p(2)
    );
    let row = conn
        .query_one_raw(Statement::from_sql_and_values(backend, select, [key.into(), user.as_uuid().into()]))
        .await
        .during(TABLE, "claim_key")?
        .ok_or_else(|| StoreError::corrupt(TABLE, key, "vanished after a conflict"))?;
    let stored_path: String = row.try_get_by_index(0).during(TABLE, "claim_key")?;
    let stored_hash: String = row.try_get_by_index(1).during(TABLE, "claim_key")?;
    let status: i32 = row.try_get_by_index(2).during(TABLE, "claim_key")?;
    if stored_path != path || stored_hash != request_sha256 {
        return Ok(KeyedRequest::Reused);
    }
    if status == 0 {
        return Ok(KeyedRequest::InProgress);
    }
    let body: String = row.try_get_by_index(3).during(TABLE, "claim_key")?;
    Ok(KeyedRequest::Answered { status: u16::try_from(status).unwrap_or(500), body })
}

/// Keeps the answer a keyed request got.
pub async fn remember_answer<C: ConnectionTrait>(
    conn: &C,
    key: &str,
    user: UserId,
    status: u16,
    body: &str,
) -> Result<(), StoreError> {
    let backend = conn.get_database_backend();
    let p = |n| bulk::param(backend, n);
    let sql = format!(
        "UPDATE idempotency_keys SET response_status = {}, response_body = {} WHERE key = {} AND user_id = {}",
        p(1),
        p(2),
        p(3),
        p(4)
    );
    let values = [i32::from(status).into(), body.into(), key.into(), user.as_uuid().into()];
    conn.execute_raw(Statement::from_sql_and_values(backend, sql, values)).await.during(TABLE, "remember_answer")?;
    Ok(())
}

/// Lets the key be used again (the request failed on our side; a retry should act).
pub async fn release_key<C: ConnectionTrait>(conn: &C, key: &str, user: UserId) -> Result<(), StoreError> {
    let backend = conn.get_database_backend();
    let sql = format!(
        "DELETE FROM idempotency_keys WHERE key = {} AND user_id = {}",
        bulk::param(backend, 1),
        bulk::param(backend, 2)
    );
    conn.execute_raw(Statement::from_sql_and_values(backend, sql, [key.into(), user.as_uuid().into()]))
        .await
        .during(TABLE, "release_key")?;
    Ok(())
}

/// Forgets the answers of keys first used before `before`; how many.
pub async fn purge_keys<C: ConnectionTrait>(conn: &C, before: DateTime<Utc>) -> Result<u64, StoreError> {
    let backend = conn.get_database_backend();
    let sql = format!("DELETE FROM idempotency_keys WHERE created_at < {}", bulk::param(backend, 1));
    let done = conn
        .execute_raw(Statement::from_sql_and_values(backend, sql, [before.into()]))
        .await
        .during(TABLE, "purge_keys")?;
    Ok(done.rows_affected())
}
