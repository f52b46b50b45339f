//! Recording a long stream of batches (an import) with as few commits and as little waiting as
//! the backend allows.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use mend_core::Delivery;
use mend_store::batch::EncodedWrite;
use mend_store::{BulkWriter, DatabaseTransaction, Hold, Store, StoreError};

use crate::intake::Readings;
use crate::working_set::WorkingSet;
use crate::{CasesError, Intake, IntakeReport};

/// Feeds batches to [`Intake`] one after the other.
///
/// A batch's texts are read on another thread as soon as it is handed in, while the batch
/// before it is decided and written: [`IntakeStream::record`] holds each batch back until the
/// next one comes (or [`IntakeStream::commit`]), so reading, deciding and writing, each a good
/// part of an import's work, run side by side. A transaction carries batches for as long as the
/// store's [`BulkWriter`] says ([`Hold`]) and is pipelined: while the database writes batch
/// *n*, another thread decides batch *n + 1* from the transaction's [`WorkingSet`], which knows
/// everything decided so far, written or not (on PostgreSQL the customers it holds stay locked
/// until the commit, so no other writer changes them meanwhile). [`IntakeStream::finish`] ends
/// the writer's run.
///
/// Reports come back final, once the transaction that carried their batch committed: from
/// [`IntakeStream::record`] when it commits, or from [`IntakeStream::commit`] and
/// [`IntakeStream::finish`]. When the database refuses a record, or ends the transaction in a
/// conflict with another writer (two imports locking each other's customers deadlock), the
/// open transaction is rolled back and the batches it carried are recorded again a batch per
/// transaction, as [`Intake::record`] does: retried on conflict, the refused record
/// quarantined. Any other error drops the open transaction and with it the batches it carried.
pub struct IntakeStream<'a> {
    intake: Arc<Intake>,
    store: &'a Store,
    writer: BulkWriter<'a>,
    open: Option<OpenTransaction>,
    /// The batch handed in last, its texts being read; recorded when the next one comes.
    waiting: Option<(Arc<Vec<Delivery>>, Readings)>,
}

struct OpenTransaction {
    tx: DatabaseTransaction,
    opened: Instant,
    deliveries: usize,
    working: WorkingSet,
    /// The last batch's statements, executed while the next batch is decided.
    pending: Option<EncodedWrite>,
    /// The batches carried and what was decided for them, final once the transaction commits.
    batches: Vec<(Arc<Vec<Delivery>>, IntakeReport)>,
}

impl<'a> IntakeStream<'a> {
    pub fn new(intake: Arc<Intake>, store: &'a Store) -> Self {
        Self { intake, store, writer: store.bulk_writer(), open: None, waiting: None }
    }

    /// Records a batch: starts reading its texts, and records the batch handed in before it;
    /// answers the reports this call made final (none while the transaction that carries them
    /// stays open).
    pub async fn record(
        &mut self,
        deliveries: Vec<Delivery>,
        now: DateTime<Utc>,
    ) -> Result<Vec<IntakeReport>, CasesError> {
        let deliveries = Arc::new(deliveries);
        let readings = Readings::start(&self.intake, &deliveries);
        match self.waiting.replace((deliveries, readings)) {
            Some((previous, readings)) => self.record_read(previous, readings, now).await,
            None => Ok(Vec::new()),
        }
    }

    /// Records a batch whose texts are read (or being read).
    async fn record_read(
        &mut self,
        deliveries: Arc<Vec<Delivery>>,
        readings: Readings,
        now: DateTime<Utc>,
    ) -> Result<Vec<IntakeReport>, CasesError> {
        self.writer.wrote(deliveries.len()).await?;
        let mut open = match self.open.take() {
            Some(open) => open,
            None => OpenTransaction {
                tx: self.writer.begin().await?,
                opened: Instant::now(),
                deliveries: 0,
                working: WorkingSet::default(),
                pending: None,
                batches: Vec::new(),
            },
        };
        match self.add_batch(&mut open, &deliveries, readings, now).await {
            Ok(report) => open.batches.push((deliveries, report)),
            Err(CasesError::Store(e)) if e.is_refusal() || e.is_conflict() => {
                open.batches.push((deliveries, IntakeReport::default()));
                return self.record_again(open, &e, now).await;
            }
            Err(e) => return Err(e),
        }
        let Hold { time, deliveries } = self.writer.hold();
        if open.opened.elapsed() >= time || open.deliveries >= deliveries {
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
                Some(write) => self.store.write_batch(&open.tx, write).await,
                None => Ok(()),
            }
        };
        let (decided, written) = tokio::join!(decide, write_previous);
        written?;
        let (working, report, encoded) = decided.map_err(|e| CasesError::Worker(e.to_string()))?;
        open.working = working;
        open.pending = Some(encoded?);
        open.deliveries += report.outcomes.len();
        Ok(report)
    }

    /// The database refused a record somewhere in the open transaction, or ended it in a
    /// conflict: rolls it back and records its batches again, each in a transaction of its own,
    /// where a conflict is retried and the refused record is found and quarantined.
    async fn record_again(
        &mut self,
        open: OpenTransaction,
        error: &StoreError,
        now: DateTime<Utc>,
    ) -> Result<Vec<IntakeReport>, CasesError> {
        tracing::warn!(%error, batches = open.batches.len(), "The open transaction failed; recording its batches again one by one.");
        mend_store::rollback(open.tx).await?;
        let mut reports = Vec::with_capacity(open.batches.len());
        for (deliveries, _) in open.batches {
            let mut readings = Readings::start(&self.intake, &deliveries);
            reports.push(self.intake.record_read(self.store, &deliveries, &mut readings, now).await?);
        }
        Ok(reports)
    }

    /// Records the batch held back, then writes and commits what is open now (before waiting
    /// for more input, and at the end); answers the reports that made final.
    pub async fn commit(&mut self, now: DateTime<Utc>) -> Result<Vec<IntakeReport>, CasesError> {
        let mut reports = match self.waiting.take() {
            Some((deliveries, readings)) => self.record_read(deliveries, readings, now).await?,
            None => Vec::new(),
        };
        if let Some(open) = self.open.take() {
            reports.extend(self.write_and_commit(open, now).await?);
        }
        Ok(reports)
    }

    /// Commits what is open and ends the writer's run; answers the reports that made final.
    pub async fn finish(mut self, now: DateTime<Utc>) -> Result<Vec<IntakeReport>, CasesError> {
        let reports = self.commit(now).await?;
        self.writer.finish().await?;
        Ok(reports)
    }

    async fn write_and_commit(
        &mut self,
        mut open: OpenTransaction,
        now: DateTime<Utc>,
    ) -> Result<Vec<IntakeReport>, CasesError> {
        if let Some(write) = open.pending.take()
            && let Err(e) = self.store.write_batch(&open.tx, write).await
        {
            return match e.is_refusal() || e.is_conflict() {
                true => self.record_again(open, &e, now).await,
                false => Err(e.into()),
            };
        }
        let reports = open.batches.into_iter().map(|(_, report)| report).collect();
        self.writer.commit(open.tx).await?;
        self.intake.term_statistics().committed(&open.working.term_counts);
        Ok(reports)
    }
}
