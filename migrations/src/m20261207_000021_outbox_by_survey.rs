//! The outbox's emails by the survey they carry: the survey job asks whether a customer's recent
//! survey really went out before it spares them another.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::execute_all(manager, ["CREATE INDEX ix_outbox_survey ON outbox (survey_id) WHERE survey_id IS NOT NULL"])
            .await
    }
}
