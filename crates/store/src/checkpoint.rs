//! Copying SQLite's write-ahead log into the database file beside a long write rather than
//! inside its commits.
//!
//! A commit that finds the log past `wal_autocheckpoint` copies the whole log into the database
//! file and waits for both to reach the disk before it returns. During an import that wait is
//! most of a commit once the database outgrows memory (BENCHMARKS.md, issue #5), because each
//! transaction changes pages all over the case and identity indexes. A [`Checkpointer`] does the
//! copying on a connection of its own while the writer goes on. The log only starts over when a
//! transaction begins with every committed page copied, so when it has grown past
//! [`LOG_LIMIT_PAGES`] the writer waits for the copy of its last commit before it begins again:
//! the log stays bounded, and most of the copying still happens while the writer works.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use sea_orm::sqlx::{self, Connection, SqliteConnection};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, RuntimeErr};
use tokio::sync::{Notify, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::StoreError;
use crate::error::During;

const TABLE: &str = "database";

/// Pages a commit lets the log grow to before it checkpoints (SQLite's default, 1,000 pages,
/// is 8 MiB at our page size: far too many fsyncs for bulk work).
pub(crate) const AUTOCHECKPOINT_PAGES: u32 = 8192;

/// Pages the log may hold before the writer waits for the checkpointer to catch up (256 MiB at
/// 8 KiB pages): a handful of import transactions.
const LOG_LIMIT_PAGES: i64 = 32_768;

/// A background checkpointer for one SQLite database. Call [`Checkpointer::after_commit`] after
/// every commit and [`Checkpointer::finish`] at the end; until then commits of the store's
/// connection do not checkpoint themselves (unless the checkpointer fails, see `after_commit`).
pub struct Checkpointer {
    db: DatabaseConnection,
    /// Commits so far; each checkpoint reports the count it began at.
    commits: Arc<AtomicU64>,
    wake: Arc<Notify>,
    stop: Arc<AtomicBool>,
    finished: watch::Receiver<Finished>,
    task: Option<JoinHandle<()>>,
    log_limit_pages: i64,
}

/// The latest checkpoint done: how many commits there were when it began, and how long the
/// log was.
#[derive(Debug, Clone, Copy)]
struct Finished {
    commits: u64,
    log_pages: i64,
}

impl Checkpointer {
    /// Opens the checkpointer's own connection and stops `db`'s commits from checkpointing.
    pub(crate) async fn start(db: &DatabaseConnection) -> Result<Self, StoreError> {
        let mut conn = own_connection(db).await?;
        set_autocheckpoint(db, 0).await?;
        let commits = Arc::new(AtomicU64::new(0));
        let wake = Arc::new(Notify::new());
        let stop = Arc::new(AtomicBool::new(false));
        // Until the first checkpoint reports, the log's length is unknown: the first commit
        // waits for it.
        let (report, finished) = watch::channel(Finished { commits: 0, log_pages: i64::MAX });
        let task = {
            let (commits, wake, stop) = (Arc::clone(&commits), Arc::clone(&wake), Arc::clone(&stop));
            tokio::spawn(async move {
                loop {
                    wake.notified().await;
                    if stop.load(Ordering::Acquire) {
                        break;
                    }
                    let began_at = commits.load(Ordering::Acquire);
                    // PASSIVE never waits for the writer: it copies what is committed so far.
                    let result: Result<(i64, i64, i64), sqlx::Error> =
                        sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(&mut conn).await;
                    match result {
                        Ok((_, log_pages, _)) => {
                            report.send_replace(Finished { commits: began_at, log_pages });
                        }
                        Err(error) => {
                            warn!(%error, "background checkpoint failed; commits checkpoint themselves again");
                            break;
                        }
                    }
                }
                // The writer is done: copy the rest and empty the log, so the import leaves
                // one tidy file rather than a database and hundreds of megabytes of log.
                if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut conn).await {
                    warn!(%error, "final checkpoint failed; the next connection to close will do it");
                }
                let _ = conn.close().await;
            })
        };
        let log_limit_pages = LOG_LIMIT_PAGES;
        Ok(Self { db: db.clone(), commits, wake, stop, finished, task: Some(task), log_limit_pages })
    }

    /// Lets the log grow to `pages` before a commit waits for the checkpointer.
    pub fn with_log_limit(mut self, pages: i64) -> Self {
        self.log_limit_pages = pages;
        self
    }

    /// Starts copying what the last commit wrote, and waits for it when the log is long, so the
    /// next transaction starts the log over.
    pub async fn after_commit(&mut self) -> Result<(), StoreError> {
        if self.task.as_ref().is_some_and(JoinHandle::is_finished) {
            // It failed (and said why): commits checkpoint themselves again.
            self.task = None;
            self.restore_autocheckpoint().await?;
        }
        if self.task.is_none() {
            return Ok(());
        }
        let commits = self.commits.fetch_add(1, Ordering::AcqRel) + 1;
        self.wake.notify_one();
        if self.finished.borrow().log_pages > self.log_limit_pages {
            // Err only if the checkpointer stopped meanwhile: then there is nothing to wait for.
            let _ = self.finished.wait_for(|f| f.commits >= commits).await;
        }
        Ok(())
    }

    /// Stops the checkpointer and lets the store's commits checkpoint again.
    pub async fn finish(mut self) -> Result<(), StoreError> {
        self.stop_task();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.restore_autocheckpoint().await
    }

    async fn restore_autocheckpoint(&self) -> Result<(), StoreError> {
        set_autocheckpoint(&self.db, AUTOCHECKPOINT_PAGES).await
    }

    fn stop_task(&self) {
        self.stop.store(true, Ordering::Release);
        self.wake.notify_one();
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop_task();
    }
}

