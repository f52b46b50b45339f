//! Persistence for mend: the sea-orm entities, the connection to SQLite or PostgreSQL (chosen by
//! URL) and the repositories every other crate reads and writes through.
//!
//! Repositories are set-based: they take and return whole batches, so the cost of a batch is a
//! handful of statements whatever its size. No business rule lives here; callers decide, the
//! store records.

pub mod admin;
pub mod audit;
pub mod batch;
pub mod bench_floor;
pub mod budgets;
mod bulk;
mod bulk_writer;
pub mod callbacks;
pub mod cases;
mod checkpoint;
pub mod compensations;
pub mod complaint_intents;
pub mod complaints;
mod connect;
pub mod customer_merges;
pub mod customers;
pub mod entities;
mod error;
pub mod escalations;
pub mod idempotency_keys;
pub mod integrity;
pub mod job_runs;
pub mod key_tiers;
pub mod label_models;
pub mod outbox;
pub mod push_nonces;
pub mod quarantine;
mod records;
pub mod reports;
pub mod retry;
pub mod rounds;
mod rows;
pub mod sessions;
pub mod sign_in_failures;
pub mod signing_keys;
pub mod surveys;
pub mod tasks;
pub mod term_documents;
pub mod totals;
pub mod users;

pub use bulk_writer::{BulkWriter, Hold};
pub use checkpoint::{Checkpointer, LogCopier};
pub use connect::{Backend, SchemaChange, Store, commit, redact, rollback, sqlite_file};
pub use error::StoreError;
pub use records::{AuditEntry, KnownDelivery, KnownIdentity, NewComplaint, NewCustomer, NewIdentity, NewQuarantine};
pub use rows::written_columns;
/// Units of work span crates (intake runs many batches in one), so callers name the type.
pub use sea_orm::{ConnectionTrait, DatabaseTransaction};
