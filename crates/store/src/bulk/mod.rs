//! Set-based statements that carry a whole batch in one parameter per column or table.
//!
//! A multi-row `VALUES` insert binds one parameter per cell (15,000 for 1,000 complaints) and
//! compiles a new statement for every batch size; here each table gets one small statement,
//! prepared once, that expands the batch server-side: JSONB rows through `jsonb_each` on SQLite,
//! typed arrays through `UNNEST` on PostgreSQL. Cells are encoded exactly as sea-orm encodes
//! them, so rows written here read back through the entities unchanged. Lookups answer with one
//! aggregated JSON value ([`query_json`]) instead of a row per match.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::ArrayType;
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};
use serde::Serialize;
use serde::ser::Serializer;

use crate::StoreError;
use crate::error::During;

mod params;

pub(crate) use params::{
    id_filter, id_param, in_ids, in_texts, json_param, pair_params, param, text_array, text_filter, text_param, time,
    uuid, uuid_array,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Uuid,
    Text,
    Int,
    Bool,
    Time,
    Bytes,
}

/// One cell of a row, in its table's column order.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Cell<'a> {
    Uuid(uuid::Uuid),
    NullableUuid(Option<uuid::Uuid>),
    Text(Option<&'a str>),
    Int(Option<i64>),
    Bool(bool),
    Time(Option<DateTime<Utc>>),
    Bytes(&'a [u8]),
}

pub(crate) struct Table {
    pub name: &'static str,
    /// Name, type and whether the column accepts NULL.
    pub columns: &'static [(&'static str, Kind, bool)],
    pub on_conflict: OnConflict,
}

/// What an insert does with a row whose key already exists.
#[derive(Debug, Clone, Copy)]
pub(crate) enum OnConflict {
    /// The statement fails (the caller retries or reports).
    Fail,
    /// An upsert: when the primary key `id` exists, every other column is rewritten but these.
    UpdateAllBut(&'static [&'static str]),
    /// The row is left out; the statement's row count says how many went in.
    Skip,
    /// This clause decides (`ON CONFLICT (...) DO ...`, naming the table's other unique key).
    Clause(&'static str),
}

