use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The four temperaments of the repair method, which pick the tone of a call, and neutral when
/// nothing shows.
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
    /// In the order ties are broken: an angry customer is the one whose call goes worst when
    /// misread.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in Temperament::ALL {
            assert_eq!(t.as_str().parse::<Temperament>(), Ok(t));
            assert_eq!(serde_json::to_value(t).unwrap(), serde_json::json!(t.as_str()));
        }
        assert!("angry".parse::<Temperament>().is_err());
    }
}
