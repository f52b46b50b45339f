//! The WeChat official account (公众号): the server protocol's signatures, safe-mode decryption
//! and message XML, turned into complaints.
//!
//! Not every message is dissatisfaction: a text or voice message is a complaint when it holds
//! one of the configured cues, a menu click when its `EventKey` is a configured complaint key;
//! everything else is [`Parsed::Ignored`]. WeChat retries a message up to three times, so the
//! delivery key is `MsgId` (for events, `FromUserName` + `CreateTime` + `Event`).

mod crypto;
mod documents;
mod reply;
mod xml;

pub use crypto::{AesKey, decrypt, signature, signature_matches};
pub use documents::XmlDocuments;
pub use reply::{ReplyOccasion, passive_reply};

use chrono::{DateTime, Utc};
use mend_core::{Channel, Complaint, CustomerDetails, IdentityKind};
use serde::Deserialize;

use crate::keys::KeyCollector;
use crate::{MenuChoice, ParseSettings, Parsed, Rejection};

/// The query string WeChat puts on every callback request.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CallbackQuery {
    pub signature: Option<String>,
    pub timestamp: Option<String>,
    pub nonce: Option<String>,
    pub echostr: Option<String>,
    pub encrypt_type: Option<String>,
    pub msg_signature: Option<String>,
}

/// Why a callback request is not from WeChat (or cannot be shown to be).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    #[error("wechat.token is not configured, so no request can be verified")]
    NotConfigured,
    #[error("query parameter `{0}` is missing")]
    Missing(&'static str),
    #[error("the signature does not match")]
    BadSignature,
    #[error("a safe-mode message must carry an Encrypt element to be verified: {0}")]
    NoEnvelope(String),
    #[error("the signed timestamp `{timestamp}` is not within {window_seconds} s of mend's clock")]
    Stale { timestamp: String, window_seconds: i64 },
    #[error("this timestamp and nonce already came with another body")]
    NonceReused,
    #[error("the nonce is longer than 64 characters or not printable ASCII")]
    BadNonce,
}

fn required<'a>(value: &'a Option<String>, name: &'static str) -> Result<&'a str, CallbackError> {
    value.as_deref().filter(|v| !v.is_empty()).ok_or(CallbackError::Missing(name))
}

/// Server verification (`GET`): the `echostr` to answer, when the signature is WeChat's.
/// The signed timestamp must be within the signature window of `now`, as for a push: a
/// captured verification URL is not a key that opens the account forever.
pub fn verify_echo<'q>(
    settings: &ParseSettings,
    query: &'q CallbackQuery,
    now: DateTime<Utc>,
) -> Result<&'q str, CallbackError> {
    let token = settings.wechat_token().ok_or(CallbackError::NotConfigured)?;
    let signature = required(&query.signature, "signature")?;
    let timestamp = required(&query.timestamp, "timestamp")?;
    let parts = [token, timestamp, required(&query.nonce, "nonce")?];
    signed_recently(settings, timestamp, now)?;
    if !signature_matches(&parts, signature) {
        return Err(CallbackError::BadSignature);
    }
    required(&query.echostr, "echostr")
}

