//! Reads and writes of the scheduler: which cases may need a call, what their customers have
//! been called and paid already, the tasks themselves, job runs (who runs an occurrence), the
//! email outbox, SLA escalations and reports. The rules live in `mend-scheduler`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use mend_core::{CaseId, CustomerId, JobRunId, TaskId};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Statement, TryInsertResult,
};
use serde::Serialize;

use crate::bulk::{self, Cell, Kind, OnConflict, Table};
use crate::entities::{case, customer, escalation, job_run, outbox, report, task};
use crate::intake::{CaseRow, Signature, case_columns};
use crate::{CaseRecord, CustomerRecord, StoreError};

/// Statuses of a task that is still to be worked: a case has at most one such task.
pub const IN_WORK: [&str; 2] = ["open", "claimed"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskRecord {
    pub task_id: TaskId,
    pub case_id: CaseId,
    /// The case's customer now: a merge of customers moves their cases, and the tasks with
    /// them. (The task row keeps the customer it was made for.)
    pub customer_id: Option<CustomerId>,
    pub kind: String,
    pub status: String,
    pub due_at: DateTime<Utc>,
    pub not_before: Option<DateTime<Utc>>,
    pub priority: i32,
    pub priority_reasons: serde_json::Value,
    pub compensation_limit_fen: i64,
    pub limit_explanation: String,
    pub script: String,
    pub attempt: i32,
    pub category: String,
    pub temperament: String,
    pub temperament_reason: serde_json::Value,
    pub follows_task_id: Option<TaskId>,
    pub outcome: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub escalated_at: Option<DateTime<Utc>>,
}

impl From<task::Model> for TaskRecord {
    fn from(m: task::Model) -> Self {
        let json = |text: &str| serde_json::from_str(text).unwrap_or(serde_json::Value::Null);
        Self {
            task_id: TaskId::from_uuid(m.id),
            case_id: CaseId::from_uuid(m.case_id),
            customer_id: m.customer_id.map(CustomerId::from_uuid),
            kind: m.kind,
            status: m.status,
            due_at: m.due_at,
            not_before: m.not_before,
            priority: m.priority,
            priority_reasons: json(&m.priority_reasons),
            compensation_limit_fen: m.compensation_limit_fen,
            limit_explanation: m.limit_explanation,
            script: m.script,
            attempt: m.attempt,
            category: m.category,
            temperament: m.temperament,
            temperament_reason: json(&m.temperament_reason),
            follows_task_id: m.follows_task_id.map(TaskId::from_uuid),
            outcome: m.outcome.as_deref().map(json),
            created_at: m.created_at,
            completed_at: m.completed_at,
            escalated_at: m.escalated_at,
        }
    }
}

/// A task to create. `priority_reasons` and `temperament_reason` are JSON text.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub id: TaskId,
    pub case_id: CaseId,
    pub customer_id: CustomerId,
    pub kind: String,
    pub due_at: DateTime<Utc>,
    pub not_before: DateTime<Utc>,
    pub priority: i32,
    pub priority_reasons: String,
    pub compensation_limit_fen: i64,
    pub limit_explanation: String,
    pub script: String,
    pub attempt: i32,
    pub category: String,
    pub temperament: String,
    pub temperament_reason: String,
    pub follows_task_id: Option<TaskId>,
}

const TASKS: Table = Table {
    name: "tasks",
    columns: &[
        ("id", Kind::Uuid, false),
        ("case_id", Kind::Uuid, false),
        ("customer_id", Kind::Uuid, false),
        ("kind", Kind::Text, false),
        ("status", Kind::Text, false),
        ("due_at", Kind::Time, false),
        ("not_before", Kind::Time, false),
        ("priority", Kind::Int, false),
        ("priority_reasons", Kind::Text, false),
        ("compensation_limit_fen", Kind::Int, false),
        ("limit_explanation", Kind::Text, false),
        ("script", Kind::Text, false),
        ("attempt", Kind::Int, false),
        ("category", Kind::Text, false),
        ("temperament", Kind::Text, false),
        ("temperament_reason", Kind::Text, false),
        ("follows_task_id", Kind::Uuid, true),
        ("created_at", Kind::Time, false),
        ("updated_at", Kind::Time, false),
    ],
    // A case that already has a task in work keeps it (`ux_tasks_one_open`): whatever runs
    // twice, or at once on another instance, cannot give it a second one.
    on_conflict: OnConflict::Skip,
};

