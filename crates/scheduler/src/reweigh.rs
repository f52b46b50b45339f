//! Calls weighed again when their customer's tier or zone changes: a supervisor, or a CRM's
//! list, makes a customer VIP after their call was planned, and the queue should hand that call
//! out as a VIP's now, not at their next complaint; a customer found to live in another zone is
//! called in that zone's hours.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use mend_core::{CaseId, CustomerId, Task};
use mend_store::Store;
use mend_store::customers::{CONTACT_CHANGED, lock_customers};
use mend_store::tasks::{self, Reweighed};
use serde_json::json;

use crate::SchedulerError;
use crate::generate::{CallbackPlanner, CaseFile, case_files};

/// Customers weighed again in one transaction: a CRM's list may change tens of thousands.
const CHUNK: usize = 1_000;

/// Weighs again the waiting calls of the customers whose contact changed since the instant the
/// UUID v7 `floor` stands for; how many calls changed.
pub(crate) async fn reweigh_calls_of_changed_customers(
    store: &Store,
    planner: &CallbackPlanner,
    floor: uuid::Uuid,
    now: DateTime<Utc>,
) -> Result<u64, SchedulerError> {
    let changed = mend_store::audit::subjects_since(store.connection(), CONTACT_CHANGED, floor).await?;
    let customers: Vec<CustomerId> = changed.into_iter().map(CustomerId::from_uuid).collect();
    let mut written = 0;
    for chunk in customers.chunks(CHUNK) {
        let tx = store.begin_write().await?;
        // As the sweep plans under them: a call weighed from the customer as they stand.
        lock_customers(&tx, chunk).await?;
        let calls = tasks::waiting_tasks_of_customers(&tx, chunk, now).await?;
        let case_ids: Vec<CaseId> = calls.iter().map(|t| t.case_id).collect::<HashSet<_>>().into_iter().collect();
        let cases = mend_store::cases::cases_by_ids(&tx, &case_ids).await?;
        let (files, _) = case_files(&tx, planner, cases, now).await?;
        let reweighed: Vec<Reweighed> =
            calls.into_iter().filter_map(|call| reweigh(planner, files.get(&call.case_id)?, call, now)).collect();
        written += tasks::reweigh_tasks(&tx, &reweighed, now).await?;
        mend_store::commit(tx).await?;
    }
    Ok(written)
}

/// `call` as it would be planned for its customer as they are now: its priority (with the
/// points an SLA escalation added kept), and when it may be made and is due in their zone, for
/// the deadline it was planned to meet. `None` when nothing changes.
fn reweigh(planner: &CallbackPlanner, file: &CaseFile, call: Task, now: DateTime<Utc>) -> Option<Reweighed> {
    let (contact, tz) = (&planner.settings.contact, file.customer.timezone);
    let reasons = &call.priority_reasons;
    let escalation = reasons["sla_escalation"]["points"].as_i64().and_then(|p| i32::try_from(p).ok()).unwrap_or(0);
    let priority = planner.settings.priority.score(&file.case, &file.customer, &file.complaints, now);
    let score = priority.score.saturating_add(escalation);
    let deadline = reasons["due"]["deadline"].as_str().and_then(|d| DateTime::parse_from_rfc3339(d).ok());
    let (not_before, due_at) = match (deadline, call.not_before) {
        (Some(deadline), Some(planned)) => {
            // From now on: a call waiting since yesterday is not callable in yesterday's hours.
            let from = planned.max(now);
            let not_before = contact.next_open(from, tz).unwrap_or(from);
            (not_before, contact.due_by(deadline.to_utc(), not_before, tz))
        }
        _ => {
            // Every plan says both; a row that does not keeps its timing, and is said.
            tracing::warn!(task_id = %call.task_id, "a waiting call without its deadline or start keeps its timing");
            (call.not_before.unwrap_or(call.created_at), call.due_at)
        }
    };
    if score == call.priority && due_at == call.due_at && Some(not_before) == call.not_before {
        return None;
    }
    // The rest of the reasons (the deadline's rule, the script) stand as planned.
    let mut reasons = call.priority_reasons;
    if let Some(fields) = reasons.as_object_mut() {
        fields.insert("score".into(), json!(priority.score));
        fields.insert("factors".into(), json!(priority.reasons));
        if let Some(due) = fields.get_mut("due").and_then(|d| d.as_object_mut()) {
            due.insert("due_at".into(), json!(due_at));
        }
        if let Some(placed) = fields.get_mut("contact").and_then(|c| c.as_object_mut()) {
            placed.insert("not_before".into(), json!(not_before));
        }
    }
    Some(Reweighed {
        task: call.task_id,
        priority: score,
        priority_reasons: reasons,
        due_at,
        not_before,
        escalated_at: call.escalated_at,
    })
}
