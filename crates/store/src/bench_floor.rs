//! The `bench_floor` table of a benchmark's scratch database: the lines mend imports, written
//! as plainly as the backend allows — PostgreSQL's `COPY`, SQLite's one prepared `INSERT` a line
//! with a transaction per 2,000 — so `mend bench import` can show mend's rate beside the floor of
//! the same machine in the same run. Nothing but the benchmark creates or reads it.

use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};

use crate::error::During;
use crate::{Store, StoreError};

const TABLE: &str = "bench_floor";

/// Lines per transaction (SQLite) or per `COPY` message (PostgreSQL).
const BATCH: usize = 2_000;

/// Writes every line of `lines` into a new `bench_floor` table; returns how many.
pub async fn write_floor(store: &Store, lines: impl Iterator<Item = String>) -> Result<u64, StoreError> {
    let db = store.connection();
    db.execute_unprepared("CREATE TABLE bench_floor (line TEXT NOT NULL)").await.during(TABLE, "write_floor")?;
    let mut written = 0u64;
    match db.get_database_backend() {
        DbBackend::Postgres => {
            use sea_orm::sqlx::postgres::PgPoolCopyExt;
            let copy_error = |e: sea_orm::sqlx::Error| StoreError::Statement {
                table: TABLE,
                operation: "write_floor",
                source: sea_orm::DbErr::Custom(e.to_string()),
            };
            let mut copy = db
                .get_postgres_connection_pool()
                .copy_in_raw("COPY bench_floor (line) FROM STDIN")
                .await
                .map_err(copy_error)?;
            let mut buffer = Vec::with_capacity(1 << 20);
            for line in lines {
                // COPY's text format: backslash, tab and line ends escaped.
                for byte in line.bytes() {
                    match byte {
                        b'\\' => buffer.extend_from_slice(b"\\\\"),
                        b'\t' => buffer.extend_from_slice(b"\\t"),
                        b'\n' => buffer.extend_from_slice(b"\\n"),
                        b'\r' => buffer.extend_from_slice(b"\\r"),
                        other => buffer.push(other),
                    }
                }
                buffer.push(b'\n');
                written += 1;
                if written.is_multiple_of(BATCH as u64) {
                    copy.send(std::mem::take(&mut buffer)).await.map_err(copy_error)?;
                }
            }
            copy.send(buffer).await.map_err(copy_error)?;
            copy.finish().await.map_err(copy_error)?;
        }
        backend => {
            let mut lines = lines.peekable();
            while lines.peek().is_some() {
                let tx = db.begin().await.during(TABLE, "write_floor")?;
                for line in lines.by_ref().take(BATCH) {
                    let insert = Statement::from_sql_and_values(
                        backend,
                        "INSERT INTO bench_floor (line) VALUES (?)",
                        [line.into()],
                    );
                    tx.execute_raw(insert).await.during(TABLE, "write_floor")?;
                    written += 1;
                }
                tx.commit().await.during(TABLE, "write_floor")?;
            }
        }
    }
    Ok(written)
}
