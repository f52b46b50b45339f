//! The `tasks` table as the desk's queue: what a claim may take, leases, and completions.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use mend_core::{CaseStatus, Customer, CustomerId, LinkedIdentity, Task, TaskId, TaskOutcome, TaskStatus, UserId};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Statement,
};
use sea_orm::{FromQueryResult, QueryResult};

use super::{TABLE, TaskUpdate};
use crate::audit::{self, AUDIT_EVENTS};
use crate::bulk::{self, Cell, Kind, OnConflict, Table};
use crate::callbacks::{CustomerJson, customer_json};
use crate::entities::task;
use crate::error::During;
use crate::records::word;
use crate::{AuditEntry, Store, StoreError};

/// A task an agent could be handed now, with its customer (whose contact hours, zone and
/// do-not-disturb decide whether they may be called now) and the keys they are known by, oldest
/// first (what the agent who takes it sees).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimCandidate {
    pub task_id: TaskId,
    /// Open, or claimed by someone whose lease ran out.
    pub status: TaskStatus,
    pub customer: Customer,
    pub identities: Vec<LinkedIdentity>,
}

/// The most urgent tasks that are open (or whose lease ran out) and whose earliest moment has
/// come (`limit` of them, rounded up to a multiple of eight), most urgent first, not among
/// `passed` (looked at and not callable), with their customers. Call it in a write transaction
/// and take tasks with [`take_tasks`] in the same one: on PostgreSQL the tasks and their
/// customers are locked until it ends, and a task or customer another transaction holds is
/// skipped (`FOR UPDATE SKIP LOCKED`), so concurrent claims never wait for each other's tasks or
/// get one task twice, and [`calls_of_customers`] then sees every claim committed on those customers;
/// SQLite's write transactions run one at a time.
pub async fn claim_candidates(
    tx: &DatabaseTransaction,
    now: DateTime<Utc>,
    passed: &[TaskId],
    limit: u64,
) -> Result<Vec<ClaimCandidate>, StoreError> {
    let backend = tx.get_database_backend();
    let p = |n| bulk::param(backend, n);
    let callable = format!(
        "t.status IN ('open', 'claimed') AND (t.status = 'open' OR t.lease_expires_at < {now}) \
         AND (s.status = 'open' OR (s.status = 'closed' AND t.kind IN ('verification', 'second_repair'))) \
         AND COALESCE(t.not_before, t.due_at) <= {now} AND NOT (t.id {passed})",
        now = p(1),
        passed = bulk::in_ids(backend, 2),
    );
    // The limit is written into the statement, rounded up to a multiple of eight: PostgreSQL
    // costs a `LIMIT $n` it cannot see as a tenth of the queue, so it planned the statement
    // anew on every round (as long as running it); with the number in the text a few
    // statements serve every round size and their plans are made once.
    let top = limit.div_ceil(8) * 8;
    // The customer and their keys are read only for the rows returned, not for every task the
    // scan steps over or sorts. SQLite walks the claim order's index by name: from its
    // statistics of a queue where most tasks may be called, it chose to sort every callable task
    // to return the first few (a third of the claims' rate at ten agents).
    let sql = match backend {
        DbBackend::Postgres => format!(
            "SELECT t.id, t.status, {}::text, \
             (SELECT json_agg(json_build_array(i.kind, i.value, i.source, i.linked_at) ORDER BY i.linked_at, i.id) \
             FROM customer_identities i WHERE i.customer_id = u.id)::text \
             FROM tasks t JOIN cases s ON s.id = t.case_id JOIN customers u ON u.id = s.customer_id \
             WHERE {callable} ORDER BY t.priority DESC, t.due_at, t.id LIMIT {top} FOR UPDATE OF t, u SKIP LOCKED",
            customer_json(backend, "u"),
        ),
        _ => format!(
            "SELECT c.id, c.status, {}, (SELECT json_group_array(json_array(i.kind, i.value, i.source, i.linked_at)) \
             FROM (SELECT * FROM customer_identities WHERE customer_id = u.id ORDER BY linked_at, id) i) \
             FROM (SELECT t.id, t.status, t.priority, t.due_at, s.customer_id \
                   FROM tasks t INDEXED BY ix_tasks_claim_order JOIN cases s ON s.id = t.case_id \
                   WHERE {callable} ORDER BY t.priority DESC, t.due_at, t.id LIMIT {top}) c \
             JOIN customers u ON u.id = c.customer_id ORDER BY c.priority DESC, c.due_at, c.id",
            customer_json(backend, "u"),
        ),
    };
    let params = vec![now.into(), bulk::id_param(backend, passed.iter().map(|t| t.as_uuid()))?];
    let rows = tx
        .query_all_raw(Statement::from_sql_and_values(backend, sql, params))
        .await
        .during(TABLE, "claim_candidates")?;
    rows.iter()
        .map(|row| {
            let id: uuid::Uuid = row.try_get_by_index(0).during(TABLE, "claim_candidates")?;
            let status: String = row.try_get_by_index(1).during(TABLE, "claim_candidates")?;
            let customer: String = row.try_get_by_index(2).during(TABLE, "claim_candidates")?;
            let customer: CustomerJson = serde_json::from_str(&customer)
                .map_err(|e| StoreError::corrupt("customers", format_args!("of task {id}"), e))?;
            let identities: Option<String> = row.try_get_by_index(3).during(TABLE, "claim_candidates")?;
            let identities: Vec<(String, String, String, DateTime<Utc>)> =
                serde_json::from_str(identities.as_deref().unwrap_or("[]"))
                    .map_err(|e| StoreError::corrupt("customer_identities", format_args!("of task {id}"), e))?;
            Ok(ClaimCandidate {
                task_id: TaskId::from_uuid(id),
                status: word(TABLE, id, &status)?,
                customer: customer.try_into()?,
                identities: identities
                    .into_iter()
                    .map(|(kind, value, source, linked_at)| LinkedIdentity { kind, value, source, linked_at })
                    .collect(),
            })
        })
        .collect()
}

