use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::response::IntoResponse;

use crate::AppState;

/// The exposition: OpenMetrics to a scraper that asks for it (Prometheus does), else the
/// Prometheus text format (version 0.0.4) that `curl` and simple parsers expect. The samples
/// read the same in both; only the closing `# EOF` is OpenMetrics' own.
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> impl IntoResponse {
    // A database that does not answer leaves the standing gauges as they were: the counters of
    // this instance are still worth a scrape (and /healthz says what is wrong).
    if let Ok(_reading) = state.metrics.reading.try_lock() {
        match standing(&state).await {
            Ok((queue, outbox)) => state.metrics.standing(&queue, &outbox),
            Err(e) => tracing::warn!(error = %e, "The standing gauges could not be read for /metrics."),
        }
    }
    let body = state.metrics.encode();
    let accept = headers.get(ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if accept.contains("application/openmetrics-text") {
        return ([(CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], body);
    }
    let text = body.strip_suffix("# EOF\n").map(str::to_owned).unwrap_or(body);
    ([(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text)
}

type Standing = (mend_desk::QueueReport, Vec<(mend_core::EmailStatus, i64)>);

async fn standing(state: &AppState) -> Result<Standing, mend_desk::DeskError> {
    let queue = state.desk.queue_report(state.clock.now()).await?;
    let outbox = mend_store::outbox::count_by_status(state.store.connection()).await?;
    Ok((queue, outbox))
}
