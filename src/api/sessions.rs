//! Section 3b: whether a token's session is live, for auth.login (auth.session_check) and
//! auth.session_active(). One or two index probes into the session store, read in the
//! current snapshot, below the executor: no SQL, no privilege check (the login role needs no
//! grant on any session table), no search_path, and nothing a table's owner can make us run
//! (the store's shape is checked: plain table, built-in types, a btree primary key on id).
use crate::gucs::{SessionCheck, SESSION_CHECK};
use auth_core::session::{self, Claim, Stored};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::pg_sys::{self, Oid};
use pgrx::{FromDatum, IntoDatum, PgSqlErrorCode};
use std::cell::Cell;
use std::ffi::CStr;

/// Whether the session `claim` names is live for subject `sub`: true when the claims name
/// none or the check is off; false for a session revoked, past its end, unknown or another
/// subject's. 55000 when the configured store is missing or not what it should be.
pub fn active(claim: Claim, sub: Option<&str>) -> Result<bool, ErrorReport> {
    let mode = SESSION_CHECK.get();
    let id = match (mode, claim) {
        (SessionCheck::Off, _) | (_, Claim::None) => return Ok(true),
        (_, Claim::Bad) => return Ok(false),
        (_, Claim::Id(id)) => id,
    };
    let store = store(mode)?;
    let stored = unsafe { read(&store, id, sub) };
    Ok(session::live(stored, unsafe {
        pg_sys::GetCurrentTimestamp()
    }))
}

/// A session store as resolved: where to probe and which columns to read.
#[derive(Clone, Copy)]
struct Store {
    sessions: Oid,
    sessions_pkey: Oid,
    id: i16,
    subject: i16,
    subject_is_uuid: bool,
    not_after: Option<i16>,
    /// Our flows keep revocations apart (insert-only): (table, index on session_id, column).
    revocations: Option<(Oid, Oid, i16)>,
}

thread_local! {
    /// The store last resolved, dropped on any relation cache invalidation (a table or
    /// index created, dropped, renamed or altered), so it is resolved again before use.
    static RESOLVED: Cell<Option<(SessionCheck, Store)>> = const { Cell::new(None) };
}

unsafe extern "C-unwind" fn on_relcache(_arg: pg_sys::Datum, _relid: Oid) {
    RESOLVED.with(|r| r.set(None));
}

pub fn init() {
    unsafe { pg_sys::CacheRegisterRelcacheCallback(Some(on_relcache), pg_sys::Datum::from(0)) };
}

fn store(mode: SessionCheck) -> Result<Store, ErrorReport> {
    if let Some((m, s)) = RESOLVED.with(Cell::get) {
        if m == mode {
            return Ok(s);
        }
    }
    let s = unsafe {
        match mode {
            SessionCheck::Flows => flows_store(),
            _ => supabase_store(),
        }
    }?;
    RESOLVED.with(|r| r.set(Some((mode, s))));
    Ok(s)
}

fn store_error(what: &str, hint: &str) -> ErrorReport {
    ErrorReport::new(
        PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
        format!("auth.session_check cannot read its sessions: {what}"),
        "",
    )
    .set_hint(hint.to_owned())
}

unsafe fn relid(ns: Oid, name: &CStr) -> Oid {
    if ns == pg_sys::InvalidOid {
        return pg_sys::InvalidOid;
    }
    pg_sys::get_relname_relid(name.as_ptr(), ns)
}

/// The column `name` of `rel` when it has type `ty`: Some(attnum).
unsafe fn column(rel: Oid, name: &CStr, ty: Oid) -> Option<i16> {
    let n = pg_sys::get_attnum(rel, name.as_ptr());
    (n > 0 && pg_sys::get_atttype(rel, n) == ty).then_some(n)
}

/// Our own tables in sae_internal (created by the extension, writable by no one else).
unsafe fn flows_store() -> Result<Store, ErrorReport> {
    let missing = || {
        store_error(
            "supabase_auth_ext's session tables are not in this database",
            "CREATE EXTENSION supabase_auth_ext in this database, or set auth.session_check for the databases that have it.",
        )
    };
    let ns = pg_sys::get_namespace_oid(c"sae_internal".as_ptr(), true);
    let (sessions, pkey) = (
        relid(ns, c"sae_flow_sessions"),
        relid(ns, c"sae_flow_sessions_pkey"),
    );
    let (revocations, by_session) = (
        relid(ns, c"sae_flow_revocations"),
        relid(ns, c"sae_flow_revocations_session"),
    );
    if [sessions, pkey, revocations, by_session].contains(&pg_sys::InvalidOid) {
        return Err(missing());
    }
    let (Some(id), Some(subject), Some(not_after), Some(revoked)) = (
        column(sessions, c"id", pg_sys::UUIDOID),
        column(sessions, c"subject", pg_sys::TEXTOID),
        column(sessions, c"not_after", pg_sys::TIMESTAMPTZOID),
        column(revocations, c"session_id", pg_sys::UUIDOID),
    ) else {
        return Err(missing());
    };
    Ok(Store {
        sessions,
        sessions_pkey: pkey,
        id,
        subject,
        subject_is_uuid: false,
        not_after: Some(not_after),
        revocations: Some((revocations, by_session, revoked)),
    })
}

