//! The crate boundaries ARCHITECTURE.md promises, read from the manifests and sources, so a
//! dependency or a statement that crosses one fails here rather than in review.

use std::path::Path;

use crate::support::repo_path;

/// The direct dependencies of a workspace crate, by the names its manifest gives them.
fn dependencies(krate: &str) -> Vec<String> {
    let manifest = std::fs::read_to_string(repo_path(&format!("{krate}/Cargo.toml"))).expect("manifest");
    let mut names = Vec::new();
    let mut in_dependencies = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_dependencies = line == "[dependencies]";
            continue;
        }
        if in_dependencies && let Some((name, _)) = line.split_once(['=', '.']) {
            names.push(name.trim().to_owned());
        }
    }
    names
}

#[test]
fn crates_depend_only_on_what_their_layer_may_use() {
    let forbidden: &[(&str, &[&str])] = &[
        ("crates/core", &["sea-orm", "tokio", "axum", "reqwest", "mend-store", "mend-ingest", "mend-cases"]),
        ("crates/ingest", &["sea-orm", "axum", "mend-store", "mend-cases", "mend-scheduler"]),
        ("crates/store", &["axum", "mend-ingest", "mend-cases", "mend-scheduler", "mend-server", "mend-notify"]),
        ("crates/notify", &["axum", "mend-ingest", "mend-cases", "mend-scheduler", "mend-desk", "mend-server"]),
        ("crates/cases", &["axum", "mend-server", "mend-scheduler"]),
        ("crates/scheduler", &["axum", "mend-server", "mend-desk"]),
        ("crates/desk", &["axum", "sea-orm", "mend-server", "mend-ingest"]),
    ];
    for (krate, banned) in forbidden {
        let deps = dependencies(krate);
        assert!(deps.iter().any(|d| d == "serde"), "{krate}'s manifest was not read: {deps:?}");
        for name in *banned {
            assert!(!deps.iter().any(|d| d == name), "{krate} must not depend on {name}");
        }
    }
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, found: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("source dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

#[test]
fn only_the_store_runs_statements() {
    let mut files = Vec::new();
    for dir in [
        "crates/core",
        "crates/ingest",
        "crates/cases",
        "crates/scheduler",
        "crates/desk",
        "crates/notify",
        "crates/server",
        "src",
    ] {
        sources(&repo_path(dir), &mut files);
    }
    assert!(files.len() > 40, "the sources were not found: {}", files.len());
    for file in files {
        let text = std::fs::read_to_string(&file).expect("source");
        for statement in ["Statement::from", "execute_unprepared", "query_one_raw", "query_all_raw", "execute_raw"] {
            assert!(
                !text.contains(statement),
                "{} runs SQL itself ({statement}); that is mend-store's",
                file.display()
            );
        }
    }
}
