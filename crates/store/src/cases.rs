//! The `cases` table: the row as lookups read it, the cases grouping may join, the batch rows, and the case views of the API and exports.

use chrono::{DateTime, Utc};
use mend_core::{CaseId, CustomerId, MergeId};
use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;

use crate::bulk::{self, Cell, Kind, OnConflict, Table};
use crate::entities::{case, complaint, customer, customer_identity};
use crate::records::decode_categories;
use crate::{CaseRecord, ComplaintRecord, CustomerRecord, IdentityRecord, StoreError};

pub(crate) type Time = DateTime<Utc>;

/// A case as a lookup returns it: the columns in [`case_columns`] order.
#[derive(serde::Deserialize)]
pub(crate) struct CaseRow {
    id: uuid::Uuid,
    customer_id: uuid::Uuid,
    category: String,
    status: String,
    escalation_risk: u8,
    repeat_failure: u8,
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
}

/// Whether a case lookup reads grouping's similarity signature, a few hundred bytes a case that
/// only grouping uses; skipped, it reads back empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signature {
    Read,
    Skip,
}

/// The select list of [`CaseRow`], per backend (SQLite has no UUID type: hex of the blob).
pub(crate) fn case_columns(backend: DbBackend, signature: Signature) -> String {
    let signature = match signature {
        Signature::Read => "signature",
        Signature::Skip => "''",
    };
    match backend {
        DbBackend::Postgres => format!(
            "id, customer_id, category, status, escalation_risk::int, repeat_failure::int, complaint_count, \
             first_complaint_at, last_complaint_at, opened_at, closed_at, updated_at, {signature}, extra_categories, \
             merged_into, merged_by, split_from, reopened_at"
        ),
        _ => format!(
            "hex(id), hex(customer_id), category, status, escalation_risk, repeat_failure, complaint_count, \
             first_complaint_at, last_complaint_at, opened_at, closed_at, updated_at, {signature}, extra_categories, \
             nullif(hex(merged_into), ''), nullif(hex(merged_by), ''), nullif(hex(split_from), ''), reopened_at"
        ),
    }
}

impl TryFrom<CaseRow> for CaseRecord {
    type Error = StoreError;

    fn try_from(r: CaseRow) -> Result<Self, StoreError> {
        Ok(CaseRecord {
            id: CaseId::from_uuid(r.id),
            customer_id: CustomerId::from_uuid(r.customer_id),
            category: r.category,
            status: r.status.parse().map_err(StoreError::Corrupt)?,
            escalation_risk: r.escalation_risk != 0,
            repeat_failure: r.repeat_failure != 0,
            complaint_count: r.complaint_count,
            first_complaint_at: r.first_complaint_at,
            last_complaint_at: r.last_complaint_at,
            opened_at: r.opened_at,
            closed_at: r.closed_at,
            updated_at: r.updated_at,
            signature: r.signature,
            extra_categories: decode_categories(&r.extra_categories),
            merged_into: r.merged_into.map(CaseId::from_uuid),
            merged_by: r.merged_by.map(MergeId::from_uuid),
            split_from: r.split_from.map(CaseId::from_uuid),
            reopened_at: r.reopened_at,
        })
    }
}

/// Cases of these customers that a complaint could still join: open cases whose latest
/// complaint is at or after `open_since`, and closed ones closed at or after `closed_since`
/// (the same problem again reopens them).
pub async fn find_groupable_cases<C: ConnectionTrait>(
    conn: &C,
    customers: &[CustomerId],
    open_since: DateTime<Utc>,
    closed_since: DateTime<Utc>,
) -> Result<Vec<CaseRecord>, StoreError> {
    if customers.is_empty() {
        return Ok(Vec::new());
    }
    let backend = conn.get_database_backend();
    let (open, closed) = (bulk::param(backend, 2), bulk::param(backend, 3));
    let sql = format!(
        "SELECT {} FROM cases WHERE customer_id {} \
         AND ((status = 'open' AND last_complaint_at >= {open}) OR (status = 'closed' AND closed_at >= {closed}))",
        bulk::json_rows(backend, &case_columns(backend, Signature::Read)),
        bulk::in_ids(backend, 1),
    );
    let params =
        vec![bulk::id_param(backend, customers.iter().map(|c| c.as_uuid()))?, open_since.into(), closed_since.into()];
    let rows: Vec<CaseRow> = bulk::query_json(conn, &sql, params).await?;
    rows.into_iter().map(CaseRecord::try_from).collect()
}

