//! A small per-backend cache of parsed keys, keyed on the key's exact bytes, so that
//! verifying many tokens against one JWKS (or one PEM) parses it once.
//!
//! Bounded in both entries and bytes; least recently used first out. A lookup is a scan of
//! at most [`MAX_ENTRIES`] entries comparing lengths first, then bytes: cheaper than hashing
//! a 2 KB JWKS. Keys that fail to parse are not cached (their error is raised every time).
use crate::keys::KeySet;
use crate::Result;
use std::rc::Rc;

/// How many parsed keys a backend keeps.
pub const MAX_ENTRIES: usize = 16;
/// The most key bytes a backend keeps, over all entries.
pub const MAX_BYTES: usize = 1 << 20;
/// A key longer than this is parsed per call and never cached.
pub const MAX_ENTRY_BYTES: usize = 64 << 10;

/// Which parser the bytes are for: the same bytes mean different keys as `text` and `jsonb`
/// (a JSON string that is not a JWK is a secret as text, an error as jsonb).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Text,
    Json,
    /// The configured key (auth.jwt_secret): its own entries, so that a key passed as an
    /// argument never hits them (no hit or timing can tell a guess equals the secret).
    Configured,
}

struct Entry {
    form: Form,
    bytes: Box<[u8]>,
    keys: Rc<KeySet>,
}

#[derive(Default)]
pub struct KeyCache {
    /// Most recently used last.
    entries: Vec<Entry>,
    bytes: usize,
    pub hits: u64,
    pub misses: u64,
}

impl KeyCache {
    pub const fn new() -> KeyCache {
        KeyCache {
            entries: Vec::new(),
            bytes: 0,
            hits: 0,
            misses: 0,
        }
    }

    /// The parsed key for `bytes`, from the cache or by `parse` (which is given nothing: the
    /// caller knows how to turn its bytes into text; for jsonb that is jsonb_out, which only
    /// a miss should pay).
    pub fn get_or_parse(
        &mut self,
        form: Form,
        bytes: &[u8],
        parse: impl FnOnce() -> Result<KeySet>,
    ) -> Result<Rc<KeySet>> {
        if let Some(i) = self
            .entries
            .iter()
            .rposition(|e| e.form == form && *e.bytes == *bytes)
        {
            self.hits += 1;
            let last = self.entries.len() - 1;
            if i != last {
                let e = self.entries.remove(i);
                self.entries.push(e);
            }
            return Ok(Rc::clone(&self.entries[last].keys));
        }
        self.misses += 1;
        let keys = Rc::new(parse()?);
        if bytes.len() <= MAX_ENTRY_BYTES {
            while self.entries.len() >= MAX_ENTRIES || self.bytes + bytes.len() > MAX_BYTES {
                let old = self.entries.remove(0);
                self.bytes -= old.bytes.len();
            }
            self.bytes += bytes.len();
            self.entries.push(Entry {
                form,
                bytes: bytes.into(),
                keys: Rc::clone(&keys),
            });
        }
        Ok(keys)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes of key text held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AuthError;

    fn secret(s: &str) -> Result<KeySet> {
        KeySet::from_text(s)
    }

    #[test]
    fn second_lookup_is_a_hit_and_returns_the_same_parse() {
        let mut c = KeyCache::new();
        let a = c.get_or_parse(Form::Text, b"k1", || secret("k1")).unwrap();
        let b = c
            .get_or_parse(Form::Text, b"k1", || panic!("must not parse again"))
            .unwrap();
        assert!(Rc::ptr_eq(&a, &b));
        assert_eq!((c.hits, c.misses), (1, 1));
    }

    #[test]
    fn form_is_part_of_the_key() {
        let mut c = KeyCache::new();
        c.get_or_parse(Form::Text, b"{}", || secret("{}")).unwrap();
        let err = c
            .get_or_parse(Form::Json, b"{}", || KeySet::from_json("{}"))
            .unwrap_err();
        assert!(matches!(err, AuthError::InvalidKey(_)));
        assert_eq!(c.misses, 2);
    }

    #[test]
    fn a_guess_never_hits_the_configured_key() {
        let mut c = KeyCache::new();
        let s = "the-configured-secret-of-32-bytes-or-more";
        c.get_or_parse(Form::Configured, s.as_bytes(), || secret(s))
            .unwrap();
        c.get_or_parse(Form::Text, s.as_bytes(), || secret(s))
            .unwrap();
        assert_eq!((c.hits, c.misses), (0, 2), "the guess parsed anew");
    }

    #[test]
    fn errors_are_not_cached() {
        let mut c = KeyCache::new();
        for _ in 0..2 {
            assert!(c.get_or_parse(Form::Text, b"", || secret("")).is_err());
        }
        assert_eq!((c.len(), c.misses), (0, 2));
    }

    #[test]
    fn bounded_by_entries_least_recently_used_out() {
        let mut c = KeyCache::new();
        let names: Vec<String> = (0..MAX_ENTRIES + 1).map(|i| format!("key{i}")).collect();
        for n in &names[..MAX_ENTRIES] {
            c.get_or_parse(Form::Text, n.as_bytes(), || secret(n))
                .unwrap();
        }
        // touch key0 so that key1 is now the oldest
        c.get_or_parse(Form::Text, b"key0", || panic!("cached"))
            .unwrap();
        let last = &names[MAX_ENTRIES];
        c.get_or_parse(Form::Text, last.as_bytes(), || secret(last))
            .unwrap();
        assert_eq!(c.len(), MAX_ENTRIES);
        c.get_or_parse(Form::Text, b"key0", || panic!("key0 was used recently"))
            .unwrap();
        let misses = c.misses;
        c.get_or_parse(Form::Text, b"key1", || secret("key1"))
            .unwrap();
        assert_eq!(c.misses, misses + 1, "key1 was the one evicted");
    }

    #[test]
    fn bounded_by_bytes() {
        let mut c = KeyCache::new();
        let big: Vec<String> = (0..MAX_BYTES / MAX_ENTRY_BYTES + 2)
            .map(|i| format!("{i:02}{}", "x".repeat(MAX_ENTRY_BYTES - 2)))
            .collect();
        for k in &big {
            c.get_or_parse(Form::Text, k.as_bytes(), || secret(k))
                .unwrap();
            assert!(c.bytes() <= MAX_BYTES);
        }
        assert_eq!(c.len(), MAX_BYTES / MAX_ENTRY_BYTES);
        let huge = "x".repeat(MAX_ENTRY_BYTES + 1);
        c.get_or_parse(Form::Text, huge.as_bytes(), || secret(&huge))
            .unwrap();
        assert_eq!(c.len(), MAX_BYTES / MAX_ENTRY_BYTES, "too big to cache");
    }
}
