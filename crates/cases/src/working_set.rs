//! What one write transaction knows about the keys, customers, cases and deliveries its batches
//! touch.
//!
//! Intake decides in memory and writes afterwards, so within a transaction the working set is
//! newer than the database: whatever it holds wins over what a lookup returns, and customers or
//! cases merged in the transaction are followed to where they went. That is what lets a long
//! transaction ([`crate::IntakeStream`]) decide one batch while the database is still writing
//! the previous one — lookups may run before earlier writes land, and the working set fills the
//! gap.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use chrono::{DateTime, Utc};
use mend_core::{Case, CaseId, Channel, ComplaintId, CustomerId, CustomerKey, Delivery, DeliveryContent};
use mend_store::DatabaseTransaction;
use mend_store::{cases, complaints, customers};

use crate::CasesError;
use crate::features::Signature;
use crate::grouping::GroupingPolicy;
use crate::term_statistics::TermCounts;

/// Where an already recorded delivery went, and what it said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Recorded {
    pub complaint_id: ComplaintId,
    pub case_id: CaseId,
    pub customer_id: CustomerId,
    pub content: DeliveryContent,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct CustomerState {
    pub has_name: bool,
    pub has_email: bool,
    /// Every case a complaint received at or after this instant could join is in the working
    /// set; `None` until they are loaded. A customer created in this transaction has all its
    /// cases here (`DateTime::<Utc>::MIN_UTC`).
    pub cases_for: Option<DateTime<Utc>>,
    /// Every open case of the customer is here, however old (needed before a merge).
    pub all_open: bool,
}

/// A case and its terms, decoded once.
#[derive(Debug, Clone)]
pub(crate) struct CaseState {
    pub record: Case,
    pub terms: Signature,
}

#[derive(Debug, Clone, Copy)]
enum Learn {
    KeepKnown,
    Replace,
}

#[derive(Debug, Default)]
pub(crate) struct WorkingSet {
    pub owner: HashMap<CustomerKey, CustomerId>,
    pub customers: HashMap<CustomerId, CustomerState>,
    pub cases: HashMap<CaseId, CaseState>,
    pub by_customer: HashMap<CustomerId, Vec<CaseId>>,
    pub deliveries: HashMap<(Channel, String), Recorded>,
    /// Customers merged in this transaction, to their survivor.
    pub merged_customers: HashMap<CustomerId, CustomerId>,
    /// Cases merged in this transaction, to the case they went into.
    pub merged_cases: HashMap<CaseId, CaseId>,
    /// Terms of the complaints this transaction placed, shared once it commits.
    pub term_counts: TermCounts,
}

impl WorkingSet {
    /// Where a customer is now, following merges made in this transaction.
    pub fn customer(&self, mut id: CustomerId) -> CustomerId {
        while let Some(&next) = self.merged_customers.get(&id) {
            id = next;
        }
        id
    }

    /// Where a case is now, following merges made in this transaction.
    pub fn case(&self, mut id: CaseId) -> CaseId {
        while let Some(&next) = self.merged_cases.get(&id) {
            id = next;
        }
        id
    }

    /// Holds a case; its terms live decoded in [`CaseState::terms`], not in the record.
    pub fn add_case(&mut self, mut record: Case) {
        let terms = Signature::from_case_terms(&std::mem::take(&mut record.terms));
        self.by_customer.entry(record.customer_id).or_default().push(record.id);
        self.cases.insert(record.id, CaseState { record, terms });
    }

    /// The cases of a customer the working set holds, oldest first.
    pub fn cases_of(&self, customer: CustomerId) -> Vec<CaseId> {
        let mut ids = self.by_customer.get(&customer).cloned().unwrap_or_default();
        ids.sort_unstable();
        ids
    }

    /// Loads from the database what deciding `deliveries` needs and the working set does not
    /// know yet: stored deliveries, the owners of their keys, and the groupable cases of those
    /// customers. On PostgreSQL the customers are locked first, so concurrent intakes of one
    /// customer decide one after the other.
    pub async fn load(
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
        for known in complaints::find_deliveries(tx, &unknown_deliveries).await? {
            let channel = known.channel;
            let recorded = Recorded {
                complaint_id: known.complaint_id,
                case_id: self.case(known.case_id),
                customer_id: self.customer(known.customer_id),
                content: known.content,
            };
            self.deliveries.entry((channel, known.source_id)).or_insert(recorded);
        }

        let groups: Vec<&[CustomerKey]> = complaints.iter().map(|c| c.keys.as_slice()).collect();
        self.load_keys(tx, &groups, earliest, policy).await
    }

