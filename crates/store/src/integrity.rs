//! What `mend check` asks of the data: broken references, stale counters and a contradicting identity graph.

use sea_orm::ConnectionTrait;

use crate::StoreError;
use crate::error::During;

const TABLE: &str = "database";

/// One rule of the identity graph or of the cases that the data breaks, and on how many rows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IntegrityProblem {
    pub check: &'static str,
    pub rows: i64,
}

impl std::fmt::Display for IntegrityProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.rows, self.check)
    }
}

/// What `mend check` asks: each rule as a count of the rows that break it.
const INTEGRITY_CHECKS: [(&str, &str); 15] = [
    (
        "complaints without their case",
        "SELECT count(*) FROM complaints c WHERE NOT EXISTS (SELECT 1 FROM cases k WHERE k.id = c.case_id)",
    ),
    (
        "complaints in a case that was merged away",
        "SELECT count(*) FROM complaints c JOIN cases k ON k.id = c.case_id WHERE k.status = 'merged'",
    ),
    (
        // A complaint keeps the customer it arrived under; that customer may since have
        // been merged into the case's.
        "complaints whose customer is neither their case's customer nor merged away",
        "SELECT count(*) FROM complaints c JOIN cases k ON k.id = c.case_id JOIN customers u ON u.id = c.customer_id \
         WHERE k.customer_id <> c.customer_id AND u.merged_into IS NULL",
    ),
    (
        "cases without their customer",
        "SELECT count(*) FROM cases k WHERE NOT EXISTS (SELECT 1 FROM customers u WHERE u.id = k.customer_id)",
    ),
    (
        "cases of a customer that was merged away",
        "SELECT count(*) FROM cases k JOIN customers u ON u.id = k.customer_id WHERE u.merged_into IS NOT NULL",
    ),
    (
        "identities without their customer",
        "SELECT count(*) FROM customer_identities i \
         WHERE NOT EXISTS (SELECT 1 FROM customers u WHERE u.id = i.customer_id)",
    ),
    (
        "identity keys on a customer that was merged away",
        "SELECT count(*) FROM customer_identities i JOIN customers u ON u.id = i.customer_id \
         WHERE u.merged_into IS NOT NULL",
    ),
    (
        // On SQLite a key's uniqueness spans two indexes (`key_tiers`), kept by a trigger.
        "identity keys linked more than once",
        "SELECT count(*) FROM (SELECT kind, value FROM customer_identities \
         GROUP BY kind, value HAVING count(*) > 1) twice",
    ),
    (
        "customers merged away more than once (open merges of one customer)",
        "SELECT count(*) FROM (SELECT merged_id FROM customer_merges WHERE unmerged_at IS NULL \
         GROUP BY merged_id HAVING count(*) > 1) twice",
    ),
    (
        "open merges that their merged customer does not point along",
        "SELECT count(*) FROM customer_merges m JOIN customers u ON u.id = m.merged_id \
         WHERE m.unmerged_at IS NULL AND (u.merged_into IS NULL OR u.merged_into <> m.survivor_id)",
    ),
    (
        // A survivor merged away in turn has an open merge of its own: the chain is followed.
        "customers merged away without an open merge",
        "SELECT count(*) FROM customers u WHERE u.merged_into IS NOT NULL AND NOT EXISTS \
         (SELECT 1 FROM customer_merges m WHERE m.merged_id = u.id AND m.survivor_id = u.merged_into \
         AND m.unmerged_at IS NULL)",
    ),
    (
        "cases whose complaint count or span differs from their complaints",
        "SELECT count(*) FROM cases k JOIN (SELECT case_id, count(*) AS n, min(received_at) AS first, \
         max(received_at) AS last FROM complaints GROUP BY case_id) s ON s.case_id = k.id \
         WHERE s.n <> k.complaint_count OR s.first <> k.first_complaint_at OR s.last <> k.last_complaint_at",
    ),
    (
        "cases without complaints (other than merged ones)",
        "SELECT count(*) FROM cases k WHERE k.status <> 'merged' \
         AND NOT EXISTS (SELECT 1 FROM complaints c WHERE c.case_id = k.id)",
    ),
    (
        // A merged case may point at a case merged later in turn: readers follow the chain.
        "merged cases that still count complaints or point nowhere",
        "SELECT count(*) FROM cases k WHERE k.status = 'merged' AND (k.complaint_count <> 0 \
         OR NOT EXISTS (SELECT 1 FROM cases i WHERE i.id = k.merged_into))",
    ),
    (
        "open tasks of cases merged away, or callbacks of closed ones",
        "SELECT count(*) FROM tasks t JOIN cases k ON k.id = t.case_id WHERE t.status = 'open' \
         AND (k.status = 'merged' OR (k.status = 'closed' AND t.kind IN ('callback', 'retry')))",
    ),
];

/// Broken references, stale counters and a contradicting identity graph: what the intake
/// tables' missing foreign keys would have refused, and what grouping and merging must keep
/// true. An empty answer means the data is consistent. Cost grows with the tables (full
/// scans), so this is for `mend check`, tests and maintenance, not for request paths.
pub async fn integrity_problems<C: ConnectionTrait>(conn: &C) -> Result<Vec<IntegrityProblem>, StoreError> {
    let backend = conn.get_database_backend();
    let mut problems = Vec::new();
    for (check, sql) in INTEGRITY_CHECKS {
        let row = conn
            .query_one_raw(sea_orm::Statement::from_string(backend, sql))
            .await
            .during(TABLE, "integrity_problems")?;
        let rows: i64 = match row {
            Some(row) => row.try_get_by_index(0).during(TABLE, "integrity_problems")?,
            None => 0,
        };
        if rows > 0 {
            problems.push(IntegrityProblem { check, rows });
        }
    }
    Ok(problems)
}
