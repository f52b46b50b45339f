//! The `tasks` table: callback tasks (one in work per case, kept so by a partial unique
//! index), written by the scheduler and read by its follow-up jobs and the exports.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use mend_core::{
    CaseId, CustomerId, Money, PriorityReasons, Task, TaskId, TaskKind, TaskOutcome, TaskStatus, Temperament,
    TemperamentReason, UserId,
};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
};

use crate::StoreError;
use crate::bulk::{self, OnConflict, Table, customer_lookup};
use crate::cases::Time;
use crate::entities::task;
use crate::error::During;
use crate::records::{json_column, json_text, word};
use crate::rows::stored_row;

mod contact;
mod queue;

pub use contact::*;
pub use queue::*;

const TABLE: &str = "tasks";

/// Statuses of a task that is still to be worked, as stored: a case has at most one such task.
const IN_WORK: [&str; 2] = [TaskStatus::IN_WORK[0].as_str(), TaskStatus::IN_WORK[1].as_str()];

impl TryFrom<task::Model> for Task {
    type Error = StoreError;

    fn try_from(m: task::Model) -> Result<Self, StoreError> {
        Ok(Self {
            task_id: TaskId::from_uuid(m.id),
            case_id: CaseId::from_uuid(m.case_id),
            customer_id: m.customer_id.map(CustomerId::from_uuid),
            kind: word(TABLE, m.id, &m.kind)?,
            status: word(TABLE, m.id, &m.status)?,
            temperament: word(TABLE, m.id, &m.temperament)?,
            priority_reasons: json_column(TABLE, m.id, "priority_reasons", &m.priority_reasons)?,
            temperament_reason: json_column(TABLE, m.id, "temperament_reason", &m.temperament_reason)?,
            outcome: m.outcome.as_deref().map(|o| json_column(TABLE, m.id, "outcome", o)).transpose()?,
            due_at: m.due_at,
            not_before: m.not_before,
            priority: m.priority,
            compensation_limit: Money::from_fen(m.compensation_limit_fen),
            limit_explanation: m.limit_explanation,
            script: m.script,
            attempt: m.attempt,
            category: m.category,
            follows_task_id: m.follows_task_id.map(TaskId::from_uuid),
            claimed_by: m.claimed_by.map(UserId::from_uuid),
            lease_expires_at: m.lease_expires_at,
            created_at: m.created_at,
            completed_at: m.completed_at,
            escalated_at: m.escalated_at,
        })
    }
}

/// A task to create.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub id: TaskId,
    pub case_id: CaseId,
    pub customer_id: CustomerId,
    pub kind: TaskKind,
    pub due_at: DateTime<Utc>,
    pub not_before: DateTime<Utc>,
    pub priority: i32,
    pub priority_reasons: PriorityReasons,
    pub compensation_limit: Money,
    pub limit_explanation: String,
    pub script: String,
    pub attempt: i32,
    pub category: String,
    pub temperament: Temperament,
    pub temperament_reason: TemperamentReason,
    pub follows_task_id: Option<TaskId>,
}

stored_row! {
    /// A new task as the `tasks` table takes it (claims, outcomes and escalations come later).
    pub(crate) struct TaskRow<'a> in "tasks" {
        id: uuid::Uuid,
        case_id: uuid::Uuid,
        customer_id: uuid::Uuid,
        kind: &'a str,
        status: &'a str,
        due_at: Time,
        not_before: Time,
        priority: i32,
        priority_reasons: String,
        compensation_limit_fen: i64,
        limit_explanation: &'a str,
        script: &'a str,
        attempt: i32,
        category: &'a str,
        temperament: &'a str,
        temperament_reason: String,
        follows_task_id: Option<uuid::Uuid>,
        created_at: Time,
        updated_at: Time,
    }
}

const TASKS: Table = Table {
    name: TaskRow::TABLE,
    columns: TaskRow::COLUMNS,
    // A case that already has a task in work keeps it (`ux_tasks_one_open`): whatever runs
    // twice, or at once on another instance, cannot give it a second one.
    on_conflict: OnConflict::Skip,
};

