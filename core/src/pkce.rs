//! RFC 7636 PKCE: verifier checks, S256 / plain challenges, constant-time comparison.
use crate::b64;
use crate::error::{AuthError, Result};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const MIN_LEN: usize = 43;
pub const MAX_LEN: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    S256,
    Plain,
}

impl Method {
    /// `S256` or `plain` in any letter case: supabase-js (auth-js) sends `s256`, and
    /// Supabase Auth lower-cases the method before comparing.
    pub fn parse(name: &str) -> Result<Method> {
        match name {
            n if n.eq_ignore_ascii_case("S256") => Ok(Method::S256),
            n if n.eq_ignore_ascii_case("plain") => Ok(Method::Plain),
            other => Err(AuthError::InvalidOption(format!(
                "unsupported PKCE method {} (use \"S256\" or \"plain\")",
                crate::json::quote(other)
            ))),
        }
    }
}

/// 43 to 128 characters of the unreserved set `[A-Za-z0-9-._~]` (RFC 7636 section 4.1).
pub fn is_valid_verifier(v: &str) -> bool {
    (MIN_LEN..=MAX_LEN).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

fn derive(verifier: &str, method: Method) -> String {
    match method {
        Method::S256 => b64::encode(&Sha256::digest(verifier.as_bytes())),
        Method::Plain => verifier.to_owned(),
    }
}

/// The challenge for a verifier; a malformed verifier is an error.
pub fn challenge(verifier: &str, method: Method) -> Result<String> {
    if !is_valid_verifier(verifier) {
        return Err(AuthError::InvalidOption(
            "a PKCE verifier is 43 to 128 characters of [A-Za-z0-9-._~]".into(),
        ));
    }
    Ok(derive(verifier, method))
}

/// Whether `verifier` answers `challenge`; false for a malformed verifier.
pub fn verify(verifier: &str, challenge: &str, method: Method) -> bool {
    is_valid_verifier(verifier)
        && bool::from(
            derive(verifier, method)
                .as_bytes()
                .ct_eq(challenge.as_bytes()),
        )
}

/// A new verifier of `len` characters from the OS CSPRNG. Each character takes 6 random
/// bits, drawn uniformly from the 64 base64url characters (all in the unreserved set).
pub fn new_verifier(len: i32) -> Result<String> {
    let len = usize::try_from(len)
        .ok()
        .filter(|l| (MIN_LEN..=MAX_LEN).contains(l))
        .ok_or_else(|| {
            AuthError::InvalidOption(format!("verifier length must be {MIN_LEN} to {MAX_LEN}"))
        })?;
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bytes = vec![0u8; len];
    getrandom::fill(&mut bytes).expect("the OS CSPRNG is available");
    Ok(bytes
        .iter()
        .map(|b| ALPHABET[(b & 63) as usize] as char)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7636 appendix B
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn rfc7636_appendix_b() {
        assert_eq!(challenge(VERIFIER, Method::S256).unwrap(), CHALLENGE);
        assert!(verify(VERIFIER, CHALLENGE, Method::S256));
        assert!(!verify(VERIFIER, &CHALLENGE[1..], Method::S256));
        assert!(!verify(VERIFIER, CHALLENGE, Method::Plain));
        assert!(verify(VERIFIER, VERIFIER, Method::Plain));
    }

    #[test]
    fn verifier_rules() {
        assert!(is_valid_verifier(&"a".repeat(43)));
        assert!(is_valid_verifier(&"~._-".repeat(32)));
        assert!(!is_valid_verifier(&"a".repeat(42)));
        assert!(!is_valid_verifier(&"a".repeat(129)));
        assert!(!is_valid_verifier(&format!("{}+", "a".repeat(43))));
        assert!(!is_valid_verifier(&format!("{}é", "a".repeat(42))));
        assert!(!verify(&"a".repeat(42), &"a".repeat(42), Method::Plain));
        assert!(challenge("short", Method::S256).is_err());
        for (name, m) in [
            ("S256", Method::S256),
            ("s256", Method::S256),
            ("plain", Method::Plain),
            ("PLAIN", Method::Plain),
            ("Plain", Method::Plain),
        ] {
            assert_eq!(Method::parse(name).unwrap(), m);
        }
        for bad in ["S384", "sha256", "", " S256", "none"] {
            assert!(Method::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn new_verifiers_are_valid_and_distinct() {
        for len in [43, 64, 128] {
            let v = new_verifier(len).unwrap();
            assert_eq!(v.len(), len as usize);
            assert!(is_valid_verifier(&v));
        }
        assert_ne!(new_verifier(43).unwrap(), new_verifier(43).unwrap());
        assert!(new_verifier(42).is_err());
        assert!(new_verifier(129).is_err());
        assert!(new_verifier(-1).is_err());
    }
}
