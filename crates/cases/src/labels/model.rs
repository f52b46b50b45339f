//! The label model itself: a multinomial logistic regression over a text's terms.
//!
//! A text's features are its terms (jieba words, character bigrams, taxonomy keywords, as
//! [`Signature`] holds them), each weighted `ln(1 + weight) × idf` — repeats count less and less,
//! words every order carries almost nothing — and scaled to unit length, so a long order and a
//! short follow-up speak on one scale. Trained by stochastic gradient descent with AdaGrad steps
//! and a small L2 penalty, in an order fixed by the texts, so one file always gives one model.
//!
//! Logistic regression rather than naive Bayes (which mend used first): on real orders it labels
//! 2–3 points more orders right, and its probabilities are calibrated, where naive Bayes' come
//! out near 0 or 1 and had to be tempered (measured: BENCHMARKS.md, "A linear label model").

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::features::Signature;

/// AdaGrad's base step.
const LEARNING_RATE: f32 = 0.2;
/// Passes over the examples.
const EPOCHS: u64 = 30;
/// The L2 penalty on each weight, per example seen: enough to keep a term seen once from
/// deciding alone, little enough not to blur the rest (chosen on real orders).
const L2: f32 = 1e-5;

/// A trained model: for each term its idf and its weight under each label, and each label's
/// bias.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelModel {
    labels: Vec<String>,
    bias: Vec<f32>,
    terms: FxHashMap<String, TermWeights>,
}

/// What the model knows of one term.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TermWeights {
    pub idf: f32,
    /// Its weight under each label, in the order of the model's labels.
    pub weights: Vec<f32>,
}

/// A model as the database keeps it (JSON): sorted, so one training file stores one text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredWeights {
    pub labels: Vec<String>,
    pub bias: Vec<f32>,
    pub terms: BTreeMap<String, TermWeights>,
}

/// The probability from which a label is evidence: below even odds the model cannot place the
/// text (a short follow-up in words its training orders seldom use), and its guess must neither
/// decide a complaint's category nor decide a join (see `crate::grouping`).
pub const LABEL_EVIDENCE: f32 = 0.5;

/// The label a model gives a text, and how sure it is (the probability, 0–1).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    pub label: String,
    pub confidence: f32,
    /// Every label with its probability, most likely first.
    #[serde(skip)]
    pub odds: Vec<(String, f32)>,
}

impl Prediction {
    /// Whether the model is sure enough of its label for it to count ([`LABEL_EVIDENCE`]).
    pub fn is_evidence(&self) -> bool {
        self.confidence >= LABEL_EVIDENCE
    }
}

impl LabelModel {
    /// Trains on labelled texts already read; `None` without two labels to tell apart.
    pub fn train(examples: &[(&str, &Signature)]) -> Option<Self> {
        let labels: Vec<String> = {
            let mut l: Vec<String> = examples.iter().map(|(label, _)| (*label).to_owned()).collect();
            l.sort();
            l.dedup();
            l
        };
        if labels.len() < 2 {
            return None;
        }
        let vocabulary = Vocabulary::of(examples.iter().map(|(_, s)| *s));
        let rows: Vec<Row> = examples
            .iter()
            .map(|(label, terms)| Row {
                label: labels.binary_search_by(|l| l.as_str().cmp(label)).expect("every label is listed"),
                features: features(terms, |t| vocabulary.index.get(t).map(|&i| (i, vocabulary.idf[i]))),
                key: terms.keys().fold(0u64, |h, k| h.rotate_left(5) ^ k),
            })
            .collect();
        let fit = Fit::run(labels.len(), vocabulary.idf.len(), &rows);
        let terms = vocabulary
            .terms
            .into_iter()
            .enumerate()
            .map(|(i, term)| {
                let weights = fit.weights[i * labels.len()..(i + 1) * labels.len()].to_vec();
                (term, TermWeights { idf: vocabulary.idf[i], weights })
            })
            .collect();
        Some(LabelModel { labels, bias: fit.bias, terms })
    }

