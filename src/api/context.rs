//! Section 2: auth.jwt(), uid(), sub(), role(), email(), claim(name).
//!
//! Why this is fast: these are plain version-1 C functions (no pgrx argument or return
//! wrapper), and each answers from a per-backend cache whose validity check is one integer
//! comparison. The cache is keyed on a generation counter that moves on every change of a
//! request.jwt.* setting (our assign hook, see gucs.rs) and at every transaction end (an
//! xact callback), so a new value is always seen, even between two statements of one
//! plpgsql function, and nothing is folded into a plan (the functions stay STABLE).
//!
//! Why it is sound to return the same pointer to every row: cached values live in
//! TopTransactionContext, are never written after creation, and the cache is dropped at
//! transaction end, before that memory is freed. A value already returned stays valid for
//! the rest of the transaction even if the claims change again (we allocate anew).
use crate::gucs;
use pgrx::prelude::*;
use pgrx::{pg_sys, IntoDatum, PgMemoryContexts};
use std::cell::UnsafeCell;
use std::ffi::{c_char, c_void, CStr};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

static GENERATION: AtomicU64 = AtomicU64::new(0);

/// Assign hook of every request.jwt.* setting: a change invalidates the cache.
pub unsafe extern "C-unwind" fn on_setting_change(_new: *const c_char, _extra: *mut c_void) {
    GENERATION.fetch_add(1, Relaxed);
}

/// Transaction end: cached values die with TopTransactionContext.
unsafe extern "C-unwind" fn on_xact_event(_event: pg_sys::XactEvent::Type, _arg: *mut c_void) {
    GENERATION.fetch_add(1, Relaxed);
}

/// The current generation (auth.whoami compares it with the one auth.login left).
pub fn generation() -> u64 {
    GENERATION.load(Relaxed)
}

pub fn init() {
    gucs::init(on_setting_change);
    super::sessions::init();
    install_statement_hooks();
    unsafe { pg_sys::RegisterXactCallback(Some(on_xact_event), std::ptr::null_mut()) };
}

#[derive(Clone, Copy)]
enum Slot {
    Unknown,
    Null,
    Value(pg_sys::Datum),
}

struct Cache {
    generation: u64,
    claims: Slot, // request.jwt.claims as jsonb
    jwt: Slot,
    sub: Slot,
    uid: Slot,
    role: Slot,
    email: Slot,
}

/// A backend runs one thread; this cell is only touched from SQL-callable functions.
struct BackendLocal(UnsafeCell<Cache>);
unsafe impl Sync for BackendLocal {}

/// Nothing known yet; `generation` u64::MAX matches no counter value.
const EMPTY: Cache = Cache {
    generation: u64::MAX,
    claims: Slot::Unknown,
    jwt: Slot::Unknown,
    sub: Slot::Unknown,
    uid: Slot::Unknown,
    role: Slot::Unknown,
    email: Slot::Unknown,
};

static CACHE: BackendLocal = BackendLocal(UnsafeCell::new(EMPTY));

fn cache() -> &'static mut Cache {
    let c = unsafe { &mut *CACHE.0.get() };
    let g = GENERATION.load(Relaxed);
    if c.generation != g {
        *c = Cache {
            generation: g,
            ..EMPTY
        };
    }
    c
}

fn slot(d: Option<pg_sys::Datum>) -> Slot {
    d.map_or(Slot::Null, Slot::Value)
}

/// Build a cached value in TopTransactionContext.
fn in_xact<T>(f: impl FnOnce() -> T) -> T {
    unsafe { PgMemoryContexts::TopTransactionContext.switch_to(|_| f()) }
}

fn jsonb_in(text: &CStr) -> Option<pg_sys::Datum> {
    // Raises 22P02 on invalid JSON, exactly like Supabase's `::jsonb` cast.
    in_xact(|| unsafe {
        pgrx::direct_function_call_as_datum(pg_sys::jsonb_in, &[Some(text.as_ptr().into())])
    })
}

fn claims(c: &mut Cache) -> Option<pg_sys::Datum> {
    if let Slot::Unknown = c.claims {
        c.claims = slot(gucs::value(&gucs::CLAIMS).and_then(jsonb_in));
    }
    match c.claims {
        Slot::Value(d) => Some(d),
        _ => None,
    }
}

