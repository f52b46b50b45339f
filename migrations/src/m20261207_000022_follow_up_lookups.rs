//! What the follow-up job reads every few minutes, indexed: tasks by the task they follow (the
//! job reads again the calls finished just before its last run, and a call that has its
//! follow-up is not followed twice) and surveys by when they were answered (an unhappy answer
//! is called back).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::execute_all(
            manager,
            [
                "CREATE INDEX ix_tasks_follows ON tasks (follows_task_id) WHERE follows_task_id IS NOT NULL",
                "CREATE INDEX ix_surveys_answered ON surveys (answered_at) WHERE answered_at IS NOT NULL",
            ],
        )
        .await
    }
}
