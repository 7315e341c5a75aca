"""Contract section 3b: access tokens that die with their session. With auth.session_check
on, auth.login and auth.authenticate refuse a token whose session_id names a session that
ended (28000 `invalid JWT: revoked`); auth.session_active() answers the same question for
the claims PostgREST sets. Both stores: the extension's own flow sessions (`flows`) and
Supabase Auth's auth.sessions (`supabase`), read by the non-superuser authenticator with no
privilege on either."""
import json
import time
import uuid

import psycopg
import pytest
from conftest import (AUTHN, SECRET, configure_login, connect, fails, key_token, one, py_sign,
                      user_token)
from test_flows import login as flow_login

U1, U2 = str(uuid.uuid4()), str(uuid.uuid4())
ITEMS = f"""
create table items (id serial primary key, owner text, body text);
insert into items (owner, body) values ('{U1}', 'u1-a'), ('{U1}', 'u1-b'), ('{U2}', 'u2-a');
alter table items enable row level security;
create policy own on items for select to authenticated
  using (auth.session_active() and owner = auth.sub());
grant select on items to authenticated;
"""
REVOKED = "invalid JWT: revoked"


@pytest.fixture(scope="module", autouse=True)
def configured(dbname):
    with configure_login(dbname, ITEMS):
        yield


def check(dbname, mode):
    """auth.session_check for new connections to this database (it is superuser-only)."""
    with connect(dbname) as c:
        c.execute(f'alter database "{dbname}" set auth.session_check = {mode}')


def app(dbname):
    return connect(dbname, user=AUTHN)


def login_ok(conn, token):
    with conn.transaction():
        conn.execute("select auth.login(%s)", (token,))
        return sorted(r[0] for r in conn.execute("select body from items"))


def refused(conn, token, call="select auth.login(%s)"):
    with conn.transaction():
        fails(conn, call, (token,), "28000", REVOKED)


def test_the_setting_is_superuser_only_and_off_by_default(dbname):
    check(dbname, "default")
    with app(dbname) as a:
        assert one(a, "show auth.session_check") == "off"
        fails(a, "set auth.session_check = off", (), "42501")
        fails(a, "select set_config('auth.session_check', 'off', false)", (), "42501")
    with connect(dbname) as c:
        fails(c, "set auth.session_check = maybe", (), "22023")


def test_off_serves_a_revoked_sessions_token_as_postgrest_does(dbname, admin):
    check(dbname, "off")
    with app(dbname) as a:
        s = flow_login(admin, a, sub=U1)
        admin.execute("select auth.revoke_session(%s)", (s["session_id"],))
        # served, and the policy's session_active() is true when the check is off
        assert login_ok(a, s["access_token"]) == ["u1-a", "u1-b"]
        with a.transaction():
            a.execute("select auth.login(%s)", (s["access_token"],))
            assert one(a, "select auth.session_active()") is True


def test_flows_every_way_a_session_ends_ends_its_tokens(dbname, admin):
    check(dbname, "flows")
    with app(dbname) as a:
        live = flow_login(admin, a, sub=U1)
        assert login_ok(a, live["access_token"]) == ["u1-a", "u1-b"]

        revoked = flow_login(admin, a, sub=U1)
        admin.execute("select auth.revoke_session(%s)", (revoked["session_id"],))
        refused(a, revoked["access_token"])

        sub = str(uuid.uuid4())
        every = [flow_login(admin, a, sub=sub) for _ in range(2)]
        assert one(admin, "select auth.revoke_all(%s)", (sub,)) == 2
        for s in every:
            refused(a, s["access_token"])

        # reuse detection revokes the whole family: the first, the current and the newest
        fam = flow_login(admin, a, sub=U1)
        fam2 = one(a, "select auth.refresh(%s)", (fam["refresh_token"],))
        fam3 = one(a, "select auth.refresh(%s)", (fam2["refresh_token"],))
        assert login_ok(a, fam3["access_token"]) == ["u1-a", "u1-b"]
        fails(a, "select auth.refresh(%s)", (fam["refresh_token"],), "28000", "invalid refresh token: reused")
        for s in (fam, fam2, fam3):
            refused(a, s["access_token"])

        # session_lifetime: past its end, even though the access token has not expired
        admin.execute("set auth.session_lifetime = '1s'")
        short = flow_login(admin, admin, sub=U1)
        admin.execute("reset auth.session_lifetime")
        assert login_ok(a, short["access_token"]) == ["u1-a", "u1-b"]
        time.sleep(1.2)
        refused(a, short["access_token"])

        # a session_id no flow issued, or another subject's session
        refused(a, user_token(U1, session_id=str(uuid.uuid4())))
        refused(a, user_token(U2, session_id=live["session_id"]))
        for bad in ("not-a-uuid", "", 42, ["x"]):
            refused(a, user_token(U1, session_id=bad))
        # no session_id (or null): not a session's token, not checked
        assert login_ok(a, user_token(U1)) == ["u1-a", "u1-b"]
        assert login_ok(a, user_token(U1, session_id=None)) == ["u1-a", "u1-b"]
        assert login_ok(a, live["access_token"]) == ["u1-a", "u1-b"]


