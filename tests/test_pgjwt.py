"""The pgjwt compatibility schema: pgjwt 0.2.0's sign, verify, url_encode and url_decode.
pgjwt's sign is deterministic (header text {"alg":"<alg>","typ":"JWT"}, payload the json
text exactly as given), so every expected token here is computed independently in Python."""
import base64
import hashlib
import hmac
import os
import time
import uuid

import pytest
from conftest import b64u, connect, fails, one

ALGS = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


def pgjwt_token(payload_text: str, secret: str, alg="HS256") -> str:
    header = '{"alg":"%s","typ":"JWT"}' % alg
    signing_input = b64u(header.encode()) + "." + b64u(payload_text.encode())
    tag = hmac.new(secret.encode(), signing_input.encode(), ALGS[alg]).digest()
    return signing_input + "." + b64u(tag)


PAYLOADS = ['{"sub":"1234567890","name":"John Doe","admin":true}',
            '{ "b": 2,  "a" : [1, 2.50, {"x": null}] }',
            '{"name": "Zoë ☃ 日本", "n": 1e3}',
            '{}',
            '{"a": 1, "a": 2}']


@pytest.mark.parametrize("alg", ALGS)
@pytest.mark.parametrize("payload", PAYLOADS)
def test_sign_is_byte_identical(db, payload, alg):
    secret = "s3cr3t-" + alg
    assert one(db, "select pgjwt.sign(%s::json, %s, %s)", (payload, secret, alg)) == \
        pgjwt_token(payload, secret, alg)


def test_sign_default_algorithm_and_search_path(db):
    db.execute("set search_path = pgjwt, public")
    assert one(db, "select sign('{\"a\":1}', 'secret')") == pgjwt_token('{"a":1}', "secret")
    h, p, v = db.execute("select * from verify(sign('{\"a\":1}', 'secret'), 'secret')").fetchone()
    assert (h, p, v) == ({"alg": "HS256", "typ": "JWT"}, {"a": 1}, True)


def test_url_encode_and_decode(db):
    for n in range(0, 40):
        data = os.urandom(n)
        enc = one(db, "select pgjwt.url_encode(%s)", (data,))
        assert enc == b64u(data)
        assert one(db, "select pgjwt.url_decode(%s)", (enc,)) == data
    # lenient like pgjwt: padding and the standard alphabet are accepted
    assert one(db, "select pgjwt.url_decode('YQ==')") == b"a"
    assert one(db, "select pgjwt.url_decode('-_8')") == base64.b64decode("+/8=")
    assert one(db, "select pgjwt.url_decode('+/8')") == base64.b64decode("+/8=")


def test_verify_reports_instead_of_raising(db):
    now = int(time.time())
    good = pgjwt_token('{"sub":"x","exp":%d}' % (now + 600), "secret")
    header, payload, valid = db.execute("select * from pgjwt.verify(%s, 'secret')", (good,)).fetchone()
    assert valid is True and header == {"alg": "HS256", "typ": "JWT"} and payload["sub"] == "x"
    # the payload comes back as the json text in the token
    assert one(db, "select payload::text from pgjwt.verify(%s, 'secret')", (good,)) == \
        '{"sub":"x","exp":%d}' % (now + 600)
    cases = {
        "wrong secret": (good, "other"),
        "expired": (pgjwt_token('{"exp":%d}' % (now - 1), "secret"), "secret"),
        "not yet valid": (pgjwt_token('{"nbf":%d}' % (now + 600), "secret"), "secret"),
        "tampered": (good.replace(good.split(".")[1], b64u(b'{"sub":"root"}')), "secret"),
        "alg none": (b64u(b'{"alg":"none"}') + "." + b64u(b'{"sub":"x"}') + ".", "secret"),
        "HS512 token, HS256 asked": (pgjwt_token("{}", "secret", "HS512"), "secret"),
    }
    for name, (token, secret) in cases.items():
        assert one(db, "select valid from pgjwt.verify(%s, %s)", (token, secret)) is False, name
    assert one(db, "select valid from pgjwt.verify(%s, 'secret', 'HS512')",
               (pgjwt_token("{}", "secret", "HS512"),)) is True
    assert one(db, "select valid from pgjwt.verify(%s, 'secret')", (pgjwt_token("{}", "secret"),)) is True


def test_verify_uses_the_transaction_start_like_pgjwt(db):
    token = pgjwt_token('{"exp":%d}' % (int(time.time()) + 2), "secret")
    with db.transaction():
        assert one(db, "select valid from pgjwt.verify(%s, 'secret')", (token,)) is True
        time.sleep(2.5)
        assert one(db, "select valid from pgjwt.verify(%s, 'secret')", (token,)) is True
    assert one(db, "select valid from pgjwt.verify(%s, 'secret')", (token,)) is False


@pytest.mark.parametrize("token", ["", "abc", "a.b", "a.b.c.d", b64u(b"{}") + ".bm90IGpzb24.x",
                                   "!!." + b64u(b"{}") + ".x"])
def test_malformed_tokens_raise_28000(db, token):
    fails(db, "select * from pgjwt.verify(%s, 'secret')", (token,), "28000", "invalid JWT: malformed")


def test_other_algorithms_are_refused(db):
    fails(db, "select pgjwt.sign('{}', 'k', 'RS256')", (), "22023", "invalid option: pgjwt signs with")
    fails(db, "select * from pgjwt.verify(%s, 'k', 'none')", (pgjwt_token("{}", "k"),), "22023")


def test_a_schema_pgjwt_holding_pgjwt_is_refused_clearly():
    """pgjwt itself installed in schema pgjwt: CREATE EXTENSION stops with 42723 and says
    why, and leaves nothing behind. An empty schema pgjwt is used as it is."""
    name = "t_pgjwt_clash_" + uuid.uuid4().hex[:6]
    with connect("postgres") as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with connect(name) as c:
            c.execute("CREATE SCHEMA pgjwt")
            c.execute("CREATE FUNCTION pgjwt.sign(payload json, secret text, algorithm text "
                      "DEFAULT 'HS256') RETURNS text LANGUAGE sql AS $$ SELECT 'theirs' $$")
            err = fails(c, "CREATE EXTENSION supabase_auth_ext", sqlstate="42723",
                        prefix="schema pgjwt already holds pgjwt's functions")
            assert "DROP EXTENSION pgjwt" in err.diag.message_hint
            assert one(c, "SELECT count(*) FROM pg_extension "
                          "WHERE extname = 'supabase_auth_ext'") == 0
            assert one(c, "SELECT to_regprocedure('auth.uid()')") is None
            c.execute("DROP FUNCTION pgjwt.sign(json, text, text)")
            c.execute("CREATE EXTENSION supabase_auth_ext")
            assert one(c, "SELECT pgjwt.sign('{}', 'k')").count(".") == 2
    finally:
        with connect("postgres") as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
