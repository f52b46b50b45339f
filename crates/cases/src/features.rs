//! What a complaint is about, as text features that can be compared: "is it the same problem?"
//!
//! A text becomes a bag of weighted terms: the words jieba segments (two characters or more,
//! stopwords and numbers dropped), the character bigrams of its Chinese runs (robust where
//! segmentation differs between two phrasings), and the taxonomy keywords it contains (the
//! terms that name problems, weighted highest). Channel boilerplate ("客户来电反映", "[公众号留言]")
//! and venting ("到底有没有人管") are removed first: they say how a complaint arrived or how
//! angry the customer is, not what the problem is. A case keeps the strongest terms of all its
//! complaints, so comparing a new complaint with a case is one cosine over a few dozen terms.

use std::collections::HashMap;
use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

/// Terms a case keeps: enough to recognise its problem, small enough to store on the case.
pub const CASE_TERMS: usize = 32;

const WORD_WEIGHT: f32 = 1.0;
const BIGRAM_WEIGHT: f32 = 0.5;
const KEYWORD_WEIGHT: f32 = 2.0;

/// A complaint with fewer content terms than this says nothing about which problem it is
/// ("还是那个问题", a call rated 1 without notes).
const INFORMATIVE_TERMS: usize = 3;

static JIEBA: LazyLock<jieba_rs::Jieba> = LazyLock::new(jieba_rs::Jieba::new);

/// Function words and fillers that every complaint shares.
const STOPWORDS: &[&str] = &[
    "一直", "已经", "现在", "还是", "怎么", "什么", "这个", "那个", "我们", "你们", "他们", "自己", "就是", "但是",
    "而且", "因为", "所以", "如果", "然后", "今天", "昨天", "明天", "到底", "真的", "一下", "好几", "几次", "这样",
    "没有", "不是", "可以", "知道", "问题", "情况", "时候", "处理", "解决", "尽快", "要求", "客户", "用户", "反映",
    "请问", "你好", "您好", "谢谢", "麻烦", "一次", "两次", "三次", "结果", "其实", "根本", "实在", "非常", "特别",
];

/// The byte ranges of the words jieba finds in `text`.
pub(crate) fn segment(text: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    JIEBA.tokenize(text, jieba_rs::TokenizeMode::Default, false).into_iter().map(|t| (t.byte_start, t.byte_end))
}

/// Terms and their weights.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Signature(Vec<(String, f32)>);

impl Signature {
    pub fn terms(&self) -> impl Iterator<Item = (&str, f32)> {
        self.0.iter().map(|(t, w)| (t.as_str(), *w))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Content terms (words and keywords; bigrams overlap them), a measure of how much the text
    /// says about its problem.
    pub fn content_terms(&self) -> usize {
        self.0.iter().filter(|(t, _)| !t.starts_with('~')).count()
    }

    pub fn is_informative(&self) -> bool {
        self.content_terms() >= INFORMATIVE_TERMS
    }

    /// Cosine similarity, 0 (nothing shared) to 1.
    pub fn similarity(&self, other: &Signature) -> f32 {
        let norm = |s: &Signature| s.0.iter().map(|(_, w)| w * w).sum::<f32>().sqrt();
        let (a, b) = (norm(self), norm(other));
        if a == 0.0 || b == 0.0 {
            return 0.0;
        }
        let theirs: HashMap<&str, f32> = other.terms().collect();
        let dot: f32 = self.terms().filter_map(|(t, w)| theirs.get(t).map(|v| v * w)).sum();
        (dot / (a * b)).clamp(0.0, 1.0)
    }

    /// The terms both share, strongest first (why two texts look alike).
    pub fn shared_terms(&self, other: &Signature, limit: usize) -> Vec<String> {
        let theirs: HashMap<&str, f32> = other.terms().collect();
        let mut shared: Vec<(&str, f32)> = self
            .terms()
            .filter(|(t, _)| !t.starts_with('~'))
            .filter_map(|(t, w)| theirs.get(t).map(|v| (t, v * w)))
            .collect();
        shared.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
        shared.into_iter().take(limit).map(|(t, _)| t.trim_start_matches('#').to_owned()).collect()
    }

    /// This signature with `other` added, kept to the `limit` strongest terms.
    pub fn absorb(&self, other: &Signature, limit: usize) -> Signature {
        let mut sum: HashMap<&str, f32> = self.terms().collect();
        for (t, w) in other.terms() {
            *sum.entry(t).or_default() += w;
        }
        let mut terms: Vec<(String, f32)> = sum.into_iter().map(|(t, w)| (t.to_owned(), w)).collect();
        terms.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        terms.truncate(limit);
        Signature(terms)
    }

    /// As stored on a case: `term weight` pairs separated by tabs.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        for (i, (t, w)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push('\t');
            }
            out.push_str(t);
            out.push(' ');
            out.push_str(&format!("{w:.2}"));
        }
        out
    }

    /// Reads [`Signature::encode`]; what cannot be read is dropped (a signature is a summary,
    /// not a record).
    pub fn decode(text: &str) -> Signature {
        Signature(
            text.split('\t')
                .filter_map(|pair| {
                    let (t, w) = pair.rsplit_once(' ')?;
                    Some((t.to_owned(), w.parse().ok()?))
                })
                .collect(),
        )
    }
}

/// Phrases to cut out of a text before reading it: they say how a complaint arrived or how
/// angry the customer is, not what the problem is.
#[derive(Debug, Clone)]
pub struct Noise(Option<AhoCorasick>);