def test_authenticate_refuses_too_and_api_keys_are_not_checked(dbname, admin):
    check(dbname, "flows")
    anon_key = key_token("anon")
    with app(dbname) as a:
        s = flow_login(admin, a, sub=U1)
        with a.transaction():
            a.execute("select auth.authenticate(%s, %s)", (anon_key, "Bearer " + s["access_token"]))
            assert one(a, "select current_user::text") == "authenticated"
        admin.execute("select auth.revoke_session(%s)", (s["session_id"],))
        with a.transaction():
            fails(a, "select auth.authenticate(%s, %s)", (anon_key, "Bearer " + s["access_token"]),
                  "28000", REVOKED)
        with a.transaction():
            a.execute("select auth.authenticate(%s)", (anon_key,))
            assert one(a, "select current_user::text") == "anon"


def test_revoked_is_a_reason_auth_stats_counts(dbname, admin):
    check(dbname, "flows")
    with app(dbname) as a:
        s = flow_login(admin, a, sub=U1)
        admin.execute("select auth.revoke_session(%s)", (s["session_id"],))
        before = one(a, "select auth.stats()")
        refused(a, s["access_token"])
        after = one(a, "select auth.stats()")
        assert after["rejected"]["revoked"] == before["rejected"]["revoked"] + 1
        assert after["verified"] == before["verified"]


def claims_of(s, sub=U1):
    return json.dumps({"sub": sub, "role": "authenticated", "session_id": s["session_id"]})


def test_session_active_in_a_policy_behind_postgrest(dbname, admin):
    """PostgREST sets the claims itself (no auth.login): the policy does the check."""
    check(dbname, "flows")
    with app(dbname) as a:
        s = flow_login(admin, a, sub=U1)

        def rows():
            with a.transaction():
                a.execute("set local role authenticated")
                a.execute("select set_config('request.jwt.claims', %s, true)", (claims_of(s),))
                return sorted(r[0] for r in a.execute("select body from items")), \
                    one(a, "select auth.session_active()")

        assert rows() == (["u1-a", "u1-b"], True)
        admin.execute("select auth.revoke_session(%s)", (s["session_id"],))
        assert rows() == ([], False)
        # claims with no session_id: nothing to check
        with a.transaction():
            a.execute("select set_config('request.jwt.claims', %s, true)", (json.dumps({"sub": U1}),))
            assert one(a, "select auth.session_active()") is True
        # another subject's session
        t = flow_login(admin, a, sub=U1)
        with a.transaction():
            a.execute("select set_config('request.jwt.claims', %s, true)", (claims_of(t, sub=U2),))
            assert one(a, "select auth.session_active()") is False


def test_when_a_revocation_becomes_visible(dbname, admin):
    """READ COMMITTED: at the next statement. REPEATABLE READ: at the next transaction.
    The same transaction's own revocation: at its next command."""
    check(dbname, "flows")
    with app(dbname) as a:
        s = flow_login(admin, a, sub=U1)
        with a.transaction():
            a.execute("select set_config('request.jwt.claims', %s, true)", (claims_of(s),))
            assert one(a, "select auth.session_active()") is True
            admin.execute("select auth.revoke_session(%s)", (s["session_id"],))
            assert one(a, "select auth.session_active()") is False

        t = flow_login(admin, a, sub=U1)
        a.execute("set default_transaction_isolation = 'repeatable read'")
        with a.transaction():
            a.execute("select set_config('request.jwt.claims', %s, true)", (claims_of(t),))
            assert one(a, "select auth.session_active()") is True
            admin.execute("select auth.revoke_session(%s)", (t["session_id"],))
            assert one(a, "select auth.session_active()") is True  # the transaction's snapshot
        with a.transaction():
            a.execute("select set_config('request.jwt.claims', %s, true)", (claims_of(t),))
            assert one(a, "select auth.session_active()") is False
        a.execute("reset default_transaction_isolation")

    u = flow_login(admin, admin, sub=U1)
    with admin.transaction():
        admin.execute("select set_config('request.jwt.claims', %s, true)", (claims_of(u),))
        assert one(admin, "select auth.session_active()") is True
        admin.execute("select auth.revoke_session(%s)", (u["session_id"],))
        assert one(admin, "select auth.session_active()") is False


