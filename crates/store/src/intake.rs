//! The set-based reads and the single write behind recording a batch of deliveries.
//!
//! Every function takes a connection or transaction, so the caller decides the unit of work:
//! intake runs lookups, decisions and [`write_batch`] in one transaction.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use mend_core::{Channel, CustomerDetails, CustomerId, CustomerKey, IdentityKind};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QuerySelect,
    RelationTrait, Set, Statement,
};

use crate::entities::{audit_event, case, complaint, customer, customer_identity, quarantine};
use crate::{
    AuditEntry, CaseRecord, KnownDelivery, KnownIdentity, NewComplaint, NewCustomer, NewIdentity, NewQuarantine,
    StoreError,
};

/// Rows per INSERT: well under the bind-parameter limits of both SQLite (32,766) and
/// PostgreSQL (65,535) for our widest table.
const INSERT_CHUNK: usize = 1_000;
/// Values per `IN (…)` list.
const LOOKUP_CHUNK: usize = 2_000;

/// Which of these delivery keys are already stored.
pub async fn find_deliveries<C: ConnectionTrait>(
    conn: &C,
    keys: &[(Channel, &str)],
) -> Result<Vec<KnownDelivery>, StoreError> {
    let mut by_channel: BTreeMap<Channel, Vec<&str>> = BTreeMap::new();
    for (channel, source_id) in keys {
        by_channel.entry(*channel).or_default().push(source_id);
    }
    let mut found = Vec::new();
    for (channel, source_ids) in by_channel {
        for chunk in source_ids.chunks(LOOKUP_CHUNK) {
            let rows: Vec<(String, String, uuid::Uuid, uuid::Uuid, uuid::Uuid)> = complaint::Entity::find()
                .select_only()
                .columns([
                    complaint::Column::Channel,
                    complaint::Column::SourceId,
                    complaint::Column::Id,
                    complaint::Column::CaseId,
                    complaint::Column::CustomerId,
                ])
                .filter(complaint::Column::Channel.eq(channel.as_str()))
                .filter(complaint::Column::SourceId.is_in(chunk.iter().copied()))
                .into_tuple()
                .all(conn)
                .await?;
            found.extend(rows.into_iter().map(|(channel, source_id, id, case_id, customer_id)| KnownDelivery {
                channel,
                source_id,
                complaint_id: mend_core::ComplaintId::from_uuid(id),
                case_id: mend_core::CaseId::from_uuid(case_id),
                customer_id: CustomerId::from_uuid(customer_id),
            }));
        }
    }
    Ok(found)
}

/// Which of these keys already point at a customer.
pub async fn find_identities<C: ConnectionTrait>(
    conn: &C,
    keys: &[CustomerKey],
) -> Result<Vec<KnownIdentity>, StoreError> {
    let mut by_kind: BTreeMap<IdentityKind, Vec<&str>> = BTreeMap::new();
    for key in keys {
        by_kind.entry(key.kind).or_default().push(&key.value);
    }
    let mut found = Vec::new();
    for (kind, values) in by_kind {
        for chunk in values.chunks(LOOKUP_CHUNK) {
            let rows: Vec<(String, uuid::Uuid, Option<String>, Option<String>)> = customer_identity::Entity::find()
                .select_only()
                .column(customer_identity::Column::Value)
                .column(customer_identity::Column::CustomerId)
                .column_as(Expr::col((customer::Entity, customer::Column::DisplayName)), "display_name")
                .column_as(Expr::col((customer::Entity, customer::Column::Email)), "email")
                .join(sea_orm::JoinType::InnerJoin, customer_identity::Relation::Customer.def())
                .filter(customer_identity::Column::Kind.eq(kind.as_str()))
                .filter(customer_identity::Column::Value.is_in(chunk.iter().copied()))
                .into_tuple()
                .all(conn)
                .await?;
            found.extend(rows.into_iter().map(|(value, customer_id, name, email)| KnownIdentity {
                key: CustomerKey::new(kind, value),
                customer_id: CustomerId::from_uuid(customer_id),
                has_name: name.is_some(),
                has_email: email.is_some(),
            }));
        }
    }
    Ok(found)
}

