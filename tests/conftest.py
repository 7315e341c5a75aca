"""SQL-level tests: a real PostgreSQL (started by scripts/test.sh), driven as a client would.

Connection settings come from the environment (PGHOST, PGPORT, PGUSER). Each test module
gets a fresh database with the extension installed.
"""
import base64
import contextlib
import hashlib
import hmac
import json
import secrets
import time
import uuid

import psycopg
import pytest


def connect(dbname, **kw):
    return psycopg.connect(dbname=dbname, autocommit=True, **kw)


@pytest.fixture(scope="module")
def dbname(request):
    name = "t_" + request.module.__name__.split(".")[-1] + "_" + uuid.uuid4().hex[:6]
    with connect("postgres") as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    with connect(name) as c:
        c.execute("CREATE EXTENSION supabase_auth_ext")
    yield name
    with connect("postgres") as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def db(dbname):
    with connect(dbname) as c:
        yield c


def one(conn, sql, params=()):
    """The single value of a single-row query."""
    rows = conn.execute(sql, params).fetchall()
    assert len(rows) == 1, rows
    return rows[0][0]


def fails(conn, sql, params=(), sqlstate=None, prefix=None):
    """Run sql, expect an error with this SQLSTATE and message prefix; return the error."""
    with pytest.raises(psycopg.Error) as info:
        conn.execute(sql, params)
    err = info.value
    if sqlstate:
        assert err.sqlstate == sqlstate, (err.sqlstate, str(err))
    if prefix:
        assert err.diag.message_primary.startswith(prefix), err.diag.message_primary
    return err


# An independent HS* signer (Python's hmac), to check our tokens against and ours against it.
def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def pkce_pair():
    """A fresh RFC 7636 verifier and its S256 challenge, computed here (not by us)."""
    verifier = secrets.token_urlsafe(48)
    return verifier, b64u(hashlib.sha256(verifier.encode()).digest())


def b64u_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


HASHES = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


def py_sign(claims, secret: bytes, alg="HS256", header=None, raw_payload=None) -> str:
    header = header if header is not None else {"alg": alg, "typ": "JWT"}
    h = header if isinstance(header, str) else json.dumps(header, separators=(",", ":"))
    p = raw_payload if raw_payload is not None else json.dumps(claims, separators=(",", ":"))
    signing_input = b64u(h.encode()) + "." + b64u(p.encode())
    sig = hmac.new(secret, signing_input.encode(), HASHES.get(alg, hashlib.sha256)).digest()
    return signing_input + "." + b64u(sig)


def py_verify(token: str, secret: bytes) -> dict:
    h, p, s = token.split(".")
    header = json.loads(b64u_decode(h))
    expected = hmac.new(secret, f"{h}.{p}".encode(), HASHES[header["alg"]]).digest()
    assert hmac.compare_digest(expected, b64u_decode(s)), "signature mismatch"
    return json.loads(b64u_decode(p))


# The section 3 setup shared by the login, pool and benchmark runs: Supabase's roles, an
# authenticator that is not a superuser (as PostgREST connects), and the key settings.
SECRET = "a-test-secret-for-auth-login-of-at-least-32-bytes"
ISS = "https://proj.supabase.co/auth/v1"
AUTHN = "sae_authenticator"
ROLES = f"""
do $$ begin
  if not exists (select 1 from pg_roles where rolname = 'anon') then create role anon nologin; end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticated') then create role authenticated nologin; end if;
  if not exists (select 1 from pg_roles where rolname = 'service_role') then create role service_role nologin bypassrls; end if;
  if not exists (select 1 from pg_roles where rolname = '{AUTHN}') then create role {AUTHN} login noinherit; end if;
  if not exists (select 1 from pg_roles where rolname = 'sae_outsider') then create role sae_outsider nologin; end if;
  if not exists (select 1 from pg_roles where rolname = 'sae_admin') then create role sae_admin nologin superuser; end if;
end $$;
grant anon, authenticated, service_role, sae_admin to {AUTHN};
"""


def user_token(sub, role="authenticated", **extra):
    claims = {"sub": sub, "role": role, "aud": "authenticated", "iss": ISS,
              "exp": int(time.time()) + 600, **extra}
    return py_sign(claims, SECRET.encode())


def key_token(role):
    """An API key as Supabase makes them: no aud, iss "supabase"."""
    return py_sign({"role": role, "iss": "supabase", "iat": int(time.time()),
                    "exp": int(time.time()) + 3600}, SECRET.encode())


@contextlib.contextmanager
def configure_login(dbname, schema_sql=""):
    """Roles, `schema_sql`, the secret (ALTER SYSTEM), and for this database the library
    preloaded per session, audience and issuers; the secret is removed afterwards."""
    with connect(dbname) as c:
        c.execute(ROLES)
        if schema_sql:
            c.execute(schema_sql)
        c.execute("load 'supabase_auth_ext'")  # ALTER SYSTEM needs the setting defined (PG 15)
        c.execute("alter system set auth.jwt_secret = %s" % psycopg.sql.quote(SECRET))
        c.execute(f'alter database "{dbname}" set session_preload_libraries = \'supabase_auth_ext\'')
        c.execute(f'alter database "{dbname}" set auth.jwt_aud = \'authenticated\'')
        c.execute(f'alter database "{dbname}" set auth.jwt_iss = \'supabase, {ISS}\'')
        c.execute("select pg_reload_conf()")
    time.sleep(0.2)
    try:
        yield
    finally:
        with connect(dbname) as c:
            c.execute("alter system reset auth.jwt_secret")
            c.execute("select pg_reload_conf()")


@pytest.fixture
def admin(dbname):
    """A superuser connection to the module's database (autocommit)."""
    with connect(dbname) as c:
        yield c


@pytest.fixture
def app(dbname):
    """A connection as the authenticator (not a superuser), as PostgREST connects."""
    with connect(dbname, user=AUTHN) as c:
        yield c
