//! Channel adapters: bytes in, a validated [`mend_core::Complaint`] or a typed [`Rejection`] out.
//!
//! Adapters are pure functions with no I/O, so they can be property-tested and fuzzed. Deciding
//! which case a complaint belongs to is not their business: that is `mend-cases`.

mod canonical;
mod lines;
mod rejection;
mod time;

pub use canonical::parse_canonical;
pub use lines::RecordLines;
pub use rejection::Rejection;
pub use time::parse_instant;

use mend_core::{Delivery, Quarantined};

/// How adapters read what channels leave implicit.
#[derive(Debug, Clone, Copy)]
pub struct ParseSettings {
    /// The zone of times written without an offset.
    pub default_timezone: chrono_tz::Tz,
}

impl Default for ParseSettings {
    fn default() -> Self {
        Self { default_timezone: chrono_tz::Asia::Shanghai }
    }
}

/// Turns an adapter's answer into what intake records: the complaint, or the raw bytes and the
/// reason in quarantine.
pub fn into_delivery(channel_label: &str, raw: &[u8], parsed: Result<mend_core::Complaint, Rejection>) -> Delivery {
    match parsed {
        Ok(complaint) => Delivery::Complaint(Box::new(complaint)),
        Err(rejection) => Delivery::Quarantined(Quarantined {
            channel: channel_label.to_owned(),
            raw: raw.to_vec(),
            reason: rejection.to_string(),
        }),
    }
}
