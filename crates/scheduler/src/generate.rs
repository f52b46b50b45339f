//! Callback generation: every open case that needs repair gets exactly one task in work, due by
//! the moment of truth, placed in the customer's contact window and caps, with its priority,
//! script and compensation limit decided and explained when it is made.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use mend_core::{CaseId, CaseStatus, CustomerId, TaskId};
use mend_store::scheduling::{self as repo, IN_WORK, NewTask, TaskRecord};
use mend_store::{CaseRecord, ComplaintRecord, CustomerRecord, Store, StoreError};
use serde::Serialize;
use serde_json::json;

use crate::contact::CallLoad;
use crate::limit::LimitInputs;
use crate::script::ScriptLibrary;
use crate::settings::SchedulerSettings;
use crate::{SchedulerError, yuan};

/// Decides tasks from plain data; no I/O.
pub struct CallbackPlanner {
    pub settings: SchedulerSettings,
    scripts: ScriptLibrary,
    category_names: HashMap<String, String>,
}

/// What planning a call for a case needs to know.
#[derive(Debug, Clone)]
pub struct CaseFile {
    pub case: CaseRecord,
    pub customer: CustomerRecord,
    /// The case's complaints, oldest first.
    pub complaints: Vec<ComplaintRecord>,
    /// Compensation the customer got or was offered within the policy's rolling period.
    pub customer_received_fen: i64,
}

/// Which call to plan.
#[derive(Debug, Clone)]
pub struct CallRequest {
    pub kind: &'static str,
    pub attempt: i32,
    pub follows: Option<TaskId>,
    /// Not before this instant (a retry's backoff, a verification's delay); `now` for a callback.
    pub earliest: DateTime<Utc>,
    /// Deadline and the rule that set it; `None`: the earliest moment is the deadline.
    pub deadline: Option<(DateTime<Utc>, String)>,
}

#[derive(Debug, Clone)]
pub enum Planned {
    Task(Box<NewTask>),
    /// The customer asked not to be called.
    DoNotDisturb,
    /// No moment within a year fits the contact policy.
    NoContactTime,
}

/// The team's budget as the plan sees it.
#[derive(Debug, Clone)]
pub struct Budget {
    pub month: String,
    pub left_fen: i64,
}

#[derive(Serialize)]
struct ChannelLine<'a> {
    #[serde(skip)]
    received_at: DateTime<Utc>,
    channel: &'a str,
    channel_name: &'static str,
    at: String,
    text: &'a str,
    satisfaction: Option<i16>,
}

#[derive(Serialize)]
struct ScriptContext<'a> {
    honorific: String,
    customer_name: Option<&'a str>,
    category: &'a str,
    category_name: &'a str,
    temperament: &'static str,
    kind: &'static str,
    attempt: i32,
    complaint_count: i32,
    channel_count: usize,
    /// The latest complaint from each channel, oldest first.
    channels: Vec<ChannelLine<'a>>,
    repeat_failure: bool,
    escalation_risk: bool,
    limit_fen: i64,
    limit: String,
}

impl CallbackPlanner {
    pub fn new(
        settings: SchedulerSettings,
        categories: impl IntoIterator<Item = (String, String)>,
        bundled_scripts: &'static [(&'static str, &'static str)],
    ) -> Result<Self, SchedulerError> {
        settings.validate()?;
        let scripts = ScriptLibrary::new(&settings.scripts_dir, bundled_scripts)?;
        Ok(Self { settings, scripts, category_names: categories.into_iter().collect() })
    }

    pub fn scripts(&self) -> &ScriptLibrary {
        &self.scripts
    }

    /// A callback for a case that needs one, due by the moment of truth.
    pub fn callback(&self, case: &CaseRecord, now: DateTime<Utc>) -> CallRequest {
        CallRequest {
            kind: "callback",
            attempt: 1,
            follows: None,
            earliest: now,
            deadline: Some(self.settings.due.deadline(case)),
        }
    }

