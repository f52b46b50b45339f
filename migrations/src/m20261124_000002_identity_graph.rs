//! Same-problem grouping and a reversible identity graph: what a case is about (its terms and
//! the categories merged into it), where a case went (merged, split, reopened), which keys each
//! complaint carried and which customer each key first belonged to (to undo a merge), and the
//! merges themselves.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        let columns: [(&str, ColumnDef); 8] = [
            // The strongest terms of the case's complaints (features::Signature::encode).
            ("cases", text("signature").default("").take()),
            // Categories of cases merged into this one: complaints about them still belong here.
            ("cases", text("extra_categories").default("").take()),
            ("cases", uuid_null("merged_into").take()),
            // The customer merge that merged this case, so undoing it can restore the case.
            ("cases", uuid_null("merged_by").take()),
            ("cases", uuid_null("split_from").take()),
            ("cases", timestamp_with_time_zone_null("reopened_at").take()),
            // The complaint's own customer keys (`kind:value` lines): where it goes on an unmerge.
            ("complaints", text("customer_keys").default("").take()),
            ("customer_identities", uuid_null("original_customer_id").take()),
        ];
        for (table, mut column) in columns {
            manager.alter_table(Table::alter().table(table).add_column(&mut column).take()).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table("customer_merges")
                    .col(pk_uuid("id"))
                    .col(uuid("survivor_id"))
                    .col(uuid("merged_id"))
                    // What showed the two are one person: a complaint or a binding.
                    .col(string("source"))
                    .col(string("actor"))
                    .col(timestamp_with_time_zone("merged_at"))
                    .col(timestamp_with_time_zone_null("unmerged_at"))
                    .col(string_null("unmerged_by"))
                    .take(),
            )
            .await?;
        for (name, table, cols) in [
            ("ix_customer_merges_survivor", "customer_merges", ["survivor_id", "merged_at"]),
            ("ix_customer_merges_merged", "customer_merges", ["merged_id", "merged_at"]),
        ] {
            manager.create_index(Index::create().name(name).table(table).col(cols[0]).col(cols[1]).take()).await?;
        }
        // Before this migration no customer was ever merged: every key is still where it began.
        manager
            .get_connection()
            .execute_unprepared("UPDATE customer_identities SET original_customer_id = customer_id")
            .await?;
        Ok(())
    }
}
