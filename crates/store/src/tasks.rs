//! The `tasks` table: callback tasks (one in work per case, kept so by a partial unique
//! index), written by the scheduler and read by its follow-up jobs and the exports.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use mend_core::{CaseId, CustomerId, Money, Task, TaskId, TaskKind, TaskOutcome, TaskStatus, Temperament, UserId};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Statement,
};

use crate::StoreError;
use crate::bulk::{self, OnConflict, Table, customer_lookup};
use crate::cases::Time;
use crate::entities::task;
use crate::error::During;
use crate::records::{json_column, word};
use crate::rows::stored_row;

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

/// A task to create. `priority_reasons` and `temperament_reason` are JSON text.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub id: TaskId,
    pub case_id: CaseId,
    pub customer_id: CustomerId,
    pub kind: TaskKind,
    pub due_at: DateTime<Utc>,
    pub not_before: DateTime<Utc>,
    pub priority: i32,
    pub priority_reasons: String,
    pub compensation_limit: Money,
    pub limit_explanation: String,
    pub script: String,
    pub attempt: i32,
    pub category: String,
    pub temperament: Temperament,
    pub temperament_reason: String,
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
        priority_reasons: &'a str,
        compensation_limit_fen: i64,
        limit_explanation: &'a str,
        script: &'a str,
        attempt: i32,
        category: &'a str,
        temperament: &'a str,
        temperament_reason: &'a str,
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
            priority_reasons: &t.priority_reasons,
            compensation_limit_fen: t.compensation_limit.fen(),
            limit_explanation: &t.limit_explanation,
            script: &t.script,
            attempt: t.attempt,
            category: &t.category,
            temperament: t.temperament.as_str(),
            temperament_reason: &t.temperament_reason,
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

/// A task an agent could be handed now, with what decides whether its customer may be called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimCandidate {
    pub task_id: TaskId,
    pub customer_id: CustomerId,
    pub timezone: chrono_tz::Tz,
    pub do_not_disturb: bool,
}

/// The most urgent tasks that are open (or whose lease ran out) and whose earliest moment has
/// come, most urgent first, not among `passed` (looked at and not callable). Call it in a write
/// transaction and take one with [`take_task`] in the same one: on PostgreSQL the rows are
/// locked until it ends and rows another claim holds are skipped (`FOR UPDATE SKIP LOCKED`), so
/// concurrent claims never wait for each other or get one task twice; SQLite's write
/// transactions run one at a time.
pub async fn claim_candidates(
    tx: &DatabaseTransaction,
    now: DateTime<Utc>,
    passed: &[TaskId],
    limit: u64,
) -> Result<Vec<ClaimCandidate>, StoreError> {
    let backend = tx.get_database_backend();
    let p = |n| bulk::param(backend, n);
    let lock = match backend {
        DbBackend::Postgres => " FOR UPDATE OF t SKIP LOCKED",
        _ => "",
    };
    let sql = format!(
        "SELECT t.id, u.timezone, u.do_not_disturb, u.id FROM tasks t \
         JOIN cases s ON s.id = t.case_id JOIN customers u ON u.id = s.customer_id \
         WHERE t.status IN ('open', 'claimed') AND (t.status = 'open' OR t.lease_expires_at < {now}) \
         AND (s.status = 'open' OR (s.status = 'closed' AND t.kind IN ('verification', 'second_repair'))) \
         AND COALESCE(t.not_before, t.due_at) <= {now} AND NOT (t.id {passed}) \
         ORDER BY t.priority DESC, t.due_at, t.id LIMIT {limit}{lock}",
        now = p(1),
        passed = bulk::in_ids(backend, 2),
        limit = p(3),
    );
    let params = vec![now.into(), bulk::id_param(backend, passed.iter().map(|t| t.as_uuid()))?, limit.into()];
    let rows = tx
        .query_all_raw(Statement::from_sql_and_values(backend, sql, params))
        .await
        .during(TABLE, "claim_candidates")?;
    rows.iter()
        .map(|row| {
            let id: uuid::Uuid = row.try_get_by_index(0).during(TABLE, "claim_candidates")?;
            let zone: String = row.try_get_by_index(1).during(TABLE, "claim_candidates")?;
            let customer: uuid::Uuid = row.try_get_by_index(3).during(TABLE, "claim_candidates")?;
            Ok(ClaimCandidate {
                task_id: TaskId::from_uuid(id),
                customer_id: CustomerId::from_uuid(customer),
                timezone: word("customers", format_args!("of task {id}"), &zone)?,
                do_not_disturb: row.try_get_by_index(2).during(TABLE, "claim_candidates")?,
            })
        })
        .collect()
}

