//! The `outbox` table: emails queued once per dedupe key, claimed by senders like tasks, and
//! marked sent, retried or failed.

use chrono::{DateTime, Utc};
use mend_core::{CaseId, EmailId, EmailKind, EmailStatus, InlinePart, SurveyId};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Statement,
};
use serde::Serialize;

use crate::StoreError;
use crate::bulk::{self, went_in};
use crate::entities::outbox;
use crate::error::During;
use crate::records::word;

const TABLE: &str = "outbox";

/// An email to send, queued once per `dedupe_key`.
#[derive(Debug, Clone)]
pub struct NewEmail {
    pub kind: EmailKind,
    pub dedupe_key: String,
    pub case_id: Option<CaseId>,
    pub to_address: String,
    pub subject: String,
    /// The plain-text part, which every email has.
    pub body: String,
    pub html_body: Option<String>,
    pub inline_parts: Vec<InlinePart>,
    /// The survey a survey email links to: a sender drops the email once it no longer stands.
    pub survey_id: Option<SurveyId>,
}

/// Queues an email unless one with its key was queued before; true when this call queued it.
/// It is due at once.
pub async fn queue_email<C: ConnectionTrait>(
    conn: &C,
    email: NewEmail,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let inline_parts = serde_json::to_string(&email.inline_parts).map_err(StoreError::Encode)?;
    let inserted = outbox::Entity::insert(outbox::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        kind: Set(email.kind.as_str().to_owned()),
        dedupe_key: Set(email.dedupe_key),
        case_id: Set(email.case_id.map(CaseId::as_uuid)),
        to_address: Set(email.to_address),
        subject: Set(email.subject),
        body: Set(email.body),
        status: Set(EmailStatus::Queued.as_str().into()),
        attempts: Set(0),
        last_error: Set(None),
        created_at: Set(now),
        sent_at: Set(None),
        message_id: Set(String::new()),
        html_body: Set(email.html_body),
        inline_parts: Set(inline_parts),
        next_attempt_at: Set(Some(now)),
        claimed_by: Set(None),
        claimed_until: Set(None),
        unconfirmed_sends: Set(0),
        survey_id: Set(email.survey_id.map(SurveyId::as_uuid)),
    })
    .on_conflict_do_nothing_on([outbox::Column::DedupeKey])
    .exec_without_returning(conn)
    .await
    .during(TABLE, "queue_email")?;
    Ok(went_in(inserted))
}

/// An email as the outbox holds it. Serialized (for operators' lists) without its bodies: a
/// hot-issue report's chart alone is tens of kilobytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxEmail {
    pub email_id: EmailId,
    pub kind: EmailKind,
    #[serde(skip)]
    pub dedupe_key: String,
    pub case_id: Option<CaseId>,
    pub to_address: String,
    pub subject: String,
    #[serde(skip)]
    pub body: String,
    #[serde(skip)]
    pub html_body: Option<String>,
    #[serde(skip)]
    pub inline_parts: Vec<InlinePart>,
    pub status: EmailStatus,
    /// Attempts that ended with an answer from the server (or no connection).
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub sent_at: Option<DateTime<Utc>>,
    /// The Message-ID it was sent with (empty until sent).
    pub message_id: String,
    /// Claims of this row whose sender never said how the attempt ended (it crashed or lost
    /// the database between sending and marking).
    pub unconfirmed_sends: i32,
    pub survey_id: Option<SurveyId>,
}

impl TryFrom<outbox::Model> for OutboxEmail {
    type Error = StoreError;

    fn try_from(m: outbox::Model) -> Result<Self, StoreError> {
        let inline_parts = serde_json::from_str(&m.inline_parts)
            .map_err(|e| StoreError::corrupt(TABLE, m.id, format_args!("inline_parts: {e}")))?;
        Ok(Self {
            email_id: EmailId::from_uuid(m.id),
            kind: word(TABLE, m.id, &m.kind)?,
            dedupe_key: m.dedupe_key,
            case_id: m.case_id.map(CaseId::from_uuid),
            to_address: m.to_address,
            subject: m.subject,
            body: m.body,
            html_body: m.html_body,
            inline_parts,
            status: word(TABLE, m.id, &m.status)?,
            attempts: m.attempts,
            last_error: m.last_error,
            created_at: m.created_at,
            next_attempt_at: m.next_attempt_at,
            sent_at: m.sent_at,
            message_id: m.message_id,
            unconfirmed_sends: m.unconfirmed_sends,
            survey_id: m.survey_id.map(SurveyId::from_uuid),
        })
    }
}

/// Emails in the outbox, oldest first; only those in `status` when given.
pub async fn emails<C: ConnectionTrait>(
    conn: &C,
    status: Option<EmailStatus>,
    limit: u64,
) -> Result<Vec<OutboxEmail>, StoreError> {
    emails_after(conn, status, None, limit).await
}

