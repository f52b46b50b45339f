use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use mend_core::{CaseId, Compensation, CompensationId, CompensationStatus, Role};
use mend_desk::{CompensationRequest, RequestedCompensation};
use serde::Deserialize;
use serde_json::json;

use super::tasks::desk_user;
use crate::auth::CurrentUser;
use crate::{ApiError, AppState, ErrorCode};

/// An offer on a case (`{"kind", "amount_fen", "reason", "task_id"?}`): approved at once within
/// the agent's limit, else pending for a supervisor or an administrator.
pub async fn request(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<RequestedCompensation>), ApiError> {
    let agent = desk_user(&user, Role::Agent)?;
    let case: CaseId = super::parse_id(&id, "case")?;
    let request: CompensationRequest = super::json_body(body)?;
    let requested = state.desk.request_compensation(case, &agent, request, state.clock.now()).await?;
    Ok((StatusCode::CREATED, Json(requested)))
}

#[derive(Debug, Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    #[serde(default)]
    reason: String,
    /// Not a field of a decision: an approval is of the whole offer. Sent, it is refused rather
    /// than ignored, or "approve ¥45 of it" would approve all of it.
    #[serde(default)]
    #[schema(ignore)]
    amount_fen: Option<serde::de::IgnoredAny>,
}

pub async fn approve(
    state: State<AppState>,
    user: CurrentUser,
    id: Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Compensation>, ApiError> {
    decide(state, user, id, body, CompensationStatus::Approved).await
}

pub async fn reject(
    state: State<AppState>,
    user: CurrentUser,
    id: Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Compensation>, ApiError> {
    decide(state, user, id, body, CompensationStatus::Rejected).await
}

async fn decide(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
    decision: CompensationStatus,
) -> Result<Json<Compensation>, ApiError> {
    let decider = desk_user(&user, Role::Supervisor)?;
    let id: CompensationId = super::parse_id(&id, "compensation")?;
    let request: DecisionRequest = super::json_body(body)?;
    if request.amount_fen.is_some() {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "审批针对整笔补偿,不能改金额:请驳回并让坐席重新提出 \
             (a decision is on the whole offer; amount_fen cannot change it: reject it and ask for a new offer)",
        ));
    }
    let decided = state.desk.decide_compensation(id, &decider, decision, &request.reason, state.clock.now()).await?;
    Ok(Json(decided))
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    status: Option<CompensationStatus>,
    after: Option<String>,
    limit: Option<u64>,
}

/// Offers by status, oldest first (`?status=pending`: what waits for a decision); a full page
/// says where the next begins (`next_after`), so no waiting offer is missed past the first.
pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    super::QueryParams(query): super::QueryParams<ListQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    user.require(Role::Supervisor)?;
    let after: Option<CompensationId> =
        query.after.as_deref().map(|a| super::parse_id(a, "compensation")).transpose()?;
    let limit = super::page_limit(query.limit);
    let conn = state.store.connection();
    let offers = mend_store::compensations::list_compensations(conn, query.status, after, limit).await?;
    let next_after = super::next_after(&offers, limit, |o| o.compensation_id);
    Ok(Json(json!({ "compensations": offers, "next_after": next_after })))
}
