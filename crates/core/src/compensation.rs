use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::text_enum::text_enum;
use crate::{CaseId, CompensationId, Money, TaskId, UserId};

text_enum! {
    /// What a customer is offered.
    pub enum CompensationKind ("compensation kind") {
        BillCredit = "bill_credit",
        DataPack = "data_pack",
        Coupon = "coupon",
        Refund = "refund",
        Gift = "gift",
    }
}

text_enum! {
    /// Where an offer stands: within the agent's limit it is approved at once; above it, a
    /// supervisor decides.
    pub enum CompensationStatus ("compensation status") {
        Pending = "pending",
        Approved = "approved",
        Rejected = "rejected",
    }
}

/// An offer of compensation on a case, and where its decision stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Compensation {
    pub compensation_id: CompensationId,
    pub case_id: CaseId,
    pub task_id: Option<TaskId>,
    pub kind: CompensationKind,
    #[serde(rename = "amount_fen")]
    pub amount: Money,
    pub reason: String,
    pub status: CompensationStatus,
    pub requested_by: UserId,
    /// Who decided; `None` with `approved`: within the requester's limit, approved at once.
    pub decided_by: Option<UserId>,
    pub decision_reason: Option<String>,
    pub requested_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
}
