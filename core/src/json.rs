//! Lexical checks on untrusted JSON before serde sees it, and compact re-serialisation.
use crate::error::{AuthError, Reason, Result};

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

/// Remove insignificant whitespace from valid JSON text (for example jsonb's output, which
/// puts a space after every `:` and `,`), leaving strings and numbers byte for byte.
pub fn minify(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in text.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            if c == '"' {
                in_string = true;
            }
            out.push(c);
        }
    }
    out
}

/// A JSON string literal for `s` (quotes and escapes included).
pub fn quote(s: &str) -> String {
    serde_json::to_string(s).expect("a str always serialises")
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
        assert!(crate::jsonb::parse(nested(128).as_bytes()).is_some());
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

    #[test]
    fn minify_keeps_strings_and_numbers() {
        assert_eq!(
            minify(r#"{"a": "x y, z: \" q", "b": [1, 2.50, 123456789012345678901234567890]}"#),
            r#"{"a":"x y, z: \" q","b":[1,2.50,123456789012345678901234567890]}"#
        );
        assert_eq!(minify(r#"{"a\\": " "}"#), r#"{"a\\":" "}"#);
    }
}
