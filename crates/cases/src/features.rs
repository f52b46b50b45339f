//! What a complaint is about, as text features that can be compared: "is it the same problem?"
//!
//! A text becomes a bag of weighted terms: the words jieba segments (two characters or more,
//! stopwords and numbers dropped), the character bigrams of its Chinese runs (robust where
//! segmentation differs between two phrasings), and the taxonomy keywords it contains (the
//! terms that name problems, weighted highest). Channel boilerplate ("客户来电反映", "[公众号留言]")
//! and venting ("到底有没有人管") are removed first: they say how a complaint arrived or how
//! angry the customer is, not what the problem is. A case keeps the strongest terms of all its
//! complaints, so comparing a new complaint with a case is one cosine over a few dozen terms.

use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use mend_core::CaseTerms;

/// Terms a case keeps: enough to recognise its problem, small enough to store on the case.
pub const CASE_TERMS: usize = 32;

const WORD_WEIGHT: f32 = 1.0;
const BIGRAM_WEIGHT: f32 = 0.5;
const KEYWORD_WEIGHT: f32 = 2.0;

/// A complaint with fewer content terms than this says nothing about which problem it is
/// ("还是那个问题", a call rated 1 without notes).
const INFORMATIVE_TERMS: usize = 3;

/// Content terms from which a text describes its problem rather than naming it: an agent's
/// full order, a long message (chosen on real orders, see `crate::grouping`).
const DETAILED_TERMS: usize = 10;

/// How much a short complaint's terms count in a case that holds a full telling (see
/// [`Signature::with_complaint`]; 0.5, 0.25, 0.1 and 0 tried on real orders, 0.25 best).
const SHORT_COMPLAINT_SHARE: f32 = 0.25;

/// jieba's dictionary without its rarest words (frequency below 5): 136,000 of its 349,000
/// entries, a third of the memory (the full one costs 43 MiB, a fifth of an import's budget).
/// The words dropped are mostly rare names and idioms, which complaints seldom use; a word not
/// in the dictionary is still found by jieba's route search, only as shorter pieces.
const DICTIONARY: &[u8] = include_bytes!("../data/jieba_dict.txt");

static JIEBA: LazyLock<jieba_rs::Jieba> = LazyLock::new(|| {
    jieba_rs::Jieba::with_dict(&mut std::io::BufReader::new(DICTIONARY)).expect("the bundled dictionary parses")
});

/// Function words and fillers that every complaint shares.
const STOPWORDS: &[&str] = &[
    "一直", "已经", "现在", "还是", "怎么", "什么", "这个", "那个", "我们", "你们", "他们", "自己", "就是", "但是",
    "而且", "因为", "所以", "如果", "然后", "今天", "昨天", "明天", "到底", "真的", "一下", "好几", "几次", "这样",
    "没有", "不是", "可以", "知道", "问题", "情况", "时候", "处理", "解决", "尽快", "要求", "客户", "用户", "反映",
    "请问", "你好", "您好", "谢谢", "麻烦", "一次", "两次", "三次", "结果", "其实", "根本", "实在", "非常", "特别",
];

fn is_stopword(word: &str) -> bool {
    static SET: LazyLock<rustc_hash::FxHashSet<&'static str>> = LazyLock::new(|| STOPWORDS.iter().copied().collect());
    SET.contains(word)
}

/// Which spans of a text jieba finds as words, segmenting only the runs asked about.
///
/// jieba segments each run of Chinese and ASCII word characters on its own, so the words of a
/// run are the same whether it is segmented alone or within the whole text. A run is cut here
/// only at characters jieba never puts in one (ASCII spaces and punctuation, CJK and full-width
/// punctuation): a run may hold several of jieba's, never part of one. The classifier asks
/// about the few runs that hold a keyword, not the whole order.
pub(crate) struct Segmentation<'a> {
    text: &'a str,
    /// Runs segmented so far, and their words.
    runs: Vec<(Span, Vec<Span>)>,
}

/// Where a run or a word lies in the text: its start and end in bytes.
type Span = (usize, usize);

