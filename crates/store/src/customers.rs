//! The `customers` and `customer_identities` tables: who owns which key (found and locked by
//! intake), the batch rows, details learned later, the temperament people set, and the 360° view.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use mend_core::{
    Case, CaseId, CaseStatus, CompensationKind, CompensationStatus, Customer, CustomerDetails, CustomerId, CustomerKey,
    LinkedIdentity, Money, StoredComplaint, TaskKind, TaskOutcome, TaskStatus,
};
use sea_orm::sea_query::{Expr, Func};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QueryTrait, Statement,
};
use serde::Serialize;
use serde_json::json;

use crate::bulk::{self, OnConflict, Table};
use crate::cases::Time;
use crate::entities::{case, compensation, customer, customer_identity, task};
use crate::rows::{Flag, stored_row};
use crate::{KnownIdentity, NewCustomer, NewIdentity, StoreError};

use crate::complaints::complaints_of_cases;
use crate::customer_merges::{MergeRecord, merges_into};
use crate::error::During;
use crate::records::{json_column, word};

const TABLE: &str = "customers";

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
        .await
        .during(TABLE, "set_temperament")?;
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
    crate::audit::record_audit(&tx, entry).await?;
    tx.commit().await.during(TABLE, "set_temperament")?;
    Ok(true)
}

/// The audit action of a [`change_contact`]: the scheduler reads it to weigh the customer's
/// waiting calls again.
pub const CONTACT_CHANGED: &str = "customer.contact";

/// A change to how a customer is contacted; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactChange {
    /// The customer asked not to be called (or, `false`, may be called again).
    pub do_not_disturb: Option<bool>,
    pub timezone: Option<chrono_tz::Tz>,
    /// One of the operator's tiers (`[scheduler.priority] tiers`, or `standard`).
    pub tier: Option<String>,
}

/// A customer after a [`change_contact`], and the calls it cancelled.
#[derive(Debug, Clone)]
pub struct ContactChanged {
    pub customer: Customer,
    /// Whether anything changed (a change to what already was writes nothing).
    pub changed: bool,
    pub tasks_cancelled: Vec<mend_core::Task>,
}

