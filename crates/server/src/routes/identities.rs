use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use mend_cases::LinkReport;
use mend_core::{CustomerKey, IdentityKind};
use serde::Deserialize;

use crate::auth::CurrentUser;
use crate::error::ErrorCode;
use crate::{ApiError, AppState};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct LinkRequest {
    keys: Vec<KeyInput>,
    /// What says these keys are one person (`crm`, `wechat-binding`…), kept on each link.
    source: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct KeyInput {
    #[schema(schema_with = crate::openapi::identity_kind_words)]
    kind: IdentityKind,
    value: String,
}

/// `{"keys": [{"kind", "value"}…], "source"}` belong to one person: link them, merging the
/// customers they belonged to.
pub async fn link(
    State(state): State<AppState>,
    user: CurrentUser,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<LinkReport>, ApiError> {
    let request: LinkRequest = super::json_body(body)?;
    let source = request.source.trim();
    if source.is_empty() {
        return Err(ApiError::new(ErrorCode::InvalidRequest, "say where the link comes from (`source`)"));
    }
    // Stored on every link it makes; PostgreSQL cannot hold a NUL, and no source needs one.
    if source.chars().any(char::is_control) || source.len() > 200 {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "`source` is longer than 200 bytes or holds control characters",
        ));
    }
    let keys: Vec<CustomerKey> = request
        .keys
        .iter()
        .map(|k| mend_ingest::normalize_key(k.kind, &k.value))
        .collect::<Result<_, _>>()
        .map_err(|e| ApiError::new(ErrorCode::InvalidRequest, e.to_string()))?;
    let source = format!("{source} (by {})", user.0.name);
    let mut report = state
        .desk
        .link_identities(&super::tasks::desk_user(&user, mend_core::Role::Agent)?, &keys, &source, state.clock.now())
        .await?;
    for key in &mut report.linked {
        key.value = mend_core::mask_key(key.kind.as_str(), &key.value);
    }
    Ok(Json(report))
}
