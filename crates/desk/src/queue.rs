//! Claims, leases and outcomes.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use mend_cases::Intake;
use mend_core::{
    ContactResult, Customer, IdentityKind, LinkedIdentity, Money, Role, Task, TaskId, TaskOutcome, UserId,
};
use mend_scheduler::{CallLoad, SchedulerSettings};
use mend_store::tasks::{self, ClaimCandidate};
use mend_store::{AuditEntry, Store, audit, callbacks, customers};
use serde::{Deserialize, Serialize};
use tracing::debug;

use crate::DeskError;

/// `[desk]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct DeskSettings {
    /// How long a claim holds a task without a heartbeat.
    pub lease_seconds: i64,
    /// The largest offer a supervisor may approve; above it, an administrator decides.
    pub supervisor_limit_fen: Money,
}

impl Default for DeskSettings {
    fn default() -> Self {
        Self { lease_seconds: 900, supervisor_limit_fen: Money::from_fen(50_000) }
    }
}

pub struct Desk {
    pub(crate) store: Store,
    intake: Arc<Intake>,
    /// The scheduler's policies: contact hours, compensation limits, the team and its budget.
    pub(crate) policy: SchedulerSettings,
    lease: Duration,
    pub(crate) supervisor_limit: Money,
}

/// Who acts at the desk: the user, their role, and how the audit log names them (`user:wang`).
#[derive(Debug, Clone)]
pub struct Agent {
    pub id: UserId,
    pub role: Role,
    pub actor: String,
}

/// What a claim gives an agent.
#[derive(Debug, Clone)]
pub enum Claim {
    Task(Box<HeldTask>),
    /// Nothing may be called now; `next_at` is when the earliest waiting task may be.
    NothingCallable {
        next_at: Option<DateTime<Utc>>,
    },
}

/// A task as its holder sees it: with the customer to call, numbers in full.
#[derive(Debug, Clone, Serialize)]
pub struct HeldTask {
    #[serde(flatten)]
    pub task: Task,
    pub customer: Customer,
    pub phones: Vec<String>,
    pub identities: Vec<LinkedIdentity>,
}

/// Tasks looked at per round of a claim: the most urgent first, then the next ones when their
/// customers may not be called now.
const CANDIDATES: u64 = 8;

/// Rounds of candidates before a claim answers that nothing is callable.
const ROUNDS: usize = 8;

impl Desk {
    pub fn new(store: Store, intake: Arc<Intake>, policy: SchedulerSettings, settings: &DeskSettings) -> Self {
        Self {
            store,
            intake,
            policy,
            lease: Duration::seconds(settings.lease_seconds.max(1)),
            supervisor_limit: settings.supervisor_limit_fen,
        }
    }

    /// When customers may be called (`[scheduler.contact]`), as the workbench shows it.
    pub fn contact_policy(&self) -> &mend_scheduler::ContactPolicy {
        &self.policy.contact
    }

    /// The largest offer a supervisor may approve; above it, an administrator decides.
    pub fn supervisor_limit(&self) -> Money {
        self.supervisor_limit
    }

    /// How long a task stays overdue before it is escalated (`[scheduler.follow_up]`).
    pub fn sla_grace(&self) -> Duration {
        Duration::minutes(self.policy.follow_up.sla_grace_minutes)
    }

    /// Hands `agent` the most urgent task that is due and whose customer may be called now
    /// (contact hours in their zone, holidays, not do-not-disturb), leased until `now` plus the
    /// lease. An expired lease counts as free.
    pub async fn claim_next_task(&self, agent: &Agent, now: DateTime<Utc>) -> Result<Claim, DeskError> {
        let tx = self.store.begin_write().await?;
        let mut passed: Vec<TaskId> = Vec::new();
        let mut next_at: Option<DateTime<Utc>> = None;
        for _ in 0..ROUNDS {
            let candidates = tasks::claim_candidates(&tx, now, &passed, CANDIDATES).await?;
            let found = candidates.len();
            for candidate in candidates {
                match self.callable_from(&tx, &candidate, now).await? {
                    Some(at) if at <= now => {
                        // One call to a customer at a time: their row lock orders two claims of
                        // their tasks (PostgreSQL), and the second sees the first's claim.
                        customers::lock_customers(&tx, &[candidate.customer_id]).await?;
                        if tasks::customer_on_a_call(&tx, candidate.customer_id, candidate.task_id, now).await? {
                            passed.push(candidate.task_id);
                            continue;
                        }
                        let lease_until = now + self.lease;
                        let taken = tasks::take_task(&tx, candidate.task_id, agent.id, now, lease_until).await?;
                        let Some(mut task) = taken else {
                            passed.push(candidate.task_id);
                            continue;
                        };
                        let claimed =
                            entry(agent, "task.claim", ("task", task.task_id.as_uuid()), now, "open", "claimed");
                        audit::record_audit(&tx, claimed).await?;
                        mend_store::commit(tx).await?;
                        debug!(task_id = %task.task_id, agent = %agent.actor, "task claimed");
                        // The customer the case belongs to now (a merge may have moved it).
                        task.customer_id = Some(candidate.customer_id);
                        return Ok(Claim::Task(Box::new(self.held_task(task).await?)));
                    }
                    later => {
                        next_at = earliest(next_at, later);
                        passed.push(candidate.task_id);
                    }
                }
            }
            if (found as u64) < CANDIDATES {
                break;
            }
        }
        mend_store::rollback(tx).await?;
        let waiting = tasks::next_task_not_before(self.store.connection(), now).await?;
        Ok(Claim::NothingCallable { next_at: earliest(next_at, waiting) })
    }

