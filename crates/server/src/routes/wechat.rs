//! The official account's server URL (服务器地址): verification and message pushes.
//!
//! WeChat wants `success` quickly and retries anything else, so once a push is shown to be
//! WeChat's, every outcome — a complaint, a duplicate, a message that is not a complaint, a
//! payload that could not be read (quarantined) — answers `success`, or the passive reply
//! configured for a complaint-menu choice or a message that opened a case.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use mend_cases::Outcome;
use mend_core::Delivery;
use mend_ingest::wechat::{
    CallbackError, CallbackQuery, ReplyOccasion, parse_wechat, passive_reply, verify_echo, verify_push,
};
use mend_ingest::{Format, Received};
use mend_store::push_nonces::{self, NonceSeen};

use crate::error::ErrorCode;
use crate::metrics::IntakeOutcome;
use crate::{ApiError, AppState};

const CHANNEL: &str = "wechat";

fn refused(state: &AppState, e: CallbackError) -> ApiError {
    state.metrics.refused(CHANNEL);
    tracing::warn!(error = %e, "Refused a WeChat callback that is not WeChat's.");
    ApiError::new(ErrorCode::Unauthorized, e.to_string())
}

fn plain(text: String) -> Response {
    ([(CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
}

/// `success`, or the passive reply configured for `occasion` (if any) to the push `body`.
fn answer(state: &AppState, query: &CallbackQuery, body: &[u8], occasion: Option<ReplyOccasion>) -> Response {
    let reply = occasion.and_then(|o| {
        let mut random = [0u8; 16];
        rand::Rng::fill_bytes(&mut rand::rng(), &mut random);
        passive_reply(body, query, &state.parse, o, state.clock.now(), random)
    });
    match reply {
        Some(xml) => ([(CONTENT_TYPE, "application/xml; charset=utf-8")], xml).into_response(),
        None => plain("success".into()),
    }
}

/// Server verification: echo `echostr` when the signature is right.
pub async fn verify(State(state): State<AppState>, Query(query): Query<CallbackQuery>) -> Result<Response, ApiError> {
    let echo = verify_echo(&state.parse, &query, state.clock.now()).map_err(|e| refused(&state, e))?;
    Ok(plain(echo.to_owned()))
}

pub async fn push(
    State(state): State<AppState>,
    Query(query): Query<CallbackQuery>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = super::body(body)?;
    let now = state.clock.now();
    verify_push(&state.parse, &query, &body, now).map_err(|e| refused(&state, e))?;
    // Verified, so both are there. Remembered past the window, which then refuses the stamp.
    let (timestamp, nonce) = (query.timestamp.as_deref().unwrap_or(""), query.nonce.as_deref().unwrap_or(""));
    let expires_at = now + state.parse.signature_window * 2;
    let seen = push_nonces::remember(
        state.store.connection(),
        CHANNEL,
        &format!("{timestamp}:{nonce}"),
        &body,
        expires_at,
        now,
    )
    .await?;
    if seen == NonceSeen::OtherBody {
        return Err(refused(&state, CallbackError::NonceReused));
    }
    let received =
        mend_ingest::receive(Format::Wechat.label(), &body, parse_wechat(&body, &state.parse), &state.parse, now);
    let (intake, store) = (&state.intake, &state.store);
    let report = match received {
        Received::Remark(remark) => intake.record_message(store, *remark, false, state.clock.now()).await?,
        Received::Delivery(Delivery::Complaint(complaint)) => {
            intake.record_message(store, *complaint, true, state.clock.now()).await?
        }
        Received::Intent(choice) => {
            intake.note_intent(store, &choice, now).await?;
            state.metrics.record(CHANNEL, IntakeOutcome::Intent);
            return Ok(answer(&state, &query, &body, Some(ReplyOccasion::ComplaintMenu)));
        }
        other => match other.delivery_or_ignored() {
            Ok(delivery) => Some(intake.record(store, std::slice::from_ref(&delivery), state.clock.now()).await?),
            Err(_) => None,
        },
    };
    let Some(report) = report else {
        state.metrics.record(CHANNEL, IntakeOutcome::Ignored);
        return Ok(plain("success".into()));
    };
    let mut occasion = None;
    let outcome = match report.outcomes.first() {
        Some(Outcome::Accepted { case_id, case_created, .. }) => {
            tracing::info!(%case_id, channel = CHANNEL, "Complaint accepted.");
            occasion = case_created.then_some(ReplyOccasion::CaseOpened);
            IntakeOutcome::Accepted
        }
        // WeChat sends a message again when mend's answer took longer than five seconds, and
        // then shows the customer the answer to the last try only: answer it as the first.
        Some(Outcome::Duplicate { complaint_id, .. }) => {
            if mend_store::complaints::opened_its_case(store.connection(), *complaint_id).await? {
                occasion = Some(ReplyOccasion::CaseOpened);
            }
            IntakeOutcome::Duplicate
        }
        Some(Outcome::Quarantined { quarantine_id, reason }) => {
            tracing::warn!(%quarantine_id, channel = CHANNEL, %reason, "WeChat message quarantined.");
            IntakeOutcome::Quarantined
        }
        // WeChat retries a message it had no answer to with the same bytes; other content under
        // a known MsgId is kept for an operator, and WeChat needs no other answer than success.
        Some(Outcome::Conflict { quarantine_id, reason, .. }) => {
            tracing::warn!(%quarantine_id, channel = CHANNEL, %reason, "Conflicting WeChat redelivery quarantined.");
            IntakeOutcome::Conflict
        }
        None => return Err(ApiError::internal("intake returned no outcome")),
    };
    state.metrics.record(CHANNEL, outcome);
    Ok(answer(&state, &query, &body, occasion))
}
