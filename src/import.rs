//! `mend import`: stream a file of complaints through intake in constant memory.
//!
//! A reader thread splits records (lines, XML documents or CSV rows, by channel) and parses them
//! into batches while the async side writes the previous batch, so parsing and database work
//! overlap. From a file it reads `import.read_ahead` records ahead and hands them on in the order
//! they were received, so a file's line order does not decide its cases; a pipe is handed on as
//! it comes. The channel between them holds at most two batches: memory is bounded by the
//! read-ahead and two batches whatever the file size.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use mend_cases::{Intake, IntakeReport, IntakeStream, Outcome};
use mend_core::{CaseId, Channel, Clock, Complaint, CustomerKey, Delivery, Quarantined, SystemClock};
use mend_ingest::wechat::XmlDocuments;
use mend_ingest::{CsvRecords, Format, MenuChoice, ParseSettings, Parsed, Received, RecordLines};
use mend_store::Store;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::settings::Settings;

/// The formats `mend import --channel` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ImportFormat {
    /// JSON Lines of canonical complaints (DESIGN.md).
    Json,
    /// A call-center export (CSV, columns mapped in [channels.hotline.csv]), or JSON Lines of
    /// call records.
    Hotline,
    /// WeChat message XML, one message per line or concatenated.
    Wechat,
    /// JSON Lines of finished chatbot sessions.
    Bot,
    /// An export of store satisfaction terminals (CSV, [channels.store.csv]), or JSON Lines.
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

    /// The record format of a file, from its first bytes where a channel has two.
    pub(crate) fn record_format(self, start: &[u8]) -> Format {
        let start = start.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(start);
        let json = start.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
        match self {
            ImportFormat::Json => Format::Canonical,
            ImportFormat::Hotline if json => Format::HotlineJson,
            ImportFormat::Hotline => Format::HotlineCsv,
            ImportFormat::Wechat => Format::Wechat,
            ImportFormat::Bot => Format::Bot,
            ImportFormat::Store if json => Format::StoreJson,
            ImportFormat::Store => Format::StoreCsv,
        }
    }
}

/// Splits a stream into the records of one format.
pub(crate) enum Records {
    Lines(RecordLines<Box<dyn BufRead + Send>>),
    Xml(XmlDocuments<Box<dyn BufRead + Send>>),
    Csv(Box<CsvRecords<Box<dyn BufRead + Send>>>),
}

impl Records {
    pub(crate) fn new(format: Format, reader: Box<dyn BufRead + Send>) -> Self {
        Self::limited(format, reader, u64::MAX - 1)
    }

    /// Records of `format`; a line past `limit` bytes is not read further than one byte past it
    /// (the others are records of an XML document or a CSV row, which their own readers bound).
    pub(crate) fn limited(format: Format, reader: Box<dyn BufRead + Send>, limit: u64) -> Self {
        match format {
            Format::Wechat => Records::Xml(XmlDocuments::new(reader)),
            Format::HotlineCsv | Format::StoreCsv => Records::Csv(Box::new(CsvRecords::new(reader))),
            Format::Canonical | Format::HotlineJson | Format::Bot | Format::StoreJson => {
                Records::Lines(RecordLines::with_limit(reader, limit))
            }
        }
    }

    /// How long the record just read was in the input (a line past the limit was cut short).
    fn last_record_bytes(&self, record: &[u8]) -> u64 {
        match self {
            Records::Lines(r) => r.last_line_bytes(),
            Records::Xml(_) | Records::Csv(_) => record.len() as u64,
        }
    }

    pub(crate) fn next_record(&mut self, buf: &mut Vec<u8>) -> io::Result<Option<()>> {
        match self {
            Records::Lines(r) => r.next_record(buf),
            Records::Xml(r) => r.next_record(buf),
            Records::Csv(r) => r.next_record(buf),
        }
    }

    fn bytes_read(&self) -> u64 {
        match self {
            Records::Lines(r) => r.bytes_read,
            Records::Xml(r) => r.bytes_read,
            Records::Csv(r) => r.bytes_read(),
        }
    }
}

/// What the reader thread hands over: deliveries for intake, and how many records were
/// well-formed but not complaints.
struct Batch {
    deliveries: Vec<Delivery>,
    ignored: u64,
}

/// The JSON printed on stdout when an import ends.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct ImportSummary {
    pub accepted: u64,
    pub duplicates: u64,
    pub quarantined: u64,
    pub cases_created: u64,
    pub cases_updated: u64,
    /// Well-formed records that are not complaints (a WeChat question, a call rated satisfied).
    pub ignored: u64,
    /// Non-blank records read: always accepted + duplicates + quarantined + ignored.
    pub records: u64,
    /// Of the quarantined, records with other content under a delivery id already recorded.
    pub conflicts: u64,
}

