//! The scheduler's job runs, for supervisors watching that callbacks are generated on time.

use axum::Json;
use axum::extract::State;
use mend_core::Role;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::CurrentUser;
use crate::{ApiError, AppState};

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    job: Option<String>,
    limit: Option<u64>,
}

/// Runs newest first (start, end, outcome, counts), of one job or of all.
pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    super::QueryParams(query): super::QueryParams<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    user.require(Role::Supervisor)?;
    let limit = super::page_limit(query.limit);
    let runs = mend_store::job_runs::recent_runs(state.store.connection(), query.job.as_deref(), limit).await?;
    Ok(Json(json!({ "runs": runs })))
}
