//! The supervisor's page: offers waiting for a decision (each beside its case), the queue's
//! health, the team's budget this month, and escalations nobody has looked at.

use std::collections::HashMap;

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use mend_core::{CompensationId, CompensationStatus, EscalationId, Role, Task, TaskId, TaskStatus, UserId};
use mend_store::tasks::TaskFilter;
use minijinja::{Value, context};
use serde::Deserialize;

use super::desk::see_other;
use super::{PageError, Posted, WebUser, frame, render};
use crate::{ApiError, AppState, ErrorCode};

/// Offers shown at once; more wait for the next page load.
const INBOX: u64 = 50;

/// Held tasks listed at once, most urgent first.
const HELD: u64 = 100;

/// Escalations listed at once, newest first; the heading counts them all.
const ESCALATIONS: u64 = 50;

#[derive(Debug, Deserialize, Default)]
pub struct Notice {
    done: Option<String>,
}

pub async fn overview(
    State(state): State<AppState>,
    user: WebUser,
    Query(notice): Query<Notice>,
) -> Result<Response, PageError> {
    user.require(Role::Supervisor)?;
    let now = state.clock.now();
    let conn = state.store.connection();
    let pending =
        mend_store::compensations::list_compensations(conn, Some(CompensationStatus::Pending), None, INBOX).await?;
    let queue = state.desk.queue_report(now).await?;
    let on_calls =
        TaskFilter { status: Some(TaskStatus::Claimed), as_of: Some(now), limit: HELD, ..TaskFilter::default() };
    let held_tasks: Vec<Task> = mend_store::tasks::list_tasks(conn, &on_calls).await?;
    let mut people: Vec<UserId> = pending.iter().map(|c| c.requested_by).collect();
    people.extend(held_tasks.iter().filter_map(|t| t.claimed_by));
    let names = mend_store::users::names_by_ids(conn, &people).await?;
    let name_of = |id: &UserId| names.get(id).cloned().unwrap_or_else(|| id.to_string());
    let offered: Vec<_> = pending.iter().map(|offer| offer.case_id).collect();
    let cases: HashMap<_, _> = mend_store::cases::case_details(conn, &offered)
        .await?
        .into_iter()
        .map(|(id, detail)| (id, detail.masked()))
        .collect();
    let customers: Vec<_> = cases.values().map(|detail| detail.case.customer_id).collect();
    let standings = state.desk.customer_cap_standings(&customers, now).await?;
    let supervisor_limit = state.desk.supervisor_limit();
    let is_admin = user.record.role.includes(Role::Admin);
    let inbox: Vec<Value> = pending
        .iter()
        .map(|offer| {
            let needs_admin = offer.amount > supervisor_limit;
            let case = cases.get(&offer.case_id);
            // What an approval would be refused for, said before the supervisor tries it.
            let cap = case.and_then(|detail| standings.get(&detail.case.customer_id));
            context! {
                offer => Value::from_serialize(offer),
                case => case.map(Value::from_serialize),
                cap => cap.map(Value::from_serialize),
                over_cap => cap.is_some_and(|cap| offer.amount > cap.left),
                over_budget => offer.amount > queue.budget.left,
                requested_by => name_of(&offer.requested_by),
                own => offer.requested_by == user.record.user_id,
                needs_admin,
                may_decide => offer.requested_by != user.record.user_id && (is_admin || !needs_admin),
            }
        })
        .collect();
    let held: Vec<Value> = held_tasks
        .into_iter()
        .map(|task| {
            let holder = task.claimed_by.as_ref().map(name_of).unwrap_or_default();
            context! { holder, task => Value::from_serialize(task.masked()) }
        })
        .collect();
    // Late by now, not by when the job escalated it; each with its problem, so a row says more
    // than an id.
    let late = mend_store::escalations::open_escalations(conn, ESCALATIONS).await?;
    let late_cases: Vec<_> = late.iter().map(|e| e.case_id).collect();
    let category_of: HashMap<_, _> =
        mend_store::cases::cases_by_ids(conn, &late_cases).await?.into_iter().map(|c| (c.id, c.category)).collect();
    let escalations: Vec<Value> = late
        .into_iter()
        .map(|e| {
            context! {
                late_minutes => (now - e.due_at).num_minutes(),
                category => category_of.get(&e.case_id),
                ..Value::from_serialize(&e)
            }
        })
        .collect();
    let message = match notice.done.as_deref() {
        Some("approved") => Some("已批准。"),
        Some("rejected") => Some("已驳回。"),
        Some("taken_back") => Some("任务已收回,放回队列。"),
        Some("acknowledged") => Some("已确认超时升级。"),
        _ => None,
    };
    let page = context! {
        inbox, held, escalations, message,
        queue => Value::from_serialize(&queue),
        supervisor_limit_fen => supervisor_limit.fen(),
        ..frame(&user, &state)
    };
    Ok(render(StatusCode::OK, "supervisor.html", page))
}

#[derive(Debug, Deserialize)]
pub struct ReasonForm {
    #[serde(default)]
    reason: String,
}

/// `approve` or `reject` an offer, with the reason the form gave.
pub async fn decide(
    State(state): State<AppState>,
    user: WebUser,
    Path((id, decision)): Path<(String, String)>,
    form: Result<Form<Posted<ReasonForm>>, FormRejection>,
) -> Result<Response, PageError> {
    let form = user.accept(Role::Supervisor, form)?;
    let (status, done) = match decision.as_str() {
        "approve" => (CompensationStatus::Approved, "approved"),
        "reject" => (CompensationStatus::Rejected, "rejected"),
        _ => return Err(ApiError::new(ErrorCode::NotFound, "没有这个操作").into()),
    };
    let id: CompensationId = id.parse().map_err(|_| ApiError::bad_request(format!("补偿编号 `{id}` 无效")))?;
    state.desk.decide_compensation(id, &user.desk_agent(), status, form.reason.trim(), state.clock.now()).await?;
    Ok(see_other(&format!("/supervisor?done={done}")))
}

#[derive(Debug, Deserialize)]
pub struct TakeBackForm {
    #[serde(default)]
    reason: String,
    /// Who the page showed holding it: taken back only from them.
    holder: String,
}

/// 收回: a task an agent holds goes back to the queue (they went home with it open).
pub async fn take_back(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<String>,
    form: Result<Form<Posted<TakeBackForm>>, FormRejection>,
) -> Result<Response, PageError> {
    let form = user.accept(Role::Supervisor, form)?;
    let id: TaskId = super::desk::parse_id(&id, "任务")?;
    let holder: UserId = super::desk::parse_id(&form.holder, "坐席")?;
    let reason = match form.reason.trim() {
        "" => "主管收回",
        reason => reason,
    };
    state.desk.take_back(id, &user.desk_agent(), holder, reason, state.clock.now()).await?;
    Ok(see_other("/supervisor?done=taken_back"))
}

/// 已处理: the supervisor has seen to a late call (arranged it); it leaves the list.
pub async fn acknowledge_escalation(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<String>,
    form: Result<Form<Posted<super::Button>>, FormRejection>,
) -> Result<Response, PageError> {
    user.accept(Role::Supervisor, form)?;
    let id: EscalationId = super::desk::parse_id(&id, "升级")?;
    state.desk.acknowledge_escalation(id, &user.desk_agent(), state.clock.now()).await?;
    Ok(see_other("/supervisor?done=acknowledged"))
}
