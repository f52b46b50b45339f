//! One module per resource; the tree reads like the API.

mod audit;
mod cases;
mod compensations;
mod complaints;
mod customers;
mod health;
mod identities;
mod ingest;
mod jobs;
mod metrics;
mod quarantine;
mod session;
mod tasks;
mod wechat;

use axum::Router;
use axum::body::Bytes;
use axum::extract::Query;
use axum::extract::rejection::BytesRejection;
use axum::extract::rejection::QueryRejection;
use axum::routing::{get, post, put};

use crate::AppState;
use crate::error::{ApiError, ErrorCode};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(metrics::metrics))
        .route("/wechat/callback", get(wechat::verify).post(wechat::push))
        .route("/api/v1/session", post(session::sign_in).delete(session::sign_out))
        .route("/api/v1/complaints", post(complaints::create))
        .route("/api/v1/ingest/{channel}", post(ingest::receive))
        .route("/api/v1/cases/{id}", get(cases::show))
        .route("/api/v1/cases/{id}/merge", post(cases::merge))
        .route("/api/v1/cases/{id}/split", post(cases::split))
        .route("/api/v1/cases/{id}/close", post(cases::close))
        .route("/api/v1/cases/{id}/compensations", post(compensations::request))
        .route("/api/v1/compensations", get(compensations::list))
        .route("/api/v1/compensations/{id}/approve", post(compensations::approve))
        .route("/api/v1/compensations/{id}/reject", post(compensations::reject))
        .route("/api/v1/customers/{id}", get(customers::show))
        .route("/api/v1/customers/{id}/unmerge", post(customers::unmerge))
        .route("/api/v1/customers/{id}/temperament", put(customers::set_temperament))
        .route("/api/v1/identities/link", post(identities::link))
        .route("/api/v1/jobs", get(jobs::list))
        .route("/api/v1/audit", get(audit::list))
        .route("/api/v1/quarantine", get(quarantine::list))
        .route("/api/v1/tasks", get(tasks::list))
        .route("/api/v1/tasks/claim", post(tasks::claim))
        .route("/api/v1/tasks/{id}/heartbeat", post(tasks::heartbeat))
        .route("/api/v1/tasks/{id}/release", post(tasks::release))
        .route("/api/v1/tasks/{id}/complete", post(tasks::complete))
}

pub async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such endpoint")
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::new(ErrorCode::MethodNotAllowed, "method not allowed on this endpoint")
}

/// The request body, or the JSON error for one that is too large or cut short.
fn body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(ErrorCode::PayloadTooLarge, "request body is larger than http.max_body_bytes")
        } else {
            ApiError::bad_request(rejection.body_text())
        }
    })
}

/// A JSON request body as `T`, or the JSON error that says what is wrong with it.
fn json_body<T: serde::de::DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    let body = self::body(body)?;
    serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(ErrorCode::InvalidRequest, format!("invalid request body: {e}")))
}

/// How many items a list answers: 50 unless asked, never more than 500.
fn page_limit(requested: Option<u64>) -> u64 {
    requested.unwrap_or(50).clamp(1, 500)
}

/// Query parameters as `T`, or the JSON error that says which one is wrong.
fn query<T>(query: Result<Query<T>, QueryRejection>) -> Result<Query<T>, ApiError> {
    query.map_err(|rejection| ApiError::bad_request(rejection.body_text()))
}

/// A path id, or a 400 that says which id was malformed.
fn parse_id<T: std::str::FromStr>(raw: &str, what: &str) -> Result<T, ApiError> {
    raw.parse().map_err(|_| ApiError::bad_request(format!("`{raw}` is not a valid {what} id")))
}
