//! The `sign_in_failures` table: sign-in attempts in a row without a right password for each
//! name typed from each source (the client's address), and until when that pair is refused.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, Statement};

use crate::StoreError;
use crate::bulk::param;
use crate::error::During;

const TABLE: &str = "sign_in_failures";

/// Until when sign-ins as `name` from `source` are refused, if they are at `now`.
pub async fn locked_until<C: ConnectionTrait>(
    conn: &C,
    name: &str,
    source: &str,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let backend = conn.get_database_backend();
    let row = conn
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "SELECT locked_until FROM sign_in_failures WHERE name = {} AND source = {} AND locked_until > {}",
                param(backend, 1),
                param(backend, 2),
                param(backend, 3)
            ),
            [name.into(), source.into(), now.into()],
        ))
        .await
        .during(TABLE, "locked_until")?;
    row.map(|row| row.try_get_by_index::<DateTime<Utc>>(0)).transpose().during(TABLE, "locked_until")
}

/// Counts a sign-in attempt for `name` from `source` at `now`, before its password is checked,
/// and says whether it may be checked: counting first, in one statement, is what stops a burst
/// of concurrent guesses from all being checked before the first failure is written. The count
/// starts again when the last attempt is older than `streak_since`; past `most` attempts the
/// pair is refused until `lock_until` (a right password [`forget`]s the count).
pub async fn count_attempt<C: ConnectionTrait>(
    conn: &C,
    name: &str,
    source: &str,
    now: DateTime<Utc>,
    streak_since: DateTime<Utc>,
    most: i32,
    lock_until: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let backend = conn.get_database_backend();
    let p = |n| param(backend, n);
    // Expired locks and old streaks are forgotten first, so the table holds recent guesses only.
    conn.execute_raw(Statement::from_sql_and_values(
        backend,
        format!(
            "DELETE FROM sign_in_failures WHERE last_failed_at < {} AND (locked_until IS NULL OR locked_until < {})",
            p(1),
            p(2)
        ),
        [streak_since.into(), now.into()],
    ))
    .await
    .during(TABLE, "count_attempt")?;
    let row = conn
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "INSERT INTO sign_in_failures (name, source, failures, last_failed_at) VALUES ({}, {}, 1, {}) \
                 ON CONFLICT (name, source) DO UPDATE SET failures = sign_in_failures.failures + 1, \
                 last_failed_at = excluded.last_failed_at RETURNING failures",
                p(1),
                p(2),
                p(3)
            ),
            [name.into(), source.into(), now.into()],
        ))
        .await
        .during(TABLE, "count_attempt")?
        .ok_or_else(|| StoreError::corrupt(TABLE, name, "no row after counting an attempt"))?;
    let attempts: i32 = row.try_get_by_index(0).during(TABLE, "count_attempt")?;
    if attempts <= most {
        return Ok(true);
    }
    conn.execute_raw(Statement::from_sql_and_values(
        backend,
        format!("UPDATE sign_in_failures SET locked_until = {} WHERE name = {} AND source = {}", p(1), p(2), p(3)),
        [lock_until.into(), name.into(), source.into()],
    ))
    .await
    .during(TABLE, "count_attempt")?;
    Ok(false)
}

/// The attempts from `source`, across every name, counted since `since` and not yet cleared by
/// a right password there: the guesses of one client that tries many names once each.
pub async fn failures_from<C: ConnectionTrait>(
    conn: &C,
    source: &str,
    since: DateTime<Utc>,
) -> Result<i64, StoreError> {
    failures_where(conn, "source", source, since, "failures_from").await
}

/// The attempts at `name`, from every source, counted since `since` and not yet cleared by a
/// right password from there: one name guessed at from many addresses.
pub async fn failures_of<C: ConnectionTrait>(conn: &C, name: &str, since: DateTime<Utc>) -> Result<i64, StoreError> {
    failures_where(conn, "name", name, since, "failures_of").await
}

async fn failures_where<C: ConnectionTrait>(
    conn: &C,
    column: &str,
    value: &str,
    since: DateTime<Utc>,
    operation: &'static str,
) -> Result<i64, StoreError> {
    let backend = conn.get_database_backend();
    let row = conn
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "SELECT CAST(COALESCE(SUM(failures), 0) AS BIGINT) FROM sign_in_failures \
                 WHERE {column} = {} AND last_failed_at >= {}",
                param(backend, 1),
                param(backend, 2)
            ),
            [value.into(), since.into()],
        ))
        .await
        .during(TABLE, operation)?
        .ok_or_else(|| StoreError::corrupt(TABLE, value, "no row from a sum"))?;
    row.try_get_by_index::<i64>(0).during(TABLE, operation)
}

/// Forgets the failures of `name` from every source (a new password).
pub async fn forget<C: ConnectionTrait>(conn: &C, name: &str) -> Result<(), StoreError> {
    let backend = conn.get_database_backend();
    conn.execute_raw(Statement::from_sql_and_values(
        backend,
        format!("DELETE FROM sign_in_failures WHERE name = {}", param(backend, 1)),
        [name.into()],
    ))
    .await
    .during(TABLE, "forget")?;
    Ok(())
}

/// Forgets the failures of `name` from `source` (a right password from there; guesses from
/// elsewhere still count).
pub async fn forget_from<C: ConnectionTrait>(conn: &C, name: &str, source: &str) -> Result<(), StoreError> {
    let backend = conn.get_database_backend();
    conn.execute_raw(Statement::from_sql_and_values(
        backend,
        format!("DELETE FROM sign_in_failures WHERE name = {} AND source = {}", param(backend, 1), param(backend, 2)),
        [name.into(), source.into()],
    ))
    .await
    .during(TABLE, "forget_from")?;
    Ok(())
}
