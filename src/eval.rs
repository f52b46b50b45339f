//! `mend eval grouping FILE`: how well grouping reproduces labeled cases.
//!
//! The file is canonical complaints, each with `expected_case` (the ground truth: one customer's
//! one problem). mend imports it into a fresh database and compares the cases it made with the
//! labels: pairwise precision/recall/F1 (over pairs of complaints put together) and B-cubed
//! precision/recall/F1 (per complaint, how much of its case is right). With `--train FILE` a
//! label model is trained first (as `mend train categories` does); lines that carry
//! `expected_label` are then also scored for label accuracy, per complaint and per case (a
//! case's expected label is the most common one of its complaints).

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use mend_core::CaseId;
use mend_store::Store;
use serde::Serialize;

use crate::import::{ImportFormat, Importer, Input};
use crate::settings::Settings;

#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Scores {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

impl Scores {
    fn new(precision: f64, recall: f64) -> Self {
        let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
        Self { precision, recall, f1 }
    }
}

#[derive(Debug, Serialize)]
pub struct GroupingEval {
    pub complaints: usize,
    pub expected_cases: usize,
    pub cases: usize,
    pub pairwise: Scores,
    pub b_cubed: Scores,
    /// With a trained model and `expected_label` on the lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label_accuracy: Option<LabelAccuracy>,
    pub errors: ErrorKinds,
    /// The scores of this placement with every error put right but the short follow-ups that
    /// went to another problem of the same expected label: what no better reading of labels can
    /// pass, only a better reading of what a customer's few words name (see
    /// [`ErrorKinds::follow_up_same_label`]). Present when the lines carry `expected_label`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub same_label_bound: Option<Bound>,
    /// The complaints shown to agents as a close choice (`grouping_reason.also_fits`).
    pub close_choices: CloseChoices,
}

/// How the close choices that grouping shows an agent turn out against the truth.
#[derive(Debug, Default, Serialize)]
pub struct CloseChoices {
    /// Complaints whose grouping reason names another case they fitted almost as well.
    pub flagged: usize,
    /// Of those, the ones outside their problem's place.
    pub misplaced: usize,
    /// Of those, the ones whose named case is their problem's place: one move puts them right.
    pub named_right: usize,
}

/// Scores as [`GroupingEval`] reports them.
#[derive(Debug, Serialize)]
pub struct Bound {
    pub pairwise: Scores,
    pub b_cubed: Scores,
}

/// The complaints grouping put in the wrong place, by kind, each counted once. A problem's
/// place is the case its first complaint (by time) went to; a case's problem is that of its
/// first complaint.
#[derive(Debug, Default, Serialize)]
pub struct ErrorKinds {
    /// A full telling (an order retold) in a case of its own problem but not its place.
    pub retelling_split: usize,
    /// A short follow-up outside its problem's place: in another problem's case or alone.
    pub follow_up_wrong_case: usize,
    /// A full telling in a case of another problem: two problems merged.
    pub problems_merged: usize,
    /// Of `follow_up_wrong_case`, those in the case of another problem of the customer's with
    /// the same expected label ("账单还是不对" beside two billing disputes): no label tells them
    /// apart, only the words they share with one telling.
    pub follow_up_same_label: usize,
}

/// What a labelled line says about one delivery.
struct Truth {
    case: String,
    label: Option<String>,
    received_at: DateTime<Utc>,
    detailed: bool,
}

#[derive(Debug, Serialize)]
pub struct LabelAccuracy {
    pub per_complaint: f64,
    pub per_case: f64,
}

/// Scores a clustering against the truth; `pairs` lists (predicted cluster, true cluster) per item.
pub fn score<P: Eq + std::hash::Hash + Clone, T: Eq + std::hash::Hash + Clone>(pairs: &[(P, T)]) -> (Scores, Scores) {
    let mut predicted: HashMap<P, usize> = HashMap::new();
    let mut truth: HashMap<T, usize> = HashMap::new();
    let mut both: HashMap<(P, T), usize> = HashMap::new();
    for (p, t) in pairs {
        *predicted.entry(p.clone()).or_default() += 1;
        *truth.entry(t.clone()).or_default() += 1;
        *both.entry((p.clone(), t.clone())).or_default() += 1;
    }
    let choose2 = |n: usize| (n * n.saturating_sub(1) / 2) as f64;
    let together: f64 = both.values().map(|&n| choose2(n)).sum();
    let predicted_pairs: f64 = predicted.values().map(|&n| choose2(n)).sum();
    let true_pairs: f64 = truth.values().map(|&n| choose2(n)).sum();
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 1.0 };
    let pairwise = Scores::new(ratio(together, predicted_pairs), ratio(together, true_pairs));

    let n = pairs.len().max(1) as f64;
    let (mut precision, mut recall) = (0.0, 0.0);
    for (p, t) in pairs {
        let overlap = both[&(p.clone(), t.clone())] as f64;
        precision += overlap / predicted[p] as f64;
        recall += overlap / truth[t] as f64;
    }
    (pairwise, Scores::new(precision / n, recall / n))
}

