//! The customer's temperament, which picks the tone of the script: inferred from what they
//! wrote with configured cues (and shown with the cues that fired), unless an agent set it.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use mend_store::CustomerRecord;
use serde::{Deserialize, Serialize};

/// The four temperaments of the repair method, and neutral when nothing shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Temperament {
    /// Acknowledge and praise them.
    SelfRegarding,
    /// Let them vent, then soothe.
    Impulsive,
    /// Listen and be the good student.
    Lecturing,
    /// Patience, plain words, empathy.
    Sensitive,
    Neutral,
}

impl Temperament {
    pub const ALL: [Temperament; 5] = [
        Temperament::Impulsive,
        Temperament::Lecturing,
        Temperament::Sensitive,
        Temperament::SelfRegarding,
        Temperament::Neutral,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Temperament::SelfRegarding => "self_regarding",
            Temperament::Impulsive => "impulsive",
            Temperament::Lecturing => "lecturing",
            Temperament::Sensitive => "sensitive",
            Temperament::Neutral => "neutral",
        }
    }
}

impl fmt::Display for Temperament {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Temperament {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Temperament::ALL.into_iter().find(|t| t.as_str() == s).ok_or_else(|| {
            format!("unknown temperament `{s}` (self_regarding, impulsive, lecturing, sensitive, neutral)")
        })
    }
}

/// `[scheduler.temperament]`: phrases that show each temperament.
#[derive(Debug, Clone, Deserialize)]
pub struct TemperamentCues {
    pub cues: BTreeMap<Temperament, Vec<String>>,
}

/// A temperament and how it was decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TemperamentReading {
    pub temperament: Temperament,
    /// `agent` when a person set it, `inferred` otherwise.
    pub source: &'static str,
    /// The cues found in the texts, for the temperament chosen.
    pub cues: Vec<String>,
}

impl TemperamentCues {
    /// An agent's choice wins; otherwise the temperament whose cues the texts show most often
    /// (ties go to the one listed first in [`Temperament::ALL`]: an angry customer is the one
    /// whose call goes worst when misread), else neutral.
    pub fn read<'a>(&self, customer: &CustomerRecord, texts: impl IntoIterator<Item = &'a str>) -> TemperamentReading {
        if customer.temperament_set_by.is_some()
            && let Some(set) = customer.temperament.as_deref().and_then(|t| t.parse().ok())
        {
            return TemperamentReading { temperament: set, source: "agent", cues: Vec::new() };
        }
        let texts: Vec<String> = texts.into_iter().map(str::to_lowercase).collect();
        let mut best: Option<(usize, Temperament, Vec<String>)> = None;
        for temperament in Temperament::ALL {
            let Some(cues) = self.cues.get(&temperament) else { continue };
            let mut fired = Vec::new();
            let mut hits = 0;
            for cue in cues {
                let needle = cue.to_lowercase();
                let n: usize = texts.iter().map(|t| t.matches(needle.as_str()).count()).sum();
                if n > 0 {
                    hits += n;
                    fired.push(cue.clone());
                }
            }
            if hits > 0 && best.as_ref().is_none_or(|(h, _, _)| hits > *h) {
                best = Some((hits, temperament, fired));
            }
        }
        match best {
            Some((_, temperament, cues)) => TemperamentReading { temperament, source: "inferred", cues },
            None => TemperamentReading { temperament: Temperament::Neutral, source: "inferred", cues: Vec::new() },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cues() -> TemperamentCues {
        TemperamentCues {
            cues: BTreeMap::from([
                (Temperament::Impulsive, vec!["气死".to_owned(), "!!!".to_owned()]),
                (Temperament::Sensitive, vec!["担心".to_owned(), "不懂".to_owned()]),
            ]),
        }
    }

    fn customer(temperament: Option<&str>, set_by: Option<&str>) -> CustomerRecord {
        CustomerRecord {
            customer_id: mend_core::CustomerId::new(),
            name: None,
            email: None,
            tier: "standard".into(),
            temperament: temperament.map(str::to_owned),
            temperament_set_by: set_by.map(str::to_owned),
            timezone: "Asia/Shanghai".into(),
            do_not_disturb: false,
        }
    }

    #[test]
    fn the_cues_that_fire_most_win_and_are_shown() {
        let read = cues().read(&customer(None, None), ["我很担心,我也不懂这些", "气死了"]);
        assert_eq!(read.temperament, Temperament::Sensitive);
        assert_eq!(read.cues, ["担心", "不懂"]);
        assert_eq!(read.source, "inferred");
        assert_eq!(cues().read(&customer(None, None), ["宽带断了"]).temperament, Temperament::Neutral);
    }

    #[test]
    fn an_agents_choice_wins_over_the_texts() {
        let read = cues().read(&customer(Some("lecturing"), Some("agent")), ["气死了!!!"]);
        assert_eq!((read.temperament, read.source), (Temperament::Lecturing, "agent"));
        // A stored value nobody set (say, from an import) does not override the texts.
        let read = cues().read(&customer(Some("lecturing"), None), ["气死了!!!"]);
        assert_eq!(read.temperament, Temperament::Impulsive);
    }
}
