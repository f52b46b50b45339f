//! The scheduler's additions: what a callback task needs to be worked and audited (its customer,
//! contact time, temperament, the task it follows), at most one open task per case, manual job
//! runs beside cron occurrences, the email outbox and SLA escalations.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let columns: [(&str, ColumnDef); 10] = [
            ("tasks", uuid_null("customer_id").take()),
            // The earliest moment the customer may be called (inside the contact window and caps).
            ("tasks", timestamp_with_time_zone_null("not_before").take()),
            ("tasks", string("category").default("").take()),
            ("tasks", string("temperament").default("neutral").take()),
            // JSON: the cues that chose the temperament, or who set it.
            ("tasks", text("temperament_reason").default("").take()),
            ("tasks", uuid_null("follows_task_id").take()),
            ("tasks", timestamp_with_time_zone_null("escalated_at").take()),
            // cron | manual: manual runs (`mend schedule run`) may repeat an occurrence.
            ("job_runs", string("triggered_by").default("cron").take()),
            // Where an incremental job resumes (job-specific text).
            ("job_runs", text("cursor").default("").take()),
            // agent when a person set `temperament`; inferred values are never stored here.
            ("customers", string_null("temperament_set_by").take()),
        ];
        for (table, mut column) in columns {
            manager.alter_table(Table::alter().table(table).add_column(&mut column).take()).await?;
        }
        let conn = manager.get_connection();
        for sql in [
            // A case has at most one task in work, whatever runs twice or at once.
            "CREATE UNIQUE INDEX ux_tasks_one_open ON tasks (case_id) WHERE status IN ('open', 'claimed')",
            "CREATE INDEX ix_tasks_completed ON tasks (completed_at)",
            "CREATE INDEX ix_tasks_customer ON tasks (customer_id, not_before)",
            "DROP INDEX ux_job_runs_occurrence",
            "CREATE UNIQUE INDEX ux_job_runs_occurrence ON job_runs (job, scheduled_for) WHERE triggered_by = 'cron'",
            "CREATE INDEX ix_job_runs_started ON job_runs (job, started_at)",
        ] {
            conn.execute_unprepared(sql).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table("outbox")
                    .col(pk_uuid("id"))
                    .col(string("kind"))
                    // Makes queuing idempotent: one survey per case, one notice per closure.
                    .col(string_uniq("dedupe_key"))
                    .col(uuid_null("case_id"))
                    .col(string("to_address"))
                    .col(text("subject"))
                    .col(text("body"))
                    .col(string("status"))
                    .col(integer("attempts").default(0))
                    .col(text_null("last_error"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("sent_at"))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("escalations")
                    .col(pk_uuid("id"))
                    .col(uuid_uniq("task_id"))
                    .col(uuid("case_id"))
                    .col(timestamp_with_time_zone("due_at"))
                    .col(timestamp_with_time_zone("escalated_at"))
                    .col(integer("overdue_minutes"))
                    .col(integer("priority_before"))
                    .col(integer("priority_after"))
                    .col(timestamp_with_time_zone_null("acknowledged_at"))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("reports")
                    .col(pk_uuid("id"))
                    .col(string("kind"))
                    .col(string("period"))
                    .col(text("body"))
                    .col(timestamp_with_time_zone("created_at"))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create().name("ux_reports_period").table("reports").col("kind").col("period").unique().take(),
            )
            .await?;
        Ok(())
    }
}
