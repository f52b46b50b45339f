//! How urgent a callback is, as a score with the reasons that add up to it, so a supervisor can
//! see why one customer is called before another.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use mend_core::{Case, ComplaintLine, Customer, PriorityFactor, STANDARD_TIER};
use serde::{Deserialize, Serialize};

/// `[scheduler.priority]`: points per factor.
#[derive(Debug, Clone, Deserialize)]
pub struct PriorityWeights {
    pub base: i32,
    pub escalation_risk: i32,
    /// Per channel beyond the first the customer used about this problem.
    pub per_extra_channel: i32,
    /// Per complaint beyond the first, up to `max_repeats`.
    pub per_repeat: i32,
    pub max_repeats: i32,
    pub repeat_failure: i32,
    /// Per customer tier (`vip`, `gold`…); tiers not listed add nothing.
    #[serde(default)]
    pub tiers: BTreeMap<String, i32>,
    /// Per satisfaction score given (`"1"`, `"2"`…), the worst one counts.
    #[serde(default)]
    pub satisfaction: BTreeMap<String, i32>,
    /// One point per this many hours since the first complaint, up to `max_waiting`.
    pub waiting_hours_per_point: i64,
    pub max_waiting: i32,
}

impl PriorityWeights {
    /// `tier` (trimmed) if the desk knows it: [`STANDARD_TIER`] or one of `tiers`; else why not,
    /// naming the tiers there are (a typo would silently weigh nothing).
    pub fn known_tier(&self, tier: &str) -> Result<String, String> {
        let tier = tier.trim();
        if tier == STANDARD_TIER || self.tiers.contains_key(tier) {
            return Ok(tier.to_owned());
        }
        let known: Vec<&str> = std::iter::once(STANDARD_TIER).chain(self.tiers.keys().map(String::as_str)).collect();
        Err(format!("no tier `{tier}`: the tiers are {}", known.join(", ")))
    }
}

/// A score and the factors that add up to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Priority {
    pub score: i32,
    pub factors: Vec<PriorityFactor>,
}

impl PriorityWeights {
    pub fn score(
        &self,
        case: &Case,
        customer: &Customer,
        complaints: &[ComplaintLine],
        now: DateTime<Utc>,
    ) -> Priority {
        let mut factors = vec![PriorityFactor { factor: "base".into(), points: self.base, detail: String::new() }];
        let mut add = |factor: &str, points: i32, detail: String| {
            if points != 0 {
                factors.push(PriorityFactor { factor: factor.into(), points, detail });
            }
        };
        if case.escalation_risk {
            add("escalation_risk", self.escalation_risk, "formal complaint or a threat to escalate".into());
        }
        let mut channels: Vec<&str> = complaints.iter().map(|c| c.channel.as_str()).collect();
        channels.sort_unstable();
        channels.dedup();
        let extra_channels = i32::try_from(channels.len().saturating_sub(1)).unwrap_or(i32::MAX);
        add("channels", extra_channels * self.per_extra_channel, channels.join(", "));
        let repeats = (case.complaint_count - 1).clamp(0, self.max_repeats);
        add("repeats", repeats * self.per_repeat, format!("{} complaints", case.complaint_count));
        if case.repeat_failure {
            add(
                "repeat_failure",
                self.repeat_failure,
                "came back after we closed it, or the customer says a repair did not hold".into(),
            );
        }
        add("tier", self.tiers.get(&customer.tier).copied().unwrap_or(0), customer.tier.clone());
        if let Some(worst) = complaints.iter().filter_map(|c| c.satisfaction).min() {
            add(
                "satisfaction",
                self.satisfaction.get(&worst.to_string()).copied().unwrap_or(0),
                format!("rated {worst}"),
            );
        }
        let waited = (now - case.first_complaint_at).num_hours().max(0);
        let waiting =
            i32::try_from(waited / self.waiting_hours_per_point.max(1)).unwrap_or(i32::MAX).min(self.max_waiting);
        add("waiting", waiting, format!("{waited} h since the first complaint"));
        Priority { score: factors.iter().map(|r| r.points).sum(), factors }
    }
}
