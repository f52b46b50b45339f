//! Compensation offered on a call: approved at once within the limit the agent sees, else
//! decided by a supervisor (or, above the supervisor's own limit, an administrator). Every
//! approval draws on the team's monthly budget and the customer's rolling cap in the same
//! transaction, under the customer's lock and a conditional update of the budget row, so
//! concurrent approvals never overspend either.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use mend_core::{
    CaseId, Compensation, CompensationId, CompensationKind, CompensationStatus, CustomerId, Money, Role, TaskId,
};
use mend_scheduler::{BudgetStanding, COUNTED_AGAINST_CAP, CompensationLimit, LimitInputs};
use mend_store::compensations::{self, NewCompensation};
use mend_store::{ConnectionTrait, DatabaseTransaction, audit, budgets, customers};
use serde::{Deserialize, Serialize};

use crate::queue::entry;
use crate::typed::{SHORT_TEXT, check_typed};
use crate::{Agent, Desk, DeskError};

/// The most one offer may be: ¥1,000,000. Anything above it is a typo, not compensation, and
/// the bound keeps every sum of a customer's offers far inside the database's integers (an
/// offer near `i64::MAX` made the cap's sum overflow, and every later limit with it).
pub const MAX_OFFER: Money = Money::from_fen(100_000_000);

/// `POST /api/v1/cases/{id}/compensations`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompensationRequest {
    pub kind: CompensationKind,
    pub amount_fen: Money,
    pub reason: String,
    /// The call it was offered on, if any.
    #[serde(default)]
    pub task_id: Option<TaskId>,
}

/// An offer as recorded, with the limit it was measured against and who must decide it.
#[derive(Debug, Clone, Serialize)]
pub struct RequestedCompensation {
    #[serde(flatten)]
    pub compensation: Compensation,
    pub limit: CompensationLimit,
    pub limit_explanation: String,
    /// The role that must approve it; `None` when it was approved at once.
    pub needs: Option<Role>,
}

/// Where a customer stands against the rolling cap: what approvals granted them in the cap's
/// days, and what is left of it (what a supervisor weighs beside an offer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CustomerCapStanding {
    pub days: i64,
    #[serde(rename = "cap_fen")]
    pub cap: Money,
    #[serde(rename = "granted_fen")]
    pub granted: Money,
    #[serde(rename = "left_fen")]
    pub left: Money,
}

impl Desk {
    /// Each of `customers`' standing against the rolling cap at `now`.
    pub async fn customer_cap_standings(
        &self,
        customers: &[CustomerId],
        now: DateTime<Utc>,
    ) -> Result<HashMap<CustomerId, CustomerCapStanding>, DeskError> {
        self.cap_standings(self.store.connection(), customers, now).await
    }

    async fn cap_standings<C: ConnectionTrait>(
        &self,
        conn: &C,
        customers: &[CustomerId],
        now: DateTime<Utc>,
    ) -> Result<HashMap<CustomerId, CustomerCapStanding>, DeskError> {
        let policy = &self.policy.compensation;
        let since = now - Duration::days(policy.customer_cap_days);
        let granted: HashMap<CustomerId, Money> =
            compensations::compensation_received(conn, customers, since, &[CompensationStatus::Approved])
                .await?
                .into_iter()
                .collect();
        Ok(customers
            .iter()
            .map(|customer| {
                let (cap, granted) = (policy.customer_cap_fen, granted.get(customer).copied().unwrap_or(Money::ZERO));
                let left = (cap - granted).max(Money::ZERO);
                (*customer, CustomerCapStanding { days: policy.customer_cap_days, cap, granted, left })
            })
            .collect())
    }

