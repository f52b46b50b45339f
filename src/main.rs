//! `mend`: the command line of the centralized repair desk.

mod admin;
mod bench;
mod channel_synth;
mod customer_import;
mod demo;
mod eval;
mod export;
mod import;
mod outbox;
mod progress;
mod schedule;
mod settings;
mod synth;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use mend_core::{Clock, FixedClock, QuarantineId, Role, SystemClock};
use mend_store::Store;

use crate::import::{ImportFormat, Importer, Input};
use crate::settings::{Settings, UnknownKey};

#[derive(Debug, Parser)]
#[command(name = "mend", version, about = "Centralized repair desk for dissatisfied customers")]
struct Cli {
    /// A TOML file whose keys override config/default.toml (MEND_* variables override both).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API (migrates the database first).
    Serve {
        /// Serve as if the clock stood still at this instant (RFC 3339): for tests and for
        /// showing a desk at a chosen moment. The system's clock otherwise.
        #[arg(long, value_name = "RFC3339", value_parser = parse_now)]
        now: Option<chrono::DateTime<chrono::FixedOffset>>,
    },
    /// Bring the database schema up to date.
    Migrate,
    /// Import complaints from a file (or - for standard input); prints a JSON summary.
    Import {
        #[arg(long, value_enum)]
        channel: ImportFormat,
        #[arg(value_name = "FILE|-")]
        input: String,
        /// The import's clock (RFC 3339) instead of the system's: when keys are linked and cases
        /// recorded, and how far ahead a `received_at` may be.
        #[arg(long, value_name = "RFC3339", value_parser = parse_now)]
        now: Option<chrono::DateTime<chrono::FixedOffset>>,
    },
    /// Cases: export.
    Cases {
        #[command(subcommand)]
        command: CasesCommand,
    },
    /// Customers: import a CRM's list (keys, tier, time zone, do-not-disturb, name, email).
    Customers {
        #[command(subcommand)]
        command: CustomersCommand,
    },
    /// Load the bundled sample complaints and show what mend makes of them.
    Demo {
        /// Then create demo users (printed with their passwords) and serve the workbench, with
        /// customers callable at any hour so the demo queue works whenever it runs.
        #[arg(long)]
        serve: bool,
        /// The demo's clock (RFC 3339) instead of the system's, as `mend serve --now`.
        #[arg(long, value_name = "RFC3339", value_parser = parse_now)]
        now: Option<chrono::DateTime<chrono::FixedOffset>>,
    },
    /// Measured runs for BENCHMARKS.md.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// Train what mend learns from a call center's own history: categories.
    Train {
        #[command(subcommand)]
        command: TrainCommand,
    },
    /// Measure quality against labeled data.
    Eval {
        #[command(subcommand)]
        command: EvalCommand,
    },
    /// Users: add, list, token, deactivate, activate, password.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Payloads that could not be read: list, replay, purge.
    Quarantine {
        #[command(subcommand)]
        command: QuarantineCommand,
    },
    /// Scheduler jobs: run once.
    Schedule {
        #[command(subcommand)]
        command: ScheduleCommand,
    },
    /// Check the identity graph and the cases for contradictions; prints
    /// `{"problems": N, "found": [...]}` and exits 1 when N > 0.
    Check,
    /// Callback tasks: export.
    Tasks {
        #[command(subcommand)]
        command: TasksCommand,
    },
    /// Emails waiting to be sent, sent, or given up on.
    Outbox {
        #[command(subcommand)]
        command: OutboxCommand,
    },
}

