//! The queue and the month as a supervisor watches them: what can be called, what is late and in
//! whose hands, what waits for a decision, and what the team may still spend.

use chrono::{DateTime, Utc};
use mend_core::{CompensationStatus, Money, UserId};
use mend_scheduler::BudgetStanding;
use serde::Serialize;

use crate::{Desk, DeskError};

/// `GET /api/v1/reports/queue` and the supervisor page's counts, at one moment.
#[derive(Debug, Clone, Serialize)]
pub struct QueueReport {
    pub at: DateTime<Utc>,
    /// Free tasks whose earliest moment has come (a lease that ran out frees its task); a claim
    /// may still pass one over for its customer's contact hours or the day's call cap.
    pub due: i64,
    /// Free tasks whose earliest moment is still to come (a verification in two days).
    pub later: i64,
    /// Tasks still to be worked more than `sla_grace_minutes` past their due time.
    pub overdue: i64,
    pub sla_grace_minutes: i64,
    /// Who holds calls on a live lease, and how many.
    pub held_by: Vec<HeldBy>,
    /// Offers waiting for a supervisor or an administrator.
    pub pending_compensations: u64,
    /// Escalations nobody acknowledged whose call is still to be made.
    pub open_escalations: u64,
    pub budget: BudgetReport,
}

#[derive(Debug, Clone, Serialize)]
pub struct HeldBy {
    pub user_id: UserId,
    pub name: String,
    pub tasks: i64,
}

/// The team's month: its budget, what approvals took, and what is left.
#[derive(Debug, Clone, Serialize)]
pub struct BudgetReport {
    #[serde(flatten)]
    pub standing: BudgetStanding,
    #[serde(rename = "left_fen")]
    pub left: Money,
}

impl Desk {
    pub async fn queue_report(&self, now: DateTime<Utc>) -> Result<QueueReport, DeskError> {
        let conn = self.store.connection();
        let queue = mend_store::tasks::queue_health(conn, now, now - self.sla_grace()).await?;
        let holders: Vec<UserId> = queue.held_by.iter().map(|(agent, _)| *agent).collect();
        let names = mend_store::users::names_by_ids(conn, &holders).await?;
        let held_by = queue
            .held_by
            .into_iter()
            .map(|(user_id, tasks)| HeldBy {
                user_id,
                name: names.get(&user_id).cloned().unwrap_or_else(|| user_id.to_string()),
                tasks,
            })
            .collect();
        let standing = self.budget_standing(now).await?;
        Ok(QueueReport {
            at: now,
            due: queue.due,
            later: queue.later,
            overdue: queue.overdue,
            sla_grace_minutes: self.sla_grace().num_minutes(),
            held_by,
            pending_compensations: mend_store::compensations::count_compensations(conn, CompensationStatus::Pending)
                .await?,
            open_escalations: mend_store::escalations::count_open_escalations(conn).await?,
            budget: BudgetReport { left: standing.left(), standing },
        })
    }
}
