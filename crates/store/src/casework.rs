//! Reads and writes behind people's corrections — merging and splitting cases, closing them,
//! undoing a customer merge — and the customer's 360° view. These touch a handful of rows at a
//! time, so they are plain statements rather than batches.

use chrono::{DateTime, Utc};
use mend_core::{CaseId, ComplaintId, CustomerId, MergeId};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;

use crate::entities::{case, compensation, complaint, customer, customer_identity, customer_merge, task};
use crate::{CaseRecord, ComplaintRecord, CustomerRecord, IdentityRecord, StoreError};

pub async fn case_by_id<C: ConnectionTrait>(conn: &C, id: CaseId) -> Result<Option<CaseRecord>, StoreError> {
    case::Entity::find_by_id(id.as_uuid()).one(conn).await?.map(CaseRecord::try_from).transpose()
}

/// The complaints of these cases, oldest first.
pub async fn complaints_of_cases<C: ConnectionTrait>(
    conn: &C,
    cases: &[CaseId],
) -> Result<Vec<ComplaintRecord>, StoreError> {
    let rows = complaint::Entity::find()
        .filter(complaint::Column::CaseId.is_in(cases.iter().map(|c| c.as_uuid())))
        .order_by_asc(complaint::Column::ReceivedAt)
        .order_by_asc(complaint::Column::Id)
        .all(conn)
        .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// Puts a complaint in another case (and with that case's customer).
pub async fn move_complaint<C: ConnectionTrait>(
    conn: &C,
    id: ComplaintId,
    case_id: CaseId,
    customer_id: CustomerId,
) -> Result<(), StoreError> {
    complaint::Entity::update_many()
        .col_expr(complaint::Column::CaseId, Expr::value(case_id.as_uuid()))
        .col_expr(complaint::Column::CustomerId, Expr::value(customer_id.as_uuid()))
        .filter(complaint::Column::Id.eq(id.as_uuid()))
        .exec(conn)
        .await?;
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MergeRecord {
    pub merge_id: MergeId,
    pub survivor_id: CustomerId,
    pub merged_id: CustomerId,
    pub source: String,
    pub actor: String,
    pub merged_at: DateTime<Utc>,
    pub unmerged_at: Option<DateTime<Utc>>,
}

impl From<customer_merge::Model> for MergeRecord {
    fn from(m: customer_merge::Model) -> Self {
        Self {
            merge_id: MergeId::from_uuid(m.id),
            survivor_id: CustomerId::from_uuid(m.survivor_id),
            merged_id: CustomerId::from_uuid(m.merged_id),
            source: m.source,
            actor: m.actor,
            merged_at: m.merged_at,
            unmerged_at: m.unmerged_at,
        }
    }
}

/// The merges into `survivor` still in force, newest first.
pub async fn merges_into<C: ConnectionTrait>(conn: &C, survivor: CustomerId) -> Result<Vec<MergeRecord>, StoreError> {
    let rows = customer_merge::Entity::find()
        .filter(customer_merge::Column::SurvivorId.eq(survivor.as_uuid()))
        .filter(customer_merge::Column::UnmergedAt.is_null())
        .order_by_desc(customer_merge::Column::MergedAt)
        .order_by_desc(customer_merge::Column::Id)
        .all(conn)
        .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// The merge that folded `merged` into another customer, if it is still in force.
pub async fn merge_of<C: ConnectionTrait>(conn: &C, merged: CustomerId) -> Result<Option<MergeRecord>, StoreError> {
    let row = customer_merge::Entity::find()
        .filter(customer_merge::Column::MergedId.eq(merged.as_uuid()))
        .filter(customer_merge::Column::UnmergedAt.is_null())
        .one(conn)
        .await?;
    Ok(row.map(Into::into))
}

/// A customer and, if it was merged into another, which one.
pub async fn customer<C: ConnectionTrait>(
    conn: &C,
    id: CustomerId,
) -> Result<Option<(CustomerRecord, Option<CustomerId>)>, StoreError> {
    let row = customer::Entity::find_by_id(id.as_uuid()).one(conn).await?;
    Ok(row.map(|m| {
        let merged_into = m.merged_into.map(CustomerId::from_uuid);
        (CustomerRecord::from(m), merged_into)
    }))
}

/// Undoes the bookkeeping of one merge: the merged customer stands alone again and every key it
/// (or a customer merged into it) first had comes back to it. The complaints and cases are the
/// caller's to move, complaint by complaint.
pub async fn undo_merge<C: ConnectionTrait>(
    conn: &C,
    merge: &MergeRecord,
    returning_keys_of: &[CustomerId],
    actor: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    customer_identity::Entity::update_many()
        .col_expr(customer_identity::Column::CustomerId, Expr::value(merge.merged_id.as_uuid()))
        .filter(customer_identity::Column::CustomerId.eq(merge.survivor_id.as_uuid()))
        .filter(customer_identity::Column::OriginalCustomerId.is_in(returning_keys_of.iter().map(|c| c.as_uuid())))
        .exec(conn)
        .await?;
    customer::Entity::update_many()
        .col_expr(customer::Column::MergedInto, Expr::value(Option::<uuid::Uuid>::None))
        .col_expr(customer::Column::UpdatedAt, Expr::value(at))
        .filter(customer::Column::Id.eq(merge.merged_id.as_uuid()))
        .exec(conn)
        .await?;
    customer_merge::Entity::update_many()
        .col_expr(customer_merge::Column::UnmergedAt, Expr::value(at))
        .col_expr(customer_merge::Column::UnmergedBy, Expr::value(actor))
        .filter(customer_merge::Column::Id.eq(merge.merge_id.as_uuid()))
        .exec(conn)
        .await?;
    Ok(())
}

/// Which customer each of these keys belongs to now.
pub async fn key_owners<C: ConnectionTrait>(
    conn: &C,
    keys: &[mend_core::CustomerKey],
) -> Result<Vec<(mend_core::CustomerKey, CustomerId)>, StoreError> {
    Ok(crate::intake::find_identities(conn, keys).await?.into_iter().map(|k| (k.key, k.customer_id)).collect())
}

/// A customer with everything mend knows: every key, every complaint across channels on one
/// timeline, the cases, the contacts made (callback tasks) and compensation so far.
#[derive(Debug, Clone, Serialize)]
pub struct CustomerView {
    #[serde(flatten)]
    pub customer: CustomerRecord,
    /// The customers merged into this one (and how to undo it).
    pub merged: Vec<MergeRecord>,
    pub identities: Vec<IdentityRecord>,
    pub cases: Vec<CaseRecord>,
    pub complaints: Vec<ComplaintRecord>,
    pub contacts: Vec<ContactRecord>,
    pub compensations: Vec<CompensationRecord>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ContactRecord {
    pub task_id: uuid::Uuid,
    pub case_id: CaseId,
    pub kind: String,
    pub status: String,
    pub due_at: DateTime<Utc>,
    pub outcome: Option<serde_json::Value>,
    pub completed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CompensationRecord {
    pub compensation_id: uuid::Uuid,
    pub case_id: CaseId,
    pub kind: String,
    pub amount_fen: i64,
    pub status: String,
    pub reason: String,
    pub requested_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
}

pub async fn customer_view<C: ConnectionTrait>(conn: &C, id: CustomerId) -> Result<Option<CustomerView>, StoreError> {
    let Some((customer, _)) = customer(conn, id).await? else { return Ok(None) };
    let identities = customer_identity::Entity::find()
        .filter(customer_identity::Column::CustomerId.eq(id.as_uuid()))
        .order_by_asc(customer_identity::Column::LinkedAt)
        .order_by_asc(customer_identity::Column::Id)
        .all(conn)
        .await?;
    let cases = crate::intake::customer_cases(conn, id).await?;
    let case_ids: Vec<CaseId> = cases.iter().map(|c| c.id).collect();
    let complaints = complaints_of_cases(conn, &case_ids).await?;
    let contacts = task::Entity::find()
        .filter(task::Column::CaseId.is_in(case_ids.iter().map(|c| c.as_uuid())))
        .order_by_asc(task::Column::DueAt)
        .all(conn)
        .await?
        .into_iter()
        .map(|t| ContactRecord {
            task_id: t.id,
            case_id: CaseId::from_uuid(t.case_id),
            kind: t.kind,
            status: t.status,
            due_at: t.due_at,
            outcome: t.outcome.and_then(|o| serde_json::from_str(&o).ok()),
            completed_at: t.completed_at,
        })
        .collect();
    let compensations = compensation::Entity::find()
        .filter(compensation::Column::CaseId.is_in(case_ids.iter().map(|c| c.as_uuid())))
        .order_by_asc(compensation::Column::RequestedAt)
        .all(conn)
        .await?
        .into_iter()
        .map(|c| CompensationRecord {
            compensation_id: c.id,
            case_id: CaseId::from_uuid(c.case_id),
            kind: c.kind,
            amount_fen: c.amount_fen,
            status: c.status,
            reason: c.reason,
            requested_at: c.requested_at,
            decided_at: c.decided_at,
        })
        .collect();
    Ok(Some(CustomerView {
        customer,
        merged: merges_into(conn, id).await?,
        identities: identities.into_iter().map(Into::into).collect(),
        cases,
        complaints,
        contacts,
        compensations,
    }))
}
