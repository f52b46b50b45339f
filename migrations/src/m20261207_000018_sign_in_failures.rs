//! Wrong passwords in a row, per name typed, so that guessing one account's password is slowed
//! to a few tries a quarter of an hour whichever instance the guesses reach.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("sign_in_failures")
                    // As typed, trimmed and lowercased; names nobody has count too, so the answer
                    // does not tell which names exist.
                    .col(ColumnDef::new("name").string().not_null().primary_key())
                    .col(ColumnDef::new("failures").integer().not_null())
                    .col(ColumnDef::new("last_failed_at").timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new("locked_until").timestamp_with_time_zone().null())
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create().name("ix_sign_in_failures_last").table("sign_in_failures").col("last_failed_at").take(),
            )
            .await
    }
}