/// Scores grouping on `file` in a scratch SQLite database, or in `database` (an empty one, for
/// PostgreSQL figures); `training` first trains a label model.
pub async fn grouping(
    settings: &Settings,
    file: &Path,
    training: Option<&Path>,
    database: Option<&str>,
) -> Result<GroupingEval> {
    let untrained = settings.untrained_intake()?;
    let mut truths: HashMap<(String, String), Truth> = HashMap::new();
    let reader = std::io::BufReader::new(
        std::fs::File::open(file).with_context(|| format!("cannot open `{}`", file.display()))?,
    );
    for line in reader.lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = serde_json::from_str(&line).context("every line must be JSON")?;
        let key = |k: &str| value[k].as_str().map(str::to_owned).with_context(|| format!("a line lacks `{k}`"));
        let truth = Truth {
            case: key("expected_case")?,
            label: value["expected_label"].as_str().map(str::to_owned),
            received_at: DateTime::parse_from_rfc3339(&key("received_at")?)
                .context("`received_at` must be RFC 3339")?
                .to_utc(),
            detailed: untrained.featurizer().signature(&key("text")?).is_detailed(),
        };
        truths.insert((key("channel")?, key("source_id")?), truth);
    }

    let scratch = tempfile_dir()?;
    let url = match database {
        Some(url) => url.to_owned(),
        None => format!("sqlite://{}?mode=rwc", scratch.join("eval.db").display()),
    };
    let store = Store::connect(&url).await?;
    store.migrate().await?;
    anyhow::ensure!(
        mend_store::cases::case_summaries(store.connection(), None, 1).await?.is_empty(),
        "the evaluation needs an empty database"
    );
    if let Some(training) = training {
        let input = std::fs::read(training).with_context(|| format!("cannot read `{}`", training.display()))?;
        let now = chrono::Utc::now();
        mend_cases::labels::train(&store, untrained.featurizer(), &input, "eval", now, false, &|_| {}).await?;
    }
    let importer = Importer::new(settings, &store, settings.intake(&store).await?)?;
    importer.run(ImportFormat::Json, &Input::File(file.to_owned())).await?;

    let mut pairs = Vec::with_capacity(truths.len());
    let mut placed: Vec<(CaseId, &(String, String))> = Vec::with_capacity(truths.len());
    let mut after = None;
    let mut cases = 0;
    let mut labels = LabelTally::default();
    // Complaints whose grouping reason names a case they fitted almost as well (`also_fits`).
    let mut close_choices: HashMap<(String, String), CaseId> = HashMap::new();
    loop {
        let page = mend_store::cases::case_summaries(store.connection(), after, 1000).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.case_id);
        let ids: Vec<CaseId> = page.iter().map(|c| c.case_id).collect();
        for complaint in mend_store::complaints::complaints_of_cases(store.connection(), &ids).await? {
            let other = complaint.grouping_reason["also_fits"]["case_id"].as_str().and_then(|id| id.parse().ok());
            if let Some(other) = other {
                close_choices.insert((complaint.channel.to_string(), complaint.source_id), other);
            }
        }
        for case in page {
            cases += 1;
            let mut case_labels = Vec::new();
            for delivery in case.complaints {
                let key = (delivery.channel.to_string(), delivery.source_id);
                let Some((key, truth)) = truths.get_key_value(&key) else { continue };
                pairs.push((case.case_id, truth.case.clone()));
                placed.push((case.case_id, key));
                if let Some(label) = &truth.label {
                    labels.complaint(delivery.label.as_ref() == Some(label));
                    case_labels.push(label.as_str());
                }
            }
            labels.case(case.label.as_deref(), &case_labels);
        }
    }
    store.close().await?;
    std::fs::remove_dir_all(&scratch).ok();
    anyhow::ensure!(pairs.len() == truths.len(), "{} labeled complaints, {} grouped", truths.len(), pairs.len());
    let (pairwise, b_cubed) = score(&pairs);
    let expected_cases = truths.values().map(|t| &t.case).collect::<std::collections::HashSet<_>>().len();
    let label_accuracy = training.is_some().then(|| labels.accuracy()).flatten();
    let Placement { errors, bound, close_choices } = placement(&truths, &placed, &close_choices);
    let labelled = truths.values().all(|t| t.label.is_some());
    let same_label_bound = labelled.then(|| {
        let (pairwise, b_cubed) = score(&bound);
        Bound { pairwise, b_cubed }
    });
    Ok(GroupingEval {
        complaints: pairs.len(),
        expected_cases,
        cases,
        pairwise,
        b_cubed,
        label_accuracy,
        errors,
        same_label_bound,
        close_choices,
    })
}

