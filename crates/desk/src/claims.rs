//! Claims served in rounds (see [`mend_store::rounds`]): one transaction looks at the most
//! urgent tasks, checks their customers' contact hours and live calls for all of them at once,
//! and hands each waiting agent a task. Candidates and their customers are locked with `FOR
//! UPDATE SKIP LOCKED` on PostgreSQL and SQLite runs one write transaction at a time, so no two
//! rounds, also of two `mend serve` instances, hand out one task twice or call one customer on
//! two lines. The asking agents are locked first (in id order: the one wait a round may have,
//! on a round of another instance asking for one of them), so that what each holds is counted
//! before more is given (`desk.max_held_tasks`).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use mend_core::{Customer, CustomerId, IdentityKind, Task, TaskId, UserId};
use mend_scheduler::{CallLoad, ContactPolicy};
use mend_store::rounds::Rounds;
use mend_store::tasks::{self, ClaimCandidate, CustomerCalls, Take};
use mend_store::{Store, users};
use tracing::debug;

use crate::DeskError;
use crate::queue::{Agent, Claim, HeldTask, earliest, entry};

/// Tasks looked at per pass beyond one for each waiting agent: the next ones stand in when
/// their customers may not be called now.
const SPARE_CANDIDATES: usize = 8;

/// Passes over the queue before a round answers that nothing (more) is callable.
const PASSES: usize = 8;

/// What a round of claims needs: the store, when customers may be called, and how long a claim
/// holds.
pub(crate) struct ClaimRounds {
    pub(crate) store: Store,
    pub(crate) contact: ContactPolicy,
    pub(crate) lease: Duration,
    /// Tasks one agent may hold at once.
    pub(crate) max_held: usize,
}

impl Rounds for ClaimRounds {
    /// Who claims, and when they asked.
    type Ask = (Agent, DateTime<Utc>);
    type Answer = Claim;
    type Error = DeskError;

    async fn serve(&self, asks: &[(Agent, DateTime<Utc>)]) -> Result<Vec<Claim>, DeskError> {
        self.claim(asks).await
    }
}

impl ClaimRounds {
    /// A claim for each of `asking`, in their order (the first gets the most urgent task). The
    /// round stands at the latest of their moments: each had asked by then.
    async fn claim(&self, asking: &[(Agent, DateTime<Utc>)]) -> Result<Vec<Claim>, DeskError> {
        let Some(now) = asking.iter().map(|(_, now)| *now).max() else { return Ok(Vec::new()) };
        let tx = self.store.begin_write().await?;
        let at_most = self.at_most_held(&tx, asking, now).await?;
        if at_most.iter().all(Option::is_some) {
            // Nobody may be given one: no task is locked away from the other instances' rounds.
            mend_store::rollback(tx).await?;
            return Ok(at_most.into_iter().flatten().map(|held| Claim::HoldingTheMost { held }).collect());
        }
        let mut passed: Vec<TaskId> = Vec::new();
        let mut next_at: Option<DateTime<Utc>> = None;
        // What each of `asking` was given, in their order.
        let mut given: Vec<Option<(Task, ClaimCandidate)>> = vec![None; asking.len()];
        let mut called: HashSet<CustomerId> = HashSet::new();
        for _ in 0..PASSES {
            let unserved = waiting(&given, &at_most);
            let limit = (unserved.len() + SPARE_CANDIDATES) as u64;
            let candidates = tasks::claim_candidates(&tx, now, &passed, limit).await?;
            let found = candidates.len() as u64;
            // One call to a customer at a time: the candidates' customers are locked now
            // (PostgreSQL), so this sees the claims of every round before that held them.
            let customers: Vec<CustomerId> = candidates.iter().map(|c| c.customer.customer_id).collect();
            let calls = tasks::calls_of_customers(&tx, &customers, now - Duration::days(7), now).await?;
            let mut callable = Vec::with_capacity(candidates.len());
            for candidate in candidates {
                match self.callable_from(&candidate.customer, &calls, now) {
                    Some(at) if at <= now => callable.push(candidate),
                    later => {
                        next_at = earliest(next_at, later);
                        passed.push(candidate.task_id);
                    }
                }
            }
            // The most urgent callable task to the first agent still waiting, and so on.
            let mut picks: Vec<(usize, ClaimCandidate)> = Vec::with_capacity(unserved.len());
            for candidate in callable {
                if picks.len() == unserved.len() {
                    break;
                }
                let customer = candidate.customer.customer_id;
                if calls.on_a_call.contains(&customer) || !called.insert(customer) {
                    passed.push(candidate.task_id);
                    continue;
                }
                picks.push((unserved[picks.len()], candidate));
            }
            let takes: Vec<Take> = picks
                .iter()
                .map(|(i, c)| Take { task: c.task_id, agent: asking[*i].0.id, at: now, lease_until: now + self.lease })
                .collect();
            let audits: Vec<_> = picks
                .iter()
                .map(|(i, c)| {
                    let before = c.status.as_str();
                    entry(&asking[*i].0, "task.claim", ("task", c.task_id.as_uuid()), now, before, "claimed")
                })
                .collect();
            let mut taken: HashMap<TaskId, Task> =
                tasks::take_tasks(&tx, &takes, &audits).await?.into_iter().map(|t| (t.task_id, t)).collect();
            for (i, candidate) in picks {
                let Some(mut task) = taken.remove(&candidate.task_id) else {
                    passed.push(candidate.task_id);
                    continue;
                };
                debug!(task_id = %task.task_id, agent = %asking[i].0.actor, "task claimed");
                // The customer the case belongs to now (a merge may have moved it).
                task.customer_id = Some(candidate.customer.customer_id);
                given[i] = Some((task, candidate));
            }
            if waiting(&given, &at_most).is_empty() || found < limit {
                break;
            }
        }
        if given.iter().all(Option::is_none) {
            mend_store::rollback(tx).await?;
        } else {
            mend_store::commit(tx).await?;
        }
        let next_at = if !waiting(&given, &at_most).is_empty() {
            earliest(next_at, tasks::next_task_not_before(self.store.connection(), now).await?)
        } else {
            next_at
        };
        Ok(Self::held_tasks(given)
            .into_iter()
            .zip(at_most)
            .map(|(task, at_most)| match (task, at_most) {
                (Some(task), _) => Claim::Task(task),
                (None, Some(held)) => Claim::HoldingTheMost { held },
                (None, None) => Claim::NothingCallable { next_at },
            })
            .collect())
    }