/// Inserts the tasks whose case has no task in work; returns how many went in.
pub async fn insert_tasks<C: ConnectionTrait>(
    conn: &C,
    tasks: &[NewTask],
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let backend = conn.get_database_backend();
    let rows = tasks.iter().map(|t| {
        vec![
            Cell::Uuid(t.id.as_uuid()),
            Cell::Uuid(t.case_id.as_uuid()),
            Cell::Uuid(t.customer_id.as_uuid()),
            Cell::Text(Some(&t.kind)),
            Cell::Text(Some("open")),
            Cell::Time(Some(t.due_at)),
            Cell::Time(Some(t.not_before)),
            Cell::Int(Some(i64::from(t.priority))),
            Cell::Text(Some(&t.priority_reasons)),
            Cell::Int(Some(t.compensation_limit_fen)),
            Cell::Text(Some(&t.limit_explanation)),
            Cell::Text(Some(&t.script)),
            Cell::Int(Some(i64::from(t.attempt))),
            Cell::Text(Some(&t.category)),
            Cell::Text(Some(&t.temperament)),
            Cell::Text(Some(&t.temperament_reason)),
            Cell::NullableUuid(t.follows_task_id.map(TaskId::as_uuid)),
            Cell::Time(Some(now)),
            Cell::Time(Some(now)),
        ]
    });
    match TASKS.insert(backend, rows)? {
        Some(statement) => Ok(conn.execute_raw(statement).await?.rows_affected()),
        None => Ok(0),
    }
}

/// Which open cases a generation sweep looks at.
#[derive(Debug, Clone, Copy)]
pub enum SweepScope<'a> {
    /// Every open case (the first sweep).
    AllOpen,
    /// Cases that something touched since the instant this UUID v7 stands for: cases created,
    /// cases a complaint was recorded into, cases people corrected. Every id these tables hold
    /// is time-ordered, so each part is a range scan of a primary key.
    TouchedSince(uuid::Uuid),
    /// These cases (a chunk of a sweep, read again under its customers' locks).
    Cases(&'a [CaseId]),
}

/// The rule of a callback: an open case needs one when nothing is in work on it and no call
/// was made or planned since its latest complaint (a cancelled task never called anyone).
/// `cases` is the table alias `c`; the select list and scope are the caller's.
///
/// On PostgreSQL a chunk's cases are found one by one through their keys, and the tasks of each
/// case through its index: the `OFFSET 0` fences keep the planner from joining whole tables,
/// which it would do from statistics that a sweep makes stale as it inserts thousands of tasks.
fn needing_callback_sql(backend: DbBackend, select: &str, scope: SweepScope<'_>) -> String {
    let pg = backend == DbBackend::Postgres;
    let (p, top) = (bulk::param(backend, 1), bulk::param(backend, 2));
    // A whole sweep's candidates are best found by joining whole tables; a chunk's, by keys.
    let fence = if pg && matches!(scope, SweepScope::Cases(_)) { " OFFSET 0" } else { "" };
    let (from, filter) = match scope {
        SweepScope::AllOpen => ("cases c".to_owned(), String::new()),
        SweepScope::TouchedSince(_) => (
            "cases c".to_owned(),
            format!(
                "AND c.id IN (SELECT id FROM cases WHERE id >= {p} AND id <= {top} \
                 UNION SELECT case_id FROM complaints WHERE id >= {p} AND id <= {top} \
                 UNION SELECT subject_id FROM audit_events \
                 WHERE id >= {p} AND id <= {top} AND subject_kind = 'case' AND subject_id IS NOT NULL)"
            ),
        ),
        SweepScope::Cases(_) if pg => (
            "unnest($1::uuid[]) AS k(case_key) CROSS JOIN LATERAL (SELECT * FROM cases WHERE id = k.case_key OFFSET 0) c".to_owned(),
            String::new(),
        ),
        SweepScope::Cases(_) => ("cases c".to_owned(), format!("AND c.id {}", bulk::in_ids(backend, 1))),
    };
    format!(
        "SELECT {select} FROM {from} WHERE c.status = 'open' {filter} AND NOT EXISTS (\
         SELECT 1 FROM tasks t WHERE t.case_id = c.id AND t.status <> 'cancelled' \
         AND (t.status IN ('open', 'claimed') OR t.created_at >= c.last_complaint_at){fence})"
    )
}

