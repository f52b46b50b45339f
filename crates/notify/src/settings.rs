//! `[smtp]` (the contract's keys: where mail is handed over) and `[notify]` (how the sender
//! behaves, where survey links point).

use std::path::PathBuf;

use serde::Deserialize;

use crate::NotifyError;

#[derive(Debug, Clone, Deserialize)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    /// The sender, `mend@example.com` or `名字 <mend@example.com>`; its domain also names the
    /// Message-IDs mend makes.
    pub from: String,
    /// How long each part of a conversation with the server (opening the session, offering the
    /// email, giving it) may take before it counts as failed.
    #[serde(default = "default_timeout_seconds")]
    pub timeout_seconds: u64,
    /// A PEM file of certificate authorities to trust besides the public ones: a relay whose
    /// certificate an in-house CA signed (empty: the public ones only).
    #[serde(default)]
    pub ca_file: PathBuf,
}

fn default_timeout_seconds() -> u64 {
    30
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain SMTP (a relay on the same host or a trusted network).
    None,
    /// Plain connection upgraded with STARTTLS, which must succeed.
    Starttls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Tls,
}

#[derive(Debug, Clone, Deserialize)]
pub struct NotifySettings {
    /// Whether `mend serve` sends the outbox; off where cron runs `mend outbox flush` instead
    /// (or on every instance but one, though claims make several senders safe).
    pub sender: bool,
    /// Where customers reach this mend: survey links start with it.
    pub public_url: String,
    /// Email templates (`{kind}.txt.j2`, first line the subject; `{kind}.html.j2`, optional).
    pub templates_dir: PathBuf,
    /// `mend serve` looks for due emails this often.
    pub poll_seconds: u64,
    /// Attempts (each a conversation with the server) before an email is given up.
    pub max_attempts: i32,
    /// Waits after the first, second, … failed attempt; the last repeats.
    pub retry_backoff_seconds: Vec<i64>,
    /// How long a survey link works.
    pub survey_valid_days: i64,
}

impl NotifySettings {
    pub fn validate(&self) -> Result<(), NotifyError> {
        let bad = |message: String| Err(NotifyError::Config(message));
        // Survey links are `{public_url}/survey/{token}`: a query, a fragment or a space in it
        // would break every link customers are sent.
        let public_url = url::Url::parse(&self.public_url).ok().filter(|u| {
            matches!(u.scheme(), "http" | "https")
                && u.has_host()
                && u.query().is_none()
                && u.fragment().is_none()
                && !self.public_url.chars().any(char::is_whitespace)
        });
        if public_url.is_none() {
            return bad(format!(
                "notify.public_url must be an http:// or https:// address with no query, fragment or spaces \
                 (customers' survey links are made from it), not `{}`",
                self.public_url
            ));
        }
        if !(1..=3600).contains(&self.poll_seconds) {
            return bad(format!("notify.poll_seconds must be between 1 and 3600, not {}", self.poll_seconds));
        }
        if !(1..=100).contains(&self.max_attempts) {
            return bad(format!("notify.max_attempts must be between 1 and 100, not {}", self.max_attempts));
        }
        const THIRTY_DAYS: i64 = 30 * 86_400;
        if self.retry_backoff_seconds.is_empty()
            || self.retry_backoff_seconds.iter().any(|s| !(1..=THIRTY_DAYS).contains(s))
        {
            return bad("notify.retry_backoff_seconds must list waits between 1 s and 30 days".into());
        }
        if !(1..=365).contains(&self.survey_valid_days) {
            return bad(format!("notify.survey_valid_days must be between 1 and 365, not {}", self.survey_valid_days));
        }
        Ok(())
    }

    /// The wait after `attempts` failed attempts.
    pub fn backoff_after(&self, attempts: i32) -> chrono::Duration {
        let index = usize::try_from(attempts.max(1) - 1).unwrap_or(0);
        let seconds =
            self.retry_backoff_seconds.get(index).or(self.retry_backoff_seconds.last()).copied().unwrap_or(60);
        chrono::Duration::seconds(seconds.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_public_url(public_url: &str) -> NotifySettings {
        NotifySettings {
            sender: true,
            public_url: public_url.to_owned(),
            templates_dir: PathBuf::from("config/emails"),
            poll_seconds: 10,
            max_attempts: 8,
            retry_backoff_seconds: vec![60],
            survey_valid_days: 14,
        }
    }

    #[test]
    fn a_public_url_makes_whole_survey_links_or_is_refused() {
        for good in ["https://mend.example", "https://mend.example/", "http://10.0.0.5:8080/repair/"] {
            assert!(with_public_url(good).validate().is_ok(), "{good}");
        }
        for bad in [
            "mend.example",
            "ftp://mend.example",
            "https://x.com/a?b=1",
            "https://x.com/#top",
            "https://x.com/a b",
            "https://",
        ] {
            assert!(with_public_url(bad).validate().is_err(), "{bad}");
        }
    }
}