    pub async fn request_compensation(
        &self,
        case_id: CaseId,
        requester: &Agent,
        request: CompensationRequest,
        now: DateTime<Utc>,
    ) -> Result<RequestedCompensation, DeskError> {
        if request.amount_fen <= Money::ZERO || request.amount_fen > MAX_OFFER {
            return Err(DeskError::Invalid(format!(
                "amount_fen must be a positive number of fen, at most {} ({MAX_OFFER})",
                MAX_OFFER.fen()
            )));
        }
        if request.reason.trim().is_empty() {
            return Err(DeskError::Invalid("a reason is required".into()));
        }
        check_typed("reason", &request.reason, SHORT_TEXT)?;
        let tx = self.store.begin_write().await?;
        // A case merged away while its call was in hand: the offer is the case it went into's.
        let case = mend_store::cases::surviving_case(&tx, case_id)
            .await?
            .ok_or_else(|| DeskError::NotFound(format!("case {case_id}")))?;
        if let Some(task) = request.task_id {
            let call = match mend_store::tasks::task_by_id(&tx, task).await? {
                Some(call) if crate::casework::lives_in(&tx, call.case_id, case.id).await? => call,
                _ => return Err(DeskError::Invalid(format!("task {task} is not a call on case {case_id}"))),
            };
            // An offer made "on a call" is the caller's: another agent's live call is not theirs to speak for.
            if call.holder_at(now).is_some_and(|holder| holder != requester.id) {
                return Err(DeskError::Refused(format!("task {task} is another agent's call")));
            }
        }
        // An agent's own limit is for the customer they are on the phone with: an offer on a case
        // they are not calling waits for a supervisor, whatever its amount. Supervisors and
        // administrators, who decide offers anyway, grant within the limit on any case.
        let may_grant =
            requester.role.includes(Role::Supervisor) || self.holds_a_call_about(&tx, requester, case.id, now).await?;
        customers::lock_customers(&tx, &[case.customer_id]).await?;
        // Above the customer's cap no one may approve it, so it is not left pending for nobody.
        self.check_customer_cap(&tx, case.customer_id, request.amount_fen, None, now, "请改为更小的金额").await?;
        let limit = self.current_limit(&tx, &case, now).await?;
        let within =
            may_grant && request.amount_fen <= limit.limit && self.draw_on_budget(&tx, request.amount_fen, now).await?;
        let (status, needs) = match within {
            true => (CompensationStatus::Approved, None),
            false if request.amount_fen <= self.supervisor_limit => {
                (CompensationStatus::Pending, Some(Role::Supervisor))
            }
            false => (CompensationStatus::Pending, Some(Role::Admin)),
        };
        let id = CompensationId::new();
        let new = NewCompensation {
            id,
            case_id: case.id,
            task_id: request.task_id,
            kind: request.kind,
            amount: request.amount_fen,
            // Read by everyone who sees the case: a number in the agent's words is masked.
            reason: mend_core::mask_phones_in(&request.reason).into_owned(),
            status,
            requested_by: requester.id,
            requested_at: now,
        };
        compensations::insert_compensation(&tx, new).await?;
        let mut requested =
            entry(requester, "compensation.request", ("compensation", id.as_uuid()), now, "", status.as_str());
        requested.detail["amount_fen"] = request.amount_fen.fen().into();
        requested.detail["case_id"] = case.id.to_string().into();
        audit::record_audit(&tx, requested).await?;
        mend_store::commit(tx).await?;
        let compensation = compensations::compensation_by_id(self.store.connection(), id)
            .await?
            .ok_or_else(|| DeskError::NotFound(format!("compensation {id}")))?;
        let limit_explanation = match (may_grant, needs) {
            (false, Some(Role::Admin)) => {
                format!("不在本人正在处理的回访中,且超出主管权限,需管理员审批。{}", limit.explanation())
            }
            (false, _) => format!("不在本人正在处理的回访中,需主管审批。{}", limit.explanation()),
            (true, _) => limit.explanation(),
        };
        Ok(RequestedCompensation { compensation, limit, limit_explanation, needs })
    }

