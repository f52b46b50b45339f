//! The `reports` table (one report per kind and period) and the counts reports are made of.

use chrono::{DateTime, Utc};
use mend_core::{CaseId, Money};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Statement};

use crate::StoreError;
use crate::bulk::{self, went_in};
use crate::entities::report;
use crate::error::During;
use crate::records::json_column;

const TABLE: &str = "reports";

/// How many complaints of each category arrived in `[from, until)`.
pub async fn complaints_per_category<C: ConnectionTrait>(
    conn: &C,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<(String, i64)>, StoreError> {
    let backend = conn.get_database_backend();
    let sql = format!(
        "SELECT category, count(*) FROM complaints WHERE received_at >= {} AND received_at < {} GROUP BY category",
        bulk::param(backend, 1),
        bulk::param(backend, 2)
    );
    let rows = conn
        .query_all_raw(Statement::from_sql_and_values(backend, sql, [from.into(), until.into()]))
        .await
        .during(TABLE, "complaints_per_category")?;
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get_by_index::<String>(0).during(TABLE, "complaints_per_category")?,
                row.try_get_by_index::<i64>(1).during(TABLE, "complaints_per_category")?,
            ))
        })
        .collect()
}

/// When the earliest complaint stored was received: how far back the history goes.
pub async fn first_complaint_at<C: ConnectionTrait>(conn: &C) -> Result<Option<DateTime<Utc>>, StoreError> {
    let first: Option<Option<DateTime<Utc>>> = crate::entities::complaint::Entity::find()
        .select_only()
        .column_as(crate::entities::complaint::Column::ReceivedAt.min(), "first")
        .into_tuple()
        .one(conn)
        .await
        .during(TABLE, "first_complaint_at")?;
    Ok(first.flatten())
}

/// Stores a report for a period unless one is there; true when this call stored it.
pub async fn save_report<C: ConnectionTrait>(
    conn: &C,
    kind: &str,
    period: &str,
    body: &serde_json::Value,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let inserted = report::Entity::insert(report::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        kind: Set(kind.to_owned()),
        period: Set(period.to_owned()),
        body: Set(body.to_string()),
        created_at: Set(now),
    })
    .on_conflict_do_nothing_on([report::Column::Kind, report::Column::Period])
    .exec_without_returning(conn)
    .await
    .during(TABLE, "save_report")?;
    Ok(went_in(inserted))
}

pub async fn report<C: ConnectionTrait>(
    conn: &C,
    kind: &str,
    period: &str,
) -> Result<Option<serde_json::Value>, StoreError> {
    let row = report::Entity::find()
        .filter(report::Column::Kind.eq(kind))
        .filter(report::Column::Period.eq(period))
        .one(conn)
        .await
        .during(TABLE, "report")?;
    row.map(|r| json_column(TABLE, format_args!("{}/{}", r.kind, r.period), "body", &r.body)).transpose()
}

/// Compensation approved in `[from, until)`: how many offers and how much, in fen.
pub async fn compensation_approved_between<C: ConnectionTrait>(
    conn: &C,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<(i64, Money), StoreError> {
    let backend = conn.get_database_backend();
    // Offers within an agent's limit are approved when requested and have no decision time.
    let sql = format!(
        "SELECT count(*), CAST(COALESCE(SUM(amount_fen), 0) AS BIGINT) FROM compensations WHERE status = 'approved' \
         AND COALESCE(decided_at, requested_at) >= {} AND COALESCE(decided_at, requested_at) < {}",
        bulk::param(backend, 1),
        bulk::param(backend, 2)
    );
    let row = conn
        .query_one_raw(Statement::from_sql_and_values(backend, sql, [from.into(), until.into()]))
        .await
        .during(TABLE, "compensation_approved_between")?;
    let Some(row) = row else { return Ok((0, Money::ZERO)) };
    let count = row.try_get_by_index::<i64>(0).during(TABLE, "compensation_approved_between")?;
    let fen = row.try_get_by_index::<i64>(1).during(TABLE, "compensation_approved_between")?;
    Ok((count, Money::from_fen(fen)))
}

/// The customers' own ratings (1-5) on the complaints of `cases`: satisfaction before repair.
pub async fn complaint_ratings_of_cases<C: ConnectionTrait>(
    conn: &C,
    cases: &[CaseId],
) -> Result<Vec<i64>, StoreError> {
    if cases.is_empty() {
        return Ok(Vec::new());
    }
    let backend = conn.get_database_backend();
    let sql = format!(
        "SELECT CAST(satisfaction AS BIGINT) FROM complaints WHERE satisfaction IS NOT NULL AND case_id {}",
        bulk::in_ids(backend, 1)
    );
    let params = [bulk::id_param(backend, cases.iter().map(|c| c.as_uuid()))?];
    let rows = conn
        .query_all_raw(Statement::from_sql_and_values(backend, sql, params))
        .await
        .during(TABLE, "complaint_ratings_of_cases")?;
    rows.iter().map(|row| row.try_get_by_index::<i64>(0).during(TABLE, "complaint_ratings_of_cases")).collect()
}
