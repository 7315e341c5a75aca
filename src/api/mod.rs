//! The SQL surface: thin functions over auth_core, grouped by contract section.
pub mod context;
pub mod debug;
pub mod flows;
pub mod jwt;
pub mod login;
pub mod pgjwt;
pub mod pkce;

/// Unix seconds of the wall clock (as PostgREST checks tokens, not the transaction start).
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
