//! Read models: what the API, exports and reports show.

use mend_core::{CaseId, CaseStatus, CustomerId};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;

use crate::entities::{case, complaint, customer, customer_identity, quarantine};
use crate::{CaseRecord, ComplaintRecord, CustomerRecord, IdentityRecord, StoreError};

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

/// Row counts of the main tables, for summaries and health pages.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Totals {
    pub customers: u64,
    pub complaints: u64,
    /// Cases in work or closed, not counting those merged into another.
    pub cases: u64,
    /// Cases folded into another (by a merge of customers or a person); they hold nothing.
    pub merged_cases: u64,
    pub quarantined: u64,
}

pub async fn totals<C: ConnectionTrait>(conn: &C) -> Result<Totals, StoreError> {
    Ok(Totals {
        customers: customer::Entity::find().count(conn).await?,
        complaints: complaint::Entity::find().count(conn).await?,
        cases: case::Entity::find().filter(case::Column::Status.ne(CaseStatus::Merged.as_str())).count(conn).await?,
        merged_cases: case::Entity::find()
            .filter(case::Column::Status.eq(CaseStatus::Merged.as_str()))
            .count(conn)
            .await?,
        quarantined: quarantine::Entity::find().count(conn).await?,
    })
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

/// One rule of the identity graph or of the cases that the data breaks, and on how many rows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IntegrityProblem {
    pub check: &'static str,
    pub rows: i64,
}

impl std::fmt::Display for IntegrityProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.rows, self.check)
    }
}

/// What `mend check` asks: each rule as a count of the rows that break it.
const INTEGRITY_CHECKS: [(&str, &str); 14] = [
    (
        "complaints without their case",
        "SELECT count(*) FROM complaints c WHERE NOT EXISTS (SELECT 1 FROM cases k WHERE k.id = c.case_id)",
    ),
    (
        "complaints in a case that was merged away",
        "SELECT count(*) FROM complaints c JOIN cases k ON k.id = c.case_id WHERE k.status = 'merged'",
    ),
    (
        // A complaint keeps the customer it arrived under; that customer may since have
        // been merged into the case's.
        "complaints whose customer is neither their case's customer nor merged away",
        "SELECT count(*) FROM complaints c JOIN cases k ON k.id = c.case_id JOIN customers u ON u.id = c.customer_id \
         WHERE k.customer_id <> c.customer_id AND u.merged_into IS NULL",
    ),
    (
        "cases without their customer",
        "SELECT count(*) FROM cases k WHERE NOT EXISTS (SELECT 1 FROM customers u WHERE u.id = k.customer_id)",
    ),
    (
        "cases of a customer that was merged away",
        "SELECT count(*) FROM cases k JOIN customers u ON u.id = k.customer_id WHERE u.merged_into IS NOT NULL",
    ),
    (
        "identities without their customer",
        "SELECT count(*) FROM customer_identities i \
         WHERE NOT EXISTS (SELECT 1 FROM customers u WHERE u.id = i.customer_id)",
    ),
    (
        "identity keys on a customer that was merged away",
        "SELECT count(*) FROM customer_identities i JOIN customers u ON u.id = i.customer_id \
         WHERE u.merged_into IS NOT NULL",
    ),
    (
        // On SQLite a key's uniqueness spans two indexes (`key_tiers`), kept by a trigger.
        "identity keys linked more than once",
        "SELECT count(*) FROM (SELECT kind, value FROM customer_identities \
         GROUP BY kind, value HAVING count(*) > 1) twice",
    ),
    (
        "customers merged away more than once (open merges of one customer)",
        "SELECT count(*) FROM (SELECT merged_id FROM customer_merges WHERE unmerged_at IS NULL \
         GROUP BY merged_id HAVING count(*) > 1) twice",
    ),
    (
        "open merges that their merged customer does not point along",
        "SELECT count(*) FROM customer_merges m JOIN customers u ON u.id = m.merged_id \
         WHERE m.unmerged_at IS NULL AND (u.merged_into IS NULL OR u.merged_into <> m.survivor_id)",
    ),
    (
        // A survivor merged away in turn has an open merge of its own: the chain is followed.
        "customers merged away without an open merge",
        "SELECT count(*) FROM customers u WHERE u.merged_into IS NOT NULL AND NOT EXISTS \
         (SELECT 1 FROM customer_merges m WHERE m.merged_id = u.id AND m.survivor_id = u.merged_into \
         AND m.unmerged_at IS NULL)",
    ),
    (
        "cases whose complaint count or span differs from their complaints",
        "SELECT count(*) FROM cases k JOIN (SELECT case_id, count(*) AS n, min(received_at) AS first, \
         max(received_at) AS last FROM complaints GROUP BY case_id) s ON s.case_id = k.id \
         WHERE s.n <> k.complaint_count OR s.first <> k.first_complaint_at OR s.last <> k.last_complaint_at",
    ),
    (
        "cases without complaints (other than merged ones)",
        "SELECT count(*) FROM cases k WHERE k.status <> 'merged' \
         AND NOT EXISTS (SELECT 1 FROM complaints c WHERE c.case_id = k.id)",
    ),
    (
        // A merged case may point at a case merged later in turn: readers follow the chain.
        "merged cases that still count complaints or point nowhere",
        "SELECT count(*) FROM cases k WHERE k.status = 'merged' AND (k.complaint_count <> 0 \
         OR NOT EXISTS (SELECT 1 FROM cases i WHERE i.id = k.merged_into))",
    ),
];

/// Broken references, stale counters and a contradicting identity graph: what the intake
/// tables' missing foreign keys would have refused, and what grouping and merging must keep
/// true. An empty answer means the data is consistent. Cost grows with the tables (full
/// scans), so this is for `mend check`, tests and maintenance, not for request paths.
pub async fn integrity_problems<C: ConnectionTrait>(conn: &C) -> Result<Vec<IntegrityProblem>, StoreError> {
    let backend = conn.get_database_backend();
    let mut problems = Vec::new();
    for (check, sql) in INTEGRITY_CHECKS {
        let row = conn.query_one_raw(sea_orm::Statement::from_string(backend, sql)).await?;
        let rows: i64 = match row {
            Some(row) => row.try_get_by_index(0)?,
            None => 0,
        };
        if rows > 0 {
            problems.push(IntegrityProblem { check, rows });
        }
    }
    Ok(problems)
}
