//! The `audit_events` table: what people and bulk operations did.

use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};

use crate::batch::CustomerMergeWrite;
use crate::bulk::{Cell, Kind, OnConflict, Table};
use crate::entities::audit_event;
use crate::error::During;
use crate::{AuditEntry, StoreError};

const TABLE: &str = "audit_events";

pub async fn record_audit<C: ConnectionTrait>(conn: &C, entry: AuditEntry) -> Result<(), StoreError> {
    audit_event::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        at: Set(entry.at),
        actor: Set(entry.actor),
        action: Set(entry.action),
        subject_kind: Set(entry.subject_kind),
        subject_id: Set(entry.subject_id),
        detail: Set(entry.detail.to_string()),
    }
    .insert(conn)
    .await
    .during(TABLE, "record_audit")?;
    Ok(())
}

pub(crate) const AUDIT_EVENTS: Table = Table {
    name: "audit_events",
    columns: &[
        ("id", Kind::Uuid, false),
        ("at", Kind::Time, false),
        ("actor", Kind::Text, false),
        ("action", Kind::Text, false),
        ("subject_kind", Kind::Text, false),
        ("subject_id", Kind::Uuid, false),
        ("detail", Kind::Text, false),
    ],
    on_conflict: OnConflict::Fail,
};

pub(crate) fn merge_audit_cells<'a>(m: &'a CustomerMergeWrite, detail: &'a str, id: uuid::Uuid) -> Vec<Cell<'a>> {
    vec![
        Cell::Uuid(id),
        Cell::Time(Some(m.at)),
        Cell::Text(Some(&m.actor)),
        Cell::Text(Some("customer.merged")),
        Cell::Text(Some("customer")),
        Cell::Uuid(m.survivor.as_uuid()),
        Cell::Text(Some(detail)),
    ]
}
