//! The hotline: one call record, as JSON (`POST /api/v1/ingest/hotline`) or as a row of a
//! call-center export whose column names come from `[channels.hotline.csv]`.
//!
//! A call is a complaint when the agent flagged it (a formal complaint), when the caller rated it
//! dissatisfied (2 or less), or when the agent's notes hold a dissatisfaction cue; any other call
//! is ignored.

use chrono_tz::Tz;
use mend_core::{Channel, Complaint, CustomerDetails};
use serde::Deserialize;
use serde_json::Value;

use crate::csv_rows::Row;
use crate::keys::{KeyCollector, delivery_id};
use crate::time::read_time;
use crate::values::{self, NumericScale, Steps, json_text};
use crate::{ParseSettings, Parsed, Rejection};

/// One call, whatever it was read from.
#[derive(Debug, Default)]
struct CallRecord {
    call_id: Option<String>,
    caller: Option<String>,
    started_at: Option<String>,
    ended_at: Option<String>,
    satisfaction: Option<String>,
    complaint: Option<String>,
    notes: Option<String>,
}

/// A call record as JSON. Spreadsheet-made JSON writes numbers for ids, phones and scores.
#[derive(Deserialize)]
struct CallJson {
    call_id: Option<Value>,
    caller: Option<Value>,
    started_at: Option<String>,
    ended_at: Option<String>,
    satisfaction: Option<Value>,
    complaint: Option<Value>,
    notes: Option<String>,
}

/// How the record's times and scores are written.
struct Reading {
    zone: Tz,
    time_format: Option<String>,
    scale: NumericScale,
}

pub fn parse_hotline_json(raw: &[u8], settings: &ParseSettings) -> Result<Parsed, Rejection> {
    let (text, value) = crate::json_object(raw)?;
    let call: CallJson = serde_json::from_value(value).map_err(|e| Rejection::Json(e.to_string()))?;
    let record = CallRecord {
        call_id: json_text(call.call_id, "call_id")?,
        caller: json_text(call.caller, "caller")?,
        started_at: call.started_at,
        ended_at: call.ended_at,
        satisfaction: json_text(call.satisfaction, "satisfaction")?,
        complaint: json_text(call.complaint, "complaint")?,
        notes: call.notes,
    };
    let reading = Reading { zone: settings.default_timezone, time_format: None, scale: NumericScale::ONE_TO_FIVE };
    call_to_complaint(record, &reading, settings, text.to_owned())
}

pub fn parse_hotline_csv(raw: &[u8], settings: &ParseSettings) -> Result<Parsed, Rejection> {
    let layout = &settings.inner.hotline_csv;
    let c = &layout.columns;
    let row = Row::parse(raw, c.encoding)?;
    let owned = |v: Option<&str>| v.map(str::to_owned);
    let record = CallRecord {
        call_id: owned(row.get(&c.call_id, "call_id")?),
        caller: owned(row.get(&c.caller, "caller")?),
        started_at: owned(row.get_optional(&c.started_at, "started_at")?),
        ended_at: owned(row.get_optional(&c.ended_at, "ended_at")?),
        satisfaction: owned(row.get_optional(&c.satisfaction, "satisfaction")?),
        complaint: owned(row.get_optional(&c.complaint, "complaint")?),
        notes: owned(row.get_optional(&c.notes, "notes")?),
    };
    let scale = NumericScale { one_is: c.satisfaction_scale, points: c.satisfaction_points };
    let reading = Reading { zone: layout.timezone, time_format: Some(c.time_format.clone()), scale };
    call_to_complaint(record, &reading, settings, row.text().to_owned())
}