fn scope_params(backend: DbBackend, scope: SweepScope<'_>) -> Result<Vec<sea_orm::Value>, StoreError> {
    Ok(match scope {
        SweepScope::AllOpen => Vec::new(),
        // The range is closed above: PostgreSQL cannot estimate a one-sided range of UUIDs and
        // guesses a third of the table (a full scan); a closed one it guesses small.
        SweepScope::TouchedSince(floor) => vec![floor.into(), uuid::Uuid::max().into()],
        SweepScope::Cases(ids) => {
            vec![bulk::id_param(backend, ids.iter().map(|c| c.as_uuid()))?]
        }
    })
}

/// The cases in `scope` that need a callback, with their customers, in id order.
pub async fn case_ids_needing_callback<C: ConnectionTrait>(
    conn: &C,
    scope: SweepScope<'_>,
) -> Result<Vec<(CaseId, CustomerId)>, StoreError> {
    let backend = conn.get_database_backend();
    let columns = match backend {
        DbBackend::Postgres => "c.id, c.customer_id",
        _ => "hex(c.id), hex(c.customer_id)",
    };
    let sql = needing_callback_sql(backend, &bulk::json_rows(backend, columns), scope);
    let mut rows: Vec<(uuid::Uuid, uuid::Uuid)> = bulk::query_json(conn, &sql, scope_params(backend, scope)?).await?;
    rows.sort_unstable();
    Ok(rows.into_iter().map(|(case, customer)| (CaseId::from_uuid(case), CustomerId::from_uuid(customer))).collect())
}

/// The cases in `scope` that need a callback, in id order (their `signature` left empty).
pub async fn cases_needing_callback<C: ConnectionTrait>(
    conn: &C,
    scope: SweepScope<'_>,
) -> Result<Vec<CaseRecord>, StoreError> {
    let backend = conn.get_database_backend();
    let select = bulk::json_rows(backend, &case_columns(backend, Signature::Skip));
    let sql = needing_callback_sql(backend, &select, scope);
    let rows: Vec<CaseRow> = bulk::query_json(conn, &sql, scope_params(backend, scope)?).await?;
    let mut cases = rows.into_iter().map(CaseRecord::try_from).collect::<Result<Vec<_>, _>>()?;
    cases.sort_unstable_by_key(|c| c.id);
    Ok(cases)
}

pub async fn cases_by_ids<C: ConnectionTrait>(conn: &C, ids: &[CaseId]) -> Result<Vec<CaseRecord>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let backend = conn.get_database_backend();
    let sql = format!(
        "SELECT {} FROM cases WHERE id {}",
        bulk::json_rows(backend, &case_columns(backend, Signature::Read)),
        bulk::in_ids(backend, 1)
    );
    let rows: Vec<CaseRow> =
        bulk::query_json(conn, &sql, vec![bulk::id_param(backend, ids.iter().map(|c| c.as_uuid()))?]).await?;
    rows.into_iter().map(CaseRecord::try_from).collect()
}

/// A customer as a lookup returns it.
#[derive(serde::Deserialize)]
struct CustomerRow(uuid::Uuid, Option<String>, Option<String>, String, Option<String>, Option<String>, String, u8);

pub async fn customers_by_ids<C: ConnectionTrait>(
    conn: &C,
    ids: &[CustomerId],
) -> Result<Vec<CustomerRecord>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let backend = conn.get_database_backend();
    let columns = match backend {
        DbBackend::Postgres => {
            "id, display_name, email, tier, temperament, temperament_set_by, timezone, do_not_disturb::int"
        }
        _ => "hex(id), display_name, email, tier, temperament, temperament_set_by, timezone, do_not_disturb",
    };
    let sql =
        format!("SELECT {} FROM customers WHERE id {}", bulk::json_rows(backend, columns), bulk::in_ids(backend, 1));
    let rows: Vec<CustomerRow> =
        bulk::query_json(conn, &sql, vec![bulk::id_param(backend, ids.iter().map(|c| c.as_uuid()))?]).await?;
    Ok(rows
        .into_iter()
        .map(|CustomerRow(id, name, email, tier, temperament, temperament_set_by, timezone, do_not_disturb)| {
            CustomerRecord {
                customer_id: CustomerId::from_uuid(id),
                name,
                email,
                tier,
                temperament,
                temperament_set_by,
                timezone,
                do_not_disturb: do_not_disturb != 0,
            }
        })
        .collect())
}

