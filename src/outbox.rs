//! `mend outbox flush|list`, and the sender `mend serve` runs.

use anyhow::Result;
use mend_core::{Clock, EmailStatus};
use mend_notify::{DeliveryCounts, OutboxSender, SmtpMailer};
use mend_store::Store;

use crate::settings::Settings;

/// A sender named `worker` in claims (instances tell their claims apart by it).
pub fn sender(settings: &Settings, store: &Store, worker: &str) -> Result<OutboxSender> {
    let mailer = SmtpMailer::new(&settings.smtp)?;
    Ok(OutboxSender::new(store.clone(), mailer, settings.notify.clone(), worker.to_owned()))
}

/// Sends every email due by `clock` once, as a cron-driven deployment does instead of
/// `mend serve`'s sender.
pub async fn flush(settings: &Settings, store: &Store, clock: &dyn Clock) -> Result<DeliveryCounts> {
    let worker = format!("cli-{}-{}", std::process::id(), uuid::Uuid::now_v7().simple());
    Ok(sender(settings, store, &worker)?.flush(clock).await?)
}

/// Puts the emails given up on back in the queue (`since`: only those queued since then; never
/// a survey whose link has run out); how many.
pub async fn requeue(
    settings: &Settings,
    store: &Store,
    since: Option<chrono::DateTime<chrono::Utc>>,
    include_unconfirmed: bool,
    clock: &dyn Clock,
) -> Result<u64> {
    let now = clock.now();
    let surveys_expired_before = now - chrono::Duration::days(settings.notify.survey_valid_days);
    let which = mend_store::outbox::Requeue { since, include_unconfirmed, surveys_expired_before };
    Ok(mend_store::outbox::requeue_failed(store.connection(), which, now).await?)
}

/// The outbox's emails (oldest first) as JSON Lines, without their bodies.
pub async fn list(store: &Store, status: Option<EmailStatus>, limit: u64) -> Result<Vec<String>> {
    let emails = mend_store::outbox::emails(store.connection(), status, limit).await?;
    emails.iter().map(|e| Ok(serde_json::to_string(e)?)).collect()
}
