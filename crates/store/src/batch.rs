//! The single write behind recording a batch of deliveries: every row a batch decided, in
//! every table it touches, encoded into a handful of set-based statements.
//!
//! Every function takes a connection or transaction, so the caller decides the unit of work:
//! intake runs lookups, decisions and the [`BatchWrite`] in one transaction.

use chrono::{DateTime, Utc};
use mend_core::{Case, CaseId, CaseStatus, CustomerDetails, CustomerId, MergeId};
use sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::audit::{AUDIT_EVENTS, audit_cells, details_of};
use crate::bulk;
use crate::cases::{CASES, CaseRow};
use crate::complaints::{COMPLAINTS, ComplaintRow};
use crate::customer_merges::{MERGES, merge_cells};
use crate::customers::{CUSTOMERS, CustomerRow, IDENTITIES, IdentityRow, fill_customer_details};
use crate::error::During;
use crate::{AuditEntry, Backend, NewComplaint, NewCustomer, NewIdentity, NewQuarantine, StoreError};

const TABLE: &str = "complaints";

/// Everything one batch decided, written in one go. Complaints are borrowed from the batch:
/// [`BatchWrite::encode`] copies what it needs into the statements.
#[derive(Debug, Default)]
pub struct BatchWrite<'a> {
    pub customers: Vec<NewCustomer>,
    pub identities: Vec<NewIdentity>,
    /// Details learned for existing customers that had none.
    pub customer_details: Vec<(CustomerId, CustomerDetails)>,
    /// Customers found to be one person, merged before anything else is written.
    pub customer_merges: Vec<CustomerMergeWrite>,
    /// Cases folded into another: their stored complaints move, with a reason that says so
    /// (the cases themselves are in `cases`, written whole).
    pub case_merges: Vec<CaseMergeWrite>,
    /// New and changed cases, written whole except for the customer of a stored case, which
    /// only a merge (`customer_merges`) or `case_owners` moves: rewriting it on every update
    /// would rewrite the case's entry in the customer index for every complaint that joins it.
    pub cases: Vec<Case>,
    /// Stored cases given to another customer outside a customer merge (undoing a merge gives
    /// them back).
    pub case_owners: Vec<(CaseId, CustomerId)>,
    pub complaints: Vec<NewComplaint<'a>>,
    pub quarantine: Vec<NewQuarantine>,
}

/// One case folded into another: its complaints move there.
#[derive(Debug, Clone)]
pub struct CaseMergeWrite {
    pub merged: CaseId,
    pub into: CaseId,
    /// The grouping reason the merged case's stored complaints get: a JSON object, to which
    /// each complaint's reason before is added as `previous`.
    pub reason: String,
}

/// One customer merged into another: their keys, cases and complaints move to the survivor.
#[derive(Debug, Clone)]
pub struct CustomerMergeWrite {
    pub id: MergeId,
    pub survivor: CustomerId,
    pub merged: CustomerId,
    /// What showed they are one person (`complaint:wechat/123`, `link:crm`).
    pub source: String,
    pub actor: String,
    pub at: DateTime<Utc>,
}

/// A batch's statements, ready to run: encoding is CPU work that can happen on another thread
/// while the database executes the previous batch.
#[derive(Debug)]
pub struct EncodedWrite {
    statements: Vec<Statement>,
    new_identity_keys: usize,
}

impl BatchWrite<'_> {
    /// The statements, in the order that keeps references whole: new customers, then merges
    /// (which move stored rows to survivors), then the batch's own rows.
    pub fn encode(&self, backend: Backend, now: DateTime<Utc>) -> Result<EncodedWrite, StoreError> {
        let backend = backend.db_backend();
        let mut statements = Vec::new();
        let customers: Vec<CustomerRow> = self.customers.iter().map(CustomerRow::from).collect();
        statements.extend(CUSTOMERS.insert(backend, customers.iter().map(CustomerRow::cells))?);
        statements.extend(self.merge_statements(backend, now)?);
        for (id, details) in &self.customer_details {
            statements.push(fill_customer_details(backend, *id, details, now));
        }
        let identities: Vec<IdentityRow> = self.identities.iter().map(IdentityRow::from).collect();
        statements.extend(IDENTITIES.insert(backend, identities.iter().map(IdentityRow::cells))?);
        let cases: Vec<CaseRow> = self.cases.iter().map(CaseRow::from).collect();
        statements.extend(CASES.insert(backend, cases.iter().map(CaseRow::cells))?);
        let ended: Vec<CaseId> = self.cases.iter().filter(|c| c.status != CaseStatus::Open).map(|c| c.id).collect();
        statements.extend(crate::tasks::cancel_open_tasks(backend, &ended, now)?);
        let owners: Vec<(uuid::Uuid, uuid::Uuid)> =
            self.case_owners.iter().map(|(case, customer)| (case.as_uuid(), customer.as_uuid())).collect();
        statements.extend(bulk::repoint(
            backend,
            "UPDATE cases SET customer_id = {new} FROM {pairs} WHERE cases.id = {old}",
            &owners,
            now,
        )?);
        let complaints: Vec<ComplaintRow> = self.complaints.iter().map(ComplaintRow::from).collect();
        statements.extend(COMPLAINTS.insert(backend, complaints.iter().map(ComplaintRow::cells))?);
        statements.extend(crate::quarantine::insert(backend, &self.quarantine)?);
        Ok(EncodedWrite { statements, new_identity_keys: self.identities.len() })
    }
}

