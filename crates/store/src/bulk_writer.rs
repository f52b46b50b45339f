//! A long run of batch writes (an import) as each backend wants it, so the caller asks for "a
//! bulk writer" and never branches on the backend itself.
//!
//! SQLite has one writer at a time and pays for every commit with a log write of each page the
//! transaction dirtied: batches share a transaction for a while ([`Hold`]), and a
//! [`Checkpointer`] copies the log into the database file beside the transactions instead of
//! inside their commits. PostgreSQL takes concurrent writers row by row: batches share a
//! transaction briefly, so one batch is decided while the server writes the one before, and the
//! planner's statistics are refreshed as the tables grow.

use std::time::Duration;

use sea_orm::DatabaseTransaction;

use crate::{Checkpointer, Store, StoreError};

/// How long batches may share one transaction before it commits and lets other writers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hold {
    /// A SQLite commit writes every page the transaction dirtied to the log, and a batch of
    /// complaints dirties pages all over the case and identity indexes: committing every two
    /// seconds rather than once per batch halves a 1,000,000-line import (BENCHMARKS.md).
    pub time: Duration,
    /// The caller remembers what its transaction touched, so this bounds its memory.
    pub deliveries: usize,
}

const SQLITE_HOLD: Hold = Hold { time: Duration::from_secs(2), deliveries: 12_000 };

/// A held PostgreSQL transaction keeps its customers locked until it commits, so a complaint
/// arriving through the API for one of them waits for that long: half a second, a few batches,
/// enough to keep the server writing while the next batch is decided (+10 % on real orders,
/// BENCHMARKS.md). Two imports that lock each other's customers in turn deadlock; the server
/// ends one of them, whose batches are recorded again one transaction each.
const POSTGRES_HOLD: Hold = Hold { time: Duration::from_millis(500), deliveries: 5_000 };

/// Planner statistics are refreshed after this many records, and again each time the run has
/// doubled what it wrote: a handful of `ANALYZE`s for any import size.
const FIRST_ANALYZE: usize = 5_000;

pub struct BulkWriter<'a> {
    store: &'a Store,
    /// Started with the first held transaction.
    checkpoints: Option<Checkpointer>,
    written: usize,
    analyzed_at: usize,
}

impl Store {
    pub fn bulk_writer(&self) -> BulkWriter<'_> {
        BulkWriter { store: self, checkpoints: None, written: 0, analyzed_at: 0 }
    }

    /// How many transactions may usefully write side by side when they lock disjoint rows:
    /// SQLite has one writer at a time.
    pub fn parallel_writers(&self) -> usize {
        match self.backend() {
            crate::Backend::Sqlite => 1,
            crate::Backend::Postgres => 2,
        }
    }
}

impl BulkWriter<'_> {
    /// How long batches share a transaction ([`BulkWriter::begin`] … [`BulkWriter::commit`]).
    pub fn hold(&self) -> Hold {
        match self.store.backend() {
            crate::Backend::Sqlite => SQLITE_HOLD,
            crate::Backend::Postgres => POSTGRES_HOLD,
        }
    }

    /// A transaction that will carry held batches.
    pub async fn begin(&mut self) -> Result<DatabaseTransaction, StoreError> {
        if self.checkpoints.is_none() {
            self.checkpoints = self.store.background_checkpoints().await?;
        }
        self.store.begin_write().await
    }

    pub async fn commit(&mut self, tx: DatabaseTransaction) -> Result<(), StoreError> {
        crate::commit(tx).await?;
        if let Some(checkpoints) = &mut self.checkpoints {
            checkpoints.after_commit().await?;
        }
        Ok(())
    }

    /// Counts what was written; refreshes the planner's statistics when the tables grew enough.
    pub async fn wrote(&mut self, records: usize) -> Result<(), StoreError> {
        self.written += records;
        if self.written >= FIRST_ANALYZE.max(2 * self.analyzed_at) {
            self.store.refresh_statistics().await?;
            self.analyzed_at = self.written;
        }
        Ok(())
    }

    /// Ends the run: commits checkpoint themselves again.
    pub async fn finish(mut self) -> Result<(), StoreError> {
        if let Some(checkpoints) = self.checkpoints.take() {
            checkpoints.finish().await?;
        }
        Ok(())
    }
}
