"""Hostile non-superusers (issue 12): the database owner, the owner of schema auth, a role
that holds default privileges, the authenticator and anon each try every route to more
rights than they have; each test asserts the role is still not a superuser and that nothing
they planted ran. Plus the fail-closed cases of the flows: no worker slot, a row lock held
during a revocation, concurrent wrong verifiers. The privileges of every function are pinned
against tests/data/extension_functions.txt."""
import pathlib
import threading
import time
import uuid

import psycopg
import pytest
from conftest import (AUTHN, SECRET, configure_login, connect, fails, one, pkce_pair,
                      user_token)

EXT = "supabase_auth_ext"
DATA = pathlib.Path(__file__).parent / "data"
DBOWNER, AUTHADMIN, DEFPRIV = "sae_hostile_dbowner", "sae_hostile_authadmin", "sae_hostile_defpriv"
HOSTILE = (DBOWNER, AUTHADMIN, DEFPRIV)


@pytest.fixture(scope="module", autouse=True)
def hostile_roles():
    with connect("postgres") as c:
        for r in HOSTILE:
            c.execute(f"""do $$ begin
                if not exists (select 1 from pg_roles where rolname = '{r}') then
                  create role {r} login nosuperuser; end if; end $$""")
    yield
    with connect("postgres") as c:
        for r in HOSTILE:
            c.execute(f"alter role {r} nosuperuser")


def is_superuser(role):
    """Whether `role` became a superuser (and, so that one failure does not spill into the
    next test, make it none again)."""
    with connect("postgres") as c:
        su = one(c, "select rolsuper from pg_roles where rolname = %s", (role,))
        c.execute(f"alter role {role} nosuperuser")
        return su


@pytest.fixture
def fresh_db():
    """make(owner=None): a new empty database (optionally owned by `owner`); dropped after."""
    made = []

    def make(owner=None):
        name = "t_sec_" + uuid.uuid4().hex[:8]
        with connect("postgres") as c:
            c.execute(f'create database "{name}"' + (f" owner {owner}" if owner else ""))
        made.append(name)
        return name

    yield make
    with connect("postgres") as c:
        for name in made:
            c.execute(f'drop database "{name}" with (force)')


# A trap a hostile role plants: logs every call, and makes its planter a superuser when it
# runs with a superuser's rights.
TRAP_LOG = """
create table public.trap_log (who text, what text);
grant insert, select on public.trap_log to public;
create function public.trap(what text) returns void language plpgsql as $t$
begin
  insert into public.trap_log values (current_user, what);
  if (select rolsuper from pg_catalog.pg_roles where rolname = current_user) then
    execute format('alter role %I superuser', '{role}');
  end if;
end $t$;
"""

WORKER_TRAPS = """
create function public.clock_timestamp() returns timestamptz language plpgsql as $t$
begin perform public.trap('clock_timestamp'); return pg_catalog.now(); end $t$;
create function public.decode(text, text) returns bytea language plpgsql as $t$
begin perform public.trap('decode'); return pg_catalog.decode($1, $2); end $t$;
create function public.bytea_eq(bytea, bytea) returns boolean language plpgsql as $t$
begin perform public.trap('='); return pg_catalog.byteaeq($1, $2); end $t$;
create operator public.= (leftarg = bytea, rightarg = bytea, function = public.bytea_eq);
create function public.uuid_eq(uuid, uuid) returns boolean language plpgsql as $t$
begin perform public.trap('uuid ='); return pg_catalog.uuid_eq($1, $2); end $t$;
create operator public.= (leftarg = uuid, rightarg = uuid, function = public.uuid_eq);
create function public.set_config(text, text, boolean) returns text language plpgsql as $t$
begin perform public.trap('set_config'); return pg_catalog.set_config($1, $2, $3); end $t$;
"""


