//! The `cases` table: the row as lookups read it, the cases grouping may join, the batch rows, and the case views of the API and exports.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use mend_core::{
    Case, CaseId, CaseStatus, CaseTerms, Channel, Customer, CustomerId, Fingerprint, LinkedIdentity, MergeId,
    StoredComplaint,
};
use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Statement};
use serde::Serialize;

use crate::StoreError;
use crate::bulk::{self, OnConflict, Table};
use crate::entities::{case, complaint};
use crate::error::During;
use crate::records::{decode_categories, encode_categories, word};
use crate::rows::{Flag, select_list, stored_row};

const TABLE: &str = CaseRow::TABLE;

pub(crate) type Time = DateTime<Utc>;

stored_row! {
    /// A case as the `cases` table holds it; [`Case`] is what it means.
    #[derive(serde::Deserialize)]
    pub(crate) struct CaseRow in "cases" {
        id: uuid::Uuid,
        customer_id: uuid::Uuid,
        category: String,
        status: String,
        escalation_risk: Flag,
        repeat_failure: Flag,
        complaint_count: i32,
        first_complaint_at: Time,
        last_complaint_at: Time,
        opened_at: Time,
        closed_at: Option<Time>,
        updated_at: Time,
        signature: String,
        extra_categories: String,
        merged_into: Option<uuid::Uuid>,
        merged_by: Option<uuid::Uuid>,
        split_from: Option<uuid::Uuid>,
        reopened_at: Option<Time>,
        label: Option<String>,
        fingerprint: String,
    }
}

/// Whether a case lookup reads grouping's similarity terms and fingerprint, about a kilobyte a
/// case that only grouping uses; skipped, they read back empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Terms {
    Read,
    Skip,
}

/// The select list of [`CaseRow`] for a lookup.
pub(crate) fn case_columns(backend: DbBackend, terms: Terms) -> String {
    let skipped: &[&str] = match terms {
        Terms::Read => &[],
        Terms::Skip => &["signature", "fingerprint"],
    };
    select_list(backend, CaseRow::COLUMNS, skipped)
}

impl TryFrom<CaseRow> for Case {
    type Error = StoreError;

    fn try_from(r: CaseRow) -> Result<Self, StoreError> {
        let table = CaseRow::TABLE;
        Ok(Case {
            id: CaseId::from_uuid(r.id),
            customer_id: CustomerId::from_uuid(r.customer_id),
            status: word(table, r.id, &r.status)?,
            terms: CaseTerms::parse(r.signature).map_err(|e| StoreError::corrupt(table, r.id, e))?,
            category: r.category,
            escalation_risk: r.escalation_risk.0,
            repeat_failure: r.repeat_failure.0,
            complaint_count: r.complaint_count,
            first_complaint_at: r.first_complaint_at,
            last_complaint_at: r.last_complaint_at,
            opened_at: r.opened_at,
            closed_at: r.closed_at,
            updated_at: r.updated_at,
            extra_categories: decode_categories(&r.extra_categories),
            merged_into: r.merged_into.map(CaseId::from_uuid),
            merged_by: r.merged_by.map(MergeId::from_uuid),
            split_from: r.split_from.map(CaseId::from_uuid),
            reopened_at: r.reopened_at,
            label: r.label,
            fingerprint: Fingerprint::parse(&r.fingerprint).map_err(|e| StoreError::corrupt(table, r.id, e))?,
        })
    }
}

impl From<&Case> for CaseRow {
    fn from(c: &Case) -> Self {
        CaseRow {
            id: c.id.as_uuid(),
            customer_id: c.customer_id.as_uuid(),
            category: c.category.clone(),
            status: c.status.as_str().to_owned(),
            escalation_risk: Flag(c.escalation_risk),
            repeat_failure: Flag(c.repeat_failure),
            complaint_count: c.complaint_count,
            first_complaint_at: c.first_complaint_at,
            last_complaint_at: c.last_complaint_at,
            opened_at: c.opened_at,
            closed_at: c.closed_at,
            updated_at: c.updated_at,
            signature: c.terms.as_str().to_owned(),
            extra_categories: encode_categories(&c.extra_categories),
            merged_into: c.merged_into.map(CaseId::as_uuid),
            merged_by: c.merged_by.map(MergeId::as_uuid),
            split_from: c.split_from.map(CaseId::as_uuid),
            reopened_at: c.reopened_at,
            label: c.label.clone(),
            fingerprint: c.fingerprint.as_stored(),
        }
    }
}

