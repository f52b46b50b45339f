//! The `sign_in_failures` table: wrong passwords in a row for each name typed at sign-in, and
//! until when that name is refused.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, Statement};

use crate::StoreError;
use crate::bulk::param;
use crate::error::During;

const TABLE: &str = "sign_in_failures";

/// Until when sign-ins as `name` are refused, if they are at `now`.
pub async fn locked_until<C: ConnectionTrait>(
    conn: &C,
    name: &str,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let backend = conn.get_database_backend();
    let row = conn
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "SELECT locked_until FROM sign_in_failures WHERE name = {} AND locked_until > {}",
                param(backend, 1),
                param(backend, 2)
            ),
            [name.into(), now.into()],
        ))
        .await
        .during(TABLE, "locked_until")?;
    row.map(|row| row.try_get_by_index::<DateTime<Utc>>(0)).transpose().during(TABLE, "locked_until")
}

/// Counts a wrong password for `name` at `now` — the count starts again when the last failure
/// is older than `streak_since` — and refuses the name until `lock_until` once the count
/// reaches `most`. Concurrent failures each count: the increment is one statement.
pub async fn record_failure<C: ConnectionTrait>(
    conn: &C,
    name: &str,
    now: DateTime<Utc>,
    streak_since: DateTime<Utc>,
    most: i32,
    lock_until: DateTime<Utc>,
) -> Result<(), StoreError> {
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
    .during(TABLE, "record_failure")?;
    conn.execute_raw(Statement::from_sql_and_values(
        backend,
        format!(
            "INSERT INTO sign_in_failures (name, failures, last_failed_at) VALUES ({}, 1, {}) \
             ON CONFLICT (name) DO UPDATE SET failures = sign_in_failures.failures + 1, last_failed_at = excluded.last_failed_at",
            p(1),
            p(2)
        ),
        [name.into(), now.into()],
    ))
    .await
    .during(TABLE, "record_failure")?;
    conn.execute_raw(Statement::from_sql_and_values(
        backend,
        format!(
            "UPDATE sign_in_failures SET locked_until = {}, failures = 0 WHERE name = {} AND failures >= {}",
            p(1),
            p(2),
            p(3)
        ),
        [lock_until.into(), name.into(), most.into()],
    ))
    .await
    .during(TABLE, "record_failure")?;
    Ok(())
}

/// Forgets the failures of `name` (a right password).
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
