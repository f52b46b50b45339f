//! The `escalations` table: tasks that breached their SLA, escalated once each.

use chrono::{DateTime, Utc};
use mend_core::{CaseId, TaskId};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;

use crate::StoreError;
use crate::entities::{escalation, task};
use crate::error::During;
use mend_core::Task;

const TABLE: &str = "escalations";

/// Records an SLA escalation and raises the task's priority; false when it was escalated already.
pub async fn escalate_task<C: ConnectionTrait>(
    conn: &C,
    task: &Task,
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
    })
    .exec(conn)
    .await
    .during(TABLE, "escalate_task")?;
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
        .await
        .during(TABLE, "open_escalations")?;
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
