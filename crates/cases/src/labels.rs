//! Labels learned from a call center's own labelled orders: "which kind of problem is this?"
//!
//! The keyword taxonomy guesses a category from words it was told about; on agent-written orders
//! it misreads (a broadband order filed under a store's attitude). A [`LabelModel`] is trained
//! on `text<TAB>label` lines instead: a multinomial naive Bayes over the same terms grouping
//! compares (jieba words, character bigrams, taxonomy keywords). Naive Bayes because it trains
//! in one pass, needs no tuning to be good on a thousand short documents, and its model is
//! plain counts that a database keeps as JSON and a new training simply replaces.
//!
//! Grouping takes the label as evidence (see [`crate::grouping`]); a deployment without a model
//! works from the taxonomy alone.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use mend_store::Store;
use mend_store::label_models::{StoredLabelModel, current_label_model, replace_label_model};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::CasesError;
use crate::features::{Featurizer, Signature, term_key};

/// Laplace smoothing of term counts: a term a label never saw is unlikely, not impossible.
const SMOOTHING: f32 = 0.3;
/// Cross-validation folds `mend train categories` reports accuracy over.
pub const FOLDS: usize = 5;

/// One labelled text of a training file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    pub text: String,
    pub label: String,
}

/// A line of a training file that could not be read, by number (from 1) and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BadLine {
    pub line: usize,
    pub reason: String,
}

/// Reads `text<TAB>label` lines; blank lines are skipped, and every other line that is not one
/// text and one label is reported rather than trained on.
pub fn parse_examples(input: &[u8]) -> (Vec<Example>, Vec<BadLine>) {
    let (mut examples, mut bad) = (Vec::new(), Vec::new());
    for (index, raw) in input.split(|b| *b == b'\n').enumerate() {
        let line = index + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let Ok(text) = std::str::from_utf8(raw) else {
            bad.push(BadLine { line, reason: "not UTF-8".into() });
            continue;
        };
        let mut fields = text.split('\t');
        let reason = match (fields.next().map(str::trim), fields.next().map(str::trim), fields.next()) {
            (Some(text), Some(label), None) if !text.is_empty() && !label.is_empty() => {
                examples.push(Example { text: text.to_owned(), label: label.to_owned() });
                continue;
            }
            (_, None, _) => "no tab: expected text<TAB>label",
            (_, _, Some(_)) => "more than one tab: expected text<TAB>label",
            (Some(""), _, _) => "the text is empty",
            _ => "the label is empty",
        };
        bad.push(BadLine { line, reason: reason.into() });
    }
    (examples, bad)
}

/// What training counted: per label its documents and the weight of each term. This is what
/// the database keeps; [`LabelModel`] is made from it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LabelCounts {
    /// Sorted, so two trainings on the same lines store the same model.
    pub labels: Vec<String>,
    pub documents: Vec<u32>,
    /// Term → its weight under each label, in the order of `labels`.
    pub terms: BTreeMap<String, Vec<f32>>,
}

impl LabelCounts {
    /// Counts labelled texts already read (training and every fold of its cross-validation read
    /// each text once).
    fn count<'a>(examples: impl Iterator<Item = (&'a str, &'a Signature)> + Clone) -> Self {
        let labels: Vec<String> = {
            let mut l: Vec<String> = examples.clone().map(|(label, _)| label.to_owned()).collect();
            l.sort();
            l.dedup();
            l
        };
        let mut counts = LabelCounts { documents: vec![0; labels.len()], labels, terms: BTreeMap::new() };
        for (label, terms) in examples {
            let index = counts.labels.binary_search_by(|l| l.as_str().cmp(label)).expect("every label is listed");
            counts.documents[index] += 1;
            for (term, weight) in terms.terms() {
                let row = counts.terms.entry(term.to_owned()).or_insert_with(|| vec![0.0; counts.labels.len()]);
                row[index] += weight;
            }
        }
        counts
    }

    pub fn examples(&self) -> u32 {
        self.documents.iter().sum()
    }

    /// Whether these counts make a model: two labels or more, a count of documents and of each
    /// term for every label.
    pub fn check(&self) -> Result<(), String> {
        let n = self.labels.len();
        if n < 2 {
            return Err(format!("{n} label(s); a model needs two or more"));
        }
        if self.documents.len() != n {
            return Err(format!("{} document counts for {n} labels", self.documents.len()));
        }
        match self.terms.iter().find(|(_, row)| row.len() != n) {
            Some((term, row)) => Err(format!("term `{term}` has {} counts for {n} labels", row.len())),
            None => Ok(()),
        }
    }
}

/// A trained classifier: log probabilities ready to add up.
#[derive(Debug, Clone)]
pub struct LabelModel {
    labels: Vec<String>,
    log_prior: Vec<f32>,
    log_likelihood: FxHashMap<String, Vec<f32>>,
}

