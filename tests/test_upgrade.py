"""Versioned SQL (sql/, see sql/README.md): every earlier release installs, upgrades to the
current version with ALTER EXTENSION ... UPDATE, and the result equals a fresh install,
compared over the catalog. The current version's released script is pgrx's output."""
import re
import uuid
from pathlib import Path

import psycopg
import pytest
from conftest import configure_login, connect, one, pkce_pair

EXT = "supabase_auth_ext"
SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
CARGO_TOML = Path(__file__).resolve().parent.parent / "Cargo.toml"
CURRENT = re.search(r'^version = "([^"]+)"', CARGO_TOML.read_text(), re.M).group(1)
RELEASES = sorted((m.group(1) for f in SQL_DIR.glob(f"{EXT}--*.sql")
                   if (m := re.fullmatch(rf"{EXT}--([^-]+)\.sql", f.name))),
                  key=lambda v: tuple(int(x) for x in v.split(".")))
EARLIER = [v for v in RELEASES if v != CURRENT]

# Everything of the extension a user or a policy can meet, as text without OIDs: the
# extension row and its members, each function's full definition, ACL, owner and comment,
# each relation with its columns, constraints and indexes, the types and schemas, every
# initial privilege, and every dependency from or to an object in schemas auth and pgjwt.
CATALOG = r"""
WITH ns AS (SELECT oid FROM pg_namespace WHERE nspname IN ('auth', 'pgjwt', 'sae_internal')),
objs(classid, objid) AS (
  SELECT 'pg_proc'::regclass, oid FROM pg_proc WHERE pronamespace IN (SELECT oid FROM ns)
  UNION ALL SELECT 'pg_class'::regclass, oid FROM pg_class WHERE relnamespace IN (SELECT oid FROM ns)
  UNION ALL SELECT 'pg_type'::regclass, oid FROM pg_type WHERE typnamespace IN (SELECT oid FROM ns)
  UNION ALL SELECT 'pg_constraint'::regclass, oid FROM pg_constraint
            WHERE connamespace IN (SELECT oid FROM ns)
  UNION ALL SELECT 'pg_namespace'::regclass, oid FROM ns
  UNION ALL SELECT 'pg_extension'::regclass, oid FROM pg_extension WHERE extname = 'supabase_auth_ext')
SELECT 'extension ' || extname || ' version=' || extversion || ' owner=' || extowner::regrole
       || ' schema=' || extnamespace::regnamespace || ' relocatable=' || extrelocatable
       || ' config=' || coalesce((SELECT string_agg(c::regclass::text, ',' ORDER BY 1)
                                  FROM unnest(extconfig) c), '')
       || ' condition=' || coalesce(extcondition::text, '')
FROM pg_extension WHERE extname = 'supabase_auth_ext'
UNION ALL
SELECT 'function ' || p.oid::regprocedure || ' owner=' || p.proowner::regrole
       || ' acl=' || coalesce(p.proacl::text, '-')
       || ' comment=' || coalesce(obj_description(p.oid, 'pg_proc'), '-') || E'\n'
       || pg_get_functiondef(p.oid)
FROM pg_proc p WHERE p.pronamespace IN (SELECT oid FROM ns)
UNION ALL
SELECT 'relation ' || c.oid::regclass || ' kind=' || c.relkind::text || ' owner=' || c.relowner::regrole
       || ' acl=' || coalesce(c.relacl::text, '-') || ' persistence=' || c.relpersistence::text
       || ' rls=' || c.relrowsecurity || '/' || c.relforcerowsecurity
       || ' replident=' || c.relreplident::text || ' options=' || coalesce(c.reloptions::text, '-')
       || ' comment=' || coalesce(obj_description(c.oid, 'pg_class'), '-')
FROM pg_class c WHERE c.relnamespace IN (SELECT oid FROM ns)
UNION ALL
SELECT 'column ' || a.attrelid::regclass || ' #'
       -- the position among live columns: a column dropped by an upgrade leaves a gap
       || row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum) || ' ' || a.attname || ' '
       || format_type(a.atttypid, a.atttypmod) || ' notnull=' || a.attnotnull
       || ' default=' || coalesce(pg_get_expr(d.adbin, d.adrelid), '-')
       || ' collation=' || coalesce(nullif(a.attcollation, 0)::regcollation::text, '-')
       || ' acl=' || coalesce(a.attacl::text, '-')
       || ' comment=' || coalesce(col_description(a.attrelid, a.attnum), '-')
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE c.relnamespace IN (SELECT oid FROM ns) AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
FROM pg_constraint WHERE connamespace IN (SELECT oid FROM ns)
UNION ALL
SELECT 'index ' || pg_get_indexdef(i.indexrelid)
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relnamespace IN (SELECT oid FROM ns)
UNION ALL
SELECT 'trigger ' || pg_get_triggerdef(t.oid) FROM pg_trigger t
JOIN pg_class c ON c.oid = t.tgrelid WHERE c.relnamespace IN (SELECT oid FROM ns)
UNION ALL
SELECT 'policy ' || polrelid::regclass || ' ' || polname FROM pg_policy p
JOIN pg_class c ON c.oid = p.polrelid WHERE c.relnamespace IN (SELECT oid FROM ns)
UNION ALL
SELECT 'type ' || t.oid::regtype || ' typtype=' || t.typtype::text || ' owner=' || t.typowner::regrole
       || ' acl=' || coalesce(t.typacl::text, '-')
FROM pg_type t WHERE t.typnamespace IN (SELECT oid FROM ns)
UNION ALL
SELECT 'schema ' || nspname || ' owner=' || nspowner::regrole || ' acl=' || coalesce(nspacl::text, '-')
       || ' comment=' || coalesce(obj_description(oid, 'pg_namespace'), '-')
FROM pg_namespace WHERE oid IN (SELECT oid FROM ns)
UNION ALL
SELECT 'init_privs ' || pg_describe_object(classoid, objoid, objsubid) || ' ' || privtype::text
       || ' ' || initprivs::text
FROM pg_init_privs
UNION ALL
SELECT 'depend ' || pg_describe_object(classid, objid, objsubid) || ' -> '
       || pg_describe_object(refclassid, refobjid, refobjsubid) || ' ' || deptype::text
FROM pg_depend
WHERE (classid, objid) IN (SELECT * FROM objs) OR (refclassid, refobjid) IN (SELECT * FROM objs)
"""


