//! The HTTP API of `mend serve`, through real HTTP, on both databases.

use mend_store::entities::quarantine;
use reqwest::StatusCode;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};

use crate::support::{Server, TestDb, both_databases, complaint, json_response};

async fn post(server: &Server, token: &str, body: impl Into<reqwest::Body>) -> (StatusCode, Value) {
    let request = server.request(reqwest::Method::POST, "/api/v1/complaints", token);
    json_response(request.header("content-type", "application/json").body(body)).await
}

fn token(db: &TestDb) -> String {
    db.mend().add_user("integration", "agent")["token"].as_str().unwrap().to_owned()
}

async fn a_complaint_is_created_then_recognised_as_a_duplicate(db: TestDb) {
    let server = db.mend().serve();
    let token = token(&db);
    let mut body = complaint(
        "wechat",
        "msg-9",
        "2026-11-20T09:12:00+08:00",
        json!({"phone": "13800138000", "name": "张先生", "email": "zhang@example.com"}),
        "宽带又断了",
    );
    body["satisfaction"] = Value::Null;

    let (status, created) = post(&server, &token, body.to_string()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["case_created"], true);
    assert_eq!(created["category"], "broadband_outage");

    let (status, again) = post(&server, &token, body.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["case_id"], created["case_id"]);
    assert_eq!(again["complaint_id"], created["complaint_id"]);

    let (status, case) =
        server.get_json(&format!("/api/v1/cases/{}", created["case_id"].as_str().unwrap()), &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(case["id"], created["case_id"]);
    assert_eq!(case["case_id"], created["case_id"], "named as everywhere else in the contract");
    assert_eq!(case["customer"]["name"], "张先生");
    // Nobody holds the customer's call: the address is shown, not given.
    assert_eq!(case["customer"]["email"], "z***@example.com");
    assert_eq!(case["complaints"][0]["satisfaction"], Value::Null);
    assert_eq!(case["complaints"][0]["received_at"], "2026-11-20T01:12:00Z");
    assert_eq!(case["complaint_count"], 1);
    assert_eq!(case["closed_at"], Value::Null);
    assert_eq!(case["identities"][0]["kind"], "phone");
    assert_eq!(case["complaints"].as_array().unwrap().len(), 1);
    assert_eq!(case["complaints"][0]["text"], "宽带又断了");
    assert_eq!(case["complaints"][0]["grouping_reason"]["decision"], "opened");
    assert_eq!(case["complaints"][0]["grouping_reason"]["matched_terms"], json!(["又断了"]));
    assert!(case.get("signature").is_none(), "no internal encodings: {case}");
}

/// What the case view says of why complaints joined is readable: each term once, and no
/// negative ages for a complaint that arrived after a later one.
async fn the_case_view_shows_readable_reasons(db: TestDb) {
    let server = db.mend().serve();
    let token = token(&db);
    let phone = json!({"phone": "13800138066"});
    let first = complaint("hotline", "r-1", "2026-11-21T09:00:00+08:00", phone.clone(), "宽带又断了,又断了,又断了");
    let (_, created) = post(&server, &token, first.to_string()).await;
    let late = complaint("wechat", "r-2", "2026-11-20T21:00:00+08:00", phone, "宽带又断了");
    let (status, joined) = post(&server, &token, late.to_string()).await;
    assert_eq!((status, &joined["case_id"]), (StatusCode::CREATED, &created["case_id"]), "{joined}");

    let (_, case) = server.get_json(&format!("/api/v1/cases/{}", created["case_id"].as_str().unwrap()), &token).await;
    let reasons: Vec<&Value> = case["complaints"].as_array().unwrap().iter().map(|c| &c["grouping_reason"]).collect();
    assert_eq!(reasons[1]["matched_terms"], json!(["又断了"]), "{case}");
    let late_reason = reasons.iter().find(|r| r["decision"] == "joined").expect("the late complaint joined");
    assert_eq!(late_reason["hours_since_latest"], json!(12.0), "{late_reason}");
    assert_eq!(late_reason["received_before_latest"], json!(true), "{late_reason}");
}

async fn an_invalid_complaint_is_refused_and_quarantined(db: TestDb) {
    let server = db.mend().serve();
    let token = token(&db);
    let body = complaint("hotline", "call-x", "2026-11-20T09:12:00+08:00", json!({"name": "无号码"}), "断网");
    let (status, error) = post(&server, &token, body.to_string()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error["error"]["code"], "invalid_complaint");
    assert!(error["error"]["message"].as_str().unwrap().contains("no usable customer key"));
    let quarantine_id = error["error"]["quarantine_id"].as_str().expect("quarantine id").to_owned();

    let (status, error) = post(&server, &token, "{\"channel\": ").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(error["error"]["message"].as_str().unwrap().contains("not valid JSON"));

    let store = db.store().await;
    let stored = quarantine::Entity::find_by_id(quarantine_id.parse::<uuid::Uuid>().unwrap())
        .one(store.connection())
        .await
        .unwrap()
        .expect("quarantined");
    assert_eq!(stored.raw, body.to_string().into_bytes());
    assert_eq!(quarantine::Entity::find().count(store.connection()).await.unwrap(), 2);
}

/// A NUL character in a posted complaint is a 422 with the field named, on both backends (it
/// was a 500 on PostgreSQL), and the payload waits in quarantine.
async fn a_nul_character_is_refused_with_a_reason(db: TestDb) {
    let server = db.mend().serve();
    let token = token(&db);
    let body = complaint("hotline", "nul", "2026-11-20T09:12:00+08:00", json!({"phone": "13800138000"}), "@")
        .to_string()
        .replace('@', "宽带\\u0000断网");
    let (status, error) = post(&server, &token, body.clone()).await;
    assert_eq!((status, &error["error"]["code"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!("invalid_complaint")));
    assert!(error["error"]["message"].as_str().unwrap().starts_with("text holds a NUL character"), "{error}");
    assert!(error["error"]["quarantine_id"].is_string(), "{error}");
    let (status, created) = post(&server, &token, body.replace("\\u0000", "")).await;
    assert_eq!(status, StatusCode::CREATED);

    // Elsewhere — a reason, a temperament, a form, a path — the request is refused before
    // anything acts on it: JSON for the API, a page for the pages.
    let case = created["case_id"].as_str().unwrap();
    let offer = json!({"kind": "gift", "amount_fen": 100, "reason": "补偿\u{0}"});
    let path = format!("/api/v1/cases/{case}/compensations");
    let (status, error) = json_response(server.request(reqwest::Method::POST, &path, &token).json(&offer)).await;
    assert_eq!((status, &error["error"]["code"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!("invalid_request")));
    assert!(error["error"]["message"].as_str().unwrap().contains("NUL"), "{error}");
    let (status, _) = server.get_json(&format!("/api/v1/cases/{case}%00"), &token).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let form = server.client.post(server.url("/login")).form(&[("name", "wang\u{0}"), ("password", "x")]);
    let page = form.send().await.unwrap();
    assert_eq!(page.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.text().await.unwrap().contains("<html"), "a page for the pages");
    let store = db.store().await;
    let offers = mend_store::compensations::list_compensations(store.connection(), None, None, 10).await.unwrap();
    assert!(offers.is_empty(), "nothing was offered: {offers:?}");
}

async fn an_oversized_body_is_refused_and_nothing_is_stored(db: TestDb) {
    let server = db.mend().serve();
    let token = token(&db);
    let mut body = complaint("hotline", "big", "2026-11-20T09:12:00+08:00", json!({"phone": "13800138000"}), "");
    body["text"] = json!("断".repeat(400_000));
    let (status, error) = post(&server, &token, body.to_string()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error["error"]["code"], "payload_too_large");
    let store = db.store().await;
    assert_eq!(quarantine::Entity::find().count(store.connection()).await.unwrap(), 0);
    assert!(db.mend().export_cases().is_empty());
}

async fn errors_are_json_with_a_4xx(db: TestDb) {
    let server = db.mend().serve();
    let token = token(&db);
    let get = |path: &str| server.request(reqwest::Method::GET, path, &token).send();

    let response = get("/api/v1/cases/01a2080d-e4d3-75f0-af6a-4ad1f2d13918").await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(response.json::<Value>().await.unwrap()["error"]["code"], "not_found");

    let response = get("/api/v1/cases/not-a-uuid").await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.json::<Value>().await.unwrap()["error"]["code"], "bad_request");

    let response = get("/api/v1/complaints").await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.json::<Value>().await.unwrap()["error"]["code"], "method_not_allowed");

    let response = get("/api/v1/tasks?mine=true&due_before=-004714-01-01T00:00:00Z").await.unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "not a time PostgreSQL holds");

    let response = get("/api/v1/cases/%ff").await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.json::<Value>().await.unwrap()["error"]["code"], "bad_request", "an id that is not UTF-8");
    let response = get(&format!("/api/v1/compensations?status={}", "x".repeat(20_000))).await.unwrap();
    let message = response.json::<Value>().await.unwrap()["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.chars().count() <= 501, "a message does not send a long value back: {} chars", message.len());

    let response = get("/no/such/thing").await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    let health: Value = get("/healthz").await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "ok");

    let anonymous =
        server.client.get(server.url("/api/v1/cases/01a2080d-e4d3-75f0-af6a-4ad1f2d13918")).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(anonymous.json::<Value>().await.unwrap()["error"]["code"], "unauthorized");
    let (status, error) =
        json_response(server.request(reqwest::Method::GET, "/api/v1/quarantine", "mend_forged")).await;
    assert_eq!((status, error["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthorized")));
    let (status, error) = server.get_json("/api/v1/quarantine", &token).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden")),
        "agents do not see quarantine"
    );
}

