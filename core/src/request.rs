//! The per-request step of PostgREST and the API gateway, without PostgreSQL: where the
//! role is in the claims (a dot path), which roles are allowed, the Authorization header,
//! and the claims written back with `role` filled in.
use crate::error::{AuthError, Reason, Result};
use crate::json;
use crate::jsonb::Node;
use std::borrow::Cow;

/// One step of a role claim path: an object member or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// `auth.jwt_role_claim`: a dot path like PostgREST's jwt-role-claim-key. Examples: `role`,
/// `.role`, `app_metadata.role`, `."https://example.com/role"`, `realm_access.roles[0]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolePath(pub Vec<Step>);

fn bad_path(why: &str) -> AuthError {
    AuthError::InvalidOption(format!("auth.jwt_role_claim: {why}"))
}

impl RolePath {
    pub fn parse(text: &str) -> Result<RolePath> {
        let s = text.trim();
        let s = s.strip_prefix('.').unwrap_or(s);
        let b = s.as_bytes();
        let mut steps = Vec::new();
        let mut i = 0;
        loop {
            // a key: quoted (may hold dots and brackets) or bare
            if b.get(i) == Some(&b'"') {
                let end = s[i + 1..]
                    .find('"')
                    .ok_or_else(|| bad_path("a quoted key is not closed"))?;
                let key = &s[i + 1..i + 1 + end];
                if key.is_empty() {
                    return Err(bad_path("a key is empty"));
                }
                steps.push(Step::Key(key.to_owned()));
                i += end + 2;
            } else {
                let end = s[i..].find(['.', '[']).map_or(s.len(), |e| i + e);
                if end == i {
                    return Err(bad_path("a key is empty"));
                }
                if s[i..end].contains([']', '"']) {
                    return Err(bad_path("quote a key that holds '\"' or ']'"));
                }
                steps.push(Step::Key(s[i..end].to_owned()));
                i = end;
            }
            // any number of [n]
            while b.get(i) == Some(&b'[') {
                let close = s[i..]
                    .find(']')
                    .ok_or_else(|| bad_path("an index is not closed"))?;
                let n = s[i + 1..i + close]
                    .parse::<usize>()
                    .map_err(|_| bad_path("an index must be a whole number"))?;
                steps.push(Step::Index(n));
                i += close + 1;
            }
            match b.get(i) {
                None => return Ok(RolePath(steps)),
                Some(b'.') => i += 1,
                Some(_) => return Err(bad_path("expected '.' or '[' after a key")),
            }
            if i == b.len() {
                return Err(bad_path("the path ends with '.'"));
            }
        }
    }

    /// The node the path names in `claims`, if any.
    pub fn resolve<'t, 'a>(&self, claims: &'t Node<'a>) -> Option<&'t Node<'a>> {
        self.0
            .iter()
            .try_fold(claims, |node, step| match (step, node) {
                (Step::Key(k), Node::Obj(_)) => node.get(k),
                (Step::Index(i), Node::Arr(items)) => items.get(*i),
                _ => None,
            })
    }

    /// The role the claims name: the string at the path, or `anon` when there is nothing
    /// there. Anything but a non-empty string is a bad claim (28000).
    pub fn role_of(&self, claims: &Node, anon: &str) -> Result<String> {
        match self.resolve(claims) {
            None | Some(Node::Null) => Ok(anon.to_owned()),
            Some(n) => match n.as_str() {
                Some(r) if !r.is_empty() => Ok(r.to_owned()),
                _ => Err(AuthError::token(
                    Reason::BadClaimType,
                    "the role claim must be a non-empty string",
                )),
            },
        }
    }
}

