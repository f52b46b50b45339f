//! Recording a batch of deliveries: deduplicate, resolve identity, classify, group, write.
//!
//! A batch is three steps: [`WorkingSet::load`] fetches what the decisions need (a handful of
//! set-based lookups whatever the batch size), [`Intake::decide`] makes every decision in memory
//! and in delivery order — so a complaint sees the customers and cases created by earlier
//! complaints of the same batch — and the resulting [`BatchWrite`] is written in one go.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use mend_core::{
    CaseId, CaseStatus, Complaint, ComplaintId, CustomerDetails, CustomerId, CustomerKey, Delivery, MergeId,
    QuarantineId,
};
use mend_store::intake::{BatchWrite, CustomerMergeWrite};
use mend_store::{CaseRecord, DatabaseTransaction, NewComplaint, NewCustomer, NewIdentity, NewQuarantine, Store};
use serde::Serialize;
use tracing::{debug, info, warn};

use crate::CasesError;
use crate::classify::{Classification, Classifier, OTHER};
use crate::features::{CASE_TERMS, Featurizer};
use crate::grouping::{self, CategoryMatch, ComplaintFacts, GroupingPolicy, Match, fit};
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

/// The intake service: configuration shared by every batch.
#[derive(Debug, Clone)]
pub struct Intake {
    classifier: Classifier,
    featurizer: Featurizer,
    policy: GroupingPolicy,
    /// Time zone given to new customers (contact hours are evaluated in it).
    default_timezone: String,
}

impl Intake {
    /// `noise_phrases`: channel boilerplate and venting that say nothing about which problem a
    /// complaint is about (see [`Featurizer`]).
    pub fn new(
        classifier: Classifier,
        policy: GroupingPolicy,
        noise_phrases: &[String],
        default_timezone: impl Into<String>,
    ) -> Self {
        let featurizer = Featurizer::new(noise_phrases, &classifier.phrases());
        Self { classifier, featurizer, policy, default_timezone: default_timezone.into() }
    }

