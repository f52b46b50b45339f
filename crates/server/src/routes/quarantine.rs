//! What could not be read, for administrators to fix and replay (`mend quarantine replay`).

use axum::Json;
use axum::extract::State;
use base64::Engine;
use mend_core::{QuarantineId, Role};
use mend_store::quarantine::QuarantineFilter;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::CurrentUser;
use crate::{ApiError, AppState};

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    unresolved: bool,
    channel: Option<String>,
    before: Option<String>,
    limit: Option<u64>,
}

/// Newest first; `next_before` pages on.
pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    super::QueryParams(query): super::QueryParams<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    user.require(Role::Admin)?;
    let before: Option<QuarantineId> = query.before.as_deref().map(|b| super::parse_id(b, "quarantine")).transpose()?;
    let limit = super::page_limit(query.limit);
    let filter = QuarantineFilter { unresolved: query.unresolved, channel: query.channel, before, limit };
    let rows = mend_store::quarantine::list(state.store.connection(), &filter).await?;
    let next_before = (rows.len() as u64 == limit).then(|| rows.last().map(|r| r.quarantine_id)).flatten();
    let items: Vec<Value> = rows
        .into_iter()
        .map(|r| {
            // Bytes in no encoding are `raw_base64` alone.
            let (text, encoding) = mend_ingest::readable(&r.raw);
            json!({
                "quarantine_id": r.quarantine_id,
                "channel": r.channel,
                "reason": r.reason,
                "received_at": r.received_at,
                "resolved_at": r.resolved_at,
                "size": r.raw.len(),
                "raw": encoding.map(|_| text),
                "raw_encoding": encoding,
                "raw_base64": base64::engine::general_purpose::STANDARD.encode(&r.raw),
            })
        })
        .collect();
    Ok(Json(json!({"items": items, "next_before": next_before})))
}
