//! Labels learned from a call center's own labelled orders: "which kind of problem is this?"
//!
//! The keyword taxonomy guesses a category from words it was told about; on agent-written orders
//! it misreads (a broadband order filed under a store's attitude). A [`LabelModel`] is trained
//! on `text<TAB>label` lines instead: a logistic regression over the same terms grouping
//! compares (jieba words, character bigrams, taxonomy keywords; see [`model`]). The database
//! keeps its weights as JSON, and a new training replaces them.
//!
//! Grouping takes the label as evidence (see [`crate::grouping`]); a deployment without a model
//! works from the taxonomy alone.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use mend_store::Store;
use mend_store::label_models::{StoredLabelModel, current_label_model, replace_label_model};
use serde::Serialize;

use crate::CasesError;
use crate::features::{Featurizer, Signature, term_key};

mod model;

pub use model::{LABEL_EVIDENCE, LabelModel, Prediction, StoredWeights, TermWeights};

/// Cross-validation folds `mend train categories` reports accuracy over.
pub const FOLDS: usize = 5;

/// How much lower than the model in use a new model's cross-validated accuracy may be and still
/// replace it unasked: about what two cross-validations of one file differ by.
const WORSE_MARGIN: f64 = 0.02;

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

/// The share of `examples` labelled right by models trained on the other folds: what to expect
/// on orders the model has not seen. Examples go to folds by a hash of their text, so the
/// figure does not depend on the file's order.
/// `signatures` are the examples' texts as read.
/// `starting` hears of each fold as it starts.
fn cross_validate(examples: &[Example], signatures: &[Signature], folds: usize, starting: impl Fn(usize)) -> f64 {
    let fold_of: Vec<usize> = examples.iter().map(|e| (term_key(&e.text) % folds as u64) as usize).collect();
    let mut right = 0usize;
    for fold in 0..folds {
        starting(fold);
        let training: Vec<(&str, &Signature)> = examples
            .iter()
            .zip(&fold_of)
            .zip(signatures)
            .filter(|((_, f), _)| **f != fold)
            .map(|((e, _), terms)| (e.label.as_str(), terms))
            .collect();
        // A fold whose rest holds one label trains nothing: its examples count as wrong.
        let Some(model) = LabelModel::train(&training) else { continue };
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
    let weights: StoredWeights = serde_json::from_str(&stored.weights).map_err(|e| {
        corrupt(format!("{e}; a model trained by an earlier mend (naive Bayes counts) reads so: train it again"))
    })?;
    Ok(Some(TrainedModel { id: stored.id, model: LabelModel::from_stored(weights).map_err(corrupt)? }))
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

/// How far a training has got, for a progress display: `done` of `steps` (reading the texts,
/// the model, one model per cross-validation fold), and what comes next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrainingStep {
    pub done: usize,
    pub steps: usize,
    pub next: &'static str,
}

/// Trains a model on the `text<TAB>label` lines of `input` (bad lines are reported and
/// skipped), measures it by cross-validation and puts it in use in place of any earlier one —
/// unless it does clearly worse than the one in use (a wrong or truncated file) and
/// `even_if_worse` is not set. `progress` hears of each step (tens of thousands of orders take a
/// while).
pub async fn train(
    store: &Store,
    featurizer: &Featurizer,
    input: &[u8],
    actor: &str,
    now: DateTime<Utc>,
    even_if_worse: bool,
    progress: &dyn Fn(TrainingStep),
) -> Result<TrainingReport, CasesError> {
    let (examples, bad_lines) = parse_examples(input);
    let folds = FOLDS.min(examples.len());
    let steps = 2 + folds;
    progress(TrainingStep { done: 0, steps, next: "reading the texts" });
    let read: Vec<Signature> = examples.iter().map(|e| featurizer.signature(&e.text)).collect();
    progress(TrainingStep { done: 1, steps, next: "training the model" });
    let mut labels: BTreeMap<String, usize> = BTreeMap::new();
    for e in &examples {
        *labels.entry(e.label.clone()).or_default() += 1;
    }
    let training: Vec<(&str, &Signature)> = examples.iter().zip(&read).map(|(e, s)| (e.label.as_str(), s)).collect();
    let Some(model) = LabelModel::train(&training) else {
        // The lines it could not read say why, when that is all there was.
        let unread: String =
            bad_lines.iter().take(3).map(|bad| format!("; line {}: {}", bad.line, bad.reason)).collect();
        return Err(CasesError::Invalid(format!(
            "training needs examples of at least two labels; the file has {} readable lines of {} label(s){unread}",
            examples.len(),
            labels.len()
        )));
    };
    let accuracy = cross_validate(&examples, &read, folds, |fold| {
        progress(TrainingStep { done: 2 + fold, steps, next: "cross-validating" })
    });
    // A model that does no better than always answering the commonest label reads nothing from
    // the texts (two lines, a file of one label's orders with a few strays): it would put a
    // label on every complaint that means nothing.
    let (commonest, count) = labels.iter().max_by_key(|(_, n)| **n).map(|(l, n)| (l.as_str(), *n)).unwrap_or_default();
    let guessing = count as f64 / examples.len().max(1) as f64;
    if !even_if_worse && accuracy <= guessing {
        return Err(CasesError::Refused(format!(
            "the new model's cross-validated accuracy is {accuracy:.3} on {} examples, no better than \
             always answering `{commonest}` ({guessing:.3}): not put in use (--even-if-worse puts it in use anyway)",
            examples.len()
        )));
    }
    // Read before the write transaction: the model in use is large, and parsing it must not keep
    // other writers waiting.
    if !even_if_worse
        && let Some(in_use) = current_label_model(store.connection()).await?
        && accuracy < in_use.cross_validated_accuracy - WORSE_MARGIN
        // A model an earlier mend stored cannot be used: anything is better.
        && serde_json::from_str::<StoredWeights>(&in_use.weights).is_ok()
    {
        return Err(CasesError::Refused(format!(
            "the new model's cross-validated accuracy is {accuracy:.3} on {} examples, the model in use \
             ({}) scored {:.3} on {}: kept the model in use (--even-if-worse puts the new one in use anyway)",
            examples.len(),
            in_use.id,
            in_use.cross_validated_accuracy,
            in_use.examples
        )));
    }
    let model_id = uuid::Uuid::now_v7();
    let stored = StoredLabelModel {
        id: model_id,
        trained_at: now,
        trained_by: actor.to_owned(),
        examples: i32::try_from(examples.len()).map_err(|_| CasesError::Invalid("too many examples".into()))?,
        cross_validated_accuracy: accuracy,
        weights: serde_json::to_string(&model.to_stored()).expect("weights serialize"),
    };
    let tx = store.begin_write().await?;
    let replaced = replace_label_model(&tx, stored).await?;
    mend_store::commit(tx).await?;
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
}