/// A connection of its own to `db`'s SQLite file, for copying the log beside `db`'s work.
async fn own_connection(db: &DatabaseConnection) -> Result<SqliteConnection, StoreError> {
    let options = db.get_sqlite_connection_pool().connect_options();
    SqliteConnection::connect_with(&options)
        .await
        .map_err(|e| DbErr::Conn(RuntimeErr::SqlxError(Arc::new(e))))
        .during(TABLE, "connect")
}

/// How long the log may grow before a commit of `db` copies it itself (0: never).
async fn set_autocheckpoint(db: &DatabaseConnection, pages: u32) -> Result<(), StoreError> {
    db.execute_unprepared(&format!("PRAGMA wal_autocheckpoint = {pages}")).await.during(TABLE, "wal_autocheckpoint")?;
    Ok(())
}

/// For a server: copies the log into the database file every period, on a connection of its
/// own, so that the commit of a request does not stop to copy tens of megabytes (with 50 agents
/// on the desk that was a 70 ms stall for everyone waiting behind it, BENCHMARKS.md). Commits
/// copy the log themselves only past [`LOG_LIMIT_PAGES`], should the copier fall behind or
/// fail.
pub struct LogCopier {
    db: DatabaseConnection,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    copies: watch::Receiver<u64>,
}

impl LogCopier {
    pub(crate) async fn start(db: &DatabaseConnection, period: Duration) -> Result<Self, StoreError> {
        let mut conn = own_connection(db).await?;
        set_autocheckpoint(db, LOG_LIMIT_PAGES as u32).await?;
        let (stop, mut stopped) = oneshot::channel::<()>();
        let (report, copies) = watch::channel(0u64);
        let task = tokio::spawn(async move {
            let mut failing = false;
            let mut every = tokio::time::interval(period);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = every.tick() => {}
                }
                // PASSIVE never waits for the writer: it copies what is committed so far. It
                // fails while another process checkpoints (an import beside the server); the
                // next period tries again, and the log's limit bounds it meanwhile.
                match sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&mut conn).await {
                    Ok(_) => {
                        if failing {
                            info!("copying the log works again");
                            failing = false;
                        }
                        report.send_modify(|n| *n += 1);
                    }
                    Err(error) if !failing => {
                        warn!(%error, "copying the log failed; trying again every period");
                        failing = true;
                    }
                    Err(_) => {}
                }
            }
            let _ = conn.close().await;
        });
        Ok(Self { db: db.clone(), stop: Some(stop), task: Some(task), copies })
    }

    /// Waits until `n` more copies have been made from now (for tests).
    pub async fn copied(&mut self, n: u64) {
        let from = *self.copies.borrow_and_update();
        let _ = self.copies.wait_for(|done| *done >= from + n).await;
    }

    /// Stops copying; commits copy the log themselves again, as without a copier.
    pub async fn stop(mut self) -> Result<(), StoreError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        set_autocheckpoint(&self.db, AUTOCHECKPOINT_PAGES).await
    }
}

impl Drop for LogCopier {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
