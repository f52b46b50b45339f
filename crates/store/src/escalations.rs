//! The `escalations` table: tasks that breached their SLA, escalated once each.

use chrono::{DateTime, Utc};
use mend_core::{CaseId, EscalationId, TaskId, TaskStatus, UserId};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::Serialize;

use crate::StoreError;
use crate::entities::{escalation, task};
use crate::error::During;
use mend_core::{SlaEscalation, Task};

const TABLE: &str = "escalations";

/// Records an SLA escalation and raises the task's priority; false when it was escalated already.
pub async fn escalate_task<C: ConnectionTrait>(
    conn: &C,
    task: &Task,
    priority_after: i32,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    // The points the escalation adds are said beside the score the plan gave, so a priority
    // above its score explains itself.
    let mut reasons = task.priority_reasons.clone();
    reasons.sla_escalation = Some(SlaEscalation { at: now, points: priority_after.saturating_sub(task.priority) });
    let raised = task::Entity::update_many()
        .col_expr(task::Column::Priority, Expr::value(priority_after))
        .col_expr(task::Column::PriorityReasons, Expr::value(crate::records::json_text(&reasons)))
        .col_expr(task::Column::EscalatedAt, Expr::value(now))
        .col_expr(task::Column::UpdatedAt, Expr::value(now))
        .filter(task::Column::Id.eq(task.task_id.as_uuid()))
        .filter(task::Column::EscalatedAt.is_null())
        .exec(conn)
        .await
        .during(TABLE, "escalate_task")?;
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
        acknowledged_by: Set(None),
    })
    .exec(conn)
    .await
    .during(TABLE, "escalate_task")?;
    Ok(true)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EscalationRecord {
    pub escalation_id: EscalationId,
    pub task_id: TaskId,
    pub case_id: CaseId,
    pub due_at: DateTime<Utc>,
    pub escalated_at: DateTime<Utc>,
    pub overdue_minutes: i32,
    pub priority_before: i32,
    pub priority_after: i32,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<UserId>,
}

impl From<escalation::Model> for EscalationRecord {
    fn from(m: escalation::Model) -> Self {
        EscalationRecord {
            escalation_id: EscalationId::from_uuid(m.id),
            task_id: TaskId::from_uuid(m.task_id),
            case_id: CaseId::from_uuid(m.case_id),
            due_at: m.due_at,
            escalated_at: m.escalated_at,
            overdue_minutes: m.overdue_minutes,
            priority_before: m.priority_before,
            priority_after: m.priority_after,
            acknowledged_at: m.acknowledged_at,
            acknowledged_by: m.acknowledged_by.map(UserId::from_uuid),
        }
    }
}

/// The escalations a supervisor still has to see to: nobody acknowledged them and their call is
/// still to be made (once it is made, the breach is history for the day's report, not a to-do).
fn waiting_for_a_supervisor() -> Condition {
    Condition::all().add(escalation::Column::AcknowledgedAt.is_null()).add(
        escalation::Column::TaskId.in_subquery(
            sea_orm::sea_query::Query::select()
                .column(task::Column::Id)
                .from(task::Entity)
                .and_where(task::Column::Status.is_in(TaskStatus::IN_WORK.map(|s| s.as_str())))
                .to_owned(),
        ),
    )
}

/// Escalations waiting for a supervisor, the longest overdue first, at most `limit`.
pub async fn open_escalations<C: ConnectionTrait>(conn: &C, limit: u64) -> Result<Vec<EscalationRecord>, StoreError> {
    let rows = escalation::Entity::find()
        .filter(waiting_for_a_supervisor())
        .order_by_asc(escalation::Column::DueAt)
        .order_by_asc(escalation::Column::Id)
        .limit(limit)
        .all(conn)
        .await
        .during(TABLE, "open_escalations")?;
    Ok(rows.into_iter().map(EscalationRecord::from).collect())
}

/// How many escalations wait for a supervisor.
pub async fn count_open_escalations<C: ConnectionTrait>(conn: &C) -> Result<u64, StoreError> {
    escalation::Entity::find()
        .filter(waiting_for_a_supervisor())
        .count(conn)
        .await
        .during(TABLE, "count_open_escalations")
}

pub async fn escalation_by_id<C: ConnectionTrait>(
    conn: &C,
    id: EscalationId,
) -> Result<Option<EscalationRecord>, StoreError> {
    let row = escalation::Entity::find_by_id(id.as_uuid()).one(conn).await.during(TABLE, "escalation_by_id")?;
    Ok(row.map(EscalationRecord::from))
}

/// Marks an escalation seen by `by`; false when it is not waiting for a supervisor (someone
/// acknowledged it first, or its call was made).
pub async fn acknowledge_escalation<C: ConnectionTrait>(
    conn: &C,
    id: EscalationId,
    by: UserId,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let updated = escalation::Entity::update_many()
        .col_expr(escalation::Column::AcknowledgedAt, Expr::value(now))
        .col_expr(escalation::Column::AcknowledgedBy, Expr::value(by.as_uuid()))
        .filter(escalation::Column::Id.eq(id.as_uuid()))
        .filter(waiting_for_a_supervisor())
        .exec(conn)
        .await
        .during(TABLE, "acknowledge_escalation")?;
    Ok(updated.rows_affected == 1)
}
