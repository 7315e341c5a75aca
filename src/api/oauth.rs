//! Sections 4b-4d's Rust helpers for sql/surface/oauth.sql: registered clients' checks, the
//! provider-token store's seal, and the access token hook's call. Each is in schema
//! sae_internal, executable by the extension's owner alone; the SECURITY DEFINER entry
//! points in oauth.sql call them.
use crate::error::{report, Error, OrReport};
use crate::gucs;
use crate::jsonb::{jsonb_in, JsonbOut, JsonbText};
use auth_core::json::{self, Node};
use auth_core::{hook, oauth, vault, AuthError};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::{pg_sys, FromDatum, IntoDatum};

fn texts(list: &[Option<String>], what: &str) -> Result<Vec<String>, ErrorReport> {
    list.iter()
        .cloned()
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| report(AuthError::InvalidOption(format!("{what} cannot hold NULL"))))
}

/// Check a client's redirect URIs and scopes at registration: 22023 naming what is wrong.
#[pg_extern(sql = false)]
fn client_check(
    redirect_uris: Vec<Option<String>>,
    scopes: Vec<Option<String>>,
) -> Result<(), ErrorReport> {
    let uris = texts(&redirect_uris, "redirect_uris")?;
    let scopes = texts(&scopes, "scopes")?;
    oauth::check_redirect_uris(&uris.iter().map(String::as_str).collect::<Vec<_>>()).or_report()?;
    oauth::check_scopes(&scopes.iter().map(String::as_str).collect::<Vec<_>>()).or_report()
}

/// Whether `uri` may be used with a client that registered `registered`: 22023 when it is
/// not a redirect URI at all; false when it matches none.
#[pg_extern(sql = false)]
fn client_redirect_ok(registered: Vec<Option<String>>, uri: &str) -> Result<bool, ErrorReport> {
    oauth::check_redirect_uri(uri, false).or_report()?;
    let registered: Vec<&str> = registered.iter().flatten().map(String::as_str).collect();
    Ok(oauth::redirect_allowed(&registered, uri))
}

/// The scope granted for `requested` (NULL: all the client's): 22023 when one is not the
/// client's.
#[pg_extern(sql = false)]
fn client_scope(
    requested: Option<&str>,
    registered: Option<Vec<Option<String>>>,
) -> Result<String, ErrorReport> {
    let registered = registered.unwrap_or_default();
    let registered: Vec<&str> = registered.iter().flatten().map(String::as_str).collect();
    oauth::granted_scope(requested, &registered).or_report()
}

/// Whether `presented` is the secret whose hash is stored (constant time).
#[pg_extern(sql = false)]
fn client_secret_ok(presented: &str, stored_hash: &[u8]) -> bool {
    oauth::secret_matches(presented, stored_hash)
}

fn vault_key() -> Result<vault::VaultKey, ErrorReport> {
    if gucs::vault_key_exposed() {
        return Err(report(AuthError::InvalidKey(
            "auth.vault_key was readable by every user of this session before supabase_auth_ext \
             loaded; load the library with session_preload_libraries (README: Security model)"
                .into(),
        )));
    }
    vault::VaultKey::from_setting(gucs::vault_key()).or_report()
}

/// `tokens` (a JSON object's text) sealed for `subject` and `provider`.
#[pg_extern(sql = false)]
fn vault_seal(subject: &str, provider: &str, tokens: &str) -> Result<Vec<u8>, ErrorReport> {
    Ok(vault_key()?.seal(subject, provider, tokens.as_bytes()))
}

/// The tokens sealed for exactly `subject` and `provider`; XX001 when they do not open.
#[pg_extern(sql = false)]
fn vault_open(subject: &str, provider: &str, sealed: &[u8]) -> Result<String, ErrorReport> {
    vault_key()?
        .open(subject, provider, sealed)
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| report(Error::VaultCorrupt))
}

