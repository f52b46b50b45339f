//! The `team_budgets` table: each team's monthly compensation budget and what it committed.

use sea_orm::{ConnectionTrait, Statement};

use crate::StoreError;
use crate::bulk;

/// A team's budget for a month (`YYYY-MM`): what it may spend and what it committed.
pub async fn team_budget<C: ConnectionTrait>(
    conn: &C,
    team: &str,
    month: &str,
) -> Result<Option<(i64, i64)>, StoreError> {
    let backend = conn.get_database_backend();
    let sql = format!(
        "SELECT budget_fen, committed_fen FROM team_budgets WHERE team = {} AND month = {}",
        bulk::param(backend, 1),
        bulk::param(backend, 2)
    );
    let row = conn.query_one_raw(Statement::from_sql_and_values(backend, sql, [team.into(), month.into()])).await?;
    match row {
        Some(row) => Ok(Some((row.try_get_by_index(0)?, row.try_get_by_index(1)?))),
        None => Ok(None),
    }
}

/// Opens a team's month with a budget unless it is open already; true when this call opened it.
pub async fn open_team_budget<C: ConnectionTrait>(
    conn: &C,
    team: &str,
    month: &str,
    budget_fen: i64,
) -> Result<bool, StoreError> {
    let backend = conn.get_database_backend();
    let p = |n| bulk::param(backend, n);
    let sql = format!(
        "INSERT INTO team_budgets (team, month, budget_fen, committed_fen) VALUES ({}, {}, {}, 0) ON CONFLICT DO NOTHING",
        p(1),
        p(2),
        p(3)
    );
    let done = conn
        .execute_raw(Statement::from_sql_and_values(backend, sql, [team.into(), month.into(), budget_fen.into()]))
        .await?;
    Ok(done.rows_affected() == 1)
}
