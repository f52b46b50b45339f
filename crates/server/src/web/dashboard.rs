//! The hot-issue dashboard: complaints per category per day with spikes marked (an SVG drawn
//! here from the scheduler's counts), and one day's report (yesterday unless asked): repair outcomes, satisfaction
//! before and after repair, compensation, and the suggestions agents sent the process owners.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Duration;
use mend_core::Role;
use minijinja::{Value, context};
use serde::Deserialize;

use super::{PageError, WebUser, frame, render};
use crate::{ApiError, AppState};

/// Days the chart shows unless asked.
const DEFAULT_DAYS: usize = 14;

#[derive(Debug, Deserialize, Default)]
pub struct Period {
    days: Option<usize>,
    /// The day the report part is about; yesterday (the last whole day) unless asked. Read
    /// here, not by the extractor: a day the page cannot show is said on the page.
    day: Option<String>,
}

pub async fn hot_issues(
    State(state): State<AppState>,
    user: WebUser,
    Query(period): Query<Period>,
) -> Result<Response, PageError> {
    user.require(Role::Supervisor)?;
    let days = period.days.unwrap_or(DEFAULT_DAYS).clamp(7, 90);
    let today = state.today()?;
    let failed = |e: mend_scheduler::SchedulerError| PageError(ApiError::internal(e));
    let mut trend = mend_scheduler::category_trend(&state.store, &state.planner, today, days).await.map_err(failed)?;
    // The busiest categories, and any other that spiked: a spike is what the page is for.
    let all = trend.rows.len();
    trend.rows = std::mem::take(&mut trend.rows)
        .into_iter()
        .enumerate()
        .filter(|(rank, row)| *rank < mend_scheduler::CHART_CATEGORIES || row.spikes.contains(&true))
        .map(|(_, row)| row)
        .collect();
    let not_drawn = all - trend.rows.len();
    let yesterday = today - Duration::days(1);
    let asked = period.day.as_deref().map(str::trim).filter(|d| !d.is_empty());
    let (day, day_notice) = match asked.map(|d| (d, d.parse::<chrono::NaiveDate>())) {
        None => (yesterday, None),
        Some((_, Ok(d))) if d > today => (yesterday, Some(format!("{d} 还没到,下面是昨天的报告。"))),
        Some((_, Ok(d))) if d >= crate::routes::reports::EARLIEST_REPORT_DAY => (d, None),
        Some((_, Ok(d))) => (yesterday, Some(format!("{d} 早于任何报告,下面是昨天的报告。"))),
        Some((d, _)) => (yesterday, Some(format!("「{d}」不是日期(应为 2026-12-01 这样),下面是昨天的报告。"))),
    };
    let report = mend_scheduler::day_report(&state.store, &state.planner, day).await.map_err(failed)?;
    let peak = trend.rows.iter().flat_map(|r| r.counts.iter().copied()).max().unwrap_or(0).max(1);
    let page = context! {
        section => "dashboard",
        days => trend.days.iter().map(|d| d.format("%m-%d").to_string()).collect::<Vec<_>>(),
        trend => Value::from_serialize(&trend),
        peak, not_drawn,
        report => Value::from_serialize(&report),
        today => today.to_string(),
        yesterday => yesterday.to_string(),
        day_before => (day - Duration::days(1)).to_string(),
        day_after => (day < today).then(|| (day + Duration::days(1)).to_string()),
        day_notice,
        ..frame(&user, &state)
    };
    Ok(render(StatusCode::OK, "dashboard.html", page))
}
