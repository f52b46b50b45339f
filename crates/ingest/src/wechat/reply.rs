//! Passive replies (被动回复消息): the answer to a push may carry a message to the customer,
//! which WeChat shows in the chat at once. With the server URL configured, the account's own
//! automatic replies are off, so without one a customer who chose the complaint menu or wrote
//! in hears nothing back. In safe mode the reply is sealed and signed as the pushes are.

use chrono::{DateTime, Utc};

use super::{CallbackQuery, crypto, message_of, signature};
use crate::ParseSettings;

/// What in a push calls for a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyOccasion {
    /// The customer chose the complaint menu: asked to say what the problem is.
    ComplaintMenu,
    /// A message of theirs opened a case: told it reached the repair team.
    CaseOpened,
}

/// The body that answers the push `raw` (verified, with `query`) with the text configured for
/// `occasion`, to the customer who sent it; `None` when nothing is configured for it or the
/// message names no sender and account to answer (WeChat then wants `success`).
/// `random` fills the 16 bytes a sealed message starts with.
pub fn passive_reply(
    raw: &[u8],
    query: &CallbackQuery,
    settings: &ParseSettings,
    occasion: ReplyOccasion,
    now: DateTime<Utc>,
    random: [u8; 16],
) -> Option<String> {
    let wechat = &settings.inner.wechat;
    let text = match occasion {
        ReplyOccasion::ComplaintMenu => wechat.menu_reply.as_deref(),
        ReplyOccasion::CaseOpened => wechat.complaint_reply.as_deref(),
    }?;
    let (fields, _) = message_of(raw, settings).ok()?;
    let (customer, account) = (fields.get("FromUserName")?, fields.get("ToUserName")?);
    let created = now.timestamp();
    let message = format!(
        "<xml><ToUserName>{}</ToUserName><FromUserName>{}</FromUserName><CreateTime>{created}</CreateTime>\
         <MsgType><![CDATA[text]]></MsgType><Content>{}</Content></xml>",
        cdata(customer),
        cdata(account),
        cdata(text)
    );
    // Without a key the push came in compatible mode (its clear copy was read), where WeChat
    // takes a reply in clear too.
    let Some(key) = wechat.aes_key.as_ref().filter(|_| query.encrypt_type.as_deref() == Some("aes")) else {
        return Some(message);
    };
    // Sealed with the push's own timestamp and nonce, which WeChat's SDKs accept as theirs.
    let (timestamp, nonce) = (query.timestamp.as_deref()?, query.nonce.as_deref()?);
    let encrypted = crypto::encrypt(&message, key, &wechat.appid, random);
    let signed = signature(&[&wechat.token, timestamp, nonce, &encrypted]);
    Some(format!(
        "<xml><Encrypt>{}</Encrypt><MsgSignature>{}</MsgSignature><TimeStamp>{timestamp}</TimeStamp>\
         <Nonce>{}</Nonce></xml>",
        cdata(&encrypted),
        cdata(&signed),
        cdata(nonce)
    ))
}

