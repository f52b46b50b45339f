//! The command-line contract: output shapes that operators' scripts rely on.

use serde_json::json;

use crate::support::{TestDb, both_databases, complaint, lines, repo_path};

async fn cases_export_has_the_documented_shape(db: TestDb) {
    let mend = db.mend();
    mend.import_lines(&lines(&[
        complaint("hotline", "call-1", "2026-11-20T09:00:00+08:00", json!({"phone": "13800138000"}), "宽带又断了"),
        complaint("wechat", "msg-1", "2026-11-20T10:00:00+08:00", json!({"phone": "13800138000"}), "断网了"),
    ]));
    let cases = mend.export_cases();
    assert_eq!(cases.len(), 1);
    let case = &cases[0];
    for key in ["case_id", "customer_id", "category", "status", "complaints"] {
        assert!(case.get(key).is_some(), "missing {key}: {case}");
    }
    assert!(case["case_id"].as_str().unwrap().parse::<uuid::Uuid>().is_ok());
    assert_eq!(case["complaints"][0]["channel"], "hotline");
    assert_eq!(case["complaints"][0]["source_id"], "call-1");
    assert_eq!(case["complaints"][1]["channel"], "wechat");
}

/// Exports and `mend check` run against a read-only replica (or a user without DDL rights): an
/// up-to-date schema is checked, not written to.
async fn commands_that_read_run_on_a_read_only_database(db: TestDb) {
    let said =
        |id: &str| complaint("hotline", id, "2026-11-20T09:00:00+08:00", json!({"phone": "13800138000"}), "宽带又断了");
    db.mend().import_lines(&lines(&[said("call-1")]));
    let read_only = match db.is_postgres() {
        true => {
            let joint = if db.url.contains('?') { '&' } else { '?' };
            format!("{}{joint}options=-c%20default_transaction_read_only%3Don", db.url)
        }
        false => db.url.replace("mode=rwc", "mode=ro"),
    };
    let replica = db.mend().env("MEND_DATABASE_URL", &read_only);
    assert_eq!(replica.export_cases().len(), 1);
    for command in [&["tasks", "export"][..], &["check"], &["quarantine", "list"]] {
        let out = replica.run(command, b"");
        assert_eq!(out.status, 0, "{command:?}: {}", out.stderr);
    }
    let write = replica.run(&["import", "--channel", "json", "-"], lines(&[said("call-2")]).join("\n").as_bytes());
    assert_ne!(write.status, 0, "the database really is read-only: {}", write.stdout);
}