/// Many connections deliver complaints of one known customer about a new problem at once (and
/// each twice): every one of them finds no case to join when it starts, yet the result must be
/// one record per delivery and one case for the one problem.
async fn concurrent_deliveries_of_one_customer_make_one_case(db: TestDb) {
    let server = db.mend().serve();
    let token = token(&db);
    let customer = json!({"phone": "13800138000", "wechat_openid": "oRace"});
    let first = complaint("hotline", "earlier", "2026-11-19T09:00:00+08:00", customer.clone(), "话费乱收费");
    assert_eq!(post(&server, &token, first.to_string()).await.0, StatusCode::CREATED);

    let requests = (0..16).flat_map(|i| {
        let body = complaint(
            ["hotline", "wechat", "bot", "store"][i % 4],
            &format!("race-{i}"),
            &format!("2026-11-20T09:{i:02}:00+08:00"),
            customer.clone(),
            "宽带又断了,上不了网",
        );
        [body.clone(), body]
    });
    let responses = futures::future::join_all(requests.map(|body| post(&server, &token, body.to_string()))).await;
    let created = responses.iter().filter(|(s, _)| *s == StatusCode::CREATED).count();
    let duplicates = responses.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    assert_eq!((created, duplicates), (16, 16), "{responses:?}");

    let cases = db.mend().export_cases();
    let outage: Vec<_> = cases.iter().filter(|c| c["category"] == "broadband_outage").collect();
    assert_eq!(outage.len(), 1, "{cases:#?}");
    assert_eq!(outage[0]["complaints"].as_array().unwrap().len(), 16);
    db.assert_consistent().await;
}

