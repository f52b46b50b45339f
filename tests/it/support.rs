//! Test databases and helpers to drive the real `mend` binary.
//!
//! Every test gets its own database: a fresh SQLite file, or a PostgreSQL database cloned from a
//! migrated template (`CREATE DATABASE … TEMPLATE …`), dropped when the test ends.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};
use tokio::sync::OnceCell;

/// PostgreSQL server for tests (any database on it; tests create their own).
pub const POSTGRES_URL_VAR: &str = "MEND_TEST_POSTGRES_URL";

/// The clock of every `mend serve` a test starts: after the test data's dates, and the same on
/// any day the suite runs.
pub const SERVER_NOW: &str = "2026-11-26T12:00:00+08:00";

/// [`SERVER_NOW`] as an instant: the clock of writes a test makes through the library.
pub fn server_now() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(SERVER_NOW).expect("SERVER_NOW is RFC 3339").to_utc()
}

/// Generates one test per database from an `async fn(TestDb)` of the enclosing module.
macro_rules! both_databases {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(crate::support::TestDb::sqlite()).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(db) = crate::support::TestDb::postgres().await {
                    super::$name(db).await
                }
            }
        }
    )+};
}
pub(crate) use both_databases;

pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
}

impl TestDb {
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("mend.db").display());
        Self { url, _dir: Some(dir), postgres: None }
    }

    /// A fresh PostgreSQL database, or `None` (test skipped) when no server is configured
    /// outside CI. In CI a missing server fails the test.
    pub async fn postgres() -> Option<Self> {
        let admin = match std::env::var(POSTGRES_URL_VAR) {
            Ok(url) if !url.is_empty() => url,
            _ if std::env::var_os("CI").is_some() => panic!("{POSTGRES_URL_VAR} must be set in CI"),
            _ => {
                let test = std::thread::current().name().unwrap_or("a test").to_owned();
                // Straight to the process's stderr: the test harness captures `eprintln!`.
                let line = format!("SKIPPED on PostgreSQL: {test} ({POSTGRES_URL_VAR} is not set)\n");
                std::io::stderr().write_all(line.as_bytes()).ok();
                return None;
            }
        };
        let template = template(&admin).await;
        let name = format!("mend_test_{}", uuid::Uuid::now_v7().simple());
        mend_store::admin::create_database(&admin, &name, Some(template)).await.expect("create test database");
        let url = mend_store::admin::with_database(&admin, &name);
        Some(Self { url, _dir: None, postgres: Some((admin, name)) })
    }

    pub fn is_postgres(&self) -> bool {
        self.postgres.is_some()
    }

    /// A second, empty database on the same backend.
    pub async fn sibling(&self) -> Self {
        if self.postgres.is_some() {
            Self::postgres().await.expect("the first database was PostgreSQL")
        } else {
            Self::sqlite()
        }
    }

    /// A second database on the same backend with no schema at all, for migration tests.
    pub async fn unmigrated_sibling(&self) -> Self {
        match &self.postgres {
            Some((admin, _)) => {
                let name = format!("mend_test_{}", uuid::Uuid::now_v7().simple());
                mend_store::admin::create_database(admin, &name, None).await.expect("create test database");
                let url = mend_store::admin::with_database(admin, &name);
                Self { url, _dir: None, postgres: Some((admin.clone(), name)) }
            }
            None => Self::sqlite(),
        }
    }

    pub async fn store(&self) -> mend_store::Store {
        mend_store::Store::connect(&self.url).await.expect("connect")
    }

    /// `mend check` finds no problem: every reference between intake rows holds, every case's
    /// counters match its complaints, and the identity graph does not contradict itself.
    pub async fn assert_consistent(&self) {
        let check = self.mend().run(&["check"], b"");
        let report: Value = serde_json::from_str(check.stdout.trim()).expect("mend check prints JSON");
        assert_eq!((check.status, &report["problems"]), (0, &json!(0)), "inconsistent data: {report}");
    }

    pub fn mend(&self) -> Mend {
        Mend { database_url: self.url.clone(), env: Vec::new() }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.postgres.take() {
            // Drop runs outside any runtime we may block, so use a thread with its own.
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                rt.block_on(mend_store::admin::drop_database(&admin, &name)).ok();
            })
            .join()
            .ok();
        }
    }
}

