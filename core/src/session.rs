//! Section 3b: whether a token's session has ended. The extension reads the session store
//! (its own flow sessions, or Supabase Auth's `auth.sessions`); these rules decide.
use crate::json::Node;
use crate::{AuthError, Reason};

/// What a token's claims say about its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// No `session_id` (or a JSON null): not a session's token (an API key), not checked.
    None,
    /// A `session_id` that reads as a uuid.
    Id([u8; 16]),
    /// A `session_id` that names no session any store can hold (not a uuid string): ended.
    Bad,
}

impl Claim {
    /// From the verified claims tree.
    pub fn of(claims: &Node) -> Claim {
        match claims.get("session_id") {
            None | Some(Node::Null) => Claim::None,
            Some(Node::Str(s)) => Claim::text(std::str::from_utf8(s).ok()),
            Some(_) => Claim::Bad,
        }
    }

    /// From `claims ->> 'session_id'` (None: absent or null).
    pub fn text(id: Option<&str>) -> Claim {
        match id {
            None => Claim::None,
            Some(s) => crate::uuid::parse(s).map_or(Claim::Bad, Claim::Id),
        }
    }
}

/// What the store holds for one session id, read in one snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    /// The session's subject is the token's `sub`.
    pub same_subject: bool,
    /// Its end (PostgreSQL timestamptz microseconds), if it has one.
    pub not_after: Option<i64>,
    /// A revocation is recorded for it.
    pub revoked: bool,
}

/// Live: known, the token's subject's, not revoked, and not past its end at `now`.
pub fn live(stored: Option<Stored>, now: i64) -> bool {
    stored.is_some_and(|s| s.same_subject && !s.revoked && s.not_after.is_none_or(|t| t > now))
}

/// The rejection of a token whose session has ended (28000 `invalid JWT: revoked`).
pub fn ended() -> AuthError {
    AuthError::token(
        Reason::Revoked,
        "its session has ended (signed out, revoked, expired or unknown)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0b0a3f4e-7f0c-4b5e-9a41-2f4c1e9d8a10";

    fn claims(json: &str) -> Claim {
        Claim::of(&crate::json::parse(json.as_bytes()).unwrap())
    }

    #[test]
    fn claim_of_tokens() {
        let id = crate::uuid::parse(ID).unwrap();
        assert_eq!(claims(r#"{"sub":"x"}"#), Claim::None);
        assert_eq!(claims(r#"{"session_id":null}"#), Claim::None);
        assert_eq!(
            claims(&format!(r#"{{"session_id":"{ID}"}}"#)),
            Claim::Id(id)
        );
        assert_eq!(claims(r#"{"session_id":"not-a-uuid"}"#), Claim::Bad);
        assert_eq!(claims(r#"{"session_id":""}"#), Claim::Bad);
        assert_eq!(claims(r#"{"session_id":42}"#), Claim::Bad);
        assert_eq!(claims(r#"{"session_id":["x"]}"#), Claim::Bad);
        assert_eq!(Claim::text(None), Claim::None);
        assert_eq!(Claim::text(Some(ID)), Claim::Id(id));
        assert_eq!(Claim::text(Some("42")), Claim::Bad);
    }

    #[test]
    fn liveness() {
        let ok = Stored {
            same_subject: true,
            not_after: None,
            revoked: false,
        };
        assert!(live(Some(ok), 100));
        assert!(live(
            Some(Stored {
                not_after: Some(101),
                ..ok
            }),
            100
        ));
        assert!(!live(
            Some(Stored {
                not_after: Some(100),
                ..ok
            }),
            100
        ));
        assert!(!live(
            Some(Stored {
                revoked: true,
                ..ok
            }),
            100
        ));
        assert!(!live(
            Some(Stored {
                same_subject: false,
                ..ok
            }),
            100
        ));
        assert!(!live(None, 100));
    }

    #[test]
    fn the_rejection_says_revoked_and_nothing_else() {
        let e = ended();
        assert_eq!(e.reason(), Some(Reason::Revoked));
        assert_eq!(e.to_string(), "invalid JWT: revoked");
    }
}
