//! `mend import --channel json`: idempotency and quarantine, on both databases.

use mend_store::entities::quarantine;
use sea_orm::{ConnectionTrait, EntityTrait, QueryOrder};
use serde_json::json;

use crate::support::{TestDb, both_databases, complaint, lines};

fn sample_lines() -> Vec<String> {
    lines(&[
        complaint(
            "hotline",
            "call-1",
            "2026-11-20T09:12:00+08:00",
            json!({"phone": "13800138000"}),
            "宽带又断了,已经报修三次了",
        ),
        complaint("wechat", "msg-1", "2026-11-20T10:00:00+08:00", json!({"wechat_openid": "oA1"}), "网速太慢了"),
        complaint("bot", "sess-1", "2026-11-21T10:00:00+08:00", json!({"phone": "13900139000"}), "话费乱收费"),
        complaint("store", "rate-1", "2026-11-21T11:00:00+08:00", json!({"member_id": "M1"}), "营业员态度很差"),
    ])
}

async fn reimport_is_idempotent(db: TestDb) {
    let mend = db.mend();
    let first = mend.import_lines(&sample_lines());
    assert_eq!(first["accepted"], 4);
    assert_eq!(first["duplicates"], 0);
    assert_eq!(first["cases_created"], 4);
    let cases_before = mend.export_cases();

    let second = mend.import_lines(&sample_lines());
    assert_eq!(
        (
            second["accepted"].as_u64(),
            second["duplicates"].as_u64(),
            second["cases_created"].as_u64(),
            second["cases_updated"].as_u64()
        ),
        (Some(0), Some(4), Some(0), Some(0)),
        "{second}"
    );
    assert_eq!(mend.export_cases(), cases_before, "a re-import changes no case");
}

async fn the_same_delivery_twice_in_one_file_is_one_record(db: TestDb) {
    let mut input = sample_lines();
    input.push(input[0].clone());
    // Same idempotency key, different content: a conflict, kept in quarantine, never recorded.
    input.push(
        complaint("wechat", "msg-1", "2026-11-22T10:00:00+08:00", json!({"wechat_openid": "oB2"}), "别的内容")
            .to_string(),
    );
    let summary = db.mend().import_lines(&input);
    let counts = (summary["accepted"].as_u64(), summary["duplicates"].as_u64(), summary["conflicts"].as_u64());
    assert_eq!(counts, (Some(4), Some(1), Some(1)), "{summary}");
    let complaints: usize = db.mend().export_cases().iter().map(|c| c["complaints"].as_array().unwrap().len()).sum();
    assert_eq!(complaints, 4);
}

/// A hotline complaint line with this satisfaction score.
fn scored(source_id: &str, satisfaction: i64) -> Vec<u8> {
    let mut c = complaint("hotline", source_id, "2026-11-20T09:00:00+08:00", json!({"phone": "13800138000"}), "断网");
    c["satisfaction"] = json!(satisfaction);
    c.to_string().into_bytes()
}

