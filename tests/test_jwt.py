"""Contract section 1 (HMAC part) and section 5, as a user meets them in SQL."""
import json
import time

import pytest
from conftest import b64u, fails, one, py_sign, py_verify

SECRET = "super-secret-jwt-token-with-at-least-32-characters-long"

# RFC 7515 appendix A.1; the same JWT is RFC 7519 section 3.1's example.
A1_TOKEN = (
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ."
    "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
)
A1_JWK = {
    "kty": "oct",
    "k": "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow",
}


def verify(db, token, key=SECRET, options=None, jsonb_key=False):
    cast = "::jsonb" if jsonb_key else "::text"
    if options is None:
        return one(db, f"select jwt_verify(%s, %s{cast})", (token, key))
    return one(db, f"select jwt_verify(%s, %s{cast}, %s::jsonb)", (token, key, json.dumps(options)))


def rejected(db, token, reason, key=SECRET, options=None, jsonb_key=False):
    cast = "::jsonb" if jsonb_key else "::text"
    opts = json.dumps(options or {})
    err = fails(db, f"select jwt_verify(%s, %s{cast}, %s::jsonb)", (token, key, opts),
                sqlstate="28000", prefix=f"invalid JWT: {reason}")
    assert err.diag.message_primary == f"invalid JWT: {reason}"
    # jwt_is_valid says false exactly where jwt_verify raises 28000
    assert one(db, f"select jwt_is_valid(%s, %s{cast}, %s::jsonb)", (token, key, opts)) is False
    return err


class TestRfcVectors:
    def test_rfc7515_a1_with_jwk_jsonb_and_text(self, db):
        payload = verify(db, A1_TOKEN, json.dumps(A1_JWK), {"now": 1300819379}, jsonb_key=True)
        assert payload == {"iss": "joe", "exp": 1300819380, "http://example.com/is_root": True}
        assert verify(db, A1_TOKEN, json.dumps(A1_JWK), {"now": 1300819000}) == payload

    def test_rfc7519_3_1_expired_now(self, db):
        rejected(db, A1_TOKEN, "expired", json.dumps(A1_JWK), jsonb_key=True)

    def test_rfc7515_a1_in_a_jwks(self, db):
        jwks = {"keys": [{"kty": "oct", "k": b64u(b"other"), "kid": "x"}, A1_JWK]}
        assert verify(db, A1_TOKEN, json.dumps(jwks), {"now": 1300819000}, jsonb_key=True)["iss"] == "joe"


