//! Section 3: auth.login, auth.logout, auth.authenticate, auth.sign, auth.issue_api_key:
//! PostgREST's per-request step (and the API gateway's apikey check) inside the database.
use super::now;
use crate::error::{report, Error, OrReport};
use crate::gucs::{self, Request};
use crate::jsonb::{to_jsonb, JsonbOut, JsonbText};
use crate::keycache::configured_key;
use auth_core::claims::VerifyOptions;
use auth_core::json::Node;
use auth_core::keys::KeySet;
use auth_core::material::Material;
use auth_core::request::{self, RolePath};
use auth_core::session::{self, Claim};
use auth_core::{json, jwt, AuthError};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use std::ffi::CString;
use std::rc::Rc;

/// The minimum length of an HMAC secret in auth.jwt_secret (as Supabase and PostgREST ask).
const MIN_SECRET_BYTES: usize = 32;

fn key_error(msg: &str) -> ErrorReport {
    report(AuthError::InvalidKey(format!("auth.jwt_secret {msg}")))
}

/// The configured key, parsed once per backend. SECURITY: no message names its value.
pub(crate) fn configured_keys() -> Result<Rc<KeySet>, ErrorReport> {
    if gucs::secret_exposed() {
        return Err(key_error(
            "was readable by every user of this session before supabase_auth_ext loaded; \
             load the library with session_preload_libraries (README: Security model)",
        ));
    }
    let secret = gucs::jwt_secret();
    if secret.is_empty() {
        return Err(key_error("is not set"));
    }
    let keys = configured_key(secret).map_err(|e| match e {
        // the parse error names what is wrong, never the bytes
        AuthError::InvalidKey(why) => key_error(&format!("is not a usable key: {why}")),
        other => report(other),
    })?;
    let short = keys
        .keys
        .iter()
        .any(|k| matches!(&k.material, Material::Hmac(s) if s.len() < MIN_SECRET_BYTES));
    if short {
        return Err(key_error(&format!(
            "holds an HMAC secret shorter than {MIN_SECRET_BYTES} bytes"
        )));
    }
    Ok(keys)
}

/// The checks PostgREST makes: auth.jwt_aud (when the token has aud), auth.jwt_iss.
pub(crate) fn login_options() -> VerifyOptions {
    let aud = gucs::jwt_aud();
    let iss = request::list(gucs::jwt_iss());
    VerifyOptions {
        aud: (!aud.is_empty()).then(|| vec![aud.to_owned()]),
        postgrest: true,
        iss: (!iss.is_empty()).then(|| iss.iter().map(|s| s.to_string()).collect()),
        ..VerifyOptions::default()
    }
}

/// The issuer put into tokens this database makes: the first entry of auth.jwt_iss.
pub(crate) fn first_issuer() -> Option<&'static str> {
    request::list(gucs::jwt_iss()).first().copied()
}

thread_local! {
    /// auth.jwt_role_claim as last parsed (a JSONPath query is compiled once, not per call).
    static ROLE_PATH: std::cell::RefCell<Option<(String, Rc<RolePath>)>> =
        const { std::cell::RefCell::new(None) };
}

fn role_path() -> Result<Rc<RolePath>, ErrorReport> {
    let setting = gucs::role_claim();
    ROLE_PATH.with_borrow_mut(|cached| {
        if let Some((_, p)) = cached.as_ref().filter(|(t, _)| t == setting) {
            return Ok(p.clone());
        }
        let p = Rc::new(RolePath::parse(setting).or_report()?);
        *cached = Some((setting.to_owned(), p.clone()));
        Ok(p)
    })
}

/// What a verified token (or no token) grants: the role, and the claims with role filled
/// in, as text (for request.jwt.claims) and as jsonb (to return).
struct Grant {
    role: String,
    claims: String,
    jsonb: JsonbOut,
}

/// Verify `token` with the configured key and checks and read its role (`Token` errors are
/// the caller's to word: auth.login and the apikey check say different things).
fn grant(token: Option<&str>) -> Result<auth_core::Result<Grant>, ErrorReport> {
    let anon = gucs::anon_role();
    let Some(token) = token else {
        return Ok(
            request::anonymous(anon).and_then(|role| with_role(&mut Node::Obj(vec![]), "{}", role))
        );
    };
    let keys = configured_keys()?;
    let path = role_path()?;
    Ok(super::verify(
        token,
        &keys,
        &login_options(),
        |tree, text| {
            let role = path.role_of(tree, anon)?;
            check_session(tree)?;
            with_role(tree, text, role)
        },
    ))
}