async fn every_kind_of_bad_line_is_quarantined_and_nothing_is_lost(db: TestDb) {
    let good = sample_lines();
    let bad: Vec<(Vec<u8>, &str)> = vec![
        (b"{\"channel\": \"hotline\", \"source_id\": \"cut-".to_vec(), "not valid JSON"),
        (b"{\"channel\": \"hotline\", \"text\": \"\xb6\xcf\xcd\xf8\"}".to_vec(), "not valid UTF-8"),
        (b"[\"not\", \"an\", \"object\"]".to_vec(), "JSON array"),
        (
            complaint("hotline", "no-key", "2026-11-20T09:00:00+08:00", json!({"name": "张先生"}), "断网")
                .to_string()
                .into_bytes(),
            "no usable customer key",
        ),
        (
            complaint("hotline", "bad-phone", "2026-11-20T09:00:00+08:00", json!({"phone": "12345"}), "断网")
                .to_string()
                .into_bytes(),
            "no usable customer key",
        ),
        (
            complaint("fax", "fax-1", "2026-11-20T09:00:00+08:00", json!({"phone": "13800138000"}), "断网")
                .to_string()
                .into_bytes(),
            "unknown channel `fax`",
        ),
        (
            complaint("hotline", "bad-time", "20th of November", json!({"phone": "13800138000"}), "断网")
                .to_string()
                .into_bytes(),
            "`received_at` is invalid",
        ),
        (scored("score-6", 6), "outside 1-5"),
        (scored("score-0", 0), "outside 1-5"),
    ];
    let mut input = Vec::new();
    for (i, line) in good.iter().enumerate() {
        input.extend_from_slice(line.as_bytes());
        input.push(b'\n');
        if let Some((bad_line, _)) = bad.get(i) {
            input.extend_from_slice(bad_line);
            input.extend_from_slice(b"\r\n");
        }
    }
    for (bad_line, _) in bad.iter().skip(good.len()) {
        input.extend_from_slice(bad_line);
        input.push(b'\n');
    }
    input.extend_from_slice(b"\n   \n");

    let out = db.mend().run(&["import", "--channel", "json", "-"], &input);
    let summary = out.json();
    assert_eq!(summary["accepted"], 4, "{summary}");
    assert_eq!(summary["quarantined"].as_u64(), Some(bad.len() as u64), "{summary}");
    let total = summary["accepted"].as_u64().unwrap()
        + summary["duplicates"].as_u64().unwrap()
        + summary["quarantined"].as_u64().unwrap();
    assert_eq!(total, summary["records"].as_u64().unwrap(), "accepted + duplicates + quarantined = records read");
    assert_eq!(total as usize, good.len() + bad.len());

    let store = db.store().await;
    let rows = quarantine::Entity::find().order_by_asc(quarantine::Column::Id).all(store.connection()).await.unwrap();
    assert_eq!(rows.len(), bad.len());
    for (row, (raw, reason)) in rows.iter().zip(&bad) {
        assert_eq!(&row.raw, raw, "quarantine keeps the exact bytes");
        assert!(row.reason.contains(reason), "reason {:?} should mention {reason:?}", row.reason);
        assert_eq!(row.channel, "json");
    }
}

async fn an_unreadable_file_fails_without_touching_the_database(db: TestDb) {
    let out = db.mend().run(&["import", "--channel", "json", "/nonexistent/complaints.jsonl"], b"");
    assert_ne!(out.status, 0);
    assert!(out.stderr.contains("cannot open"), "{}", out.stderr);
    assert!(db.mend().export_cases().is_empty());
}

/// Generated complaints in the order they were received, with redelivered records (each after
/// its first delivery), and the same lines somewhat out of order.
fn synthetic_lines(db: &TestDb) -> (Vec<String>, Vec<String>) {
    use rand::seq::SliceRandom;
    use rand::{RngExt, SeedableRng};

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("synthetic.jsonl");
    let path = file.to_str().unwrap();
    let args =
        ["bench", "generate", "--complaints", "3000", "--customers", "300", "--days", "20", "--synthetic-texts", path];
    assert_eq!(db.mend().run(&args, b"").status, 0);
    let mut lines: Vec<String> = std::fs::read_to_string(&file).unwrap().lines().map(str::to_owned).collect();
    let received = |line: &String| {
        serde_json::from_str::<serde_json::Value>(line).unwrap()["received_at"].as_str().unwrap().to_owned()
    };
    lines.sort_by_cached_key(|line| chrono::DateTime::parse_from_rfc3339(&received(line)).unwrap());
    let mut rng = rand::rngs::SmallRng::seed_from_u64(11);
    for _ in 0..150 {
        let from = rng.random_range(0..lines.len());
        let again = lines[from].clone();
        lines.insert(rng.random_range(from + 1..=lines.len()), again);
    }
    let mut shuffled = lines.clone();
    for window in shuffled.chunks_mut(40) {
        if rng.random_bool(0.3) {
            window.shuffle(&mut rng);
        }
    }
    (lines, shuffled)
}

