//! `/metrics` in the Prometheus text format.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IntakeLabels {
    channel: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChannelLabels {
    channel: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    job: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobNameLabels {
    job: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AnswerLabels {
    answer: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: &'static str,
}

/// Seconds a claim took, as buckets: an agent notices a claim from about a tenth of a second.
const CLAIM_BUCKETS: [f64; 10] = [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0];

/// What happened to one record offered on a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntakeOutcome {
    Accepted,
    Duplicate,
    Quarantined,
    /// Other content under a delivery id already recorded (quarantined too).
    Conflict,
    Ignored,
    /// A customer chose to complain (WeChat's menu): their next messages are the complaint.
    Intent,
}

impl IntakeOutcome {
    fn as_str(self) -> &'static str {
        match self {
            IntakeOutcome::Accepted => "accepted",
            IntakeOutcome::Duplicate => "duplicate",
            IntakeOutcome::Quarantined => "quarantined",
            IntakeOutcome::Conflict => "conflict",
            IntakeOutcome::Ignored => "ignored",
            IntakeOutcome::Intent => "intent",
        }
    }
}

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    intake: Family<IntakeLabels, Counter>,
    refused: Family<ChannelLabels, Counter>,
    job_runs: Family<JobLabels, Counter>,
    job_finished: Family<JobNameLabels, Gauge>,
    emails: Family<OutcomeLabels, Counter>,
    claims: Family<AnswerLabels, Counter>,
    claim_seconds: Histogram,
    completions: Family<OutcomeLabels, Counter>,
    queue: Family<StateLabels, Gauge>,
    pending_compensations: Gauge,
    open_escalations: Gauge,
    outbox: Family<StatusLabels, Gauge>,
    /// Held while the standing gauges are read: scrapes that come meanwhile serve the last
    /// figures rather than query again (the endpoint is open).
    pub(crate) reading: tokio::sync::Mutex<()>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("mend");
        let intake = Family::<IntakeLabels, Counter>::default();
        registry.register("intake_records", "Records offered on a channel, by what became of them", intake.clone());
        let refused = Family::<ChannelLabels, Counter>::default();
        registry.register(
            "intake_refused",
            "Requests refused because their signature is missing or wrong (forged or misconfigured senders)",
            refused.clone(),
        );
        let job_runs = Family::<JobLabels, Counter>::default();
        registry.register("job_runs", "Scheduler job runs this instance made, by outcome", job_runs.clone());
        let job_finished = Family::<JobNameLabels, Gauge>::default();
        registry.register(
            "job_last_finished_timestamp_seconds",
            "When this instance last finished a run of the job (alert when it falls behind its schedule)",
            job_finished.clone(),
        );
        let emails = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "emails",
            "Email attempts this instance's sender made: sent, retried (will try again), failed (given up) or \
             withdrawn (dropped unsent: a survey of a case that reopened, or whose link ran out)",
            emails.clone(),
        );
        // Every outcome is exported from the start, at 0, so an alert on `failed` has a series.
        for outcome in ["sent", "retried", "failed", "withdrawn"] {
            let _ = emails.get_or_create(&OutcomeLabels { outcome });
        }
        let claims = Family::<AnswerLabels, Counter>::default();
        registry.register(
            "desk_claims",
            "Claims this instance answered: with a task, nothing callable now, or the agent holding the most tasks one may",
            claims.clone(),
        );
        let claim_seconds = Histogram::new(CLAIM_BUCKETS);
        registry.register("desk_claim_seconds", "How long this instance took to answer a claim", claim_seconds.clone());
        let completions = Family::<OutcomeLabels, Counter>::default();
        registry.register("desk_completions", "Calls recorded on this instance, by how they went", completions.clone());
        for answer in mend_desk::Claim::ANSWERS {
            let _ = claims.get_or_create(&AnswerLabels { answer });
        }
        // The database's standing, read at each scrape (so the same from every instance): what an
        // alert on a backlog needs.
        let queue = Family::<StateLabels, Gauge>::default();
        registry.register(
            "queue_tasks",
            "Tasks still to be worked: due (their time has come, nobody holds them), later, overdue (past the SLA grace), held",
            queue.clone(),
        );
        let pending_compensations = Gauge::default();
        registry.register(
            "compensations_pending",
            "Offers waiting for a supervisor or an administrator",
            pending_compensations.clone(),
        );
        let open_escalations = Gauge::default();
        registry.register(
            "escalations_open",
            "Late calls escalated that nobody acknowledged and that are still to be made",
            open_escalations.clone(),
        );
        let outbox = Family::<StatusLabels, Gauge>::default();
        registry.register("outbox_emails", "Emails in the outbox by status", outbox.clone());
        Self {
            registry,
            intake,
            refused,
            job_runs,
            job_finished,
            emails,
            claims,
            claim_seconds,
            completions,
            queue,
            pending_compensations,
            open_escalations,
            outbox,
            reading: tokio::sync::Mutex::new(()),
        }
    }
}

