//! Email that leaves the building: the templates emails are written from, the outbox sender
//! that delivers them over SMTP with retries and without duplicates, the signed single-use
//! links of satisfaction surveys, and the chart the hot-issue report carries inline.
//!
//! It decides nothing about *when* an email is due (the scheduler queues them) and knows no
//! HTTP (the server serves the survey page through [`SurveyLinks`]).

mod chart;
mod error;
mod message;
mod preview;
mod sender;
mod settings;
mod smtp;
mod survey;
mod templates;

pub use chart::{BarGroup, bar_chart_png};
pub use error::NotifyError;
pub use preview::{EmailPreview, preview};
pub use sender::{DeliveryCounts, FlushObserver, OutboxSender};
pub use settings::{NotifySettings, SmtpSettings, SmtpTls};
pub use smtp::{SendFailure, SmtpMailer};
pub use survey::{IssuedSurvey, SurveyAnswer, SurveyLinkProblem, SurveyLinks, SurveyView};
pub use templates::{ComposedEmail, EmailTemplates, bundled_template_environment, template_environment, tidy};

/// What the jobs that write emails and the survey page need: the templates, and the links to
/// survey pages.
pub struct Mailroom {
    pub templates: EmailTemplates,
    pub survey_links: SurveyLinks,
}

impl Mailroom {
    /// Templates from `settings.templates_dir` (else `bundled`), and the survey links' key
    /// from the database (made at `now` on first use).
    pub async fn load(
        store: &mend_store::Store,
        settings: &NotifySettings,
        bundled: &'static [(&'static str, &'static str)],
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Self, NotifyError> {
        let survey_links = SurveyLinks::load(store, &settings.public_url, settings.survey_valid_days, now).await?;
        Ok(Self { templates: EmailTemplates::new(&settings.templates_dir, bundled), survey_links })
    }
}

/// Reads an email address as SMTP will need it (`name@domain`), or says what is wrong.
pub fn parse_address(address: &str) -> Result<lettre::Address, NotifyError> {
    parse_email(address)
}

/// Reads the sender, `mend@example.com` or `客户满意度修复团队 <mend@example.com>`.
pub fn parse_mailbox(mailbox: &str) -> Result<lettre::message::Mailbox, NotifyError> {
    parse_email(mailbox)
}

fn parse_email<T: std::str::FromStr<Err: std::fmt::Display>>(text: &str) -> Result<T, NotifyError> {
    text.parse().map_err(|e| NotifyError::Address { address: text.to_owned(), message: format!("{e}") })
}
