//! The official-account server protocol's signatures and safe-mode encryption.
//!
//! Signatures are the SHA-1 of the lexicographically sorted parts, concatenated: token,
//! timestamp and nonce (plus the `Encrypt` text in safe mode). Safe mode is AES-256-CBC with
//! the 43-character EncodingAESKey (base64 without its final `=`), IV = the key's first 16
//! bytes, over random(16) + length(4, network order) + message + appid, padded PKCS#7-style to
//! a multiple of 32 bytes.

use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockModeDecrypt, KeyIvInit};
use base64::Engine;
use base64::engine::{GeneralPurpose, GeneralPurposeConfig};
use sha1::{Digest, Sha1};

use crate::Rejection;

type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;

/// Safe-mode padding works on 32-byte blocks, not AES's 16.
const PAD_BLOCK: usize = 32;

/// The key is 43 random base64 characters, so its last one usually carries bits a strict
/// decoder refuses; WeChat's own SDKs decode leniently too.
const LENIENT: GeneralPurpose =
    GeneralPurpose::new(&base64::alphabet::STANDARD, GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true));

/// The hex SHA-1 signature of `parts`.
pub fn signature(parts: &[&str]) -> String {
    let mut sorted = parts.to_vec();
    sorted.sort_unstable();
    hex::encode(Sha1::digest(sorted.concat().as_bytes()))
}

/// Whether `given` is the signature of `parts`. Signatures are public SHA-1 hex of public
/// inputs plus the token; comparing in constant time keeps the token's hash from leaking.
pub fn signature_matches(parts: &[&str], given: &str) -> bool {
    let expected = signature(parts);
    let given = given.trim().to_ascii_lowercase();
    expected.len() == given.len() && expected.bytes().zip(given.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

#[derive(Clone)]
pub struct AesKey([u8; 32]);

impl std::fmt::Debug for AesKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AesKey(…)")
    }
}

impl AesKey {
    pub fn from_encoding_aes_key(key: &str) -> Result<Self, String> {
        if key.len() != 43 {
            return Err(format!("an EncodingAESKey has 43 characters, this one has {}", key.len()));
        }
        let bytes = LENIENT.decode(format!("{key}=")).map_err(|e| format!("not base64: {e}"))?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| "does not decode to 32 bytes".to_owned())?;
        Ok(Self(bytes))
    }

    #[cfg(test)]
    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// The message inside an `Encrypt` text, after checking that it was sealed for `appid`.
pub fn decrypt(encrypted: &str, key: &AesKey, appid: &str) -> Result<String, Rejection> {
    let fail = |why: &str| Rejection::Decrypt(why.to_owned());
    let ciphertext = base64::engine::general_purpose::STANDARD
        .decode(encrypted.trim())
        .map_err(|_| fail("Encrypt is not base64"))?;
    if ciphertext.is_empty() || ciphertext.len() % 16 != 0 {
        return Err(fail("ciphertext is not a whole number of AES blocks"));
    }
    let plain = Aes256CbcDec::new((&key.0).into(), (&key.0[..16]).try_into().expect("16 bytes"))
        .decrypt_padded_vec::<NoPadding>(&ciphertext)
        .map_err(|_| fail("AES decryption failed"))?;
    let pad = usize::from(*plain.last().expect("non-empty"));
    if !(1..=PAD_BLOCK).contains(&pad)
        || pad > plain.len()
        || plain[plain.len() - pad..].iter().any(|&b| b != pad as u8)
    {
        return Err(fail("padding is wrong: the EncodingAESKey does not match the sender's"));
    }
    let body = &plain[..plain.len() - pad];
    if body.len() < 20 {
        return Err(fail("decrypted text is too short"));
    }
    let length = u32::from_be_bytes(body[16..20].try_into().expect("4 bytes")) as usize;
    let rest = &body[20..];
    if length > rest.len() {
        return Err(fail("message length is larger than the decrypted text"));
    }
    let (message, sealed_for) = rest.split_at(length);
    if appid.is_empty() {
        return Err(fail("wechat.appid is not configured, so the message's appid cannot be checked"));
    }
    if sealed_for != appid.as_bytes() {
        return Err(Rejection::Decrypt(format!(
            "the message is for appid `{}`, not `{appid}`",
            String::from_utf8_lossy(sealed_for)
        )));
    }
    String::from_utf8(message.to_vec()).map_err(|e| Rejection::NotUtf8 { valid_up_to: e.utf8_error().valid_up_to() })
}

