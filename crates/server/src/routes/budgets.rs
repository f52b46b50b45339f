//! The team's monthly compensation budget: an administrator raises a month that runs short, or
//! plans one ahead.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use mend_core::{Money, Role};
use mend_scheduler::BudgetStanding;
use serde::Deserialize;

use super::tasks::desk_user;
use crate::auth::CurrentUser;
use crate::{ApiError, AppState};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetBudget {
    /// Integer fen (100 fen = ¥1).
    #[schema(value_type = i64)]
    budget_fen: Money,
    reason: String,
}

/// `{"budget_fen", "reason"}` → the month as it stands now (`budget_fen`, `committed_fen`).
pub async fn set(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(month): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<BudgetStanding>, ApiError> {
    let admin = desk_user(&user, Role::Admin)?;
    let request: SetBudget = super::json_body(body)?;
    let now = state.clock.now();
    Ok(Json(state.desk.set_month_budget(&month, request.budget_fen, &admin, &request.reason, now).await?))
}
