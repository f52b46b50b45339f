//! The calls a customer's contact preferences reach: those do-not-disturb cancels, those a
//! change of tier or zone weighs again, and the checks after a fix made again once the customer
//! may be called.

use chrono::{DateTime, Utc};
use mend_core::{CustomerId, PriorityReasons, Task, TaskId, TaskStatus};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

use super::{TABLE, in_work, task_records};
use crate::StoreError;
use crate::entities::task;
use crate::error::During;
use crate::records::json_text;

/// A call the queue would hand out at `now`: nobody has taken it, or its agent let the lease run
/// out.
fn waiting_at(now: DateTime<Utc>) -> Condition {
    Condition::any().add(task::Column::Status.eq(TaskStatus::Open.as_str())).add(
        Condition::all()
            .add(task::Column::Status.eq(TaskStatus::Claimed.as_str()))
            .add(task::Column::LeaseExpiresAt.lt(now)),
    )
}

/// The ids of the cases these customers own now, as a subquery (a task keeps the customer it was
/// made for; a merge of customers moves only their cases).
fn cases_of(customers: &[CustomerId]) -> sea_orm::sea_query::SelectStatement {
    use crate::entities::case;
    sea_orm::sea_query::Query::select()
        .column(case::Column::Id)
        .from(case::Entity)
        .and_where(case::Column::CustomerId.is_in(customers.iter().map(|c| c.as_uuid())))
        .to_owned()
}

/// The calls waiting at `now` ([`waiting_at`]) about any case these customers own now.
pub async fn waiting_tasks_of_customers<C: ConnectionTrait>(
    conn: &C,
    customers: &[CustomerId],
    now: DateTime<Utc>,
) -> Result<Vec<Task>, StoreError> {
    if customers.is_empty() {
        return Ok(Vec::new());
    }
    let query = task::Entity::find()
        .filter(in_work())
        .filter(waiting_at(now))
        .filter(task::Column::CaseId.in_subquery(cases_of(customers)))
        .order_by_asc(task::Column::Id);
    task_records(conn, query).await
}

/// A call weighed again: its new priority, when it may be made and is due, and the reasons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reweighed {
    pub task: TaskId,
    pub priority: i32,
    pub priority_reasons: PriorityReasons,
    pub due_at: DateTime<Utc>,
    pub not_before: DateTime<Utc>,
    /// When it was escalated, as read: a call escalated since is left as the escalation raised
    /// it.
    pub escalated_at: Option<DateTime<Utc>>,
}

/// Writes calls weighed again, of those still waiting at `now`; how many changed.
pub async fn reweigh_tasks<C: ConnectionTrait>(
    conn: &C,
    reweighed: &[Reweighed],
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let mut changed = 0;
    for call in reweighed {
        let as_read = match call.escalated_at {
            Some(at) => task::Column::EscalatedAt.eq(at),
            None => task::Column::EscalatedAt.is_null(),
        };
        let done = task::Entity::update_many()
            .col_expr(task::Column::Priority, Expr::value(call.priority))
            .col_expr(task::Column::PriorityReasons, Expr::value(json_text(&call.priority_reasons)))
            .col_expr(task::Column::DueAt, Expr::value(call.due_at))
            .col_expr(task::Column::NotBefore, Expr::value(call.not_before))
            .col_expr(task::Column::UpdatedAt, Expr::value(now))
            .filter(task::Column::Id.eq(call.task.as_uuid()))
            .filter(waiting_at(now))
            .filter(as_read)
            .exec(conn)
            .await
            .during(TABLE, "reweigh_tasks")?;
        changed += done.rows_affected;
    }
    Ok(changed)
}

/// Cancels the calls nobody has taken about any case of `customer`, who asked not to be called,
/// and those an agent let lapse (the queue would never hand them out again); a call an agent
/// holds stays theirs to record. The tasks cancelled.
pub async fn cancel_open_tasks_of_customer<C: ConnectionTrait>(
    conn: &C,
    customer: CustomerId,
    now: DateTime<Utc>,
) -> Result<Vec<Task>, StoreError> {
    let cancelled = task::Entity::update_many()
        .col_expr(task::Column::Status, Expr::value(TaskStatus::Cancelled.as_str()))
        .col_expr(task::Column::UpdatedAt, Expr::value(now))
        .col_expr(task::Column::LeaseExpiresAt, Expr::value(Option::<DateTime<Utc>>::None))
        .filter(waiting_at(now))
        .filter(task::Column::CaseId.in_subquery(cases_of(&[customer])))
        .exec_with_returning(conn)
        .await
        .during(TABLE, "cancel_open_tasks_of_customer")?;
    cancelled.into_iter().map(Task::try_from).collect()
}

/// A check after a fix (a verification, a second repair) cancelled as the last call of its
/// case, as a condition on the task row aliased `task`: only do-not-disturb cancels a check of a
/// case that stays closed, so it stands for a check the customer's request held back.
pub(crate) fn cancelled_last_check(task: &str) -> String {
    format!(
        "({task}.status = 'cancelled' AND {task}.kind IN ('verification', 'second_repair') \
         AND NOT EXISTS (SELECT 1 FROM tasks later WHERE later.case_id = {task}.case_id AND later.id > {task}.id))"
    )
}

/// The checks do-not-disturb cancelled ([`cancelled_last_check`]) on these customers' closed
/// cases, since called again: a check made again is the case's last call, so each is found once.
pub async fn checks_cancelled_until_calls_resumed<C: ConnectionTrait>(
    conn: &C,
    customers: &[CustomerId],
) -> Result<Vec<Task>, StoreError> {
    if customers.is_empty() {
        return Ok(Vec::new());
    }
    // Ids are UUID v7, so a later call of the case has a greater one. A check cancelled after
    // the customer was last allowed calls waits for the next time they are.
    let condition = format!(
        "{} AND EXISTS (SELECT 1 FROM cases k WHERE k.id = tasks.case_id AND k.status = 'closed' \
         AND k.calls_resumed_at >= tasks.updated_at)",
        cancelled_last_check("tasks")
    );
    let query = task::Entity::find()
        .filter(task::Column::CaseId.in_subquery(cases_of(customers)))
        .filter(Expr::cust(condition))
        .order_by_asc(task::Column::Id);
    task_records(conn, query).await
}
