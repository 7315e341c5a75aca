//! Section 1: pkce_verify, pkce_challenge, pkce_verifier (RFC 7636).
use crate::error::OrReport;
use auth_core::pkce::{self, Method};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;

/// Whether `verifier` answers `challenge` (constant-time); false for a malformed verifier.
#[pg_extern(immutable, parallel_safe)]
fn pkce_verify(
    verifier: &str,
    challenge: &str,
    method: default!(&str, "'S256'"),
) -> Result<bool, ErrorReport> {
    let method = Method::parse(method).or_report()?;
    Ok(pkce::verify(verifier, challenge, method))
}

/// The challenge of a verifier; 22023 for a malformed verifier or unknown method.
#[pg_extern(immutable, parallel_safe)]
fn pkce_challenge(verifier: &str, method: default!(&str, "'S256'")) -> Result<String, ErrorReport> {
    pkce::challenge(verifier, Method::parse(method).or_report()?).or_report()
}

/// A new random verifier of `length` (43 to 128) characters, from the OS CSPRNG.
#[pg_extern(volatile, parallel_safe)]
fn pkce_verifier(length: default!(i32, 64)) -> Result<String, ErrorReport> {
    pkce::new_verifier(length).or_report()
}
