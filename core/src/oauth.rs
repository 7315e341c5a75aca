//! Registered OAuth clients (contract section 4b): redirect URIs as they are registered and
//! matched, scopes, and client secrets.
//!
//! - Registration follows Supabase Auth's OAuth server (internal/api/oauthserver): 1 to 10
//!   redirect URIs, each with a scheme and a host, no fragment, none of the schemes that
//!   lead to script or local-file execution, and `http` only for a loopback host.
//! - Matching: a presented URI matches a registered one when the two are equal, or when
//!   the registered one, read as a pattern of Supabase's redirect-URL allow list (the glob
//!   syntax of gobwas/glob with `.` and `/` as separators), matches it: `*` is any run of
//!   characters other than `.` and `/`, `**` any run at all, `?` one character other than
//!   `.` and `/`, `[a-z]` / `[!a-z]` one character in or not in a class, `\c` the
//!   character `c`. Braces (`{a,b}`) are refused at registration.
//! - Unlike Supabase, which matches the whole string, a pattern's scheme is literal and its
//!   authority and its path are matched apart: a `*` in the host cannot swallow the `?`, `\`
//!   or `@` that ends the presented URI's real host, so `https://*.example.com/cb` never
//!   accepts `https://3627730000?.example.com/cb` (host 3627730000, an IP address). A
//!   presented URI must be printable ASCII with no `\` and no user info, and an http(s) one
//!   must name a DNS host name (Supabase's rule: letters, digits, `.` and `-`, not all
//!   digits) or a loopback address.
use crate::error::{AuthError, Result};

/// The most redirect URIs one client may register (as Supabase Auth).
pub const MAX_REDIRECT_URIS: usize = 10;
/// The longest redirect URI accepted.
pub const MAX_URI_CHARS: usize = 2048;

fn bad(msg: impl Into<String>) -> AuthError {
    AuthError::InvalidOption(msg.into())
}

/// A URI (or pattern) in parts: scheme, authority, and the rest (path, query).
struct Parts<'a> {
    scheme: &'a str,
    authority: &'a str,
    rest: &'a str,
}

/// `scheme://authority rest`. A presented URI's authority ends at `/`, `?` or `#`; a
/// pattern's only at `/` (`?` is a pattern character there).
fn parts(uri: &str, pattern: bool) -> Option<Parts<'_>> {
    let (scheme, after) = uri.split_once("://")?;
    let ends: &[char] = if pattern { &['/'] } else { &['/', '?', '#'] };
    let end = after.find(ends).unwrap_or(after.len());
    let ok_scheme = scheme
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    (ok_scheme && end > 0).then(|| Parts {
        scheme,
        authority: &after[..end],
        rest: &after[end..],
    })
}

/// The host and port of an authority `host[:port]` (`[v6]` without its brackets); None
/// when something follows a `[v6]` other than a port.
fn host_port(authority: &str) -> Option<(&str, Option<&str>)> {
    if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        match after {
            "" => Some((host, None)),
            _ => Some((host, Some(after.strip_prefix(':')?))),
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => Some((host, Some(port))),
            None => Some((authority, None)),
        }
    }
}

/// Whether a host "ends in a number" as the WHATWG URL standard reads it (its last label
/// all digits, or 0x and hex): browsers then take it for an IPv4 address, in any of the
/// forms `10.0.0.1`, `2130706433`, `0x7f.1`, `0177.0.0.1`.
fn ends_in_number(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    let last = host.rsplit('.').next().unwrap_or("");
    let hex = last
        .strip_prefix("0x")
        .or_else(|| last.strip_prefix("0X"))
        .is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
    hex || (!last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()))
}

fn loopback(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1" | "::1")
}

/// Supabase Auth's rule for a redirect host (internal/utilities/request.go): a regular
/// host name (letters, digits, `.`, `-`), and no IP address but a loopback one; stricter
/// than Supabase, any host a browser would read as an IPv4 address counts as one.
fn regular_host(host: &str) -> bool {
    let b = host.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'.' || *c == b'-')
        && !ends_in_number(host)
}