/// A comma-separated setting (auth.allowed_roles, auth.jwt_iss): trimmed, empties dropped.
pub fn list(setting: &str) -> Vec<&str> {
    setting
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// The token in an Authorization header: None for a NULL or empty header (the API key is
/// the token), the token of `Bearer <token>` (scheme in any case), else 28000.
pub fn bearer(header: Option<&str>) -> Result<Option<&str>> {
    let h = header.map(str::trim).unwrap_or("");
    if h.is_empty() {
        return Ok(None);
    }
    let malformed = || {
        AuthError::token(
            Reason::Malformed,
            "the Authorization header must be \"Bearer <token>\"",
        )
    };
    let (scheme, token) = h.split_once([' ', '\t']).ok_or_else(malformed)?;
    let token = token.trim_start_matches([' ', '\t']);
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.contains([' ', '\t']) {
        return Err(malformed());
    }
    Ok(Some(token))
}

/// The claims as compact JSON text with the top-level `role` set to `role`. When it
/// already is, `text` is returned as is (the common case: no rewrite).
pub fn with_role(claims: &Node, text: &str, role: &str) -> String {
    if claims.get("role").and_then(Node::as_str) == Some(role) {
        return text.to_owned();
    }
    with_members(claims, &[("role", json::quote(role))])
}

/// Set the top-level `role` of parsed claims (an object), as [`with_role`] does to text.
pub fn set_role(claims: &mut Node, role: &str) {
    if let Node::Obj(pairs) = claims {
        pairs.retain(|(k, _)| k.as_ref() != b"role");
        pairs.push((
            Cow::Borrowed(&b"role"[..]),
            Node::Str(Cow::Owned(role.as_bytes().to_vec())),
        ));
    }
}

/// Compact JSON text of an object with `extra` members replacing any of the same name
/// (for auth.sign's iat / exp). `extra` values are JSON text.
pub fn with_members(claims: &Node, extra: &[(&str, String)]) -> String {
    let mut out = String::from("{");
    if let Node::Obj(pairs) = claims {
        for (k, v) in pairs
            .iter()
            .filter(|(k, _)| !extra.iter().any(|(n, _)| n.as_bytes() == k.as_ref()))
        {
            write_str(&mut out, k);
            out.push(':');
            write(&mut out, v);
            out.push(',');
        }
    }
    for (name, value) in extra {
        out.push_str(&json::quote(name));
        out.push(':');
        out.push_str(value);
        out.push(',');
    }
    if out.len() > 1 {
        out.pop();
    }
    out.push('}');
    out
}

fn write_str(out: &mut String, s: &[u8]) {
    // Parsed strings are valid UTF-8 (the parser checks it).
    out.push_str(&json::quote(&String::from_utf8_lossy(s)));
}

/// Compact JSON text of a node (numbers byte for byte as they came).
fn write(out: &mut String, n: &Node) {
    match n {
        Node::Null => out.push_str("null"),
        Node::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Node::Num(t) => out.push_str(t),
        Node::Str(s) => write_str(out, s),
        Node::Arr(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(out, item);
            }
            out.push(']');
        }
        Node::Obj(pairs) => {
            out.push('{');
            for (i, (k, v)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(out, k);
                out.push(':');
                write(out, v);
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jsonb::parse;

    fn role(path: &str, claims: &str) -> Result<String> {
        RolePath::parse(path)?.role_of(&parse(claims.as_bytes()).unwrap(), "anon")
    }

    #[test]
    fn role_paths_like_postgrest() {
        let c = r#"{"role":"authenticated","app_metadata":{"role":"admin","roles":["a","b"]},"https://x.io/role":"web","a.b":{"c":"dotted"}}"#;
        assert_eq!(role("role", c).unwrap(), "authenticated");
        assert_eq!(role(".role", c).unwrap(), "authenticated");
        assert_eq!(role("app_metadata.role", c).unwrap(), "admin");
        assert_eq!(role(".app_metadata.roles[1]", c).unwrap(), "b");
        assert_eq!(role(r#"."https://x.io/role""#, c).unwrap(), "web");
        assert_eq!(role(r#""a.b".c"#, c).unwrap(), "dotted");
        // absent anywhere along the path: anon
        for p in [
            "nope",
            "app_metadata.nope",
            "app_metadata.roles[5]",
            "role.x",
            "role[0]",
        ] {
            assert_eq!(role(p, c).unwrap(), "anon", "{p}");
        }
        assert_eq!(role("role", r#"{"role":null}"#).unwrap(), "anon");
        for bad in [r#"{"role":""}"#, r#"{"role":5}"#, r#"{"role":["x"]}"#] {
            assert_eq!(
                role("role", bad).unwrap_err().reason(),
                Some(Reason::BadClaimType)
            );
        }
    }

    #[test]
    fn bad_role_paths_are_option_errors() {
        for p in [
            "", ".", "a.", "a..b", "a[", "a[x]", "a[-1]", "\"a", "\"\"", "a]b", "a\"b\"",
        ] {
            assert!(
                matches!(RolePath::parse(p), Err(AuthError::InvalidOption(_))),
                "{p:?}"
            );
        }
    }

    #[test]
    fn authorization_header() {
        assert_eq!(bearer(None).unwrap(), None);
        assert_eq!(bearer(Some("")).unwrap(), None);
        assert_eq!(bearer(Some("  ")).unwrap(), None);
        assert_eq!(bearer(Some("Bearer abc")).unwrap(), Some("abc"));
        assert_eq!(bearer(Some("bEaReR   abc ")).unwrap(), Some("abc"));
        for bad in [
            "abc",
            "Basic abc",
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "Bearerabc",
            "Token abc",
        ] {
            assert_eq!(
                bearer(Some(bad)).unwrap_err().reason(),
                Some(Reason::Malformed),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn role_is_filled_in_and_nothing_else_changes() {
        let text = r#"{"sub":"u","n":123456789012345678901234567890,"s":"\u00e9\"","a":[1,{"b":null}],"role":"x","t":true}"#;
        let claims = parse(text.as_bytes()).unwrap();
        let out = with_role(&claims, text, "anon");
        assert_eq!(
            out,
            r#"{"sub":"u","n":123456789012345678901234567890,"s":"é\"","a":[1,{"b":null}],"t":true,"role":"anon"}"#
        );
        assert_eq!(with_role(&claims, text, "x"), text, "unchanged when equal");
        let empty = parse(b"{}").unwrap();
        assert_eq!(with_role(&empty, "{}", "anon"), r#"{"role":"anon"}"#);
        let mut tree = parse(text.as_bytes()).unwrap();
        set_role(&mut tree, "anon");
        assert_eq!(tree, parse(out.as_bytes()).unwrap(), "tree and text agree");
        assert_eq!(
            with_members(&claims, &[("iat", "1".into()), ("sub", "\"v\"".into())]),
            r#"{"n":123456789012345678901234567890,"s":"é\"","a":[1,{"b":null}],"role":"x","t":true,"iat":1,"sub":"v"}"#
        );
        assert_eq!(with_members(&empty, &[]), "{}");
    }

    #[test]
    fn lists() {
        assert_eq!(
            list(" anon, authenticated ,,service_role "),
            ["anon", "authenticated", "service_role"]
        );
        assert!(list("").is_empty());
    }
}
