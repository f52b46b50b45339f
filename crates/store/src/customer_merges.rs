//! The `customer_merges` table: who was found to be whom, so a merge can be undone one step at a time.

use chrono::{DateTime, Utc};
use mend_core::{CustomerId, MergeId};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;

use crate::StoreError;
use crate::bulk::{Cell, Kind, OnConflict, Table};
use crate::entities::{customer, customer_identity, customer_merge};

use crate::batch::CustomerMergeWrite;
use crate::error::During;

const TABLE: &str = "customer_merges";

pub(crate) const MERGES: Table = Table {
    name: "customer_merges",
    columns: &[
        ("id", Kind::Uuid, false),
        ("survivor_id", Kind::Uuid, false),
        ("merged_id", Kind::Uuid, false),
        ("source", Kind::Text, false),
        ("actor", Kind::Text, false),
        ("merged_at", Kind::Time, false),
    ],
    on_conflict: OnConflict::Fail,
};

pub(crate) fn merge_cells(m: &CustomerMergeWrite) -> Vec<Cell<'_>> {
    vec![
        Cell::Uuid(m.id.as_uuid()),
        Cell::Uuid(m.survivor.as_uuid()),
        Cell::Uuid(m.merged.as_uuid()),
        Cell::Text(Some(&m.source)),
        Cell::Text(Some(&m.actor)),
        Cell::Time(Some(m.at)),
    ]
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
        .await
        .during(TABLE, "merges_into")?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// The merge that folded `merged` into another customer, if it is still in force.
pub async fn merge_of<C: ConnectionTrait>(conn: &C, merged: CustomerId) -> Result<Option<MergeRecord>, StoreError> {
    let row = customer_merge::Entity::find()
        .filter(customer_merge::Column::MergedId.eq(merged.as_uuid()))
        .filter(customer_merge::Column::UnmergedAt.is_null())
        .one(conn)
        .await
        .during(TABLE, "merge_of")?;
    Ok(row.map(Into::into))
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
        .await
        .during(TABLE, "undo_merge")?;
    customer::Entity::update_many()
        .col_expr(customer::Column::MergedInto, Expr::value(Option::<uuid::Uuid>::None))
        .col_expr(customer::Column::UpdatedAt, Expr::value(at))
        .filter(customer::Column::Id.eq(merge.merged_id.as_uuid()))
        .exec(conn)
        .await
        .during(TABLE, "undo_merge")?;
    customer_merge::Entity::update_many()
        .col_expr(customer_merge::Column::UnmergedAt, Expr::value(at))
        .col_expr(customer_merge::Column::UnmergedBy, Expr::value(actor))
        .filter(customer_merge::Column::Id.eq(merge.merge_id.as_uuid()))
        .exec(conn)
        .await
        .during(TABLE, "undo_merge")?;
    Ok(())
}
