//! Key material as plain bytes: an HMAC secret, or the parts of an RSA, EC or Ed25519 key.
//! keys.rs reads keys into it, asym.rs and hmac.rs sign and verify with it; it depends on
//! nothing but the algorithm families.
use crate::alg::Family;

#[derive(Clone, PartialEq, Eq)]
pub enum Material {
    /// The secret bytes of an HMAC key (a text secret or an oct JWK).
    Hmac(Vec<u8>),
    /// An RSA key: modulus and exponent (big-endian, no leading zeros), and the private
    /// parts when it can sign.
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
        private: Option<RsaPrivate>,
    },
    /// An EC key: its uncompressed point (0x04 || x || y), and the private scalar.
    Ec {
        family: Family,
        point: Vec<u8>,
        d: Option<Vec<u8>>,
    },
    /// An Ed25519 key: the public key, and the 32-byte seed.
    Ed25519 {
        public: Vec<u8>,
        seed: Option<Vec<u8>>,
    },
    /// An asymmetric key that serves nothing here, a type or curve we do not support (an
    /// EC P-521 key, an X25519 key). It is still never an HMAC secret.
    Unusable { family: Option<Family> },
}

/// The private parts of an RSA key (two primes, with CRT values).
#[derive(Clone, PartialEq, Eq)]
pub struct RsaPrivate {
    pub d: Vec<u8>,
    pub p: Vec<u8>,
    pub q: Vec<u8>,
    pub dp: Vec<u8>,
    pub dq: Vec<u8>,
    pub qi: Vec<u8>,
}

/// SECURITY: Debug names the kind of key only, so a stray `{:?}` never prints a secret.
impl std::fmt::Debug for Material {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Material::Hmac(s) => write!(f, "Hmac({} bytes)", s.len()),
            Material::Rsa { n, private, .. } => {
                write!(f, "Rsa({} bytes, private: {})", n.len(), private.is_some())
            }
            Material::Ec { family, d, .. } => write!(f, "Ec({family:?}, private: {})", d.is_some()),
            Material::Ed25519 { seed, .. } => write!(f, "Ed25519(private: {})", seed.is_some()),
            Material::Unusable { family } => write!(f, "Unusable({family:?})"),
        }
    }
}

impl Material {
    /// Whether the key holds what signing needs.
    pub fn can_sign(&self) -> bool {
        match self {
            Material::Hmac(_) => true,
            Material::Rsa { private, .. } => private.is_some(),
            Material::Ec { d, .. } => d.is_some(),
            Material::Ed25519 { seed, .. } => seed.is_some(),
            Material::Unusable { .. } => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_key_bytes() {
        let m = Material::Rsa {
            n: vec![0xAB; 256],
            e: vec![1, 0, 1],
            private: None,
        };
        assert_eq!(format!("{m:?}"), "Rsa(256 bytes, private: false)");
        assert_eq!(
            format!("{:?}", Material::Hmac(b"hunter2".to_vec())),
            "Hmac(7 bytes)"
        );
    }
}
