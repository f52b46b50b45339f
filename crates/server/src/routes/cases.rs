use axum::Json;
use axum::extract::{Path, State};
use mend_core::CaseId;
use mend_store::reads::{CaseDetail, case_detail};

use crate::auth::CurrentUser;
use crate::{ApiError, AppState};

/// A case with its customer and every complaint on one timeline, each with why it joined.
pub async fn show(
    State(state): State<AppState>,
    _user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<CaseDetail>, ApiError> {
    let id: CaseId = super::parse_id(&id, "case")?;
    let detail = case_detail(state.store.connection(), id).await?;
    detail.map(Json).ok_or_else(|| ApiError::not_found(format_args!("case {id}")))
}
