//! Section 3b: whether a token's session is live, for auth.login (auth.session_check) and
//! auth.session_active(). One or two index probes into the session store, read in the
//! current snapshot, below the executor: no SQL, no privilege check (the login role needs no
//! grant on any session table), no search_path, and nothing a table's owner can make us run
//! (the store's shape is checked: plain table, built-in types, a btree primary key on id).
use crate::gucs::{self, SessionCheck};
use auth_core::session::{self, Claim, Stored};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::pg_sys::{self, Oid};
use pgrx::{FromDatum, IntoDatum};
use std::cell::Cell;
use std::ffi::CStr;

/// Whether the session `claim` names is live for subject `sub` at the statement's start:
/// true when the claims name none or the check is off; false for a session revoked, past
/// its end, unknown or another subject's. Raises 55000 when the configured store is missing
/// or not what it should be (fail closed: never a pass).
pub fn active(claim: Claim, sub: Option<&str>) -> bool {
    let mode = gucs::session_check();
    let id = match (mode, claim) {
        (SessionCheck::Off, _) | (_, Claim::None) => return true,
        (_, Claim::Bad) => return false,
        (_, Claim::Id(id)) => id,
    };
    match unsafe { read(mode, id, sub) } {
        Ok(stored) => session::live(stored, unsafe {
            pg_sys::GetCurrentStatementStartTimestamp()
        }),
        Err(e) => {
            e.report(pgrx::PgLogLevel::ERROR);
            unreachable!("an ERROR does not return")
        }
    }
}

/// A column we read: its number and the built-in type it must have.
#[derive(Clone, Copy)]
struct Column {
    attnum: i16,
    ty: Oid,
}

/// A table probed by a uuid column through a single-column btree index on it.
#[derive(Clone, Copy)]
struct Table {
    rel: Oid,
    /// Its schema and name when resolved: a renamed table is resolved again, not read.
    ns: Oid,
    name: &'static CStr,
    index: Oid,
    /// The index must be the table's primary key.
    primary: bool,
    key: Column,
}

/// A session store as resolved by name: where to probe and which columns to read.
#[derive(Clone, Copy)]
struct Store {
    sessions: Table,
    subject: Column,
    not_after: Option<Column>,
    /// Our flows keep revocations apart (insert-only), probed by session_id.
    revocations: Option<Table>,
    /// The built-in btree operator family for uuid.
    uuid_ops: Oid,
}

thread_local! {
    /// The store last resolved (names to numbers only: its shape is checked at every use,
    /// under the lock the probe holds), dropped on any relation cache invalidation.
    static RESOLVED: Cell<Option<(SessionCheck, Store)>> = const { Cell::new(None) };
}

unsafe extern "C-unwind" fn on_relcache(_arg: pg_sys::Datum, _relid: Oid) {
    RESOLVED.with(|r| r.set(None));
}

pub fn init() {
    unsafe { pg_sys::CacheRegisterRelcacheCallback(Some(on_relcache), pg_sys::Datum::from(0)) };
}

fn store_error(mode: SessionCheck, what: &str) -> ErrorReport {
    crate::error::report(crate::error::Error::SessionStore {
        mode,
        what: what.to_owned(),
    })
}

unsafe fn relid(ns: Oid, name: &CStr) -> Oid {
    if ns == pg_sys::InvalidOid {
        return pg_sys::InvalidOid;
    }
    pg_sys::get_relname_relid(name.as_ptr(), ns)
}

unsafe fn column(rel: Oid, name: &CStr, ty: Oid) -> Column {
    Column {
        attnum: pg_sys::get_attnum(rel, name.as_ptr()),
        ty,
    }
}

