//! The outbox sender: claims due emails like the desk claims tasks, sends each over SMTP, and
//! records what happened. An email is never sent twice by design: a claim is a lease, and only
//! a sender that crashed (or lost the database) between the SMTP server's "250 OK" and marking
//! the row leaves it unconfirmed; the next claim sends it once more with the same Message-ID,
//! and a second unconfirmed send is given up rather than repeated.

use std::sync::Arc;

use chrono::Duration;
use mend_core::Clock;
use mend_store::Store;
use mend_store::outbox::{self, AttemptResult, EmailClaim, OutboxEmail};
use serde::Serialize;
use tracing::Instrument;

use crate::message::{build_message, message_id};
use crate::{NotifyError, NotifySettings, SendFailure, SmtpMailer};

/// What one flush did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryCounts {
    pub sent: u64,
    /// Attempts that failed and will be tried again.
    pub retried: u64,
    /// Emails given up on.
    pub failed: u64,
    /// Emails dropped unsent because what they were about no longer stands (a survey of a case
    /// that reopened, or whose link ran out).
    #[serde(skip_serializing_if = "is_zero")]
    pub withdrawn: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl DeliveryCounts {
    fn add(&mut self, other: DeliveryCounts) {
        self.sent += other.sent;
        self.retried += other.retried;
        self.failed += other.failed;
        self.withdrawn += other.withdrawn;
    }
}

/// Told of every flush that did something (metrics, say).
pub type FlushObserver = Arc<dyn Fn(&DeliveryCounts) + Send + Sync>;

pub struct OutboxSender {
    store: Store,
    mailer: SmtpMailer,
    settings: NotifySettings,
    /// Names this sender's claims: `{pid}-{random}` in `mend serve`.
    worker: String,
    /// How long a claim holds its email: what [`SmtpMailer::send`] may take (its three parts,
    /// each cut off at the SMTP timeout) and the writes around it.
    lease: Duration,
}

impl OutboxSender {
    pub fn new(store: Store, mailer: SmtpMailer, settings: NotifySettings, worker: String) -> Self {
        // The three parts of a conversation, and the writes around them.
        let part = i64::try_from(mailer.timeout().as_secs()).unwrap_or(i64::MAX / 4);
        let lease = Duration::seconds(part.saturating_mul(3).saturating_add(60));
        Self { store, mailer, settings, worker, lease }
    }

    /// Sends every email due by `clock`, one after the other, until none is left; each is tried
    /// once per flush. Each email is claimed just before its conversation, so a sender that
    /// stops (a crash, a restart) leaves one email unconfirmed, not a batch it never reached,
    /// and its lease runs from when it was taken, however long the emails before it took.
    pub async fn flush(&self, clock: &dyn Clock) -> Result<DeliveryCounts, NotifyError> {
        let mut counts = DeliveryCounts::default();
        loop {
            let now = clock.now();
            let claim = EmailClaim { worker: &self.worker, now, lease_until: now + self.lease, limit: 1 };
            let tx = self.store.begin_write().await?;
            let claimed = outbox::claim_due_emails(&tx, claim).await?;
            mend_store::commit(tx).await?;
            let Some(email) = claimed.into_iter().next() else {
                return Ok(counts);
            };
            let span =
                tracing::info_span!("email", email_id = %email.email_id, kind = %email.kind, case_id = ?email.case_id);
            counts.add(self.deliver(&email, clock).instrument(span).await?);
        }
    }

