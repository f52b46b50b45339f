//! The compensation an agent may offer on a call without asking a supervisor: the smallest of
//! the repair team's own limit, the problem category's cap, what the customer may still get over
//! a rolling period, and what the team's monthly budget has left.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use mend_core::{CompensationStatus, Money};

/// `[scheduler.compensation]`; all amounts are integer fen.
#[derive(Debug, Clone, Deserialize)]
pub struct CompensationPolicy {
    /// What a frontline agent may give; the repair team's limit is deliberately higher.
    pub frontline_limit_fen: Money,
    pub repair_team_limit_fen: Money,
    pub default_category_cap_fen: Money,
    #[serde(default)]
    pub category_caps_fen: BTreeMap<String, Money>,
    /// What one customer may receive over `customer_cap_days` (approved and pending offers).
    pub customer_cap_fen: Money,
    pub customer_cap_days: i64,
    /// The team's budget for a month that `budget_rollover` has not opened yet.
    pub monthly_budget_fen: Money,
}

/// What counts against the customer's rolling cap when a limit is computed: offers granted and
/// those still waiting for a decision (an approval then counts granted ones only).
pub const COUNTED_AGAINST_CAP: [CompensationStatus; 2] = [CompensationStatus::Approved, CompensationStatus::Pending];

/// What the limit is computed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitInputs<'a> {
    pub category: &'a str,
    /// What people call the category (`宽带故障`).
    pub category_name: &'a str,
    /// Compensation the customer got or was offered within the rolling period.
    pub customer_received: Money,
    /// Compensation given or offered on this case already: the category's cap is per case, so
    /// one offer split in three draws on it as one.
    pub case_received: Money,
    /// The team's monthly budget less what it committed (below zero when overspent).
    pub team_budget_left: Money,
    /// The month (`YYYY-MM`) the budget is for.
    pub month: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LimitPart {
    pub name: &'static str,
    #[serde(rename = "fen")]
    pub amount: Money,
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CompensationLimit {
    #[serde(rename = "limit_fen")]
    pub limit: Money,
    /// The part that set the limit.
    pub binding: &'static str,
    pub parts: Vec<LimitPart>,
}

impl CompensationPolicy {
    pub fn limit(&self, inputs: &LimitInputs) -> CompensationLimit {
        let category_cap =
            self.category_caps_fen.get(inputs.category).copied().unwrap_or(self.default_category_cap_fen);
        let parts = vec![
            LimitPart { name: "role", amount: self.repair_team_limit_fen, label: "修复团队单次权限".into() },
            LimitPart {
                name: "category",
                amount: category_cap.remaining_after(inputs.case_received),
                label: format!("{}类问题本案剩余额度", inputs.category_name),
            },
            LimitPart {
                name: "customer",
                amount: self.customer_cap_fen.remaining_after(inputs.customer_received),
                label: format!("客户{}天内剩余额度", self.customer_cap_days),
            },
            LimitPart {
                name: "budget",
                amount: inputs.team_budget_left.max(Money::ZERO),
                label: format!("团队{}剩余预算", inputs.month),
            },
        ];
        let binding = parts.iter().min_by_key(|p| p.amount).expect("four parts");
        CompensationLimit { limit: binding.amount, binding: binding.name, parts }
    }
}

impl CompensationLimit {
    /// For the agent: the limit, then each part, the binding one marked.
    pub fn explanation(&self) -> String {
        let parts: Vec<String> = self
            .parts
            .iter()
            .map(|p| {
                let mark = if p.name == self.binding { "(生效)" } else { "" };
                format!("{} {}{mark}", p.label, p.amount)
            })
            .collect();
        format!("补偿上限 {} = 以下最小值:{}", self.limit, parts.join(";"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> CompensationPolicy {
        CompensationPolicy {
            frontline_limit_fen: Money::from_fen(2_000),
            repair_team_limit_fen: Money::from_fen(10_000),
            default_category_cap_fen: Money::from_fen(5_000),
            category_caps_fen: BTreeMap::from([("billing_dispute".to_owned(), Money::from_fen(20_000))]),
            customer_cap_fen: Money::from_fen(30_000),
            customer_cap_days: 90,
            monthly_budget_fen: Money::from_fen(1_000_000),
        }
    }

    fn inputs(category: &str, received: i64, budget_left: i64) -> LimitInputs<'_> {
        LimitInputs {
            category,
            category_name: category,
            customer_received: Money::from_fen(received),
            case_received: Money::ZERO,
            team_budget_left: Money::from_fen(budget_left),
            month: "2026-11",
        }
    }

    #[test]
    fn the_smallest_part_binds() {
        let p = policy();
        let fen = |l: &CompensationLimit| (l.limit.fen(), l.binding);
        assert_eq!(fen(&p.limit(&inputs("billing_dispute", 0, 1_000_000))), (10_000, "role"));
        assert_eq!(fen(&p.limit(&inputs("slow_network", 0, 1_000_000))), (5_000, "category"));
        assert_eq!(fen(&p.limit(&inputs("billing_dispute", 27_000, 1_000_000))), (3_000, "customer"));
        let l = p.limit(&inputs("billing_dispute", 0, 1_500));
        assert_eq!(fen(&l), (1_500, "budget"));
        assert!(l.explanation().contains("团队2026-11剩余预算 ¥15.00(生效)"), "{}", l.explanation());
    }

    #[test]
    fn the_category_cap_is_per_case() {
        let p = policy();
        let on_case = |fen| {
            p.limit(&LimitInputs { case_received: Money::from_fen(fen), ..inputs("slow_network", fen, 1_000_000) })
        };
        assert_eq!((on_case(4_500).limit.fen(), on_case(4_500).binding), (500, "category"));
        assert_eq!(on_case(9_000).limit, Money::ZERO, "offers past the cap leave nothing, not less");
    }

    #[test]
    fn exhausted_caps_give_zero_not_negative() {
        let l = policy().limit(&inputs("billing_dispute", 45_000, -10));
        assert_eq!(l.limit, Money::ZERO);
        assert!(l.parts.iter().all(|p| p.amount >= Money::ZERO));
    }
}
