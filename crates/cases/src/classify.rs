//! Problem categories from the configured taxonomy.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use serde::{Deserialize, Serialize};

use crate::CasesError;

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
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Taxonomy {
    #[serde(default)]
    pub categories: Vec<CategoryDef>,
}

/// The category a complaint got, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Classification {
    pub category: String,
    /// `given` (the channel said so), `classified` (keywords matched) or `default` (nothing did).
    pub source: &'static str,
    pub matched_terms: Vec<String>,
}

/// Scores text against every category's keywords in one pass.
#[derive(Debug, Clone)]
pub struct Classifier {
    categories: Vec<CategoryDef>,
    automaton: AhoCorasick,
    /// For each automaton pattern: (category index, keyword).
    patterns: Vec<(usize, String)>,
}

impl Classifier {
    pub fn new(taxonomy: &Taxonomy) -> Result<Self, CasesError> {
        let mut seen = std::collections::HashSet::new();
        for c in &taxonomy.categories {
            if c.id.trim().is_empty() {
                return Err(CasesError::Taxonomy(format!("category `{}` has an empty id", c.name)));
            }
            if !seen.insert(c.id.as_str()) {
                return Err(CasesError::Taxonomy(format!("category id `{}` appears twice", c.id)));
            }
        }
        let patterns: Vec<(usize, String)> = taxonomy
            .categories
            .iter()
            .enumerate()
            .flat_map(|(i, c)| {
                c.keywords.iter().map(|k| k.trim().to_lowercase()).filter(|k| !k.is_empty()).map(move |k| (i, k))
            })
            .collect();
        let automaton = AhoCorasickBuilder::new()
            .match_kind(MatchKind::Standard)
            .ascii_case_insensitive(true)
            .build(patterns.iter().map(|(_, k)| k))
            .map_err(|e| CasesError::Taxonomy(e.to_string()))?;
        Ok(Self { categories: taxonomy.categories.clone(), automaton, patterns })
    }

    pub fn categories(&self) -> &[CategoryDef] {
        &self.categories
    }

    /// The category a channel named, by id or by display name.
    pub fn resolve_given(&self, given: &str) -> Option<&str> {
        let given = given.trim();
        if given.eq_ignore_ascii_case(OTHER) {
            return Some(OTHER);
        }
        self.categories.iter().find(|c| c.id == given || c.name == given).map(|c| c.id.as_str())
    }

    /// A category given by the channel wins; otherwise the category with the most distinct
    /// keywords in the text (ties: the longer total match, then taxonomy order); otherwise `other`.
    pub fn classify(&self, given: Option<&str>, text: &str) -> Classification {
        if let Some(id) = given.and_then(|g| self.resolve_given(g)) {
            return Classification { category: id.to_owned(), source: "given", matched_terms: Vec::new() };
        }
        let mut matched: Vec<Vec<usize>> = vec![Vec::new(); self.categories.len()];
        for m in self.automaton.find_overlapping_iter(text) {
            let pattern = m.pattern().as_usize();
            let (category, _) = self.patterns[pattern];
            if !matched[category].contains(&pattern) {
                matched[category].push(pattern);
            }
        }
        let score = |i: usize| {
            let terms = &matched[i];
            let length: usize = terms.iter().map(|&p| self.patterns[p].1.chars().count()).sum();
            (terms.len(), length)
        };
        let best = (0..self.categories.len())
            .filter(|&i| !matched[i].is_empty())
            .max_by(|&a, &b| score(a).cmp(&score(b)).then(b.cmp(&a)));
        match best {
            Some(i) => Classification {
                category: self.categories[i].id.clone(),
                source: "classified",
                matched_terms: matched[i].iter().map(|&p| self.patterns[p].1.clone()).collect(),
            },
            None => Classification { category: OTHER.to_owned(), source: "default", matched_terms: Vec::new() },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taxonomy() -> Taxonomy {
        let cat = |id: &str, name: &str, kw: &[&str]| CategoryDef {
            id: id.into(),
            name: name.into(),
            keywords: kw.iter().map(|s| s.to_string()).collect(),
        };
        Taxonomy {
            categories: vec![
                cat("broadband_outage", "宽带故障", &["断网", "宽带断", "又断了", "上不了网", "光猫"]),
                cat("slow_network", "网速慢", &["网速慢", "卡顿", "太慢"]),
                cat("billing_dispute", "账单争议", &["扣费", "乱收费", "话费", "账单"]),
                cat("app_login", "App/登录", &["app", "登录", "验证码"]),
            ],
        }
    }

    fn check(given: Option<&str>, text: &str, expected: &str, source: &str) {
        let got = Classifier::new(&taxonomy()).unwrap().classify(given, text);
        assert_eq!((got.category.as_str(), got.source), (expected, source), "text {text:?}, got {got:?}");
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
    fn the_most_matched_category_wins() {
        // One billing keyword against two outage keywords.
        check(None, "断网了还照样扣费,光猫一直红灯", "broadband_outage", "classified");
    }

    #[test]
    fn a_given_category_wins_by_id_or_name() {
        check(Some("billing_dispute"), "宽带又断了", "billing_dispute", "given");
        check(Some("网速慢"), "宽带又断了", "slow_network", "given");
        check(Some("no-such-category"), "宽带又断了", "broadband_outage", "classified");
    }

    #[test]
    fn refuses_a_taxonomy_with_duplicate_ids() {
        let mut t = taxonomy();
        t.categories.push(t.categories[0].clone());
        assert!(Classifier::new(&t).is_err());
    }
}
