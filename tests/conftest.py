"""SQL-level tests: a real PostgreSQL (started by scripts/test.sh), driven as a client would.

Connection settings come from the environment (PGHOST, PGPORT, PGUSER). Each test module
gets a fresh database with the extension installed.
"""
import base64
import hashlib
import hmac
import json
import os
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