/// auth.session_check: a token whose `session_id` names an ended session is refused.
fn check_session(tree: &Node) -> auth_core::Result<()> {
    let sub = tree.get("sub").and_then(Node::as_str);
    match super::sessions::active(Claim::of(tree), sub) {
        true => Ok(()),
        false => Err(session::ended()),
    }
}

/// The grant of claims (`tree`, and its JSON `text`) for `role`: role filled in both.
fn with_role(tree: &mut Node, text: &str, role: String) -> auth_core::Result<Grant> {
    let claims = request::with_role(tree, text, &role);
    request::set_role(tree, &role);
    let jsonb = to_jsonb(tree, &claims)?;
    Ok(Grant {
        role,
        claims,
        jsonb,
    })
}

/// API keys are for the anon role or service_role (the gateway's two keys): the reason
/// when `role` is neither.
fn api_key_role_error(role: &str) -> Option<String> {
    let anon = gucs::anon_role();
    (role != anon && role != "service_role").then(|| {
        format!(
            "an API key's role must be {} or \"service_role\"",
            json::quote(anon)
        )
    })
}

fn not_allowed(role: &str, why: &'static str) -> ErrorReport {
    report(Error::RoleNotAllowed {
        role: role.to_owned(),
        why,
    })
}

/// Refuse a role outside auth.allowed_roles, or a superuser role even when listed.
fn check_role(role: &str) -> Result<(), ErrorReport> {
    if !request::list(gucs::allowed_roles()).contains(&role) {
        return Err(not_allowed(role, "it is not in auth.allowed_roles"));
    }
    let name = CString::new(role).map_err(|_| not_allowed(role, "the name holds a NUL"))?;
    let oid = unsafe { pg_sys::get_role_oid(name.as_ptr(), true) };
    if oid != pg_sys::InvalidOid && unsafe { pg_sys::superuser_arg(oid) } {
        return Err(not_allowed(role, "it is a superuser role"));
    }
    Ok(())
}

fn require_transaction_block(what: &'static str) -> Result<(), ErrorReport> {
    if unsafe { pg_sys::IsTransactionBlock() } {
        return Ok(());
    }
    Err(report(Error::NoTransactionBlock { what }))
}

/// SET LOCAL `name` = `value`, with the caller's rights (as set_config(name, value, true)).
fn set_local(name: &str, value: &str) {
    let name = CString::new(name).expect("setting names have no NUL");
    let value = CString::new(value).expect("claims text and role names have no NUL");
    unsafe {
        let context = if pg_sys::superuser() {
            pg_sys::GucContext::PGC_SUSET
        } else {
            pg_sys::GucContext::PGC_USERSET
        };
        pg_sys::set_config_option(
            name.as_ptr(),
            value.as_ptr(),
            context,
            pg_sys::GucSource::PGC_S_SESSION,
            pg_sys::GucAction::GUC_ACTION_LOCAL,
            true,
            pgrx::PgLogLevel::ERROR as i32,
            false,
        );
    }
}

/// Write the request's claims, clearing the legacy per-claim settings that would otherwise
/// take precedence in the auth.* helpers.
fn set_claims(claims: &str) {
    set_local("request.jwt.claims", claims);
    for setting in [Request::Legacy, Request::Sub, Request::Role, Request::Email] {
        if setting.value().is_some() {
            set_local(setting.name(), "");
        }
    }
}

fn login_with(token: Option<&str>) -> Result<JsonbOut, ErrorReport> {
    require_transaction_block("auth.login")?;
    let g = grant(token)?.or_report()?;
    check_role(&g.role)?;
    // PostgreSQL checks membership (permission denied to set role: 42501) and existence.
    set_local("role", &g.role);
    set_claims(&g.claims);
    super::debug::mark_login();
    Ok(g.jsonb)
}

/// Verify `token` and become its role for the rest of the transaction.
#[pg_extern(sql = false)] // declared in schema auth below
fn login(token: Option<&str>) -> Result<JsonbOut, ErrorReport> {
    login_with(token)
}

