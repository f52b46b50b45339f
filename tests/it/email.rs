//! Email that leaves the building, against a real SMTP server on loopback (aiosmtpd, started by
//! the test): what arrives (recipients, subject, both parts, the chart), the survey link that
//! works once, and delivery that survives a server that is down or answers 4xx — every email
//! exactly once, whatever the number of senders. Time is always given with `--now`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use mail_parser::{MessageParser, MimeHeaders};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::schedule::{at, schedule, task_outcome, tasks};
use crate::support::{Mend, TestDb, both_databases, complaint, lines, repo_path};

both_databases!(
    reports_surveys_and_alerts_arrive_whole,
    delivery_survives_a_server_that_is_down_or_busy,
    a_sender_that_stops_mid_send_is_resent_once_under_the_same_message_id,
    a_refused_login_is_retried_not_the_end_of_the_outbox,
    a_server_that_says_nothing_costs_one_conversation_not_the_outbox,
    a_relay_that_drops_the_line_after_the_data_gets_the_email_twice_at_most,
    a_relay_that_drops_the_line_at_a_recipient_had_nothing_and_is_tried_again,
    a_relay_refusal_is_retried_and_given_up_mail_requeued,
    a_relay_signed_by_an_in_house_authority_is_trusted_through_ca_file,
);

/// aiosmtpd on `127.0.0.1:{port}`, writing what it accepts to a directory of its own.
struct SmtpSink {
    child: Child,
    dir: tempfile::TempDir,
}

/// One message as the server received it.
struct Received {
    rcpt_tos: Vec<String>,
    raw: Vec<u8>,
}

const PYTHON: &str = "/usr/bin/python3";

/// Whether the SMTP server these tests need can run: Debian's `python3-aiosmtpd`. Outside CI a
/// machine without it skips them, saying so; in CI (which installs it) they fail instead.
fn smtp_server_available() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let available = *AVAILABLE.get_or_init(|| {
        let python = if Path::new(PYTHON).exists() { PYTHON } else { "python3" };
        Command::new(python).args(["-c", "import aiosmtpd"]).output().is_ok_and(|o| o.status.success())
    });
    if !available {
        assert!(std::env::var_os("CI").is_none(), "python3-aiosmtpd is required in CI");
        let test = std::thread::current().name().unwrap_or("an email test").to_owned();
        // Straight to the process's stderr: the test harness captures `eprintln!`.
        let line = format!("SKIPPED: {test} (python3-aiosmtpd is not installed: apt-get install python3-aiosmtpd)\n");
        std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes()).ok();
    }
    available
}

impl SmtpSink {
    fn start(port: u16) -> Self {
        Self::start_requiring(port, None)
    }

    /// A server that takes mail only after `user:password` logs in.
    fn start_requiring(port: u16, login: Option<&str>) -> Self {
        Self::launch(port, login, None)
    }

    /// A server that requires STARTTLS with `certificate` (a relay's, with its key), then the login.
    fn start_tls(port: u16, login: &str, certificate: &RelayCertificate) -> Self {
        Self::launch(port, Some(login), Some(certificate))
    }

    fn launch(port: u16, login: Option<&str>, certificate: Option<&RelayCertificate>) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let python = if Path::new(PYTHON).exists() { PYTHON } else { "python3" };
        let mut command = Command::new(python);
        if let Some(certificate) = certificate {
            command.env("SINK_CERT", certificate.dir.path().join("relay.pem"));
            command.env("SINK_KEY", certificate.dir.path().join("relay.key"));
        }
        let mut child = command
            .arg(repo_path("tests/it/smtp_sink.py"))
            .arg(port.to_string())
            .arg(dir.path())
            .args(login)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start python3");
        let mut ready = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut ready).expect("sink output");
        assert_eq!(ready.trim(), "ready", "the SMTP sink did not start (is python3-aiosmtpd installed?)");
        Self { child, dir }
    }

    /// While on, the server answers DATA with `451`.
    fn refuse(&self, on: bool) {
        self.flag("refuse", on);
    }

    /// While on, the server keeps each message and then drops the connection instead of `250`.
    fn drop_after_data(&self, on: bool) {
        self.flag("drop", on);
    }

    /// While on, the server drops the connection when told a recipient.
    fn drop_at_recipient(&self, on: bool) {
        self.flag("drop-rcpt", on);
    }

    /// While on, the server takes the data and then says nothing for a minute.
    fn stall_after_data(&self, on: bool) {
        self.flag("stall", on);
    }

    /// While on, the server answers RCPT with `554 5.7.1 Relay access denied`.
    fn deny_relay(&self, on: bool) {
        self.flag("relay", on);
    }

    fn flag(&self, name: &str, on: bool) {
        let flag = self.dir.path().join(name);
        if on {
            std::fs::write(flag, b"").expect("sink flag");
        } else {
            std::fs::remove_file(flag).expect("sink flag");
        }
    }

    /// Every message accepted so far, in order of arrival.
    fn messages(&self) -> Vec<Received> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .expect("sink dir")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|file| {
                let record: Value = serde_json::from_slice(&std::fs::read(file).expect("message")).expect("JSON");
                let rcpt_tos = record["rcpt_tos"].as_array().unwrap().iter().map(|r| r.as_str().unwrap().to_owned());
                let raw = base64_decode(record["data_base64"].as_str().unwrap());
                Received { rcpt_tos: rcpt_tos.collect(), raw }
            })
            .collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// A certificate authority of a company's own and a relay certificate it signed for
/// `127.0.0.1`, made with the `openssl` command.
struct RelayCertificate {
    dir: tempfile::TempDir,
}

