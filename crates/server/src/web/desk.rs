//! The agent's workbench: "next task", the case page with everything the call needs, and the
//! forms that record its outcome, offer compensation, give the task back or regroup the case.

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use mend_core::{
    CaseId, CompensationKind, ComplaintId, ContactResult, Money, Role, Satisfaction, TaskId, TaskOutcome, Temperament,
};
use mend_desk::{Claim, CompensationRequest};
use mend_store::tasks::TaskFilter;
use minijinja::{Value, context};
use serde::Deserialize;

use super::{Button, PageError, Posted, WebUser, frame, render};
use crate::{ApiError, AppState, ErrorCode};

/// What a redirect back to the workbench says happened.
#[derive(Debug, Deserialize, Default)]
pub struct Notice {
    done: Option<String>,
    next_at: Option<DateTime<Utc>>,
}

pub async fn workbench(
    State(state): State<AppState>,
    user: WebUser,
    Query(notice): Query<Notice>,
) -> Result<Response, PageError> {
    user.require(Role::Agent)?;
    let now = state.clock.now();
    let conn = state.store.connection();
    let mine =
        TaskFilter { claimed_by: Some(user.record.user_id), as_of: Some(now), limit: 50, ..TaskFilter::default() };
    let held: Vec<mend_core::Task> =
        mend_store::tasks::list_tasks(conn, &mine).await?.into_iter().map(mend_core::Task::masked).collect();
    let queue = mend_store::tasks::queue_health(conn, now, now - state.desk.sla_grace()).await?;
    let message = match notice.done.as_deref() {
        Some("completed") => Some("已记录回访结果。".to_owned()),
        Some("released") => Some("任务已退回队列。".to_owned()),
        Some("holding") => {
            Some(format!("你手上已有 {} 个任务,已到同时可处理的上限:先记录结果或退回一个,再领下一个。", held.len()))
        }
        Some("nothing") => Some(match notice.next_at {
            Some(at) => format!(
                "现在没有可以拨打的任务。下一个任务 {} 起可拨打。",
                at.with_timezone(&state.intake.default_timezone()).format("%m-%d %H:%M")
            ),
            None => "现在没有可以拨打的任务。".to_owned(),
        }),
        _ => None,
    };
    let page = context! { held, queue, message, ..frame(&user, &state) };
    Ok(render(StatusCode::OK, "workbench.html", page))
}

/// 下一个任务: claims the most urgent callable task and opens it.
pub async fn next_task(
    State(state): State<AppState>,
    user: WebUser,
    form: Result<Form<Posted<Button>>, FormRejection>,
) -> Result<Response, PageError> {
    user.accept(Role::Agent, form)?;
    match state.claim_next_task(&user.desk_agent(), state.clock.now()).await? {
        Claim::Task(held) => Ok(see_other(&format!("/desk/tasks/{}", held.task.task_id))),
        Claim::NothingCallable { next_at } => {
            let at = next_at.map(|t| format!("&next_at={}", t.format("%Y-%m-%dT%H:%M:%SZ"))).unwrap_or_default();
            Ok(see_other(&format!("/desk?done=nothing{at}")))
        }
        Claim::HoldingTheMost { .. } => Ok(see_other("/desk?done=holding")),
    }
}

#[derive(Debug, Deserialize)]
pub struct SearchForm {
    q: String,
}

/// 查找: the customers a caller's number, a key or a case id names, with their cases; a case id
/// opens that case. Posted, so the number stays out of the address bar, history and logs.
pub async fn search(
    State(state): State<AppState>,
    user: WebUser,
    form: Result<Form<Posted<SearchForm>>, FormRejection>,
) -> Result<Response, PageError> {
    let form = user.accept(Role::Agent, form)?;
    let conn = state.store.connection();
    if let Ok(case) = form.q.trim().parse::<CaseId>()
        && mend_store::cases::case_by_id(conn, case).await?.is_some()
    {
        return Ok(see_other(&format!("/desk/cases/{case}")));
    }
    let mut customers = Vec::new();
    let actor = user.desk_agent().actor;
    let found = mend_cases::find_customers(&state.store, &form.q, &actor, state.clock.now()).await;
    for id in found.map_err(ApiError::from)? {
        if let Some(view) = mend_store::customers::customer_view(conn, id).await? {
            customers.push(Value::from_serialize(view.masked()));
        }
    }
    let page = context! { customers, ..frame(&user, &state) };
    Ok(render(StatusCode::OK, "search.html", page))
}

