//! Set-based writes that send a whole batch as one JSON parameter.
//!
//! A multi-row `VALUES` insert binds one parameter per cell (15,000 for 1,000 complaints) and
//! compiles a new statement for every batch size; here each table gets one small statement,
//! prepared once, that expands the JSON array server-side (`json_each` on SQLite,
//! `json_to_recordset` on PostgreSQL). Cells are encoded exactly as sea-orm encodes them, so
//! rows written here read back through the entities unchanged.

use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde::Serialize;

use crate::StoreError;

#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Uuid,
    Text,
    Int,
    Bool,
    Time,
}

pub(crate) struct Table {
    pub name: &'static str,
    pub columns: &'static [(&'static str, Kind)],
    /// Columns rewritten when the primary key already exists (an upsert); empty for a plain insert.
    pub update_on_conflict: &'static [&'static str],
}

impl Table {
    fn sql(&self, backend: DbBackend) -> String {
        let names: Vec<&str> = self.columns.iter().map(|(n, _)| *n).collect();
        let mut sql = match backend {
            DbBackend::Postgres => {
                let defs: Vec<String> = self.columns.iter().map(|(n, k)| format!("{n} {}", pg_type(*k))).collect();
                format!(
                    "INSERT INTO {} ({}) SELECT {} FROM json_to_recordset($1::json) AS r({}) WHERE true",
                    self.name,
                    names.join(", "),
                    names.join(", "),
                    defs.join(", ")
                )
            }
            _ => {
                let exprs: Vec<String> = self.columns.iter().map(|(n, k)| sqlite_expr(n, *k)).collect();
                format!(
                    "INSERT INTO {} ({}) SELECT {} FROM jsonb_each(?1) WHERE true",
                    self.name,
                    names.join(", "),
                    exprs.join(", ")
                )
            }
        };
        if !self.update_on_conflict.is_empty() {
            let sets: Vec<String> = self.update_on_conflict.iter().map(|c| format!("{c} = excluded.{c}")).collect();
            sql.push_str(&format!(" ON CONFLICT (id) DO UPDATE SET {}", sets.join(", ")));
        }
        sql
    }
}

fn pg_type(kind: Kind) -> &'static str {
    match kind {
        Kind::Uuid => "uuid",
        Kind::Text => "text",
        Kind::Int => "bigint",
        Kind::Bool => "boolean",
        Kind::Time => "timestamptz",
    }
}

fn sqlite_expr(name: &str, kind: Kind) -> String {
    match kind {
        // sea-orm stores UUIDs in SQLite as 16-byte blobs.
        Kind::Uuid => format!("unhex(value->>'{name}')"),
        Kind::Text | Kind::Int | Kind::Bool | Kind::Time => format!("value->>'{name}'"),
    }
}

/// Inserts (or upserts) `rows`, each serialized to an object keyed by column name.
pub(crate) async fn write<C: ConnectionTrait, R: Serialize>(
    conn: &C,
    table: &Table,
    rows: &[R],
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let backend = conn.get_database_backend();
    conn.execute_raw(Statement::from_sql_and_values(backend, table.sql(backend), [json_param(rows)?])).await?;
    Ok(())
}

/// Runs a read that returns one JSON array (built with `json_group_array` / `json_agg`) and
/// decodes its elements. One row crosses the driver instead of thousands, which is what makes
/// batch lookups cheap.
pub(crate) async fn query_json<C, T>(conn: &C, sql: &str, params: Vec<sea_orm::Value>) -> Result<Vec<T>, StoreError>
where
    C: ConnectionTrait,
    T: serde::de::DeserializeOwned,
{
    let row = conn.query_one_raw(Statement::from_sql_and_values(conn.get_database_backend(), sql, params)).await?;
    let text: Option<String> = match row {
        Some(row) => row.try_get_by_index(0)?,
        None => None,
    };
    match text {
        Some(text) => serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("lookup result: {e}"))),
        None => Ok(Vec::new()),
    }
}

/// `rows` as the JSON text parameter of a bulk statement.
pub(crate) fn json_param<R: Serialize>(rows: &[R]) -> Result<sea_orm::Value, StoreError> {
    serde_json::to_string(rows).map(Into::into).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A UUID as both databases read it from JSON: 32 hex digits.
pub(crate) fn uuid(id: uuid::Uuid) -> String {
    id.simple().to_string()
}

/// A timestamp exactly as sqlx writes `DateTime<Utc>` to SQLite, which PostgreSQL also reads.
pub(crate) fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Table = Table {
        name: "t",
        columns: &[("id", Kind::Uuid), ("n", Kind::Int), ("at", Kind::Time)],
        update_on_conflict: &["n"],
    };

    #[test]
    fn builds_one_statement_per_backend() {
        assert_eq!(
            T.sql(DbBackend::Sqlite),
            "INSERT INTO t (id, n, at) SELECT unhex(value->>'id'), value->>'n', value->>'at' FROM jsonb_each(?1) \
             WHERE true ON CONFLICT (id) DO UPDATE SET n = excluded.n"
        );
        assert_eq!(
            T.sql(DbBackend::Postgres),
            "INSERT INTO t (id, n, at) SELECT id, n, at FROM json_to_recordset($1::json) AS r(id uuid, n bigint, at timestamptz) \
             WHERE true ON CONFLICT (id) DO UPDATE SET n = excluded.n"
        );
    }

    #[test]
    fn encodes_cells_as_sea_orm_does() {
        let t = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 9, 1, 0, 1, 8).unwrap();
        assert_eq!(time(t), "2026-09-01T00:01:08+00:00");
        assert_eq!(time(t + chrono::Duration::milliseconds(500)), "2026-09-01T00:01:08.500+00:00");
    }
}
