"""Contract section 3: auth.login / logout / authenticate / sign / issue_api_key, the key
settings, and every way up or to the secret we could think of, tried as a non-superuser
login role the way PostgREST's authenticator connects."""
import json
import time
import uuid

import psycopg
import pytest
from conftest import (AUTHN, ISS, SECRET, b64u, configure_login, connect, fails, key_token, one,
                      py_sign, py_verify, user_token)

U1, U2 = str(uuid.uuid4()), str(uuid.uuid4())
ANON_KEY, SERVICE_KEY = key_token("anon"), key_token("service_role")
ITEMS = f"""
create table items (id serial primary key, owner uuid, body text);
insert into items (owner, body) values ('{U1}', 'u1-a'), ('{U1}', 'u1-b'), ('{U2}', 'u2-a'), (null, 'public');
alter table items enable row level security;
create policy own on items for select to authenticated using (owner = auth.uid());
create policy pub on items for select to anon using (owner is null);
grant select on items to anon, authenticated, service_role, {AUTHN};
"""


@pytest.fixture(scope="module", autouse=True)
def configured(dbname):
    with configure_login(dbname, ITEMS):
        yield


@pytest.fixture
def app(dbname):
    """A connection as the authenticator (not a superuser), autocommit off like PostgREST's
    transactions: each test uses `with app.transaction()`."""
    with connect(dbname, user=AUTHN) as c:
        yield c


def request(conn, apikey, authorization=None):
    """One PostgREST-style request: authenticate, read, commit; returns what it saw."""
    with conn.transaction():
        conn.execute("select auth.authenticate(%s, %s)", (apikey, authorization))
        who = conn.execute("select current_user::text, auth.uid()::text, auth.role()").fetchone()
        rows = sorted(r[0] for r in conn.execute("select body from items"))
    return who, rows


def test_postgrest_protocol_on_one_connection(app):
    who, rows = request(app, ANON_KEY, "Bearer " + user_token(U1))
    assert who == ("authenticated", U1, "authenticated") and rows == ["u1-a", "u1-b"]
    who, rows = request(app, ANON_KEY, "bearer " + user_token(U2))
    assert who == ("authenticated", U2, "authenticated") and rows == ["u2-a"]
    who, rows = request(app, ANON_KEY)
    assert who == ("anon", None, "anon") and rows == ["public"]
    # between requests nothing is left over
    assert one(app, "select current_user::text") == AUTHN
    assert one(app, "select current_setting('request.jwt.claims')") == ""
    assert one(app, "select auth.uid()") is None


def test_service_role_key_alone_sees_everything(app):
    who, rows = request(app, SERVICE_KEY)
    assert who == ("service_role", None, "service_role") and len(rows) == 4


def test_service_role_key_with_a_users_bearer_is_that_user(app):
    who, rows = request(app, SERVICE_KEY, "Bearer " + user_token(U2))
    assert who[0] == "authenticated" and rows == ["u2-a"]


def test_anon_key_as_bearer_is_anon(app):
    who, rows = request(app, ANON_KEY, "Bearer " + ANON_KEY)
    assert who[0] == "anon" and rows == ["public"]


@pytest.mark.parametrize("apikey", [None, "", "garbage", user_token(U1),
                                    py_sign({"role": "anon", "exp": 1}, SECRET.encode()),
                                    py_sign({"role": "anon"}, b"another-secret-another-secret-123"),
                                    key_token("authenticated")])
def test_bad_api_keys(app, apikey):
    with app.transaction():
        err = fails(app, "select auth.authenticate(%s)", (apikey,), "28000", "invalid API key")
    assert SECRET not in str(err) and (not apikey or len(apikey) < 20 or apikey not in str(err))
    assert one(app, "select current_user::text") == AUTHN


@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "Bearer a b", "token", "Bearer" + ANON_KEY])
def test_malformed_authorization(app, header):
    with app.transaction():
        fails(app, "select auth.authenticate(%s, %s)", (ANON_KEY, header), "28000", "invalid JWT: malformed")


def test_login_returns_claims_with_role_filled_in(app):
    token = py_sign({"sub": U1, "aud": "authenticated", "iss": ISS, "n": 123456789012345678901234567890},
                    SECRET.encode())
    with app.transaction():
        got = one(app, "select auth.login(%s)", (token,))
        assert got == {"sub": U1, "aud": "authenticated", "iss": ISS,
                       "n": 123456789012345678901234567890, "role": "anon"}
        assert json.loads(one(app, "select current_setting('request.jwt.claims')")) == got
        assert one(app, "select current_user::text") == "anon"
        assert one(app, "select auth.role()") == "anon"
    with app.transaction():
        assert one(app, "select auth.login(NULL)") == {"role": "anon"}
        assert one(app, "select auth.jwt()") == {"role": "anon"}


