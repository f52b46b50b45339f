//! Payloads that could not become complaints, kept with their raw bytes until someone fixes
//! the cause and replays them.

use chrono::{DateTime, Utc};
use mend_core::QuarantineId;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::bulk::{Cell, Kind, OnConflict, Table};
use crate::entities::quarantine;
use crate::error::During;
use crate::{NewQuarantine, StoreError};

const TABLE: &str = "quarantine";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuarantinedRecord {
    pub quarantine_id: QuarantineId,
    /// The format label the bytes arrived as (`json`, `api`, `hotline-csv`, `wechat`…).
    pub channel: String,
    pub raw: Vec<u8>,
    pub reason: String,
    /// When it was first refused.
    pub received_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// How often these bytes were refused for this reason, and when last.
    pub seen_count: i32,
    pub last_seen_at: DateTime<Utc>,
}

impl From<quarantine::Model> for QuarantinedRecord {
    fn from(m: quarantine::Model) -> Self {
        Self {
            quarantine_id: QuarantineId::from_uuid(m.id),
            channel: m.channel,
            raw: m.raw,
            reason: m.reason,
            received_at: m.received_at,
            resolved_at: m.resolved_at,
            seen_count: m.seen_count,
            last_seen_at: m.last_seen_at.unwrap_or(m.received_at),
        }
    }
}

/// What makes two refused payloads one quarantine record: the same bytes refused for the same
/// reason. Where in a file they stood does not count, nor whether they came by a file or the
/// API (the record keeps the format it first came as, which a replay reads it with).
pub fn fingerprint(raw: &[u8], reason: &str) -> String {
    let mut hash = Sha256::new();
    for part in [raw, reason.as_bytes()] {
        hash.update((part.len() as u64).to_le_bytes());
        hash.update(part);
    }
    hex::encode(hash.finalize())
}

const QUARANTINE: Table = Table {
    name: "quarantine",
    columns: &[
        ("id", Kind::Uuid, false),
        ("channel", Kind::Text, false),
        ("raw", Kind::Bytes, false),
        ("reason", Kind::Text, false),
        ("received_at", Kind::Time, false),
        ("fingerprint", Kind::Text, false),
        ("seen_count", Kind::Int, false),
        ("last_seen_at", Kind::Time, false),
    ],
    // Seen again: counted, and open again if it had been resolved (it was refused anew).
    on_conflict: OnConflict::Clause(
        "ON CONFLICT (fingerprint) DO UPDATE SET seen_count = quarantine.seen_count + excluded.seen_count, \
         last_seen_at = excluded.last_seen_at, reason = excluded.reason, resolved_at = NULL",
    ),
};

/// The statement that quarantines `rows`, one record per fingerprint: a payload refused again
/// counts on the record it already has.
pub(crate) fn insert(backend: DbBackend, rows: &[NewQuarantine]) -> Result<Option<Statement>, StoreError> {
    // One row per fingerprint: PostgreSQL refuses to update a row twice in one statement.
    let mut unique: Vec<(String, String, &NewQuarantine, i64)> = Vec::with_capacity(rows.len());
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for q in rows {
        let print = fingerprint(&q.raw, &q.reason);
        let shown = match &q.location {
            Some(location) => format!("{location}: {}", q.reason),
            None => q.reason.clone(),
        };
        match index.get(&print) {
            Some(&i) => {
                unique[i].3 += 1;
                unique[i].1 = shown;
            }
            None => {
                index.insert(print.clone(), unique.len());
                unique.push((print, shown, q, 1));
            }
        }
    }
    QUARANTINE.insert(
        backend,
        unique.iter().map(|(print, reason, q, seen)| {
            vec![
                Cell::Uuid(q.id.as_uuid()),
                Cell::Text(Some(&q.channel)),
                Cell::Bytes(&q.raw),
                Cell::Text(Some(reason)),
                Cell::Time(Some(q.received_at)),
                Cell::Text(Some(print)),
                Cell::Int(Some(*seen)),
                Cell::Time(Some(q.received_at)),
            ]
        }),
    )
}