impl<'a> TaskRow<'a> {
    fn new(t: &'a NewTask, now: DateTime<Utc>) -> Self {
        TaskRow {
            id: t.id.as_uuid(),
            case_id: t.case_id.as_uuid(),
            customer_id: t.customer_id.as_uuid(),
            kind: t.kind.as_str(),
            status: TaskStatus::Open.as_str(),
            due_at: t.due_at,
            not_before: t.not_before,
            priority: t.priority,
            priority_reasons: json_text(&t.priority_reasons),
            compensation_limit_fen: t.compensation_limit.fen(),
            limit_explanation: &t.limit_explanation,
            script: &t.script,
            attempt: t.attempt,
            category: &t.category,
            temperament: t.temperament.as_str(),
            temperament_reason: json_text(&t.temperament_reason),
            follows_task_id: t.follows_task_id.map(TaskId::as_uuid),
            created_at: now,
            updated_at: now,
        }
    }
}

/// Inserts the tasks whose case has no task in work; returns how many went in.
pub async fn insert_tasks<C: ConnectionTrait>(
    conn: &C,
    tasks: &[NewTask],
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let backend = conn.get_database_backend();
    let rows: Vec<TaskRow> = tasks.iter().map(|t| TaskRow::new(t, now)).collect();
    match TASKS.insert(backend, rows.iter().map(TaskRow::cells))? {
        Some(statement) => Ok(conn.execute_raw(statement).await.during(TABLE, "insert_tasks")?.rows_affected()),
        None => Ok(0),
    }
}

async fn task_records<C: ConnectionTrait>(
    conn: &C,
    query: sea_orm::Select<task::Entity>,
) -> Result<Vec<Task>, StoreError> {
    let mut records: Vec<Task> = query
        .all(conn)
        .await
        .during(TABLE, "task_records")?
        .into_iter()
        .map(Task::try_from)
        .collect::<Result<_, _>>()?;
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
        bulk::query_json(conn, TABLE, "task_records", &sql, vec![bulk::id_param(backend, case_ids)?]).await?;
    let owners: HashMap<uuid::Uuid, uuid::Uuid> = rows.into_iter().collect();
    for record in &mut records {
        if let Some(owner) = owners.get(&record.case_id.as_uuid()) {
            record.customer_id = Some(CustomerId::from_uuid(*owner));
        }
    }
    Ok(records)
}

/// Every task of these cases, any status, oldest first.
pub async fn tasks_of_cases<C: ConnectionTrait>(conn: &C, ids: &[CaseId]) -> Result<Vec<Task>, StoreError> {
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
    customer_lookup(conn, TABLE, "call_times", sql, customers, since).await
}

/// Tasks finished (done) in `(after, until]`, oldest first.
pub async fn tasks_completed_between<C: ConnectionTrait>(
    conn: &C,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<Task>, StoreError> {
    let query = task::Entity::find()
        .filter(task::Column::CompletedAt.gt(after))
        .filter(task::Column::CompletedAt.lte(until))
        .filter(task::Column::Status.eq(TaskStatus::Done.as_str()))
        .order_by_asc(task::Column::CompletedAt);
    task_records(conn, query).await
}

/// Which of these tasks some task follows already (a verification of a fix, a retry of an
/// unreachable customer): a follow-up job that reads a finished call again plans nothing twice.
pub async fn followed_tasks<C: ConnectionTrait>(
    conn: &C,
    ids: &[TaskId],
) -> Result<std::collections::HashSet<TaskId>, StoreError> {
    if ids.is_empty() {
        return Ok(std::collections::HashSet::new());
    }
    let follows = bulk::id_filter(conn.get_database_backend(), "follows_task_id", ids.iter().map(|t| t.as_uuid()))?;
    let found: Vec<Option<uuid::Uuid>> = task::Entity::find()
        .select_only()
        .column(task::Column::FollowsTaskId)
        .filter(follows)
        .into_tuple()
        .all(conn)
        .await
        .during(TABLE, "followed_tasks")?;
    Ok(found.into_iter().flatten().map(TaskId::from_uuid).collect())
}

/// Tasks in work whose due time passed before `before` and that no one escalated yet.
pub async fn overdue_tasks<C: ConnectionTrait>(conn: &C, before: DateTime<Utc>) -> Result<Vec<Task>, StoreError> {
    let query = task::Entity::find()
        .filter(task::Column::Status.is_in(IN_WORK))
        .filter(task::Column::DueAt.lt(before))
        .filter(task::Column::EscalatedAt.is_null())
        .order_by_asc(task::Column::DueAt);
    task_records(conn, query).await
}

/// Marks a task done with its outcome (JSON). The desk's completion writes exactly this.
pub async fn complete_task<C: ConnectionTrait>(
    conn: &C,
    id: TaskId,
    outcome: &TaskOutcome,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let outcome = serde_json::to_string(outcome).map_err(StoreError::Encode)?;
    let done = completion(task::Entity::update_many(), outcome, now)
        .filter(task::Column::Id.eq(id.as_uuid()))
        .filter(task::Column::Status.is_in(IN_WORK))
        .exec(conn)
        .await
        .during(TABLE, "complete_task")?;
    Ok(done.rows_affected == 1)
}

/// Every task, oldest first, a page at a time (for `mend tasks export`).
pub async fn tasks_page<C: ConnectionTrait>(
    conn: &C,
    after: Option<TaskId>,
    limit: u64,
) -> Result<Vec<Task>, StoreError> {
    let mut query = task::Entity::find().order_by_asc(task::Column::Id).limit(limit);
    if let Some(after) = after {
        query = query.filter(task::Column::Id.gt(after.as_uuid()));
    }
    task_records(conn, query).await
}

type TaskUpdate = sea_orm::UpdateMany<task::Entity>;

/// The columns a completion sets; `outcome` is its JSON.
fn completion(update: TaskUpdate, outcome: String, now: DateTime<Utc>) -> TaskUpdate {
    update
        .col_expr(task::Column::Status, Expr::value(TaskStatus::Done.as_str()))
        .col_expr(task::Column::Outcome, Expr::value(outcome))
        .col_expr(task::Column::CompletedAt, Expr::value(now))
        .col_expr(task::Column::UpdatedAt, Expr::value(now))
        .col_expr(task::Column::ClaimedBy, Expr::value(Option::<uuid::Uuid>::None))
        .col_expr(task::Column::LeaseExpiresAt, Expr::value(Option::<DateTime<Utc>>::None))
}

pub async fn task_by_id<C: ConnectionTrait>(conn: &C, id: TaskId) -> Result<Option<Task>, StoreError> {
    Ok(task_records(conn, task::Entity::find_by_id(id.as_uuid())).await?.pop())
}

/// Which tasks a list shows.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub claimed_by: Option<UserId>,
    pub status: Option<TaskStatus>,
    pub due_before: Option<DateTime<Utc>>,
    /// Read the queue as it stands at this moment: a claim whose lease ran out by then is open
    /// again (anyone may claim it), so it counts as open, not as claimed or held by anyone.
    pub as_of: Option<DateTime<Utc>>,
    pub limit: u64,
}

