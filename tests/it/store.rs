//! The store's own promises: the rows it writes fit the migrated schema, a stored value that
//! does not parse names its row, and a failed statement names its operation and table.

use sea_orm::{ConnectionTrait, Statement};

use serde_json::json;

use crate::support::{TestDb, both_databases, complaint, lines};

both_databases!(
    written_rows_match_the_migrated_schema,
    an_unreadable_stored_value_names_its_row,
    a_failed_statement_names_its_operation_and_table,
    a_conflict_reaching_the_api_asks_for_the_request_again,
    emails_queued_before_the_sender_existed_are_due_after_the_upgrade,
    a_survey_made_when_a_case_had_one_keeps_its_email_after_the_upgrade,
);

/// An outbox row queued before the migration that added the sender's columns has no
/// `next_attempt_at`; the upgrade makes it due since it was queued, or it would wait forever.
async fn emails_queued_before_the_sender_existed_are_due_after_the_upgrade(db: TestDb) {
    use mend_migration::MigratorTrait;
    let old = db.unmigrated_sibling().await;
    let conn = sea_orm::Database::connect(&old.url).await.unwrap();
    let email = mend_migration::Migrator::migrations()
        .iter()
        .position(|m| m.name() == "m20261203_000010_email_delivery")
        .expect("the email migration is listed");
    let before_email = u32::try_from(email).unwrap();
    mend_migration::Migrator::up(&conn, Some(before_email)).await.unwrap();
    let backend = conn.get_database_backend();
    let (id, at) = match backend {
        sea_orm::DbBackend::Postgres => ("$1", "$2"),
        _ => ("?", "?"),
    };
    let queued_at = chrono::DateTime::parse_from_rfc3339("2026-11-20T09:00:00+08:00").unwrap().to_utc();
    let insert = format!(
        "INSERT INTO outbox (id, kind, dedupe_key, to_address, subject, body, status, attempts, created_at) \
         VALUES ({id}, 'survey', 'survey:old', 'old@example.com', 's', 'b', 'queued', 0, {at})"
    );
    let values = [uuid::Uuid::now_v7().into(), queued_at.into()];
    conn.execute_raw(Statement::from_sql_and_values(backend, insert, values)).await.unwrap();
    mend_migration::Migrator::up(&conn, None).await.unwrap();
    conn.close().await.unwrap();

    let store = old.store().await;
    let queued = mend_store::outbox::emails(store.connection(), None, 10).await.unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].next_attempt_at, Some(queued_at), "due since it was queued");
}