/// `coalesce(nullif(<legacy>, ''), nullif(request.jwt.claims, '')::jsonb ->> name)`
fn field_text(
    c: &mut Cache,
    legacy: &'static pgrx::GucSetting<Option<std::ffi::CString>>,
    name: &str,
) -> Option<pg_sys::Datum> {
    if let Some(v) = gucs::value(legacy) {
        return in_xact(|| v.to_str().ok().and_then(|s| s.into_datum()));
    }
    let claims = claims(c)?;
    in_xact(|| unsafe {
        pgrx::direct_function_call_as_datum(
            pg_sys::jsonb_object_field_text,
            &[Some(claims), name.into_datum()],
        )
    })
}

fn compute_jwt(c: &mut Cache) -> Slot {
    match gucs::value(&gucs::CLAIM_LEGACY) {
        Some(legacy) => slot(jsonb_in(legacy)),
        None => slot(claims(c)),
    }
}

fn compute_sub(c: &mut Cache) -> Slot {
    slot(field_text(c, &gucs::CLAIM_SUB, "sub"))
}

fn compute_uid(c: &mut Cache) -> Slot {
    if let Slot::Unknown = c.sub {
        c.sub = compute_sub(c);
    }
    let Slot::Value(text) = c.sub else {
        return Slot::Null;
    };
    let text = unsafe { <&str as pgrx::FromDatum>::from_datum(text, false) };
    match text.and_then(auth_core::uuid::parse) {
        None => Slot::Null,
        Some(bytes) => in_xact(|| slot(pgrx::Uuid::from_bytes(bytes).into_datum())),
    }
}

fn compute_role(c: &mut Cache) -> Slot {
    slot(field_text(c, &gucs::CLAIM_ROLE, "role"))
}

fn compute_email(c: &mut Cache) -> Slot {
    slot(field_text(c, &gucs::CLAIM_EMAIL, "email"))
}

/// The per-row path: one generation comparison and a load. It calls nothing that can
/// raise or panic, so it needs no guard; a miss goes to the guarded [`answer`].
#[inline(always)]
unsafe fn answer_cached(
    fcinfo: pg_sys::FunctionCallInfo,
    pick: fn(&Cache) -> Slot,
) -> Option<pg_sys::Datum> {
    let c = &*CACHE.0.get();
    if c.generation != GENERATION.load(Relaxed) {
        return None;
    }
    match pick(c) {
        Slot::Value(d) => Some(d),
        Slot::Null => {
            (*fcinfo).isnull = true;
            Some(pg_sys::Datum::from(0))
        }
        Slot::Unknown => None,
    }
}

/// Fill the slot if needed (may call into PostgreSQL, so callers guard it) and answer.
unsafe fn answer(
    fcinfo: pg_sys::FunctionCallInfo,
    pick: fn(&mut Cache) -> &mut Slot,
    compute: fn(&mut Cache) -> Slot,
) -> pg_sys::Datum {
    let c = cache();
    if let Slot::Unknown = *pick(c) {
        let v = compute(c);
        *pick(c) = v;
    }
    match *pick(c) {
        Slot::Value(d) => d,
        _ => {
            (*fcinfo).isnull = true;
            pg_sys::Datum::from(0)
        }
    }
}

/// Declares a version-1 C function `$name` answering from cache slot `$field`.
macro_rules! cached_fn {
    ($name:ident, $finfo:ident, $field:ident, $compute:path) => {
        #[no_mangle]
        pub extern "C" fn $finfo() -> &'static pg_sys::Pg_finfo_record {
            const V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
            &V1
        }

        #[no_mangle]
        pub unsafe extern "C-unwind" fn $name(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
            #[pg_guard]
            unsafe extern "C-unwind" fn miss(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
                answer(fcinfo, |c| &mut c.$field, $compute)
            }
            match answer_cached(fcinfo, |c| c.$field) {
                Some(d) => d,
                None => miss(fcinfo),
            }
        }
    };
}

cached_fn!(sae_auth_jwt, pg_finfo_sae_auth_jwt, jwt, compute_jwt);
cached_fn!(sae_auth_uid, pg_finfo_sae_auth_uid, uid, compute_uid);
cached_fn!(sae_auth_sub, pg_finfo_sae_auth_sub, sub, compute_sub);
cached_fn!(sae_auth_role, pg_finfo_sae_auth_role, role, compute_role);
cached_fn!(
    sae_auth_email,
    pg_finfo_sae_auth_email,
    email,
    compute_email
);

/// auth.session_active() (section 3b): whether the session the request's claims name
/// (`auth.jwt() ->> 'session_id'`, subject `auth.sub()`) is live at the statement's start,
/// read in the statement's snapshot. Memoized like the helpers above, and per statement:
/// the key adds a counter our ExecutorStart and ProcessUtility hooks move at every
/// statement (nested ones too), so the per-row path is two integer comparisons. A revocation
/// committed by another transaction thus counts from the next statement (READ COMMITTED;
/// REPEATABLE READ: from the next transaction, whose snapshot shows it), and one made
/// earlier in this transaction from the statement after it.
#[derive(Clone, Copy, PartialEq, Eq)]
struct ActiveKey {
    generation: u64,
    statements: u64,
    mode: gucs::SessionCheck,
}

