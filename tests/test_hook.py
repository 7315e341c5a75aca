"""Contract section 4d: Supabase Auth's custom access token hook for the tokens the flows
issue. The hook in these tests is the one from Supabase's RBAC guide (a user_role claim read
from public.user_roles), owned by a role that is not a superuser, as Supabase's hooks belong
to supabase_auth_admin. It runs as that owner only, whoever calls the flow."""
import uuid

import psycopg
import pytest
from conftest import AUTHN, SECRET, configure_login, connect, fails, one, pkce_pair, py_verify

U1, U2 = str(uuid.uuid4()), str(uuid.uuid4())
OWNER = "sae_hook_admin"
SCHEMA = f"""
do $$ begin
  if not exists (select 1 from pg_roles where rolname = '{OWNER}') then
    create role {OWNER} nologin nosuperuser; end if; end $$;
create table public.user_roles (user_id uuid primary key, role text not null);
insert into public.user_roles values ('{U1}', 'admin');
create table public.hook_events (event jsonb, who text);
create table public.reports (body text);
insert into public.reports values ('quarterly');
alter table public.reports enable row level security;
create policy admins on public.reports for select to authenticated
  using (auth.jwt() ->> 'user_role' = 'admin');
grant select on public.reports to authenticated;
grant usage on schema public to {OWNER};
grant select on public.user_roles to {OWNER};
grant insert on public.hook_events to {OWNER};
"""
# Supabase's RBAC guide's hook (the user_role claim), which also records what it was given.
RBAC_HOOK = """
declare
  claims jsonb := event->'claims';
  user_role text;
begin
  insert into public.hook_events values (event, current_user);
  select role into user_role from public.user_roles where user_id = (event->>'user_id')::uuid;
  claims := jsonb_set(claims, '{user_role}', coalesce(to_jsonb(user_role), 'null'));
  return jsonb_set(event, '{claims}', claims);
end"""


@pytest.fixture(scope="module", autouse=True)
def configured(dbname):
    with configure_login(dbname, SCHEMA):
        yield


def make_hook(admin, body, name="access_token_hook"):
    """public.<name>(event jsonb) RETURNS jsonb with `body`, owned by OWNER, and set."""
    admin.execute(f"create or replace function public.{name}(event jsonb) returns jsonb "
                  f"language plpgsql as $h${body}$h$")
    admin.execute(f"alter function public.{name}(jsonb) owner to {OWNER}")
    admin.execute(f"set auth.access_token_hook = 'public.{name}'")


def begin(admin, sub=U1):
    verifier, challenge = pkce_pair()
    return one(admin, "select auth.pkce_begin(%s, %s)", (sub, challenge)), verifier


def exchange(conn, code, verifier):
    return one(conn, "select auth.pkce_exchange(%s, %s)", (code, verifier))


def test_a_claim_added_by_the_hook_reaches_rls_through_login(admin, dbname):
    make_hook(admin, RBAC_HOOK)
    s = exchange(admin, *begin(admin))
    assert py_verify(s["access_token"], SECRET.encode())["user_role"] == "admin"
    with connect(dbname, user=AUTHN) as app:
        with app.transaction():
            app.execute("select auth.login(%s)", (s["access_token"],))
            assert [r[0] for r in app.execute("select body from public.reports")] == ["quarterly"]
    other = exchange(admin, *begin(admin, U2))
    assert py_verify(other["access_token"], SECRET.encode())["user_role"] is None
    with connect(dbname, user=AUTHN) as app:
        with app.transaction():
            app.execute("select auth.login(%s)", (other["access_token"],))
            assert app.execute("select body from public.reports").fetchall() == []
    # refresh goes through the hook too
    r = one(admin, "select auth.refresh(%s)", (s["refresh_token"],))
    assert py_verify(r["access_token"], SECRET.encode())["user_role"] == "admin"


