use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::{ApiError, AppState};

/// Up and able to reach its database.
pub async fn healthz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state.store.ping().await?;
    Ok(Json(json!({ "status": "ok" })))
}