impl RelayCertificate {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let at = |name: &str| dir.path().join(name);
        std::fs::write(
            at("relay.ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
        let steps: [Vec<&str>; 3] = [
            [
                &["req", "-x509"][..],
                &ec,
                &["-keyout", "ca.key", "-out", "ca.pem", "-days", "3650", "-subj", "/CN=mend test CA"],
            ]
            .concat(),
            [&["req"][..], &ec, &["-keyout", "relay.key", "-out", "relay.csr", "-subj", "/CN=127.0.0.1"]].concat(),
            vec![
                "x509",
                "-req",
                "-in",
                "relay.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "relay.pem",
                "-days",
                "3650",
                "-extfile",
                "relay.ext",
            ],
        ];
        for args in steps {
            let out = Command::new("openssl").args(&args).current_dir(dir.path()).output().expect("openssl");
            assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Self { dir }
    }

    fn authority(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(text).expect("base64")
}

/// A port nothing listens on (until a sink is started on it).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address").port()
}

fn mend_sending_to(db: &TestDb, port: u16) -> Mend {
    db.mend()
        .env("MEND_SMTP__PORT", &port.to_string())
        .env("MEND_SMTP__FROM", "客户满意度修复团队 <repair@mend.example>")
        .env("MEND_NOTIFY__PUBLIC_URL", "https://mend.example")
}

fn flush(mend: &Mend, now: &str) -> Value {
    mend.run(&["outbox", "flush", "--now", now], b"").json()
}

/// A flush that gave up on emails: it fails, and still prints its counts.
fn failing_flush(mend: &Mend, now: &str) -> Value {
    let out = mend.run(&["outbox", "flush", "--now", now], b"");
    assert_ne!(out.status, 0, "a flush that gave up on emails fails");
    serde_json::from_str(out.stdout.trim()).expect("the counts")
}

fn outbox(mend: &Mend, status: &str) -> Vec<Value> {
    mend.run(&["outbox", "list", "--status", status], b"").json_lines()
}

/// The decoded text of every message, with its envelope recipients, sorted by recipient.
fn parsed(messages: &[Received]) -> Vec<(String, mail_parser::Message<'_>)> {
    let mut parsed: Vec<_> = messages
        .iter()
        .map(|m| {
            assert_eq!(m.rcpt_tos.len(), 1, "one recipient per message");
            (m.rcpt_tos[0].clone(), MessageParser::default().parse(&m.raw).expect("an RFC 5322 message"))
        })
        .collect();
    parsed.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.subject().cmp(&b.1.subject())));
    parsed
}

fn assert_distinct_message_ids(messages: &[Received]) {
    let parsed = parsed(messages);
    let mut ids: Vec<&str> = parsed.iter().map(|(_, m)| m.message_id().expect("a Message-ID")).collect();
    assert!(ids.iter().all(|id| id.ends_with("@mend.example")), "{ids:?}");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), messages.len(), "every message is delivered once");
}

/// A week of complaints, then the report's day: broadband outages jump from one in the week to
/// twelve (a spike), billing disputes stay at their two a day (no spike).
fn a_week_and_a_spike() -> Vec<Value> {
    let mut records = Vec::new();
    let mut phone = 0;
    let mut add = |day: u32, text: &str, count: usize| {
        for _ in 0..count {
            phone += 1;
            records.push(complaint(
                "hotline",
                &format!("h-{phone}"),
                &format!("2026-11-{day:02}T09:{:02}:00+08:00", phone % 60),
                json!({"phone": format!("1390000{phone:04}")}),
                text,
            ));
        }
    };
    for day in 17..=23 {
        add(day, "话费多扣了,账单不对", 2);
    }
    add(20, "宽带断网了", 1);
    add(24, "宽带断网了", 12);
    add(24, "话费多扣了,账单不对", 2);
    records
}