async fn the_demo_loads_its_samples_and_reports(db: TestDb) {
    let out = db.mend().run(&["demo"], b"");
    assert_eq!(out.status, 0, "{}", out.stderr);
    assert!(out.stdout.contains("Loaded 240 sample complaints"), "{}", out.stdout);
    assert!(out.stdout.contains("The largest case"), "{}", out.stdout);
    assert!(out.stdout.contains("The most urgent, case"), "the demo walks on to the callbacks: {}", out.stdout);
    let tasks = db.mend().run(&["tasks", "export"], b"").json_lines();
    assert!(!tasks.is_empty() && tasks.len() <= db.mend().export_cases().len(), "one task at most per case");

    let cases = db.mend().export_cases();
    let complaints: usize = cases.iter().map(|c| c["complaints"].as_array().unwrap().len()).sum();
    assert_eq!(complaints, 236 + 5 + 2 + 2 + 3, "every valid sample, canonical or channel-native, is in a case");
    assert!(
        out.stdout.contains("a call-center CSV export: 8 records, 5 complaints, 2 ignored (not complaints)"),
        "{}",
        out.stdout
    );
    assert!(cases.len() < complaints / 2 + 10, "repeat complainers are grouped: {} cases", cases.len());
    let channels: std::collections::BTreeSet<&str> = cases
        .iter()
        .flat_map(|c| c["complaints"].as_array().unwrap())
        .map(|d| d["channel"].as_str().unwrap())
        .collect();
    assert_eq!(channels.into_iter().collect::<Vec<_>>(), ["bot", "hotline", "store", "wechat"]);

    // Counts agree: the cases reported are the cases in work, merged ones are told apart, and
    // every case in work has its callback.
    let in_work = cases.iter().filter(|c| c["status"] != "merged").count();
    let exported: std::collections::HashMap<&str, &serde_json::Value> =
        cases.iter().map(|c| (c["case_id"].as_str().unwrap(), c)).collect();
    for case in &cases {
        // A merged case says where its complaints went; that case holds them.
        match case["merged_into"].as_str() {
            Some(into) => assert!(case["status"] == "merged" && exported[into]["status"] != "merged", "{case}"),
            None => assert!(case["status"] != "merged" && case.get("merged_into").is_some(), "{case}"),
        }
    }
    assert!(out.stdout.contains(&format!("grouped into {in_work} cases")), "{}", out.stdout);
    assert!(out.stdout.contains(&format!("planned {} callbacks", tasks.len())), "{}", out.stdout);
    assert_eq!(tasks.len(), in_work, "one callback per case in work");
    // The samples sit just before now: the queue looks like a morning's, not months overdue
    // (calls wait at most for the weekly cap of a customer with several cases).
    let now = chrono::Utc::now();
    for task in &tasks {
        let due: chrono::DateTime<chrono::Utc> = task["due_at"].as_str().unwrap().parse().unwrap();
        assert!(due > now - chrono::Duration::days(2) && due < now + chrono::Duration::days(15), "{task}");
    }
    // A second demo finds its samples where the first put them: duplicates, nothing new.
    let again = db.mend().run(&["demo"], b"");
    assert!(again.stdout.contains("accepted 0, already known 236"), "{}", again.stdout);
    assert_eq!(db.mend().run(&["quarantine", "list"], b"").json_lines().len(), 5, "no conflicting redeliveries");

    // A desk at work: the demo puts no made-up customers into its queue.
    let desk = db.sibling().await;
    let real = complaint("hotline", "call-1", "2026-11-20T09:12:00+08:00", json!({"phone": "13800138000"}), "宽带断了");
    desk.mend().import_lines(&lines(&[real]));
    let refused = desk.mend().run(&["demo"], b"");
    assert_eq!(refused.status, 1, "{}", refused.stdout);
    assert!(refused.stderr.contains("holds 1 complaints and none of the demo's"), "{}", refused.stderr);
    assert_eq!(desk.mend().export_cases().len(), 1, "nothing loaded");
}

/// A job that does not exist is a usage error, and the answer lists every job that does.
#[test]
fn an_unknown_job_is_a_usage_error_naming_every_job() {
    let out = TestDb::sqlite().mend().run(&["schedule", "run", "bogus"], b"");
    assert_eq!(out.status, 2, "{}", out.stderr);
    for job in ["generate_callbacks", "budget_rollover", "quarantine_purge", "session_purge"] {
        assert!(out.stderr.contains(job), "{job} in {}", out.stderr);
    }
}

/// An export run where no database is (the wrong directory, a mistyped path) says that it made
/// an empty one, rather than answering "no cases" without a word; the next run is quiet.
#[test]
fn a_command_that_creates_the_sqlite_file_says_so() {
    let db = TestDb::sqlite();
    let first = db.mend().run(&["cases", "export"], b"");
    assert_eq!((first.status, first.stdout.as_str()), (0, ""), "{}", first.stderr);
    assert!(first.stderr.contains("there was no database at") && first.stderr.contains("mend.db"), "{}", first.stderr);
    let second = db.mend().run(&["cases", "export"], b"");
    assert!(!second.stderr.contains("no database"), "{}", second.stderr);

    // A database that is there but holds no mend tables (a mistyped name, an empty file) is no
    // desk either: `mend check`'s "no problems" comes with that said.
    let empty = TestDb::sqlite();
    std::fs::write(mend_store::sqlite_file(&empty.url).unwrap(), b"").unwrap();
    let check = empty.mend().run(&["check"], b"");
    assert_eq!(check.status, 0, "{}", check.stderr);
    assert!(check.stderr.contains("held no mend tables"), "{}", check.stderr);
    let again = empty.mend().run(&["check"], b"");
    assert!(!again.stderr.contains("no mend tables"), "{}", again.stderr);
}

