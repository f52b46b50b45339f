//! Schema migrations for mend, one module per change, applied in order on SQLite and PostgreSQL.
//!
//! Migrations only move forward: a deployed database is upgraded by `mend migrate` (and by `serve`
//! and `import` on start), never rebuilt. A change SQLite cannot make in place (dropping a UNIQUE)
//! remakes that one table, its rows copied, inside the migration's transaction.

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_initial;
mod m20261124_000002_identity_graph;
mod m20261125_000003_scheduler;
mod m20261126_000004_task_storage;
mod m20261127_000005_identity_key_tiers;
mod m20261202_000006_quarantine_repeats;
mod m20261202_000007_push_nonces;
mod m20261202_000008_desk_queue;
mod m20261202_000009_sessions;
mod m20261203_000010_email_delivery;
mod m20261204_000011_trained_labels;
mod m20261205_000012_calls_by_case;
mod m20261205_000013_claim_order_moment;
mod m20261205_000014_complaints_by_time;
mod m20261205_000015_case_fingerprints;
mod m20261206_000016_lz4_compression;
mod m20261207_000017_complaint_intents;
mod m20261207_000018_sign_in_failures;
mod m20261207_000019_escalation_acknowledgement;
mod m20261207_000020_surveys_per_closing;
mod m20261207_000021_outbox_by_survey;
mod m20261207_000022_follow_up_lookups;
mod m20261207_000023_sign_in_failures_by_source;
mod m20261207_000024_calls_resumed;

/// A hash of the migration sources, so tools that cache a migrated database (the test
/// template) can tell when the schema changed even if no migration was added.
pub const FINGERPRINT: &str = env!("MEND_MIGRATIONS_FINGERPRINT");

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_initial::Migration),
            Box::new(m20261124_000002_identity_graph::Migration),
            Box::new(m20261125_000003_scheduler::Migration),
            Box::new(m20261126_000004_task_storage::Migration),
            Box::new(m20261127_000005_identity_key_tiers::Migration),
            Box::new(m20261202_000006_quarantine_repeats::Migration),
            Box::new(m20261202_000007_push_nonces::Migration),
            Box::new(m20261202_000008_desk_queue::Migration),
            Box::new(m20261202_000009_sessions::Migration),
            Box::new(m20261203_000010_email_delivery::Migration),
            Box::new(m20261204_000011_trained_labels::Migration),
            Box::new(m20261205_000012_calls_by_case::Migration),
            Box::new(m20261205_000013_claim_order_moment::Migration),
            Box::new(m20261205_000014_complaints_by_time::Migration),
            Box::new(m20261205_000015_case_fingerprints::Migration),
            Box::new(m20261206_000016_lz4_compression::Migration),
            Box::new(m20261207_000017_complaint_intents::Migration),
            Box::new(m20261207_000018_sign_in_failures::Migration),
            Box::new(m20261207_000019_escalation_acknowledgement::Migration),
            Box::new(m20261207_000020_surveys_per_closing::Migration),
            Box::new(m20261207_000021_outbox_by_survey::Migration),
            Box::new(m20261207_000022_follow_up_lookups::Migration),
            Box::new(m20261207_000023_sign_in_failures_by_source::Migration),
            Box::new(m20261207_000024_calls_resumed::Migration),
        ]
    }
}

/// Runs `statements` in order: the SQL the schema builder has no words for (partial and
/// expression indexes, triggers, backfills).
async fn execute_all<S: AsRef<str>>(
    manager: &SchemaManager<'_>,
    statements: impl IntoIterator<Item = S>,
) -> Result<(), DbErr> {
    let conn = manager.get_connection();
    for statement in statements {
        conn.execute_unprepared(statement.as_ref()).await?;
    }
    Ok(())
}
