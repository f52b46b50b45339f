//! Emails as the outbox keeps them: what kind, where in its delivery, and the images its HTML
//! part shows inline.

use serde::{Deserialize, Serialize};

use crate::text_enum::text_enum;

text_enum! {
    /// Why an email is sent; one template pair under `config/emails/` each.
    pub enum EmailKind ("email kind") {
        /// A satisfaction survey after a repaired case closed.
        Survey = "survey",
        /// The customer could not be reached and the case was closed.
        Unreachable = "unreachable",
        /// The supervisors' daily hot-issue report.
        Hotspots = "hotspots",
        /// A task breached its SLA.
        SlaAlert = "sla_alert",
        /// A case at risk of a formal complaint came back.
        ReopenAlert = "reopen_alert",
    }
}

text_enum! {
    /// Where an email is in its delivery.
    pub enum EmailStatus ("email status") {
        /// Waiting for its (next) attempt.
        Queued = "queued",
        /// A sender holds it and is talking to the SMTP server.
        Sending = "sending",
        Sent = "sent",
        /// Given up on: a permanent refusal, or every attempt failed; `last_error` says why.
        Failed = "failed",
        /// Not sent, and never to be: what it was about no longer stands (a survey of a case
        /// that reopened, or whose link ran out); `last_error` says why.
        Withdrawn = "withdrawn",
    }
}

/// An image the HTML part shows as `<img src="cid:{content_id}">`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InlinePart {
    pub content_id: String,
    pub content_type: String,
    /// The bytes, base64 (standard alphabet) so the outbox row stays text.
    pub base64: String,
}