    pub fn featurizer(&self) -> &Featurizer {
        &self.featurizer
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
        let mut batch = BatchDecisions::default();
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
                        case_id: working.case(r.case_id),
                        customer_id: working.customer(r.customer_id),
                    },
                    None => self.place(c, working, &mut batch, now),
                },
            };
            outcomes.push(outcome);
        }
        batch.finish(outcomes, working)
    }

    /// Decides customer, category and case for one new complaint.
    fn place<'a>(
        &self,
        c: &'a Complaint,
        working: &mut WorkingSet,
        batch: &mut BatchDecisions<'a>,
        now: DateTime<Utc>,
    ) -> Outcome {
        let source = format!("complaint:{}/{}", c.channel, c.source_id);
        let customer_id = self.resolve_customer(&c.keys, &c.customer, &source, working, batch, now);
        let classification = self.classifier.classify(c.category.as_deref(), &c.text);
        let terms = self.featurizer.signature(&c.text);
        let facts = ComplaintFacts {
            category: &classification.category,
            also: &classification.also,
            signature: &terms,
            received_at: c.received_at,
        };

        let best = working
            .cases_of(customer_id)
            .into_iter()
            .filter_map(|id| {
                let case = &working.cases[&id];
                fit(&case.record, &case.terms, &facts, &self.policy).map(|m| (id, m))
            })
            .max_by(|(a_id, a), (b_id, b)| {
                let recency = |id: &CaseId| working.cases[id].record.last_complaint_at;
                a.score.total_cmp(&b.score).then(recency(a_id).cmp(&recency(b_id))).then(a_id.cmp(b_id))
            });
        let (case_id, reason) = match best {
            Some((case_id, m)) => {
                let case = working.cases.get_mut(&case_id).expect("a candidate is in the working set");
                let shared = terms.shared_terms(&case.terms, 5);
                let hours = (c.received_at - case.record.last_complaint_at).num_minutes() as f64 / 60.0;
                let k = &mut case.record;
                if m.reopens {
                    k.status = CaseStatus::Open;
                    k.repeat_failure = true;
                    k.closed_at = None;
                    k.reopened_at = Some(now);
                }
                k.complaint_count += 1;
                k.first_complaint_at = k.first_complaint_at.min(c.received_at);
                k.last_complaint_at = k.last_complaint_at.max(c.received_at);
                k.escalation_risk |= c.formal_complaint;
                k.updated_at = now;
                let category = &classification.category;
                if m.category != CategoryMatch::Same && category != OTHER && !k.extra_categories.contains(category) {
                    k.extra_categories.push(category.clone());
                }
                case.terms = case.terms.absorb(&terms, CASE_TERMS);
                let decision = if m.reopens { "reopened" } else { "joined" };
                (case_id, GroupingReason::new(decision, Some(&m), Some(hours), shared))
            }
            None => {
                let case = new_case(customer_id, &classification, c, now);
                let id = case.id;
                working.add_case(case);
                working.cases.get_mut(&id).expect("just added").terms = terms.clone();
                batch.opened.insert(id);
                (id, GroupingReason::new("opened", None, None, Vec::new()))
            }
        };
        batch.touched.insert(case_id);
        let case_created = reason.decision == "opened";
        debug!(%case_id, %customer_id, category = %classification.category, decision = reason.decision, "Complaint placed.");

        let reason = GroupingReasonJson {
            reason,
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
            customer_keys: c.keys.iter().map(|k| format!("{}:{}", k.kind, k.value)).collect::<Vec<_>>().join("\n"),
            customer_id,
            case_id,
            grouping_reason: serde_json::to_string(&reason).expect("a grouping reason serializes"),
            category: classification.category.clone(),
            category_source: classification.source,
            ingested_at: now,
        });
        Outcome::Accepted { complaint_id, case_id, customer_id, category: classification.category, case_created }
    }

    /// The customer that `keys` identify. Keys owned by different customers show they are one
    /// person: the others merge into the oldest. No known key makes a new customer. Keys not yet
    /// linked are linked to the customer.
    fn resolve_customer(
        &self,
        keys: &[CustomerKey],
        details: &CustomerDetails,
        source: &str,
        working: &mut WorkingSet,
        batch: &mut BatchDecisions<'_>,
        now: DateTime<Utc>,
    ) -> CustomerId {
        let mut owners: Vec<CustomerId> =
            keys.iter().filter_map(|k| working.owner.get(k).copied()).map(|id| working.customer(id)).collect();
        owners.sort_unstable();
        owners.dedup();
        let customer_id = match owners.first() {
            Some(&survivor) => {
                for &merged in &owners[1..] {
                    self.merge_customers(survivor, merged, source, working, batch, now);
                }
                fill_missing_details(working, survivor, details, &mut batch.write);
                survivor
            }
            None => {
                let id = CustomerId::new();
                batch.write.customers.push(NewCustomer {
                    id,
                    details: details.clone(),
                    timezone: self.default_timezone.clone(),
                    created_at: now,
                });
                let state = CustomerState {
                    has_name: details.name.is_some(),
                    has_email: details.email.is_some(),
                    cases_for: Some(DateTime::<Utc>::MIN_UTC),
                    all_open: true,
                };
                working.customers.insert(id, state);
                id
            }
        };
        for key in keys {
            if !working.owner.contains_key(key) {
                working.owner.insert(key.clone(), customer_id);
                batch.write.identities.push(NewIdentity {
                    customer_id,
                    key: key.clone(),
                    source: source.to_owned(),
                    linked_at: now,
                });
            }
        }
        customer_id
    }

    /// Folds `merged` into `survivor`: keys, cases and history move, open cases that are one
    /// problem become one case, and the merge is recorded (to be undone if it was wrong).
    fn merge_customers(
        &self,
        survivor: CustomerId,
        merged: CustomerId,
        source: &str,
        working: &mut WorkingSet,
        batch: &mut BatchDecisions<'_>,
        now: DateTime<Utc>,
    ) {
        let merge_id = MergeId::new();
        info!(%survivor, %merged, %merge_id, source, "Two customers are one person; merging.");
        working.merged_customers.insert(merged, survivor);
        for owner in working.owner.values_mut() {
            if *owner == merged {
                *owner = survivor;
            }
        }
        let absorbed = working.customers.remove(&merged);
        if let (Some(a), Some(b)) = (working.customers.get_mut(&survivor), absorbed) {
            a.has_name |= b.has_name;
            a.has_email |= b.has_email;
            // Complete only as far back as both were.
            a.cases_for = match (a.cases_for, b.cases_for) {
                (Some(x), Some(y)) => Some(x.max(y)),
                _ => None,
            };
            a.all_open &= b.all_open;
        }
        let moved = working.by_customer.remove(&merged).unwrap_or_default();
        let kept = working.cases_of(survivor);
        for id in &moved {
            let case = working.cases.get_mut(id).expect("indexed cases exist");
            case.record.customer_id = survivor;
            batch.touched.insert(*id);
        }
        working.by_customer.entry(survivor).or_default().extend(moved.iter().copied());

        for from in moved {
            let into = kept.iter().copied().find(|k| {
                let (a, b) = (&working.cases[k], &working.cases[&from]);
                grouping::same_problem(&a.record, &a.terms, &b.record, &b.terms, &self.policy)
            });
            if let Some(into) = into {
                let (older, newer) = if into < from { (into, from) } else { (from, into) };
                merge_cases(working, older, newer, Some(merge_id), now);
                batch.write.case_merges.push((newer, older));
                batch.touched.insert(older);
                batch.touched.insert(newer);
            }
        }
        batch.write.customer_merges.push(CustomerMergeWrite {
            id: merge_id,
            survivor,
            merged,
            source: source.to_owned(),
            actor: "intake".into(),
            at: now,
        });
    }
}

