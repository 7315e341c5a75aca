//! The SQL surface: thin functions over auth_core, grouped by contract section.
pub mod context;
pub mod debug;
pub mod flows;
pub mod install;
pub mod jwt;
pub mod login;
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
    finish: impl FnOnce(&mut auth_core::jsonb::Node, &str) -> auth_core::Result<R>,
) -> auth_core::Result<R> {
    let leeway = f64::from(crate::gucs::JWT_LEEWAY.get());
    // A rejection by `finish` (the role claim, the session check) counts as a rejection.
    let r = auth_core::jwt::verify_with(token, keys, opts, now(), leeway, finish).and_then(|r| r);
    debug::record(&r);
    r
}