/// The label a model gives a text, and how sure it is (the posterior probability, 0–1).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    pub label: String,
    pub confidence: f32,
    /// Every label with its probability, most likely first.
    #[serde(skip)]
    pub odds: Vec<(String, f32)>,
}

impl LabelModel {
    pub fn new(counts: &LabelCounts) -> Self {
        let n = counts.labels.len();
        let total_documents = counts.examples().max(1) as f32;
        let log_prior =
            counts.documents.iter().map(|&d| ((d as f32 + 1.0) / (total_documents + n as f32)).ln()).collect();
        let vocabulary = counts.terms.len() as f32;
        let mut per_label = vec![0.0f32; n];
        for row in counts.terms.values() {
            for (sum, w) in per_label.iter_mut().zip(row) {
                *sum += w;
            }
        }
        let log_likelihood = counts
            .terms
            .iter()
            .map(|(term, row)| {
                let logs =
                    row.iter().zip(&per_label).map(|(w, sum)| ((w + SMOOTHING) / (sum + SMOOTHING * vocabulary)).ln());
                (term.clone(), logs.collect())
            })
            .collect();
        Self { labels: counts.labels.clone(), log_prior, log_likelihood }
    }

    /// The most probable label of a text's terms; `None` when no term was seen in training
    /// (the prior alone says nothing about this text).
    pub fn predict(&self, terms: &Signature) -> Option<Prediction> {
        let mut scores = self.log_prior.clone();
        let mut known = false;
        for (term, weight) in terms.terms() {
            if let Some(logs) = self.log_likelihood.get(term) {
                known = true;
                for (score, log) in scores.iter_mut().zip(logs) {
                    *score += weight * log;
                }
            }
        }
        if !known {
            return None;
        }
        let (best, top) = scores.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).expect("a model has labels");
        // Naive Bayes counts every term as independent evidence, so a long text's odds come out
        // near 0 or 1 whatever; tempering the log odds by the square root of the text's weight
        // makes a second guess count where it is close (measured on real orders: BENCHMARKS.md).
        let temper = terms.terms().map(|(_, w)| w).sum::<f32>().max(1.0).sqrt();
        let likelihood: Vec<f32> = scores.iter().map(|s| ((s - top) / temper).exp()).collect();
        let evidence: f32 = likelihood.iter().sum();
        let mut odds: Vec<(String, f32)> =
            self.labels.iter().zip(&likelihood).map(|(l, p)| (l.clone(), p / evidence)).collect();
        odds.sort_by(|a, b| b.1.total_cmp(&a.1));
        Some(Prediction { label: self.labels[best].clone(), confidence: odds[0].1, odds })
    }
}

/// The share of `examples` labelled right by models trained on the other folds: what to expect
/// on orders the model has not seen. Examples go to folds by a hash of their text, so the
/// figure does not depend on the file's order.
/// `signatures` are the examples' texts as read.
fn cross_validate(examples: &[Example], signatures: &[Signature], folds: usize) -> f64 {
    let fold_of: Vec<usize> = examples.iter().map(|e| (term_key(&e.text) % folds as u64) as usize).collect();
    let mut right = 0usize;
    for fold in 0..folds {
        let training = examples
            .iter()
            .zip(&fold_of)
            .zip(signatures)
            .filter(|((_, f), _)| **f != fold)
            .map(|((e, _), terms)| (e.label.as_str(), terms));
        let model = LabelModel::new(&LabelCounts::count(training));
        right += examples
            .iter()
            .zip(&fold_of)
            .zip(signatures)
            .filter(|((e, f), s)| **f == fold && model.predict(s).is_some_and(|p| p.label == e.label))
            .count();
    }
    right as f64 / examples.len().max(1) as f64
}

/// A model as an intake holds it: which training made it, for knowing when it was replaced.
#[derive(Debug)]
pub struct TrainedModel {
    pub id: uuid::Uuid,
    pub model: LabelModel,
}

/// The model in use, if one was trained.
pub async fn load(store: &Store) -> Result<Option<TrainedModel>, CasesError> {
    let Some(stored) = current_label_model(store.connection()).await? else {
        return Ok(None);
    };
    let corrupt = |problem: String| mend_store::StoreError::corrupt("label_models", stored.id, problem);
    let counts: LabelCounts = serde_json::from_str(&stored.counts).map_err(|e| corrupt(format!("counts: {e}")))?;
    counts.check().map_err(corrupt)?;
    Ok(Some(TrainedModel { id: stored.id, model: LabelModel::new(&counts) }))
}

/// What `mend train categories` did.
#[derive(Debug, Clone, Serialize)]
pub struct TrainingReport {
    pub model_id: uuid::Uuid,
    pub examples: usize,
    /// Examples per label.
    pub labels: BTreeMap<String, usize>,
    pub bad_lines: Vec<BadLine>,
    pub folds: usize,
    pub cross_validated_accuracy: f64,
    /// The model this one replaced.
    pub replaced: Option<uuid::Uuid>,
}