/// What a claim needs to know of its candidates' customers: when they were called lately, and
/// who is on a call now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerCalls {
    /// When calls to each were made since the moment asked about (tasks done, on any case they
    /// own now).
    pub made: HashMap<CustomerId, Vec<DateTime<Utc>>>,
    /// The customers an agent holds a live claim on (one call to a customer at a time).
    pub on_a_call: HashSet<CustomerId>,
}

/// The calls made to these customers since `since` and the live claims on them at `now`, in one
/// statement. Run it after their rows are locked ([`claim_candidates`]): a statement sees what
/// was committed before it began, so it then sees every claim a transaction that held those
/// locks made.
pub async fn calls_of_customers<C: ConnectionTrait>(
    conn: &C,
    customers: &[CustomerId],
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<CustomerCalls, StoreError> {
    let mut calls = CustomerCalls::default();
    if customers.is_empty() {
        return Ok(calls);
    }
    let backend = conn.get_database_backend();
    let sql = match backend {
        // From each customer to their cases to those cases' done tasks (`ix_tasks_done_by_case`;
        // `OFFSET 0` keeps the planner from turning it around into a walk over every task done
        // today, which it may think are few when it last counted them in the morning).
        DbBackend::Postgres => {
            "SELECT json_agg(json_build_array(c.customer_id, c.at, c.live))::text FROM ( \
             SELECT s.customer_id, t.completed_at AS at, 0 AS live FROM unnest($1::uuid[]) AS k(customer_key) \
             CROSS JOIN LATERAL (SELECT id, customer_id FROM cases WHERE customer_id = k.customer_key OFFSET 0) s \
             CROSS JOIN LATERAL (SELECT completed_at FROM tasks \
                                 WHERE case_id = s.id AND status = 'done' AND completed_at >= $2 OFFSET 0) t \
             UNION ALL SELECT s.customer_id, t.lease_expires_at, 1 FROM tasks t JOIN cases s ON s.id = t.case_id \
             WHERE s.customer_id = ANY($1::uuid[]) AND t.status = 'claimed' AND t.lease_expires_at >= $3) c"
        }
        _ => {
            "SELECT json_group_array(json_array(hex(c.customer_id), c.at, c.live)) FROM ( \
             SELECT s.customer_id, t.completed_at AS at, 0 AS live FROM tasks t JOIN cases s ON s.id = t.case_id \
             WHERE s.customer_id IN (SELECT unhex(value) FROM jsonb_each(?1)) \
             AND t.status = 'done' AND t.completed_at >= ?2 \
             UNION ALL SELECT s.customer_id, t.lease_expires_at, 1 FROM tasks t JOIN cases s ON s.id = t.case_id \
             WHERE s.customer_id IN (SELECT unhex(value) FROM jsonb_each(?1)) \
             AND t.status = 'claimed' AND t.lease_expires_at >= ?3) c"
        }
    };
    let params = vec![bulk::id_param(backend, customers.iter().map(|c| c.as_uuid()))?, since.into(), now.into()];
    let rows: Vec<(uuid::Uuid, DateTime<Utc>, u8)> =
        bulk::query_json(conn, TABLE, "calls_of_customers", sql, params).await?;
    for (customer, at, live) in rows {
        let customer = CustomerId::from_uuid(customer);
        if live == 1 {
            calls.on_a_call.insert(customer);
        } else {
            calls.made.entry(customer).or_default().push(at);
        }
    }
    Ok(calls)
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
    let held_by = live_holds(conn, now, None, "queue_health").await?;
    Ok(QueueHealth { due, later, overdue, held_by })
}

/// How many tasks each agent (of `agents`, or all) holds on a live lease at `now`, by agent.
async fn live_holds<C: ConnectionTrait>(
    conn: &C,
    now: DateTime<Utc>,
    agents: Option<&[UserId]>,
    operation: &'static str,
) -> Result<Vec<(UserId, i64)>, StoreError> {
    let mut held = task::Entity::find()
        .select_only()
        .column(task::Column::ClaimedBy)
        .column_as(task::Column::Id.count(), "held")
        .filter(super::in_work_with_status(TaskStatus::Claimed))
        .filter(task::Column::LeaseExpiresAt.gte(now));
    if let Some(agents) = agents {
        held = held.filter(task::Column::ClaimedBy.is_in(agents.iter().map(|a| a.as_uuid())));
    }
    let held: Vec<(Option<uuid::Uuid>, i64)> = held
        .group_by(task::Column::ClaimedBy)
        .order_by_asc(task::Column::ClaimedBy)
        .into_tuple()
        .all(conn)
        .await
        .during(TABLE, operation)?;
    Ok(held.into_iter().filter_map(|(user, n)| Some((UserId::from_uuid(user?), n))).collect())
}

/// How many tasks each of `agents` holds on a live lease at `now` (an agent holding none is
/// absent). Count after [`crate::users::lock_users`] has locked them, in the transaction that
/// gives them tasks: a concurrent claim for one of them then waits for this one's takes.
pub async fn held_counts<C: ConnectionTrait>(
    conn: &C,
    agents: &[UserId],
    now: DateTime<Utc>,
) -> Result<HashMap<UserId, usize>, StoreError> {
    if agents.is_empty() {
        return Ok(HashMap::new());
    }
    let held = live_holds(conn, now, Some(agents), "held_counts").await?;
    Ok(held.into_iter().map(|(agent, n)| (agent, n.max(0) as usize)).collect())
}

/// Tasks given to agents, one row each: which task, to whom, when, and until when.
const TAKES: Table = Table {
    name: "takes",
    columns: &[
        ("id", Kind::Uuid, false),
        ("agent", Kind::Uuid, false),
        ("at", Kind::Time, false),
        ("lease_until", Kind::Time, false),
    ],
    on_conflict: OnConflict::Fail,
};

/// A task to give to an agent.
#[derive(Debug, Clone, Copy)]
pub struct Take {
    pub task: TaskId,
    pub agent: UserId,
    pub at: DateTime<Utc>,
    pub lease_until: DateTime<Utc>,
}

/// Gives each task to its agent if it is still free (open, or its lease ran out), and records
/// the audit entry of each task taken (`audits`, by subject), in one statement on PostgreSQL;
/// the tasks as taken (each `customer_id` the one it was made for), in no order.
pub async fn take_tasks<C: ConnectionTrait>(
    conn: &C,
    takes: &[Take],
    audits: &[AuditEntry],
) -> Result<Vec<Task>, StoreError> {
    let rows = takes.iter().map(|t| {
        vec![
            Cell::Uuid(t.task.as_uuid()),
            Cell::Uuid(t.agent.as_uuid()),
            Cell::Time(Some(t.at)),
            Cell::Time(Some(t.lease_until)),
        ]
    });
    let sql = "UPDATE tasks SET status = 'claimed', claimed_by = v.agent, lease_expires_at = v.lease_until, \
               updated_at = v.at FROM {rows} WHERE tasks.id = v.id \
               AND (tasks.status = 'open' OR (tasks.status = 'claimed' AND tasks.lease_expires_at < v.at))";
    let taken = update_from(conn, &TAKES, rows.collect(), (sql, ""), audits, "take_tasks").await?;
    taken.iter().map(|row| task_of(row, "take_tasks")).collect()
}

/// Calls finished, one row each: which task, by whom, how it went (JSON), and when.
const FINISHED: Table = Table {
    name: "finished",
    columns: &[
        ("id", Kind::Uuid, false),
        ("agent", Kind::Uuid, false),
        ("outcome", Kind::Text, false),
        ("at", Kind::Time, false),
    ],
    on_conflict: OnConflict::Fail,
};

/// A task as a completion left it, and its case as it stands (a merge may have moved the case to
/// another customer, or someone closed it meanwhile).
#[derive(Debug, Clone, PartialEq)]
pub struct CompletedTask {
    pub task: Task,
    pub case_customer_id: CustomerId,
    pub case_status: CaseStatus,
}

/// Marks each task done with its outcome if its agent holds it (claimed by them, whatever the
/// lease says), and records the audit entry of each task completed (`audits`, by subject); the
/// tasks as completed (each `customer_id` the one it was made for) with their cases as they
/// stand, in no order. A task not held by its agent is left as it is, and not returned. One
/// statement on PostgreSQL, outside any transaction; on SQLite one write transaction.
pub async fn complete_held_tasks(
    store: &Store,
    finished: &[(TaskId, UserId, &TaskOutcome, DateTime<Utc>)],
    audits: &[AuditEntry],
) -> Result<Vec<CompletedTask>, StoreError> {
    const OPERATION: &str = "complete_held_tasks";
    if finished.is_empty() {
        return Ok(Vec::new());
    }
    let outcomes: Vec<String> = finished
        .iter()
        .map(|(_, _, outcome, _)| serde_json::to_string(outcome).map_err(StoreError::Encode))
        .collect::<Result<_, _>>()?;
    let rows = finished.iter().zip(&outcomes).map(|((task, agent, _, at), outcome)| {
        vec![Cell::Uuid(task.as_uuid()), Cell::Uuid(agent.as_uuid()), Cell::Text(Some(outcome)), Cell::Time(Some(*at))]
    });
    let sql = "UPDATE tasks SET status = 'done', outcome = v.outcome, completed_at = v.at, updated_at = v.at, \
               claimed_by = NULL, lease_expires_at = NULL FROM {rows} \
               WHERE tasks.id = v.id AND tasks.status = 'claimed' AND tasks.claimed_by = v.agent";
    let case = ", (SELECT customer_id FROM cases WHERE cases.id = tasks.case_id) AS case_customer_id, \
                (SELECT status FROM cases WHERE cases.id = tasks.case_id) AS case_status";
    let rows = rows.collect();
    let done = if store.connection().get_database_backend() == DbBackend::Postgres {
        update_from(store.connection(), &FINISHED, rows, (sql, case), audits, OPERATION).await?
    } else {
        let tx = store.begin_write().await?;
        let done = update_from(&tx, &FINISHED, rows, (sql, case), audits, OPERATION).await?;
        crate::commit(tx).await?;
        done
    };
    done.iter()
        .map(|row| {
            let task = task_of(row, OPERATION)?;
            let customer: uuid::Uuid = row.try_get("", "case_customer_id").during(TABLE, OPERATION)?;
            let status: String = row.try_get("", "case_status").during(TABLE, OPERATION)?;
            Ok(CompletedTask {
                case_customer_id: CustomerId::from_uuid(customer),
                case_status: word("cases", task.case_id.as_uuid(), &status)?,
                task,
            })
        })
        .collect()
}

/// Runs `sql`, an `UPDATE tasks … FROM {rows}` over `rows` as the source `v`, and returns the
/// rows it updated: every column of `tasks`, then the `returning` expressions (`, …`). Each of
/// `audits` whose subject is a task it updated is appended to the audit log with it: on
/// PostgreSQL in the same statement (one statement is atomic without a transaction), on SQLite,
/// whose `WITH` takes no `UPDATE`, by a second one (call it in a transaction).
async fn update_from<C: ConnectionTrait>(
    conn: &C,
    source: &Table,
    rows: Vec<Vec<Cell<'_>>>,
    (sql, returning): (&str, &str),
    audits: &[AuditEntry],
    operation: &'static str,
) -> Result<Vec<QueryResult>, StoreError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let backend = conn.get_database_backend();
    let (rows, mut params) = source.rows_as(backend, "v", 1, &rows)?;
    let mut sql = sql.replace("{rows}", &rows);
    if backend != DbBackend::Postgres {
        // SQLite's RETURNING takes no `table.*`.
        let updated = conn
            .query_all_raw(Statement::from_sql_and_values(backend, format!("{sql} RETURNING *{returning}"), params))
            .await
            .during(TABLE, operation)?;
        let ids = updated
            .iter()
            .map(|row| row.try_get::<uuid::Uuid>("", "id"))
            .collect::<Result<HashSet<_>, _>>()
            .during(TABLE, operation)?;
        let audited: Vec<AuditEntry> =
            audits.iter().filter(|a| a.subject_id.is_some_and(|id| ids.contains(&id))).cloned().collect();
        audit::record_audits(conn, &audited).await?;
        return Ok(updated);
    }
    // The planner guesses a hundred rows for an UNNEST and would rather scan the whole table
    // than look up a few ids; the ids themselves (the source's first array) keep it on the
    // primary key. `tasks.*`: a bare `*` would add the source's columns.
    debug_assert_eq!(source.columns[0].0, "id");
    sql.push_str(" AND tasks.id = ANY($1::uuid[]) RETURNING tasks.*");
    sql.push_str(returning);
    if !audits.is_empty() {
        let details = audit::details_of(audits);
        let cells: Vec<_> = audit::audit_cells(audits, &details).collect();
        let (audited, audit_params) = AUDIT_EVENTS.rows_as(backend, "a", params.len() + 1, &cells)?;
        params.extend(audit_params);
        sql = format!(
            "WITH changed AS ({sql}), audited AS ({} SELECT a.* FROM {audited} \
             WHERE a.subject_id IN (SELECT id FROM changed)) SELECT * FROM changed",
            AUDIT_EVENTS.insert_into()
        );
    }
    conn.query_all_raw(Statement::from_sql_and_values(backend, sql, params)).await.during(TABLE, operation)
}