# What no role but the extension's owner may do: every privileged or internal function and
# every table of ours. Each hostile role is tried against all of it.
PRIVILEGED_CALLS = (
    "auth.sign('{\"role\": \"service_role\"}')", "auth.issue_api_key('service_role')",
    "auth.use_native_helpers()", "auth.use_native_helpers(false)",
    "auth.pkce_begin('u', repeat('C', 43))", "auth.revoke_session(gen_random_uuid())",
    "auth.revoke_all('u')", "sae_internal.pin_privileges()", "sae_internal.flow_secret()",
    "sae_internal.flow_sign('{}')", "sae_internal.flow_revoke(gen_random_uuid())",
    "sae_internal.flow_claim(repeat('0', 64))")
TABLES = ("sae_flow_codes", "sae_flow_sessions", "sae_flow_refresh_tokens",
          "sae_flow_revocations", "sae_replaced_helpers")


def gains_nothing(conn):
    """`conn`'s role can execute none of PRIVILEGED_CALLS, read none of TABLES, and create
    nothing in sae_internal."""
    for call in PRIVILEGED_CALLS:
        fails(conn, f"select {call}", (), "42501")
    for t in TABLES:
        fails(conn, f"select * from sae_internal.{t}", (), "42501")
    fails(conn, "create function sae_internal.x() returns int language sql as 'select 1'", (),
          "42501")


def reuse_revokes(su, app, s0):
    """Rotate session `s0` twice, present its first refresh token again: 28000 reused, and
    the revocation is committed (one row), whatever the caller does next."""
    s1 = one(app, "select auth.refresh(%s)", (s0["refresh_token"],))
    one(app, "select auth.refresh(%s)", (s1["refresh_token"],))
    fails(app, "select auth.refresh(%s)", (s0["refresh_token"],), "28000",
          "invalid refresh token: reused")
    assert one(su, "select count(*) from sae_internal.sae_flow_revocations where session_id = %s",
               (s0["session_id"],)) == 1


def preload(db):
    """Log-in setup for a database of its own: the key is the cluster's (set by the logindb
    fixture with ALTER SYSTEM, so it must be requested too); the library loads per session."""
    with connect(db) as su:
        su.execute(f'alter database "{db}" set session_preload_libraries = \'supabase_auth_ext\'')


def trap_calls(dbname):
    with connect(dbname) as c:
        return c.execute("select who, what from public.trap_log").fetchall()


# --- the database owner ----------------------------------------------------------------------

def test_database_owner_cannot_steer_the_flow_worker(fresh_db, logindb):
    """Finding 1: the owner plants unqualified names the worker once used, and points the
    database's search_path at them; a refresh-token reuse and a wrong PKCE verifier then
    start the worker. Nothing planted runs, and the protective writes still happen."""
    db = fresh_db(owner=DBOWNER)
    with connect(db) as su:
        su.execute(f"create extension {EXT}")
    with connect(db, user=DBOWNER) as o:
        o.execute(TRAP_LOG.format(role=DBOWNER) + WORKER_TRAPS)
        o.execute(f'alter database "{db}" set search_path = public, pg_catalog')
        o.execute(f'alter database "{db}" set lock_timeout = 1')
    preload(db)
    with connect(db) as su, connect(db, user=AUTHN) as app:
        # (this test's own superuser queries must not run under the planted search_path)
        su.execute("set search_path = pg_catalog")
        verifier, challenge = pkce_pair()
        code = one(su, "select auth.pkce_begin('u1', %s)", (challenge,))
        fails(app, "select auth.pkce_exchange(%s, %s)", (code, "w" * 43), "28000",
              "invalid auth code: bad_verifier")
        fails(app, "select auth.pkce_exchange(%s, %s)", (code, verifier), "28000",
              "invalid auth code: unknown")  # burnt for real
        code = one(su, "select auth.pkce_begin('u1', %s)", (challenge,))
        reuse_revokes(su, app, one(app, "select auth.pkce_exchange(%s, %s)", (code, verifier)))
    assert trap_calls(db) == [] and not is_superuser(DBOWNER)


