//! JWS algorithm names (RFC 7518) and the key family each one needs.
use crate::error::{AuthError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    HS256,
    HS384,
    HS512,
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    EdDSA,
}

/// The kind of key an algorithm needs. A key serves only algorithms of its own family,
/// which is what stops algorithm confusion (an RSA public key used as an HMAC secret).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Hmac,
    Rsa,
    EcP256,
    EcP384,
    Ed25519,
}

pub const ALL: [Alg; 12] = [
    Alg::HS256,
    Alg::HS384,
    Alg::HS512,
    Alg::RS256,
    Alg::RS384,
    Alg::RS512,
    Alg::PS256,
    Alg::PS384,
    Alg::PS512,
    Alg::ES256,
    Alg::ES384,
    Alg::EdDSA,
];

impl Alg {
    /// The algorithm for an exact (case-sensitive) JWS name.
    pub fn from_name(name: &str) -> Option<Alg> {
        ALL.iter().copied().find(|a| a.name() == name)
    }

    /// Like [`Alg::from_name`], for a name the caller gave (a 22023 error when unknown).
    pub fn parse_option(name: &str) -> Result<Alg> {
        Alg::from_name(name).ok_or_else(|| {
            AuthError::InvalidOption(format!(
                "unsupported algorithm {}",
                crate::json::quote(name)
            ))
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Alg::HS256 => "HS256",
            Alg::HS384 => "HS384",
            Alg::HS512 => "HS512",
            Alg::RS256 => "RS256",
            Alg::RS384 => "RS384",
            Alg::RS512 => "RS512",
            Alg::PS256 => "PS256",
            Alg::PS384 => "PS384",
            Alg::PS512 => "PS512",
            Alg::ES256 => "ES256",
            Alg::ES384 => "ES384",
            Alg::EdDSA => "EdDSA",
        }
    }

    pub fn family(self) -> Family {
        match self {
            Alg::HS256 | Alg::HS384 | Alg::HS512 => Family::Hmac,
            Alg::RS256 | Alg::RS384 | Alg::RS512 | Alg::PS256 | Alg::PS384 | Alg::PS512 => {
                Family::Rsa
            }
            Alg::ES256 => Family::EcP256,
            Alg::ES384 => Family::EcP384,
            Alg::EdDSA => Family::Ed25519,
        }
    }
}

impl Family {
    /// The algorithm a key of this family signs with when none is named.
    pub fn default_alg(self) -> Alg {
        match self {
            Family::Hmac => Alg::HS256,
            Family::Rsa => Alg::RS256,
            Family::EcP256 => Alg::ES256,
            Family::EcP384 => Alg::ES384,
            Family::Ed25519 => Alg::EdDSA,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Family::Hmac => "an HMAC secret",
            Family::Rsa => "an RSA key",
            Family::EcP256 => "an EC P-256 key",
            Family::EcP384 => "an EC P-384 key",
            Family::Ed25519 => "an Ed25519 key",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_case_sensitive() {
        for a in ALL {
            assert_eq!(Alg::from_name(a.name()), Some(a));
        }
        assert_eq!(Alg::from_name("hs256"), None);
        assert_eq!(Alg::from_name("ES512"), None);
        assert_eq!(Alg::from_name("none"), None);
        assert!(Alg::parse_option("HS999").is_err());
    }
}
