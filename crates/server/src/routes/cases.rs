use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use mend_core::{CaseId, ComplaintId};
use mend_store::cases::case_detail;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::auth::CurrentUser;
use crate::{ApiError, AppState};

/// A case with its customer and every complaint on one timeline, each with why it joined.
pub async fn show(
    State(state): State<AppState>,
    _user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id: CaseId = super::parse_id(&id, "case")?;
    let detail = case_detail(state.store.connection(), id).await?;
    case_json(detail.ok_or_else(|| ApiError::not_found(format_args!("case {id}")))?.masked())
}

/// A case as the API answers it: its id as `case_id`, the name every other part of the
/// contract gives it (exports, tasks, claims, intake), and as `id`, as the case API always did.
pub(super) fn case_json(case: impl Serialize) -> Result<Json<Value>, ApiError> {
    let mut body = serde_json::to_value(case).map_err(ApiError::internal)?;
    with_case_id(&mut body);
    Ok(Json(body))
}

/// Adds `case_id` beside a serialized case's `id`.
pub(super) fn with_case_id(case: &mut Value) {
    if let Some(id) = case.get("id").cloned() {
        case["case_id"] = id;
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct MergeRequest {
    /// The case to fold into this one.
    #[schema(value_type = String, format = Uuid)]
    case_id: CaseId,
}

/// `{"case_id"}` is the same problem as this case: its complaints move here.
pub async fn merge(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let into: CaseId = super::parse_id(&id, "case")?;
    let request: MergeRequest = super::json_body(body)?;
    let actor = format!("user:{}", user.0.name);
    let case = state.intake.merge_cases(&state.store, into, request.case_id, &actor, state.clock.now()).await?;
    case_json(case)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SplitRequest {
    #[schema(value_type = Vec<String>)]
    complaint_ids: Vec<ComplaintId>,
    /// The new case's category; by default the one most of the complaints have.
    category: Option<String>,
}

/// `{"complaint_ids": […], "category"}` are another problem: they leave for a new case.
pub async fn split(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(axum::http::StatusCode, Json<Value>), ApiError> {
    let case: CaseId = super::parse_id(&id, "case")?;
    let request: SplitRequest = super::json_body(body)?;
    let actor = format!("user:{}", user.0.name);
    let now = state.clock.now();
    let split = state
        .intake
        .split_case(&state.store, case, &request.complaint_ids, request.category.as_deref(), &actor, now)
        .await?;
    Ok((axum::http::StatusCode::CREATED, case_json(split)?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct MoveRequest {
    #[schema(value_type = Vec<String>)]
    complaint_ids: Vec<ComplaintId>,
    /// The customer's open case they are about.
    #[schema(value_type = String, format = Uuid)]
    case_id: CaseId,
}

/// `{"complaint_ids": […], "case_id"}` are about another open problem of the customer's: they
/// move into its case, which comes back as it now stands.
pub async fn move_complaints(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let from: CaseId = super::parse_id(&id, "case")?;
    let request: MoveRequest = super::json_body(body)?;
    let actor = format!("user:{}", user.0.name);
    let now = state.clock.now();
    let case =
        state.intake.move_complaints(&state.store, from, &request.complaint_ids, request.case_id, &actor, now).await?;
    case_json(case)
}

#[derive(Debug, Deserialize, Default, utoipa::ToSchema)]
pub struct CloseRequest {
    #[serde(default)]
    reason: String,
}

/// The problem is repaired (`{"reason"}`).
pub async fn close(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let case: CaseId = super::parse_id(&id, "case")?;
    let request: CloseRequest = super::json_body(body)?;
    let closed = state
        .desk
        .close_case(&super::tasks::desk_user(&user, mend_core::Role::Agent)?, case, &request.reason, state.clock.now())
        .await?;
    case_json(closed)
}
