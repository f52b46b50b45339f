//! Corrections by people, and bindings by systems: merging and splitting cases, closing them,
//! linking identity keys, undoing a customer merge. Each is one transaction that locks the
//! customer first (on PostgreSQL), so it never interleaves with intake deciding for the same
//! customer, and each leaves an audit event; a complaint one moves says so in its grouping
//! reason (who, when, from which case). Later automatic grouping respects them: a merged
//! case keeps the categories of what was merged into it, a split case takes its category with
//! it, an undone merge gives each complaint back to the customer its own keys point to.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use mend_core::{
    Case, CaseId, CaseStatus, ComplaintId, CustomerDetails, CustomerId, CustomerKey, Fingerprint, MergeId,
    StoredComplaint,
};
use mend_store::batch::{BatchWrite, CaseMergeWrite};
use mend_store::customer_merges::MergeRecord;
use mend_store::{AuditEntry, DatabaseTransaction, Store};
use mend_store::{audit, cases, complaints, customer_merges, customers};
use serde::Serialize;
use serde_json::json;

use crate::features::Signature;
use crate::intake::{BatchDecisions, also_about, merge_cases};
use crate::working_set::WorkingSet;
use crate::{CasesError, Intake};
use mend_store::retry::retry_on_conflict;

/// What linking keys did.
#[derive(Debug, Clone, Serialize)]
pub struct LinkReport {
    pub customer_id: CustomerId,
    /// The customer is new: no key was known.
    pub created: bool,
    /// Customers merged into `customer_id` because the keys showed they are one person.
    pub merged: Vec<CustomerId>,
    /// Keys linked now (the others were the customer's already).
    pub linked: Vec<CustomerKey>,
}

/// A case moving between open and closed: to which, as which audited action, why and by whom.
struct StatusChange<'a> {
    to: CaseStatus,
    action: &'static str,
    reason: &'a str,
    actor: &'a str,
}

/// Which links a caller may make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkScope {
    /// Any: an integration's or a supervisor's word that keys are one person, merges included.
    Any,
    /// Keys nobody holds yet, added to one of these customers (an agent's, those whose calls
    /// they hold): never a new customer, never a merge, which would show one customer's
    /// numbers on another's call.
    AddingTo(Vec<CustomerId>),
}

impl LinkScope {
    fn allows(&self, link: &LinkReport) -> Result<(), CasesError> {
        match self {
            LinkScope::Any => Ok(()),
            LinkScope::AddingTo(customers)
                if customers.contains(&link.customer_id) && !link.created && link.merged.is_empty() =>
            {
                Ok(())
            }
            LinkScope::AddingTo(_) => Err(CasesError::Forbidden(
                "专员只能给自己正在处理的客户添加新的号码或账号,合并客户由主管决定 \
                 (an agent adds keys only to the customer of a call they hold; merging customers is a supervisor's)"
                    .into(),
            )),
        }
    }
}

/// What undoing a merge did.
#[derive(Debug, Clone, Serialize)]
pub struct UnmergeReport {
    pub merge_id: MergeId,
    pub survivor_id: CustomerId,
    pub restored_id: CustomerId,
    /// Complaints whose own keys point at the restored customer, moved back to it.
    pub complaints_moved: usize,
    /// Cases that went back whole, and cases re-created for complaints taken out of shared ones.
    pub cases_moved: usize,
    pub cases_restored: usize,
}