def test_database_owner_cannot_hijack_create_extension(fresh_db):
    """The install script runs as a superuser with search_path set to the extension's
    schema, where the owner may plant overloads that beat pg_catalog's (format's VARIADIC
    "any" loses to an exact match)."""
    db = fresh_db(owner=DBOWNER)
    with connect(db, user=DBOWNER) as o:
        o.execute(TRAP_LOG.format(role=DBOWNER) + WORKER_TRAPS)
        for args in ("text, text", "text, text, text", "text, text, text, text"):
            n = args.count(",")
            o.execute(f"""create function public.format({args}) returns text language plpgsql as $t$
                begin perform public.trap('format'); return pg_catalog.format($1{''.join(f', ${i + 2}' for i in range(n))}); end $t$""")
        o.execute("""create function public.to_regprocedure(text) returns regprocedure
            language plpgsql as $t$ begin perform public.trap('to_regprocedure');
            return pg_catalog.to_regprocedure($1); end $t$""")
        o.execute("""create function public.aclexplode(aclitem[]) returns setof record
            language plpgsql as $t$ begin perform public.trap('aclexplode'); end $t$""")
    with connect(db) as su:
        su.execute(f"create extension {EXT}")
        su.execute(f"alter extension {EXT} update")
    assert trap_calls(db) == [] and not is_superuser(DBOWNER)


def test_database_owner_gains_no_function_or_table(fresh_db):
    db = fresh_db(owner=DBOWNER)
    with connect(db) as su:
        su.execute(f"create extension {EXT}")
    with connect(db, user=DBOWNER) as o:
        gains_nothing(o)
        # the owner's own database settings do not reach what the flows run
        fails(o, "drop table sae_internal.sae_flow_codes", (), "42501")


# --- the owner of schema auth ----------------------------------------------------------------

EVIL_UID = f"""
create function auth.uid() returns uuid language plpgsql security definer as $t$
begin perform public.trap('auth.uid'); return null; end $t$;
"""


def supabase_like(fresh_db):
    """A database whose schema auth belongs to a non-superuser, as on Supabase, holding the
    schema owner's own auth.uid()."""
    db = fresh_db()
    with connect(db) as su:
        su.execute(f"create schema auth authorization {AUTHADMIN}")
        su.execute(f"grant create on schema public to {AUTHADMIN}")
    with connect(db, user=AUTHADMIN) as a:
        a.execute(TRAP_LOG.format(role=AUTHADMIN) + EVIL_UID)
    with connect(db) as su:
        su.execute(f"create extension {EXT}")
        assert one(su, "select auth.use_native_helpers()") is not None
    return db


def test_schema_owner_drop_then_restore_is_refused(fresh_db):
    """Finding 2: the schema owner drops the helper use_native_helpers() replaced (it still
    owns it); restoring would have created its saved definition as the superuser."""
    db = supabase_like(fresh_db)
    with connect(db, user=AUTHADMIN) as a:
        a.execute("drop function auth.uid()")
    with connect(db) as su:
        err = fails(su, "select auth.use_native_helpers(false)", (), "55000")
        assert "auth.uid() was dropped or changed" in err.diag.message_primary
        assert one(su, "select to_regprocedure('auth.uid()')") is None
    assert trap_calls(db) == [] and not is_superuser(AUTHADMIN)


def test_schema_owner_change_then_restore_is_refused(fresh_db):
    db = supabase_like(fresh_db)
    with connect(db, user=AUTHADMIN) as a:
        a.execute("create or replace function auth.uid() returns uuid language sql "
                  "as 'select null::uuid'")
    with connect(db) as su:
        fails(su, "select auth.use_native_helpers(false)", (), "55000")
    assert not is_superuser(AUTHADMIN)


def test_restore_runs_as_the_owner_not_the_caller(fresh_db):
    """An untouched restore recreates the saved SECURITY DEFINER function owned by the
    schema owner, so it runs with the schema owner's rights even when a superuser calls it."""
    db = supabase_like(fresh_db)
    with connect(db) as su:
        assert one(su, "select auth.use_native_helpers(false)") == ["auth.uid()"]
        assert one(su, "select proowner::regrole::text from pg_proc where oid = 'auth.uid()'::regprocedure") == AUTHADMIN
        assert one(su, "select current_user::text") == "postgres"  # the role came back
        su.execute("select auth.uid()")
    assert trap_calls(db) == [(AUTHADMIN, "auth.uid")] and not is_superuser(AUTHADMIN)