/// `status = '<status>'` of a task in work, written out with the condition of the partial index
/// of tasks in work (`ix_tasks_queue`): SQLite uses a partial index only for a statement that
/// names its condition word for word, and with a bound status reads every task ever made.
pub(crate) fn in_work_with_status(status: TaskStatus) -> Expr {
    Expr::cust(format!("status IN ('open', 'claimed') AND status = '{}'", status.as_str()))
}

/// Tasks in work, in the words of the partial index's condition (see [`in_work_with_status`]).
fn in_work() -> Expr {
    Expr::cust("status IN ('open', 'claimed')")
}

/// Tasks by the filter, most urgent first.
pub async fn list_tasks<C: ConnectionTrait>(conn: &C, filter: &TaskFilter) -> Result<Vec<Task>, StoreError> {
    let mut query = task::Entity::find()
        .order_by_desc(task::Column::Priority)
        .order_by_asc(task::Column::DueAt)
        .order_by_asc(task::Column::Id)
        .limit(filter.limit);
    // Held at `at`: claimed, in the words of the partial index (without them every task ever
    // made would be read), on a lease still running.
    let held = |at: DateTime<Utc>| {
        Condition::all().add(in_work_with_status(TaskStatus::Claimed)).add(task::Column::LeaseExpiresAt.gte(at))
    };
    if let Some(agent) = filter.claimed_by {
        query = query.filter(task::Column::ClaimedBy.eq(agent.as_uuid()));
        if let Some(at) = filter.as_of {
            query = query.filter(held(at));
        }
    }
    match (filter.status, filter.as_of) {
        (Some(TaskStatus::Open), Some(at)) => {
            let lapsed = task::Column::Status.eq(TaskStatus::Claimed.as_str()).and(task::Column::LeaseExpiresAt.lt(at));
            query = query.filter(in_work()).filter(task::Column::Status.eq(TaskStatus::Open.as_str()).or(lapsed));
        }
        (Some(TaskStatus::Claimed), Some(at)) => query = query.filter(held(at)),
        (Some(status @ (TaskStatus::Open | TaskStatus::Claimed)), None) => {
            query = query.filter(in_work_with_status(status));
        }
        (Some(status), _) => query = query.filter(task::Column::Status.eq(status.as_str())),
        (None, _) => {}
    }
    if let Some(before) = filter.due_before {
        query = query.filter(task::Column::DueAt.lt(before));
    }
    let tasks = task_records(conn, query).await?;
    Ok(match filter.as_of {
        Some(at) => tasks.into_iter().map(|t| t.as_at(at)).collect(),
        None => tasks,
    })
}

