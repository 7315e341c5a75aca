//! pgjwt 0.2.0's `sign` and `verify`, natively: the same tokens byte for byte, and the same
//! answer (`valid` false, not an error) for a wrong secret, an expired or a not-yet-valid
//! token. Stricter than pgjwt where pgjwt is unsafe or accidental (README: Moving from
//! pgjwt): only HS256/384/512; a header whose alg is not the one asked for is not valid;
//! a non-numeric exp or nbf is not valid (pgjwt ignores it); a token that is not three
//! canonical base64url segments of JSON raises 28000 malformed.
use crate::alg::{Alg, Family};
use crate::error::{AuthError, Reason, Result};
use crate::hmac::{hmac_sign, hmac_verify};
use crate::json::Node;
use crate::jwt::object;
use crate::{b64, json};

fn hs(algorithm: &str) -> Result<Alg> {
    Alg::from_name(algorithm)
        .filter(|a| a.family() == Family::Hmac)
        .ok_or_else(|| {
            AuthError::InvalidOption(format!(
                "pgjwt signs with HS256, HS384 or HS512, not {}",
                json::quote(algorithm)
            ))
        })
}

/// pgjwt.sign: header `{"alg":"<algorithm>","typ":"JWT"}` and the payload's JSON text
/// exactly as given, base64url without padding, HMAC with the secret's bytes.
pub fn sign(payload: &str, secret: &[u8], algorithm: &str) -> Result<String> {
    let alg = hs(algorithm)?;
    let header = format!("{{\"alg\":\"{algorithm}\",\"typ\":\"JWT\"}}");
    let input = format!(
        "{}.{}",
        b64::encode(header.as_bytes()),
        b64::encode(payload.as_bytes())
    );
    let tag = hmac_sign(alg, secret, input.as_bytes());
    Ok(format!("{input}.{}", b64::encode(&tag)))
}

/// pgjwt.verify's row: the header and payload JSON text as in the token, and whether the
/// signature matches and `now` (Unix seconds) is in [nbf, exp).
pub struct Verified {
    pub header: String,
    pub payload: String,
    pub valid: bool,
}

fn malformed(detail: &str) -> AuthError {
    AuthError::token(Reason::Malformed, detail)
}

fn segment(text: &str, name: &str) -> Result<String> {
    let bytes = b64::decode(text)
        .ok_or_else(|| malformed(&format!("the {name} segment is not unpadded base64url")))?;
    String::from_utf8(bytes).map_err(|_| malformed(&format!("the {name} is not UTF-8")))
}

/// A time claim as pgjwt reads it: absent or null is no bound; a number is the bound;
/// anything else makes the token not valid (None).
fn bound(claims: &Node, name: &str) -> Option<Option<f64>> {
    match claims.get(name) {
        None | Some(Node::Null) => Some(None),
        Some(Node::Num(n)) => n.parse::<f64>().ok().filter(|v| v.is_finite()).map(Some),
        Some(_) => None,
    }
}

