//! Every setting of the extension, defined once in `init()` (called from `_PG_init`) and read
//! only through the named accessors below. The request settings' assign hook moves the
//! generation counter the auth.* helpers' cache is keyed on ([`generation`]).
use pgrx::pg_sys;
use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};
use std::ffi::{c_char, c_void, CStr, CString};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

/// auth.jwt_leeway: default clock skew for exp / nbf. SUSET: a user must not widen it.
static JWT_LEEWAY: GucSetting<i32> = GucSetting::<i32>::new(30);

/// Section 4's settings (seconds; SUSET): the flows read them with current_setting.
static REFRESH_REUSE_INTERVAL: GucSetting<i32> = GucSetting::<i32>::new(10);
static RESUME_MARGIN: GucSetting<i32> = GucSetting::<i32>::new(60);
static ACCESS_TOKEN_LIFETIME: GucSetting<i32> = GucSetting::<i32>::new(3600);
static SESSION_LIFETIME: GucSetting<i32> = GucSetting::<i32>::new(0);

/// Section 3's settings, all superuser-only (SUSET). Defaults as the contract gives them.
static JWT_SECRET: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c""));
static JWT_AUD: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c""));
static JWT_ISS: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c""));
static JWT_ROLE_CLAIM: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"role"));
static ANON_ROLE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"anon"));
static ALLOWED_ROLES: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"anon,authenticated,service_role"));

/// Section 4c/4d's settings, superuser-only: the provider-token store's key (hidden like
/// auth.jwt_secret) and the access token hook (a function name, empty: none).
static VAULT_KEY: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c""));
static ACCESS_TOKEN_HOOK: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c""));

/// auth.session_check (section 3b): which session store a token's `session_id` must name a
/// live session of. SUSET.
#[derive(Clone, Copy, PartialEq, Eq, Debug, pgrx::PostgresGucEnum)]
pub enum SessionCheck {
    #[name = c"off"]
    Off,
    #[name = c"flows"]
    Flows,
    #[name = c"supabase"]
    Supabase,
}
static SESSION_CHECK: GucSetting<SessionCheck> = GucSetting::<SessionCheck>::new(SessionCheck::Off);

/// Whether auth.jwt_secret already had a value when this library loaded on demand, inside a
/// transaction. Until then it was an unprotected placeholder setting that any user could
/// SHOW, so the secret must be treated as exposed (see [`secret_exposed`]).
static SECRET_SEEN_BEFORE_LOAD: AtomicBool = AtomicBool::new(false);

pub fn secret_exposed() -> bool {
    SECRET_SEEN_BEFORE_LOAD.load(Relaxed)
}

/// The same for auth.vault_key.
static VAULT_KEY_SEEN_BEFORE_LOAD: AtomicBool = AtomicBool::new(false);

pub fn vault_key_exposed() -> bool {
    VAULT_KEY_SEEN_BEFORE_LOAD.load(Relaxed)
}

/// The request settings PostgREST (or auth.login) writes and the auth.* helpers read.
/// We own them (define them) so that an assign hook tells us of every change: that is what
/// lets auth.uid() answer from a cache with one integer comparison per row.
static CLAIMS: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c""));
static CLAIM_LEGACY: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c""));
static CLAIM_SUB: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c""));
static CLAIM_ROLE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c""));
static CLAIM_EMAIL: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c""));

/// The current value of a string setting without copying it; None when unset or empty
/// (the contract: an empty setting counts as unset).
fn value(setting: &'static GucSetting<Option<CString>>) -> Option<&'static CStr> {
    // SAFETY: the GUC machinery keeps this pointer valid until the next change of the
    // setting; callers use it at once and never across a change.
    let ptr = unsafe { *setting.as_ptr() };
    if ptr.is_null() {
        return None;
    }
    let s = unsafe { CStr::from_ptr(ptr) };
    (!s.is_empty()).then_some(s)
}

/// The value of a string setting as text; "" when unset.
fn text(setting: &'static GucSetting<Option<CString>>) -> &'static str {
    value(setting).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// auth.jwt_leeway, in seconds.
pub fn leeway() -> f64 {
    f64::from(JWT_LEEWAY.get())
}

/// auth.jwt_secret as text ("" when unset).
pub fn jwt_secret() -> &'static str {
    text(&JWT_SECRET)
}

/// auth.jwt_aud ("" when unset: not checked).
pub fn jwt_aud() -> &'static str {
    text(&JWT_AUD)
}

/// auth.jwt_iss, comma-separated ("" when unset: not checked).
pub fn jwt_iss() -> &'static str {
    text(&JWT_ISS)
}

