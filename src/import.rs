//! `mend import`: stream a file of complaints through intake in constant memory.
//!
//! A reader thread splits and parses records into batches while the async side writes the
//! previous batch, so parsing and database work overlap; the channel between them holds at most
//! two batches, which bounds memory whatever the file size.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufRead, BufReader, IsTerminal};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use mend_cases::{Intake, IntakeStream, Outcome};
use mend_core::{CaseId, Clock, Delivery, SystemClock};
use mend_ingest::{ParseSettings, RecordLines};
use mend_store::Store;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::settings::Settings;

/// The formats `mend import --channel` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ImportFormat {
    /// JSON Lines of canonical complaints (DESIGN.md).
    Json,
    Hotline,
    Wechat,
    Bot,
    Store,
}

impl ImportFormat {
    fn label(self) -> &'static str {
        match self {
            ImportFormat::Json => "json",
            ImportFormat::Hotline => "hotline",
            ImportFormat::Wechat => "wechat",
            ImportFormat::Bot => "bot",
            ImportFormat::Store => "store",
        }
    }
}

/// The JSON printed on stdout when an import ends.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct ImportSummary {
    pub accepted: u64,
    pub duplicates: u64,
    pub quarantined: u64,
    pub cases_created: u64,
    pub cases_updated: u64,
    /// Non-blank records read: always accepted + duplicates + quarantined.
    pub records: u64,
}

pub enum Input {
    File(PathBuf),
    Stdin,
    /// Data shipped inside the binary (the demo's samples).
    Bundled(&'static [u8]),
}

impl Input {
    pub fn parse(arg: &str) -> Self {
        if arg == "-" { Input::Stdin } else { Input::File(PathBuf::from(arg)) }
    }

    fn open(&self) -> Result<(Box<dyn BufRead + Send>, Option<u64>)> {
        const BUFFER: usize = 256 * 1024;
        match self {
            Input::Stdin => Ok((Box::new(BufReader::with_capacity(BUFFER, io::stdin())), None)),
            Input::Bundled(bytes) => Ok((Box::new(*bytes), Some(bytes.len() as u64))),
            Input::File(path) => {
                let file = File::open(path).with_context(|| format!("cannot open `{}`", path.display()))?;
                let len = file.metadata().ok().map(|m| m.len());
                Ok((Box::new(BufReader::with_capacity(BUFFER, file)), len))
            }
        }
    }
}

pub struct Importer<'a> {
    pub store: &'a Store,
    pub intake: Arc<Intake>,
    pub parse: ParseSettings,
    pub batch_size: usize,
    pub clock: &'a dyn Clock,
}

impl<'a> Importer<'a> {
    /// An importer configured from `settings`, writing with the system clock.
    pub fn new(settings: &Settings, store: &'a Store, intake: Arc<Intake>) -> Result<Self> {
        Ok(Self {
            store,
            intake,
            parse: settings.parse_settings()?,
            batch_size: settings.import.batch_size,
            clock: &SystemClock,
        })
    }

    pub async fn run(&self, format: ImportFormat, input: &Input) -> Result<ImportSummary> {
        anyhow::ensure!(
            format == ImportFormat::Json,
            "`--channel {}` files are not supported yet; convert them to canonical JSON Lines and use `--channel json`",
            format.label()
        );
        let (reader, total_bytes) = input.open()?;
        let started = Instant::now();
        let progress = progress_bar(total_bytes);
        let bytes_read = Arc::new(AtomicU64::new(0));
        let (tx, mut rx) = mpsc::channel::<Vec<Delivery>>(2);
        let parser = {
            let bytes_read = Arc::clone(&bytes_read);
            let (parse, batch_size, label) = (self.parse, self.batch_size, format.label());
            std::thread::spawn(move || read_batches(reader, parse, batch_size, label, &bytes_read, &tx))
        };

        // Case ids are time-ordered: one at or after this mark was opened during this import.
        let watermark = CaseId::new();
        let mut updated: HashSet<CaseId> = HashSet::new();
        let mut summary = ImportSummary::default();
        let mut stream = IntakeStream::new(Arc::clone(&self.intake), self.store);
        loop {
            let batch = match rx.try_recv() {
                Ok(batch) => batch,
                Err(mpsc::error::TryRecvError::Disconnected) => break,
                Err(mpsc::error::TryRecvError::Empty) => {
                    // A slow producer (a pipe) must not keep the database locked while we wait.
                    stream.commit().await?;
                    match rx.recv().await {
                        Some(batch) => batch,
                        None => break,
                    }
                }
            };
            let records = batch.len() as u64;
            let report = stream.record(batch, self.clock.now()).await?;
            for outcome in &report.outcomes {
                match outcome {
                    Outcome::Accepted { case_created, .. } => {
                        summary.accepted += 1;
                        summary.cases_created += u64::from(*case_created);
                    }
                    Outcome::Duplicate { .. } => summary.duplicates += 1,
                    Outcome::Quarantined { .. } => summary.quarantined += 1,
                }
            }
            updated.extend(report.existing_cases_touched.into_iter().filter(|id| *id < watermark));
            summary.records += records;
            progress.set_position(bytes_read.load(Ordering::Relaxed));
            progress.set_message(format!("{} records", summary.records));
        }
        stream.commit().await?;
        summary.cases_updated = updated.len() as u64;
        progress.finish_and_clear();
        parser.join().map_err(|_| anyhow::anyhow!("the reader thread panicked"))??;

        let seconds = started.elapsed().as_secs_f64();
        tracing::info!(
            records = summary.records,
            accepted = summary.accepted,
            duplicates = summary.duplicates,
            quarantined = summary.quarantined,
            seconds,
            "Import finished."
        );
        mend_store::intake::record_audit(
            self.store.connection(),
            mend_store::AuditEntry {
                at: self.clock.now(),
                actor: "cli".into(),
                action: "import.completed".into(),
                subject_kind: "import".into(),
                subject_id: None,
                detail: serde_json::json!({"channel": format.label(), "summary": summary, "seconds": seconds}),
            },
        )
        .await?;
        Ok(summary)
    }
}

fn read_batches(
    reader: Box<dyn BufRead + Send>,
    parse: ParseSettings,
    batch_size: usize,
    label: &str,
    bytes_read: &AtomicU64,
    tx: &mpsc::Sender<Vec<Delivery>>,
) -> Result<()> {
    let mut lines = RecordLines::new(reader);
    let mut line = Vec::new();
    let mut batch = Vec::with_capacity(batch_size);
    loop {
        let more = lines.next_record(&mut line).context("reading the input failed")?.is_some();
        if more {
            let parsed = mend_ingest::parse_canonical(&line, &parse);
            batch.push(mend_ingest::into_delivery(label, &line, parsed));
        }
        if batch.len() >= batch_size || (!more && !batch.is_empty()) {
            bytes_read.store(lines.bytes_read, Ordering::Relaxed);
            let full = std::mem::replace(&mut batch, Vec::with_capacity(batch_size));
            if tx.blocking_send(full).is_err() {
                // The writer stopped (and reports why); nothing more to do here.
                return Ok(());
            }
        }
        if !more {
            return Ok(());
        }
    }
}

fn progress_bar(total_bytes: Option<u64>) -> ProgressBar {
    if !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    match total_bytes {
        Some(total) => ProgressBar::new(total).with_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg} (eta {eta})",
            )
            .expect("static template"),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bytes} {msg}").expect("static template"),
        ),
    }
}