impl Table {
    /// The statement that inserts (or upserts) `rows`, or `None` when there are none.
    pub(crate) fn insert<'a>(
        &self,
        backend: DbBackend,
        rows: impl Iterator<Item = Vec<Cell<'a>>>,
    ) -> Result<Option<Statement>, StoreError> {
        let rows: Vec<Vec<Cell>> = rows.collect();
        if rows.is_empty() {
            return Ok(None);
        }
        let params = match backend {
            DbBackend::Postgres => self.pg_params(&rows),
            _ => vec![json_param(&rows)?],
        };
        Ok(Some(Statement::from_sql_and_values(backend, self.sql(backend), params)))
    }

    /// `rows` as the row source `alias` of another statement's `FROM` (an update of many rows,
    /// each with its own values): PostgreSQL `UNNEST`s one typed array per column, SQLite reads
    /// the rows of one JSON parameter. Parameters are numbered from `first`; the first one
    /// carries the first column's values on both databases.
    pub(crate) fn rows_as(
        &self,
        backend: DbBackend,
        alias: &str,
        first: usize,
        rows: &[Vec<Cell>],
    ) -> Result<(String, Vec<Value>), StoreError> {
        match backend {
            DbBackend::Postgres => Ok((format!("({}) AS {alias}", self.pg_select(first)), self.pg_params(rows))),
            _ => Ok((format!("({}) AS {alias}", self.sqlite_select(first)), vec![json_param(rows)?])),
        }
    }

    /// The rows of one JSON parameter (`?first`, an array of rows) as a `SELECT` of the table's
    /// columns.
    fn sqlite_select(&self, first: usize) -> String {
        let exprs: Vec<String> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, (name, kind, _))| format!("{} AS {name}", sqlite_cell(i, *kind)))
            .collect();
        format!("SELECT {} FROM jsonb_each(?{first})", exprs.join(", "))
    }

    /// The rows of [`Table::pg_params`] (numbered from `first`) as a `SELECT` of the table's
    /// columns. Arrays cannot carry NULL elements through the driver, so a nullable column
    /// travels as its values plus a mask of which are NULL.
    fn pg_select(&self, first: usize) -> String {
        let mut arrays = Vec::new();
        let mut aliases = Vec::new();
        let mut exprs = Vec::new();
        for (name, kind, nullable) in self.columns {
            arrays.push(format!("${}::{}[]", first + arrays.len(), pg_type(*kind)));
            aliases.push(name.to_string());
            if *nullable {
                arrays.push(format!("${}::boolean[]", first + arrays.len()));
                aliases.push(format!("{name}_null"));
                exprs.push(format!("CASE WHEN {name}_null THEN NULL ELSE {name} END AS {name}"));
            } else {
                exprs.push(name.to_string());
            }
        }
        format!("SELECT {} FROM UNNEST({}) AS r({})", exprs.join(", "), arrays.join(", "), aliases.join(", "))
    }

    /// `INSERT INTO table (its columns)`, for a `SELECT` of rows to follow.
    pub(crate) fn insert_into(&self) -> String {
        let names: Vec<&str> = self.columns.iter().map(|(n, _, _)| *n).collect();
        format!("INSERT INTO {} ({})", self.name, names.join(", "))
    }

    fn sql(&self, backend: DbBackend) -> String {
        let names: Vec<&str> = self.columns.iter().map(|(n, _, _)| *n).collect();
        let rows = match backend {
            DbBackend::Postgres => self.pg_select(1),
            _ => self.sqlite_select(1),
        };
        let mut sql = format!("{} {rows} WHERE true", self.insert_into());
        match self.on_conflict {
            OnConflict::Fail => {}
            OnConflict::UpdateAllBut(kept) => {
                let sets: Vec<String> = names
                    .iter()
                    .filter(|c| **c != "id" && !kept.contains(c))
                    .map(|c| format!("{c} = excluded.{c}"))
                    .collect();
                sql.push_str(&format!(" ON CONFLICT (id) DO UPDATE SET {}", sets.join(", ")));
            }
            OnConflict::Skip => sql.push_str(" ON CONFLICT DO NOTHING"),
            OnConflict::Clause(clause) => {
                sql.push(' ');
                sql.push_str(clause);
            }
        }
        sql
    }

    /// One typed array per column (and a NULL mask per nullable column).
    fn pg_params(&self, rows: &[Vec<Cell>]) -> Vec<Value> {
        let mut params = Vec::new();
        for (i, (_, kind, nullable)) in self.columns.iter().enumerate() {
            let cells = rows.iter().map(|r| r[i]);
            let (ty, values): (ArrayType, Vec<Value>) = match kind {
                Kind::Uuid => (ArrayType::Uuid, cells.map(|c| Value::Uuid(Some(c.as_uuid()))).collect()),
                Kind::Text => (
                    ArrayType::String,
                    cells.map(|c| Value::String(Some(c.as_text().unwrap_or_default().to_owned()))).collect(),
                ),
                Kind::Int => {
                    (ArrayType::BigInt, cells.map(|c| Value::BigInt(Some(c.as_int().unwrap_or_default()))).collect())
                }
                Kind::Bool => (ArrayType::Bool, cells.map(|c| Value::Bool(Some(c.as_bool()))).collect()),
                Kind::Time => (
                    ArrayType::ChronoDateTimeUtc,
                    cells.map(|c| Value::ChronoDateTimeUtc(Some(c.as_time().unwrap_or_default()))).collect(),
                ),
                Kind::Bytes => (ArrayType::Bytes, cells.map(|c| Value::Bytes(Some(c.as_bytes().to_vec()))).collect()),
            };
            params.push(Value::Array(ty, Some(Box::new(values))));
            if *nullable {
                let mask = rows.iter().map(|r| Value::Bool(Some(r[i].is_null()))).collect();
                params.push(Value::Array(ArrayType::Bool, Some(Box::new(mask))));
            }
        }
        params
    }
}