impl Intake {
    /// Folds case `from` into case `into` (one problem that grouping kept apart). Later
    /// complaints in `from`'s category join `into`.
    pub async fn merge_cases(
        &self,
        store: &Store,
        into: CaseId,
        from: CaseId,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Case, CasesError> {
        if into == from {
            return Err(CasesError::Refused("a case cannot be merged into itself".into()));
        }
        let tx = store.begin_write().await?;
        let target = locked_case(&tx, into).await?;
        let source = case(&tx, from).await?;
        one_customers_cases_in_work(&target, &source)?;
        let mut working = WorkingSet::default();
        let reopen = source.status == CaseStatus::Open && target.status == CaseStatus::Closed;
        working.add_case(target);
        working.add_case(source);
        merge_cases(&mut working, into, from, None, now);
        let merged = &mut working.cases.get_mut(&into).expect("added above").record;
        if reopen {
            merged.status = CaseStatus::Open;
            merged.closed_at = None;
        }
        let write = BatchWrite {
            case_merges: vec![case_merge(from, into, actor, now)],
            cases: [into, from].iter().map(|id| stored(&working, *id)).collect(),
            ..BatchWrite::default()
        };
        store.write_batch(&tx, write.encode(store.backend(), now)?).await?;
        audit(&tx, actor, "case.merged", into, json!({"merged": from}), now).await?;
        mend_store::commit(tx).await?;
        Ok(stored(&working, into))
    }

    /// Takes `complaints` out of `case` into a new case (two problems that grouping put
    /// together), in `category` or the category most of them have.
    pub async fn split_case(
        &self,
        store: &Store,
        case_id: CaseId,
        complaints: &[ComplaintId],
        category: Option<&str>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Case, CasesError> {
        let tx = store.begin_write().await?;
        let mut original = locked_case(&tx, case_id).await?;
        if original.status == CaseStatus::Merged {
            return Err(CasesError::Refused(format!("case {case_id} was merged into another; split that one")));
        }
        let (moving, staying) = take_out(&tx, case_id, complaints, "a split").await?;
        let category = match category {
            Some(given) => self
                .classifier()
                .resolve_given(given)
                .ok_or_else(|| CasesError::Invalid(format!("`{given}` is not a category of the taxonomy")))?
                .to_owned(),
            None => most_common(moving.iter().map(|c| c.category.as_str())),
        };
        let mut split = Case {
            id: CaseId::new(),
            category: category.clone(),
            status: CaseStatus::Open,
            opened_at: now,
            closed_at: None,
            reopened_at: None,
            repeat_failure: false,
            extra_categories: Vec::new(),
            merged_into: None,
            merged_by: None,
            split_from: Some(case_id),
            label: moving.iter().find_map(|c| c.label.clone()),
            ..original.clone()
        };
        for c in &moving {
            relocate(&tx, c, (split.id, split.customer_id), "split", actor, now).await?;
        }
        // The agent said these are two problems: the original no longer stands for this one.
        original.extra_categories.retain(|c| *c != category);
        self.recount(&mut original, &staying, now);
        self.recount(&mut split, &moving, now);
        let write = BatchWrite { cases: vec![original, split.clone()], ..BatchWrite::default() };
        store.write_batch(&tx, write.encode(store.backend(), now)?).await?;
        let moved: Vec<ComplaintId> = moving.iter().map(|c| c.complaint_id).collect();
        audit(
            &tx,
            actor,
            "case.split",
            case_id,
            json!({"into": split.id, "complaints": moved, "category": category}),
            now,
        )
        .await?;
        mend_store::commit(tx).await?;
        Ok(split)
    }

    /// Moves `complaints` out of case `from` into the customer's open case `into`: grouping put
    /// them with the wrong one of two problems (`grouping_reason.also_fits` names the other).
    /// Returns `into` as it now stands.
    pub async fn move_complaints(
        &self,
        store: &Store,
        from: CaseId,
        complaints: &[ComplaintId],
        into: CaseId,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Case, CasesError> {
        if into == from {
            return Err(CasesError::Refused("the complaints are in that case already".into()));
        }
        let tx = store.begin_write().await?;
        let mut original = locked_case(&tx, from).await?;
        let mut target = case(&tx, into).await?;
        one_customers_cases_in_work(&original, &target)?;
        if target.status != CaseStatus::Open {
            return Err(CasesError::Refused(format!("case {into} is closed; split the complaints off instead")));
        }
        let (moving, staying) = take_out(&tx, from, complaints, "a move (merge the cases instead)").await?;
        for c in &moving {
            relocate(&tx, c, (into, target.customer_id), "moved", actor, now).await?;
        }
        // What the moved complaints were about goes with them.
        original.extra_categories.retain(|k| staying.iter().any(|c| c.category == *k));
        for c in &moving {
            also_about(&mut target, &c.category);
        }
        let held = complaints::complaints_of_cases(&tx, &[into]).await?;
        self.recount(&mut original, &staying, now);
        self.recount(&mut target, &held, now);
        let write = BatchWrite { cases: vec![original, target.clone()], ..BatchWrite::default() };
        store.write_batch(&tx, write.encode(store.backend(), now)?).await?;
        let moved: Vec<ComplaintId> = moving.iter().map(|c| c.complaint_id).collect();
        audit(&tx, actor, "case.complaints_moved", from, json!({"into": into, "complaints": moved}), now).await?;
        mend_store::commit(tx).await?;
        Ok(target)
    }

    /// Closes a case: the problem is repaired. The same problem again within the reopen window
    /// reopens it as a repeat failure.
    pub async fn close_case(
        &self,
        store: &Store,
        case_id: CaseId,
        reason: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Case, CasesError> {
        let change = StatusChange { to: CaseStatus::Closed, action: "case.closed", reason, actor };
        self.change_status(store, case_id, change, now).await
    }

    /// Reopens a closed case whose repair did not hold, as the same problem coming back would:
    /// a repeat failure, back in work (a survey of the closing is withdrawn unsent). A case open
    /// already is left as it is; a merged one is refused.
    pub async fn reopen_case(
        &self,
        store: &Store,
        case_id: CaseId,
        reason: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Case, CasesError> {
        let change = StatusChange { to: CaseStatus::Open, action: "case.reopened", reason, actor };
        self.change_status(store, case_id, change, now).await
    }

    /// Moves a case between open and closed, audited with the reason. Closing a closed case is
    /// refused (someone else closed it); reopening an open one leaves it as it is.
    async fn change_status(
        &self,
        store: &Store,
        case_id: CaseId,
        change: StatusChange<'_>,
        now: DateTime<Utc>,
    ) -> Result<Case, CasesError> {
        let tx = store.begin_write().await?;
        let mut case = locked_case(&tx, case_id).await?;
        match (case.status, change.to) {
            (CaseStatus::Merged, _) => {
                return Err(CasesError::Refused(format!("case {case_id} was merged into another")));
            }
            (CaseStatus::Closed, CaseStatus::Closed) => {
                return Err(CasesError::Refused(format!("case {case_id} is closed already")));
            }
            (CaseStatus::Open, CaseStatus::Open) => return Ok(case),
            (_, CaseStatus::Closed) => case.closed_at = Some(now),
            (_, _) => {
                case.closed_at = None;
                case.reopened_at = Some(now);
                case.repeat_failure = true;
            }
        }
        case.status = change.to;
        case.updated_at = now;
        let write = BatchWrite { cases: vec![case.clone()], ..BatchWrite::default() };
        store.write_batch(&tx, write.encode(store.backend(), now)?).await?;
        // A person's words are read by everyone who opens the case: a number in them is masked.
        let reason = mend_core::mask_phones_in(change.reason);
        audit(&tx, change.actor, change.action, case_id, json!({"reason": reason}), now).await?;
        mend_store::commit(tx).await?;
        Ok(case)
    }

    /// Records that `keys` belong to one person (a CRM binding, a WeChat account bound to a
    /// phone): unknown keys are linked, customers owning different keys are merged, within
    /// `scope` (else nothing is written).
    pub async fn link_identities(
        &self,
        store: &Store,
        keys: &[CustomerKey],
        source: &str,
        scope: &LinkScope,
        now: DateTime<Utc>,
    ) -> Result<LinkReport, CasesError> {
        retry_on_conflict(|| self.link_identities_once(store, keys, source, scope, now)).await
    }

    async fn link_identities_once(
        &self,
        store: &Store,
        keys: &[CustomerKey],
        source: &str,
        scope: &LinkScope,
        now: DateTime<Utc>,
    ) -> Result<LinkReport, CasesError> {
        if keys.is_empty() {
            return Err(CasesError::Invalid("give at least one key".into()));
        }
        let tx = store.begin_write().await?;
        let mut working = WorkingSet::default();
        working.load_keys(&tx, &[keys], now, self.policy()).await?;
        let mut batch = BatchDecisions::default();
        let source = format!("link:{source}");
        let customer_id =
            self.resolve_customer(keys, &CustomerDetails::default(), &source, &mut working, &mut batch, now);
        let decision = batch.finish(Vec::new(), &working);
        let report = LinkReport {
            customer_id: working.customer(customer_id),
            created: !decision.write.customers.is_empty(),
            merged: decision.write.customer_merges.iter().map(|m| m.merged).collect(),
            linked: decision.write.identities.iter().map(|i| i.key.clone()).collect(),
        };
        scope.allows(&report)?;
        store.write_batch(&tx, decision.write.encode(store.backend(), now)?).await?;
        mend_store::commit(tx).await?;
        Ok(report)
    }

    /// Undoes a customer merge that was wrong. `customer` is the merged-away customer, or the
    /// survivor (then `merged` names which merge, else the latest). Keys go back to where they
    /// began; each complaint goes to the customer its own keys point to; a case whose complaints
    /// all go goes whole, a case shared by both gives the moving complaints back to the case the
    /// merge folded into it, or to a new case.
    pub async fn unmerge_customer(
        &self,
        store: &Store,
        customer: CustomerId,
        merged: Option<CustomerId>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<UnmergeReport, CasesError> {
        retry_on_conflict(|| self.unmerge_customer_once(store, customer, merged, actor, now)).await
    }

    async fn unmerge_customer_once(
        &self,
        store: &Store,
        customer: CustomerId,
        merged: Option<CustomerId>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<UnmergeReport, CasesError> {
        let tx = store.begin_write().await?;
        let mut merge = find_merge(&tx, customer, merged).await?;
        // Decide under the lock: a merge or unmerge that held it may have changed which merge
        // this is, so it is read again until the customers locked are the ones it names.
        loop {
            customers::lock_customers(&tx, &[merge.survivor_id, merge.merged_id]).await?;
            let again = find_merge(&tx, customer, merged).await?;
            let settled = (again.survivor_id, again.merged_id) == (merge.survivor_id, merge.merged_id);
            merge = again;
            if settled {
                break;
            }
        }
        let (survivor, restored) = (merge.survivor_id, merge.merged_id);
        match customers::customer(&tx, survivor).await? {
            Some((_, Some(into))) => {
                return Err(CasesError::Refused(format!(
                    "customer {survivor} was merged into {into} since; undo that merge first"
                )));
            }
            None => return Err(CasesError::NotFound(format!("customer {survivor}"))),
            Some((_, None)) => {}
        }

        let mut returning = vec![restored];
        let mut frontier = vec![restored];
        while let Some(next) = frontier.pop() {
            for m in customer_merges::merges_into(&tx, next).await? {
                returning.push(m.merged_id);
                frontier.push(m.merged_id);
            }
        }
        customer_merges::undo_merge(&tx, &merge, &returning, actor, now).await?;

        let cases = cases::customer_cases(&tx, survivor).await?;
        let case_ids: Vec<CaseId> = cases.iter().map(|c| c.id).collect();
        let complaints = complaints::complaints_of_cases(&tx, &case_ids).await?;
        let owners = complaint_owners(&tx, &complaints).await?;
        let goes_back = |c: &StoredComplaint| owners.get(&c.complaint_id) == Some(&restored);

        let mut by_case: HashMap<CaseId, Vec<StoredComplaint>> = HashMap::new();
        for c in complaints {
            by_case.entry(c.case_id).or_default().push(c);
        }
        let mut changed: Vec<Case> = Vec::new();
        let (mut complaints_moved, mut cases_moved, mut cases_restored) = (0, 0, 0);
        for case in cases.iter().filter(|c| c.status != CaseStatus::Merged) {
            let Some(its) = by_case.remove(&case.id) else { continue };
            let (moving, staying): (Vec<StoredComplaint>, Vec<StoredComplaint>) =
                its.into_iter().partition(|c| goes_back(c));
            if moving.is_empty() {
                continue;
            }
            complaints_moved += moving.len();
            let mut target = if staying.is_empty() {
                cases_moved += 1;
                Case { customer_id: restored, ..case.clone() }
            } else {
                cases_restored += 1;
                let folded =
                    cases.iter().find(|k| k.merged_by == Some(merge.merge_id) && k.merged_into == Some(case.id));
                let mut back = match folded {
                    Some(k) => k.clone(),
                    None => Case { id: CaseId::new(), split_from: Some(case.id), opened_at: now, ..case.clone() },
                };
                back.customer_id = restored;
                back.status = case.status;
                back.closed_at = case.closed_at;
                back.merged_into = None;
                back.merged_by = None;
                let mut kept = case.clone();
                self.recount(&mut kept, &staying, now);
                changed.push(kept);
                back
            };
            for c in &moving {
                relocate(&tx, c, (target.id, restored), "unmerged", actor, now).await?;
            }
            self.recount(&mut target, &moving, now);
            changed.push(target);
        }
        let case_owners = changed.iter().filter(|c| c.customer_id == restored).map(|c| (c.id, restored)).collect();
        let write = BatchWrite { cases: changed, case_owners, ..BatchWrite::default() };
        store.write_batch(&tx, write.encode(store.backend(), now)?).await?;
        let report = UnmergeReport {
            merge_id: merge.merge_id,
            survivor_id: survivor,
            restored_id: restored,
            complaints_moved,
            cases_moved,
            cases_restored,
        };
        let entry = AuditEntry {
            at: now,
            actor: actor.to_owned(),
            action: "customer.unmerged".into(),
            subject_kind: "customer".into(),
            subject_id: Some(survivor.as_uuid()),
            detail: serde_json::to_value(&report).expect("a report serializes"),
        };
        audit::record_audit(&tx, entry).await?;
        mend_store::commit(tx).await?;
        Ok(report)
    }

    /// Counts, span, escalation, terms and fingerprint of a case from the complaints it now holds.
    fn recount(&self, case: &mut Case, complaints: &[StoredComplaint], now: DateTime<Utc>) {
        case.complaint_count = complaints.len() as i32;
        if let (Some(first), Some(last)) =
            (complaints.iter().map(|c| c.received_at).min(), complaints.iter().map(|c| c.received_at).max())
        {
            case.first_complaint_at = first;
            case.last_complaint_at = last;
        }
        case.escalation_risk = complaints.iter().any(|c| self.escalates(c.formal_complaint, &c.text));
        // A case reopened after it was closed came back, whatever its complaints say; otherwise
        // the complaints it holds now tell it (a split takes the telling along).
        case.repeat_failure =
            case.reopened_at.is_some() || complaints.iter().any(|c| self.classifier().tells_of_repeat_failure(&c.text));
        let mut terms = Signature::default();
        let mut fingerprint = Fingerprint::default();
        for c in complaints {
            let (signature, trigrams) = self.featurizer().signature_and_trigrams(&c.text);
            if signature.is_detailed() {
                fingerprint = fingerprint.with(trigrams.iter().map(|t| t.hash));
            }
            terms = terms.with_complaint(&self.term_statistics().weigh(&signature));
        }
        case.terms = terms.to_case_terms();
        case.fingerprint = fingerprint;
        case.updated_at = now;
    }
}

async fn case(tx: &DatabaseTransaction, id: CaseId) -> Result<Case, CasesError> {
    cases::case_by_id(tx, id).await?.ok_or_else(|| CasesError::NotFound(format!("case {id}")))
}

/// The case, read again after its customer is locked (so intake cannot change it meanwhile).
async fn locked_case(tx: &DatabaseTransaction, id: CaseId) -> Result<Case, CasesError> {
    let first = case(tx, id).await?;
    customers::lock_customers(tx, &[first.customer_id]).await?;
    case(tx, id).await
}

async fn find_merge(
    tx: &DatabaseTransaction,
    customer: CustomerId,
    merged: Option<CustomerId>,
) -> Result<MergeRecord, CasesError> {
    if let Some(merge) = customer_merges::merge_of(tx, merged.unwrap_or(customer)).await?
        && (merged.is_none() || merge.survivor_id == customer)
    {
        return Ok(merge);
    }
    if merged.is_none()
        && let Some(latest) = customer_merges::merges_into(tx, customer).await?.into_iter().next()
    {
        return Ok(latest);
    }
    Err(CasesError::NotFound(format!("a merge of customer {customer} that is still in force")))
}

/// Whose each complaint is by its own keys: the owner of its first key that has one.
async fn complaint_owners(
    tx: &DatabaseTransaction,
    complaints: &[StoredComplaint],
) -> Result<HashMap<ComplaintId, CustomerId>, CasesError> {
    let parse = |line: &str| line.parse::<CustomerKey>().ok();
    let keys: Vec<CustomerKey> = complaints
        .iter()
        .flat_map(|c| c.customer_keys.iter().filter_map(|k| parse(k)))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let owner: HashMap<CustomerKey, CustomerId> = customers::key_owners(tx, &keys).await?.into_iter().collect();
    Ok(complaints
        .iter()
        .filter_map(|c| {
            let first = c.customer_keys.iter().filter_map(|k| parse(k)).find_map(|k| owner.get(&k).copied())?;
            Some((c.complaint_id, first))
        })
        .collect())
}

/// Refuses to regroup between `locked` (whose customer this transaction locked) and `other`
/// unless both are that customer's and neither was merged into another case.
fn one_customers_cases_in_work(locked: &Case, other: &Case) -> Result<(), CasesError> {
    if other.customer_id != locked.customer_id {
        return Err(CasesError::Refused(format!(
            "case {} is another customer's; link the customers' keys first (POST /api/v1/identities/link)",
            other.id
        )));
    }
    match [locked, other].into_iter().find(|c| c.status == CaseStatus::Merged) {
        Some(merged) => Err(CasesError::Refused(format!("case {} was merged into another already", merged.id))),
        None => Ok(()),
    }
}

/// Why a complaint is in the case a correction put it in: what was done, by whom and when, the
/// case it came from, and the reason it had there — kept, so what grouping thought can still be
/// read beside what a person decided (a close choice's `also_fits` is answered, not shown again).
#[derive(Debug, Serialize)]
struct Relocation<'a> {
    decision: &'static str,
    by: &'a str,
    at: DateTime<Utc>,
    from_case: CaseId,
    /// Absent where the store adds it, row by row (a merged case's complaints).
    #[serde(skip_serializing_if = "Option::is_none")]
    previous: Option<&'a serde_json::Value>,
}

/// Who folded case `merged` into `into`, as a [`CaseMergeWrite`] whose reason its complaints
/// get (`decision: case_merged`, their reason before kept as `previous`).
pub(crate) fn case_merge(merged: CaseId, into: CaseId, by: &str, at: DateTime<Utc>) -> CaseMergeWrite {
    let reason = Relocation { decision: "case_merged", by, at, from_case: merged, previous: None };
    CaseMergeWrite { merged, into, reason: serde_json::to_string(&reason).expect("a reason serializes") }
}

/// `reason` (a JSON object) with `previous` (the reason it replaces) kept in it.
pub(crate) fn with_previous(reason: &str, previous: &str) -> String {
    let mut reason: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(reason).expect("a reason made here is a JSON object");
    let previous = serde_json::from_str(previous).expect("a reason made here is JSON");
    reason.insert("previous".into(), previous);
    serde_json::Value::Object(reason).to_string()
}

/// Puts `complaint` in case `into` of customer `owner`, its grouping reason saying why.
async fn relocate(
    tx: &DatabaseTransaction,
    complaint: &StoredComplaint,
    (into, owner): (CaseId, CustomerId),
    decision: &'static str,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(), CasesError> {
    let reason = Relocation {
        decision,
        by: actor,
        at: now,
        from_case: complaint.case_id,
        previous: Some(&complaint.grouping_reason),
    };
    let reason = serde_json::to_string(&reason).expect("a reason serializes");
    complaints::move_complaint(tx, complaint.complaint_id, into, owner, &reason).await?;
    Ok(())
}

/// Case `case_id`'s complaints split into those named in `complaints` and the rest, for `what`
/// (a split, a move) to take out: every one named must be in the case, and one must stay.
async fn take_out(
    tx: &DatabaseTransaction,
    case_id: CaseId,
    complaints: &[ComplaintId],
    what: &str,
) -> Result<(Vec<StoredComplaint>, Vec<StoredComplaint>), CasesError> {
    let all = complaints::complaints_of_cases(tx, &[case_id]).await?;
    let wanted: HashSet<ComplaintId> = complaints.iter().copied().collect();
    if wanted.is_empty() {
        return Err(CasesError::Invalid("name the complaints to take out of the case".into()));
    }
    if let Some(stranger) = wanted.iter().find(|id| !all.iter().any(|c| c.complaint_id == **id)) {
        return Err(CasesError::Invalid(format!("complaint {stranger} is not in case {case_id}")));
    }
    let (moving, staying): (Vec<StoredComplaint>, Vec<StoredComplaint>) =
        all.into_iter().partition(|c| wanted.contains(&c.complaint_id));
    if staying.is_empty() {
        return Err(CasesError::Invalid(format!("{what} must leave at least one complaint in the case")));
    }
    Ok((moving, staying))
}

/// The most frequent category (ties: the first seen).
fn most_common<'a>(categories: impl Iterator<Item = &'a str>) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for c in categories {
        match counts.iter_mut().find(|(k, _)| *k == c) {
            Some((_, n)) => *n += 1,
            None => counts.push((c, 1)),
        }
    }
    let best = counts.iter().fold(None, |best: Option<(&str, usize)>, &(c, n)| match best {
        Some((_, m)) if m >= n => best,
        _ => Some((c, n)),
    });
    best.map_or(crate::classify::OTHER, |(c, _)| c).to_owned()
}

/// A case as the working set now has it, with its terms encoded for storage.
fn stored(working: &WorkingSet, id: CaseId) -> Case {
    let case = &working.cases[&id];
    Case { terms: case.terms.to_case_terms(), ..case.record.clone() }
}

async fn audit(
    tx: &DatabaseTransaction,
    actor: &str,
    action: &str,
    case: CaseId,
    detail: serde_json::Value,
    at: DateTime<Utc>,
) -> Result<(), CasesError> {
    let entry = AuditEntry {
        at,
        actor: actor.to_owned(),
        action: action.to_owned(),
        subject_kind: "case".into(),
        subject_id: Some(case.as_uuid()),
        detail,
    };
    audit::record_audit(tx, entry).await?;
    Ok(())
}