    /// Plans one call. `load` is the customer's calls so far; the planned call is added to it.
    pub fn plan(
        &self,
        file: &CaseFile,
        request: CallRequest,
        load: &mut CallLoad,
        budget: &Budget,
        now: DateTime<Utc>,
    ) -> Result<Planned, SchedulerError> {
        if file.customer.do_not_disturb {
            return Ok(Planned::DoNotDisturb);
        }
        let tz: Tz = file.customer.timezone.parse().unwrap_or(chrono_tz::Asia::Shanghai);
        let contact = &self.settings.contact;
        let Some(placement) = contact.place(request.earliest.max(now), tz, load) else {
            return Ok(Planned::NoContactTime);
        };
        let (deadline, due_rule) = request.deadline.clone().unwrap_or((placement.at, "as soon as allowed".into()));
        let due_at = contact.next_open(deadline, tz).unwrap_or(deadline).max(placement.at);
        load.add(placement.day);

        let reading = self.settings.temperament.read(&file.customer, file.complaints.iter().map(|c| c.text.as_str()));
        let priority = self.settings.priority.score(&file.case, &file.customer, &file.complaints, now);
        let category_name =
            self.category_names.get(&file.case.category).map_or(file.case.category.as_str(), String::as_str);
        let limit = self.settings.compensation.limit(&LimitInputs {
            category: &file.case.category,
            category_name,
            customer_received_fen: file.customer_received_fen,
            team_budget_left_fen: budget.left_fen,
            month: &budget.month,
        });
        let channels = channel_lines(&file.complaints, tz);
        let context = ScriptContext {
            honorific: file.customer.name.clone().unwrap_or_else(|| "尊敬的客户".into()),
            customer_name: file.customer.name.as_deref(),
            category: &file.case.category,
            category_name,
            temperament: reading.temperament.as_str(),
            kind: request.kind,
            attempt: request.attempt,
            complaint_count: file.case.complaint_count,
            channel_count: channels.len(),
            channels,
            repeat_failure: file.case.repeat_failure,
            escalation_risk: file.case.escalation_risk,
            limit_fen: limit.limit_fen,
            limit: yuan(limit.limit_fen),
        };
        let script = self.scripts.render(&file.case.category, reading.temperament, &context)?;
        let reasons = json!({
            "score": priority.score,
            "factors": priority.reasons,
            "due": {"rule": due_rule, "deadline": deadline, "due_at": due_at},
            "contact": {"not_before": placement.at, "moved_because": placement.moved_because},
            "script_template": script.template,
        });
        Ok(Planned::Task(Box::new(NewTask {
            id: TaskId::new(),
            case_id: file.case.id,
            customer_id: file.customer.customer_id,
            kind: request.kind.to_owned(),
            due_at,
            not_before: placement.at,
            priority: priority.score,
            priority_reasons: reasons.to_string(),
            compensation_limit_fen: limit.limit_fen,
            limit_explanation: limit.explanation(),
            script: script.text,
            attempt: request.attempt,
            category: file.case.category.clone(),
            temperament: reading.temperament.as_str().to_owned(),
            temperament_reason: json!({"source": reading.source, "cues": reading.cues}).to_string(),
            follows_task_id: request.follows,
        })))
    }
}

fn channel_name(channel: &str) -> &'static str {
    match channel {
        "hotline" => "客服热线",
        "wechat" => "微信公众号",
        "bot" => "在线客服",
        "store" => "营业厅",
        _ => "其他渠道",
    }
}

fn channel_lines(complaints: &[ComplaintRecord], tz: Tz) -> Vec<ChannelLine<'_>> {
    let mut lines: Vec<ChannelLine> = Vec::new();
    for c in complaints {
        let line = ChannelLine {
            received_at: c.received_at,
            channel: &c.channel,
            channel_name: channel_name(&c.channel),
            at: c.received_at.with_timezone(&tz).format("%-m月%-d日 %H:%M").to_string(),
            text: &c.text,
            satisfaction: c.satisfaction,
        };
        match lines.iter_mut().find(|l| l.channel == c.channel) {
            Some(existing) => *existing = line,
            None => lines.push(line),
        }
    }
    lines.sort_by_key(|l| l.received_at);
    lines
}

/// Whether a case needs a callback now: it is open, nothing is in work on it, and no call was
/// made for it since its latest complaint.
pub(crate) fn needs_callback(case: &CaseRecord, tasks: &[&TaskRecord]) -> bool {
    case.status == CaseStatus::Open
        && !tasks.iter().any(|t| IN_WORK.contains(&t.status.as_str()))
        && !tasks.iter().any(|t| t.status != "cancelled" && t.created_at >= case.last_complaint_at)
}

/// What a sweep did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GenerationCounts {
    pub cases_examined: u64,
    pub tasks_created: u64,
    pub do_not_disturb: u64,
    pub no_contact_time: u64,
}

/// Cases are planned and written this many at a time (one transaction each).
const CHUNK: usize = 1_000;

/// One generation sweep over `cases` (all open cases, or those touched since the last sweep).
pub(crate) async fn generate_callbacks(
    store: &Store,
    planner: &CallbackPlanner,
    cases: &[CaseId],
    now: DateTime<Utc>,
) -> Result<GenerationCounts, SchedulerError> {
    let mut counts = GenerationCounts::default();
    let budget = team_budget(store, planner, now).await?;
    for chunk in cases.chunks(CHUNK) {
        let tx = store.begin_write().await?;
        let written = generate_chunk(&tx, planner, chunk, &budget, now, &mut counts).await;
        match written {
            Ok(()) => tx.commit().await.map_err(StoreError::from)?,
            Err(e) => {
                tx.rollback().await.ok();
                return Err(e);
            }
        }
    }
    Ok(counts)
}

