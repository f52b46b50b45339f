//! One definition of a wide row: [`stored_row!`] declares a table's columns once, as the fields
//! of a struct, and derives from them the column list the bulk writer binds, the cells of a
//! row, the select list per backend and the decoder of a lookup's JSON rows. Adding a column is
//! one edit; a field whose type the store cannot bind does not compile.

use chrono::{DateTime, Utc};
use sea_orm::DbBackend;
use serde::{Deserialize, Deserializer};

use crate::bulk::{Cell, Kind};

/// A Rust type a column holds, and how it binds.
pub(crate) trait Stored {
    const KIND: Kind;
    const NULLABLE: bool;
    fn cell(&self) -> Cell<'_>;
}

macro_rules! stored {
    ($ty:ty, $kind:ident, $nullable:literal, |$v:ident| $cell:expr) => {
        impl Stored for $ty {
            const KIND: Kind = Kind::$kind;
            const NULLABLE: bool = $nullable;
            fn cell(&self) -> Cell<'_> {
                let $v = self;
                $cell
            }
        }
    };
}

stored!(uuid::Uuid, Uuid, false, |v| Cell::Uuid(*v));
stored!(Option<uuid::Uuid>, Uuid, true, |v| Cell::NullableUuid(*v));
stored!(String, Text, false, |v| Cell::Text(Some(v)));
stored!(&str, Text, false, |v| Cell::Text(Some(v)));
stored!(Option<String>, Text, true, |v| Cell::Text(v.as_deref()));
stored!(Option<&str>, Text, true, |v| Cell::Text(*v));
stored!(Option<i64>, Int, true, |v| Cell::Int(*v));
stored!(i32, Int, false, |v| Cell::Int(Some(i64::from(*v))));
stored!(i64, Int, false, |v| Cell::Int(Some(*v)));
stored!(Flag, Bool, false, |v| Cell::Bool(v.0));
stored!(DateTime<Utc>, Time, false, |v| Cell::Time(Some(*v)));
stored!(Option<DateTime<Utc>>, Time, true, |v| Cell::Time(*v));

/// A boolean column: PostgreSQL's JSON says `true`, SQLite's says `1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Flag(pub bool);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Bool(bool),
            Int(i64),
        }
        Ok(Flag(match Either::deserialize(deserializer)? {
            Either::Bool(b) => b,
            Either::Int(i) => i != 0,
        }))
    }
}

/// A column's name, kind and whether it accepts NULL.
pub(crate) type Column = (&'static str, Kind, bool);

/// The select list of `columns` in order, per backend, for [`crate::bulk::json_rows`]: SQLite
/// has no UUID type (hex of the blob; a NULL one reads as NULL). Columns in `skipped` are text
/// read back empty.
pub(crate) fn select_list(backend: DbBackend, columns: &[Column], skipped: &[&str]) -> String {
    let exprs: Vec<String> = columns
        .iter()
        .map(|&(name, kind, nullable)| match (backend, kind) {
            _ if skipped.contains(&name) => "''".to_owned(),
            (DbBackend::Postgres, _) | (_, Kind::Text | Kind::Int | Kind::Bool | Kind::Time) => name.to_owned(),
            (_, Kind::Uuid | Kind::Bytes) if nullable => format!("nullif(hex({name}), '')"),
            (_, Kind::Uuid | Kind::Bytes) => format!("hex({name})"),
        })
        .collect();
    exprs.join(", ")
}

/// The columns each bulk row writes, per table, with whether the row may write NULL: what a
/// test holds against the migrated schema on both backends.
pub fn written_columns() -> Vec<(&'static str, Vec<(&'static str, bool)>)> {
    use crate::{cases::CaseRow, complaints::ComplaintRow, customers, tasks::TaskRow};
    let table = |name, columns: &[Column]| (name, columns.iter().map(|&(c, _, nullable)| (c, nullable)).collect());
    vec![
        table(CaseRow::TABLE, CaseRow::COLUMNS),
        table(ComplaintRow::TABLE, ComplaintRow::COLUMNS),
        table(customers::CustomerRow::TABLE, customers::CustomerRow::COLUMNS),
        table(customers::IdentityRow::TABLE, customers::IdentityRow::COLUMNS),
        table(TaskRow::TABLE, TaskRow::COLUMNS),
    ]
}

/// Declares a stored row: `struct CaseRow in "cases" { id: uuid::Uuid, … }`. The fields are the
/// table's columns in order, named as the columns are; a row may borrow its text (`<'a>`) so a
/// batch is written without copying it.
macro_rules! stored_row {
    (
        $(#[$meta:meta])*
        pub(crate) struct $name:ident $(<$lt:lifetime>)? in $table:literal { $( $field:ident : $ty:ty, )+ }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone)]
        pub(crate) struct $name $(<$lt>)? {
            $( pub(crate) $field: $ty, )+
        }

        impl $(<$lt>)? $name $(<$lt>)? {
            pub(crate) const TABLE: &'static str = $table;
            pub(crate) const COLUMNS: &'static [$crate::rows::Column] = &[
                $( (stringify!($field), <$ty as $crate::rows::Stored>::KIND, <$ty as $crate::rows::Stored>::NULLABLE), )+
            ];

            pub(crate) fn cells(&self) -> Vec<$crate::bulk::Cell<'_>> {
                vec![ $( $crate::rows::Stored::cell(&self.$field), )+ ]
            }
        }
    };
}

pub(crate) use stored_row;

#[cfg(test)]
mod tests {
    use super::*;

    stored_row! {
        #[derive(serde::Deserialize)]
        pub(crate) struct Sample in "samples" {
            id: uuid::Uuid,
            parent: Option<uuid::Uuid>,
            name: String,
            active: Flag,
            at: Option<DateTime<Utc>>,
        }
    }

    #[test]
    fn one_definition_gives_columns_cells_and_select_lists() {
        assert_eq!(Sample::TABLE, "samples");
        let names: Vec<&str> = Sample::COLUMNS.iter().map(|c| c.0).collect();
        assert_eq!(names, ["id", "parent", "name", "active", "at"]);
        assert_eq!(Sample::COLUMNS[1], ("parent", Kind::Uuid, true));
        assert_eq!(
            select_list(DbBackend::Sqlite, Sample::COLUMNS, &["name"]),
            "hex(id), nullif(hex(parent), ''), '', active, at"
        );
        assert_eq!(select_list(DbBackend::Postgres, Sample::COLUMNS, &[]), "id, parent, name, active, at");
        let row = Sample { id: uuid::Uuid::nil(), parent: None, name: "x".into(), active: Flag(true), at: None };
        assert_eq!(row.cells().len(), Sample::COLUMNS.len());
    }

    #[test]
    fn a_lookup_row_decodes_by_position_from_either_backend() {
        let id = uuid::Uuid::now_v7();
        let sqlite = format!(r#"["{}", null, "x", 1, null]"#, id.simple().to_string().to_uppercase());
        let postgres = format!(r#"["{id}", null, "x", true, "2026-12-02T08:00:00Z"]"#);
        let a: Sample = serde_json::from_str(&sqlite).unwrap();
        let b: Sample = serde_json::from_str(&postgres).unwrap();
        assert_eq!((a.id, a.active, b.id, b.active), (id, Flag(true), id, Flag(true)));
        assert!(b.at.is_some());
        assert!(serde_json::from_str::<Sample>(r#"["x"]"#).is_err(), "a short row is an error");
    }
}
