//! Sandbox API token values (SPEC §9): `sbx_`, then 33 base62 characters of randomness
//! (about 196 bits), then a 6-character base62 CRC-32 checksum, so secret scanners can recognise
//! a leaked value and malformed values are refused before any database work.
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, Mac};
use rand::RngExt;
use rand::distr::Alphanumeric;
use sha2::Sha256;
use std::fmt;
use uuid::Uuid;

pub const PREFIX: &str = "sbx_";
const RANDOM_LEN: usize = 33;
const CHECK_LEN: usize = 6;
pub const TOKEN_LEN: usize = PREFIX.len() + RANDOM_LEN + CHECK_LEN;
const HINT_LEN: usize = 4;
const NONCE_LEN: usize = 12;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A plaintext token value. Deliberately not `Debug`-printable in full, so it cannot slip into
/// a log line through `{:?}`.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenValue(String);

impl TokenValue {
    pub fn generate() -> Self {
        let body: String = rand::rng()
            .sample_iter(Alphanumeric)
            .take(RANDOM_LEN)
            .map(char::from)
            .collect();
        let check = checksum(&body);
        TokenValue(format!("{PREFIX}{body}{check}"))
    }

    /// Accepts only values with the right prefix, length, alphabet and checksum.
    pub fn parse(candidate: &str) -> Option<Self> {
        let rest = candidate.strip_prefix(PREFIX)?;
        if candidate.len() != TOKEN_LEN || !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return None;
        }
        let (body, check) = rest.split_at(RANDOM_LEN);
        (checksum(body) == check).then(|| TokenValue(candidate.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hint(&self) -> String {
        self.0[self.0.len() - HINT_LEN..].to_owned()
    }
}

impl fmt::Debug for TokenValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenValue(<redacted>)")
    }
}

/// The masked form shown by default (R3): prefix, dots, and the last characters as a hint.
pub fn masked(hint: &str) -> String {
    format!("{PREFIX}{}{hint}", "•".repeat(12))
}

fn checksum(body: &str) -> String {
    let mut n = crc32fast::hash(body.as_bytes()) as u64;
    let mut out = [b'0'; CHECK_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Keys derived from SECRET_KEY: one for AEAD encryption of values, one for the lookup digest.
pub struct TokenKeys {
    cipher: Aes256Gcm,
    digest_key: [u8; 32],
    pseudonym_key: [u8; 32],
    device_key: [u8; 32],
    fingerprint: String,
}

impl TokenKeys {
    pub fn derive(secret: &[u8]) -> Self {
        let enc_key = derive_subkey(secret, b"sandbox-portal token encryption v1");
        let digest_key = derive_subkey(secret, b"sandbox-portal token digest v1");
        let pseudonym_key = derive_subkey(secret, b"sandbox-portal pseudonyms v1");
        let device_key = derive_subkey(secret, b"sandbox-portal login devices v1");
        let fingerprint = hex::encode(derive_subkey(secret, b"sandbox-portal key fingerprint v1"));
        TokenKeys {
            cipher: Aes256Gcm::new(&enc_key.into()),
            digest_key,
            pseudonym_key,
            device_key,
            fingerprint,
        }
    }

    /// A stable keyed stand-in for text that must not be stored as typed (a username nobody has,
    /// which may well be a password typed in the wrong box).
    pub fn pseudonym(&self, text: &str) -> String {
        hex::encode(hmac_sha256(&self.pseudonym_key, text.as_bytes()))
    }

    /// Tells keys apart without telling anything about them (see `db::check_secret_key`).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Binds a browser's login-device nonce to one account (given by its pseudonym).
    pub fn device_mac(&self, account: &str, nonce: &str) -> String {
        let msg = format!("{account}.{nonce}");
        hex::encode(hmac_sha256(&self.device_key, msg.as_bytes()))
    }

    /// The login form's CSRF token for the nonce in its cookie. The same key as `device_mac`,
    /// told apart by the message: an account pseudonym is hex and never holds a ':'.
    pub fn login_form_mac(&self, nonce: &str) -> String {
        let msg = format!("login-form:{nonce}");
        hex::encode(hmac_sha256(&self.device_key, msg.as_bytes()))
    }

    /// Keyed hash of a value: what the database stores and is searched by.
    pub fn digest(&self, value: &TokenValue) -> [u8; 32] {
        hmac_sha256(&self.digest_key, value.0.as_bytes())
    }

    /// `nonce || ciphertext`, bound to the token id so a ciphertext cannot be moved to another row.
    pub fn encrypt(&self, token_id: Uuid, value: &TokenValue) -> anyhow::Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill(&mut nonce);
        let ct = self
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: value.0.as_bytes(),
                    aad: token_id.as_bytes(),
                },
            )
            .map_err(|_| anyhow::anyhow!("token encryption failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(out)
    }

    pub fn decrypt(&self, token_id: Uuid, sealed: &[u8]) -> anyhow::Result<TokenValue> {
        anyhow::ensure!(sealed.len() > NONCE_LEN, "sealed token too short");
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into()?;
        let plain = self
            .cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ct,
                    aad: token_id.as_bytes(),
                },
            )
            .map_err(|_| anyhow::anyhow!("token decryption failed (wrong SECRET_KEY?)"))?;
        Ok(TokenValue(String::from_utf8(plain)?))
    }
}

/// HMAC-SHA256 as a PRF keyed by the master secret: a standard way to derive independent subkeys.
fn derive_subkey(secret: &[u8], label: &[u8]) -> [u8; 32] {
    hmac_sha256(secret, label)
}

pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_values_parse_and_are_distinct() {
        let a = TokenValue::generate();
        let b = TokenValue::generate();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), TOKEN_LEN);
        assert!(a.expose().starts_with(PREFIX));
        assert_eq!(TokenValue::parse(a.expose()), Some(a));
    }

    #[test]
    fn a_single_changed_character_fails_the_checksum() {
        let v = TokenValue::generate();
        let mut s = v.expose().to_owned().into_bytes();
        let i = PREFIX.len() + 3;
        s[i] = if s[i] == b'a' { b'b' } else { b'a' };
        assert!(TokenValue::parse(std::str::from_utf8(&s).unwrap()).is_none());
        assert!(TokenValue::parse("sbx_short").is_none());
        assert!(TokenValue::parse("").is_none());
    }

    #[test]
    fn encryption_round_trips_and_is_bound_to_the_token_id() {
        let keys = TokenKeys::derive(b"a test secret that is long enough!!");
        let id = Uuid::new_v4();
        let v = TokenValue::generate();
        let sealed = keys.encrypt(id, &v).unwrap();
        assert_eq!(keys.decrypt(id, &sealed).unwrap(), v);
        assert!(keys.decrypt(Uuid::new_v4(), &sealed).is_err());
        assert!(!String::from_utf8_lossy(&sealed).contains(v.expose()));
    }

    #[test]
    fn debug_output_never_shows_the_value() {
        let v = TokenValue::generate();
        assert!(!format!("{v:?}").contains(v.expose()));
    }
}
