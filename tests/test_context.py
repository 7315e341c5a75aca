"""Contract section 2: the auth.* request helpers, as Supabase's SQL helpers behave."""
import json
import uuid

import pytest
from conftest import connect, fails, one

U1 = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
U2 = "b1ffcd00-0d1c-4fa9-8c7e-7cc0ce491b22"

# Supabase's helpers, verbatim from its migrations, in another schema for comparison.
SUPABASE_HELPERS = """
create schema if not exists supa;
create or replace function supa.uid() returns uuid language sql stable as $$
  select coalesce(nullif(current_setting('request.jwt.claim.sub', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'))::uuid $$;
create or replace function supa.role() returns text language sql stable as $$
  select coalesce(nullif(current_setting('request.jwt.claim.role', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role'))::text $$;
create or replace function supa.email() returns text language sql stable as $$
  select coalesce(nullif(current_setting('request.jwt.claim.email', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email'))::text $$;
create or replace function supa.jwt() returns jsonb language sql stable as $$
  select coalesce(nullif(current_setting('request.jwt.claim', true), ''),
    nullif(current_setting('request.jwt.claims', true), ''))::jsonb $$;
"""

ALL = "select auth.uid(), auth.sub(), auth.role(), auth.email(), auth.jwt()"


def claims(db, value, local=False):
    db.execute("select set_config('request.jwt.claims', %s, %s)", (value, local))


def test_unset_gives_nulls(db):
    assert db.execute(ALL).fetchone() == (None, None, None, None, None)
    assert one(db, "select auth.claim('sub')") is None


def test_claims_setting(db):
    c = {"sub": U1, "role": "authenticated", "email": "a@example.com", "app": {"tier": 2}}
    claims(db, json.dumps(c))
    assert db.execute(ALL).fetchone() == (uuid.UUID(U1), U1, "authenticated", "a@example.com", c)
    assert one(db, "select auth.claim('app')") == {"tier": 2}
    assert one(db, "select auth.claim('missing')") is None


def test_non_uuid_subject(db):
    claims(db, json.dumps({"sub": "user-42"}))
    assert db.execute("select auth.uid(), auth.sub()").fetchone() == (None, "user-42")
    claims(db, json.dumps({"sub": 42}))
    assert db.execute("select auth.uid(), auth.sub()").fetchone() == (None, "42")


@pytest.mark.parametrize("text", [
    U1.upper(), "{" + U1 + "}", U1.replace("-", ""), "a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11",
])
def test_uuid_spellings_match_the_uuid_cast(db, text):
    claims(db, json.dumps({"sub": text}))
    assert one(db, "select auth.uid()") == one(db, "select %s::uuid", (text,)) == uuid.UUID(U1)


@pytest.mark.parametrize("text", [U1 + "0", U1[:-1], " " + U1, U1 + "}", "{" + U1, "a0e-ebc99-9c0b-4ef8-bb6d-6bb9bd380a11"])
def test_bad_uuid_spellings_give_null(db, text):
    claims(db, json.dumps({"sub": text}))
    assert one(db, "select auth.uid()") is None
    fails(db, "select %s::uuid", (text,), sqlstate="22P02")  # what Supabase's cast would raise


def test_legacy_settings_take_precedence(db):
    claims(db, json.dumps({"sub": U1, "role": "authenticated", "email": "new@x"}))
    db.execute(f"set request.jwt.claim.sub = '{U2}'")
    db.execute("set request.jwt.claim.role = 'legacy_role'")
    db.execute("set request.jwt.claim.email = 'old@x'")
    db.execute("""set request.jwt.claim = '{"legacy": true}'""")
    assert db.execute(ALL).fetchone() == (uuid.UUID(U2), U2, "legacy_role", "old@x", {"legacy": True})
    assert one(db, "select auth.claim('sub')") == U2  # per-name legacy, as a JSON string
    assert one(db, "select auth.claim('legacy')") is True  # else auth.jwt() -> name


def test_empty_settings_count_as_unset(db):
    claims(db, json.dumps({"sub": U1, "role": "r"}))
    for name in ("request.jwt.claim.sub", "request.jwt.claim.role", "request.jwt.claim.email", "request.jwt.claim"):
        db.execute(f"set {name} = ''")
    assert db.execute("select auth.uid(), auth.role(), auth.jwt()->>'sub'").fetchone() == (uuid.UUID(U1), "r", U1)
    claims(db, "")
    assert db.execute(ALL).fetchone() == (None, None, None, None, None)


def test_invalid_claims_json_raises_like_the_cast(db):
    claims(db, "not json")
    fails(db, "select auth.uid()", sqlstate="22P02")
    fails(db, "select auth.jwt()", sqlstate="22P02")
    claims(db, "[1,2]")  # valid JSON, not an object: ->> gives NULL, like Supabase
    assert db.execute("select auth.uid(), auth.role(), auth.jwt()").fetchone() == (None, None, [1, 2])


def test_matches_supabase_helpers(db):
    db.execute(SUPABASE_HELPERS)
    cases = [
        {"request.jwt.claims": json.dumps({"sub": U1, "role": "authenticated", "email": "e@x", "n": 1.50})},
        {"request.jwt.claims": json.dumps({"role": {"nested": [1, 2.0]}, "email": 5})},
        {"request.jwt.claims": json.dumps({"sub": U1}), "request.jwt.claim.sub": U2},
        {"request.jwt.claims": json.dumps({"sub": U1}), "request.jwt.claim": json.dumps({"x": 1})},
        {"request.jwt.claims": "", "request.jwt.claim.role": "anon"},
        {"request.jwt.claims": json.dumps({"sub": U1.upper()}), "request.jwt.claim.email": ""},
        {},
    ]
    names = ["request.jwt.claims", "request.jwt.claim", "request.jwt.claim.sub", "request.jwt.claim.role", "request.jwt.claim.email"]
    for case in cases:
        for n in names:
            db.execute("select set_config(%s, %s, false)", (n, case.get(n, "")))
        ours = db.execute("select auth.uid(), auth.role(), auth.email(), auth.jwt()").fetchone()
        theirs = db.execute("select supa.uid(), supa.role(), supa.email(), supa.jwt()").fetchone()
        assert ours == theirs, case