/// `text` as CDATA, whatever it holds: a `]]>` inside is split across two sections.
fn cdata(text: &str) -> String {
    format!("<![CDATA[{}]]>", text.replace("]]>", "]]]]><![CDATA[>"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{CueConfig, HotlineCsvConfig, StoreCsvConfig, WechatConfig};
    use crate::wechat::{AesKey, decrypt, signature_matches, xml};

    const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

    fn settings(menu_reply: &str) -> ParseSettings {
        let wechat = WechatConfig {
            token: "tok".into(),
            encoding_aes_key: KEY.into(),
            appid: "wx1".into(),
            complaint_event_keys: vec!["COMPLAINT".into()],
            menu_reply: menu_reply.into(),
            complaint_reply: String::new(),
            ..WechatConfig::default()
        };
        let (hotline, store) = (HotlineCsvConfig::default(), StoreCsvConfig::default());
        ParseSettings::new(chrono_tz::Asia::Shanghai, &CueConfig::default(), &wechat, &hotline, &store).unwrap()
    }

    const CLICK: &str = "<xml><ToUserName><![CDATA[gh_acct]]></ToUserName><FromUserName><![CDATA[oUser]]></FromUserName>\
                         <CreateTime>1795176000</CreateTime><MsgType>event</MsgType><Event>CLICK</Event>\
                         <EventKey>COMPLAINT</EventKey></xml>";

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_795_176_001, 0).unwrap()
    }

    #[test]
    fn a_plaintext_push_is_answered_in_plaintext_to_its_sender() {
        let s = settings("请说明您遇到的问题 ]]> 谢谢");
        let query = CallbackQuery::default();
        let reply = passive_reply(CLICK.as_bytes(), &query, &s, ReplyOccasion::ComplaintMenu, now(), [0; 16]).unwrap();
        let fields = xml::parse(&reply).unwrap();
        assert_eq!(fields.get("ToUserName"), Some("oUser"));
        assert_eq!(fields.get("FromUserName"), Some("gh_acct"));
        assert_eq!(fields.get("MsgType"), Some("text"));
        assert_eq!(fields.get("Content"), Some("请说明您遇到的问题 ]]> 谢谢"), "{reply}");
        assert_eq!(fields.get("CreateTime"), Some("1795176001"));
        assert_eq!(passive_reply(CLICK.as_bytes(), &query, &s, ReplyOccasion::CaseOpened, now(), [0; 16]), None);
    }

    #[test]
    fn a_safe_mode_push_is_answered_sealed_and_signed() {
        let s = settings("请说明您遇到的问题");
        let key = AesKey::from_encoding_aes_key(KEY).unwrap();
        let sealed = crypto::encrypt(CLICK, &key, "wx1", [3; 16]);
        let push =
            format!("<xml><ToUserName><![CDATA[gh_acct]]></ToUserName><Encrypt><![CDATA[{sealed}]]></Encrypt></xml>");
        let query = CallbackQuery {
            timestamp: Some("1795176000".into()),
            nonce: Some("4242".into()),
            encrypt_type: Some("aes".into()),
            ..CallbackQuery::default()
        };
        let reply = passive_reply(push.as_bytes(), &query, &s, ReplyOccasion::ComplaintMenu, now(), [9; 16]).unwrap();
        let envelope = xml::parse(&reply).unwrap();
        let encrypted = envelope.get("Encrypt").unwrap();
        assert_eq!((envelope.get("TimeStamp"), envelope.get("Nonce")), (Some("1795176000"), Some("4242")));
        let parts = ["tok", "1795176000", "4242", encrypted];
        assert!(signature_matches(&parts, envelope.get("MsgSignature").unwrap()), "{reply}");
        let inner = xml::parse(&decrypt(encrypted, &key, "wx1").unwrap()).unwrap();
        assert_eq!((inner.get("ToUserName"), inner.get("Content")), (Some("oUser"), Some("请说明您遇到的问题")));
    }

    #[test]
    fn a_reply_xml_cannot_carry_is_refused_when_configured() {
        let wechat = WechatConfig { menu_reply: "请描述\u{1}问题".into(), ..WechatConfig::default() };
        let (hotline, store) = (HotlineCsvConfig::default(), StoreCsvConfig::default());
        let refused = ParseSettings::new(chrono_tz::Asia::Shanghai, &CueConfig::default(), &wechat, &hotline, &store)
            .unwrap_err();
        assert_eq!(refused.key, "wechat.menu_reply");
        assert!(refused.reason.contains("U+0001"), "{refused}");
    }

    #[test]
    fn without_a_key_a_compatible_mode_push_is_answered_in_clear() {
        let wechat = WechatConfig { token: "tok".into(), menu_reply: "请说明".into(), ..WechatConfig::default() };
        let (hotline, store) = (HotlineCsvConfig::default(), StoreCsvConfig::default());
        let s =
            ParseSettings::new(chrono_tz::Asia::Shanghai, &CueConfig::default(), &wechat, &hotline, &store).unwrap();
        let query = CallbackQuery { encrypt_type: Some("aes".into()), ..CallbackQuery::default() };
        let reply = passive_reply(CLICK.as_bytes(), &query, &s, ReplyOccasion::ComplaintMenu, now(), [0; 16]).unwrap();
        assert_eq!(xml::parse(&reply).unwrap().get("Content"), Some("请说明"), "{reply}");
    }

    #[test]
    fn a_message_without_its_sender_gets_no_reply() {
        let s = settings("请说明您遇到的问题");
        let anonymous = CLICK.replace("<FromUserName><![CDATA[oUser]]></FromUserName>", "");
        let query = CallbackQuery::default();
        assert_eq!(passive_reply(anonymous.as_bytes(), &query, &s, ReplyOccasion::ComplaintMenu, now(), [0; 16]), None);
    }
}