    /// What an agent may offer on `case` now, for the page of a call in hand: the limit planned
    /// with the task is a morning's, and offers and approvals since have drawn on it.
    pub async fn compensation_limit_now(
        &self,
        case: &mend_core::Case,
        now: DateTime<Utc>,
    ) -> Result<CompensationLimit, DeskError> {
        self.current_limit(self.store.connection(), case, now).await
    }

    /// What an agent may offer on this case now, without asking anyone: the scheduler's limit,
    /// computed from what the customer and the team have now.
    async fn current_limit<C: ConnectionTrait>(
        &self,
        tx: &C,
        case: &mend_core::Case,
        now: DateTime<Utc>,
    ) -> Result<CompensationLimit, DeskError> {
        let policy = &self.policy.compensation;
        let since = now - Duration::days(policy.customer_cap_days);
        let received =
            compensations::compensation_received(tx, &[case.customer_id], since, &COUNTED_AGAINST_CAP).await?;
        let on_case = compensations::case_compensation(tx, &[case.id], &COUNTED_AGAINST_CAP).await?;
        let budget = mend_scheduler::team_budget(tx, &self.policy, now).await?;
        Ok(policy.limit(&LimitInputs {
            category: &case.category,
            // As the planned limit says it (宽带故障, not broadband_outage).
            category_name: self.intake.classifier().category_name(&case.category),
            customer_received: received.first().map_or(Money::ZERO, |(_, m)| *m),
            case_received: on_case.first().map_or(Money::ZERO, |(_, m)| *m),
            team_budget_left: budget.left,
            month: &budget.month,
        }))
    }

    /// The team's month as a supervisor watches it: what it may spend and what approvals took
    /// (the whole monthly budget, nothing taken, while `budget_rollover` has not opened it).
    pub async fn budget_standing(&self, now: DateTime<Utc>) -> Result<BudgetStanding, DeskError> {
        Ok(mend_scheduler::budget_standing(self.store.connection(), &self.policy, now).await?)
    }

    /// Takes `amount` from the team's month of `now`; false when what is left does not cover it.
    async fn draw_on_budget(
        &self,
        tx: &DatabaseTransaction,
        amount: Money,
        now: DateTime<Utc>,
    ) -> Result<bool, DeskError> {
        let (team, month) = (&self.policy.team, self.policy.budget_month(now)?);
        Ok(budgets::draw_on_budget(tx, team, &month, amount, self.policy.compensation.monthly_budget_fen).await?)
    }

