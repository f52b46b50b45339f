//! The `team_budgets` table: each team's monthly compensation budget and what it committed.

use mend_core::Money;
use sea_orm::{ConnectionTrait, Statement};

use crate::StoreError;
use crate::bulk;
use crate::error::During;

const TABLE: &str = "team_budgets";

/// A team's month of compensation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TeamBudget {
    /// What it may spend.
    pub budget: Money,
    /// What approvals took from it.
    pub committed: Money,
}

/// A team's budget for a month (`YYYY-MM`).
pub async fn team_budget<C: ConnectionTrait>(
    conn: &C,
    team: &str,
    month: &str,
) -> Result<Option<TeamBudget>, StoreError> {
    let backend = conn.get_database_backend();
    let sql = format!(
        "SELECT budget_fen, committed_fen FROM team_budgets WHERE team = {} AND month = {}",
        bulk::param(backend, 1),
        bulk::param(backend, 2)
    );
    let row = conn
        .query_one_raw(Statement::from_sql_and_values(backend, sql, [team.into(), month.into()]))
        .await
        .during(TABLE, "team_budget")?;
    match row {
        Some(row) => {
            let fen = |i| row.try_get_by_index::<i64>(i).during(TABLE, "team_budget").map(Money::from_fen);
            Ok(Some(TeamBudget { budget: fen(0)?, committed: fen(1)? }))
        }
        None => Ok(None),
    }
}

/// Opens a team's month with a budget unless it is open already; true when this call opened it.
pub async fn open_team_budget<C: ConnectionTrait>(
    conn: &C,
    team: &str,
    month: &str,
    budget: Money,
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
        .execute_raw(Statement::from_sql_and_values(backend, sql, [team.into(), month.into(), budget.fen().into()]))
        .await
        .during(TABLE, "open_team_budget")?;
    Ok(done.rows_affected() == 1)
}

/// Takes `amount` from a team's month, opening the month with `default_budget` if it is not
/// open yet; false (and nothing taken) when what is left does not cover it. One conditional
/// statement: concurrent draws queue on the row and each sees the others' commits, so the
/// budget is never overspent.
pub async fn draw_on_budget<C: ConnectionTrait>(
    conn: &C,
    team: &str,
    month: &str,
    amount: Money,
    default_budget: Money,
) -> Result<bool, StoreError> {
    open_team_budget(conn, team, month, default_budget).await?;
    let backend = conn.get_database_backend();
    let p = |n| bulk::param(backend, n);
    let sql = format!(
        "UPDATE team_budgets SET committed_fen = committed_fen + {amount} \
         WHERE team = {team} AND month = {month} AND committed_fen + {amount} <= budget_fen",
        amount = p(1),
        team = p(2),
        month = p(3),
    );
    let done = conn
        .execute_raw(Statement::from_sql_and_values(backend, sql, [amount.fen().into(), team.into(), month.into()]))
        .await
        .during(TABLE, "draw_on_budget")?;
    Ok(done.rows_affected() == 1)
}

/// Sets a team's budget for a month, opening the month with it if it is not open; `None` (and
/// nothing changed) when approvals already took more than `budget`. One conditional statement,
/// so an approval drawing at the same moment is either counted against the new budget or
/// refused by it.
pub async fn set_team_budget<C: ConnectionTrait>(
    conn: &C,
    team: &str,
    month: &str,
    budget: Money,
) -> Result<Option<TeamBudget>, StoreError> {
    open_team_budget(conn, team, month, budget).await?;
    let backend = conn.get_database_backend();
    let p = |n| bulk::param(backend, n);
    let sql = format!(
        "UPDATE team_budgets SET budget_fen = {budget} \
         WHERE team = {team} AND month = {month} AND committed_fen <= {budget}",
        budget = p(1),
        team = p(2),
        month = p(3),
    );
    let done = conn
        .execute_raw(Statement::from_sql_and_values(backend, sql, [budget.fen().into(), team.into(), month.into()]))
        .await
        .during(TABLE, "set_team_budget")?;
    if done.rows_affected() != 1 {
        return Ok(None);
    }
    team_budget(conn, team, month).await
}
