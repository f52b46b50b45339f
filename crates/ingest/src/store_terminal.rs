//! Store satisfaction terminals (营业厅评价器) and staff notes: one rating, as JSON
//! (`POST /api/v1/ingest/store`) or as a row of an export mapped by `[channels.store.csv]`.
//!
//! Ratings at or below 一般 (3 of 5) are complaints, and so is a better one whose comment says
//! outright that the customer complains (`[intake] complaint_cues`: a slip of the finger on the
//! terminal); other better ones are ignored.

use chrono_tz::Tz;
use mend_core::{Channel, Complaint, CustomerDetails, IdentityKind};
use serde::Deserialize;
use serde_json::Value;

use crate::csv_rows::Row;
use crate::cues::Cues;
use crate::keys::{KeyCollector, delivery_id};
use crate::time::read_time;
use crate::values::{self, NumericScale, Steps, json_text};
use crate::{ParseSettings, Parsed, Rejection};

/// The worst rating that is not a complaint is one above this.
const COMPLAINT_AT_OR_BELOW: u8 = 3;

#[derive(Debug, Default)]
struct Rating {
    record_id: Option<String>,
    store_id: Option<String>,
    counter: Option<String>,
    staff_id: Option<String>,
    rated_at: Option<String>,
    rating: Option<String>,
    member_id: Option<String>,
    phone: Option<String>,
    comment: Option<String>,
}

#[derive(Deserialize)]
struct RatingJson {
    record_id: Option<Value>,
    store_id: Option<Value>,
    counter: Option<Value>,
    staff_id: Option<Value>,
    rated_at: Option<String>,
    rating: Option<Value>,
    member_id: Option<Value>,
    phone: Option<Value>,
    comment: Option<String>,
}

pub fn parse_store_json(raw: &[u8], settings: &ParseSettings) -> Result<Parsed, Rejection> {
    let (text, value) = crate::json_object(raw)?;
    let r: RatingJson = serde_json::from_value(value).map_err(|e| Rejection::Json(e.to_string()))?;
    let rating = Rating {
        record_id: json_text(r.record_id, "record_id")?,
        store_id: json_text(r.store_id, "store_id")?,
        counter: json_text(r.counter, "counter")?,
        staff_id: json_text(r.staff_id, "staff_id")?,
        rated_at: r.rated_at,
        rating: json_text(r.rating, "rating")?,
        member_id: json_text(r.member_id, "member_id")?,
        phone: json_text(r.phone, "phone")?,
        comment: r.comment,
    };
    let cues = &settings.inner.complaint;
    rating_to_complaint(rating, settings.default_timezone, None, cues, text.to_owned())
}

pub fn parse_store_csv(raw: &[u8], settings: &ParseSettings) -> Result<Parsed, Rejection> {
    let layout = &settings.inner.store_csv;
    let c = &layout.columns;
    let row = Row::parse(raw, c.encoding)?;
    let owned = |v: Option<&str>| v.map(str::to_owned);
    let rating = Rating {
        record_id: owned(row.get_optional(&c.record_id, "record_id")?),
        store_id: owned(row.get(&c.store_id, "store_id")?),
        counter: owned(row.get_optional(&c.counter, "counter")?),
        staff_id: owned(row.get_optional(&c.staff_id, "staff_id")?),
        rated_at: owned(row.get(&c.rated_at, "rated_at")?),
        rating: owned(row.get(&c.rating, "rating")?),
        member_id: owned(row.get_optional(&c.member_id, "member_id")?),
        phone: owned(row.get_optional(&c.phone, "phone")?),
        comment: owned(row.get_optional(&c.comment, "comment")?),
    };
    let cues = &settings.inner.complaint;
    rating_to_complaint(rating, layout.timezone, Some(&c.time_format), cues, row.text().to_owned())
}

