//! Recording a long stream of batches (an import) with as few commits and as little waiting as
//! the backend allows.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use mend_core::Delivery;
use mend_store::intake::EncodedWrite;
use mend_store::{Backend, DatabaseTransaction, Store, StoreError};

use crate::working_set::WorkingSet;
use crate::{CasesError, Intake, IntakeReport};

/// How long one SQLite transaction may go on taking batches before it commits and lets other
/// writers (`mend serve`) in. A SQLite commit writes every page the transaction dirtied to the
/// WAL, and a batch of complaints dirties pages all over the case and identity indexes, so
/// committing about once a second rather than once per batch saves most of that work.
const SQLITE_HOLD: Duration = Duration::from_secs(1);

/// Feeds batches to [`Intake`] one after the other.
///
/// On PostgreSQL each batch is its own transaction: concurrent writers lock customers row by
/// row, and a batch retries on conflict. On SQLite, where one writer holds the database at a
/// time anyway, a transaction carries batches for up to [`SQLITE_HOLD`] and is pipelined:
/// while the database writes batch *n*, another thread decides batch *n + 1* from the
/// transaction's [`WorkingSet`], which knows everything decided so far, written or not.
///
/// A report is final once [`IntakeStream::commit`] returns; an error drops the open
/// transaction and with it the batches it carried.
pub struct IntakeStream<'a> {
    intake: Arc<Intake>,
    store: &'a Store,
    open: Option<OpenTransaction>,
}

struct OpenTransaction {
    tx: DatabaseTransaction,
    opened: Instant,
    working: WorkingSet,
    /// The last batch's statements, executed while the next batch is decided.
    pending: Option<EncodedWrite>,
}

impl<'a> IntakeStream<'a> {
    pub fn new(intake: Arc<Intake>, store: &'a Store) -> Self {
        Self { intake, store, open: None }
    }

    pub async fn record(&mut self, deliveries: Vec<Delivery>, now: DateTime<Utc>) -> Result<IntakeReport, CasesError> {
        if self.store.backend() == Backend::Postgres {
            return self.intake.record(self.store, &deliveries, now).await;
        }
        let mut open = match self.open.take() {
            Some(open) => open,
            None => OpenTransaction {
                tx: self.store.begin_write().await?,
                opened: Instant::now(),
                working: WorkingSet::default(),
                pending: None,
            },
        };
        // Lookups first: they queue behind nothing, and what the pending write will add is in
        // the working set already.
        open.working.load(&open.tx, &deliveries, self.intake.policy()).await?;

        let intake = Arc::clone(&self.intake);
        let backend = self.store.backend();
        let working = std::mem::take(&mut open.working);
        let decide = tokio::task::spawn_blocking(move || {
            let mut working = working;
            let decision = intake.decide(&deliveries, &mut working, now);
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
        open.pending = Some(encoded?);

        if open.opened.elapsed() >= SQLITE_HOLD {
            finish(open).await?;
        } else {
            self.open = Some(open);
        }
        Ok(report)
    }

    /// Writes and commits what is open now (before waiting for more input, and at the end).
    pub async fn commit(&mut self) -> Result<(), CasesError> {
        match self.open.take() {
            Some(open) => finish(open).await,
            None => Ok(()),
        }
    }
}

async fn finish(mut open: OpenTransaction) -> Result<(), CasesError> {
    if let Some(write) = open.pending.take() {
        write.execute(&open.tx).await?;
    }
    open.tx.commit().await.map_err(StoreError::from)?;
    Ok(())
}