impl<'a> Segmentation<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Self { text, runs: Vec::new() }
    }

    /// Whether `text[start..end]` is made of whole words of jieba's: it starts where one starts
    /// and ends where one ends, so a phrase jieba cuts in two (又断了) counts as a word does.
    pub(crate) fn is_whole_words(&mut self, start: usize, end: usize) -> bool {
        let run: Span = match self.text[start..].chars().next() {
            // Outside runs jieba has rules of its own ("\r\n" is one word): ask it of the whole.
            Some(c) if ends_run(c) => (0, self.text.len()),
            _ => {
                let before = self.text[..start].char_indices().rev().find(|(_, c)| ends_run(*c));
                let run_start = before.map_or(0, |(i, c)| i + c.len_utf8());
                (run_start, self.text[start..].find(ends_run).map_or(self.text.len(), |i| start + i))
            }
        };
        let index = match self.runs.iter().position(|(segmented, _)| *segmented == run) {
            Some(index) => index,
            None => {
                let words = JIEBA.tokenize(&self.text[run.0..run.1], jieba_rs::TokenizeMode::Default, false);
                let spans = words.iter().map(|w| (run.0 + w.byte_start, run.0 + w.byte_end)).collect();
                self.runs.push((run, spans));
                self.runs.len() - 1
            }
        };
        let words = &self.runs[index].1;
        words.iter().any(|(s, _)| *s == start) && words.iter().any(|(_, e)| *e == end)
    }
}

/// A character that no run of jieba's holds, so a run can be segmented on its own up to it.
fn ends_run(c: char) -> bool {
    match c {
        '+' | '#' | '&' | '.' | '_' | '%' | '-' => false,
        c if c.is_ascii() => !c.is_ascii_alphanumeric(),
        '\u{2000}'..='\u{206F}' | '\u{3000}'..='\u{303F}' | '\u{FF00}'..='\u{FFEF}' => true,
        _ => false,
    }
}

/// The terms of a text while its signature is being built, in the order found: their texts
/// share one buffer, as in a [`Signature`] (a real order has a few hundred terms, and a string
/// each made allocation an eighth of an import's time). Each term's key is a hash of its text
/// ([`term_key`]): signatures compare keys, one integer comparison where comparing texts would
/// be a string comparison.
#[derive(Debug, Default)]
struct Terms {
    texts: String,
    found: Vec<Slot>,
}

impl Terms {
    fn with_capacity(text_bytes: usize, terms: usize) -> Self {
        Terms { texts: String::with_capacity(text_bytes), found: Vec::with_capacity(terms) }
    }

    /// Adds the term `write` writes out.
    fn push(&mut self, weight: f32, write: impl FnOnce(&mut String)) {
        let start = self.texts.len();
        write(&mut self.texts);
        let key = term_key(&self.texts[start..]);
        self.found.push(Slot { key, weight, start: start as u32, len: (self.texts.len() - start) as u32 });
    }

    /// The signature of these terms, the weights of repeated ones summed.
    fn into_signature(self) -> Signature {
        let Terms { texts, mut found } = self;
        let text = |s: &Slot| &texts[s.start as usize..(s.start + s.len) as usize];
        found.sort_unstable_by(|a, b| a.key.cmp(&b.key).then_with(|| text(a).cmp(text(b))));
        found.dedup_by(|next, kept| {
            let same = next.key == kept.key && text(next) == text(kept);
            if same {
                kept.weight += next.weight;
            }
            same
        });
        Signature::pack(found.iter().map(|s| (s.key, text(s), s.weight)))
    }
}

/// A term's key: 64-bit FNV-1a of its text, a hash fixed by its definition (unlike the
/// standard library's or rustc-hash's, which may change between versions), so the keys the
/// database keeps term statistics under (see [`crate::term_statistics`]) mean the same terms
/// after any upgrade.
pub fn term_key(text: &str) -> u64 {
    fnv1a(text.bytes())
}

/// The key of the bigram term of `a` and `b` (`~ab`, see [`Featurizer::signature`]), without
/// writing the term out.
fn bigram_key(a: char, b: char) -> u64 {
    let (mut x, mut y) = ([0; 4], [0; 4]);
    let (a, b) = (a.encode_utf8(&mut x).as_bytes(), b.encode_utf8(&mut y).as_bytes());
    fnv1a(std::iter::once(b'~').chain(a.iter().copied()).chain(b.iter().copied()))
}

fn fnv1a(bytes: impl Iterator<Item = u8>) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.fold(OFFSET_BASIS, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(PRIME))
}

/// A term as a signature keeps it: its text is a range of the signature's `texts`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Slot {
    key: u64,
    weight: f32,
    start: u32,
    len: u32,
}

/// Terms and their weights, sorted by key, so two signatures compare in one merge pass without
/// building a map. The texts share one buffer: the working set of a long import holds tens of
/// thousands of cases, and a string per term would take three times the memory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Signature {
    texts: String,
    slots: Vec<Slot>,
}

