//! PostgreSQL compresses the large text columns a complaint import writes on every row (a
//! complaint's raw payload, text and grouping reason; a case's terms and fingerprint) with lz4
//! rather than its default pglz: pglz was a tenth of the server's time in an import, and lz4
//! costs a fraction of that (BENCHMARKS.md, "lz4"). Values already stored keep their
//! compression until rewritten. A server built without lz4 (or older than PostgreSQL 14) keeps
//! pglz; SQLite does not compress.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// `EXECUTE`d, so a server that cannot parse `SET COMPRESSION` fails at run time, inside the
/// handler.
const LZ4: &str = "DO $$
BEGIN
    EXECUTE 'ALTER TABLE complaints ALTER COLUMN raw_payload SET COMPRESSION lz4, \
             ALTER COLUMN text SET COMPRESSION lz4, ALTER COLUMN grouping_reason SET COMPRESSION lz4';
    EXECUTE 'ALTER TABLE cases ALTER COLUMN signature SET COMPRESSION lz4, \
             ALTER COLUMN fingerprint SET COMPRESSION lz4';
EXCEPTION WHEN feature_not_supported OR syntax_error THEN
    RAISE NOTICE 'lz4 compression is not available on this server: large columns stay with pglz';
END $$";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            DbBackend::Postgres => crate::execute_all(manager, [LZ4]).await,
            _ => Ok(()),
        }
    }
}