async fn reports_surveys_and_alerts_arrive_whole(db: TestDb) {
    if !smtp_server_available() {
        return;
    }
    let port = free_port();
    let sink = SmtpSink::start(port);
    let mend = mend_sending_to(&db, port).env("MEND_SCHEDULER__HOTSPOTS__RECIPIENTS", "[\"ops@example.com\"]");
    let supervisor = mend.run(
        &["user", "add", "--name", "zhao", "--role", "supervisor", "--team", "repair", "--email", "zhao@example.com"],
        b"",
    );
    assert_eq!(supervisor.json()["email"], "zhao@example.com");
    // The calls are recorded in the store, so nobody holds them: the supervisor closes.
    let closer = supervisor.json()["token"].as_str().unwrap().to_owned();
    let admin = mend.add_user("root", "admin")["token"].as_str().unwrap().to_owned();
    let agent = mend.add_user("li", "agent")["token"].as_str().unwrap().to_owned();

    // A billing dispute of a customer with an address, who threatens a formal complaint:
    // reached, resolved, closed.
    let wang_contact = json!({"phone": "13800138041", "email": "wang@example.com", "name": "王女士"});
    let mut records = a_week_and_a_spike();
    let mut dispute =
        complaint("hotline", "s-1", "2026-11-23T09:00:00+08:00", wang_contact.clone(), "话费多扣了,我要投诉");
    dispute["formal_complaint"] = json!(true);
    records.push(dispute);
    mend.import_lines(&lines(&records));
    schedule(&mend, "generate_callbacks", "2026-11-23T10:00:00+08:00");
    let store = db.store().await;
    let cases = mend.export_cases();
    let wang = cases.iter().find(|c| c["complaints"][0]["source_id"] == "s-1").expect("wang's case");
    let task = tasks(&mend).into_iter().find(|t| t["case_id"] == wang["case_id"]).expect("wang's task");
    let id: mend_core::TaskId = task["task_id"].as_str().unwrap().parse().unwrap();
    let reached = task_outcome(json!({"outcome": "reached", "resolved": true}));
    mend_store::tasks::complete_task(store.connection(), id, &reached, at("2026-11-23T11:00:00+08:00")).await.unwrap();
    let case_id = task["case_id"].as_str().unwrap().to_owned();
    {
        let server = mend.serve();
        let close = server.request(reqwest::Method::POST, &format!("/api/v1/cases/{case_id}/close"), &closer);
        let (status, closed) = crate::support::json_response(close.json(&json!({"reason": "退还多扣话费"}))).await;
        assert_eq!(status, StatusCode::OK, "{closed}");
    }

    assert_eq!(schedule(&mend, "surveys", "2026-11-27T12:01:00+08:00")["counts"]["surveys_queued"], 1);
    // She complains again: the case at risk reopens, and the supervisors hear of it.
    // (Through the API: its clock, unlike `mend import`'s, is the test's.)
    let again =
        complaint("wechat", "s-2", "2026-11-30T11:20:00+08:00", wang_contact, "话费又多扣了,上次说退还的也没到账");
    let (status, body) = mend.serve_at("2026-11-30T11:30:00+08:00").post_complaint(&agent, &again).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let reopened = mend.export_cases().into_iter().find(|c| c["case_id"] == json!(case_id)).unwrap();
    assert_eq!(reopened["status"], "open", "{reopened}");
    let report = schedule(&mend, "hotspot_report", "2026-11-25T00:30:00+08:00");
    assert_eq!((&report["counts"]["spikes"], &report["counts"]["emails_queued"]), (&json!(1), &json!(2)), "{report}");
    let sla = schedule(&mend, "sla_escalation", "2026-11-30T12:00:00+08:00");
    assert!(sla["counts"]["escalated"].as_i64().unwrap() >= 1, "{sla}");

    // The survey of the first repair waited in the outbox while the case reopened: it asks about
    // a repair that did not hold, so it is withdrawn unsent.
    let sent = flush(&mend, "2026-11-30T12:01:00+08:00");
    assert_eq!(sent, json!({"sent": 4, "retried": 0, "failed": 0, "withdrawn": 1}));
    assert_eq!(flush(&mend, "2026-11-30T13:00:00+08:00"), json!({"sent": 0, "retried": 0, "failed": 0}));
    let withdrawn = outbox(&mend, "withdrawn");
    assert_eq!((withdrawn.len(), &withdrawn[0]["attempts"]), (1, &json!(0)), "{withdrawn:?}");
    assert!(withdrawn[0]["last_error"].as_str().unwrap().contains("reopened"), "{withdrawn:?}");
    // Had its link reached her, it would say so and take no answer.
    let unsent =
        mend_store::outbox::emails(store.connection(), Some(mend_core::EmailStatus::Withdrawn), 1).await.unwrap();
    let stale = unsent[0].body.split_whitespace().find(|w| w.starts_with("https://mend.example/survey/")).unwrap();
    let stale = stale.trim_start_matches("https://mend.example").to_owned();
    {
        let server = mend.serve_at("2026-11-30T13:30:00+08:00");
        let shown = server.client.get(server.url(&stale)).send().await.unwrap();
        assert_eq!(shown.status(), StatusCode::GONE);
        assert!(shown.text().await.unwrap().contains("问题正在重新处理"));
        let answered = server.client.post(server.url(&stale)).form(&[("rating", "5")]).send().await.unwrap();
        assert_eq!(answered.status(), StatusCode::GONE, "no answer about a repair that did not hold");
    }
    // Repaired again: the new closing gets a survey of its own, and it goes out.
    {
        let server = mend.serve_at("2026-11-30T14:00:00+08:00");
        let close = server.request(reqwest::Method::POST, &format!("/api/v1/cases/{case_id}/close"), &closer);
        let (status, closed) = crate::support::json_response(close.json(&json!({"reason": "已退款到账"}))).await;
        assert_eq!(status, StatusCode::OK, "{closed}");
    }
    assert_eq!(schedule(&mend, "surveys", "2026-12-01T14:01:00+08:00")["counts"]["surveys_queued"], 1);
    assert_eq!(flush(&mend, "2026-12-01T14:02:00+08:00"), json!({"sent": 1, "retried": 0, "failed": 0}));
    let messages = sink.messages();
    assert_eq!(messages.len(), 5);
    assert_distinct_message_ids(&messages);
    let parsed = parsed(&messages);
    let to: Vec<(&str, &str)> = parsed.iter().map(|(to, m)| (to.as_str(), m.subject().unwrap_or(""))).collect();

    // The morning report, to the configured reader and the team's supervisor alike.
    let reports: Vec<&mail_parser::Message> = parsed
        .iter()
        .filter(|(_, m)| m.subject().is_some_and(|s| s.starts_with("高频问题日报")))
        .map(|(_, m)| m)
        .collect();
    assert_eq!(reports.len(), 2, "{to:?}");
    assert!(to.contains(&("ops@example.com", reports[0].subject().unwrap())), "{to:?}");
    assert!(to.iter().any(|(address, subject)| *address == "zhao@example.com" && subject.starts_with("高频问题日报")));
    let report = reports[0];
    assert_eq!(report.subject(), Some("高频问题日报 2026-11-24:投诉 14 件,1 类问题突增"));
    assert_eq!(report.header_raw("Auto-Submitted").map(str::trim), Some("auto-generated"));
    let from = report.from().and_then(|f| f.first()).expect("a sender");
    assert_eq!((from.name(), from.address()), (Some("客户满意度修复团队"), Some("repair@mend.example")));
    let text = report.body_text(0).expect("a plain-text part");
    assert!(text.contains("宽带故障:12 件"), "{text}");
    assert!(text.contains("突增问题"), "{text}");
    assert!(text.contains("泊松分布"), "the report says which rule found the spike: {text}");
    let html = report.body_html(0).expect("an HTML part");
    assert!(html.contains("<img src=\"cid:chart\""), "{html}");
    assert!(html.contains("<table"), "{html}");
    let chart = report.parts.iter().find(|p| p.content_id() == Some("chart")).expect("the chart, inline");
    let content_type = chart.content_type().expect("a content type");
    assert_eq!((content_type.ctype(), content_type.subtype()), ("image", Some("png")));
    assert!(chart.contents().starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG image");

    let alert =
        parsed.iter().find(|(_, m)| m.subject().is_some_and(|s| s.starts_with("【超时告警】"))).expect("{to:?}");
    assert_eq!(alert.0, "zhao@example.com");
    assert!(alert.1.body_text(0).unwrap().contains("尚无人认领"), "an alert names who holds each task");
    let reopen =
        parsed.iter().find(|(_, m)| m.subject().is_some_and(|s| s.starts_with("【重开告警】"))).expect("{to:?}");
    assert_eq!(reopen.0, "zhao@example.com");
    assert!(reopen.1.body_text(0).unwrap().contains(&format!("案件:{case_id}")), "{:?}", reopen.1.body_text(0));

    // The survey: to the customer, with a link that works once.
    let (address, survey) =
        parsed.iter().find(|(_, m)| m.subject() == Some("您对账单争议问题的处理满意吗?")).expect("a survey");
    assert_eq!(address, "wang@example.com");
    let text = survey.body_text(0).unwrap();
    assert!(text.contains("王女士您好"), "{text}");
    let link = text.split_whitespace().find(|w| w.starts_with("https://mend.example/survey/")).expect("a survey link");
    // HTML escaping writes `/` as `&#x2f;`, which a browser reads back as `/`.
    let html = survey.body_html(0).unwrap().replace("&#x2f;", "/");
    assert!(html.contains(&format!("href=\"{link}\"")), "both parts carry the link: {html}");
    let path = link.trim_start_matches("https://mend.example");

    let server = mend.serve_at("2026-12-01T15:00:00+08:00");
    let page = |response: reqwest::Response| async move {
        let status = response.status();
        assert_eq!(response.headers()["cache-control"], "no-store");
        assert_eq!(response.headers()["x-frame-options"], "DENY", "never framed to rate for the customer");
        (status, response.text().await.unwrap())
    };
    let (status, form) = page(server.client.get(server.url(path)).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{form}");
    assert!(form.contains("name=\"rating\"") && form.contains("lang=\"zh-CN\"") && form.contains("viewport"));
    let answer =
        |fields: &'static [(&'static str, &'static str)]| server.client.post(server.url(path)).form(fields).send();
    let (status, body) = page(answer(&[("rating", "9"), ("comment", "还行")]).await.unwrap()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains("请选择 1-5 星") && body.contains("还行"), "the page asks again and keeps the comment");
    let (status, body) = page(answer(&[("rating", "5"), ("comment", "处理很快,谢谢")]).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("感谢您的评价"), "{body}");
    let (status, body) = page(answer(&[("rating", "1")]).await.unwrap()).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body.contains("您已经评价过了"), "{body}");
    let (status, _) = page(server.client.get(server.url(path)).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let forged = format!("{}x", path.trim_end_matches(|c: char| c.is_ascii_alphanumeric()));
    for bad in [forged.as_str(), "/survey/abc", "/survey/..%2F..%2Fetc", "/survey/", "/survey/a/b"] {
        let (status, body) = page(server.client.get(server.url(bad)).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{bad}: {body}");
        assert!(body.contains("链接无效"), "{body}");
    }
    let (status, case) = server.get_json(&format!("/api/v1/cases/{case_id}"), &agent).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((&case["survey"]["rating"], &case["survey"]["comment"]), (&json!(5), &json!("处理很快,谢谢")), "{case}");
    // What she wrote reaches people: the day's report (the customers' answers apart from what
    // agents recorded), and the case page.
    let (status, day) = server.get_json("/api/v1/reports/daily?day=2026-12-01", &admin).await;
    assert_eq!(status, StatusCode::OK, "{day}");
    let satisfaction = &day["satisfaction"];
    assert_eq!((&satisfaction["after_surveyed"], &satisfaction["after_surveyed_ratings"]), (&json!(5.0), &json!(1)));
    assert_eq!(satisfaction["after_on_calls_ratings"], 0, "{day}");
    assert_eq!(day["survey_answers"][0]["comment"], "处理很快,谢谢", "{day}");
    assert_eq!(day["survey_answers"][0]["case_id"], json!(case_id), "{day}");
    let cookie = crate::web::sign_in(&server, "zhao", supervisor.json()["password"].as_str().unwrap()).await;
    let case_page =
        server.client.get(server.url(&format!("/desk/cases/{case_id}"))).header(reqwest::header::COOKIE, cookie);
    let case_page = case_page.send().await.unwrap().text().await.unwrap();
    assert!(case_page.contains("id=\"survey-answer\"") && case_page.contains("处理很快,谢谢"), "{case_page}");

    let (status, listed) = server.get_json("/api/v1/outbox?status=sent", &admin).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed["items"].as_array().unwrap().len(), 5);
    assert_eq!(listed["counts"]["sent"], 5);
    assert!(listed["items"][0].get("body").is_none(), "lists carry no bodies");
    // Two at a time, in the same order, none missed.
    let (mut paged, mut next) = (Vec::new(), "/api/v1/outbox?status=sent&limit=2".to_owned());
    loop {
        let body = server.get_json(&next, &admin).await.1;
        paged.extend(body["items"].as_array().unwrap().iter().map(|e| e["email_id"].clone()));
        match body["next_after"].as_str() {
            Some(after) => next = format!("/api/v1/outbox?status=sent&limit=2&after={after}"),
            None => break,
        }
    }
    let all: Vec<Value> = listed["items"].as_array().unwrap().iter().map(|e| e["email_id"].clone()).collect();
    assert_eq!(paged, all);
    assert_eq!(server.get_json("/api/v1/outbox?after=x", &admin).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(server.get_json("/api/v1/outbox?status=lost", &admin).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(server.get_json("/api/v1/outbox", &agent).await.0, StatusCode::FORBIDDEN);
    let (status, preview) = server.get_json("/api/v1/emails/hotspots/preview", &admin).await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert!(preview["html"].as_str().unwrap().contains("src=\"data:image/png;base64,"), "{preview}");
    for kind in ["survey", "unreachable", "sla_alert", "reopen_alert"] {
        let (status, preview) = server.get_json(&format!("/api/v1/emails/{kind}/preview"), &admin).await;
        assert_eq!(status, StatusCode::OK, "{kind}: {preview}");
        assert!(!preview["subject"].as_str().unwrap().is_empty() && !preview["text"].as_str().unwrap().is_empty());
    }
    assert_eq!(server.get_json("/api/v1/emails/spam/preview", &admin).await.0, StatusCode::NOT_FOUND);
    drop(server);

    // Past its fortnight the link has expired, answered or not.
    let later = mend.serve_at("2026-12-20T10:00:00+08:00");
    let (status, body) = page(later.client.get(later.url(path)).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::GONE, "{body}");
    assert!(body.contains("评价链接已过期"), "{body}");
    db.assert_consistent().await;
}

async fn delivery_survives_a_server_that_is_down_or_busy(db: TestDb) {
    if !smtp_server_available() {
        return;
    }
    let port = free_port();
    let readers = "[\"a@example.com\", \"b@example.com\", \"c@example.com\"]";
    let mend = mend_sending_to(&db, port)
        .env("MEND_SCHEDULER__HOTSPOTS__RECIPIENTS", readers)
        .env("MEND_NOTIFY__MAX_ATTEMPTS", "3");
    mend.import_lines(&lines(&a_week_and_a_spike()));
    let zero = json!({"sent": 0, "retried": 0, "failed": 0});

    // The server is down while the report is written: every attempt fails, none is lost.
    assert_eq!(schedule(&mend, "hotspot_report", "2026-11-25T00:30:00+08:00")["counts"]["emails_queued"], 3);
    assert_eq!(flush(&mend, "2026-11-25T00:31:00+08:00"), json!({"sent": 0, "retried": 3, "failed": 0}));
    let queued = outbox(&mend, "queued");
    assert_eq!(queued.len(), 3);
    assert!(queued.iter().all(|e| e["attempts"] == 1 && e["last_error"].as_str().is_some()), "{queued:?}");
    assert_eq!(flush(&mend, "2026-11-25T00:31:30+08:00"), zero, "nothing is tried again before its backoff");

    // It comes up; two senders flush at once: each email goes out once.
    let sink = SmtpSink::start(port);
    let senders: Vec<_> = (0..2)
        .map(|_| {
            let run = mend.clone();
            std::thread::spawn(move || run.run(&["outbox", "flush", "--now", "2026-11-25T00:33:00+08:00"], b"").json())
        })
        .collect();
    let counts: Vec<Value> = senders.into_iter().map(|s| s.join().expect("a sender")).collect();
    assert_eq!(counts.iter().map(|c| c["sent"].as_i64().unwrap()).sum::<i64>(), 3, "{counts:?}");
    assert_eq!(flush(&mend, "2026-11-25T02:00:00+08:00"), zero);
    let messages = sink.messages();
    assert_eq!(messages.len(), 3);
    assert_distinct_message_ids(&messages);
    let mut recipients: Vec<&str> = messages.iter().map(|m| m.rcpt_tos[0].as_str()).collect();
    recipients.sort();
    assert_eq!(recipients, ["a@example.com", "b@example.com", "c@example.com"]);

    // Busy (451) for a while: retried, then delivered.
    sink.refuse(true);
    assert_eq!(schedule(&mend, "hotspot_report", "2026-11-26T00:30:00+08:00")["counts"]["emails_queued"], 3);
    assert_eq!(flush(&mend, "2026-11-26T00:31:00+08:00"), json!({"sent": 0, "retried": 3, "failed": 0}));
    let busy = outbox(&mend, "queued");
    assert!(busy.iter().all(|e| e["last_error"].as_str().unwrap().contains("451")), "{busy:?}");
    sink.refuse(false);
    assert_eq!(flush(&mend, "2026-11-26T00:33:00+08:00"), json!({"sent": 3, "retried": 0, "failed": 0}));
    assert_eq!(sink.messages().len(), 6);
    assert_distinct_message_ids(&sink.messages());

    // Busy for good: given up after `max_attempts`, with the reason kept.
    sink.refuse(true);
    schedule(&mend, "hotspot_report", "2026-11-27T00:30:00+08:00");
    assert_eq!(flush(&mend, "2026-11-27T00:31:00+08:00")["retried"], 3);
    assert_eq!(flush(&mend, "2026-11-27T00:33:00+08:00")["retried"], 3);
    assert_eq!(failing_flush(&mend, "2026-11-27T00:40:00+08:00"), json!({"sent": 0, "retried": 0, "failed": 3}));
    let failed = outbox(&mend, "failed");
    assert_eq!(failed.len(), 3);
    assert!(
        failed.iter().all(|e| e["last_error"].as_str().unwrap().contains("gave up after 3 attempts")),
        "{failed:?}"
    );
    sink.refuse(false);

    // `mend serve` sends on its own and counts what it sent in /metrics.
    schedule(&mend, "hotspot_report", "2026-11-28T00:30:00+08:00");
    let server =
        mend.clone().env("MEND_NOTIFY__SENDER", "true").env("MEND_LOG", "info").serve_at("2026-11-28T00:31:00+08:00");
    // The sender logs each flush that did something after counting it in the metrics.
    server.wait_for_log("outbox flushed");
    let metrics = server.client.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("mend_emails_total{outcome=\"sent\"} 3"), "{metrics}");
    assert!(metrics.contains("mend_emails_total{outcome=\"failed\"} 0"), "{metrics}");
    assert_eq!(sink.messages().len(), 9);
    assert_distinct_message_ids(&sink.messages());
    assert_eq!(outbox(&mend, "queued").len(), 0);
}

/// A sender that crashed between the server's "250" and marking its row leaves the row
/// `sending`; once its lease lapses another sender sends it again under the same Message-ID (so
/// the recipient's client can tell), and a row that went unconfirmed twice is given up rather
/// than sent a third time.
async fn a_sender_that_stops_mid_send_is_resent_once_under_the_same_message_id(db: TestDb) {
    if !smtp_server_available() {
        return;
    }
    use mend_store::outbox::{EmailClaim, NewEmail};
    let port = free_port();
    let sink = SmtpSink::start(port);
    let mend = mend_sending_to(&db, port);
    assert_eq!(mend.run(&["migrate"], b"").status, 0);
    let store = db.store().await;
    let now = at("2026-11-25T08:00:00+08:00");
    for to in ["twice@example.com", "once@example.com"] {
        let email = NewEmail {
            kind: mend_core::EmailKind::Hotspots,
            dedupe_key: format!("crash:{to}"),
            case_id: None,
            to_address: to.to_owned(),
            subject: "高频问题日报".to_owned(),
            body: "正文".to_owned(),
            html_body: None,
            inline_parts: Vec::new(),
            survey_id: None,
        };
        assert!(mend_store::outbox::queue_email(store.connection(), email, now).await.unwrap());
    }
    let crash = |worker: &'static str, at: chrono::DateTime<chrono::Utc>, limit: u64| {
        let store = store.clone();
        async move {
            let tx = store.begin_write().await.unwrap();
            let claim = EmailClaim { worker, now: at, lease_until: at + chrono::Duration::minutes(5), limit };
            let claimed = mend_store::outbox::claim_due_emails(&tx, claim).await.unwrap();
            mend_store::commit(tx).await.unwrap();
            claimed
        }
    };
    // Both rows taken by a sender that then dies; "twice" (the older) is taken and lost again.
    assert_eq!(crash("dies-1", now, 10).await.len(), 2);
    assert_eq!(flush(&mend, "2026-11-25T08:04:00+08:00"), json!({"sent": 0, "retried": 0, "failed": 0}), "leased");
    let retaken = crash("dies-2", now + chrono::Duration::minutes(6), 1).await;
    assert_eq!(retaken.len(), 1);
    assert_eq!((retaken[0].to_address.as_str(), retaken[0].unconfirmed_sends), ("twice@example.com", 1));

    assert_eq!(failing_flush(&mend, "2026-11-25T08:20:00+08:00"), json!({"sent": 1, "retried": 0, "failed": 1}));
    let once = mend_store::outbox::emails(store.connection(), Some(mend_core::EmailStatus::Sent), 10).await.unwrap();
    let once = once[0].email_id;
    let messages = sink.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].rcpt_tos, ["once@example.com"]);
    let parsed = MessageParser::default().parse(&messages[0].raw).unwrap();
    assert_eq!(parsed.message_id(), Some(format!("{once}@mend.example").as_str()), "the row's own Message-ID");
    let failed = outbox(&mend, "failed");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["to_address"], "twice@example.com");
    assert!(failed[0]["last_error"].as_str().unwrap().contains("never confirmed"), "{}", failed[0]);
}