/// Serializes concurrent intakes that touch the same customers: on PostgreSQL the customer rows
/// are locked until the transaction ends, so grouping decisions made after this call see every
/// case committed before it. SQLite allows one writer at a time, which already serializes.
pub async fn lock_customers<C: ConnectionTrait>(conn: &C, ids: &[CustomerId]) -> Result<(), StoreError> {
    if conn.get_database_backend() != DbBackend::Postgres || ids.is_empty() {
        return Ok(());
    }
    let mut sorted: Vec<uuid::Uuid> = ids.iter().map(|id| id.as_uuid()).collect();
    sorted.sort_unstable();
    sorted.dedup();
    for chunk in sorted.chunks(LOOKUP_CHUNK) {
        // Ordered locking so two batches never wait on each other in a cycle.
        let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!("SELECT id FROM customers WHERE id IN ({}) ORDER BY id FOR UPDATE", placeholders.join(","));
        let values: Vec<sea_orm::Value> = chunk.iter().map(|u| (*u).into()).collect();
        conn.query_all_raw(Statement::from_sql_and_values(DbBackend::Postgres, sql, values)).await?;
    }
    Ok(())
}

/// Cases of these customers that a complaint received at or after `since` could still join:
/// open cases, and closed ones recent enough to be reopened.
pub async fn find_groupable_cases<C: ConnectionTrait>(
    conn: &C,
    customers: &[CustomerId],
    since: DateTime<Utc>,
) -> Result<Vec<CaseRecord>, StoreError> {
    let mut found = Vec::new();
    for chunk in customers.chunks(LOOKUP_CHUNK) {
        let rows = case::Entity::find()
            .filter(case::Column::CustomerId.is_in(chunk.iter().map(|c| c.as_uuid())))
            .filter(case::Column::LastComplaintAt.gte(since))
            .all(conn)
            .await?;
        for row in rows {
            found.push(CaseRecord::try_from(row)?);
        }
    }
    Ok(found)
}

/// Everything one batch decided, written in one go.
#[derive(Debug, Default)]
pub struct BatchWrite {
    pub customers: Vec<NewCustomer>,
    pub identities: Vec<NewIdentity>,
    /// Details learned for existing customers that had none.
    pub customer_details: Vec<(CustomerId, CustomerDetails)>,
    /// New and changed cases, written whole.
    pub cases: Vec<CaseRecord>,
    pub complaints: Vec<NewComplaint>,
    pub quarantine: Vec<NewQuarantine>,
}

pub async fn write_batch<C: ConnectionTrait>(
    conn: &C,
    batch: BatchWrite,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    insert_chunked(conn, batch.customers.into_iter().map(customer_row), None).await?;
    for (id, details) in batch.customer_details {
        fill_customer_details(conn, id, details, now).await?;
    }
    insert_chunked(conn, batch.identities.into_iter().map(identity_row), None).await?;
    let case_upsert = OnConflict::column(case::Column::Id)
        .update_columns([
            case::Column::Category,
            case::Column::Status,
            case::Column::EscalationRisk,
            case::Column::RepeatFailure,
            case::Column::ComplaintCount,
            case::Column::FirstComplaintAt,
            case::Column::LastComplaintAt,
            case::Column::ClosedAt,
            case::Column::UpdatedAt,
        ])
        .to_owned();
    insert_chunked(conn, batch.cases.into_iter().map(case_row), Some(case_upsert)).await?;
    insert_chunked(conn, batch.complaints.into_iter().map(complaint_row), None).await?;
    insert_chunked(conn, batch.quarantine.into_iter().map(quarantine_row), None).await?;
    Ok(())
}

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
    .await?;
    Ok(())
}

