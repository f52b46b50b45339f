//! Survey links: `{public_url}/survey/{token}`, where the token names the survey and when the
//! link expires, signed with HMAC-SHA256 under a key mend keeps in its database. A forged or
//! altered token is refused without a database read; an expired one, or one already answered,
//! is told so politely by the page.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use hmac::{KeyInit, Mac};
use mend_core::{CaseId, CaseStatus, Satisfaction, SurveyId};
use mend_store::Store;
use mend_store::surveys::{self, SurveyRecord};
use rand::Rng;
use serde::Serialize;

use crate::NotifyError;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The name of the key in `signing_keys`.
const KEY_NAME: &str = "survey_links";
/// Survey id (16 bytes) and expiry (8 bytes, Unix seconds).
const PAYLOAD_LEN: usize = 24;

#[derive(Clone)]
pub struct SurveyLinks {
    key: Vec<u8>,
    public_url: String,
    valid_for: Duration,
}

/// Why a link does not open a survey.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum SurveyLinkProblem {
    #[error("the link is not one mend made")]
    Forged,
    #[error("the link has expired")]
    Expired,
    #[error("the survey was answered already")]
    Answered,
    /// The repair it asks about no longer stands: the case reopened (or was merged into
    /// another) since; its next closing gets a survey of its own.
    #[error("the case reopened since the survey was made")]
    Withdrawn,
}

/// What the survey page shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SurveyView {
    pub survey_id: SurveyId,
    pub case_id: CaseId,
    pub expires_at: DateTime<Utc>,
}

/// A survey made for a closing, and the link to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedSurvey {
    pub survey_id: SurveyId,
    pub url: String,
}

/// The survey, if it can still be answered at `now`: not answered, not expired, and the closing
/// it asks about still stands (the case is closed, and not closed again since). The page and the
/// sender of its email ask the same.
pub async fn standing(
    store: &Store,
    id: SurveyId,
    now: DateTime<Utc>,
) -> Result<Result<SurveyRecord, SurveyLinkProblem>, NotifyError> {
    let Some(survey) = surveys::survey(store.connection(), id).await? else {
        return Ok(Err(SurveyLinkProblem::Forged));
    };
    if survey.answered_at.is_some() {
        return Ok(Err(SurveyLinkProblem::Answered));
    }
    if survey.expires_at <= now {
        return Ok(Err(SurveyLinkProblem::Expired));
    }
    let case = mend_store::cases::case_by_id(store.connection(), survey.case_id).await?;
    let stands = case
        .is_some_and(|c| c.status == CaseStatus::Closed && c.closed_at.is_some() && c.closed_at == survey.closed_at);
    if !stands {
        return Ok(Err(SurveyLinkProblem::Withdrawn));
    }
    Ok(Ok(survey))
}

/// A recorded answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SurveyAnswer {
    pub case_id: CaseId,
    pub rating: Satisfaction,
}

impl SurveyLinks {
    /// Reads the signing key, making it on first use.
    pub async fn load(
        store: &Store,
        public_url: &str,
        valid_days: i64,
        now: DateTime<Utc>,
    ) -> Result<Self, NotifyError> {
        let fresh = || {
            let mut bytes = [0u8; 32];
            rand::rng().fill_bytes(&mut bytes);
            hex::encode(bytes)
        };
        let stored = mend_store::signing_keys::signing_key(store.connection(), KEY_NAME, fresh, now).await?;
        let key = hex::decode(&stored).map_err(|e| {
            mend_store::StoreError::corrupt("signing_keys", KEY_NAME, format_args!("the secret is not hex: {e}"))
        })?;
        Ok(Self {
            key,
            public_url: public_url.trim_end_matches('/').to_owned(),
            valid_for: Duration::days(valid_days.max(1)),
        })
    }

    /// How long a link works, in days (emails tell the customer).
    pub fn valid_days(&self) -> i64 {
        self.valid_for.num_days()
    }