impl Signature {
    /// A signature of terms already in key order.
    fn pack<'a>(terms: impl Iterator<Item = (u64, &'a str, f32)> + Clone) -> Self {
        let (bytes, count) = terms.clone().fold((0, 0), |(bytes, count), (_, text, _)| (bytes + text.len(), count + 1));
        let mut signature = Signature { texts: String::with_capacity(bytes), slots: Vec::with_capacity(count) };
        for (key, text, weight) in terms {
            let start = signature.texts.len() as u32;
            signature.texts.push_str(text);
            signature.slots.push(Slot { key, weight, start, len: text.len() as u32 });
        }
        signature
    }

    fn text(&self, slot: &Slot) -> &str {
        &self.texts[slot.start as usize..(slot.start + slot.len) as usize]
    }

    /// The keys of its terms, in key order.
    pub fn keys(&self) -> impl Iterator<Item = u64> + '_ {
        self.slots.iter().map(|s| s.key)
    }

    /// This signature with each term's weight multiplied by `factor` of its key.
    pub fn weighted(&self, factor: impl Fn(u64) -> f32) -> Signature {
        let mut weighted = self.clone();
        for slot in &mut weighted.slots {
            slot.weight *= factor(slot.key);
        }
        weighted
    }

    /// Terms in no particular order.
    pub fn terms(&self) -> impl Iterator<Item = (&str, f32)> {
        self.slots.iter().map(|s| (self.text(s), s.weight))
    }

    /// Terms, strongest first (ties in term order).
    pub fn strongest(&self) -> Vec<(&str, f32)> {
        let mut terms: Vec<(&str, f32)> = self.terms().collect();
        terms.sort_by(by_strength);
        terms
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Content terms (words and keywords; bigrams overlap them), a measure of how much the text
    /// says about its problem.
    pub fn content_terms(&self) -> usize {
        self.terms().filter(|(t, _)| !t.starts_with('~')).count()
    }

    pub fn is_informative(&self) -> bool {
        self.content_terms() >= INFORMATIVE_TERMS
    }

    pub fn is_detailed(&self) -> bool {
        self.content_terms() >= DETAILED_TERMS
    }

    /// Cosine similarity, 0 (nothing shared) to 1.
    pub fn similarity(&self, other: &Signature) -> f32 {
        let norm = |s: &Signature| s.slots.iter().map(|t| t.weight * t.weight).sum::<f32>().sqrt();
        let (a, b) = (norm(self), norm(other));
        if a == 0.0 || b == 0.0 {
            return 0.0;
        }
        let dot: f32 = self.common(other).map(|(x, y)| x.weight * y.weight).sum();
        (dot / (a * b)).clamp(0.0, 1.0)
    }

    /// How much of this text `other` contains: the weight of the shared terms over all of
    /// this one's, 0 to 1. Asymmetric on purpose: a short follow-up is wholly inside the long
    /// order it follows up, though the two are far apart by cosine.
    pub fn containment_in(&self, other: &Signature) -> f32 {
        let total: f32 = self.slots.iter().map(|t| t.weight).sum();
        let shared: f32 = self.common(other).map(|(mine, _)| mine.weight).sum();
        share(shared, total)
    }

    /// The larger of [`Signature::containment_in`] and the same over its words alone, leaving
    /// out the taxonomy keywords, both in one pass: a short text's keyword weighs most of it, so
    /// a follow-up quoting its order in another category's words is inside the order by its
    /// words only. Looks at a slot's first byte, not its text, since it runs on every comparison
    /// of a short complaint.
    pub fn containment_with_or_without_keywords_in(&self, other: &Signature) -> f32 {
        let weigh = |(all, words): (f32, f32), slot: &Slot| {
            (all + slot.weight, if self.is_keyword(slot) { words } else { words + slot.weight })
        };
        let (total, total_words) = self.slots.iter().fold((0.0, 0.0), weigh);
        let (shared, shared_words) = self.common(other).map(|(mine, _)| mine).fold((0.0, 0.0), weigh);
        share(shared, total).max(share(shared_words, total_words))
    }

    /// A taxonomy keyword's term (`#扣费`), as [`Featurizer`] writes it.
    fn is_keyword(&self, slot: &Slot) -> bool {
        self.texts.as_bytes().get(slot.start as usize) == Some(&b'#')
    }

    /// The terms both share, strongest first (why two texts look alike).
    pub fn shared_terms(&self, other: &Signature, limit: usize) -> Vec<String> {
        let mut shared: Vec<(&str, f32)> = self
            .common(other)
            .map(|(x, y)| (self.text(x), x.weight * y.weight))
            .filter(|(t, _)| !t.starts_with('~'))
            .collect();
        shared.sort_by(by_strength);
        // A keyword is a term of its own (`#账单`) beside the word: people read it once.
        let mut named: Vec<String> = Vec::with_capacity(limit);
        for t in shared.into_iter().map(|(t, _)| t.trim_start_matches('#')) {
            if named.len() < limit && !named.iter().any(|n| n == t) {
                named.push(t.to_owned());
            }
        }
        named
    }

    /// Terms both have (mine, theirs), in key order.
    fn common<'a>(&'a self, other: &'a Signature) -> impl Iterator<Item = (&'a Slot, &'a Slot)> + 'a {
        let (mut a, mut b) = (self.slots.iter().peekable(), other.slots.iter().peekable());
        std::iter::from_fn(move || {
            loop {
                let (x, y) = (a.peek()?, b.peek()?);
                match x.key.cmp(&y.key) {
                    std::cmp::Ordering::Less => {
                        a.next();
                    }
                    std::cmp::Ordering::Greater => {
                        b.next();
                    }
                    std::cmp::Ordering::Equal => return Some((a.next()?, b.next()?)),
                }
            }
        })
    }

    /// A case's terms with one more complaint's ([`Signature::absorb`], the strongest
    /// [`CASE_TERMS`] kept). A short complaint joining a case that holds a full telling counts a
    /// quarter: an order's weight spreads over many terms and a follow-up's over a few — and a
    /// later complaint weighs more as the counts grow — so at full weight one follow-up pushed
    /// the order's words out of the case, and a retelling of the order no longer found it
    /// (cosine 0.80 → 0.41 on a real order).
    pub fn with_complaint(&self, complaint: &Signature) -> Signature {
        if self.is_detailed() && !complaint.is_detailed() {
            self.absorb(&complaint.weighted(|_| SHORT_COMPLAINT_SHARE), CASE_TERMS)
        } else {
            self.absorb(complaint, CASE_TERMS)
        }
    }

    /// This signature with `other` added, kept to the `limit` strongest terms.
    pub fn absorb(&self, other: &Signature, limit: usize) -> Signature {
        let mut sum: Vec<(u64, &str, f32)> = Vec::with_capacity(self.slots.len() + other.slots.len());
        let mut theirs = other.slots.iter().peekable();
        for mine in &self.slots {
            while let Some(t) = theirs.next_if(|t| t.key < mine.key) {
                sum.push((t.key, other.text(t), t.weight));
            }
            let extra = theirs.next_if(|t| t.key == mine.key).map_or(0.0, |t| t.weight);
            sum.push((mine.key, self.text(mine), mine.weight + extra));
        }
        sum.extend(theirs.map(|t| (t.key, other.text(t), t.weight)));
        if sum.len() > limit {
            sum.select_nth_unstable_by(limit, |a, b| by_strength(&(a.1, a.2), &(b.1, b.2)));
            sum.truncate(limit);
            sum.sort_unstable_by_key(|t| t.0);
        }
        Signature::pack(sum.into_iter())
    }

    /// With the weights a case stores (hundredths, see [`CaseTerms`]): a case decided on in
    /// memory must weigh what the same case read back from the database weighs, or where a
    /// batch ends would change what joins it.
    pub fn as_stored(mut self) -> Signature {
        for slot in &mut self.slots {
            slot.weight = (slot.weight * 100.0).round() / 100.0;
        }
        self
    }

    /// As a case keeps it (see [`CaseTerms`]).
    pub fn to_case_terms(&self) -> CaseTerms {
        CaseTerms::from_terms(self.terms())
    }

    pub fn from_case_terms(terms: &CaseTerms) -> Signature {
        let mut found = Terms::default();
        for (text, weight) in terms.iter() {
            found.push(weight, |t| t.push_str(text));
        }
        found.into_signature()
    }
}

