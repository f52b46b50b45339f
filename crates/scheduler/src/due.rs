//! The moment of truth: how soon after a complaint the customer must hear from us, by the
//! problem's category and the case's severity.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use mend_core::Case;
use serde::Deserialize;

/// `[scheduler.due]`: hours from the case's latest complaint to the callback's deadline.
#[derive(Debug, Clone, Deserialize)]
pub struct DuePolicy {
    pub default_hours: i64,
    /// Per category id; a category not listed uses `default_hours`.
    #[serde(default)]
    pub categories: BTreeMap<String, i64>,
    /// At most this for a case at risk of escalation (a formal complaint).
    pub escalation_hours: i64,
    /// At most this for a problem that came back after we closed it, or that the customer says
    /// a repair did not hold.
    pub repeat_failure_hours: i64,
}

impl DuePolicy {
    /// The deadline of a callback for `case`, and the rule that set it.
    pub fn deadline(&self, case: &Case) -> (DateTime<Utc>, String) {
        let mut hours = self.categories.get(&case.category).copied().unwrap_or(self.default_hours);
        let mut rule = if self.categories.contains_key(&case.category) {
            format!("category {} within {hours} h", case.category)
        } else {
            format!("default within {hours} h")
        };
        if case.escalation_risk && self.escalation_hours < hours {
            hours = self.escalation_hours;
            rule = format!("escalation risk within {hours} h");
        }
        if case.repeat_failure && self.repeat_failure_hours < hours {
            hours = self.repeat_failure_hours;
            rule = format!("repeat failure within {hours} h");
        }
        (case.last_complaint_at + Duration::hours(hours), rule)
    }
}
