//! How telling each term is, learned from the complaints themselves.
//!
//! Real orders are full of template fields (`受理号码：`, `客户要求：`, masked `******`) that every
//! order of a call center carries; a fixed stopword list cannot know them all, and two orders
//! that share only their template look alike. So each term weighs by its inverse document
//! frequency, `ln(1 + (N + 1) / (n + 1))` for a term found in `n` of the `N` complaints counted so
//! far: the same for every term while nothing is counted (as plain weights were), near `ln 2`
//! for boilerplate, up to `ln N` for a word only one order holds.
//!
//! The counts live in memory, loaded once from `term_documents`. A transaction counts the
//! complaints it places in its own [`TermCounts`] (in placing order, so where a batch ends never
//! changes a weight), which join the shared counts only once it commits: a batch decided again
//! after a conflict or a refusal counts once. What was counted is saved now and then
//! ([`TermStatistics::save`]): by an import at its end, by `mend serve` every minute. Several
//! instances each add what they counted (none reloads what the others saved until it restarts,
//! which only moves weights a little); a crash loses at most the counts since the last save.
//! Memory: the distinct terms seen, held twice until saved.

use std::sync::{Mutex, MutexGuard};

use mend_store::Store;
use rustc_hash::FxHashMap;

use crate::CasesError;
use crate::features::{Signature, Trigram};

/// The key the number of complaints counted is kept under (no term hashes to it: see
/// [`stored_key`]).
const DOCUMENTS: i64 = 0;

#[derive(Debug, Default)]
struct Counts {
    /// Complaints counted, and how many of them hold each term: saved or not.
    known: TermCounts,
    /// What was counted since the last save.
    unsaved: TermCounts,
}

/// Complaints counted, and how many of them hold each term.
#[derive(Debug, Default, Clone)]
pub(crate) struct TermCounts {
    documents: u64,
    terms: FxHashMap<u64, u32>,
}

impl TermCounts {
    /// Counts one more complaint holding `terms`.
    pub(crate) fn count(&mut self, terms: &Signature) {
        self.documents += 1;
        for key in terms.keys() {
            let n = self.terms.entry(key).or_default();
            *n = n.saturating_add(1);
        }
    }

    fn add(&mut self, other: &TermCounts) {
        self.documents += other.documents;
        for (&key, &n) in &other.terms {
            let held = self.terms.entry(key).or_default();
            *held = held.saturating_add(n);
        }
    }

    fn holding(&self, key: u64) -> u32 {
        self.terms.get(&key).copied().unwrap_or(0)
    }
}

impl Counts {
    /// How telling the term `key` is among the complaints committed and `pending`.
    fn idf(&self, pending: &TermCounts, key: u64) -> f32 {
        let documents = (self.known.documents + pending.documents) as f32;
        let holding = (self.known.holding(key) + pending.holding(key)) as f32;
        (1.0 + (documents + 1.0) / (holding + 1.0)).ln()
    }
}

/// Term document frequencies, shared by every transaction of an intake.
#[derive(Debug, Default)]
pub struct TermStatistics(Mutex<Counts>);

impl TermStatistics {
    /// What the database counted so far.
    pub async fn load(store: &Store) -> Result<Self, CasesError> {
        let mut known = TermCounts::default();
        for (key, documents) in mend_store::term_documents::term_documents(store.connection()).await? {
            let documents = u64::try_from(documents).map_err(|_| {
                mend_store::StoreError::corrupt("term_documents", key, format!("{documents} documents"))
            })?;
            if key == DOCUMENTS {
                known.documents = documents;
            } else {
                known.terms.insert(key as u64, u32::try_from(documents).unwrap_or(u32::MAX));
            }
        }
        Ok(Self(Mutex::new(Counts { known, unsaved: TermCounts::default() })))
    }

    /// `terms` weighted by how telling each is among the complaints counted and committed so
    /// far (recounting a case's terms).
    pub fn weigh(&self, terms: &Signature) -> Signature {
        self.weigh_counting(&TermCounts::default(), terms)
    }

    /// `terms` weighted by how telling each is among the complaints committed so far and those
    /// an open transaction counted (`pending`).
    pub(crate) fn weigh_counting(&self, pending: &TermCounts, terms: &Signature) -> Signature {
        let counts = self.lock();
        terms.weighted(|key| counts.idf(pending, key))
    }

    /// Each trigram's hash with its weight: the square of the idf of the commoner of its two
    /// bigrams, so the words of a form that every order carries weigh next to nothing beside
    /// what an order says of its own problem, even while few orders are counted (see
    /// `crate::grouping::COPIED`).
    pub(crate) fn weigh_trigrams(&self, pending: &TermCounts, trigrams: &[Trigram]) -> Vec<(u32, f32)> {
        let counts = self.lock();
        trigrams
            .iter()
            .map(|t| {
                let [ab, bc] = t.bigrams();
                let idf = counts.idf(pending, ab).min(counts.idf(pending, bc));
                (t.hash, idf * idf)
            })
            .collect()
    }

    /// Adds what a transaction counted, once it committed.
    pub(crate) fn committed(&self, counts: &TermCounts) {
        let mut held = self.lock();
        held.known.add(counts);
        held.unsaved.add(counts);
    }

    /// Writes what was counted since the last save, adding it to what other instances saved.
    pub async fn save(&self, store: &Store) -> Result<(), CasesError> {
        let unsaved = std::mem::take(&mut self.lock().unsaved);
        if unsaved.documents == 0 {
            return Ok(());
        }
        let mut rows: Vec<(i64, i64)> =
            unsaved.terms.iter().map(|(&key, &n)| (stored_key(key), i64::from(n))).collect();
        rows.push((DOCUMENTS, i64::try_from(unsaved.documents).unwrap_or(i64::MAX)));
        let written = async {
            let tx = store.begin_write().await?;
            mend_store::term_documents::add_term_documents(&tx, &mut rows).await?;
            mend_store::commit(tx).await
        };
        if let Err(e) = written.await {
            // Kept for the next save.
            self.lock().unsaved.add(&unsaved);
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
        let mut counted = TermCounts::default();
        for order in orders {
            counted.count(&f.signature(order));
        }
        assert_eq!(
            statistics.weigh(&f.signature("宽带")),
            TermStatistics::default().weigh(&f.signature("宽带")),
            "nothing counts before it is committed"
        );
        statistics.committed(&counted);
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
