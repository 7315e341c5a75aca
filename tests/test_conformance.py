"""Conformance with the real systems the extension imitates (issue 13), from their own
sources, as data: PostgREST's JWT test cases (tests/data/postgrest_jwt_cases.json, from
PostgREST/postgrest test/spec/Feature/Auth/*.hs and test/io/fixtures/fixtures.yaml) through
auth.login, and PKCE pairs made by @supabase/auth-js (tests/data/auth_js_pkce.json) through
pkce_verify and auth.pkce_begin + pkce_exchange.

Left out of PostgREST's cases, and why: the HTTP side (WWW-Authenticate headers, status
bodies, Content-Length), the JWT cache counters (JwtCacheSpec.hs), file-based and
base64-encoded secrets (configuration loading, not verification), the pre-request function
cases (an application function, not JWT handling), NoJwtSecretSpec's "Server lacks JWT
secret" (we raise 22023 invalid key, tested in test_login.py), and two keys PostgREST
refuses at startup that our contract accepts as bare dot paths ("role.other", "1234")."""
import json
import pathlib
import time

import psycopg
import pytest
from conftest import connect, fails, one, py_sign

DATA = pathlib.Path(__file__).parent / "data"
PGRST = json.loads((DATA / "postgrest_jwt_cases.json").read_text())
AUTHJS = json.loads((DATA / "auth_js_pkce.json").read_text())
AUTHOR, ANON, AUTHN = "postgrest_test_author", "postgrest_test_anonymous", "pgrst_authenticator"


@pytest.fixture(scope="module")
def pgrst(dbname):
    with connect(dbname) as c:
        c.execute(f"""do $$ begin
          if not exists (select 1 from pg_roles where rolname = '{AUTHOR}') then create role {AUTHOR} nologin; end if;
          if not exists (select 1 from pg_roles where rolname = '{ANON}') then create role {ANON} nologin; end if;
          if not exists (select 1 from pg_roles where rolname = '{AUTHN}') then create role {AUTHN} login noinherit; end if;
        end $$""")
        c.execute(f"grant {AUTHOR}, {ANON} to {AUTHN}")
        c.execute(f"grant usage on schema auth to {AUTHN}")
    return dbname


def session(dbname, key, anon_role=ANON, role_claim=None, jwt_aud=None):
    """A connection set up as PostgREST's config for one case: the settings are
    superuser-only, so a superuser sets them for the session and becomes the authenticator."""
    c = connect(dbname)
    c.execute("load 'supabase_auth_ext'")
    for name, value in (("auth.jwt_secret", key), ("auth.anon_role", anon_role),
                        ("auth.jwt_role_claim", role_claim or "$.role"),
                        ("auth.jwt_aud", jwt_aud or ""),
                        ("auth.allowed_roles", f"{AUTHOR},{ANON},other")):
        c.execute("select set_config(%s, %s, false)", (name, value))
    c.execute(f"set role {AUTHN}")
    return c


def token_of(case, secret):
    if "token" in case:
        return case["token"]
    claims = {k: (int(time.time()) if v == "NOW" else v) for k, v in case["claims"].items()}
    return py_sign(claims, secret.encode())


def outcome(c, case, tok):
    """What auth.login makes of the case: ("role", name) or ("error", sqlstate, message)."""
    try:
        with c.transaction():
            if "authorization" in case:
                key = py_sign({"role": ANON}, PGRST["secret"].encode())
                for scheme in case["authorization"]:
                    c.execute("select auth.authenticate(%s, %s)", (key, f"{scheme} {tok}"))
                    assert one(c, "select current_user::text") == AUTHOR, scheme
            else:
                c.execute("select auth.login(%s)", (tok,))
            return ("role", one(c, "select current_user::text"))
    except psycopg.Error as e:
        return ("error", e.sqlstate, e.diag.message_primary)