#[derive(Debug, Subcommand)]
enum OutboxCommand {
    /// Send every email that is due, once each (for deployments that send from cron rather
    /// than `mend serve`); prints `{"sent","retried","failed"}`, and exits 1 if any failed.
    Flush {
        /// The clock the emails are due by (RFC 3339), instead of the system's.
        #[arg(long, value_name = "RFC3339", value_parser = parse_now)]
        now: Option<chrono::DateTime<chrono::FixedOffset>>,
    },
    /// Put the emails given up on back in the queue with a fresh count of attempts (after a
    /// setting that failed them, say a relay's login, is fixed), but for surveys whose link has
    /// run out; prints `{"requeued": N}`.
    Requeue {
        /// Only emails queued at or after this time (RFC 3339): a survey queued weeks ago links
        /// to a survey that has expired.
        #[arg(long, value_name = "RFC3339")]
        since: Option<chrono::DateTime<chrono::FixedOffset>>,
        /// Also emails given up because two sends went unconfirmed: their recipient may have
        /// them twice already.
        #[arg(long)]
        include_unconfirmed: bool,
        /// The clock the emails are due again by (RFC 3339), instead of the system's.
        #[arg(long, value_name = "RFC3339", value_parser = parse_now)]
        now: Option<chrono::DateTime<chrono::FixedOffset>>,
    },
    /// Emails oldest first as JSON Lines, without their bodies.
    List {
        /// queued, sending, sent, failed or withdrawn.
        #[arg(long, value_parser = parse_email_status)]
        status: Option<mend_core::EmailStatus>,
        #[arg(long, default_value_t = 100)]
        limit: u64,
    },
}

fn parse_email_status(s: &str) -> Result<mend_core::EmailStatus, mend_core::UnknownWord> {
    s.parse()
}

