use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

use crate::AppState;

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    // A database that does not answer leaves the standing gauges as they were: the counters of
    // this instance are still worth a scrape (and /healthz says what is wrong).
    if let Ok(_reading) = state.metrics.reading.try_lock() {
        match standing(&state).await {
            Ok((queue, outbox)) => state.metrics.standing(&queue, &outbox),
            Err(e) => tracing::warn!(error = %e, "The standing gauges could not be read for /metrics."),
        }
    }
    ([(CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], state.metrics.encode())
}

type Standing = (mend_desk::QueueReport, Vec<(mend_core::EmailStatus, i64)>);

async fn standing(state: &AppState) -> Result<Standing, mend_desk::DeskError> {
    let queue = state.desk.queue_report(state.clock.now()).await?;
    let outbox = mend_store::outbox::count_by_status(state.store.connection()).await?;
    Ok((queue, outbox))
}
