//! `jsonb` as its text, in and out. pgrx's own JsonB goes through serde_json::Value, which
//! rounds big numbers to f64 (a 20-digit id claim would change); this keeps jsonb's text
//! exactly, and lets jwt_verify hand the payload bytes to jsonb_in without re-serialising.
use pgrx::callconv::{Arg, ArgAbi, BoxRet, FcInfo};
use pgrx::datum::{Datum, UnboxDatum};
use pgrx::{direct_function_call, direct_function_call_as_datum, pg_sys, FromDatum, IntoDatum};
use std::ffi::{CStr, CString};

/// The text of a jsonb value, compact (no spaces between tokens).
#[derive(Debug, Clone)]
pub struct JsonbText(pub String);

impl FromDatum for JsonbText {
    unsafe fn from_polymorphic_datum(
        datum: pg_sys::Datum,
        is_null: bool,
        _: pg_sys::Oid,
    ) -> Option<Self> {
        if is_null {
            return None;
        }
        // jsonb_out detoasts its argument itself.
        let cstr = direct_function_call::<&CStr>(pg_sys::jsonb_out, &[Some(datum)])?;
        let text = auth_core::json::minify(cstr.to_str().expect("jsonb_out returns UTF-8"));
        pg_sys::pfree(cstr.as_ptr() as *mut _);
        Some(JsonbText(text))
    }
}

unsafe impl UnboxDatum for JsonbText {
    type As<'src> = JsonbText;
    unsafe fn unbox<'src>(d: Datum<'src>) -> Self::As<'src>
    where
        Self: 'src,
    {
        JsonbText::from_datum(d.sans_lifetime(), false).expect("non-null jsonb")
    }
}

unsafe impl<'fcx> ArgAbi<'fcx> for JsonbText {
    unsafe fn unbox_arg_unchecked(arg: Arg<'_, 'fcx>) -> Self {
        arg.unbox_arg_using_from_datum()
            .expect("strict argument is not null")
    }
}

impl IntoDatum for JsonbText {
    /// The text is JSON validated by auth_core (no `\u0000`). In a UTF-8 database an object
    /// or array is encoded straight to jsonb's binary form (auth_core::jsonb, several times
    /// faster than jsonb_in); anything else goes through jsonb_in, which also converts the
    /// text to the server encoding's rules.
    fn into_datum(self) -> Option<pg_sys::Datum> {
        let utf8 = unsafe { pg_sys::GetDatabaseEncoding() } == pg_sys::pg_enc::PG_UTF8 as i32;
        if utf8 {
            if let Some(bytes) = auth_core::jsonb::encode(self.0.as_bytes(), &mut numeric_bytes) {
                return Some(palloc_copy(&bytes));
            }
        }
        let cstring = CString::new(self.0).expect("validated JSON has no NUL byte");
        let server = unsafe {
            pg_sys::pg_any_to_server(
                cstring.as_ptr(),
                cstring.as_bytes().len() as i32,
                pg_sys::pg_enc::PG_UTF8 as i32,
            )
        };
        unsafe { direct_function_call_as_datum(pg_sys::jsonb_in, &[Some(server.into())]) }
    }

    fn type_oid() -> pg_sys::Oid {
        pg_sys::JSONBOID
    }
}

unsafe impl BoxRet for JsonbText {
    unsafe fn box_into<'fcx>(self, fcinfo: &mut FcInfo<'fcx>) -> Datum<'fcx> {
        match self.into_datum() {
            Some(datum) => fcinfo.return_raw_datum(datum),
            None => fcinfo.return_null(),
        }
    }
}

pgrx::impl_sql_translatable!(JsonbText, "jsonb");

/// PostgreSQL's own numeric for a JSON number's text (what jsonb_in stores for it).
fn numeric_bytes(text: &str) -> Vec<u8> {
    let c = CString::new(text).expect("a JSON number has no NUL");
    unsafe {
        let d = direct_function_call_as_datum(
            pg_sys::numeric_in,
            &[
                Some(c.as_ptr().into()),
                Some(pg_sys::InvalidOid.into()),
                Some((-1i32).into()),
            ],
        )
        .expect("numeric_in returns a value");
        let ptr = d.cast_mut_ptr::<pg_sys::varlena>();
        let bytes = std::slice::from_raw_parts(ptr as *const u8, pgrx::varsize_any(ptr)).to_vec();
        pg_sys::pfree(ptr.cast());
        bytes
    }
}

/// A palloc'd copy of a complete varlena, as a Datum.
fn palloc_copy(bytes: &[u8]) -> pg_sys::Datum {
    unsafe {
        let ptr = pg_sys::palloc(bytes.len()) as *mut u8;
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), ptr, bytes.len());
        pg_sys::Datum::from(ptr)
    }
}