/// Names to numbers, no checks (those come under the lock, see [`open`]).
unsafe fn resolve(mode: SessionCheck) -> Result<Store, ErrorReport> {
    let uuid_ops = pg_sys::get_opclass_family(pg_sys::GetDefaultOpClass(
        pg_sys::UUIDOID,
        pg_sys::BTREE_AM_OID,
    ));
    if mode == SessionCheck::Flows {
        // our own tables in sae_internal (created by the extension, altered by no one else)
        let ns = pg_sys::get_namespace_oid(c"sae_internal".as_ptr(), true);
        let (sessions, revocations) = (
            relid(ns, c"sae_flow_sessions"),
            relid(ns, c"sae_flow_revocations"),
        );
        if sessions == pg_sys::InvalidOid || revocations == pg_sys::InvalidOid {
            return Err(store_error(
                mode,
                "supabase_auth_ext's session tables are not in this database",
            ));
        }
        return Ok(Store {
            sessions: Table {
                rel: sessions,
                ns,
                name: c"sae_flow_sessions",
                index: relid(ns, c"sae_flow_sessions_pkey"),
                primary: true,
                key: column(sessions, c"id", pg_sys::UUIDOID),
            },
            subject: column(sessions, c"subject", pg_sys::TEXTOID),
            not_after: Some(column(sessions, c"not_after", pg_sys::TIMESTAMPTZOID)),
            revocations: Some(Table {
                rel: revocations,
                ns,
                name: c"sae_flow_revocations",
                index: relid(ns, c"sae_flow_revocations_session"),
                primary: false,
                key: column(revocations, c"session_id", pg_sys::UUIDOID),
            }),
            uuid_ops,
        });
    }
    let ns = pg_sys::get_namespace_oid(c"auth".as_ptr(), true);
    let sessions = relid(ns, c"sessions");
    if sessions == pg_sys::InvalidOid {
        return Err(store_error(mode, "there is no table auth.sessions"));
    }
    let not_after = column(sessions, c"not_after", pg_sys::TIMESTAMPTZOID);
    Ok(Store {
        sessions: Table {
            rel: sessions,
            ns,
            name: c"sessions",
            index: primary_key(sessions),
            primary: true,
            key: column(sessions, c"id", pg_sys::UUIDOID),
        },
        subject: column(sessions, c"user_id", pg_sys::UUIDOID),
        // older Supabase Auth versions have no not_after: no end to check
        not_after: (not_after.attnum > 0).then_some(not_after),
        revocations: None,
        uuid_ops,
    })
}

/// The primary key index of `rel` (InvalidOid: none or no such table).
unsafe fn primary_key(rel: Oid) -> Oid {
    let relation = pg_sys::try_relation_open(rel, pg_sys::AccessShareLock as _);
    if relation.is_null() {
        return pg_sys::InvalidOid;
    }
    pg_sys::list_free(pg_sys::RelationGetIndexList(relation));
    #[cfg(not(feature = "pg18"))]
    let pkey = pg_sys::RelationGetPrimaryKeyIndex(relation);
    #[cfg(feature = "pg18")]
    let pkey = pg_sys::RelationGetPrimaryKeyIndex(relation, false);
    pg_sys::relation_close(relation, pg_sys::NoLock as _);
    pkey
}

/// Open `t` and its index for a probe, each locked until the transaction ends, and check,
/// under that lock, the shape the probe relies on. SECURITY: auth.sessions belongs to a
/// role that is not a superuser; holding the lock from this check to the transaction's end
/// means it cannot change the table between the check and the read (ALTER TABLE waits),
/// and a domain, another type, a dropped column or another kind of index is refused.
unsafe fn open(
    t: &Table,
    columns: &[Option<Column>],
    uuid_ops: Oid,
) -> Result<pg_sys::Relation, &'static str> {
    if t.rel == pg_sys::InvalidOid {
        return Err("the table is missing");
    }
    let rel = pg_sys::try_relation_open(t.rel, pg_sys::AccessShareLock as _);
    if rel.is_null() {
        return Err("the table is missing");
    }
    let close = |why| {
        pg_sys::relation_close(rel, pg_sys::NoLock as _);
        Err(why)
    };
    let class = &*(*rel).rd_rel;
    if class.relnamespace != t.ns || CStr::from_ptr(class.relname.data.as_ptr()) != t.name {
        // renamed or moved since it was resolved (the caller resolves again)
        return close("the table was renamed or moved");
    }
    if class.relkind != pg_sys::RELKIND_RELATION as std::ffi::c_char {
        return close("it is not a plain table");
    }
    let desc = pgrx::PgTupleDesc::from_pg_unchecked((*rel).rd_att);
    for c in columns.iter().flatten().chain([&t.key]) {
        let fits = c.attnum > 0
            && desc
                .get(c.attnum as usize - 1)
                .is_some_and(|a| !a.attisdropped && a.atttypid == c.ty && a.attnum == c.attnum);
        if !fits {
            return close("a column is missing or not of the built-in type it must have (uuid id and user_id, timestamptz not_after)");
        }
    }
    drop(desc);
    if t.index == pg_sys::InvalidOid {
        return close("it has no primary key");
    }
    let index = pg_sys::try_relation_open(t.index, pg_sys::AccessShareLock as _);
    if index.is_null() {
        return close("it has no primary key");
    }
    let form = (*index).rd_index;
    let fits = !form.is_null()
        && (*form).indrelid == t.rel
        && (*form).indisvalid
        && (!t.primary || (*form).indisprimary)
        && (*(*index).rd_rel).relam == pg_sys::BTREE_AM_OID
        && (*form).indnatts == 1
        && (*form).indkey.values.as_slice(1)[0] == t.key.attnum
        && *(*index).rd_opfamily == uuid_ops;
    pg_sys::relation_close(index, pg_sys::NoLock as _);
    if !fits {
        return close("its primary key is not a btree on id with the built-in uuid operators");
    }
    Ok(rel)
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

