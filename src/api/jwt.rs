//! Section 1: jwt_sign, jwt_verify, jwt_is_valid, jwt_decode (extension schema).
use crate::error::OrReport;
use crate::jsonb::{numbers_fit, to_jsonb, JsonbOut, JsonbText};
use crate::keycache::{jsonb_key, text_key, JsonbKey};
use auth_core::alg::Alg;
use auth_core::claims::VerifyOptions;
use auth_core::json::Node;
use auth_core::keys::KeySet;
use auth_core::{jwt, AuthError};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use std::rc::Rc;

/// Verify, then build the result from the verified payload with `finish`.
fn verify_with<R>(
    token: &str,
    keys: auth_core::Result<Rc<KeySet>>,
    options: &JsonbText,
    finish: impl FnOnce(&mut Node, &str) -> auth_core::Result<R>,
) -> auth_core::Result<R> {
    let keys = keys?;
    let opts = VerifyOptions::from_json(&options.0)?;
    super::verify(token, &keys, &opts, finish)
}

/// Verify and return the claims as jsonb.
fn verified_claims(
    token: &str,
    keys: auth_core::Result<Rc<KeySet>>,
    options: &JsonbText,
) -> Result<JsonbOut, ErrorReport> {
    verify_with(token, keys, options, to_jsonb).or_report()
}

/// `jwt_is_valid`: false where jwt_verify raises 28000; other errors are raised.
fn is_valid(r: auth_core::Result<bool>) -> Result<bool, ErrorReport> {
    match r {
        Ok(fits) => Ok(fits),
        Err(AuthError::Token { .. }) => Ok(false),
        Err(e) => Err(crate::error::report(e)),
    }
}

/// Sign `claims` (a JSON object, written as given) with a secret or PEM / JWK text key.
#[pg_extern(volatile, parallel_safe)]
fn jwt_sign(
    claims: JsonbText,
    key: &str,
    algorithm: default!(&str, "'HS256'"),
) -> Result<String, ErrorReport> {
    let alg = Alg::parse_option(algorithm).or_report()?;
    jwt::sign(&claims.0, &*text_key(key).or_report()?, Some(alg)).or_report()
}

/// Sign with a JWK or JWKS; `algorithm` NULL means the key's own alg or its family's default.
#[pg_extern(volatile, parallel_safe, name = "jwt_sign")]
fn jwt_sign_jwk(
    claims: Option<JsonbText>,
    key: Option<JsonbKey>,
    algorithm: default!(Option<&str>, "NULL"),
) -> Result<Option<String>, ErrorReport> {
    let (Some(claims), Some(key)) = (claims, key) else {
        return Ok(None);
    };
    let alg = algorithm.map(Alg::parse_option).transpose().or_report()?;
    jwt::sign(&claims.0, &*jsonb_key(&key).or_report()?, alg)
        .or_report()
        .map(Some)
}

/// Verify a token against a secret, PEM or JWK / JWKS text; return its claims.
#[pg_extern(stable, parallel_safe)]
fn jwt_verify(
    token: &str,
    key: &str,
    options: default!(JsonbText, "'{}'"),
) -> Result<JsonbOut, ErrorReport> {
    verified_claims(token, text_key(key), &options)
}

/// Verify a token against a JWK or JWKS; return its claims.
#[pg_extern(stable, parallel_safe, name = "jwt_verify")]
fn jwt_verify_jwk(
    token: &str,
    key: JsonbKey,
    options: default!(JsonbText, "'{}'"),
) -> Result<JsonbOut, ErrorReport> {
    verified_claims(token, jsonb_key(&key), &options)
}

/// Whether jwt_verify would accept the token (text key).
#[pg_extern(stable, parallel_safe)]
fn jwt_is_valid(
    token: &str,
    key: &str,
    options: default!(JsonbText, "'{}'"),
) -> Result<bool, ErrorReport> {
    is_valid(verify_with(token, text_key(key), &options, |t, x| {
        Ok(numbers_fit(t, x))
    }))
}

/// Whether jwt_verify would accept the token (JWK / JWKS key).
#[pg_extern(stable, parallel_safe, name = "jwt_is_valid")]
fn jwt_is_valid_jwk(
    token: &str,
    key: JsonbKey,
    options: default!(JsonbText, "'{}'"),
) -> Result<bool, ErrorReport> {
    is_valid(verify_with(token, jsonb_key(&key), &options, |t, x| {
        Ok(numbers_fit(t, x))
    }))
}

/// `{"header": ..., "payload": ...}` of a token, NOT verified.
#[pg_extern(immutable, parallel_safe)]
fn jwt_decode(token: &str) -> Result<JsonbOut, ErrorReport> {
    jwt::decode_with(token, to_jsonb)
        .and_then(|r| r)
        .or_report()
}
