//! Who may do what: every route against every role, browser sessions (sign in, cookie, sign
//! out, expiry), and API tokens that can be replaced.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestDb, both_databases};

both_databases!(every_route_checks_its_role, sessions_sign_in_run_out_and_are_revoked);

/// A desk reached at an `https://` address sets its session cookie `Secure`: never sent in clear.
#[tokio::test]
async fn a_desk_behind_https_keeps_its_sessions_off_plain_http() {
    let db = TestDb::sqlite();
    let mend = db.mend().env("MEND_NOTIFY__PUBLIC_URL", "https://desk.example.com");
    let password = mend.add_user("wang", "agent")["password"].as_str().unwrap().to_owned();
    let server = mend.serve();
    let signed_in =
        server.client.post(server.url("/api/v1/session")).json(&json!({"name": "wang", "password": password}));
    let signed_in = signed_in.send().await.unwrap();
    assert_eq!(signed_in.status(), StatusCode::CREATED);
    let cookie = signed_in.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("mend_session=mend_s_") && cookie.ends_with("; Secure"), "{cookie}");
}

/// The OpenAPI document describes exactly the routes this matrix walks, with the same roles:
/// a route added without its role here (or its description there) fails.
#[tokio::test]
async fn the_openapi_document_covers_every_route_with_its_role() {
    let db = TestDb::sqlite();
    let server = db.mend().serve();
    let response = server.client.get(server.url("/api/v1/openapi.json")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let doc: Value = response.json().await.unwrap();
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")), "{}", doc["openapi"]);
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    assert!(doc["components"]["schemas"]["Error"]["properties"]["error"].is_object());
    let mut documented: Vec<(String, String, Option<String>)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let role = operation["x-mend-role"].as_str().map(str::to_owned);
            assert!(operation["responses"]["4XX"].is_object(), "{method} {path} documents its errors");
            documented.push((method.to_uppercase(), path.clone(), role));
        }
    }
    // A route some callers may use with a query (`?mine=true`) documents the least role.
    let mut least: std::collections::BTreeMap<(String, String), Option<&str>> = std::collections::BTreeMap::new();
    for (method, path, role) in ROUTES {
        let key = (method.to_string(), path.split('?').next().unwrap().to_owned());
        let entry = least.entry(key).or_insert(*role);
        if let (Some(known), Some(role)) = (*entry, role) {
            *entry = Some(if rank(role) < rank(known) { role } else { known });
        }
    }
    let mut expected: Vec<(String, String, Option<String>)> =
        least.into_iter().map(|((method, path), role)| (method, path, role.map(str::to_owned))).collect();
    documented.sort();
    expected.sort();
    assert_eq!(documented, expected);

    // Every request that reads a body says what it reads, by a schema the document holds.
    let bodiless = [
        "DELETE /api/v1/session",
        "POST /api/v1/tasks/claim",
        "POST /api/v1/tasks/{id}/heartbeat",
        "POST /api/v1/users/{id}/activate",
        "POST /api/v1/users/{id}/password",
    ];
    let schema_of = |content: &Value| {
        let reference = content["schema"]["$ref"].as_str()?;
        let name = reference.strip_prefix("#/components/schemas/")?;
        Some(doc["components"]["schemas"][name].clone())
    };
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let route = format!("{} {path}", method.to_uppercase());
            let body = &operation["requestBody"]["content"];
            if method == "get" || bodiless.contains(&route.as_str()) {
                assert!(body.is_null(), "{route} reads no body");
                continue;
            }
            let (media, content) = body.as_object().and_then(|c| c.iter().next()).expect(&route);
            // A body of mend's own by its schema; a channel's own format in words.
            match schema_of(content) {
                Some(schema) => assert_eq!(schema["type"], "object", "{route}: {schema}"),
                None => assert!(content["schema"]["description"].is_string(), "{route} ({media}): {content}"),
            }
        }
    }
    let contact = &doc["paths"]["/api/v1/customers/{id}/contact"]["put"]["requestBody"]["content"]["application/json"];
    let contact = schema_of(contact).unwrap();
    let fields: Vec<&String> = contact["properties"].as_object().unwrap().keys().collect();
    assert_eq!(fields, ["do_not_disturb", "reason", "tier", "timezone"], "{contact}");
    assert_eq!(contact["additionalProperties"], false, "unknown fields are refused: {contact}");
    let outcome = &doc["paths"]["/api/v1/tasks/{id}/complete"]["post"]["requestBody"]["content"]["application/json"];
    let outcome = schema_of(outcome).unwrap();
    let results: Vec<&str> =
        outcome["properties"]["outcome"]["enum"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(results.contains(&"unreachable"), "{outcome}");
    // A body of optional fields may be left out (it reads as `{}`); one with a required field not.
    let required = |method: &str, path: &str| doc["paths"][path][method]["requestBody"]["required"].clone();
    assert_eq!(required("post", "/api/v1/cases/{id}/close"), false);
    assert_eq!(required("post", "/api/v1/cases/{id}/compensations"), true);
    let offer = &doc["components"]["schemas"]["CompensationRequest"];
    assert_eq!(offer["additionalProperties"], false, "{offer}");
    let roles = &doc["components"]["schemas"]["NewUser"]["properties"]["role"]["enum"];
    assert_eq!(roles, &json!(["agent", "supervisor", "admin"]));
}