/// Cell `i` of a JSON row as SQLite stores the column.
fn sqlite_cell(i: usize, kind: Kind) -> String {
    match kind {
        // sea-orm stores UUIDs in SQLite as 16-byte blobs; JSON carries bytes as hex.
        Kind::Uuid | Kind::Bytes => format!("unhex(value->>{i})"),
        _ => format!("value->>{i}"),
    }
}

fn pg_type(kind: Kind) -> &'static str {
    match kind {
        Kind::Uuid => "uuid",
        Kind::Text => "text",
        Kind::Int => "bigint",
        Kind::Bool => "boolean",
        Kind::Time => "timestamptz",
        Kind::Bytes => "bytea",
    }
}

impl<'a> Cell<'a> {
    fn is_null(self) -> bool {
        matches!(self, Cell::Text(None) | Cell::Int(None) | Cell::Time(None) | Cell::NullableUuid(None))
    }

    fn as_uuid(self) -> uuid::Uuid {
        match self {
            Cell::Uuid(u) => u,
            // NULL travels in the column's mask; the array still needs a value in its place.
            Cell::NullableUuid(u) => u.unwrap_or_default(),
            other => unreachable!("column declared uuid holds {other:?}"),
        }
    }

    fn as_text(self) -> Option<&'a str> {
        match self {
            Cell::Text(t) => t,
            other => unreachable!("column declared text holds {other:?}"),
        }
    }

    fn as_int(self) -> Option<i64> {
        match self {
            Cell::Int(i) => i,
            other => unreachable!("column declared int holds {other:?}"),
        }
    }

    fn as_bool(self) -> bool {
        match self {
            Cell::Bool(b) => b,
            other => unreachable!("column declared bool holds {other:?}"),
        }
    }

    fn as_time(self) -> Option<DateTime<Utc>> {
        match self {
            Cell::Time(t) => t,
            other => unreachable!("column declared time holds {other:?}"),
        }
    }

    fn as_bytes(self) -> &'a [u8] {
        match self {
            Cell::Bytes(b) => b,
            other => unreachable!("column declared bytes holds {other:?}"),
        }
    }
}

/// Cells as SQLite reads them from JSON, encoded exactly as sea-orm would bind them.
impl Serialize for Cell<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Cell::Uuid(u) => s.serialize_str(&uuid(*u)),
            Cell::NullableUuid(u) => u.map(uuid).serialize(s),
            Cell::Text(t) => t.serialize(s),
            Cell::Int(i) => i.serialize(s),
            Cell::Bool(b) => b.serialize(s),
            Cell::Time(t) => t.map(time).serialize(s),
            Cell::Bytes(b) => s.serialize_str(&hex(b)),
        }
    }
}

/// Runs a read that returns one JSON array (built with `json_group_array` / `json_agg`) and
/// decodes its elements. One row crosses the driver instead of thousands, which is what makes
/// batch lookups cheap.
pub(crate) async fn query_json<C, T>(
    conn: &C,
    table: &'static str,
    operation: &'static str,
    sql: &str,
    params: Vec<sea_orm::Value>,
) -> Result<Vec<T>, StoreError>
where
    C: ConnectionTrait,
    T: serde::de::DeserializeOwned,
{
    let statement = Statement::from_sql_and_values(conn.get_database_backend(), sql, params);
    let row = conn.query_one_raw(statement).await.during(table, operation)?;
    let text: Option<String> = match row {
        Some(row) => row.try_get_by_index(0).during(table, operation)?,
        None => None,
    };
    match text {
        Some(text) => {
            serde_json::from_str(&text).map_err(|e| StoreError::corrupt(table, format_args!("read by {operation}"), e))
        }
        None => Ok(Vec::new()),
    }
}

/// The select list that gathers rows of `columns` into the one JSON array [`query_json`] reads.
pub(crate) fn json_rows(backend: DbBackend, columns: &str) -> String {
    match backend {
        DbBackend::Postgres => json_values(backend, &format!("json_build_array({columns})")),
        _ => json_values(backend, &format!("json_array({columns})")),
    }
}

