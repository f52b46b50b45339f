//! Callback generation: every open case that needs repair gets exactly one task in work, due by
//! the moment of truth, placed in the customer's contact window and caps, with its priority,
//! script and compensation limit decided and explained when it is made.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use mend_core::{
    Case, CaseId, Channel, ComplaintLine, ContactReason, Customer, CustomerId, DueReason, JobCounts, Money,
    PriorityReasons, Satisfaction, TaskId, TaskKind, TemperamentReason,
};
use mend_store::callbacks::SweepScope;
use mend_store::retry::retry_on_conflict;
use mend_store::tasks::NewTask;
use mend_store::{ConnectionTrait, Store, StoreError};
use mend_store::{budgets, callbacks, compensations, tasks};
use serde::Serialize;

use crate::SchedulerError;
use crate::contact::CallLoad;
use crate::limit::{COUNTED_AGAINST_CAP, LimitInputs};
use crate::script::ScriptLibrary;
use crate::settings::SchedulerSettings;

/// Decides tasks from plain data; no I/O.
pub struct CallbackPlanner {
    pub settings: SchedulerSettings,
    scripts: ScriptLibrary,
    category_names: HashMap<String, String>,
}

/// What planning a call for a case needs to know.
#[derive(Debug, Clone)]
pub struct CaseFile {
    pub case: Case,
    pub customer: Customer,
    /// The case's complaints, oldest first.
    pub complaints: Vec<ComplaintLine>,
    /// Compensation the customer got or was offered within the policy's rolling period.
    pub customer_received: Money,
    /// Compensation given or offered on the case ([`crate::LimitInputs::case_received`]).
    pub case_received: Money,
}

/// Which call to plan.
#[derive(Debug, Clone)]
pub struct CallRequest {
    pub kind: TaskKind,
    pub attempt: i32,
    pub follows: Option<TaskId>,
    /// Not before this instant (a retry's backoff, a verification's delay); `now` for a callback.
    pub earliest: DateTime<Utc>,
    /// Deadline and the rule that set it; `None`: the earliest moment is the deadline.
    pub deadline: Option<(DateTime<Utc>, String)>,
}

#[derive(Debug, Clone)]
pub enum Planned {
    Task {
        task: Box<NewTask>,
        /// A script that fits the call better could not be rendered: the task has the next
        /// (said in its reasons and counted by the job, so a broken template is noticed).
        script_fell_back: bool,
    },
    /// The customer asked not to be called.
    DoNotDisturb,
    /// No moment within a year fits the contact policy.
    NoContactTime,
}

/// The team's budget as the plan sees it.
#[derive(Debug, Clone)]
pub struct Budget {
    pub month: String,
    /// Below zero when the month is overspent.
    pub left: Money,
}