/// Folds case `newer` into case `older`: counts, span, terms and categories add up; `newer`
/// is left as a pointer.
pub(crate) fn merge_cases(
    working: &mut WorkingSet,
    older: CaseId,
    newer: CaseId,
    by: Option<MergeId>,
    now: DateTime<Utc>,
) {
    let from = working.cases[&newer].clone();
    let into = working.cases.get_mut(&older).expect("merged cases are in the working set");
    let k = &mut into.record;
    k.complaint_count += from.record.complaint_count;
    k.first_complaint_at = k.first_complaint_at.min(from.record.first_complaint_at);
    k.last_complaint_at = k.last_complaint_at.max(from.record.last_complaint_at);
    k.escalation_risk |= from.record.escalation_risk;
    k.repeat_failure |= from.record.repeat_failure;
    k.updated_at = now;
    for category in std::iter::once(&from.record.category).chain(&from.record.extra_categories) {
        if *category != k.category && !k.extra_categories.contains(category) {
            k.extra_categories.push(category.clone());
        }
    }
    into.terms = into.terms.absorb(&from.terms, CASE_TERMS);
    let gone = &mut working.cases.get_mut(&newer).expect("merged cases are in the working set").record;
    gone.status = CaseStatus::Merged;
    gone.merged_into = Some(older);
    gone.merged_by = by;
    gone.complaint_count = 0;
    gone.updated_at = now;
    working.merged_cases.insert(newer, older);
}

/// What one batch decided so far.
#[derive(Default)]
struct BatchDecisions<'a> {
    write: BatchWrite<'a>,
    /// Every case a complaint went into, or a merge changed, to write each once.
    touched: HashSet<CaseId>,
    opened: HashSet<CaseId>,
}

impl<'a> BatchDecisions<'a> {
    /// Applies merges made after some complaints were placed (their customer or case moved on)
    /// and collects the cases to write.
    fn finish(mut self, outcomes: Vec<Outcome>, working: &WorkingSet) -> Decision<'a> {
        for complaint in &mut self.write.complaints {
            complaint.customer_id = working.customer(complaint.customer_id);
            complaint.case_id = working.case(complaint.case_id);
        }
        for identity in &mut self.write.identities {
            identity.customer_id = working.customer(identity.customer_id);
        }
        for (customer, _) in &mut self.write.customer_details {
            *customer = working.customer(*customer);
        }
        let outcomes = outcomes
            .into_iter()
            .map(|o| match o {
                Outcome::Accepted { complaint_id, case_id, customer_id, category, case_created } => Outcome::Accepted {
                    complaint_id,
                    case_id: working.case(case_id),
                    customer_id: working.customer(customer_id),
                    category,
                    case_created,
                },
                Outcome::Duplicate { complaint_id, case_id, customer_id } => Outcome::Duplicate {
                    complaint_id,
                    case_id: working.case(case_id),
                    customer_id: working.customer(customer_id),
                },
                quarantined => quarantined,
            })
            .collect();
        let mut touched: Vec<CaseId> = self.touched.into_iter().collect();
        // Writers touch rows in one global order, so they can wait for each other but never in a cycle.
        touched.sort_unstable();
        let existing_cases_touched = touched.iter().copied().filter(|id| !self.opened.contains(id)).collect();
        self.write.cases = touched
            .iter()
            .filter_map(|id| working.cases.get(id))
            .map(|case| CaseRecord { signature: case.terms.encode(), ..case.record.clone() })
            .collect();
        Decision { write: self.write, report: IntakeReport { outcomes, existing_cases_touched } }
    }
}

/// Why a complaint is in its case, as the case view shows it.
#[derive(Debug, Serialize)]
struct GroupingReason {
    decision: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    score: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    similarity: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    category_match: Option<CategoryMatch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hours_since_latest: Option<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    shared_terms: Vec<String>,
}

impl GroupingReason {
    fn new(decision: &'static str, m: Option<&Match>, hours: Option<f64>, shared_terms: Vec<String>) -> Self {
        let round = |x: f32| (x * 1000.0).round() / 1000.0;
        Self {
            decision,
            score: m.map(|m| round(m.score)),
            similarity: m.map(|m| round(m.similarity)),
            category_match: m.map(|m| m.category),
            hours_since_latest: hours,
            shared_terms,
        }
    }
}

#[derive(Debug, Serialize)]
struct GroupingReasonJson<'a> {
    #[serde(flatten)]
    reason: GroupingReason,
    window_days: i64,
    category: &'a str,
    category_source: &'static str,
    matched_terms: &'a [String],
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
        signature: String::new(),
        extra_categories: classification.also.clone(),
        merged_into: None,
        merged_by: None,
        split_from: None,
        reopened_at: None,
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