both_databases!(
    a_complaint_is_created_then_recognised_as_a_duplicate,
    an_invalid_complaint_is_refused_and_quarantined,
    a_nul_character_is_refused_with_a_reason,
    the_case_view_shows_readable_reasons,
    an_oversized_body_is_refused_and_nothing_is_stored,
    errors_are_json_with_a_4xx,
    concurrent_deliveries_of_one_customer_make_one_case,
);

/// A client that dribbles its request holds a connection no longer than
/// `http.read_timeout_seconds`: headers that never end close the connection, a body that stalls
/// is answered 408 (JSON, as every error).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stalls_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let db = TestDb::sqlite();
    let mend = db.mend().env("MEND_HTTP__READ_TIMEOUT_SECONDS", "1");
    let token = mend.add_user("wang", "agent")["token"].as_str().unwrap().to_owned();
    let server = mend.serve();
    let address = server.base_url.trim_start_matches("http://").to_owned();
    // Far beyond the server's second: only a server that never cuts the client off reaches it.
    let guard = std::time::Duration::from_secs(60);
    let answer_to = |request: String| {
        let address = address.clone();
        async move {
            let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
            stream.write_all(request.as_bytes()).await.unwrap();
            let mut answer = Vec::new();
            tokio::time::timeout(guard, stream.read_to_end(&mut answer)).await.expect("cut off").unwrap();
            String::from_utf8_lossy(&answer).into_owned()
        }
    };

    let unfinished_headers = answer_to("GET /healthz HTTP/1.1\r\nHost: mend\r\n".into()).await;
    assert!(!unfinished_headers.contains("200 OK"), "{unfinished_headers}");
    let stalled_body = answer_to(format!(
        "POST /api/v1/tasks/claim HTTP/1.1\r\nHost: mend\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"a\""
    ))
    .await;
    assert!(stalled_body.starts_with("HTTP/1.1 408"), "{stalled_body}");
    assert!(stalled_body.contains("\"request_timeout\""), "{stalled_body}");
}