#[derive(Serialize)]
struct ChannelLine<'a> {
    channel: Channel,
    channel_name: &'static str,
    at: String,
    text: &'a str,
    satisfaction: Option<Satisfaction>,
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
    limit_fen: Money,
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

    /// What people call the category (the taxonomy's `name`), or its id when it has none.
    pub fn category_name<'a>(&'a self, category: &'a str) -> &'a str {
        self.category_names.get(category).map_or(category, String::as_str)
    }

    /// A callback for a case that needs one, due by the moment of truth.
    pub fn callback(&self, case: &Case, now: DateTime<Utc>) -> CallRequest {
        CallRequest {
            kind: TaskKind::Callback,
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
        let tz = file.customer.timezone;
        let contact = &self.settings.contact;
        let Some(placement) = contact.place(request.earliest.max(now), tz, load) else {
            return Ok(Planned::NoContactTime);
        };
        let (deadline, due_rule) = request.deadline.clone().unwrap_or((placement.at, "as soon as allowed".into()));
        let due_at = contact.due_by(deadline, placement.at, tz);
        load.add(placement.day);

        let reading = self.settings.temperament.read(&file.customer, file.complaints.iter().map(|c| c.text.as_str()));
        let priority = self.settings.priority.score(&file.case, &file.customer, &file.complaints, now);
        let category_name = self.category_name(&file.case.category);
        let limit = self.settings.compensation.limit(&LimitInputs {
            category: &file.case.category,
            category_name,
            customer_received: file.customer_received,
            case_received: file.case_received,
            team_budget_left: budget.left,
            month: &budget.month,
        });
        let channels = channel_lines(&file.complaints, tz);
        let context = ScriptContext {
            honorific: honorific(&file.customer),
            customer_name: file.customer.name.as_deref(),
            category: &file.case.category,
            category_name,
            temperament: reading.temperament.as_str(),
            kind: request.kind.as_str(),
            attempt: request.attempt,
            complaint_count: file.case.complaint_count,
            channel_count: channels.len(),
            channels,
            repeat_failure: file.case.repeat_failure,
            escalation_risk: file.case.escalation_risk,
            limit_fen: limit.limit,
            limit: limit.limit.yuan(),
        };
        let script = self.scripts.render(&file.case.category, reading.temperament, &context)?;
        let script_fell_back = !script.passed_over.is_empty();
        let reasons = PriorityReasons {
            score: priority.score,
            factors: priority.factors,
            due: DueReason { rule: due_rule, deadline, due_at },
            contact: ContactReason { not_before: placement.at, moved_because: placement.moved_because },
            script_template: script.template,
            script_passed_over: script.passed_over,
            sla_escalation: None,
        };
        let task = Box::new(NewTask {
            id: TaskId::new(),
            case_id: file.case.id,
            customer_id: file.customer.customer_id,
            kind: request.kind,
            due_at,
            not_before: placement.at,
            priority: priority.score,
            priority_reasons: reasons,
            compensation_limit: limit.limit,
            limit_explanation: limit.explanation(),
            script: script.text,
            attempt: request.attempt,
            category: file.case.category.clone(),
            temperament: reading.temperament,
            temperament_reason: TemperamentReason { source: reading.source, cues: reading.cues },
            follows_task_id: request.follows,
        });
        Ok(Planned::Task { task, script_fell_back })
    }
}

fn channel_name(channel: Channel) -> &'static str {
    match channel {
        Channel::Hotline => "客服热线",
        Channel::Wechat => "微信公众号",
        Channel::Bot => "在线客服",
        Channel::Store => "营业厅",
    }
}

fn channel_lines(complaints: &[ComplaintLine], tz: Tz) -> Vec<ChannelLine<'_>> {
    let mut latest: Vec<&ComplaintLine> = Vec::new();
    for c in complaints {
        match latest.iter_mut().find(|l| l.channel == c.channel) {
            Some(earlier) => *earlier = c,
            None => latest.push(c),
        }
    }
    latest.sort_by_key(|c| c.received_at);
    latest
        .into_iter()
        .map(|c| ChannelLine {
            channel: c.channel,
            channel_name: channel_name(c.channel),
            at: c.received_at.with_timezone(&tz).format("%-m月%-d日 %H:%M").to_string(),
            text: &c.text,
            satisfaction: c.satisfaction,
        })
        .collect()
}

/// How a script and an email address the customer.
pub(crate) fn honorific(customer: &Customer) -> String {
    // A "name" with a run of digits is a number the channel had for a name (a caller id, a
    // member number): not a way to greet anyone, and not for an email.
    let name = customer
        .name
        .as_deref()
        .map(str::trim)
        .filter(|name| !name.is_empty() && !name.as_bytes().windows(5).any(|w| w.iter().all(u8::is_ascii_digit)));
    name.map_or_else(|| "尊敬的客户".into(), str::to_owned)
}