/// The migrated template, created once per schema version and reused across runs.
async fn template(admin: &str) -> &'static str {
    static TEMPLATE: OnceCell<String> = OnceCell::const_new();
    TEMPLATE
        .get_or_init(|| async {
            // Keyed by the migration sources: an edited migration gets a fresh template.
            let name = format!("mend_template_{}", mend_migration::FINGERPRINT);
            let probe = mend_store::Store::connect(&mend_store::admin::with_database(admin, &name)).await;
            if let Ok(store) = probe {
                store.close().await.ok();
                return name;
            }
            // Migrate under a scratch name, then rename: a crash mid-way never leaves a
            // half-migrated template behind under the real name.
            let scratch = format!("mend_template_tmp_{}", uuid::Uuid::now_v7().simple());
            mend_store::admin::create_database(admin, &scratch, None).await.expect("create template");
            let store =
                mend_store::Store::connect(&mend_store::admin::with_database(admin, &scratch)).await.expect("connect");
            store.migrate().await.expect("migrate template");
            store.close().await.expect("close template");
            let db = sea_orm::Database::connect(admin).await.expect("connect admin");
            let renamed = sea_orm::ConnectionTrait::execute_unprepared(
                &db,
                &format!("ALTER DATABASE \"{scratch}\" RENAME TO \"{name}\""),
            )
            .await;
            if renamed.is_err() {
                // Another test process won the race; its template is as good as ours.
                mend_store::admin::drop_database(admin, &scratch).await.ok();
            }
            db.close().await.ok();
            name
        })
        .await
}

/// The `mend` binary, run against one test database from the repository root.
#[derive(Clone)]
pub struct Mend {
    database_url: String,
    env: Vec<(String, String)>,
}

pub struct Output {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn json(&self) -> Value {
        assert_eq!(self.status, 0, "mend failed: {}", self.stderr);
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }

    pub fn json_lines(&self) -> Vec<Value> {
        assert_eq!(self.status, 0, "mend failed: {}", self.stderr);
        self.stdout.lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect()
    }
}

impl Mend {
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mend"));
        cmd.args(args).current_dir(env!("CARGO_MANIFEST_DIR"));
        for (key, _) in std::env::vars() {
            if key.starts_with("MEND_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("MEND_DATABASE_URL", &self.database_url);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// `mend` started with its standard input, output and error piped to the test.
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        self.command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn mend")
    }

    pub fn run(&self, args: &[&str], stdin: &[u8]) -> Output {
        let mut child = self.spawn(args);
        let mut input = child.stdin.take().expect("stdin");
        let data = stdin.to_vec();
        let writer = std::thread::spawn(move || input.write_all(&data));
        let out = child.wait_with_output().expect("mend output");
        writer.join().expect("stdin writer").ok();
        Output {
            status: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// `mend import --channel json -` with these lines; returns the summary.
    pub fn import_lines(&self, lines: &[String]) -> Value {
        let mut input = lines.join("\n");
        input.push('\n');
        self.run(&["import", "--channel", "json", "-"], input.as_bytes()).json()
    }

    /// Each case as (category, its complaints' source ids in order), sorted: what grouping
    /// decided, without the ids it happened to generate.
    pub fn case_partition(&self) -> Vec<(String, Vec<String>)> {
        let mut cases: Vec<(String, Vec<String>)> = self
            .export_cases()
            .iter()
            .map(|c| {
                let sources = c["complaints"].as_array().unwrap().iter();
                (
                    c["category"].as_str().unwrap().to_owned(),
                    sources.map(|d| d["source_id"].as_str().unwrap().to_owned()).collect(),
                )
            })
            .collect();
        cases.sort();
        cases
    }

    /// `mend user add`; returns the printed JSON (with the API token).
    pub fn add_user(&self, name: &str, role: &str) -> Value {
        self.run(&["user", "add", "--name", name, "--role", role], b"").json()
    }

    pub fn export_cases(&self) -> Vec<Value> {
        self.run(&["cases", "export"], b"").json_lines()
    }

    /// Starts `mend serve` on a free port and waits until it says it listens. Its clock stands
    /// at [`SERVER_NOW`] and it runs no cron schedules: tests run jobs at clocks of their own.
    pub fn serve(&self) -> Server {
        self.serve_at(SERVER_NOW)
    }

    /// [`Mend::serve`] with the clock standing at `now` (RFC 3339). It sends no email unless
    /// the test turns `MEND_NOTIFY__SENDER` on (and points `MEND_SMTP__*` at a server of its own).
    pub fn serve_at(&self, now: &str) -> Server {
        let mut command = self.command(&["serve", "--now", now]);
        let defaults = [("MEND_SCHEDULER__CRON", "false"), ("MEND_NOTIFY__SENDER", "false"), ("MEND_LOG", "warn")];
        for (key, value) in defaults {
            if !self.env.iter().any(|(k, _)| k == key) {
                command.env(key, value);
            }
        }
        let mut child = command
            .env("MEND_HTTP__BIND", "127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn mend serve");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        // What it logs before it listens (work started at start-up) is kept for `wait_for_log`.
        let mut early = Vec::new();
        let base_url = loop {
            let line =
                lines.next().unwrap_or_else(|| panic!("mend serve exited: {:?}", child.wait())).expect("stderr line");
            if let Some(url) = line.strip_prefix("mend is listening on ") {
                break url.trim().to_owned();
            }
            early.push(line);
        };
        // Keep draining stderr so the server never blocks on a full pipe; the lines go to
        // whoever waits for one (`Server::wait_for_log`), or nowhere.
        let (log, logged) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                log.send(line).ok();
            }
        });
        Server { child, base_url, client: reqwest::Client::new(), early, logged }
    }
}