def test_login_outside_a_transaction_block(dbname):
    with connect(dbname, user=AUTHN) as c:  # autocommit
        fails(c, "select auth.login(%s)", (user_token(U1),), "25P01")
        fails(c, "select auth.logout()", (), "25P01")
        fails(c, "select auth.authenticate(%s)", (ANON_KEY,), "25P01")
        assert one(c, "select current_user::text") == AUTHN


def test_logout_and_relogin_within_a_transaction(app):
    with app.transaction():
        app.execute("select auth.login(%s)", (user_token(U1),))
        app.execute("select auth.login(%s)", (user_token(U2),))
        assert one(app, "select auth.uid()::text") == U2
        app.execute("select auth.logout()")
        assert one(app, "select current_user::text") == AUTHN
        assert one(app, "select auth.uid()") is None
        assert one(app, "select current_setting('request.jwt.claims')") == ""


def test_rollback_leaves_nothing(app):
    with pytest.raises(psycopg.errors.DivisionByZero):
        with app.transaction():
            app.execute("select auth.login(%s)", (user_token(U1),))
            app.execute("select 1/0")
    assert one(app, "select current_user::text") == AUTHN
    assert one(app, "select current_setting('request.jwt.claims')") == ""


def test_legacy_settings_do_not_shadow_login(app):
    app.execute("select set_config('request.jwt.claim.sub', %s, false)", (U2,))
    with app.transaction():
        app.execute("select auth.login(%s)", (user_token(U1),))
        assert one(app, "select auth.uid()::text") == U1
    assert one(app, "select auth.uid()::text") == U2, "the session's own value is back after commit"


@pytest.mark.parametrize("token,reason", [
    (lambda: user_token(U1, exp=int(time.time()) - 100), "expired"),
    (lambda: user_token(U1, aud="someone-else"), "bad_audience"),
    (lambda: user_token(U1, iss="https://evil.example"), "bad_issuer"),
    (lambda: py_sign({"sub": U1, "role": "authenticated", "aud": "authenticated"}, SECRET.encode()), "bad_issuer"),
    (lambda: user_token(U1)[:-3] + "AAA", "bad_signature"),
    (lambda: py_sign({"sub": U1, "iss": ISS}, b"", header={"alg": "none"}).rsplit(".", 1)[0] + ".", "alg_none"),
    (lambda: user_token(U1, role=""), "bad_claim_type"),
    (lambda: user_token(U1, role=7), "bad_claim_type"),
    (lambda: "a.b", "malformed"),
])
def test_rejected_tokens(app, token, reason):
    t = token()
    with app.transaction():
        err = fails(app, "select auth.login(%s)", (t,), "28000", f"invalid JWT: {reason}")
    assert SECRET not in str(err) and t not in str(err)
    assert one(app, "select current_user::text") == AUTHN


@pytest.mark.parametrize("role", ["postgres", "sae_outsider", "pg_read_all_settings",
                                  'anon"; drop table items; --', "anon.x", "Anon", "sae_admin"])
def test_no_way_up(app, role):
    with app.transaction():
        fails(app, "select auth.login(%s)", (user_token(U1, role=role),), "42501",
              f'role {json.dumps(role)} is not allowed')
    assert one(app, "select current_user::text") == AUTHN
    assert one(app, "select count(*) from items") == 0, "the authenticator itself sees nothing"


def test_allowed_but_not_a_member_or_a_superuser(dbname):
    with connect(dbname) as su:
        su.execute(f"alter role {AUTHN} in database \"{dbname}\" set auth.allowed_roles = "
                   "'anon,authenticated,service_role,sae_outsider,sae_admin'")
    try:
        with connect(dbname, user=AUTHN) as c:
            assert "sae_admin" in one(c, "show auth.allowed_roles")
            with c.transaction():
                fails(c, "select auth.login(%s)", (user_token(U1, role="sae_outsider"),), "42501",
                      'permission denied to set role')
            with c.transaction():
                fails(c, "select auth.login(%s)", (user_token(U1, role="sae_admin"),), "42501",
                      'role "sae_admin" is not allowed')
            assert one(c, "select current_user::text") == AUTHN
    finally:
        with connect(dbname) as su:
            su.execute(f"alter role {AUTHN} in database \"{dbname}\" reset auth.allowed_roles")


