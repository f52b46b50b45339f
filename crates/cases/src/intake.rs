//! Recording a batch of deliveries: deduplicate, resolve identity, classify, group, write.
//!
//! A batch is one transaction and a handful of statements whatever its size: every lookup is
//! set-based and every decision is made in memory, in delivery order, so a complaint sees the
//! customers and cases created by earlier complaints of the same batch.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use mend_core::{
    CaseId, CaseStatus, Channel, Complaint, ComplaintId, CustomerDetails, CustomerId, CustomerKey, Delivery,
    QuarantineId,
};
use mend_store::intake::{self as repo, BatchWrite};
use mend_store::{CaseRecord, NewComplaint, NewCustomer, NewIdentity, NewQuarantine, Store};
use serde::Serialize;
use serde_json::json;
use tracing::{debug, warn};

use crate::CasesError;
use crate::classify::Classifier;
use crate::grouping::{GroupingPolicy, find_case};

/// How often a batch is retried when a concurrent writer created the same customer key or
/// delivery first; each retry sees the other writer's rows, so two attempts almost always suffice.
const CONFLICT_RETRIES: usize = 3;

/// What happened to one delivery of the batch, in the batch's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    Accepted {
        complaint_id: ComplaintId,
        case_id: CaseId,
        customer_id: CustomerId,
        category: String,
        case_created: bool,
    },
    Duplicate {
        complaint_id: ComplaintId,
        case_id: CaseId,
        customer_id: CustomerId,
    },
    Quarantined {
        quarantine_id: QuarantineId,
        reason: String,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntakeReport {
    pub outcomes: Vec<Outcome>,
    /// Cases that existed before this batch and received a complaint in it.
    pub existing_cases_touched: Vec<CaseId>,
}

impl IntakeReport {
    pub fn count(&self, pred: impl Fn(&Outcome) -> bool) -> usize {
        self.outcomes.iter().filter(|o| pred(o)).count()
    }
}

/// The intake service: configuration shared by every batch.
#[derive(Debug, Clone)]
pub struct Intake {
    classifier: Classifier,
    policy: GroupingPolicy,
    /// Time zone given to new customers (contact hours are evaluated in it).
    default_timezone: String,
}

impl Intake {
    pub fn new(classifier: Classifier, policy: GroupingPolicy, default_timezone: impl Into<String>) -> Self {
        Self { classifier, policy, default_timezone: default_timezone.into() }
    }

    pub fn classifier(&self) -> &Classifier {
        &self.classifier
    }

    /// Records `deliveries` in one transaction. Safe to call concurrently from several
    /// processes: the same delivery twice is stored once, and complaints of one customer are
    /// grouped as if they had arrived one after the other.
    pub async fn record(
        &self,
        store: &Store,
        deliveries: &[Delivery],
        now: DateTime<Utc>,
    ) -> Result<IntakeReport, CasesError> {
        let mut attempt = 1;
        loop {
            match self.try_record(store, deliveries, now).await {
                Err(CasesError::Store(e)) if e.is_conflict() && attempt < CONFLICT_RETRIES => {
                    warn!(attempt, error = %e, "Concurrent intake wrote the same keys; retrying the batch.");
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn try_record(
        &self,
        store: &Store,
        deliveries: &[Delivery],
        now: DateTime<Utc>,
    ) -> Result<IntakeReport, CasesError> {
        let tx = store.begin().await?;
        let mut plan = BatchPlan::default();

        let complaints: Vec<&Complaint> = deliveries
            .iter()
            .filter_map(|d| match d {
                Delivery::Complaint(c) => Some(c.as_ref()),
                Delivery::Quarantined(_) => None,
            })
            .collect();

        let delivery_keys: Vec<(Channel, &str)> =
            complaints.iter().map(|c| (c.channel, c.source_id.as_str())).collect();
        let known_deliveries: HashMap<(String, String), Outcome> = repo::find_deliveries(&tx, &delivery_keys)
            .await?
            .into_iter()
            .map(|k| {
                let outcome =
                    Outcome::Duplicate { complaint_id: k.complaint_id, case_id: k.case_id, customer_id: k.customer_id };
                ((k.channel, k.source_id), outcome)
            })
            .collect();

        let all_keys: Vec<CustomerKey> = complaints.iter().flat_map(|c| c.keys.iter().cloned()).collect();
        let mut identities = IdentityMap::default();
        for known in repo::find_identities(&tx, &all_keys).await? {
            identities.known_details.insert(known.customer_id, (known.has_name, known.has_email));
            identities.owner.insert(known.key, known.customer_id);
        }

        let existing_customers: Vec<CustomerId> = identities.known_details.keys().copied().collect();
        repo::lock_customers(&tx, &existing_customers).await?;
        if let Some(earliest) = complaints.iter().map(|c| c.received_at).min() {
            for case in
                repo::find_groupable_cases(&tx, &existing_customers, self.policy.earliest_candidate(earliest)).await?
            {
                plan.existing_cases.insert(case.id);
                plan.cases.entry(case.customer_id).or_default().push(case);
            }
        }

        let mut outcomes = Vec::with_capacity(deliveries.len());
        let mut in_batch: HashMap<(Channel, &str), usize> = HashMap::new();
        for delivery in deliveries {
            let outcome = match delivery {
                Delivery::Quarantined(q) => {
                    let id = QuarantineId::new();
                    plan.write.quarantine.push(NewQuarantine {
                        id,
                        channel: q.channel.clone(),
                        raw: q.raw.clone(),
                        reason: q.reason.clone(),
                        received_at: now,
                    });
                    Outcome::Quarantined { quarantine_id: id, reason: q.reason.clone() }
                }
                Delivery::Complaint(c) => {
                    let key = (c.channel.as_str().to_owned(), c.source_id.clone());
                    if let Some(known) = known_deliveries.get(&key) {
                        known.clone()
                    } else if let Some(&first) = in_batch.get(&(c.channel, c.source_id.as_str())) {
                        as_duplicate(&outcomes[first])
                    } else {
                        in_batch.insert((c.channel, c.source_id.as_str()), outcomes.len());
                        self.place(c, &mut identities, &mut plan, now)
                    }
                }
            };
            outcomes.push(outcome);
        }

        let existing_cases_touched: Vec<CaseId> =
            plan.touched.iter().filter(|id| plan.existing_cases.contains(id)).copied().collect();
        let touched = std::mem::take(&mut plan.touched);
        plan.write.cases = plan.cases.into_values().flatten().filter(|c| touched.contains(&c.id)).collect();
        // Writers touch rows in one global order, so they can wait for each other but never in a cycle.
        plan.write.cases.sort_unstable_by_key(|c| c.id);
        plan.write.customer_details = identities.details_to_fill;
        repo::write_batch(&tx, plan.write, now).await?;
        tx.commit().await.map_err(mend_store::StoreError::from)?;
        Ok(IntakeReport { outcomes, existing_cases_touched })
    }

    /// Decides customer, category and case for one new complaint, updating the plan.
    fn place(&self, c: &Complaint, identities: &mut IdentityMap, plan: &mut BatchPlan, now: DateTime<Utc>) -> Outcome {
        let source = format!("complaint:{}/{}", c.channel, c.source_id);
        let customer_id = identities.resolve(c, &source, &self.default_timezone, &mut plan.write, now);
        let classification = self.classifier.classify(c.category.as_deref(), &c.text);
        let cases = plan.cases.entry(customer_id).or_default();

        let (case_id, case_created, reason) =
            match find_case(cases, customer_id, &classification.category, c.received_at, &self.policy)
                .map(|case| case.id)
            {
                Some(case_id) => {
                    let case = cases.iter_mut().find(|k| k.id == case_id).expect("found above");
                    let gap_hours = (c.received_at - case.last_complaint_at).num_minutes() as f64 / 60.0;
                    case.complaint_count += 1;
                    case.first_complaint_at = case.first_complaint_at.min(c.received_at);
                    case.last_complaint_at = case.last_complaint_at.max(c.received_at);
                    case.escalation_risk |= c.formal_complaint;
                    case.updated_at = now;
                    let reason = json!({
                        "decision": "joined",
                        "hours_since_latest": gap_hours,
                        "window_days": self.policy.window_days,
                    });
                    (case_id, false, reason)
                }
                None => {
                    let case = CaseRecord {
                        id: CaseId::new(),
                        customer_id,
                        category: classification.category.clone(),
                        status: CaseStatus::Open,
                        escalation_risk: c.formal_complaint,
                        repeat_failure: false,
                        complaint_count: 1,
                        first_complaint_at: c.received_at,
                        last_complaint_at: c.received_at,
                        opened_at: now,
                        closed_at: None,
                        updated_at: now,
                    };
                    let id = case.id;
                    cases.push(case);
                    let reason = json!({
                        "decision": "opened",
                        "window_days": self.policy.window_days,
                    });
                    (id, true, reason)
                }
            };
        plan.touched.insert(case_id);
        debug!(case_id = %case_id, customer_id = %customer_id, category = %classification.category, case_created, "Complaint placed.");

        let mut reason = reason;
        reason["category"] = json!(classification.category);
        reason["category_source"] = json!(classification.source);
        reason["matched_terms"] = json!(classification.matched_terms);
        let complaint_id = ComplaintId::new();
        plan.write.complaints.push(NewComplaint {
            id: complaint_id,
            complaint: c.clone(),
            customer_id,
            case_id,
            category: classification.category.clone(),
            category_source: classification.source,
            grouping_reason: reason,
            ingested_at: now,
        });
        Outcome::Accepted { complaint_id, case_id, customer_id, category: classification.category, case_created }
    }
}

fn as_duplicate(first: &Outcome) -> Outcome {
    match first {
        Outcome::Accepted { complaint_id, case_id, customer_id, .. }
        | Outcome::Duplicate { complaint_id, case_id, customer_id } => {
            Outcome::Duplicate { complaint_id: *complaint_id, case_id: *case_id, customer_id: *customer_id }
        }
        Outcome::Quarantined { .. } => unreachable!("only complaints are indexed for in-batch duplicates"),
    }
}

#[derive(Default)]
struct BatchPlan {
    write: BatchWrite,
    /// Cases each customer of the batch could join: loaded ones, then ones this batch opened.
    cases: HashMap<CustomerId, Vec<CaseRecord>>,
    existing_cases: HashSet<CaseId>,
    touched: HashSet<CaseId>,
}

/// Which customer each key points at, as the batch goes.
#[derive(Default)]
struct IdentityMap {
    owner: HashMap<CustomerKey, CustomerId>,
    /// Existing customers and whether they already have a name and an email.
    known_details: HashMap<CustomerId, (bool, bool)>,
    details_to_fill: Vec<(CustomerId, CustomerDetails)>,
}

impl IdentityMap {
    /// The customer a complaint is from: the owner of its first known key (keys come most
    /// specific first), else a new customer. Keys not yet linked are linked to that customer.
    /// Keys already linked to a different customer stay where they are.
    fn resolve(
        &mut self,
        c: &Complaint,
        source: &str,
        timezone: &str,
        write: &mut BatchWrite,
        now: DateTime<Utc>,
    ) -> CustomerId {
        let customer_id = match c.keys.iter().find_map(|k| self.owner.get(k).copied()) {
            Some(id) => {
                self.fill_missing_details(id, &c.customer);
                id
            }
            None => {
                let id = CustomerId::new();
                write.customers.push(NewCustomer {
                    id,
                    details: c.customer.clone(),
                    timezone: timezone.to_owned(),
                    created_at: now,
                });
                self.known_details.insert(id, (c.customer.name.is_some(), c.customer.email.is_some()));
                id
            }
        };
        for key in &c.keys {
            if !self.owner.contains_key(key) {
                self.owner.insert(key.clone(), customer_id);
                write.identities.push(NewIdentity {
                    customer_id,
                    key: key.clone(),
                    source: source.to_owned(),
                    linked_at: now,
                });
            }
        }
        customer_id
    }

    fn fill_missing_details(&mut self, id: CustomerId, details: &CustomerDetails) {
        let Some((has_name, has_email)) = self.known_details.get_mut(&id) else { return };
        let name = details.name.clone().filter(|_| !*has_name);
        let email = details.email.clone().filter(|_| !*has_email);
        if name.is_some() || email.is_some() {
            *has_name |= name.is_some();
            *has_email |= email.is_some();
            self.details_to_fill.push((id, CustomerDetails { name, email }));
        }
    }
}
