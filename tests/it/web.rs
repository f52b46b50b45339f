//! The workbench pages: over plain HTTP (sign-in, CSRF, roles, on both databases), and in a real
//! browser (headless Chromium through chromedriver) the whole round of a repair call: an agent
//! takes the next task, sees the merged timeline and the script, offers more than the limit and
//! records the outcome; a supervisor approves; the agent sees it approved. Screenshots of each
//! page go to `target/screenshots/`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};

use crate::support::{Mend, Server, TestDb, both_databases, complaint, lines, repo_path};

both_databases!(
    pages_need_a_session_a_role_and_their_forms_token,
    the_admin_page_adds_users_replays_quarantine_and_previews_scripts,
    late_calls_wait_for_a_supervisor_until_seen_to_or_made,
);

/// The server's clock: a Thursday noon in Shanghai, inside contact hours.
const NOON: &str = "2026-11-26T12:00:00+08:00";

/// One customer who complained on the hotline and again on WeChat about one outage: one case,
/// one callback, planned at noon. Returns the passwords of an agent and a supervisor.
fn desk_with_one_call(mend: &Mend) -> (String, String) {
    let customer = json!({"phone": "13800138000", "name": "张先生"});
    let complaints = [
        complaint(
            "hotline",
            "h-1",
            "2026-11-26T09:10:00+08:00",
            customer.clone(),
            "宽带断网三天了,光猫一直红灯,维修一直没人来",
        ),
        complaint(
            "wechat",
            "w-1",
            "2026-11-26T10:40:00+08:00",
            customer,
            "家里宽带还是断网,光猫红灯,再不修就投诉到工信部",
        ),
    ];
    let imported = mend.import_lines(&lines(&complaints));
    assert_eq!(imported["accepted"], 2, "{imported}");
    assert_eq!(imported["cases_created"], 1, "the two complaints are one problem: {imported}");
    let out = mend.run(&["schedule", "run", "generate_callbacks", "--now", NOON], b"").json_lines();
    assert_eq!(out[0]["counts"]["tasks_created"], 1, "{out:?}");
    let password = |name: &str, role: &str| mend.add_user(name, role)["password"].as_str().unwrap().to_owned();
    (password("wang", "agent"), password("li", "supervisor"))
}

/// Signs in through the form like a browser: fetches it (and its double-submit cookie), posts
/// it, and returns the session cookie.
pub(crate) async fn sign_in(server: &Server, name: &str, password: &str) -> String {
    sign_in_at(&server.base_url, name, password).await
}

async fn sign_in_at(base_url: &str, name: &str, password: &str) -> String {
    let client = no_redirects();
    let form = client.get(format!("{base_url}/login")).send().await.unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    let login_cookie = cookie_of(&form, "mend_login").expect("the login form sets its token cookie");
    let html = form.text().await.unwrap();
    let csrf = hidden_field(&html, "csrf");
    assert_eq!(csrf, login_cookie, "the form echoes the cookie's token");
    let posted = client
        .post(format!("{base_url}/login"))
        .header(COOKIE, format!("mend_login={login_cookie}"))
        .form(&[("csrf", csrf.as_str()), ("name", name), ("password", password), ("next", "/desk")])
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), StatusCode::SEE_OTHER, "{}", posted.text().await.unwrap_or_default());
    assert_eq!(posted.headers()[LOCATION], "/desk");
    format!("mend_session={}", cookie_of(&posted, "mend_session").expect("a session cookie"))
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

fn cookie_of(response: &reqwest::Response, name: &str) -> Option<String> {
    response.headers().get_all(SET_COOKIE).iter().find_map(|v| {
        let v = v.to_str().ok()?;
        let (pair, _) = v.split_once(';').unwrap_or((v, ""));
        let (n, value) = pair.split_once('=')?;
        (n == name && !value.is_empty()).then(|| value.to_owned())
    })
}

fn hidden_field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no field {name} in {html}")) + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