/// Heavier first, then in term order.
/// `part` of `whole`, 0 to 1; 0 of nothing.
fn share(part: f32, whole: f32) -> f32 {
    if whole == 0.0 { 0.0 } else { (part / whole).clamp(0.0, 1.0) }
}

fn by_strength(a: &(&str, f32), b: &(&str, f32)) -> std::cmp::Ordering {
    b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0))
}

/// Configured phrases, found in a text in one pass: the noise to cut out before a text is read
/// (how a complaint arrived, how angry the customer is), the words by which a customer says a
/// complaint follows a problem up ("还是", "又", "还没": see [`crate::grouping`]).
#[derive(Debug, Clone)]
pub struct Phrases(Option<AhoCorasick>);

impl Phrases {
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

    /// Whether `text` holds one of the phrases.
    pub fn in_text(&self, text: &str) -> bool {
        self.0.as_ref().is_some_and(|phrases| phrases.is_match(text))
    }

    /// Whether `text` holds one of the phrases, a number among them only as a number of its own:
    /// "打12315" names the consumer hotline, the phone number 13912315678 does not.
    pub fn in_text_numbers_alone(&self, text: &str) -> bool {
        let Some(phrases) = &self.0 else { return false };
        phrases.find_iter(text).any(|m| mend_core::cue_stands_alone(text, m.range()))
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
    noise: Phrases,
    keywords: Option<AhoCorasick>,
    keyword_list: Vec<String>,
}

impl Featurizer {
    pub fn new(noise_phrases: &[String], keywords: &[String]) -> Self {
        let keyword_list = clean(keywords);
        Self { noise: Phrases::new(noise_phrases), keywords: build(&keyword_list), keyword_list }
    }