/// A message push (`POST`): in safe mode (`encrypt_type=aes`) `msg_signature` covers the
/// encrypted body; in plaintext mode `signature` covers the token, timestamp and nonce.
/// The signed timestamp must be within the signature window of `now`: in plaintext mode the
/// signature covers no body, so the caller also remembers (timestamp, nonce) with the body.
pub fn verify_push(
    settings: &ParseSettings,
    query: &CallbackQuery,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(), CallbackError> {
    let token = settings.wechat_token().ok_or(CallbackError::NotConfigured)?;
    let timestamp = required(&query.timestamp, "timestamp")?;
    let nonce = required(&query.nonce, "nonce")?;
    // The nonce is remembered for the window: WeChat's are short digits, nothing else is stored.
    if nonce.len() > 64 || !nonce.chars().all(|c| c.is_ascii_graphic()) {
        return Err(CallbackError::BadNonce);
    }
    signed_recently(settings, timestamp, now)?;
    let verified = if query.encrypt_type.as_deref() == Some("aes") {
        let msg_signature = required(&query.msg_signature, "msg_signature")?;
        let text = std::str::from_utf8(body).map_err(|e| CallbackError::NoEnvelope(e.to_string()))?;
        let fields = xml::parse(text).map_err(|e| CallbackError::NoEnvelope(e.to_string()))?;
        let encrypted = fields.get("Encrypt").ok_or_else(|| CallbackError::NoEnvelope("no Encrypt element".into()))?;
        signature_matches(&[token, timestamp, nonce, encrypted], msg_signature)
    } else {
        signature_matches(&[token, timestamp, nonce], required(&query.signature, "signature")?)
    };
    if verified { Ok(()) } else { Err(CallbackError::BadSignature) }
}

/// Whether `timestamp` (Unix seconds, as WeChat signs it) is within the signature window of `now`.
fn signed_recently(settings: &ParseSettings, timestamp: &str, now: DateTime<Utc>) -> Result<(), CallbackError> {
    let stale = || CallbackError::Stale {
        timestamp: timestamp.to_owned(),
        window_seconds: settings.signature_window.num_seconds(),
    };
    let seconds: i64 = timestamp.parse().map_err(|_| stale())?;
    crate::signature::check_window(seconds, now, settings.signature_window).map_err(|_| stale())
}

/// One message as WeChat pushes it: plaintext XML, or a safe-mode envelope (`<Encrypt>`)
/// that is decrypted with the configured key first.
pub fn parse_wechat(raw: &[u8], settings: &ParseSettings) -> Result<Parsed, Rejection> {
    let (fields, message) = message_of(raw, settings)?;
    message_to_complaint(&fields, message, settings)
}

/// The pushed message, decrypted first in safe mode, with its fields.
fn message_of(raw: &[u8], settings: &ParseSettings) -> Result<(xml::Fields, String), Rejection> {
    let text = std::str::from_utf8(raw).map_err(|e| Rejection::NotUtf8 { valid_up_to: e.valid_up_to() })?;
    let fields = xml::parse(text)?;
    let wechat = &settings.inner.wechat;
    // Compatible mode carries the message twice, in clear and in `Encrypt`; only `Encrypt` is
    // covered by `msg_signature`, so with a key the clear copy is never read: whoever altered
    // it on the way would choose the sender and the words.
    match (fields.get("Encrypt"), &wechat.aes_key, fields.get("MsgType")) {
        (Some(encrypted), Some(key), _) => {
            let message = decrypt(encrypted, key, &wechat.appid)?;
            Ok((xml::parse(&message)?, message))
        }
        (Some(_), None, None) => Err(Rejection::Decrypt("wechat.encoding_aes_key is not configured".into())),
        _ => Ok((fields, text.to_owned())),
    }
}

fn message_to_complaint(fields: &xml::Fields, message: String, settings: &ParseSettings) -> Result<Parsed, Rejection> {
    let openid = fields.get("FromUserName").ok_or(Rejection::Missing("FromUserName"))?;
    let mut keys = KeyCollector::default();
    keys.opaque(IdentityKind::WechatOpenid, Some(openid));
    let keys = keys.finish()?;
    let created = fields.get("CreateTime").ok_or(Rejection::Missing("CreateTime"))?;
    let received_at = created
        .parse::<i64>()
        .ok()
        .and_then(|secs| DateTime::<Utc>::from_timestamp(secs, 0))
        .ok_or_else(|| Rejection::invalid("CreateTime", format!("`{created}` is not a Unix time")))?;
    let msg_type = fields.get("MsgType").ok_or(Rejection::Missing("MsgType"))?;
    let cues = &settings.inner.dissatisfaction;

    let wechat = &settings.inner.wechat;
    match msg_type {
        "text" | "voice" => {
            let field = if msg_type == "text" { "Content" } else { "Recognition" };
            let Some(text) = fields.get(field).filter(|t| !t.trim().is_empty()) else {
                return Ok(Parsed::Ignored(format!("a {msg_type} message without {field}")));
            };
            let source_id = crate::keys::delivery_id(fields.get("MsgId").map(str::to_owned), "MsgId")?;
            let complaint = Box::new(Complaint {
                channel: Channel::Wechat,
                source_id,
                received_at,
                keys,
                customer: CustomerDetails::default(),
                text: text.to_owned(),
                category: None,
                satisfaction: None,
                formal_complaint: false,
                raw_payload: message,
                format: String::new(),
                record: None,
            });
            // Customers write to the account about anything; words without a cue are the
            // complaint only if the customer has one open, or just chose the complaint menu.
            Ok(if cues.any_in(text) { Parsed::Complaint(complaint) } else { Parsed::Remark(complaint) })
        }
        "event" => {
            let event = fields.get("Event").ok_or(Rejection::Missing("Event"))?;
            let key = fields.get("EventKey").unwrap_or_default();
            // Following the account by scanning a code names the code's scene with a prefix.
            let scene = key.strip_prefix("qrscene_").unwrap_or(key);
            // A choice is a click, or following (or scanning) a complaint code; leaving the
            // account or opening a link names its key without choosing to complain.
            let chose = matches!(event, "CLICK" | "subscribe" | "SCAN");
            if !chose || !wechat.complaint_event_keys.iter().any(|k| k.eq_ignore_ascii_case(scene)) {
                return Ok(Parsed::Ignored(format!("event {event} {key} is not a complaint")));
            }
            let key = keys.into_iter().next().ok_or(Rejection::Missing("FromUserName"))?;
            Ok(Parsed::Intent(MenuChoice {
                channel: Channel::Wechat,
                key,
                at: received_at,
                until: received_at + wechat.complaint_menu,
            }))
        }
        other => Ok(Parsed::Ignored(format!("{other} messages carry no complaint text"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{CueConfig, HotlineCsvConfig, StoreCsvConfig, WechatConfig};
    use mend_core::CustomerKey;
    use proptest::prelude::*;

    fn vectors() -> serde_json::Value {
        serde_json::from_str(include_str!("../../../../tests/data/wechat/vectors.json")).unwrap()
    }

    fn settings() -> ParseSettings {
        let v = vectors();
        let wechat = WechatConfig {
            token: v["token"].as_str().unwrap().into(),
            encoding_aes_key: v["encoding_aes_key"].as_str().unwrap().into(),
            appid: v["appid"].as_str().unwrap().into(),
            complaint_event_keys: vec!["COMPLAINT".into()],
            ..WechatConfig::default()
        };
        let cues = CueConfig {
            dissatisfaction_cues: ["投诉", "没人管", "又断了", "太慢"].map(String::from).to_vec(),
            ..CueConfig::default()
        };
        ParseSettings::new(
            chrono_tz::Asia::Shanghai,
            &cues,
            &wechat,
            &HotlineCsvConfig::default(),
            &StoreCsvConfig::default(),
        )
        .unwrap()
    }

    fn text_message(content: &str, msg_id: u64) -> String {
        format!(
            "<xml><ToUserName><![CDATA[gh_7f083739789a]]></ToUserName><FromUserName><![CDATA[oUser1]]></FromUserName>\
             <CreateTime>1763600000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content>\
             <MsgId>{msg_id}</MsgId></xml>"
        )
    }

    fn complaint(parsed: Result<Parsed, Rejection>) -> Complaint {
        match parsed {
            Ok(Parsed::Complaint(c)) => *c,
            other => panic!("expected a complaint, got {other:?}"),
        }
    }

    #[test]
    fn a_text_with_a_cue_is_a_complaint_keyed_by_msg_id() {
        let c = complaint(parse_wechat(
            text_message("宽带又断了,打了三次电话没人管", 6_150_000_000_001).as_bytes(),
            &settings(),
        ));
        assert_eq!(c.channel, Channel::Wechat);
        assert_eq!(c.source_id, "6150000000001");
        assert_eq!(c.keys, [CustomerKey::new(IdentityKind::WechatOpenid, "oUser1")]);
        assert_eq!(c.received_at.to_rfc3339(), "2025-11-20T00:53:20+00:00");
        assert_eq!(c.text, "宽带又断了,打了三次电话没人管");
        assert!(!c.formal_complaint);
    }

    #[test]
    fn other_messages_are_ignored_not_quarantined() {
        let s = settings();
        // Intake decides whether words without a cue follow a problem up.
        let remark = parse_wechat(text_message("营业厅几点开门?", 1).as_bytes(), &s);
        assert!(matches!(remark, Ok(Parsed::Remark(c)) if c.text == "营业厅几点开门?" && !c.formal_complaint));
        assert!(matches!(parse_wechat(text_message("  ", 1).as_bytes(), &s), Ok(Parsed::Ignored(_))));
        let image = "<xml><FromUserName>oU</FromUserName><CreateTime>1</CreateTime><MsgType>image</MsgType><MsgId>2</MsgId></xml>";
        assert!(matches!(parse_wechat(image.as_bytes(), &s), Ok(Parsed::Ignored(r)) if r.contains("image")));
        let subscribe = "<xml><FromUserName>oU</FromUserName><CreateTime>1</CreateTime><MsgType>event</MsgType><Event>subscribe</Event></xml>";
        assert!(matches!(parse_wechat(subscribe.as_bytes(), &s), Ok(Parsed::Ignored(_))));
    }

    #[test]
    fn voice_recognition_is_a_complaint_and_the_complaint_menu_an_intent() {
        let s = settings();
        let voice = "<xml><FromUserName>oU</FromUserName><CreateTime>1763600000</CreateTime><MsgType>voice</MsgType>\
                     <MediaId>m</MediaId><Format>amr</Format><Recognition>网速太慢了</Recognition><MsgId>77</MsgId></xml>";
        assert_eq!(complaint(parse_wechat(voice.as_bytes(), &s)).text, "网速太慢了");
        let event = |event: &str, key: &str| {
            format!(
                "<xml><FromUserName>oU</FromUserName><CreateTime>1763600100</CreateTime><MsgType>event</MsgType>\
                 <Event>{event}</Event><EventKey>{key}</EventKey></xml>"
            )
        };
        let clicked_at = DateTime::from_timestamp(1_763_600_100, 0).unwrap();
        let intent = Parsed::Intent(MenuChoice {
            channel: Channel::Wechat,
            key: CustomerKey::new(IdentityKind::WechatOpenid, "oU"),
            at: clicked_at,
            until: clicked_at + chrono::Duration::minutes(30),
        });
        assert_eq!(parse_wechat(event("CLICK", "COMPLAINT").as_bytes(), &s), Ok(intent.clone()));
        assert_eq!(parse_wechat(event("CLICK", "complaint").as_bytes(), &s), Ok(intent.clone()));
        assert_eq!(parse_wechat(event("subscribe", "qrscene_COMPLAINT").as_bytes(), &s), Ok(intent));
        assert!(matches!(parse_wechat(event("CLICK", "BILL").as_bytes(), &s), Ok(Parsed::Ignored(_))));
        assert!(matches!(
            parse_wechat(event("unsubscribe", "qrscene_COMPLAINT").as_bytes(), &s),
            Ok(Parsed::Ignored(_))
        ));
    }

    #[test]
    fn safe_mode_messages_are_decrypted_with_the_configured_key() {
        let v = vectors();
        let s = settings();
        let parsed: Vec<Parsed> = v["vectors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|vector| parse_wechat(vector["body"].as_str().unwrap().as_bytes(), &s).unwrap())
            .collect();
        assert!(
            matches!(&parsed[0], Parsed::Complaint(c) if c.source_id == "24410000000000001" && c.text.contains("没人管"))
        );
        assert!(matches!(&parsed[1], Parsed::Intent(choice) if choice.key.kind == IdentityKind::WechatOpenid));
        assert!(matches!(&parsed[2], Parsed::Remark(_)));
        if let Parsed::Complaint(c) = &parsed[0] {
            assert!(c.raw_payload.starts_with("<xml><ToUserName>"), "the decrypted message is kept");
        }
        // Compatible mode: the clear copy beside `Encrypt` is not signed, so it is never read.
        let body = v["vectors"][0]["body"].as_str().unwrap();
        let forged = body.replacen(
            "</xml>",
            "<FromUserName>oForged</FromUserName><CreateTime>1763600000</CreateTime><MsgType>text</MsgType>\
             <Content>投诉:forged</Content><MsgId>1</MsgId></xml>",
            1,
        );
        let c = complaint(parse_wechat(forged.as_bytes(), &s));
        assert_eq!((c.source_id.as_str(), c.text.contains("forged")), ("24410000000000001", false));
        let garbage = forged.replacen("<Encrypt><![CDATA[", "<Encrypt><![CDATA[AAAA", 1);
        assert!(matches!(parse_wechat(garbage.as_bytes(), &s), Err(Rejection::Decrypt(_))));
        let no_key = ParseSettings::default();
        let body = v["vectors"][0]["body"].as_str().unwrap();
        assert!(matches!(parse_wechat(body.as_bytes(), &no_key), Err(Rejection::Decrypt(_))));
    }

    #[test]
    fn signatures_are_checked_in_both_modes() {
        let v = vectors();
        let s = settings();
        let vector = &v["vectors"][0];
        let text = |k: &str| Some(vector[k].as_str().unwrap().to_owned());
        let echo = CallbackQuery {
            signature: text("signature"),
            timestamp: text("timestamp"),
            nonce: text("nonce"),
            echostr: Some("5f3c".into()),
            ..Default::default()
        };
        // The vectors' signed timestamp is the clock here; 301 s either way is outside the window.
        let signed_at: i64 = vector["timestamp"].as_str().unwrap().parse().unwrap();
        let at = |offset: i64| DateTime::from_timestamp(signed_at + offset, 0).unwrap();
        assert_eq!(verify_echo(&s, &echo, at(0)), Ok("5f3c"));
        let forged = CallbackQuery { nonce: Some("other".into()), ..echo.clone() };
        assert_eq!(verify_echo(&s, &forged, at(0)), Err(CallbackError::BadSignature));
        assert_eq!(verify_echo(&ParseSettings::default(), &echo, at(0)), Err(CallbackError::NotConfigured));
        for offset in [-301, 301] {
            assert!(matches!(verify_echo(&s, &echo, at(offset)), Err(CallbackError::Stale { .. })), "a replayed URL");
        }
        let push = |query: &CallbackQuery, body: &[u8]| verify_push(&s, query, body, at(0));
        assert_eq!(push(&echo, b"<xml/>"), Ok(()), "plaintext mode signs the query only");
        for offset in [-301, 301] {
            assert!(matches!(verify_push(&s, &echo, b"<xml/>", at(offset)), Err(CallbackError::Stale { .. })));
        }
        assert_eq!(verify_push(&s, &echo, b"<xml/>", at(300)), Ok(()));

        let safe = CallbackQuery { encrypt_type: Some("aes".into()), msg_signature: text("msg_signature"), ..echo };
        let body = vector["body"].as_str().unwrap().as_bytes();
        assert_eq!(push(&safe, body), Ok(()));
        let tampered = vector["body"].as_str().unwrap().replacen("IG+0", "IG+1", 1);
        assert_eq!(push(&safe, tampered.as_bytes()), Err(CallbackError::BadSignature));
        assert!(matches!(push(&safe, b"<xml><a>1</a></xml>"), Err(CallbackError::NoEnvelope(_))));
        let missing = CallbackQuery { msg_signature: None, ..safe };
        assert_eq!(push(&missing, body), Err(CallbackError::Missing("msg_signature")));
    }

    #[test]
    fn malformed_messages_are_rejected_with_a_reason() {
        let s = settings();
        let reason = |raw: &[u8]| parse_wechat(raw, &s).expect_err("rejected").to_string();
        assert!(reason(&text_message("又断了", 1).as_bytes()[..60]).contains("not valid XML"));
        assert!(reason(b"<xml><Content>\xb6\xcf\xcd\xf8</Content></xml>").contains("UTF-8"));
        assert!(reason(b"<!DOCTYPE xml [<!ENTITY e \"x\">]><xml><Content>&e;</Content></xml>").contains("DOCTYPE"));
        assert!(reason(b"<xml><CreateTime>1</CreateTime><MsgType>text</MsgType></xml>").contains("FromUserName"));
        assert!(
            reason(b"<xml><FromUserName>o</FromUserName><CreateTime>soon</CreateTime></xml>").contains("CreateTime")
        );
        let no_id = "<xml><FromUserName>o</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>又断了</Content></xml>";
        assert!(reason(no_id.as_bytes()).contains("MsgId"));
        let long_id = no_id.replace("</Content>", &format!("</Content><MsgId>{}</MsgId>", "7".repeat(5000)));
        assert!(reason(long_id.as_bytes()).contains("MsgId"), "an id is at most 128 bytes, as on every channel");
    }

    proptest! {
        #[test]
        fn any_bytes_parse_or_are_rejected(raw in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_wechat(&raw, &settings());
        }

        #[test]
        fn any_message_text_survives_the_round_trip(content in "[\\p{Han}a-zA-Z0-9 ,.!?<>&]{0,80}") {
            let text = format!("又断了{content}");
            let parsed = parse_wechat(text_message(&text, 5).as_bytes(), &settings());
            let expected = text.trim();
            prop_assert!(matches!(parsed, Ok(Parsed::Complaint(c)) if c.text == expected));
        }
    }
}