def foreign_auth(fresh_db, grant):
    """A new database whose schema auth belongs to the non-superuser AUTHADMIN, granted
    `grant` (SQL, {db} for the database's name), with the extension installed."""
    db = fresh_db()
    with connect(db) as su:
        su.execute(f"create schema auth authorization {AUTHADMIN}")
        su.execute(grant.format(db=db))
        su.execute(f"create extension {EXT}")
    return db


def test_schema_owner_cannot_shadow_what_the_flows_call(fresh_db, logindb):
    """The owner of schema auth adds overloads of every name the flows' SECURITY DEFINER
    bodies once called there; the flows call only sae_internal and pg_catalog."""
    db = foreign_auth(fresh_db, f"grant create on schema public to {AUTHADMIN}")
    with connect(db, user=AUTHADMIN) as a:
        a.execute(TRAP_LOG.format(role=AUTHADMIN))
        for sig, ret in (("_flow_raise(text, text)", "int"), ("_flow_guard(int)", "int"),
                         ("_flow_hash(text)", "bytea"), ("sign(json)", "text"),
                         ("_flow_secret()", "text"), ("_flow_now()", "bigint")):
            a.execute(f"""create function auth.{sig} returns {ret} language plpgsql as $t$
                begin perform public.trap('{sig}'); return null; end $t$""")
        fails(a, "drop table sae_internal.sae_flow_codes", (), "42501")  # not in its schema
        a.execute(f"grant usage on schema auth to {AUTHN}")  # as Supabase grants its roles
    preload(db)
    with connect(db) as su, connect(db, user=AUTHN) as app:
        verifier, challenge = pkce_pair()
        code = one(su, "select auth.pkce_begin('u1', %s)", (challenge,))
        s = one(app, "select auth.pkce_exchange(%s, %s)", (code, verifier))
        one(app, "select auth.refresh(%s)", (s["refresh_token"],))
        fails(app, "select auth.refresh(%s)", ("x",), "28000")
    assert trap_calls(db) == [] and not is_superuser(AUTHADMIN)


def test_schema_owner_renaming_auth_plants_nothing_we_use(fresh_db):
    """Found by review: with CREATE on the database (Supabase grants it), the owner of
    schema auth renames it, creates a new auth with a table named like ours carrying a
    trigger, and calls the flows under the schema's new name. The flows and the worker
    name only sae_internal, so the planted table is never touched."""
    db = foreign_auth(fresh_db, f'grant create on database "{{db}}" to {AUTHADMIN}')
    with connect(db, user=AUTHADMIN) as a:
        a.execute("alter schema auth rename to auth_ext; create schema auth")
        a.execute(TRAP_LOG.format(role=AUTHADMIN).replace("public.", "auth."))
        a.execute("""create table auth.sae_flow_codes (code_hash bytea, subject text, challenge text,
                       method text, claims jsonb, expires_at timestamptz);
            create table auth.sae_flow_revocations (session_id uuid, revoked_at timestamptz);
            create function auth.pwn() returns trigger language plpgsql as $t$
              begin perform auth.trap('trigger'); return old; end $t$;
            create trigger pwn before delete on auth.sae_flow_codes for each row execute function auth.pwn();
            create trigger pwn before insert on auth.sae_flow_revocations for each row execute function auth.pwn();
            insert into auth.sae_flow_codes values (sha256(convert_to(repeat('A', 43), 'UTF8')), 'x',
                       repeat('B', 43), 'plain', '{}', now() + interval '1 hour')""")
        fails(a, "select auth_ext.pkce_exchange(repeat('A', 43), repeat('C', 43))", (), "28000",
              "invalid auth code: unknown")
        fails(a, "select auth_ext.refresh(repeat('A', 43))", (), "28000")
        assert a.execute("select who, what from auth.trap_log").fetchall() == []
    assert not is_superuser(AUTHADMIN)