/// What [`placement`] finds.
struct Placement<'a> {
    errors: ErrorKinds,
    /// (the problem each complaint would be with, its own problem) once every error is put right
    /// but [`ErrorKinds::follow_up_same_label`].
    bound: Vec<(&'a str, &'a str)>,
    close_choices: CloseChoices,
}

/// `close_choices`: the case each complaint's grouping reason says it also fits, if any.
fn placement<'a>(
    truths: &'a HashMap<(String, String), Truth>,
    placed: &[(CaseId, &(String, String))],
    close_choices: &HashMap<(String, String), CaseId>,
) -> Placement<'a> {
    // The first complaint (by time, then delivery) of each problem and of each case.
    type Time = DateTime<Utc>;
    let mut problem_home: HashMap<&str, (Time, &(String, String), CaseId)> = HashMap::new();
    let mut case_problem: HashMap<CaseId, (Time, &(String, String), &str)> = HashMap::new();
    for &(case, key) in placed {
        let truth = &truths[key];
        let at = truth.received_at;
        let home = problem_home.entry(&truth.case).or_insert((at, key, case));
        if (at, key) < (home.0, home.1) {
            *home = (at, key, case);
        }
        let first = case_problem.entry(case).or_insert((at, key, &truth.case));
        if (at, key) < (first.0, first.1) {
            *first = (at, key, &truth.case);
        }
    }
    let mut errors = ErrorKinds::default();
    let mut bound = Vec::with_capacity(placed.len());
    let mut choices = CloseChoices::default();
    for &(case, key) in placed {
        let truth = &truths[key];
        let home = problem_home[truth.case.as_str()].2;
        let at_home = home == case;
        if let Some(other) = close_choices.get(key) {
            choices.flagged += 1;
            choices.misplaced += usize::from(!at_home);
            choices.named_right += usize::from(!at_home && *other == home);
        }
        let (_, first, problem) = case_problem[&case];
        let own_problem = problem == truth.case;
        let mut with = truth.case.as_str();
        match (truth.detailed, at_home, own_problem) {
            (false, false, _) => {
                errors.follow_up_wrong_case += 1;
                if !own_problem && truth.label.is_some() && truths[first].label == truth.label {
                    errors.follow_up_same_label += 1;
                    with = problem;
                }
            }
            (true, _, false) => errors.problems_merged += 1,
            (true, false, true) => errors.retelling_split += 1,
            _ => {}
        }
        bound.push((with, truth.case.as_str()));
    }
    Placement { errors, bound, close_choices: choices }
}

/// Labels counted right and in all, per complaint and per case.
#[derive(Debug, Default)]
struct LabelTally {
    complaints: (usize, usize),
    cases: (usize, usize),
}

impl LabelTally {
    fn complaint(&mut self, right: bool) {
        self.complaints.0 += usize::from(right);
        self.complaints.1 += 1;
    }

    /// `truths`: the expected labels of the case's complaints; the most common one (the first
    /// on a tie) is the case's.
    fn case(&mut self, label: Option<&str>, truths: &[&str]) {
        let mut counts: Vec<(&str, usize)> = Vec::new();
        for t in truths {
            match counts.iter_mut().find(|(l, _)| l == t) {
                Some((_, n)) => *n += 1,
                None => counts.push((t, 1)),
            }
        }
        let Some(&(truth, _)) = counts.iter().rev().max_by_key(|(_, n)| *n) else { return };
        self.cases.0 += usize::from(label == Some(truth));
        self.cases.1 += 1;
    }

    fn accuracy(&self) -> Option<LabelAccuracy> {
        let ratio = |(right, all): (usize, usize)| right as f64 / all as f64;
        (self.complaints.1 > 0 && self.cases.1 > 0)
            .then(|| LabelAccuracy { per_complaint: ratio(self.complaints), per_case: ratio(self.cases) })
    }
}

