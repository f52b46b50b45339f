//! Who sent a channel's HTTP delivery, and when: the header
//! `X-Mend-Signature: t=<unix seconds>,sha256=<hex>` carries an HMAC-SHA256, with the channel's
//! secret, of the timestamp, a dot and the body (`<t>.<body>`). The timestamp is inside the
//! signature, so a captured request is refused once it is older than the window, and within the
//! window it cannot carry another body; repeated as it was, it is the same delivery, which
//! intake stores once.

use chrono::{DateTime, Utc};
use hmac::{KeyInit, Mac};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "x-mend-signature";

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("this channel has no secret configured, so no request can be verified")]
    NotConfigured,
    #[error("the X-Mend-Signature header is missing")]
    Missing,
    #[error(
        "the X-Mend-Signature header is not `t=<unix seconds>,sha256=<64 hex digits>` \
         (an HMAC-SHA256 of `<t>.<body>`)"
    )]
    Malformed,
    #[error("the signature does not match the body and its timestamp")]
    Mismatch,
    #[error(
        "the signed timestamp {timestamp} is {skew_seconds} s from mend's clock, outside the allowed {window_seconds} s"
    )]
    Stale { timestamp: i64, skew_seconds: i64, window_seconds: i64 },
}

/// The header value a sender with `secret` puts on `body` at `timestamp` (unix seconds).
pub fn sign_body(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp},sha256={}", hex::encode(mac(secret, timestamp, body).finalize().into_bytes()))
}

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// Checks `header` against `body` in constant time, and its timestamp against `now`: a
/// signature more than `window` away from the clock, either way, is refused.
pub fn verify_body_signature(
    secret: &str,
    body: &[u8],
    header: Option<&str>,
    now: DateTime<Utc>,
    window: chrono::Duration,
) -> Result<(), SignatureError> {
    if secret.is_empty() {
        return Err(SignatureError::NotConfigured);
    }
    let header = header.ok_or(SignatureError::Missing)?.trim();
    let (timestamp, hex_digest) = header.split_once(',').ok_or(SignatureError::Malformed)?;
    let timestamp: i64 =
        timestamp.trim().strip_prefix("t=").and_then(|t| t.parse().ok()).ok_or(SignatureError::Malformed)?;
    let hex_digest = hex_digest.trim().strip_prefix("sha256=").ok_or(SignatureError::Malformed)?;
    let tag = hex::decode(hex_digest).map_err(|_| SignatureError::Malformed)?;
    if tag.len() != 32 {
        return Err(SignatureError::Malformed);
    }
    mac(secret, timestamp, body).verify_slice(&tag).map_err(|_| SignatureError::Mismatch)?;
    check_window(timestamp, now, window).map_err(|skew_seconds| SignatureError::Stale {
        timestamp,
        skew_seconds,
        window_seconds: window.num_seconds(),
    })
}

/// Whether a signed `timestamp` (unix seconds) is within `window` of `now`; else how far off.
pub(crate) fn check_window(timestamp: i64, now: DateTime<Utc>, window: chrono::Duration) -> Result<(), i64> {
    let skew = now.timestamp().saturating_sub(timestamp).saturating_abs();
    if skew <= window.num_seconds() { Ok(()) } else { Err(skew) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_176_000;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(NOW, 0).unwrap()
    }

    fn verify(secret: &str, body: &[u8], header: Option<&str>) -> Result<(), SignatureError> {
        verify_body_signature(secret, body, header, now(), chrono::Duration::seconds(300))
    }

    #[test]
    fn matches_an_independent_hmac() {
        // HMAC-SHA256("Jefe", "1795176000.what do ya want for nothing?"), computed with Python's hmac.
        let expected = "t=1795176000,sha256=1a7f61214cfaf215a6c9d4262aa6c08caf1a90cff3fbb54b33f7081ecb5d9a82";
        assert_eq!(sign_body("Jefe", NOW, b"what do ya want for nothing?"), expected);
        assert_eq!(verify("Jefe", b"what do ya want for nothing?", Some(expected)), Ok(()));
    }

    #[test]
    fn refuses_what_it_cannot_verify() {
        let body = br#"{"call_id": "c1"}"#;
        let good = sign_body("s3cret", NOW, body);
        assert_eq!(verify("s3cret", body, Some(&good)), Ok(()));
        assert_eq!(verify("s3cret", b"{\"call_id\": \"c2\"}", Some(&good)), Err(SignatureError::Mismatch));
        assert_eq!(verify("other", body, Some(&good)), Err(SignatureError::Mismatch));
        assert_eq!(verify("s3cret", body, None), Err(SignatureError::Missing));
        assert_eq!(verify("s3cret", body, Some("md5=abc")), Err(SignatureError::Malformed));
        assert_eq!(verify("s3cret", body, Some("t=1,sha256=zz")), Err(SignatureError::Malformed));
        assert_eq!(verify("", body, Some(&good)), Err(SignatureError::NotConfigured));
        // The timestamp is signed: moving it breaks the signature.
        let moved = good.replace(&format!("t={NOW}"), &format!("t={}", NOW + 1));
        assert_eq!(verify("s3cret", body, Some(&moved)), Err(SignatureError::Mismatch));
        // A body-only signature (no timestamp) is refused.
        assert_eq!(verify("s3cret", body, Some(good.split_once(',').unwrap().1)), Err(SignatureError::Malformed));
    }

    #[test]
    fn refuses_a_signature_outside_the_window() {
        let body = b"{}";
        for (offset, ok) in [(-300, true), (300, true), (-301, false), (301, false), (-800_000_000, false)] {
            let header = sign_body("s3cret", NOW + offset, body);
            assert_eq!(verify("s3cret", body, Some(&header)).is_ok(), ok, "offset {offset}");
        }
    }
}
