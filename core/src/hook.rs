//! Supabase Auth's custom access token hook (contract section 4d): the event the hook is
//! given, and the checks its answer must pass before its claims are signed.
//!
//! The hook may add, change or remove claims, with these limits (the contract names the
//! claims that must stay; how they may change is our choice, so that a hook cannot swap a
//! token's identity or outlive what the flow granted): `sub`, `session_id`, `iat` and
//! `client_id` stay exactly as given (an absent one stays absent); `scope` may only lose
//! scopes; `exp` stays a number no later than given; `role` stays a string; `aud`, when
//! given, stays a string or an array of strings.
use crate::error::{AuthError, Result};
use crate::json::{self, Node};

fn bad(what: &str) -> AuthError {
    AuthError::InvalidOption(format!("auth.access_token_hook {what}"))
}

/// The event: `{"user_id", "claims", "authentication_method"}` (Supabase's shape; our
/// subjects are text, so `user_id` is the subject as given).
pub fn event(subject: &str, claims_json: &str, method: &str) -> String {
    format!(
        r#"{{"user_id":{},"claims":{},"authentication_method":{}}}"#,
        json::quote(subject),
        claims_json,
        json::quote(method)
    )
}

/// The claims of the hook's answer, checked against the claims it was given.
pub fn claims<'t, 'a>(given: &Node, answer: &'t Node<'a>) -> Result<&'t Node<'a>> {
    let claims = match answer.get("claims") {
        Some(c @ Node::Obj(_)) => c,
        _ => return Err(bad(r#"must return {"claims": {...}}"#)),
    };
    for name in ["sub", "session_id", "iat", "client_id"] {
        if claims.get(name) != given.get(name) {
            return Err(bad(&format!("cannot remove or change {name}")));
        }
    }
    match (
        claims.get("exp").and_then(Node::as_f64),
        given.get("exp").and_then(Node::as_f64),
    ) {
        (Some(new), Some(old)) if new <= old => {}
        (Some(_), Some(_)) => return Err(bad("cannot extend exp")),
        _ => return Err(bad("must keep exp, a number")),
    }
    match (given.get("scope"), claims.get("scope")) {
        (None, None) => {}
        (Some(old), Some(new)) if narrower(old, new) => {}
        _ => return Err(bad("may only narrow scope")),
    }
    if !matches!(claims.get("role"), Some(Node::Str(_))) {
        return Err(bad("must keep role, a string"));
    }
    if given.get("aud").is_some() {
        let ok = match claims.get("aud") {
            Some(Node::Str(_)) => true,
            Some(Node::Arr(items)) => items.iter().all(|i| matches!(i, Node::Str(_))),
            _ => false,
        };
        if !ok {
            return Err(bad("must keep aud, a string or an array of strings"));
        }
    }
    Ok(claims)
}

/// Whether scope `new` grants nothing `old` does not (both space-separated strings).
fn narrower(old: &Node, new: &Node) -> bool {
    match (old.as_str(), new.as_str()) {
        (Some(old), Some(new)) => {
            let granted = crate::oauth::scopes(old);
            crate::oauth::scopes(new)
                .iter()
                .all(|s| granted.contains(s))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIVEN: &str = r#"{"role":"authenticated","aud":"authenticated","sub":"u1","session_id":"s1","iat":100,"exp":3700}"#;

    fn check(answer: &str) -> Result<String> {
        let given = json::parse(GIVEN.as_bytes()).unwrap();
        let answer = json::parse(answer.as_bytes()).unwrap();
        let mut out = String::new();
        json::text::write(&mut out, claims(&given, &answer)?);
        Ok(out)
    }

    #[test]
    fn a_claim_may_be_added_and_role_changed() {
        let added = check(&format!(
            r#"{{"claims":{}}}"#,
            GIVEN.replace('}', r#","user_role":"admin"}"#)
        ))
        .unwrap();
        assert!(added.contains(r#""user_role":"admin""#));
        let role = GIVEN.replace(r#""role":"authenticated""#, r#""role":"editor""#);
        assert!(check(&format!(r#"{{"claims":{role}}}"#)).is_ok());
        let shorter = GIVEN.replace("3700", "1000");
        assert!(check(&format!(r#"{{"claims":{shorter}}}"#)).is_ok());
    }

    #[test]
    fn identity_lifetime_and_shape_are_kept() {
        for (from, to, why) in [
            (r#""sub":"u1","#, "", "sub removed"),
            (r#""sub":"u1""#, r#""sub":"u2""#, "sub changed"),
            (r#""session_id":"s1","#, "", "session_id removed"),
            (r#""iat":100"#, r#""iat":101"#, "iat changed"),
            ("3700", "9999", "exp extended"),
            ("3700", r#""3700""#, "exp a string"),
            (r#""role":"authenticated","#, "", "role removed"),
            (r#""role":"authenticated""#, r#""role":1"#, "role a number"),
            (r#""aud":"authenticated","#, "", "aud removed"),
            (
                r#""aud":"authenticated""#,
                r#""aud":[1]"#,
                "aud not strings",
            ),
            (
                r#""sub":"u1""#,
                r#""sub":"u1","client_id":"x""#,
                "client_id added",
            ),
            (
                r#""sub":"u1""#,
                r#""sub":"u1","scope":"admin""#,
                "scope added",
            ),
        ] {
            let c = GIVEN.replace(from, to);
            assert!(check(&format!(r#"{{"claims":{c}}}"#)).is_err(), "{why}");
        }
        assert!(check(GIVEN).is_err(), "no claims member");
        assert!(check(r#"{"claims":[]}"#).is_err());
    }

    #[test]
    fn a_clients_id_stays_and_its_scope_only_narrows() {
        let given = GIVEN.replace('}', r#","client_id":"app1","scope":"read write"}"#);
        let given_tree = json::parse(given.as_bytes()).unwrap();
        let try_claims = |from: &str, to: &str| {
            let c = given.replace(from, to);
            let answer = format!(r#"{{"claims":{c}}}"#);
            let a = json::parse(answer.as_bytes()).unwrap();
            claims(&given_tree, &a).is_ok()
        };
        assert!(try_claims("", ""));
        assert!(try_claims(r#""scope":"read write""#, r#""scope":"read""#));
        assert!(
            !try_claims(r#","client_id":"app1""#, ""),
            "client_id removed"
        );
        assert!(!try_claims(
            r#""client_id":"app1""#,
            r#""client_id":"app2""#
        ));
        assert!(!try_claims(
            r#""scope":"read write""#,
            r#""scope":"read write admin""#
        ));
        assert!(!try_claims(r#","scope":"read write""#, ""), "scope removed");
    }

    #[test]
    fn the_event_has_supabases_shape() {
        let e = event("u\"1", r#"{"a":1}"#, "token_refresh");
        let n = json::parse(e.as_bytes()).unwrap();
        assert_eq!(n.get("user_id").and_then(Node::as_str), Some("u\"1"));
        assert_eq!(
            n.get("authentication_method").and_then(Node::as_str),
            Some("token_refresh")
        );
        assert!(matches!(n.get("claims"), Some(Node::Obj(_))));
    }
}
