//! One module per resource; the tree reads like the API.

mod audit;
mod budgets;
mod cases;
mod compensations;
mod complaints;
mod customers;
mod escalations;
mod health;
mod identities;
mod ingest;
mod jobs;
mod metrics;
mod outbox;
mod quarantine;
pub(crate) mod reports;
pub(crate) mod session;
mod survey;
mod tasks;
mod users;
mod wechat;

#[cfg(test)]
pub(crate) use tasks::COMPLETION_FIELDS;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use std::collections::BTreeMap;

use axum::http::Method;
use axum::routing::{MethodRouter, delete, get, post, put};
use mend_core::Role;

use crate::AppState;
use crate::error::{ApiError, ErrorCode};
use crate::openapi::{RequestBody, form, json};

/// Who may call an endpoint: anyone, a sender proven by a signature over the body, or a signed-in
/// user with at least this role. The OpenAPI document says the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Open,
    Signed,
    Role(Role),
}

/// One method on one path: how it is described and what answers it.
pub(crate) struct Endpoint {
    pub method: Method,
    pub path: &'static str,
    pub summary: &'static str,
    pub access: Access,
    /// What it reads from its body, if anything.
    pub request: Option<RequestBody>,
    handler: MethodRouter<AppState>,
}

fn endpoint(
    method: Method,
    path: &'static str,
    summary: &'static str,
    access: Access,
    handler: MethodRouter<AppState>,
) -> Endpoint {
    Endpoint { method, path, summary, access, request: None, handler }
}

impl Endpoint {
    fn body(self, request: RequestBody) -> Endpoint {
        Endpoint { request: Some(request), ..self }
    }
}