/// Whether an agent holds a live claim on another task of this customer (on any case they own
/// now): one call to a customer at a time.
pub async fn customer_on_a_call<C: ConnectionTrait>(
    conn: &C,
    customer: CustomerId,
    except: TaskId,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let backend = conn.get_database_backend();
    let p = |n| bulk::param(backend, n);
    let sql = format!(
        "SELECT 1 FROM tasks t JOIN cases s ON s.id = t.case_id WHERE s.customer_id = {} AND t.id <> {} \
         AND t.status = 'claimed' AND t.lease_expires_at >= {} LIMIT 1",
        p(1),
        p(2),
        p(3)
    );
    let values = [customer.as_uuid().into(), except.as_uuid().into(), now.into()];
    let row = conn
        .query_one_raw(Statement::from_sql_and_values(backend, sql, values))
        .await
        .during(TABLE, "customer_on_a_call")?;
    Ok(row.is_some())
}

/// The queue as a supervisor watches it at `now`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct QueueHealth {
    /// Tasks whose earliest moment has come (as a claim sees it) and that nobody holds (an
    /// expired lease counts as free).
    pub due: i64,
    /// Free tasks whose earliest moment is still to come.
    pub later: i64,
    /// Tasks still to be worked whose due time passed before `overdue_before`.
    pub overdue: i64,
    /// Tasks on an agent's live lease, per agent.
    pub held_by: Vec<(UserId, i64)>,
}

/// Counts of the tasks still to be worked: due, later, overdue, and held per agent.
pub async fn queue_health<C: ConnectionTrait>(
    conn: &C,
    now: DateTime<Utc>,
    overdue_before: DateTime<Utc>,
) -> Result<QueueHealth, StoreError> {
    let backend = conn.get_database_backend();
    let (now_p, overdue_p) = (bulk::param(backend, 1), bulk::param(backend, 2));
    let free = format!("(status = 'open' OR lease_expires_at < {now_p})");
    let sql = format!(
        "SELECT COALESCE(SUM(CASE WHEN {free} AND COALESCE(not_before, due_at) <= {now_p} THEN 1 ELSE 0 END), 0), \
         COALESCE(SUM(CASE WHEN {free} AND COALESCE(not_before, due_at) > {now_p} THEN 1 ELSE 0 END), 0), \
         COALESCE(SUM(CASE WHEN due_at < {overdue_p} THEN 1 ELSE 0 END), 0) \
         FROM tasks WHERE status IN ('open', 'claimed')"
    );
    let row = conn
        .query_one_raw(Statement::from_sql_and_values(backend, sql, [now.into(), overdue_before.into()]))
        .await
        .during(TABLE, "queue_health")?
        .ok_or_else(|| StoreError::corrupt(TABLE, "queue_health", "an aggregate answered no row"))?;
    let count = |i| row.try_get_by_index::<i64>(i).during(TABLE, "queue_health");
    let (due, later, overdue) = (count(0)?, count(1)?, count(2)?);
    let held: Vec<(Option<uuid::Uuid>, i64)> = task::Entity::find()
        .select_only()
        .column(task::Column::ClaimedBy)
        .column_as(task::Column::Id.count(), "held")
        .filter(task::Column::Status.eq(TaskStatus::Claimed.as_str()))
        .filter(task::Column::LeaseExpiresAt.gte(now))
        .group_by(task::Column::ClaimedBy)
        .order_by_asc(task::Column::ClaimedBy)
        .into_tuple()
        .all(conn)
        .await
        .during(TABLE, "queue_health")?;
    let held_by = held.into_iter().filter_map(|(user, n)| Some((UserId::from_uuid(user?), n))).collect();
    Ok(QueueHealth { due, later, overdue, held_by })
}