def test_the_event_has_supabases_shape_and_runs_as_the_owner(admin):
    make_hook(admin, RBAC_HOOK)
    admin.execute("truncate public.hook_events")
    s = exchange(admin, *begin(admin))
    one(admin, "select auth.refresh(%s)", (s["refresh_token"],))
    cid = "hook-client-" + uuid.uuid4().hex[:6]
    admin.execute("select auth.register_client(%s, array['http://localhost:3000/cb'])", (cid,))
    verifier, challenge = pkce_pair()
    code = one(admin, "select auth.authorize(%s, 'http://localhost:3000/cb', %s, %s)", (cid, U1, challenge))
    one(admin, "select auth.token(%s, %s, 'http://localhost:3000/cb', %s)", (code, cid, verifier))
    events = admin.execute("select event, who from public.hook_events").fetchall()
    assert [e["authentication_method"] for e, _ in events] == \
        ["pkce", "token_refresh", "oauth_provider/authorization_code"]
    assert {who for _, who in events} == {OWNER}
    for e, _ in events:
        assert set(e) == {"user_id", "claims", "authentication_method"} and e["user_id"] == U1
        assert {"sub", "session_id", "iat", "exp", "role", "aud"} <= set(e["claims"])
    assert events[2][0]["claims"]["client_id"] == cid


@pytest.mark.parametrize("change,prefix", [
    ("claims := claims - 'sub';", "invalid option: auth.access_token_hook cannot remove or change sub"),
    ("claims := claims || '{\"session_id\": \"x\"}';", "invalid option: auth.access_token_hook cannot remove or change session_id"),
    ("claims := claims || jsonb_build_object('exp', (claims->>'exp')::bigint + 3600);",
     "invalid option: auth.access_token_hook cannot extend exp"),
    ("claims := claims - 'role';", "invalid option: auth.access_token_hook must keep role"),
    ("claims := claims - 'aud';", "invalid option: auth.access_token_hook must keep aud"),
    # the second security review: a hook could once make a first-party token of a client's
    ("claims := claims || '{\"client_id\": \"x\"}';",
     "invalid option: auth.access_token_hook cannot remove or change client_id"),
    ("claims := claims || '{\"scope\": \"admin\"}';", "invalid option: auth.access_token_hook may only narrow scope"),
    ("return '{}';", 'invalid option: auth.access_token_hook must return {"claims": {...}}'),
    ("return null;", "invalid option: auth.access_token_hook returned NULL"),
])
def test_a_bad_answer_issues_no_token_and_spends_no_code(admin, change, prefix):
    make_hook(admin, f"declare claims jsonb := event->'claims'; begin {change} "
                     "return jsonb_build_object('claims', claims); end")
    code, verifier = begin(admin)
    fails(admin, "select auth.pkce_exchange(%s, %s)", (code, verifier), "22023", prefix)
    admin.execute("reset auth.access_token_hook")
    assert exchange(admin, code, verifier)["user"] == {"id": U1}


def test_a_hook_that_raises_aborts_without_spending_or_rotating(admin):
    admin.execute("reset auth.access_token_hook")
    s = exchange(admin, *begin(admin))
    make_hook(admin, "begin raise exception 'hook says no' using errcode = 'P0001'; end")
    code, verifier = begin(admin)
    fails(admin, "select auth.pkce_exchange(%s, %s)", (code, verifier), "P0001", "hook says no")
    fails(admin, "select auth.refresh(%s)", (s["refresh_token"],), "P0001", "hook says no")
    admin.execute("reset auth.access_token_hook")
    # the code is still good, and the refresh token was not rotated (no reuse detected)
    assert exchange(admin, code, verifier)["user"] == {"id": U1}
    r = one(admin, "select auth.refresh(%s)", (s["refresh_token"],))
    assert r["session_id"] == s["session_id"] and r["refresh_token"] != s["refresh_token"]


@pytest.mark.parametrize("attempt", [
    f"alter role {OWNER} superuser",
    "perform count(*) from sae_internal.sae_flow_sessions",
    "perform current_setting('auth.jwt_secret')",
    "set role postgres",
    "perform set_config('role', 'postgres', true)",
    "create temp table stolen (x int)",
    "perform auth.sign('{\"role\": \"service_role\"}')",
])
def test_the_hook_gains_nothing_its_owner_lacks(admin, attempt):
    make_hook(admin, f"begin {attempt}; return event; end", name="hostile_hook")
    code, verifier = begin(admin)
    with pytest.raises(psycopg.Error) as info:
        exchange(admin, code, verifier)
    assert info.value.sqlstate in ("42501", "42P01"), (info.value.sqlstate, str(info.value))
    admin.execute("reset auth.access_token_hook")
    assert one(admin, "select rolsuper from pg_roles where rolname = %s", (OWNER,)) is False
    assert exchange(admin, code, verifier)["user"] == {"id": U1}  # and the code is unspent


