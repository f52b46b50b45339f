//! The administrator's page: users and their roles (new ones get their password shown once),
//! payloads in quarantine with a replay button, and the callback a case would get now, to
//! preview a changed script on a real case.

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use mend_core::{CaseId, Money, QuarantineId, Role, UserId};
use mend_scheduler::Planned;
use mend_store::quarantine::QuarantineFilter;
use mend_store::users::UserKey;
use minijinja::{Value, context};
use serde::Deserialize;

use super::desk::see_other;
use super::{Button, PageError, Posted, WebUser, frame, render};
use crate::accounts::{self, AccountError};
use crate::auth::{AddUserError, UserToAdd};
use crate::{ApiError, AppState, ErrorCode};

/// Quarantined payloads listed, newest first, and how much of each is shown.
const QUARANTINE_SHOWN: u64 = 50;
const RAW_SHOWN: usize = 300;

#[derive(Debug, Deserialize, Default)]
pub struct AdminQuery {
    /// The case whose callback to preview; the largest case unless asked.
    case: Option<String>,
    replayed: Option<String>,
    /// The month whose budget was just set.
    budget_set: Option<String>,
}

pub async fn overview(
    State(state): State<AppState>,
    user: WebUser,
    Query(query): Query<AdminQuery>,
) -> Result<Response, PageError> {
    user.require(Role::Admin)?;
    let replayed = query.replayed.as_deref().map(|r| format!("重放结果:{}", super::word(r)));
    let budget_set = query.budget_set.as_deref().map(|month| format!("{month} 的补偿预算已更新。"));
    let message = replayed.or(budget_set);
    page(&state, &user, query.case.as_deref(), message, None, StatusCode::OK).await
}

async fn page(
    state: &AppState,
    user: &WebUser,
    case: Option<&str>,
    message: Option<String>,
    created: Option<Value>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let conn = state.store.connection();
    let users = mend_store::users::list_users(conn).await?;
    let filter = QuarantineFilter { unresolved: true, limit: QUARANTINE_SHOWN, ..Default::default() };
    let quarantined: Vec<Value> = mend_store::quarantine::list(conn, &filter)
        .await?
        .into_iter()
        .map(|q| {
            let (raw, _) = mend_ingest::readable(&q.raw);
            let shown: String = raw.chars().take(RAW_SHOWN).collect();
            context! {
                id => q.quarantine_id.to_string(), channel => q.channel, reason => q.reason,
                received_at => q.received_at.to_rfc3339(), seen_count => q.seen_count,
                raw => mend_core::mask_phones_in(&shown).into_owned(),
                cut => raw.chars().count() > RAW_SHOWN,
            }
        })
        .collect();
    let case_id: Option<CaseId> = match case.map(str::trim).filter(|c| !c.is_empty()) {
        Some(raw) => Some(raw.parse().map_err(|_| ApiError::bad_request(format!("案件编号 `{raw}` 无效")))?),
        None => mend_store::cases::largest_case(conn).await?,
    };
    let preview = match case_id {
        Some(id) => {
            let planned = mend_scheduler::preview_callback(&state.store, &state.planner, id, state.clock.now())
                .await
                .map_err(ApiError::internal)?;
            Some(match planned {
                None => context! { case_id => id.to_string(), missing => true },
                Some(Planned::Task { task, .. }) => {
                    context! {
                        case_id => id.to_string(),
                        script => mend_core::mask_phones_in(&task.script).into_owned(),
                        limit_fen => task.compensation_limit.fen(),
                        limit_explanation => task.limit_explanation,
                        priority => task.priority,
                        template => task.priority_reasons.script_template,
                        // What an administrator editing scripts most needs to see.
                        passed_over => Value::from_serialize(&task.priority_reasons.script_passed_over),
                    }
                }
                Some(Planned::DoNotDisturb) => context! { case_id => id.to_string(), not_planned => "客户要求勿扰" },
                Some(Planned::NoContactTime) => {
                    context! { case_id => id.to_string(), not_planned => "一年内没有可联系时间" }
                }
            })
        }
        None => None,
    };
    let roles: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
    let budget = state.desk.budget_standing(state.clock.now()).await?;
    let page = context! {
        section => "admin", users, quarantined, preview, created, message, roles,
        budget => Value::from_serialize(&budget),
        ..frame(user, state)
    };
    Ok(render(status, "admin.html", page))
}

#[derive(Debug, Deserialize)]
pub struct NewUserForm {
    #[serde(default)]
    name: String,
    role: String,
    #[serde(default)]
    team: String,
    #[serde(default)]
    email: String,
}

