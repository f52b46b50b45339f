use mend_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum CasesError {
    #[error("taxonomy is invalid: {0}")]
    Taxonomy(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}