/// A task's case as its holder works it (numbers in full), or as anyone else sees it.
pub async fn task_page(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<String>,
    Query(notice): Query<OfferNotice>,
) -> Result<Response, PageError> {
    user.require(Role::Agent)?;
    let id: TaskId = parse_id(&id, "任务")?;
    let now = state.clock.now();
    let task = mend_store::tasks::task_by_id(state.store.connection(), id)
        .await?
        .ok_or_else(|| ApiError::not_found(format_args!("任务 {id}")))?;
    let held = task.holder_at(now) == Some(user.record.user_id);
    let task = if held { task } else { task.masked() };
    // A call whose case was merged away meanwhile is about the case its problem went into: the
    // page shows that case, the whole story.
    let case =
        mend_store::cases::surviving_case(state.store.connection(), task.case_id).await?.map_or(task.case_id, |c| c.id);
    case_view(&state, &user, case, Some((task, held)), notice).await
}

/// A case without a call in hand: for supervisors deciding an offer, and agents looking back.
pub async fn case_page(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<String>,
    Query(notice): Query<OfferNotice>,
) -> Result<Response, PageError> {
    user.require(Role::Agent)?;
    let id: CaseId = parse_id(&id, "案件")?;
    case_view(&state, &user, id, None, notice).await
}

#[derive(Debug, Deserialize, Default)]
pub struct OfferNotice {
    offer: Option<String>,
}

async fn case_view(
    state: &AppState,
    user: &WebUser,
    case_id: CaseId,
    task: Option<(mend_core::Task, bool)>,
    notice: OfferNotice,
) -> Result<Response, PageError> {
    let conn = state.store.connection();
    let detail = mend_store::cases::case_detail(conn, case_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format_args!("案件 {case_id}")))?;
    let held = task.as_ref().is_some_and(|(_, held)| *held);
    let detail = if held { detail } else { detail.masked() };
    let history = mend_store::customers::customer_history(conn, detail.customer.customer_id).await?;
    let (contacts, offers) = (history.contacts, history.compensations);
    let case_offers: Vec<_> = offers.iter().filter(|o| o.case_id == case_id).cloned().collect();
    let earlier_offers: Vec<_> = offers.into_iter().filter(|o| o.case_id != case_id).collect();
    let contact = state.desk.contact_policy();
    let contact_window = context! {
        zone => detail.customer.timezone.name(),
        hours => contact.hours.to_string(),
        weekend_hours => contact.weekend_hours.map(|w| w.to_string()),
        do_not_disturb => detail.customer.do_not_disturb,
        max_calls_per_day => contact.max_calls_per_day,
    };
    let (task, held) = task.map_or((None, false), |(t, h)| (Some(t), h));
    // Whether an offer from this page is the agent's to grant: they hold a call on the case,
    // opened from the task or not.
    // (A supervisor grants anywhere: the page asks nothing for them.)
    let now = state.clock.now();
    let on_call = held
        || !user.record.role.includes(Role::Supervisor)
            && state.desk.holds_a_call_about(conn, &user.desk_agent(), case_id, now).await?;
    // The limit as it stands now, not as it was planned: offers since have drawn on it.
    let limit = match held {
        true => {
            let limit = state.desk.compensation_limit_now(&detail.case, now).await?;
            Some(context! { fen => limit.limit, explanation => limit.explanation() })
        }
        false => None,
    };
    let offered = match notice.offer.as_deref() {
        Some("approved") => Some("补偿已批准。"),
        Some("pending") => Some("补偿已提交主管审批(超出本次权限,或不在您手上的回访中)。"),
        _ => None,
    };
    let page = context! {
        case => Value::from_serialize(&detail),
        task, held, on_call, limit, contact_window,
        contacts, case_offers, earlier_offers, offered,
        outcomes => ContactResult::ALL.iter().map(|o| o.as_str()).collect::<Vec<_>>(),
        compensation_kinds => CompensationKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
        temperaments => Temperament::ALL.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
        ..frame(user, state)
    };
    Ok(render(StatusCode::OK, "case.html", page))
}

#[derive(Debug, Deserialize)]
pub struct OutcomeForm {
    outcome: String,
    #[serde(default)]
    resolved: Option<String>,
    #[serde(default)]
    satisfaction_after: String,
    #[serde(default)]
    root_cause: String,
    #[serde(default)]
    suggestion: String,
    #[serde(default)]
    follow_up_hours: String,
}

