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
use crate::gucs::{self, Request};
use pgrx::prelude::*;
use pgrx::{pg_sys, IntoDatum, PgMemoryContexts};
use std::cell::UnsafeCell;
use std::ffi::{c_void, CStr};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Transaction end: cached values die with TopTransactionContext.
unsafe extern "C-unwind" fn on_xact_event(_event: pg_sys::XactEvent::Type, _arg: *mut c_void) {
    gucs::bump_generation();
}

pub fn init() {
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
    let g = gucs::generation();
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
        c.claims = slot(Request::Claims.value().and_then(jsonb_in));
    }
    match c.claims {
        Slot::Value(d) => Some(d),
        _ => None,
    }
}

/// `coalesce(nullif(<legacy>, ''), nullif(request.jwt.claims, '')::jsonb ->> name)`
fn field_text(c: &mut Cache, legacy: Request) -> Option<pg_sys::Datum> {
    let name = legacy.claim();
    if let Some(v) = legacy.value() {
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
    match Request::Legacy.value() {
        Some(legacy) => slot(jsonb_in(legacy)),
        None => slot(claims(c)),
    }
}

fn compute_sub(c: &mut Cache) -> Slot {
    slot(field_text(c, Request::Sub))
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
    slot(field_text(c, Request::Role))
}

fn compute_email(c: &mut Cache) -> Slot {
    slot(field_text(c, Request::Email))
}

/// The per-row path: one generation comparison and a load. It calls nothing that can
/// raise or panic, so it needs no guard; a miss goes to the guarded [`answer`].
#[inline(always)]
unsafe fn answer_cached(
    fcinfo: pg_sys::FunctionCallInfo,
    pick: fn(&Cache) -> Slot,
) -> Option<pg_sys::Datum> {
    let c = &*CACHE.0.get();
    if c.generation != gucs::generation() {
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
        generation: gucs::generation(),
        statements: STATEMENTS.load(Relaxed),
        mode: gucs::session_check(),
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

pgrx::extension_sql_file!("../../sql/surface/context.sql", name = "auth_context");
