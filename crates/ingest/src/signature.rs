//! Who sent a channel's HTTP delivery: an HMAC-SHA256 of the body with the channel's secret,
//! in the header `X-Mend-Signature: sha256=<hex>`.

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
    #[error("the X-Mend-Signature header is not `sha256=` followed by 64 hex digits")]
    Malformed,
    #[error("the signature does not match the body")]
    Mismatch,
}

/// The header value a sender with `secret` puts on `body`.
pub fn sign_body(secret: &str, body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks `header` against `body` in constant time.
pub fn verify_body_signature(secret: &str, body: &[u8], header: Option<&str>) -> Result<(), SignatureError> {
    if secret.is_empty() {
        return Err(SignatureError::NotConfigured);
    }
    let header = header.ok_or(SignatureError::Missing)?.trim();
    let hex_digest = header.strip_prefix("sha256=").ok_or(SignatureError::Malformed)?;
    let tag = hex::decode(hex_digest).map_err(|_| SignatureError::Malformed)?;
    if tag.len() != 32 {
        return Err(SignatureError::Malformed);
    }
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    mac.verify_slice(&tag).map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_an_independent_hmac() {
        // RFC 4231, test case 2.
        let expected = "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        assert_eq!(sign_body("Jefe", b"what do ya want for nothing?"), expected);
        assert_eq!(verify_body_signature("Jefe", b"what do ya want for nothing?", Some(expected)), Ok(()));
    }

    #[test]
    fn refuses_what_it_cannot_verify() {
        let body = br#"{"call_id": "c1"}"#;
        let good = sign_body("s3cret", body);
        assert_eq!(verify_body_signature("s3cret", body, Some(&good)), Ok(()));
        assert_eq!(
            verify_body_signature("s3cret", b"{\"call_id\": \"c2\"}", Some(&good)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(verify_body_signature("other", body, Some(&good)), Err(SignatureError::Mismatch));
        assert_eq!(verify_body_signature("s3cret", body, None), Err(SignatureError::Missing));
        assert_eq!(verify_body_signature("s3cret", body, Some("md5=abc")), Err(SignatureError::Malformed));
        assert_eq!(verify_body_signature("s3cret", body, Some("sha256=zz")), Err(SignatureError::Malformed));
        assert_eq!(verify_body_signature("", body, Some(&good)), Err(SignatureError::NotConfigured));
    }
}