async fn generate_chunk(
    tx: &mend_store::DatabaseTransaction,
    planner: &CallbackPlanner,
    chunk: &[CaseId],
    budget: &Budget,
    now: DateTime<Utc>,
    counts: &mut GenerationCounts,
) -> Result<(), SchedulerError> {
    let cases = repo::cases_by_ids(tx, chunk).await?;
    counts.cases_examined += cases.len() as u64;
    let open: Vec<CaseRecord> = cases.into_iter().filter(|c| c.status == CaseStatus::Open).collect();
    let customers: Vec<CustomerId> = open.iter().map(|c| c.customer_id).collect::<HashSet<_>>().into_iter().collect();
    // Caps hold across instances: the customers' calls are counted under their row locks.
    mend_store::intake::lock_customers(tx, &customers).await?;
    let open_ids: Vec<CaseId> = open.iter().map(|c| c.id).collect();
    let tasks = repo::tasks_of_cases(tx, &open_ids).await?;
    let mut tasks_by_case: HashMap<CaseId, Vec<&TaskRecord>> = HashMap::new();
    for t in &tasks {
        tasks_by_case.entry(t.case_id).or_default().push(t);
    }
    let needing: Vec<&CaseRecord> =
        open.iter().filter(|c| needs_callback(c, tasks_by_case.get(&c.id).map_or(&[][..], Vec::as_slice))).collect();
    if needing.is_empty() {
        return Ok(());
    }
    let calls = needing.into_iter().map(|case| (case, planner.callback(case, now))).collect();
    plan_calls(tx, planner, calls, budget, now, counts).await
}

/// Plans the calls asked for and inserts them. The transaction must hold the cases' customers
/// (`lock_customers`), so their calls are counted against the caps as they stand. A case asked
/// for twice keeps the first call: it may have one task in work.
pub(crate) async fn plan_calls(
    tx: &mend_store::DatabaseTransaction,
    planner: &CallbackPlanner,
    calls: Vec<(&CaseRecord, CallRequest)>,
    budget: &Budget,
    now: DateTime<Utc>,
    counts: &mut GenerationCounts,
) -> Result<(), SchedulerError> {
    let mut seen = HashSet::new();
    let cases: Vec<&CaseRecord> = calls.iter().map(|(case, _)| *case).filter(|case| seen.insert(case.id)).collect();
    let (files, mut loads) = case_files(tx, planner, &cases, now).await?;
    let mut planned = Vec::with_capacity(files.len());
    for (case, request) in calls {
        let file = &files[&case.id];
        let load = loads.entry(file.customer.customer_id).or_default();
        match planner.plan(file, request, load, budget, now)? {
            Planned::Task(task) => planned.push(*task),
            Planned::DoNotDisturb => counts.do_not_disturb += 1,
            Planned::NoContactTime => counts.no_contact_time += 1,
        }
    }
    counts.tasks_created += repo::insert_tasks(tx, &planned, now).await?;
    for task in &planned {
        tracing::debug!(case_id = %task.case_id, task_id = %task.id, kind = %task.kind, due_at = %task.due_at, "call planned");
    }
    Ok(())
}

