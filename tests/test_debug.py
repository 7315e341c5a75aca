"""auth.whoami(): the role, where the claims came from, why auth.uid() is NULL; and
auth.stats(): this backend's verification and key cache counters."""
import json
import time
import uuid

import pytest
from conftest import AUTHN, SECRET, configure_login, connect, one, py_sign, user_token

U1 = str(uuid.uuid4())


@pytest.fixture(scope="module", autouse=True)
def configured(dbname):
    with configure_login(dbname):
        yield


def whoami(c):
    return one(c, "select auth.whoami()")


@pytest.mark.parametrize("setting,value,because", [
    (None, None, "request.jwt.claims is not set"),
    ("request.jwt.claims", "", "request.jwt.claims is not set"),
    ("request.jwt.claims", "{}", "the claims have no sub"),
    ("request.jwt.claims", '{"sub": null}', "the claims have no sub"),
    ("request.jwt.claims", '{"sub": "user-42"}', "sub is not a uuid"),
    ("request.jwt.claims", '{"sub": 42}', "sub is not a string"),
    ("request.jwt.claims", "[1, 2]", "request.jwt.claims is not a JSON object"),
    ("request.jwt.claims", "{not json", "request.jwt.claims is not valid JSON"),
    ("request.jwt.claim.sub", "nope", "request.jwt.claim.sub (legacy, read first) is not a uuid"),
    ("request.jwt.claims", json.dumps({"sub": U1}), None),
])
def test_whoami_says_why_uid_is_null(db, setting, value, because):
    if setting:
        db.execute("select set_config(%s, %s, false)", (setting, value))
    w = whoami(db)
    if because is None:
        assert w["uid_null_because"] is None and one(db, "select auth.uid()::text") == U1
    else:
        assert w["uid_null_because"].startswith(because), w
        if "not valid JSON" not in because:
            assert one(db, "select auth.uid()") is None
    assert w["current_user"] == w["session_user"] == "postgres"
    if setting == "request.jwt.claim.sub":
        assert w["legacy_settings"] == ["request.jwt.claim.sub"]
    if value:
        assert w["set_by"].startswith("a setting")
    else:
        assert w["set_by"] is None and w["claims_from"] is None


def test_whoami_after_auth_login(dbname):
    with connect(dbname, user=AUTHN) as app:
        with app.transaction():
            app.execute("select auth.login(%s)", (user_token(U1),))
            w = whoami(app)
            assert (w["current_user"], w["session_user"]) == ("authenticated", AUTHN)
            assert (w["claims_from"], w["set_by"], w["uid_null_because"]) == \
                ("request.jwt.claims", "auth.login", None)
            app.execute("select set_config('request.jwt.claims', '{}', true)")
            w = whoami(app)
            assert w["set_by"].startswith("a setting") and w["uid_null_because"] == "the claims have no sub"
        w = whoami(app)  # the transaction is over
        assert (w["current_user"], w["set_by"], w["claims_from"]) == (AUTHN, None, None)


def test_stats_count_outcomes_and_cache(db):
    # keys no earlier call of this backend used, so the cache figures are exact
    key = SECRET + "-" + uuid.uuid4().hex
    other = "another-secret-" + uuid.uuid4().hex
    before = one(db, "select auth.stats()")
    good = py_sign({"sub": U1, "exp": int(time.time()) + 600}, key.encode())
    expired = py_sign({"sub": U1, "exp": int(time.time()) - 3600}, key.encode())
    for _ in range(3):
        db.execute("select jwt_verify(%s, %s)", (good, key))
    assert one(db, "select jwt_is_valid(%s, %s)", (expired, key)) is False
    assert one(db, "select jwt_is_valid(%s, %s)", (good, other)) is False
    after = one(db, "select auth.stats()")
    assert after["verified"] - before["verified"] == 3
    assert after["rejected"]["expired"] - before["rejected"]["expired"] == 1
    assert after["rejected"]["bad_signature"] - before["rejected"]["bad_signature"] == 1
    assert set(after["rejected"]) >= {"malformed", "alg_none", "unknown_kid", "too_large"}
    # two new keys: each parsed once (2 misses), then the first one hit 3 times
    assert after["key_cache"]["misses"] - before["key_cache"]["misses"] == 2
    assert after["key_cache"]["hits"] - before["key_cache"]["hits"] == 3
    assert after["key_cache"]["keys"] - before["key_cache"]["keys"] == 2
