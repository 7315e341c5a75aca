//! The one error type of the core. The SQL edge maps each variant to one SQLSTATE.
use std::fmt;

/// Why a token was rejected: the `<reason>` word of the contract (section 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Malformed,
    BadSignature,
    AlgNone,
    AlgNotAllowed,
    UnsupportedAlg,
    UnknownKid,
    Expired,
    NotYetValid,
    BadAudience,
    BadIssuer,
    MissingClaim,
    BadClaimType,
    CritUnsupported,
    TooLarge,
    Revoked,
}

impl Reason {
    /// Every reason, in the contract's order.
    pub const ALL: [Reason; 15] = [
        Reason::Malformed,
        Reason::BadSignature,
        Reason::AlgNone,
        Reason::AlgNotAllowed,
        Reason::UnsupportedAlg,
        Reason::UnknownKid,
        Reason::Expired,
        Reason::NotYetValid,
        Reason::BadAudience,
        Reason::BadIssuer,
        Reason::MissingClaim,
        Reason::BadClaimType,
        Reason::CritUnsupported,
        Reason::TooLarge,
        Reason::Revoked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Malformed => "malformed",
            Reason::BadSignature => "bad_signature",
            Reason::AlgNone => "alg_none",
            Reason::AlgNotAllowed => "alg_not_allowed",
            Reason::UnsupportedAlg => "unsupported_alg",
            Reason::UnknownKid => "unknown_kid",
            Reason::Expired => "expired",
            Reason::NotYetValid => "not_yet_valid",
            Reason::BadAudience => "bad_audience",
            Reason::BadIssuer => "bad_issuer",
            Reason::MissingClaim => "missing_claim",
            Reason::BadClaimType => "bad_claim_type",
            Reason::CritUnsupported => "crit_unsupported",
            Reason::TooLarge => "too_large",
            Reason::Revoked => "revoked",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every failure of the core. Messages never carry a token, a secret or key material
/// (SECURITY: details only name claims, algorithms, kids and positions).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The token is rejected (28000). `detail` says what exactly, without token bytes.
    #[error("invalid JWT: {reason}")]
    Token { reason: Reason, detail: String },
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