pub fn verify(token: &str, secret: &[u8], algorithm: &str, now: f64) -> Result<Verified> {
    let alg = hs(algorithm)?;
    if token.len() > crate::jwt::MAX_TOKEN_LEN {
        return Err(AuthError::token(Reason::TooLarge, "the token is too long"));
    }
    let parts: Vec<&str> = token.split('.').collect();
    let [h, p, s] = parts[..] else {
        return Err(malformed(
            "a compact JWS has exactly three dot-separated segments",
        ));
    };
    let header = segment(h, "header")?;
    let payload = segment(p, "payload")?;
    // one parse of each: validates the JSON and gives the members we read
    let header_alg = object(header.as_bytes(), "header")?
        .get("alg")
        .and_then(Node::as_str)
        .map(str::to_owned);
    let claims = object(payload.as_bytes(), "payload")?;
    let signed = b64::decode(s).is_some_and(|sig| {
        hmac_verify(
            alg,
            secret,
            &token.as_bytes()[..h.len() + 1 + p.len()],
            &sig,
        )
    });
    let in_time = match (bound(&claims, "nbf"), bound(&claims, "exp")) {
        (Some(nbf), Some(exp)) => {
            nbf.is_none_or(|n| n <= now)
                && exp.is_none_or(|e| now < e)
                && nbf.zip(exp).is_none_or(|(n, e)| n <= e)
        }
        _ => false,
    };
    let valid = signed && header_alg.as_deref() == Some(algorithm) && in_time;
    Ok(Verified {
        header,
        payload,
        valid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: f64 = 1_700_000_000.0;

    #[test]
    fn sign_is_pgjwts_construction() {
        // pgjwt's README example: sign('{"sub":"1234567890","name":"John Doe","admin":true}', 'secret')
        let t = sign(
            r#"{"sub":"1234567890","name":"John Doe","admin":true}"#,
            b"secret",
            "HS256",
        )
        .unwrap();
        assert_eq!(
            t,
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.\
             eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiYWRtaW4iOnRydWV9.\
             TJVA95OrM7E2cBab30RMHrHDcEfxjoYZgeFONFh7HgQ"
        );
        assert!(matches!(
            sign("{}", b"k", "RS256"),
            Err(AuthError::InvalidOption(_))
        ));
        assert!(matches!(
            sign("{}", b"k", "hs256"),
            Err(AuthError::InvalidOption(_))
        ));
    }

    #[test]
    fn verify_answers_like_pgjwt() {
        let ok = sign(
            r#"{"sub":"a", "nbf": 1600000000, "exp": 1800000000}"#,
            b"k",
            "HS384",
        )
        .unwrap();
        let v = verify(&ok, b"k", "HS384", NOW).unwrap();
        assert!(v.valid);
        assert_eq!(v.header, r#"{"alg":"HS384","typ":"JWT"}"#);
        assert_eq!(
            v.payload,
            r#"{"sub":"a", "nbf": 1600000000, "exp": 1800000000}"#
        );
        assert!(
            !verify(&ok, b"other", "HS384", NOW).unwrap().valid,
            "wrong secret"
        );
        assert!(
            !verify(&ok, b"k", "HS256", NOW).unwrap().valid,
            "other algorithm"
        );
        assert!(
            !verify(&ok, b"k", "HS384", 1_800_000_000.0).unwrap().valid,
            "exp is exclusive"
        );
        assert!(
            verify(&ok, b"k", "HS384", 1_600_000_000.0).unwrap().valid,
            "nbf is inclusive"
        );
        assert!(
            !verify(&ok, b"k", "HS384", 1_599_999_999.0).unwrap().valid,
            "not yet"
        );
        let bare = sign("{}", b"k", "HS512").unwrap();
        assert!(
            verify(&bare, b"k", "HS512", NOW).unwrap().valid,
            "no bounds"
        );
        let odd = sign(r#"{"exp":"soon"}"#, b"k", "HS256").unwrap();
        assert!(
            !verify(&odd, b"k", "HS256", NOW).unwrap().valid,
            "a non-numeric exp"
        );
        let inverted = sign(r#"{"nbf":2,"exp":1}"#, b"k", "HS256").unwrap();
        assert!(!verify(&inverted, b"k", "HS256", 1.5).unwrap().valid);
    }

    #[test]
    fn tampering_and_garbage() {
        let t = sign(r#"{"role":"user"}"#, b"k", "HS256").unwrap();
        let forged = t.replacen(
            &b64::encode(br#"{"role":"user"}"#),
            &b64::encode(br#"{"role":"admin"}"#),
            1,
        );
        assert!(!verify(&forged, b"k", "HS256", NOW).unwrap().valid);
        let none = format!(
            "{}.{}.",
            b64::encode(br#"{"alg":"none"}"#),
            b64::encode(b"{}")
        );
        assert!(!verify(&none, b"k", "HS256", NOW).unwrap().valid);
        let bad_sig = format!("{}.!!", &t[..t.rfind('.').unwrap()]);
        assert!(!verify(&bad_sig, b"k", "HS256", NOW).unwrap().valid);
        for garbage in ["", "a.b", "a.b.c.d", "e30.bm90IGpzb24.x", "!.e30.x"] {
            let e = verify(garbage, b"k", "HS256", NOW).err().unwrap();
            assert!(
                matches!(
                    e,
                    AuthError::Token {
                        reason: Reason::Malformed,
                        ..
                    }
                ),
                "{garbage}"
            );
        }
        assert!(matches!(
            verify(&t, b"k", "none", NOW),
            Err(AuthError::InvalidOption(_))
        ));
    }
}
