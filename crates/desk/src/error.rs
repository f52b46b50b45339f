use mend_cases::CasesError;
use mend_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error("task {0} not found")]
    NotFound(String),
    /// The task is not the caller's to act on: someone else holds it, or it is done.
    #[error("{0}")]
    NotHolder(String),
    #[error(transparent)]
    Cases(#[from] CasesError),
    #[error(transparent)]
    Store(#[from] StoreError),
}
