//! The data model of the whole product: customers and their identities, complaints, cases,
//! quarantine and audit, plus the desk (users, tasks, compensation, budgets) and scheduler
//! (job runs) tables that later features fill.
//!
//! The intake tables (customers, identities, cases, complaints) carry no foreign keys: intake
//! writes them only as one unit of work that creates parents before children, and on
//! PostgreSQL the per-row referential triggers cost about 30 % of import time (BENCHMARKS.md).
//! The references are checked by the tests instead (`tests/it/support.rs`,
//! `assert_references_hold`). Low-volume tables written by people keep their foreign keys.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let sqlite = manager.get_database_backend() == sea_orm_migration::sea_orm::DbBackend::Sqlite;
        for mut table in tables(!sqlite) {
            let name = match table.get_table_name() {
                Some(TableRef::Table(TableName(_, name), _)) => name.to_string(),
                _ => String::new(),
            };
            // With a UUID key, a SQLite rowid table is two B-trees (rows + key index): every
            // insert writes both and every key lookup seeks both. Clustering the hot tables on
            // their key saves that work (BENCHMARKS.md). Tables whose rows can be large
            // (quarantined payloads, audit details) stay rowid tables.
            if sqlite && CLUSTERED_ON_SQLITE.contains(&name.as_str()) {
                table.extra("WITHOUT ROWID");
            }
            manager.create_table(table).await?;
        }
        for index in indexes() {
            manager.create_index(index).await?;
        }
        Ok(())
    }
}

const CLUSTERED_ON_SQLITE: [&str; 4] = ["customers", "customer_identities", "cases", "complaints"];

fn fk(from_table: &'static str, from_col: &'static str, to_table: &'static str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{from_table}_{from_col}"))
        .from(from_table, from_col)
        .to(to_table, "id")
        .take()
}

/// A text column that holds identifiers (delivery and customer keys): compared byte by byte.
/// PostgreSQL otherwise compares text by the database's locale, which costs a `strcoll` call per
/// comparison in the unique indexes every complaint probes; SQLite compares bytes already.
fn key_text(name: &'static str, postgres: bool) -> ColumnDef {
    let mut column = string(name);
    if postgres {
        column.extra("COLLATE \"C\"");
    }
    column
}