    /// For each of `asking`, in their order, how many tasks they hold if that is the most one
    /// may, counting those the asks before theirs in this round would be given (an agent who
    /// clicked twice); `None` for those who may be given one more. The agents stay locked until
    /// the round ends, so that a round of another instance counts what this one gives them.
    async fn at_most_held(
        &self,
        tx: &mend_store::DatabaseTransaction,
        asking: &[(Agent, DateTime<Utc>)],
        now: DateTime<Utc>,
    ) -> Result<Vec<Option<usize>>, DeskError> {
        let mut agents: Vec<UserId> = asking.iter().map(|(agent, _)| agent.id).collect();
        agents.sort();
        agents.dedup();
        users::lock_users(tx, &agents).await?;
        let mut held = tasks::held_counts(tx, &agents, now).await?;
        Ok(asking
            .iter()
            .map(|(agent, _)| {
                let holds = held.entry(agent.id).or_default();
                if *holds >= self.max_held {
                    Some(*holds)
                } else {
                    *holds += 1;
                    None
                }
            })
            .collect())
    }

    /// When `customer` may be called, from `now` on: their contact hours, and the day's and
    /// week's caps counted over the calls made to them this week. `None`: not by phone at all.
    fn callable_from(&self, customer: &Customer, calls: &CustomerCalls, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if customer.do_not_disturb {
            return None;
        }
        let mut load = CallLoad::default();
        for at in calls.made.get(&customer.customer_id).into_iter().flatten() {
            load.add_call(*at, customer.timezone);
        }
        self.contact.place(now, customer.timezone, &load).map(|p| p.at)
    }

    /// The tasks as their holders see them, in the claimants' order: with their customers and
    /// their keys, numbers in full.
    fn held_tasks(given: Vec<Option<(Task, ClaimCandidate)>>) -> Vec<Option<Box<HeldTask>>> {
        given
            .into_iter()
            .map(|given| {
                let (task, ClaimCandidate { customer, identities, .. }) = given?;
                let phones = identities
                    .iter()
                    .filter(|i| i.kind == IdentityKind::Phone.as_str())
                    .map(|i| i.value.clone())
                    .collect();
                Some(Box::new(HeldTask { task, customer, phones, identities }))
            })
            .collect()
    }
}

/// The asks of a round still waiting for a task: given none yet, and allowed one more.
fn waiting(given: &[Option<(Task, ClaimCandidate)>], at_most: &[Option<usize>]) -> Vec<usize> {
    (0..given.len()).filter(|&i| given[i].is_none() && at_most[i].is_none()).collect()
}