/// The select list that gathers a JSON `value` a row into the one JSON array [`query_json`] reads.
pub(crate) fn json_values(backend: DbBackend, value: &str) -> String {
    match backend {
        DbBackend::Postgres => format!("json_agg({value})::text"),
        _ => format!("json_group_array({value})"),
    }
}

/// One statement that rewrites a reference for many rows at once, where a per-pair statement
/// would cost a round trip each. `template` is the SQL with `{pairs}` standing for the source
/// of `(old, new)` id pairs and `{old}`/`{new}` for their columns; `{time}`, if present, binds
/// `time`.
pub(crate) fn repoint(
    backend: DbBackend,
    template: &str,
    pairs: &[(uuid::Uuid, uuid::Uuid)],
    time: DateTime<Utc>,
) -> Result<Option<Statement>, StoreError> {
    let rows: Vec<(uuid::Uuid, uuid::Uuid, Option<&str>)> = pairs.iter().map(|(old, new)| (*old, *new, None)).collect();
    repoint_rows(backend, template, &rows, Some(time))
}

/// [`repoint`] with a text beside each pair, `{note}` in `template` (and no `{time}`).
pub(crate) fn repoint_noted(
    backend: DbBackend,
    template: &str,
    moves: &[(uuid::Uuid, uuid::Uuid, &str)],
) -> Result<Option<Statement>, StoreError> {
    let rows: Vec<(uuid::Uuid, uuid::Uuid, Option<&str>)> =
        moves.iter().map(|(old, new, note)| (*old, *new, Some(*note))).collect();
    repoint_rows(backend, template, &rows, None)
}

/// Rows of `(old, new, note)`: every note given, or none.
fn repoint_rows(
    backend: DbBackend,
    template: &str,
    rows: &[(uuid::Uuid, uuid::Uuid, Option<&str>)],
    time: Option<DateTime<Utc>>,
) -> Result<Option<Statement>, StoreError> {
    if rows.is_empty() {
        return Ok(None);
    }
    let noted = rows.iter().all(|(_, _, note)| note.is_some());
    let (source, old, new, note, mut params) = match backend {
        DbBackend::Postgres => {
            let mut params =
                vec![uuid_array(rows.iter().map(|(o, _, _)| *o)), uuid_array(rows.iter().map(|(_, n, _)| *n))];
            let source = if noted {
                params.push(text_array(rows.iter().filter_map(|(_, _, note)| *note)));
                "UNNEST($1::uuid[], $2::uuid[], $3::text[]) AS p(old, new, note)"
            } else {
                "UNNEST($1::uuid[], $2::uuid[]) AS p(old, new)"
            };
            (source, "p.old", "p.new", "p.note", params)
        }
        _ => {
            let params = if noted {
                let rows: Vec<(String, String, Option<&str>)> =
                    rows.iter().map(|(o, n, note)| (uuid(*o), uuid(*n), *note)).collect();
                vec![json_param(&rows)?]
            } else {
                let rows: Vec<(String, String)> = rows.iter().map(|(o, n, _)| (uuid(*o), uuid(*n))).collect();
                vec![json_param(&rows)?]
            };
            ("jsonb_each(?1) AS p", "unhex(p.value->>0)", "unhex(p.value->>1)", "p.value->>2", params)
        }
    };
    if let Some(time) = time.filter(|_| template.contains("{time}")) {
        params.push(Value::ChronoDateTimeUtc(Some(time)));
    }
    let at = param(backend, params.len());
    let sql = template
        .replace("{pairs}", source)
        .replace("{old}", old)
        .replace("{new}", new)
        .replace("{note}", note)
        .replace("{time}", &at);
    Ok(Some(Statement::from_sql_and_values(backend, sql, params)))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
        write!(out, "{b:02x}").expect("writing to a String cannot fail");
        out
    })
}

