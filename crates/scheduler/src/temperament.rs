//! The customer's temperament, which picks the tone of the script: inferred from what they
//! wrote with configured cues (and shown with the cues that fired), unless an agent set it.

use std::collections::BTreeMap;

use aho_corasick::AhoCorasick;
use mend_core::{Customer, Temperament, TemperamentSource};
use serde::{Deserialize, Serialize};

/// `[scheduler.temperament]`: phrases that show each temperament, found in one pass over each
/// text whatever the number of cues. ASCII letters match in either case.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "CueLists")]
pub struct TemperamentCues {
    /// Every cue with its temperament, in the order configured (the matcher's pattern ids).
    cues: Vec<(Temperament, String)>,
    matcher: AhoCorasick,
}

#[derive(Deserialize)]
struct CueLists {
    cues: BTreeMap<Temperament, Vec<String>>,
}

impl TryFrom<CueLists> for TemperamentCues {
    type Error = String;

    fn try_from(lists: CueLists) -> Result<Self, String> {
        Self::new(lists.cues)
    }
}

/// A temperament and how it was decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TemperamentReading {
    pub temperament: Temperament,
    pub source: TemperamentSource,
    /// The cues found in the texts, for the temperament chosen.
    pub cues: Vec<String>,
}

impl TemperamentCues {
    pub fn new(lists: BTreeMap<Temperament, Vec<String>>) -> Result<Self, String> {
        let cues: Vec<(Temperament, String)> = lists
            .into_iter()
            .flat_map(|(temperament, cues)| cues.into_iter().filter(|c| !c.is_empty()).map(move |c| (temperament, c)))
            .collect();
        let matcher = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(cues.iter().map(|(_, cue)| cue))
            .map_err(|e| format!("scheduler.temperament.cues: {e}"))?;
        Ok(Self { cues, matcher })
    }

    /// An agent's choice wins; otherwise the temperament whose cues the texts show most often
    /// (ties go to the one listed first in [`Temperament::ALL`]), else neutral.
    pub fn read<'a>(&self, customer: &Customer, texts: impl IntoIterator<Item = &'a str>) -> TemperamentReading {
        if customer.temperament_set_by.is_some()
            && let Some(set) = customer.temperament
        {
            return TemperamentReading { temperament: set, source: TemperamentSource::Agent, cues: Vec::new() };
        }
        let mut hits = vec![0usize; self.cues.len()];
        for text in texts {
            for found in self.matcher.find_overlapping_iter(text) {
                hits[found.pattern().as_usize()] += 1;
            }
        }
        let best = Temperament::ALL
            .iter()
            .copied()
            .map(|temperament| {
                let total: usize =
                    self.cues.iter().zip(&hits).filter(|((t, _), _)| *t == temperament).map(|(_, n)| n).sum();
                (total, temperament)
            })
            .filter(|(total, _)| *total > 0)
            .fold(None, |best: Option<(usize, Temperament)>, (total, t)| match best {
                Some((most, _)) if most >= total => best,
                _ => Some((total, t)),
            });
        match best {
            Some((_, temperament)) => {
                let cues = self
                    .cues
                    .iter()
                    .zip(&hits)
                    .filter(|((t, _), n)| *t == temperament && **n > 0)
                    .map(|((_, cue), _)| cue.clone())
                    .collect();
                TemperamentReading { temperament, source: TemperamentSource::Inferred, cues }
            }
            None => TemperamentReading {
                temperament: Temperament::Neutral,
                source: TemperamentSource::Inferred,
                cues: Vec::new(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cues() -> TemperamentCues {
        TemperamentCues::new(BTreeMap::from([
            (Temperament::Impulsive, vec!["气死".to_owned(), "!!!".to_owned()]),
            (Temperament::Sensitive, vec!["担心".to_owned(), "不懂".to_owned()]),
            (Temperament::SelfRegarding, vec!["VIP".to_owned()]),
        ]))
        .unwrap()
    }

    fn customer(temperament: Option<&str>, set_by: Option<&str>) -> Customer {
        Customer {
            customer_id: mend_core::CustomerId::new(),
            name: None,
            email: None,
            tier: "standard".into(),
            temperament: temperament.map(|t| t.parse().unwrap()),
            temperament_set_by: set_by.map(str::to_owned),
            timezone: chrono_tz::Asia::Shanghai,
            do_not_disturb: false,
        }
    }

    #[test]
    fn the_cues_that_fire_most_win_and_are_shown() {
        let read = cues().read(&customer(None, None), ["我很担心,我也不懂这些", "气死了"]);
        assert_eq!(read.temperament, Temperament::Sensitive);
        assert_eq!(read.cues, ["担心", "不懂"]);
        assert_eq!(read.source, TemperamentSource::Inferred);
        assert_eq!(cues().read(&customer(None, None), ["宽带断了"]).temperament, Temperament::Neutral);
    }

    #[test]
    fn an_agents_choice_wins_over_the_texts() {
        let read = cues().read(&customer(Some("lecturing"), Some("agent")), ["气死了!!!"]);
        assert_eq!((read.temperament, read.source), (Temperament::Lecturing, TemperamentSource::Agent));
        // A stored value nobody set (say, from an import) does not override the texts.
        let read = cues().read(&customer(Some("lecturing"), None), ["气死了!!!"]);
        assert_eq!(read.temperament, Temperament::Impulsive);
    }

    #[test]
    fn ascii_cues_match_in_either_case_and_ties_go_to_the_angry() {
        let read = cues().read(&customer(None, None), ["我是vip客户"]);
        assert_eq!((read.temperament, read.cues), (Temperament::SelfRegarding, vec!["VIP".to_owned()]));
        let tie = cues().read(&customer(None, None), ["气死了,我很担心"]);
        assert_eq!(tie.temperament, Temperament::Impulsive);
    }
}