/// Cases by a condition on the table (`WHERE …`), through [`CaseRow`].
pub(crate) async fn cases_where<C: ConnectionTrait>(
    conn: &C,
    operation: &'static str,
    condition: &str,
    params: Vec<sea_orm::Value>,
) -> Result<Vec<Case>, StoreError> {
    let backend = conn.get_database_backend();
    let sql = format!(
        "SELECT {} FROM cases WHERE {condition}",
        bulk::json_rows(backend, &case_columns(backend, Terms::Read))
    );
    let rows: Vec<CaseRow> = bulk::query_json(conn, CaseRow::TABLE, operation, &sql, params).await?;
    rows.into_iter().map(Case::try_from).collect()
}

/// Cases of these customers that a complaint could still join: open cases whose latest
/// complaint is at or after `open_since`, and closed ones closed at or after `closed_since`
/// (the same problem again reopens them).
pub async fn find_groupable_cases<C: ConnectionTrait>(
    conn: &C,
    customers: &[CustomerId],
    open_since: DateTime<Utc>,
    closed_since: DateTime<Utc>,
) -> Result<Vec<Case>, StoreError> {
    if customers.is_empty() {
        return Ok(Vec::new());
    }
    let backend = conn.get_database_backend();
    let (open, closed) = (bulk::param(backend, 2), bulk::param(backend, 3));
    let condition = format!(
        "customer_id {} AND ((status = 'open' AND last_complaint_at >= {open}) OR (status = 'closed' AND closed_at >= {closed}))",
        bulk::in_ids(backend, 1),
    );
    let params =
        vec![bulk::id_param(backend, customers.iter().map(|c| c.as_uuid()))?, open_since.into(), closed_since.into()];
    cases_where(conn, "find_groupable_cases", &condition, params).await
}

/// Open cases of these customers whose latest complaint is at or after `open_since`.
pub async fn find_open_cases<C: ConnectionTrait>(
    conn: &C,
    customers: &[CustomerId],
    open_since: DateTime<Utc>,
) -> Result<Vec<Case>, StoreError> {
    if customers.is_empty() {
        return Ok(Vec::new());
    }
    let backend = conn.get_database_backend();
    let condition = format!(
        "customer_id {} AND status = 'open' AND last_complaint_at >= {}",
        bulk::in_ids(backend, 1),
        bulk::param(backend, 2)
    );
    let params = vec![bulk::id_param(backend, customers.iter().map(|c| c.as_uuid()))?, open_since.into()];
    cases_where(conn, "find_open_cases", &condition, params).await
}

/// Every case of one customer, any status (for merges and the customer view).
pub async fn customer_cases<C: ConnectionTrait>(conn: &C, customer: CustomerId) -> Result<Vec<Case>, StoreError> {
    let condition = format!("customer_id = {}", bulk::param(conn.get_database_backend(), 1));
    let mut cases = cases_where(conn, "customer_cases", &condition, vec![customer.as_uuid().into()]).await?;
    cases.sort_unstable_by_key(|c| c.id);
    Ok(cases)
}

pub(crate) const CASES: Table = Table {
    name: CaseRow::TABLE,
    columns: CaseRow::COLUMNS,
    // Not `customer_id`: see `BatchWrite::cases`.
    on_conflict: OnConflict::UpdateAllBut(&["customer_id", "opened_at"]),
};

pub async fn case_by_id<C: ConnectionTrait>(conn: &C, id: CaseId) -> Result<Option<Case>, StoreError> {
    let condition = format!("id = {}", bulk::param(conn.get_database_backend(), 1));
    Ok(cases_where(conn, "case_by_id", &condition, vec![id.as_uuid().into()]).await?.pop())
}

/// The case `id`'s problem lives in now: the case itself, or, for one merged away, the case its
/// merges led to. `None` when there is no such case.
pub async fn surviving_case<C: ConnectionTrait>(conn: &C, id: CaseId) -> Result<Option<Case>, StoreError> {
    let mut seen = Vec::new();
    let mut next = id;
    loop {
        let Some(case) = case_by_id(conn, next).await? else { return Ok(None) };
        let Some(into) = case.merged_into.filter(|_| case.status == CaseStatus::Merged) else { return Ok(Some(case)) };
        seen.push(next);
        // Merges make a tree; a loop would be a corrupt row, not a place to spin.
        if seen.contains(&into) {
            return Err(StoreError::corrupt(TABLE, id, "its merges lead round in a loop"));
        }
        next = into;
    }
}

/// These cases, in no particular order; ids not found are left out.
pub async fn cases_by_ids<C: ConnectionTrait>(conn: &C, ids: &[CaseId]) -> Result<Vec<Case>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let backend = conn.get_database_backend();
    let condition = format!("id {}", bulk::in_ids(backend, 1));
    let ids = bulk::id_param(backend, ids.iter().map(|c| c.as_uuid()))?;
    cases_where(conn, "cases_by_ids", &condition, vec![ids]).await
}