pub struct Server {
    child: Child,
    pub base_url: String,
    pub client: reqwest::Client,
    early: Vec<String>,
    logged: std::sync::mpsc::Receiver<String>,
}

impl Server {
    /// Waits for the server to log a line containing `needle` (at the level `MEND_LOG` lets
    /// through) and returns it: how a test learns that background work has happened.
    pub fn wait_for_log(&self, needle: &str) -> String {
        if let Some(line) = self.early.iter().find(|l| l.contains(needle)) {
            return line.clone();
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.logged.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(e) => panic!("mend serve logged no `{needle}` ({e})"),
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// A request with `Authorization: Bearer token`.
    pub fn request(&self, method: reqwest::Method, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path)).bearer_auth(token)
    }

    /// `POST /api/v1/complaints` of `complaint` with a token; the status and the JSON body.
    pub async fn post_complaint(&self, token: &str, complaint: &Value) -> (reqwest::StatusCode, Value) {
        json_response(self.request(reqwest::Method::POST, "/api/v1/complaints", token).json(complaint)).await
    }

    /// GET with a token; the status and the JSON body.
    pub async fn get_json(&self, path: &str, token: &str) -> (reqwest::StatusCode, Value) {
        let response = self.request(reqwest::Method::GET, path, token).send().await.expect("request");
        let status = response.status();
        (status, response.json().await.expect("JSON body"))
    }
}

/// Sends `request` and returns the status and the JSON body.
pub async fn json_response(request: reqwest::RequestBuilder) -> (reqwest::StatusCode, Value) {
    let response = request.send().await.expect("request");
    let status = response.status();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, body)
}

