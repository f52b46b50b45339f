//! Problem categories from the configured taxonomy.
//!
//! Each category has keywords (phrases that name its problem) and synonyms (weaker, looser
//! phrasings). A text scores every category by the phrases it contains — a keyword counts
//! twice a synonym, and a phrase made of whole words of jieba's segmentation counts half as
//! much again as one found inside a longer word. Latin phrases ("app", "5g") match whole words only.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use mend_core::CategorySource;
use serde::{Deserialize, Serialize};

use crate::CasesError;
use crate::features::Phrases;
use crate::labels::Prediction;

/// The category of complaints that match nothing else.
pub const OTHER: &str = "other";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryDef {
    /// Stable id, used in storage, exports and policies (`broadband_outage`).
    pub id: String,
    /// What people read (`宽带故障`).
    pub name: String,
    /// Words and phrases whose presence suggests this category.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Looser phrasings: they count, half as much as keywords.
    #[serde(default)]
    pub synonyms: Vec<String>,
    /// The wider class the category falls under (`网络问题` for an outage, a slow network and a
    /// weak signal): a short follow-up's few words often name a neighbour of its order's
    /// category ("网速还是很慢" after a signal order), so categories of one family are related.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Taxonomy {
    #[serde(default)]
    pub categories: Vec<CategoryDef>,
    /// A trained model's labels (`mend train categories`) and the category each stands for: a
    /// complaint so labelled takes that category, whatever its keywords say.
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    /// What customers say when they threaten to take the complaint over the desk's head (12315,
    /// 工信部, 曝光): whatever its category, the case is at escalation risk, as with a formal
    /// complaint.
    #[serde(default)]
    pub escalation_phrases: Vec<String>,
    /// Regular expressions for a customer saying the problem keeps coming back or was reported
    /// before (报修三次, 又断了, 反复): the case is a repeat failure, as one reopened after it was
    /// closed — a sooner call, and a script that owns it.
    #[serde(default)]
    pub repeat_failure_patterns: Vec<String>,
}

/// The category a complaint got, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Classification {
    pub category: String,
    /// `given` (the channel said so), `classified` (keywords matched) or `default` (nothing did).
    pub source: CategorySource,
    pub matched_terms: Vec<String>,
    /// Other categories whose phrases the text also holds, strongest first: a complaint about a
    /// broadband repair that never came is about the outage too.
    pub also: Vec<String>,
}

/// One phrase of the taxonomy.
#[derive(Debug, Clone)]
struct Pattern {
    category: usize,
    phrase: String,
    weight: f32,
    /// Latin-only phrases must stand as whole words ("app" is not in "happy").
    whole_word: bool,
}

const KEYWORD_WEIGHT: f32 = 2.0;
const SYNONYM_WEIGHT: f32 = 1.0;
/// Bonus factor for a phrase made of whole words in the segmentation (measured on the real
/// orders' development half: counting phrases of several words, such as 又断了, as well as
/// phrases of one, raised untrained pairwise F1 from 0.861 to 0.864).
const WHOLE_TOKEN_FACTOR: f32 = 1.5;

/// Scores text against every category's phrases in one pass.
#[derive(Debug, Clone)]
pub struct Classifier {
    categories: Vec<CategoryDef>,
    automaton: AhoCorasick,
    patterns: Vec<Pattern>,
    /// Channel boilerplate ("[公众号留言]", "到厅反映") would otherwise read as problem words
    /// (公众号 is an app problem, 营业厅 a store one).
    noise: Phrases,
    /// See [`Taxonomy::labels`].
    label_categories: std::collections::BTreeMap<String, String>,
    /// Each category's kin: the other categories of its family ([`CategoryDef::family`]).
    kin: std::collections::HashMap<String, Vec<String>>,
    /// See [`Taxonomy::escalation_phrases`].
    escalation: Phrases,
    /// See [`Taxonomy::repeat_failure_patterns`]; `None` when there are none.
    repeat_failure: Option<regex::Regex>,
}

