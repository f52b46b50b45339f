//! Claims, leases and outcomes.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use mend_cases::Intake;
use mend_core::{ContactResult, Customer, LinkedIdentity, Money, Role, Task, TaskId, TaskOutcome, UserId};
use mend_scheduler::SchedulerSettings;
use mend_store::rounds::Line;
use mend_store::tasks::{self, CompletedTask};
use mend_store::{AuditEntry, Store, audit};
use serde::{Deserialize, Serialize};

use crate::DeskError;
use crate::claims::ClaimRounds;
use crate::completions::{CompletionRounds, Finished};
use crate::typed::{LONG_TEXT, SHORT_TEXT, check_typed};

/// The furthest a released call may be put off: later than a week is a new call, not a delay.
pub const MAX_CALL_AFTER_MINUTES: i64 = 7 * 24 * 60;

/// `[desk]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct DeskSettings {
    /// How long a claim holds a task without a heartbeat.
    pub lease_seconds: i64,
    /// The largest offer a supervisor may approve; above it, an administrator decides.
    pub supervisor_limit_fen: Money,
    /// Tasks one agent may hold at once: a claim beyond them is refused until one is done or
    /// given back, so that nobody sits on calls others could make.
    pub max_held_tasks: usize,
}

impl Default for DeskSettings {
    fn default() -> Self {
        Self { lease_seconds: 900, supervisor_limit_fen: Money::from_fen(50_000), max_held_tasks: 3 }
    }
}

pub struct Desk {
    pub(crate) store: Store,
    pub(crate) intake: Arc<Intake>,
    /// The scheduler's policies: contact hours, compensation limits, the team and its budget.
    pub(crate) policy: SchedulerSettings,
    lease: Duration,
    pub(crate) supervisor_limit: Money,
    claims: Line<ClaimRounds>,
    completions: Line<CompletionRounds>,
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
    /// The agent holds `held` tasks already, the most one may (`desk.max_held_tasks`).
    HoldingTheMost {
        held: usize,
    },
}