/// auth.jwt_role_claim.
pub fn role_claim() -> &'static str {
    text(&JWT_ROLE_CLAIM)
}

/// auth.anon_role.
pub fn anon_role() -> &'static str {
    text(&ANON_ROLE)
}

/// auth.allowed_roles, comma-separated.
pub fn allowed_roles() -> &'static str {
    text(&ALLOWED_ROLES)
}

/// auth.vault_key as text ("" when unset).
pub fn vault_key() -> &'static str {
    text(&VAULT_KEY)
}

/// auth.session_check.
pub fn session_check() -> SessionCheck {
    SESSION_CHECK.get()
}

/// One of the request settings PostgREST (or auth.login) writes and the helpers read.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Request {
    /// request.jwt.claims: the claims as JSON text.
    Claims,
    /// request.jwt.claim: the claims as JSON text (legacy, read first by auth.jwt()).
    Legacy,
    /// request.jwt.claim.sub, .role, .email (legacy, read first by the helpers).
    Sub,
    Role,
    Email,
}

impl Request {
    /// The legacy per-claim settings.
    pub const PER_CLAIM: [Request; 3] = [Request::Sub, Request::Role, Request::Email];

    pub fn name(self) -> &'static str {
        match self {
            Request::Claims => "request.jwt.claims",
            Request::Legacy => "request.jwt.claim",
            Request::Sub => "request.jwt.claim.sub",
            Request::Role => "request.jwt.claim.role",
            Request::Email => "request.jwt.claim.email",
        }
    }

    /// The claim a per-claim setting stands for ("sub", "role", "email").
    pub fn claim(self) -> &'static str {
        self.name().rsplit('.').next().unwrap_or_default()
    }

    fn setting(self) -> &'static GucSetting<Option<CString>> {
        match self {
            Request::Claims => &CLAIMS,
            Request::Legacy => &CLAIM_LEGACY,
            Request::Sub => &CLAIM_SUB,
            Request::Role => &CLAIM_ROLE,
            Request::Email => &CLAIM_EMAIL,
        }
    }

    /// The current value without copying it; None when unset or empty.
    pub fn value(self) -> Option<&'static CStr> {
        value(self.setting())
    }
}

/// Moved by every change of a request setting and every transaction end: the auth.*
/// helpers' cache is valid while it stands still.
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// The current generation.
#[inline(always)]
pub fn generation() -> u64 {
    GENERATION.load(Relaxed)
}

/// Invalidate every cached request value (called at transaction end too).
pub fn bump_generation() {
    GENERATION.fetch_add(1, Relaxed);
}

/// Assign hook of the request settings: only moves the counter; it cannot fail.
unsafe extern "C-unwind" fn on_request_setting(_new: *const c_char, _extra: *mut c_void) {
    bump_generation();
}

/// Check hook of auth.jwt_secret: never refuses (a refusal's message would print the
/// value), but warns when the secret is being stored where every user can read it.
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn check_secret(
    newval: *mut *mut c_char,
    _extra: *mut *mut c_void,
    source: pg_sys::GucSource::Type,
) -> bool {
    warn_if_readable(newval, source, "auth.jwt_secret");
    true
}

/// Check hook of auth.vault_key: as [`check_secret`].
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn check_vault_key(
    newval: *mut *mut c_char,
    _extra: *mut *mut c_void,
    source: pg_sys::GucSource::Type,
) -> bool {
    warn_if_readable(newval, source, "auth.vault_key");
    true
}

