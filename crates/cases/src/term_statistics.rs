//! How telling each term is, learned from the complaints themselves.
//!
//! Real orders are full of template fields (`受理号码：`, `客户要求：`, masked `******`) that every
//! order of a call center carries; a fixed stopword list cannot know them all, and two orders
//! that share only their template look alike. So each term weighs by its inverse document
//! frequency, `ln(1 + (N + 1) / (n + 1))` for a term found in `n` of the `N` complaints counted so
//! far: the same for every term while nothing is counted (as plain weights were), near `ln 2`
//! for boilerplate, up to `ln N` for a word only one order holds.
//!
//! The counts live in memory, loaded once from `term_documents` and kept current as complaints
//! are placed, in placing order — so where a batch ends never changes a weight — and are saved
//! now and then ([`TermStatistics::save`]): by an import at its end, by `mend serve` every
//! minute. Several instances each add what they counted; a crash loses at most the counts since
//! the last save, and a batch decided twice (retried after a conflict) counts twice: either
//! only moves a few weights a little, never a stored record.

use std::sync::{Mutex, MutexGuard};

use mend_store::Store;
use rustc_hash::FxHashMap;

use crate::CasesError;
use crate::features::Signature;

/// The key the number of complaints counted is kept under (no term hashes to it: see
/// [`stored_key`]).
const DOCUMENTS: i64 = 0;

#[derive(Debug, Default)]
struct Counts {
    documents: u64,
    terms: FxHashMap<u64, u32>,
    unsaved_documents: u64,
    unsaved: FxHashMap<u64, u32>,
}

/// Term document frequencies, shared by every batch of an intake.
#[derive(Debug, Default)]
pub struct TermStatistics(Mutex<Counts>);

/// The counts, held while a batch is decided.
pub(crate) struct Counting<'a>(MutexGuard<'a, Counts>);

impl TermStatistics {
    /// What the database counted so far.
    pub async fn load(store: &Store) -> Result<Self, CasesError> {
        let mut counts = Counts::default();
        for (key, documents) in mend_store::term_documents::term_documents(store.connection()).await? {
            let documents = u64::try_from(documents).map_err(|_| {
                mend_store::StoreError::corrupt("term_documents", key, format!("{documents} documents"))
            })?;
            if key == DOCUMENTS {
                counts.documents = documents;
            } else {
                counts.terms.insert(key as u64, u32::try_from(documents).unwrap_or(u32::MAX));
            }
        }
        Ok(Self(Mutex::new(counts)))
    }

    /// Complaints counted, saved or not.
    pub fn documents(&self) -> u64 {
        self.lock().documents
    }

    /// `terms` weighted by how telling each is, counting nothing (recounting a case's terms).
    pub fn weigh(&self, terms: &Signature) -> Signature {
        Counting(self.lock()).weigh(terms)
    }

    pub(crate) fn counting(&self) -> Counting<'_> {
        Counting(self.lock())
    }

    /// Writes what was counted since the last save, adding it to what other instances saved.
    pub async fn save(&self, store: &Store) -> Result<(), CasesError> {
        let (documents, unsaved) = {
            let mut counts = self.lock();
            (std::mem::take(&mut counts.unsaved_documents), std::mem::take(&mut counts.unsaved))
        };
        if documents == 0 {
            return Ok(());
        }
        let mut rows: Vec<(i64, i64)> = unsaved.iter().map(|(&key, &n)| (stored_key(key), i64::from(n))).collect();
        rows.push((DOCUMENTS, documents as i64));
        let written = async {
            let tx = store.begin_write().await?;
            mend_store::term_documents::add_term_documents(&tx, &mut rows).await?;
            mend_store::commit(tx).await
        };
        if let Err(e) = written.await {
            // Kept for the next save.
            let mut counts = self.lock();
            counts.unsaved_documents += documents;
            for (key, n) in unsaved {
                *counts.unsaved.entry(key).or_default() += n;
            }
            return Err(e.into());
        }
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, Counts> {
        // Counts stay consistent whatever panicked while holding them: every update is one
        // insert or one addition.
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Counting<'_> {
    pub(crate) fn weigh(&self, terms: &Signature) -> Signature {
        let documents = self.0.documents as f32;
        terms.weighted(|key| {
            let holding = self.0.terms.get(&key).copied().unwrap_or(0) as f32;
            (1.0 + (documents + 1.0) / (holding + 1.0)).ln()
        })
    }

    /// Counts one more complaint holding `terms`.
    pub(crate) fn count(&mut self, terms: &Signature) {
        let counts = &mut *self.0;
        counts.documents += 1;
        counts.unsaved_documents += 1;
        for key in terms.keys() {
            let n = counts.terms.entry(key).or_default();
            *n = n.saturating_add(1);
            *counts.unsaved.entry(key).or_default() += 1;
        }
    }
}

/// A term's key as the database keeps it: the hash's bits as a signed integer, with the one
/// term that would hash to [`DOCUMENTS`] moved next to it.
fn stored_key(key: u64) -> i64 {
    match key as i64 {
        DOCUMENTS => 1,
        stored => stored,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::Featurizer;

    #[test]
    fn boilerplate_every_complaint_carries_weighs_less_than_what_one_says() {
        let f = Featurizer::new(&[], &[]);
        let statistics = TermStatistics::default();
        let orders = ["受理号码:宽带断网三天", "受理号码:话费多扣了", "受理号码:销户办不了", "受理号码:信号很差"];
        for order in orders {
            statistics.counting().count(&f.signature(order));
        }
        assert_eq!(statistics.documents(), 4);
        let weighed = statistics.weigh(&f.signature("受理号码:宽带断网"));
        let weight = |term: &str| weighed.terms().find(|(t, _)| *t == term).map(|(_, w)| w).unwrap();
        assert!(weight("宽带") > 1.5 * weight("受理"), "{} vs {}", weight("宽带"), weight("受理"));
        assert!(weight("~断网") < weight("宽带"), "bigrams keep their lower weight");
    }

    #[test]
    fn nothing_counted_weighs_every_term_alike() {
        let f = Featurizer::new(&[], &[]);
        let terms = f.signature("宽带断网三天了");
        let weighed = TermStatistics::default().weigh(&terms);
        assert!((weighed.similarity(&terms) - 1.0).abs() < 1e-5);
    }
}