def test_settings_are_superuser_only(app):
    for name, value in [("auth.jwt_secret", "x" * 40), ("auth.allowed_roles", "postgres"),
                        ("auth.anon_role", "postgres"), ("auth.jwt_role_claim", "x"),
                        ("auth.jwt_aud", ""), ("auth.jwt_iss", ""), ("auth.jwt_leeway", "99999")]:
        with app.transaction():
            fails(app, "select set_config(%s, %s, true)", (name, value), "42501")


def test_secret_cannot_be_read_by_a_non_superuser(app, dbname):
    for sql in ["show auth.jwt_secret", "select current_setting('auth.jwt_secret')",
                "select current_setting('auth.jwt_secret', true)", "select * from pg_file_settings"]:
        with app.transaction():
            fails(app, sql, (), "42501")
    seen = []
    for sql in ["select string_agg(name || '=' || coalesce(setting, ''), ',') from pg_settings",
                "select string_agg(array_to_string(setconfig, ','), ',') from pg_db_role_setting",
                "select string_agg(array_to_string(proconfig, ','), ',') from pg_proc",
                "explain (settings) select * from items"]:
        with app.transaction():
            seen += [str(r) for r in app.execute(sql).fetchall()]
    with app.transaction():
        seen += [str(r) for r in app.execute("show all").fetchall()]
    assert seen and not any(SECRET in s for s in seen)
    assert "auth.jwt_secret" not in " ".join(seen)
    # auth.sign and auth.issue_api_key are not for PUBLIC
    for sql in ["select auth.sign('{}')", "select auth.issue_api_key('anon')"]:
        with app.transaction():
            fails(app, sql, (), "42501")
    # the superuser does see it
    with connect(dbname) as su:
        assert one(su, "show auth.jwt_secret") == SECRET


def test_placeholders_set_before_the_library_loads_are_dropped(dbname):
    """In a database without session_preload_libraries the library loads on first use.
    A value a non-superuser set before that must not survive the load, and a secret
    that was configured before it is refused: anyone could SHOW it until then."""
    lazy = dbname + "_lazy"
    with connect("postgres") as su:
        su.execute(f'create database "{lazy}"')
    try:
        with connect(lazy) as su:
            su.execute("create extension supabase_auth_ext")
            su.execute(f"grant usage on schema auth to {AUTHN}")
        with connect(lazy, user=AUTHN) as c:
            # the exposure this guards against: before the library loads, it is a plain
            # placeholder that any user can read
            assert one(c, "show auth.jwt_secret") == SECRET
            c.execute("set auth.allowed_roles = 'postgres'")
            c.execute("select jwt_decode(%s)", (ANON_KEY,))  # loads the library
            assert one(c, "show auth.allowed_roles") == "anon,authenticated,service_role"
            fails(c, "show auth.jwt_secret", (), "42501")
            with c.transaction():
                err = fails(c, "select auth.login(%s)", (user_token(U1),), "22023",
                            "invalid key: auth.jwt_secret was readable by every user")
                assert SECRET not in str(err)
    finally:
        with connect("postgres") as su:
            su.execute(f'drop database "{lazy}" with (force)')


def test_warns_when_the_secret_goes_where_everyone_can_read_it(dbname):
    with connect(dbname) as su:
        notices = []
        su.add_notice_handler(lambda d: notices.append(d.message_primary))
        su.execute(f"alter role {AUTHN} in database \"{dbname}\" set auth.jwt_secret = 'y-secret-of-at-least-thirty-two-bytes'")
        su.execute(f"alter role {AUTHN} in database \"{dbname}\" reset auth.jwt_secret")
        su.execute("create function f_with_secret() returns int language sql "
                   "set auth.jwt_secret = 'z-secret-of-at-least-thirty-two-bytes' as 'select 1'")
        su.execute("drop function f_with_secret()")
        su.execute("alter system set auth.jwt_secret = %s" % psycopg.sql.quote(SECRET))
    assert len(notices) == 2 and all("every user can read" in n for n in notices), notices
    assert not any("secret-of" in n for n in notices)