def test_inside_plpgsql_a_revocation_counts_from_the_next_sql_statement(dbname, admin):
    check(dbname, "flows")
    admin.execute("""create or replace function revoke_then_ask(sid uuid) returns boolean[]
      language plpgsql as $$
      declare before boolean := auth.session_active();
      begin
        perform auth.revoke_session(sid);
        return array[before, (select auth.session_active())];
      end $$""")
    s = flow_login(admin, admin, sub=U1)
    with admin.transaction():
        admin.execute("select set_config('request.jwt.claims', %s, true)", (claims_of(s),))
        assert one(admin, "select revoke_then_ask(%s)", (s["session_id"],)) == [True, False]


def test_the_check_needs_no_privilege_and_grants_none(dbname, admin):
    check(dbname, "flows")
    with app(dbname) as a:
        for t in ("sae_flow_sessions", "sae_flow_revocations"):
            assert one(admin, "select has_table_privilege(%s, %s::regclass, 'select')",
                       (AUTHN, f"sae_internal.{t}")) is False
            fails(a, f"select count(*) from sae_internal.{t}", (), "42501")
        s = flow_login(admin, a, sub=U1)
        assert login_ok(a, s["access_token"]) == ["u1-a", "u1-b"]
        # the function is the only answer: true or false, never a row of the store
        assert one(admin, "select prorettype::regtype::text from pg_proc "
                          "where oid = 'auth.session_active()'::regprocedure") == "boolean"
    check(dbname, "off")


# -- Supabase Auth's auth.sessions --------------------------------------------------------

SUPABASE = f"""
do $$ begin
  if not exists (select 1 from pg_roles where rolname = 'supabase_auth_admin') then create role supabase_auth_admin noinherit createrole login; end if;
end $$;
create schema auth authorization supabase_auth_admin;
set role supabase_auth_admin;
create table auth.users (id uuid primary key, email text);
create table auth.sessions (id uuid not null, user_id uuid not null references auth.users on delete cascade,
  created_at timestamptz, updated_at timestamptz, factor_id uuid, aal text, not_after timestamptz,
  refreshed_at timestamp, user_agent text, ip inet, tag text,
  constraint sessions_pkey primary key (id));
create index user_id_created_at_idx on auth.sessions (user_id, created_at);
insert into auth.users values ('{U1}', 'u1@x.io'), ('{U2}', 'u2@x.io');
reset role;
"""


@pytest.fixture(scope="module")
def supa():
    name = "t_sessions_supa_" + uuid.uuid4().hex[:6]
    with connect("postgres") as c:
        c.execute(f'create database "{name}"')
    with connect(name) as c:
        c.execute(SUPABASE)
        c.execute("create extension supabase_auth_ext")
    with configure_login(name, ITEMS):
        with connect(name) as c:  # as Supabase's init scripts grant it
            c.execute(f"grant usage on schema auth to anon, authenticated, service_role, {AUTHN}")
        check(name, "supabase")
        yield name
    with connect("postgres") as c:
        c.execute(f'drop database "{name}" with (force)')


def session_row(c, user):
    sid = str(uuid.uuid4())
    c.execute("insert into auth.sessions (id, user_id, created_at) values (%s, %s, now())", (sid, user))
    return sid


