//! "Is it the same problem?" — the rule that puts a complaint into a case.
//!
//! A complaint is compared with each case of its customer that it could join: an open case
//! whose complaints are within the window of it, or a closed case closed within the reopen
//! window (the same problem again is a repeat failure). The comparison is a score:
//!
//! * same category: 0.7 + 0.3 × text similarity — one problem in one category joins even when
//!   told in other words;
//! * related categories — the complaint's category is one the case is also about (merged into
//!   it by an agent, or of a complaint that joined it), the case's category is one the
//!   complaint also mentions ("宽带坏了三天没人来修" is a repair delay and an outage), or the two
//!   are of one taxonomy family (`family`: a slow network and a weak signal): 0.6 + 0.4 ×
//!   similarity;
//! * a complaint in no category (`other`) that says little, and an open case: 0.6 + 0.4 ×
//!   similarity — a complaint that names no problem ("还是没解决") is about the problem the
//!   customer already has open, the most similar one if several (one in no category that says
//!   what it is about is judged on its text, as below);
//! * a short complaint in another category than an open case that is still one full order: 0.55 +
//!   0.45 × similarity — the order's category is the keywords' guess among its many words;
//! * a short complaint that says it follows a problem up ("账号还是登不上": `[grouping]
//!   follow_up_words`, read on the text as written) against an open case that holds a full
//!   telling, or in no category itself: at least that 0.55 + 0.45 × similarity, whatever else
//!   its category says, so it joins the best fitting of the customer's open problems rather than
//!   opening one of its own;
//! * anything else: the similarity alone — different categories are one problem only when the
//!   texts clearly say so;
//! * a *detailed* complaint (ten or more content terms: an agent's full order, a long message)
//!   against a detailed case, whatever the categories: the similarity less 0.15 — both describe
//!   their problem, so they are one only when the texts tell the same story, and two orders on
//!   one template tell much of it alike. A category is the taxonomy's guess,
//!   and on real orders a customer's two problems often share one (two billing disputes, or an
//!   order the keywords misread); the bases above are for short complaints that name a problem
//!   without describing it ("宽带还是不行").
//!
//! Where one side is short, "similarity" is the larger of the cosine and how much of the short
//! side's words the long side holds ([`Signature::containment_in`]; for a short complaint also
//! without its keywords, [`Signature::containment_with_or_without_keywords_in`]): a follow-up
//! is wholly inside the order it follows up though far from it by cosine, whichever arrived
//! first. Two detailed texts take the mean of the cosine and the complaint's containment when
//! that is larger: a retelling of part of the order is inside it, while another order written
//! on the same template shares only its template.
//!
//! A complaint most of whose character trigrams are in the case's full tellings (its
//! [`Fingerprint`](mend_core::Fingerprint)), each weighed by how rare its bigrams are among the
//! complaints counted, is a copy of one — a customer pasting what the hotline wrote, mostly
//! fields that the case's strongest terms leave out — and starts from 0.8 + 0.2 × the share
//! copied, whatever else it fits; a form that every order carries weighs next to nothing.
//!
//! With a trained model (see [`crate::labels`]) the label is evidence too: a short complaint
//! against a labelled case starts from 0.45 + 0.25 × how likely the model finds the case's label
//! for it (0.7, the same category's base, when sure; under the threshold when it is sure of
//! another label, so a new problem told briefly opens its own case; a fair chance — the model
//! reads short texts less surely — still lets it follow the case up), plus its share of
//! similarity; two detailed texts labelled differently need 0.1 more similarity. A label the
//! model gives less than even odds is no evidence: the categories decide, and the odds only lean
//! a short complaint towards the case whose label they favour (0.3 × those odds, at most 0.15).
//! Measured on real orders: `tests/data/grouping/make_real_eval.py`;
//!
//! less up to 0.1 for the time since the case's latest complaint (a full window costs 0.1), so
//! with the default threshold of 0.5 the first two always join inside the window and the age
//! only decides between candidates. The best case scoring at least the threshold gets the
//! complaint; none does, a new case opens.
//! Every decision keeps its score, similarity, category and label match and shared terms as the
//! reason.

use chrono::{DateTime, Duration, Utc};
use mend_core::{Case, CaseStatus};
use serde::{Deserialize, Serialize};

use crate::classify::OTHER;
use crate::features::Signature;
use crate::labels::LABEL_EVIDENCE;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GroupingPolicy {
    /// A complaint joins an open case whose latest complaint is at most this many days earlier.
    pub window_days: i64,
    /// After closure, the same problem within this many days reopens the case.
    pub reopen_days: i64,
    /// The score (0–1) a case needs for a complaint to join it.
    pub threshold: f32,
}

impl Default for GroupingPolicy {
    fn default() -> Self {
        Self { window_days: 7, reopen_days: 30, threshold: 0.5 }
    }
}

/// `[grouping]`'s phrase lists: what a text says besides which problem it is about.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct GroupingPhrases {
    /// Channel boilerplate and venting ("来电反映", "太气人了"): cut out before texts are
    /// classified and compared.
    #[serde(default)]
    pub noise_phrases: Vec<String>,
    /// Words by which a customer says a complaint is about a problem already reported ("还是",
    /// "又", "还没", "上次"): a short complaint holding one follows up an open case.
    #[serde(default)]
    pub follow_up_words: Vec<String>,
}