/// What a sweep did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GenerationCounts {
    pub cases_examined: u64,
    pub tasks_created: u64,
    pub do_not_disturb: u64,
    pub no_contact_time: u64,
    /// Tasks whose best-fitting script was broken, planned with the next one.
    pub script_fallbacks: u64,
    /// Verifications and second repairs not yet taken that a callback replaced: the customer
    /// complained again before the check was due.
    pub checks_superseded: u64,
}

impl From<GenerationCounts> for JobCounts {
    fn from(c: GenerationCounts) -> JobCounts {
        let counts = JobCounts::default()
            .count("cases_examined", c.cases_examined)
            .count("tasks_created", c.tasks_created)
            .count("do_not_disturb", c.do_not_disturb)
            .count("no_contact_time", c.no_contact_time);
        let counts = match c.script_fallbacks {
            0 => counts,
            n => counts.count("script_fallbacks", n),
        };
        match c.checks_superseded {
            0 => counts,
            n => counts.count("checks_superseded", n),
        }
    }
}

impl GenerationCounts {
    fn add(&mut self, other: &GenerationCounts) {
        self.cases_examined += other.cases_examined;
        self.tasks_created += other.tasks_created;
        self.do_not_disturb += other.do_not_disturb;
        self.no_contact_time += other.no_contact_time;
        self.script_fallbacks += other.script_fallbacks;
        self.checks_superseded += other.checks_superseded;
    }
}

/// Cases are read, planned and written this many at a time…
const CHUNK: usize = 1_000;
/// …and this many chunks make one transaction: long enough to keep the database busy while the
/// previous chunk is planned, short enough not to hold intake's writes (and, on PostgreSQL,
/// the customers' locks) for long.
const CHUNKS_PER_TRANSACTION: usize = 16;

/// One generation sweep over `cases` (from [`callbacks::case_ids_needing_callback`]) with their
/// customers.
///
/// A chunk is planned on a blocking thread while the database reads the next one and writes
/// the one before, so planning and storage overlap. That is safe because chunks never share a
/// customer: a chunk's call loads cannot depend on the tasks of a chunk not yet written.
pub(crate) async fn generate_callbacks(
    store: &Store,
    planner: &Arc<CallbackPlanner>,
    cases: &[(CaseId, CustomerId)],
    now: DateTime<Utc>,
) -> Result<GenerationCounts, SchedulerError> {
    let budget = team_budget(store.connection(), &planner.settings, now).await?;
    let chunks = customer_chunks(cases, CHUNK);
    // SQLite has one writer at a time. PostgreSQL writes groups side by side: they lock
    // disjoint customers (chunks never share one), each in ascending order, so they neither
    // wait for nor deadlock with each other.
    let writers = store.parallel_writers();
    let groups = Mutex::new(chunks.chunks(CHUNKS_PER_TRANSACTION));
    let workers = (0..writers).map(|_| work_through(store, planner, &groups, &budget, now));
    let mut total = GenerationCounts::default();
    for counts in futures::future::try_join_all(workers).await? {
        total.add(&counts);
    }
    store.wrote_tasks(total.tasks_created).await?;
    Ok(total)
}

/// Takes groups of chunks from `groups` until none is left, each in its own transaction. A
/// group locks its customers chunk by chunk, in id order as every other locker does, but an
/// import's held transaction takes a set per batch in no common order: PostgreSQL may end the
/// group's transaction as a deadlock, and the group is tried again.
async fn work_through(
    store: &Store,
    planner: &Arc<CallbackPlanner>,
    groups: &Mutex<std::slice::Chunks<'_, Vec<(CaseId, CustomerId)>>>,
    budget: &Budget,
    now: DateTime<Utc>,
) -> Result<GenerationCounts, SchedulerError> {
    let mut counts = GenerationCounts::default();
    loop {
        let next = groups.lock().unwrap_or_else(std::sync::PoisonError::into_inner).next();
        let Some(group) = next else { return Ok(counts) };
        let written = retry_on_conflict(|| async {
            let tx = store.begin_write().await?;
            let mut group_counts = GenerationCounts::default();
            match generate_group(&tx, planner, group, budget, now, &mut group_counts).await {
                Ok(()) => {
                    mend_store::commit(tx).await?;
                    Ok(group_counts)
                }
                Err(e) => {
                    tx.rollback().await.ok();
                    Err(e)
                }
            }
        })
        .await?;
        counts.add(&written);
    }
}

