//! The `surveys` table: one satisfaction survey per closing of a case, answered once before it
//! expires, while that closing stands.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use mend_core::{CaseId, CustomerId, Satisfaction, SurveyId};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;

use crate::StoreError;
use crate::bulk::{self, went_in};
use crate::entities::survey;
use crate::error::During;

const TABLE: &str = "surveys";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SurveyRecord {
    pub survey_id: SurveyId,
    pub case_id: CaseId,
    /// The closing of the case it asks about (surveys made before there were several a case may
    /// not know it).
    pub closed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub answered_at: Option<DateTime<Utc>>,
    pub rating: Option<Satisfaction>,
    pub comment: Option<String>,
}

impl TryFrom<survey::Model> for SurveyRecord {
    type Error = StoreError;

    fn try_from(m: survey::Model) -> Result<Self, StoreError> {
        let rating = m
            .rating
            .map(|r| Satisfaction::new(i64::from(r)).map_err(|e| StoreError::corrupt(TABLE, m.id, e)))
            .transpose()?;
        Ok(Self {
            survey_id: SurveyId::from_uuid(m.id),
            case_id: CaseId::from_uuid(m.case_id),
            closed_at: m.closed_at,
            created_at: m.created_at,
            expires_at: m.expires_at,
            answered_at: m.answered_at,
            rating,
            comment: m.comment,
        })
    }
}

/// The survey of the case's closing at `closed_at`, made now if it has none; a second call
/// returns the first survey, so a rerun of the survey job links to the same page.
pub async fn survey_for_case<C: ConnectionTrait>(
    conn: &C,
    case: CaseId,
    closed_at: DateTime<Utc>,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<SurveyRecord, StoreError> {
    let inserted = survey::Entity::insert(survey::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        case_id: Set(case.as_uuid()),
        closed_at: Set(Some(closed_at)),
        created_at: Set(now),
        expires_at: Set(expires_at),
        answered_at: Set(None),
        rating: Set(None),
        comment: Set(None),
    })
    .on_conflict_do_nothing_on([survey::Column::CaseId, survey::Column::ClosedAt])
    .exec_without_returning(conn)
    .await
    .during(TABLE, "survey_for_case")?;
    if went_in(inserted) {
        tracing::debug!(case_id = %case, "survey made");
    }
    let found = survey::Entity::find()
        .filter(survey::Column::CaseId.eq(case.as_uuid()))
        .filter(survey::Column::ClosedAt.eq(closed_at))
        .one(conn)
        .await
        .during(TABLE, "survey_for_case")?;
    found
        .map(SurveyRecord::try_from)
        .transpose()?
        .ok_or_else(|| StoreError::corrupt(TABLE, case, "the survey just made is not there"))
}

pub async fn survey<C: ConnectionTrait>(conn: &C, id: SurveyId) -> Result<Option<SurveyRecord>, StoreError> {
    let found = survey::Entity::find_by_id(id.as_uuid()).one(conn).await.during(TABLE, "survey")?;
    found.map(SurveyRecord::try_from).transpose()
}

/// The latest survey sent for each of these cases, in no order.
pub async fn surveys_of_cases<C: ConnectionTrait>(conn: &C, cases: &[CaseId]) -> Result<Vec<SurveyRecord>, StoreError> {
    if cases.is_empty() {
        return Ok(Vec::new());
    }
    let filter = crate::bulk::id_filter(conn.get_database_backend(), "case_id", cases.iter().map(|c| c.as_uuid()))?;
    let found = survey::Entity::find()
        .filter(filter)
        .order_by_asc(survey::Column::CreatedAt)
        .order_by_asc(survey::Column::Id)
        .all(conn)
        .await
        .during(TABLE, "surveys_of_cases")?;
    let mut latest: HashMap<CaseId, SurveyRecord> = HashMap::new();
    for row in found {
        let survey = SurveyRecord::try_from(row)?;
        latest.insert(survey.case_id, survey);
    }
    Ok(latest.into_values().collect())
}

/// The closings that these customers were asked about by surveys made at or after `since`, as
/// (customer, case, closing): who was asked lately, so as not to ask again so soon. A survey
/// whose email was withdrawn or given up on asked nobody.
pub async fn surveys_of_customers_since<C: ConnectionTrait>(
    conn: &C,
    customers: &[CustomerId],
    since: DateTime<Utc>,
) -> Result<Vec<(CustomerId, CaseId, Option<DateTime<Utc>>)>, StoreError> {
    if customers.is_empty() {
        return Ok(Vec::new());
    }
    let backend = conn.get_database_backend();
    let columns = match backend {
        DbBackend::Postgres => "k.customer_id, s.case_id, s.closed_at",
        _ => "hex(k.customer_id), hex(s.case_id), s.closed_at",
    };
    let sql = format!(
        "SELECT {} FROM surveys s JOIN cases k ON k.id = s.case_id WHERE s.created_at >= {} AND k.customer_id {} \
         AND EXISTS (SELECT 1 FROM outbox o WHERE o.survey_id = s.id AND o.status IN ('queued', 'sending', 'sent'))",
        bulk::json_rows(backend, columns),
        bulk::param(backend, 1),
        bulk::in_ids(backend, 2)
    );
    let params = vec![since.into(), bulk::id_param(backend, customers.iter().map(|c| c.as_uuid()))?];
    let rows: Vec<(uuid::Uuid, uuid::Uuid, Option<DateTime<Utc>>)> =
        bulk::query_json(conn, TABLE, "surveys_of_customers_since", &sql, params).await?;
    Ok(rows
        .into_iter()
        .map(|(customer, case, closed_at)| (CustomerId::from_uuid(customer), CaseId::from_uuid(case), closed_at))
        .collect())
}

/// Records the answer unless the survey was answered already or has expired; true when this
/// call recorded it. One statement decides, so two submissions of one link record one answer.
pub async fn answer_survey<C: ConnectionTrait>(
    conn: &C,
    id: SurveyId,
    rating: Satisfaction,
    comment: Option<String>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done = survey::Entity::update_many()
        .col_expr(survey::Column::Rating, Expr::value(i32::from(rating.get())))
        .col_expr(survey::Column::Comment, Expr::value(comment))
        .col_expr(survey::Column::AnsweredAt, Expr::value(now))
        .filter(survey::Column::Id.eq(id.as_uuid()))
        .filter(survey::Column::AnsweredAt.is_null())
        .filter(survey::Column::ExpiresAt.gt(now))
        .exec(conn)
        .await
        .during(TABLE, "answer_survey")?;
    Ok(done.rows_affected == 1)
}

/// Answers given in `[from, until)`: the satisfaction after repair of the period.
pub async fn answered_between<C: ConnectionTrait>(
    conn: &C,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<SurveyRecord>, StoreError> {
    let rows = survey::Entity::find()
        .filter(survey::Column::AnsweredAt.gte(from))
        .filter(survey::Column::AnsweredAt.lt(until))
        .all(conn)
        .await
        .during(TABLE, "answered_between")?;
    rows.into_iter().map(SurveyRecord::try_from).collect()
}
