//! Running jobs on their cron schedules so that each occurrence runs once however many
//! instances share the database, catching up once after downtime, and recording every run.

use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Duration, DurationRound, Utc};
use chrono_tz::Tz;
use mend_cases::Intake;
use mend_core::{JobCounts, JobOutcome, JobRunId};
use mend_notify::Mailroom;
use mend_store::Store;
use mend_store::callbacks::SweepScope;
use mend_store::job_runs::RunClaim;
use mend_store::{callbacks, job_runs};
use serde::Serialize;

use crate::SchedulerError;
use crate::follow_up;
use crate::generate::{self, CallbackPlanner};
use crate::hotspots;
use crate::reweigh;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Job {
    GenerateCallbacks,
    FollowUps,
    RetryUnreachable,
    SlaEscalation,
    Surveys,
    HotspotReport,
    BudgetRollover,
    QuarantinePurge,
    SessionPurge,
}

impl Job {
    /// In the order `mend schedule run` without a job runs them: budgets before the calls that
    /// read them, calls before the follow-ups of calls.
    pub const ALL: [Job; 9] = [
        Job::BudgetRollover,
        Job::GenerateCallbacks,
        Job::FollowUps,
        Job::RetryUnreachable,
        Job::SlaEscalation,
        Job::Surveys,
        Job::HotspotReport,
        Job::QuarantinePurge,
        Job::SessionPurge,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Job::GenerateCallbacks => "generate_callbacks",
            Job::FollowUps => "follow_ups",
            Job::RetryUnreachable => "retry_unreachable",
            Job::SlaEscalation => "sla_escalation",
            Job::Surveys => "surveys",
            Job::HotspotReport => "hotspot_report",
            Job::BudgetRollover => "budget_rollover",
            Job::QuarantinePurge => "quarantine_purge",
            Job::SessionPurge => "session_purge",
        }
    }
}

impl FromStr for Job {
    type Err = SchedulerError;

    fn from_str(s: &str) -> Result<Self, SchedulerError> {
        Job::ALL.into_iter().find(|j| j.as_str() == s).ok_or_else(|| SchedulerError::UnknownJob(s.to_owned()))
    }
}

/// One line of `mend schedule run`, and what `GET /api/v1/jobs` lists.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobRunReport {
    pub job: &'static str,
    pub scheduled_for: DateTime<Utc>,
    /// `ok` or `failed`.
    pub outcome: JobOutcome,
    pub counts: JobCounts,
}

pub struct Scheduler {
    store: Store,
    planner: Arc<CallbackPlanner>,
    intake: Arc<Intake>,
    mailroom: Arc<Mailroom>,
    schedules: Vec<(Job, cron::Schedule)>,
    tz: Tz,
    instance: String,
    on_run: Option<RunObserver>,
}

/// Told of every run this scheduler finishes (metrics, say), after it is recorded.
pub type RunObserver = Arc<dyn Fn(&JobRunReport) + Send + Sync>;

/// After downtime the missed occurrences of a job are counted up to this many, then run once.
const MAX_MISSED_COUNTED: usize = 100_000;

/// Whether a tick takes the occurrences it runs (the real clock's), or only rehearses them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Occurrences {
    Take,
    Rehearse,
}

impl Scheduler {
    pub fn new(
        store: Store,
        planner: Arc<CallbackPlanner>,
        intake: Arc<Intake>,
        mailroom: Arc<Mailroom>,
        instance: String,
    ) -> Result<Self, SchedulerError> {
        let tz = planner.settings.zone()?;
        let mut schedules = Vec::new();
        for (name, expression) in &planner.settings.jobs {
            let job: Job = name.parse()?;
            let schedule = cron::Schedule::from_str(expression)
                .map_err(|e| SchedulerError::Config(format!("scheduler.jobs.{name} = `{expression}`: {e}")))?;
            schedules.push((job, schedule));
        }
        Ok(Self { store, planner, intake, mailroom, schedules, tz, instance, on_run: None })
    }

    /// Calls `observer` with every run this scheduler finishes.
    pub fn on_run(mut self, observer: RunObserver) -> Self {
        self.on_run = Some(observer);
        self
    }

    /// Runs every job whose latest occurrence at or before `now` has not been run by any
    /// instance. An occurrence is taken by inserting its run (unique per job and time), so only
    /// one instance runs it; a job that missed several occurrences runs once, for the latest.
    pub async fn tick(&self, now: DateTime<Utc>) -> Vec<JobRunReport> {
        self.tick_as(now, Occurrences::Take).await
    }