/// `cases` ordered by customer and cut into chunks of about `size`, never between two cases of
/// one customer.
fn customer_chunks(cases: &[(CaseId, CustomerId)], size: usize) -> Vec<Vec<(CaseId, CustomerId)>> {
    let mut sorted = cases.to_vec();
    sorted.sort_unstable_by_key(|(case, customer)| (*customer, *case));
    let mut chunks: Vec<Vec<(CaseId, CustomerId)>> = Vec::new();
    for pair in sorted {
        match chunks.last_mut() {
            Some(chunk) if chunk.len() < size || chunk.last().is_some_and(|(_, c)| *c == pair.1) => chunk.push(pair),
            _ => chunks.push(vec![pair]),
        }
    }
    chunks
}

async fn generate_group(
    tx: &mend_store::DatabaseTransaction,
    planner: &Arc<CallbackPlanner>,
    group: &[Vec<(CaseId, CustomerId)>],
    budget: &Budget,
    now: DateTime<Utc>,
    counts: &mut GenerationCounts,
) -> Result<(), SchedulerError> {
    let mut in_flight: Option<tokio::task::JoinHandle<Result<PlannedBatch, SchedulerError>>> = None;
    for chunk in group {
        counts.cases_examined += chunk.len() as u64;
        let (batch, superseded) = read_chunk(tx, planner, chunk, now).await?;
        counts.checks_superseded += superseded;
        let previous = match in_flight.take() {
            Some(planning) => Some(finish_planning(planning).await?),
            None => None,
        };
        let (planner, budget) = (Arc::clone(planner), budget.clone());
        in_flight = Some(tokio::task::spawn_blocking(move || planner.plan_batch(batch, &budget, now)));
        if let Some(planned) = previous {
            write_batch(tx, planned, now, counts).await?;
        }
    }
    if let Some(planning) = in_flight {
        write_batch(tx, finish_planning(planning).await?, now, counts).await?;
    }
    Ok(())
}

async fn finish_planning(
    planning: tokio::task::JoinHandle<Result<PlannedBatch, SchedulerError>>,
) -> Result<PlannedBatch, SchedulerError> {
    planning.await.map_err(|e| SchedulerError::Worker(format!("planning a chunk of calls: {e}")))?
}

/// A chunk's cases that still need a call, read under their customers' locks (so caps hold
/// across instances), with what planning them needs; and how many checks not yet taken that
/// their callbacks replace were cancelled (before the customers' calls are counted).
async fn read_chunk(
    tx: &mend_store::DatabaseTransaction,
    planner: &CallbackPlanner,
    chunk: &[(CaseId, CustomerId)],
    now: DateTime<Utc>,
) -> Result<(CallBatch, u64), SchedulerError> {
    let customers: HashSet<CustomerId> = chunk.iter().map(|(_, customer)| *customer).collect();
    mend_store::customers::lock_customers(tx, &customers.iter().copied().collect::<Vec<_>>()).await?;
    let ids: Vec<CaseId> = chunk.iter().map(|(case, _)| *case).collect();
    let mut needing = callbacks::cases_needing_callback(tx, SweepScope::Cases(&ids)).await?;
    // A case whose customer was merged into another since the sweep began is not under the
    // locks taken; the next sweep finds it with its new customer.
    needing.retain(|case| customers.contains(&case.customer_id));
    let ids: Vec<CaseId> = needing.iter().map(|case| case.id).collect();
    let superseded = tasks::cancel_superseded_checks(tx, &ids, now).await?;
    let calls = needing
        .into_iter()
        .map(|case| {
            let request = planner.callback(&case, now);
            (case, request)
        })
        .collect();
    Ok((load_batch(tx, planner, calls, now).await?, superseded))
}

