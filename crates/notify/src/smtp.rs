//! The SMTP connection: lettre's async transport built from `[smtp]`, and what a failed send
//! means for the email (try again later, or give up).

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::{NotifyError, SmtpSettings, SmtpTls, parse_mailbox};

pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    timeout: std::time::Duration,
}

/// Why a send did not go through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendFailure {
    /// No connection, a timeout, a 4xx answer, or a refusal of mend's session (a login the
    /// server rejects): the same email may go through later, once the server or the
    /// configuration is fixed.
    Transient(String),
    /// A 5xx answer about the email (its recipient, its content): the server will refuse it
    /// again.
    Permanent(String),
}

impl SmtpMailer {
    pub fn new(settings: &SmtpSettings) -> Result<Self, NotifyError> {
        let from = parse_mailbox(&settings.from)?;
        let smtp_error = |e: lettre::transport::smtp::Error| NotifyError::Smtp(format!("{}: {e}", settings.host));
        let builder = match settings.tls {
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host),
            SmtpTls::Starttls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&settings.host).map_err(smtp_error)?
            }
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&settings.host).map_err(smtp_error)?,
        };
        let timeout = std::time::Duration::from_secs(settings.timeout_seconds.max(1));
        let mut builder = builder.port(settings.port).timeout(Some(timeout));
        if !settings.username.is_empty() {
            builder = builder.credentials(Credentials::new(settings.username.clone(), settings.password.clone()));
        }
        Ok(Self { transport: builder.build(), from, timeout })
    }

    pub fn from(&self) -> &Mailbox {
        &self.from
    }

    /// How long one conversation with the server may take.
    pub fn timeout(&self) -> std::time::Duration {
        self.timeout
    }

    pub async fn send(&self, message: Message) -> Result<(), SendFailure> {
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() && !refuses_the_session(&e) => Err(SendFailure::Permanent(describe(&e))),
            Err(e) => Err(SendFailure::Transient(describe(&e))),
        }
    }
}

/// 52x (no mail service here) and 53x (authentication required, credentials refused) refuse
/// mend's session, not this email: giving the email up would lose every email in the outbox to
/// a wrong password, so they are retried until someone fixes `[smtp]`.
fn refuses_the_session(error: &lettre::transport::smtp::Error) -> bool {
    use lettre::transport::smtp::response::Category;
    matches!(error.status().map(|code| code.category), Some(Category::Connections | Category::Unspecified3))
}

/// The error with its causes, which carry the server's words.
fn describe(error: &lettre::transport::smtp::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
