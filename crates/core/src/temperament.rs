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
