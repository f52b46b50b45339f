//! Completions served in rounds (see [`mend_store::rounds`]): one transaction records the
//! outcomes of every call finished at that moment, with their audit entries, and learns how
//! their cases stand.
//! Each task is still updated only if its agent holds it, so a round refuses exactly what a
//! lone completion would. What a case does next (closing it) happens outside the round, for
//! each completion on its own.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use mend_core::{TaskId, TaskOutcome};
use mend_store::rounds::Rounds;
use mend_store::tasks::CompletedTask;
use mend_store::{Store, audit, tasks};

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
        let tx = self.store.begin_write().await?;
        // A task finished twice in one round (a retry) is done by the first, as one after the
        // other would be.
        let mut seen = HashSet::new();
        let finished: Vec<_> =
            asks.iter().filter(|a| seen.insert(a.task)).map(|a| (a.task, a.agent.id, &a.outcome, a.now)).collect();
        let mut completed: HashMap<TaskId, CompletedTask> =
            tasks::complete_held_tasks(&tx, &finished).await?.into_iter().map(|t| (t.task.task_id, t)).collect();
        let done: Vec<Completed> = asks.iter().map(|a| completed.remove(&a.task)).collect();
        let entries: Vec<_> = asks
            .iter()
            .zip(&done)
            .filter(|(_, task)| task.is_some())
            .map(|(ask, _)| {
                let mut completed =
                    entry(&ask.agent, "task.complete", ("task", ask.task.as_uuid()), ask.now, "claimed", "done");
                completed.detail["outcome"] = serde_json::to_value(&ask.outcome).unwrap_or_default();
                completed
            })
            .collect();
        if entries.is_empty() {
            mend_store::rollback(tx).await?;
        } else {
            audit::record_audits(&tx, &entries).await?;
            mend_store::commit(tx).await?;
        }
        Ok(done)
    }
}
