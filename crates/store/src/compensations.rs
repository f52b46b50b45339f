//! The `compensations` table, as the callback planner reads it: what a customer received.

use chrono::{DateTime, Utc};
use mend_core::{CustomerId, Money};
use sea_orm::{ConnectionTrait, DbBackend};

use crate::StoreError;
use crate::bulk::customer_lookup;

const TABLE: &str = "compensations";

/// Compensation approved or awaiting approval for these customers since `since`, over every
/// case they own now, per customer.
pub async fn compensation_received<C: ConnectionTrait>(
    conn: &C,
    customers: &[CustomerId],
    since: DateTime<Utc>,
) -> Result<Vec<(CustomerId, Money)>, StoreError> {
    let sql = match conn.get_database_backend() {
        DbBackend::Postgres => {
            "SELECT json_agg(json_build_array(customer_id, fen))::text FROM (SELECT s.customer_id, SUM(m.amount_fen) AS fen \
             FROM unnest($1::uuid[]) AS k(customer_key) \
             CROSS JOIN LATERAL (SELECT id, customer_id FROM cases WHERE customer_id = k.customer_key OFFSET 0) s \
             JOIN compensations m ON m.case_id = s.id \
             WHERE m.status IN ('approved', 'pending') AND m.requested_at >= $2 GROUP BY s.customer_id) received"
        }
        _ => {
            "SELECT json_group_array(json_array(hex(customer_id), fen)) FROM (SELECT s.customer_id, SUM(m.amount_fen) AS fen \
             FROM compensations m JOIN cases s ON s.id = m.case_id WHERE s.customer_id IN (SELECT unhex(value) FROM jsonb_each(?1)) \
             AND m.status IN ('approved', 'pending') AND m.requested_at >= ?2 GROUP BY s.customer_id) received"
        }
    };
    customer_lookup(conn, TABLE, "compensation_received", sql, customers, since).await
}
