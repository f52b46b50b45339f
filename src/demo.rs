//! `mend demo`: load the bundled sample complaints and tell what mend made of them.

use std::io::Write;

use anyhow::Result;
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use mend_core::{Clock, Role};
use mend_scheduler::{ContactPolicy, Job, Scheduler};
use mend_server::auth::UserToAdd;
use mend_store::complaints::find_deliveries;
use mend_store::{Store, cases, tasks, totals};

use crate::import::{ImportFormat, Importer, Input, complaints_span};

const SAMPLES: &str = include_str!("../config/samples/complaints.jsonl");

/// Each channel's own export or message format, as `mend import --channel` reads it.
const CHANNEL_SAMPLES: [(ImportFormat, &str, &str); 4] = [
    (ImportFormat::Hotline, "a call-center CSV export", include_str!("../config/samples/hotline.csv")),
    (ImportFormat::Wechat, "WeChat official-account messages", include_str!("../config/samples/wechat.xml")),
    (ImportFormat::Bot, "chatbot sessions", include_str!("../config/samples/bot.jsonl")),
    (ImportFormat::Store, "store terminal ratings", include_str!("../config/samples/store.csv")),
];

/// How far a sample moves so that the latest of its complaints arrived between two hours and a
/// day and two hours before `now`: the demo shows a queue as it looks on a normal morning, on
/// whatever day it runs. A sample loaded before keeps the place it was given then, so a second
/// demo finds the same records (duplicates, not conflicting redeliveries).
async fn sample_shift(
    format: ImportFormat,
    sample: &str,
    importer: &Importer<'_>,
    now: DateTime<Utc>,
) -> Result<Duration> {
    let Some((first, latest)) = complaints_span(format, sample.as_bytes(), &importer.parse)? else {
        return Ok(Duration::zero());
    };
    let known = find_deliveries(importer.store.connection(), &[(first.channel, first.source_id.as_str())]).await?;
    if let Some(known) = known.first() {
        return Ok(known.content.received_at - first.received_at);
    }
    let gap = now - Duration::hours(2) - latest;
    Ok(Duration::days(gap.num_seconds().div_euclid(86_400)))
}

/// The demo loads made-up customers with callbacks due: into a database that holds complaints
/// and none of the demo's (a desk at work), it would put them into real agents' queue.
async fn refuse_a_desk_in_use(importer: &Importer<'_>) -> Result<()> {
    let conn = importer.store.connection();
    let complaints = totals::totals(conn).await?.complaints;
    if complaints == 0 {
        return Ok(());
    }
    let Some((first, _)) = complaints_span(ImportFormat::Json, SAMPLES.as_bytes(), &importer.parse)? else {
        return Ok(());
    };
    if find_deliveries(conn, &[(first.channel, first.source_id.as_str())]).await?.is_empty() {
        anyhow::bail!(
            "this database holds {complaints} complaints and none of the demo's: the demo would put its \
             made-up customers into that desk's queue. Run it on a database of its own, e.g. \
             MEND_DATABASE_URL='sqlite://data/demo.db?mode=rwc' mend demo"
        );
    }
    Ok(())
}

/// The demo's clock and the zone people read times in.
pub struct DemoClock {
    pub now: DateTime<Utc>,
    pub zone: Tz,
}

impl DemoClock {
    fn local(&self, at: DateTime<Utc>) -> String {
        at.with_timezone(&self.zone).format("%Y-%m-%d %H:%M %:z").to_string()
    }
}

