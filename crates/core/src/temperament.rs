use serde::{Deserialize, Serialize};

use crate::text_enum::text_enum;

text_enum! {
    /// The four temperaments of the repair method, which pick the tone of a call, and neutral
    /// when nothing shows. Listed in the order ties are broken ([`Temperament::ALL`]): an angry
    /// customer is the one whose call goes worst when misread.
    pub enum Temperament ("temperament") {
        /// Let them vent, then soothe.
        Impulsive = "impulsive",
        /// Listen and be the good student.
        Lecturing = "lecturing",
        /// Patience, plain words, empathy.
        Sensitive = "sensitive",
        /// Acknowledge and praise them.
        SelfRegarding = "self_regarding",
        Neutral = "neutral",
    }
}

text_enum! {
    /// Who chose the temperament a task's script was written for.
    pub enum TemperamentSource ("temperament source") {
        /// An agent, from what they heard on a call.
        Agent = "agent",
        /// The scheduler, from cues in the customer's complaints (neutral when none shows).
        Inferred = "inferred",
    }
}

/// Why a task's script was written for its temperament: who chose it, and the cues found in the
/// complaints (none when an agent chose).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemperamentReason {
    pub source: TemperamentSource,
    pub cues: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for &t in Temperament::ALL {
            assert_eq!(t.as_str().parse::<Temperament>(), Ok(t));
            assert_eq!(serde_json::to_value(t).unwrap(), serde_json::json!(t.as_str()));
        }
        assert!("angry".parse::<Temperament>().is_err());
    }
}