/// A new user; the page shows their password and API token this once.
pub async fn add_user(
    State(state): State<AppState>,
    user: WebUser,
    form: Result<Form<Posted<NewUserForm>>, FormRejection>,
) -> Result<Response, PageError> {
    let form = user.accept(Role::Admin, form)?;
    let role: Role = form.role.parse().map_err(|_| ApiError::new(ErrorCode::InvalidRequest, "请选择角色。"))?;
    let new = UserToAdd { name: form.name, role, team: Some(form.team), email: Some(form.email) };
    let (record, credentials) =
        match crate::auth::add_user(&state.store, new, &user.desk_agent().actor, state.clock.now()).await {
            Ok(created) => created,
            Err(AddUserError::Store(e)) => return Err(e.into()),
            Err(e) => {
                let message = match e {
                    AddUserError::NoName => "请填写用户名。".to_owned(),
                    AddUserError::BadName => {
                        format!("用户名最多 {} 个字符,不能有空格或控制字符。", crate::auth::MAX_NAME_CHARS)
                    }
                    AddUserError::BadTeam => {
                        format!("团队名最多 {} 个字符,不能有控制字符。", crate::auth::MAX_NAME_CHARS)
                    }
                    AddUserError::Taken(name) => format!("用户名 `{name}` 已被使用。"),
                    other => format!("邮箱无效:{other}"),
                };
                return Err(ApiError::new(ErrorCode::InvalidRequest, message).into());
            }
        };
    let created = context! { name => record.name, password => credentials.password, token => credentials.token };
    page(&state, &user, None, Some("用户已创建。密码和令牌只显示这一次。".into()), Some(created), StatusCode::CREATED)
        .await
}

/// 停用, 启用 or 重置密码 on a user's row. Deactivating ends their sessions and returns the
/// calls they hold to the queue; a reset shows the new password this once.
pub async fn change_user(
    State(state): State<AppState>,
    user: WebUser,
    Path((id, action)): Path<(String, String)>,
    form: Result<Form<Posted<Button>>, FormRejection>,
) -> Result<Response, PageError> {
    user.accept(Role::Admin, form)?;
    let id: UserId = id.parse().map_err(|_| ApiError::bad_request(format!("用户编号 `{id}` 无效")))?;
    let key = UserKey::Id(id);
    let (actor, now) = (user.desk_agent().actor, state.clock.now());
    let account_error = |e: AccountError| match e {
        AccountError::LastAdmin(name) => PageError::from(ApiError::new(
            ErrorCode::Conflict,
            format!("`{name}` 是最后一位在用的管理员,请先添加另一位。"),
        )),
        other => PageError::from(ApiError::from(other)),
    };
    let (message, created) = match action.as_str() {
        "deactivate" => {
            let done = accounts::deactivate(&state.store, &key, &actor, "", now).await.map_err(account_error)?;
            let released = done.tasks_released.len();
            (format!("已停用 {}:登录已失效,{released} 个进行中的任务已退回队列。", done.user.name), None)
        }
        "activate" => {
            let record = accounts::activate(&state.store, &key, &actor, now).await.map_err(account_error)?;
            (format!("已启用 {},可用原密码登录。", record.name), None)
        }
        "password" => {
            let (record, password, _) =
                accounts::reset_password(&state.store, &key, &actor, now).await.map_err(account_error)?;
            let shown = context! { name => record.name, password };
            ("密码已重置,只显示这一次;该用户已登录的页面需要重新登录。".to_owned(), Some(shown))
        }
        _ => return Err(ApiError::not_found("没有这个操作").into()),
    };
    page(&state, &user, None, Some(message), created, StatusCode::OK).await
}

pub async fn replay(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<String>,
    form: Result<Form<Posted<Button>>, FormRejection>,
) -> Result<Response, PageError> {
    user.accept(Role::Admin, form)?;
    let id: QuarantineId = id.parse().map_err(|_| ApiError::bad_request(format!("隔离记录编号 `{id}` 无效")))?;
    let result =
        mend_cases::replay::replay_quarantined(&state.store, &state.intake, &state.parse, id, state.clock.now())
            .await
            .map_err(ApiError::from)?;
    Ok(see_other(&format!("/admin?replayed={}", result.result())))
}

#[derive(Debug, Deserialize)]
pub struct BudgetForm {
    month: String,
    amount_yuan: String,
    #[serde(default)]
    reason: String,
}

/// A month's compensation budget: raised when it runs short, or planned ahead.
pub async fn set_budget(
    State(state): State<AppState>,
    user: WebUser,
    form: Result<Form<Posted<BudgetForm>>, FormRejection>,
) -> Result<Response, PageError> {
    let form = user.accept(Role::Admin, form)?;
    let budget = Money::from_yuan_text(&form.amount_yuan)
        .ok_or_else(|| ApiError::new(ErrorCode::InvalidRequest, "预算应为大于 0 的元数,最多两位小数。"))?;
    let month = form.month.trim();
    let admin = user.desk_agent();
    state.desk.set_month_budget(month, budget, &admin, form.reason.trim(), state.clock.now()).await?;
    Ok(see_other(&format!("/admin?budget_set={month}")))
}
