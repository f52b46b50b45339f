//! The `job_runs` table: each scheduler occurrence taken once (unique per job and time), its
//! lease, outcome, counts and cursor.

use chrono::{DateTime, Utc};
use mend_core::{JobCounts, JobOutcome, JobRunId};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;

use crate::StoreError;
use crate::bulk::went_in;
use crate::entities::job_run;
use crate::error::During;
use crate::records::{json_column, word};

const TABLE: &str = "job_runs";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobRunRecord {
    pub run_id: JobRunId,
    pub job: String,
    pub scheduled_for: DateTime<Utc>,
    pub outcome: JobOutcome,
    pub triggered_by: String,
    pub instance: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub counts: JobCounts,
    #[serde(skip)]
    pub cursor: String,
}

impl TryFrom<job_run::Model> for JobRunRecord {
    type Error = StoreError;

    fn try_from(m: job_run::Model) -> Result<Self, StoreError> {
        Ok(Self {
            run_id: JobRunId::from_uuid(m.id),
            job: m.job,
            scheduled_for: m.scheduled_for,
            outcome: word(TABLE, m.id, &m.outcome)?,
            triggered_by: m.triggered_by,
            instance: m.instance,
            started_at: m.started_at,
            finished_at: m.finished_at,
            counts: json_column(TABLE, m.id, "counts", &m.counts)?,
            cursor: m.cursor,
        })
    }
}

/// A run that is about to start: who runs which occurrence, until when the lease holds.
#[derive(Debug, Clone)]
pub struct RunClaim<'a> {
    pub job: &'a str,
    pub scheduled_for: DateTime<Utc>,
    pub triggered_by: &'a str,
    pub instance: &'a str,
    pub now: DateTime<Utc>,
    pub lease_until: DateTime<Utc>,
}

/// Takes an occurrence of a job: records it as running, or, if a run of it exists whose lease
/// ran out while still running (its instance died), takes that run over. `None`: someone else
/// has it, or it is done. Manual runs (`triggered_by` other than `cron`) always start.
pub async fn claim_run<C: ConnectionTrait>(conn: &C, claim: RunClaim<'_>) -> Result<Option<JobRunId>, StoreError> {
    let id = JobRunId::new();
    // The occurrence's own index (cron runs only): an instance that loses the race to it is
    // told so by nothing inserted, not by an error.
    let mut taken = OnConflict::columns([job_run::Column::Job, job_run::Column::ScheduledFor]);
    // In the index's own words: SQLite matches the target to a partial index only so.
    taken.target_and_where(Expr::cust("triggered_by = 'cron'")).do_nothing();
    let inserted = job_run::Entity::insert(job_run::ActiveModel {
        id: Set(id.as_uuid()),
        job: Set(claim.job.to_owned()),
        scheduled_for: Set(claim.scheduled_for),
        outcome: Set(JobOutcome::Running.as_str().to_owned()),
        instance: Set(Some(claim.instance.to_owned())),
        started_at: Set(claim.now),
        finished_at: Set(None),
        lease_expires_at: Set(Some(claim.lease_until)),
        counts: Set("{}".into()),
        triggered_by: Set(claim.triggered_by.to_owned()),
        cursor: Set(String::new()),
    })
    .on_conflict(taken)
    .try_insert()
    .exec_without_returning(conn)
    .await
    .during(TABLE, "claim_run")?;
    if went_in(inserted) {
        return Ok(Some(id));
    }
    let stale = job_run::Entity::find()
        .filter(job_run::Column::Job.eq(claim.job))
        .filter(job_run::Column::ScheduledFor.eq(claim.scheduled_for))
        .filter(job_run::Column::TriggeredBy.eq("cron"))
        .filter(job_run::Column::Outcome.eq(JobOutcome::Running.as_str()))
        .filter(job_run::Column::LeaseExpiresAt.lt(claim.now))
        .one(conn)
        .await
        .during(TABLE, "claim_run")?;
    let Some(stale) = stale else { return Ok(None) };
    let taken = job_run::Entity::update_many()
        .col_expr(job_run::Column::Instance, Expr::value(claim.instance.to_owned()))
        .col_expr(job_run::Column::StartedAt, Expr::value(claim.now))
        .col_expr(job_run::Column::LeaseExpiresAt, Expr::value(claim.lease_until))
        .filter(job_run::Column::Id.eq(stale.id))
        .filter(job_run::Column::Outcome.eq(JobOutcome::Running.as_str()))
        .filter(job_run::Column::LeaseExpiresAt.lt(claim.now))
        .exec(conn)
        .await
        .during(TABLE, "claim_run")?;
    Ok((taken.rows_affected == 1).then(|| JobRunId::from_uuid(stale.id)))
}