/// The least role each route needs (`None`: open, or proven by a signature instead).
const ROUTES: &[(&str, &str, Option<&str>)] = &[
    ("GET", "/healthz", None),
    ("GET", "/metrics", None),
    ("GET", "/api/v1/openapi.json", None),
    ("GET", "/wechat/callback", None),
    ("POST", "/wechat/callback", None),
    ("POST", "/api/v1/ingest/{channel}", None),
    ("POST", "/api/v1/session", None),
    ("DELETE", "/api/v1/session", Some("agent")),
    ("PUT", "/api/v1/account/password", Some("agent")),
    ("GET", "/api/v1/users", Some("admin")),
    ("POST", "/api/v1/users", Some("admin")),
    ("POST", "/api/v1/users/{id}/deactivate", Some("admin")),
    ("POST", "/api/v1/users/{id}/activate", Some("admin")),
    ("POST", "/api/v1/users/{id}/password", Some("admin")),
    ("POST", "/api/v1/complaints", Some("agent")),
    ("GET", "/api/v1/cases/{id}", Some("agent")),
    ("POST", "/api/v1/cases/{id}/merge", Some("agent")),
    ("POST", "/api/v1/cases/{id}/split", Some("agent")),
    ("POST", "/api/v1/cases/{id}/move", Some("agent")),
    ("POST", "/api/v1/cases/{id}/close", Some("agent")),
    ("POST", "/api/v1/cases/{id}/compensations", Some("agent")),
    ("POST", "/api/v1/customers/search", Some("agent")),
    ("GET", "/api/v1/customers/{id}", Some("agent")),
    ("POST", "/api/v1/customers/{id}/unmerge", Some("admin")),
    ("PUT", "/api/v1/customers/{id}/temperament", Some("agent")),
    ("PUT", "/api/v1/customers/{id}/contact", Some("agent")),
    ("POST", "/api/v1/identities/link", Some("agent")),
    ("GET", "/api/v1/escalations", Some("supervisor")),
    ("POST", "/api/v1/escalations/{id}/acknowledge", Some("supervisor")),
    ("GET", "/api/v1/reports/queue", Some("supervisor")),
    ("GET", "/api/v1/reports/daily", Some("supervisor")),
    ("GET", "/api/v1/reports/trend", Some("supervisor")),
    ("PUT", "/api/v1/budgets/{month}", Some("admin")),
    ("GET", "/api/v1/jobs", Some("supervisor")),
    ("GET", "/api/v1/audit", Some("supervisor")),
    ("GET", "/api/v1/quarantine", Some("admin")),
    ("GET", "/api/v1/outbox", Some("admin")),
    ("GET", "/api/v1/emails/{kind}/preview", Some("admin")),
    ("GET", "/survey/{token}", None),
    ("POST", "/survey/{token}", None),
    ("GET", "/api/v1/tasks?mine=true", Some("agent")),
    ("GET", "/api/v1/tasks", Some("supervisor")),
    ("POST", "/api/v1/tasks/claim", Some("agent")),
    ("POST", "/api/v1/tasks/{id}/heartbeat", Some("agent")),
    ("POST", "/api/v1/tasks/{id}/release", Some("agent")),
    ("POST", "/api/v1/tasks/{id}/complete", Some("agent")),
    ("GET", "/api/v1/compensations", Some("supervisor")),
    ("POST", "/api/v1/compensations/{id}/approve", Some("supervisor")),
    ("POST", "/api/v1/compensations/{id}/reject", Some("supervisor")),
];

