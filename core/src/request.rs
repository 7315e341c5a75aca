//! The per-request step of PostgREST and the API gateway, without PostgreSQL: where the
//! role is in the claims (a dot path), which roles are allowed, the Authorization header,
//! and the claims written back with `role` filled in.
use crate::error::{AuthError, Reason, Result};
use crate::json::text::{write, write_str};
use crate::json::{self, Node};
use std::borrow::Cow;

/// One step of a role claim path: an object member or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// The test of PostgREST's deprecated JSPath filter `[?(@ <op> "<value>")]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterOp {
    Equals,     // ==
    NotEquals,  // !=
    StartsWith, // ^==
    EndsWith,   // ==^
    Contains,   // *==
}

/// `auth.jwt_role_claim`, read as PostgREST reads `jwt-role-claim-key`: RFC 9535 JSONPath
/// first (`$.role`, `$.app.roles[0]`, `$['https://x.io/role']`, `$.roles[?(@ == 'a')]`),
/// else PostgREST's deprecated JSPath (`.role`, `."https://x.io/role"`, `.roles[0]`,
/// `.roles[?(@ ^== "a")]`), else our bare dot path (`role`, `app.role`, `"a.b".c`).
#[derive(Debug, Clone)]
pub enum RolePath {
    /// Member names and indexes from the root: walked on the parsed claims, no copy. Every
    /// simple path of the three syntaxes becomes this (the default `role` and `$.role` too).
    Steps(Vec<Step>),
    /// A deprecated JSPath ending in a filter: the first string of the array that passes.
    Filtered(Vec<Step>, FilterOp, String),
    /// Any other RFC 9535 query (filters, wildcards, slices, functions), evaluated by
    /// serde_json_path; its first node is the role, as in PostgREST.
    Query(Box<serde_json_path::JsonPath>),
}

fn bad_path(why: &str) -> AuthError {
    AuthError::InvalidOption(format!("auth.jwt_role_claim: {why}"))
}

impl RolePath {
    pub fn parse(text: &str) -> Result<RolePath> {
        let s = text.trim();
        if s.starts_with('$') {
            let query = serde_json_path::JsonPath::parse(s)
                .map_err(|e| bad_path(&format!("not an RFC 9535 JSONPath ({e})")))?;
            return Ok(match simple_rfc(s) {
                Some(steps) => RolePath::Steps(steps),
                None => RolePath::Query(Box::new(query)),
            });
        }
        if s.starts_with(['.', '[']) {
            return deprecated(s);
        }
        bare(s).map(RolePath::Steps)
    }

    /// The role the claims name: the string at the path, or `anon` when the path names
    /// nothing. Anything but a non-empty string there (null included) is a bad claim (28000):
    /// PostgREST would try a role named after its JSON text, which no setup has.
    pub fn role_of(&self, claims: &Node, anon: &str) -> Result<String> {
        let found = match self {
            RolePath::Steps(steps) => walk(steps, claims).map(Found::Node),
            RolePath::Filtered(steps, op, value) => match walk(steps, claims) {
                Some(Node::Arr(items)) => items
                    .iter()
                    .filter_map(Node::as_str)
                    .find(|s| op.passes(s, value))
                    .map(|s| Found::Text(s.to_owned())),
                _ => None,
            },
            RolePath::Query(q) => {
                let v = Node::to_value(claims);
                q.query(&v).first().map(|n| match n {
                    serde_json::Value::String(s) => Found::Text(s.clone()),
                    _ => Found::Other,
                })
            }
        };
        let role = match found {
            None => return anonymous(anon),
            Some(Found::Node(n)) => n.as_str().map(str::to_owned),
            Some(Found::Text(t)) => Some(t),
            Some(Found::Other) => None,
        };
        match role {
            Some(r) if !r.is_empty() => Ok(r),
            _ => Err(AuthError::token(
                Reason::BadClaimType,
                "the role claim must be a non-empty string",
            )),
        }
    }
}