pub async fn run(
    importer: &mut Importer<'_>,
    scheduler: &Scheduler,
    clock: &DemoClock,
    out: &mut impl Write,
) -> Result<()> {
    refuse_a_desk_in_use(importer).await?;
    importer.time_shift = sample_shift(ImportFormat::Json, SAMPLES, importer, clock.now).await?;
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
        importer.time_shift = sample_shift(channel, sample, importer, clock.now).await?;
        let s = importer.run(channel, &Input::Bundled(sample.as_bytes())).await?;
        writeln!(
            out,
            "  {what}: {} records, {} complaints, {} ignored (not complaints), {} quarantined",
            s.records, s.accepted, s.ignored, s.quarantined
        )?;
    }
    let totals = totals::totals(store.connection()).await?;
    writeln!(
        out,
        "The database now holds {} complaints from {} customers, grouped into {} cases ({} payloads in quarantine).",
        totals.complaints, totals.customers, totals.cases, totals.quarantined
    )?;
    if totals.merged_cases > 0 {
        writeln!(
            out,
            "  {} more cases were merged into others when two customers turned out to be one person.",
            totals.merged_cases
        )?;
    }
    if totals.complaints > 0 {
        writeln!(
            out,
            "Without grouping, the repair team would make {} callbacks; with it, {}.",
            totals.complaints, totals.cases
        )?;
    }
    let largest = match cases::largest_case(store.connection()).await? {
        Some(id) => cases::case_detail(store.connection(), id).await?,
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
            writeln!(out, "  {}  {:<7} {}", clock.local(c.received_at), c.channel, c.text)?;
        }
    }
    callbacks(scheduler, importer.store, clock, out).await?;
    writeln!(
        out,
        "\nNext: `mend tasks export` lists every callback task; `mend cases export` lists every case; `mend user add --name you --role admin` prints an API \
         token; `mend serve` opens the API on the configured address."
    )?;
    Ok(())
}

/// Plans the callbacks now and shows the most urgent one as the agent will get it.
async fn callbacks(
    scheduler: &Scheduler,
    store: &mend_store::Store,
    clock: &DemoClock,
    out: &mut impl Write,
) -> Result<()> {
    let run = scheduler.run_now(Job::GenerateCallbacks, clock.now).await?;
    writeln!(
        out,
        "\nThe scheduler planned {} callbacks: one per open case, due by its category's moment of truth and \
         placed in the customer's contact hours.",
        run.counts.get("tasks_created").unwrap_or(0)
    )?;
    let tasks = tasks::tasks_page(store.connection(), None, 10_000).await?;
    let Some(task) = tasks.iter().filter(|t| t.status == mend_core::TaskStatus::Open).max_by_key(|t| t.priority) else {
        return Ok(());
    };
    let factors: Vec<String> =
        task.priority_reasons.factors.iter().map(|f| format!("{} +{}", f.factor, f.points)).collect();
    writeln!(out, "The most urgent, case {} (priority {}: {}):", task.case_id, task.priority, factors.join(", "))?;
    writeln!(
        out,
        "  call from {}, due {}; tone: {}",
        clock.local(task.not_before.unwrap_or(task.due_at)),
        clock.local(task.due_at),
        task.temperament
    )?;
    writeln!(out, "  {}", task.limit_explanation)?;
    for line in task.script.lines().filter(|l| !l.trim().is_empty()).take(8) {
        writeln!(out, "  | {line}")?;
    }
    Ok(())
}

/// The people of the demo desk, one per role, each printed with a fresh password (a second demo
/// on the same database gives them new ones).
const DEMO_USERS: [(&str, Role); 3] =
    [("demo-agent", Role::Agent), ("demo-supervisor", Role::Supervisor), ("demo-admin", Role::Admin)];

pub async fn users(store: &Store, clock: &dyn Clock, out: &mut impl Write) -> Result<()> {
    writeln!(out, "\nDemo users (sign in at /login):")?;
    for (name, role) in DEMO_USERS {
        let password = if let Some((known, _)) = mend_store::users::by_name(store.connection(), name).await? {
            let credentials = mend_server::auth::Credentials::generate();
            let hash = &credentials.password_hash;
            mend_store::users::replace_password(store.connection(), known.user_id, hash, None).await?;
            credentials.password
        } else {
            let user = UserToAdd { name: name.to_owned(), role, team: None, email: None };
            mend_server::auth::add_user(store, user, "demo", clock.now()).await?.1.password
        };
        writeln!(out, "  {name:<16} {:<10} password {password}", role.as_str())?;
    }
    Ok(())
}

/// Contact hours of the whole day, every day: the demo's customers may be called whenever a
/// newcomer tries it (real desks keep `[scheduler.contact]` as configured).
pub fn callable_at_any_hour(contact: &mut ContactPolicy) -> Result<()> {
    let day: mend_scheduler::DailyWindow = "00:00-23:59".parse().map_err(anyhow::Error::msg)?;
    contact.hours = day;
    contact.weekend_hours = Some(day);
    contact.holidays.clear();
    contact.max_calls_per_day = contact.max_calls_per_day.max(10);
    contact.max_calls_per_week = contact.max_calls_per_week.max(50);
    Ok(())
}
