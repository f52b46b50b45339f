//! Channel-native intake end to end: signed HTTP deliveries, the WeChat callback, channel
//! files through `mend import`, and quarantine with replay — on both databases.

use mend_ingest::sign_body;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Server, TestDb, both_databases, json_response, repo_path};

const SECRET: &str = "hotline-s3cret";

/// The channel server's clock: within WeChat's window of every vector's signed timestamp.
const SIGNED_AT: i64 = 1_795_176_100;

/// `X-Mend-Signature` for `body`, signed at the server's clock.
fn sign(secret: &str, body: &[u8]) -> String {
    sign_body(secret, SIGNED_AT, body)
}

fn wechat_vectors() -> Value {
    serde_json::from_str(&std::fs::read_to_string(repo_path("tests/data/wechat/vectors.json")).unwrap()).unwrap()
}

/// `mend serve` with every channel configured.
fn serve(db: &TestDb) -> Server {
    let v = wechat_vectors();
    db.mend()
        .env("MEND_CHANNELS__HOTLINE__SECRET", SECRET)
        .env("MEND_CHANNELS__BOT__SECRET", "bot-s3cret")
        .env("MEND_CHANNELS__STORE__SECRET", "store-s3cret")
        .env("MEND_WECHAT__TOKEN", v["token"].as_str().unwrap())
        .env("MEND_WECHAT__ENCODING_AES_KEY", v["encoding_aes_key"].as_str().unwrap())
        .env("MEND_WECHAT__APPID", v["appid"].as_str().unwrap())
        .serve_at(&chrono::DateTime::from_timestamp(SIGNED_AT, 0).unwrap().to_rfc3339())
}

async fn deliver(server: &Server, channel: &str, body: &[u8], signature: Option<String>) -> (StatusCode, Value) {
    let mut request = server.client.post(server.url(&format!("/api/v1/ingest/{channel}"))).body(body.to_vec());
    if let Some(signature) = signature {
        request = request.header("X-Mend-Signature", signature);
    }
    json_response(request).await
}

fn call(call_id: &str, satisfaction: &str, notes: &str) -> Vec<u8> {
    json!({
        "call_id": call_id, "caller": "+86 138 0013 8000", "started_at": "2026-11-20 09:12:00",
        "ended_at": "2026-11-20 09:20:31", "agent": "A1024", "satisfaction": satisfaction,
        "complaint": "否", "notes": notes,
    })
    .to_string()
    .into_bytes()
}

async fn complaint_count(db: &TestDb) -> u64 {
    mend_store::totals::totals(db.store().await.connection()).await.unwrap().complaints
}

async fn quarantine_count(db: &TestDb) -> u64 {
    mend_store::totals::totals(db.store().await.connection()).await.unwrap().quarantined
}

async fn metrics(server: &Server) -> String {
    server.client.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap()
}

