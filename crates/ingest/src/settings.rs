//! What adapters need to know that channels leave implicit: time zones, the words that mark
//! dissatisfaction, how a vendor's CSV export names its columns, the WeChat keys.
//!
//! The `*Config` structs are the configuration file's sections as written
//! (`[channels.hotline.csv]`, `[wechat]`, …); [`ParseSettings::new`] checks them once and turns
//! them into what the adapters use.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

use crate::Rejection;
use crate::cues::Cues;
use crate::wechat::AesKey;

/// Character encoding of a CSV export. Excel in China writes GB18030 (GBK) by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TextEncoding {
    #[default]
    #[serde(rename = "utf-8", alias = "utf8", alias = "UTF-8")]
    Utf8,
    #[serde(alias = "GB18030", alias = "gbk", alias = "GBK", alias = "gb2312")]
    Gb18030,
}

/// Which end of a numeric satisfaction score is good. mend stores 1 = very dissatisfied …
/// 5 = very satisfied; some IVR systems record "press 1 if satisfied".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ScoreScale {
    /// 1 is the worst score, 5 the best.
    #[default]
    OneIsWorst,
    /// 1 is the best score, 5 the worst.
    OneIsBest,
}

/// `[channels.hotline.csv]`: how to read one vendor's call export.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct HotlineCsvConfig {
    pub encoding: TextEncoding,
    /// chrono format of naive times; times with an offset are read as RFC 3339 anyway.
    pub time_format: String,
    /// The zone of naive times.
    pub timezone: String,
    pub satisfaction_scale: ScoreScale,
    /// How many points a numeric score has: 5, or 3 for a three-key IVR survey (满意 / 一般 /
    /// 不满意), or 10 for a survey from 0 to 10.
    pub satisfaction_points: u8,
    pub call_id: String,
    pub caller: String,
    pub started_at: String,
    pub ended_at: String,
    pub agent: String,
    pub satisfaction: String,
    pub complaint: String,
    pub notes: String,
}

impl Default for HotlineCsvConfig {
    fn default() -> Self {
        Self {
            encoding: TextEncoding::Utf8,
            time_format: "%Y-%m-%d %H:%M:%S".into(),
            timezone: "Asia/Shanghai".into(),
            satisfaction_scale: ScoreScale::OneIsWorst,
            satisfaction_points: 5,
            call_id: "call_id".into(),
            caller: "caller".into(),
            started_at: "started_at".into(),
            ended_at: "ended_at".into(),
            agent: "agent".into(),
            satisfaction: "satisfaction".into(),
            complaint: "complaint".into(),
            notes: "notes".into(),
        }
    }
}

/// `[channels.store.csv]`: how to read an export of store satisfaction terminals.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct StoreCsvConfig {
    pub encoding: TextEncoding,
    pub time_format: String,
    pub timezone: String,
    pub record_id: String,
    pub store_id: String,
    pub counter: String,
    pub staff_id: String,
    pub rated_at: String,
    pub rating: String,
    pub member_id: String,
    pub phone: String,
    pub comment: String,
}

impl Default for StoreCsvConfig {
    fn default() -> Self {
        Self {
            encoding: TextEncoding::Utf8,
            time_format: "%Y-%m-%d %H:%M:%S".into(),
            timezone: "Asia/Shanghai".into(),
            record_id: "record_id".into(),
            store_id: "store_id".into(),
            counter: "counter".into(),
            staff_id: "staff_id".into(),
            rated_at: "rated_at".into(),
            rating: "rating".into(),
            member_id: "member_id".into(),
            phone: "phone".into(),
            comment: "comment".into(),
        }
    }
}

/// `[wechat]`: the official account's server settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct WechatConfig {
    /// The Token of the server configuration; empty = the callback refuses every request.
    pub token: String,
    /// 43 characters; empty = plaintext mode only.
    pub encoding_aes_key: String,
    pub appid: String,
    /// Menu clicks (`EventKey`) that mean "I want to complain".
    pub complaint_event_keys: Vec<String>,
    /// For how long after such a click the customer's messages say what the complaint is.
    pub complaint_menu_minutes: i64,
    /// Said to the customer in the chat at once (a passive reply) when they choose the complaint
    /// menu; empty = nothing said.
    pub menu_reply: String,
    /// Said when a message of theirs opens a case; empty = nothing said.
    pub complaint_reply: String,
}