class TestSignVerify:
    @pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
    def test_round_trip_and_independent_implementation(self, db, alg):
        claims = {"sub": "u1", "role": "authenticated", "n": 1}
        token = one(db, "select jwt_sign(%s::jsonb, %s, %s)", (json.dumps(claims), SECRET, alg))
        assert py_verify(token, SECRET.encode()) == claims  # ours verified by Python's hmac
        theirs = py_sign(claims, SECRET.encode(), alg)
        assert verify(db, theirs) == claims  # theirs verified by us
        assert verify(db, token) == claims

    def test_header_is_exactly_alg_and_typ(self, db):
        token = one(db, "select jwt_sign('{\"a\":1}', 'k')")
        assert token.split(".")[0] == b64u(b'{"alg":"HS256","typ":"JWT"}')
        assert one(db, "select jwt_decode(%s)", (token,)) == {"header": {"alg": "HS256", "typ": "JWT"}, "payload": {"a": 1}}

    def test_sign_adds_nothing_and_keeps_big_numbers(self, db):
        token = one(db, "select jwt_sign('{\"id\": 123456789012345678901234567890, \"x\": 1.50}', 'k')")
        assert token.split(".")[1] == b64u(b'{"x":1.50,"id":123456789012345678901234567890}')
        assert one(db, "select jwt_verify(%s, 'k')::text", (token,)) == '{"x": 1.50, "id": 123456789012345678901234567890}'

    def test_jwk_sign_uses_kid_and_alg(self, db):
        jwk = json.dumps({"kty": "oct", "k": b64u(b"k1-secret"), "kid": "k1", "alg": "HS384"})
        token = one(db, "select jwt_sign('{}', %s::jsonb)", (jwk,))
        assert one(db, "select jwt_decode(%s)->'header'", (token,)) == {"alg": "HS384", "typ": "JWT", "kid": "k1"}
        assert py_verify(token, b"k1-secret") == {}
        # the JWK's own alg must equal the one asked for
        fails(db, "select jwt_sign('{}', %s::jsonb, 'HS256')", (jwk,), sqlstate="22023", prefix="invalid key:")

    def test_text_key_that_is_a_jwk_or_jwks(self, db):
        jwk = json.dumps({"kty": "oct", "k": b64u(b"from-jwk")})
        token = one(db, "select jwt_sign('{\"a\":1}', %s)", (jwk,))
        assert py_verify(token, b"from-jwk") == {"a": 1}
        jwks = json.dumps({"keys": [{"kty": "oct", "k": b64u(b"from-jwk")}]})
        assert verify(db, token, jwks) == {"a": 1}

    def test_sign_errors(self, db):
        fails(db, "select jwt_sign('[1]', 'k')", sqlstate="22023")
        fails(db, "select jwt_sign('{}', '')", sqlstate="22023", prefix="invalid key:")
        fails(db, "select jwt_sign('{}', 'k', 'HS999')", sqlstate="22023", prefix="invalid option:")
        fails(db, "select jwt_sign('{}', 'k', 'none')", sqlstate="22023")
        fails(db, "select jwt_sign('{}', 'k', 'RS256')", sqlstate="22023", prefix="invalid key:")

    def test_null_arguments(self, db):
        assert one(db, "select jwt_sign(NULL::jsonb, 'k')") is None
        assert one(db, "select jwt_sign('{}', NULL::jsonb)") is None
        assert one(db, "select jwt_verify(NULL, 'k')") is None
        assert one(db, "select jwt_is_valid(NULL, 'k')") is None


class TestKidSelection:
    JWKS = {"keys": [
        {"kty": "oct", "k": b64u(b"secret-a"), "kid": "a"},
        {"kty": "oct", "k": b64u(b"secret-b"), "kid": "b"},
    ]}

    def test_kid_selects_key(self, db):
        token = py_sign({"x": 1}, b"secret-b", header={"alg": "HS256", "kid": "b"})
        assert verify(db, token, json.dumps(self.JWKS), jsonb_key=True) == {"x": 1}

    def test_unknown_kid(self, db):
        token = py_sign({"x": 1}, b"secret-b", header={"alg": "HS256", "kid": "zz"})
        rejected(db, token, "unknown_kid", json.dumps(self.JWKS), jsonb_key=True)

    def test_kid_pointing_at_wrong_key_is_bad_signature(self, db):
        token = py_sign({"x": 1}, b"secret-b", header={"alg": "HS256", "kid": "a"})
        rejected(db, token, "bad_signature", json.dumps(self.JWKS), jsonb_key=True)

    def test_no_kid_tries_each_key(self, db):
        token = py_sign({"x": 2}, b"secret-b")
        assert verify(db, token, json.dumps(self.JWKS), jsonb_key=True) == {"x": 2}

    def test_enc_and_key_ops_keys_are_not_used(self, db):
        jwks = {"keys": [
            {"kty": "oct", "k": b64u(b"s"), "kid": "e", "use": "enc"},
            {"kty": "oct", "k": b64u(b"s"), "kid": "o", "key_ops": ["sign"]},
        ]}
        for kid in ("e", "o"):
            token = py_sign({}, b"s", header={"alg": "HS256", "kid": kid})
            rejected(db, token, "alg_not_allowed", json.dumps(jwks), jsonb_key=True)

    def test_jwk_alg_mismatch(self, db):
        jwk = {"kty": "oct", "k": b64u(b"s"), "alg": "HS512"}
        rejected(db, py_sign({}, b"s", "HS256"), "alg_not_allowed", json.dumps(jwk), jsonb_key=True)


