//! Customer keys and delivery ids as channels write them.

use mend_core::{CustomerKey, IdentityKind, PhoneNumber};

use crate::Rejection;

/// Ids longer than this are not ids; the limit keeps indexes and quarantine readable.
pub(crate) const MAX_ID_LEN: usize = 128;

/// A record's customer keys, with why any candidate could not be one.
#[derive(Debug, Default)]
pub(crate) struct KeyCollector {
    keys: Vec<CustomerKey>,
    problems: Vec<String>,
}

impl KeyCollector {
    /// A phone number in any shape channels write; one that is not a reachable number is not a
    /// key. Blank is no phone.
    pub fn phone(&mut self, raw: Option<&str>) {
        let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else { return };
        match PhoneNumber::parse(raw) {
            Ok(phone) => self.keys.push(CustomerKey::new(IdentityKind::Phone, phone.as_str())),
            Err(e) => self.problems.push(e.to_string()),
        }
    }

    /// An opaque id (openid, member id…), kept as written. Blank is none.
    pub fn opaque(&mut self, kind: IdentityKind, raw: Option<&str>) {
        let Some(value) = raw.map(str::trim).filter(|r| !r.is_empty()) else { return };
        if value.len() > MAX_ID_LEN || value.chars().any(|c| c.is_control() || c.is_whitespace()) {
            self.problems.push(format!("{kind} `{value}` has spaces, control characters or is too long"));
        } else {
            self.keys.push(CustomerKey::new(kind, value));
        }
    }

    /// The keys, most specific first as added; none at all is a rejection.
    pub fn finish(self) -> Result<Vec<CustomerKey>, Rejection> {
        if self.keys.is_empty() {
            let detail =
                if self.problems.is_empty() { String::new() } else { format!(" ({})", self.problems.join("; ")) };
            return Err(Rejection::NoCustomerKey { detail });
        }
        Ok(self.keys)
    }
}

/// A channel's own id of a record (with the channel, the idempotency key).
pub(crate) fn delivery_id(value: Option<String>, field: &'static str) -> Result<String, Rejection> {
    let id = value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()).ok_or(Rejection::Missing(field))?;
    if id.len() > MAX_ID_LEN || id.chars().any(char::is_control) {
        return Err(Rejection::invalid(field, "longer than 128 bytes or contains control characters"));
    }
    Ok(id)
}

/// One key as an API caller writes it: a phone in any shape, an opaque id as it is.
pub fn normalize_key(kind: IdentityKind, raw: &str) -> Result<CustomerKey, Rejection> {
    let mut keys = KeyCollector::default();
    match kind {
        IdentityKind::Phone => keys.phone(Some(raw)),
        other => keys.opaque(other, Some(raw)),
    }
    keys.finish().map(|mut k| k.remove(0))
}
