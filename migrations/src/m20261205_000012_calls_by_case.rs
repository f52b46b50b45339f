//! A claim counts the calls made to each candidate's customer this week: the tasks done on
//! their cases. An index of done tasks by case answers that from the case alone. The queue's
//! status index keeps only the tasks still in work: done and cancelled tasks are nearly the
//! whole table after a while, so it never helped to find them, and while the planner's counts
//! were from the morning (few done yet) it led every such lookup through all the day's calls.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::execute_all(
            manager,
            [
                "CREATE INDEX ix_tasks_done_by_case ON tasks (case_id, completed_at) WHERE status = 'done'",
                "DROP INDEX ix_tasks_queue",
                "CREATE INDEX ix_tasks_queue ON tasks (status, due_at) WHERE status IN ('open', 'claimed')",
            ],
        )
        .await
    }
}
