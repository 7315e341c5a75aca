//! Section 4: PKCE code exchange, sessions, refresh-token rotation with reuse detection.
//!
//! The flows are PL/pgSQL over extension-owned tables (declared below); this file holds the
//! Rust they call: secrets, hashes, the seal of the current pair (auth_core::flow), the
//! verification of an access token, and one thing PL/pgSQL cannot do: commit a change that
//! must survive the error raised right after it (a burnt auth code, a revoked session).
use super::login::{configured_keys, first_issuer, login_options};
use crate::error::OrReport;
use crate::jsonb::{to_jsonb, JsonbOut};
use auth_core::{flow, AuthError, Reason};
use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, SignalWakeFlags};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode::*;

/// 25006 on a hot standby: the flows write; verification works there.
#[pg_extern(sql = false)]
fn flow_guard() -> Result<(), ErrorReport> {
    if unsafe { pg_sys::RecoveryInProgress() } {
        return Err(ErrorReport::new(
            ERRCODE_READ_ONLY_SQL_TRANSACTION,
            "auth flows cannot run on a hot standby",
            "",
        )
        .set_hint(
            "Call auth.pkce_begin, pkce_exchange, refresh, resume and revoke_* on the primary; \
             auth.login and jwt_verify work here."
                .to_owned(),
        ));
    }
    Ok(())
}

/// A new auth code or refresh token (256 random bits, base64url).
#[pg_extern(sql = false)]
fn flow_secret() -> String {
    flow::new_secret()
}

/// The stored form of a code or refresh token.
#[pg_extern(sql = false)]
fn flow_hash(secret: &str) -> Vec<u8> {
    flow::hash(secret).to_vec()
}

/// `data` sealed under the refresh token `secret`.
#[pg_extern(sql = false)]
fn flow_seal(secret: &str, data: &str) -> Vec<u8> {
    flow::seal(secret, data.as_bytes())
}

/// What flow_seal sealed under `secret`; NULL for any other secret or altered bytes.
#[pg_extern(sql = false)]
fn flow_open(secret: &str, sealed: &[u8]) -> Option<String> {
    flow::open(secret, sealed).and_then(|b| String::from_utf8(b).ok())
}

/// The claims of an access token verified as auth.login verifies it; NULL when its only
/// fault is being expired (auth.resume then refreshes); 28000 for anything else.
#[pg_extern(sql = false)]
fn flow_claims(token: Option<&str>) -> Result<Option<JsonbOut>, ErrorReport> {
    let token = token.ok_or_else(|| {
        crate::error::report(AuthError::token(Reason::Malformed, "no access token"))
    })?;
    let keys = configured_keys()?;
    match super::verify(token, &keys, &login_options(), to_jsonb) {
        Err(AuthError::Token {
            reason: Reason::Expired,
            ..
        }) => Ok(None),
        r => r.and_then(|claims| claims).map(Some).or_report(),
    }
}

/// The `iss` of a flow's access tokens (NULL: none): the issuer auth.issue_api_key uses.
#[pg_extern(sql = false)]
fn flow_issuer() -> Option<&'static str> {
    first_issuer()
}

/// The changes a flow commits on its own before raising (see [`flow_commit`]).
#[derive(Clone, Copy)]
enum Commit {
    /// Delete an auth code (by the hex of its hash): a wrong verifier burns it.
    Burn,
    /// Revoke a session (by id): a reused refresh token ends it.
    Revoke,
}

impl Commit {
    fn parse(action: &str, arg: &str) -> Option<Commit> {
        match action {
            "burn" if arg.len() == 64 && arg.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Some(Commit::Burn)
            }
            "revoke" if auth_core::uuid::parse(arg).is_some() => Some(Commit::Revoke),
            _ => None,
        }
    }

    fn sql(self) -> &'static str {
        match self {
            Commit::Burn => "DELETE FROM auth.sae_flow_codes WHERE code_hash = decode($1, 'hex')",
            Commit::Revoke => {
                "UPDATE auth.sae_flow_sessions SET revoked_at = clock_timestamp() \
                 WHERE id = $1::uuid AND revoked_at IS NULL"
            }
        }
    }
}

/// Commit `action` on `arg` in a transaction of its own, so that it stays done when the
/// caller raises right after (PostgreSQL has no autonomous transactions; a dynamic
/// background worker gives one, as pg_background does). Waits for the worker; false (with
/// a WARNING) when no worker could be started. The caller must not hold a lock on the row.
#[pg_extern(sql = false)]
fn flow_commit(action: &str, arg: &str) -> Result<bool, ErrorReport> {
    let commit = Commit::parse(action, arg).ok_or_else(|| {
        crate::error::report(AuthError::InvalidOption("unknown flow commit".into()))
    })?;
    let extra = format!(
        "{} {} {}",
        unsafe { pg_sys::MyDatabaseId }.to_u32(),
        action,
        arg
    );
    for attempt in 0..20 {
        let started = BackgroundWorkerBuilder::new("supabase_auth_ext flow commit")
            .set_library("supabase_auth_ext")
            .set_function("sae_flow_commit_main")
            .enable_spi_access()
            .set_extra(&extra)
            .set_notify_pid(unsafe { pg_sys::MyProcPid })
            .load_dynamic();
        if let Ok(worker) = started {
            return Ok(worker.wait_for_shutdown().is_ok());
        }
        if attempt < 19 {
            unsafe { pg_sys::pg_usleep(10_000) }; // a worker slot may free up
        }
    }
    let what = match commit {
        Commit::Burn => "the auth code could not be burnt",
        Commit::Revoke => "the session could not be revoked",
    };
    warning!("{what}: no background worker slot is free (max_worker_processes)");
    Ok(false)
}

/// The worker behind [`flow_commit`]: connects to the caller's database as the bootstrap
/// superuser and runs the one statement its action names, with a short lock timeout.
#[pg_guard]
#[no_mangle]
pub extern "C-unwind" fn sae_flow_commit_main(_arg: pg_sys::Datum) {
    let extra = BackgroundWorker::get_extra().to_owned();
    let mut parts = extra.split(' ');
    let (Some(db), Some(action), Some(arg)) = (parts.next(), parts.next(), parts.next()) else {
        return;
    };
    let (Ok(db), Some(commit)) = (db.parse::<u32>(), Commit::parse(action, arg)) else {
        return;
    };
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGTERM);
    BackgroundWorker::connect_worker_to_spi_by_oid(Some(pg_sys::Oid::from(db)), None);
    let arg = arg.to_owned();
    BackgroundWorker::transaction(move || {
        Spi::run("SET LOCAL lock_timeout = '2s'").expect("SET LOCAL runs");
        Spi::run_with_args(commit.sql(), &[arg.as_str().into()]).expect("the flow commit runs");
    });
}

extension_sql_file!("flows.sql", name = "auth_flows", requires = ["auth_login"],);