    /// Runs what [`Scheduler::tick`] would at `now` without taking its occurrences: a rehearsal
    /// at a clock set ahead of the real one (`mend schedule tick --now` next week), whose runs
    /// are recorded as such, so that each occurrence still runs when its time really comes.
    pub async fn rehearse(&self, now: DateTime<Utc>) -> Vec<JobRunReport> {
        self.tick_as(now, Occurrences::Rehearse).await
    }

    async fn tick_as(&self, now: DateTime<Utc>, occurrences: Occurrences) -> Vec<JobRunReport> {
        let mut reports = Vec::new();
        for (job, schedule) in &self.schedules {
            match self.tick_job(*job, schedule, now, occurrences).await {
                Ok(Some(report)) => reports.push(report),
                Ok(None) => {}
                Err(e) => tracing::error!(job = job.as_str(), error = %e, "scheduler tick failed"),
            }
        }
        reports
    }

    async fn tick_job(
        &self,
        job: Job,
        schedule: &cron::Schedule,
        now: DateTime<Utc>,
        occurrences: Occurrences,
    ) -> Result<Option<JobRunReport>, SchedulerError> {
        let second = now.duration_trunc(Duration::seconds(1)).unwrap_or(now);
        let Some(latest) = schedule.after(&(second + Duration::seconds(1)).with_timezone(&self.tz)).next_back() else {
            return Ok(None);
        };
        let latest = latest.with_timezone(&Utc);
        // Occurrences taken at a clock set ahead (`schedule tick --now` next year) are not
        // today's: counting them would stop the job until that day came.
        let previous = job_runs::last_occurrence(self.store.connection(), job.as_str(), latest).await?;
        if occurrences == Occurrences::Take && previous.is_some_and(|p| p >= latest) {
            return Ok(None);
        }
        let missed = previous.map_or(0, |p| {
            schedule
                .after(&p.with_timezone(&self.tz))
                .take_while(|t| t.with_timezone(&Utc) < latest)
                .take(MAX_MISSED_COUNTED)
                .count()
        });
        let claim = RunClaim {
            job: job.as_str(),
            scheduled_for: latest,
            triggered_by: match occurrences {
                Occurrences::Take => "cron",
                Occurrences::Rehearse => "rehearsal",
            },
            instance: &self.instance,
            now,
            lease_until: now + Duration::seconds(self.planner.settings.lease_seconds),
        };
        let Some(run) = job_runs::claim_run(self.store.connection(), claim).await? else { return Ok(None) };
        let mut report = self.execute(job, run, latest, now).await?;
        if missed > 0 {
            report.counts = report.counts.count("missed_occurrences", missed);
        }
        Ok(Some(report))
    }

    /// Runs a job once now, whatever its schedule (`mend schedule run`). Every job is safe to
    /// run twice: what it creates is keyed so that a second run finds it there.
    pub async fn run_now(&self, job: Job, now: DateTime<Utc>) -> Result<JobRunReport, SchedulerError> {
        let claim = RunClaim {
            job: job.as_str(),
            scheduled_for: now,
            triggered_by: "manual",
            instance: &self.instance,
            now,
            lease_until: now + Duration::seconds(self.planner.settings.lease_seconds),
        };
        let run = job_runs::claim_run(self.store.connection(), claim)
            .await?
            .ok_or_else(|| SchedulerError::Worker("a manual run could not be recorded".into()))?;
        self.execute(job, run, now, now).await
    }

