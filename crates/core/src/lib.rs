//! Domain vocabulary of mend: identifiers, channels, customer keys and the canonical complaint.
//!
//! This crate does no I/O and knows nothing of databases, HTTP or async runtimes, so every other
//! crate can share these types and every rule here is testable with plain data.

mod channel;
mod clock;
mod complaint;
mod identity;
mod ids;
mod phone;
mod role;
mod temperament;

pub use channel::{Channel, UnknownChannel};
pub use clock::{Clock, FixedClock, SystemClock};
pub use complaint::{CaseStatus, Complaint, CustomerDetails, Delivery, DeliveryContent, Quarantined, Satisfaction};
pub use identity::{CustomerKey, IdentityKind};
pub use ids::{CaseId, ComplaintId, CustomerId, JobRunId, MergeId, QuarantineId, TaskId, UserId};
pub use phone::{InvalidPhoneNumber, PhoneNumber};
pub use role::Role;
pub use temperament::Temperament;
