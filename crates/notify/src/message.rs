//! An outbox row as an RFC 5322 message: the plain-text part always, the HTML part and its
//! inline images when the email has them, and a Message-ID that belongs to the row, so a
//! resend is recognisably the same message.

use base64::Engine;
use chrono::{DateTime, Utc};
use lettre::Message;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use mend_store::outbox::OutboxEmail;

use crate::{NotifyError, parse_address};

/// `<{row id}@{sender's domain}>`: stable for the row whatever happens to the sender.
pub fn message_id(email: &OutboxEmail, from: &Mailbox) -> String {
    format!("<{}@{}>", email.email_id, from.email.domain())
}

/// The message for `email`, dated `now`.
pub fn build_message(email: &OutboxEmail, from: &Mailbox, now: DateTime<Utc>) -> Result<Message, NotifyError> {
    let to = parse_address(&email.to_address)?;
    let builder = Message::builder()
        .from(from.clone())
        .to(Mailbox::new(None, to))
        .subject(email.subject.as_str())
        .message_id(Some(message_id(email, from)))
        .date(now.into())
        // RFC 3834: an out-of-office reply to a report or a survey would go nowhere useful.
        .raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("Auto-Submitted"), "auto-generated".into()));
    let text = SinglePart::plain(email.body.clone());
    let message = match &email.html_body {
        None => builder.singlepart(text),
        Some(html) => {
            let mut related = MultiPart::related().singlepart(SinglePart::html(html.clone()));
            for part in &email.inline_parts {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(&part.base64)
                    .map_err(|e| NotifyError::Message(format!("inline part {}: {e}", part.content_id)))?;
                let content_type = ContentType::parse(&part.content_type)
                    .map_err(|e| NotifyError::Message(format!("inline part {}: {e}", part.content_id)))?;
                related = related.singlepart(Attachment::new_inline(part.content_id.clone()).body(bytes, content_type));
            }
            builder.multipart(MultiPart::alternative().singlepart(text).multipart(related))
        }
    };
    message.map_err(|e| NotifyError::Message(e.to_string()))
}
