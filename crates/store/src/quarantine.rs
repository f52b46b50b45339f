//! Payloads that could not become complaints, kept with their raw bytes until someone fixes
//! the cause and replays them.

use chrono::{DateTime, Utc};
use mend_core::QuarantineId;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;

use crate::StoreError;
use crate::entities::quarantine;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuarantinedRecord {
    pub quarantine_id: QuarantineId,
    /// The format label the bytes arrived as (`json`, `api`, `hotline-csv`, `wechat`…).
    pub channel: String,
    pub raw: Vec<u8>,
    pub reason: String,
    pub received_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
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
        }
    }
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
        .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

pub async fn get<C: ConnectionTrait>(conn: &C, id: QuarantineId) -> Result<Option<QuarantinedRecord>, StoreError> {
    Ok(quarantine::Entity::find_by_id(id.as_uuid()).one(conn).await?.map(Into::into))
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
    update.exec(conn).await?;
    Ok(())
}