/// Seals `message` for `appid` as WeChat does, behind 16 `random` bytes: how a passive reply
/// in safe mode is sent (and how tests make pushes).
pub(crate) fn encrypt(message: &str, key: &AesKey, appid: &str, random: [u8; 16]) -> String {
    use aes::cipher::BlockModeEncrypt;
    let mut plain = random.to_vec();
    // A passive reply is at most a few KiB (the configured text, two ids), far inside u32.
    plain.extend_from_slice(&(message.len() as u32).to_be_bytes());
    plain.extend_from_slice(message.as_bytes());
    plain.extend_from_slice(appid.as_bytes());
    let pad = PAD_BLOCK - plain.len() % PAD_BLOCK;
    plain.extend(std::iter::repeat_n(pad as u8, pad));
    let ciphertext = cbc::Encryptor::<aes::Aes256>::new((&key.0).into(), (&key.0[..16]).try_into().expect("16 bytes"))
        .encrypt_padded_vec::<NoPadding>(&plain);
    base64::engine::general_purpose::STANDARD.encode(ciphertext)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// From the official account documentation's example (消息加解密说明).
    const DOC_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

    /// Vectors computed with Python (`hashlib`, `cryptography`) by
    /// `tests/data/wechat/make_vectors.py`, independently of this code.
    fn vectors() -> serde_json::Value {
        serde_json::from_str(include_str!("../../../../tests/data/wechat/vectors.json")).unwrap()
    }

    #[test]
    fn signs_like_an_independent_implementation() {
        assert_eq!(signature(&["pamtest", "1409304348", "xxxxxx"]), "76480565cbe296026c53aaacd1ad523a1ddba24f");
        let v = vectors();
        for vector in v["vectors"].as_array().unwrap() {
            let s = |k: &str| vector[k].as_str().unwrap();
            assert!(signature_matches(&[v["token"].as_str().unwrap(), s("timestamp"), s("nonce")], s("signature")));
            let parts = [v["token"].as_str().unwrap(), s("timestamp"), s("nonce"), s("encrypt")];
            assert!(signature_matches(&parts, &s("msg_signature").to_uppercase()), "hex case does not matter");
        }
        assert!(!signature_matches(&["a", "b"], &signature(&["a", "c"])));
        assert!(!signature_matches(&["a", "b"], "short"));
    }

    #[test]
    fn decrypts_what_an_independent_implementation_encrypted() {
        let v = vectors();
        let key = AesKey::from_encoding_aes_key(v["encoding_aes_key"].as_str().unwrap()).unwrap();
        let appid = v["appid"].as_str().unwrap();
        for vector in v["vectors"].as_array().unwrap() {
            let plain = decrypt(vector["encrypt"].as_str().unwrap(), &key, appid).unwrap();
            assert_eq!(plain, vector["message"].as_str().unwrap());
        }
    }

    #[test]
    fn reads_the_documented_key_whose_last_character_carries_extra_bits() {
        let key = AesKey::from_encoding_aes_key(DOC_KEY).unwrap();
        assert_eq!(hex::encode(&key.bytes()[..4]), "69b71d79");
        assert!(AesKey::from_encoding_aes_key("short").is_err());
        assert!(AesKey::from_encoding_aes_key(&"!".repeat(43)).is_err());
    }

    #[test]
    fn refuses_the_wrong_key_or_appid() {
        let key = AesKey::from_encoding_aes_key(DOC_KEY).unwrap();
        let other = AesKey::from_encoding_aes_key("0123456789ABCDEFGabcdefghijklmnopqrstuvwxyz").unwrap();
        let sealed = encrypt("<xml/>", &key, "wx1", [7; 16]);
        assert_eq!(decrypt(&sealed, &key, "wx1").unwrap(), "<xml/>");
        assert!(matches!(decrypt(&sealed, &key, "wx2"), Err(Rejection::Decrypt(r)) if r.contains("`wx1`")));
        assert!(decrypt(&sealed, &other, "wx1").is_err());
        assert!(decrypt("not base64!", &key, "wx1").is_err());
        assert!(decrypt("AAAA", &key, "wx1").is_err());
        assert!(decrypt(&sealed, &key, "").is_err());
    }

    proptest! {
        #[test]
        fn round_trips_any_message(message in "\\PC{0,200}", random in any::<[u8; 16]>()) {
            let key = AesKey::from_encoding_aes_key(DOC_KEY).unwrap();
            let sealed = encrypt(&message, &key, "wxb11529c136998cb6", random);
            prop_assert_eq!(decrypt(&sealed, &key, "wxb11529c136998cb6").unwrap(), message);
        }

        #[test]
        fn any_text_decrypts_or_is_refused(text in "[A-Za-z0-9+/=]{0,200}") {
            let key = AesKey::from_encoding_aes_key(DOC_KEY).unwrap();
            let _ = decrypt(&text, &key, "wx1");
        }
    }
}
