//! PostgreSQL's binary `jsonb` (src/include/utils/jsonb.h) written straight from a parsed
//! [`Node`]. PostgreSQL 15's jsonb_in takes ~12 us for one Supabase-sized payload; this takes
//! a small fraction of that, and jwt_verify returns jsonb for every token (docs/BENCHMARKS.md
//! has the two side by side). Numbers go through the caller's `numeric` (the edge writes
//! numeric's own bytes, checked byte for byte against numeric_in), so their representation
//! is PostgreSQL's own.
//!
//! The layout rules mirrored here (convertJsonbValue and friends in jsonb_util.c):
//! - a container is a u32 header (count | JB_FOBJECT or JB_FARRAY), then one JEntry per
//!   child (an object's keys first, then its values), then the children's data;
//! - a JEntry holds the child's type and its data length, except every 32nd, which holds
//!   the end offset of its data instead (JENTRY_HAS_OFF);
//! - numerics and containers are padded to a 4-byte boundary of the whole datum, and the
//!   padding counts in their length;
//! - object keys are sorted by length, then bytes; of repeated keys the last one is kept.
use super::parse::{parse, Node};

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

impl Node<'_> {
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
}