    pub fn signature(&self, text: &str) -> Signature {
        self.signature_of_clean(&self.noise.strip(&normalize(text)))
    }

    /// The signature of `text` and its [`Trigram`]s, from one cleaning of the text.
    pub fn signature_and_trigrams(&self, text: &str) -> (Signature, Vec<Trigram>) {
        let text = self.noise.strip(&normalize(text));
        (self.signature_of_clean(&text), trigrams(&text))
    }

    /// The signature of a text already normalized and stripped of noise.
    fn signature_of_clean(&self, text: &str) -> Signature {
        // Bigrams take about twice the text's bytes, words and keywords about as much again.
        let mut terms = Terms::with_capacity(text.len() * 3, text.len() / 2);
        if let Some(keywords) = &self.keywords {
            for m in keywords.find_iter(text) {
                let keyword = &self.keyword_list[m.pattern().as_usize()];
                terms.push(KEYWORD_WEIGHT, |t| {
                    t.push('#');
                    t.push_str(keyword);
                });
            }
        }
        for word in JIEBA.cut(text, false) {
            let word = word.word.trim();
            if word.chars().nth(1).is_some() && !is_stopword(word) && word.chars().any(char::is_alphabetic) {
                terms.push(WORD_WEIGHT, |t| t.push_str(word));
            }
        }
        let mut previous: Option<char> = None;
        for c in text.chars() {
            if let Some(p) = previous.filter(|p| is_han(*p) && is_han(c)) {
                terms.push(BIGRAM_WEIGHT, |t| {
                    t.push('~');
                    t.push(p);
                    t.push(c);
                });
            }
            previous = Some(c);
        }
        terms.into_signature()
    }
}

/// Three characters in a row of a text's Chinese runs, as a case's [`Fingerprint`] samples them:
/// `hash` is FNV-1a of the characters (a hash fixed by its definition, since fingerprints are
/// stored). The document frequencies of the two bigram terms it spans ([`Trigram::bigrams`]) say
/// how much it tells: a form's field names, which every order carries, tell nothing.
///
/// [`Fingerprint`]: mend_core::Fingerprint
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trigram {
    pub hash: u32,
    chars: [char; 3],
}

impl Trigram {
    /// The keys of its two bigram terms; worked out only for the trigrams a case could tell.
    pub fn bigrams(&self) -> [u64; 2] {
        let [a, b, c] = self.chars;
        [bigram_key(a, b), bigram_key(b, c)]
    }
}

/// A text's distinct trigrams, by hash.
fn trigrams(text: &str) -> Vec<Trigram> {
    let chars: Vec<char> = text.chars().collect();
    let mut found: Vec<Trigram> = chars
        .windows(3)
        .filter(|w| w.iter().all(|c| is_han(*c)))
        .map(|w| Trigram {
            hash: w.iter().fold(0x811c_9dc5_u32, |h, c| (h ^ *c as u32).wrapping_mul(0x0100_0193)),
            chars: [w[0], w[1], w[2]],
        })
        .collect();
    found.sort_unstable_by_key(|t| t.hash);
    found.dedup_by_key(|t| t.hash);
    found
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
        let keywords = ["断网", "光猫", "上不了网", "扣费", "话费", "账单"].map(String::from);
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
        let shared = outage.shared_terms(&again, 5);
        assert!(shared.contains(&"光猫".to_owned()), "{shared:?}");
        let shared =
            [shared, f.signature("账单还是不对").shared_terms(&f.signature("客户反映本月话费账单多扣了五十元"), 5)]
                .concat();
        let mut once = shared.clone();
        once.sort();
        once.dedup();
        assert_eq!(once.len(), shared.len(), "a keyword and its word are named once: {shared:?}");
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
        let strongest = case.strongest()[0].0;
        assert!(strongest == "#断网" || strongest == "#光猫", "keywords weigh most, not {strongest}");
        let decoded = Signature::from_case_terms(&case.to_case_terms());
        assert_eq!(decoded.terms().collect::<Vec<_>>(), case.clone().as_stored().terms().collect::<Vec<_>>());
        assert_eq!(
            decoded.terms().map(|(t, _)| t).collect::<Vec<_>>(),
            case.terms().map(|(t, _)| t).collect::<Vec<_>>()
        );
        assert!((decoded.similarity(&case) - 1.0).abs() < 1e-3);
    }