    async fn execute(
        &self,
        job: Job,
        run: JobRunId,
        scheduled_for: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<JobRunReport, SchedulerError> {
        let span = tracing::info_span!("job", job = job.as_str(), run_id = %run, %scheduled_for);
        let _entered = span.enter();
        let previous = job_runs::last_successful_run(self.store.connection(), job.as_str(), scheduled_for).await?;
        let result = self.work(job, previous.map(|r| r.cursor), scheduled_for, now).await;
        let (outcome, counts, cursor) = match result {
            Ok((counts, cursor)) => (JobOutcome::Ok, counts, cursor),
            Err(e) => {
                tracing::error!(error = %e, "job failed");
                (JobOutcome::Failed, JobCounts::default().fact("error", &e), String::new())
            }
        };
        job_runs::finish_run(self.store.connection(), run, outcome, &counts, &cursor, now).await?;
        tracing::info!(%outcome, ?counts, "job finished");
        let report = JobRunReport { job: job.as_str(), scheduled_for, outcome, counts };
        if let Some(observer) = &self.on_run {
            observer(&report);
        }
        Ok(report)
    }

    /// The job's work, given the cursor its last successful run left; returns its counts and
    /// the cursor to leave.
    async fn work(
        &self,
        job: Job,
        cursor: Option<String>,
        scheduled_for: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(JobCounts, String), SchedulerError> {
        let (store, planner, mailroom) = (&self.store, self.planner.as_ref(), self.mailroom.as_ref());
        let cursor_time = cursor
            .as_deref()
            .map(|c| {
                DateTime::parse_from_rfc3339(c).map(|t| t.to_utc()).map_err(|e| {
                    mend_store::StoreError::corrupt("job_runs", job.as_str(), format_args!("cursor `{c}`: {e}"))
                })
            })
            .transpose()?;
        // Jobs over completed work read what happened since their last run, by the clock the
        // work was recorded with; the first run looks back a month.
        let after = cursor_time.unwrap_or(now - Duration::days(30));
        let until = now.max(after);
        let since_cursor = until.to_rfc3339();
        // A call finished (by its clock) before the last run's end may have committed after that
        // run read: the jobs that follow calls up read the overlap again, and plan nothing twice.
        let reread_after = match cursor_time {
            Some(_) => after - Duration::seconds(planner.settings.generation_overlap_seconds),
            None => after,
        };
        Ok(match job {
            Job::GenerateCallbacks => {
                // Ids are stamped with the real clock when rows are made, whatever `now` says.
                let started = Utc::now();
                let scope = match cursor_time {
                    Some(last) => {
                        let floor = last - Duration::seconds(planner.settings.generation_overlap_seconds);
                        let millis = u64::try_from(floor.timestamp_millis()).unwrap_or(0);
                        SweepScope::TouchedSince(
                            uuid::Builder::from_unix_timestamp_millis(millis, &[0; 10]).into_uuid(),
                        )
                    }
                    None => SweepScope::AllOpen,
                };
                let cases = callbacks::case_ids_needing_callback(store.connection(), scope).await?;
                let counts = generate::generate_callbacks(store, &self.planner, &cases, now).await?;
                // What a change of a customer's contact asks of their calls.
                let (reweighed, resumed) = match scope {
                    SweepScope::TouchedSince(floor) => {
                        reweigh::follow_contact_changes(store, planner, floor, now).await?
                    }
                    _ => (0, 0),
                };
                let counts =
                    JobCounts::from(counts).count("tasks_reweighed", reweighed).count("checks_resumed", resumed);
                (counts, started.to_rfc3339())
            }
            Job::FollowUps => {
                (follow_up::follow_ups(store, planner, &self.intake, reread_after, until).await?, since_cursor)
            }
            Job::RetryUnreachable => (
                follow_up::retry_unreachable(store, planner, mailroom, &self.intake, reread_after, until).await?,
                since_cursor,
            ),
            Job::SlaEscalation => {
                // Reopened cases are alerted from the last run on; a first run looks back an
                // hour, not a month of old news.
                let reopened_after = cursor_time.unwrap_or(now - Duration::hours(1));
                (follow_up::sla_escalation(store, planner, mailroom, reopened_after, until).await?, since_cursor)
            }
            Job::Surveys => {
                (follow_up::surveys(store, planner, mailroom, (after, reread_after), until).await?, since_cursor)
            }
            Job::HotspotReport => {
                (hotspots::hotspot_report(store, planner, mailroom, scheduled_for).await?, String::new())
            }
            Job::BudgetRollover => (follow_up::budget_rollover(store, planner, now).await?, String::new()),
            Job::QuarantinePurge => {
                let cutoff = now - Duration::days(planner.settings.quarantine_retention_days);
                let purged = mend_store::quarantine::purge(store.connection(), cutoff).await?;
                (
                    JobCounts::default()
                        .count("purged", purged)
                        .fact("cutoff", cutoff.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
                    String::new(),
                )
            }
            Job::SessionPurge => {
                // A client retries within minutes; a day keeps every plausible retry answered.
                let keys_before = now - Duration::days(1);
                let sessions = mend_store::sessions::purge_sessions(store.connection(), now).await?;
                let keys = mend_store::idempotency_keys::purge_keys(store.connection(), keys_before).await?;
                let counts =
                    JobCounts::default().count("sessions_purged", sessions).count("idempotency_keys_purged", keys);
                (counts, String::new())
            }
        })
    }

    /// Runs the jobs on their schedules until the process ends: one tick a second.
    pub async fn run_forever(self, clock: Arc<dyn mend_core::Clock>) {
        let mut interval = tokio::time::interval(std::time::Duration::from_secs(1));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            interval.tick().await;
            self.tick(clock.now()).await;
        }
    }
}
