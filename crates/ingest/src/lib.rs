//! Channel adapters: bytes in, a validated [`mend_core::Complaint`] (or a reason to ignore a
//! record that is not a complaint) or a typed [`Rejection`] out, plus the checks of who sent
//! them (WeChat signatures, HMAC-signed bodies).
//!
//! Adapters are pure functions with no I/O, so they can be property-tested and fuzzed. Deciding
//! which case a complaint belongs to is not their business: that is `mend-cases`.

mod bot;
mod canonical;
mod csv_rows;
mod cues;
mod hotline;
mod keys;
mod lines;
mod readable;
mod rejection;
mod settings;
mod signature;
mod store_terminal;
mod time;
mod values;
pub mod wechat;

pub use bot::parse_bot;
pub use canonical::parse_canonical;
pub use csv_rows::CsvRecords;
pub use cues::Cues;
pub use hotline::{parse_hotline_csv, parse_hotline_json};
pub use keys::normalize_key;
pub use lines::RecordLines;
pub use readable::readable;
pub use rejection::Rejection;
pub use settings::{
    ConfigError, CueConfig, HotlineCsvConfig, ParseSettings, ReceivedAtBounds, ScoreScale, StoreCsvConfig,
    TextEncoding, WechatConfig,
};
pub use signature::{SIGNATURE_HEADER, SignatureError, sign_body, verify_body_signature};
pub use store_terminal::{parse_store_csv, parse_store_json};
pub use time::parse_instant;
pub use wechat::parse_wechat;

use chrono::{DateTime, Utc};
use mend_core::{Complaint, Delivery, Quarantined};

/// A customer's choice of a channel's complaint menu, at `at`: their messages until `until`
/// are the complaint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuChoice {
    pub channel: mend_core::Channel,
    pub key: mend_core::CustomerKey,
    pub at: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

impl MenuChoice {
    /// Whether a message sent at `at` falls in the choice's time.
    pub fn covers(&self, at: DateTime<Utc>) -> bool {
        (self.at..=self.until).contains(&at)
    }
}

/// What an adapter made of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Complaint(Box<Complaint>),
    /// Words that name no dissatisfaction, from a channel where a customer with a problem open
    /// goes on writing about it (WeChat): a complaint when intake finds the customer has a case
    /// open or just chose to complain, else ignored.
    Remark(Box<Complaint>),
    /// The customer chose to complain (WeChat's complaint menu): what they write next says what
    /// about.
    Intent(MenuChoice),
    /// A well-formed record that is not dissatisfaction (a question on WeChat, a call rated
    /// satisfied): counted, not stored.
    Ignored(String),
}

/// The shapes records arrive in. The label is what quarantine remembers, so a record can be
/// replayed through the same adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A canonical complaint (DESIGN.md).
    Canonical,
    HotlineJson,
    HotlineCsv,
    Wechat,
    Bot,
    StoreJson,
    StoreCsv,
}

impl Format {
    pub const ALL: [Format; 7] = [
        Format::Canonical,
        Format::HotlineJson,
        Format::HotlineCsv,
        Format::Wechat,
        Format::Bot,
        Format::StoreJson,
        Format::StoreCsv,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Format::Canonical => "json",
            Format::HotlineJson => "hotline",
            Format::HotlineCsv => "hotline-csv",
            Format::Wechat => "wechat",
            Format::Bot => "bot",
            Format::StoreJson => "store",
            Format::StoreCsv => "store-csv",
        }
    }

    /// The format of a quarantine label; `api` is a canonical complaint posted to the API.
    pub fn from_label(label: &str) -> Option<Format> {
        if label == "api" {
            return Some(Format::Canonical);
        }
        Format::ALL.into_iter().find(|f| f.label() == label)
    }

    pub fn parse(self, raw: &[u8], settings: &ParseSettings) -> Result<Parsed, Rejection> {
        match self {
            Format::Canonical => parse_canonical(raw, settings).map(|c| Parsed::Complaint(Box::new(c))),
            Format::HotlineJson => parse_hotline_json(raw, settings),
            Format::HotlineCsv => parse_hotline_csv(raw, settings),
            Format::Wechat => parse_wechat(raw, settings),
            Format::Bot => parse_bot(raw, settings),
            Format::StoreJson => parse_store_json(raw, settings),
            Format::StoreCsv => parse_store_csv(raw, settings),
        }
    }
}

