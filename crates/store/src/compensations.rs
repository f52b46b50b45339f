//! The `compensations` table: offers requested at the desk, their decisions, and what a
//! customer received (which the callback planner's limits read).

use chrono::{DateTime, Utc};
use mend_core::{
    CaseId, Compensation, CompensationId, CompensationKind, CompensationStatus, CustomerId, Money, TaskId, UserId,
};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use crate::StoreError;
use crate::bulk::customer_lookup;
use crate::entities::compensation;
use crate::error::During;
use crate::records::word;

const TABLE: &str = "compensations";

/// Compensation in one of `statuses` on each of these cases, whenever given, with what was
/// given on the cases merged into it (their offers stay where they were made): what a case's
/// category cap has left is the cap less all of it. Cases with none are absent.
pub async fn case_compensation<C: ConnectionTrait>(
    conn: &C,
    cases: &[CaseId],
    statuses: &[CompensationStatus],
) -> Result<Vec<(CaseId, Money)>, StoreError> {
    use std::collections::HashMap;
    if cases.is_empty() {
        return Ok(Vec::new());
    }
    let asked: Vec<sea_orm::prelude::Uuid> = cases.iter().map(|c| c.as_uuid()).collect();
    let merged: Vec<(sea_orm::prelude::Uuid, Option<sea_orm::prelude::Uuid>)> = crate::entities::case::Entity::find()
        .select_only()
        .column(crate::entities::case::Column::Id)
        .column(crate::entities::case::Column::MergedInto)
        .filter(crate::entities::case::Column::MergedInto.is_in(asked.iter().copied()))
        .into_tuple()
        .all(conn)
        .await
        .during(TABLE, "case_compensation")?;
    let survivor: HashMap<_, _> = merged.into_iter().filter_map(|(id, into)| Some((id, into?))).collect();
    let rows: Vec<(sea_orm::prelude::Uuid, i64)> = compensation::Entity::find()
        .select_only()
        .column(compensation::Column::CaseId)
        .column_as(Expr::cust("CAST(SUM(amount_fen) AS BIGINT)"), "fen")
        .filter(compensation::Column::CaseId.is_in(asked.iter().chain(survivor.keys()).copied()))
        .filter(compensation::Column::Status.is_in(statuses.iter().map(|s| s.as_str())))
        .group_by(compensation::Column::CaseId)
        .into_tuple()
        .all(conn)
        .await
        .during(TABLE, "case_compensation")?;
    let mut given: HashMap<sea_orm::prelude::Uuid, i64> = HashMap::new();
    for (case, fen) in rows {
        *given.entry(survivor.get(&case).copied().unwrap_or(case)).or_default() += fen;
    }
    Ok(given.into_iter().map(|(case, fen)| (CaseId::from_uuid(case), Money::from_fen(fen))).collect())
}

/// Compensation in one of `statuses` for these customers since `since` (counted from when it
/// was granted, so an offer asked long ago and approved today is in), over every case they own
/// now, per customer.
pub async fn compensation_received<C: ConnectionTrait>(
    conn: &C,
    customers: &[CustomerId],
    since: DateTime<Utc>,
    statuses: &[CompensationStatus],
) -> Result<Vec<(CustomerId, Money)>, StoreError> {
    let counted: Vec<String> = statuses.iter().map(|s| format!("'{}'", s.as_str())).collect();
    let counted = counted.join(", ");
    let sql = match conn.get_database_backend() {
        DbBackend::Postgres => format!(
            "SELECT json_agg(json_build_array(customer_id, fen))::text FROM (SELECT s.customer_id, SUM(m.amount_fen) AS fen \
             FROM unnest($1::uuid[]) AS k(customer_key) \
             CROSS JOIN LATERAL (SELECT id, customer_id FROM cases WHERE customer_id = k.customer_key OFFSET 0) s \
             JOIN compensations m ON m.case_id = s.id \
             WHERE m.status IN ({counted}) AND COALESCE(m.decided_at, m.requested_at) >= $2 GROUP BY s.customer_id) received"
        ),
        _ => format!(
            "SELECT json_group_array(json_array(hex(customer_id), fen)) FROM (SELECT s.customer_id, SUM(m.amount_fen) AS fen \
             FROM compensations m JOIN cases s ON s.id = m.case_id WHERE s.customer_id IN (SELECT unhex(value) FROM jsonb_each(?1)) \
             AND m.status IN ({counted}) AND COALESCE(m.decided_at, m.requested_at) >= ?2 GROUP BY s.customer_id) received"
        ),
    };
    customer_lookup(conn, TABLE, "compensation_received", &sql, customers, since).await
}

impl TryFrom<compensation::Model> for Compensation {
    type Error = StoreError;