impl BatchWrite<'_> {
    /// Customer and case merges as a handful of set-based statements, however many there are.
    /// Rows go straight to the last survivor of a chain merged within the batch (a into b, then
    /// b into c), while `merged_into` keeps each step, so merges can be undone one at a time.
    /// Complaints keep the customer they arrived under: a customer's complaints are found
    /// through its cases, which do move.
    fn merge_statements(&self, backend: DbBackend, now: DateTime<Utc>) -> Result<Vec<Statement>, StoreError> {
        let steps: Vec<(uuid::Uuid, uuid::Uuid)> =
            self.customer_merges.iter().map(|m| (m.merged.as_uuid(), m.survivor.as_uuid())).collect();
        let customers = chain_ends(&steps);
        let case_steps: Vec<(uuid::Uuid, uuid::Uuid)> =
            self.case_merges.iter().map(|m| (m.merged.as_uuid(), m.into.as_uuid())).collect();
        let reasons: std::collections::HashMap<uuid::Uuid, &str> =
            self.case_merges.iter().map(|m| (m.merged.as_uuid(), m.reason.as_str())).collect();
        let complaint_moves: Vec<(uuid::Uuid, uuid::Uuid, &str)> =
            chain_ends(&case_steps).into_iter().map(|(from, into)| (from, into, reasons[&from])).collect();
        let audits: Vec<AuditEntry> = self
            .customer_merges
            .iter()
            .map(|m| AuditEntry {
                at: m.at,
                actor: m.actor.clone(),
                action: "customer.merged".into(),
                subject_kind: "customer".into(),
                subject_id: Some(m.survivor.as_uuid()),
                detail: serde_json::json!({"merge_id": m.id, "merged": m.merged, "source": m.source}),
            })
            .collect();
        let details = details_of(&audits);
        let statements = [
            bulk::repoint(
                backend,
                "UPDATE cases SET customer_id = {new} FROM {pairs} WHERE cases.customer_id = {old}",
                &customers,
                now,
            )?,
            bulk::repoint(
                backend,
                "UPDATE customer_identities SET customer_id = {new} FROM {pairs} \
                 WHERE customer_identities.customer_id = {old}",
                &customers,
                now,
            )?,
            bulk::repoint(
                backend,
                "UPDATE customers SET merged_into = {new}, updated_at = {time} FROM {pairs} WHERE customers.id = {old}",
                &steps,
                now,
            )?,
            // A person who asked not to be called, under any of their keys, is not called; one
            // the operator gave a tier under a key keeps it.
            bulk::repoint(
                backend,
                "UPDATE customers SET do_not_disturb = TRUE, updated_at = {time} FROM {pairs} \
                 WHERE customers.id = {new} AND NOT customers.do_not_disturb \
                 AND EXISTS (SELECT 1 FROM customers m WHERE m.id = {old} AND m.do_not_disturb)",
                &customers,
                now,
            )?,
            bulk::repoint(
                backend,
                &format!(
                    "UPDATE customers SET tier = (SELECT m.tier FROM customers m WHERE m.id = {{old}}), \
                     updated_at = {{time}} FROM {{pairs}} WHERE customers.id = {{new}} AND customers.tier = '{standard}' \
                     AND EXISTS (SELECT 1 FROM customers m WHERE m.id = {{old}} AND m.tier <> '{standard}')",
                    standard = mend_core::STANDARD_TIER
                ),
                &customers,
                now,
            )?,
            crate::complaints::follow_merged_cases(backend, &complaint_moves)?,
            MERGES.insert(backend, self.customer_merges.iter().map(merge_cells))?,
            AUDIT_EVENTS.insert(backend, audit_cells(&audits, &details))?,
        ];
        Ok(statements.into_iter().flatten().collect())
    }
}

/// Each step's start paired with where its chain ends: `[(a, b), (b, c)]` gives `[(a, c), (b, c)]`.
fn chain_ends(steps: &[(uuid::Uuid, uuid::Uuid)]) -> Vec<(uuid::Uuid, uuid::Uuid)> {
    let next: std::collections::HashMap<uuid::Uuid, uuid::Uuid> = steps.iter().copied().collect();
    let mut ends: Vec<(uuid::Uuid, uuid::Uuid)> = next
        .keys()
        .map(|&start| {
            let mut end = next[&start];
            // Bounded, so a cycle (which merging never makes) could not hang a write.
            for _ in 0..next.len() {
                match next.get(&end) {
                    Some(&further) => end = further,
                    None => break,
                }
            }
            (start, end)
        })
        .collect();
    ends.sort_unstable();
    ends
}

impl EncodedWrite {
    /// How many identity keys the write links for the first time.
    pub(crate) fn new_identity_keys(&self) -> usize {
        self.new_identity_keys
    }

    pub(crate) async fn execute<C: ConnectionTrait>(self, conn: &C) -> Result<(), StoreError> {
        for statement in self.statements {
            conn.execute_raw(statement).await.during(TABLE, "execute")?;
        }
        Ok(())
    }
}