/// A case with its whole story: every complaint on one timeline, and who the customer is.
#[derive(Debug, Clone, Serialize)]
pub struct CaseDetail {
    #[serde(flatten)]
    pub case: Case,
    pub customer: Customer,
    pub identities: Vec<LinkedIdentity>,
    pub complaints: Vec<StoredComplaint>,
    /// The satisfaction survey sent after the case closed, with the customer's answer (their
    /// satisfaction after repair) once given.
    pub survey: Option<crate::surveys::SurveyRecord>,
}

impl CaseDetail {
    /// As people who do not hold the customer's call see it: phone numbers masked.
    pub fn masked(mut self) -> Self {
        self.customer = self.customer.masked();
        self.identities = self.identities.into_iter().map(LinkedIdentity::masked).collect();
        self.complaints = self.complaints.into_iter().map(StoredComplaint::masked).collect();
        if let Some(survey) = &mut self.survey {
            survey.comment = survey.comment.take().map(|c| mend_core::mask_phones_in(&c).into_owned());
        }
        self
    }
}

pub async fn case_detail<C: ConnectionTrait>(conn: &C, id: CaseId) -> Result<Option<CaseDetail>, StoreError> {
    Ok(case_details(conn, &[id]).await?.remove(&id))
}

/// The whole story of each of these cases (see [`CaseDetail`]) in five statements however many
/// there are; ids not found are left out.
pub async fn case_details<C: ConnectionTrait>(
    conn: &C,
    ids: &[CaseId],
) -> Result<HashMap<CaseId, CaseDetail>, StoreError> {
    let cases = cases_by_ids(conn, ids).await?;
    if cases.is_empty() {
        return Ok(HashMap::new());
    }
    let backend = conn.get_database_backend();
    let owners: Vec<CustomerId> = cases.iter().map(|c| c.customer_id).collect();
    let customers: HashMap<CustomerId, Customer> =
        crate::callbacks::customers_by_ids(conn, &owners).await?.into_iter().map(|c| (c.customer_id, c)).collect();
    let identities = crate::customers::identities_of_customers(conn, &owners).await?;
    let found: Vec<CaseId> = cases.iter().map(|c| c.id).collect();
    let mut complaints: HashMap<CaseId, Vec<StoredComplaint>> = HashMap::new();
    for m in complaint::Entity::find()
        .filter(bulk::id_filter(backend, "case_id", found.iter().map(|c| c.as_uuid()))?)
        .order_by_asc(complaint::Column::ReceivedAt)
        .order_by_asc(complaint::Column::Id)
        .all(conn)
        .await
        .during(TABLE, "case_details")?
    {
        let complaint = StoredComplaint::try_from(m)?;
        complaints.entry(complaint.case_id).or_default().push(complaint);
    }
    let mut surveys: HashMap<CaseId, crate::surveys::SurveyRecord> =
        crate::surveys::surveys_of_cases(conn, &found).await?.into_iter().map(|s| (s.case_id, s)).collect();
    cases
        .into_iter()
        .map(|case| {
            // Cases of one customer share the customer; each detail gets its own copy.
            let customer = customers.get(&case.customer_id).cloned().ok_or_else(|| {
                StoreError::corrupt(TABLE, case.id, format_args!("its customer {} is missing", case.customer_id))
            })?;
            let identities = identities.get(&case.customer_id).cloned().unwrap_or_default();
            let detail = CaseDetail {
                customer,
                identities,
                complaints: complaints.remove(&case.id).unwrap_or_default(),
                survey: surveys.remove(&case.id),
                case,
            };
            Ok((detail.case.id, detail))
        })
        .collect()
}