thread_local! {
    /// How many access token hooks are running in this backend (see [`call_as`]).
    static IN_HOOK: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// The subject whose provider tokens the caller may read: the `sub` of the request's
/// claims when, and only when, auth.login or auth.authenticate verified them in this
/// transaction and nothing changed them since, the caller runs as the role that login
/// switched to (not as the owner of a SECURITY DEFINER function, nor inside an access
/// token hook), and the token was not issued to a registered client (a third-party app's
/// token reads nobody's provider tokens). None otherwise.
fn verified_sub() -> Option<String> {
    if IN_HOOK.with(std::cell::Cell::get) > 0 || !super::debug::login_is_current() {
        return None;
    }
    let claims = gucs::Request::Claims.value()?;
    let tree = json::parse(claims.to_bytes())?;
    if tree.get("client_id").is_some() {
        return None;
    }
    tree.get("sub").and_then(Node::as_str).map(str::to_owned)
}

/// sae_internal.provider_token_read(text, text), looked up in the catalog (no USAGE on
/// sae_internal is needed, nor given, to find it; only the extension's owner may create
/// there). Per call: a dropped and re-created extension has new OIDs.
unsafe fn reader() -> Option<pg_sys::Oid> {
    let schema = pg_sys::get_namespace_oid(c"sae_internal".as_ptr(), true);
    if schema == pg_sys::InvalidOid {
        return None;
    }
    let types = [pg_sys::TEXTOID, pg_sys::TEXTOID];
    let argtypes = pg_sys::buildoidvector(types.as_ptr(), 2);
    let oid = pg_sys::GetSysCacheOid(
        pg_sys::SysCacheIdentifier::PROCNAMEARGSNSP as i32,
        pg_sys::Anum_pg_proc_oid as i16,
        pg_sys::Datum::from(c"provider_token_read".as_ptr()),
        pg_sys::Datum::from(argtypes),
        schema.into_datum()?,
        pg_sys::Datum::from(0),
    );
    (oid != pg_sys::InvalidOid).then_some(oid)
}

/// `auth.provider_token(provider)`: the verified request subject's own tokens, else NULL.
/// A plain (invoker) C function, so that it sees who calls it; it reads the store through
/// the owner-only SECURITY DEFINER sae_internal.provider_token_read, called through fmgr.
#[pg_extern(sql = false)]
fn provider_token(provider: &str) -> Option<JsonbOut> {
    let sub = verified_sub()?;
    let reader = unsafe { reader() }?;
    let args = [sub.as_str().into_datum()?, provider.into_datum()?];
    unsafe { call(reader, &args) }.map(JsonbOut)
}

/// Call the access token hook `hook` (resolved by the caller) with `event`, as the hook's
/// owner and nothing more, with search_path pinned, and return the claims of its answer,
/// checked against `given` (auth_core::hook). An error in the hook aborts the caller.
#[pg_extern(sql = false)]
fn flow_call_hook(
    hook: pg_sys::Oid,
    subject: &str,
    given: JsonbText,
    method: &str,
) -> Result<JsonbOut, ErrorReport> {
    let given_tree = json::parse(given.0.as_bytes())
        .ok_or_else(|| report(Error::Internal("the flow's claims are not JSON".into())))?;
    let event = jsonb_in(&hook::event(subject, &given.0, method));
    let (owner, jsonb_to_jsonb) = unsafe { proc_owner_and_shape(hook) }.ok_or_else(|| {
        report(AuthError::InvalidOption(
            "auth.access_token_hook is gone".into(),
        ))
    })?;
    if !jsonb_to_jsonb {
        return Err(report(AuthError::InvalidOption(
            "auth.access_token_hook must be a function (jsonb) RETURNS jsonb".into(),
        )));
    }
    let answer = unsafe { call_as(owner, hook, event) };
    let Some(answer) = answer else {
        return Err(report(AuthError::InvalidOption(
            "auth.access_token_hook returned NULL".into(),
        )));
    };
    let text = unsafe { JsonbText::from_datum(answer, false) }
        .ok_or_else(|| report(Error::Internal("the hook's answer is not jsonb".into())))?;
    let tree = json::parse(text.0.as_bytes())
        .ok_or_else(|| report(Error::Internal("the hook's answer is not JSON".into())))?;
    let claims = hook::claims(&given_tree, &tree).or_report()?;
    let mut out = String::new();
    json::text::write(&mut out, claims);
    Ok(JsonbOut(jsonb_in(&out)))
}

/// The owner of function `oid`, and whether it is a plain function of one jsonb argument
/// returning one jsonb (the only shape [`call`] may be given one argument for).
unsafe fn proc_owner_and_shape(oid: pg_sys::Oid) -> Option<(pg_sys::Oid, bool)> {
    let tuple = pg_sys::SearchSysCache1(
        pg_sys::SysCacheIdentifier::PROCOID as i32,
        oid.into_datum()?,
    );
    if tuple.is_null() {
        return None;
    }
    let data = (*tuple).t_data;
    // GETSTRUCT: the fixed part of the row follows the tuple header.
    let proc = (data as *const u8).add((*data).t_hoff as usize) as *const pg_sys::FormData_pg_proc;
    let owner = (*proc).proowner;
    let args = &(*proc).proargtypes;
    let ok = (*proc).prorettype == pg_sys::JSONBOID
        && (*proc).prokind == pg_sys::PROKIND_FUNCTION as std::ffi::c_char
        && !(*proc).proretset
        && (*proc).pronargs == 1
        && args.dim1 == 1
        && *args.values.as_ptr() == pg_sys::JSONBOID;
    pg_sys::ReleaseSysCache(tuple);
    Some((owner, ok))
}

/// Call `func(arg)` as `owner`: the user id switched for the call (as PostgreSQL switches
/// it for a SECURITY DEFINER function or a materialized view's refresh), inside a
/// security-restricted operation (no SET ROLE, no temporary objects that outlive it), with
/// search_path pinned to pg_catalog, pg_temp. Both are restored after, and every setting
/// the call changed is undone; an error unwinds through the transaction's or
/// subtransaction's abort, which restores them too.
unsafe fn call_as(
    owner: pg_sys::Oid,
    func: pg_sys::Oid,
    arg: pg_sys::Datum,
) -> Option<pg_sys::Datum> {
    let mut saved_user = pg_sys::InvalidOid;
    let mut saved_context = 0;
    pg_sys::GetUserIdAndSecContext(&mut saved_user, &mut saved_context);
    pg_sys::SetUserIdAndSecContext(
        owner,
        saved_context
            | pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32
            | pg_sys::SECURITY_RESTRICTED_OPERATION as i32,
    );
    let nest = pg_sys::NewGUCNestLevel();
    pg_sys::set_config_option(
        c"search_path".as_ptr(),
        c"pg_catalog, pg_temp".as_ptr(),
        pg_sys::GucContext::PGC_USERSET,
        pg_sys::GucSource::PGC_S_SESSION,
        pg_sys::GucAction::GUC_ACTION_SAVE,
        true,
        0,
        false,
    );
    IN_HOOK.with(|h| h.set(h.get() + 1));
    // An error unwinds from here (pgrx turns it into a panic): the guard still counts down.
    struct Leave;
    impl Drop for Leave {
        fn drop(&mut self) {
            IN_HOOK.with(|h| h.set(h.get() - 1));
        }
    }
    let leave = Leave;
    let result = call(func, &[arg]);
    drop(leave);
    // false: every setting the hook changed goes back, as PostgreSQL undoes an index
    // function's or a materialized view's settings: the hook cannot change the caller's
    // request settings (request.jwt.claims) or anything else of its session.
    pg_sys::AtEOXact_GUC(false, nest);
    pg_sys::SetUserIdAndSecContext(saved_user, saved_context);
    result
}

/// `func(args...)` through fmgr (its SECURITY DEFINER and SET clauses apply; no EXECUTE
/// check: callers pass only functions whose shape they checked or that are our own, with
/// non-NULL arguments of the right types); None for a NULL result.
unsafe fn call(func: pg_sys::Oid, args: &[pg_sys::Datum]) -> Option<pg_sys::Datum> {
    let mut flinfo: pg_sys::FmgrInfo = std::mem::zeroed();
    pg_sys::fmgr_info(func, &mut flinfo);
    let fcinfo = pg_sys::palloc0(
        std::mem::size_of::<pg_sys::FunctionCallInfoBaseData>()
            + args.len() * std::mem::size_of::<pg_sys::NullableDatum>(),
    ) as pg_sys::FunctionCallInfo;
    (*fcinfo).flinfo = &mut flinfo;
    (*fcinfo).nargs = args.len() as i16;
    (*fcinfo).fncollation = pg_sys::DEFAULT_COLLATION_OID;
    let slots = (*fcinfo).args.as_mut_slice(args.len());
    for (slot, value) in slots.iter_mut().zip(args) {
        *slot = pg_sys::NullableDatum {
            value: *value,
            isnull: false,
        };
    }
    let f = flinfo.fn_addr.expect("fmgr_info sets fn_addr");
    // An ERROR in the hook longjmps: through pgrx's guard, never over Rust frames.
    let result = pg_sys::ffi::pg_guard_ffi_boundary(|| f(fcinfo));
    let isnull = (*fcinfo).isnull;
    pg_sys::pfree(fcinfo.cast());
    (!isnull).then_some(result)
}

super::export! {
    sae_client_check, pg_finfo_sae_client_check => client_check_wrapper;
    sae_client_redirect_ok, pg_finfo_sae_client_redirect_ok => client_redirect_ok_wrapper;
    sae_client_scope, pg_finfo_sae_client_scope => client_scope_wrapper;
    sae_client_secret_ok, pg_finfo_sae_client_secret_ok => client_secret_ok_wrapper;
    sae_vault_seal, pg_finfo_sae_vault_seal => vault_seal_wrapper;
    sae_vault_open, pg_finfo_sae_vault_open => vault_open_wrapper;
    sae_auth_provider_token, pg_finfo_sae_auth_provider_token => provider_token_wrapper;
    sae_flow_call_hook, pg_finfo_sae_flow_call_hook => flow_call_hook_wrapper;
}

pgrx::extension_sql_file!(
    "../../sql/surface/oauth.sql",
    name = "auth_oauth",
    requires = ["auth_flows"]
);