/// Warn when a secret setting is being stored where every user can read it.
unsafe fn warn_if_readable(newval: *mut *mut c_char, source: pg_sys::GucSource::Type, name: &str) {
    use pg_sys::GucSource::*;
    let empty = newval.is_null() || (*newval).is_null() || **newval == 0;
    // PGC_S_TEST: ALTER DATABASE / ROLE ... SET or a function's SET clause being validated;
    // the others: such a stored value being applied at connection start.
    if !empty
        && matches!(
            source,
            PGC_S_TEST | PGC_S_DATABASE | PGC_S_USER | PGC_S_DATABASE_USER
        )
    {
        pgrx::ereport!(
            pgrx::PgLogLevel::WARNING,
            pgrx::PgSqlErrorCode::ERRCODE_WARNING,
            format!("{name} is stored in pg_db_role_setting or pg_proc, which every user can read"),
            "Set it in postgresql.conf, with ALTER SYSTEM, or in a superuser-only include file, and load supabase_auth_ext with session_preload_libraries (README: Security model)."
        );
    }
}

/// A role path PostgREST would refuse at startup is refused when set (22023, with why).
unsafe extern "C-unwind" fn check_role_claim(
    newval: *mut *mut c_char,
    _extra: *mut *mut c_void,
    _source: pg_sys::GucSource::Type,
) -> bool {
    if newval.is_null() || (*newval).is_null() {
        return true;
    }
    let text = std::ffi::CStr::from_ptr(*newval).to_string_lossy();
    match auth_core::request::RolePath::parse(&text) {
        Ok(_) => true,
        Err(e) => {
            let why = CString::new(e.to_string().replace('%', "%%")).unwrap_or_default();
            pg_sys::GUC_check_errdetail_string = pg_sys::pstrdup(why.as_ptr());
            false
        }
    }
}