/// One line of `mend cases export`.
#[derive(Debug, Clone, Serialize)]
pub struct CaseSummary {
    pub case_id: CaseId,
    pub customer_id: CustomerId,
    pub category: String,
    /// The trained model's label (`mend train categories`); null without a model.
    pub label: Option<String>,
    pub status: CaseStatus,
    pub escalation_risk: bool,
    pub repeat_failure: bool,
    pub first_complaint_at: chrono::DateTime<chrono::Utc>,
    pub last_complaint_at: chrono::DateTime<chrono::Utc>,
    pub complaints: Vec<DeliveryRef>,
    /// Where a merged case's complaints went (its `complaints` are then empty); null otherwise.
    pub merged_into: Option<CaseId>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeliveryRef {
    pub channel: Channel,
    pub source_id: String,
    pub received_at: chrono::DateTime<chrono::Utc>,
    /// The trained model's label of the complaint; null without a model.
    pub label: Option<String>,
}

/// Cases ordered by id, `limit` at a time after `after` (keyset paging: constant cost per page
/// however far into the table).
pub async fn case_summaries<C: ConnectionTrait>(
    conn: &C,
    after: Option<CaseId>,
    limit: u64,
) -> Result<Vec<CaseSummary>, StoreError> {
    let mut query = case::Entity::find().order_by_asc(case::Column::Id).limit(limit);
    if let Some(after) = after {
        query = query.filter(case::Column::Id.gt(after.as_uuid()));
    }
    let cases = query.all(conn).await.during(TABLE, "case_summaries")?;
    if cases.is_empty() {
        return Ok(Vec::new());
    }
    type Row = (uuid::Uuid, uuid::Uuid, String, String, chrono::DateTime<chrono::Utc>, Option<String>);
    let deliveries: Vec<Row> = complaint::Entity::find()
        .select_only()
        .columns([
            complaint::Column::Id,
            complaint::Column::CaseId,
            complaint::Column::Channel,
            complaint::Column::SourceId,
            complaint::Column::ReceivedAt,
            complaint::Column::Label,
        ])
        .filter(complaint::Column::CaseId.is_in(cases.iter().map(|c| c.id)))
        .order_by_asc(complaint::Column::ReceivedAt)
        .order_by_asc(complaint::Column::Id)
        .into_tuple()
        .all(conn)
        .await
        .during(TABLE, "case_summaries")?;
    let mut by_case: std::collections::HashMap<uuid::Uuid, Vec<DeliveryRef>> = std::collections::HashMap::new();
    for (id, case_id, channel, source_id, received_at, label) in deliveries {
        let channel = word("complaints", id, &channel)?;
        by_case.entry(case_id).or_default().push(DeliveryRef { channel, source_id, received_at, label });
    }
    cases
        .into_iter()
        .map(|c| {
            Ok(CaseSummary {
                case_id: CaseId::from_uuid(c.id),
                customer_id: CustomerId::from_uuid(c.customer_id),
                complaints: by_case.remove(&c.id).unwrap_or_default(),
                status: word(TABLE, c.id, &c.status)?,
                category: c.category,
                label: c.label,
                escalation_risk: c.escalation_risk,
                repeat_failure: c.repeat_failure,
                first_complaint_at: c.first_complaint_at,
                last_complaint_at: c.last_complaint_at,
                merged_into: c.merged_into.map(CaseId::from_uuid),
            })
        })
        .collect()
}

/// Cases [`largest_case`] looks at: the newest, so that it reads a thousand rows of the
/// primary key (case ids are time-ordered) rather than every case there is.
const NEWEST_CASES: u64 = 1_000;

/// Among the newest cases, the one with the most complaints (ties: the oldest), if any: an
/// example that stands for what the call center handles now.
pub async fn largest_case<C: ConnectionTrait>(conn: &C) -> Result<Option<CaseId>, StoreError> {
    let sql = format!(
        "SELECT id FROM (SELECT id, complaint_count FROM cases ORDER BY id DESC LIMIT {NEWEST_CASES}) newest \
         ORDER BY complaint_count DESC, id LIMIT 1"
    );
    let row = conn
        .query_one_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await
        .during(TABLE, "largest_case")?;
    let id: Option<uuid::Uuid> = row.map(|r| r.try_get_by_index(0)).transpose().during(TABLE, "largest_case")?;
    Ok(id.map(CaseId::from_uuid))
}

#[cfg(test)]
mod tests {
    use sea_orm::{IdenStatic, Iterable};

    use super::*;

    /// Columns of `cases` that no batch writes: each is written by a statement of its own, so a
    /// batch that read a case before cannot write an older value back.
    /// - `calls_resumed_at`: when a customer who had asked for no calls may be called again
    ///   (`customers::change_contact`), read by the sweep's rule of a callback and the checks
    ///   made again after do-not-disturb.
    const WRITTEN_APART: &[&str] = &["calls_resumed_at"];

    /// The entity (sea-orm's queries) and the row (the bulk writer and lookups) name the same
    /// columns: a column added to one and not the other fails here, not at run time.
    #[test]
    fn the_row_and_the_entity_name_the_same_columns() {
        let mut entity: Vec<&str> =
            case::Column::iter().map(|c| c.as_str()).filter(|c| !WRITTEN_APART.contains(c)).collect();
        let mut row: Vec<&str> = CaseRow::COLUMNS.iter().map(|c| c.0).collect();
        entity.sort_unstable();
        row.sort_unstable();
        assert_eq!(entity, row);
    }
}