    /// The most probable label of a text; `None` when no term of it was seen in training.
    pub fn predict(&self, terms: &Signature) -> Option<Prediction> {
        let x = features(terms, |t| self.terms.get(t).map(|w| (w, w.idf)));
        if x.is_empty() {
            return None;
        }
        let mut scores = self.bias.clone();
        for (term, value) in x {
            for (score, weight) in scores.iter_mut().zip(&term.weights) {
                *score += value * weight;
            }
        }
        let probabilities = softmax(&scores);
        let mut odds: Vec<(String, f32)> = self.labels.iter().cloned().zip(probabilities).collect();
        odds.sort_by(|a, b| b.1.total_cmp(&a.1));
        Some(Prediction { label: odds[0].0.clone(), confidence: odds[0].1, odds })
    }

    pub fn to_stored(&self) -> StoredWeights {
        StoredWeights {
            labels: self.labels.clone(),
            bias: self.bias.clone(),
            terms: self.terms.iter().map(|(t, w)| (t.clone(), w.clone())).collect(),
        }
    }

    /// A stored model, checked: two labels or more, a bias and a weight of every term for each.
    pub fn from_stored(stored: StoredWeights) -> Result<Self, String> {
        let n = stored.labels.len();
        if n < 2 {
            return Err(format!("{n} label(s); a model needs two or more"));
        }
        if stored.bias.len() != n {
            return Err(format!("{} biases for {n} labels", stored.bias.len()));
        }
        if let Some((term, w)) = stored.terms.iter().find(|(_, w)| w.weights.len() != n) {
            return Err(format!("term `{term}` has {} weights for {n} labels", w.weights.len()));
        }
        Ok(LabelModel { labels: stored.labels, bias: stored.bias, terms: stored.terms.into_iter().collect() })
    }
}

/// The terms of the training texts, in sorted order, and the idf of each.
struct Vocabulary {
    terms: Vec<String>,
    idf: Vec<f32>,
    index: FxHashMap<String, usize>,
}

impl Vocabulary {
    fn of<'a>(texts: impl Iterator<Item = &'a Signature>) -> Self {
        let mut documents = 0usize;
        let mut holding: BTreeMap<&str, usize> = BTreeMap::new();
        for text in texts {
            documents += 1;
            for (term, _) in text.terms() {
                *holding.entry(term).or_default() += 1;
            }
        }
        let idf = holding.values().map(|&n| ((1 + documents) as f32 / (1 + n) as f32).ln() + 1.0).collect();
        let terms: Vec<String> = holding.into_keys().map(str::to_owned).collect();
        let index = terms.iter().enumerate().map(|(i, t)| (t.clone(), i)).collect();
        Vocabulary { terms, idf, index }
    }
}

/// A text's features: each known term (as `known` finds it, with its idf) valued
/// `ln(1 + weight) × idf`, all scaled to unit length.
fn features<K>(terms: &Signature, known: impl Fn(&str) -> Option<(K, f32)>) -> Vec<(K, f32)> {
    let mut x: Vec<(K, f32)> =
        terms.terms().filter_map(|(t, w)| known(t).map(|(k, idf)| (k, (1.0 + w).ln() * idf))).collect();
    let norm = x.iter().map(|(_, v)| v * v).sum::<f32>().sqrt();
    if norm > 0.0 {
        for (_, v) in &mut x {
            *v /= norm;
        }
    }
    x
}

/// A 64-bit finalizer (MurmurHash3's): nearby inputs land far apart.
fn mix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

fn softmax(scores: &[f32]) -> Vec<f32> {
    let top = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = scores.iter().map(|s| (s - top).exp()).collect();
    let sum: f32 = e.iter().sum();
    e.into_iter().map(|v| v / sum).collect()
}

/// One training example as the fit reads it.
struct Row {
    /// Its label's index.
    label: usize,
    /// (term index, value), as [`features`] makes them.
    features: Vec<(usize, f32)>,
    /// Drawn from its terms: where it comes in a pass.
    key: u64,
}

/// Fitted weights: each label's bias, and `weights[term × labels + label]`.
struct Fit {
    bias: Vec<f32>,
    weights: Vec<f32>,
}

