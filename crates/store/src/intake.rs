//! The set-based reads and the single write behind recording a batch of deliveries.
//!
//! Every function takes a connection or transaction, so the caller decides the unit of work:
//! intake runs lookups, decisions and the [`BatchWrite`] in one transaction.

use chrono::{DateTime, Utc};
use mend_core::{Channel, CustomerDetails, CustomerId, CustomerKey};
use sea_orm::sea_query::{Expr, Func};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryTrait, Set,
    Statement,
};

use crate::bulk::{self, Cell, Kind, Table};
use crate::entities::{audit_event, customer};
use crate::{
    AuditEntry, Backend, CaseRecord, KnownDelivery, KnownIdentity, NewComplaint, NewCustomer, NewIdentity,
    NewQuarantine, StoreError,
};

/// Which of these delivery keys are already stored.
pub async fn find_deliveries<C: ConnectionTrait>(
    conn: &C,
    keys: &[(Channel, &str)],
) -> Result<Vec<KnownDelivery>, StoreError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let sql = match conn.get_database_backend() {
        DbBackend::Postgres => {
            "SELECT json_agg(json_build_array(c.channel, c.source_id, c.id, c.case_id, c.customer_id))::text \
             FROM complaints c JOIN UNNEST($1::text[], $2::text[]) AS k(channel, source_id) \
             ON c.channel = k.channel AND c.source_id = k.source_id"
        }
        _ => {
            "SELECT json_group_array(json_array(c.channel, c.source_id, hex(c.id), hex(c.case_id), hex(c.customer_id))) \
             FROM jsonb_each(?1) k JOIN complaints c \
             ON c.channel = k.value->>0 AND c.source_id = k.value->>1"
        }
    };
    let pairs: Vec<(&str, &str)> = keys.iter().map(|(channel, source_id)| (channel.as_str(), *source_id)).collect();
    let params = bulk::pair_params(conn.get_database_backend(), &pairs)?;
    let rows: Vec<(String, String, uuid::Uuid, uuid::Uuid, uuid::Uuid)> = bulk::query_json(conn, sql, params).await?;
    Ok(rows
        .into_iter()
        .map(|(channel, source_id, id, case_id, customer_id)| KnownDelivery {
            channel,
            source_id,
            complaint_id: mend_core::ComplaintId::from_uuid(id),
            case_id: mend_core::CaseId::from_uuid(case_id),
            customer_id: CustomerId::from_uuid(customer_id),
        })
        .collect())
}

/// Which of these keys already point at a customer.
pub async fn find_identities<C: ConnectionTrait>(
    conn: &C,
    keys: &[CustomerKey],
) -> Result<Vec<KnownIdentity>, StoreError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let sql = match conn.get_database_backend() {
        DbBackend::Postgres => {
            "SELECT json_agg(json_build_array(i.kind, i.value, i.customer_id, \
                 (u.display_name IS NOT NULL)::int, (u.email IS NOT NULL)::int))::text \
             FROM customer_identities i JOIN UNNEST($1::text[], $2::text[]) AS k(kind, value) \
             ON i.kind = k.kind AND i.value = k.value JOIN customers u ON u.id = i.customer_id"
        }
        _ => {
            "SELECT json_group_array(json_array(i.kind, i.value, hex(i.customer_id), \
                 u.display_name IS NOT NULL, u.email IS NOT NULL)) \
             FROM jsonb_each(?1) k JOIN customer_identities i ON i.kind = k.value->>0 AND i.value = k.value->>1 \
             JOIN customers u ON u.id = i.customer_id"
        }
    };
    let pairs: Vec<(&str, &str)> = keys.iter().map(|k| (k.kind.as_str(), k.value.as_str())).collect();
    let params = bulk::pair_params(conn.get_database_backend(), &pairs)?;
    let rows: Vec<(String, String, uuid::Uuid, u8, u8)> = bulk::query_json(conn, sql, params).await?;
    rows.into_iter()
        .map(|(kind, value, customer_id, has_name, has_email)| {
            Ok(KnownIdentity {
                key: CustomerKey::new(kind.parse().map_err(StoreError::Corrupt)?, value),
                customer_id: CustomerId::from_uuid(customer_id),
                has_name: has_name != 0,
                has_email: has_email != 0,
            })
        })
        .collect()
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
    // Ordered locking, so two batches never wait on each other in a cycle. The lock is its own
    // statement: a statement that waited for a lock still reads other tables as of its start.
    let sql =
        "SELECT count(*) FROM (SELECT id FROM customers WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE) locked";
    let ids = bulk::id_param(DbBackend::Postgres, &sorted)?;
    conn.query_one_raw(Statement::from_sql_and_values(DbBackend::Postgres, sql, [ids])).await?;
    Ok(())
}