/// What a script says of one complaint.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct ComplaintLine {
    pub case_id: CaseId,
    pub channel: String,
    pub received_at: DateTime<Utc>,
    pub text: String,
    pub satisfaction: Option<i16>,
}

/// The complaints of these cases, oldest first.
pub async fn complaint_lines<C: ConnectionTrait>(conn: &C, cases: &[CaseId]) -> Result<Vec<ComplaintLine>, StoreError> {
    if cases.is_empty() {
        return Ok(Vec::new());
    }
    let backend = conn.get_database_backend();
    let columns = match backend {
        DbBackend::Postgres => "id, case_id, channel, received_at, text, satisfaction",
        _ => "hex(id), hex(case_id), channel, received_at, text, satisfaction",
    };
    let sql = format!(
        "SELECT {} FROM complaints WHERE case_id {}",
        bulk::json_rows(backend, columns),
        bulk::in_ids(backend, 1)
    );
    type Row = (uuid::Uuid, uuid::Uuid, String, DateTime<Utc>, String, Option<i16>);
    let params = vec![bulk::id_param(backend, cases.iter().map(|c| c.as_uuid()))?];
    let mut rows: Vec<Row> = bulk::query_json(conn, &sql, params).await?;
    rows.sort_unstable_by_key(|(id, _, _, at, _, _)| (*at, *id));
    Ok(rows
        .into_iter()
        .map(|(_, case, channel, received_at, text, satisfaction)| ComplaintLine {
            case_id: CaseId::from_uuid(case),
            channel,
            received_at,
            text,
            satisfaction,
        })
        .collect())
}

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

async fn task_records<C: ConnectionTrait>(
    conn: &C,
    query: sea_orm::Select<task::Entity>,
) -> Result<Vec<TaskRecord>, StoreError> {
    let mut records: Vec<TaskRecord> = query.all(conn).await?.into_iter().map(Into::into).collect();
    if records.is_empty() {
        return Ok(records);
    }
    let mut case_ids: Vec<uuid::Uuid> = records.iter().map(|t| t.case_id.as_uuid()).collect();
    case_ids.sort_unstable();
    case_ids.dedup();
    // The ids go as one parameter: an SLA sweep after downtime can find more overdue tasks than
    // a statement may have bound values.
    let backend = conn.get_database_backend();
    let columns = match backend {
        DbBackend::Postgres => "id, customer_id",
        _ => "hex(id), hex(customer_id)",
    };
    let sql = format!("SELECT {} FROM cases WHERE id {}", bulk::json_rows(backend, columns), bulk::in_ids(backend, 1));
    let rows: Vec<(uuid::Uuid, uuid::Uuid)> =
        bulk::query_json(conn, &sql, vec![bulk::id_param(backend, case_ids)?]).await?;
    let owners: HashMap<uuid::Uuid, uuid::Uuid> = rows.into_iter().collect();
    for record in &mut records {
        if let Some(owner) = owners.get(&record.case_id.as_uuid()) {
            record.customer_id = Some(CustomerId::from_uuid(*owner));
        }
    }
    Ok(records)
}

/// Every task of these cases, any status, oldest first.
pub async fn tasks_of_cases<C: ConnectionTrait>(conn: &C, ids: &[CaseId]) -> Result<Vec<TaskRecord>, StoreError> {
    let cases = bulk::id_filter(conn.get_database_backend(), "case_id", ids.iter().map(|c| c.as_uuid()))?;
    let query = task::Entity::find().filter(cases).order_by_asc(task::Column::CreatedAt);
    task_records(conn, query).await
}

/// When the calls of these customers happen, over every case they own now, from `since` on:
/// a task's completion, or else the earliest moment it may be made. Cancelled tasks never
/// called anyone.
pub async fn call_times<C: ConnectionTrait>(
    conn: &C,
    customers: &[CustomerId],
    since: DateTime<Utc>,
) -> Result<Vec<(CustomerId, DateTime<Utc>)>, StoreError> {
    let sql = match conn.get_database_backend() {
        DbBackend::Postgres => {
            "SELECT json_agg(json_build_array(s.customer_id, COALESCE(t.completed_at, t.not_before, t.due_at)))::text \
             FROM unnest($1::uuid[]) AS k(customer_key) \
             CROSS JOIN LATERAL (SELECT id, customer_id FROM cases WHERE customer_id = k.customer_key OFFSET 0) s \
             JOIN tasks t ON t.case_id = s.id \
             WHERE t.status <> 'cancelled' AND COALESCE(t.completed_at, t.not_before, t.due_at) >= $2"
        }
        _ => {
            "SELECT json_group_array(json_array(hex(s.customer_id), COALESCE(t.completed_at, t.not_before, t.due_at))) \
             FROM tasks t JOIN cases s ON s.id = t.case_id WHERE s.customer_id IN (SELECT unhex(value) FROM jsonb_each(?1)) \
             AND t.status <> 'cancelled' AND COALESCE(t.completed_at, t.not_before, t.due_at) >= ?2"
        }
    };
    customer_lookup(conn, sql, customers, since).await
}

