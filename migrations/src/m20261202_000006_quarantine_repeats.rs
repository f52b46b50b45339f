//! Quarantine keeps one record per payload and reason. A file imported twice, or a sender that
//! retries a payload mend cannot read, used to add a row per attempt; now the same raw bytes
//! refused for the same reason are one record that counts how often and when they were last
//! seen. Rows from before have no fingerprint and stay as they are.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let time = match manager.get_database_backend() {
            sea_orm::DbBackend::Postgres => "timestamp with time zone",
            _ => "timestamp_with_timezone_text",
        };
        let statements = [
            "ALTER TABLE quarantine ADD COLUMN fingerprint varchar".to_owned(),
            "ALTER TABLE quarantine ADD COLUMN seen_count integer NOT NULL DEFAULT 1".to_owned(),
            format!("ALTER TABLE quarantine ADD COLUMN last_seen_at {time}"),
            "UPDATE quarantine SET last_seen_at = received_at".to_owned(),
            "CREATE UNIQUE INDEX ux_quarantine_fingerprint ON quarantine (fingerprint)".to_owned(),
        ];
        crate::execute_all(manager, statements).await
    }
}