/// Cases of these customers that a complaint received at or after `since` could still join:
/// open cases, and closed ones recent enough to be reopened.
pub async fn find_groupable_cases<C: ConnectionTrait>(
    conn: &C,
    customers: &[CustomerId],
    since: DateTime<Utc>,
) -> Result<Vec<CaseRecord>, StoreError> {
    if customers.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<uuid::Uuid> = customers.iter().map(|c| c.as_uuid()).collect();
    let sql = match conn.get_database_backend() {
        DbBackend::Postgres => {
            "SELECT json_agg(json_build_array(id, customer_id, category, status, escalation_risk::int, \
                 repeat_failure::int, complaint_count, first_complaint_at, last_complaint_at, opened_at, closed_at, \
                 updated_at))::text \
             FROM cases WHERE customer_id = ANY($1::uuid[]) AND last_complaint_at >= $2"
        }
        _ => {
            "SELECT json_group_array(json_array(hex(id), hex(customer_id), category, status, escalation_risk, \
                 repeat_failure, complaint_count, first_complaint_at, last_complaint_at, opened_at, closed_at, updated_at)) \
             FROM cases WHERE customer_id IN (SELECT unhex(value) FROM jsonb_each(?1)) AND last_complaint_at >= ?2"
        }
    };
    type Row = (uuid::Uuid, uuid::Uuid, String, String, u8, u8, i32, Time, Time, Time, Option<Time>, Time);
    let params = vec![bulk::id_param(conn.get_database_backend(), &ids)?, since.into()];
    let rows: Vec<Row> = bulk::query_json(conn, sql, params).await?;
    rows.into_iter()
        .map(|(id, customer_id, category, status, escalation, repeat, count, first, last, opened, closed, updated)| {
            Ok(CaseRecord {
                id: mend_core::CaseId::from_uuid(id),
                customer_id: CustomerId::from_uuid(customer_id),
                category,
                status: status.parse().map_err(StoreError::Corrupt)?,
                escalation_risk: escalation != 0,
                repeat_failure: repeat != 0,
                complaint_count: count,
                first_complaint_at: first,
                last_complaint_at: last,
                opened_at: opened,
                closed_at: closed,
                updated_at: updated,
            })
        })
        .collect()
}

type Time = DateTime<Utc>;

/// Everything one batch decided, written in one go. Complaints are borrowed from the batch:
/// [`BatchWrite::encode`] copies what it needs into the statements.
#[derive(Debug, Default)]
pub struct BatchWrite<'a> {
    pub customers: Vec<NewCustomer>,
    pub identities: Vec<NewIdentity>,
    /// Details learned for existing customers that had none.
    pub customer_details: Vec<(CustomerId, CustomerDetails)>,
    /// New and changed cases, written whole.
    pub cases: Vec<CaseRecord>,
    pub complaints: Vec<NewComplaint<'a>>,
    pub quarantine: Vec<NewQuarantine>,
}

/// A batch's statements, ready to run: encoding is CPU work that can happen on another thread
/// while the database executes the previous batch.
#[derive(Debug)]
pub struct EncodedWrite(Vec<Statement>);

