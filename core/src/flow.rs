//! Secrets of the database-side flows (auth codes, refresh tokens) and the seal that lets
//! the previous refresh token, and only it, recover the session's current pair.
//!
//! The database stores a refresh token only as its SHA-256. To answer "the previous token
//! again, within auth.refresh_reuse_interval" with the *current* pair, the pair is stored
//! sealed (ChaCha20-Poly1305, ring) under a key derived (HKDF-SHA256, ring) from the previous
//! token, a server secret that is not in the tables (the configured signing key) and the
//! session id: whoever reads the tables, or a copy of them, learns nothing even with an old
//! refresh token, and whoever holds the previous token and talks to the server gets exactly
//! what the contract gives them. The flows clear the seal once the reuse interval is over.
use crate::b64;
use ring::aead::LessSafeKey;
use sha2::{Digest, Sha256};

/// Random bytes in a new auth code or refresh token (256 bits; the contract asks for 128).
pub const SECRET_BYTES: usize = 32;
/// Characters of a new secret: base64url of [`SECRET_BYTES`] bytes.
pub const SECRET_CHARS: usize = 43;

const SEAL_SALT: &[u8] = b"supabase_auth_ext/refresh-seal/v1";

/// A new auth code or refresh token: 256 bits from the OS CSPRNG, base64url.
pub fn new_secret() -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    getrandom::fill(&mut bytes).expect("the OS CSPRNG is available");
    b64::encode(&bytes)
}

/// The stored form of a secret: SHA-256 of its text.
pub fn hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// What a seal is bound to: the server's secret, the previous refresh token, the session.
pub struct SealKey<'a> {
    pub server: &'a [u8],
    pub token: &'a str,
    pub session: &'a str,
}

fn key(k: &SealKey) -> LessSafeKey {
    let server_len = (k.server.len() as u64).to_be_bytes();
    let ikm = [&server_len[..], k.server, k.token.as_bytes()].concat();
    crate::aead::derive(SEAL_SALT, &ikm, &[b"pair".as_slice(), k.session.as_bytes()])
}

/// `data` sealed for [`open`] with the same key parts: `nonce || ciphertext || tag`.
pub fn seal(k: &SealKey, data: &[u8]) -> Vec<u8> {
    crate::aead::seal(&key(k), b"", data)
}

/// What [`seal`] sealed; None for any other key parts, or altered or truncated bytes.
pub fn open(k: &SealKey, sealed: &[u8]) -> Option<Vec<u8>> {
    crate::aead::open(&key(k), b"", sealed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_fresh_base64url_of_256_bits() {
        let a = new_secret();
        let b = new_secret();
        assert_ne!(a, b);
        assert_eq!(a.len(), SECRET_CHARS);
        assert_eq!(b64::decode(&a).unwrap().len(), SECRET_BYTES);
    }

    #[test]
    fn hash_is_sha256_of_the_text() {
        // FIPS 180-2 "abc"
        assert_eq!(
            hash("abc")
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn only_the_sealing_secret_opens() {
        let t = new_secret();
        let s = SealKey {
            server: b"server secret",
            token: &t,
            session: "00000000-0000-0000-0000-000000000001",
        };
        let sealed = seal(&s, b"{\"pair\":1}");
        assert!(!sealed.windows(10).any(|w| w == b"{\"pair\":1}"));
        assert_eq!(open(&s, &sealed).unwrap(), b"{\"pair\":1}");
        let other = new_secret();
        let token = SealKey { token: &other, ..s };
        assert!(open(&token, &sealed).is_none(), "another token");
        let server = SealKey {
            server: b"server secreT",
            ..s
        };
        assert!(
            open(&server, &sealed).is_none(),
            "the tables and the token without the server's secret"
        );
        let session = SealKey {
            session: "00000000-0000-0000-0000-000000000002",
            ..s
        };
        assert!(open(&session, &sealed).is_none(), "another session");
        // the length prefix: moving bytes between server secret and token changes the key
        let moved = format!("t{t}");
        let shifted = SealKey {
            server: b"server secre",
            token: &moved,
            session: s.session,
        };
        assert!(
            open(&shifted, &sealed).is_none(),
            "not concatenated blindly"
        );
        let mut bent = sealed.clone();
        *bent.last_mut().unwrap() ^= 1;
        assert!(open(&s, &bent).is_none(), "altered tag");
        bent = sealed.clone();
        bent[0] ^= 1;
        assert!(open(&s, &bent).is_none(), "altered nonce");
        assert!(open(&s, &sealed[..5]).is_none(), "truncated");
        assert_ne!(seal(&s, b"x"), seal(&s, b"x"), "a fresh nonce each time");
    }
}