/// An instance that cannot listen exits before its jobs run: a misconfigured `mend serve`
/// changes nothing in the database (nor sends any email).
#[tokio::test]
async fn serve_that_cannot_listen_runs_no_job() {
    let db = TestDb::sqlite();
    let mend = db.mend();
    mend.import_lines(&lines(&[complaint(
        "hotline",
        "l-1",
        "2026-11-24T08:00:00+08:00",
        json!({"phone": "13800138057"}),
        "宽带断网了",
    )]));
    let out = mend.env("MEND_HTTP__BIND", "notanaddr").run(&["serve", "--now", "2026-11-24T10:00:30+08:00"], b"");
    assert_eq!(out.status, 1, "{}", out.stderr);
    assert!(out.stderr.contains("cannot listen on notanaddr"), "{}", out.stderr);
    let store = db.store().await;
    let runs = mend_store::job_runs::recent_runs(store.connection(), None, 10).await.unwrap();
    assert_eq!(runs, [], "no job ran");
}

/// A setting spelt wrong is named on stderr, not run on its default without a word.
#[test]
fn a_misspelt_setting_is_named() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("site.toml");
    std::fs::write(&file, "[grouping]\nwindow_dayz = 60\n").unwrap();
    let out =
        db.mend().env("MEND_GROUPING_WINDOW_DAYS", "3").run(&["--config", file.to_str().unwrap(), "migrate"], b"");
    assert_eq!(out.status, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("key=grouping_window_days") && out.stderr.contains("separated by __"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("key=grouping.window_dayz"), "{}", out.stderr);
    let right = db.mend().env("MEND_GROUPING__WINDOW_DAYS", "3").run(&["migrate"], b"");
    assert!(!right.stderr.contains("No such setting"), "{}", right.stderr);
}

/// Logs carry colour codes only on a terminal, and come as JSON lines when configured so.
#[test]
fn logs_are_plain_off_a_terminal_and_json_on_request() {
    let db = TestDb::sqlite();
    let mend = db.mend().env("MEND_LOG", "info");
    let text = mend.run(&["migrate"], b"");
    assert_eq!(text.status, 0, "{}", text.stderr);
    assert!(text.stderr.contains("INFO") && !text.stderr.contains('\u{1b}'), "{:?}", text.stderr);
    // A fresh database: one up to date is only read, and has nothing to tell.
    let fresh = TestDb::sqlite();
    let json = fresh.mend().env("MEND_LOG", "info").env("MEND_LOG_FORMAT", "json").run(&["migrate"], b"");
    let lines: Vec<&str> = json.stderr.lines().filter(|l| l.starts_with('{')).collect();
    assert!(!lines.is_empty(), "{}", json.stderr);
    for line in lines {
        let entry: serde_json::Value = serde_json::from_str(line).expect("a JSON log line");
        assert!(entry["level"].is_string() && entry["timestamp"].is_string(), "{entry}");
    }
}

#[test]
fn the_bundled_samples_are_what_the_demo_promises() {
    let samples = std::fs::read_to_string(repo_path("config/samples/complaints.jsonl")).unwrap();
    assert!(samples.lines().count() >= 200);
}

#[test]
fn a_bad_configuration_is_reported_not_ignored() {
    let db = TestDb::sqlite();
    let out = db.mend().env("MEND_TIMEZONE", "Mars/Olympus").run(&["migrate"], b"");
    assert_ne!(out.status, 0);
    assert!(out.stderr.contains("Mars/Olympus"), "{}", out.stderr);
    let recipients = db.mend().env("MEND_SCHEDULER__HOTSPOTS__RECIPIENTS", "[\"ops@example.com\", \"运营部\"]");
    let out = recipients.run(&["migrate"], b"");
    assert_ne!(out.status, 0);
    assert!(out.stderr.contains("scheduler.hotspots.recipients: `运营部`"), "{}", out.stderr);
    // Tables read into more than one part (the grouping policy and its phrases) name the key.
    let out = db.mend().env("MEND_GROUPING__WINDOW_DAYS", "a week").run(&["migrate"], b"");
    assert_ne!(out.status, 0);
    assert!(out.stderr.contains("GROUPING.WINDOW_DAYS"), "{}", out.stderr);
    let out = db.mend().env("MEND_INTAKE__COMPLAINT_CUES", "7").run(&["migrate"], b"");
    assert_ne!(out.status, 0);
    assert!(out.stderr.contains("INTAKE.COMPLAINT_CUES"), "{}", out.stderr);
}

