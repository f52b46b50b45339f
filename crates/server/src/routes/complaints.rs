use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use mend_cases::Outcome;
use serde_json::{Value, json};

use crate::error::ErrorCode;
use crate::{ApiError, AppState};

/// The quarantine label of payloads refused here.
const CHANNEL_LABEL: &str = "api";

/// One canonical complaint: 201 with its case, 200 for a repeated delivery, 422 (and
/// quarantine) for an invalid one.
pub async fn create(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let body = super::body(body)?;
    let parsed = mend_ingest::parse_canonical(&body, &state.parse);
    let delivery = mend_ingest::into_delivery(CHANNEL_LABEL, &body, parsed);
    let report = state.intake.record(&state.store, std::slice::from_ref(&delivery), state.clock.now()).await?;
    let outcome = report.outcomes.into_iter().next().ok_or_else(|| ApiError::internal("intake returned no outcome"))?;
    match outcome {
        Outcome::Accepted { complaint_id, case_id, customer_id, category, case_created } => {
            tracing::info!(%case_id, %complaint_id, case_created, "Complaint accepted.");
            Ok((
                StatusCode::CREATED,
                Json(json!({
                    "complaint_id": complaint_id, "case_id": case_id, "customer_id": customer_id,
                    "category": category, "case_created": case_created, "duplicate": false,
                })),
            ))
        }
        Outcome::Duplicate { complaint_id, case_id, customer_id } => Ok((
            StatusCode::OK,
            Json(json!({
                "complaint_id": complaint_id, "case_id": case_id, "customer_id": customer_id, "duplicate": true,
            })),
        )),
        Outcome::Quarantined { quarantine_id, reason } => {
            Err(ApiError::new(ErrorCode::InvalidComplaint, reason).with("quarantine_id", quarantine_id.to_string()))
        }
    }
}