@pytest.mark.parametrize("case", PGRST["cases"], ids=lambda c: c["origin"].split("/")[-1] + ": " + c["name"])
def test_postgrest_jwt_case(pgrst, case):
    secret = PGRST["secret"]
    with session(pgrst, case.get("key", secret), case.get("anon_role", ANON),
                 case.get("role_claim"), case.get("jwt_aud")) as c:
        got = outcome(c, case, token_of(case, secret))
    want = case["expect"]
    if want == "author":
        assert got == ("role", AUTHOR), got
    elif want == "anon":
        assert got == ("role", ANON), got
    elif want == "not author":
        assert got != ("role", AUTHOR), got
    else:
        assert got[:2] == ("error", want["sqlstate"]), got
        assert got[2] == f"invalid JWT: {want['reason']}", got


@pytest.mark.parametrize("case", PGRST["invalid_role_claim_keys"], ids=lambda c: c["key"])
def test_postgrest_invalid_role_claim_keys(pgrst, case):
    """PostgREST exits at startup on these; we refuse them when set (22023)."""
    with connect(pgrst) as c:
        c.execute("load 'supabase_auth_ext'")
        sql, args = "select set_config('auth.jwt_role_claim', %s, false)", (case["key"],)
        if case["ours"] == "refused":
            err = fails(c, sql, args, "22023", 'invalid value for parameter "auth.jwt_role_claim"')
            assert err.diag.message_detail
        else:
            c.execute(sql, args)


# The issue's own examples and the rest of RFC 9535 that PostgREST's JSONPath library runs.
ROLE_PATHS = [
    ("$.postgrest.roles[1]", {"postgrest": {"roles": ["x", AUTHOR]}}, AUTHOR),
    ("$['https://www.example.com/role'].key", {"https://www.example.com/role": {"key": AUTHOR}}, AUTHOR),
    ("$.postgrest.roles[?(@ == 'postgrest_test_author')]", {"postgrest": {"roles": ["x", AUTHOR]}}, AUTHOR),
    ("$.roles[?search(@, '^postgrest_test_au')]", {"roles": ["other", AUTHOR]}, AUTHOR),
    ("$.roles[?match(@, 'postgrest_.*_author')]", {"roles": ["other", AUTHOR]}, AUTHOR),
    ("$.roles[-1]", {"roles": ["other", AUTHOR]}, AUTHOR),
    ("$..role", {"a": {"b": {"role": AUTHOR}}}, AUTHOR),
    ("$.roles[*]", {"roles": [AUTHOR, "other"]}, AUTHOR),
    ("$.role", {"other": 1}, ANON),
    ("role", {"role": AUTHOR}, AUTHOR),
    ("app_metadata.role", {"app_metadata": {"role": AUTHOR}}, AUTHOR),
    ('."https://x.io/role"', {"https://x.io/role": AUTHOR}, AUTHOR),
    ('.roles[?(@ ^== "postgrest_te")]', {"roles": ["other", AUTHOR]}, AUTHOR),
]


@pytest.mark.parametrize("path,claims,role", ROLE_PATHS, ids=[p for p, _, _ in ROLE_PATHS])
def test_role_claim_syntaxes(pgrst, path, claims, role):
    secret = PGRST["secret"]
    with session(pgrst, secret, role_claim=path) as c:
        got = outcome(c, {}, py_sign(claims, secret.encode()))
    assert got == ("role", role), got


def test_a_non_string_role_is_refused(pgrst):
    """PostgREST would try a role named after the JSON text ("null", "5"): a refusal; ours
    says why (28000 bad_claim_type), and a null role is no way to become anonymous."""
    secret = PGRST["secret"]
    for claims in ({"role": None}, {"role": 5}, {"role": {"a": 1}}):
        with session(pgrst, secret) as c:
            got = outcome(c, {}, py_sign(claims, secret.encode()))
        assert got == ("error", "28000", "invalid JWT: bad_claim_type"), (claims, got)


def test_iat_in_the_future_is_refused(pgrst):
    """PostgREST's "JWT issued at future": iat later than now plus the leeway (30 s)."""
    secret = PGRST["secret"]
    for iat, ok in ((int(time.time()) + 10, True), (int(time.time()) + 300, False)):
        with session(pgrst, secret) as c:
            got = outcome(c, {}, py_sign({"role": AUTHOR, "iat": iat}, secret.encode()))
        assert got == (("role", AUTHOR) if ok else ("error", "28000", "invalid JWT: not_yet_valid")), got


