//! Recording a long stream of batches (an import) with as few commits and as little waiting as
//! the backend allows.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use mend_core::Delivery;
use mend_store::intake::EncodedWrite;
use mend_store::key_tiers;
use mend_store::{Backend, Checkpointer, DatabaseTransaction, Store, StoreError};

use crate::intake::Readings;
use crate::working_set::WorkingSet;
use crate::{CasesError, Intake, IntakeReport};

/// How long one SQLite transaction may go on taking batches before it commits and lets other
/// writers (`mend serve`) in. A SQLite commit writes every page the transaction dirtied to the
/// WAL, and a batch of complaints dirties pages all over the case and identity indexes, so
/// committing every two seconds rather than once per batch saves most of that work (and
/// halves the time of a 1,000,000-line import against one second, see BENCHMARKS.md).
const SQLITE_HOLD: Duration = Duration::from_secs(2);

/// How many deliveries one SQLite transaction may carry before it commits: the working set
/// remembers every case and key the transaction touched, so this bounds the import's memory.
const SQLITE_HOLD_DELIVERIES: usize = 12_000;

/// Feeds batches to [`Intake`] one after the other.
///
/// On both backends a batch's texts are read on another thread while its cases load. On
/// PostgreSQL each batch is its own transaction: concurrent writers lock customers row by row,
/// and a batch retries on conflict. On SQLite, where one writer holds the database at a time
/// anyway, a transaction carries batches for up to [`SQLITE_HOLD`] (and [`SQLITE_HOLD_DELIVERIES`]) and is pipelined: while the
/// database writes batch *n*, another thread decides batch *n + 1* from the transaction's
/// [`WorkingSet`], which knows everything decided so far, written or not. Its write-ahead log
/// is copied into the database file by a [`Checkpointer`] beside the transactions, not inside
/// their commits; [`IntakeStream::finish`] ends that.
///
/// A report is final once [`IntakeStream::commit`] returns; an error drops the open
/// transaction and with it the batches it carried.
pub struct IntakeStream<'a> {
    intake: Arc<Intake>,
    store: &'a Store,
    open: Option<OpenTransaction>,
    /// Deliveries recorded, and how many there were when statistics were last refreshed.
    recorded: usize,
    analyzed_at: usize,
    /// SQLite's log is copied into the database file beside the stream's transactions, not
    /// inside their commits (started with the first transaction).
    checkpoints: Option<Checkpointer>,
}

/// Planner statistics are refreshed after this many deliveries, and again each time the
/// stream has doubled what it recorded: a handful of `ANALYZE`s for any import size.
const FIRST_ANALYZE: usize = 5_000;

struct OpenTransaction {
    tx: DatabaseTransaction,
    opened: Instant,
    deliveries: usize,
    working: WorkingSet,
    /// The last batch's statements, executed while the next batch is decided.
    pending: Option<EncodedWrite>,
    /// Whether SQLite's recent identity keys are settled before the commit
    /// ([`mend_store::key_tiers`]).
    settle_keys: bool,
}

impl<'a> IntakeStream<'a> {
    pub fn new(intake: Arc<Intake>, store: &'a Store) -> Self {
        Self { intake, store, open: None, recorded: 0, analyzed_at: 0, checkpoints: None }
    }

    pub async fn record(&mut self, deliveries: Vec<Delivery>, now: DateTime<Utc>) -> Result<IntakeReport, CasesError> {
        let deliveries = Arc::new(deliveries);
        let mut readings = Readings::start(&self.intake, &deliveries);
        self.recorded += deliveries.len();
        if self.store.backend() == Backend::Postgres {
            let report = self.intake.record_read(self.store, &deliveries, &mut readings, now).await?;
            if self.recorded >= FIRST_ANALYZE.max(2 * self.analyzed_at) {
                self.store.refresh_statistics().await?;
                self.analyzed_at = self.recorded;
            }
            return Ok(report);
        }
        if self.checkpoints.is_none() {
            self.checkpoints = self.store.background_checkpoints().await?;
        }
        let mut open = match self.open.take() {
            Some(open) => open,
            None => OpenTransaction {
                tx: self.store.begin_write().await?,
                opened: Instant::now(),
                deliveries: 0,
                working: WorkingSet::default(),
                pending: None,
                settle_keys: false,
            },
        };
        // Lookups first: they queue behind nothing, and what the pending write will add is in
        // the working set already.
        open.working.load(&open.tx, &deliveries, self.intake.policy()).await?;
        let readings = readings.take().await?;

        let intake = Arc::clone(&self.intake);
        let backend = self.store.backend();
        let working = std::mem::take(&mut open.working);
        let decide = tokio::task::spawn_blocking(move || {
            let mut working = working;
            let decision = intake.decide(&deliveries, &readings, &mut working, now);
            let encoded = decision.write.encode(backend, now);
            (working, decision.report, encoded)
        });
        let write_previous = async {
            match open.pending.take() {
                Some(write) => write.execute(&open.tx).await,
                None => Ok(()),
            }
        };
        let (decided, written) = tokio::join!(decide, write_previous);
        written?;
        let (working, report, encoded) = decided.map_err(|e| CasesError::Worker(e.to_string()))?;
        open.working = working;
        let encoded = encoded?;
        open.settle_keys |= self.intake.keys_due_to_settle(encoded.new_identity_keys());
        open.pending = Some(encoded);

        open.deliveries += report.outcomes.len();
        if open.opened.elapsed() >= SQLITE_HOLD || open.deliveries >= SQLITE_HOLD_DELIVERIES {
            self.write_and_commit(open).await?;
        } else {
            self.open = Some(open);
        }
        Ok(report)
    }

    /// Writes and commits what is open now (before waiting for more input, and at the end).
    pub async fn commit(&mut self) -> Result<(), CasesError> {
        match self.open.take() {
            Some(open) => self.write_and_commit(open).await,
            None => Ok(()),
        }
    }

    /// Commits what is open and hands log checkpoints back to commits.
    pub async fn finish(mut self) -> Result<(), CasesError> {
        self.commit().await?;
        if let Some(checkpoints) = self.checkpoints.take() {
            checkpoints.finish().await?;
        }
        Ok(())
    }

    async fn write_and_commit(&mut self, mut open: OpenTransaction) -> Result<(), CasesError> {
        if let Some(write) = open.pending.take() {
            write.execute(&open.tx).await?;
        }
        if open.settle_keys {
            key_tiers::settle_identity_keys(&open.tx).await?;
        }
        open.tx.commit().await.map_err(StoreError::from)?;
        if let Some(checkpoints) = &mut self.checkpoints {
            checkpoints.after_commit().await?;
        }
        Ok(())
    }
}
