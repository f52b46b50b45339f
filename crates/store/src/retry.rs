//! Doing a unit of work again when a concurrent writer got there first.

use crate::StoreError;

/// How often a unit of work is tried before its conflict is reported: each retry sees the other
/// writer's rows, so two attempts almost always suffice.
pub const CONFLICT_RETRIES: usize = 3;

/// An error that may be a store conflict underneath (see [`StoreError::is_conflict`]).
pub trait MaybeConflict: std::fmt::Display {
    fn is_conflict(&self) -> bool;
}

impl MaybeConflict for StoreError {
    fn is_conflict(&self) -> bool {
        StoreError::is_conflict(self)
    }
}

/// Runs `attempt` (a whole transaction) again when it fails with a conflict: a unique key a
/// concurrent writer wrote first, which the next attempt reads, or a deadlock PostgreSQL broke
/// by aborting this side.
pub async fn retry_on_conflict<T, E: MaybeConflict, F: Future<Output = Result<T, E>>>(
    mut attempt: impl FnMut() -> F,
) -> Result<T, E> {
    let mut tries = 1;
    loop {
        match attempt().await {
            Err(e) if e.is_conflict() && tries < CONFLICT_RETRIES => {
                tracing::warn!(tries, error = %e, "A concurrent writer got there first; trying again.");
                tries += 1;
            }
            other => return other,
        }
    }
}
