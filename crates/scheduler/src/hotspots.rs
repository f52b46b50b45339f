//! The daily hot-issue report: complaints per category on the reported day against the day
//! before and the trailing baseline (spikes by [`SpikeTest`]), what the repair calls achieved,
//! the compensation spent, satisfaction before and after repair (the customers' survey answers
//! apart from what agents recorded), the low or commented survey answers, and the suggestions
//! agents sent to the people who own the rules. Stored once per day, and emailed to the report's recipients
//! and the team's supervisors with a chart.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use base64::Engine;
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use mend_core::{CaseId, ContactResult, EmailKind, InlinePart, JobCounts, Task};
use mend_notify::{BarGroup, Mailroom, bar_chart_png};
use mend_store::Store;
use mend_store::surveys::SurveyRecord;
use mend_store::{cases, reports, surveys, tasks, users};
use serde::Serialize;

use crate::SchedulerError;
use crate::generate::CallbackPlanner;
use crate::spikes::SpikeTest;

/// Categories a chart shows, busiest first (the report's data holds them all).
pub const CHART_CATEGORIES: usize = 8;
/// Suggestions the report lists.
const SUGGESTIONS_SHOWN: usize = 30;

#[derive(Debug, Serialize)]
struct CategoryRow {
    category: String,
    name: String,
    complaints: i64,
    previous_day: i64,
    change: i64,
    baseline_per_day: f64,
    p_value: f64,
    spike: bool,
}

#[derive(Debug, Default, Serialize)]
struct Outcomes {
    calls: u64,
    reached: u64,
    unreachable: u64,
    wrong_number: u64,
    refused: u64,
    resolved: u64,
    /// Per cent of calls that reached the customer, and of those that resolved the problem.
    reached_pct: Option<f64>,
    resolved_pct: Option<f64>,
}

#[derive(Debug, Serialize)]
struct Suggestion {
    case_id: CaseId,
    category: String,
    suggestion: String,
    root_cause: Option<String>,
}

/// Averages of 1-5 ratings, and how many there were. After repair, each case counts once: the
/// customer's own survey answer where there is one, else the rating the agent recorded on the
/// call; `after` is both together, and each source is given apart too.
#[derive(Debug, Default, Serialize)]
struct Satisfaction {
    before: Option<f64>,
    before_ratings: usize,
    after: Option<f64>,
    after_ratings: usize,
    /// What customers answered in the survey.
    after_surveyed: Option<f64>,
    after_surveyed_ratings: usize,
    /// What agents recorded on calls of cases without a survey answer that day.
    after_on_calls: Option<f64>,
    after_on_calls_ratings: usize,
}

/// A survey answer of the day that a person should read: a low rating, or anything the customer
/// wrote.
#[derive(Debug, Serialize)]
struct SurveyAnswer {
    case_id: CaseId,
    category: String,
    rating: u8,
    comment: Option<String>,
    answered_at: DateTime<Utc>,
}

/// One day's hot issues, as the daily email and the dashboard show them.
#[derive(Debug, Serialize)]
pub struct HotspotReport {
    day: String,
    total_complaints: i64,
    previous_day_complaints: i64,
    categories: Vec<CategoryRow>,
    spikes: Vec<String>,
    outcomes: Outcomes,
    compensation_count: i64,
    compensation_fen: i64,
    satisfaction: Satisfaction,
    suggestions: Vec<Suggestion>,
    /// Survey answers of the day rated 1-2 or with a comment, lowest first.
    survey_answers: Vec<SurveyAnswer>,
    baseline_days: i64,
    /// Whether mend holds complaints from the whole baseline before the day: until it does (a
    /// new installation), no category is called a spike, since every busy one would be.
    baseline_known: bool,
    spike_rule: String,
}

/// The first day (in `tz`) mend holds complaints of, if any.
async fn first_day(store: &Store, tz: Tz) -> Result<Option<NaiveDate>, SchedulerError> {
    let first = reports::first_complaint_at(store.connection()).await?;
    Ok(first.map(|at| at.with_timezone(&tz).date_naive()))
}

/// Whether the `baseline_days` before `day` all lie in mend's history.
fn baseline_known(first_day: Option<NaiveDate>, day: NaiveDate, baseline_days: i64) -> bool {
    first_day.is_some_and(|first| first <= day - Duration::days(baseline_days))
}

