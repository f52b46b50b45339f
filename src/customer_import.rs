//! `mend customers import`: a CRM's list of customers — their keys, tier, time zone, whether
//! they may be called, name and email — taken into mend before or after they complain, so a VIP's
//! first complaint is already weighed as one and a customer who asked for no calls gets none.

use std::path::Path;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use mend_cases::{Intake, LinkScope};
use mend_core::{CustomerDetails, CustomerKey, IdentityKind};
use mend_scheduler::PriorityWeights;
use mend_store::Store;
use mend_store::customers::ContactChange;
use serde::Serialize;

/// How many refused rows the summary lists (all are counted).
const LISTED_PROBLEMS: usize = 100;

/// What an import did.
#[derive(Debug, Default, Serialize)]
pub struct CustomerImportSummary {
    pub rows: u64,
    /// Customers none of whose keys mend knew.
    pub customers_created: u64,
    /// Customers the file's rows showed to be one person with another, merged into it.
    pub customers_merged: u64,
    /// Customers whose tier, zone or do-not-disturb changed.
    pub customers_changed: u64,
    /// Calls nobody took, cancelled for customers who asked not to be called.
    pub tasks_cancelled: u64,
    pub refused: u64,
    /// The first refused rows: `{"line", "reason"}`.
    pub problems: Vec<RowProblem>,
    /// Columns the file has that mend does not read.
    pub ignored_columns: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct RowProblem {
    pub line: u64,
    pub reason: String,
}

/// One row, checked.
struct CustomerRow {
    keys: Vec<CustomerKey>,
    details: CustomerDetails,
    change: ContactChange,
}

/// The columns a file may have (header names, any order, any letter case).
struct Columns {
    keys: Vec<(usize, IdentityKind)>,
    name: Option<usize>,
    email: Option<usize>,
    tier: Option<usize>,
    timezone: Option<usize>,
    do_not_disturb: Option<usize>,
}

impl Columns {
    fn read(header: &csv::StringRecord, ignored: &mut Vec<String>) -> Result<Self> {
        let mut columns =
            Columns { keys: Vec::new(), name: None, email: None, tier: None, timezone: None, do_not_disturb: None };
        for (i, name) in header.iter().enumerate() {
            let name = name.trim().to_ascii_lowercase();
            match name.as_str() {
                "name" => columns.name = Some(i),
                "email" => columns.email = Some(i),
                "tier" => columns.tier = Some(i),
                "timezone" => columns.timezone = Some(i),
                "do_not_disturb" => columns.do_not_disturb = Some(i),
                other => match other.parse::<IdentityKind>() {
                    Ok(kind) => columns.keys.push((i, kind)),
                    Err(_) => ignored.push(name),
                },
            }
        }
        anyhow::ensure!(
            !columns.keys.is_empty(),
            "the file names no key column: its header needs one of {}",
            IdentityKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
        );
        Ok(columns)
    }

    fn row(&self, record: &csv::StringRecord, priority: &PriorityWeights) -> Result<CustomerRow, String> {
        let field = |i: Option<usize>| i.and_then(|i| record.get(i)).map(str::trim).filter(|v| !v.is_empty());
        let mut keys = Vec::new();
        for &(i, kind) in &self.keys {
            if let Some(value) = field(Some(i)) {
                keys.push(mend_ingest::normalize_key(kind, value).map_err(|e| e.to_string())?);
            }
        }
        if keys.is_empty() {
            return Err("no key: every row needs a phone, an openid or another key".into());
        }
        let email = field(self.email)
            .map(|e| {
                mend_notify::parse_address(e).map(|_| e.to_owned()).map_err(|_| format!("`{e}` is no email address"))
            })
            .transpose()?;
        let timezone = field(self.timezone)
            .map(|zone| zone.parse::<chrono_tz::Tz>().map_err(|_| format!("`{zone}` is no IANA time zone")))
            .transpose()?;
        let do_not_disturb = field(self.do_not_disturb).map(yes_or_no).transpose()?;
        let tier = field(self.tier).map(|tier| priority.known_tier(tier)).transpose()?;
        Ok(CustomerRow {
            keys,
            details: CustomerDetails { name: field(self.name).map(str::to_owned), email },
            change: ContactChange { do_not_disturb, timezone, tier },
        })
    }
}

/// How CRM exports write a yes or a no.
fn yes_or_no(value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "1" | "是" | "勿扰" => Ok(true),
        "false" | "no" | "n" | "0" | "否" | "" => Ok(false),
        _ => Err(format!("do_not_disturb `{value}` is neither yes nor no")),
    }
}

/// Imports `path` (UTF-8 or GB18030 CSV with a header) as `actor` at `now`.
pub async fn import_customers(
    store: &Store,
    intake: &Intake,
    priority: &PriorityWeights,
    path: &Path,
    now: DateTime<Utc>,
) -> Result<CustomerImportSummary> {
    let raw = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let (text, encoding) = mend_ingest::readable(&raw);
    anyhow::ensure!(encoding.is_some(), "{} is neither UTF-8 nor GB18030 text", path.display());
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(text.as_bytes());
    let mut summary = CustomerImportSummary::default();
    let columns = Columns::read(reader.headers()?, &mut summary.ignored_columns)?;
    let source = format!("crm import {}", path.file_name().map(|f| f.to_string_lossy()).unwrap_or_default());
    let actor = format!("import:{}", path.display());
    let progress = crate::progress::steps();
    progress.set_message("customers");
    for record in reader.records() {
        let line = summary.rows + 2;
        summary.rows += 1;
        progress.inc(1);
        let row = record.map_err(|e| e.to_string()).and_then(|r| columns.row(&r, priority));
        let row = match row {
            Ok(row) => row,
            Err(reason) => {
                summary.refused += 1;
                if summary.problems.len() < LISTED_PROBLEMS {
                    summary.problems.push(RowProblem { line, reason });
                }
                continue;
            }
        };
        let linked = intake.link_identities(store, &row.keys, &source, &LinkScope::Any, now).await?;
        summary.customers_created += u64::from(linked.created);
        summary.customers_merged += linked.merged.len() as u64;
        let customer = linked.customer_id;
        mend_store::customers::fill_details(store.connection(), customer, &row.details, now).await?;
        if row.change != ContactChange::default() {
            let changed = mend_store::customers::change_contact(store, customer, &row.change, &actor, None, now)
                .await?
                .with_context(|| format!("line {line}: customer {customer} is gone"))?;
            summary.tasks_cancelled += changed.tasks_cancelled.len() as u64;
            summary.customers_changed += u64::from(changed.changed);
        }
    }
    progress.finish_and_clear();
    Ok(summary)
}