class TestAttacks:
    @pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
    def test_alg_none(self, db, alg):
        header = b64u(json.dumps({"alg": alg, "typ": "JWT"}).encode())
        payload = b64u(b'{"role":"service_role"}')
        for token in (f"{header}.{payload}.", f"{header}.{payload}.{b64u(b'sig')}"):
            rejected(db, token, "alg_none")

    def test_tampered_payload(self, db):
        token = py_sign({"role": "authenticated"}, SECRET.encode())
        h, _, s = token.split(".")
        evil = f"{h}.{b64u(json.dumps({'role': 'service_role'}).encode())}.{s}"
        rejected(db, evil, "bad_signature")

    def test_tampered_signature_and_wrong_secret(self, db):
        token = py_sign({"a": 1}, SECRET.encode())
        flipped = token[:-2] + ("AA" if token[-2:] != "AA" else "BA")
        rejected(db, flipped, "bad_signature")
        rejected(db, token, "bad_signature", key="another-secret")
        rejected(db, token.rsplit(".", 1)[0] + ".", "bad_signature")

    def test_algorithm_confusion_with_pem(self, db):
        pem = ("-----BEGIN PUBLIC KEY-----\n"
               "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEVs/o5+uQbTjL3chynL4wXgUg2R9\n"
               "q9UU8I5mEovUf86QZ7kOBIjJwqnzD1omageEHWwHdBO6B+dFabmdT9POxg==\n"
               "-----END PUBLIC KEY-----\n")
        # HS256 signed with the PEM text as HMAC secret: the classic confusion attack
        token = py_sign({"role": "service_role"}, pem.encode())
        rejected(db, token, "alg_not_allowed", key=pem)
        fails(db, "select jwt_sign('{}', %s, 'HS256')", (pem,), sqlstate="22023", prefix="invalid key:")

    def test_algorithm_confusion_with_asymmetric_jwk(self, db):
        jwk = {"kty": "RSA", "n": b64u(b"\xc1" * 256), "e": "AQAB"}  # 2048 bits
        token = py_sign({}, json.dumps(jwk).encode())
        rejected(db, token, "alg_not_allowed", json.dumps(jwk), jsonb_key=True)
        rejected(db, token, "alg_not_allowed", json.dumps(jwk))

    def test_asymmetric_token_with_a_secret(self, db):
        header = b64u(b'{"alg":"RS256"}')
        rejected(db, f"{header}.{b64u(b'{}')}.{b64u(b'x' * 256)}", "alg_not_allowed")

    def test_crit_and_b64(self, db):
        rejected(db, py_sign({}, SECRET.encode(), header={"alg": "HS256", "crit": ["exp"], "exp": 1}), "crit_unsupported")
        rejected(db, py_sign({}, SECRET.encode(), header={"alg": "HS256", "b64": False, "crit": ["b64"]}), "crit_unsupported")

    def test_key_from_token_headers_is_ignored(self, db):
        attacker = b"attacker-secret"
        for h in ({"jwk": {"kty": "oct", "k": b64u(attacker)}}, {"jku": "https://evil/jwks"}, {"x5u": "https://evil"}):
            token = py_sign({"role": "service_role"}, attacker, header={"alg": "HS256", **h})
            rejected(db, token, "bad_signature")

    def test_unsupported_algorithms(self, db):
        for alg in ("ES512", "HS1", "hs256", "RSA-OAEP"):
            rejected(db, py_sign({}, SECRET.encode(), header={"alg": alg}), "unsupported_alg")

    def test_algorithms_option(self, db):
        token = py_sign({}, SECRET.encode(), "HS512")
        rejected(db, token, "alg_not_allowed", options={"algorithms": ["HS256", "HS384"]})
        assert verify(db, token, options={"algorithms": ["HS512"]}) == {}