def test_restore_with_an_owner_whose_name_needs_quotes(fresh_db):
    """Found by review: the owner's name was passed quoted to SET ROLE."""
    db = fresh_db()
    with connect("postgres") as c:
        c.execute("""do $$ begin if not exists (select 1 from pg_roles where rolname = 'Sae Mixed')
                     then create role "Sae Mixed"; end if; end $$""")
    with connect(db) as su:
        su.execute('create schema auth authorization "Sae Mixed"')
        su.execute('set role "Sae Mixed"; create function auth.uid() returns uuid language sql as '
                   "'select null::uuid'; reset role")
        su.execute(f"create extension {EXT}")
        assert one(su, "select auth.use_native_helpers()") == ["auth.uid()"]
        assert one(su, "select auth.use_native_helpers(false)") == ["auth.uid()"]
        assert one(su, "select proowner::regrole::text from pg_proc where oid = 'auth.uid()'::regprocedure") == '"Sae Mixed"'


# --- a role that holds default privileges ----------------------------------------------------

DEFAULTS = f"""
alter default privileges in schema auth grant all on functions to {DEFPRIV};
alter default privileges in schema auth grant all on tables to {DEFPRIV};
alter default privileges grant all on functions to {DEFPRIV};
alter default privileges grant all on schemas to {DEFPRIV};
alter default privileges grant all on tables to {DEFPRIV};
"""


def defpriv_gains_nothing(db):
    with connect(db, user=DEFPRIV) as d:
        gains_nothing(d)
    with connect(db) as su:
        # the role is in no ACL of the extension's
        grants = one(su, f"""select count(*) from pg_depend d
            join pg_extension e on e.oid = d.refobjid and e.extname = '{EXT}'
            left join pg_proc p on d.classid = 'pg_proc'::regclass and p.oid = d.objid
            left join pg_class c on d.classid = 'pg_class'::regclass and c.oid = d.objid
            left join pg_namespace n on d.classid = 'pg_namespace'::regclass and n.oid = d.objid
            cross join lateral aclexplode(coalesce(p.proacl, c.relacl, n.nspacl)) a
            where d.deptype = 'e' and a.grantee = '{DEFPRIV}'::regrole""")
        assert grants == 0


def test_default_privileges_reach_nothing_on_install(fresh_db):
    """Finding 3: default privileges on functions, tables and schemas, in schema auth and
    everywhere, before CREATE EXTENSION."""
    db = fresh_db()
    with connect(db) as su:
        su.execute("create schema auth")
        su.execute(DEFAULTS)
        su.execute(f"create extension {EXT}")
    defpriv_gains_nothing(db)
    assert not is_superuser(DEFPRIV)


@pytest.mark.parametrize("version", ["0.1.0", "0.2.0"])
def test_default_privileges_reach_nothing_after_upgrade(fresh_db, version):
    db = fresh_db()
    with connect(db) as su:
        su.execute("create schema auth")
        su.execute(DEFAULTS)
        su.execute(f"create extension {EXT} version '{version}'")
        su.execute(f"alter extension {EXT} update")
    defpriv_gains_nothing(db)


