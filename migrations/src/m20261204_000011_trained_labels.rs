//! What grouping learns from the complaints themselves and from a call center's labelled
//! orders: in how many complaints each term occurs (so boilerplate every order carries weighs
//! nothing), the trained label model (one in use; a new training replaces it), and the label
//! it gave each complaint and case, next to the keyword taxonomy's category.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["complaints", "cases"] {
            manager.alter_table(Table::alter().table(table).add_column(string_null("label").take()).take()).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table("label_models")
                    .col(pk_uuid("id"))
                    .col(timestamp_with_time_zone("trained_at"))
                    .col(string("trained_by"))
                    .col(integer("examples"))
                    // The share of the training lines that models trained on the other folds
                    // labelled right.
                    .col(double("cross_validated_accuracy"))
                    // JSON: the term counts per label (`mend_cases::labels::LabelCounts`).
                    .col(text("counts"))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("term_documents")
                    // FNV-1a of the term (`mend_cases::features::term_key`), as a signed integer;
                    // 0 holds the number of complaints counted.
                    .col(big_integer("term_key").primary_key())
                    .col(big_integer("documents"))
                    .take(),
            )
            .await?;
        Ok(())
    }
}
