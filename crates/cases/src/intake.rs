//! Recording a batch of deliveries: deduplicate, resolve identity, classify, group, write.
//!
//! A batch is three steps: [`WorkingSet::load`] fetches what the decisions need (a handful of
//! set-based lookups whatever the batch size), [`Intake::decide`] makes every decision in memory
//! and in delivery order — so a complaint sees the customers and cases created by earlier
//! complaints of the same batch — and the resulting [`BatchWrite`] is written in one go.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use mend_core::{CaseId, CaseStatus, Complaint, ComplaintId, CustomerDetails, CustomerId, Delivery, QuarantineId};
use mend_store::intake::BatchWrite;
use mend_store::{CaseRecord, DatabaseTransaction, NewComplaint, NewCustomer, NewIdentity, NewQuarantine, Store};
use serde::Serialize;
use tracing::{debug, warn};

use crate::CasesError;
use crate::classify::{Classification, Classifier};
use crate::grouping::{GroupingPolicy, find_case};
use crate::working_set::{CustomerState, Recorded, WorkingSet};

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

/// What [`Intake::decide`] made of a batch: the rows to write and the report to give.
#[derive(Debug)]
pub(crate) struct Decision<'a> {
    pub write: BatchWrite<'a>,
    pub report: IntakeReport,
}

