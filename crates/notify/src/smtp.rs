//! The SMTP connection: lettre's async transport built from `[smtp]`, and what a failed send
//! means for the email (try again later, or give up).

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
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
    /// No answer within the time of a conversation: the server may have taken the email before
    /// it stalled (a content filter slow to answer the data), so this counts as a send that was
    /// never confirmed, like a sender that died mid-send.
    Unanswered(String),
}

impl SendFailure {
    /// The server's words, or what happened instead.
    pub fn into_reason(self) -> String {
        match self {
            Self::Transient(reason) | Self::Permanent(reason) | Self::Unanswered(reason) => reason,
        }
    }
}

impl SmtpMailer {
    pub fn new(settings: &SmtpSettings) -> Result<Self, NotifyError> {
        let from = parse_mailbox(&settings.from)?;
        // Written once as every server takes it (a Chinese domain in ASCII), for From and the
        // Message-IDs alike.
        let from = Mailbox::new(from.name, crate::message::ascii_domain(from.email));
        let plain = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host);
        let builder = match settings.tls {
            SmtpTls::None => plain,
            SmtpTls::Starttls => plain.tls(Tls::Required(tls_parameters(settings)?)),
            SmtpTls::Tls => plain.tls(Tls::Wrapper(tls_parameters(settings)?)),
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

    /// Whether the server holds a conversation now: greets, answers EHLO (and the login) and a NOOP.
    async fn takes_conversations(&self) -> bool {
        matches!(tokio::time::timeout(self.timeout, self.transport.test_connection()).await, Ok(Ok(true)))
    }

    /// How long one conversation with the server may take.
    pub fn timeout(&self) -> std::time::Duration {
        self.timeout
    }

    /// One conversation, cut off after [`SmtpMailer::timeout`] however the server stalls:
    /// lettre's own timeout covers the connection only, and a server that accepts and then says
    /// nothing would hold the sender, and every email behind this one, for good.
    pub async fn send(&self, message: Message) -> Result<(), SendFailure> {
        match tokio::time::timeout(self.timeout, self.transport.send(message)).await {
            Ok(Ok(_)) => Ok(()),
            // Cut off mid-conversation by a server that takes new ones: it may have been after
            // the data, with the email taken (a relay that drops the line instead of saying
            // 250). A server that cannot hold a conversation at all is down, not this email's.
            Ok(Err(e)) if broke_off(&e) && self.takes_conversations().await => {
                Err(SendFailure::Unanswered(format!("{} (the server cut the conversation off)", describe(&e))))
            }
            Ok(Err(e)) => Err(failure(&e)),
            Err(_) => Err(SendFailure::Unanswered(format!(
                "the server did not finish the conversation within {} s",
                self.timeout.as_secs()
            ))),
        }
    }
}

/// The connection closed or broke while mend waited for the server's answer (not a refused
/// connection, not an answer the server gave).
fn broke_off(error: &lettre::transport::smtp::Error) -> bool {
    use std::io::ErrorKind;
    if error.is_response() {
        return true;
    }
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                ErrorKind::ConnectionReset
                    | ErrorKind::ConnectionAborted
                    | ErrorKind::BrokenPipe
                    | ErrorKind::UnexpectedEof
            );
        }
        source = cause.source();
    }
    false
}

/// The relay's certificate must be valid for `host`, signed by a public authority or by one in
/// `ca_file`.
fn tls_parameters(settings: &SmtpSettings) -> Result<TlsParameters, NotifyError> {
    let smtp_error = |e: lettre::transport::smtp::Error| NotifyError::Smtp(format!("{}: {e}", settings.host));
    let mut parameters = TlsParameters::builder(settings.host.clone());
    if !settings.ca_file.as_os_str().is_empty() {
        let path = settings.ca_file.display();
        let pem = std::fs::read(&settings.ca_file)
            .map_err(|e| NotifyError::Smtp(format!("smtp.ca_file `{path}` cannot be read: {e}")))?;
        let authority = Certificate::from_pem(&pem)
            .map_err(|e| NotifyError::Smtp(format!("smtp.ca_file `{path}` is not a PEM certificate: {e}")))?;
        parameters = parameters.add_root_certificate(authority);
    }
    parameters.build().map_err(smtp_error)
}

fn failure(error: &lettre::transport::smtp::Error) -> SendFailure {
    let text = describe(error);
    if error.is_permanent() && !refuses_the_session(error, &text) {
        SendFailure::Permanent(text)
    } else if text.contains("SMTPUTF8") {
        // A mailbox in Chinese (`用户@例子.中国`) to a server without SMTPUTF8: that server will
        // never take it.
        SendFailure::Permanent(text)
    } else {
        SendFailure::Transient(text)
    }
}

/// 52x (no mail service here), 53x (authentication required, credentials refused) and the
/// policy refusals of enhanced code 5.7 that name mend's relaying, login or sender (`554 5.7.1
/// Relay access denied` to a relay that wants a login, `550 5.7.1 Sender rejected`) refuse
/// mend's session, not this email: giving the email up would lose every email in the outbox to
/// a wrong setting, so they are retried (until `notify.max_attempts`) while someone fixes
/// `[smtp]`. Other 5.7 refusals are about the email (taken for spam, a recipient who does not
/// take mail from outside) and are given up.
fn refuses_the_session(error: &lettre::transport::smtp::Error, text: &str) -> bool {
    use lettre::transport::smtp::response::Category;
    let lower = text.to_lowercase();
    let names_the_session = ["relay", "auth", "sender", "client host"].iter().any(|w| lower.contains(w));
    matches!(error.status().map(|code| code.category), Some(Category::Connections | Category::Unspecified3))
        || (text.contains(" 5.7.") && names_the_session)
}

/// The error with its causes, which carry the server's words (each said once: lettre's message
/// repeats its cause's).
fn describe(error: &lettre::transport::smtp::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = cause.source();
    }
    text
}