impl Default for WechatConfig {
    fn default() -> Self {
        Self {
            token: String::new(),
            encoding_aes_key: String::new(),
            appid: String::new(),
            complaint_event_keys: Vec::new(),
            complaint_menu_minutes: 30,
            menu_reply: String::new(),
            complaint_reply: String::new(),
        }
    }
}

/// `[intake]`: rules shared by the channels.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(default)]
pub struct CueConfig {
    /// Words that mark a message as dissatisfaction where not every message is one (WeChat
    /// messages, chatbot sessions, hotline notes).
    pub dissatisfaction_cues: Vec<String>,
    /// What chatbot users write to ask for a person; asking twice or more is a complaint.
    pub human_request_cues: Vec<String>,
    /// Words by which a customer says outright that they complain ("我要投诉", "乱扣费", "退钱"):
    /// a chatbot session or a store comment holding one is a complaint whatever its rating.
    pub complaint_cues: Vec<String>,
}

/// When a record may say it was received (`[intake]` `max_clock_skew_seconds`,
/// `earliest_received_at`): a time far ahead of mend's clock or before the desk could have
/// existed is a broken sender or a typo, and would make a due date of year 10000.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceivedAtBounds {
    pub max_ahead: chrono::Duration,
    pub earliest: DateTime<Utc>,
}

impl Default for ReceivedAtBounds {
    fn default() -> Self {
        Self {
            max_ahead: chrono::Duration::days(1),
            earliest: DateTime::parse_from_rfc3339("2000-01-01T00:00:00Z").expect("a valid instant").to_utc(),
        }
    }
}

impl ReceivedAtBounds {
    pub(crate) fn check(&self, received_at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), Rejection> {
        let latest = now + self.max_ahead;
        // The reason names no clock reading: the same payload refused again is the same
        // quarantine record.
        let reason = if received_at > latest {
            format!(
                "{} is ahead of mend's clock by more than the allowed {} s (intake.max_clock_skew_seconds)",
                received_at.to_rfc3339(),
                self.max_ahead.num_seconds()
            )
        } else if received_at < self.earliest {
            format!(
                "{} is before the earliest time accepted, {} (intake.earliest_received_at)",
                received_at.to_rfc3339(),
                self.earliest.to_rfc3339()
            )
        } else {
            return Ok(());
        };
        Err(Rejection::invalid("received_at", reason))
    }
}

/// Everything the adapters read, checked. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ParseSettings {
    /// The zone of times written without an offset.
    pub default_timezone: Tz,
    pub received_at: ReceivedAtBounds,
    /// How far a signed timestamp (WeChat's, `X-Mend-Signature`'s) may be from mend's clock.
    pub signature_window: chrono::Duration,
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub dissatisfaction: Cues,
    pub human_request: Cues,
    pub complaint: Cues,
    pub wechat: WechatSettings,
    pub hotline_csv: CsvLayout<HotlineCsvConfig>,
    pub store_csv: CsvLayout<StoreCsvConfig>,
}

#[derive(Debug)]
pub(crate) struct WechatSettings {
    pub token: String,
    pub aes_key: Option<AesKey>,
    pub appid: String,
    pub complaint_event_keys: Vec<String>,
    pub complaint_menu: chrono::Duration,
    pub menu_reply: Option<String>,
    pub complaint_reply: Option<String>,
}

