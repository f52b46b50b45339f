//! The canonical complaint (DESIGN.md): one JSON object per complaint, from any channel.

use mend_core::{Channel, Complaint, CustomerDetails, CustomerKey, IdentityKind, Satisfaction};
use serde::Deserialize;
use serde_json::Value;

use crate::keys::{KeyCollector, delivery_id};
use crate::values::json_text;
use crate::{ParseSettings, Rejection, parse_instant};

/// Unknown fields are ignored, so channels may send more than we read.
#[derive(Deserialize)]
struct Canonical {
    channel: Option<String>,
    source_id: Option<Value>,
    received_at: Option<String>,
    customer: Option<CanonicalCustomer>,
    text: Option<String>,
    category: Option<String>,
    satisfaction: Option<Value>,
    formal_complaint: Option<Value>,
}

#[derive(Deserialize, Default)]
struct CanonicalCustomer {
    phone: Option<Value>,
    wechat_openid: Option<String>,
    wechat_unionid: Option<String>,
    member_id: Option<Value>,
    bot_user_id: Option<String>,
    name: Option<String>,
    email: Option<String>,
}

/// Parses one canonical complaint.
pub fn parse_canonical(raw: &[u8], settings: &ParseSettings) -> Result<Complaint, Rejection> {
    let (text, value) = crate::json_object(raw)?;
    let c: Canonical = serde_json::from_value(value).map_err(|e| Rejection::Json(e.to_string()))?;

    let channel: Channel = required_str(c.channel.as_deref(), "channel")?.parse()?;
    let source_id = delivery_id(json_text(c.source_id, "source_id")?, "source_id")?;
    let received_at = parse_instant(required_str(c.received_at.as_deref(), "received_at")?, settings.default_timezone)
        .map_err(|reason| Rejection::invalid("received_at", reason))?;
    let customer = c.customer.unwrap_or_default();
    let keys = customer_keys(&customer)?;
    let satisfaction = c.satisfaction.map(satisfaction).transpose()?.flatten();
    let formal_complaint = c.formal_complaint.map(flag).transpose()?.unwrap_or(false);

    Ok(Complaint {
        channel,
        source_id,
        received_at,
        keys,
        customer: CustomerDetails {
            name: non_empty(customer.name),
            email: non_empty(customer.email).as_deref().and_then(email_address),
        },
        text: c.text.map(|t| t.trim().to_owned()).unwrap_or_default(),
        category: non_empty(c.category),
        satisfaction,
        formal_complaint,
        raw_payload: text.to_owned(),
        format: String::new(),
        record: None,
    })
}