/// One expression that matches where any of `patterns` does (only whether one does matters,
/// not which). Each pattern is compiled alone first, so an error names the bad one.
fn any_of(patterns: &[String]) -> Result<Option<regex::Regex>, CasesError> {
    let invalid =
        |e: regex::Error| CasesError::Taxonomy(format!("a pattern of `repeat_failure_patterns` is not valid: {e}"));
    for pattern in patterns {
        // An empty pattern matches every text: every case would be a repeat failure.
        if regex::Regex::new(pattern).map_err(invalid)?.is_match("") {
            return Err(CasesError::Taxonomy(format!(
                "the pattern `{pattern}` of `repeat_failure_patterns` matches an empty text, so every complaint"
            )));
        }
    }
    if patterns.is_empty() {
        return Ok(None);
    }
    let whole = patterns.iter().map(|p| format!("(?:{p})")).collect::<Vec<_>>().join("|");
    regex::Regex::new(&whole).map(Some).map_err(invalid)
}

impl Classifier {
    /// `noise_phrases` are removed from texts before they are scored.
    pub fn new(taxonomy: &Taxonomy, noise_phrases: &[String]) -> Result<Self, CasesError> {
        let mut seen = std::collections::HashSet::new();
        for c in &taxonomy.categories {
            let word = |ch: char| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-';
            if c.id.is_empty() || !c.id.chars().all(word) {
                return Err(CasesError::Taxonomy(format!(
                    "category `{}` needs an id of letters, digits, `_` or `-` (got `{}`)",
                    c.name, c.id
                )));
            }
            if !seen.insert(c.id.as_str()) {
                return Err(CasesError::Taxonomy(format!("category id `{}` appears twice", c.id)));
            }
        }
        for (label, category) in &taxonomy.labels {
            if category != OTHER && !seen.contains(category.as_str()) {
                return Err(CasesError::Taxonomy(format!(
                    "label `{label}` stands for `{category}`, which is not a category of the taxonomy"
                )));
            }
        }
        let mut patterns = Vec::new();
        for (i, c) in taxonomy.categories.iter().enumerate() {
            let phrases =
                c.keywords.iter().map(|k| (k, KEYWORD_WEIGHT)).chain(c.synonyms.iter().map(|s| (s, SYNONYM_WEIGHT)));
            for (phrase, weight) in phrases {
                let phrase = phrase.trim().to_lowercase();
                if phrase.is_empty() {
                    continue;
                }
                let whole_word = phrase.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == ' ');
                patterns.push(Pattern { category: i, phrase, weight, whole_word });
            }
        }
        let automaton = AhoCorasickBuilder::new()
            .match_kind(MatchKind::Standard)
            .ascii_case_insensitive(true)
            .build(patterns.iter().map(|p| &p.phrase))
            .map_err(|e| CasesError::Taxonomy(e.to_string()))?;
        let kin = taxonomy
            .categories
            .iter()
            .map(|c| {
                let family =
                    taxonomy.categories.iter().filter(|o| o.id != c.id && o.family.is_some() && o.family == c.family);
                (c.id.clone(), family.map(|o| o.id.clone()).collect())
            })
            .collect();
        Ok(Self {
            kin,
            categories: taxonomy.categories.clone(),
            automaton,
            patterns,
            noise: Phrases::new(noise_phrases),
            label_categories: taxonomy.labels.clone(),
            escalation: Phrases::new(&taxonomy.escalation_phrases),
            repeat_failure: any_of(&taxonomy.repeat_failure_patterns)?,
        })
    }

    /// `classification` of a text the trained model labelled `label`: a label the model is sure
    /// of ([`Prediction::is_evidence`]) and that configuration maps to a category decides it,
    /// unless the channel gave one; the keywords' category stays among the others the text
    /// mentions. An unsure label leaves the keywords' reading: on a short follow-up the model
    /// trained on full orders guesses ("携号转网还是办不了" read as a billing dispute at 0.24), and
    /// its guess put the follow-up into another problem's case.
    pub fn with_label(&self, mut classification: Classification, label: Option<&Prediction>) -> Classification {
        let sure = label.filter(|p| p.is_evidence());
        let Some(category) = sure.and_then(|p| self.label_categories.get(&p.label)) else {
            return classification;
        };
        if classification.source == CategorySource::Given || classification.category == *category {
            return classification;
        }
        let keywords = std::mem::replace(&mut classification.category, category.clone());
        classification.also.retain(|c| c != category);
        if keywords != OTHER {
            classification.also.insert(0, keywords);
        }
        classification.source = CategorySource::Label;
        classification
    }

    pub fn categories(&self) -> &[CategoryDef] {
        &self.categories
    }

    /// What people call `category` (the taxonomy's `name`), or its id when the taxonomy has none.
    pub fn category_name<'a>(&'a self, category: &'a str) -> &'a str {
        self.categories.iter().find(|c| c.id == category).map_or(category, |c| c.name.as_str())
    }

    /// The other categories of `category`'s family ([`CategoryDef::family`]).
    pub fn kin(&self, category: &str) -> &[String] {
        self.kin.get(category).map_or(&[], Vec::as_slice)
    }

    /// Every keyword and synonym of the taxonomy (what names a problem, for similarity).
    pub fn phrases(&self) -> Vec<String> {
        self.patterns.iter().map(|p| p.phrase.clone()).collect()
    }

    /// The category a channel named, by id or by display name.
    pub fn resolve_given(&self, given: &str) -> Option<&str> {
        let given = given.trim();
        if given.eq_ignore_ascii_case(OTHER) {
            return Some(OTHER);
        }
        self.categories.iter().find(|c| c.id == given || c.name == given).map(|c| c.id.as_str())
    }

    /// Whether `text` threatens to take the complaint over the desk's head
    /// ([`Taxonomy::escalation_phrases`]).
    pub fn threatens_escalation(&self, text: &str) -> bool {
        self.escalation.in_text_numbers_alone(text)
    }

    /// Whether `text` says the problem came back or was reported before
    /// ([`Taxonomy::repeat_failure_patterns`]).
    pub fn tells_of_repeat_failure(&self, text: &str) -> bool {
        self.repeat_failure.as_ref().is_some_and(|r| r.is_match(text))
    }

    /// A category given by the channel wins; otherwise the category whose phrases score highest
    /// in the text (ties: the longer total match, then taxonomy order); otherwise `other`.
    pub fn classify(&self, given: Option<&str>, text: &str) -> Classification {
        if let Some(id) = given.and_then(|g| self.resolve_given(g)) {
            return Classification {
                category: id.to_owned(),
                source: CategorySource::Given,
                matched_terms: Vec::new(),
                also: Vec::new(),
            };
        }
        let text = &self.noise.strip(text);
        let mut segmentation = crate::features::Segmentation::new(text);
        let mut matched: Vec<Vec<(usize, f32)>> = vec![Vec::new(); self.categories.len()];
        for m in self.automaton.find_overlapping_iter(text) {
            let index = m.pattern().as_usize();
            let pattern = &self.patterns[index];
            if pattern.whole_word && !stands_alone(text, m.start(), m.end()) {
                continue;
            }
            let found = &mut matched[pattern.category];
            if found.iter().any(|(p, _)| *p == index) {
                continue;
            }
            let whole_token = segmentation.is_whole_words(m.start(), m.end());
            found.push((index, pattern.weight * if whole_token { WHOLE_TOKEN_FACTOR } else { 1.0 }));
        }
        let score = |i: usize| {
            let weight: f32 = matched[i].iter().map(|(_, w)| w).sum();
            let length: usize = matched[i].iter().map(|(p, _)| self.patterns[*p].phrase.chars().count()).sum();
            (weight, length)
        };
        let mut ranked: Vec<usize> = (0..self.categories.len()).filter(|&i| !matched[i].is_empty()).collect();
        ranked.sort_by(|&a, &b| {
            let (wa, la) = score(a);
            let (wb, lb) = score(b);
            wb.total_cmp(&wa).then(lb.cmp(&la)).then(a.cmp(&b))
        });
        match ranked.split_first() {
            Some((&i, rest)) => Classification {
                category: self.categories[i].id.clone(),
                source: CategorySource::Classified,
                matched_terms: {
                    // A phrase found twice in a text is one reason, shown once.
                    let mut terms: Vec<String> = Vec::new();
                    for (p, _) in &matched[i] {
                        let phrase = &self.patterns[*p].phrase;
                        if !terms.contains(phrase) {
                            terms.push(phrase.clone());
                        }
                    }
                    terms
                },
                also: rest.iter().map(|&j| self.categories[j].id.clone()).collect(),
            },
            None => Classification {
                category: OTHER.to_owned(),
                source: CategorySource::Default,
                matched_terms: Vec::new(),
                also: Vec::new(),
            },
        }
    }
}

