//! The scheduler: cron-driven jobs that turn cases into well-prepared callback tasks (due time by
//! the moment of truth, placed in the customer's contact window and caps, a priority with its
//! reasons, a script for the problem and the customer's temperament, a compensation limit with
//! its explanation) and that follow up: verifications, retries, second repairs, SLA escalations,
//! surveys, hot-spot reports and monthly budgets.
//!
//! The rules are pure functions of plain data and an injected `now`; `jobs.rs` runs them on a
//! schedule so that each occurrence runs once however many instances share the database.

mod alerts;
mod contact;
mod due;
mod error;
mod follow_up;
mod generate;
mod hotspots;
mod jobs;
mod limit;
mod priority;
mod reweigh;
mod script;
mod settings;
mod spikes;
mod temperament;

pub use contact::{CallLoad, ContactPolicy, DailyWindow, Placement};
pub use due::DuePolicy;
pub use error::SchedulerError;
pub use generate::{
    Budget, BudgetStanding, CallRequest, CallbackPlanner, CaseFile, GenerationCounts, Planned, budget_standing,
    preview_callback, team_budget,
};
pub use hotspots::{CHART_CATEGORIES, CategoryTrend, HotspotReport, TrendRow, category_trend, day_report};
pub use jobs::{Job, JobRunReport, RunObserver, Scheduler};
pub use limit::{COUNTED_AGAINST_CAP, CompensationLimit, CompensationPolicy, LimitInputs, LimitPart};
pub use mend_core::Temperament;
pub use priority::{Priority, PriorityWeights};
pub use script::{RenderedScript, ScriptLibrary};
pub use settings::{FollowUpPolicy, HotspotPolicy, SchedulerSettings};
pub use temperament::{TemperamentCues, TemperamentReading};