    #[test]
    fn a_short_follow_up_leaves_the_orders_words_in_its_case() {
        let f = featurizer();
        let order = f.signature(
            "客户问题描述：不知情主套餐被更改；日志查询情况：相关字段已填写；公告/历史工单/知识库情况：无向客户解释情况：酌情解释；客户要求：核实回复。",
        );
        // Weighed later, when more complaints were counted: each of its terms weighs more.
        let follow_up = f.signature("核实回复,那个业务我根本没订过,还在扣钱").weighted(|_| 2.5);
        assert!(order.is_detailed() && !follow_up.is_detailed());
        let case = order.with_complaint(&follow_up);
        let at_full_weight = order.absorb(&follow_up, CASE_TERMS);
        assert!(case.terms().count() <= CASE_TERMS);
        assert!(
            order.similarity(&case) > order.similarity(&at_full_weight) + 0.2,
            "the order retold: {} against {}",
            order.similarity(&case),
            order.similarity(&at_full_weight)
        );
        let found = follow_up.containment_in(&case);
        assert!(found >= 0.4, "the follow-up is still partly found in its case: {found}");
        let short = f.signature("宽带还是不行");
        assert_eq!(short.with_complaint(&follow_up), short.absorb(&follow_up, CASE_TERMS), "no full telling yet");
    }

    #[test]
    fn a_trigrams_bigram_keys_are_its_bigram_terms_keys() {
        let found = trigrams("光猫红");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].bigrams(), [term_key("~光猫"), term_key("~猫红")]);
        assert!(trigrams("光猫 红灯ab").is_empty(), "only runs of Chinese characters");
    }

    #[test]
    fn term_keys_are_fnv_1a() {
        // The published test vectors of 64-bit FNV-1a: stored keys depend on them.
        assert_eq!(term_key(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(term_key("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(term_key("foobar"), 0x8594_4171_f739_67e8);
    }

    proptest! {
        #[test]
        fn a_run_segmented_alone_has_the_words_of_the_whole_text(text in "[宽带断网了光猫红灯上不去话费乱收a-z0-9 ，。：、（）\\-.\r\n]{0,30}") {
            let whole: Vec<(usize, usize)> = JIEBA
                .tokenize(&text, jieba_rs::TokenizeMode::Default, false)
                .iter()
                .map(|w| (w.byte_start, w.byte_end))
                .collect();
            let bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).chain([text.len()]).collect();
            let mut segmentation = Segmentation::new(&text);
            for (i, &start) in bounds.iter().enumerate() {
                for &end in &bounds[i + 1..] {
                    // A span is judged within the run it starts in (a keyword never crosses
                    // punctuation), except where jieba's own rules run (from a space or a mark).
                    let span = &text[start..end];
                    let in_its_run = span.starts_with(ends_run) || !span.contains(ends_run);
                    let whole_words = in_its_run && whole.iter().any(|w| w.0 == start) && whole.iter().any(|w| w.1 == end);
                    prop_assert_eq!(segmentation.is_whole_words(start, end), whole_words, "{:?}", &text[start..end]);
                }
            }
        }

        fn similarity_is_symmetric_and_bounded(a in "\\PC{0,40}", b in "\\PC{0,40}") {
            let f = featurizer();
            let (x, y) = (f.signature(&a), f.signature(&b));
            let s = x.similarity(&y);
            prop_assert!((0.0..=1.0).contains(&s));
            prop_assert!((s - y.similarity(&x)).abs() < 1e-5);
        }
    }
}
