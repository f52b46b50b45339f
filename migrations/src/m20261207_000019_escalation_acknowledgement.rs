//! Who acknowledged an SLA escalation: a supervisor's page lists only the ones nobody has, while
//! their call is still to be made.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter().table("escalations").add_column(ColumnDef::new("acknowledged_by").uuid().null()).take(),
            )
            .await
    }
}
