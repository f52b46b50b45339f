use sea_orm::{DbErr, SqlErr};

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
    /// A concurrent writer got there first; repeating the whole unit of work will see its rows.
    pub fn is_conflict(&self) -> bool {
        match self {
            StoreError::Db(e) => matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))),
            _ => false,
        }
    }
}