def test_supabase_sessions_decide(supa):
    with connect(supa) as admin, app(supa) as a:
        for role in (AUTHN, "anon", "authenticated"):
            assert one(admin, "select has_table_privilege(%s, 'auth.sessions', 'select')", (role,)) is False
        sid = session_row(admin, U1)
        token = user_token(U1, session_id=sid)
        assert login_ok(a, token) == ["u1-a", "u1-b"]
        admin.execute("delete from auth.sessions where id = %s", (sid,))  # Supabase Auth's logout
        refused(a, token)

        later = session_row(admin, U1)
        admin.execute("update auth.sessions set not_after = now() + interval '1 hour' where id = %s", (later,))
        assert login_ok(a, user_token(U1, session_id=later)) == ["u1-a", "u1-b"]
        admin.execute("update auth.sessions set not_after = now() - interval '1 second' where id = %s", (later,))
        refused(a, user_token(U1, session_id=later))

        theirs = session_row(admin, U2)
        refused(a, user_token(U1, session_id=theirs))
        refused(a, user_token("not-a-uuid", session_id=theirs))
        assert login_ok(a, user_token(U2, session_id=theirs)) == ["u2-a"]

        # behind PostgREST: the policy's auth.session_active()
        with a.transaction():
            a.execute("set local role authenticated")
            a.execute("select set_config('request.jwt.claims', %s, true)",
                      (json.dumps({"sub": U2, "session_id": theirs}),))
            assert sorted(r[0] for r in a.execute("select body from items")) == ["u2-a"]
            admin.execute("delete from auth.sessions where id = %s", (theirs,))
            assert [r[0] for r in a.execute("select body from items")] == []


MISSHAPEN = {
    "no table": "select 1",
    "a view": "create view auth.sessions as select * from auth.sessions_real",
    "a domain over uuid": """create domain auth.sid as uuid check (auth.spy(value));
        create table auth.sessions (id auth.sid primary key, user_id uuid, not_after timestamptz)""",
    "a text user_id": "create table auth.sessions (id uuid primary key, user_id text, not_after timestamptz)",
    "no primary key": "create table auth.sessions (id uuid, user_id uuid, not_after timestamptz); "
                      "create unique index on auth.sessions (id)",
    "a primary key on two columns": "create table auth.sessions (id uuid, user_id uuid, not_after timestamptz, "
                                    "primary key (user_id, id))",
    "a hash index": "create table auth.sessions (id uuid, user_id uuid, not_after timestamptz); "
                    "create index on auth.sessions using hash (id)",
    "not_after as text": "create table auth.sessions (id uuid primary key, user_id uuid, not_after text)",
}


@pytest.mark.parametrize("shape", MISSHAPEN)
def test_a_misshapen_store_refuses_and_runs_nothing_of_its_owner(supa, shape):
    """The owner of schema auth (supabase_auth_admin, not a superuser) controls
    auth.sessions. Whatever it makes of it, the check fails closed (55000) and runs none of
    its code as the authenticator."""
    with connect(supa) as admin:
        sid = session_row(admin, U1)
        admin.execute("create table if not exists public.spied (who text)")
        admin.execute("grant insert on public.spied to public")
        admin.execute("set role supabase_auth_admin")
        admin.execute("alter table auth.sessions rename to sessions_real")
        admin.execute("""create function auth.spy(uuid) returns boolean language sql volatile as
                         $$ insert into public.spied values (current_user); select true $$""")
        admin.execute(MISSHAPEN[shape])
        admin.execute("reset role")
        try:
            with app(supa) as a:
                with a.transaction():
                    fails(a, "select auth.login(%s)", (user_token(U1, session_id=sid),), "55000",
                          "auth.session_check cannot read its sessions")
                with a.transaction():
                    a.execute("select set_config('request.jwt.claims', %s, true)",
                              (json.dumps({"sub": U1, "session_id": sid}),))
                    fails(a, "select auth.session_active()", (), "55000")
                # a token with no session_id is not affected
                assert login_ok(a, user_token(U1)) == ["u1-a", "u1-b"]
            assert one(admin, "select count(*) from public.spied") == 0
        finally:
            admin.execute("set role supabase_auth_admin")
            admin.execute("""do $$ begin if to_regclass('auth.sessions') is not null then
                execute (select case relkind when 'v' then 'drop view auth.sessions'
                         else 'drop table auth.sessions' end from pg_class where oid = 'auth.sessions'::regclass);
                end if; end $$""")
            admin.execute("drop domain if exists auth.sid")
            admin.execute("drop function auth.spy(uuid)")
            admin.execute("alter table auth.sessions_real rename to sessions")
            admin.execute("reset role")
        with app(supa) as a:
            assert login_ok(a, user_token(U1, session_id=sid)) == ["u1-a", "u1-b"]


