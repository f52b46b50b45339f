use mend_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("`{address}` is not an email address: {message}")]
    Address { address: String, message: String },
    #[error("email template `{template}`: {message}")]
    Template { template: String, message: String },
    #[error("the email could not be built: {0}")]
    Message(String),
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("smtp settings: {0}")]
    Smtp(String),
    #[error("drawing the chart: {0}")]
    Chart(String),
}
