//! `mend bench`: measured runs whose figures go into BENCHMARKS.md.

use std::io::BufWriter;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use chrono::{TimeZone, Utc};
use mend_store::Store;
use serde_json::json;

use crate::import::{ImportFormat, Importer, Input, Records};
use crate::settings::Settings;
use crate::synth::{Activity, SynthConfig, write_complaints};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    Sqlite,
    Postgres,
}

#[derive(Debug, clap::Args)]
pub struct ParseBench {
    /// The channel whose file format is split and parsed.
    #[arg(long, value_enum)]
    pub channel: ImportFormat,
    #[arg(long, default_value_t = 200_000)]
    pub records: u64,
}

/// Splits and parses `records` synthetic records of one channel's file format on this thread
/// (no database) and prints one JSON line of figures.
pub fn parse(settings: &Settings, args: &ParseBench) -> Result<()> {
    let mut canonical = Vec::new();
    let config = SynthConfig::new(args.records, (args.records / 3).max(1));
    write_complaints(&config, &mut canonical)?;
    let complaints: Vec<serde_json::Value> = canonical
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(serde_json::from_slice)
        .collect::<Result<_, _>>()?;
    drop(canonical);
    let file = crate::channel_synth::channel_file(args.channel, &complaints);
    drop(complaints);
    let parse = settings.parse_settings()?;
    let format = args.channel.record_format(&file);

    let started = Instant::now();
    let mut records = Records::new(format, Box::new(std::io::Cursor::new(file)));
    let (mut read, mut complaints, mut ignored, mut rejected) = (0u64, 0u64, 0u64, 0u64);
    let mut record = Vec::new();
    while records.next_record(&mut record)?.is_some() {
        read += 1;
        match format.parse(&record, &parse) {
            Ok(mend_ingest::Parsed::Complaint(_)) => complaints += 1,
            Ok(_) => ignored += 1,
            Err(_) => rejected += 1,
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let line = json!({
        "bench": "parse",
        "channel": format.label(),
        "records": read,
        "seconds": (seconds * 1000.0).round() / 1000.0,
        "records_per_second": (read as f64 / seconds).round(),
        "complaints": complaints,
        "ignored": ignored,
        "rejected": rejected,
    });
    println!("{line}");
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct ImportBench {
    #[arg(long, default_value_t = 100_000)]
    pub complaints: u64,
    #[arg(long, default_value_t = 30_000)]
    pub customers: u64,
    #[arg(long, value_enum, default_value = "sqlite")]
    pub target: Target,
    /// A PostgreSQL URL on a server where the benchmark may create and drop a database.
    #[arg(long, env = "MEND_BENCH_POSTGRES_URL", default_value = "postgres://postgres@127.0.0.1:5432/test")]
    pub postgres_url: String,
    /// Where to write the generated file (kept); by default a temporary file, removed after.
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// Which customers complain as the run goes on.
    #[arg(long, value_enum, default_value = "uniform")]
    pub activity: Activity,
    #[command(flatten)]
    pub texts: Texts,
}

/// What the generated complaints say.
#[derive(Debug, Clone, clap::Args)]
pub struct Texts {
    /// Real complaint orders (`text<TAB>label`) to tell the problems with, when the file is
    /// there: real-length texts, where segmentation costs what it costs in a call center.
    #[arg(long, value_name = "TSV", default_value = "../shared/data/cocc-dev.tsv")]
    pub orders: PathBuf,
    /// The short synthetic texts even where the orders are (the figures of earlier sessions).
    #[arg(long)]
    pub synthetic_texts: bool,
}

impl Texts {
    /// The orders to use (none: synthetic texts), and what to call them in a report.
    pub fn load(&self) -> Result<(Vec<String>, String)> {
        if self.synthetic_texts || !self.orders.exists() {
            return Ok((Vec::new(), "synthetic".into()));
        }
        let orders = crate::synth::read_orders(&self.orders)
            .with_context(|| format!("cannot read `{}`", self.orders.display()))?;
        let name = self.orders.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        Ok((orders, format!("real orders ({name})")))
    }
}

/// Writes the synthetic complaints `config` describes to `path`.
pub fn generate(path: &std::path::Path, config: &SynthConfig) -> Result<()> {
    let file = std::fs::File::create(path).with_context(|| format!("cannot create `{}`", path.display()))?;
    write_complaints(config, &mut BufWriter::with_capacity(1 << 20, file))?;
    Ok(())
}

/// Imports a generated file into a fresh database and prints one JSON line of figures.
pub async fn import(settings: &Settings, args: &ImportBench) -> Result<()> {
    let database = FreshDatabase::create(args.target, &args.postgres_url).await?;
    let file = args.file.clone().unwrap_or_else(|| database.scratch.join("complaints.jsonl"));
    let (orders, texts) = args.texts.load()?;
    let config = SynthConfig { activity: args.activity, orders, ..SynthConfig::new(args.complaints, args.customers) };
    generate(&file, &config)?;
    let result = run_import(settings, &database.url, &file).await;
    // Measured while the file is there: it may be in the database's scratch directory.
    let floor_rate = floor(args.target, &args.postgres_url, &file).await;
    let text_bytes = mean_text_bytes(&file);
    database.remove().await?;
    let ImportRun { summary, seconds, marks, peak_rss_mib } = result?;
    let (floor_rate, text_bytes) = (floor_rate?, text_bytes?);
    let rate = args.complaints as f64 / seconds;
    // Rate over the first and the last stretch of the run: grouping a complaint must not get
    // slower as history grows.
    let stretch = STRETCH.min(args.complaints / 2);
    let rate_between = |from: u64, to: u64| -> Option<f64> {
        let at = |n: u64| marks.iter().find(|(records, _)| *records >= n).map(|(_, t)| *t);
        let (start, end) = (if from == 0 { Some(0.0) } else { at(from) }?, at(to)?);
        (end > start).then(|| ((to - from) as f64 / (end - start)).round())
    };
    let line = json!({
        "bench": "import",
        "target": format!("{:?}", args.target).to_lowercase(),
        "complaints": args.complaints,
        "customers": args.customers,
        "activity": format!("{:?}", args.activity).to_lowercase(),
        "texts": texts,
        "mean_text_bytes": text_bytes,
        "seconds": (seconds * 100.0).round() / 100.0,
        "complaints_per_second": rate.round(),
        // The same lines written as plainly as the backend allows, in the same run.
        "floor_per_second": floor_rate.round(),
        "share_of_floor": (rate / floor_rate * 1000.0).round() / 1000.0,
        "stretch": stretch,
        "first_stretch_per_second": rate_between(0, stretch),
        "last_stretch_per_second": rate_between(args.complaints - stretch, args.complaints),
        // The whole curve: where the rate settles, and whether it keeps falling.
        "stretches_per_second": (0..args.complaints / stretch.max(1))
            .map(|i| rate_between(i * stretch, (i + 1) * stretch))
            .collect::<Vec<_>>(),
        "peak_rss_mib": peak_rss_mib,
        "summary": summary,
    });
    println!("{line}");
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct ScheduleBench {
    /// Complaints imported before the sweeps (the default makes about 100,000 open cases).
    #[arg(long, default_value_t = 175_000)]
    pub complaints: u64,
    #[arg(long, default_value_t = 400_000)]
    pub customers: u64,
    #[arg(long, value_enum, default_value = "sqlite")]
    pub target: Target,
    /// A PostgreSQL URL on a server where the benchmark may create and drop a database.
    #[arg(long, env = "MEND_BENCH_POSTGRES_URL", default_value = "postgres://postgres@127.0.0.1:5432/test")]
    pub postgres_url: String,
}

/// Imports generated complaints into a fresh database (not timed), then times callback
/// generation: the first sweep over every open case, a second one at once (the import is within
/// its overlap, so every case it touched is looked at again), and one when nothing changed
/// within the overlap (a sweep in steady state). Prints one JSON line.
pub async fn schedule(settings: &Settings, args: &ScheduleBench) -> Result<()> {
    let database = FreshDatabase::create(args.target, &args.postgres_url).await?;
    let file = database.scratch.join("complaints.jsonl");
    generate(&file, &SynthConfig::new(args.complaints, args.customers))?;
    let result = run_sweeps(settings, &database.url, &file).await;
    database.remove().await?;
    let mut line = result?;
    line["target"] = json!(format!("{:?}", args.target).to_lowercase());
    line["complaints"] = json!(args.complaints);
    println!("{line}");
    Ok(())
}

async fn run_sweeps(settings: &Settings, url: &str, file: &std::path::Path) -> Result<serde_json::Value> {
    let store = Store::connect(url).await?;
    store.migrate().await?;
    let intake = settings.intake(&store).await?;
    Importer::new(settings, &store, intake.clone())?.run(ImportFormat::Json, &Input::File(file.to_owned())).await?;
    store.refresh_statistics().await?;
    // Tuesday 10:00 in Shanghai: inside contact hours, so due times are not all moved.
    let now = Utc.with_ymd_and_hms(2026, 12, 1, 2, 0, 0).single().expect("valid date");
    let minute = chrono::Duration::minutes(1);
    let mailroom = crate::schedule::mailroom(settings, &store, now).await?;
    let scheduler = crate::schedule::scheduler(settings, &store, intake.clone(), mailroom.clone(), "bench")?;
    let mut steady_settings = settings.clone();
    steady_settings.scheduler.generation_overlap_seconds = 0;
    let steady_scheduler = crate::schedule::scheduler(&steady_settings, &store, intake, mailroom, "bench")?;
    reset_peak_rss();
    let (first, first_seconds) = timed_sweep(&scheduler, now).await?;
    let (second, second_seconds) = timed_sweep(&scheduler, now + minute).await?;
    let (steady, steady_seconds) = timed_sweep(&steady_scheduler, now + minute * 2).await?;
    store.close().await?;
    let round = |s: f64| (s * 1000.0).round() / 1000.0;
    Ok(json!({
        "bench": "schedule",
        "first_sweep": {"seconds": round(first_seconds), "counts": first.counts},
        "second_sweep": {"seconds": round(second_seconds), "counts": second.counts},
        "steady_sweep": {"seconds": round(steady_seconds), "counts": steady.counts},
        "peak_rss_mib": peak_rss_mib(),
    }))
}

/// One `generate_callbacks` run at `at` and the seconds it took.
async fn timed_sweep(
    scheduler: &mend_scheduler::Scheduler,
    at: chrono::DateTime<Utc>,
) -> Result<(mend_scheduler::JobRunReport, f64)> {
    let started = Instant::now();
    let report = scheduler.run_now(mend_scheduler::Job::GenerateCallbacks, at).await?;
    Ok((report, started.elapsed().as_secs_f64()))
}

/// A scratch directory and a fresh database (a SQLite file in it, or a new PostgreSQL
/// database) for one run, removed after it.
struct FreshDatabase {
    scratch: PathBuf,
    url: String,
    /// The server's URL and the database made on it.
    postgres: Option<(String, String)>,
}

impl FreshDatabase {
    async fn create(target: Target, postgres_url: &str) -> Result<Self> {
        let scratch = std::env::temp_dir().join(format!("mend-bench-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&scratch)?;
        Ok(match target {
            Target::Sqlite => {
                let url = format!("sqlite://{}?mode=rwc", scratch.join("bench.db").display());
                Self { scratch, url, postgres: None }
            }
            Target::Postgres => {
                let name = format!("mend_bench_{}", uuid::Uuid::now_v7().simple());
                mend_store::admin::create_database(postgres_url, &name, None).await?;
                let url = mend_store::admin::with_database(postgres_url, &name);
                Self { scratch, url, postgres: Some((postgres_url.to_owned(), name)) }
            }
        })
    }

    async fn remove(self) -> Result<()> {
        if let Some((server, name)) = &self.postgres {
            mend_store::admin::drop_database(server, name).await?;
        }
        std::fs::remove_dir_all(&self.scratch).ok();
        Ok(())
    }
}

/// Lines a second written from `file` into a fresh database of `target` as plainly as it
/// allows (see `mend_store::bench_floor`). The file is read into memory first: the floor times
/// the database, not the disk.
async fn floor(target: Target, postgres_url: &str, file: &std::path::Path) -> Result<f64> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read `{}`", file.display()))?;
    let database = FreshDatabase::create(target, postgres_url).await?;
    let timed = async {
        let store = Store::connect(&database.url).await?;
        let started = Instant::now();
        let written = mend_store::bench_floor::write_floor(&store, text.lines().map(str::to_owned)).await?;
        let seconds = started.elapsed().as_secs_f64();
        store.close().await?;
        anyhow::Ok(written as f64 / seconds)
    }
    .await;
    database.remove().await?;
    timed
}

/// The mean length of the complaints' texts in `file`, in bytes.
fn mean_text_bytes(file: &std::path::Path) -> Result<u64> {
    use std::io::BufRead;
    let (mut bytes, mut lines) = (0u64, 0u64);
    for line in std::io::BufReader::new(std::fs::File::open(file)?).lines() {
        let record: serde_json::Value = serde_json::from_str(&line?)?;
        bytes += record["text"].as_str().map_or(0, str::len) as u64;
        lines += 1;
    }
    Ok(bytes / lines.max(1))
}

/// The stretch of a run whose rate is reported at its start and its end.
const STRETCH: u64 = 100_000;

/// What an import run measured.
struct ImportRun {
    summary: crate::import::ImportSummary,
    seconds: f64,
    /// After each batch, the records so far and the seconds.
    marks: Vec<(u64, f64)>,
    /// Read as the import ends: the floor measured after it reads the whole file into memory.
    peak_rss_mib: Option<u64>,
}

async fn run_import(settings: &Settings, url: &str, file: &std::path::Path) -> Result<ImportRun> {
    let store = Store::connect(url).await?;
    store.migrate().await?;
    let intake = settings.intake(&store).await?;
    let marks = std::sync::Mutex::new(Vec::new());
    let started = Instant::now();
    let mark = |records: u64| {
        marks.lock().expect("no panics while holding").push((records, started.elapsed().as_secs_f64()));
    };
    let mut importer = Importer::new(settings, &store, intake)?;
    importer.on_batch = Some(&mark);
    reset_peak_rss();
    let summary = importer.run(ImportFormat::Json, &Input::File(file.to_owned())).await?;
    let seconds = started.elapsed().as_secs_f64();
    let peak_rss_mib = peak_rss_mib();
    store.close().await?;
    Ok(ImportRun { summary, seconds, marks: marks.into_inner().expect("no panics while holding"), peak_rss_mib })
}

/// Linux resets the high-water mark of resident memory when "5" is written to clear_refs, so
/// the figure covers the import alone, not the file generation before it.
fn reset_peak_rss() {
    std::fs::write("/proc/self/clear_refs", "5").ok();
}

fn peak_rss_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: u64 =
        status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib / 1024)
}

#[derive(Debug, clap::Args)]
pub struct DeskBench {
    /// Agents working the queue at once, each with its own token.
    #[arg(long, default_value_t = 50)]
    pub agents: usize,
    /// Callback tasks in the queue (one per customer).
    #[arg(long, default_value_t = 5_000)]
    pub tasks: u64,
    #[arg(long, value_enum, default_value = "sqlite")]
    pub target: Target,
    /// A PostgreSQL URL on a server where the benchmark may create and drop a database.
    #[arg(long, env = "MEND_BENCH_POSTGRES_URL", default_value = "postgres://postgres@127.0.0.1:5432/test")]
    pub postgres_url: String,
}

/// A queue of callbacks in a fresh database (not timed), a server in this process with its clock
/// standing inside contact hours, and agents claiming and completing over HTTP until the queue
/// is empty. Prints one JSON line: cycles per second and claim latencies.
pub async fn desk(settings: &Settings, args: &DeskBench) -> Result<()> {
    let database = FreshDatabase::create(args.target, &args.postgres_url).await?;
    let result = run_desk(settings, &database, args).await;
    database.remove().await?;
    let mut line = result?;
    line["target"] = json!(format!("{:?}", args.target).to_lowercase());
    println!("{line}");
    Ok(())
}

async fn run_desk(settings: &Settings, database: &FreshDatabase, args: &DeskBench) -> Result<serde_json::Value> {
    let store = Store::connect(&database.url).await?;
    store.migrate().await?;
    let file = database.scratch.join("complaints.jsonl");
    generate(&file, &SynthConfig::new(args.tasks, args.tasks))?;
    let intake = settings.intake(&store).await?;
    Importer::new(settings, &store, intake.clone())?.run(ImportFormat::Json, &Input::File(file)).await?;
    store.refresh_statistics().await?;
    // Tuesday 10:00 in Shanghai: every customer may be called.
    let now = Utc.with_ymd_and_hms(2026, 12, 1, 2, 0, 0).single().expect("valid date");
    let mailroom = crate::schedule::mailroom(settings, &store, now).await?;
    let scheduler = crate::schedule::scheduler(settings, &store, intake, mailroom.clone(), "bench")?;
    let planned = scheduler.run_now(mend_scheduler::Job::GenerateCallbacks, now).await?;
    let mut tokens = Vec::with_capacity(args.agents);
    for i in 0..args.agents {
        let credentials = mend_server::auth::Credentials::generate();
        let new = mend_store::users::NewUser {
            id: mend_core::UserId::new(),
            name: format!("agent{i}"),
            role: mend_core::Role::Agent,
            team: Some("repair".into()),
            email: None,
            password_hash: credentials.password_hash,
            token_hash: credentials.token_hash,
            created_at: now,
        };
        mend_store::users::insert(store.connection(), new).await?;
        tokens.push(credentials.token);
    }
    let server = InProcessServer::start(settings, &store, mailroom, now).await?;
    let client = reqwest::Client::new();
    reset_peak_rss();
    let started = Instant::now();
    let agents = tokens.iter().map(|token| work_the_queue(&client, &server.base, token));
    let worked = futures::future::try_join_all(agents).await?;
    let seconds = started.elapsed().as_secs_f64();
    server.stop().await?;
    store.close().await?;
    let (mut claims, mut completes): (Vec<f64>, Vec<f64>) = (Vec::new(), Vec::new());
    // Each agent's first claim is one of fifty asked at the same instant, on connections and
    // plans not yet warm: the claims after it show the queue working.
    let mut steady_claims: Vec<f64> = Vec::new();
    for (c, d) in worked {
        steady_claims.extend(c.iter().skip(1));
        claims.extend(c);
        completes.extend(d);
    }
    let cycles = completes.len();
    Ok(json!({
        "bench": "desk",
        "agents": args.agents,
        "tasks": planned.counts.get("tasks_created"),
        "cycles": cycles,
        "seconds": (seconds * 1000.0).round() / 1000.0,
        "cycles_per_second": (cycles as f64 / seconds).round(),
        "claim_ms": {"p50": percentile(&mut claims, 0.50), "p99": percentile(&mut claims, 0.99)},
        "steady_claim_ms": {"p50": percentile(&mut steady_claims, 0.50), "p99": percentile(&mut steady_claims, 0.99)},
        "complete_ms": {"p50": percentile(&mut completes, 0.50), "p99": percentile(&mut completes, 0.99)},
        "peak_rss_mib": peak_rss_mib(),
    }))
}

/// The API and pages served from this process on a free port, with the clock standing at `now`
/// and SQLite's log copied beside the requests, as `mend serve` does.
struct InProcessServer {
    base: String,
    stop: tokio::sync::oneshot::Sender<()>,
    serving: tokio::task::JoinHandle<std::io::Result<()>>,
    log_copier: Option<mend_store::LogCopier>,
}

impl InProcessServer {
    async fn start(
        settings: &Settings,
        store: &Store,
        mailroom: std::sync::Arc<mend_notify::Mailroom>,
        now: chrono::DateTime<Utc>,
    ) -> Result<Self> {
        let clock = std::sync::Arc::new(mend_core::FixedClock(now));
        let state = settings.app_state(store.clone(), mailroom, clock).await?;
        let config = settings.http.server_config()?;
        let router = mend_server::router(state, config.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(mend_server::serve(listener, router, config, async {
            stopped.await.ok();
        }));
        let log_copier = store.copy_log_every(crate::LOG_COPY_PERIOD).await?;
        Ok(Self { base, stop, serving, log_copier })
    }

    async fn stop(self) -> Result<()> {
        self.stop.send(()).ok();
        self.serving.await??;
        if let Some(copier) = self.log_copier {
            copier.stop().await?;
        }
        Ok(())
    }
}

#[derive(Debug, clap::Args)]
pub struct PageBench {
    /// Complaints in the one case whose page is loaded.
    #[arg(long, default_value_t = 50)]
    pub complaints: usize,
    /// Page loads measured (after ten that warm up).
    #[arg(long, default_value_t = 200)]
    pub requests: usize,
    #[arg(long, value_enum, default_value = "sqlite")]
    pub target: Target,
    /// A PostgreSQL URL on a server where the benchmark may create and drop a database.
    #[arg(long, env = "MEND_BENCH_POSTGRES_URL", default_value = "postgres://postgres@127.0.0.1:5432/test")]
    pub postgres_url: String,
}

/// One customer's case of `complaints` complaints from every channel (not timed), its callback
/// claimed by an agent signed in with a session, and the agent's case page loaded `requests`
/// times one after another. Prints one JSON line: the page's latency as the client sees it.
pub async fn page(settings: &Settings, args: &PageBench) -> Result<()> {
    let database = FreshDatabase::create(args.target, &args.postgres_url).await?;
    let result = run_page(settings, &database, args).await;
    database.remove().await?;
    let mut line = result?;
    line["target"] = json!(format!("{:?}", args.target).to_lowercase());
    println!("{line}");
    Ok(())
}

async fn run_page(settings: &Settings, database: &FreshDatabase, args: &PageBench) -> Result<serde_json::Value> {
    let store = Store::connect(&database.url).await?;
    store.migrate().await?;
    // Tuesday 10:00 in Shanghai; the complaints came in evenly over the 40 hours before.
    let now = Utc.with_ymd_and_hms(2026, 12, 1, 2, 0, 0).single().expect("valid date");
    let file = database.scratch.join("one_case.jsonl");
    std::fs::write(&file, one_customers_complaints(args.complaints, now))?;
    let intake = settings.intake(&store).await?;
    let summary = Importer::new(settings, &store, intake.clone())?.run(ImportFormat::Json, &Input::File(file)).await?;
    anyhow::ensure!(summary.cases_created == 1, "the complaints made {} cases, not one", summary.cases_created);
    let mailroom = crate::schedule::mailroom(settings, &store, now).await?;
    let scheduler = crate::schedule::scheduler(settings, &store, intake, mailroom.clone(), "bench")?;
    scheduler.run_now(mend_scheduler::Job::GenerateCallbacks, now).await?;
    let credentials = mend_server::auth::Credentials::generate();
    let agent = mend_store::users::NewUser {
        id: mend_core::UserId::new(),
        name: "agent".into(),
        role: mend_core::Role::Agent,
        team: None,
        email: None,
        password_hash: credentials.password_hash,
        token_hash: credentials.token_hash,
        created_at: now,
    };
    mend_store::users::insert(store.connection(), agent).await?;
    let server = InProcessServer::start(settings, &store, mailroom, now).await?;
    let client = reqwest::Client::new();
    let base = &server.base;
    let signed_in = client
        .post(format!("{base}/api/v1/session"))
        .json(&json!({"name": "agent", "password": credentials.password}))
        .send()
        .await?;
    anyhow::ensure!(signed_in.status().is_success(), "sign-in answered {}", signed_in.status());
    let session: serde_json::Value = signed_in.json().await?;
    let cookie = format!("mend_session={}", session["token"].as_str().context("a session token")?);
    let claimed: serde_json::Value =
        client.post(format!("{base}/api/v1/tasks/claim")).header("cookie", &cookie).send().await?.json().await?;
    let page = format!("{base}/desk/tasks/{}", claimed["task_id"].as_str().context("a claimed task")?);
    let mut latencies = Vec::with_capacity(args.requests);
    let mut bytes = 0;
    for i in 0..args.requests + 10 {
        let asked = Instant::now();
        let response = client.get(&page).header("cookie", &cookie).send().await?;
        anyhow::ensure!(response.status().is_success(), "the case page answered {}", response.status());
        let html = response.text().await?;
        if i >= 10 {
            latencies.push(asked.elapsed().as_secs_f64() * 1000.0);
        }
        bytes = html.len();
        anyhow::ensure!(
            html.matches("class=\"complaint ").count() == args.complaints,
            "the page shows every complaint"
        );
    }
    server.stop().await?;
    store.close().await?;
    Ok(json!({
        "bench": "page",
        "complaints": args.complaints,
        "requests": latencies.len(),
        "page_bytes": bytes,
        "page_ms": {"p50": percentile(&mut latencies, 0.50), "p99": percentile(&mut latencies, 0.99),
                    "max": percentile(&mut latencies, 1.0)},
    }))
}

/// `count` complaints of one customer about one broadband outage, from every channel in turn.
fn one_customers_complaints(count: usize, now: chrono::DateTime<Utc>) -> String {
    const CHANNELS: [&str; 4] = ["hotline", "wechat", "bot", "store"];
    const TEXTS: [&str; 5] = [
        "宽带断网了,光猫红灯一直亮,上不了网",
        "家里宽带还是断网,光猫红灯,维修师傅一直没来",
        "又断网了!光猫LOS红灯闪,孩子上网课都上不了",
        "宽带从前天断到现在,光猫红灯,你们到底修不修",
        "第几次打电话了,宽带断网光猫红灯,再不修就投诉",
    ];
    let first = now - chrono::Duration::hours(40);
    let spacing = (40 * 3600 / count.max(1)).max(1) as i64;
    (0..count)
        .map(|i| {
            let at = first + chrono::Duration::seconds(i as i64 * spacing);
            let line = json!({
                "channel": CHANNELS[i % CHANNELS.len()], "source_id": format!("page-bench-{i}"),
                "received_at": at.to_rfc3339(), "customer": {"phone": "13900139000", "name": "赵女士"},
                "text": TEXTS[i % TEXTS.len()], "category": null, "satisfaction": 1 + (i % 3) as i64,
                "formal_complaint": i + 1 == count,
            });
            format!("{line}\n")
        })
        .collect()
}

/// One agent: claim, complete, until a claim finds nothing; the milliseconds of each claim and
/// each completion.
async fn work_the_queue(client: &reqwest::Client, base: &str, token: &str) -> Result<(Vec<f64>, Vec<f64>)> {
    let (mut claims, mut completes) = (Vec::new(), Vec::new());
    let outcome = json!({"outcome": "reached", "resolved": false});
    loop {
        let asked = Instant::now();
        let claimed = client.post(format!("{base}/api/v1/tasks/claim")).bearer_auth(token).send().await?;
        claims.push(asked.elapsed().as_secs_f64() * 1000.0);
        if claimed.status() == reqwest::StatusCode::NO_CONTENT {
            return Ok((claims, completes));
        }
        anyhow::ensure!(claimed.status().is_success(), "claim answered {}", claimed.status());
        let task: serde_json::Value = claimed.json().await?;
        let id = task["task_id"].as_str().context("a claimed task has an id")?;
        let done = Instant::now();
        let completed =
            client.post(format!("{base}/api/v1/tasks/{id}/complete")).bearer_auth(token).json(&outcome).send().await?;
        anyhow::ensure!(completed.status().is_success(), "complete answered {}", completed.status());
        completes.push(done.elapsed().as_secs_f64() * 1000.0);
    }
}

/// The `q` quantile of `values` in milliseconds, to a hundredth.
fn percentile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let at = ((values.len() - 1) as f64 * q).round() as usize;
    (values[at] * 100.0).round() / 100.0
}