    /// Approves or rejects a pending offer. An approval draws on the team's budget and the
    /// customer's cap, or is refused when either would be overspent.
    pub async fn decide_compensation(
        &self,
        id: CompensationId,
        decider: &Agent,
        decision: CompensationStatus,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Compensation, DeskError> {
        if decision == CompensationStatus::Rejected && reason.trim().is_empty() {
            return Err(DeskError::Invalid(
                "驳回需要写明理由,坐席要转告客户 (a rejection needs a reason: the agent tells it to the customer)"
                    .into(),
            ));
        }
        check_typed("reason", reason, SHORT_TEXT)?;
        let reason = &*mend_core::mask_phones_in(reason);
        let tx = self.store.begin_write().await?;
        let offer = compensations::compensation_by_id(&tx, id)
            .await?
            .ok_or_else(|| DeskError::NotFound(format!("compensation {id}")))?;
        let needed = if offer.amount <= self.supervisor_limit { Role::Supervisor } else { Role::Admin };
        if !decider.role.includes(needed) {
            let who = if needed == Role::Admin { "管理员" } else { "主管" };
            return Err(DeskError::Forbidden(format!(
                "{} 的补偿需由{who}审批 (an offer of {} is decided in the {needed} role)",
                offer.amount, offer.amount
            )));
        }
        if offer.requested_by == decider.id {
            return Err(DeskError::Forbidden(
                "不能审批自己提出的补偿,请由另一位主管审批 (nobody decides their own request)".into(),
            ));
        }
        if offer.status != CompensationStatus::Pending {
            return Err(DeskError::Refused(format!("compensation {id} is {} already", offer.status)));
        }
        if decision == CompensationStatus::Approved {
            self.draw(&tx, &offer, now).await?;
        }
        if !compensations::decide_compensation(&tx, id, decision, decider.id, reason, now).await? {
            return Err(DeskError::Refused(format!("compensation {id} was decided meanwhile")));
        }
        let mut decided =
            entry(decider, "compensation.decide", ("compensation", id.as_uuid()), now, "pending", decision.as_str());
        decided.detail["reason"] = reason.into();
        decided.detail["amount_fen"] = offer.amount.fen().into();
        audit::record_audit(&tx, decided).await?;
        mend_store::commit(tx).await?;
        compensations::compensation_by_id(self.store.connection(), id)
            .await?
            .ok_or_else(|| DeskError::NotFound(format!("compensation {id}")))
    }

    /// Refuses `amount` when what the customer was granted in the cap's days and it would pass
    /// the cap; call under the customer's lock. `deciding` is the pending offer being decided,
    /// if that is what `amount` is (not named again among those waiting); `what_now` tells the
    /// reader what to do instead.
    async fn check_customer_cap(
        &self,
        tx: &DatabaseTransaction,
        customer: CustomerId,
        amount: Money,
        deciding: Option<Money>,
        now: DateTime<Utc>,
        what_now: &str,
    ) -> Result<(), DeskError> {
        let standing = self.cap_standings(tx, &[customer], now).await?;
        let CustomerCapStanding { days, cap, granted, left } = standing[&customer];
        if granted + amount <= cap {
            return Ok(());
        }
        // Read by the agent or supervisor on the page: in their words, with the figures to act on
        // (offers still waiting are named apart: they may yet be rejected).
        let since = now - Duration::days(days);
        let waiting = compensations::compensation_received(tx, &[customer], since, &[CompensationStatus::Pending])
            .await?
            .first()
            .map_or(Money::ZERO, |(_, m)| *m)
            - deciding.unwrap_or(Money::ZERO);
        let also_waiting = match waiting > Money::ZERO {
            true => format!(",另有 {waiting} 待审批"),
            false => String::new(),
        };
        let what_now = if left == Money::ZERO { "本期已没有可给的额度" } else { what_now };
        Err(DeskError::Refused(format!(
            "客户{days}天内已获批补偿 {granted}{also_waiting},再给 {amount} 将超过每位客户 {cap} 的上限(最多还能给 {left}):\
             {what_now} (the customer was granted {granted} in {days} days; {amount} more would pass the cap of {cap}, \
             {left} is left)"
        )))
    }

    /// Takes an approved offer from the customer's rolling cap and the team's month, both
    /// checked under locks in the caller's transaction.
    async fn draw(&self, tx: &DatabaseTransaction, offer: &Compensation, now: DateTime<Utc>) -> Result<(), DeskError> {
        let case = mend_store::cases::case_by_id(tx, offer.case_id)
            .await?
            .ok_or_else(|| DeskError::NotFound(format!("case {}", offer.case_id)))?;
        customers::lock_customers(tx, &[case.customer_id]).await?;
        let deciding = Some(offer.amount);
        self.check_customer_cap(tx, case.customer_id, offer.amount, deciding, now, "请驳回,由坐席改提更小的金额")
            .await?;
        if !self.draw_on_budget(tx, offer.amount, now).await? {
            let month = self.policy.budget_month(now)?;
            let amount = offer.amount;
            return Err(DeskError::Refused(format!(
                "团队 {month} 的预算不够支付 {amount}:请驳回,或请管理员在「管理 → 补偿预算」调高本月预算 \
                 (the team's budget for {month} does not cover {amount})"
            )));
        }
        Ok(())
    }
}
