//! Channel-native intakes signed with a per-channel secret: the hotline's call records, the
//! chatbot's finished sessions, the store terminals' ratings.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use mend_ingest::{Format, SIGNATURE_HEADER, verify_body_signature};
use serde_json::Value;

use crate::error::ErrorCode;
use crate::{ApiError, AppState};

pub async fn receive(
    State(state): State<AppState>,
    Path(channel): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (format, secret) = match channel.as_str() {
        "hotline" => (Format::HotlineJson, &state.secrets.hotline),
        "bot" => (Format::Bot, &state.secrets.bot),
        "store" => (Format::StoreJson, &state.secrets.store),
        other => return Err(ApiError::not_found(format_args!("intake channel `{other}`"))),
    };
    let body = super::body(body)?;
    let signature = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    let now = state.clock.now();
    if let Err(e) = verify_body_signature(secret, &body, signature, now, state.parse.signature_window) {
        state.metrics.refused(&channel);
        tracing::warn!(channel, error = %e, bytes = body.len(), "Refused an unsigned or forged delivery.");
        return Err(ApiError::new(ErrorCode::Unauthorized, e.to_string()));
    }
    let parsed = format.parse(&body, &state.parse);
    super::complaints::record(&state, &channel, mend_ingest::receive(format.label(), &body, parsed, &state.parse, now))
        .await
}
