//! Calls that passed their SLA, as a supervisor sees to them: the scheduler escalates a late
//! task once; a supervisor acknowledges it (they arranged the call), and the escalation leaves
//! their list, as it does when the call is made.

use chrono::{DateTime, Utc};
use mend_core::{EscalationId, Role};
use mend_store::audit;
use mend_store::escalations::{self, EscalationRecord};

use crate::queue::entry;
use crate::{Agent, Desk, DeskError};

impl Desk {
    /// Marks an escalation seen; refused when it was acknowledged already or its call was made.
    pub async fn acknowledge_escalation(
        &self,
        id: EscalationId,
        supervisor: &Agent,
        now: DateTime<Utc>,
    ) -> Result<EscalationRecord, DeskError> {
        if !supervisor.role.includes(Role::Supervisor) {
            return Err(DeskError::Forbidden("escalations are acknowledged by supervisors".into()));
        }
        let tx = self.store.begin_write().await?;
        let escalation = escalations::escalation_by_id(&tx, id)
            .await?
            .ok_or_else(|| DeskError::NotFound(format!("escalation {id}")))?;
        if !escalations::acknowledge_escalation(&tx, id, supervisor.id, now).await? {
            let zone = self.policy.zone()?;
            return Err(DeskError::Refused(match escalation.acknowledged_at {
                Some(at) => format!(
                    "这条超时升级已于 {} 确认过 (escalation {id} was acknowledged already)",
                    at.with_timezone(&zone).format("%m-%d %H:%M")
                ),
                None => format!("这通超时的回访已经打过(或已取消) (the late call of escalation {id} was made already)"),
            }));
        }
        let mut seen =
            entry(supervisor, "escalation.acknowledge", ("escalation", id.as_uuid()), now, "open", "acknowledged");
        seen.detail["task_id"] = escalation.task_id.to_string().into();
        seen.detail["case_id"] = escalation.case_id.to_string().into();
        audit::record_audit(&tx, seen).await?;
        mend_store::commit(tx).await?;
        escalations::escalation_by_id(self.store.connection(), id)
            .await?
            .ok_or_else(|| DeskError::NotFound(format!("escalation {id}")))
    }
}
