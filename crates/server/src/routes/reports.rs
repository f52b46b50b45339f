//! Reports for supervisors and the scripts that feed their wall screens and spreadsheets: the
//! queue now, one day's hot issues (what the daily email says), and complaints per category per
//! day with spikes marked (what the dashboard draws).

use axum::Json;
use axum::extract::State;
use chrono::{Duration, NaiveDate};
use mend_core::Role;
use mend_desk::QueueReport;
use mend_scheduler::{CategoryTrend, HotspotReport};
use serde::Deserialize;

use crate::auth::CurrentUser;
use crate::{ApiError, AppState};

/// The most days a trend covers: a quarter.
const MAX_TREND_DAYS: usize = 90;

/// The queue, the offers and escalations waiting, and the team's month, as of now.
pub async fn queue(State(state): State<AppState>, user: CurrentUser) -> Result<Json<QueueReport>, ApiError> {
    user.require(Role::Supervisor)?;
    Ok(Json(state.desk.queue_report(state.clock.now()).await?))
}

#[derive(Debug, Deserialize)]
pub struct DayQuery {
    /// `YYYY-MM-DD` in the scheduler's zone; yesterday (the last whole day) unless asked.
    day: Option<NaiveDate>,
}

/// One day's hot issues: complaints per category against the day before and the baseline,
/// spikes, call outcomes, satisfaction before and after repair, compensation, suggestions.
pub async fn daily(
    State(state): State<AppState>,
    user: CurrentUser,
    super::QueryParams(query): super::QueryParams<DayQuery>,
) -> Result<Json<HotspotReport>, ApiError> {
    user.require(Role::Supervisor)?;
    let today = state.today()?;
    let day = reportable(query.day.unwrap_or(today - Duration::days(1)), today, "day")?;
    Ok(Json(mend_scheduler::day_report(&state.store, &state.planner, day).await.map_err(ApiError::internal)?))
}

#[derive(Debug, Deserialize)]
pub struct TrendQuery {
    /// How many days, ending with `until`: 14 unless asked.
    days: Option<usize>,
    /// The last day shown: today unless asked.
    until: Option<NaiveDate>,
}

/// Complaints per category per day (the busiest categories), each day tested for a spike.
pub async fn trend(
    State(state): State<AppState>,
    user: CurrentUser,
    super::QueryParams(query): super::QueryParams<TrendQuery>,
) -> Result<Json<CategoryTrend>, ApiError> {
    user.require(Role::Supervisor)?;
    let today = state.today()?;
    let days = query.days.unwrap_or(14);
    if !(1..=MAX_TREND_DAYS).contains(&days) {
        return Err(ApiError::bad_request(format!("`days` must be 1 to {MAX_TREND_DAYS}")));
    }
    let until = reportable(query.until.unwrap_or(today), today, "until")?;
    Ok(Json(
        mend_scheduler::category_trend(&state.store, &state.planner, until, days).await.map_err(ApiError::internal)?,
    ))
}

/// The first day a report may be about: no call center's records are older, and a report reaches
/// back a baseline before its day. The API and the dashboard hold to it alike.
pub(crate) const EARLIEST_REPORT_DAY: NaiveDate = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap();

/// A day a report may be about: up to today, from [`EARLIEST_REPORT_DAY`].
fn reportable(day: NaiveDate, today: NaiveDate, name: &str) -> Result<NaiveDate, ApiError> {
    if day > today || day < EARLIEST_REPORT_DAY {
        return Err(ApiError::bad_request(format!(
            "`{name}` must be a day from 2000-01-01 up to today ({today}) in the scheduler's zone"
        )));
    }
    Ok(day)
}
