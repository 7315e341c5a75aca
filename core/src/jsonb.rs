//! PostgreSQL's binary `jsonb` (src/include/utils/jsonb.h), written straight from JSON text
//! that serde_json has already validated. PostgreSQL 15's jsonb_in takes ~12 us for one
//! Supabase-sized payload; this takes a small fraction of that, and jwt_verify returns
//! jsonb for every token. Numbers go through the caller's `numeric` (the edge calls
//! PostgreSQL's numeric_in), so their representation is PostgreSQL's own.
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

enum Node<'a> {
    Null,
    Bool(bool),
    Num(&'a str),
    Str(Cow<'a, [u8]>),
    Arr(Vec<Node<'a>>),
    Obj(Vec<(Cow<'a, [u8]>, Node<'a>)>),
}

/// The jsonb datum (4-byte varlena header included) for a JSON object or array text.
/// `json` must be valid JSON (callers validate it with serde_json first) without a
/// `\u0000` escape; None if it is not (never expected).
pub fn encode(json: &[u8], numeric: &mut dyn FnMut(&str) -> Vec<u8>) -> Option<Vec<u8>> {
    let mut p = Parser { s: json, i: 0 };
    let root = p.value()?;
    p.ws();
    if p.i != json.len() || !matches!(root, Node::Obj(_) | Node::Arr(_)) {
        return None;
    }
    let mut w = Writer {
        out: Vec::with_capacity(json.len() + 64),
        numeric,
    };
    w.out.extend_from_slice(&[0; 4]); // varlena header, set below
    let mut root = root;
    w.node(&mut root);
    let len = u32::try_from(w.out.len())
        .ok()
        .filter(|l| *l <= 0x3FFF_FFFF)?;
    // SET_VARSIZE_4B
    let header = if cfg!(target_endian = "little") {
        len << 2
    } else {
        len
    };
    w.out[..4].copy_from_slice(&header.to_ne_bytes());
    Some(w.out)
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
            _ => {
                let start = self.i;
                while matches!(
                    self.s.get(self.i),
                    Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                ) {
                    self.i += 1;
                }
                let text = std::str::from_utf8(&self.s[start..self.i]).ok()?;
                (!text.is_empty()).then_some(Node::Num(text))
            }
        }
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
        while !matches!(*self.s.get(end)?, b'"' | b'\\') {
            end += 1;
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
                            if (0xD800..0xDC00).contains(&cp)
                                && self.s[self.i..].starts_with(b"\\u")
                            {
                                self.i += 2;
                                let lo = self.hex4()?;
                                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo.checked_sub(0xDC00)?);
                            }
                            let c = char::from_u32(cp)?;
                            out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                        }
                        _ => return None,
                    }
                }
                c => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = std::str::from_utf8(self.s.get(self.i..self.i + 4)?).ok()?;
        self.i += 4;
        u32::from_str_radix(h, 16).ok()
    }
}

struct Writer<'n> {
    out: Vec<u8>,
    numeric: &'n mut dyn FnMut(&str) -> Vec<u8>,
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
                let n = (self.numeric)(text);
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
                for i in 0..n {
                    let entry = self.string(&pairs[i].0);
                    self.entry(entries, i, entry, &mut total);
                }
                for i in 0..n {
                    let entry = self.node(&mut pairs[i].1);
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
        let entry = if i % JB_OFFSET_STRIDE == 0 {
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
            v
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
        assert!(encode(b"5", &mut |_| vec![]).is_none());
        assert!(encode(b"{} x", &mut |_| vec![]).is_none());
    }
}