/// The record each of `rows` went to: its own, or the one an earlier refusal of the same
/// payload made (see [`insert`]).
pub async fn recorded_ids<C: ConnectionTrait>(
    conn: &C,
    rows: &[NewQuarantine],
) -> Result<Vec<(QuarantineId, QuarantineId)>, StoreError> {
    let prints: Vec<(QuarantineId, String)> = rows.iter().map(|q| (q.id, fingerprint(&q.raw, &q.reason))).collect();
    let found: Vec<(uuid::Uuid, Option<String>)> = quarantine::Entity::find()
        .select_only()
        .column(quarantine::Column::Id)
        .column(quarantine::Column::Fingerprint)
        .filter(quarantine::Column::Fingerprint.is_in(prints.iter().map(|(_, p)| p.clone())))
        .into_tuple()
        .all(conn)
        .await
        .during(TABLE, "recorded_ids")?;
    Ok(prints
        .into_iter()
        .filter_map(|(id, print)| {
            let stored = found.iter().find(|(_, p)| p.as_deref() == Some(print.as_str()))?;
            Some((id, QuarantineId::from_uuid(stored.0)))
        })
        .collect())
}

/// Which quarantined payloads to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct QuarantineFilter {
    /// Only those not yet replayed successfully.
    pub unresolved: bool,
    pub channel: Option<String>,
    /// Keyset paging: only those older than this one (ids are time-ordered).
    pub before: Option<QuarantineId>,
    pub limit: u64,
}

pub async fn list<C: ConnectionTrait>(
    conn: &C,
    filter: &QuarantineFilter,
) -> Result<Vec<QuarantinedRecord>, StoreError> {
    let mut condition = Condition::all();
    if filter.unresolved {
        condition = condition.add(quarantine::Column::ResolvedAt.is_null());
    }
    if let Some(channel) = &filter.channel {
        condition = condition.add(quarantine::Column::Channel.eq(channel.as_str()));
    }
    if let Some(before) = filter.before {
        condition = condition.add(quarantine::Column::Id.lt(before.as_uuid()));
    }
    let rows = quarantine::Entity::find()
        .filter(condition)
        .order_by_desc(quarantine::Column::Id)
        .limit(filter.limit)
        .all(conn)
        .await
        .during(TABLE, "list")?;
    Ok(rows.into_iter().map(Into::into).collect())
}

pub async fn get<C: ConnectionTrait>(conn: &C, id: QuarantineId) -> Result<Option<QuarantinedRecord>, StoreError> {
    Ok(quarantine::Entity::find_by_id(id.as_uuid()).one(conn).await.during(TABLE, "get")?.map(Into::into))
}

/// Records the outcome of a replay: resolved at `at`, or still failing for `reason`.
pub async fn record_replay<C: ConnectionTrait>(
    conn: &C,
    id: QuarantineId,
    outcome: Result<DateTime<Utc>, &str>,
) -> Result<(), StoreError> {
    let update = quarantine::Entity::update_many().filter(quarantine::Column::Id.eq(id.as_uuid()));
    let update = match outcome {
        Ok(at) => update.col_expr(quarantine::Column::ResolvedAt, Expr::value(at)),
        Err(reason) => update.col_expr(quarantine::Column::Reason, Expr::value(reason)),
    };
    update.exec(conn).await.during(TABLE, "record_replay")?;
    Ok(())
}

/// Removes the records nobody needs any more: those last refused before `cutoff`, and those
/// resolved (replayed successfully) before it. Answers how many went.
pub async fn purge<C: ConnectionTrait>(conn: &C, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
    let last_seen = Expr::col(quarantine::Column::LastSeenAt).if_null(Expr::col(quarantine::Column::ReceivedAt));
    let old = Condition::any().add(last_seen.lt(cutoff)).add(quarantine::Column::ResolvedAt.lt(cutoff));
    Ok(quarantine::Entity::delete_many().filter(old).exec(conn).await.during(TABLE, "purge")?.rows_affected)
}
