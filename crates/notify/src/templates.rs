//! Email templates (minijinja) under `config/emails/`: `{kind}.txt.j2` is the plain-text part
//! with the subject on its first line; `{kind}.html.j2`, when there is one, is the HTML part
//! (escaped as HTML). A template the directory lacks comes from the ones shipped in the binary.

use std::path::Path;

use mend_core::{CaseId, EmailKind};
use mend_store::outbox::NewEmail;
use minijinja::{Environment, ErrorKind, UndefinedBehavior};
use serde::Serialize;

use crate::NotifyError;

pub struct EmailTemplates {
    env: Environment<'static>,
    /// The shipped templates alone: what an email is written with when the directory's copy
    /// is broken, so one typo does not stop every survey and notice.
    bundled: Environment<'static>,
}

/// An email ready for the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ComposedEmail {
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
}

/// mend's minijinja conventions, shared by emails and call scripts: templates are read from
/// `dir` first and from `bundled` (compiled into the binary) second, so mend runs from any
/// directory and a file overrides the shipped one; names cannot climb out of `dir`; blocks
/// leave no blank lines; `yuan` formats fen.
pub fn template_environment(dir: &Path, bundled: &'static [(&'static str, &'static str)]) -> Environment<'static> {
    let dir = dir.to_path_buf();
    let mut env = Environment::new();
    env.set_loader(move |name: &str| {
        if name.split('/').any(|part| part == ".." || part.is_empty()) {
            return Ok(None);
        }
        match std::fs::read_to_string(dir.join(name)) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(shipped(bundled, name)),
            Err(e) => Err(minijinja::Error::new(ErrorKind::InvalidOperation, format!("reading {name}: {e}"))),
        }
    });
    configured(env)
}

/// The templates shipped in the binary alone: what is left when a directory's copy is broken.
pub fn bundled_template_environment(bundled: &'static [(&'static str, &'static str)]) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_loader(move |name: &str| Ok(shipped(bundled, name)));
    configured(env)
}

/// The shipped template `name`, if there is one.
fn shipped(bundled: &[(&str, &str)], name: &str) -> Option<String> {
    bundled.iter().find(|(n, _)| *n == name).map(|(_, text)| (*text).to_owned())
}

fn configured(mut env: Environment<'static>) -> Environment<'static> {
    // A misspelt variable is an error in the template, not a blank in front of a customer.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.add_filter("yuan", |fen: i64| mend_core::Money::from_fen(fen).yuan());
    env
}

impl ComposedEmail {
    /// This email to `to` as an outbox row of `kind`, queued once per `dedupe_key`.
    pub fn addressed_to(&self, to: &str, kind: EmailKind, dedupe_key: String, case_id: Option<CaseId>) -> NewEmail {
        NewEmail {
            kind,
            dedupe_key,
            case_id,
            to_address: to.to_owned(),
            subject: self.subject.clone(),
            body: self.text.clone(),
            html_body: self.html.clone(),
            inline_parts: Vec::new(),
            survey_id: None,
        }
    }
}

impl EmailTemplates {
    pub fn new(dir: &Path, bundled: &'static [(&'static str, &'static str)]) -> Self {
        Self { env: template_environment(dir, bundled), bundled: bundled_template_environment(bundled) }
    }

    /// Renders the email of `kind` with `context`.
    pub fn compose<C: Serialize>(&self, kind: EmailKind, context: &C) -> Result<ComposedEmail, NotifyError> {
        let text_name = format!("{kind}.txt.j2");
        let text = self.render(&text_name, context)?.ok_or_else(|| NotifyError::Template {
            template: text_name.clone(),
            message: "there is no such template".into(),
        })?;
        let text = tidy(&text);
        let (subject, body) = text.split_once('\n').unwrap_or((text.as_str(), ""));
        let html = self.render(&format!("{kind}.html.j2"), context)?;
        Ok(ComposedEmail { subject: subject.trim().to_owned(), text: body.trim().to_owned(), html })
    }

    fn render<C: Serialize>(&self, name: &str, context: &C) -> Result<Option<String>, NotifyError> {
        let failed =
            |e: minijinja::Error| NotifyError::Template { template: name.to_owned(), message: format!("{e:#}") };
        let render = |env: &Environment<'static>| match env.get_template(name) {
            Ok(template) => template.render(context).map(Some),
            Err(e) if e.kind() == ErrorKind::TemplateNotFound => Ok(None),
            Err(e) => Err(e),
        };
        match render(&self.env) {
            Err(e) => {
                // Plainly: the alternate form lists the values referenced (a customer's name).
                let error = e.to_string();
                match render(&self.bundled) {
                    Ok(Some(text)) => {
                        tracing::warn!(template = name, %error, "An email template could not be rendered; the shipped one is used.");
                        Ok(Some(text))
                    }
                    _ => Err(failed(e)),
                }
            }
            rendered => rendered.map_err(failed),
        }
    }
}

/// Blank lines left by template logic collapse to one, and trailing space goes.
pub fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = true;
    for line in text.lines().map(str::trim_end) {
        if line.is_empty() {
            if !blank {
                out.push('\n');
            }
            blank = true;
        } else {
            out.push_str(line);
            out.push('\n');
            blank = false;
        }
    }
    out.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUNDLED: &[(&str, &str)] = &[
        ("survey.txt.j2", "您好 {{ name }}\n\n\n请评价\n"),
        ("survey.html.j2", "<p>{{ name }}</p>"),
        ("unreachable.txt.j2", "未能联系上\n{{ missing }}"),
    ];

    #[test]
    fn a_broken_template_in_the_directory_gives_way_to_the_shipped_one() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("survey.txt.j2"), "您好 {{ nmae }}").unwrap();
        std::fs::write(dir.path().join("unreachable.txt.j2"), "{% if %}").unwrap();
        let templates = EmailTemplates::new(dir.path(), BUNDLED);
        let email = templates.compose(EmailKind::Survey, &serde_json::json!({"name": "李"})).unwrap();
        assert_eq!(email.subject, "您好 李");
        // The shipped one is broken for this context too: the error stands.
        assert!(templates.compose(EmailKind::Unreachable, &serde_json::json!({})).is_err());
    }

    #[test]
    fn the_first_line_is_the_subject_and_html_is_escaped() {
        let templates = EmailTemplates::new(Path::new("/nonexistent"), BUNDLED);
        let email = templates.compose(EmailKind::Survey, &serde_json::json!({"name": "<b>张</b>"})).unwrap();
        assert_eq!(email.subject, "您好 <b>张</b>");
        assert_eq!(email.text, "请评价");
        assert_eq!(email.html.as_deref(), Some("<p>&lt;b&gt;张&lt;&#x2f;b&gt;</p>"));
    }

    #[test]
    fn a_missing_variable_or_template_is_an_error() {
        let templates = EmailTemplates::new(Path::new("/nonexistent"), BUNDLED);
        let missing = templates.compose(EmailKind::Unreachable, &serde_json::json!({})).unwrap_err();
        assert!(missing.to_string().contains("unreachable.txt.j2"), "{missing}");
        assert!(templates.compose(EmailKind::Hotspots, &serde_json::json!({})).is_err());
    }
}
