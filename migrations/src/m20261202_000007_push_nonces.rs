//! WeChat's plaintext-mode signature covers the token, timestamp and nonce but not the body, so
//! a captured push URL could carry any body while its timestamp is in the window. Each
//! (timestamp, nonce) is remembered with its body's hash until the window has passed: the same
//! body again is WeChat retrying, another body is refused.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("push_nonces")
                    .col(ColumnDef::new("channel").string().not_null())
                    // `<timestamp>:<nonce>`: a nonce is unique only with its timestamp.
                    .col(ColumnDef::new("stamp").string().not_null())
                    .col(ColumnDef::new("body_sha256").string().not_null())
                    .col(ColumnDef::new("expires_at").timestamp_with_time_zone().not_null())
                    .primary_key(Index::create().col("channel").col("stamp"))
                    .take(),
            )
            .await?;
        manager
            .create_index(Index::create().name("ix_push_nonces_expires").table("push_nonces").col("expires_at").take())
            .await
    }
}
