//! The SMTP conversation: lettre's async connection opened as `[smtp]` says, and what a failed
//! send means for the email (try again later, give up, or count a send that may have arrived).

use lettre::Message;
use lettre::address::Envelope;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};

use crate::{NotifyError, SmtpSettings, SmtpTls, parse_mailbox};

pub struct SmtpMailer {
    host: String,
    port: u16,
    tls: SmtpTls,
    /// For `tls` other than `none`: the relay's certificate must be valid for `host`.
    tls_parameters: Option<TlsParameters>,
    credentials: Option<Credentials>,
    hello_name: ClientId,
    from: Mailbox,
    timeout: std::time::Duration,
}

/// Why a send did not go through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendFailure {
    /// No connection, no answer before the message was given, a 4xx answer, or a refusal of
    /// mend's session (a login the server rejects): the same email may go through later, once
    /// the server or the configuration is fixed.
    Transient(String),
    /// A 5xx answer about the email (its recipient, its content): the server will refuse it
    /// again.
    Permanent(String),
    /// The conversation about this email ended without an answer (no answer in time, or the
    /// line dropped): the server may have taken the email before it stalled (a content filter
    /// slow to answer the data, a relay that drops the line instead of saying 250), so this
    /// counts as a send that was never confirmed, like a sender that died mid-send.
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
        let tls_parameters = match settings.tls {
            SmtpTls::None => None,
            SmtpTls::Starttls | SmtpTls::Tls => Some(tls_parameters(settings)?),
        };
        let credentials = (!settings.username.is_empty())
            .then(|| Credentials::new(settings.username.clone(), settings.password.clone()));
        Ok(Self {
            host: settings.host.clone(),
            port: settings.port,
            tls: settings.tls,
            tls_parameters,
            credentials,
            hello_name: ClientId::default(),
            from,
            timeout: std::time::Duration::from_secs(settings.timeout_seconds.max(1)),
        })
    }

    pub fn from(&self) -> &Mailbox {
        &self.from
    }

    /// How long each of the three parts of a conversation may take (opening the session,
    /// offering the email, giving it): a send takes at most three times this.
    pub fn timeout(&self) -> std::time::Duration {
        self.timeout
    }

    /// One conversation in three parts, each cut off after [`SmtpMailer::timeout`] however the
    /// server stalls (lettre's own timeout covers each read, and a server that trickles would
    /// hold the sender, and every email behind this one, for good): opening the session
    /// (greeting, TLS, login), offering the email (sender, recipients, DATA) and giving it. Until
    /// the message itself is sent nothing can have been delivered: a failure is the server's
    /// answer or the server being down, and the email is tried again or given up as the answer
    /// says. Once it is sent, a conversation that ends without the server's answer may have
    /// delivered it: an unconfirmed send.
    pub async fn send(&self, message: Message) -> Result<(), SendFailure> {
        let seconds = self.timeout.as_secs();
        let (envelope, body) = (message.envelope().clone(), message.formatted());
        let mut session = match tokio::time::timeout(self.timeout, self.open_session()).await {
            Ok(opened) => opened?,
            Err(_) => {
                return Err(SendFailure::Transient(format!("the server did not open a session within {seconds} s")));
            }
        };
        match tokio::time::timeout(self.timeout, offer(&mut session, &envelope, &body)).await {
            Ok(offered) => offered?,
            Err(_) => {
                return Err(SendFailure::Transient(format!("the server did not take the offer within {seconds} s")));
            }
        }
        match tokio::time::timeout(self.timeout, session.message(&body)).await {
            Ok(Ok(_)) => {
                // The email is taken: a server slow to say goodbye holds neither this send nor
                // the emails behind it.
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(GOODBYE, session.quit()).await;
                });
                Ok(())
            }
            // The server's answer to the message: its word stands.
            Ok(Err(e)) if e.status().is_some() => Err(failure(&e)),
            Ok(Err(e)) => Err(SendFailure::Unanswered(format!(
                "{} (the conversation ended after the message was sent, before the server answered)",
                describe(&e)
            ))),
            Err(_) => Err(SendFailure::Unanswered(format!("the server did not answer the message within {seconds} s"))),
        }
    }

    /// Connects, greets, secures the line as `[smtp] tls` asks and logs in.
    async fn open_session(&self) -> Result<AsyncSmtpConnection, SendFailure> {
        let wrapped = match self.tls {
            SmtpTls::Tls => self.tls_parameters.clone(),
            SmtpTls::None | SmtpTls::Starttls => None,
        };
        let server = (self.host.as_str(), self.port);
        let mut session =
            AsyncSmtpConnection::connect_tokio1(server, Some(self.timeout), &self.hello_name, wrapped, None)
                .await
                .map_err(|e| refused_session(&e))?;
        if let (SmtpTls::Starttls, Some(parameters)) = (self.tls, &self.tls_parameters) {
            if !session.can_starttls() {
                session.abort().await;
                return Err(SendFailure::Transient(format!(
                    "{}:{} does not offer STARTTLS, which smtp.tls = \"starttls\" requires",
                    self.host, self.port
                )));
            }
            session.starttls(parameters.clone(), &self.hello_name).await.map_err(|e| refused_session(&e))?;
        }
        if let Some(credentials) = &self.credentials
            && let Err(e) = session.auth(&[Mechanism::Plain, Mechanism::Login], credentials).await
        {
            session.abort().await;
            return Err(refused_session(&e));
        }
        Ok(session)
    }
}

/// A failure while the session opens: nothing was said of the email yet, so even a 5xx (`554 no
/// service here`, a login refused) is about the server or mend's settings, and the email waits
/// for them to be fixed rather than being given up.
fn refused_session(error: &lettre::transport::smtp::Error) -> SendFailure {
    SendFailure::Transient(failure(error).into_reason())
}

/// How long a taken email's QUIT may wait for the server's goodbye.
const GOODBYE: std::time::Duration = std::time::Duration::from_secs(5);

/// Sender, recipients and DATA: the email is offered, nothing of it given yet. Every failure is
/// the server's answer or a line that dropped before anything could be delivered.
async fn offer(session: &mut AsyncSmtpConnection, envelope: &Envelope, body: &[u8]) -> Result<(), SendFailure> {
    let mut parameters = Vec::new();
    let mut mailboxes = envelope.from().into_iter().chain(envelope.to());
    if mailboxes.any(|address| !AsRef::<str>::as_ref(address).is_ascii()) {
        // A mailbox in Chinese (`用户@例子.中国`) to a server without SMTPUTF8: that server will
        // never take it.
        if !session.server_info().supports_feature(Extension::SmtpUtfEight) {
            return Err(SendFailure::Permanent(
                "a mailbox with non-ASCII characters needs a server with SMTPUTF8, and this one has none".into(),
            ));
        }
        parameters.push(MailParameter::SmtpUtfEight);
    }
    if !body.is_ascii() {
        if !session.server_info().supports_feature(Extension::EightBitMime) {
            return Err(SendFailure::Permanent("the message has 8-bit text and the server takes no 8BITMIME".into()));
        }
        parameters.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    let answered = |e: lettre::transport::smtp::Error| failure(&e);
    session.command(Mail::new(envelope.from().cloned(), parameters)).await.map_err(answered)?;
    for recipient in envelope.to() {
        session.command(Rcpt::new(recipient.clone(), Vec::new())).await.map_err(answered)?;
    }
    session.command(Data).await.map_err(answered)?;
    Ok(())
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
