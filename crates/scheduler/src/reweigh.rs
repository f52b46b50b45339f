//! Calls weighed again when their customer's tier changes: a supervisor, or a CRM's list, makes
//! a customer VIP after their call was planned, and the queue should hand that call out as a
//! VIP's now, not at their next complaint.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use mend_core::{CaseId, CustomerId};
use mend_store::Store;
use mend_store::tasks::{self, Reweighed};
use serde_json::json;

use crate::SchedulerError;
use crate::generate::{CallbackPlanner, case_files};

/// The audit action a change to how a customer is contacted writes (`customers::change_contact`).
const CONTACT_CHANGED: &str = "customer.contact";

/// Weighs again the calls nobody has taken of the customers whose contact changed since the
/// instant the UUID v7 `floor` stands for; how many calls changed priority.
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
    let weights = &planner.settings.priority;
    let reweighed: Vec<Reweighed> = calls
        .into_iter()
        .filter_map(|call| {
            let file = files.get(&call.case_id)?;
            let priority = weights.score(&file.case, &file.customer, &file.complaints, now);
            if priority.score == call.priority {
                return None;
            }
            // The rest of the reasons (due time, contact, script) stand as planned.
            let mut reasons = call.priority_reasons;
            if let Some(fields) = reasons.as_object_mut() {
                fields.insert("score".into(), json!(priority.score));
                fields.insert("factors".into(), json!(priority.reasons));
            }
            Some(Reweighed { task: call.task_id, priority: priority.score, priority_reasons: reasons })
        })
        .collect();
    let written = tasks::reweigh_tasks(&tx, &reweighed, now).await?;
    mend_store::commit(tx).await?;
    Ok(written)
}