def catalog(dbname):
    with connect(dbname) as c:
        rows = [r[0] for r in c.execute(CATALOG)]
    # Names that carry an OID: TOAST tables and foreign keys' internal triggers.
    return sorted(re.sub(r"(pg_toast_|RI_ConstraintTrigger_[ac]_)\d+", r"\1N", r) for r in rows)


def differences(a, b):
    """The rows only in a and only in b (a readable assertion message)."""
    sa, sb = set(a), set(b)
    return {"only_first": sorted(sa - sb), "only_second": sorted(sb - sa)}


@pytest.fixture
def new_db():
    """Make databases; each is dropped at the end of the test."""
    made = []

    def make(version=None):
        name = f"t_upgrade_{uuid.uuid4().hex[:8]}"
        with connect("postgres") as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        with connect(name) as c:
            if version:
                c.execute(f"CREATE EXTENSION {EXT} VERSION %s" % psycopg.sql.quote(version))
            else:
                c.execute(f"CREATE EXTENSION {EXT}")
        return name

    yield make
    with connect("postgres") as admin:
        for name in made:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def pgrx_blocks(sql):
    """pgrx's script as its blocks of connected objects, without source line numbers and
    sorted: pgrx orders blocks that do not depend on each other differently from build to
    build (PostgreSQL 15 and 18 builds of the same code differ)."""
    sql = re.sub(r"^(-- src/[^:\n]+):\d+$", r"\1", sql, flags=re.M)
    return sorted(b.strip() for b in sql.split("/* <begin connected objects> */"))


def test_released_script_is_what_pgrx_generates(db):
    """sql/<ext>--<current>.sql is the release's frozen install script: it must be the
    script pgrx generates from the code (rewrite it with scripts/release-sql.sh)."""
    sharedir = one(db, "SELECT setting FROM pg_config WHERE name = 'SHAREDIR'")
    generated = Path(sharedir, "extension", f"{EXT}--{CURRENT}.sql").read_text()
    released = (SQL_DIR / f"{EXT}--{CURRENT}.sql").read_text()
    assert pgrx_blocks(generated) == pgrx_blocks(released), (
        f"sql/{EXT}--{CURRENT}.sql differs from pgrx's output: run scripts/release-sql.sh")


def test_every_release_is_installable_and_reaches_the_current_version(db):
    assert CURRENT in RELEASES and len(RELEASES) >= 2, RELEASES
    assert one(db, "SELECT default_version FROM pg_available_extensions WHERE name = %s",
               (EXT,)) == CURRENT
    available = {r[0] for r in db.execute(
        "SELECT version FROM pg_available_extension_versions WHERE name = %s", (EXT,))}
    assert available == set(RELEASES)
    paths = dict(db.execute("SELECT source, path FROM pg_extension_update_paths(%s) "
                            "WHERE target = %s", (EXT, CURRENT)).fetchall())
    for v in EARLIER:
        assert paths[v] is not None, f"no upgrade path from {v} to {CURRENT}"
    # Every file in sql/ is either a release or a step between two releases.
    for f in SQL_DIR.glob("*.sql"):
        steps = re.fullmatch(rf"{EXT}--([^-]+)(?:--([^-]+))?\.sql", f.name)
        assert steps and all(v in RELEASES for v in steps.groups() if v), f.name


