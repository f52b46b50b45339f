use mend_cases::CasesError;
use mend_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error("{0} not found")]
    NotFound(String),
    /// The task is not the caller's to act on: someone else holds it, or it is done.
    #[error("{0}")]
    NotHolder(String),
    /// The caller's role does not allow it (or it is their own request to decide).
    #[error("{0}")]
    Forbidden(String),
    /// Allowed, but the state of things says no (a budget or cap that does not cover it, an
    /// offer decided already).
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Invalid(String),
    /// The request was cut off before it was answered (the desk is shutting down); asking
    /// again is safe.
    #[error("the request was interrupted before it was answered; ask again")]
    Interrupted,
    #[error(transparent)]
    Scheduler(#[from] mend_scheduler::SchedulerError),
    #[error(transparent)]
    Cases(#[from] CasesError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<mend_store::rounds::Interrupted> for DeskError {
    fn from(_: mend_store::rounds::Interrupted) -> Self {
        DeskError::Interrupted
    }
}