    /// When the candidate's customer may be called, from `now` on: their contact hours, and the
    /// day's and week's caps counted over the calls made to them this week. `None`: not by
    /// phone at all.
    async fn callable_from(
        &self,
        tx: &mend_store::DatabaseTransaction,
        candidate: &ClaimCandidate,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, DeskError> {
        if candidate.do_not_disturb {
            return Ok(None);
        }
        let mut load = CallLoad::default();
        for call in tasks::calls_made_since(tx, candidate.customer_id, now - Duration::days(7)).await? {
            load.add_call(call, candidate.timezone);
        }
        Ok(self.policy.contact.place(now, candidate.timezone, &load).map(|p| p.at))
    }

    async fn held_task(&self, task: Task) -> Result<HeldTask, DeskError> {
        let conn = self.store.connection();
        let customer_id =
            task.customer_id.ok_or_else(|| DeskError::NotFound(format!("the customer of task {}", task.task_id)))?;
        let ids = [customer_id];
        let (customers, identities) =
            tokio::try_join!(callbacks::customers_by_ids(conn, &ids), customers::identities_of(conn, customer_id))?;
        let customer =
            customers.into_iter().next().ok_or_else(|| DeskError::NotFound(format!("customer {customer_id}")))?;
        let phones =
            identities.iter().filter(|i| i.kind == IdentityKind::Phone.as_str()).map(|i| i.value.clone()).collect();
        Ok(HeldTask { task, customer, phones, identities })
    }

    /// Extends the lease of a task `agent` holds; answers until when it now holds.
    pub async fn heartbeat(&self, id: TaskId, agent: &Agent, now: DateTime<Utc>) -> Result<DateTime<Utc>, DeskError> {
        let lease_until = now + self.lease;
        if tasks::extend_lease(self.store.connection(), id, agent.id, now, lease_until).await? {
            return Ok(lease_until);
        }
        Err(self.not_held(id, agent).await)
    }

    /// Gives a task back to the queue, with why.
    pub async fn release(&self, id: TaskId, agent: &Agent, reason: &str, now: DateTime<Utc>) -> Result<(), DeskError> {
        let tx = self.store.begin_write().await?;
        if !tasks::release_task(&tx, id, agent.id, now).await? {
            mend_store::rollback(tx).await?;
            return Err(self.not_held(id, agent).await);
        }
        let mut released = entry(agent, "task.release", ("task", id.as_uuid()), now, "claimed", "open");
        released.detail["reason"] = reason.into();
        audit::record_audit(&tx, released).await?;
        mend_store::commit(tx).await?;
        Ok(())
    }

    /// Records how the call went. A customer reached and helped closes the case, and so does
    /// one who refused the call (nobody calls them again about it); the scheduler's jobs take it
    /// on from there (a verification or follow-up call, retries of an unreachable customer, a
    /// second repair of a formal complaint, a survey). A wrong number leaves the case open for
    /// a supervisor to find another way to the customer.
    pub async fn complete(
        &self,
        id: TaskId,
        agent: &Agent,
        outcome: &TaskOutcome,
        now: DateTime<Utc>,
    ) -> Result<Task, DeskError> {
        let tx = self.store.begin_write().await?;
        let Some(mut task) = tasks::complete_held_task(&tx, id, agent.id, outcome, now).await? else {
            mend_store::rollback(tx).await?;
            return Err(self.not_held(id, agent).await);
        };
        let mut completed = entry(agent, "task.complete", ("task", id.as_uuid()), now, "claimed", "done");
        completed.detail["outcome"] = serde_json::to_value(outcome).unwrap_or_default();
        audit::record_audit(&tx, completed).await?;
        let case = mend_store::cases::case_by_id(&tx, task.case_id).await?;
        mend_store::commit(tx).await?;
        // The customer the case belongs to now (a merge may have moved it).
        task.customer_id = case.as_ref().map(|c| c.customer_id).or(task.customer_id);
        let closes = match outcome.outcome {
            ContactResult::Reached if outcome.resolved => Some("resolved"),
            ContactResult::Refused => Some("refused"),
            _ => None,
        };
        if let Some(reason) = closes
            && case.is_some_and(|c| c.status == mend_core::CaseStatus::Open)
        {
            match self.intake.close_case(&self.store, task.case_id, reason, &agent.actor, now).await {
                // Closed (or merged) by someone else meanwhile: the call is recorded all the same.
                Ok(_) | Err(mend_cases::CasesError::Refused(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(task)
    }

    /// Why `agent` cannot act on task `id`: it does not exist, or it is not theirs (any more).
    async fn not_held(&self, id: TaskId, agent: &Agent) -> DeskError {
        match tasks::task_by_id(self.store.connection(), id).await {
            Ok(None) => DeskError::NotFound(id.to_string()),
            Ok(Some(task)) if task.claimed_by == Some(agent.id) => {
                DeskError::NotHolder(format!("task {id} is {}", task.status))
            }
            Ok(Some(task)) => DeskError::NotHolder(format!("task {id} is {} and not held by you", task.status)),
            Err(e) => e.into(),
        }
    }
}

fn earliest(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

pub(crate) fn entry(
    agent: &Agent,
    action: &str,
    subject: (&str, uuid::Uuid),
    at: DateTime<Utc>,
    before: &str,
    after: &str,
) -> AuditEntry {
    AuditEntry {
        at,
        actor: agent.actor.clone(),
        action: action.to_owned(),
        subject_kind: subject.0.into(),
        subject_id: Some(subject.1),
        detail: serde_json::json!({"status": {"before": before, "after": after}}),
    }
}