/// Back to the session's own role, with no claims, for the rest of the transaction.
#[pg_extern(sql = false)] // declared in schema auth below
fn logout() -> Result<(), ErrorReport> {
    require_transaction_block("auth.logout")?;
    set_local("role", "none");
    set_claims("");
    Ok(())
}

/// The gateway's apikey check, then login with the bearer token (or the apikey itself).
#[pg_extern(sql = false)] // declared in schema auth below
fn authenticate(
    apikey: Option<&str>,
    authorization: Option<&str>,
) -> Result<JsonbOut, ErrorReport> {
    require_transaction_block("auth.authenticate")?;
    let invalid = |detail: String| report(Error::ApiKey { detail });
    let key = apikey
        .filter(|k| !k.is_empty())
        .ok_or_else(|| invalid("no API key".into()))?;
    let g = grant(Some(key))?.map_err(|e| match e {
        AuthError::Token { reason, detail } => invalid(format!("{reason}: {detail}")),
        other => report(other),
    })?;
    if let Some(why) = api_key_role_error(&g.role) {
        return Err(invalid(why));
    }
    let bearer = request::bearer(authorization).or_report()?;
    login_with(Some(bearer.unwrap_or(key)))
}

/// Sign with the configured key, adding iat (now) and, when absent, exp = iat + 3600.
#[pg_extern(sql = false)] // declared in schema auth below
fn sign(claims: JsonbText) -> Result<String, ErrorReport> {
    let keys = configured_keys()?;
    let tree = auth_core::json::parse(claims.0.as_bytes())
        .filter(|t| matches!(t, Node::Obj(_)))
        .ok_or_else(|| {
            report(AuthError::InvalidOption(
                "claims must be a JSON object".into(),
            ))
        })?;
    let iat = now().floor() as i64;
    let mut extra = vec![("iat", iat.to_string())];
    if tree.get("exp").is_none() {
        extra.push(("exp", (iat + 3600).to_string()));
    }
    jwt::sign(&request::with_members(&tree, &extra), &keys, None).or_report()
}

/// A long-lived API key `{"role","iss","iat","exp"}` for anon or service_role.
#[pg_extern(sql = false)] // declared in schema auth below
fn issue_api_key(role: &str, expires_in: pgrx::datum::Interval) -> Result<String, ErrorReport> {
    if let Some(why) = api_key_role_error(role) {
        return Err(report(AuthError::InvalidOption(why)));
    }
    let seconds = interval_seconds(&expires_in);
    if seconds <= 0.0 {
        return Err(report(AuthError::InvalidOption(
            "expires_in must be positive".into(),
        )));
    }
    let keys = configured_keys()?;
    let iss = first_issuer().unwrap_or("supabase");
    let iat = now().floor() as i64;
    let claims = format!(
        "{{\"role\":{},\"iss\":{},\"iat\":{iat},\"exp\":{}}}",
        json::quote(role),
        json::quote(iss),
        iat + seconds as i64
    );
    jwt::sign(&claims, &keys, None).or_report()
}

/// Seconds in an interval as `extract(epoch from ...)` counts them (a year 365.25 days, a
/// month 30).
fn interval_seconds(i: &pgrx::datum::Interval) -> f64 {
    let months = f64::from(i.months());
    let years = (months / 12.0).trunc();
    years * 365.25 * 86_400.0
        + (months - years * 12.0) * 30.0 * 86_400.0
        + f64::from(i.days()) * 86_400.0
        + i.micros() as f64 / 1e6
}

// pgrx would declare these in the extension's schema; they belong in auth, which may
// predate us (Supabase), so they are declared here over pgrx's generated wrappers.
pgrx::extension_sql_file!(
    "../../sql/surface/login.sql",
    name = "auth_login",
    requires = ["auth_context"]
);

super::export! {
    sae_auth_login, pg_finfo_sae_auth_login => login_wrapper;
    sae_auth_logout, pg_finfo_sae_auth_logout => logout_wrapper;
    sae_auth_authenticate, pg_finfo_sae_auth_authenticate => authenticate_wrapper;
    sae_auth_sign, pg_finfo_sae_auth_sign => sign_wrapper;
    sae_auth_issue_api_key, pg_finfo_sae_auth_issue_api_key => issue_api_key_wrapper;
}
