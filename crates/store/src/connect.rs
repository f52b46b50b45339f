use std::path::Path;
use std::time::Duration;

use mend_migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

use crate::StoreError;
use crate::batch::EncodedWrite;
use crate::checkpoint::{AUTOCHECKPOINT_PAGES, Checkpointer, LogCopier};
use crate::error::During;
use crate::key_tiers::UnsettledKeys;

const TABLE: &str = "database";

/// Tasks created by one sweep after which the planner's statistics of `tasks` are refreshed
/// (autovacuum would, within a minute or so; the desk's first claims come sooner).
const MANY_TASKS: u64 = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub(crate) fn db_backend(self) -> DbBackend {
        match self {
            Backend::Sqlite => DbBackend::Sqlite,
            Backend::Postgres => DbBackend::Postgres,
        }
    }
}

/// A pool of connections to one mend database.
#[derive(Debug, Clone)]
pub struct Store {
    db: DatabaseConnection,
    unsettled_keys: UnsettledKeys,
}

/// What [`Store::migrate`] did to the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaChange {
    None,
    Upgraded,
    /// The database held no mend tables: it is not the desk's, or it was never used.
    Created,
}

impl Store {
    /// Opens `url` (`sqlite://…` or `postgres://…`), creating a SQLite file and its directory
    /// when the URL asks for it (`mode=rwc`).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        if let Some(dir) = sqlite_file(url).and_then(|p| Path::new(p).parent()).filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|source| StoreError::Directory { path: dir.display().to_string(), source })?;
        }
        let mut options = ConnectOptions::new(url);
        options
            .sqlx_logging(false)
            .acquire_timeout(Duration::from_secs(30))
            // WAL lets other processes read (an export while `mend serve` or an import writes);
            // inside one process sea-orm keeps a single SQLite connection, which bulk work
            // measured faster than several (BENCHMARKS.md, callback generation). NORMAL sync is
            // durable across application crashes, which is what a WAL database promises.
            .map_sqlx_sqlite_opts(|o| {
                o.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true)
                    // Complaint rows are around 600 bytes; 8 KiB pages split less often than the
                    // default 4 KiB (measured in BENCHMARKS.md). Takes effect for new files.
                    .page_size(8192)
                    .pragma("cache_size", "-32768")
                    .pragma("wal_autocheckpoint", AUTOCHECKPOINT_PAGES.to_string())
                    .pragma("temp_store", "memory")
            });
        let db = Database::connect(options).await.map_err(|source| StoreError::Connect { url: redact(url), source })?;
        Ok(Self { db, unsettled_keys: UnsettledKeys::default() })
    }

    /// Brings the schema up to date, and says what that took. An up-to-date schema is only
    /// read, so the commands that read (exports, `mend check`) also run against a read-only
    /// replica or user.
    pub async fn migrate(&self) -> Result<SchemaChange, StoreError> {
        let pending = Migrator::get_pending_migrations_read_only(&self.db).await.map_err(StoreError::Migrate)?;
        if pending.is_empty() {
            return Ok(SchemaChange::None);
        }
        let created = pending.len() == Migrator::migrations().len();
        Migrator::up(&self.db, None).await.map_err(StoreError::Migrate)?;
        Ok(if created { SchemaChange::Created } else { SchemaChange::Upgraded })
    }

    pub fn backend(&self) -> Backend {
        match self.db.get_database_backend() {
            DbBackend::Postgres => Backend::Postgres,
            _ => Backend::Sqlite,
        }
    }

    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// A read-only view: on SQLite a snapshot that never blocks writers.
    pub async fn begin(&self) -> Result<DatabaseTransaction, StoreError> {
        self.db.begin().await.map_err(|source| StoreError::Transaction { action: "begin", source })
    }

    /// A transaction that will write. On SQLite it takes the write lock at once (`BEGIN
    /// IMMEDIATE`): a deferred transaction that read first and wrote second would fail with
    /// `SQLITE_BUSY_SNAPSHOT` whenever another writer committed in between, instead of waiting
    /// its turn. On PostgreSQL it is a plain transaction; row locks order concurrent writers.
    pub async fn begin_write(&self) -> Result<DatabaseTransaction, StoreError> {
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        };
        self.db.begin_with_options(options).await.map_err(|source| StoreError::Transaction { action: "begin", source })
    }

    /// Brings the query planner's row statistics up to date with the intake tables. A bulk
    /// import grows them far faster than autovacuum re-analyzes (once a minute at best), and
    /// with statistics from when a table was small PostgreSQL plans the merge updates as
    /// sequential scans. SQLite plans from its indexes alone: nothing to do.
    pub async fn refresh_statistics(&self) -> Result<(), StoreError> {
        if self.backend() == Backend::Postgres {
            let sql = "ANALYZE complaints (case_id, channel, source_id), cases (customer_id, status), customers (id), \
                       customer_identities (kind, value, customer_id)";
            self.db.execute_unprepared(sql).await.during(TABLE, "refresh_statistics")?;
        }
        Ok(())
    }

    /// On SQLite, a checkpointer that copies the write-ahead log into the database file beside
    /// a long run of write transactions (an import) instead of inside its commits; `None` on
    /// PostgreSQL, whose server does that itself.
    pub async fn background_checkpoints(&self) -> Result<Option<Checkpointer>, StoreError> {
        match self.backend() {
            Backend::Sqlite => Ok(Some(Checkpointer::start(&self.db).await?)),
            Backend::Postgres => Ok(None),
        }
    }

    /// On SQLite, a copier of the write-ahead log into the database file every `period`, for a
    /// server whose requests' commits should not do it; `None` on PostgreSQL.
    pub async fn copy_log_every(&self, period: Duration) -> Result<Option<LogCopier>, StoreError> {
        match self.backend() {
            Backend::Sqlite => Ok(Some(LogCopier::start(&self.db, period).await?)),
            Backend::Postgres => Ok(None),
        }
    }

    /// Executes a batch's statements in the writer's transaction `tx`. On SQLite, once enough
    /// new identity keys have gathered they are settled in the same transaction (see
    /// [`crate::key_tiers`]).
    pub async fn write_batch(&self, tx: &DatabaseTransaction, write: EncodedWrite) -> Result<(), StoreError> {
        let linked = write.new_identity_keys();
        write.execute(tx).await?;
        if self.backend() == Backend::Sqlite && self.unsettled_keys.due(linked) {
            crate::key_tiers::settle_identity_keys(tx).await?;
        }
        Ok(())
    }

    /// After a sweep created this many tasks: later sweeps find the tasks of the cases they look
    /// at, and the desk's claims take tasks by their ids, by index only while PostgreSQL's
    /// planner knows how many there are.
    pub async fn wrote_tasks(&self, created: u64) -> Result<(), StoreError> {
        if created >= MANY_TASKS && self.backend() == Backend::Postgres {
            self.db
                .execute_unprepared("ANALYZE tasks (id, case_id, status, priority, due_at, not_before, created_at)")
                .await
                .during(TABLE, "wrote_tasks")?;
        }
        Ok(())
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db.ping().await.during(TABLE, "ping")
    }

    pub async fn close(self) -> Result<(), StoreError> {
        self.db.close().await.during(TABLE, "close")
    }
}

