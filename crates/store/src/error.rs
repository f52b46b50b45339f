use sea_orm::{DbErr, RuntimeErr, SqlErr};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database at `{url}`: {source}")]
    Connect { url: String, source: DbErr },
    #[error("cannot prepare the database directory `{path}`: {source}")]
    Directory { path: String, source: std::io::Error },
    #[error("database migration failed: {0}")]
    Migrate(DbErr),
    /// A value the database holds that does not read as what it must be: never defaulted.
    #[error("stored row {table} {row} is unreadable: {problem}")]
    Corrupt { table: &'static str, row: String, problem: String },
    /// A statement failed: which read or write, on which table.
    #[error("{operation} on {table} failed: {source}")]
    Statement { table: &'static str, operation: &'static str, source: DbErr },
    #[error("cannot encode a statement's parameters: {0}")]
    Encode(serde_json::Error),
    #[error("`{0}` is not a safe database name")]
    UnsafeDatabaseName(String),
    #[error("cannot {action} a transaction: {source}")]
    Transaction { action: &'static str, source: DbErr },
}

impl StoreError {
    pub fn corrupt(table: &'static str, row: impl std::fmt::Display, problem: impl std::fmt::Display) -> Self {
        StoreError::Corrupt { table, row: row.to_string(), problem: problem.to_string() }
    }

    fn db_error(&self) -> Option<&DbErr> {
        match self {
            StoreError::Statement { source, .. } | StoreError::Transaction { source, .. } => Some(source),
            _ => None,
        }
    }
    /// A concurrent writer got there first (a unique key it wrote, or PostgreSQL broke a
    /// deadlock between the two); repeating the whole unit of work will see its rows.
    pub fn is_conflict(&self) -> bool {
        let Some(e) = self.db_error() else { return false };
        if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) {
            return true;
        }
        // SQLite's identity keys live in two indexes whose uniqueness a trigger keeps (see
        // `key_tiers`): its refusal is a duplicate key like any other.
        if database_error(e).is_some_and(|d| d.message().contains(crate::key_tiers::LINKED_TWICE)) {
            return true;
        }
        // 40P01 deadlock_detected, 40001 serialization_failure.
        database_code(e).is_some_and(|code| code == "40P01" || code == "40001")
    }

    /// The database refused what a statement wrote (a value it cannot hold, a constraint or a
    /// trigger that says no), as opposed to failing itself (gone, full, locked) or a conflict
    /// with a concurrent writer. Repeating the same rows would fail the same way, so intake
    /// quarantines the record that causes it and goes on with the others.
    pub fn is_refusal(&self) -> bool {
        let Some(e) = self.db_error() else { return false };
        if self.is_conflict() {
            return false;
        }
        let Some(database) = database_error(e) else { return false };
        let Some(code) = database.code() else { return false };
        if database.try_downcast_ref::<sea_orm::sqlx::sqlite::SqliteError>().is_some() {
            // SQLITE_TOOBIG, SQLITE_CONSTRAINT (a trigger's RAISE too), SQLITE_MISMATCH.
            return code.parse::<i32>().is_ok_and(|c| matches!(c & 0xff, 18..=20));
        }
        // PostgreSQL: data exception, integrity constraint violation, program limit exceeded.
        ["22", "23", "54"].iter().any(|class| code.starts_with(class))
    }
}

/// The error the database answered with, if the failure is one.
fn database_error(e: &DbErr) -> Option<&(dyn sea_orm::sqlx::error::DatabaseError + 'static)> {
    let (DbErr::Exec(RuntimeErr::SqlxError(driver)) | DbErr::Query(RuntimeErr::SqlxError(driver))) = e else {
        return None;
    };
    driver.as_database_error()
}

/// The SQLite or PostgreSQL code of a database error, if it is one.
fn database_code(e: &DbErr) -> Option<String> {
    database_error(e).and_then(|d| d.code()).map(|c| c.into_owned())
}

/// Names the statement a database error came from.
pub(crate) trait During<T> {
    fn during(self, table: &'static str, operation: &'static str) -> Result<T, StoreError>;
}

impl<T> During<T> for Result<T, DbErr> {
    fn during(self, table: &'static str, operation: &'static str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Statement { table, operation, source })
    }
}