/// Every endpoint of the API, the one list the router and the OpenAPI document are built from:
/// a row an endpoint, which rustfmt would fold over several lines where the row is long.
#[rustfmt::skip]
pub(crate) fn endpoints() -> Vec<Endpoint> {
    use Access::{Open, Signed};
    use Method as M;
    let (agent, supervisor, admin) =
        (Access::Role(Role::Agent), Access::Role(Role::Supervisor), Access::Role(Role::Admin));
    vec![
        endpoint(M::GET, "/healthz", "Liveness and whether the database answers", Open, get(health::healthz)),
        endpoint(M::GET, "/metrics", "Prometheus metrics", Open, get(metrics::metrics)),
        endpoint(M::GET, "/api/v1/openapi.json", "This document", Open, get(openapi_document)),
        endpoint(M::GET, "/wechat/callback", "WeChat server verification (echostr)", Signed, get(wechat::verify)),
        endpoint(M::POST, "/wechat/callback", "WeChat message push", Signed, post(wechat::push)).body(RequestBody::Native("text/xml", "WeChat's XML push (plain or AES-encrypted, as the account is set up)")),
        endpoint(M::POST, "/api/v1/ingest/{channel}", "A hotline, chatbot or store record, HMAC-signed", Signed, post(ingest::receive)).body(RequestBody::Native("application/json", "The channel's own record as its vendor sends it (a call record, a finished chatbot session, a store rating), signed with X-Mend-Signature")),
        endpoint(M::GET, "/survey/{token}", "A satisfaction survey's page (HTML, zh-CN)", Open, get(survey::show)),
        endpoint(M::POST, "/survey/{token}", "A survey's answer (form: rating 1-5, comment)", Open, post(survey::answer)).body(form::<survey::SurveyForm>()),
        endpoint(M::POST, "/api/v1/session", "Sign in: a session token and cookie", Open, post(session::sign_in)).body(json::<session::SignIn>()),
        endpoint(M::DELETE, "/api/v1/session", "Sign out: the session is revoked", agent, delete(session::sign_out)),
        endpoint(M::PUT, "/api/v1/account/password", "Change one's own password", agent, put(users::change_own_password)).body(json::<users::PasswordChange>()),
        endpoint(M::GET, "/api/v1/users", "Every user, by name", admin, get(users::list)),
        endpoint(M::POST, "/api/v1/users", "Add a user: their password and API token, shown once", admin, post(users::create)).body(json::<users::NewUser>()),
        endpoint(M::POST, "/api/v1/users/{id}/deactivate", "Stop a user signing in; their held calls go back to the queue", admin, post(users::deactivate)).body(json::<users::DeactivateRequest>()),
        endpoint(M::POST, "/api/v1/users/{id}/activate", "Let a deactivated user sign in again", admin, post(users::activate)),
        endpoint(M::POST, "/api/v1/users/{id}/password", "A new password for a user who forgot theirs, shown once", admin, post(users::reset_password)),
        endpoint(M::POST, "/api/v1/complaints", "A canonical complaint", agent, post(complaints::create)).body(RequestBody::Json(crate::openapi::canonical_complaint)),
        endpoint(M::GET, "/api/v1/cases/{id}", "A case with its customer and complaints", agent, get(cases::show)),
        endpoint(M::POST, "/api/v1/cases/{id}/merge", "Fold another case into this one", agent, post(cases::merge)).body(json::<cases::MergeRequest>()),
        endpoint(M::POST, "/api/v1/cases/{id}/split", "Move complaints to a case of their own", agent, post(cases::split)).body(json::<cases::SplitRequest>()),
        endpoint(M::POST, "/api/v1/cases/{id}/move", "Move complaints into another open case", agent, post(cases::move_complaints)).body(json::<cases::MoveRequest>()),
        endpoint(M::POST, "/api/v1/cases/{id}/close", "Close a repaired case", agent, post(cases::close)).body(json::<cases::CloseRequest>()),
        endpoint(M::POST, "/api/v1/cases/{id}/compensations", "Offer compensation on a case", agent, post(compensations::request)).body(RequestBody::Json(crate::openapi::compensation_request)),
        endpoint(M::GET, "/api/v1/compensations", "Offers by status", supervisor, get(compensations::list)),
        endpoint(M::POST, "/api/v1/compensations/{id}/approve", "Approve a pending offer", supervisor, post(compensations::approve)).body(json::<compensations::DecisionRequest>()),
        endpoint(M::POST, "/api/v1/compensations/{id}/reject", "Reject a pending offer", supervisor, post(compensations::reject)).body(json::<compensations::DecisionRequest>()),
        endpoint(M::POST, "/api/v1/customers/search", "Customers a phone number, key or case id names", agent, post(customers::search)).body(json::<customers::SearchRequest>()),
        endpoint(M::GET, "/api/v1/customers/{id}", "A customer's 360° view", agent, get(customers::show)),
        endpoint(M::POST, "/api/v1/customers/{id}/unmerge", "Undo a wrong customer merge", admin, post(customers::unmerge)).body(json::<customers::UnmergeRequest>()),
        endpoint(M::PUT, "/api/v1/customers/{id}/temperament", "Set the customer's temperament", agent, put(customers::set_temperament)).body(json::<customers::TemperamentRequest>()),
        endpoint(M::PUT, "/api/v1/customers/{id}/contact", "Do-not-disturb, time zone and tier of a customer", agent, put(customers::change_contact)).body(json::<customers::ContactRequest>()),
        endpoint(M::POST, "/api/v1/identities/link", "Link a key to a customer", agent, post(identities::link)).body(json::<identities::LinkRequest>()),
        endpoint(M::GET, "/api/v1/escalations", "Late calls nobody has seen to, the longest overdue first", supervisor, get(escalations::list)),
        endpoint(M::POST, "/api/v1/escalations/{id}/acknowledge", "A supervisor has seen to a late call", supervisor, post(escalations::acknowledge)).body(json::<escalations::AcknowledgeRequest>()),
        endpoint(M::GET, "/api/v1/reports/queue", "The queue now: callable, late, held by whom; offers and escalations waiting; the month's budget", supervisor, get(reports::queue)),
        endpoint(M::GET, "/api/v1/reports/daily", "One day's hot issues, outcomes, satisfaction and compensation (?day=YYYY-MM-DD, yesterday unless asked)", supervisor, get(reports::daily)),
        endpoint(M::GET, "/api/v1/reports/trend", "Complaints per category per day with spikes (?days=14&until=YYYY-MM-DD)", supervisor, get(reports::trend)),
        endpoint(M::PUT, "/api/v1/budgets/{month}", "Set the team's budget for a month (YYYY-MM): this month or a later one, not below what approvals took", admin, put(budgets::set)).body(json::<budgets::SetBudget>()),
        endpoint(M::GET, "/api/v1/jobs", "Scheduler runs, newest first", supervisor, get(jobs::list)),
        endpoint(M::GET, "/api/v1/audit", "The audit log", supervisor, get(audit::list)),
        endpoint(M::GET, "/api/v1/quarantine", "Payloads that could not be read", admin, get(quarantine::list)),
        endpoint(M::GET, "/api/v1/outbox", "Emails by status, oldest first", admin, get(outbox::list)),
        endpoint(M::GET, "/api/v1/emails/{kind}/preview", "An email rendered from sample data", admin, get(outbox::preview)),
        endpoint(M::GET, "/api/v1/tasks", "Tasks: the caller's (mine=true) or the queue (supervisors)", agent, get(tasks::list)),
        endpoint(M::POST, "/api/v1/tasks/claim", "The most urgent callable task, leased (409 when the caller holds desk.max_held_tasks)", agent, post(tasks::claim)),
        endpoint(M::POST, "/api/v1/tasks/{id}/heartbeat", "Extend the lease of a held task", agent, post(tasks::heartbeat)),
        endpoint(M::POST, "/api/v1/tasks/{id}/release", "Give a held task back (a supervisor: from the agent named as holder)", agent, post(tasks::release)).body(json::<tasks::ReleaseRequest>()),
        endpoint(M::POST, "/api/v1/tasks/{id}/complete", "Record how the call went", agent, post(tasks::complete)).body(RequestBody::Json(crate::openapi::task_outcome)),
    ]
}