    async fn deliver(&self, email: &OutboxEmail, clock: &dyn Clock) -> Result<DeliveryCounts, NotifyError> {
        let result = match self.withdrawn(email, clock).await {
            Ok(Some(reason)) => AttemptResult::Withdrawn { reason },
            // Nothing was sent: the row goes back to the queue rather than staying `sending`
            // until its lease runs out (and then counting as an unconfirmed send).
            Err(e) => AttemptResult::Retry {
                error: format!("whether the email is still wanted could not be read: {e}"),
                next_attempt_at: clock.now() + self.settings.backoff_after(email.attempts + 1),
                unconfirmed: false,
            },
            Ok(None) if email.unconfirmed_sends > 1 => AttemptResult::Failed {
                error: format!(
                    "{} sends were never confirmed (the sender stopped, or the server did not answer in time); \
                     not sent again, lest the recipient get it three times (`mend outbox requeue \
                     --include-unconfirmed` sends it anyway)",
                    email.unconfirmed_sends
                ),
            },
            Ok(None) => self.attempt(email, clock).await,
        };
        let counts = match &result {
            AttemptResult::Sent { .. } => DeliveryCounts { sent: 1, ..DeliveryCounts::default() },
            AttemptResult::Retry { error, next_attempt_at, .. } => {
                tracing::warn!(%error, %next_attempt_at, attempts = email.attempts + 1, "email not sent, will retry");
                DeliveryCounts { retried: 1, ..DeliveryCounts::default() }
            }
            AttemptResult::Failed { error } => {
                tracing::error!(%error, attempts = email.attempts + 1, "email given up");
                DeliveryCounts { failed: 1, ..DeliveryCounts::default() }
            }
            AttemptResult::Withdrawn { reason } => {
                tracing::info!(%reason, "email withdrawn unsent");
                DeliveryCounts { withdrawn: 1, ..DeliveryCounts::default() }
            }
        };
        if !outbox::finish_attempt(self.store.connection(), email.email_id, &self.worker, result, clock.now()).await? {
            tracing::warn!("the claim on the email lapsed before its attempt was recorded");
        }
        Ok(counts)
    }

    /// Why the email is no longer to be sent, if it is not: a survey that no longer stands.
    async fn withdrawn(&self, email: &OutboxEmail, clock: &dyn Clock) -> Result<Option<String>, NotifyError> {
        let Some(survey) = email.survey_id else { return Ok(None) };
        Ok(crate::survey::standing(&self.store, survey, clock.now()).await?.err().map(|problem| problem.to_string()))
    }

    async fn attempt(&self, email: &OutboxEmail, clock: &dyn Clock) -> AttemptResult {
        let message = match build_message(email, self.mailer.from(), clock.now()) {
            Ok(message) => message,
            // A row that cannot become a message (a bad address) will not become one later.
            Err(e) => return AttemptResult::Failed { error: e.to_string() },
        };
        match self.mailer.send(message).await {
            Ok(()) => AttemptResult::Sent { message_id: message_id(email, self.mailer.from()) },
            Err(SendFailure::Permanent(error)) => AttemptResult::Failed { error },
            Err(SendFailure::Transient(error) | SendFailure::Unanswered(error))
                if email.attempts + 1 >= self.settings.max_attempts =>
            {
                AttemptResult::Failed { error: format!("gave up after {} attempts: {error}", email.attempts + 1) }
            }
            Err(failure @ (SendFailure::Transient(_) | SendFailure::Unanswered(_))) => AttemptResult::Retry {
                unconfirmed: matches!(failure, SendFailure::Unanswered(_)),
                error: failure.into_reason(),
                next_attempt_at: clock.now() + self.settings.backoff_after(email.attempts + 1),
            },
        }
    }

    /// Flushes every `poll_seconds` until the process ends, telling `observer` what each
    /// flush did.
    pub async fn run_forever(self, clock: Arc<dyn Clock>, observer: FlushObserver) {
        let mut interval = tokio::time::interval(std::time::Duration::from_secs(self.settings.poll_seconds.max(1)));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            match self.flush(clock.as_ref()).await {
                Ok(counts) if counts != DeliveryCounts::default() => {
                    observer(&counts);
                    tracing::info!(
                        sent = counts.sent,
                        retried = counts.retried,
                        failed = counts.failed,
                        "outbox flushed"
                    );
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "outbox flush failed"),
            }
        }
    }
}
