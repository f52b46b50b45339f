//! What a change of customers' contact asks of their calls, at each sweep. Calls are weighed
//! again: a supervisor, or a CRM's list, makes a customer VIP after their call was planned, and
//! the queue should hand that call out as a VIP's now, not at their next complaint; a customer
//! found to live in another zone is called in that zone's hours. And a customer who may be
//! called again has the checks do-not-disturb cancelled made after all.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use mend_core::{CaseId, ContactReason, CustomerId, Task};
use mend_store::Store;
use mend_store::customers::{CONTACT_CHANGED, lock_customers};
use mend_store::tasks::{self, Reweighed};

use crate::SchedulerError;
use crate::contact::{CallLoad, ContactPolicy, Placement};
use crate::follow_up;
use crate::generate::{CallbackPlanner, CaseFile, case_files};

/// Customers dealt with in one transaction: a CRM's list may change tens of thousands.
const CHUNK: usize = 1_000;

/// What the changes of contact since the instant the UUID v7 `floor` stands for ask of the
/// customers' calls: how many waiting calls were weighed again, and how many cancelled checks
/// were made again.
pub(crate) async fn follow_contact_changes(
    store: &Store,
    planner: &CallbackPlanner,
    floor: uuid::Uuid,
    now: DateTime<Utc>,
) -> Result<(u64, u64), SchedulerError> {
    let changed = mend_store::audit::subjects_since(store.connection(), CONTACT_CHANGED, floor).await?;
    let customers: Vec<CustomerId> = changed.into_iter().map(CustomerId::from_uuid).collect();
    let (mut reweighed, mut resumed) = (0, 0);
    for chunk in customers.chunks(CHUNK) {
        reweighed += reweigh_calls_of_customers(store, planner, chunk, now).await?;
        resumed += follow_up::resume_cancelled_checks(store, planner, chunk, now).await?;
    }
    Ok((reweighed, resumed))
}

/// Weighs again the waiting calls of these customers, in one transaction; how many changed.
async fn reweigh_calls_of_customers(
    store: &Store,
    planner: &CallbackPlanner,
    customers: &[CustomerId],
    now: DateTime<Utc>,
) -> Result<u64, SchedulerError> {
    let contact = &planner.settings.contact;
    let tx = store.begin_write().await?;
    // As the sweep plans under them: a call weighed from the customer as they stand.
    lock_customers(&tx, customers).await?;
    let mut calls = tasks::waiting_tasks_of_customers(&tx, customers, now).await?;
    let case_ids: Vec<CaseId> = calls.iter().map(|t| t.case_id).collect::<HashSet<_>>().into_iter().collect();
    let cases = mend_store::cases::cases_by_ids(&tx, &case_ids).await?;
    let (files, mut loads) = case_files(&tx, planner, cases, now).await?;
    // The calls that move give back their days first, and the one due first takes the first
    // free day.
    calls.sort_by_key(|call| (call.priority_reasons.due.deadline, call.task_id));
    for call in &calls {
        if let Some(file) = files.get(&call.case_id) {
            let tz = file.customer.timezone;
            if moves(contact, call, tz) {
                loads.entry(file.customer.customer_id).or_default().remove_call(planned_start(call), tz);
            }
        }
    }
    let reweighed: Vec<Reweighed> = calls
        .into_iter()
        .filter_map(|call| {
            let file = files.get(&call.case_id)?;
            let load = loads.entry(file.customer.customer_id).or_default();
            reweigh(planner, file, load, call, now)
        })
        .collect();
    let written = tasks::reweigh_tasks(&tx, &reweighed, now).await?;
    mend_store::commit(tx).await?;
    Ok(written)
}

/// When `call` was planned to be made from (every plan says it in its reasons too).
fn planned_start(call: &Task) -> DateTime<Utc> {
    call.not_before.unwrap_or(call.priority_reasons.contact.not_before)
}

/// Whether `call` is placed anew: it was planned in hours that are not the customer's now (a
/// new zone). A call placed in their hours stays where it is (a new tier moves no call).
fn moves(contact: &ContactPolicy, call: &Task, tz: chrono_tz::Tz) -> bool {
    let planned = planned_start(call);
    contact.next_open(planned, tz) != Some(planned)
}

/// `call` as it would be planned for its customer as they are now: its priority (with the
/// points an SLA escalation added kept), and when it may be made and is due in their zone, for
/// the deadline it was planned to meet. A call that [`moves`] is placed from now on (a call
/// waiting since yesterday is not callable in yesterday's hours) within the customer's call caps
/// (`load`: their other calls, without the calls that move and are not placed yet). `None` when
/// nothing changes.
fn reweigh(
    planner: &CallbackPlanner,
    file: &CaseFile,
    load: &mut CallLoad,
    call: Task,
    now: DateTime<Utc>,
) -> Option<Reweighed> {
    let (contact, tz) = (&planner.settings.contact, file.customer.timezone);
    let priority = planner.settings.priority.score(&file.case, &file.customer, &file.complaints, now);
    let score = priority.score.saturating_add(call.priority_reasons.escalation_points());
    let planned = planned_start(&call);
    let placed = moves(contact, &call, tz).then(|| {
        let from = planned.max(now);
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
    let mut reasons = call.priority_reasons;
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