/// Calls to plan, with everything planning them needs; owned, so another thread can plan them.
pub(crate) struct CallBatch {
    calls: Vec<(CaseId, CallRequest)>,
    files: HashMap<CaseId, CaseFile>,
    /// The customers' calls so far; planning adds to them.
    loads: HashMap<CustomerId, CallLoad>,
}

pub(crate) struct PlannedBatch {
    tasks: Vec<NewTask>,
    do_not_disturb: u64,
    no_contact_time: u64,
    script_fallbacks: u64,
}

impl CallbackPlanner {
    /// Plans every call of `batch`, in order: a customer's earlier calls count against the caps
    /// of the later ones.
    pub(crate) fn plan_batch(
        &self,
        batch: CallBatch,
        budget: &Budget,
        now: DateTime<Utc>,
    ) -> Result<PlannedBatch, SchedulerError> {
        let CallBatch { calls, files, mut loads } = batch;
        let mut planned = PlannedBatch {
            tasks: Vec::with_capacity(calls.len()),
            do_not_disturb: 0,
            no_contact_time: 0,
            script_fallbacks: 0,
        };
        for (case, request) in calls {
            let file = &files[&case];
            let load = loads.entry(file.customer.customer_id).or_default();
            match self.plan(file, request, load, budget, now)? {
                Planned::Task { task, script_fell_back } => {
                    planned.tasks.push(*task);
                    planned.script_fallbacks += u64::from(script_fell_back);
                }
                Planned::DoNotDisturb => planned.do_not_disturb += 1,
                Planned::NoContactTime => planned.no_contact_time += 1,
            }
        }
        Ok(planned)
    }
}

async fn write_batch(
    tx: &mend_store::DatabaseTransaction,
    planned: PlannedBatch,
    now: DateTime<Utc>,
    counts: &mut GenerationCounts,
) -> Result<(), SchedulerError> {
    counts.do_not_disturb += planned.do_not_disturb;
    counts.no_contact_time += planned.no_contact_time;
    counts.script_fallbacks += planned.script_fallbacks;
    counts.tasks_created += tasks::insert_tasks(tx, &planned.tasks, now).await?;
    for task in &planned.tasks {
        tracing::debug!(case_id = %task.case_id, task_id = %task.id, kind = %task.kind, due_at = %task.due_at, "call planned");
    }
    Ok(())
}

/// Plans the calls asked for and inserts them. The transaction must hold the cases' customers
/// (`lock_customers`), so their calls are counted against the caps as they stand. A case asked
/// for twice keeps the first call: it may have one task in work.
pub(crate) async fn plan_calls(
    tx: &mend_store::DatabaseTransaction,
    planner: &CallbackPlanner,
    calls: Vec<(Case, CallRequest)>,
    budget: &Budget,
    now: DateTime<Utc>,
    counts: &mut GenerationCounts,
) -> Result<(), SchedulerError> {
    let batch = load_batch(tx, planner, calls, now).await?;
    write_batch(tx, planner.plan_batch(batch, budget, now)?, now, counts).await
}

/// The files of the cases `calls` are for, and their customers' calls so far.
async fn load_batch(
    tx: &mend_store::DatabaseTransaction,
    planner: &CallbackPlanner,
    calls: Vec<(Case, CallRequest)>,
    now: DateTime<Utc>,
) -> Result<CallBatch, SchedulerError> {
    let mut seen = HashSet::new();
    let mut cases = Vec::new();
    let mut requests = Vec::with_capacity(calls.len());
    for (case, request) in calls {
        requests.push((case.id, request));
        if seen.insert(case.id) {
            cases.push(case);
        }
    }
    let (files, loads) = case_files(tx, planner, cases, now).await?;
    Ok(CallBatch { calls: requests, files, loads })
}