struct ActiveMemo(UnsafeCell<Option<(ActiveKey, bool)>>);
unsafe impl Sync for ActiveMemo {}
static ACTIVE: ActiveMemo = ActiveMemo(UnsafeCell::new(None));

/// Statements the executor has started in this backend.
static STATEMENTS: AtomicU64 = AtomicU64::new(0);
static mut PREV_EXECUTOR_START: pg_sys::ExecutorStart_hook_type = None;

#[pg_guard]
unsafe extern "C-unwind" fn executor_start(query: *mut pg_sys::QueryDesc, eflags: std::ffi::c_int) {
    STATEMENTS.fetch_add(1, Relaxed);
    match PREV_EXECUTOR_START {
        Some(prev) => prev(query, eflags),
        None => pg_sys::standard_ExecutorStart(query, eflags),
    }
}

static mut PREV_PROCESS_UTILITY: pg_sys::ProcessUtility_hook_type = None;

/// Utility statements count too: DO, CALL and FETCH run expressions (plpgsql's simple
/// ones, CALL's arguments) that never pass ExecutorStart.
#[pg_guard]
#[allow(clippy::too_many_arguments)]
unsafe extern "C-unwind" fn process_utility(
    pstmt: *mut pg_sys::PlannedStmt,
    query: *const std::ffi::c_char,
    read_only_tree: bool,
    context: pg_sys::ProcessUtilityContext::Type,
    params: pg_sys::ParamListInfo,
    env: *mut pg_sys::QueryEnvironment,
    dest: *mut pg_sys::DestReceiver,
    qc: *mut pg_sys::QueryCompletion,
) {
    STATEMENTS.fetch_add(1, Relaxed);
    match PREV_PROCESS_UTILITY {
        Some(prev) => prev(pstmt, query, read_only_tree, context, params, env, dest, qc),
        None => pg_sys::standard_ProcessUtility(
            pstmt,
            query,
            read_only_tree,
            context,
            params,
            env,
            dest,
            qc,
        ),
    }
}

fn install_statement_hooks() {
    unsafe {
        PREV_EXECUTOR_START = pg_sys::ExecutorStart_hook;
        pg_sys::ExecutorStart_hook = Some(executor_start);
        PREV_PROCESS_UTILITY = pg_sys::ProcessUtility_hook;
        pg_sys::ProcessUtility_hook = Some(process_utility);
    }
}

#[inline(always)]
fn active_key() -> ActiveKey {
    ActiveKey {
        generation: GENERATION.load(Relaxed),
        statements: STATEMENTS.load(Relaxed),
        mode: gucs::SESSION_CHECK.get(),
    }
}

#[no_mangle]
pub extern "C" fn pg_finfo_sae_auth_session_active() -> &'static pg_sys::Pg_finfo_record {
    const V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1
}

#[no_mangle]
pub unsafe extern "C-unwind" fn sae_auth_session_active(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    #[pg_guard]
    unsafe extern "C-unwind" fn miss() -> bool {
        let key = active_key();
        let c = cache();
        if let Slot::Unknown = c.jwt {
            c.jwt = compute_jwt(c);
        }
        if let Slot::Unknown = c.sub {
            c.sub = compute_sub(c);
        }
        let text = |slot: Slot| match slot {
            Slot::Value(d) => <&str as pgrx::FromDatum>::from_datum(d, false),
            _ => None,
        };
        let session_id = match c.jwt {
            Slot::Value(jwt) => pgrx::direct_function_call_as_datum(
                pg_sys::jsonb_object_field_text,
                &[Some(jwt), "session_id".into_datum()],
            ),
            _ => None,
        };
        let claim = auth_core::session::Claim::text(session_id.and_then(|d| text(Slot::Value(d))));
        let live = super::sessions::active(claim, text(c.sub));
        *ACTIVE.0.get() = Some((key, live));
        live
    }
    let live = match *ACTIVE.0.get() {
        Some((k, live)) if k == active_key() => live,
        _ => miss(),
    };
    let _ = fcinfo;
    pg_sys::Datum::from(live)
}

