//! Calls weighed again when their customer's tier or zone changes: a supervisor, or a CRM's
//! list, makes a customer VIP after their call was planned, and the queue should hand that call
//! out as a VIP's now, not at their next complaint; a customer found to live in another zone is
//! due by the contact hours of that zone.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use mend_core::{CaseId, CustomerId, Task};
use mend_store::tasks::{self, Reweighed};
use mend_store::{Store, StoreError};
use serde_json::json;

use crate::SchedulerError;
use crate::generate::{CallbackPlanner, CaseFile, case_files};

/// The audit action a change to how a customer is contacted writes (`customers::change_contact`).
const CONTACT_CHANGED: &str = "customer.contact";

/// Weighs again the calls nobody has taken of the customers whose contact changed since the
/// instant the UUID v7 `floor` stands for; how many calls changed.
pub(crate) async fn reweigh_calls_of_changed_customers(
    store: &Store,
    planner: &CallbackPlanner,
    floor: uuid::Uuid,
    now: DateTime<Utc>,
) -> Result<u64, SchedulerError> {
    let changed = mend_store::audit::subjects_since(store.connection(), CONTACT_CHANGED, floor).await?;
    if changed.is_empty() {
        return Ok(0);
    }
    let customers: Vec<CustomerId> = changed.into_iter().map(CustomerId::from_uuid).collect();
    let tx = store.begin_write().await?;
    let calls = tasks::open_tasks_of_customers(&tx, &customers).await?;
    let case_ids: Vec<CaseId> = calls.iter().map(|t| t.case_id).collect::<HashSet<_>>().into_iter().collect();
    let cases = mend_store::cases::cases_by_ids(&tx, &case_ids).await?;
    let (files, _) = case_files(&tx, planner, cases, now).await?;
    let mut reweighed = Vec::new();
    for call in calls {
        if let Some(file) = files.get(&call.case_id) {
            reweighed.extend(reweigh(planner, file, call, now)?);
        }
    }
    let written = tasks::reweigh_tasks(&tx, &reweighed, now).await?;
    mend_store::commit(tx).await?;
    Ok(written)
}

/// `call` as it would be planned for its customer as they are now: its priority, and when it
/// may be made and is due in their zone (the deadline it was planned to meet stands). `None`
/// when nothing changes.
fn reweigh(
    planner: &CallbackPlanner,
    file: &CaseFile,
    call: Task,
    now: DateTime<Utc>,
) -> Result<Option<Reweighed>, SchedulerError> {
    let (contact, tz) = (&planner.settings.contact, file.customer.timezone);
    let priority = planner.settings.priority.score(&file.case, &file.customer, &file.complaints, now);
    let deadline = call.priority_reasons["due"]["deadline"]
        .as_str()
        .and_then(|d| DateTime::parse_from_rfc3339(d).ok())
        .map(|d| d.to_utc())
        .ok_or_else(|| {
            StoreError::corrupt("tasks", call.task_id, format_args!("no due.deadline in {}", call.priority_reasons))
        })?;
    let planned_from = call.not_before.unwrap_or(call.created_at);
    let not_before = contact.next_open(planned_from, tz).unwrap_or(planned_from);
    let due_at = contact.due_by(deadline, not_before, tz);
    if priority.score == call.priority && due_at == call.due_at && Some(not_before) == call.not_before {
        return Ok(None);
    }
    // The rest of the reasons (the rule of the deadline, the script) stand as planned.
    let mut reasons = call.priority_reasons;
    if let Some(fields) = reasons.as_object_mut() {
        fields.insert("score".into(), json!(priority.score));
        fields.insert("factors".into(), json!(priority.reasons));
    }
    reasons["due"]["due_at"] = json!(due_at);
    if let Some(placed) = reasons.get_mut("contact").and_then(|c| c.as_object_mut()) {
        placed.insert("not_before".into(), json!(not_before));
    }
    Ok(Some(Reweighed { task: call.task_id, priority: priority.score, priority_reasons: reasons, due_at, not_before }))
}