def test_configured_key_rules(dbname):
    with connect(dbname) as su:
        token = user_token(U1)
        with su.transaction():
            su.execute("set local auth.jwt_secret = 'short-secret'")
            err = fails(su, "select auth.login(%s)", (token,), "22023",
                        "invalid key: auth.jwt_secret holds an HMAC secret shorter than 32 bytes")
            assert "short-secret" not in str(err)
        with su.transaction():
            su.execute("set local auth.jwt_secret = ''")
            fails(su, "select auth.login(%s)", (token,), "22023", "invalid key: auth.jwt_secret is not set")
        # a JWK works, and so does a JWKS with an asymmetric key (ES256, kid)
        jwk = json.dumps({"kty": "oct", "k": b64u(SECRET.encode())})
        with su.transaction():
            su.execute("select set_config('auth.jwt_secret', %s, true)", (jwk,))
            assert one(su, "select auth.login(%s)->>'sub'", (token,)) == U1
        from cryptography.hazmat.primitives.asymmetric import ec
        from jwt.algorithms import ECAlgorithm
        key = ec.generate_private_key(ec.SECP256R1())
        private = {**ECAlgorithm.to_jwk(key, as_dict=True), "kid": "k2"}
        public = {"keys": [{**ECAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": "k2"}]}
        es = one(su, "select jwt_sign(%s::jsonb, %s::jsonb)",
                 (json.dumps({"sub": U2, "role": "authenticated", "iss": ISS}), json.dumps(private)))
        with su.transaction():
            su.execute("select set_config('auth.jwt_secret', %s, true)", (json.dumps(public),))
            assert one(su, "select auth.login(%s)->>'sub'", (es,)) == U2
            assert one(su, "select current_user::text") == "authenticated"
            fails(su, "select auth.login(%s)", (token,), "28000", "invalid JWT: alg_not_allowed")


def test_role_claim_path(dbname):
    with connect(dbname) as su, su.transaction():
        su.execute("set local auth.jwt_role_claim = 'app_metadata.roles[1]'")
        t = user_token(U1, app_metadata={"roles": ["x", "service_role"]})
        got = one(su, "select auth.login(%s)", (t,))
        assert got["role"] == "service_role" and got["app_metadata"] == {"roles": ["x", "service_role"]}
        assert one(su, "select current_user::text") == "service_role"
        assert one(su, "select auth.role()") == "service_role"
    with connect(dbname) as su, su.transaction():
        # refused when set, saying why (never read later as "no role claim": anon)
        err = fails(su, "set local auth.jwt_role_claim = 'a..b'", (), "22023",
                    'invalid value for parameter "auth.jwt_role_claim"')
        assert "a key is empty" in err.diag.message_detail


def test_sign_and_issue_api_key(dbname):
    with connect(dbname) as su:
        before = int(time.time())
        t = one(su, "select auth.sign(%s)", (json.dumps({"sub": U1, "iat": 5, "n": 12345678901234567890123}),))
        claims = py_verify(t, SECRET.encode())
        assert claims["sub"] == U1 and claims["n"] == 12345678901234567890123
        assert before <= claims["iat"] <= time.time() + 1 and claims["exp"] == claims["iat"] + 3600
        kept = py_verify(one(su, "select auth.sign('{\"exp\": 2000000000}')"), SECRET.encode())
        assert kept["exp"] == 2000000000
        fails(su, "select auth.sign('[1]')", (), "22023")
        key = py_verify(one(su, "select auth.issue_api_key('service_role')"), SECRET.encode())
        assert set(key) == {"role", "iss", "iat", "exp"}
        assert key["role"] == "service_role" and key["iss"] == "supabase"
        assert key["exp"] - key["iat"] == 315576000  # extract(epoch from '10 years')
        short = py_verify(one(su, "select auth.issue_api_key('anon', '1 day')"), SECRET.encode())
        assert short["exp"] - short["iat"] == 86400
        fails(su, "select auth.issue_api_key('authenticated')", (), "22023")
        fails(su, "select auth.issue_api_key('anon', '-1 day')", (), "22023")
        # a role granted EXECUTE may use them
        su.execute(f"grant execute on function auth.sign(jsonb) to {AUTHN}")
    try:
        with connect(dbname, user=AUTHN) as c:
            assert py_verify(one(c, "select auth.sign('{}')"), SECRET.encode())["exp"] > time.time()
    finally:
        with connect(dbname) as su:
            su.execute(f"revoke execute on function auth.sign(jsonb) from {AUTHN}")
