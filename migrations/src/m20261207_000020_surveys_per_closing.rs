//! A survey asks about one closing of its case: a case that reopens and is repaired again gets a
//! survey of the new repair, and a survey whose closing no longer stands (the case reopened or
//! was merged) is withdrawn. Surveys lose their one-per-case uniqueness for one per closing, and
//! outbox rows name the survey they carry, so a sender can drop one that no longer stands.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::DbBackend;

/// The case's current closing, for the survey `survey` (an alias) if it was made after it: one
/// made before (the case reopened and closed again since) asked about an earlier closing, and
/// keeps none.
fn closing_of(survey: &str) -> String {
    format!("(SELECT c.closed_at FROM cases c WHERE c.id = {survey}.case_id AND {survey}.created_at >= c.closed_at)")
}

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// On SQLite too: a rebuild stopped half-way would leave no `surveys` table, or one that a
    /// second run cannot make again.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            // SQLite cannot drop a column's UNIQUE: the table is made again without it.
            DbBackend::Sqlite => {
                manager
                    .create_table(
                        Table::create()
                            .table("surveys_per_closing")
                            .col(pk_uuid("id"))
                            .col(uuid("case_id"))
                            .col(timestamp_with_time_zone_null("closed_at"))
                            .col(timestamp_with_time_zone("created_at"))
                            .col(timestamp_with_time_zone("expires_at"))
                            .col(timestamp_with_time_zone_null("answered_at"))
                            .col(integer_null("rating"))
                            .col(text_null("comment"))
                            .take(),
                    )
                    .await?;
                let copy = format!(
                    "INSERT INTO surveys_per_closing \
                     (id, case_id, closed_at, created_at, expires_at, answered_at, rating, comment) \
                     SELECT s.id, s.case_id, {}, s.created_at, s.expires_at, s.answered_at, s.rating, s.comment \
                     FROM surveys s",
                    closing_of("s")
                );
                let steps = [copy.as_str(), "DROP TABLE surveys", "ALTER TABLE surveys_per_closing RENAME TO surveys"];
                super::execute_all(manager, steps).await?;
            }
            _ => {
                let backfill = format!("UPDATE surveys SET closed_at = {}", closing_of("surveys"));
                let steps = [
                    "ALTER TABLE surveys DROP CONSTRAINT surveys_case_id_key",
                    "ALTER TABLE surveys ADD COLUMN closed_at timestamp with time zone NULL",
                    backfill.as_str(),
                ];
                super::execute_all(manager, steps).await?;
            }
        }
        manager
            .create_index(
                Index::create()
                    .name("ux_surveys_case_closing")
                    .table("surveys")
                    .col("case_id")
                    .col("closed_at")
                    .unique()
                    .take(),
            )
            .await?;
        manager.alter_table(Table::alter().table("outbox").add_column(uuid_null("survey_id")).take()).await?;
        // Until now a case had one survey, and its email was keyed by the case; now by the survey
        // (`survey:{survey_id}`), so that a rerun of the survey job finds the email it queued.
        let survey_text = match manager.get_database_backend() {
            DbBackend::Sqlite => {
                "lower(substr(hex(survey_id), 1, 8) || '-' || substr(hex(survey_id), 9, 4) || '-' || \
                 substr(hex(survey_id), 13, 4) || '-' || substr(hex(survey_id), 17, 4) || '-' || \
                 substr(hex(survey_id), 21))"
            }
            _ => "survey_id::text",
        };
        super::execute_all(
            manager,
            [
                "UPDATE outbox SET survey_id = (SELECT s.id FROM surveys s WHERE s.case_id = outbox.case_id) \
                 WHERE kind = 'survey'"
                    .to_owned(),
                format!(
                    "UPDATE outbox SET dedupe_key = 'survey:' || {survey_text} \
                     WHERE kind = 'survey' AND survey_id IS NOT NULL"
                ),
            ],
        )
        .await
    }
}