    /// The link to the survey of the case's closing at `closed_at`, made now if it has none (a
    /// second call links to the same survey).
    pub async fn issue(
        &self,
        store: &Store,
        case: CaseId,
        closed_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<IssuedSurvey, NotifyError> {
        let survey = surveys::survey_for_case(store.connection(), case, closed_at, now, now + self.valid_for).await?;
        let url = format!("{}/survey/{}", self.public_url, self.token(survey.survey_id, survey.expires_at));
        Ok(IssuedSurvey { survey_id: survey.survey_id, url })
    }

    fn token(&self, survey: SurveyId, expires_at: DateTime<Utc>) -> String {
        let mut payload = Vec::with_capacity(PAYLOAD_LEN);
        payload.extend_from_slice(survey.as_uuid().as_bytes());
        payload.extend_from_slice(&expires_at.timestamp().to_be_bytes());
        let signature = self.mac(&payload).finalize().into_bytes();
        format!("{}.{}", URL_SAFE_NO_PAD.encode(&payload), URL_SAFE_NO_PAD.encode(signature))
    }

    fn mac(&self, payload: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(payload);
        mac
    }

    /// The survey a token names, if the signature is mend's and the link has not expired.
    fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<SurveyId, SurveyLinkProblem> {
        let (payload, signature) = token.split_once('.').ok_or(SurveyLinkProblem::Forged)?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| SurveyLinkProblem::Forged)?;
        let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| SurveyLinkProblem::Forged)?;
        if payload.len() != PAYLOAD_LEN {
            return Err(SurveyLinkProblem::Forged);
        }
        self.mac(&payload).verify_slice(&signature).map_err(|_| SurveyLinkProblem::Forged)?;
        let (id, expiry) = payload.split_at(16);
        let id = uuid::Uuid::from_slice(id).map_err(|_| SurveyLinkProblem::Forged)?;
        let expiry = i64::from_be_bytes(expiry.try_into().map_err(|_| SurveyLinkProblem::Forged)?);
        if now.timestamp() >= expiry {
            return Err(SurveyLinkProblem::Expired);
        }
        Ok(SurveyId::from_uuid(id))
    }

    /// The survey behind a link that can still be answered.
    pub async fn open(
        &self,
        store: &Store,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Result<SurveyView, SurveyLinkProblem>, NotifyError> {
        let id = match self.verify(token, now) {
            Ok(id) => id,
            Err(problem) => return Ok(Err(problem)),
        };
        Ok(standing(store, id, now).await?.map(|survey| SurveyView {
            survey_id: survey.survey_id,
            case_id: survey.case_id,
            expires_at: survey.expires_at,
        }))
    }

    /// Records the answer a link's page sent: once, before the link expires.
    pub async fn answer(
        &self,
        store: &Store,
        token: &str,
        rating: Satisfaction,
        comment: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Result<SurveyAnswer, SurveyLinkProblem>, NotifyError> {
        let view = match self.open(store, token, now).await? {
            Ok(view) => view,
            Err(problem) => return Ok(Err(problem)),
        };
        let comment = comment.map(|c| c.trim().chars().take(2000).collect::<String>()).filter(|c| !c.is_empty());
        if !surveys::answer_survey(store.connection(), view.survey_id, rating, comment, now).await? {
            // Another submission of the same link got there first (or it expired meanwhile).
            return Ok(Err(SurveyLinkProblem::Answered));
        }
        tracing::info!(case_id = %view.case_id, rating = rating.get(), "survey answered");
        Ok(Ok(SurveyAnswer { case_id: view.case_id, rating }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links() -> SurveyLinks {
        SurveyLinks { key: b"k".repeat(32), public_url: "https://mend.example".into(), valid_for: Duration::days(14) }
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, 0).expect("a valid time")
    }

    #[test]
    fn a_token_verifies_until_it_expires() {
        let id = SurveyId::new();
        let token = links().token(id, at(2_000));
        assert_eq!(links().verify(&token, at(1_999)), Ok(id));
        assert_eq!(links().verify(&token, at(2_000)), Err(SurveyLinkProblem::Expired));
    }

    #[test]
    fn an_altered_or_foreign_token_is_forged() {
        let token = links().token(SurveyId::new(), at(2_000));
        let (payload, signature) = token.split_once('.').unwrap();
        // A later expiry under the old signature.
        let mut bytes = URL_SAFE_NO_PAD.decode(payload).unwrap();
        bytes[23] ^= 0x40;
        let altered = format!("{}.{signature}", URL_SAFE_NO_PAD.encode(&bytes));
        assert_eq!(links().verify(&altered, at(1_000)), Err(SurveyLinkProblem::Forged));
        let other_key = SurveyLinks { key: b"x".repeat(32), ..links() };
        assert_eq!(other_key.verify(&token, at(1_000)), Err(SurveyLinkProblem::Forged));
        for junk in ["", ".", "abc", "abc.def", "%%%.%%%"] {
            assert_eq!(links().verify(junk, at(1_000)), Err(SurveyLinkProblem::Forged), "{junk}");
        }
    }
}
