//! Finding a customer from what an agent has at hand: the number a caller gives, an id another
//! system knows them by, or a case number from a note.

use chrono::{DateTime, Utc};
use mend_core::{CaseId, CustomerId, CustomerKey, IdentityKind};
use mend_store::{AuditEntry, Store, audit, cases, customers};

use crate::CasesError;

/// The customers, as they are now (merges followed), that `typed` names: a phone number in any
/// shape channels write, an opaque key of any kind (WeChat openid or unionid, member id, chatbot
/// account), or a case or customer id. Empty when nothing matches; the order is the order found.
///
/// A lookup opens personal data to whoever typed a number, so each one is in the audit log
/// (`customer.lookup`, by `actor`, the query masked), one entry per customer found — a
/// supervisor asks the log who looked a customer up — or one naming nobody.
pub async fn find_customers(
    store: &Store,
    typed: &str,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Vec<CustomerId>, CasesError> {
    let found = customers_named(store, typed).await?;
    let query = mend_core::mask_phones_in(typed.trim()).into_owned();
    let entry = |customer: Option<CustomerId>| AuditEntry {
        at: now,
        actor: actor.to_owned(),
        action: "customer.lookup".into(),
        subject_kind: "customer".into(),
        subject_id: customer.map(|c| c.as_uuid()),
        detail: serde_json::json!({ "query": query, "found": found.len() }),
    };
    let entries: Vec<AuditEntry> = match found.as_slice() {
        [] => vec![entry(None)],
        found => found.iter().map(|&c| entry(Some(c))).collect(),
    };
    audit::record_audits(store.connection(), &entries).await?;
    Ok(found)
}

async fn customers_named(store: &Store, typed: &str) -> Result<Vec<CustomerId>, CasesError> {
    let typed = typed.trim();
    if typed.is_empty() {
        return Err(CasesError::Invalid("type a phone number, a customer key or a case id".into()));
    }
    let conn = store.connection();
    let mut named: Vec<CustomerId> = Vec::new();
    if let Ok(case) = typed.parse::<CaseId>()
        && let Some(case) = cases::case_by_id(conn, case).await?
    {
        named.push(case.customer_id);
    }
    if let Ok(customer) = typed.parse::<CustomerId>() {
        named.push(customer);
    }
    // What a caller reads out says nothing of its kind: every kind it could be is asked.
    let keys: Vec<CustomerKey> =
        IdentityKind::ALL.iter().filter_map(|&kind| mend_ingest::normalize_key(kind, typed).ok()).collect();
    named.extend(customers::find_identities(conn, &keys).await?.into_iter().map(|k| k.customer_id));
    as_they_are_now(store, named).await
}

/// `customers` as they are now, merges followed, each once, in the order given.
pub(crate) async fn as_they_are_now(
    store: &Store,
    customers: impl IntoIterator<Item = CustomerId>,
) -> Result<Vec<CustomerId>, CasesError> {
    let mut found = Vec::new();
    for id in customers {
        if let Some(now) = customers::survivor(store.connection(), id).await?
            && !found.contains(&now)
        {
            found.push(now);
        }
    }
    Ok(found)
}