const SAME_CATEGORY_BASE: f32 = 0.7;
const RELATED_BASE: f32 = 0.6;
const UNCATEGORIZED_BASE: f32 = 0.6;
/// A complaint in no category with fewer content terms than this names no problem of its own
/// ("还是没解决,太气人了") and follows up an open one; with more it says what it is about (a
/// short order about an invoice never sent) and is a problem of its own unless its text is the
/// case's. Chosen among 3-10 on real orders (`make_real_eval.py`, dev quarters).
const VAGUE_TERMS: usize = 6;
const AGE_PENALTY: f32 = 0.1;
/// A short complaint in another category than an open case that is one full order: under the
/// related categories' base, since the keywords read most orders right (0.6, 0.55, 0.5 tried on
/// real orders, dev quarters; 0.55 best once the taxonomy knew the operators' classes). Also the
/// base of a short complaint that says it follows a problem up, against any open case (0.5-0.65
/// tried, dev quarters: above it, every open case fits it as well as the one it names).
const FOLLOW_UP_BASE: f32 = 0.55;
/// The base of a short complaint the trained model finds unlikely under the open case's label:
/// under the threshold, so a short text the model is sure is another problem opens its own
/// case, while one it is unsure of (a fair chance for the case's label) may still follow it up.
const OTHER_PROBLEM_BASE: f32 = 0.45;
/// Two full orders need this much more similarity than the threshold to be one problem: orders
/// written on one template share most of their words (two signal orders "客户反映…无信号或信号
/// 较弱，已持续…周围客户情况…" that differ by the address), while a retelling, inside its order,
/// clears it by its containment. Chosen among 0.05-0.3 on real orders (dev quarters, trained:
/// +0.008 each; untrained the same, its merged problems become same-label follow-ups to choose).
const FULL_ORDERS_MARGIN: f32 = 0.15;
/// Two full orders the trained model labels differently need this much more text in common.
const DIFFERENT_LABEL_PENALTY: f32 = 0.1;
/// From this share of its character trigrams (by weight) found in a case's full tellings, a
/// complaint is a copy of one (a customer pasting what the hotline wrote, an agent quoting the
/// old order) and joins that case whatever else it fits: its words are fields the case's
/// strongest terms leave out. Chosen among 0.5-0.7 on real orders (dev quarters, alike); of two
/// different real orders, one has 7 % of its trigrams or less in the other nine times in ten, and
/// 0.6 or more four times in 1,000 (counted unweighted).
pub const COPIED: f32 = 0.6;
/// The base of a copy: above every category's, so the case it was copied from wins.
const COPY_BASE: f32 = 0.8;
/// How much a label the model is unsure of still leans a short complaint towards the case whose
/// label it finds likelier: this times those odds (below even, so at most 0.15) on top of the
/// category's base. Chosen among 0.1-1.0 on real orders (dev quarters, trained on the other).
const UNSURE_LABEL_WEIGHT: f32 = 0.3;

impl GroupingPolicy {
    pub fn window(&self) -> Duration {
        Duration::days(self.window_days)
    }

    pub fn reopen_window(&self) -> Duration {
        Duration::days(self.reopen_days)
    }

    /// The earliest `last_complaint_at` of an open case that a complaint received at
    /// `received_at` could still join: what intake loads.
    pub fn earliest_candidate(&self, received_at: DateTime<Utc>) -> DateTime<Utc> {
        received_at - self.window()
    }

    /// The earliest closure that a complaint received at `received_at` could reopen.
    pub fn earliest_reopen(&self, received_at: DateTime<Utc>) -> DateTime<Utc> {
        received_at - self.reopen_window()
    }
}

/// How a complaint relates to a case's category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CategoryMatch {
    Same,
    /// One the case is also about, or the case's category is one the complaint also mentions.
    Related,
    Uncategorized,
    Different,
}

/// How a complaint's trained label compares with its case's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelMatch {
    Same,
    Different,
}

/// Why a complaint would join a case.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Match {
    pub score: f32,
    pub similarity: f32,
    pub category: CategoryMatch,
    /// How the trained labels compare; `None` when the complaint or the case has none.
    pub label: Option<LabelMatch>,
    /// Joining a closed case reopens it.
    pub reopens: bool,
    /// How much of the complaint's text is copied from the case's full tellings, when most of
    /// it is ([`COPIED`]).
    pub copied: Option<f32>,
    /// A follow-up word of the short complaint raised its score
    /// ([`GroupingPhrases::follow_up_words`]).
    pub follows_up: bool,
}

/// What grouping knows of a complaint.
#[derive(Debug, Clone)]
pub struct ComplaintFacts<'a> {
    pub category: &'a str,
    /// Other categories the text mentions.
    pub also: &'a [String],
    /// The other categories of its category's family ([`crate::CategoryDef::family`]).
    pub kin: &'a [String],
    pub signature: &'a Signature,
    /// How likely the trained model finds each label for the text, most likely first (its
    /// label); empty without a model.
    pub label_odds: &'a [(String, f32)],
    /// Its character trigrams' hashes with their weights, ascending
    /// ([`crate::features::Trigram`]), to tell a copy of a case's telling; empty to leave
    /// copies out.
    pub trigrams: &'a [(u32, f32)],
    pub received_at: DateTime<Utc>,
    /// It says it is about a problem already reported ([`GroupingPhrases::follow_up_words`]).
    pub follows_up: bool,
}

