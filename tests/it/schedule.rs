//! The scheduler end to end: callback generation (exactly one task per case, however often and
//! however many processes run it), cron occurrences that run once and catch up once, and the
//! follow-ups of finished calls. Time is always given with `--now`.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use mend_core::TaskId;
use serde_json::{Value, json};

use crate::support::{Mend, TestDb, both_databases, complaint, lines};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

fn schedule(mend: &Mend, job: &str, now: &str) -> Value {
    let out = mend.run(&["schedule", "run", job, "--now", now], b"").json_lines();
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0]["outcome"], "ok", "{}", out[0]);
    out[0].clone()
}

fn tasks(mend: &Mend) -> Vec<Value> {
    mend.run(&["tasks", "export"], b"").json_lines()
}

/// Three customers: one complaining on two channels about an outage (one case), one with a
/// billing dispute and a formal complaint, one with a late-night complaint.
fn three_customers(mend: &Mend) {
    mend.import_lines(&lines(&[
        complaint(
            "hotline",
            "c-1",
            "2026-11-24T09:00:00+08:00",
            json!({"phone": "13800138001", "name": "张先生"}),
            "宽带又断了,气死我了!!!",
        ),
        complaint(
            "wechat",
            "w-1",
            "2026-11-24T09:30:00+08:00",
            json!({"phone": "13800138001"}),
            "家里宽带断网一上午了",
        ),
        {
            let mut c = complaint(
                "hotline",
                "c-2",
                "2026-11-24T10:00:00+08:00",
                json!({"phone": "13800138002"}),
                "话费多扣了50元,乱收费",
            );
            c["formal_complaint"] = json!(true);
            c
        },
        complaint(
            "bot",
            "b-3",
            "2026-11-24T22:30:00+08:00",
            json!({"phone": "13800138003"}),
            "App登录不上,验证码收不到",
        ),
    ]));
}

async fn callback_generation_is_idempotent_and_exported_as_documented(db: TestDb) {
    let mend = db.mend();
    three_customers(&mend);
    let first = schedule(&mend, "generate_callbacks", "2026-11-24T23:00:00+08:00");
    assert_eq!(first["job"], "generate_callbacks");
    assert_eq!(first["scheduled_for"], "2026-11-24T15:00:00Z");
    assert_eq!(first["counts"]["tasks_created"], 3);
    let exported = tasks(&mend);
    assert_eq!(exported.len(), 3);

    let second = schedule(&mend, "generate_callbacks", "2026-11-24T23:00:00+08:00");
    assert_eq!(second["counts"]["tasks_created"], 0);
    assert_eq!(tasks(&mend), exported, "a second run changes nothing");

    let by_category: BTreeMap<&str, &Value> = exported.iter().map(|t| (t["category"].as_str().unwrap(), t)).collect();
    for task in &exported {
        for key in ["task_id", "case_id", "kind", "status", "due_at", "priority", "compensation_limit_fen", "script"] {
            assert!(task.get(key).is_some(), "missing {key}: {task}");
        }
        assert_eq!(task["kind"], "callback");
        assert_eq!(task["status"], "open");
        // Generated at 23:00 Shanghai: every call waits for 09:00 the next morning.
        assert_eq!(task["not_before"], "2026-11-25T01:00:00Z", "{task}");
        assert!(task["limit_explanation"].as_str().unwrap().starts_with("补偿上限"));
    }
    let outage = by_category["broadband_outage"];
    assert_eq!(outage["temperament"], "impulsive", "cues fired: {}", outage["temperament_reason"]);
    assert!(outage["temperament_reason"]["cues"].as_array().unwrap().contains(&json!("气死")));
    let script = outage["script"].as_str().unwrap();
    assert!(script.starts_with("【开场】\n张先生您好"), "{script}");
    assert!(script.contains("通过客服热线") && script.contains("通过微信公众号"), "both channels summarized: {script}");
    assert_eq!(outage["priority_reasons"]["script_template"], "broadband_outage/impulsive.j2");
    assert_eq!(outage["compensation_limit_fen"], 10_000);
    let billing = by_category["billing_dispute"];
    assert!(billing["priority"].as_i64().unwrap() > by_category["app_login"]["priority"].as_i64().unwrap());
    let factors: Vec<&str> = billing["priority_reasons"]["factors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["factor"].as_str().unwrap())
        .collect();
    assert!(factors.contains(&"escalation_risk"), "{factors:?}");
    assert_eq!(billing["priority_reasons"]["due"]["rule"], "escalation risk within 4 h");
    db.assert_consistent().await;
}

/// Several processes sweep at once, each on its own connection: every case still gets exactly
/// one task.
async fn concurrent_sweeps_give_each_case_one_task(db: TestDb) {
    let mend = db.mend();
    let mut records = Vec::new();
    for i in 0..60 {
        let phone = format!("1390000{:04}", i % 25);
        let text = if i % 2 == 0 { "宽带断网了" } else { "话费乱收费" };
        records.push(complaint(
            "hotline",
            &format!("r-{i}"),
            "2026-11-24T09:00:00+08:00",
            json!({"phone": phone}),
            text,
        ));
    }
    mend.import_lines(&lines(&records));
    let cases = mend.export_cases().len();
    let created: i64 = std::thread::scope(|s| {
        let runs: Vec<_> = (0..4)
            .map(|_| s.spawn(|| schedule(&db.mend(), "generate_callbacks", "2026-11-24T11:00:00+08:00")))
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()["counts"]["tasks_created"].as_i64().unwrap()).sum()
    });
    let all = tasks(&mend);
    let per_case: BTreeSet<&str> = all.iter().map(|t| t["case_id"].as_str().unwrap()).collect();
    assert_eq!(created as usize, cases, "the runs together created one task per case");
    assert_eq!(all.len(), cases);
    assert_eq!(per_case.len(), cases, "no case has two tasks");
    // 25 customers, ten of them with two problems: the daily cap allows one call a day.
    let days: BTreeSet<(String, String)> = all
        .iter()
        .map(|t| (t["customer_id"].as_str().unwrap().to_owned(), t["not_before"].as_str().unwrap()[..10].to_owned()))
        .collect();
    assert_eq!(days.len(), all.len(), "no customer is called twice on one day");
}