def test_change_between_statements_of_one_plpgsql_function(db):
    db.execute("""
      create or replace function two_uids() returns uuid[] language plpgsql as $$
      declare a uuid; b uuid;
      begin
        perform set_config('request.jwt.claims', '{"sub":"%s"}', true);
        a := auth.uid();
        perform set_config('request.jwt.claims', '{"sub":"%s"}', true);
        b := auth.uid();
        return array[a, b];
      end $$""" % (U1, U2))
    assert one(db, "select two_uids()") == [uuid.UUID(U1), uuid.UUID(U2)]


def test_value_returned_earlier_in_a_row_is_not_overwritten(db):
    claims(db, json.dumps({"sub": U1}))
    row = db.execute(
        "select auth.uid(), set_config('request.jwt.claims', %s, false), auth.uid()",
        (json.dumps({"sub": U2}),)).fetchone()
    assert (row[0], row[2]) == (uuid.UUID(U1), uuid.UUID(U2))


def test_transaction_local_claims_end_with_the_transaction(db):
    with db.transaction():
        claims(db, json.dumps({"sub": U1}), local=True)
        assert one(db, "select auth.uid()") == uuid.UUID(U1)
    assert one(db, "select auth.uid()") is None
    with db.transaction():
        claims(db, json.dumps({"sub": U1}), local=True)
        db.execute("savepoint s")
        claims(db, json.dumps({"sub": U2}), local=True)
        assert one(db, "select auth.uid()") == uuid.UUID(U2)
        db.execute("rollback to savepoint s")
        assert one(db, "select auth.uid()") == uuid.UUID(U1)


def test_prepared_statements_see_every_change(db):
    db.execute("create table if not exists prep_t(x int)")
    for i in range(12):  # past the 5 custom plans, into the generic plan
        sub = str(uuid.UUID(int=i + 1))
        claims(db, json.dumps({"sub": sub}))
        got = db.execute("select auth.uid() from (values (%s::int)) v(x)", (i,), prepare=True).fetchone()[0]
        assert got == uuid.UUID(sub)


def test_settings_made_before_the_library_loads(dbname):
    # A fresh backend: the claims are set while they are still a placeholder, as
    # PostgREST does before any of our functions has run in that backend.
    with connect(dbname) as c:
        with c.transaction():
            c.execute("select set_config('request.jwt.claims', %s, true)", (json.dumps({"sub": U1}),))
            assert one(c, "select auth.uid()") == uuid.UUID(U1)
        assert one(c, "select auth.uid()") is None
    with connect(dbname) as c:
        c.execute(f"set request.jwt.claim.sub = '{U2}'")
        assert one(c, "select auth.uid()") == uuid.UUID(U2)


def test_volatility_and_parallel_safety(db):
    rows = db.execute("""select p.proname, p.provolatile, p.proparallel from pg_proc p
        join pg_namespace n on n.oid = p.pronamespace
        where n.nspname = 'auth' and p.proname in ('jwt','uid','sub','role','email','claim') order by 1""").fetchall()
    assert len(rows) == 6
    assert all(v == "s" and par == "s" for _, v, par in rows), rows


@pytest.fixture
def rls(db):
    db.execute("""
      do $$ begin
        if not exists (select 1 from pg_roles where rolname = 'authenticated') then create role authenticated nologin; end if;
        if not exists (select 1 from pg_roles where rolname = 'anon') then create role anon nologin; end if;
      end $$;
      drop table if exists notes;
      create table notes(id serial primary key, user_id uuid not null, body text);
      alter table notes enable row level security;
      create policy own on notes for select to authenticated using (user_id = auth.uid());
      grant select on notes to authenticated, anon;
      grant usage on schema auth to authenticated, anon;
    """)
    db.execute("insert into notes(user_id, body) select case when g %% 3 = 0 then %s::uuid else %s::uuid end, 'n' || g from generate_series(1, 3000) g", (U1, U2))
    return db


def test_rls_filters_by_auth_uid(rls):
    db = rls
    for sub, want in ((U1, 1000), (U2, 2000), (str(uuid.uuid4()), 0)):
        with db.transaction():
            db.execute("set local role authenticated")
            claims(db, json.dumps({"sub": sub, "role": "authenticated"}), local=True)
            assert one(db, "select count(*) from notes") == want
            assert one(db, "select count(*) from notes where user_id <> auth.uid()") == 0
    with db.transaction():
        db.execute("set local role anon")
        assert one(db, "select count(*) from notes") == 0


def test_rls_under_parallel_query(rls):
    db = rls
    guc = "debug_parallel_query" if one(db, "show server_version_num") >= "160000" else "force_parallel_mode"
    with db.transaction():
        db.execute(f"set local {guc} = on")
        db.execute("set local parallel_setup_cost = 0")
        db.execute("set local parallel_tuple_cost = 0")
        db.execute("set local min_parallel_table_scan_size = 0")
        db.execute("set local role authenticated")
        claims(db, json.dumps({"sub": U1}), local=True)
        plan = "\n".join(r[0] for r in db.execute("explain select count(*) from notes"))
        assert "Gather" in plan, plan
        assert one(db, "select count(*) from notes") == 1000
