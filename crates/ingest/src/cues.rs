//! Words that mark a message as dissatisfaction (or a request for a person): where a channel
//! mixes complaints with everything else, they decide which messages are complaints.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

#[derive(Debug, Clone)]
pub struct Cues {
    words: Vec<String>,
    automaton: Option<AhoCorasick>,
}

impl Cues {
    /// Blank words are skipped; Latin letters match in any case.
    pub fn new(words: &[String]) -> Self {
        let words: Vec<String> = words.iter().map(|w| w.trim().to_lowercase()).filter(|w| !w.is_empty()).collect();
        let automaton = (!words.is_empty()).then(|| {
            AhoCorasickBuilder::new()
                .match_kind(MatchKind::Standard)
                .ascii_case_insensitive(true)
                .build(&words)
                .expect("plain words always build an automaton")
        });
        Self { words, automaton }
    }

    /// The distinct cues in `text`, in the order they first occur.
    pub fn found_in(&self, text: &str) -> Vec<&str> {
        let Some(automaton) = &self.automaton else { return Vec::new() };
        let mut found: Vec<&str> = Vec::new();
        for m in automaton.find_overlapping_iter(text) {
            let word = self.words[m.pattern().as_usize()].as_str();
            if !found.contains(&word) {
                found.push(word);
            }
        }
        found
    }

    /// Whether `text` holds a cue, a number among them only as a number of its own: "打12315"
    /// names the consumer hotline, the phone number 13912315678 does not.
    pub fn any_in(&self, text: &str) -> bool {
        let Some(automaton) = &self.automaton else { return false };
        automaton.find_iter(text).any(|m| mend_core::cue_stands_alone(text, m.range()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cues(words: &[&str]) -> Cues {
        Cues::new(&words.iter().map(|w| w.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn finds_each_cue_once_in_order() {
        let c = cues(&["投诉", "又断了", "太慢", "12315"]);
        assert_eq!(c.found_in("宽带又断了,网速太慢,我要投诉!又断了"), ["又断了", "太慢", "投诉"]);
        assert!(c.any_in("再不解决打12315"));
        assert!(!c.any_in("请回电13912315678"), "a phone number holding 12315");
        assert!(!c.any_in("请问怎么办理套餐"));
    }

    #[test]
    fn latin_letters_match_in_any_case_and_no_words_match_nothing() {
        assert!(cues(&["APP"]).any_in("app又闪退"));
        assert!(cues(&[" ", ""]).found_in("投诉").is_empty());
    }
}
