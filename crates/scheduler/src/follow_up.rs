//! What happens after a call: verification of a fix, retries of unreachable customers (then
//! closure and a notice by email), a second repair for cases that were formal complaints, SLA
//! escalations (and the supervisors' alerts), satisfaction surveys and monthly budgets; and the
//! checks do-not-disturb cancelled, made again once the customer may be called.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use mend_cases::Intake;
use mend_core::{
    Case, CaseId, CaseStatus, ContactResult, Customer, CustomerId, EmailKind, JobCounts, SurveyId, Task, TaskKind,
    TaskStatus,
};
use mend_notify::Mailroom;
use mend_store::{DatabaseTransaction, Store};
use mend_store::{budgets, callbacks, escalations, outbox, surveys, tasks};
use serde_json::{Value, json};

use crate::SchedulerError;
use crate::alerts;
use crate::generate::{Budget, CallRequest, CallbackPlanner, GenerationCounts, honorific, plan_calls, team_budget};

/// A call to plan after another: on which case, of which kind, from when.
struct FollowUpCall {
    case_id: CaseId,
    request: CallRequest,
}

/// Calls finished in `(after, until]` that no task follows yet. The jobs read from before their
/// last run's end (`generation_overlap_seconds`): a call finished by then but committed after
/// that run read is found by the next, and one the last run followed is not followed again.
async fn unfollowed_tasks_completed_between(
    store: &Store,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<Task>, SchedulerError> {
    let finished = tasks::tasks_completed_between(store.connection(), after, until).await?;
    let followed =
        tasks::followed_tasks(store.connection(), &finished.iter().map(|t| t.task_id).collect::<Vec<_>>()).await?;
    Ok(finished.into_iter().filter(|t| !followed.contains(&t.task_id)).collect())
}

/// Plans and writes follow-up calls in one transaction; returns how many were created.
async fn create_calls(
    store: &Store,
    planner: &CallbackPlanner,
    calls: Vec<FollowUpCall>,
    now: DateTime<Utc>,
) -> Result<u64, SchedulerError> {
    if calls.is_empty() {
        return Ok(0);
    }
    let budget = team_budget(store.connection(), &planner.settings, now).await?;
    let tx = store.begin_write().await?;
    let created = plan_in(&tx, planner, calls, &budget, now).await?;
    mend_store::commit(tx).await?;
    Ok(created)
}

/// Plans and writes follow-up calls in `tx`, under their customers' locks; how many were
/// created.
async fn plan_in(
    tx: &DatabaseTransaction,
    planner: &CallbackPlanner,
    calls: Vec<FollowUpCall>,
    budget: &Budget,
    now: DateTime<Utc>,
) -> Result<u64, SchedulerError> {
    let ids: Vec<CaseId> = calls.iter().map(|c| c.case_id).collect();
    let mut cases: HashMap<CaseId, Case> =
        mend_store::cases::cases_by_ids(tx, &ids).await?.into_iter().map(|c| (c.id, c)).collect();
    // A call about a case merged away since is made about the case its problem lives in now.
    for case in cases.values_mut() {
        if case.status == CaseStatus::Merged
            && let Some(lives_in) = mend_store::cases::surviving_case(tx, case.id).await?
        {
            *case = lives_in;
        }
    }
    let customers: Vec<_> = cases.values().map(|c| c.customer_id).collect();
    mend_store::customers::lock_customers(tx, &customers).await?;
    let requests =
        calls.into_iter().filter_map(|call| Some((cases.get(&call.case_id)?.clone(), call.request))).collect();
    let mut counts = GenerationCounts::default();
    plan_calls(tx, planner, requests, budget, now, &mut counts).await?;
    Ok(counts.tasks_created)
}

/// Verification calls after fixes, follow-ups agents asked for, second repairs of closed cases
/// that were formal complaints, and calls to customers who answered a survey unhappy.
pub(crate) async fn follow_ups(
    store: &Store,
    planner: &CallbackPlanner,
    intake: &Intake,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<JobCounts, SchedulerError> {
    let policy = &planner.settings.follow_up;
    let mut calls = Vec::new();
    for task in unfollowed_tasks_completed_between(store, after, until).await? {
        let Some(outcome) = &task.outcome else { continue };
        if outcome.outcome != ContactResult::Reached {
            continue;
        }
        let checked = task.kind.checks_a_fix();
        let hours = match (outcome.follow_up_hours, outcome.resolved && outcome.verify) {
            (Some(hours), _) => hours,
            (None, true) => policy.verify_after_hours,
            // A check that found the problem still there (the desk reopened the case): a repair
            // call, as soon as the customer may be called.
            (None, false) if checked && !outcome.resolved => 0,
            (None, false) => continue,
        };
        let completed = task.completed_at.unwrap_or(until);
        let kind = if outcome.resolved { TaskKind::Verification } else { TaskKind::Callback };
        // The desk reopened it as the call was recorded; this holds if that failed.
        let reason = "回访发现问题仍未解决 (the check found the problem still there)";
        if checked && !outcome.resolved && !reopen_for_a_call(store, intake, task.case_id, reason, until).await? {
            continue;
        }
        calls.push(FollowUpCall {
            case_id: task.case_id,
            request: CallRequest {
                kind,
                attempt: 1,
                follows: Some(task.task_id),
                earliest: completed + Duration::hours(hours),
                deadline: None,
            },
        });
    }
    let verifications = calls.len();
    let delay = Duration::hours(policy.second_repair_after_hours);
    let closed = callbacks::cases_closed_between(store.connection(), after - delay, until - delay).await?;
    let at_risk: Vec<CaseId> = closed.iter().filter(|c| c.escalation_risk).map(|c| c.id).collect();
    // Read again past the last run's end: a closing planned a second repair then already.
    let repaired: HashMap<CaseId, DateTime<Utc>> = tasks::tasks_of_cases(store.connection(), &at_risk)
        .await?
        .into_iter()
        .filter(|t| t.kind == TaskKind::SecondRepair)
        .map(|t| (t.case_id, t.created_at))
        .collect();
    for case in closed {
        let planned = repaired.get(&case.id).is_some_and(|at| case.closed_at.is_some_and(|closed| *at >= closed));
        if case.escalation_risk && !planned {
            let closed = case.closed_at.unwrap_or(until);
            calls.push(FollowUpCall {
                case_id: case.id,
                request: CallRequest {
                    kind: TaskKind::SecondRepair,
                    attempt: 1,
                    follows: None,
                    earliest: closed + delay,
                    deadline: None,
                },
            });
        }
    }
    let second_repairs = calls.len() - verifications;
    let unhappy = unhappy_answers(store, intake, policy.low_survey_rating, after, until).await?;
    let unhappy_answers = unhappy.len();
    calls.extend(unhappy);
    let created = create_calls(store, planner, calls, until).await?;
    Ok(JobCounts::default()
        .count("follow_ups_due", verifications)
        .count("second_repairs_due", second_repairs)
        .count("unhappy_survey_answers", unhappy_answers)
        .count("tasks_created", created))
}

/// Reopens a case whose repair did not satisfy, for the call about it; false when it was merged
/// into another case since (that case carries the problem on, and gets no call from this).
async fn reopen_for_a_call(
    store: &Store,
    intake: &Intake,
    case: CaseId,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<bool, SchedulerError> {
    match intake.reopen_case(store, case, reason, "scheduler", now).await {
        Ok(_) => Ok(true),
        Err(mend_cases::CasesError::Refused(_)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Survey answers given in `[after, until)` of `low` stars or fewer: the repair did not satisfy
/// the customer, so the case reopens (a repeat failure) for a call, as soon as they may be
/// called. An answer the last run acted on (a call planned since it was given) is left alone.
async fn unhappy_answers(
    store: &Store,
    intake: &Intake,
    low: u8,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<FollowUpCall>, SchedulerError> {
    if low == 0 {
        return Ok(Vec::new());
    }
    let answers: Vec<_> = surveys::answered_between(store.connection(), after, until)
        .await?
        .into_iter()
        .filter(|s| s.rating.is_some_and(|r| r.get() <= low))
        .collect();
    let cases: Vec<CaseId> = answers.iter().map(|s| s.case_id).collect();
    let planned: Vec<Task> = tasks::tasks_of_cases(store.connection(), &cases).await?;
    let mut calls = Vec::new();
    for answer in answers {
        let Some(answered_at) = answer.answered_at else { continue };
        if planned.iter().any(|t| t.case_id == answer.case_id && t.created_at >= answered_at) {
            continue;
        }
        let rating = answer.rating.map_or(0, |r| r.get());
        let reason = format!("满意度调查评 {rating} 星 (the survey was answered with {rating} stars)");
        if !reopen_for_a_call(store, intake, answer.case_id, &reason, until).await? {
            continue;
        }
        let request =
            CallRequest { kind: TaskKind::Callback, attempt: 1, follows: None, earliest: answered_at, deadline: None };
        calls.push(FollowUpCall { case_id: answer.case_id, request });
    }
    Ok(calls)
}

/// The checks after a fix that do-not-disturb cancelled, of these customers' closed cases, made
/// again once the customer may be called: the repair still wants checking (and the survey waits
/// for the check). How many were planned. (A check the planner never made, because the customer
/// had asked for no calls by then, is not made later.)
pub(crate) async fn resume_cancelled_checks(
    store: &Store,
    planner: &CallbackPlanner,
    customers: &[CustomerId],
    now: DateTime<Utc>,
) -> Result<u64, SchedulerError> {
    let budget = team_budget(store.connection(), &planner.settings, now).await?;
    let tx = store.begin_write().await?;
    // Read under the customers' locks: a case a complaint reopened meanwhile wants its callback,
    // not this check.
    mend_store::customers::lock_customers(&tx, customers).await?;
    let cancelled = tasks::checks_cancelled_until_calls_resumed(&tx, customers).await?;
    let calls = cancelled
        .into_iter()
        .map(|check| FollowUpCall {
            case_id: check.case_id,
            request: CallRequest {
                kind: check.kind,
                attempt: check.attempt,
                follows: Some(check.task_id),
                earliest: check.not_before.unwrap_or(check.due_at).max(now),
                deadline: None,
            },
        })
        .collect();
    let created = plan_in(&tx, planner, calls, &budget, now).await?;
    mend_store::commit(tx).await?;
    Ok(created)
}

/// Unreachable customers are called again after a backoff; after the last attempt, or at once
/// when the number was wrong, the case is closed as unreachable and the customer, if we know an
/// address, gets an email.
pub(crate) async fn retry_unreachable(
    store: &Store,
    planner: &CallbackPlanner,
    mailroom: &Mailroom,
    intake: &Arc<Intake>,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<JobCounts, SchedulerError> {
    let backoff = &planner.settings.follow_up.retry_backoff_minutes;
    let mut retries = Vec::new();
    let mut exhausted = Vec::new();
    for task in unfollowed_tasks_completed_between(store, after, until).await? {
        match task.outcome.as_ref().map(|o| o.outcome) {
            Some(ContactResult::Unreachable) => {}
            // No number to try again: the customer hears by email, and a complaint from them
            // (with a number that works) reopens the case.
            Some(ContactResult::WrongNumber) => {
                exhausted.push(task);
                continue;
            }
            _ => continue,
        }
        let completed = task.completed_at.unwrap_or(until);
        match usize::try_from(task.attempt - 1).ok().and_then(|i| backoff.get(i)) {
            Some(minutes) => retries.push(FollowUpCall {
                case_id: task.case_id,
                request: CallRequest {
                    // A check after a fix tried again is still that check (a closed case wants
                    // no callback or retry, and the survey waits for it).
                    kind: if task.kind.checks_a_fix() { task.kind } else { TaskKind::Retry },
                    attempt: task.attempt + 1,
                    follows: Some(task.task_id),
                    earliest: completed + Duration::minutes(*minutes),
                    deadline: None,
                },
            }),
            None => exhausted.push(task),
        }
    }
    let created = create_calls(store, planner, retries, until).await?;
    let (mut closed, mut emailed, mut do_not_disturb) = (0, 0, 0);
    for task in exhausted {
        // A case merged away since: its problem, and the call's end, are the case it went into's.
        let Some(case) = mend_store::cases::surviving_case(store.connection(), task.case_id).await? else { continue };
        // A call read again (the overlap past the last run) may be older than what the customer
        // said since: a case they reopened after it stays open, with its new call.
        let completed = task.completed_at.unwrap_or(until);
        let came_back = case.last_complaint_at > completed || case.reopened_at.is_some_and(|at| at > completed);
        // The case a merge led to may have a call of its own to make: that call goes on.
        let other_call = case.id != task.case_id
            && tasks::tasks_of_cases(store.connection(), &[case.id])
                .await?
                .iter()
                .any(|t| TaskStatus::IN_WORK.contains(&t.status));
        if other_call {
            continue;
        }
        let closing = case.status == CaseStatus::Open && !came_back;
        if closing {
            let reason = task.outcome.as_ref().map_or("unreachable", |o| o.outcome.as_str());
            intake.close_case(store, case.id, reason, "scheduler", until).await?;
            closed += 1;
        }
        let customer = callbacks::customers_by_ids(store.connection(), &[case.customer_id]).await?.pop();
        // A customer who asked not to be contacted (while an agent held the call that found
        // the number wrong) is not written to either; a complaint from them reopens the case.
        if customer.as_ref().is_some_and(|c| c.do_not_disturb) {
            // Counted by the run that closes the case, not again by one that reads the call again.
            do_not_disturb += u64::from(closing);
            continue;
        }
        if let Some(customer) = customer {
            let wrong_number = task.outcome.as_ref().is_some_and(|o| o.outcome == ContactResult::WrongNumber);
            let context = json!({"honorific": honorific(&customer), "attempts": task.attempt, "case_id": case.id,
                                 "wrong_number": wrong_number});
            emailed += u64::from(
                email_customer(
                    store,
                    mailroom,
                    EmailKind::Unreachable,
                    About { case: case.id, survey: None },
                    &customer,
                    &context,
                    until,
                )
                .await?,
            );
        }
    }
    Ok(JobCounts::default()
        .count("tasks_created", created)
        .count("cases_closed", closed)
        .count("emails_queued", emailed)
        .count("do_not_disturb", do_not_disturb))
}

/// Escalates tasks past their SLA and alerts the supervisors of them, and of the cases at risk
/// of a formal complaint that reopened in `(after, until]`.
pub(crate) async fn sla_escalation(
    store: &Store,
    planner: &CallbackPlanner,
    mailroom: &Mailroom,
    after: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<JobCounts, SchedulerError> {
    let policy = &planner.settings.follow_up;
    let abandoned = tasks::cancel_lapsed_calls_of_finished_cases(store.connection(), now).await?;
    let mut escalated = Vec::new();
    for mut task in tasks::overdue_tasks(store.connection(), now - Duration::minutes(policy.sla_grace_minutes)).await? {
        let raised = task.priority.saturating_add(policy.sla_priority_bump);
        if escalations::escalate_task(store.connection(), &task, raised, now).await? {
            tracing::info!(task_id = %task.task_id, case_id = %task.case_id, due_at = %task.due_at, "task escalated");
            task.priority = raised;
            escalated.push(task);
        }
    }
    let alerted = alerts::sla_alert(store, planner, mailroom, &escalated, now).await?;
    let reopened = callbacks::cases_reopened_between(store.connection(), after, now).await?;
    let reopen_alerts = alerts::reopen_alerts(store, planner, mailroom, &reopened, now).await?;
    Ok(JobCounts::default()
        .count("escalated", escalated.len())
        .count("alerts_queued", alerted + reopen_alerts)
        .count("lapsed_calls_cancelled", abandoned))
}

/// A satisfaction survey by email once a repaired case has been closed for a while, or, when a
/// verification call was planned, once that call confirms the fix (a survey before it would
/// thank the customer for a repair the call may find did not hold).
pub(crate) async fn surveys(
    store: &Store,
    planner: &CallbackPlanner,
    mailroom: &Mailroom,
    (after, reread_after): (DateTime<Utc>, DateTime<Utc>),
    until: DateTime<Utc>,
) -> Result<JobCounts, SchedulerError> {
    let policy = &planner.settings.follow_up;
    let delay = Duration::hours(policy.survey_after_hours);
    let mut closed = callbacks::cases_closed_between(store.connection(), after - delay, until - delay).await?;
    // A fix with a verification call to come is asked about once the call confirms it.
    let verified: Vec<CaseId> = tasks::tasks_completed_between(store.connection(), reread_after, until)
        .await?
        .into_iter()
        .filter(|t| t.kind == TaskKind::Verification)
        .filter(|t| t.outcome.as_ref().is_some_and(|o| o.outcome == ContactResult::Reached && o.resolved))
        .map(|t| t.case_id)
        .collect();
    for case in mend_store::cases::cases_by_ids(store.connection(), &verified).await? {
        if case.status == CaseStatus::Closed && closed.iter().all(|c| c.id != case.id) {
            closed.push(case);
        }
    }
    // Of one customer's cases closed together, the first closed is asked about, on any rerun.
    closed.sort_by_key(|c| (c.closed_at, c.id));
    let ids: Vec<CaseId> = closed.iter().map(|c| c.id).collect();
    let mut last_task: HashMap<CaseId, Task> = HashMap::new();
    for task in tasks::tasks_of_cases(store.connection(), &ids).await? {
        last_task.insert(task.case_id, task);
    }
    let checking = |case: &Case| {
        last_task
            .get(&case.id)
            .is_some_and(|t| t.kind == TaskKind::Verification && TaskStatus::IN_WORK.contains(&t.status))
    };
    let waiting_for_check = closed.iter().filter(|case| checking(case)).count();
    closed.retain(|case| !checking(case));
    let customers =
        callbacks::customers_by_ids(store.connection(), &closed.iter().map(|c| c.customer_id).collect::<Vec<_>>())
            .await?;
    let customers: HashMap<_, _> = customers.into_iter().map(|c| (c.customer_id, c)).collect();
    let mut asked =
        AskedLately::read(store, customers.keys().copied().collect(), until, policy.survey_quiet_days).await?;
    let (mut queued, mut recently_asked, mut do_not_disturb) = (0, 0, 0);
    for case in &closed {
        // A customer we never reached gets the unreachable notice, not a survey about a repair.
        if last_task.get(&case.id).and_then(|t| t.outcome.as_ref()).is_some_and(|o| o.outcome != ContactResult::Reached)
        {
            continue;
        }
        let Some(customer) = customers.get(&case.customer_id) else { continue };
        if customer.email.is_none() {
            continue;
        }
        // A customer who asked not to be contacted is not asked for a rating either.
        if customer.do_not_disturb {
            do_not_disturb += 1;
            continue;
        }
        let Some(closed_at) = case.closed_at else { continue };
        if asked.about_another_closing(case, closed_at) {
            recently_asked += 1;
            continue;
        }
        asked.note(case, closed_at);
        let survey = mailroom.survey_links.issue(store, case.id, closed_at, until).await?;
        let context = json!({
            "honorific": honorific(customer), "case_id": case.id, "category": case.category,
            "category_name": planner.category_name(&case.category), "survey_url": survey.url,
            "valid_days": mailroom.survey_links.valid_days(),
        });
        let about = About { case: case.id, survey: Some(survey.survey_id) };
        queued +=
            u64::from(email_customer(store, mailroom, EmailKind::Survey, about, customer, &context, until).await?);
    }
    Ok(JobCounts::default()
        .count("cases_closed", closed.len())
        .count("surveys_queued", queued)
        .count("recently_asked", recently_asked)
        .count("do_not_disturb", do_not_disturb)
        .count("waiting_for_check", waiting_for_check))
}

/// The closings each customer was asked about in the quiet period before a survey run: a
/// customer asked about one closing is not asked about another so soon, and a rerun still finds
/// the closing it asked about its own.
struct AskedLately {
    closings: HashMap<CustomerId, Vec<(CaseId, DateTime<Utc>)>>,
    quiet: bool,
}

impl AskedLately {
    async fn read(
        store: &Store,
        customers: Vec<CustomerId>,
        until: DateTime<Utc>,
        quiet_days: i64,
    ) -> Result<Self, SchedulerError> {
        let mut closings: HashMap<CustomerId, Vec<(CaseId, DateTime<Utc>)>> = HashMap::new();
        if quiet_days > 0 {
            let since = until - Duration::days(quiet_days);
            for (customer, case, closed_at) in
                surveys::surveys_of_customers_since(store.connection(), &customers, since).await?
            {
                // A survey made before surveys knew their closing stands for some closing.
                closings.entry(customer).or_default().push((case, closed_at.unwrap_or(DateTime::<Utc>::MIN_UTC)));
            }
        }
        Ok(Self { closings, quiet: quiet_days > 0 })
    }

    fn about_another_closing(&self, case: &Case, closed_at: DateTime<Utc>) -> bool {
        self.closings.get(&case.customer_id).is_some_and(|asked| asked.iter().any(|a| *a != (case.id, closed_at)))
    }

    fn note(&mut self, case: &Case, closed_at: DateTime<Utc>) {
        if self.quiet {
            self.closings.entry(case.customer_id).or_default().push((case.id, closed_at));
        }
    }
}

/// What an email to a customer is about: a case, and for a survey the survey it links to.
#[derive(Debug, Clone, Copy)]
struct About {
    case: CaseId,
    survey: Option<SurveyId>,
}

/// Queues the email of `kind` about a case (or one of its surveys) to its customer, once per
/// kind and case or survey; false when the customer has no address or it was queued before.
async fn email_customer(
    store: &Store,
    mailroom: &Mailroom,
    kind: EmailKind,
    about: About,
    customer: &Customer,
    context: &Value,
    now: DateTime<Utc>,
) -> Result<bool, SchedulerError> {
    let Some(to_address) = customer.email.clone() else { return Ok(false) };
    let key = match about.survey {
        Some(survey) => format!("{kind}:{survey}"),
        None => format!("{kind}:{}", about.case),
    };
    let mut email = mailroom.templates.compose(kind, context)?.addressed_to(&to_address, kind, key, Some(about.case));
    email.survey_id = about.survey;
    Ok(outbox::queue_email(store.connection(), email, now).await?)
}

/// Opens the callback team's budget for the month of `now`.
pub(crate) async fn budget_rollover(
    store: &Store,
    planner: &CallbackPlanner,
    now: DateTime<Utc>,
) -> Result<JobCounts, SchedulerError> {
    let (team, month) = (&planner.settings.team, planner.settings.budget_month(now)?);
    let configured = planner.settings.compensation.monthly_budget_fen;
    let opened = budgets::open_team_budget(store.connection(), team, &month, configured).await?;
    // A month opened earlier keeps the budget it opened with (a change of configuration counts
    // from the next month): say that one, not the configured one.
    let budget = match opened {
        true => configured,
        false => budgets::team_budget(store.connection(), team, &month).await?.map_or(configured, |b| b.budget),
    };
    Ok(JobCounts::default().fact("month", month).count("budget_fen", budget.fen()).flag("opened", opened))
}
