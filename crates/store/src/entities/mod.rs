//! sea-orm entities, one module per table. Columns mirror the migrations in `mend-migration`.

pub mod audit_event;
pub mod case;
pub mod compensation;
pub mod complaint;
pub mod customer;
pub mod customer_identity;
pub mod customer_merge;
pub mod escalation;
pub mod job_run;
pub mod label_model;
pub mod outbox;
pub mod quarantine;
pub mod report;
pub mod signing_key;
pub mod survey;
pub mod task;
pub mod term_document;
pub mod user;
