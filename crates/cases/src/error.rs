use mend_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum CasesError {
    #[error("taxonomy is invalid: {0}")]
    Taxonomy(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the thread deciding a batch failed: {0}")]
    Worker(String),
    #[error("{0} not found")]
    NotFound(String),
    /// The request is well-formed but the case or customer is not in a state that allows it.
    #[error("{0}")]
    Refused(String),
    /// Whoever asked may not do this (an agent's link that would merge two customers).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Invalid(String),
}

impl mend_store::retry::MaybeConflict for CasesError {
    fn is_conflict(&self) -> bool {
        matches!(self, CasesError::Store(e) if e.is_conflict())
    }
}
