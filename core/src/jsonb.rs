//! One strict parse of a token's JSON (RFC 8259) into a borrowed tree, which serves both the
//! claim checks and PostgreSQL's binary `jsonb` (src/include/utils/jsonb.h), written straight
//! from it. PostgreSQL 15's jsonb_in takes ~12 us for one Supabase-sized payload; this takes
//! a small fraction of that, and jwt_verify returns jsonb for every token. Numbers go through
//! the caller's `numeric` (the edge calls PostgreSQL's numeric_in), so their representation
//! is PostgreSQL's own. The parser is checked against serde_json on generated and mutated
//! inputs (tests below).
//!
//! The layout rules mirrored here (convertJsonbValue and friends in jsonb_util.c):
//! - a container is a u32 header (count | JB_FOBJECT or JB_FARRAY), then one JEntry per
//!   child (an object's keys first, then its values), then the children's data;
//! - a JEntry holds the child's type and its data length, except every 32nd, which holds
//!   the end offset of its data instead (JENTRY_HAS_OFF);
//! - numerics and containers are padded to a 4-byte boundary of the whole datum, and the
//!   padding counts in their length;
//! - object keys are sorted by length, then bytes; of repeated keys the last one is kept.
use std::borrow::Cow;

const JB_FOBJECT: u32 = 0x2000_0000;
const JB_FARRAY: u32 = 0x4000_0000;
const JENTRY_OFFLENMASK: u32 = 0x0FFF_FFFF;
const JENTRY_TYPEMASK: u32 = 0x7000_0000;
const JENTRY_HAS_OFF: u32 = 0x8000_0000;
const JENTRY_ISSTRING: u32 = 0x0000_0000;
const JENTRY_ISNUMERIC: u32 = 0x1000_0000;
const JENTRY_ISBOOL_FALSE: u32 = 0x2000_0000;
const JENTRY_ISBOOL_TRUE: u32 = 0x3000_0000;
const JENTRY_ISNULL: u32 = 0x4000_0000;
const JENTRY_ISCONTAINER: u32 = 0x5000_0000;
const JB_OFFSET_STRIDE: usize = 32;

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
/// ([`crate::json::prescan`]): the parser recurses once per level.
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

    /// The jsonb datum (4-byte varlena header included) for an object or array; None for a
    /// scalar, or when `numeric` refuses a number (PostgreSQL's numeric has limits).
    pub fn encode(&mut self, numeric: &mut dyn FnMut(&str) -> Option<Vec<u8>>) -> Option<Vec<u8>> {
        if !matches!(self, Node::Obj(_) | Node::Arr(_)) {
            return None;
        }
        let mut w = Writer {
            out: Vec::with_capacity(1024),
            numeric,
            failed: false,
        };
        w.out.extend_from_slice(&[0; 4]); // varlena header, set below
        w.node(self);
        let len = u32::try_from(w.out.len())
            .ok()
            .filter(|l| *l <= 0x3FFF_FFFF && !w.failed)?;
        // SET_VARSIZE_4B
        let header = if cfg!(target_endian = "little") {
            len << 2
        } else {
            len
        };
        w.out[..4].copy_from_slice(&header.to_ne_bytes());
        Some(w.out)
    }
}

/// [`parse`] then [`Node::encode`].
pub fn encode(json: &[u8], numeric: &mut dyn FnMut(&str) -> Option<Vec<u8>>) -> Option<Vec<u8>> {
    parse(json)?.encode(numeric)
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

struct Writer<'n> {
    out: Vec<u8>,
    numeric: &'n mut dyn FnMut(&str) -> Option<Vec<u8>>,
    failed: bool,
}