async fn pages_need_a_session_a_role_and_their_forms_token(db: TestDb) {
    let mend = db.mend();
    let (agent_password, supervisor_password) = desk_with_one_call(&mend);
    let server = mend.serve_at(NOON);
    let client = no_redirects();

    // No session: every page sends the browser to sign in, and back afterwards.
    let anonymous = client.get(server.url("/desk/tasks/x?y=1")).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    assert_eq!(anonymous.headers()[LOCATION], "/login?next=/desk/tasks/x%3Fy%3D1");
    // A form sent after its session ended: back to the page it was on, saying why.
    let ended = client
        .post(server.url("/desk/tasks/x/complete"))
        .header(COOKIE, "mend_session=ended")
        .header(reqwest::header::REFERER, server.url("/desk/tasks/x?offer=pending"))
        .send()
        .await
        .unwrap();
    assert_eq!(ended.headers()[LOCATION], "/login?next=/desk/tasks/x%3Foffer%3Dpending&expired=true");
    let login = client.get(server.url("/login?next=/desk&expired=true")).send().await.unwrap();
    assert!(login.text().await.unwrap().contains("登录已过期"));

    // A wrong password is one answer for every name; a forged login form is refused.
    let form = client.get(server.url("/login")).send().await.unwrap();
    let token = cookie_of(&form, "mend_login").unwrap();
    let wrong = client
        .post(server.url("/login"))
        .header(COOKIE, format!("mend_login={token}"))
        .form(&[("csrf", token.as_str()), ("name", "wang"), ("password", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.text().await.unwrap().contains("用户名或密码不正确"));
    let forged = client
        .post(server.url("/login"))
        .form(&[("csrf", "guess"), ("name", "wang"), ("password", agent_password.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN, "a login post without the form's cookie");
    // Browsers drop a tab from a URL: `/<TAB>/evil.example` would lead to another site.
    let tabbed = client
        .post(server.url("/login"))
        .header(COOKIE, format!("mend_login={token}"))
        .form(&[
            ("csrf", token.as_str()),
            ("name", "wang"),
            ("password", &agent_password),
            ("next", "/\t/evil.example"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!((tabbed.status(), &tabbed.headers()[LOCATION]), (StatusCode::SEE_OTHER, &"/desk".parse().unwrap()));

    let agent = sign_in(&server, "wang", &agent_password).await;
    let desk = client.get(server.url("/desk")).header(COOKIE, &agent).send().await.unwrap();
    assert_eq!(desk.status(), StatusCode::OK);
    assert_eq!(desk.headers()["cache-control"], "no-store");
    assert!(desk.headers()["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
    let html = desk.text().await.unwrap();
    assert!(html.contains("下一个任务") && html.contains("id=\"due-count\">1<"), "{html}");
    let csrf = hidden_field(&html, "csrf");

    // A form without this session's token acts on nothing.
    let forged = client.post(server.url("/desk/next")).header(COOKIE, &agent).form(&[("csrf", "x")]).send().await;
    assert_eq!(forged.unwrap().status(), StatusCode::FORBIDDEN);
    let tasks = server.get_json("/api/v1/tasks?status=claimed", &supervisor_token(&mend)).await.1;
    assert_eq!(tasks["tasks"].as_array().unwrap().len(), 0, "the forged form claimed nothing: {tasks}");

    // With it, the next task is claimed and opened.
    let next = client.post(server.url("/desk/next")).header(COOKIE, &agent).form(&[("csrf", &csrf)]).send().await;
    let next = next.unwrap();
    assert_eq!(next.status(), StatusCode::SEE_OTHER);
    let task_page = next.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(task_page.starts_with("/desk/tasks/"), "{task_page}");
    let page = client.get(server.url(&task_page)).header(COOKIE, &agent).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("13800138000"), "the holder sees the number in full");
    assert!(page.contains("data-heartbeat="), "a held task's page keeps its lease");
    assert!(page.contains(&format!("data-csrf=\"{csrf}\"")), "and gives its script the session's token");

    // 查找: the caller's number, in any shape, lists their cases (numbers masked); a case id
    // opens the case; an unknown key says so; a forged form finds nothing.
    let find = |q: &str, csrf: &str| {
        client.post(server.url("/desk/search")).header(COOKIE, &agent).form(&[("csrf", csrf), ("q", q)]).send()
    };
    assert_eq!(find("13800138000", "x").await.unwrap().status(), StatusCode::FORBIDDEN);
    let found = find("138 0013 8000", &csrf).await.unwrap();
    assert_eq!(found.status(), StatusCode::OK);
    let html = found.text().await.unwrap();
    assert!(html.contains("138****8000") && !html.contains("13800138000"), "{html}");
    let case_id = html.split("href=\"/desk/cases/").nth(1).and_then(|r| r.split('"').next()).expect("a case link");
    let by_case = find(case_id, &csrf).await.unwrap();
    assert_eq!(by_case.status(), StatusCode::SEE_OTHER);
    assert_eq!(by_case.headers()[LOCATION], format!("/desk/cases/{case_id}"));
    let unknown = find("oNobody", &csrf).await.unwrap();
    assert_eq!(unknown.status(), StatusCode::OK);
    assert!(unknown.text().await.unwrap().contains("没有找到这位客户"));

    // A page that does not exist is a page that says so; under /api/ it stays JSON.
    let nowhere = client.get(server.url("/desk/nowhere")).header(COOKIE, &agent).send().await.unwrap();
    assert_eq!(nowhere.status(), StatusCode::NOT_FOUND);
    assert!(nowhere.text().await.unwrap().contains("没有这个页面"));
    let api_nowhere = client.get(server.url("/api/v1/nowhere")).send().await.unwrap();
    assert_eq!(api_nowhere.json::<Value>().await.unwrap()["error"]["code"], "not_found");

    // The agent hears an impatient customer: the temperament they choose stays the customer's
    // (and says who chose it) until someone hands it back to the scheduler.
    let temperament = |word: &str| {
        let form = [("csrf", csrf.as_str()), ("temperament", word), ("back", task_page.as_str())];
        client.post(server.url(&format!("/desk/cases/{case_id}/temperament"))).header(COOKIE, &agent).form(&form).send()
    };
    assert_eq!(temperament("angry").await.unwrap().status(), StatusCode::UNPROCESSABLE_ENTITY);
    let form = [("csrf", csrf.as_str()), ("temperament", "neutral"), ("back", "/desk/\u{1}")];
    let path = format!("/desk/cases/{case_id}/temperament");
    let odd_back = client.post(server.url(&path)).header(COOKIE, &agent).form(&form).send().await.unwrap();
    assert_eq!(odd_back.status(), StatusCode::SEE_OTHER, "a back that cannot be a header goes to the case");
    assert_eq!(odd_back.headers()[LOCATION], format!("/desk/cases/{case_id}").as_str());
    let chosen = temperament("impulsive").await.unwrap();
    assert_eq!(chosen.status(), StatusCode::SEE_OTHER);
    assert_eq!(chosen.headers()[LOCATION], task_page.as_str());
    let page = client.get(server.url(&task_page)).header(COOKIE, &agent).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"temperament-now\">急躁型<") && page.contains("由 wang 设定"), "{page}");
    assert!(page.contains("<option value=\"impulsive\" selected>"), "{page}");
    let case = server.get_json(&format!("/api/v1/cases/{case_id}"), &supervisor_token(&mend)).await.1;
    assert_eq!(case["customer"]["temperament"], "impulsive", "{case}");
    assert_eq!(case["customer"]["temperament_set_by"], "user:wang", "{case}");
    assert_eq!(temperament("").await.unwrap().status(), StatusCode::SEE_OTHER);
    let case = server.get_json(&format!("/api/v1/cases/{case_id}"), &supervisor_token(&mend)).await.1;
    assert_eq!(case["customer"]["temperament_set_by"], Value::Null, "handed back: {case}");

    // The page's script keeps the lease through the API, signed in by the cookie: with the
    // session's CSRF token, never without it (another site could make the browser send the
    // cookie, not read the token).
    let heartbeat = format!("{}/heartbeat", task_page.replace("/desk/tasks/", "/api/v1/tasks/"));
    let bare = client.post(server.url(&heartbeat)).header(COOKIE, &agent).send().await.unwrap();
    assert_eq!(bare.status(), StatusCode::FORBIDDEN);
    let wrong = client.post(server.url(&heartbeat)).header(COOKIE, &agent).header("x-csrf-token", "x").send().await;
    assert_eq!(wrong.unwrap().status(), StatusCode::FORBIDDEN);
    let beat = client.post(server.url(&heartbeat)).header(COOKIE, &agent).header("x-csrf-token", &csrf).send().await;
    assert_eq!(beat.unwrap().status(), StatusCode::OK);

    // A wrongly grouped complaint is split off from the page, and merged back.
    let case_id = mend.export_cases()[0]["case_id"].as_str().unwrap().to_owned();
    let wechat_complaint = {
        let detail = server.get_json(&format!("/api/v1/cases/{case_id}"), &supervisor_token(&mend)).await.1;
        let complaints = detail["complaints"].as_array().unwrap().clone();
        complaints.iter().find(|c| c["channel"] == "wechat").unwrap()["complaint_id"].as_str().unwrap().to_owned()
    };
    let split = client
        .post(server.url(&format!("/desk/cases/{case_id}/split")))
        .header(COOKIE, &agent)
        .form(&[("csrf", csrf.as_str()), ("complaint_id", &wechat_complaint), ("back", &task_page)])
        .send()
        .await
        .unwrap();
    assert_eq!(split.status(), StatusCode::SEE_OTHER, "{}", split.text().await.unwrap_or_default());
    assert_eq!(split.headers()[LOCATION], task_page.as_str(), "back to the call");
    let cases = mend.export_cases();
    assert_eq!(cases.len(), 2, "{cases:?}");
    let new_case = cases.iter().find(|c| c["case_id"] != case_id.as_str()).unwrap()["case_id"].as_str().unwrap();
    let merged = client
        .post(server.url(&format!("/desk/cases/{case_id}/merge")))
        .header(COOKIE, &agent)
        .form(&[("csrf", csrf.as_str()), ("case_id", new_case)])
        .send()
        .await
        .unwrap();
    assert_eq!(merged.status(), StatusCode::SEE_OTHER);
    let open: Vec<_> = mend.export_cases().into_iter().filter(|c| c["status"] == "open").collect();
    assert_eq!(open.len(), 1, "merged back into one open case: {open:?}");
    assert_eq!(open[0]["complaints"].as_array().map(Vec::len), Some(2), "{open:?}");
    // The case merged away takes no offer (it would be refused): its page points to the other.
    let gone = client.get(server.url(&format!("/desk/cases/{new_case}"))).header(COOKIE, &agent).send().await;
    let gone = gone.unwrap().text().await.unwrap();
    assert!(gone.contains("id=\"offer-merged\"") && !gone.contains("id=\"offer-form\""), "{gone}");

    // Agents have no supervisor page; a supervisor sees the same task masked.
    let refused = client.get(server.url("/supervisor")).header(COOKIE, &agent).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(refused.text().await.unwrap().contains("没有权限"));
    let supervisor = sign_in(&server, "li", &supervisor_password).await;
    let overview = client.get(server.url("/supervisor")).header(COOKIE, &supervisor).send().await.unwrap();
    assert_eq!(overview.status(), StatusCode::OK);
    let overview = overview.text().await.unwrap();
    assert!(overview.contains("wang:1"), "the queue shows who holds what");

    // Only the holder records the outcome; anyone else is told why, in Chinese.
    let supervisor_csrf = hidden_field(&overview, "csrf");
    let not_theirs = client
        .post(server.url(&format!("{task_page}/complete")))
        .header(COOKIE, &supervisor)
        .form(&[("csrf", supervisor_csrf.as_str()), ("outcome", "reached")])
        .send()
        .await
        .unwrap();
    assert_eq!(not_theirs.status(), StatusCode::CONFLICT);
    assert!(not_theirs.text().await.unwrap().contains("任务已由他人处理"));
    let masked = client.get(server.url(&task_page)).header(COOKIE, &supervisor).send().await.unwrap();
    let masked = masked.text().await.unwrap();
    assert!(masked.contains("138****8000") && !masked.contains("13800138000"));

    // Wang leaves with the call open: the supervisor takes it back for the queue.
    let task_id = task_page.rsplit('/').next().unwrap();
    assert!(overview.contains(&format!("action=\"/supervisor/tasks/{task_id}/release\"")), "{overview}");
    let take_back = client
        .post(server.url(&format!("/supervisor/tasks/{task_id}/release")))
        .header(COOKIE, &supervisor)
        .form(&[
            ("csrf", supervisor_csrf.as_str()),
            ("reason", "王已下班"),
            ("holder", &hidden_field(&overview, "holder")),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(take_back.headers()[LOCATION], "/supervisor?done=taken_back");
    let workbench = client.get(server.url("/desk")).header(COOKIE, &agent).send().await.unwrap().text().await.unwrap();
    assert!(!workbench.contains(task_id), "no longer wang's");
    let tasks = server.get_json("/api/v1/tasks?status=open", &supervisor_token(&mend)).await.1;
    assert_eq!(tasks["tasks"][0]["task_id"], task_id, "back in the queue: {tasks}");

    // More offers waiting than the page lists: the heading counts them all, and says so.
    let boss = supervisor_token(&mend);
    let mut offers = Vec::new();
    for _ in 0..51 {
        let body = json!({"kind": "bill_credit", "amount_fen": 20_000, "reason": "断网一周"});
        let request = server.request(reqwest::Method::POST, &format!("/api/v1/cases/{case_id}/compensations"), &boss);
        let made = request.json(&body).send().await.unwrap();
        assert_eq!(made.status(), StatusCode::CREATED);
        offers.push(made.json::<Value>().await.unwrap()["compensation_id"].as_str().unwrap().to_owned());
    }
    let overview = client.get(server.url("/supervisor")).header(COOKIE, &supervisor).send().await.unwrap();
    let overview = overview.text().await.unwrap();
    assert!(overview.contains("待审批补偿(51)") && overview.contains("id=\"inbox-more\""), "{overview}");
    // Each card says where the customer stands against the ¥300 cap; once one ¥200 offer is
    // approved, the others say beforehand that approving them would be refused.
    assert!(overview.contains("已获批 ¥0.00,上限 ¥300.00,还能给 ¥300.00"), "{overview}");
    assert!(!overview.contains("over-cap"), "{overview}");
    let approve = format!("/supervisor/compensations/{}/approve", offers[0]);
    let form = [("csrf", supervisor_csrf.as_str()), ("reason", "")];
    let approved = client.post(server.url(&approve)).header(COOKIE, &supervisor).form(&form).send().await.unwrap();
    assert_eq!(approved.headers()[LOCATION], "/supervisor?done=approved");
    let overview = client.get(server.url("/supervisor")).header(COOKIE, &supervisor).send().await.unwrap();
    let overview = overview.text().await.unwrap();
    assert!(overview.contains("已获批 ¥200.00,上限 ¥300.00,还能给 ¥100.00"), "{overview}");
    assert_eq!(overview.matches("class=\"tag warn over-cap\"").count(), 50, "every card left: {overview}");

    // A customer known only by WeChat has no number to dial: the case page says how to reach
    // them, where a customer with a number has none of it.
    let phone_case = client.get(server.url(&format!("/desk/cases/{case_id}"))).header(COOKIE, &agent).send().await;
    assert!(!phone_case.unwrap().text().await.unwrap().contains("id=\"no-phone\""));
    let wechat_only = json!({"wechat_openid": "oWechatOnly01"});
    let said = complaint("wechat", "w-only", "2026-11-26T11:00:00+08:00", wechat_only, "流量被多扣了二十块");
    assert_eq!(mend.import_lines(&lines(&[said]))["accepted"], 1);
    let html = find("oWechatOnly01", &csrf).await.unwrap().text().await.unwrap();
    let wechat_case = html.split("href=\"/desk/cases/").nth(1).and_then(|r| r.split('"').next()).expect("a case link");
    let page = client.get(server.url(&format!("/desk/cases/{wechat_case}"))).header(COOKIE, &agent).send().await;
    assert!(page.unwrap().text().await.unwrap().contains("id=\"no-phone\""));

    // The customer asks not to be contacted again: the agent says so from the page; only a
    // supervisor takes it back.
    let wechat_page = format!("/desk/cases/{wechat_case}");
    let do_not_disturb = |cookie: &str, csrf: &str, value: &str| {
        let form = [("csrf", csrf), ("do_not_disturb", value), ("back", "")];
        client.post(server.url(&format!("{wechat_page}/do-not-disturb"))).header(COOKIE, cookie).form(&form).send()
    };
    let page_of = |cookie: &str| {
        let cookie = cookie.to_owned();
        let request = client.get(server.url(&wechat_page)).header(COOKIE, cookie);
        async move { request.send().await.unwrap().text().await.unwrap() }
    };
    assert!(page_of(&agent).await.contains("客户要求不再来电</button>"));
    let asked = do_not_disturb(&agent, &csrf, "on").await.unwrap();
    assert_eq!((asked.status(), &asked.headers()[LOCATION]), (StatusCode::SEE_OTHER, &wechat_page.parse().unwrap()));
    let marked = page_of(&agent).await;
    assert!(marked.contains("id=\"do-not-disturb\"") && !marked.contains("id=\"do-not-disturb-form\""), "{marked}");
    assert_eq!(do_not_disturb(&agent, &csrf, "off").await.unwrap().status(), StatusCode::FORBIDDEN);
    assert!(page_of(&supervisor).await.contains("恢复联系</button>"));
    let resumed = do_not_disturb(&supervisor, &supervisor_csrf, "off").await.unwrap();
    assert_eq!(resumed.status(), StatusCode::SEE_OTHER);
    assert!(!page_of(&agent).await.contains("id=\"do-not-disturb\""), "callable again");

    // Signing out ends the session at once.
    let out = client.post(server.url("/logout")).header(COOKIE, &agent).form(&[("csrf", &csrf)]).send().await;
    assert_eq!(out.unwrap().status(), StatusCode::SEE_OTHER);
    let after = client.get(server.url("/desk")).header(COOKIE, &agent).send().await.unwrap();
    assert_eq!(after.status(), StatusCode::SEE_OTHER, "a signed-out session opens nothing");
}

async fn the_admin_page_adds_users_replays_quarantine_and_previews_scripts(db: TestDb) {
    // A call-center export in GB18030 read as UTF-8 (the configuration forgot its encoding):
    // quarantined, then replayed from the page once the server runs with the encoding set.
    let mapped = crate::support::vendor_hotline_columns;
    let export = "流水号,主叫号码,开始时间,满意度,是否投诉,备注\n2026112600017,13700137000,2026/11/26 09:12,不满意,否,宽带又断了\n";
    let (gbk, _, _) = encoding_rs::GB18030.encode(export);
    let imported = mapped(db.mend()).run(&["import", "--channel", "hotline", "-"], &gbk).json();
    assert_eq!(imported["quarantined"], 1, "{imported}");
    let admin_password = db.mend().add_user("root", "admin")["password"].as_str().unwrap().to_owned();
    let server = mapped(db.mend()).env("MEND_CHANNELS__HOTLINE__CSV__ENCODING", "gb18030").serve_at(NOON);
    let client = no_redirects();
    let admin = sign_in(&server, "root", &admin_password).await;
    let page = client.get(server.url("/admin")).header(COOKIE, &admin).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("隔离区:无法读取的数据(1)") && html.contains("hotline-csv"), "{html}");
    assert!(html.contains("137****7000") && !html.contains("13700137000"), "the raw payload is shown masked");
    let csrf = hidden_field(&html, "csrf");
    let replay_path = html.split("action=\"/admin/quarantine/").nth(1).unwrap().split('"').next().unwrap();
    let replayed = client
        .post(server.url(&format!("/admin/quarantine/{replay_path}")))
        .header(COOKIE, &admin)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(replayed.headers()[LOCATION], "/admin?replayed=accepted");
    let after = client.get(server.url("/admin?replayed=accepted")).header(COOKIE, &admin).send().await.unwrap();
    let after = after.text().await.unwrap();
    assert!(after.contains("重放结果:已入库") && after.contains("隔离区是空的"), "{after}");

    // The replayed complaint's case, with the callback it would get now: the script previewed.
    assert!(after.contains("id=\"preview-script\"") && after.contains("宽带"), "{after}");

    // The month runs short: the budget is raised from the page, and the page says so.
    assert!(after.contains("id=\"budget-total\">¥50,000.00"), "the configured month: {after}");
    let budget = [("csrf", csrf.as_str()), ("month", "2026-11"), ("amount_yuan", "80000"), ("reason", "城东断网")];
    let set = client.post(server.url("/admin/budget")).header(COOKIE, &admin).form(&budget).send().await.unwrap();
    assert_eq!(set.headers()[LOCATION], "/admin?budget_set=2026-11");
    let raised = client.get(server.url("/admin?budget_set=2026-11")).header(COOKIE, &admin).send().await.unwrap();
    let raised = raised.text().await.unwrap();
    assert!(
        raised.contains("id=\"budget-total\">¥80,000.00") && raised.contains("2026-11 的补偿预算已更新"),
        "{raised}"
    );
    let past = [("csrf", csrf.as_str()), ("month", "2026-10"), ("amount_yuan", "1"), ("reason", "x")];
    let refused = client.post(server.url("/admin/budget")).header(COOKIE, &admin).form(&past).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY, "a month that is over");
    let refused = refused.text().await.unwrap();
    assert_eq!(refused.matches("已经过去").count(), 1, "said once, in Chinese: {refused}");
    assert!(refused.contains("data-back"), "a way back to the form as typed: {refused}");

    // A new agent, whose password is shown once and works.
    let created = client
        .post(server.url("/admin/users"))
        .header(COOKIE, &admin)
        .form(&[("csrf", csrf.as_str()), ("name", "zhao"), ("role", "agent"), ("team", "repair"), ("email", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let html = created.text().await.unwrap();
    let marker = "id=\"new-password\">";
    let password = html.split(marker).nth(1).unwrap().split('<').next().unwrap();
    let zhao = sign_in(&server, "zhao", password).await;
    let refused = client.get(server.url("/admin")).header(COOKIE, &zhao).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN, "agents do not administer");

    // zhao chooses a password of their own on 我的账号 and stays signed in there.
    let account = client.get(server.url("/account")).header(COOKIE, &zhao).send().await.unwrap();
    let zhao_csrf = hidden_field(&account.text().await.unwrap(), "csrf");
    let choose = |new: &'static str, repeat: &'static str| {
        let form = [
            ("csrf", zhao_csrf.clone()),
            ("current", password.to_owned()),
            ("new", new.into()),
            ("repeat", repeat.into()),
        ];
        client.post(server.url("/account/password")).header(COOKIE, &zhao).form(&form).send()
    };
    let mismatch = choose("宽带修好了-2026", "宽带修好了-2027").await.unwrap();
    assert_eq!(mismatch.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(mismatch.text().await.unwrap().contains("两次输入的新密码不一致"));
    let chosen = choose("宽带修好了-2026", "宽带修好了-2026").await.unwrap();
    assert_eq!(chosen.headers()[LOCATION], "/account?changed=1");
    let desk = client.get(server.url("/desk")).header(COOKIE, &zhao).send().await.unwrap();
    assert_eq!(desk.status(), StatusCode::OK, "the page that changed it stays signed in");
    sign_in(&server, "zhao", "宽带修好了-2026").await;

    // 停用 on zhao's row ends their session; 启用 and 重置密码 let them back in.
    let user_action = |html: &str, action: &str| -> String {
        let row = html.split("data-user=\"zhao\"").nth(1).unwrap().split("</tr>").next().unwrap().to_owned();
        let path = row.split("action=\"").find(|p| p.starts_with("/admin/users/") && p.contains(action)).unwrap();
        path.split('"').next().unwrap().to_owned()
    };
    let act =
        |path: String| client.post(server.url(&path)).header(COOKIE, &admin).form(&[("csrf", csrf.as_str())]).send();
    let listed = client.get(server.url("/admin")).header(COOKIE, &admin).send().await.unwrap().text().await.unwrap();
    let deactivated = act(user_action(&listed, "/deactivate")).await.unwrap();
    assert_eq!(deactivated.status(), StatusCode::OK);
    let html = deactivated.text().await.unwrap();
    assert!(html.contains("已停用 zhao") && html.contains("已停用</td>"), "{html}");
    let gone = client.get(server.url("/desk")).header(COOKIE, &zhao).send().await.unwrap();
    assert_eq!(gone.status(), StatusCode::SEE_OTHER, "signed out with the account");
    let activated = act(user_action(&html, "/activate")).await.unwrap().text().await.unwrap();
    assert!(activated.contains("已启用 zhao"), "{activated}");
    let reset = act(user_action(&activated, "/password")).await.unwrap().text().await.unwrap();
    let new_password = reset.split(marker).nth(1).unwrap().split('<').next().unwrap();
    sign_in(&server, "zhao", new_password).await;
    let long_name = "z".repeat(10_000);
    for name in [long_name.as_str(), "a\u{1}b", "zhao wang"] {
        let refused = client
            .post(server.url("/admin/users"))
            .header(COOKIE, &admin)
            .form(&[("csrf", csrf.as_str()), ("name", name), ("role", "agent")])
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY, "{:.20}", name);
        assert!(refused.text().await.unwrap().contains("用户名最多 64 个字符"));
    }
    let taken = client
        .post(server.url("/admin/users"))
        .header(COOKIE, &admin)
        .form(&[("csrf", csrf.as_str()), ("name", "zhao"), ("role", "agent")])
        .send()
        .await
        .unwrap();
    assert_eq!(taken.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(taken.text().await.unwrap().contains("已被使用"));
}

/// `mend demo --serve` at three in the morning: the demo's users sign in with the passwords it
/// printed, and its queue has a call to take even then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_serves_a_desk_with_calls_to_take_at_any_hour() {
    let db = TestDb::sqlite();
    let mut child = db
        .mend()
        .command(&["demo", "--serve", "--now", "2026-11-26T03:00:00+08:00"])
        .env("MEND_HTTP__BIND", "127.0.0.1:0")
        .env("MEND_SCHEDULER__CRON", "false")
        .env("MEND_NOTIFY__SENDER", "false")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mend demo --serve");
    let mut stdout_lines = BufReader::new(child.stdout.take().unwrap()).lines().map_while(Result::ok);
    let password = stdout_lines
        .find_map(|line| {
            line.trim().strip_prefix("demo-agent").map(|rest| rest.split_whitespace().last().unwrap().to_owned())
        })
        .expect("the demo prints the agent's password");
    // Read on, or the demo's next line meets a closed pipe.
    std::thread::spawn(move || stdout_lines.for_each(drop));
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut stderr_lines = stderr.lines().map_while(Result::ok);
    let base_url = stderr_lines
        .find_map(|line| line.strip_prefix("mend is listening on ").map(|u| u.trim().to_owned()))
        .expect("the demo serves");
    std::thread::spawn(move || stderr_lines.for_each(drop));
    let agent = sign_in_at(&base_url, "demo-agent", &password).await;
    let client = no_redirects();
    let desk = client.get(format!("{base_url}/desk")).header(COOKIE, &agent).send().await.unwrap();
    let csrf = hidden_field(&desk.text().await.unwrap(), "csrf");
    let next =
        client.post(format!("{base_url}/desk/next")).header(COOKIE, &agent).form(&[("csrf", &csrf)]).send().await;
    let location = next.unwrap().headers()[LOCATION].to_str().unwrap().to_owned();
    child.kill().ok();
    child.wait().ok();
    assert!(location.starts_with("/desk/tasks/"), "a call to take at 03:00: {location}");
}

fn supervisor_token(mend: &Mend) -> String {
    mend.add_user(&format!("sup-{}", uuid::Uuid::now_v7().simple()), "supervisor")["token"].as_str().unwrap().to_owned()
}

/// chromedriver on a free port, or `None` (saying SKIPPED) where Chromium is not installed
/// outside CI. It runs on the real clock: Chromium does not start under libfaketime.
struct Chromedriver {
    child: Child,
    url: String,
}

impl Chromedriver {
    fn start() -> Option<Self> {
        if !Path::new("/usr/bin/chromedriver").exists() || !Path::new("/usr/bin/chromium").exists() {
            assert!(std::env::var_os("CI").is_none(), "chromium and chromium-driver are required in CI");
            let line = "SKIPPED: the browser tests (apt-get install chromium chromium-driver)\n";
            std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes()).ok();
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut child = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .env_remove("LD_PRELOAD")
            .env_remove("FAKETIME")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        loop {
            let line = lines.next().expect("chromedriver exited before it was ready").unwrap();
            if line.contains("started successfully") {
                break;
            }
        }
        std::thread::spawn(move || lines.for_each(drop));
        Some(Self { child, url: format!("http://127.0.0.1:{port}") })
    }

    async fn browser(&self) -> Client {
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                         "--disable-dev-shm-usage", "--window-size=1366,1000", "--lang=zh-CN"],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector).capabilities(capabilities).connect(&self.url).await.expect("a Chromium session")
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// The page fits a phone's and a tablet's width: nothing makes it scroll sideways (a wide
/// table scrolls in its card, the header wraps whole items), and no header item is broken
/// over lines. Screenshots of both, named after `name`.
async fn fits_a_phone_and_a_tablet(browser: &Client, name: &str) {
    let (width, height) = browser.get_window_size().await.unwrap();
    for (w, h) in [(390, 844), (768, 1024)] {
        browser.set_window_size(w, h).await.unwrap();
        let fits = "return [document.documentElement.scrollWidth, window.innerWidth, [...document.querySelectorAll('body *')]\
                    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1 && !e.closest('.scroll-x'))\
                    .slice(0, 5).map(e => e.outerHTML.slice(0, 120))]";
        let widths = browser.execute(fits, vec![]).await.unwrap();
        assert!(widths[0].as_u64() <= widths[1].as_u64(), "{name} is wider than {w} px: {widths}");
        // An item broken over lines is taller than one line of its text.
        let broken = "return [...document.querySelectorAll('.top nav a, .brand, .who a, .who button, .find button')]\
                      .filter(e => e.getClientRects().length > 1).map(e => e.textContent)";
        let broken = browser.execute(broken, vec![]).await.unwrap();
        assert_eq!(broken, serde_json::json!([]), "{name} at {w} px breaks header items over lines");
        screenshot(browser, &format!("{name}-{w}")).await;
    }
    browser.set_window_size(width as u32, height as u32).await.unwrap();
}

async fn screenshot(browser: &Client, name: &str) {
    let dir = repo_path("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = browser.screenshot().await.expect("a screenshot");
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

/// Waits until the page shows `css` (WebDriver's click returns before the next page has
/// loaded, and a page may fill in parts after it loads).
async fn arrive(browser: &Client, css: &str) -> fantoccini::elements::Element {
    match browser.wait().for_element(Locator::Css(css)).await {
        Ok(element) => element,
        Err(e) => {
            let at = browser.current_url().await.map(|u| u.to_string()).unwrap_or_default();
            panic!("no {css} on {at}: {e}\n{}", browser.source().await.unwrap_or_default());
        }
    }
}

async fn text_of(browser: &Client, css: &str) -> String {
    arrive(browser, css).await.text().await.unwrap()
}

/// Clicks `css` (or presses `keys` in it) and waits for the page that leads to. The page it
/// leaves is marked first: the next page may have the same elements (a case page after a move),
/// and finding them on the old page would race the navigation.
async fn go_on(browser: &Client, css: &str, keys: Option<&str>) {
    browser.execute("document.documentElement.dataset.left = 'yes'", Vec::new()).await.unwrap();
    let element = browser.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no {css}: {e}"));
    match keys {
        Some(keys) => element.send_keys(keys).await.unwrap(),
        None => element.click().await.unwrap(),
    }
    arrive(browser, "html:not([data-left])").await;
}

async fn fill(browser: &Client, css: &str, value: &str) {
    let field = browser.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no {css}: {e}"));
    field.clear().await.unwrap();
    field.send_keys(value).await.unwrap();
}

async fn log_in(browser: &Client, server: &Server, name: &str, password: &str) {
    browser.goto(&server.url("/desk")).await.unwrap();
    assert!(browser.current_url().await.unwrap().path().starts_with("/login"), "the desk asks who you are first");
    fill(browser, "#name", name).await;
    fill(browser, "#password", password).await;
    go_on(browser, "#login", None).await;
    arrive(browser, "#next-task").await;
    assert_eq!(browser.current_url().await.unwrap().path(), "/desk");
}

/// Every visible form field has a label (`<label for>`, a wrapping label or `aria-label`), and
/// nothing is made clickable that the keyboard cannot reach (no handlers on plain elements, no
/// control taken out of the tab order).
async fn assert_accessible(browser: &Client, page: &str) {
    let problems = browser
        .execute(
            r#"
            const out = [];
            for (const f of document.querySelectorAll("input, select, textarea")) {
              if (f.type === "hidden") continue;
              const labelled = (f.id && document.querySelector(`label[for="${f.id}"]`)) || f.closest("label")
                || f.getAttribute("aria-label");
              if (!labelled) out.push(`unlabelled ${f.outerHTML}`);
            }
            for (const el of document.querySelectorAll("a, button, input, select, textarea")) {
              if (el.getAttribute("tabindex") === "-1") out.push(`out of the tab order: ${el.outerHTML}`);
            }
            for (const el of document.querySelectorAll("[onclick]")) out.push(`script-only control: ${el.outerHTML}`);
            if (document.documentElement.lang !== "zh-CN") out.push("the page does not say it is in Chinese");
            return out;
            "#,
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(problems, json!([]), "accessibility problems on {page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_and_a_supervisor_work_a_call_in_the_browser() {
    let Some(driver) = Chromedriver::start() else { return };
    let db = TestDb::sqlite();
    let mend = db.mend();
    let (agent_password, supervisor_password) = desk_with_one_call(&mend);
    let server = mend.serve_at(NOON);
    let browser = driver.browser().await;

    // The agent signs in and takes the next task with the keyboard (N).
    log_in(&browser, &server, "wang", &agent_password).await;
    assert_accessible(&browser, "the workbench").await;
    screenshot(&browser, "1-workbench").await;
    fits_a_phone_and_a_tablet(&browser, "1-workbench").await;
    go_on(&browser, "body", Some("n")).await;
    arrive(&browser, ".timeline").await;
    let task_url = browser.current_url().await.unwrap();
    assert!(task_url.path().starts_with("/desk/tasks/"), "N took the next task: {task_url}");

    // One timeline from both channels, each with why it joined; the script; the full number.
    let timeline = text_of(&browser, ".timeline").await;
    assert!(timeline.contains("热线") && timeline.contains("微信"), "{timeline}");
    assert!(timeline.contains("光猫一直红灯") && timeline.contains("再不修就投诉到工信部"), "{timeline}");
    assert!(timeline.contains("同一问题,并入案件") && timeline.contains("共同词"), "{timeline}");
    let script = text_of(&browser, "#script").await;
    assert!(script.chars().count() > 20, "a rendered script: {script}");
    assert!(text_of(&browser, "#identities").await.contains("13800138000"));
    // The number dials from the page (a softphone takes tel: links), and nobody is told to look
    // for another way to reach a customer who has one.
    let dial = browser.find(Locator::Css("#identities a[href^='tel:']")).await.unwrap();
    assert_eq!(dial.attr("href").await.unwrap().as_deref(), Some("tel:13800138000"));
    assert!(browser.find(Locator::Css("#no-phone")).await.is_err(), "a customer with a phone");
    assert!(text_of(&browser, "#lease").await.contains('分'), "the lease counts down");
    arrive(&browser, "[data-beats]").await; // the open page keeps its lease (a heartbeat went through)
    assert_accessible(&browser, "the case page").await;
    screenshot(&browser, "2-case").await;
    fits_a_phone_and_a_tablet(&browser, "2-case").await;
    // In one column the customer (the number to dial) and the script come before the timeline.
    let (width, height) = browser.get_window_size().await.unwrap();
    browser.set_window_size(390, 844).await.unwrap();
    let tops = "return ['#customer-h', '#script-h', '#outcome-h', '#timeline-h']\
                .map(s => document.querySelector(s).getBoundingClientRect().top)";
    let tops: Vec<f64> = serde_json::from_value(browser.execute(tops, vec![]).await.unwrap()).unwrap();
    assert!(tops.windows(2).all(|w| w[0] < w[1]), "customer, script, outcome, then the timeline: {tops:?}");
    browser.set_window_size(width as u32, height as u32).await.unwrap();

    // An offer above the agent's limit waits for a supervisor.
    let limit = text_of(&browser, "#limit").await;
    let limit = mend_core::Money::from_yuan_text(&limit.replace(',', "")).expect("a limit in yuan");
    // A whole number of yuan, a hundred above the limit.
    let above = (limit.fen() / 100 + 100).to_string();
    browser.find(Locator::Css("#kind")).await.unwrap().select_by_value("bill_credit").await.unwrap();
    fill(&browser, "#amount_yuan", &above).await;
    fill(&browser, "#offer-reason", "断网三天,按规定补偿").await;
    go_on(&browser, "#offer", None).await;
    arrive(&browser, "#offer-notice").await;
    assert!(text_of(&browser, "#offer-notice").await.contains("主管审批"));
    assert!(text_of(&browser, "#case-offers").await.contains("待审批"));
    // The limit on the page is today's: the waiting offer counts against the case's cap.
    let now_left = text_of(&browser, "#limit").await.replace(',', "");
    let left = match now_left.as_str() {
        "¥0.00" => mend_core::Money::ZERO,
        _ => mend_core::Money::from_yuan_text(&now_left).expect("a limit in yuan"),
    };
    assert!(left < limit, "{now_left} after an offer above {limit}");

    // The outcome, sent with Ctrl+Enter from the last field.
    browser.find(Locator::Css("#outcome")).await.unwrap().select_by_value("reached").await.unwrap();
    browser.find(Locator::Css("#resolved")).await.unwrap().click().await.unwrap();
    browser.find(Locator::Css("#satisfaction_after")).await.unwrap().select_by_value("4").await.unwrap();
    // Enter in a field ends nothing (a half-typed outcome was saved so): had it, the outcome
    // below would find no form, and the stored root cause would be empty.
    let enter = char::from(fantoccini::key::Key::Enter).to_string();
    browser.find(Locator::Css("#follow_up_hours")).await.unwrap().send_keys(&enter).await.unwrap();
    fill(&browser, "#root_cause", "分光器端口故障").await;
    fill(&browser, "#suggestion", "光猫红灯超过一天的报修应直接派二线").await;
    // The page opened again (after an offer, an error, signing in again) keeps what was typed.
    browser.goto(task_url.as_str()).await.unwrap();
    arrive(&browser, "#outcome-form").await;
    let kept = browser.find(Locator::Css("#root_cause")).await.unwrap().prop("value").await.unwrap();
    assert_eq!(kept.as_deref(), Some("分光器端口故障"), "the outcome's draft survives a reload");
    assert!(browser.find(Locator::Css("#resolved")).await.unwrap().is_selected().await.unwrap());
    let chord = format!("{}{}", char::from(fantoccini::key::Key::Control), char::from(fantoccini::key::Key::Enter));
    go_on(&browser, "#root_cause", Some(&chord)).await;
    arrive(&browser, "#next-task").await;
    assert_eq!(browser.current_url().await.unwrap().path(), "/desk");
    assert!(text_of(&browser, ".notice").await.contains("已记录回访结果"));
    let case_id = {
        let tasks = mend.run(&["tasks", "export"], b"").json_lines();
        assert_eq!(tasks[0]["status"], "done", "{tasks:?}");
        assert_eq!(tasks[0]["outcome"]["root_cause"], "分光器端口故障");
        tasks[0]["case_id"].as_str().unwrap().to_owned()
    };

    // The supervisor approves it beside the case it is for.
    browser.delete_all_cookies().await.unwrap();
    log_in(&browser, &server, "li", &supervisor_password).await;
    browser.goto(&server.url("/supervisor")).await.unwrap();
    arrive(&browser, "#inbox-h").await;
    let inbox = text_of(&browser, "#inbox-h").await;
    assert!(inbox.contains("(1)"), "{inbox}");
    assert!(text_of(&browser, ".approval-case").await.contains("光猫"));
    assert_accessible(&browser, "the supervisor's page").await;
    screenshot(&browser, "3-supervisor").await;
    fits_a_phone_and_a_tablet(&browser, "3-supervisor").await;
    let reason = browser.find(Locator::Css(".approval input[name=reason]")).await.unwrap();
    reason.send_keys("同意,客户断网时间长").await.unwrap();
    go_on(&browser, "button.approve", None).await;
    arrive(&browser, ".notice").await;
    assert!(text_of(&browser, ".notice").await.contains("已批准"));
    let used = text_of(&browser, "#budget-used").await.replace(',', "");
    assert_eq!(used, format!("¥{above}.00"), "the approval drew on the team's budget");

    // The hot issues of the last two weeks, with the call just made in yesterday's rates.
    browser.goto(&server.url("/dashboard")).await.unwrap();
    arrive(&browser, "svg.bars").await;
    let chart = browser.find(Locator::Css("svg.bars")).await.unwrap().attr("aria-label").await.unwrap();
    assert!(chart.unwrap_or_default().contains("11-26 2 件"), "both complaints on the chart's last day");
    go_on(&browser, "#today", None).await;
    arrive(&browser, "#outcomes-h").await;
    let outcomes = text_of(&browser, "#outcomes-h + dl").await;
    assert!(outcomes.contains("接通率\n100.0%") && outcomes.contains("解决率\n100.0%"), "{outcomes}");
    let satisfaction = text_of(&browser, "#sat-h + dl").await;
    assert!(satisfaction.contains("修复前\n2.0 / 5") && satisfaction.contains("修复后\n4.0 / 5"), "{satisfaction}");
    assert!(text_of(&browser, "#green-h + ul").await.contains("直接派二线"));
    assert_accessible(&browser, "the dashboard").await;
    screenshot(&browser, "4-dashboard").await;
    fits_a_phone_and_a_tablet(&browser, "4-dashboard").await;
    // The day is chosen on the page: a step back from today is yesterday, and a day to come or
    // a mistyped one is said, not silently swapped for yesterday.
    go_on(&browser, "#day-before", None).await;
    arrive(&browser, "#day-after").await;
    assert!(text_of(&browser, "#day-h").await.starts_with("昨天"), "{}", text_of(&browser, "#day-h").await);
    let asked_and_said = [
        ("2099-01-01", "2099-01-01 还没到"),
        ("1999-12-31", "1999-12-31 早于任何报告"),
        ("11-26", "「11-26」不是日期"),
    ];
    for (asked, said) in asked_and_said {
        browser.goto(&server.url(&format!("/dashboard?day={asked}"))).await.unwrap();
        arrive(&browser, "#day-notice").await;
        assert!(text_of(&browser, "#day-notice").await.contains(said), "{asked}");
        assert!(text_of(&browser, "#day-h").await.starts_with("昨天"), "{asked}");
    }

    // The agent sees it approved.
    browser.delete_all_cookies().await.unwrap();
    log_in(&browser, &server, "wang", &agent_password).await;
    browser.goto(&server.url(&format!("/desk/cases/{case_id}"))).await.unwrap();
    arrive(&browser, "#case-offers").await;
    assert!(text_of(&browser, "#case-offers").await.contains("已批准"));
    screenshot(&browser, "5-approved").await;

    // A follow-up that fits two open problems is moved to the other with one click.
    let phone = json!({"phone": "13900139000"});
    mend.import_lines(&lines(&[
        complaint("hotline", "bill-1", "2026-11-25T09:00:00+08:00", phone.clone(),
            "客户反映本机号码十月份账单中出现一笔三十元的国际漫游费用，客户称十月份从未出国，对此扣费不认可，要求核实后退还该笔费用。"),
        complaint("hotline", "bill-2", "2026-11-25T10:00:00+08:00", phone.clone(),
            "客户来电反映本月话费账单多扣了五十元的增值业务费用，客户称从未使用过该业务，对这笔扣费有疑义，要求查明原因并给予答复。"),
        complaint("wechat", "bill-3", "2026-11-26T09:00:00+08:00", phone, "账单还是不对"),
    ]));
    let case_holding = |source: &str| {
        let cases = mend.export_cases();
        let case = cases.iter().find(|c| c["complaints"].as_array().unwrap().iter().any(|d| d["source_id"] == source));
        case.expect("every complaint is in a case")["case_id"].as_str().unwrap().to_owned()
    };
    let joined = case_holding("bill-3");
    browser.goto(&server.url(&format!("/desk/cases/{joined}"))).await.unwrap();
    arrive(&browser, ".timeline").await;
    assert!(text_of(&browser, ".timeline").await.contains("也可能属于"));
    assert_accessible(&browser, "a case page with a close choice").await;
    screenshot(&browser, "6-also-fits").await;
    go_on(&browser, "button[form^=move-]", None).await;
    arrive(&browser, ".timeline").await;
    assert!(!text_of(&browser, ".timeline").await.contains("账单还是不对"), "it left this case");
    let moved_to = case_holding("bill-3");
    assert_ne!(moved_to, joined, "and went to the other one");
    browser.goto(&server.url(&format!("/desk/cases/{moved_to}"))).await.unwrap();
    arrive(&browser, ".timeline").await;
    assert!(
        text_of(&browser, ".timeline").await.contains("由坐席移入本案件"),
        "where it went, it says who put it there"
    );

    // The customer calls in: the number, read out in another shape, finds their two problems.
    fill(&browser, "#find-q", "139 0013 9000").await;
    go_on(&browser, ".find button", None).await;
    let found = text_of(&browser, ".found-customer").await;
    let links = browser.find_all(Locator::Css(".found-customer a[href^='/desk/cases/']")).await.unwrap();
    assert_eq!(links.len(), 2, "both open problems are listed: {found}");
    assert!(found.contains("139****9000") && !found.contains("13900139000"), "the number is masked: {found}");
    assert!(found.contains("国际漫游") && found.contains("增值业务"), "each problem by its first complaint: {found}");
    assert_accessible(&browser, "the search results").await;
    screenshot(&browser, "7-search").await;
    fits_a_phone_and_a_tablet(&browser, "7-search").await;
    go_on(&browser, &format!(".found-customer a[href='/desk/cases/{moved_to}']"), None).await;
    arrive(&browser, ".timeline").await;

    // The administrator's page, with the case's script previewed.
    let admin_password = mend.add_user("root", "admin")["password"].as_str().unwrap().to_owned();
    browser.delete_all_cookies().await.unwrap();
    log_in(&browser, &server, "root", &admin_password).await;
    browser.goto(&server.url("/admin")).await.unwrap();
    arrive(&browser, "#preview-script").await;
    assert_accessible(&browser, "the admin page").await;
    screenshot(&browser, "8-admin").await;
    fits_a_phone_and_a_tablet(&browser, "8-admin").await;
    browser.close().await.unwrap();
}

/// The SLA job escalates late calls; a supervisor's list (page and API) holds those nobody has
/// seen to while the call is still to be made: made, or acknowledged once (by page or API, with
/// an audit entry), an escalation leaves it.
async fn late_calls_wait_for_a_supervisor_until_seen_to_or_made(db: TestDb) {
    let mend = db.mend();
    crate::desk::queue_of(&mend, 3);
    let late = mend.run(&["schedule", "run", "sla_escalation", "--now", "2026-11-30T12:00:00+08:00"], b"").json_lines();
    assert_eq!(late[0]["counts"]["escalated"], 3, "{late:?}");
    let supervisor = mend.add_user("li", "supervisor");
    let (boss, boss_password) = (supervisor["token"].as_str().unwrap(), supervisor["password"].as_str().unwrap());
    let agent = mend.add_user("wang", "agent")["token"].as_str().unwrap().to_owned();
    let server = mend.serve_at("2026-11-30T14:00:00+08:00");

    assert_eq!(server.get_json("/api/v1/escalations", &agent).await.0, StatusCode::FORBIDDEN);
    let (status, all) = server.get_json("/api/v1/escalations", boss).await;
    let open = all.clone();
    assert_eq!(status, StatusCode::OK, "{open}");
    assert_eq!((open["open"].as_i64(), open["escalations"].as_array().map(Vec::len)), (Some(3), Some(3)), "{open}");
    let dues: Vec<&str> =
        all["escalations"].as_array().unwrap().iter().map(|e| e["due_at"].as_str().unwrap()).collect();
    assert!(dues.is_sorted(), "the longest overdue first: {dues:?}");
    let first = server.get_json("/api/v1/escalations?limit=1", boss).await.1;
    assert_eq!((first["open"].as_i64(), first["escalations"].as_array().map(Vec::len)), (Some(3), Some(1)), "{first}");

    // The agent makes one of the late calls: it leaves the list without anyone acknowledging it.
    let call = crate::desk::claim(&server, &agent).await.expect("a late call to make");
    let done = json!({"outcome": "reached", "resolved": true, "satisfaction_after": 4});
    let path = format!("/api/v1/tasks/{}/complete", call["task_id"].as_str().unwrap());
    assert_eq!(crate::desk::post(&server, &path, &agent, done).await.0, StatusCode::OK);
    let open = server.get_json("/api/v1/escalations", boss).await.1;
    let listed: Vec<&str> =
        open["escalations"].as_array().unwrap().iter().map(|e| e["task_id"].as_str().unwrap()).collect();
    assert_eq!(listed.len(), 2, "{open}");
    assert!(!listed.contains(&call["task_id"].as_str().unwrap()), "the call was made: {open}");
    let made = all["escalations"].as_array().unwrap().iter().find(|e| e["task_id"] == call["task_id"]).unwrap();
    let path = format!("/api/v1/escalations/{}/acknowledge", made["escalation_id"].as_str().unwrap());
    let (status, why) = crate::desk::post(&server, &path, boss, json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "nothing left to see to: {why}");
    assert!(why["error"]["message"].as_str().unwrap().contains("was made"), "{why}");

    // Acknowledged once over the API: by whom and when; a second time is refused.
    let id = open["escalations"][0]["escalation_id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/escalations/{id}/acknowledge");
    assert_eq!(crate::desk::post(&server, &path, &agent, json!({})).await.0, StatusCode::FORBIDDEN);
    let (status, seen) = crate::desk::post(&server, &path, boss, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert_eq!(seen["acknowledged_by"], supervisor["user_id"], "{seen}");
    assert_eq!(seen["acknowledged_at"], "2026-11-30T06:00:00Z", "{seen}");
    let (status, again) = crate::desk::post(&server, &path, boss, json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
    let unknown = format!("/api/v1/escalations/{}/acknowledge", uuid::Uuid::now_v7());
    assert_eq!(crate::desk::post(&server, &unknown, boss, json!({})).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        crate::desk::post(&server, "/api/v1/escalations/x/acknowledge", boss, json!({})).await.0,
        StatusCode::BAD_REQUEST
    );
    let audit = server.get_json(&format!("/api/v1/audit?entity=escalation:{id}"), boss).await.1;
    assert_eq!(audit["entries"].as_array().map(Vec::len), Some(1), "{audit}");
    assert_eq!(audit["entries"][0]["actor"], "user:li", "{audit}");

    // The last one is seen to on the page: its button, then the empty list.
    let client = no_redirects();
    let cookie = sign_in(&server, "li", boss_password).await;
    let page =
        client.get(server.url("/supervisor")).header(COOKIE, &cookie).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("超时升级(1)") && page.contains("宽带故障 · "), "the row names the problem: {page}");
    let last = server.get_json("/api/v1/escalations", boss).await.1["escalations"][0]["escalation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let action = format!("/supervisor/escalations/{last}/acknowledge");
    assert!(page.contains(&format!("action=\"{action}\"")), "{page}");
    let posted = client
        .post(server.url(&action))
        .header(COOKIE, &cookie)
        .form(&[("csrf", hidden_field(&page, "csrf").as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(posted.headers()[LOCATION], "/supervisor?done=acknowledged");
    let page =
        client.get(server.url("/supervisor")).header(COOKIE, &cookie).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("超时升级(0)") && page.contains("没有未处理的升级"), "{page}");
    assert_eq!(server.get_json("/api/v1/escalations", boss).await.1["open"], 0);
}
