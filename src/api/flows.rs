//! Section 4: PKCE code exchange, sessions, refresh-token rotation with reuse detection.
//!
//! The flows are PL/pgSQL over extension-owned tables (declared below); this file holds the
//! Rust they call: secrets, hashes, the seal of the current pair (auth_core::flow), the
//! verification of an access token, and one thing PL/pgSQL cannot do: commit a change that
//! must survive the error raised right after it (a burnt auth code, a revoked session).
use super::login::{configured_keys, first_issuer, login_options};
use crate::error::{report, Error, OrReport};
use crate::jsonb::{to_jsonb, JsonbOut};
use auth_core::{flow, AuthError, Reason};
use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, SignalWakeFlags};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;

/// 25006 on a hot standby: the flows write; verification works there. 0A000 outside READ
/// COMMITTED: a revocation committed by another transaction must stop the next refresh,
/// and a REPEATABLE READ snapshot taken before it would not see it (a token holder could
/// keep minting access tokens for a revoked session inside one long transaction).
#[pg_extern(sql = false)]
fn flow_guard() -> Result<(), ErrorReport> {
    if unsafe { pg_sys::XactIsoLevel } != pg_sys::XACT_READ_COMMITTED as i32 {
        return Err(report(Error::NotReadCommitted));
    }
    if unsafe { pg_sys::RecoveryInProgress() } {
        return Err(report(Error::Standby));
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

/// What the seal of a session's current pair is bound to: the configured key's text (a
/// secret that is not in the tables), the previous refresh token and the session id.
fn seal_key<'a>(token: &'a str, session: &'a str) -> flow::SealKey<'a> {
    flow::SealKey {
        server: crate::gucs::jwt_secret().as_bytes(),
        token,
        session,
    }
}

/// `data` sealed under the refresh token `secret` of session `sid` and the server's key.
#[pg_extern(sql = false)]
fn flow_seal(secret: &str, sid: &str, data: &str) -> Vec<u8> {
    flow::seal(&seal_key(secret, sid), data.as_bytes())
}

/// What flow_seal sealed; NULL for any other token, session or server key, or altered bytes.
#[pg_extern(sql = false)]
fn flow_open(secret: &str, sid: &str, sealed: &[u8]) -> Option<String> {
    flow::open(&seal_key(secret, sid), sealed).and_then(|b| String::from_utf8(b).ok())
}

/// The claims of an access token verified as auth.login verifies it; NULL when its only
/// fault is being expired (auth.resume then refreshes); 28000 for anything else.
#[pg_extern(sql = false)]
fn flow_claims(token: Option<&str>) -> Result<Option<JsonbOut>, ErrorReport> {
    let token =
        token.ok_or_else(|| report(AuthError::token(Reason::Malformed, "no access token")))?;
    let keys = configured_keys()?;
    match super::verify(token, &keys, &login_options(), to_jsonb) {
        Err(AuthError::Token {
            reason: Reason::Expired,
            ..
        }) => Ok(None),
        r => r.map(Some).or_report(),
    }
}

/// The `iss` of a flow's access tokens (NULL: none): the issuer auth.issue_api_key uses.
#[pg_extern(sql = false)]
fn flow_issuer() -> Option<&'static str> {
    first_issuer()
}

/// Whether a row's xmin (as text) is this transaction's own (a code issued and exchanged in
/// one transaction is claimed in it: a rollback removes it anyway).
#[pg_extern(sql = false)]
fn flow_own_row(xmin: &str) -> bool {
    xmin.parse::<u32>()
        .is_ok_and(|x| unsafe { pg_sys::TransactionIdIsCurrentTransactionId(x.into()) })
}

/// The writes a flow commits on its own, in a transaction of their own, so that they stay
/// done whatever the caller does next (PostgreSQL has no autonomous transactions; a dynamic
/// background worker gives one, as pg_background does).
#[derive(Clone, Copy)]
enum Commit {
    /// Delete an auth code (by its hash): every presented verifier costs the code.
    Claim,
    /// Record a session as revoked: insert-only, so it never waits on a row lock.
    Revoke,
}

impl Commit {
    fn name(self) -> &'static str {
        match self {
            Commit::Claim => "claim",
            Commit::Revoke => "revoke",
        }
    }

    fn parse(action: &str) -> Option<Commit> {
        [Commit::Claim, Commit::Revoke]
            .into_iter()
            .find(|c| c.name() == action)
    }

    /// SECURITY: the worker does not get a function's SET clause and starts with whatever
    /// ALTER DATABASE / ALTER ROLE SET placed, so each statement names every relation,
    /// function, operator and type with its schema, and calls nothing outside pg_catalog.
    fn sql(self) -> &'static str {
        match self {
            Commit::Claim => {
                "DELETE FROM sae_internal.sae_flow_codes \
                 WHERE code_hash OPERATOR(pg_catalog.=) pg_catalog.decode($1, 'hex')"
            }
            Commit::Revoke => {
                "INSERT INTO sae_internal.sae_flow_revocations (session_id, revoked_at) \
                 VALUES (CAST($1 AS pg_catalog.uuid), pg_catalog.clock_timestamp())"
            }
        }
    }

    fn failed(self) -> &'static str {
        match self {
            Commit::Claim => "the auth code could not be claimed",
            Commit::Revoke => "the session could not be revoked",
        }
    }
}