/// Reports on the day before `scheduled_for` (in the scheduler's zone).
pub(crate) async fn hotspot_report(
    store: &Store,
    planner: &CallbackPlanner,
    mailroom: &Mailroom,
    scheduled_for: DateTime<Utc>,
) -> Result<JobCounts, SchedulerError> {
    let policy = &planner.settings.hotspots;
    let day = scheduled_for.with_timezone(&planner.settings.zone()?).date_naive() - Duration::days(1);
    let report = day_report(store, planner, day).await?;
    let conn = store.connection();
    let period = report.day.clone();
    let body = serde_json::to_value(&report).map_err(|e| SchedulerError::Config(format!("report: {e}")))?;
    let stored = reports::save_report(conn, "hotspots", &period, &body, scheduled_for).await?;
    let mut emailed = 0;
    if stored {
        let mut recipients: Vec<String> = policy.recipients.clone();
        recipients.extend(users::alert_addresses(conn, &planner.settings.team).await?);
        recipients.sort();
        recipients.dedup();
        if !recipients.is_empty() {
            emailed = send_report(store, mailroom, &report, &recipients, scheduled_for).await?;
        }
    }
    Ok(JobCounts::default()
        .count("categories", report.categories.len())
        .count("spikes", report.spikes.len())
        .flag("stored", stored)
        .count("emails_queued", emailed))
}

/// The hot-issue report of one day (in the scheduler's zone), computed from what is stored now:
/// what the daily job stores and emails, and what the dashboard shows.
pub async fn day_report(
    store: &Store,
    planner: &CallbackPlanner,
    day: NaiveDate,
) -> Result<HotspotReport, SchedulerError> {
    let tz = planner.settings.zone()?;
    let policy = &planner.settings.hotspots;
    let start_of = |d: NaiveDate| start_of_day(tz, d);
    let (from, until) = (start_of(day), start_of(day + Duration::days(1)));
    let conn = store.connection();
    let per_category = |from, until| reports::complaints_per_category(conn, from, until);
    let today: BTreeMap<String, i64> = per_category(from, until).await?.into_iter().collect();
    let previous: BTreeMap<String, i64> =
        per_category(start_of(day - Duration::days(1)), from).await?.into_iter().collect();
    let baseline: BTreeMap<String, i64> =
        per_category(start_of(day - Duration::days(policy.baseline_days)), from).await?.into_iter().collect();

    let known = baseline_known(first_day(store, tz).await?, day, policy.baseline_days);
    let names: BTreeSet<&String> = today.keys().chain(previous.keys()).collect();
    let mut categories: Vec<CategoryRow> = names
        .into_iter()
        .map(|category| {
            let count = today.get(category).copied().unwrap_or(0);
            let before = previous.get(category).copied().unwrap_or(0);
            let test = SpikeTest::new(count, baseline.get(category).copied().unwrap_or(0), policy);
            CategoryRow {
                category: category.clone(),
                name: planner.category_name(category).to_owned(),
                complaints: count,
                previous_day: before,
                change: count - before,
                baseline_per_day: (test.baseline_per_day * 10.0).round() / 10.0,
                p_value: test.p_value,
                spike: test.spike && known,
            }
        })
        .collect();
    categories.sort_by(|a, b| b.complaints.cmp(&a.complaints).then_with(|| a.category.cmp(&b.category)));
    let spikes: Vec<String> = categories.iter().filter(|c| c.spike).map(|c| c.category.clone()).collect();

    let calls = tasks::tasks_completed_between(conn, from, until).await?;
    let answered = surveys::answered_between(conn, from, until).await?;
    let (compensation_count, spent) = reports::compensation_approved_between(conn, from, until).await?;
    Ok(HotspotReport {
        day: day.to_string(),
        total_complaints: today.values().sum(),
        previous_day_complaints: previous.values().sum(),
        spikes,
        outcomes: outcomes(&calls),
        compensation_count,
        compensation_fen: spent.fen(),
        satisfaction: satisfaction(store, &calls, &answered).await?,
        suggestions: suggestions(planner, &calls),
        survey_answers: survey_answers(store, planner, &answered).await?,
        baseline_days: policy.baseline_days,
        baseline_known: known,
        spike_rule: format!(
            "至少 {} 件,且不低于前 {} 日日均的 {} 倍,且按泊松分布偶然出现的概率低于 {}",
            policy.min_complaints, policy.baseline_days, policy.spike_factor, policy.spike_p_value
        ),
        categories,
    })
}