const ROLES: [&str; 3] = ["agent", "supervisor", "admin"];

fn rank(role: &str) -> usize {
    ROLES.iter().position(|r| *r == role).expect("a role")
}

/// Anonymous callers get 401 from every guarded route, lower roles 403, and the role a route
/// needs (or a higher one) gets past the guard (its answer then depends on the request: 2xx,
/// 204, 404 for the made-up id, 409, 422).
async fn every_route_checks_its_role(db: TestDb) {
    let mend = db.mend();
    let tokens: Vec<String> =
        ROLES.iter().map(|r| mend.add_user(&format!("{r}1"), r)["token"].as_str().unwrap().to_owned()).collect();
    let server = mend.serve();
    let id = uuid::Uuid::now_v7().to_string();
    for (method, path, needs) in ROUTES {
        let path = path.replace("{id}", &id);
        let method: Method = method.parse().unwrap();
        let send = |token: Option<&str>| {
            let mut request = server.client.request(method.clone(), server.url(&path)).json(&json!({}));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            async move { request.send().await.expect("request").status() }
        };
        let anonymous = send(None).await;
        let Some(needs) = needs else {
            assert_ne!(anonymous, StatusCode::FORBIDDEN, "{method} {path} is open");
            continue;
        };
        assert_eq!(anonymous, StatusCode::UNAUTHORIZED, "{method} {path} without a token");
        for (role, token) in ROLES.iter().zip(&tokens) {
            let status = send(Some(token)).await;
            if rank(role) < rank(needs) {
                assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path} as {role}");
            } else {
                assert!(
                    status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN && !status.is_server_error(),
                    "{method} {path} as {role} answered {status}"
                );
            }
        }
    }
}

async fn sessions_sign_in_run_out_and_are_revoked(db: TestDb) {
    let mend = db.mend();
    let user = mend.add_user("wang", "agent");
    let password = user["password"].as_str().unwrap();
    let server = mend.serve();
    let sign_in = |name: &str, password: &str| {
        let request =
            server.client.post(server.url("/api/v1/session")).json(&json!({"name": name, "password": password}));
        async move { request.send().await.expect("sign in") }
    };
    assert_eq!(sign_in("wang", "not-it").await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(sign_in("nobody", password).await.status(), StatusCode::UNAUTHORIZED);
    let signed_in = sign_in("wang", password).await;
    assert_eq!(signed_in.status(), StatusCode::CREATED);
    let cookie = signed_in.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("mend_session=mend_s_") && cookie.contains("HttpOnly"), "{cookie}");
    assert!(!cookie.contains("Secure"), "served at http://: a Secure cookie would never come back: {cookie}");
    let body: Value = signed_in.json().await.unwrap();
    assert_eq!(body["expires_at"], "2026-11-26T16:00:00Z", "a 12-hour shift from the server's noon");
    let session = body["token"].as_str().unwrap().to_owned();

    let mine = |token: &str| {
        let request = server.request(Method::GET, "/api/v1/tasks?mine=true", token);
        async move { request.send().await.expect("list").status() }
    };
    assert_eq!(mine(&session).await, StatusCode::OK, "the session token works as a bearer token");
    let cookie_pair = cookie.split(';').next().unwrap().to_owned();
    let by_cookie = server.client.get(server.url("/api/v1/tasks?mine=true")).header("cookie", &cookie_pair);
    assert_eq!(by_cookie.send().await.unwrap().status(), StatusCode::OK, "and as the cookie");

    let late = mend.serve_at("2026-11-27T00:30:00+08:00");
    let after_shift = late.request(Method::GET, "/api/v1/tasks?mine=true", &session).send().await.unwrap();
    assert_eq!(after_shift.status(), StatusCode::UNAUTHORIZED, "the session ran out");

    let out = server.request(Method::DELETE, "/api/v1/session", &session).send().await.unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    assert_eq!(mine(&session).await, StatusCode::UNAUTHORIZED, "signed out");

    let api_token = user["token"].as_str().unwrap();
    assert_eq!(mine(api_token).await, StatusCode::OK);
    let not_a_session = server.request(Method::DELETE, "/api/v1/session", api_token).send().await.unwrap();
    assert_eq!(not_a_session.status(), StatusCode::UNPROCESSABLE_ENTITY, "an API token is not signed out");
    assert_eq!(mine(api_token).await, StatusCode::OK, "and it still works, as the 422 says");
    let replaced = mend.run(&["user", "token", "--name", "wang"], b"").json();
    assert_eq!(mine(api_token).await, StatusCode::UNAUTHORIZED, "the old token stops working");
    assert_eq!(mine(replaced["token"].as_str().unwrap()).await, StatusCode::OK);
}

