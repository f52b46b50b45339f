//! The `customers` table's writes by people (the rest of a customer is written by intake).

use chrono::{DateTime, Utc};
use mend_core::CustomerId;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::StoreError;
use crate::entities::customer;

/// Sets (or, with `None`, clears) the temperament a person chose for a customer, with an audit
/// event; false when there is no such customer.
pub async fn set_temperament(
    store: &crate::Store,
    customer: CustomerId,
    temperament: Option<&str>,
    set_by: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let tx = store.begin_write().await?;
    let updated = customer::Entity::update_many()
        .col_expr(customer::Column::Temperament, Expr::value(temperament.map(str::to_owned)))
        .col_expr(customer::Column::TemperamentSetBy, Expr::value(temperament.map(|_| set_by.to_owned())))
        .col_expr(customer::Column::UpdatedAt, Expr::value(now))
        .filter(customer::Column::Id.eq(customer.as_uuid()))
        .exec(&tx)
        .await?;
    if updated.rows_affected != 1 {
        return Ok(false);
    }
    let entry = crate::AuditEntry {
        at: now,
        actor: set_by.to_owned(),
        action: "set_temperament".into(),
        subject_kind: "customer".into(),
        subject_id: Some(customer.as_uuid()),
        detail: serde_json::json!({ "temperament": temperament }),
    };
    crate::intake::record_audit(&tx, entry).await?;
    tx.commit().await?;
    Ok(true)
}