/// A server that refuses mend's login (535) refuses the session, not the emails: they wait
/// for the password to be fixed instead of being given up.
async fn a_refused_login_is_retried_not_the_end_of_the_outbox(db: TestDb) {
    if !smtp_server_available() {
        return;
    }
    let port = free_port();
    let sink = SmtpSink::start_requiring(port, Some("mend:s3cret"));
    let mend = mend_sending_to(&db, port).env("MEND_SCHEDULER__HOTSPOTS__RECIPIENTS", "[\"ops@example.com\"]");
    schedule(&mend, "hotspot_report", "2026-11-25T00:30:00+08:00");
    let anonymous = flush(&mend, "2026-11-25T00:31:00+08:00");
    assert_eq!(anonymous, json!({"sent": 0, "retried": 1, "failed": 0}), "530: authentication required");
    let wrong = mend.clone().env("MEND_SMTP__USERNAME", "mend").env("MEND_SMTP__PASSWORD", "s3cert");
    assert_eq!(flush(&wrong, "2026-11-25T00:33:00+08:00"), json!({"sent": 0, "retried": 1, "failed": 0}));
    let waiting = outbox(&mend, "queued");
    assert!(waiting[0]["last_error"].as_str().unwrap().contains("535"), "{waiting:?}");
    assert!(sink.messages().is_empty());
    let fixed = mend.env("MEND_SMTP__USERNAME", "mend").env("MEND_SMTP__PASSWORD", "s3cret");
    assert_eq!(flush(&fixed, "2026-11-25T00:40:00+08:00"), json!({"sent": 1, "retried": 0, "failed": 0}));
    assert_eq!(sink.messages().len(), 1);
}