fn tempfile_dir() -> Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("mend-eval-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_perfect_split_and_lumped_clusterings() {
        let truth = ["a", "a", "b", "b"];
        let perfect: Vec<(u8, &str)> = [1, 1, 2, 2].into_iter().zip(truth).collect();
        let (pw, b3) = score(&perfect);
        assert_eq!((pw.f1, b3.f1), (1.0, 1.0));
        let lumped: Vec<(u8, &str)> = [1, 1, 1, 1].into_iter().zip(truth).collect();
        let (pw, b3) = score(&lumped);
        assert_eq!((pw.precision, pw.recall), (2.0 / 6.0, 1.0));
        assert_eq!((b3.precision, b3.recall), (0.5, 1.0));
        let split: Vec<(u8, &str)> = [1, 2, 3, 4].into_iter().zip(truth).collect();
        let (pw, b3) = score(&split);
        assert_eq!((pw.precision, pw.recall, pw.f1), (1.0, 0.0, 0.0));
        assert_eq!((b3.precision, b3.recall), (1.0, 0.5));
    }

    #[test]
    fn errors_are_counted_by_kind_once_each() {
        let key = |n: &str| ("hotline".to_owned(), n.to_owned());
        let truth = |case: &str, hour: u32, detailed: bool| Truth {
            case: case.into(),
            label: Some("费用问题".into()),
            received_at: chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 20, hour, 0, 0).unwrap(),
            detailed,
        };
        let truths: HashMap<(String, String), Truth> = [
            (key("a-order"), truth("a", 1, true)),
            (key("a-retold"), truth("a", 2, true)),
            (key("a-short"), truth("a", 3, false)),
            (key("b-order"), truth("b", 4, true)),
            (key("b-short"), truth("b", 5, false)),
        ]
        .into_iter()
        .collect();
        let (one, two, three) = (CaseId::new(), CaseId::new(), CaseId::new());
        let keys: Vec<(String, String)> = ["a-order", "a-retold", "a-short", "b-order", "b-short"].map(key).to_vec();
        // The retelling split off, b's order merged into a's case, b's follow-up alone.
        let placed = vec![(one, &keys[0]), (two, &keys[1]), (one, &keys[2]), (one, &keys[3]), (three, &keys[4])];
        let Placement { errors, bound, .. } = placement(&truths, &placed, &HashMap::new());
        assert_eq!((errors.retelling_split, errors.follow_up_wrong_case, errors.problems_merged), (1, 1, 1));
        assert_eq!(errors.follow_up_same_label, 0, "b's follow-up is alone, in no other problem's case");
        assert!(bound.iter().all(|(with, own)| with == own), "every error put right: {bound:?}");
    }

    #[test]
    fn a_follow_up_in_another_problem_of_its_label_is_counted_and_left_in_the_bound() {
        let key = |n: &str| ("hotline".to_owned(), n.to_owned());
        let truth = |case: &str, hour: u32, detailed: bool, label: &str| Truth {
            case: case.into(),
            label: Some(label.into()),
            received_at: chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 20, hour, 0, 0).unwrap(),
            detailed,
        };
        let truths: HashMap<(String, String), Truth> = [
            (key("a-order"), truth("a", 1, true, "费用问题")),
            (key("b-order"), truth("b", 2, true, "费用问题")),
            (key("c-order"), truth("c", 3, true, "网络问题")),
            (key("a-short"), truth("a", 4, false, "费用问题")),
            (key("c-short"), truth("c", 5, false, "网络问题")),
        ]
        .into_iter()
        .collect();
        let (a, b, c) = (CaseId::new(), CaseId::new(), CaseId::new());
        let keys: Vec<(String, String)> = ["a-order", "b-order", "c-order", "a-short", "c-short"].map(key).to_vec();
        // a's follow-up went to b (the same label), c's to a (another label).
        let placed = vec![(a, &keys[0]), (b, &keys[1]), (c, &keys[2]), (b, &keys[3]), (a, &keys[4])];
        // a's follow-up was shown as also fitting a (right), c's as also fitting b (wrong), and
        // a's order as also fitting c though it is at home.
        let choices = [(keys[3].clone(), a), (keys[4].clone(), b), (keys[0].clone(), c)].into_iter().collect();
        let Placement { errors, bound, close_choices } = placement(&truths, &placed, &choices);
        assert_eq!((errors.follow_up_wrong_case, errors.follow_up_same_label), (2, 1));
        let CloseChoices { flagged, misplaced, named_right } = close_choices;
        assert_eq!((flagged, misplaced, named_right), (3, 2, 1));
        assert_eq!(bound[3], ("b", "a"), "left where it fell");
        assert_eq!(bound[4], ("c", "c"), "put right");
    }
}
