//! The SQL surface: thin functions over auth_core, grouped by contract section.

/// Export `#[pg_extern(sql = false)]` functions under names of ours, which the hand-written
/// `CREATE FUNCTION`s in sql/surface/*.sql name (pgrx's own `<fn>_wrapper` names stay its
/// business; the compiler checks each wrapper exists). Each gets its V1 info function.
macro_rules! export {
    ($($symbol:ident, $finfo:ident => $wrapper:path;)*) => {$(
        #[no_mangle]
        #[doc(hidden)]
        pub extern "C" fn $finfo() -> &'static pgrx::pg_sys::Pg_finfo_record {
            const V1: pgrx::pg_sys::Pg_finfo_record = pgrx::pg_sys::Pg_finfo_record { api_version: 1 };
            &V1
        }

        #[no_mangle]
        #[doc(hidden)]
        /// # Safety
        /// Called by PostgreSQL's fmgr only, with a valid `fcinfo`.
        pub unsafe extern "C-unwind" fn $symbol(
            fcinfo: pgrx::pg_sys::FunctionCallInfo,
        ) -> pgrx::pg_sys::Datum {
            $wrapper(fcinfo)
        }
    )*};
}
pub(crate) use export;
pub mod context;
pub mod debug;
pub mod flows;
pub mod install;
pub mod jwt;
pub mod login;
pub mod oauth;
pub mod pgjwt;
pub mod pkce;
pub mod sessions;

/// Unix seconds of the wall clock (as PostgREST checks tokens, not the transaction start).
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Verify `token` now with auth.jwt_leeway, counting the outcome for auth.stats(): how every
/// SQL function verifies (jwt_verify and jwt_is_valid, auth.login, the flows).
pub fn verify<R>(
    token: &str,
    keys: &auth_core::keys::KeySet,
    opts: &auth_core::claims::VerifyOptions,
    finish: impl FnOnce(&mut auth_core::json::Node, &str) -> auth_core::Result<R>,
) -> auth_core::Result<R> {
    let leeway = crate::gucs::leeway();
    // A rejection by `finish` (the role claim, the session check) counts as a rejection.
    let r = auth_core::jwt::verify_with(token, keys, opts, now(), leeway, finish).and_then(|r| r);
    debug::record(&r);
    r
}