def test_jwt_verify_keeps_its_documented_options(pgrst):
    """The PostgREST rules are auth.login's: jwt_verify checks only what its options say."""
    secret = PGRST["secret"]
    tok = py_sign({"iat": int(time.time()) + 3600, "aud": {"x": 1}}, secret.encode())
    with connect(pgrst) as c:
        assert one(c, "select jwt_verify(%s, %s)", (tok, secret))["aud"] == {"x": 1}


# --- PKCE pairs made by @supabase/auth-js ------------------------------------------------

@pytest.mark.parametrize("pair", AUTHJS["pairs"], ids=lambda p: p["challenge"][:8])
def test_auth_js_pairs_verify(pgrst, pair):
    with connect(pgrst) as c:
        assert pair["method"] == "s256"  # what auth-js sends
        assert one(c, "select pkce_verify(%s, %s, %s)", (pair["verifier"], pair["challenge"], pair["method"])) is True
        assert one(c, "select pkce_challenge(%s, %s)", (pair["verifier"], pair["method"])) == pair["challenge"]
        assert one(c, "select pkce_verify(%s, %s, %s)", (pair["verifier"][:-1] + ("x" if pair["verifier"][-1] != "x" else "y"), pair["challenge"], pair["method"])) is False


def test_auth_js_pairs_through_begin_and_exchange(pgrst):
    secret = PGRST["secret"]
    with connect(pgrst) as su:
        su.execute("load 'supabase_auth_ext'")
        su.execute("select set_config('auth.jwt_secret', %s, false)", (secret,))
        for pair in AUTHJS["pairs"][:3]:
            code = one(su, "select auth.pkce_begin('user-1', %s, %s)", (pair["challenge"], pair["method"]))
            s = one(su, "select auth.pkce_exchange(%s, %s)", (code, pair["verifier"]))
            assert s["user"] == {"id": "user-1"} and s["refresh_token"]
        pair = AUTHJS["pairs"][3]
        code = one(su, "select auth.pkce_begin('user-1', %s, %s)", (pair["challenge"], pair["method"]))
        fails(su, "select auth.pkce_exchange(%s, %s)", (code, AUTHJS["pairs"][4]["verifier"]), "28000",
              "invalid auth code: bad_verifier")


def test_readme_setup_sequence_from_a_fresh_connection(pgrst):
    """Issue 13.6: on PostgreSQL 15, ALTER SYSTEM SET auth.jwt_secret in a session where
    the library is not loaded fails; the README's sequence works from a fresh connection on
    every version, and a new connection then logs in with the key."""
    secret = PGRST["secret"]
    with connect(pgrst) as c:  # fresh: the library is not loaded yet
        c.execute("LOAD 'supabase_auth_ext'")
        c.execute("ALTER SYSTEM SET auth.jwt_secret = %s" % psycopg.sql.quote(secret))
        c.execute("ALTER SYSTEM SET session_preload_libraries = 'supabase_auth_ext'")
        c.execute("SELECT pg_reload_conf()")
    time.sleep(0.3)
    try:
        with connect(pgrst, user=AUTHN) as app, app.transaction():
            app.execute("select set_config('x.y', '1', true)")  # any statement: preloaded already
            fails(app, "show auth.jwt_secret", (), "42501")
        with connect(pgrst) as su:
            su.execute("select set_config('auth.allowed_roles', %s, false)", (f"{AUTHOR},{ANON}",))
            su.execute("select set_config('auth.anon_role', %s, false)", (ANON,))
            su.execute(f"set role {AUTHN}")
            with su.transaction():
                su.execute("select auth.login(%s)", (py_sign({"role": AUTHOR}, secret.encode()),))
                assert one(su, "select current_user::text") == AUTHOR
    finally:
        with connect(pgrst) as c:
            c.execute("ALTER SYSTEM RESET auth.jwt_secret")
            c.execute("ALTER SYSTEM RESET session_preload_libraries")
            c.execute("SELECT pg_reload_conf()")
        time.sleep(0.3)