/// A survey made when a case had one survey, and its queued email, from before surveys were per
/// closing: the upgrade ties the survey to the case's closing and the email to the survey, so the
/// survey job finds them again (no second survey, no second email) and the sender can tell
/// whether the survey still stands.
async fn a_survey_made_when_a_case_had_one_keeps_its_email_after_the_upgrade(db: TestDb) {
    use mend_migration::MigratorTrait;
    let old = db.unmigrated_sibling().await;
    let conn = sea_orm::Database::connect(&old.url).await.unwrap();
    let per_closing = mend_migration::Migrator::migrations()
        .iter()
        .position(|m| m.name() == "m20261207_000020_surveys_per_closing")
        .expect("the migration is listed");
    mend_migration::Migrator::up(&conn, Some(u32::try_from(per_closing).unwrap())).await.unwrap();
    let store = old.store().await;
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-26T09:00:00+08:00").unwrap().to_utc();
    let mut complained =
        complaint("hotline", "s-1", "2026-11-25T09:00:00+08:00", json!({"phone": "13800138000"}), "话费多扣了");
    complained["customer"]["email"] = json!("wang@example.com");
    let report = crate::support::intake().record(&store, &[crate::support::delivery(complained)], now).await.unwrap();
    let mend_cases::Outcome::Accepted { case_id: case, .. } = report.outcomes[0] else { panic!("{report:?}") };
    let closed = crate::support::intake().close_case(&store, case, "已退款", "user:li", now).await.unwrap();
    // Another customer's case, closed again since its survey was made: the survey asked about
    // the closing before.
    let other = complaint("hotline", "s-2", "2026-11-24T09:00:00+08:00", json!({"phone": "13900139000"}), "宽带断网了");
    let report = crate::support::intake().record(&store, &[crate::support::delivery(other)], now).await.unwrap();
    let mend_cases::Outcome::Accepted { case_id: reclosed, .. } = report.outcomes[0] else { panic!("{report:?}") };
    crate::support::intake().close_case(&store, reclosed, "已修复", "user:li", now).await.unwrap();
    let (survey, email) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    let backend = conn.get_database_backend();
    let p = |n: usize| match backend {
        sea_orm::DbBackend::Postgres => format!("${n}"),
        _ => "?".to_owned(),
    };
    let made = format!(
        "INSERT INTO surveys (id, case_id, created_at, expires_at) VALUES ({}, {}, {}, {})",
        p(1),
        p(2),
        p(3),
        p(4)
    );
    let values = [survey.into(), case.as_uuid().into(), now.into(), (now + chrono::Duration::days(14)).into()];
    conn.execute_raw(Statement::from_sql_and_values(backend, made.clone(), values)).await.unwrap();
    let earlier = now - chrono::Duration::days(3);
    let values = [uuid::Uuid::now_v7().into(), reclosed.as_uuid().into(), earlier.into(), now.into()];
    conn.execute_raw(Statement::from_sql_and_values(backend, made, values)).await.unwrap();
    let queued = format!(
        "INSERT INTO outbox (id, kind, dedupe_key, case_id, to_address, subject, body, status, attempts, created_at, \
         next_attempt_at) VALUES ({}, 'survey', {}, {}, 'wang@example.com', 's', 'b', 'queued', 0, {}, {})",
        p(1),
        p(2),
        p(3),
        p(4),
        p(5)
    );
    let values = [email.into(), format!("survey:{case}").into(), case.as_uuid().into(), now.into(), now.into()];
    conn.execute_raw(Statement::from_sql_and_values(backend, queued, values)).await.unwrap();
    mend_migration::Migrator::up(&conn, None).await.unwrap();
    conn.close().await.unwrap();

    let conn = store.connection();
    let surveys = mend_store::surveys::surveys_of_cases(conn, &[case]).await.unwrap();
    assert_eq!((surveys.len(), surveys[0].closed_at), (1, closed.closed_at), "{surveys:?}");
    let earlier = mend_store::surveys::surveys_of_cases(conn, &[reclosed]).await.unwrap();
    assert_eq!(earlier[0].closed_at, None, "made before the closing that stands: {earlier:?}");
    let again = mend_store::surveys::survey_for_case(conn, case, closed.closed_at.unwrap(), now, now).await.unwrap();
    assert_eq!(again.survey_id.as_uuid(), survey, "the closing's survey is the one made before");
    let emails = mend_store::outbox::emails(conn, None, 10).await.unwrap();
    assert_eq!(emails[0].survey_id.map(mend_core::SurveyId::as_uuid), Some(survey));
    assert_eq!(emails[0].dedupe_key, format!("survey:{survey}"), "the key a survey job makes now");
}

/// Each column a bulk row writes exists, and a row never writes NULL where the schema refuses it.
async fn written_rows_match_the_migrated_schema(db: TestDb) {
    let store = db.store().await;
    store.migrate().await.unwrap();
    let conn = store.connection();
    for (table, columns) in mend_store::written_columns() {
        let (sql, values) = match store.backend() {
            mend_store::Backend::Postgres => (
                "SELECT column_name::text, (is_nullable = 'YES') FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = $1",
                vec![table.into()],
            ),
            mend_store::Backend::Sqlite => {
                ("SELECT name, \"notnull\" = 0 FROM pragma_table_info(?1)", vec![table.into()])
            }
        };
        let rows =
            conn.query_all_raw(Statement::from_sql_and_values(conn.get_database_backend(), sql, values)).await.unwrap();
        let schema: std::collections::HashMap<String, bool> =
            rows.iter().map(|r| (r.try_get_by_index(0).unwrap(), r.try_get_by_index(1).unwrap())).collect();
        assert!(!schema.is_empty(), "table {table} is missing");
        for (column, may_be_null) in columns {
            let accepts_null = *schema.get(column).unwrap_or_else(|| panic!("{table}.{column} is not in the schema"));
            assert!(!may_be_null || accepts_null, "{table}.{column} may be written NULL but the schema refuses it");
        }
    }
}