/// Compensation approved or awaiting approval for these customers since `since`, over every
/// case they own now, per customer.
pub async fn compensation_received<C: ConnectionTrait>(
    conn: &C,
    customers: &[CustomerId],
    since: DateTime<Utc>,
) -> Result<Vec<(CustomerId, i64)>, StoreError> {
    let sql = match conn.get_database_backend() {
        DbBackend::Postgres => {
            "SELECT json_agg(json_build_array(customer_id, fen))::text FROM (SELECT s.customer_id, SUM(m.amount_fen) AS fen \
             FROM unnest($1::uuid[]) AS k(customer_key) \
             CROSS JOIN LATERAL (SELECT id, customer_id FROM cases WHERE customer_id = k.customer_key OFFSET 0) s \
             JOIN compensations m ON m.case_id = s.id \
             WHERE m.status IN ('approved', 'pending') AND m.requested_at >= $2 GROUP BY s.customer_id) received"
        }
        _ => {
            "SELECT json_group_array(json_array(hex(customer_id), fen)) FROM (SELECT s.customer_id, SUM(m.amount_fen) AS fen \
             FROM compensations m JOIN cases s ON s.id = m.case_id WHERE s.customer_id IN (SELECT unhex(value) FROM jsonb_each(?1)) \
             AND m.status IN ('approved', 'pending') AND m.requested_at >= ?2 GROUP BY s.customer_id) received"
        }
    };
    customer_lookup(conn, sql, customers, since).await
}

/// Runs a lookup of `(customer, value)` pairs for `customers` (`$1`/`?1`) from `since` (`$2`/`?2`).
async fn customer_lookup<C, T>(
    conn: &C,
    sql: &str,
    customers: &[CustomerId],
    since: DateTime<Utc>,
) -> Result<Vec<(CustomerId, T)>, StoreError>
where
    C: ConnectionTrait,
    T: serde::de::DeserializeOwned,
{
    if customers.is_empty() {
        return Ok(Vec::new());
    }
    let ids = customers.iter().map(|c| c.as_uuid());
    let params = vec![bulk::id_param(conn.get_database_backend(), ids)?, since.into()];
    let rows: Vec<(uuid::Uuid, T)> = bulk::query_json(conn, sql, params).await?;
    Ok(rows.into_iter().map(|(id, value)| (CustomerId::from_uuid(id), value)).collect())
}

/// A team's budget for a month (`YYYY-MM`): what it may spend and what it committed.
pub async fn team_budget<C: ConnectionTrait>(
    conn: &C,
    team: &str,
    month: &str,
) -> Result<Option<(i64, i64)>, StoreError> {
    let backend = conn.get_database_backend();
    let sql = format!(
        "SELECT budget_fen, committed_fen FROM team_budgets WHERE team = {} AND month = {}",
        bulk::param(backend, 1),
        bulk::param(backend, 2)
    );
    let row = conn.query_one_raw(Statement::from_sql_and_values(backend, sql, [team.into(), month.into()])).await?;
    match row {
        Some(row) => Ok(Some((row.try_get_by_index(0)?, row.try_get_by_index(1)?))),
        None => Ok(None),
    }
}

