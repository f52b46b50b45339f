//! What a callback is planned from: the sweep's SQL (which open cases need a call), and the
//! cases, customers and complaint lines a chunk of them is read with; the cases whose follow-ups
//! are due. The rules live in `mend-scheduler`.

use chrono::{DateTime, Utc};
use mend_core::{Case, CaseId, ComplaintLine, Customer, CustomerId};
use sea_orm::{ConnectionTrait, DbBackend};

use crate::StoreError;
use crate::bulk;
use crate::cases::{CaseRow, Terms, case_columns};
use crate::records::{self, word};

const TABLE: &str = "cases";

/// Which open cases a generation sweep looks at.
#[derive(Debug, Clone, Copy)]
pub enum SweepScope<'a> {
    /// Every open case (the first sweep).
    AllOpen,
    /// Cases that something touched since the instant this UUID v7 stands for: cases created,
    /// cases a complaint was recorded into, cases people corrected. Every id these tables hold
    /// is time-ordered, so each part is a range scan of a primary key.
    TouchedSince(uuid::Uuid),
    /// These cases (a chunk of a sweep, read again under its customers' locks).
    Cases(&'a [CaseId]),
}

/// The rule of a callback: an open case needs one when nothing is in work on it and no call
/// was made or planned since its latest complaint, nor planned or finished since its customer
/// may be called again after asking for no calls (a cancelled task never called anyone). A
/// verification or second repair nobody has taken yet, planned before the latest complaint, is
/// no answer to it: the customer says the problem is back, and is called back now, not when the
/// check was due ([`crate::tasks::superseded_check`]; the sweep cancels it for the callback).
/// `cases` is the table alias `c`; the select list and scope are the caller's.
///
/// On PostgreSQL a chunk's cases are found one by one through their keys, and the tasks of each
/// case through its index: the `OFFSET 0` fences keep the planner from joining whole tables,
/// which it would do from statistics that a sweep makes stale as it inserts thousands of tasks.
fn needing_callback_sql(backend: DbBackend, select: &str, scope: SweepScope<'_>) -> String {
    let pg = backend == DbBackend::Postgres;
    let (p, top) = (bulk::param(backend, 1), bulk::param(backend, 2));
    // A whole sweep's candidates are best found by joining whole tables; a chunk's, by keys.
    let fence = if pg && matches!(scope, SweepScope::Cases(_)) { " OFFSET 0" } else { "" };
    let (from, filter) = match scope {
        SweepScope::AllOpen => ("cases c".to_owned(), String::new()),
        SweepScope::TouchedSince(_) => (
            "cases c".to_owned(),
            format!(
                "AND c.id IN (SELECT id FROM cases WHERE id >= {p} AND id <= {top} \
                 UNION SELECT case_id FROM complaints WHERE id >= {p} AND id <= {top} \
                 UNION SELECT subject_id FROM audit_events \
                 WHERE id >= {p} AND id <= {top} AND subject_kind = 'case' AND subject_id IS NOT NULL)"
            ),
        ),
        SweepScope::Cases(_) if pg => (
            "unnest($1::uuid[]) AS k(case_key) CROSS JOIN LATERAL (SELECT * FROM cases WHERE id = k.case_key OFFSET 0) c".to_owned(),
            String::new(),
        ),
        SweepScope::Cases(_) => ("cases c".to_owned(), format!("AND c.id {}", bulk::in_ids(backend, 1))),
    };
    format!(
        "SELECT {select} FROM {from} WHERE c.status = 'open' {filter} AND NOT EXISTS (\
         SELECT 1 FROM tasks t WHERE t.case_id = c.id AND t.status <> 'cancelled' \
         AND (t.status IN ('open', 'claimed') OR (t.created_at >= c.last_complaint_at \
         AND (c.calls_resumed_at IS NULL OR COALESCE(t.completed_at, t.created_at) >= c.calls_resumed_at))) \
         AND NOT {superseded}{fence})",
        superseded = crate::tasks::superseded_check("t", "c")
    )
}

fn scope_params(backend: DbBackend, scope: SweepScope<'_>) -> Result<Vec<sea_orm::Value>, StoreError> {
    Ok(match scope {
        SweepScope::AllOpen => Vec::new(),
        // The range is closed above: PostgreSQL cannot estimate a one-sided range of UUIDs and
        // guesses a third of the table (a full scan); a closed one it guesses small.
        SweepScope::TouchedSince(floor) => vec![floor.into(), uuid::Uuid::max().into()],
        SweepScope::Cases(ids) => {
            vec![bulk::id_param(backend, ids.iter().map(|c| c.as_uuid()))?]
        }
    })
}

/// The cases in `scope` that need a callback, with their customers, in id order.
pub async fn case_ids_needing_callback<C: ConnectionTrait>(
    conn: &C,
    scope: SweepScope<'_>,
) -> Result<Vec<(CaseId, CustomerId)>, StoreError> {
    let backend = conn.get_database_backend();
    let columns = match backend {
        DbBackend::Postgres => "c.id, c.customer_id",
        _ => "hex(c.id), hex(c.customer_id)",
    };
    let sql = needing_callback_sql(backend, &bulk::json_rows(backend, columns), scope);
    let mut rows: Vec<(uuid::Uuid, uuid::Uuid)> =
        bulk::query_json(conn, TABLE, "case_ids_needing_callback", &sql, scope_params(backend, scope)?).await?;
    rows.sort_unstable();
    Ok(rows.into_iter().map(|(case, customer)| (CaseId::from_uuid(case), CustomerId::from_uuid(customer))).collect())
}