pub async fn complete(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<String>,
    form: Result<Form<Posted<OutcomeForm>>, FormRejection>,
) -> Result<Response, PageError> {
    let form = user.accept(Role::Agent, form)?;
    let id: TaskId = parse_id(&id, "任务")?;
    let outcome = TaskOutcome {
        outcome: form.outcome.parse().map_err(|_| invalid("请选择回访结果。"))?,
        resolved: form.resolved.is_some(),
        satisfaction_after: match form.satisfaction_after.trim() {
            "" => None,
            n => Some(
                n.parse::<i64>()
                    .ok()
                    .and_then(|n| Satisfaction::new(n).ok())
                    .ok_or_else(|| invalid("修复后满意度应为 1-5。"))?,
            ),
        },
        root_cause: non_empty(form.root_cause),
        suggestion: non_empty(form.suggestion),
        verify: false,
        follow_up_hours: match form.follow_up_hours.trim() {
            "" => None,
            h => Some(
                h.parse::<i64>()
                    .ok()
                    .filter(|h| (1..=24 * 90).contains(h))
                    .ok_or_else(|| invalid("跟进时间应为 1 到 2160 小时。"))?,
            ),
        },
    };
    state.complete_task(id, &user.desk_agent(), &outcome, state.clock.now()).await?;
    Ok(see_other("/desk?done=completed"))
}

#[derive(Debug, Deserialize)]
pub struct ReleaseForm {
    #[serde(default)]
    reason: String,
    /// Minutes, or empty: callable again at once.
    #[serde(default)]
    call_after_minutes: String,
}

pub async fn release(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<String>,
    form: Result<Form<Posted<ReleaseForm>>, FormRejection>,
) -> Result<Response, PageError> {
    let form = user.accept(Role::Agent, form)?;
    let id: TaskId = parse_id(&id, "任务")?;
    let later = form.call_after_minutes.trim();
    let call_after =
        match later {
            "" => None,
            minutes => Some(minutes.parse::<i64>().map_err(|_| {
                ApiError::new(ErrorCode::InvalidRequest, format!("稍后再打的时间 `{minutes}` 不是分钟数"))
            })?),
        };
    state.desk.release(id, &user.desk_agent(), form.reason.trim(), call_after, state.clock.now()).await?;
    Ok(see_other("/desk?done=released"))
}

#[derive(Debug, Deserialize)]
pub struct OfferForm {
    kind: String,
    amount_yuan: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    task_id: String,
}

/// An offer on the case: approved at once within the agent's limit, else waiting for a decision.
pub async fn offer(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<String>,
    form: Result<Form<Posted<OfferForm>>, FormRejection>,
) -> Result<Response, PageError> {
    let form = user.accept(Role::Agent, form)?;
    let case: CaseId = parse_id(&id, "案件")?;
    let task_id: Option<TaskId> = match form.task_id.trim() {
        "" => None,
        raw => Some(parse_id(raw, "任务")?),
    };
    let request = CompensationRequest {
        kind: form.kind.parse().map_err(|_| invalid("请选择补偿方式。"))?,
        amount_fen: Money::from_yuan_text(&form.amount_yuan)
            .ok_or_else(|| invalid("金额应为大于 0 的元数,最多两位小数。"))?,
        reason: form.reason.trim().to_owned(),
        task_id,
    };
    let requested = state.desk.request_compensation(case, &user.desk_agent(), request, state.clock.now()).await?;
    let status = requested.compensation.status.as_str();
    let back = match task_id {
        Some(task) => format!("/desk/tasks/{task}?offer={status}"),
        None => format!("/desk/cases/{case}?offer={status}"),
    };
    Ok(see_other(&back))
}

#[derive(Debug, Deserialize)]
pub struct TemperamentForm {
    /// Empty: nobody's choice any more; the scheduler reads it from the texts again.
    temperament: String,
    #[serde(default)]
    back: String,
}

/// The agent's reading of the customer's temperament, heard on the call: the scripts of the
/// customer's next calls follow it (audited, as over the API).
pub async fn set_temperament(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<String>,
    form: Result<Form<Posted<TemperamentForm>>, FormRejection>,
) -> Result<Response, PageError> {
    let form = user.accept(Role::Agent, form)?;
    let case_id: CaseId = parse_id(&id, "案件")?;
    let temperament = match form.temperament.trim() {
        "" => None,
        word => Some(word.parse::<Temperament>().map_err(|_| invalid("没有这种性格"))?),
    };
    let case = mend_store::cases::case_by_id(state.store.connection(), case_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format_args!("案件 {case_id}")))?;
    let actor = user.desk_agent().actor;
    let temperament = temperament.map(Temperament::as_str);
    let now = state.clock.now();
    mend_store::customers::set_temperament(&state.store, case.customer_id, temperament, &actor, now).await?;
    Ok(see_other(&back_to(&form.back, case_id)))
}

#[derive(Debug, Deserialize)]
pub struct DoNotDisturbForm {
    /// `on`: the customer asked not to be called again; `off`: they may be (a supervisor's).
    do_not_disturb: String,
    #[serde(default)]
    back: String,
}

