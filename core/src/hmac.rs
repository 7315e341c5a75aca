//! HMAC (HS256, HS384, HS512) over the `hmac` and `sha2` crates: what jwt.rs and pgjwt.rs
//! sign and verify with.
use crate::alg::Alg;
use hmac::{Mac, SimpleHmac};

macro_rules! with_hmac {
    ($alg:expr, $secret:expr, |$mac:ident| $body:expr) => {
        match $alg {
            Alg::HS256 => {
                let mut $mac =
                    SimpleHmac::<sha2::Sha256>::new_from_slice($secret).expect("any key length");
                $body
            }
            Alg::HS384 => {
                let mut $mac =
                    SimpleHmac::<sha2::Sha384>::new_from_slice($secret).expect("any key length");
                $body
            }
            Alg::HS512 => {
                let mut $mac =
                    SimpleHmac::<sha2::Sha512>::new_from_slice($secret).expect("any key length");
                $body
            }
            _ => unreachable!("only HMAC algorithms reach HMAC code"),
        }
    };
}

/// Constant-time comparison of the tag (hmac's `verify_slice` uses `subtle`).
pub fn hmac_verify(alg: Alg, secret: &[u8], input: &[u8], signature: &[u8]) -> bool {
    with_hmac!(alg, secret, |mac| {
        mac.update(input);
        mac.verify_slice(signature).is_ok()
    })
}

pub fn hmac_sign(alg: Alg, secret: &[u8], input: &[u8]) -> Vec<u8> {
    with_hmac!(alg, secret, |mac| {
        mac.update(input);
        mac.finalize().into_bytes().to_vec()
    })
}