    /// Loads the owners of the keys (one group per record) and the cases a complaint received
    /// at `earliest` or later could join. A group whose keys belong to different customers will
    /// merge them, and merging folds their open cases about one problem together however old:
    /// all open cases of those customers are loaded.
    pub async fn load_keys(
        &mut self,
        tx: &DatabaseTransaction,
        groups: &[&[CustomerKey]],
        earliest: DateTime<Utc>,
        policy: &GroupingPolicy,
    ) -> Result<(), CasesError> {
        let keys: Vec<&CustomerKey> = groups.iter().flat_map(|g| g.iter()).collect();
        let unknown_keys: Vec<CustomerKey> = keys
            .iter()
            .filter(|k| !self.owner.contains_key(**k))
            .map(|k| (*k).clone())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let found = customers::find_identities(tx, &unknown_keys).await?;
        let read_unlocked: Vec<CustomerKey> = found.iter().map(|k| k.key.clone()).collect();
        self.learn_owners(found, Learn::KeepKnown);
        let (bridged, windowed) = loop {
            let (bridged, windowed) = self.customers_to_load(groups, &keys, earliest);
            let locked = customers::lock_customers(tx, &self.with_merged(bridged.iter().chain(&windowed))).await?;
            // An owner read before its row was locked may have been merged away meanwhile by
            // the transaction that held the lock: decide on owners read under the lock only.
            if !locked || !self.owners_moved(tx, &read_unlocked).await? {
                break (bridged, windowed);
            }
        };
        let reopen_since = policy.earliest_reopen(earliest);
        let mut cases = cases::find_groupable_cases(
            tx,
            &self.with_merged(&windowed),
            policy.earliest_candidate(earliest),
            reopen_since,
        )
        .await?;
        // Every open case: none is older than the epoch (and PostgreSQL refuses chrono's minimum).
        let every_open = DateTime::<Utc>::UNIX_EPOCH;
        cases.extend(cases::find_groupable_cases(tx, &self.with_merged(&bridged), every_open, reopen_since).await?);
        for mut case in cases {
            if self.cases.contains_key(&case.id) || self.merged_cases.contains_key(&case.id) {
                continue;
            }
            case.customer_id = self.customer(case.customer_id);
            self.add_case(case);
        }
        for id in windowed {
            if let Some(customer) = self.customers.get_mut(&id) {
                customer.cases_for = Some(customer.cases_for.map_or(earliest, |c| c.min(earliest)));
            }
        }
        for id in bridged {
            if let Some(customer) = self.customers.get_mut(&id) {
                customer.cases_for = Some(customer.cases_for.map_or(earliest, |c| c.min(earliest)));
                customer.all_open = true;
            }
        }
        Ok(())
    }

    /// Takes the owners of keys a lookup found. `KeepKnown` leaves a key the working set knows
    /// alone (it may be newer than the database); `Replace` takes the database's word.
    fn learn_owners(&mut self, found: Vec<mend_store::KnownIdentity>, learn: Learn) {
        for known in found {
            let customer = self.customer(known.customer_id);
            match learn {
                Learn::KeepKnown => {
                    self.owner.entry(known.key).or_insert(customer);
                }
                Learn::Replace => {
                    self.owner.insert(known.key, customer);
                }
            }
            self.customers.entry(customer).or_insert(CustomerState {
                has_name: known.has_name,
                has_email: known.has_email,
                cases_for: None,
                all_open: false,
            });
        }
    }

    /// The owners of `keys` whose cases must be loaded: those a group bridges (with all their
    /// open cases), and those whose cases from `earliest` on are not loaded yet.
    fn customers_to_load(
        &self,
        groups: &[&[CustomerKey]],
        keys: &[&CustomerKey],
        earliest: DateTime<Utc>,
    ) -> (Vec<CustomerId>, Vec<CustomerId>) {
        let mut bridged: HashSet<CustomerId> = HashSet::default();
        for group in groups {
            let owners: HashSet<CustomerId> =
                group.iter().filter_map(|k| self.owner.get(k).copied()).map(|id| self.customer(id)).collect();
            if owners.len() > 1 {
                bridged.extend(owners.into_iter().filter(|id| !self.customers.get(id).is_some_and(|c| c.all_open)));
            }
        }
        let stale: HashSet<CustomerId> = keys
            .iter()
            .filter_map(|k| self.owner.get(*k).copied())
            .map(|id| self.customer(id))
            .filter(|id| {
                bridged.contains(id)
                    || self.customers.get(id).and_then(|c| c.cases_for).is_none_or(|loaded| loaded > earliest)
            })
            .collect();
        stale.iter().partition(|id| bridged.contains(id))
    }

    /// Whether the database, asked again now that the owners are locked, names other owners for
    /// `keys` (those whose owners were read before they were locked) than the working set does
    /// (a concurrent merge moved them); if so the working set takes its word. Keys known before
    /// need no second look: their owners were locked when they were learned, earlier in this
    /// transaction, and a merge or unmerge moves a key only under its owner's lock. Keys no one
    /// owned need none either: a concurrent writer that linked one meanwhile makes this write
    /// conflict, and the batch is tried again. Asked only where rows were locked (PostgreSQL):
    /// a SQLite transaction is the only writer, and its working set may be newer than the
    /// database.
    async fn owners_moved(&mut self, tx: &DatabaseTransaction, keys: &[CustomerKey]) -> Result<bool, CasesError> {
        if keys.is_empty() {
            return Ok(false);
        }
        let found = customers::find_identities(tx, keys).await?;
        let moved = found.iter().any(|k| self.owner.get(&k.key) != Some(&self.customer(k.customer_id)));
        if moved {
            self.learn_owners(found, Learn::Replace);
        }
        Ok(moved)
    }

    /// `customers` and the customers merged into them in this transaction, whose rows may not
    /// have moved yet; sorted (the order locks are taken in).
    fn with_merged<'a>(&self, customers: impl IntoIterator<Item = &'a CustomerId>) -> Vec<CustomerId> {
        let customers: HashSet<CustomerId> = customers.into_iter().copied().collect();
        let mut all: Vec<CustomerId> = customers
            .iter()
            .copied()
            .chain(self.merged_customers.keys().copied().filter(|m| customers.contains(&self.customer(*m))))
            .collect();
        all.sort_unstable();
        all
    }
}