/// The first row of the open, checked `rel` whose key equals `id`, given to `read`; the
/// relation is closed keeping its lock.
unsafe fn probe<T>(
    rel: pg_sys::Relation,
    t: &Table,
    id: [u8; 16],
    read: impl FnOnce(pg_sys::HeapTuple, pg_sys::TupleDesc) -> T,
) -> Option<T> {
    let mut scankey: pg_sys::ScanKeyData = std::mem::zeroed();
    pg_sys::ScanKeyInit(
        &mut scankey,
        t.key.attnum,
        pg_sys::BTEqualStrategyNumber as _,
        Oid::from(pg_sys::F_UUID_EQ),
        pgrx::Uuid::from_bytes(id).into_datum().expect("a uuid"),
    );
    // indexOK: always through the checked index (an index scan, never a heap scan)
    let scan = pg_sys::systable_beginscan(rel, t.index, true, snapshot(), 1, &mut scankey);
    let tuple = pg_sys::systable_getnext(scan);
    let out = (!tuple.is_null()).then(|| read(tuple, (*rel).rd_att));
    pg_sys::systable_endscan(scan);
    pg_sys::relation_close(rel, pg_sys::NoLock as _);
    out
}

unsafe fn attribute(t: pg_sys::HeapTuple, d: pg_sys::TupleDesc, n: i16) -> Option<pg_sys::Datum> {
    let mut null = false;
    let v = pg_sys::heap_getattr(t, n.into(), d, &mut null);
    (!null).then_some(v)
}

/// The store's row for `id`, read under the checks of [`open`]; resolved by name again once
/// when the cached numbers no longer fit (the table was re-created).
unsafe fn read(
    mode: SessionCheck,
    id: [u8; 16],
    sub: Option<&str>,
) -> Result<Option<Stored>, ErrorReport> {
    let mut fresh = false;
    let (store, sessions, revocations) = loop {
        let store = match RESOLVED.with(Cell::get) {
            Some((m, s)) if m == mode => s,
            _ => {
                let s = resolve(mode)?;
                fresh = true;
                RESOLVED.with(|r| r.set(Some((mode, s))));
                s
            }
        };
        let columns = [Some(store.subject), store.not_after];
        let opened = open(&store.sessions, &columns, store.uuid_ops).and_then(|s| {
            match &store.revocations {
                None => Ok((s, None)),
                Some(r) => match open(r, &[], store.uuid_ops) {
                    Ok(r) => Ok((s, Some(r))),
                    Err(why) => {
                        pg_sys::relation_close(s, pg_sys::NoLock as _);
                        Err(why)
                    }
                },
            }
        });
        match opened {
            Ok((s, r)) => break (store, s, r),
            Err(why) if fresh => {
                let what = match mode {
                    SessionCheck::Flows => format!("supabase_auth_ext's session tables: {why}"),
                    _ => format!("auth.sessions: {why}"),
                };
                return Err(store_error(mode, &what));
            }
            Err(_) => RESOLVED.with(|r| r.set(None)),
        }
    };
    let revoked = match (revocations, &store.revocations) {
        (Some(rel), Some(t)) => probe(rel, t, id, |_, _| ()).is_some(),
        _ => false,
    };
    let sub_uuid = sub.and_then(auth_core::uuid::parse);
    let subject_is_uuid = store.subject.ty == pg_sys::UUIDOID;
    Ok(probe(sessions, &store.sessions, id, |t, d| {
        let subject = attribute(t, d, store.subject.attnum);
        let same_subject = match (subject, subject_is_uuid) {
            (None, _) => false,
            // checked under the lock: a uuid column, so the datum points at 16 bytes
            (Some(v), true) => sub_uuid.is_some_and(|u| *v.cast_mut_ptr::<[u8; 16]>() == u),
            (Some(v), false) => sub.is_some() && <&str>::from_datum(v, false) == sub,
        };
        Stored {
            same_subject,
            not_after: store
                .not_after
                .and_then(|c| attribute(t, d, c.attnum))
                .map(|v| v.value() as i64),
            revoked,
        }
    }))
}
