//! An outbox row as an RFC 5322 message: the plain-text part always, the HTML part and its
//! inline images when the email has them, and a Message-ID that belongs to the row, so a
//! resend is recognisably the same message.

use base64::Engine;
use chrono::{DateTime, Utc};
use lettre::Address;
use lettre::Message;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use mend_store::outbox::OutboxEmail;

use crate::{NotifyError, parse_address};

/// `<{row id}@{sender's domain}>`: stable for the row whatever happens to the sender.
pub fn message_id(email: &OutboxEmail, from: &Mailbox) -> String {
    format!("<{}@{}>", email.email_id, from.email.domain())
}

/// `address` with its domain in ASCII (`li@例子.中国` → `li@xn--fsqu00a.xn--fiqs8s`), which any
/// server takes; only a mailbox name in Chinese needs a server with SMTPUTF8.
pub(crate) fn ascii_domain(address: Address) -> Address {
    if address.domain().is_ascii() {
        return address;
    }
    match idna::domain_to_ascii(address.domain()).map(|domain| Address::new(address.user(), domain)) {
        Ok(Ok(ascii)) => ascii,
        // Not a domain IDNA can write: sent as it is, for the server to judge.
        _ => address,
    }
}

/// The message for `email`, dated `now`.
pub fn build_message(email: &OutboxEmail, from: &Mailbox, now: DateTime<Utc>) -> Result<Message, NotifyError> {
    let to = ascii_domain(parse_address(&email.to_address)?);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chinese_domain_is_written_in_ascii_and_a_chinese_mailbox_name_kept() {
        let ascii = |address: &str| ascii_domain(address.parse().unwrap()).to_string();
        assert_eq!(ascii("li@例子.中国"), "li@xn--fsqu00a.xn--fiqs8s");
        assert_eq!(ascii("用户@例子.中国"), "用户@xn--fsqu00a.xn--fiqs8s");
        assert_eq!(ascii("Zhang.San+mend@Example.com"), "Zhang.San+mend@Example.com");
    }
}