/// The case files of `cases` (their customers, complaints, compensation so far) and their
/// customers' calls from a week before `now` on.
pub(crate) async fn case_files(
    tx: &mend_store::DatabaseTransaction,
    planner: &CallbackPlanner,
    cases: Vec<Case>,
    now: DateTime<Utc>,
) -> Result<(HashMap<CaseId, CaseFile>, HashMap<CustomerId, CallLoad>), SchedulerError> {
    let customer_ids: Vec<CustomerId> =
        cases.iter().map(|c| c.customer_id).collect::<HashSet<_>>().into_iter().collect();
    let case_ids: Vec<CaseId> = cases.iter().map(|c| c.id).collect();
    let received_since = now - Duration::days(planner.settings.compensation.customer_cap_days);
    // One transaction runs one statement at a time, but each answer is decoded while the
    // database already works on the next question.
    let (customers, lines, received, calls, on_cases) = tokio::try_join!(
        callbacks::customers_by_ids(tx, &customer_ids),
        callbacks::complaint_lines(tx, &case_ids),
        compensations::compensation_received(tx, &customer_ids, received_since, &COUNTED_AGAINST_CAP),
        tasks::call_times(tx, &customer_ids, now - Duration::days(8)),
        compensations::case_compensation(tx, &case_ids, &COUNTED_AGAINST_CAP),
    )?;
    let on_cases: HashMap<CaseId, Money> = on_cases.into_iter().collect();
    let customers: HashMap<CustomerId, Customer> = customers.into_iter().map(|c| (c.customer_id, c)).collect();
    let mut complaints: HashMap<CaseId, Vec<ComplaintLine>> = HashMap::new();
    for c in lines {
        complaints.entry(c.case_id).or_default().push(c);
    }
    let received: HashMap<CustomerId, Money> = received.into_iter().collect();
    let mut loads: HashMap<CustomerId, CallLoad> = HashMap::new();
    for (customer, at) in calls {
        // A call of a customer merged away since: counted in the zone of the one it went to.
        if let Some(zone) = customers.get(&customer).map(|c| c.timezone) {
            loads.entry(customer).or_default().add_call(at, zone);
        }
    }
    let files = cases
        .into_iter()
        .map(|case| {
            let customer = customers.get(&case.customer_id).cloned().ok_or_else(|| {
                StoreError::corrupt("cases", case.id, format_args!("its customer {} is missing", case.customer_id))
            })?;
            let file = CaseFile {
                complaints: complaints.remove(&case.id).unwrap_or_default(),
                customer_received: received.get(&case.customer_id).copied().unwrap_or(Money::ZERO),
                case_received: on_cases.get(&case.id).copied().unwrap_or(Money::ZERO),
                customer,
                case,
            };
            Ok((file.case.id, file))
        })
        .collect::<Result<_, SchedulerError>>()?;
    Ok((files, loads))
}

/// The callback `planner` would plan for case `id` at `now`, with the scripts and limits as
/// they are now, written nowhere: how an administrator previews a changed script on a real
/// case. `None` when there is no such case.
pub async fn preview_callback(
    store: &Store,
    planner: &CallbackPlanner,
    id: CaseId,
    now: DateTime<Utc>,
) -> Result<Option<Planned>, SchedulerError> {
    // One snapshot: the case, its customer and their calls as they stood together.
    let tx = store.begin().await?;
    let Some(case) = mend_store::cases::case_by_id(&tx, id).await? else {
        mend_store::rollback(tx).await?;
        return Ok(None);
    };
    let request = planner.callback(&case, now);
    let budget = team_budget(&tx, &planner.settings, now).await?;
    let (mut files, mut loads) = case_files(&tx, planner, vec![case], now).await?;
    mend_store::rollback(tx).await?;
    let file = files.remove(&id).ok_or_else(|| SchedulerError::Config(format!("case {id} has no case file")))?;
    let mut load = loads.remove(&file.customer.customer_id).unwrap_or_default();
    planner.plan(&file, request, &mut load, &budget, now).map(Some)
}

