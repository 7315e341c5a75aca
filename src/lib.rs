//! supabase_auth_ext: JWT, PKCE and request-auth helpers for PostgreSQL.
//!
//! The logic lives in the pgrx-free crate `auth_core`; this crate only adapts it to SQL.
// The SQL functions return pgrx's ErrorReport (the error type at the edge, built at most once
// per call); its size does not matter there.
#![allow(clippy::result_large_err)]
use pgrx::prelude::*;

mod api;
mod error;
mod gucs;
mod jsonb;
mod keycache;

::pgrx::pg_module_magic!(name, version);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    gucs::init();
    api::context::init();
}

#[cfg(any(test, feature = "pg_test"))]
mod tests;

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
