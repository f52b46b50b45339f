//! Turns accepted complaints into cases: resolves which customer a complaint is from, which
//! problem category it is about, and whether it is the same problem as a case already open.
//!
//! The decisions ([`classify`], [`grouping`]) are pure functions of plain data; [`intake`] is the
//! unit of work that loads what they need from the store, applies them to a batch and writes the
//! result in one transaction.

mod casework;
pub mod classify;
mod error;
pub mod features;
pub mod grouping;
pub mod intake;
pub mod labels;
mod lookup;
mod remarks;
pub mod replay;
mod stream;
pub mod term_statistics;
mod working_set;

pub use casework::{LinkReport, LinkScope, UnmergeReport};
pub use classify::{CategoryDef, Classification, Classifier, Taxonomy};
pub use error::CasesError;
pub use grouping::{GroupingPhrases, GroupingPolicy};
pub use intake::{Intake, IntakeReport, Outcome, placing_order};
pub use lookup::find_customers;
pub use remarks::is_greeting;
pub use stream::IntakeStream;