pub(crate) fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn required_str<'a>(value: Option<&'a str>, field: &'static str) -> Result<&'a str, Rejection> {
    match value.map(str::trim) {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(Rejection::Missing(field)),
    }
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// The address an email field gives, also when written with a name (`张三 <zhang@example.com>`,
/// as address books and CRMs export it); none for what is no address (`a@b@c`, an intranet name
/// without a top-level domain): surveys then go by other ways, an email is a detail, not a key.
fn email_address(value: &str) -> Option<String> {
    use email_address::{EmailAddress, Options};
    if value.contains('\0') {
        // Kept for the gate every channel passes, which refuses a NUL in any field alike.
        return Some(value.to_owned());
    }
    let options = Options::default().with_required_tld().with_display_text().without_domain_literal();
    EmailAddress::parse_with_options(value, options).ok().map(|address| address.email().to_owned())
}

fn customer_keys(c: &CanonicalCustomer) -> Result<Vec<CustomerKey>, Rejection> {
    let mut keys = KeyCollector::default();
    keys.phone(json_text(c.phone.clone(), "customer.phone")?.as_deref());
    keys.opaque(IdentityKind::WechatOpenid, c.wechat_openid.as_deref());
    keys.opaque(IdentityKind::WechatUnionid, c.wechat_unionid.as_deref());
    keys.opaque(IdentityKind::MemberId, json_text(c.member_id.clone(), "customer.member_id")?.as_deref());
    keys.opaque(IdentityKind::BotUserId, c.bot_user_id.as_deref());
    keys.finish()
}

fn satisfaction(value: Value) -> Result<Option<Satisfaction>, Rejection> {
    let score = match &value {
        Value::Null => return Ok(None),
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    let score =
        score.ok_or_else(|| Rejection::invalid("satisfaction", format!("{value} is not a whole number 1-5")))?;
    Satisfaction::new(score).map(Some).map_err(|reason| Rejection::invalid("satisfaction", reason))
}

fn flag(value: Value) -> Result<bool, Rejection> {
    match &value {
        Value::Null => Ok(false),
        Value::Bool(b) => Ok(*b),
        Value::Number(n) if n.as_i64() == Some(0) => Ok(false),
        Value::Number(n) if n.as_i64() == Some(1) => Ok(true),
        Value::String(s) => match s.trim() {
            "true" | "1" | "是" | "yes" => Ok(true),
            "false" | "0" | "否" | "no" | "" => Ok(false),
            _ => Err(Rejection::invalid("formal_complaint", format!("{value} is not a yes/no value"))),
        },
        _ => Err(Rejection::invalid("formal_complaint", format!("{value} is not a yes/no value"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const GOOD: &str = r#"{"channel": "hotline", "source_id": "call-20261120-0001",
        "received_at": "2026-11-20T09:12:00+08:00",
        "customer": {"phone": "13800138000", "wechat_openid": null, "member_id": null, "name": "张先生", "email": null},
        "text": "宽带又断了,已经报修三次了", "category": null, "satisfaction": 1,
        "formal_complaint": false, "extra": {"ignored": true}}"#;

    fn parse(raw: &str) -> Result<Complaint, Rejection> {
        parse_canonical(raw.as_bytes(), &ParseSettings::default())
    }

    fn with(field: &str, value: Value) -> String {
        let mut v: Value = serde_json::from_str(GOOD).unwrap();
        let mut target = &mut v;
        let mut parts = field.split('.').peekable();
        while let Some(part) = parts.next() {
            if parts.peek().is_none() {
                target[part] = value.clone();
                break;
            }
            target = &mut target[part];
        }
        v.to_string()
    }

    fn reason(raw: &str) -> String {
        parse(raw).expect_err("should be rejected").to_string()
    }

    #[test]
    fn reads_the_design_example() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.channel, Channel::Hotline);
        assert_eq!(c.source_id, "call-20261120-0001");
        assert_eq!(c.received_at.to_rfc3339(), "2026-11-20T01:12:00+00:00");
        assert_eq!(c.keys, vec![CustomerKey::new(IdentityKind::Phone, "13800138000")]);
        assert_eq!(c.customer.name.as_deref(), Some("张先生"));
        assert_eq!(c.text, "宽带又断了,已经报修三次了");
        assert_eq!(c.satisfaction.map(Satisfaction::get), Some(1));
        assert!(!c.formal_complaint);
        assert_eq!(c.raw_payload, GOOD);
    }

    #[test]
    fn each_kind_of_bad_record_names_its_problem() {
        assert!(reason("{not json").contains("not valid JSON"));
        assert!(reason("[1,2]").contains("JSON array"));
        assert!(
            parse_canonical(b"{\"text\": \"\xff\"}", &ParseSettings::default())
                .unwrap_err()
                .to_string()
                .contains("UTF-8")
        );
        assert!(reason(&with("channel", "fax".into())).contains("unknown channel `fax`"));
        assert!(reason(&with("channel", Value::Null)).contains("`channel` is missing"));
        assert!(reason(&with("source_id", "".into())).contains("`source_id` is missing"));
        assert!(reason(&with("received_at", "last tuesday".into())).contains("`received_at` is invalid"));
        assert!(reason(&with("customer.phone", Value::Null)).contains("no usable customer key"));
        assert!(reason(&with("customer.phone", "12345".into())).contains("`***45` is not a mainland"));
        assert!(reason(&with("satisfaction", 6.into())).contains("outside 1-5"));
        assert!(reason(&with("satisfaction", 0.into())).contains("outside 1-5"));
        assert!(reason(&with("satisfaction", 2.5.into())).contains("not a whole number"));
    }

    #[test]
    fn tolerates_what_exports_commonly_do() {
        let c = parse(&with("source_id", 12345.into())).unwrap();
        assert_eq!(c.source_id, "12345");
        let c = parse(&with("satisfaction", "2".into())).unwrap();
        assert_eq!(c.satisfaction.map(Satisfaction::get), Some(2));
        let c = parse(&with("formal_complaint", "是".into())).unwrap();
        assert!(c.formal_complaint);
        let c = parse(&with("customer.phone", "+86 138-0013-8000".into())).unwrap();
        assert_eq!(c.keys[0].value, "13800138000");
        let c = parse(&with("received_at", "2026-11-20 09:12:00".into())).unwrap();
        assert_eq!(c.received_at.to_rfc3339(), "2026-11-20T01:12:00+00:00");
        for not_one in ["not-an-email", "a@b@example.com", "zhang@intranet", "zhang san@example.com", "@example.com"] {
            let c = parse(&with("customer.email", not_one.into())).unwrap();
            assert_eq!(c.customer.email, None, "{not_one}");
        }
        let named = parse(&with("customer.email", "张三 <zhang.san@example.com>".into())).unwrap();
        assert_eq!(named.customer.email.as_deref(), Some("zhang.san@example.com"));
        for one in ["zhang.san+tousu@example.com.cn", "用户@例子.中国"] {
            assert_eq!(parse(&with("customer.email", one.into())).unwrap().customer.email.as_deref(), Some(one));
        }
        let injected = parse(&with("customer.email", "x@y.com\r\nBcc: all@example.com".into())).unwrap();
        assert_eq!(injected.customer.email, None);
    }

    #[test]
    fn an_invalid_phone_is_dropped_when_another_key_remains() {
        let raw =
            with("customer", serde_json::json!({"phone": "123", "wechat_openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}));
        let c = parse(&raw).unwrap();
        assert_eq!(c.keys, vec![CustomerKey::new(IdentityKind::WechatOpenid, "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o")]);
    }

    proptest! {
        #[test]
        fn any_bytes_parse_or_are_rejected(raw in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_canonical(&raw, &ParseSettings::default());
        }

        #[test]
        fn any_json_value_parses_or_is_rejected(s in "\\{(\"[a-z_]{1,12}\": (null|true|1|\"[^\"\\\\]{0,8}\"), ){0,6}\"x\": 1\\}") {
            let _ = parse(&s);
        }
    }
}
