//! Doing a unit of work again when a concurrent writer got there first.

use crate::CasesError;

/// How often a unit of work is tried before its conflict is reported: each retry sees the other
/// writer's rows, so two attempts almost always suffice.
pub(crate) const CONFLICT_RETRIES: usize = 3;

/// Runs `attempt` (a whole transaction) again when it fails with a conflict (see
/// [`mend_store::StoreError::is_conflict`]): a unique key a concurrent writer wrote first, which
/// the next attempt reads, or a deadlock PostgreSQL broke by aborting this side.
pub(crate) async fn retry_on_conflict<T, F: Future<Output = Result<T, CasesError>>>(
    mut attempt: impl FnMut() -> F,
) -> Result<T, CasesError> {
    let mut tries = 1;
    loop {
        match attempt().await {
            Err(CasesError::Store(e)) if e.is_conflict() && tries < CONFLICT_RETRIES => {
                tracing::warn!(tries, error = %e, "A concurrent writer got there first; trying again.");
                tries += 1;
            }
            other => return other,
        }
    }
}
