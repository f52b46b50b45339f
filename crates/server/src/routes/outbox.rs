//! The outbox for administrators: what was sent, what waits for a retry and why, what was
//! given up; and each email rendered from sample data, to check a template before it is used.

use axum::Json;
use axum::extract::{Path, State};
use mend_core::{EmailId, EmailKind, EmailStatus, Role};
use mend_notify::EmailPreview;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::CurrentUser;
use crate::{ApiError, AppState, ErrorCode};

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    limit: Option<u64>,
    /// The `next_after` of the page before.
    after: Option<String>,
}

/// Oldest first, without bodies, a page at a time: a full page says where the next begins
/// (`next_after`).
pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    super::QueryParams(query): super::QueryParams<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    user.require(Role::Admin)?;
    let status: Option<EmailStatus> = query
        .status
        .as_deref()
        .map(|s| s.parse().map_err(|e: mend_core::UnknownWord| ApiError::bad_request(e.to_string())))
        .transpose()?;
    let after: Option<EmailId> = query.after.as_deref().map(|a| super::parse_id(a, "email")).transpose()?;
    let limit = super::page_limit(query.limit);
    let emails = mend_store::outbox::emails_after(state.store.connection(), status, after, limit).await?;
    let next_after = super::next_after(&emails, limit, |e| e.email_id);
    let counts: serde_json::Map<String, Value> = mend_store::outbox::count_by_status(state.store.connection())
        .await?
        .into_iter()
        .map(|(status, n)| (status.to_string(), json!(n)))
        .collect();
    Ok(Json(json!({"items": emails, "counts": counts, "next_after": next_after})))
}

/// `GET /api/v1/emails/{kind}/preview`: the email of `kind` from sample data.
pub async fn preview(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(kind): Path<String>,
) -> Result<Json<EmailPreview>, ApiError> {
    user.require(Role::Admin)?;
    let kind: EmailKind = kind.parse().map_err(|e: mend_core::UnknownWord| ApiError::not_found(e))?;
    let preview = mend_notify::preview(&state.mailroom.templates, kind)
        // A template an administrator broke: say where, it is theirs to fix.
        .map_err(|e| ApiError::new(ErrorCode::InvalidRequest, e.to_string()))?;
    Ok(Json(preview))
}
