//! `[scheduler]` in the configuration: job schedules and every policy the jobs apply.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

use crate::SchedulerError;
use crate::contact::ContactPolicy;
use crate::due::DuePolicy;
use crate::limit::CompensationPolicy;
use crate::priority::PriorityWeights;
use crate::temperament::TemperamentCues;

#[derive(Debug, Clone, Deserialize)]
pub struct SchedulerSettings {
    /// The zone cron expressions are read in.
    pub timezone: String,
    /// The team that works callbacks (its budget is the one spent).
    pub team: String,
    /// Whether `mend serve` runs the cron schedules itself. Off where the operating system's
    /// cron drives `mend schedule tick`, and in tests that run jobs at clocks of their own.
    pub cron: bool,
    /// How long an instance holds a job occurrence before another may take it over.
    pub lease_seconds: i64,
    /// A generation sweep re-reads what changed this long before the previous sweep began, and
    /// the follow-up jobs the calls finished this long before their last run ended, so a write
    /// stamped before a run but committed after it read is still seen. At least the longest
    /// write transaction plus the clock skew between instances.
    pub generation_overlap_seconds: i64,
    /// Quarantined payloads last refused (or resolved) longer ago than this are purged.
    pub quarantine_retention_days: i64,
    /// Where call scripts and email templates live.
    pub scripts_dir: PathBuf,
    /// Job name → cron expression (seconds first: `0 * * * * *` is every minute).
    pub jobs: BTreeMap<String, String>,
    pub due: DuePolicy,
    pub contact: ContactPolicy,
    pub priority: PriorityWeights,
    pub compensation: CompensationPolicy,
    pub temperament: TemperamentCues,
    pub follow_up: FollowUpPolicy,
    pub hotspots: HotspotPolicy,
}

/// `[scheduler.follow_up]`.
#[derive(Debug, Clone, Deserialize)]
pub struct FollowUpPolicy {
    /// A resolved call marked for verification is verified after this many hours.
    pub verify_after_hours: i64,
    /// Waits before each retry of an unreachable customer; attempts = retries + 1.
    pub retry_backoff_minutes: Vec<i64>,
    /// A case at risk of escalation gets a second-repair call this long after closure.
    pub second_repair_after_hours: i64,
    /// A task not done this long after its due time is escalated.
    pub sla_grace_minutes: i64,
    pub sla_priority_bump: i32,
    /// The satisfaction survey goes out this long after closure (or once the verification call
    /// planned after the fix confirms it).
    pub survey_after_hours: i64,
    /// A customer asked in a survey less than this many days ago is not asked again (two cases
    /// closed in one week make one survey, not two); 0 asks about every closing.
    #[serde(default = "default_survey_quiet_days")]
    pub survey_quiet_days: i64,
    /// A survey answered with this many stars or fewer reopens the case and calls the customer
    /// back (差评回访); 0 never does.
    #[serde(default = "default_low_survey_rating")]
    pub low_survey_rating: u8,
}

fn default_low_survey_rating() -> u8 {
    2
}

fn default_survey_quiet_days() -> i64 {
    30
}

/// `[scheduler.hotspots]`: what counts as a spike in the daily report.
#[derive(Debug, Clone, Deserialize)]
pub struct HotspotPolicy {
    /// Days before the reported day that make the baseline.
    pub baseline_days: i64,
    /// A category is a spike when it has at least this many complaints…
    pub min_complaints: i64,
    /// …and at least this many times its daily baseline…
    pub spike_factor: f64,
    /// …and so many that a day this busy would happen by chance less often than this, if
    /// complaints kept arriving at the baseline's rate (a one-sided Poisson test).
    #[serde(default = "default_spike_p_value")]
    pub spike_p_value: f64,
    /// Who receives the report by email (none: stored only).
    #[serde(default)]
    pub recipients: Vec<String>,
}

fn default_spike_p_value() -> f64 {
    0.001
}

impl SchedulerSettings {
    pub fn zone(&self) -> Result<Tz, SchedulerError> {
        self.timezone.parse().map_err(|e| SchedulerError::Config(format!("scheduler.timezone: {e}")))
    }

    /// The budget month (`YYYY-MM`) that `now` falls in, in the scheduler's zone.
    pub fn budget_month(&self, now: DateTime<Utc>) -> Result<String, SchedulerError> {
        Ok(now.with_timezone(&self.zone()?).format("%Y-%m").to_string())
    }

    /// Refuses settings that would make every call fail or break a promise to customers.
    pub fn validate(&self) -> Result<(), SchedulerError> {
        let fail = |m: String| Err(SchedulerError::Config(m));
        self.zone()?;
        let c = &self.compensation;
        if c.repair_team_limit_fen < c.frontline_limit_fen {
            return fail(format!(
                "scheduler.compensation: the repair team's limit ({}) must not be below the frontline's ({})",
                c.repair_team_limit_fen, c.frontline_limit_fen
            ));
        }
        let amounts = [c.frontline_limit_fen, c.default_category_cap_fen, c.customer_cap_fen, c.monthly_budget_fen];
        if amounts.iter().chain(c.category_caps_fen.values()).any(|amount| *amount < mend_core::Money::ZERO) {
            return fail("scheduler.compensation: amounts are fen and cannot be negative".into());
        }
        if self.contact.max_calls_per_day == 0 || self.contact.max_calls_per_week == 0 {
            return fail("scheduler.contact: call caps must allow at least one call".into());
        }
        if self.generation_overlap_seconds < 0 {
            return fail("scheduler.generation_overlap_seconds cannot be negative".into());
        }
        if self.follow_up.low_survey_rating > 5 {
            return fail("scheduler.follow_up.low_survey_rating must be between 0 and 5".into());
        }
        if !(0..=3660).contains(&self.follow_up.survey_quiet_days) {
            return fail("scheduler.follow_up.survey_quiet_days must be between 0 and 3660".into());
        }
        if self.lease_seconds <= 0 {
            return fail("scheduler.lease_seconds must be positive".into());
        }
        Ok(())
    }
}
