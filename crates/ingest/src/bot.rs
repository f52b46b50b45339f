//! The customer-service chatbot: one finished session (`POST /api/v1/ingest/bot`, or a line
//! of a JSON Lines file).
//!
//! A session is a complaint when the user rated it dissatisfied, said outright that they
//! complain (投诉, 乱扣费: `[intake] complaint_cues`, whatever the rating), was handed to a person
//! after voicing dissatisfaction, or asked for a person again and again (转人工, 没用…); any other
//! session is ignored. The complaint text is the user's turns.

use chrono::{DateTime, Utc};
use mend_core::{Channel, Complaint, CustomerDetails, CustomerKey, IdentityKind};
use serde::Deserialize;
use serde_json::Value;

use crate::keys::{KeyCollector, delivery_id};
use crate::time::read_time;
use crate::values::{self, NumericScale, Steps, json_text};
use crate::{ParseSettings, Parsed, Rejection};

/// Asking for a person in this many turns is a complaint in itself.
const REPEATED_REQUESTS: usize = 2;

#[derive(Deserialize)]
struct Session {
    session_id: Option<Value>,
    #[serde(default)]
    user: User,
    started_at: Option<String>,
    ended_at: Option<String>,
    #[serde(default)]
    turns: Vec<Turn>,
    rating: Option<Value>,
    #[serde(default)]
    transferred: Option<Value>,
}

#[derive(Deserialize, Default)]
struct User {
    user_id: Option<Value>,
    wechat_openid: Option<String>,
    wechat_unionid: Option<String>,
    phone: Option<Value>,
    member_id: Option<Value>,
    name: Option<String>,
}

#[derive(Deserialize)]
struct Turn {
    role: String,
    #[serde(default)]
    text: String,
    at: Option<String>,
}

pub fn parse_bot(raw: &[u8], settings: &ParseSettings) -> Result<Parsed, Rejection> {
    let (text, value) = crate::json_object(raw)?;
    let session: Session = serde_json::from_value(value).map_err(|e| Rejection::Json(e.to_string()))?;
    let zone = settings.default_timezone;

    let session_id = delivery_id(json_text(session.session_id, "session_id")?, "session_id")?;
    let keys = user_keys(&session.user)?;
    let mut last_turn: Option<DateTime<Utc>> = None;
    let mut user_turns = Vec::new();
    for turn in &session.turns {
        if let Some(at) = &turn.at {
            let at = read_time(at, None, zone, "turns.at")?;
            last_turn = last_turn.max(Some(at));
        }
        if matches!(turn.role.as_str(), "user" | "customer") && !turn.text.trim().is_empty() {
            user_turns.push(turn.text.trim());
        }
    }
    let ended = session.ended_at.as_deref().map(|t| read_time(t, None, zone, "ended_at")).transpose()?;
    let started = session.started_at.as_deref().map(|t| read_time(t, None, zone, "started_at")).transpose()?;
    let received_at = ended.or(last_turn).or(started).ok_or(Rejection::Missing("ended_at"))?;
    let rating = json_text(session.rating, "rating")?.unwrap_or_default();
    let satisfaction = values::satisfaction(&rating, Steps::Three, NumericScale::ONE_TO_FIVE)
        .map_err(|reason| Rejection::invalid("rating", reason))?;
    let transferred = values::flag(&json_text(session.transferred, "transferred")?.unwrap_or_default())
        .map_err(|reason| Rejection::invalid("transferred", reason))?;

    let said = user_turns.join("\n");
    let cues = &settings.inner;
    let rated_dissatisfied = satisfaction.is_some_and(|s| s.get() <= 2);
    let escalated_unhappy = transferred && cues.dissatisfaction.any_in(&said);
    let asked_for_people = user_turns.iter().filter(|t| cues.human_request.any_in(t)).count() >= REPEATED_REQUESTS;
    let complained = cues.complaint.any_in(&said);
    if !(rated_dissatisfied || complained || escalated_unhappy || asked_for_people) {
        return Ok(Parsed::Ignored(
            "not rated dissatisfied, no complaint said, not escalated in anger, no repeated call for a person".into(),
        ));
    }
    Ok(Parsed::Complaint(Box::new(Complaint {
        channel: Channel::Bot,
        source_id: session_id,
        received_at,
        keys,
        customer: CustomerDetails { name: session.user.name.filter(|n| !n.trim().is_empty()), email: None },
        text: said,
        category: None,
        satisfaction,
        formal_complaint: false,
        raw_payload: text.to_owned(),
        format: String::new(),
        record: None,
    })))
}