/// How well `complaint` fits `case` (whose terms are `case_terms`), or `None` when it could not
/// join it at all (merged, outside the windows).
pub fn fit(
    case: &Case,
    case_terms: &Signature,
    complaint: &ComplaintFacts<'_>,
    policy: &GroupingPolicy,
) -> Option<Match> {
    let at = complaint.received_at;
    let (reopens, gap) = match case.status {
        CaseStatus::Merged => return None,
        CaseStatus::Open => {
            let inside =
                at <= case.last_complaint_at + policy.window() && at >= case.first_complaint_at - policy.window();
            if !inside {
                return None;
            }
            (false, (at - case.last_complaint_at).abs())
        }
        CaseStatus::Closed => {
            let closed = case.closed_at?;
            if at <= closed {
                // Written before the case was closed, delivered after: part of the story that
                // was repaired, not a new failure.
                let inside =
                    at <= case.last_complaint_at + policy.window() && at >= case.first_complaint_at - policy.window();
                if !inside {
                    return None;
                }
                (false, (at - case.last_complaint_at).abs())
            } else if at > closed + policy.reopen_window() {
                return None;
            } else {
                (true, at - closed)
            }
        }
    };
    // Only what the customer said after the case's first complaint can be about it as told: a
    // complaint written before it and delivered late (an export imported after the live
    // channels) is judged as it was when it was written, not as a follow-up of a later telling.
    let follows_case = at >= case.first_complaint_at;
    let similarity = complaint.signature.similarity(case_terms);
    let category = if case.category == complaint.category && complaint.category != OTHER {
        CategoryMatch::Same
    } else if complaint.category != OTHER
        && (case.extra_categories.iter().any(|c| c == complaint.category)
            || complaint.also.contains(&case.category)
            || complaint.kin.contains(&case.category))
    {
        CategoryMatch::Related
    } else if complaint.category == OTHER {
        CategoryMatch::Uncategorized
    } else {
        CategoryMatch::Different
    };
    // Two full orders are the same problem when they tell the same story; when either side is
    // short, the question is whether the short one's words are found in the other (a follow-up
    // inside the order it follows up, whichever arrived first).
    let complaint_detailed = complaint.signature.is_detailed();
    let case_detailed = case_terms.is_detailed();
    let detailed = complaint_detailed && case_detailed;
    let similarity = match (complaint_detailed, case_detailed) {
        // A retelling copies part of the order (an agent's new order quotes the old, a customer
        // pastes what the hotline wrote): wholly inside the case though far from it by cosine,
        // which counts the untold rest against it. Half the containment: two different orders
        // written on one template share much of their words too.
        (true, true) => similarity.max((similarity + complaint.signature.containment_in(case_terms)) / 2.0),
        (true, false) => similarity.max(case_terms.containment_in(complaint.signature)),
        // A short text's keyword weighs most of it and already counted in the categories: a
        // follow-up quoting the order in a charge's words ("导致客户产生上网,话费又扣费了") is
        // the order's by what it quotes.
        (false, _) => similarity.max(complaint.signature.containment_with_or_without_keywords_in(case_terms)),
    };
    // A label the model gives less than this of its odds says little (a short text it cannot
    // place): the keywords' category decides, as without a model.
    let label = match (complaint.label_odds.first(), case.label.as_deref()) {
        (Some((a, p)), Some(b)) if *p >= LABEL_EVIDENCE => {
            Some(if a == b { LabelMatch::Same } else { LabelMatch::Different })
        }
        _ => None,
    };
    let base = match (category, label) {
        (_, Some(LabelMatch::Different)) if detailed => similarity - FULL_ORDERS_MARGIN - DIFFERENT_LABEL_PENALTY,
        _ if detailed => similarity - FULL_ORDERS_MARGIN,
        // A reopening takes what it always took: the same problem named again.
        (_, Some(_)) if !reopens => {
            // How likely the model finds the case's label for this text: its second guess for
            // a short text is often right, and decides between two cases its first guess fits
            // neither of.
            let likely = case_label_odds(complaint, case).unwrap_or(0.0);
            let base = OTHER_PROBLEM_BASE + (SAME_CATEGORY_BASE - OTHER_PROBLEM_BASE) * likely;
            base + (1.0 - base) * similarity
        }
        (CategoryMatch::Same, _) => SAME_CATEGORY_BASE + (1.0 - SAME_CATEGORY_BASE) * similarity,
        (CategoryMatch::Related, _) => RELATED_BASE + (1.0 - RELATED_BASE) * similarity,
        // A vague follow-up belongs to an open problem; reopening a closed one takes more.
        (CategoryMatch::Uncategorized, _)
            if !reopens && follows_case && complaint.signature.content_terms() < VAGUE_TERMS =>
        {
            UNCATEGORIZED_BASE + (1.0 - UNCATEGORIZED_BASE) * similarity
        }
        // A case that is still one full order has the keywords' guess among its many words for a
        // category (a broadband order filed under a store's attitude): a short complaint in
        // another category may well follow it up. Once short complaints joined it, two short
        // texts in different categories are two problems again.
        (CategoryMatch::Different, _) if !reopens && follows_case && case_detailed && case.complaint_count == 1 => {
            FOLLOW_UP_BASE + (1.0 - FOLLOW_UP_BASE) * similarity
        }
        (CategoryMatch::Uncategorized | CategoryMatch::Different, _) => similarity,
    };
    // A short complaint that says it is about a problem already reported ("账号还是登不上")
    // follows one of the customer's open problems up — the one whose base and text fit it best —
    // when its few words name no category, or the case is a full order whose category is the
    // keywords' guess among many words; two short texts in two categories stay two problems, and
    // so does a text the trained model is sure is another.
    let follow_up_base = match label {
        None | Some(LabelMatch::Same)
            if complaint.follows_up
                && !complaint_detailed
                && !reopens
                && follows_case
                && (case_detailed || category == CategoryMatch::Uncategorized) =>
        {
            Some(FOLLOW_UP_BASE + (1.0 - FOLLOW_UP_BASE) * similarity).filter(|b| *b > base)
        }
        _ => None,
    };
    let base = follow_up_base.unwrap_or(base);
    // A copy of the case's telling joins it whatever its terms and categories said.
    let copied = case.fingerprint.containment_of(complaint.trigrams).filter(|c| *c >= COPIED);
    let base = match copied {
        Some(copied) => base.max(COPY_BASE + (1.0 - COPY_BASE) * copied),
        None => base,
    };
    // An unsure label cannot decide (the categories did): the model trained on full orders reads
    // customers' short words poorly ("网还是断的" a billing problem at 0.41). But among a
    // customer's open problems its odds still say which one a short text more likely names.
    let lean = match label {
        None if !detailed && !reopens => UNSURE_LABEL_WEIGHT * case_label_odds(complaint, case).unwrap_or(0.0),
        _ => 0.0,
    };
    let window = if reopens { policy.reopen_window() } else { policy.window() };
    let age = gap.num_seconds() as f32 / window.num_seconds().max(1) as f32;
    let score = base + lean - AGE_PENALTY * age.min(1.0);
    let follows_up = follow_up_base.is_some();
    (score >= policy.threshold).then_some(Match { score, similarity, category, label, reopens, copied, follows_up })
}

