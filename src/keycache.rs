//! The backend's parsed-key cache (auth_core::cache), and the jsonb key argument that lets a
//! cache hit skip jsonb_out: a jsonb key is looked up by its binary bytes.
use auth_core::cache::{Form, KeyCache};
use auth_core::keys::KeySet;
use pgrx::callconv::{Arg, ArgAbi};
use pgrx::datum::{Datum, UnboxDatum};
use pgrx::{direct_function_call, pg_sys, FromDatum};
use std::cell::RefCell;
use std::ffi::CStr;
use std::rc::Rc;

thread_local! {
    static CACHE: RefCell<KeyCache> = const { RefCell::new(KeyCache::new()) };
}

/// A text key (secret, PEM, JWK or JWKS text), parsed once per backend.
pub fn text_key(text: &str) -> auth_core::Result<Rc<KeySet>> {
    // The parse runs outside any borrow of the cache only on a miss, and it calls no
    // PostgreSQL function, so nothing can re-enter the cache while it is borrowed.
    CACHE.with_borrow_mut(|c| {
        c.get_or_parse(Form::Text, text.as_bytes(), || KeySet::from_text(text))
    })
}

/// A jsonb key (JWK or JWKS), parsed once per backend.
pub fn jsonb_key(key: &JsonbKey) -> auth_core::Result<Rc<KeySet>> {
    // On a miss jsonb_out runs while the cache is borrowed; jsonb_out never reaches our code.
    CACHE.with_borrow_mut(|c| {
        c.get_or_parse(Form::Json, &key.bytes, || KeySet::from_json(&key.text()))
    })
}

/// (hits, misses, entries, bytes) of this backend's key cache.
#[cfg_attr(not(any(test, feature = "pg_test")), allow(dead_code))] // for auth.stats()
pub fn stats() -> (u64, u64, usize, usize) {
    CACHE.with_borrow(|c| (c.hits, c.misses, c.len(), c.bytes()))
}

/// A jsonb argument used as a key: its detoasted binary bytes (the cache key) and the datum
/// (valid for the call) to print as text when the cache misses.
pub struct JsonbKey {
    bytes: Vec<u8>,
    datum: pg_sys::Datum,
}

impl JsonbKey {
    /// The key as compact JSON text.
    fn text(&self) -> String {
        // SAFETY: the datum is the function's argument, alive for the whole call.
        unsafe {
            let cstr = direct_function_call::<&CStr>(pg_sys::jsonb_out, &[Some(self.datum)])
                .expect("jsonb_out returns a value");
            let text = auth_core::json::minify(cstr.to_str().expect("jsonb_out returns UTF-8"));
            pg_sys::pfree(cstr.as_ptr() as *mut _);
            text
        }
    }
}

impl FromDatum for JsonbKey {
    unsafe fn from_polymorphic_datum(
        datum: pg_sys::Datum,
        is_null: bool,
        _: pg_sys::Oid,
    ) -> Option<Self> {
        if is_null {
            return None;
        }
        let raw = datum.cast_mut_ptr::<pg_sys::varlena>();
        let flat = pg_sys::pg_detoast_datum_packed(raw);
        let len = pgrx::varsize_any_exhdr(flat);
        let data = pgrx::vardata_any(flat) as *const u8;
        let bytes = std::slice::from_raw_parts(data, len).to_vec();
        Some(JsonbKey {
            bytes,
            datum: pg_sys::Datum::from(flat),
        })
    }
}

unsafe impl UnboxDatum for JsonbKey {
    type As<'src> = JsonbKey;
    unsafe fn unbox<'src>(d: Datum<'src>) -> Self::As<'src>
    where
        Self: 'src,
    {
        JsonbKey::from_datum(d.sans_lifetime(), false).expect("non-null jsonb")
    }
}

unsafe impl<'fcx> ArgAbi<'fcx> for JsonbKey {
    unsafe fn unbox_arg_unchecked(arg: Arg<'_, 'fcx>) -> Self {
        arg.unbox_arg_using_from_datum()
            .expect("strict argument is not null")
    }
}

pgrx::impl_sql_translatable!(JsonbKey, "jsonb");