class TestMalformed:
    @pytest.mark.parametrize("token", [
        "", "abc", "a.b", "a.b.c.d", "a.b.c.d.e",
        "eyJhbGciOiJIUzI1NiJ9=.e30.", "eyJhbGciOiJIUzI1NiJ9.e30=.", "eyJhbGciOiJIUzI1NiJ9.e3+.",
        "eyJhbGciOiJIUzI1NiJ9.e30.x=", "!!!.e30.", "eyJhbGciOiJIUzI1NiJ9 .e30.",
    ])
    def test_bad_segments_and_base64(self, db, token):
        rejected(db, token, "malformed")

    @pytest.mark.parametrize("header", ['[1]', '"HS256"', '{"alg":"HS256"', '{"alg":5}', '{}', '{"alg":"HS256","kid":7}', 'null'])
    def test_bad_header(self, db, header):
        rejected(db, py_sign({}, SECRET.encode(), header=header), "malformed")

    @pytest.mark.parametrize("payload", ['[1]', '5', '"x"', 'null', '{"a":1', '{"a":1}x', '{"a":"\\u0000"}', '\xff'])
    def test_bad_payload_even_when_signed(self, db, payload):
        rejected(db, py_sign(None, SECRET.encode(), raw_payload=payload), "malformed")

    def test_jwt_decode_rejects_malformed(self, db):
        fails(db, "select jwt_decode('a.b')", sqlstate="28000", prefix="invalid JWT: malformed")
        fails(db, "select jwt_decode(%s)", (py_sign(None, b"k", raw_payload="[1]"),), sqlstate="28000")

    def test_jwt_decode_does_not_verify(self, db):
        token = py_sign({"a": 1}, b"whatever", header={"alg": "none"})
        assert one(db, "select jwt_decode(%s)->'payload'", (token,)) == {"a": 1}


class TestLimits:
    def test_oversize_token(self, db):
        token = py_sign({"pad": "x" * (64 * 1024)}, SECRET.encode())
        rejected(db, token, "too_large")
        fails(db, "select jwt_decode(%s)", (token,), sqlstate="28000", prefix="invalid JWT: too_large")

    def test_just_under_the_size_limit(self, db):
        base = py_sign({"pad": ""}, SECRET.encode())
        # grow the payload until the token is as long as allowed
        pad = "x"
        while len(py_sign({"pad": pad * 2}, SECRET.encode())) <= 64 * 1024:
            pad *= 2
        lo, hi = len(pad), len(pad) * 2
        while lo + 1 < hi:
            mid = (lo + hi) // 2
            if len(py_sign({"pad": "x" * mid}, SECRET.encode())) <= 64 * 1024:
                lo = mid
            else:
                hi = mid
        token = py_sign({"pad": "x" * lo}, SECRET.encode())
        assert len(token) <= 64 * 1024 < len(py_sign({"pad": "x" * hi}, SECRET.encode())) and base
        assert len(verify(db, token)["pad"]) == lo
        rejected(db, py_sign({"pad": "x" * hi}, SECRET.encode()), "too_large")

    def test_deep_json(self, db):
        ok = {"a": json.loads("[" * 127 + "]" * 127)}  # 128 levels with the object
        assert verify(db, py_sign(ok, SECRET.encode())) == ok
        deep = py_sign(None, SECRET.encode(), raw_payload='{"a":' + "[" * 128 + "]" * 128 + "}")
        rejected(db, deep, "too_large")
        deep_header = py_sign({}, SECRET.encode(), header='{"alg":"HS256","x":' + "[" * 200 + "]" * 200 + "}")
        rejected(db, deep_header, "too_large")