pub fn init() {
    // Before defining auth.jwt_secret: did it exist as a placeholder, readable by all?
    // Loaded at connection start (session_preload_libraries, shared_preload_libraries) the
    // backend is still initialising and no client statement has run yet.
    unsafe {
        let v = pg_sys::GetConfigOption(c"auth.jwt_secret".as_ptr(), true, false);
        let on_demand = pg_sys::Mode == pg_sys::ProcessingMode::NormalProcessing;
        if !v.is_null() && *v != 0 && on_demand {
            SECRET_SEEN_BEFORE_LOAD.store(true, Relaxed);
        }
        let v = pg_sys::GetConfigOption(c"auth.vault_key".as_ptr(), true, false);
        if !v.is_null() && *v != 0 && on_demand {
            VAULT_KEY_SEEN_BEFORE_LOAD.store(true, Relaxed);
        }
        GucRegistry::define_string_guc_with_hooks(
            c"auth.jwt_secret",
            c"Sets the key auth.login, auth.authenticate and auth.sign use.",
            c"A secret of at least 32 bytes, a JWK or a JWKS. Superuser-only: hidden from everyone else.",
            &JWT_SECRET,
            GucContext::Suset,
            GucFlags::SUPERUSER_ONLY,
            Some(check_secret),
            None,
            None,
        );
    }
    unsafe {
        GucRegistry::define_string_guc_with_hooks(
            c"auth.vault_key",
            c"Sets the key the provider-token store (auth.provider_token_put) seals with.",
            c"At least 32 bytes. Superuser-only: hidden from everyone else.",
            &VAULT_KEY,
            GucContext::Suset,
            GucFlags::SUPERUSER_ONLY,
            Some(check_vault_key),
            None,
            None,
        );
    }
    GucRegistry::define_string_guc(
        c"auth.access_token_hook",
        c"Sets the function (schema.name, taking and returning jsonb) called for every access token the flows issue.",
        c"Supabase Auth's custom access token hook; empty: none. It runs as its owner. Superuser-only.",
        &ACCESS_TOKEN_HOOK,
        GucContext::Suset,
        GucFlags::default(),
    );
    let section3: [(
        &'static CStr,
        &'static CStr,
        &'static GucSetting<Option<CString>>,
    ); 4] = [
        (
            c"auth.jwt_aud",
            c"Sets the audience auth.login expects (empty: not checked).",
            &JWT_AUD,
        ),
        (
            c"auth.jwt_iss",
            c"Sets the issuers auth.login accepts, comma-separated (empty: not checked).",
            &JWT_ISS,
        ),
        (
            c"auth.anon_role",
            c"Sets the role of a request with no token or no role claim.",
            &ANON_ROLE,
        ),
        (
            c"auth.allowed_roles",
            c"Sets the only roles auth.login may switch to, comma-separated.",
            &ALLOWED_ROLES,
        ),
    ];
    for (name, short, setting) in section3 {
        GucRegistry::define_string_guc(
            name,
            short,
            c"Superuser-only.",
            setting,
            GucContext::Suset,
            GucFlags::default(),
        );
    }

    unsafe {
        GucRegistry::define_string_guc_with_hooks(
            c"auth.jwt_role_claim",
            c"Sets where the role is in the claims, as PostgREST's jwt-role-claim-key.",
            c"RFC 9535 JSONPath ($.role), PostgREST's older JSPath (.role) or a dot path (role). Superuser-only.",
            &JWT_ROLE_CLAIM,
            GucContext::Suset,
            GucFlags::default(),
            Some(check_role_claim),
            None,
            None,
        );
    }
    GucRegistry::define_enum_guc(
        c"auth.session_check",
        c"Sets whether auth.login refuses a token whose session has ended.",
        c"off; flows: the extension's own sessions; supabase: Supabase Auth's auth.sessions. Superuser-only.",
        &SESSION_CHECK,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"auth.jwt_leeway",
        c"Sets the seconds of clock skew allowed when checking exp and nbf.",
        c"Used by jwt_verify unless its options name a leeway. Superuser-only.",
        &JWT_LEEWAY,
        0,
        86_400,
        GucContext::Suset,
        GucFlags::UNIT_S,
    );
    let flows: [(&'static CStr, &'static CStr, &'static GucSetting<i32>, i32); 4] = [
        (
            c"auth.refresh_reuse_interval",
            c"Sets how long the previous refresh token still returns the session's current pair.",
            &REFRESH_REUSE_INTERVAL,
            0,
        ),
        (
            c"auth.resume_margin",
            c"Sets how close to its expiry auth.resume refreshes an access token.",
            &RESUME_MARGIN,
            0,
        ),
        (
            c"auth.access_token_lifetime",
            c"Sets the lifetime of the access tokens the flows issue.",
            &ACCESS_TOKEN_LIFETIME,
            1,
        ),
        (
            c"auth.session_lifetime",
            c"Sets how long a flow session can be refreshed (0: no limit).",
            &SESSION_LIFETIME,
            0,
        ),
    ];
    for (name, short, setting, min) in flows {
        GucRegistry::define_int_guc(
            name,
            short,
            c"Superuser-only.",
            setting,
            min,
            i32::MAX,
            GucContext::Suset,
            GucFlags::UNIT_S,
        );
    }
    let request: [(
        &'static CStr,
        &'static CStr,
        &'static GucSetting<Option<CString>>,
    ); 5] = [
        (
            c"request.jwt.claims",
            c"Holds the verified JWT claims of the request, as JSON text (PostgREST).",
            &CLAIMS,
        ),
        (
            c"request.jwt.claim",
            c"Holds the JWT claims as JSON text (legacy, read by auth.jwt()).",
            &CLAIM_LEGACY,
        ),
        (
            c"request.jwt.claim.sub",
            c"Holds the JWT subject (legacy PostgREST per-claim setting).",
            &CLAIM_SUB,
        ),
        (
            c"request.jwt.claim.role",
            c"Holds the JWT role (legacy PostgREST per-claim setting).",
            &CLAIM_ROLE,
        ),
        (
            c"request.jwt.claim.email",
            c"Holds the JWT email (legacy PostgREST per-claim setting).",
            &CLAIM_EMAIL,
        ),
    ];
    for (name, short, setting) in request {
        // SAFETY: the hook only bumps a counter; it cannot fail or call back into Postgres.
        unsafe {
            GucRegistry::define_string_guc_with_hooks(
                name,
                short,
                c"Set per request by the API layer; read by the auth.* helpers. Empty means unset.",
                setting,
                GucContext::Userset,
                GucFlags::default(),
                None,
                Some(on_request_setting),
                None,
            );
        }
    }
}
