//! The backend's parsed-key cache (auth_core::cache), and the jsonb key argument that lets a
//! cache hit skip jsonb_out: a jsonb key is looked up by its binary bytes.
use crate::jsonb::{arg_from_datum, JsonbText};
use auth_core::cache::{Form, KeyCache};
use auth_core::keys::KeySet;
use pgrx::{pg_sys, FromDatum};
use std::cell::RefCell;
use std::rc::Rc;

thread_local! {
    static CACHE: RefCell<KeyCache> = const { RefCell::new(KeyCache::new()) };
}

/// A text key (secret, PEM, JWK or JWKS text), parsed once per backend.
pub fn text_key(text: &str) -> auth_core::Result<Rc<KeySet>> {
    parsed_text(Form::Text, text)
}

/// The configured key's text, parsed once per backend, in entries of its own.
pub fn configured_key(text: &str) -> auth_core::Result<Rc<KeySet>> {
    parsed_text(Form::Configured, text)
}

fn parsed_text(form: Form, text: &str) -> auth_core::Result<Rc<KeySet>> {
    // The parse runs outside any borrow of the cache only on a miss, and it calls no
    // PostgreSQL function, so nothing can re-enter the cache while it is borrowed.
    CACHE.with_borrow_mut(|c| c.get_or_parse(form, text.as_bytes(), || KeySet::from_text(text)))
}

/// A jsonb key (JWK or JWKS), parsed once per backend.
pub fn jsonb_key(key: &JsonbKey) -> auth_core::Result<Rc<KeySet>> {
    // On a miss jsonb_out runs while the cache is borrowed; jsonb_out never reaches our code.
    CACHE.with_borrow_mut(|c| {
        c.get_or_parse(Form::Json, key.bytes(), || KeySet::from_json(&key.text()))
    })
}

/// (hits, misses, entries, bytes) of this backend's key cache (for superusers only: the
/// configured key is among the entries).
pub fn stats() -> (u64, u64, usize, usize) {
    CACHE.with_borrow(|c| (c.hits, c.misses, c.len(), c.bytes()))
}

/// A jsonb argument used as a key: its detoasted varlena, valid for the call. Its binary
/// bytes are the cache key (no copy, no jsonb_out on a hit).
pub struct JsonbKey {
    flat: *mut pg_sys::varlena,
}

impl JsonbKey {
    fn bytes(&self) -> &[u8] {
        // SAFETY: `flat` is the detoasted argument, alive for the whole call.
        unsafe {
            let len = pgrx::varsize_any_exhdr(self.flat);
            std::slice::from_raw_parts(pgrx::vardata_any(self.flat) as *const u8, len)
        }
    }

    /// The key as compact JSON text (what jsonb arguments are read as elsewhere).
    fn text(&self) -> String {
        let datum = pg_sys::Datum::from(self.flat);
        // SAFETY: a valid, non-null jsonb datum.
        unsafe { JsonbText::from_datum(datum, false) }
            .expect("jsonb_out returns a value")
            .0
    }
}

impl FromDatum for JsonbKey {
    unsafe fn from_polymorphic_datum(
        datum: pg_sys::Datum,
        is_null: bool,
        _: pg_sys::Oid,
    ) -> Option<Self> {
        (!is_null).then(|| JsonbKey {
            flat: pg_sys::pg_detoast_datum_packed(datum.cast_mut_ptr()),
        })
    }
}

arg_from_datum!(JsonbKey);

pgrx::impl_sql_translatable!(JsonbKey, "jsonb");