/// Records how a run ended.
pub async fn finish_run<C: ConnectionTrait>(
    conn: &C,
    id: JobRunId,
    outcome: JobOutcome,
    counts: &JobCounts,
    cursor: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    job_run::Entity::update_many()
        .col_expr(job_run::Column::Outcome, Expr::value(outcome.as_str()))
        .col_expr(job_run::Column::Counts, Expr::value(serde_json::to_string(counts).map_err(StoreError::Encode)?))
        .col_expr(job_run::Column::Cursor, Expr::value(cursor))
        .col_expr(job_run::Column::FinishedAt, Expr::value(now))
        .col_expr(job_run::Column::LeaseExpiresAt, Expr::value(Option::<DateTime<Utc>>::None))
        .filter(job_run::Column::Id.eq(id.as_uuid()))
        .exec(conn)
        .await
        .during(TABLE, "finish_run")?;
    Ok(())
}

/// The latest cron occurrence of a job at or before `at_or_before` that was claimed (running or
/// finished).
pub async fn last_occurrence<C: ConnectionTrait>(
    conn: &C,
    job: &str,
    at_or_before: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let run = job_run::Entity::find()
        .filter(job_run::Column::Job.eq(job))
        .filter(job_run::Column::TriggeredBy.eq("cron"))
        .filter(job_run::Column::ScheduledFor.lte(at_or_before))
        .order_by_desc(job_run::Column::ScheduledFor)
        .one(conn)
        .await
        .during(TABLE, "last_occurrence")?;
    Ok(run.map(|r| r.scheduled_for))
}

/// The latest successful run of a job that left a cursor, cron or manual, of those that ran at
/// or before `at_or_before`: a run at a clock set ahead (`--now` next year) leaves a cursor in
/// that future, which the runs of today must not start from.
pub async fn last_successful_run<C: ConnectionTrait>(
    conn: &C,
    job: &str,
    at_or_before: DateTime<Utc>,
) -> Result<Option<JobRunRecord>, StoreError> {
    let run = job_run::Entity::find()
        .filter(job_run::Column::Job.eq(job))
        .filter(job_run::Column::Outcome.eq(JobOutcome::Ok.as_str()))
        .filter(job_run::Column::Cursor.ne(""))
        .filter(job_run::Column::ScheduledFor.lte(at_or_before))
        // Newest first by id (time-ordered): the primary key, read from its end.
        .order_by_desc(job_run::Column::Id)
        .one(conn)
        .await
        .during(TABLE, "last_successful_run")?;
    run.map(JobRunRecord::try_from).transpose()
}

/// The latest runs, newest first, optionally of one job.
pub async fn recent_runs<C: ConnectionTrait>(
    conn: &C,
    job: Option<&str>,
    limit: u64,
) -> Result<Vec<JobRunRecord>, StoreError> {
    let mut query = job_run::Entity::find().order_by_desc(job_run::Column::Id).limit(limit);
    if let Some(job) = job {
        query = query.filter(job_run::Column::Job.eq(job));
    }
    query.all(conn).await.during(TABLE, "recent_runs")?.into_iter().map(JobRunRecord::try_from).collect()
}
