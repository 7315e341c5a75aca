"""Coexistence with Supabase Auth: a database prepared the way Supabase's migrations leave
it (schema auth owned by supabase_auth_admin, its tables, its SQL helpers uid/role/email/jwt,
default privileges in auth, RLS policies using auth.uid()). CREATE EXTENSION succeeds, and
auth.use_native_helpers() switches the helpers to ours and back without touching a policy."""
import json
import uuid

import psycopg
import pytest
from conftest import connect, one

U1, U2 = str(uuid.uuid4()), str(uuid.uuid4())
SUPABASE = f"""
do $$ begin
  if not exists (select 1 from pg_roles where rolname = 'supabase_auth_admin') then create role supabase_auth_admin noinherit createrole login; end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticated') then create role authenticated nologin; end if;
  if not exists (select 1 from pg_roles where rolname = 'dashboard_user') then create role dashboard_user nologin; end if;
end $$;
create schema auth authorization supabase_auth_admin;
grant usage on schema auth to authenticated;
alter default privileges in schema auth grant all on tables to dashboard_user;
alter default privileges in schema auth grant all on tables to authenticated;
set role supabase_auth_admin;
create table auth.users (id uuid primary key, email text);
create table auth.sessions (id uuid primary key, user_id uuid references auth.users);
create table auth.refresh_tokens (id bigserial primary key, token text, session_id uuid);
create table auth.flow_state (id uuid primary key, auth_code text);
create or replace function auth.uid() returns uuid language sql stable as $f$
  select coalesce(nullif(current_setting('request.jwt.claim.sub', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'))::uuid $f$;
create or replace function auth.role() returns text language sql stable as $f$
  select coalesce(nullif(current_setting('request.jwt.claim.role', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role'))::text $f$;
create or replace function auth.email() returns text language sql stable as $f$
  select coalesce(nullif(current_setting('request.jwt.claim.email', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email'))::text $f$;
create or replace function auth.jwt() returns jsonb language sql stable as $f$
  select coalesce(nullif(current_setting('request.jwt.claim', true), ''),
    nullif(current_setting('request.jwt.claims', true), ''))::jsonb $f$;
reset role;
create table todos (id serial primary key, owner uuid, body text);
insert into todos (owner, body) values ('{U1}', 'u1'), ('{U2}', 'u2');
alter table todos enable row level security;
create policy own on todos for select to authenticated using (owner = auth.uid());
create view my_email as select auth.email() as email;
grant select on todos, my_email to authenticated;
"""
HELPERS = ("auth.uid()", "auth.role()", "auth.email()", "auth.jwt()")


@pytest.fixture(scope="module")
def supa():
    name = "t_supabase_" + uuid.uuid4().hex[:6]
    with connect("postgres") as admin:
        admin.execute(f'create database "{name}"')
    with connect(name) as c:
        c.execute(SUPABASE)
    yield name
    with connect("postgres") as admin:
        admin.execute(f'drop database "{name}" with (force)')


def state(c):
    """(oid, language, definition) of each Supabase helper."""
    return {h: c.execute("""select p.oid, l.lanname, pg_get_functiondef(p.oid) from pg_proc p
                           join pg_language l on l.oid = p.prolang where p.oid = %s::regprocedure""",
                         (h,)).fetchone() for h in HELPERS}


def as_user(c, sub, email):
    with c.transaction():
        c.execute("set local role authenticated")
        c.execute("select set_config('request.jwt.claims', %s, true)",
                  (json.dumps({"sub": sub, "role": "authenticated", "email": email}),))
        rows = [r[0] for r in c.execute("select body from todos order by id")]
        who = c.execute("select auth.uid()::text, auth.role(), auth.email(), auth.jwt()->>'sub', "
                        "(select email from my_email)").fetchone()
    return rows, who


def test_create_extension_succeeds_and_leaves_supabase_alone(supa):
    with connect(supa) as c:
        before = state(c)
        c.execute("create extension supabase_auth_ext")
        assert state(c) == before
        # the helpers Supabase lacks are ours; its tables are untouched
        assert one(c, "select prosrc from pg_proc where oid = 'auth.sub()'::regprocedure") == "sae_auth_sub"
        assert one(c, "select count(*) from pg_class where relnamespace = 'auth'::regnamespace and relname in "
                      "('users', 'sessions', 'refresh_tokens', 'flow_state')") == 4
        # schema auth's default privileges do not reach our tables
        for t in ("sae_flow_codes", "sae_flow_sessions", "sae_flow_refresh_tokens", "sae_replaced_helpers"):
            acl = one(c, "select relacl::text[] from pg_class where oid = %s::regclass", (f"sae_internal.{t}",))
            assert not any(a.startswith(("dashboard_user=", "authenticated=")) for a in acl or []), (t, acl)
        assert as_user(c, U1, "u1@x.io") == (["u1"], (U1, "authenticated", "u1@x.io", U1, "u1@x.io"))


