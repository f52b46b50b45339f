//! Call scripts (话术): minijinja templates under `config/scripts/`, chosen by category and
//! temperament with fallbacks, rendered once when a task is made and stored on it — so a
//! template edited later changes only the tasks made after.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use minijinja::{Environment, ErrorKind};
use serde::Serialize;

use crate::SchedulerError;
use mend_core::Temperament;

pub struct ScriptLibrary {
    env: Environment<'static>,
    /// Which template serves each category and temperament, found once. minijinja keeps the
    /// templates it loaded but not the names it did not find, so without this every call for a
    /// pair with no template of its own would read the disk for it again. Like the templates
    /// themselves, the choice holds until mend restarts.
    chosen: Mutex<HashMap<(String, Temperament), String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RenderedScript {
    /// The template used (`billing_dispute/impulsive.j2`, `billing_dispute.j2` or `generic.j2`).
    pub template: String,
    pub text: String,
}

impl ScriptLibrary {
    /// Templates are read from `dir` as they are first used; a template `dir` lacks comes from
    /// `bundled` (the ones shipped in the binary), so mend runs from any directory and an
    /// administrator overrides only the scripts they change.
    pub fn new(dir: &Path, bundled: &'static [(&'static str, &'static str)]) -> Result<Self, SchedulerError> {
        let dir = dir.to_path_buf();
        let has_generic = dir.join("generic.j2").is_file() || bundled.iter().any(|(n, _)| *n == "generic.j2");
        if !has_generic {
            return Err(SchedulerError::Config(format!(
                "the scripts directory `{}` has no generic.j2, the script of last resort",
                dir.display()
            )));
        }
        let env = mend_notify::template_environment(&dir, bundled);
        Ok(Self { env, chosen: Mutex::new(HashMap::new()) })
    }

    /// Renders the most specific template there is: category × temperament, then category,
    /// then `generic.j2`.
    pub fn render<C: Serialize>(
        &self,
        category: &str,
        temperament: Temperament,
        context: &C,
    ) -> Result<RenderedScript, SchedulerError> {
        let name = self.choose(category, temperament)?;
        let failed = |e: minijinja::Error| SchedulerError::Script { template: name.clone(), message: format!("{e:#}") };
        let text = self.env.get_template(&name).and_then(|t| t.render(context)).map_err(failed)?;
        Ok(RenderedScript { text: mend_notify::tidy(&text), template: name })
    }

    fn choose(&self, category: &str, temperament: Temperament) -> Result<String, SchedulerError> {
        let key = (category.to_owned(), temperament);
        if let Some(name) = self.chosen.lock().unwrap_or_else(PoisonError::into_inner).get(&key) {
            return Ok(name.clone());
        }
        for name in [format!("{category}/{temperament}.j2"), format!("{category}.j2"), "generic.j2".to_owned()] {
            match self.env.get_template(&name) {
                Ok(_) => {
                    self.chosen.lock().unwrap_or_else(PoisonError::into_inner).insert(key, name.clone());
                    return Ok(name);
                }
                Err(e) if e.kind() == ErrorKind::TemplateNotFound => continue,
                Err(e) => return Err(SchedulerError::Script { template: name, message: format!("{e:#}") }),
            }
        }
        Err(SchedulerError::Config("generic.j2 disappeared from the scripts directory".into()))
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
