//! Every setting of the extension, defined once in `init()` (called from `_PG_init`).
use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};
use std::ffi::{c_char, c_void, CStr, CString};

/// auth.jwt_leeway: default clock skew for exp / nbf. SUSET: a user must not widen it.
pub static JWT_LEEWAY: GucSetting<i32> = GucSetting::<i32>::new(30);

/// The request settings PostgREST (or auth.login) writes and the auth.* helpers read.
/// We own them (define them) so that an assign hook tells us of every change: that is what
/// lets auth.uid() answer from a cache with one integer comparison per row.
pub static CLAIMS: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c""));
pub static CLAIM_LEGACY: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c""));
pub static CLAIM_SUB: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c""));
pub static CLAIM_ROLE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c""));
pub static CLAIM_EMAIL: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c""));

/// The current value of a string setting without copying it; None when unset or empty
/// (the contract: an empty setting counts as unset).
pub fn value(setting: &'static GucSetting<Option<CString>>) -> Option<&'static CStr> {
    // SAFETY: the GUC machinery keeps this pointer valid until the next change of the
    // setting; callers use it at once and never across a change.
    let ptr = unsafe { *setting.as_ptr() };
    if ptr.is_null() {
        return None;
    }
    let s = unsafe { CStr::from_ptr(ptr) };
    (!s.is_empty()).then_some(s)
}

pub fn init(on_change: unsafe extern "C-unwind" fn(*const c_char, *mut c_void)) {
    GucRegistry::define_int_guc(
        c"auth.jwt_leeway",
        c"Sets the seconds of clock skew allowed when checking exp and nbf.",
        c"Used by jwt_verify unless its options name a leeway. Superuser-only.",
        &JWT_LEEWAY,
        0,
        86_400,
        GucContext::Suset,
        GucFlags::UNIT_S,
    );
    let request: [(
        &'static CStr,
        &'static CStr,
        &'static GucSetting<Option<CString>>,
    ); 5] = [
        (
            c"request.jwt.claims",
            c"Holds the verified JWT claims of the request, as JSON text (PostgREST).",
            &CLAIMS,
        ),
        (
            c"request.jwt.claim",
            c"Holds the JWT claims as JSON text (legacy, read by auth.jwt()).",
            &CLAIM_LEGACY,
        ),
        (
            c"request.jwt.claim.sub",
            c"Holds the JWT subject (legacy PostgREST per-claim setting).",
            &CLAIM_SUB,
        ),
        (
            c"request.jwt.claim.role",
            c"Holds the JWT role (legacy PostgREST per-claim setting).",
            &CLAIM_ROLE,
        ),
        (
            c"request.jwt.claim.email",
            c"Holds the JWT email (legacy PostgREST per-claim setting).",
            &CLAIM_EMAIL,
        ),
    ];
    for (name, short, setting) in request {
        // SAFETY: the hook only bumps a counter; it cannot fail or call back into Postgres.
        unsafe {
            GucRegistry::define_string_guc_with_hooks(
                name,
                short,
                c"Set per request by the API layer; read by the auth.* helpers. Empty means unset.",
                setting,
                GucContext::Userset,
                GucFlags::default(),
                None,
                Some(on_change),
                None,
            );
        }
    }
}