/// Runs a lookup of `(customer, value)` pairs for `customers` (`$1`/`?1`) from `since` (`$2`/`?2`).
pub(crate) async fn customer_lookup<C, T>(
    conn: &C,
    table: &'static str,
    operation: &'static str,
    sql: &str,
    customers: &[mend_core::CustomerId],
    since: DateTime<Utc>,
) -> Result<Vec<(mend_core::CustomerId, T)>, StoreError>
where
    C: ConnectionTrait,
    T: serde::de::DeserializeOwned,
{
    if customers.is_empty() {
        return Ok(Vec::new());
    }
    let ids = customers.iter().map(|c| c.as_uuid());
    let params = vec![id_param(conn.get_database_backend(), ids)?, since.into()];
    let rows: Vec<(uuid::Uuid, T)> = query_json(conn, table, operation, sql, params).await?;
    Ok(rows.into_iter().map(|(id, value)| (mend_core::CustomerId::from_uuid(id), value)).collect())
}

/// Whether an insert that skips conflicting rows put its row in.
pub(crate) fn went_in(result: sea_orm::TryInsertResult<u64>) -> bool {
    matches!(result, sea_orm::TryInsertResult::Inserted(n) if n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Table = Table {
        name: "t",
        columns: &[("id", Kind::Uuid, false), ("n", Kind::Int, true), ("at", Kind::Time, false)],
        on_conflict: OnConflict::UpdateAllBut(&["at"]),
    };

    #[test]
    fn builds_one_statement_per_backend() {
        assert_eq!(
            T.sql(DbBackend::Sqlite),
            "INSERT INTO t (id, n, at) SELECT unhex(value->>0) AS id, value->>1 AS n, value->>2 AS at \
             FROM jsonb_each(?1) WHERE true ON CONFLICT (id) DO UPDATE SET n = excluded.n"
        );
        assert_eq!(
            T.sql(DbBackend::Postgres),
            "INSERT INTO t (id, n, at) SELECT id, CASE WHEN n_null THEN NULL ELSE n END AS n, at \
             FROM UNNEST($1::uuid[], $2::bigint[], $3::boolean[], $4::timestamptz[]) AS r(id, n, n_null, at) \
             WHERE true ON CONFLICT (id) DO UPDATE SET n = excluded.n"
        );
    }

    #[test]
    fn rows_of_another_statement_are_numbered_from_where_they_start() {
        let rows = [vec![Cell::Uuid(uuid::Uuid::from_u128(1)), Cell::Int(None), Cell::Time(None)]];
        let (source, params) = T.rows_as(DbBackend::Postgres, "v", 3, &rows).unwrap();
        assert_eq!(
            source,
            "(SELECT id, CASE WHEN n_null THEN NULL ELSE n END AS n, at \
             FROM UNNEST($3::uuid[], $4::bigint[], $5::boolean[], $6::timestamptz[]) AS r(id, n, n_null, at)) AS v"
        );
        assert_eq!(params.len(), 4, "a mask travels with the nullable column");
        let (source, params) = T.rows_as(DbBackend::Sqlite, "v", 3, &rows).unwrap();
        assert_eq!(source, "(SELECT unhex(value->>0) AS id, value->>1 AS n, value->>2 AS at FROM jsonb_each(?3)) AS v");
        assert_eq!(params.len(), 1);
    }

    #[test]
    fn encodes_cells_as_sea_orm_does() {
        let t = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 9, 1, 0, 1, 8).unwrap();
        assert_eq!(time(t), "2026-09-01T00:01:08+00:00");
        assert_eq!(time(t + chrono::Duration::milliseconds(500)), "2026-09-01T00:01:08.500+00:00");
        let id = uuid::Uuid::from_u128(0xA1);
        let row = [
            Cell::Uuid(id),
            Cell::Int(None),
            Cell::Time(Some(t)),
            Cell::Text(Some("宽带")),
            Cell::Bool(true),
            Cell::Bytes(b"\x00\xff"),
        ];
        assert_eq!(
            serde_json::to_string(&row).unwrap(),
            r#"["000000000000000000000000000000a1",null,"2026-09-01T00:01:08+00:00","宽带",true,"00ff"]"#
        );
    }
}
