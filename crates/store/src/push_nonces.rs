//! The `push_nonces` table: each signed `<timestamp>:<nonce>` stamp a channel pushed with, and
//! the hash of the body it came with, until its signature window has passed.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use sha2::{Digest, Sha256};

use crate::StoreError;
use crate::error::During;

const TABLE: &str = "push_nonces";

/// What a nonce was before this push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceSeen {
    /// Not seen in its window: remembered now.
    New,
    /// Seen with the same body: the sender retrying.
    SameBody,
    /// Seen with another body: a replayed signature.
    OtherBody,
}

/// Remembers `stamp` (`<timestamp>:<nonce>`) of `channel` with the hash of `body` until
/// `expires_at`, and says whether it was seen before (and with which body). Expired stamps are
/// forgotten first. Concurrent pushes of one stamp are decided by the primary key: one inserts,
/// the others find its row.
pub async fn remember<C: ConnectionTrait>(
    conn: &C,
    channel: &str,
    stamp: &str,
    body: &[u8],
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<NonceSeen, StoreError> {
    let body_sha256 = hex::encode(Sha256::digest(body));
    let body_sha256 = body_sha256.as_str();
    let backend = conn.get_database_backend();
    let (p1, p2, p3, p4) = match backend {
        DbBackend::Postgres => ("$1", "$2", "$3", "$4"),
        _ => ("?1", "?2", "?3", "?4"),
    };
    conn.execute_raw(Statement::from_sql_and_values(
        backend,
        format!("DELETE FROM push_nonces WHERE expires_at < {p1}"),
        [now.into()],
    ))
    .await
    .during(TABLE, "remember")?;
    let inserted = conn
        .execute_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "INSERT INTO push_nonces (channel, stamp, body_sha256, expires_at) VALUES ({p1}, {p2}, {p3}, {p4}) \
                 ON CONFLICT (channel, stamp) DO NOTHING"
            ),
            [channel.into(), stamp.into(), body_sha256.into(), expires_at.into()],
        ))
        .await
        .during(TABLE, "remember")?
        .rows_affected();
    if inserted == 1 {
        return Ok(NonceSeen::New);
    }
    let row = conn
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            format!("SELECT body_sha256 FROM push_nonces WHERE channel = {p1} AND stamp = {p2}"),
            [channel.into(), stamp.into()],
        ))
        .await
        .during(TABLE, "remember")?
        .ok_or_else(|| StoreError::corrupt(TABLE, format_args!("{channel}/{stamp}"), "vanished after a conflict"))?;
    let stored: String = row.try_get_by_index(0).during(TABLE, "remember")?;
    Ok(if stored == body_sha256 { NonceSeen::SameBody } else { NonceSeen::OtherBody })
}
