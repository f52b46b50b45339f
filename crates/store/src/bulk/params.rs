//! How a batch or a list travels as one statement parameter: typed arrays on PostgreSQL, JSON
//! on SQLite, and the SQL that reads each back.

use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::sea_query::{ArrayType, Expr, SimpleExpr};
use sea_orm::{DbBackend, Value};
use serde::Serialize;

use crate::StoreError;

/// What a list bound as one parameter holds ([`id_param`], [`text_param`]): PostgreSQL reads it
/// as a typed array, SQLite as the elements of a JSON array.
#[derive(Debug, Clone, Copy)]
enum ListOf {
    Ids,
    Texts,
}

impl ListOf {
    /// `IN` the list at `placeholder`.
    fn membership(self, backend: DbBackend, placeholder: &str) -> String {
        match (backend, self) {
            (DbBackend::Postgres, ListOf::Ids) => format!("= ANY({placeholder}::uuid[])"),
            (DbBackend::Postgres, ListOf::Texts) => format!("= ANY({placeholder}::text[])"),
            (_, ListOf::Ids) => format!("IN (SELECT unhex(value) FROM jsonb_each({placeholder}))"),
            (_, ListOf::Texts) => format!("IN (SELECT value FROM jsonb_each({placeholder}))"),
        }
    }

    /// `column IN list` for a sea-orm query, the list being its one value.
    fn filter(self, backend: DbBackend, column: &str, list: Value) -> SimpleExpr {
        // sea-query writes each backend's own placeholder: `$1` on PostgreSQL, `?` on SQLite.
        let placeholder = if backend == DbBackend::Postgres { "$1" } else { "?" };
        Expr::cust_with_values(format!("{column} {}", self.membership(backend, placeholder)), [list])
    }
}

/// `IN` the ids bound by [`id_param`] as statement parameter `n`.
pub(crate) fn in_ids(backend: DbBackend, n: usize) -> String {
    ListOf::Ids.membership(backend, &param(backend, n))
}

/// `column IN ids` for a sea-orm query, with the ids as one parameter as in [`in_ids`] (a
/// value bound per id would run into the backends' limit on bound values).
pub(crate) fn id_filter(
    backend: DbBackend,
    column: &str,
    ids: impl IntoIterator<Item = uuid::Uuid>,
) -> Result<SimpleExpr, StoreError> {
    Ok(ListOf::Ids.filter(backend, column, id_param(backend, ids)?))
}

/// `IN` the texts bound by [`text_param`] as statement parameter `n`.
pub(crate) fn in_texts(backend: DbBackend, n: usize) -> String {
    ListOf::Texts.membership(backend, &param(backend, n))
}

/// `column IN texts` for a sea-orm query, with the texts as one parameter as in [`in_texts`]:
/// one statement whatever their number, so it is prepared once.
pub(crate) fn text_filter(backend: DbBackend, column: &str, texts: &[&str]) -> Result<SimpleExpr, StoreError> {
    Ok(ListOf::Texts.filter(backend, column, text_param(backend, texts)?))
}

/// Texts as one statement parameter: a text array on PostgreSQL, a JSON array on SQLite.
pub(crate) fn text_param(backend: DbBackend, texts: &[&str]) -> Result<Value, StoreError> {
    match backend {
        DbBackend::Postgres => Ok(text_array(texts.iter().copied())),
        _ => json_param(texts),
    }
}

/// Statement parameter `n` as the backend writes it.
pub(crate) fn param(backend: DbBackend, n: usize) -> String {
    match backend {
        DbBackend::Postgres => format!("${n}"),
        _ => format!("?{n}"),
    }
}

/// Key pairs for a lookup: positional JSON pairs on SQLite (`value->>0`, `value->>1`), two text
/// arrays on PostgreSQL (`UNNEST($1::text[], $2::text[])`, which the planner handles far
/// faster than expanding JSON).
pub(crate) fn pair_params(backend: DbBackend, pairs: &[(&str, &str)]) -> Result<Vec<Value>, StoreError> {
    match backend {
        DbBackend::Postgres => {
            Ok(vec![text_array(pairs.iter().map(|(a, _)| *a)), text_array(pairs.iter().map(|(_, b)| *b))])
        }
        _ => Ok(vec![json_param(pairs)?]),
    }
}

/// Ids for a lookup: a JSON array of hex strings on SQLite, a `uuid[]` on PostgreSQL.
pub(crate) fn id_param(backend: DbBackend, ids: impl IntoIterator<Item = uuid::Uuid>) -> Result<Value, StoreError> {
    let ids = ids.into_iter();
    match backend {
        DbBackend::Postgres => Ok(uuid_array(ids)),
        _ => json_param(&ids.map(uuid).collect::<Vec<_>>()),
    }
}

/// `rows` as the JSON text parameter of a bulk statement.
pub(crate) fn json_param<R: Serialize>(rows: &[R]) -> Result<sea_orm::Value, StoreError> {
    serde_json::to_string(rows).map(Into::into).map_err(StoreError::Encode)
}

/// A UUID as both databases read it from JSON: 32 hex digits.
pub(crate) fn uuid(id: uuid::Uuid) -> String {
    id.simple().to_string()
}

/// A timestamp exactly as sqlx writes `DateTime<Utc>` to SQLite, which PostgreSQL also reads.
pub(crate) fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

/// A PostgreSQL `text[]` parameter.
pub(crate) fn text_array<'a>(texts: impl Iterator<Item = &'a str>) -> Value {
    let values = texts.map(|t| Value::String(Some(t.to_owned()))).collect();
    Value::Array(ArrayType::String, Some(Box::new(values)))
}

/// A PostgreSQL `uuid[]` parameter.
pub(crate) fn uuid_array(ids: impl Iterator<Item = uuid::Uuid>) -> Value {
    let values = ids.map(|id| Value::Uuid(Some(id))).collect();
    Value::Array(ArrayType::Uuid, Some(Box::new(values)))
}