def test_every_function_has_its_pinned_privileges(fresh_db):
    """Owner, ACL, SECURITY DEFINER, volatility, parallel safety, strictness, settings and
    language (for C, the library symbol) of every function of the extension, installed
    under hostile default privileges, equal the checked-in list
    (tests/data/extension_functions.txt); README's privileges section states the same.
    A C function's symbol is checked by CREATE FUNCTION itself (the library must export it)."""
    db = fresh_db()
    with connect(db) as su:
        su.execute("create schema auth")
        su.execute(DEFAULTS)
        su.execute(f"create extension {EXT}")
        rows = [r[0] for r in su.execute(f"""
            select regexp_replace(p.oid::regprocedure::text, '^public\\.', '@extschema@.')
                || ' | owner=' || case when p.proowner = e.extowner then 'extowner' else p.proowner::regrole::text end
                || ' | execute=' || coalesce((select string_agg(case a.grantee when 0 then 'PUBLIC'
                       when p.proowner then 'owner' else a.grantee::regrole::text end, ',' order by 1)
                     from aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                     where a.privilege_type = 'EXECUTE'), '-')
                || ' | ' || case when p.prosecdef then 'security definer' else 'invoker' end
                || ' | ' || p.provolatile::text
                || ' | parallel=' || p.proparallel::text
                || ' | ' || case when p.proisstrict then 'strict' else 'called on null' end
                || ' | ' || coalesce(array_to_string(p.proconfig, ';'), '-')
                || ' | ' || case l.lanname when 'c' then 'c:' || p.prosrc else l.lanname end
            from pg_depend d join pg_extension e on e.oid = d.refobjid and e.extname = '{EXT}'
            join pg_proc p on d.classid = 'pg_proc'::regclass and p.oid = d.objid
            join pg_language l on l.oid = p.prolang
            where d.deptype = 'e' order by 1""")]
    expected = [line for line in (DATA / "extension_functions.txt").read_text().splitlines()
                if line and not line.startswith("#")]
    assert sorted(rows) == sorted(expected), "\n".join(sorted(set(rows) ^ set(expected)))
    # every SECURITY DEFINER function pins search_path
    assert all("search_path=pg_catalog, pg_temp" in r for r in rows if "security definer" in r)


# --- the authenticator and anon -------------------------------------------------------------

@pytest.fixture(scope="module")
def logindb(dbname):
    with configure_login(dbname):
        yield dbname


@pytest.mark.parametrize("role", [AUTHN, "anon"])
def test_request_roles_gain_nothing(logindb, role):
    with connect(logindb) as su:
        su.execute("grant usage on schema auth to anon")
    with connect(logindb, user=AUTHN) as c:
        if role != AUTHN:
            c.execute(f"set role {role}")
        gains_nothing(c)
        fails(c, "show auth.jwt_secret", (), "42501")
        # stats says nothing about the configured key to them
        assert "key_cache" not in one(c, "select auth.stats()")
    with connect(logindb) as su:
        assert "key_cache" in one(su, "select auth.stats()")


def test_a_guessed_key_never_hits_the_configured_one(logindb):
    """Finding 6: the key cache's hit counter once told whether a key passed to
    jwt_is_valid equalled the configured secret."""
    with connect(logindb) as su:
        tok = user_token(str(uuid.uuid4()))
        with su.transaction():
            su.execute("select auth.login(%s)", (tok,))  # caches the configured key
        before = one(su, "select auth.stats()")["key_cache"]
        assert one(su, "select jwt_is_valid(%s, %s)", (tok, SECRET)) is True
        after = one(su, "select auth.stats()")["key_cache"]
        assert (after["hits"], after["misses"]) == (before["hits"], before["misses"] + 1)


def test_claim_after_login_is_the_verified_one(logindb):
    """Finding 7: a session-level request.jwt.claim.<name> set before auth.login."""
    with connect(logindb, user=AUTHN) as c:
        c.execute("set request.jwt.claim.tenant = 't-admin'")
        with c.transaction():
            c.execute("select auth.login(%s)", (user_token(str(uuid.uuid4()), tenant="t-user"),))
            assert one(c, "select auth.claim('tenant')") == "t-user"
            assert one(c, "select auth.jwt()->>'tenant'") == "t-user"
        assert one(c, "select auth.claim('tenant')") == "t-admin"  # no login: the setting


# --- fail closed ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def flowdb(logindb):
    return logindb


def new_session(su, app):
    verifier, challenge = pkce_pair()
    code = one(su, "select auth.pkce_begin('u1', %s)", (challenge,))
    return one(app, "select auth.pkce_exchange(%s, %s)", (code, verifier))


