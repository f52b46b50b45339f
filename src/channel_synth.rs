//! Channel-native payloads made from synthetic canonical complaints: a call-center CSV export,
//! WeChat message XML, chatbot sessions, store terminal ratings. For the parse benchmark.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::import::ImportFormat;

/// `complaints` (canonical JSON values) written as one file of `channel`'s format.
pub fn channel_file(channel: ImportFormat, complaints: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut csv = csv::WriterBuilder::new().terminator(csv::Terminator::Any(b'\n')).from_writer(Vec::new());
    match channel {
        ImportFormat::Hotline => {
            let header = ["call_id", "caller", "started_at", "ended_at", "agent", "satisfaction", "complaint", "notes"];
            csv.write_record(header).expect("in memory");
        }
        ImportFormat::Store => {
            let header =
                ["record_id", "store_id", "counter", "staff_id", "rated_at", "rating", "member_id", "phone", "comment"];
            csv.write_record(header).expect("in memory");
        }
        _ => {}
    }
    for (i, c) in complaints.iter().enumerate() {
        let text = c["text"].as_str().unwrap_or_default();
        let at: DateTime<Utc> = c["received_at"].as_str().and_then(|t| t.parse().ok()).unwrap_or_default();
        let local = at.with_timezone(&chrono_tz::Asia::Shanghai).format("%Y-%m-%d %H:%M:%S").to_string();
        let phone = c["customer"]["phone"].as_str().unwrap_or("13800138000");
        let score = c["satisfaction"].as_i64().unwrap_or(2);
        match channel {
            ImportFormat::Json => {
                out.extend_from_slice(c.to_string().as_bytes());
                out.push(b'\n');
            }
            ImportFormat::Hotline => {
                let flag = if c["formal_complaint"].as_bool().unwrap_or(false) { "是" } else { "否" };
                let row = [
                    format!("CC{i:010}"),
                    phone.to_owned(),
                    local.clone(),
                    local,
                    format!("A{}", 1000 + i % 50),
                    score.to_string(),
                    flag.to_owned(),
                    text.to_owned(),
                ];
                csv.write_record(row).expect("in memory");
            }
            ImportFormat::Wechat => {
                let openid =
                    c["customer"]["wechat_openid"].as_str().map_or_else(|| format!("oBench{i:022}"), str::to_owned);
                out.extend_from_slice(
                    format!(
                        "<xml><ToUserName><![CDATA[gh_mend_bench]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>\
                         <CreateTime>{}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{text}]]></Content>\
                         <MsgId>{}</MsgId></xml>\n",
                        at.timestamp(),
                        24_000_000_000_000_000u64 + i as u64
                    )
                    .as_bytes(),
                );
            }
            ImportFormat::Bot => {
                let session = json!({
                    "session_id": format!("bot-{i:010}"),
                    "user": {"user_id": format!("u{i}"), "wechat_openid": c["customer"]["wechat_openid"], "phone": c["customer"]["phone"]},
                    "turns": [
                        {"role": "bot", "text": "您好,请问有什么可以帮您?", "at": c["received_at"]},
                        {"role": "user", "text": text, "at": c["received_at"]},
                        {"role": "user", "text": "转人工", "at": c["received_at"]},
                    ],
                    "rating": if score <= 2 { "unsatisfied" } else { "satisfied" },
                    "transferred": true,
                });
                out.extend_from_slice(session.to_string().as_bytes());
                out.push(b'\n');
            }
            ImportFormat::Store => {
                let member = c["customer"]["member_id"].as_str().unwrap_or_default();
                let row = [
                    format!("T{i:010}"),
                    format!("HZ-{:03}", i % 40),
                    (i % 6).to_string(),
                    format!("E{}", 2000 + i % 90),
                    local,
                    score.to_string(),
                    member.to_owned(),
                    phone.to_owned(),
                    text.to_owned(),
                ];
                csv.write_record(row).expect("in memory");
            }
        }
    }
    if matches!(channel, ImportFormat::Hotline | ImportFormat::Store) {
        out = csv.into_inner().expect("in memory");
    }
    out
}