impl Fit {
    fn run(labels: usize, terms: usize, rows: &[Row]) -> Fit {
        let mut fit = Fit { bias: vec![0.0; labels], weights: vec![0.0; terms * labels] };
        // AdaGrad: each weight's sum of squared gradients, which shrinks its steps.
        let (mut bias_steps, mut weight_steps) = (vec![1e-8f32; labels], vec![1e-8f32; terms * labels]);
        // Each pass visits the examples shuffled, in an order drawn from their texts, so the same
        // lines in any order train the same model.
        let mut order: Vec<&Row> = rows.iter().collect();
        for epoch in 0..EPOCHS {
            order.sort_by_key(|row| mix(row.key ^ epoch));
            for row in &order {
                let mut scores = fit.bias.clone();
                for &(term, value) in &row.features {
                    for (score, weight) in scores.iter_mut().zip(&fit.weights[term * labels..]) {
                        *score += value * weight;
                    }
                }
                // The gradient of the log loss: predicted minus wanted.
                let mut gradient = softmax(&scores);
                gradient[row.label] -= 1.0;
                for (k, g) in gradient.iter().enumerate() {
                    bias_steps[k] += g * g;
                    fit.bias[k] -= LEARNING_RATE * g / bias_steps[k].sqrt();
                }
                for &(term, value) in &row.features {
                    for (k, g) in gradient.iter().enumerate() {
                        let at = term * labels + k;
                        let g = g * value + L2 * fit.weights[at];
                        weight_steps[at] += g * g;
                        fit.weights[at] -= LEARNING_RATE * g / weight_steps[at].sqrt();
                    }
                }
            }
        }
        fit
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::Featurizer;

    const LINES: [(&str, &str); 6] = [
        ("家里宽带断网了上不了网", "网络问题"),
        ("宽带一直断网,光猫红灯", "网络问题"),
        ("手机信号很差,打不了电话", "网络问题"),
        ("话费多扣了三十元", "费用问题"),
        ("这个月账单多收了流量费", "费用问题"),
        ("扣费不对,要求退还话费", "费用问题"),
    ];

    fn trained(lines: &[(&str, &str)]) -> (Featurizer, Option<LabelModel>) {
        let f = Featurizer::new(&[], &[]);
        let read: Vec<(&str, Signature)> = lines.iter().map(|(t, l)| (*l, f.signature(t))).collect();
        let examples: Vec<(&str, &Signature)> = read.iter().map(|(l, s)| (*l, s)).collect();
        let model = LabelModel::train(&examples);
        (f, model)
    }

    #[test]
    fn a_model_labels_texts_like_those_it_was_trained_on() {
        let (f, model) = trained(&LINES);
        let model = model.expect("two labels");
        let outage = model.predict(&f.signature("宽带又断网了")).expect("known words");
        assert_eq!(outage.label, "网络问题");
        assert!(outage.confidence > 0.5 && outage.confidence <= 1.0);
        let total: f32 = outage.odds.iter().map(|(_, p)| p).sum();
        assert!((total - 1.0).abs() < 1e-4, "the odds are probabilities: {total}");
        assert_eq!(model.predict(&f.signature("多扣的话费还没退")).unwrap().label, "费用问题");
        assert_eq!(model.predict(&f.signature("zzz")), None, "nothing it has seen");
        assert!(trained(&LINES[..3]).1.is_none(), "one label is nothing to tell apart");
    }

    #[test]
    fn one_file_trains_one_model_whatever_the_order_of_its_lines() {
        let (_, forward) = trained(&LINES);
        let mut reversed = LINES;
        reversed.reverse();
        let (_, backward) = trained(&reversed);
        assert_eq!(forward.unwrap().to_stored(), backward.unwrap().to_stored());
    }

    #[test]
    fn a_stored_model_reads_back_and_one_that_does_not_add_up_is_refused() {
        let (f, model) = trained(&LINES);
        let stored = model.unwrap().to_stored();
        let json = serde_json::to_string(&stored).unwrap();
        let back = LabelModel::from_stored(serde_json::from_str(&json).unwrap()).unwrap();
        assert_eq!(back.predict(&f.signature("光猫红灯")).unwrap().label, "网络问题");
        let mut short = stored.clone();
        short.bias.pop();
        assert!(LabelModel::from_stored(short).unwrap_err().contains("biases"));
        let mut ragged = stored;
        ragged.terms.values_mut().next().unwrap().weights.pop();
        assert!(LabelModel::from_stored(ragged).unwrap_err().contains("weights"));
    }
}