/// Whether `text[start..end]` is not glued to letters or digits on either side.
fn stands_alone(text: &str, start: usize, end: usize) -> bool {
    let before = text[..start].chars().next_back();
    let after = text[end..].chars().next();
    !before.is_some_and(|c| c.is_ascii_alphanumeric()) && !after.is_some_and(|c| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taxonomy() -> Taxonomy {
        let cat = |id: &str, name: &str, kw: &[&str]| CategoryDef {
            id: id.into(),
            name: name.into(),
            keywords: kw.iter().map(|s| s.to_string()).collect(),
            synonyms: Vec::new(),
            family: None,
        };
        Taxonomy {
            categories: vec![
                cat("broadband_outage", "宽带故障", &["断网", "宽带断", "又断了", "上不了网", "光猫"]),
                cat("slow_network", "网速慢", &["网速慢", "卡顿", "太慢"]),
                cat("billing_dispute", "账单争议", &["扣费", "乱收费", "话费", "账单"]),
                cat("app_login", "App/登录", &["app", "登录", "验证码"]),
            ],
            labels: [("费用问题", "billing_dispute")].map(|(l, c)| (l.to_owned(), c.to_owned())).into(),
            escalation_phrases: vec!["12315".into(), "工信部".into()],
            repeat_failure_patterns: Vec::new(),
        }
    }

    #[test]
    fn a_threat_to_go_over_the_desks_head_is_found_whatever_the_problem() {
        let classifier = Classifier::new(&taxonomy(), &[]).unwrap();
        assert!(classifier.threatens_escalation("乱扣费,再不退我就打12315"));
        assert!(classifier.threatens_escalation("宽带断了一周,我去工信部投诉你们"));
        assert!(!classifier.threatens_escalation("宽带又断了,我要投诉"));
        assert!(!classifier.threatens_escalation("请回电13912315678"), "a phone number holding 12315");
    }

    #[test]
    fn a_problem_told_as_coming_back_is_a_repeat_failure() {
        let mut t = taxonomy();
        t.repeat_failure_patterns = vec!["(报修|修)(了|过)?(几|两|三|[0-9]+)次".into(), "又(坏|断)".into()];
        let classifier = Classifier::new(&t, &[]).unwrap();
        assert!(classifier.tells_of_repeat_failure("宽带又断了,已经报修三次了"));
        assert!(classifier.tells_of_repeat_failure("光猫修过2次还是红灯"));
        assert!(!classifier.tells_of_repeat_failure("宽带断了,请尽快上门维修"));
        t.repeat_failure_patterns = vec!["(又断)?".into()];
        assert!(Classifier::new(&t, &[]).is_err(), "a pattern that matches every text");
        t.repeat_failure_patterns = vec!["又(坏".into()];
        let Err(refused) = Classifier::new(&t, &[]) else { panic!("a pattern that does not parse is refused") };
        assert!(refused.to_string().contains("repeat_failure_patterns"), "{refused}");
    }

    #[test]
    fn a_sure_mapped_label_decides_the_category_unless_the_channel_gave_one() {
        let classifier = Classifier::new(&taxonomy(), &[]).unwrap();
        let text = "宽带又断了,这个月还扣费";
        let label = |label: &str, confidence: f32| Prediction { label: label.into(), confidence, odds: Vec::new() };
        let labelled = classifier.with_label(classifier.classify(None, text), Some(&label("费用问题", 0.9)));
        assert_eq!((labelled.category.as_str(), labelled.source), ("billing_dispute", CategorySource::Label));
        assert_eq!(labelled.also.first().map(String::as_str), Some("broadband_outage"), "the keywords' reading stays");
        let unmapped = classifier.with_label(classifier.classify(None, text), Some(&label("网络问题", 0.9)));
        assert_eq!(unmapped.source, CategorySource::Classified);
        let given = classifier.with_label(classifier.classify(Some("app_login"), text), Some(&label("费用问题", 0.9)));
        assert_eq!(given.category, "app_login");
        let unsure = classifier.with_label(classifier.classify(None, text), Some(&label("费用问题", 0.3)));
        assert_eq!((unsure.category.as_str(), unsure.source), ("broadband_outage", CategorySource::Classified));

        let mut wrong = taxonomy();
        wrong.labels.insert("网络问题".into(), "no_such_category".into());
        let error = Classifier::new(&wrong, &[]).unwrap_err().to_string();
        assert!(error.contains("no_such_category"), "{error}");
    }

    fn check(given: Option<&str>, text: &str, expected: &str, source: &str) {
        let got = Classifier::new(&taxonomy(), &["[公众号留言]".into()]).unwrap().classify(given, text);
        assert_eq!((got.category.as_str(), got.source.as_str()), (expected, source), "text {text:?}, got {got:?}");
    }

    #[test]
    fn classifies_by_keywords() {
        check(None, "宽带又断了,已经报修三次了", "broadband_outage", "classified");
        check(None, "这个月话费乱收费,账单看不懂", "billing_dispute", "classified");
        check(None, "网速太慢了,看视频一直卡顿", "slow_network", "classified");
        check(None, "The APP keeps asking me to login", "app_login", "classified");
        check(None, "营业员态度很好", OTHER, "default");
        check(None, "", OTHER, "default");
    }

    #[test]
    fn channel_boilerplate_is_not_read_as_a_problem() {
        check(None, "[公众号留言] 话费乱收费", "billing_dispute", "classified");
    }

    #[test]
    fn the_most_matched_category_wins() {
        // One billing keyword against two outage keywords.
        check(None, "断网了还照样扣费,光猫一直红灯", "broadband_outage", "classified");
    }

    #[test]
    fn latin_phrases_match_whole_words_and_synonyms_count_less() {
        check(None, "I am not happy with the service", OTHER, "default");
        let mut t = taxonomy();
        t.categories[1].synonyms = vec!["转圈".into(), "加载".into()];
        let classifier = Classifier::new(&t, &[]).unwrap();
        assert_eq!(classifier.classify(None, "视频一直转圈,加载半天").category, "slow_network");
        assert_eq!(
            classifier.classify(None, "视频一直转圈,还乱收费").category,
            "billing_dispute",
            "a keyword beats a synonym"
        );
    }

    #[test]
    fn a_given_category_wins_by_id_or_name() {
        check(Some("billing_dispute"), "宽带又断了", "billing_dispute", "given");
        check(Some("网速慢"), "宽带又断了", "slow_network", "given");
        check(Some("no-such-category"), "宽带又断了", "broadband_outage", "classified");
    }

    #[test]
    fn a_categorys_kin_are_the_others_of_its_family() {
        let mut t = taxonomy();
        for c in &mut t.categories[..2] {
            c.family = Some("网络问题".into());
        }
        let (first, second) = (t.categories[0].id.clone(), t.categories[1].id.clone());
        let classifier = Classifier::new(&t, &[]).unwrap();
        assert_eq!(classifier.kin(&first), std::slice::from_ref(&second));
        assert_eq!(classifier.kin(&second), [first]);
        assert!(classifier.kin(&t.categories[2].id).is_empty(), "no family, no kin");
        assert!(classifier.kin("unknown").is_empty());
    }

    #[test]
    fn refuses_a_taxonomy_with_duplicate_ids() {
        let mut t = taxonomy();
        t.categories.push(t.categories[0].clone());
        assert!(Classifier::new(&t, &[]).is_err());
    }
}
