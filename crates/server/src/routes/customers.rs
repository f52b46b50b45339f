use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use mend_cases::UnmergeReport;
use mend_core::{CustomerId, Role, Temperament};
use mend_store::customers::ContactChange;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::CurrentUser;
use crate::error::ErrorCode;
use crate::{ApiError, AppState};

/// Everything about a customer: keys, the complaint timeline across channels, cases, contacts,
/// compensation. A customer merged into another answers with the survivor (and says so).
pub async fn show(
    State(state): State<AppState>,
    _user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let requested: CustomerId = super::parse_id(&id, "customer")?;
    let conn = state.store.connection();
    let id = survivor(&state, requested).await?;
    let view = mend_store::customers::customer_view(conn, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format_args!("customer {requested}")))?;
    let mut body = customer_json(view)?;
    if id != requested {
        body["resolved_from"] = json!(requested);
    }
    Ok(Json(body))
}

/// The customer `requested` is now: a merged-away customer's id speaks for the customer it
/// became.
async fn survivor(state: &AppState, requested: CustomerId) -> Result<CustomerId, ApiError> {
    mend_store::customers::survivor(state.store.connection(), requested)
        .await?
        .ok_or_else(|| ApiError::not_found(format_args!("customer {requested}")))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SearchRequest {
    /// What the agent has: a phone number in any shape, a WeChat openid or unionid, a member id,
    /// a chatbot account, or a case or customer id.
    query: String,
}

/// The customers a caller's number, key or case id names, each as [`show`] gives it (phone
/// numbers masked). A POST, so that the number stays out of URLs and access logs.
pub async fn search(
    State(state): State<AppState>,
    user: CurrentUser,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let agent = super::tasks::desk_user(&user, Role::Agent)?;
    let request: SearchRequest = super::json_body(body)?;
    let conn = state.store.connection();
    let mut customers = Vec::new();
    for id in mend_cases::find_customers(&state.store, &request.query, &agent.actor, state.clock.now()).await? {
        if let Some(view) = mend_store::customers::customer_view(conn, id).await? {
            customers.push(customer_json(view)?);
        }
    }
    Ok(Json(json!({ "customers": customers })))
}

/// A customer as the API shows one: numbers masked, each case with its `case_id`.
fn customer_json(view: mend_store::customers::CustomerView) -> Result<Value, ApiError> {
    let mut body = serde_json::to_value(view.masked()).map_err(ApiError::internal)?;
    if let Some(cases) = body.get_mut("cases").and_then(Value::as_array_mut) {
        cases.iter_mut().for_each(super::cases::with_case_id);
    }
    Ok(body)
}

#[derive(Debug, Deserialize, Default, utoipa::ToSchema)]
pub struct UnmergeRequest {
    /// With a survivor's id: which merged customer to split off (default: the latest merge).
    #[schema(value_type = Option<String>, format = Uuid)]
    merged_customer_id: Option<CustomerId>,
}

/// Undoes a wrong merge (administrators).
pub async fn unmerge(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<UnmergeReport>, ApiError> {
    let admin = user.require(Role::Admin)?;
    let customer: CustomerId = super::parse_id(&id, "customer")?;
    let bytes = super::body(body)?;
    let request: UnmergeRequest = if bytes.iter().all(u8::is_ascii_whitespace) {
        UnmergeRequest::default()
    } else {
        super::json_body(Ok(bytes))?
    };
    let actor = format!("user:{}", admin.name);
    let report = state
        .intake
        .unmerge_customer(&state.store, customer, request.merged_customer_id, &actor, state.clock.now())
        .await?;
    Ok(Json(report))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct TemperamentRequest {
    /// `null` clears the choice: the scheduler infers the temperament from the texts again.
    #[schema(schema_with = crate::openapi::temperament_words)]
    temperament: Option<Temperament>,
}

/// An agent's reading of the customer's temperament, which the scripts of new calls follow.
pub async fn set_temperament(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let agent = user.require(Role::Agent)?;
    let requested: CustomerId = super::parse_id(&id, "customer")?;
    let request: TemperamentRequest = super::json_body(body)?;
    let customer = survivor(&state, requested).await?;
    let actor = format!("user:{}", agent.name);
    let temperament = request.temperament.map(Temperament::as_str);
    let set =
        mend_store::customers::set_temperament(&state.store, customer, temperament, &actor, state.clock.now()).await?;
    if !set {
        return Err(ApiError::not_found(format_args!("customer {customer}")));
    }
    Ok(Json(
        json!({"customer_id": customer, "temperament": temperament, "temperament_set_by": temperament.map(|_| actor)}),
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactRequest {
    do_not_disturb: Option<bool>,
    /// An IANA zone (`Asia/Urumqi`): the customer's contact hours are kept in it.
    timezone: Option<String>,
    tier: Option<String>,
    /// Why (audited): "客户要求不再来电".
    reason: Option<String>,
}

/// How a customer is contacted: do-not-disturb, time zone, tier (who may change what is the
/// desk's to say).
pub async fn change_contact(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let agent = super::tasks::desk_user(&user, Role::Agent)?;
    let requested: CustomerId = super::parse_id(&id, "customer")?;
    let request: ContactRequest = super::json_body(body)?;
    let change = contact_change(&state, &request)?;
    let customer = survivor(&state, requested).await?;
    let reason = request.reason.as_deref().map(str::trim).filter(|r| !r.is_empty());
    let changed = state.desk.change_contact(&agent, customer, &change, reason, state.clock.now()).await?;
    let view = mend_store::customers::customer_view(state.store.connection(), customer)
        .await?
        .ok_or_else(|| ApiError::not_found(format_args!("customer {customer}")))?;
    let mut body = customer_json(view)?;
    let cancelled: Vec<_> = changed.tasks_cancelled.iter().map(|t| t.task_id).collect();
    body["tasks_cancelled"] = json!(cancelled);
    Ok(Json(body))
}

/// The change a request asks for, each field checked: a zone chrono-tz knows, a configured tier.
fn contact_change(state: &AppState, request: &ContactRequest) -> Result<ContactChange, ApiError> {
    let invalid = |message: String| ApiError::new(ErrorCode::InvalidRequest, message);
    let timezone = request
        .timezone
        .as_deref()
        .map(|zone| zone.trim().parse::<chrono_tz::Tz>().map_err(|_| invalid(format!("`{zone}` is no IANA time zone"))))
        .transpose()?;
    let priority = &state.planner.settings.priority;
    let tier = request.tier.as_deref().map(|tier| priority.known_tier(tier).map_err(invalid)).transpose()?;
    let change = ContactChange { do_not_disturb: request.do_not_disturb, timezone, tier };
    if change == ContactChange::default() {
        return Err(invalid("say what to change: do_not_disturb, timezone or tier".into()));
    }
    Ok(change)
}
