//! The HTTP face of mend: the JSON API under `/api/v1`, health checks, and the workbench pages
//! agents and supervisors work in.
//!
//! This is the only crate that knows HTTP. Handlers parse the request, call the crate that owns
//! the rule (`mend-ingest`, `mend-cases`, `mend-store`), and map the answer to a status; they hold
//! no business rules of their own.

pub use axum::http::HeaderName;

pub mod accounts;
pub mod auth;
pub mod client_address;
mod error;
mod idempotency;
pub mod known_devices;
mod metrics;
mod nul_guard;
mod openapi;
mod rejections;
mod routes;
mod web;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use mend_cases::Intake;
use mend_core::Clock;
use mend_ingest::ParseSettings;
use mend_store::Store;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

pub use error::{ApiError, ErrorCode};
pub use metrics::Metrics;

/// Everything a handler may use.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub intake: Arc<Intake>,
    pub desk: Arc<mend_desk::Desk>,
    /// Who presented which token (API tokens and sessions), checked in rounds.
    pub sign_ins: Arc<auth::SignIns>,
    /// Category names, scripts and the hot-issue rules, for the dashboard and the admin pages.
    pub planner: Arc<mend_scheduler::CallbackPlanner>,
    pub parse: ParseSettings,
    pub secrets: Arc<ChannelSecrets>,
    pub metrics: Arc<Metrics>,
    /// Email templates (for the admin preview) and survey links (for the survey page).
    pub mailroom: Arc<mend_notify::Mailroom>,
    pub clock: Arc<dyn Clock>,
    /// Cookies say `Secure` (sent over HTTPS only): the desk is reached at an `https://` address
    /// (`notify.public_url`), whatever terminates TLS in front of it.
    pub secure_cookies: bool,
    /// Signs and reads the cookie that remembers a browser a person signed in from.
    pub devices: Arc<known_devices::KnownDevices>,
}

impl AppState {
    /// Today in the scheduler's zone, the zone every report's days are in.
    pub(crate) fn today(&self) -> Result<chrono::NaiveDate, ApiError> {
        let zone = self.planner.settings.zone().map_err(ApiError::internal)?;
        Ok(self.clock.now().with_timezone(&zone).date_naive())
    }

    /// The desk's claim for `agent` at `now`, counted and timed in `/metrics` (the API and the
    /// pages both claim through here).
    pub async fn claim_next_task(
        &self,
        agent: &mend_desk::Agent,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<mend_desk::Claim, mend_desk::DeskError> {
        let asked = std::time::Instant::now();
        let claim = self.desk.claim_next_task(agent, now).await?;
        self.metrics.claim(claim.answer(), asked.elapsed().as_secs_f64());
        Ok(claim)
    }

    /// The desk's completion of task `id` at `now`, counted by how the call went in `/metrics`.
    pub async fn complete_task(
        &self,
        id: mend_core::TaskId,
        agent: &mend_desk::Agent,
        outcome: &mend_core::TaskOutcome,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<mend_core::Task, mend_desk::DeskError> {
        let task = self.desk.complete(id, agent, outcome, now).await?;
        self.metrics.completion(outcome.outcome.as_str());
        Ok(task)
    }
}

/// The HMAC keys of the signed channel intakes (`[channels.*] secret`); empty refuses all.
#[derive(Debug, Clone, Default)]
pub struct ChannelSecrets {
    pub hotline: String,
    pub bot: String,
    pub store: String,
}

#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Larger request bodies are refused with 413 before they are read.
    pub max_body_bytes: usize,
    /// How long a client may take to send a request's headers, and its body: a connection that
    /// dribbles (slowloris) is closed, a body that stalls gets 408, instead of holding a task.
    pub read_timeout: std::time::Duration,
    /// Where a client's address is read behind a reverse proxy; the peer's when no header is.
    pub client_address: client_address::ClientAddressRule,
}

pub fn router(state: AppState, config: HttpConfig) -> Router {
    let idempotency = idempotency::Idempotency { state: state.clone(), max_body_bytes: config.max_body_bytes };
    routes::routes()
        .merge(web::pages())
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(idempotency, idempotency::idempotent))
        .layer(axum::middleware::from_fn_with_state(config.max_body_bytes, nul_guard::refuse_nul))
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(config.read_timeout))
        .layer(axum::middleware::from_fn(rejections::in_our_shape))
        .layer(axum::middleware::from_fn_with_state(Arc::new(config.client_address), client_address::note))
        // Answers carry customers' details (a claim's numbers in full): no cache keeps one
        // unless it says so itself (the assets), and no browser reads one as another type.
        .layer(SetResponseHeaderLayer::if_not_present(header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Serves `router` on `listener` until `shutdown` resolves, then finishes in-flight requests.
/// Each connection must send a request's headers within `config.read_timeout` (hyper's header
/// timer, which `axum::serve` does not set), or it is closed.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    config: HttpConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;

    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1.timer(TokioTimer::new()).header_read_timeout(config.read_timeout);
    let connections = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors and the like: the listener itself is fine, and the
                // connection that failed is the client's to retry.
                Err(error) => {
                    tracing::warn!(%error, "Could not accept a connection.");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // The peer, for the requests to know where they came from (`ClientAddress`).
        let service = tower::ServiceExt::map_request(router.clone(), move |mut request: axum::http::Request<_>| {
            request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
            request
        });
        let connection = http1.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = connections.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "A connection ended with an error.");
            }
        });
    }
    connections.shutdown().await;
    Ok(())
}