async fn fill_customer_details<C: ConnectionTrait>(
    conn: &C,
    id: CustomerId,
    details: CustomerDetails,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    // COALESCE keeps what an agent may already have corrected.
    customer::Entity::update_many()
        .col_expr(customer::Column::DisplayName, Expr::cust_with_values("COALESCE(display_name, ?)", [details.name]))
        .col_expr(customer::Column::Email, Expr::cust_with_values("COALESCE(email, ?)", [details.email]))
        .col_expr(customer::Column::UpdatedAt, Expr::value(now))
        .filter(Condition::all().add(customer::Column::Id.eq(id.as_uuid())))
        .exec(conn)
        .await?;
    Ok(())
}

async fn insert_chunked<C, A>(
    conn: &C,
    rows: impl Iterator<Item = A>,
    on_conflict: Option<OnConflict>,
) -> Result<(), StoreError>
where
    C: ConnectionTrait,
    A: ActiveModelTrait + Send,
{
    let mut rows = rows.peekable();
    while rows.peek().is_some() {
        let chunk: Vec<A> = rows.by_ref().take(INSERT_CHUNK).collect();
        let mut insert = <A::Entity as EntityTrait>::insert_many(chunk);
        if let Some(on_conflict) = &on_conflict {
            insert = insert.on_conflict(on_conflict.clone());
        }
        insert.exec_without_returning(conn).await?;
    }
    Ok(())
}

fn customer_row(c: NewCustomer) -> customer::ActiveModel {
    customer::ActiveModel {
        id: Set(c.id.as_uuid()),
        display_name: Set(c.details.name),
        email: Set(c.details.email),
        tier: Set("standard".to_owned()),
        temperament: Set(None),
        timezone: Set(c.timezone),
        do_not_disturb: Set(false),
        merged_into: Set(None),
        created_at: Set(c.created_at),
        updated_at: Set(c.created_at),
    }
}

fn identity_row(i: NewIdentity) -> customer_identity::ActiveModel {
    customer_identity::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        customer_id: Set(i.customer_id.as_uuid()),
        kind: Set(i.key.kind.as_str().to_owned()),
        value: Set(i.key.value),
        source: Set(i.source),
        linked_at: Set(i.linked_at),
    }
}

fn case_row(c: CaseRecord) -> case::ActiveModel {
    case::ActiveModel {
        id: Set(c.id.as_uuid()),
        customer_id: Set(c.customer_id.as_uuid()),
        category: Set(c.category),
        status: Set(c.status.as_str().to_owned()),
        escalation_risk: Set(c.escalation_risk),
        repeat_failure: Set(c.repeat_failure),
        complaint_count: Set(c.complaint_count),
        first_complaint_at: Set(c.first_complaint_at),
        last_complaint_at: Set(c.last_complaint_at),
        opened_at: Set(c.opened_at),
        closed_at: Set(c.closed_at),
        updated_at: Set(c.updated_at),
    }
}

fn complaint_row(c: NewComplaint) -> complaint::ActiveModel {
    let NewComplaint { id, complaint, customer_id, case_id, category, category_source, grouping_reason, ingested_at } =
        c;
    complaint::ActiveModel {
        id: Set(id.as_uuid()),
        channel: Set(complaint.channel.as_str().to_owned()),
        source_id: Set(complaint.source_id),
        customer_id: Set(customer_id.as_uuid()),
        case_id: Set(case_id.as_uuid()),
        received_at: Set(complaint.received_at),
        text: Set(complaint.text),
        category: Set(category),
        category_source: Set(category_source.to_owned()),
        satisfaction: Set(complaint.satisfaction.map(i16::from)),
        formal_complaint: Set(complaint.formal_complaint),
        raw_payload: Set(complaint.raw_payload),
        grouping_reason: Set(grouping_reason.to_string()),
        ingested_at: Set(ingested_at),
    }
}

fn quarantine_row(q: NewQuarantine) -> quarantine::ActiveModel {
    quarantine::ActiveModel {
        id: Set(q.id.as_uuid()),
        channel: Set(q.channel),
        raw: Set(q.raw),
        reason: Set(q.reason),
        received_at: Set(q.received_at),
        resolved_at: Set(None),
    }
}