/// Batch boundaries change what is looked up, cached, pipelined and committed when — never what
/// is decided: the same file in batches of 7 and in one batch makes the same cases. And a batch
/// is decided in the order its complaints were received: the lines out of order in one batch
/// make the same cases again.
async fn batch_boundaries_do_not_change_grouping(db: TestDb) {
    let (lines, shuffled) = synthetic_lines(&db);
    let small = db.mend().env("MEND_IMPORT__BATCH_SIZE", "7").import_lines(&lines);
    let other = db.sibling().await;
    let whole = other.mend().env("MEND_IMPORT__BATCH_SIZE", "100000").import_lines(&lines);
    assert_eq!(small, whole, "the same summary");
    assert_eq!(small["duplicates"], 150);
    assert!(small["cases_created"].as_u64().unwrap() < 2000, "repeat complaints were grouped: {small}");
    assert_eq!(db.mend().case_partition(), other.mend().case_partition());
    let third = db.sibling().await;
    let out_of_order = third.mend().env("MEND_IMPORT__BATCH_SIZE", "100000").import_lines(&shuffled);
    assert_eq!(out_of_order, whole, "the same summary, lines out of order");
    assert_eq!(third.mend().case_partition(), other.mend().case_partition());
    db.assert_consistent().await;
    other.assert_consistent().await;
}

/// A file is read ahead and handed to intake in the order its complaints were received: its
/// lines in any order, across batches of 7, make the cases its lines in time order make in one
/// batch (a vendor's export sorted by agent, two channels' exports joined in one file).
async fn a_files_line_order_does_not_decide_its_cases(db: TestDb) {
    use rand::SeedableRng;
    use rand::seq::SliceRandom;

    let (lines, _) = synthetic_lines(&db);
    let whole = db.mend().env("MEND_IMPORT__BATCH_SIZE", "100000").import_lines(&lines);
    let mut shuffled = lines.clone();
    shuffled.shuffle(&mut rand::rngs::SmallRng::seed_from_u64(23));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("shuffled.jsonl");
    std::fs::write(&file, shuffled.join("\n") + "\n").unwrap();
    let other = db.sibling().await;
    let args = ["import", "--channel", "json", file.to_str().unwrap()];
    let output = other.mend().env("MEND_IMPORT__BATCH_SIZE", "7").run(&args, b"");
    assert_eq!(output.status, 0);
    assert_eq!(output.json(), whole, "the same summary");
    assert_eq!(other.mend().case_partition(), db.mend().case_partition());
    other.assert_consistent().await;
}

/// The stream reads each batch while it records the one before, so it holds the latest back
/// until the next comes — but not while a live pipe waits for more: a batch is in the database
/// before the next line is written.
async fn a_live_pipes_batch_is_recorded_before_the_next_line_comes(db: TestDb) {
    use std::io::{BufRead, Write};

    let customer = json!({"phone": "13800138000"});
    let first = complaint("hotline", "live-1", "2026-11-20T09:00:00+08:00", customer.clone(), "宽带又断了");
    let second = complaint("wechat", "live-2", "2026-11-20T10:00:00+08:00", customer, "宽带还是断的");
    assert_eq!(db.mend().run(&["migrate"], b"").status, 0, "the tables are there before the import runs");
    let mut child = db.mend().env("MEND_IMPORT__BATCH_SIZE", "1").env("MEND_LOG", "mend::import=debug").spawn(&[
        "import",
        "--channel",
        "json",
        "-",
    ]);
    let (logged, log) = std::sync::mpsc::channel();
    let stderr = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    std::thread::spawn(move || stderr.lines().map_while(Result::ok).try_for_each(|line| logged.send(line)));
    let mut input = child.stdin.take().expect("stdin");
    writeln!(input, "{first}").and_then(|()| input.flush()).expect("write the first line");
    // The import says when it has recorded what came and waits for more.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = log.recv_timeout(left).expect("the import waited for more input with the first line recorded");
        if line.contains("waiting for more input") && line.contains("records=1") {
            break;
        }
    }
    let store = db.store().await;
    assert_eq!(scalar(&store, "SELECT COUNT(*) FROM complaints").await, 1, "recorded before the next line came");
    writeln!(input, "{second}").expect("write the second line");
    drop(input);
    let output = child.wait_with_output().expect("mend import ends");
    assert!(output.status.success());
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).expect("a JSON summary");
    assert_eq!((summary["accepted"].as_u64(), summary["cases_created"].as_u64()), (Some(2), Some(1)), "{summary}");
}

