//! Wrong passwords counted per name *and* the address they came from: counted per name alone,
//! anyone who knew a supervisor's name could keep them out with five requests a quarter of an
//! hour. The table holds recent guesses only, so it is made anew rather than rebuilt.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("sign_in_failures").take()).await?;
        manager
            .create_table(
                Table::create()
                    .table("sign_in_failures")
                    // As typed, trimmed and lowercased; names nobody has count too, so the answer
                    // does not tell which names exist.
                    .col(ColumnDef::new("name").string().not_null())
                    // The client's address as the server sees it (`http.client_ip_header`).
                    .col(ColumnDef::new("source").string().not_null())
                    .col(ColumnDef::new("failures").integer().not_null())
                    .col(ColumnDef::new("last_failed_at").timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new("locked_until").timestamp_with_time_zone().null())
                    .primary_key(Index::create().col("name").col("source"))
                    .take(),
            )
            .await?;
        // A source's guesses across names are summed at every attempt.
        manager
            .create_index(
                Index::create().name("ix_sign_in_failures_source").table("sign_in_failures").col("source").take(),
            )
            .await?;
        manager
            .create_index(
                Index::create().name("ix_sign_in_failures_last").table("sign_in_failures").col("last_failed_at").take(),
            )
            .await
    }
}