fn user_keys(user: &User) -> Result<Vec<CustomerKey>, Rejection> {
    let mut keys = KeyCollector::default();
    keys.phone(json_text(user.phone.clone(), "user.phone")?.as_deref());
    keys.opaque(IdentityKind::WechatOpenid, user.wechat_openid.as_deref());
    keys.opaque(IdentityKind::WechatUnionid, user.wechat_unionid.as_deref());
    keys.opaque(IdentityKind::MemberId, json_text(user.member_id.clone(), "user.member_id")?.as_deref());
    keys.opaque(IdentityKind::BotUserId, json_text(user.user_id.clone(), "user.user_id")?.as_deref());
    keys.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{CueConfig, HotlineCsvConfig, StoreCsvConfig, WechatConfig};
    use proptest::prelude::*;

    fn settings() -> ParseSettings {
        let cues = CueConfig {
            dissatisfaction_cues: ["投诉", "没用", "太差"].map(String::from).to_vec(),
            human_request_cues: ["转人工", "人工客服", "没用"].map(String::from).to_vec(),
            complaint_cues: ["投诉", "乱扣"].map(String::from).to_vec(),
        };
        ParseSettings::new(
            chrono_tz::Asia::Shanghai,
            &cues,
            &WechatConfig::default(),
            &HotlineCsvConfig::default(),
            &StoreCsvConfig::default(),
        )
        .unwrap()
    }

    fn session(rating: &str, transferred: bool, turns: &[(&str, &str)]) -> String {
        let turns: Vec<Value> = turns
            .iter()
            .enumerate()
            .map(|(i, (role, text))| serde_json::json!({"role": role, "text": text, "at": format!("2026-11-20T10:0{i}:00+08:00")}))
            .collect();
        serde_json::json!({
            "session_id": "bot-7781", "user": {"user_id": "u-52", "wechat_openid": "oBot1", "phone": "13900139000", "name": "李女士"},
            "turns": turns, "rating": rating, "transferred": transferred,
        })
        .to_string()
    }

    fn parse(raw: &str) -> Result<Parsed, Rejection> {
        parse_bot(raw.as_bytes(), &settings())
    }

    #[test]
    fn an_unsatisfied_rating_is_a_complaint_of_the_users_words() {
        let raw = session(
            "unsatisfied",
            false,
            &[("bot", "您好,请问有什么可以帮您?"), ("user", "流量扣费不对"), ("user", "多扣了30元")],
        );
        let Ok(Parsed::Complaint(c)) = parse(&raw) else { panic!("a complaint") };
        assert_eq!(c.source_id, "bot-7781");
        assert_eq!(c.text, "流量扣费不对\n多扣了30元");
        assert_eq!(c.satisfaction.map(|s| s.get()), Some(1));
        assert_eq!(c.received_at.to_rfc3339(), "2026-11-20T02:02:00+00:00", "the last turn");
        assert_eq!(c.customer.name.as_deref(), Some("李女士"));
        let kinds: Vec<IdentityKind> = c.keys.iter().map(|k| k.kind).collect();
        assert_eq!(kinds, [IdentityKind::Phone, IdentityKind::WechatOpenid, IdentityKind::BotUserId]);
    }

    #[test]
    fn repeated_calls_for_a_person_or_an_angry_transfer_are_complaints() {
        let asked = session("", false, &[("user", "转人工"), ("bot", "请描述问题"), ("user", "转人工!!")]);
        assert!(matches!(parse(&asked), Ok(Parsed::Complaint(_))));
        let angry = session("", true, &[("user", "机器人太差了,我要投诉")]);
        assert!(matches!(parse(&angry), Ok(Parsed::Complaint(_))));
        let calm = session("5", true, &[("user", "转人工"), ("user", "谢谢")]);
        assert!(matches!(parse(&calm), Ok(Parsed::Ignored(_))));
    }

    #[test]
    fn a_session_that_says_it_complains_is_one_whatever_its_rating() {
        for rating in ["", "3", "satisfied"] {
            let said = session(rating, false, &[("user", "宽带断网三天了,我要投诉")]);
            assert!(matches!(parse(&said), Ok(Parsed::Complaint(_))), "rated {rating:?}");
        }
        let question = session("satisfied", false, &[("user", "怎么查话费余额")]);
        assert!(matches!(parse(&question), Ok(Parsed::Ignored(_))));
    }

    #[test]
    fn bad_sessions_name_their_problem() {
        let reason = |raw: &str| parse(raw).unwrap_err().to_string();
        let good = session("1", false, &[("user", "没用")]);
        assert!(reason(&good.replace("\"bot-7781\"", "null")).contains("session_id"));
        assert!(reason(&good.replace("2026-11-20T10:00:00+08:00", "later")).contains("turns.at"));
        assert!(reason(r#"{"session_id": "s", "user": {}, "rating": 1}"#).contains("no usable customer key"));
        assert!(reason(&good.replace("\"rating\":\"1\"", "\"rating\":\"purple\"")).contains("rating"));
        assert!(reason(r#"{"session_id": "s", "turns": "#).contains("JSON"));
        assert!(reason(r#"{"session_id": "s", "turns": 5}"#).contains("JSON"));
    }

    proptest! {
        #[test]
        fn any_bytes_parse_or_are_rejected(raw in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_bot(&raw, &settings());
        }
    }
}
