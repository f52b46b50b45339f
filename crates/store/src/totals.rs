//! How much the database holds, for the demo and the operators.

use mend_core::CaseStatus;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde::Serialize;

use crate::StoreError;
use crate::entities::{case, complaint, customer, quarantine};
use crate::error::During;

const TABLE: &str = "database";

/// Row counts of the main tables, for summaries and health pages.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Totals {
    pub customers: u64,
    pub complaints: u64,
    /// Cases in work or closed, not counting those merged into another.
    pub cases: u64,
    /// Cases folded into another (by a merge of customers or a person); they hold nothing.
    pub merged_cases: u64,
    pub quarantined: u64,
}

pub async fn totals<C: ConnectionTrait>(conn: &C) -> Result<Totals, StoreError> {
    Ok(Totals {
        customers: customer::Entity::find().count(conn).await.during(TABLE, "totals")?,
        complaints: complaint::Entity::find().count(conn).await.during(TABLE, "totals")?,
        cases: case::Entity::find()
            .filter(case::Column::Status.ne(CaseStatus::Merged.as_str()))
            .count(conn)
            .await
            .during(TABLE, "totals")?,
        merged_cases: case::Entity::find()
            .filter(case::Column::Status.eq(CaseStatus::Merged.as_str()))
            .count(conn)
            .await
            .during(TABLE, "totals")?,
        quarantined: quarantine::Entity::find().count(conn).await.during(TABLE, "totals")?,
    })
}
