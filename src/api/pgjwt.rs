//! The `pgjwt` compatibility schema (pgjwt 0.2.0's sign, verify, url_encode, url_decode)
//! over auth_core::pgjwt; declared in schema pgjwt below.
use crate::error::OrReport;
use auth_core::pgjwt;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;

/// pgjwt.sign(payload json, ...): `payload` is json's text, exactly as given.
#[pg_extern(sql = false)]
fn pgjwt_sign(payload: &str, secret: &str, algorithm: &str) -> Result<String, ErrorReport> {
    pgjwt::sign(payload, secret.as_bytes(), algorithm).or_report()
}

/// pgjwt.verify: one row (header json, payload json, valid), valid at the transaction's
/// start time (pgjwt compares with CURRENT_TIMESTAMP).
#[pg_extern(sql = false)]
fn pgjwt_verify(
    token: &str,
    secret: &str,
    algorithm: &str,
) -> Result<
    TableIterator<
        'static,
        (
            name!(header, String),
            name!(payload, String),
            name!(valid, bool),
        ),
    >,
    ErrorReport,
> {
    // TimestampTz: microseconds since 2000-01-01 UTC
    let start = unsafe { pg_sys::GetCurrentTransactionStartTimestamp() };
    let now = start as f64 / 1e6 + 946_684_800.0;
    let v = pgjwt::verify(token, secret.as_bytes(), algorithm, now).or_report()?;
    Ok(TableIterator::once((v.header, v.payload, v.valid)))
}

extension_sql!(
    r#"
CREATE FUNCTION sae_internal.create_pgjwt_schema() RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $f$
BEGIN
  IF to_regnamespace('pgjwt') IS NULL THEN
    CREATE SCHEMA pgjwt;
  ELSIF EXISTS (SELECT 1 FROM pg_proc WHERE pronamespace = 'pgjwt'::regnamespace
                AND proname IN ('sign', 'verify', 'url_encode', 'url_decode')) THEN
    RAISE EXCEPTION USING ERRCODE = '42723',
      MESSAGE = 'schema pgjwt already holds pgjwt''s functions (is the pgjwt extension installed there?)',
      HINT = 'supabase_auth_ext provides them natively: DROP EXTENSION pgjwt first.';
  ELSIF NOT (SELECT r.rolsuper FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner
             WHERE n.nspname = 'pgjwt') THEN
    -- its owner could add overloads that callers' pgjwt.sign('...', '...') would pick
    RAISE EXCEPTION USING ERRCODE = '42501',
      MESSAGE = 'schema pgjwt exists and belongs to a role that is not a superuser',
      HINT = 'Drop it, or make a superuser its owner, before CREATE EXTENSION supabase_auth_ext.';
  END IF;
END $f$;
SELECT sae_internal.create_pgjwt_schema();
CREATE FUNCTION pgjwt.url_encode(data bytea) RETURNS text LANGUAGE sql IMMUTABLE STRICT
  SET search_path = pg_catalog
  AS $f$ SELECT translate(encode(data, 'base64'), E'+/=\n', '-_') $f$;
CREATE FUNCTION pgjwt.url_decode(data text) RETURNS bytea LANGUAGE sql IMMUTABLE STRICT
  SET search_path = pg_catalog
  AS $f$ SELECT decode(t || repeat('=', (4 - length(t) % 4) % 4), 'base64')
         FROM translate(data, '-_', '+/') t $f$;
CREATE FUNCTION pgjwt.sign(payload json, secret text, algorithm text DEFAULT 'HS256') RETURNS text
  LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'pgjwt_sign_wrapper';
CREATE FUNCTION pgjwt.verify(token text, secret text, algorithm text DEFAULT 'HS256')
  RETURNS TABLE(header json, payload json, valid boolean)
  LANGUAGE c STABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'pgjwt_verify_wrapper';
COMMENT ON FUNCTION pgjwt.sign(json, text, text) IS 'pgjwt 0.2.0 compatible: the same token byte for byte (native HMAC)';
COMMENT ON FUNCTION pgjwt.verify(text, text, text) IS 'pgjwt 0.2.0 compatible: (header, payload, valid); valid false for a wrong secret, expired or not yet valid';
"#,
    name = "pgjwt_compat",
);