/// A value the database holds that is not what it must be is an error that names the table and
/// the row, never a default (a case status, a customer's zone).
async fn an_unreadable_stored_value_names_its_row(db: TestDb) {
    let mend = db.mend();
    mend.import_lines(&crate::support::lines(&[crate::support::complaint(
        "hotline",
        "call-1",
        "2026-11-20T09:00:00+08:00",
        serde_json::json!({"phone": "13800138000"}),
        "宽带断了",
    )]));
    let store = db.store().await;
    let conn = store.connection();
    let case = mend_store::cases::largest_case(conn).await.unwrap().expect("a case");
    let customer = mend_store::cases::case_by_id(conn, case).await.unwrap().unwrap().customer_id;

    conn.execute_unprepared("UPDATE cases SET fingerprint = 'not hex!'").await.unwrap();
    let err = mend_store::cases::case_by_id(conn, case).await.unwrap_err().to_string();
    assert!(err.contains("cases") && err.contains(&case.to_string()) && err.contains("fingerprint"), "{err}");
    conn.execute_unprepared("UPDATE cases SET fingerprint = ''").await.unwrap();

    conn.execute_unprepared("UPDATE cases SET status = 'paused'").await.unwrap();
    let err = mend_store::cases::case_by_id(conn, case).await.unwrap_err().to_string();
    assert!(err.contains("cases") && err.contains(&case.to_string()) && err.contains("paused"), "{err}");

    conn.execute_unprepared("UPDATE customers SET timezone = 'Mars/Olympus'").await.unwrap();
    let err = mend_store::callbacks::customers_by_ids(conn, &[customer]).await.unwrap_err().to_string();
    assert!(err.contains("customers") && err.contains(&customer.to_string()) && err.contains("Mars/Olympus"), "{err}");
}

/// A conflict that reaches the API is answered 503 (send it again), not 500: the request was
/// fine, another write met it.
async fn a_conflict_reaching_the_api_asks_for_the_request_again(db: TestDb) {
    use mend_core::{Role, UserId};
    let store = db.store().await;
    store.migrate().await.unwrap();
    let user = || mend_store::users::NewUser {
        id: UserId::new(),
        name: "wang".into(),
        role: Role::Agent,
        team: None,
        email: None,
        password_hash: "-".into(),
        token_hash: uuid::Uuid::now_v7().to_string(),
        created_at: crate::support::server_now(),
    };
    mend_store::users::insert(store.connection(), user()).await.unwrap();
    let conflict = mend_store::users::insert(store.connection(), user()).await.unwrap_err();
    assert!(conflict.is_conflict(), "{conflict}");
    let answer = mend_server::ApiError::from(conflict);
    assert_eq!(answer.code(), mend_server::ErrorCode::Unavailable);
}

/// A statement that fails says which store operation ran it, on which table.
async fn a_failed_statement_names_its_operation_and_table(db: TestDb) {
    let store = db.store().await;
    store.migrate().await.unwrap();
    store.connection().execute_unprepared("DROP TABLE escalations").await.unwrap();
    let err = mend_store::escalations::open_escalations(store.connection(), 50).await.unwrap_err();
    assert!(matches!(err, mend_store::StoreError::Statement { table: "escalations", .. }), "{err:?}");
    assert!(err.to_string().starts_with("open_escalations on escalations failed"), "{err}");
}

both_databases!(case_details_of_many_cases_each_tell_their_own_story);