/// Every case of one customer, any status (for merges and the customer view).
pub async fn customer_cases<C: ConnectionTrait>(conn: &C, customer: CustomerId) -> Result<Vec<CaseRecord>, StoreError> {
    let backend = conn.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => format!(
            "SELECT json_agg(json_build_array({}) ORDER BY id)::text FROM cases WHERE customer_id = $1",
            case_columns(backend, Signature::Read)
        ),
        _ => format!(
            "SELECT json_group_array(json_array({})) FROM (SELECT * FROM cases WHERE customer_id = ?1 ORDER BY id)",
            case_columns(backend, Signature::Read)
        ),
    };
    let rows: Vec<CaseRow> = bulk::query_json(conn, &sql, vec![customer.as_uuid().into()]).await?;
    rows.into_iter().map(CaseRecord::try_from).collect()
}

pub(crate) const CASES: Table = Table {
    name: "cases",
    columns: &[
        ("id", Kind::Uuid, false),
        ("customer_id", Kind::Uuid, false),
        ("category", Kind::Text, false),
        ("status", Kind::Text, false),
        ("escalation_risk", Kind::Bool, false),
        ("repeat_failure", Kind::Bool, false),
        ("complaint_count", Kind::Int, false),
        ("first_complaint_at", Kind::Time, false),
        ("last_complaint_at", Kind::Time, false),
        ("opened_at", Kind::Time, false),
        ("closed_at", Kind::Time, true),
        ("updated_at", Kind::Time, false),
        ("signature", Kind::Text, false),
        ("extra_categories", Kind::Text, false),
        ("merged_into", Kind::Uuid, true),
        ("merged_by", Kind::Uuid, true),
        ("split_from", Kind::Uuid, true),
        ("reopened_at", Kind::Time, true),
    ],
    // Not `customer_id`: see `BatchWrite::cases`.
    on_conflict: OnConflict::UpdateById(&[
        "category",
        "status",
        "escalation_risk",
        "repeat_failure",
        "complaint_count",
        "first_complaint_at",
        "last_complaint_at",
        "closed_at",
        "updated_at",
        "signature",
        "extra_categories",
        "merged_into",
        "merged_by",
        "split_from",
        "reopened_at",
    ]),
};

pub(crate) fn case_cells<'a>(c: &'a CaseRecord, extra_categories: &'a str) -> Vec<Cell<'a>> {
    vec![
        Cell::Uuid(c.id.as_uuid()),
        Cell::Uuid(c.customer_id.as_uuid()),
        Cell::Text(Some(&c.category)),
        Cell::Text(Some(c.status.as_str())),
        Cell::Bool(c.escalation_risk),
        Cell::Bool(c.repeat_failure),
        Cell::Int(Some(i64::from(c.complaint_count))),
        Cell::Time(Some(c.first_complaint_at)),
        Cell::Time(Some(c.last_complaint_at)),
        Cell::Time(Some(c.opened_at)),
        Cell::Time(c.closed_at),
        Cell::Time(Some(c.updated_at)),
        Cell::Text(Some(&c.signature)),
        Cell::Text(Some(extra_categories)),
        Cell::NullableUuid(c.merged_into.map(CaseId::as_uuid)),
        Cell::NullableUuid(c.merged_by.map(MergeId::as_uuid)),
        Cell::NullableUuid(c.split_from.map(CaseId::as_uuid)),
        Cell::Time(c.reopened_at),
    ]
}

pub async fn case_by_id<C: ConnectionTrait>(conn: &C, id: CaseId) -> Result<Option<CaseRecord>, StoreError> {
    case::Entity::find_by_id(id.as_uuid()).one(conn).await?.map(CaseRecord::try_from).transpose()
}