/// Complaints per category per day over the `days` days that end with `last_day`, each day
/// tested for a spike against the days before it, as the daily report tests its day.
#[derive(Debug, Serialize)]
pub struct CategoryTrend {
    pub days: Vec<NaiveDate>,
    /// Every category with a complaint in the period, busiest first.
    pub rows: Vec<TrendRow>,
}

#[derive(Debug, Serialize)]
pub struct TrendRow {
    pub category: String,
    pub name: String,
    /// One count per day of [`CategoryTrend::days`].
    pub counts: Vec<i64>,
    pub spikes: Vec<bool>,
    pub total: i64,
}

pub async fn category_trend(
    store: &Store,
    planner: &CallbackPlanner,
    last_day: NaiveDate,
    days: usize,
) -> Result<CategoryTrend, SchedulerError> {
    let tz = planner.settings.zone()?;
    let policy = &planner.settings.hotspots;
    let baseline_days = usize::try_from(policy.baseline_days.max(0)).unwrap_or(0);
    let first_counted = last_day - Duration::days((days + baseline_days) as i64 - 1);
    // Day by day from the first baseline day: each day's count and the days before it.
    let mut per_day: Vec<BTreeMap<String, i64>> = Vec::with_capacity(days + baseline_days);
    for day in first_counted.iter_days().take(days + baseline_days) {
        let (from, until) = (start_of_day(tz, day), start_of_day(tz, day + Duration::days(1)));
        per_day.push(reports::complaints_per_category(store.connection(), from, until).await?.into_iter().collect());
    }
    let first = first_day(store, tz).await?;
    let shown = &per_day[baseline_days..];
    let categories: BTreeSet<&String> = shown.iter().flat_map(BTreeMap::keys).collect();
    let mut rows: Vec<TrendRow> = categories
        .into_iter()
        .map(|category| {
            let count_on = |d: &BTreeMap<String, i64>| d.get(category).copied().unwrap_or(0);
            let counts: Vec<i64> = shown.iter().map(count_on).collect();
            let spikes = (baseline_days..per_day.len())
                .map(|i| {
                    let baseline: i64 = per_day[i - baseline_days..i].iter().map(count_on).sum();
                    let day = first_counted + Duration::days(i as i64);
                    let known = baseline_known(first, day, policy.baseline_days);
                    known && SpikeTest::new(count_on(&per_day[i]), baseline, policy).spike
                })
                .collect();
            TrendRow {
                category: category.clone(),
                name: planner.category_name(category).to_owned(),
                total: counts.iter().sum(),
                counts,
                spikes,
            }
        })
        .collect();
    rows.sort_by(|a, b| b.total.cmp(&a.total).then_with(|| a.category.cmp(&b.category)));
    let days = first_counted.iter_days().skip(baseline_days).take(days).collect();
    Ok(CategoryTrend { days, rows })
}

/// Midnight starting `day` in `tz` (the earliest, where a zone's clocks go back over it).
fn start_of_day(tz: Tz, day: NaiveDate) -> DateTime<Utc> {
    let midnight = day.and_time(NaiveTime::MIN);
    tz.from_local_datetime(&midnight).earliest().unwrap_or_else(|| tz.from_utc_datetime(&midnight)).with_timezone(&Utc)
}

async fn send_report(
    store: &Store,
    mailroom: &Mailroom,
    report: &HotspotReport,
    recipients: &[String],
    now: DateTime<Utc>,
) -> Result<u64, SchedulerError> {
    let groups: Vec<BarGroup> = report
        .categories
        .iter()
        .take(CHART_CATEGORIES)
        .map(|c| BarGroup { baseline_per_day: c.baseline_per_day, count: c.complaints as f64, spike: c.spike })
        .collect();
    let chart = bar_chart_png(&groups)?;
    let composed = mailroom.templates.compose(EmailKind::Hotspots, report)?;
    let chart = InlinePart {
        content_id: "chart".into(),
        content_type: "image/png".into(),
        base64: base64::engine::general_purpose::STANDARD.encode(&chart),
    };
    let key = format!("hotspots:{}", report.day);
    crate::alerts::queue_to_all(store, EmailKind::Hotspots, &key, None, recipients, (composed, &[chart]), now).await
}

fn outcomes(calls: &[Task]) -> Outcomes {
    let mut o = Outcomes::default();
    for outcome in calls.iter().filter_map(|t| t.outcome.as_ref()) {
        o.calls += 1;
        match outcome.outcome {
            ContactResult::Reached => o.reached += 1,
            ContactResult::Unreachable => o.unreachable += 1,
            ContactResult::WrongNumber => o.wrong_number += 1,
            ContactResult::Refused => o.refused += 1,
        }
        o.resolved += u64::from(outcome.resolved);
    }
    let pct = |part: u64, whole: u64| (whole > 0).then(|| (part as f64 * 1000.0 / whole as f64).round() / 10.0);
    o.reached_pct = pct(o.reached, o.calls);
    o.resolved_pct = pct(o.resolved, o.reached);
    o
}

