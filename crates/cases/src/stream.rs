//! Recording a long stream of batches (an import) with as few commits and as little waiting as
//! the backend allows.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use mend_core::Delivery;
use mend_store::batch::EncodedWrite;
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
/// Reports come back final, once the transaction that carried their batch committed: from
/// [`IntakeStream::record`] when it commits, or from [`IntakeStream::commit`] and
/// [`IntakeStream::finish`]. When the database refuses a record the open transaction is rolled
/// back and the batches it carried are recorded again a batch per transaction, the refused
/// record quarantined (see [`Intake::record`]); any other error drops the open transaction
/// and with it the batches it carried.
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
    /// The batches carried and what was decided for them, final once the transaction commits.
    batches: Vec<(Arc<Vec<Delivery>>, IntakeReport)>,
}

impl<'a> IntakeStream<'a> {
    pub fn new(intake: Arc<Intake>, store: &'a Store) -> Self {
        Self { intake, store, open: None, recorded: 0, analyzed_at: 0, checkpoints: None }
    }

    /// Records a batch; answers the reports this call made final (none while the transaction
    /// that carries the batch stays open).
    pub async fn record(
        &mut self,
        deliveries: Vec<Delivery>,
        now: DateTime<Utc>,
    ) -> Result<Vec<IntakeReport>, CasesError> {
        let deliveries = Arc::new(deliveries);
        let mut readings = Readings::start(&self.intake, &deliveries);
        self.recorded += deliveries.len();
        if self.store.backend() == Backend::Postgres {
            let report = self.intake.record_read(self.store, &deliveries, &mut readings, now).await?;
            if self.recorded >= FIRST_ANALYZE.max(2 * self.analyzed_at) {
                self.store.refresh_statistics().await?;
                self.analyzed_at = self.recorded;
            }
            return Ok(vec![report]);
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
                batches: Vec::new(),
            },
        };
        match self.add_batch(&mut open, &deliveries, readings, now).await {
            Ok(report) => open.batches.push((deliveries, report)),
            Err(CasesError::Store(e)) if e.is_refusal() => {
                open.batches.push((deliveries, IntakeReport::default()));
                return self.record_again(open, &e, now).await;
            }
            Err(e) => return Err(e),
        }
        if open.opened.elapsed() >= SQLITE_HOLD || open.deliveries >= SQLITE_HOLD_DELIVERIES {
            self.write_and_commit(open, now).await
        } else {
            self.open = Some(open);
            Ok(Vec::new())
        }
    }

    /// Decides a batch in the open transaction while the previous batch is written.
    async fn add_batch(
        &self,
        open: &mut OpenTransaction,
        deliveries: &Arc<Vec<Delivery>>,
        readings: Readings,
        now: DateTime<Utc>,
    ) -> Result<IntakeReport, CasesError> {
        // Lookups first: they queue behind nothing, and what the pending write will add is in
        // the working set already.
        open.working.load(&open.tx, deliveries, self.intake.policy()).await?;
        let readings = readings.take().await?;

        let intake = Arc::clone(&self.intake);
        let backend = self.store.backend();
        let working = std::mem::take(&mut open.working);
        let batch = Arc::clone(deliveries);
        let decide = tokio::task::spawn_blocking(move || {
            let mut working = working;
            let decision = intake.decide(&batch, &readings, &mut working, now);
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
        Ok(report)
    }

    /// The database refused a record somewhere in the open transaction: rolls it back and
    /// records its batches again, each in a transaction of its own, where the refused record
    /// is found and quarantined.
    async fn record_again(
        &mut self,
        open: OpenTransaction,
        refusal: &StoreError,
        now: DateTime<Utc>,
    ) -> Result<Vec<IntakeReport>, CasesError> {
        tracing::warn!(error = %refusal, batches = open.batches.len(), "The database refused a record; recording the open batches again.");
        mend_store::rollback(open.tx).await?;
        let mut reports = Vec::with_capacity(open.batches.len());
        for (deliveries, _) in open.batches {
            let mut readings = Readings::start(&self.intake, &deliveries);
            reports.push(self.intake.record_read(self.store, &deliveries, &mut readings, now).await?);
        }
        Ok(reports)
    }

    /// Writes and commits what is open now (before waiting for more input, and at the end);
    /// answers the reports that made final.
    pub async fn commit(&mut self, now: DateTime<Utc>) -> Result<Vec<IntakeReport>, CasesError> {
        match self.open.take() {
            Some(open) => self.write_and_commit(open, now).await,
            None => Ok(Vec::new()),
        }
    }

    /// Commits what is open and hands log checkpoints back to commits; answers the reports
    /// that made final.
    pub async fn finish(mut self, now: DateTime<Utc>) -> Result<Vec<IntakeReport>, CasesError> {
        let reports = self.commit(now).await?;
        if let Some(checkpoints) = self.checkpoints.take() {
            checkpoints.finish().await?;
        }
        Ok(reports)
    }

    async fn write_and_commit(
        &mut self,
        mut open: OpenTransaction,
        now: DateTime<Utc>,
    ) -> Result<Vec<IntakeReport>, CasesError> {
        match Self::write_pending(&mut open).await {
            Ok(()) => {}
            Err(CasesError::Store(e)) if e.is_refusal() => return self.record_again(open, &e, now).await,
            Err(e) => return Err(e),
        }
        let reports = open.batches.into_iter().map(|(_, report)| report).collect();
        mend_store::commit(open.tx).await?;
        if let Some(checkpoints) = &mut self.checkpoints {
            checkpoints.after_commit().await?;
        }
        Ok(reports)
    }

    async fn write_pending(open: &mut OpenTransaction) -> Result<(), CasesError> {
        if let Some(write) = open.pending.take() {
            write.execute(&open.tx).await?;
        }
        if open.settle_keys {
            key_tiers::settle_identity_keys(&open.tx).await?;
        }
        Ok(())
    }
}
