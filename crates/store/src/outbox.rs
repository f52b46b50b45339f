//! The `outbox` table: emails queued once per dedupe key, for the sender to deliver.

use chrono::{DateTime, Utc};
use mend_core::CaseId;
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait, QueryOrder};
use serde::Serialize;

use crate::StoreError;
use crate::bulk::went_in;
use crate::entities::outbox;
use crate::error::During;

const TABLE: &str = "outbox";

/// An email to send, queued once per `dedupe_key`.
#[derive(Debug, Clone)]
pub struct NewEmail {
    pub kind: String,
    pub dedupe_key: String,
    pub case_id: Option<CaseId>,
    pub to_address: String,
    pub subject: String,
    pub body: String,
}

/// Queues an email unless one with its key was queued before; true when this call queued it.
pub async fn queue_email<C: ConnectionTrait>(
    conn: &C,
    email: NewEmail,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let inserted = outbox::Entity::insert(outbox::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        kind: Set(email.kind),
        dedupe_key: Set(email.dedupe_key),
        case_id: Set(email.case_id.map(CaseId::as_uuid)),
        to_address: Set(email.to_address),
        subject: Set(email.subject),
        body: Set(email.body),
        status: Set("queued".into()),
        attempts: Set(0),
        last_error: Set(None),
        created_at: Set(now),
        sent_at: Set(None),
    })
    .on_conflict_do_nothing_on([outbox::Column::DedupeKey])
    .exec_without_returning(conn)
    .await
    .during(TABLE, "queue_email")?;
    Ok(went_in(inserted))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueuedEmail {
    pub kind: String,
    pub case_id: Option<CaseId>,
    pub to_address: String,
    pub subject: String,
    pub body: String,
    pub status: String,
}

/// Emails in the outbox, oldest first.
pub async fn outbox<C: ConnectionTrait>(conn: &C) -> Result<Vec<QueuedEmail>, StoreError> {
    let rows =
        outbox::Entity::find().order_by_asc(outbox::Column::CreatedAt).all(conn).await.during(TABLE, "outbox")?;
    Ok(rows
        .into_iter()
        .map(|m| QueuedEmail {
            kind: m.kind,
            case_id: m.case_id.map(CaseId::from_uuid),
            to_address: m.to_address,
            subject: m.subject,
            body: m.body,
            status: m.status,
        })
        .collect())
}
