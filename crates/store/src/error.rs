use sea_orm::{DbErr, RuntimeErr, SqlErr};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database at `{url}`: {source}")]
    Connect { url: String, source: DbErr },
    #[error("cannot prepare the database directory `{path}`: {source}")]
    Directory { path: String, source: std::io::Error },
    #[error("database migration failed: {0}")]
    Migrate(DbErr),
    #[error("stored row is corrupt: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

impl StoreError {
    /// A concurrent writer got there first (a unique key it wrote, or PostgreSQL broke a
    /// deadlock between the two); repeating the whole unit of work will see its rows.
    pub fn is_conflict(&self) -> bool {
        let StoreError::Db(e) = self else { return false };
        if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) {
            return true;
        }
        // 40P01 deadlock_detected, 40001 serialization_failure.
        let (DbErr::Exec(RuntimeErr::SqlxError(driver)) | DbErr::Query(RuntimeErr::SqlxError(driver))) = e else {
            return false;
        };
        driver.as_database_error().and_then(|d| d.code()).is_some_and(|code| code == "40P01" || code == "40001")
    }
}