/// The case files of `cases` (their customers, complaints, compensation so far) and their
/// customers' calls from a week before `now` on.
async fn case_files(
    tx: &mend_store::DatabaseTransaction,
    planner: &CallbackPlanner,
    cases: &[&CaseRecord],
    now: DateTime<Utc>,
) -> Result<(HashMap<CaseId, CaseFile>, HashMap<CustomerId, CallLoad>), SchedulerError> {
    let customer_ids: Vec<CustomerId> =
        cases.iter().map(|c| c.customer_id).collect::<HashSet<_>>().into_iter().collect();
    let customers: HashMap<CustomerId, CustomerRecord> =
        repo::customers_by_ids(tx, &customer_ids).await?.into_iter().map(|c| (c.customer_id, c)).collect();
    let case_ids: Vec<CaseId> = cases.iter().map(|c| c.id).collect();
    let mut complaints: HashMap<CaseId, Vec<ComplaintRecord>> = HashMap::new();
    for c in mend_store::casework::complaints_of_cases(tx, &case_ids).await? {
        complaints.entry(c.case_id).or_default().push(c);
    }
    // Compensation and calls are the customer's, over every case they own now.
    let owned = repo::cases_of_customers(tx, &customer_ids).await?;
    let owner: HashMap<CaseId, CustomerId> = owned.iter().copied().collect();
    let owned_ids: Vec<CaseId> = owned.iter().map(|(c, _)| *c).collect();
    let since = now - Duration::days(planner.settings.compensation.customer_cap_days);
    let mut received: HashMap<CustomerId, i64> = HashMap::new();
    for (case, fen) in repo::compensation_of_cases(tx, &owned_ids, since).await? {
        if let Some(customer) = owner.get(&case) {
            *received.entry(*customer).or_default() += fen;
        }
    }
    let zone = |customer: &CustomerId| {
        customers.get(customer).and_then(|c| c.timezone.parse().ok()).unwrap_or(chrono_tz::Asia::Shanghai)
    };
    let mut loads: HashMap<CustomerId, CallLoad> = HashMap::new();
    for (case, at) in repo::call_times_of_cases(tx, &owned_ids, now - Duration::days(8)).await? {
        let Some(customer) = owner.get(&case) else { continue };
        loads.entry(*customer).or_default().add(at.with_timezone(&zone(customer)).date_naive());
    }
    let files = cases
        .iter()
        .map(|case| {
            let customer = customers
                .get(&case.customer_id)
                .cloned()
                .ok_or_else(|| StoreError::Corrupt(format!("case {} has no customer {}", case.id, case.customer_id)))?;
            let file = CaseFile {
                case: (*case).clone(),
                complaints: complaints.remove(&case.id).unwrap_or_default(),
                customer_received_fen: received.get(&case.customer_id).copied().unwrap_or(0),
                customer,
            };
            Ok((case.id, file))
        })
        .collect::<Result<_, SchedulerError>>()?;
    Ok((files, loads))
}

/// What the callback team may still spend this month.
pub(crate) async fn team_budget(
    store: &Store,
    planner: &CallbackPlanner,
    now: DateTime<Utc>,
) -> Result<Budget, SchedulerError> {
    let tz = planner.settings.zone()?;
    let month = now.with_timezone(&tz).format("%Y-%m").to_string();
    let (budget, committed) = repo::team_budget(store.connection(), &planner.settings.team, &month)
        .await?
        .unwrap_or((planner.settings.compensation.monthly_budget_fen, 0));
    Ok(Budget { month, left_fen: budget - committed })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(last: DateTime<Utc>) -> CaseRecord {
        CaseRecord {
            id: CaseId::new(),
            customer_id: CustomerId::new(),
            category: "billing_dispute".into(),
            status: CaseStatus::Open,
            escalation_risk: false,
            repeat_failure: false,
            complaint_count: 1,
            first_complaint_at: last,
            last_complaint_at: last,
            opened_at: last,
            closed_at: None,
            updated_at: last,
            signature: String::new(),
            extra_categories: Vec::new(),
            merged_into: None,
            merged_by: None,
            split_from: None,
            reopened_at: None,
        }
    }

    fn task(case: &CaseRecord, status: &str, created: DateTime<Utc>) -> TaskRecord {
        TaskRecord {
            task_id: TaskId::new(),
            case_id: case.id,
            customer_id: Some(case.customer_id),
            kind: "callback".into(),
            status: status.into(),
            due_at: created,
            not_before: Some(created),
            priority: 0,
            priority_reasons: serde_json::Value::Null,
            compensation_limit_fen: 0,
            limit_explanation: String::new(),
            script: String::new(),
            attempt: 1,
            category: case.category.clone(),
            temperament: "neutral".into(),
            temperament_reason: serde_json::Value::Null,
            follows_task_id: None,
            outcome: None,
            created_at: created,
            completed_at: None,
            escalated_at: None,
        }
    }

    #[test]
    fn a_case_needs_a_callback_until_one_covers_its_latest_complaint() {
        let t0 = DateTime::parse_from_rfc3339("2026-11-20T09:00:00Z").unwrap().to_utc();
        let c = case(t0);
        assert!(needs_callback(&c, &[]));
        let open = task(&c, "open", t0 + Duration::hours(1));
        assert!(!needs_callback(&c, &[&open]), "one task in work is enough");
        let done = task(&c, "done", t0 + Duration::hours(1));
        assert!(!needs_callback(&c, &[&done]), "called after the latest complaint");
        let later = case(t0 + Duration::hours(5));
        let done_before = task(&later, "done", t0 + Duration::hours(1));
        assert!(needs_callback(&later, &[&done_before]), "the customer complained again after the call");
        let cancelled = task(&c, "cancelled", t0 + Duration::hours(1));
        assert!(needs_callback(&c, &[&cancelled]));
        let mut closed = case(t0);
        closed.status = CaseStatus::Closed;
        assert!(!needs_callback(&closed, &[]));
    }
}