def test_the_owner_cannot_change_auth_sessions_under_a_reader(supa):
    """Found by the hostile review: the shape was checked, then the lock released, so the
    owner's ALTER TABLE could change a column's type between the check and the read (a
    bigint user_id read as a uuid pointer crashed the server). Now the check and the read
    happen under one lock held to the transaction's end: the ALTER waits, and afterwards
    the changed table is refused (55000), never misread."""
    with connect(supa) as admin, connect(supa) as owner, app(supa) as a:
        sid = session_row(admin, U1)
        claims = json.dumps({"sub": U1, "session_id": sid})
        owner.execute("set role supabase_auth_admin")
        owner.execute("set lock_timeout = '200ms'")
        with a.transaction():
            a.execute("select set_config('request.jwt.claims', %s, true)", (claims,))
            assert one(a, "select auth.session_active()") is True
            fails(owner, "alter table auth.sessions alter column user_id type bigint using 0", (), "55P03")
            assert one(a, "select auth.session_active()") is True
        owner.execute("alter table auth.sessions rename to sessions_real")
        owner.execute("create table auth.sessions (id uuid primary key, user_id bigint, not_after timestamptz)")
        owner.execute("insert into auth.sessions values (%s, 0, null)", (sid,))
        try:
            for _ in range(2):  # the cached numbers, then resolved again: refused both times
                with a.transaction():
                    a.execute("select set_config('request.jwt.claims', %s, true)", (claims,))
                    fails(a, "select auth.session_active()", (), "55000")
                with a.transaction():
                    fails(a, "select auth.login(%s)", (user_token(U1, session_id=sid),), "55000")
        finally:
            owner.execute("drop table auth.sessions")
            owner.execute("alter table auth.sessions_real rename to sessions")
        with a.transaction():
            a.execute("select set_config('request.jwt.claims', %s, true)", (claims,))
            assert one(a, "select auth.session_active()") is True


def test_not_after_counts_from_the_next_statement_without_any_commit(supa):
    """A session's end is compared with each statement's start, so a memoized true does
    not outlive not_after just because no transaction completed meanwhile."""
    with connect(supa) as admin, app(supa) as a:
        sid = session_row(admin, U1)
        admin.execute("update auth.sessions set not_after = clock_timestamp() + interval '1 second' "
                      "where id = %s", (sid,))
        with a.transaction():
            a.execute("select set_config('request.jwt.claims', %s, true)",
                      (json.dumps({"sub": U1, "session_id": sid}),))
            assert one(a, "select auth.session_active()") is True
            time.sleep(1.2)
            assert one(a, "select auth.session_active()") is False


def test_a_do_block_after_a_revocation_sees_it(dbname, admin):
    """Found by the second review: DO, CALL and plpgsql's simple expressions take no
    ExecutorStart; a DO block after the revocation answered the memoized true."""
    check(dbname, "flows")
    s = flow_login(admin, admin, sub=U1)
    with app(dbname) as a, a.transaction():
        a.execute("select set_config('request.jwt.claims', %s, true)", (claims_of(s),))
        assert one(a, "select auth.session_active()") is True
        admin.execute("select auth.revoke_session(%s)", (s["session_id"],))
        notices = []
        a.add_notice_handler(lambda d: notices.append(d.message_primary))
        a.execute("do $$ begin raise notice 'active=%', auth.session_active(); end $$")
        assert notices == ["active=f"]


def test_a_renamed_auth_sessions_is_not_read(supa):
    """Found by the second review: the first read after the owner renamed auth.sessions
    (and made a new, empty one) went to the old table, whose numbers were cached."""
    with connect(supa) as admin, connect(supa) as owner, app(supa) as a:
        sid = session_row(admin, U1)
        claims = json.dumps({"sub": U1, "session_id": sid})
        with a.transaction():  # fills the cache
            a.execute("select set_config('request.jwt.claims', %s, true)", (claims,))
            assert one(a, "select auth.session_active()") is True
        owner.execute("set role supabase_auth_admin")
        try:
            with a.transaction():  # begun before the rename: its invalidation arrives late
                a.execute("select set_config('request.jwt.claims', %s, true)", (claims,))
                owner.execute("alter table auth.sessions rename to sessions_old")
                owner.execute("create table auth.sessions (id uuid primary key, user_id uuid, not_after timestamptz)")
                assert one(a, "select auth.session_active()") is False  # the new, empty table
        finally:
            owner.execute("drop table auth.sessions")
            owner.execute("alter table auth.sessions_old rename to sessions")