def test_switch_to_native_and_back(supa):
    with connect(supa) as c:
        before = state(c)
        assert sorted(one(c, "select auth.use_native_helpers()")) == sorted(HELPERS)
        after = state(c)
        for h in HELPERS:
            assert after[h][0] == before[h][0], "same OID: policies and views still point at it"
            assert after[h][1] == "c"
        assert one(c, "select count(*) from pg_policy where polname = 'own'") == 1
        assert as_user(c, U1, "u1@x.io") == (["u1"], (U1, "authenticated", "u1@x.io", U1, "u1@x.io"))
        assert as_user(c, U2, "u2@x.io")[0] == ["u2"]
        assert one(c, "select auth.use_native_helpers()") == []  # already native: a no-op
        # owners stay Supabase's
        assert one(c, "select proowner::regrole::text from pg_proc where oid = 'auth.uid()'::regprocedure") \
            == "supabase_auth_admin"
        # and back: the very same definitions
        assert sorted(one(c, "select auth.use_native_helpers(false)")) == sorted(HELPERS)
        assert state(c) == before
        assert as_user(c, U2, "u2@x.io") == (["u2"], (U2, "authenticated", "u2@x.io", U2, "u2@x.io"))
        assert one(c, "select auth.use_native_helpers(false)") == []


def test_drop_extension_keeps_supabase_helpers_and_policies(supa):
    with connect(supa) as c:
        before = state(c)
        c.execute("drop extension supabase_auth_ext")
        assert state(c) == before
        assert as_user(c, U1, "u1@x.io")[0] == ["u1"]
        c.execute("create extension supabase_auth_ext")  # and again
        assert state(c) == before


def test_drop_extension_refuses_while_helpers_are_switched(supa):
    """Issue 13.5: while switched, the saved definitions are the only copy of Supabase's
    helpers, and DROP EXTENSION would drop them with sae_internal. It refuses instead
    (each switched helper depends on the saved definitions); switched back, it drops and
    leaves Supabase's helpers as they were."""
    with connect(supa) as c:
        before = state(c)
        assert sorted(one(c, "select auth.use_native_helpers()")) == sorted(HELPERS)
        switched = state(c)
        with pytest.raises(psycopg.errors.DependentObjectsStillExist) as e:
            c.execute("drop extension supabase_auth_ext")
        assert "sae_internal.sae_replaced_helpers" in e.value.diag.message_detail
        assert state(c) == switched
        assert one(c, "select count(*) from sae_internal.sae_replaced_helpers") == len(HELPERS)
        assert as_user(c, U1, "u1@x.io")[0] == ["u1"]
        assert sorted(one(c, "select auth.use_native_helpers(false)")) == sorted(HELPERS)
        assert state(c) == before
        assert one(c, "select count(*) from pg_depend where refobjid = "
                      "'sae_internal.sae_replaced_helpers'::regclass and classid = 'pg_proc'::regclass") == 0
        c.execute("drop extension supabase_auth_ext")
        assert state(c) == before
        c.execute("create extension supabase_auth_ext")
        assert state(c) == before


def test_only_superusers_switch(supa):
    with connect(supa) as c:
        c.execute("do $$ begin if not exists (select 1 from pg_roles where rolname = 'sae_nobody') "
                  "then create role sae_nobody login; end if; end $$")
    with connect(supa, user="sae_nobody") as n:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            n.execute("select auth.use_native_helpers()")


def test_helpers_switched_on_0_3_0_keep_the_drop_guard_after_the_upgrade():
    """A 0.3.0 database whose helpers are switched: the 0.4.0 upgrade records the
    dependency that makes DROP EXTENSION refuse."""
    name = "t_supabase_up_" + uuid.uuid4().hex[:6]
    with connect("postgres") as admin:
        admin.execute(f'create database "{name}"')
    try:
        with connect(name) as c:
            c.execute(SUPABASE)
            c.execute("create extension supabase_auth_ext version '0.3.0'")
            assert sorted(one(c, "select auth.use_native_helpers()")) == sorted(HELPERS)
            c.execute("alter extension supabase_auth_ext update")
            with pytest.raises(psycopg.errors.DependentObjectsStillExist):
                c.execute("drop extension supabase_auth_ext")
            assert sorted(one(c, "select auth.use_native_helpers(false)")) == sorted(HELPERS)
            c.execute("drop extension supabase_auth_ext")
            assert one(c, "select l.lanname from pg_proc p join pg_language l on l.oid = p.prolang "
                          "where p.oid = 'auth.uid()'::regprocedure") == "sql"
    finally:
        with connect("postgres") as admin:
            admin.execute(f'drop database "{name}" with (force)')
