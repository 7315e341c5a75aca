//! Provider tokens kept in the database (contract section 4c): sealed with an AEAD under a
//! key derived from the `auth.vault_key` setting, which is not in the tables, and bound by
//! the associated data to the subject and the provider they belong to. A row copied to
//! another subject or provider, a swapped ciphertext, or another vault key opens nothing.
use crate::error::{AuthError, Result};
use ring::aead::LessSafeKey;

/// The shortest `auth.vault_key` accepted, in bytes.
pub const MIN_KEY_BYTES: usize = 32;

const SALT: &[u8] = b"supabase_auth_ext/provider-tokens/v1";

/// The sealing key of the provider-token store.
pub struct VaultKey(LessSafeKey);

impl VaultKey {
    /// The key from the setting's text. SECURITY: no message carries the value.
    pub fn from_setting(text: &str) -> Result<VaultKey> {
        if text.is_empty() {
            return Err(AuthError::InvalidKey("auth.vault_key is not set".into()));
        }
        if text.len() < MIN_KEY_BYTES {
            return Err(AuthError::InvalidKey(format!(
                "auth.vault_key must be at least {MIN_KEY_BYTES} bytes"
            )));
        }
        Ok(VaultKey(crate::aead::derive(
            SALT,
            text.as_bytes(),
            &[b"provider tokens".as_slice()],
        )))
    }

    /// `tokens` sealed for `subject` and `provider`.
    pub fn seal(&self, subject: &str, provider: &str, tokens: &[u8]) -> Vec<u8> {
        crate::aead::seal(&self.0, &aad(subject, provider), tokens)
    }

    /// What [`VaultKey::seal`] sealed for exactly this subject and provider; None otherwise.
    pub fn open(&self, subject: &str, provider: &str, sealed: &[u8]) -> Option<Vec<u8>> {
        crate::aead::open(&self.0, &aad(subject, provider), sealed)
    }
}

/// Length-prefixed subject and provider: ("ab", "c") and ("a", "bc") differ.
fn aad(subject: &str, provider: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + subject.len() + provider.len());
    for part in [subject, provider] {
        out.extend_from_slice(&(part.len() as u64).to_be_bytes());
        out.extend_from_slice(part.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "a vault key of at least thirty-two bytes";

    #[test]
    fn round_trip_and_nothing_in_clear() {
        let k = VaultKey::from_setting(KEY).unwrap();
        let tokens = br#"{"refresh_token":"spotify-refresh-secret"}"#;
        let sealed = k.seal("user-1", "spotify", tokens);
        assert!(!sealed.windows(14).any(|w| w == b"spotify-refres"));
        assert_eq!(k.open("user-1", "spotify", &sealed).unwrap(), tokens);
        // two seals of the same tokens differ (fresh nonce)
        assert_ne!(sealed, k.seal("user-1", "spotify", tokens));
    }

    #[test]
    fn bound_to_subject_provider_and_key() {
        let k = VaultKey::from_setting(KEY).unwrap();
        let sealed = k.seal("ab", "c", b"t");
        assert!(k.open("ab", "c", &sealed).is_some());
        assert!(k.open("a", "bc", &sealed).is_none(), "shifted boundary");
        assert!(k.open("user-2", "c", &sealed).is_none(), "another subject");
        assert!(
            k.open("ab", "github", &sealed).is_none(),
            "another provider"
        );
        let other = VaultKey::from_setting(&format!("{KEY}!")).unwrap();
        assert!(
            other.open("ab", "c", &sealed).is_none(),
            "another vault key"
        );
        let mut bent = sealed.clone();
        let last = bent.len() - 1;
        bent[last] ^= 1;
        assert!(k.open("ab", "c", &bent).is_none(), "altered");
        assert!(k.open("ab", "c", &sealed[..5]).is_none(), "truncated");
    }

    #[test]
    fn a_missing_or_short_key_is_refused_without_its_value() {
        for text in ["", "short-key-31-bytes-long-0123456"] {
            let e = VaultKey::from_setting(text).err().unwrap();
            assert!(matches!(e, AuthError::InvalidKey(_)));
            assert!(text.is_empty() || !e.to_string().contains(text));
        }
        assert!(VaultKey::from_setting(&"k".repeat(MIN_KEY_BYTES)).is_ok());
    }
}