/// A case with its whole story: every complaint on one timeline, and who the customer is.
#[derive(Debug, Clone, Serialize)]
pub struct CaseDetail {
    #[serde(flatten)]
    pub case: CaseRecord,
    pub customer: CustomerRecord,
    pub identities: Vec<IdentityRecord>,
    pub complaints: Vec<ComplaintRecord>,
}

pub async fn case_detail<C: ConnectionTrait>(conn: &C, id: CaseId) -> Result<Option<CaseDetail>, StoreError> {
    let Some(case) = case::Entity::find_by_id(id.as_uuid()).one(conn).await? else {
        return Ok(None);
    };
    let case = CaseRecord::try_from(case)?;
    let customer = customer::Entity::find_by_id(case.customer_id.as_uuid())
        .one(conn)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("case {} has no customer", case.id)))?;
    let identities = customer_identity::Entity::find()
        .filter(customer_identity::Column::CustomerId.eq(case.customer_id.as_uuid()))
        .order_by_asc(customer_identity::Column::LinkedAt)
        .all(conn)
        .await?;
    let complaints = complaint::Entity::find()
        .filter(complaint::Column::CaseId.eq(id.as_uuid()))
        .order_by_asc(complaint::Column::ReceivedAt)
        .order_by_asc(complaint::Column::Id)
        .all(conn)
        .await?;
    Ok(Some(CaseDetail {
        case,
        customer: customer.into(),
        identities: identities.into_iter().map(Into::into).collect(),
        complaints: complaints.into_iter().map(Into::into).collect(),
    }))
}

/// One line of `mend cases export`.
#[derive(Debug, Clone, Serialize)]
pub struct CaseSummary {
    pub case_id: CaseId,
    pub customer_id: CustomerId,
    pub category: String,
    pub status: String,
    pub escalation_risk: bool,
    pub repeat_failure: bool,
    pub first_complaint_at: chrono::DateTime<chrono::Utc>,
    pub last_complaint_at: chrono::DateTime<chrono::Utc>,
    pub complaints: Vec<DeliveryRef>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeliveryRef {
    pub channel: String,
    pub source_id: String,
    pub received_at: chrono::DateTime<chrono::Utc>,
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
    let cases = query.all(conn).await?;
    if cases.is_empty() {
        return Ok(Vec::new());
    }
    let deliveries: Vec<(uuid::Uuid, String, String, chrono::DateTime<chrono::Utc>)> = complaint::Entity::find()
        .select_only()
        .columns([
            complaint::Column::CaseId,
            complaint::Column::Channel,
            complaint::Column::SourceId,
            complaint::Column::ReceivedAt,
        ])
        .filter(complaint::Column::CaseId.is_in(cases.iter().map(|c| c.id)))
        .order_by_asc(complaint::Column::ReceivedAt)
        .order_by_asc(complaint::Column::Id)
        .into_tuple()
        .all(conn)
        .await?;
    let mut by_case: std::collections::HashMap<uuid::Uuid, Vec<DeliveryRef>> = std::collections::HashMap::new();
    for (case_id, channel, source_id, received_at) in deliveries {
        by_case.entry(case_id).or_default().push(DeliveryRef { channel, source_id, received_at });
    }
    Ok(cases
        .into_iter()
        .map(|c| CaseSummary {
            case_id: CaseId::from_uuid(c.id),
            customer_id: CustomerId::from_uuid(c.customer_id),
            complaints: by_case.remove(&c.id).unwrap_or_default(),
            category: c.category,
            status: c.status,
            escalation_risk: c.escalation_risk,
            repeat_failure: c.repeat_failure,
            first_complaint_at: c.first_complaint_at,
            last_complaint_at: c.last_complaint_at,
        })
        .collect())
}

/// The case with the most complaints (ties: the oldest), if any.
pub async fn largest_case<C: ConnectionTrait>(conn: &C) -> Result<Option<CaseId>, StoreError> {
    let id: Option<uuid::Uuid> = case::Entity::find()
        .select_only()
        .column(case::Column::Id)
        .order_by_desc(case::Column::ComplaintCount)
        .order_by_asc(case::Column::Id)
        .into_tuple()
        .one(conn)
        .await?;
    Ok(id.map(CaseId::from_uuid))
}
