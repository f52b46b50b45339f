use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::text_enum::text_enum;
use crate::{CaseId, CustomerId, Fingerprint, MergeId};

text_enum! {
    /// The lifecycle of a case.
    pub enum CaseStatus ("case status") {
        Open = "open",
        Closed = "closed",
        /// Folded into another case (`merged_into`); its complaints are there now.
        Merged = "merged",
    }
}

/// One customer problem: the complaints that are about it, from every channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Case {
    pub id: CaseId,
    pub customer_id: CustomerId,
    pub category: String,
    pub status: CaseStatus,
    pub escalation_risk: bool,
    /// The problem came back after the case was closed, or the customer says a repair did not
    /// hold (`[taxonomy] repeat_failure_patterns`).
    pub repeat_failure: bool,
    pub complaint_count: i32,
    pub first_complaint_at: DateTime<Utc>,
    pub last_complaint_at: DateTime<Utc>,
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    /// The strongest terms of its complaints, for similarity; never shown.
    #[serde(skip)]
    pub terms: CaseTerms,
    /// A sample of its full tellings' character trigrams, to recognise a copy of one; never shown.
    #[serde(skip)]
    pub fingerprint: Fingerprint,
    /// Categories of cases merged into this one.
    pub extra_categories: Vec<String>,
    pub merged_into: Option<CaseId>,
    /// The customer merge that merged this case into another.
    pub merged_by: Option<MergeId>,
    pub split_from: Option<CaseId>,
    pub reopened_at: Option<DateTime<Utc>>,
    /// The kind of problem a trained model reads in the complaint that opened it (see
    /// `mend train categories`), next to the taxonomy's `category`; none without a model.
    pub label: Option<String>,
}

/// A case's weighted terms as stored: `term weight` pairs separated by tabs, weights with two
/// decimals. The text is checked when it is made or read, so reading the terms cannot fail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseTerms(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed case term `{0}` (expected `term weight`)")]
pub struct MalformedTerms(String);

impl CaseTerms {
    /// Terms from `(text, weight)` pairs; texts hold no tab (the featurizer splits on
    /// whitespace), weights keep two decimals.
    pub fn from_terms<'a>(terms: impl IntoIterator<Item = (&'a str, f32)>) -> CaseTerms {
        use std::fmt::Write;
        let mut out = String::new();
        for (i, (text, weight)) in terms.into_iter().enumerate() {
            if i > 0 {
                out.push('\t');
            }
            // Integer formatting: float formatting with a precision costs far more.
            let hundredths = (weight * 100.0).round() as i64;
            let sign = if hundredths < 0 { "-" } else { "" };
            let abs = hundredths.unsigned_abs();
            write!(out, "{text} {sign}{}.{:02}", abs / 100, abs % 100).expect("writing to a String cannot fail");
        }
        CaseTerms(out)
    }

    /// Reads stored terms, refusing any pair that is not `term weight`.
    pub fn parse(text: String) -> Result<CaseTerms, MalformedTerms> {
        if let Some(bad) = text.split('\t').filter(|p| !p.is_empty()).find(|p| split_term(p).is_none()) {
            return Err(MalformedTerms(bad.to_owned()));
        }
        Ok(CaseTerms(text))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, f32)> {
        self.0.split('\t').filter_map(split_term)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn split_term(pair: &str) -> Option<(&str, f32)> {
    let (text, weight) = pair.rsplit_once(' ')?;
    Some((text, weight.parse().ok().filter(|w: &f32| w.is_finite())?))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn terms_read_back_to_two_decimals() {
        let terms = CaseTerms::from_terms([("光猫", 1.234), ("断网", 0.5), ("red light", -0.016)]);
        assert_eq!(terms.as_str(), "光猫 1.23\t断网 0.50\tred light -0.02");
        let back: Vec<_> =
            CaseTerms::parse(terms.as_str().to_owned()).unwrap().iter().map(|(t, w)| (t.to_owned(), w)).collect();
        assert_eq!(back, [("光猫".to_owned(), 1.23), ("断网".to_owned(), 0.5), ("red light".to_owned(), -0.02)]);
        assert!(CaseTerms::parse(String::new()).unwrap().is_empty());
    }

    #[test]
    fn malformed_terms_are_refused() {
        assert!(CaseTerms::parse("光猫 1.2\t断网".into()).is_err());
        assert!(CaseTerms::parse("光猫 heavy".into()).is_err());
        assert!(CaseTerms::parse("光猫 NaN".into()).is_err());
    }

    proptest! {
        #[test]
        fn any_terms_survive_storage(terms in proptest::collection::vec(("[^\t\n ]{1,8}( [^\t\n ]{1,4})?", -50.0f32..50.0), 0..12)) {
            let made = CaseTerms::from_terms(terms.iter().map(|(t, w)| (t.as_str(), *w)));
            let read = CaseTerms::parse(made.as_str().to_owned()).unwrap();
            prop_assert_eq!(read.iter().count(), terms.len());
            for ((text, weight), (t, w)) in read.iter().zip(&terms) {
                prop_assert_eq!(text, t.as_str());
                prop_assert!((weight - w).abs() <= 0.005 + 1e-4);
            }
        }
    }
}
