//! A task's account of itself: what added up to its priority, the deadline it was planned to
//! meet, when it may be made, and which script it reads. The planner writes it, an SLA
//! escalation and a re-weigh amend it, the API shows it (`priority_reasons`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Why a task has the priority, timing and script it has, kept beside the task so a supervisor
/// sees what a score is made of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriorityReasons {
    /// The plan's score: the factors' sum. An escalation's points are said apart
    /// ([`Self::sla_escalation`]), so a priority above its score explains itself.
    pub score: i32,
    pub factors: Vec<PriorityFactor>,
    pub due: DueReason,
    pub contact: ContactReason,
    /// The template the script was rendered from.
    pub script_template: String,
    /// More specific templates that could not be rendered, and why (tasks planned before
    /// scripts were passed over have none).
    #[serde(default)]
    pub script_passed_over: Vec<ScriptProblem>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sla_escalation: Option<SlaEscalation>,
}

/// One thing that adds points to a priority (`base`, `tier`, `repeat_failure`, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriorityFactor {
    pub factor: String,
    pub points: i32,
    pub detail: String,
}

/// The promise a task was planned to keep, and when it is due to keep it in the customer's
/// contact hours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DueReason {
    /// The rule that set the deadline (a category's moment of truth, `as soon as allowed`).
    pub rule: String,
    pub deadline: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
}

/// When a task may be made, and what moved it later than asked (contact hours, a weekend, a
/// holiday, a call cap).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactReason {
    pub not_before: DateTime<Utc>,
    pub moved_because: Vec<String>,
}

/// A script template that could not be rendered, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptProblem {
    pub template: String,
    pub error: String,
}

/// An SLA escalation: when, and how many points it added to the plan's score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaEscalation {
    pub at: DateTime<Utc>,
    pub points: i32,
}

impl PriorityReasons {
    /// The points an SLA escalation added, kept when the task is weighed again.
    pub fn escalation_points(&self) -> i32 {
        self.sla_escalation.map_or(0, |e| e.points)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_written_before_scripts_were_passed_over_still_read() {
        let stored = r#"{"score": 45, "factors": [{"factor": "base", "points": 45, "detail": ""}],
            "due": {"rule": "as soon as allowed", "deadline": "2026-11-24T01:00:00Z", "due_at": "2026-11-24T01:00:00Z"},
            "contact": {"not_before": "2026-11-24T01:00:00Z", "moved_because": []},
            "script_template": "generic.j2"}"#;
        let reasons: PriorityReasons = serde_json::from_str(stored).unwrap();
        assert!(reasons.script_passed_over.is_empty());
        assert_eq!(reasons.escalation_points(), 0);
    }

    #[test]
    fn an_escalation_is_said_and_read_back() {
        let at: DateTime<Utc> = "2026-11-24T04:05:00Z".parse().unwrap();
        let mut reasons = PriorityReasons {
            score: 45,
            factors: Vec::new(),
            due: DueReason { rule: "broadband_outage".into(), deadline: at, due_at: at },
            contact: ContactReason { not_before: at, moved_because: vec!["weekend".into()] },
            script_template: "generic.j2".into(),
            script_passed_over: Vec::new(),
            sla_escalation: None,
        };
        assert!(!serde_json::to_string(&reasons).unwrap().contains("sla_escalation"), "none said until there is one");
        reasons.sla_escalation = Some(SlaEscalation { at, points: 30 });
        let read: PriorityReasons = serde_json::from_str(&serde_json::to_string(&reasons).unwrap()).unwrap();
        assert_eq!((read.escalation_points(), &read), (30, &reasons));
    }
}