/// A row of `tasks` as a task.
fn task_of(row: &QueryResult, operation: &'static str) -> Result<Task, StoreError> {
    task::Model::from_query_result(row, "").during(TABLE, operation)?.try_into()
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
    not_before: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let released = update_held(conn, id, agent, "release_task", |held| {
        let open = back_in_queue(held, now);
        match not_before {
            Some(at) => open.col_expr(task::Column::NotBefore, Expr::value(at)),
            None => open,
        }
    })
    .await?;
    Ok(released.is_some())
}

/// A held task open again, nobody's.
fn back_in_queue(update: TaskUpdate, now: DateTime<Utc>) -> TaskUpdate {
    update
        .col_expr(task::Column::Status, Expr::value(TaskStatus::Open.as_str()))
        .col_expr(task::Column::ClaimedBy, Expr::value(Option::<uuid::Uuid>::None))
        .col_expr(task::Column::LeaseExpiresAt, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(task::Column::UpdatedAt, Expr::value(now))
}

/// Puts every task `agent` holds back in the queue (their account was deactivated mid-call);
/// the tasks as released.
pub async fn release_tasks_held_by<C: ConnectionTrait>(
    conn: &C,
    agent: UserId,
    now: DateTime<Utc>,
) -> Result<Vec<Task>, StoreError> {
    let released = back_in_queue(task::Entity::update_many(), now)
        .filter(task::Column::Status.eq(TaskStatus::Claimed.as_str()))
        .filter(task::Column::ClaimedBy.eq(agent.as_uuid()))
        .exec_with_returning(conn)
        .await
        .during(TABLE, "release_tasks_held_by")?;
    released.into_iter().map(Task::try_from).collect()
}

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