impl ImportSummary {
    /// Counts what a batch's final report says of its deliveries.
    fn count(&mut self, report: &IntakeReport) {
        for outcome in &report.outcomes {
            match outcome {
                Outcome::Accepted { case_created, .. } => {
                    self.accepted += 1;
                    self.cases_created += u64::from(*case_created);
                }
                Outcome::Duplicate { .. } => self.duplicates += 1,
                Outcome::Quarantined { .. } => self.quarantined += 1,
                Outcome::Conflict { .. } => {
                    self.quarantined += 1;
                    self.conflicts += 1;
                }
            }
        }
    }
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
                // A named pipe has no length: read as it comes, like standard input.
                let len = file.metadata().ok().filter(|m| m.is_file()).map(|m| m.len());
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
    /// Records of a file read ahead and delivered in the order they were received.
    pub read_ahead: usize,
    /// Added to every record's `received_at` as it is read (the demo moves its samples to now).
    pub time_shift: chrono::Duration,
    pub clock: &'a dyn Clock,
    /// Told the records recorded so far after each batch (benchmarks time stretches of a run).
    pub on_batch: Option<&'a (dyn Fn(u64) + Sync)>,
    /// The largest record taken, as over HTTP (`http.max_body_bytes`): a larger one is
    /// quarantined with its first this many bytes.
    pub max_record_bytes: u64,
}

impl<'a> Importer<'a> {
    /// An importer configured from `settings`, writing with the system clock.
    pub fn new(settings: &Settings, store: &'a Store, intake: Arc<Intake>) -> Result<Self> {
        Ok(Self {
            store,
            intake,
            parse: settings.parse_settings()?,
            batch_size: settings.import.batch_size,
            read_ahead: settings.import.read_ahead,
            max_record_bytes: settings.http.max_body_bytes as u64,
            clock: &SystemClock,
            on_batch: None,
            time_shift: chrono::Duration::zero(),
        })
    }

