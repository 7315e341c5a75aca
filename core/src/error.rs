//! The one error type of the core. The SQL edge maps each variant to one SQLSTATE.
use std::fmt;

/// An enum of the contract's words: each variant with its text, every variant in order
/// (`ALL`), the text (`as_str`, Display) and back (`parse`).
macro_rules! words {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {
            $($variant,)*
        }

        impl $name {
            /// Every variant, in the contract's order.
            pub const ALL: [$name; [$($text),*].len()] = [$($name::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }

            pub fn parse(s: &str) -> Option<$name> {
                $name::ALL.into_iter().find(|w| w.as_str() == s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

words! {
    /// Why a token was rejected: the `<reason>` word of the contract (section 5).
    Reason {
        Malformed => "malformed",
        BadSignature => "bad_signature",
        AlgNone => "alg_none",
        AlgNotAllowed => "alg_not_allowed",
        UnsupportedAlg => "unsupported_alg",
        UnknownKid => "unknown_kid",
        Expired => "expired",
        NotYetValid => "not_yet_valid",
        BadAudience => "bad_audience",
        BadIssuer => "bad_issuer",
        MissingClaim => "missing_claim",
        BadClaimType => "bad_claim_type",
        CritUnsupported => "crit_unsupported",
        TooLarge => "too_large",
        Revoked => "revoked",
    }
}

words! {
    /// What a database-side flow (section 4) was handed.
    Credential {
        AuthCode => "auth code",
        RefreshToken => "refresh token",
    }
}

words! {
    /// Why a flow refused an auth code or a refresh token (section 4).
    FlowReason {
        Malformed => "malformed",
        Unknown => "unknown",
        Expired => "expired",
        BadVerifier => "bad_verifier",
        SessionRevoked => "session_revoked",
        SessionExpired => "session_expired",
        Reused => "reused",
        WrongClient => "wrong_client",
        WrongRedirectUri => "wrong_redirect_uri",
    }
}

/// Every failure of the core. Messages never carry a token, a secret or key material
/// (SECURITY: details only name claims, algorithms, kids and positions).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The token is rejected (28000). `detail` says what exactly, without token bytes.
    #[error("invalid JWT: {reason}")]
    Token { reason: Reason, detail: String },
    /// A flow refused an auth code or a refresh token (28000).
    #[error("invalid {what}: {reason}")]
    Flow {
        what: Credential,
        reason: FlowReason,
        detail: Option<String>,
    },
    /// A key could not be read or cannot do what was asked (22023).
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// An option, algorithm name, PKCE method or argument is wrong (22023).
    #[error("invalid option: {0}")]
    InvalidOption(String),
}

impl AuthError {
    pub fn token(reason: Reason, detail: impl Into<String>) -> Self {
        AuthError::Token {
            reason,
            detail: detail.into(),
        }
    }

    /// The rejection reason, for a token error.
    pub fn reason(&self) -> Option<Reason> {
        match self {
            AuthError::Token { reason, .. } => Some(*reason),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, AuthError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_the_contracts() {
        let e = AuthError::Flow {
            what: Credential::AuthCode,
            reason: FlowReason::BadVerifier,
            detail: None,
        };
        assert_eq!(e.to_string(), "invalid auth code: bad_verifier");
        assert_eq!(
            AuthError::token(Reason::Revoked, "x").to_string(),
            "invalid JWT: revoked"
        );
        for r in Reason::ALL {
            assert_eq!(Reason::parse(r.as_str()), Some(r));
        }
        for r in FlowReason::ALL {
            assert_eq!(FlowReason::parse(r.as_str()), Some(r));
        }
        for c in Credential::ALL {
            assert_eq!(Credential::parse(c.as_str()), Some(c));
        }
        assert_eq!(FlowReason::parse("nope"), None);
    }
}