/// A relay that refuses to relay for mend (`554 5.7.1`, a login it wants) refuses the session
/// too; emails given up on meanwhile go back in the queue with `mend outbox requeue`.
async fn a_relay_refusal_is_retried_and_given_up_mail_requeued(db: TestDb) {
    if !smtp_server_available() {
        return;
    }
    let port = free_port();
    let sink = SmtpSink::start(port);
    let mend = mend_sending_to(&db, port)
        .env("MEND_SCHEDULER__HOTSPOTS__RECIPIENTS", "[\"ops@example.com\", \"lead@example.com\"]")
        .env("MEND_NOTIFY__MAX_ATTEMPTS", "2");
    mend.import_lines(&lines(&a_week_and_a_spike()));
    sink.deny_relay(true);
    schedule(&mend, "hotspot_report", "2026-11-25T00:30:00+08:00");
    assert_eq!(flush(&mend, "2026-11-25T00:31:00+08:00"), json!({"sent": 0, "retried": 2, "failed": 0}));
    let waiting = outbox(&mend, "queued");
    let error = waiting[0]["last_error"].as_str().unwrap();
    assert!(error.contains("5.7.1") && error.matches("Relay access denied").count() == 1, "said once: {error}");
    assert_eq!(failing_flush(&mend, "2026-11-25T00:40:00+08:00"), json!({"sent": 0, "retried": 0, "failed": 2}));

    sink.deny_relay(false);
    let none = mend.run(&["outbox", "requeue", "--since", "2026-11-26T00:00:00+08:00"], b"").json();
    assert_eq!(none, json!({"requeued": 0}), "queued before --since");
    let requeued = mend.run(&["outbox", "requeue", "--now", "2026-11-25T01:00:00+08:00"], b"").json();
    assert_eq!(requeued, json!({"requeued": 2}));
    assert_eq!(flush(&mend, "2026-11-25T01:00:00+08:00"), json!({"sent": 2, "retried": 0, "failed": 0}));
    assert_eq!(sink.messages().len(), 2);

    // A survey given up on weeks ago links to a survey that has run out: it stays given up.
    use mend_store::outbox::{AttemptResult, EmailClaim, NewEmail};
    let store = db.store().await;
    let weeks_ago = at("2026-10-01T08:00:00+08:00");
    let survey = NewEmail {
        kind: mend_core::EmailKind::Survey,
        dedupe_key: "survey:old".into(),
        case_id: None,
        to_address: "old@example.com".into(),
        subject: "满意度回访".into(),
        body: "正文".into(),
        html_body: None,
        inline_parts: Vec::new(),
        survey_id: None,
    };
    assert!(mend_store::outbox::queue_email(store.connection(), survey, weeks_ago).await.unwrap());
    let tx = store.begin_write().await.unwrap();
    let claim =
        EmailClaim { worker: "w", now: weeks_ago, lease_until: weeks_ago + chrono::Duration::minutes(5), limit: 1 };
    let claimed = mend_store::outbox::claim_due_emails(&tx, claim).await.unwrap();
    mend_store::commit(tx).await.unwrap();
    let failed = AttemptResult::Failed { error: "550 5.1.1 no such user".into() };
    assert!(
        mend_store::outbox::finish_attempt(store.connection(), claimed[0].email_id, "w", failed, weeks_ago)
            .await
            .unwrap()
    );
    let requeued = mend.run(&["outbox", "requeue", "--now", "2026-11-25T01:10:00+08:00"], b"").json();
    assert_eq!(requeued, json!({"requeued": 0}));
}

