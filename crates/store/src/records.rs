//! Plain data that crosses the store boundary, in domain types rather than sea-orm models.

use chrono::{DateTime, Utc};
use mend_core::{
    CaseId, CategorySource, Complaint, ComplaintId, Customer, CustomerDetails, CustomerId, CustomerKey, LinkedIdentity,
    QuarantineId, Satisfaction, StoredComplaint,
};

use crate::StoreError;
use crate::entities::{complaint, customer, customer_identity};

/// Category ids are single words (checked when the taxonomy loads), so a space separates them.
pub(crate) fn encode_categories(categories: &[String]) -> String {
    categories.join(" ")
}

pub(crate) fn decode_categories(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

/// A stored word (status, kind, channel…) read as its enum; what does not parse names the row.
pub(crate) fn word<T: std::str::FromStr>(
    table: &'static str,
    row: impl std::fmt::Display,
    text: &str,
) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    text.parse().map_err(|e: T::Err| {
        let problem = e.to_string();
        // Some parsers (time zones) do not repeat what they could not read.
        match problem.contains(text) {
            true => StoreError::corrupt(table, row, problem),
            false => StoreError::corrupt(table, row, format_args!("`{text}`: {problem}")),
        }
    })
}

/// A record as a JSON column holds it ([`json_column`] reads it back).
pub(crate) fn json_text(record: &impl serde::Serialize) -> String {
    // The records kept as JSON are strings, numbers and times under string keys: none can fail
    // to serialize.
    serde_json::to_string(record).expect("a JSON column's record serializes")
}

/// A stored JSON column; what does not parse names the row.
pub(crate) fn json_column<T: serde::de::DeserializeOwned>(
    table: &'static str,
    row: impl std::fmt::Display,
    column: &str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::corrupt(table, row, format_args!("`{column}`: {e}")))
}

pub(crate) fn satisfaction(
    table: &'static str,
    row: impl std::fmt::Display,
    score: Option<i16>,
) -> Result<Option<Satisfaction>, StoreError> {
    score.map(|s| Satisfaction::new(i64::from(s)).map_err(|e| StoreError::corrupt(table, row, e))).transpose()
}

impl TryFrom<complaint::Model> for StoredComplaint {
    type Error = StoreError;

    fn try_from(m: complaint::Model) -> Result<Self, StoreError> {
        const TABLE: &str = "complaints";
        Ok(Self {
            complaint_id: ComplaintId::from_uuid(m.id),
            channel: word(TABLE, m.id, &m.channel)?,
            category_source: word(TABLE, m.id, &m.category_source)?,
            satisfaction: satisfaction(TABLE, m.id, m.satisfaction)?,
            grouping_reason: json_column(TABLE, m.id, "grouping_reason", &m.grouping_reason)?,
            source_id: m.source_id,
            customer_id: CustomerId::from_uuid(m.customer_id),
            case_id: CaseId::from_uuid(m.case_id),
            received_at: m.received_at,
            text: m.text,
            category: m.category,
            label: m.label,
            formal_complaint: m.formal_complaint,
            customer_keys: m.customer_keys.lines().map(str::to_owned).collect(),
        })
    }
}

impl TryFrom<customer::Model> for Customer {
    type Error = StoreError;

    fn try_from(m: customer::Model) -> Result<Self, StoreError> {
        const TABLE: &str = "customers";
        Ok(Self {
            customer_id: CustomerId::from_uuid(m.id),
            temperament: m.temperament.as_deref().map(|t| word(TABLE, m.id, t)).transpose()?,
            timezone: word(TABLE, m.id, &m.timezone)?,
            name: m.display_name,
            email: m.email,
            tier: m.tier,
            temperament_set_by: m.temperament_set_by,
            do_not_disturb: m.do_not_disturb,
        })
    }
}

impl From<customer_identity::Model> for LinkedIdentity {
    fn from(m: customer_identity::Model) -> Self {
        Self { kind: m.kind, value: m.value, source: m.source, linked_at: m.linked_at }
    }
}

/// A delivery key already stored, and where its complaint went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownDelivery {
    pub channel: mend_core::Channel,
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
    pub timezone: chrono_tz::Tz,
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
    pub category_source: CategorySource,
    /// What a trained model reads in the text (see `mend_cases::labels`); none without one.
    pub label: Option<String>,
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
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub subject_kind: String,
    pub subject_id: Option<uuid::Uuid>,
    pub detail: serde_json::Value,
}
