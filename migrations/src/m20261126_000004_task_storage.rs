//! Cheaper task rows. A task carries its rendered script and the reasons for its priority and
//! limit (2–3 KB); PostgreSQL would compress rows over 2 KB and move them out of line, which
//! costs more to write than it saves at this size, so rows stay whole up to a page. The index
//! on (customer_id, not_before) goes: a customer's calls are found through the cases they own
//! now, so it only cost every insert. The index of completion times leaves out the tasks not
//! completed yet, which every new task is.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let conn = manager.get_connection();
        if manager.get_database_backend() == sea_orm::DbBackend::Postgres {
            conn.execute_unprepared("ALTER TABLE tasks SET (toast_tuple_target = 8160)").await?;
        }
        let statements = [
            "DROP INDEX ix_tasks_customer",
            "DROP INDEX ix_tasks_completed",
            "CREATE INDEX ix_tasks_completed ON tasks (completed_at) WHERE completed_at IS NOT NULL",
        ];
        crate::execute_all(manager, statements).await
    }
}
