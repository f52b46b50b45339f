//! The repair desk over HTTP: claims and leases with the clock standing at chosen moments (two
//! `mend serve` instances at different times share one database), outcomes that move the case,
//! and agents racing for one queue.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Mend, Server, TestDb, both_databases, complaint, json_response, lines};

both_databases!(
    a_claim_holds_a_task_until_its_lease_runs_out,
    a_call_let_lapse_on_a_closed_case_is_cancelled_not_left_due,
    an_agent_holds_three_tasks_at_most_and_a_supervisor_takes_one_back,
    a_former_holder_finishing_at_the_same_moment_leaves_the_holders_call_standing,
    nobody_is_called_outside_contact_hours,
    a_resolved_call_closes_the_case,
    a_call_in_hand_answers_the_case_its_case_was_merged_into,
    a_supervisor_reads_the_queue_the_day_and_the_trend,
    an_administrator_raises_a_month_that_runs_short_and_plans_the_next,
);

/// The moment the servers of these tests stand at (a Thursday noon in Shanghai), and later.
pub(crate) const NOON: &str = "2026-11-26T12:00:00+08:00";

/// One open case (and so one callback) per customer, planned at noon.
pub(crate) fn queue_of(mend: &Mend, customers: usize) {
    let complaints: Vec<Value> = (0..customers)
        .map(|i| {
            complaint(
                "hotline",
                &format!("call-{i}"),
                "2026-11-26T10:00:00+08:00",
                json!({"phone": format!("139{i:08}")}),
                "宽带断网三天了,光猫一直红灯",
            )
        })
        .collect();
    let imported = mend.import_lines(&lines(&complaints));
    assert_eq!(imported["accepted"], customers, "{imported}");
    let out = mend.run(&["schedule", "run", "generate_callbacks", "--now", NOON], b"").json_lines();
    assert_eq!(out[0]["counts"]["tasks_created"], customers, "{out:?}");
}

fn token(mend: &Mend, name: &str, role: &str) -> String {
    mend.add_user(name, role)["token"].as_str().expect("a token").to_owned()
}

/// `POST /api/v1/tasks/claim`: the task, or `None` with the 204's headers.
pub(crate) async fn claim(server: &Server, token: &str) -> Result<Value, reqwest::header::HeaderMap> {
    let response = server.request(Method::POST, "/api/v1/tasks/claim", token).send().await.expect("claim");
    match response.status() {
        StatusCode::OK => Ok(response.json().await.expect("a task")),
        StatusCode::NO_CONTENT => Err(response.headers().clone()),
        other => panic!("claim answered {other}: {}", response.text().await.unwrap_or_default()),
    }
}

pub(crate) async fn post(server: &Server, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
    json_response(server.request(Method::POST, path, token).json(&body)).await
}

/// The agent closes the case while holding its callback and never records the call: once the
/// lease runs out the call is cancelled by the SLA job, not left due for ever (never handed
/// out, since its case is closed) nor escalated as late.
async fn a_call_let_lapse_on_a_closed_case_is_cancelled_not_left_due(db: TestDb) {
    let mend = db.mend();
    queue_of(&mend, 1);
    let wang = token(&mend, "wang", "agent");
    let noon = mend.serve_at(NOON);
    let task = claim(&noon, &wang).await.expect("a task");
    let close = format!("/api/v1/cases/{}/close", task["case_id"].as_str().unwrap());
    assert_eq!(post(&noon, &close, &wang, json!({"reason": "已修好"})).await.0, StatusCode::OK);
    let still_held = mend.run(&["schedule", "run", "sla_escalation", "--now", "2026-11-26T12:10:00+08:00"], b"");
    assert_eq!(still_held.json_lines()[0]["counts"]["lapsed_calls_cancelled"], 0, "wang may still record it");
    let later = mend.run(&["schedule", "run", "sla_escalation", "--now", "2026-11-27T12:00:00+08:00"], b"");
    let counts = &later.json_lines()[0]["counts"];
    assert_eq!((&counts["lapsed_calls_cancelled"], &counts["escalated"]), (&json!(1), &json!(0)), "{counts}");
    let tasks = mend.run(&["tasks", "export"], b"").json_lines();
    assert_eq!(tasks[0]["status"], "cancelled", "{tasks:?}");
}