/// What a record becomes: a delivery for intake (a complaint, or the raw bytes and the reason
/// in quarantine), or nothing but a count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    Delivery(Delivery),
    /// See [`Parsed::Remark`]; it passed the same checks as a complaint.
    Remark(Box<Complaint>),
    /// See [`Parsed::Intent`].
    Intent(MenuChoice),
    Ignored(String),
}

impl Received {
    /// For intakes that record deliveries only (files, replays, benches): a remark or a menu
    /// choice counts as ignored, with why.
    pub fn delivery_or_ignored(self) -> Result<Delivery, String> {
        match self {
            Received::Delivery(delivery) => Ok(delivery),
            Received::Remark(_) => Err("no dissatisfaction cue in the message".into()),
            Received::Intent(_) => Err("a complaint menu choice: the messages after it are the complaint".into()),
            Received::Ignored(why) => Err(why),
        }
    }
}

/// What a parse of `raw` means for intake at `now`: a complaint to record, a record to count
/// as ignored, or the raw bytes quarantined with the reason. `label` names where the bytes came
/// from (a [`Format::label`], or `api`), for quarantine and replay. The one gate every channel
/// passes, so rules about what may be stored at all (no NUL in text, a believable
/// `received_at`) hold for every channel and backend.
pub fn receive(
    label: &str,
    raw: &[u8],
    parsed: Result<Parsed, Rejection>,
    settings: &ParseSettings,
    now: DateTime<Utc>,
) -> Received {
    let checked = |mut c: Box<Complaint>| {
        if let Some(field) = c.field_with_nul() {
            return Err(Rejection::NulCharacter(field));
        }
        settings.received_at.check(c.received_at, now)?;
        c.format = label.to_owned();
        Ok(c)
    };
    let parsed = parsed.and_then(|p| match p {
        Parsed::Complaint(c) => checked(c).map(Parsed::Complaint),
        Parsed::Remark(c) => checked(c).map(Parsed::Remark),
        Parsed::Intent(ref choice) => settings.received_at.check(choice.at, now).map(|()| p),
        ignored => Ok(ignored),
    });
    match parsed {
        Ok(Parsed::Ignored(why)) => Received::Ignored(why),
        Ok(Parsed::Complaint(complaint)) => Received::Delivery(Delivery::Complaint(complaint)),
        Ok(Parsed::Remark(complaint)) => Received::Remark(complaint),
        Ok(Parsed::Intent(choice)) => Received::Intent(choice),
        Err(rejection) => Received::Delivery(Delivery::Quarantined(Quarantined {
            channel: label.to_owned(),
            raw: raw.to_vec(),
            // A reason quotes the value it refuses; a NUL there is shown, not stored.
            reason: rejection.to_string().replace('\0', "\\u0000"),
            location: None,
        })),
    }
}

/// A payload that must be one JSON object, as UTF-8 text and parsed.
pub(crate) fn json_object(raw: &[u8]) -> Result<(&str, serde_json::Value), Rejection> {
    let text = std::str::from_utf8(raw).map_err(|e| Rejection::NotUtf8 { valid_up_to: e.valid_up_to() })?;
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| Rejection::Json(e.to_string()))?;
    match value {
        serde_json::Value::Object(_) => Ok((text, value)),
        other => Err(Rejection::NotAnObject(canonical::json_kind(&other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn labels_round_trip() {
        for format in Format::ALL {
            assert_eq!(Format::from_label(format.label()), Some(format));
        }
        assert_eq!(Format::from_label("api"), Some(Format::Canonical));
        assert_eq!(Format::from_label("fax"), None);
    }

    proptest! {
        /// Whatever arrives, every adapter answers: a complaint, a reason to ignore it, or a
        /// typed rejection — never a panic.
        #[test]
        fn any_bytes_through_any_adapter_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..1024)) {
            let settings = ParseSettings::default();
            for format in Format::ALL {
                let _ = format.parse(&raw, &settings);
            }
        }
    }
}