/// Check one URI (or, with `pattern`, a registered pattern); the message says what is
/// wrong with it, without repeating more of it than its scheme.
pub fn check_redirect_uri(uri: &str, pattern: bool) -> Result<()> {
    if uri.is_empty() {
        return Err(bad("a redirect URI cannot be empty"));
    }
    if uri.chars().count() > MAX_URI_CHARS {
        return Err(bad(format!(
            "a redirect URI is at most {MAX_URI_CHARS} characters"
        )));
    }
    if !uri.bytes().all(|b| (0x21..=0x7E).contains(&b)) {
        return Err(bad(
            "a redirect URI is printable ASCII with no blank space (percent-encode the rest)",
        ));
    }
    if uri.contains('#') {
        return Err(bad("a redirect URI cannot have a fragment"));
    }
    if uri.contains(['{', '}']) {
        return Err(bad("a redirect URI pattern cannot use braces"));
    }
    if !pattern && uri.contains('\\') {
        return Err(bad("a redirect URI cannot contain a backslash"));
    }
    let Some(p) = parts(uri, pattern) else {
        return Err(bad("a redirect URI must have a scheme and a host"));
    };
    if p.authority.contains('@') {
        return Err(bad("a redirect URI cannot carry user information"));
    }
    let scheme = p.scheme.to_ascii_lowercase();
    let dangerous = ["javascript", "data", "file", "vbscript", "about", "blob"];
    if dangerous.contains(&scheme.as_str()) {
        return Err(bad(format!(
            "the scheme {} is not allowed in a redirect URI",
            crate::json::quote(&scheme)
        )));
    }
    let Some((host, port)) = host_port(p.authority) else {
        return Err(bad("a redirect URI must have a scheme and a host"));
    };
    if scheme == "http" && !loopback(host) {
        return Err(bad("an http redirect URI must be for localhost"));
    }
    if pattern {
        return Ok(());
    }
    let number = |p: &str| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit());
    if port.is_some_and(|p| !number(p)) {
        return Err(bad("a redirect URI's port must be a number"));
    }
    let web = scheme == "http" || scheme == "https";
    if web && !loopback(host) && !regular_host(host) {
        return Err(bad(
            "a redirect URI's host must be a DNS name or a loopback address",
        ));
    }
    Ok(())
}

/// Check a client's list of redirect URIs at registration.
pub fn check_redirect_uris(uris: &[&str]) -> Result<()> {
    if uris.is_empty() {
        return Err(bad("a client needs at least one redirect URI"));
    }
    if uris.len() > MAX_REDIRECT_URIS {
        return Err(bad(format!(
            "a client has at most {MAX_REDIRECT_URIS} redirect URIs"
        )));
    }
    uris.iter().try_for_each(|u| check_redirect_uri(u, true))
}

/// Whether `uri` (already checked) is one of the registered URIs, or matches one read as a
/// pattern: the same scheme (any letter case), then the authority and the rest each
/// matched apart.
pub fn redirect_allowed(registered: &[&str], uri: &str) -> bool {
    let Some(u) = parts(uri, false) else {
        return false;
    };
    registered.iter().any(|r| {
        *r == uri
            || parts(r, true).is_some_and(|p| {
                p.scheme.eq_ignore_ascii_case(u.scheme)
                    && glob_match(p.authority, u.authority)
                    && glob_match(p.rest, u.rest)
            })
    })
}

#[derive(Debug, PartialEq)]
enum Tok {
    Char(char),
    /// `*`: a run of non-separators.
    Star,
    /// `**`: any run.
    Super,
    /// `?`: one non-separator.
    One,
    /// `[...]`: one character in (or, negated, not in) the ranges.
    Class(bool, Vec<(char, char)>),
}

fn separator(c: char) -> bool {
    c == '.' || c == '/'
}

/// The tokens of a pattern; None when it does not compile (an unclosed class, a trailing
/// backslash): such a pattern matches nothing but itself.
fn tokens(pattern: &str) -> Option<Vec<Tok>> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' if chars.get(i + 1) == Some(&'*') => {
                out.push(Tok::Super);
                i += 2;
                continue;
            }
            '*' => out.push(Tok::Star),
            '?' => out.push(Tok::One),
            '\\' => {
                out.push(Tok::Char(*chars.get(i + 1)?));
                i += 1;
            }
            '[' => {
                let close = i + 1 + chars[i + 1..].iter().position(|&c| c == ']')?;
                let mut body = &chars[i + 1..close];
                let negated = body.first() == Some(&'!');
                if negated {
                    body = &body[1..];
                }
                let mut ranges = Vec::new();
                let mut j = 0;
                while j < body.len() {
                    if body.get(j + 1) == Some(&'-') && j + 2 < body.len() {
                        ranges.push((body[j], body[j + 2]));
                        j += 3;
                    } else {
                        ranges.push((body[j], body[j]));
                        j += 1;
                    }
                }
                if ranges.is_empty() {
                    return None;
                }
                out.push(Tok::Class(negated, ranges));
                i = close;
            }
            c => out.push(Tok::Char(c)),
        }
        i += 1;
    }
    Some(out)
}

