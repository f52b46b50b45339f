//! "Is it the same problem?" — the rule that puts a complaint into a case.

use chrono::{DateTime, Duration, Utc};
use mend_core::{CaseStatus, CustomerId};
use mend_store::CaseRecord;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupingPolicy {
    /// A complaint joins a case whose latest complaint is at most this many days earlier.
    pub window_days: i64,
    /// After closure, the same problem within this many days reopens the case.
    pub reopen_days: i64,
}

impl Default for GroupingPolicy {
    fn default() -> Self {
        Self { window_days: 7, reopen_days: 30 }
    }
}

impl GroupingPolicy {
    pub fn window(&self) -> Duration {
        Duration::days(self.window_days)
    }

    /// The earliest `last_complaint_at` of a case that a complaint received at `received_at`
    /// could still join: what intake loads.
    pub fn earliest_candidate(&self, received_at: DateTime<Utc>) -> DateTime<Utc> {
        received_at - self.window()
    }
}

/// The open case of `customer` about `category` that a complaint received at `received_at`
/// joins, if any: the case's latest complaint is within the window before it (or the complaint
/// arrived late and falls inside the case's span). Among several, the most recently active.
pub fn find_case<'a>(
    cases: &'a [CaseRecord],
    customer: CustomerId,
    category: &str,
    received_at: DateTime<Utc>,
    policy: &GroupingPolicy,
) -> Option<&'a CaseRecord> {
    let window = policy.window();
    cases
        .iter()
        .filter(|c| c.customer_id == customer && c.status == CaseStatus::Open && c.category == category)
        .filter(|c| received_at <= c.last_complaint_at + window && received_at >= c.first_complaint_at - window)
        .max_by_key(|c| (c.last_complaint_at, c.id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mend_core::CaseId;

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, day, hour, 0, 0).unwrap()
    }

    fn case(customer: CustomerId, category: &str, first: DateTime<Utc>, last: DateTime<Utc>) -> CaseRecord {
        CaseRecord {
            id: CaseId::new(),
            customer_id: customer,
            category: category.into(),
            status: CaseStatus::Open,
            escalation_risk: false,
            repeat_failure: false,
            complaint_count: 1,
            first_complaint_at: first,
            last_complaint_at: last,
            opened_at: first,
            closed_at: None,
            updated_at: last,
        }
    }

    #[test]
    fn joins_within_the_window_of_the_latest_complaint() {
        let customer = CustomerId::new();
        let cases = [case(customer, "broadband_outage", at(1, 9), at(5, 9))];
        let policy = GroupingPolicy::default();
        let find = |category, t| find_case(&cases, customer, category, t, &policy).map(|c| c.id);
        assert_eq!(find("broadband_outage", at(12, 9)), Some(cases[0].id), "exactly 7 days after the latest");
        assert_eq!(find("broadband_outage", at(12, 10)), None, "7 days and an hour");
        assert_eq!(find("billing_dispute", at(6, 9)), None, "another category");
        assert_eq!(find_case(&cases, CustomerId::new(), "broadband_outage", at(6, 9), &policy).map(|c| c.id), None);
        assert_eq!(find("broadband_outage", at(2, 9)), Some(cases[0].id), "a late delivery inside the span");
    }

    #[test]
    fn prefers_the_most_recently_active_case_and_skips_closed_ones() {
        let customer = CustomerId::new();
        let mut closed = case(customer, "billing_dispute", at(1, 9), at(6, 9));
        closed.status = CaseStatus::Closed;
        let older = case(customer, "billing_dispute", at(1, 9), at(2, 9));
        let newer = case(customer, "billing_dispute", at(3, 9), at(4, 9));
        let cases = [closed, older, newer.clone()];
        let found = find_case(&cases, customer, "billing_dispute", at(5, 9), &GroupingPolicy::default());
        assert_eq!(found.map(|c| c.id), Some(newer.id));
    }
}
