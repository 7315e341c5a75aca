//! JSON text written by the crate: compact re-serialisation of valid text ([`minify`]), a
//! string literal ([`quote`]), and a parsed [`Node`] written back ([`write`]).
use super::parse::Node;

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

/// Write a parsed string (valid UTF-8: the parser checks it) as a JSON string literal.
pub fn write_str(out: &mut String, s: &[u8]) {
    out.push_str(&quote(&String::from_utf8_lossy(s)));
}

/// Compact JSON text of a node (numbers byte for byte as they came).
pub fn write(out: &mut String, n: &Node) {
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

    #[test]
    fn minify_keeps_strings_and_numbers() {
        assert_eq!(
            minify(r#"{"a": "x y, z: \" q", "b": [1, 2.50, 123456789012345678901234567890]}"#),
            r#"{"a":"x y, z: \" q","b":[1,2.50,123456789012345678901234567890]}"#
        );
        assert_eq!(minify(r#"{"a\\": " "}"#), r#"{"a\\":" "}"#);
    }

    #[test]
    fn a_parsed_node_is_written_back_compact() {
        let doc = r#"{ "a" : [1, 2.50, "x\"y"], "b": {"c": null, "d": true} }"#;
        let mut out = String::new();
        write(&mut out, &crate::json::parse(doc.as_bytes()).unwrap());
        assert_eq!(out, minify(doc));
    }
}