/// A server that takes the connection and then says nothing (a hung relay, a firewall that
/// swallows packets) costs each email `smtp.timeout_seconds`, not the sender for good, and
/// nothing of the email left: retried, not counted as a send. A sender stopped while it waits
/// leaves that one email unconfirmed (it cannot tell), and the others queued as they were.
async fn a_server_that_says_nothing_costs_one_conversation_not_the_outbox(db: TestDb) {
    if !smtp_server_available() {
        return;
    }
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let silent_port = silent.local_addr().unwrap().port();
    let recipients = "[\"a@example.com\", \"b@example.com\", \"c@example.com\"]";
    let to_silent = mend_sending_to(&db, silent_port)
        .env("MEND_SCHEDULER__HOTSPOTS__RECIPIENTS", recipients)
        .env("MEND_SMTP__TIMEOUT_SECONDS", "1");
    to_silent.import_lines(&lines(&a_week_and_a_spike()));
    schedule(&to_silent, "hotspot_report", "2026-11-25T00:30:00+08:00");
    assert_eq!(flush(&to_silent, "2026-11-25T00:31:00+08:00"), json!({"sent": 0, "retried": 3, "failed": 0}));
    let waiting = outbox(&to_silent, "queued");
    assert!(
        waiting.iter().all(|e| e["last_error"].as_str().unwrap().contains("did not open a session within 1 s")
            && e["unconfirmed_sends"] == 0),
        "{waiting:?}"
    );

    let mut sender = to_silent.spawn(&["outbox", "flush", "--now", "2026-11-25T00:40:00+08:00"]);
    let store = db.store().await;
    loop {
        let sending =
            mend_store::outbox::emails(store.connection(), Some(mend_core::EmailStatus::Sending), 10).await.unwrap();
        if !sending.is_empty() {
            break;
        }
        assert!(sender.try_wait().unwrap().is_none(), "the sender finished before it was stopped");
        tokio::task::yield_now().await;
    }
    sender.kill().unwrap();
    sender.wait().unwrap();
    let in_flight = outbox(&to_silent, "sending");
    assert_eq!((in_flight.len(), outbox(&to_silent, "queued").len()), (1, 2), "one conversation was under way");

    // The email in flight had one conversation that never ended (the stop; the server's
    // silence came before anything of it left): sent once more, and the others go.
    let port = free_port();
    let sink = SmtpSink::start(port);
    let fixed = to_silent.env("MEND_SMTP__PORT", &port.to_string());
    assert_eq!(flush(&fixed, "2026-11-25T00:45:00+08:00"), json!({"sent": 3, "retried": 0, "failed": 0}));
    assert_eq!(sink.messages().len(), 3);
    drop(silent);
}

