/// Why a payload could not become a complaint. The text is what an administrator reads in
/// quarantine, so it names the field and the offending value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("payload is not valid UTF-8 (byte {valid_up_to} starts an invalid sequence)")]
    NotUtf8 { valid_up_to: usize },
    #[error("payload is not valid {encoding}: {detail}")]
    Encoding { encoding: &'static str, detail: String },
    #[error("payload is not valid JSON: {0}")]
    Json(String),
    #[error("payload is a JSON {0}, expected an object")]
    NotAnObject(&'static str),
    #[error("payload is not valid XML: {0}")]
    Xml(String),
    #[error("payload is not a valid CSV row: {0}")]
    Csv(String),
    #[error("field `{0}` is missing")]
    Missing(&'static str),
    #[error("field `{field}` is invalid: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("{0}")]
    UnknownChannel(#[from] mend_core::UnknownChannel),
    #[error("no usable customer key: give a valid phone, wechat_openid or member_id{detail}")]
    NoCustomerKey { detail: String },
    #[error("encrypted message cannot be read: {0}")]
    Decrypt(String),
    #[error("{0} holds a NUL character (U+0000), which text fields cannot store; remove it at the source")]
    NulCharacter(&'static str),
}

impl Rejection {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Rejection::Invalid { field, reason: reason.into() }
    }
}
