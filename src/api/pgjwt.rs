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

pgrx::extension_sql_file!("../../sql/surface/pgjwt.sql", name = "pgjwt_compat");

super::export! {
    sae_pgjwt_sign, pg_finfo_sae_pgjwt_sign => pgjwt_sign_wrapper;
    sae_pgjwt_verify, pg_finfo_sae_pgjwt_verify => pgjwt_verify_wrapper;
}