/// The anonymous role: `anon`, or, when it is empty (PostgREST with no db-anon-role),
/// a refusal: anonymous access is disabled.
pub fn anonymous(anon: &str) -> Result<String> {
    if anon.is_empty() {
        return Err(AuthError::token(
            Reason::MissingClaim,
            "no role claim, and auth.anon_role is empty: anonymous access is disabled",
        ));
    }
    Ok(anon.to_owned())
}

enum Found<'t, 'a> {
    Node(&'t Node<'a>),
    Text(String),
    Other,
}

impl FilterOp {
    fn passes(self, s: &str, value: &str) -> bool {
        match self {
            FilterOp::Equals => s == value,
            FilterOp::NotEquals => s != value,
            FilterOp::StartsWith => s.starts_with(value),
            FilterOp::EndsWith => s.ends_with(value),
            FilterOp::Contains => s.contains(value),
        }
    }
}

fn walk<'t, 'a>(steps: &[Step], claims: &'t Node<'a>) -> Option<&'t Node<'a>> {
    steps
        .iter()
        .try_fold(claims, |node, step| match (step, node) {
            (Step::Key(k), Node::Obj(_)) => node.get(k),
            (Step::Index(i), Node::Arr(items)) => items.get(*i),
            _ => None,
        })
}

/// The steps of an RFC 9535 path made only of member names (`.name`, `['name']`) and
/// non-negative indexes (`[0]`), with no blank space and no escapes: None for anything
/// else (serde_json_path evaluates those). The caller has checked `s` is valid RFC 9535.
fn simple_rfc(s: &str) -> Option<Vec<Step>> {
    let b = s.as_bytes();
    let mut i = 1; // after '$'
    let mut steps = Vec::new();
    while i < b.len() {
        match b[i] {
            b'.' => {
                let start = i + 1;
                let mut end = start;
                while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_') {
                    end += 1;
                }
                if end == start || b[start].is_ascii_digit() {
                    return None;
                }
                if end < b.len() && !matches!(b[end], b'.' | b'[') {
                    return None; // a non-ASCII name, or anything else: leave it to the crate
                }
                steps.push(Step::Key(s[start..end].to_owned()));
                i = end;
            }
            b'[' => {
                let close = i + s[i..].find(']')?;
                let inner = &s[i + 1..close];
                if let Some(q) = inner.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')) {
                    if q.contains(['\\', '\'']) {
                        return None;
                    }
                    steps.push(Step::Key(q.to_owned()));
                } else if let Some(q) = inner.strip_prefix('"').and_then(|x| x.strip_suffix('"')) {
                    if q.contains(['\\', '"']) {
                        return None;
                    }
                    steps.push(Step::Key(q.to_owned()));
                } else if !inner.is_empty()
                    && inner.bytes().all(|c| c.is_ascii_digit())
                    && (inner == "0" || !inner.starts_with('0'))
                {
                    steps.push(Step::Index(inner.parse().ok()?));
                } else {
                    return None;
                }
                i = close + 1;
            }
            _ => return None,
        }
    }
    Some(steps)
}