/// Applies `change` to `customer`, with an audit event naming each field that changed, from
/// what to what, and why; `None` when there is no such customer. A change that changes nothing
/// writes nothing. A customer who asks not to be called has the calls nobody took cancelled; one
/// who may be called again has their cases marked as callable from now, so the next generation
/// sweep plans a call for each open one that has none in work, and makes again the check of a
/// closed one that the request cancelled.
pub async fn change_contact(
    store: &crate::Store,
    customer: CustomerId,
    change: &ContactChange,
    actor: &str,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<ContactChanged>, StoreError> {
    let tx = store.begin_write().await?;
    // Locked, so that the audit's "from" is what the change replaced.
    lock_customers(&tx, &[customer]).await?;
    let Some(row) = customer::Entity::find_by_id(customer.as_uuid()).one(&tx).await.during(TABLE, "change_contact")?
    else {
        crate::rollback(tx).await?;
        return Ok(None);
    };
    let before = Customer::try_from(row)?;
    let mut after = before.clone();
    let mut changed = serde_json::Map::new();
    let mut update = customer::Entity::update_many();
    let do_not_disturb = change.do_not_disturb.filter(|dnd| *dnd != before.do_not_disturb);
    if let Some(dnd) = do_not_disturb {
        after.do_not_disturb = dnd;
        changed.insert("do_not_disturb".into(), json!({"from": before.do_not_disturb, "to": dnd}));
        update = update.col_expr(customer::Column::DoNotDisturb, Expr::value(dnd));
    }
    if let Some(zone) = change.timezone.filter(|zone| *zone != before.timezone) {
        after.timezone = zone;
        changed.insert("timezone".into(), json!({"from": before.timezone.name(), "to": zone.name()}));
        update = update.col_expr(customer::Column::Timezone, Expr::value(zone.name()));
    }
    if let Some(tier) = change.tier.as_ref().filter(|tier| **tier != before.tier) {
        after.tier.clone_from(tier);
        changed.insert("tier".into(), json!({"from": before.tier, "to": tier}));
        update = update.col_expr(customer::Column::Tier, Expr::value(tier.clone()));
    }
    if changed.is_empty() {
        crate::rollback(tx).await?;
        return Ok(Some(ContactChanged { customer: after, changed: false, tasks_cancelled: Vec::new() }));
    }
    update
        .col_expr(customer::Column::UpdatedAt, Expr::value(now))
        .filter(customer::Column::Id.eq(customer.as_uuid()))
        .exec(&tx)
        .await
        .during(TABLE, "change_contact")?;
    let entry = |action: &str, subject_kind: &str, subject: uuid::Uuid, detail| crate::AuditEntry {
        at: now,
        actor: actor.to_owned(),
        action: action.into(),
        subject_kind: subject_kind.into(),
        subject_id: Some(subject),
        detail,
    };
    let reason = reason.map(mend_core::mask_phones_in);
    let mut entries =
        vec![entry(CONTACT_CHANGED, "customer", customer.as_uuid(), json!({"changed": changed, "reason": reason}))];
    let mut tasks_cancelled = Vec::new();
    match do_not_disturb {
        Some(true) => {
            tasks_cancelled = crate::tasks::cancel_open_tasks_of_customer(&tx, customer, now).await?;
            // A call back in the queue is nobody's; one an agent let lapse still names them.
            entries.extend(tasks_cancelled.iter().map(|t| {
                let from = if t.claimed_by.is_some() { "claimed" } else { "open" };
                let detail = json!({"from": from, "to": "cancelled", "reason": "do_not_disturb"});
                entry("task.cancel", "task", t.task_id.as_uuid(), detail)
            }));
        }
        Some(false) => {
            // A call planned before now (an unanswered one, whose retry the request held back)
            // answers none of the open cases' need for a callback; a closed case's check that
            // the request cancelled is made again. (Other closed cases are left: one that
            // reopens is answered by what answered it before.)
            let held_check = format!(
                "EXISTS (SELECT 1 FROM tasks t WHERE t.case_id = cases.id AND {})",
                crate::tasks::cancelled_last_check("t")
            );
            let resumed = case::Entity::update_many()
                .col_expr(case::Column::CallsResumedAt, Expr::value(now))
                .filter(case::Column::CustomerId.eq(customer.as_uuid()))
                .filter(
                    Condition::any().add(case::Column::Status.eq(CaseStatus::Open.as_str())).add(
                        Condition::all()
                            .add(case::Column::Status.eq(CaseStatus::Closed.as_str()))
                            .add(Expr::cust(held_check)),
                    ),
                )
                .exec_with_returning(&tx)
                .await
                .during(TABLE, "change_contact")?;
            entries.extend(resumed.into_iter().map(|c| entry("case.calls_resumed", "case", c.id, json!({}))));
        }
        None => {}
    }
    crate::audit::record_audits(&tx, &entries).await?;
    crate::commit(tx).await?;
    Ok(Some(ContactChanged { customer: after, changed: true, tasks_cancelled }))
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
    let rows: Vec<(String, String, uuid::Uuid, u8, u8)> =
        bulk::query_json(conn, TABLE, "find_identities", sql, params).await?;
    rows.into_iter()
        .map(|(kind, value, customer_id, has_name, has_email)| {
            Ok(KnownIdentity {
                key: CustomerKey::new(word("customer_identities", format_args!("{kind}:{value}"), &kind)?, value),
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
    // Ordered locking, so two sets never wait on each other in a cycle (a transaction that takes
    // several, as a held import does, can: PostgreSQL ends one as a deadlock, a conflict its
    // callers retry). The lock is its own statement: a statement that waited for a lock still
    // reads other tables as of its start.
    let sql =
        "SELECT count(*) FROM (SELECT id FROM customers WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE) locked";
    let ids = bulk::id_param(DbBackend::Postgres, sorted)?;
    conn.query_one_raw(Statement::from_sql_and_values(DbBackend::Postgres, sql, [ids]))
        .await
        .during(TABLE, "lock_customers")?;
    Ok(true)
}

stored_row! {
    /// A new customer as the `customers` table takes it (temperament and merges come later).
    pub(crate) struct CustomerRow<'a> in "customers" {
        id: uuid::Uuid,
        display_name: Option<&'a str>,
        email: Option<&'a str>,
        tier: &'a str,
        timezone: &'a str,
        do_not_disturb: Flag,
        created_at: Time,
        updated_at: Time,
    }
}

pub(crate) const CUSTOMERS: Table =
    Table { name: CustomerRow::TABLE, columns: CustomerRow::COLUMNS, on_conflict: OnConflict::Fail };

impl<'a> From<&'a NewCustomer> for CustomerRow<'a> {
    fn from(c: &'a NewCustomer) -> Self {
        CustomerRow {
            id: c.id.as_uuid(),
            display_name: c.details.name.as_deref(),
            email: c.details.email.as_deref(),
            tier: mend_core::STANDARD_TIER,
            timezone: c.timezone.name(),
            do_not_disturb: Flag(false),
            created_at: c.created_at,
            updated_at: c.created_at,
        }
    }
}

stored_row! {
    /// A key linked to a customer, as `customer_identities` takes it.
    pub(crate) struct IdentityRow<'a> in "customer_identities" {
        id: uuid::Uuid,
        customer_id: uuid::Uuid,
        kind: &'a str,
        value: &'a str,
        source: &'a str,
        linked_at: Time,
        original_customer_id: uuid::Uuid,
    }
}

pub(crate) const IDENTITIES: Table =
    Table { name: IdentityRow::TABLE, columns: IdentityRow::COLUMNS, on_conflict: OnConflict::Fail };

impl<'a> From<&'a NewIdentity> for IdentityRow<'a> {
    fn from(i: &'a NewIdentity) -> Self {
        IdentityRow {
            id: uuid::Uuid::now_v7(),
            customer_id: i.customer_id.as_uuid(),
            kind: i.key.kind.as_str(),
            value: &i.key.value,
            source: &i.source,
            linked_at: i.linked_at,
            original_customer_id: i.customer_id.as_uuid(),
        }
    }
}

/// Gives `id` the name and email in `details` that it lacks (what the customer or an agent
/// already gave is kept).
pub async fn fill_details<C: ConnectionTrait>(
    conn: &C,
    id: CustomerId,
    details: &CustomerDetails,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if details.name.is_none() && details.email.is_none() {
        return Ok(());
    }
    let statement = fill_customer_details(conn.get_database_backend(), id, details, now);
    conn.execute_raw(statement).await.during(TABLE, "fill_details")?;
    Ok(())
}

pub(crate) fn fill_customer_details(
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
pub(crate) fn coalesce(column: customer::Column, value: Option<String>) -> Expr {
    Expr::expr(Func::coalesce([Expr::col(column), Expr::val(value)]))
}

/// A customer and, if it was merged into another, which one.
pub async fn customer<C: ConnectionTrait>(
    conn: &C,
    id: CustomerId,
) -> Result<Option<(Customer, Option<CustomerId>)>, StoreError> {
    let row = customer::Entity::find_by_id(id.as_uuid()).one(conn).await.during(TABLE, "customer")?;
    row.map(|m| {
        let merged_into = m.merged_into.map(CustomerId::from_uuid);
        Ok((Customer::try_from(m)?, merged_into))
    })
    .transpose()
}

/// The customer `id` is now: itself, or the customer it was merged into (followed to the end of
/// the chain); `None` for an id no customer ever had.
pub async fn survivor<C: ConnectionTrait>(conn: &C, id: CustomerId) -> Result<Option<CustomerId>, StoreError> {
    let mut current = id;
    // Merges form a tree, so following them cannot loop; the bound keeps a corrupt row harmless.
    for _ in 0..64 {
        match customer(conn, current).await? {
            None => return Ok(None),
            Some((_, Some(into))) => current = into,
            Some((_, None)) => return Ok(Some(current)),
        }
    }
    Err(StoreError::corrupt(TABLE, id, "its merged_into chain is longer than 64"))
}

/// Which customer each of these keys belongs to now.
pub async fn key_owners<C: ConnectionTrait>(
    conn: &C,
    keys: &[mend_core::CustomerKey],
) -> Result<Vec<(mend_core::CustomerKey, CustomerId)>, StoreError> {
    Ok(find_identities(conn, keys).await?.into_iter().map(|k| (k.key, k.customer_id)).collect())
}

/// A customer with everything mend knows: every key, every complaint across channels on one
/// timeline, the cases, the contacts made (callback tasks) and compensation so far.
#[derive(Debug, Clone, Serialize)]
pub struct CustomerView {
    #[serde(flatten)]
    pub customer: Customer,
    /// The customers merged into this one (and how to undo it).
    pub merged: Vec<MergeRecord>,
    pub identities: Vec<LinkedIdentity>,
    pub cases: Vec<Case>,
    pub complaints: Vec<StoredComplaint>,
    pub contacts: Vec<ContactRecord>,
    pub compensations: Vec<CompensationRecord>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ContactRecord {
    pub task_id: uuid::Uuid,
    pub case_id: CaseId,
    pub kind: TaskKind,
    pub status: TaskStatus,
    pub due_at: DateTime<Utc>,
    pub outcome: Option<TaskOutcome>,
    pub completed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CompensationRecord {
    pub compensation_id: uuid::Uuid,
    pub case_id: CaseId,
    pub kind: CompensationKind,
    #[serde(rename = "amount_fen")]
    pub amount: Money,
    pub status: CompensationStatus,
    pub reason: String,
    pub requested_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
}

/// The keys a customer is known by, oldest first.
pub async fn identities_of<C: ConnectionTrait>(conn: &C, id: CustomerId) -> Result<Vec<LinkedIdentity>, StoreError> {
    Ok(identities_of_customers(conn, &[id]).await?.remove(&id).unwrap_or_default())
}

/// The keys each of these customers is known by, oldest first.
pub async fn identities_of_customers<C: ConnectionTrait>(
    conn: &C,
    ids: &[CustomerId],
) -> Result<HashMap<CustomerId, Vec<LinkedIdentity>>, StoreError> {
    let mut by_customer: HashMap<CustomerId, Vec<LinkedIdentity>> = HashMap::new();
    if ids.is_empty() {
        return Ok(by_customer);
    }
    let customers = bulk::id_filter(conn.get_database_backend(), "customer_id", ids.iter().map(|c| c.as_uuid()))?;
    let identities = customer_identity::Entity::find()
        .filter(customers)
        .order_by_asc(customer_identity::Column::LinkedAt)
        .order_by_asc(customer_identity::Column::Id)
        .all(conn)
        .await
        .during(TABLE, "identities_of_customers")?;
    for identity in identities {
        by_customer.entry(CustomerId::from_uuid(identity.customer_id)).or_default().push(identity.into());
    }
    Ok(by_customer)
}

impl CustomerView {
    /// As people who do not hold the customer's call see it: phone numbers masked.
    pub fn masked(mut self) -> Self {
        self.customer = self.customer.masked();
        self.identities = self.identities.into_iter().map(LinkedIdentity::masked).collect();
        self.complaints = self.complaints.into_iter().map(StoredComplaint::masked).collect();
        self
    }
}

/// A customer's calls and offers, on every case they own now, oldest first.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CustomerHistory {
    pub contacts: Vec<ContactRecord>,
    pub compensations: Vec<CompensationRecord>,
}

/// The calls and offers of customer `id` (what the agent's case page shows beside the case),
/// without the complaints and keys the whole [`customer_view`] reads.
pub async fn customer_history<C: ConnectionTrait>(conn: &C, id: CustomerId) -> Result<CustomerHistory, StoreError> {
    let case_ids: Vec<CaseId> = crate::cases::customer_cases(conn, id).await?.iter().map(|c| c.id).collect();
    history_of_cases(conn, &case_ids).await
}

async fn history_of_cases<C: ConnectionTrait>(conn: &C, case_ids: &[CaseId]) -> Result<CustomerHistory, StoreError> {
    let contacts = task::Entity::find()
        .filter(task::Column::CaseId.is_in(case_ids.iter().map(|c| c.as_uuid())))
        .order_by_asc(task::Column::DueAt)
        .all(conn)
        .await
        .during(TABLE, "customer_history")?
        .into_iter()
        .map(|t| {
            Ok(ContactRecord {
                task_id: t.id,
                case_id: CaseId::from_uuid(t.case_id),
                kind: word("tasks", t.id, &t.kind)?,
                status: word("tasks", t.id, &t.status)?,
                due_at: t.due_at,
                outcome: t.outcome.as_deref().map(|o| json_column("tasks", t.id, "outcome", o)).transpose()?,
                completed_at: t.completed_at,
            })
        })
        .collect::<Result<_, StoreError>>()?;
    let compensations = compensation::Entity::find()
        .filter(compensation::Column::CaseId.is_in(case_ids.iter().map(|c| c.as_uuid())))
        .order_by_asc(compensation::Column::RequestedAt)
        .all(conn)
        .await
        .during(TABLE, "customer_history")?
        .into_iter()
        .map(|c| {
            Ok(CompensationRecord {
                compensation_id: c.id,
                case_id: CaseId::from_uuid(c.case_id),
                kind: word("compensations", c.id, &c.kind)?,
                amount: Money::from_fen(c.amount_fen),
                status: word("compensations", c.id, &c.status)?,
                reason: c.reason,
                requested_at: c.requested_at,
                decided_at: c.decided_at,
            })
        })
        .collect::<Result<_, StoreError>>()?;
    Ok(CustomerHistory { contacts, compensations })
}

pub async fn customer_view<C: ConnectionTrait>(conn: &C, id: CustomerId) -> Result<Option<CustomerView>, StoreError> {
    let Some((customer, _)) = customer(conn, id).await? else { return Ok(None) };
    let identities = identities_of(conn, id).await?;
    let cases = crate::cases::customer_cases(conn, id).await?;
    let case_ids: Vec<CaseId> = cases.iter().map(|c| c.id).collect();
    let complaints = complaints_of_cases(conn, &case_ids).await?;
    let CustomerHistory { contacts, compensations } = history_of_cases(conn, &case_ids).await?;
    Ok(Some(CustomerView {
        customer,
        merged: merges_into(conn, id).await?,
        identities,
        cases,
        complaints,
        contacts,
        compensations,
    }))
}
