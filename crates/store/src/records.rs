//! Plain data that crosses the store boundary, in domain types rather than sea-orm models.

use chrono::{DateTime, Utc};
use mend_core::{
    CaseId, CaseStatus, Complaint, ComplaintId, CustomerDetails, CustomerId, CustomerKey, MergeId, QuarantineId,
};
use serde::Serialize;

use crate::StoreError;
use crate::entities::{case, complaint, customer, customer_identity};

/// A case as grouping sees it; written back whole (upsert) when grouping changes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseRecord {
    pub id: CaseId,
    pub customer_id: CustomerId,
    pub category: String,
    pub status: CaseStatus,
    pub escalation_risk: bool,
    pub repeat_failure: bool,
    pub complaint_count: i32,
    pub first_complaint_at: DateTime<Utc>,
    pub last_complaint_at: DateTime<Utc>,
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    /// The strongest terms of its complaints (encoded by `mend-cases`), for similarity; an
    /// internal encoding, never shown.
    #[serde(skip)]
    pub signature: String,
    /// Categories of cases merged into this one.
    pub extra_categories: Vec<String>,
    pub merged_into: Option<CaseId>,
    /// The customer merge that merged this case into another.
    pub merged_by: Option<MergeId>,
    pub split_from: Option<CaseId>,
    pub reopened_at: Option<DateTime<Utc>>,
}

/// Category ids are single words (checked when the taxonomy loads), so a space separates them.
pub(crate) fn encode_categories(categories: &[String]) -> String {
    categories.join(" ")
}

pub(crate) fn decode_categories(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

impl TryFrom<case::Model> for CaseRecord {
    type Error = StoreError;

    fn try_from(m: case::Model) -> Result<Self, StoreError> {
        Ok(Self {
            id: CaseId::from_uuid(m.id),
            customer_id: CustomerId::from_uuid(m.customer_id),
            category: m.category,
            status: m.status.parse().map_err(StoreError::Corrupt)?,
            escalation_risk: m.escalation_risk,
            repeat_failure: m.repeat_failure,
            complaint_count: m.complaint_count,
            first_complaint_at: m.first_complaint_at,
            last_complaint_at: m.last_complaint_at,
            opened_at: m.opened_at,
            closed_at: m.closed_at,
            updated_at: m.updated_at,
            signature: m.signature,
            extra_categories: decode_categories(&m.extra_categories),
            merged_into: m.merged_into.map(CaseId::from_uuid),
            merged_by: m.merged_by.map(MergeId::from_uuid),
            split_from: m.split_from.map(CaseId::from_uuid),
            reopened_at: m.reopened_at,
        })
    }
}

/// A complaint as stored, for reading back (case views, exports).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ComplaintRecord {
    pub complaint_id: ComplaintId,
    pub channel: String,
    pub source_id: String,
    pub customer_id: CustomerId,
    pub case_id: CaseId,
    pub received_at: DateTime<Utc>,
    pub text: String,
    pub category: String,
    pub category_source: String,
    pub satisfaction: Option<i16>,
    pub formal_complaint: bool,
    pub grouping_reason: serde_json::Value,
    /// The customer keys it carried (`kind:value`).
    pub customer_keys: Vec<String>,
}

impl From<complaint::Model> for ComplaintRecord {
    fn from(m: complaint::Model) -> Self {
        Self {
            complaint_id: ComplaintId::from_uuid(m.id),
            channel: m.channel,
            source_id: m.source_id,
            customer_id: CustomerId::from_uuid(m.customer_id),
            case_id: CaseId::from_uuid(m.case_id),
            received_at: m.received_at,
            text: m.text,
            category: m.category,
            category_source: m.category_source,
            satisfaction: m.satisfaction,
            formal_complaint: m.formal_complaint,
            grouping_reason: serde_json::from_str(&m.grouping_reason).unwrap_or(serde_json::Value::Null),
            customer_keys: m.customer_keys.lines().map(str::to_owned).collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CustomerRecord {
    pub customer_id: CustomerId,
    pub name: Option<String>,
    pub email: Option<String>,
    pub tier: String,
    pub temperament: Option<String>,
    /// Who set `temperament` (`agent`), or `None` when nobody did.
    pub temperament_set_by: Option<String>,
    pub timezone: String,
    pub do_not_disturb: bool,
}

impl From<customer::Model> for CustomerRecord {
    fn from(m: customer::Model) -> Self {
        Self {
            customer_id: CustomerId::from_uuid(m.id),
            name: m.display_name,
            email: m.email,
            tier: m.tier,
            temperament: m.temperament,
            temperament_set_by: m.temperament_set_by,
            timezone: m.timezone,
            do_not_disturb: m.do_not_disturb,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdentityRecord {
    pub kind: String,
    pub value: String,
    pub source: String,
    pub linked_at: DateTime<Utc>,
}

impl From<customer_identity::Model> for IdentityRecord {
    fn from(m: customer_identity::Model) -> Self {
        Self { kind: m.kind, value: m.value, source: m.source, linked_at: m.linked_at }
    }
}

/// A delivery key already stored, and where its complaint went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownDelivery {
    pub channel: String,
    pub source_id: String,
    pub complaint_id: ComplaintId,
    pub case_id: CaseId,
    pub customer_id: CustomerId,
    /// What it said, to tell a repeat from a conflicting redelivery.
    pub content: mend_core::DeliveryContent,
}

/// A customer key already linked, with which customer details are still missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownIdentity {
    pub key: CustomerKey,
    pub customer_id: CustomerId,
    pub has_name: bool,
    pub has_email: bool,
}

#[derive(Debug, Clone)]
pub struct NewCustomer {
    pub id: CustomerId,
    pub details: CustomerDetails,
    pub timezone: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewIdentity {
    pub customer_id: CustomerId,
    pub key: CustomerKey,
    pub source: String,
    pub linked_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewComplaint<'a> {
    pub id: ComplaintId,
    pub complaint: &'a Complaint,
    /// The complaint's keys as `kind:value` lines.
    pub customer_keys: String,
    pub customer_id: CustomerId,
    pub case_id: CaseId,
    pub category: String,
    pub category_source: &'static str,
    /// Why grouping put the complaint in its case, as JSON text.
    pub grouping_reason: String,
    pub ingested_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewQuarantine {
    pub id: QuarantineId,
    pub channel: String,
    pub raw: Vec<u8>,
    pub reason: String,
    /// Where in its file the payload was (`record 12`); stored before the reason.
    pub location: Option<String>,
    pub received_at: DateTime<Utc>,
}

/// Something a person or a bulk operation did, kept for the audit trail.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub subject_kind: String,
    pub subject_id: Option<uuid::Uuid>,
    pub detail: serde_json::Value,
}
