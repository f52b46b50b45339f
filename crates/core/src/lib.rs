//! Domain vocabulary of mend: identifiers, channels, customer keys and the canonical complaint.
//!
//! This crate does no I/O and knows nothing of databases, HTTP or async runtimes, so every other
//! crate can share these types and every rule here is testable with plain data.

mod case;
mod channel;
mod clock;
mod compensation;
mod complaint;
mod cue_numbers;
mod customer;
mod email;
mod fingerprint;
mod identity;
mod ids;
mod job;
mod money;
mod phone;
mod priority_reasons;
mod privacy;
mod role;
mod task;
mod temperament;
mod text_enum;

pub use case::{Case, CaseStatus, CaseTerms, MalformedTerms};
pub use channel::{Channel, UnknownChannel};
pub use clock::{Clock, FixedClock, SystemClock};
pub use compensation::{Compensation, CompensationKind, CompensationStatus};
pub use complaint::{
    CategorySource, Complaint, ComplaintLine, CustomerDetails, Delivery, DeliveryContent, Quarantined, Satisfaction,
    StoredComplaint,
};
pub use cue_numbers::cue_stands_alone;
pub use customer::{Customer, LinkedIdentity, STANDARD_TIER};
pub use email::{EmailKind, EmailStatus, InlinePart};
pub use fingerprint::{Fingerprint, MalformedFingerprint};
pub use identity::{CustomerKey, IdentityKind};
pub use ids::{
    CaseId, CompensationId, ComplaintId, CustomerId, EmailId, EscalationId, JobRunId, MergeId, QuarantineId, SurveyId,
    TaskId, UserId,
};
pub use job::{Figure, JobCounts, JobOutcome};
pub use money::Money;
pub use phone::{InvalidPhoneNumber, PhoneNumber, ascii_digit};
pub use priority_reasons::{ContactReason, DueReason, PriorityFactor, PriorityReasons, ScriptProblem, SlaEscalation};
pub use privacy::{mask_key, mask_phone, mask_phones_in};
pub use role::Role;
pub use task::{ContactResult, Task, TaskKind, TaskOutcome, TaskStatus};
pub use temperament::{Temperament, TemperamentReason, TemperamentSource};
pub use text_enum::UnknownWord;