    fn try_from(m: compensation::Model) -> Result<Self, StoreError> {
        Ok(Compensation {
            compensation_id: CompensationId::from_uuid(m.id),
            case_id: CaseId::from_uuid(m.case_id),
            task_id: m.task_id.map(TaskId::from_uuid),
            kind: word(TABLE, m.id, &m.kind)?,
            status: word(TABLE, m.id, &m.status)?,
            amount: Money::from_fen(m.amount_fen),
            reason: m.reason,
            requested_by: UserId::from_uuid(m.requested_by),
            decided_by: m.decided_by.map(UserId::from_uuid),
            decision_reason: m.decision_reason,
            requested_at: m.requested_at,
            decided_at: m.decided_at,
        })
    }
}

/// An offer to record.
#[derive(Debug, Clone)]
pub struct NewCompensation {
    pub id: CompensationId,
    pub case_id: CaseId,
    pub task_id: Option<TaskId>,
    pub kind: CompensationKind,
    pub amount: Money,
    pub reason: String,
    /// `Approved` when it was within the requester's limit (and drawn already), else `Pending`.
    pub status: CompensationStatus,
    pub requested_by: UserId,
    pub requested_at: DateTime<Utc>,
}

pub async fn insert_compensation<C: ConnectionTrait>(conn: &C, new: NewCompensation) -> Result<(), StoreError> {
    let decided_at = (new.status == CompensationStatus::Approved).then_some(new.requested_at);
    compensation::Entity::insert(compensation::ActiveModel {
        id: Set(new.id.as_uuid()),
        case_id: Set(new.case_id.as_uuid()),
        task_id: Set(new.task_id.map(TaskId::as_uuid)),
        kind: Set(new.kind.as_str().to_owned()),
        amount_fen: Set(new.amount.fen()),
        reason: Set(new.reason),
        status: Set(new.status.as_str().to_owned()),
        requested_by: Set(new.requested_by.as_uuid()),
        decided_by: Set(None),
        decision_reason: Set(None),
        requested_at: Set(new.requested_at),
        decided_at: Set(decided_at),
    })
    .exec_without_returning(conn)
    .await
    .during(TABLE, "insert_compensation")?;
    Ok(())
}

pub async fn compensation_by_id<C: ConnectionTrait>(
    conn: &C,
    id: CompensationId,
) -> Result<Option<Compensation>, StoreError> {
    let found = compensation::Entity::find_by_id(id.as_uuid()).one(conn).await.during(TABLE, "compensation_by_id")?;
    found.map(Compensation::try_from).transpose()
}

/// Offers by status (all when `None`), oldest first, after the offer `after` when given.
pub async fn list_compensations<C: ConnectionTrait>(
    conn: &C,
    status: Option<CompensationStatus>,
    after: Option<CompensationId>,
    limit: u64,
) -> Result<Vec<Compensation>, StoreError> {
    // Ids are UUID v7 of the real clock, in the order the offers were made (which a server
    // started with `--now` may stamp otherwise in `requested_at`): a page goes on after the
    // last id.
    let mut query = compensation::Entity::find().order_by_asc(compensation::Column::Id).limit(limit);
    if let Some(status) = status {
        query = query.filter(compensation::Column::Status.eq(status.as_str()));
    }
    if let Some(after) = after {
        query = query.filter(compensation::Column::Id.gt(after.as_uuid()));
    }
    let rows = query.all(conn).await.during(TABLE, "list_compensations")?;
    rows.into_iter().map(Compensation::try_from).collect()
}

/// How many offers are in `status`: a page that lists the first few says how many wait.
pub async fn count_compensations<C: ConnectionTrait>(conn: &C, status: CompensationStatus) -> Result<u64, StoreError> {
    compensation::Entity::find()
        .filter(compensation::Column::Status.eq(status.as_str()))
        .count(conn)
        .await
        .during(TABLE, "count_compensations")
}

/// Records a decision on an offer that is still pending; false if someone decided it first.
pub async fn decide_compensation<C: ConnectionTrait>(
    conn: &C,
    id: CompensationId,
    status: CompensationStatus,
    decided_by: UserId,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let decided = compensation::Entity::update_many()
        .col_expr(compensation::Column::Status, Expr::value(status.as_str()))
        .col_expr(compensation::Column::DecidedBy, Expr::value(decided_by.as_uuid()))
        .col_expr(compensation::Column::DecisionReason, Expr::value(reason))
        .col_expr(compensation::Column::DecidedAt, Expr::value(now))
        .filter(compensation::Column::Id.eq(id.as_uuid()))
        .filter(compensation::Column::Status.eq(CompensationStatus::Pending.as_str()))
        .exec(conn)
        .await
        .during(TABLE, "decide_compensation")?;
    Ok(decided.rows_affected == 1)
}
