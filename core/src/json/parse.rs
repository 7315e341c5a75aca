//! The one strict parse of JSON text (RFC 8259) into a borrowed tree, [`Node`]: what the
//! claim checks read, what [`super::binary`] writes as PostgreSQL's jsonb and
//! [`super::text`] writes back as text. It is checked against serde_json on generated and
//! mutated inputs (tests below, and the fuzz harness in crate::fuzz).
use std::borrow::Cow;

/// A parsed JSON value, borrowing from the text. Strings are unescaped UTF-8.
#[derive(Debug, Clone, PartialEq)]
pub enum Node<'a> {
    Null,
    Bool(bool),
    Num(&'a str),
    Str(Cow<'a, [u8]>),
    Arr(Vec<Node<'a>>),
    Obj(Vec<(Cow<'a, [u8]>, Node<'a>)>),
}

/// Parse JSON text strictly; None if it is not valid JSON. The caller bounds nesting first
/// ([`super::prescan`]): the parser recurses once per level.
pub fn parse(json: &[u8]) -> Option<Node<'_>> {
    let text = std::str::from_utf8(json).ok()?;
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    let root = p.value()?;
    p.ws();
    (p.i == json.len()).then_some(root)
}

impl<'a> Node<'a> {
    /// An object's member (the last one when repeated, as jsonb keeps it).
    pub fn get(&self, name: &str) -> Option<&Node<'a>> {
        match self {
            Node::Obj(pairs) => pairs
                .iter()
                .rev()
                .find(|(k, _)| k.as_ref() == name.as_bytes())
                .map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            // Strings come from validated UTF-8 with escapes decoded to UTF-8.
            Node::Str(s) => std::str::from_utf8(s).ok(),
            _ => None,
        }
    }

    /// A number's value as f64 (None for a non-number, or one too large for f64).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Node::Num(t) => t.parse::<f64>().ok().filter(|f| f.is_finite()),
            _ => None,
        }
    }

    /// Whether `ok` accepts every number in the value.
    pub fn all_numbers(&self, ok: &mut dyn FnMut(&str) -> bool) -> bool {
        match self {
            Node::Num(t) => ok(t),
            Node::Arr(items) => items.iter().all(|i| i.all_numbers(ok)),
            Node::Obj(pairs) => pairs.iter().all(|(_, v)| v.all_numbers(ok)),
            _ => true,
        }
    }

    /// The value as a serde_json value (for RFC 9535 queries beyond member names and
    /// indexes, which serde_json_path runs).
    pub fn to_value(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(*b),
            Node::Num(t) => serde_json::from_str(t).unwrap_or(Value::Null),
            Node::Str(s) => Value::String(String::from_utf8_lossy(s).into_owned()),
            Node::Arr(items) => Value::Array(items.iter().map(Node::to_value).collect()),
            Node::Obj(pairs) => Value::Object(
                pairs
                    .iter()
                    .map(|(k, v)| (String::from_utf8_lossy(k).into_owned(), v.to_value()))
                    .collect(),
            ),
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Parser<'a> {
    fn ws(&mut self) {
        while matches!(self.s.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Option<Node<'a>> {
        self.ws();
        match *self.s.get(self.i)? {
            b'{' => {
                self.i += 1;
                let mut pairs = Vec::with_capacity(16);
                if !self.eat(b'}') {
                    loop {
                        self.ws();
                        let k = self.string()?;
                        if !self.eat(b':') {
                            return None;
                        }
                        pairs.push((k, self.value()?));
                        if self.eat(b'}') {
                            break;
                        }
                        if !self.eat(b',') {
                            return None;
                        }
                    }
                }
                Some(Node::Obj(pairs))
            }
            b'[' => {
                self.i += 1;
                let mut items = Vec::with_capacity(8);
                if !self.eat(b']') {
                    loop {
                        items.push(self.value()?);
                        if self.eat(b']') {
                            break;
                        }
                        if !self.eat(b',') {
                            return None;
                        }
                    }
                }
                Some(Node::Arr(items))
            }
            b'"' => self.string().map(Node::Str),
            b't' => self.word(b"true", Node::Bool(true)),
            b'f' => self.word(b"false", Node::Bool(false)),
            b'n' => self.word(b"null", Node::Null),
            _ => self.number(),
        }
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    fn number(&mut self) -> Option<Node<'a>> {
        let start = self.i;
        if self.s.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        match self.s.get(self.i)? {
            b'0' => self.i += 1,
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        if self.s.get(self.i) == Some(&b'.') {
            self.i += 1;
            if !self.digits() {
                return None;
            }
        }
        if matches!(self.s.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.s.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if !self.digits() {
                return None;
            }
        }
        // ASCII only, so this cannot fail
        std::str::from_utf8(&self.s[start..self.i])
            .ok()
            .map(Node::Num)
    }

    fn digits(&mut self) -> bool {
        let from = self.i;
        while matches!(self.s.get(self.i), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        self.i > from
    }

    fn word(&mut self, w: &[u8], node: Node<'a>) -> Option<Node<'a>> {
        if self.s[self.i..].starts_with(w) {
            self.i += w.len();
            Some(node)
        } else {
            None
        }
    }

    /// A string literal, unescaped to UTF-8; borrowed when it has no escapes.
    fn string(&mut self) -> Option<Cow<'a, [u8]>> {
        if self.s.get(self.i) != Some(&b'"') {
            return None;
        }
        self.i += 1;
        let start = self.i;
        // Claim strings are short: a plain loop beats a SIMD search's setup here.
        let mut end = start;
        loop {
            match *self.s.get(end)? {
                b'"' | b'\\' => break,
                0..=0x1F => return None, // control characters must be escaped
                _ => end += 1,
            }
        }
        if self.s[end] == b'"' {
            self.i = end + 1;
            return Some(Cow::Borrowed(&self.s[start..end]));
        }
        let mut out = self.s[start..end].to_vec();
        self.i = end;
        loop {
            match *self.s.get(self.i)? {
                b'"' => {
                    self.i += 1;
                    return Some(Cow::Owned(out));
                }
                b'\\' => {
                    let esc = *self.s.get(self.i + 1)?;
                    self.i += 2;
                    match esc {
                        b'"' | b'\\' | b'/' => out.push(esc),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let mut cp = self.hex4()?;
                            if (0xD800..0xDC00).contains(&cp) {
                                // a high surrogate must be followed by a low one
                                if !self.s[self.i..].starts_with(b"\\u") {
                                    return None;
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return None;
                                }
                                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                            }
                            // a lone low surrogate is no char; U+0000 jsonb cannot store
                            let c = char::from_u32(cp).filter(|c| *c != '\0')?;
                            out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                        }
                        _ => return None,
                    }
                }
                0..=0x1F => return None,
                c => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = self.s.get(self.i..self.i + 4)?;
        if !h.iter().all(u8::is_ascii_hexdigit) {
            return None; // from_str_radix alone would accept a leading '+'
        }
        self.i += 4;
        u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_decoded() {
        let n = parse(br#"["\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"]"#).unwrap();
        let Node::Arr(items) = n else {
            panic!("an array")
        };
        assert_eq!(items[0].as_str(), Some("\"\\/\u{8}\u{c}\n\r\té😀"));
    }

    use crate::fuzz::json as agree;

    #[test]
    fn strict_like_serde_on_edge_cases() {
        for case in [
            "{}",
            "[]",
            " [1] ",
            "[-0]",
            "[0.5e-3]",
            "[1E+2]",
            "[01]",
            "[1.]",
            "[.5]",
            "[-]",
            "[1e]",
            "[+1]",
            "[tru]",
            "[nul]",
            "[true false]",
            "[1,]",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "{a:1}",
            "[\"\\x\"]",
            "[\"\t\"]",
            "[\"\\u12\"]",
            "[\"\\u+123\"]",
            "[\"\\ud800\"]",
            "[\"\\udc00\"]",
            "[\"\\ud83d\\ude00\"]",
            "[\"\\ud83d\\u0041\"]",
            "[\"é\"]",
            "[\"\\/\"]",
            "{\"a\":{}}x",
            "",
            " ",
            "[",
            "]",
            "{\"a\"}",
            "[1 2]",
            "\"\u{7f}\"",
            "[\"\u{7f}\"]",
            "[1e400]",
            "[-1e-400]",
        ] {
            agree(case.as_bytes());
        }
        assert!(parse(b"[\"\xff\"]").is_none(), "invalid UTF-8");
        assert!(
            parse(br#"["\u0000"]"#).is_none(),
            "jsonb cannot store U+0000"
        );
        assert_eq!(parse(b"[1e400]"), Some(Node::Arr(vec![Node::Num("1e400")])));
        assert_eq!(parse(b"[1e400]").unwrap().get("x"), None);
        assert_eq!(
            Node::Num("1e400").as_f64(),
            None,
            "not finite: not a usable time"
        );
    }

    #[test]
    fn strict_like_serde_on_mutated_documents() {
        let docs = [
            r#"{"aud":"authenticated","exp":1999999999,"sub":"a0eebc99","app_metadata":{"provider":"email","providers":["email"]},"amr":[{"method":"password","timestamp":1700000000}],"is_anonymous":false,"x":null,"n":-1.5e-3,"s":"q\"\u00e9\ud83d\ude00\n"}"#,
            r#"[[], {}, [1, [2, [3, {"a": [true, false, null]}]]], "", 0, -0.0, 1E5]"#,
        ];
        let alphabet = b"{}[]\":,.-+eE0123456789 tfnul\\/\"abc\x01\x7f\xc3\xa9";
        let mut seed = 7u64;
        let mut rand = |n: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize % n
        };
        let mut checked = 0;
        for doc in docs {
            let d = doc.as_bytes();
            for cut in 0..d.len() {
                agree(&d[..cut]);
            }
            for _ in 0..20_000 {
                let mut m = d.to_vec();
                for _ in 0..1 + rand(3) {
                    let at = rand(m.len());
                    match rand(3) {
                        0 => m[at] = alphabet[rand(alphabet.len())],
                        1 => m.insert(at, alphabet[rand(alphabet.len())]),
                        _ => {
                            m.remove(at);
                        }
                    }
                }
                agree(&m);
                checked += 1;
            }
        }
        assert_eq!(checked, 40_000);
    }
}
