//! A customer who chooses "complain" in a channel's menu (WeChat's complaint menu) says what the
//! problem is in the messages that follow, which name no dissatisfaction of their own ("宽带从
//! 周一就用不了"). The choice is remembered for a while, so those messages are the complaint.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("complaint_intents")
                    .col(ColumnDef::new("channel").string().not_null())
                    // `<kind>:<value>`, the key the channel knows the customer by.
                    .col(ColumnDef::new("customer_key").string().not_null())
                    .col(ColumnDef::new("chosen_at").timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new("expires_at").timestamp_with_time_zone().not_null())
                    .primary_key(Index::create().col("channel").col("customer_key"))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_complaint_intents_expires")
                    .table("complaint_intents")
                    .col("expires_at")
                    .take(),
            )
            .await
    }
}
