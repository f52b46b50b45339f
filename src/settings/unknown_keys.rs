//! Settings nobody reads: a key of a config file or a `MEND_*` variable that names no setting
//! (`window_dayz`, `MEND_GROUPING_WINDOW_DAYS` with one underscore) would otherwise be ignored
//! without a word, and the deployment run on the default it meant to change.

use std::path::Path;

use figment::Provider;
use figment::providers::{Env, Format, Toml};
use figment::value::{Dict, Value};

use super::{BUNDLED_DEFAULTS, LOCAL_DEFAULTS};

/// Tables whose keys are the deployment's own (category ids, labels, tiers, job names): any key
/// is a setting there.
const OPEN_TABLES: [&str; 7] = [
    "taxonomy.labels",
    "scheduler.jobs",
    "scheduler.due.categories",
    "scheduler.priority.tiers",
    "scheduler.priority.satisfaction",
    "scheduler.compensation.category_caps_fen",
    "scheduler.temperament.cues",
];

/// `MEND_*` variables that are read directly, not as settings: the log filter, and the
/// databases and data of tests and benches (`MEND_TEST_*` too).
const ENVIRONMENT_ONLY: [&str; 4] = ["log", "bench_postgres_url", "real_orders", "migrations_fingerprint"];

/// The source of the keys of `MEND_*` variables.
pub const ENVIRONMENT: &str = "the environment";

/// A key that names no setting, and where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownKey {
    pub key: String,
    pub source: String,
}

/// The keys of the local `config/default.toml`, of `config_file` and of the `MEND_*` environment
/// that the bundled defaults do not have. Sources that do not read are left to
/// [`super::Settings::load`], which says why.
pub fn unknown_keys(config_file: Option<&Path>) -> Vec<UnknownKey> {
    let Some(known) = dict_of(&Toml::string(BUNDLED_DEFAULTS)) else { return Vec::new() };
    let mut sources: Vec<(String, Dict)> = Vec::new();
    for file in [Some(Path::new(LOCAL_DEFAULTS)).filter(|p| p.is_file()), config_file].into_iter().flatten() {
        if let Some(dict) = dict_of(&Toml::file(file)) {
            sources.push((file.display().to_string(), dict));
        }
    }
    let environment = Env::prefixed("MEND_")
        .split("__")
        .filter(|key| !ENVIRONMENT_ONLY.iter().any(|only| key == *only) && !key.starts_with("test_"));
    if let Some(dict) = dict_of(&environment) {
        sources.push((ENVIRONMENT.into(), dict));
    }
    let mut unknown = Vec::new();
    for (source, dict) in &sources {
        let mut keys = Vec::new();
        unknown_in(&known, dict, "", &mut keys);
        unknown.extend(keys.into_iter().map(|key| UnknownKey { key, source: source.clone() }));
    }
    unknown
}

fn dict_of(provider: &impl Provider) -> Option<Dict> {
    provider.data().ok()?.into_values().next()
}

/// The paths under `prefix` of `given` that `known` does not have.
fn unknown_in(known: &Dict, given: &Dict, prefix: &str, out: &mut Vec<String>) {
    for (key, value) in given {
        let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
        match (known.get(key), value) {
            (Some(Value::Dict(_, known)), Value::Dict(_, given)) if !OPEN_TABLES.contains(&path.as_str()) => {
                unknown_in(known, given, &path, out);
            }
            (Some(_), _) => {}
            (None, _) => out.push(path),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unknown(given: &str) -> Vec<String> {
        let known = dict_of(&Toml::string(BUNDLED_DEFAULTS)).unwrap();
        let mut out = Vec::new();
        unknown_in(&known, &dict_of(&Toml::string(given)).unwrap(), "", &mut out);
        out
    }

    #[test]
    fn a_misspelt_key_is_named_and_the_deployments_own_keys_are_not() {
        let given = "[grouping]\nwindow_dayz = 60\nthreshold = 0.6\n[scheduler.due.categories]\nmy_category = 3\n\
                     [taxonomy.labels]\n\"网络问题\" = \"broadband_outage\"\n[grouping_typo]\nx = 1\n";
        assert_eq!(unknown(given), ["grouping.window_dayz", "grouping_typo"]);
    }

    #[test]
    fn every_bundled_key_is_known() {
        assert!(unknown(BUNDLED_DEFAULTS).is_empty());
    }
}