/// The calls their case no longer wants, as a condition on a row of `tasks`: of a case merged
/// away, every one (its problem is another case's now); of a closed case, its callbacks and
/// retries (nobody is to be called about the problem any more, and a case that reopens gets a
/// callback of its own). Verification calls and second repairs of a closed case stay. A macro,
/// so that `mend check`'s rules can hold it in their `concat!`.
macro_rules! unwanted_by_their_case {
    () => {
        "EXISTS (SELECT 1 FROM cases k WHERE k.id = tasks.case_id \
         AND (k.status = 'merged' OR (k.status <> 'open' AND tasks.kind IN ('callback', 'retry'))))"
    };
}
pub(crate) use unwanted_by_their_case;

/// Cancels the calls an agent claimed and let lapse that their case no longer wants
/// ([`unwanted_by_their_case`]): closing a case leaves a call in hand
/// to its agent to record, and one never recorded would otherwise lie in the queue as due for
/// ever, nobody's, never handed out, escalated as late. How many were cancelled.
pub async fn cancel_lapsed_calls_of_finished_cases<C: ConnectionTrait>(
    conn: &C,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let backend = conn.get_database_backend();
    let p = bulk::param(backend, 1);
    let sql = format!(
        "UPDATE tasks SET status = 'cancelled', lease_expires_at = NULL, updated_at = {p} \
         WHERE status IN ('open', 'claimed') AND status = 'claimed' AND lease_expires_at < {p} AND {}",
        unwanted_by_their_case!()
    );
    let done = conn
        .execute_raw(Statement::from_sql_and_values(backend, sql, [now.into()]))
        .await
        .during(TABLE, "cancel_lapsed_calls_of_finished_cases")?;
    Ok(done.rows_affected())
}

/// A check after a fix (a verification, a second repair) nobody has taken, planned before its
/// case's latest complaint: the customer says the problem is back, and the callback that asks
/// for replaces it. A condition on the task row aliased `task` and its case's row `case`.
pub(crate) fn superseded_check(task: &str, case: &str) -> String {
    format!(
        "({task}.status = 'open' AND {task}.kind IN ('verification', 'second_repair') \
         AND {task}.created_at < {case}.last_complaint_at)"
    )
}

/// Cancels the checks of these open cases that a callback replaces ([`superseded_check`]): a
/// case has one task in work. How many were cancelled.
pub async fn cancel_superseded_checks<C: ConnectionTrait>(
    conn: &C,
    cases: &[CaseId],
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    if cases.is_empty() {
        return Ok(0);
    }
    let backend = conn.get_database_backend();
    let sql = format!(
        "UPDATE tasks SET status = 'cancelled', updated_at = {} \
         WHERE status IN ('open', 'claimed') AND case_id {} \
         AND EXISTS (SELECT 1 FROM cases k WHERE k.id = tasks.case_id AND k.status = 'open' AND {})",
        bulk::param(backend, 1),
        bulk::in_ids(backend, 2),
        superseded_check("tasks", "k"),
    );
    let ids = bulk::id_param(backend, cases.iter().map(|c| c.as_uuid()))?;
    let done = conn
        .execute_raw(Statement::from_sql_and_values(backend, sql, [now.into(), ids]))
        .await
        .during(TABLE, "cancel_superseded_checks")?;
    Ok(done.rows_affected())
}

/// The statement that cancels the calls nobody took that `cases`, written as closed or merged
/// away, no longer want ([`unwanted_by_their_case`]); a task an agent holds stays theirs.
pub(crate) fn cancel_open_tasks(
    backend: DbBackend,
    cases: &[CaseId],
    now: DateTime<Utc>,
) -> Result<Option<Statement>, StoreError> {
    if cases.is_empty() {
        return Ok(None);
    }
    let sql = format!(
        "UPDATE tasks SET status = 'cancelled', updated_at = {} WHERE status = 'open' AND case_id {} AND {}",
        bulk::param(backend, 1),
        bulk::in_ids(backend, 2),
        unwanted_by_their_case!()
    );
    let ids = bulk::id_param(backend, cases.iter().map(|c| c.as_uuid()))?;
    Ok(Some(Statement::from_sql_and_values(backend, sql, [now.into(), ids])))
}
