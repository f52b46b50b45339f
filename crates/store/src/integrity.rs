//! What `mend check` asks of the data: broken references, stale counters and a contradicting identity graph.

use sea_orm::{ConnectionTrait, DbBackend};

use crate::StoreError;
use crate::bulk;
use crate::error::During;

const TABLE: &str = "database";

/// One rule of the identity graph or of the cases that the data breaks, on how many rows, and
/// the first few of them (ids, or for a key the customers holding it) to look at.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IntegrityProblem {
    pub check: &'static str,
    pub rows: i64,
    pub examples: Vec<String>,
}

impl std::fmt::Display for IntegrityProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.rows, self.check)
    }
}

/// How many rows [`IntegrityProblem::examples`] names.
const EXAMPLES: usize = 5;

/// A rule as the query of the rows that break it: `SELECT row FROM rest`, where `row` is an id
/// column that names each.
struct Rule {
    check: &'static str,
    row: &'static str,
    rest: &'static str,
}

/// What `mend check` asks: each rule as the rows that break it.
const INTEGRITY_CHECKS: [Rule; 15] = [
    Rule {
        check: "complaints without their case",
        row: "c.id",
        rest: "complaints c WHERE NOT EXISTS (SELECT 1 FROM cases k WHERE k.id = c.case_id)",
    },
    Rule {
        check: "complaints in a case that was merged away",
        row: "c.id",
        rest: "complaints c JOIN cases k ON k.id = c.case_id WHERE k.status = 'merged'",
    },
    // A complaint keeps the customer it arrived under; that customer may since have been
    // merged into the case's.
    Rule {
        check: "complaints whose customer is neither their case's customer nor merged away",
        row: "c.id",
        rest: "complaints c JOIN cases k ON k.id = c.case_id JOIN customers u ON u.id = c.customer_id \
               WHERE k.customer_id <> c.customer_id AND u.merged_into IS NULL",
    },
    Rule {
        check: "cases without their customer",
        row: "k.id",
        rest: "cases k WHERE NOT EXISTS (SELECT 1 FROM customers u WHERE u.id = k.customer_id)",
    },
    Rule {
        check: "cases of a customer that was merged away",
        row: "k.id",
        rest: "cases k JOIN customers u ON u.id = k.customer_id WHERE u.merged_into IS NOT NULL",
    },
    Rule {
        check: "identities without their customer",
        row: "i.customer_id",
        rest: "customer_identities i WHERE NOT EXISTS (SELECT 1 FROM customers u WHERE u.id = i.customer_id)",
    },
    Rule {
        check: "identity keys on a customer that was merged away",
        row: "i.customer_id",
        rest: "customer_identities i JOIN customers u ON u.id = i.customer_id WHERE u.merged_into IS NOT NULL",
    },
    // On SQLite a key's uniqueness spans two indexes (`key_tiers`), kept by a trigger. Each
    // link of such a key counts, named by its customer (not by the key: a phone number).
    Rule {
        check: "links of identity keys linked more than once",
        row: "i.customer_id",
        rest: "customer_identities i WHERE (i.kind, i.value) IN \
               (SELECT kind, value FROM customer_identities GROUP BY kind, value HAVING count(*) > 1)",
    },
    Rule {
        check: "customers merged away more than once (open merges of one customer)",
        row: "merged_id",
        rest: "customer_merges WHERE unmerged_at IS NULL GROUP BY merged_id HAVING count(*) > 1",
    },
    Rule {
        check: "open merges that their merged customer does not point along",
        row: "m.merged_id",
        rest: "customer_merges m JOIN customers u ON u.id = m.merged_id \
               WHERE m.unmerged_at IS NULL AND (u.merged_into IS NULL OR u.merged_into <> m.survivor_id)",
    },
    // A survivor merged away in turn has an open merge of its own: the chain is followed.
    Rule {
        check: "customers merged away without an open merge",
        row: "u.id",
        rest: "customers u WHERE u.merged_into IS NOT NULL AND NOT EXISTS \
               (SELECT 1 FROM customer_merges m WHERE m.merged_id = u.id AND m.survivor_id = u.merged_into \
               AND m.unmerged_at IS NULL)",
    },
    Rule {
        check: "cases whose complaint count or span differs from their complaints",
        row: "k.id",
        rest: "cases k JOIN (SELECT case_id, count(*) AS n, min(received_at) AS first, \
               max(received_at) AS last FROM complaints GROUP BY case_id) s ON s.case_id = k.id \
               WHERE s.n <> k.complaint_count OR s.first <> k.first_complaint_at OR s.last <> k.last_complaint_at",
    },
    Rule {
        check: "cases without complaints (other than merged ones)",
        row: "k.id",
        rest: "cases k WHERE k.status <> 'merged' AND NOT EXISTS (SELECT 1 FROM complaints c WHERE c.case_id = k.id)",
    },
    // A merged case may point at a case merged later in turn: readers follow the chain.
    Rule {
        check: "merged cases that still count complaints or point nowhere",
        row: "k.id",
        rest: "cases k WHERE k.status = 'merged' AND (k.complaint_count <> 0 \
               OR NOT EXISTS (SELECT 1 FROM cases i WHERE i.id = k.merged_into))",
    },
    Rule {
        check: "open tasks of cases merged away, or callbacks of closed ones",
        row: "tasks.id",
        rest: concat!("tasks WHERE tasks.status = 'open' AND ", crate::tasks::unwanted_by_their_case!()),
    },
];

/// Broken references, stale counters and a contradicting identity graph: what the intake
/// tables' missing foreign keys would have refused, and what grouping and merging must keep
/// true. An empty answer means the data is consistent. Cost grows with the tables (full
/// scans), so this is for `mend check`, tests and maintenance, not for request paths.
pub async fn integrity_problems<C: ConnectionTrait>(conn: &C) -> Result<Vec<IntegrityProblem>, StoreError> {
    let backend = conn.get_database_backend();
    let mut problems = Vec::new();
    for rule in &INTEGRITY_CHECKS {
        let count = format!("SELECT count(*) FROM (SELECT {} FROM {}) broken", rule.row, rule.rest);
        let row = conn
            .query_one_raw(sea_orm::Statement::from_string(backend, count))
            .await
            .during(TABLE, "integrity_problems")?;
        let rows: i64 = match row {
            Some(row) => row.try_get_by_index(0).during(TABLE, "integrity_problems")?,
            None => 0,
        };
        if rows > 0 {
            let id = match backend {
                DbBackend::Postgres => format!("{}::text", rule.row),
                _ => format!("hex({})", rule.row),
            };
            let first = format!(
                "SELECT {} FROM (SELECT DISTINCT {id} AS example FROM {} ORDER BY 1 LIMIT {EXAMPLES}) broken",
                bulk::json_values(backend, "example"),
                rule.rest
            );
            let ids: Vec<uuid::Uuid> = bulk::query_json(conn, TABLE, "integrity_problems", &first, Vec::new()).await?;
            let examples = ids.iter().map(uuid::Uuid::to_string).collect();
            problems.push(IntegrityProblem { check: rule.check, rows, examples });
        }
    }
    Ok(problems)
}
