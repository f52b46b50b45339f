//! SQLite's identity-key index in two tiers (see migration `m20261127_000005`): new keys go into
//! a small index of recent keys, and [`settle_identity_keys`] moves them, in key order, into the
//! large index of settled ones. Phone numbers and openids arrive in no order, so with one index
//! every new key changed a random leaf of a large tree, and SQLite logs each changed page whole
//! at commit: the cost of a key grew with the number of keys stored. Settled in bulk, a leaf of
//! the large index is rewritten once for many keys. PostgreSQL logs an index insert as a few
//! bytes, not a page, and keeps one index: everything here is a no-op there.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use sea_orm::{ConnectionTrait, DbBackend};

use crate::StoreError;
use crate::error::During;

const TABLE: &str = "customer_identities";

/// What the trigger that keeps a key unique across the tiers says when it refuses one
/// (migration `m20261127_000005`).
pub(crate) const LINKED_TWICE: &str = "identity key linked twice";

/// How many recent keys a writer lets gather before it settles them. Settling rewrites at most
/// every leaf of the settled index once; between settlements each commit rewrites the leaves of
/// the recent index it touched, which stays this small.
pub const SETTLE_AFTER_KEYS: usize = 50_000;

/// Counts the keys linked since the last settlement, across the clones of a [`crate::Store`]
/// (which write to the same database). Keys linked before the process started are not counted,
/// so the recent tier may hold up to twice the threshold after a restart.
#[derive(Debug, Clone, Default)]
pub(crate) struct UnsettledKeys(Arc<AtomicUsize>);

impl UnsettledKeys {
    /// Adds the keys a write links; true once [`SETTLE_AFTER_KEYS`] have gathered, and the
    /// count starts over.
    pub(crate) fn due(&self, linked: usize) -> bool {
        let gathered = self.0.fetch_add(linked, Ordering::Relaxed) + linked;
        gathered >= SETTLE_AFTER_KEYS && self.0.swap(0, Ordering::Relaxed) > 0
    }
}

/// How many keys are in the recent tier (always 0 on PostgreSQL).
pub async fn recent_identity_keys<C: ConnectionTrait>(conn: &C) -> Result<usize, StoreError> {
    if conn.get_database_backend() != DbBackend::Sqlite {
        return Ok(0);
    }
    let sql = "SELECT count(*) AS n FROM customer_identities WHERE settled = 0";
    let row = conn
        .query_one_raw(sea_orm::Statement::from_string(DbBackend::Sqlite, sql))
        .await
        .during(TABLE, "recent_identity_keys")?
        .ok_or_else(|| StoreError::corrupt(TABLE, "count", "the count returned no row"))?;
    let n: i64 = row.try_get("", "n").during(TABLE, "recent_identity_keys")?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// Moves every recent key into the settled tier. Run it inside the writer's transaction, so
/// the settled index's leaves are logged once, with the commit that ends it.
pub async fn settle_identity_keys<C: ConnectionTrait>(conn: &C) -> Result<(), StoreError> {
    if conn.get_database_backend() != DbBackend::Sqlite {
        return Ok(());
    }
    // OR FAIL: a statement that may abort halfway keeps the original of every page it changes
    // in a statement journal, in memory here (temp_store), and this one changes up to the
    // whole settled index. It cannot fail on a key (the trigger keeps keys unique across
    // tiers), and any other failure rolls back the whole transaction anyway.
    conn.execute_unprepared("UPDATE OR FAIL customer_identities SET settled = 1 WHERE settled = 0")
        .await
        .during(TABLE, "settle_identity_keys")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Settling is due once the threshold's worth of keys has gathered, across writes and
    /// clones, and the count then starts over.
    #[test]
    fn keys_are_due_to_settle_once_enough_have_gathered() {
        let keys = UnsettledKeys::default();
        let clone = keys.clone();
        let half = SETTLE_AFTER_KEYS / 2;
        assert!(!keys.due(half));
        assert!(!keys.due(0));
        assert!(clone.due(half), "the clone shares the count");
        assert!(!keys.due(half), "the count started over");
        assert!(keys.due(SETTLE_AFTER_KEYS));
    }
}
