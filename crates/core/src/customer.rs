use chrono::DateTime;
use chrono::Utc;
use chrono_tz::Tz;
use serde::Serialize;

use crate::{CustomerId, Temperament};

/// The tier every customer has until the operator gives another.
pub const STANDARD_TIER: &str = "standard";

/// A person who complained, under whichever keys they used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Customer {
    pub customer_id: CustomerId,
    pub name: Option<String>,
    pub email: Option<String>,
    /// The operator's own tiers (`standard`, `vip`…), weighed by `[scheduler.priority]`.
    pub tier: String,
    pub temperament: Option<Temperament>,
    /// Who set `temperament` (`agent`), or `None` when nobody did.
    pub temperament_set_by: Option<String>,
    pub timezone: Tz,
    pub do_not_disturb: bool,
}

/// One key a customer is known by, and where it was first seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkedIdentity {
    pub kind: String,
    pub value: String,
    pub source: String,
    pub linked_at: DateTime<Utc>,
}
