//! `jsonb` in and out. Arguments arrive as their text ([`JsonbText`]): pgrx's own JsonB goes
//! through serde_json::Value, which rounds big numbers to f64 (a 20-digit id claim would
//! change). Results are built by [`to_jsonb`] from auth_core's parse, straight to jsonb's
//! binary form.
use auth_core::json::Node;
use auth_core::{AuthError, Reason};
use pgrx::callconv::{BoxRet, FcInfo};
use pgrx::datum::Datum;
use pgrx::{
    direct_function_call, direct_function_call_as_datum, pg_sys, FromDatum, IntoDatum, PgTryBuilder,
};
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
        // The empty object (jwt_verify's default options, on every call) is read from its
        // binary form: a root container header with no members.
        let flat = pg_sys::pg_detoast_datum_packed(datum.cast_mut_ptr());
        if pgrx::varsize_any_exhdr(flat) == 4 {
            let header = (pgrx::vardata_any(flat) as *const u32).read_unaligned();
            if header == pg_sys::JB_FOBJECT {
                return Some(JsonbText("{}".into()));
            }
        }
        // jsonb_out detoasts its argument itself.
        let cstr = direct_function_call::<&CStr>(pg_sys::jsonb_out, &[Some(datum)])?;
        let text = auth_core::json::minify(cstr.to_str().expect("jsonb_out returns UTF-8"));
        pg_sys::pfree(cstr.as_ptr() as *mut _);
        Some(JsonbText(text))
    }
}

/// The argument plumbing pgrx needs for a type that is read with [`FromDatum`].
macro_rules! arg_from_datum {
    ($t:ty) => {
        unsafe impl pgrx::datum::UnboxDatum for $t {
            type As<'src> = $t;
            unsafe fn unbox<'src>(d: pgrx::datum::Datum<'src>) -> Self::As<'src>
            where
                Self: 'src,
            {
                <$t as pgrx::FromDatum>::from_datum(d.sans_lifetime(), false)
                    .expect("non-null argument")
            }
        }

        unsafe impl<'fcx> pgrx::callconv::ArgAbi<'fcx> for $t {
            unsafe fn unbox_arg_unchecked(arg: pgrx::callconv::Arg<'_, 'fcx>) -> Self {
                arg.unbox_arg_using_from_datum()
                    .expect("strict argument is not null")
            }
        }
    };
}
pub(crate) use arg_from_datum;

arg_from_datum!(JsonbText);

/// A jsonb value built by [`to_jsonb`], ready to return.
pub struct JsonbOut(pub pg_sys::Datum);

/// The jsonb for a parsed JSON value and its text. In a UTF-8 database an object or array
/// is written straight to jsonb's binary form (auth_core::jsonb: several times faster than
/// jsonb_in, byte-identical, tested); otherwise the text goes through jsonb_in, converted to
/// the server encoding. A number PostgreSQL's numeric refuses (an exponent past 1000, say)
/// makes the token malformed rather than raising numeric_in's own error.
pub fn to_jsonb(tree: &mut Node, text: &str) -> auth_core::Result<JsonbOut> {
    let utf8 = unsafe { pg_sys::GetDatabaseEncoding() } == pg_sys::pg_enc::PG_UTF8 as i32;
    if !utf8 || !matches!(tree, Node::Obj(_) | Node::Arr(_)) {
        return Ok(JsonbOut(jsonb_in(text)));
    }
    tree.encode(&mut numeric_bytes)
        .map(|bytes| JsonbOut(palloc_copy(&bytes)))
        .ok_or_else(|| {
            AuthError::token(
                Reason::Malformed,
                "a number in the JSON does not fit PostgreSQL's numeric",
            )
        })
}

/// Whether [`to_jsonb`] would accept every number of the value, without building it (for
/// jwt_is_valid, which must answer false exactly where jwt_verify raises). A plain number
/// of up to 1000 characters always fits numeric; only others are tried with numeric_in.
pub fn numbers_fit(tree: &mut Node, _text: &str) -> bool {
    tree.all_numbers(&mut |t| {
        (t.len() <= 1000 && !t.contains(['e', 'E'])) || numeric_bytes(t).is_some()
    })
}

/// jsonb_in on UTF-8 text (converted to the server encoding first).
pub fn jsonb_in(text: &str) -> pg_sys::Datum {
    let cstring = CString::new(text).expect("validated JSON has no NUL byte");
    unsafe {
        let server = pg_sys::pg_any_to_server(
            cstring.as_ptr(),
            cstring.as_bytes().len() as i32,
            pg_sys::pg_enc::PG_UTF8 as i32,
        );
        direct_function_call_as_datum(pg_sys::jsonb_in, &[Some(server.into())])
            .expect("jsonb_in returns a value")
    }
}

