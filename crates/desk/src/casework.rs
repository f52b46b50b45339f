//! What an agent may do to a case or a customer beside recording a call: close the case and
//! add a customer's new number while they hold its call (a supervisor may do either to any), and
//! mark a customer who asks not to be called again (a supervisor lifts it and sets tiers).

use chrono::{DateTime, Utc};
use mend_cases::{LinkReport, LinkScope};
use mend_core::{Case, CaseId, CustomerId, CustomerKey, Role, Task, TaskStatus};
use mend_store::ConnectionTrait;
use mend_store::customers::{ContactChange, ContactChanged};
use mend_store::tasks::{self, TaskFilter};

use crate::{Agent, Desk, DeskError};

impl Desk {
    /// Changes how `customer` is contacted, audited with `reason`. Any agent who hears a customer
    /// ask not to be called again marks it, and corrects their zone; calling them again, and
    /// tiers (which weigh on priority), are a supervisor's.
    pub async fn change_contact(
        &self,
        agent: &Agent,
        customer: CustomerId,
        change: &ContactChange,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<ContactChanged, DeskError> {
        if !agent.role.includes(Role::Supervisor) && (change.do_not_disturb == Some(false) || change.tier.is_some()) {
            return Err(DeskError::Forbidden(
                "恢复联系、设定客户等级需要主管操作 \
                 (calling a do-not-disturb customer again, and tiers, are a supervisor's to decide)"
                    .into(),
            ));
        }
        if let Some(reason) = reason {
            crate::typed::check_typed("reason", reason, crate::typed::SHORT_TEXT)?;
        }
        mend_store::customers::change_contact(&self.store, customer, change, &agent.actor, reason, now)
            .await?
            .ok_or_else(|| DeskError::NotFound(format!("customer {customer}")))
    }

    /// Closes a repaired case. An agent closes only a case whose call they hold (the call of a
    /// case merged into it counts): a case closed by anyone else would lose its callback
    /// (cancelled with the closing) and its customer would be surveyed about a repair nobody
    /// made.
    pub async fn close_case(
        &self,
        agent: &Agent,
        case: CaseId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Case, DeskError> {
        if !agent.role.includes(Role::Supervisor)
            && !self.holds_a_call_about(self.store.connection(), agent, case, now).await?
        {
            return Err(DeskError::NotHolder(format!(
                "专员只能结自己正在处理的案件,其他案件由主管结案 \
                 (an agent closes only a case whose call they hold; case {case} is not one)"
            )));
        }
        Ok(self.intake.close_case(&self.store, case, reason, &agent.actor, now).await?)
    }

    /// Records that `keys` are one person's. An agent adds keys nobody holds to the customer of a
    /// call they hold (a second number heard on the call); merging customers is a supervisor's.
    pub async fn link_identities(
        &self,
        agent: &Agent,
        keys: &[CustomerKey],
        source: &str,
        now: DateTime<Utc>,
    ) -> Result<LinkReport, DeskError> {
        let scope = match agent.role.includes(Role::Supervisor) {
            true => LinkScope::Any,
            false => {
                let held = self.held_tasks(self.store.connection(), agent, now).await?;
                LinkScope::AddingTo(held.iter().filter_map(|t| t.customer_id).collect())
            }
        };
        Ok(self.intake.link_identities(&self.store, keys, source, &scope, now).await?)
    }

    /// Whether `agent` holds a call about `case`: one of its own, or of a case merged into it
    /// while the call was in hand.
    pub async fn holds_a_call_about<C: ConnectionTrait>(
        &self,
        conn: &C,
        agent: &Agent,
        case: CaseId,
        now: DateTime<Utc>,
    ) -> Result<bool, DeskError> {
        for task in self.held_tasks(conn, agent, now).await? {
            if lives_in(conn, task.case_id, case).await? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The tasks `agent` holds at `now` (leases still running).
    async fn held_tasks<C: ConnectionTrait>(
        &self,
        conn: &C,
        agent: &Agent,
        now: DateTime<Utc>,
    ) -> Result<Vec<Task>, DeskError> {
        let held = TaskFilter {
            claimed_by: Some(agent.id),
            status: Some(TaskStatus::Claimed),
            as_of: Some(now),
            limit: 100,
            ..TaskFilter::default()
        };
        Ok(tasks::list_tasks(conn, &held).await?)
    }
}

/// Whether the problem of case `from` lives in case `case`: it is that case, or was merged into
/// it.
pub(crate) async fn lives_in<C: ConnectionTrait>(conn: &C, from: CaseId, case: CaseId) -> Result<bool, DeskError> {
    if from == case {
        return Ok(true);
    }
    Ok(mend_store::cases::surviving_case(conn, from).await?.is_some_and(|c| c.id == case))
}