fn call_to_complaint(
    call: CallRecord,
    reading: &Reading,
    settings: &ParseSettings,
    raw_payload: String,
) -> Result<Parsed, Rejection> {
    let call_id = delivery_id(call.call_id, "call_id")?;
    let mut caller = KeyCollector::default();
    caller.phone(call.caller.as_deref());
    let keys = caller.finish()?;
    let format = reading.time_format.as_deref();
    let started = call.started_at.as_deref().map(|t| read_time(t, format, reading.zone, "started_at")).transpose()?;
    let ended = call.ended_at.as_deref().map(|t| read_time(t, format, reading.zone, "ended_at")).transpose()?;
    let received_at = started.or(ended).ok_or(Rejection::Missing("started_at"))?;
    let flagged = values::flag(call.complaint.as_deref().unwrap_or_default())
        .map_err(|reason| Rejection::invalid("complaint", reason))?;
    let notes = call.notes.map(|n| n.trim().to_owned()).unwrap_or_default();
    let noted = settings.inner.dissatisfaction.any_in(&notes);
    // A score that does not read decides nothing about a call flagged or noted as a complaint:
    // the complaint stands (the raw payload keeps the score); about any other call it is the
    // one thing that could make it a complaint, so the call waits in quarantine.
    let satisfaction =
        match values::satisfaction(call.satisfaction.as_deref().unwrap_or_default(), Steps::Three, reading.scale) {
            Ok(satisfaction) => satisfaction,
            Err(_) if flagged || noted => None,
            Err(reason) => return Err(Rejection::invalid("satisfaction", reason)),
        };

    let dissatisfied = satisfaction.is_some_and(|s| s.get() <= 2);
    if !flagged && !dissatisfied && !noted {
        return Ok(Parsed::Ignored("neither flagged, rated dissatisfied, nor noted as a complaint".into()));
    }
    let text = if notes.is_empty() {
        match satisfaction {
            Some(s) => format!("热线来电,满意度评价 {} 分(无坐席备注)", s.get()),
            None => "热线来电投诉(无坐席备注)".to_owned(),
        }
    } else {
        notes
    };
    Ok(Parsed::Complaint(Box::new(Complaint {
        channel: Channel::Hotline,
        source_id: call_id,
        received_at,
        keys,
        customer: CustomerDetails::default(),
        text,
        category: None,
        satisfaction,
        formal_complaint: flagged,
        raw_payload,
        format: String::new(),
        record: None,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{CueConfig, HotlineCsvConfig, ScoreScale, StoreCsvConfig, TextEncoding, WechatConfig};
    use mend_core::{CustomerKey, IdentityKind};
    use proptest::prelude::*;

    fn settings(csv: HotlineCsvConfig) -> ParseSettings {
        let cues =
            CueConfig { dissatisfaction_cues: vec!["投诉".into(), "又断了".into()], ..CueConfig::default() };
        ParseSettings::new(chrono_tz::Asia::Shanghai, &cues, &WechatConfig::default(), &csv, &StoreCsvConfig::default())
            .unwrap()
    }

    fn complaint(parsed: Result<Parsed, Rejection>) -> Complaint {
        match parsed {
            Ok(Parsed::Complaint(c)) => *c,
            other => panic!("expected a complaint, got {other:?}"),
        }
    }

    const CALL: &str = r#"{"call_id": "CC20261120-000123", "caller": "+86 138-0013-8000",
        "started_at": "2026-11-20 09:12:00", "ended_at": "2026-11-20 09:20:31", "agent": "A1024",
        "satisfaction": "不满意", "complaint": "否", "notes": "客户反映宽带断网两天,要求尽快上门"}"#;

    #[test]
    fn a_dissatisfied_call_is_a_complaint() {
        let c = complaint(parse_hotline_json(CALL.as_bytes(), &settings(HotlineCsvConfig::default())));
        assert_eq!(c.source_id, "CC20261120-000123");
        assert_eq!(c.keys, [CustomerKey::new(IdentityKind::Phone, "13800138000")]);
        assert_eq!(c.received_at.to_rfc3339(), "2026-11-20T01:12:00+00:00");
        assert_eq!(c.satisfaction.map(|s| s.get()), Some(1));
        assert!(!c.formal_complaint);
        assert_eq!(c.text, "客户反映宽带断网两天,要求尽快上门");
        assert_eq!(c.raw_payload, CALL);
    }

    #[test]
    fn a_flag_or_a_cue_makes_a_complaint_and_a_content_caller_is_ignored() {
        let s = settings(HotlineCsvConfig::default());
        let flagged = CALL.replace("\"否\"", "\"是\"").replace("\"不满意\"", "5");
        assert!(complaint(parse_hotline_json(flagged.as_bytes(), &s)).formal_complaint);
        let noted = CALL.replace("\"不满意\"", "\"满意\"").replace("宽带断网两天", "宽带又断了");
        assert!(!complaint(parse_hotline_json(noted.as_bytes(), &s)).formal_complaint);
        let content = CALL.replace("\"不满意\"", "\"满意\"");
        assert!(matches!(parse_hotline_json(content.as_bytes(), &s), Ok(Parsed::Ignored(_))));
    }

    #[test]
    fn bad_calls_name_their_problem() {
        let s = settings(HotlineCsvConfig::default());
        let reason = |raw: String| parse_hotline_json(raw.as_bytes(), &s).unwrap_err().to_string();
        assert!(reason(CALL.replace("+86 138-0013-8000", "10086")).contains("no usable customer key"));
        assert!(reason(CALL.replace("\"CC20261120-000123\"", "null")).contains("call_id"));
        assert!(reason(CALL.replace("2026-11-20 09:12:00", "yesterday")).contains("started_at"));
        assert!(reason(CALL.replace("\"不满意\"", "9")).contains("satisfaction"));
        assert!(reason(CALL.replace("\"否\"", "\"也许\"")).contains("complaint"));
        assert!(reason(CALL[..40].to_owned()).contains("JSON"));
    }

    #[test]
    fn reads_a_vendor_export_through_the_mapping() {
        let csv = HotlineCsvConfig {
            encoding: TextEncoding::Gb18030,
            time_format: "%Y/%m/%d %H:%M".into(),
            satisfaction_scale: ScoreScale::OneIsBest,
            call_id: "流水号".into(),
            caller: "主叫号码".into(),
            started_at: "开始时间".into(),
            ended_at: "".into(),
            agent: "坐席工号".into(),
            satisfaction: "满意度".into(),
            complaint: "是否投诉".into(),
            notes: "备注".into(),
            ..HotlineCsvConfig::default()
        };
        let export = "流水号,主叫号码,开始时间,坐席工号,满意度,是否投诉,备注\n\
                      2026112000017,0571-87654321,2026/11/20 09:12,8001,5,否,用户称网速慢\n";
        let (bytes, _, _) = encoding_rs::GB18030.encode(export);
        let mut rows = crate::CsvRecords::new(&bytes[..]);
        let mut raw = Vec::new();
        rows.next_record(&mut raw).unwrap();
        let c = complaint(parse_hotline_csv(&raw, &settings(csv)));
        assert_eq!(c.source_id, "2026112000017");
        assert_eq!(c.keys[0].value, "057187654321");
        assert_eq!(c.satisfaction.map(|s| s.get()), Some(1), "5 on a 1-is-best scale");
        assert_eq!(c.received_at.to_rfc3339(), "2026-11-20T01:12:00+00:00");
    }

    #[test]
    fn a_truncated_export_ends_in_a_rejected_row_not_a_panic() {
        let export = "call_id,caller,started_at,ended_at,agent,satisfaction,complaint,notes\n\
                      CC1,13800138000,2026-11-20 09:12:00,,A1,1,否,断网\n\
                      CC2,\"1380013";
        let mut rows = crate::CsvRecords::new(export.as_bytes());
        let mut raw = Vec::new();
        let s = settings(HotlineCsvConfig::default());
        rows.next_record(&mut raw).unwrap();
        assert!(matches!(parse_hotline_csv(&raw, &s), Ok(Parsed::Complaint(_))));
        rows.next_record(&mut raw).unwrap();
        let reason = parse_hotline_csv(&raw, &s).unwrap_err().to_string();
        assert!(reason.contains("no usable customer key"), "{reason}");
        assert_eq!(rows.next_record(&mut raw).unwrap(), None);
    }

    proptest! {
        #[test]
        fn any_bytes_parse_or_are_rejected(raw in proptest::collection::vec(any::<u8>(), 0..512)) {
            let s = settings(HotlineCsvConfig::default());
            let _ = parse_hotline_json(&raw, &s);
            let _ = parse_hotline_csv(&raw, &s);
        }
    }
}
