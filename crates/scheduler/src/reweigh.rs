//! Calls weighed again when their customer's tier or zone changes: a supervisor, or a CRM's
//! list, makes a customer VIP after their call was planned, and the queue should hand that call
//! out as a VIP's now, not at their next complaint; a customer found to live in another zone is
//! called in that zone's hours.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use mend_core::{CaseId, ContactReason, CustomerId, Task};
use mend_store::Store;
use mend_store::customers::{CONTACT_CHANGED, lock_customers};
use mend_store::tasks::{self, Reweighed};

use crate::SchedulerError;
use crate::contact::{CallLoad, Placement};
use crate::generate::{CallbackPlanner, CaseFile, case_files};

/// Customers weighed again in one transaction: a CRM's list may change tens of thousands.
const CHUNK: usize = 1_000;

/// The customers whose contact changed since the instant the UUID v7 `floor` stands for.
pub(crate) async fn customers_changed_since(
    store: &Store,
    floor: uuid::Uuid,
) -> Result<Vec<CustomerId>, SchedulerError> {
    let changed = mend_store::audit::subjects_since(store.connection(), CONTACT_CHANGED, floor).await?;
    Ok(changed.into_iter().map(CustomerId::from_uuid).collect())
}

/// Weighs again the waiting calls of these customers; how many calls changed.
pub(crate) async fn reweigh_calls_of_customers(
    store: &Store,
    planner: &CallbackPlanner,
    customers: &[CustomerId],
    now: DateTime<Utc>,
) -> Result<u64, SchedulerError> {
    let mut written = 0;
    for chunk in customers.chunks(CHUNK) {
        let tx = store.begin_write().await?;
        // As the sweep plans under them: a call weighed from the customer as they stand.
        lock_customers(&tx, chunk).await?;
        let calls = tasks::waiting_tasks_of_customers(&tx, chunk, now).await?;
        let case_ids: Vec<CaseId> = calls.iter().map(|t| t.case_id).collect::<HashSet<_>>().into_iter().collect();
        let cases = mend_store::cases::cases_by_ids(&tx, &case_ids).await?;
        let (files, mut loads) = case_files(&tx, planner, cases, now).await?;
        let reweighed: Vec<Reweighed> = calls
            .into_iter()
            .filter_map(|call| {
                let file = files.get(&call.case_id)?;
                let load = loads.entry(file.customer.customer_id).or_default();
                reweigh(planner, file, load, call, now)
            })
            .collect();
        written += tasks::reweigh_tasks(&tx, &reweighed, now).await?;
        mend_store::commit(tx).await?;
    }
    Ok(written)
}

/// `call` as it would be planned for its customer as they are now: its priority (with the
/// points an SLA escalation added kept), and when it may be made and is due in their zone, for
/// the deadline it was planned to meet, within the customer's call caps (`load`, their other
/// calls, where this one is counted as placed). `None` when nothing changes.
fn reweigh(
    planner: &CallbackPlanner,
    file: &CaseFile,
    load: &mut CallLoad,
    call: Task,
    now: DateTime<Utc>,
) -> Option<Reweighed> {
    let (contact, tz) = (&planner.settings.contact, file.customer.timezone);
    let mut reasons = call.priority_reasons;
    let priority = planner.settings.priority.score(&file.case, &file.customer, &file.complaints, now);
    let score = priority.score.saturating_add(reasons.escalation_points());
    // Every plan says when a call may be made; the column is said again beside it.
    let planned = call.not_before.unwrap_or(reasons.contact.not_before);
    // A call placed in the customer's hours stays where it is (a new tier moves no call); one
    // outside them (a new zone) is placed anew, from now on: a call waiting since yesterday is
    // not callable in yesterday's hours. It keeps to the customer's call caps as it moves.
    let placed = (contact.next_open(planned, tz) != Some(planned)).then(|| {
        let from = planned.max(now);
        load.remove_call(planned, tz);
        // Caps that leave no day within a year (the planner would plan no call) are set aside:
        // this call is planned already, and is better made than left where it was.
        let placed = contact.place(from, tz, load).or_else(|| contact.open_placement(from, tz));
        match &placed {
            Some(p) => load.add(p.day),
            None => load.add_call(from, tz),
        }
        placed.unwrap_or(Placement { at: from, day: from.with_timezone(&tz).date_naive(), moved_because: Vec::new() })
    });
    let not_before = placed.as_ref().map_or(planned, |p| p.at);
    let due_at = contact.due_by(reasons.due.deadline, not_before, tz);
    if score == call.priority && due_at == call.due_at && Some(not_before) == call.not_before {
        return None;
    }
    // The rest of the reasons (the deadline's rule, the script) stand as planned.
    reasons.score = priority.score;
    reasons.factors = priority.factors;
    reasons.due.due_at = due_at;
    if let Some(placed) = placed {
        // Why it is not at the moment asked for, in the zone it is now placed in.
        reasons.contact = ContactReason { not_before, moved_because: placed.moved_because };
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