/// Commits a unit of work begun with [`Store::begin_write`].
pub async fn commit(tx: DatabaseTransaction) -> Result<(), StoreError> {
    tx.commit().await.map_err(|source| StoreError::Transaction { action: "commit", source })
}

/// Abandons a unit of work.
pub async fn rollback(tx: DatabaseTransaction) -> Result<(), StoreError> {
    tx.rollback().await.map_err(|source| StoreError::Transaction { action: "roll back", source })
}

/// The file a SQLite URL names (none for PostgreSQL or an in-memory database).
pub fn sqlite_file(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.starts_with(":memory:")).then_some(path)
}

/// Keeps passwords out of error messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}://{user}:***@{}", &url[..scheme_end], &url[at + 1..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_sqlite_file_to_create() {
        assert_eq!(sqlite_file("sqlite://data/mend.db?mode=rwc"), Some("data/mend.db"));
        assert_eq!(sqlite_file("sqlite:/tmp/x.db"), Some("/tmp/x.db"));
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://localhost/test"), None);
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("postgres://mend:s3cret@db:5432/mend"), "postgres://mend:***@db:5432/mend");
        assert_eq!(redact("postgres://mend@db/mend"), "postgres://mend@db/mend");
        assert_eq!(redact("sqlite://data/mend.db"), "sqlite://data/mend.db");
    }
}
