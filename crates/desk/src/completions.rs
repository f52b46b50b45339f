//! Completions served in rounds (see [`mend_store::rounds`]): one statement (a transaction on
//! SQLite) records the outcomes of every call finished at that moment, with their audit
//! entries, and learns how their cases stand.
//! Each task is still updated only if its agent holds it, so a round refuses exactly what a
//! lone completion would. What a case does next (closing it) happens outside the round, for
//! each completion on its own.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use mend_core::{TaskId, TaskOutcome};
use mend_store::rounds::Rounds;
use mend_store::tasks::CompletedTask;
use mend_store::{Store, tasks};
use tracing::debug;

use crate::DeskError;
use crate::queue::{Agent, entry};

/// A call finished: which task, who made it, how it went, and when they said so.
pub(crate) struct Finished {
    pub(crate) task: TaskId,
    pub(crate) agent: Agent,
    pub(crate) outcome: TaskOutcome,
    pub(crate) now: DateTime<Utc>,
}

/// The task as completed and its case as it stands now (a merge may have moved it); `None` when
/// the agent did not hold the task (the caller asks why, outside the round).
pub(crate) type Completed = Option<CompletedTask>;

pub(crate) struct CompletionRounds {
    pub(crate) store: Store,
}

impl Rounds for CompletionRounds {
    type Ask = Finished;
    type Answer = Completed;
    type Error = DeskError;

    async fn serve(&self, asks: &[Finished]) -> Result<Vec<Completed>, DeskError> {
        let mut done: Vec<Completed> = vec![None; asks.len()];
        // Two asks for one task (a retry, or its former holder and its holder at once) are
        // served one after the other, as two rounds would: the update cannot tell for which of
        // them it completed the task.
        let mut waiting: Vec<usize> = (0..asks.len()).collect();
        while !waiting.is_empty() {
            let mut seen = HashSet::new();
            let (now, later): (Vec<usize>, Vec<usize>) = waiting.into_iter().partition(|&i| seen.insert(asks[i].task));
            let round: Vec<&Finished> = now.iter().map(|&i| &asks[i]).collect();
            let mut completed: HashMap<TaskId, CompletedTask> =
                self.complete(&round).await?.into_iter().map(|t| (t.task.task_id, t)).collect();
            for i in now {
                done[i] = completed.remove(&asks[i].task);
                if done[i].is_some() {
                    debug!(task_id = %asks[i].task, agent = %asks[i].agent.actor, "task completed");
                }
            }
            waiting = later;
        }
        Ok(done)
    }
}

impl CompletionRounds {
    /// Completes `asks` (one per task) with their audit entries; the tasks completed.
    async fn complete(&self, asks: &[&Finished]) -> Result<Vec<CompletedTask>, DeskError> {
        let finished: Vec<_> = asks.iter().map(|a| (a.task, a.agent.id, &a.outcome, a.now)).collect();
        let audits: Vec<_> = asks
            .iter()
            .map(|a| {
                let mut completed =
                    entry(&a.agent, "task.complete", ("task", a.task.as_uuid()), a.now, "claimed", "done");
                completed.detail["outcome"] = serde_json::to_value(&a.outcome).unwrap_or_default();
                completed
            })
            .collect();
        Ok(tasks::complete_held_tasks(&self.store, &finished, &audits).await?)
    }
}
