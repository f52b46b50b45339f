//! The desk hands out the most urgent task first: an index in that order over the tasks still in
//! work, so a claim reads a few index entries instead of sorting the queue.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX ix_tasks_claim_order ON tasks (priority DESC, due_at, id) \
                 WHERE status IN ('open', 'claimed')",
            )
            .await?;
        Ok(())
    }
}
