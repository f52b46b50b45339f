//! A case's fingerprint: a sample of its full tellings' character trigrams (8 hex digits a
//! hash, `mend_core::Fingerprint`), so a complaint copied from one of them is recognised however
//! little of it the case's strongest terms hold. Cases recorded before it have none, and are
//! grouped as before until a full telling joins them.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let column = text("fingerprint").default("").take();
        manager.alter_table(Table::alter().table("cases").add_column(column).take()).await
    }
}