/// A holidays list kept for last year is said when the clock reaches a year it names no day of.
#[test]
fn a_year_without_holidays_is_said() {
    let db = TestDb::sqlite();
    let run = |now: &str| db.mend().run(&["schedule", "run", "follow_ups", "--now", now], b"");
    let next_year = run("2027-01-04T10:00:00+08:00");
    assert!(next_year.stderr.contains("holidays names no day of this year") && next_year.stderr.contains("2027"));
    assert!(!run("2026-11-04T10:00:00+08:00").stderr.contains("holidays"), "2026 has its holidays");
}

/// The import bench reports every stretch of the run in order, and its first and last stretch
/// are the ends of that curve.
#[test]
fn the_import_bench_reports_the_rate_of_every_stretch() {
    let db = TestDb::sqlite();
    let args =
        ["bench", "import", "--complaints", "3000", "--customers", "400", "--target", "sqlite", "--synthetic-texts"];
    let report = db.mend().run(&args, b"").json();
    assert_eq!(report["summary"]["records"], 3000);
    assert_eq!(report["texts"], "synthetic");
    let (rate, floor) =
        (report["complaints_per_second"].as_f64().unwrap(), report["floor_per_second"].as_f64().unwrap());
    assert!(floor > 0.0 && (report["share_of_floor"].as_f64().unwrap() - rate / floor).abs() < 0.01, "{report}");
    assert_eq!(report["stretch"], 1500);
    let stretches = report["stretches_per_second"].as_array().unwrap();
    assert_eq!(stretches.len(), 2);
    assert!(stretches.iter().all(|rate| rate.as_f64().unwrap() > 0.0), "{report}");
    assert_eq!(report["first_stretch_per_second"], stretches[0]);
    assert_eq!(report["last_stretch_per_second"], stretches[1]);
}

/// The desk bench works the whole callable queue: one completion per task handed out, every
/// agent's last claim answered 204, and the latencies of claims after each agent's first.
#[test]
fn the_desk_bench_works_the_queue_until_nothing_is_callable() {
    let db = TestDb::sqlite();
    let report = db.mend().run(&["bench", "desk", "--agents", "3", "--tasks", "60", "--target", "sqlite"], b"").json();
    let (tasks, cycles) = (report["tasks"].as_u64().unwrap(), report["cycles"].as_u64().unwrap());
    assert!(cycles > 0 && cycles <= tasks, "{report}");
    for latency in ["claim_ms", "steady_claim_ms", "complete_ms"] {
        let (p50, p99) = (report[latency]["p50"].as_f64().unwrap(), report[latency]["p99"].as_f64().unwrap());
        assert!(0.0 < p50 && p50 <= p99, "{latency}: {report}");
    }
    assert_eq!(report["target"], "sqlite");
}

