use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::text_enum::text_enum;
use crate::{CaseId, Channel, ComplaintId, CustomerId, CustomerKey};

/// A satisfaction score from 1 (very dissatisfied) to 5 (very satisfied).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i16")]
pub struct Satisfaction(u8);

impl Satisfaction {
    pub fn new(score: i64) -> Result<Self, String> {
        match score {
            1..=5 => Ok(Self(score as u8)),
            _ => Err(format!("satisfaction {score} is outside 1-5")),
        }
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

impl std::fmt::Display for Satisfaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl TryFrom<i64> for Satisfaction {
    type Error = String;

    fn try_from(value: i64) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<Satisfaction> for i16 {
    fn from(s: Satisfaction) -> i16 {
        i16::from(s.0)
    }
}

/// What a channel told us about the person, beyond the keys that identify them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerDetails {
    pub name: Option<String>,
    pub email: Option<String>,
}

/// One dissatisfied record, validated and normalized, whatever channel it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Complaint {
    pub channel: Channel,
    /// The channel's own id of this record; with `channel`, the idempotency key.
    pub source_id: String,
    pub received_at: DateTime<Utc>,
    /// Normalized keys, never empty, most specific first.
    pub keys: Vec<CustomerKey>,
    pub customer: CustomerDetails,
    pub text: String,
    /// The category the channel itself assigned, if any.
    pub category: Option<String>,
    pub satisfaction: Option<Satisfaction>,
    pub formal_complaint: bool,
    /// The payload as it arrived, kept for audit and replay.
    pub raw_payload: String,
    /// The label of the adapter that read it (a quarantine label, e.g. `hotline-csv`), so a
    /// redelivery refused later is quarantined to replay through the same adapter.
    #[serde(default)]
    pub format: String,
    /// Which record of its file it was (1 for the first), should it be quarantined later (a
    /// conflicting redelivery, a row the database refuses); none over the API.
    #[serde(default)]
    pub record: Option<u64>,
}

/// What a delivery says, as far as a redelivery under the same `(channel, source_id)` must say
/// the same: an identical repeat (a channel's retry, a re-imported file) is a duplicate, other
/// content under a known id is a conflict. How the payload was spelled (field order, spacing,
/// unknown fields) is not content; times compare to the microsecond the databases keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryContent {
    pub received_at: DateTime<Utc>,
    pub text: String,
    /// The keys it arrived with, as `kind:value` ([`CustomerKey`]'s display), in order.
    pub keys: Vec<String>,
    pub satisfaction: Option<u8>,
    pub formal_complaint: bool,
}

impl DeliveryContent {
    /// The fields in which `other` says something else, named as in the canonical complaint.
    pub fn differences(&self, other: &DeliveryContent) -> Vec<&'static str> {
        let micros = |t: &DateTime<Utc>| t.timestamp_micros();
        [
            ("received_at", micros(&self.received_at) != micros(&other.received_at)),
            ("text", self.text != other.text),
            ("customer", self.keys != other.keys),
            ("satisfaction", self.satisfaction != other.satisfaction),
            ("formal_complaint", self.formal_complaint != other.formal_complaint),
        ]
        .into_iter()
        .filter_map(|(field, differs)| differs.then_some(field))
        .collect()
    }
}

impl Complaint {
    /// This complaint kept in quarantine for `reason`, as the bytes it arrived as, to replay
    /// through the adapter that read it.
    pub fn quarantined(&self, reason: String) -> Quarantined {
        Quarantined {
            channel: self.format.clone(),
            raw: self.raw_payload.as_bytes().to_vec(),
            reason,
            location: self.record.map(|n| format!("record {n}")),
        }
    }

    pub fn content(&self) -> DeliveryContent {
        DeliveryContent {
            received_at: self.received_at,
            text: self.text.clone(),
            keys: self.keys.iter().map(CustomerKey::to_string).collect(),
            satisfaction: self.satisfaction.map(Satisfaction::get),
            formal_complaint: self.formal_complaint,
        }
    }

    /// The first text field holding a NUL character (U+0000), which PostgreSQL cannot store in
    /// text: such a complaint is quarantined on every backend alike, never stored on one only.
    pub fn field_with_nul(&self) -> Option<&'static str> {
        let holds_nul = |s: &str| s.contains('\0');
        let fields: [(&'static str, Option<&str>); 6] = [
            ("source_id", Some(&self.source_id)),
            ("text", Some(&self.text)),
            ("category", self.category.as_deref()),
            ("customer.name", self.customer.name.as_deref()),
            ("customer.email", self.customer.email.as_deref()),
            ("raw payload", Some(&self.raw_payload)),
        ];
        // Keys need no look: normalizing a key refuses every control character.
        fields.into_iter().find(|(_, value)| value.is_some_and(holds_nul)).map(|(field, _)| field)
    }
}

/// A payload that could not become a complaint, with everything needed to look at it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantined {
    /// The channel (or import format) the payload was offered on.
    pub channel: String,
    pub raw: Vec<u8>,
    pub reason: String,
    /// Where in its file the payload was (`record 12`), shown before the reason; not part of
    /// what makes two quarantined payloads the same.
    pub location: Option<String>,
}

/// What one record of a channel turned into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Complaint(Box<Complaint>),
    Quarantined(Quarantined),
}

text_enum! {
    /// Where a complaint's category came from.
    pub enum CategorySource ("category source") {
        /// The channel said so.
        Given = "given",
        /// The classifier's keywords matched.
        Classified = "classified",
        /// Nothing did: the taxonomy's default.
        Default = "default",
        /// The trained model's label, which configuration maps to this category
        /// (`taxonomy.labels`).
        Label = "label",
    }
}

/// A complaint as stored, for reading back (case views, exports).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredComplaint {
    pub complaint_id: ComplaintId,
    pub channel: Channel,
    pub source_id: String,
    pub customer_id: CustomerId,
    pub case_id: CaseId,
    pub received_at: DateTime<Utc>,
    pub text: String,
    pub category: String,
    pub category_source: CategorySource,
    /// What a trained model reads in the text (`mend train categories`); none without one.
    pub label: Option<String>,
    pub satisfaction: Option<Satisfaction>,
    pub formal_complaint: bool,
    pub grouping_reason: serde_json::Value,
    /// The customer keys it carried (`kind:value`).
    pub customer_keys: Vec<String>,
}

/// What a callback script quotes of a case's complaints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComplaintLine {
    pub case_id: CaseId,
    pub channel: Channel,
    pub received_at: DateTime<Utc>,
    pub text: String,
    pub satisfaction: Option<Satisfaction>,
}
