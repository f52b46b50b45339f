//! Alerts to the team's supervisors (and administrators) by email: the tasks a run of
//! `sla_escalation` escalated, named with their holders, and the cases at risk of a formal
//! complaint that came back. Each alert is queued once per recipient, however often the job
//! runs.

use chrono::{DateTime, Utc};
use mend_core::{Case, EmailKind, InlinePart, Task};
use mend_notify::Mailroom;
use mend_store::Store;
use mend_store::outbox;
use mend_store::users;
use serde::Serialize;

use crate::SchedulerError;
use crate::generate::CallbackPlanner;

#[derive(Serialize)]
struct BreachedTask {
    task_id: String,
    case_id: String,
    category: String,
    kind: &'static str,
    due_at: String,
    overdue_minutes: i64,
    /// Who holds it now, if anyone.
    holder: Option<String>,
    priority: i32,
}

/// Queues one email per recipient listing `escalated` (the tasks this run escalated).
pub(crate) async fn sla_alert(
    store: &Store,
    planner: &CallbackPlanner,
    mailroom: &Mailroom,
    escalated: &[Task],
    now: DateTime<Utc>,
) -> Result<u64, SchedulerError> {
    let Some(first) = escalated.iter().map(|t| t.task_id).min() else { return Ok(0) };
    let recipients = users::alert_addresses(store.connection(), &planner.settings.team).await?;
    if recipients.is_empty() {
        return Ok(0);
    }
    let holders: Vec<_> = escalated.iter().filter_map(|t| t.claimed_by).collect();
    let names = users::names_by_ids(store.connection(), &holders).await?;
    let tz = planner.settings.zone()?;
    let tasks: Vec<BreachedTask> = escalated
        .iter()
        .map(|t| BreachedTask {
            task_id: t.task_id.to_string(),
            case_id: t.case_id.to_string(),
            category: planner.category_name(&t.category).to_owned(),
            kind: t.kind.as_str(),
            due_at: t.due_at.with_timezone(&tz).format("%m-%d %H:%M").to_string(),
            overdue_minutes: (now - t.due_at).num_minutes(),
            holder: t.claimed_by.and_then(|id| names.get(&id).cloned()),
            priority: t.priority,
        })
        .collect();
    let composed = mailroom.templates.compose(EmailKind::SlaAlert, &serde_json::json!({"tasks": tasks}))?;
    // The same set of tasks is one alert: a rerun of the run that escalated them finds it queued.
    let key = format!("sla_alert:{first}:{}", escalated.len());
    queue_to_all(store, EmailKind::SlaAlert, &key, None, &recipients, (composed, &[]), now).await
}

/// Queues one email per recipient for each case at risk of a formal complaint that reopened.
pub(crate) async fn reopen_alerts(
    store: &Store,
    planner: &CallbackPlanner,
    mailroom: &Mailroom,
    reopened: &[Case],
    now: DateTime<Utc>,
) -> Result<u64, SchedulerError> {
    let at_risk: Vec<&Case> = reopened.iter().filter(|c| c.escalation_risk).collect();
    if at_risk.is_empty() {
        return Ok(0);
    }
    let recipients = users::alert_addresses(store.connection(), &planner.settings.team).await?;
    if recipients.is_empty() {
        return Ok(0);
    }
    let tz = planner.settings.zone()?;
    let mut queued = 0;
    for case in at_risk {
        let reopened_at = case.reopened_at.unwrap_or(now);
        let context = serde_json::json!({
            "case_id": case.id,
            "category": planner.category_name(&case.category),
            "reopened_at": reopened_at.with_timezone(&tz).format("%m-%d %H:%M").to_string(),
            "complaint_count": case.complaint_count,
        });
        let composed = mailroom.templates.compose(EmailKind::ReopenAlert, &context)?;
        let key = format!("reopen_alert:{}:{}", case.id, reopened_at.timestamp());
        queued +=
            queue_to_all(store, EmailKind::ReopenAlert, &key, Some(case), &recipients, (composed, &[]), now).await?;
    }
    Ok(queued)
}

/// Queues `composed` (with its inline images) to each of `recipients`, once each: the dedupe
/// key is `key:recipient`.
pub(crate) async fn queue_to_all(
    store: &Store,
    kind: EmailKind,
    key: &str,
    case: Option<&Case>,
    recipients: &[String],
    (composed, inline_parts): (mend_notify::ComposedEmail, &[InlinePart]),
    now: DateTime<Utc>,
) -> Result<u64, SchedulerError> {
    let mut queued = 0;
    for to in recipients {
        let mut email = composed.addressed_to(to, kind, format!("{key}:{to}"), case.map(|c| c.id));
        email.inline_parts = inline_parts.to_vec();
        queued += u64::from(outbox::queue_email(store.connection(), email, now).await?);
    }
    Ok(queued)
}