fn case_label_odds(complaint: &ComplaintFacts<'_>, case: &Case) -> Option<f32> {
    let label = case.label.as_deref()?;
    complaint.label_odds.iter().find(|(l, _)| l == label).map(|(_, p)| *p)
}

/// How well the open case `b` fits the open case `a` when two identities of one person turn
/// out to be one: as if `b`'s complaints arrived as one complaint at its time nearest to `a`'s
/// latest, by the same rule as any complaint.
/// `b_kin`: the other categories of `b`'s family ([`crate::Classifier::kin`]).
pub fn same_problem(
    a: &Case,
    a_terms: &Signature,
    b: &Case,
    b_terms: &Signature,
    b_kin: &[String],
    policy: &GroupingPolicy,
) -> Option<Match> {
    if a.status != CaseStatus::Open || b.status != CaseStatus::Open {
        return None;
    }
    let mut categories = b.extra_categories.clone();
    categories.retain(|c| *c != b.category);
    // A case's label is the model's reading of its fullest telling: taken as sure.
    let label_odds: Vec<(String, f32)> = b.label.iter().map(|l| (l.clone(), 1.0)).collect();
    let as_complaint = ComplaintFacts {
        category: &b.category,
        also: &categories,
        kin: b_kin,
        signature: b_terms,
        label_odds: &label_odds,
        // Two cases' fingerprints are samples of different ranges: their texts compare by terms.
        trigrams: &[],
        // `max` then `min` rather than `clamp`, which panics on a stored case whose span is
        // upside down.
        received_at: a.last_complaint_at.max(b.first_complaint_at).min(b.last_complaint_at),
        follows_up: false,
    };
    fit(a, a_terms, &as_complaint, policy)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::features::Featurizer;
    use mend_core::{CaseId, CustomerId};

    pub(crate) fn at(day: u32, hour: u32) -> DateTime<Utc> {
        chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, day, hour, 0, 0).unwrap()
    }

    pub(crate) fn case(category: &str, first: DateTime<Utc>, last: DateTime<Utc>) -> Case {
        Case {
            id: CaseId::new(),
            customer_id: CustomerId::new(),
            category: category.into(),
            status: CaseStatus::Open,
            escalation_risk: false,
            repeat_failure: false,
            complaint_count: 1,
            first_complaint_at: first,
            last_complaint_at: last,
            opened_at: first,
            closed_at: None,
            updated_at: last,
            terms: mend_core::CaseTerms::default(),
            fingerprint: mend_core::Fingerprint::default(),
            extra_categories: Vec::new(),
            merged_into: None,
            merged_by: None,
            split_from: None,
            reopened_at: None,
            label: None,
        }
    }

    fn featurizer() -> Featurizer {
        Featurizer::new(&[], &["断网", "光猫", "扣费"].map(String::from))
    }

    fn fits(case: &Case, case_text: &str, category: &str, text: &str, received_at: DateTime<Utc>) -> Option<Match> {
        fits_saying(case, case_text, category, text, received_at, false)
    }

    /// As [`fits`], for a complaint that says (`follows_up`) or does not say it follows a
    /// problem up.
    fn fits_saying(
        case: &Case,
        case_text: &str,
        category: &str,
        text: &str,
        received_at: DateTime<Utc>,
        follows_up: bool,
    ) -> Option<Match> {
        let f = featurizer();
        let signature = f.signature(text);
        let facts = ComplaintFacts {
            category,
            also: &[],
            kin: &[],
            signature: &signature,
            label_odds: &[],
            trigrams: &[],
            received_at,
            follows_up,
        };
        fit(case, &f.signature(case_text), &facts, &GroupingPolicy::default())
    }

    #[test]
    fn the_same_category_joins_within_the_window_of_the_latest_complaint() {
        let k = case("broadband_outage", at(1, 9), at(5, 9));
        let text = "家里光猫红灯断网";
        assert!(fits(&k, text, "broadband_outage", "又断网了", at(12, 9)).is_some(), "exactly 7 days later");
        assert!(fits(&k, text, "broadband_outage", "又断网了", at(12, 10)).is_none(), "7 days and an hour");
        assert!(fits(&k, text, "broadband_outage", "又断网了", at(2, 9)).is_some(), "a late delivery inside the span");
        assert_eq!(
            fits(&k, text, "broadband_outage", "宽带上不去", at(6, 9)).map(|m| m.category),
            Some(CategoryMatch::Same)
        );
    }

    #[test]
    fn another_category_joins_only_when_the_texts_say_so() {
        let k = case("broadband_outage", at(1, 9), at(1, 9));
        assert!(fits(&k, "家里光猫红灯断网", "billing_dispute", "话费多扣了", at(2, 9)).is_none());
        let m = fits(&k, "家里光猫红灯断网,上不了网", "slow_network", "光猫红灯又断网,上不了网", at(2, 9))
            .expect("clearly the same");
        assert_eq!(m.category, CategoryMatch::Different);
        assert!(m.similarity > 0.5);
    }

    #[test]
    fn a_detailed_complaint_joins_on_what_it_says_not_on_its_category() {
        let k = case("billing_dispute", at(1, 9), at(1, 9));
        let order = "用户来电反映本月话费账单多扣了三十元流量费,用户称没有使用这么多流量,要求核实并退还多扣的费用";
        let other = "用户来电反映上月办理的套餐合约优惠没有到账,营业厅承诺每月返还二十元话费,现在一直没有返还";
        let signature = featurizer().signature(other);
        assert!(signature.is_detailed(), "{}", signature.content_terms());
        assert!(fits(&k, order, "billing_dispute", other, at(2, 9)).is_none(), "another problem in one category");
        let retold = "话费账单多扣了三十元流量费,没有使用这么多流量,要求退还多扣的费用";
        assert_eq!(
            fits(&k, order, "billing_dispute", retold, at(2, 9)).map(|m| m.category),
            Some(CategoryMatch::Same),
            "the same order retold"
        );
        assert!(fits(&k, order, "billing_dispute", "扣费还没退", at(2, 9)).is_some(), "a short follow-up");
    }

    #[test]
    fn a_detailed_retelling_of_part_of_an_order_joins_it() {
        let order = "用户来电反映本月话费账单多扣了三十元流量费,用户称没有使用这么多流量,要求核实并退还多扣的费用,\
                     用户表示上月在营业厅办理了宽带融合套餐,工作人员承诺赠送光猫和机顶盒,安装师傅上门后却收取了设备押金,\
                     用户还反映家中宽带晚上经常掉线,网页打不开,游戏卡顿严重,已经报修两次没有解决,\
                     另外用户的副卡被开通了视频会员包月业务,用户表示从未订购,要求取消并赔偿";
        let retold = "工作人员承诺赠送光猫和机顶盒,安装师傅上门后却收取了设备押金";
        let f = featurizer();
        let (case_terms, retelling) = (f.signature(order), f.signature(retold));
        assert!(retelling.is_detailed(), "{}", retelling.content_terms());
        assert!(retelling.similarity(&case_terms) < 0.5, "{}", retelling.similarity(&case_terms));
        let k = case("billing_dispute", at(1, 9), at(1, 9));
        let m = fits(&k, order, "installation_delay", retold, at(2, 9)).expect("the order retold");
        assert_eq!(m.category, CategoryMatch::Different);
        let other = "用户来电反映上月办理的套餐合约优惠没有到账,营业厅承诺每月返还二十元话费,现在一直没有返还";
        assert!(fits(&k, order, "installation_delay", other, at(2, 9)).is_none(), "another problem told alike");
    }

    #[test]
    fn a_short_follow_up_that_retells_part_of_an_order_joins_it_whatever_its_keyword_names() {
        // The customer quotes the order and adds a charge in the words of another category: the
        // keyword is the other case's, the rest is this order's.
        let order = "客户反映本机被开通视频会员包月业务，导致客户产生上网流量，客户表示从未订购，要求取消并查明原因";
        let charge = "客户反映上月账单里国际漫游通话费计算有误，多扣费三十元，要求核实并退还";
        let quoted = case("unwanted_subscription", at(1, 9), at(1, 9));
        let billing = case("billing_dispute", at(1, 10), at(1, 10));
        let follow_up = "导致客户产生上网,话费又扣费了";
        let score =
            |k: &Case, text: &str| fits(k, text, "billing_dispute", follow_up, at(2, 9)).map_or(0.0, |m| m.score);
        let (joined, other) = (score(&quoted, order), score(&billing, charge));
        assert!(joined > other, "{joined} vs {other}");
    }

    #[test]
    fn a_complaint_written_before_a_case_began_is_no_follow_up_of_it() {
        // A store terminal's full telling, and a chatbot session hours before it about a refund,
        // delivered after it: the "还没" says the refund is late, not the queue at the store.
        let order = "排队一个多小时才轮到,营业员态度冷漠,问什么都爱答不理,办个业务跑了三趟,还被推销了两次宽带套餐";
        let refund = "上个月退款说7天到账,现在还没收到";
        let k = case("store_attitude", at(21, 15), at(21, 15));
        let fit_at = |received_at, follows_up| fits_saying(&k, order, "refund_delay", refund, received_at, follows_up);
        assert!(fit_at(at(21, 18), true).is_some(), "after the order it may follow the order up");
        assert!(fit_at(at(21, 9), true).is_none(), "written before it: its own problem");
        assert!(fit_at(at(21, 9), false).is_none());
    }

    #[test]
    fn a_short_follow_up_is_measured_by_how_much_of_it_the_order_holds() {
        let order = "用户来电反映本月话费账单多扣了三十元流量费,用户称没有使用这么多流量,要求核实并退还多扣的费用";
        let f = featurizer();
        let (case_terms, short) = (f.signature(order), f.signature("流量费还没退"));
        let k = case("other", at(1, 9), at(1, 9));
        let m = fits(&k, order, "slow_network", "流量费还没退", at(2, 9)).expect("its words are in the order");
        assert!(
            m.similarity > short.similarity(&case_terms) + 0.2,
            "{} vs cosine {}",
            m.similarity,
            short.similarity(&case_terms)
        );
        // The same the other way round: the order arriving after the follow-up.
        let early = case("other", at(1, 9), at(1, 9));
        let facts = ComplaintFacts {
            category: "billing_dispute",
            also: &[],
            kin: &[],
            signature: &case_terms,
            label_odds: &[],
            trigrams: &[],
            received_at: at(2, 9),
            follows_up: false,
        };
        let m = fit(&early, &short, &facts, &GroupingPolicy::default()).expect("the order holds the follow-up");
        assert!(m.similarity > 0.5, "{}", m.similarity);
    }

    #[test]
    fn a_trained_label_is_evidence_for_short_and_against_long() {
        let f = featurizer();
        let mut k = case("broadband_outage", at(1, 9), at(1, 9));
        k.label = Some("业务办理问题".into());
        // An order and a follow-up: the keywords' category of a lone order is no longer in play.
        k.complaint_count = 2;
        let order = "用户来电反映上月申请办理宽带业务迁移,安装人员上门后称新地址系统录入错误,至今无法迁移,要求尽快处理";
        let short = f.signature("过户的事还没弄完");
        let mut facts = ComplaintFacts {
            category: "billing_dispute",
            also: &[],
            kin: &[],
            signature: &short,
            label_odds: &[],
            trigrams: &[],
            received_at: at(2, 9),
            follows_up: false,
        };
        assert!(
            fit(&k, &f.signature(order), &facts, &GroupingPolicy::default()).is_none(),
            "nothing says it is this one"
        );
        let sure = [("业务办理问题".to_owned(), 1.0)];
        facts.label_odds = &sure;
        let m = fit(&k, &f.signature(order), &facts, &GroupingPolicy::default()).expect("the model says it is");
        assert_eq!(m.label, Some(LabelMatch::Same));

        let retold = f.signature("用户反映宽带业务迁移,新地址系统录入错误,无法迁移,安装人员上门说装不了,要求处理");
        assert!(retold.is_detailed());
        let long = |label_odds| ComplaintFacts {
            category: "broadband_outage",
            also: &[],
            kin: &[],
            signature: &retold,
            label_odds,
            trigrams: &[],
            received_at: at(2, 9),
            follows_up: false,
        };
        let (handling, service) = ([("业务办理问题".to_owned(), 1.0)], [("服务问题".to_owned(), 1.0)]);
        let same = fit(&k, &f.signature(order), &long(&handling), &GroupingPolicy::default()).expect("retold");
        let other = fit(&k, &f.signature(order), &long(&service), &GroupingPolicy::default());
        match other {
            Some(o) => {
                assert!((same.score - o.score - DIFFERENT_LABEL_PENALTY).abs() < 1e-5, "a different label costs")
            }
            None => assert!(same.score - DIFFERENT_LABEL_PENALTY < 0.5, "a different label costs"),
        }
    }

    #[test]
    fn a_short_complaint_that_says_it_follows_up_joins_an_open_case_whatever_its_category() {
        let f = featurizer();
        // An order and a follow-up already: the lone order's leeway is not in play.
        let mut k = case("broadband_outage", at(1, 9), at(1, 9));
        k.complaint_count = 2;
        let case_terms = f
            .signature("用户来电反映家中宽带从上周开始频繁断网,光猫红灯闪烁,维修人员上门两次仍未修好,要求尽快彻底处理");
        assert!(case_terms.is_detailed());
        let short = f.signature("账号还是登不上");
        let facts = |follows_up, label_odds| ComplaintFacts {
            category: "app_login",
            also: &[],
            kin: &[],
            signature: &short,
            label_odds,
            trigrams: &[],
            received_at: at(2, 9),
            follows_up,
        };
        let policy = GroupingPolicy::default();
        assert!(fit(&k, &case_terms, &facts(false, &[]), &policy).is_none(), "another category, nothing in common");
        let m = fit(&k, &case_terms, &facts(true, &[]), &policy).expect("it says it is a problem already told");
        assert!(m.score < SAME_CATEGORY_BASE, "a case in its own category would still win: {}", m.score);
        assert!(m.follows_up, "the reason says why it joined");

        k.label = Some("网络问题".into());
        let sure_other = [("业务使用问题".to_owned(), 0.9), ("网络问题".to_owned(), 0.1)];
        assert!(fit(&k, &case_terms, &facts(true, &sure_other), &policy).is_none(), "the model is sure it is another");
        k.label = None;
        let told_briefly = f.signature("光猫红灯断网");
        assert!(fit(&k, &told_briefly, &facts(true, &[]), &policy).is_none(), "two short texts, two categories");
        k.status = CaseStatus::Closed;
        k.closed_at = Some(at(1, 12));
        assert!(fit(&k, &case_terms, &facts(true, &[]), &policy).is_none(), "reopening takes the problem named again");
    }

    #[test]
    fn two_orders_on_one_template_are_two_problems_and_a_retelling_is_one() {
        let f = featurizer();
        let k = case("mobile_signal", at(1, 9), at(1, 9));
        let order = f.signature(
            "客户于12月22日反映南京玄武区花园路70号4幢206室内无信号或信号较弱,已持续3年,周围客户情况都不好,客户同意联系进行测试,我处查询知识库无相关网络调整信息",
        );
        let facts = |signature| ComplaintFacts {
            category: "mobile_signal",
            also: &[],
            kin: &[],
            signature,
            label_odds: &[],
            trigrams: &[],
            received_at: at(2, 9),
            follows_up: false,
        };
        let policy = GroupingPolicy::default();
        let other = f.signature(
            "客户于今天反映无锡新区锡士路行创4路8号中升汇集地下车库无信号或信号较弱,已持续四个月,进出车辆登记电话经常掉线,周围客户情况都不好,客户同意联系进行测试",
        );
        let retold = f.signature(
            "客户于12月22日反映南京玄武区花园路70号4幢206室内无信号或信号较弱,已持续3年,客户同意联系进行测试",
        );
        assert!(other.is_detailed() && retold.is_detailed());
        let shared = other.similarity(&order);
        assert!(shared >= policy.threshold, "the template alone would join them: {shared}");
        assert_eq!(fit(&k, &order, &facts(&other), &policy), None, "another place, another problem");
        assert!(fit(&k, &order, &facts(&retold), &policy).is_some(), "part of the order retold");
    }

    #[test]
    fn a_short_complaint_prefers_the_case_whose_label_the_model_finds_likelier() {
        let f = featurizer();
        let short = f.signature("事情还没弄完");
        let score = |odds: &[(String, f32)], label: &str| {
            let facts = ComplaintFacts {
                category: OTHER,
                also: &[],
                kin: &[],
                signature: &short,
                label_odds: odds,
                trigrams: &[],
                received_at: at(2, 9),
                follows_up: false,
            };
            let mut k = case("broadband_outage", at(1, 9), at(1, 9));
            k.label = Some(label.into());
            fit(&k, &f.signature("宽带业务迁移办不了"), &facts, &GroupingPolicy::default()).map(|m| m.score)
        };
        let odds = |p: [f32; 3]| {
            ["服务问题", "业务办理问题", "费用问题"].iter().zip(p).map(|(l, p)| (l.to_string(), p)).collect::<Vec<_>>()
        };
        let sure = odds([0.6, 0.35, 0.05]);
        let (likelier, unlikely) = (score(&sure, "业务办理问题").expect("joins"), score(&sure, "费用问题"));
        assert!(unlikely.is_none_or(|u| likelier > u + 0.04), "{likelier} vs {unlikely:?}");
        // Unsure of its own first guess, the model is no evidence: the category rules decide
        // whether it joins, and its odds only lean it towards the likelier case.
        let unsure = odds([0.45, 0.4, 0.15]);
        let (likelier, unlikely) =
            (score(&unsure, "业务办理问题").expect("joins"), score(&unsure, "费用问题").expect("joins"));
        let without = score(&[], "业务办理问题").expect("joins");
        assert!(likelier > unlikely && unlikely > without, "{likelier} vs {unlikely} vs {without}");
        assert!(likelier - without <= 0.15, "an unsure label leans, it does not decide: {likelier} vs {without}");
    }

    #[test]
    fn a_short_complaint_in_another_category_may_follow_up_a_case_that_is_one_order() {
        let order = "用户来电反映上月申请办理宽带业务迁移,安装人员上门后称新地址系统录入错误,至今无法迁移,要求尽快处理";
        let mut k = case("installation_delay", at(1, 9), at(1, 9));
        let m = fits(&k, order, "billing_dispute", "那笔钱什么时候退", at(2, 9)).expect("one order, keywords unsure");
        assert_eq!(m.category, CategoryMatch::Different);
        k.complaint_count = 2;
        assert!(fits(&k, order, "billing_dispute", "那笔钱什么时候退", at(2, 9)).is_none(), "no longer one order");
        let short = case("installation_delay", at(1, 9), at(1, 9));
        assert!(
            fits(&short, "师傅还没来", "billing_dispute", "那笔钱什么时候退", at(2, 9)).is_none(),
            "two short texts"
        );
    }

    #[test]
    fn a_vague_follow_up_joins_an_open_case_but_does_not_reopen_a_closed_one() {
        let mut k = case("broadband_outage", at(1, 9), at(2, 9));
        assert_eq!(
            fits(&k, "光猫断网", OTHER, "还是没解决,太气人了", at(3, 9)).map(|m| m.category),
            Some(CategoryMatch::Uncategorized)
        );
        k.status = CaseStatus::Closed;
        k.closed_at = Some(at(3, 9));
        assert!(fits(&k, "光猫断网", OTHER, "还是没解决,太气人了", at(4, 9)).is_none());
        let reopen = fits(&k, "光猫断网", "broadband_outage", "又断网了", at(20, 9)).expect("within the reopen window");
        assert!(reopen.reopens);
        let late = fits(&k, "光猫断网", "broadband_outage", "又断网了", at(2, 20)).expect("written before the closure");
        assert!(!late.reopens);
        k.status = CaseStatus::Merged;
        assert!(fits(&k, "光猫断网", "broadband_outage", "又断网了", at(4, 9)).is_none());
    }

    #[test]
    fn a_short_complaint_in_no_category_that_says_what_it_is_about_is_judged_on_its_text() {
        let k = case("broadband_outage", at(1, 9), at(1, 9));
        let order = "用户来电反映家中宽带频繁断网,光猫红灯闪烁,维修人员上门两次仍未修好";
        let invoice = "客户来电反映电子发票一直没有发送到邮箱,打印不了报销";
        assert!(featurizer().signature(invoice).content_terms() >= VAGUE_TERMS);
        assert!(fits(&k, order, OTHER, invoice, at(2, 9)).is_none(), "another problem");
        assert!(fits(&k, order, OTHER, "还是没解决,太气人了", at(2, 9)).is_some(), "a vague follow-up");
    }

    #[test]
    fn a_category_the_case_is_also_about_is_related() {
        let mut k = case("broadband_outage", at(1, 9), at(1, 9));
        k.extra_categories = vec!["billing_dispute".into()];
        assert_eq!(
            fits(&k, "断网", "billing_dispute", "扣费不对", at(2, 9)).map(|m| m.category),
            Some(CategoryMatch::Related)
        );
        let f = featurizer();
        let signature = f.signature("报修三天没人来,宽带一直断");
        let also = vec!["broadband_outage".to_owned()];
        let facts = ComplaintFacts {
            category: "installation_delay",
            also: &also,
            kin: &[],
            signature: &signature,
            label_odds: &[],
            trigrams: &[],
            received_at: at(2, 9),
            follows_up: false,
        };
        let plain = case("broadband_outage", at(1, 9), at(1, 9));
        let m = fit(&plain, &f.signature("断网"), &facts, &GroupingPolicy::default());
        assert_eq!(m.map(|m| m.category), Some(CategoryMatch::Related), "the complaint also mentions the outage");

        // A neighbour of the case's category in the taxonomy's family: a slow network after a
        // weak signal.
        let signature = f.signature("网速太慢了");
        let kin = vec!["mobile_signal".to_owned()];
        let facts = ComplaintFacts { category: "slow_network", also: &[], kin: &[], signature: &signature, ..facts };
        let signal = case("mobile_signal", at(1, 9), at(1, 9));
        let signal_terms = f.signature("手机没信号");
        assert_eq!(fit(&signal, &signal_terms, &facts, &GroupingPolicy::default()), None, "unrelated categories");
        let m = fit(&signal, &signal_terms, &ComplaintFacts { kin: &kin, ..facts }, &GroupingPolicy::default());
        assert_eq!(m.map(|m| m.category), Some(CategoryMatch::Related), "one family");
    }

    #[test]
    fn two_identities_cases_are_one_problem_by_category_or_text() {
        let f = featurizer();
        let a = case("broadband_outage", at(1, 9), at(3, 9));
        let b = case("broadband_outage", at(4, 9), at(5, 9));
        let c = case("billing_dispute", at(2, 9), at(2, 9));
        let terms = f.signature("光猫断网");
        let policy = GroupingPolicy::default();
        assert!(same_problem(&a, &terms, &b, &terms, &[], &policy).is_some());
        assert!(same_problem(&a, &terms, &c, &f.signature("扣费"), &[], &policy).is_none());
        let later = case("broadband_outage", at(20, 9), at(20, 9));
        assert!(same_problem(&a, &terms, &later, &terms, &[], &policy).is_none(), "weeks apart");
    }

    #[test]
    fn a_copy_of_a_cases_telling_joins_it_though_its_terms_leave_the_copied_words_out() {
        let order = "受理号码:138******00,业务类型:宽带故障,故障地点:大连市开发区湾里南12-3-1,\
                     设备信息:光猫型号HG8245,预约时间:上午,用户反映家中宽带晚上经常掉线";
        let copy = "[公众号留言]业务类型:宽带故障,故障地点:大连市开发区湾里南12-3-1,设备信息:光猫型号HG8245";
        let f = featurizer();
        let hashes = |text: &str| f.signature_and_trigrams(text).1.into_iter().map(|t| t.hash);
        let (signature, trigrams) = f.signature_and_trigrams(copy);
        // Nothing counted yet: every trigram weighs alike.
        let trigrams: Vec<(u32, f32)> = trigrams.iter().map(|t| (t.hash, 1.0)).collect();
        let mut k = case("billing_dispute", at(1, 9), at(1, 9));
        // The case's strongest terms, as if the order's fields were not among them.
        let case_terms = f.signature("用户反映话费账单多扣");
        let facts = ComplaintFacts {
            category: "broadband_outage",
            also: &[],
            kin: &[],
            signature: &signature,
            label_odds: &[],
            trigrams: &trigrams,
            received_at: at(2, 9),
            follows_up: false,
        };
        assert_eq!(fit(&k, &case_terms, &facts, &GroupingPolicy::default()), None, "without a fingerprint");
        k.fingerprint = mend_core::Fingerprint::of(hashes(order));
        let m = fit(&k, &case_terms, &facts, &GroupingPolicy::default()).expect("a copy of the order");
        assert!(m.copied.is_some_and(|c| c >= COPIED) && m.score >= COPY_BASE, "{m:?}");

        k.fingerprint = mend_core::Fingerprint::of(hashes(
            "受理号码:139******11,业务类型:话费争议,用户反映本月账单多扣三十元流量费",
        ));
        assert_eq!(fit(&k, &case_terms, &facts, &GroupingPolicy::default()), None, "the same template, another order");
    }
}
