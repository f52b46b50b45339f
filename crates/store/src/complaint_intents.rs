//! The `complaint_intents` table: customers who chose "complain" in a channel's menu, until the
//! messages that say what the problem is may no longer be counted on to follow.

use chrono::{DateTime, Utc};
use mend_core::{Channel, CustomerKey};
use sea_orm::{ConnectionTrait, Statement};

use crate::StoreError;
use crate::bulk::param;
use crate::error::During;

const TABLE: &str = "complaint_intents";

/// Remembers that the customer `key` chose to complain on `channel` at `chosen_at`, until
/// `expires_at` (a later choice replaces an earlier one). Expired choices are forgotten first.
pub async fn remember<C: ConnectionTrait>(
    conn: &C,
    channel: Channel,
    key: &CustomerKey,
    chosen_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let backend = conn.get_database_backend();
    let p = |n| param(backend, n);
    conn.execute_raw(Statement::from_sql_and_values(
        backend,
        format!("DELETE FROM complaint_intents WHERE expires_at < {}", p(1)),
        [now.into()],
    ))
    .await
    .during(TABLE, "remember")?;
    conn.execute_raw(Statement::from_sql_and_values(
        backend,
        format!(
            "INSERT INTO complaint_intents (channel, customer_key, chosen_at, expires_at) VALUES ({}, {}, {}, {}) \
             ON CONFLICT (channel, customer_key) DO UPDATE SET chosen_at = excluded.chosen_at, expires_at = excluded.expires_at \
             WHERE complaint_intents.chosen_at <= excluded.chosen_at",
            p(1),
            p(2),
            p(3),
            p(4)
        ),
        [channel.as_str().into(), key.to_string().into(), chosen_at.into(), expires_at.into()],
    ))
    .await
    .during(TABLE, "remember")?;
    Ok(())
}

/// Whether one of `keys` chose to complain on `channel` at or before `at`, and the choice had
/// not expired by then.
pub async fn chosen_before<C: ConnectionTrait>(
    conn: &C,
    channel: Channel,
    keys: &[CustomerKey],
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let backend = conn.get_database_backend();
    for key in keys {
        let found = conn
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                format!(
                    "SELECT 1 FROM complaint_intents WHERE channel = {} AND customer_key = {} \
                     AND chosen_at <= {} AND expires_at >= {}",
                    param(backend, 1),
                    param(backend, 2),
                    param(backend, 3),
                    param(backend, 3)
                ),
                [channel.as_str().into(), key.to_string().into(), at.into()],
            ))
            .await
            .during(TABLE, "chosen_before")?;
        if found.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}