/// The outcome the worker leaves in the caller's shared memory: nothing written means the
/// worker did not commit.
const NOT_DONE: u32 = 0;
const DONE: u32 = 1; // + the number of rows the statement touched

/// Run `action` on `arg` in its own committed transaction and return how many rows it
/// touched. Fails closed: when no worker can be started, or the worker does not commit,
/// this raises (53000 or XX000) and the caller never reports what did not happen.
fn commit(action: Commit, arg: &str) -> Result<u64, ErrorReport> {
    // The worker connects as the current user: inside the flows' SECURITY DEFINER entry
    // points that is the extension's owner, who owns the tables (no PUBLIC caller reaches
    // this function directly).
    let extra = format!(
        "{} {} {} {arg}",
        unsafe { pg_sys::MyDatabaseId }.to_u32(),
        unsafe { pg_sys::GetUserId() }.to_u32(),
        action.name(),
    );
    let outcome = unsafe {
        let seg = pg_sys::dsm_create(std::mem::size_of::<u32>(), 0);
        let slot = pg_sys::dsm_segment_address(seg) as *mut u32;
        slot.write_volatile(NOT_DONE);
        let handle = pg_sys::dsm_segment_handle(seg);
        let mut started = None;
        for attempt in 0..50 {
            let w = BackgroundWorkerBuilder::new("supabase_auth_ext flow commit")
                .set_library("supabase_auth_ext")
                .set_function("sae_flow_commit_main")
                .enable_spi_access()
                .set_extra(&extra)
                .set_argument(Some(pg_sys::Datum::from(handle)))
                .set_notify_pid(pg_sys::MyProcPid)
                .load_dynamic();
            if let Ok(w) = w {
                started = Some(w);
                break;
            }
            if attempt < 49 {
                pg_sys::pg_usleep(20_000); // a worker slot may free up (1 s in all)
            }
        }
        let Some(worker) = started else {
            pg_sys::dsm_detach(seg);
            return Err(report(Error::NoWorker {
                failed: action.failed(),
            }));
        };
        let stopped = worker.wait_for_shutdown();
        let outcome = slot.read_volatile();
        pg_sys::dsm_detach(seg);
        if stopped.is_err() {
            return Err(report(Error::NotCommitted {
                failed: action.failed(),
                why: "the worker did not finish",
            }));
        }
        outcome
    };
    match outcome {
        NOT_DONE => Err(report(Error::NotCommitted {
            failed: action.failed(),
            why: "the worker did not commit (see the server log)",
        })),
        n => Ok(u64::from(n - DONE)),
    }
}

/// Claim an auth code (the hex of its hash) for this call: true when this call removed it,
/// false when another call had already. The removal is committed before any verifier is
/// judged, so each presented verifier costs the code.
#[pg_extern(sql = false)]
fn flow_claim(code_hash_hex: &str) -> Result<bool, ErrorReport> {
    if code_hash_hex.len() != 64 || !code_hash_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(report(AuthError::InvalidOption("not a code hash".into())));
    }
    Ok(commit(Commit::Claim, code_hash_hex)? == 1)
}

