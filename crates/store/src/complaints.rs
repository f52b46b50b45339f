//! The `complaints` table: which deliveries are stored (the idempotency key and what they said), the batch rows, and the moves of corrections.

use mend_core::{CaseId, Channel, ComplaintId, CustomerId, StoredComplaint};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Statement};

use crate::bulk::{self, OnConflict, Table};
use crate::entities::complaint;
use crate::rows::{Flag, stored_row};
use crate::{KnownDelivery, NewComplaint, StoreError};

use crate::cases::Time;
use crate::error::During;

const TABLE: &str = "complaints";

/// Whether the complaint opened the case it was placed in, by its grouping decision: a channel
/// that answers the customer (WeChat's passive reply) answers a redelivery as it answered the
/// first delivery, whose answer may never have arrived.
pub async fn opened_its_case<C: ConnectionTrait>(conn: &C, id: ComplaintId) -> Result<bool, StoreError> {
    let reason: Option<String> = complaint::Entity::find_by_id(id.as_uuid())
        .select_only()
        .column(complaint::Column::GroupingReason)
        .into_tuple()
        .one(conn)
        .await
        .during(TABLE, "opened_its_case")?;
    let Some(reason) = reason else { return Ok(false) };
    let reason: serde_json::Value = serde_json::from_str(&reason).map_err(|e| StoreError::corrupt(TABLE, id, e))?;
    Ok(reason["decision"] == "opened")
}

/// Which of these delivery keys are already stored, with the customer their case belongs to now.
pub async fn find_deliveries<C: ConnectionTrait>(
    conn: &C,
    keys: &[(Channel, &str)],
) -> Result<Vec<KnownDelivery>, StoreError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let sql = match conn.get_database_backend() {
        DbBackend::Postgres => {
            "SELECT json_agg(json_build_array(c.channel, c.source_id, c.id, c.case_id, s.customer_id, \
             c.received_at, c.text, c.customer_keys, c.satisfaction, c.formal_complaint))::text \
             FROM complaints c JOIN UNNEST($1::text[], $2::text[]) AS k(channel, source_id) \
             ON c.channel = k.channel AND c.source_id = k.source_id JOIN cases s ON s.id = c.case_id"
        }
        _ => {
            "SELECT json_group_array(json_array(c.channel, c.source_id, hex(c.id), hex(c.case_id), hex(s.customer_id), \
             c.received_at, c.text, c.customer_keys, c.satisfaction, json(CASE WHEN c.formal_complaint THEN 'true' ELSE 'false' END))) \
             FROM jsonb_each(?1) k JOIN complaints c \
             ON c.channel = k.value->>0 AND c.source_id = k.value->>1 JOIN cases s ON s.id = c.case_id"
        }
    };
    let pairs: Vec<(&str, &str)> = keys.iter().map(|(channel, source_id)| (channel.as_str(), *source_id)).collect();
    let params = bulk::pair_params(conn.get_database_backend(), &pairs)?;
    type Row = (Channel, String, uuid::Uuid, uuid::Uuid, uuid::Uuid, Time, String, String, Option<u8>, bool);
    let rows: Vec<Row> = bulk::query_json(conn, TABLE, "find_deliveries", sql, params).await?;
    Ok(rows
        .into_iter()
        .map(|(channel, source_id, id, case_id, customer_id, received_at, text, keys, satisfaction, formal)| {
            KnownDelivery {
                channel,
                source_id,
                complaint_id: mend_core::ComplaintId::from_uuid(id),
                case_id: mend_core::CaseId::from_uuid(case_id),
                customer_id: CustomerId::from_uuid(customer_id),
                content: mend_core::DeliveryContent {
                    received_at,
                    text,
                    keys: keys.lines().map(str::to_owned).collect(),
                    satisfaction,
                    formal_complaint: formal,
                },
            }
        })
        .collect())
}

