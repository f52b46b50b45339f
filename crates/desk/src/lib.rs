//! The repair desk: agents take the most urgent task whose customer may be called now, hold it
//! on a lease, and record how the call went; the case then moves on through the scheduler's
//! rules. HTTP is `mend-server`'s, SQL is `mend-store`'s; the rules of the queue are here.

mod budget;
mod casework;
mod claims;
mod compensation;
mod completions;
mod error;
mod escalations;
mod queue;
mod typed;
mod watch;

pub use budget::MAX_MONTH_BUDGET;
pub use compensation::{CompensationRequest, CustomerCapStanding, MAX_OFFER, RequestedCompensation};
pub use error::DeskError;
pub use queue::{Agent, Claim, Desk, DeskSettings, HeldTask};
pub use watch::{BudgetReport, HeldBy, QueueReport};