fn rating_to_complaint(
    r: Rating,
    zone: Tz,
    time_format: Option<&str>,
    complaint_cues: &Cues,
    raw_payload: String,
) -> Result<Parsed, Rejection> {
    let store_id = r.store_id.ok_or(Rejection::Missing("store_id"))?;
    let rated_at_text = r.rated_at.ok_or(Rejection::Missing("rated_at"))?;
    let received_at = read_time(&rated_at_text, time_format, zone, "rated_at")?;
    let rating_text = r.rating.ok_or(Rejection::Missing("rating"))?;
    let satisfaction = values::satisfaction(&rating_text, Steps::Five, NumericScale::ONE_TO_FIVE)
        .map_err(|reason| Rejection::invalid("rating", reason))?
        .ok_or(Rejection::Missing("rating"))?;
    let mut collector = KeyCollector::default();
    collector.opaque(IdentityKind::MemberId, r.member_id.as_deref());
    collector.phone(r.phone.as_deref());
    let keys = collector.finish()?;
    let comment = r.comment.map(|c| c.trim().to_owned()).unwrap_or_default();
    if satisfaction.get() > COMPLAINT_AT_OR_BELOW && !complaint_cues.any_in(&comment) {
        return Ok(Parsed::Ignored(format!("rated {rating_text}: better than 一般")));
    }
    let where_rated = [Some(store_id.as_str()), r.counter.as_deref(), r.staff_id.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("/");
    // Terminals without record ids: the same rating exported twice has the same key.
    let derived = || format!("{where_rated}@{}#{}", received_at.timestamp(), keys[0].value);
    let source_id = delivery_id(Some(r.record_id.unwrap_or_else(derived)), "record_id")?;
    let text = if comment.is_empty() { format!("营业厅评价「{rating_text}」({where_rated})") } else { comment };
    Ok(Parsed::Complaint(Box::new(Complaint {
        channel: Channel::Store,
        source_id,
        received_at,
        keys,
        customer: CustomerDetails::default(),
        text,
        category: None,
        satisfaction: Some(satisfaction),
        formal_complaint: false,
        raw_payload,
        format: String::new(),
        record: None,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{CueConfig, HotlineCsvConfig, StoreCsvConfig, WechatConfig};
    use mend_core::CustomerKey;
    use proptest::prelude::*;

    fn settings(csv: StoreCsvConfig) -> ParseSettings {
        ParseSettings::new(
            chrono_tz::Asia::Shanghai,
            &CueConfig { complaint_cues: vec!["投诉".into(), "乱收费".into()], ..CueConfig::default() },
            &WechatConfig::default(),
            &HotlineCsvConfig::default(),
            &csv,
        )
        .unwrap()
    }

    const RATING: &str = r#"{"record_id": "T-0301-88812", "store_id": "HZ-XH-012", "counter": "3", "staff_id": "E1107",
        "rated_at": "2026-11-21 15:40:09", "rating": "不满意", "member_id": "M20231108", "phone": null,
        "comment": "排队一个多小时,营业员态度冷漠"}"#;

    #[test]
    fn a_poor_rating_is_a_complaint() {
        let Ok(Parsed::Complaint(c)) = parse_store_json(RATING.as_bytes(), &settings(StoreCsvConfig::default())) else {
            panic!("a complaint")
        };
        assert_eq!(c.source_id, "T-0301-88812");
        assert_eq!(c.keys, [CustomerKey::new(IdentityKind::MemberId, "M20231108")]);
        assert_eq!(c.satisfaction.map(|s| s.get()), Some(2));
        assert_eq!(c.text, "排队一个多小时,营业员态度冷漠");
        assert_eq!(c.received_at.to_rfc3339(), "2026-11-21T07:40:09+00:00");
    }

    #[test]
    fn ratings_above_neutral_are_ignored_and_neutral_is_a_complaint() {
        let s = settings(StoreCsvConfig::default());
        let good = RATING.replace("不满意", "满意");
        assert!(matches!(parse_store_json(good.as_bytes(), &s), Ok(Parsed::Ignored(_))));
        // A good rating whose comment says it is a complaint: the finger slipped, the words did not.
        let slipped = good.replace("排队一个多小时,营业员态度冷漠", "投诉!营业员乱收费");
        assert!(matches!(parse_store_json(slipped.as_bytes(), &s), Ok(Parsed::Complaint(_))));
        let neutral = RATING.replace("\"不满意\"", "3").replace("\"T-0301-88812\"", "null");
        let Ok(Parsed::Complaint(c)) = parse_store_json(neutral.as_bytes(), &s) else { panic!("a complaint") };
        assert_eq!(c.source_id, format!("HZ-XH-012/3/E1107@{}#M20231108", c.received_at.timestamp()));
    }

    #[test]
    fn reads_an_export_and_refuses_a_row_without_a_customer() {
        let export = "record_id,store_id,counter,staff_id,rated_at,rating,member_id,phone,comment\n\
                      ,SH-PD-003,2,E2201,2026-11-22 10:05:00,非常不满意,,139 0013 9000,\n\
                      r2,SH-PD-003,2,E2201,2026-11-22 10:06:00,非常不满意,,,\n";
        let mut rows = crate::CsvRecords::new(export.as_bytes());
        let s = settings(StoreCsvConfig::default());
        let mut raw = Vec::new();
        rows.next_record(&mut raw).unwrap();
        let Ok(Parsed::Complaint(c)) = parse_store_csv(&raw, &s) else { panic!("a complaint") };
        assert_eq!(c.keys[0].value, "13900139000");
        assert_eq!(c.text, "营业厅评价「非常不满意」(SH-PD-003/2/E2201)");
        rows.next_record(&mut raw).unwrap();
        assert!(parse_store_csv(&raw, &s).unwrap_err().to_string().contains("no usable customer key"));
    }

    proptest! {
        #[test]
        fn any_bytes_parse_or_are_rejected(raw in proptest::collection::vec(any::<u8>(), 0..512)) {
            let s = settings(StoreCsvConfig::default());
            let _ = parse_store_json(&raw, &s);
            let _ = parse_store_csv(&raw, &s);
        }
    }
}