impl Drop for Server {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// A vendor's call-center export, mapped by its Chinese column names (`流水号`, `主叫号码`…)
/// through `MEND_CHANNELS__HOTLINE__CSV__*`, as an operator configures one.
pub fn vendor_hotline_columns(mend: Mend) -> Mend {
    mend.env("MEND_CHANNELS__HOTLINE__CSV__CALL_ID", "流水号")
        .env("MEND_CHANNELS__HOTLINE__CSV__CALLER", "主叫号码")
        .env("MEND_CHANNELS__HOTLINE__CSV__STARTED_AT", "开始时间")
        .env("MEND_CHANNELS__HOTLINE__CSV__ENDED_AT", "")
        .env("MEND_CHANNELS__HOTLINE__CSV__SATISFACTION", "满意度")
        .env("MEND_CHANNELS__HOTLINE__CSV__COMPLAINT", "是否投诉")
        .env("MEND_CHANNELS__HOTLINE__CSV__NOTES", "备注")
        .env("MEND_CHANNELS__HOTLINE__CSV__TIME_FORMAT", "%Y/%m/%d %H:%M")
}

/// A canonical complaint line. `customer` is the JSON of the customer object.
pub fn complaint(channel: &str, source_id: &str, received_at: &str, customer: Value, text: &str) -> Value {
    json!({
        "channel": channel, "source_id": source_id, "received_at": received_at,
        "customer": customer, "text": text, "category": null, "satisfaction": 2, "formal_complaint": false,
    })
}

/// A section of the bundled `config/default.toml`.
pub fn bundled_config<T: serde::de::DeserializeOwned>(section: &str) -> T {
    use figment::providers::{Format, Toml};
    figment::Figment::from(Toml::file(repo_path("config/default.toml"))).extract_inner(section).unwrap()
}

/// An intake with the default taxonomy, grouping policy and phrases, for tests that record
/// batches without the binary.
pub fn intake() -> std::sync::Arc<mend_cases::Intake> {
    let taxonomy: mend_cases::Taxonomy = bundled_config("taxonomy");
    let phrases: mend_cases::GroupingPhrases = bundled_config("grouping");
    let intake =
        mend_cases::Intake::new(&taxonomy, mend_cases::GroupingPolicy::default(), &phrases, chrono_tz::Asia::Shanghai);
    std::sync::Arc::new(intake.unwrap())
}

/// Returns once a connection to this PostgreSQL database waits for a lock (as `pg_stat_activity`
/// shows it); fails if `finished` says that `who`, which should have waited, ran through instead.
/// A lock wait sends no event, so it is polled; each look is one round trip, which paces the loop.
pub async fn until_a_lock_is_awaited(store: &mend_store::Store, finished: impl Fn() -> bool, who: &str) {
    until_locks_are_awaited(store, 1, finished, who).await
}

/// [`until_a_lock_is_awaited`] for `waiters` connections at once.
pub async fn until_locks_are_awaited(store: &mend_store::Store, waiters: i64, finished: impl Fn() -> bool, who: &str) {
    use sea_orm::ConnectionTrait;
    let waiting = sea_orm::Statement::from_string(
        sea_orm::DbBackend::Postgres,
        "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
    );
    loop {
        let row = store.connection().query_one_raw(waiting.clone()).await.unwrap().unwrap();
        if row.try_get::<i64>("", "n").unwrap() >= waiters {
            return;
        }
        assert!(!finished(), "{who} ran without waiting for the lock");
        tokio::task::yield_now().await;
    }
}

/// A canonical complaint (see [`complaint`]) as intake receives it.
pub fn delivery(value: Value) -> mend_core::Delivery {
    let raw = value.to_string();
    mend_core::Delivery::Complaint(Box::new(mend_ingest::parse_canonical(raw.as_bytes(), &Default::default()).unwrap()))
}

pub fn lines(values: &[Value]) -> Vec<String> {
    values.iter().map(Value::to_string).collect()
}

pub fn repo_path(relative: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// Real orders (`MEND_REAL_ORDERS`, else `../shared/data/cocc-dev.tsv` beside the checkout),
/// read where they lie and never copied here; `None` with a `NOT RUN` line where they are not:
/// a user's checkout, or a clone made elsewhere, has no `../shared`. Not a `SKIPPED` line, which
/// `.ci/run` refuses: what these tests check needs data the repository may not carry.
pub fn real_orders() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("MEND_REAL_ORDERS")
        .map_or_else(|| repo_path("../shared/data/cocc-dev.tsv"), std::path::PathBuf::from);
    if path.exists() {
        return Some(path);
    }
    let test = std::thread::current().name().unwrap_or("a test of real orders").to_owned();
    let line = format!("NOT RUN: {test} ({} is not there; see ../shared/data/README.md)\n", path.display());
    std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes()).ok();
    None
}
