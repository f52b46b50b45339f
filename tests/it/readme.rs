//! The README's tour, run as written: after `mend demo`, every command of its block works in
//! order and prints what the README says it does.

use std::process::Command;

use crate::support::repo_path;

/// The `sh` block under "A short tour".
fn tour() -> String {
    let readme = std::fs::read_to_string(repo_path("README.md")).unwrap();
    let section = &readme[readme.find("## A short tour").expect("the README has a tour")..];
    let start = section.find("```sh\n").expect("a sh block") + "```sh\n".len();
    let end = start + section[start..].find("```").expect("the block ends");
    section[start..end].to_owned()
}

#[test]
fn the_readme_tour_runs_as_written() {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(repo_path("config"), dir.path().join("config")).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mend = env!("CARGO_BIN_EXE_mend");
    // `cargo run` is the binary this test was built with; the server listens where it can.
    let script = tour().replace("cargo run -q --", mend).replace("localhost:8080", &format!("127.0.0.1:{port}"));
    let run = |program: &str, args: &[&str]| {
        let mut command = Command::new(program);
        command.args(args).current_dir(dir.path());
        for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("MEND_")) {
            command.env_remove(key);
        }
        let database = format!("sqlite://{}?mode=rwc", dir.path().join("mend.db").display());
        let output = command
            .env("MEND_DATABASE_URL", database)
            .env("MEND_HTTP__BIND", format!("127.0.0.1:{port}"))
            // The demo's customers have addresses; whatever listens on port 25 here gets none.
            .env("MEND_NOTIFY__SENDER", "false")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(output.status.success(), "{program} failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
        stdout
    };
    assert!(run(mend, &["demo"]).contains("The most urgent, case"));
    // Whatever step fails, the server started in the background goes with the script (it
    // holds the script's output open, which the test reads to the end).
    let script = format!("trap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n{script}");
    let printed = run("bash", &["-euo", "pipefail", "-c", &script]);
    for expected in [
        "\"category\"",
        "\"task_id\"",
        "\"problems\":0",
        "\"case_created\":true",
        "\"complaints\"",
        "\"job\":\"generate_callbacks\"",
        "\"subject\":\"您对宽带断网问题的处理满意吗?\"",
    ] {
        assert!(printed.contains(expected), "the tour printed no {expected}:\n{printed}");
    }
}
