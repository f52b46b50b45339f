use axum::Json;
use axum::extract::State;
use mend_core::Role;
use mend_store::audit::AuditFilter;
use serde::Deserialize;
use serde_json::json;

use crate::auth::CurrentUser;
use crate::{ApiError, AppState};

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    /// `task`, `case`, `compensation`… or one of them: `task:<id>`.
    entity: Option<String>,
    /// As the log names people: `user:wang`, `scheduler`.
    actor: Option<String>,
    since: Option<chrono::DateTime<chrono::FixedOffset>>,
    limit: Option<u64>,
}

/// The audit log, oldest first: who changed what, when, from what to what.
pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    super::QueryParams(query): super::QueryParams<ListQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    user.require(Role::Supervisor)?;
    let (subject_kind, subject_id) = match query.entity.as_deref().map(|e| e.split_once(':').unwrap_or((e, ""))) {
        None => (None, None),
        Some((kind, "")) => (Some(kind.to_owned()), None),
        Some((kind, id)) => (Some(kind.to_owned()), Some(super::parse_id::<uuid::Uuid>(id, "entity")?)),
    };
    let filter = AuditFilter {
        subject_kind,
        subject_id,
        actor: query.actor,
        since: super::storable_time(query.since, "since")?,
        limit: super::page_limit(query.limit),
    };
    let entries = mend_store::audit::audit_entries(state.store.connection(), &filter).await?;
    Ok(Json(json!({ "entries": entries })))
}