/// Whether the pattern matches all of `text` (dynamic programming over positions: linear
/// in the product of the lengths, no backtracking blow-up).
fn glob_match(pattern: &str, text: &str) -> bool {
    let Some(toks) = tokens(pattern) else {
        return false;
    };
    let text: Vec<char> = text.chars().collect();
    // can[j]: the tokens so far can match text[..j]
    let mut can = vec![false; text.len() + 1];
    can[0] = true;
    for tok in &toks {
        let mut next = vec![false; text.len() + 1];
        match tok {
            Tok::Star | Tok::Super => {
                let mut reach = false;
                for j in 0..=text.len() {
                    if can[j] {
                        reach = true;
                    }
                    next[j] = reach;
                    if *tok == Tok::Star && j < text.len() && separator(text[j]) {
                        reach = false;
                    }
                }
            }
            _ => {
                for j in 0..text.len() {
                    if !can[j] {
                        continue;
                    }
                    let c = text[j];
                    next[j + 1] = match tok {
                        Tok::Char(p) => *p == c,
                        Tok::One => !separator(c),
                        Tok::Class(negated, ranges) => {
                            ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated
                        }
                        Tok::Star | Tok::Super => unreachable!(),
                    };
                }
            }
        }
        can = next;
    }
    can[text.len()]
}

/// The scopes of a space-separated scope string, each once, in order (linear: a huge
/// string costs its length, not its square).
pub fn scopes(text: &str) -> Vec<&str> {
    let mut seen = std::collections::HashSet::new();
    text.split_whitespace()
        .filter(|s| seen.insert(*s))
        .collect()
}

/// The scope a code is granted: the requested scopes (each once, space-separated) when
/// every one is registered for the client; when none is requested, all of the client's.
pub fn granted_scope(requested: Option<&str>, registered: &[&str]) -> Result<String> {
    let Some(requested) = requested else {
        return Ok(scopes(&registered.join(" ")).join(" "));
    };
    let wanted = scopes(requested);
    let registered: std::collections::HashSet<&str> = registered.iter().copied().collect();
    if let Some(missing) = wanted.iter().find(|s| !registered.contains(*s)) {
        return Err(bad(format!(
            "scope {} is not registered for this client",
            crate::json::quote(missing)
        )));
    }
    Ok(wanted.join(" "))
}

/// Check a client's registered scopes: each a non-empty run of printable ASCII other than
/// `"` and `\` (RFC 6749 section 3.3's scope-token).
pub fn check_scopes(registered: &[&str]) -> Result<()> {
    for s in registered {
        let ok = !s.is_empty()
            && s.bytes()
                .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b));
        if !ok {
            return Err(bad(format!(
                "scope {} is not a scope-token (RFC 6749 section 3.3)",
                crate::json::quote(s)
            )));
        }
    }
    Ok(())
}