impl Claim {
    /// How `/metrics` names each kind of answer.
    pub const ANSWERS: [&'static str; 3] = ["task", "nothing_callable", "holding_the_most"];

    /// This answer as `/metrics` names it.
    pub fn answer(&self) -> &'static str {
        match self {
            Claim::Task(_) => Self::ANSWERS[0],
            Claim::NothingCallable { .. } => Self::ANSWERS[1],
            Claim::HoldingTheMost { .. } => Self::ANSWERS[2],
        }
    }
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

impl Desk {
    pub fn new(store: Store, intake: Arc<Intake>, policy: SchedulerSettings, settings: &DeskSettings) -> Self {
        let lease = Duration::seconds(settings.lease_seconds.max(1));
        Self {
            claims: Line::new(ClaimRounds {
                store: store.clone(),
                contact: policy.contact.clone(),
                lease,
                max_held: settings.max_held_tasks.max(1),
            }),
            completions: Line::new(CompletionRounds { store: store.clone() }),
            store,
            intake,
            policy,
            lease,
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
    /// (contact hours in their zone, holidays, not do-not-disturb, no other call of theirs in
    /// progress), leased until `now` plus the lease. An expired lease counts as free. The task
    /// carries the compensation limit planned with it; an offer is decided on the limit as it
    /// stands then, and the task page shows that one (reading it at every claim halved the
    /// desk's throughput: BENCHMARKS.md).
    pub async fn claim_next_task(&self, agent: &Agent, now: DateTime<Utc>) -> Result<Claim, DeskError> {
        self.claims.ask((agent.clone(), now)).await
    }

    /// Extends the lease of a task `agent` holds; answers until when it now holds.
    pub async fn heartbeat(&self, id: TaskId, agent: &Agent, now: DateTime<Utc>) -> Result<DateTime<Utc>, DeskError> {
        let lease_until = now + self.lease;
        if tasks::extend_lease(self.store.connection(), id, agent.id, now, lease_until).await? {
            return Ok(lease_until);
        }
        Err(self.not_held(id, agent).await)
    }

    /// Gives a task `agent` holds back to the queue, with why.
    pub async fn release(
        &self,
        id: TaskId,
        agent: &Agent,
        reason: &str,
        call_after_minutes: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<(), DeskError> {
        check_typed("reason", reason, SHORT_TEXT)?;
        // "客户要求晚点再打": the next claim must not hand the call straight back.
        let not_before = match call_after_minutes {
            None => None,
            Some(minutes @ 1..=MAX_CALL_AFTER_MINUTES) => Some(now + Duration::minutes(minutes)),
            Some(other) => {
                return Err(DeskError::Invalid(format!(
                    "call_after_minutes is 1 to {MAX_CALL_AFTER_MINUTES} (a week), not {other}"
                )));
            }
        };
        let tx = self.store.begin_write().await?;
        if !tasks::release_task(&tx, id, agent.id, not_before, now).await? {
            mend_store::rollback(tx).await?;
            return Err(self.not_held(id, agent).await);
        }
        let mut released = entry(agent, "task.release", ("task", id.as_uuid()), now, "claimed", "open");
        released.detail["reason"] = mend_core::mask_phones_in(reason).into();
        if let Some(at) = not_before {
            released.detail["not_before"] = at.to_rfc3339().into();
        }
        audit::record_audit(&tx, released).await?;
        mend_store::commit(tx).await?;
        Ok(())
    }

    /// A supervisor gives back to the queue a task `holder` holds (they went home with it, or sit
    /// on a call others could make). Only while `holder` still holds it: a page that showed it
    /// theirs a while ago must not take it from whoever claimed it since.
    pub async fn take_back(
        &self,
        id: TaskId,
        supervisor: &Agent,
        holder: UserId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), DeskError> {
        if !supervisor.role.includes(Role::Supervisor) {
            return Err(DeskError::Forbidden("only a supervisor takes a task back from another agent".into()));
        }
        let tx = self.store.begin_write().await?;
        if !tasks::release_task(&tx, id, holder, None, now).await? {
            mend_store::rollback(tx).await?;
            return Err(match tasks::task_by_id(self.store.connection(), id).await? {
                None => DeskError::NotFound(format!("task {id}")),
                Some(task) => DeskError::NotHolder(format!(
                    "该任务已不在那位坐席手上(现为 {}) (task {id} is {} and no longer held by {holder})",
                    task.status, task.status
                )),
            });
        }
        let names = mend_store::users::names_by_ids(&tx, &[holder]).await?;
        let taken_from = names.get(&holder).map_or_else(|| holder.to_string(), |name| format!("user:{name}"));
        let mut released = entry(supervisor, "task.release", ("task", id.as_uuid()), now, "claimed", "open");
        released.detail["reason"] = mend_core::mask_phones_in(reason).into();
        released.detail["taken_from"] = taken_from.into();
        audit::record_audit(&tx, released).await?;
        mend_store::commit(tx).await?;
        Ok(())
    }

    /// Records how the call went. A customer reached and helped closes the case, and so does
    /// one who refused the call (nobody calls them again about it); a verification or second
    /// repair that finds the problem still there reopens it. The scheduler's jobs take it on
    /// from there (a verification or follow-up call, a repair call after a failed check, retries
    /// of an unreachable customer, a second repair of a formal complaint, a survey). A wrong
    /// number ends the calls: the retry job closes the case with the unreachable notice by email.
    pub async fn complete(
        &self,
        id: TaskId,
        agent: &Agent,
        outcome: &TaskOutcome,
        now: DateTime<Utc>,
    ) -> Result<Task, DeskError> {
        // Whether the problem is solved and how satisfied the customer is now are the customer's
        // words: a call that reached nobody has none, and the dashboard's rates would count them.
        if outcome.outcome != ContactResult::Reached && (outcome.resolved || outcome.satisfaction_after.is_some()) {
            return Err(DeskError::Invalid(format!(
                "未接通的回访不能记录「问题已解决」或满意度,只有接通的客户才能说 \
                 (a call that ended {} records neither resolved nor satisfaction_after: only the customer reached says them)",
                outcome.outcome.as_str()
            )));
        }
        check_typed("root_cause", outcome.root_cause.as_deref().unwrap_or_default(), SHORT_TEXT)?;
        check_typed("suggestion", outcome.suggestion.as_deref().unwrap_or_default(), LONG_TEXT)?;
        let finished = Finished { task: id, agent: agent.clone(), outcome: outcome.clone().masked(), now };
        let Some(CompletedTask { mut task, case_customer_id, case_status }) = self.completions.ask(finished).await?
        else {
            return Err(self.not_held(id, agent).await);
        };
        // The customer the case belongs to now (a merge may have moved it).
        task.customer_id = Some(case_customer_id);
        // A check after a fix (a verification, a second repair) that finds the problem still
        // there: the repair did not hold, and the case is back in work for a repair call.
        if task.kind.checks_a_fix()
            && outcome.outcome == ContactResult::Reached
            && !outcome.resolved
            && case_status == mend_core::CaseStatus::Closed
        {
            let reason = "回访发现问题仍未解决 (the check found the problem still there)";
            match self.intake.reopen_case(&self.store, task.case_id, reason, &agent.actor, now).await {
                Ok(_) | Err(mend_cases::CasesError::Refused(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let closes = match outcome.outcome {
            ContactResult::Reached if outcome.resolved => Some("resolved"),
            ContactResult::Refused => Some("refused"),
            _ => None,
        };
        // A case merged away while the call was in hand: its problem is the case it went into's,
        // and the call answered it there.
        let closing = match case_status {
            mend_core::CaseStatus::Open => Some(task.case_id),
            mend_core::CaseStatus::Merged if closes.is_some() => {
                mend_store::cases::surviving_case(self.store.connection(), task.case_id)
                    .await?
                    .filter(|case| case.status == mend_core::CaseStatus::Open)
                    .map(|case| case.id)
            }
            _ => None,
        };
        if let (Some(reason), Some(case)) = (closes, closing) {
            match self.intake.close_case(&self.store, case, reason, &agent.actor, now).await {
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
            Ok(None) => DeskError::NotFound(format!("task {id}")),
            Ok(Some(task)) if task.claimed_by == Some(agent.id) => {
                DeskError::NotHolder(format!("task {id} is {}", task.status))
            }
            Ok(Some(task)) => DeskError::NotHolder(format!("task {id} is {} and not held by you", task.status)),
            Err(e) => e.into(),
        }
    }
}

pub(crate) fn earliest(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
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