/// When calls to this customer were made since `since` (tasks done, on any case they own now).
pub async fn calls_made_since<C: ConnectionTrait>(
    conn: &C,
    customer: CustomerId,
    since: DateTime<Utc>,
) -> Result<Vec<DateTime<Utc>>, StoreError> {
    let backend = conn.get_database_backend();
    let sql = format!(
        "SELECT t.completed_at FROM tasks t JOIN cases s ON s.id = t.case_id \
         WHERE s.customer_id = {} AND t.status = 'done' AND t.completed_at >= {}",
        bulk::param(backend, 1),
        bulk::param(backend, 2)
    );
    let rows = conn
        .query_all_raw(Statement::from_sql_and_values(backend, sql, [customer.as_uuid().into(), since.into()]))
        .await
        .during(TABLE, "calls_made_since")?;
    rows.iter().map(|row| row.try_get_by_index(0).during(TABLE, "calls_made_since")).collect()
}

/// Gives a task to `agent` until `lease_until` if it is still free (open, or its lease ran out);
/// the task as taken (its `customer_id` the one it was made for), or `None`.
pub async fn take_task<C: ConnectionTrait>(
    conn: &C,
    id: TaskId,
    agent: UserId,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Result<Option<Task>, StoreError> {
    let taken = task::Entity::update_many()
        .col_expr(task::Column::Status, Expr::value(TaskStatus::Claimed.as_str()))
        .col_expr(task::Column::ClaimedBy, Expr::value(agent.as_uuid()))
        .col_expr(task::Column::LeaseExpiresAt, Expr::value(lease_until))
        .col_expr(task::Column::UpdatedAt, Expr::value(now))
        .filter(task::Column::Id.eq(id.as_uuid()))
        .filter(
            Condition::any().add(task::Column::Status.eq(TaskStatus::Open.as_str())).add(
                Condition::all()
                    .add(task::Column::Status.eq(TaskStatus::Claimed.as_str()))
                    .add(task::Column::LeaseExpiresAt.lt(now)),
            ),
        )
        .exec_with_returning(conn)
        .await
        .during(TABLE, "take_task")?;
    taken.into_iter().next().map(Task::try_from).transpose()
}

/// Extends the lease of a task `agent` holds, even one whose lease ran out while nobody took it.
pub async fn extend_lease<C: ConnectionTrait>(
    conn: &C,
    id: TaskId,
    agent: UserId,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let extended = update_held(conn, id, agent, "extend_lease", |held| {
        held.col_expr(task::Column::LeaseExpiresAt, Expr::value(lease_until))
            .col_expr(task::Column::UpdatedAt, Expr::value(now))
    })
    .await?;
    Ok(extended.is_some())
}

/// Puts a task `agent` holds back in the queue.
pub async fn release_task<C: ConnectionTrait>(
    conn: &C,
    id: TaskId,
    agent: UserId,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let released = update_held(conn, id, agent, "release_task", |held| {
        held.col_expr(task::Column::Status, Expr::value(TaskStatus::Open.as_str()))
            .col_expr(task::Column::ClaimedBy, Expr::value(Option::<uuid::Uuid>::None))
            .col_expr(task::Column::LeaseExpiresAt, Expr::value(Option::<DateTime<Utc>>::None))
            .col_expr(task::Column::UpdatedAt, Expr::value(now))
    })
    .await?;
    Ok(released.is_some())
}

/// Marks a task `agent` holds done with its outcome; the task as completed (its `customer_id`
/// the one it was made for), or `None` when it is not theirs.
pub async fn complete_held_task<C: ConnectionTrait>(
    conn: &C,
    id: TaskId,
    agent: UserId,
    outcome: &TaskOutcome,
    now: DateTime<Utc>,
) -> Result<Option<Task>, StoreError> {
    let outcome = serde_json::to_string(outcome).map_err(StoreError::Encode)?;
    update_held(conn, id, agent, "complete_held_task", |held| completion(held, outcome, now)).await
}

type TaskUpdate = sea_orm::UpdateMany<task::Entity>;

/// Applies `set` to task `id` if `agent` holds it: claimed by them, whatever the lease says (a
/// lease that ran out while nobody took the task still holds). The task as updated, if it did.
async fn update_held<C: ConnectionTrait>(
    conn: &C,
    id: TaskId,
    agent: UserId,
    operation: &'static str,
    set: impl FnOnce(TaskUpdate) -> TaskUpdate,
) -> Result<Option<Task>, StoreError> {
    let held = task::Entity::update_many()
        .filter(task::Column::Id.eq(id.as_uuid()))
        .filter(task::Column::Status.eq(TaskStatus::Claimed.as_str()))
        .filter(task::Column::ClaimedBy.eq(agent.as_uuid()));
    let updated = set(held).exec_with_returning(conn).await.during(TABLE, operation)?;
    updated.into_iter().next().map(Task::try_from).transpose()
}

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
    pub limit: u64,
}