fn suggestions(planner: &CallbackPlanner, calls: &[Task]) -> Vec<Suggestion> {
    calls
        .iter()
        .filter_map(|task| {
            let outcome = task.outcome.as_ref()?;
            let suggestion = outcome.suggestion.as_deref().map(str::trim).filter(|s| !s.is_empty())?;
            Some(Suggestion {
                case_id: task.case_id,
                category: planner.category_name(&task.category).to_owned(),
                suggestion: suggestion.to_owned(),
                root_cause: outcome.root_cause.clone().filter(|r| !r.trim().is_empty()),
            })
        })
        .take(SUGGESTIONS_SHOWN)
        .collect()
}

/// After repair: the survey answers of the period, and the ratings agents recorded on calls
/// of cases without an answer. Before: the customers' own ratings on those cases' complaints.
async fn satisfaction(
    store: &Store,
    calls: &[Task],
    answered: &[SurveyRecord],
) -> Result<Satisfaction, SchedulerError> {
    // A case whose two surveys were both answered that day counts its latest answer.
    let mut latest: HashMap<CaseId, &SurveyRecord> = HashMap::new();
    for survey in answered {
        let newer = latest.get(&survey.case_id).is_none_or(|seen| seen.answered_at < survey.answered_at);
        if newer {
            latest.insert(survey.case_id, survey);
        }
    }
    let surveyed: Vec<i64> = latest.values().filter_map(|s| s.rating).map(|r| i64::from(r.get())).collect();
    let mut cases: HashSet<CaseId> = latest.keys().copied().collect();
    let mut on_calls: Vec<i64> = Vec::new();
    for task in calls {
        if let Some(rating) = task.outcome.as_ref().and_then(|o| o.satisfaction_after)
            && cases.insert(task.case_id)
        {
            on_calls.push(i64::from(rating.get()));
        }
    }
    let cases: Vec<CaseId> = cases.into_iter().collect();
    let before = reports::complaint_ratings_of_cases(store.connection(), &cases).await?;
    let mean =
        |v: &[i64]| (!v.is_empty()).then(|| (v.iter().sum::<i64>() as f64 * 10.0 / v.len() as f64).round() / 10.0);
    let after: Vec<i64> = surveyed.iter().chain(&on_calls).copied().collect();
    Ok(Satisfaction {
        before: mean(&before),
        before_ratings: before.len(),
        after: mean(&after),
        after_ratings: after.len(),
        after_surveyed: mean(&surveyed),
        after_surveyed_ratings: surveyed.len(),
        after_on_calls: mean(&on_calls),
        after_on_calls_ratings: on_calls.len(),
    })
}

/// The answers someone should read: rated 2 or less, or with a comment; lowest first.
async fn survey_answers(
    store: &Store,
    planner: &CallbackPlanner,
    answered: &[SurveyRecord],
) -> Result<Vec<SurveyAnswer>, SchedulerError> {
    let worth_reading: Vec<&SurveyRecord> = answered
        .iter()
        .filter(|s| {
            s.rating.is_some_and(|r| r.get() <= 2) || s.comment.as_deref().is_some_and(|c| !c.trim().is_empty())
        })
        .collect();
    let ids: Vec<CaseId> = worth_reading.iter().map(|s| s.case_id).collect();
    let categories: HashMap<CaseId, String> =
        cases::cases_by_ids(store.connection(), &ids).await?.into_iter().map(|c| (c.id, c.category)).collect();
    let mut shown: Vec<SurveyAnswer> = worth_reading
        .into_iter()
        .filter_map(|s| {
            Some(SurveyAnswer {
                case_id: s.case_id,
                category: planner.category_name(categories.get(&s.case_id)?).to_owned(),
                rating: s.rating?.get(),
                // The report goes to people outside the desk: a number the customer wrote is masked.
                comment: s.comment.as_deref().map(|c| mend_core::mask_phones_in(c).into_owned()),
                answered_at: s.answered_at?,
            })
        })
        .collect();
    shown.sort_by_key(|a| (a.rating, a.answered_at));
    shown.truncate(SUGGESTIONS_SHOWN);
    Ok(shown)
}