    pub async fn run(&self, format: ImportFormat, input: &Input) -> Result<ImportSummary> {
        let (mut reader, total_bytes) = input.open()?;
        let record_format = format.record_format(reader.fill_buf().context("reading the input failed")?);
        let started = Instant::now();
        let progress = crate::progress::bytes(total_bytes);
        let bytes_read = Arc::new(AtomicU64::new(0));
        let (tx, mut rx) = mpsc::channel::<Batch>(2);
        let parser = {
            let bytes_read = Arc::clone(&bytes_read);
            let (parse, batch_size, now) = (self.parse.clone(), self.batch_size, self.clock.now());
            // A file's end is in sight; a pipe may be live, and must not wait for records to come.
            let read_ahead = if total_bytes.is_some() { self.read_ahead } else { 0 };
            let max_record = self.max_record_bytes;
            let records = Records::limited(record_format, reader, max_record);
            let clock = ImportClock { started_at: now, started: Instant::now() };
            let shift = self.time_shift;
            let reading = Reading { format: record_format, parse, batch_size, read_ahead, clock, shift, max_record };
            std::thread::spawn(move || read_batches(records, &reading, &bytes_read, &tx))
        };

        // Case ids are time-ordered: one at or after this mark was opened during this import.
        let watermark = CaseId::new();
        let mut updated: HashSet<CaseId> = HashSet::new();
        let mut summary = ImportSummary::default();
        let mut ignored = 0;
        let mut stream = IntakeStream::new(Arc::clone(&self.intake), self.store);
        let mut count = |reports: Vec<IntakeReport>| {
            for report in reports {
                summary.count(&report);
                updated.extend(report.existing_cases_touched.into_iter().filter(|id| *id < watermark));
            }
        };
        let mut records = 0;
        loop {
            let batch = match rx.try_recv() {
                Ok(batch) => batch,
                Err(mpsc::error::TryRecvError::Disconnected) => break,
                Err(mpsc::error::TryRecvError::Empty) => {
                    // A slow producer (a pipe) must not keep the database locked while we wait.
                    count(stream.commit(self.clock.now()).await?);
                    tracing::debug!(records, "Recorded every record so far; waiting for more input.");
                    match rx.recv().await {
                        Some(batch) => batch,
                        None => break,
                    }
                }
            };
            records += batch.deliveries.len() as u64 + batch.ignored;
            ignored += batch.ignored;
            count(stream.record(batch.deliveries, self.clock.now()).await?);
            if let Some(on_batch) = self.on_batch {
                on_batch(records);
            }
            progress.set_position(bytes_read.load(Ordering::Relaxed));
            progress.set_message(format!("{records} records"));
        }
        count(stream.finish(self.clock.now()).await?);
        self.intake.term_statistics().save(self.store).await?;
        summary.records = records;
        summary.ignored = ignored;
        summary.cases_updated = updated.len() as u64;
        progress.finish_and_clear();
        parser.join().map_err(|_| anyhow::anyhow!("the reader thread panicked"))??;

        let seconds = started.elapsed().as_secs_f64();
        tracing::info!(
            records = summary.records,
            accepted = summary.accepted,
            duplicates = summary.duplicates,
            quarantined = summary.quarantined,
            ignored = summary.ignored,
            seconds,
            "Import finished."
        );
        mend_store::audit::record_audit(
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

fn shifted(parsed: Parsed, shift: chrono::Duration) -> Parsed {
    match parsed {
        Parsed::Complaint(mut c) => {
            c.received_at += shift;
            Parsed::Complaint(c)
        }
        Parsed::Remark(mut c) => {
            c.received_at += shift;
            Parsed::Remark(c)
        }
        Parsed::Intent(choice) => {
            Parsed::Intent(MenuChoice { at: choice.at + shift, until: choice.until + shift, ..choice })
        }
        ignored => ignored,
    }
}

/// The first complaint of `input` read as `format` and the latest `received_at` of them all,
/// without recording anything (the demo places its samples before now with it).
pub fn complaints_span(
    format: ImportFormat,
    input: &[u8],
    parse: &ParseSettings,
) -> Result<Option<(Complaint, DateTime<Utc>)>> {
    let reader: Box<dyn BufRead + Send> = Box::new(std::io::Cursor::new(input.to_vec()));
    let record_format = format.record_format(input);
    let mut records = Records::new(record_format, reader);
    let (mut record, mut span): (Vec<u8>, Option<(Complaint, DateTime<Utc>)>) = (Vec::new(), None);
    while records.next_record(&mut record)?.is_some() {
        if let Ok(Parsed::Complaint(c)) = record_format.parse(&record, parse) {
            span = Some(match span {
                Some((first, latest)) => (first, latest.max(c.received_at)),
                None => {
                    let at = c.received_at;
                    (*c, at)
                }
            });
        }
    }
    Ok(span)
}

/// The complaint-menu choices (WeChat's) read so far, by customer: a message of the file sent
/// in a choice's time is the complaint, formally, whatever its words — as over HTTP.
#[derive(Default)]
struct MenuChoices(HashMap<(Channel, CustomerKey), MenuChoice>);

impl MenuChoices {
    /// Keeps the latest choice of each customer, whatever order the file has them in.
    fn note(&mut self, choice: MenuChoice) {
        let latest = self.0.entry((choice.channel, choice.key.clone())).or_insert_with(|| choice.clone());
        if latest.at <= choice.at {
            *latest = choice;
        }
    }

    fn cover(&self, message: &Complaint) -> bool {
        let chosen = |key: &CustomerKey| self.0.get(&(message.channel, key.clone()));
        message.keys.iter().any(|key| chosen(key).is_some_and(|choice| choice.covers(message.received_at)))
    }
}

/// How the reader thread turns records into deliveries.
struct Reading {
    format: Format,
    parse: ParseSettings,
    batch_size: usize,
    read_ahead: usize,
    clock: ImportClock,
    shift: chrono::Duration,
    max_record: u64,
}

/// The clock `received_at` is judged by: the importer's at the start, moving on with the time
/// the import takes (a pipe may feed one for days).
#[derive(Debug, Clone, Copy)]
struct ImportClock {
    started_at: DateTime<Utc>,
    started: Instant,
}

impl ImportClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = chrono::Duration::from_std(self.started.elapsed()).unwrap_or(chrono::Duration::MAX);
        self.started_at.checked_add_signed(elapsed).unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

fn read_batches(
    mut records: Records,
    &Reading { format, ref parse, batch_size, read_ahead, clock, shift, max_record }: &Reading,
    bytes_read: &AtomicU64,
    tx: &mpsc::Sender<Batch>,
) -> Result<()> {
    let window = read_ahead.max(batch_size);
    let mut record = Vec::new();
    let mut number = 0u64;
    let mut ahead = Batch { deliveries: Vec::with_capacity(window), ignored: 0 };
    let mut menu_choices = MenuChoices::default();
    loop {
        let more = records.next_record(&mut record).context("reading the input failed")?.is_some();
        if more && record.len() as u64 > max_record {
            number += 1;
            let bytes = records.last_record_bytes(&record);
            record.truncate(max_record as usize);
            ahead.deliveries.push(Delivery::Quarantined(Quarantined {
                channel: format.label().to_owned(),
                raw: std::mem::take(&mut record),
                reason: format!(
                    "the record is {bytes} bytes, more than a record may be (http.max_body_bytes = {max_record}); \
                     its first {max_record} bytes are kept"
                ),
                location: Some(format!("record {number}")),
            }));
        } else if more {
            number += 1;
            let parsed = format.parse(&record, parse).map(|p| shifted(p, shift));
            match mend_ingest::receive(format.label(), &record, parsed, parse, clock.now()) {
                Received::Delivery(Delivery::Quarantined(mut q)) => {
                    q.location = Some(format!("record {number}"));
                    ahead.deliveries.push(Delivery::Quarantined(q));
                }
                Received::Delivery(Delivery::Complaint(mut c)) => {
                    c.record = Some(number);
                    c.formal_complaint |= menu_choices.cover(&c);
                    ahead.deliveries.push(Delivery::Complaint(c));
                }
                Received::Remark(mut c) if menu_choices.cover(&c) && !mend_cases::is_greeting(&c.text) => {
                    c.record = Some(number);
                    c.formal_complaint = true;
                    ahead.deliveries.push(Delivery::Complaint(c));
                }
                Received::Intent(choice) => {
                    menu_choices.note(choice);
                    ahead.ignored += 1;
                }
                // A file is no live conversation: other words without a cue are not followed up.
                Received::Remark(_) | Received::Ignored(_) => ahead.ignored += 1,
            }
        }
        let size = ahead.deliveries.len() + ahead.ignored as usize;
        if size >= window || (!more && size > 0) {
            bytes_read.store(records.bytes_read(), Ordering::Relaxed);
            let read = std::mem::replace(&mut ahead, Batch { deliveries: Vec::with_capacity(window), ignored: 0 });
            for batch in in_time_order(read, batch_size) {
                if tx.blocking_send(batch).is_err() {
                    // The writer stopped (and reports why); nothing more to do here.
                    return Ok(());
                }
            }
        }
        if !more {
            return Ok(());
        }
    }
}

/// What was read ahead, as batches of `batch_size` in the order intake places a batch's
/// deliveries in: across the batches, not only within each.
fn in_time_order(read: Batch, batch_size: usize) -> Vec<Batch> {
    let order = mend_cases::placing_order(&read.deliveries);
    let mut slots: Vec<Option<Delivery>> = read.deliveries.into_iter().map(Some).collect();
    let mut ordered = order.into_iter().map(|i| slots[i].take().expect("an order names each delivery once"));
    let mut batches = Vec::new();
    let mut ignored = read.ignored;
    loop {
        let deliveries: Vec<Delivery> = ordered.by_ref().take(batch_size).collect();
        if deliveries.is_empty() && ignored == 0 {
            return batches;
        }
        // Records read and not delivered count with the first batch.
        batches.push(Batch { deliveries, ignored: std::mem::take(&mut ignored) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mend_core::{Channel, CustomerDetails, Quarantined};

    fn delivery(source_id: &str, hour: u32) -> Delivery {
        Delivery::Complaint(Box::new(Complaint {
            channel: Channel::Hotline,
            source_id: source_id.into(),
            received_at: chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 20, hour, 0, 0).unwrap(),
            keys: Vec::new(),
            customer: CustomerDetails::default(),
            text: "宽带又断了".into(),
            category: None,
            satisfaction: None,
            formal_complaint: false,
            raw_payload: String::new(),
            format: "json".into(),
            record: None,
        }))
    }

    fn names(batch: &Batch) -> Vec<String> {
        batch
            .deliveries
            .iter()
            .map(|d| match d {
                Delivery::Complaint(c) => c.source_id.clone(),
                Delivery::Quarantined(q) => format!("quarantined {}", q.reason),
            })
            .collect()
    }

    #[test]
    fn what_was_read_ahead_goes_on_in_time_order_in_batches() {
        let unreadable = Delivery::Quarantined(Quarantined {
            channel: "hotline".into(),
            raw: b"{".to_vec(),
            reason: "not JSON".into(),
            location: None,
        });
        let read = Batch {
            deliveries: vec![delivery("c", 12), delivery("a", 8), unreadable, delivery("b", 10), delivery("a2", 8)],
            ignored: 3,
        };
        let batches = in_time_order(read, 2);
        let named: Vec<Vec<String>> = batches.iter().map(names).collect();
        assert_eq!(named, [vec!["quarantined not JSON", "a"], vec!["a2", "b"], vec!["c"]]);
        assert_eq!(batches.iter().map(|b| b.ignored).collect::<Vec<_>>(), [3, 0, 0], "counted once");

        let only_ignored = in_time_order(Batch { deliveries: Vec::new(), ignored: 2 }, 2);
        assert_eq!((only_ignored.len(), only_ignored[0].ignored), (1, 2));
    }
}
