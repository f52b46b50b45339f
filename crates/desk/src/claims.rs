//! Claims served in rounds (see `rounds`): one transaction looks at the most urgent tasks,
//! checks their customers' contact hours and live calls for all of them at once, and hands each
//! waiting agent a task. Candidates are locked with `FOR UPDATE SKIP LOCKED` on PostgreSQL and
//! SQLite runs one write transaction at a time, so no two rounds, also of two `mend serve`
//! instances, hand out one task twice.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use mend_core::{CustomerId, IdentityKind, Task, TaskId};
use mend_scheduler::{CallLoad, ContactPolicy};
use mend_store::tasks::{self, ClaimCandidate, Take};
use mend_store::{Store, audit, callbacks, customers};
use tracing::debug;

use crate::DeskError;
use crate::queue::{Agent, Claim, HeldTask, earliest, entry};
use crate::rounds::Rounds;

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
}

impl Rounds for ClaimRounds {
    /// Who claims, and when they asked.
    type Ask = (Agent, DateTime<Utc>);
    type Answer = Claim;

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
        let mut passed: Vec<TaskId> = Vec::new();
        let mut next_at: Option<DateTime<Utc>> = None;
        // What each of `asking` was given, in their order.
        let mut given: Vec<Option<Task>> = vec![None; asking.len()];
        let mut called: HashSet<CustomerId> = HashSet::new();
        for _ in 0..PASSES {
            let unserved: Vec<usize> = (0..asking.len()).filter(|&i| given[i].is_none()).collect();
            let limit = (unserved.len() + SPARE_CANDIDATES) as u64;
            let candidates = tasks::claim_candidates(&tx, now, &passed, limit).await?;
            let found = candidates.len() as u64;
            let mut callable = Vec::with_capacity(candidates.len());
            for (candidate, at) in self.callable_from(&tx, candidates, now).await? {
                match at {
                    Some(at) if at <= now => callable.push(candidate),
                    later => {
                        next_at = earliest(next_at, later);
                        passed.push(candidate.task_id);
                    }
                }
            }
            // One call to a customer at a time: their row locks order rounds that look at their
            // tasks (PostgreSQL), and a round sees the claims of those before it.
            let customers: Vec<CustomerId> = callable.iter().map(|c| c.customer_id).collect();
            customers::lock_customers(&tx, &customers).await?;
            let looked_at: Vec<TaskId> = callable.iter().map(|c| c.task_id).collect();
            let on_a_call = tasks::customers_on_a_call(&tx, &customers, &looked_at, now).await?;
            // The most urgent callable task to the first agent still waiting, and so on.
            let mut picks: Vec<(usize, ClaimCandidate)> = Vec::with_capacity(unserved.len());
            for candidate in callable {
                if picks.len() == unserved.len() {
                    break;
                }
                if on_a_call.contains(&candidate.customer_id) || !called.insert(candidate.customer_id) {
                    passed.push(candidate.task_id);
                    continue;
                }
                picks.push((unserved[picks.len()], candidate));
            }
            let takes: Vec<Take> = picks
                .iter()
                .map(|(i, c)| Take { task: c.task_id, agent: asking[*i].0.id, at: now, lease_until: now + self.lease })
                .collect();
            let mut taken: HashMap<TaskId, Task> =
                tasks::take_tasks(&tx, &takes).await?.into_iter().map(|t| (t.task_id, t)).collect();
            for (i, candidate) in picks {
                let Some(mut task) = taken.remove(&candidate.task_id) else {
                    passed.push(candidate.task_id);
                    continue;
                };
                debug!(task_id = %task.task_id, agent = %asking[i].0.actor, "task claimed");
                // The customer the case belongs to now (a merge may have moved it).
                task.customer_id = Some(candidate.customer_id);
                given[i] = Some(task);
            }
            if given.iter().all(Option::is_some) || found < limit {
                break;
            }
        }
        let claimed: Vec<_> = given
            .iter()
            .zip(asking)
            .filter_map(|(task, (agent, _))| {
                let task = task.as_ref()?;
                Some(entry(agent, "task.claim", ("task", task.task_id.as_uuid()), now, "open", "claimed"))
            })
            .collect();
        if claimed.is_empty() {
            mend_store::rollback(tx).await?;
        } else {
            audit::record_audits(&tx, &claimed).await?;
            mend_store::commit(tx).await?;
        }
        let next_at = if given.iter().any(Option::is_none) {
            earliest(next_at, tasks::next_task_not_before(self.store.connection(), now).await?)
        } else {
            next_at
        };
        Ok(self
            .held_tasks(given)
            .await?
            .into_iter()
            .map(|held| held.map_or(Claim::NothingCallable { next_at }, Claim::Task))
            .collect())
    }

    /// When each candidate's customer may be called, from `now` on: their contact hours, and
    /// the day's and week's caps counted over the calls made to them this week. `None`: not by
    /// phone at all.
    async fn callable_from(
        &self,
        tx: &mend_store::DatabaseTransaction,
        candidates: Vec<ClaimCandidate>,
        now: DateTime<Utc>,
    ) -> Result<Vec<(ClaimCandidate, Option<DateTime<Utc>>)>, DeskError> {
        let customers: Vec<CustomerId> =
            candidates.iter().filter(|c| !c.do_not_disturb).map(|c| c.customer_id).collect();
        let mut calls: HashMap<CustomerId, Vec<DateTime<Utc>>> = HashMap::new();
        for (customer, at) in tasks::calls_made_since(tx, &customers, now - Duration::days(7)).await? {
            calls.entry(customer).or_default().push(at);
        }
        Ok(candidates
            .into_iter()
            .map(|candidate| {
                if candidate.do_not_disturb {
                    return (candidate, None);
                }
                let mut load = CallLoad::default();
                for at in calls.get(&candidate.customer_id).into_iter().flatten() {
                    load.add_call(*at, candidate.timezone);
                }
                let at = self.contact.place(now, candidate.timezone, &load).map(|p| p.at);
                (candidate, at)
            })
            .collect())
    }

    /// The tasks as their holders see them, in the claimants' order: with their customers,
    /// numbers in full.
    async fn held_tasks(&self, given: Vec<Option<Task>>) -> Result<Vec<Option<Box<HeldTask>>>, DeskError> {
        let ids: Vec<CustomerId> = given.iter().flatten().filter_map(|t| t.customer_id).collect();
        if ids.is_empty() {
            return Ok(given.into_iter().map(|_| None).collect());
        }
        let conn = self.store.connection();
        let (found, mut identities) =
            tokio::try_join!(callbacks::customers_by_ids(conn, &ids), customers::identities_of_customers(conn, &ids))?;
        let mut found: HashMap<CustomerId, mend_core::Customer> =
            found.into_iter().map(|c| (c.customer_id, c)).collect();
        given
            .into_iter()
            .map(|task| {
                let Some(task) = task else { return Ok(None) };
                let id = task
                    .customer_id
                    .ok_or_else(|| DeskError::NotFound(format!("the customer of task {}", task.task_id)))?;
                // A round gives each customer to one agent at most, so each is taken once.
                let customer = found.remove(&id).ok_or_else(|| DeskError::NotFound(format!("customer {id}")))?;
                let identities = identities.remove(&id).unwrap_or_default();
                let phones = identities
                    .iter()
                    .filter(|i| i.kind == IdentityKind::Phone.as_str())
                    .map(|i| i.value.clone())
                    .collect();
                Ok(Some(Box::new(HeldTask { task, customer, phones, identities })))
            })
            .collect()
    }
}
