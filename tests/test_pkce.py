"""PKCE (RFC 7636) as the contract defines it."""
import base64
import hashlib
import re

import pytest
from conftest import fails, one

# RFC 7636 appendix B
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_rfc7636_appendix_b(db):
    assert one(db, "select pkce_challenge(%s)", (VERIFIER,)) == CHALLENGE
    assert one(db, "select pkce_challenge(%s, 'S256')", (VERIFIER,)) == CHALLENGE
    assert one(db, "select pkce_verify(%s, %s)", (VERIFIER, CHALLENGE)) is True
    assert one(db, "select pkce_verify(%s, %s, 'S256')", (VERIFIER, CHALLENGE)) is True


def test_mismatches(db):
    assert one(db, "select pkce_verify(%s, %s)", (VERIFIER, CHALLENGE[:-1] + "N")) is False
    assert one(db, "select pkce_verify(%s, %s)", (VERIFIER[:-1] + "l", CHALLENGE)) is False
    assert one(db, "select pkce_verify(%s, %s, 'plain')", (VERIFIER, CHALLENGE)) is False
    assert one(db, "select pkce_verify(%s, '')", (VERIFIER,)) is False


def test_plain(db):
    assert one(db, "select pkce_challenge(%s, 'plain')", (VERIFIER,)) == VERIFIER
    assert one(db, "select pkce_verify(%s, %s, 'plain')", (VERIFIER, VERIFIER)) is True


@pytest.mark.parametrize("bad", ["a" * 42, "a" * 129, "a" * 42 + "+", "a" * 42 + " ", "a" * 42 + "é", ""])
def test_malformed_verifier(db, bad):
    # verify: false even when the challenge is "right" for plain
    assert one(db, "select pkce_verify(%s, %s, 'plain')", (bad, bad)) is False
    fails(db, "select pkce_challenge(%s)", (bad,), sqlstate="22023")


def test_boundary_lengths_and_charset(db):
    for v in ("a" * 43, "~._-" * 32, "Az09-._~" * 5 + "abc"):
        c = base64.urlsafe_b64encode(hashlib.sha256(v.encode()).digest()).rstrip(b"=").decode()
        assert one(db, "select pkce_challenge(%s)", (v,)) == c
        assert one(db, "select pkce_verify(%s, %s)", (v, c)) is True


@pytest.mark.parametrize("method", ["S256", "s256", "S256".swapcase(), "plain", "PLAIN", "Plain"])
def test_method_in_any_letter_case(db, method):
    """supabase-js (auth-js) sends "s256"; Supabase Auth lower-cases before comparing."""
    c = CHALLENGE if method.lower() == "s256" else VERIFIER
    assert one(db, "select pkce_challenge(%s, %s)", (VERIFIER, method)) == c
    assert one(db, "select pkce_verify(%s, %s, %s)", (VERIFIER, c, method)) is True


@pytest.mark.parametrize("method", ["S512", "", "sha256", " S256", "none"])
def test_unknown_method(db, method):
    fails(db, "select pkce_verify(%s, %s, %s)", (VERIFIER, CHALLENGE, method), sqlstate="22023")
    fails(db, "select pkce_challenge(%s, %s)", (VERIFIER, method), sqlstate="22023")


def test_verifier_generation(db):
    assert len(one(db, "select pkce_verifier()")) == 64
    seen = set()
    for n in (43, 100, 128):
        v = one(db, "select pkce_verifier(%s)", (n,))
        assert len(v) == n and re.fullmatch(r"[A-Za-z0-9\-._~]+", v)
        seen.add(v)
    many = [r[0] for r in db.execute("select pkce_verifier(43) from generate_series(1, 200)")]
    assert len(set(many)) == 200
    # every verifier answers its own challenge
    assert one(db, "select bool_and(pkce_verify(v, pkce_challenge(v))) from (select pkce_verifier() v from generate_series(1,50)) s")
    for n in (42, 129, 0, -5):
        fails(db, "select pkce_verifier(%s)", (n,), sqlstate="22023")
