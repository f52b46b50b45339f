use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use mend_core::{Role, TaskId, TaskOutcome, TaskStatus, UserId};
use mend_desk::{Agent, Claim};
use mend_store::tasks::TaskFilter;
use serde::Deserialize;
use serde_json::json;

use crate::auth::CurrentUser;
use crate::error::ErrorCode;
use crate::{ApiError, AppState};

/// The caller as the desk knows them, if their role is at least `role`.
pub(super) fn desk_user(user: &CurrentUser, role: Role) -> Result<Agent, ApiError> {
    let user = user.require(role)?;
    Ok(Agent { id: user.user_id, role: user.role, actor: format!("user:{}", user.name) })
}

fn agent(user: &CurrentUser) -> Result<Agent, ApiError> {
    desk_user(user, Role::Agent)
}

/// The most urgent task whose customer may be called now, leased to the caller; 204 (with
/// `Retry-After` and `X-Next-Callable-At` when a later one waits) when none may be; 409 when the
/// caller holds the most tasks one agent may (`desk.max_held_tasks`).
pub async fn claim(State(state): State<AppState>, user: CurrentUser) -> Result<Response, ApiError> {
    let agent = agent(&user)?;
    let now = state.clock.now();
    match state.claim_next_task(&agent, now).await? {
        Claim::Task(held) => Ok(Json(held).into_response()),
        Claim::NothingCallable { next_at } => {
            let mut headers = HeaderMap::new();
            if let Some(at) = next_at {
                let wait = (at - now).num_seconds().max(1);
                headers.insert("retry-after", HeaderValue::from(wait));
                if let Ok(value) = HeaderValue::from_str(&at.to_rfc3339()) {
                    headers.insert("x-next-callable-at", value);
                }
            }
            Ok((StatusCode::NO_CONTENT, headers).into_response())
        }
        Claim::HoldingTheMost { held } => Err(ApiError::new(
            ErrorCode::Conflict,
            format!(
                "你手上已有 {held} 个任务,已到同时可处理的上限:先记录结果或退回一个 \
                 (you hold {held} tasks, the most one agent may: complete or release one first)"
            ),
        )),
    }
}

pub async fn heartbeat(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let agent = agent(&user)?;
    let id: TaskId = super::parse_id(&id, "task")?;
    let until = state.desk.heartbeat(id, &agent, state.clock.now()).await?;
    Ok(Json(json!({"task_id": id, "lease_expires_at": until})))
}

#[derive(Debug, Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseRequest {
    #[serde(default)]
    reason: String,
    /// Not to be claimed again for this long (the customer asked to be called later).
    #[serde(default)]
    call_after_minutes: Option<i64>,
    /// The agent holding it, when a supervisor takes it back from them: only while they still
    /// hold it.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid)]
    holder: Option<UserId>,
}

/// Gives a held task back to the queue (`{"reason", "call_after_minutes"}`), or a supervisor
/// takes one back from the agent holding it (`{"reason", "holder"}`).
pub async fn release(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let agent = agent(&user)?;
    let id: TaskId = super::parse_id(&id, "task")?;
    let request: ReleaseRequest = super::json_body(body)?;
    let now = state.clock.now();
    match request.holder {
        Some(holder) if holder != agent.id => state.desk.take_back(id, &agent, holder, &request.reason, now).await?,
        _ => state.desk.release(id, &agent, &request.reason, request.call_after_minutes, now).await?,
    }
    Ok(Json(json!({"task_id": id, "status": TaskStatus::Open})))
}

/// What a completion may say. The stored outcome reads leniently, but a request with a misspelt
/// field (`satisfaction` for `satisfaction_after`) is refused: the rating would be lost unseen.
pub(crate) const COMPLETION_FIELDS: &[&str] =
    &["outcome", "resolved", "satisfaction_after", "root_cause", "suggestion", "verify", "follow_up_hours"];

/// Records how the call went (`{"outcome", "resolved", "satisfaction_after", "root_cause",
/// "suggestion", "follow_up_hours"}`).
pub async fn complete(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<mend_core::Task>, ApiError> {
    let agent = agent(&user)?;
    let id: TaskId = super::parse_id(&id, "task")?;
    let fields: serde_json::Map<String, serde_json::Value> = super::json_body(body)?;
    if let Some(unknown) = fields.keys().find(|k| !COMPLETION_FIELDS.contains(&k.as_str())) {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!(
                "invalid request body: unknown field `{unknown}`, expected one of {}",
                COMPLETION_FIELDS.join(", ")
            ),
        ));
    }
    let outcome: TaskOutcome = serde_json::from_value(serde_json::Value::Object(fields))
        .map_err(|e| ApiError::new(ErrorCode::InvalidRequest, format!("invalid request body: {e}")))?;
    if outcome.follow_up_hours.is_some_and(|h| !(1..=24 * 90).contains(&h)) {
        return Err(ApiError::new(ErrorCode::InvalidRequest, "follow_up_hours must be between 1 and 2160"));
    }
    Ok(Json(state.complete_task(id, &agent, &outcome, state.clock.now()).await?))
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    mine: bool,
    status: Option<TaskStatus>,
    due_before: Option<chrono::DateTime<chrono::FixedOffset>>,
    limit: Option<u64>,
}

/// An agent's own tasks (`mine=true`), or for supervisors the queue by status and due time.
pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    super::QueryParams(query): super::QueryParams<ListQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let me = user.require(Role::Agent)?;
    if !query.mine {
        user.require(Role::Supervisor)?;
    }
    let filter = TaskFilter {
        claimed_by: query.mine.then_some(me.user_id),
        status: query.status,
        due_before: super::storable_time(query.due_before, "due_before")?,
        as_of: Some(state.clock.now()),
        limit: super::page_limit(query.limit),
    };
    let tasks: Vec<mend_core::Task> = mend_store::tasks::list_tasks(state.store.connection(), &filter)
        .await?
        .into_iter()
        .map(|t| if t.claimed_by == Some(me.user_id) { t } else { t.masked() })
        .collect();
    Ok(Json(json!({ "tasks": tasks })))
}
