//! The team's monthly compensation budget, set by an administrator: raised when a month runs
//! short (a refused approval says to ask for it), or planned for a month ahead.

use chrono::{DateTime, NaiveDate, Utc};
use mend_core::{Money, Role};
use mend_scheduler::BudgetStanding;
use mend_store::budgets;
use mend_store::{AuditEntry, audit};

use crate::typed::{SHORT_TEXT, check_typed};
use crate::{Agent, Desk, DeskError};

/// The most a month's budget may be: ¥100,000,000. More is a typo.
pub const MAX_MONTH_BUDGET: Money = Money::from_fen(10_000_000_000);

impl Desk {
    /// Sets the team's budget for `month` (`YYYY-MM` in the scheduler's zone; this month or a
    /// later one). Refused when approvals this month already took more than the new budget.
    pub async fn set_month_budget(
        &self,
        month: &str,
        budget: Money,
        admin: &Agent,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<BudgetStanding, DeskError> {
        if !admin.role.includes(Role::Admin) {
            return Err(DeskError::Forbidden("a month's budget is set by an administrator".into()));
        }
        let first_day = NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d").ok();
        if first_day.is_none_or(|d| d.format("%Y-%m").to_string() != month) {
            return Err(DeskError::Invalid(format!("月份 `{month}` 无效,应写作 2026-12 这样 (not a month, YYYY-MM)")));
        }
        let this_month = self.policy.budget_month(now)?;
        if *month < *this_month.as_str() {
            return Err(DeskError::Invalid(format!(
                "{month} 已经过去,只能设定 {this_month} 或以后的月份 ({month} is over)"
            )));
        }
        if budget < Money::ZERO || budget > MAX_MONTH_BUDGET {
            return Err(DeskError::Invalid(format!(
                "预算应在 ¥0 到 {MAX_MONTH_BUDGET} 之间 (budget_fen must be 0 to {})",
                MAX_MONTH_BUDGET.fen()
            )));
        }
        if reason.trim().is_empty() {
            return Err(DeskError::Invalid("请写明调整预算的原因 (a reason is required)".into()));
        }
        check_typed("reason", reason, SHORT_TEXT)?;
        let team = &self.policy.team;
        let tx = self.store.begin_write().await?;
        let before = budgets::team_budget(&tx, team, month).await?;
        let Some(after) = budgets::set_team_budget(&tx, team, month, budget).await? else {
            let committed = before.map_or(Money::ZERO, |b| b.committed);
            return Err(DeskError::Refused(format!(
                "团队 {month} 已批准补偿 {committed},预算不能低于它 (approvals took {committed} of {month} already)"
            )));
        };
        let was = before.map_or(self.policy.compensation.monthly_budget_fen, |b| b.budget);
        let set = AuditEntry {
            at: now,
            actor: admin.actor.clone(),
            action: "budget.set".into(),
            subject_kind: "team_budget".into(),
            subject_id: None,
            detail: serde_json::json!({
                "team": team, "month": month, "reason": mend_core::mask_phones_in(reason),
                "budget_fen": {"before": was.fen(), "after": after.budget.fen()},
            }),
        };
        audit::record_audit(&tx, set).await?;
        mend_store::commit(tx).await?;
        Ok(BudgetStanding {
            team: team.clone(),
            month: month.to_owned(),
            budget: after.budget,
            committed: after.committed,
        })
    }
}