#[derive(Debug, Subcommand)]
enum TrainCommand {
    /// Train the label classifier on `text<TAB>label` lines (labelled orders), store it in place
    /// of any earlier one and print `{"examples", "labels", "bad_lines", "cross_validated_accuracy",
    /// ...}`. New complaints and cases carry its `label` next to their `category`.
    Categories {
        /// The labelled lines, or - for standard input.
        #[arg(value_name = "FILE|-")]
        file: PathBuf,
        /// The time the training is recorded at (RFC 3339), instead of the system's.
        #[arg(long, value_name = "RFC3339", value_parser = parse_now)]
        now: Option<chrono::DateTime<chrono::FixedOffset>>,
        /// Put the new model in use even when it does clearly worse by cross-validation than the
        /// one in use (otherwise it is refused, and the one in use stays).
        #[arg(long)]
        even_if_worse: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ScheduleCommand {
    /// Run a job (or every job) once, now or at `--now`; prints one JSON line per run.
    Run {
        /// One job; all of them when omitted.
        #[arg(value_name = "JOB", value_parser = clap::builder::PossibleValuesParser::new(mend_scheduler::Job::ALL.map(mend_scheduler::Job::as_str)))]
        job: Option<String>,
        /// The clock the jobs run at (RFC 3339), instead of the system's.
        #[arg(long, value_name = "RFC3339", value_parser = parse_now)]
        now: Option<chrono::DateTime<chrono::FixedOffset>>,
    },
    /// Run what the cron schedules have due at `--now` and no instance ran yet, as `mend serve`
    /// does every second; prints one JSON line per run.
    Tick {
        #[arg(long, value_name = "RFC3339", value_parser = parse_now)]
        now: Option<chrono::DateTime<chrono::FixedOffset>>,
    },
}

#[derive(Debug, Subcommand)]
enum TasksCommand {
    /// Every task as JSON Lines on standard output.
    Export,
}

#[derive(Debug, Subcommand)]
enum EvalCommand {
    /// Import labeled complaints (`expected_case` on each line) into a scratch database and print
    /// pairwise and B-cubed precision, recall and F1 of the cases made.
    Grouping {
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Train the label model on these `text<TAB>label` lines first (as `mend train
        /// categories`), and score label accuracy where lines carry `expected_label`.
        #[arg(long, value_name = "TSV")]
        train: Option<PathBuf>,
        /// Group in this (empty) database rather than a scratch SQLite file: figures for
        /// PostgreSQL.
        #[arg(long, value_name = "URL")]
        database: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user; prints their password and API token (shown only this once) as JSON.
    Add {
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[arg(long)]
        team: Option<String>,
        /// Where alerts and the hot-issue report reach a supervisor or administrator.
        #[arg(long)]
        email: Option<String>,
    },
    /// Replace a user's API token (a lost or leaked one stops working) and end their browser
    /// sessions; prints the new token as JSON.
    Token {
        #[arg(long)]
        name: String,
    },
    /// Every user, one JSON line each, by name.
    List,
    /// Stop a user from signing in (someone who left): their token and sessions stop working
    /// and the calls they hold go back to the queue; prints JSON. The last active administrator
    /// cannot be deactivated.
    Deactivate {
        #[arg(long)]
        name: String,
        /// Why, for the audit log.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Let a deactivated user sign in again with the credentials they had; prints JSON.
    Activate {
        #[arg(long)]
        name: String,
    },
    /// Give a user a new generated password (a forgotten one) and end their browser sessions;
    /// prints it as JSON, this once.
    Password {
        #[arg(long)]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum QuarantineCommand {
    /// Quarantined payloads, newest first, as JSON Lines.
    List {
        /// Only those not yet replayed successfully.
        #[arg(long)]
        unresolved: bool,
        #[arg(long, default_value_t = 100)]
        limit: u64,
    },
    /// Run a quarantined payload through its channel's adapter again, after a fix; prints the
    /// outcome as JSON and fails if the payload still cannot be read.
    Replay {
        #[arg(value_name = "ID")]
        id: QuarantineId,
    },
    /// Delete the records last refused, or resolved, longer ago than `--older-than`
    /// (`scheduler.quarantine_retention_days` by default); prints `{"purged","cutoff"}`.
    Purge {
        /// An age of an hour or more, such as `30d`, `12h` or `90days` (`m` is minutes, `M`
        /// months).
        #[arg(long, value_name = "AGE", value_parser = parse_purge_age)]
        older_than: Option<std::time::Duration>,
        /// The clock the age counts back from (RFC 3339), instead of the system's.
        #[arg(long, value_name = "RFC3339", value_parser = parse_now)]
        now: Option<chrono::DateTime<chrono::FixedOffset>>,
    },
}

/// A purge's age: under an hour it would delete what was refused a moment ago, before anyone
/// could read why (`0`, or `2m` meant as two months).
fn parse_purge_age(s: &str) -> Result<std::time::Duration, String> {
    let age = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    if age < std::time::Duration::from_secs(3600) {
        return Err(format!("`{s}` is under an hour (`m` is minutes, `M` months)"));
    }
    Ok(age)
}

fn parse_role(s: &str) -> Result<Role, mend_core::UnknownWord> {
    s.parse()
}

#[derive(Debug, Subcommand)]
enum CasesCommand {
    /// Every case as JSON Lines on standard output.
    Export,
}

#[derive(Debug, Subcommand)]
enum CustomersCommand {
    /// A CSV with a header: key columns (`phone`, `wechat_openid`, `wechat_unionid`,
    /// `member_id`, `bot_user_id`), and any of `tier`, `timezone`, `do_not_disturb`, `name`,
    /// `email`. Keys nobody holds make a customer; keys of two customers merge them. Prints a
    /// JSON summary; rows that cannot be read are listed with their line and why.
    Import {
        file: PathBuf,
        /// The import's clock (RFC 3339) instead of the system's.
        #[arg(long)]
        now: Option<chrono::DateTime<chrono::FixedOffset>>,
    },
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Import generated complaints into a fresh database and report the rate and peak memory.
    Import(bench::ImportBench),
    /// Split and parse one channel's generated file on one core, without a database.
    Parse(bench::ParseBench),
    /// Time callback generation over about 100,000 open cases, then with nothing new.
    Schedule(bench::ScheduleBench),
    /// Agents claiming and completing tasks over HTTP against a server in this process.
    Desk(bench::DeskBench),
    /// The agent's case page of one large case, loaded over HTTP: its latency.
    Page(bench::PageBench),
    /// Write generated canonical complaints to a file (for memory checks with large files).
    Generate {
        #[arg(long, default_value_t = 100_000)]
        complaints: u64,
        #[arg(long, default_value_t = 30_000)]
        customers: u64,
        #[arg(long, default_value_t = 90)]
        days: i64,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Which customers complain as the stream goes on.
        #[arg(long, value_enum, default_value = "uniform")]
        activity: synth::Activity,
        #[command(flatten)]
        texts: bench::Texts,
        #[arg(value_name = "FILE")]
        output: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    init_tracing(matches!(cli.command, Command::Serve { .. }), settings.log_format);
    for UnknownKey { key, source } in settings::unknown_keys(cli.config.as_deref()) {
        if source == settings::ENVIRONMENT {
            tracing::warn!(%key, "No such setting, ignored: the levels of a MEND_ variable are separated by __.");
        } else {
            tracing::warn!(%key, %source, "No such setting, ignored.");
        }
    }
    for (key, dir) in settings.missing_template_dirs() {
        tracing::warn!(%key, dir = %dir.display(), "No such directory: the templates shipped with mend are used.");
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli, settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Writes one line of a command's output. A reader that has gone (`mend check | true`) is
/// their choice, not a failure: the line is dropped and the command goes on to its exit status
/// (`println!` would panic). Other write errors are errors.
fn print_line(line: impl std::fmt::Display) -> std::io::Result<()> {
    match write_line(line) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        written => written,
    }
}

/// Writes credentials that are shown this once: with nobody reading them they are lost, which
/// fails the command (new ones are made by running it again).
fn print_credentials(line: impl std::fmt::Display) -> Result<()> {
    // Not as the write's error: a closed pipe would read as the reader's choice and exit 0.
    write_line(line).map_err(|e| {
        anyhow::anyhow!(
            "the new credentials were made but could not be shown ({e}); \
             run `mend user password` or `mend user token` for new ones"
        )
    })
}

fn write_line(line: impl std::fmt::Display) -> std::io::Result<()> {
    use std::io::Write;
    writeln!(std::io::stdout().lock(), "{line}")
}

/// `mend cases export | head` closes our stdout early; that is the reader's choice, not a failure.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        let io = c.downcast_ref::<std::io::Error>().map(std::io::Error::kind);
        let json = c.downcast_ref::<serde_json::Error>().and_then(serde_json::Error::io_error_kind);
        io.or(json) == Some(std::io::ErrorKind::BrokenPipe)
    })
}

fn init_tracing(serving: bool, format: settings::LogFormat) {
    let default = if serving { "info,sqlx=warn,sea_orm=warn" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("MEND_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        settings::LogFormat::Json => logs.json().init(),
        settings::LogFormat::Text => {
            // Colour codes are for eyes on a terminal, not for log files (https://no-color.org).
            let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
            logs.with_ansi(colour).init();
        }
    }
}

async fn open_store(settings: &Settings) -> Result<Store> {
    let new_file = mend_store::sqlite_file(&settings.database_url).filter(|path| !std::path::Path::new(path).exists());
    let store = Store::connect(&settings.database_url).await?;
    let change = store.migrate().await?;
    // An export or `mend check` run from the wrong directory, or at a mistyped database, would
    // otherwise answer "nothing" or "no problems" from a database it just made.
    if let Some(path) = new_file {
        eprintln!("mend: there was no database at {path}; created a new, empty one (MEND_DATABASE_URL names another).");
    } else if change == mend_store::SchemaChange::Created {
        eprintln!(
            "mend: the database {} held no mend tables; created them, empty (MEND_DATABASE_URL names another).",
            mend_store::redact(&settings.database_url)
        );
    }
    Ok(store)
}

async fn run(cli: Cli, settings: Settings) -> Result<()> {
    match cli.command {
        Command::Migrate => {
            open_store(&settings).await?;
            eprintln!("Database is up to date.");
        }
        Command::Serve { now } => serve(&settings, clock_at(now)).await?,
        Command::Import { channel, input, now } => {
            let store = open_store(&settings).await?;
            let intake = settings.intake(&store).await?;
            let clock = clock_at(now);
            let importer = Importer { clock: &*clock, ..Importer::new(&settings, &store, intake)? };
            let summary = importer.run(channel, &Input::parse(&input)).await?;
            print_line(serde_json::to_string(&summary)?)?;
        }
        Command::Cases { command: CasesCommand::Export } => {
            let store = open_store(&settings).await?;
            let stdout = std::io::stdout().lock();
            let written = export::export_cases(&store, &mut std::io::BufWriter::new(stdout)).await?;
            tracing::info!(cases = written, "Export finished.");
        }
        Command::Customers { command: CustomersCommand::Import { file, now } } => {
            let store = open_store(&settings).await?;
            let intake = settings.intake(&store).await?;
            let priority = &settings.scheduler.priority;
            let summary =
                customer_import::import_customers(&store, &intake, priority, &file, clock_at(now).now()).await?;
            print_line(serde_json::to_string(&summary)?)?;
        }
        Command::Demo { serve: and_serve, now } => {
            let mut settings = settings;
            if and_serve {
                demo::callable_at_any_hour(&mut settings.scheduler.contact)?;
            }
            let store = open_store(&settings).await?;
            let intake = settings.intake(&store).await?;
            let clock = clock_at(now);
            let demo_clock = demo::DemoClock { now: clock.now(), zone: settings.timezone()? };
            let mailroom = schedule::mailroom(&settings, &store, demo_clock.now).await?;
            let scheduler = schedule::scheduler(&settings, &store, intake.clone(), mailroom, "demo")?;
            let mut importer = Importer::new(&settings, &store, intake)?;
            demo::run(&mut importer, &scheduler, &demo_clock, &mut std::io::stdout().lock()).await?;
            if and_serve {
                demo::users(&store, clock.as_ref(), &mut std::io::stdout().lock()).await?;
                serve(&settings, clock).await?;
            }
        }
        Command::Bench { command: BenchCommand::Import(args) } => bench::import(&settings, &args).await?,
        Command::Bench { command: BenchCommand::Parse(args) } => bench::parse(&settings, &args)?,
        Command::Bench { command: BenchCommand::Schedule(args) } => bench::schedule(&settings, &args).await?,
        Command::Bench { command: BenchCommand::Desk(args) } => bench::desk(&settings, &args).await?,
        Command::Bench { command: BenchCommand::Page(args) } => bench::page(&settings, &args).await?,
        Command::Bench {
            command: BenchCommand::Generate { complaints, customers, days, seed, activity, texts, output },
        } => {
            let (orders, _) = texts.load()?;
            bench::generate(
                &output,
                &synth::SynthConfig { seed, days, activity, orders, ..synth::SynthConfig::new(complaints, customers) },
            )?;
        }
        Command::Train { command: TrainCommand::Categories { file, now, even_if_worse } } => {
            let store = open_store(&settings).await?;
            let input = if file.as_os_str() == "-" {
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut bytes)?;
                bytes
            } else {
                std::fs::read(&file).with_context(|| format!("cannot read `{}`", file.display()))?
            };
            let intake = settings.untrained_intake()?;
            let bar = progress::steps();
            let report = mend_cases::labels::train(
                &store,
                intake.featurizer(),
                &input,
                "cli",
                at_or_now(now),
                even_if_worse,
                &|step| {
                    bar.set_length(step.steps as u64);
                    bar.set_position(step.done as u64);
                    bar.set_message(step.next);
                },
            )
            .await;
            bar.finish_and_clear();
            let report = report?;
            for bad in &report.bad_lines {
                tracing::warn!(line = bad.line, reason = %bad.reason, "Line skipped.");
            }
            print_line(serde_json::to_string(&report)?)?;
        }
        Command::Eval { command: EvalCommand::Grouping { file, train, database } } => {
            let result = eval::grouping(&settings, &file, train.as_deref(), database.as_deref()).await?;
            print_line(serde_json::to_string(&result)?)?;
        }
        Command::User { command: UserCommand::Add { name, role, team, email } } => {
            let store = open_store(&settings).await?;
            let user = admin::add_user(&store, admin::UserToAdd { name, role, team, email }, &SystemClock).await?;
            print_credentials(user)?;
        }
        Command::User { command: UserCommand::Token { name } } => {
            let store = open_store(&settings).await?;
            print_credentials(admin::replace_token(&store, &name, &SystemClock).await?)?;
        }
        Command::User { command: UserCommand::List } => {
            let store = open_store(&settings).await?;
            for line in admin::list_users(&store).await? {
                print_line(line)?;
            }
        }
        Command::User { command: UserCommand::Deactivate { name, reason } } => {
            let store = open_store(&settings).await?;
            print_line(admin::deactivate_user(&store, &name, &reason, &SystemClock).await?)?;
        }
        Command::User { command: UserCommand::Activate { name } } => {
            let store = open_store(&settings).await?;
            print_line(admin::activate_user(&store, &name, &SystemClock).await?)?;
        }
        Command::User { command: UserCommand::Password { name } } => {
            let store = open_store(&settings).await?;
            print_credentials(admin::reset_password(&store, &name, &SystemClock).await?)?;
        }
        Command::Quarantine { command: QuarantineCommand::List { unresolved, limit } } => {
            let store = open_store(&settings).await?;
            for line in admin::list_quarantine(&store, unresolved, limit).await? {
                print_line(line)?;
            }
        }
        Command::Schedule { command: ScheduleCommand::Run { job, now } } => {
            let store = open_store(&settings).await?;
            let now = at_or_now(now);
            warn_if_no_holidays(&settings, now);
            let ok = schedule::run(&settings, &store, job.as_deref(), now, &mut std::io::stdout().lock()).await?;
            anyhow::ensure!(ok, "a job failed (see its line)");
        }
        Command::Schedule { command: ScheduleCommand::Tick { now } } => {
            let store = open_store(&settings).await?;
            let now = at_or_now(now);
            warn_if_no_holidays(&settings, now);
            schedule::tick(&settings, &store, now, &mut std::io::stdout().lock()).await?;
        }
        Command::Check => {
            let store = open_store(&settings).await?;
            let found = mend_store::integrity::integrity_problems(store.connection()).await?;
            let problems: i64 = found.iter().map(|p| p.rows).sum();
            print_line(serde_json::json!({"problems": problems, "found": found}))?;
            anyhow::ensure!(problems == 0, "the data breaks {} integrity rules (see \"found\")", found.len());
        }
        Command::Tasks { command: TasksCommand::Export } => {
            let store = open_store(&settings).await?;
            let stdout = std::io::stdout().lock();
            let written = schedule::export_tasks(&store, &mut std::io::BufWriter::new(stdout)).await?;
            tracing::info!(tasks = written, "Export finished.");
        }
        Command::Quarantine { command: QuarantineCommand::Purge { older_than, now } } => {
            let store = open_store(&settings).await?;
            let age = match older_than {
                Some(age) => chrono::Duration::from_std(age).context("--older-than is too long")?,
                None => chrono::Duration::days(settings.scheduler.quarantine_retention_days),
            };
            let cutoff = at_or_now(now).checked_sub_signed(age).context("--older-than reaches before any date")?;
            let purged = mend_store::quarantine::purge(store.connection(), cutoff).await?;
            print_line(serde_json::json!({"purged": purged, "cutoff": cutoff}))?;
        }
        Command::Outbox { command: OutboxCommand::Flush { now } } => {
            let store = open_store(&settings).await?;
            let counts = outbox::flush(&settings, &store, clock_at(now).as_ref()).await?;
            print_line(serde_json::to_string(&counts)?)?;
            anyhow::ensure!(
                counts.failed == 0,
                "{} emails were given up; `mend outbox list --status failed` says why",
                counts.failed
            );
        }
        Command::Outbox { command: OutboxCommand::Requeue { since, include_unconfirmed, now } } => {
            let store = open_store(&settings).await?;
            let since = since.map(|t| t.to_utc());
            let requeued =
                outbox::requeue(&settings, &store, since, include_unconfirmed, clock_at(now).as_ref()).await?;
            print_line(serde_json::json!({ "requeued": requeued }))?;
        }
        Command::Outbox { command: OutboxCommand::List { status, limit } } => {
            let store = open_store(&settings).await?;
            for line in outbox::list(&store, status, limit).await? {
                print_line(line)?;
            }
        }
        Command::Quarantine { command: QuarantineCommand::Replay { id } } => {
            let store = open_store(&settings).await?;
            let intake = settings.intake(&store).await?;
            let answer = admin::replay(&store, &intake, &settings.parse_settings()?, id, &SystemClock).await?;
            print_line(&answer)?;
            if answer["result"] == "still_quarantined" {
                anyhow::bail!("payload {id} still cannot be read: {}", answer["reason"]);
            }
        }
    }
    Ok(())
}

/// A `--now`: an RFC 3339 instant in the years a desk can have worked. A clock far off is a
/// typo, and jobs would act on it — purge quarantine older than its day, escalate every task
/// — so it is refused before anything runs.
fn parse_now(text: &str) -> Result<chrono::DateTime<chrono::FixedOffset>, String> {
    let at = chrono::DateTime::parse_from_rfc3339(text).map_err(|e| format!("not an RFC 3339 instant ({e})"))?;
    if !(2000..2100).contains(&chrono::Datelike::year(&at.to_utc())) {
        return Err("a clock for mend lies between the years 2000 and 2099".into());
    }
    Ok(at)
}

/// Says on stderr when `--now` is days ahead of this machine's clock: allowed (a rehearsal of
/// next week), but a tick or run then acts as if those days had come.
fn warn_if_ahead(at: chrono::DateTime<chrono::Utc>) {
    let ahead = at - SystemClock.now();
    if ahead > chrono::Duration::days(1) {
        eprintln!(
            "note: --now {} is {:.1} days ahead of this machine's clock; jobs act as if that day had come",
            at.to_rfc3339(),
            ahead.num_minutes() as f64 / (24.0 * 60.0)
        );
    }
}

/// Says so when the holidays configured name no day of this year (in the scheduler's zone): a
/// list kept for last year would have the year's public holidays called as working days.
fn warn_if_no_holidays(settings: &Settings, now: chrono::DateTime<chrono::Utc>) {
    let Ok(zone) = settings.scheduler.zone() else { return };
    let year = chrono::Datelike::year(&now.with_timezone(&zone));
    if settings.scheduler.contact.lists_no_holiday_in(year) {
        tracing::warn!(
            year,
            "scheduler.contact.holidays names no day of this year: its public holidays are called as working days \
             until they are added."
        );
    }
}

/// A clock standing still at a command's `--now`, else the system's.
fn clock_at(now: Option<chrono::DateTime<chrono::FixedOffset>>) -> Arc<dyn Clock> {
    match now {
        Some(at) => Arc::new(FixedClock(given_now(at))),
        None => Arc::new(SystemClock),
    }
}

/// The `--now` of a command, else the system's clock.
fn at_or_now(now: Option<chrono::DateTime<chrono::FixedOffset>>) -> chrono::DateTime<chrono::Utc> {
    now.map_or_else(|| SystemClock.now(), given_now)
}

/// A command's `--now` in UTC, said on stderr when it is days ahead.
fn given_now(at: chrono::DateTime<chrono::FixedOffset>) -> chrono::DateTime<chrono::Utc> {
    warn_if_ahead(at.to_utc());
    at.to_utc()
}

/// How often `mend serve` copies SQLite's log into the database file (see
/// `mend_store::LogCopier`).
pub(crate) const LOG_COPY_PERIOD: std::time::Duration = std::time::Duration::from_millis(250);

async fn serve(settings: &Settings, clock: Arc<dyn Clock>) -> Result<()> {
    warn_if_no_holidays(settings, clock.now());
    let store = open_store(settings).await?;
    let mailroom = schedule::mailroom(settings, &store, clock.now()).await?;
    let state = settings.app_state(store, Arc::clone(&mailroom), clock).await?;
    // Listening before the jobs and the sender start: an instance that cannot serve (a wrong
    // or taken address) exits having run no job and sent nothing (it has migrated by then).
    let listener = tokio::net::TcpListener::bind(&settings.http.bind)
        .await
        .with_context(|| format!("cannot listen on {}", settings.http.bind))?;
    let instance = format!("{}-{}", std::process::id(), uuid::Uuid::now_v7().simple());
    if settings.scheduler.cron {
        let (metrics, clock) = (Arc::clone(&state.metrics), Arc::clone(&state.clock));
        // The pages' planner: one set of scripts and category names per process.
        let planner = Arc::clone(&state.planner);
        let intake = Arc::clone(&state.intake);
        let scheduler =
            mend_scheduler::Scheduler::new(state.store.clone(), planner, intake, mailroom, instance.clone())?
                .on_run(Arc::new(move |run| metrics.job_run(run.job, run.outcome.as_str(), clock.now().timestamp())));
        tokio::spawn(scheduler.run_forever(state.clock.clone()));
    } else {
        tracing::info!("Cron schedules are off here (scheduler.cron = false).");
    }
    if settings.notify.sender {
        let metrics = Arc::clone(&state.metrics);
        let sender = outbox::sender(settings, &state.store, &instance)?;
        tokio::spawn(sender.run_forever(state.clock.clone(), Arc::new(move |counts| metrics.emails(counts))));
    } else {
        tracing::info!("The outbox is not sent from here (notify.sender = false).");
    }
    let (intake, store) = (Arc::clone(&state.intake), state.store.clone());
    tokio::spawn(keep_what_intake_learns_forever(Arc::clone(&intake), store.clone()));
    let log_copier = store.copy_log_every(LOG_COPY_PERIOD).await?;
    let http = settings.http.server_config()?;
    let router = mend_server::router(state, http.clone());
    tracing::info!(address = %listener.local_addr()?, "Serving the API.");
    eprintln!("mend is listening on http://{}", listener.local_addr()?);
    mend_server::serve(listener, router, http, async {
        tokio::signal::ctrl_c().await.ok();
    })
    .await?;
    intake.term_statistics().save(&store).await?;
    if let Some(copier) = log_copier {
        copier.stop().await?;
    }
    Ok(())
}

/// Every minute: saves what intake counted of its terms (see `mend_cases::term_statistics`) and
/// takes up a label model trained since (`mend train categories`).
async fn keep_what_intake_learns_forever(intake: Arc<mend_cases::Intake>, store: mend_store::Store) {
    let mut every_minute = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        every_minute.tick().await;
        if let Err(error) = intake.term_statistics().save(&store).await {
            tracing::warn!(%error, "Saving term statistics failed; they are kept for the next try.");
        }
        match intake.refresh_labels(&store).await {
            Ok(true) => tracing::info!("A new label model is in use."),
            Ok(false) => {}
            Err(error) => tracing::warn!(%error, "Reading the label model failed; the one in use stays."),
        }
    }
}
