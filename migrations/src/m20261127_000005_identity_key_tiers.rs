//! On SQLite, the identity-key index in two tiers. Phone numbers and openids arrive in no order,
//! so every new key lands on a random leaf of the one big key index, and SQLite writes each leaf
//! it changed whole into its log at every commit: once the index has more leaves than a
//! transaction has new keys, an import rewrote nearly the whole index each transaction, and the
//! cost of a complaint grew with the history (BENCHMARKS.md, issue #5). New keys now go into a
//! small index of recent keys (`settled = 0`), which the store's `settle_identity_keys` moves in
//! key order into the large one now and then; lookups ask both, and a trigger keeps a key unique
//! across the two. PostgreSQL logs an index insert as a few dozen bytes, not a page, and keeps
//! its single index.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != sea_orm::DbBackend::Sqlite {
            return Ok(());
        }
        let conn = manager.get_connection();
        for sql in [
            "ALTER TABLE customer_identities ADD COLUMN settled BOOLEAN NOT NULL DEFAULT 0",
            "UPDATE customer_identities SET settled = 1",
            "DROP INDEX ux_identities_key",
            "CREATE UNIQUE INDEX ux_identities_key_recent ON customer_identities (kind, value) WHERE settled = 0",
            "CREATE UNIQUE INDEX ux_identities_key_settled ON customer_identities (kind, value) WHERE settled = 1",
            "CREATE TRIGGER identities_key_unique_across_tiers BEFORE INSERT ON customer_identities \
             WHEN (NEW.settled = 0 AND EXISTS (SELECT 1 FROM customer_identities s \
                     WHERE s.kind = NEW.kind AND s.value = NEW.value AND s.settled = 1)) \
               OR (NEW.settled = 1 AND EXISTS (SELECT 1 FROM customer_identities r \
                     WHERE r.kind = NEW.kind AND r.value = NEW.value AND r.settled = 0)) \
             BEGIN SELECT RAISE(ABORT, 'identity key linked twice: customer_identities.kind, customer_identities.value'); END",
        ] {
            conn.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