/// Cron occurrences: several instances ticking at once run an occurrence once; after downtime
/// the missed occurrences run once, for the latest.
async fn an_occurrence_runs_once_and_downtime_is_caught_up_once(db: TestDb) {
    let mend = db.mend();
    three_customers(&mend);
    let ticks: Vec<Vec<Value>> = std::thread::scope(|s| {
        let runs: Vec<_> = (0..3)
            .map(|_| {
                s.spawn(|| db.mend().run(&["schedule", "tick", "--now", "2026-11-25T10:00:30+08:00"], b"").json_lines())
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let generations: Vec<&Value> = ticks.iter().flatten().filter(|r| r["job"] == "generate_callbacks").collect();
    assert_eq!(generations.len(), 1, "one instance ran the 10:00 occurrence: {ticks:?}");
    assert_eq!(generations[0]["scheduled_for"], "2026-11-25T02:00:00Z");
    assert_eq!(generations[0]["counts"]["tasks_created"], 3);

    let again = mend.run(&["schedule", "tick", "--now", "2026-11-25T10:00:50+08:00"], b"").json_lines();
    assert!(again.iter().all(|r| r["job"] != "generate_callbacks"), "the occurrence is done: {again:?}");

    // Down from 10:00 to 10:30: the per-minute job runs once, for 10:30, counting 29 missed.
    let after_downtime = mend.run(&["schedule", "tick", "--now", "2026-11-25T10:30:05+08:00"], b"").json_lines();
    let caught_up: Vec<&Value> = after_downtime.iter().filter(|r| r["job"] == "generate_callbacks").collect();
    assert_eq!(caught_up.len(), 1);
    assert_eq!(caught_up[0]["scheduled_for"], "2026-11-25T02:30:00Z");
    assert_eq!(caught_up[0]["counts"]["missed_occurrences"], 29);

    let store = db.store().await;
    let runs = mend_store::scheduling::recent_runs(store.connection(), Some("generate_callbacks"), 100).await.unwrap();
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert!(runs.iter().all(|r| r.outcome == "ok" && r.finished_at.is_some()));
}

/// Finished calls: a fix marked for verification gets a verification call, an unreachable
/// customer is retried with backoff and then the case is closed with an email, an overdue task
/// is escalated.
async fn follow_ups_retries_and_escalations(db: TestDb) {
    let mend = db.mend();
    mend.import_lines(&lines(&[
        complaint("hotline", "f-1", "2026-11-24T09:00:00+08:00", json!({"phone": "13800138011"}), "宽带断网了"),
        {
            let mut c =
                complaint("hotline", "f-2", "2026-11-24T09:10:00+08:00", json!({"phone": "13800138012"}), "话费多扣了");
            c["customer"]["email"] = json!("li@example.com");
            c
        },
        complaint("hotline", "f-3", "2026-11-24T09:20:00+08:00", json!({"phone": "13800138013"}), "App登录不上"),
    ]));
    schedule(&mend, "generate_callbacks", "2026-11-24T10:00:00+08:00");
    let created = tasks(&mend);
    let task_of = |category: &str| -> TaskId {
        let t = created.iter().find(|t| t["category"] == category).unwrap();
        t["task_id"].as_str().unwrap().parse().unwrap()
    };
    let store = db.store().await;
    let complete = |id: TaskId, outcome: Value, when: &str| {
        let (store, when) = (&store, at(when));
        async move {
            assert!(mend_store::scheduling::complete_task(store.connection(), id, &outcome, when).await.unwrap());
        }
    };
    complete(
        task_of("broadband_outage"),
        json!({"outcome": "reached", "resolved": true, "verify": true, "satisfaction_after": 4}),
        "2026-11-24T11:00:00+08:00",
    )
    .await;
    complete(
        task_of("billing_dispute"),
        json!({"outcome": "unreachable", "resolved": false}),
        "2026-11-24T11:00:00+08:00",
    )
    .await;

    let follow = schedule(&mend, "follow_ups", "2026-11-24T12:00:00+08:00");
    assert_eq!(follow["counts"]["tasks_created"], 1, "{follow}");
    let retry = schedule(&mend, "retry_unreachable", "2026-11-24T12:00:00+08:00");
    assert_eq!(retry["counts"]["tasks_created"], 1, "{retry}");
    let now = tasks(&mend);
    let verification = now.iter().find(|t| t["kind"] == "verification").expect("a verification call");
    // Verified 48 hours after the fix: Thursday 11:00.
    assert_eq!(verification["not_before"], "2026-11-26T03:00:00Z");
    assert!(verification["script"].as_str().unwrap().starts_with("【回访确认】"));
    let retry_task = now.iter().find(|t| t["kind"] == "retry").expect("a retry");
    assert_eq!(retry_task["attempt"], 2);
    // First backoff is an hour, but the customer was called today already: tomorrow 09:00.
    assert_eq!(retry_task["not_before"], "2026-11-25T01:00:00Z");

    // Running the follow-up jobs again creates nothing more.
    assert_eq!(schedule(&mend, "follow_ups", "2026-11-24T12:00:00+08:00")["counts"]["tasks_created"], 0);
    assert_eq!(schedule(&mend, "retry_unreachable", "2026-11-24T12:00:00+08:00")["counts"]["tasks_created"], 0);

    // Unreachable on every attempt: after the fourth the case closes and an email is queued.
    let mut id: TaskId = retry_task["task_id"].as_str().unwrap().parse().unwrap();
    for (attempt, when) in
        [(2, "2026-11-25T10:00:00+08:00"), (3, "2026-11-26T10:00:00+08:00"), (4, "2026-11-27T10:00:00+08:00")]
    {
        complete(id, json!({"outcome": "unreachable"}), when).await;
        let run = schedule(&mend, "retry_unreachable", &when.replace("10:00:00", "12:00:00"));
        if attempt < 4 {
            assert_eq!(run["counts"]["tasks_created"], 1, "{run}");
            let next = tasks(&mend).into_iter().find(|t| t["kind"] == "retry" && t["attempt"] == attempt + 1).unwrap();
            id = next["task_id"].as_str().unwrap().parse().unwrap();
        } else {
            assert_eq!(run["counts"]["cases_closed"], 1, "{run}");
            assert_eq!(run["counts"]["emails_queued"], 1, "{run}");
        }
    }
    let outbox = mend_store::scheduling::outbox(store.connection()).await.unwrap();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].to_address, "li@example.com");
    assert_eq!(outbox[0].kind, "unreachable");
    let closed = mend.export_cases().into_iter().find(|c| c["category"] == "billing_dispute").unwrap();
    assert_eq!(closed["status"], "closed");

    // The app-login task was due long ago: escalated once, its priority raised.
    let before = created.iter().find(|t| t["category"] == "app_login").unwrap()["priority"].as_i64().unwrap();
    let sla = schedule(&mend, "sla_escalation", "2026-11-30T12:00:00+08:00");
    assert!(sla["counts"]["escalated"].as_i64().unwrap() >= 1, "{sla}");
    let escalations = mend_store::scheduling::open_escalations(store.connection()).await.unwrap();
    let app = tasks(&mend).into_iter().find(|t| t["category"] == "app_login").unwrap();
    assert_eq!(app["priority"].as_i64().unwrap(), before + 30);
    assert!(escalations.iter().any(|e| e.task_id.to_string() == app["task_id"].as_str().unwrap()));
    assert_eq!(schedule(&mend, "sla_escalation", "2026-11-30T12:05:00+08:00")["counts"]["escalated"], 0);
    db.assert_consistent().await;
}

both_databases!(
    callback_generation_is_idempotent_and_exported_as_documented,
    concurrent_sweeps_give_each_case_one_task,
    an_occurrence_runs_once_and_downtime_is_caught_up_once,
    follow_ups_retries_and_escalations,
);
