//! The `audit_events` table: what people and bulk operations did.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;

use crate::bulk::{Cell, Kind, OnConflict, Table};
use crate::entities::audit_event;
use crate::error::During;
use crate::records::json_column;
use crate::{AuditEntry, StoreError};

const TABLE: &str = "audit_events";

pub async fn record_audit<C: ConnectionTrait>(conn: &C, entry: AuditEntry) -> Result<(), StoreError> {
    record_audits(conn, std::slice::from_ref(&entry)).await
}

/// Appends `entries` in one statement (the desk records a round of claims at once).
pub async fn record_audits<C: ConnectionTrait>(conn: &C, entries: &[AuditEntry]) -> Result<(), StoreError> {
    let details = details_of(entries);
    if let Some(statement) = AUDIT_EVENTS.insert(conn.get_database_backend(), audit_cells(entries, &details))? {
        conn.execute_raw(statement).await.during(TABLE, "record_audits")?;
    }
    Ok(())
}

/// Each entry's detail as it is stored, for [`audit_cells`].
pub(crate) fn details_of(entries: &[AuditEntry]) -> Vec<String> {
    entries.iter().map(|e| e.detail.to_string()).collect()
}

/// `entries` as rows of [`AUDIT_EVENTS`], each with a new id; `details` from [`details_of`].
pub(crate) fn audit_cells<'a>(entries: &'a [AuditEntry], details: &'a [String]) -> impl Iterator<Item = Vec<Cell<'a>>> {
    entries.iter().zip(details).map(|(e, detail)| {
        vec![
            Cell::Uuid(uuid::Uuid::now_v7()),
            Cell::Time(Some(e.at)),
            Cell::Text(Some(&e.actor)),
            Cell::Text(Some(&e.action)),
            Cell::Text(Some(&e.subject_kind)),
            Cell::NullableUuid(e.subject_id),
            Cell::Text(Some(detail)),
        ]
    })
}

pub(crate) const AUDIT_EVENTS: Table = Table {
    name: "audit_events",
    columns: &[
        ("id", Kind::Uuid, false),
        ("at", Kind::Time, false),
        ("actor", Kind::Text, false),
        ("action", Kind::Text, false),
        ("subject_kind", Kind::Text, false),
        ("subject_id", Kind::Uuid, true),
        ("detail", Kind::Text, false),
    ],
    on_conflict: OnConflict::Fail,
};

/// One entry of the audit log as it is read back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditRecord {
    pub audit_id: uuid::Uuid,
    #[serde(flatten)]
    pub entry: AuditEntry,
}

/// Which entries a read returns; every part is optional.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub subject_kind: Option<String>,
    pub subject_id: Option<uuid::Uuid>,
    pub actor: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub limit: u64,
}

/// Entries by the filter, oldest first.
pub async fn audit_entries<C: ConnectionTrait>(conn: &C, filter: &AuditFilter) -> Result<Vec<AuditRecord>, StoreError> {
    let mut query = audit_event::Entity::find()
        .order_by_asc(audit_event::Column::At)
        .order_by_asc(audit_event::Column::Id)
        .limit(filter.limit);
    if let Some(kind) = &filter.subject_kind {
        query = query.filter(audit_event::Column::SubjectKind.eq(kind.as_str()));
    }
    if let Some(id) = filter.subject_id {
        query = query.filter(audit_event::Column::SubjectId.eq(id));
    }
    if let Some(actor) = &filter.actor {
        query = query.filter(audit_event::Column::Actor.eq(actor.as_str()));
    }
    if let Some(since) = filter.since {
        query = query.filter(audit_event::Column::At.gte(since));
    }
    let rows = query.all(conn).await.during(TABLE, "audit_entries")?;
    rows.into_iter()
        .map(|m| {
            Ok(AuditRecord {
                entry: AuditEntry {
                    detail: json_column(TABLE, m.id, "detail", &m.detail)?,
                    at: m.at,
                    actor: m.actor,
                    action: m.action,
                    subject_kind: m.subject_kind,
                    subject_id: m.subject_id,
                },
                audit_id: m.id,
            })
        })
        .collect()
}

/// The subjects of the entries of `action` written since the instant the UUID v7 `floor` stands
/// for (an entry's id is stamped as it is written), each once.
pub async fn subjects_since<C: ConnectionTrait>(
    conn: &C,
    action: &str,
    floor: uuid::Uuid,
) -> Result<Vec<uuid::Uuid>, StoreError> {
    // Closed above, as the sweep's ranges are: PostgreSQL estimates a one-sided range of UUIDs
    // as a third of the table.
    let subjects: Vec<Option<uuid::Uuid>> = audit_event::Entity::find()
        .select_only()
        .column(audit_event::Column::SubjectId)
        .distinct()
        .filter(audit_event::Column::Id.between(floor, uuid::Uuid::max()))
        .filter(audit_event::Column::Action.eq(action))
        .into_tuple()
        .all(conn)
        .await
        .during(TABLE, "subjects_since")?;
    Ok(subjects.into_iter().flatten().collect())
}