impl Writer<'_> {
    /// Pad to a 4-byte boundary of the datum; return the padding length.
    fn pad(&mut self) -> u32 {
        let pad = (4 - self.out.len() % 4) % 4;
        self.out.resize(self.out.len() + pad, 0);
        pad as u32
    }

    fn string(&mut self, s: &[u8]) -> u32 {
        self.out.extend_from_slice(s);
        JENTRY_ISSTRING | s.len() as u32
    }

    /// Write a node's data; return its JEntry (type | length).
    fn node(&mut self, node: &mut Node) -> u32 {
        match node {
            Node::Null => JENTRY_ISNULL,
            Node::Bool(true) => JENTRY_ISBOOL_TRUE,
            Node::Bool(false) => JENTRY_ISBOOL_FALSE,
            Node::Str(s) => self.string(s),
            Node::Num(text) => {
                let pad = self.pad();
                let n = (self.numeric)(text).unwrap_or_else(|| {
                    self.failed = true;
                    Vec::new()
                });
                self.out.extend_from_slice(&n);
                JENTRY_ISNUMERIC | (pad + n.len() as u32)
            }
            Node::Arr(items) => {
                let (base, entries) = self.open(JB_FARRAY | items.len() as u32, items.len());
                let mut total = 0;
                for (i, item) in items.iter_mut().enumerate() {
                    let entry = self.node(item);
                    self.entry(entries, i, entry, &mut total);
                }
                JENTRY_ISCONTAINER | (self.out.len() - base) as u32
            }
            Node::Obj(pairs) => {
                // Stable sort, then keep the last of each run of equal keys: dedup_by keeps
                // the earlier element, so move the later value into it first.
                pairs.sort_by(|a, b| a.0.len().cmp(&b.0.len()).then_with(|| a.0.cmp(&b.0)));
                pairs.dedup_by(|later, kept| {
                    let same = later.0 == kept.0;
                    if same {
                        std::mem::swap(later, kept);
                    }
                    same
                });
                let n = pairs.len();
                let (base, entries) = self.open(JB_FOBJECT | n as u32, 2 * n);
                let mut total = 0;
                for (i, (key, _)) in pairs.iter().enumerate() {
                    let entry = self.string(key);
                    self.entry(entries, i, entry, &mut total);
                }
                for (i, (_, value)) in pairs.iter_mut().enumerate() {
                    let entry = self.node(value);
                    self.entry(entries, n + i, entry, &mut total);
                }
                JENTRY_ISCONTAINER | (self.out.len() - base) as u32
            }
        }
    }

    /// Start a container: padding, header, room for `count` JEntries. Returns where the
    /// container began (its length counts the padding) and where its JEntries are.
    fn open(&mut self, header: u32, count: usize) -> (usize, usize) {
        let base = self.out.len();
        self.pad();
        self.out.extend_from_slice(&header.to_ne_bytes());
        let entries = self.out.len();
        self.out.resize(entries + 4 * count, 0);
        (base, entries)
    }

    /// Store child `i`'s JEntry; every JB_OFFSET_STRIDE-th holds the end offset instead.
    fn entry(&mut self, entries: usize, i: usize, entry: u32, total: &mut u32) {
        *total += entry & JENTRY_OFFLENMASK;
        let entry = if i.is_multiple_of(JB_OFFSET_STRIDE) {
            (entry & JENTRY_TYPEMASK) | *total | JENTRY_HAS_OFF
        } else {
            entry
        };
        self.out[entries + 4 * i..entries + 4 * i + 4].copy_from_slice(&entry.to_ne_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(json: &str) -> Vec<u8> {
        // a stand-in numeric: the text behind a 4-byte length, enough to test the layout
        let mut num = |t: &str| {
            let mut v = ((t.len() as u32 + 4) << 2).to_ne_bytes().to_vec();
            v.extend_from_slice(t.as_bytes());
            Some(v)
        };
        encode(json.as_bytes(), &mut num).expect("valid")
    }

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_ne_bytes(b[at..at + 4].try_into().unwrap())
    }

    #[test]
    fn empty_object_and_array() {
        assert_eq!(
            enc("{}"),
            [(8u32 << 2).to_ne_bytes(), JB_FOBJECT.to_ne_bytes()].concat()
        );
        assert_eq!(
            enc(" [ ] "),
            [(8u32 << 2).to_ne_bytes(), JB_FARRAY.to_ne_bytes()].concat()
        );
    }

    #[test]
    fn keys_sorted_by_length_then_bytes_last_duplicate_wins() {
        let b = enc(r#"{"bb":1,"a":true,"bb":null,"ab":"x"}"#);
        assert_eq!(u32_at(&b, 4), JB_FOBJECT | 3);
        // keys a, ab, bb (6 JEntries), then data: "a" "ab" "bb" "x"
        assert_eq!(&b[32..37], b"aabbb");
        assert_eq!(u32_at(&b, 8), JENTRY_HAS_OFF | 1); // first key: offset form
        assert_eq!(u32_at(&b, 12), JENTRY_ISSTRING | 2);
        assert_eq!(u32_at(&b, 20), JENTRY_ISBOOL_TRUE); // value of "a"
        assert_eq!(u32_at(&b, 28), JENTRY_ISNULL); // last "bb" wins
        assert_eq!(b.len(), 38);
    }

    #[test]
    fn escapes_are_decoded() {
        let b = enc(r#"["\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"]"#);
        assert!(b.ends_with("\"\\/\u{8}\u{c}\n\r\té😀".as_bytes()));
    }

    #[test]
    fn numerics_and_containers_are_aligned() {
        let b = enc(r#"["x",1,[]]"#);
        // header 4 + container header 4 + 3 JEntries = 20; "x" at 20, pad to 24, numeric 5 bytes
        assert_eq!(b[20], b'x');
        assert_eq!(u32_at(&b, 12), JENTRY_ISNUMERIC | (3 + 5));
        assert_eq!(u32_at(&b, 16), JENTRY_ISCONTAINER | (3 + 4));
        assert_eq!(b.len(), 36);
    }

    #[test]
    fn every_32nd_entry_holds_an_offset() {
        let items: Vec<String> = (0..40).map(|i| format!("\"{i}\"")).collect();
        let b = enc(&format!("[{}]", items.join(",")));
        let entry = |i: usize| u32_at(&b, 8 + 4 * i);
        assert_eq!(entry(0), JENTRY_HAS_OFF | 1);
        assert_eq!(entry(1), 1);
        let through_31: u32 = (0..=31).map(|i: u32| i.to_string().len() as u32).sum();
        assert_eq!(entry(32), JENTRY_HAS_OFF | (through_31 + 2));
    }

    #[test]
    fn rejects_what_is_not_a_container() {
        assert!(encode(b"5", &mut |_| Some(vec![])).is_none());
        assert!(encode(b"{} x", &mut |_| Some(vec![])).is_none());
        assert!(encode(b"[1]", &mut |_| None).is_none(), "numeric refused");
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
