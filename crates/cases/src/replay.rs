//! A quarantined payload run through its adapter again, once the configuration or the adapter
//! that refused it was fixed: read, it goes through intake like any delivery and the quarantine
//! record is resolved; refused again, the record keeps the bytes with the new reason.

use chrono::{DateTime, Utc};
use mend_core::{CaseId, ComplaintId, Delivery, QuarantineId};
use mend_ingest::{Format, ParseSettings, Received};
use mend_store::Store;
use serde::Serialize;

use crate::{CasesError, Intake, IntakeReport, Outcome};

/// What a replay came to (`mend quarantine replay` prints it; the admin page shows it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum ReplayResult {
    AlreadyResolved {
        quarantine_id: QuarantineId,
        resolved_at: DateTime<Utc>,
    },
    StillQuarantined {
        quarantine_id: QuarantineId,
        reason: String,
    },
    /// Read, and not a complaint (a menu click, a greeting): nothing to record.
    Ignored {
        quarantine_id: QuarantineId,
        reason: String,
    },
    Accepted {
        quarantine_id: QuarantineId,
        complaint_id: ComplaintId,
        case_id: CaseId,
        case_created: bool,
    },
    Duplicate {
        quarantine_id: QuarantineId,
        complaint_id: ComplaintId,
        case_id: CaseId,
    },
}

impl ReplayResult {
    /// The `result` word the JSON answer carries (`accepted`, `still_quarantined`…).
    pub fn result(&self) -> &'static str {
        match self {
            ReplayResult::AlreadyResolved { .. } => "already_resolved",
            ReplayResult::StillQuarantined { .. } => "still_quarantined",
            ReplayResult::Ignored { .. } => "ignored",
            ReplayResult::Accepted { .. } => "accepted",
            ReplayResult::Duplicate { .. } => "duplicate",
        }
    }
}

pub async fn replay_quarantined(
    store: &Store,
    intake: &Intake,
    parse: &ParseSettings,
    id: QuarantineId,
    now: DateTime<Utc>,
) -> Result<ReplayResult, CasesError> {
    let conn = store.connection();
    let record = mend_store::quarantine::get(conn, id)
        .await?
        .ok_or_else(|| CasesError::NotFound(format!("quarantined payload {id}")))?;
    if let Some(resolved_at) = record.resolved_at {
        return Ok(ReplayResult::AlreadyResolved { quarantine_id: id, resolved_at });
    }
    let format = Format::from_label(&record.channel).ok_or_else(|| {
        CasesError::Refused(format!("payload {id} came in as `{}`, which no adapter reads", record.channel))
    })?;
    let answer = match mend_ingest::receive(&record.channel, &record.raw, format.parse(&record.raw, parse), parse, now)
    {
        Received::Delivery(Delivery::Quarantined(refused)) => Err(refused.reason),
        Received::Delivery(delivery) => {
            replayed(id, intake.record(store, std::slice::from_ref(&delivery), now).await?)?
        }
        Received::Remark(remark) => match intake.record_message(store, *remark, false, now).await? {
            Some(report) => replayed(id, report)?,
            None => {
                Ok(ReplayResult::Ignored { quarantine_id: id, reason: "no dissatisfaction cue, no case open".into() })
            }
        },
        other => Ok(ReplayResult::Ignored {
            quarantine_id: id,
            reason: other.delivery_or_ignored().err().unwrap_or_default(),
        }),
    };
    match answer {
        Ok(answer) => {
            mend_store::quarantine::record_replay(conn, id, Ok(now)).await?;
            Ok(answer)
        }
        // The same bytes and reason count on this record again (see `quarantine::insert`).
        Err(reason) => {
            mend_store::quarantine::record_replay(conn, id, Err(&reason)).await?;
            Ok(ReplayResult::StillQuarantined { quarantine_id: id, reason })
        }
    }
}

/// What recording a replayed payload came to, or why it is still quarantined: other content
/// under a recorded id, or refused by the database.
fn replayed(id: QuarantineId, report: IntakeReport) -> Result<Result<ReplayResult, String>, CasesError> {
    Ok(match report.outcomes.into_iter().next() {
        Some(Outcome::Accepted { complaint_id, case_id, case_created, .. }) => {
            Ok(ReplayResult::Accepted { quarantine_id: id, complaint_id, case_id, case_created })
        }
        Some(Outcome::Duplicate { complaint_id, case_id, .. }) => {
            Ok(ReplayResult::Duplicate { quarantine_id: id, complaint_id, case_id })
        }
        Some(Outcome::Conflict { reason, .. } | Outcome::Quarantined { reason, .. }) => Err(reason),
        None => return Err(CasesError::Worker("intake answered nothing for a complaint".into())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_result_word_is_the_one_the_json_carries() {
        let (quarantine_id, complaint_id, case_id) = (QuarantineId::new(), ComplaintId::new(), CaseId::new());
        let results = [
            ReplayResult::AlreadyResolved { quarantine_id, resolved_at: DateTime::UNIX_EPOCH },
            ReplayResult::StillQuarantined { quarantine_id, reason: "bad".into() },
            ReplayResult::Ignored { quarantine_id, reason: "menu".into() },
            ReplayResult::Accepted { quarantine_id, complaint_id, case_id, case_created: true },
            ReplayResult::Duplicate { quarantine_id, complaint_id, case_id },
        ];
        for result in results {
            assert_eq!(serde_json::to_value(&result).unwrap()["result"], result.result());
        }
    }
}