/// Why a complaint is in its case, stored with the complaint and shown on the case.
#[derive(Debug, Serialize)]
struct GroupingReason<'a> {
    decision: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    hours_since_latest: Option<f64>,
    window_days: i64,
    category: &'a str,
    category_source: &'static str,
    matched_terms: &'a [String],
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

    pub fn policy(&self) -> &GroupingPolicy {
        &self.policy
    }

    /// Records `deliveries` in a transaction of their own. Safe to call concurrently from
    /// several processes: the same delivery twice is stored once, and complaints of one
    /// customer are grouped as if they had arrived one after the other.
    pub async fn record(
        &self,
        store: &Store,
        deliveries: &[Delivery],
        now: DateTime<Utc>,
    ) -> Result<IntakeReport, CasesError> {
        let mut attempt = 1;
        loop {
            let tx = store.begin_write().await?;
            match self.record_in(store, &tx, deliveries, now).await {
                Ok(report) => {
                    tx.commit().await.map_err(mend_store::StoreError::from)?;
                    return Ok(report);
                }
                Err(CasesError::Store(e)) if e.is_conflict() && attempt < CONFLICT_RETRIES => {
                    warn!(attempt, error = %e, "Concurrent intake wrote the same keys; retrying the batch.");
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Records `deliveries` inside the caller's write transaction (from
    /// [`Store::begin_write`]), which may already hold earlier batches: lookups see them.
    pub async fn record_in(
        &self,
        store: &Store,
        tx: &DatabaseTransaction,
        deliveries: &[Delivery],
        now: DateTime<Utc>,
    ) -> Result<IntakeReport, CasesError> {
        let mut working = WorkingSet::default();
        working.load(tx, deliveries, &self.policy).await?;
        let decision = self.decide(deliveries, &mut working, now);
        decision.write.encode(store.backend(), now)?.execute(tx).await?;
        Ok(decision.report)
    }

    /// Decides customer, category and case for every delivery, in order, from what `working`
    /// knows (see [`WorkingSet::load`]), and records the decisions in it. No I/O.
    pub(crate) fn decide<'a>(
        &self,
        deliveries: &'a [Delivery],
        working: &mut WorkingSet,
        now: DateTime<Utc>,
    ) -> Decision<'a> {
        let mut batch = BatchDecisions { write: BatchWrite::default(), touched: Vec::new(), opened: HashSet::new() };
        let mut outcomes = Vec::with_capacity(deliveries.len());
        for delivery in deliveries {
            let outcome = match delivery {
                Delivery::Quarantined(q) => {
                    let id = QuarantineId::new();
                    batch.write.quarantine.push(NewQuarantine {
                        id,
                        channel: q.channel.clone(),
                        raw: q.raw.clone(),
                        reason: q.reason.clone(),
                        received_at: now,
                    });
                    Outcome::Quarantined { quarantine_id: id, reason: q.reason.clone() }
                }
                Delivery::Complaint(c) => match working.deliveries.get(&(c.channel, c.source_id.clone())) {
                    Some(r) => Outcome::Duplicate {
                        complaint_id: r.complaint_id,
                        case_id: r.case_id,
                        customer_id: r.customer_id,
                    },
                    None => self.place(c, working, &mut batch, now),
                },
            };
            outcomes.push(outcome);
        }

        let mut touched = batch.touched;
        // Writers touch rows in one global order, so they can wait for each other but never in a cycle.
        touched.sort_unstable_by_key(|(_, case_id)| *case_id);
        touched.dedup();
        let existing_cases_touched =
            touched.iter().map(|(_, id)| *id).filter(|id| !batch.opened.contains(id)).collect();
        batch.write.cases = touched
            .iter()
            .filter_map(|(customer, id)| working.cases.get(customer)?.iter().find(|c| c.id == *id).cloned())
            .collect();
        Decision { write: batch.write, report: IntakeReport { outcomes, existing_cases_touched } }
    }

    /// Decides customer, category and case for one new complaint.
    fn place<'a>(
        &self,
        c: &'a Complaint,
        working: &mut WorkingSet,
        batch: &mut BatchDecisions<'a>,
        now: DateTime<Utc>,
    ) -> Outcome {
        let customer_id = self.resolve_customer(c, working, &mut batch.write, now);
        let classification = self.classifier.classify(c.category.as_deref(), &c.text);
        let cases = working.cases.entry(customer_id).or_default();
        let joined = find_case(cases, customer_id, &classification.category, c.received_at, &self.policy)
            .map(|case| case.id)
            .and_then(|id| cases.iter_mut().find(|k| k.id == id));
        let (case_id, hours_since_latest) = match joined {
            Some(case) => {
                let gap_hours = (c.received_at - case.last_complaint_at).num_minutes() as f64 / 60.0;
                case.complaint_count += 1;
                case.first_complaint_at = case.first_complaint_at.min(c.received_at);
                case.last_complaint_at = case.last_complaint_at.max(c.received_at);
                case.escalation_risk |= c.formal_complaint;
                case.updated_at = now;
                (case.id, Some(gap_hours))
            }
            None => {
                let case = new_case(customer_id, &classification, c, now);
                let id = case.id;
                cases.push(case);
                batch.opened.insert(id);
                (id, None)
            }
        };
        batch.touched.push((customer_id, case_id));
        let case_created = hours_since_latest.is_none();
        debug!(%case_id, %customer_id, category = %classification.category, case_created, "Complaint placed.");

        let reason = GroupingReason {
            decision: if case_created { "opened" } else { "joined" },
            hours_since_latest,
            window_days: self.policy.window_days,
            category: &classification.category,
            category_source: classification.source,
            matched_terms: &classification.matched_terms,
        };
        let complaint_id = ComplaintId::new();
        working.deliveries.insert((c.channel, c.source_id.clone()), Recorded { complaint_id, case_id, customer_id });
        batch.write.complaints.push(NewComplaint {
            id: complaint_id,
            complaint: c,
            customer_id,
            case_id,
            grouping_reason: serde_json::to_string(&reason).expect("a grouping reason serializes"),
            category: classification.category.clone(),
            category_source: classification.source,
            ingested_at: now,
        });
        Outcome::Accepted { complaint_id, case_id, customer_id, category: classification.category, case_created }
    }

    /// The customer a complaint is from: the owner of its first known key (keys come most
    /// specific first), else a new customer. Keys not yet linked are linked to that customer;
    /// keys already linked to a different customer stay where they are.
    fn resolve_customer(
        &self,
        c: &Complaint,
        working: &mut WorkingSet,
        write: &mut BatchWrite<'_>,
        now: DateTime<Utc>,
    ) -> CustomerId {
        let customer_id = match c.keys.iter().find_map(|k| working.owner.get(k).copied()) {
            Some(id) => {
                fill_missing_details(working, id, &c.customer, write);
                id
            }
            None => {
                let id = CustomerId::new();
                write.customers.push(NewCustomer {
                    id,
                    details: c.customer.clone(),
                    timezone: self.default_timezone.clone(),
                    created_at: now,
                });
                let state = CustomerState {
                    has_name: c.customer.name.is_some(),
                    has_email: c.customer.email.is_some(),
                    cases_since: Some(DateTime::<Utc>::MIN_UTC),
                };
                working.customers.insert(id, state);
                id
            }
        };
        for key in &c.keys {
            if !working.owner.contains_key(key) {
                working.owner.insert(key.clone(), customer_id);
                write.identities.push(NewIdentity {
                    customer_id,
                    key: key.clone(),
                    source: format!("complaint:{}/{}", c.channel, c.source_id),
                    linked_at: now,
                });
            }
        }
        customer_id
    }
}

/// What one batch decided so far.
struct BatchDecisions<'a> {
    write: BatchWrite<'a>,
    /// (customer, case) of every complaint placed, to write each touched case once.
    touched: Vec<(CustomerId, CaseId)>,
    opened: HashSet<CaseId>,
}

fn new_case(customer_id: CustomerId, classification: &Classification, c: &Complaint, now: DateTime<Utc>) -> CaseRecord {
    CaseRecord {
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
    }
}

/// Remembers a name or email the customer had none of.
fn fill_missing_details(
    working: &mut WorkingSet,
    id: CustomerId,
    details: &CustomerDetails,
    write: &mut BatchWrite<'_>,
) {
    let Some(state) = working.customers.get_mut(&id) else { return };
    let name = details.name.clone().filter(|_| !state.has_name);
    let email = details.email.clone().filter(|_| !state.has_email);
    if name.is_some() || email.is_some() {
        state.has_name |= name.is_some();
        state.has_email |= email.is_some();
        write.customer_details.push((id, CustomerDetails { name, email }));
    }
}