/// Emails in the outbox queued after the email `after` (in the order [`emails`] lists them), for
/// the next page of a list; none when `after` is not an email.
pub async fn emails_after<C: ConnectionTrait>(
    conn: &C,
    status: Option<EmailStatus>,
    after: Option<EmailId>,
    limit: u64,
) -> Result<Vec<OutboxEmail>, StoreError> {
    let mut query = outbox::Entity::find();
    if let Some(status) = status {
        query = query.filter(outbox::Column::Status.eq(status.as_str()));
    }
    if let Some(after) = after {
        let Some(mark) = outbox::Entity::find_by_id(after.as_uuid()).one(conn).await.during(TABLE, "emails")? else {
            return Ok(Vec::new());
        };
        query = query.filter(Condition::any().add(outbox::Column::CreatedAt.gt(mark.created_at)).add(
            Condition::all().add(outbox::Column::CreatedAt.eq(mark.created_at)).add(outbox::Column::Id.gt(mark.id)),
        ));
    }
    let rows = query
        .order_by_asc(outbox::Column::CreatedAt)
        .order_by_asc(outbox::Column::Id)
        .limit(limit)
        .all(conn)
        .await
        .during(TABLE, "emails")?;
    rows.into_iter().map(OutboxEmail::try_from).collect()
}

/// Who claims and for how long.
#[derive(Debug, Clone, Copy)]
pub struct EmailClaim<'a> {
    pub worker: &'a str,
    pub now: DateTime<Utc>,
    pub lease_until: DateTime<Utc>,
    pub limit: u64,
}

/// Takes up to `limit` emails that are due (queued and their time has come, or left `sending`
/// by a sender whose lease ran out) and marks them `sending` by `worker` until `lease_until`.
/// A row taken back from a lapsed sender counts one more unconfirmed send: that sender may have
/// delivered it. Call it in a write transaction: on PostgreSQL the rows are locked until it
/// ends and rows another sender holds are skipped (`FOR UPDATE SKIP LOCKED`), so two
/// instances never take one email; SQLite's write transactions run one at a time.
pub async fn claim_due_emails(tx: &DatabaseTransaction, claim: EmailClaim<'_>) -> Result<Vec<OutboxEmail>, StoreError> {
    let backend = tx.get_database_backend();
    let p = |n| bulk::param(backend, n);
    let lock = match backend {
        DbBackend::Postgres => " FOR UPDATE SKIP LOCKED",
        _ => "",
    };
    let sql = format!(
        "SELECT id FROM outbox \
         WHERE (status = 'queued' AND next_attempt_at <= {now}) OR (status = 'sending' AND claimed_until < {now}) \
         ORDER BY next_attempt_at, id LIMIT {limit}{lock}",
        now = p(1),
        limit = p(2),
    );
    let limit = i64::try_from(claim.limit).unwrap_or(i64::MAX);
    let rows = tx
        .query_all_raw(Statement::from_sql_and_values(backend, sql, [claim.now.into(), limit.into()]))
        .await
        .during(TABLE, "claim_due_emails")?;
    let ids = rows
        .iter()
        .map(|row| row.try_get_by_index::<uuid::Uuid>(0).during(TABLE, "claim_due_emails"))
        .collect::<Result<Vec<_>, _>>()?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    outbox::Entity::update_many()
        .col_expr(
            outbox::Column::UnconfirmedSends,
            Expr::cust("CASE WHEN status = 'sending' THEN unconfirmed_sends + 1 ELSE unconfirmed_sends END"),
        )
        .col_expr(outbox::Column::Status, Expr::value(EmailStatus::Sending.as_str()))
        .col_expr(outbox::Column::ClaimedBy, Expr::value(claim.worker))
        .col_expr(outbox::Column::ClaimedUntil, Expr::value(claim.lease_until))
        .filter(outbox::Column::Id.is_in(ids.clone()))
        .exec(tx)
        .await
        .during(TABLE, "claim_due_emails")?;
    let rows = outbox::Entity::find()
        .filter(outbox::Column::Id.is_in(ids))
        .order_by_asc(outbox::Column::NextAttemptAt)
        .order_by_asc(outbox::Column::Id)
        .all(tx)
        .await
        .during(TABLE, "claim_due_emails")?;
    rows.into_iter().map(OutboxEmail::try_from).collect()
}

/// How an attempt ended, as the sender reports it.
#[derive(Debug, Clone)]
pub enum AttemptResult {
    Sent {
        message_id: String,
    },
    /// Try again at `next_attempt_at`; `unconfirmed` when the email may have gone out anyway
    /// (the server stopped answering mid-conversation): one more unconfirmed send.
    Retry {
        error: String,
        next_attempt_at: DateTime<Utc>,
        unconfirmed: bool,
    },
    /// Give up.
    Failed {
        error: String,
    },
    /// Not sent, and never to be: what it was about no longer stands (a survey of a case that
    /// reopened, or whose link ran out).
    Withdrawn {
        reason: String,
    },
}

