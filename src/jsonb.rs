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
    fn into_datum(self) -> Option<pg_sys::Datum> {
        // The text comes from jsonb_out or was validated as JSON with no NUL escape.
        let cstring = CString::new(self.0).expect("validated JSON has no NUL byte");
        unsafe { direct_function_call_as_datum(pg_sys::jsonb_in, &[Some(cstring.as_ptr().into())]) }
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