def test_no_worker_slot_refuses_without_verifying(flowdb):
    """Finding 4: an unprivileged parallel query holds every worker slot; the exchange and
    the reuse revocation raise 53000 and report nothing they did not do."""
    with connect(flowdb) as su, connect(flowdb, user=AUTHN) as app:
        su.execute("create table if not exists slow (i int)")
        su.execute("truncate slow; insert into slow select generate_series(1, 4000)")
        su.execute("alter table slow set (parallel_workers = 16)")
        su.execute(f"grant select on slow to {AUTHN}")
        slots = one(su, "select current_setting('max_worker_processes')::int")
        verifier, challenge = pkce_pair()
        code = one(su, "select auth.pkce_begin('u1', %s)", (challenge,))
        s0 = new_session(su, app)
        s1 = one(app, "select auth.refresh(%s)", (s0["refresh_token"],))
        one(app, "select auth.refresh(%s)", (s1["refresh_token"],))

        def hog():
            with connect(flowdb, user=AUTHN) as h:
                h.execute("set max_parallel_workers_per_gather = 64; set parallel_setup_cost = 0;"
                          "set parallel_tuple_cost = 0; set min_parallel_table_scan_size = 0")
                h.execute("select count(*) from slow where pg_sleep(0.01) is not null")

        hogs = [threading.Thread(target=hog) for _ in range(2)]
        for t in hogs:
            t.start()
        try:
            deadline = time.time() + 10
            while time.time() < deadline and one(su, "select count(*) from pg_stat_activity "
                                                   "where backend_type = 'parallel worker'") < slots - 2:
                time.sleep(0.05)
            busy = one(su, "select count(*) from pg_stat_activity where backend_type <> 'client backend' "
                           "and backend_type in ('parallel worker', 'logical replication launcher')")
            assert busy >= slots - 1, busy
            err = fails(app, "select auth.pkce_exchange(%s, %s)", (code, "w" * 43), "53000",
                        "the auth code could not be claimed")
            assert "burnt" not in str(err)
            err = fails(app, "select auth.refresh(%s)", (s0["refresh_token"],), "53000",
                        "the session could not be revoked")
            assert "revoked" not in (err.diag.message_detail or "")
        finally:
            for t in hogs:
                t.join()
        # nothing was judged: the code still works with its verifier
        assert one(app, "select auth.pkce_exchange(%s, %s)", (code, verifier))["session_id"]


def test_a_held_row_lock_does_not_stop_a_revocation(flowdb):
    """Finding 4: a refresh holding the session row once made the revoking worker time
    out, and "revoked" was reported with nothing written."""
    with connect(flowdb) as su, connect(flowdb, user=AUTHN) as app, connect(flowdb) as locker:
        s0 = new_session(su, app)
        s1 = one(app, "select auth.refresh(%s)", (s0["refresh_token"],))
        one(app, "select auth.refresh(%s)", (s1["refresh_token"],))
        with locker.transaction():
            locker.execute("select * from sae_internal.sae_flow_sessions where id = %s for update",
                           (s0["session_id"],))
            t0 = time.monotonic()
            fails(app, "select auth.refresh(%s)", (s0["refresh_token"],), "28000",
                  "invalid refresh token: reused")
            assert time.monotonic() - t0 < 2
            assert one(su, "select count(*) from sae_internal.sae_flow_revocations where session_id = %s",
                       (s0["session_id"],)) == 1
        fails(app, "select auth.refresh(%s)", (s1["refresh_token"],), "28000")


def test_a_read_only_database_does_not_stop_a_revocation(fresh_db, logindb):
    """Found by review: the database owner sets default_transaction_read_only, which the
    worker inherited; a reused token then revoked nothing."""
    db = fresh_db(owner=DBOWNER)
    with connect(db) as su:
        su.execute(f"create extension {EXT}")
    preload(db)
    with connect(db, user=DBOWNER) as o:
        o.execute(f'alter database "{db}" set default_transaction_read_only = on')
        o.execute(f'alter database "{db}" set synchronous_commit = off')
    _read_only_revocation(db)


