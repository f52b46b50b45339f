//! `mend schedule run` and `mend tasks export`, and the scheduler that `mend serve` runs.

use std::io::Write;
use std::sync::Arc;

use anyhow::Result;
use chrono::{DateTime, Utc};
use mend_cases::Intake;
use mend_notify::Mailroom;
use mend_scheduler::{CallbackPlanner, Job, Scheduler};
use mend_store::Store;
use serde_json::json;

use crate::settings::Settings;

/// The scripts shipped with mend: used where `scheduler.scripts_dir` lacks
/// a template, so mend runs from any directory.
const BUNDLED_SCRIPTS: &[(&str, &str)] = &[
    ("_call.j2", include_str!("../config/scripts/_call.j2")),
    ("_offer.j2", include_str!("../config/scripts/_offer.j2")),
    ("_summary.j2", include_str!("../config/scripts/_summary.j2")),
    ("_tone.j2", include_str!("../config/scripts/_tone.j2")),
    ("generic.j2", include_str!("../config/scripts/generic.j2")),
    ("app_login.j2", include_str!("../config/scripts/app_login.j2")),
    ("billing_dispute.j2", include_str!("../config/scripts/billing_dispute.j2")),
    ("broadband_outage.j2", include_str!("../config/scripts/broadband_outage.j2")),
    ("broadband_outage/impulsive.j2", include_str!("../config/scripts/broadband_outage/impulsive.j2")),
    ("installation_delay.j2", include_str!("../config/scripts/installation_delay.j2")),
    ("mobile_signal.j2", include_str!("../config/scripts/mobile_signal.j2")),
    ("other.j2", include_str!("../config/scripts/other.j2")),
    ("package_change.j2", include_str!("../config/scripts/package_change.j2")),
    ("promotion_dispute.j2", include_str!("../config/scripts/promotion_dispute.j2")),
    ("refund_delay.j2", include_str!("../config/scripts/refund_delay.j2")),
    ("slow_network.j2", include_str!("../config/scripts/slow_network.j2")),
    ("spam_and_privacy.j2", include_str!("../config/scripts/spam_and_privacy.j2")),
    ("store_attitude.j2", include_str!("../config/scripts/store_attitude.j2")),
    ("unwanted_subscription.j2", include_str!("../config/scripts/unwanted_subscription.j2")),
];

/// The email templates shipped with mend, used where `notify.templates_dir` lacks one.
const BUNDLED_EMAILS: &[(&str, &str)] = &[
    ("survey.txt.j2", include_str!("../config/emails/survey.txt.j2")),
    ("survey.html.j2", include_str!("../config/emails/survey.html.j2")),
    ("unreachable.txt.j2", include_str!("../config/emails/unreachable.txt.j2")),
    ("hotspots.txt.j2", include_str!("../config/emails/hotspots.txt.j2")),
    ("hotspots.html.j2", include_str!("../config/emails/hotspots.html.j2")),
    ("sla_alert.txt.j2", include_str!("../config/emails/sla_alert.txt.j2")),
    ("sla_alert.html.j2", include_str!("../config/emails/sla_alert.html.j2")),
    ("reopen_alert.txt.j2", include_str!("../config/emails/reopen_alert.txt.j2")),
];

pub fn planner(settings: &Settings) -> Result<Arc<CallbackPlanner>> {
    let categories = settings.taxonomy.categories.iter().map(|c| (c.id.clone(), c.name.clone()));
    Ok(Arc::new(CallbackPlanner::new(settings.scheduler.clone(), categories, BUNDLED_SCRIPTS)?))
}

/// The email templates and survey links; `now` dates the survey key if this makes it.
pub async fn mailroom(settings: &Settings, store: &Store, now: DateTime<Utc>) -> Result<Arc<Mailroom>> {
    Ok(Arc::new(Mailroom::load(store, &settings.notify, BUNDLED_EMAILS, now).await?))
}

pub fn scheduler(
    settings: &Settings,
    store: &Store,
    intake: Arc<Intake>,
    mailroom: Arc<Mailroom>,
    instance: &str,
) -> Result<Scheduler> {
    Ok(Scheduler::new(store.clone(), planner(settings)?, intake, mailroom, instance.to_owned())?)
}

async fn cli_scheduler(settings: &Settings, store: &Store, now: DateTime<Utc>) -> Result<Scheduler> {
    let mailroom = mailroom(settings, store, now).await?;
    // The jobs close cases; they record no complaint, so nothing learned needs loading.
    let intake = Arc::new(settings.untrained_intake()?);
    scheduler(settings, store, intake, mailroom, &format!("cli-{}", std::process::id()))
}

fn write_line(out: &mut impl Write, value: &impl serde::Serialize) -> Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// Runs `job` (or every job) once at `now`, one JSON line per run.
pub async fn run(
    settings: &Settings,
    store: &Store,
    job: Option<&str>,
    now: DateTime<Utc>,
    out: &mut impl Write,
) -> Result<bool> {
    let scheduler = cli_scheduler(settings, store, now).await?;
    let jobs: Vec<Job> = match job {
        Some(name) => vec![name.parse()?],
        None => Job::ALL.to_vec(),
    };
    let mut all_ok = true;
    for job in jobs {
        let report = scheduler.run_now(job, now).await?;
        all_ok &= report.outcome == mend_core::JobOutcome::Ok;
        write_line(out, &report)?;
    }
    out.flush()?;
    Ok(all_ok)
}

/// Runs the cron occurrences due at `now` that no instance ran yet, one JSON line per run.
pub async fn tick(settings: &Settings, store: &Store, now: DateTime<Utc>, out: &mut impl Write) -> Result<()> {
    let scheduler = cli_scheduler(settings, store, now).await?;
    // A clock ahead of this machine's (beyond any skew between instances) is a rehearsal: were
    // its occurrences taken, they would not run when their time really came.
    let reports = if now > mend_core::Clock::now(&mend_core::SystemClock) + chrono::Duration::minutes(5) {
        eprintln!("note: --now is ahead of this machine's clock; the runs are a rehearsal, the occurrences stay");
        scheduler.rehearse(now).await
    } else {
        scheduler.tick(now).await
    };
    for report in reports {
        write_line(out, &report)?;
    }
    out.flush()?;
    Ok(())
}

const PAGE: u64 = 1_000;

/// Every task as one JSON line: the contract's fields first, then what explains them.
pub async fn export_tasks(store: &Store, out: &mut impl Write) -> Result<u64> {
    let mut after = None;
    let mut written = 0;
    loop {
        let page = mend_store::tasks::tasks_page(store.connection(), after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.task_id);
        for t in &page {
            let line = json!({
                "task_id": t.task_id,
                "case_id": t.case_id,
                "kind": t.kind,
                "status": t.status,
                "due_at": t.due_at,
                "priority": t.priority,
                "compensation_limit_fen": t.compensation_limit,
                "script": mend_core::mask_phones_in(&t.script),
                "customer_id": t.customer_id,
                "not_before": t.not_before,
                "attempt": t.attempt,
                "category": t.category,
                "temperament": t.temperament,
                "temperament_reason": t.temperament_reason,
                "priority_reasons": t.priority_reasons,
                "limit_explanation": t.limit_explanation,
                "follows_task_id": t.follows_task_id,
                "outcome": t.outcome,
                "created_at": t.created_at,
                "completed_at": t.completed_at,
            });
            serde_json::to_writer(&mut *out, &line)?;
            out.write_all(b"\n")?;
        }
        written += page.len() as u64;
    }
    out.flush()?;
    Ok(written)
}