@pytest.mark.parametrize("version", EARLIER)
def test_upgrade_equals_a_fresh_install(new_db, version):
    fresh = new_db()
    upgraded = new_db(version)
    with connect(upgraded) as c:
        assert one(c, "SELECT extversion FROM pg_extension WHERE extname = %s", (EXT,)) == version
        c.execute(f"ALTER EXTENSION {EXT} UPDATE")
    a, b = catalog(fresh), catalog(upgraded)
    # The comparison sees the extension's own objects, not only the built-in privileges.
    assert sum(not r.startswith("init_privs ") for r in a) > 200
    assert a == b, differences(a, b)


def test_the_comparison_sees_a_missing_step_a_grant_and_a_comment(new_db):
    """The catalog comparison can fail: an old release, a changed grant and a changed
    comment each show up as a difference."""
    fresh, other = new_db(), new_db()
    assert catalog(fresh) == catalog(other)
    if EARLIER:
        old = new_db(EARLIER[-1])
        diff = differences(catalog(fresh), catalog(old))
        # the newest earlier release lacks a function this one has (0.4.0: sae_internal.raise)
        assert any(r.startswith("function ") for r in diff["only_first"]), diff
    with connect(other) as c:
        c.execute("GRANT EXECUTE ON FUNCTION auth.sign(jsonb) TO PUBLIC")
    diff = differences(catalog(fresh), catalog(other))
    assert [r.split("\n")[0][:40] for r in diff["only_second"]] == [
        "function auth.sign(jsonb) owner=postgres"], diff
    with connect(other) as c:
        c.execute("REVOKE EXECUTE ON FUNCTION auth.sign(jsonb) FROM PUBLIC")
        assert catalog(fresh) == catalog(other)
        c.execute("COMMENT ON TABLE sae_internal.sae_flow_codes IS 'changed'")
    diff = differences(catalog(fresh), catalog(other))
    assert len(diff["only_second"]) == 1 and "comment=changed" in diff["only_second"][0], diff


USER_SCHEMA = """
create table notes (id serial primary key, owner uuid, body text);
alter table notes enable row level security;
create policy own on notes for select to authenticated using (owner = auth.uid());
create view my_claims as select auth.jwt() ->> 'email' as email;
grant select on notes, my_claims to authenticated;
grant execute on function auth.sign(jsonb) to sae_admin;
"""


@pytest.mark.parametrize("version", EARLIER)
def test_upgrade_keeps_user_objects_and_the_new_functions_work(new_db, version):
    """A database in use on an earlier release: its policy, view and grants survive the
    upgrade (the helpers keep their OIDs), and the new release's functions work on it."""
    name = new_db(version)
    u1, u2 = str(uuid.uuid4()), str(uuid.uuid4())
    with configure_login(name, USER_SCHEMA):
        with connect(name) as c:
            c.execute("insert into notes (owner, body) values (%s, 'one'), (%s, 'two')", (u1, u2))
            oids = "select h, h::regprocedure::oid from unnest(%s::text[]) h"
            helpers = (["auth.uid()", "auth.jwt()", "auth.role()", "auth.email()"],)
            before = c.execute(oids, helpers).fetchall()
            # The new library serves the old release's functions until the upgrade.
            with c.transaction():
                c.execute("set local role authenticated")
                c.execute("select set_config('request.jwt.claims', %s, true)",
                          ('{"sub": "%s"}' % u2,))
                assert [r[0] for r in c.execute("select body from notes")] == ["two"]
            c.execute(f"ALTER EXTENSION {EXT} UPDATE")
            after = c.execute(oids, helpers).fetchall()
            assert before == after and len(after) == 4
            assert one(c, "select has_function_privilege('sae_admin', 'auth.sign(jsonb)', "
                          "'execute')")
            assert not one(c, "select has_function_privilege('sae_outsider', "
                              "'auth.sign(jsonb)', 'execute')")
        # The new release's flows on the upgraded database: code, exchange, login, refresh.
        verifier, challenge = pkce_pair()
        with connect(name) as c:
            code = one(c, "select auth.pkce_begin(%s, %s)", (u1, challenge))
        with connect(name, user="sae_authenticator") as c:
            session = one(c, "select auth.pkce_exchange(%s, %s)", (code, verifier))
            with c.transaction():
                c.execute("select auth.login(%s)", (session["access_token"],))
                assert [r[0] for r in c.execute("select body from notes")] == ["one"]
                assert one(c, "select auth.uid()::text") == u1
            rotated = one(c, "select auth.refresh(%s)", (session["refresh_token"],))
            assert rotated["refresh_token"] != session["refresh_token"]
            assert one(c, "select auth.whoami() ->> 'current_user'") == "sae_authenticator"
            assert one(c, "select pgjwt.sign('{\"a\":1}', 'k')").count(".") == 2