/// Records how `worker`'s attempt at an email ended; false when the row is no longer the
/// worker's (its lease ran out and another sender took it), and nothing is changed.
pub async fn finish_attempt<C: ConnectionTrait>(
    conn: &C,
    email: EmailId,
    worker: &str,
    result: AttemptResult,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    // A withdrawn email was not tried: no attempt to count.
    let tried = !matches!(result, AttemptResult::Withdrawn { .. });
    let update = outbox::Entity::update_many()
        .col_expr(outbox::Column::Attempts, Expr::col(outbox::Column::Attempts).add(i32::from(tried)))
        .col_expr(outbox::Column::ClaimedBy, Expr::value(Option::<String>::None))
        .col_expr(outbox::Column::ClaimedUntil, Expr::value(Option::<DateTime<Utc>>::None));
    let update = match result {
        AttemptResult::Sent { message_id } => update
            .col_expr(outbox::Column::Status, Expr::value(EmailStatus::Sent.as_str()))
            .col_expr(outbox::Column::SentAt, Expr::value(now))
            .col_expr(outbox::Column::MessageId, Expr::value(message_id))
            .col_expr(outbox::Column::NextAttemptAt, Expr::value(Option::<DateTime<Utc>>::None)),
        AttemptResult::Retry { error, next_attempt_at, unconfirmed } => update
            .col_expr(
                outbox::Column::UnconfirmedSends,
                Expr::col(outbox::Column::UnconfirmedSends).add(i32::from(unconfirmed)),
            )
            .col_expr(outbox::Column::Status, Expr::value(EmailStatus::Queued.as_str()))
            .col_expr(outbox::Column::LastError, Expr::value(error))
            .col_expr(outbox::Column::NextAttemptAt, Expr::value(next_attempt_at)),
        AttemptResult::Failed { error } => update
            .col_expr(outbox::Column::Status, Expr::value(EmailStatus::Failed.as_str()))
            .col_expr(outbox::Column::LastError, Expr::value(error))
            .col_expr(outbox::Column::NextAttemptAt, Expr::value(Option::<DateTime<Utc>>::None)),
        AttemptResult::Withdrawn { reason } => update
            .col_expr(outbox::Column::Status, Expr::value(EmailStatus::Withdrawn.as_str()))
            .col_expr(outbox::Column::LastError, Expr::value(reason))
            .col_expr(outbox::Column::NextAttemptAt, Expr::value(Option::<DateTime<Utc>>::None)),
    };
    let done = update
        .filter(outbox::Column::Id.eq(email.as_uuid()))
        .filter(outbox::Column::Status.eq(EmailStatus::Sending.as_str()))
        .filter(outbox::Column::ClaimedBy.eq(worker))
        .exec(conn)
        .await
        .during(TABLE, "finish_attempt")?;
    Ok(done.rows_affected == 1)
}

/// Which failed emails go back in the queue.
#[derive(Debug, Clone, Copy)]
pub struct Requeue {
    /// Only emails queued at or after this.
    pub since: Option<DateTime<Utc>>,
    /// Also emails given up because two sends went unconfirmed (their recipient may have them
    /// twice already).
    pub include_unconfirmed: bool,
    /// Surveys queued before this stay: their links have run out.
    pub surveys_expired_before: DateTime<Utc>,
}

/// Puts the emails given up on that `which` names back in the queue with a fresh count of
/// attempts, once a setting that failed them is fixed; how many. Their last error stays until
/// the next attempt says otherwise.
pub async fn requeue_failed<C: ConnectionTrait>(
    conn: &C,
    which: Requeue,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let mut update = outbox::Entity::update_many()
        .col_expr(outbox::Column::Status, Expr::value(EmailStatus::Queued.as_str()))
        .col_expr(outbox::Column::Attempts, Expr::value(0))
        .col_expr(outbox::Column::UnconfirmedSends, Expr::value(0))
        .col_expr(outbox::Column::NextAttemptAt, Expr::value(now))
        .filter(outbox::Column::Status.eq(EmailStatus::Failed.as_str()));
    if let Some(since) = which.since {
        update = update.filter(outbox::Column::CreatedAt.gte(since));
    }
    if !which.include_unconfirmed {
        update = update.filter(outbox::Column::UnconfirmedSends.lte(1));
    }
    let expired_survey = outbox::Column::Kind
        .eq(mend_core::EmailKind::Survey.as_str())
        .and(outbox::Column::CreatedAt.lt(which.surveys_expired_before));
    update = update.filter(expired_survey.not());
    let done = update.exec(conn).await.during(TABLE, "requeue_failed")?;
    Ok(done.rows_affected)
}

/// How many emails are in each status (every status listed, zero included).
pub async fn count_by_status<C: ConnectionTrait>(conn: &C) -> Result<Vec<(EmailStatus, i64)>, StoreError> {
    let rows: Vec<(String, i64)> = outbox::Entity::find()
        .select_only()
        .column(outbox::Column::Status)
        .column_as(outbox::Column::Id.count(), "n")
        .group_by(outbox::Column::Status)
        .into_tuple()
        .all(conn)
        .await
        .during(TABLE, "count_by_status")?;
    let mut counts: Vec<(EmailStatus, i64)> = EmailStatus::ALL.iter().map(|s| (*s, 0)).collect();
    for (status, n) in rows {
        let status: EmailStatus = word(TABLE, format_args!("status {status}"), &status)?;
        if let Some(slot) = counts.iter_mut().find(|(s, _)| *s == status) {
            slot.1 = n;
        }
    }
    Ok(counts)
}