impl Noise {
    pub fn new(phrases: &[String]) -> Self {
        Self(build(&clean(phrases)))
    }

    /// `text` with each phrase replaced by a space (so words on either side stay apart).
    pub fn strip(&self, text: &str) -> String {
        match &self.0 {
            Some(noise) => noise.replace_all(text, &vec![" "; noise.patterns_len()]),
            None => text.to_owned(),
        }
    }
}

fn build(words: &[String]) -> Option<AhoCorasick> {
    (!words.is_empty()).then(|| {
        AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostLongest)
            .ascii_case_insensitive(true)
            .build(words)
            .expect("plain words always build an automaton")
    })
}

fn clean(list: &[String]) -> Vec<String> {
    let mut v: Vec<String> = list.iter().map(|w| w.trim().to_lowercase()).filter(|w| !w.is_empty()).collect();
    v.sort();
    v.dedup();
    v
}

/// Turns texts into signatures: the noise to strip and the keywords to weigh come from
/// configuration.
#[derive(Debug, Clone)]
pub struct Featurizer {
    noise: Noise,
    keywords: Option<AhoCorasick>,
    keyword_list: Vec<String>,
}

impl Featurizer {
    pub fn new(noise_phrases: &[String], keywords: &[String]) -> Self {
        let keyword_list = clean(keywords);
        Self { noise: Noise::new(noise_phrases), keywords: build(&keyword_list), keyword_list }
    }

    pub fn signature(&self, text: &str) -> Signature {
        let text = self.noise.strip(&normalize(text));
        let mut terms: HashMap<String, f32> = HashMap::new();
        if let Some(keywords) = &self.keywords {
            for m in keywords.find_iter(&text) {
                *terms.entry(format!("#{}", self.keyword_list[m.pattern().as_usize()])).or_default() += KEYWORD_WEIGHT;
            }
        }
        for word in JIEBA.cut(&text, false) {
            let word = word.word.trim();
            if word.chars().count() >= 2 && !STOPWORDS.contains(&word) && word.chars().any(char::is_alphabetic) {
                *terms.entry(word.to_owned()).or_default() += WORD_WEIGHT;
            }
        }
        let han: Vec<char> = text.chars().collect();
        for pair in han.windows(2) {
            if pair.iter().all(|c| is_han(*c)) {
                *terms.entry(format!("~{}{}", pair[0], pair[1])).or_default() += BIGRAM_WEIGHT;
            }
        }
        let mut terms: Vec<(String, f32)> = terms.into_iter().collect();
        terms.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Signature(terms)
    }
}

fn is_han(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}')
}

/// Lower case, full-width ASCII as half-width, digits as spaces (amounts and counts differ
/// between two tellings of one problem).
fn normalize(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .map(|c| if c.is_ascii_digit() || c.is_ascii_punctuation() { ' ' } else { c.to_ascii_lowercase() })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn featurizer() -> Featurizer {
        let noise = ["客户来电反映", "来电反映", "公众号留言", "到底有没有人管", "投诉"].map(String::from);
        let keywords = ["断网", "光猫", "上不了网", "扣费", "话费"].map(String::from);
        Featurizer::new(&noise, &keywords)
    }

    #[test]
    fn one_problem_told_two_ways_is_closer_than_two_problems() {
        let f = featurizer();
        let outage = f.signature("客户来电反映:家里光猫一直闪红灯,上不了网");
        let again = f.signature("[公众号留言] 光猫红灯还是亮着,宽带上不了网,到底有没有人管");
        let billing = f.signature("客户来电反映:这个月话费多扣了68元");
        assert!(outage.similarity(&again) > 0.4, "{}", outage.similarity(&again));
        assert!(outage.similarity(&billing) < 0.1, "{}", outage.similarity(&billing));
        assert!(outage.shared_terms(&again, 3).contains(&"光猫".to_owned()));
    }

    #[test]
    fn boilerplate_and_numbers_say_nothing() {
        let f = featurizer();
        assert!(!f.signature("客户来电反映:到底有没有人管!!!").is_informative());
        assert_eq!(f.signature("多扣了68元"), f.signature("多扣了99元"));
        assert!(f.signature("家里光猫一直闪红灯,上不了网").is_informative());
    }

    #[test]
    fn a_case_keeps_its_strongest_terms_and_round_trips() {
        let f = featurizer();
        let case = f.signature("光猫红灯断网").absorb(&f.signature("又断网了,光猫不亮"), CASE_TERMS);
        assert!(case.terms().count() <= CASE_TERMS);
        assert!(case.terms().next().is_some_and(|(t, _)| t == "#断网" || t == "#光猫"), "keywords weigh most");
        let decoded = Signature::decode(&case.encode());
        assert_eq!(
            decoded.terms().map(|(t, _)| t).collect::<Vec<_>>(),
            case.terms().map(|(t, _)| t).collect::<Vec<_>>()
        );
        assert!((decoded.similarity(&case) - 1.0).abs() < 1e-3);
        assert!(Signature::decode("garbage\tx y").is_empty());
    }

    proptest! {
        #[test]
        fn similarity_is_symmetric_and_bounded(a in "\\PC{0,40}", b in "\\PC{0,40}") {
            let f = featurizer();
            let (x, y) = (f.signature(&a), f.signature(&b));
            let s = x.similarity(&y);
            prop_assert!((0.0..=1.0).contains(&s));
            prop_assert!((s - y.similarity(&x)).abs() < 1e-5);
        }
    }
}
