use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::text_enum::text_enum;
use crate::{CaseId, CustomerId, Money, Satisfaction, TaskId, Temperament, UserId};

text_enum! {
    /// Why a call is made.
    pub enum TaskKind ("task kind") {
        /// The first call on a case.
        Callback = "callback",
        /// Checking that a fix held.
        Verification = "verification",
        /// Another try at a customer who could not be reached.
        Retry = "retry",
        /// A second repair of a closed case that was a formal complaint.
        SecondRepair = "second_repair",
    }
}

text_enum! {
    pub enum TaskStatus ("task status") {
        Open = "open",
        Claimed = "claimed",
        Done = "done",
        Cancelled = "cancelled",
    }
}

impl TaskKind {
    /// The calls after a fix ([`Self::checks_a_fix`]).
    pub const CHECKS: [TaskKind; 2] = [TaskKind::Verification, TaskKind::SecondRepair];

    /// A call after a fix, about a closed case: whether the repair held (a verification, a
    /// second repair). A customer who says it did not is called again about the case.
    pub fn checks_a_fix(self) -> bool {
        Self::CHECKS.contains(&self)
    }
}

impl TaskStatus {
    /// Still to be worked: a case has at most one such task.
    pub const IN_WORK: [TaskStatus; 2] = [TaskStatus::Open, TaskStatus::Claimed];
}

text_enum! {
    /// How a call went.
    pub enum ContactResult ("call outcome") {
        Reached = "reached",
        Unreachable = "unreachable",
        WrongNumber = "wrong_number",
        Refused = "refused",
    }
}

/// What an agent recorded when completing a task (`POST /api/v1/tasks/{id}/complete`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskOutcome {
    pub outcome: ContactResult,
    #[serde(default)]
    pub resolved: bool,
    #[serde(default)]
    pub satisfaction_after: Option<Satisfaction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_cause: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<String>,
    /// Asked for a verification call at the default delay.
    #[serde(default)]
    pub verify: bool,
    #[serde(default)]
    pub follow_up_hours: Option<i64>,
}

/// A callback task: who to call about which case, when, how, and within what compensation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Task {
    pub task_id: TaskId,
    pub case_id: CaseId,
    /// The case's customer now: a merge of customers moves their cases, and the tasks with
    /// them. (The task row keeps the customer it was made for.)
    pub customer_id: Option<CustomerId>,
    pub kind: TaskKind,
    pub status: TaskStatus,
    pub due_at: DateTime<Utc>,
    pub not_before: Option<DateTime<Utc>>,
    pub priority: i32,
    pub priority_reasons: crate::PriorityReasons,
    #[serde(rename = "compensation_limit_fen")]
    pub compensation_limit: Money,
    pub limit_explanation: String,
    pub script: String,
    pub attempt: i32,
    pub category: String,
    pub temperament: Temperament,
    pub temperament_reason: crate::TemperamentReason,
    pub follows_task_id: Option<TaskId>,
    pub outcome: Option<TaskOutcome>,
    /// The agent holding the task, and until when (a lease that runs out puts it back).
    pub claimed_by: Option<UserId>,
    pub lease_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub escalated_at: Option<DateTime<Utc>>,
}

impl Task {
    /// The agent holding the task at `now`: its claimer while the lease runs (a lease that ran
    /// out until `now` is still held at `now`, as the queue counts it).
    pub fn holder_at(&self, now: DateTime<Utc>) -> Option<UserId> {
        let live = self.status == TaskStatus::Claimed && self.lease_expires_at.is_some_and(|until| until >= now);
        self.claimed_by.filter(|_| live)
    }

    /// The task as it stands at `now`: a claim whose lease ran out is open again (the next
    /// agent to ask may get it), with nobody holding it.
    pub fn as_at(mut self, now: DateTime<Utc>) -> Self {
        if self.status == TaskStatus::Claimed && self.holder_at(now).is_none() {
            self.status = TaskStatus::Open;
            self.claimed_by = None;
            self.lease_expires_at = None;
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_and_unknown_ones_are_named() {
        for kind in TaskKind::ALL {
            assert_eq!(kind.as_str().parse::<TaskKind>().unwrap(), *kind);
        }
        let err = "paused".parse::<TaskStatus>().unwrap_err().to_string();
        assert_eq!(err, "unknown task status `paused` (expected one of: open, claimed, done, cancelled)");
    }

    #[test]
    fn an_outcome_reads_what_the_desk_posts() {
        let posted = r#"{"outcome":"reached","resolved":true,"satisfaction_after":4,"root_cause":"光猫故障","follow_up_hours":48}"#;
        let outcome: TaskOutcome = serde_json::from_str(posted).unwrap();
        assert_eq!(outcome.outcome, ContactResult::Reached);
        assert_eq!(outcome.satisfaction_after.map(Satisfaction::get), Some(4));
        assert!(serde_json::from_str::<TaskOutcome>(r#"{"outcome":"maybe"}"#).is_err());
        assert!(serde_json::from_str::<TaskOutcome>(r#"{"outcome":"reached","satisfaction_after":9}"#).is_err());
    }
}