/// Trains a model on the `text<TAB>label` lines of `input` (bad lines are reported and
/// skipped), measures it by cross-validation and puts it in use in place of any earlier one.
pub async fn train(
    store: &Store,
    featurizer: &Featurizer,
    input: &[u8],
    actor: &str,
    now: DateTime<Utc>,
) -> Result<TrainingReport, CasesError> {
    let (examples, bad_lines) = parse_examples(input);
    let read: Vec<Signature> = examples.iter().map(|e| featurizer.signature(&e.text)).collect();
    let counts = LabelCounts::count(examples.iter().zip(&read).map(|(e, terms)| (e.label.as_str(), terms)));
    if counts.labels.len() < 2 {
        return Err(CasesError::Invalid(format!(
            "training needs examples of at least two labels; the file has {} readable lines of {} label(s)",
            examples.len(),
            counts.labels.len()
        )));
    }
    let folds = FOLDS.min(examples.len());
    let accuracy = cross_validate(&examples, &read, folds);
    let model_id = uuid::Uuid::now_v7();
    let stored = StoredLabelModel {
        id: model_id,
        trained_at: now,
        trained_by: actor.to_owned(),
        examples: i32::try_from(examples.len()).map_err(|_| CasesError::Invalid("too many examples".into()))?,
        cross_validated_accuracy: accuracy,
        counts: serde_json::to_string(&counts).expect("counts serialize"),
    };
    let tx = store.begin_write().await?;
    let replaced = replace_label_model(&tx, stored).await?;
    mend_store::commit(tx).await?;
    let mut labels = BTreeMap::new();
    for e in &examples {
        *labels.entry(e.label.clone()).or_default() += 1;
    }
    Ok(TrainingReport {
        model_id,
        examples: examples.len(),
        labels,
        bad_lines,
        folds,
        cross_validated_accuracy: accuracy,
        replaced,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn featurizer() -> Featurizer {
        Featurizer::new(&[], &[])
    }

    #[test]
    fn bad_lines_are_reported_by_number_and_the_rest_is_read() {
        let input =
            "宽带断网三天\t网络问题\n\n没有标签\n话费多扣\t\n\t费用问题\na\tb\tc\n话费多扣了\t费用问题\r\n".as_bytes();
        let mut bytes = input.to_vec();
        bytes.extend_from_slice(b"\xff\xfe\t\xe8\xb4\xb9\n");
        let (examples, bad) = parse_examples(&bytes);
        assert_eq!(examples.len(), 2);
        assert_eq!(examples[1], Example { text: "话费多扣了".into(), label: "费用问题".into() });
        let lines: Vec<usize> = bad.iter().map(|b| b.line).collect();
        assert_eq!(lines, [3, 4, 5, 6, 8]);
        assert!(bad[0].reason.contains("no tab"), "{}", bad[0].reason);
        assert!(bad[4].reason.contains("UTF-8"), "{}", bad[4].reason);
    }

    #[test]
    fn a_model_labels_texts_like_those_it_was_trained_on() {
        let lines = [
            ("家里宽带断网了上不了网", "网络问题"),
            ("宽带一直断网,光猫红灯", "网络问题"),
            ("手机信号很差,打不了电话", "网络问题"),
            ("话费多扣了三十元", "费用问题"),
            ("这个月账单多收了流量费", "费用问题"),
            ("扣费不对,要求退还话费", "费用问题"),
        ];
        let examples: Vec<Example> =
            lines.iter().map(|(t, l)| Example { text: (*t).into(), label: (*l).into() }).collect();
        let f = featurizer();
        let read: Vec<Signature> = examples.iter().map(|e| f.signature(&e.text)).collect();
        let counts = LabelCounts::count(examples.iter().zip(&read).map(|(e, terms)| (e.label.as_str(), terms)));
        assert_eq!(counts.labels, ["网络问题", "费用问题"]);
        assert_eq!(counts.documents, [3, 3]);
        let model = LabelModel::new(&counts);
        let outage = model.predict(&f.signature("宽带又断网了")).expect("known words");
        assert_eq!(outage.label, "网络问题");
        assert!(outage.confidence > 0.5 && outage.confidence <= 1.0);
        assert_eq!(model.predict(&f.signature("多扣的话费还没退")).unwrap().label, "费用问题");
        assert_eq!(model.predict(&f.signature("zzz")), None, "nothing it has seen");
        let round_trip: LabelCounts = serde_json::from_str(&serde_json::to_string(&counts).unwrap()).unwrap();
        assert_eq!(round_trip, counts);
        assert_eq!(counts.check(), Ok(()));
        let mut short = counts.clone();
        short.documents.pop();
        assert!(
            short.check().unwrap_err().contains("document counts"),
            "a stored model that does not add up is refused"
        );
    }
}