/// A relay that takes the message and then drops the line before its `250`: the email may have
/// arrived, so it is an unconfirmed send, and the second is the last — the customer gets it twice
/// at most, not once per attempt. A server that drops every connection at once (a balancer with
/// nothing behind it) is down instead: retried until `notify.max_attempts`, like a refusal.
async fn a_relay_that_drops_the_line_after_the_data_gets_the_email_twice_at_most(db: TestDb) {
    if !smtp_server_available() {
        return;
    }
    let port = free_port();
    let mend = mend_sending_to(&db, port)
        .env("MEND_SCHEDULER__HOTSPOTS__RECIPIENTS", "[\"a@example.com\"]")
        .env("MEND_NOTIFY__MAX_ATTEMPTS", "3");
    mend.import_lines(&lines(&a_week_and_a_spike()));
    let sink = SmtpSink::start(port);
    sink.drop_after_data(true);
    assert_eq!(schedule(&mend, "hotspot_report", "2026-11-25T00:30:00+08:00")["counts"]["emails_queued"], 1);
    assert_eq!(flush(&mend, "2026-11-25T00:31:00+08:00"), json!({"sent": 0, "retried": 1, "failed": 0}));
    let waiting = outbox(&mend, "queued");
    assert!(
        waiting[0]["last_error"].as_str().unwrap().contains("after the message was sent, before the server answered"),
        "{waiting:?}"
    );
    assert_eq!(flush(&mend, "2026-11-25T00:33:00+08:00"), json!({"sent": 0, "retried": 1, "failed": 0}));
    assert_eq!(failing_flush(&mend, "2026-11-25T00:40:00+08:00"), json!({"sent": 0, "retried": 0, "failed": 1}));
    let given_up = outbox(&mend, "failed");
    assert!(given_up[0]["last_error"].as_str().unwrap().contains("2 sends were never confirmed"), "{given_up:?}");
    assert_eq!(sink.messages().len(), 2, "twice at most, however many attempts are allowed");
    let cautious = mend.run(&["outbox", "requeue", "--now", "2026-11-25T00:50:00+08:00"], b"").json();
    assert_eq!(cautious, json!({"requeued": 0}), "not without being asked");
    let args = ["outbox", "requeue", "--include-unconfirmed", "--now", "2026-11-25T00:50:00+08:00"];
    assert_eq!(mend.run(&args, b"").json(), json!({"requeued": 1}));
    sink.drop_after_data(false);
    assert_eq!(flush(&mend, "2026-11-25T00:50:00+08:00"), json!({"sent": 1, "retried": 0, "failed": 0}));
    assert_eq!(sink.messages().len(), 3);

    // A relay that takes the data and then says nothing (a content filter that hangs): the
    // email may be taken, so it is an unconfirmed send too.
    sink.stall_after_data(true);
    schedule(&mend, "hotspot_report", "2026-11-26T00:30:00+08:00");
    let stalled = mend.clone().env("MEND_SMTP__TIMEOUT_SECONDS", "1");
    assert_eq!(flush(&stalled, "2026-11-26T00:31:00+08:00"), json!({"sent": 0, "retried": 1, "failed": 0}));
    let waiting = outbox(&stalled, "queued");
    assert!(waiting[0]["last_error"].as_str().unwrap().contains("did not answer the message within 1 s"));
    assert_eq!(waiting[0]["unconfirmed_sends"], 1, "{waiting:?}");
    drop(sink);

    // A balancer with no relay behind it: every connection closed unanswered.
    let balancer = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let balancer_port = balancer.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for connection in balancer.incoming() {
            drop(connection);
        }
    });
    let to_balancer = mend.env("MEND_SMTP__PORT", &balancer_port.to_string());
    schedule(&to_balancer, "hotspot_report", "2026-11-27T00:30:00+08:00");
    assert_eq!(flush(&to_balancer, "2026-11-27T00:31:00+08:00")["retried"], 2, "the stalled one too");
    assert_eq!(flush(&to_balancer, "2026-11-27T00:33:00+08:00")["retried"], 1, "the stalled one waits longer");
    assert_eq!(failing_flush(&to_balancer, "2026-11-27T00:40:00+08:00")["failed"], 2);
    let failed = outbox(&to_balancer, "failed");
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(
        failed.iter().all(|e| e["last_error"].as_str().unwrap().contains("gave up after 3 attempts")),
        "{failed:?}"
    );
}

