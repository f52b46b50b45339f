//! A case's fingerprint: a sample of the character trigrams of its full tellings, to recognise
//! a complaint copied from one of them (a customer pasting what the hotline wrote, an agent's
//! new order quoting the old) however little of it the case's strongest terms hold.

/// Hashes a fingerprint keeps: the smallest of its tellings' trigram hashes (a bottom-k sample),
/// so a case holding several orders still stores half a kilobyte, and whether a complaint's
/// trigrams are the case's can still be told exactly for the complaint's hashes in the range kept.
/// 64 and 128 measured alike on real orders (whose records have 61 trigrams on average, most of
/// them fit whole).
const FINGERPRINT_HASHES: usize = 64;

/// Sampled trigrams a complaint needs before its containment counts: a complaint of a few
/// characters, or one the sample barely covers, says too little.
const MIN_SAMPLED: usize = 8;

/// The smallest trigram hashes of a case's full tellings, ascending, at most
/// [`FINGERPRINT_HASHES`]. Stored as 8 hex digits a hash.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fingerprint(Vec<u32>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed case fingerprint: {0}")]
pub struct MalformedFingerprint(&'static str);

impl Fingerprint {
    /// The sample of `hashes` (a telling's trigram hashes, in any order).
    pub fn of(hashes: impl IntoIterator<Item = u32>) -> Fingerprint {
        Fingerprint::default().with(hashes)
    }

    /// This fingerprint with another telling's hashes added.
    pub fn with(&self, hashes: impl IntoIterator<Item = u32>) -> Fingerprint {
        let mut all: Vec<u32> = self.0.iter().copied().chain(hashes).collect();
        all.sort_unstable();
        all.dedup();
        all.truncate(FINGERPRINT_HASHES);
        Fingerprint(all)
    }

    /// Two cases' fingerprints as one (a merge).
    pub fn union(&self, other: &Fingerprint) -> Fingerprint {
        self.with(other.0.iter().copied())
    }

    /// How much of a complaint is in the tellings this fingerprint samples, 0-1, each of its
    /// trigrams counting its weight: `weighted` holds its trigram hashes, ascending and
    /// distinct, with their weights. `None` when too few of its hashes fall in the sampled
    /// range, or they weigh nothing.
    pub fn containment_of(&self, weighted: &[(u32, f32)]) -> Option<f32> {
        // Below the largest hash kept, the sample holds every hash of the tellings: there the
        // containment is exact, and the complaint's hashes in that range are a random sample.
        let cutoff = self.cutoff()?;
        let sampled = &weighted[..weighted.partition_point(|(h, _)| *h <= cutoff)];
        let total: f32 = sampled.iter().map(|(_, w)| w).sum();
        if sampled.len() < MIN_SAMPLED || total <= 0.0 {
            return None;
        }
        let held: f32 = sampled.iter().filter(|(h, _)| self.0.binary_search(h).is_ok()).map(|(_, w)| w).sum();
        Some(held / total)
    }

    /// The largest hash whose presence this fingerprint can tell (every hash when it holds fewer
    /// than it keeps); `None` when empty. [`Fingerprint::containment_of`] reads nothing above it.
    pub fn cutoff(&self) -> Option<u32> {
        let last = *self.0.last()?;
        Some(if self.0.len() < FINGERPRINT_HASHES { u32::MAX } else { last })
    }

    pub fn as_stored(&self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        // By hand: every case written carries one, and formatting machinery costs more.
        let mut out = String::with_capacity(self.0.len() * 8);
        for h in &self.0 {
            out.extend((0..8).rev().map(|i| HEX[(h >> (4 * i) & 0xf) as usize] as char));
        }
        out
    }

    /// Reads a stored fingerprint, refusing anything [`Fingerprint::as_stored`] cannot have
    /// written.
    pub fn parse(text: &str) -> Result<Fingerprint, MalformedFingerprint> {
        if !text.len().is_multiple_of(8) || !text.is_ascii() {
            return Err(MalformedFingerprint("not 8 hex digits a hash"));
        }
        let hashes = (0..text.len())
            .step_by(8)
            .map(|i| u32::from_str_radix(&text[i..i + 8], 16))
            .collect::<Result<Vec<u32>, _>>()
            .map_err(|_| MalformedFingerprint("not hex"))?;
        if hashes.len() > FINGERPRINT_HASHES || hashes.windows(2).any(|w| w[0] >= w[1]) {
            return Err(MalformedFingerprint("not the ascending sample of a telling"));
        }
        Ok(Fingerprint(hashes))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn spread(n: u32, step: u32) -> Vec<u32> {
        (0..n).map(|i| i * step).collect()
    }

    fn even(hashes: &[u32]) -> Vec<(u32, f32)> {
        hashes.iter().map(|h| (*h, 1.0)).collect()
    }

    #[test]
    fn a_copy_is_wholly_contained_and_another_text_is_not() {
        let telling = spread(100, 1000);
        let print = Fingerprint::of(telling.iter().copied());
        assert_eq!(print.containment_of(&even(&telling[20..50])), Some(1.0));
        let mut half: Vec<u32> = telling[..10].iter().copied().chain(spread(10, 1000).iter().map(|h| h + 1)).collect();
        half.sort_unstable();
        assert_eq!(print.containment_of(&even(&half)), Some(0.5));
        assert_eq!(print.containment_of(&even(&telling[..5])), None, "too few trigrams to tell");
        // What the complaint shares weighs little: a form every order carries.
        let weighted: Vec<(u32, f32)> =
            half.iter().map(|h| (*h, if telling.contains(h) { 0.1 } else { 0.9 })).collect();
        assert!(print.containment_of(&weighted).is_some_and(|c| (c - 0.1).abs() < 1e-6));
    }

    #[test]
    fn a_full_sample_judges_only_the_range_it_holds() {
        let telling = spread(1000, 1000);
        let print = Fingerprint::of(telling.iter().copied());
        assert_eq!(print.as_stored().len(), FINGERPRINT_HASHES * 8);
        // Copied from the end of the telling: none of it is in the sampled range.
        assert_eq!(print.containment_of(&even(&telling[900..])), None);
        // Spread over the telling: what falls in the range is all there.
        let every_fifth: Vec<u32> = telling.iter().step_by(5).copied().collect();
        assert_eq!(print.containment_of(&even(&every_fifth)), Some(1.0));
    }

    #[test]
    fn malformed_fingerprints_are_refused() {
        assert!(Fingerprint::parse("0000000").is_err());
        assert!(Fingerprint::parse("0000000g").is_err());
        assert!(Fingerprint::parse("0000000200000001").is_err(), "not ascending");
        assert!(Fingerprint::parse(&"0".repeat(8 * (FINGERPRINT_HASHES + 1))).is_err());
        assert_eq!(Fingerprint::parse(""), Ok(Fingerprint::default()));
    }

    proptest! {
        #[test]
        fn fingerprints_survive_storage(
            a in proptest::collection::vec(any::<u32>(), 0..300),
            b in proptest::collection::vec(any::<u32>(), 0..300),
        ) {
            let print = Fingerprint::of(a.iter().copied()).with(b.iter().copied());
            prop_assert_eq!(Fingerprint::parse(&print.as_stored()), Ok(print.clone()));
            prop_assert_eq!(print.clone(), Fingerprint::of(b.iter().copied()).union(&Fingerprint::of(a)));
        }
    }
}