/// auth.claim(name): `request.jwt.claim.<name>` (legacy, as a JSON string) else
/// `auth.jwt() -> name`; right after auth.login, always the verified claims. Not cached per
/// name: it is not the per-row hot path.
#[no_mangle]
pub extern "C" fn pg_finfo_sae_auth_claim() -> &'static pg_sys::Pg_finfo_record {
    const V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1
}

#[no_mangle]
#[pg_guard]
pub unsafe extern "C-unwind" fn sae_auth_claim(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    // STRICT in SQL, so the argument is not null.
    let name: &str = pgrx::fcinfo::pg_getarg(fcinfo, 0).expect("strict");
    // After auth.login the verified claims win: a request.jwt.claim.<name> the session set
    // beforehand must not shadow them (login clears only the legacy settings it knows).
    let legacy = (!super::debug::claims_from_login())
        .then(|| std::ffi::CString::new(format!("request.jwt.claim.{name}")).ok())
        .flatten();
    let legacy = legacy.and_then(|n| {
        let v = pg_sys::GetConfigOption(n.as_ptr(), true, false);
        (!v.is_null() && *v != 0).then(|| CStr::from_ptr(v).to_string_lossy().into_owned())
    });
    let result = match legacy {
        Some(v) => Some(crate::jsonb::jsonb_in(&auth_core::json::quote(&v))),
        None => {
            let jwt = answer(fcinfo, |c| &mut c.jwt, compute_jwt);
            if (*fcinfo).isnull {
                return jwt;
            }
            pgrx::direct_function_call_as_datum(
                pg_sys::jsonb_object_field,
                &[Some(jwt), name.into_datum()],
            )
        }
    };
    match result {
        Some(d) => d,
        None => {
            (*fcinfo).isnull = true;
            pg_sys::Datum::from(0)
        }
    }
}

