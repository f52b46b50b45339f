//! Email leaves the building: outbox rows get a stable Message-ID, an HTML part with inline
//! images, and the sender's bookkeeping (when to try next, who holds a row being sent); surveys
//! remember their single-use links and answers; signing keys made on first use are shared by
//! every instance; users may have an address for alerts and reports.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let columns: [(&str, ColumnDef); 7] = [
            // `<row id@sender's domain>`: a resend after a crash carries the same id.
            ("outbox", string("message_id").default("").take()),
            ("outbox", text_null("html_body").take()),
            // JSON: [{"content_id", "content_type", "base64"}], referenced from the HTML as cid:.
            ("outbox", text("inline_parts").default("[]").take()),
            ("outbox", timestamp_with_time_zone_null("next_attempt_at").take()),
            // While `sending`: which worker holds the row, and until when.
            ("outbox", string_null("claimed_by").take()),
            ("outbox", timestamp_with_time_zone_null("claimed_until").take()),
            ("users", string_null("email").take()),
        ];
        for (table, mut column) in columns {
            manager.alter_table(Table::alter().table(table).add_column(&mut column).take()).await?;
        }
        // A resend after an unconfirmed attempt happens once: this counts such attempts.
        manager
            .alter_table(
                Table::alter()
                    .table("outbox")
                    .add_column(ColumnDef::new("unconfirmed_sends").integer().not_null().default(0))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create().name("ix_outbox_due").table("outbox").col("status").col("next_attempt_at").take(),
            )
            .await?;
        // Emails queued before there was a sender are due since they were queued: the claim
        // asks `next_attempt_at <= now`, which a NULL never is.
        manager
            .exec_stmt(
                Query::update()
                    .table("outbox")
                    .value("next_attempt_at", Expr::col("created_at"))
                    .and_where(Expr::col("status").eq("queued"))
                    .and_where(Expr::col("next_attempt_at").is_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("surveys")
                    .col(pk_uuid("id"))
                    .col(uuid_uniq("case_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .col(timestamp_with_time_zone_null("answered_at"))
                    .col(integer_null("rating"))
                    .col(text_null("comment"))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("signing_keys")
                    .col(string("name").primary_key())
                    // Hex of random bytes; never leaves the database.
                    .col(string("secret"))
                    .col(timestamp_with_time_zone("created_at"))
                    .take(),
            )
            .await?;
        Ok(())
    }
}