/// The supervisor's page reads the cases beside its offers at once: each detail holds its own
/// case's complaints, customer and keys, and an id that is no case is left out.
async fn case_details_of_many_cases_each_tell_their_own_story(db: TestDb) {
    let mend = db.mend();
    let said = [
        complaint("hotline", "a-1", "2026-11-26T09:00:00+08:00", json!({"phone": "13900000001"}), "宽带断网"),
        complaint("hotline", "a-2", "2026-11-26T09:30:00+08:00", json!({"phone": "13900000001"}), "宽带还是断网"),
        complaint("hotline", "b-1", "2026-11-26T10:00:00+08:00", json!({"phone": "13900000002"}), "话费多扣了"),
    ];
    mend.import_lines(&lines(&said));
    let store = db.store().await;
    let exported = mend.export_cases();
    let mut ids: Vec<mend_core::CaseId> =
        exported.iter().map(|c| c["case_id"].as_str().unwrap().parse().unwrap()).collect();
    assert_eq!(ids.len(), 2, "{exported:?}");
    let nobody = mend_core::CaseId::new();
    ids.push(nobody);
    let details = mend_store::cases::case_details(store.connection(), &ids).await.unwrap();
    assert_eq!(details.len(), 2);
    assert!(!details.contains_key(&nobody));
    let mut stories: Vec<(Vec<String>, String)> = details
        .values()
        .map(|d| {
            assert_eq!(d.customer.customer_id, d.case.customer_id);
            assert!(d.complaints.iter().all(|c| c.case_id == d.case.id));
            let phone = d.identities.iter().find(|i| i.kind == "phone").map(|i| i.value.clone()).unwrap();
            (d.complaints.iter().map(|c| c.text.clone()).collect(), phone)
        })
        .collect();
    stories.sort();
    assert_eq!(
        stories,
        [
            (vec!["宽带断网".to_owned(), "宽带还是断网".to_owned()], "13900000001".to_owned()),
            (vec!["话费多扣了".to_owned()], "13900000002".to_owned()),
        ]
    );
}

/// `mend serve` copies SQLite's log into the database file beside its requests: what commits
/// wrote reaches the file without a commit copying it, and once the copier stops, commits copy
/// the log themselves again. PostgreSQL has no such copier.
#[tokio::test]
async fn the_log_is_copied_into_the_database_file_beside_the_commits() {
    let db = TestDb::sqlite();
    let store = db.store().await;
    store.migrate().await.expect("migrate");
    let file = db.url.trim_start_matches("sqlite://").split('?').next().unwrap().to_owned();
    let conn = store.connection();
    let pragma = |name: &'static str| async move {
        let row = conn.query_one_raw(Statement::from_string(conn.get_database_backend(), format!("PRAGMA {name}")));
        row.await.unwrap().unwrap().try_get_by_index::<i64>(0).unwrap()
    };
    let mut copier =
        store.copy_log_every(std::time::Duration::from_millis(5)).await.unwrap().expect("a copier on SQLite");
    assert!(pragma("wal_autocheckpoint").await > 8192, "commits leave the copying to the copier");
    copier.copied(1).await;
    let before = std::fs::metadata(&file).unwrap().len();
    conn.execute_unprepared("CREATE TABLE scratch (filler TEXT)").await.unwrap();
    for _ in 0..20 {
        let rows = "INSERT INTO scratch WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 25) \
                    SELECT hex(randomblob(4096)) FROM n";
        conn.execute_unprepared(rows).await.unwrap();
    }
    copier.copied(2).await;
    let after = std::fs::metadata(&file).unwrap().len();
    assert!(after >= before + 2_000_000, "4 MB written reached the file: {before} → {after} bytes");
    copier.stop().await.unwrap();
    assert_eq!(pragma("wal_autocheckpoint").await, 8192, "commits copy the log themselves again");
}

/// On PostgreSQL the large columns an import writes on every row are compressed with lz4 where
/// the server has it (pglz cost a tenth of its time in an import); a long complaint is stored so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_compresses_what_an_import_writes_with_lz4() {
    let Some(db) = TestDb::postgres().await else { return };
    let mend = db.mend();
    let long = "客户来电反映家中宽带从上周开始频繁断网,光猫红灯闪烁,维修人员上门两次仍未修好。".repeat(40);
    mend.import_lines(&lines(&[complaint(
        "hotline",
        "long",
        "2026-11-26T09:00:00+08:00",
        json!({"phone": "13900000009"}),
        &long,
    )]));
    let store = db.store().await;
    let sql = "SELECT 'lz4' = ANY(enumvals), (SELECT pg_column_compression(text) FROM complaints) \
               FROM pg_settings WHERE name = 'default_toast_compression'";
    let row = store.connection().query_one_raw(Statement::from_string(sea_orm::DbBackend::Postgres, sql)).await;
    let row = row.unwrap().expect("one row");
    let (has_lz4, stored): (bool, String) = (row.try_get_by_index(0).unwrap(), row.try_get_by_index(1).unwrap());
    assert_eq!(stored, if has_lz4 { "lz4" } else { "pglz" });
}
