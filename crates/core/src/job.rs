use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::text_enum::text_enum;

text_enum! {
    /// How a scheduler run stands.
    pub enum JobOutcome ("job outcome") {
        /// Claimed and not finished (or its instance died; another takes it over when the
        /// lease runs out).
        Running = "running",
        Ok = "ok",
        Failed = "failed",
    }
}

/// What a job run did, figure by name (`tasks_created`, `cases_closed`…): counts, plus the
/// few facts a run reports beside them (the month a budget opened, a purge's cutoff, why it
/// failed). A JSON object of numbers, booleans and strings, nothing deeper.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobCounts(BTreeMap<String, Figure>);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Figure {
    Count(u64),
    Flag(bool),
    Fact(String),
}

impl JobCounts {
    pub fn count(mut self, name: &str, n: impl TryInto<u64>) -> Self {
        self.0.insert(name.to_owned(), Figure::Count(n.try_into().unwrap_or(u64::MAX)));
        self
    }

    pub fn flag(mut self, name: &str, value: bool) -> Self {
        self.0.insert(name.to_owned(), Figure::Flag(value));
        self
    }

    pub fn fact(mut self, name: &str, value: impl ToString) -> Self {
        self.0.insert(name.to_owned(), Figure::Fact(value.to_string()));
        self
    }

    pub fn get(&self, name: &str) -> Option<u64> {
        match self.0.get(name) {
            Some(Figure::Count(n)) => Some(*n),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_an_object_of_plain_figures() {
        let counts = JobCounts::default().count("tasks_created", 3u64).flag("opened", true).fact("month", "2026-12");
        let json = serde_json::to_string(&counts).unwrap();
        assert_eq!(json, r#"{"month":"2026-12","opened":true,"tasks_created":3}"#);
        assert_eq!(serde_json::from_str::<JobCounts>(&json).unwrap(), counts);
        assert!(serde_json::from_str::<JobCounts>(r#"{"rows":[1,2]}"#).is_err(), "nothing deeper than a figure");
        assert!(serde_json::from_str::<JobCounts>(r#"{"n":-1}"#).is_err(), "counts are whole and not negative");
    }
}