/// A CSV mapping with its zone parsed.
#[derive(Debug)]
pub(crate) struct CsvLayout<C> {
    pub columns: C,
    pub timezone: Tz,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct ConfigError {
    pub key: &'static str,
    pub reason: String,
}

/// The longest passive reply WeChat shows whole, in bytes (its documented limit is 2048).
const MAX_REPLY_BYTES: usize = 2048;

fn reply_text(key: &'static str, text: &str) -> Result<Option<String>, ConfigError> {
    let text = text.trim();
    if text.len() > MAX_REPLY_BYTES {
        return Err(ConfigError {
            key,
            reason: format!("{} bytes: WeChat shows at most {MAX_REPLY_BYTES}", text.len()),
        });
    }
    // XML cannot carry them, not even as CDATA: WeChat would refuse the whole reply.
    if let Some(c) = text.chars().find(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')) {
        let reason = format!("holds the control character U+{:04X}, which XML cannot carry", u32::from(c));
        return Err(ConfigError { key, reason });
    }
    Ok(Some(text.to_owned()).filter(|t| !t.is_empty()))
}

fn zone(key: &'static str, name: &str) -> Result<Tz, ConfigError> {
    name.parse().map_err(|_| ConfigError { key, reason: format!("`{name}` is not an IANA time zone") })
}

impl ParseSettings {
    pub fn new(
        default_timezone: Tz,
        cues: &CueConfig,
        wechat: &WechatConfig,
        hotline_csv: &HotlineCsvConfig,
        store_csv: &StoreCsvConfig,
    ) -> Result<Self, ConfigError> {
        let aes_key = match wechat.encoding_aes_key.trim() {
            "" => None,
            key => Some(
                AesKey::from_encoding_aes_key(key)
                    .map_err(|reason| ConfigError { key: "wechat.encoding_aes_key", reason })?,
            ),
        };
        if !(1..=24 * 60).contains(&wechat.complaint_menu_minutes) {
            return Err(ConfigError {
                key: "wechat.complaint_menu_minutes",
                reason: format!("{} minutes: between 1 and a day", wechat.complaint_menu_minutes),
            });
        }
        if ![3, 5, 10].contains(&hotline_csv.satisfaction_points) {
            return Err(ConfigError {
                key: "channels.hotline.csv.satisfaction_points",
                reason: format!("{} points: a score has 3, 5 or 10", hotline_csv.satisfaction_points),
            });
        }
        let inner = Inner {
            dissatisfaction: Cues::new(&cues.dissatisfaction_cues),
            human_request: Cues::new(&cues.human_request_cues),
            complaint: Cues::new(&cues.complaint_cues),
            wechat: WechatSettings {
                token: wechat.token.trim().to_owned(),
                aes_key,
                appid: wechat.appid.trim().to_owned(),
                complaint_event_keys: wechat.complaint_event_keys.clone(),
                complaint_menu: chrono::Duration::minutes(wechat.complaint_menu_minutes),
                menu_reply: reply_text("wechat.menu_reply", &wechat.menu_reply)?,
                complaint_reply: reply_text("wechat.complaint_reply", &wechat.complaint_reply)?,
            },
            hotline_csv: CsvLayout {
                timezone: zone("channels.hotline.csv.timezone", &hotline_csv.timezone)?,
                columns: hotline_csv.clone(),
            },
            store_csv: CsvLayout {
                timezone: zone("channels.store.csv.timezone", &store_csv.timezone)?,
                columns: store_csv.clone(),
            },
        };
        Ok(Self {
            default_timezone,
            received_at: ReceivedAtBounds::default(),
            signature_window: chrono::Duration::seconds(300),
            inner: Arc::new(inner),
        })
    }

    /// These settings with other bounds on `received_at` than the defaults (a day ahead, 2000).
    pub fn with_received_at_bounds(self, received_at: ReceivedAtBounds) -> Self {
        Self { received_at, ..self }
    }

    /// These settings with another window for signed timestamps than the default 300 s.
    pub fn with_signature_window(self, signature_window: chrono::Duration) -> Self {
        Self { signature_window, ..self }
    }

    /// Whether WeChat's callback can check signatures (a token is configured).
    pub fn wechat_token(&self) -> Option<&str> {
        Some(self.inner.wechat.token.as_str()).filter(|t| !t.is_empty())
    }
}

/// Default zone, no cues, default column names, no WeChat keys: canonical complaints and
/// channels' explicit flags work; nothing is recognised by its wording.
impl Default for ParseSettings {
    fn default() -> Self {
        Self::new(
            chrono_tz::Asia::Shanghai,
            &CueConfig::default(),
            &WechatConfig::default(),
            &HotlineCsvConfig::default(),
            &StoreCsvConfig::default(),
        )
        .expect("the built-in defaults are valid")
    }
}