/// A relay that drops the line when told a recipient cannot have taken the email: tried again,
/// as often as `notify.max_attempts` allows, never counted as a send that may have arrived.
async fn a_relay_that_drops_the_line_at_a_recipient_had_nothing_and_is_tried_again(db: TestDb) {
    if !smtp_server_available() {
        return;
    }
    let port = free_port();
    let mend = mend_sending_to(&db, port).env("MEND_SCHEDULER__HOTSPOTS__RECIPIENTS", "[\"a@example.com\"]");
    mend.import_lines(&lines(&a_week_and_a_spike()));
    let sink = SmtpSink::start(port);
    sink.drop_at_recipient(true);
    schedule(&mend, "hotspot_report", "2026-11-25T00:30:00+08:00");
    for at in ["2026-11-25T00:31:00+08:00", "2026-11-25T00:33:00+08:00", "2026-11-25T00:40:00+08:00"] {
        assert_eq!(flush(&mend, at), json!({"sent": 0, "retried": 1, "failed": 0}), "{at}");
    }
    let waiting = outbox(&mend, "queued");
    assert_eq!((&waiting[0]["attempts"], &waiting[0]["unconfirmed_sends"]), (&json!(3), &json!(0)), "{waiting:?}");
    sink.drop_at_recipient(false);
    assert_eq!(flush(&mend, "2026-11-25T01:00:00+08:00"), json!({"sent": 1, "retried": 0, "failed": 0}));
    assert_eq!(sink.messages().len(), 1);
}

/// A company relay whose certificate its own authority signed: refused as unknown (and
/// retried, not given up) until `smtp.ca_file` names that authority; then STARTTLS and the login
/// go through.
async fn a_relay_signed_by_an_in_house_authority_is_trusted_through_ca_file(db: TestDb) {
    if !smtp_server_available() {
        return;
    }
    let certificate = RelayCertificate::new();
    let port = free_port();
    let sink = SmtpSink::start_tls(port, "mend:s3cret", &certificate);
    let mend = mend_sending_to(&db, port)
        .env("MEND_SCHEDULER__HOTSPOTS__RECIPIENTS", "[\"ops@example.com\"]")
        .env("MEND_SMTP__TLS", "starttls")
        .env("MEND_SMTP__USERNAME", "mend")
        .env("MEND_SMTP__PASSWORD", "s3cret");
    schedule(&mend, "hotspot_report", "2026-11-25T00:30:00+08:00");
    assert_eq!(flush(&mend, "2026-11-25T00:31:00+08:00"), json!({"sent": 0, "retried": 1, "failed": 0}));
    let waiting = outbox(&mend, "queued");
    assert!(waiting[0]["last_error"].as_str().unwrap().contains("UnknownIssuer"), "{waiting:?}");
    let trusting = mend.env("MEND_SMTP__CA_FILE", certificate.authority().to_str().unwrap());
    assert_eq!(flush(&trusting, "2026-11-25T00:40:00+08:00"), json!({"sent": 1, "retried": 0, "failed": 0}));
    assert_eq!(sink.messages().len(), 1);
    let missing = trusting.env("MEND_SMTP__CA_FILE", "/nonexistent/ca.pem").run(&["outbox", "flush"], b"");
    assert!(missing.status != 0 && missing.stderr.contains("smtp.ca_file `/nonexistent/ca.pem`"), "{}", missing.stderr);
}
