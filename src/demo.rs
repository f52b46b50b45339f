//! `mend demo`: load the bundled sample complaints and tell what mend made of them.

use std::io::Write;

use anyhow::Result;
use chrono::Utc;
use mend_scheduler::{Job, Scheduler};
use mend_store::{reads, scheduling};

use crate::import::{ImportFormat, Importer, Input};

const SAMPLES: &str = include_str!("../config/samples/complaints.jsonl");

/// Each channel's own export or message format, as `mend import --channel` reads it.
const CHANNEL_SAMPLES: [(ImportFormat, &str, &str); 4] = [
    (ImportFormat::Hotline, "a call-center CSV export", include_str!("../config/samples/hotline.csv")),
    (ImportFormat::Wechat, "WeChat official-account messages", include_str!("../config/samples/wechat.xml")),
    (ImportFormat::Bot, "chatbot sessions", include_str!("../config/samples/bot.jsonl")),
    (ImportFormat::Store, "store terminal ratings", include_str!("../config/samples/store.csv")),
];

pub async fn run(importer: &Importer<'_>, scheduler: &Scheduler, out: &mut impl Write) -> Result<()> {
    let summary = importer.run(ImportFormat::Json, &Input::Bundled(SAMPLES.as_bytes())).await?;
    let store = importer.store;

    writeln!(out, "Loaded {} sample complaints from the hotline, WeChat, the chatbot and stores.", summary.records)?;
    writeln!(
        out,
        "  accepted {}, already known {}, quarantined {} (bad records are kept with the reason, never dropped)",
        summary.accepted, summary.duplicates, summary.quarantined
    )?;
    writeln!(
        out,
        "  {} new cases, {} existing cases received new complaints",
        summary.cases_created, summary.cases_updated
    )?;
    writeln!(out, "Then each channel's own format:")?;
    for (channel, what, sample) in CHANNEL_SAMPLES {
        let s = importer.run(channel, &Input::Bundled(sample.as_bytes())).await?;
        writeln!(
            out,
            "  {what}: {} records, {} complaints, {} ignored (not complaints), {} quarantined",
            s.records, s.accepted, s.ignored, s.quarantined
        )?;
    }
    let totals = reads::totals(store.connection()).await?;
    writeln!(
        out,
        "The database now holds {} complaints from {} customers, grouped into {} cases ({} payloads in quarantine).",
        totals.complaints, totals.customers, totals.cases, totals.quarantined
    )?;
    if totals.complaints > 0 {
        writeln!(
            out,
            "Without grouping, the repair team would make {} callbacks; with it, {}.",
            totals.complaints, totals.cases
        )?;
    }
    let largest = match reads::largest_case(store.connection()).await? {
        Some(id) => reads::case_detail(store.connection(), id).await?,
        None => None,
    };
    if let Some(case) = largest {
        let who = case.customer.name.as_deref().unwrap_or("an unnamed customer");
        writeln!(
            out,
            "\nThe largest case, {}: {} complaints from {} about `{}`{}:",
            case.case.id,
            case.complaints.len(),
            who,
            case.case.category,
            if case.case.escalation_risk { " (escalation risk: a formal complaint was filed)" } else { "" }
        )?;
        for c in &case.complaints {
            writeln!(out, "  {}  {:<7} {}", c.received_at.format("%Y-%m-%d %H:%M"), c.channel, c.text)?;
        }
    }
    callbacks(scheduler, importer.store, out).await?;
    writeln!(
        out,
        "\nNext: `mend tasks export` lists every callback task; `mend cases export` lists every case; `mend user add --name you --role admin` prints an API \
         token; `mend serve` opens the API on the configured address."
    )?;
    Ok(())
}

/// Plans the callbacks now and shows the most urgent one as the agent will get it.
async fn callbacks(scheduler: &Scheduler, store: &mend_store::Store, out: &mut impl Write) -> Result<()> {
    let run = scheduler.run_now(Job::GenerateCallbacks, Utc::now()).await?;
    writeln!(
        out,
        "\nThe scheduler planned {} callbacks: one per open case, due by its category's moment of truth and \
         placed in the customer's contact hours.",
        run.counts["tasks_created"]
    )?;
    let tasks = scheduling::tasks_page(store.connection(), None, 10_000).await?;
    let Some(task) = tasks.iter().filter(|t| t.status == "open").max_by_key(|t| t.priority) else { return Ok(()) };
    let factors: Vec<String> = task.priority_reasons["factors"]
        .as_array()
        .map(|fs| fs.iter().map(|f| format!("{} +{}", f["factor"].as_str().unwrap_or("?"), f["points"])).collect())
        .unwrap_or_default();
    writeln!(out, "The most urgent, case {} (priority {}: {}):", task.case_id, task.priority, factors.join(", "))?;
    writeln!(
        out,
        "  call from {}, due {}; tone: {}",
        task.not_before.unwrap_or(task.due_at).format("%Y-%m-%d %H:%M UTC"),
        task.due_at.format("%Y-%m-%d %H:%M UTC"),
        task.temperament
    )?;
    writeln!(out, "  {}", task.limit_explanation)?;
    for line in task.script.lines().filter(|l| !l.trim().is_empty()).take(8) {
        writeln!(out, "  | {line}")?;
    }
    Ok(())
}
