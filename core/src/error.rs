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

    pub fn parse(s: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.as_str() == s)
    }

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

/// What a database-side flow (section 4) was handed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    AuthCode,
    RefreshToken,
}

impl Credential {
    pub const ALL: [Credential; 2] = [Credential::AuthCode, Credential::RefreshToken];

    pub fn as_str(self) -> &'static str {
        match self {
            Credential::AuthCode => "auth code",
            Credential::RefreshToken => "refresh token",
        }
    }

    pub fn parse(s: &str) -> Option<Credential> {
        Credential::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a flow refused an auth code or a refresh token (section 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowReason {
    Malformed,
    Unknown,
    Expired,
    BadVerifier,
    SessionRevoked,
    SessionExpired,
    Reused,
}

impl FlowReason {
    pub const ALL: [FlowReason; 7] = [
        FlowReason::Malformed,
        FlowReason::Unknown,
        FlowReason::Expired,
        FlowReason::BadVerifier,
        FlowReason::SessionRevoked,
        FlowReason::SessionExpired,
        FlowReason::Reused,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FlowReason::Malformed => "malformed",
            FlowReason::Unknown => "unknown",
            FlowReason::Expired => "expired",
            FlowReason::BadVerifier => "bad_verifier",
            FlowReason::SessionRevoked => "session_revoked",
            FlowReason::SessionExpired => "session_expired",
            FlowReason::Reused => "reused",
        }
    }

    pub fn parse(s: &str) -> Option<FlowReason> {
        FlowReason::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for FlowReason {
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