/// What the callback team may still spend in the month of `now`.
pub async fn team_budget<C: ConnectionTrait>(
    conn: &C,
    settings: &SchedulerSettings,
    now: DateTime<Utc>,
) -> Result<Budget, SchedulerError> {
    let standing = budget_standing(conn, settings, now).await?;
    Ok(Budget { left: standing.left(), month: standing.month })
}

/// A team's month of compensation: its budget and what approvals drew on it.
#[derive(Debug, Clone, Serialize)]
pub struct BudgetStanding {
    pub team: String,
    /// `YYYY-MM` in the scheduler's zone.
    pub month: String,
    #[serde(rename = "budget_fen")]
    pub budget: Money,
    #[serde(rename = "committed_fen")]
    pub committed: Money,
}

impl BudgetStanding {
    /// What the month may still spend.
    pub fn left(&self) -> Money {
        self.budget - self.committed
    }
}

/// The callback team's month of `now`: the whole monthly budget, nothing drawn, while
/// `budget_rollover` has not opened the month yet.
pub async fn budget_standing<C: ConnectionTrait>(
    conn: &C,
    settings: &SchedulerSettings,
    now: DateTime<Utc>,
) -> Result<BudgetStanding, SchedulerError> {
    let month = settings.budget_month(now)?;
    let stored = budgets::team_budget(conn, &settings.team, &month).await?;
    let (budget, committed) =
        stored.map_or((settings.compensation.monthly_budget_fen, Money::ZERO), |b| (b.budget, b.committed));
    Ok(BudgetStanding { team: settings.team.clone(), month, budget, committed })
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashMap};

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_number_for_a_name_is_not_a_greeting() {
        let named = |name: Option<&str>| Customer {
            customer_id: CustomerId::new(),
            name: name.map(str::to_owned),
            email: None,
            tier: "standard".into(),
            temperament: None,
            temperament_set_by: None,
            timezone: chrono_tz::Asia::Shanghai,
            do_not_disturb: false,
        };
        assert_eq!(honorific(&named(Some("张先生"))), "张先生");
        assert_eq!(honorific(&named(Some("Kevin 2024"))), "Kevin 2024");
        for number in [Some("13700138009"), Some("会员 88012345"), Some("  "), None] {
            assert_eq!(honorific(&named(number)), "尊敬的客户", "{number:?}");
        }
    }

    proptest! {
        /// Chunks hold every case once, never split a customer, and stay near their size.
        #[test]
        fn chunks_never_split_a_customer(owners in proptest::collection::vec(0usize..40, 0..300), size in 1usize..50) {
            let customers: Vec<CustomerId> = (0..40).map(|_| CustomerId::new()).collect();
            let cases: Vec<(CaseId, CustomerId)> = owners.iter().map(|o| (CaseId::new(), customers[*o])).collect();
            let chunks = customer_chunks(&cases, size);
            let all: BTreeSet<CaseId> = chunks.iter().flatten().map(|(case, _)| *case).collect();
            prop_assert_eq!(all.len(), cases.len());
            let mut chunk_of: HashMap<CustomerId, usize> = HashMap::new();
            for (i, chunk) in chunks.iter().enumerate() {
                prop_assert!(!chunk.is_empty());
                for (_, customer) in chunk {
                    prop_assert_eq!(*chunk_of.entry(*customer).or_insert(i), i, "a customer in two chunks");
                }
                let most = chunk.iter().filter(|(_, c)| *c == chunk[chunk.len() - 1].1).count();
                prop_assert!(chunk.len() < size + most, "a chunk grows past its size only to keep a customer whole");
            }
        }
    }
}