both_databases!(sign_ins_at_the_same_moment_each_find_their_own_user);

/// Sign-ins are checked in rounds: requests presented together are looked up together, and
/// each still gets its own user (or none), whichever kind of token it showed.
async fn sign_ins_at_the_same_moment_each_find_their_own_user(db: TestDb) {
    let mend = db.mend();
    let lead = mend.add_user("lead", "supervisor");
    let agent = mend.add_user("wang", "agent");
    let old_token = mend.add_user("li", "supervisor")["token"].as_str().unwrap().to_owned();
    mend.run(&["user", "token", "--name", "li"], b"").json();
    let server = mend.serve();
    let session_of = |user: &Value| {
        let request = server.client.post(server.url("/api/v1/session")).json(&json!({
            "name": user["name"], "password": user["password"],
        }));
        async move {
            let answer: Value = request.send().await.expect("sign in").json().await.unwrap();
            answer["token"].as_str().expect("a session token").to_owned()
        }
    };
    let lead_session = session_of(&lead).await;
    let ended_session = session_of(&lead).await;
    let out = server.request(Method::DELETE, "/api/v1/session", &ended_session).send().await.unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);

    let expected = [
        (lead["token"].as_str().unwrap(), StatusCode::OK),
        (lead_session.as_str(), StatusCode::OK),
        (agent["token"].as_str().unwrap(), StatusCode::FORBIDDEN),
        (ended_session.as_str(), StatusCode::UNAUTHORIZED),
        (old_token.as_str(), StatusCode::UNAUTHORIZED),
        ("mend_not-a-token", StatusCode::UNAUTHORIZED),
    ];
    let asks = expected.iter().cycle().take(60).map(|(token, _)| {
        let request = server.request(Method::GET, "/api/v1/compensations?status=pending", token);
        async move { request.send().await.expect("list offers").status() }
    });
    let answers = futures::future::join_all(asks).await;
    for (i, (answer, (_, status))) in answers.iter().zip(expected.iter().cycle()).enumerate() {
        assert_eq!(answer, status, "request {i} (token {})", i % expected.len());
    }

    // Pages are for people who signed in on a page: an API token in the cookie is not a session.
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = |token: &str| {
        let request = client.get(server.url("/desk")).header("cookie", format!("mend_session={token}"));
        async move { request.send().await.expect("the desk page").status() }
    };
    assert_eq!(page(agent["token"].as_str().unwrap()).await, StatusCode::SEE_OTHER);
    assert_eq!(page(&lead_session).await, StatusCode::OK);
}

both_databases!(expired_sign_ins_and_old_idempotency_answers_are_purged);

async fn expired_sign_ins_and_old_idempotency_answers_are_purged(db: TestDb) {
    let mend = db.mend();
    let user = mend.add_user("wang", "agent");
    let server = mend.serve();
    let body = json!({"name": "wang", "password": user["password"]});
    let signed_in = server.client.post(server.url("/api/v1/session")).json(&body).send().await.unwrap();
    assert_eq!(signed_in.status(), StatusCode::CREATED);
    let token = user["token"].as_str().unwrap();
    let keyed = server.request(Method::POST, "/api/v1/tasks/claim", token).header("Idempotency-Key", "k-1");
    assert_eq!(keyed.send().await.unwrap().status(), StatusCode::NO_CONTENT);
    let run = |now: &str| mend.run(&["schedule", "run", "session_purge", "--now", now], b"").json_lines()[0].clone();
    let same_shift = run("2026-11-26T13:00:00+08:00");
    assert_eq!(
        (&same_shift["counts"]["sessions_purged"], &same_shift["counts"]["idempotency_keys_purged"]),
        (&json!(0), &json!(0))
    );
    let next_day = run("2026-11-27T13:00:00+08:00");
    assert_eq!(
        (&next_day["counts"]["sessions_purged"], &next_day["counts"]["idempotency_keys_purged"]),
        (&json!(1), &json!(1))
    );
}
