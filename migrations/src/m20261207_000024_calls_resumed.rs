//! When a customer's open case may be called again: a customer who asked for no calls and is
//! called again (a supervisor lifted the request) needs a callback on each open case, even one
//! that had a call since its latest complaint (an unanswered call whose retry the request held
//! back). Calls planned before this time answer nothing.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter().table("cases").add_column(timestamp_with_time_zone_null("calls_resumed_at")).take(),
            )
            .await
    }
}
