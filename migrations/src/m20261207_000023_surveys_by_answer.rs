//! Surveys by when they were answered: the follow-up job reads the answers of the last minutes
//! every few minutes (an unhappy one is called back), the daily report a day's.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::execute_all(
            manager,
            ["CREATE INDEX ix_surveys_answered ON surveys (answered_at) WHERE answered_at IS NOT NULL"],
        )
        .await
    }
}