/// PostgREST's deprecated JSPath, with its grammar: one or more of `.key` (letters, digits,
/// `_$@`, or `"quoted"` without escapes) and `[digits]`, optionally ending in one filter
/// `[?(@ <op> "value")]` with op `==`, `!=`, `^==`, `==^` or `*==`.
fn deprecated(s: &str) -> Result<RolePath> {
    let bad = |why: &str| bad_path(&format!("not a JSONPath nor a JSPath: {why}"));
    let quoted = |rest: &str| -> Result<(String, usize)> {
        let body = rest.strip_prefix('"').ok_or_else(|| bad("expected '\"'"))?;
        let end = body
            .find('"')
            .ok_or_else(|| bad("a quoted key is not closed"))?;
        Ok((body[..end].to_owned(), end + 2))
    };
    let mut steps = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let rest = &s[i..];
        if let Some(after) = rest.strip_prefix('.') {
            let n = after
                .char_indices()
                .find(|(_, c)| !(c.is_alphanumeric() || matches!(c, '_' | '$' | '@')))
                .map_or(after.len(), |(k, _)| k);
            if n > 0 {
                steps.push(Step::Key(after[..n].to_owned()));
                i += 1 + n;
            } else {
                let (key, used) = quoted(after)?;
                steps.push(Step::Key(key));
                i += 1 + used;
            }
        } else if let Some(after) = rest.strip_prefix("[?(") {
            let after = after
                .strip_prefix('@')
                .ok_or_else(|| bad("a filter starts with '@'"))?;
            let t = after.trim_start();
            let (op, len) = [
                ("==^", FilterOp::EndsWith),
                ("==", FilterOp::Equals),
                ("!=", FilterOp::NotEquals),
                ("^==", FilterOp::StartsWith),
                ("*==", FilterOp::Contains),
            ]
            .into_iter()
            .find(|(tok, _)| t.starts_with(tok))
            .map(|(tok, op)| (op, tok.len()))
            .ok_or_else(|| bad("a filter's operator is ==, !=, ^==, ==^ or *=="))?;
            let t = t[len..].trim_start();
            let (value, used) = quoted(t)?;
            if &t[used..] != ")]" {
                return Err(bad("a filter ends the path, with \")]\""));
            }
            return Ok(RolePath::Filtered(steps, op, value));
        } else if let Some(after) = rest.strip_prefix('[') {
            let n = after.bytes().take_while(u8::is_ascii_digit).count();
            if n == 0 || after.as_bytes().get(n) != Some(&b']') {
                return Err(bad("an index is [digits]"));
            }
            let idx = after[..n]
                .parse()
                .map_err(|_| bad("an index is too large"))?;
            steps.push(Step::Index(idx));
            i += n + 2;
        } else {
            return Err(bad("expected '.', '[' or a filter"));
        }
    }
    Ok(RolePath::Steps(steps))
}

/// Our bare dot path: `role`, `app_metadata.role`, `"a.b".c`, `realm_access.roles[0]`.
fn bare(s: &str) -> Result<Vec<Step>> {
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
            if s[i..end].contains([']', '"', '(', ')', '?', '@', '$', '*']) {
                return Err(bad_path(
                    "not a JSONPath ($...), a JSPath (.key...) nor a dot path (key.key)",
                ));
            }
            steps.push(Step::Key(s[i..end].to_owned()));
            i = end;
        }
        // any number of [n]
        while b.get(i) == Some(&b'[') {
            let close = s[i..]
                .find(']')
                .ok_or_else(|| bad_path("an index is not closed"))?;
            let n = s[i + 1..i + close].parse::<usize>().map_err(|_| {
                bad_path("an index must be a whole number (filters need the $ or . syntax)")
            })?;
            steps.push(Step::Index(n));
            i += close + 1;
        }
        match b.get(i) {
            None => return Ok(steps),
            Some(b'.') => i += 1,
            Some(_) => return Err(bad_path("expected '.' or '[' after a key")),
        }
        if i == b.len() {
            return Err(bad_path("the path ends with '.'"));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse;

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
        for bad in [
            r#"{"role":""}"#,
            r#"{"role":5}"#,
            r#"{"role":["x"]}"#,
            r#"{"role":null}"#,
        ] {
            assert_eq!(
                role("role", bad).unwrap_err().reason(),
                Some(Reason::BadClaimType)
            );
        }
    }

    #[test]
    fn bad_role_paths_are_option_errors() {
        for p in [
            "",
            ".",
            "a.",
            "a..b",
            "a[",
            "a[x]",
            "a[-1]",
            "\"a",
            "\"\"",
            "a]b",
            "a\"b\"",
            "$.",
            "$.a[",
            "$[?(@ == 'x')",
            ".a-b",
            ".a[?(@ = \"x\")]",
            ".a[?(@ == \"x\")].b",
            "a[?(@ == \"x\")]",
            "$role",
            ".[0",
            "[x]",
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
