//! A claim walks the claim order's index and passes over every task whose earliest moment has
//! not come (those waiting for tomorrow sit among the most urgent): with that moment in the
//! index, each is passed over on its index entry alone, without reading the task's row and its
//! case.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::execute_all(
            manager,
            [
                "DROP INDEX ix_tasks_claim_order",
                "CREATE INDEX ix_tasks_claim_order \
                 ON tasks (priority DESC, due_at, id, COALESCE(not_before, due_at)) \
                 WHERE status IN ('open', 'claimed')",
            ],
        )
        .await
    }
}
