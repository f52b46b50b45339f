//! Browsers a person has signed in from. A right password sets a signed cookie naming the user;
//! while guesses from many addresses keep their name shut to everyone else
//! ([`crate::accounts::MOST_FAILURES_OF_ONE_NAME`]), that browser still signs them in. So a
//! botnet gets a few dozen guesses at a name a quarter of an hour, and the person at their own
//! desk is not locked out by it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use hmac::{KeyInit, Mac};
use mend_core::UserId;
use mend_store::{Store, StoreError};

/// The cookie that remembers the browser.
pub const DEVICE_COOKIE: &str = "mend_device";
/// How long a browser is remembered after its last sign-in.
const REMEMBERED_DAYS: i64 = 90;
/// The name of the key in `signing_keys`.
const KEY_NAME: &str = "known_devices";

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Signs and reads the known-device cookie with a key every instance shares.
pub struct KnownDevices {
    key: Vec<u8>,
}

impl KnownDevices {
    /// Reads the signing key, making it on first use.
    pub async fn load(store: &Store, now: DateTime<Utc>) -> Result<Self, StoreError> {
        let fresh = || hex::encode(crate::auth::random_bytes(32));
        let stored = mend_store::signing_keys::signing_key(store.connection(), KEY_NAME, fresh, now).await?;
        let key = hex::decode(&stored)
            .map_err(|e| StoreError::corrupt("signing_keys", KEY_NAME, format_args!("the secret is not hex: {e}")))?;
        Ok(Self { key })
    }

    /// The cookie's value for `user`, signed in at `now`: `<user>.<until>.<signature>`.
    pub fn token(&self, user: UserId, now: DateTime<Utc>) -> String {
        let until = (now + Duration::days(REMEMBERED_DAYS)).timestamp();
        let payload = format!("{user}.{until}");
        let signature = URL_SAFE_NO_PAD.encode(self.mac(&payload).finalize().into_bytes());
        format!("{payload}.{signature}")
    }

    /// The `Set-Cookie` remembering this browser for `user`; `Secure` behind https.
    pub fn cookie(&self, user: UserId, now: DateTime<Utc>, secure: bool) -> String {
        let secure = if secure { "; Secure" } else { "" };
        let max_age = REMEMBERED_DAYS * 24 * 3600;
        let token = self.token(user, now);
        format!("{DEVICE_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")
    }

    /// The user the request's known-device cookie vouches for at `now`, if it sent a good one.
    pub fn vouched(&self, parts: &axum::http::request::Parts, now: DateTime<Utc>) -> Option<UserId> {
        self.vouches_for(&crate::auth::cookie(parts, DEVICE_COOKIE)?, now)
    }

    /// The user a cookie's value vouches for at `now`: signed by mend and not run out.
    pub fn vouches_for(&self, token: &str, now: DateTime<Utc>) -> Option<UserId> {
        let (payload, signature) = token.rsplit_once('.')?;
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        self.mac(payload).verify_slice(&signature).ok()?;
        let (user, until) = payload.split_once('.')?;
        (now.timestamp() < until.parse::<i64>().ok()?).then_some(())?;
        user.parse().ok()
    }

    fn mac(&self, payload: &str) -> HmacSha256 {
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(b"known-device\0");
        mac.update(payload.as_bytes());
        mac
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn devices() -> KnownDevices {
        KnownDevices { key: b"a key for tests".to_vec() }
    }

    #[test]
    fn a_cookie_vouches_for_its_user_until_it_runs_out() {
        let (user, now) = (UserId::new(), "2026-12-08T01:00:00Z".parse::<DateTime<Utc>>().unwrap());
        let token = devices().token(user, now);
        assert_eq!(devices().vouches_for(&token, now + Duration::days(89)), Some(user));
        assert_eq!(devices().vouches_for(&token, now + Duration::days(REMEMBERED_DAYS)), None, "run out");
    }

    #[test]
    fn a_forged_or_altered_cookie_vouches_for_nobody() {
        let (user, now) = (UserId::new(), "2026-12-08T01:00:00Z".parse::<DateTime<Utc>>().unwrap());
        let token = devices().token(user, now);
        let other = KnownDevices { key: b"another key".to_vec() };
        assert_eq!(other.vouches_for(&token, now), None, "signed with another key");
        let (_, rest) = token.split_once('.').unwrap();
        let someone_else = format!("{}.{rest}", UserId::new());
        assert_eq!(devices().vouches_for(&someone_else, now), None, "another user's name on it");
        for junk in ["", ".", "x.y.z", "not a token"] {
            assert_eq!(devices().vouches_for(junk, now), None, "{junk}");
        }
    }
}