def test_only_a_superuser_sets_the_hook(admin, dbname):
    with connect(dbname, user=AUTHN) as app:
        fails(app, "set auth.access_token_hook = 'public.access_token_hook'", (), "42501")
    admin.execute(f'alter database "{dbname}" owner to {OWNER}')
    try:
        admin.execute(f"alter role {OWNER} login")
        with connect(dbname, user=OWNER) as owner:
            fails(owner, f'alter database "{dbname}" set auth.access_token_hook = \'public.x\'', (), "42501")
    finally:
        admin.execute(f'alter database "{dbname}" owner to postgres')
        admin.execute(f"alter role {OWNER} nologin")


def test_a_hook_that_names_no_function(admin):
    code, verifier = begin(admin)
    for name in ("public.no_such_hook", "no_schema_hook"):
        admin.execute("set auth.access_token_hook = %s" % psycopg.sql.quote(name))
        fails(admin, "select auth.pkce_exchange(%s, %s)", (code, verifier), "22023",
              "invalid option: auth.access_token_hook names no function")
    admin.execute("create or replace function public.wrong_type_hook(event jsonb) returns text "
                  "language sql as $$ select 'x' $$")
    admin.execute("set auth.access_token_hook = 'public.wrong_type_hook'")
    fails(admin, "select auth.pkce_exchange(%s, %s)", (code, verifier), "22023",
          "invalid option: auth.access_token_hook must be a function (jsonb) RETURNS jsonb")
    admin.execute("reset auth.access_token_hook")
    assert exchange(admin, code, verifier)["user"] == {"id": U1}


def test_the_hook_cannot_change_the_callers_settings(admin):
    """A hook runs in the caller's session; whatever it sets there is undone when it
    returns, as PostgreSQL undoes an index function's settings."""
    make_hook(admin, "begin "
                     "perform set_config('request.jwt.claims', '{\"sub\": \"planted\"}', true); "
                     "perform set_config('statement_timeout', '1', false); "
                     "perform set_config('search_path', 'public', false); "
                     "return event; end", name="meddling_hook")
    admin.execute("select set_config('request.jwt.claims', '{\"sub\": \"mine\"}', false)")
    before = admin.execute("show statement_timeout").fetchone()[0]
    assert exchange(admin, *begin(admin))["user"] == {"id": U1}
    assert one(admin, "select current_setting('request.jwt.claims')") == '{"sub": "mine"}'
    assert admin.execute("show statement_timeout").fetchone()[0] == before
    assert one(admin, "select current_setting('search_path')") != "public"


def test_the_hook_cannot_read_the_users_provider_tokens(admin, dbname):
    """The security review of 0.5.0: a hook runs inside the flow call, in a transaction
    where the user may have logged in; auth.provider_token reads nothing there."""
    admin.execute("load 'supabase_auth_ext'")
    admin.execute("set auth.vault_key = 'a-vault-key-for-the-hook-test-0123456789'")
    admin.execute("select auth.provider_token_put(%s, 'google', '{\"refresh_token\": \"victim\"}')", (U1,))
    admin.execute(f"grant execute on function auth.provider_token(text) to {OWNER}")
    admin.execute("truncate public.hook_events")
    make_hook(admin, "begin insert into public.hook_events "
                     "select jsonb_build_object('got', auth.provider_token('google')), current_user; "
                     "return event; end", name="greedy_hook")
    from conftest import user_token
    code = begin(admin)
    with admin.transaction():
        admin.execute("select auth.login(%s)", (user_token(U1),))
        assert one(admin, "select auth.provider_token('google')") == {"refresh_token": "victim"}
        admin.execute("select auth.pkce_exchange(%s, %s)", code)
    got = admin.execute("select event from public.hook_events").fetchall()
    assert got == [({"got": None},)], got


@pytest.mark.parametrize("fn", ["public.two_args(jsonb,jsonb)", "pg_catalog.jsonb_agg_finalfn(internal)"])
def test_the_hook_step_checks_the_functions_shape(admin, fn):
    """The security review of 0.5.0: called directly (superuser only) with a function of
    another shape, the hook step refuses instead of calling it with one argument."""
    admin.execute("create or replace function public.two_args(a jsonb, b jsonb default '{}') "
                  "returns jsonb language sql as $$ select a $$")
    fails(admin, "select sae_internal.flow_call_hook(%s::regprocedure, 's', '{\"sub\": \"s\"}', 'm')",
          (fn,), "22023", "invalid option: auth.access_token_hook must be a function (jsonb) RETURNS jsonb")
