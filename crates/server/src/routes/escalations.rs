//! Calls that passed their SLA: the ones a supervisor still has to see to, and acknowledging one.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use mend_core::{EscalationId, Role};
use mend_store::escalations::EscalationRecord;
use serde::Deserialize;
use serde_json::{Value, json};

use super::tasks::desk_user;
use crate::auth::CurrentUser;
use crate::{ApiError, AppState};

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    limit: Option<u64>,
}

/// Escalations nobody acknowledged whose call is still to be made, the longest overdue first,
/// and how many there are in all (`{"escalations": [...], "open": N}`).
pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    super::QueryParams(query): super::QueryParams<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    user.require(Role::Supervisor)?;
    let conn = state.store.connection();
    let escalations = mend_store::escalations::open_escalations(conn, super::page_limit(query.limit)).await?;
    let open = mend_store::escalations::count_open_escalations(conn).await?;
    Ok(Json(json!({ "escalations": escalations, "open": open })))
}

#[derive(Debug, Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcknowledgeRequest {}

/// A supervisor has seen to an escalation (arranged the call): it leaves the open list.
pub async fn acknowledge(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<EscalationRecord>, ApiError> {
    let supervisor = desk_user(&user, Role::Supervisor)?;
    let id: EscalationId = super::parse_id(&id, "escalation")?;
    let AcknowledgeRequest {} = super::json_body(body)?;
    Ok(Json(state.desk.acknowledge_escalation(id, &supervisor, state.clock.now()).await?))
}
