use mend_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum CasesError {
    #[error("taxonomy is invalid: {0}")]
    Taxonomy(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the thread deciding a batch failed: {0}")]
    Worker(String),
}
