//! Creating and dropping whole PostgreSQL databases: for test isolation (a fresh database per
//! test, cloned from a migrated template) and for benchmarks that need an empty database.

use sea_orm::{ConnectionTrait, Database};

use crate::StoreError;
use crate::error::During;

const TABLE: &str = "database";

/// `url` with its database name replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

fn check_name(name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty() && name.len() < 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok { Ok(()) } else { Err(StoreError::UnsafeDatabaseName(name.to_owned())) }
}

/// Creates database `name` (optionally as a copy of `template`) on the server of `admin_url`.
pub async fn create_database(admin_url: &str, name: &str, template: Option<&str>) -> Result<(), StoreError> {
    check_name(name)?;
    let db = Database::connect(admin_url)
        .await
        .map_err(|source| StoreError::Connect { url: admin_url.to_owned(), source })?;
    let sql = match template {
        Some(t) => {
            check_name(t)?;
            format!("CREATE DATABASE \"{name}\" TEMPLATE \"{t}\"")
        }
        None => format!("CREATE DATABASE \"{name}\""),
    };
    let result = db.execute_unprepared(&sql).await;
    db.close().await.during(TABLE, "create_database")?;
    result.during(TABLE, "create_database")?;
    Ok(())
}

pub async fn drop_database(admin_url: &str, name: &str) -> Result<(), StoreError> {
    check_name(name)?;
    let db = Database::connect(admin_url)
        .await
        .map_err(|source| StoreError::Connect { url: admin_url.to_owned(), source })?;
    let result = db.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await;
    db.close().await.during(TABLE, "drop_database")?;
    result.during(TABLE, "drop_database")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_database_name() {
        assert_eq!(with_database("postgres://u@h:5432/test", "x"), "postgres://u@h:5432/x");
        assert_eq!(with_database("postgres://u@h/test?sslmode=disable", "x"), "postgres://u@h/x?sslmode=disable");
        assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
    }
}
