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
use crate::synth::{SynthConfig, write_complaints};

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
    let config = SynthConfig {
        complaints: args.records,
        customers: (args.records / 3).max(1),
        seed: 7,
        start: Utc.with_ymd_and_hms(2026, 9, 1, 0, 0, 0).single().expect("valid date"),
        days: 90,
    };
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
            Ok(mend_ingest::Parsed::Ignored(_)) => ignored += 1,
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
}

/// Writes `count` synthetic complaints to `path`.
pub fn generate(path: &std::path::Path, complaints: u64, customers: u64, seed: u64, days: i64) -> Result<()> {
    let file = std::fs::File::create(path).with_context(|| format!("cannot create `{}`", path.display()))?;
    let config = SynthConfig {
        complaints,
        customers: customers.max(1),
        seed,
        start: Utc.with_ymd_and_hms(2026, 9, 1, 0, 0, 0).single().expect("valid date"),
        days,
    };
    write_complaints(&config, &mut BufWriter::with_capacity(1 << 20, file))?;
    Ok(())
}

/// Imports a generated file into a fresh database and prints one JSON line of figures.
pub async fn import(settings: &Settings, args: &ImportBench) -> Result<()> {
    let scratch = std::env::temp_dir().join(format!("mend-bench-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&scratch)?;
    let file = args.file.clone().unwrap_or_else(|| scratch.join("complaints.jsonl"));
    generate(&file, args.complaints, args.customers, 7, 90)?;

    let pg_name = format!("mend_bench_{}", uuid::Uuid::now_v7().simple());
    let url = match args.target {
        Target::Sqlite => format!("sqlite://{}?mode=rwc", scratch.join("bench.db").display()),
        Target::Postgres => {
            mend_store::admin::create_database(&args.postgres_url, &pg_name, None).await?;
            mend_store::admin::with_database(&args.postgres_url, &pg_name)
        }
    };
    let result = run_import(settings, &url, &file).await;
    if args.target == Target::Postgres {
        mend_store::admin::drop_database(&args.postgres_url, &pg_name).await?;
    }
    if args.file.is_none() {
        std::fs::remove_file(&file).ok();
    }
    std::fs::remove_dir_all(&scratch).ok();
    let (summary, seconds, marks) = result?;
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
        "seconds": (seconds * 100.0).round() / 100.0,
        "complaints_per_second": (args.complaints as f64 / seconds).round(),
        "stretch": stretch,
        "first_stretch_per_second": rate_between(0, stretch),
        "last_stretch_per_second": rate_between(args.complaints - stretch, args.complaints),
        "peak_rss_mib": peak_rss_mib(),
        "summary": summary,
    });
    println!("{line}");
    Ok(())
}

/// The stretch of a run whose rate is reported at its start and its end.
const STRETCH: u64 = 100_000;

/// The summary, the seconds taken, and after each batch the records so far and the seconds.
type ImportRun = (crate::import::ImportSummary, f64, Vec<(u64, f64)>);

async fn run_import(settings: &Settings, url: &str, file: &std::path::Path) -> Result<ImportRun> {
    let store = Store::connect(url).await?;
    store.migrate().await?;
    let intake = settings.intake()?;
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
    store.close().await?;
    Ok((summary, seconds, marks.into_inner().expect("no panics while holding")))
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