/// The cases in `scope` that need a callback, in id order (their `signature` and `fingerprint`
/// left empty).
pub async fn cases_needing_callback<C: ConnectionTrait>(
    conn: &C,
    scope: SweepScope<'_>,
) -> Result<Vec<Case>, StoreError> {
    let backend = conn.get_database_backend();
    let select = bulk::json_rows(backend, &case_columns(backend, Terms::Skip));
    let sql = needing_callback_sql(backend, &select, scope);
    let rows: Vec<CaseRow> =
        bulk::query_json(conn, TABLE, "cases_needing_callback", &sql, scope_params(backend, scope)?).await?;
    let mut cases = rows.into_iter().map(Case::try_from).collect::<Result<Vec<_>, _>>()?;
    cases.sort_unstable_by_key(|c| c.id);
    Ok(cases)
}

/// Cases closed in `(after, until]`.
pub async fn cases_closed_between<C: ConnectionTrait>(
    conn: &C,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<Case>, StoreError> {
    cases_in_status_between(conn, "cases_closed_between", ("closed", "closed_at"), after, until).await
}

/// Cases in `status` whose `column` (a time) is in `(after, until]`.
async fn cases_in_status_between<C: ConnectionTrait>(
    conn: &C,
    operation: &'static str,
    (status, column): (&str, &str),
    after: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<Case>, StoreError> {
    let backend = conn.get_database_backend();
    let condition = format!(
        "status = '{status}' AND {column} > {} AND {column} <= {}",
        bulk::param(backend, 1),
        bulk::param(backend, 2)
    );
    crate::cases::cases_where(conn, operation, &condition, vec![after.into(), until.into()]).await
}

/// A customer as a lookup returns it: the JSON array [`customer_json`] builds.
#[derive(serde::Deserialize)]
pub(crate) struct CustomerJson(
    uuid::Uuid,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    String,
    u8,
);

/// The JSON array of the columns of customer row `u` that [`CustomerJson`] reads.
pub(crate) fn customer_json(backend: DbBackend, u: &str) -> String {
    match backend {
        DbBackend::Postgres => format!(
            "json_build_array({u}.id, {u}.display_name, {u}.email, {u}.tier, {u}.temperament, \
             {u}.temperament_set_by, {u}.timezone, {u}.do_not_disturb::int)"
        ),
        _ => format!(
            "json_array(hex({u}.id), {u}.display_name, {u}.email, {u}.tier, {u}.temperament, \
             {u}.temperament_set_by, {u}.timezone, {u}.do_not_disturb)"
        ),
    }
}

impl TryFrom<CustomerJson> for Customer {
    type Error = StoreError;

    fn try_from(row: CustomerJson) -> Result<Self, StoreError> {
        let CustomerJson(id, name, email, tier, temperament, temperament_set_by, timezone, do_not_disturb) = row;
        Ok(Customer {
            customer_id: CustomerId::from_uuid(id),
            temperament: temperament.as_deref().map(|t| word("customers", id, t)).transpose()?,
            timezone: word("customers", id, &timezone)?,
            name,
            email,
            tier,
            temperament_set_by,
            do_not_disturb: do_not_disturb != 0,
        })
    }
}

pub async fn customers_by_ids<C: ConnectionTrait>(conn: &C, ids: &[CustomerId]) -> Result<Vec<Customer>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let backend = conn.get_database_backend();
    let sql = format!(
        "SELECT {} FROM customers u WHERE u.id {}",
        bulk::json_values(backend, &customer_json(backend, "u")),
        bulk::in_ids(backend, 1)
    );
    let rows: Vec<CustomerJson> = bulk::query_json(
        conn,
        TABLE,
        "customers_by_ids",
        &sql,
        vec![bulk::id_param(backend, ids.iter().map(|c| c.as_uuid()))?],
    )
    .await?;
    rows.into_iter().map(Customer::try_from).collect()
}

/// The complaints of these cases, oldest first.
pub async fn complaint_lines<C: ConnectionTrait>(conn: &C, cases: &[CaseId]) -> Result<Vec<ComplaintLine>, StoreError> {
    if cases.is_empty() {
        return Ok(Vec::new());
    }
    let backend = conn.get_database_backend();
    let columns = match backend {
        DbBackend::Postgres => "id, case_id, channel, received_at, text, satisfaction",
        _ => "hex(id), hex(case_id), channel, received_at, text, satisfaction",
    };
    let sql = format!(
        "SELECT {} FROM complaints WHERE case_id {}",
        bulk::json_rows(backend, columns),
        bulk::in_ids(backend, 1)
    );
    type Row = (uuid::Uuid, uuid::Uuid, String, DateTime<Utc>, String, Option<i16>);
    let params = vec![bulk::id_param(backend, cases.iter().map(|c| c.as_uuid()))?];
    let mut rows: Vec<Row> = bulk::query_json(conn, TABLE, "complaint_lines", &sql, params).await?;
    rows.sort_unstable_by_key(|(id, _, _, at, _, _)| (*at, *id));
    rows.into_iter()
        .map(|(id, case, channel, received_at, text, satisfaction)| {
            Ok(ComplaintLine {
                case_id: CaseId::from_uuid(case),
                channel: word("complaints", id, &channel)?,
                satisfaction: records::satisfaction("complaints", id, satisfaction)?,
                received_at,
                text,
            })
        })
        .collect()
}

/// Cases that came back (reopened) in `(after, until]` and are open now.
pub async fn cases_reopened_between<C: ConnectionTrait>(
    conn: &C,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<Case>, StoreError> {
    cases_in_status_between(conn, "cases_reopened_between", ("open", "reopened_at"), after, until).await
}