pub fn routes() -> Router<AppState> {
    let mut by_path: BTreeMap<&'static str, MethodRouter<AppState>> = BTreeMap::new();
    for e in endpoints() {
        let merged = match by_path.remove(e.path) {
            Some(methods) => methods.merge(e.handler),
            None => e.handler,
        };
        by_path.insert(e.path, merged);
    }
    by_path.into_iter().fold(Router::new(), |router, (path, methods)| router.route(path, methods))
}

async fn openapi_document() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(crate::openapi::document())
}

/// No such route: JSON for the API, a page (as the pages' own errors) anywhere else.
pub async fn not_found(uri: axum::http::Uri) -> axum::response::Response {
    if uri.path() == "/survey" || uri.path().starts_with("/survey/") {
        return survey::no_such_survey();
    }
    let message = if uri.path().starts_with("/api/") { "no such endpoint" } else { "没有这个页面。" };
    crate::web::error_for(uri.path(), ApiError::new(ErrorCode::NotFound, message))
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::new(ErrorCode::MethodNotAllowed, "method not allowed on this endpoint")
}

/// The request body, or the JSON error for one that is too large, too slow or cut short.
fn body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        // The rejection keeps the length limit's error to itself; its status says it.
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(ErrorCode::PayloadTooLarge, "request body is larger than http.max_body_bytes")
        } else {
            ApiError::unread_body(&rejection)
        }
    })
}

/// A JSON request body as `T`, or the JSON error that says what is wrong with it.
fn json_body<T: serde::de::DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    let body = self::body(body)?;
    // No body is an empty object: requests whose fields are all optional may send nothing.
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) { b"{}" } else { &body };
    // Every request is an object: serde would also take a struct's fields as an array in order
    // (`["gift", 100, "x"]` an offer), which no client means.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::new(ErrorCode::InvalidRequest, "invalid request body: a JSON object is expected"));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::new(ErrorCode::InvalidRequest, format!("invalid request body: {e}")))
}

/// A time a query names, in UTC, if the databases can hold it: PostgreSQL's timestamps end at
/// 4713 BC, where chrono's go on (and answered 500).
fn storable_time(
    time: Option<chrono::DateTime<chrono::FixedOffset>>,
    name: &str,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, ApiError> {
    use chrono::Datelike;
    match time {
        Some(t) if !(1..=9999).contains(&t.to_utc().year()) => {
            Err(ApiError::new(ErrorCode::InvalidRequest, format!("`{name}` must be a time in the years 1 to 9999")))
        }
        time => Ok(time.map(|t| t.to_utc())),
    }
}

/// How many items a list answers: 50 unless asked, never more than 500.
fn page_limit(requested: Option<u64>) -> u64 {
    requested.unwrap_or(50).clamp(1, 500)
}

/// Where the next page begins: after the last item of a full page (`limit` items), nowhere
/// after a shorter one.
fn next_after<T, Id>(page: &[T], limit: u64, id: impl Fn(&T) -> Id) -> Option<Id> {
    (page.len() as u64 == limit).then(|| page.last().map(id)).flatten()
}

/// A request's query string as `T`, or a JSON 400 that says what is wrong with it.
pub(crate) struct QueryParams<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(params) = Query::<T>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
        Ok(QueryParams(params))
    }
}

/// A path id, or a 400 that says which id was malformed.
fn parse_id<T: std::str::FromStr>(raw: &str, what: &str) -> Result<T, ApiError> {
    raw.parse().map_err(|_| ApiError::bad_request(format!("`{raw}` is not a valid {what} id")))
}