async fn a_claim_holds_a_task_until_its_lease_runs_out(db: TestDb) {
    let mend = db.mend();
    queue_of(&mend, 2);
    let (wang, li, zhao) = (token(&mend, "wang", "agent"), token(&mend, "li", "agent"), token(&mend, "zhao", "agent"));
    let noon = mend.serve_at(NOON);
    let first = noon.request(Method::POST, "/api/v1/tasks/claim", &wang).send().await.unwrap();
    // The numbers in full: no cache may keep the answer, nor a browser read it as a page.
    let headers = first.headers();
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let first: Value = first.json().await.unwrap();
    let second = claim(&noon, &li).await.expect("a task for li");
    assert_ne!(first["task_id"], second["task_id"]);
    assert_eq!(first["status"], "claimed");
    assert_eq!(first["lease_expires_at"], "2026-11-26T04:15:00Z", "noon plus the 900 s lease");
    assert!(first["phones"][0].as_str().is_some_and(|p| p.starts_with("139") && !p.contains('*')), "{first}");
    assert!(claim(&noon, &zhao).await.is_err(), "two tasks, both held");

    // Li is still on the call ten minutes later; Wang's lease runs out unattended.
    let later = mend.serve_at("2026-11-26T12:10:00+08:00");
    let path = format!("/api/v1/tasks/{}/heartbeat", second["task_id"].as_str().unwrap());
    let (status, beat) = post(&later, &path, &li, json!({})).await;
    assert_eq!((status, &beat["lease_expires_at"]), (StatusCode::OK, &json!("2026-11-26T04:25:00Z")));
    let (status, _) = post(&later, &path, &wang, json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "only the holder keeps a task alive");

    let after = mend.serve_at("2026-11-26T12:16:00+08:00");
    // Lists say what the next claim will find: wang holds nothing, the task is open again.
    let (_, mine) = after.get_json("/api/v1/tasks?mine=true", &wang).await;
    assert_eq!(mine["tasks"], json!([]), "a lapsed lease is nobody's: {mine}");
    let lead = token(&mend, "zhang", "supervisor");
    let (_, open) = after.get_json("/api/v1/tasks?status=open", &lead).await;
    let lapsed = open["tasks"].as_array().unwrap().iter().find(|t| t["task_id"] == first["task_id"]).expect("listed");
    assert_eq!((&lapsed["status"], &lapsed["claimed_by"]), (&json!("open"), &Value::Null), "{lapsed}");
    let (_, claimed) = after.get_json("/api/v1/tasks?status=claimed", &lead).await;
    let held: Vec<&Value> = claimed["tasks"].as_array().unwrap().iter().map(|t| &t["task_id"]).collect();
    assert_eq!(held, [&second["task_id"]], "only li's live lease: {claimed}");
    let taken_over = claim(&after, &zhao).await.expect("wang's task is free again");
    assert_eq!(taken_over["task_id"], first["task_id"]);
    let done = json!({"outcome": "unreachable", "resolved": false});
    let path = format!("/api/v1/tasks/{}/complete", first["task_id"].as_str().unwrap());
    let (status, refused) = post(&after, &path, &wang, done.clone()).await;
    assert_eq!(status, StatusCode::CONFLICT, "a lease that ran out and went to another is not wang's: {refused}");
    for contradiction in
        [json!({"outcome": "unreachable", "resolved": true}), json!({"outcome": "refused", "satisfaction_after": 5})]
    {
        let (status, why) = post(&after, &path, &zhao, contradiction).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "only a customer reached says it is solved: {why}");
    }
    // A misspelt field would lose what it says: refused, naming the fields there are.
    let (status, why) = post(&after, &path, &zhao, json!({"outcome": "unreachable", "satisfaction": 4})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{why}");
    assert!(why["error"]["message"].as_str().unwrap().contains("satisfaction_after"), "{why}");
    let (status, completed) = post(&after, &path, &zhao, done).await;
    assert_eq!((status, &completed["status"]), (StatusCode::OK, &json!("done")), "{completed}");
    assert!(claim(&after, &zhao).await.is_err(), "li still holds the other");

    let path = format!("/api/v1/tasks/{}/release", second["task_id"].as_str().unwrap());
    let (status, _) = post(&after, &path, &li, json!({"reason": "customer asked to be called tomorrow"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(claim(&after, &wang).await.expect("released")["task_id"], second["task_id"]);
    let (status, mine) = after.get_json("/api/v1/tasks?mine=true", &wang).await;
    assert_eq!((status, mine["tasks"].as_array().map(Vec::len)), (StatusCode::OK, Some(1)));
    let (status, _) = after.get_json("/api/v1/tasks?status=open", &wang).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the whole queue is the supervisors' view");
    // What this instance answered: zhao's and wang's tasks, zhao's empty claim, zhao's call
    // (wang's refused completion recorded nothing).
    let metrics = after.client.get(after.url("/metrics")).send().await.unwrap().text().await.unwrap();
    for line in [
        r#"mend_desk_claims_total{answer="task"} 2"#,
        r#"mend_desk_claims_total{answer="nothing_callable"} 1"#,
        "mend_desk_claim_seconds_count 3",
        r#"mend_desk_completions_total{outcome="unreachable"} 1"#,
        // What the database holds now: li's call in hand, nothing else to work.
        r#"mend_queue_tasks{state="held"} 1"#,
        r#"mend_queue_tasks{state="due"} 0"#,
        "mend_compensations_pending 0",
        "mend_escalations_open 0",
        r#"mend_outbox_emails{status="queued"} 0"#,
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in {metrics}");
    }
    // Prometheus asks for OpenMetrics and gets it; anyone else gets the plain text format.
    let scrape = |accept: &'static str| after.client.get(after.url("/metrics")).header("accept", accept).send();
    let openmetrics =
        scrape("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5").await.unwrap();
    assert!(openmetrics.headers()["content-type"].to_str().unwrap().starts_with("application/openmetrics-text"));
    assert!(openmetrics.text().await.unwrap().ends_with("# EOF\n"));
    let plain = scrape("*/*").await.unwrap();
    assert_eq!(plain.headers()["content-type"], "text/plain; version=0.0.4; charset=utf-8");
    let plain = plain.text().await.unwrap();
    assert!(plain.contains("mend_compensations_pending 0") && !plain.contains("# EOF"), "{plain}");

    // "Call me in an hour": given back with a delay, the call is nobody's to claim until then.
    let path = format!("/api/v1/tasks/{}/release", second["task_id"].as_str().unwrap());
    let misspelt = json!({"reason": "x", "call_after_minute": 60});
    assert_eq!(post(&after, &path, &wang, misspelt).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    let too_late = json!({"reason": "x", "call_after_minutes": 7 * 24 * 60 + 1});
    assert_eq!(post(&after, &path, &wang, too_late).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    let in_an_hour = json!({"reason": "客户要求一小时后再打", "call_after_minutes": 60});
    assert_eq!(post(&after, &path, &wang, in_an_hour).await.0, StatusCode::OK);
    assert!(claim(&after, &wang).await.is_err(), "not handed straight back");
    let an_hour_on = mend.serve_at("2026-11-26T13:16:00+08:00");
    assert_eq!(claim(&an_hour_on, &wang).await.expect("callable again")["task_id"], second["task_id"]);
    db.assert_consistent().await;
}

/// Wang holds three calls, the most one agent may: a fourth claim is refused until one is given
/// back. Wang goes home with one open: the supervisor takes it back for the queue; another agent
/// may not.
async fn an_agent_holds_three_tasks_at_most_and_a_supervisor_takes_one_back(db: TestDb) {
    let mend = db.mend();
    queue_of(&mend, 5);
    let wang_user = mend.add_user("wang", "agent");
    let wang = wang_user["token"].as_str().unwrap().to_owned();
    let (li, lead) = (token(&mend, "li", "agent"), token(&mend, "zhang", "supervisor"));
    let server = mend.serve_at(NOON);
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(claim(&server, &wang).await.expect("a task")["task_id"].as_str().unwrap().to_owned());
    }
    let (status, refused) = post(&server, "/api/v1/tasks/claim", &wang, json!({})).await;
    assert_eq!((status, &refused["error"]["code"]), (StatusCode::CONFLICT, &json!("conflict")), "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains("3 个任务"), "{refused}");
    assert!(claim(&server, &li).await.is_ok(), "li holds none: the queue is not closed to others");

    let release = |id: &str| format!("/api/v1/tasks/{id}/release");
    let (status, _) = post(&server, &release(&held[0]), &li, json!({"reason": "我来打"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "an agent does not take another's call");
    let from_wang = json!({"reason": "王已下班", "holder": wang_user["user_id"]});
    let (status, _) = post(&server, &release(&held[0]), &li, from_wang.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "nor by naming its holder");
    let (status, _) = post(&server, &release(&held[0]), &lead, json!({"reason": "王已下班"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "a supervisor's own release gives back only their own");
    let (status, taken) = post(&server, &release(&held[0]), &lead, from_wang.clone()).await;
    assert_eq!((status, &taken["status"]), (StatusCode::OK, &json!("open")), "{taken}");
    let (status, _) = post(&server, &format!("/api/v1/tasks/{}/heartbeat", held[0]), &wang, json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "wang no longer holds it");
    let (_, log) = server.get_json(&format!("/api/v1/audit?entity=task:{}", held[0]), &lead).await;
    let last = log["entries"].as_array().and_then(|e| e.last()).cloned().unwrap_or_default();
    assert_eq!(
        (&last["action"], &last["actor"], &last["detail"]["taken_from"], &last["detail"]["reason"]),
        (&json!("task.release"), &json!("user:zhang"), &json!("user:wang"), &json!("王已下班")),
        "{log}"
    );

    // With one given back, wang may claim again: the most urgent free task — the one taken
    // back. A page still showing it in wang's hands takes it from nobody now.
    let again = claim(&server, &wang).await.expect("two held, one more allowed");
    assert_eq!(again["task_id"], held[0].as_str());
    let (status, _) = post(&server, &release(&held[0]), &lead, from_wang).await;
    assert_eq!(status, StatusCode::OK, "wang holds it again: taken back again");
    let li_user = mend.add_user("li2", "agent");
    let li2 = li_user["token"].as_str().unwrap().to_owned();
    assert_eq!(claim(&server, &li2).await.expect("the free task")["task_id"], held[0].as_str());
    let stale = json!({"reason": "王已下班", "holder": wang_user["user_id"]});
    let (status, _) = post(&server, &release(&held[0]), &lead, stale).await;
    assert_eq!(status, StatusCode::CONFLICT, "li2 holds it now: a stale page takes nothing");
    assert!(claim(&server, &wang).await.is_ok(), "wang holds two again");
    let (status, _) = post(&server, "/api/v1/tasks/claim", &wang, json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let metrics = server.client.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.lines().any(|l| l == r#"mend_desk_claims_total{answer="holding_the_most"} 2"#), "{metrics}");
    db.assert_consistent().await;
}

/// One agent asking from two instances at once (a double click, two tabs) is given no more
/// than the most one may hold: the claims of each instance lock the agent before counting.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_agent_asking_on_two_instances_at_once_holds_three_at_most() {
    let Some(db) = TestDb::postgres().await else { return };
    let mend = db.mend();
    queue_of(&mend, 40);
    let agent = token(&mend, "wang", "agent");
    let servers = [mend.serve_at(NOON), mend.serve_at(NOON)];
    let asks = (0..24).map(|i| {
        let server = &servers[i % 2];
        let agent = &agent;
        async move { server.request(Method::POST, "/api/v1/tasks/claim", agent).send().await.expect("claim").status() }
    });
    let answers = futures::future::join_all(asks).await;
    let given = answers.iter().filter(|s| **s == StatusCode::OK).count();
    let refused = answers.iter().filter(|s| **s == StatusCode::CONFLICT).count();
    assert_eq!((given, refused), (3, 21), "{answers:?}");
}

/// At 23:30 nobody may be called: 204, and the headers say when the first call may be made.
async fn nobody_is_called_outside_contact_hours(db: TestDb) {
    let mend = db.mend();
    queue_of(&mend, 1);
    let agent = token(&mend, "wang", "agent");
    let night = mend.serve_at("2026-11-26T23:30:00+08:00");
    let headers = claim(&night, &agent).await.expect_err("outside contact hours");
    assert_eq!(headers["x-next-callable-at"], "2026-11-27T01:00:00+00:00", "09:00 the next morning in Shanghai");
    assert_eq!(headers["retry-after"], "34200");
    let morning = mend.serve_at("2026-11-27T09:00:00+08:00");
    assert!(claim(&morning, &agent).await.is_ok());
}

/// A customer reached and helped: the case closes, and the audit log has the call.
async fn a_resolved_call_closes_the_case(db: TestDb) {
    let mend = db.mend();
    queue_of(&mend, 1);
    let agent = token(&mend, "wang", "agent");
    let server = mend.serve_at(NOON);
    let task = claim(&server, &agent).await.expect("a task");
    let path = format!("/api/v1/tasks/{}/complete", task["task_id"].as_str().unwrap());
    let outcome = json!({"outcome": "reached", "resolved": true, "satisfaction_after": 4, "verify": true,
                         "root_cause": "光猫老化", "suggestion": "光猫超过五年主动更换"});
    let (status, done) = post(&server, &path, &agent, outcome).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["outcome"]["satisfaction_after"], 4);
    let (_, case) = server.get_json(&format!("/api/v1/cases/{}", task["case_id"].as_str().unwrap()), &agent).await;
    assert_eq!(case["status"], "closed", "{case}");
    let (status, again) = post(&server, &path, &agent, json!({"outcome": "reached"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "a task is completed once: {again}");
    let (status, bad) = post(&server, &path, &agent, json!({"outcome": "maybe"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    // Two days later the fix is checked: a verification call on the closed case.
    let out = mend.run(&["schedule", "run", "follow_ups", "--now", "2026-11-28T12:01:00+08:00"], b"").json_lines();
    assert_eq!(out[0]["counts"]["tasks_created"], 1, "{out:?}");
    let later = mend.serve_at("2026-11-28T12:01:00+08:00");
    let verification = claim(&later, &agent).await.expect("the verification call");
    assert_eq!((&verification["kind"], &verification["case_id"]), (&json!("verification"), &task["case_id"]));
    db.assert_consistent().await;
}

/// A case merged into another while its call is in hand (a supervisor finds the two are one
/// problem): the call answers the case it went into. An offer on the call is that case's, a
/// resolved call closes it, and its agent may close it, as they would their own.
async fn a_call_in_hand_answers_the_case_its_case_was_merged_into(db: TestDb) {
    let mend = db.mend();
    let two_problems = |n: u32| {
        let phone = json!({"phone": format!("139000001{n:02}")});
        [
            complaint(
                "hotline",
                &format!("o-{n}"),
                "2026-11-26T09:00:00+08:00",
                phone.clone(),
                "宽带断网三天了,光猫一直红灯",
            ),
            complaint(
                "hotline",
                &format!("b-{n}"),
                "2026-11-26T09:30:00+08:00",
                phone,
                "这个月话费多扣了八十元,账单不对",
            ),
        ]
    };
    mend.import_lines(&lines(&[two_problems(1), two_problems(2)].concat()));
    mend.run(&["schedule", "run", "generate_callbacks", "--now", NOON], b"");
    let wang_account = mend.add_user("wang", "agent");
    let wang = wang_account["token"].as_str().unwrap().to_owned();
    let (zhou, lead) = (token(&mend, "zhou", "agent"), token(&mend, "li", "supervisor"));
    let server = mend.serve_at(NOON);
    let cases = mend.export_cases();
    // The customer's other case.
    let sibling = |case: &str| -> String {
        let customer = &cases.iter().find(|c| c["case_id"] == case).expect("the case")["customer_id"];
        let other = cases.iter().find(|c| c["customer_id"] == *customer && c["case_id"] != case).expect("a sibling");
        other["case_id"].as_str().unwrap().to_owned()
    };
    for (agent, by_closing) in [(&wang, false), (&zhou, true)] {
        let call = claim(&server, agent).await.expect("a call");
        let held = call["case_id"].as_str().unwrap();
        let into = sibling(held);
        let (status, merged) =
            post(&server, &format!("/api/v1/cases/{into}/merge"), &lead, json!({"case_id": held})).await;
        assert_eq!(status, StatusCode::OK, "{merged}");
        if !by_closing {
            // The call's page tells the whole story: the case the problem went into.
            let session = crate::web::sign_in(&server, "wang", wang_account["password"].as_str().unwrap()).await;
            let path = format!("/desk/tasks/{}", call["task_id"].as_str().unwrap());
            let page =
                server.client.get(server.url(&path)).header(reqwest::header::COOKIE, session).send().await.unwrap();
            let html = page.text().await.unwrap();
            assert!(html.contains("宽带断网三天了") && html.contains("话费多扣了八十元"), "{html}");
        }
        // An offer on the call's case, merged away: granted by the agent on the call, for the
        // case it went into.
        let (status, offered) = offer(&server, agent, held, 3_000).await;
        assert_eq!((status, &offered["status"]), (StatusCode::CREATED, &json!("approved")), "{offered}");
        assert_eq!(offered["case_id"], json!(into), "{offered}");
        let (status, answer) = if by_closing {
            post(&server, &format!("/api/v1/cases/{into}/close"), agent, json!({"reason": "远程重置光猫后恢复"})).await
        } else {
            let path = format!("/api/v1/tasks/{}/complete", call["task_id"].as_str().unwrap());
            post(&server, &path, agent, json!({"outcome": "reached", "resolved": true})).await
        };
        assert_eq!(status, StatusCode::OK, "{answer}");
        let (_, case) = server.get_json(&format!("/api/v1/cases/{into}"), &lead).await;
        assert_eq!(case["status"], "closed", "closed by {}: {case}", if by_closing { "its agent" } else { "the call" });
    }
    db.assert_consistent().await;
}

/// 50 agents on two instances work 1,000 tasks at once (claim, record, claim again): every task
/// is handed out exactly once, and nobody waits for a task another holds (PostgreSQL's `FOR
/// UPDATE SKIP LOCKED`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_agents_on_two_instances_claim_each_task_once() {
    let Some(db) = TestDb::postgres().await else { return };
    let mend = db.mend();
    queue_of(&mend, 1_000);
    let tokens: Vec<String> = (0..50).map(|i| token(&mend, &format!("agent{i}"), "agent")).collect();
    let servers = [mend.serve_at(NOON), mend.serve_at(NOON)];
    let agents = tokens.iter().enumerate().map(|(i, token)| {
        let server = &servers[i % 2];
        async move {
            let mut mine = Vec::new();
            while let Ok(task) = claim(server, token).await {
                let id = task["task_id"].as_str().expect("an id").to_owned();
                let done = json!({"outcome": "unreachable", "resolved": false});
                let (status, _) = post(server, &format!("/api/v1/tasks/{id}/complete"), token, done).await;
                assert_eq!(status, StatusCode::OK, "the holder records the call");
                mine.push(id);
            }
            mine
        }
    });
    let claimed: Vec<String> = futures::future::join_all(agents).await.into_iter().flatten().collect();
    let distinct: BTreeSet<&String> = claimed.iter().collect();
    assert_eq!((claimed.len(), distinct.len()), (1_000, 1_000), "each task once");
}

both_databases!(
    compensation_within_the_limit_is_approved_at_once_and_above_it_waits_for_a_decision,
    what_a_merged_case_was_given_counts_against_the_case_it_joined,
);

/// Two cases of one customer, ¥45 given on one, then found to be one problem: the category's cap
/// of the case they became has ¥45 less left (the offer stays on the case it was made on).
async fn what_a_merged_case_was_given_counts_against_the_case_it_joined(db: TestDb) {
    let mend = db.mend();
    let phone = json!({"phone": "13900000001"});
    let imported = mend.import_lines(&lines(&[
        complaint("hotline", "c-1", "2026-11-26T09:00:00+08:00", phone.clone(), "宽带断网三天了,光猫一直红灯"),
        complaint("hotline", "c-2", "2026-11-26T09:30:00+08:00", phone, "这个月话费多扣了八十元,账单不对"),
    ]));
    assert_eq!(imported["cases_created"], 2, "{imported}");
    // A supervisor grants within the limit on cases nobody is calling (an agent, only on a call
    // in hand).
    let lead = token(&mend, "zhang", "supervisor");
    let server = mend.serve_at(NOON);
    let cases = mend.export_cases();
    let case_of = |category: &str| {
        cases.iter().find(|c| c["category"] == category).unwrap_or_else(|| panic!("{category}: {cases:?}"))["case_id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (outage, bill) = (case_of("broadband_outage"), case_of("billing_dispute"));
    let (_, given) = offer(&server, &lead, &bill, 4_500).await;
    assert_eq!(given["status"], "approved", "{given}");
    let (status, merged) =
        post(&server, &format!("/api/v1/cases/{outage}/merge"), &lead, json!({"case_id": bill})).await;
    assert_eq!(status, StatusCode::OK, "{merged}");
    let (_, next) = offer(&server, &lead, &outage, 6_000).await;
    let judged = (&next["status"], &next["limit"]["limit_fen"], &next["limit"]["binding"]);
    assert_eq!(judged, (&json!("pending"), &json!(5_500), &json!("category")), "¥100 less the ¥45 given: {next}");
}

/// The first open case of the queue (its customer's only one).
async fn first_case(server: &Server, token: &str) -> String {
    let task = claim(server, token).await.expect("a task");
    task["case_id"].as_str().expect("a case id").to_owned()
}

/// The task `token`'s agent holds on `case`.
async fn task_of_case(server: &Server, token: &str, case: &str) -> String {
    let (_, mine) = server.get_json("/api/v1/tasks?mine=true", token).await;
    let tasks = mine["tasks"].as_array().expect("a list of tasks");
    let task = tasks.iter().find(|t| t["case_id"] == case).expect("a held task on the case");
    task["task_id"].as_str().unwrap().to_owned()
}

async fn offer(server: &Server, token: &str, case: &str, fen: i64) -> (StatusCode, Value) {
    let body = json!({"kind": "bill_credit", "amount_fen": fen, "reason": "断网三天,按天补偿"});
    post(server, &format!("/api/v1/cases/{case}/compensations"), token, body).await
}

async fn decide(server: &Server, token: &str, offer: &Value, decision: &str) -> (StatusCode, Value) {
    let path = format!("/api/v1/compensations/{}/{decision}", offer["compensation_id"].as_str().unwrap());
    post(server, &path, token, json!({"reason": "核实属实"})).await
}

async fn compensation_within_the_limit_is_approved_at_once_and_above_it_waits_for_a_decision(db: TestDb) {
    // A customer may receive ¥1,000 in 90 days here, so that offers above the supervisor's ¥500
    // exist to be an administrator's call (the bundled ¥300 cap refuses them when offered).
    let mend = db.mend().env("MEND_SCHEDULER__COMPENSATION__CUSTOMER_CAP_FEN", "100000");
    queue_of(&mend, 2);
    let agent = token(&mend, "wang", "agent");
    let (lead, other_lead) = (token(&mend, "zhang", "supervisor"), token(&mend, "liu", "supervisor"));
    let admin = token(&mend, "root", "admin");
    let server = mend.serve_at(NOON);
    let case = first_case(&server, &agent).await;

    // broadband_outage caps an offer at ¥100; the repair team's own limit is ¥100 too.
    let (status, small) = offer(&server, &agent, &case, 3_000).await;
    assert_eq!(status, StatusCode::CREATED, "{small}");
    assert_eq!(
        (&small["status"], &small["needs"], &small["limit"]["limit_fen"]),
        (&json!("approved"), &Value::Null, &json!(10_000))
    );
    let explained = small["limit_explanation"].as_str().unwrap();
    assert!(explained.contains("宽带故障类问题") && !explained.contains("broadband_outage"), "{explained}");
    // The category's cap is the case's: ¥30 given, ¥80 more would pass ¥100 (one offer split
    // in three is still one), so it waits for a supervisor.
    let (_, split) = offer(&server, &agent, &case, 8_000).await;
    let judged = (&split["status"], &split["limit"]["limit_fen"], &split["limit"]["binding"]);
    assert_eq!(judged, (&json!("pending"), &json!(7_000), &json!("category")), "{split}");
    assert_eq!(decide(&server, &lead, &split, "reject").await.0, StatusCode::OK);
    let (_, medium) = offer(&server, &agent, &case, 20_000).await;
    assert_eq!((&medium["status"], &medium["needs"]), (&json!("pending"), &json!("supervisor")), "{medium}");
    let (_, large) = offer(&server, &agent, &case, 80_000).await;
    assert_eq!(large["needs"], "admin", "above the supervisor's ¥500");
    for nonsense in [0, -100, mend_desk::MAX_OFFER.fen() + 1, i64::MAX] {
        let (status, why) = offer(&server, &agent, &case, nonsense).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{nonsense} fen: {why}");
    }
    // More than the customer's cap leaves room for is refused when offered: nobody could approve it.
    let (status, beyond) = offer(&server, &agent, &case, 100_000 - 3_000 + 1).await;
    assert_eq!(status, StatusCode::CONFLICT, "{beyond}");
    let why = beyond["error"]["message"].as_str().unwrap();
    assert!(why.contains("最多还能给 ¥970.00") && why.contains("另有 ¥1,000.00 待审批"), "{beyond}");
    let (status, most) = offer(&server, &agent, &case, mend_desk::MAX_OFFER.fen()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{most}");
    for unshowable in ["长".repeat(501), "退款\u{202E}001".to_owned(), "响铃\u{7}".to_owned()] {
        let body = json!({"kind": "gift", "amount_fen": 100, "reason": unshowable});
        let (status, why) = post(&server, &format!("/api/v1/cases/{case}/compensations"), &agent, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "a reason the pages could not show as stored: {why}");
    }
    let (status, _) =
        post(&server, &format!("/api/v1/cases/{case}/compensations"), &agent, json!(["gift", 100, "x"])).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "an offer is an object, not its fields in a row");
    let stray = json!({"kind": "gift", "amount_fen": 100, "reason": "x", "task_id": uuid::Uuid::now_v7()});
    let (status, _) = post(&server, &format!("/api/v1/cases/{case}/compensations"), &agent, stray).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "an offer names a call on its own case");
    let colleague = token(&mend, "zhao", "agent");
    let held = task_of_case(&server, &agent, &case).await;
    let on_their_call = json!({"kind": "gift", "amount_fen": 100, "reason": "x", "task_id": held});
    let (status, why) = post(&server, &format!("/api/v1/cases/{case}/compensations"), &colleague, on_their_call).await;
    assert_eq!(status, StatusCode::CONFLICT, "another agent's live call is not the colleague's to offer on: {why}");
    // Without naming the call, the colleague's ¥1 is within every limit, but an agent's own
    // limit is for a call in hand: it waits for a supervisor.
    let (status, off_call) = offer(&server, &colleague, &case, 100).await;
    assert_eq!(
        (status, &off_call["status"], &off_call["needs"]),
        (StatusCode::CREATED, &json!("pending"), &json!("supervisor"))
    );
    assert!(off_call["limit_explanation"].as_str().unwrap().starts_with("不在本人正在处理的回访中"), "{off_call}");
    assert_eq!(decide(&server, &lead, &off_call, "reject").await.0, StatusCode::OK);

    assert_eq!(decide(&server, &agent, &medium, "approve").await.0, StatusCode::FORBIDDEN, "agents do not approve");
    assert_eq!(decide(&server, &lead, &large, "approve").await.0, StatusCode::FORBIDDEN, "¥800 is an admin's call");
    let (status, approved) = decide(&server, &lead, &medium, "approve").await;
    assert_eq!((status, &approved["status"]), (StatusCode::OK, &json!("approved")), "{approved}");
    assert_eq!(decide(&server, &other_lead, &medium, "approve").await.0, StatusCode::CONFLICT, "decided once");
    let (status, refused) = decide(&server, &admin, &large, "approve").await;
    assert_eq!(status, StatusCode::CONFLICT, "¥30 + ¥200 + ¥800 passes the customer's ¥1,000 cap: {refused}");
    let (status, _) = post(
        &server,
        &format!("/api/v1/compensations/{}/reject", large["compensation_id"].as_str().unwrap()),
        &admin,
        json!({"reason": " "}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "a rejection says why, for the agent to tell the customer");
    let (status, rejected) = decide(&server, &admin, &large, "reject").await;
    assert_eq!((status, &rejected["status"]), (StatusCode::OK, &json!("rejected")));

    // A supervisor's own request waits for another supervisor.
    let other_case = first_case(&server, &agent).await;
    let (_, own) = offer(&server, &lead, &other_case, 15_000).await;
    assert_eq!(own["status"], "pending");
    let (status, why) = decide(&server, &lead, &own, "approve").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{why}");
    assert_eq!(decide(&server, &other_lead, &own, "approve").await.0, StatusCode::OK);

    let (status, pending) = server.get_json("/api/v1/compensations?status=pending", &lead).await;
    assert_eq!((status, pending["compensations"].as_array().map(Vec::len)), (StatusCode::OK, Some(0)));
    // A decision takes no amount: it would approve the whole offer, whatever the number said.
    let (_, waiting) = offer(&server, &lead, &other_case, 9_000).await;
    let path = format!("/api/v1/compensations/{}/approve", waiting["compensation_id"].as_str().unwrap());
    let (status, why) = post(&server, &path, &other_lead, json!({"reason": "只批一半", "amount_fen": 4_500})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{why}");
    assert_eq!(decide(&server, &other_lead, &waiting, "reject").await.0, StatusCode::OK);
    // Every offer is listed, a page at a time, oldest first: none is lost past the first page.
    let mut listed = Vec::new();
    let mut page = "/api/v1/compensations?limit=2".to_owned();
    loop {
        let (status, body) = server.get_json(&page, &lead).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        listed.extend(body["compensations"].as_array().unwrap().iter().map(|c| c["compensation_id"].clone()));
        match body["next_after"].as_str() {
            Some(after) => page = format!("/api/v1/compensations?limit=2&after={after}"),
            None => break,
        }
    }
    let made = [&small, &split, &medium, &large, &off_call, &own, &waiting];
    assert_eq!(listed, made.iter().map(|o| o["compensation_id"].clone()).collect::<Vec<_>>());
    let store = db.store().await;
    let month = mend_store::budgets::team_budget(store.connection(), "repair", "2026-11").await.unwrap().unwrap();
    assert_eq!(month.committed.fen(), 3_000 + 20_000 + 15_000, "every approval drew on the month");
}

/// Two instances at noon, four supervisors, and twenty offers of ¥120 waiting for them: one
/// agent offered on twenty cases, holding each case's call.
struct Waiting {
    servers: [Server; 2],
    leads: Vec<String>,
    offers: Vec<Value>,
}

async fn twenty_offers_waiting(mend: &Mend) -> Waiting {
    let mend = mend.clone().env("MEND_DESK__MAX_HELD_TASKS", "20");
    queue_of(&mend, 20);
    let agent = token(&mend, "wang", "agent");
    let leads: Vec<String> = (0..4).map(|i| token(&mend, &format!("lead{i}"), "supervisor")).collect();
    let servers = [mend.serve_at(NOON), mend.serve_at(NOON)];
    let mut offers = Vec::new();
    for _ in 0..20 {
        let case = first_case(&servers[0], &agent).await;
        let (status, pending) = offer(&servers[0], &agent, &case, 12_000).await;
        assert_eq!((status, &pending["status"]), (StatusCode::CREATED, &json!("pending")), "{pending}");
        offers.push(pending);
    }
    Waiting { servers, leads, offers }
}

/// Twenty supervisors' approvals at once against a budget that covers four: four pass, the
/// budget is never overspent, and what it committed is the sum of what was approved.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_approvals_never_overspend_the_budget() {
    let Some(db) = TestDb::postgres().await else { return };
    let mend = db.mend().env("MEND_SCHEDULER__COMPENSATION__MONTHLY_BUDGET_FEN", "50000");
    let Waiting { servers, leads, offers } = twenty_offers_waiting(&mend).await;
    let decisions = offers.iter().enumerate().map(|(i, o)| decide(&servers[i % 2], &leads[i % 4], o, "approve"));
    let outcomes: Vec<(StatusCode, Value)> = futures::future::join_all(decisions).await;
    let approved = outcomes.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    assert!(outcomes.iter().all(|(s, _)| matches!(*s, StatusCode::OK | StatusCode::CONFLICT)), "{outcomes:?}");
    assert_eq!(approved, 4, "¥500 covers four offers of ¥120");
    let store = db.store().await;
    let month = mend_store::budgets::team_budget(store.connection(), "repair", "2026-11").await.unwrap().unwrap();
    let (_, listed) = servers[0].get_json("/api/v1/compensations?status=approved", &leads[0]).await;
    let ledger: i64 =
        listed["compensations"].as_array().unwrap().iter().map(|c| c["amount_fen"].as_i64().unwrap()).sum();
    assert_eq!((month.committed.fen(), ledger), (48_000, 48_000));
    assert!(month.committed <= month.budget);
}

/// Twenty approvals on two instances racing an administrator's cut of the month's budget: the
/// cut is refused if approvals already took more, else it holds, and either way what the month
/// committed never passes its budget and matches the ledger.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_budget_cut_racing_approvals_never_leaves_the_month_overspent() {
    let Some(db) = TestDb::postgres().await else { return };
    let mend = db.mend();
    let root = token(&mend, "root", "admin");
    let Waiting { servers, leads, offers } = twenty_offers_waiting(&mend).await;
    let decisions = offers.iter().enumerate().map(|(i, o)| decide(&servers[i % 2], &leads[i % 4], o, "approve"));
    let cut = json!({"budget_fen": 60_000, "reason": "预算收紧"});
    let cutting = json_response(servers[1].request(Method::PUT, "/api/v1/budgets/2026-11", &root).json(&cut));
    let (outcomes, (cut_status, cut_answer)) =
        futures::future::join(futures::future::join_all(decisions), cutting).await;
    assert!(matches!(cut_status, StatusCode::OK | StatusCode::CONFLICT), "{cut_status}: {cut_answer}");
    let approved = outcomes.iter().filter(|(s, _)| *s == StatusCode::OK).count() as i64;
    assert!(outcomes.iter().all(|(s, _)| matches!(*s, StatusCode::OK | StatusCode::CONFLICT)), "{outcomes:?}");
    let store = db.store().await;
    let month = mend_store::budgets::team_budget(store.connection(), "repair", "2026-11").await.unwrap().unwrap();
    assert!(month.committed <= month.budget, "{month:?}");
    assert_eq!(month.committed.fen(), approved * 12_000, "{month:?}");
    let expected_budget = if cut_status == StatusCode::OK { 60_000 } else { 5_000_000 };
    assert_eq!(month.budget.fen(), expected_budget, "{cut_answer}");
}

both_databases!(a_retried_post_acts_once_and_a_reused_key_is_refused, the_audit_log_tells_who_changed_what);

async fn a_retried_post_acts_once_and_a_reused_key_is_refused(db: TestDb) {
    let mend = db.mend();
    queue_of(&mend, 2);
    let agent = token(&mend, "wang", "agent");
    let server = mend.serve_at(NOON);
    let keyed = |key: &str| server.request(Method::POST, "/api/v1/tasks/claim", &agent).header("Idempotency-Key", key);
    let first = keyed("claim-1").send().await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let first: Value = first.json().await.unwrap();
    let retried = keyed("claim-1").send().await.unwrap();
    assert_eq!(retried.headers()["idempotent-replayed"], "true");
    let retried: Value = retried.json().await.unwrap();
    assert_eq!(retried["task_id"], first["task_id"], "the retry gets the first answer");
    let (called, replayed) = (first["phones"][0].as_str().unwrap(), retried["phones"][0].as_str().unwrap());
    assert!(!called.contains('*') && replayed == mend_core::mask_phone(called), "kept masked: {replayed}");
    let (_, mine) = server.get_json("/api/v1/tasks?mine=true", &agent).await;
    assert_eq!(mine["tasks"].as_array().unwrap().len(), 1, "and did not claim a second task");

    let case = first["case_id"].as_str().unwrap();
    let path = format!("/api/v1/cases/{case}/compensations");
    let offer = |fen: i64| {
        server
            .request(Method::POST, &path, &agent)
            .header("Idempotency-Key", "offer-1")
            .json(&json!({"kind": "coupon", "amount_fen": fen, "reason": "上门超时,客户请回拨 139-1234-5678"}))
    };
    let (status, made) = json_response(offer(1_000)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(made["reason"], "上门超时,客户请回拨 139-****-5678", "an agent's words are kept masked");
    let (status, again) = json_response(offer(1_000)).await;
    assert_eq!((status, &again["compensation_id"]), (StatusCode::CREATED, &made["compensation_id"]));
    let (status, reused) = json_response(offer(2_000)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "the same key with another body: {reused}");
    let store = db.store().await;
    let month = mend_store::budgets::team_budget(store.connection(), "repair", "2026-11").await.unwrap().unwrap();
    assert_eq!(month.committed.fen(), 1_000, "one offer drawn, not two");
}

async fn the_audit_log_tells_who_changed_what(db: TestDb) {
    let mend = db.mend();
    queue_of(&mend, 1);
    let agent = token(&mend, "wang", "agent");
    let lead = token(&mend, "zhang", "supervisor");
    let server = mend.serve_at(NOON);
    let task = claim(&server, &agent).await.expect("a task");
    let id = task["task_id"].as_str().unwrap();
    let (status, _) =
        post(&server, &format!("/api/v1/tasks/{id}/release"), &agent, json!({"reason": "客户在开会"})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, log) = server.get_json(&format!("/api/v1/audit?entity=task:{id}"), &lead).await;
    assert_eq!(status, StatusCode::OK);
    let entries: Vec<(&str, &str, &str)> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["actor"].as_str().unwrap(),
                e["detail"]["status"]["after"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(entries, [("task.claim", "user:wang", "claimed"), ("task.release", "user:wang", "open")]);
    let (_, by_actor) = server.get_json("/api/v1/audit?actor=user:zhang", &lead).await;
    assert_eq!(by_actor["entries"].as_array().map(Vec::len), Some(0));
    let store = db.store().await;
    use sea_orm::ConnectionTrait;
    let tampering = store.connection().execute_unprepared("UPDATE audit_events SET actor = 'nobody'").await;
    assert!(tampering.is_err(), "the audit log is append-only");
    assert!(store.connection().execute_unprepared("DELETE FROM audit_events").await.is_err());
}

both_databases!(phone_numbers_show_in_full_only_to_the_agent_holding_the_call);

async fn phone_numbers_show_in_full_only_to_the_agent_holding_the_call(db: TestDb) {
    let mend = db.mend();
    // Systems put the number where no number belongs: the call's id, the name, the email.
    let said = complaint(
        "hotline",
        "13912345678",
        "2026-11-26T10:00:00+08:00",
        json!({"phone": "13912345678", "name": "13912345678", "email": "13912345678@139.com"}),
        "宽带断网,回拨13912345678或者家里座机02088886666",
    );
    mend.import_lines(&lines(&[said]));
    mend.run(&["schedule", "run", "generate_callbacks", "--now", NOON], b"");
    let (agent, lead) = (token(&mend, "wang", "agent"), token(&mend, "zhang", "supervisor"));
    let server = mend.serve_at(NOON);
    let (_, queue) = server.get_json("/api/v1/tasks?status=open", &lead).await;
    let listed = queue["tasks"][0].to_string();
    assert!(!listed.contains("13912345678") && !listed.contains("02088886666"), "{listed}");
    let held = claim(&server, &agent).await.expect("a task");
    assert_eq!(held["phones"], json!(["13912345678"]), "the holder calls the number");
    let customer_id: mend_core::CustomerId = held["customer"]["customer_id"].as_str().unwrap().parse().unwrap();
    let store = db.store().await;
    let stored = mend_store::customers::identities_of_customers(store.connection(), &[customer_id]).await.unwrap();
    assert_eq!(held["identities"], json!(stored[&customer_id]), "the holder sees every key as stored, oldest first");
    let (_, case) = server.get_json(&format!("/api/v1/cases/{}", held["case_id"].as_str().unwrap()), &agent).await;
    let shown = case.to_string();
    assert!(!shown.contains("13912345678") && !shown.contains("02088886666"), "{shown}");
    assert!(shown.contains("139****5678") && shown.contains("020****6666"), "{shown}");
    let (_, customer) =
        server.get_json(&format!("/api/v1/customers/{}", case["customer_id"].as_str().unwrap()), &agent).await;
    assert!(!customer.to_string().contains("13912345678"), "{customer:#}");
    assert_eq!((&customer["name"], &customer["email"]), (&json!("139****5678"), &json!("1***@139.com")));
    let exported = mend.run(&["tasks", "export"], b"").stdout;
    assert!(!exported.contains("13912345678") && !exported.contains("02088886666"), "{exported}");
}

both_databases!(each_outcome_moves_the_case_on);

/// Four calls, four outcomes: a follow-up the agent asked for, a retry of the unreachable
/// customer, a refusal that closes the case, a wrong number that ends the calls.
async fn each_outcome_moves_the_case_on(db: TestDb) {
    let mend = db.mend();
    queue_of(&mend, 4);
    let agent = token(&mend, "wang", "agent");
    let server = mend.serve_at(NOON);
    let outcomes = [
        json!({"outcome": "reached", "resolved": false, "follow_up_hours": 24, "root_cause": "需要上门"}),
        json!({"outcome": "unreachable"}),
        json!({"outcome": "refused"}),
        json!({"outcome": "wrong_number"}),
    ];
    let mut cases = Vec::new();
    for outcome in &outcomes {
        let task = claim(&server, &agent).await.expect("a task");
        let path = format!("/api/v1/tasks/{}/complete", task["task_id"].as_str().unwrap());
        let (status, done) = post(&server, &path, &agent, outcome.clone()).await;
        assert_eq!(status, StatusCode::OK, "{done}");
        cases.push(task["case_id"].as_str().unwrap().to_owned());
    }
    for job in ["follow_ups", "retry_unreachable"] {
        let out = mend.run(&["schedule", "run", job, "--now", "2026-11-26T13:00:00+08:00"], b"").json_lines();
        assert_eq!(out[0]["outcome"], "ok", "{out:?}");
    }
    let tasks = mend.run(&["tasks", "export"], b"").json_lines();
    let open_on = |case: &str| -> Vec<String> {
        tasks
            .iter()
            .filter(|t| t["case_id"] == case && t["status"] == "open")
            .map(|t| t["kind"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(open_on(&cases[0]), ["callback"], "the follow-up the agent asked for");
    assert_eq!(open_on(&cases[1]), ["retry"], "the unreachable customer is tried again");
    assert!(open_on(&cases[2]).is_empty() && open_on(&cases[3]).is_empty());
    let status = |case: &str| {
        let request = server.request(Method::GET, &format!("/api/v1/cases/{case}"), &agent);
        async move { json_response(request).await.1["status"].as_str().unwrap().to_owned() }
    };
    assert_eq!(status(&cases[2]).await, "closed", "a refusal closes the case");
    assert_eq!(status(&cases[3]).await, "closed", "a wrong number ends the calls, with a notice by email");
    db.assert_consistent().await;
}

both_databases!(
    a_customer_called_today_waits_for_tomorrow,
    one_customer_is_not_called_by_two_agents_at_once,
    claims_at_the_same_moment_never_call_one_customer_twice
);

/// Agents whose leases ran out and the agents who took their tasks over finish them at the same
/// moment (completions that arrive together are served in one round): each holder's call is
/// recorded, with its audit entry, and each former holder is refused and leaves no entry.
async fn a_former_holder_finishing_at_the_same_moment_leaves_the_holders_call_standing(db: TestDb) {
    const TASKS: usize = 6;
    let mend = db.mend();
    queue_of(&mend, TASKS);
    let formers: Vec<String> = (0..TASKS).map(|i| token(&mend, &format!("former{i}"), "agent")).collect();
    let holders: Vec<String> = (0..TASKS).map(|i| token(&mend, &format!("holder{i}"), "agent")).collect();
    let noon = mend.serve_at(NOON);
    for former in &formers {
        claim(&noon, former).await.expect("a task for each former holder");
    }
    let after = mend.serve_at("2026-11-26T12:16:00+08:00");
    let mut held = Vec::new();
    for holder in &holders {
        held.push(claim(&after, holder).await.expect("a lease that ran out")["task_id"].as_str().unwrap().to_owned());
    }
    let finished: BTreeSet<&String> = held.iter().collect();
    assert_eq!(finished.len(), TASKS, "each holder took another task: {held:?}");
    let done = json!({"outcome": "reached", "resolved": false});
    // Who held each task before: the former holder of the task `held[i]`.
    let lead = token(&mend, "zhang", "supervisor");
    let mut former_of = Vec::new();
    for task in &held {
        let (_, log) = after.get_json(&format!("/api/v1/audit?entity=task:{task}"), &lead).await;
        let claims: Vec<(&str, &str)> = log["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["action"].as_str().unwrap(), e["detail"]["status"]["before"].as_str().unwrap()))
            .collect();
        assert_eq!(claims, [("task.claim", "open"), ("task.claim", "claimed")], "a lease ran out on a claimed task");
        let actor = log["entries"][0]["actor"].as_str().expect("the first claim").trim_start_matches("user:");
        let i: usize = actor.trim_start_matches("former").parse().expect("a former holder claimed it first");
        former_of.push(&formers[i]);
    }
    let completions = held.iter().zip(&holders).zip(&former_of).flat_map(|((task, holder), former)| {
        let path = format!("/api/v1/tasks/{task}/complete");
        [(path.clone(), (*former).clone(), false), (path, holder.clone(), true)]
    });
    let answers = futures::future::join_all(completions.map(|(path, agent, holds)| {
        let (after, done) = (&after, done.clone());
        async move { (holds, post(after, &path, &agent, done).await) }
    }))
    .await;
    for (holds, (status, body)) in answers {
        let expected = if holds { StatusCode::OK } else { StatusCode::CONFLICT };
        assert_eq!(status, expected, "holder: {holds}: {body}");
    }
    for (i, task) in held.iter().enumerate() {
        let (_, log) = after.get_json(&format!("/api/v1/audit?entity=task:{task}"), &lead).await;
        let completed: Vec<(&str, &str)> = log["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "task.complete")
            .map(|e| (e["actor"].as_str().unwrap(), e["detail"]["outcome"]["outcome"].as_str().unwrap()))
            .collect();
        assert_eq!(completed, [(format!("user:holder{i}").as_str(), "reached")], "{log}");
    }
    db.assert_consistent().await;
}

async fn one_customer_is_not_called_by_two_agents_at_once(db: TestDb) {
    let mend = db.mend();
    one_customer_two_problems(&mend);
    let (wang, li) = (token(&mend, "wang", "agent"), token(&mend, "li", "agent"));
    let server = mend.serve_at(NOON);
    assert!(claim(&server, &wang).await.is_ok());
    assert!(claim(&server, &li).await.is_err(), "the customer's other problem waits for this call to end");
}

/// Claims that arrive together are served in one round: the customer's two problems still go
/// to one agent only, and the other claim is told when to come back.
async fn claims_at_the_same_moment_never_call_one_customer_twice(db: TestDb) {
    let mend = db.mend();
    one_customer_two_problems(&mend);
    let (wang, li) = (token(&mend, "wang", "agent"), token(&mend, "li", "agent"));
    let server = mend.serve_at(NOON);
    let (a, b) = tokio::join!(claim(&server, &wang), claim(&server, &li));
    assert_eq!(u8::from(a.is_ok()) + u8::from(b.is_ok()), 1, "one of the two claims gets the customer: {a:?} {b:?}");
    db.assert_consistent().await;
}

/// Two customers who turn out to be one (a complaint carries both their keys), with two
/// problems, each with a callback due at noon.
fn one_customer_two_problems(mend: &Mend) {
    let at = "2026-11-26T10:00:00+08:00";
    mend.import_lines(&lines(&[
        complaint("hotline", "call-1", at, json!({"phone": "13900000001"}), "宽带断网三天了,光猫一直红灯"),
        complaint("store", "rating-2", at, json!({"member_id": "M-2"}), "这个月话费多扣了68元"),
    ]));
    mend.run(&["schedule", "run", "generate_callbacks", "--now", NOON], b"");
    let bridge = complaint(
        "wechat",
        "msg-1",
        "2026-11-26T11:00:00+08:00",
        json!({"phone": "13900000001", "member_id": "M-2"}),
        "话费多扣的事还没处理",
    );
    mend.import_lines(&lines(&[bridge]));
}

async fn a_customer_called_today_waits_for_tomorrow(db: TestDb) {
    let mend = db.mend();
    one_customer_two_problems(&mend);
    let agent = token(&mend, "wang", "agent");
    let server = mend.serve_at(NOON);
    let first = claim(&server, &agent).await.expect("a task");
    let path = format!("/api/v1/tasks/{}/complete", first["task_id"].as_str().unwrap());
    assert_eq!(post(&server, &path, &agent, json!({"outcome": "reached"})).await.0, StatusCode::OK);
    let (_, queue) = server.get_json("/api/v1/tasks?status=open", &token(&mend, "zhang", "supervisor")).await;
    let waiting = queue["tasks"].as_array().unwrap();
    assert_eq!(waiting.len(), 1, "one customer, two problems: {queue}");
    assert_eq!(waiting[0]["customer_id"], first["customer"]["customer_id"]);
    let headers = claim(&server, &agent).await.expect_err("the customer had their call today");
    assert_eq!(headers["x-next-callable-at"], "2026-11-27T01:00:00+00:00");
}

/// A check after a fix that finds the problem still there reopens the case as a repeat failure,
/// and a repair call follows: the customer is not left with a closed case and a survey.
async fn a_failed_check_reopens_the_case_for_a_repair_call(db: TestDb) {
    let mend = db.mend();
    queue_of(&mend, 1);
    let wang = token(&mend, "wang", "agent");
    let completion = |call: &Value| format!("/api/v1/tasks/{}/complete", call["task_id"].as_str().unwrap());
    {
        let noon = mend.serve_at(NOON);
        let call = claim(&noon, &wang).await.expect("the callback");
        let fixed = json!({"outcome": "reached", "resolved": true, "follow_up_hours": 24});
        assert_eq!(post(&noon, &completion(&call), &wang, fixed).await.0, StatusCode::OK);
    }
    assert_eq!(mend.export_cases()[0]["status"], "closed");
    let follow = mend.run(&["schedule", "run", "follow_ups", "--now", "2026-11-26T12:30:00+08:00"], b"").json_lines();
    assert_eq!(follow[0]["counts"]["tasks_created"], 1, "{follow:?}");

    let next_day = mend.serve_at("2026-11-27T12:05:00+08:00");
    let check = claim(&next_day, &wang).await.expect("the verification");
    assert_eq!(check["kind"], "verification");
    let still_broken =
        json!({"outcome": "reached", "resolved": false, "satisfaction_after": 1, "root_cause": "光猫仍然红灯"});
    assert_eq!(post(&next_day, &completion(&check), &wang, still_broken).await.0, StatusCode::OK);
    let case = &mend.export_cases()[0];
    assert_eq!((&case["status"], &case["repeat_failure"]), (&json!("open"), &json!(true)), "{case}");
    let follow = mend.run(&["schedule", "run", "follow_ups", "--now", "2026-11-27T12:10:00+08:00"], b"").json_lines();
    assert_eq!(follow[0]["counts"]["tasks_created"], 1, "{follow:?}");
    let tasks = mend.run(&["tasks", "export"], b"").json_lines();
    let repair = tasks.iter().find(|t| t["status"] == "open").expect("a repair call");
    assert_eq!((&repair["kind"], &repair["follows_task_id"]), (&json!("callback"), &check["task_id"]), "{repair}");
}

both_databases!(
    a_failed_check_reopens_the_case_for_a_repair_call,
    a_closed_case_leaves_no_call_behind_and_a_reopened_one_gets_a_new_one,
    an_agent_closes_and_links_only_what_they_hold
);

/// An agent closes the case whose call they hold, and adds a number heard on that call to its
/// customer; another's case, or a link that would merge two customers (and show one's numbers
/// on the other's call), is a supervisor's to do.
async fn an_agent_closes_and_links_only_what_they_hold(db: TestDb) {
    let mend = db.mend();
    queue_of(&mend, 2);
    let (wang, zhou, li) =
        (token(&mend, "wang", "agent"), token(&mend, "zhou", "agent"), token(&mend, "li", "supervisor"));
    let server = mend.serve_at(NOON);
    let call = claim(&server, &wang).await.expect("a call");
    let held = call["case_id"].as_str().unwrap().to_owned();
    let other = mend.export_cases().into_iter().find(|c| c["case_id"] != json!(held)).unwrap();
    let other = other["case_id"].as_str().unwrap().to_owned();
    let close = |case: &str| format!("/api/v1/cases/{case}/close");
    let repaired = json!({"reason": "远程重置光猫后恢复"});
    let (status, refused) = post(&server, &close(&held), &zhou, repaired.clone()).await;
    assert_eq!((status, &refused["error"]["code"]), (StatusCode::CONFLICT, &json!("conflict")), "{refused}");
    assert_eq!(post(&server, &close(&other), &wang, repaired.clone()).await.0, StatusCode::CONFLICT);
    let (status, closed) = post(&server, &close(&held), &wang, repaired.clone()).await;
    assert_eq!((status, &closed["status"]), (StatusCode::OK, &json!("closed")), "{closed}");

    let phone = |key: &str| json!({"kind": "phone", "value": key});
    let own = call["phones"][0].as_str().unwrap().to_owned();
    let link = |keys: Value| json!({"keys": keys, "source": "电话中客户告知"});
    let (status, linked) =
        post(&server, "/api/v1/identities/link", &wang, link(json!([phone(&own), phone("13700000001")]))).await;
    assert_eq!((status, &linked["customer_id"]), (StatusCode::OK, &call["customer"]["customer_id"]), "{linked}");
    assert_eq!(linked["linked"].as_array().map(Vec::len), Some(1), "{linked}");
    // Keys nobody holds, with none of the customer's: a new customer, not this one.
    let (status, _) = post(&server, "/api/v1/identities/link", &wang, link(json!([phone("13700000002")]))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let someone_elses = link(json!([phone(&own), phone("13900000000"), phone("13900000001")]));
    let (status, refused) = post(&server, "/api/v1/identities/link", &wang, someone_elses.clone()).await;
    assert_eq!((status, &refused["error"]["code"]), (StatusCode::FORBIDDEN, &json!("forbidden")), "{refused}");
    assert_eq!(
        mend.export_cases().iter().map(|c| c["customer_id"].to_string()).collect::<BTreeSet<_>>().len(),
        2,
        "no merge"
    );
    let (status, merged) = post(&server, "/api/v1/identities/link", &li, someone_elses).await;
    assert_eq!((status, merged["merged"].as_array().map(Vec::len)), (StatusCode::OK, Some(1)), "{merged}");
    assert_eq!(post(&server, &close(&other), &li, repaired).await.0, StatusCode::OK);
}

/// Closing a case cancels its callback that nobody took; the same problem coming back reopens
/// the case, and the next sweep plans a call for it again.
async fn a_closed_case_leaves_no_call_behind_and_a_reopened_one_gets_a_new_one(db: TestDb) {
    let mend = db.mend();
    queue_of(&mend, 1);
    let (agent, supervisor) = (token(&mend, "wang", "agent"), token(&mend, "li", "supervisor"));
    let server = mend.serve_at(NOON);
    let case = mend.export_cases()[0]["case_id"].as_str().unwrap().to_owned();
    let (status, _) =
        post(&server, &format!("/api/v1/cases/{case}/close"), &supervisor, json!({"reason": "现场已修复"})).await;
    assert_eq!(status, StatusCode::OK);
    let statuses = |mend: &Mend| -> Vec<String> {
        mend.run(&["tasks", "export"], b"")
            .json_lines()
            .iter()
            .map(|t| t["status"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(statuses(&mend), ["cancelled"]);
    assert!(claim(&server, &agent).await.is_err(), "nothing to call about");
    let again = complaint(
        "hotline",
        "call-again",
        "2026-11-26T13:00:00+08:00",
        json!({"phone": "13900000000"}),
        "宽带又断网了,光猫红灯",
    );
    mend.import_lines(&lines(&[again]));
    let out =
        mend.run(&["schedule", "run", "generate_callbacks", "--now", "2026-11-26T13:05:00+08:00"], b"").json_lines();
    assert_eq!(out[0]["counts"]["tasks_created"], 1, "{out:?}");
    let mut now = statuses(&mend);
    now.sort();
    assert_eq!(now, ["cancelled", "open"]);
}

/// The reports over the API: the queue at this moment (callable, held by whom, an offer waiting,
/// the month's budget), one day's hot issues, and the per-day trend; days out of range are a 400.
async fn a_supervisor_reads_the_queue_the_day_and_the_trend(db: TestDb) {
    let mend = db.mend();
    queue_of(&mend, 3);
    let (wang, boss) = (token(&mend, "wang", "agent"), token(&mend, "li", "supervisor"));
    let server = mend.serve_at(NOON);
    let call = claim(&server, &wang).await.expect("a call");
    let offer = json!({"kind": "bill_credit", "amount_fen": 20_000, "reason": "断网三天", "task_id": call["task_id"]});
    let path = format!("/api/v1/cases/{}/compensations", call["case_id"].as_str().unwrap());
    let (status, offered) = post(&server, &path, &wang, offer).await;
    assert_eq!((status, &offered["status"]), (StatusCode::CREATED, &json!("pending")), "{offered}");

    let (status, queue) = server.get_json("/api/v1/reports/queue", &boss).await;
    assert_eq!(status, StatusCode::OK, "{queue}");
    assert_eq!((&queue["due"], &queue["later"], &queue["overdue"]), (&json!(2), &json!(0), &json!(0)), "{queue}");
    assert_eq!(queue["held_by"], json!([{"user_id": call["claimed_by"], "name": "wang", "tasks": 1}]), "{queue}");
    assert_eq!((&queue["pending_compensations"], &queue["open_escalations"]), (&json!(1), &json!(0)), "{queue}");
    assert_eq!(queue["at"], "2026-11-26T04:00:00Z");
    let budget = &queue["budget"];
    assert_eq!((&budget["month"], &budget["committed_fen"]), (&json!("2026-11"), &json!(0)), "{queue}");
    assert_eq!(budget["left_fen"], budget["budget_fen"], "nothing approved yet: {queue}");
    assert_eq!(server.get_json("/api/v1/reports/queue", &wang).await.0, StatusCode::FORBIDDEN);

    // The day the complaints came, and yesterday's (the default) with none.
    let (status, day) = server.get_json("/api/v1/reports/daily?day=2026-11-26", &boss).await;
    assert_eq!(status, StatusCode::OK, "{day}");
    assert_eq!((&day["day"], &day["total_complaints"]), (&json!("2026-11-26"), &json!(3)), "{day}");
    assert_eq!(
        (&day["categories"][0]["category"], &day["categories"][0]["complaints"]),
        (&json!("broadband_outage"), &json!(3))
    );
    let yesterday = server.get_json("/api/v1/reports/daily", &boss).await.1;
    assert_eq!((&yesterday["day"], &yesterday["total_complaints"]), (&json!("2026-11-25"), &json!(0)), "{yesterday}");

    let (status, trend) = server.get_json("/api/v1/reports/trend?days=7", &boss).await;
    assert_eq!(status, StatusCode::OK, "{trend}");
    let days = trend["days"].as_array().unwrap();
    assert_eq!((days.len(), &days[0], &days[6]), (7, &json!("2026-11-20"), &json!("2026-11-26")), "{trend}");
    assert_eq!(trend["rows"][0]["counts"], json!([0, 0, 0, 0, 0, 0, 3]), "{trend}");
    let earlier = server.get_json("/api/v1/reports/trend?days=3&until=2026-11-25", &boss).await.1;
    assert_eq!(earlier["rows"], json!([]), "nothing before the 26th: {earlier}");
    // Complaints of ten categories on the 25th: the trend has every one (a chart draws eight).
    let categories = [
        "slow_network",
        "mobile_signal",
        "billing_dispute",
        "unwanted_subscription",
        "package_change",
        "installation_delay",
        "refund_delay",
        "store_attitude",
        "app_login",
        "promotion_dispute",
    ];
    let spread: Vec<Value> = categories
        .iter()
        .enumerate()
        .map(|(i, category)| {
            let customer = json!({"phone": format!("137{i:08}")});
            let mut c = complaint("hotline", &format!("k-{i}"), "2026-11-25T10:00:00+08:00", customer, "不满意");
            c["category"] = json!(category);
            c
        })
        .collect();
    assert_eq!(mend.import_lines(&lines(&spread))["accepted"], 10);
    let wide = server.get_json("/api/v1/reports/trend?days=2", &boss).await.1;
    assert_eq!(wide["rows"].as_array().map(Vec::len), Some(11), "{wide}");
    let day = server.get_json("/api/v1/reports/daily?day=2026-11-25", &boss).await.1;
    let per_day: i64 = wide["rows"].as_array().unwrap().iter().map(|r| r["counts"][0].as_i64().unwrap()).sum();
    assert_eq!(day["total_complaints"], per_day, "the trend's day adds up to the day's report");

    for refused in [
        "/api/v1/reports/daily?day=2026-11-27",
        "/api/v1/reports/daily?day=26-11-2026",
        "/api/v1/reports/trend?days=0",
        "/api/v1/reports/trend?days=91",
        "/api/v1/reports/trend?until=2026-12-01",
        "/api/v1/reports/trend?until=0001-01-01",
        "/api/v1/reports/daily?day=1999-12-31",
    ] {
        let (status, error) = server.get_json(refused, &boss).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}: {error}");
        assert!(error["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{refused}: {error}");
    }
}

/// A month's budget set over the API by an administrator: never below what approvals took,
/// never for a month that is over, audited; a month planned ahead keeps its budget when the
/// rollover opens it.
async fn an_administrator_raises_a_month_that_runs_short_and_plans_the_next(db: TestDb) {
    let mend = db.mend();
    queue_of(&mend, 1);
    let (wang, lead, root) =
        (token(&mend, "wang", "agent"), token(&mend, "li", "supervisor"), token(&mend, "root", "admin"));
    let server = mend.serve_at(NOON);
    let call = claim(&server, &wang).await.expect("a call");
    let offer = json!({"kind": "bill_credit", "amount_fen": 3_000, "reason": "断网三天", "task_id": call["task_id"]});
    let path = format!("/api/v1/cases/{}/compensations", call["case_id"].as_str().unwrap());
    let (_, approved) = post(&server, &path, &wang, offer).await;
    assert_eq!(approved["status"], "approved", "{approved}");

    let set = |month: &str, body: Value, token: &str| {
        json_response(server.request(Method::PUT, &format!("/api/v1/budgets/{month}"), token).json(&body))
    };
    let raise = json!({"budget_fen": 10_000_000, "reason": "城东断网,补偿集中"});
    assert_eq!(set("2026-11", raise.clone(), &lead).await.0, StatusCode::FORBIDDEN, "an administrator's to set");
    let (status, below) = set("2026-11", json!({"budget_fen": 2_000, "reason": "压缩"}), &root).await;
    assert_eq!(status, StatusCode::CONFLICT, "¥30 was approved already: {below}");
    let (status, month) = set("2026-11", raise, &root).await;
    assert_eq!(status, StatusCode::OK, "{month}");
    assert_eq!((&month["budget_fen"], &month["committed_fen"]), (&json!(10_000_000), &json!(3_000)), "{month}");
    let queue = server.get_json("/api/v1/reports/queue", &lead).await.1;
    assert_eq!(queue["budget"]["left_fen"], 10_000_000 - 3_000, "{queue}");
    for (month, body) in [
        ("2026-10", json!({"budget_fen": 1, "reason": "x"})),
        ("2026-13", json!({"budget_fen": 1, "reason": "x"})),
        ("2026-1", json!({"budget_fen": 1, "reason": "x"})),
        ("2026-12", json!({"budget_fen": -1, "reason": "x"})),
        ("2026-12", json!({"budget_fen": 1, "reason": " "})),
        ("2026-12", json!({"budget_fen": 1})),
    ] {
        let (status, why) = set(month, body.clone(), &root).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{month} {body}: {why}");
    }
    let (status, planned) = set("2026-12", json!({"budget_fen": 0, "reason": "十二月暂停补偿"}), &root).await;
    assert_eq!((status, &planned["budget_fen"]), (StatusCode::OK, &json!(0)), "{planned}");
    let audit = server.get_json("/api/v1/audit?entity=team_budget", &lead).await.1;
    let entries = audit["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{audit}");
    assert_eq!(entries[0]["detail"]["budget_fen"], json!({"before": 5_000_000, "after": 10_000_000}), "{audit}");

    let rollover =
        mend.run(&["schedule", "run", "budget_rollover", "--now", "2026-12-01T00:00:30+08:00"], b"").json_lines();
    assert_eq!((&rollover[0]["counts"]["budget_fen"], &rollover[0]["counts"]["opened"]), (&json!(0), &json!(false)));
}
