use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use mend_cases::UnmergeReport;
use mend_core::{CustomerId, Role, Temperament};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::CurrentUser;
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
    let id = mend_store::customers::survivor(conn, requested)
        .await?
        .ok_or_else(|| ApiError::not_found(format_args!("customer {requested}")))?;
    let view = mend_store::customers::customer_view(conn, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format_args!("customer {requested}")))?;
    let mut body = customer_json(view)?;
    if id != requested {
        body["resolved_from"] = json!(requested);
    }
    Ok(Json(body))
}

#[derive(Debug, Deserialize)]
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

#[derive(Debug, Deserialize, Default)]
pub struct UnmergeRequest {
    /// With a survivor's id: which merged customer to split off (default: the latest merge).
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

#[derive(Debug, Deserialize)]
pub struct TemperamentRequest {
    /// `null` clears the choice: the scheduler infers the temperament from the texts again.
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
    // A merged-away customer's id speaks for the customer it became, as `show` answers.
    let customer = mend_store::customers::survivor(state.store.connection(), requested)
        .await?
        .ok_or_else(|| ApiError::not_found(format_args!("customer {requested}")))?;
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