extension_sql!(
    r#"
-- Schema auth may already exist (Supabase creates it): created only when missing, and only
-- a schema created here gets USAGE for PUBLIC (sae_internal.pin_privileges).
CREATE FUNCTION sae_internal.create_auth_schema() RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $f$
BEGIN
  IF to_regnamespace('auth') IS NULL THEN
    CREATE SCHEMA auth;
  END IF;
END $f$;
SELECT sae_internal.create_auth_schema();

-- Raw C functions: STABLE (never folded into a cached plan), PARALLEL SAFE. Supabase Auth
-- creates its own auth.uid(), role(), email() and jwt() (SQL functions it owns): those are
-- left as they are, and auth.use_native_helpers() switches them to ours and back.
CREATE TABLE sae_internal.sae_replaced_helpers (
  signature text PRIMARY KEY,   -- e.g. auth.uid()
  definition text NOT NULL,     -- pg_get_functiondef of the function we replaced
  fn oid NOT NULL               -- that function (CREATE OR REPLACE keeps its OID)
);
CREATE FUNCTION sae_internal.native_helpers() RETURNS TABLE(signature text, decl text, symbol text, note text)
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog AS $f$ VALUES
  ('auth.jwt()', 'auth.jwt() RETURNS jsonb LANGUAGE c STABLE PARALLEL SAFE', 'sae_auth_jwt',
   'The request''s JWT claims: request.jwt.claim (legacy) else request.jwt.claims'),
  ('auth.uid()', 'auth.uid() RETURNS uuid LANGUAGE c STABLE PARALLEL SAFE', 'sae_auth_uid',
   'The request''s subject as uuid; NULL when absent or not a uuid'),
  ('auth.sub()', 'auth.sub() RETURNS text LANGUAGE c STABLE PARALLEL SAFE', 'sae_auth_sub',
   'The request''s subject as text'),
  ('auth.role()', 'auth.role() RETURNS text LANGUAGE c STABLE PARALLEL SAFE', 'sae_auth_role',
   'The request''s role claim'),
  ('auth.email()', 'auth.email() RETURNS text LANGUAGE c STABLE PARALLEL SAFE', 'sae_auth_email',
   'The request''s email claim'),
  ('auth.claim(text)', 'auth.claim(name text) RETURNS jsonb LANGUAGE c STABLE STRICT PARALLEL SAFE',
   'sae_auth_claim', 'One top-level claim of the request, as jsonb')
$f$;
CREATE FUNCTION sae_internal.install_helpers() RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $f$
DECLARE h record;
BEGIN
  FOR h IN SELECT * FROM sae_internal.native_helpers() LOOP
    IF to_regprocedure(h.signature) IS NULL THEN
      EXECUTE format('CREATE FUNCTION %s AS %L, %L', h.decl, 'MODULE_PATHNAME', h.symbol);
      EXECUTE format('COMMENT ON FUNCTION %s IS %L', h.signature, h.note);
    ELSE
      RAISE WARNING '% already exists (Supabase Auth''s?): left as it is', h.signature
        USING HINT = 'SELECT auth.use_native_helpers() switches it to supabase_auth_ext''s.';
    END IF;
  END LOOP;
END $f$;
SELECT sae_internal.install_helpers();

CREATE FUNCTION auth.session_active() RETURNS boolean LANGUAGE c STABLE PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'sae_auth_session_active';
COMMENT ON FUNCTION auth.session_active() IS 'Whether the session the request''s claims name (session_id) is live under auth.session_check; true when they name none or the check is off';

-- Switch helpers that are not ours (Supabase's SQL ones) to ours, in place: CREATE OR
-- REPLACE keeps each function's OID, owner and ACL, so policies and views that use it keep
-- working. The replaced definition is saved each time (Supabase Auth's migrations re-create
-- these functions), and use_native_helpers(false) restores it.
-- SECURITY: a restore runs the saved text as the function's owner (SET ROLE), never as the
-- caller, and only over our own function with the OID it replaced; if that function was
-- dropped or changed since, it refuses (55000). What it reads (the list of helpers, the
-- saved definitions, our library's path) is in sae_internal, never looked up in schema
-- auth, whose owner may be another role.
CREATE FUNCTION auth.use_native_helpers(native boolean DEFAULT true) RETURNS text[]
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $f$
DECLARE
  h record;
  lib text := (SELECT probin FROM pg_proc WHERE oid = 'sae_internal.flow_guard()'::regprocedure);
  done text[] := '{}';
  fn oid;
  owner text;
  caller_role text;
BEGIN
  IF native THEN
    FOR h IN SELECT * FROM sae_internal.native_helpers() LOOP
      fn := to_regprocedure(h.signature);
      CONTINUE WHEN fn IS NOT NULL AND EXISTS (
        SELECT 1 FROM pg_proc WHERE oid = fn AND probin = lib AND prosrc = h.symbol);
      IF fn IS NOT NULL THEN
        INSERT INTO sae_internal.sae_replaced_helpers VALUES (h.signature, pg_get_functiondef(fn), fn)
        ON CONFLICT (signature) DO UPDATE SET definition = excluded.definition, fn = excluded.fn;
      END IF;
      EXECUTE format('CREATE OR REPLACE FUNCTION %s AS %L, %L', h.decl, lib, h.symbol);
      IF fn IS NOT NULL THEN
        -- While it is switched, the function depends on its saved definition: DROP
        -- EXTENSION refuses (2BP01) instead of dropping the only copy of Supabase's
        -- helper. Restoring it (CREATE OR REPLACE) removes this dependency.
        INSERT INTO pg_depend (classid, objid, objsubid, refclassid, refobjid, refobjsubid, deptype)
        VALUES ('pg_proc'::regclass, fn, 0, 'pg_class'::regclass,
                'sae_internal.sae_replaced_helpers'::regclass, 0, 'n');
      END IF;
      done := done || h.signature;
    END LOOP;
  ELSE
    FOR h IN SELECT r.*, n.symbol FROM sae_internal.sae_replaced_helpers r
             JOIN sae_internal.native_helpers() n USING (signature) ORDER BY signature LOOP
      fn := to_regprocedure(h.signature);
      IF fn IS DISTINCT FROM h.fn OR NOT EXISTS (
          SELECT 1 FROM pg_proc WHERE oid = fn AND probin = lib AND prosrc = h.symbol) THEN
        RAISE EXCEPTION USING ERRCODE = '55000',
          MESSAGE = format('%s was dropped or changed since use_native_helpers() replaced it', h.signature),
          DETAIL = 'The saved definition is not restored over a function someone else made.',
          HINT = format('Recreate it by hand, then: DELETE FROM sae_internal.sae_replaced_helpers WHERE signature = %L', h.signature);
      END IF;
      SELECT r.rolname INTO owner FROM pg_proc p JOIN pg_roles r ON r.oid = p.proowner
      WHERE p.oid = fn;
      caller_role := current_setting('role');
      PERFORM set_config('role', owner, true);
      EXECUTE h.definition;
      PERFORM set_config('role', caller_role, true);
      DELETE FROM sae_internal.sae_replaced_helpers WHERE signature = h.signature;
      done := done || h.signature;
    END LOOP;
  END IF;
  RETURN done;
END $f$;
COMMENT ON FUNCTION auth.use_native_helpers(boolean) IS 'Switch auth.uid/role/email/jwt/sub/claim that are not ours (Supabase''s SQL helpers) to the native ones, in place (true), or back (false)';
"#,
    name = "auth_context",
);