/// Opens a team's month with a budget unless it is open already; true when this call opened it.
pub async fn open_team_budget<C: ConnectionTrait>(
    conn: &C,
    team: &str,
    month: &str,
    budget_fen: i64,
) -> Result<bool, StoreError> {
    let backend = conn.get_database_backend();
    let p = |n| bulk::param(backend, n);
    let sql = format!(
        "INSERT INTO team_budgets (team, month, budget_fen, committed_fen) VALUES ({}, {}, {}, 0) ON CONFLICT DO NOTHING",
        p(1),
        p(2),
        p(3)
    );
    let done = conn
        .execute_raw(Statement::from_sql_and_values(backend, sql, [team.into(), month.into(), budget_fen.into()]))
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Tasks finished (done) in `(after, until]`, oldest first.
pub async fn tasks_completed_between<C: ConnectionTrait>(
    conn: &C,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<TaskRecord>, StoreError> {
    let query = task::Entity::find()
        .filter(task::Column::CompletedAt.gt(after))
        .filter(task::Column::CompletedAt.lte(until))
        .filter(task::Column::Status.eq("done"))
        .order_by_asc(task::Column::CompletedAt);
    task_records(conn, query).await
}

/// Tasks in work whose due time passed before `before` and that no one escalated yet.
pub async fn overdue_tasks<C: ConnectionTrait>(conn: &C, before: DateTime<Utc>) -> Result<Vec<TaskRecord>, StoreError> {
    let query = task::Entity::find()
        .filter(task::Column::Status.is_in(IN_WORK))
        .filter(task::Column::DueAt.lt(before))
        .filter(task::Column::EscalatedAt.is_null())
        .order_by_asc(task::Column::DueAt);
    task_records(conn, query).await
}

/// Records an SLA escalation and raises the task's priority; false when it was escalated already.
pub async fn escalate_task<C: ConnectionTrait>(
    conn: &C,
    task: &TaskRecord,
    priority_after: i32,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let raised = task::Entity::update_many()
        .col_expr(task::Column::Priority, Expr::value(priority_after))
        .col_expr(task::Column::EscalatedAt, Expr::value(now))
        .col_expr(task::Column::UpdatedAt, Expr::value(now))
        .filter(task::Column::Id.eq(task.task_id.as_uuid()))
        .filter(task::Column::EscalatedAt.is_null())
        .exec(conn)
        .await?;
    if raised.rows_affected == 0 {
        return Ok(false);
    }
    escalation::Entity::insert(escalation::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        task_id: Set(task.task_id.as_uuid()),
        case_id: Set(task.case_id.as_uuid()),
        due_at: Set(task.due_at),
        escalated_at: Set(now),
        overdue_minutes: Set(i32::try_from((now - task.due_at).num_minutes()).unwrap_or(i32::MAX)),
        priority_before: Set(task.priority),
        priority_after: Set(priority_after),
        acknowledged_at: Set(None),
    })
    .exec(conn)
    .await?;
    Ok(true)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EscalationRecord {
    pub task_id: TaskId,
    pub case_id: CaseId,
    pub due_at: DateTime<Utc>,
    pub escalated_at: DateTime<Utc>,
    pub overdue_minutes: i32,
    pub priority_before: i32,
    pub priority_after: i32,
}

/// Escalations no supervisor has acknowledged, newest first.
pub async fn open_escalations<C: ConnectionTrait>(conn: &C) -> Result<Vec<EscalationRecord>, StoreError> {
    let rows = escalation::Entity::find()
        .filter(escalation::Column::AcknowledgedAt.is_null())
        .order_by_desc(escalation::Column::EscalatedAt)
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|m| EscalationRecord {
            task_id: TaskId::from_uuid(m.task_id),
            case_id: CaseId::from_uuid(m.case_id),
            due_at: m.due_at,
            escalated_at: m.escalated_at,
            overdue_minutes: m.overdue_minutes,
            priority_before: m.priority_before,
            priority_after: m.priority_after,
        })
        .collect())
}

/// Marks a task done with its outcome (JSON). The desk's completion writes exactly this.
pub async fn complete_task<C: ConnectionTrait>(
    conn: &C,
    id: TaskId,
    outcome: &serde_json::Value,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done = task::Entity::update_many()
        .col_expr(task::Column::Status, Expr::value("done"))
        .col_expr(task::Column::Outcome, Expr::value(outcome.to_string()))
        .col_expr(task::Column::CompletedAt, Expr::value(now))
        .col_expr(task::Column::UpdatedAt, Expr::value(now))
        .col_expr(task::Column::ClaimedBy, Expr::value(Option::<uuid::Uuid>::None))
        .col_expr(task::Column::LeaseExpiresAt, Expr::value(Option::<DateTime<Utc>>::None))
        .filter(task::Column::Id.eq(id.as_uuid()))
        .filter(task::Column::Status.is_in(IN_WORK))
        .exec(conn)
        .await?;
    Ok(done.rows_affected == 1)
}

