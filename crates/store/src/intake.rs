//! The set-based reads and the single write behind recording a batch of deliveries.
//!
//! Every function takes a connection or transaction, so the caller decides the unit of work:
//! intake runs lookups, decisions and the [`BatchWrite`] in one transaction.

use chrono::{DateTime, Utc};
use mend_core::{CaseId, Channel, CustomerDetails, CustomerId, CustomerKey, MergeId};
use sea_orm::sea_query::{Expr, Func};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryTrait, Set,
    Statement,
};

use crate::bulk::{self, Cell, Kind, OnConflict, Table};
use crate::entities::{audit_event, customer};
use crate::records::{decode_categories, encode_categories};
use crate::{
    AuditEntry, Backend, CaseRecord, KnownDelivery, KnownIdentity, NewComplaint, NewCustomer, NewIdentity,
    NewQuarantine, StoreError,
};

/// Which of these delivery keys are already stored, with the customer their case belongs to now.
pub async fn find_deliveries<C: ConnectionTrait>(
    conn: &C,
    keys: &[(Channel, &str)],
) -> Result<Vec<KnownDelivery>, StoreError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let sql = match conn.get_database_backend() {
        DbBackend::Postgres => {
            "SELECT json_agg(json_build_array(c.channel, c.source_id, c.id, c.case_id, s.customer_id, \
             c.received_at, c.text, c.customer_keys, c.satisfaction, c.formal_complaint))::text \
             FROM complaints c JOIN UNNEST($1::text[], $2::text[]) AS k(channel, source_id) \
             ON c.channel = k.channel AND c.source_id = k.source_id JOIN cases s ON s.id = c.case_id"
        }
        _ => {
            "SELECT json_group_array(json_array(c.channel, c.source_id, hex(c.id), hex(c.case_id), hex(s.customer_id), \
             c.received_at, c.text, c.customer_keys, c.satisfaction, json(CASE WHEN c.formal_complaint THEN 'true' ELSE 'false' END))) \
             FROM jsonb_each(?1) k JOIN complaints c \
             ON c.channel = k.value->>0 AND c.source_id = k.value->>1 JOIN cases s ON s.id = c.case_id"
        }
    };
    let pairs: Vec<(&str, &str)> = keys.iter().map(|(channel, source_id)| (channel.as_str(), *source_id)).collect();
    let params = bulk::pair_params(conn.get_database_backend(), &pairs)?;
    type Row = (String, String, uuid::Uuid, uuid::Uuid, uuid::Uuid, Time, String, String, Option<u8>, bool);
    let rows: Vec<Row> = bulk::query_json(conn, sql, params).await?;
    Ok(rows
        .into_iter()
        .map(|(channel, source_id, id, case_id, customer_id, received_at, text, keys, satisfaction, formal)| {
            KnownDelivery {
                channel,
                source_id,
                complaint_id: mend_core::ComplaintId::from_uuid(id),
                case_id: mend_core::CaseId::from_uuid(case_id),
                customer_id: CustomerId::from_uuid(customer_id),
                content: mend_core::DeliveryContent {
                    received_at,
                    text,
                    keys: keys.lines().map(str::to_owned).collect(),
                    satisfaction,
                    formal_complaint: formal,
                },
            }
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
        // Each tier of the key index (`key_tiers`) asked on its own: a partial index serves
        // only a query that names its condition.
        _ => {
            "SELECT json_group_array(json_array(i.kind, i.value, hex(i.customer_id), \
                 u.display_name IS NOT NULL, u.email IS NOT NULL)) \
             FROM (SELECT i.kind, i.value, i.customer_id FROM jsonb_each(?1) k JOIN customer_identities i \
                     ON i.settled = 0 AND i.kind = k.value->>0 AND i.value = k.value->>1 \
                   UNION ALL \
                   SELECT i.kind, i.value, i.customer_id FROM jsonb_each(?1) k JOIN customer_identities i \
                     ON i.settled = 1 AND i.kind = k.value->>0 AND i.value = k.value->>1) i \
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
/// Answers whether rows were locked: only then can another writer have changed them before.
pub async fn lock_customers<C: ConnectionTrait>(conn: &C, ids: &[CustomerId]) -> Result<bool, StoreError> {
    if conn.get_database_backend() != DbBackend::Postgres || ids.is_empty() {
        return Ok(false);
    }
    let mut sorted: Vec<uuid::Uuid> = ids.iter().map(|id| id.as_uuid()).collect();
    sorted.sort_unstable();
    sorted.dedup();
    // Ordered locking, so two batches never wait on each other in a cycle. The lock is its own
    // statement: a statement that waited for a lock still reads other tables as of its start.
    let sql =
        "SELECT count(*) FROM (SELECT id FROM customers WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE) locked";
    let ids = bulk::id_param(DbBackend::Postgres, sorted)?;
    conn.query_one_raw(Statement::from_sql_and_values(DbBackend::Postgres, sql, [ids])).await?;
    Ok(true)
}

/// A case as a lookup returns it: the columns in [`case_columns`] order.
#[derive(serde::Deserialize)]
pub(crate) struct CaseRow {
    id: uuid::Uuid,
    customer_id: uuid::Uuid,
    category: String,
    status: String,
    escalation_risk: u8,
    repeat_failure: u8,
    complaint_count: i32,
    first_complaint_at: Time,
    last_complaint_at: Time,
    opened_at: Time,
    closed_at: Option<Time>,
    updated_at: Time,
    signature: String,
    extra_categories: String,
    merged_into: Option<uuid::Uuid>,
    merged_by: Option<uuid::Uuid>,
    split_from: Option<uuid::Uuid>,
    reopened_at: Option<Time>,
}

/// Whether a case lookup reads grouping's similarity signature, a few hundred bytes a case that
/// only grouping uses; skipped, it reads back empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signature {
    Read,
    Skip,
}

/// The select list of [`CaseRow`], per backend (SQLite has no UUID type: hex of the blob).
pub(crate) fn case_columns(backend: DbBackend, signature: Signature) -> String {
    let signature = match signature {
        Signature::Read => "signature",
        Signature::Skip => "''",
    };
    match backend {
        DbBackend::Postgres => format!(
            "id, customer_id, category, status, escalation_risk::int, repeat_failure::int, complaint_count, \
             first_complaint_at, last_complaint_at, opened_at, closed_at, updated_at, {signature}, extra_categories, \
             merged_into, merged_by, split_from, reopened_at"
        ),
        _ => format!(
            "hex(id), hex(customer_id), category, status, escalation_risk, repeat_failure, complaint_count, \
             first_complaint_at, last_complaint_at, opened_at, closed_at, updated_at, {signature}, extra_categories, \
             nullif(hex(merged_into), ''), nullif(hex(merged_by), ''), nullif(hex(split_from), ''), reopened_at"
        ),
    }
}

impl TryFrom<CaseRow> for CaseRecord {
    type Error = StoreError;

    fn try_from(r: CaseRow) -> Result<Self, StoreError> {
        Ok(CaseRecord {
            id: CaseId::from_uuid(r.id),
            customer_id: CustomerId::from_uuid(r.customer_id),
            category: r.category,
            status: r.status.parse().map_err(StoreError::Corrupt)?,
            escalation_risk: r.escalation_risk != 0,
            repeat_failure: r.repeat_failure != 0,
            complaint_count: r.complaint_count,
            first_complaint_at: r.first_complaint_at,
            last_complaint_at: r.last_complaint_at,
            opened_at: r.opened_at,
            closed_at: r.closed_at,
            updated_at: r.updated_at,
            signature: r.signature,
            extra_categories: decode_categories(&r.extra_categories),
            merged_into: r.merged_into.map(CaseId::from_uuid),
            merged_by: r.merged_by.map(MergeId::from_uuid),
            split_from: r.split_from.map(CaseId::from_uuid),
            reopened_at: r.reopened_at,
        })
    }
}

/// Cases of these customers that a complaint could still join: open cases whose latest
/// complaint is at or after `open_since`, and closed ones closed at or after `closed_since`
/// (the same problem again reopens them).
pub async fn find_groupable_cases<C: ConnectionTrait>(
    conn: &C,
    customers: &[CustomerId],
    open_since: DateTime<Utc>,
    closed_since: DateTime<Utc>,
) -> Result<Vec<CaseRecord>, StoreError> {
    if customers.is_empty() {
        return Ok(Vec::new());
    }
    let backend = conn.get_database_backend();
    let (open, closed) = (bulk::param(backend, 2), bulk::param(backend, 3));
    let sql = format!(
        "SELECT {} FROM cases WHERE customer_id {} \
         AND ((status = 'open' AND last_complaint_at >= {open}) OR (status = 'closed' AND closed_at >= {closed}))",
        bulk::json_rows(backend, &case_columns(backend, Signature::Read)),
        bulk::in_ids(backend, 1),
    );
    let params =
        vec![bulk::id_param(backend, customers.iter().map(|c| c.as_uuid()))?, open_since.into(), closed_since.into()];
    let rows: Vec<CaseRow> = bulk::query_json(conn, &sql, params).await?;
    rows.into_iter().map(CaseRecord::try_from).collect()
}

/// Every case of one customer, any status (for merges and the customer view).
pub async fn customer_cases<C: ConnectionTrait>(conn: &C, customer: CustomerId) -> Result<Vec<CaseRecord>, StoreError> {
    let backend = conn.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => format!(
            "SELECT json_agg(json_build_array({}) ORDER BY id)::text FROM cases WHERE customer_id = $1",
            case_columns(backend, Signature::Read)
        ),
        _ => format!(
            "SELECT json_group_array(json_array({})) FROM (SELECT * FROM cases WHERE customer_id = ?1 ORDER BY id)",
            case_columns(backend, Signature::Read)
        ),
    };
    let rows: Vec<CaseRow> = bulk::query_json(conn, &sql, vec![customer.as_uuid().into()]).await?;
    rows.into_iter().map(CaseRecord::try_from).collect()
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
    /// Customers found to be one person, merged before anything else is written.
    pub customer_merges: Vec<CustomerMergeWrite>,
    /// Cases folded into another: their stored complaints move (the cases themselves are in
    /// `cases`, written whole).
    pub case_merges: Vec<(CaseId, CaseId)>,
    /// New and changed cases, written whole except for the customer of a stored case, which
    /// only a merge (`customer_merges`) or `case_owners` moves: rewriting it on every update
    /// would rewrite the case's entry in the customer index for every complaint that joins it.
    pub cases: Vec<CaseRecord>,
    /// Stored cases given to another customer outside a customer merge (undoing a merge gives
    /// them back).
    pub case_owners: Vec<(CaseId, CustomerId)>,
    pub complaints: Vec<NewComplaint<'a>>,
    pub quarantine: Vec<NewQuarantine>,
}

/// One customer merged into another: their keys, cases and complaints move to the survivor.
#[derive(Debug, Clone)]
pub struct CustomerMergeWrite {
    pub id: MergeId,
    pub survivor: CustomerId,
    pub merged: CustomerId,
    /// What showed they are one person (`complaint:wechat/123`, `link:crm`).
    pub source: String,
    pub actor: String,
    pub at: DateTime<Utc>,
}

/// A batch's statements, ready to run: encoding is CPU work that can happen on another thread
/// while the database executes the previous batch.
#[derive(Debug)]
pub struct EncodedWrite {
    statements: Vec<Statement>,
    new_identity_keys: usize,
}

impl BatchWrite<'_> {
    /// The statements, in the order that keeps references whole: new customers, then merges
    /// (which move stored rows to survivors), then the batch's own rows.
    pub fn encode(&self, backend: Backend, now: DateTime<Utc>) -> Result<EncodedWrite, StoreError> {
        let backend = backend.db_backend();
        let mut statements = Vec::new();
        statements.extend(CUSTOMERS.insert(backend, self.customers.iter().map(customer_cells))?);
        statements.extend(self.merge_statements(backend, now)?);
        for (id, details) in &self.customer_details {
            statements.push(fill_customer_details(backend, *id, details, now));
        }
        statements.extend(IDENTITIES.insert(backend, self.identities.iter().map(identity_cells))?);
        let categories: Vec<String> = self.cases.iter().map(|c| encode_categories(&c.extra_categories)).collect();
        statements.extend(CASES.insert(backend, self.cases.iter().zip(&categories).map(|(c, e)| case_cells(c, e)))?);
        let owners: Vec<(uuid::Uuid, uuid::Uuid)> =
            self.case_owners.iter().map(|(case, customer)| (case.as_uuid(), customer.as_uuid())).collect();
        statements.extend(bulk::repoint(
            backend,
            "UPDATE cases SET customer_id = {new} FROM {pairs} WHERE cases.id = {old}",
            &owners,
            now,
        )?);
        statements.extend(COMPLAINTS.insert(backend, self.complaints.iter().map(complaint_cells))?);
        statements.extend(crate::quarantine::insert(backend, &self.quarantine)?);
        Ok(EncodedWrite { statements, new_identity_keys: self.identities.len() })
    }
}

impl BatchWrite<'_> {
    /// Customer and case merges as a handful of set-based statements, however many there are.
    /// Rows go straight to the last survivor of a chain merged within the batch (a into b, then
    /// b into c), while `merged_into` keeps each step, so merges can be undone one at a time.
    /// Complaints keep the customer they arrived under: a customer's complaints are found
    /// through its cases, which do move.
    fn merge_statements(&self, backend: DbBackend, now: DateTime<Utc>) -> Result<Vec<Statement>, StoreError> {
        let steps: Vec<(uuid::Uuid, uuid::Uuid)> =
            self.customer_merges.iter().map(|m| (m.merged.as_uuid(), m.survivor.as_uuid())).collect();
        let customers = chain_ends(&steps);
        let case_steps: Vec<(uuid::Uuid, uuid::Uuid)> =
            self.case_merges.iter().map(|(from, into)| (from.as_uuid(), into.as_uuid())).collect();
        let cases = chain_ends(&case_steps);
        let details: Vec<String> = self
            .customer_merges
            .iter()
            .map(|m| serde_json::json!({"merge_id": m.id, "merged": m.merged, "source": m.source}).to_string())
            .collect();
        let statements = [
            bulk::repoint(
                backend,
                "UPDATE cases SET customer_id = {new} FROM {pairs} WHERE cases.customer_id = {old}",
                &customers,
                now,
            )?,
            bulk::repoint(
                backend,
                "UPDATE customer_identities SET customer_id = {new} FROM {pairs} \
                 WHERE customer_identities.customer_id = {old}",
                &customers,
                now,
            )?,
            bulk::repoint(
                backend,
                "UPDATE customers SET merged_into = {new}, updated_at = {time} FROM {pairs} WHERE customers.id = {old}",
                &steps,
                now,
            )?,
            bulk::repoint(
                backend,
                "UPDATE complaints SET case_id = {new} FROM {pairs} WHERE complaints.case_id = {old}",
                &cases,
                now,
            )?,
            MERGES.insert(backend, self.customer_merges.iter().map(merge_cells))?,
            AUDIT_EVENTS.insert(
                backend,
                self.customer_merges.iter().zip(&details).map(|(m, d)| merge_audit_cells(m, d, uuid::Uuid::now_v7())),
            )?,
        ];
        Ok(statements.into_iter().flatten().collect())
    }
}