class TestClaims:
    def test_exp_boundary_with_leeway(self, db):
        token = py_sign({"exp": 1000}, SECRET.encode())
        assert verify(db, token, options={"now": 999, "leeway": 0}) == {"exp": 1000}
        rejected(db, token, "expired", options={"now": 1000, "leeway": 0})
        assert verify(db, token, options={"now": 1029, "leeway": 30}) == {"exp": 1000}
        rejected(db, token, "expired", options={"now": 1030, "leeway": 30})

    def test_nbf_boundary_with_leeway(self, db):
        token = py_sign({"nbf": 1000}, SECRET.encode())
        assert verify(db, token, options={"now": 1000, "leeway": 0})
        rejected(db, token, "not_yet_valid", options={"now": 999, "leeway": 0})
        assert verify(db, token, options={"now": 970, "leeway": 30})
        rejected(db, token, "not_yet_valid", options={"now": 969, "leeway": 30})

    def test_default_leeway_is_the_setting(self, db):
        now = int(time.time())
        token = py_sign({"exp": now - 10}, SECRET.encode())
        one(db, "select auth.uid()")  # settings are defined once the library is loaded
        assert one(db, "show auth.jwt_leeway") == "30s"
        assert verify(db, token) == {"exp": now - 10}
        db.execute("set auth.jwt_leeway = 0")
        try:
            rejected(db, token, "expired")
        finally:
            db.execute("reset auth.jwt_leeway")
        rejected(db, py_sign({"exp": now - 31}, SECRET.encode()), "expired")
        rejected(db, py_sign({"nbf": now + 60}, SECRET.encode()), "not_yet_valid")

    def test_time_claims_must_be_numbers(self, db):
        for claims in ({"exp": "9999999999"}, {"nbf": None}, {"exp": [1]}):
            rejected(db, py_sign(claims, SECRET.encode()), "bad_claim_type")

    def test_audience(self, db):
        s = SECRET.encode()
        assert verify(db, py_sign({"aud": "authenticated"}, s), options={"aud": "authenticated"})
        assert verify(db, py_sign({"aud": ["x", "authenticated"]}, s), options={"aud": "authenticated"})
        assert verify(db, py_sign({"aud": "b"}, s), options={"aud": ["a", "b"]})
        rejected(db, py_sign({"aud": "other"}, s), "bad_audience", options={"aud": ["a", "b"]})
        rejected(db, py_sign({"aud": ["x", "y"]}, s), "bad_audience", options={"aud": "a"})
        rejected(db, py_sign({}, s), "bad_audience", options={"aud": "a"})
        rejected(db, py_sign({"aud": 5}, s), "bad_claim_type", options={"aud": "a"})
        assert verify(db, py_sign({"aud": "anything"}, s)) == {"aud": "anything"}

    def test_issuer(self, db):
        s = SECRET.encode()
        assert verify(db, py_sign({"iss": "https://x/auth/v1"}, s), options={"iss": "https://x/auth/v1"})
        assert verify(db, py_sign({"iss": "b"}, s), options={"iss": ["a", "b"]})
        rejected(db, py_sign({"iss": "c"}, s), "bad_issuer", options={"iss": ["a", "b"]})
        rejected(db, py_sign({}, s), "bad_issuer", options={"iss": "a"})
        rejected(db, py_sign({"iss": ["a"]}, s), "bad_claim_type", options={"iss": "a"})

    def test_require(self, db):
        s = SECRET.encode()
        assert verify(db, py_sign({"sub": "u", "role": "r"}, s), options={"require": ["sub", "role"]})
        rejected(db, py_sign({"sub": "u"}, s), "missing_claim", options={"require": ["sub", "role"]})

    @pytest.mark.parametrize("options", [
        {"algoritms": ["HS256"]}, {"algorithms": "HS256"}, {"algorithms": []}, {"algorithms": ["HS999"]},
        {"leeway": -1}, {"leeway": "5"}, {"aud": 5}, {"iss": [1]}, {"require": "sub"}, {"now": "x"}, [],
    ])
    def test_bad_options_raise_22023_in_both_functions(self, db, options):
        token = py_sign({}, SECRET.encode())
        for fn in ("jwt_verify", "jwt_is_valid"):
            fails(db, f"select {fn}(%s, %s, %s::jsonb)", (token, SECRET, json.dumps(options)),
                  sqlstate="22023", prefix="invalid option:")