impl IntoDatum for JsonbOut {
    fn into_datum(self) -> Option<pg_sys::Datum> {
        Some(self.0)
    }

    fn type_oid() -> pg_sys::Oid {
        pg_sys::JSONBOID
    }
}

unsafe impl BoxRet for JsonbOut {
    unsafe fn box_into<'fcx>(self, fcinfo: &mut FcInfo<'fcx>) -> Datum<'fcx> {
        fcinfo.return_raw_datum(self.0)
    }
}

pgrx::impl_sql_translatable!(JsonbOut, "jsonb");

pgrx::impl_sql_translatable!(JsonbText, "jsonb");

/// PostgreSQL's own numeric for a JSON number's text (what jsonb_in stores for it); None
/// where numeric_in raises (its error is caught: numeric_in holds no resources).
fn numeric_bytes(text: &str) -> Option<Vec<u8>> {
    if let Some(bytes) = integer_numeric(text) {
        return Some(bytes);
    }
    let c = CString::new(text).ok()?;
    PgTryBuilder::new(|| unsafe {
        let d = direct_function_call_as_datum(
            pg_sys::numeric_in,
            &[
                Some(c.as_ptr().into()),
                Some(pg_sys::InvalidOid.into()),
                Some((-1i32).into()),
            ],
        )?;
        let ptr = d.cast_mut_ptr::<pg_sys::varlena>();
        let bytes = std::slice::from_raw_parts(ptr as *const u8, pgrx::varsize_any(ptr)).to_vec();
        pg_sys::pfree(ptr.cast());
        Some(bytes)
    })
    .catch_others(|_| None)
    .execute()
}

/// A palloc'd copy of a complete varlena, as a Datum.
fn palloc_copy(bytes: &[u8]) -> pg_sys::Datum {
    unsafe {
        let ptr = pg_sys::palloc(bytes.len()) as *mut u8;
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), ptr, bytes.len());
        pg_sys::Datum::from(ptr)
    }
}

/// numeric_in's result for a JSON integer of at most 18 digits (exp, iat and the like),
/// written directly: numeric_in's call, its error trap and a copy cost about a third of
/// jwt_verify's time above the core's. The layout is numeric.c's short form: a 4-byte
/// varlena header, then n_header (NUMERIC_SHORT, the sign, dscale 0, the weight), then the
/// base-10000 digits with leading and trailing zero groups stripped (zero: no digits,
/// weight 0, positive). Byte-identical to numeric_in (src/tests.rs checks it); anything
/// else goes to numeric_in.
pub(crate) fn integer_numeric(text: &str) -> Option<Vec<u8>> {
    if cfg!(not(target_endian = "little")) {
        return None;
    }
    let (negative, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text),
    };
    let plain = !digits.is_empty()
        && digits.len() <= 18
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits.len() == 1 || !digits.starts_with('0'));
    if !plain {
        return None;
    }
    let first = (digits.len() - 1) % 4 + 1;
    let mut groups: Vec<u16> = std::iter::once(&digits[..first])
        .chain(
            digits.as_bytes()[first..]
                .chunks(4)
                .map(|c| std::str::from_utf8(c).expect("ASCII")),
        )
        .map(|g| g.parse().expect("digits"))
        .collect();
    let weight = groups.len() as u16 - 1;
    while groups.last() == Some(&0) {
        groups.pop();
    }
    let (negative, weight) = if groups.is_empty() {
        (false, 0)
    } else {
        (negative, weight)
    };
    const NUMERIC_SHORT: u16 = 0x8000;
    const NUMERIC_SHORT_SIGN_MASK: u16 = 0x2000;
    const NUMERIC_SHORT_WEIGHT_MASK: u16 = 0x003F;
    let header = NUMERIC_SHORT
        | if negative { NUMERIC_SHORT_SIGN_MASK } else { 0 }
        | (weight & NUMERIC_SHORT_WEIGHT_MASK);
    let len = 4 + 2 + 2 * groups.len();
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&((len as u32) << 2).to_le_bytes()); // SET_VARSIZE, 4-byte form
    out.extend_from_slice(&header.to_le_bytes());
    for g in groups {
        out.extend_from_slice(&g.to_le_bytes());
    }
    Some(out)
}
