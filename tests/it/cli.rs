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
    assert_eq!(complaints, 236 + 5 + 3 + 2 + 3, "every valid sample, canonical or channel-native, is in a case");
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
}

/// Logs carry colour codes only on a terminal, and come as JSON lines when configured so.
#[test]
fn logs_are_plain_off_a_terminal_and_json_on_request() {
    let db = TestDb::sqlite();
    let mend = db.mend().env("MEND_LOG", "info");
    let text = mend.run(&["migrate"], b"");
    assert_eq!(text.status, 0, "{}", text.stderr);
    assert!(text.stderr.contains("INFO") && !text.stderr.contains('\u{1b}'), "{:?}", text.stderr);
    let json = mend.env("MEND_LOG_FORMAT", "json").run(&["migrate"], b"");
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

both_databases!(cases_export_has_the_documented_shape, the_demo_loads_its_samples_and_reports);