class TestKeys:
    @pytest.mark.parametrize("key", [
        '{"kty":"oct"}', '{"kty":"oct","k":""}', '{"kty":"oct","k":"!!"}', '{"keys":[]}', '{"keys":5}',
        '{"keys":[5]}', '[1]', '"secret"', '{"kid":"x"}', '{"kty":"oct","k":"YQ","kid":5}',
    ])
    def test_bad_jsonb_keys(self, db, key):
        token = py_sign({}, b"a")
        for fn in ("jwt_verify", "jwt_is_valid"):
            fails(db, f"select {fn}(%s, %s::jsonb)", (token, key), sqlstate="22023", prefix="invalid key:")

    def test_empty_text_secret(self, db):
        fails(db, "select jwt_verify(%s, '')", (py_sign({}, b"a"),), sqlstate="22023", prefix="invalid key:")

    def test_json_text_without_kty_is_a_secret(self, db):
        secret = '{"not":"a jwk"}'
        assert verify(db, py_sign({"a": 1}, secret.encode()), secret) == {"a": 1}


class TestMessagesAreClean:
    def test_no_secret_or_token_in_errors(self, db):
        secret = "hunter2-very-secret-value"
        token = py_sign({"exp": 1, "sub": "PRIVATE-SUBJECT"}, secret.encode())
        bad_jwk = json.dumps({"keys": [{"kty": "oct", "k": "###hunter2###", "kid": "k"}]})
        errs = [
            fails(db, "select jwt_verify(%s, %s)", (token, secret)),
            fails(db, "select jwt_verify(%s, %s::jsonb)", (token, bad_jwk)),
            fails(db, "select jwt_verify(%s, 'wrong')", (token,)),
            fails(db, "select jwt_verify(%s, %s)", (token[:-5], secret)),
        ]
        for e in errs:
            text = " ".join(filter(None, [e.diag.message_primary, e.diag.message_detail, e.diag.message_hint, e.diag.context]))
            assert "hunter2" not in text and "PRIVATE" not in text
            for segment in token.split("."):
                assert segment[:12] not in text


class TestJsonbResult:
    def test_claims_come_back_exactly_as_jsonb_in_reads_them(self, db):
        payload = '{"b":1,"a":[1.50,-0,1e3,1E-2,123456789012345678901234567890],"a":"last","s":"\\u00e9\\ud83d\\ude00\\n","o":{"z":{},"y":[]},"t":true,"f":false,"n":null}'
        token = py_sign(None, SECRET.encode(), raw_payload=payload)
        assert one(db, "select jwt_verify(%s, %s) = %s::jsonb", (token, SECRET, payload)) is True
        assert one(db, "select jwt_verify(%s, %s)::text = %s::jsonb::text", (token, SECRET, payload)) is True
        assert one(db, "select jwt_verify(%s, %s) @> '{\"o\":{\"z\":{}}}'", (token, SECRET)) is True

    def test_time_beyond_f64_is_bad_claim_type(self, db):
        rejected(db, py_sign(None, SECRET.encode(), raw_payload='{"exp":1e400}'), "bad_claim_type")

    def test_number_numeric_cannot_hold_is_malformed(self, db):
        rejected(db, py_sign(None, SECRET.encode(), raw_payload='{"x":1e200000}'), "malformed")
        # beyond f64 but within numeric: kept exactly, as jsonb_in keeps it
        token = py_sign(None, SECRET.encode(), raw_payload='{"x":1e400}')
        assert one(db, "select (jwt_verify(%s, %s)->'x')::text = (%s::jsonb->'x')::text", (token, SECRET, '{"x":1e400}')) is True

    def test_non_utf8_database_uses_jsonb_in(self, dbname):
        from conftest import connect
        name = dbname + "_latin1"
        with connect("postgres") as admin:
            admin.execute(f'CREATE DATABASE "{name}" ENCODING LATIN1 LC_COLLATE "C" LC_CTYPE "C" TEMPLATE template0')
        try:
            with connect(name) as c:
                c.execute("CREATE EXTENSION supabase_auth_ext")
                token = py_sign({"name": "José", "n": 1.50}, SECRET.encode())
                assert one(c, "select jwt_verify(%s, %s)->>'name'", (token, SECRET)) == "José"
                assert one(c, "select jwt_verify(%s, %s)::text", (token, SECRET)) == '{"n": 1.5, "name": "José"}'  # Python writes 1.50 as 1.5
        finally:
            with connect("postgres") as admin:
                admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