/// Each step's start paired with where its chain ends: `[(a, b), (b, c)]` gives `[(a, c), (b, c)]`.
fn chain_ends(steps: &[(uuid::Uuid, uuid::Uuid)]) -> Vec<(uuid::Uuid, uuid::Uuid)> {
    let next: std::collections::HashMap<uuid::Uuid, uuid::Uuid> = steps.iter().copied().collect();
    let mut ends: Vec<(uuid::Uuid, uuid::Uuid)> = next
        .keys()
        .map(|&start| {
            let mut end = next[&start];
            // Bounded, so a cycle (which merging never makes) could not hang a write.
            for _ in 0..next.len() {
                match next.get(&end) {
                    Some(&further) => end = further,
                    None => break,
                }
            }
            (start, end)
        })
        .collect();
    ends.sort_unstable();
    ends
}

impl EncodedWrite {
    /// How many identity keys the write links for the first time.
    pub fn new_identity_keys(&self) -> usize {
        self.new_identity_keys
    }

    pub async fn execute<C: ConnectionTrait>(self, conn: &C) -> Result<(), StoreError> {
        for statement in self.statements {
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

const MERGES: Table = Table {
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

fn merge_cells(m: &CustomerMergeWrite) -> Vec<Cell<'_>> {
    vec![
        Cell::Uuid(m.id.as_uuid()),
        Cell::Uuid(m.survivor.as_uuid()),
        Cell::Uuid(m.merged.as_uuid()),
        Cell::Text(Some(&m.source)),
        Cell::Text(Some(&m.actor)),
        Cell::Time(Some(m.at)),
    ]
}

const AUDIT_EVENTS: Table = Table {
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

fn merge_audit_cells<'a>(m: &'a CustomerMergeWrite, detail: &'a str, id: uuid::Uuid) -> Vec<Cell<'a>> {
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
    on_conflict: OnConflict::Fail,
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
        ("original_customer_id", Kind::Uuid, false),
    ],
    on_conflict: OnConflict::Fail,
};

fn identity_cells(i: &NewIdentity) -> Vec<Cell<'_>> {
    vec![
        Cell::Uuid(uuid::Uuid::now_v7()),
        Cell::Uuid(i.customer_id.as_uuid()),
        Cell::Text(Some(i.key.kind.as_str())),
        Cell::Text(Some(&i.key.value)),
        Cell::Text(Some(&i.source)),
        Cell::Time(Some(i.linked_at)),
        Cell::Uuid(i.customer_id.as_uuid()),
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
        ("signature", Kind::Text, false),
        ("extra_categories", Kind::Text, false),
        ("merged_into", Kind::Uuid, true),
        ("merged_by", Kind::Uuid, true),
        ("split_from", Kind::Uuid, true),
        ("reopened_at", Kind::Time, true),
    ],
    // Not `customer_id`: see `BatchWrite::cases`.
    on_conflict: OnConflict::UpdateById(&[
        "category",
        "status",
        "escalation_risk",
        "repeat_failure",
        "complaint_count",
        "first_complaint_at",
        "last_complaint_at",
        "closed_at",
        "updated_at",
        "signature",
        "extra_categories",
        "merged_into",
        "merged_by",
        "split_from",
        "reopened_at",
    ]),
};

fn case_cells<'a>(c: &'a CaseRecord, extra_categories: &'a str) -> Vec<Cell<'a>> {
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
        Cell::Text(Some(&c.signature)),
        Cell::Text(Some(extra_categories)),
        Cell::NullableUuid(c.merged_into.map(CaseId::as_uuid)),
        Cell::NullableUuid(c.merged_by.map(MergeId::as_uuid)),
        Cell::NullableUuid(c.split_from.map(CaseId::as_uuid)),
        Cell::Time(c.reopened_at),
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
        ("customer_keys", Kind::Text, false),
    ],
    on_conflict: OnConflict::Fail,
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
        Cell::Text(Some(&n.customer_keys)),
    ]
}
