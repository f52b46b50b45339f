//! The admin preview: each email rendered from made-up data, so whoever edits a template under
//! `config/emails/` sees the result (and its mistakes) before a customer does.

use base64::Engine;
use mend_core::EmailKind;
use serde::Serialize;
use serde_json::{Value, json};

use crate::{BarGroup, ComposedEmail, EmailTemplates, NotifyError, bar_chart_png};

/// A rendered email; in `html`, inline images are `data:` URIs so a browser shows them.
#[derive(Debug, Clone, Serialize)]
pub struct EmailPreview {
    pub kind: EmailKind,
    #[serde(flatten)]
    pub email: ComposedEmail,
}

pub fn preview(templates: &EmailTemplates, kind: EmailKind) -> Result<EmailPreview, NotifyError> {
    let mut email = templates.compose(kind, &sample_context(kind))?;
    if kind == EmailKind::Hotspots
        && let Some(html) = &mut email.html
    {
        let chart = bar_chart_png(&sample_chart())?;
        let uri = format!("data:image/png;base64,{}", base64::engine::general_purpose::STANDARD.encode(chart));
        *html = html.replace("cid:chart", &uri);
    }
    Ok(EmailPreview { kind, email })
}

fn sample_chart() -> Vec<BarGroup> {
    vec![
        BarGroup { baseline_per_day: 6.3, count: 31.0, spike: true },
        BarGroup { baseline_per_day: 9.0, count: 12.0, spike: false },
        BarGroup { baseline_per_day: 4.1, count: 5.0, spike: false },
    ]
}

const CASE: &str = "0193a5c2-7f00-7000-8000-000000000001";

/// Data shaped like what the jobs pass to each template.
fn sample_context(kind: EmailKind) -> Value {
    match kind {
        EmailKind::Survey => json!({
            "honorific": "王先生", "case_id": CASE, "category": "broadband_outage",
            "category_name": "宽带断网", "survey_url": "https://mend.example/survey/预览", "valid_days": 14,
        }),
        EmailKind::Unreachable => json!({"honorific": "王先生", "attempts": 3, "case_id": CASE, "wrong_number": false}),
        EmailKind::SlaAlert => json!({"tasks": [
            {"task_id": "0193a5c2-7f00-7000-8000-0000000000a1", "case_id": CASE, "category": "宽带断网",
             "kind": "first_contact", "due_at": "12-03 10:00", "overdue_minutes": 95, "holder": "李娜", "priority": 80},
            {"task_id": "0193a5c2-7f00-7000-8000-0000000000a2", "case_id": CASE, "category": "退款延迟",
             "kind": "verification", "due_at": "12-03 11:30", "overdue_minutes": 5, "holder": null, "priority": 60},
        ]}),
        EmailKind::ReopenAlert => json!({
            "case_id": CASE, "category": "宽带断网", "reopened_at": "12-03 09:12", "complaint_count": 4,
        }),
        EmailKind::Hotspots => json!({
            "day": "2026-12-02", "total_complaints": 48, "previous_day_complaints": 30,
            "categories": [
                {"category": "broadband_outage", "name": "宽带断网", "complaints": 31, "previous_day": 9,
                 "change": 22, "baseline_per_day": 6.3, "p_value": 1e-9, "spike": true},
                {"category": "billing_dispute", "name": "账单争议", "complaints": 12, "previous_day": 14,
                 "change": -2, "baseline_per_day": 9.0, "p_value": 0.2, "spike": false},
                {"category": "refund_delay", "name": "退款延迟", "complaints": 5, "previous_day": 7,
                 "change": -2, "baseline_per_day": 4.1, "p_value": 0.4, "spike": false},
            ],
            "spikes": ["broadband_outage"],
            "outcomes": {"calls": 40, "reached": 31, "unreachable": 6, "wrong_number": 1, "refused": 2,
                         "resolved": 24, "reached_pct": 77.5, "resolved_pct": 77.4},
            "compensation_count": 7, "compensation_fen": 35_000,
            "satisfaction": {"before": 1.6, "before_ratings": 22, "after": 4.1, "after_ratings": 18,
                             "after_surveyed": 3.9, "after_surveyed_ratings": 7,
                             "after_on_calls": 4.2, "after_on_calls_ratings": 11},
            "survey_answers": [{"case_id": CASE, "category": "宽带断网", "rating": 2,
                                "comment": "修好第二天又断了一次", "answered_at": "2026-11-24T12:30:00Z"}],
            "suggestions": [{"case_id": CASE, "category": "宽带断网", "suggestion": "城东片区光交箱频繁断电,建议加装备用电源",
                             "root_cause": "光交箱断电"}],
            "baseline_days": 7, "baseline_known": true,
            "spike_rule": "至少 10 件,且不低于前 7 日日均的 2 倍,且按泊松分布偶然出现的概率低于 0.001",
        }),
    }
}
