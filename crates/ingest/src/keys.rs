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

    /// An opaque id (openid, member id…), kept as written. Blank is none, and so is a
    /// placeholder ([`is_placeholder`]).
    pub fn opaque(&mut self, kind: IdentityKind, raw: Option<&str>) {
        let Some(value) = raw.map(str::trim).filter(|r| !r.is_empty()) else { return };
        if value.len() > MAX_ID_LEN || value.chars().any(|c| c.is_control() || c.is_whitespace()) {
            let shown: String = value.chars().take(40).collect();
            self.problems.push(format!("{kind} `{shown}` has spaces, control characters or is too long"));
        } else if is_placeholder(value) {
            self.problems.push(format!("{kind} `{value}` is a placeholder, not an id"));
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

/// What systems write where they have no id (`0`, `-1`, `null`, `无`, `---`…). Never a key:
/// every record carrying the same placeholder would become one customer.
fn is_placeholder(value: &str) -> bool {
    const WORDS: [&str; 15] = [
        "null",
        "nil",
        "none",
        "undefined",
        "unknown",
        "true",
        "false",
        "n/a",
        "na",
        "nan",
        "无",
        "空",
        "暂无",
        "未知",
        "不详",
    ];
    WORDS.iter().any(|w| value.eq_ignore_ascii_case(w))
        || value.parse::<i64>().is_ok_and(|n| n <= 0)
        || value.chars().all(|c| matches!(c, '-' | '_' | '.' | '*' | '?' | '#' | '/' | '0'))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_no_keys() {
        for junk in ["0", "-1", "000", "NULL", "None", "true", "n/a", "无", "暂无", "---", "0-0", "?"] {
            let key = normalize_key(IdentityKind::MemberId, junk);
            assert!(key.is_err(), "{junk} is not an id: {key:?}");
        }
        for id in ["M7", "10086", "oAbC-1_x", "0a1", "nobody"] {
            assert_eq!(normalize_key(IdentityKind::MemberId, id).map(|k| k.value), Ok(id.to_owned()));
        }
        let mut keys = KeyCollector::default();
        keys.phone(Some("13800138000"));
        keys.opaque(IdentityKind::MemberId, Some("0"));
        assert_eq!(keys.finish().unwrap().len(), 1, "the phone stays a key");
    }
}