impl Metrics {
    pub fn record(&self, channel: &str, outcome: IntakeOutcome) {
        let labels = IntakeLabels { channel: channel.to_owned(), outcome: outcome.as_str().to_owned() };
        self.intake.get_or_create(&labels).inc();
    }

    pub fn refused(&self, channel: &str) {
        self.refused.get_or_create(&ChannelLabels { channel: channel.to_owned() }).inc();
    }

    /// A scheduler job run this instance made (`outcome`: ok or failed), finished at
    /// `finished_at` (Unix seconds).
    pub fn job_run(&self, job: &str, outcome: &str, finished_at: i64) {
        self.job_runs.get_or_create(&JobLabels { job: job.to_owned(), outcome: outcome.to_owned() }).inc();
        self.job_finished.get_or_create(&JobNameLabels { job: job.to_owned() }).set(finished_at);
    }

    /// The queue, the offers and escalations waiting, and the outbox as the database has them
    /// now (the budget stays off this open endpoint: `/api/v1/reports/queue` has it).
    pub fn standing(&self, queue: &mend_desk::QueueReport, outbox: &[(mend_core::EmailStatus, i64)]) {
        let held: i64 = queue.held_by.iter().map(|h| h.tasks).sum();
        for (state, n) in [("due", queue.due), ("later", queue.later), ("overdue", queue.overdue), ("held", held)] {
            self.queue.get_or_create(&StateLabels { state }).set(n);
        }
        self.pending_compensations.set(i64::try_from(queue.pending_compensations).unwrap_or(i64::MAX));
        self.open_escalations.set(i64::try_from(queue.open_escalations).unwrap_or(i64::MAX));
        for (status, n) in outbox {
            self.outbox.get_or_create(&StatusLabels { status: status.as_str() }).set(*n);
        }
    }

    /// What one flush of the outbox did.
    pub fn emails(&self, counts: &mend_notify::DeliveryCounts) {
        let outcomes = [
            ("sent", counts.sent),
            ("retried", counts.retried),
            ("failed", counts.failed),
            ("withdrawn", counts.withdrawn),
        ];
        for (outcome, n) in outcomes {
            self.emails.get_or_create(&OutcomeLabels { outcome }).inc_by(n);
        }
    }

    /// A claim answered after `seconds`: with a task, nothing callable, or the agent holding the
    /// most tasks one may ([`mend_desk::Claim::answer`]).
    pub fn claim(&self, answer: &'static str, seconds: f64) {
        self.claims.get_or_create(&AnswerLabels { answer }).inc();
        self.claim_seconds.observe(seconds);
    }

    /// A call recorded, by how it went (reached, unreachable, wrong_number, refused).
    pub fn completion(&self, outcome: &'static str) {
        self.completions.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_appear_in_the_text_format() {
        let metrics = Metrics::default();
        metrics.record("wechat", IntakeOutcome::Accepted);
        metrics.record("wechat", IntakeOutcome::Accepted);
        metrics.refused("hotline");
        metrics.job_run("generate_callbacks", "ok", 1_795_000_000);
        metrics.job_run("generate_callbacks", "ok", 1_795_000_060);
        metrics.emails(&mend_notify::DeliveryCounts { sent: 3, retried: 2, failed: 0, withdrawn: 0 });
        metrics.emails(&mend_notify::DeliveryCounts { sent: 1, retried: 0, failed: 1, withdrawn: 1 });
        metrics.claim("task", 0.004);
        metrics.claim("task", 0.03);
        metrics.completion("reached");
        let text = metrics.encode();
        assert!(text.contains(r#"mend_desk_claims_total{answer="task"} 2"#), "{text}");
        assert!(text.contains(r#"mend_desk_claims_total{answer="nothing_callable"} 0"#), "{text}");
        assert!(text.contains(r#"mend_desk_claim_seconds_bucket{le="0.005"} 1"#), "{text}");
        assert!(text.contains(r#"mend_desk_claim_seconds_bucket{le="0.05"} 2"#), "{text}");
        assert!(text.contains("mend_desk_claim_seconds_count 2"), "{text}");
        assert!(text.contains(r#"mend_desk_completions_total{outcome="reached"} 1"#), "{text}");
        assert!(text.contains(r#"mend_emails_total{outcome="sent"} 4"#), "{text}");
        assert!(text.contains(r#"mend_emails_total{outcome="retried"} 2"#), "{text}");
        assert!(text.contains(r#"mend_emails_total{outcome="failed"} 1"#), "{text}");
        assert!(text.contains(r#"mend_intake_records_total{channel="wechat",outcome="accepted"} 2"#), "{text}");
        assert!(text.contains(r#"mend_intake_refused_total{channel="hotline"} 1"#), "{text}");
        assert!(text.contains("# TYPE mend_intake_records counter"), "{text}");
        assert!(text.contains(r#"mend_job_runs_total{job="generate_callbacks",outcome="ok"} 2"#), "{text}");
        assert!(
            text.contains(r#"mend_job_last_finished_timestamp_seconds{job="generate_callbacks"} 1795000060"#),
            "{text}"
        );
    }
}