async fn signed_hotline_calls_are_accepted_once_and_forgeries_refused(db: TestDb) {
    let server = serve(&db);
    let body = call("CC-1", "不满意", "宽带断网两天,上不了网");
    let (status, created) = deliver(&server, "hotline", &body, Some(sign(SECRET, &body))).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["category"], "broadband_outage");

    let (status, again) = deliver(&server, "hotline", &body, Some(sign(SECRET, &body))).await;
    assert_eq!((status, &again["duplicate"]), (StatusCode::OK, &json!(true)), "a retry is a success");
    assert_eq!(again["case_id"], created["case_id"]);

    let forged = call("CC-2", "不满意", "伪造的投诉");
    let (status, error) = deliver(&server, "hotline", &forged, Some(sign("guessed", &forged))).await;
    assert_eq!((status, error["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthorized")));
    let (status, _) = deliver(&server, "hotline", &forged, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = deliver(&server, "hotline", &forged, Some(sign(SECRET, &body))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a signature of another body");
    // A captured request replayed after the window, and a signature without its timestamp.
    let late = sign_body(SECRET, SIGNED_AT - 301, &forged);
    let (status, error) = deliver(&server, "hotline", &forged, Some(late)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(error["error"]["message"].as_str().unwrap().contains("outside the allowed 300 s"), "{error}");
    let untimed = sign(SECRET, &forged).split_once(',').unwrap().1.to_owned();
    let (status, _) = deliver(&server, "hotline", &forged, Some(untimed)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let content = call("CC-3", "满意", "咨询套餐");
    let (status, ignored) = deliver(&server, "hotline", &content, Some(sign(SECRET, &content))).await;
    assert_eq!((status, &ignored["ignored"]), (StatusCode::OK, &json!(true)));

    assert_eq!(complaint_count(&db).await, 1);
    assert_eq!(quarantine_count(&db).await, 0, "forgeries are not stored");
    let metrics = metrics(&server).await;
    assert!(metrics.contains(r#"mend_intake_refused_total{channel="hotline"} 5"#), "{metrics}");
    assert!(metrics.contains(r#"mend_intake_records_total{channel="hotline",outcome="duplicate"} 1"#), "{metrics}");
}

async fn malformed_or_oversized_deliveries_end_in_quarantine_or_a_4xx(db: TestDb) {
    let server = serve(&db);
    let truncated = &call("CC-9", "1", "断网")[..50];
    let (status, error) = deliver(&server, "hotline", truncated, Some(sign(SECRET, truncated))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert!(error["error"]["message"].as_str().unwrap().contains("not valid JSON"));
    assert!(error["error"]["quarantine_id"].is_string());

    let gbk = b"{\"session_id\": \"\xb6\xcf\xcd\xf8\"}";
    let (status, error) = deliver(&server, "bot", gbk, Some(sign("bot-s3cret", gbk))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(error["error"]["message"].as_str().unwrap().contains("UTF-8"), "{error}");

    let (status, _) = deliver(&server, "fax", b"{}", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Last: the server answers 413 without reading the body and drops the connection.
    let huge = vec![b' '; 2 * 1024 * 1024];
    let (status, error) = deliver(&server, "store", &huge, Some(sign("store-s3cret", &huge))).await;
    assert_eq!((status, error["error"]["code"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large")));

    assert_eq!(quarantine_count(&db).await, 2, "both signed, unreadable payloads are kept");
    assert_eq!(complaint_count(&db).await, 0);
}

async fn bot_sessions_and_store_ratings_are_complaints_when_dissatisfied(db: TestDb) {
    let server = serve(&db);
    let sessions = std::fs::read_to_string(repo_path("config/samples/bot.jsonl")).unwrap();
    let mut statuses = Vec::new();
    for line in sessions.lines() {
        statuses.push(deliver(&server, "bot", line.as_bytes(), Some(sign("bot-s3cret", line.as_bytes()))).await.0);
    }
    assert_eq!(statuses, [StatusCode::CREATED, StatusCode::OK, StatusCode::CREATED]);

    let rating = json!({"record_id": "T-1", "store_id": "HZ-XH-012", "counter": "3", "rated_at": "2026-11-21 15:40:09",
        "rating": "非常不满意", "phone": "13800138000", "comment": "营业员态度很差"})
    .to_string();
    let (status, created) =
        deliver(&server, "store", rating.as_bytes(), Some(sign("store-s3cret", rating.as_bytes()))).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["category"], "store_attitude");

    let cases = db.mend().export_cases();
    let customers: std::collections::BTreeSet<&str> =
        cases.iter().map(|c| c["customer_id"].as_str().unwrap()).collect();
    assert_eq!(customers.len(), 2, "the bot user with phone 13800138000 and the store rater are one customer");

    // Rated well, yet saying outright it is a complaint — and threatening the regulator: a
    // complaint, its case at escalation risk.
    let said = json!({"session_id": "bot-20261121-0101", "user": {"user_id": "u-7", "phone": "13700137000"},
        "turns": [{"role": "user", "text": "乱扣我话费,再不退我就打12315", "at": "2026-11-21T09:00:00+08:00"}],
        "rating": "satisfied", "transferred": false})
    .to_string();
    let (status, created) = deliver(&server, "bot", said.as_bytes(), Some(sign("bot-s3cret", said.as_bytes()))).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let admin = db.mend().add_user("admin", "admin");
    let path = format!("/api/v1/cases/{}", created["case_id"].as_str().unwrap());
    let (_, case) = server.get_json(&path, admin["token"].as_str().unwrap()).await;
    assert_eq!(case["escalation_risk"], true, "{case}");
    let slipped = json!({"record_id": "T-2", "store_id": "HZ-XH-012", "rated_at": "2026-11-21 16:00:00",
        "rating": 5, "phone": "13600136000", "comment": "投诉!营业员乱收费"})
    .to_string();
    let (status, _) =
        deliver(&server, "store", slipped.as_bytes(), Some(sign("store-s3cret", slipped.as_bytes()))).await;
    assert_eq!(status, StatusCode::CREATED, "a slip of the finger on the terminal");
}

/// With replies configured, the answer to a push is a message in the customer's chat: sealed
/// and signed in safe mode (WeChat drops a reply whose signature it cannot check), to the
/// sender, from the account. Only a message that opens a case (and WeChat's retries of it) and a
/// complaint-menu choice are answered; anything else gets `success` as before.
async fn a_wechat_customer_hears_back_in_the_chat_when_replies_are_configured(db: TestDb) {
    let v = wechat_vectors();
    let server = db
        .mend()
        .env("MEND_WECHAT__TOKEN", v["token"].as_str().unwrap())
        .env("MEND_WECHAT__ENCODING_AES_KEY", v["encoding_aes_key"].as_str().unwrap())
        .env("MEND_WECHAT__APPID", v["appid"].as_str().unwrap())
        .env("MEND_WECHAT__MENU_REPLY", "请直接说明您遇到的问题")
        .env("MEND_WECHAT__COMPLAINT_REPLY", "已收到,修复团队会尽快联系您")
        .serve_at(&chrono::DateTime::from_timestamp(SIGNED_AT, 0).unwrap().to_rfc3339());
    let token = v["token"].as_str().unwrap();
    let key = mend_ingest::wechat::AesKey::from_encoding_aes_key(v["encoding_aes_key"].as_str().unwrap()).unwrap();
    let vector = &v["vectors"][0];
    let q = |k: &str| vector[k].as_str().unwrap().to_owned();
    let push = || {
        let query = format!(
            "signature={}&timestamp={}&nonce={}&openid=oia2TjjewbmiOUlr6X-1crbLOvLw&encrypt_type=aes&msg_signature={}",
            q("signature"),
            q("timestamp"),
            q("nonce"),
            q("msg_signature")
        );
        server.client.post(server.url(&format!("/wechat/callback?{query}"))).body(q("body")).send()
    };
    let element = |xml: &str, name: &str| {
        let inner = xml.split(&format!("<{name}>")).nth(1).and_then(|rest| rest.split(&format!("</{name}>")).next());
        let inner = inner.unwrap_or_else(|| panic!("no {name} in {xml}"));
        inner.trim_start_matches("<![CDATA[").trim_end_matches("]]>").to_owned()
    };

    let opened = push().await.unwrap();
    assert_eq!(opened.status(), StatusCode::OK);
    let sealed = opened.text().await.unwrap();
    let encrypted = element(&sealed, "Encrypt");
    let signed = [token, &element(&sealed, "TimeStamp"), &element(&sealed, "Nonce"), &encrypted];
    assert!(mend_ingest::wechat::signature_matches(&signed, &element(&sealed, "MsgSignature")), "{sealed}");
    let reply = mend_ingest::wechat::decrypt(&encrypted, &key, v["appid"].as_str().unwrap()).unwrap();
    assert_eq!(element(&reply, "ToUserName"), "oia2TjjewbmiOUlr6X-1crbLOvLw", "{reply}");
    assert_eq!(element(&reply, "FromUserName"), "gh_7f083739789a", "{reply}");
    assert_eq!(element(&reply, "Content"), "已收到,修复团队会尽快联系您", "{reply}");
    // WeChat sends a message again when the answer was slow, and shows only the answer to the
    // last try: that one answers as the first did, and opens no second case.
    let again = push().await.unwrap().text().await.unwrap();
    let reply = mend_ingest::wechat::decrypt(&element(&again, "Encrypt"), &key, v["appid"].as_str().unwrap()).unwrap();
    assert_eq!(element(&reply, "Content"), "已收到,修复团队会尽快联系您", "{reply}");
    assert_eq!(db.mend().export_cases().len(), 1);

    // Plaintext mode, a complaint-menu click: asked to say what the problem is, in clear.
    let (timestamp, nonce) = (SIGNED_AT.to_string(), "menu-1");
    let signature = mend_ingest::wechat::signature(&[token, &timestamp, nonce]);
    let click = format!(
        "<xml><ToUserName>gh_1</ToUserName><FromUserName>oMenu</FromUserName><CreateTime>{SIGNED_AT}</CreateTime>\
         <MsgType>event</MsgType><Event>CLICK</Event><EventKey>COMPLAINT</EventKey></xml>"
    );
    let url = server.url(&format!("/wechat/callback?signature={signature}&timestamp={timestamp}&nonce={nonce}"));
    let clicked = server.client.post(url).body(click).send().await.unwrap();
    assert!(clicked.headers()["content-type"].to_str().unwrap().starts_with("application/xml"));
    let reply = clicked.text().await.unwrap();
    assert_eq!(
        (element(&reply, "ToUserName"), element(&reply, "Content")),
        ("oMenu".into(), "请直接说明您遇到的问题".into())
    );
}

async fn the_wechat_callback_verifies_decrypts_and_answers_success(db: TestDb) {
    let server = serve(&db);
    let v = wechat_vectors();
    let vector = &v["vectors"][0];
    let s = |k: &str| vector[k].as_str().unwrap().to_owned();

    let echo = server
        .client
        .get(server.url(&format!(
            "/wechat/callback?signature={}&timestamp={}&nonce={}&echostr=hello-wechat",
            s("signature"),
            s("timestamp"),
            s("nonce")
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(echo.status(), StatusCode::OK);
    assert_eq!(echo.text().await.unwrap(), "hello-wechat");
    let bad_echo = server
        .client
        .get(server.url("/wechat/callback?signature=00&timestamp=1&nonce=2&echostr=x"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_echo.status(), StatusCode::UNAUTHORIZED);

    let push = |vector: &Value, msg_signature: String| {
        let q = |k: &str| vector[k].as_str().unwrap().to_owned();
        server
            .client
            .post(server.url(&format!(
                "/wechat/callback?signature={}&timestamp={}&nonce={}&openid=oia2TjjewbmiOUlr6X-1crbLOvLw&encrypt_type=aes&msg_signature={msg_signature}",
                q("signature"), q("timestamp"), q("nonce")
            )))
            .body(q("body"))
            .send()
    };
    for vector in v["vectors"].as_array().unwrap() {
        for _ in 0..2 {
            let response = push(vector, vector["msg_signature"].as_str().unwrap().to_owned()).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(response.text().await.unwrap(), "success");
        }
    }
    let forged = push(vector, "0".repeat(40)).await.unwrap();
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);

    // Plaintext mode signs the query only: a captured URL with another body is refused while
    // its timestamp is in the window, and refused as stale after it.
    let plaintext = |timestamp: String, nonce: &str, signature: String, body: &'static str| {
        let query = format!("signature={signature}&timestamp={timestamp}&nonce={nonce}");
        server.client.post(server.url(&format!("/wechat/callback?{query}"))).body(body).send()
    };
    let xxe = "<?xml version=\"1.0\"?><!DOCTYPE xml [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\
               <xml><FromUserName>oX</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&x;</Content></xml>";
    let replayed = plaintext(s("timestamp"), &s("nonce"), s("signature"), xxe).await.unwrap();
    assert_eq!(replayed.status(), StatusCode::UNAUTHORIZED, "the nonce came with the safe-mode body");
    let token = v["token"].as_str().unwrap();
    let signed = |timestamp: &str, nonce: &str| {
        let mut parts = [token, timestamp, nonce];
        parts.sort_unstable();
        hex::encode(<sha1::Sha1 as sha1::Digest>::digest(parts.concat().as_bytes()))
    };
    let stale = (SIGNED_AT - 301).to_string();
    let response = plaintext(stale.clone(), "n-stale", signed(&stale, "n-stale"), xxe).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "signed 301 s before the clock");
    let from_2001 = "1000000000".to_owned();
    let response = plaintext(from_2001.clone(), "n-2001", signed(&from_2001, "n-2001"), xxe).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "signed in 2001");
    // An XXE attempt under a fresh, valid signature: quarantined, still `success`; WeChat's
    // retry of it (same nonce, same body) is answered the same.
    let now = SIGNED_AT.to_string();
    for _ in 0..2 {
        let response = plaintext(now.clone(), "n-xxe", signed(&now, "n-xxe"), xxe).await.unwrap();
        assert_eq!((response.status(), response.text().await.unwrap().as_str()), (StatusCode::OK, "success"));
    }

    let cases = db.mend().export_cases();
    let sources: Vec<&str> = cases
        .iter()
        .flat_map(|c| c["complaints"].as_array().unwrap())
        .map(|d| d["source_id"].as_str().unwrap())
        .collect();
    // The question came after its sender chose the complaint menu: it is the complaint.
    assert_eq!(sources.len(), 2, "a text complaint and the words after a menu choice, each once: {cases:#?}");
    assert!(sources.contains(&"24410000000000001") && sources.contains(&"24410000000000002"), "{sources:?}");
    assert_eq!(quarantine_count(&db).await, 1);
    let metrics = metrics(&server).await;
    assert!(metrics.contains(r#"mend_intake_records_total{channel="wechat",outcome="intent"} 2"#), "{metrics}");
    assert!(metrics.contains(r#"mend_intake_refused_total{channel="wechat"} 5"#), "{metrics}");
}

/// What customers write to the official account after a complaint, or after choosing the
/// complaint menu, names no dissatisfaction of its own; from anyone else it is a question.
async fn a_wechat_conversation_follows_a_case_up_and_the_menu_names_the_complaint(db: TestDb) {
    let server = serve(&db);
    let token = wechat_vectors()["token"].as_str().unwrap().to_owned();
    let pushed = std::cell::Cell::new(0);
    let push = |body: String| {
        pushed.set(pushed.get() + 1);
        let (timestamp, nonce) = (SIGNED_AT.to_string(), format!("n{}", pushed.get()));
        let mut parts = [token.as_str(), timestamp.as_str(), nonce.as_str()];
        parts.sort_unstable();
        let signature = hex::encode(<sha1::Sha1 as sha1::Digest>::digest(parts.concat().as_bytes()));
        let url = server.url(&format!("/wechat/callback?signature={signature}&timestamp={timestamp}&nonce={nonce}"));
        let request = server.client.post(url).body(body).send();
        async move {
            let response = request.await.unwrap();
            (response.status(), response.text().await.unwrap())
        }
    };
    let text = |openid: &str, seconds: i64, content: &str, msg_id: u64| {
        format!(
            "<xml><ToUserName>gh_1</ToUserName><FromUserName>{openid}</FromUserName><CreateTime>{}</CreateTime>\
             <MsgType>text</MsgType><Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>",
            SIGNED_AT + seconds
        )
    };
    let click = |openid: &str, seconds: i64| {
        format!(
            "<xml><ToUserName>gh_1</ToUserName><FromUserName>{openid}</FromUserName><CreateTime>{}</CreateTime>\
             <MsgType>event</MsgType><Event>CLICK</Event><EventKey>COMPLAINT</EventKey></xml>",
            SIGNED_AT + seconds
        )
    };
    let success = (StatusCode::OK, "success".to_owned());
    let messages = [
        text("oAsker", -900, "你好,请问营业厅几点开门", 1),
        text("oAsker", -800, "宽带又断了,报修三天了没人管", 2),
        text("oAsker", -700, "宽带还是不行", 3),
        text("oAsker", -600, "好的", 4),
        text("oAsker", -590, "谢谢师傅,已经修好了,辛苦", 7),
        text("oAsker", -580, "请问营业厅周末几点开门呢", 8),
        // Words about something the open case is not about: a question, not a follow-up.
        text("oAsker", -570, "我想了解一下最近有什么优惠活动", 9),
        // Words about what it is about, with no cue: followed up.
        text("oAsker", -560, "光猫的灯一直在闪烁,宽带用不了", 10),
        click("oMenu", -500),
        text("oMenu", -480, "你好", 11),
        text("oMenu", -440, "这个月话费比上个月多了五十块钱", 5),
        // Chosen 40 minutes before: the choice had lapsed.
        click("oLapsed", -2400),
        text("oLapsed", -100, "这个月话费比上个月多了五十块钱", 6),
    ];
    for message in messages {
        assert_eq!(push(message.clone()).await, success, "{message}");
    }

    let cases = db.mend().export_cases();
    let sources = |case: &Value| -> Vec<String> {
        case["complaints"].as_array().unwrap().iter().map(|c| c["source_id"].as_str().unwrap().to_owned()).collect()
    };
    let mut found: Vec<Vec<String>> = cases.iter().map(sources).collect();
    found.sort();
    // The question before any complaint, the thanks, the click alone and the lapsed choice's
    // words are no complaint; the follow-up joins its case.
    assert_eq!(found, [vec!["2".to_owned(), "3".to_owned(), "10".to_owned()], vec!["5".to_owned()]], "{cases:#?}");
    let menu = cases.iter().find(|c| sources(c) == ["5"]).unwrap();
    assert_eq!(menu["category"], "billing_dispute", "the words say what the problem is: {menu}");
    assert_eq!(menu["escalation_risk"], true, "the complaint menu is a formal complaint: {menu}");
    let metrics = metrics(&server).await;
    assert!(metrics.contains(r#"mend_intake_records_total{channel="wechat",outcome="intent"} 2"#), "{metrics}");
    assert!(metrics.contains(r#"mend_intake_records_total{channel="wechat",outcome="ignored"} 7"#), "{metrics}");

    // The same menu conversation in a file: the greeting after the choice is no complaint there
    // either.
    let file = [
        click("oMenu", -500),
        text("oMenu", -480, "你好", 11),
        text("oMenu", -440, "这个月话费比上个月多了五十块钱", 5),
    ];
    let other = db.sibling().await;
    let summary = other.mend().run(&["import", "--channel", "wechat", "-"], file.join("\n").as_bytes()).json();
    assert_eq!((&summary["accepted"], &summary["ignored"]), (&json!(1), &json!(2)), "{summary}");
    let imported: Vec<Vec<String>> = other.mend().export_cases().iter().map(sources).collect();
    assert_eq!(imported, [vec!["5".to_owned()]]);
}

async fn each_channels_file_imports_with_the_same_summary(db: TestDb) {
    let mend = db.mend();
    let import = |channel: &str, file: &str| {
        let path = repo_path(file);
        mend.run(&["import", "--channel", channel, path.to_str().unwrap()], b"").json()
    };
    let hotline = import("hotline", "config/samples/hotline.csv");
    assert_eq!(
        (&hotline["accepted"], &hotline["ignored"], &hotline["quarantined"], &hotline["records"]),
        (&json!(5), &json!(2), &json!(1), &json!(8)),
        "{hotline}"
    );
    let wechat = import("wechat", "config/samples/wechat.xml");
    assert_eq!(
        (&wechat["accepted"], &wechat["ignored"], &wechat["records"]),
        (&json!(2), &json!(2), &json!(4)),
        "{wechat}"
    );
    let bot = import("bot", "config/samples/bot.jsonl");
    assert_eq!((&bot["accepted"], &bot["ignored"]), (&json!(2), &json!(1)), "{bot}");
    let store = import("store", "config/samples/store.csv");
    assert_eq!((&store["accepted"], &store["ignored"]), (&json!(3), &json!(2)), "{store}");

    let again = import("hotline", "config/samples/hotline.csv");
    assert_eq!((&again["accepted"], &again["duplicates"]), (&json!(0), &json!(5)), "{again}");

    // 13800138000 called the hotline twice about the outage and told the bot the same.
    let cases = mend.export_cases();
    let outage = cases
        .iter()
        .find(|c| c["complaints"].as_array().unwrap().iter().any(|d| d["source_id"] == "CC20261120-0001"))
        .expect("the first call's case");
    let sources: Vec<&str> =
        outage["complaints"].as_array().unwrap().iter().map(|d| d["source_id"].as_str().unwrap()).collect();
    assert!(sources.contains(&"CC20261120-0004") && sources.contains(&"bot-20261120-7781"), "{outage:#}");
    db.assert_consistent().await;
}

/// The chatbot's export imported after the store terminals' though its sessions are older: the
/// cases are those of the other order. A refund asked after in the morning is no follow-up of the
/// store's queue that afternoon, and an outage told to the bot first files the case it began.
async fn channel_files_make_the_same_cases_whichever_is_imported_first(db: TestDb) {
    let later = db.sibling().await;
    let import = |db: &TestDb, channel: &str| {
        let path = repo_path(&format!("config/samples/{channel}.{}", if channel == "bot" { "jsonl" } else { "csv" }));
        db.mend().run(&["import", "--channel", channel, path.to_str().unwrap()], b"").json()
    };
    for channel in ["bot", "store"] {
        import(&db, channel);
    }
    for channel in ["store", "bot"] {
        import(&later, channel);
    }
    let in_time = db.mend().case_partition();
    assert_eq!(later.mend().case_partition(), in_time);
    let refund = in_time.iter().find(|(_, sources)| sources.contains(&"bot-20261121-0012".to_owned()));
    assert_eq!(refund, Some(&("refund_delay".to_owned(), vec!["bot-20261121-0012".to_owned()])), "{in_time:?}");
    later.assert_consistent().await;
}

/// A vendor's GB18030 export with Chinese column names, read first with the wrong settings
/// (everything quarantined, nothing lost), then replayed after the mapping is fixed.
async fn a_misread_export_is_replayed_after_the_fix(db: TestDb) {
    let export = "流水号,主叫号码,开始时间,满意度,是否投诉,备注\n\
                  2026112000017,13800138000,2026/11/20 09:12,不满意,否,宽带又断了\n\
                  2026112000018,13900139000,2026/11/20 09:30,满意,是,乱收费\n";
    let (gbk, _, _) = encoding_rs::GB18030.encode(export);
    let mapped = crate::support::vendor_hotline_columns;
    let first = mapped(db.mend()).run(&["import", "--channel", "hotline", "-"], &gbk).json();
    assert_eq!((&first["quarantined"], &first["accepted"]), (&json!(2), &json!(0)), "{first}");

    let admin = db.mend().add_user("admin", "admin");
    let server = db.mend().serve();
    let (status, listed) =
        server.get_json("/api/v1/quarantine?unresolved=true", admin["token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(items[0]["reason"].as_str().unwrap().contains("gb18030"), "{items:#?}");
    assert_eq!(items[0]["channel"], "hotline-csv");
    // Read as the export was written, not as mojibake.
    assert_eq!(items[0]["raw_encoding"], "gb18030");
    assert!(items[0]["raw"].as_str().is_some_and(|raw| raw.starts_with("流水号,主叫号码")), "{:#}", items[0]);
    let listed = db.mend().run(&["quarantine", "list"], b"").json_lines();
    assert!(listed.iter().all(|q| q["raw_encoding"] == "gb18030" && !q["raw"].as_str().unwrap().contains('\u{fffd}')));
    drop(server);

    let fixed = || mapped(db.mend()).env("MEND_CHANNELS__HOTLINE__CSV__ENCODING", "gb18030");
    let mut results = Vec::new();
    for item in items {
        let out = fixed().run(&["quarantine", "replay", item["quarantine_id"].as_str().unwrap()], b"").json();
        results.push(out["result"].as_str().unwrap().to_owned());
    }
    results.sort();
    assert_eq!(results, ["accepted", "accepted"]);
    let replayed_again =
        fixed().run(&["quarantine", "replay", items[0]["quarantine_id"].as_str().unwrap()], b"").json();
    assert_eq!(replayed_again["result"], "already_resolved");

    let unresolved = db.mend().run(&["quarantine", "list", "--unresolved"], b"");
    assert_eq!(unresolved.stdout.trim(), "", "nothing left to fix");
    assert_eq!(complaint_count(&db).await, 2);
    let partition = db.mend().case_partition();
    assert!(
        partition.iter().any(|(category, sources)| category == "broadband_outage" && sources == &["2026112000017"])
    );
}

/// A call-center export as vendors write one: GB18030 from Excel, numbers kept as text by
/// formulas and apostrophes, a switch's trunk zero and extensions, a three-key IVR survey (1
/// 满意 … 3 不满意) and calls nobody rated, a comma in an unquoted note, a quote never closed, a
/// call id sent again with another text. Every row is accepted, ignored or quarantined with its
/// reason, and a quarantined row reads as the export's text.
async fn a_vendors_export_reads_as_call_centers_write_it(db: TestDb) {
    let export = "流水号,主叫号码,开始时间,满意度,是否投诉,备注\r\n\
                  \"=\"\"2026120600001\"\"\",\"=\"\"13800138000\"\"\",2026/12/06 09:05,未评价,是,宽带又断了\r\n\
                  2026120600002,013900139000,2026/12/06 09:10,3,否,网速太慢\r\n\
                  2026120600003,010-88886666转8001,2026/12/06 09:20,1,否,咨询套餐\r\n\
                  2026120600004,'13700137000,2026/12/06 09:30,2,否,宽带断了,客户很生气\r\n\
                  2026120600002,013900139000,2026/12/06 09:10,3,否,话费多扣了\r\n\
                  2026120600005,13600136000,2026/12/06 09:40,3,否,\"客户说还是不行\r\n\
                  2026120600006,13500135000,2026/12/06 09:50,3,否,没人管\r\n";
    let (gbk, _, _) = encoding_rs::GB18030.encode(export);
    let mend = crate::support::vendor_hotline_columns(db.mend())
        .env("MEND_CHANNELS__HOTLINE__CSV__ENCODING", "gb18030")
        .env("MEND_CHANNELS__HOTLINE__CSV__SATISFACTION_SCALE", "one_is_best")
        .env("MEND_CHANNELS__HOTLINE__CSV__SATISFACTION_POINTS", "3");
    let summary = mend.run(&["import", "--channel", "hotline", "-"], &gbk).json();
    let counts = ["records", "accepted", "ignored", "quarantined", "conflicts"].map(|k| summary[k].as_u64().unwrap());
    assert_eq!(counts, [6, 2, 1, 3, 1], "{summary}");

    use sea_orm::{EntityTrait, QueryOrder};
    let store = db.store().await;
    let stored = mend_store::entities::complaint::Entity::find()
        .order_by_asc(mend_store::entities::complaint::Column::SourceId)
        .all(store.connection())
        .await
        .unwrap();
    let read: Vec<(&str, Option<i16>, bool, &str)> = stored
        .iter()
        .map(|c| (c.source_id.as_str(), c.satisfaction, c.formal_complaint, c.customer_keys.as_str()))
        .collect();
    assert_eq!(read.len(), 2, "{read:?}");
    let first = (read[0].0, read[0].1, read[0].2, read[0].3.contains("13800138000"));
    assert_eq!(first, ("2026120600001", None, true, true), "the formula's digits; flagged, not rated: {read:?}");
    assert_eq!((read[1].0, read[1].1, read[1].3.contains("13900139000")), ("2026120600002", Some(1), true), "{read:?}");

    let reasons: Vec<(String, String)> = mend
        .run(&["quarantine", "list"], b"")
        .json_lines()
        .iter()
        .map(|q| (q["reason"].as_str().unwrap().to_owned(), q["raw"].as_str().unwrap().to_owned()))
        .collect();
    let with = |needle: &str| {
        reasons.iter().find(|(reason, _)| reason.contains(needle)).unwrap_or_else(|| panic!("{needle}: {reasons:?}"))
    };
    // Rows that do not parse keep the export's own bytes (GB18030 here), for a replay.
    assert!(with("a comma in an unquoted field").0.contains("客户很生气"));
    assert!(with("never closed").0.contains("runs over 2 lines that read as rows"));
    let (conflict, raw) = with("conflicting_redelivery");
    assert!(raw.contains("话费多扣了"), "the conflict reads as text, not GB18030 bytes");
    assert!(conflict.starts_with("record 5: "), "the row is named: {conflict}");

    // The same desk's export saved as Excel's "Unicode text": UTF-16 with its mark, tabs.
    let unicode_text = "流水号\t主叫号码\t开始时间\t满意度\t是否投诉\t备注\r\n2026120600007\t13300133000\t2026/12/06 10:00\t3\t否\t宽带又断了,三天了\r\n";
    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend(unicode_text.encode_utf16().flat_map(u16::to_le_bytes));
    let summary = mend.run(&["import", "--channel", "hotline", "-"], &utf16).json();
    assert_eq!((&summary["records"], &summary["accepted"]), (&json!(1), &json!(1)), "{summary}");
}

async fn a_replay_that_still_fails_keeps_the_payload_with_the_new_reason(db: TestDb) {
    let out =
        db.mend().run(&["import", "--channel", "bot", "-"], b"{\"session_id\": \"s1\", \"user\": {}, \"rating\": 1}\n");
    assert_eq!(out.json()["quarantined"], 1);
    let listed = db.mend().run(&["quarantine", "list"], b"").json_lines();
    let id = listed[0]["quarantine_id"].as_str().unwrap();
    let replay = db.mend().run(&["quarantine", "replay", id], b"");
    assert_ne!(replay.status, 0);
    assert!(replay.stdout.contains("still_quarantined"), "{}", replay.stdout);
    assert!(replay.stderr.contains("no usable customer key"), "{}", replay.stderr);
    assert_eq!(quarantine_count(&db).await, 1, "no second copy");
}

both_databases!(
    signed_hotline_calls_are_accepted_once_and_forgeries_refused,
    malformed_or_oversized_deliveries_end_in_quarantine_or_a_4xx,
    bot_sessions_and_store_ratings_are_complaints_when_dissatisfied,
    the_wechat_callback_verifies_decrypts_and_answers_success,
    a_wechat_conversation_follows_a_case_up_and_the_menu_names_the_complaint,
    a_wechat_customer_hears_back_in_the_chat_when_replies_are_configured,
    each_channels_file_imports_with_the_same_summary,
    channel_files_make_the_same_cases_whichever_is_imported_first,
    a_misread_export_is_replayed_after_the_fix,
    a_vendors_export_reads_as_call_centers_write_it,
    a_replay_that_still_fails_keeps_the_payload_with_the_new_reason,
);