/// A key linked earlier in the same import can lead to a customer whose older cases nobody has
/// looked at yet; a late complaint reached through that key must still find them.
async fn a_late_complaint_through_a_fresh_link_finds_older_cases(db: TestDb) {
    let phone = json!({"phone": "13800138000"});
    db.mend().import_lines(&lines(&[complaint("hotline", "day-1", "2026-11-01T09:00:00+08:00", phone, "宽带又断了")]));
    let linked = json!({"phone": "13800138000", "wechat_openid": "oLate"});
    let summary = db.mend().env("MEND_IMPORT__BATCH_SIZE", "1").import_lines(&lines(&[
        complaint("wechat", "day-20", "2026-11-20T09:00:00+08:00", linked, "断网了,上不了网"),
        complaint("bot", "day-5", "2026-11-05T09:00:00+08:00", json!({"wechat_openid": "oLate"}), "宽带又断了"),
    ]));
    assert_eq!(summary["cases_created"], 1, "{summary}");
    let cases = db.mend().case_partition();
    assert!(cases.contains(&("broadband_outage".into(), vec!["day-1".into(), "day-5".into()])), "{cases:?}");
}

/// A long import on SQLite copies the log into the database file beside its transactions. The
/// log stays bounded however many transactions run (with a limit of 0 every commit waits for the
/// copy of its pages, so the log starts over at each transaction), every committed row is kept,
/// and at the end the log is empty and commits checkpoint themselves again. PostgreSQL's server
/// checkpoints on its own: there is no checkpointer.
async fn background_checkpoints_keep_the_log_bounded_and_lose_nothing(db: TestDb) {
    let store = db.store().await;
    let Some(checkpoints) = store.background_checkpoints().await.expect("start") else {
        assert!(db.url.starts_with("postgres"), "only PostgreSQL has no checkpointer");
        return;
    };
    let mut checkpoints = checkpoints.with_log_limit(0);
    assert_eq!(scalar(&store, "PRAGMA wal_autocheckpoint").await, 0, "commits leave checkpoints to the checkpointer");
    let conn = store.connection();
    conn.execute_unprepared("CREATE TABLE scratch (n INTEGER PRIMARY KEY, data BLOB)").await.expect("create");
    let path = db.url.trim_start_matches("sqlite://").split('?').next().expect("a path").to_owned();
    let log = std::path::PathBuf::from(format!("{path}-wal"));
    let log_bytes = || std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
    let (transactions, rows, row_bytes) = (24, 250, 4000);
    let mut largest_log = 0;
    for t in 0..transactions {
        let tx = store.begin_write().await.expect("begin");
        let insert = format!(
            "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {rows}) \
             INSERT INTO scratch (n, data) SELECT {t} * 1000 + i, randomblob({row_bytes}) FROM s"
        );
        tx.execute_unprepared(&insert).await.expect("insert");
        tx.commit().await.expect("commit");
        checkpoints.after_commit().await.expect("checkpoint");
        largest_log = largest_log.max(log_bytes());
    }
    let one_transaction = rows * row_bytes;
    assert!(
        largest_log < 3 * one_transaction,
        "the log grew to {largest_log} bytes; one transaction writes about {one_transaction}"
    );
    checkpoints.finish().await.expect("finish");
    assert_eq!(scalar(&store, "PRAGMA wal_autocheckpoint").await, 8192, "commits checkpoint themselves again");
    assert_eq!(log_bytes(), 0, "the log is empty");
    drop(store);
    let count = scalar(&db.store().await, "SELECT count(*) FROM scratch").await;
    assert_eq!(count, (transactions * rows) as i64);
}