/// Whether a presented client secret is the one whose SHA-256 is stored, compared in
/// constant time.
pub fn secret_matches(presented: &str, stored_hash: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    let h = crate::flow::hash(presented);
    stored_hash.len() == h.len() && bool::from(h.as_slice().ct_eq(stored_hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (pattern, uri, matches). Origin: Supabase's "Redirect URLs" guide (the wildcard
    /// table and its examples: `*` stops at `.` and `/`, `**` does not) and supabase/auth,
    /// which compiles each allow-list entry with gobwas/glob and the separators `.` `/`.
    const CASES: &[(&str, &str, bool)] = &[
        (
            "http://localhost:3000/*",
            "http://localhost:3000/callback",
            true,
        ),
        (
            "http://localhost:3000/*",
            "http://localhost:3000/a/b",
            false,
        ),
        (
            "http://localhost:3000/**",
            "http://localhost:3000/a/b",
            true,
        ),
        ("http://localhost:3000/**", "http://localhost:3000/", true),
        (
            "https://*-team.vercel.app/**",
            "https://pr-12-team.vercel.app/auth/cb",
            true,
        ),
        (
            "https://*-team.vercel.app/**",
            "https://x.evil-team.vercel.app/cb",
            false,
        ),
        (
            "https://*.example.com/cb",
            "https://app.example.com/cb",
            true,
        ),
        (
            "https://*.example.com/cb",
            "https://a.b.example.com/cb",
            false,
        ),
        (
            "https://**.example.com/cb",
            "https://a.b.example.com/cb",
            true,
        ),
        ("https://example.com/cb", "https://example.com/cb/", false),
        ("https://example.com/cb", "https://example.com/c", false),
        ("https://example.com/c?", "https://example.com/cb", true),
        ("https://example.com/c?", "https://example.com/c/", false),
        ("https://example.com/[a-c]b", "https://example.com/bb", true),
        (
            "https://example.com/[!a-c]b",
            "https://example.com/bb",
            false,
        ),
        (
            "https://example.com/[!a-c]b",
            "https://example.com/zb",
            true,
        ),
        ("https://example.com/\\*", "https://example.com/*", true),
        ("https://example.com/\\*", "https://example.com/x", false),
        ("https://example.com/[ab", "https://example.com/[ab", true),
        ("https://example.com/[ab", "https://example.com/a", false),
        ("myapp://callback/*", "myapp://callback/done", true),
        // a `*` in the host stops where the presented URI's host ends (the security review)
        (
            "https://*.example.com/cb",
            "https://3627730000?.example.com/cb",
            false,
        ),
        (
            "https://*.example.com/cb",
            "https://0xd83ac80e?.example.com/cb",
            false,
        ),
        (
            "https://*.example.com/**",
            "https://evil.com?.example.com/cb",
            false,
        ),
        (
            "HTTPS://app.example.com/cb",
            "https://app.example.com/cb",
            true,
        ),
    ];

    #[test]
    fn redirect_patterns_like_supabase() {
        for (pattern, uri, want) in CASES {
            let allowed =
                check_redirect_uri(uri, false).is_ok() && redirect_allowed(&[pattern], uri);
            assert_eq!(allowed, *want, "{pattern} ~ {uri}");
        }
    }

    #[test]
    fn presented_uris_name_a_real_host() {
        for bad in [
            "https://3627730000\\.example.com/cb",
            "https://[2001:db8::1]\\.example.com/cb",
            "https://3627730000/cb",
            "https://app.example.com@evil.com/cb",
            "https://[2001:db8::1]/cb",
            "https://-x.example.com/cb",
            // the second security review
            "https://evil:1.example.com/cb",
            "https://evil.com:443.example.org/steal",
            "https://10.0.0.1/cb",
            "https://0177.0.0.1/cb",
            "https://0x7f.1/cb",
            "http://[::1]evil.com/",
        ] {
            assert!(check_redirect_uri(bad, false).is_err(), "{bad}");
        }
        for ok in [
            "https://app.example.com/cb?x=1",
            "http://[::1]:3000/cb",
            "myapp://cb",
            "https://app.example.com:8443/cb",
            "https://a1.example.com/cb",
        ] {
            assert!(check_redirect_uri(ok, false).is_ok(), "{ok}");
        }
    }

    #[test]
    fn a_long_pattern_does_not_blow_up() {
        let p = format!("https://x/{}b", "*a".repeat(500));
        let t = format!("https://x/{}", "a".repeat(2000));
        assert!(!redirect_allowed(&[&p], &t));
    }

    #[test]
    fn registration_like_supabase_auth() {
        // Origin: supabase/auth internal/api/oauthserver/service.go validateRedirectURI
        for ok in [
            "https://app.example.com/cb",
            "http://localhost:3000/cb",
            "http://127.0.0.1:8080/login/oauth2/code/oidc-client",
            "http://[::1]:8080/cb",
            "myapp://callback",
            "https://*.example.com/**",
        ] {
            assert!(check_redirect_uri(ok, true).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/relative",
            "https://",
            "http://example.com/cb",
            "javascript://x/alert(1)",
            "DATA://x/y",
            "https://app.example.com/cb#frag",
            "https://app.example.com/{a,b}",
            "https://app.example.com/a b",
            "HTTP://evil.com/",
            "\u{1}javascript://x/alert(1)",
            "*://app.example.com/**",
            "https://user@app.example.com/cb",
        ] {
            assert!(check_redirect_uri(bad, true).is_err(), "{bad}");
        }
        assert!(check_redirect_uris(&[]).is_err());
        let many = vec!["https://a.example.com/cb"; 11];
        assert!(check_redirect_uris(&many).is_err());
    }

    #[test]
    fn scopes_are_a_subset_of_the_clients() {
        let reg = ["read", "write"];
        assert_eq!(granted_scope(Some("read"), &reg).unwrap(), "read");
        assert_eq!(
            granted_scope(Some(" write  read write"), &reg).unwrap(),
            "write read"
        );
        assert_eq!(granted_scope(None, &reg).unwrap(), "read write");
        assert_eq!(granted_scope(Some(""), &reg).unwrap(), "");
        assert!(granted_scope(Some("read admin"), &reg).is_err());
        assert!(check_scopes(&["read", "a:b"]).is_ok());
        assert!(check_scopes(&["has space"]).is_err());
        assert!(check_scopes(&[""]).is_err());
    }

    #[test]
    fn secrets_compare_by_hash() {
        let s = crate::flow::new_secret();
        let h = crate::flow::hash(&s);
        assert!(secret_matches(&s, &h));
        assert!(!secret_matches(&format!("{s}x"), &h));
        assert!(!secret_matches(&s, &h[..31]));
    }
}
