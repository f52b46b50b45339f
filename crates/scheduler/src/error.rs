use thiserror::Error;

#[derive(Debug, Error)]
pub enum SchedulerError {
    #[error(transparent)]
    Store(#[from] mend_store::StoreError),
    #[error(transparent)]
    Cases(#[from] mend_cases::CasesError),
    #[error(transparent)]
    Notify(#[from] mend_notify::NotifyError),
    #[error("invalid scheduler configuration: {0}")]
    Config(String),
    #[error("script `{template}` failed to render: {message}")]
    Script { template: String, message: String },
    #[error("unknown job `{0}` (jobs: {jobs})", jobs = crate::Job::ALL.map(crate::Job::as_str).join(", "))]
    UnknownJob(String),
    #[error("worker thread failed: {0}")]
    Worker(String),
}

impl mend_store::retry::MaybeConflict for SchedulerError {
    fn is_conflict(&self) -> bool {
        matches!(self, SchedulerError::Store(e) if e.is_conflict())
    }
}
