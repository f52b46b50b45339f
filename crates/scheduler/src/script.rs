//! Call scripts (话术): minijinja templates under `config/scripts/`, chosen by category and
//! temperament with fallbacks, rendered once when a task is made and stored on it — so a
//! template edited later changes only the tasks made after.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use minijinja::{Environment, ErrorKind};
use serde::Serialize;

use crate::SchedulerError;
use mend_core::{ScriptProblem, Temperament};

pub struct ScriptLibrary {
    env: Environment<'static>,
    /// The scripts shipped in the binary alone: their `generic.j2` is the last resort when
    /// every script of the directory that fits a call is broken.
    bundled: Environment<'static>,
    /// Which templates there are for each category and temperament, most specific first,
    /// found once. minijinja keeps the templates it loaded but not the names it did not find,
    /// so without this every call for a pair with no template of its own would read the disk
    /// for it again. Like the templates themselves, the choice holds until mend restarts.
    chosen: Mutex<HashMap<(String, Temperament), Vec<String>>>,
    /// Whether `generic.j2` is the directory's own (else it is the shipped one already).
    dir_has_generic: bool,
    /// Broken scripts already logged: a sweep would say it once per planned call.
    warned: Mutex<HashSet<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RenderedScript {
    /// The template used (`billing_dispute/impulsive.j2`, `billing_dispute.j2` or `generic.j2`).
    pub template: String,
    pub text: String,
    /// More specific templates that could not be rendered, with why: a broken script is passed
    /// over for the next one, so one typo never stops every call from being planned.
    pub passed_over: Vec<ScriptProblem>,
}

/// The name [`RenderedScript::template`] gives the shipped `generic.j2`.
const BUNDLED_GENERIC: &str = "generic.j2 (bundled)";

impl ScriptLibrary {
    /// Templates are read from `dir` as they are first used; a template `dir` lacks comes from
    /// `bundled` (the ones shipped in the binary), so mend runs from any directory and an
    /// administrator overrides only the scripts they change.
    pub fn new(dir: &Path, bundled: &'static [(&'static str, &'static str)]) -> Result<Self, SchedulerError> {
        let dir = dir.to_path_buf();
        let dir_has_generic = dir.join("generic.j2").is_file();
        if !dir_has_generic && !bundled.iter().any(|(n, _)| *n == "generic.j2") {
            return Err(SchedulerError::Config(format!(
                "the scripts directory `{}` has no generic.j2, the script of last resort",
                dir.display()
            )));
        }
        let env = mend_notify::template_environment(&dir, bundled);
        let bundled = mend_notify::bundled_template_environment(bundled);
        Ok(Self { env, bundled, chosen: Mutex::new(HashMap::new()), dir_has_generic, warned: Mutex::default() })
    }

    /// Renders the most specific template there is that renders: category × temperament, then
    /// category, then `generic.j2`, then the shipped `generic.j2`.
    pub fn render<C: Serialize>(
        &self,
        category: &str,
        temperament: Temperament,
        context: &C,
    ) -> Result<RenderedScript, SchedulerError> {
        let mut passed_over = Vec::new();
        for name in self.candidates(category, temperament) {
            match self.env.get_template(&name).and_then(|t| t.render(context)) {
                Ok(text) => return Ok(RenderedScript { text: mend_notify::tidy(&text), template: name, passed_over }),
                // Every candidate exists: not found here is a missing include, a broken script too.
                Err(e) => passed_over.push(self.broken(name, &e)),
            }
        }
        // The shipped generic script, when the directory's own is among the broken ones.
        if self.dir_has_generic {
            match self.bundled.get_template("generic.j2").and_then(|t| t.render(context)) {
                Ok(text) => {
                    let (text, template) = (mend_notify::tidy(&text), BUNDLED_GENERIC.to_owned());
                    return Ok(RenderedScript { text, template, passed_over });
                }
                Err(e) if e.kind() == ErrorKind::TemplateNotFound => {}
                Err(e) => passed_over.push(self.broken(BUNDLED_GENERIC.to_owned(), &e)),
            }
        }
        let worst = passed_over.pop().unwrap_or_else(|| ScriptProblem {
            template: "generic.j2".into(),
            error: "no generic.j2 to fall back on".into(),
        });
        Err(SchedulerError::Script { template: worst.template, message: worst.error })
    }

    /// The problem of a script that could not be rendered, logged the first time. Its error
    /// as minijinja displays it plainly: the alternate form lists the values the template
    /// referenced (customers' names and words), which do not belong in a task or a log.
    fn broken(&self, template: String, e: &minijinja::Error) -> ScriptProblem {
        let error = e.to_string();
        if self.warned.lock().unwrap_or_else(PoisonError::into_inner).insert(template.clone()) {
            tracing::warn!(%template, %error, "A call script could not be rendered; the next one is used.");
        }
        ScriptProblem { template, error }
    }