stored_row! {
    /// A complaint as the `complaints` table holds it, borrowed from the batch that writes it.
    pub(crate) struct ComplaintRow<'a> in "complaints" {
        id: uuid::Uuid,
        channel: &'a str,
        source_id: &'a str,
        customer_id: uuid::Uuid,
        case_id: uuid::Uuid,
        received_at: Time,
        text: &'a str,
        category: &'a str,
        category_source: &'a str,
        satisfaction: Option<i64>,
        formal_complaint: Flag,
        raw_payload: &'a str,
        grouping_reason: &'a str,
        ingested_at: Time,
        customer_keys: &'a str,
        label: Option<&'a str>,
    }
}

pub(crate) const COMPLAINTS: Table =
    Table { name: ComplaintRow::TABLE, columns: ComplaintRow::COLUMNS, on_conflict: OnConflict::Fail };

impl<'a> From<&'a NewComplaint<'_>> for ComplaintRow<'a> {
    fn from(n: &'a NewComplaint<'_>) -> Self {
        let c = n.complaint;
        ComplaintRow {
            id: n.id.as_uuid(),
            channel: c.channel.as_str(),
            source_id: &c.source_id,
            customer_id: n.customer_id.as_uuid(),
            case_id: n.case_id.as_uuid(),
            received_at: c.received_at,
            text: &c.text,
            category: &n.category,
            category_source: n.category_source.as_str(),
            satisfaction: c.satisfaction.map(|s| i64::from(s.get())),
            formal_complaint: Flag(c.formal_complaint),
            raw_payload: &c.raw_payload,
            grouping_reason: &n.grouping_reason,
            ingested_at: n.ingested_at,
            customer_keys: &n.customer_keys,
            label: n.label.as_deref(),
        }
    }
}

/// The complaints of these cases, oldest first.
pub async fn complaints_of_cases<C: ConnectionTrait>(
    conn: &C,
    cases: &[CaseId],
) -> Result<Vec<StoredComplaint>, StoreError> {
    let rows = complaint::Entity::find()
        .filter(complaint::Column::CaseId.is_in(cases.iter().map(|c| c.as_uuid())))
        .order_by_asc(complaint::Column::ReceivedAt)
        .order_by_asc(complaint::Column::Id)
        .all(conn)
        .await
        .during(TABLE, "complaints_of_cases")?;
    rows.into_iter().map(StoredComplaint::try_from).collect()
}

/// Moves the complaints of merged cases into the cases they went into, as one statement:
/// `moves` are `(merged, into, reason)`, and each complaint's reason becomes `reason` with the
/// reason it had before kept as `previous`.
pub(crate) fn follow_merged_cases(
    backend: DbBackend,
    moves: &[(uuid::Uuid, uuid::Uuid, &str)],
) -> Result<Option<Statement>, StoreError> {
    let reason = match backend {
        DbBackend::Postgres => {
            "(CAST({note} AS jsonb) || jsonb_build_object('previous', CAST(complaints.grouping_reason AS jsonb)))::text"
        }
        _ => "json_set({note}, '$.previous', json(complaints.grouping_reason))",
    };
    let template = format!(
        "UPDATE complaints SET case_id = {{new}}, grouping_reason = {reason} FROM {{pairs}} \
         WHERE complaints.case_id = {{old}}"
    );
    bulk::repoint_noted(backend, &template, moves)
}

/// Puts a complaint in another case (and with that case's customer), with the reason it is
/// there now (a JSON object: who moved it, from where, and the reason it had before).
pub async fn move_complaint<C: ConnectionTrait>(
    conn: &C,
    id: ComplaintId,
    case_id: CaseId,
    customer_id: CustomerId,
    grouping_reason: &str,
) -> Result<(), StoreError> {
    complaint::Entity::update_many()
        .col_expr(complaint::Column::CaseId, Expr::value(case_id.as_uuid()))
        .col_expr(complaint::Column::CustomerId, Expr::value(customer_id.as_uuid()))
        .col_expr(complaint::Column::GroupingReason, Expr::value(grouping_reason))
        .filter(complaint::Column::Id.eq(id.as_uuid()))
        .exec(conn)
        .await
        .during(TABLE, "move_complaint")?;
    Ok(())
}
