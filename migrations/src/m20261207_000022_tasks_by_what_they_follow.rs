//! Tasks by the task they follow: the follow-up jobs read again the calls finished just before
//! their last run (one committed after that run read), and a call that has its follow-up
//! already is not followed twice.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::execute_all(
            manager,
            ["CREATE INDEX ix_tasks_follows ON tasks (follows_task_id) WHERE follows_task_id IS NOT NULL"],
        )
        .await
    }
}