fn tables(postgres: bool) -> Vec<TableCreateStatement> {
    vec![
        Table::create()
            .table("customers")
            .col(pk_uuid("id"))
            .col(string_null("display_name"))
            .col(string_null("email"))
            .col(string("tier").default("standard"))
            .col(string_null("temperament"))
            .col(string("timezone").default("Asia/Shanghai"))
            .col(boolean("do_not_disturb").default(false))
            // Set when a merge folded this customer into another; kept so a merge can be undone.
            .col(uuid_null("merged_into"))
            .col(timestamp_with_time_zone("created_at"))
            .col(timestamp_with_time_zone("updated_at"))
            .take(),
        Table::create()
            .table("customer_identities")
            .col(pk_uuid("id"))
            .col(uuid("customer_id"))
            .col(key_text("kind", postgres))
            .col(key_text("value", postgres))
            // What established the link: a complaint (channel/source_id) or a binding event.
            .col(string("source"))
            .col(timestamp_with_time_zone("linked_at"))
            .take(),
        Table::create()
            .table("cases")
            .col(pk_uuid("id"))
            .col(uuid("customer_id"))
            .col(string("category"))
            .col(string("status"))
            .col(boolean("escalation_risk").default(false))
            .col(boolean("repeat_failure").default(false))
            .col(integer("complaint_count"))
            .col(timestamp_with_time_zone("first_complaint_at"))
            .col(timestamp_with_time_zone("last_complaint_at"))
            .col(timestamp_with_time_zone("opened_at"))
            .col(timestamp_with_time_zone_null("closed_at"))
            .col(timestamp_with_time_zone("updated_at"))
            .take(),
        Table::create()
            .table("complaints")
            .col(pk_uuid("id"))
            .col(key_text("channel", postgres))
            .col(key_text("source_id", postgres))
            .col(uuid("customer_id"))
            .col(uuid("case_id"))
            .col(timestamp_with_time_zone("received_at"))
            .col(text("text"))
            .col(string("category"))
            // given | classified | default: whether the channel or mend chose the category.
            .col(string("category_source"))
            .col(small_integer_null("satisfaction"))
            .col(boolean("formal_complaint"))
            .col(text("raw_payload"))
            // Why grouping put this complaint in its case (JSON).
            .col(text("grouping_reason"))
            .col(timestamp_with_time_zone("ingested_at"))
            .take(),
        Table::create()
            .table("quarantine")
            .col(pk_uuid("id"))
            .col(string("channel"))
            .col(blob("raw"))
            .col(text("reason"))
            .col(timestamp_with_time_zone("received_at"))
            .col(timestamp_with_time_zone_null("resolved_at"))
            .take(),
        Table::create()
            .table("audit_events")
            .col(pk_uuid("id"))
            .col(timestamp_with_time_zone("at"))
            .col(string("actor"))
            .col(string("action"))
            .col(string("subject_kind"))
            .col(uuid_null("subject_id"))
            .col(text("detail"))
            .take(),
        Table::create()
            .table("users")
            .col(pk_uuid("id"))
            .col(string_uniq("name"))
            .col(string("role"))
            .col(string_null("team"))
            .col(string("password_hash"))
            .col(string_uniq("token_hash"))
            .col(boolean("active").default(true))
            .col(timestamp_with_time_zone("created_at"))
            .take(),
        Table::create()
            .table("tasks")
            .col(pk_uuid("id"))
            .col(uuid("case_id"))
            .col(string("kind"))
            .col(string("status"))
            .col(timestamp_with_time_zone("due_at"))
            .col(integer("priority"))
            .col(text("priority_reasons"))
            .col(big_integer("compensation_limit_fen"))
            .col(text("limit_explanation"))
            .col(text("script"))
            .col(integer("attempt").default(1))
            .col(uuid_null("claimed_by"))
            .col(timestamp_with_time_zone_null("lease_expires_at"))
            .col(text_null("outcome"))
            .col(timestamp_with_time_zone("created_at"))
            .col(timestamp_with_time_zone("updated_at"))
            .col(timestamp_with_time_zone_null("completed_at"))
            .foreign_key(&mut fk("tasks", "case_id", "cases"))
            .take(),
        Table::create()
            .table("compensations")
            .col(pk_uuid("id"))
            .col(uuid("case_id"))
            .col(uuid_null("task_id"))
            .col(string("kind"))
            .col(big_integer("amount_fen"))
            .col(text("reason"))
            .col(string("status"))
            .col(uuid("requested_by"))
            .col(uuid_null("decided_by"))
            .col(text_null("decision_reason"))
            .col(timestamp_with_time_zone("requested_at"))
            .col(timestamp_with_time_zone_null("decided_at"))
            .foreign_key(&mut fk("compensations", "case_id", "cases"))
            .take(),
        Table::create()
            .table("team_budgets")
            .col(string("team"))
            .col(string("month"))
            .col(big_integer("budget_fen"))
            .col(big_integer("committed_fen").default(0))
            .primary_key(Index::create().col("team").col("month"))
            .take(),
        Table::create()
            .table("job_runs")
            .col(pk_uuid("id"))
            .col(string("job"))
            .col(timestamp_with_time_zone("scheduled_for"))
            .col(string("outcome"))
            .col(string_null("instance"))
            .col(timestamp_with_time_zone("started_at"))
            .col(timestamp_with_time_zone_null("finished_at"))
            .col(timestamp_with_time_zone_null("lease_expires_at"))
            .col(text("counts"))
            .take(),
        Table::create()
            .table("idempotency_keys")
            .col(string("key"))
            .col(uuid("user_id"))
            .col(string("request_path"))
            .col(integer("response_status"))
            .col(text("response_body"))
            .col(timestamp_with_time_zone("created_at"))
            .primary_key(Index::create().col("key").col("user_id"))
            .take(),
    ]
}

fn index(name: &str, table: &'static str, cols: &[&'static str]) -> IndexCreateStatement {
    let mut stmt = Index::create().name(name).table(table).take();
    for col in cols {
        stmt.col(*col);
    }
    stmt
}

fn indexes() -> Vec<IndexCreateStatement> {
    vec![
        index("ux_identities_key", "customer_identities", &["kind", "value"]).unique().take(),
        index("ix_identities_customer", "customer_identities", &["customer_id"]),
        index("ux_complaints_delivery", "complaints", &["channel", "source_id"]).unique().take(),
        index("ix_complaints_case", "complaints", &["case_id", "received_at"]),
        // No (customer_id, …) index: a customer's complaints are found through their cases,
        // and every complaint would pay for one more random-order index insert.
        // Not (customer_id, last_complaint_at): every complaint that joins a case moves its
        // last_complaint_at, and a customer has few cases to filter anyway.
        index("ix_cases_customer", "cases", &["customer_id"]),
        index("ix_quarantine_received", "quarantine", &["received_at"]),
        index("ix_audit_subject", "audit_events", &["subject_kind", "subject_id"]),
        index("ix_tasks_queue", "tasks", &["status", "due_at"]),
        index("ix_tasks_case", "tasks", &["case_id"]),
        index("ix_compensations_case", "compensations", &["case_id"]),
        index("ix_compensations_status", "compensations", &["status"]),
        index("ux_job_runs_occurrence", "job_runs", &["job", "scheduled_for"]).unique().take(),
    ]
}
