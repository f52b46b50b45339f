//! Browser sign-ins: a session token per login (its SHA-256 stored, never the token), which
//! runs out after a shift and can be revoked at logout. And the audit log becomes append-only
//! in the database itself: an update or a delete of an audit event is refused. An idempotency
//! key remembers the hash of the request it answered, so the same key with another body is
//! told apart from a retry.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("sessions")
                    .col(string("token_hash").primary_key())
                    .col(uuid("user_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .col(timestamp_with_time_zone_null("revoked_at"))
                    .take(),
            )
            .await?;
        manager.create_index(Index::create().name("ix_sessions_user").table("sessions").col("user_id").take()).await?;
        manager
            .alter_table(
                Table::alter()
                    .table("idempotency_keys")
                    .add_column(ColumnDef::new("request_sha256").string().not_null().default(""))
                    .take(),
            )
            .await?;
        let statements: &[&str] = match manager.get_database_backend() {
            sea_orm::DbBackend::Postgres => &[
                "CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$",
                "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events \
                 FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()",
            ],
            _ => &[
                "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events \
                 BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
                "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events \
                 BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
            ],
        };
        crate::execute_all(manager, statements.iter()).await
    }
}
