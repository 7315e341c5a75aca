//! All JSON of the crate: the bounds checked on untrusted text before it is parsed (here),
//! the one strict parser ([`parse`]), the text writers ([`text`]) and PostgreSQL's binary
//! jsonb writer ([`binary`]). Keys and verify options, read once and cached, go through
//! serde_json's map ([`object`]); nothing on a token's path does.
use crate::error::{AuthError, Reason, Result};

pub mod binary;
pub mod parse;
pub mod text;

pub use parse::{parse, Node};
pub use text::{minify, quote};

/// Deepest nesting of objects and arrays accepted in a token (contract section 1).
pub const MAX_DEPTH: usize = 128;

/// Checks on JSON text before serde sees it: nesting depth at most [`MAX_DEPTH`], and no
/// `\u0000` escape (PostgreSQL's jsonb cannot hold it, so such a token could never be
/// returned). Syntax proper is left to serde_json; this only bounds its recursion.
///
/// Fast path (almost every token): with at most MAX_DEPTH brackets in the whole text the
/// depth cannot exceed it, and without the bytes `\u0000` there is no such escape; both
/// are SIMD byte searches. Only otherwise is the text walked character by character.
pub fn prescan(text: &[u8]) -> Result<()> {
    let brackets = memchr::memchr2_iter(b'{', b'[', text).count();
    if brackets <= MAX_DEPTH && memchr::memmem::find(text, b"\\u0000").is_none() {
        return Ok(());
    }
    prescan_exact(text)
}

fn prescan_exact(text: &[u8]) -> Result<()> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut i = 0;
    while i < text.len() {
        let c = text[i];
        if in_string {
            match c {
                b'\\' => {
                    if text.get(i + 1) == Some(&b'u') && text.get(i + 2..i + 6) == Some(b"0000") {
                        return Err(AuthError::token(
                            Reason::Malformed,
                            "JSON contains the escape \\u0000, which jsonb cannot store",
                        ));
                    }
                    i += 1; // skip the escaped character
                }
                b'"' => in_string = false,
                _ => {}
            }
        } else {
            match c {
                b'"' => in_string = true,
                b'{' | b'[' => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Err(AuthError::token(
                            Reason::TooLarge,
                            format!("JSON is nested deeper than {MAX_DEPTH} levels"),
                        ));
                    }
                }
                b'}' | b']' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        i += 1;
    }
    Ok(())
}

/// A configuration object (a JWK, a JWKS, verify options) as serde_json's map; None when
/// the text is not one JSON object. serde_json's default recursion limit (128) bounds it.
pub fn object(text: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    serde_json::from_str(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(n: usize) -> String {
        format!("{}{}", "[".repeat(n), "]".repeat(n))
    }

    #[test]
    fn depth_limit_is_exactly_128() {
        assert!(prescan(nested(128).as_bytes()).is_ok());
        let err = prescan(nested(129).as_bytes()).unwrap_err();
        assert_eq!(err.reason(), Some(Reason::TooLarge));
        // brackets inside strings do not count
        let s = format!("{{\"a\":\"{}\"}}", "[".repeat(500));
        assert!(prescan(s.as_bytes()).is_ok());
        // the parser accepts what the prescan lets through, even at full depth
        assert!(parse(nested(128).as_bytes()).is_some());
    }

    #[test]
    fn many_brackets_but_shallow_is_fine() {
        let wide = format!("[{}[]]", "[],".repeat(500));
        assert!(prescan(wide.as_bytes()).is_ok());
        let deep_in_wide = format!(
            "[{}{}{}]",
            "[],".repeat(200),
            "[".repeat(128),
            "]".repeat(128)
        );
        assert_eq!(
            prescan(deep_in_wide.as_bytes()).unwrap_err().reason(),
            Some(Reason::TooLarge)
        );
    }

    #[test]
    fn nul_escape_is_rejected_but_escaped_backslash_is_not() {
        assert_eq!(
            prescan(br#"{"a":"x\u0000"}"#).unwrap_err().reason(),
            Some(Reason::Malformed)
        );
        assert!(prescan(br#"{"a":"x\\u0000"}"#).is_ok());
        assert!(prescan(br#"{"a":"\"\u0041"}"#).is_ok());
    }
}