def _read_only_revocation(db):
    with connect(db) as su, connect(db, user=AUTHN) as app:
        su.execute("set default_transaction_read_only = off")
        app.execute("set default_transaction_read_only = off")
        reuse_revokes(su, app, new_session(su, app))


def test_no_flow_in_a_snapshot_older_than_a_revocation(flowdb):
    """Found by review: in a REPEATABLE READ transaction begun before a revocation, the
    revoked session's refresh token kept minting access tokens. The flows run only in READ
    COMMITTED (0A000 otherwise)."""
    with connect(flowdb) as su, connect(flowdb, user=AUTHN) as app:
        s0 = new_session(su, app)
        app.execute("begin isolation level repeatable read")
        app.execute("select 1")
        su.execute("select auth.revoke_session(%s)", (s0["session_id"],))
        err = fails(app, "select auth.refresh(%s)", (s0["refresh_token"],), "0A000",
                    "auth flows run only in READ COMMITTED transactions")
        app.execute("rollback")
        fails(app, "select auth.refresh(%s)", (s0["refresh_token"],), "28000",
              "invalid refresh token: session_revoked")


def test_concurrent_wrong_verifiers_exactly_one_is_judged(flowdb):
    with connect(flowdb) as su:
        verifier, challenge = pkce_pair()
        code = one(su, "select auth.pkce_begin('u1', %s)", (challenge,))
    n, outcomes, go = 8, [], threading.Barrier(8)

    def guess(i):
        with connect(flowdb, user=AUTHN) as c:
            go.wait()
            try:
                c.execute("select auth.pkce_exchange(%s, %s)", (code, f"{i}" * 43))
                outcomes.append("exchanged")
            except psycopg.Error as e:
                outcomes.append(e.diag.message_primary)

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["invalid auth code: bad_verifier"] + ["invalid auth code: unknown"] * (n - 1)
    with connect(flowdb, user=AUTHN) as app:
        fails(app, "select auth.pkce_exchange(%s, %s)", (code, verifier), "28000",
              "invalid auth code: unknown")


# --- what is kept -------------------------------------------------------------------------

def test_the_seal_is_cleared_after_the_reuse_interval(flowdb):
    """Finding 5: the sealed current pair once stayed forever."""
    with connect(flowdb) as su, connect(flowdb, user=AUTHN) as app:
        su.execute("set auth.refresh_reuse_interval = '1s'")
        s0 = new_session(su, app)
        one(app, "select auth.refresh(%s)", (s0["refresh_token"],))
        sealed = "select sealed is not null from sae_internal.sae_flow_sessions where id = %s"
        assert one(su, sealed, (s0["session_id"],)) is True
        time.sleep(1.2)
        one(su, "select auth.pkce_begin('cleanup', repeat('C', 43))")  # any flow call cleans up
        assert one(su, sealed, (s0["session_id"],)) is False


def test_ten_thousand_refreshes_keep_a_bounded_number_of_rows(flowdb):
    """Finding 8, with reuse detection unchanged for the recent tokens."""
    with connect(flowdb) as su, connect(flowdb, user=AUTHN) as app:
        s0 = new_session(su, app)
        su.execute("create temp table kept (i int, rt text)")
        su.execute("create temp table seed as select %s::text as rt", (s0["refresh_token"],))
        su.execute("""do $$ declare rt text := (select rt from seed); begin
            for i in 1..10000 loop
              if i = 9990 then insert into kept values (i, rt); end if;
              rt := auth.refresh(rt)->>'refresh_token';
            end loop; end $$""")
        assert one(su, "select count(*) from sae_internal.sae_flow_refresh_tokens where session_id = %s",
                   (s0["session_id"],)) <= 64
        old = one(su, "select rt from kept")
        fails(app, "select auth.refresh(%s)", (old,), "28000", "invalid refresh token: reused")
        assert one(su, "select count(*) from sae_internal.sae_flow_revocations where session_id = %s",
                   (s0["session_id"],)) == 1