/// A NUL character (U+0000), which PostgreSQL cannot hold in text, is quarantined on both
/// backends alike, in any text field of any channel, and the lines after it are imported.
async fn a_nul_character_is_quarantined_and_the_rest_imported(db: TestDb) {
    let mend = db.mend();
    let at = "2026-11-20T09:00:00+08:00";
    let phone = |n: u32| json!({"phone": format!("1380013{n:04}")});
    let mut canonical = Vec::new();
    for (n, (field, value)) in [
        ("text", "宽带\\u0000断网"),
        ("source_id", "nul\\u0000id"),
        ("name", "张\\u0000三"),
        ("email", "a\\u0000@b.cn"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut c = complaint("hotline", &format!("nul-{n}"), at, phone(n as u32), "宽带断网");
        match field {
            "text" | "source_id" => c[field] = json!("__NUL__"),
            _ => c["customer"][field] = json!("__NUL__"),
        }
        canonical.push(c.to_string().replace("__NUL__", value));
        canonical.push(complaint("hotline", &format!("ok-{n}"), at, phone(100 + n as u32), "宽带断网").to_string());
    }
    canonical.push(
        complaint("hotline", "key", at, json!({"wechat_openid": "__NUL__"}), "断网")
            .to_string()
            .replace("__NUL__", "o\\u0000x"),
    );
    let summary = mend.run(&["import", "--channel", "json", "-"], canonical.join("\n").as_bytes()).json();
    assert_eq!((&summary["accepted"], &summary["quarantined"]), (&json!(4), &json!(5)), "{summary}");

    let csv = "call_id,caller,started_at,ended_at,agent,satisfaction,complaint,notes\n\
               CC-1,13800138200,2026-11-20 09:12:00,,A1,不满意,是,宽带\0断网\n\
               CC-2,13800138201,2026-11-20 09:13:00,,A1,不满意,是,宽带断网两天\n";
    let summary = mend.run(&["import", "--channel", "hotline", "-"], csv.as_bytes()).json();
    assert_eq!((&summary["accepted"], &summary["quarantined"]), (&json!(1), &json!(1)), "{summary}");

    let wechat = |id: u32, content: &str| {
        format!(
            "<xml><ToUserName><![CDATA[gh_x]]></ToUserName><FromUserName><![CDATA[oNul{id}]]></FromUserName>\
             <CreateTime>1795176000</CreateTime><MsgType><![CDATA[text]]></MsgType>\
             <Content><![CDATA[{content}]]></Content><MsgId>9900{id}</MsgId></xml>\n"
        )
    };
    let messages = wechat(1, "宽带又断了\0三天了") + &wechat(2, "宽带又断了,三天了没人管!");
    let summary = mend.run(&["import", "--channel", "wechat", "-"], messages.as_bytes()).json();
    assert_eq!((&summary["accepted"], &summary["quarantined"]), (&json!(1), &json!(1)), "{summary}");

    let store = db.store().await;
    let reasons = quarantine::Entity::find().all(store.connection()).await.unwrap();
    assert_eq!(reasons.len(), 7);
    for q in &reasons {
        // A delivery id or a key was refused for control characters before this rule; still is.
        let reason_says = q.reason.contains("NUL character (U+0000)") || q.reason.contains("control characters");
        assert!(reason_says, "{}", q.reason);
        assert!(!q.reason.contains('\0') && q.raw.contains(&0) == (q.channel != "json"), "{q:?}");
    }
    for field in ["text", "customer.name", "customer.email"] {
        assert!(reasons.iter().any(|q| q.reason.contains(&format!("{field} holds a NUL"))), "no reason names {field}");
    }
    db.assert_consistent().await;
}

/// A line of a file larger than the HTTP intake takes (`http.max_body_bytes`) is quarantined with
/// its first bytes and its size, not stored as a complaint of megabytes; the lines around it are
/// read as ever.
async fn a_record_larger_than_a_request_may_be_is_quarantined_cut_short(db: TestDb) {
    let mend = db.mend().env("MEND_HTTP__MAX_BODY_BYTES", "4096");
    let mut input = sample_lines();
    let huge =
        complaint("bot", "huge", "2026-11-21T10:00:00+08:00", json!({"phone": "13700137000"}), &"断".repeat(5000));
    let huge = huge.to_string();
    input.insert(1, huge.clone());
    let summary = mend.import_lines(&input);
    assert_eq!((&summary["accepted"], &summary["quarantined"]), (&json!(4), &json!(1)), "{summary}");
    let store = db.store().await;
    let kept = quarantine::Entity::find().all(store.connection()).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!((kept[0].raw.len(), kept[0].raw.as_slice()), (4096, &huge.as_bytes()[..4096]));
    assert!(kept[0].reason.contains(&format!("is {} bytes", huge.len() + 1)), "{}", kept[0].reason);
    assert!(kept[0].reason.contains("record 2"), "{}", kept[0].reason);
}

/// Other content under a delivery id already recorded is a conflict, never a silent duplicate:
/// the import counts it, the API answers 409, and the payload waits in quarantine, one record
/// however often it comes. An identical repeat stays a duplicate.
async fn a_redelivery_with_other_content_is_a_conflict(db: TestDb) {
    let mend = db.mend();
    let at = "2026-11-20T09:00:00+08:00";
    let first = complaint("hotline", "call-9", at, json!({"phone": "13800138090"}), "宽带断网");
    let mut other = first.clone();
    other["text"] = json!("话费多扣了");
    let summary = mend.import_lines(&lines(&[first.clone(), first.clone()]));
    assert_eq!(
        (&summary["accepted"], &summary["duplicates"], &summary["conflicts"]),
        (&json!(1), &json!(1), &json!(0))
    );
    for _ in 0..2 {
        let summary = mend.import_lines(&lines(&[other.clone(), first.clone()]));
        let counts = (&summary["duplicates"], &summary["quarantined"], &summary["conflicts"]);
        assert_eq!(counts, (&json!(1), &json!(1), &json!(1)), "{summary}");
    }

    let store = db.store().await;
    let records = quarantine::Entity::find().all(store.connection()).await.unwrap();
    assert_eq!(records.len(), 1, "one record for one payload refused twice: {records:?}");
    let record = &records[0];
    let named = "record 1: conflicting_redelivery: hotline `call-9`";
    assert!(record.reason.starts_with(named), "the line of the file is named: {}", record.reason);
    assert!(record.reason.ends_with("with another text"), "{}", record.reason);
    assert_eq!((record.seen_count, record.raw.clone()), (2, other.to_string().into_bytes()));

    let server = mend.serve();
    let token = mend.add_user("conflicts", "agent")["token"].as_str().unwrap().to_owned();
    let (status, body) = server.post_complaint(&token, &other).await;
    assert_eq!((status, &body["error"]["code"]), (reqwest::StatusCode::CONFLICT, &json!("conflict")), "{body}");
    assert_eq!(body["error"]["quarantine_id"], json!(record.id.to_string()), "the record it already has");
    let (status, body) = server.post_complaint(&token, &first).await;
    assert_eq!((status, &body["duplicate"]), (reqwest::StatusCode::OK, &json!(true)), "{body}");
    let record = quarantine::Entity::find_by_id(record.id).one(store.connection()).await.unwrap().unwrap();
    assert_eq!(record.seen_count, 3);
    assert_eq!(mend.export_cases()[0]["complaints"].as_array().unwrap().len(), 1, "nothing recorded twice");
    db.assert_consistent().await;
}

/// A file imported twice does not quarantine its bad lines twice; purge removes what is old.
async fn quarantine_counts_repeats_and_purges_old_records(db: TestDb) {
    let mend = db.mend();
    let file = [
        complaint("hotline", "fine", "2026-11-20T09:00:00+08:00", json!({"phone": "13800138091"}), "宽带断网")
            .to_string(),
        "{\"channel\": \"hotline\", \"source_id\": \"cut-".to_owned(),
    ];
    for _ in 0..2 {
        mend.run(&["import", "--channel", "json", "-"], file.join("\n").as_bytes()).json();
    }
    // The same bad line at another place in a file is the same payload.
    mend.run(&["import", "--channel", "json", "-"], file[1].as_bytes()).json();
    let listed = mend.run(&["quarantine", "list"], b"").json_lines();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["seen_count"], 3);
    assert!(listed[0]["reason"].as_str().unwrap().starts_with("record 1: payload is not valid JSON"), "{}", listed[0]);

    let purge = |args: &[&str]| mend.run(&[&["quarantine", "purge"], args].concat(), b"").json();
    for slip in ["0", "2m"] {
        let refused = mend.run(&["quarantine", "purge", "--older-than", slip], b"");
        assert_eq!(refused.status, 2, "an age under an hour would purge what was just refused");
        assert!(refused.stderr.contains("under an hour"), "{}", refused.stderr);
    }
    assert_eq!(purge(&["--older-than", "1d", "--now", "2026-11-20T00:00:00+08:00"])["purged"], 0);
    // A clock far off is a typo that would purge everything: refused before anything runs.
    let typo = mend.run(&["quarantine", "purge", "--older-than", "1d", "--now", "9999-12-31T00:00:00Z"], b"");
    assert_eq!(typo.status, 2, "{}", typo.stderr);
    assert!(typo.stderr.contains("between the years 2000 and 2099"), "{}", typo.stderr);
    assert_eq!(mend.run(&["quarantine", "list"], b"").json_lines().len(), 1);
    // Days ahead of the machine's clock is allowed, and said.
    let far = (chrono::Utc::now() + chrono::Duration::days(2)).to_rfc3339();
    let ahead = mend.run(&["quarantine", "purge", "--older-than", "1d", "--now", &far], b"");
    assert!(ahead.stderr.contains("ahead of this machine's clock"), "{}", ahead.stderr);
    assert_eq!(ahead.json()["purged"], 1);
    assert!(mend.run(&["quarantine", "list"], b"").json_lines().is_empty());
}