    /// The directory's (or the shipped) templates that exist for the pair, most specific first;
    /// one that exists but does not parse is listed, for its error to be told.
    fn candidates(&self, category: &str, temperament: Temperament) -> Vec<String> {
        let key = (category.to_owned(), temperament);
        if let Some(names) = self.chosen.lock().unwrap_or_else(PoisonError::into_inner).get(&key) {
            return names.clone();
        }
        let names: Vec<String> =
            [format!("{category}/{temperament}.j2"), format!("{category}.j2"), "generic.j2".to_owned()]
                .into_iter()
                .filter(
                    |name| !matches!(self.env.get_template(name), Err(e) if e.kind() == ErrorKind::TemplateNotFound),
                )
                .collect();
        self.chosen.lock().unwrap_or_else(PoisonError::into_inner).insert(key, names.clone());
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn library(files: &[(&str, &str)]) -> (tempfile::TempDir, ScriptLibrary) {
        let dir = tempfile::tempdir().unwrap();
        for (name, body) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, body).unwrap();
        }
        let library = ScriptLibrary::new(dir.path(), &[]).unwrap();
        (dir, library)
    }

    #[test]
    fn falls_back_from_temperament_to_category_to_generic() {
        let (_dir, lib) = library(&[
            ("generic.j2", "generic {{ name }}"),
            ("billing_dispute.j2", "billing {{ name }}"),
            ("billing_dispute/impulsive.j2", "angry billing {{ name }}"),
        ]);
        let ctx = serde_json::json!({"name": "张先生"});
        let pick = |c, t| lib.render(c, t, &ctx).unwrap();
        assert_eq!(pick("billing_dispute", Temperament::Impulsive).text, "angry billing 张先生");
        assert_eq!(pick("billing_dispute", Temperament::Impulsive).template, "billing_dispute/impulsive.j2");
        assert_eq!(pick("billing_dispute", Temperament::Sensitive).template, "billing_dispute.j2");
        assert_eq!(pick("slow_network", Temperament::Impulsive).template, "generic.j2");
    }

    #[test]
    fn a_broken_script_is_passed_over_for_the_next_and_said() {
        let (_dir, lib) = library(&[
            ("generic.j2", "generic {{ name }}"),
            ("billing_dispute.j2", "billing {{ nmae }}"),
            ("billing_dispute/impulsive.j2", "angry {% if %}"),
        ]);
        let script =
            lib.render("billing_dispute", Temperament::Impulsive, &serde_json::json!({"name": "张先生"})).unwrap();
        assert_eq!((script.template.as_str(), script.text.as_str()), ("generic.j2", "generic 张先生"));
        let passed: Vec<&str> = script.passed_over.iter().map(|p| p.template.as_str()).collect();
        assert_eq!(passed, ["billing_dispute/impulsive.j2", "billing_dispute.j2"]);
        assert!(script.passed_over[1].error.contains("billing_dispute.j2:1"), "{:?}", script.passed_over);
        // Said plainly: the values a template referenced (a customer's name) stay out of it.
        assert!(!script.passed_over[1].error.contains("张先生"), "{:?}", script.passed_over);
        // An include that is not there breaks a script as much as a typo does.
        let (_dir, lib) = library(&[("generic.j2", "generic"), ("slow_network.j2", "{% include '_gone.j2' %}")]);
        let script = lib.render("slow_network", Temperament::Neutral, &serde_json::json!({})).unwrap();
        assert_eq!((script.template.as_str(), script.passed_over.len()), ("generic.j2", 1));
    }

    #[test]
    fn a_broken_generic_falls_back_on_the_shipped_one() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("generic.j2"), "您好 {{ nmae }}").unwrap();
        let lib = ScriptLibrary::new(dir.path(), &[("generic.j2", "shipped {{ name }}")]).unwrap();
        let script = lib.render("other", Temperament::Neutral, &serde_json::json!({"name": "x"})).unwrap();
        assert_eq!((script.template.as_str(), script.text.as_str()), (BUNDLED_GENERIC, "shipped x"));
        assert_eq!(script.passed_over.len(), 1);
    }

    #[test]
    fn an_unknown_variable_is_an_error_not_a_blank() {
        let (_dir, lib) = library(&[("generic.j2", "您好 {{ nmae }}")]);
        let err = lib.render("other", Temperament::Neutral, &serde_json::json!({"name": "x"})).unwrap_err();
        assert!(matches!(err, SchedulerError::Script { .. }), "{err}");
    }

    #[test]
    fn a_directory_without_generic_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(ScriptLibrary::new(dir.path(), &[]).is_err());
        assert!(ScriptLibrary::new(dir.path(), &[("generic.j2", "hi")]).is_ok());
    }
}
