use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use mend_cases::Outcome;
use mend_ingest::Received;
use serde_json::{Value, json};

use crate::auth::CurrentUser;
use crate::error::ErrorCode;
use crate::metrics::IntakeOutcome;
use crate::{ApiError, AppState};

/// The quarantine label of canonical complaints refused here.
const CHANNEL_LABEL: &str = "api";

/// One canonical complaint: 201 with its case, 200 for a repeated delivery, 422 (and
/// quarantine) for an invalid one.
pub async fn create(
    State(state): State<AppState>,
    _user: CurrentUser,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let body = super::body(body)?;
    let parsed = mend_ingest::parse_canonical(&body, &state.parse).map(|c| mend_ingest::Parsed::Complaint(Box::new(c)));
    record(&state, CHANNEL_LABEL, mend_ingest::receive(CHANNEL_LABEL, &body, parsed, &state.parse, state.clock.now()))
        .await
}

/// Records what a channel received and answers as every intake endpoint does: 201 with the
/// case of a new complaint, 200 for a repeated delivery or a record that is not a complaint,
/// 422 with the quarantine id for a payload that could not be read, 409 with the quarantine id
/// for other content under a delivery id already recorded.
pub(super) async fn record(
    state: &AppState,
    channel: &str,
    received: Received,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let delivery = match received.delivery_or_ignored() {
        Err(reason) => {
            state.metrics.record(channel, IntakeOutcome::Ignored);
            return Ok((StatusCode::OK, Json(json!({"ignored": true, "reason": reason}))));
        }
        Ok(delivery) => delivery,
    };
    let report = state.intake.record(&state.store, std::slice::from_ref(&delivery), state.clock.now()).await?;
    let outcome = report.outcomes.into_iter().next().ok_or_else(|| ApiError::internal("intake returned no outcome"))?;
    match outcome {
        Outcome::Accepted { complaint_id, case_id, customer_id, category, case_created } => {
            state.metrics.record(channel, IntakeOutcome::Accepted);
            tracing::info!(%case_id, %complaint_id, channel, case_created, "Complaint accepted.");
            Ok((
                StatusCode::CREATED,
                Json(json!({
                    "complaint_id": complaint_id, "case_id": case_id, "customer_id": customer_id,
                    "category": category, "case_created": case_created, "duplicate": false,
                })),
            ))
        }
        Outcome::Duplicate { complaint_id, case_id, customer_id } => {
            state.metrics.record(channel, IntakeOutcome::Duplicate);
            Ok((
                StatusCode::OK,
                Json(json!({
                    "complaint_id": complaint_id, "case_id": case_id, "customer_id": customer_id, "duplicate": true,
                })),
            ))
        }
        Outcome::Quarantined { quarantine_id, reason } => {
            state.metrics.record(channel, IntakeOutcome::Quarantined);
            tracing::warn!(%quarantine_id, channel, %reason, "Payload quarantined.");
            Err(ApiError::new(ErrorCode::InvalidComplaint, reason).with("quarantine_id", quarantine_id.to_string()))
        }
        Outcome::Conflict { quarantine_id, complaint_id, reason } => {
            state.metrics.record(channel, IntakeOutcome::Conflict);
            tracing::warn!(%quarantine_id, %complaint_id, channel, %reason, "Conflicting redelivery quarantined.");
            Err(ApiError::new(ErrorCode::Conflict, reason)
                .with("quarantine_id", quarantine_id.to_string())
                .with("complaint_id", complaint_id.to_string()))
        }
    }
}