impl BatchWrite<'_> {
    pub fn encode(&self, backend: Backend, now: DateTime<Utc>) -> Result<EncodedWrite, StoreError> {
        let backend = backend.db_backend();
        let mut statements = Vec::new();
        let mut push = |statement: Option<Statement>| statements.extend(statement);
        push(CUSTOMERS.insert(backend, self.customers.iter().map(customer_cells))?);
        for (id, details) in &self.customer_details {
            push(Some(fill_customer_details(backend, *id, details, now)));
        }
        push(IDENTITIES.insert(backend, self.identities.iter().map(identity_cells))?);
        push(CASES.insert(backend, self.cases.iter().map(case_cells))?);
        push(COMPLAINTS.insert(backend, self.complaints.iter().map(complaint_cells))?);
        push(QUARANTINE.insert(backend, self.quarantine.iter().map(quarantine_cells))?);
        Ok(EncodedWrite(statements))
    }
}

impl EncodedWrite {
    pub async fn execute<C: ConnectionTrait>(self, conn: &C) -> Result<(), StoreError> {
        for statement in self.0 {
            conn.execute_raw(statement).await?;
        }
        Ok(())
    }
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

fn fill_customer_details(
    backend: DbBackend,
    id: CustomerId,
    details: &CustomerDetails,
    now: DateTime<Utc>,
) -> Statement {
    // COALESCE keeps what an agent may already have corrected.
    customer::Entity::update_many()
        .col_expr(customer::Column::DisplayName, coalesce(customer::Column::DisplayName, details.name.clone()))
        .col_expr(customer::Column::Email, coalesce(customer::Column::Email, details.email.clone()))
        .col_expr(customer::Column::UpdatedAt, Expr::value(now))
        .filter(Condition::all().add(customer::Column::Id.eq(id.as_uuid())))
        .build(backend)
}

/// The column's value if it has one, else `value`.
fn coalesce(column: customer::Column, value: Option<String>) -> Expr {
    Expr::expr(Func::coalesce([Expr::col(column), Expr::val(value)]))
}

const QUARANTINE: Table = Table {
    name: "quarantine",
    columns: &[
        ("id", Kind::Uuid, false),
        ("channel", Kind::Text, false),
        ("raw", Kind::Bytes, false),
        ("reason", Kind::Text, false),
        ("received_at", Kind::Time, false),
    ],
    update_on_conflict: &[],
};

fn quarantine_cells(q: &NewQuarantine) -> Vec<Cell<'_>> {
    vec![
        Cell::Uuid(q.id.as_uuid()),
        Cell::Text(Some(&q.channel)),
        Cell::Bytes(&q.raw),
        Cell::Text(Some(&q.reason)),
        Cell::Time(Some(q.received_at)),
    ]
}

const CUSTOMERS: Table = Table {
    name: "customers",
    columns: &[
        ("id", Kind::Uuid, false),
        ("display_name", Kind::Text, true),
        ("email", Kind::Text, true),
        ("tier", Kind::Text, false),
        ("timezone", Kind::Text, false),
        ("do_not_disturb", Kind::Bool, false),
        ("created_at", Kind::Time, false),
        ("updated_at", Kind::Time, false),
    ],
    update_on_conflict: &[],
};

fn customer_cells(c: &NewCustomer) -> Vec<Cell<'_>> {
    vec![
        Cell::Uuid(c.id.as_uuid()),
        Cell::Text(c.details.name.as_deref()),
        Cell::Text(c.details.email.as_deref()),
        Cell::Text(Some("standard")),
        Cell::Text(Some(&c.timezone)),
        Cell::Bool(false),
        Cell::Time(Some(c.created_at)),
        Cell::Time(Some(c.created_at)),
    ]
}

const IDENTITIES: Table = Table {
    name: "customer_identities",
    columns: &[
        ("id", Kind::Uuid, false),
        ("customer_id", Kind::Uuid, false),
        ("kind", Kind::Text, false),
        ("value", Kind::Text, false),
        ("source", Kind::Text, false),
        ("linked_at", Kind::Time, false),
    ],
    update_on_conflict: &[],
};