/// A `received_at` far ahead of the clock or before the earliest accepted date is quarantined
/// with the reason, by the import and by the API alike; within the skew it is taken.
async fn a_received_at_out_of_bounds_is_quarantined(db: TestDb) {
    let mend = db.mend();
    let at = |id: &str, when: &str| complaint("hotline", id, when, json!({"phone": "13800138092"}), "宽带断网");
    let summary = mend.import_lines(&lines(&[
        at("y9999", "9999-12-31T23:00:00+08:00"),
        at("y2099", "2099-01-01T09:00:00+08:00"),
        at("y0001", "0001-01-01T09:00:00+08:00"),
        at("y1999", "1999-12-31T09:00:00+08:00"),
        at("fine", "2026-11-20T09:00:00+08:00"),
    ]));
    assert_eq!((&summary["accepted"], &summary["quarantined"]), (&json!(1), &json!(4)), "{summary}");
    let reasons: Vec<String> = mend
        .run(&["quarantine", "list"], b"")
        .json_lines()
        .iter()
        .map(|q| q["reason"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(reasons.iter().filter(|r| r.contains("intake.max_clock_skew_seconds")).count(), 2, "{reasons:?}");
    assert_eq!(reasons.iter().filter(|r| r.contains("intake.earliest_received_at")).count(), 2, "{reasons:?}");

    // The server's clock stands at SERVER_NOW: 23 hours ahead is a clock off, 25 is refused.
    let server = mend.serve();
    let token = mend.add_user("skew", "agent")["token"].as_str().unwrap().to_owned();
    let ahead = |hours: i64| (crate::support::server_now() + chrono::Duration::hours(hours)).to_rfc3339();
    let (status, body) = server.post_complaint(&token, &at("ahead-25", &ahead(25))).await;
    assert_eq!(status, reqwest::StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("ahead of mend's clock"), "{body}");
    let (status, body) = server.post_complaint(&token, &at("ahead-23", &ahead(23))).await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{body}");
}

/// A record the database itself refuses (here a trigger that says no to one text) never takes
/// the rest of its batch or file with it: it is quarantined with the database's reason, the
/// import goes on and counts it, and the API answers 422 instead of 500.
async fn a_record_the_database_refuses_is_quarantined_and_the_rest_recorded(db: TestDb) {
    let store = db.store().await;
    store.migrate().await.unwrap();
    let conn = store.connection();
    let triggers: &[&str] = match conn.get_database_backend() {
        sea_orm::DbBackend::Postgres => &[
            "CREATE FUNCTION refuse_boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             IF NEW.text LIKE '%BOOM%' THEN RAISE EXCEPTION 'refused by the test trigger' USING ERRCODE = '22023'; \
             END IF; RETURN NEW; END $$",
            "CREATE TRIGGER refuse_boom BEFORE INSERT ON complaints FOR EACH ROW EXECUTE FUNCTION refuse_boom()",
        ],
        _ => &["CREATE TRIGGER refuse_boom BEFORE INSERT ON complaints WHEN NEW.text LIKE '%BOOM%' \
                BEGIN SELECT RAISE(ABORT, 'refused by the test trigger'); END"],
    };
    for sql in triggers {
        conn.execute_unprepared(sql).await.unwrap();
    }
    let file: Vec<serde_json::Value> = (0..30)
        .map(|i| {
            let text = if i == 15 { "宽带断网 BOOM" } else { "宽带断网" };
            complaint(
                "hotline",
                &format!("b-{i}"),
                "2026-11-20T09:00:00+08:00",
                json!({"phone": format!("1380013{i:04}")}),
                text,
            )
        })
        .collect();
    let mend = db.mend().env("MEND_IMPORT__BATCH_SIZE", "7");
    let summary = mend.import_lines(&lines(&file));
    let counts = (&summary["accepted"], &summary["quarantined"], &summary["records"]);
    assert_eq!(counts, (&json!(29), &json!(1), &json!(30)), "{summary}");
    let listed = mend.run(&["quarantine", "list"], b"").json_lines();
    assert_eq!(listed.len(), 1);
    let reason = listed[0]["reason"].as_str().unwrap();
    assert!(reason.contains("the database refused it") && reason.contains("refused by the test trigger"), "{reason}");
    assert!(listed[0]["raw"].as_str().unwrap().contains("BOOM"));

    let server = mend.serve();
    let token = mend.add_user("refusals", "agent")["token"].as_str().unwrap().to_owned();
    let boom = complaint("hotline", "b-api", "2026-11-20T09:00:00+08:00", json!({"phone": "13900139000"}), "BOOM");
    let (status, body) = server.post_complaint(&token, &boom).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (reqwest::StatusCode::UNPROCESSABLE_ENTITY, &json!("invalid_complaint"))
    );
    assert!(body["error"]["quarantine_id"].is_string(), "{body}");
    assert_eq!(mend.export_cases().len(), 29);
    db.assert_consistent().await;
}

/// The one number a statement answers.
pub(crate) async fn scalar(store: &mend_store::Store, sql: &str) -> i64 {
    let conn = store.connection();
    let row = conn.query_one_raw(sea_orm::Statement::from_string(conn.get_database_backend(), sql)).await;
    row.expect("query").expect("a row").try_get_by_index::<i64>(0).expect("a number")
}

both_databases!(
    a_record_larger_than_a_request_may_be_is_quarantined_cut_short,
    a_nul_character_is_quarantined_and_the_rest_imported,
    a_record_the_database_refuses_is_quarantined_and_the_rest_recorded,
    a_received_at_out_of_bounds_is_quarantined,
    a_redelivery_with_other_content_is_a_conflict,
    quarantine_counts_repeats_and_purges_old_records,
    background_checkpoints_keep_the_log_bounded_and_lose_nothing,
    batch_boundaries_do_not_change_grouping,
    a_files_line_order_does_not_decide_its_cases,
    a_late_complaint_through_a_fresh_link_finds_older_cases,
    a_live_pipes_batch_is_recorded_before_the_next_line_comes,
    reimport_is_idempotent,
    the_same_delivery_twice_in_one_file_is_one_record,
    every_kind_of_bad_line_is_quarantined_and_nothing_is_lost,
    an_unreadable_file_fails_without_touching_the_database,
);

both_databases!(an_import_stands_at_its_now);

/// `mend import --now` runs on that clock, not the system's: keys are linked at it, and a
/// complaint received more than a day after it is refused as ahead of the clock.
async fn an_import_stands_at_its_now(db: TestDb) {
    let mend = db.mend();
    let customer = json!({"phone": "13912345678"});
    let said = complaint("hotline", "call-1", "2026-11-26T10:00:00+08:00", customer.clone(), "宽带断网,一直连不上");
    let later = complaint("hotline", "call-2", "2026-11-28T10:00:00+08:00", customer, "宽带还是断网");
    let mut input = lines(&[said, later]).join("\n");
    input.push('\n');
    let summary =
        mend.run(&["import", "--channel", "json", "-", "--now", "2026-11-26T12:00:00+08:00"], input.as_bytes());
    let summary = summary.json();
    assert_eq!((summary["accepted"].as_u64(), summary["quarantined"].as_u64()), (Some(1), Some(1)), "{summary}");
    let case = &mend.export_cases()[0];
    let customer_id: mend_core::CustomerId = case["customer_id"].as_str().unwrap().parse().unwrap();
    let store = db.store().await;
    let keys = mend_store::customers::identities_of_customers(store.connection(), &[customer_id]).await.unwrap();
    let linked: Vec<String> = keys[&customer_id].iter().map(|k| k.linked_at.to_rfc3339()).collect();
    assert_eq!(linked, ["2026-11-26T04:00:00+00:00"]);
}
