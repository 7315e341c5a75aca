//! auth.whoami() and auth.stats(): what this backend's request context is, and what its
//! verifications and key cache have done. Per backend, nothing shared, nothing persisted.
use crate::gucs::Request;
use crate::jsonb::{jsonb_in, JsonbOut};
use auth_core::json::quote;
use auth_core::json::Node;
use auth_core::{AuthError, Reason};
use pgrx::prelude::*;
use std::cell::Cell;

thread_local! {
    static VERIFIED: Cell<u64> = const { Cell::new(0) };
    static REJECTED: [Cell<u64>; Reason::ALL.len()] =
        const { [const { Cell::new(0) }; Reason::ALL.len()] };
    /// The request-context generation right after auth.login set the claims.
    static LOGIN_MARK: Cell<Option<u64>> = const { Cell::new(None) };
    /// The user auth.login switched to.
    static LOGIN_ROLE: Cell<pgrx::pg_sys::Oid> = const { Cell::new(pgrx::pg_sys::InvalidOid) };
}

/// Count one verification by outcome (jwt_verify, jwt_is_valid, auth.login, ...).
pub fn record<T>(r: &auth_core::Result<T>) {
    match r {
        Ok(_) => VERIFIED.with(|v| v.set(v.get() + 1)),
        Err(AuthError::Token { reason, .. }) => REJECTED.with(|r| {
            let i = Reason::ALL
                .iter()
                .position(|x| x == reason)
                .expect("listed");
            r[i].set(r[i].get() + 1)
        }),
        Err(_) => {} // a bad key or option: no verification happened
    }
}

/// auth.login has just set the claims (and switched to its role).
pub fn mark_login() {
    LOGIN_MARK.with(|m| m.set(Some(crate::gucs::generation())));
    LOGIN_ROLE.with(|r| r.set(unsafe { pgrx::pg_sys::GetUserId() }));
}

/// Whether the request settings are exactly what auth.login set (as [`claims_from_login`])
/// and the current user is still the role it switched to.
pub fn login_is_current() -> bool {
    claims_from_login() && LOGIN_ROLE.with(Cell::get) == unsafe { pgrx::pg_sys::GetUserId() }
}

/// Whether the request settings are still exactly what auth.login set (no request.jwt.*
/// setting changed since, same transaction).
pub fn claims_from_login() -> bool {
    LOGIN_MARK.with(Cell::get) == Some(crate::gucs::generation())
}

fn text(s: Option<&str>) -> String {
    s.map_or("null".into(), quote)
}

/// Why auth.uid() is NULL, following its own rules; None when it is not.
fn uid_null_because() -> Option<&'static str> {
    if let Some(sub) = Request::Sub.value() {
        let ok = sub.to_str().ok().and_then(auth_core::uuid::parse).is_some();
        return (!ok).then_some("request.jwt.claim.sub (legacy, read first) is not a uuid");
    }
    let Some(claims) = Request::Claims.value() else {
        return Some("request.jwt.claims is not set: no auth.login in this transaction, no PostgREST request");
    };
    let bytes = claims.to_bytes();
    let tree = auth_core::json::prescan(bytes)
        .ok()
        .and_then(|_| auth_core::json::parse(bytes));
    let Some(tree) = tree else {
        return Some("request.jwt.claims is not valid JSON (auth.uid() raises 22P02)");
    };
    if !matches!(tree, Node::Obj(_)) {
        return Some("request.jwt.claims is not a JSON object");
    }
    match tree.get("sub") {
        None | Some(Node::Null) => Some("the claims have no sub"),
        Some(sub @ Node::Str(_)) => sub
            .as_str()
            .and_then(auth_core::uuid::parse)
            .is_none()
            .then_some("sub is not a uuid (auth.sub() has it as text)"),
        Some(_) => Some("sub is not a string"),
    }
}

/// The role, where the claims came from, and why auth.uid() is NULL when it is.
#[pg_extern(sql = false)]
fn whoami() -> JsonbOut {
    let (current, session) = unsafe {
        let name = |oid| std::ffi::CStr::from_ptr(pg_sys::GetUserNameFromId(oid, true));
        (
            name(pg_sys::GetUserId()).to_string_lossy().into_owned(),
            name(pg_sys::GetSessionUserId())
                .to_string_lossy()
                .into_owned(),
        )
    };
    let claims_from = if Request::Legacy.value().is_some() {
        Some("request.jwt.claim")
    } else if Request::Claims.value().is_some() {
        Some("request.jwt.claims")
    } else {
        None
    };
    let legacy: Vec<String> = Request::PER_CLAIM
        .iter()
        .filter(|s| s.value().is_some())
        .map(|s| quote(s.name()))
        .collect();
    let by_login = claims_from_login();
    let set_by = if by_login {
        Some("auth.login")
    } else if claims_from.is_some() || !legacy.is_empty() {
        Some("a setting (set_config or SET: PostgREST, or the application)")
    } else {
        None
    };
    let json = format!(
        "{{\"current_user\":{},\"session_user\":{},\"claims_from\":{},\"set_by\":{},\
         \"legacy_settings\":[{}],\"uid_null_because\":{}}}",
        quote(&current),
        quote(&session),
        text(claims_from),
        text(set_by),
        legacy.join(","),
        text(uid_null_because())
    );
    JsonbOut(jsonb_in(&json))
}

/// This backend's counters: verifications by outcome and reason, and, for superusers, the
/// key cache. SECURITY: the cache holds the configured key, so its figures (entries, bytes,
/// hits) are not shown to other roles; and a key passed as an argument never hits the
/// configured key's entries (keycache::configured_key), so no figure is an oracle.
#[pg_extern(sql = false)]
fn stats() -> JsonbOut {
    let rejected: Vec<String> = REJECTED.with(|r| {
        Reason::ALL
            .iter()
            .zip(r)
            .map(|(reason, n)| format!("{}:{}", quote(reason.as_str()), n.get()))
            .collect()
    });
    let key_cache = if unsafe { pg_sys::superuser() } {
        let (hits, misses, keys, bytes) = crate::keycache::stats();
        format!(
            ",\"key_cache\":{{\"hits\":{hits},\"misses\":{misses},\"keys\":{keys},\"bytes\":{bytes}}}"
        )
    } else {
        String::new()
    };
    let json = format!(
        "{{\"verified\":{},\"rejected\":{{{}}}{key_cache}}}",
        VERIFIED.with(Cell::get),
        rejected.join(",")
    );
    JsonbOut(jsonb_in(&json))
}

pgrx::extension_sql_file!(
    "../../sql/surface/debug.sql",
    name = "auth_debug",
    requires = ["auth_context"]
);

super::export! {
    sae_auth_whoami, pg_finfo_sae_auth_whoami => whoami_wrapper;
    sae_auth_stats, pg_finfo_sae_auth_stats => stats_wrapper;
}