fn identity_cells(i: &NewIdentity) -> Vec<Cell<'_>> {
    vec![
        Cell::Uuid(uuid::Uuid::now_v7()),
        Cell::Uuid(i.customer_id.as_uuid()),
        Cell::Text(Some(i.key.kind.as_str())),
        Cell::Text(Some(&i.key.value)),
        Cell::Text(Some(&i.source)),
        Cell::Time(Some(i.linked_at)),
    ]
}

const CASES: Table = Table {
    name: "cases",
    columns: &[
        ("id", Kind::Uuid, false),
        ("customer_id", Kind::Uuid, false),
        ("category", Kind::Text, false),
        ("status", Kind::Text, false),
        ("escalation_risk", Kind::Bool, false),
        ("repeat_failure", Kind::Bool, false),
        ("complaint_count", Kind::Int, false),
        ("first_complaint_at", Kind::Time, false),
        ("last_complaint_at", Kind::Time, false),
        ("opened_at", Kind::Time, false),
        ("closed_at", Kind::Time, true),
        ("updated_at", Kind::Time, false),
    ],
    update_on_conflict: &[
        "category",
        "status",
        "escalation_risk",
        "repeat_failure",
        "complaint_count",
        "first_complaint_at",
        "last_complaint_at",
        "closed_at",
        "updated_at",
    ],
};

fn case_cells(c: &CaseRecord) -> Vec<Cell<'_>> {
    vec![
        Cell::Uuid(c.id.as_uuid()),
        Cell::Uuid(c.customer_id.as_uuid()),
        Cell::Text(Some(&c.category)),
        Cell::Text(Some(c.status.as_str())),
        Cell::Bool(c.escalation_risk),
        Cell::Bool(c.repeat_failure),
        Cell::Int(Some(i64::from(c.complaint_count))),
        Cell::Time(Some(c.first_complaint_at)),
        Cell::Time(Some(c.last_complaint_at)),
        Cell::Time(Some(c.opened_at)),
        Cell::Time(c.closed_at),
        Cell::Time(Some(c.updated_at)),
    ]
}

const COMPLAINTS: Table = Table {
    name: "complaints",
    columns: &[
        ("id", Kind::Uuid, false),
        ("channel", Kind::Text, false),
        ("source_id", Kind::Text, false),
        ("customer_id", Kind::Uuid, false),
        ("case_id", Kind::Uuid, false),
        ("received_at", Kind::Time, false),
        ("text", Kind::Text, false),
        ("category", Kind::Text, false),
        ("category_source", Kind::Text, false),
        ("satisfaction", Kind::Int, true),
        ("formal_complaint", Kind::Bool, false),
        ("raw_payload", Kind::Text, false),
        ("grouping_reason", Kind::Text, false),
        ("ingested_at", Kind::Time, false),
    ],
    update_on_conflict: &[],
};

fn complaint_cells<'a>(n: &'a NewComplaint<'_>) -> Vec<Cell<'a>> {
    let c = n.complaint;
    vec![
        Cell::Uuid(n.id.as_uuid()),
        Cell::Text(Some(c.channel.as_str())),
        Cell::Text(Some(&c.source_id)),
        Cell::Uuid(n.customer_id.as_uuid()),
        Cell::Uuid(n.case_id.as_uuid()),
        Cell::Time(Some(c.received_at)),
        Cell::Text(Some(&c.text)),
        Cell::Text(Some(&n.category)),
        Cell::Text(Some(n.category_source)),
        Cell::Int(c.satisfaction.map(|s| i64::from(s.get()))),
        Cell::Bool(c.formal_complaint),
        Cell::Text(Some(&c.raw_payload)),
        Cell::Text(Some(&n.grouping_reason)),
        Cell::Time(Some(n.ingested_at)),
    ]
}