/// Revoke a session, committed on its own, before the caller raises "reused".
#[pg_extern(sql = false)]
fn flow_revoke(sid: pgrx::Uuid) -> Result<(), ErrorReport> {
    let sid = sid.to_string();
    match commit(Commit::Revoke, &sid)? {
        1 => Ok(()),
        _ => Err(report(Error::NotCommitted {
            failed: "the session could not be revoked",
            why: "no row was recorded",
        })),
    }
}

/// 0.2.0's auth._flow_commit, kept as a symbol so that 0.2.0's install script still loads
/// (every earlier release is installable, then upgraded); it commits nothing.
#[pg_extern(sql = false)]
fn flow_commit(_action: &str, _arg: &str) -> Result<bool, ErrorReport> {
    Err(report(Error::FlowCommitGone))
}

/// The worker behind [`commit`]: connects to the caller's database as the caller's current
/// user (the extension's owner), pins search_path and timeouts, runs the one statement its
/// action names, commits, and only then writes the outcome into the caller's shared memory.
#[pg_guard]
#[no_mangle]
pub extern "C-unwind" fn sae_flow_commit_main(arg: pg_sys::Datum) {
    let extra = BackgroundWorker::get_extra().to_owned();
    let mut parts = extra.split(' ');
    let (Some(db), Some(role), Some(action), Some(arg_text), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return;
    };
    let (Ok(db), Ok(role), Some(action)) = (
        db.parse::<u32>(),
        role.parse::<u32>(),
        Commit::parse(action),
    ) else {
        return;
    };
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGTERM);
    BackgroundWorker::connect_worker_to_spi_by_oid(
        Some(pg_sys::Oid::from(db)),
        Some(pg_sys::Oid::from(role)),
    );
    // What ALTER DATABASE / ROLE SET placed must not stop the write either: the worker's
    // transaction is read-write whatever default_transaction_read_only says.
    unsafe { pg_sys::DefaultXactReadOnly = false };
    let arg_text = arg_text.to_owned();
    let touched = BackgroundWorker::transaction(move || {
        Spi::connect_mut(|client| {
            // ALTER DATABASE / ROLE SET cannot steer what follows.
            client.update(
                "SELECT pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true), \
                        pg_catalog.set_config('lock_timeout', '5s', true), \
                        pg_catalog.set_config('synchronous_commit', 'on', true), \
                        pg_catalog.set_config('statement_timeout', '10s', true)",
                None,
                &[],
            )?;
            client
                .update(action.sql(), None, &[arg_text.as_str().into()])
                .map(|t| t.len())
        })
        .expect("the flow commit runs")
    });
    // committed: tell the caller
    unsafe {
        let seg = pg_sys::dsm_attach(arg.value() as pg_sys::dsm_handle);
        if !seg.is_null() {
            let slot = pg_sys::dsm_segment_address(seg) as *mut u32;
            slot.write_volatile(DONE + touched.min(1000) as u32);
            pg_sys::dsm_detach(seg);
        }
    }
}

extension_sql_file!(
    "../../sql/surface/flows.sql",
    name = "auth_flows",
    requires = ["auth_login"],
);

super::export! {
    sae_flow_guard, pg_finfo_sae_flow_guard => flow_guard_wrapper;
    sae_flow_secret, pg_finfo_sae_flow_secret => flow_secret_wrapper;
    sae_flow_hash, pg_finfo_sae_flow_hash => flow_hash_wrapper;
    sae_flow_seal, pg_finfo_sae_flow_seal => flow_seal_wrapper;
    sae_flow_open, pg_finfo_sae_flow_open => flow_open_wrapper;
    sae_flow_claims, pg_finfo_sae_flow_claims => flow_claims_wrapper;
    sae_flow_issuer, pg_finfo_sae_flow_issuer => flow_issuer_wrapper;
    sae_flow_own_row, pg_finfo_sae_flow_own_row => flow_own_row_wrapper;
    sae_flow_claim, pg_finfo_sae_flow_claim => flow_claim_wrapper;
    sae_flow_revoke, pg_finfo_sae_flow_revoke => flow_revoke_wrapper;
    sae_flow_pkce, pg_finfo_sae_flow_pkce => super::pkce::pkce_verify_wrapper;
}