/// `mend eval grouping` scores a labelled file in the database it is given, counts the errors by
/// kind and, with expected labels on the lines, bounds what reading labels better could reach.
async fn grouping_is_scored_with_its_errors_by_kind(db: TestDb) {
    let phone = json!({"phone": "13800138000"});
    let line = |source_id: &str, at: &str, text: &str, case: &str| {
        let mut c = complaint("hotline", source_id, at, phone.clone(), text);
        c["expected_case"] = json!(case);
        c["expected_label"] = json!("费用问题");
        c
    };
    // Two billing disputes of one customer, and a follow-up that fits both: grouping puts it
    // with the later one and shows the agent the other, which the truth says it is about.
    let file = [
        line(
            "order-1",
            "2026-11-20T09:00:00+08:00",
            "客户反映本机号码十月份账单中出现一笔三十元的国际漫游费用，客户称十月份从未出国，对此扣费不认可，要求核实后退还该笔费用。",
            "roaming",
        ),
        line(
            "order-2",
            "2026-11-20T11:00:00+08:00",
            "客户来电反映本月话费账单多扣了五十元的增值业务费用，客户称从未使用过该业务，对这笔扣费有疑义，要求查明原因并给予答复。",
            "extra",
        ),
        line("follow-up", "2026-11-20T15:00:00+08:00", "账单还是不对", "roaming"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("eval.jsonl");
    std::fs::write(&path, lines(&file).join("\n")).unwrap();
    let eval =
        |db: &TestDb| db.mend().run(&["eval", "grouping", path.to_str().unwrap(), "--database", &db.url], b"").json();

    let report = eval(&db);
    assert_eq!((report["complaints"].as_u64(), report["expected_cases"].as_u64()), (Some(3), Some(2)), "{report}");
    let errors = &report["errors"];
    assert_eq!(errors["follow_up_wrong_case"], 1, "{report}");
    assert_eq!(errors["follow_up_same_label"], 1, "{report}");
    assert_eq!((errors["retelling_split"].as_u64(), errors["problems_merged"].as_u64()), (Some(0), Some(0)));
    assert!(report["pairwise"]["f1"].as_f64().unwrap() < 1.0, "{report}");
    assert_eq!(report["close_choices"], json!({"flagged": 1, "misplaced": 1, "named_right": 1}), "shown to the agent");
    let bound = &report["same_label_bound"];
    assert_eq!(bound["pairwise"]["f1"], report["pairwise"]["f1"], "nothing but the same-label follow-up to put right");

    // Told that the follow-up is about another kind of problem, the bound puts it right.
    let mut relabelled = file.clone();
    relabelled[2]["expected_label"] = json!("网络问题");
    std::fs::write(&path, lines(&relabelled).join("\n")).unwrap();
    let report = eval(&db.sibling().await);
    assert_eq!(report["errors"]["follow_up_same_label"], 0, "{report}");
    assert_eq!(report["same_label_bound"]["pairwise"]["f1"], 1.0, "{report}");

    // Without expected labels there is nothing to bound.
    let unlabelled: Vec<_> = file
        .iter()
        .cloned()
        .map(|mut c| {
            c.as_object_mut().unwrap().remove("expected_label");
            c
        })
        .collect();
    std::fs::write(&path, lines(&unlabelled).join("\n")).unwrap();
    let report = eval(&db.sibling().await);
    assert!(report.get("same_label_bound").is_none(), "{report}");
    assert_eq!(report["errors"]["follow_up_same_label"], 0, "{report}");
    // The database must start empty: a second run into the first is refused.
    let again = db.mend().run(&["eval", "grouping", path.to_str().unwrap(), "--database", &db.url], b"");
    assert_ne!(again.status, 0, "{}", again.stdout);
    assert!(again.stderr.contains("empty database"), "{}", again.stderr);
}

/// A reader that stops early (`mend check | true`, `mend user list | head -1`) ends the command
/// quietly, as it always did the exports: no panic on the closed pipe, and the exit status the
/// command would have had. Credentials shown only once and read by nobody are lost: that fails.
async fn a_reader_that_goes_away_early_is_no_failure(db: TestDb) {
    use std::process::Stdio;
    let mend = db.mend();
    mend.add_user("wang", "agent");
    let unread = |args: &[&str]| {
        let mut command = mend.command(args);
        let mut child =
            command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("mend");
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("mend ran");
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    for args in [&["check"][..], &["user", "list"], &["cases", "export"]] {
        let (code, stderr) = unread(args);
        assert!(code == Some(0) && !stderr.contains("panicked"), "{args:?}: {code:?} {stderr}");
    }
    let (code, stderr) = unread(&["user", "add", "--name", "li", "--role", "agent"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("could not be shown") && !stderr.contains("panicked"), "{stderr}");
}

both_databases!(
    a_reader_that_goes_away_early_is_no_failure,
    commands_that_read_run_on_a_read_only_database,
    cases_export_has_the_documented_shape,
    the_demo_loads_its_samples_and_reports,
    grouping_is_scored_with_its_errors_by_kind
);