/// Tasks by the filter, most urgent first.
pub async fn list_tasks<C: ConnectionTrait>(conn: &C, filter: &TaskFilter) -> Result<Vec<Task>, StoreError> {
    let mut query = task::Entity::find()
        .order_by_desc(task::Column::Priority)
        .order_by_asc(task::Column::DueAt)
        .order_by_asc(task::Column::Id)
        .limit(filter.limit);
    if let Some(agent) = filter.claimed_by {
        query = query.filter(task::Column::ClaimedBy.eq(agent.as_uuid()));
    }
    if let Some(status) = filter.status {
        query = query.filter(task::Column::Status.eq(status.as_str()));
    }
    if let Some(before) = filter.due_before {
        query = query.filter(task::Column::DueAt.lt(before));
    }
    task_records(conn, query).await
}

/// When the next task in the queue may be called at the earliest (after `now`), if any.
pub async fn next_task_not_before<C: ConnectionTrait>(
    conn: &C,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let next: Option<Option<DateTime<Utc>>> = task::Entity::find()
        .select_only()
        .column(task::Column::NotBefore)
        .filter(task::Column::Status.eq(TaskStatus::Open.as_str()))
        .filter(task::Column::NotBefore.gt(now))
        .order_by_asc(task::Column::NotBefore)
        .into_tuple()
        .one(conn)
        .await
        .during(TABLE, "next_task_not_before")?;
    Ok(next.flatten())
}

/// The statement that cancels the calls nobody took about the problem of cases that closed or
/// were merged away (callbacks and retries; of a merged case, every open task): nobody is to be
/// called about it any more, and a case that reopens gets a callback of its own. Verification
/// calls and second repairs of a closed case stay; a task an agent holds stays theirs.
pub(crate) fn cancel_open_tasks(
    backend: DbBackend,
    cases: &[CaseId],
    now: DateTime<Utc>,
) -> Result<Option<Statement>, StoreError> {
    if cases.is_empty() {
        return Ok(None);
    }
    let sql = format!(
        "UPDATE tasks SET status = 'cancelled', updated_at = {} WHERE status = 'open' AND case_id {} \
         AND (kind IN ('callback', 'retry') OR case_id IN (SELECT id FROM cases WHERE status = 'merged'))",
        bulk::param(backend, 1),
        bulk::in_ids(backend, 2)
    );
    let ids = bulk::id_param(backend, cases.iter().map(|c| c.as_uuid()))?;
    Ok(Some(Statement::from_sql_and_values(backend, sql, [now.into(), ids])))
}
