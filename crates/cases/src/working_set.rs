//! What one write transaction knows about the keys, customers, cases and deliveries its batches
//! touch.
//!
//! Intake decides in memory and writes afterwards, so within a transaction the working set is
//! newer than the database: whatever it holds wins over what a lookup returns. That is what lets
//! a long transaction ([`crate::IntakeStream`]) decide one batch while the database is still
//! writing the previous one — lookups may run before earlier writes land, and the working set
//! fills the gap.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use mend_core::{CaseId, Channel, ComplaintId, CustomerId, CustomerKey, Delivery};
use mend_store::intake as repo;
use mend_store::{CaseRecord, DatabaseTransaction};

use crate::CasesError;
use crate::grouping::GroupingPolicy;

/// Where an already recorded delivery went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Recorded {
    pub complaint_id: ComplaintId,
    pub case_id: CaseId,
    pub customer_id: CustomerId,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct CustomerState {
    pub has_name: bool,
    pub has_email: bool,
    /// Every groupable case whose latest complaint is at or after this instant is in
    /// [`WorkingSet::cases`]; `None` until they are loaded. A customer created in this
    /// transaction has all of its cases here (`DateTime::<Utc>::MIN_UTC`).
    pub cases_since: Option<DateTime<Utc>>,
}

#[derive(Debug, Default)]
pub(crate) struct WorkingSet {
    pub(crate) owner: HashMap<CustomerKey, CustomerId>,
    pub(crate) customers: HashMap<CustomerId, CustomerState>,
    pub(crate) cases: HashMap<CustomerId, Vec<CaseRecord>>,
    pub(crate) deliveries: HashMap<(Channel, String), Recorded>,
}

impl WorkingSet {
    /// Loads from the database what deciding `deliveries` needs and the working set does not
    /// know yet: stored deliveries, the owners of their keys, and the groupable cases of those
    /// customers. On PostgreSQL the customers are locked first, so concurrent intakes of one
    /// customer decide one after the other.
    pub(crate) async fn load(
        &mut self,
        tx: &DatabaseTransaction,
        deliveries: &[Delivery],
        policy: &GroupingPolicy,
    ) -> Result<(), CasesError> {
        let complaints: Vec<&mend_core::Complaint> = deliveries
            .iter()
            .filter_map(|d| match d {
                Delivery::Complaint(c) => Some(c.as_ref()),
                Delivery::Quarantined(_) => None,
            })
            .collect();
        let Some(earliest) = complaints.iter().map(|c| c.received_at).min() else { return Ok(()) };

        let unknown_deliveries: Vec<(Channel, &str)> = complaints
            .iter()
            .map(|c| (c.channel, c.source_id.as_str()))
            .filter(|(channel, source_id)| !self.deliveries.contains_key(&(*channel, (*source_id).to_owned())))
            .collect();
        for known in repo::find_deliveries(tx, &unknown_deliveries).await? {
            let channel: Channel = known.channel.parse().map_err(|e: mend_core::UnknownChannel| {
                mend_store::StoreError::Corrupt(format!("stored complaint has {e}"))
            })?;
            let recorded =
                Recorded { complaint_id: known.complaint_id, case_id: known.case_id, customer_id: known.customer_id };
            self.deliveries.entry((channel, known.source_id)).or_insert(recorded);
        }

        let unknown_keys: Vec<CustomerKey> = complaints
            .iter()
            .flat_map(|c| c.keys.iter())
            .filter(|k| !self.owner.contains_key(*k))
            .cloned()
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        for known in repo::find_identities(tx, &unknown_keys).await? {
            self.owner.entry(known.key).or_insert(known.customer_id);
            self.customers.entry(known.customer_id).or_insert(CustomerState {
                has_name: known.has_name,
                has_email: known.has_email,
                cases_since: None,
            });
        }

        let since = policy.earliest_candidate(earliest);
        let mut stale: Vec<CustomerId> = complaints
            .iter()
            .flat_map(|c| c.keys.iter())
            .filter_map(|k| self.owner.get(k).copied())
            .filter(|id| self.customers.get(id).and_then(|c| c.cases_since).is_none_or(|loaded| loaded > since))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        stale.sort_unstable();
        repo::lock_customers(tx, &stale).await?;
        for case in repo::find_groupable_cases(tx, &stale, since).await? {
            let cases = self.cases.entry(case.customer_id).or_default();
            if !cases.iter().any(|c| c.id == case.id) {
                cases.push(case);
            }
        }
        for id in stale {
            if let Some(customer) = self.customers.get_mut(&id) {
                customer.cases_since = Some(since);
            }
        }
        Ok(())
    }
}