/// The customer asked not to be called again (any agent who hears it), or may be called again
/// (a supervisor): audited, as over the API; the queue and the scheduler honour it at once.
pub async fn set_do_not_disturb(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<String>,
    form: Result<Form<Posted<DoNotDisturbForm>>, FormRejection>,
) -> Result<Response, PageError> {
    let form = user.accept(Role::Agent, form)?;
    let case_id: CaseId = parse_id(&id, "案件")?;
    let do_not_disturb = match form.do_not_disturb.as_str() {
        "on" => true,
        "off" => false,
        _ => return Err(invalid("勿扰设置无效")),
    };
    let case = mend_store::cases::case_by_id(state.store.connection(), case_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format_args!("案件 {case_id}")))?;
    let change = mend_store::customers::ContactChange { do_not_disturb: Some(do_not_disturb), ..Default::default() };
    let reason = do_not_disturb.then_some("客户要求不再来电");
    let now = state.clock.now();
    state.desk.change_contact(&user.desk_agent(), case.customer_id, &change, reason, now).await?;
    Ok(see_other(&back_to(&form.back, case_id)))
}

#[derive(Debug, Deserialize)]
pub struct MergeForm {
    case_id: String,
    #[serde(default)]
    back: String,
}

/// Another case is the same problem: its complaints move into this one.
pub async fn merge(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<String>,
    form: Result<Form<Posted<MergeForm>>, FormRejection>,
) -> Result<Response, PageError> {
    let form = user.accept(Role::Agent, form)?;
    let into: CaseId = parse_id(&id, "案件")?;
    let from: CaseId = parse_id(form.case_id.trim(), "案件")?;
    let actor = user.desk_agent().actor;
    state.intake.merge_cases(&state.store, into, from, &actor, state.clock.now()).await.map_err(ApiError::from)?;
    Ok(see_other(&back_to(&form.back, into)))
}

#[derive(Debug, Deserialize)]
pub struct MoveForm {
    complaint_id: String,
    case_id: String,
    #[serde(default)]
    back: String,
}

/// A complaint is about another open problem of the customer's (the case its grouping reason
/// says it also fits): it moves there, and the agent stays on the page they came from.
pub async fn move_complaint(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<String>,
    form: Result<Form<Posted<MoveForm>>, FormRejection>,
) -> Result<Response, PageError> {
    let form = user.accept(Role::Agent, form)?;
    let from: CaseId = parse_id(&id, "案件")?;
    let complaint: ComplaintId = parse_id(form.complaint_id.trim(), "投诉")?;
    let into: CaseId = parse_id(form.case_id.trim(), "案件")?;
    let actor = user.desk_agent().actor;
    let now = state.clock.now();
    state.intake.move_complaints(&state.store, from, &[complaint], into, &actor, now).await.map_err(ApiError::from)?;
    Ok(see_other(&back_to(&form.back, from)))
}

/// Split complaints off a case: the form sends the checked complaints as repeated
/// `complaint_id` fields, which `serde_urlencoded` cannot gather, so the body is read by hand.
pub async fn split(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<String>,
    body: String,
) -> Result<Response, PageError> {
    let fields: Vec<(String, String)> = serde_urlencoded::from_str(&body).map_err(|_| invalid("表单内容无法读取。"))?;
    let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or_default();
    user.check_csrf(field("csrf"))?;
    user.require(Role::Agent)?;
    let case: CaseId = parse_id(&id, "案件")?;
    let complaints: Vec<ComplaintId> = fields
        .iter()
        .filter(|(k, _)| k == "complaint_id")
        .map(|(_, v)| parse_id(v, "投诉"))
        .collect::<Result<_, _>>()?;
    if complaints.is_empty() {
        return Err(invalid("请勾选要拆出的投诉。"));
    }
    let actor = user.desk_agent().actor;
    state
        .intake
        .split_case(&state.store, case, &complaints, None, &actor, state.clock.now())
        .await
        .map_err(ApiError::from)?;
    Ok(see_other(&back_to(field("back"), case)))
}

/// The page a regrouping form came from (a task's page), else the case's own.
fn back_to(back: &str, case: CaseId) -> String {
    match super::local_path(back) {
        Some(back) if back.starts_with("/desk/") => back.to_owned(),
        _ => format!("/desk/cases/{case}"),
    }
}

fn non_empty(text: String) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

fn invalid(message: &str) -> PageError {
    PageError(ApiError::new(ErrorCode::InvalidRequest, message))
}

pub(super) fn parse_id<T: std::str::FromStr>(raw: &str, what: &str) -> Result<T, PageError> {
    raw.parse().map_err(|_| PageError(ApiError::new(ErrorCode::BadRequest, format!("{what}编号 `{raw}` 无效"))))
}

/// After a form: the page to show next, fetched with GET (so a reload does not post again).
pub(super) fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}