/// Supabase Auth's auth.sessions: id uuid (primary key), user_id uuid, not_after
/// timestamptz (optional: older Supabase Auth versions lack it). SECURITY: its owner is not
/// a superuser (supabase_auth_admin), so its shape is checked before we read it: a plain
/// table, columns of the built-in types (not domains), and a single-column btree primary
/// key on id with the built-in uuid operator class, so an index probe runs only built-in
/// code. Whatever its owner writes into it can only make the check refuse or pass a token
/// that is validly signed anyway.
unsafe fn supabase_store() -> Result<Store, ErrorReport> {
    let wrong = |what: &str| {
        store_error(
            what,
            "Set auth.session_check = 'supabase' only in a database where Supabase Auth keeps auth.sessions.",
        )
    };
    let ns = pg_sys::get_namespace_oid(c"auth".as_ptr(), true);
    let sessions = relid(ns, c"sessions");
    if sessions == pg_sys::InvalidOid {
        return Err(wrong("there is no table auth.sessions"));
    }
    if pg_sys::get_rel_relkind(sessions) != pg_sys::RELKIND_RELATION as std::ffi::c_char {
        return Err(wrong("auth.sessions is not a plain table"));
    }
    let (Some(id), Some(user_id)) = (
        column(sessions, c"id", pg_sys::UUIDOID),
        column(sessions, c"user_id", pg_sys::UUIDOID),
    ) else {
        return Err(wrong("auth.sessions has no uuid columns id and user_id"));
    };
    let not_after = match pg_sys::get_attnum(sessions, c"not_after".as_ptr()) {
        n if n <= 0 => None,
        _ => Some(
            column(sessions, c"not_after", pg_sys::TIMESTAMPTZOID)
                .ok_or_else(|| wrong("auth.sessions.not_after is not a timestamptz"))?,
        ),
    };
    let rel = pg_sys::table_open(sessions, pg_sys::AccessShareLock as _);
    pg_sys::list_free(pg_sys::RelationGetIndexList(rel));
    #[cfg(not(feature = "pg18"))]
    let pkey = pg_sys::RelationGetPrimaryKeyIndex(rel);
    #[cfg(feature = "pg18")]
    let pkey = pg_sys::RelationGetPrimaryKeyIndex(rel, false);
    pg_sys::table_close(rel, pg_sys::AccessShareLock as _);
    if pkey == pg_sys::InvalidOid {
        return Err(wrong("auth.sessions has no primary key"));
    }
    let index = pg_sys::index_open(pkey, pg_sys::AccessShareLock as _);
    let form = &*(*index).rd_index;
    let uuid_ops = pg_sys::get_opclass_family(pg_sys::GetDefaultOpClass(
        pg_sys::UUIDOID,
        pg_sys::BTREE_AM_OID,
    ));
    let fits = (*(*index).rd_rel).relam == pg_sys::BTREE_AM_OID
        && form.indnatts == 1
        && form.indkey.values.as_slice(1)[0] == id
        && *(*index).rd_opfamily == uuid_ops;
    pg_sys::index_close(index, pg_sys::AccessShareLock as _);
    if !fits {
        return Err(wrong(
            "auth.sessions's primary key is not a btree on id with the built-in uuid operators",
        ));
    }
    Ok(Store {
        sessions,
        sessions_pkey: pkey,
        id,
        subject: user_id,
        subject_is_uuid: true,
        not_after,
        revocations: None,
    })
}

/// The snapshot the current statement reads with (READ COMMITTED: a revocation committed
/// before the statement began counts; REPEATABLE READ: before the transaction's first).
unsafe fn snapshot() -> pg_sys::Snapshot {
    if pg_sys::ActiveSnapshotSet() {
        pg_sys::GetActiveSnapshot()
    } else {
        pg_sys::GetTransactionSnapshot()
    }
}

/// The first row of `rel` whose `key` column equals `id`, found through `index`, given to
/// `read`.
unsafe fn probe<T>(
    rel: Oid,
    index: Oid,
    key: i16,
    id: [u8; 16],
    read: impl FnOnce(pg_sys::HeapTuple, pg_sys::TupleDesc) -> T,
) -> Option<T> {
    let relation = pg_sys::table_open(rel, pg_sys::AccessShareLock as _);
    let mut scankey: pg_sys::ScanKeyData = std::mem::zeroed();
    pg_sys::ScanKeyInit(
        &mut scankey,
        key,
        pg_sys::BTEqualStrategyNumber as _,
        Oid::from(pg_sys::F_UUID_EQ),
        pgrx::Uuid::from_bytes(id).into_datum().expect("a uuid"),
    );
    let scan = pg_sys::systable_beginscan(relation, index, true, snapshot(), 1, &mut scankey);
    let tuple = pg_sys::systable_getnext(scan);
    let out = (!tuple.is_null()).then(|| read(tuple, (*relation).rd_att));
    pg_sys::systable_endscan(scan);
    pg_sys::table_close(relation, pg_sys::AccessShareLock as _);
    out
}

unsafe fn attribute(t: pg_sys::HeapTuple, d: pg_sys::TupleDesc, n: i16) -> Option<pg_sys::Datum> {
    let mut null = false;
    let v = pg_sys::heap_getattr(t, n.into(), d, &mut null);
    (!null).then_some(v)
}

unsafe fn read(store: &Store, id: [u8; 16], sub: Option<&str>) -> Option<Stored> {
    let revoked = store
        .revocations
        .is_some_and(|(rel, index, key)| probe(rel, index, key, id, |_, _| ()).is_some());
    let sub_uuid = sub.and_then(auth_core::uuid::parse);
    probe(store.sessions, store.sessions_pkey, store.id, id, |t, d| {
        let subject = attribute(t, d, store.subject);
        let same_subject = match (subject, store.subject_is_uuid) {
            (None, _) => false,
            (Some(v), true) => sub_uuid.is_some_and(|u| *v.cast_mut_ptr::<[u8; 16]>() == u),
            (Some(v), false) => sub.is_some() && <&str>::from_datum(v, false) == sub,
        };
        Stored {
            same_subject,
            not_after: store
                .not_after
                .and_then(|n| attribute(t, d, n))
                .map(|v| v.value() as i64),
            revoked,
        }
    })
}