/// Every task, oldest first, a page at a time (for `mend tasks export`).
pub async fn tasks_page<C: ConnectionTrait>(
    conn: &C,
    after: Option<TaskId>,
    limit: u64,
) -> Result<Vec<TaskRecord>, StoreError> {
    let mut query = task::Entity::find().order_by_asc(task::Column::Id).limit(limit);
    if let Some(after) = after {
        query = query.filter(task::Column::Id.gt(after.as_uuid()));
    }
    task_records(conn, query).await
}

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
    .await?;
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
    let rows = outbox::Entity::find().order_by_asc(outbox::Column::CreatedAt).all(conn).await?;
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

/// Cases closed in `(after, until]`.
pub async fn cases_closed_between<C: ConnectionTrait>(
    conn: &C,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<CaseRecord>, StoreError> {
    case::Entity::find()
        .filter(case::Column::Status.eq("closed"))
        .filter(case::Column::ClosedAt.gt(after))
        .filter(case::Column::ClosedAt.lte(until))
        .all(conn)
        .await?
        .into_iter()
        .map(CaseRecord::try_from)
        .collect()
}

/// How many complaints of each category arrived in `[from, until)`.
pub async fn complaints_per_category<C: ConnectionTrait>(
    conn: &C,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<(String, i64)>, StoreError> {
    let backend = conn.get_database_backend();
    let sql = format!(
        "SELECT category, count(*) FROM complaints WHERE received_at >= {} AND received_at < {} GROUP BY category",
        bulk::param(backend, 1),
        bulk::param(backend, 2)
    );
    let rows = conn.query_all_raw(Statement::from_sql_and_values(backend, sql, [from.into(), until.into()])).await?;
    rows.iter().map(|row| Ok((row.try_get_by_index::<String>(0)?, row.try_get_by_index::<i64>(1)?))).collect()
}

/// Stores a report for a period unless one is there; true when this call stored it.
pub async fn save_report<C: ConnectionTrait>(
    conn: &C,
    kind: &str,
    period: &str,
    body: &serde_json::Value,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let inserted = report::Entity::insert(report::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        kind: Set(kind.to_owned()),
        period: Set(period.to_owned()),
        body: Set(body.to_string()),
        created_at: Set(now),
    })
    .on_conflict_do_nothing_on([report::Column::Kind, report::Column::Period])
    .exec_without_returning(conn)
    .await?;
    Ok(went_in(inserted))
}

pub async fn report<C: ConnectionTrait>(
    conn: &C,
    kind: &str,
    period: &str,
) -> Result<Option<serde_json::Value>, StoreError> {
    let row = report::Entity::find()
        .filter(report::Column::Kind.eq(kind))
        .filter(report::Column::Period.eq(period))
        .one(conn)
        .await?;
    Ok(row.map(|r| serde_json::from_str(&r.body).unwrap_or(serde_json::Value::Null)))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobRunRecord {
    pub run_id: JobRunId,
    pub job: String,
    pub scheduled_for: DateTime<Utc>,
    pub outcome: String,
    pub triggered_by: String,
    pub instance: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub counts: serde_json::Value,
    #[serde(skip)]
    pub cursor: String,
}

impl From<job_run::Model> for JobRunRecord {
    fn from(m: job_run::Model) -> Self {
        Self {
            run_id: JobRunId::from_uuid(m.id),
            job: m.job,
            scheduled_for: m.scheduled_for,
            outcome: m.outcome,
            triggered_by: m.triggered_by,
            instance: m.instance,
            started_at: m.started_at,
            finished_at: m.finished_at,
            counts: serde_json::from_str(&m.counts).unwrap_or(serde_json::Value::Null),
            cursor: m.cursor,
        }
    }
}

/// A run that is about to start: who runs which occurrence, until when the lease holds.
#[derive(Debug, Clone)]
pub struct RunClaim<'a> {
    pub job: &'a str,
    pub scheduled_for: DateTime<Utc>,
    pub triggered_by: &'a str,
    pub instance: &'a str,
    pub now: DateTime<Utc>,
    pub lease_until: DateTime<Utc>,
}

/// Takes an occurrence of a job: records it as running, or, if a run of it exists whose lease
/// ran out while still running (its instance died), takes that run over. `None`: someone else
/// has it, or it is done. Manual runs (`triggered_by` other than `cron`) always start.
pub async fn claim_run<C: ConnectionTrait>(conn: &C, claim: RunClaim<'_>) -> Result<Option<JobRunId>, StoreError> {
    let id = JobRunId::new();
    let inserted = job_run::Entity::insert(job_run::ActiveModel {
        id: Set(id.as_uuid()),
        job: Set(claim.job.to_owned()),
        scheduled_for: Set(claim.scheduled_for),
        outcome: Set("running".into()),
        instance: Set(Some(claim.instance.to_owned())),
        started_at: Set(claim.now),
        finished_at: Set(None),
        lease_expires_at: Set(Some(claim.lease_until)),
        counts: Set("{}".into()),
        triggered_by: Set(claim.triggered_by.to_owned()),
        cursor: Set(String::new()),
    })
    .on_conflict_do_nothing()
    .exec_without_returning(conn)
    .await?;
    if went_in(inserted) {
        return Ok(Some(id));
    }
    let stale = job_run::Entity::find()
        .filter(job_run::Column::Job.eq(claim.job))
        .filter(job_run::Column::ScheduledFor.eq(claim.scheduled_for))
        .filter(job_run::Column::TriggeredBy.eq("cron"))
        .filter(job_run::Column::Outcome.eq("running"))
        .filter(job_run::Column::LeaseExpiresAt.lt(claim.now))
        .one(conn)
        .await?;
    let Some(stale) = stale else { return Ok(None) };
    let taken = job_run::Entity::update_many()
        .col_expr(job_run::Column::Instance, Expr::value(claim.instance.to_owned()))
        .col_expr(job_run::Column::StartedAt, Expr::value(claim.now))
        .col_expr(job_run::Column::LeaseExpiresAt, Expr::value(claim.lease_until))
        .filter(job_run::Column::Id.eq(stale.id))
        .filter(job_run::Column::Outcome.eq("running"))
        .filter(job_run::Column::LeaseExpiresAt.lt(claim.now))
        .exec(conn)
        .await?;
    Ok((taken.rows_affected == 1).then(|| JobRunId::from_uuid(stale.id)))
}

/// Records how a run ended.
pub async fn finish_run<C: ConnectionTrait>(
    conn: &C,
    id: JobRunId,
    outcome: &str,
    counts: &serde_json::Value,
    cursor: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    job_run::Entity::update_many()
        .col_expr(job_run::Column::Outcome, Expr::value(outcome))
        .col_expr(job_run::Column::Counts, Expr::value(counts.to_string()))
        .col_expr(job_run::Column::Cursor, Expr::value(cursor))
        .col_expr(job_run::Column::FinishedAt, Expr::value(now))
        .col_expr(job_run::Column::LeaseExpiresAt, Expr::value(Option::<DateTime<Utc>>::None))
        .filter(job_run::Column::Id.eq(id.as_uuid()))
        .exec(conn)
        .await?;
    Ok(())
}

/// The latest cron occurrence of a job that was claimed (running or finished).
pub async fn last_occurrence<C: ConnectionTrait>(conn: &C, job: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    let run = job_run::Entity::find()
        .filter(job_run::Column::Job.eq(job))
        .filter(job_run::Column::TriggeredBy.eq("cron"))
        .order_by_desc(job_run::Column::ScheduledFor)
        .one(conn)
        .await?;
    Ok(run.map(|r| r.scheduled_for))
}

/// The latest successful run of a job that left a cursor, cron or manual.
pub async fn last_successful_run<C: ConnectionTrait>(conn: &C, job: &str) -> Result<Option<JobRunRecord>, StoreError> {
    let run = job_run::Entity::find()
        .filter(job_run::Column::Job.eq(job))
        .filter(job_run::Column::Outcome.eq("ok"))
        .filter(job_run::Column::Cursor.ne(""))
        .order_by_desc(job_run::Column::Id)
        .one(conn)
        .await?;
    Ok(run.map(Into::into))
}

/// The latest runs, newest first, optionally of one job.
pub async fn recent_runs<C: ConnectionTrait>(
    conn: &C,
    job: Option<&str>,
    limit: u64,
) -> Result<Vec<JobRunRecord>, StoreError> {
    let mut query = job_run::Entity::find().order_by_desc(job_run::Column::Id).limit(limit);
    if let Some(job) = job {
        query = query.filter(job_run::Column::Job.eq(job));
    }
    Ok(query.all(conn).await?.into_iter().map(Into::into).collect())
}

/// Whether an insert that skips conflicting rows put its row in.
fn went_in(result: TryInsertResult<u64>) -> bool {
    matches!(result, TryInsertResult::Inserted(n) if n > 0)
}
